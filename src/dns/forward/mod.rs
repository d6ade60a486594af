//! The forwarder: turns a question that is not local and not cached into a
//! checked upstream answer in the cache.
//!
//! Owns the policy of asking upstream: which servers ([`upstream`]: routes, then
//! fastest first by smoothed round-trip time, failing over to the next), at most
//! [`INFLIGHT_MAX`] questions upstream at once, identical questions asked once
//! ([`merge`]), rebinding protection ([`rebind`]), the cache insert, and the
//! prefetches the cache asks for ([`Forwarder::prefetch`]: below
//! [`PREFETCH_FORWARDER_LOAD_MAX`] questions upstream only). Each
//! exchange goes through the one DNS client ([`crate::dns::client`]), which checks
//! that the answer is for our question. Writing the client's response is not
//! done here: [`Answerer::complete`] writes it from the cache, so local, cached and
//! forwarded answers share one writer.
//!
//! Runs on the DNS I/O thread's tokio runtime: UDP threads hand over a [`Job`]
//! through a bounded channel and go back to their socket at once. Each job is a
//! tokio task whose future holds the whole exchange, kept small (1 760 bytes;
//! the rare TCP retry and DoT exchanges are boxed, UDP answers are read into one
//! buffer per thread and copied at their size): under glibc a stream of large
//! transient task blocks fragments the heap around the long-lived cache
//! entries. Measured with 10 000 forwarded names (RSS after, minus before):
//! 3 864-byte futures and a 4 KiB buffer per query cost 226–255 bytes per cached
//! answer, these 188–200, the forwarder before the one-owner change 175–190.

pub mod merge;
pub mod rebind;
pub mod resolv;
pub mod upstream;

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use crate::dns::answer::{Answerer, FromUpstream, Pending};
use crate::dns::cache::Cache;
use crate::dns::cache::prefetch::{PREFETCH_INFLIGHT_MAX, Prefetch};
use crate::dns::client::{FLAG_CD, Question, Request};
use crate::dns::dot;
use crate::dns::wire;

pub use resolv::parse_resolv_conf;
pub use upstream::{Health, Upstream};

/// Queries upstream at once; beyond this new ones are answered SERVFAIL.
pub const INFLIGHT_MAX: usize = 512;
/// Jobs waiting for the forwarder thread; beyond this UDP threads drop (counted).
pub const QUEUE_MAX: usize = 1024;
/// A prefetch is asked only while fewer questions than this are upstream, so
/// client questions come first: under load no prefetch starts, and prefetches
/// alone can never bring the forwarder to `INFLIGHT_MAX`.
pub const PREFETCH_FORWARDER_LOAD_MAX: usize = INFLIGHT_MAX / 2;

const _: () = assert!(PREFETCH_FORWARDER_LOAD_MAX + PREFETCH_INFLIGHT_MAX <= INFLIGHT_MAX);

/// A client query the UDP thread could not answer locally or from the cache.
#[derive(Debug)]
pub struct Job {
    pub pending: Pending,
    pub peer: SocketAddr,
    /// The socket the query came in on; the answer leaves from it.
    pub socket: Arc<UdpSocket>,
}

/// What the config says about forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Servers for every name without a route.
    pub upstreams: Vec<Upstream>,
    /// (domain as lower-case wire, its servers): names under it go there only.
    pub routes: Vec<(Vec<u8>, Vec<Upstream>)>,
    /// Extra trust anchors for DNS over TLS.
    pub ca_file: Option<std::path::PathBuf>,
    pub serve_stale: bool,
    pub rebind_protection: bool,
    /// Domains (lower-case wire) whose answers may carry private addresses.
    pub rebind_allow: Vec<Vec<u8>>,
}

/// The upstreams, their health, and the cache answers go into.
#[derive(Debug)]
pub struct Forwarder {
    upstreams: upstream::Upstreams,
    cache: Arc<Cache>,
    serve_stale: bool,
    rebind_protection: bool,
    rebind_allow: HashSet<Box<[u8]>>,
    inflight: AtomicUsize,
    merging: merge::InFlight,
    /// Queries that waited for an identical one already upstream.
    pub merged: AtomicUsize,
    /// Answers served stale because every upstream failed.
    pub stale_served: AtomicUsize,
    /// Upstream answers dropped by rebinding protection.
    pub rebind_dropped: AtomicUsize,
    /// Queries answered SERVFAIL because `INFLIGHT_MAX` were upstream.
    pub inflight_full: AtomicUsize,
}

