//! Who may ask: the `dns.acl` entries (`local`, `any`, addresses and networks) turned
//! into an [`Acl`] that answers "may this client address query us?".
//!
//! This module owns parsing of network strings and the per-query check. Invariants:
//! a [`Net`] always has its host bits cleared; an [`Acl`] keeps IPv4 and IPv6
//! networks apart as (network, mask) integers, so [`Acl::allows`] is a short linear
//! scan with no allocation, and an IPv4-mapped IPv6 client (`::ffff:a.b.c.d`) is
//! checked as the IPv4 address it is. Bounds: the lists are as long as the config
//! plus the interface addresses; [`local_networks`] is called at start-up and on
//! interface changes, never per query.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

/// One entry of `dns.acl` as the config resolves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclEntry {
    /// The networks of this machine's interfaces (and loopback).
    Local,
    /// Every client.
    Any,
    Net(Net),
}

/// An address with a prefix length; `addr` has every bit past `prefix` cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Net {
    /// `addr` with its host bits cleared; `prefix` capped at the family's length.
    pub fn new(addr: IpAddr, prefix: u8) -> Net {
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask_v4(prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask_v6(prefix)).into()),
        };
        let prefix = prefix.min(if addr.is_ipv4() { 32 } else { 128 });
        Net { addr, prefix }
    }

    /// Parses "192.168.1.0/24", "fd00::/8", "10.0.0.1" (= /32) or "::1" (= /128).
    /// Host bits are accepted and cleared ("10.0.0.1/8" is 10.0.0.0/8, as dnsmasq
    /// does). An IPv4-mapped network (`::ffff:10.0.0.0/104`) becomes its IPv4 form.
    pub fn parse(text: &str) -> Result<Net, String> {
        let trimmed = text.trim();
        let (addr_text, prefix_text) = match trimmed.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (trimmed, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            format!("`{text}`: not an IP address or network (like 192.168.1.0/24 or fd00::/8)")
        })?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text.map(str::parse::<u8>) {
            None => bits,
            Some(Ok(n)) if n <= bits => n,
            Some(_) => {
                let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                return Err(format!(
                    "`{text}`: prefix length must be 0 to {bits} for {family}"
                ));
            }
        };
        match addr.to_canonical() {
            v4 if v4 != addr && prefix >= 96 => Ok(Net::new(v4, prefix - 96)),
            _ => Ok(Net::new(addr, prefix)),
        }
    }

    /// True if `ip` lies in this network (an IPv4-mapped `ip` counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask_v4(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask_v6(self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask_v4(prefix: u8) -> u32 {
    // Shifting a u64 by 32 is defined; the low half is the mask.
    (u64::MAX << (32 - u32::from(prefix.min(32)))) as u32
}

fn mask_v6(prefix: u8) -> u128 {
    let shift = 128 - u32::from(prefix.min(128));
    u128::MAX.checked_shl(shift).unwrap_or(0)
}

/// Parses one config string: "local", "any", or an address or network.
pub fn parse_entry(text: &str) -> Result<AclEntry, String> {
    match text.trim() {
        word if word.eq_ignore_ascii_case("local") => Ok(AclEntry::Local),
        word if word.eq_ignore_ascii_case("any") => Ok(AclEntry::Any),
        word => Net::parse(word)
            .map(AclEntry::Net)
            .map_err(|message| match word.contains('/') {
                true => message,
                false => format!("`{text}`: expected `local`, `any`, an IP address or a network"),
            }),
    }
}

/// The networks of every address on an interface that is up, plus 127.0.0.0/8 and
/// ::1/128 always (IPv6 link-local fe80::/10 networks included where present).
/// IPv4 networks count only when private, loopback or link-local: a public IPv4
/// subnet is the WAN side of a router (an ISP's shared segment), and "local" must
/// never open the resolver to it. IPv6 LANs use global prefixes, so every IPv6
/// network counts (dnsmasq's `local-service` counts every subnet of both).
pub fn local_networks() -> io::Result<Vec<Net>> {
    static RUNNING: AtomicBool = AtomicBool::new(false);
    bounded(DISCOVERY_TIMEOUT, read_interfaces, &RUNNING)
}

