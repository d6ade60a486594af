//! Process life: start-up order, and signals.
//!
//! Owns what happens between "the config is valid" and "the process exits": bind
//! every socket first, then start the DNS threads, then wait for signals on the main
//! thread with `sigwait` (no signal handlers, no async signal machinery). Logging
//! is `crate::log`'s.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

use crate::config::{self, Config};
use crate::counters::Counters;
use crate::delegate::zone::DelegateRecords;
use crate::dns::acl::{self, Acl, AclEntry, Net};
use crate::dns::answer::{Answerer, Forwarding};
use crate::dns::cache::Cache;
use crate::dns::forward::{self, Forwarder};
use crate::dns::hosts::{HostTable, Sources};
use crate::dns::ratelimit::RateLimiter;
use crate::dns::server;
use crate::dns::service::{Current, Service};
use crate::dns::zone::Zones;
use crate::store::{self, Store};
use crate::watch::Watcher;

/// Rate-limiter table size: clients tracked at once (about 40 bytes each).
const RATE_LIMIT_CLIENTS_MAX: usize = 4096;
/// The watcher wakes at least this often to re-create watches whose directory did
/// not exist yet and to follow a reload's new file list.
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Events closer together than this are one change (dnsmasq writes a lease file in
/// several writes).
const WATCH_SETTLE: Duration = Duration::from_millis(200);

/// Why running stopped with an error. Exit code 1.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// The pieces a [`Service`] is built from; each changes for its own reason (a
/// reload, a lease file, an interface address).
struct State {
    dns: config::Dns,
    zones: Arc<Zones>,
    hosts: Arc<HostTable>,
    /// Subnets of the interfaces, for `acl = ["local"]`.
    local: Vec<Net>,
    limiter: Option<Arc<RateLimiter>>,
    /// With its cache, which outlives reloads that keep the cache settings.
    forwarder: Option<Arc<Forwarder>>,
    /// What `forwarder` was built from (upstreams from `resolv_file` resolved).
    forward: forward::Settings,
    /// The delegate zone's per-account records (kept across reloads: the store
    /// is their source, not the config).
    delegate: Option<Arc<DelegateRecords>>,
    /// Bumped when the watched files or the need to watch interfaces change.
    watch_generation: usize,
}

impl State {
    fn service(&self) -> Service {
        let forwarding = self.forwarder.as_ref().map(|f| Forwarding {
            cache: f.cache().clone(),
            domain_needed: self.dns.domain_needed,
            bogus_priv: self.dns.bogus_priv,
        });
        let mut answerer = Answerer::new(self.zones.clone(), self.hosts.clone(), forwarding);
        if let Some(records) = &self.delegate {
            answerer = answerer.with_delegate(records.clone());
        }
        Service {
            answerer,
            acl: Acl::new(&self.dns.acl, &self.local),
            limiter: self.limiter.clone(),
            forwarder: self.forwarder.clone(),
        }
    }

    fn uses_local(&self) -> bool {
        self.dns.acl.contains(&AclEntry::Local)
    }

    fn watched_paths(&self) -> Vec<PathBuf> {
        let resolv = self
            .dns
            .upstreams
            .is_empty()
            .then_some(&self.dns.resolv_file);
        let resolv = resolv.into_iter().flatten();
        let files = self.dns.leases.iter().chain(&self.dns.hosts).chain(resolv);
        files.cloned().collect()
    }

    /// Rebuilds the forwarder if its settings changed, keeping the cache when its
    /// own settings did not.
    fn update_forwarder(&mut self, dns: &config::Dns) {
        let settings = forward_settings(dns);
        let same_cache = cache_settings(&self.dns) == cache_settings(dns);
        let built = self.forwarder.is_some() == has_upstreams(&settings);
        if settings == self.forward && same_cache && built {
            return;
        }
        let keep = self.forwarder.as_ref().map(|f| f.cache().clone());
        let keep = keep.filter(|_| same_cache);
        log::info!(
            "forwarding to {} upstream(s) and {} route(s)",
            settings.upstreams.len(),
            settings.routes.len()
        );
        self.forwarder = forwarder(&settings, dns, keep);
        self.forward = settings;
    }
}

/// What the signal loop and the watcher thread share.
struct Shared {
    state: Mutex<State>,
    current: Arc<Current>,
    counters: Arc<Counters>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves `config` until SIGTERM or SIGINT; SIGHUP reloads it, SIGUSR1 logs the
/// counters (as dnsmasq does).
pub fn run(mut config: Config) -> Result<(), RunError> {
    crate::log::init(config.log_level.filter());
    let zones = std::mem::take(&mut config.zone_data);
    let sockets = server::bind(&config.dns.listen, config.dns.threads)
        .map_err(|e| RunError(e.to_string()))?;
    let state_dir = state_dir(&config);
    // One store for every role that keeps state (today the delegate; the certs
    // and local API roles will take clones of the same handle).
    let needs_store = config.delegate.is_some();
    let store = if needs_store {
        Some(open_store(&state_dir)?)
    } else {
        None
    };
    let delegate = match (&config.delegate, &store) {
        (Some(settings), Some(store)) => {
            Some(crate::delegate::Prepared::new(settings, store.clone()).map_err(RunError)?)
        }
        _ => None,
    };
    // Root is needed no more: every socket is bound, the store and the TLS keys are
    // open, and no thread exists yet (server::spawn and the delegate start them).
    if let Some(user) = &config.user {
        let owned = if needs_store {
            store::owned_paths(&state_dir)
        } else {
            Vec::new()
        };
        crate::privileges::apply(user, &owned, config.path.as_deref())
            .map_err(|e| RunError(e.to_string()))?;
    }
    // Block the signals before any thread exists, so every thread inherits the mask
    // and only `sigwait` below ever sees them.
    let mut signals = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
    ] {
        signals.add(signal);
    }
    signals
        .thread_block()
        .map_err(|e| RunError(format!("cannot block signals: {e}")))?;
    let mut state = State {
        hosts: Arc::default(),
        local: Vec::new(),
        limiter: limiter(config.dns.rate_limit_qps),
        forwarder: None,
        forward: forward::Settings::default(),
        zones: Arc::new(zones),
        dns: config.dns,
        delegate: delegate.as_ref().map(|d| d.records.clone()),
        watch_generation: 0,
    };
    // Watch first, then read: a change in between is then never missed.
    let first_watch = Watch::new(&state);
    state.hosts = Arc::new(read_hosts(&host_sources(&state.dns)));
    state.local = local_networks();
    let dns = state.dns.clone();
    state.update_forwarder(&dns);
    let bound = sockets.bound.clone();
    let counters = Arc::new(Counters::new(sockets.thread_count()));
    let current = Arc::new(Current::new(state.service()));
    let limits = server::TcpLimits::from_config(&state.dns);
    let threads = state.dns.threads;
    let _threads = server::spawn(sockets, current.clone(), counters.clone(), limits)
        .map_err(|e| RunError(format!("cannot start DNS threads: {e}")))?;
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        current,
        counters,
    });
    {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("watch".into())
            .spawn(move || watch(&shared, first_watch))
            .map_err(|e| RunError(format!("cannot start the watcher thread: {e}")))?;
    }
    for address in &bound {
        log::info!("listening on {address} (UDP and TCP, {threads} UDP thread(s))");
    }
    log::info!(
        "serving {} zone(s) from {}",
        config.zones.len(),
        config.source
    );
    if let Some(delegate) = delegate {
        delegate.start().map_err(RunError)?;
    }
    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => reload(&shared, config.path.as_deref()),
            Ok(Signal::SIGUSR1) => log_counters(&shared),
            Ok(signal) => {
                log::info!("{signal}: exiting");
                return Ok(());
            }
            Err(e) => return Err(RunError(format!("waiting for signals: {e}"))),
        }
    }
}

