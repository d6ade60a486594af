//! `[delegate]`: the delegate role's settings, resolved and checked. [`resolve`]
//! runs one named part per concern: the zone and its name servers (names,
//! addresses, SOA contact), where the API listens (address, path prefix, TLS),
//! who may register, which proxies are trusted, and the secondaries that may
//! transfer the zone (with their TSIG key). The records of the delegate's
//! zone are built from these by the delegate itself (`delegate::zone::spec`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use toml::Spanned;

use super::address::{AddressError, port_message, socket_address};
use super::{ConfigError, Lines, raw};
use crate::dns::acl;

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
    /// Addresses of the in-zone name servers `glue` does not list.
    pub ns_addresses: Vec<std::net::IpAddr>,
    /// In-zone name servers with their own addresses (names as in `ns`).
    pub glue: Vec<(String, Vec<std::net::IpAddr>)>,
    /// The SOA RNAME (`hostmaster.auth.example.org.`).
    pub soa_email: String,
    pub api_listen: SocketAddr,
    /// Routes answer at `/` and under this prefix (no trailing slash; empty = none).
    pub api_prefix: String,
    /// HTTPS when both are given; plain HTTP otherwise.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `tls = "acme"`: HTTPS with a certificate for this host name (at or below
    /// the zone) that the certs role obtains, proving it in the zone itself.
    pub tls_acme: Option<String>,
    pub registration: Registration,
    pub admin_token_file: Option<PathBuf>,
    pub trusted_proxies: Vec<acl::Net>,
    /// Secondaries (port 53 unless given): notified after every change, and
    /// the only addresses that may transfer the zone.
    pub secondaries: Vec<SocketAddr>,
    /// Their TSIG key (hmac-sha256): set whenever `secondaries` is not empty.
    pub tsig: Option<Tsig>,
}

impl Delegate {
    /// The addresses the zone serves for its name server `ns` (absolute, as in
    /// `ns`): its `glue` entry, else `ns_addresses`; none outside the zone.
    pub fn ns_glue(&self, ns: &str) -> &[std::net::IpAddr] {
        if !in_zone(ns, &self.zone) {
            return &[];
        }
        match self.glue.iter().find(|(name, _)| name == ns) {
            Some((_, ips)) => ips,
            None => &self.ns_addresses,
        }
    }
}

/// `tsig_key_file` and `tsig_key_name`: the key secondaries sign with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tsig {
    /// Holds the base64 secret (alone, or as `secret: ...` / `secret "...";`).
    pub key_file: PathBuf,
    /// Absolute, lower-case, with the final dot.
    pub key_name: String,
}

/// The `[delegate]` section resolved. Parts run in the order of the keys in
/// [`Delegate`], so of several errors the first in that order is the one reported.
pub(super) fn resolve(raw: raw::Delegate, lines: &Lines<'_>) -> Result<Delegate, ConfigError> {
    let zone_at = raw.zone.span().start;
    let zone = zone_name(&raw.zone, lines)?;
    let ns = name_servers(raw.ns, &zone, lines)?;
    let ns_addresses = ns_addresses(raw.ns_addresses, lines)?;
    let glue = glue(raw.glue, &ns, &zone, lines)?;
    let soa_email = soa_email(raw.soa_email, &zone, lines)?;
    let api_listen = api_listen(raw.api_listen, lines)?;
    let api_prefix = api_prefix(raw.api_prefix, lines)?;
    let tls_acme = tls_acme(raw.tls, raw.api_host, &raw.tls_cert, &ns, &zone, lines)?;
    let tls = tls_files(raw.tls_cert, raw.tls_key, lines)?;
    let registration = registration(raw.registration.as_ref(), lines)?;
    let admin_token_file = admin_token_file(raw.admin_token_file, registration, zone_at, lines)?;
    let trusted_proxies = trusted_proxies(raw.trusted_proxies, lines)?;
    let secondaries = secondaries(raw.secondaries, "delegate.secondaries", lines)?;
    let tsig = tsig(
        [raw.tsig_key_file, raw.tsig_key_name, raw.tsig_algorithm],
        &secondaries,
        zone_at,
        "delegate",
        lines,
    )?;
    Ok(Delegate {
        zone,
        ns,
        ns_addresses,
        glue,
        soa_email,
        api_listen,
        api_prefix,
        tls,
        tls_acme,
        registration,
        admin_token_file,
        trusted_proxies,
        secondaries,
        tsig,
    })
}

