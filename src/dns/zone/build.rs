//! Building zones from their config: record lines to the hash tables of `zone`.
//!
//! Owns every check a zone's data must pass before it is served, each error tied to
//! its config line: the zone name, `ZONE_RECORDS_MAX`, where a record may stand
//! (inside the zone, wildcards leftmost, SOA and NS at the apex, no CNAME there),
//! and RFC 1034 §3.6.2 (a CNAME is alone at its name). Then it fills in what the
//! config leaves out (an authoritative zone's SOA and NS, the empty non-terminals
//! of RFC 8020), encodes each record set once, and collects the A/AAAA addresses
//! from which `Zones` synthesizes PTR records. Runs at load time only; never on the
//! query path.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use hickory_proto::rr::Name;

use super::{Mode, Node, RecordSet, ZONE_RECORDS_MAX, Zone, ZoneError, ZoneSpec, Zones};
use super::{file, is_within, push_tail, reverse_name, suffixes};
use crate::dns::record::{self, Record};
use crate::dns::wire::{self, TYPE_CNAME, TYPE_NS, TYPE_PTR, TYPE_SOA};

/// Negative answers from synthesized SOAs are cached at most this long (RFC 2308).
const NEGATIVE_TTL_MAX_SECS: u32 = 300;

/// `localhost.`: the name server and SOA primary of a zone that names none; every
/// host resolves it, and a LAN zone has no other server to point at.
const LOCALHOST: &[u8] = b"\x09localhost\x00";

/// (owner, address, TTL) of every A/AAAA record, for PTR synthesis.
type Addresses = Vec<(Box<[u8]>, IpAddr, u32)>;
/// Reverse name -> (owner, TTL) pairs.
type ReverseOwners = HashMap<Box<[u8]>, Vec<(Box<[u8]>, u32)>>;
/// (owner, type) -> records with where each was written, in config order.
type Sets = HashMap<(Box<[u8]>, u16), Vec<(Record, Source)>>;

/// Where a record was written, for its errors: a config line (0 when not tied
/// to one), or a line of the zone file (or of a file it includes).
#[derive(Clone, Debug, Default)]
struct Source {
    file: Option<Arc<Path>>,
    line: usize,
}

impl Source {
    fn error(&self, message: String) -> ZoneError {
        let file = self.file.as_deref().map(Path::to_path_buf);
        let line = self.line;
        ZoneError {
            file,
            line,
            message,
        }
    }
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
                return Err((index, Source::default().error(message)));
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
        zones.reverse = ptr_sets(reverse);
        Ok(zones)
    }
}

/// One PTR record set per reverse name, naming every owner of that address.
fn ptr_sets(reverse: ReverseOwners) -> HashMap<Box<[u8]>, RecordSet> {
    reverse
        .into_iter()
        .map(|(name, owners)| {
            let mut tails = Vec::new();
            for (owner, ttl) in &owners {
                push_tail(&mut tails, TYPE_PTR, *ttl, owner);
            }
            let count = u16::try_from(owners.len()).unwrap_or(u16::MAX);
            let set = RecordSet {
                rtype: TYPE_PTR,
                count,
                tails: tails.into(),
                target: None,
            };
            (name, set)
        })
        .collect()
}

/// The zone `spec` describes, and the addresses of its A/AAAA records.
fn build_zone(spec: &ZoneSpec, serial: u32) -> Result<(Zone, Addresses), ZoneError> {
    let (origin, apex) = zone_apex(spec)?;
    let mut records = ZoneRecords::parse(spec, &origin, &apex)?;
    records.check_cname_exclusive()?;
    let negative_ttl = spec.ttl.min(NEGATIVE_TTL_MAX_SECS);
    let soa_rdata = records
        .given_soa(&apex)
        .unwrap_or_else(|| synthesized_soa(&apex, serial, negative_ttl));
    if spec.mode == Mode::Authoritative {
        records.add_apex_defaults(&apex, &soa_rdata);
    }
    let encoded = records.encode(spec.ttl);
    let mut nodes: HashMap<Box<[u8]>, Node> = encoded
        .nodes
        .into_iter()
        .map(|(name, sets)| (name, Node { sets: sets.into() }))
        .collect();
    add_empty_non_terminals(&mut nodes, &apex);
    let negative_soa = negative_soa(&soa_rdata, encoded.soa_ttl);
    let zone = Zone {
        apex,
        mode: spec.mode,
        ttl: spec.ttl,
        ip_names: spec.ip_names.then_some(spec.ip_names_private_only),
        negative_soa,
        nodes,
    };
    Ok((zone, encoded.addresses))
}

