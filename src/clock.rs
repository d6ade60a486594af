//! Every clock reading lanseal makes, in one place.
//!
//! Wall-clock seconds for what outlives the process (lease expiry, SOA serials,
//! stored timestamps); a monotonic clock, shared by all threads from one start,
//! for what measures intervals (cache TTLs, rate-limit buckets). The monotonic
//! readings are `u32` (no 64-bit atomics on MIPS32 anywhere near them): seconds
//! last 136 years, milliseconds wrap after 49 days and their users subtract with
//! wrapping arithmetic.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Seconds since 1970 (0 if the clock is before it: a router without NTP yet).
pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Monotonic seconds since the first clock reading of the process.
pub fn monotonic_secs() -> u32 {
    start().elapsed().as_secs() as u32
}

/// Monotonic milliseconds since the first reading; wraps after 49 days.
pub fn monotonic_ms() -> u32 {
    start().elapsed().as_millis() as u32
}