// The zone and its name servers.

/// `zone`: a domain below the root, lower-case, without the final dot.
fn zone_name(raw: &Spanned<String>, lines: &Lines<'_>) -> Result<String, ConfigError> {
    let Some(zone) = super::zone::domain_below_root(raw.get_ref()) else {
        // The message shows the name as it was normalised.
        let zone = raw
            .get_ref()
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        return Err(lines.error(
            raw.span().start,
            format!("delegate.zone `{zone}`: expected a domain name such as \"auth.example.org\""),
        ));
    };
    Ok(zone)
}

/// `text` lower-case with the final dot.
fn absolute(text: &str) -> String {
    let text = text.trim().to_ascii_lowercase();
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

/// `ns`: at least one name; by default `ns1.<zone>.`.
fn name_servers(
    raw: Option<Spanned<Vec<Spanned<String>>>>,
    zone: &str,
    lines: &Lines<'_>,
) -> Result<Vec<String>, ConfigError> {
    let Some(list) = raw else {
        return Ok(vec![format!("ns1.{zone}.")]);
    };
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
    Ok(names)
}

fn ns_addresses(
    raw: Option<Vec<Spanned<String>>>,
    lines: &Lines<'_>,
) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    ip_list("delegate.ns_addresses", raw.unwrap_or_default(), lines)
}

/// `glue`: each in-zone name server of `ns` with its own addresses, for a zone
/// served by several machines (this one and its secondaries). A name that is
/// not in `ns`, or lies outside the zone (its addresses are not ours to
/// serve: its own zone's parent holds them), is an error.
fn glue(
    raw: Option<std::collections::BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    ns: &[String],
    zone: &str,
    lines: &Lines<'_>,
) -> Result<Vec<(String, Vec<std::net::IpAddr>)>, ConfigError> {
    let mut glue = Vec::new();
    for (name, list) in raw.unwrap_or_default() {
        let at = list.span().start;
        let key = format!("delegate.glue.\"{name}\"");
        let name = absolute(&name);
        if !ns.contains(&name) {
            return Err(lines.error(at, format!("{key}: not one of delegate.ns")));
        }
        if !in_zone(&name, zone) {
            return Err(lines.error(
                at,
                format!("{key}: outside the zone {zone}; its addresses belong to its own zone"),
            ));
        }
        let ips = ip_list(&key, list.into_inner(), lines)?;
        if ips.is_empty() {
            return Err(lines.error(at, format!("{key}: at least one address")));
        }
        glue.push((name, ips));
    }
    Ok(glue)
}

/// Whether the absolute `name` is `zone` or below it.
fn in_zone(name: &str, zone: &str) -> bool {
    let apex = format!("{zone}.");
    name == apex || name.ends_with(&format!(".{apex}"))
}

fn ip_list(
    key: &str,
    raw: Vec<Spanned<String>>,
    lines: &Lines<'_>,
) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    let mut ips = Vec::new();
    for address in raw {
        let ip = std::net::IpAddr::from_str(address.get_ref()).map_err(|_| {
            lines.error(
                address.span().start,
                format!("{key}: `{}` is not an IP address", address.get_ref()),
            )
        })?;
        ips.push(ip);
    }
    Ok(ips)
}

/// `soa_email` as the SOA's RNAME; by default `hostmaster.<zone>.`.
fn soa_email(
    raw: Option<Spanned<String>>,
    zone: &str,
    lines: &Lines<'_>,
) -> Result<String, ConfigError> {
    let Some(email) = raw else {
        return Ok(format!("hostmaster.{zone}."));
    };
    // `me@example.org` is what people write; the SOA wants `me.example.org.`.
    let text = absolute(&email.get_ref().replacen('@', ".", 1));
    crate::dns::zone::zone_origin(&text)
        .map_err(|m| lines.error(email.span().start, format!("delegate.soa_email: {m}")))?;
    Ok(text)
}

// Where the API listens.

