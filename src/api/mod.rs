//! The local API role: the JSON API under `/api/v1/`, Prometheus `/metrics` and
//! the web page at `/`, for LuCI, scripts, monitoring and a browser
//! (DESIGN.md §6), served by `crate::http` on its own thread.
//!
//! Owns the routes, the token check and the error shape
//! (`{"error": "<code>", "detail": "<a sentence>"}`); what each endpoint reads
//! or changes belongs to the role that owns it, reached through
//! [`crate::control::Control`] and [`crate::store::Shared`]. By concern: `dns`
//! (status, statistics, runtime records, cache flush), `certs` (certificates,
//! their setup records, renewals, key download), `metrics` (the text
//! exposition), `page` (the embedded HTML page and its CSP).
//!
//! Invariants: every route but the page (and `/metrics` when
//! `metrics_public`) needs `Authorization: Bearer <token>`, compared in
//! constant time, and a request refused for it changes nothing; an unknown
//! path is 404, a known one with the wrong method 405 with `Allow`; a runtime
//! record is kept in the store before it is served, and the two change
//! together or not at all.

mod certs;
pub mod client;
mod dns;
mod metrics;
mod page;

pub use dns::{add_persisted, restore};

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{self, Config};
use crate::control::{Control, ControlError};
use crate::http::{self, Request, Response};
use crate::store;

/// A request body at most: a record line or a cache name is a few hundred bytes.
const BODY_BYTES_MAX: usize = 16 * 1024;
/// Connections at most, and per client: a LuCI page, a script and a Prometheus
/// scraper at once, with room for a browser's six.
const CONNECTIONS_MAX: usize = 16;
const CONNECTIONS_PER_CLIENT_MAX: usize = 8;
/// Handler threads: requests are short (SQLite, a directory read) except the
/// setup records, which may ask the CA and the delegate.
const WORKERS_MAX: usize = 2;
/// The version prefix of every JSON route.
const PREFIX: &str = "/api/v1/";

/// What the API reports about the delegate role, when it runs.
pub struct DelegateParts {
    pub api: Arc<crate::delegate::api::Api>,
    pub server: http::Server,
}

/// Everything the handlers read, fixed at start.
pub struct Parts {
    pub control: Control,
    pub store: store::Shared,
    /// The certificates (`[[cert]]`), `[acme]` and the certs role's context
    /// for setup records (absent without `[[cert]]`).
    pub certs: Vec<config::Cert>,
    pub certs_context: Option<crate::certs::Context>,
    pub delegate: Option<DelegateParts>,
    /// Where the config came from, for `status`.
    pub config_source: String,
    /// The roles this process runs.
    pub roles: Vec<&'static str>,
}

/// The API between binding and serving: [`bind`] runs first of all (before
/// the daemon detaches), [`Prepared::new`] before privileges are dropped (the
/// token file), [`Prepared::start`] after.
pub struct Prepared {
    settings: config::Api,
    token: String,
    listener: TcpListener,
    bound: SocketAddr,
}

/// The API's socket.
pub fn bind(settings: &config::Api) -> Result<(TcpListener, SocketAddr), String> {
    http::bind(settings.listen)
        .map_err(|e| format!("api: cannot listen on {}: {e}", settings.listen))
}

impl Prepared {
    pub fn new(
        settings: &config::Api,
        (listener, bound): (TcpListener, SocketAddr),
    ) -> Result<Self, String> {
        let token = crate::secret::token_file(&settings.token_file, "api: token")?;
        Ok(Self {
            settings: settings.clone(),
            token,
            listener,
            bound,
        })
    }

    /// Serves the API on its own thread; the handle reads its HTTP counters.
    pub fn start(self, parts: Parts) -> Result<http::Server, String> {
        let api = Arc::new(Api::new(self.settings, self.token, parts));
        let handle = api.clone();
        let handler: http::Handler = Arc::new(move |request| handle.handle(request));
        let server = http::spawn(self.listener, None, limits(), handler)
            .map_err(|e| format!("cannot start the local API: {e}"))?;
        api.set_server(server.clone());
        log::info!(
            "api: http://{}/ (token in {})",
            self.bound,
            api.token_file()
        );
        Ok(server)
    }
}

