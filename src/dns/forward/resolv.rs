//! resolv.conf as an upstream list: the `nameserver` lines, without our own
//! addresses (forwarding to ourselves would loop).

use std::net::{IpAddr, SocketAddr};

use crate::dns::forward::upstream::Upstream;

/// The name servers of a resolv.conf, leaving out `ours` (lanseal's own listen
/// addresses: forwarding to ourselves would loop) and loopback servers on port 53
/// when we listen on a wildcard address there.
pub fn parse_resolv_conf(text: &str, ours: &[SocketAddr]) -> Vec<Upstream> {
    let wildcard_53 = ours
        .iter()
        .any(|a| a.port() == 53 && a.ip().is_unspecified());
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        // "fe80::1%eth0": the zone index cannot be used without an interface lookup.
        .filter_map(|address| address.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .filter(|server| {
            let own = ours.contains(server) || (wildcard_53 && server.ip().is_loopback());
            !own && !server.ip().is_unspecified()
        })
        .take(MAX_RESOLV_SERVERS)
        .map(|address| Upstream {
            address,
            tls_name: None,
        })
        .collect()
}

/// glibc reads at most three; OpenWrt's file may list more, all are used.
const MAX_RESOLV_SERVERS: usize = 8;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn resolv_conf() {
        let text = "# generated\nsearch lan\nnameserver 192.0.2.1\nnameserver 127.0.0.1\n\
                    nameserver ::1\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\nnameserver bogus\n";
        let ours: Vec<SocketAddr> = vec!["0.0.0.0:53".parse().unwrap()];
        let servers: Vec<String> = parse_resolv_conf(text, &ours)
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(servers, ["192.0.2.1:53", "[2001:db8::53]:53"]);
        let ours: Vec<SocketAddr> = vec!["127.0.0.1:5353".parse().unwrap()];
        assert_eq!(parse_resolv_conf(text, &ours).len(), 4);
    }
}
