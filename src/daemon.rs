//! Process life: start-up order, and signals.
//!
//! Owns what happens between "the config is valid" and "the process exits": bind
//! every socket first, then start the DNS threads, then wait for signals on the main
//! thread with `sigwait` (no signal handlers, no async signal machinery). Logging
//! is `crate::log`'s.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

use crate::config::Config;
use crate::control::{Control, State};
use crate::counters::Counters;
use crate::dns::server;
use crate::store::{self, Store};
use crate::watch::Watcher;

/// The watcher wakes at least this often to re-create watches whose directory did
/// not exist yet and to follow a reload's new file list.
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Events closer together than this are one change (dnsmasq writes a lease file in
/// several writes).
const WATCH_SETTLE: Duration = Duration::from_millis(200);

/// How long a stop waits for the upstreams' answers to queries already taken
/// (the forwarder gives up on an upstream sooner).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Why running stopped with an error. Exit code 1.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// How the process runs, from the command line (`run --daemon --pidfile FILE`).
#[derive(Debug, Clone, Default)]
pub struct Process {
    /// Detach: fork, a new session, standard input and output on /dev/null
    /// (standard error stays, or goes to `log_file`).
    pub daemon: bool,
    /// Written with the serving process's id, locked while it runs, removed
    /// at a graceful exit.
    pub pidfile: Option<PathBuf>,
}

/// Serves `config` until SIGTERM or SIGINT; SIGHUP reloads it, SIGUSR1 logs the
/// counters (as dnsmasq does). The start-up order is the architecture map's
/// ("Start-up order"): every socket, then detaching, the pidfile, the state,
/// the privileges, and only then threads.
pub fn run(mut config: Config, process: &Process) -> Result<(), RunError> {
    crate::log::init(config.log_level.filter());
    if let Some(file) = &config.log_file {
        crate::log::to_file(file).map_err(RunError)?;
    }
    // Block the signals first: before any thread exists, so every thread
    // inherits the mask and only `sigwait` below ever sees them; and before the
    // pidfile, so a SIGTERM during start-up waits for `sigwait` and stops the
    // daemon gracefully (exit 0, pidfile removed) instead of killing it with
    // its pidfile left behind (tests/daemon.rs saw it on a loaded machine).
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
    // 1. Every socket, while the process may still hold the privilege to bind
    // (ports under 1024) and can still report a failure to whoever started it.
    let sockets = server::bind(&config.dns.listen, config.dns.threads)
        .map_err(|e| RunError(e.to_string()))?;
    let delegate_listener = match &config.delegate {
        Some(settings) => Some(crate::delegate::Prepared::bind(settings).map_err(RunError)?),
        None => None,
    };
    let api_listener = match &config.api {
        Some(settings) => Some(crate::api::bind(settings).map_err(RunError)?),
        None => None,
    };
    // 2. Detach, while the process has one thread and no open store (SQLite
    // must not cross a fork).
    if process.daemon {
        detach()?;
    }
    // 3. The pidfile names the process that serves, so it comes after the fork.
    let _pidfile = match &process.pidfile {
        Some(path) => Some(Pidfile::write(path)?),
        None => None,
    };
    // 4. The state: the store (its directory made 0700), tokens, TLS keys, read
    // while the process may still be root.
    let state_dir = state_dir(&config);
    // One store for every role that keeps state (the delegate, the certs role,
    // the local API's runtime records): each takes a clone of the same handle.
    let needs_store = config.delegate.is_some() || !config.certs.is_empty() || config.api.is_some();
    let store = if needs_store {
        Some(open_store(&state_dir)?)
    } else {
        None
    };
    let delegate = match (&config.delegate, &store, delegate_listener) {
        (Some(settings), Some(store), Some(listener)) => {
            let acme_dir = state_dir
                .join("certs")
                .join(crate::config::DELEGATE_API_CERT);
            let shared = delegate_store(&config, store)?;
            Some(
                crate::delegate::Prepared::new(settings, shared, &acme_dir, listener)
                    .map_err(RunError)?,
            )
        }
        _ => None,
    };
    let api = match (&config.api, api_listener) {
        (Some(settings), Some(listener)) => {
            Some(crate::api::Prepared::new(settings, listener).map_err(RunError)?)
        }
        _ => None,
    };
    // 5. Root is needed no more: every socket is bound, the store, the tokens
    // and the TLS keys are open (the state directory is handed to `user`), and
    // no thread exists yet (server::spawn and the roles start them: 6).
    // The transferred zones' serials (`dns::xfr::Serials`): the file exists
    // before root is dropped, so that `user` owns it.
    let serials = state_dir.join(crate::dns::xfr::Serials::FILE_NAME);
    let transfers = config.dns.zone_transfers.is_some();
    if transfers && !serials.exists() {
        let made = std::fs::create_dir_all(&state_dir).and_then(|()| std::fs::write(&serials, ""));
        if let Err(e) = made {
            log::warn!("cannot create {}: {e}", serials.display());
        }
    }
    if let Some(user) = &config.user {
        let mut owned = if needs_store {
            store::owned_paths(&state_dir)
        } else {
            Vec::new()
        };
        if transfers && serials.exists() {
            owned.push(serials.clone());
        }
        crate::privileges::apply(user, &owned, config.path.as_deref())
            .map_err(|e| RunError(e.to_string()))?;
    }
    // A store other delegate nodes share: reached now, unprivileged, before
    // any thread starts.
    if let Some(delegate) = &delegate {
        delegate.connect().map_err(RunError)?;
    }
    let role_specs: Vec<_> = config
        .delegate
        .iter()
        .map(crate::delegate::zone::spec)
        .collect();
    let dynamic = delegate.as_ref().map(|d| d.records.dynamic().clone());
    let transfer = delegate.as_ref().and_then(|d| d.transfer.clone());
    let state = State::new(&mut config, role_specs, dynamic)
        .map_err(RunError)?
        .with_serials(serials);
    // Watch first, then read: a change in between is then never missed.
    let first_watch = Watch::new(&state);
    let counters = Arc::new(Counters::new(sockets.thread_count()));
    let limits = server::TcpLimits {
        connections_max: state.dns.tcp_connections_max,
        idle_timeout: state.dns.tcp_idle_timeout,
    };
    let threads = state.dns.threads;
    let bound = sockets.bound.clone();
    let control = Control::start(state, counters.clone());
    if let (Some(_), Some(store)) = (&api, &store) {
        // Before the DNS threads start: the first query already sees them.
        let served = crate::api::restore(&control, store).map_err(RunError)?;
        if served > 0 {
            log::info!("api: serving {served} runtime record(s) from the store");
        }
    }
    control.release_serials();
    let _threads = server::spawn(
        sockets,
        control.current().clone(),
        counters,
        limits,
        transfer,
    )
    .map_err(|e| RunError(format!("cannot start DNS threads: {e}")))?;
    {
        let control = control.clone();
        std::thread::Builder::new()
            .name("watch".into())
            .spawn(move || watch(&control, first_watch))
            .map_err(|e| RunError(format!("cannot start the watcher thread: {e}")))?;
    }
    for address in &bound {
        log::info!("listening on {address} (UDP and TCP, {threads} UDP thread(s))");
    }
    let (records, bytes) = zone_totals(&control);
    log::info!(
        "serving {} zone(s) ({records} records, {bytes} bytes) from {}",
        config.zones.len(),
        config.source
    );
    let api_certificate = delegate
        .as_ref()
        .filter(|_| {
            config
                .delegate
                .as_ref()
                .is_some_and(|d| d.tls_acme.is_some())
        })
        .and_then(|d| d.certificate());
    let delegate = match delegate {
        Some(delegate) => {
            let api = delegate.api();
            let server = delegate.start().map_err(RunError)?;
            Some(crate::api::DelegateParts { api, server })
        }
        None => None,
    };
    if let (Some(api), Some(store)) = (api, &store) {
        let certs_context = match config.certs.is_empty() {
            true => None,
            false => Some(
                crate::certs::Context::new(&config, store.clone(), Some(control.clone()))
                    .map_err(RunError)?,
            ),
        };
        let parts = crate::api::Parts {
            control: control.clone(),
            store: store.clone(),
            certs: config.certs.clone(),
            certs_context,
            delegate,
            config_source: config.source.clone(),
            roles: crate::api::roles(&config),
        };
        api.start(parts).map_err(RunError)?;
    }
    if let (false, Some(store)) = (config.certs.is_empty(), &store) {
        crate::certs::start(
            &config,
            &state_dir,
            store.clone(),
            control.clone(),
            api_certificate,
        )
        .map_err(RunError)?;
        log::info!("certs: managing {} certificate(s)", config.certs.len());
    }
    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => reload(&control, &config),
            Ok(Signal::SIGUSR1) => {
                log_counters(&control);
                if !config.certs.is_empty() {
                    let bounds: Vec<String> = crate::certs::bounds_hit()
                        .iter()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect();
                    log::info!("certs bounds hit: {}", bounds.join(" "));
                }
            }
            Ok(signal) => {
                log::info!("{signal}: stopping");
                drain(&control);
                // A write in progress finishes first, and none starts after:
                // the store is held until the process is gone.
                let _store = store.as_ref().map(store::Shared::lock);
                drop(_pidfile);
                log::info!("{signal}: exiting");
                std::process::exit(0);
            }
            Err(e) => return Err(RunError(format!("waiting for signals: {e}"))),
        }
    }
}