/// How long interface discovery may take. It is one netlink dump, answered in
/// microseconds by a kernel; qemu-user's netlink emulation for big-endian guests
/// (mips under `qemu-mips-static`) never answers it, and nothing else bounds it.
pub const DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `discover` on a thread of its own and waits at most `timeout` for it. A
/// discovery that hangs keeps its thread, so while one is still running
/// (`running`) no second one starts: at most one thread is ever stuck.
fn bounded(
    timeout: std::time::Duration,
    discover: fn() -> io::Result<Vec<Net>>,
    running: &'static AtomicBool,
) -> io::Result<Vec<Net>> {
    if running.swap(true, Ordering::AcqRel) {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "an earlier interface discovery has not finished",
        ));
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("interfaces".into())
        .spawn(move || {
            let result = discover();
            running.store(false, Ordering::Release);
            let _ = sender.send(result);
        });
    if let Err(e) = spawned {
        running.store(false, Ordering::Release);
        return Err(e);
    }
    receiver.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "getifaddrs did not answer within {} s (a netlink socket that never \
                 replies: qemu-user on a big-endian guest does this)",
                timeout.as_secs()
            ),
        ))
    })
}

/// Loopback plus the subnets of the interfaces that are up (public IPv4 left out).
fn read_interfaces() -> io::Result<Vec<Net>> {
    let mut nets = vec![
        Net::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8),
        Net::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
    ];
    for interface in getifaddrs().map_err(io::Error::from)? {
        if !interface.flags.contains(InterfaceFlags::IFF_UP) {
            continue;
        }
        let (Some(addr), Some(mask)) = (interface.address, interface.netmask) else {
            continue;
        };
        let net = if let (Some(a), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            // A public IPv4 subnet is a router's WAN side (LANs use private space):
            // its neighbours must list it explicitly to be answered.
            if !crate::dns::ipname::is_private(IpAddr::V4(a.ip())) {
                continue;
            }
            let prefix = u32::from(m.ip()).leading_ones() as u8;
            Net::new(IpAddr::V4(a.ip()), prefix)
        } else if let (Some(a), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            let prefix = u128::from(m.ip()).leading_ones() as u8;
            Net::new(IpAddr::V6(a.ip()), prefix)
        } else {
            continue;
        };
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok(nets)
}

