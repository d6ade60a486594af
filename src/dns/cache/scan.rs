//! The scanner of upstream responses: what the cache may keep of one, and for how
//! long.
//!
//! Owns the checks an upstream response passes before any of it is stored: the
//! header (a NOERROR or NXDOMAIN response to a query, TC=0, one question), the
//! question (the one asked), every name and record of the answer and authority
//! sections (the part stored), and the framing of the additional section and its
//! OPT (not stored). It finds where each stored TTL field is, the lowest TTLs,
//! the negative TTL of the authority SOA (RFC 2308), and whether the answer
//! section has a CNAME. Invariant: a response scans
//! only if every compression pointer in the stored part aims strictly backwards at
//! a label start already seen in the question, answer or authority section, so a
//! replay never loops, never reaches the header or the dropped additional section,
//! and decodes to names of at most 255 bytes. Nothing from the network can panic
//! here.

use std::ops::Range;

use super::NEGATIVE_TTL_MAX_SECS;
use crate::dns::wire::{HEADER_BYTES, NAME_BYTES_MAX, RCODE_NOERROR, RCODE_NXDOMAIN};
use crate::dns::wire::{TYPE_CNAME, TYPE_OPT, TYPE_SOA};

/// A DNS message never exceeds this (TCP length prefix), so offsets fit a `u16`.
const MESSAGE_BYTES_MAX: usize = 65_535;
/// A TTL field with the top bit set counts as 0 (RFC 2181 §8).
const TTL_FIELD_MAX: u32 = (1 << 31) - 1;
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const OPCODE_MASK: u16 = 0x7800;
const RCODE_MASK: u16 = 0x000F;

/// What a response holds, once every record in it has been checked.
pub(super) struct Scanned {
    pub(super) rcode: u8,
    pub(super) answers: u16,
    pub(super) authorities: u16,
    /// The answer and authority sections: the bytes stored.
    pub(super) records: Range<usize>,
    /// Offsets of the TTL fields, relative to `records.start`.
    pub(super) ttl_offsets: Vec<u16>,
    /// The answer section holds a CNAME (its chain is checked against the
    /// blocklists at every replay: `dns::answer::cloaked`).
    pub(super) cname: bool,
    /// Lowest TTL of the answer records, and of all stored records.
    answer_ttl_min: u32,
    ttl_min: u32,
    /// Lowest min(TTL, MINIMUM) of the authority section's SOAs (RFC 2308 §5).
    soa_ttl: Option<u32>,
}

impl Scanned {
    /// Seconds the response may be cached (0: not at all). Positive answers live
    /// for their lowest TTL clamped to `ttl_min..=ttl_max`; negative ones (NXDOMAIN,
    /// or no answer) for the authority SOA's negative TTL (no SOA, no caching), at
    /// most `NEGATIVE_TTL_MAX_SECS`, `negative_ttl_cap` and the TTL of any answer
    /// record (a CNAME before the NXDOMAIN).
    pub(super) fn ttl(&self, ttl_min: u32, ttl_max: u32, negative_ttl_cap: Option<u32>) -> u32 {
        let negative = self.rcode == RCODE_NXDOMAIN || self.answers == 0;
        if !negative {
            return self.ttl_min.max(ttl_min).min(ttl_max);
        }
        self.soa_ttl.map_or(0, |soa_ttl| {
            soa_ttl
                .min(NEGATIVE_TTL_MAX_SECS)
                .min(self.answer_ttl_min)
                .min(negative_ttl_cap.unwrap_or(u32::MAX))
        })
    }