/// The HTTP server's bounds for the API.
fn limits() -> http::Limits {
    http::Limits {
        connections_max: CONNECTIONS_MAX,
        connections_per_client_max: CONNECTIONS_PER_CLIENT_MAX,
        body_bytes_max: BODY_BYTES_MAX,
        workers_max: WORKERS_MAX,
        idle_timeout: Duration::from_secs(10),
        ..http::Limits::default()
    }
}

/// The handler and bounds [`Prepared::start`] serves, without a socket or a
/// token file (the fuzz targets in tests/fuzz).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn handler(
    settings: config::Api,
    token: String,
    parts: Parts,
) -> (http::Handler, http::Limits) {
    let api = Arc::new(Api::new(settings, token, parts));
    let handler: http::Handler = Arc::new(move |request| api.handle(request));
    (handler, limits())
}

/// The API's state: see [`Parts`].
pub struct Api {
    settings: config::Api,
    token: String,
    parts: Parts,
    started_unix: i64,
    /// Its own HTTP server's counters, once it serves.
    server: std::sync::OnceLock<http::Server>,
}

/// One route's answer, or the error that ends the request.
type Answer = Result<Response, Response>;

/// `{"error": code, "detail": …}` with `status`.
fn error(status: u16, code: &str, detail: impl Into<String>) -> Response {
    let body = json!({ "error": code, "detail": detail.into() });
    Response::json(status, body.to_string())
}

/// A JSON answer.
fn ok(status: u16, body: &Value) -> Answer {
    Ok(Response::json(status, body.to_string()))
}

/// The request's body as a JSON object; an empty body is an empty object.
fn body_object(request: &Request) -> Result<serde_json::Map<String, Value>, Response> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(error(400, "bad_json", "the body must be a JSON object")),
        Err(e) => Err(error(400, "bad_json", format!("the body is not JSON: {e}"))),
    }
}

/// A control refusal as an HTTP answer.
fn control_error(e: ControlError) -> Response {
    match e {
        ControlError::Invalid(detail) => error(400, "invalid", detail),
        ControlError::NotFound => error(404, "not_found", e.to_string()),
        ControlError::RoleOff(_) => error(409, "role_off", e.to_string()),
        ControlError::Full(_) => error(409, "full", e.to_string()),
        ControlError::NoCache => error(409, "no_cache", e.to_string()),
        ControlError::Store(detail) => {
            log::error!("api: {detail}");
            error(500, "store_error", detail)
        }
    }
}