/// The resolved access list, checked once per query.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    any: bool,
    uses_local: bool,
    /// (network, mask) pairs, network already masked.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Acl {
    /// Builds the list; `local` stands in for every [`AclEntry::Local`] (the caller
    /// gets it from [`local_networks`] and rebuilds on interface changes).
    pub fn new(entries: &[AclEntry], local: &[Net]) -> Acl {
        let mut acl = Acl::default();
        for entry in entries {
            match entry {
                AclEntry::Any => acl.any = true,
                AclEntry::Local => {
                    acl.uses_local = true;
                    local.iter().for_each(|net| acl.push(net));
                }
                AclEntry::Net(net) => acl.push(net),
            }
        }
        acl
    }

    fn push(&mut self, net: &Net) {
        let net = Net::new(net.addr, net.prefix);
        match net.addr {
            IpAddr::V4(a) => self.v4.push((a.into(), mask_v4(net.prefix))),
            IpAddr::V6(a) => self.v6.push((a.into(), mask_v6(net.prefix))),
        }
    }

    /// May `ip` query us? No allocation; an IPv4-mapped address is checked as IPv4.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.any
            || match ip.to_canonical() {
                IpAddr::V4(a) => self.v4.iter().any(|&(n, mask)| u32::from(a) & mask == n),
                IpAddr::V6(a) => self.v6.iter().any(|&(n, mask)| u128::from(a) & mask == n),
            }
    }

    /// True if the entries named `local`: the caller then watches interfaces.
    pub fn uses_local(&self) -> bool {
        self.uses_local
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn net(text: &str) -> Net {
        Net::parse(text).unwrap()
    }

    /// Rows of `subject | allowed clients | refused clients`, space-separated.
    fn rows(table: &str) -> impl Iterator<Item = Vec<&str>> {
        table.lines().map(|l| l.split('|').collect())
    }

    fn assert_clients(check: impl Fn(IpAddr) -> bool, row: &[&str]) {
        for client in row[1].split_whitespace() {
            assert!(check(ip(client)), "{row:?}: {client} refused");
        }
        for client in row[2].split_whitespace() {
            assert!(!check(ip(client)), "{row:?}: {client} allowed");
        }
    }

    #[test]
    fn parse_good_and_bad() {
        for (text, wanted) in [
            ("192.168.1.0/24", "192.168.1.0/24"),
            ("10.0.0.1", "10.0.0.1/32"),
            ("10.0.0.1/8", "10.0.0.0/8"),
            (" 0.0.0.0/0 ", "0.0.0.0/0"),
            ("fd12:3456::1/16", "fd12::/16"),
            ("::1", "::1/128"),
            ("::ffff:10.1.2.3/104", "10.0.0.0/8"),
        ] {
            assert_eq!(net(text).to_string(), wanted, "{text}");
        }
        for (text, wanted) in [
            ("10.0.0.0/33", "prefix length must be 0 to 32 for IPv4"),
            ("fd00::/129", "prefix length must be 0 to 128 for IPv6"),
            ("10.0.0.0/", "prefix length must be 0 to 32"),
            ("10.0.0.0/-1", "prefix length must be 0 to 32"),
            ("10.0.0/8", "not an IP address"),
            ("router.lan", "not an IP address"),
        ] {
            let (message, start) = (Net::parse(text).unwrap_err(), format!("`{text}`: {wanted}"));
            assert!(message.starts_with(&start), "{message}");
        }
        assert_eq!(parse_entry("local"), Ok(AclEntry::Local));
        assert_eq!(parse_entry("ANY"), Ok(AclEntry::Any));
        assert_eq!(parse_entry("::1"), Ok(AclEntry::Net(net("::1/128"))));
        let message = parse_entry("lan").unwrap_err();
        assert!(message.contains("expected `local`, `any`"), "{message}");
        assert!(parse_entry("10.0.0.0/40").unwrap_err().contains("0 to 32"));
    }

    #[test]
    fn contains_edges() {
        for row in rows(
            "0.0.0.0/0       | 203.0.113.9 ::ffff:1.2.3.4       | 2001:db8::1
             ::/0            | 2001:db8::1 ::1                  | 203.0.113.9
             10.0.0.1/32     | 10.0.0.1                         | 10.0.0.2 10.0.0.0
             192.168.1.0/24  | 192.168.1.255 ::ffff:192.168.1.7 | 192.168.2.0 192.168.0.255
             2001:db8::1/128 | 2001:db8::1                      | 2001:db8::2
             fe80::/10       | fe80::1 febf::1                  | fec0::1 fe7f::1",
        ) {
            let network = net(row[0]);
            assert_clients(|ip| network.contains(ip), &row);
        }
    }

    #[test]
    fn acl_allows() {
        let local = [net("127.0.0.0/8"), net("192.168.1.0/24"), net("fe80::/64")];
        for row in rows(
            "192.168.0.0/16 10.0.0.1 | 192.168.4.1 10.0.0.1 ::ffff:10.0.0.1 | 10.0.0.2 ::1 fe80::1
             fd00::/8                | fd00::53                   | 192.168.1.1 ::ffff:192.168.1.1
             any                     | 203.0.113.1 2001:db8::1    |
                                     |                            | 127.0.0.1 ::1
             local 203.0.113.5       | 127.0.0.53 192.168.1.20 fe80::1234 203.0.113.5 | 10.0.0.1
             local                   | 192.168.1.1 | fe80:0:0:1::1 2001:db8::1 ::1 203.0.113.5",
        ) {
            let entries: Vec<AclEntry> = row[0]
                .split_whitespace()
                .map(|t| parse_entry(t).unwrap())
                .collect();
            let acl = Acl::new(&entries, &local);
            assert_eq!(acl.uses_local(), row[0].contains("local"), "{row:?}");
            assert_clients(|ip| acl.allows(ip), &row);
        }
    }

    #[test]
    fn local_networks_include_loopback() {
        let nets = local_networks().unwrap();
        assert!(nets.contains(&net("127.0.0.0/8")), "{nets:?}");
        assert!(nets.contains(&net("::1/128")), "{nets:?}");
        assert!(nets.iter().all(|n| *n == Net::new(n.addr, n.prefix)));
    }

    fn hangs() -> io::Result<Vec<Net>> {
        std::thread::sleep(std::time::Duration::from_secs(3));
        Ok(Vec::new())
    }

    /// A discovery that does not answer is given up after the timeout, and no
    /// second one starts while it still hangs; once it ends, discovery works again.
    #[test]
    fn interface_discovery_is_bounded() {
        static RUNNING: AtomicBool = AtomicBool::new(false);
        let short = std::time::Duration::from_millis(200);
        let e = bounded(short, hangs, &RUNNING).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("qemu-user"), "{e}");
        let e = bounded(short, read_interfaces, &RUNNING).unwrap_err();
        assert!(e.to_string().contains("not finished"), "{e}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let nets = loop {
            match bounded(
                std::time::Duration::from_secs(10),
                read_interfaces,
                &RUNNING,
            ) {
                Ok(nets) => break nets,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(100))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert!(nets.contains(&Net::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8)));
    }
}
