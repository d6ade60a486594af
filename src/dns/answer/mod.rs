//! The answer path: one request's bytes in, one response's bytes out.
//!
//! Owns the DNS semantics lanseal applies to a query: this module is the policy
//! (what kind of request it is, RCODEs, the AA/RA flags, the public zone for
//! clients outside the ACL, EDNS versions) and the one owner of a query's life,
//! including the part the upstreams answer; `resolve` decides which data
//! answers (zones, IP names, dynamic records, wildcards, CNAME chains, reverse
//! zones, blocklists, the cache); `blocked` writes a blocked name's answer and
//! `cloaked` gives it to an upstream answer whose CNAME chain reaches a listed
//! name (checked at every cache replay and relay, so the cache keeps what the
//! upstream said); `message` writes records with name compression and
//! finishes every response (truncation, OPT, flags, counts).
//!
//! A request is parsed once, by [`wire::Query::parse`], on the thread that
//! received it. When the upstreams must answer, [`Answerer::answer`] returns a
//! [`Pending`]: the parsed query, the response written so far (header, question,
//! the local part of a CNAME chain) and the name to ask. The forwarder turns that
//! name into a checked upstream answer and hands it to [`Answerer::complete`],
//! which writes the rest from the cache. It never allocates for a local answer and
//! never panics: every input reaches here only through [`wire::Query::parse`].

mod blocked;
mod cloaked;
mod message;
mod resolve;

use std::sync::{Arc, OnceLock};

use crate::dns::blocklist::Blocklists;
use crate::dns::cache::Cache;
use crate::dns::dynamic::DynamicZone;
use crate::dns::hosts::HostTable;
use crate::dns::reverse::ReverseIndex;
use crate::dns::wire::{self, Parsed, Query, RCODE_BADVERS, RCODE_FORMERR};
use crate::dns::wire::{CLASS_IN, HEADER_BYTES, RCODE_NOERROR, RCODE_NXDOMAIN};
use crate::dns::wire::{RCODE_REFUSED, RCODE_SERVFAIL, TYPE_OPT};
use crate::dns::zone::{self, Zones};

use message::Message;
pub use message::finish;

const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// A rate-limited UDP client: an empty TC=1 answer (no lookup), so a real
    /// client retries over TCP while a spoofed flood gains nothing (RRL "slip").
    Slip,
}

/// What to do with a request after [`Answerer::answer`].
///
/// `Forward` carries its `Pending` (456 bytes) inline, not boxed: it travels by
/// value through the UDP threads' channel, whose blocks are reused, so a
/// forwarded query allocates nothing on the UDP thread but the response copy.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Step {
    /// The response is in `out`.
    Send,
    /// Nothing to send (not a query, or too broken to answer).
    Drop,
    /// Not local and not cached: the upstreams must answer (`dns::forward`), then
    /// [`Answerer::complete`] writes the response.
    Forward(Pending),
}

/// A query waiting for the upstreams; see the module doc.
#[derive(Debug)]
pub struct Pending {
    query: Query,
    /// Header, the client's question and the local records written so far.
    response: Vec<u8>,
    /// Answer and authority records in `response`.
    counts: [u16; 2],
    /// Where a local CNAME chain left local data (lower-case wire): the name to
    /// ask upstream instead of the question's.
    chained: Option<Box<[u8]>>,
    transport: Transport,
    /// The question is in one of our zones: upstream answers for it may carry
    /// private addresses (rebinding protection does not apply).
    local_zone: bool,
}

impl Pending {
    /// The name to ask upstream (lower-case wire).
    pub fn target(&self) -> &[u8] {
        self.chained
            .as_deref()
            .unwrap_or(self.query.name.as_bytes())
    }

    pub fn query(&self) -> &Query {
        &self.query
    }

    /// True when the question lies in one of our own zones.
    pub fn in_local_zone(&self) -> bool {
        self.local_zone
    }
}

