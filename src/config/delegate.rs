//! `[delegate]`: the delegate role's settings, and the static part of its zone
//! (SOA, NS, glue, apex anti-spam records) as an ordinary authoritative zone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use super::{ConfigError, Lines, raw};
use crate::dns::acl;

/// The delegate zone's SOA minimum: how long a resolver may cache "no such name"
/// (RFC 2308). Short, because a name appears the moment an account registers.
/// Who may register accounts with the delegate API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    Open,
    /// `Authorization: Bearer <admin token>` required.
    Token,
    Closed,
}

/// `[delegate]`: the acme-dns-compatible API and its authoritative zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegate {
    /// The zone, lower-case, without the final dot.
    pub zone: String,
    /// Name servers (absolute, lower-case, with the final dot).
    pub ns: Vec<String>,
    pub ns_addresses: Vec<std::net::IpAddr>,
    /// The SOA RNAME (`hostmaster.auth.example.org.`).
    pub soa_email: String,
    pub api_listen: SocketAddr,
    /// Routes answer at `/` and under this prefix (no trailing slash; empty = none).
    pub api_prefix: String,
    /// HTTPS when both are given; plain HTTP otherwise.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub registration: Registration,
    pub admin_token_file: Option<PathBuf>,
    pub trusted_proxies: Vec<acl::Net>,
}

pub(super) fn resolve(raw: raw::Delegate, lines: &Lines<'_>) -> Result<Delegate, ConfigError> {
    let zone_at = raw.zone.span().start;
    let zone = raw
        .zone
        .get_ref()
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let valid =
        !zone.is_empty() && crate::dns::zone::zone_origin(&zone).is_ok_and(|name| !name.is_root());
    if !valid {
        return Err(lines.error(
            zone_at,
            format!("delegate.zone `{zone}`: expected a domain name such as \"auth.example.org\""),
        ));
    }
    let absolute = |text: &str| {
        let text = text.trim().to_ascii_lowercase();
        if text.ends_with('.') {
            text
        } else {
            format!("{text}.")
        }
    };
    let ns: Vec<String> = match raw.ns {
        None => vec![format!("ns1.{zone}.")],
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(lines.error(list.span().start, "delegate.ns: at least one name server"));
            }
            let mut names = Vec::new();
            for name in list.into_inner() {
                let text = absolute(name.get_ref());
                crate::dns::zone::zone_origin(&text)
                    .map_err(|m| lines.error(name.span().start, format!("delegate.ns: {m}")))?;
                names.push(text);
            }
            names
        }
    };
    let mut ns_addresses = Vec::new();
    for address in raw.ns_addresses.unwrap_or_default() {
        let ip = std::net::IpAddr::from_str(address.get_ref()).map_err(|_| {
            lines.error(
                address.span().start,
                format!(
                    "delegate.ns_addresses: `{}` is not an IP address",
                    address.get_ref()
                ),
            )
        })?;
        ns_addresses.push(ip);
    }
    let soa_email = match raw.soa_email {
        None => format!("hostmaster.{zone}."),
        Some(email) => {
            // `me@example.org` is what people write; the SOA wants `me.example.org.`.
            let text = absolute(&email.get_ref().replacen('@', ".", 1));
            crate::dns::zone::zone_origin(&text)
                .map_err(|m| lines.error(email.span().start, format!("delegate.soa_email: {m}")))?;
            text
        }
    };
    let api_listen = match raw.api_listen {
        None => SocketAddr::from(([127, 0, 0, 1], 8443)),
        Some(text) => super::parse_api_listen(text.get_ref())
            .map_err(|m| lines.error(text.span().start, m))?,
    };
    let api_prefix = match raw.api_prefix {
        None => String::new(),
        Some(prefix) => {
            let text = prefix.get_ref().trim_end_matches('/').to_string();
            if !text.is_empty() && (!text.starts_with('/') || text.contains(char::is_whitespace)) {
                return Err(lines.error(
                    prefix.span().start,
                    "delegate.api_prefix: expected a path such as \"/api/v1/acme-dns-compat\"",
                ));
            }
            text
        }
    };
    let tls = match (raw.tls_cert, raw.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some((
            PathBuf::from(cert.into_inner()),
            PathBuf::from(key.into_inner()),
        )),
        (Some(one), None) | (None, Some(one)) => {
            return Err(lines.error(one.span().start, "delegate: tls_cert and tls_key go together (both for HTTPS, neither for plain HTTP)"));
        }
    };
    let registration = match raw.registration.as_ref().map(|r| r.get_ref().as_str()) {
        None | Some("open") => Registration::Open,
        Some("token") => Registration::Token,
        Some("closed") => Registration::Closed,
        Some(other) => {
            let at = raw.registration.as_ref().map_or(0, |r| r.span().start);
            return Err(lines.error(
                at,
                format!(
                    "delegate.registration `{other}`: expected \"open\", \"token\" or \"closed\""
                ),
            ));
        }
    };
    let admin_token_file = raw.admin_token_file.map(|f| PathBuf::from(f.into_inner()));
    if registration == Registration::Token && admin_token_file.is_none() {
        return Err(lines.error(
            zone_at,
            "delegate: registration = \"token\" needs admin_token_file",
        ));
    }
    let mut trusted_proxies = Vec::new();
    for proxy in raw.trusted_proxies.unwrap_or_default() {
        let net = acl::Net::parse(proxy.get_ref()).map_err(|m| {
            lines.error(proxy.span().start, format!("delegate.trusted_proxies: {m}"))
        })?;
        trusted_proxies.push(net);
    }
    Ok(Delegate {
        zone,
        ns,
        ns_addresses,
        soa_email,
        api_listen,
        api_prefix,
        tls,
        registration,
        admin_token_file,
        trusted_proxies,
    })
}
