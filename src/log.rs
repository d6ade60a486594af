//! Logging: every record as one line `lanseal[LEVEL] message` on stderr, where
//! procd and journald collect it with their own timestamps (so none is written
//! here). Owns the logger the `log` macros write to; the level is `log`'s global
//! maximum, so a reload changes it with `log::set_max_level` and nothing else.
//! Records of other crates are dropped (their targets do not start with
//! `lanseal`).
//!
//! Why not simplelog (the design card's choice): it costs bytes and adds nothing
//! needed here. Measured on the release build (`opt-level = "s"`, fat LTO,
//! stripped; x86_64), `cargo build --release && ls -l target/release/lanseal`:
//! 3 188 944 bytes with this logger, 3 223 664 with simplelog 0.12.2
//! (`default-features = false`, a `WriteLogger` on stderr with the time, thread,
//! target and location columns off), i.e. +34 720 bytes (+1.1 %). `cargo bloat
//! --release --crates` puts most of it in the `time` crate (18.7 KiB), which
//! simplelog links for its time column even when that column is off. simplelog
//! also cannot write the `lanseal[LEVEL]` prefix.

use std::io::Write;

use ::log::{LevelFilter, Log, Metadata, Record};

/// The logger; stateless (the level lives in `log::max_level`).
struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // `log::max_level`, not a copy, so a reload can change the level.
        metadata.level() <= ::log::max_level() && metadata.target().starts_with("lanseal")
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            // One locked write per record: lines from threads never interleave.
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "lanseal[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// `log_file`: standard error itself becomes the file (appended to, created
/// 0640), so every line goes there, a panic's too. Called again after SIGHUP
/// to follow a log rotation (the old file is let go).
pub fn to_file(path: &std::path::Path) -> Result<(), String> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| format!("log_file {}: {e}", path.display()))?;
    #[allow(unsafe_code)]
    // SAFETY: dup2 takes two descriptor numbers: `file`'s, open for the whole
    // call, and 2, which it atomically replaces; no memory is touched.
    let result = unsafe { nix::libc::dup2(file.as_raw_fd(), 2) };
    if result < 0 {
        let error = std::io::Error::last_os_error();
        return Err(format!("log_file {}: {error}", path.display()));
    }
    Ok(())
}

/// Installs the stderr logger at `level`; a second call changes nothing (the
/// first logger stays, as `log` allows only one).
pub fn init(level: LevelFilter) {
    static LOGGER: StderrLogger = StderrLogger;
    if ::log::set_logger(&LOGGER).is_ok() {
        ::log::set_max_level(level);
    }
}
