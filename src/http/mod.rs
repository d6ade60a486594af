//! A small, bounded HTTP/1.1 server (plain or TLS) on hyper's HTTP/1 connection,
//! for the delegate API and the local JSON API: [`bind`], [`spawn`], a
//! [`CertificateSlot`] for TLS, and the [`Request`]/[`Response`] values a
//! [`Handler`] maps between.
//!
//! Owns the listening socket, the connections, TLS termination and every bound
//! on them; hyper owns the HTTP framing; the application owns everything a
//! request means. By concern:
//!
//! - `server` — the thread ("http", a `current_thread` tokio runtime), the accept
//!   loop and the handler's bounded blocking pool (`workers_max` threads, niced
//!   below the DNS threads so bcrypt and SQLite never delay an answer).
//! - `slots` — the table of open connections: the total bound, the per-client cap
//!   and the eviction of the oldest idle connection.
//! - `connection` — one connection on hyper: its settings, the service that
//!   reads a request whole and runs the handler, header and body bounds, the
//!   lingering close.
//! - `watch` — one connection's phase (idle, reading, handling, writing): the
//!   slot marked idle or busy, the idle and request timeouts.
//! - `tls` — the rustls server config whose certificate can be replaced while it
//!   serves ([`CertificateSlot::replace`]).
//! - `limits` — [`Limits`], and the counters of every limit hit ([`Counters`],
//!   [`LimitCounter`]).
//!
//! Invariants: no panic on any input (and no hyper setting built from a config
//! value that could assert); every request is read whole (head, then its
//! `Content-Length` or chunked body, within `body_bytes_max`) before the handler
//! sees it; a connection with a framing error is answered and closed, never
//! reused; one request per connection at a time (pipelined bytes wait in the
//! buffer); every limit hit is counted and logged at most once per
//! `LIMIT_LOG_INTERVAL_SECS`.

mod connection;
mod limits;
mod server;
mod slots;
mod tls;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

pub use limits::{Counters, LimitCounter, Limits};
pub use server::{Server, bind, spawn};
pub use tls::{CertificateError, CertificateSlot, load_or_stand_in, load_tls};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The target without the query string; not percent-decoded.
    pub path: String,
    pub query: String,
    /// Every header line, names in lower case; a repeated name stays repeated,
    /// its lines in the order received (hyper's header map groups the lines of
    /// one name: lines of different names keep the order of each name's first).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// IPv4-mapped IPv6 peers (dual-stack `[::]`) are given as IPv4.
    pub peer: SocketAddr,
}

impl Request {
    /// Case-insensitive header lookup (first match).
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut headers = self.headers.iter();
        let found = headers.find(|(other, _)| other.eq_ignore_ascii_case(name));
        found.map(|(_, value)| value.as_str())
    }

    /// The values of every line of header `name` (case-insensitive), in order.
    pub fn header_lines<'r>(&'r self, name: &'r str) -> impl DoubleEndedIterator<Item = &'r str> {
        let lines = self.headers.iter();
        let named = lines.filter(move |(other, _)| other.eq_ignore_ascii_case(name));
        named.map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra headers; one whose value holds CR or LF is dropped, not sent.
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::with(status, "application/json", body.into())
    }

    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::with(status, "text/plain; charset=utf-8", body.into())
    }

    /// The acme-dns error shape: `{"error": "<code>"}`.
    pub fn error(status: u16, code: &str) -> Response {
        Response::json(status, format!("{{\"error\": \"{code}\"}}"))
    }

    /// Any content type (an embedded HTML page, Prometheus text).
    pub fn with(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        let headers = Vec::new();
        Response {
            status,
            content_type,
            body,
            headers,
        }
    }
}

/// The application: called on a blocking worker (the handler may take tens of ms:
/// bcrypt, SQLite).
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Serves one connection over `stream` as [`spawn`]'s accept loop does (a slot
/// in a table of its own, the watch phases, hyper, the handler), until it
/// closes: the fuzz targets in tests/fuzz feed it bytes through an in-memory
/// stream.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) async fn serve_stream(
    stream: tokio::io::DuplexStream,
    peer: SocketAddr,
    limits: &Limits,
    handler: Handler,
) {
    let slots = slots::Slots::new(limits, Arc::new(Counters::default()));
    let Some(slot) = slots.admit(peer.ip()) else {
        return;
    };
    connection::serve(Box::new(stream), peer, limits, handler, slot).await;
}
