//! The configuration file: what the user wrote, then what the program uses.
//!
//! Two stages (as ripgrep does): `raw` is a literal serde image of the TOML with
//! source spans and `deny_unknown_fields`; [`Config`] is the resolved value, every
//! default applied and every check done, so nothing downstream re-validates. Each
//! error names the file, the line and what was expected. Sections of later roles plug
//! in as further fields of `raw::File` and `Config`.

mod delegate;
mod mail;
mod raw;

pub use delegate::{Delegate, Registration};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::dns::acl::{self, AclEntry};
use crate::dns::forward::Upstream;
use crate::dns::hosts::HOST_TTL_SECS;
use crate::dns::zone::{Mode, ZoneSpec, Zones};

/// The configuration used when no `-c FILE` is given: enough to try lanseal at once.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");
/// Name shown in errors and logs for the embedded default.
pub const EMBEDDED_NAME: &str = "<embedded default>";

/// DNS threads at most, whatever the core count (each holds sockets and buffers).
const DNS_THREADS_MAX: usize = 64;
/// Listen addresses at most.
const LISTEN_ADDRESSES_MAX: usize = 32;
/// TCP clients served at once by default; when full, the oldest connection is closed.
const TCP_CONNECTIONS_DEFAULT: usize = 64;
/// A TCP client that sends nothing for this long is disconnected (RFC 7766 §6.2.3
/// suggests tens of seconds at most for an idle client).
const TCP_IDLE_TIMEOUT_MS_DEFAULT: u64 = 10_000;
const ZONE_TTL_DEFAULT_SECS: u32 = 300;
/// Queries per second one client address may send by default (a busy LAN host
/// stays far below; a flood from one address is cut to this).
const RATE_LIMIT_QPS_DEFAULT: u32 = 200;
/// Highest `rate_limit_qps` accepted (0 turns the limit off).
const RATE_LIMIT_QPS_MAX: i64 = 1_000_000;
/// Lease and hosts files (or directories) at most.
const HOST_SOURCES_MAX: usize = 32;
/// Entries in `acl` at most.
const ACL_ENTRIES_MAX: usize = 64;
const LEASE_DOMAIN_DEFAULT: &str = "lan";
/// Upstream servers at most.
const UPSTREAMS_MAX: usize = 16;
const CACHE_ENTRIES_DEFAULT: usize = 10_000;
const CACHE_BYTES_DEFAULT: usize = 4 << 20;
const TTL_MAX_DEFAULT_SECS: u32 = 86_400;
/// DNS over TLS (RFC 7858).
const DOT_PORT: u16 = 853;
/// Where OpenWrt's netifd writes the WAN's DNS servers.
const OPENWRT_RESOLV_FILE: &str = "/tmp/resolv.conf.d/resolv.conf.auto";

/// A configuration error: where, and what was expected. Exit code 2.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the error is about the file as a whole.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn filter(self) -> log::LevelFilter {
        match self {
            Self::Error => log::LevelFilter::Error,
            Self::Warn => log::LevelFilter::Warn,
            Self::Info => log::LevelFilter::Info,
            Self::Debug => log::LevelFilter::Debug,
            Self::Trace => log::LevelFilter::Trace,
        }
    }
}

/// The resolved configuration.
#[derive(Debug)]
pub struct Config {
    /// Where it came from (a path, or [`EMBEDDED_NAME`]).
    pub source: String,
    /// The file to read again on reload; `None` for the embedded default.
    pub path: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub log_level: LogLevel,
    pub user: Option<String>,
    pub dns: Dns,
    pub zones: Vec<ZoneSpec>,
    /// The delegate role, when `[delegate]` is present.
    pub delegate: Option<Delegate>,
    /// `zones` built (every record checked while building): the daemon serves
    /// these, so a zone is built once per load, not once to check and once to serve.
    pub zone_data: Zones,
}

