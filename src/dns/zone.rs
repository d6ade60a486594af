//! Local zones as hash tables of ready-to-copy record data.
//!
//! Owns the in-memory form of every `[[zone]]`: names in lower-case wire format as
//! hash keys, each name's record sets pre-encoded (type, class, TTL, length, data) so
//! that answering is a copy. Every lookup is a hash probe per label: a miss in a
//! 100 000-record zone costs what it costs in a 10-record zone, and nothing here scans.
//! Built once per (re)load and then only read, shared between DNS threads by `Arc`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::dns::record::{self, Record};
use crate::dns::wire::{self, CLASS_IN, TYPE_CNAME, TYPE_NS, TYPE_PTR, TYPE_SOA};

/// Longest CNAME chain followed inside local data before answering SERVFAIL.
pub const CNAME_HOPS_MAX: usize = 8;
/// Records one zone may hold (memory bound on a 64 MB router: about 100 bytes each).
pub const ZONE_RECORDS_MAX: usize = 200_000;
/// Negative answers from synthesized SOAs are cached at most this long (RFC 2308).
const NEGATIVE_TTL_MAX_SECS: u32 = 300;

/// How names under a zone that are not defined locally are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// NXDOMAIN with the zone's SOA: we are the whole truth for this zone.
    Authoritative,
    /// Only the names defined here are ours; the rest belongs upstream.
    Overlay,
}

/// A zone as the config describes it, before building.
#[derive(Clone, Debug)]
pub struct ZoneSpec {
    pub name: String,
    pub mode: Mode,
    pub ttl: u32,
    /// Answer `192-168-1-10.<zone>` and `fd00--1.<zone>` (see `dns::ipname`).
    pub ip_names: bool,
    /// Only for private, loopback, link-local and ULA addresses.
    pub ip_names_private_only: bool,
    /// Record lines with the config line each came from.
    pub records: Vec<(String, usize)>,
}

/// A zone that failed to build: the config line (0 when not tied to one) and why.
#[derive(Debug, PartialEq, Eq)]
pub struct ZoneError {
    pub line: usize,
    pub message: String,
}

/// All records of one type at one name, encoded for copying.
#[derive(Debug)]
pub struct RecordSet {
    pub rtype: u16,
    pub count: u16,
    /// Per record: type, class, TTL, data length and data.
    pub tails: Box<[u8]>,
    /// CNAME target (lower-case wire), followed through local data.
    pub target: Option<Box<[u8]>>,
}

/// A name: its record sets, or none for an empty non-terminal (RFC 8020).
#[derive(Debug, Default)]
pub struct Node {
    pub sets: Box<[RecordSet]>,
}

impl Node {
    pub fn set(&self, rtype: u16) -> Option<&RecordSet> {
        self.sets.iter().find(|s| s.rtype == rtype)
    }
}

#[derive(Debug)]
pub struct Zone {
    pub apex: Box<[u8]>,
    pub mode: Mode,
    /// Default TTL, also of synthesized IP-name answers.
    pub ttl: u32,
    /// `Some(private_only)` when the zone answers IP-embedded names.
    pub ip_names: Option<bool>,
    /// The SOA for negative answers, TTL already min(SOA TTL, minimum).
    pub negative_soa: RecordSet,
    nodes: HashMap<Box<[u8]>, Node>,
}

impl Zone {
    pub fn node(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.get(name)
    }
}

/// Every local zone plus the PTR records synthesized from their A/AAAA records.
#[derive(Debug, Default)]
pub struct Zones {
    by_apex: HashMap<Box<[u8]>, usize>,
    zones: Vec<Zone>,
    reverse: HashMap<Box<[u8]>, RecordSet>,
    /// The first zone with `ip_names`: reverse queries for private addresses
    /// answer a name in it.
    ip_names_zone: Option<usize>,
}

