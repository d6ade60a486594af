//! The one control handle: how a role (the local API, the certs role, signals and
//! the watcher) changes what the process serves, and reads how it is doing.
//!
//! Owns the pieces a DNS [`Service`] is built from ([`State`]: the config's DNS
//! settings, the zone specs of the config and of the roles, the runtime records,
//! lease and hosts names, local subnets, the forwarder with its cache, the
//! dynamic zone a role feeds) and the only way to change them: every change goes
//! through a [`Control`] method, which rebuilds what depends on it and publishes a
//! new `Service` (threads switch at their next query; nothing a query reads is
//! mutated). A [`Control`] is a cheap clone; each role keeps one.
//!
//! What a role can do: [`Control::publish`] a new service, add and remove runtime
//! records ([`Control::add_record`], validated by the same parser as config
//! records, applied at once), flush the cache ([`Control::flush_cache`], all or one
//! name), read the counters ([`Control::stats`]), and ask the certs role to renew
//! a certificate ([`Control::request_renewal`], delivered to whoever took
//! [`Control::renewal_requests`]). Persisting runtime records is the caller's (the
//! local API keeps them in the store and adds them again at start).
//!
//! Invariants: the state lock is never held while a file is read or a query is
//! answered; a change that fails to build changes nothing.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};

use crate::config::{self, Config};
use crate::counters::Counters;
use crate::dns::acl::{self, Acl, AclEntry, Net};
use crate::dns::answer::{Answerer, Forwarding};
use crate::dns::blocklist::{BlocklistSpec, Blocklists};
use crate::dns::cache::prefetch::Prefetches;
use crate::dns::cache::{self, Cache};
use crate::dns::dynamic::DynamicZone;
use crate::dns::forward::{self, Forwarder, Health};
use crate::dns::hosts::{HostTable, Sources};
use crate::dns::ratelimit::RateLimiter;
use crate::dns::service::{Current, Service};
use crate::dns::xfr::Serials;
use crate::dns::zone::{ZoneSpec, Zones, same_zone_name};

/// Rate-limiter table size: clients tracked at once (about 40 bytes each).
const RATE_LIMIT_CLIENTS_MAX: usize = 4096;
/// The TCP rate limiter's table: TCP clients are at most `tcp_connections_max`
/// at once (64 by default), so a small table holds them all (about 7 KiB).
const TCP_RATE_LIMIT_CLIENTS_MAX: usize = 256;
/// Runtime records at most: the store's bound, so what is kept can be served.
pub use crate::store::RUNTIME_RECORDS_MAX;
/// Renewal requests waiting for the certs role.
const RENEWAL_QUEUE_MAX: usize = 64;

/// Why a control request was refused; each says whose fault it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// The request is wrong (an unknown zone, a record that does not parse…).
    Invalid(String),
    /// No such runtime record.
    NotFound,
    /// The role that would carry it out is not running (e.g. no `[[cert]]`).
    RoleOff(&'static str),
    /// A bound was reached (`RUNTIME_RECORDS_MAX`, the renewal queue).
    Full(&'static str),
    /// Keeping the change failed (the store); nothing changed.
    Store(String),
    /// Nothing is forwarded (no upstreams), so there is no cache to flush.
    NoCache,
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(message) => f.write_str(message),
            Self::NotFound => f.write_str("no such runtime record"),
            Self::RoleOff(role) => write!(f, "the {role} role is not enabled"),
            Self::Full(what) => write!(f, "{what} is full"),
            Self::Store(message) => f.write_str(message),
            Self::NoCache => f.write_str("there is no cache: nothing is forwarded (no upstreams)"),
        }
    }
}

impl std::error::Error for ControlError {}

/// A record added at run time, in zone-file syntax like a config record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeRecord {
    pub id: u64,
    /// The zone's name as the config writes it.
    pub zone: String,
    pub record: String,
}

