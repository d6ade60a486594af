//! `[dns]`: the resolved [`Dns`] settings and their resolution from the raw
//! section. [`resolve`] reads the keys in the order of the struct, one named part
//! per concern (sockets and threads, who may ask, host sources, where queries go,
//! rebinding, cache and TTL bounds); each part applies its default, checks its
//! bound and reports at the line of the offending value. The address forms are
//! `address`'s; the lease zone this section implies is `zone`'s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::address::{parse_listen, parse_upstream};
use super::{ConfigError, Lines, raw};
use crate::dns::acl::{self, AclEntry};
use crate::dns::forward::Upstream;
use crate::dns::tsig::Key;
use crate::dns::xfr::ZoneTransfers;
use crate::dns::zone::{ZONE_RECORDS_MAX_DEFAULT, domain_wire};

/// DNS threads at most, whatever the core count (each holds sockets and buffers).
const DNS_THREADS_MAX: usize = 64;
/// Listen addresses at most.
const LISTEN_ADDRESSES_MAX: usize = 32;
/// The largest `zone_records_max`: 2^26 records (about 3.3 GB of zone data),
/// far above any router; the zone arena's 32-bit offsets hold it.
const ZONE_RECORDS_LIMIT: u64 = 1 << 26;
/// TCP clients served at once by default; when full, the oldest connection is closed.
const TCP_CONNECTIONS_DEFAULT: usize = 64;
/// A TCP client that sends nothing for this long is disconnected (RFC 7766 §6.2.3
/// suggests tens of seconds at most for an idle client).
const TCP_IDLE_TIMEOUT_MS_DEFAULT: u64 = 10_000;
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
/// Where OpenWrt's netifd writes the WAN's DNS servers.
const OPENWRT_RESOLV_FILE: &str = "/tmp/resolv.conf.d/resolv.conf.auto";

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
    /// Refresh cached answers asked for in the last tenth of their TTL.
    pub prefetch: bool,
    pub cache_entries_max: usize,
    pub cache_bytes_max: usize,
    pub ttl_min: u32,
    pub ttl_max: u32,
    /// Records all local zones may hold together (memory: about 50 bytes each).
    pub zone_records_max: usize,
    /// `tsig_key_file`, read: the key the router zones' secondaries sign with.
    pub zone_key: Option<Arc<Key>>,
    /// The router zones with `secondaries` (set with the zones, `zone::transfers`).
    pub zone_transfers: Option<Arc<ZoneTransfers>>,
}

/// The `[dns]` section resolved. Parts run in the order of the keys in [`Dns`],
/// so of several errors the first in that order is the one reported.
pub(super) fn resolve(raw: raw::Dns, lines: &Lines<'_>) -> Result<Dns, ConfigError> {
    let listen = listen_addresses(raw.listen, lines)?;
    let threads = thread_count(raw.threads, lines)?;
    let tcp_connections_max = tcp_connections(raw.tcp_connections_max, lines)?;
    let tcp_idle_timeout = tcp_idle_timeout(raw.tcp_idle_timeout_ms, lines)?;
    let acl = acl_entries(raw.acl, lines)?;
    let rate_limit_qps = rate_limit(raw.rate_limit_qps, lines)?;
    let leases = paths(raw.leases, "leases", lines)?;
    let hosts = paths(raw.hosts, "hosts", lines)?;
    let lease_domain = lease_domain(raw.lease_domain, lines)?;
    let upstreams = upstream_list(raw.upstreams, lines)?;
    let resolv_file = resolv_file(raw.resolv_file);
    let routes = route_list(raw.routes, lines)?;
    let upstream_ca_file = upstream_ca_file(raw.upstream_ca_file, lines)?;
    let rebind_allow = rebind_allow(raw.rebind_allow, lines)?;
    let bounds = CacheBounds::resolve(
        raw.cache_entries_max,
        raw.cache_bytes_max,
        raw.ttl_min,
        raw.ttl_max,
        lines,
    )?;
    let zone_records_max = bounded(
        raw.zone_records_max,
        "zone_records_max",
        ZONE_RECORDS_MAX_DEFAULT as u64,
        ZONE_RECORDS_LIMIT,
        lines,
    )? as usize;
    let zone_key = zone_key(
        [raw.tsig_key_file, raw.tsig_key_name, raw.tsig_algorithm],
        lines,
    )?;
    Ok(Dns {
        listen,
        threads,
        tcp_connections_max,
        tcp_idle_timeout,
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
        prefetch: raw.prefetch.unwrap_or(true),
        cache_entries_max: bounds.cache_entries_max,
        cache_bytes_max: bounds.cache_bytes_max,
        ttl_min: bounds.ttl_min,
        ttl_max: bounds.ttl_max,
        zone_records_max,
        zone_key,
        zone_transfers: None,
    })
}