impl Zones {
    /// Builds all zones; the first error found is returned with its zone index.
    pub fn build(specs: &[ZoneSpec], serial: u32) -> Result<Self, (usize, ZoneError)> {
        let mut zones = Self::default();
        let mut reverse: ReverseOwners = HashMap::new();
        for (index, spec) in specs.iter().enumerate() {
            let (zone, addresses) = build_zone(spec, serial).map_err(|e| (index, e))?;
            if zones
                .by_apex
                .insert(zone.apex.clone(), zones.zones.len())
                .is_some()
            {
                let message = format!("zone `{}` is defined twice", spec.name);
                return Err((index, ZoneError { line: 0, message }));
            }
            for (owner, address, ttl) in addresses {
                reverse
                    .entry(reverse_name(address))
                    .or_default()
                    .push((owner, ttl));
            }
            if spec.ip_names && zones.ip_names_zone.is_none() {
                zones.ip_names_zone = Some(zones.zones.len());
            }
            zones.zones.push(zone);
        }
        for (name, owners) in reverse {
            let mut tails = Vec::new();
            for (owner, ttl) in &owners {
                push_tail(&mut tails, TYPE_PTR, *ttl, owner);
            }
            let count = u16::try_from(owners.len()).unwrap_or(u16::MAX);
            zones.reverse.insert(
                name,
                RecordSet {
                    rtype: TYPE_PTR,
                    count,
                    tails: tails.into(),
                    target: None,
                },
            );
        }
        Ok(zones)
    }

    /// The most specific zone containing `name` (lower-case wire).
    pub fn find(&self, name: &[u8]) -> Option<&Zone> {
        suffixes(name)
            .find_map(|suffix| self.by_apex.get(suffix))
            .and_then(|&i| self.zones.get(i))
    }

    /// Synthesized PTR records for a reverse name.
    pub fn reverse(&self, name: &[u8]) -> Option<&RecordSet> {
        self.reverse.get(name)
    }

    /// The reverse names of every synthesized PTR.
    pub fn reverse_names(&self) -> impl Iterator<Item = &[u8]> {
        self.reverse.keys().map(|name| &name[..])
    }

