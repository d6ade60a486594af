//! Per-client rate limit: a token bucket per client address in a fixed-size table.
//!
//! This module owns the table and the verdict for one query. Invariants: the table
//! is allocated once in [`RateLimiter::new`] and never grows; [`RateLimiter::check`]
//! never allocates and touches one shard (one `Mutex`) and at most `PROBES` slots.
//! A client is an IPv4 address or an IPv6 /64 (one host usually owns a whole /64).
//! When the probed slots are all taken by others, the one refilled longest ago is
//! evicted, so a flood of spoofed sources costs lookups, never memory. Tokens are
//! counted in milli-tokens so refill is exact integer arithmetic on a 32-bit MIPS.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// Table size used when the config does not say.
pub const SLOTS_DEFAULT: usize = 4096;
/// Largest table: 2^20 slots of 28 bytes is 28 MiB, more than a router should spend.
pub const SLOTS_MAX: usize = 1 << 20;
/// Highest rate accepted; keeps `qps * 1000` milli-tokens inside a `u32`.
pub const QPS_MAX: u32 = 1_000_000;
/// Every SLIP-th consecutive refusal is answered with TC=1 (BIND RRL's default).
pub const SLIP: u16 = 2;
/// Shards, each behind its own lock so DNS threads rarely wait on each other.
const SHARDS: usize = 16;
/// Slots looked at per lookup before evicting.
const PROBES: usize = 4;
/// A clock reading this far behind an entry's is another thread's stale `now_ms`,
/// not a 49-day wrap: it refills nothing.
const CLOCK_SKEW_MS_MAX: u32 = 60_000;
const MILLI_PER_TOKEN: u32 = 1000;

const _: () = assert!(SHARDS.is_power_of_two() && SLOTS_MAX.is_multiple_of(SHARDS * PROBES));

/// What to do with one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Under the limit: answer.
    Allow,
    /// Over the limit: send nothing.
    Drop,
    /// Over the limit: send an empty TC=1 response so a real client retries on TCP.
    Slip,
}

#[derive(Clone, Copy, Default)]
struct Entry {
    /// IPv4 as `::ffff:a.b.c.d`, IPv6 as its /64 with the low half zero.
    key: [u32; 4],
    tokens_milli: u32,
    last_ms: u32,
    drops: u16,
    used: bool,
}

/// Token buckets for up to `slots()` clients, shared by every DNS thread.
pub struct RateLimiter {
    qps: u32,
    burst_milli: u32,
    seed: u32,
    /// Slots per shard minus one (a power of two minus one).
    slot_mask: usize,
    shards: [Mutex<Box<[Entry]>>; SHARDS],
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RateLimiter {{ qps: {}, slots: {} }}",
            self.qps,
            self.slots()
        )
    }
}

impl RateLimiter {
    /// `qps` tokens per second per client (clamped to 1..=`QPS_MAX`), burst one
    /// second's worth. `slots` is rounded up to a power of two within
    /// `SHARDS * PROBES..=SLOTS_MAX` and fixed for the limiter's life.
    pub fn new(qps: u32, slots: usize) -> RateLimiter {
        let qps = qps.clamp(1, QPS_MAX);
        let slots = slots.clamp(SHARDS * PROBES, SLOTS_MAX).next_power_of_two();
        let per_shard = slots / SHARDS;
        // Seeded from the OS's randomness so an attacker cannot aim collisions.
        let seed = RandomState::new().hash_one(&slots as *const usize);
        RateLimiter {
            qps,
            burst_milli: qps * MILLI_PER_TOKEN,
            seed: (seed ^ (seed >> 32)) as u32,
            slot_mask: per_shard - 1,
            shards: std::array::from_fn(|_| Mutex::new(vec![Entry::default(); per_shard].into())),
        }
    }

    pub fn qps(&self) -> u32 {
        self.qps
    }

    /// Total slots in the table (never changes).
    pub fn slots(&self) -> usize {
        (self.slot_mask + 1) * SHARDS
    }