/// What the upstreams made of a [`Pending`] query.
#[derive(Debug)]
pub enum FromUpstream<'r> {
    /// A checked answer for the target; `cached` when the cache kept it.
    Answer { response: &'r [u8], cached: bool },
    /// The answer carried private addresses (DNS rebinding): NXDOMAIN.
    Rebinding,
    /// Too many queries upstream already, or no upstream for the name.
    Busy,
    /// No upstream answered; `stale`: an expired cache entry may answer (RFC 8767).
    Unanswered { stale: bool },
}

/// What the answerer needs to send names upstream.
#[derive(Debug, Clone)]
pub struct Forwarding {
    pub cache: Arc<Cache>,
    /// Single-label names are never forwarded (dnsmasq's `domain-needed`).
    pub domain_needed: bool,
    /// Reverse lookups of private addresses not known here answer NXDOMAIN
    /// instead of leaking upstream (dnsmasq's `bogus-priv`).
    pub bogus_priv: bool,
}

/// Answers queries from the current local data. Cheap to share: the DNS threads hold
/// it behind an `Arc` and replace the whole value on reload.
#[derive(Debug)]
pub struct Answerer {
    zones: Arc<Zones>,
    /// Names from lease and hosts files; answered before zone data.
    hosts: Arc<HostTable>,
    /// Present when upstreams are configured; RA=1 then.
    forwarding: Option<Forwarding>,
    /// Records a role changes at run time (the delegate's TXT values); this zone
    /// is answered to clients outside the ACL too.
    dynamic: Option<Arc<DynamicZone>>,
    /// Addresses with PTRs, for empty non-terminals in the reverse zones; built
    /// on first use (most services never need it).
    reverse_index: OnceLock<ReverseIndex>,
    recursion_available: bool,
    /// Names answered as blocked where they leave local data (`blocked`).
    blocklists: Arc<Blocklists>,
}

/// How the local data settled a query.
struct Outcome {
    rcode: u8,
    authoritative: bool,
    /// Nothing local or cached: the upstreams must answer.
    forward: bool,
}

impl Outcome {
    const REFUSED: Self = Self::remote(RCODE_REFUSED);
    const FORWARD: Self = Self {
        rcode: RCODE_SERVFAIL,
        authoritative: false,
        forward: true,
    };

    fn local(rcode: u8) -> Self {
        Self {
            rcode,
            authoritative: true,
            forward: false,
        }
    }

    const fn remote(rcode: u8) -> Self {
        Self {
            rcode,
            authoritative: false,
            forward: false,
        }
    }
}

impl Answerer {
    pub fn new(zones: Arc<Zones>, hosts: Arc<HostTable>, forwarding: Option<Forwarding>) -> Self {
        Self {
            zones,
            hosts,
            recursion_available: forwarding.is_some(),
            forwarding,
            dynamic: None,
            reverse_index: OnceLock::new(),
            blocklists: Arc::default(),
        }
    }

    /// Answers the names `blocklists` block as they configure.
    pub fn with_blocklists(mut self, blocklists: Arc<Blocklists>) -> Self {
        self.blocklists = blocklists;
        self
    }

    /// Answers `dynamic`'s records too, to anyone (the delegate's public zone).
    pub fn with_dynamic(mut self, dynamic: Arc<DynamicZone>) -> Self {
        self.dynamic = Some(dynamic);
        self
    }

    /// True when some zone is answered to clients outside the ACL (a delegate).
    pub fn serves_public(&self) -> bool {
        self.dynamic.is_some()
    }

    /// True when `name` (lower-case wire) is in the public zone: answered to
    /// anyone, whatever the ACL says.
    pub fn is_public(&self, name: &[u8]) -> bool {
        self.dynamic
            .as_ref()
            .is_some_and(|d| zone::is_within(name, d.apex()))
    }

    /// The dynamic records this answerer serves, if a role feeds some.
    pub fn dynamic(&self) -> Option<&Arc<DynamicZone>> {
        self.dynamic.as_ref()
    }

    /// The local zone whose apex is `apex` (lower-case wire).
    pub fn zone_at(&self, apex: &[u8]) -> Option<&zone::Zone> {
        self.zones.find(apex).filter(|z| *z.apex == *apex)
    }