    /// Takes the checked record of the answer (`in_answer`) or authority section
    /// into the TTL offsets and minimums. `None` if its TTL field is out of reach
    /// of a `u16` offset or its SOA lacks the MINIMUM field.
    fn add(&mut self, response: &[u8], record: &Record, in_answer: bool) -> Option<()> {
        let ttl = if record.ttl > TTL_FIELD_MAX {
            0
        } else {
            record.ttl
        };
        let offset = u16::try_from(record.ttl_at - self.records.start).ok()?;
        self.ttl_offsets.push(offset);
        self.ttl_min = self.ttl_min.min(ttl);
        if in_answer {
            self.answer_ttl_min = self.answer_ttl_min.min(ttl);
        } else if record.rtype == TYPE_SOA {
            let minimum = response.get(record.end - 4..record.end)?;
            let minimum = u32::from_be_bytes([minimum[0], minimum[1], minimum[2], minimum[3]]);
            let negative = ttl.min(minimum);
            self.soa_ttl = Some(self.soa_ttl.map_or(negative, |t| t.min(negative)));
        }
        Some(())
    }
}

/// Checks a whole upstream response: header, the question (`name`, `qtype`,
/// `qclass`), every name and record of the answer and authority sections, and the
/// additional section's framing and OPT. `None` for anything not to be cached.
pub(super) fn scan(response: &[u8], name: &[u8], qtype: u16, qclass: u16) -> Option<Scanned> {
    if response.len() > MESSAGE_BYTES_MAX {
        return None;
    }
    let header = Header::read(response)?;
    let mut names = Names::default();
    let start = question_end(response, &mut names, name, qtype, qclass)?;
    let mut scanned = Scanned {
        rcode: header.rcode,
        answers: header.answers,
        authorities: header.authorities,
        records: start..start,
        ttl_offsets: Vec::new(),
        cname: false,
        answer_ttl_min: u32::MAX,
        ttl_min: u32::MAX,
        soa_ttl: None,
    };
    let mut pos = start;
    for i in 0..usize::from(header.answers) + usize::from(header.authorities) {
        let record = read_record(response, pos, &mut names)?;
        // An OPT's "TTL" holds flags: it belongs in the additional section only.
        if record.rtype == TYPE_OPT {
            return None;
        }
        let in_answer = i < usize::from(header.answers);
        scanned.cname |= in_answer && record.rtype == TYPE_CNAME;
        scanned.add(response, &record, in_answer)?;
        pos = record.end;
    }
    scanned.records.end = pos;
    check_additional(response, pos, header.additionals)?;
    Some(scanned)
}

/// The header fields the scan needs, from a response that may be cached.
struct Header {
    rcode: u8,
    answers: u16,
    authorities: u16,
    additionals: u16,
}

impl Header {
    /// `None` unless the message is a response (QR=1) to a standard query, not
    /// truncated, NOERROR or NXDOMAIN, with exactly one question.
    fn read(message: &[u8]) -> Option<Header> {
        let header = message.get(..HEADER_BYTES)?;
        let word = |i: usize| u16::from_be_bytes([header[2 * i], header[2 * i + 1]]);
        let flags = word(1);
        let rcode = (flags & RCODE_MASK) as u8;
        if flags & FLAG_QR == 0
            || flags & (FLAG_TC | OPCODE_MASK) != 0
            || !matches!(rcode, RCODE_NOERROR | RCODE_NXDOMAIN)
            || word(2) != 1
        {
            return None;
        }
        Some(Header {
            rcode,
            answers: word(3),
            authorities: word(4),
            additionals: word(5),
        })
    }
}

/// Checks that the question is `name` (any letter case), `qtype`, `qclass`, and
/// returns where the answer section starts.
fn question_end(
    response: &[u8],
    names: &mut Names,
    name: &[u8],
    qtype: u16,
    qclass: u16,
) -> Option<usize> {
    let name_end = names.read(response, HEADER_BYTES)?;
    if !response
        .get(HEADER_BYTES..name_end)?
        .eq_ignore_ascii_case(name)
    {
        return None;
    }
    let question_type = response.get(name_end..name_end + 4)?;
    if question_type != [qtype.to_be_bytes(), qclass.to_be_bytes()].as_flattened() {
        return None;
    }
    Some(name_end + 4)
}

