//! The message writer: records into a response buffer with name compression,
//! and [`finish`], where every response (local, cached, relayed) gets its
//! truncation, OPT, flags and counts. Never allocates; never panics on the data it
//! is given (record sets were encoded at load time, upstream bytes were checked).

use std::mem::MaybeUninit;

use crate::dns::answer::{Outcome, Transport};
use crate::dns::wire::{self, HEADER_BYTES, Query, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL};
use crate::dns::wire::{CLASS_IN, TYPE_CNAME, TYPE_MX, TYPE_NS, TYPE_PTR, TYPE_SOA};
use crate::dns::zone::{self, RecordSet, Zone};

/// A TCP response carries at most 65 535 bytes (two-byte length prefix).
const TCP_MESSAGE_BYTES_MAX: usize = 65_535;
/// Names remembered for compression in one response; more just stay uncompressed.
const COMPRESSION_NAMES_MAX: usize = 48;
/// Compression pointers address the first 16 KiB of a message (14-bit offsets).
const POINTER_OFFSET_MAX: usize = 0x3FFF;

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
    let opt_bytes = if query.edns.is_some() {
        wire::OPT_BYTES
    } else {
        0
    };
    let truncated = out.len() + opt_bytes > limit;
    let [mut answers, mut authorities] = counts;
    if truncated {
        out.truncate(query.question_end);
        (answers, authorities) = (0, 0);
    }
    if let Some(edns) = query.edns {
        wire::write_opt(out, extended_rcode, edns.dnssec_ok);
    }
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    wire::set_counts(out, answers, authorities, u16::from(query.edns.is_some()));
    if truncated {
        wire::set_truncated(out);
    }
}

/// Passes on an upstream answer the cache did not keep (SERVFAIL, NODATA without
/// SOA...): `out` holds our header and the client's question; the upstream's
/// answer and authority sections follow it (the upstream's question has the
/// same layout, so its compression pointers stay valid), then [`finish`]. False
/// when the upstream message does not walk.
pub(super) fn relay(
    response: &[u8],
    query: &Query,
    transport: Transport,
    out: &mut Vec<u8>,
) -> bool {
    let question_end = query.question_end;
    if response.len() < question_end || out.len() != question_end {
        return false;
    }
    let count = |i: usize| u16::from_be_bytes([response[4 + 2 * i], response[5 + 2 * i]]);
    let (answers, authorities) = (count(1), count(2));
    let records = usize::from(answers) + usize::from(authorities);
    let Some(end) = wire::skip_records(response, question_end, records) else {
        return false;
    };
    let rcode = upstream_rcode(response);
    let flags = wire::response_flags(query.flags, false, true, rcode);
    out.extend_from_slice(&response[question_end..end]);
    finish(out, query, transport, [answers, authorities], flags, 0);
    true
}

/// The RCODE an upstream's `answer` (at least a header) gives our client:
/// its own when NOERROR or NXDOMAIN, else SERVFAIL.
pub(super) fn upstream_rcode(answer: &[u8]) -> u8 {
    let rcode = answer[3] & 0x0f;
    if matches!(rcode, RCODE_NOERROR | RCODE_NXDOMAIN) {
        rcode
    } else {
        RCODE_SERVFAIL
    }
}

/// Room for the names a response remembers for compression.
pub(super) type Names<'d> = [MaybeUninit<(&'d [u8], u16)>; COMPRESSION_NAMES_MAX];

/// Empty room for [`Names`]: nothing is written.
pub(super) fn no_names<'d>() -> Names<'d> {
    [MaybeUninit::uninit(); COMPRESSION_NAMES_MAX]
}

/// A response being written, with the names already in it for compression.
pub(super) struct Message<'o, 'd> {
    pub out: &'o mut Vec<u8>,
    /// The first `name_count` are set. The caller's [`Names`], left
    /// uninitialized beyond: writing all 48 (1.2 KB) for every answer, and
    /// copying them when `new` returned them in the message, was over a third
    /// of the answer path's instructions.
    names: &'o mut Names<'d>,
    name_count: usize,
    /// Answer and authority records written.
    pub counts: [u16; 2],
    /// With [`Outcome::FORWARD`]: the name to ask upstream (the question's, or the
    /// target where a local CNAME chain leaves local data).
    pub forward: Option<&'d [u8]>,
    /// The zone whose SOA serial changes at run time (the delegate's): its SOA
    /// records are written with that serial.
    pub serial_of: Option<&'d crate::dns::dynamic::DynamicZone>,
}

