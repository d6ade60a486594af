//! Prefetch: a cached answer asked for in the last tenth of its TTL is asked
//! upstream again in the background (unbound's `prefetch`), so a popular name is
//! refreshed before it expires instead of missing once per TTL.
//!
//! Owns the hand-over from the cache, where a hit finds an entry due, to the DNS
//! I/O thread, which asks the forwarder: [`Prefetches`] is a bounded queue with a
//! wake-up, its counters, and the switch (`prefetch` in `[dns]`). One value lives
//! as long as the control state and is shared by every cache built from it, so a
//! reload that replaces the cache keeps the queue its drainer waits on.
//!
//! Bounds: at most [`PREFETCH_INFLIGHT_MAX`] prefetches are queued or upstream at
//! once; a due hit beyond that is counted in `dropped` and served as usual (a later
//! hit may start it). Each place is a [`Prefetch`] value that frees it when dropped,
//! so a prefetch that fails, is cancelled or finds no forwarder never leaks one.
//! The queue's length never exceeds the places taken, so it is allocated once and
//! never grows. Deduplication is the cache's: an entry whose prefetch is under way
//! carries a flag, so one entry has at most one prefetch at a time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

/// Prefetches queued or upstream at once. Far above what a LAN's popular names
/// need (each prefetch lasts one upstream round trip), and small beside the
/// forwarder's `INFLIGHT_MAX` (512), which client questions share with it.
pub const PREFETCH_INFLIGHT_MAX: usize = 32;

/// A due entry is prefetched when at most 1/`PREFETCH_TTL_FRACTION` of its TTL is
/// left (unbound's 10%).
pub const PREFETCH_TTL_FRACTION: u32 = 10;

/// True when `left` seconds of a `ttl`-second entry are in its last tenth.
/// Integer seconds: a TTL under `PREFETCH_TTL_FRACTION` seconds is never due
/// (its last tenth is under a second, and a lookup sees at least one second).
pub fn due(left: u32, ttl: u32) -> bool {
    u64::from(left) * u64::from(PREFETCH_TTL_FRACTION) <= u64::from(ttl)
}

/// One question to ask again, holding its place among the prefetches in flight.
#[derive(Debug)]
pub struct Prefetch {
    /// Lower-case wire name, as the cache keys it.
    pub name: Box<[u8]>,
    pub qtype: u16,
    pub qclass: u16,
    pub dnssec_ok: bool,
    place: Place,
}

impl Prefetch {
    /// The upstream answered and the cache now holds the fresh answer.
    pub fn answered(&self) {
        self.place.0.answered.fetch_add(1, Relaxed);
    }

    /// Not asked after all: the forwarder was too busy for one more question.
    pub fn count_dropped(&self) {
        self.place.0.dropped.fetch_add(1, Relaxed);
    }
}

/// A place among the `PREFETCH_INFLIGHT_MAX`; given back on drop.
#[derive(Debug)]
struct Place(Arc<Prefetches>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Relaxed);
    }
}

/// The prefetch queue, its switch and its counters.
#[derive(Debug)]
pub struct Prefetches {
    enabled: AtomicBool,
    /// Places taken: queued plus upstream.
    inflight: AtomicUsize,
    /// Never longer than `inflight`, so never beyond its first capacity.
    queue: Mutex<VecDeque<Prefetch>>,
    wake: tokio::sync::Notify,
    /// Prefetches that took a place (queued for the forwarder).
    pub started: AtomicUsize,
    /// Prefetches whose answer replaced the entry.
    pub answered: AtomicUsize,
    /// Due hits not prefetched: `PREFETCH_INFLIGHT_MAX` places were taken, or the
    /// forwarder was too busy to take one more question (see `dns::forward`).
    pub dropped: AtomicUsize,
}

