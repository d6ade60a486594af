//! Local zones: each one arena of names and ready-to-copy record data, indexed by
//! an open-addressing table of offsets.
//!
//! Owns the in-memory form of every `[[zone]]`. A zone's nodes (names relative to
//! its apex, in lower-case wire format, each followed by its record sets: type,
//! TTL, and per record its length and data) sit one after the other in a single
//! `Box<[u8]>`; `table` maps a name to its node's offset with one hash probe per
//! lookup, so a miss in a 1 000 000-record zone costs what it costs in a 10-record
//! zone, and nothing here scans. The addresses of A/AAAA records are kept beside
//! as sorted (address, node) pairs: PTR answers and the RFC 8020 question "is any
//! address below this reverse name?" are binary searches. A simple record (A,
//! AAAA, CNAME) costs about 50 bytes in all (tests/bench/zones.sh measures it).
//! Built once per (re)load by `build` (which checks the config's records, and
//! those of the zone's master file that `file` reads, and fills in SOA, NS and
//! empty non-terminals) and then only read, shared between DNS threads by `Arc`.

mod build;
pub mod file;
mod table;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::dns::wire::{CLASS_IN, TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_SOA};

pub use build::{domain_wire, same_zone_name, zone_origin};
use table::Table;

/// Longest CNAME chain followed inside local data before answering SERVFAIL.
pub const CNAME_HOPS_MAX: usize = 8;
/// Records all local zones together may hold unless the config says otherwise
/// (`zone_records_max`): about 10 MB of zone data, which a 64 MB router can hold
/// twice while a reload builds the new zones beside the old ones.
pub const ZONE_RECORDS_MAX_DEFAULT: usize = 200_000;

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
    /// A master file with more records (`file`, read by `file::read`).
    pub file: Option<file::ZoneFile>,
}

/// A zone that failed to build: where (a zone file's line when `file` is set,
/// else the config line, 0 when not tied to one) and why.
#[derive(Debug, PartialEq, Eq)]
pub struct ZoneError {
    /// The zone file (or a file it includes) the error is in.
    pub file: Option<PathBuf>,
    pub line: usize,
    pub message: String,
}

/// All records of one type at one name, as the answer path reads them: borrowed
/// from a zone's arena or from an [`OwnedSet`].
#[derive(Clone, Copy, Debug)]
pub struct RecordSet<'a> {
    pub rtype: u16,
    /// One TTL for the whole set.
    pub ttl: u32,
    pub count: u16,
    /// Per record: its data length (two bytes, big-endian) and its data.
    pub data: &'a [u8],
    /// CNAME target (lower-case wire), followed through local data.
    pub target: Option<&'a [u8]>,
}

impl<'a> RecordSet<'a> {
    /// The data of each record, in order.
    pub fn rdatas(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let mut rest = self.data;
        std::iter::from_fn(move || {
            let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
            let rdata = rest.get(2..2 + len)?;
            rest = &rest[2 + len..];
            Some(rdata)
        })
    }
}

/// A record set in memory of its own: lease and hosts names, their PTRs, a zone's
/// negative SOA.
#[derive(Clone, Debug)]
pub struct OwnedSet {
    pub rtype: u16,
    pub ttl: u32,
    pub count: u16,
    data: Box<[u8]>,
}

impl OwnedSet {
    /// The set of `rdatas` (each cut at 65 535 bytes); `None` when there are none.
    pub fn new<R: AsRef<[u8]>>(
        rtype: u16,
        ttl: u32,
        rdatas: impl IntoIterator<Item = R>,
    ) -> Option<OwnedSet> {
        let (mut data, mut count) = (Vec::new(), 0u16);
        for rdata in rdatas {
            push_rdata(&mut data, rdata.as_ref());
            count = count.saturating_add(1);
        }
        (count > 0).then(|| OwnedSet {
            rtype,
            ttl,
            count,
            data: data.into(),
        })
    }

    pub fn view(&self) -> RecordSet<'_> {
        RecordSet {
            rtype: self.rtype,
            ttl: self.ttl,
            count: self.count,
            data: &self.data,
            target: None,
        }
    }
}

/// Appends one record's data with its two-byte length.
fn push_rdata(out: &mut Vec<u8>, rdata: &[u8]) {
    let len = u16::try_from(rdata.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&rdata[..usize::from(len)]);
}

/// A name in a zone: its record sets, or none for an empty non-terminal (RFC
/// 8020). Arena layout: name length, name (relative to the apex), set count,
/// then per set: type (2), TTL (4), record count (2), data length (2), data, and
/// for a CNAME the target's length (1) and the target.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    count: u8,
    sets: &'a [u8],
}

