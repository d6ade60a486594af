//! One zone-file record line (`nas 300 A 192.168.1.10`) turned into wire data.
//!
//! Owns the record text syntax: owner, optional TTL and class, type, and the record
//! data of the types lanseal serves. Produces lower-case wire names and record data
//! encoded once at load time, so the answer path only copies bytes. Errors are
//! plain sentences for a router owner; the caller adds file and line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::dns::name::Name;

use crate::dns::wire::{TYPE_A, TYPE_AAAA, TYPE_CAA, TYPE_CNAME, TYPE_MX, TYPE_NS};
use crate::dns::wire::{TYPE_PTR, TYPE_SOA, TYPE_SRV, TYPE_TXT};

/// Record types accepted in zone data, as written in the config.
pub const SUPPORTED_TYPES: &str = "A, AAAA, CNAME, TXT, MX, SRV, CAA, PTR, NS, SOA";
/// One character-string in TXT data holds at most 255 bytes (RFC 1035 §3.3).
const TXT_CHUNK_BYTES_MAX: usize = 255;
/// Record data is limited by its 16-bit length.
const RDATA_BYTES_MAX: usize = 65_535;

/// A parsed record line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Owner, lower-case wire format.
    pub owner: Vec<u8>,
    pub rtype: u16,
    /// `None`: the zone's default TTL.
    pub ttl: Option<u32>,
    /// Encoded record data (names uncompressed).
    pub rdata: Vec<u8>,
    /// For CNAME: the target, lower-case wire format (followed inside local zones).
    pub target: Option<Vec<u8>>,
    /// For A and AAAA: the address (PTR answers are synthesized from it).
    pub address: Option<IpAddr>,
}

/// Parses `line` with relative names completed by `origin`.
pub fn parse(line: &str, origin: &Name) -> Result<Record, String> {
    let mut rest = line.trim_start();
    let owner_text =
        next_word(&mut rest).ok_or("empty record: expected `<name> [ttl] <type> <data>`")?;
    let owner = parse_name(owner_text, origin)?;
    let mut ttl = None;
    let mut type_text = None;
    // Up to two optional fields (TTL and class, either order) before the type.
    for _ in 0..3 {
        let word = next_word(&mut rest).ok_or("missing record type after the name")?;
        if word.as_bytes()[0].is_ascii_digit() {
            if ttl.is_some() {
                return Err(format!("two TTLs in one record (`{word}`)"));
            }
            ttl = Some(parse_ttl(word)?);
        } else if word.eq_ignore_ascii_case("IN") {
            continue;
        } else {
            type_text = Some(word);
            break;
        }
    }
    let type_text = type_text.ok_or("missing record type after the TTL and class")?;
    let data = rest.trim();
    let rtype = record_type(type_text)?;
    let mut record = Record {
        owner: wire_name(&owner)?,
        rtype,
        ttl,
        rdata: Vec::new(),
        target: None,
        address: None,
    };
    encode_data(&mut record, data, origin).map_err(|e| format!("{type_text} record: {e}"))?;
    if record.rdata.len() > RDATA_BYTES_MAX {
        return Err(format!(
            "{type_text} record data is longer than 65535 bytes"
        ));
    }
    Ok(record)
}

fn record_type(text: &str) -> Result<u16, String> {
    let rtype = match text.to_ascii_uppercase().as_str() {
        "A" => TYPE_A,
        "AAAA" => TYPE_AAAA,
        "CNAME" => TYPE_CNAME,
        "TXT" => TYPE_TXT,
        "MX" => TYPE_MX,
        "SRV" => TYPE_SRV,
        "CAA" => TYPE_CAA,
        "PTR" => TYPE_PTR,
        "NS" => TYPE_NS,
        "SOA" => TYPE_SOA,
        _ => {
            return Err(format!(
                "unsupported record type `{text}` (supported: {SUPPORTED_TYPES})"
            ));
        }
    };
    Ok(rtype)
}

