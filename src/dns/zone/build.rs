//! Building zones from their config: record lines to the arena and table of `zone`.
//!
//! Owns every check a zone's data must pass before it is served, each error tied to
//! its config line: the zone name, `zone_records_max` (counted across all zones
//! while the records are read, so an oversized zone stops the load early), where a
//! record may stand (inside the zone, wildcards leftmost, SOA and NS at the apex,
//! no CNAME there), and RFC 1034 §3.6.2 (a CNAME is alone at its name). Then it
//! fills in what the config leaves out (an authoritative zone's SOA and NS, the
//! empty non-terminals of RFC 8020) and encodes each node once.
//!
//! Memory is the constraint (a 64 MB router, zones of a million records): parsed
//! records go into one staging buffer (about 30 bytes for an A record), sorted by
//! a (name hash, offset) key (8 bytes each, in order of the hash: grouping needs
//! no name order, and sorting hashes touches no name), then written node by node
//! into an arena sized up front. The peak is staging + keys + the final zone
//! (tests/bench/zones.sh measures it against the final size). Runs at load time
//! only; never on the query path.

use std::path::Path;
use std::sync::Arc;

use super::table::{self, Table};
use super::{Mode, OwnedSet, Zone, ZoneError, ZoneSpec, Zones, file};
use super::{is_within, node_end, node_name, push_rdata, suffixes};
use crate::dns::name::Name;
use crate::dns::record::{self, Record};
use crate::dns::wire::{self, TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_NS, TYPE_SOA};

/// Negative answers from synthesized SOAs are cached at most this long (RFC 2308).
const NEGATIVE_TTL_MAX_SECS: u32 = 300;

/// `localhost.`: the name server and SOA primary of a zone that names none; every
/// host resolves it, and a LAN zone has no other server to point at.
const LOCALHOST: &[u8] = b"\x09localhost\x00";

/// A record set's data is at most this long (its length field; a TCP message
/// could not carry more anyway).
const SET_DATA_BYTES_MAX: usize = 65_535;

/// Staging bytes reserved per config record before parsing (an A record takes 29).
const STAGING_BYTES_PER_RECORD: usize = 32;

impl Zones {
    /// Builds all zones, at most `records_max` records in all; the first error
    /// found is returned with its zone index.
    pub fn build(
        specs: &[ZoneSpec],
        serial: u32,
        records_max: usize,
    ) -> Result<Self, (usize, ZoneError)> {
        let mut zones = Self::default();
        let mut budget = Budget {
            max: records_max,
            used: 0,
        };
        for (index, spec) in specs.iter().enumerate() {
            let zone = build_zone(spec, serial, &mut budget).map_err(|e| (index, e))?;
            let ip_names = spec.ip_names && zones.ip_names_zone.is_none();
            if !zones.push(zone) {
                let message = format!("zone `{}` is defined twice", spec.name);
                return Err((
                    index,
                    ZoneError {
                        file: None,
                        line: 0,
                        message,
                    },
                ));
            }
            if ip_names {
                zones.ip_names_zone = Some(zones.zones.len() - 1);
            }
        }
        Ok(zones)
    }

    /// These zones with zone `index` built again from `spec` (its runtime records
    /// changed); the other zones are shared, not rebuilt. `self` was built from
    /// the same specs, in the same order.
    pub fn with_rebuilt(
        &self,
        index: usize,
        spec: &ZoneSpec,
        serial: u32,
        records_max: usize,
    ) -> Result<Zones, ZoneError> {
        let others = self.zones.iter().enumerate().filter(|(i, _)| *i != index);
        let mut budget = Budget {
            max: records_max,
            used: others.map(|(_, zone)| zone.budgeted).sum(),
        };
        let zone = build_zone(spec, serial, &mut budget)?;
        let mut zones = self.clone();
        match zones.zones.get_mut(index) {
            Some(slot) if slot.apex == zone.apex => *slot = Arc::new(zone),
            _ => {
                return Err(ZoneError {
                    file: None,
                    line: 0,
                    message: format!("internal error: zone {index} is not `{}`", spec.name),
                });
            }
        }
        Ok(zones)
    }
}

