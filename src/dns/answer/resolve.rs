//! Resolution: which data answers a question. Lease and hosts names first, then
//! the most specific local zone (a name's own records, IP-embedded names, the
//! dynamic records a role feeds, wildcards), CNAME chains through all of it, the
//! locally served reverse zones, and for everything else the blocklists, then
//! the answer cache (its CNAME chains checked against the lists: `cloaked`), or
//! [`Outcome::FORWARD`] when the upstreams must be asked.

use std::net::IpAddr;

use crate::dns::answer::blocked::Screened;
use crate::dns::answer::message::Message;
use crate::dns::answer::{Answerer, Outcome};
use crate::dns::cache::{Cache, Hit};
use crate::dns::dynamic::{self, DynamicZone};
use crate::dns::hosts::HostEntry;
use crate::dns::ipname;
use crate::dns::reverse::{self, Prefix};
use crate::dns::wire::{self, Query, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL};
use crate::dns::wire::{TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_CNAME, TYPE_PTR};
use crate::dns::zone::{self, CNAME_HOPS_MAX, Mode, Node, OwnedSet, Zone};

impl Answerer {
    /// Answers from local data, following CNAMEs through it.
    pub(super) fn resolve<'d>(
        &'d self,
        query: &'d Query,
        message: &mut Message<'_, 'd>,
    ) -> Outcome {
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
            let node = match self.find_node(zone, name, query.qtype, message) {
                Found::Node(node) => node,
                Found::Done(outcome) => return outcome,
                // Overlay: names not defined here belong to the public zone, and a
                // chain that reaches one continues there.
                Found::NotOurs => return self.not_ours(hop, name, query, message),
            };
            if query.qtype == TYPE_ANY {
                // RFC 8482: one record set is a complete answer to ANY.
                if let Some(set) = node.first() {
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
                    return self.not_ours(hop, name, query, message);
                }
                return message.negative(zone, RCODE_NOERROR);
            };
            message.write_set(name, cname);
            let Some(target) = cname.target else {
                return Outcome::local(RCODE_SERVFAIL);
            };
            name = target;
        }
        // A loop or a chain longer than CNAME_HOPS_MAX.
        Outcome::local(RCODE_SERVFAIL)
    }

    /// The node that answers `name` in `zone`: its own, else (for a name that does
    /// not exist) an IP-embedded name, a dynamic record or the closest encloser's
    /// wildcard; else the negative answer.
    fn find_node<'d>(
        &'d self,
        zone: &'d Zone,
        name: &'d [u8],
        qtype: u16,
        message: &mut Message<'_, 'd>,
    ) -> Found<'d> {
        let found = zone.node(name);
        if let Some(node) = found.filter(|n| !n.is_empty()) {
            return Found::Node(node);
        }
        if found.is_none()
            && let Some(outcome) = ip_name(zone, name, qtype, message)
        {
            return Found::Done(outcome);
        }
        if let Some(dynamic) = self.dynamic_for(zone)
            && let Some(outcome) = dynamic_name(dynamic, zone, name, qtype, message)
        {
            return Found::Done(outcome);
        }
        let wildcard = found.is_none().then(|| wildcard_node(zone, name)).flatten();
        match wildcard {
            Some(node) if !node.is_empty() => Found::Node(node),
            Some(_) => Found::Done(message.negative(zone, RCODE_NOERROR)),
            None if zone.mode == Mode::Overlay => Found::NotOurs,
            None if found.is_some() => Found::Done(message.negative(zone, RCODE_NOERROR)),
            None => Found::Done(message.negative(zone, RCODE_NXDOMAIN)),
        }
    }

    /// The dynamic records of `zone`, when a role feeds some.
    fn dynamic_for(&self, zone: &Zone) -> Option<&DynamicZone> {
        let dynamic = self.dynamic.as_deref()?;
        (*zone.apex == *dynamic.apex()).then_some(dynamic)
    }

    /// A name that is not ours: asked upstream as the question (hop 0), or as the
    /// rest of a local CNAME chain.
    fn not_ours<'d>(
        &'d self,
        hop: usize,
        name: &'d [u8],
        query: &'d Query,
        message: &mut Message<'_, 'd>,
    ) -> Outcome {
        if hop == 0 {
            self.upstream(query, message)
        } else {
            self.chase(name, query, message)
        }
    }

    /// A local CNAME chain reached `name`, outside local data: the rest of the chain
    /// comes from the cache (names expanded, since its compression pointers belong
    /// to another message), or the forwarder fetches it first. Without upstreams
    /// the local part is the whole answer.
    fn chase<'d>(
        &'d self,
        name: &'d [u8],
        query: &'d Query,
        message: &mut Message<'_, 'd>,
    ) -> Outcome {
        let allowed = match self.screen(name, query, message) {
            Screened::Blocked(outcome) => return outcome,
            Screened::Allowed => true,
            Screened::Unlisted => false,
        };
        let Some(forwarding) = &self.forwarding else {
            return Outcome::local(RCODE_NOERROR);
        };
        let start = message.out.len();
        match chain_from_cache(&forwarding.cache, name, query, false, message.out) {
            Some(Ok(hit)) => {
                if !allowed && let Some(outcome) = self.uncloak(hit, name, start, query, message) {
                    return outcome;
                }
                message.counts[0] = message.counts[0].saturating_add(hit.answers);
                message.counts[1] = message.counts[1].saturating_add(hit.authorities);
                // RFC 6604: the RCODE is the last name's; part of the answer is not ours.
                Outcome::remote(hit.rcode)
            }
            Some(Err(())) => Outcome::remote(RCODE_SERVFAIL),
            None => {
                message.forward = Some(name);
                Outcome::FORWARD
            }
        }
    }

    /// A name that is not ours: from the cache, or forwarded; refused when nothing
    /// is forwarded.
    fn upstream<'d>(&'d self, query: &'d Query, message: &mut Message<'_, 'd>) -> Outcome {
        let name = query.name.as_bytes();
        let allowed = match self.screen(name, query, message) {
            Screened::Blocked(outcome) => return outcome,
            Screened::Allowed => true,
            Screened::Unlisted => false,
        };
        let Some(forwarding) = &self.forwarding else {
            return Outcome::REFUSED;
        };
        if forwarding.domain_needed && query.name.label_count() < 2 {
            return Outcome::remote(RCODE_NXDOMAIN);
        }
        match direct_from_cache(&forwarding.cache, query, false, message.out) {
            Some(hit) => {
                let start = query.question_end;
                if !allowed && let Some(outcome) = self.uncloak(hit, name, start, query, message) {
                    return outcome;
                }
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
        }
        .map(OwnedSet::view);
        if let Some(set) = set {
            message.write_set(name, set);
            return Outcome::local(RCODE_NOERROR);
        }
        match self.zones.find(name) {
            Some(zone) => message.negative(zone, RCODE_NOERROR),
            None => Outcome::local(RCODE_NOERROR),
        }
    }

    /// Names in no local zone: reverse names (our own PTRs and the locally served
    /// private reverse zones), else the cache or the upstreams.
    fn outside_zones<'d>(&'d self, query: &'d Query, message: &mut Message<'_, 'd>) -> Outcome {
        let name = query.name.as_bytes();
        if !zone::is_reverse(name) {
            return self.upstream(query, message);
        }
        let served = reverse::served_zone(name);
        let wants_ptr = matches!(query.qtype, TYPE_PTR | TYPE_ANY);
        if let Some(known) = self.known_ptrs(name, wants_ptr, message) {
            if known {
                return Outcome::local(RCODE_NOERROR);
            }
            return match served {
                Some(zone) => message.negative(zone, RCODE_NOERROR),
                // A public address: the rest of its reverse name is not ours.
                None => self.upstream(query, message),
            };
        }
        let Some(zone) = served else {
            return self.upstream(query, message);
        };
        // Inside a private range: an IP-embedded name, the zone's own apex records,
        // an empty non-terminal above known addresses, or nothing.
        if let Some(outcome) = self.reverse_ip_name(name, wants_ptr, zone, message) {
            return outcome;
        }
        if name == &*zone.apex {
            return match zone.node(name).and_then(|node| node.set(query.qtype)) {
                Some(set) => {
                    message.write_set(name, set);
                    Outcome::local(RCODE_NOERROR)
                }
                None => message.negative(zone, RCODE_NOERROR),
            };
        }
        if self.has_names_below(name) {
            return message.negative(zone, RCODE_NOERROR);
        }
        // Not known here: dnsmasq's `bogus-priv` keeps it from leaking upstream.
        let bogus_priv = self.forwarding.as_ref().is_none_or(|f| f.bogus_priv);
        if bogus_priv {
            return message.negative(zone, RCODE_NXDOMAIN);
        }
        self.upstream(query, message)
    }

    /// A private address without a name of its own answers its IP-embedded name.
    fn reverse_ip_name<'d>(
        &'d self,
        name: &'d [u8],
        wants_ptr: bool,
        served: &'d Zone,
        message: &mut Message<'_, 'd>,
    ) -> Option<Outcome> {
        let ip = ipname::parse_reverse(name).filter(|ip| ipname::is_private(*ip))?;
        let zone = self.zones.ip_names_zone()?;
        if !wants_ptr {
            return Some(message.negative(served, RCODE_NOERROR));
        }
        let label = ipname::label_for(ip);
        let mut target = [0u8; wire::NAME_BYTES_MAX];
        let len = 1 + label.len() + zone.apex.len();
        if let Some(buf) = target.get_mut(..len) {
            buf[0] = label.len() as u8;
            buf[1..=label.len()].copy_from_slice(label.as_bytes());
            buf[1 + label.len()..].copy_from_slice(&zone.apex);
            message.write_raw(name, TYPE_PTR, zone.ttl, buf);
        }
        Some(Outcome::local(RCODE_NOERROR))
    }

    /// True when a partial reverse name has a named address below it: an empty
    /// non-terminal (RFC 8020), NODATA rather than NXDOMAIN.
    fn has_names_below(&self, name: &[u8]) -> bool {
        let Some(prefix) = Prefix::of(name) else {
            return false;
        };
        // IP-embedded names give every private address a PTR.
        if self.zones.ip_names_zone().is_some() && prefix.all_private() {
            return true;
        }
        let (first, last) = prefix.bounds();
        self.zones.any_address_in(first, last) || self.reverse_index().any_in(prefix)
    }

    /// The PTRs of a reverse name from zone records, else from lease and hosts
    /// names: `None` when there are none, `Some(true)` when they were written
    /// (`wants_ptr`), `Some(false)` when they exist but another type was asked.
    fn known_ptrs<'d>(
        &'d self,
        name: &'d [u8],
        wants_ptr: bool,
        message: &mut Message<'_, 'd>,
    ) -> Option<bool> {
        if let Some(ip) = ipname::parse_reverse(name) {
            let found = self.zones.ptr_owners(ip, |owner, ttl| {
                if wants_ptr {
                    message.write_raw(name, TYPE_PTR, ttl, owner);
                }
            });
            if found > 0 {
                return Some(wants_ptr);
            }
        }
        let set = self.hosts.reverse(name)?;
        if wants_ptr {
            message.write_set(name, set.view());
        }
        Some(wants_ptr)
    }
}