/// The directory of durable state: `state_dir`, else `/etc/lanseal` for root and
/// `~/.local/state/lanseal` for anyone else (trying lanseal needs no root).
fn state_dir(config: &Config) -> PathBuf {
    if let Some(dir) = &config.state_dir {
        return dir.clone();
    }
    let home = std::env::var_os("HOME").filter(|_| !nix::unistd::getuid().is_root());
    match home {
        Some(home) => PathBuf::from(home).join(".local/state/lanseal"),
        None => PathBuf::from("/etc/lanseal"),
    }
}

/// Opens `<state_dir>/lanseal.db`, the one store, as the handle roles share.
fn open_store(state_dir: &std::path::Path) -> Result<store::Shared, RunError> {
    let path = state_dir.join(store::FILE_NAME);
    let opened = Store::open(&path).map_err(|e| RunError(e.to_string()))?;
    log::info!(
        "store {} (schema version {})",
        path.display(),
        store::SCHEMA_VERSION
    );
    Ok(store::Shared::new(opened))
}

/// SIGUSR1: every counter on two log lines (the local API will serve them too).
fn log_counters(shared: &Shared) {
    let line: Vec<String> = shared
        .counters
        .snapshot()
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    log::info!("counters: {}", line.join(" "));
    let Some(forwarder) = shared.lock().forwarder.clone() else {
        return;
    };
    let upstreams: Vec<String> = forwarder
        .health()
        .iter()
        .map(|(a, ok, failed, srtt)| format!("{a}:answers={ok},failures={failed},srtt_ms={srtt}"))
        .collect();
    let stats = forwarder.cache().stats();
    log::info!(
        "cache: entries={} bytes={} hits={} misses={} stale_served={} rebind_dropped={} merged={} inflight={} upstreams: {}",
        stats.entries,
        stats.bytes,
        stats.hits,
        stats.misses,
        forwarder.stale_served.load(Relaxed),
        forwarder.rebind_dropped.load(Relaxed),
        forwarder.merged.load(Relaxed),
        forwarder.inflight(),
        upstreams.join(" ")
    );
}

