//! The answer path: one request's bytes in, one response's bytes out.
//!
//! Owns the DNS semantics lanseal applies to a query: RCODEs, the AA/RA/TC flags,
//! NXDOMAIN versus NODATA (RFC 2308), wildcards (RFC 4592), CNAME chains inside local
//! data, minimal ANY (RFC 8482), EDNS(0) and truncation. It writes into a reused
//! buffer with name compression and never allocates for a local answer. It must
//! never panic: every input reaches here only through [`wire::Query::parse`].

use std::net::IpAddr;
use std::sync::Arc;

use crate::delegate::zone::{self as delegate_zone, DelegateRecords, Lookup};
use crate::dns::cache::Cache;
use crate::dns::hosts::{HostEntry, HostTable};
use crate::dns::ipname;
use crate::dns::wire::{self, Parsed, Query, RCODE_BADVERS, RCODE_FORMERR, RCODE_NOERROR};
use crate::dns::wire::{CLASS_IN, HEADER_BYTES, RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL};
use crate::dns::wire::{TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_CNAME, TYPE_MX, TYPE_NS, TYPE_OPT};
use crate::dns::wire::{TYPE_PTR, TYPE_SOA, TYPE_TXT};
use crate::dns::zone::{self, CNAME_HOPS_MAX, Mode, Node, RecordSet, Zone, Zones};

/// A TCP response carries at most 65 535 bytes (two-byte length prefix).
const TCP_MESSAGE_BYTES_MAX: usize = 65_535;
/// Names remembered for compression in one response; more just stay uncompressed.
const COMPRESSION_NAMES_MAX: usize = 48;
/// Compression pointers address the first 16 KiB of a message (14-bit offsets).
const POINTER_OFFSET_MAX: usize = 0x3FFF;
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

/// How a request is to be answered.
#[derive(Clone, Copy, Debug, Default)]
struct Options {
    /// Expired cache entries may answer (every upstream failed).
    allow_stale: bool,
    /// The client is outside the ACL: only the public zone is answered.
    public_only: bool,
}

