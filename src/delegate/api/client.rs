//! Who the client is, for `allowfrom` and the rate limits: the socket peer, or,
//! when the peer is a trusted reverse proxy, the address the proxies vouch for
//! in `X-Forwarded-For`.
//!
//! Every header line counts, joined in order (RFC 9110 §5.3: repeated lines are
//! one comma list; HAProxy's `option forwardfor` adds its own line after the
//! client's). Hops are walked right to left — each was appended by the party
//! one step closer to us — and trusted proxies are passed over; the first hop
//! that is not a trusted proxy is the client. Anything that is not a bare IP
//! address (`ip:port`, `[v6]`, `unknown`, an empty hop) ends the walk, and the
//! client is then the last trusted hop reached (at worst the peer): the hop
//! was written by someone we do not trust to write well, and everything left
//! of it may be the client's own invention. Skipping it instead would let a
//! client choose its address by sending `X-Forwarded-For: <any>, x:1` through
//! a proxy that writes ports. Attributing such requests to the proxy fails
//! closed: `allowfrom` does not match, and they share the proxy's limits.

use std::net::IpAddr;

/// The client's address; see the module documentation.
pub fn client_ip<'h>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'h str>,
    trusted: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    if !trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for line in forwarded.rev() {
        for hop in line.rsplit(',') {
            let Ok(ip) = hop.trim_matches([' ', '\t']).parse::<IpAddr>() else {
                return client;
            };
            let ip = ip.to_canonical();
            if !trusted(ip) {
                return ip;
            }
            client = ip;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::acl::Net;

    #[test]
    fn right_most_untrusted_hop_of_all_lines() {
        let proxies = [
            Net::parse("127.0.0.1/32").unwrap(),
            Net::parse("10.9.0.0/16").unwrap(),
        ];
        let trusted = |ip: IpAddr| proxies.iter().any(|net| net.contains(ip));
        let proxy = "127.0.0.1";
        let table: &[(&str, &[&str], &str)] = &[
            // An untrusted peer is the client, whatever it says.
            ("198.51.100.9", &["192.0.2.7"], "198.51.100.9"),
            (proxy, &[], proxy),
            (proxy, &["192.0.2.7"], "192.0.2.7"),
            (proxy, &["192.0.2.7, 10.9.1.1"], "192.0.2.7"),
            (proxy, &["192.0.2.7,198.51.100.1"], "198.51.100.1"),
            (proxy, &["192.0.2.7 , 2001:db8::1"], "2001:db8::1"),
            (proxy, &["2001:db8::1, 192.0.2.9"], "192.0.2.9"),
            (proxy, &["::ffff:192.0.2.9"], "192.0.2.9"),
            // HAProxy's own line comes last: it names the real client.
            (proxy, &["192.0.2.7", "198.51.100.1"], "198.51.100.1"),
            (
                proxy,
                &["192.0.2.7", "198.51.100.1, 10.9.0.1"],
                "198.51.100.1",
            ),
            (
                proxy,
                &["192.0.2.7, 198.51.100.1", "10.9.0.1"],
                "198.51.100.1",
            ),
            // A hop that is not a bare address stops the walk at the last
            // trusted hop reached.
            (proxy, &["192.0.2.7, 198.51.100.1:4711"], proxy),
            (proxy, &["192.0.2.7", "198.51.100.1:4711"], proxy),
            (proxy, &["192.0.2.7, garbage, 10.9.1.1"], "10.9.1.1"),
            (proxy, &["192.0.2.7,,10.9.1.1"], "10.9.1.1"),
            (proxy, &["192.0.2.7", ""], proxy),
            (proxy, &["[2001:db8::1]"], proxy),
            (proxy, &["[2001:db8::1]:443"], proxy),
            (proxy, &["unknown"], proxy),
            (proxy, &["192.0.2.7, fe80::1%eth0"], proxy),
            // Only trusted hops: the left-most of them.
            (proxy, &["10.9.0.1, 10.9.0.2"], "10.9.0.1"),
        ];
        let wrong: Vec<String> = table
            .iter()
            .filter_map(|(peer, lines, expected)| {
                let got = client_ip(peer.parse().unwrap(), lines.iter().copied(), trusted);
                let want: IpAddr = expected.parse().unwrap();
                (got != want).then(|| format!("peer {peer} {lines:?}: {got}, not {want}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