#[derive(Clone, Debug)]
pub struct Dns {
    pub listen: Vec<SocketAddr>,
    pub threads: usize,
    pub tcp_connections_max: usize,
    pub tcp_idle_timeout: Duration,
    /// Who may ask; never empty.
    pub acl: Vec<AclEntry>,
    /// Per client address; 0 = no limit.
    pub rate_limit_qps: u32,
    /// dnsmasq lease files.
    pub leases: Vec<PathBuf>,
    /// Hosts-format files or directories of them.
    pub hosts: Vec<PathBuf>,
    /// Lease and single-label hosts names live under this domain.
    pub lease_domain: String,
    /// Where names that are not local go; empty = the servers in `resolv_file`.
    pub upstreams: Vec<Upstream>,
    /// Read for upstreams when `upstreams` is empty (and again when it changes).
    pub resolv_file: Option<PathBuf>,
    /// Per-domain upstreams: (domain, lower-case wire; its servers).
    pub routes: Vec<(Vec<u8>, Vec<Upstream>)>,
    /// Extra trust anchors (PEM) for DNS-over-TLS upstreams.
    pub upstream_ca_file: Option<PathBuf>,
    /// Drop upstream answers with private, loopback or link-local addresses.
    pub rebind_protection: bool,
    /// Domains (lower-case wire) exempt from rebinding protection.
    pub rebind_allow: Vec<Vec<u8>>,
    /// Private-range reverse lookups not known locally: NXDOMAIN, never forwarded.
    pub bogus_priv: bool,
    /// Never forward single-label names.
    pub domain_needed: bool,
    /// Serve expired answers (RFC 8767) when every upstream fails.
    pub serve_stale: bool,
    pub cache_entries_max: usize,
    pub cache_bytes_max: usize,
    pub ttl_min: u32,
    pub ttl_max: u32,
}

impl Config {
    /// Reads and resolves the file at `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            None => Self::parse(EMBEDDED_DEFAULT, EMBEDDED_NAME),
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    file: name.clone(),
                    line: 0,
                    message: format!("cannot read the config file: {e}"),
                })?;
                let mut config = Self::parse(&text, &name)?;
                config.path = Some(path.to_path_buf());
                Ok(config)
            }
        }
    }

    /// Parses and resolves `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let lines = Lines::new(text, file);
        let raw: raw::File = toml::from_str(text)
            .map_err(|e| lines.error(e.span().map_or(0, |s| s.start), e.message()))?;
        let mut config = resolve(raw, &lines)?;
        // Build the zones now, so every record error is reported before start.
        let serial = u32::try_from(crate::clock::unix_seconds()).unwrap_or(u32::MAX);
        config.zone_data = Zones::build(&config.zones, serial).map_err(|(index, e)| {
            let zone = &config.zones[index];
            let message = format!("zone `{}`: {}", zone.name, e.message);
            ConfigError {
                file: file.to_string(),
                line: e.line,
                message,
            }
        })?;
        Ok(config)
    }
}

/// Maps byte offsets in the file to 1-based line numbers (binary search over line
/// starts: a 100 000-record zone must not cost a scan per record).
struct Lines<'a> {
    text: &'a str,
    file: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str, file: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, file, starts }
    }

    fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.starts.partition_point(|&start| start <= offset)
    }

    fn error(&self, offset: usize, message: impl std::fmt::Display) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: self.line(offset),
            message: message.to_string(),
        }
    }
}

fn resolve(raw: raw::File, lines: &Lines<'_>) -> Result<Config, ConfigError> {
    let log_level = match &raw.log_level {
        None => LogLevel::Info,
        Some(level) => match level.get_ref().as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            other => {
                let message =
                    format!("log_level `{other}`: expected one of error, warn, info, debug, trace");
                return Err(lines.error(level.span().start, message));
            }
        },
    };
    let dns = resolve_dns(raw.dns.unwrap_or_default(), lines)?;
    let mut zones = Vec::with_capacity(raw.zone.len() + 1);
    for zone in raw.zone {
        zones.push(resolve_zone(zone, lines)?);
    }
    add_lease_zone(&dns, &mut zones);
    let delegate = match raw.delegate {
        None => None,
        Some(raw_delegate) => {
            // Its zone is the delegate's to build (`delegate::zone::spec`).
            Some(delegate::resolve(raw_delegate, lines)?)
        }
    };
    Ok(Config {
        source: lines.file.to_string(),
        path: None,
        state_dir: raw.state_dir.map(PathBuf::from),
        log_level,
        user: raw.user,
        dns,
        zones,
        delegate,
        zone_data: Zones::default(),
    })
}

