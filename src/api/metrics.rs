//! `GET /metrics`: the Prometheus text exposition (format 0.0.4), every name in
//! the `lanseal_` namespace with its unit (`_seconds`, `_bytes`, `_total` for
//! counters), checked by `promtool check metrics` in the tests.
//!
//! Certificates are gauges of timestamps (`lanseal_certificate_expiry_timestamp_seconds`),
//! so an alert is one expression: `lanseal_certificate_expiry_timestamp_seconds - time() < 14 * 86400`.
//! Every bound of the process is one series of `lanseal_limit_hits_total`.

use std::fmt::Write as _;

use super::Api;
use crate::control::Stats;
use crate::http::Response;

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The text being written: one family (HELP, TYPE) then its samples.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape(text));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value escaped as the format wants (backslash, quote, newline).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn find(list: &[(&'static str, usize)], name: &str) -> usize {
    list.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v)
}

/// Each blocklist's size and use, labelled `list="name"`.
fn blocklist_metrics(out: &mut Exposition, stats: &Stats) {
    if stats.blocklists.is_empty() {
        return;
    }
    type Value = fn(&crate::control::BlocklistStats) -> u64;
    let families: [(&str, &str, &str, Value); 8] = [
        (
            "lanseal_blocklist_names",
            "gauge",
            "Names the list blocks (each with everything below it).",
            |l| l.load.names as u64,
        ),
        (
            "lanseal_blocklist_allowed_names",
            "gauge",
            "Allow entries of the list.",
            |l| l.load.allowed as u64,
        ),
        (
            "lanseal_blocklist_skipped_lines",
            "gauge",
            "Lines of the list's files skipped at the last load (junk, options that cannot be honoured).",
            |l| l.load.skipped as u64,
        ),
        (
            "lanseal_blocklist_memory_bytes",
            "gauge",
            "Bytes the list's names and table take.",
            |l| l.load.heap_bytes as u64,
        ),
        (
            "lanseal_blocklist_blocked_total",
            "counter",
            "Queries answered as blocked by the list.",
            |l| l.blocked as u64,
        ),
        (
            "lanseal_blocklist_cname_blocked_total",
            "counter",
            "Of the blocked queries, those whose upstream answer had a CNAME chain into the list.",
            |l| l.cname_blocked as u64,
        ),
        (
            "lanseal_blocklist_names_max",
            "gauge",
            "Entries the list holds at most (names_max); more are left out.",
            |l| l.names_max as u64,
        ),
        (
            "lanseal_blocklist_load_failures_total",
            "counter",
            "Loads that kept the previous list because a file could not be read.",
            |l| l.load_failures as u64,
        ),
    ];
    for (name, kind, help, value) in families {
        out.family(name, kind, help);
        for list in &stats.blocklists {
            out.sample(name, &[("list", list.name.as_str())], value(list));
        }
    }
    out.family(
        "lanseal_blocklist_loaded_timestamp_seconds",
        "gauge",
        "When the list was last read (unix time).",
    );
    for list in &stats.blocklists {
        let labels = [("list", list.name.as_str())];
        out.sample(
            "lanseal_blocklist_loaded_timestamp_seconds",
            &labels,
            list.load.loaded_unix,
        );
    }
}

/// Resident memory in bytes (`/proc/self/statm`), if readable.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // The page size: 4096 on every Linux target lanseal builds for but some
    // MIPS kernels (16 KiB); sysconf says.
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok()??;
    Some(pages.saturating_mul(u64::try_from(page).ok()?))
}