/// SIGHUP: read the config again and serve it; a broken one changes nothing.
fn reload(shared: &Shared, path: Option<&std::path::Path>) {
    let failed = |message: String| {
        log::error!("reload rejected, still serving the previous config: {message}");
        shared
            .counters
            .process
            .reload_failures
            .fetch_add(1, Relaxed);
    };
    let mut config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => return failed(e.to_string()),
    };
    let zones = std::mem::take(&mut config.zone_data);
    let hosts = read_hosts(&host_sources(&config.dns));
    log::set_max_level(config.log_level.filter());
    let mut state = shared.lock();
    let old = &state.dns;
    let needs_restart = old.listen != config.dns.listen
        || old.threads != config.dns.threads
        || old.tcp_connections_max != config.dns.tcp_connections_max
        || old.tcp_idle_timeout != config.dns.tcp_idle_timeout;
    let watch_changed = old.leases != config.dns.leases
        || old.hosts != config.dns.hosts
        || old.resolv_file != config.dns.resolv_file
        || old.upstreams.is_empty() != config.dns.upstreams.is_empty()
        || old.acl.contains(&AclEntry::Local) != config.dns.acl.contains(&AclEntry::Local);
    let qps_changed = old.rate_limit_qps != config.dns.rate_limit_qps;
    if needs_restart {
        log::warn!("reload: listen, threads and TCP limits take effect at the next restart");
    }
    if watch_changed {
        state.watch_generation = state.watch_generation.wrapping_add(1);
    }
    state.update_forwarder(&config.dns);
    if qps_changed {
        state.limiter = limiter(config.dns.rate_limit_qps);
    }
    if config.dns.acl.contains(&AclEntry::Local) {
        state.local = local_networks();
    }
    state.zones = Arc::new(zones);
    state.hosts = Arc::new(hosts);
    state.dns = config.dns;
    shared.current.publish(state.service());
    drop(state);
    shared.counters.process.reloads.fetch_add(1, Relaxed);
    log::info!(
        "reloaded {}: serving {} zone(s)",
        config.source,
        config.zones.len()
    );
}

/// The watcher thread: lease and hosts files, and interface addresses for the
/// `local` ACL. Sleeps in poll(2) while nothing changes.
fn watch(shared: &Shared, first: Watch) {
    let mut current = first;
    loop {
        let Watch {
            mut watcher,
            paths,
            interfaces,
            generation,
        } = current;
        loop {
            let changes = match watcher.as_mut() {
                Some(watcher) => watcher.wait(WATCH_TIMEOUT, WATCH_SETTLE),
                None => {
                    std::thread::sleep(WATCH_TIMEOUT);
                    crate::watch::Changes {
                        files: !paths.is_empty(),
                        interfaces,
                    }
                }
            };
            if changes.files || changes.interfaces {
                apply_changes(shared, changes);
            }
            let missing = watcher.as_ref().is_some_and(|w| !w.missing().is_empty());
            if missing || watcher.is_none() || shared.lock().watch_generation != generation {
                break;
            }
        }
        let missing_before = watcher.as_ref().map(|w| w.missing().to_vec());
        drop(watcher);
        current = Watch::new(&shared.lock());
        // What changed while nothing watched it (a reload's new files, a directory
        // that appeared) is read now; an unchanged set of missing paths reads nothing.
        let missing_now = current.watcher.as_ref().map(|w| w.missing().to_vec());
        if current.generation != generation || missing_now != missing_before {
            let changes = crate::watch::Changes {
                files: true,
                interfaces: current.interfaces,
            };
            apply_changes(shared, changes);
        }
    }
}

/// A watcher with what it was made for.
struct Watch {
    watcher: Option<Watcher>,
    paths: Vec<PathBuf>,
    interfaces: bool,
    generation: usize,
}

