//! The configuration file: what the user wrote, then what the program uses.
//!
//! Two stages (as ripgrep does): `raw` is a literal serde image of the TOML with
//! source spans and `deny_unknown_fields`; [`Config`] is the resolved value, every
//! default applied and every check done, so nothing downstream re-validates. Each
//! error names the file, the line and what was expected. This file owns the entry
//! points ([`Config::load`], [`Config::parse`]), the error type and the top-level
//! keys; each section resolves in a file of its own (`dns`, `zone` with `mail`,
//! `delegate`, `acme` for `[acme]` and `[[cert]]`, `blocklist`, `store`), with the address forms in `address` and offsets mapped to lines in
//! `lines`. Sections of later roles plug in as further fields of `raw::File` and
//! `Config`, and as further files here.

mod acme;
mod address;
mod api;
mod blocklist;
mod delegate;
mod dns;
mod lines;
mod mail;
mod raw;
mod store;
pub mod uci;
mod zone;

pub use acme::{Acme, Cert, Challenge, DELEGATE_API_CERT};
pub use api::Api;
pub use delegate::{Delegate, Registration};
pub use dns::Dns;
pub use store::Store;

use std::path::{Path, PathBuf};

use crate::dns::blocklist::BlocklistSpec;
use crate::dns::zone::{ZoneSpec, Zones};
use lines::Lines;

/// The configuration used when no `-c FILE` is given: enough to try lanseal at once.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");
/// Name shown in errors and logs for the embedded default.
pub const EMBEDDED_NAME: &str = "<embedded default>";

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

/// The state directory when `state_dir` is not written: `/etc/lanseal` for root
/// and `~/.local/state/lanseal` for anyone else (trying lanseal needs no root).
pub fn default_state_dir() -> PathBuf {
    let home = std::env::var_os("HOME").filter(|_| !nix::unistd::getuid().is_root());
    match home {
        Some(home) => PathBuf::from(home).join(".local/state/lanseal"),
        None => PathBuf::from("/etc/lanseal"),
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
    /// Where the log goes instead of standard error (appended).
    pub log_file: Option<PathBuf>,
    pub user: Option<String>,
    pub dns: Dns,
    pub zones: Vec<ZoneSpec>,
    /// The delegate role, when `[delegate]` is present.
    pub delegate: Option<Delegate>,
    /// `[acme]`: present when written or when there is any `[[cert]]`.
    pub acme: Option<Acme>,
    /// The certs role's certificates (`[[cert]]`); the role runs when any is given.
    pub certs: Vec<Cert>,
    /// The local API role, when `[api]` is present.
    pub api: Option<Api>,
    /// `[[blocklist]]`: the sections; their files are read by the daemon.
    pub blocklists: Vec<BlocklistSpec>,
    /// `[store]`: where the delegate's shared data lives.
    pub store: Store,
    /// `zones` built (every record checked while building): the daemon serves
    /// these, so a zone is built once per load, not once to check and once to serve.
    pub zone_data: Zones,
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
                let text = lines::utf8(bytes, &name)?;
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
        config.zone_data = Zones::build(&config.zones, serial, config.dns.zone_records_max)
            .map_err(|(index, e)| {
                let zone = &config.zones[index];
                let message = format!("zone `{}`: {}", zone.name, e.message);
                // An error in a zone file is told at that file's line.
                if let Some(zone_file) = e.file {
                    return ConfigError {
                        file: zone_file.display().to_string(),
                        line: e.line,
                        message,
                    };
                }
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

/// Resolves `raw`; also returns the config line of each zone in `Config::zones`
/// (its `name`, `delegate.zone`, or `lease_domain`; 0 when not written).
fn resolve(raw: raw::File, lines: &Lines<'_>) -> Result<(Config, Vec<usize>), ConfigError> {
    let log_level = log_level(raw.log_level.as_ref(), lines)?;
    let raw_dns = raw.dns.unwrap_or_default();
    let lease_domain_line = raw_dns
        .lease_domain
        .as_ref()
        .map_or(0, |d| lines.line(d.span().start));
    let mut dns = dns::resolve(raw_dns, lines)?;
    let (mut zones, mut zone_lines, transferred) = zone::resolve_all(raw.zone, lines)?;
    let transfers = zone::transfers(&zones, transferred, dns.zone_key.as_ref(), lines)?;
    dns.zone_transfers = transfers.map(std::sync::Arc::new);
    if zone::add_lease_zone(&dns, &mut zones) {
        zone_lines.push(lease_domain_line);
    }
    let delegate = match raw.delegate {
        None => None,
        Some(raw_delegate) => {
            let at = raw_delegate.zone.span().start;
            let delegate = delegate::resolve(raw_delegate, lines)?;
            zone::check_zone_unique(
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
    let state_dir = raw.state_dir.map(PathBuf::from);
    let state = state_dir.clone().unwrap_or_else(default_state_dir);
    let mut certs = acme::resolve_certs(raw.cert, &state, lines)?;
    if let Some(host) = delegate.as_ref().and_then(|d| d.tls_acme.clone()) {
        certs.push(acme::delegate_api_cert(host, &state));
    }
    let acme = acme::resolve_acme(raw.acme, !certs.is_empty(), lines)?;
    let api = match raw.api {
        None => None,
        // The section header's line: serde keeps no span for a table, so the
        // first line that says `[api]`.
        Some(raw_api) => Some(api::resolve(raw_api, &state, lines.section("api"), lines)?),
    };
    let blocklists = blocklist::resolve_all(raw.blocklist, lines)?;
    let store = store::resolve(raw.store, delegate.is_some(), lines)?;
    let config = Config {
        source: lines.file.to_string(),
        path: None,
        state_dir,
        log_level,
        log_file: raw.log_file.filter(|f| !f.is_empty()).map(PathBuf::from),
        user: raw.user,
        dns,
        zones,
        delegate,
        acme,
        certs,
        api,
        blocklists,
        store,
        zone_data: Zones::default(),
    };
    Ok((config, zone_lines))
}

/// `log_level`: one of the five `log` levels by name; `info` by default.
fn log_level(
    raw: Option<&toml::Spanned<String>>,
    lines: &Lines<'_>,
) -> Result<LogLevel, ConfigError> {
    let Some(level) = raw else {
        return Ok(LogLevel::Info);
    };
    match level.get_ref().as_str() {
        "error" => Ok(LogLevel::Error),
        "warn" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        "trace" => Ok(LogLevel::Trace),
        other => {
            let message =
                format!("log_level `{other}`: expected one of error, warn, info, debug, trace");
            Err(lines.error(level.span().start, message))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn err(text: &str) -> ConfigError {
        Config::parse(text, "t.toml").unwrap_err()
    }

    /// Each config text fails at that line with a message containing that text,
    /// and the error names the file. The sections' tests share it.
    pub(in crate::config) fn assert_errors<Text: AsRef<str>>(cases: &[(Text, usize, &str)]) {
        for (text, line, needle) in cases {
            let text = text.as_ref();
            let e = err(text);
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            assert_eq!(e.file, "t.toml");
        }
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

    /// Top-level values and TOML syntax: the line, and what was wrong.
    #[test]
    fn errors_name_line_and_expectation() {
        assert_errors(&[
            ("log_level = \"loud\"\n", 1, "expected one of error"),
            ("x = [\n", 1, "unclosed array"),
        ]);
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