    /// True when `name` lies in one of our zones.
    pub fn is_local_zone(&self, name: &[u8]) -> bool {
        self.zones.find(name).is_some()
    }

    /// Writes the response to `packet` into `out`, or says why there is none.
    /// With `public` (a client outside the ACL) only the public zone is answered,
    /// anything else REFUSED, nothing forwarded.
    pub fn answer(
        &self,
        public: bool,
        packet: &[u8],
        transport: Transport,
        query: &mut Query,
        out: &mut Vec<u8>,
    ) -> Step {
        match query.parse(packet) {
            Parsed::Drop => Step::Drop,
            Parsed::Error {
                id,
                flags,
                rcode,
                edns,
            } => {
                let flags = wire::response_flags(flags, false, self.recursion_available, rcode);
                wire::write_header(out, id, flags, [0, 0, 0, u16::from(edns.is_some())]);
                if let Some(edns) = edns {
                    wire::write_opt(out, 0, edns.dnssec_ok);
                }
                Step::Send
            }
            Parsed::Query => self.answer_query(public, packet, transport, query, out),
        }
    }

    fn answer_query(
        &self,
        public: bool,
        packet: &[u8],
        transport: Transport,
        query: &mut Query,
        out: &mut Vec<u8>,
    ) -> Step {
        wire::write_header(out, query.id, 0, [1, 0, 0, 0]);
        out.extend_from_slice(&packet[HEADER_BYTES..query.question_end]);
        let question_end = out.len();
        let mut names = message::no_names();
        let mut message = Message::new(out, &mut names, query);
        message.serial_of = self.dynamic.as_deref();
        let mut extended_rcode = 0;
        let outcome = if query.edns.is_some_and(|e| e.version != 0) {
            extended_rcode = RCODE_BADVERS;
            Outcome::remote(RCODE_NOERROR)
        } else if query.qtype == TYPE_OPT {
            Outcome::remote(RCODE_FORMERR)
        } else if query.qclass != CLASS_IN || matches!(query.qtype, TYPE_AXFR | TYPE_IXFR) {
            Outcome::REFUSED
        } else if transport == Transport::Slip {
            Outcome::remote(RCODE_NOERROR)
        } else if public && !self.is_public(query.name.as_bytes()) {
            Outcome::REFUSED
        } else {
            self.resolve(query, &mut message)
        };
        if outcome.forward {
            let chained = message.forward.map(Box::<[u8]>::from);
            let counts = message.counts;
            let local_zone = self.is_local_zone(query.name.as_bytes());
            // Exactly what is written so far: a query waiting upstream holds no
            // more memory than it needs (the rest is written on the I/O thread).
            let response = out.clone();
            return Step::Forward(Pending {
                query: std::mem::replace(query, Query::empty()),
                response,
                counts,
                chained,
                transport,
                local_zone,
            });
        }
        let [mut answers, mut authorities] = message.counts;
        if outcome.rcode == RCODE_SERVFAIL {
            out.truncate(question_end);
            (answers, authorities) = (0, 0);
        }
        let counts = [answers, authorities];
        self.finish_outcome(out, query, transport, outcome, counts, extended_rcode);
        Step::Send
    }

    /// Flags from `outcome`, then [`finish`].
    fn finish_outcome(
        &self,
        out: &mut Vec<u8>,
        query: &Query,
        transport: Transport,
        outcome: Outcome,
        counts: [u16; 2],
        extended_rcode: u16,
    ) {
        let flags = wire::response_flags(
            query.flags,
            outcome.authoritative,
            self.recursion_available,
            outcome.rcode,
        );
        finish(out, query, transport, counts, flags, extended_rcode);
    }