    /// Takes a token for `ip` at `now_ms` (a wrapping monotonic millisecond clock).
    pub fn check(&self, ip: IpAddr, now_ms: u32) -> Verdict {
        let key = client_key(ip);
        let hash = self.hash(&key);
        let shard = &self.shards[(hash >> 28) as usize % SHARDS];
        let mut entries = shard.lock().unwrap_or_else(PoisonError::into_inner);
        // Keys are never removed, so a free slot ends the search: the key is absent.
        let start = hash as usize;
        let (mut index, mut found, mut oldest_age) = (start & self.slot_mask, false, 0);
        for probe in 0..PROBES {
            let at = start.wrapping_add(probe) & self.slot_mask;
            let Some(entry) = entries.get(at) else { break };
            if !entry.used || entry.key == key {
                (index, found) = (at, entry.used);
                break;
            }
            let age = now_ms.wrapping_sub(entry.last_ms);
            if age > oldest_age {
                (index, oldest_age) = (at, age);
            }
        }
        let Some(entry) = entries.get_mut(index) else {
            return Verdict::Allow;
        };
        if !found {
            *entry = Entry {
                key,
                tokens_milli: self.burst_milli,
                last_ms: now_ms,
                drops: 0,
                used: true,
            };
        }
        self.take(entry, now_ms)
    }