impl Api {
    /// Every bound of the process with its hits, by a stable name.
    pub(super) fn limit_list(&self, stats: &Stats) -> Vec<(String, usize)> {
        let mut limits = vec![
            (
                "dns_rate_limit".to_string(),
                find(&stats.counters, "dns_rate_limited"),
            ),
            (
                "dns_tcp_rate_limit".to_string(),
                find(&stats.counters, "dns_tcp_rate_limited"),
            ),
            (
                "dns_forward_queue".to_string(),
                find(&stats.counters, "dns_forward_queue_full"),
            ),
            (
                "dns_tcp_connections".to_string(),
                find(&stats.counters, "dns_tcp_evicted"),
            ),
            (
                "dns_inflight".to_string(),
                find(&stats.forwarder, "inflight_full"),
            ),
            (
                "dns_prefetch_inflight".to_string(),
                find(&stats.forwarder, "prefetch_dropped"),
            ),
            (
                // A list's `names_max`: entries left out, over every load.
                "dns_blocklist_names".to_string(),
                stats.blocklists.iter().map(|l| l.over_limit).sum(),
            ),
        ];
        for (server, counters) in self.http_servers() {
            for (name, counter) in [
                ("connections_per_client", &counters.refused_per_client),
                ("connections", &counters.refused_full),
                ("connections_idle_evicted", &counters.evicted_idle),
                ("header_bytes", &counters.header_too_large),
                ("body_bytes", &counters.body_too_large),
                ("request_timeout", &counters.timed_out),
            ] {
                limits.push((format!("{server}_http_{name}"), counter.hits()));
            }
        }
        if let Some(delegate) = &self.parts.delegate {
            let counters = delegate.api.limit_counters();
            for (name, counter) in [
                (
                    "registrations_per_client",
                    &counters.registrations_per_client,
                ),
                ("registrations_per_48", &counters.registrations_per_48),
                ("registrations_everyone", &counters.registrations_everyone),
                ("updates_per_client", &counters.updates_per_client),
            ] {
                limits.push((format!("delegate_{name}"), counter.hits()));
            }
        }
        if !self.parts.certs.is_empty() {
            for (name, hits) in crate::certs::bounds_hit() {
                limits.push((format!("certs_{name}"), hits));
            }
        }
        limits
    }

    pub(super) fn metrics(&self) -> Response {
        let stats = self.parts.control.stats();
        let mut out = Exposition(String::with_capacity(8 * 1024));
        out.family(
            "lanseal_build_info",
            "gauge",
            "The version running (always 1).",
        );
        out.sample(
            "lanseal_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        out.single(
            "lanseal_start_time_seconds",
            "gauge",
            "When the process started (unix time).",
            self.started_unix,
        );
        out.single(
            "lanseal_config_loaded_timestamp_seconds",
            "gauge",
            "When the config now served was loaded (unix time).",
            self.parts.control.loaded_unix(),
        );
        if let Some(bytes) = resident_bytes() {
            out.single(
                "lanseal_resident_memory_bytes",
                "gauge",
                "Resident memory of the process.",
                bytes,
            );
        }
        self.dns_metrics(&mut out, &stats);
        out.family(
            "lanseal_limit_hits_total",
            "counter",
            "Times a bound of the process was reached (a request refused, dropped or evicted).",
        );
        for (limit, hits) in self.limit_list(&stats) {
            out.sample("lanseal_limit_hits_total", &[("limit", &limit)], hits);
        }
        out.family(
            "lanseal_http_connections",
            "gauge",
            "HTTP connections open now, by server.",
        );
        for (server, counters) in self.http_servers() {
            let open = counters.open.load(std::sync::atomic::Ordering::Relaxed);
            out.sample("lanseal_http_connections", &[("server", server)], open);
        }
        blocklist_metrics(&mut out, &stats);
        self.cert_metrics(&mut out);
        self.delegate_metrics(&mut out);
        let mut response = Response::text(200, out.0);
        response.content_type = CONTENT_TYPE;
        response
    }