/// `zone_records_max` across the zones of one build.
struct Budget {
    max: usize,
    used: usize,
}

impl Budget {
    fn take(&mut self) -> Result<(), String> {
        self.used += 1;
        if self.used > self.max {
            return Err(format!(
                "more than {} records in the local zones (raise `zone_records_max` if the router has the memory: about 50 bytes per record, twice while reloading)",
                self.max
            ));
        }
        Ok(())
    }
}

/// The zone `spec` describes.
fn build_zone(spec: &ZoneSpec, serial: u32, budget: &mut Budget) -> Result<Zone, ZoneError> {
    let (origin, apex) = zone_apex(spec)?;
    let mut staging = Staging::new(apex.len(), spec.records.len());
    let budget_before = budget.used;
    for (text, line) in &spec.records {
        let error = |message: String| ZoneError {
            file: None,
            line: *line,
            message,
        };
        let record = record::parse(text, &origin).map_err(error)?;
        check_placement(&record, &apex, &spec.name).map_err(error)?;
        budget.take().map_err(error)?;
        staging.push(&record, *line).map_err(error)?;
    }
    // The zone file's records after the config's, checked the same way; an
    // error is told at its file and line.
    if let Some(zone_file) = &spec.file {
        file::read(zone_file, &origin, |record, path, line| {
            check_placement(&record, &apex, &spec.name)?;
            budget.take()?;
            staging.read_from(Some(path));
            staging.push(&record, line)
        })?;
    }
    let negative_ttl = spec.ttl.min(NEGATIVE_TTL_MAX_SECS);
    let given_soa = staging.apex_soa.and_then(|at| staging.entry(at));
    let given_soa_missing = given_soa.is_none();
    let soa_rdata = given_soa.map_or_else(
        || synthesized_soa(&apex, serial, negative_ttl),
        |soa| soa.rdata.to_vec(),
    );
    staging.read_from(None);
    if spec.mode == Mode::Authoritative {
        if staging.apex_soa.is_none() {
            staging.push_apex(TYPE_SOA, &soa_rdata);
        }
        if !staging.apex_ns {
            staging.push_apex(TYPE_NS, LOCALHOST);
        }
    }
    staging.bytes.shrink_to_fit();
    let entries = std::mem::take(&mut staging.entries);
    let mut encoder = Encoder::new(&staging, entries, &apex, spec.ttl);
    encoder.nodes()?;
    let soa_ttl = encoder.soa_ttl.unwrap_or(spec.ttl);
    let Encoder {
        mut arena,
        mut table,
        mut v4,
        mut v6,
        records,
        ..
    } = encoder;
    drop(staging);
    add_empty_non_terminals(&mut arena, &mut table);
    v4.sort_unstable();
    v6.sort_unstable();
    Ok(Zone {
        apex,
        mode: spec.mode,
        ttl: spec.ttl,
        ip_names: spec.ip_names.then_some(spec.ip_names_private_only),
        negative_soa: negative_soa(&soa_rdata, soa_ttl),
        arena: arena.into(),
        table,
        v4: v4.into(),
        v6: v6.into(),
        records,
        budgeted: budget.used - budget_before,
        soa_synthesized: spec.mode == Mode::Authoritative && given_soa_missing,
    })
}

/// The zone's origin and its apex in lower-case wire format; the root zone is
/// refused.
fn zone_apex(spec: &ZoneSpec) -> Result<(Name, Box<[u8]>), ZoneError> {
    let zone_error = |message: String| ZoneError {
        file: None,
        line: 0,
        message,
    };
    let origin = zone_origin(&spec.name).map_err(zone_error)?;
    let apex: Box<[u8]> = record::wire_name(&origin).map_err(zone_error)?.into();
    if apex.len() == 1 {
        return Err(zone_error(
            "the root zone `.` cannot be a local zone".into(),
        ));
    }
    Ok((origin, apex))
}

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

/// The zone named `name` (a trailing dot optional) as a fully qualified origin.
pub fn zone_origin(name: &str) -> Result<Name, String> {
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    Name::parse(&fqdn, None)
        .map_err(|e| format!("zone name `{name}` is not a valid domain name ({e})"))
}

