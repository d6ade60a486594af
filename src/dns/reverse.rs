//! The reverse zones of the private address ranges, served locally (RFC 6303).
//!
//! Owns which reverse names lanseal is authoritative for without a `[[zone]]` of
//! the owner's: exactly the ranges [`ipname::is_private`] covers (10/8,
//! 172.16/12, 192.168/16, 127/8, 169.254/16, ::1, fe80::/10, fc00::/7), since those
//! are the addresses lanseal names (PTRs synthesized from A/AAAA records, lease
//! names, IP-embedded names) and the ones `bogus_priv` keeps from leaking upstream.
//! Each range is a zone with a synthesized SOA and NS, so negative answers carry
//! the SOA (RFC 2308 §3) and a name above a known address is an empty
//! non-terminal (RFC 8020), never REFUSED or NXDOMAIN.
//!
//! [`ReverseIndex`] answers "is any known address below this reverse name?" with
//! a binary search over sorted addresses: no scan, no per-prefix table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use crate::dns::ipname;
use crate::dns::zone::{Mode, Zone, ZoneSpec, Zones};

/// TTL of the synthesized SOA and NS (and cap of negative answers, via the zone).
const LOCAL_ZONE_TTL_SECS: u32 = 300;

/// The locally served reverse zones, in presentation form.
fn served_names() -> Vec<String> {
    let mut names = vec![
        "10.in-addr.arpa".to_string(),
        "168.192.in-addr.arpa".into(),
        "127.in-addr.arpa".into(),
        "254.169.in-addr.arpa".into(),
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa".into(),
        "c.f.ip6.arpa".into(),
        "d.f.ip6.arpa".into(),
    ];
    names.extend((16..32).map(|octet| format!("{octet}.172.in-addr.arpa")));
    names.extend(["8", "9", "a", "b"].map(|nibble| format!("{nibble}.e.f.ip6.arpa")));
    names
}

/// The served zones, built once.
fn served() -> Option<&'static Zones> {
    static ZONES: OnceLock<Option<Zones>> = OnceLock::new();
    ZONES
        .get_or_init(|| {
            let specs: Vec<ZoneSpec> = served_names()
                .into_iter()
                .map(|name| ZoneSpec {
                    name,
                    mode: Mode::Authoritative,
                    ttl: LOCAL_ZONE_TTL_SECS,
                    ip_names: false,
                    ip_names_private_only: true,
                    records: Vec::new(),
                    file: None,
                })
                .collect();
            match Zones::build(&specs, 1, usize::MAX) {
                Ok(zones) => Some(zones),
                Err((_, e)) => {
                    log::error!("locally served reverse zones: {}", e.message);
                    None
                }
            }
        })
        .as_ref()
}

/// The locally served zone containing `name` (lower-case wire), if any.
pub fn served_zone(name: &[u8]) -> Option<&'static Zone> {
    served()?.find(name)
}

/// A reverse name above complete addresses: the range of addresses below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    first: IpAddr,
    last: IpAddr,
}

impl Prefix {
    /// The range under a partial reverse name (`1.168.192.in-addr.arpa.` →
    /// 192.168.1.0–192.168.1.255); `None` for a complete address or a non-reverse name.
    pub fn of(name: &[u8]) -> Option<Self> {
        if let Some(labels) = name.strip_suffix(b"\x07in-addr\x04arpa\x00") {
            let fields = fields(labels, 3)?;
            let mut first = [0u8; 4];
            for (i, field) in fields.iter().rev().enumerate() {
                first[i] = std::str::from_utf8(field).ok()?.parse().ok()?;
            }
            let known = fields.len();
            let mut last = first;
            last[known..].fill(0xff);
            return Some(Self {
                first: Ipv4Addr::from(first).into(),
                last: Ipv4Addr::from(last).into(),
            });
        }
        let labels = name.strip_suffix(b"\x03ip6\x04arpa\x00")?;
        let nibbles = fields(labels, 31)?;
        let mut value: u128 = 0;
        for nibble in nibbles.iter().rev() {
            let [digit] = nibble[..] else { return None };
            let digit = char::from(digit).to_digit(16)?;
            value = value << 4 | u128::from(digit);
        }
        let free_bits = 4 * (32 - nibbles.len() as u32);
        let first = value << free_bits;
        let last = first | ((1u128 << free_bits) - 1);
        Some(Self {
            first: Ipv6Addr::from(first).into(),
            last: Ipv6Addr::from(last).into(),
        })
    }

    /// The first and the last address of the range.
    pub fn bounds(&self) -> (IpAddr, IpAddr) {
        (self.first, self.last)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        (self.first..=self.last).contains(&ip)
    }

