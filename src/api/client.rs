//! The local API from this host's command line: `lanseal api METHOD PATH`
//! (what OpenWrt's rpcd plugin calls), and `lanseal certs status|renew` when
//! a daemon runs. Reads `[api] listen` and `token_file` from the same config
//! the daemon runs, and sends the token.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hyper::http::Method;
use serde_json::Value;

use crate::certs::http::Client;
use crate::config::Config;

/// How long the command line waits to connect to the local API (it is on this
/// host; a daemon that does not accept within this is not used).
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long it waits for an answer: `certs/{name}/setup` may first create the
/// ACME account and register at the delegate, each a round trip to the
/// internet (rpcd's LuCI calls go through here).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// A request body read from standard input at most (the API's own bound).
pub const BODY_BYTES_MAX: usize = super::BODY_BYTES_MAX;

/// The running daemon's local API, as the config names it.
pub struct LocalApi {
    /// `http://ADDRESS` (no trailing slash).
    origin: String,
    token: String,
    client: Client,
}

impl LocalApi {
    /// `None` without `[api]`, without its token file (then no daemon with
    /// this config has served the API yet), or when nothing listens there (no
    /// daemon runs).
    pub fn of(config: &Config) -> Option<Self> {
        Self::reach(config).ok()
    }

    /// [`LocalApi::of`], saying why not.
    pub fn reach(config: &Config) -> Result<Self, String> {
        let Some(settings) = config.api.as_ref() else {
            return Err(format!("{} has no [api] section", config.source));
        };
        let file = &settings.token_file;
        let token = std::fs::read_to_string(file).map_err(|e| {
            format!(
                "the API's token {}: {e} (has the daemon run yet?)",
                file.display()
            )
        })?;
        let address = reachable(settings.listen);
        std::net::TcpStream::connect_timeout(&address, TIMEOUT)
            .map_err(|e| format!("no lanseal daemon answers on {address}: {e}"))?;
        let client = Client::new(None).map_err(|e| e.to_string())?;
        Ok(Self {
            origin: format!("http://{address}"),
            token: token.trim().to_string(),
            client: client.with_timeouts(TIMEOUT, ANSWER_TIMEOUT),
        })
    }

    /// One request: `path` under `/api/v1/` unless it starts with `/`. The
    /// status and the body, whatever the status.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>), String> {
        let url = match path.strip_prefix('/') {
            Some(_) => format!("{}{path}", self.origin),
            None => format!("{}{}{path}", self.origin, super::PREFIX),
        };
        let authorization = format!("Bearer {}", self.token);
        let headers = [("Authorization", authorization.as_str())];
        let response = self.client.json(method, &url, &headers, body).await;
        let response = response.map_err(|e| format!("the local API: {e}"))?;
        Ok((response.status, response.body))
    }

    /// The JSON answer of `path`; an answer that is an error is an error, with
    /// the API's own detail.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let (status, body) = self.request(method, path, body).await?;
        let value: Value = serde_json::from_slice(&body).unwrap_or_default();
        if !(200..300).contains(&status) {
            let detail = value.get("detail").and_then(Value::as_str);
            return Err(format!("{path}: {status} {}", detail.unwrap_or_default()));
        }
        Ok(value)
    }
}

/// A daemon listening on every address is reached on loopback.
fn reachable(mut address: SocketAddr) -> SocketAddr {
    if address.ip().is_unspecified() {
        let loopback = match address {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        address.set_ip(loopback);
    }
    address
}

/// `lanseal api METHOD PATH [BODY]`: the response body on stdout; Ok(true) for
/// a 2xx. `body` is JSON text, or `-` for standard input.
pub fn command(
    config: &Config,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(Vec<u8>, bool), String> {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{method}` is not an HTTP method"))?;
    let body = match body {
        None => None,
        Some("-") => {
            use std::io::Read as _;
            let mut text = Vec::new();
            let limit = u64::try_from(BODY_BYTES_MAX).unwrap_or(u64::MAX) + 1;
            std::io::stdin()
                .take(limit)
                .read_to_end(&mut text)
                .map_err(|e| format!("standard input: {e}"))?;
            Some(text)
        }
        Some(text) => Some(text.as_bytes().to_vec()),
    };
    let body = match body {
        None => None,
        Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
        Some(bytes) => Some(
            serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| format!("the body is not JSON: {e}"))?,
        ),
    };
    let api = LocalApi::reach(config)?;
    let runtime = crate::certs::runtime()?;
    let (status, answer) = runtime.block_on(api.request(method, path, body.as_ref()))?;
    Ok((answer, (200..300).contains(&status)))
}