/// What to do with a request after [`Answerer::answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The response is in `out`.
    Send,
    /// Nothing to send (not a query, or too broken to answer).
    Drop,
    /// Not local and not cached: ask the upstreams (`dns::forward`).
    Forward,
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
    /// The delegate zone's per-account records, when this is a delegate.
    delegate: Option<Arc<DelegateRecords>>,
    recursion_available: bool,
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
            delegate: None,
        }
    }

    /// Answers the delegate zone's account names from `records` too.
    pub fn with_delegate(mut self, records: Arc<DelegateRecords>) -> Self {
        self.delegate = Some(records);
        self
    }

    /// True when some zone is answered to clients outside the ACL (a delegate).
    pub fn serves_public(&self) -> bool {
        self.delegate.is_some()
    }

    /// True when `name` (lower-case wire) is in the delegate zone: answered to
    /// anyone, whatever the ACL says (the zone is public).
    pub fn is_public(&self, name: &[u8]) -> bool {
        self.delegate
            .as_ref()
            .is_some_and(|d| zone::is_within(name, d.apex()))
    }

    /// Writes the response to `packet` into `out`, or says why there is none.
    pub fn answer(
        &self,
        packet: &[u8],
        transport: Transport,
        query: &mut Query,
        out: &mut Vec<u8>,
    ) -> Action {
        self.answer_client(false, packet, transport, query, out)
    }

    /// Like [`Answerer::answer`]; with `public` (a client outside the ACL) only the
    /// public (delegate) zone is answered, anything else REFUSED, nothing forwarded.
    pub fn answer_client(
        &self,
        public: bool,
        packet: &[u8],
        transport: Transport,
        query: &mut Query,
        out: &mut Vec<u8>,
    ) -> Action {
        let options = Options {
            public_only: public,
            ..Options::default()
        };
        self.answer_with(packet, transport, query, out, options)
    }

    /// Like [`Answerer::answer`], but a name that is not local may be answered from
    /// expired cache entries (RFC 8767; every upstream failed).
    pub fn answer_stale(
        &self,
        packet: &[u8],
        transport: Transport,
        query: &mut Query,
        out: &mut Vec<u8>,
    ) -> Action {
        let options = Options {
            allow_stale: true,
            ..Options::default()
        };
        match self.answer_with(packet, transport, query, out, options) {
            Action::Forward => Action::Drop,
            action => action,
        }
    }

    fn answer_with(
        &self,
        packet: &[u8],
        transport: Transport,
        query: &mut Query,
        out: &mut Vec<u8>,
        options: Options,
    ) -> Action {
        match query.parse(packet) {
            Parsed::Drop => Action::Drop,
            Parsed::Error { id, flags, rcode } => {
                let flags = wire::response_flags(flags, false, self.recursion_available, rcode);
                wire::write_header(out, id, flags, [0; 4]);
                Action::Send
            }
            Parsed::Query => self.answer_query(packet, transport, query, out, options),
        }
    }

    /// True when `name` lies in one of our zones.
    pub fn is_local_zone(&self, name: &[u8]) -> bool {
        self.zones.find(name).is_some()
    }

    /// Writes an empty answer with `rcode` for a parsed `query` (SERVFAIL when
    /// every upstream failed, NXDOMAIN for a blocked rebinding answer).
    pub fn error(&self, packet: &[u8], query: &Query, rcode: u8, out: &mut Vec<u8>) {
        let flags = wire::response_flags(query.flags, false, self.recursion_available, rcode);
        wire::write_header(out, query.id, flags, [1, 0, 0, 0]);
        out.extend_from_slice(&packet[HEADER_BYTES..query.question_end]);
        if query.edns.is_some() {
            wire::write_opt(out, 0);
            wire::set_counts(out, 0, 0, 1);
        }
    }

    fn answer_query(
        &self,
        packet: &[u8],
        transport: Transport,
        query: &Query,
        out: &mut Vec<u8>,
        options: Options,
    ) -> Action {
        wire::write_header(out, query.id, 0, [1, 0, 0, 0]);
        out.extend_from_slice(&packet[HEADER_BYTES..query.question_end]);
        let question_end = out.len();
        let mut message = Message::new(out, query);
        message.allow_stale = options.allow_stale;
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
        } else if options.public_only && !self.is_public(query.name.as_bytes()) {
            Outcome::REFUSED
        } else {
            self.resolve(query, &mut message)
        };
        if outcome.forward {
            let target = message.forward.unwrap_or(query.name.as_bytes());
            message.out.clear();
            message.out.extend_from_slice(target);
            return Action::Forward;
        }
        let [mut answers, mut authorities] = message.counts;
        let out = message.out;
        if outcome.rcode == RCODE_SERVFAIL {
            out.truncate(question_end);
            (answers, authorities) = (0, 0);
        }
        let flags = wire::response_flags(
            query.flags,
            outcome.authoritative,
            self.recursion_available,
            outcome.rcode,
        );
        finish(
            out,
            query,
            transport,
            [answers, authorities],
            flags,
            extended_rcode,
        );
        Action::Send
    }

    /// Answers from local data, following CNAMEs through it.
    fn resolve<'d>(&'d self, query: &'d Query, message: &mut Message<'_, 'd>) -> Outcome {
        let mut name: &'d [u8] = query.name.as_bytes();
        for hop in 0..=CNAME_HOPS_MAX {
            if !self.hosts.is_empty()
                && let Some(entry) = self.hosts.lookup(name)
            {
                return self.host_answer(name, entry, query.qtype, message);
            }
            let Some(zone) = self.zones.find(name) else {
                return if hop == 0 {
                    self.outside_zones(query, message)
                } else {
                    self.chase(name, query, message)
                };
            };
            let node = match zone.node(name) {
                Some(node) if !node.sets.is_empty() => node,
                found => {
                    if found.is_none()
                        && let Some(outcome) = ip_name(zone, name, query.qtype, message)
                    {
                        return outcome;
                    }
                    if let Some(delegate) = &self.delegate
                        && *zone.apex == *delegate.apex()
                        && let Some(outcome) =
                            account_name(delegate, zone, name, query.qtype, message)
                    {
                        return outcome;
                    }
                    let wildcard = if found.is_none() {
                        wildcard_node(zone, name)
                    } else {
                        None
                    };
                    match wildcard {
                        Some(node) if !node.sets.is_empty() => node,
                        Some(_) => return message.negative(zone, RCODE_NOERROR),
                        // Overlay: names not defined here belong to the public zone. Until
                        // the forwarder exists they are refused; inside a chain the CNAME
                        // already written is the whole local answer.
                        None if zone.mode == Mode::Overlay => {
                            return self.not_ours(hop, query, message);
                        }
                        None if found.is_some() => return message.negative(zone, RCODE_NOERROR),
                        None => return message.negative(zone, RCODE_NXDOMAIN),
                    }
                }
            };
            if query.qtype == TYPE_ANY {
                // RFC 8482: one record set is a complete answer to ANY.
                if let Some(set) = node.sets.first() {
                    message.write_set(name, set);
                }
                return Outcome::local(RCODE_NOERROR);
            }
            if let Some(set) = node.set(query.qtype) {
                message.write_set(name, set);
                return Outcome::local(RCODE_NOERROR);
            }
            let Some(cname) = node.set(TYPE_CNAME) else {
                // An overlay apex keeps its public SOA, NS, A…: only the types given
                // here (the mail records, say) are local.
                if zone.mode == Mode::Overlay && name == &*zone.apex {
                    return self.not_ours(hop, query, message);
                }
                return message.negative(zone, RCODE_NOERROR);
            };
            message.write_set(name, cname);
            let Some(target) = cname.target.as_deref() else {
                return Outcome::local(RCODE_SERVFAIL);
            };
            name = target;
        }
        // A loop or a chain longer than CNAME_HOPS_MAX.
        Outcome::local(RCODE_SERVFAIL)
    }

    /// A name under an overlay zone that is not defined locally belongs to the public
    /// zone: forwarded. Inside a chain the CNAMEs already written are the local part
    /// of the answer (chasing the rest upstream is not done yet).
    fn not_ours<'d>(
        &'d self,
        hop: usize,
        query: &'d Query,
        message: &mut Message<'_, 'd>,
    ) -> Outcome {
        if hop == 0 {
            self.upstream(query, message)
        } else {
            Outcome::local(RCODE_NOERROR)
        }
    }

    /// A local CNAME chain reached `name`, outside local data: the rest of the chain
    /// comes from the cache (names expanded, since its compression pointers belong
    /// to another message), or the forwarder fetches it into the cache first.
    /// Without upstreams the local part is the whole answer.
    fn chase<'d>(
        &'d self,
        name: &'d [u8],
        query: &'d Query,
        message: &mut Message<'_, 'd>,
    ) -> Outcome {
        let Some(forwarding) = &self.forwarding else {
            return Outcome::local(RCODE_NOERROR);
        };
        // The cache replays records after a question of their own name.
        let mut replay = Vec::with_capacity(512);
        wire::write_header(&mut replay, 0, 0, [1, 0, 0, 0]);
        replay.extend_from_slice(name);
        replay.extend_from_slice(&query.qtype.to_be_bytes());
        replay.extend_from_slice(&query.qclass.to_be_bytes());
        let start = replay.len();
        let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
        let hit = forwarding.cache.lookup(
            name,
            query.qtype,
            query.qclass,
            dnssec_ok,
            crate::clock::monotonic_secs(),
            message.allow_stale,
            &mut replay,
        );
        let Some(hit) = hit else {
            message.forward = Some(name);
            return Outcome::FORWARD;
        };
        let before = message.out.len();
        let copied =
            wire::copy_records_expanded(&replay, start, usize::from(hit.answers), message.out)
                .and_then(|at| {
                    wire::copy_records_expanded(
                        &replay,
                        at,
                        usize::from(hit.authorities),
                        message.out,
                    )
                });
        if copied.is_none() {
            message.out.truncate(before);
            return Outcome::remote(RCODE_SERVFAIL);
        }
        message.counts[0] = message.counts[0].saturating_add(hit.answers);
        message.counts[1] = message.counts[1].saturating_add(hit.authorities);
        // RFC 6604: the RCODE is the last name's; part of the answer is not ours.
        Outcome::remote(hit.rcode)
    }

    /// A name that is not ours: from the cache, or forwarded; refused when nothing
    /// is forwarded.
    fn upstream<'d>(&'d self, query: &'d Query, message: &mut Message<'_, 'd>) -> Outcome {
        let Some(forwarding) = &self.forwarding else {
            return Outcome::REFUSED;
        };
        if forwarding.domain_needed && query.name.label_count() < 2 {
            return Outcome::remote(RCODE_NXDOMAIN);
        }
        let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
        let hit = forwarding.cache.lookup(
            query.name.as_bytes(),
            query.qtype,
            query.qclass,
            dnssec_ok,
            crate::clock::monotonic_secs(),
            message.allow_stale,
            message.out,
        );
        match hit {
            Some(hit) => {
                message.counts = [hit.answers, hit.authorities];
                Outcome::remote(hit.rcode)
            }
            None => Outcome::FORWARD,
        }
    }

    /// A name from a lease or hosts file: its addresses, or NODATA for other types.
    fn host_answer<'d>(
        &'d self,
        name: &'d [u8],
        entry: &'d HostEntry,
        qtype: u16,
        message: &mut Message<'_, 'd>,
    ) -> Outcome {
        let set = match qtype {
            TYPE_A => entry.a.as_ref(),
            TYPE_AAAA => entry.aaaa.as_ref(),
            TYPE_ANY => entry.a.as_ref().or(entry.aaaa.as_ref()),
            _ => None,
        };
        if let Some(set) = set {
            message.write_set(name, set);
            return Outcome::local(RCODE_NOERROR);
        }
        match self.zones.find(name) {
            Some(zone) => message.negative(zone, RCODE_NOERROR),
            None => Outcome::local(RCODE_NOERROR),
        }
    }

    /// Names in no local zone: synthesized PTRs for our own addresses, else refused.
    fn outside_zones<'d>(&'d self, query: &'d Query, message: &mut Message<'_, 'd>) -> Outcome {
        let name = query.name.as_bytes();
        if !zone::is_reverse(name) {
            return self.upstream(query, message);
        }
        let wants_ptr = matches!(query.qtype, TYPE_PTR | TYPE_ANY);
        if let Some(set) = self
            .zones
            .reverse(name)
            .or_else(|| self.hosts.reverse(name))
        {
            if wants_ptr {
                message.write_set(name, set);
            }
            return Outcome::local(RCODE_NOERROR);
        }
        // A private address without a name of its own: its IP-embedded name.
        let private = ipname::parse_reverse(name).filter(|ip| ipname::is_private(*ip));
        let Some((zone, ip)) = self.zones.ip_names_zone().zip(private) else {
            if private.is_some() && self.forwarding.as_ref().is_some_and(|f| f.bogus_priv) {
                return Outcome::remote(RCODE_NXDOMAIN);
            }
            return self.upstream(query, message);
        };
        if wants_ptr {
            let label = ipname::label_for(ip);
            let mut target = [0u8; wire::NAME_BYTES_MAX];
            let len = 1 + label.len() + zone.apex.len();
            if let Some(buf) = target.get_mut(..len) {
                buf[0] = label.len() as u8;
                buf[1..=label.len()].copy_from_slice(label.as_bytes());
                buf[1 + label.len()..].copy_from_slice(&zone.apex);
                message.write_raw(name, TYPE_PTR, zone.ttl, buf);
            }
        }
        Outcome::local(RCODE_NOERROR)
    }
}