/// What [`Control::stats`] reads: every counter, the cache, the upstreams.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Query and process counters by name (summed over threads).
    pub counters: Vec<(&'static str, usize)>,
    pub cache: Option<cache::Stats>,
    /// Forwarder counters by name (merged, stale served, rebinding drops…).
    pub forwarder: Vec<(&'static str, usize)>,
    pub upstreams: Vec<Health>,
    /// Per local zone: its name, records and bytes of memory.
    pub zones: Vec<(String, usize, usize)>,
    /// Each blocklist as loaded, with its counters.
    pub blocklists: Vec<BlocklistStats>,
}

/// One blocklist in [`Stats`].
#[derive(Debug, Clone, Default)]
pub struct BlocklistStats {
    pub name: String,
    pub answer: &'static str,
    pub files: usize,
    pub load: crate::dns::blocklist::LoadStats,
    /// Queries answered as blocked by this list.
    pub blocked: usize,
    /// Of them, those whose upstream answer's CNAME chain reached the list.
    pub cname_blocked: usize,
    pub names_max: usize,
    pub cname_inspection: bool,
    pub loads: usize,
    pub load_failures: usize,
    /// Entries left out past `names_max`, over every load.
    pub over_limit: usize,
}

/// The pieces a [`Service`] is built from; each changes for its own reason (a
/// reload, a lease file, an interface address, a role).
#[derive(Debug)]
pub struct State {
    pub dns: config::Dns,
    /// The config's zones, then the roles' (the delegate's static zone).
    specs: Vec<ZoneSpec>,
    /// The roles' zones alone, kept across reloads (a reload brings new config
    /// zones only).
    role_specs: Vec<ZoneSpec>,
    runtime: Vec<RuntimeRecord>,
    next_record_id: u64,
    zones: Arc<Zones>,
    hosts: Arc<HostTable>,
    /// Subnets of the interfaces, for `acl = ["local"]`.
    local: Vec<Net>,
    limiter: Option<Arc<RateLimiter>>,
    tcp_limiter: Option<Arc<RateLimiter>>,
    /// With its cache, which outlives reloads that keep the cache settings.
    forwarder: Option<Arc<Forwarder>>,
    /// What `forwarder` was built from (upstreams from `resolv_file` resolved).
    forward: forward::Settings,
    /// The prefetch queue of every cache built here (`prefetch` switches it).
    prefetches: Arc<Prefetches>,
    /// Records a role feeds at run time (the delegate's TXT values).
    dynamic: Option<Arc<DynamicZone>>,
    /// `[[blocklist]]` sections, and their lists as read from the files.
    blocklist_specs: Vec<BlocklistSpec>,
    blocklists: Arc<Blocklists>,
    /// Bumped when the watched files or the need to watch interfaces change.
    pub watch_generation: usize,
    /// SIGTERM came: the service takes no new query.
    stopping: bool,
    /// The serials of the transferred router zones (`dns::xfr`).
    serials: Serials,
}

impl State {
    /// The state for `config` plus the roles' zones (`role_specs`) and dynamic
    /// records. Lease and hosts names, interfaces and upstreams are read later
    /// (the watcher is set up first, so no change is missed).
    pub fn new(
        config: &mut Config,
        role_specs: Vec<ZoneSpec>,
        dynamic: Option<Arc<DynamicZone>>,
    ) -> Result<Self, String> {
        let mut state = Self {
            dns: config.dns.clone(),
            specs: Vec::new(),
            role_specs,
            runtime: Vec::new(),
            next_record_id: 1,
            zones: Arc::new(std::mem::take(&mut config.zone_data)),
            hosts: Arc::default(),
            local: Vec::new(),
            limiter: limiter(config.dns.rate_limit_qps, RATE_LIMIT_CLIENTS_MAX),
            tcp_limiter: limiter(config.dns.rate_limit_qps, TCP_RATE_LIMIT_CLIENTS_MAX),
            forwarder: None,
            forward: forward::Settings::default(),
            prefetches: Arc::new(Prefetches::new(config.dns.prefetch)),
            dynamic,
            blocklist_specs: config.blocklists.clone(),
            blocklists: Arc::default(),
            watch_generation: 0,
            stopping: false,
            serials: Serials::default(),
        };
        state.specs = config.zones.clone();
        let mut zones = Arc::unwrap_or_clone(std::mem::take(&mut state.zones));
        if !state.role_specs.is_empty() {
            state.specs.extend(state.role_specs.iter().cloned());
            zones = build(&state.specs, &[], state.dns.zone_records_max)?;
        }
        state.set_zones(zones);
        Ok(state)
    }

    /// Keeps the transferred zones' serials in `path` (`dns::xfr::Serials`),
    /// starting with the zones built already.
    pub fn with_serials(mut self, path: std::path::PathBuf) -> Self {
        self.serials = Serials::load(path);
        let zones = Arc::unwrap_or_clone(std::mem::take(&mut self.zones));
        self.set_zones(zones);
        self
    }

    /// Serves `zones` from the next publication, the transferred zones'
    /// serials settled first (`dns::xfr::Serials`).
    fn set_zones(&mut self, mut zones: Zones) {
        let transfers = self.dns.zone_transfers.clone();
        self.serials.settle(&mut zones, transfers.as_deref());
        self.zones = Arc::new(zones);
    }

    fn service(&self) -> Service {
        let forwarding = self.forwarder.as_ref().map(|f| Forwarding {
            cache: f.cache().clone(),
            domain_needed: self.dns.domain_needed,
            bogus_priv: self.dns.bogus_priv,
        });
        let mut answerer = Answerer::new(self.zones.clone(), self.hosts.clone(), forwarding);
        if let Some(dynamic) = &self.dynamic {
            answerer = answerer.with_dynamic(dynamic.clone());
        }
        answerer = answerer.with_blocklists(self.blocklists.clone());
        Service {
            answerer,
            acl: Acl::new(&self.dns.acl, &self.local),
            limiter: self.limiter.clone(),
            tcp_limiter: self.tcp_limiter.clone(),
            forwarder: self.forwarder.clone(),
            prefetches: self.prefetches.clone(),
            stopping: self.stopping,
            zone_transfers: self.dns.zone_transfers.clone(),
        }
    }

    pub fn uses_local(&self) -> bool {
        self.dns.acl.contains(&AclEntry::Local)
    }

    /// Lease, hosts, blocklist and (without explicit upstreams) resolv files.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        let resolv = self
            .dns
            .upstreams
            .is_empty()
            .then_some(&self.dns.resolv_file);
        let resolv = resolv.into_iter().flatten();
        let files = self.dns.leases.iter().chain(&self.dns.hosts).chain(resolv);
        let lists = self.blocklist_specs.iter().flat_map(BlocklistSpec::paths);
        files.chain(lists).cloned().collect()
    }

    /// Rebuilds the forwarder if its settings changed, keeping the cache when its
    /// own settings did not.
    fn update_forwarder(&mut self, dns: &config::Dns) {
        self.prefetches.set_enabled(dns.prefetch);
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
        self.forwarder = forwarder(&settings, dns, keep, &self.prefetches);
        self.forward = settings;
    }
}

