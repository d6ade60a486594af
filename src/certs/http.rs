//! The certs role's one HTTP client: HTTP/1.1 (hyper's connection API) over plain
//! TCP for `http://` and over rustls on ring for `https://`, for the ACME CA
//! (instant-acme's transport, through [`instant_acme::HttpClient`]) and the
//! acme-dns delegate API.
//!
//! Owns parsing the URL (strictly: `http` or `https`, a host name, IPv4 or
//! `[IPv6]` address, an optional port, the path and query; no user info), one
//! connection per request (`Connection: close`: ACME is a handful of requests a
//! day, so a pool would only hold sockets), and the trust anchors (the bundled
//! webpki roots plus the configured `ca_bundle`, read by [`crate::dns::dot::roots`]).
//! The certificate is checked for the URL's host: a name is sent as SNI; an IP
//! address is not sent (RFC 6066) but must be in the certificate's IP SANs.
//!
//! Never follows redirects (a 3xx is returned as it is: ACME and acme-dns never
//! redirect, and following one would send credentials elsewhere), never uses a
//! proxy from the environment, never reads a response past its bounds.
//!
//! Bounds: name resolution, connect and TLS handshake within
//! [`CONNECT_TIMEOUT`]; the whole exchange within [`REQUEST_TIMEOUT`]; response
//! head at most [`RESPONSE_HEAD_BYTES_MAX`], body at most
//! [`RESPONSE_BODY_BYTES_MAX`]; URLs at most [`URL_BYTES_MAX`]. Each bound hit is
//! counted in [`BOUNDS_HIT`]. The timeouts need a tokio runtime with time enabled.

use std::fmt;
use std::future::{Future, poll_fn};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::Poll;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes};
use hyper::http::{self as http_types, HeaderMap, HeaderValue, Method};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Name resolution, TCP connect and TLS handshake together: a CA or delegate that
/// does not complete a handshake in this long is down, not slow.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole exchange, connect included. ACME servers answer in well under a
/// second; finalization can take a few (the CA signs), never this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read: a certificate chain is a few KB, an ACME directory
/// or acme-dns answer under 2 KB.
pub const RESPONSE_BODY_BYTES_MAX: usize = 1 << 20;
/// Largest response head (status line and header fields) hyper buffers; hyper's
/// own floor is 8 KiB.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 64 << 10;
/// Longest URL taken: ACME URLs are under 200 characters.
pub const URL_BYTES_MAX: usize = 2048;
const _: () = assert!(CONNECT_TIMEOUT.as_millis() < REQUEST_TIMEOUT.as_millis());
const _: () = assert!(RESPONSE_HEAD_BYTES_MAX >= 8192);

/// Sent on every request: some CAs require a User-Agent (RFC 8555 §6.1).
const USER_AGENT: &str = concat!("lanseal/", env!("CARGO_PKG_VERSION"));

/// Times each bound was hit, for the whole process (rare events: shared atomics).
#[derive(Debug)]
pub struct BoundsHit {
    /// Exchanges that did not connect (resolve, TCP, TLS) within the connect timeout.
    pub connect_timeouts: AtomicUsize,
    /// Exchanges that did not complete within the request timeout.
    pub request_timeouts: AtomicUsize,
    /// Responses whose head or body was over its byte bound.
    pub responses_too_large: AtomicUsize,
}

/// This client's bound counters (for the certs role's status and metrics).
pub static BOUNDS_HIT: BoundsHit = BoundsHit {
    connect_timeouts: AtomicUsize::new(0),
    request_timeouts: AtomicUsize::new(0),
    responses_too_large: AtomicUsize::new(0),
};