impl<'a> Node<'a> {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The record sets, in the order they were built.
    pub fn sets(&self) -> impl Iterator<Item = RecordSet<'a>> + use<'a> {
        let mut rest = self.sets;
        let mut left = self.count;
        std::iter::from_fn(move || {
            left = left.checked_sub(1)?;
            let (set, after) = read_set(rest)?;
            rest = after;
            Some(set)
        })
    }

    pub fn set(&self, rtype: u16) -> Option<RecordSet<'a>> {
        self.sets().find(|s| s.rtype == rtype)
    }

    pub fn first(&self) -> Option<RecordSet<'a>> {
        self.sets().next()
    }
}

/// The set at the start of `bytes` and what follows it.
fn read_set(bytes: &[u8]) -> Option<(RecordSet<'_>, &[u8])> {
    let header = bytes.get(..10)?;
    let rtype = u16::from_be_bytes([header[0], header[1]]);
    let ttl = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
    let count = u16::from_be_bytes([header[6], header[7]]);
    let len = usize::from(u16::from_be_bytes([header[8], header[9]]));
    let data = bytes.get(10..10 + len)?;
    let mut rest = &bytes[10 + len..];
    let mut target = None;
    if rtype == TYPE_CNAME {
        let target_len = usize::from(*rest.first()?);
        target = Some(rest.get(1..=target_len)?);
        rest = &rest[1 + target_len..];
    }
    let set = RecordSet {
        rtype,
        ttl,
        count,
        data,
        target,
    };
    Some((set, rest))
}

/// The name (relative to the apex) of the node at `offset`.
fn node_name(arena: &[u8], offset: u32) -> Option<&[u8]> {
    let at = usize::try_from(offset).ok()?;
    let len = usize::from(*arena.get(at)?);
    arena.get(at + 1..at + 1 + len)
}

/// The node at `offset`.
fn node_at(arena: &[u8], offset: u32) -> Option<Node<'_>> {
    let at = usize::try_from(offset).ok()?;
    let count_at = at + 1 + usize::from(*arena.get(at)?);
    let count = *arena.get(count_at)?;
    let sets = arena.get(count_at + 1..)?;
    Some(Node { count, sets })
}

/// The offset just past the node at `offset`.
fn node_end(arena: &[u8], offset: u32) -> Option<usize> {
    let node = node_at(arena, offset)?;
    let mut rest = node.sets;
    for _ in 0..node.count {
        rest = read_set(rest)?.1;
    }
    Some(arena.len() - rest.len())
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
    negative_soa: OwnedSet,
    arena: Box<[u8]>,
    table: Table,
    /// (address, node offset) of every A record at a name that is not a wildcard,
    /// by address then name.
    v4: Box<[(u32, u32)]>,
    /// The same for AAAA records (addresses as big-endian bytes).
    v6: Box<[([u8; 16], u32)]>,
    /// Records in the zone, as the config and files gave them (duplicates dropped).
    records: usize,
    /// What the zone took of `zone_records_max`: the records it was given.
    budgeted: usize,
    /// The apex SOA is the one `build` writes (no SOA record was given).
    pub soa_synthesized: bool,
}