fn encode_data(record: &mut Record, data: &str, origin: &Name) -> Result<(), String> {
    let mut words = Words::new(data);
    let out = &mut record.rdata;
    match record.rtype {
        TYPE_A => {
            let text = words.single("an IPv4 address")?;
            let address = Ipv4Addr::from_str(&text)
                .map_err(|_| format!("`{text}` is not an IPv4 address"))?;
            out.extend_from_slice(&address.octets());
            record.address = Some(IpAddr::V4(address));
        }
        TYPE_AAAA => {
            let text = words.single("an IPv6 address")?;
            let address = Ipv6Addr::from_str(&text)
                .map_err(|_| format!("`{text}` is not an IPv6 address"))?;
            out.extend_from_slice(&address.octets());
            record.address = Some(IpAddr::V6(address));
        }
        TYPE_CNAME | TYPE_NS | TYPE_PTR => {
            let target = wire_name(&parse_name(&words.single("a domain name")?, origin)?)?;
            out.extend_from_slice(&target);
            if record.rtype == TYPE_CNAME {
                record.target = Some(target);
            }
        }
        TYPE_MX => {
            let [preference, exchange] = words.fixed(["preference", "mail exchanger"])?;
            out.extend_from_slice(&parse_u16(&preference, "MX preference")?.to_be_bytes());
            out.extend_from_slice(&wire_name(&parse_name(&exchange, origin)?)?);
        }
        TYPE_SRV => {
            let [priority, weight, port, target] =
                words.fixed(["priority", "weight", "port", "target"])?;
            for (text, what) in [(priority, "priority"), (weight, "weight"), (port, "port")] {
                out.extend_from_slice(&parse_u16(&text, what)?.to_be_bytes());
            }
            out.extend_from_slice(&wire_name(&parse_name(&target, origin)?)?);
        }
        TYPE_SOA => {
            let [mname, rname, serial, refresh, retry, expire, minimum] = words.fixed([
                "primary server",
                "mailbox",
                "serial",
                "refresh",
                "retry",
                "expire",
                "minimum",
            ])?;
            out.extend_from_slice(&wire_name(&parse_name(&mname, origin)?)?);
            out.extend_from_slice(&wire_name(&parse_name(&rname, origin)?)?);
            for (text, what) in [
                (serial, "serial"),
                (refresh, "refresh"),
                (retry, "retry"),
                (expire, "expire"),
                (minimum, "minimum"),
            ] {
                let value = if what == "serial" {
                    parse_u32(&text, what)?
                } else {
                    parse_ttl(&text)?
                };
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
        TYPE_TXT => {
            let mut any = false;
            while let Some(string) = words.next_string()? {
                any = true;
                push_character_strings(out, &string);
            }
            if !any {
                return Err("expected one or more strings, e.g. \"v=spf1 -all\"".into());
            }
        }
        TYPE_CAA => {
            let [flags, tag, value] = words.fixed(["flags", "tag", "value"])?;
            let flags =
                u8::from_str(&flags).map_err(|_| format!("flags `{flags}` must be 0..255"))?;
            let tag = tag.to_ascii_lowercase();
            if tag.is_empty() || tag.len() > 15 || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "tag `{tag}` must be 1-15 letters or digits (issue, issuewild, iodef)"
                ));
            }
            out.push(flags);
            out.push(tag.len() as u8);
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        _ => return Err("unsupported".into()),
    }
    if record.rtype != TYPE_TXT && words.next_string()?.is_some() {
        return Err("unexpected text after the record data".into());
    }
    Ok(())
}

/// Appends TXT character-strings for `value`, split into 255-byte pieces so long
/// values (DKIM keys) need no manual splitting. An empty value is one empty string.
pub fn push_character_strings(out: &mut Vec<u8>, value: &[u8]) {
    if value.is_empty() {
        out.push(0);
        return;
    }
    for chunk in value.chunks(TXT_CHUNK_BYTES_MAX) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
}

