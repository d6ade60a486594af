//! The server's bounds ([`Limits`]) and the counters of every time one was hit
//! ([`Counters`], each a [`LimitCounter`] that also logs, at most once per
//! `LIMIT_LOG_INTERVAL_SECS`, never once per hit: a flood must not become a log
//! flood). Counters are `usize` atomics (32-bit MIPS has no 64-bit ones).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crate::dns::acl::Net;

/// The least time between two log lines of one [`LimitCounter`].
pub const LIMIT_LOG_INTERVAL_SECS: u32 = 60;

/// Open connections when the owner does not say: far more than the clients of a
/// delegate have at once, few enough for a router's file descriptors.
const CONNECTIONS_MAX_DEFAULT: usize = 64;
/// Connections one client (an IPv4 address, an IPv6 /64) may hold at once: a
/// browser opens 6, certbot and lego one; eight clients are needed to fill the
/// server, and then the oldest idle one makes room.
const CONNECTIONS_PER_CLIENT_MAX_DEFAULT: usize = 8;
/// Handler threads at most: bcrypt (cost 10) is CPU-bound, more threads than cores
/// only queue in the kernel instead of in the pool.
const WORKERS_MAX_DEFAULT: usize = 4;

const _: () = assert!(CONNECTIONS_PER_CLIENT_MAX_DEFAULT < CONNECTIONS_MAX_DEFAULT);

#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most; when full, the oldest idle one is closed to admit
    /// a new one, and without an idle one the new one is refused.
    pub connections_max: usize,
    /// Open connections per client at most (its own oldest idle one makes room).
    pub connections_per_client_max: usize,
    /// Peers exempt from the per-client cap: trusted reverse proxies, which carry
    /// many clients' connections.
    pub per_client_exempt: Vec<Net>,
    /// Request line and headers (431 beyond; hyper also answers 431 past 100
    /// header lines).
    pub header_bytes_max: usize,
    /// Body: a larger `Content-Length` is answered 413 before the body is read,
    /// a chunked body once it passes the bound.
    pub body_bytes_max: usize,
    /// Waiting for a request's first byte.
    pub idle_timeout: Duration,
    /// The TLS handshake, the rest of a request (head and body: slow-loris), and
    /// writing a response, each.
    pub request_timeout: Duration,
    /// Handler threads (the pool's queue holds at most one request per connection).
    pub workers_max: usize,
}

impl Default for Limits {
    /// Sized for a router: acme-dns bodies are under 1 KiB.
    fn default() -> Self {
        Limits {
            connections_max: CONNECTIONS_MAX_DEFAULT,
            connections_per_client_max: CONNECTIONS_PER_CLIENT_MAX_DEFAULT,
            per_client_exempt: Vec::new(),
            header_bytes_max: 8 * 1024,
            body_bytes_max: 64 * 1024,
            idle_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            workers_max: default_workers(),
        }
    }
}

/// One worker per core but one, at least one and at most `WORKERS_MAX_DEFAULT`:
/// the core left over keeps the DNS threads' latency when every worker hashes.
fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, WORKERS_MAX_DEFAULT)
}

/// How often one limit was hit; logs the first hit at once and then at most one
/// line per `LIMIT_LOG_INTERVAL_SECS` with the hits since the previous line.
#[derive(Debug)]
pub struct LimitCounter {
    /// What was refused, for the log line ("HTTP connection refused: …").
    what: &'static str,
    hits: AtomicUsize,
    /// `hits` as of the last log line.
    logged_hits: AtomicUsize,
    /// Monotonic second from which the next log line may be written.
    next_log_secs: AtomicU32,
}

impl LimitCounter {
    pub const fn new(what: &'static str) -> Self {
        LimitCounter {
            what,
            hits: AtomicUsize::new(0),
            logged_hits: AtomicUsize::new(0),
            next_log_secs: AtomicU32::new(0),
        }
    }

    /// Counts one hit (and logs, if a line is due).
    pub fn hit(&self) {
        self.hit_at(crate::clock::monotonic_secs());
    }

    fn hit_at(&self, now_secs: u32) {
        let total = self.hits.fetch_add(1, Relaxed).wrapping_add(1);
        let next = self.next_log_secs.load(Relaxed);
        if now_secs < next {
            return;
        }
        let later = now_secs.saturating_add(LIMIT_LOG_INTERVAL_SECS);
        // One thread wins the line; the others' hits go into the next one.
        if self
            .next_log_secs
            .compare_exchange(next, later, Relaxed, Relaxed)
            .is_ok()
        {
            let since = total.wrapping_sub(self.logged_hits.swap(total, Relaxed));
            log::warn!(
                "{}: {since} time(s) since the last report, {total} in all",
                self.what
            );
        }
    }

    /// Hits since the process started (wraps at `usize::MAX`).
    pub fn hits(&self) -> usize {
        self.hits.load(Relaxed)
    }
}

/// What one HTTP server counts; read by whoever holds the [`crate::http::Server`]
/// (later the metrics of the `api` role).
#[derive(Debug)]
pub struct Counters {
    /// Connections open now.
    pub open: AtomicUsize,
    /// A new connection refused: its client already held its cap, none idle.
    pub refused_per_client: LimitCounter,
    /// A new connection refused: every slot taken, none idle.
    pub refused_full: LimitCounter,
    /// An idle connection closed to make room (the client's own at its cap, or the
    /// oldest idle one when all slots were taken).
    pub evicted_idle: LimitCounter,
    /// A request head over `header_bytes_max` or with over 100 lines (431).
    pub header_too_large: LimitCounter,
    /// A body over `body_bytes_max` (413).
    pub body_too_large: LimitCounter,
    /// A TLS handshake, a request or a response that took over `request_timeout`.
    pub timed_out: LimitCounter,
    /// Connections closed after `idle_timeout` without a request: routine for
    /// keep-alive clients, so counted but never logged.
    pub idle_closed: AtomicUsize,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            open: AtomicUsize::new(0),
            refused_per_client: LimitCounter::new(
                "HTTP connection refused: the client holds its cap, none idle",
            ),
            refused_full: LimitCounter::new("HTTP connection refused: all slots busy"),
            evicted_idle: LimitCounter::new("HTTP idle connection closed to make room"),
            header_too_large: LimitCounter::new("HTTP request refused: head too large (431)"),
            body_too_large: LimitCounter::new("HTTP request refused: body too large (413)"),
            timed_out: LimitCounter::new("HTTP connection closed: too slow (request_timeout)"),
            idle_closed: AtomicUsize::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counts_every_hit_and_logs_once_per_interval() {
        let counter = LimitCounter::new("test");
        counter.hit_at(100);
        assert_eq!(
            counter.next_log_secs.load(Relaxed),
            100 + LIMIT_LOG_INTERVAL_SECS
        );
        for _ in 0..9 {
            counter.hit_at(101);
        }
        // Nine hits inside the interval: counted, not logged.
        assert_eq!((counter.hits(), counter.logged_hits.load(Relaxed)), (10, 1));
        counter.hit_at(100 + LIMIT_LOG_INTERVAL_SECS);
        assert_eq!(
            (counter.hits(), counter.logged_hits.load(Relaxed)),
            (11, 11)
        );
    }

    #[test]
    fn default_workers_leave_a_core_for_dns() {
        let workers = default_workers();
        assert!((1..=WORKERS_MAX_DEFAULT).contains(&workers));
        let cores = std::thread::available_parallelism().unwrap().get();
        assert!(
            cores == 1 || workers < cores,
            "{workers} workers on {cores} cores"
        );
    }
}