/// What went wrong, as one line: `METHOD URL: what` for a request, or what is
/// wrong with the trust anchors for [`Client::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError(pub String);

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// A complete response: the body read whole (within [`RESPONSE_BODY_BYTES_MAX`]).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The HTTP client; cheap to clone (the TLS configuration is shared).
#[derive(Clone)]
pub struct Client {
    tls: Arc<ClientConfig>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client trusting the bundled webpki roots plus every certificate in
    /// `extra_roots_pem` (the config's `ca_bundle`). Err names the file and what is
    /// wrong with it.
    pub fn new(extra_roots_pem: Option<&Path>) -> Result<Self, HttpError> {
        let roots = crate::dns::dot::roots(extra_roots_pem).map_err(HttpError)?;
        // The provider is named, not the process default (as in dns::dot).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: Arc::new(config),
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        })
    }

    /// The same client with other timeouts (tests; a caller with a tighter budget).
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.send(Method::GET, url, HeaderMap::new(), Bytes::new())
            .await
    }

    /// POSTs `body` as JSON (`Content-Type: application/json`) with extra `headers`.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<Response, HttpError> {
        self.json(Method::POST, url, headers, Some(body)).await
    }

    /// A request with extra `headers` that accepts JSON, and sends `body` as
    /// JSON when given (the local API's client: `lanseal certs` asking the
    /// running daemon).
    pub async fn json(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, HttpError> {
        let fail = |what: String| HttpError(format!("{method} {url}: {what}"));
        let mut map = HeaderMap::new();
        let json = HeaderValue::from_static("application/json");
        if body.is_some() {
            map.insert(http_types::header::CONTENT_TYPE, json.clone());
        }
        map.insert(http_types::header::ACCEPT, json);
        for (name, value) in headers {
            let name = http_types::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| fail(format!("bad header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| fail(format!("bad value for header {name}")))?;
            map.insert(name, value);
        }
        let body = match body {
            Some(body) => serde_json::to_vec(body).map_err(|e| fail(format!("JSON body: {e}")))?,
            None => Vec::new(),
        };
        self.send(method, url, map, Bytes::from(body)).await
    }

    /// One exchange on a new connection, within the request timeout.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response, HttpError> {
        let fail = |what: String| HttpError(format!("{method} {url}: {what}"));
        let target = Url::parse(url).map_err(|e| fail(e.to_string()))?;
        let request = build_request(&method, &target, headers, body).map_err(fail)?;
        let exchange = self.exchange(&target, request);
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(result) => result.map_err(fail),
            Err(_) => {
                BOUNDS_HIT.request_timeouts.fetch_add(1, Relaxed);
                let timeout = self.request_timeout;
                Err(fail(format!("no complete response within {timeout:?}")))
            }
        }
    }

    async fn exchange(
        &self,
        target: &Url,
        request: http_types::Request<Full<Bytes>>,
    ) -> Result<Response, String> {
        let connect = async {
            let tcp = match &target.host {
                // Resolved by the system (tokio's blocking pool).
                Host::Name(name) => TcpStream::connect((name.as_str(), target.port)).await,
                Host::V4(address) => TcpStream::connect((*address, target.port)).await,
                Host::V6(address) => TcpStream::connect((*address, target.port)).await,
            };
            let tcp = tcp.map_err(|e| format!("cannot connect: {e}"))?;
            // A request goes out in one or two writes; Nagle would only delay it.
            tcp.set_nodelay(true)
                .map_err(|e| format!("cannot connect: {e}"))?;
            if !target.secure {
                return Ok(Stream::Plain(tcp));
            }
            let connector = TlsConnector::from(Arc::clone(&self.tls));
            let tls = connector.connect(target.server_name.clone(), tcp).await;
            tls.map(|tls| Stream::Tls(Box::new(tls)))
                .map_err(|e| format!("TLS handshake: {e}"))
        };
        let stream = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(stream) => stream?,
            Err(_) => {
                BOUNDS_HIT.connect_timeouts.fetch_add(1, Relaxed);
                let timeout = self.connect_timeout;
                return Err(format!("not connected within {timeout:?}"));
            }
        };
        match stream {
            Stream::Plain(tcp) => exchange_on(tcp, request).await,
            Stream::Tls(tls) => exchange_on(*tls, request).await,
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The request in origin form with `Host`, `User-Agent` and `Connection: close`
/// added (a caller's own `User-Agent` is kept).
fn build_request(
    method: &Method,
    target: &Url,
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<http_types::Request<Full<Bytes>>, String> {
    use http_types::header;
    let host = HeaderValue::from_str(&target.authority).map_err(|e| format!("Host: {e}"))?;
    headers.insert(header::HOST, host);
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if !headers.contains_key(header::USER_AGENT) {
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    }
    let mut request = http_types::Request::builder()
        .method(method.clone())
        .uri(&target.path_and_query)
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Sends `request` on `io` and reads the response whole, driving the connection
/// in the same future (no spawned task: dropping this future, e.g. on timeout,
/// closes the socket).
async fn exchange_on<S>(
    io: S,
    request: http_types::Request<Full<Bytes>>,
) -> Result<Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(RESPONSE_HEAD_BYTES_MAX)
        .handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP/1.1 setup: {e}"))?;
    let exchange = async move {
        let response = sender.send_request(request).await.map_err(describe)?;
        let (parts, body) = response.into_parts();
        let body = read_bounded(body).await?;
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    };
    let mut connection = pin!(connection);
    let mut exchange = pin!(exchange);
    let mut connection_done = false;
    poll_fn(|context| {
        if !connection_done && let Poll::Ready(result) = connection.as_mut().poll(context) {
            connection_done = true;
            // An error here also fails the exchange, which says more; a clean
            // close lets a complete response still be read.
            if let Err(e) = result {
                log::debug!("HTTP connection: {e}");
            }
        }
        exchange.as_mut().poll(context)
    })
    .await
}

/// hyper's error with its cause (e.g. "message head is too large").
fn describe(error: hyper::Error) -> String {
    // hyper's `is_parse_too_large` exists only with its server feature; its
    // message for that case is "message head is too large".
    if error.is_parse() && error.to_string().contains("too large") {
        BOUNDS_HIT.responses_too_large.fetch_add(1, Relaxed);
        return format!("response head over {RESPONSE_HEAD_BYTES_MAX} bytes");
    }
    match std::error::Error::source(&error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// The body, refused as soon as it passes [`RESPONSE_BODY_BYTES_MAX`].
async fn read_bounded(body: hyper::body::Incoming) -> Result<Vec<u8>, String> {
    let too_large = || {
        BOUNDS_HIT.responses_too_large.fetch_add(1, Relaxed);
        format!("response body over {RESPONSE_BODY_BYTES_MAX} bytes")
    };
    if body.size_hint().lower() > RESPONSE_BODY_BYTES_MAX as u64 {
        return Err(too_large());
    }
    let mut body = pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the body: {}", describe(e)))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > RESPONSE_BODY_BYTES_MAX {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

impl instant_acme::HttpClient for Client {
    fn request(
        &self,
        request: http_types::Request<instant_acme::BodyWrapper<Bytes>>,
    ) -> Pin<
        Box<dyn Future<Output = Result<instant_acme::BytesResponse, instant_acme::Error>> + Send>,
    > {
        let client = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = parts.uri.to_string();
            // BodyWrapper<Bytes> is one in-memory frame; its error type is Infallible.
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let response = client.send(parts.method, &url, parts.headers, body).await;
            let response = response.map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let mut built = http_types::Response::new(Full::new(Bytes::from(response.body)));
            *built.status_mut() = http_types::StatusCode::from_u16(response.status)
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            *built.headers_mut() = response.headers;
            Ok(instant_acme::BytesResponse::from(built))
        })
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad URL: {}", self.0)
    }
}

/// The host part of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// A URL this client can fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https`.
    pub secure: bool,
    pub host: Host,
    pub port: u16,
    /// The `Host` header: the host as written (IPv6 in brackets), the port only if
    /// not the scheme's default.
    pub authority: String,
    /// Path and query, `/` when the URL has none; the fragment dropped.
    pub path_and_query: String,
    /// The name the certificate must carry: a DNS name (sent as SNI) or an IP
    /// address (not sent; checked against the IP SANs).
    server_name: ServerName<'static>,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let bad = |what: &str| Err(UrlError(format!("{text:?}: {what}")));
        if text.len() > URL_BYTES_MAX {
            return Err(UrlError(format!("over {URL_BYTES_MAX} bytes")));
        }
        // Visible ASCII only: no spaces, controls or raw non-ASCII (which must be
        // percent-encoded) that would make the request line ambiguous.
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return bad("a space, control or non-ASCII character");
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return bad("expected http://HOST/... or https://HOST/...");
        };
        let (secure, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (false, 80),
            "https" => (true, 443),
            _ => return bad("the scheme is neither http nor https"),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return bad("user info in a URL is not supported");
        }
        let (host, port) = match split_host_port(authority) {
            Ok(parts) => parts,
            Err(what) => return bad(&what),
        };
        let port = match port {
            None => default_port,
            Some(digits) => match digits.parse::<u16>() {
                Ok(port) if port != 0 && digits.bytes().all(|b| b.is_ascii_digit()) => port,
                _ => return bad("the port is not a number from 1 to 65535"),
            },
        };
        let host = match parse_host(host) {
            Ok(host) => host,
            Err(what) => return bad(&what),
        };
        let (host_text, server_name) = match &host {
            Host::Name(name) => match ServerName::try_from(name.clone()) {
                Ok(server_name) => (name.clone(), server_name),
                Err(_) => return bad("the host is not a valid TLS server name"),
            },
            Host::V4(address) => (address.to_string(), IpAddr::V4(*address).into()),
            Host::V6(address) => (format!("[{address}]"), IpAddr::V6(*address).into()),
        };
        let authority = if port == default_port {
            host_text
        } else {
            format!("{host_text}:{port}")
        };
        let path_and_query = match path.strip_prefix('?') {
            Some(_) => format!("/{path}"),
            None if path.is_empty() => "/".to_string(),
            None => path.to_string(),
        };
        Ok(Url {
            secure,
            host,
            port,
            authority,
            path_and_query,
            server_name,
        })
    }
}

/// `host[:port]` or `[v6][:port]` into the host text (brackets kept) and the port
/// digits.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err("an IPv6 address without its closing ]".into());
        };
        // '[' and ']' are one byte each.
        let host = &authority[..inside.len() + 2];
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("junk after the IPv6 address".into()),
            },
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// A host name (lower-cased), a dotted-quad IPv4 address, or `[IPv6]`.
fn parse_host(text: &str) -> Result<Host, String> {
    if let Some(inside) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inside
            .parse::<Ipv6Addr>()
            .map(Host::V6)
            .map_err(|_| format!("[{inside}] is not an IPv6 address"));
    }
    if text.is_empty() {
        return Err("no host".into());
    }
    if let Ok(address) = text.parse::<Ipv4Addr>() {
        return Ok(Host::V4(address));
    }
    // All digits and dots but not an address (e.g. 1.2.3 or 256.1.1.1): refused
    // rather than resolved as a name, as browsers do.
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{text} is not an IPv4 address"));
    }
    if !valid_host_name(text) {
        return Err(format!("{text} is not a host name"));
    }
    Ok(Host::Name(text.to_ascii_lowercase()))
}

