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
                let bytes = std::fs::read(path).map_err(|e| ConfigError {
                    file: name.clone(),
                    line: 0,
                    message: format!("cannot read the config file: {e}"),
                })?;
                let text = utf8(bytes, &name)?;
                let mut config = Self::parse(&text, &name)?;
                config.path = Some(path.to_path_buf());
                Ok(config)
            }
        }
    }

    /// Parses and resolves `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let lines = Lines::new(text, file);
        let raw: raw::File = toml::from_str(text).map_err(|e| {
            let message = raw::unknown_key_message(e.message());
            let message = message.unwrap_or_else(|| e.message().to_string());
            lines.error(e.span().map_or(0, |s| s.start), message)
        })?;
        let (mut config, zone_lines) = resolve(raw, &lines)?;
        // Build the zones now, so every record error is reported before start.
        let serial = u32::try_from(crate::clock::unix_seconds()).unwrap_or(u32::MAX);
        config.zone_data = Zones::build(&config.zones, serial).map_err(|(index, e)| {
            let zone = &config.zones[index];
            let message = format!("zone `{}`: {}", zone.name, e.message);
            // An error about the zone as a whole points at the zone's name.
            let line = match e.line {
                0 => zone_lines.get(index).copied().unwrap_or(0),
                line => line,
            };
            ConfigError {
                file: file.to_string(),
                line,
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

/// The file's bytes as text; invalid UTF-8 is reported at its line and column
/// (both 1-based, the column counted in bytes) with the offending byte.
fn utf8(bytes: Vec<u8>, file: &str) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..offset];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = offset - line_start + 1;
        let byte = bytes.get(offset).copied().unwrap_or(0);
        ConfigError {
            file: file.to_string(),
            line,
            message: format!(
                "invalid UTF-8 at column {column} (byte 0x{byte:02x} at offset {offset}): \
                 the config file must be UTF-8 text"
            ),
        }
    })
}

/// Resolves `raw`; also returns the config line of each zone in `Config::zones`
/// (its `name`, `delegate.zone`, or `lease_domain`; 0 when not written).
fn resolve(raw: raw::File, lines: &Lines<'_>) -> Result<(Config, Vec<usize>), ConfigError> {
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
    let raw_dns = raw.dns.unwrap_or_default();
    let lease_domain_line = raw_dns
        .lease_domain
        .as_ref()
        .map_or(0, |d| lines.line(d.span().start));
    let dns = resolve_dns(raw_dns, lines)?;
    let mut zones = Vec::with_capacity(raw.zone.len() + 1);
    let mut zone_lines = Vec::with_capacity(raw.zone.len() + 1);
    for zone in raw.zone {
        let at = zone.name.span().start;
        let spec = resolve_zone(zone, lines)?;
        check_zone_unique(&spec.name, &zones, &zone_lines, lines, at, "zone")?;
        zones.push(spec);
        zone_lines.push(lines.line(at));
    }
    if add_lease_zone(&dns, &mut zones) {
        zone_lines.push(lease_domain_line);
    }
    let delegate = match raw.delegate {
        None => None,
        Some(raw_delegate) => {
            let at = raw_delegate.zone.span().start;
            let delegate = delegate::resolve(raw_delegate, lines)?;
            check_zone_unique(
                &delegate.zone,
                &zones,
                &zone_lines,
                lines,
                at,
                "delegate.zone",
            )?;
            // Its zone is the delegate's to build (`delegate::zone::spec`).
            Some(delegate)
        }
    };
    let config = Config {
        source: lines.file.to_string(),
        path: None,
        state_dir: raw.state_dir.map(PathBuf::from),
        log_level,
        user: raw.user,
        dns,
        zones,
        delegate,
        zone_data: Zones::default(),
    };
    Ok((config, zone_lines))
}

