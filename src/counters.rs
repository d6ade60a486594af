//! Counters of what the daemon did, held for the local API and Prometheus.
//!
//! Owns every number the process counts. The DNS hot path must not pay for an
//! atomic read-modify-write (a locked bus cycle on every query) or share a cache
//! line between cores, so each serving thread has its own cache-line-aligned block
//! with exactly one writer: a counter is bumped by a plain load and store, and
//! readers sum the blocks. Counters are `usize` because 32-bit MIPS has no 64-bit
//! atomics: on a 32-bit router they wrap after 4 294 967 295, which Prometheus'
//! `rate()` reads as a counter reset.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A counter with a single writer thread.
#[derive(Debug, Default)]
pub struct Counter(AtomicUsize);

impl Counter {
    /// Adds one. Only the owning thread may call this (no read-modify-write).
    #[inline]
    pub fn bump(&self) {
        self.0.store(self.0.load(Relaxed).wrapping_add(1), Relaxed);
    }

    pub fn get(&self) -> usize {
        self.0.load(Relaxed)
    }
}

/// One serving thread's counters, alone on its cache line(s).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct ThreadCounters {
    /// Requests received (any transport, before any check).
    pub queries: Counter,
    /// Responses sent.
    pub answered: Counter,
    /// Requests from addresses outside `acl`, dropped without an answer.
    pub acl_dropped: Counter,
    /// Requests over `rate_limit_qps`, dropped.
    pub rate_limited: Counter,
    /// Requests over the limit answered with an empty TC=1 response instead.
    pub rate_limit_slipped: Counter,
    /// TCP requests over `rate_limit_qps`, dropped (TCP's own table).
    pub tcp_rate_limited: Counter,
    /// TCP connections closed after `TCP_RATE_LIMIT_DROPS_MAX` drops in a row.
    pub tcp_rate_limit_closed: Counter,
    /// Requests too broken to answer (or responses), dropped.
    pub malformed: Counter,
    /// Requests handed to the forwarder (not local, not cached).
    pub forwarded: Counter,
    /// Requests dropped because the forwarder's queue was full.
    pub forward_queue_full: Counter,
}

/// Events of the process as a whole: rare, so shared atomics are fine.
#[derive(Debug, Default)]
pub struct ProcessCounters {
    /// Configs applied by SIGHUP.
    pub reloads: AtomicUsize,
    /// SIGHUPs whose config was rejected (the old one kept serving).
    pub reload_failures: AtomicUsize,
    /// Lease and hosts files read again after they changed.
    pub host_reloads: AtomicUsize,
    /// Interface address changes that refreshed the `local` ACL.
    pub interface_changes: AtomicUsize,
    /// DNS-over-TCP connections closed at `tcp_connections_max` to admit a new one.
    pub tcp_evicted: AtomicUsize,
    /// Zone transfers (AXFR, IXFR) sent to a secondary.
    pub xfr_served: AtomicUsize,
    /// Transfer and signed requests refused: not a secondary, no or a bad TSIG,
    /// another zone, too many at once.
    pub xfr_refused: AtomicUsize,
    /// NOTIFYs a secondary answered.
    pub notify_answered: AtomicUsize,
    /// NOTIFYs given up after every attempt.
    pub notify_failed: AtomicUsize,
}

/// Every counter of the process.
#[derive(Debug)]
pub struct Counters {
    threads: Box<[ThreadCounters]>,
    pub process: ProcessCounters,
}

impl Counters {
    /// Blocks for `threads` serving threads; [`Counters::thread`] hands them out.
    pub fn new(threads: usize) -> Self {
        Self {
            threads: (0..threads).map(|_| ThreadCounters::default()).collect(),
            process: ProcessCounters::default(),
        }
    }

    /// The block of serving thread `index` (a shared spare block if out of range,
    /// which only costs accuracy under a race, never safety).
    pub fn thread(&self, index: usize) -> &ThreadCounters {
        static SPARE: ThreadCounters = ThreadCounters {
            queries: Counter(AtomicUsize::new(0)),
            answered: Counter(AtomicUsize::new(0)),
            acl_dropped: Counter(AtomicUsize::new(0)),
            rate_limited: Counter(AtomicUsize::new(0)),
            rate_limit_slipped: Counter(AtomicUsize::new(0)),
            tcp_rate_limited: Counter(AtomicUsize::new(0)),
            tcp_rate_limit_closed: Counter(AtomicUsize::new(0)),
            malformed: Counter(AtomicUsize::new(0)),
            forwarded: Counter(AtomicUsize::new(0)),
            forward_queue_full: Counter(AtomicUsize::new(0)),
        };
        self.threads.get(index).unwrap_or(&SPARE)
    }

    /// Every counter by name, summed over threads, in a stable order.
    pub fn snapshot(&self) -> Vec<(&'static str, usize)> {
        let sum = |f: fn(&ThreadCounters) -> &Counter| {
            self.threads
                .iter()
                .fold(0usize, |total, t| total.wrapping_add(f(t).get()))
        };
        let process = |c: &AtomicUsize| c.load(Relaxed);
        vec![
            ("dns_queries", sum(|t| &t.queries)),
            ("dns_answered", sum(|t| &t.answered)),
            ("dns_acl_dropped", sum(|t| &t.acl_dropped)),
            ("dns_rate_limited", sum(|t| &t.rate_limited)),
            ("dns_rate_limit_slipped", sum(|t| &t.rate_limit_slipped)),
            ("dns_tcp_rate_limited", sum(|t| &t.tcp_rate_limited)),
            (
                "dns_tcp_rate_limit_closed",
                sum(|t| &t.tcp_rate_limit_closed),
            ),
            ("dns_malformed", sum(|t| &t.malformed)),
            ("dns_forwarded", sum(|t| &t.forwarded)),
            ("dns_forward_queue_full", sum(|t| &t.forward_queue_full)),
            ("reloads", process(&self.process.reloads)),
            ("reload_failures", process(&self.process.reload_failures)),
            ("host_reloads", process(&self.process.host_reloads)),
            (
                "interface_changes",
                process(&self.process.interface_changes),
            ),
            ("dns_tcp_evicted", process(&self.process.tcp_evicted)),
            ("dns_xfr_served", process(&self.process.xfr_served)),
            ("dns_xfr_refused", process(&self.process.xfr_refused)),
            (
                "dns_notify_answered",
                process(&self.process.notify_answered),
            ),
            ("dns_notify_failed", process(&self.process.notify_failed)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_threads() {
        let counters = Counters::new(2);
        counters.thread(0).queries.bump();
        counters.thread(1).queries.bump();
        counters.thread(1).acl_dropped.bump();
        counters.process.reloads.fetch_add(1, Relaxed);
        let snapshot = counters.snapshot();
        assert!(snapshot.contains(&("dns_queries", 2)));
        assert!(snapshot.contains(&("dns_acl_dropped", 1)));
        assert!(snapshot.contains(&("reloads", 1)));
        assert_eq!(std::mem::align_of::<ThreadCounters>(), 64);
    }
}