fn resolve_dns(raw: raw::Dns, lines: &Lines<'_>) -> Result<Dns, ConfigError> {
    let listen_text = raw.listen.map(|l| l.into_inner()).unwrap_or_else(|| {
        ["0.0.0.0:53", "[::]:53"]
            .iter()
            .map(|s| toml::Spanned::new(0..0, s.to_string()))
            .collect()
    });
    let mut listen = Vec::with_capacity(listen_text.len());
    for text in &listen_text {
        let address =
            parse_listen(text.get_ref()).map_err(|m| lines.error(text.span().start, m))?;
        if listen.contains(&address) {
            return Err(lines.error(
                text.span().start,
                format!("listen address `{address}` is given twice"),
            ));
        }
        listen.push(address);
    }
    if listen.len() > LISTEN_ADDRESSES_MAX {
        return Err(lines.error(
            0,
            format!("at most {LISTEN_ADDRESSES_MAX} listen addresses"),
        ));
    }
    let threads = match raw.threads {
        None => 1,
        Some(threads) => match threads.get_ref() {
            raw::Threads::Count(n) if (1..=DNS_THREADS_MAX as i64).contains(n) => *n as usize,
            raw::Threads::Word(w) if w == "auto" => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(DNS_THREADS_MAX),
            _ => {
                let message =
                    format!("threads: expected \"auto\" or a number from 1 to {DNS_THREADS_MAX}");
                return Err(lines.error(threads.span().start, message));
            }
        },
    };
    let tcp_connections_max = match raw.tcp_connections_max {
        None => TCP_CONNECTIONS_DEFAULT,
        Some(n) if (1..=65_536).contains(n.get_ref()) => *n.get_ref() as usize,
        Some(n) => {
            return Err(lines.error(n.span().start, "tcp_connections_max: expected 1 to 65536"));
        }
    };
    let tcp_idle_timeout_ms = match raw.tcp_idle_timeout_ms {
        None => TCP_IDLE_TIMEOUT_MS_DEFAULT,
        Some(n) if (100..=600_000).contains(n.get_ref()) => *n.get_ref() as u64,
        Some(n) => {
            return Err(lines.error(
                n.span().start,
                "tcp_idle_timeout_ms: expected 100 to 600000",
            ));
        }
    };
    let acl = match raw.acl {
        None => vec![AclEntry::Local],
        Some(list) => {
            if list.get_ref().is_empty() || list.get_ref().len() > ACL_ENTRIES_MAX {
                return Err(lines.error(
                    list.span().start,
                    format!("acl: expected 1 to {ACL_ENTRIES_MAX} entries (\"local\", \"any\" or CIDRs such as \"192.168.1.0/24\")"),
                ));
            }
            let mut entries = Vec::with_capacity(list.get_ref().len());
            for entry in list.into_inner() {
                let parsed = acl::parse_entry(entry.get_ref())
                    .map_err(|m| lines.error(entry.span().start, format!("acl: {m}")))?;
                entries.push(parsed);
            }
            entries
        }
    };
    let rate_limit_qps = match raw.rate_limit_qps {
        None => RATE_LIMIT_QPS_DEFAULT,
        Some(n) if (0..=RATE_LIMIT_QPS_MAX).contains(n.get_ref()) => *n.get_ref() as u32,
        Some(n) => {
            return Err(lines.error(
                n.span().start,
                format!(
                    "rate_limit_qps: expected 0 (off) to {RATE_LIMIT_QPS_MAX} queries per second"
                ),
            ));
        }
    };
    let leases = paths(raw.leases, "leases", lines)?;
    let hosts = paths(raw.hosts, "hosts", lines)?;
    let lease_domain = match raw.lease_domain {
        None => LEASE_DOMAIN_DEFAULT.to_string(),
        Some(domain) => {
            let text = domain
                .get_ref()
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let valid = !text.is_empty()
                && crate::dns::zone::zone_origin(&text).is_ok_and(|name| !name.is_root());
            if !valid {
                return Err(lines.error(
                    domain.span().start,
                    format!(
                        "lease_domain `{}`: expected a domain name such as \"lan\"",
                        domain.get_ref()
                    ),
                ));
            }
            text
        }
    };
    let mut upstreams = Vec::new();
    for text in raw.upstreams.unwrap_or_default() {
        let address =
            parse_upstream(text.get_ref()).map_err(|m| lines.error(text.span().start, m))?;
        if upstreams.len() == UPSTREAMS_MAX {
            return Err(lines.error(
                text.span().start,
                format!("upstreams: at most {UPSTREAMS_MAX}"),
            ));
        }
        upstreams.push(address);
    }
    let resolv_file = match raw.resolv_file {
        Some(path) if path.get_ref().is_empty() => None,
        Some(path) => Some(PathBuf::from(path.into_inner())),
        None => Some(PathBuf::from(if Path::new(OPENWRT_RESOLV_FILE).exists() {
            OPENWRT_RESOLV_FILE
        } else {
            "/etc/resolv.conf"
        })),
    };
    let mut routes = Vec::new();
    for (domain, servers) in raw.routes.unwrap_or_default() {
        let at = servers.span().start;
        let wire = domain_wire(&domain).map_err(|m| lines.error(at, format!("routes: {m}")))?;
        let mut list = Vec::new();
        for server in servers.into_inner() {
            list.push(
                parse_upstream(server.get_ref())
                    .map_err(|m| lines.error(server.span().start, m))?,
            );
        }
        if list.is_empty() || list.len() > UPSTREAMS_MAX {
            return Err(lines.error(
                at,
                format!("routes: `{domain}` needs 1 to {UPSTREAMS_MAX} servers"),
            ));
        }
        routes.push((wire, list));
    }
    let upstream_ca_file = match raw.upstream_ca_file {
        None => None,
        Some(path) => {
            let file = PathBuf::from(path.get_ref());
            // Checked now, so a bad file is a config error, not a silent failure later.
            crate::dns::dot::roots(Some(&file))
                .map_err(|m| lines.error(path.span().start, format!("upstream_ca_file: {m}")))?;
            Some(file)
        }
    };
    let mut rebind_allow = Vec::new();
    for domain in raw.rebind_allow.unwrap_or_default() {
        let wire = domain_wire(domain.get_ref())
            .map_err(|m| lines.error(domain.span().start, format!("rebind_allow: {m}")))?;
        rebind_allow.push(wire);
    }
    let ttl_min_at = raw.ttl_min.as_ref().map_or(0, |n| n.span().start);
    let number = |value: Option<toml::Spanned<i64>>, key: &str, default: u64, max: u64| match value
    {
        None => Ok(default),
        Some(n) if (0..=max as i64).contains(n.get_ref()) => Ok(*n.get_ref() as u64),
        Some(n) => Err(lines.error(n.span().start, format!("{key}: expected 0 to {max}"))),
    };
    let cache_entries_max = number(
        raw.cache_entries_max,
        "cache_entries_max",
        CACHE_ENTRIES_DEFAULT as u64,
        1 << 24,
    )? as usize;
    let cache_bytes_max = number(
        raw.cache_bytes_max,
        "cache_bytes_max",
        CACHE_BYTES_DEFAULT as u64,
        1 << 30,
    )? as usize;
    let ttl_min = number(raw.ttl_min, "ttl_min", 0, 86_400)? as u32;
    let ttl_max = number(
        raw.ttl_max,
        "ttl_max",
        u64::from(TTL_MAX_DEFAULT_SECS),
        0x7FFF_FFFF,
    )? as u32;
    if ttl_min > ttl_max {
        return Err(lines.error(
            ttl_min_at,
            format!("ttl_min ({ttl_min}) is above ttl_max ({ttl_max})"),
        ));
    }
    Ok(Dns {
        listen,
        threads,
        tcp_connections_max,
        tcp_idle_timeout: Duration::from_millis(tcp_idle_timeout_ms),
        acl,
        rate_limit_qps,
        leases,
        hosts,
        lease_domain,
        upstreams,
        resolv_file,
        routes,
        upstream_ca_file,
        rebind_protection: raw.rebind_protection.unwrap_or(true),
        rebind_allow,
        bogus_priv: raw.bogus_priv.unwrap_or(true),
        domain_needed: raw.domain_needed.unwrap_or(true),
        serve_stale: raw.serve_stale.unwrap_or(true),
        cache_entries_max,
        cache_bytes_max,
        ttl_min,
        ttl_max,
    })
}