/// What [`Answerer::find_node`] found.
enum Found<'d> {
    Node(Node<'d>),
    Done(Outcome),
    NotOurs,
}

/// The cached answer for the client's own question, replayed after it in `out`
/// (which holds exactly the header and the question).
pub(super) fn direct_from_cache(
    cache: &Cache,
    query: &Query,
    allow_stale: bool,
    out: &mut Vec<u8>,
) -> Option<Hit> {
    cache.lookup(
        query.name.as_bytes(),
        query.qtype,
        query.qclass,
        query.edns.is_some_and(|e| e.dnssec_ok),
        crate::clock::monotonic_secs(),
        allow_stale,
        out,
    )
}

/// The cached answer for `name` (where a local chain left local data), its
/// records appended to `out` with names expanded. `None` on a miss; `Some(Err)`
/// when the cached records cannot be copied (nothing is left appended).
pub(super) fn chain_from_cache(
    cache: &Cache,
    name: &[u8],
    query: &Query,
    allow_stale: bool,
    out: &mut Vec<u8>,
) -> Option<Result<Hit, ()>> {
    // The cache replays records after a question of their own name.
    let mut replay = Vec::with_capacity(512);
    wire::write_header(&mut replay, 0, 0, [1, 0, 0, 0]);
    replay.extend_from_slice(name);
    replay.extend_from_slice(&query.qtype.to_be_bytes());
    replay.extend_from_slice(&query.qclass.to_be_bytes());
    let start = replay.len();
    let hit = cache.lookup(
        name,
        query.qtype,
        query.qclass,
        query.edns.is_some_and(|e| e.dnssec_ok),
        crate::clock::monotonic_secs(),
        allow_stale,
        &mut replay,
    )?;
    let before = out.len();
    let answers = usize::from(hit.answers);
    let copied = wire::copy_records_expanded(&replay, start, answers, out)
        .and_then(|at| wire::copy_records_expanded(&replay, at, usize::from(hit.authorities), out));
    if copied.is_none() {
        out.truncate(before);
        return Some(Err(()));
    }
    Some(Ok(hit))
}