/// Completes a response in `out`, which holds a header, the client's question and
/// then `counts` answer and authority records: cut back to the question with TC=1
/// when it exceeds what `transport` carries for this client (512 bytes without
/// EDNS, at most our advertised 1232 over UDP), our OPT when the client sent EDNS,
/// then `flags` and the counts. Local, cached and relayed answers all end here.
pub fn finish(
    out: &mut Vec<u8>,
    query: &Query,
    transport: Transport,
    counts: [u16; 2],
    flags: u16,
    extended_rcode: u16,
) {
    let limit = match transport {
        Transport::Udp => wire::udp_limit_bytes(query.edns),
        Transport::Tcp => TCP_MESSAGE_BYTES_MAX,
        Transport::Slip => 0,
    };
    let opt_bytes = if query.edns.is_some() { 11 } else { 0 };
    let truncated = out.len() + opt_bytes > limit;
    let [mut answers, mut authorities] = counts;
    if truncated {
        out.truncate(query.question_end);
        (answers, authorities) = (0, 0);
    }
    if query.edns.is_some() {
        wire::write_opt(out, extended_rcode);
    }
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    wire::set_counts(out, answers, authorities, u16::from(query.edns.is_some()));
    if truncated {
        wire::set_truncated(out);
    }
}

/// A delegate account's names: `<subdomain>` (its TXT values with TTL 1, a null
/// MX), `_dmarc.<subdomain>` and `*._domainkey.<subdomain>` (anti-spam). `None`
/// when the name belongs to no account.
fn account_name<'d>(
    delegate: &DelegateRecords,
    zone: &'d Zone,
    name: &'d [u8],
    qtype: u16,
    message: &mut Message<'_, 'd>,
) -> Option<Outcome> {
    let ttl = delegate_zone::ANTI_SPAM_TTL_SECS;
    let txt = |message: &mut Message<'_, 'd>, value: &[u8], ttl: u32| {
        let mut rdata = [0u8; 256];
        let len = value.len().min(255);
        rdata[0] = len as u8;
        rdata[1..=len].copy_from_slice(&value[..len]);
        message.write_raw(name, TYPE_TXT, ttl, &rdata[..=len]);
    };
    let wrote = match delegate.lookup(name) {
        Lookup::Unknown => return None,
        Lookup::Subdomain(values) => match qtype {
            TYPE_TXT | TYPE_ANY if !values.is_empty() => {
                for value in &values {
                    txt(message, value, delegate_zone::TXT_TTL_SECS);
                }
                true
            }
            TYPE_MX | TYPE_ANY => {
                message.write_raw(name, TYPE_MX, ttl, &[0, 0, 0]);
                true
            }
            _ => false,
        },
        Lookup::Dmarc if matches!(qtype, TYPE_TXT | TYPE_ANY) => {
            txt(message, delegate_zone::DMARC_REJECT.as_bytes(), ttl);
            true
        }
        Lookup::Dkim if matches!(qtype, TYPE_TXT | TYPE_ANY) => {
            txt(message, delegate_zone::DKIM_EMPTY.as_bytes(), ttl);
            true
        }
        Lookup::Dmarc | Lookup::Dkim => false,
    };
    Some(if wrote {
        Outcome::local(RCODE_NOERROR)
    } else {
        message.negative(zone, RCODE_NOERROR)
    })
}