/// `api_listen`; by default 127.0.0.1:8443.
fn api_listen(raw: Option<Spanned<String>>, lines: &Lines<'_>) -> Result<SocketAddr, ConfigError> {
    match raw {
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 8443))),
        Some(text) => {
            parse_api_listen(text.get_ref()).map_err(|m| lines.error(text.span().start, m))
        }
    }
}

/// `delegate.api_listen`: `IP:PORT`, the port required (there is no usual one).
fn parse_api_listen(text: &str) -> Result<SocketAddr, String> {
    socket_address(text, None).map_err(|e| match e {
        AddressError::Port(port) => {
            format!("delegate.api_listen `{text}`: {}", port_message(&port))
        }
        AddressError::Form => {
            format!("delegate.api_listen `{text}`: expected IP:PORT, e.g. \"0.0.0.0:443\"")
        }
    })
}

/// `api_prefix`: a path without the trailing slash; empty by default.
fn api_prefix(raw: Option<Spanned<String>>, lines: &Lines<'_>) -> Result<String, ConfigError> {
    let Some(prefix) = raw else {
        return Ok(String::new());
    };
    let text = prefix.get_ref().trim_end_matches('/').to_string();
    if !text.is_empty() && (!text.starts_with('/') || text.contains(char::is_whitespace)) {
        return Err(lines.error(
            prefix.span().start,
            "delegate.api_prefix: expected a path such as \"/api/v1/acme-dns-compat\"",
        ));
    }
    Ok(text)
}

/// `tls = "acme"` and `api_host`: the host name the API's certificate names; by
/// default the first name server inside the zone (its address is in the zone),
/// else the zone's apex.
fn tls_acme(
    tls: Option<Spanned<String>>,
    api_host: Option<Spanned<String>>,
    tls_cert: &Option<Spanned<String>>,
    ns: &[String],
    zone: &str,
    lines: &Lines<'_>,
) -> Result<Option<String>, ConfigError> {
    let Some(tls) = tls else {
        if let Some(host) = api_host {
            return Err(lines.error(
                host.span().start,
                "delegate.api_host: only with tls = \"acme\" (the name its certificate is for)",
            ));
        }
        return Ok(None);
    };
    if tls.get_ref() != "acme" {
        return Err(lines.error(
            tls.span().start,
            format!(
                "delegate.tls `{}`: expected \"acme\" (or tls_cert and tls_key for files)",
                tls.get_ref()
            ),
        ));
    }
    if let Some(cert) = tls_cert {
        return Err(lines.error(
            cert.span().start,
            "delegate: tls = \"acme\" obtains the certificate; tls_cert and tls_key are for files",
        ));
    }
    let inside = |name: &str| name == zone || name.ends_with(&format!(".{zone}"));
    let host = match api_host {
        Some(host) => {
            let text = host
                .get_ref()
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if !inside(&text) || super::zone::domain_below_root(&text).is_none() {
                return Err(lines.error(
                    host.span().start,
                    format!("delegate.api_host `{text}`: expected a name in the zone {zone} (its challenge is answered there)"),
                ));
            }
            text
        }
        None => ns
            .iter()
            .map(|n| n.trim_end_matches('.').to_string())
            .find(|n| inside(n))
            .unwrap_or_else(|| zone.to_string()),
    };
    Ok(Some(host))
}

/// `tls_cert` and `tls_key`: both (HTTPS) or neither (plain HTTP).
fn tls_files(
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    lines: &Lines<'_>,
) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some((
            PathBuf::from(cert.into_inner()),
            PathBuf::from(key.into_inner()),
        ))),
        (Some(one), None) | (None, Some(one)) => Err(lines.error(
            one.span().start,
            "delegate: tls_cert and tls_key go together (both for HTTPS, neither for plain HTTP)",
        )),
    }
}

// Who may register, and whom to believe about a client's address.

/// `registration`: open (the default), token or closed.
fn registration(
    raw: Option<&Spanned<String>>,
    lines: &Lines<'_>,
) -> Result<Registration, ConfigError> {
    match raw.map(|r| r.get_ref().as_str()) {
        None | Some("open") => Ok(Registration::Open),
        Some("token") => Ok(Registration::Token),
        Some("closed") => Ok(Registration::Closed),
        Some(other) => {
            let at = raw.map_or(0, |r| r.span().start);
            Err(lines.error(
                at,
                format!(
                    "delegate.registration `{other}`: expected \"open\", \"token\" or \"closed\""
                ),
            ))
        }
    }
}

