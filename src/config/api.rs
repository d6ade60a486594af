//! `[api]`: the local API role's settings, resolved and checked: where it
//! listens, the token file that guards it, and the two endpoints that are off
//! unless asked for (`keys_endpoint`, and `/metrics` without a token).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::address::{AddressError, port_message, socket_address};
use super::{ConfigError, Lines, raw};

/// Where the API listens when `listen` is not written (DESIGN.md §9).
pub const API_LISTEN_DEFAULT: ([u8; 4], u16) = ([127, 0, 0, 1], 8053);
/// The token file's name in the state directory when `token_file` is not written.
pub const TOKEN_FILE_DEFAULT: &str = "api.token";

/// `[api]`: the local JSON API, `/metrics` and the web page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Api {
    pub listen: SocketAddr,
    /// The bearer token's file (created 0600 with a random token on first start).
    pub token_file: PathBuf,
    /// `GET /api/v1/keys/{name}` serves private keys (token always required).
    pub keys_endpoint: bool,
    /// `GET /metrics` without the token.
    pub metrics_public: bool,
}

/// The `[api]` section resolved; `state_dir` holds the default token file.
pub(super) fn resolve(
    raw: raw::Api,
    state_dir: &Path,
    section_at: usize,
    lines: &Lines<'_>,
) -> Result<Api, ConfigError> {
    let (listen, listen_at) = match raw.listen {
        None => (SocketAddr::from(API_LISTEN_DEFAULT), section_at),
        Some(text) => {
            let at = text.span().start;
            let listen = parse_listen(text.get_ref()).map_err(|m| lines.error(at, m))?;
            (listen, at)
        }
    };
    let token_file = match raw.token_file {
        Some(file) if file.get_ref().trim().is_empty() => {
            return Err(lines.error(
                file.span().start,
                "api.token_file: expected a file path (the API always needs its token)",
            ));
        }
        Some(file) => PathBuf::from(file.into_inner()),
        // The default file sits with the state; off loopback the owner must say
        // where the key to the router's API lives.
        None if !listen.ip().is_loopback() => {
            return Err(lines.error(
                listen_at,
                format!(
                    "api.listen `{listen}` is not a loopback address: name a token_file \
                     (the API's bearer token) to serve it on the network"
                ),
            ));
        }
        None => state_dir.join(TOKEN_FILE_DEFAULT),
    };
    Ok(Api {
        listen,
        token_file,
        keys_endpoint: raw.keys_endpoint.unwrap_or(false),
        metrics_public: raw.metrics_public.unwrap_or(false),
    })
}

/// `api.listen`: `IP:PORT`; the port defaults to 8053.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    socket_address(text, Some(API_LISTEN_DEFAULT.1)).map_err(|e| match e {
        AddressError::Port(port) => format!("api.listen `{text}`: {}", port_message(&port)),
        AddressError::Form => {
            format!("api.listen `{text}`: expected IP or IP:PORT, e.g. \"127.0.0.1:8053\"")
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        let text = format!("[dns]\nresolv_file = \"\"\n{text}");
        Config::parse(&text, "test.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_keys() {
        let config = Config::parse("state_dir = \"/s\"\n[api]\n", "t.toml").unwrap();
        let api = config.api.unwrap();
        assert_eq!(api.listen.to_string(), "127.0.0.1:8053");
        assert_eq!(api.token_file, std::path::Path::new("/s/api.token"));
        assert!(!api.keys_endpoint && !api.metrics_public);
        let config = parse(
            "[api]\nlisten = \"[::1]:9000\"\ntoken_file = \"/t\"\nkeys_endpoint = true\nmetrics_public = true\n",
        )
        .unwrap();
        let api = config.api.unwrap();
        assert_eq!(api.listen.to_string(), "[::1]:9000");
        assert!(api.keys_endpoint && api.metrics_public);
        assert!(parse("").unwrap().api.is_none());
    }

    #[test]
    fn errors_name_the_line() {
        let error = parse("[api]\nlisten = \"0.0.0.0:8053\"\n").unwrap_err();
        assert!(
            error.starts_with("test.toml:4:") && error.contains("token_file"),
            "{error}"
        );
        assert!(
            parse("[api]\nlisten = \"0.0.0.0:8053\"\ntoken_file = \"/t\"\n").is_ok(),
            "off loopback with a token file"
        );
        let error = parse("[api]\nlisten = \"localhost:1\"\n").unwrap_err();
        assert!(error.starts_with("test.toml:4:"), "{error}");
        let error = parse("[api]\ntoken_file = \"\"\n").unwrap_err();
        assert!(error.starts_with("test.toml:4:"), "{error}");
        let error = parse("[api]\nlisten_on = 1\n").unwrap_err();
        assert!(
            error.contains("unknown key `listen_on` in [api]"),
            "{error}"
        );
    }
}
