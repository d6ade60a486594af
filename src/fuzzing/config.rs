//! `config_toml` and `config_uci`: a config file's text (UTF-8 only, as
//! `Config::load` refuses anything else before parsing) into the two parsers.

use crate::config::uci;
use crate::config::{Config, ConfigError};

/// The whole `Config` load from a TOML text: raw parse, resolution, zones built.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(text, "fuzz.toml") {
        check_error(&e, text, "fuzz.toml");
    }
}

/// `lanseal config from-uci`: the UCI text to TOML, which must then load.
pub fn config_uci(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match uci::convert(text, "fuzz.uci") {
        Ok(toml) => {
            let loaded = Config::parse(&toml, "converted.toml");
            assert!(
                loaded.is_ok(),
                "from-uci wrote a config that does not load: {loaded:?}\n{toml}"
            );
        }
        Err(e) => check_error(&e, text, "fuzz.uci"),
    }
}

/// An error names the file and a line of it (0: the file as a whole), and says
/// something.
fn check_error(e: &ConfigError, text: &str, file: &str) {
    assert_eq!(e.file, file, "an error about another file: {e:?}");
    // A last line without a newline is a line too.
    let lines = text.split('\n').count();
    assert!(
        e.line <= lines,
        "line {} of a {lines}-line text: {e:?}",
        e.line
    );
    assert!(!e.message.is_empty(), "an error without a message");
}