/// `admin_token_file`, which `registration = "token"` needs; when it is missing,
/// the error points at the section's `zone` (at `zone_at`).
fn admin_token_file(
    raw: Option<Spanned<String>>,
    registration: Registration,
    zone_at: usize,
    lines: &Lines<'_>,
) -> Result<Option<PathBuf>, ConfigError> {
    let admin_token_file = raw.map(|f| PathBuf::from(f.into_inner()));
    if registration == Registration::Token && admin_token_file.is_none() {
        return Err(lines.error(
            zone_at,
            "delegate: registration = \"token\" needs admin_token_file",
        ));
    }
    Ok(admin_token_file)
}

fn trusted_proxies(
    raw: Option<Vec<Spanned<String>>>,
    lines: &Lines<'_>,
) -> Result<Vec<acl::Net>, ConfigError> {
    let mut trusted_proxies = Vec::new();
    for proxy in raw.unwrap_or_default() {
        let net = acl::Net::parse(proxy.get_ref()).map_err(|m| {
            lines.error(proxy.span().start, format!("delegate.trusted_proxies: {m}"))
        })?;
        trusted_proxies.push(net);
    }
    Ok(trusted_proxies)
}

// Zone transfer.

/// `secondaries` (`key` names it in errors): `IP` or `IP:PORT` each (port 53
/// by default).
pub(super) fn secondaries(
    raw: Option<Vec<Spanned<String>>>,
    key: &str,
    lines: &Lines<'_>,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut secondaries = Vec::new();
    for text in raw.unwrap_or_default() {
        let address = socket_address(text.get_ref(), Some(53)).map_err(|e| {
            let why = match e {
                AddressError::Port(port) => port_message(&port),
                AddressError::Form => "expected an IP address, or IP:PORT".to_string(),
            };
            lines.error(
                text.span().start,
                format!("{key} `{}`: {why}", text.get_ref()),
            )
        })?;
        secondaries.push(address);
    }
    Ok(secondaries)
}