    fn dns_metrics(&self, out: &mut Exposition, stats: &Stats) {
        let counters = &stats.counters;
        for (name, key, help) in [
            (
                "lanseal_dns_queries_total",
                "dns_queries",
                "DNS requests received.",
            ),
            (
                "lanseal_dns_responses_total",
                "dns_answered",
                "DNS responses sent.",
            ),
            (
                "lanseal_dns_forwarded_total",
                "dns_forwarded",
                "DNS requests neither local nor cached, handed to the forwarder.",
            ),
            (
                "lanseal_dns_rate_limit_slipped_total",
                "dns_rate_limit_slipped",
                "DNS requests over the rate limit answered with an empty TC=1 response.",
            ),
            (
                "lanseal_dns_tcp_rate_limit_closed_total",
                "dns_tcp_rate_limit_closed",
                "DNS-over-TCP connections closed after queries over the rate limit.",
            ),
            (
                "lanseal_reloads_total",
                "reloads",
                "Configs applied by SIGHUP.",
            ),
            (
                "lanseal_reload_failures_total",
                "reload_failures",
                "SIGHUPs whose config was refused (the old one kept serving).",
            ),
            (
                "lanseal_host_reloads_total",
                "host_reloads",
                "Lease and hosts files read again after they changed.",
            ),
        ] {
            out.single(name, "counter", help, find(counters, key));
        }
        out.family(
            "lanseal_dns_dropped_total",
            "counter",
            "DNS requests dropped without an answer, by reason.",
        );
        for (reason, value) in [
            ("acl", find(counters, "dns_acl_dropped")),
            ("rate_limit", find(counters, "dns_rate_limited")),
            ("tcp_rate_limit", find(counters, "dns_tcp_rate_limited")),
            ("malformed", find(counters, "dns_malformed")),
            (
                "forward_queue_full",
                find(counters, "dns_forward_queue_full"),
            ),
        ] {
            out.sample("lanseal_dns_dropped_total", &[("reason", reason)], value);
        }
        let forwarder = &stats.forwarder;
        out.single(
            "lanseal_dns_merged_total",
            "counter",
            "Upstream questions asked once for several identical requests in flight.",
            find(forwarder, "merged"),
        );
        out.single(
            "lanseal_dns_stale_served_total",
            "counter",
            "Expired cached answers served because no upstream answered.",
            find(forwarder, "stale_served"),
        );
        out.single(
            "lanseal_dns_rebind_dropped_total",
            "counter",
            "Upstream answers with private addresses refused (rebinding protection).",
            find(forwarder, "rebind_dropped"),
        );
        out.single(
            "lanseal_dns_inflight",
            "gauge",
            "Upstream questions in flight.",
            find(forwarder, "inflight"),
        );
        for (name, key, help) in [
            (
                "lanseal_dns_prefetch_started_total",
                "prefetch_started",
                "Cached answers in the last tenth of their TTL asked upstream again.",
            ),
            (
                "lanseal_dns_prefetch_answered_total",
                "prefetch_answered",
                "Prefetches whose fresh answer replaced the cached one.",
            ),
            (
                "lanseal_dns_prefetch_dropped_total",
                "prefetch_dropped",
                "Prefetches not started: too many in flight, or the forwarder busy with clients.",
            ),
        ] {
            out.single(name, "counter", help, find(forwarder, key));
        }
        if let Some(cache) = &stats.cache {
            out.single(
                "lanseal_dns_cache_entries",
                "gauge",
                "Answers in the cache.",
                cache.entries,
            );
            out.single(
                "lanseal_dns_cache_bytes",
                "gauge",
                "Bytes of answers in the cache.",
                cache.bytes,
            );
            out.single(
                "lanseal_dns_cache_hits_total",
                "counter",
                "Cache hits.",
                cache.hits,
            );
            out.single(
                "lanseal_dns_cache_misses_total",
                "counter",
                "Cache misses.",
                cache.misses,
            );
            out.single(
                "lanseal_dns_cache_stale_hits_total",
                "counter",
                "Cache hits on expired answers.",
                cache.stale,
            );
        }
        if !stats.zones.is_empty() {
            let families = [
                ("lanseal_dns_zone_records", "Records in each local zone."),
                (
                    "lanseal_dns_zone_bytes",
                    "Bytes of memory each local zone's data takes.",
                ),
            ];
            for (index, (name, help)) in families.into_iter().enumerate() {
                out.family(name, "gauge", help);
                for (zone, records, bytes) in &stats.zones {
                    let labels = [("zone", zone.as_str())];
                    out.sample(name, &labels, if index == 0 { records } else { bytes });
                }
            }
        }
        if !stats.upstreams.is_empty() {
            let families = [
                (
                    "lanseal_dns_upstream_answers_total",
                    "counter",
                    "Answers from each upstream.",
                ),
                (
                    "lanseal_dns_upstream_failures_total",
                    "counter",
                    "Questions an upstream failed to answer (timeout, error).",
                ),
                (
                    "lanseal_dns_upstream_rtt_seconds",
                    "gauge",
                    "Each upstream's smoothed round-trip time.",
                ),
            ];
            for (index, (name, kind, help)) in families.into_iter().enumerate() {
                out.family(name, kind, help);
                for (address, answers, failures, srtt_ms) in &stats.upstreams {
                    let upstream = address.to_string();
                    let labels = [("upstream", upstream.as_str())];
                    match index {
                        0 => out.sample(name, &labels, answers),
                        1 => out.sample(name, &labels, failures),
                        _ => out.sample(name, &labels, f64::from(*srtt_ms) / 1000.0),
                    }
                }
            }
        }
    }