/// See the module doc.
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    current: Arc<Current>,
    counters: Arc<Counters>,
    /// The certs role's queue of renewal requests, once it asked for one.
    renewals: Mutex<Option<mpsc::SyncSender<String>>>,
    /// When the config now served was loaded (unix seconds; u32 lasts to 2106
    /// and 32-bit MIPS has no 64-bit atomics).
    loaded_unix: std::sync::atomic::AtomicU32,
}

impl Control {
    /// Reads lease and hosts files, interfaces and upstreams into `state`, and
    /// publishes its first service into a new [`Current`].
    pub fn start(mut state: State, counters: Arc<Counters>) -> Self {
        state.hosts = Arc::new(read_hosts(&host_sources(&state.dns)));
        let lists = Blocklists::load(&state.blocklist_specs, &Blocklists::default());
        state.blocklists = Arc::new(lists);
        if state.uses_local() {
            state.local = local_networks();
        }
        let dns = state.dns.clone();
        state.update_forwarder(&dns);
        let current = Arc::new(Current::new(state.service()));
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                current,
                counters,
                renewals: Mutex::new(None),
                loaded_unix: std::sync::atomic::AtomicU32::new(unix_now_u32()),
            }),
        }
    }

    /// Start-up is over (runtime records restored): the transferred zones'
    /// serials settled since are kept (`dns::xfr::Serials::release`).
    pub fn release_serials(&self) {
        self.lock().serials.release();
    }

    /// What the DNS threads serve.
    pub fn current(&self) -> &Arc<Current> {
        &self.inner.current
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.inner.counters
    }

    /// The state, locked (for the watcher: what to watch).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Builds a service from the current state and makes it the one every DNS
    /// thread uses from its next query on.
    pub fn publish(&self) {
        let state = self.lock();
        self.inner.current.publish(state.service());
    }

    /// Adds `record` (zone-file syntax, relative to `zone`) to the zone named
    /// `zone`, checked exactly like a config record, and serves it at once.
    pub fn add_record(&self, zone: &str, record: &str) -> Result<RuntimeRecord, ControlError> {
        self.add_record_with(zone, record, |_, next| Ok(next))
    }

    /// [`Control::add_record`], kept by `persist` first: it is called once the
    /// record has been checked (with the record and the next free id) and
    /// returns the id to serve it under (the store's); if it fails, nothing
    /// changes. The state stays locked throughout, so no other change can come
    /// between the check and the publication.
    pub fn add_record_with(
        &self,
        zone: &str,
        record: &str,
        persist: impl FnOnce(&RuntimeRecord, u64) -> Result<u64, ControlError>,
    ) -> Result<RuntimeRecord, ControlError> {
        let mut state = self.lock();
        if state.runtime.len() >= RUNTIME_RECORDS_MAX {
            return Err(ControlError::Full("the runtime record table"));
        }
        let Some(spec) = state.specs.iter().find(|s| same_zone_name(&s.name, zone)) else {
            return Err(ControlError::Invalid(format!("no zone `{zone}`")));
        };
        let mut added = RuntimeRecord {
            id: state.next_record_id,
            zone: spec.name.clone(),
            record: record.trim().to_string(),
        };
        if added.record.is_empty() || added.record.contains(['\n', '\r']) {
            return Err(ControlError::Invalid(
                "expected one record line, e.g. \"nas 300 A 192.168.1.10\"".to_string(),
            ));
        }
        let mut runtime = state.runtime.clone();
        runtime.push(added.clone());
        let zones = rebuild(&state, &runtime, &added.zone).map_err(ControlError::Invalid)?;
        added.id = persist(&added, state.next_record_id)?;
        if let Some(last) = runtime.last_mut() {
            last.id = added.id;
        }
        state.set_zones(zones);
        state.runtime = runtime;
        state.next_record_id = state.next_record_id.max(added.id.saturating_add(1));
        self.inner.current.publish(state.service());
        Ok(added)
    }

    /// Serves `records` kept from an earlier run (ids as given), built in one
    /// go; if that fails, one by one so that only the records that no longer
    /// fit are left out. Returns those, each with why.
    pub fn restore_records(
        &self,
        records: Vec<RuntimeRecord>,
    ) -> Vec<(RuntimeRecord, ControlError)> {
        if records.is_empty() {
            // Nothing to add: no rebuild (a big zone would cost its build twice).
            return Vec::new();
        }
        {
            let mut state = self.lock();
            let mut runtime = state.runtime.clone();
            runtime.extend(records.iter().cloned());
            if runtime.len() <= RUNTIME_RECORDS_MAX
                && let Ok(zones) = build(&state.specs, &runtime, state.dns.zone_records_max)
            {
                let last = runtime.iter().map(|r| r.id).max().unwrap_or(0);
                state.next_record_id = state.next_record_id.max(last.saturating_add(1));
                state.set_zones(zones);
                state.runtime = runtime;
                self.inner.current.publish(state.service());
                return Vec::new();
            }
        }
        let mut refused = Vec::new();
        for record in records {
            let id = record.id;
            if let Err(e) = self.add_record_with(&record.zone, &record.record, |_, _| Ok(id)) {
                refused.push((record, e));
            }
        }
        refused
    }

    /// Removes the runtime record `id`.
    pub fn remove_record(&self, id: u64) -> Result<(), ControlError> {
        self.remove_record_with(id, || Ok(()))
    }

    /// [`Control::remove_record`], forgotten by `persist` first (under the
    /// state's lock); if it fails, nothing changes.
    pub fn remove_record_with(
        &self,
        id: u64,
        persist: impl FnOnce() -> Result<(), ControlError>,
    ) -> Result<(), ControlError> {
        let mut state = self.lock();
        let Some(at) = state.runtime.iter().position(|r| r.id == id) else {
            return Err(ControlError::NotFound);
        };
        let mut runtime = state.runtime.clone();
        let removed = runtime.remove(at);
        let zones = rebuild(&state, &runtime, &removed.zone).map_err(ControlError::Invalid)?;
        persist()?;
        state.set_zones(zones);
        state.runtime = runtime;
        self.inner.current.publish(state.service());
        Ok(())
    }

    /// The runtime records, oldest first.
    pub fn records(&self) -> Vec<RuntimeRecord> {
        self.lock().runtime.clone()
    }

    /// Drops the whole cache (`None`) or every entry for one name; how many
    /// entries went. Nothing to flush without upstreams.
    pub fn flush_cache(&self, name: Option<&str>) -> Result<usize, ControlError> {
        let cache = self.lock().forwarder.as_ref().map(|f| f.cache().clone());
        let Some(cache) = cache else {
            return Err(ControlError::NoCache);
        };
        let Some(name) = name else {
            let entries = cache.len();
            cache.clear();
            return Ok(entries);
        };
        let wire = crate::dns::zone::domain_wire(name)
            .map_err(|_| ControlError::Invalid(format!("`{name}` is not a domain name")))?;
        Ok(cache.remove_name(&wire))
    }

    /// Every counter, the cache's size and use, the upstreams' health.
    pub fn stats(&self) -> Stats {
        let (forwarder, prefetches, zones, blocklists) = {
            let state = self.lock();
            (
                state.forwarder.clone(),
                state.prefetches.clone(),
                state.zones.clone(),
                state.blocklists.clone(),
            )
        };
        let mut stats = Stats {
            counters: self.inner.counters.snapshot(),
            zones: zones
                .iter()
                .map(|z| {
                    (
                        crate::dns::wire::name_to_string(&z.apex),
                        z.records(),
                        z.bytes(),
                    )
                })
                .collect(),
            blocklists: blocklist_stats(&blocklists),
            ..Stats::default()
        };
        if let Some(f) = forwarder {
            stats.cache = Some(f.cache().stats());
            stats.forwarder = vec![
                ("merged", f.merged.load(Relaxed)),
                ("stale_served", f.stale_served.load(Relaxed)),
                ("rebind_dropped", f.rebind_dropped.load(Relaxed)),
                ("inflight", f.inflight()),
                ("inflight_full", f.inflight_full.load(Relaxed)),
                ("prefetch_started", prefetches.started.load(Relaxed)),
                ("prefetch_answered", prefetches.answered.load(Relaxed)),
                ("prefetch_dropped", prefetches.dropped.load(Relaxed)),
                ("prefetch_inflight", prefetches.inflight()),
            ];
            stats.upstreams = f.health();
        }
        stats
    }

    /// Asks the certs role to renew certificate `name` now.
    pub fn request_renewal(&self, name: &str) -> Result<(), ControlError> {
        let renewals = self
            .inner
            .renewals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = renewals.as_ref() else {
            return Err(ControlError::RoleOff("certs"));
        };
        match queue.try_send(name.to_string()) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(_)) => Err(ControlError::Full("the renewal queue")),
            Err(mpsc::TrySendError::Disconnected(_)) => Err(ControlError::RoleOff("certs")),
        }
    }

    /// For the certs role: the names [`Control::request_renewal`] asks for. A
    /// second call replaces the first receiver.
    pub fn renewal_requests(&self) -> mpsc::Receiver<String> {
        let (sender, receiver) = mpsc::sync_channel(RENEWAL_QUEUE_MAX);
        *self
            .inner
            .renewals
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sender);
        receiver
    }

    /// SIGHUP: serves `config` (zones, hosts, ACL, limits, upstreams), keeping the
    /// cache, the roles' zones and the runtime records. Err: why nothing changed.
    pub fn reload(&self, mut config: Config) -> Result<(), String> {
        let hosts = read_hosts(&host_sources(&config.dns));
        // Built beside the lists serving now (unchanged ones are kept as they are).
        let serving = self.lock().blocklists.clone();
        let blocklists = Blocklists::load(&config.blocklists, &serving);
        let mut state = self.lock();
        let mut specs = config.zones.clone();
        specs.extend(state.role_specs.iter().cloned());
        let zones = if specs.len() == config.zones.len() && state.runtime.is_empty() {
            std::mem::take(&mut config.zone_data)
        } else {
            // The config's own build (without the runtime records) goes first:
            // the old zones, the new ones and one build in progress at most.
            config.zone_data = Zones::default();
            build(&specs, &state.runtime, config.dns.zone_records_max)
                .map_err(|e| format!("{e} (the runtime records no longer fit the config)"))?
        };
        let old = &state.dns;
        let needs_restart = old.listen != config.dns.listen
            || old.threads != config.dns.threads
            || old.tcp_connections_max != config.dns.tcp_connections_max
            || old.tcp_idle_timeout != config.dns.tcp_idle_timeout;
        let watch_changed = old.leases != config.dns.leases
            || old.hosts != config.dns.hosts
            || old.resolv_file != config.dns.resolv_file
            || old.upstreams.is_empty() != config.dns.upstreams.is_empty()
            || old.acl.contains(&AclEntry::Local) != config.dns.acl.contains(&AclEntry::Local)
            || blocklist_paths(&state.blocklist_specs) != blocklist_paths(&config.blocklists);
        let qps_changed = old.rate_limit_qps != config.dns.rate_limit_qps;
        if needs_restart {
            log::warn!("reload: listen, threads and TCP limits take effect at the next restart");
        }
        if watch_changed {
            state.watch_generation = state.watch_generation.wrapping_add(1);
        }
        state.update_forwarder(&config.dns);
        if qps_changed {
            state.limiter = limiter(config.dns.rate_limit_qps, RATE_LIMIT_CLIENTS_MAX);
            state.tcp_limiter = limiter(config.dns.rate_limit_qps, TCP_RATE_LIMIT_CLIENTS_MAX);
        }
        if config.dns.acl.contains(&AclEntry::Local) {
            state.local = local_networks();
        }
        state.specs = specs;
        state.hosts = Arc::new(hosts);
        state.blocklists = Arc::new(blocklists);
        state.blocklist_specs = config.blocklists;
        state.dns = config.dns;
        state.set_zones(zones);
        self.inner.current.publish(state.service());
        self.inner.loaded_unix.store(unix_now_u32(), Relaxed);
        Ok(())
    }

    /// SIGTERM: from now on every DNS thread drops new queries unread (UDP)
    /// and closes new connections (TCP). Returns the forwarder, whose
    /// questions in flight the caller waits for.
    pub fn stop(&self) -> Option<Arc<Forwarder>> {
        let mut state = self.lock();
        state.stopping = true;
        self.inner.current.publish(state.service());
        state.forwarder.clone()
    }

    /// When the config now served was loaded (start, or the last good SIGHUP).
    pub fn loaded_unix(&self) -> i64 {
        i64::from(self.inner.loaded_unix.load(Relaxed))
    }

    /// The zones a runtime record can be added to, as the config names them.
    pub fn zone_names(&self) -> Vec<String> {
        self.lock()
            .specs
            .iter()
            .map(|spec| spec.name.clone())
            .collect()
    }

    /// Visits every runtime record (with its id), then every config-file record
    /// (without; the roles' zones left out), as (id, zone, record line), under
    /// the state's lock and without copying them.
    pub fn visit_records(&self, mut visit: impl FnMut(Option<u64>, &str, &str)) {
        let state = self.lock();
        for record in &state.runtime {
            visit(Some(record.id), &record.zone, &record.record);
        }
        let config_specs = state.specs.iter().filter(|spec| {
            !state
                .role_specs
                .iter()
                .any(|role| same_zone_name(&role.name, &spec.name))
        });
        for spec in config_specs {
            for (record, _) in &spec.records {
                visit(None, &spec.name, record);
            }
        }
    }

    /// The watcher saw lease/hosts/resolv files or interface addresses change.
    pub fn apply_changes(&self, changes: crate::watch::Changes) {
        let sources = changes.files.then(|| host_sources(&self.lock().dns));
        // Read files without holding the lock: DNS threads never wait on it, but a
        // SIGHUP would.
        let hosts = sources.as_ref().map(read_hosts);
        // Only the lists whose files changed are read again, beside the old ones.
        let serving = changes.files.then(|| self.lock().blocklists.clone());
        let blocklists = serving.as_ref().and_then(|lists| lists.refresh());
        let local = changes.interfaces.then(local_networks);
        let mut state = self.lock();
        // A reload may have swapped the lists meanwhile: its version wins.
        if let (Some(lists), Some(serving)) = (blocklists, &serving)
            && Arc::ptr_eq(&state.blocklists, serving)
        {
            state.blocklists = Arc::new(lists);
        }
        let process = &self.inner.counters.process;
        if changes.files {
            let dns = state.dns.clone();
            state.update_forwarder(&dns);
        }
        if let Some(hosts) = hosts {
            log::info!("lease or hosts file changed: {} name(s)", hosts.len());
            state.hosts = Arc::new(hosts);
            process.host_reloads.fetch_add(1, Relaxed);
        }
        if let Some(local) = local {
            if local != state.local {
                log::info!(
                    "interface addresses changed: {} local network(s)",
                    local.len()
                );
            }
            state.local = local;
            process.interface_changes.fetch_add(1, Relaxed);
        }
        self.inner.current.publish(state.service());
    }
}