/// The routes: what a path is, and the methods it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'p> {
    Page,
    Metrics,
    Status,
    DnsStats,
    Records,
    Record(&'p str),
    CacheFlush,
    Certs,
    Cert(&'p str),
    CertSetup(&'p str),
    CertRenew(&'p str),
    Delegate,
    Keys(&'p str),
}

impl<'p> Route<'p> {
    fn find(path: &'p str) -> Option<Self> {
        match path {
            "/" | "/index.html" => return Some(Route::Page),
            "/metrics" => return Some(Route::Metrics),
            _ => {}
        }
        let rest = path.strip_prefix(PREFIX)?;
        let segments: Vec<&str> = rest.split('/').collect();
        let named = |name: &'p str| !name.is_empty();
        Some(match segments.as_slice() {
            ["status"] => Route::Status,
            ["dns", "stats"] => Route::DnsStats,
            ["dns", "records"] => Route::Records,
            ["dns", "records", id] if named(id) => Route::Record(id),
            ["dns", "cache", "flush"] => Route::CacheFlush,
            ["certs"] => Route::Certs,
            ["certs", name] if named(name) => Route::Cert(name),
            ["certs", name, "setup"] if named(name) => Route::CertSetup(name),
            ["certs", name, "renew"] if named(name) => Route::CertRenew(name),
            ["delegate"] => Route::Delegate,
            ["keys", name] if named(name) => Route::Keys(name),
            _ => return None,
        })
    }

    /// The methods the route takes (HEAD wherever GET is).
    fn methods(self) -> &'static [&'static str] {
        match self {
            Route::Records => &["GET", "HEAD", "POST"],
            Route::Record(_) => &["DELETE"],
            Route::CacheFlush | Route::CertRenew(_) => &["POST"],
            _ => &["GET", "HEAD"],
        }
    }
}

impl Api {
    fn new(settings: config::Api, token: String, parts: Parts) -> Self {
        Self {
            settings,
            token,
            parts,
            started_unix: crate::certs::now(),
            server: std::sync::OnceLock::new(),
        }
    }

    fn set_server(&self, server: http::Server) {
        let _ = self.server.set(server);
    }

    fn token_file(&self) -> String {
        self.settings.token_file.display().to_string()
    }

    pub fn handle(&self, request: &Request) -> Response {
        let path = request.path.as_str();
        let Some(route) = Route::find(path) else {
            return error(404, "not_found", format!("no route {path}"));
        };
        let methods = route.methods();
        if !methods.contains(&request.method.as_str()) {
            let mut response = error(
                405,
                "method_not_allowed",
                format!("{path} takes {}", methods.join(", ")),
            );
            response.headers.push(("Allow", methods.join(", ")));
            return response;
        }
        let public =
            route == Route::Page || (route == Route::Metrics && self.settings.metrics_public);
        if !public && !crate::secret::bearer_matches(request.header("authorization"), &self.token) {
            let mut response = error(
                401,
                "unauthorized",
                "this needs Authorization: Bearer <the token in the API's token_file>",
            );
            response
                .headers
                .push(("WWW-Authenticate", "Bearer realm=\"lanseal\"".to_string()));
            return response;
        }
        let answer = match route {
            Route::Page => Ok(page::response()),
            Route::Metrics => Ok(self.metrics()),
            Route::Status => self.status(),
            Route::DnsStats => self.dns_stats(),
            Route::Records if request.method == "POST" => self.add_record(request),
            Route::Records => self.records(),
            Route::Record(id) => self.delete_record(id),
            Route::CacheFlush => self.flush(request),
            Route::Certs => self.certs(),
            Route::Cert(name) => self.cert(name),
            Route::CertSetup(name) => self.cert_setup(name),
            Route::CertRenew(name) => self.cert_renew(name),
            Route::Delegate => self.delegate(),
            Route::Keys(name) => self.keys(name, request),
        };
        let mut response = answer.unwrap_or_else(|refusal| refusal);
        // Nothing the API answers may be kept by a cache on the way.
        response
            .headers
            .push(("Cache-Control", "no-store".to_string()));
        response
    }

    /// The connections and limits of every HTTP server in the process.
    fn http_servers(&self) -> Vec<(&'static str, &http::Counters)> {
        let mut servers = Vec::new();
        if let Some(server) = self.server.get() {
            servers.push(("api", server.counters()));
        }
        if let Some(delegate) = &self.parts.delegate {
            servers.push(("delegate", delegate.server.counters()));
        }
        servers
    }
}

/// The roles `config` switches on, in a stable order.
pub fn roles(config: &Config) -> Vec<&'static str> {
    let mut roles = vec!["dns"];
    if !config.certs.is_empty() {
        roles.push("certs");
    }
    if config.api.is_some() {
        roles.push("api");
    }
    if config.delegate.is_some() {
        roles.push("delegate");
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::find("/"), Some(Route::Page));
        assert_eq!(
            Route::find("/api/v1/dns/records/7"),
            Some(Route::Record("7"))
        );
        assert_eq!(
            Route::find("/api/v1/certs/router/setup"),
            Some(Route::CertSetup("router"))
        );
        for unknown in [
            "/api/v1/",
            "/api/v1/dns/records/",
            "/api/v2/status",
            "/x",
            "",
        ] {
            assert_eq!(Route::find(unknown), None, "{unknown}");
        }
        assert_eq!(Route::Record("1").methods(), ["DELETE"]);
    }
}