/// `tsig_key_file`, `tsig_key_name`, `tsig_algorithm`: as `[delegate]` has
/// them; the file is read now (0600, a 16-byte secret or more), so a bad one
/// fails the load (or the reload) at its line.
fn zone_key(
    raw: [Option<Spanned<String>>; 3],
    lines: &Lines<'_>,
) -> Result<Option<Arc<Key>>, ConfigError> {
    let file_at = raw[0].as_ref().map_or(0, |f| f.span().start);
    let Some(tsig) = super::delegate::tsig(raw, &[], 0, "dns", lines)? else {
        return Ok(None);
    };
    let key = crate::secret::tsig_key_of("dns", &tsig.key_file, &tsig.key_name)
        .map_err(|e| lines.error(file_at, e))?;
    Ok(Some(Arc::new(key)))
}

// Sockets and threads.

/// `listen`: every address once, at most [`LISTEN_ADDRESSES_MAX`]; by default port
/// 53 on every IPv4 and IPv6 address.
fn listen_addresses(
    raw: Option<Spanned<Vec<Spanned<String>>>>,
    lines: &Lines<'_>,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let listen_text = raw.map(|l| l.into_inner()).unwrap_or_else(|| {
        ["0.0.0.0:53", "[::]:53"]
            .iter()
            .map(|s| Spanned::new(0..0, s.to_string()))
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
    Ok(listen)
}

/// `threads`: a count up to [`DNS_THREADS_MAX`], or `"auto"` for one per core.
fn thread_count(
    raw: Option<Spanned<raw::Threads>>,
    lines: &Lines<'_>,
) -> Result<usize, ConfigError> {
    let Some(threads) = raw else {
        return Ok(1);
    };
    match threads.get_ref() {
        raw::Threads::Count(n) if (1..=DNS_THREADS_MAX as i64).contains(n) => Ok(*n as usize),
        raw::Threads::Word(w) if w == "auto" => Ok(std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(DNS_THREADS_MAX)),
        _ => {
            let message =
                format!("threads: expected \"auto\" or a number from 1 to {DNS_THREADS_MAX}");
            Err(lines.error(threads.span().start, message))
        }
    }
}

fn tcp_connections(raw: Option<Spanned<i64>>, lines: &Lines<'_>) -> Result<usize, ConfigError> {
    match raw {
        None => Ok(TCP_CONNECTIONS_DEFAULT),
        Some(n) if (1..=65_536).contains(n.get_ref()) => Ok(*n.get_ref() as usize),
        Some(n) => Err(lines.error(n.span().start, "tcp_connections_max: expected 1 to 65536")),
    }
}

fn tcp_idle_timeout(raw: Option<Spanned<i64>>, lines: &Lines<'_>) -> Result<Duration, ConfigError> {
    let milliseconds = match raw {
        None => TCP_IDLE_TIMEOUT_MS_DEFAULT,
        Some(n) if (100..=600_000).contains(n.get_ref()) => *n.get_ref() as u64,
        Some(n) => {
            return Err(lines.error(
                n.span().start,
                "tcp_idle_timeout_ms: expected 100 to 600000",
            ));
        }
    };
    Ok(Duration::from_millis(milliseconds))
}

// Who may ask, and how much.

/// `acl`: 1 to [`ACL_ENTRIES_MAX`] entries; by default the local networks.
fn acl_entries(
    raw: Option<Spanned<Vec<Spanned<String>>>>,
    lines: &Lines<'_>,
) -> Result<Vec<AclEntry>, ConfigError> {
    let Some(list) = raw else {
        return Ok(vec![AclEntry::Local]);
    };
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
    Ok(entries)
}