/// The TSIG key of `section`: required with `secondaries`; the name defaults
/// to `lanseal-xfr.`; hmac-sha256 is the one algorithm.
pub(super) fn tsig(
    [file, name, algorithm]: [Option<Spanned<String>>; 3],
    secondaries: &[SocketAddr],
    zone_at: usize,
    section: &str,
    lines: &Lines<'_>,
) -> Result<Option<Tsig>, ConfigError> {
    if let Some(algorithm) = &algorithm
        && !algorithm.get_ref().eq_ignore_ascii_case("hmac-sha256")
    {
        return Err(lines.error(
            algorithm.span().start,
            format!(
                "{section}.tsig_algorithm `{}`: expected \"hmac-sha256\"",
                algorithm.get_ref()
            ),
        ));
    }
    let key_name = match name {
        None => "lanseal-xfr.".to_string(),
        Some(name) => {
            let text = absolute(name.get_ref());
            crate::dns::zone::zone_origin(&text).map_err(|m| {
                lines.error(name.span().start, format!("{section}.tsig_key_name: {m}"))
            })?;
            text
        }
    };
    match (file, secondaries.is_empty()) {
        (Some(file), _) => Ok(Some(Tsig {
            key_file: PathBuf::from(file.into_inner()),
            key_name,
        })),
        (None, true) => Ok(None),
        (None, false) => Err(lines.error(
            zone_at,
            "delegate: secondaries need tsig_key_file (a 0600 file with the base64 secret)",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;
    use crate::config::tests::assert_errors;

    /// `[delegate]` values: the line, and what was wrong.
    #[test]
    fn delegate_errors_name_line_and_expectation() {
        assert_errors(&[(
            "[delegate]\nzone = \"auth.test\"\napi_listen = \"0.0.0.0:443000\"\n",
            3,
            "delegate.api_listen `0.0.0.0:443000`: port 443000 is out of range (0–65535)",
        )]);
    }

    /// Each part's message in full, and of two errors the first part's: pinned
    /// when `resolve` was split into parts, so the split changed none of them.
    #[test]
    fn part_messages_and_order() {
        let zone = "[delegate]\nzone = \"auth.test\"\n";
        let cases = [
            (
                "[delegate]\nzone = \".\"\n".to_string(),
                2,
                "delegate.zone ``: expected a domain name such as \"auth.example.org\"",
            ),
            (
                format!("{zone}ns = []\n"),
                3,
                "delegate.ns: at least one name server",
            ),
            (
                format!("{zone}ns_addresses = [\"x\"]\n"),
                3,
                "delegate.ns_addresses: `x` is not an IP address",
            ),
            (
                format!("{zone}soa_email = \"a..b@c\"\n"),
                3,
                "delegate.soa_email: zone name `a..b.c.` is not a valid domain name",
            ),
            (
                format!("{zone}api_listen = \"127.0.0.1\"\n"),
                3,
                "delegate.api_listen `127.0.0.1`: expected IP:PORT, e.g. \"0.0.0.0:443\"",
            ),
            (
                format!("{zone}api_prefix = \"api\"\n"),
                3,
                "delegate.api_prefix: expected a path such as \"/api/v1/acme-dns-compat\"",
            ),
            (
                format!("{zone}\ntls_key = \"/k\"\n"),
                4,
                "delegate: tls_cert and tls_key go together (both for HTTPS, neither for plain HTTP)",
            ),
            (
                format!("{zone}registration = \"maybe\"\n"),
                3,
                "delegate.registration `maybe`: expected \"open\", \"token\" or \"closed\"",
            ),
            (
                format!("{zone}\nregistration = \"token\"\n"),
                2,
                "delegate: registration = \"token\" needs admin_token_file",
            ),
            (
                format!("{zone}trusted_proxies = [\"x\"]\n"),
                3,
                "delegate.trusted_proxies: `x`: not an IP address or network",
            ),
            (
                format!("{zone}registration = \"maybe\"\ntls_cert = \"/c\"\nns = []\n"),
                5,
                "delegate.ns: at least one name server",
            ),
        ];
        assert_errors(&cases);
    }

    #[test]
    fn tls_acme() {
        let zone = "[delegate]\nzone = \"auth.test\"\n";
        let config = Config::parse(&format!("{zone}tls = \"acme\"\n"), "t.toml").unwrap();
        let delegate = config.delegate.unwrap();
        assert_eq!(delegate.tls_acme.as_deref(), Some("ns1.auth.test"));
        // The certs role keeps it as one more certificate, proven in the zone.
        assert_eq!(config.certs.len(), 1);
        assert_eq!(config.certs[0].name, crate::config::DELEGATE_API_CERT);
        assert_eq!(config.certs[0].challenge, crate::config::Challenge::OwnZone);
        assert!(config.acme.is_some());
        let text = format!("{zone}ns = [\"ns.elsewhere.test.\"]\ntls = \"acme\"\n");
        let config = Config::parse(&text, "t.toml").unwrap();
        assert_eq!(
            config.delegate.unwrap().tls_acme.as_deref(),
            Some("auth.test")
        );
        assert_errors(&[
            (
                format!("{zone}tls = \"files\"\n"),
                3,
                "delegate.tls `files`: expected \"acme\"",
            ),
            (
                format!("{zone}tls = \"acme\"\napi_host = \"api.other.test\"\n"),
                4,
                "delegate.api_host `api.other.test`: expected a name in the zone auth.test",
            ),
            (
                format!("{zone}api_host = \"ns1.auth.test\"\n"),
                3,
                "only with tls = \"acme\"",
            ),
            (
                format!("{zone}tls = \"acme\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n"),
                4,
                "tls_cert and tls_key are for files",
            ),
        ]);
    }

    #[test]
    fn defaults_and_forms() {
        let config = Config::parse(
            "[delegate]\nzone = \"Auth.Test.\"\nsoa_email = \"Me@Example.org\"\n\
             api_prefix = \"/api/v1/\"\nregistration = \"closed\"\n",
            "t.toml",
        )
        .unwrap();
        let delegate = config.delegate.unwrap();
        assert_eq!(delegate.zone, "auth.test");
        assert_eq!(delegate.ns, ["ns1.auth.test."]);
        assert_eq!(delegate.soa_email, "me.example.org.");
        assert_eq!(delegate.api_listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(delegate.api_prefix, "/api/v1");
        assert_eq!(delegate.tls, None);
        assert_eq!(delegate.registration, Registration::Closed);
        assert!(delegate.secondaries.is_empty());
        assert_eq!(delegate.tsig, None);
    }

    /// `secondaries` and the TSIG key: forms, default name, and each error with
    /// its line.
    #[test]
    fn secondaries_and_tsig() {
        let zone = "[delegate]\nzone = \"auth.test\"\n";
        let config = Config::parse(
            &format!(
                "{zone}secondaries = [\"192.0.2.1\", \"[2001:db8::2]:5300\"]\n\
                 tsig_key_file = \"/etc/xfr.key\"\n"
            ),
            "t.toml",
        )
        .unwrap();
        let delegate = config.delegate.unwrap();
        assert_eq!(
            delegate.secondaries,
            [
                "192.0.2.1:53".parse().unwrap(),
                "[2001:db8::2]:5300".parse().unwrap()
            ]
        );
        let tsig = delegate.tsig.unwrap();
        assert_eq!(tsig.key_name, "lanseal-xfr.");
        assert_eq!(tsig.key_file, PathBuf::from("/etc/xfr.key"));
        assert_errors(&[
            (
                format!("{zone}secondaries = [\"192.0.2.1\"]\n"),
                2,
                "delegate: secondaries need tsig_key_file",
            ),
            (
                format!("{zone}secondaries = [\"ns2\"]\n"),
                3,
                "delegate.secondaries `ns2`: expected an IP address, or IP:PORT",
            ),
            (
                format!("{zone}secondaries = [\"192.0.2.1:99999\"]\n"),
                3,
                "delegate.secondaries `192.0.2.1:99999`: port 99999 is out of range",
            ),
            (
                format!("{zone}tsig_key_file = \"/k\"\ntsig_algorithm = \"hmac-md5\"\n"),
                4,
                "delegate.tsig_algorithm `hmac-md5`: expected \"hmac-sha256\"",
            ),
            (
                format!("{zone}tsig_key_file = \"/k\"\ntsig_key_name = \"a..b\"\n"),
                4,
                "delegate.tsig_key_name",
            ),
        ]);
    }
    /// `glue`: each in-zone name server's own addresses, `ns_addresses` for
    /// the rest, none outside the zone; each error with its line.
    #[test]
    fn glue_per_name_server() {
        let zone = "[delegate]\nzone = \"auth.test\"\n";
        let ns = "ns = [\"ns1.auth.test.\", \"ns2.auth.test\", \"ns.other.test.\"]\n";
        let config = Config::parse(
            &format!(
                "{zone}{ns}ns_addresses = [\"192.0.2.1\"]\n\
                 glue = {{ \"ns2.auth.test\" = [\"198.51.100.2\", \"2001:db8::2\"] }}\n"
            ),
            "t.toml",
        )
        .unwrap();
        let delegate = config.delegate.unwrap();
        let ip = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(delegate.ns_glue("ns1.auth.test."), [ip("192.0.2.1")]);
        assert_eq!(
            delegate.ns_glue("ns2.auth.test."),
            [ip("198.51.100.2"), ip("2001:db8::2")]
        );
        assert!(delegate.ns_glue("ns.other.test.").is_empty());
        assert_errors(&[
            (
                format!("{zone}{ns}glue = {{ \"ns3.auth.test\" = [\"192.0.2.3\"] }}\n"),
                4,
                "delegate.glue.\"ns3.auth.test\": not one of delegate.ns",
            ),
            (
                format!("{zone}{ns}glue = {{ \"ns.other.test\" = [\"192.0.2.3\"] }}\n"),
                4,
                "outside the zone auth.test",
            ),
            (
                format!("{zone}{ns}glue = {{ \"ns2.auth.test\" = [\"ns1\"] }}\n"),
                4,
                "delegate.glue.\"ns2.auth.test\": `ns1` is not an IP address",
            ),
            (
                format!("{zone}{ns}glue = {{ \"ns2.auth.test\" = [] }}\n"),
                4,
                "at least one address",
            ),
        ]);
    }
}