impl Forwarder {
    pub fn new(settings: &Settings, cache: Arc<Cache>) -> Self {
        let tls = settings
            .upstreams
            .iter()
            .chain(settings.routes.iter().flat_map(|(_, r)| r));
        let roots = if tls.clone().any(|u| u.tls_name.is_some()) {
            dot::roots(settings.ca_file.as_deref())
                .map_err(|e| log::error!("DNS over TLS: {e}"))
                .ok()
        } else {
            None
        };
        Self {
            upstreams: upstream::Upstreams::new(
                &settings.upstreams,
                &settings.routes,
                roots.as_ref(),
            ),
            cache,
            serve_stale: settings.serve_stale,
            rebind_protection: settings.rebind_protection,
            rebind_allow: settings
                .rebind_allow
                .iter()
                .map(|d| d.as_slice().into())
                .collect(),
            inflight: AtomicUsize::new(0),
            merging: merge::InFlight::default(),
            merged: AtomicUsize::new(0),
            stale_served: AtomicUsize::new(0),
            rebind_dropped: AtomicUsize::new(0),
            inflight_full: AtomicUsize::new(0),
        }
    }

    /// Queries upstream right now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Relaxed)
    }

    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// Per upstream: address, answers, failures, smoothed RTT in ms.
    pub fn health(&self) -> Vec<Health> {
        self.upstreams.health()
    }

    /// The response to `pending`: its target asked upstream, the answer checked
    /// and cached, the rest written by `answerer`.
    pub async fn resolve(&self, answerer: &Answerer, pending: Pending) -> Vec<u8> {
        let query = pending.query();
        let question = question(&pending);
        let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
        let fetched = self.fetch(&question, query.flags, dnssec_ok).await;
        self.complete(answerer, pending, &fetched)
    }

    /// `pending` completed with what the upstreams gave, as [`Forwarder::resolve`]
    /// does without asking them (the fuzz targets in tests/fuzz): `Some`
    /// answer, already matched to the question, or `None` when none answered.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn complete_with(
        &self,
        answerer: &Answerer,
        pending: Pending,
        answer: Option<&[u8]>,
    ) -> Vec<u8> {
        let fetched = match answer {
            Some(answer) => Fetched::Answer(Arc::new(answer.to_vec())),
            None => Fetched::Unanswered,
        };
        self.complete(answerer, pending, &fetched)
    }

    /// The upstreams' result checked, cached and written by `answerer`.
    fn complete(&self, answerer: &Answerer, pending: Pending, fetched: &Fetched) -> Vec<u8> {
        let question = question(&pending);
        let dnssec_ok = pending.query().edns.is_some_and(|e| e.dnssec_ok);
        let exempt = pending.in_local_zone() || self.rebind_allowed(pending.target());
        let outcome = match fetched {
            Fetched::Answer(answer) => self.check_and_cache(&question, dnssec_ok, answer, exempt),
            Fetched::Busy => FromUpstream::Busy,
            Fetched::Unanswered => FromUpstream::Unanswered {
                stale: self.serve_stale,
            },
        };
        let (response, stale) = answerer.complete(pending, outcome);
        if stale {
            self.stale_served.fetch_add(1, Relaxed);
        }
        response
    }

    /// Asks `prefetch`'s question upstream again; the checked answer replaces the
    /// cached entry. Not asked (counted as dropped) while the forwarder has
    /// `PREFETCH_FORWARDER_LOAD_MAX` questions upstream. `exempt`: the name is in
    /// a local zone. A chain's target outside local data is checked for
    /// rebinding even when the chain started in a local zone (the entry does not
    /// say where it came from): such an answer is dropped, the entry expires,
    /// and the next client query asks again with its exemption.
    pub async fn prefetch(&self, prefetch: Prefetch, exempt: bool) {
        let question = Question {
            name: &prefetch.name,
            qtype: prefetch.qtype,
            qclass: prefetch.qclass,
        };
        let refreshed = if self.inflight() >= PREFETCH_FORWARDER_LOAD_MAX {
            prefetch.count_dropped();
            false
        } else {
            let exempt = exempt || self.rebind_allowed(question.name);
            match self.fetch(&question, 0, prefetch.dnssec_ok).await {
                Fetched::Answer(answer) => matches!(
                    self.check_and_cache(&question, prefetch.dnssec_ok, &answer, exempt),
                    FromUpstream::Answer { cached: true, .. }
                ),
                Fetched::Busy | Fetched::Unanswered => false,
            }
        };
        if refreshed {
            prefetch.answered();
        } else {
            log::debug!(
                "prefetch of {} not refreshed",
                wire::name_to_string(question.name)
            );
            self.cache.prefetch_ended(&prefetch);
        }
    }

    /// Rebinding protection, then the cache.
    fn check_and_cache<'r>(
        &self,
        question: &Question<'_>,
        dnssec_ok: bool,
        answer: &'r [u8],
        exempt: bool,
    ) -> FromUpstream<'r> {
        if self.rebind_protection && !exempt && rebind::rebinds(answer, question.end()) {
            self.rebind_dropped.fetch_add(1, Relaxed);
            log::info!(
                "possible DNS rebinding: an upstream answer for {} carries a private address; answered NXDOMAIN",
                wire::name_to_string(question.name)
            );
            return FromUpstream::Rebinding;
        }
        let cached = self.cache.insert(
            question.name,
            question.qtype,
            question.qclass,
            dnssec_ok,
            answer,
            crate::clock::monotonic_secs(),
            None,
        );
        FromUpstream::Answer {
            response: answer,
            cached,
        }
    }

    /// `rebind_allow` domains may resolve to private addresses.
    fn rebind_allowed(&self, name: &[u8]) -> bool {
        crate::dns::zone::suffixes(name).any(|s| self.rebind_allow.contains(s))
    }

    /// One checked upstream answer for `question`, asked once however many
    /// identical queries are waiting, within `INFLIGHT_MAX`.
    async fn fetch(&self, question: &Question<'_>, flags: u16, dnssec_ok: bool) -> Fetched {
        if self.inflight.fetch_add(1, Relaxed) >= INFLIGHT_MAX {
            self.inflight.fetch_sub(1, Relaxed);
            self.inflight_full.fetch_add(1, Relaxed);
            return Fetched::Busy;
        }
        let key: merge::Key = (
            question.name.into(),
            question.qtype,
            question.qclass,
            dnssec_ok,
            flags & FLAG_CD != 0,
        );
        let shared = match self.merging.join(key) {
            merge::Joined::Waiter(receiver) => {
                self.merged.fetch_add(1, Relaxed);
                receiver.await.ok().flatten()
            }
            // Whatever happens to this task (even cancellation), the waiters hear.
            merge::Joined::Leader(leader) => {
                leader.finish(self.exchange(question, flags, dnssec_ok).await)
            }
        };
        self.inflight.fetch_sub(1, Relaxed);
        match shared {
            Some(answer) => Fetched::Answer(answer),
            None => Fetched::Unanswered,
        }
    }

    /// One validated upstream response, trying each upstream at most once.
    async fn exchange(
        &self,
        question: &Question<'_>,
        flags: u16,
        dnssec_ok: bool,
    ) -> Option<Vec<u8>> {
        let mut request = Request::new(*question, flags, dnssec_ok);
        for upstream in self.upstreams.order(question.name) {
            let started = Instant::now();
            let result = match &upstream.dot {
                // Boxed: a TLS exchange's state is large, and most upstreams are UDP.
                Some(dot) => Box::pin(request.tls(dot)).await,
                None => request.udp(upstream.address, upstream.timeout()).await,
            };
            let elapsed = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
            match result {
                Ok(response) => {
                    upstream.record(elapsed, true);
                    return Some(response);
                }
                Err(e) => {
                    log::debug!("upstream {}: {e}", upstream.address);
                    upstream.record(elapsed, false);
                }
            }
        }
        None
    }
}