fn rate_limit(raw: Option<Spanned<i64>>, lines: &Lines<'_>) -> Result<u32, ConfigError> {
    match raw {
        None => Ok(RATE_LIMIT_QPS_DEFAULT),
        Some(n) if (0..=RATE_LIMIT_QPS_MAX).contains(n.get_ref()) => Ok(*n.get_ref() as u32),
        Some(n) => Err(lines.error(
            n.span().start,
            format!("rate_limit_qps: expected 0 (off) to {RATE_LIMIT_QPS_MAX} queries per second"),
        )),
    }
}

// Host sources: lease and hosts files, and the domain their names live under.

/// `leases` or `hosts` (named by `key`): non-empty paths, at most
/// [`HOST_SOURCES_MAX`].
fn paths(
    raw: Option<Vec<Spanned<String>>>,
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

/// `lease_domain`: a domain below the root, lower-case, without the final dot.
fn lease_domain(raw: Option<Spanned<String>>, lines: &Lines<'_>) -> Result<String, ConfigError> {
    let Some(domain) = raw else {
        return Ok(LEASE_DOMAIN_DEFAULT.to_string());
    };
    let Some(text) = super::zone::domain_below_root(domain.get_ref()) else {
        return Err(lines.error(
            domain.span().start,
            format!(
                "lease_domain `{}`: expected a domain name such as \"lan\"",
                domain.get_ref()
            ),
        ));
    };
    Ok(text)
}

// Where queries go: upstreams, the resolv.conf read when there are none, routes.

/// `upstreams`: at most [`UPSTREAMS_MAX`] (each checked before the count).
fn upstream_list(
    raw: Option<Vec<Spanned<String>>>,
    lines: &Lines<'_>,
) -> Result<Vec<Upstream>, ConfigError> {
    let mut upstreams = Vec::new();
    for text in raw.unwrap_or_default() {
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
    Ok(upstreams)
}

/// `resolv_file`: `""` turns it off; by default OpenWrt's WAN file where it
/// exists, else `/etc/resolv.conf`.
fn resolv_file(raw: Option<Spanned<String>>) -> Option<PathBuf> {
    match raw {
        Some(path) if path.get_ref().is_empty() => None,
        Some(path) => Some(PathBuf::from(path.into_inner())),
        None => Some(PathBuf::from(if Path::new(OPENWRT_RESOLV_FILE).exists() {
            OPENWRT_RESOLV_FILE
        } else {
            "/etc/resolv.conf"
        })),
    }
}

/// A route of `routes`: the domain (lower-case wire) and its servers.
type Route = (Vec<u8>, Vec<Upstream>);

/// `routes`: per domain, 1 to [`UPSTREAMS_MAX`] servers.
fn route_list(
    raw: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    lines: &Lines<'_>,
) -> Result<Vec<Route>, ConfigError> {
    let mut routes = Vec::new();
    for (domain, servers) in raw.unwrap_or_default() {
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
    Ok(routes)
}

fn upstream_ca_file(
    raw: Option<Spanned<String>>,
    lines: &Lines<'_>,
) -> Result<Option<PathBuf>, ConfigError> {
    let Some(path) = raw else {
        return Ok(None);
    };
    let file = PathBuf::from(path.get_ref());
    // Checked now, so a bad file is a config error, not a silent failure later.
    crate::dns::dot::roots(Some(&file))
        .map_err(|m| lines.error(path.span().start, format!("upstream_ca_file: {m}")))?;
    Ok(Some(file))
}

// Rebinding protection.

/// `rebind_allow`: the exempt domains as lower-case wire names.
fn rebind_allow(
    raw: Option<Vec<Spanned<String>>>,
    lines: &Lines<'_>,
) -> Result<Vec<Vec<u8>>, ConfigError> {
    let mut rebind_allow = Vec::new();
    for domain in raw.unwrap_or_default() {
        let wire = domain_wire(domain.get_ref())
            .map_err(|m| lines.error(domain.span().start, format!("rebind_allow: {m}")))?;
        rebind_allow.push(wire);
    }
    Ok(rebind_allow)
}

// Cache and TTL bounds.

/// The cache's size bounds and the TTL clamp of cached answers.
struct CacheBounds {
    cache_entries_max: usize,
    cache_bytes_max: usize,
    ttl_min: u32,
    ttl_max: u32,
}

impl CacheBounds {
    /// Each value within its range; `ttl_min` not above `ttl_max` (reported at
    /// `ttl_min`).
    fn resolve(
        cache_entries_max: Option<Spanned<i64>>,
        cache_bytes_max: Option<Spanned<i64>>,
        ttl_min: Option<Spanned<i64>>,
        ttl_max: Option<Spanned<i64>>,
        lines: &Lines<'_>,
    ) -> Result<Self, ConfigError> {
        let ttl_min_at = ttl_min.as_ref().map_or(0, |n| n.span().start);
        let cache_entries_max = bounded(
            cache_entries_max,
            "cache_entries_max",
            CACHE_ENTRIES_DEFAULT as u64,
            1 << 24,
            lines,
        )? as usize;
        let cache_bytes_max = bounded(
            cache_bytes_max,
            "cache_bytes_max",
            CACHE_BYTES_DEFAULT as u64,
            1 << 30,
            lines,
        )? as usize;
        let ttl_min = bounded(ttl_min, "ttl_min", 0, 86_400, lines)? as u32;
        let ttl_max = bounded(
            ttl_max,
            "ttl_max",
            u64::from(TTL_MAX_DEFAULT_SECS),
            0x7FFF_FFFF,
            lines,
        )? as u32;
        if ttl_min > ttl_max {
            return Err(lines.error(
                ttl_min_at,
                format!("ttl_min ({ttl_min}) is above ttl_max ({ttl_max})"),
            ));
        }
        Ok(Self {
            cache_entries_max,
            cache_bytes_max,
            ttl_min,
            ttl_max,
        })
    }
}

/// A number from 0 to `max` for `key`, `default` when not given.
fn bounded(
    value: Option<Spanned<i64>>,
    key: &str,
    default: u64,
    max: u64,
    lines: &Lines<'_>,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(n) if (0..=max as i64).contains(n.get_ref()) => Ok(*n.get_ref() as u64),
        Some(n) => Err(lines.error(n.span().start, format!("{key}: expected 0 to {max}"))),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::assert_errors;

    /// `[dns]` values out of range or contradictory: the line, and what was wrong.
    #[test]
    fn dns_errors_name_line_and_expectation() {
        assert_errors(&[
            (
                "[dns]\nlisten = [\"1.2.3.4:53\", \"1.2.3.4:53\"]\n",
                2,
                "given twice",
            ),
            ("[dns]\nthreads = 0\n", 2, "threads"),
            ("[dns]\nthreads = \"many\"\n", 2, "threads"),
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
        ]);
    }

    /// Each part's message in full, and of two errors the first part's: pinned
    /// when `resolve` was split into parts, so the split changed none of them.
    #[test]
    fn part_messages_and_order() {
        assert_errors(&[
            (
                "[dns]\ntcp_connections_max = 0\n",
                2,
                "tcp_connections_max: expected 1 to 65536",
            ),
            (
                "[dns]\ntcp_idle_timeout_ms = 99\n",
                2,
                "tcp_idle_timeout_ms: expected 100 to 600000",
            ),
            (
                "[dns]\nacl = []\n",
                2,
                "acl: expected 1 to 64 entries (\"local\", \"any\" or CIDRs such as \"192.168.1.0/24\")",
            ),
            (
                "[dns]\nrate_limit_qps = -1\n",
                2,
                "rate_limit_qps: expected 0 (off) to 1000000 queries per second",
            ),
            (
                "[dns]\nhosts = [\"/a\", \"\"]\n",
                2,
                "hosts: a path is empty",
            ),
            (
                "[dns]\nlease_domain = \".\"\n",
                2,
                "lease_domain `.`: expected a domain name such as \"lan\"",
            ),
            (
                "[dns]\nrebind_allow = [\"a..b\"]\n",
                2,
                "rebind_allow: zone name `a..b` is not a valid domain name",
            ),
            (
                "[dns]\ncache_bytes_max = 1073741825\n",
                2,
                "cache_bytes_max: expected 0 to 1073741824",
            ),
            (
                "[dns]\nttl_max = -5\n",
                2,
                "ttl_max: expected 0 to 2147483647",
            ),
            (
                "[dns]\n\nttl_max = 10\nttl_min = 100\n",
                4,
                "ttl_min (100) is above ttl_max (10)",
            ),
            (
                "[dns]\nttl_min = 100\nttl_max = 10\ncache_entries_max = -1\n",
                4,
                "cache_entries_max: expected 0 to 16777216",
            ),
            (
                "[dns]\nthreads = 0\nlisten = [\"nope\"]\n",
                3,
                "listen address `nope`",
            ),
        ]);
    }
}