/// SIGTERM, SIGINT: no new query is taken; those already handed to the
/// upstreams are answered (or time out) within `DRAIN_TIMEOUT`.
fn drain(control: &Control) {
    let Some(forwarder) = control.stop() else {
        return;
    };
    let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
    // Twice in a row at zero: a job queued by a UDP thread just before the stop
    // has had its turn to start.
    let mut idle_looks = 0;
    while idle_looks < 2 && std::time::Instant::now() < deadline {
        if forwarder.inflight() == 0 {
            idle_looks += 1;
        } else {
            idle_looks = 0;
        }
        std::thread::sleep(DRAIN_POLL);
    }
    let left = forwarder.inflight();
    if left > 0 {
        log::warn!("stopping with {left} upstream question(s) unanswered after {DRAIN_TIMEOUT:?}");
    }
}

/// `--daemon`: the `daemonize` crate's double fork and new session. The working
/// directory stays (relative paths in the config keep their meaning, and a
/// reload reads the same file); the umask makes new files private to the
/// group at most. Standard error is kept: it is the log unless `log_file`
/// already took it.
fn detach() -> Result<(), RunError> {
    daemonize::Daemonize::new()
        .working_directory(std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")))
        .umask(0o027)
        .stdout(daemonize::Stdio::devnull())
        .stderr(daemonize::Stdio::keep())
        .start()
        .map_err(|e| RunError(format!("cannot detach (--daemon): {e}")))
}

/// The pidfile: created (0644) and locked, our pid written; removed when
/// dropped (a graceful exit). A second lanseal with the same pidfile finds it
/// locked and refuses to start, instead of overwriting the first one's.
struct Pidfile {
    path: PathBuf,
    _file: std::fs::File,
}

impl Pidfile {
    fn write(path: &std::path::Path) -> Result<Self, RunError> {
        use std::io::Write as _;
        let fail = |e: std::io::Error| RunError(format!("pidfile {}: {e}", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(fail)?;
        if file.try_lock().is_err() {
            return Err(RunError(format!(
                "pidfile {}: another lanseal holds it",
                path.display()
            )));
        }
        file.set_len(0).map_err(fail)?;
        writeln!(file, "{}", std::process::id()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        Ok(Self {
            path: path.to_path_buf(),
            _file: file,
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        // After a privilege drop the directory (e.g. /var/run) may not let us:
        // a stale file is harmless (the lock, not the file, says who runs).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The directory of durable state: `state_dir`, else the default
/// ([`crate::config::default_state_dir`]).
pub fn state_dir(config: &Config) -> PathBuf {
    config
        .state_dir
        .clone()
        .unwrap_or_else(crate::config::default_state_dir)
}

/// The delegate's store: the node's own, or (`[store] backend = "postgres"`)
/// the database several nodes share, its URL file read now (it may be readable
/// by root only); connecting waits for `Prepared::connect`.
fn delegate_store(
    config: &crate::config::Config,
    own: &store::Shared,
) -> Result<store::DelegateStore, RunError> {
    match &config.store {
        crate::config::Store::Sqlite => Ok(store::DelegateStore::Sqlite(own.clone())),
        #[cfg(feature = "postgres")]
        crate::config::Store::Postgres { url_file } => {
            let postgres = store::postgres::Postgres::configure(url_file)
                .map_err(|e| RunError(e.to_string()))?;
            log::info!("delegate: shared store {}", postgres.name());
            Ok(store::DelegateStore::Postgres(Arc::new(postgres)))
        }
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

/// SIGUSR1: every counter on two log lines, and one per blocklist (the local API
/// serves them too).
fn log_counters(control: &Control) {
    let stats = control.stats();
    let line: Vec<String> = stats
        .counters
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    log::info!("counters: {}", line.join(" "));
    for list in &stats.blocklists {
        log::info!(
            "blocklist `{}`: names={} allowed={} skipped_lines={} blocked={} cname_blocked={} load_failures={}",
            list.name,
            list.load.names,
            list.load.allowed,
            list.load.skipped,
            list.blocked,
            list.cname_blocked,
            list.load_failures
        );
    }
    let Some(cache) = stats.cache else {
        return;
    };
    let upstreams: Vec<String> = stats
        .upstreams
        .iter()
        .map(|(a, ok, failed, srtt)| format!("{a}:answers={ok},failures={failed},srtt_ms={srtt}"))
        .collect();
    let forwarder: Vec<String> = stats
        .forwarder
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    log::info!(
        "cache: entries={} bytes={} hits={} misses={} {} upstreams: {}",
        cache.entries,
        cache.bytes,
        cache.hits,
        cache.misses,
        forwarder.join(" "),
        upstreams.join(" ")
    );
}

/// SIGHUP: read the config again and serve it; a broken one changes nothing.
/// Sections that are read only at start (`[delegate]`) are compared with what
/// runs, and a change there is reported as needing a restart.
fn reload(control: &Control, running: &Config) {
    let failed = |message: String| {
        log::error!("reload rejected, still serving the previous config: {message}");
        let process = &control.counters().process;
        process.reload_failures.fetch_add(1, Relaxed);
    };
    let config = match Config::load(running.path.as_deref()) {
        Ok(config) => config,
        Err(e) => return failed(e.to_string()),
    };
    // A rotated log: write to the file now at that path.
    if let Some(file) = &config.log_file
        && let Err(e) = crate::log::to_file(file)
    {
        log::error!("reload: {e}");
    }
    log::set_max_level(config.log_level.filter());
    if config.delegate != running.delegate {
        log::warn!("reload: the [delegate] section changed; it takes effect at the next restart");
    }
    if config.acme != running.acme || config.certs != running.certs {
        log::warn!(
            "reload: the [acme] and [[cert]] sections changed; they take effect at the next restart"
        );
    }
    if config.api != running.api {
        log::warn!("reload: the [api] section changed; it takes effect at the next restart");
    }
    if config.user != running.user || config.state_dir != running.state_dir {
        log::warn!("reload: `user` and `state_dir` take effect at the next restart");
    }
    let (source, zones) = (config.source.clone(), config.zones.len());
    if let Err(e) = control.reload(config) {
        return failed(e);
    }
    control.counters().process.reloads.fetch_add(1, Relaxed);
    let (records, bytes) = zone_totals(control);
    log::info!("reloaded {source}: serving {zones} zone(s) ({records} records, {bytes} bytes)");
}

/// Records and bytes of memory of every zone served (the config's and the roles').
fn zone_totals(control: &Control) -> (usize, usize) {
    let zones = control.stats().zones;
    let records = zones.iter().map(|(_, records, _)| records).sum();
    let bytes = zones.iter().map(|(_, _, bytes)| bytes).sum();
    (records, bytes)
}

/// The watcher thread: lease and hosts files, and interface addresses for the
/// `local` ACL. Sleeps in poll(2) while nothing changes.
fn watch(control: &Control, first: Watch) {
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
                control.apply_changes(changes);
            }
            let missing = watcher.as_ref().is_some_and(|w| !w.missing().is_empty());
            if missing || watcher.is_none() || control.lock().watch_generation != generation {
                break;
            }
        }
        let missing_before = watcher.as_ref().map(|w| w.missing().to_vec());
        drop(watcher);
        current = Watch::new(&control.lock());
        // What changed while nothing watched it (a reload's new files, a directory
        // that appeared) is read now; an unchanged set of missing paths reads nothing.
        let missing_now = current.watcher.as_ref().map(|w| w.missing().to_vec());
        if current.generation != generation || missing_now != missing_before {
            control.apply_changes(crate::watch::Changes {
                files: true,
                interfaces: current.interfaces,
            });
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