/// The question to ask upstream for `pending`.
fn question(pending: &Pending) -> Question<'_> {
    let query = pending.query();
    Question {
        name: pending.target(),
        qtype: query.qtype,
        qclass: query.qclass,
    }
}

/// What the upstreams gave for a question.
enum Fetched {
    Answer(Arc<Vec<u8>>),
    Busy,
    Unanswered,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use std::sync::atomic::Ordering::SeqCst;
    use std::time::Duration;

    use crate::dns::cache::prefetch::Prefetches;
    use crate::dns::wire::HEADER_BYTES;

    const NAME: &[u8] = b"\x03www\x07example\x03com\x00";

    /// A query for `NAME` A, as a client (or the forwarder) sends it.
    fn query() -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(NAME);
        packet.extend_from_slice(&[0, 1, 0, 1]);
        packet
    }

    /// The answer to `query` (its ID and question): `NAME` A 192.0.2.1, `ttl`.
    fn answer_to(query: &[u8], ttl: u32) -> Vec<u8> {
        let question_end = HEADER_BYTES + NAME.len() + 4;
        let mut response = query[..2].to_vec();
        response.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
        response.extend_from_slice(&query[HEADER_BYTES..question_end]);
        response.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        response.extend_from_slice(&ttl.to_be_bytes());
        response.extend_from_slice(&[0, 4, 192, 0, 2, 1]);
        response
    }

    /// An upstream on loopback answering every query with TTL 300, counting them.
    fn upstream() -> (SocketAddr, Arc<AtomicUsize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let address = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let counted = queries.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                counted.fetch_add(1, SeqCst);
                let _ = socket.send_to(&answer_to(&buf[..n], 300), peer);
            }
        });
        (address, queries)
    }

    /// The TTL the cache replays for `NAME` A at `now`; a due hit queues a prefetch.
    fn cached_ttl(cache: &Cache, now: u32) -> Option<u32> {
        let mut out = query();
        cache.lookup(NAME, 1, 1, false, now, false, &mut out)?;
        let at = HEADER_BYTES + NAME.len() + 4 + 6;
        Some(u32::from_be_bytes(out[at..at + 4].try_into().unwrap()))
    }

    #[test]
    fn a_prefetch_replaces_the_entry_and_waits_for_client_questions_first() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (address, queries) = upstream();
        let prefetches = Arc::new(Prefetches::new(true));
        let cache =
            Arc::new(Cache::new(100, 1 << 20, 0, 86400).with_prefetches(prefetches.clone()));
        let settings = Settings {
            upstreams: vec![Upstream {
                address,
                tls_name: None,
            }],
            ..Settings::default()
        };
        let forwarder = Forwarder::new(&settings, cache.clone());
        let now = crate::clock::monotonic_secs();
        assert!(cache.insert(NAME, 1, 1, false, &answer_to(&query(), 20), now, None));
        // 2 s left of 20: due. The hit itself is served from the cache.
        assert_eq!(cached_ttl(&cache, now + 18), Some(2));
        let prefetch = prefetches.pop().unwrap();
        runtime.block_on(forwarder.prefetch(prefetch, false));
        assert_eq!(queries.load(SeqCst), 1);
        assert_eq!(prefetches.answered.load(Relaxed), 1);
        assert_eq!(prefetches.inflight(), 0);
        let ttl = cached_ttl(&cache, crate::clock::monotonic_secs()).unwrap();
        assert!(
            ttl > 290,
            "the upstream's fresh answer replaced the entry: {ttl}"
        );

        // Busy with client questions: the prefetch is not asked, and the entry is
        // unmarked, so a later hit tries again.
        forwarder
            .inflight
            .store(PREFETCH_FORWARDER_LOAD_MAX, Relaxed);
        let later = crate::clock::monotonic_secs() + 290;
        assert!(cached_ttl(&cache, later).is_some());
        runtime.block_on(forwarder.prefetch(prefetches.pop().unwrap(), false));
        assert_eq!(queries.load(SeqCst), 1, "nothing asked upstream");
        assert_eq!(prefetches.dropped.load(Relaxed), 1);
        assert!(cached_ttl(&cache, later).is_some());
        assert!(prefetches.pop().is_some(), "tried again");
        forwarder.inflight.store(0, Relaxed);
    }
}