    /// The response to a query the upstreams were asked about: from the cache
    /// (where `upstream` put the answer, or an expired entry when every upstream
    /// failed), relayed as it is when the cache would not keep it, else an error.
    /// The flag is true when an expired entry answered.
    pub fn complete(&self, pending: Pending, upstream: FromUpstream<'_>) -> (Vec<u8>, bool) {
        let Pending {
            query,
            mut response,
            counts,
            chained,
            transport,
            ..
        } = pending;
        let mut uncached = None;
        let (cached, stale) = match upstream {
            FromUpstream::Answer {
                cached,
                response: answer,
            } => {
                let direct = chained.is_none();
                if !cached {
                    uncached = Some(answer);
                }
                if !cached && direct {
                    if let Some((outcome, counts)) =
                        self.uncloak_relayed(answer, &query, &mut response)
                    {
                        self.finish_outcome(&mut response, &query, transport, outcome, counts, 0);
                        return (response, false);
                    }
                    if message::relay(answer, &query, transport, &mut response) {
                        return (response, false);
                    }
                }
                (cached, false)
            }
            FromUpstream::Unanswered { stale: true } => (true, true),
            FromUpstream::Rebinding => {
                self.error(&query, transport, RCODE_NXDOMAIN, &mut response);
                return (response, false);
            }
            FromUpstream::Busy | FromUpstream::Unanswered { stale: false } => (false, false),
        };
        let start = response.len();
        let hit = match (cached, self.forwarding.as_ref(), chained.as_deref()) {
            (true, Some(forwarding), Some(target)) => {
                let cache = &forwarding.cache;
                resolve::chain_from_cache(cache, target, &query, stale, &mut response)
                    .and_then(Result::ok)
            }
            (true, Some(forwarding), None) => {
                resolve::direct_from_cache(&forwarding.cache, &query, stale, &mut response)
            }
            // A chain's target the cache did not keep: from the answer itself.
            (false, _, Some(_)) => {
                uncached.and_then(|answer| resolve::chain_from_answer(answer, &mut response))
            }
            _ => None,
        };
        let Some(hit) = hit else {
            self.error(&query, transport, RCODE_SERVFAIL, &mut response);
            return (response, false);
        };
        let target = chained.as_deref().unwrap_or(query.name.as_bytes());
        let lists = &self.blocklists;
        if hit.cname && lists.inspects_cnames() && !lists.is_allowed(target) {
            // The chain may reach a listed name (`cloaked`).
            let mut names = message::no_names();
            let mut message = Message::new(&mut response, &mut names, &query);
            message.counts = counts;
            if let Some(outcome) = self.uncloak(hit, target, start, &query, &mut message) {
                let counts = message.counts;
                self.finish_outcome(&mut response, &query, transport, outcome, counts, 0);
                return (response, hit.stale);
            }
        }
        let counts = if chained.is_some() {
            [
                counts[0].saturating_add(hit.answers),
                counts[1].saturating_add(hit.authorities),
            ]
        } else {
            [hit.answers, hit.authorities]
        };
        let outcome = Outcome::remote(hit.rcode);
        self.finish_outcome(&mut response, &query, transport, outcome, counts, 0);
        (response, hit.stale)
    }

    /// Cuts `out` back to the question and finishes it as an empty answer with
    /// `rcode` (SERVFAIL when the upstreams failed, NXDOMAIN for rebinding).
    fn error(&self, query: &Query, transport: Transport, rcode: u8, out: &mut Vec<u8>) {
        out.truncate(query.question_end);
        self.finish_outcome(out, query, transport, Outcome::remote(rcode), [0, 0], 0);
    }