/// Parses a domain name, completing a relative one with `origin`; `@` is the origin.
pub fn parse_name(text: &str, origin: &Name) -> Result<Name, String> {
    if text == "@" {
        return Ok(origin.clone());
    }
    Name::parse(text, Some(origin))
        .map_err(|e| format!("`{text}` is not a valid domain name ({e})"))
}

/// Lower-case wire form of a parsed name.
pub fn wire_name(name: &Name) -> Result<Vec<u8>, String> {
    Ok(name.wire().to_vec())
}

/// TTL in seconds, or with one unit per number: `300`, `5m`, `1h30m`, `1d`, `1w`.
pub fn parse_ttl(text: &str) -> Result<u32, String> {
    let error = || format!("`{text}` is not a TTL (seconds, or e.g. 5m, 1h, 1d)");
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10).ok_or_else(error)? + u64::from(d));
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(error()),
        };
        total += number
            .take()
            .ok_or_else(error)?
            .checked_mul(unit)
            .ok_or_else(error)?;
    }
    total += number.unwrap_or(0);
    // RFC 2181 §8: TTLs are at most 2^31 - 1.
    u32::try_from(total)
        .ok()
        .filter(|&t| t <= 0x7FFF_FFFF)
        .ok_or_else(error)
}

fn parse_u16(text: &str, what: &str) -> Result<u16, String> {
    u16::from_str(text).map_err(|_| format!("{what} `{text}` must be a number 0..65535"))
}

fn parse_u32(text: &str, what: &str) -> Result<u32, String> {
    u32::from_str(text).map_err(|_| format!("{what} `{text}` must be a number"))
}

fn next_word<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let text = rest.trim_start();
    if text.is_empty() {
        return None;
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let (word, tail) = text.split_at(end);
    *rest = tail;
    Some(word)
}