impl<'o, 'd> Message<'o, 'd> {
    /// A message written into `out`, remembering names in `names` (fresh from
    /// [`no_names`] on the caller's stack).
    pub(super) fn new(out: &'o mut Vec<u8>, names: &'o mut Names<'d>, query: &'d Query) -> Self {
        let mut message = Self {
            out,
            names,
            name_count: 0,
            counts: [0; 2],
            forward: None,
            serial_of: None,
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
            self.names[self.name_count] = MaybeUninit::new((name, offset as u16));
            self.name_count += 1;
        }
    }

    /// The names remembered so far, with their offsets.
    #[allow(unsafe_code)]
    fn names(&self) -> &[(&'d [u8], u16)] {
        let set = &self.names[..self.name_count.min(COMPRESSION_NAMES_MAX)];
        // SAFETY: `remember` is the only writer of `names` and `name_count`: it
        // initializes `names[name_count]` before counting it, so the first
        // `name_count` elements are initialized, and `MaybeUninit<T>` has the
        // layout of `T`, so the slice may be read as `[T]`.
        unsafe { &*(std::ptr::from_ref(set) as *const [(&'d [u8], u16)]) }
    }

    /// Writes `name` (lower-case wire), pointing at the longest suffix already written.
    fn write_name(&mut self, name: &'d [u8]) {
        for suffix in zone::suffixes(name) {
            if suffix == b"\x00" {
                self.out.push(0);
                return;
            }
            if let Some(&(_, offset)) = self.names().iter().find(|(n, _)| *n == suffix) {
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
    pub(super) fn write_set(&mut self, owner: &'d [u8], set: RecordSet<'d>) {
        self.write_records(owner, set, 0);
    }

    /// Writes one synthesized answer record; `rdata` is copied as it is.
    pub(super) fn write_raw(&mut self, owner: &'d [u8], rtype: u16, ttl: u32, rdata: &[u8]) {
        self.write_name(owner);
        zone::push_record(self.out, rtype, ttl, rdata);
        self.counts[0] = self.counts[0].saturating_add(1);
    }

    /// NXDOMAIN or NODATA: the zone's SOA in the authority section (RFC 2308).
    pub(super) fn negative(&mut self, zone: &'d Zone, rcode: u8) -> Outcome {
        self.write_records(&zone.apex, zone.negative_soa(), 1);
        Outcome::local(rcode)
    }

    fn write_records(&mut self, owner: &'d [u8], set: RecordSet<'d>, section: usize) {
        for rdata in set.rdatas() {
            self.write_name(owner);
            self.write_data(set.rtype, set.ttl, rdata);
            self.counts[section] = self.counts[section].saturating_add(1);
            if set.rtype == TYPE_SOA
                && let Some(dynamic) = self.serial_of
                && owner == dynamic.apex()
            {
                // The SOA's last 20 bytes: serial, refresh, retry, expire, minimum.
                let at = self.out.len().saturating_sub(20);
                if let Some(serial) = self.out.get_mut(at..at + 4) {
                    serial.copy_from_slice(&dynamic.serial().to_be_bytes());
                }
            }
        }
    }

    /// Writes type, class, TTL, length and data of one record. Names inside the
    /// data of the RFC 1035 types are compressed too (RFC 3597 §4 forbids it for
    /// later types such as SRV, which are copied as they are).
    fn write_data(&mut self, rtype: u16, ttl: u32, rdata: &'d [u8]) {
        let (prefix_bytes, name_count) = match rtype {
            TYPE_CNAME | TYPE_NS | TYPE_PTR => (0, 1),
            TYPE_MX => (2, 1),
            TYPE_SOA => (0, 2),
            _ => {
                zone::push_record(self.out, rtype, ttl, rdata);
                return;
            }
        };
        self.out.extend_from_slice(&rtype.to_be_bytes());
        self.out.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
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
