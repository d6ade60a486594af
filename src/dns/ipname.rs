//! IP-embedded names (localtls, dnsmasq's `synth-domain`): `192-168-1-10.<zone>` is
//! 192.168.1.10, `fd00--1.<zone>` is fd00::1 (a dash for each colon, `--` for `::`).
//!
//! Owns the encoding in both directions and the "private ranges" rule. An encoding
//! is accepted only when it has exactly one meaning: IPv4 needs four decimal fields
//! of 0 to 255 without leading zeros (`010` is octal to some parsers), IPv6 what
//! the standard text form accepts with dashes for colons, never an IPv4-mapped
//! address. Pure functions on byte slices; nothing allocates on the query path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest text of an IPv6 address (`ffff:…:ffff`, 8 × 4 digits and 7 colons).
const IPV6_TEXT_BYTES_MAX: usize = 39;

/// The address a label encodes, if it encodes exactly one.
pub fn parse_label(label: &[u8]) -> Option<IpAddr> {
    if label.len() > IPV6_TEXT_BYTES_MAX || label.is_empty() {
        return None;
    }
    if label.iter().all(|b| b.is_ascii_digit() || *b == b'-') && count(label, b'-') == 3 {
        return parse_v4(label).map(IpAddr::V4);
    }
    if !label.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-') {
        return None;
    }
    let mut text = [0u8; IPV6_TEXT_BYTES_MAX];
    for (out, b) in text.iter_mut().zip(label) {
        *out = if *b == b'-' { b':' } else { *b };
    }
    let text = std::str::from_utf8(&text[..label.len()]).ok()?;
    let v6: Ipv6Addr = text.parse().ok()?;
    // ::ffff:a.b.c.d would be a second spelling of an IPv4 name.
    if v6.to_ipv4_mapped().is_some() {
        return None;
    }
    Some(IpAddr::V6(v6))
}

fn count(bytes: &[u8], wanted: u8) -> usize {
    bytes.iter().filter(|b| **b == wanted).count()
}

fn parse_v4(label: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut fields = label.split(|b| *b == b'-');
    for octet in &mut octets {
        *octet = parse_v4_field(fields.next()?)?;
    }
    fields.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// The label that names `ip`: `192-168-1-10`, `fd00--1`.
pub fn label_for(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// Private (RFC 1918), loopback, link-local and unique-local (RFC 4193) addresses:
/// the ones only a LAN can mean.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || first & 0xffc0 == 0xfe80 || first & 0xfe00 == 0xfc00
        }
    }
}

/// The address of a complete reverse name (`10.1.168.192.in-addr.arpa.` or 32
/// nibbles under `ip6.arpa.`), lower-case wire format.
pub fn parse_reverse(name: &[u8]) -> Option<IpAddr> {
    if let Some(labels) = name.strip_suffix(b"\x07in-addr\x04arpa\x00") {
        let mut octets = [0u8; 4];
        let mut rest = labels;
        for octet in octets.iter_mut().rev() {
            let len = usize::from(*rest.first()?);
            let field = rest.get(1..=len)?;
            *octet = parse_v4_field(field)?;
            rest = &rest[1 + len..];
        }
        return rest
            .is_empty()
            .then_some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let labels = name.strip_suffix(b"\x03ip6\x04arpa\x00")?;
    if labels.len() != 64 {
        return None;
    }
    let mut value: u128 = 0;
    for pair in labels.chunks_exact(2).rev() {
        if pair[0] != 1 {
            return None;
        }
        let nibble = char::from(pair[1]).to_digit(16)?;
        value = (value << 4) | u128::from(nibble);
    }
    Some(IpAddr::V6(Ipv6Addr::from(value)))
}

/// One decimal octet, 0 to 255, without leading zeros.
fn parse_v4_field(field: &[u8]) -> Option<u8> {
    if !field.iter().all(u8::is_ascii_digit)
        || field.is_empty()
        || field.len() > 3
        || (field.len() > 1 && field[0] == b'0')
    {
        return None;
    }
    let value = field.iter().fold(0u16, |v, d| v * 10 + u16::from(d - b'0'));
    u8::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::zone::reverse_name;

    #[test]
    fn labels() {
        for (label, want) in [
            ("192-168-1-10", Some("192.168.1.10")),
            ("0-0-0-0", Some("0.0.0.0")),
            ("10-0-0-255", Some("10.0.0.255")),
            ("fd00--1", Some("fd00::1")),
            ("2001-db8--5", Some("2001:db8::5")),
            ("--1", Some("::1")),
            ("fe80--1-2-3-4", Some("fe80::1:2:3:4")),
            ("1-2-3-4-5-6-7-8", Some("1:2:3:4:5:6:7:8")),
            ("300-1-1-1", None),
            ("1-2-3", None),
            ("1-2-3-4-5", None),
            ("010-0-0-1", None),
            ("10-00-0-1", None),
            ("1--2-3-4", Some("1::2:3:4")),
            ("fd00---1", None),
            ("--ffff-c0a8-10a", None),
            ("fd00--1g", None),
            ("", None),
            ("192-168-1-", None),
            ("nas", None),
            ("1-2-3-4-5-6-7-8-9", None),
        ] {
            let got = parse_label(label.as_bytes()).map(|ip| ip.to_string());
            assert_eq!(got.as_deref(), want, "{label}");
        }
    }

    #[test]
    fn round_trips() {
        for text in ["192.168.1.10", "fd00::1", "2001:db8::5", "::1", "fe80::a:b"] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(parse_label(label_for(ip).as_bytes()), Some(ip), "{text}");
            assert_eq!(parse_reverse(&reverse_name(ip)), Some(ip), "{text}");
        }
    }

    #[test]
    fn private_ranges() {
        for (text, private) in [
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("172.32.0.1", false),
            ("192.168.1.1", true),
            ("127.0.0.1", true),
            ("169.254.1.1", true),
            ("8.8.8.8", false),
            ("100.64.0.1", false),
            ("fd00::1", true),
            ("fc00::1", true),
            ("fe80::1", true),
            ("febf::1", true),
            ("fec0::1", false),
            ("::1", true),
            ("2001:db8::1", false),
        ] {
            assert_eq!(is_private(text.parse().unwrap()), private, "{text}");
        }
    }

    #[test]
    fn partial_reverse_names_are_not_addresses() {
        assert_eq!(
            parse_reverse(b"\x03168\x03192\x07in-addr\x04arpa\x00"),
            None
        );
        assert_eq!(
            parse_reverse(b"\x0201\x011\x03168\x03192\x07in-addr\x04arpa\x00"),
            None
        );
        assert_eq!(
            parse_reverse(b"\x01x\x011\x011\x03168\x03192\x07in-addr\x04arpa\x00"),
            None
        );
        assert_eq!(parse_reverse(b"\x011\x03ip6\x04arpa\x00"), None);
    }
}