/// Every parsed record of one zone, one after the other: name length, name
/// (relative to the apex, lower-case wire), type (2), TTL given (1) and TTL (4),
/// line (4), data length (2), data.
struct Staging {
    bytes: Vec<u8>,
    entries: Vec<u32>,
    /// Where the records from each offset on were written: a zone file (or one
    /// it includes), or the config (`None`); a change of file adds an entry.
    files: Vec<(u32, Option<Arc<Path>>)>,
    apex_len: usize,
    /// The first SOA at the apex, in config order.
    apex_soa: Option<u32>,
    apex_ns: bool,
}

/// One staged record.
#[derive(Clone, Copy)]
struct Entry<'a> {
    name: &'a [u8],
    rtype: u16,
    ttl: Option<u32>,
    line: usize,
    rdata: &'a [u8],
}

impl Staging {
    fn new(apex_len: usize, records: usize) -> Staging {
        Staging {
            bytes: Vec::with_capacity(records.saturating_mul(STAGING_BYTES_PER_RECORD)),
            entries: Vec::with_capacity(records),
            files: Vec::new(),
            apex_len,
            apex_soa: None,
            apex_ns: false,
        }
    }

    /// The records staged from now on come from `file` (`None`: the config).
    fn read_from(&mut self, file: Option<&Arc<Path>>) {
        let same = match (self.files.last().map(|(_, f)| f.as_ref()), file) {
            (Some(Some(last)), Some(file)) => Arc::ptr_eq(last, file),
            (Some(None), None) | (None, None) => true,
            _ => false,
        };
        if !same {
            let offset = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
            self.files.push((offset, file.cloned()));
        }
    }

    /// A `ZoneError` at the record staged at `offset`: its file and line.
    fn error_at(&self, offset: u32, message: String) -> ZoneError {
        let at = self.files.partition_point(|(start, _)| *start <= offset);
        let file = at
            .checked_sub(1)
            .and_then(|i| self.files.get(i))
            .and_then(|(_, file)| file.as_deref())
            .map(Path::to_path_buf);
        let line = self.entry(offset).map_or(0, |e| e.line);
        ZoneError {
            file,
            line,
            message,
        }
    }

    /// Stages `record` (its owner is within the apex: checked before).
    fn push(&mut self, record: &Record, line: usize) -> Result<(), String> {
        let cut = record.owner.len().saturating_sub(self.apex_len);
        let entry = Entry {
            name: &record.owner[..cut],
            rtype: record.rtype,
            ttl: record.ttl,
            line,
            rdata: &record.rdata,
        };
        self.push_entry(entry)
    }

    /// A record the zone gets by default at its apex.
    fn push_apex(&mut self, rtype: u16, rdata: &[u8]) {
        let entry = Entry {
            name: b"",
            rtype,
            ttl: None,
            line: 0,
            rdata,
        };
        // Only fails past 4 GiB of staged data, which the record bound prevents.
        let _ = self.push_entry(entry);
    }

    fn push_entry(&mut self, entry: Entry<'_>) -> Result<(), String> {
        let offset =
            u32::try_from(self.bytes.len()).map_err(|_| "zone data over 4 GiB".to_string())?;
        let name_len = u8::try_from(entry.name.len()).map_err(|_| "name too long".to_string())?;
        let rdata_len =
            u16::try_from(entry.rdata.len()).map_err(|_| "record data too long".to_string())?;
        let bytes = &mut self.bytes;
        bytes.push(name_len);
        bytes.extend_from_slice(entry.name);
        bytes.extend_from_slice(&entry.rtype.to_be_bytes());
        bytes.push(u8::from(entry.ttl.is_some()));
        bytes.extend_from_slice(&entry.ttl.unwrap_or(0).to_be_bytes());
        bytes.extend_from_slice(&u32::try_from(entry.line).unwrap_or(u32::MAX).to_be_bytes());
        bytes.extend_from_slice(&rdata_len.to_be_bytes());
        bytes.extend_from_slice(entry.rdata);
        self.entries.push(offset);
        if entry.name.is_empty() {
            match entry.rtype {
                TYPE_SOA if self.apex_soa.is_none() => self.apex_soa = Some(offset),
                TYPE_NS => self.apex_ns = true,
                _ => {}
            }
        }
        Ok(())
    }