/// The rest of a chain from the upstream's `answer` for its target itself,
/// for when the cache did not keep it (`cache_entries_max = 0`, TTL 0, an
/// entry too big): its answer and authority records, names expanded, as
/// [`chain_from_cache`] writes them. `None` when `answer` is malformed.
pub(super) fn chain_from_answer(answer: &[u8], out: &mut Vec<u8>) -> Option<Hit> {
    if answer.len() < wire::HEADER_BYTES {
        return None;
    }
    let count = |i: usize| u16::from_be_bytes([answer[4 + 2 * i], answer[5 + 2 * i]]);
    let (answers, authorities) = (count(1), count(2));
    let questions = count(0);
    let mut pos = wire::HEADER_BYTES;
    for _ in 0..questions {
        pos = wire::skip_name(answer, pos)?.checked_add(4)?;
    }
    let cname = wire::records(answer, pos)
        .take(usize::from(answers))
        .any(|record| record.is_some_and(|r| r.rtype == TYPE_CNAME));
    let before = out.len();
    let copied = wire::copy_records_expanded(answer, pos, usize::from(answers), out)
        .and_then(|at| wire::copy_records_expanded(answer, at, usize::from(authorities), out));
    if copied.is_none() {
        out.truncate(before);
        return None;
    }
    Some(Hit {
        rcode: crate::dns::answer::message::upstream_rcode(answer),
        answers,
        authorities,
        stale: false,
        cname,
    })
}

/// The dynamic records at `name`: `None` when the table has no such name.
fn dynamic_name<'d>(
    dynamic: &DynamicZone,
    zone: &'d Zone,
    name: &'d [u8],
    qtype: u16,
    message: &mut Message<'_, 'd>,
) -> Option<Outcome> {
    let found = dynamic.lookup(name, qtype, |rtype, ttl, rdata| {
        message.write_raw(name, rtype, ttl, rdata);
    });
    match found {
        dynamic::Found::Nothing => None,
        dynamic::Found::Name { wrote: 0 } => Some(message.negative(zone, RCODE_NOERROR)),
        dynamic::Found::Name { .. } => Some(Outcome::local(RCODE_NOERROR)),
    }
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
fn wildcard_node<'z>(zone: &'z Zone, name: &[u8]) -> Option<Node<'z>> {
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