/// `192-168-1-10.<zone>`: the address it names, or NODATA for other types. `None`
/// when the zone has no IP names or the label is not a valid (allowed) encoding,
/// and the name is then answered like any other missing name.
fn ip_name<'d>(
    zone: &'d Zone,
    name: &'d [u8],
    qtype: u16,
    message: &mut Message<'_, 'd>,
) -> Option<Outcome> {
    let private_only = zone.ip_names?;
    let label_len = usize::from(*name.first()?);
    if name.len() != 1 + label_len + zone.apex.len() {
        return None;
    }
    let ip = ipname::parse_label(name.get(1..=label_len)?)?;
    if private_only && !ipname::is_private(ip) {
        return None;
    }
    let (v4, v6);
    let (rtype, rdata): (u16, &[u8]) = match ip {
        IpAddr::V4(a) => {
            v4 = a.octets();
            (TYPE_A, &v4)
        }
        IpAddr::V6(a) => {
            v6 = a.octets();
            (TYPE_AAAA, &v6)
        }
    };
    if qtype == rtype || qtype == TYPE_ANY {
        message.write_raw(name, rtype, zone.ttl, rdata);
        return Some(Outcome::local(RCODE_NOERROR));
    }
    Some(message.negative(zone, RCODE_NOERROR))
}

