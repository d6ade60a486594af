//! The address forms the config file takes: `IP:PORT` and `[IPv6]:PORT` (an IP
//! alone where a usual port exists), DNS listen addresses, and upstream servers
//! (plain DNS, or DNS over TLS as `tls://IP[:PORT]#NAME`). A port beyond 16 bits
//! is told apart from a malformed address, so the message can say which. Pure
//! text-to-value functions; where the text sits in the file is the caller's.

use std::net::SocketAddr;
use std::str::FromStr;

use crate::dns::forward::Upstream;

/// DNS over TLS (RFC 7858).
const DOT_PORT: u16 = 853;

/// `1.1.1.1`, `9.9.9.9:53`, `[2606:4700::1111]:53`, or DNS over TLS as
/// `tls://IP[:PORT]#NAME`.
pub(super) fn parse_upstream(text: &str) -> Result<Upstream, String> {
    let Some(rest) = text.strip_prefix("tls://") else {
        let address = socket_address(text, Some(53)).map_err(|e| match e {
            AddressError::Port(port) => format!("upstream `{text}`: {}", port_message(&port)),
            AddressError::Form => format!(
                "upstream `{text}`: expected IP or IP:PORT, e.g. \"1.1.1.1\" or \"[2606:4700::1111]:53\""
            ),
        })?;
        return Ok(Upstream {
            address,
            tls_name: None,
        });
    };
    let example = "e.g. \"tls://1.1.1.1#cloudflare-dns.com\" or \"tls://[2606:4700::1111]:853#cloudflare-dns.com\"";
    let Some((address, name)) = rest.split_once('#') else {
        return Err(format!(
            "upstream `{text}`: DNS over TLS needs the name on the server's certificate after `#`, {example}"
        ));
    };
    let address = socket_address(address, Some(DOT_PORT)).map_err(|e| match e {
        AddressError::Port(port) => format!("upstream `{text}`: {}", port_message(&port)),
        AddressError::Form => {
            format!("upstream `{text}`: expected an IP address after tls://, {example}")
        }
    })?;
    if rustls::pki_types::ServerName::try_from(name.to_string()).is_err() || name.is_empty() {
        return Err(format!(
            "upstream `{text}`: `{name}` is not a valid server name, {example}"
        ));
    }
    Ok(Upstream {
        address,
        tls_name: Some(name.to_string()),
    })
}

/// `127.0.0.1:5353`, `[::1]:53`, or an address alone (port 53).
pub(super) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    socket_address(text, Some(53)).map_err(|e| match e {
        AddressError::Port(port) => format!("listen address `{text}`: {}", port_message(&port)),
        AddressError::Form => format!(
            "listen address `{text}`: expected IP:PORT, e.g. \"192.168.1.1:53\" or \"[::]:53\""
        ),
    })
}

/// Why a socket address did not parse.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AddressError {
    /// The address is fine but the port (these digits) does not fit 16 bits.
    Port(String),
    /// Not `IP:PORT` (nor an IP alone where a default port applies).
    Form,
}

/// What to say about a port that does not fit 16 bits.
pub(super) fn port_message(port: &str) -> String {
    format!("port {port} is out of range (0–65535)")
}

/// `IP:PORT` (`[IPv6]:PORT`), or with a `default_port` an IP alone (bracketed or
/// not). A port of digits beyond 65535 is told apart from a malformed address.
pub(super) fn socket_address(
    text: &str,
    default_port: Option<u16>,
) -> Result<SocketAddr, AddressError> {
    if let Ok(address) = SocketAddr::from_str(text) {
        return Ok(address);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if let (Some(port), Ok(ip)) = (default_port, std::net::IpAddr::from_str(bare)) {
        return Ok(SocketAddr::new(ip, port));
    }
    let split = match text.strip_prefix('[') {
        Some(rest) => rest.split_once("]:"),
        None => text.rsplit_once(':').filter(|(ip, _)| !ip.contains(':')),
    };
    let port_too_large = split.is_some_and(|(ip, port)| {
        std::net::IpAddr::from_str(ip).is_ok()
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
    });
    match split {
        Some((_, port)) if port_too_large => Err(AddressError::Port(port.to_string())),
        _ => Err(AddressError::Form),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;
    use crate::config::tests::assert_errors;

    #[test]
    fn upstreams() {
        let config = Config::parse(
            "[dns]\nupstreams = [\"192.0.2.1\", \"[2001:db8::1]:5300\", \"tls://192.0.2.2#dns.example\"]\n",
            "t.toml",
        )
        .unwrap();
        let shown: Vec<String> = config.dns.upstreams.iter().map(|u| u.to_string()).collect();
        assert_eq!(
            shown,
            [
                "192.0.2.1:53",
                "[2001:db8::1]:5300",
                "tls://192.0.2.2:853#dns.example"
            ]
        );
    }

    #[test]
    fn socket_addresses() {
        let ok = |text: &str, default: Option<u16>| socket_address(text, default).unwrap();
        assert_eq!(
            ok("127.0.0.1:5353", None),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(ok("[::1]:0", None), "[::1]:0".parse().unwrap());
        assert_eq!(ok("::1", Some(53)), "[::1]:53".parse().unwrap());
        assert_eq!(ok("[::1]", Some(853)), "[::1]:853".parse().unwrap());
        for (text, default, error) in [
            ("127.0.0.1:65536", None, AddressError::Port("65536".into())),
            (
                "[2001:db8::1]:100000",
                Some(53),
                AddressError::Port("100000".into()),
            ),
            ("127.0.0.1", None, AddressError::Form),
            ("127.0.0.1:", Some(53), AddressError::Form),
            ("127.0.0.1:-1", Some(53), AddressError::Form),
            ("host:70000", Some(53), AddressError::Form),
            ("::1:70000", Some(53), AddressError::Form),
        ] {
            assert_eq!(socket_address(text, default), Err(error), "{text}");
        }
    }

    /// Listen and upstream addresses in the file: the line, and what was wrong.
    #[test]
    fn address_errors_name_line_and_expectation() {
        assert_errors(&[
            ("[dns]\n\nlisten = [\"nope\"]\n", 3, "listen address `nope`"),
            (
                "[dns]\nlisten = [\"127.0.0.1:70000\"]\n",
                2,
                "listen address `127.0.0.1:70000`: port 70000 is out of range (0–65535)",
            ),
            (
                "[dns]\nlisten = [\"[::1]:65536\"]\n",
                2,
                "port 65536 is out of range (0–65535)",
            ),
            (
                "[dns]\nupstreams = [\"192.0.2.1:99999\"]\n",
                2,
                "upstream `192.0.2.1:99999`: port 99999 is out of range (0–65535)",
            ),
            (
                "[dns]\nupstreams = [\"tls://192.0.2.1:853853#dns.example\"]\n",
                2,
                "port 853853 is out of range (0–65535)",
            ),
            (
                "[dns]\nupstreams = [\"1.1.1.1\", \"tls://1.1.1.1\"]\n",
                2,
                "name on the server's certificate",
            ),
            (
                "[dns]\nupstreams = [\"tls://one#x.org\"]\n",
                2,
                "IP address after tls://",
            ),
            ("[dns]\nupstreams = [\"nine\"]\n", 2, "upstream `nine`"),
        ]);
    }
}