    fn entry(&self, offset: u32) -> Option<Entry<'_>> {
        let at = usize::try_from(offset).ok()?;
        let name_len = usize::from(*self.bytes.get(at)?);
        let name = self.bytes.get(at + 1..at + 1 + name_len)?;
        let fixed = self.bytes.get(at + 1 + name_len..at + 14 + name_len)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let ttl =
            (fixed[2] == 1).then(|| u32::from_be_bytes([fixed[3], fixed[4], fixed[5], fixed[6]]));
        let line = u32::from_be_bytes([fixed[7], fixed[8], fixed[9], fixed[10]]) as usize;
        let rdata_len = usize::from(u16::from_be_bytes([fixed[11], fixed[12]]));
        let rdata_at = at + 14 + name_len;
        let rdata = self.bytes.get(rdata_at..rdata_at + rdata_len)?;
        Some(Entry {
            name,
            rtype,
            ttl,
            line,
            rdata,
        })
    }
}

/// Writes a zone's nodes from its staged records.
struct Encoder<'s> {
    staging: &'s Staging,
    apex: &'s [u8],
    default_ttl: u32,
    /// (32 bits of the name's hash, staging offset), sorted: each node's
    /// records are adjacent, sets by type, records in config order.
    keys: Vec<(u32, u32)>,
    arena: Vec<u8>,
    table: Table,
    v4: Vec<(u32, u32)>,
    v6: Vec<([u8; 16], u32)>,
    /// The TTL of the apex SOA set, when the zone has one.
    soa_ttl: Option<u32>,
    records: usize,
}