fn unix_now_u32() -> u32 {
    u32::try_from(crate::clock::unix_seconds()).unwrap_or(u32::MAX)
}

/// Builds `specs` with `runtime` records added to their zones, at most
/// `records_max` records in all. Err: the message, naming the zone (and the
/// runtime record when one is at fault).
fn build(
    specs: &[ZoneSpec],
    runtime: &[RuntimeRecord],
    records_max: usize,
) -> Result<Zones, String> {
    let mut specs = specs.to_vec();
    // Runtime records have no config line: line 0 names them by position.
    for record in runtime {
        let Some(spec) = specs
            .iter_mut()
            .find(|s| same_zone_name(&s.name, &record.zone))
        else {
            return Err(format!(
                "runtime record {} (`{}`): no zone `{}`",
                record.id, record.record, record.zone
            ));
        };
        spec.records.push((record.record.clone(), 0));
    }
    let serial = u32::try_from(crate::clock::unix_seconds()).unwrap_or(u32::MAX);
    Zones::build(&specs, serial, records_max).map_err(|(index, e)| {
        let zone = specs.get(index).map_or("?", |s| s.name.as_str());
        match (e.file, e.line) {
            (Some(file), 0) => format!("{}: zone `{zone}`: {}", file.display(), e.message),
            (Some(file), line) => {
                format!("{}:{line}: zone `{zone}`: {}", file.display(), e.message)
            }
            (None, _) => format!("zone `{zone}`: {}", e.message),
        }
    })
}