/// A zone name may be defined once: the error for the second definition (at
/// `at`) names the line of the first. Names compare as DNS names (case and a
/// final dot do not matter); a name that does not parse is left to the zone
/// builder, which reports it.
fn check_zone_unique(
    name: &str,
    zones: &[ZoneSpec],
    zone_lines: &[usize],
    lines: &Lines<'_>,
    at: usize,
    key: &str,
) -> Result<(), ConfigError> {
    let Ok(wire) = domain_wire(name) else {
        return Ok(());
    };
    let first = zones
        .iter()
        .position(|zone| domain_wire(&zone.name).is_ok_and(|w| w == wire));
    let Some(first) = first else {
        return Ok(());
    };
    let first_line = zone_lines.get(first).copied().unwrap_or(0);
    Err(lines.error(
        at,
        format!("{key} `{name}` is defined twice: the first definition is at line {first_line}"),
    ))
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
/// already has a zone of that name. Without lease and hosts files there is no
/// such zone. True when it was added.
fn add_lease_zone(dns: &Dns, zones: &mut Vec<ZoneSpec>) -> bool {
    if dns.leases.is_empty() && dns.hosts.is_empty() {
        return false;
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
        return true;
    }
    false
}

/// A domain name as lower-case wire format, for suffix matching.
fn domain_wire(text: &str) -> Result<Vec<u8>, String> {
    let origin = crate::dns::zone::zone_origin(text.trim())?;
    let wire = crate::dns::record::wire_name(&origin)?;
    Ok(wire.to_ascii_lowercase())
}

/// `1.1.1.1`, `9.9.9.9:53`, `[2606:4700::1111]:53`, or DNS over TLS as
/// `tls://IP[:PORT]#NAME`.
fn parse_upstream(text: &str) -> Result<Upstream, String> {
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
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    socket_address(text, Some(53)).map_err(|e| match e {
        AddressError::Port(port) => format!("listen address `{text}`: {}", port_message(&port)),
        AddressError::Form => format!(
            "listen address `{text}`: expected IP:PORT, e.g. \"192.168.1.1:53\" or \"[::]:53\""
        ),
    })
}

/// Why a socket address did not parse.
#[derive(Debug, PartialEq, Eq)]
enum AddressError {
    /// The address is fine but the port (these digits) does not fit 16 bits.
    Port(String),
    /// Not `IP:PORT` (nor an IP alone where a default port applies).
    Form,
}

/// What to say about a port that does not fit 16 bits.
fn port_message(port: &str) -> String {
    format!("port {port} is out of range (0–65535)")
}

/// `IP:PORT` (`[IPv6]:PORT`), or with a `default_port` an IP alone (bracketed or
/// not). A port of digits beyond 65535 is told apart from a malformed address.
fn socket_address(text: &str, default_port: Option<u16>) -> Result<SocketAddr, AddressError> {
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
                "unknown key `bogus` in [dns]",
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
                4,
                "zone `A.test.` is defined twice: the first definition is at line 2",
            ),
            (
                "[dns]\nleases = [\"/nonexistent/leases\"]\nlease_domain = \"lan\"\n\
                 [delegate]\nzone = \"LAN.\"\n",
                5,
                "delegate.zone `lan` is defined twice: the first definition is at line 3",
            ),
            ("[[zone]]\nname = \".\"\n", 2, "root zone"),
            ("[[zone]]\nmode = \"overlay\"\n", 1, "missing field `name`"),
            ("[acme]\n", 1, "unknown key `acme` at the top level"),
            (
                "[dns]\ncache_entry_max = 5\n",
                2,
                "unknown key `cache_entry_max` in [dns]; did you mean `cache_entries_max`?",
            ),
            (
                "[[zone]]\nname = \"a.test\"\nip_name = true\n",
                3,
                "unknown key `ip_name` in [[zone]]; did you mean `ip_names`?",
            ),
            (
                "[[zone]]\nname = \"a.test\"\n[zone.mail]\nspff = \"v=spf1 -all\"\n",
                4,
                "unknown key `spff` in [zone.mail]; did you mean `spf`?",
            ),
            (
                "[delegate]\nzone = \"auth.test\"\nlog_level = \"debug\"\n",
                3,
                "`log_level` is a key at the top level",
            ),
            ("usr = \"nobody\"\n", 1, "did you mean `user`?"),
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
                "[delegate]\nzone = \"auth.test\"\napi_listen = \"0.0.0.0:44300\"\napi_listen_x = 1\n",
                4,
                "did you mean `api_listen`?",
            ),
            (
                "[delegate]\nzone = \"auth.test\"\napi_listen = \"0.0.0.0:443000\"\n",
                3,
                "delegate.api_listen `0.0.0.0:443000`: port 443000 is out of range (0–65535)",
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
    fn invalid_utf8_names_line_and_column() {
        let e = utf8(b"[dns]\nthreads = 1 # caf\xe9\n".to_vec(), "t.toml").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(
            e.message
                .contains("invalid UTF-8 at column 18 (byte 0xe9 at offset 23)"),
            "{e}"
        );
        let e = utf8(b"\xff".to_vec(), "t.toml").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        assert!(
            e.message.contains("column 1 (byte 0xff at offset 0)"),
            "{e}"
        );
        assert_eq!(utf8("é\n".into(), "t.toml").unwrap(), "é\n");
    }

    #[test]
    fn unknown_key_message_is_short() {
        let e = err("[dns]\nlisen = 1\n");
        assert_eq!(
            e.message,
            "unknown key `lisen` in [dns]; did you mean `listen`?"
        );
    }

    #[test]
    fn lease_zone_exists_only_with_leases_or_hosts() {
        let has_lan = |text: &str| {
            let config = Config::parse(text, "t.toml").unwrap();
            config.zones.iter().any(|z| z.name == "lan")
        };
        assert!(!has_lan("[dns]\nlease_domain = \"lan\"\n"));
        assert!(has_lan("[dns]\nleases = [\"/nonexistent/leases\"]\n"));
        assert!(has_lan("[dns]\nhosts = [\"/nonexistent/hosts\"]\n"));
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