impl<'s> Encoder<'s> {
    fn new(
        staging: &'s Staging,
        entries: Vec<u32>,
        apex: &'s [u8],
        default_ttl: u32,
    ) -> Encoder<'s> {
        // 32 bits of the hash: 8 bytes a key; names that share them are told
        // apart by the comparison below.
        let hash32 = |name: &[u8]| (table::hash(name) >> 32) as u32;
        let mut keys: Vec<(u32, u32)> = entries
            .iter()
            .filter_map(|&at| Some((hash32(staging.entry(at)?.name), at)))
            .collect();
        // Freed before the arena is allocated: the peak is staging, keys and
        // the zone.
        drop(entries);
        keys.sort_unstable_by(|a, b| {
            let by_name = || {
                let x = staging.entry(a.1).map(|e| (e.name, e.rtype));
                let y = staging.entry(b.1).map(|e| (e.name, e.rtype));
                x.cmp(&y)
            };
            a.0.cmp(&b.0).then_with(by_name).then(a.1.cmp(&b.1))
        });
        // Upper bounds, so neither grows while the nodes are written: the arena
        // is no larger than the staged records plus the CNAME targets.
        let (mut names, mut addresses, mut targets) = (0usize, [0usize; 2], 0usize);
        let mut previous: Option<(u32, &[u8])> = None;
        for &(hash, at) in &keys {
            let Some(entry) = staging.entry(at) else {
                continue;
            };
            if previous != Some((hash, entry.name)) {
                names += 1;
                previous = Some((hash, entry.name));
            }
            match entry.rtype {
                TYPE_A => addresses[0] += 1,
                TYPE_AAAA => addresses[1] += 1,
                TYPE_CNAME => targets += 1 + entry.rdata.len(),
                _ => {}
            }
        }
        Encoder {
            staging,
            apex,
            default_ttl,
            keys,
            arena: Vec::with_capacity(staging.bytes.len() + targets),
            table: Table::with_names(names + 1),
            v4: Vec::with_capacity(addresses[0]),
            v6: Vec::with_capacity(addresses[1]),
            soa_ttl: None,
            records: 0,
        }
    }

    /// Every node, checked and written; each goes into the table.
    fn nodes(&mut self) -> Result<(), ZoneError> {
        let keys = std::mem::take(&mut self.keys);
        let mut at = 0;
        while at < keys.len() {
            let first = self.entry(keys[at].1)?;
            let end = at
                + keys[at..]
                    .iter()
                    .take_while(|k| {
                        k.0 == keys[at].0
                            && self
                                .staging
                                .entry(k.1)
                                .is_some_and(|e| e.name == first.name)
                    })
                    .count();
            self.node(first.name, &keys[at..end])?;
            at = end;
        }
        Ok(())
    }

    fn entry(&self, offset: u32) -> Result<Entry<'s>, ZoneError> {
        self.staging.entry(offset).ok_or_else(|| ZoneError {
            file: None,
            line: 0,
            message: "internal error: staged record unreadable".into(),
        })
    }

    /// One node: its record sets (one run of keys per type), RFC 1034 §3.6.2.
    fn node(&mut self, name: &'s [u8], keys: &[(u32, u32)]) -> Result<(), ZoneError> {
        let start = self.arena.len();
        let offset = u32::try_from(start).map_err(|_| ZoneError {
            file: None,
            line: 0,
            message: "zone data over 4 GiB".into(),
        })?;
        self.arena.push(name.len() as u8);
        self.arena.extend_from_slice(name);
        let count_at = self.arena.len();
        self.arena.push(0);
        // Staging offsets (the order records came in) of the records that tell
        // where a conflict is: the first CNAME and the second one kept, and the
        // earliest first record of the other sets.
        let mut cname: Option<(u32, Option<u32>)> = None;
        let mut other: Option<u32> = None;
        let mut at = 0;
        while at < keys.len() {
            let rtype = self.entry(keys[at].1)?.rtype;
            let mut end = at;
            while end < keys.len() && self.entry(keys[end].1)?.rtype == rtype {
                end += 1;
            }
            let (first, second) = self.set(name, rtype, offset, &keys[at..end])?;
            if rtype == TYPE_CNAME {
                cname = Some((first, second));
            } else {
                other = Some(other.map_or(first, |o: u32| o.min(first)));
            }
            self.arena[count_at] = self.arena[count_at].saturating_add(1);
            at = end;
        }
        if let Some((first, second)) = cname {
            let owner = self.full_name(name);
            if let Some(second) = second {
                let message = format!("`{owner}` has more than one CNAME");
                return Err(self.staging.error_at(second, message));
            }
            if let Some(other) = other {
                // At the later of the two records in conflict.
                let message = format!(
                    "`{owner}` has a CNAME and other records; a CNAME must be the only record of its name"
                );
                return Err(self.staging.error_at(first.max(other), message));
            }
        }
        let arena = &self.arena;
        self.table.insert(name, offset, |o| node_name(arena, o));
        Ok(())
    }

    /// One record set: identical records dropped, one TTL (the smallest given,
    /// else the zone's). Returns the staging offsets of the first record and of
    /// the second kept one.
    fn set(
        &mut self,
        name: &[u8],
        rtype: u16,
        node: u32,
        keys: &[(u32, u32)],
    ) -> Result<(u32, Option<u32>), ZoneError> {
        let mut ttl = None;
        for key in keys {
            if let Some(given) = self.entry(key.1)?.ttl {
                ttl = Some(ttl.map_or(given, |t: u32| t.min(given)));
            }
        }
        let ttl = ttl.unwrap_or(self.default_ttl);
        let header_at = self.arena.len();
        self.arena.extend_from_slice(&rtype.to_be_bytes());
        self.arena.extend_from_slice(&ttl.to_be_bytes());
        self.arena.extend_from_slice(&[0; 4]);
        let data_at = self.arena.len();
        let (mut kept, mut second) = (0u16, None);
        let wildcard = name.starts_with(b"\x01*");
        for key in keys {
            let entry = self.entry(key.1)?;
            let written = super::RecordSet {
                rtype,
                ttl,
                count: kept,
                data: &self.arena[data_at..],
                target: None,
            };
            if written.rdatas().any(|r| r == entry.rdata) {
                continue;
            }
            if self.arena.len() - data_at + 2 + entry.rdata.len() > SET_DATA_BYTES_MAX {
                let message = format!(
                    "`{}`: its {} records are more than {SET_DATA_BYTES_MAX} bytes",
                    self.full_name(name),
                    wire::type_name(rtype)
                );
                return Err(self.staging.error_at(key.1, message));
            }
            if kept == 1 {
                second = Some(key.1);
            }
            kept = kept.saturating_add(1);
            push_rdata(&mut self.arena, entry.rdata);
            match (rtype, entry.rdata) {
                (TYPE_A, &[a, b, c, d]) if !wildcard => {
                    self.v4.push((u32::from_be_bytes([a, b, c, d]), node));
                }
                (TYPE_AAAA, rdata) if !wildcard => {
                    if let Ok(address) = <[u8; 16]>::try_from(rdata) {
                        self.v6.push((address, node));
                    }
                }
                _ => {}
            }
        }
        let data_len = (self.arena.len() - data_at) as u16;
        self.arena[header_at + 6..header_at + 8].copy_from_slice(&kept.to_be_bytes());
        self.arena[header_at + 8..header_at + 10].copy_from_slice(&data_len.to_be_bytes());
        if rtype == TYPE_CNAME {
            // The target of the first CNAME (a second one is an error above).
            let target = self
                .staging
                .entry(keys[0].1)
                .map(|e| e.rdata.to_ascii_lowercase())
                .unwrap_or_default();
            self.arena.push(target.len() as u8);
            self.arena.extend_from_slice(&target);
        }
        if rtype == TYPE_SOA && name.is_empty() {
            self.soa_ttl = Some(ttl);
        }
        self.records += usize::from(kept);
        Ok((keys.first().map_or(0, |k| k.1), second))
    }

    /// `name` (relative) with the apex, in presentation form.
    fn full_name(&self, name: &[u8]) -> String {
        let mut full = name.to_vec();
        full.extend_from_slice(self.apex);
        wire::name_to_string(&full)
    }
}