/// RFC 4592: the wildcard at the closest encloser of a name that does not exist.
fn wildcard_node<'z>(zone: &'z Zone, name: &[u8]) -> Option<&'z Node> {
    let encloser = zone::suffixes(name)
        .skip(1)
        .take_while(|parent| parent.len() >= zone.apex.len())
        .find(|parent| zone.node(parent).is_some())?;
    let mut buf = [0u8; wire::NAME_BYTES_MAX + 2];
    let len = encloser.len() + 2;
    if len > wire::NAME_BYTES_MAX {
        return None;
    }
    buf[..2].copy_from_slice(b"\x01*");
    buf[2..len].copy_from_slice(encloser);
    zone.node(&buf[..len])
}

/// A response being written, with the names already in it for compression.
struct Message<'o, 'd> {
    out: &'o mut Vec<u8>,
    names: [(&'d [u8], u16); COMPRESSION_NAMES_MAX],
    name_count: usize,
    /// Answer and authority records written.
    counts: [u16; 2],
    /// Expired cache entries may answer (every upstream failed).
    allow_stale: bool,
    /// With [`Outcome::FORWARD`]: the name to ask upstream (the question's, or the
    /// target where a local CNAME chain leaves local data).
    forward: Option<&'d [u8]>,
}

impl<'o, 'd> Message<'o, 'd> {
    fn new(out: &'o mut Vec<u8>, query: &'d Query) -> Self {
        let mut message = Self {
            out,
            names: [(&[], 0); COMPRESSION_NAMES_MAX],
            name_count: 0,
            counts: [0; 2],
            allow_stale: false,
            forward: None,
        };
        // The question's name is at offset 12, in the client's own case: pointing at it
        // echoes that case in every owner name.
        for i in 0..query.name.label_count() {
            message.remember(
                query.name.suffix(i),
                HEADER_BYTES + query.name.label_offset(i),
            );
        }
        message
    }

    fn remember(&mut self, name: &'d [u8], offset: usize) {
        if self.name_count < COMPRESSION_NAMES_MAX && offset <= POINTER_OFFSET_MAX {
            self.names[self.name_count] = (name, offset as u16);
            self.name_count += 1;
        }
    }

    /// Writes `name` (lower-case wire), pointing at the longest suffix already written.
    fn write_name(&mut self, name: &'d [u8]) {
        for suffix in zone::suffixes(name) {
            if suffix == b"\x00" {
                self.out.push(0);
                return;
            }
            if let Some(&(_, offset)) = self.names[..self.name_count]
                .iter()
                .find(|(n, _)| *n == suffix)
            {
                self.out.extend_from_slice(&(0xC000 | offset).to_be_bytes());
                return;
            }
            let offset = self.out.len();
            self.remember(suffix, offset);
            let label_len = usize::from(suffix[0]);
            self.out.extend_from_slice(&suffix[..=label_len]);
        }
    }

    /// Writes every record of `set` owned by `owner` into the answer section.
    fn write_set(&mut self, owner: &'d [u8], set: &'d RecordSet) {
        self.write_records(owner, set, 0);
    }

    /// Writes one synthesized answer record; `rdata` is copied as it is.
    fn write_raw(&mut self, owner: &'d [u8], rtype: u16, ttl: u32, rdata: &[u8]) {
        self.write_name(owner);
        zone::push_tail(self.out, rtype, ttl, rdata);
        self.counts[0] = self.counts[0].saturating_add(1);
    }

    /// NXDOMAIN or NODATA: the zone's SOA in the authority section (RFC 2308).
    fn negative(&mut self, zone: &'d Zone, rcode: u8) -> Outcome {
        self.write_records(&zone.apex, &zone.negative_soa, 1);
        Outcome::local(rcode)
    }

    fn write_records(&mut self, owner: &'d [u8], set: &'d RecordSet, section: usize) {
        let mut tails: &'d [u8] = &set.tails;
        while tails.len() >= 10 {
            let end = 10 + usize::from(u16::from_be_bytes([tails[8], tails[9]]));
            let Some(record) = tails.get(..end) else {
                return;
            };
            self.write_name(owner);
            self.write_data(set.rtype, record);
            self.counts[section] = self.counts[section].saturating_add(1);
            tails = &tails[end..];
        }
    }

    /// Writes type, class, TTL, length and data of one record. Names inside the
    /// data of the RFC 1035 types are compressed too (RFC 3597 §4 forbids it for
    /// later types such as SRV, which are copied as they are).
    fn write_data(&mut self, rtype: u16, record: &'d [u8]) {
        let rdata = &record[10..];
        let (prefix_bytes, name_count) = match rtype {
            TYPE_CNAME | TYPE_NS | TYPE_PTR => (0, 1),
            TYPE_MX => (2, 1),
            TYPE_SOA => (0, 2),
            _ => {
                self.out.extend_from_slice(record);
                return;
            }
        };
        self.out.extend_from_slice(&record[..8]);
        let length_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        let Some(prefix) = rdata.get(..prefix_bytes) else {
            return;
        };
        self.out.extend_from_slice(prefix);
        let mut rest = &rdata[prefix_bytes..];
        for _ in 0..name_count {
            let name_len = zone::suffixes(rest)
                .last()
                .map_or(rest.len(), |root| rest.len() - root.len() + 1);
            let Some((name, tail)) = rest.split_at_checked(name_len) else {
                break;
            };
            self.write_name(name);
            rest = tail;
        }
        self.out.extend_from_slice(rest);
        let rdlen = (self.out.len() - length_at - 2) as u16;
        self.out[length_at..length_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::zone::ZoneSpec;

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
        };
        Answerer::new(
            Arc::new(Zones::build(&[spec], 1).unwrap()),
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
                    a.answer(&packet[..n], Transport::Udp, &mut q, &mut out);
                }
                for i in 0..packet.len() {
                    for value in [0u8, 1, 0x3f, 0x40, 0xc0, 0xff] {
                        let mut bad = packet.clone();
                        bad[i] = value;
                        if a.answer(&bad, Transport::Udp, &mut q, &mut out) == Action::Send {
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
        assert_eq!(
            a.answer(
                &query(b"\x01x\x01w\x01z\x04test\x00", 1, false),
                Transport::Udp,
                &mut q,
                &mut out
            ),
            Action::Send
        );
        // x.w -> CNAME www (wildcard), www -> CNAME a, a -> A: three records.
        assert_eq!(u16::from_be_bytes([out[6], out[7]]), 3);
        assert_eq!(out[3] & 0x0f, RCODE_NOERROR);
        assert_eq!(
            a.answer(
                &query(b"\x02l1\x01z\x04test\x00", 1, false),
                Transport::Udp,
                &mut q,
                &mut out
            ),
            Action::Send
        );
        assert_eq!(out[3] & 0x0f, RCODE_SERVFAIL);
        assert_eq!(u16::from_be_bytes([out[6], out[7]]), 0);
        // Not a query at all: dropped.
        let mut response = query(b"\x00", 1, false);
        response[2] |= 0x80;
        assert_eq!(
            a.answer(&response, Transport::Udp, &mut q, &mut out),
            Action::Drop
        );
    }
}