impl Watch {
    fn new(state: &State) -> Self {
        let paths = state.watched_paths();
        let interfaces = state.uses_local();
        let watcher = match Watcher::new(&paths, interfaces) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                log::warn!(
                    "cannot watch files and interfaces ({e}); checking every {} s",
                    WATCH_TIMEOUT.as_secs()
                );
                None
            }
        };
        Self {
            watcher,
            paths,
            interfaces,
            generation: state.watch_generation,
        }
    }
}

fn apply_changes(shared: &Shared, changes: crate::watch::Changes) {
    let sources = changes.files.then(|| host_sources(&shared.lock().dns));
    // Read files without holding the lock: DNS threads never wait on it, but a
    // SIGHUP would.
    let hosts = sources.as_ref().map(read_hosts);
    let local = changes.interfaces.then(local_networks);
    let mut state = shared.lock();
    if changes.files {
        let dns = state.dns.clone();
        state.update_forwarder(&dns);
    }
    if let Some(hosts) = hosts {
        log::info!("lease or hosts file changed: {} name(s)", hosts.len());
        state.hosts = Arc::new(hosts);
        shared.counters.process.host_reloads.fetch_add(1, Relaxed);
    }
    if let Some(local) = local {
        if local != state.local {
            log::info!(
                "interface addresses changed: {} local network(s)",
                local.len()
            );
        }
        state.local = local;
        shared
            .counters
            .process
            .interface_changes
            .fetch_add(1, Relaxed);
    }
    shared.current.publish(state.service());
}

fn host_sources(dns: &config::Dns) -> Sources {
    Sources {
        leases: dns.leases.clone(),
        hosts: dns.hosts.clone(),
        domain: dns.lease_domain.clone(),
    }
}

/// Reads every lease and hosts file, logging what was wrong in them.
fn read_hosts(sources: &Sources) -> HostTable {
    let (table, warnings) = HostTable::load(sources, crate::clock::unix_seconds());
    for warning in warnings {
        log::warn!("{warning}");
    }
    table
}

/// The settings that size the cache; the cache survives a reload that keeps them.
fn cache_settings(dns: &config::Dns) -> (usize, usize, u32, u32) {
    (
        dns.cache_entries_max,
        dns.cache_bytes_max,
        dns.ttl_min,
        dns.ttl_max,
    )
}

/// The forwarding settings of `dns`: `upstreams`, or the servers in `resolv_file`
/// when that list is empty (read now).
fn forward_settings(dns: &config::Dns) -> forward::Settings {
    let upstreams = match (&dns.resolv_file, dns.upstreams.is_empty()) {
        (Some(path), true) => match std::fs::read_to_string(path) {
            Ok(text) => forward::parse_resolv_conf(&text, &dns.listen),
            Err(e) => {
                log::warn!("{}: {e}; no upstream until it can be read", path.display());
                Vec::new()
            }
        },
        _ => dns.upstreams.clone(),
    };
    forward::Settings {
        upstreams,
        routes: dns.routes.clone(),
        ca_file: dns.upstream_ca_file.clone(),
        serve_stale: dns.serve_stale,
        rebind_protection: dns.rebind_protection,
        rebind_allow: dns.rebind_allow.clone(),
    }
}

fn has_upstreams(settings: &forward::Settings) -> bool {
    !settings.upstreams.is_empty() || !settings.routes.is_empty()
}

/// The forwarder for `settings` (none without any upstream), keeping `cache`.
fn forwarder(
    settings: &forward::Settings,
    dns: &config::Dns,
    cache: Option<Arc<Cache>>,
) -> Option<Arc<Forwarder>> {
    if !has_upstreams(settings) {
        return None;
    }
    let cache = cache.unwrap_or_else(|| {
        Arc::new(Cache::new(
            dns.cache_entries_max,
            dns.cache_bytes_max,
            dns.ttl_min,
            dns.ttl_max,
        ))
    });
    Some(Arc::new(Forwarder::new(settings, cache)))
}

fn limiter(qps: u32) -> Option<Arc<RateLimiter>> {
    (qps > 0).then(|| Arc::new(RateLimiter::new(qps, RATE_LIMIT_CLIENTS_MAX)))
}

/// The interfaces' subnets; loopback alone when they cannot be read (never open).
fn local_networks() -> Vec<Net> {
    acl::local_networks().unwrap_or_else(|e| {
        log::error!("cannot read the interface addresses ({e}); `local` means loopback only");
        ["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|n| Net::parse(n).ok())
            .collect()
    })
}