/// Record data words: whitespace-separated, or `"quoted"` with `\"`, `\\` and `\DDD`.
struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text.as_bytes(),
        }
    }

    fn next_string(&mut self) -> Result<Option<Vec<u8>>, String> {
        let start = self
            .rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.rest.len());
        self.rest = &self.rest[start..];
        let Some(&first) = self.rest.first() else {
            return Ok(None);
        };
        let quoted = first == b'"';
        let mut out = Vec::new();
        let mut i = usize::from(quoted);
        loop {
            let Some(&b) = self.rest.get(i) else {
                if quoted {
                    return Err("a quoted string is not closed".into());
                }
                break;
            };
            if quoted && b == b'"' {
                i += 1;
                break;
            }
            if !quoted && b.is_ascii_whitespace() {
                break;
            }
            if b == b'\\' {
                let digits = self
                    .rest
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                if let Some(d) = digits {
                    let value = u16::from(d[0] - b'0') * 100
                        + u16::from(d[1] - b'0') * 10
                        + u16::from(d[2] - b'0');
                    out.push(
                        u8::try_from(value).map_err(|_| "escape \\DDD must be at most \\255")?,
                    );
                    i += 4;
                    continue;
                }
                let escaped = *self.rest.get(i + 1).ok_or("a backslash ends the record")?;
                out.push(escaped);
                i += 2;
                continue;
            }
            out.push(b);
            i += 1;
        }
        self.rest = &self.rest[i..];
        Ok(Some(out))
    }

    fn single(&mut self, what: &str) -> Result<String, String> {
        let [word] = self.fixed([what])?;
        Ok(word)
    }

    fn fixed<const N: usize>(&mut self, names: [&str; N]) -> Result<[String; N], String> {
        let mut out: [String; N] = std::array::from_fn(|_| String::new());
        for (slot, name) in out.iter_mut().zip(names) {
            let word = self
                .next_string()?
                .ok_or_else(|| format!("missing {name}"))?;
            *slot = String::from_utf8(word).map_err(|_| format!("{name} is not valid UTF-8"))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn origin() -> Name {
        Name::parse("home.example.", None).unwrap()
    }

    fn rec(line: &str) -> Record {
        parse(line, &origin()).unwrap()
    }

    #[test]
    fn table() {
        let r = rec("nas 300 A 192.168.1.10");
        assert_eq!(r.owner, b"\x03nas\x04home\x07example\x00");
        assert_eq!(
            (r.rtype, r.ttl, r.rdata.as_slice()),
            (TYPE_A, Some(300), &[192, 168, 1, 10][..])
        );
        let r = rec("@ IN 1h MX 10 mail");
        assert_eq!(r.owner, b"\x04home\x07example\x00");
        assert_eq!(r.ttl, Some(3600));
        assert_eq!(r.rdata, b"\x00\x0a\x04mail\x04home\x07example\x00");
        let r = rec("*.dev CNAME nas");
        assert_eq!(r.owner, b"\x01*\x03dev\x04home\x07example\x00");
        assert_eq!(
            r.target.as_deref(),
            Some(&b"\x03nas\x04home\x07example\x00"[..])
        );
        let r = rec("ext CNAME Other.Example.org.");
        assert_eq!(r.rdata, b"\x05other\x07example\x03org\x00");
        let r = rec("_sip._tcp SRV 10 5 5060 pbx");
        assert_eq!(&r.rdata[..6], &[0, 10, 0, 5, 0x13, 0xc4]);
        let r = rec("@ MX 0 .");
        assert_eq!(r.rdata, b"\x00\x00\x00");
        let r = rec("v6 AAAA fd00::1");
        assert_eq!(r.address, Some("fd00::1".parse().unwrap()));
    }

    #[test]
    fn txt_strings_and_long_values() {
        let r = rec(r#"@ TXT "v=spf1 -all" "two words" bare"#);
        assert_eq!(r.rdata, b"\x0bv=spf1 -all\x09two words\x04bare");
        let r = rec(r#"x TXT "say \"hi\"\059""#);
        assert_eq!(r.rdata, b"\x09say \"hi\";");
        let long = "k".repeat(600);
        let r = rec(&format!("dkim TXT \"{long}\""));
        assert_eq!(r.rdata.len(), 600 + 3);
        assert_eq!((r.rdata[0], r.rdata[256], r.rdata[512]), (255, 255, 90));
        let r = rec(r#"e TXT """#);
        assert_eq!(r.rdata, b"\x00");
    }

    #[test]
    fn caa() {
        let r = rec(r#"@ CAA 0 issue "letsencrypt.org; validationmethods=dns-01""#);
        assert_eq!(&r.rdata[..7], b"\x00\x05issue");
        assert_eq!(&r.rdata[7..], b"letsencrypt.org; validationmethods=dns-01");
    }

    #[test]
    fn soa() {
        let r = rec("@ SOA ns hostmaster 1 1h 10m 1w 300");
        assert!(r.rdata.ends_with(&[
            0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 2, 0x58, 0, 9, 0x3a, 0x80, 0, 0, 1, 0x2c
        ]));
    }

    #[test]
    fn errors_say_what_was_expected() {
        for (line, needle) in [
            ("", "empty record"),
            ("nas", "missing record type"),
            ("nas A 300.1.1.1", "not an IPv4 address"),
            ("nas AAAA 1.2.3.4", "not an IPv6 address"),
            ("nas FOO x", "unsupported record type `FOO`"),
            ("nas MX mail x", "preference `mail`"),
            ("nas MX 10", "missing mail exchanger"),
            ("nas A 1.2.3.4 5.6.7.8", "unexpected text"),
            ("nas TXT \"open", "not closed"),
            ("nas 99999999999 A 1.2.3.4", "not a TTL"),
            ("nas TXT", "one or more strings"),
            ("nas CAA 0 is-sue x", "tag"),
        ] {
            let err = parse(line, &origin()).unwrap_err();
            assert!(err.contains(needle), "{line:?}: {err}");
        }
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("300").unwrap(), 300);
        assert_eq!(parse_ttl("1h30m").unwrap(), 5400);
        assert_eq!(parse_ttl("1w").unwrap(), 604_800);
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("4294967296").is_err());
    }
}