fn paths(
    raw: Option<Vec<toml::Spanned<String>>>,
    key: &str,
    lines: &Lines<'_>,
) -> Result<Vec<PathBuf>, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len());
    for path in raw {
        if path.get_ref().is_empty() {
            return Err(lines.error(path.span().start, format!("{key}: a path is empty")));
        }
        if out.len() == HOST_SOURCES_MAX {
            return Err(lines.error(
                path.span().start,
                format!("{key}: at most {HOST_SOURCES_MAX} paths"),
            ));
        }
        out.push(PathBuf::from(path.into_inner()));
    }
    Ok(out)
}

/// Lease and hosts names need a zone to be authoritative in (NXDOMAIN for unknown
/// hosts, like dnsmasq's `local=/lan/`): an empty one is added unless the config
/// already has a zone of that name.
fn add_lease_zone(dns: &Dns, zones: &mut Vec<ZoneSpec>) {
    if dns.leases.is_empty() && dns.hosts.is_empty() {
        return;
    }
    let same = |z: &ZoneSpec| {
        z.name
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&dns.lease_domain)
    };
    if !zones.iter().any(same) {
        zones.push(ZoneSpec {
            name: dns.lease_domain.clone(),
            mode: Mode::Authoritative,
            ttl: HOST_TTL_SECS,
            ip_names: false,
            ip_names_private_only: true,
            records: Vec::new(),
        });
    }
}

