//! DNS wire format at the edge: turning a received datagram into a typed [`Query`]
//! and writing the parts of a response.
//!
//! This module owns every byte-level decision about packets. It never allocates on
//! the hot path: a query is parsed into fixed-size buffers, and a response is written
//! into a caller-owned `Vec<u8>` that is reused between queries. It must never panic
//! on any input: every read is bounds-checked and a malformed packet becomes
//! [`Parsed::Drop`] or [`Parsed::Error`].

/// Longest domain name in wire format (RFC 1035 §2.3.4).
pub const NAME_BYTES_MAX: usize = 255;
/// A name of 255 bytes has at most 127 labels plus the root.
pub const LABELS_MAX: usize = 128;
/// The UDP payload size we advertise and cap answers to (DNS Flag Day 2020).
pub const EDNS_PAYLOAD_BYTES: u16 = 1232;
/// Answers without EDNS must fit the classic limit.
pub const UDP_PLAIN_BYTES_MAX: usize = 512;
/// DNS header length.
pub const HEADER_BYTES: usize = 12;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_MX: u16 = 15;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_ANY: u16 = 255;
pub const TYPE_CAA: u16 = 257;
pub const CLASS_IN: u16 = 1;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
/// Extended RCODE 16 (RFC 6891): upper 8 bits go in the OPT TTL, lower 4 are 0.
pub const RCODE_BADVERS: u16 = 16;

/// Header flag bits (second 16-bit word).
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const FLAG_CD: u16 = 0x0010;
const OPCODE_MASK: u16 = 0x7800;

/// A domain name in lower-case wire format with the offsets of its labels, so every
/// suffix (parent name) is a slice away: `suffix(i)` is itself a valid wire name.
#[derive(Clone)]
pub struct NameBuf {
    bytes: [u8; NAME_BYTES_MAX],
    len: u8,
    labels: [u8; LABELS_MAX],
    label_count: u8,
}

impl std::fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&name_to_string(self.as_bytes()))
    }
}

impl NameBuf {
    pub const fn empty() -> Self {
        Self {
            bytes: [0; NAME_BYTES_MAX],
            len: 0,
            labels: [0; LABELS_MAX],
            label_count: 0,
        }
    }

    /// Lower-cased wire bytes, ending with the root label.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Number of labels, not counting the root.
    pub fn label_count(&self) -> usize {
        usize::from(self.label_count)
    }

    /// Byte offset of label `i` (0 = leftmost).
    pub fn label_offset(&self, i: usize) -> usize {
        usize::from(self.labels[i])
    }

    /// The name with its `i` leftmost labels removed.
    pub fn suffix(&self, i: usize) -> &[u8] {
        let start = if i >= self.label_count() {
            usize::from(self.len).saturating_sub(1)
        } else {
            self.label_offset(i)
        };
        &self.bytes[start..usize::from(self.len)]
    }

    /// Parses an uncompressed name from `packet` at `pos`, lower-casing it.
    /// Returns the position after the name.
    pub fn parse(&mut self, packet: &[u8], mut pos: usize) -> Option<usize> {
        let mut len = 0usize;
        let mut count = 0usize;
        loop {
            let label_len = usize::from(*packet.get(pos)?);
            if label_len == 0 {
                if len >= NAME_BYTES_MAX {
                    return None;
                }
                self.bytes[len] = 0;
                self.len = u8::try_from(len + 1).ok()?;
                self.label_count = u8::try_from(count).ok()?;
                return Some(pos + 1);
            }
            // Compression pointers (0xC0) and the reserved 0x40/0x80 forms are not
            // accepted in a question: no resolver sends them there.
            if label_len > 63 || len + 1 + label_len + 1 > NAME_BYTES_MAX || count >= LABELS_MAX {
                return None;
            }
            let label = packet.get(pos + 1..pos + 1 + label_len)?;
            self.labels[count] = u8::try_from(len).ok()?;
            self.bytes[len] = packet[pos];
            for (dst, src) in self.bytes[len + 1..len + 1 + label_len]
                .iter_mut()
                .zip(label)
            {
                *dst = src.to_ascii_lowercase();
            }
            len += 1 + label_len;
            count += 1;
            pos += 1 + label_len;
        }
    }