/// The zone's origin and its apex in lower-case wire format; the root zone and a
/// zone over `ZONE_RECORDS_MAX` records are refused.
fn zone_apex(spec: &ZoneSpec) -> Result<(Name, Box<[u8]>), ZoneError> {
    let zone_error = |message: String| Source::default().error(message);
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
    Ok((origin, apex))
}

/// The zone named `name` (a trailing dot optional) as a fully qualified origin.
/// A domain name (presentation form) as lower-case wire format: the key of
/// zones, routes, the delegate's apex and cache flushes.
pub fn domain_wire(text: &str) -> Result<Vec<u8>, String> {
    let origin = zone_origin(text.trim())?;
    let wire = record::wire_name(&origin)?;
    Ok(wire.to_ascii_lowercase())
}

/// True when two zone names as the config writes them are the same zone (letter
/// case and a final dot aside).
pub fn same_zone_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
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

/// A zone's records grouped into sets, before encoding.
struct ZoneRecords {
    sets: Sets,
    /// Every set's key in the order its first record came: sets are encoded in
    /// config order.
    order: Vec<(Box<[u8]>, u16)>,
}

/// A zone's encoded record sets by owner, the addresses for PTR synthesis, and the
/// TTL of its SOA set (the zone's default TTL if it has none).
struct Encoded {
    nodes: HashMap<Box<[u8]>, Vec<RecordSet>>,
    addresses: Addresses,
    soa_ttl: u32,
}

impl ZoneRecords {
    /// Parses every record line of `spec` and checks where it stands; a record
    /// identical to one already in its set is dropped.
    fn parse(spec: &ZoneSpec, origin: &Name, apex: &[u8]) -> Result<Self, ZoneError> {
        let mut records = ZoneRecords {
            sets: HashMap::new(),
            order: Vec::new(),
        };
        for (text, line) in &spec.records {
            let source = Source {
                file: None,
                line: *line,
            };
            let record = record::parse(text, origin).map_err(|m| source.error(m))?;
            check_placement(&record, apex, &spec.name).map_err(|m| source.error(m))?;
            records.insert(record, source);
        }
        // The zone file's records after the config's, checked the same way.
        if let Some(zone_file) = &spec.file {
            let mut count = spec.records.len();
            file::read(zone_file, origin, |record, path, line| {
                count += 1;
                if count > ZONE_RECORDS_MAX {
                    return Err(format!("more than {ZONE_RECORDS_MAX} records in one zone"));
                }
                check_placement(&record, apex, &spec.name)?;
                let file = Some(Arc::clone(path));
                records.insert(record, Source { file, line });
                Ok(())
            })?;
        }
        Ok(records)
    }

    fn insert(&mut self, record: Record, line: Source) {
        let key = (Box::<[u8]>::from(record.owner.as_slice()), record.rtype);
        match self.sets.entry(key.clone()) {
            Entry::Occupied(mut e) => {
                if !e.get().iter().any(|(r, _)| r.rdata == record.rdata) {
                    e.get_mut().push((record, line));
                }
            }
            Entry::Vacant(e) => {
                self.order.push(key);
                e.insert(vec![(record, line)]);
            }
        }
    }

    /// RFC 1034 §3.6.2 for every owner: see [`check_cname_exclusive`].
    fn check_cname_exclusive(&self) -> Result<(), ZoneError> {
        let mut by_owner: HashMap<Box<[u8]>, Vec<(u16, Source)>> = HashMap::new();
        for (owner, rtype) in &self.order {
            let line = self
                .sets
                .get(&(owner.clone(), *rtype))
                .and_then(|v| v.first())
                .map(|(_, l)| l.clone())
                .unwrap_or_default();
            by_owner
                .entry(owner.clone())
                .or_default()
                .push((*rtype, line));
        }
        for (owner, types) in &by_owner {
            check_cname_exclusive(owner, types, &self.sets)?;
        }
        Ok(())
    }

    /// The RDATA of the apex SOA the config gives, if any.
    fn given_soa(&self, apex: &[u8]) -> Option<Vec<u8>> {
        self.sets
            .get(&(Box::from(apex), TYPE_SOA))
            .and_then(|v| v.first())
            .map(|(r, _)| r.rdata.clone())
    }