    /// True when every address below this name is private, so IP-embedded names
    /// give each of them a PTR.
    pub fn all_private(&self) -> bool {
        ipname::is_private(self.first) && ipname::is_private(self.last)
    }
}

/// 1..=`max` labels (no root), left to right; `None` when more, none, or malformed.
fn fields(mut labels: &[u8], max: usize) -> Option<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(max);
    while let Some((&len, rest)) = labels.split_first() {
        let field = rest.get(..usize::from(len))?;
        out.push(field);
        labels = &rest[usize::from(len)..];
        if out.len() > max {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Known addresses (of synthesized PTRs), sorted for range questions.
#[derive(Debug, Default)]
pub struct ReverseIndex {
    addresses: Vec<IpAddr>,
}

impl ReverseIndex {
    /// From the reverse names of every known PTR (names that are not complete
    /// addresses are ignored).
    pub fn new<'n>(names: impl Iterator<Item = &'n [u8]>) -> Self {
        let mut addresses: Vec<IpAddr> = names.filter_map(ipname::parse_reverse).collect();
        addresses.sort_unstable();
        addresses.dedup();
        Self { addresses }
    }

    /// True when some known address lies in `prefix`.
    pub fn any_in(&self, prefix: Prefix) -> bool {
        let at = self.addresses.partition_point(|ip| *ip < prefix.first);
        self.addresses
            .get(at)
            .is_some_and(|ip| prefix.contains(*ip))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::zone::reverse_name;

    fn wire(text: &str) -> Vec<u8> {
        crate::dns::zone::domain_wire(text).unwrap()
    }

    #[test]
    fn served_zones_are_the_private_ranges() {
        for (name, apex) in [
            ("10.1.168.192.in-addr.arpa", Some("168.192.in-addr.arpa")),
            ("1.168.192.in-addr.arpa", Some("168.192.in-addr.arpa")),
            ("168.192.in-addr.arpa", Some("168.192.in-addr.arpa")),
            ("1.0.20.172.in-addr.arpa", Some("20.172.in-addr.arpa")),
            ("1.0.32.172.in-addr.arpa", None),
            ("8.8.8.8.in-addr.arpa", None),
            ("192.in-addr.arpa", None),
            ("0.0.d.f.ip6.arpa", Some("d.f.ip6.arpa")),
            ("8.e.f.ip6.arpa", Some("8.e.f.ip6.arpa")),
            ("c.e.f.ip6.arpa", None),
        ] {
            let found = served_zone(&wire(name)).map(|z| z.apex.to_vec());
            assert_eq!(found, apex.map(wire), "{name}");
        }
        // Every served zone is inside what `is_private` covers, and the other way round.
        for ip in [
            "10.0.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "127.0.0.1",
            "169.254.1.1",
        ]
        .iter()
        .chain(&["::1", "fe80::1", "febf::1", "fc00::1", "fdff::1"])
        {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(served_zone(&reverse_name(ip)).is_some(), "{ip}");
        }
    }

    #[test]
    fn prefixes_and_the_index() {
        let p = Prefix::of(&wire("1.168.192.in-addr.arpa")).unwrap();
        assert!(p.contains("192.168.1.0".parse().unwrap()));
        assert!(p.contains("192.168.1.255".parse().unwrap()));
        assert!(!p.contains("192.168.2.0".parse().unwrap()));
        assert!(p.all_private());
        assert_eq!(Prefix::of(&wire("10.1.168.192.in-addr.arpa")), None);
        assert_eq!(Prefix::of(&wire("x.168.192.in-addr.arpa")), None);
        assert_eq!(Prefix::of(&wire("in-addr.arpa")), None);
        let p6 = Prefix::of(&wire("d.f.ip6.arpa")).unwrap();
        assert!(p6.contains("fd12::1".parse().unwrap()));
        assert!(!p6.contains("fe80::1".parse().unwrap()));
        let names = [
            reverse_name("192.168.1.10".parse().unwrap()),
            reverse_name("10.1.2.3".parse().unwrap()),
            reverse_name("fd00::5".parse().unwrap()),
        ];
        let index = ReverseIndex::new(names.iter().map(|n| &n[..]));
        assert!(index.any_in(p));
        assert!(index.any_in(Prefix::of(&wire("2.1.10.in-addr.arpa")).unwrap()));
        assert!(!index.any_in(Prefix::of(&wire("3.1.10.in-addr.arpa")).unwrap()));
        assert!(index.any_in(p6));
        assert!(!index.any_in(Prefix::of(&wire("c.f.ip6.arpa")).unwrap()));
    }
}