    /// Replaces this name with `wire` (already lower-case, validated).
    pub fn set(&mut self, wire: &[u8]) -> Option<()> {
        self.parse(wire, 0).map(|_| ())
    }
}

/// Appends the name at `pos` in `message` to `out` uncompressed, following
/// compression pointers (backwards only, so no loop). Returns the position after
/// the name as it is stored at `pos`.
pub fn expand_name(message: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    let start_len = out.len();
    let mut end = None;
    loop {
        let len = *message.get(pos)?;
        match len {
            0 => {
                out.push(0);
                return (out.len() - start_len <= NAME_BYTES_MAX).then_some(end.unwrap_or(pos + 1));
            }
            l if l & 0xC0 == 0xC0 => {
                let target = usize::from(u16::from_be_bytes([l, *message.get(pos + 1)?]) & 0x3FFF);
                if target >= pos {
                    return None;
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            l if l <= 63 => {
                out.extend_from_slice(message.get(pos..pos + 1 + usize::from(l))?);
                if out.len() - start_len > NAME_BYTES_MAX {
                    return None;
                }
                pos += 1 + usize::from(l);
            }
            _ => return None,
        }
    }
}

/// The name at `pos` in `message`, following compression pointers (backwards
/// only, so no loop), lower-cased into `out`: its length there. `None` for a
/// malformed name. No allocation.
pub fn read_name_lower(
    message: &[u8],
    mut pos: usize,
    out: &mut [u8; NAME_BYTES_MAX],
) -> Option<usize> {
    let mut len = 0usize;
    loop {
        let label = *message.get(pos)?;
        match label {
            0 => {
                *out.get_mut(len)? = 0;
                return Some(len + 1);
            }
            l if l & 0xC0 == 0xC0 => {
                let target = usize::from(u16::from_be_bytes([l, *message.get(pos + 1)?]) & 0x3FFF);
                if target >= pos {
                    return None;
                }
                pos = target;
            }
            l if l <= 63 => {
                let bytes = message.get(pos..pos + 1 + usize::from(l))?;
                let copy = out.get_mut(len..len + bytes.len())?;
                for (to, from) in copy.iter_mut().zip(bytes) {
                    *to = from.to_ascii_lowercase();
                }
                len += bytes.len();
                pos += bytes.len();
            }
            _ => return None,
        }
    }
}

/// Copies `count` records from `message` at `pos` to `out` with every name in them
/// expanded (owners, and the data names of CNAME, NS, PTR, MX, SOA and SRV), so
/// they can be placed anywhere in another message. Returns the position after them.
pub fn copy_records_expanded(
    message: &[u8],
    mut pos: usize,
    count: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    for _ in 0..count {
        pos = expand_name(message, pos, out)?;
        let fixed = message.get(pos..pos + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        out.extend_from_slice(&fixed[..8]);
        let length_at = out.len();
        out.extend_from_slice(&[0, 0]);
        let data_start = pos + 10;
        let data_end = data_start + rdlength;
        let data = message.get(data_start..data_end)?;
        let (prefix, names, suffix_ok) = match rtype {
            TYPE_CNAME | TYPE_NS | TYPE_PTR => (0, 1, false),
            TYPE_MX => (2, 1, false),
            TYPE_SRV => (6, 1, false),
            TYPE_SOA => (0, 2, true),
            _ => (0, 0, true),
        };
        if names == 0 {
            out.extend_from_slice(data);
        } else {
            out.extend_from_slice(data.get(..prefix)?);
            let mut at = data_start + prefix;
            for _ in 0..names {
                at = expand_name(message, at, out)?;
            }
            if at > data_end || (!suffix_ok && at != data_end) {
                return None;
            }
            out.extend_from_slice(&message[at..data_end]);
        }
        let length = u16::try_from(out.len() - length_at - 2).ok()?;
        out[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
        pos = data_end;
    }
    Some(pos)
}

/// EDNS(0) facts from the request's OPT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    pub payload_bytes: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// A parsed standard query with exactly one question.
#[derive(Clone, Debug)]
pub struct Query {
    pub id: u16,
    /// The request's flag word (for RD and CD).
    pub flags: u16,
    pub name: NameBuf,
    /// End of the question section in the request (the question is echoed from there).
    pub question_end: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

/// What a received datagram turned out to be.
pub enum Parsed {
    /// Not worth an answer (too short, a response, garbage without a header).
    Drop,
    /// Answer with this RCODE and the header only, plus our OPT when the request
    /// carried a readable one (RFC 6891 §6.1.1).
    Error {
        id: u16,
        flags: u16,
        rcode: u8,
        edns: Option<Edns>,
    },
    Query,
}

impl Query {
    pub const fn empty() -> Self {
        Self {
            id: 0,
            flags: 0,
            name: NameBuf::empty(),
            question_end: 0,
            qtype: 0,
            qclass: 0,
            edns: None,
        }
    }

    /// Parses `packet` into `self`. `Parsed::Query` means `self` holds the query.
    pub fn parse(&mut self, packet: &[u8]) -> Parsed {
        if packet.len() < HEADER_BYTES {
            return Parsed::Drop;
        }
        let id = u16::from_be_bytes([packet[0], packet[1]]);
        let flags = u16::from_be_bytes([packet[2], packet[3]]);
        if flags & FLAG_QR != 0 {
            return Parsed::Drop;
        }
        let error = |rcode| Parsed::Error {
            id,
            flags,
            rcode,
            edns: best_effort_edns(packet),
        };
        if flags & OPCODE_MASK != 0 {
            return error(RCODE_NOTIMP);
        }
        let count = |i: usize| u16::from_be_bytes([packet[4 + 2 * i], packet[5 + 2 * i]]);
        if count(0) != 1 {
            return error(RCODE_FORMERR);
        }
        let Some(pos) = self.name.parse(packet, HEADER_BYTES) else {
            return error(RCODE_FORMERR);
        };
        let Some(&[t0, t1, c0, c1]) = packet.get(pos..pos + 4) else {
            return error(RCODE_FORMERR);
        };
        self.id = id;
        self.flags = flags;
        self.qtype = u16::from_be_bytes([t0, t1]);
        self.qclass = u16::from_be_bytes([c0, c1]);
        self.question_end = pos + 4;
        let skipped = usize::from(count(1)) + usize::from(count(2));
        match find_edns(packet, self.question_end, skipped, usize::from(count(3))) {
            Ok(edns) => {
                self.edns = edns;
                Parsed::Query
            }
            Err(()) => error(RCODE_FORMERR),
        }
    }
}

/// The OPT of a request that is not a query we answer (another opcode, several
/// questions, a broken question): every question skipped as name + type + class,
/// then the records. `None` when any of it does not parse or OPT is not unique.
fn best_effort_edns(packet: &[u8]) -> Option<Edns> {
    let count = |i: usize| usize::from(u16::from_be_bytes([packet[4 + 2 * i], packet[5 + 2 * i]]));
    let mut pos = HEADER_BYTES;
    for _ in 0..count(0) {
        pos = skip_name(packet, pos)? + 4;
    }
    find_edns(packet, pos, count(1) + count(2), count(3)).ok()?
}

/// Skips `skipped` records, then reads `additional` records looking for one OPT.
fn find_edns(
    packet: &[u8],
    mut pos: usize,
    skipped: usize,
    additional: usize,
) -> Result<Option<Edns>, ()> {
    for _ in 0..skipped {
        pos = skip_record(packet, pos).ok_or(())?.0;
    }
    let mut edns = None;
    for _ in 0..additional {
        let owner_is_root = packet.get(pos) == Some(&0);
        let (next, rtype, class, ttl) = skip_record(packet, pos).ok_or(())?;
        if rtype == TYPE_OPT {
            // RFC 6891 §6.1.1: one OPT, owned by the root, else FORMERR.
            if edns.is_some() || !owner_is_root {
                return Err(());
            }
            edns = Some(Edns {
                payload_bytes: class,
                version: (ttl >> 16) as u8,
                dnssec_ok: ttl & 0x8000 != 0,
            });
        }
        pos = next;
    }
    Ok(edns)
}

/// Skips one resource record; returns the position after it, its type, class and TTL.
fn skip_record(packet: &[u8], pos: usize) -> Option<(usize, u16, u16, u32)> {
    let pos = skip_name(packet, pos)?;
    let fixed = packet.get(pos..pos + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let end = pos + 10 + rdlen;
    if end > packet.len() {
        return None;
    }
    Some((end, rtype, class, ttl))
}

/// Skips a possibly compressed name (a pointer ends it, and is not followed).
pub fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
    let mut total = 0usize;
    loop {
        let len = *packet.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            1..=63 => {
                total += usize::from(len) + 1;
                if total >= NAME_BYTES_MAX {
                    return None;
                }
                pos += usize::from(len) + 1;
            }
            0xC0..=0xFF => {
                packet.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
}

/// The offset after `count` resource records starting at `pos`; `None` when
/// fewer than `count` well-formed records are there (a message that ends
/// early does not walk).
pub fn skip_records(message: &[u8], pos: usize, count: usize) -> Option<usize> {
    let mut records = records(message, pos);
    let mut end = pos;
    for _ in 0..count {
        end = records.next()??.end;
    }
    Some(end)
}

/// One resource record's type, data and end offset.
pub struct Record<'m> {
    pub rtype: u16,
    pub data: &'m [u8],
    pub end: usize,
}

/// The records from `pos` on, each `None` (and then nothing more) when malformed.
pub fn records(message: &[u8], mut pos: usize) -> impl Iterator<Item = Option<Record<'_>>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= message.len() {
            return None;
        }
        let record = (|| {
            pos = skip_name(message, pos)?;
            let fixed = message.get(pos..pos + 10)?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let data = message.get(pos + 10..pos + 10 + rdlength)?;
            pos += 10 + rdlength;
            Some(Record {
                rtype,
                data,
                end: pos,
            })
        })();
        failed = record.is_none();
        Some(record)
    })
}

/// Flags for a response to a request with flag word `request_flags`.
pub fn response_flags(request_flags: u16, authoritative: bool, recursion: bool, rcode: u8) -> u16 {
    let mut flags = FLAG_QR | (request_flags & (FLAG_RD | FLAG_CD | OPCODE_MASK));
    if authoritative {
        flags |= FLAG_AA;
    }
    if recursion {
        flags |= FLAG_RA;
    }
    flags | u16::from(rcode & 0x0F)
}

/// Writes a header with the given counts at the start of an empty `out`.
pub fn write_header(out: &mut Vec<u8>, id: u16, flags: u16, counts: [u16; 4]) {
    // One copy of 12 bytes: under opt-level "z" each `extend_from_slice` is a
    // call, and six of them were a tenth of an answer's instructions.
    let mut header = [0u8; HEADER_BYTES];
    header[..2].copy_from_slice(&id.to_be_bytes());
    header[2..4].copy_from_slice(&flags.to_be_bytes());
    for (field, count) in header[4..].chunks_exact_mut(2).zip(counts) {
        field.copy_from_slice(&count.to_be_bytes());
    }
    out.clear();
    out.extend_from_slice(&header);
}

/// Overwrites the section counts (answer, authority, additional) of a response.
pub fn set_counts(out: &mut [u8], answers: u16, authorities: u16, additionals: u16) {
    out[6..8].copy_from_slice(&answers.to_be_bytes());
    out[8..10].copy_from_slice(&authorities.to_be_bytes());
    out[10..12].copy_from_slice(&additionals.to_be_bytes());
}

/// Sets the TC bit.
pub fn set_truncated(out: &mut [u8]) {
    out[2] |= (FLAG_TC >> 8) as u8;
}

/// Appends our OPT record: payload size, extended RCODE bits, version 0, the
/// request's DO bit (RFC 3225 §3: copied into the response), no options.
pub fn write_opt(out: &mut Vec<u8>, extended_rcode: u16, dnssec_ok: bool) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&EDNS_PAYLOAD_BYTES.to_be_bytes());
    out.push((extended_rcode >> 4) as u8);
    let flags: u8 = if dnssec_ok { 0x80 } else { 0 };
    out.extend_from_slice(&[0, flags, 0, 0, 0]);
}