impl Prefetches {
    pub fn new(enabled: bool) -> Prefetches {
        Prefetches {
            enabled: AtomicBool::new(enabled),
            inflight: AtomicUsize::new(0),
            queue: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            started: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// The config's `prefetch`, applied at the next due hit.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Relaxed);
    }

    /// Prefetches queued or upstream now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Relaxed)
    }

    /// Takes a place if one is free; counts a drop otherwise.
    pub(super) fn reserve(&self) -> bool {
        let taken = self
            .inflight
            .fetch_update(Relaxed, Relaxed, |n| {
                (n < PREFETCH_INFLIGHT_MAX).then_some(n + 1)
            })
            .is_ok();
        if !taken {
            self.dropped.fetch_add(1, Relaxed);
        }
        taken
    }

    /// Queues the question for a place [`Prefetches::reserve`] took, and wakes
    /// the drainer.
    pub(super) fn push(self: &Arc<Self>, name: &[u8], qtype: u16, qclass: u16, dnssec_ok: bool) {
        let prefetch = Prefetch {
            name: name.into(),
            qtype,
            qclass,
            dnssec_ok,
            place: Place(self.clone()),
        };
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.capacity() == 0 {
            queue.reserve_exact(PREFETCH_INFLIGHT_MAX);
        }
        queue.push_back(prefetch);
        drop(queue);
        self.started.fetch_add(1, Relaxed);
        self.wake.notify_one();
    }

    /// The oldest queued prefetch, if any.
    pub fn pop(&self) -> Option<Prefetch> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// Returns once a prefetch was queued since the last call (or at once if
    /// one was queued while nobody waited).
    pub async fn queued(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn last_tenth_is_due() {
        let table = [
            (300, 31, false),
            (300, 30, true),
            (300, 1, true),
            (30, 4, false),
            (30, 3, true),
            (10, 1, true),
            (10, 2, false),
            // Under ten seconds the last tenth is under a second: never.
            (9, 1, false),
            (1, 1, false),
            (u32::MAX, u32::MAX / 10, true),
        ];
        for (ttl, left, want) in table {
            assert_eq!(due(left, ttl), want, "{left} s left of {ttl}");
        }
    }

    #[test]
    fn places_are_bounded_counted_and_given_back() {
        let prefetches = Arc::new(Prefetches::new(true));
        for i in 0..PREFETCH_INFLIGHT_MAX {
            assert!(prefetches.reserve());
            prefetches.push(&[1, b'a' + (i % 26) as u8, 0], 1, 1, false);
        }
        assert!(!prefetches.reserve(), "the bound");
        assert_eq!(prefetches.dropped.load(Relaxed), 1);
        assert_eq!(prefetches.inflight(), PREFETCH_INFLIGHT_MAX);
        let capacity = prefetches.queue.lock().unwrap().capacity();
        // A popped prefetch holds its place until it is dropped.
        let first = prefetches.pop().unwrap();
        assert_eq!(&*first.name, &[1, b'a', 0]);
        assert!(!prefetches.reserve());
        first.answered();
        drop(first);
        assert!(prefetches.reserve());
        prefetches.push(b"\x01z\x00", 28, 1, true);
        assert_eq!(prefetches.queue.lock().unwrap().capacity(), capacity);
        while prefetches.pop().is_some() {}
        assert_eq!(prefetches.inflight(), 0);
        assert_eq!(prefetches.started.load(Relaxed), PREFETCH_INFLIGHT_MAX + 1);
        assert_eq!(prefetches.answered.load(Relaxed), 1);
    }

    #[test]
    fn a_queued_prefetch_wakes_the_drainer() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let prefetches = Arc::new(Prefetches::new(true));
        // Queued before anyone waits: the wake-up is kept, not lost.
        assert!(prefetches.reserve());
        prefetches.push(b"\x01a\x00", 1, 1, false);
        runtime.block_on(prefetches.queued());
        assert!(prefetches.pop().is_some());
        assert!(prefetches.pop().is_none());
    }
}