    /// The addresses of the PTRs of lease and hosts names (zones keep their own).
    fn reverse_index(&self) -> &ReverseIndex {
        self.reverse_index
            .get_or_init(|| ReverseIndex::new(self.hosts.reverse_names()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::dns::zone::{Mode, ZoneSpec};

    fn answerer() -> Answerer {
        let records = [
            "a A 10.0.0.1",
            "www CNAME a",
            "*.w CNAME www",
            "@ MX 10 a",
            "t TXT \"x\"",
            "l1 CNAME l2",
            "l2 CNAME l1",
        ];
        let spec = ZoneSpec {
            name: "z.test".into(),
            mode: Mode::Authoritative,
            ttl: 60,
            ip_names: true,
            ip_names_private_only: true,
            records: records.iter().map(|r| (r.to_string(), 1)).collect(),
            file: None,
        };
        Answerer::new(
            Arc::new(Zones::build(&[spec], 1, usize::MAX).unwrap()),
            Arc::default(),
            None,
        )
    }

    fn query(name: &[u8], qtype: u16, edns: bool) -> Vec<u8> {
        let mut p = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        if edns {
            p.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        p
    }

    /// Every single-byte corruption and every truncation of valid queries: the answer
    /// path must answer or drop, never panic (debug builds also check overflow).
    #[test]
    fn mutated_queries_never_panic() {
        let a = answerer();
        let mut q = Query::empty();
        let mut out = Vec::new();
        let names: [&[u8]; 4] = [
            b"\x01a\x01z\x04test\x00",
            b"\x03www\x01z\x04test\x00",
            b"\x01x\x01w\x01z\x04test\x00",
            b"\x02l1\x01z\x04test\x00",
        ];
        for name in names {
            for (qtype, edns) in [(1u16, true), (255, false), (15, true), (5, false)] {
                let packet = query(name, qtype, edns);
                for n in 0..packet.len() {
                    a.answer(false, &packet[..n], Transport::Udp, &mut q, &mut out);
                }
                for i in 0..packet.len() {
                    for value in [0u8, 1, 0x3f, 0x40, 0xc0, 0xff] {
                        let mut bad = packet.clone();
                        bad[i] = value;
                        if matches!(
                            a.answer(false, &bad, Transport::Udp, &mut q, &mut out),
                            Step::Send
                        ) {
                            assert!(out.len() >= HEADER_BYTES);
                            assert_eq!(&out[..2], &bad[..2], "the ID is echoed");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn answers_with_compression_and_chains() {
        let a = answerer();
        let mut q = Query::empty();
        let mut out = Vec::new();
        let packet = query(b"\x01x\x01w\x01z\x04test\x00", 1, false);
        let step = a.answer(false, &packet, Transport::Udp, &mut q, &mut out);
        assert!(matches!(step, Step::Send));
        // x.w -> CNAME www (wildcard), www -> CNAME a, a -> A: three records.
        assert_eq!(u16::from_be_bytes([out[6], out[7]]), 3);
        assert_eq!(out[3] & 0x0f, RCODE_NOERROR);
        let packet = query(b"\x02l1\x01z\x04test\x00", 1, false);
        let step = a.answer(false, &packet, Transport::Udp, &mut q, &mut out);
        assert!(matches!(step, Step::Send));
        assert_eq!(out[3] & 0x0f, RCODE_SERVFAIL);
        assert_eq!(u16::from_be_bytes([out[6], out[7]]), 0);
        // Not a query at all: dropped.
        let mut response = query(b"\x00", 1, false);
        response[2] |= 0x80;
        let step = a.answer(false, &response, Transport::Udp, &mut q, &mut out);
        assert!(matches!(step, Step::Drop));
    }

    /// An upstream answer the cache would not keep is relayed with the client's
    /// ID and question, and the upstream's RCODE where it is NOERROR/NXDOMAIN.
    #[test]
    fn relays_with_the_clients_id_and_question() {
        let packet = query(b"\x01A\x04test\x00", 1, false);
        let mut q = Query::empty();
        assert!(matches!(q.parse(&packet), Parsed::Query));
        let mut upstream = packet.clone();
        upstream[..2].copy_from_slice(&[0x77, 0x77]);
        upstream[2] |= 0x80;
        upstream[3] = 2; // SERVFAIL
        let mut out = packet[..q.question_end].to_vec();
        assert!(message::relay(&upstream, &q, Transport::Udp, &mut out));
        assert_eq!(&out[..2], &[0xbe, 0xef]);
        assert_eq!(out[3] & 0x0f, 2);
        assert_eq!(&out[12..q.question_end], &packet[12..q.question_end]);
        // Not laid out like the question: refused.
        let mut out = packet[..q.question_end].to_vec();
        assert!(!message::relay(
            &upstream[..q.question_end - 1],
            &q,
            Transport::Udp,
            &mut out
        ));
    }

    /// `t.example.com CNAME x.vendor.example`, `x.vendor.example A 192.0.2.9`,
    /// as an upstream answers `packet`.
    fn cloaking_answer(packet: &[u8]) -> Vec<u8> {
        let mut upstream = packet.to_vec();
        upstream[2] |= 0x80;
        upstream[7] = 2;
        upstream.extend_from_slice(&[0xC0, 0x0C, 0, 5, 0, 1, 0, 0, 1, 44, 0, 18]);
        let target = upstream.len() as u8;
        upstream.extend_from_slice(b"\x01x\x06vendor\x07example\x00");
        upstream.extend_from_slice(&[0xC0, target, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 9]);
        upstream
    }

    /// The list "vendors" loaded from `file` (inspecting CNAMEs), an empty
    /// cache, and an answerer forwarding through that cache with no list.
    fn listed_vendors(
        file: std::path::PathBuf,
        answer: crate::dns::blocklist::BlockAnswer,
        names_max: usize,
    ) -> (Arc<Blocklists>, Arc<Cache>, Answerer) {
        let spec = crate::dns::blocklist::BlocklistSpec {
            name: "vendors".into(),
            files: vec![file],
            allow: Vec::new(),
            allow_files: Vec::new(),
            answer,
            names_max,
            cname_inspection: true,
        };
        let lists = Arc::new(Blocklists::load(&[spec], &Blocklists::default()));
        let cache = Arc::new(Cache::new(100, 1 << 20, 0, 86400));
        let forwarding = Forwarding {
            cache: cache.clone(),
            domain_needed: false,
            bogus_priv: true,
        };
        let zones = Arc::new(Zones::build(&[], 1, usize::MAX).unwrap());
        let plain = Answerer::new(zones, Arc::default(), Some(forwarding));
        (lists, cache, plain)
    }

    /// A CNAME chain into a listed name is blocked when relayed and when
    /// replayed from the cache, which keeps the upstream's answer.
    #[test]
    fn cname_chains_into_a_listed_name_answer_as_the_list_says() {
        use crate::dns::blocklist::BlockAnswer;
        let dir = std::env::temp_dir().join(format!("lanseal-cloaked-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vendors");
        std::fs::write(&file, "vendor.example\n").unwrap();
        let (lists, cache, plain) = listed_vendors(file, BlockAnswer::Null, 10);
        std::fs::remove_dir_all(&dir).unwrap();
        let name = b"\x01t\x07example\x03com\x00";
        let packet = query(name, 1, false);
        let upstream = cloaking_answer(&packet);
        let pending = |answerer: &Answerer| {
            let mut q = Query::empty();
            let mut out = Vec::new();
            match answerer.answer(false, &packet, Transport::Udp, &mut q, &mut out) {
                Step::Forward(pending) => pending,
                other => panic!("not forwarded: {other:?}"),
            }
        };
        let blocked_answer = |out: &[u8]| {
            assert_eq!(out[3] & 0x0f, RCODE_NOERROR);
            assert_eq!(u16::from_be_bytes([out[6], out[7]]), 1, "one record");
            assert!(out.ends_with(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 0, 0, 0, 0]));
        };
        let answerer = Answerer::new(
            plain.zones.clone(),
            Arc::default(),
            plain.forwarding.clone(),
        )
        .with_blocklists(lists.clone());
        let (first, second) = (pending(&answerer), pending(&answerer));
        // Relayed (the cache did not keep it).
        let relayed = FromUpstream::Answer {
            response: &upstream,
            cached: false,
        };
        blocked_answer(&answerer.complete(first, relayed).0);
        // Cached: completed from the cache, then answered from it.
        let now = crate::clock::monotonic_secs();
        assert!(cache.insert(&name[..], 1, 1, false, &upstream, now, None));
        let cached = FromUpstream::Answer {
            response: &upstream,
            cached: true,
        };
        blocked_answer(&answerer.complete(second, cached).0);
        let mut q = Query::empty();
        let mut out = Vec::new();
        let step = answerer.answer(false, &packet, Transport::Udp, &mut q, &mut out);
        assert!(matches!(step, Step::Send));
        blocked_answer(&out);
        let counters = &lists.lists()[0].counters;
        assert_eq!(
            counters
                .cname_blocked
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
        // Without the list, the same entry answers as the upstream said.
        let step = plain.answer(false, &packet, Transport::Udp, &mut q, &mut out);
        assert!(matches!(step, Step::Send));
        assert_eq!(u16::from_be_bytes([out[6], out[7]]), 2, "the chain");
        assert!(out.ends_with(&[192, 0, 2, 9]));
    }

    /// CPU nanoseconds per answer from the cache, on this thread: an A answer
    /// and a CNAME chain to a name no list has, without lists and with a list of
    /// 100 000 names inspecting CNAMEs. `cargo test --release --lib
    /// answer::tests::cname_inspection_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, for release builds"]
    fn cname_inspection_cost() {
        use crate::dns::blocklist::BlockAnswer;
        use std::fmt::Write as _;
        const ROUNDS: usize = 1_000_000;
        let dir = std::env::temp_dir().join(format!("lanseal-cloaked-cost-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vendors");
        let mut text = String::new();
        for n in 0..100_000 {
            writeln!(text, "t{n}.vendor{}.example", n % 1000).unwrap();
        }
        std::fs::write(&file, text).unwrap();
        let (lists, cache, plain) = listed_vendors(file, BlockAnswer::Nxdomain, 1_000_000);
        std::fs::remove_dir_all(&dir).unwrap();
        let listed = Answerer::new(
            plain.zones.clone(),
            Arc::default(),
            plain.forwarding.clone(),
        )
        .with_blocklists(lists);
        let now = crate::clock::monotonic_secs();
        let chain = query(b"\x01t\x07example\x03com\x00", 1, false);
        assert!(cache.insert(
            b"\x01t\x07example\x03com\x00",
            1,
            1,
            false,
            &cloaking_answer(&chain),
            now,
            None
        ));
        let address = query(b"\x01a\x07example\x03com\x00", 1, false);
        let mut answer = address.clone();
        answer[2] |= 0x80;
        answer[7] = 1;
        answer.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1]);
        assert!(cache.insert(
            b"\x01a\x07example\x03com\x00",
            1,
            1,
            false,
            &answer,
            now,
            None
        ));
        let cpu_ns = || -> u64 {
            let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
            text.split_whitespace().next().unwrap().parse().unwrap()
        };
        let mut q = Query::empty();
        let mut out = Vec::with_capacity(512);
        for (case, answerer, packet) in [
            ("A, no list", &plain, &address),
            ("A, 100 000 names", &listed, &address),
            ("CNAME chain, no list", &plain, &chain),
            ("CNAME chain, 100 000 names", &listed, &chain),
        ] {
            let started = cpu_ns();
            for _ in 0..ROUNDS {
                let step = answerer.answer(false, packet, Transport::Udp, &mut q, &mut out);
                assert!(matches!(step, Step::Send));
            }
            let per_answer = (cpu_ns() - started) as f64 / ROUNDS as f64;
            assert_eq!(out[3] & 0x0f, RCODE_NOERROR, "{case}: not blocked");
            eprintln!("{case}: {per_answer:.0} ns per cached answer");
        }
    }

    /// The DO bit is copied into our OPT; errors to a query with OPT keep one.
    #[test]
    fn edns_do_bit_and_errors() {
        let a = answerer();
        let mut q = Query::empty();
        let mut out = Vec::new();
        let mut packet = query(b"\x01a\x01z\x04test\x00", 1, true);
        let at = packet.len() - 4;
        packet[at] = 0x80;
        let step = a.answer(false, &packet, Transport::Udp, &mut q, &mut out);
        assert!(matches!(step, Step::Send));
        assert_eq!(out[out.len() - 4], 0x80, "DO copied");
        packet[at] = 0;
        a.answer(false, &packet, Transport::Udp, &mut q, &mut out);
        assert_eq!(out[out.len() - 4], 0, "no DO, none copied");
        packet[2] |= 0x10; // opcode 2
        a.answer(false, &packet, Transport::Udp, &mut q, &mut out);
        assert_eq!(out[3] & 0x0f, 4, "NOTIMP");
        assert_eq!(out.len(), HEADER_BYTES + wire::OPT_BYTES);
    }
}
