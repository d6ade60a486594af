//! Local zones as hash tables of ready-to-copy record data.
//!
//! Owns the in-memory form of every `[[zone]]`: names in lower-case wire format as
//! hash keys, each name's record sets pre-encoded (type, class, TTL, length, data) so
//! that answering is a copy. Every lookup is a hash probe per label: a miss in a
//! 100 000-record zone costs what it costs in a 10-record zone, and nothing here scans.
//! Built once per (re)load by `build` (which checks the config's records, and
//! those of the zone's master file that `file` reads, and fills in SOA, NS and
//! empty non-terminals) and then only read, shared between DNS threads by `Arc`.

mod build;
pub mod file;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::dns::wire::CLASS_IN;

pub use build::{domain_wire, same_zone_name, zone_origin};

/// Longest CNAME chain followed inside local data before answering SERVFAIL.
pub const CNAME_HOPS_MAX: usize = 8;
/// Records one zone may hold (memory bound on a 64 MB router: about 100 bytes each).
pub const ZONE_RECORDS_MAX: usize = 200_000;

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
