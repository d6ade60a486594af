//! What the delegate API has done, for the local API and `/metrics`:
//! registrations and updates since start, and updates in the last minute and
//! hour from one bucket per minute (60 of them, allocated once: a flood of
//! updates moves counts, never memory).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Minutes of history kept (the longest window reported).
const MINUTES_KEPT: usize = 60;

#[derive(Debug)]
pub struct Activity {
    registrations: AtomicUsize,
    updates: AtomicUsize,
    /// (minute since the monotonic epoch, updates in it), indexed by minute
    /// modulo `MINUTES_KEPT`; a bucket whose minute is old counts nothing.
    minutes: Mutex<[(u32, u32); MINUTES_KEPT]>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            registrations: AtomicUsize::new(0),
            updates: AtomicUsize::new(0),
            // Minute u32::MAX is never "now": an unused bucket counts nothing.
            minutes: Mutex::new([(u32::MAX, 0); MINUTES_KEPT]),
        }
    }
}

impl Activity {
    pub(super) fn registered(&self) {
        self.registrations.fetch_add(1, Relaxed);
    }

    /// One accepted update at monotonic second `now_secs`.
    pub(super) fn updated(&self, now_secs: u32) {
        self.updates.fetch_add(1, Relaxed);
        let minute = now_secs / 60;
        let mut minutes = super::lock(&self.minutes);
        let bucket = &mut minutes[minute as usize % MINUTES_KEPT];
        if bucket.0 != minute {
            *bucket = (minute, 0);
        }
        bucket.1 = bucket.1.saturating_add(1);
    }

    pub fn registrations(&self) -> usize {
        self.registrations.load(Relaxed)
    }

    pub fn updates(&self) -> usize {
        self.updates.load(Relaxed)
    }

    /// Updates in the current minute and the `minutes - 1` before it (at most
    /// `MINUTES_KEPT`), at monotonic second `now_secs`.
    pub fn updates_within(&self, minutes: u32, now_secs: u32) -> u64 {
        let now = now_secs / 60;
        let window = minutes.min(MINUTES_KEPT as u32);
        let buckets = super::lock(&self.minutes);
        let recent = buckets
            .iter()
            .filter(|(minute, _)| now.wrapping_sub(*minute) < window && *minute <= now);
        recent.map(|(_, count)| u64::from(*count)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let activity = Activity::default();
        let start = 1_000_000;
        activity.updated(start);
        activity.updated(start + 1);
        activity.updated(start + 61);
        assert_eq!(activity.updates(), 3);
        assert_eq!(activity.updates_within(1, start + 61), 1);
        assert_eq!(activity.updates_within(60, start + 61), 3);
        // An hour later the first minute's bucket counts nothing, even before
        // it is reused.
        assert_eq!(activity.updates_within(60, start + 3600), 1);
        assert_eq!(activity.updates_within(60, start + 3660 + 60), 0);
        activity.updated(start + 3600);
        assert_eq!(activity.updates_within(1, start + 3600), 1);
    }
}