    /// The zone whose names reverse queries for private addresses answer.
    pub fn ip_names_zone(&self) -> Option<&Zone> {
        self.ip_names_zone.and_then(|i| self.zones.get(i))
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

/// `name`, then each parent, down to the root (all lower-case wire slices).
pub fn suffixes(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = Some(0usize);
    std::iter::from_fn(move || {
        let start = pos?;
        let len = usize::from(*name.get(start)?);
        pos = (len != 0).then_some(start + 1 + len);
        name.get(start..)
    })
}

/// True when `name` equals `apex` or lies below it (label-aligned).
pub fn is_within(name: &[u8], apex: &[u8]) -> bool {
    suffixes(name).any(|s| s == apex)
}

/// (owner, address, TTL) of every A/AAAA record, for PTR synthesis.
type Addresses = Vec<(Box<[u8]>, IpAddr, u32)>;
/// Reverse name -> (owner, TTL) pairs.
type ReverseOwners = HashMap<Box<[u8]>, Vec<(Box<[u8]>, u32)>>;

fn build_zone(spec: &ZoneSpec, serial: u32) -> Result<(Zone, Addresses), ZoneError> {
    let zone_error = |message: String| ZoneError { line: 0, message };
    let origin = zone_origin(&spec.name).map_err(zone_error)?;
    let apex: Box<[u8]> = record::wire_name(&origin).map_err(zone_error)?.into();
    if apex.len() == 1 {
        return Err(zone_error(
            "the root zone `.` cannot be a local zone".into(),
        ));
    }
    if spec.records.len() > ZONE_RECORDS_MAX {
        return Err(zone_error(format!(
            "more than {ZONE_RECORDS_MAX} records in one zone"
        )));
    }
    // (owner, type) -> records with their line, in config order.
    let mut sets: Sets = HashMap::new();
    let mut order: Vec<(Box<[u8]>, u16)> = Vec::new();
    for (text, line) in &spec.records {
        let error = |message: String| ZoneError {
            line: *line,
            message,
        };
        let record = record::parse(text, &origin).map_err(error)?;
        check_placement(&record, &apex, &spec.name).map_err(error)?;
        let key = (Box::<[u8]>::from(record.owner.as_slice()), record.rtype);
        match sets.entry(key.clone()) {
            Entry::Occupied(mut e) => {
                if !e.get().iter().any(|(r, _)| r.rdata == record.rdata) {
                    e.get_mut().push((record, *line));
                }
            }
            Entry::Vacant(e) => {
                order.push(key);
                e.insert(vec![(record, *line)]);
            }
        }
    }
    let mut by_owner: HashMap<Box<[u8]>, Vec<(u16, usize)>> = HashMap::new();
    for (owner, rtype) in &order {
        let line = sets
            .get(&(owner.clone(), *rtype))
            .and_then(|v| v.first())
            .map_or(0, |(_, l)| *l);
        by_owner
            .entry(owner.clone())
            .or_default()
            .push((*rtype, line));
    }
    for (owner, types) in &by_owner {
        check_cname_exclusive(owner, types, &sets)?;
    }
    let negative_ttl = spec.ttl.min(NEGATIVE_TTL_MAX_SECS);
    let soa_given = sets
        .get(&(apex.clone(), TYPE_SOA))
        .and_then(|v| v.first())
        .map(|(r, _)| r.rdata.clone());
    let soa_rdata = soa_given.unwrap_or_else(|| synthesized_soa(&apex, serial, negative_ttl));
    if spec.mode == Mode::Authoritative {
        for (rtype, rdata) in [(TYPE_SOA, soa_rdata.clone()), (TYPE_NS, LOCALHOST.to_vec())] {
            if let Entry::Vacant(e) = sets.entry((apex.clone(), rtype)) {
                order.push((apex.clone(), rtype));
                let record = Record {
                    owner: apex.to_vec(),
                    rtype,
                    ttl: None,
                    rdata,
                    target: None,
                    address: None,
                };
                e.insert(vec![(record, 0)]);
            }
        }
    }
    let soa_minimum = soa_rdata
        .get(soa_rdata.len().saturating_sub(4)..)
        .map_or(0, |m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    let mut nodes: HashMap<Box<[u8]>, Vec<RecordSet>> = HashMap::new();
    let mut addresses = Vec::new();
    let mut soa_ttl = spec.ttl;
    for key in order {
        let Some(records) = sets.remove(&key) else {
            continue;
        };
        let ttl = records
            .iter()
            .map(|(r, _)| r.ttl.unwrap_or(spec.ttl))
            .min()
            .unwrap_or(spec.ttl);
        if key.1 == TYPE_SOA {
            soa_ttl = ttl;
        }
        let mut tails = Vec::new();
        for (record, _) in &records {
            push_tail(&mut tails, record.rtype, ttl, &record.rdata);
            if let (Some(address), false) = (record.address, record.owner.starts_with(b"\x01*")) {
                addresses.push((key.0.clone(), address, ttl));
            }
        }
        let target = records
            .first()
            .and_then(|(r, _)| r.target.clone())
            .map(Into::into);
        let count = u16::try_from(records.len()).unwrap_or(u16::MAX);
        nodes.entry(key.0).or_default().push(RecordSet {
            rtype: key.1,
            count,
            tails: tails.into(),
            target,
        });
    }
    let mut nodes: HashMap<Box<[u8]>, Node> = nodes
        .into_iter()
        .map(|(name, sets)| (name, Node { sets: sets.into() }))
        .collect();
    add_empty_non_terminals(&mut nodes, &apex);
    let mut negative_tails = Vec::new();
    push_tail(
        &mut negative_tails,
        TYPE_SOA,
        soa_ttl.min(soa_minimum),
        &soa_rdata,
    );
    let negative_soa = RecordSet {
        rtype: TYPE_SOA,
        count: 1,
        tails: negative_tails.into(),
        target: None,
    };
    Ok((
        Zone {
            apex,
            mode: spec.mode,
            ttl: spec.ttl,
            ip_names: spec.ip_names.then_some(spec.ip_names_private_only),
            negative_soa,
            nodes,
        },
        addresses,
    ))
}

/// `localhost.`: the name server and SOA primary of a zone that names none; every
/// host resolves it, and a LAN zone has no other server to point at.
const LOCALHOST: &[u8] = b"\x09localhost\x00";

fn synthesized_soa(apex: &[u8], serial: u32, minimum: u32) -> Vec<u8> {
    let mut rdata = LOCALHOST.to_vec();
    rdata.extend_from_slice(b"\x0ahostmaster");
    rdata.extend_from_slice(apex);
    // refresh, retry, expire as RFC 1912 suggests; nothing transfers from us anyway.
    for value in [serial, 3600, 600, 86_400, minimum] {
        rdata.extend_from_slice(&value.to_be_bytes());
    }
    rdata
}

pub fn zone_origin(name: &str) -> Result<Name, String> {
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    Name::parse(&fqdn, None)
        .map_err(|e| format!("zone name `{name}` is not a valid domain name ({e})"))
}

fn check_placement(record: &Record, apex: &[u8], zone: &str) -> Result<(), String> {
    let owner = wire::name_to_string(&record.owner);
    if !is_within(&record.owner, apex) {
        return Err(format!(
            "`{owner}` is outside zone `{zone}`; write names relative to the zone"
        ));
    }
    if suffixes(&record.owner)
        .skip(1)
        .any(|s| s.starts_with(b"\x01*"))
    {
        return Err(format!(
            "`{owner}`: a wildcard `*` may only be the leftmost label"
        ));
    }
    let at_apex = record.owner.as_slice() == apex;
    match record.rtype {
        TYPE_SOA if !at_apex => Err(format!(
            "`{owner}`: SOA records belong at the zone apex (`@`)"
        )),
        TYPE_NS if !at_apex => Err(format!(
            "`{owner}`: NS records are only served at the zone apex (`@`); delegating a subdomain is not supported"
        )),
        TYPE_CNAME if at_apex => {
            Err("a CNAME cannot be at the zone apex (`@`), which has SOA and NS".into())
        }
        _ => Ok(()),
    }
}

type Sets = HashMap<(Box<[u8]>, u16), Vec<(Record, usize)>>;

/// RFC 1034 §3.6.2: a name with a CNAME has no other data, and only one CNAME.
fn check_cname_exclusive(
    owner: &[u8],
    types: &[(u16, usize)],
    sets: &Sets,
) -> Result<(), ZoneError> {
    let Some(&(_, cname_line)) = types.iter().find(|(t, _)| *t == TYPE_CNAME) else {
        return Ok(());
    };
    let name = wire::name_to_string(owner);
    if let Some(cnames) = sets
        .get(&(Box::from(owner), TYPE_CNAME))
        .filter(|v| v.len() > 1)
    {
        let line = cnames.get(1).map_or(cname_line, |(_, l)| *l);
        return Err(ZoneError {
            line,
            message: format!("`{name}` has more than one CNAME"),
        });
    }
    if let Some(&(_, other_line)) = types.iter().find(|(t, _)| *t != TYPE_CNAME) {
        return Err(ZoneError {
            line: cname_line.max(other_line),
            message: format!(
                "`{name}` has a CNAME and other records; a CNAME must be the only record of its name"
            ),
        });
    }
    Ok(())
}

fn add_empty_non_terminals(nodes: &mut HashMap<Box<[u8]>, Node>, apex: &[u8]) {
    let owners: Vec<Box<[u8]>> = nodes.keys().cloned().collect();
    for owner in owners {
        for parent in suffixes(&owner).skip(1) {
            if parent.len() < apex.len() {
                break;
            }
            nodes.entry(Box::from(parent)).or_default();
        }
    }
    nodes.entry(Box::from(apex)).or_default();
}

/// Appends one record's type, class, TTL, data length and data.
pub fn push_tail(out: &mut Vec<u8>, rtype: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    let len = u16::try_from(rdata.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&rdata[..usize::from(len)]);
}

/// `10.1.168.192.in-addr.arpa.` or the nibble form under `ip6.arpa.`, as wire.
pub fn reverse_name(address: IpAddr) -> Box<[u8]> {
    let mut out = Vec::with_capacity(72);
    match address {
        IpAddr::V4(v4) => {
            for octet in v4.octets().iter().rev() {
                let text = octet.to_string();
                out.push(text.len() as u8);
                out.extend_from_slice(text.as_bytes());
            }
            out.extend_from_slice(b"\x07in-addr\x04arpa\x00");
        }
        IpAddr::V6(v6) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for octet in v6.octets().iter().rev() {
                out.extend_from_slice(&[
                    1,
                    HEX[usize::from(octet & 0x0f)],
                    1,
                    HEX[usize::from(octet >> 4)],
                ]);
            }
            out.extend_from_slice(b"\x03ip6\x04arpa\x00");
        }
    }
    out.into()
}

/// True for `in-addr.arpa.` and `ip6.arpa.` names.
pub fn is_reverse(name: &[u8]) -> bool {
    suffixes(name).any(|s| s == b"\x07in-addr\x04arpa\x00" || s == b"\x03ip6\x04arpa\x00")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::wire::TYPE_A;

    fn spec(mode: Mode, records: &[&str]) -> ZoneSpec {
        ZoneSpec {
            name: "home.test".into(),
            mode,
            ttl: 300,
            ip_names: false,
            ip_names_private_only: true,
            records: records
                .iter()
                .enumerate()
                .map(|(i, r)| (r.to_string(), i + 10))
                .collect(),
        }
    }

    fn build(records: &[&str]) -> Result<Zones, ZoneError> {
        Zones::build(&[spec(Mode::Authoritative, records)], 1).map_err(|(_, e)| e)
    }

    #[test]
    fn suffix_walk() {
        let all: Vec<&[u8]> = suffixes(b"\x01a\x01b\x00").collect();
        assert_eq!(all, vec![&b"\x01a\x01b\x00"[..], b"\x01b\x00", b"\x00"]);
        assert!(is_within(
            b"\x01a\x04home\x04test\x00",
            b"\x04home\x04test\x00"
        ));
        assert!(!is_within(
            b"\x09xhome\x04test\x00",
            b"\x04home\x04test\x00"
        ));
    }

    #[test]
    fn builds_nodes_ents_and_apex() {
        let zones = build(&["a.b A 10.0.0.1", "nas A 10.0.0.2", "nas AAAA fd00::2"]).unwrap();
        let zone = zones.find(b"\x01x\x01a\x01b\x04home\x04test\x00").unwrap();
        assert!(
            zone.node(b"\x01b\x04home\x04test\x00")
                .unwrap()
                .sets
                .is_empty()
        );
        let apex = zone.node(b"\x04home\x04test\x00").unwrap();
        assert!(apex.set(TYPE_SOA).is_some() && apex.set(TYPE_NS).is_some());
        assert_eq!(
            zone.node(b"\x03nas\x04home\x04test\x00")
                .unwrap()
                .sets
                .len(),
            2
        );
        let ptr = zones
            .reverse(&reverse_name("10.0.0.2".parse().unwrap()))
            .unwrap();
        assert_eq!(ptr.count, 1);
        assert!(
            zones
                .reverse(&reverse_name("fd00::2".parse().unwrap()))
                .is_some()
        );
        assert!(zones.find(b"\x07example\x00").is_none());
    }

    #[test]
    fn rejects_bad_zone_data_with_line() {
        for (records, line, needle) in [
            (
                &["x CNAME a", "x A 1.2.3.4"][..],
                11,
                "CNAME and other records",
            ),
            (&["x CNAME a", "x CNAME b"][..], 11, "more than one CNAME"),
            (&["a.b.", "x A 1"][..], 10, "missing record type"),
            (
                &["ok A 1.2.3.4", "x.example.org. A 1.2.3.4"][..],
                11,
                "outside zone",
            ),
            (&["a.*.b A 1.2.3.4"][..], 10, "leftmost"),
            (&["sub NS ns1"][..], 10, "apex"),
            (&["@ CNAME x"][..], 10, "apex"),
        ] {
            let err = build(records).unwrap_err();
            assert_eq!(err.line, line, "{records:?}: {err:?}");
            assert!(err.message.contains(needle), "{records:?}: {err:?}");
        }
    }

    #[test]
    fn duplicate_zone_and_identical_records() {
        let err = Zones::build(
            &[spec(Mode::Authoritative, &[]), spec(Mode::Overlay, &[])],
            1,
        )
        .unwrap_err();
        assert_eq!(err.0, 1);
        let zones = build(&["x A 1.2.3.4", "x A 1.2.3.4", "x 60 A 1.2.3.5"]).unwrap();
        let zone = zones.find(b"\x04home\x04test\x00").unwrap();
        let set = zone
            .node(b"\x01x\x04home\x04test\x00")
            .unwrap()
            .set(TYPE_A)
            .unwrap();
        assert_eq!(set.count, 2);
        // One TTL per record set: the smallest given.
        assert_eq!(&set.tails[4..8], &60u32.to_be_bytes());
    }

    #[test]
    fn overlay_has_no_synthesized_apex_data() {
        let zones = Zones::build(&[spec(Mode::Overlay, &["x A 1.2.3.4"])], 1).unwrap();
        let zone = zones.find(b"\x04home\x04test\x00").unwrap();
        assert!(zone.node(b"\x04home\x04test\x00").unwrap().sets.is_empty());
        assert_eq!(zone.negative_soa.count, 1);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            &*reverse_name("192.168.1.10".parse().unwrap()),
            b"\x0210\x011\x03168\x03192\x07in-addr\x04arpa\x00"
        );
        let v6 = reverse_name("fd00::1".parse().unwrap());
        assert!(v6.starts_with(b"\x011\x010\x010"));
        assert!(is_reverse(&v6));
    }
}