    /// An authoritative zone has an SOA and an NS at its apex: `soa_rdata` and
    /// `localhost.` where the config gives none.
    fn add_apex_defaults(&mut self, apex: &[u8], soa_rdata: &[u8]) {
        for (rtype, rdata) in [(TYPE_SOA, soa_rdata), (TYPE_NS, LOCALHOST)] {
            if let Entry::Vacant(e) = self.sets.entry((Box::from(apex), rtype)) {
                self.order.push((Box::from(apex), rtype));
                let record = Record {
                    owner: apex.to_vec(),
                    rtype,
                    ttl: None,
                    rdata: rdata.to_vec(),
                    target: None,
                    address: None,
                };
                e.insert(vec![(record, Source::default())]);
            }
        }
    }

    /// Encodes every set in config order with one TTL per set (the smallest given,
    /// else `default_ttl`), and collects the A/AAAA addresses of names that are not
    /// wildcards.
    fn encode(mut self, default_ttl: u32) -> Encoded {
        let mut encoded = Encoded {
            nodes: HashMap::new(),
            addresses: Vec::new(),
            soa_ttl: default_ttl,
        };
        for key in self.order {
            let Some(records) = self.sets.remove(&key) else {
                continue;
            };
            let ttl = records
                .iter()
                .map(|(r, _)| r.ttl.unwrap_or(default_ttl))
                .min()
                .unwrap_or(default_ttl);
            if key.1 == TYPE_SOA {
                encoded.soa_ttl = ttl;
            }
            let mut tails = Vec::new();
            for (record, _) in &records {
                push_tail(&mut tails, record.rtype, ttl, &record.rdata);
                if let (Some(address), false) = (record.address, record.owner.starts_with(b"\x01*"))
                {
                    encoded.addresses.push((key.0.clone(), address, ttl));
                }
            }
            let target = records
                .first()
                .and_then(|(r, _)| r.target.clone())
                .map(Into::into);
            let count = u16::try_from(records.len()).unwrap_or(u16::MAX);
            encoded.nodes.entry(key.0).or_default().push(RecordSet {
                rtype: key.1,
                count,
                tails: tails.into(),
                target,
            });
        }
        encoded
    }
}

/// The SOA of negative answers: TTL min(SOA TTL, MINIMUM) (RFC 2308 §3).
fn negative_soa(soa_rdata: &[u8], soa_ttl: u32) -> RecordSet {
    let soa_minimum = soa_rdata
        .get(soa_rdata.len().saturating_sub(4)..)
        .map_or(0, |m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    let mut tails = Vec::new();
    push_tail(&mut tails, TYPE_SOA, soa_ttl.min(soa_minimum), soa_rdata);
    RecordSet {
        rtype: TYPE_SOA,
        count: 1,
        tails: tails.into(),
        target: None,
    }
}

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

/// RFC 1034 §3.6.2: a name with a CNAME has no other data, and only one CNAME.
/// `types` is in the order the sets began, so the error is told at the later of
/// the two records in conflict.
fn check_cname_exclusive(
    owner: &[u8],
    types: &[(u16, Source)],
    sets: &Sets,
) -> Result<(), ZoneError> {
    let Some(cname_at) = types.iter().position(|(t, _)| *t == TYPE_CNAME) else {
        return Ok(());
    };
    let name = wire::name_to_string(owner);
    if let Some(cnames) = sets
        .get(&(Box::from(owner), TYPE_CNAME))
        .filter(|v| v.len() > 1)
    {
        let source = cnames.get(1).map_or(&types[cname_at].1, |(_, l)| l);
        return Err(source.error(format!("`{name}` has more than one CNAME")));
    }
    if let Some(other_at) = types.iter().position(|(t, _)| *t != TYPE_CNAME) {
        return Err(types[cname_at.max(other_at)].1.error(format!(
            "`{name}` has a CNAME and other records; a CNAME must be the only record of its name"
        )));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::wire::TYPE_A;
    use crate::dns::zone::reverse_name;

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
            file: None,
        }
    }

    fn build(records: &[&str]) -> Result<Zones, ZoneError> {
        Zones::build(&[spec(Mode::Authoritative, records)], 1).map_err(|(_, e)| e)
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
}