/// The additional section from `pos`: not stored, but a response must parse whole,
/// and an extended RCODE in the OPT (RFC 6891 §6.1.3) means it is neither NOERROR
/// nor NXDOMAIN.
fn check_additional(response: &[u8], mut pos: usize, additionals: u16) -> Option<()> {
    for _ in 0..additionals {
        let (end, rtype, ttl) = skip_record(response, pos)?;
        if rtype == TYPE_OPT && ttl >> 24 != 0 {
            return None;
        }
        pos = end;
    }
    Some(())
}

/// One record of the answer or authority section, checked.
struct Record {
    /// Position after it.
    end: usize,
    rtype: u16,
    /// Position of its TTL field.
    ttl_at: usize,
    ttl: u32,
}

/// Reads the record at `pos`: its owner name, fixed fields, and the names inside the
/// RDATA of the types known to hold them (which must fill the RDATA exactly).
fn read_record(message: &[u8], pos: usize, names: &mut Names) -> Option<Record> {
    let type_at = names.read(message, pos)?;
    let fixed = message.get(type_at..type_at + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let rdata_start = type_at + 10;
    let end = rdata_start + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    // Names in the RDATA must end inside it.
    let message = message.get(..end)?;
    if let Some((prefix_bytes, name_count, tail_bytes)) = rdata_names(rtype) {
        let mut at = rdata_start + prefix_bytes;
        for _ in 0..name_count {
            at = names.read(message, at)?;
        }
        if tail_bytes.is_some_and(|tail| at + tail != end) {
            return None;
        }
    }
    Some(Record {
        end,
        rtype,
        ttl_at: type_at + 4,
        ttl,
    })
}

/// Where the RDATA of `rtype` holds names (which a server may compress or point
/// at): fixed bytes before them, how many, and the exact bytes after them (`None`:
/// opaque data of any length). `None` for types without names.
fn rdata_names(rtype: u16) -> Option<(usize, usize, Option<usize>)> {
    Some(match rtype {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME.
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => (0, 1, Some(0)),
        // SOA: MNAME, RNAME, then serial, refresh, retry, expire, minimum.
        6 => (0, 2, Some(20)),
        // MINFO, RP.
        14 | 17 => (0, 2, Some(0)),
        // MX, AFSDB, RT, KX: a preference, then a host.
        15 | 18 | 21 | 36 => (2, 1, Some(0)),
        // PX: a preference, then two names.
        26 => (2, 2, Some(0)),
        // SRV: priority, weight, port, target.
        33 => (6, 1, Some(0)),
        // RRSIG: 18 fixed bytes, the signer, the signature.
        46 => (18, 1, None),
        // NSEC: the next name, the type bitmap.
        47 => (0, 1, None),
        _ => return None,
    })
}

/// Skips a record of the additional section (not stored, so its names are only
/// framed, not resolved): the position after it, its type and TTL.
fn skip_record(message: &[u8], mut pos: usize) -> Option<(usize, u16, u32)> {
    loop {
        match *message.get(pos)? {
            0 => {
                pos += 1;
                break;
            }
            len @ 1..=63 => pos += 1 + usize::from(len),
            0xC0..=0xFF => {
                pos += 2;
                break;
            }
            _ => return None,
        }
    }
    let fixed = message.get(pos..pos + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let end = pos + 10 + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    (end <= message.len()).then_some((end, rtype, ttl))
}

/// The label starts seen so far in a message's names, in message order, each with
/// the decoded length of the name from there to the root. A compression pointer is
/// accepted only when it aims at one of an earlier name's labels: it then cannot
/// loop, cannot reach the header or anything not yet checked, and the length of the
/// name it completes is known without following it.
#[derive(Default)]
struct Names {
    labels: Vec<(u16, u8)>,
}

impl Names {
    /// Checks the name at `pos` in `message` and returns the position after it.
    fn read(&mut self, message: &[u8], mut pos: usize) -> Option<usize> {
        let first = self.labels.len();
        let mut literal_bytes = 0usize;
        let (end, tail_bytes) = loop {
            let len = *message.get(pos)?;
            match len {
                0 => break (pos + 1, 1),
                1..=63 => {
                    let len = usize::from(len);
                    // At least the root byte follows.
                    if literal_bytes + 1 + len >= NAME_BYTES_MAX {
                        return None;
                    }
                    message.get(pos + len)?;
                    let offset = u8::try_from(literal_bytes).ok()?;
                    self.labels.push((u16::try_from(pos).ok()?, offset));
                    literal_bytes += 1 + len;
                    pos += 1 + len;
                }
                0xC0..=0xFF => {
                    let low = *message.get(pos + 1)?;
                    let target = usize::from(len & 0x3F) << 8 | usize::from(low);
                    let earlier = self.labels.get(..first)?;
                    let at = earlier
                        .binary_search_by_key(&target, |&(start, _)| usize::from(start))
                        .ok()?;
                    break (pos + 2, usize::from(earlier.get(at)?.1));
                }
                // The 0x40 and 0x80 label types are obsolete or reserved.
                _ => return None,
            }
        };
        let total = literal_bytes + tail_bytes;
        if total > NAME_BYTES_MAX {
            return None;
        }
        for label in self.labels.get_mut(first..)? {
            label.1 = u8::try_from(total - usize::from(label.1)).ok()?;
        }
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    use hickory_proto::op::{Edns, ResponseCode};
    use hickory_proto::rr::RecordType;

    use crate::dns::cache::testing::{Case, NOW, a, a_response, cname, message, nxdomain, soa};
    use crate::dns::cache::{Cache, Hit};
    use crate::dns::wire::{CLASS_IN, TYPE_A};

    #[test]
    fn negative_answers_live_by_the_soa() {
        let cache = Cache::new(1000, 1 << 20, 300, 600);
        // min(SOA TTL 900, MINIMUM 60); ttl_min is for positive answers only.
        let case = Case::of(&nxdomain("nope.example.com.", 900, 60));
        assert!(case.insert(&cache, NOW));
        let (hit, _) = case.replay(&cache, NOW, false).unwrap();
        let stale = false;
        assert_eq!(
            hit,
            Hit {
                rcode: RCODE_NXDOMAIN,
                answers: 0,
                authorities: 1,
                stale,
                cname: false,
            }
        );
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [60]);
        assert_eq!(case.ttls(&cache, NOW + 60), None);
        // At most an hour, and at most the caller's cap.
        let case = Case::of(&nxdomain("nope.example.com.", 86400, 86400));
        assert!(case.insert(&cache, NOW));
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [3600]);
        assert!(case.insert_capped(&cache, NOW, Some(5)));
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [5]);
        // A CNAME to a name that does not exist: the CNAME's TTL bounds it too.
        let mut m = nxdomain("alias.example.com.", 900, 600);
        m.add_answer(cname("alias.example.com.", 20, "gone.example.com."));
        let case = Case::of(&m);
        assert!(case.insert(&cache, NOW));
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [20, 20]);
        // NODATA with a SOA.
        let mut m = message("www.example.com.", RecordType::AAAA, ResponseCode::NoError);
        m.add_authority(soa("example.com.", 900, 120));
        let case = Case::of(&m);
        assert!(case.insert(&cache, NOW));
        let (hit, _) = case.replay(&cache, NOW, false).unwrap();
        assert_eq!(
            (hit.rcode, hit.answers, hit.authorities),
            (RCODE_NOERROR, 0, 1)
        );
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [120]);
        // A TTL of 0 is not cached.
        assert!(!Case::of(&nxdomain("zero.example.com.", 0, 60)).insert(&cache, NOW));
    }

    #[test]
    fn uncacheable_responses_are_refused() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let qname = "www.example.com.";
        let nodata = message(qname, RecordType::A, ResponseCode::NoError);
        assert!(!Case::of(&nodata).insert(&cache, NOW), "NODATA without SOA");
        let nx = message(qname, RecordType::A, ResponseCode::NXDomain);
        assert!(!Case::of(&nx).insert(&cache, NOW), "NXDOMAIN without SOA");
        // BADVERS is NOERROR in the header and 16 with the OPT's high bits.
        use ResponseCode::{BADVERS, FormErr, Refused, ServFail};
        for rcode in [ServFail, Refused, FormErr, BADVERS] {
            let mut m = message(qname, RecordType::A, rcode);
            m.add_answer(a(qname, 300, [192, 0, 2, 1]));
            m.set_edns(Edns::new());
            assert!(!Case::of(&m).insert(&cache, NOW), "{rcode:?}");
        }
        let good = Case::of(&a_response(qname, 300));
        let mut truncated = good.clone();
        truncated.response[2] |= 0x02;
        assert!(!truncated.insert(&cache, NOW), "TC=1");
        let mut query = good.clone();
        query.response[2] &= 0x7F;
        assert!(!query.insert(&cache, NOW), "QR=0");
        // Another question than the one asked.
        let other = Case {
            qname: b"\x05other\x07example\x03com\x00".to_vec(),
            ..good.clone()
        };
        assert!(!other.insert(&cache, NOW));
        assert!(!Case { qtype: 28, ..good }.insert(&cache, NOW));
        assert!(cache.is_empty());
    }

    #[test]
    fn ttls_are_clamped() {
        let cache = Cache::new(1000, 1 << 20, 60, 100);
        let short = Case::of(&a_response("short.example.com.", 5));
        assert!(short.insert(&cache, NOW));
        assert_eq!(short.ttls(&cache, NOW).unwrap(), [60, 60, 60]);
        let long = Case::of(&a_response("long.example.com.", 300));
        assert!(long.insert(&cache, NOW));
        assert_eq!(long.ttls(&cache, NOW + 1).unwrap(), [99, 99, 99]);
        // RFC 2181 §8: a TTL with the top bit set is 0, then clamped.
        let mut huge = Case::of(&a_response("huge.example.com.", 300));
        let ttl_at = huge.question_end() + 6;
        huge.response[ttl_at] = 0x80;
        assert!(huge.insert(&cache, NOW));
        assert_eq!(huge.ttls(&cache, NOW).unwrap(), [60, 60, 60]);
        assert!(!huge.insert(&Cache::new(1000, 1 << 20, 0, 86400), NOW));
    }

    /// Header and question `\x01a\x00` A IN (bytes 12..19) with `an` answers and `ar`
    /// additional records, then `records`.
    fn hand_made(an: u8, ar: u8, records: &[u8]) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, an, 0, 0, 0, ar];
        p.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        p.extend_from_slice(records);
        p
    }

    fn record(owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut r = owner.to_vec();
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 1, 0x2C]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    #[test]
    fn hostile_names_are_refused() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let insert = |response: &[u8]| {
            cache.insert(b"\x01a\x00", TYPE_A, CLASS_IN, false, response, NOW, None)
        };
        let a_at = |owner: &[u8]| record(owner, TYPE_A, &[192, 0, 2, 1]);
        // Records start at 19; a record owned by a pointer is 16 bytes long.
        assert!(
            insert(&hand_made(1, 0, &a_at(b"\xC0\x0C"))),
            "the base case"
        );
        // A CNAME's target (its label at 31) may be pointed at.
        let chain = [record(b"\xC0\x0C", 5, b"\x01b\xC0\x0C"), a_at(b"\xC0\x1F")].concat();
        assert!(insert(&hand_made(2, 0, &chain)));
        let cname_to = |target: &[u8]| record(b"\xC0\x0C", 5, target);
        // Pointing at the owner of the next record (at 35).
        let pointing_ahead = [a_at(b"\xC0\x23"), a_at(b"\x01x\x00")].concat();
        let into_txt = [record(b"\xC0\x0C", 16, b"\x01x\x00"), a_at(b"\xC0\x1F")].concat();
        let cases: [(&str, u8, u8, Vec<u8>); 16] = [
            ("pointer to itself", 1, 0, a_at(b"\xC0\x13")),
            ("pointer into the header", 1, 0, a_at(b"\xC0\x00")),
            ("pointer to offset 11", 1, 0, a_at(b"\xC0\x0B")),
            ("pointer into the question's type", 1, 0, a_at(b"\xC0\x0F")),
            ("pointer to the question's root", 1, 0, a_at(b"\xC0\x0E")),
            ("pointer into the additional", 1, 1, pointing_ahead.clone()),
            ("forward pointer", 2, 0, pointing_ahead),
            ("pointer into TXT data", 2, 0, into_txt),
            ("pointer within its own name", 1, 0, a_at(b"\x01b\xC0\x13")),
            (
                "CNAME target pointing at itself",
                1,
                0,
                cname_to(b"\x01b\xC0\x21"),
            ),
            ("extended label type", 1, 0, a_at(b"\x41b\x00")),
            ("CNAME target past its RDATA", 1, 0, cname_to(b"\x05b")),
            (
                "bytes after the CNAME target",
                1,
                0,
                cname_to(b"\x01b\x00\x00"),
            ),
            (
                "SOA without its numbers",
                1,
                0,
                record(b"\x00", TYPE_SOA, b"\x00\x00"),
            ),
            ("OPT in the answer", 1, 0, record(b"\x00", TYPE_OPT, &[])),
            ("more records counted than sent", 2, 0, a_at(b"\xC0\x0C")),
        ];
        for (what, an, ar, records) in cases {
            assert!(!insert(&hand_made(an, ar, &records)), "{what}");
        }
        // Names that grow past 255 bytes through pointers: each record adds a 63-byte
        // label to the previous owner (the first owner: two labels then `a.`).
        let label63 = |tail: &[u8]| [&[63][..], &[b'x'; 63], tail].concat();
        let pointer = |at: usize| (0xC000 | at as u16).to_be_bytes();
        let first = record(&label63(&label63(&pointer(12))), 16, &[]); // 131 bytes decoded
        let second = record(&label63(&pointer(19)), 16, &[]); // 195
        let third = record(&label63(&pointer(19 + first.len())), 16, &[]); // 259
        let two = [first.clone(), second.clone()].concat();
        assert!(insert(&hand_made(2, 0, &two)));
        assert!(!insert(&hand_made(3, 0, &[first, second, third].concat())));
    }

    #[test]
    fn malformed_responses_never_panic() {
        let cache = Cache::new(100, 1 << 16, 0, 86400);
        let mut nx = nxdomain("nope.example.com.", 900, 60);
        nx.add_answer(cname("nope.example.com.", 20, "x.example.com."));
        nx.set_edns(Edns::new());
        for valid in [
            Case::of(&a_response("www.example.com.", 300)),
            Case::of(&nx),
        ] {
            assert!(valid.insert(&cache, NOW));
            for n in 0..valid.response.len() {
                let mut cut = valid.clone();
                cut.response.truncate(n);
                assert!(!cut.insert(&cache, NOW), "cut at {n}");
            }
            for i in 0..valid.response.len() {
                for value in [0u8, 1, 2, 0x3F, 0x40, 0x80, 0xC0, 0xC0 | 12, 0xFF] {
                    let mut bad = valid.clone();
                    bad.response[i] = value;
                    if bad.insert(&cache, NOW) {
                        let (_, out) = bad.replay(&cache, NOW, false).unwrap();
                        assert!(out.len() <= bad.response.len());
                    }
                    // And a pointer just after it.
                    for j in [i + 1, i + 2, i + 7] {
                        if let Some(byte) = bad.response.get_mut(j) {
                            *byte = 0xC0;
                            bad.insert(&cache, NOW);
                        }
                    }
                }
            }
        }
        assert!(cache.len() <= 100 && cache.bytes() <= 1 << 16);
    }
}