    fn take(&self, entry: &mut Entry, now_ms: u32) -> Verdict {
        let elapsed_ms = now_ms.wrapping_sub(entry.last_ms);
        if elapsed_ms <= u32::MAX - CLOCK_SKEW_MS_MAX {
            // qps milli-tokens a ms; a second or more refills the whole burst.
            let refill = if elapsed_ms >= MILLI_PER_TOKEN {
                self.burst_milli
            } else {
                elapsed_ms * self.qps
            };
            entry.tokens_milli = entry
                .tokens_milli
                .saturating_add(refill)
                .min(self.burst_milli);
            entry.last_ms = now_ms;
        }
        if entry.tokens_milli >= MILLI_PER_TOKEN {
            entry.tokens_milli -= MILLI_PER_TOKEN;
            entry.drops = 0;
            return Verdict::Allow;
        }
        // 2^16 is a multiple of SLIP, so wrapping keeps the rhythm.
        entry.drops = entry.drops.wrapping_add(1);
        if entry.drops.is_multiple_of(SLIP) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    /// Multiply-xorshift over the four key words, mixed with the secret seed.
    fn hash(&self, key: &[u32; 4]) -> u32 {
        let mut hash = self.seed;
        for word in key {
            hash = (hash ^ word).wrapping_mul(0x9E37_79B1);
            hash ^= hash >> 15;
        }
        hash = hash.wrapping_mul(0x85EB_CA6B);
        hash ^ (hash >> 13)
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        let count = |s: &Mutex<Box<[Entry]>>| {
            s.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter(|e| e.used)
                .count()
        };
        self.shards.iter().map(count).sum()
    }
}

/// IPv4 (and IPv4-mapped IPv6) by the full address, IPv6 by its /64.
fn client_key(ip: IpAddr) -> [u32; 4] {
    let bits = match ip.to_canonical() {
        IpAddr::V4(a) => a.to_ipv6_mapped().to_bits(),
        IpAddr::V6(a) => a.to_bits() & !u128::from(u64::MAX),
    };
    [
        (bits >> 96) as u32,
        (bits >> 64) as u32,
        (bits >> 32) as u32,
        bits as u32,
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use Verdict::{Allow, Drop, Slip};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn run(limiter: &RateLimiter, client: &str, now_ms: u32, count: usize) -> Vec<Verdict> {
        (0..count)
            .map(|_| limiter.check(ip(client), now_ms))
            .collect()
    }

    #[test]
    fn burst_then_drops_with_slips() {
        let limiter = RateLimiter::new(5, SLOTS_DEFAULT);
        assert_eq!(limiter.qps(), 5);
        let verdicts = run(&limiter, "192.168.1.10", 1000, 10);
        assert_eq!(
            verdicts,
            [
                Allow, Allow, Allow, Allow, Allow, Drop, Slip, Drop, Slip, Drop
            ]
        );
    }

    #[test]
    fn refills_with_time() {
        let limiter = RateLimiter::new(10, 256);
        assert!(run(&limiter, "10.0.0.1", 0, 10).iter().all(|v| *v == Allow));
        assert_eq!(limiter.check(ip("10.0.0.1"), 0), Drop);
        // 100 ms at 10 qps is one token; 50 ms more is half of one.
        assert_eq!(run(&limiter, "10.0.0.1", 100, 2), [Allow, Drop]);
        assert_eq!(limiter.check(ip("10.0.0.1"), 150), Slip);
        assert_eq!(limiter.check(ip("10.0.0.1"), 200), Allow);
        // A long pause fills the bucket to the burst, not beyond.
        assert_eq!(run(&limiter, "10.0.0.1", 3_600_000, 11).last(), Some(&Drop));
        // A stale clock reading from another thread refills nothing.
        assert_eq!(limiter.check(ip("10.0.0.1"), 3_599_990), Slip);
    }

    #[test]
    fn clock_wraps() {
        let limiter = RateLimiter::new(2, 256);
        let before = u32::MAX - 50;
        assert_eq!(run(&limiter, "10.0.0.2", before, 3), [Allow, Allow, Drop]);
        assert_eq!(limiter.check(ip("10.0.0.2"), 449), Allow); // 500 ms later, wrapped
        assert_eq!(limiter.check(ip("10.0.0.2"), 449), Drop);
    }

    #[test]
    fn clients_are_independent_and_v6_by_64() {
        let limiter = RateLimiter::new(1, 256);
        assert_eq!(run(&limiter, "10.0.0.1", 0, 2), [Allow, Drop]);
        assert_eq!(run(&limiter, "10.0.0.2", 0, 2), [Allow, Drop]);
        assert_eq!(limiter.check(ip("::ffff:10.0.0.1"), 0), Slip);
        assert_eq!(limiter.check(ip("2001:db8:0:1::1"), 0), Allow);
        assert_eq!(limiter.check(ip("2001:db8:0:1:ffff::99"), 0), Drop);
        assert_eq!(limiter.check(ip("2001:db8:0:2::1"), 0), Allow);
        assert_eq!(limiter.check(ip("2001:db8:0:1::1"), 1000), Allow);
    }

    #[test]
    fn full_table_evicts_and_never_grows() {
        let limiter = RateLimiter::new(3, 100);
        let slots = limiter.slots();
        assert_eq!(slots, 128);
        for n in 0..(slots as u32 * 10) {
            let client = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            assert_eq!(limiter.check(client, n), Allow);
        }
        assert_eq!(limiter.slots(), slots);
        assert!(limiter.used() <= slots && limiter.used() > slots / 2);
        let verdicts = run(&limiter, "192.0.2.1", 5000, 5);
        assert_eq!(verdicts, [Allow, Allow, Allow, Drop, Slip]);
    }

    #[test]
    fn edge_sizes() {
        assert_eq!(RateLimiter::new(0, 0).qps(), 1);
        assert_eq!(RateLimiter::new(0, 0).slots(), SHARDS * PROBES);
        assert_eq!(RateLimiter::new(u32::MAX, usize::MAX).slots(), SLOTS_MAX);
        assert_eq!(RateLimiter::new(u32::MAX, 64).qps(), QPS_MAX);
        let limiter = RateLimiter::new(1, 64);
        assert_eq!(run(&limiter, "::1", 7, 3), [Allow, Drop, Slip]);
        assert_eq!(limiter.check(ip("::1"), 1006), Drop);
        assert_eq!(limiter.check(ip("::1"), 1007), Allow);
    }
}