/// RFC 8020: every name between a node and the apex exists (an empty
/// non-terminal), and so does the apex.
fn add_empty_non_terminals(arena: &mut Vec<u8>, table: &mut Table) {
    let real_end = arena.len();
    let mut missing: Vec<u8> = Vec::new();
    let mut offset = 0usize;
    while offset < real_end {
        let Ok(at) = u32::try_from(offset) else {
            break;
        };
        let (Some(name), Some(end)) = (node_name(arena, at), node_end(arena, at)) else {
            break;
        };
        missing.clear();
        let mut parent = name;
        while let Some(&len) = parent.first() {
            parent = parent.get(1 + usize::from(len)..).unwrap_or_default();
            if table.find(parent, |o| node_name(arena, o)).is_some() {
                break;
            }
            // Written after the walk of this node: `arena` is borrowed by `name`.
            missing.push(parent.len() as u8);
            missing.extend_from_slice(parent);
        }
        let mut rest = &missing[..];
        let mut added = Vec::new();
        while let Some(&len) = rest.first() {
            let parent = rest.get(1..=usize::from(len)).unwrap_or_default();
            added.push(parent.to_vec());
            rest = rest.get(1 + usize::from(len)..).unwrap_or_default();
        }
        for parent in added {
            push_empty_node(arena, table, &parent);
        }
        offset = end;
    }
    if table.find(b"", |o| node_name(arena, o)).is_none() {
        push_empty_node(arena, table, b"");
    }
    arena.shrink_to_fit();
}

fn push_empty_node(arena: &mut Vec<u8>, table: &mut Table, name: &[u8]) {
    let Ok(offset) = u32::try_from(arena.len()) else {
        return;
    };
    arena.push(name.len() as u8);
    arena.extend_from_slice(name);
    arena.push(0);
    let arena = &*arena;
    table.insert(name, offset, |o| node_name(arena, o));
}