impl Zone {
    /// The node of `name` (lower-case wire, at or below the apex).
    pub fn node(&self, name: &[u8]) -> Option<Node<'_>> {
        let relative = self.relative(name)?;
        let offset = self
            .table
            .find(relative, |offset| node_name(&self.arena, offset))?;
        node_at(&self.arena, offset)
    }

    /// Every record set with its owner's full name (lower-case wire), in the
    /// arena's order: what a zone transfer sends.
    pub fn each_set(&self, mut visit: impl FnMut(&[u8], RecordSet<'_>)) {
        let mut offset = 0;
        while let Some(next) = self.visit_node(offset, &mut visit) {
            offset = next;
        }
    }

    /// Visits the record sets of the node at arena `offset` (0: the first),
    /// as [`Zone::each_set`] does; returns the offset of the next node, `None`
    /// past the last.
    pub fn visit_node(
        &self,
        offset: usize,
        mut visit: impl FnMut(&[u8], RecordSet<'_>),
    ) -> Option<usize> {
        let at = u32::try_from(offset).ok()?;
        let relative = node_name(&self.arena, at)?;
        let node = node_at(&self.arena, at)?;
        let end = node_end(&self.arena, at)?;
        let mut name = [0u8; crate::dns::wire::NAME_BYTES_MAX];
        let full = name.get_mut(..relative.len() + self.apex.len())?;
        full[..relative.len()].copy_from_slice(relative);
        full[relative.len()..].copy_from_slice(&self.apex);
        for set in node.sets() {
            visit(full, set);
        }
        Some(end)
    }

    /// The serial of the apex SOA, when the zone has one.
    pub fn serial(&self) -> Option<u32> {
        let set = self.node(&self.apex)?.set(TYPE_SOA)?;
        let rdata = set.rdatas().next()?;
        let at = rdata.len().checked_sub(20)?;
        let serial = rdata.get(at..at + 4)?;
        Some(u32::from_be_bytes([
            serial[0], serial[1], serial[2], serial[3],
        ]))
    }

    /// Writes `serial` into the apex SOA and the negative answers' copy (for
    /// `xfr::Serials`, before the zone is served).
    pub fn set_serial(&mut self, serial: u32) {
        let soa = self
            .node(&self.apex)
            .and_then(|node| node.set(TYPE_SOA))
            .and_then(|set| set.rdatas().next());
        // Where the SOA's data lies in the arena: the serial is 20 bytes from its end.
        let end =
            soa.map(|rdata| rdata.as_ptr() as usize + rdata.len() - self.arena.as_ptr() as usize);
        let bytes = serial.to_be_bytes();
        let negative_end = Some(self.negative_soa.data.len());
        for (data, end) in [
            (&mut self.arena, end),
            (&mut self.negative_soa.data, negative_end),
        ] {
            if let Some(field) = end
                .and_then(|end| end.checked_sub(20))
                .and_then(|at| data.get_mut(at..at + 4))
            {
                field.copy_from_slice(&bytes);
            }
        }
    }

    /// A digest (64-bit FNV-1a) of every record of the zone but the apex SOA's
    /// serial: the same records give the same digest (`xfr::Serials`).
    pub fn digest(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &byte in bytes {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        self.each_set(|name, set| {
            eat(name);
            eat(&set.rtype.to_be_bytes());
            eat(&set.ttl.to_be_bytes());
            for rdata in set.rdatas() {
                eat(&(rdata.len() as u16).to_be_bytes());
                let serial_at = rdata.len().saturating_sub(20);
                if set.rtype == TYPE_SOA && name == &*self.apex {
                    eat(&rdata[..serial_at]);
                    eat(rdata.get(serial_at + 4..).unwrap_or_default());
                } else {
                    eat(rdata);
                }
            }
        });
        hash
    }

    pub fn negative_soa(&self) -> RecordSet<'_> {
        self.negative_soa.view()
    }

    /// Records in the zone.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Bytes of memory the zone's data takes: arena, table and addresses.
    pub fn bytes(&self) -> usize {
        self.arena.len()
            + self.table.bytes()
            + self.v4.len() * std::mem::size_of::<(u32, u32)>()
            + self.v6.len() * std::mem::size_of::<([u8; 16], u32)>()
    }

    /// `name` without the apex, when it lies at or below it (label-aligned).
    fn relative<'n>(&self, name: &'n [u8]) -> Option<&'n [u8]> {
        let cut = name.len().checked_sub(self.apex.len())?;
        if name.get(cut..)? != &*self.apex {
            return None;
        }
        let mut at = 0;
        while at < cut {
            at += 1 + usize::from(name[at]);
        }
        (at == cut).then(|| &name[..cut])
    }

    /// Calls `visit` with the full name and TTL of every name with an A or AAAA
    /// record for `ip`; returns how many there were.
    fn owners_of(&self, ip: IpAddr, visit: &mut dyn FnMut(&[u8], u32)) -> usize {
        match ip {
            IpAddr::V4(v4) => {
                let key = u32::from(v4);
                let at = self.v4.partition_point(|(a, _)| *a < key);
                let found = self.v4.get(at..).unwrap_or_default();
                let offsets = found.iter().take_while(|(a, _)| *a == key);
                self.visit_owners(offsets.map(|(_, o)| *o), TYPE_A, visit)
            }
            IpAddr::V6(v6) => {
                let key = v6.octets();
                let at = self.v6.partition_point(|(a, _)| *a < key);
                let found = self.v6.get(at..).unwrap_or_default();
                let offsets = found.iter().take_while(|(a, _)| *a == key);
                self.visit_owners(offsets.map(|(_, o)| *o), TYPE_AAAA, visit)
            }
        }
    }

    fn visit_owners(
        &self,
        offsets: impl Iterator<Item = u32>,
        rtype: u16,
        visit: &mut dyn FnMut(&[u8], u32),
    ) -> usize {
        let mut name = [0u8; crate::dns::wire::NAME_BYTES_MAX];
        let mut visited = 0;
        for offset in offsets {
            let (Some(relative), Some(node)) =
                (node_name(&self.arena, offset), node_at(&self.arena, offset))
            else {
                continue;
            };
            let len = relative.len() + self.apex.len();
            let (Some(ttl), Some(full)) = (node.set(rtype).map(|s| s.ttl), name.get_mut(..len))
            else {
                continue;
            };
            full[..relative.len()].copy_from_slice(relative);
            full[relative.len()..].copy_from_slice(&self.apex);
            visit(full, ttl);
            visited += 1;
        }
        visited
    }

    /// True when some A/AAAA address of the zone lies in `first..=last`.
    fn any_address_in(&self, first: IpAddr, last: IpAddr) -> bool {
        match (first, last) {
            (IpAddr::V4(first), IpAddr::V4(last)) => {
                let (first, last) = (u32::from(first), u32::from(last));
                let at = self.v4.partition_point(|(a, _)| *a < first);
                self.v4.get(at).is_some_and(|(a, _)| *a <= last)
            }
            (IpAddr::V6(first), IpAddr::V6(last)) => {
                let (first, last) = (first.octets(), last.octets());
                let at = self.v6.partition_point(|(a, _)| *a < first);
                self.v6.get(at).is_some_and(|(a, _)| *a <= last)
            }
            _ => false,
        }
    }
}