    fn cert_metrics(&self, out: &mut Exposition) {
        let Ok(statuses) = self.statuses() else {
            return;
        };
        if statuses.is_empty() {
            return;
        }
        out.family(
            "lanseal_certificate_expiry_timestamp_seconds",
            "gauge",
            "When the deployed certificate expires (unix time; absent before the first).",
        );
        for status in statuses.iter() {
            if let Some(not_after) = status.not_after {
                let labels = [("name", status.name.as_str())];
                out.sample(
                    "lanseal_certificate_expiry_timestamp_seconds",
                    &labels,
                    not_after,
                );
            }
        }
        out.family(
            "lanseal_certificate_next_renewal_timestamp_seconds",
            "gauge",
            "When the certs role next tries to renew (unix time).",
        );
        for status in statuses.iter() {
            if let Some(at) = status.renew_after {
                let labels = [("name", status.name.as_str())];
                out.sample(
                    "lanseal_certificate_next_renewal_timestamp_seconds",
                    &labels,
                    at,
                );
            }
        }
        out.family(
            "lanseal_certificate_failures",
            "gauge",
            "Failed attempts since the last success.",
        );
        for status in statuses.iter() {
            let labels = [("name", status.name.as_str())];
            out.sample("lanseal_certificate_failures", &labels, status.failures);
        }
        out.family(
            "lanseal_certificate_state",
            "gauge",
            "The certificate's state (1 for the state it is in).",
        );
        for status in statuses.iter() {
            let labels = [
                ("name", status.name.as_str()),
                ("state", status.state.as_str()),
            ];
            out.sample("lanseal_certificate_state", &labels, 1);
        }
    }

    fn delegate_metrics(&self, out: &mut Exposition) {
        let Some(delegate) = &self.parts.delegate else {
            return;
        };
        if let Ok(accounts) = delegate.api.account_count() {
            out.single(
                "lanseal_delegate_accounts",
                "gauge",
                "Accounts registered at the delegate.",
                accounts,
            );
        }
        let activity = delegate.api.activity();
        out.single(
            "lanseal_delegate_registrations_total",
            "counter",
            "Registrations served.",
            activity.registrations(),
        );
        out.single(
            "lanseal_delegate_updates_total",
            "counter",
            "TXT updates accepted.",
            activity.updates(),
        );
    }
}