/// Labels of 1–63 letters, digits, `-` and `_` (not starting or ending with
/// `-`), dot-separated, 253 bytes at most; no trailing dot.
fn valid_host_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Reads one request (head, then a Content-Length body) and returns it as text.
    async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> String {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed before the end of the head");
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buffer.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(buffer).unwrap()
    }

    /// A plain HTTP server on 127.0.0.1 answering one request with `response`
    /// (the request text is sent on the returned channel).
    async fn serve_once(response: Vec<u8>) -> (u16, tokio::sync::oneshot::Receiver<String>) {
        serve_once_on("127.0.0.1:0", response).await
    }

    async fn serve_once_on(
        address: &str,
        response: Vec<u8>,
    ) -> (u16, tokio::sync::oneshot::Receiver<String>) {
        let listener = TcpListener::bind(address).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let request = read_request(&mut stream).await;
            let _ = tx.send(request);
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        });
        (port, rx)
    }

    fn ok(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Test: yes\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn get_sends_host_path_and_reads_the_response() {
        runtime().block_on(async {
            let (port, request) = serve_once(ok("hello")).await;
            let client = Client::new(None).unwrap();
            let url = format!("http://127.0.0.1:{port}/a/b?c=d#fragment");
            let response = client.get(&url).await.unwrap();
            assert_eq!(response.status, 200);
            assert_eq!(response.body, b"hello");
            assert_eq!(response.headers["x-test"], "yes");
            let request = request.await.unwrap();
            assert!(
                request.starts_with("GET /a/b?c=d HTTP/1.1\r\n"),
                "{request}"
            );
            let lower = request.to_ascii_lowercase();
            assert!(
                lower.contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")),
                "{request}"
            );
            assert!(lower.contains("\r\nconnection: close\r\n"), "{request}");
            assert!(lower.contains("\r\nuser-agent: lanseal/"), "{request}");
        });
    }

    #[test]
    fn get_over_ipv6_brackets_the_host_header() {
        runtime().block_on(async {
            let (port, request) = serve_once_on("[::1]:0", ok("six")).await;
            let client = Client::new(None).unwrap();
            let response = client
                .get(&format!("http://[::1]:{port}/v6"))
                .await
                .unwrap();
            assert_eq!(response.body, b"six");
            let request = request.await.unwrap().to_ascii_lowercase();
            assert!(
                request.contains(&format!("\r\nhost: [::1]:{port}\r\n")),
                "{request}"
            );
        });
    }

    #[test]
    fn post_json_sends_headers_and_body() {
        runtime().block_on(async {
            let (port, request) = serve_once(ok("{}")).await;
            let client = Client::new(None).unwrap();
            let url = format!("http://127.0.0.1:{port}/update");
            let body = serde_json::json!({"subdomain": "s", "txt": "t"});
            let headers = [("X-Api-User", "user"), ("X-Api-Key", "key")];
            let response = client.post_json(&url, &headers, &body).await.unwrap();
            assert_eq!((response.status, &response.body[..]), (200, &b"{}"[..]));
            let request = request.await.unwrap();
            let (head, sent) = request.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("POST /update HTTP/1.1\r\n"), "{head}");
            let lower = head.to_ascii_lowercase();
            for line in [
                "content-type: application/json",
                "x-api-user: user",
                "x-api-key: key",
                &format!("content-length: {}", sent.len()),
            ] {
                assert!(lower.contains(&format!("\r\n{line}")), "{line} in {head}");
            }
            let sent: serde_json::Value = serde_json::from_str(sent).unwrap();
            assert_eq!(sent, body);
            let bad = client.post_json(&url, &[("Bad Name", "x")], &body).await;
            assert!(bad.unwrap_err().0.contains("bad header name"));
        });
    }

    #[test]
    fn redirects_are_returned_not_followed() {
        runtime().block_on(async {
            let redirect =
                b"HTTP/1.1 302 Found\r\nLocation: http://192.0.2.1/\r\nContent-Length: 0\r\n\r\n";
            let (port, _request) = serve_once(redirect.to_vec()).await;
            let client = Client::new(None).unwrap();
            let response = client
                .get(&format!("http://127.0.0.1:{port}/"))
                .await
                .unwrap();
            assert_eq!(response.status, 302);
            assert_eq!(response.headers["location"], "http://192.0.2.1/");
        });
    }

    #[test]
    fn bodies_over_the_bound_are_refused() {
        runtime().block_on(async {
            let client = Client::new(None).unwrap();
            // Announced by Content-Length: refused before reading.
            let announced = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                RESPONSE_BODY_BYTES_MAX + 1
            );
            let (port, _request) = serve_once(announced.into_bytes()).await;
            let url = format!("http://127.0.0.1:{port}/");
            let error = client.get(&url).await.unwrap_err();
            assert_eq!(
                error.0,
                format!("GET {url}: response body over {RESPONSE_BODY_BYTES_MAX} bytes")
            );
            // Chunked, without a length: refused once the bound is passed.
            let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let chunk = vec![b'x'; 64 << 10];
            for _ in 0..(RESPONSE_BODY_BYTES_MAX / chunk.len() + 1) {
                chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                chunked.extend_from_slice(&chunk);
                chunked.extend_from_slice(b"\r\n");
            }
            chunked.extend_from_slice(b"0\r\n\r\n");
            let before = BOUNDS_HIT.responses_too_large.load(Relaxed);
            let (port, _request) = serve_once(chunked).await;
            let error = client
                .get(&format!("http://127.0.0.1:{port}/"))
                .await
                .unwrap_err();
            assert!(
                error.0.ends_with("response body over 1048576 bytes"),
                "{error}"
            );
            assert!(BOUNDS_HIT.responses_too_large.load(Relaxed) > before);
            // Exactly at the bound: read whole.
            let body = "y".repeat(RESPONSE_BODY_BYTES_MAX);
            let (port, _request) = serve_once(ok(&body)).await;
            let response = client
                .get(&format!("http://127.0.0.1:{port}/"))
                .await
                .unwrap();
            assert_eq!(response.body.len(), RESPONSE_BODY_BYTES_MAX);
            // A head over its bound.
            let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
            for n in 0..(RESPONSE_HEAD_BYTES_MAX / 64 + 1) {
                huge.extend_from_slice(
                    format!("X-Filler-{n:05}: {}\r\n", "z".repeat(48)).as_bytes(),
                );
            }
            huge.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            let (port, _request) = serve_once(huge).await;
            let error = client
                .get(&format!("http://127.0.0.1:{port}/"))
                .await
                .unwrap_err();
            assert!(error.0.contains("response head over"), "{error}");
        });
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        runtime().block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            // Accepts and holds every connection open without a byte back.
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((stream, _)) = listener.accept().await {
                    held.push(stream);
                }
            });
            // Generous connect bounds: a loopback connect is instant even on a
            // loaded machine, so only the bound under test is hit.
            let client = Client::new(None)
                .unwrap()
                .with_timeouts(Duration::from_secs(3), Duration::from_secs(4));
            let before = BOUNDS_HIT.request_timeouts.load(Relaxed);
            let url = format!("http://127.0.0.1:{port}/");
            let error = client.get(&url).await.unwrap_err();
            assert_eq!(
                error.0,
                format!("GET {url}: no complete response within 4s")
            );
            assert_eq!(BOUNDS_HIT.request_timeouts.load(Relaxed), before + 1);
            // Over TLS the handshake never completes: the connect bound.
            let client = client.with_timeouts(Duration::from_secs(1), Duration::from_secs(4));
            let before = BOUNDS_HIT.connect_timeouts.load(Relaxed);
            let url = format!("https://127.0.0.1:{port}/");
            let error = client.get(&url).await.unwrap_err();
            assert_eq!(error.0, format!("GET {url}: not connected within 1s"));
            assert_eq!(BOUNDS_HIT.connect_timeouts.load(Relaxed), before + 1);
        });
    }

    #[test]
    fn connection_refused_is_a_clear_error() {
        runtime().block_on(async {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let client = Client::new(None).unwrap();
            let url = format!("http://127.0.0.1:{port}/");
            let error = client.get(&url).await.unwrap_err();
            assert!(
                error.0.starts_with(&format!("GET {url}: cannot connect: ")),
                "{error}"
            );
        });
    }

    /// A CA and a server certificate for `names`, as (CA PEM, server config).
    fn tls_server(names: &[&str]) -> (String, Arc<rustls::ServerConfig>) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "lanseal http unit test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, &ca_key);
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key_der)
            .unwrap();
        (ca.pem(), Arc::new(config))
    }

    /// An HTTPS server on 127.0.0.1 answering every request with "secure" (and
    /// the SNI it saw, if any, in `X-Sni`).
    async fn serve_tls(config: Arc<rustls::ServerConfig>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    continue;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("none").to_string();
                read_request(&mut tls).await;
                let response =
                    format!("HTTP/1.1 200 OK\r\nX-Sni: {sni}\r\nContent-Length: 6\r\n\r\nsecure");
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        port
    }

    #[test]
    fn https_verifies_against_the_extra_roots() {
        let dir = std::env::temp_dir().join(format!("lanseal-http-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_pem, config) = tls_server(&["127.0.0.1", "localhost"]);
        let bundle = dir.join("ca.pem");
        std::fs::write(&bundle, &ca_pem).unwrap();
        runtime().block_on(async {
            let port = serve_tls(config).await;
            let trusted = Client::new(Some(&bundle)).unwrap();
            // An IP: no SNI sent, the IP SAN checked.
            let response = trusted
                .get(&format!("https://127.0.0.1:{port}/"))
                .await
                .unwrap();
            assert_eq!((response.status, &response.body[..]), (200, &b"secure"[..]));
            assert_eq!(response.headers["x-sni"], "none");
            // A name: sent as SNI, the DNS SAN checked.
            let response = trusted
                .get(&format!("https://localhost:{port}/"))
                .await
                .unwrap();
            assert_eq!(response.headers["x-sni"], "localhost");
            // Without the extra root: the bundled roots do not know this CA.
            let untrusted = Client::new(None).unwrap();
            let url = format!("https://127.0.0.1:{port}/");
            let error = untrusted.get(&url).await.unwrap_err();
            assert_eq!(
                error.0,
                format!("GET {url}: TLS handshake: invalid peer certificate: UnknownIssuer")
            );
        });
        // A certificate for another address than the one connected to.
        let (ca_pem, config) = tls_server(&["127.0.0.2"]);
        std::fs::write(&bundle, &ca_pem).unwrap();
        runtime().block_on(async {
            let port = serve_tls(config).await;
            let client = Client::new(Some(&bundle)).unwrap();
            let error = client
                .get(&format!("https://127.0.0.1:{port}/"))
                .await
                .unwrap_err();
            assert!(
                error.0.contains(
                    "TLS handshake: invalid peer certificate: certificate not valid for name"
                ),
                "{error}"
            );
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_bundle_is_an_error_naming_it() {
        let missing = Path::new("/nonexistent/lanseal-ca.pem");
        let error = Client::new(Some(missing)).unwrap_err();
        assert!(
            error
                .0
                .starts_with("CA file /nonexistent/lanseal-ca.pem: cannot read"),
            "{error}"
        );
        let dir = std::env::temp_dir().join(format!("lanseal-http-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let error = Client::new(Some(&junk)).unwrap_err();
        assert_eq!(
            error.0,
            format!("CA file {}: no PEM certificate in it", junk.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn instant_acme_requests_go_through_the_client() {
        use instant_acme::HttpClient;
        runtime().block_on(async {
            let (port, request) = serve_once(
                b"HTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nContent-Length: 2\r\n\r\n{}"
                    .to_vec(),
            )
            .await;
            let client = Client::new(None).unwrap();
            let acme_request = http_types::Request::builder()
                .method(Method::POST)
                .uri(format!("http://127.0.0.1:{port}/acme/new-order"))
                .header("content-type", "application/jose+json")
                .header("user-agent", "instant-acme/0.8.5")
                .body(instant_acme::BodyWrapper::from(b"{\"x\":1}".to_vec()))
                .unwrap();
            let mut response = HttpClient::request(&client, acme_request).await.unwrap();
            assert_eq!(response.parts.status, 201);
            assert_eq!(response.parts.headers["replay-nonce"], "abc");
            assert_eq!(&response.body.into_bytes().await.unwrap()[..], b"{}");
            let request = request.await.unwrap();
            assert!(
                request.starts_with("POST /acme/new-order HTTP/1.1\r\n"),
                "{request}"
            );
            let lower = request.to_ascii_lowercase();
            assert!(
                lower.contains("\r\nuser-agent: instant-acme/0.8.5\r\n"),
                "{request}"
            );
            assert!(lower.contains("\r\ncontent-type: application/jose+json\r\n"));
            assert!(request.ends_with("\r\n\r\n{\"x\":1}"), "{request}");
        });
    }

    #[test]
    fn urls_parse_strictly() {
        let good = [
            ("http://example.com", false, "example.com", 80, "/"),
            ("HTTPS://Example.COM/dir", true, "example.com", 443, "/dir"),
            (
                "https://example.com:443/a?b",
                true,
                "example.com",
                443,
                "/a?b",
            ),
            (
                "https://example.com:8443?q=1",
                true,
                "example.com:8443",
                8443,
                "/?q=1",
            ),
            (
                "http://127.0.0.1:8080/register",
                false,
                "127.0.0.1:8080",
                8080,
                "/register",
            ),
            (
                "https://[::1]:14000/dir#x",
                true,
                "[::1]:14000",
                14000,
                "/dir",
            ),
            ("https://[2001:DB8::1]/", true, "[2001:db8::1]", 443, "/"),
            (
                "https://_acme.example-1.com/x/",
                true,
                "_acme.example-1.com",
                443,
                "/x/",
            ),
            (
                "https://api.getlocalcert.net/api/v1/acme-dns-compat/register",
                true,
                "api.getlocalcert.net",
                443,
                "/api/v1/acme-dns-compat/register",
            ),
        ];
        for (text, secure, authority, port, path) in good {
            let url = Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (url.secure, &*url.authority, url.port, &*url.path_and_query),
                (secure, authority, port, path),
                "{text}"
            );
        }
        assert_eq!(
            Url::parse("http://[::1]/").unwrap().host,
            Host::V6(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            Url::parse("http://10.0.0.1/").unwrap().host,
            Host::V4(Ipv4Addr::new(10, 0, 0, 1))
        );
        let bad = [
            ("example.com/x", "expected http://"),
            ("ftp://example.com/", "neither http nor https"),
            ("http:/example.com", "expected http://"),
            ("http://", "no host"),
            ("http:///path", "no host"),
            ("http://:80/", "no host"),
            ("http://user:pw@example.com/", "user info"),
            ("http://example.com:/", "port"),
            ("http://example.com:0/", "port"),
            ("http://example.com:65536/", "port"),
            ("http://example.com:+80/", "port"),
            ("http://example.com:80:80/", "port"),
            ("http://[::1/", "closing ]"),
            ("http://[::1]x/", "junk after"),
            ("http://[1.2.3.4]/", "not an IPv6 address"),
            ("http://::1/", "port"),
            ("http://256.1.1.1/", "not an IPv4 address"),
            ("http://1.2.3/", "not an IPv4 address"),
            ("http://exa mple.com/", "space"),
            ("http://example.com/a b", "space"),
            ("http://example.com/\u{e9}", "non-ASCII"),
            ("http://-example.com/", "not a host name"),
            ("http://example..com/", "not a host name"),
            ("http://example.com./", "not a host name"),
            ("http://ex%41mple.com/", "not a host name"),
        ];
        for (text, what) in bad {
            let error = Url::parse(text).expect_err(text).to_string();
            assert!(error.contains(what), "{text}: {error}");
            assert!(error.starts_with("bad URL: "), "{error}");
        }
        let long = format!("http://example.com/{}", "a".repeat(URL_BYTES_MAX));
        assert!(
            Url::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("over 2048 bytes")
        );
        // A bad URL through the client names the method and the URL.
        runtime().block_on(async {
            let error = Client::new(None)
                .unwrap()
                .get("ftp://x/")
                .await
                .unwrap_err();
            assert_eq!(
                error.0,
                "GET ftp://x/: bad URL: \"ftp://x/\": the scheme is neither http nor https"
            );
        });
    }
}