/// Every local zone; PTR answers come from their A/AAAA records. Zones are
/// shared: a runtime record rebuilds its own zone and keeps the others.
#[derive(Clone, Debug, Default)]
pub struct Zones {
    /// Each zone's index under its apex (the same [`Table`] and hash as a zone's
    /// names: a lookup is one multiply-rotate hash, where SipHash took 9 % of the
    /// answer path's user time).
    by_apex: Table,
    /// Bit `n` set when some apex is `n` bytes long (wire form): a suffix of a
    /// query name with no such length is not looked up at all, so a forwarded
    /// name usually costs no lookup here.
    apex_lengths: [u64; 4],
    zones: Vec<Arc<Zone>>,
    /// The first zone with `ip_names`: reverse queries for private addresses
    /// answer a name in it.
    ip_names_zone: Option<usize>,
}

impl Zones {
    /// The most specific zone containing `name` (lower-case wire).
    pub fn find(&self, name: &[u8]) -> Option<&Zone> {
        suffixes(name)
            .filter(|suffix| self.has_apex_length(suffix.len()))
            .find_map(|suffix| self.by_apex.find(suffix, |i| self.apex(i)))
            .and_then(|i| self.zones.get(i as usize))
            .map(|zone| &**zone)
    }

    /// The zone whose apex is `apex`, to change before it is shared.
    pub fn zone_mut(&mut self, apex: &[u8]) -> Option<&mut Arc<Zone>> {
        let index = self.by_apex.find(apex, |i| self.apex(i))?;
        self.zones.get_mut(index as usize)
    }

    fn apex(&self, index: u32) -> Option<&[u8]> {
        self.zones.get(index as usize).map(|zone| &*zone.apex)
    }

    fn has_apex_length(&self, len: usize) -> bool {
        self.apex_lengths
            .get(len / 64)
            .is_some_and(|bits| bits & (1 << (len % 64)) != 0)
    }

    /// Adds `zone` under its apex; `false` (and nothing added) when a zone with
    /// that apex is there already.
    fn push(&mut self, zone: Zone) -> bool {
        let len = zone.apex.len();
        if self.by_apex.find(&zone.apex, |i| self.apex(i)).is_some() {
            return false;
        }
        let Ok(index) = u32::try_from(self.zones.len()) else {
            return false;
        };
        let Self { by_apex, zones, .. } = self;
        let key_at = |i: u32| zones.get(i as usize).map(|zone| &*zone.apex);
        by_apex.insert(&zone.apex, index, key_at);
        if let Some(bits) = self.apex_lengths.get_mut(len / 64) {
            *bits |= 1 << (len % 64);
        }
        self.zones.push(Arc::new(zone));
        true
    }

    /// Calls `visit` with the name and TTL of every zone name whose A or AAAA
    /// record holds `ip` (the data of its synthesized PTRs); returns how many.
    pub fn ptr_owners(&self, ip: IpAddr, mut visit: impl FnMut(&[u8], u32)) -> usize {
        self.zones
            .iter()
            .map(|zone| zone.owners_of(ip, &mut visit))
            .sum()
    }

    /// True when a zone has an A/AAAA record for an address in `first..=last`.
    pub fn any_address_in(&self, first: IpAddr, last: IpAddr) -> bool {
        self.zones.iter().any(|z| z.any_address_in(first, last))
    }

    /// The zone whose names reverse queries for private addresses answer.
    pub fn ip_names_zone(&self) -> Option<&Zone> {
        self.ip_names_zone
            .and_then(|i| self.zones.get(i))
            .map(|zone| &**zone)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Zone> {
        self.zones.iter().map(|zone| &**zone)
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

/// Appends one record's type, class, TTL, data length and data (the wire form
/// after its owner name).
pub fn push_record(out: &mut Vec<u8>, rtype: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    push_rdata(out, rdata);
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