/// Bytes of the OPT record [`write_opt`] appends.
pub const OPT_BYTES: usize = 11;

/// The largest UDP response this client can take.
pub fn udp_limit_bytes(edns: Option<Edns>) -> usize {
    match edns {
        Some(edns) => usize::from(edns.payload_bytes.clamp(512, EDNS_PAYLOAD_BYTES)),
        None => UDP_PLAIN_BYTES_MAX,
    }
}

/// A record type's mnemonic (`TYPE<n>` for those without one here, RFC 3597).
pub fn type_name(rtype: u16) -> String {
    let name = match rtype {
        TYPE_A => "A",
        TYPE_NS => "NS",
        TYPE_CNAME => "CNAME",
        TYPE_SOA => "SOA",
        TYPE_PTR => "PTR",
        TYPE_MX => "MX",
        TYPE_TXT => "TXT",
        TYPE_AAAA => "AAAA",
        TYPE_SRV => "SRV",
        TYPE_CAA => "CAA",
        TYPE_ANY => "ANY",
        other => return format!("TYPE{other}"),
    };
    name.to_string()
}

/// Presentation form of a lower-case wire name, for logs and errors.
pub fn name_to_string(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        let label = wire.get(pos + 1..pos + 1 + usize::from(len)).unwrap_or(&[]);
        for &b in label {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out.push('.');
        pos += 1 + usize::from(len);
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn query_bytes(name: &[u8], qtype: u16, opt: Option<[u8; 11]>) -> Vec<u8> {
        let mut p = vec![
            0x12,
            0x34,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            u8::from(opt.is_some()),
        ];
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&CLASS_IN.to_be_bytes());
        if let Some(opt) = opt {
            p.extend_from_slice(&opt);
        }
        p
    }

    #[test]
    fn reads_names_through_pointers_in_lower_case() {
        // "Www.Example.COM" at 12, then "x" and a pointer to "Example.COM".
        let mut message = vec![0u8; 12];
        message.extend_from_slice(b"\x03Www\x07Example\x03COM\x00");
        let second = message.len();
        message.extend_from_slice(b"\x01X\xC0\x10");
        let mut out = [0u8; NAME_BYTES_MAX];
        let length = read_name_lower(&message, second, &mut out).unwrap();
        assert_eq!(&out[..length], b"\x01x\x07example\x03com\x00");
        let length = read_name_lower(&message, 12, &mut out).unwrap();
        assert_eq!(&out[..length], b"\x03www\x07example\x03com\x00");
        // A pointer to itself or forwards, a reserved label type, a cut name.
        assert_eq!(read_name_lower(b"\xC0\x00", 0, &mut out), None);
        assert_eq!(read_name_lower(b"\x01a\xC0\x05\x00\x00", 0, &mut out), None);
        assert_eq!(read_name_lower(b"\x41a\x00", 0, &mut out), None);
        assert_eq!(read_name_lower(b"\x03ab", 0, &mut out), None);
        // Longer than 255 bytes.
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(read_name_lower(&long, 0, &mut out), None);
    }

    #[test]
    fn expands_compressed_records() {
        // Header, question a.test A IN, then `a.test CNAME b.a.test` compressed.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'b', 0xc0, 12]);
        let mut out = Vec::new();
        assert_eq!(copy_records_expanded(&m, 24, 1, &mut out), Some(m.len()));
        let mut want = b"\x01a\x04test\x00".to_vec();
        want.extend_from_slice(&[0, 5, 0, 1, 0, 0, 0, 60, 0, 10]);
        want.extend_from_slice(b"\x01b\x01a\x04test\x00");
        assert_eq!(out, want);
        // A pointer forwards (or to itself) is refused, as is every truncation.
        let mut looped = m.clone();
        looped[24..26].copy_from_slice(&[0xc0, 24]);
        assert_eq!(copy_records_expanded(&looped, 24, 1, &mut Vec::new()), None);
        for n in 24..m.len() {
            assert_eq!(copy_records_expanded(&m[..n], 24, 1, &mut Vec::new()), None);
        }
    }

    #[test]
    fn parses_and_lowercases_question() {
        let mut q = Query::empty();
        let p = query_bytes(b"\x03WwW\x07Example\x03com\x00", TYPE_A, None);
        assert!(matches!(q.parse(&p), Parsed::Query));
        assert_eq!(q.name.as_bytes(), b"\x03www\x07example\x03com\x00");
        assert_eq!(q.name.label_count(), 3);
        assert_eq!(q.name.suffix(1), b"\x07example\x03com\x00");
        assert_eq!(q.name.suffix(3), b"\x00");
        assert_eq!(q.id, 0x1234);
        assert_eq!(q.edns, None);
    }

    #[test]
    fn reads_edns() {
        let mut q = Query::empty();
        let opt = [0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0];
        let p = query_bytes(b"\x01a\x00", TYPE_A, Some(opt));
        assert!(matches!(q.parse(&p), Parsed::Query));
        let edns = q.edns.unwrap();
        assert_eq!(edns.payload_bytes, 4096);
        assert!(edns.dnssec_ok);
        assert_eq!(udp_limit_bytes(Some(edns)), 1232);
    }

    #[test]
    fn malformed_inputs_never_panic() {
        let mut q = Query::empty();
        let cases: &[&[u8]] = &[
            b"",
            b"\x00\x01",
            &[0; 11],
            &[0x12, 0x34, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0],
            &[0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x05, b'a'],
            &[
                0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1,
            ],
            &[0x12, 0x34, 0x01, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
            &[
                0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 1, 0, 1, 0,
            ],
        ];
        for case in cases {
            let _ = q.parse(case);
        }
        // Every prefix of a valid query with EDNS.
        let opt = [0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0];
        let p = query_bytes(b"\x03www\x07example\x00", TYPE_A, Some(opt));
        for n in 0..p.len() {
            let _ = q.parse(&p[..n]);
        }
    }

    #[test]
    fn rejects_overlong_names_and_pointers() {
        let mut q = Query::empty();
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert!(matches!(
            q.parse(&query_bytes(&long, TYPE_A, None)),
            Parsed::Error {
                rcode: RCODE_FORMERR,
                ..
            }
        ));
        let ptr = query_bytes(b"\xC0\x0C", TYPE_A, None);
        assert!(matches!(
            q.parse(&ptr),
            Parsed::Error {
                rcode: RCODE_FORMERR,
                ..
            }
        ));
    }

    #[test]
    fn opcode_and_qr() {
        let mut q = Query::empty();
        let mut p = query_bytes(b"\x00", TYPE_A, None);
        p[2] = 0x28; // opcode 5 (UPDATE)
        assert!(matches!(
            q.parse(&p),
            Parsed::Error {
                rcode: RCODE_NOTIMP,
                ..
            }
        ));
        p[2] = 0x80;
        assert!(matches!(q.parse(&p), Parsed::Drop));
    }

    #[test]
    fn duplicate_opt_is_formerr() {
        let mut q = Query::empty();
        let opt = [0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0];
        let mut p = query_bytes(b"\x00", TYPE_A, Some(opt));
        p.extend_from_slice(&opt);
        p[11] = 2;
        assert!(matches!(
            q.parse(&p),
            Parsed::Error {
                rcode: RCODE_FORMERR,
                ..
            }
        ));
    }

    /// Found by the fuzz target `dns_answer` (corpus `regress-relay-counts`): an
    /// upstream answer claiming 256 answers and carrying 2 was relayed with its
    /// counts, because a message that ended early still "walked".
    #[test]
    fn records_missing_at_the_end_do_not_walk() {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
        let record = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];
        m.extend_from_slice(&record);
        m.extend_from_slice(&record);
        assert_eq!(skip_records(&m, 24, 0), Some(24));
        assert_eq!(skip_records(&m, 24, 2), Some(m.len()));
        assert_eq!(skip_records(&m, 24, 3), None);
        assert_eq!(skip_records(&m, 24, 256), None);
        assert_eq!(skip_records(&m[..m.len() - 1], 24, 2), None);
    }

    #[test]
    fn presentation_names() {
        assert_eq!(name_to_string(b"\x03www\x07example\x00"), "www.example.");
        assert_eq!(name_to_string(b"\x00"), ".");
    }
}