/// A domain name as lower-case wire format, for suffix matching.
fn domain_wire(text: &str) -> Result<Vec<u8>, String> {
    let origin = crate::dns::zone::zone_origin(text.trim())?;
    let wire = crate::dns::record::wire_name(&origin)?;
    Ok(wire.to_ascii_lowercase())
}

/// `1.1.1.1`, `9.9.9.9:53`, `[2606:4700::1111]:53`; DNS over TLS is not there yet.
fn parse_upstream(text: &str) -> Result<Upstream, String> {
    let Some(rest) = text.strip_prefix("tls://") else {
        let address = parse_listen(text).map_err(|_| {
            format!("upstream `{text}`: expected IP or IP:PORT, e.g. \"1.1.1.1\" or \"[2606:4700::1111]:53\"")
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
    let address = SocketAddr::from_str(address)
        .or_else(|_| {
            std::net::IpAddr::from_str(address.trim_start_matches('[').trim_end_matches(']'))
                .map(|ip| SocketAddr::new(ip, DOT_PORT))
        })
        .map_err(|_| {
            format!("upstream `{text}`: expected an IP address after tls://, {example}")
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
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = SocketAddr::from_str(text) {
        return Ok(address);
    }
    if let Ok(ip) = std::net::IpAddr::from_str(text.trim_start_matches('[').trim_end_matches(']')) {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "listen address `{text}`: expected IP:PORT, e.g. \"192.168.1.1:53\" or \"[::]:53\""
    ))
}

fn resolve_zone(raw: raw::Zone, lines: &Lines<'_>) -> Result<ZoneSpec, ConfigError> {
    let mode = match raw.mode.as_ref().map(|m| m.get_ref().as_str()) {
        None | Some("authoritative") => Mode::Authoritative,
        Some("overlay") => Mode::Overlay,
        Some(other) => {
            let start = raw.mode.as_ref().map_or(0, |m| m.span().start);
            return Err(lines.error(
                start,
                format!("mode `{other}`: expected \"authoritative\" or \"overlay\""),
            ));
        }
    };
    let ttl = match raw.ttl {
        None => ZONE_TTL_DEFAULT_SECS,
        Some(ttl) if (0..=0x7FFF_FFFF).contains(ttl.get_ref()) => *ttl.get_ref() as u32,
        Some(ttl) => {
            return Err(lines.error(
                ttl.span().start,
                "ttl: expected seconds from 0 to 2147483647",
            ));
        }
    };
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(lines.error(raw.name.span().start, "zone name is empty"));
    }
    let mut records: Vec<(String, usize)> = raw
        .records
        .into_iter()
        .map(|r| {
            let line = lines.line(r.span().start);
            (r.into_inner(), line)
        })
        .collect();
    if let Some(mail_block) = raw.mail {
        records.extend(mail::records(mail_block, lines)?);
    }
    Ok(ZoneSpec {
        name,
        mode,
        ttl,
        ip_names: raw.ip_names.unwrap_or(false),
        ip_names_private_only: raw.ip_names_private_only.unwrap_or(true),
        records,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn err(text: &str) -> ConfigError {
        Config::parse(text, "t.toml").unwrap_err()
    }

    #[test]
    fn embedded_default_is_valid() {
        let config = Config::load(None).unwrap();
        assert_eq!(config.dns.listen, vec!["127.0.0.1:5353".parse().unwrap()]);
        assert!(!config.zones.is_empty());
    }

    #[test]
    fn defaults() {
        let config = Config::parse("", "t.toml").unwrap();
        assert_eq!(config.dns.listen.len(), 2);
        assert_eq!(config.dns.threads, 1);
        assert_eq!(config.log_level, LogLevel::Info);
        let config =
            Config::parse("[dns]\nlisten = [\"::1\"]\nthreads = \"auto\"\n", "t.toml").unwrap();
        assert_eq!(config.dns.listen, vec!["[::1]:53".parse().unwrap()]);
        assert!(config.dns.threads >= 1);
    }

    #[test]
    fn errors_name_line_and_expectation() {
        for (text, line, needle) in [
            (
                "[dns]\nlisten = [\"127.0.0.1:53\"]\nbogus = 1\n",
                3,
                "unknown field `bogus`",
            ),
            ("log_level = \"loud\"\n", 1, "expected one of error"),
            ("[dns]\n\nlisten = [\"nope\"]\n", 3, "listen address `nope`"),
            (
                "[dns]\nlisten = [\"1.2.3.4:53\", \"1.2.3.4:53\"]\n",
                2,
                "given twice",
            ),
            ("[dns]\nthreads = 0\n", 2, "threads"),
            ("[dns]\nthreads = \"many\"\n", 2, "threads"),
            (
                "[[zone]]\nname = \"a.test\"\nmode = \"weird\"\n",
                3,
                "mode `weird`",
            ),
            (
                "[[zone]]\nname = \"a.test\"\nrecords = [\n  \"ok A 1.2.3.4\",\n  \"x A 999.1.1.1\",\n]\n",
                5,
                "not an IPv4",
            ),
            (
                "[[zone]]\nname = \"a.test\"\n[[zone]]\nname = \"A.test.\"\n",
                0,
                "defined twice",
            ),
            ("[[zone]]\nmode = \"overlay\"\n", 1, "missing field `name`"),
            ("[acme]\n", 1, "unknown field `acme`"),
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
            (
                "[dns]\n\nupstream_ca_file = \"/nonexistent/ca.pem\"\n",
                3,
                "/nonexistent/ca.pem",
            ),
            (
                "[dns]\nroutes = { \"corp.example\" = [] }\n",
                2,
                "needs 1 to",
            ),
            ("[dns]\nttl_min = 100\nttl_max = 10\n", 2, "ttl_min"),
            ("x = [\n", 1, "unclosed array"),
        ] {
            let e = err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            assert_eq!(e.file, "t.toml");
        }
    }

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
    fn display_has_file_and_line() {
        let e = ConfigError {
            file: "f".into(),
            line: 3,
            message: "m".into(),
        };
        assert_eq!(e.to_string(), "f:3: m");
    }
}