/// The SOA of negative answers: TTL min(SOA TTL, MINIMUM) (RFC 2308 §3).
fn negative_soa(soa_rdata: &[u8], soa_ttl: u32) -> OwnedSet {
    let soa_minimum = soa_rdata
        .get(soa_rdata.len().saturating_sub(4)..)
        .map_or(0, |m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    let ttl = soa_ttl.min(soa_minimum);
    OwnedSet::new(TYPE_SOA, ttl, [soa_rdata]).unwrap_or_else(|| OwnedSet {
        rtype: TYPE_SOA,
        ttl,
        count: 0,
        data: Box::default(),
    })
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
            file: None,
        }
    }

    fn build(records: &[&str]) -> Result<Zones, ZoneError> {
        Zones::build(&[spec(Mode::Authoritative, records)], 1, usize::MAX).map_err(|(_, e)| e)
    }

    #[test]
    fn builds_nodes_ents_and_apex() {
        let zones = build(&["a.b A 10.0.0.1", "nas A 10.0.0.2", "nas AAAA fd00::2"]).unwrap();
        let zone = zones.find(b"\x01x\x01a\x01b\x04home\x04test\x00").unwrap();
        assert!(zone.node(b"\x01b\x04home\x04test\x00").unwrap().is_empty());
        let apex = zone.node(b"\x04home\x04test\x00").unwrap();
        assert!(apex.set(TYPE_SOA).is_some() && apex.set(TYPE_NS).is_some());
        assert_eq!(
            zone.node(b"\x03nas\x04home\x04test\x00")
                .unwrap()
                .sets()
                .count(),
            2
        );
        let mut owners = Vec::new();
        let found = zones.ptr_owners("10.0.0.2".parse().unwrap(), |owner, ttl| {
            owners.push((owner.to_vec(), ttl));
        });
        assert_eq!(found, 1);
        assert_eq!(owners, vec![(b"\x03nas\x04home\x04test\x00".to_vec(), 300)]);
        assert_eq!(zones.ptr_owners("fd00::2".parse().unwrap(), |_, _| {}), 1);
        assert_eq!(zones.ptr_owners("10.0.0.3".parse().unwrap(), |_, _| {}), 0);
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
            usize::MAX,
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
        assert_eq!(set.ttl, 60);
    }

    #[test]
    fn overlay_has_no_synthesized_apex_data() {
        let zones = Zones::build(&[spec(Mode::Overlay, &["x A 1.2.3.4"])], 1, usize::MAX).unwrap();
        let zone = zones.find(b"\x04home\x04test\x00").unwrap();
        assert!(zone.node(b"\x04home\x04test\x00").unwrap().is_empty());
        assert_eq!(zone.negative_soa().count, 1);
    }

    #[test]
    fn records_max_counts_across_zones_and_names_the_line() {
        let mut other = spec(Mode::Authoritative, &["c A 10.0.0.3", "d A 10.0.0.4"]);
        other.name = "other.test".into();
        let specs = [
            spec(Mode::Authoritative, &["a A 10.0.0.1", "b A 10.0.0.2"]),
            other,
        ];
        assert!(Zones::build(&specs, 1, 4).is_ok());
        let (index, err) = Zones::build(&specs, 1, 3).unwrap_err();
        assert_eq!((index, err.line), (1, 11), "{err:?}");
        assert!(err.message.contains("zone_records_max"), "{err:?}");
    }

    #[test]
    fn nodes_sets_and_ents_of_a_larger_zone() {
        let mut records: Vec<String> = (0..3000)
            .map(|i| format!("h{i}.sub A 10.0.{}.{}", i / 256, i % 256))
            .collect();
        records.push("h7.sub AAAA fd00::7".into());
        records.push("h7.sub TXT \"seven\"".into());
        records.push("alias CNAME H7.Sub".into());
        records.push("*.wild A 10.9.9.9".into());
        let refs: Vec<&str> = records.iter().map(String::as_str).collect();
        let zones = build(&refs).unwrap();
        let zone = zones.find(b"\x04home\x04test\x00").unwrap();
        assert_eq!(zone.records(), 3004 + 2);
        for i in [0, 1, 255, 2999] {
            let name = format!("h{i}");
            let mut wire = vec![name.len() as u8];
            wire.extend_from_slice(name.as_bytes());
            wire.extend_from_slice(b"\x03sub\x04home\x04test\x00");
            let node = zone.node(&wire).unwrap();
            let a = node.set(TYPE_A).unwrap();
            assert_eq!(
                a.rdatas().collect::<Vec<_>>(),
                vec![&[10, 0, (i / 256) as u8, (i % 256) as u8][..]]
            );
        }
        let h7 = zone.node(b"\x02h7\x03sub\x04home\x04test\x00").unwrap();
        assert_eq!(h7.sets().count(), 3);
        // The empty non-terminals: `sub` and `wild` exist without data.
        assert!(
            zone.node(b"\x03sub\x04home\x04test\x00")
                .unwrap()
                .is_empty()
        );
        assert!(
            zone.node(b"\x04wild\x04home\x04test\x00")
                .unwrap()
                .is_empty()
        );
        assert!(zone.node(b"\x05h3000\x03sub\x04home\x04test\x00").is_none());
        // A name that ends like the apex but is not below it.
        assert!(zone.node(b"\x05xhome\x04test\x00").is_none());
        let alias = zone.node(b"\x05alias\x04home\x04test\x00").unwrap();
        let cname = alias.set(TYPE_CNAME).unwrap();
        assert_eq!(
            cname.target,
            Some(&b"\x02h7\x03sub\x04home\x04test\x00"[..])
        );
        // Wildcards give no PTR; every other address does, with its owner.
        assert_eq!(zones.ptr_owners("10.9.9.9".parse().unwrap(), |_, _| {}), 0);
        let mut owner = Vec::new();
        zones.ptr_owners("10.0.11.183".parse().unwrap(), |o, _| owner = o.to_vec());
        assert_eq!(owner, b"\x05h2999\x03sub\x04home\x04test\x00");
        let (first, last) = ("10.0.11.0".parse().unwrap(), "10.0.11.255".parse().unwrap());
        assert!(zones.any_address_in(first, last));
        let (first, last) = ("10.0.12.0".parse().unwrap(), "10.0.12.255".parse().unwrap());
        assert!(!zones.any_address_in(first, last));
    }

    #[test]
    fn simple_records_fit_the_memory_target() {
        // Issue 13: at most 64 bytes per A/AAAA/CNAME record, all of the zone's
        // data counted (arena, table, addresses). The layout is deterministic, so
        // 100 000 records tell what 1 000 000 cost (tests/bench/zones.sh measures
        // the process).
        let records: Vec<String> = (0..100_000u32)
            .map(|i| match i % 10 {
                0 => format!("c{i} CNAME h{}", i + 2),
                1 => format!("h{i} AAAA fd00::{:x}:{:x}", i >> 16, i & 0xffff),
                _ => format!("h{i} A 10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
            })
            .collect();
        let refs: Vec<&str> = records.iter().map(String::as_str).collect();
        let zones = build(&refs).unwrap();
        let zone = zones.find(b"\x04home\x04test\x00").unwrap();
        let per_record = zone.bytes() as f64 / zone.records() as f64;
        eprintln!("zone data: {per_record:.1} bytes per record");
        assert!(per_record <= 64.0, "{per_record} bytes per record");
    }

    #[test]
    fn rebuilding_one_zone_keeps_the_others() {
        let mut other = spec(Mode::Authoritative, &["c A 10.0.0.3"]);
        other.name = "other.test".into();
        let specs = [spec(Mode::Authoritative, &["a A 10.0.0.1"]), other.clone()];
        let zones = Zones::build(&specs, 1, 3).unwrap();
        other.records.push(("d A 10.0.0.4".into(), 0));
        let rebuilt = zones.with_rebuilt(1, &other, 2, 3).unwrap();
        assert!(Arc::ptr_eq(&zones.zones[0], &rebuilt.zones[0]));
        assert!(
            rebuilt
                .find(b"\x01d\x05other\x04test\x00")
                .unwrap()
                .node(b"\x01d\x05other\x04test\x00")
                .is_some()
        );
        assert_eq!(
            rebuilt.ptr_owners("10.0.0.1".parse().unwrap(), |_, _| {}),
            1
        );
        // The budget still counts the zones kept: 1 + 3 records is over 3.
        other.records.push(("e A 10.0.0.5".into(), 0));
        let err = zones.with_rebuilt(1, &other, 2, 3).unwrap_err();
        assert!(err.message.contains("zone_records_max"), "{err:?}");
        // A spec that is not the zone at that index is refused.
        assert!(zones.with_rebuilt(0, &other, 2, 10).is_err());
    }
}
