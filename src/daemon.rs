//! Process life: logging to stderr, start-up order, and signals.
//!
//! Owns what happens between "the config is valid" and "the process exits": bind
//! every socket first, then start the DNS threads, then wait for signals on the main
//! thread with `sigwait` (no signal handlers, no async signal machinery). Logs go to
//! stderr, where procd and journald collect them with their own timestamps.

use std::io::Write;
use std::sync::Arc;

use nix::sys::signal::{SigSet, Signal};

use crate::config::Config;
use crate::dns::answer::Answerer;
use crate::dns::server;
use crate::dns::zone::Zones;

/// Why running stopped with an error. Exit code 1.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// Serves `config` until SIGTERM or SIGINT.
pub fn run(config: Config) -> Result<(), RunError> {
    init_logging(config.log_level.filter());
    let serial = unix_seconds();
    let zones = Zones::build(&config.zones, serial)
        .map_err(|(i, e)| RunError(format!("zone #{}: {}", i + 1, e.message)))?;
    let sockets = server::bind(&config.dns.listen, config.dns.threads)
        .map_err(|e| RunError(e.to_string()))?;
    // Block the signals before any thread exists, so every thread inherits the mask
    // and only `sigwait` below ever sees them.
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(signal);
    }
    signals
        .thread_block()
        .map_err(|e| RunError(format!("cannot block signals: {e}")))?;
    let bound = sockets.bound.clone();
    let answerer = Arc::new(Answerer::new(Arc::new(zones)));
    let limits = server::TcpLimits::from_config(&config.dns);
    let _threads = server::spawn(sockets, answerer, limits)
        .map_err(|e| RunError(format!("cannot start DNS threads: {e}")))?;
    for address in &bound {
        log::info!(
            "listening on {address} (UDP and TCP, {} UDP thread(s))",
            config.dns.threads
        );
    }
    log::info!(
        "serving {} zone(s) from {}",
        config.zones.len(),
        config.source
    );
    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => {
                log::warn!(
                    "SIGHUP: live reload is not supported yet; restart lanseal to apply a new config"
                );
            }
            Ok(signal) => {
                log::info!("{signal}: exiting");
                return Ok(());
            }
            Err(e) => return Err(RunError(format!("waiting for signals: {e}"))),
        }
    }
}

fn unix_seconds() -> u32 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(1, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// A logger of a few lines: `lanseal[LEVEL] message` on stderr.
struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level && metadata.target().starts_with("lanseal")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "lanseal[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger; later calls only change nothing.
pub fn init_logging(level: log::LevelFilter) {
    let logger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