/// `state`'s zones with zone `zone` built again with its records in `runtime`;
/// the other zones (a big one from a file, say) are kept as they are.
fn rebuild(state: &State, runtime: &[RuntimeRecord], zone: &str) -> Result<Zones, String> {
    let Some(index) = state
        .specs
        .iter()
        .position(|s| same_zone_name(&s.name, zone))
    else {
        return Err(format!("no zone `{zone}`"));
    };
    let mut spec = state.specs[index].clone();
    let own = runtime.iter().filter(|r| same_zone_name(&r.zone, zone));
    spec.records.extend(own.map(|r| (r.record.clone(), 0)));
    state
        .zones
        .with_rebuilt(index, &spec, unix_now_u32(), state.dns.zone_records_max)
        .map_err(|e| format!("zone `{}`: {}", spec.name, e.message))
}

/// Every file the lists read, for the watcher.
fn blocklist_paths(specs: &[BlocklistSpec]) -> Vec<&PathBuf> {
    specs.iter().flat_map(BlocklistSpec::paths).collect()
}

/// The lists' loads and counters.
fn blocklist_stats(lists: &Blocklists) -> Vec<BlocklistStats> {
    lists
        .lists()
        .iter()
        .map(|list| BlocklistStats {
            name: list.spec.name.clone(),
            answer: list.spec.answer.as_str(),
            files: list.spec.paths().count(),
            load: list.stats.clone(),
            blocked: list.counters.blocked(),
            cname_blocked: list.counters.cname_blocked.load(Relaxed),
            names_max: list.spec.names_max,
            cname_inspection: list.spec.cname_inspection,
            loads: list.counters.loads.load(Relaxed),
            load_failures: list.counters.load_failures.load(Relaxed),
            over_limit: list.counters.over_limit.load(Relaxed),
        })
        .collect()
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

/// The forwarder for `settings` (none without any upstream), keeping `cache`
/// (a new one queues its prefetches in `prefetches`).
fn forwarder(
    settings: &forward::Settings,
    dns: &config::Dns,
    cache: Option<Arc<Cache>>,
    prefetches: &Arc<Prefetches>,
) -> Option<Arc<Forwarder>> {
    if !has_upstreams(settings) {
        return None;
    }
    let cache = cache.unwrap_or_else(|| {
        let cache = Cache::new(
            dns.cache_entries_max,
            dns.cache_bytes_max,
            dns.ttl_min,
            dns.ttl_max,
        );
        Arc::new(cache.with_prefetches(prefetches.clone()))
    });
    Some(Arc::new(Forwarder::new(settings, cache)))
}

/// `qps` per client in a table of `clients` (none when `qps` is 0).
fn limiter(qps: u32, clients: usize) -> Option<Arc<RateLimiter>> {
    (qps > 0).then(|| Arc::new(RateLimiter::new(qps, clients)))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::dns::answer::{Step, Transport};
    use crate::dns::wire::Query;

    fn control(body: &str) -> Control {
        let text = format!("[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n{body}");
        let mut config = Config::parse(&text, "test.toml").unwrap();
        let state = State::new(&mut config, Vec::new(), None).unwrap();
        Control::start(state, Arc::new(Counters::new(1)))
    }

    /// The RCODE and answer count of `name` A as the published service answers.
    fn ask(control: &Control, name: &[u8]) -> (u8, u16) {
        let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(name);
        packet.extend_from_slice(&[0, 1, 0, 1]);
        let service = control.current().load();
        let (mut query, mut out) = (Query::empty(), Vec::new());
        let step = service
            .answerer
            .answer(false, &packet, Transport::Udp, &mut query, &mut out);
        assert!(matches!(step, Step::Send));
        (out[3] & 0x0f, u16::from_be_bytes([out[6], out[7]]))
    }

    const ZONE: &str = "[[zone]]\nname = \"home.test\"\nrecords = [\"router A 192.168.1.1\"]\n";
    const NAS: &[u8] = b"\x03nas\x04home\x04test\x00";

    #[test]
    fn runtime_records_are_served_at_once_and_removed() {
        let c = control(ZONE);
        assert_eq!(ask(&c, NAS), (3, 0), "NXDOMAIN before");
        let added = c
            .add_record("Home.Test.", "nas 300 A 192.168.1.10")
            .unwrap();
        assert_eq!(added.zone, "home.test");
        assert_eq!(ask(&c, NAS), (0, 1));
        assert_eq!(c.records(), std::slice::from_ref(&added));
        // Checked like a config record: nothing changes on an error.
        let bad = c.add_record("home.test", "nas A 999.1.1.1").unwrap_err();
        assert!(
            matches!(bad, ControlError::Invalid(ref m) if m.contains("home.test")),
            "{bad}"
        );
        let cname = c.add_record("home.test", "nas CNAME router").unwrap_err();
        assert!(matches!(cname, ControlError::Invalid(_)), "CNAME beside A");
        assert!(matches!(
            c.add_record("other.test", "x A 10.0.0.1"),
            Err(ControlError::Invalid(_))
        ));
        assert_eq!(c.records().len(), 1);
        c.remove_record(added.id).unwrap();
        assert_eq!(ask(&c, NAS), (3, 0), "NXDOMAIN after");
        assert_eq!(c.remove_record(added.id), Err(ControlError::NotFound));
    }

    #[test]
    fn persisted_records_keep_their_ids_and_a_failed_persist_changes_nothing() {
        let c = control(ZONE);
        let refused = c.add_record_with("home.test", "nas A 192.168.1.10", |_, _| {
            Err(ControlError::Store("disk full".into()))
        });
        assert_eq!(refused, Err(ControlError::Store("disk full".into())));
        assert_eq!(ask(&c, NAS), (3, 0), "nothing served");
        assert!(c.records().is_empty());
        let added = c.add_record_with("home.test", "nas A 192.168.1.10", |_, _| Ok(41));
        assert_eq!(added.unwrap().id, 41);
        assert_eq!(ask(&c, NAS), (0, 1));
        // A later record without a store gets a fresh id past the store's.
        assert_eq!(c.add_record("home.test", "b A 192.168.1.2").unwrap().id, 42);
        let kept = c.remove_record_with(41, || Err(ControlError::Store("io".into())));
        assert!(kept.is_err());
        assert_eq!(ask(&c, NAS), (0, 1), "still served");
        c.remove_record_with(41, || Ok(())).unwrap();
        assert_eq!(ask(&c, NAS), (3, 0));
    }

    #[test]
    fn restored_records_are_built_at_once_and_misfits_left_out() {
        let c = control(ZONE);
        let record = |id, zone: &str, record: &str| RuntimeRecord {
            id,
            zone: zone.into(),
            record: record.into(),
        };
        let refused = c.restore_records(vec![
            record(3, "home.test", "nas A 192.168.1.10"),
            record(7, "gone.test", "x A 192.168.1.7"),
            record(9, "home.test", "c A 192.168.1.9"),
        ]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0.id, 7);
        assert_eq!(ask(&c, NAS), (0, 1));
        let ids: Vec<u64> = c.records().iter().map(|r| r.id).collect();
        assert_eq!(ids, [3, 9]);
        assert_eq!(c.add_record("home.test", "d A 192.168.1.4").unwrap().id, 10);
        // All fitting: one build, same result.
        let c = control(ZONE);
        let refused = c.restore_records(vec![record(5, "home.test", "nas A 192.168.1.10")]);
        assert!(refused.is_empty());
        assert_eq!(ask(&c, NAS), (0, 1));
    }

    #[test]
    fn runtime_records_survive_a_reload() {
        let c = control(ZONE);
        c.add_record("home.test", "nas A 192.168.1.10").unwrap();
        let text = format!("[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n{ZONE}");
        c.reload(Config::parse(&text, "test.toml").unwrap())
            .unwrap();
        assert_eq!(ask(&c, NAS), (0, 1));
        // A config without the zone: the reload is refused, the old one serves.
        let text = "[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n";
        let refused = c.reload(Config::parse(text, "test.toml").unwrap());
        assert!(refused.is_err());
        assert_eq!(ask(&c, NAS), (0, 1));
    }

    #[test]
    fn renewal_requests_reach_the_certs_role() {
        let c = control("");
        assert_eq!(
            c.request_renewal("router"),
            Err(ControlError::RoleOff("certs"))
        );
        let requests = c.renewal_requests();
        c.clone().request_renewal("router").unwrap();
        assert_eq!(requests.try_recv().unwrap(), "router");
        for _ in 0..RENEWAL_QUEUE_MAX {
            c.request_renewal("nas").unwrap();
        }
        assert_eq!(
            c.request_renewal("nas"),
            Err(ControlError::Full("the renewal queue"))
        );
        drop(requests);
        assert_eq!(
            c.request_renewal("nas"),
            Err(ControlError::RoleOff("certs"))
        );
    }

    #[test]
    fn flush_and_stats() {
        let c = control("");
        assert_eq!(c.flush_cache(None), Err(ControlError::NoCache));
        let c = control("upstreams = [\"127.0.0.1:9\"]");
        assert_eq!(c.flush_cache(None), Ok(0));
        assert_eq!(c.flush_cache(Some("www.example.com")), Ok(0));
        assert!(matches!(
            c.flush_cache(Some("a..b")),
            Err(ControlError::Invalid(_))
        ));
        let stats = c.stats();
        assert!(stats.cache.is_some());
        assert_eq!(stats.upstreams.len(), 1);
        assert!(
            stats
                .counters
                .iter()
                .any(|(name, _)| *name == "dns_queries")
        );
    }
}
