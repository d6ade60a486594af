//! A small, bounded HTTP/1.1 server (plain or TLS) for the delegate API and later
//! the local JSON API: [`bind`], [`tls_config`], [`spawn`], and the
//! [`Request`]/[`Response`] values a [`Handler`] maps between.
//!
//! Owns the listening socket, the connections, HTTP framing and TLS termination;
//! the application owns everything a request means. One thread ("http") runs a
//! `current_thread` tokio runtime; the handler runs on its bounded blocking pool,
//! so a slow handler (bcrypt, SQLite) never stalls I/O.
//!
//! Invariants: no panic on any input; every request is read whole (head, then
//! exactly `Content-Length` bytes) before the handler sees it; a connection with
//! a framing error is answered and closed, never reused; one request per
//! connection at a time (pipelined bytes wait in the buffer).
//!
//! Bounds ([`Limits`]): `connections_max` open connections (beyond it a plain
//! connection gets a best-effort 503 and is closed, a TLS one is just closed: no
//! handshake is spent on it); request line + headers `header_bytes_max` (431);
//! body `body_bytes_max` (413, answered before the body is read); chunked bodies
//! refused (411); `idle_timeout` waiting for a request's first byte;
//! `request_timeout` for the TLS handshake, for the rest of a request (head and
//! body: slow-loris) and for writing a response; `workers_max` handler threads
//! (the pool's queue holds at most one request per connection). A closing
//! connection is half-closed and drained of at most `LINGER_BYTES_MAX` for at
//! most `LINGER_TIMEOUT`, so the client reads our answer instead of a reset.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// Bytes asked of the socket per read; also the most a buffer holds past a request.
const READ_CHUNK_BYTES: usize = 4096;
/// Largest certificate or key file read: a long chain is a few KB.
const PEM_FILE_BYTES_MAX: u64 = 1 << 20;
/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// After the last response: input discarded, and time allowed, before the close.
const LINGER_BYTES_MAX: usize = 64 * 1024;
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The target without the query string; not percent-decoded.
    pub path: String,
    pub query: String,
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

    fn with(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        let headers = Vec::new();
        Response {
            status,
            content_type,
            body,
            headers,
        }
    }
}

fn error(status: u16, code: &str) -> Response {
    Response::json(status, format!("{{\"error\": \"{code}\"}}"))
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connections_max: usize,
    pub header_bytes_max: usize,
    pub body_bytes_max: usize,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub workers_max: usize,
}

impl Default for Limits {
    /// Sized for a router: acme-dns bodies are under 1 KiB.
    fn default() -> Self {
        Limits {
            connections_max: 64,
            header_bytes_max: 8 * 1024,
            body_bytes_max: 64 * 1024,
            idle_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            workers_max: 4,
        }
    }
}

/// The application: called on a blocking worker (the handler may take tens of ms:
/// bcrypt, SQLite).
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Loads a PEM certificate chain and private key (PKCS#8, SEC1 or PKCS#1) into a
/// rustls ServerConfig (ring provider, TLS 1.2+1.3, ALPN "http/1.1"). Err names
/// the file and what is wrong.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let (cert_file, key_file) = (cert.display(), key.display());
    let pem = read_pem(cert, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>();
    let chain = chain.map_err(|e| format!("certificate file {cert_file}: bad PEM: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "certificate file {cert_file}: no PEM certificate in it"
        ));
    }
    let pem = read_pem(key, "key")?;
    let private = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!("key file {key_file}: no PEM private key (PKCS#8, SEC1 or PKCS#1): {e}")
    })?;
    // The provider is named, not the process default (as in dns::dot).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| format!("certificate file {cert_file} with key file {key_file}: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let (mut pem, file) = (Vec::new(), path.display());
    let read = std::fs::File::open(path)
        .and_then(|f| f.take(PEM_FILE_BYTES_MAX + 1).read_to_end(&mut pem));
    read.map_err(|e| format!("{what} file {file}: cannot read: {e}"))?;
    if pem.len() as u64 > PEM_FILE_BYTES_MAX {
        return Err(format!(
            "{what} file {file}: over {PEM_FILE_BYTES_MAX} bytes"
        ));
    }
    Ok(pem)
}

/// Binds `address` (std listener, so binding fails before threads start) — returns
/// the bound address too. `[::]` follows the system default (dual-stack on Linux).
pub fn bind(address: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// Starts one thread ("http") running a current_thread tokio runtime with a bounded
/// blocking pool (`workers_max`) and serves until the process exits. Errors only
/// if the thread/runtime cannot start.
pub fn spawn(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    limits: Limits,
    handler: Handler,
) -> io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // Zero would panic in tokio; one worker is the least that can serve.
        .max_blocking_threads(limits.workers_max.max(1))
        .thread_name("http-worker")
        .build()?;
    let tls = tls.map(TlsAcceptor::from);
    let serve = async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => serve(listener, tls, limits, handler).await,
            Err(e) => log::error!("HTTP listener: {e}"),
        }
    };
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || runtime.block_on(serve))
}

/// One open connection; dropping it (task end, however it ends) frees the slot.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    handler: Handler,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!("HTTP accept: {e}");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        if open.load(Relaxed) >= limits.connections_max {
            log::debug!("HTTP connections at their maximum: refusing {peer}");
            if tls.is_none() {
                refuse(&stream);
            }
            continue;
        }
        open.fetch_add(1, Relaxed);
        let slot = Slot(open.clone());
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let (tls, handler) = (tls.clone(), handler.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            let Some(acceptor) = tls else {
                return serve_connection(stream, peer, limits, handler).await;
            };
            match timeout(limits.request_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, peer, limits, handler).await,
                Ok(Err(e)) => log::debug!("HTTPS {peer}: TLS handshake: {e}"),
                Err(_) => log::debug!("HTTPS {peer}: TLS handshake timed out"),
            }
        });
    }
}

/// Best effort, never waiting: take what the client already sent (so closing does
/// not reset the connection), write a 503 into the socket buffer, close.
fn refuse(stream: &tokio::net::TcpStream) {
    let mut scratch = [0u8; 1024];
    for _ in 0..16 {
        if !matches!(stream.try_read(&mut scratch), Ok(n) if n > 0) {
            break;
        }
    }
    let _ = stream.try_write(&encode(&error(503, "too_many_connections"), false, false));
}

/// Why reading a request stopped: the connection is done, or gets this answer first.
enum Stop {
    Close,
    Reject(Response),
}

async fn serve_connection<S>(mut stream: S, peer: SocketAddr, limits: Limits, handler: Handler)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = Vec::new();
    loop {
        if buffer.is_empty() {
            let first = timeout(limits.idle_timeout, fill_some(&mut stream, &mut buffer));
            if !matches!(first.await, Ok(Ok(()))) {
                return; // Idle, closed by the client, or broken.
            }
        }
        let read = read_request(&mut stream, &mut buffer, &limits, peer);
        let (response, keep_alive, head_only) = match timeout(limits.request_timeout, read).await {
            Ok(Ok((request, keep_alive))) => {
                let (handler, head_only) = (handler.clone(), request.method == "HEAD");
                let answer = tokio::task::spawn_blocking(move || handler(&request)).await;
                let response = answer.unwrap_or_else(|e| {
                    log::error!("HTTP {peer}: handler failed: {e}");
                    error(500, "internal_error")
                });
                (response, keep_alive, head_only)
            }
            Ok(Err(Stop::Reject(response))) => {
                log::debug!("HTTP {peer}: answering {} and closing", response.status);
                (response, false, false)
            }
            Ok(Err(Stop::Close)) | Err(_) => return, // Gone, broken or too slow.
        };
        let bytes = encode(&response, keep_alive, head_only);
        let sent = timeout(limits.request_timeout, write(&mut stream, &bytes)).await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
        if !keep_alive {
            return close(&mut stream).await;
        }
    }
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Half-closes (FIN, or TLS close_notify) and discards what the client still sends,
/// within `LINGER_BYTES_MAX` and `LINGER_TIMEOUT`: closing with unread input
/// would reset the connection, and a reset can destroy the answer in transit.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let linger = async {
        let _ = stream.shutdown().await;
        let (mut scratch, mut drained) = ([0u8; 1024], 0);
        while drained < LINGER_BYTES_MAX {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = timeout(LINGER_TIMEOUT, linger).await;
}

/// One read of at most `READ_CHUNK_BYTES` appended to `buffer`; 0 at end of stream.
async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buffer: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    let n = stream.read(&mut chunk).await?;
    buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
    Ok(n)
}

/// Reads one request (head, then the body) and leaves any bytes after it in
/// `buffer`. Also says whether the connection stays open after the answer.
async fn read_request<S>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
    limits: &Limits,
    peer: SocketAddr,
) -> Result<(Request, bool), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let reject = |status, code| Err(Stop::Reject(error(status, code)));
    let mut scanned = 0;
    let head_length = loop {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        let blank = buffer.iter().take_while(|b| matches!(b, b'\r' | b'\n'));
        buffer.drain(..blank.count());
        if let Some(length) = head_length(buffer, scanned) {
            break length;
        }
        if buffer.len() > limits.header_bytes_max {
            return reject(431, "headers_too_large");
        }
        scanned = buffer.len();
        fill_some(stream, buffer).await?;
    };
    if head_length > limits.header_bytes_max {
        return reject(431, "headers_too_large");
    }
    let Some((mut request, http10)) = parse_head(&buffer[..head_length], peer) else {
        return reject(400, "bad_request");
    };
    if request.header("transfer-encoding").is_some() {
        return reject(411, "length_required");
    }
    let Some(length) = content_length(&request.headers) else {
        return reject(400, "bad_request");
    };
    if length > limits.body_bytes_max {
        return reject(413, "request_too_large");
    }
    let end = head_length.saturating_add(length);
    let expect = request.header("expect");
    if expect.is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && !http10
        && buffer.len() < end
    {
        let sent = write(stream, b"HTTP/1.1 100 Continue\r\n\r\n").await;
        sent.map_err(|_| Stop::Close)?;
    }
    while buffer.len() < end {
        fill_some(stream, buffer).await?;
    }
    request.body = buffer[head_length..end].to_vec();
    buffer.drain(..end);
    let tokens = request.header("connection").unwrap_or_default();
    let has = |token: &str| {
        tokens
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let keep_alive = if http10 {
        has("keep-alive")
    } else {
        !has("close")
    };
    Ok((request, keep_alive))
}

/// `fill`, with the end of the stream or an error as `Stop::Close`.
async fn fill_some<S: AsyncRead + Unpin>(stream: &mut S, buffer: &mut Vec<u8>) -> Result<(), Stop> {
    match fill(stream, buffer).await {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(Stop::Close),
    }
}

/// Length of the head through its empty line (CRLF or bare LF), once complete.
/// `scanned` bytes were searched before: a slow client costs no rescans.
fn head_length(buffer: &[u8], scanned: usize) -> Option<usize> {
    let from = scanned.saturating_sub(2);
    let rest = buffer.get(from..).unwrap_or_default();
    let newlines = rest.iter().enumerate().filter(|&(_, &b)| b == b'\n');
    newlines.map(|(i, _)| from + i + 1).find_map(|next| {
        let after = buffer.get(next..).unwrap_or_default();
        let end = [&b"\n"[..], b"\r\n"]
            .into_iter()
            .find(|end| after.starts_with(end));
        end.map(|end| next + end.len())
    })
}

/// The request line and header fields as a request without a body, and whether it
/// is HTTP/1.0; None for anything malformed (also non-UTF-8, obsolete line folding
/// and control characters).
fn parse_head(head: &[u8], peer: SocketAddr) -> Option<(Request, bool)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let target_ok = !target.is_empty() && target.bytes().all(|b| b.is_ascii_graphic());
    if parts.next().is_some() || !is_token(method) || !target_ok {
        return None;
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return None,
    };
    let mut headers = Vec::new();
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim_matches([' ', '\t']);
        if !is_token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return None;
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    let (path, query) = split_target(target);
    let (method, path, query) = (method.to_owned(), path.to_owned(), query.to_owned());
    let body = Vec::new();
    Some((
        Request {
            method,
            path,
            query,
            headers,
            body,
            peer,
        },
        http10,
    ))
}

fn is_token(text: &str) -> bool {
    let special = |b: u8| b"!#$%&'*+-.^_`|~".contains(&b);
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || special(b))
}

/// The body length: 0 without the header; None unless every Content-Length value
/// (repeated headers, comma lists) is the same decimal number. Overflow saturates.
fn content_length(headers: &[(String, String)]) -> Option<usize> {
    let values = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"));
    let mut found: Option<&str> = None;
    for value in values.flat_map(|(_, v)| v.split(',')).map(str::trim) {
        if value.is_empty()
            || !value.bytes().all(|b| b.is_ascii_digit())
            || found.is_some_and(|f| f != value)
        {
            return None;
        }
        found = Some(value);
    }
    Some(found.map_or(0, |digits| digits.parse().unwrap_or(usize::MAX)))
}

/// Path and query of an origin-form or absolute-form (`http://host/p?q`) target.
fn split_target(target: &str) -> (&str, &str) {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let mut rest = target;
    if let Some(scheme) = ["http://", "https://"]
        .into_iter()
        .find(|s| lower.starts_with(s))
    {
        let after = target.get(scheme.len()..).unwrap_or_default();
        rest = after
            .find(['/', '?'])
            .and_then(|i| after.get(i..))
            .unwrap_or_default();
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    (if path.is_empty() { "/" } else { path }, query)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The wire form of a response. A status outside 200–599 (a handler bug) becomes
/// 500; 204 and 304 carry neither body nor Content-Length (RFC 9110).
fn encode(response: &Response, keep_alive: bool, head_only: bool) -> Vec<u8> {
    use std::fmt::Write;
    let status = Some(response.status)
        .filter(|s| (200..=599).contains(s))
        .unwrap_or(500);
    let (reason, content_type) = (reason(status), response.content_type);
    let mut text = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n");
    let bodiless = matches!(status, 204 | 304);
    if !bodiless {
        let _ = write!(text, "Content-Length: {}\r\n", response.body.len());
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let _ = write!(text, "Connection: {connection}\r\n");
    for (name, value) in &response.headers {
        if is_token(name) && !value.contains(['\r', '\n']) {
            let _ = write!(text, "{name}: {value}\r\n");
        }
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    if !head_only && !bodiless {
        bytes.extend_from_slice(&response.body);
    }
    bytes
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;
    use std::net::TcpStream;
    use std::process::Command;
    use std::time::Instant;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn limits(connections_max: usize) -> Limits {
        let (header_bytes_max, body_bytes_max, workers_max) = (1024, 4096, 2);
        let (idle_timeout, request_timeout) = (ms(400), ms(800));
        Limits {
            connections_max,
            header_bytes_max,
            body_bytes_max,
            idle_timeout,
            request_timeout,
            workers_max,
        }
    }

    /// A server whose handler echoes method, path, query and body length.
    fn start(limits: Limits, tls: Option<Arc<ServerConfig>>) -> SocketAddr {
        let (listener, address) = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let handler: Handler = Arc::new(|r: &Request| {
            let echo = format!("{} {} {} {}", r.method, r.path, r.query, r.body.len());
            Response::text(200, echo)
        });
        spawn(listener, tls, limits, handler).unwrap();
        address
    }

    fn connect(address: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    /// Everything the server sends until it closes (or resets) the connection.
    fn until_closed(stream: &mut TcpStream) -> String {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn exchange(address: SocketAddr, request: &[u8]) -> String {
        let mut stream = connect(address);
        stream.write_all(request).unwrap();
        until_closed(&mut stream)
    }

    /// One response (head, then Content-Length bytes) from a connection kept open.
    fn head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    fn response(stream: &mut TcpStream) -> String {
        let head = head(stream);
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "));
        let mut body = vec![0u8; length.map_or(0, |n| n.parse().unwrap())];
        stream.read_exact(&mut body).unwrap();
        head + std::str::from_utf8(&body).unwrap()
    }

    /// Runs `curl` or `openssl` with `args` split at spaces: (stdout, stderr).
    fn run(program: &str, args: &str) -> (String, String) {
        let mut command = Command::new(program);
        let output = command.args(args.split(' ')).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{program} {args}: {stderr}");
        (String::from_utf8(output.stdout).unwrap(), stderr)
    }

    #[test]
    fn requests_keep_alive_and_close() {
        let address = start(limits(16), None);
        let mut stream = connect(address);
        stream
            .write_all(b"GET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        let first = response(&mut stream);
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(
            first.contains("Connection: keep-alive\r\n") && first.ends_with("GET /a/b x=1&y 0")
        );
        // Two requests sent together (pipelined) on the same connection.
        stream
            .write_all(
                b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloHEAD /h HTTP/1.1\r\n\r\n",
            )
            .unwrap();
        assert!(response(&mut stream).ends_with("POST /p  5"));
        // HEAD: the length of the body a GET would get, and no body (the next
        // response follows at once).
        let head = head(&mut stream);
        assert!(head.contains("Content-Length: 10\r\n"), "{head}");
        stream
            .write_all(b"GET /c HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap();
        let last = until_closed(&mut stream);
        assert!(
            last.starts_with("HTTP/1.1 200 OK\r\n")
                && last.contains("Connection: close\r\n")
                && last.ends_with("GET /c  0"),
            "{last}"
        );
        let old = exchange(address, b"GET http://h:1/abs?q HTTP/1.0\r\n\r\n");
        assert!(
            old.contains("Connection: close\r\n") && old.ends_with("GET /abs q 0"),
            "{old}"
        );
        let mut stream = connect(address);
        stream
            .write_all(b"\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        assert!(response(&mut stream).contains("Connection: keep-alive\r\n"));
        let (url, post) = (
            format!("-sS http://{address}/q?z"),
            format!("-sS -d abc http://{address}/p"),
        );
        assert_eq!(run("curl", &url).0, "GET /q z 0");
        assert_eq!(run("curl", &post).0, "POST /p  3");
    }

    #[test]
    fn bad_requests_are_answered_and_closed() {
        let address = start(limits(16), None);
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
        let cases: [(&[u8], &str); 10] = [
            // The 413 comes without the rest of the body ever being sent.
            (
                b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc",
                "413 Content Too Large",
            ),
            (long.as_bytes(), "431 Request Header Fields Too Large"),
            (b"HELLO\r\n\r\n", "400 Bad Request"),
            (b"GET / HTTP/2.0\r\n\r\n", "400 Bad Request"),
            (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", "400 Bad Request"),
            (b"GET / HTTP/1.1\r\n folded: x\r\n\r\n", "400 Bad Request"),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                "400 Bad Request",
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                "400 Bad Request",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                "411 Length Required",
            ),
            (b"GET / HTTP/1.1\r\nX: \x01\r\n\r\n", "400 Bad Request"),
        ];
        for (request, status) in cases {
            let answer = exchange(address, request);
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{answer}"
            );
            assert!(answer.contains("Connection: close\r\n"), "{answer}");
        }
        let answer = exchange(address, cases[0].0);
        assert!(
            answer.ends_with("{\"error\": \"request_too_large\"}"),
            "{answer}"
        );
    }

    #[test]
    fn expect_continue() {
        let address = start(limits(16), None);
        let mut stream = connect(address);
        stream
            .write_all(b"PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            .unwrap();
        let mut interim = [0u8; 25];
        stream.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(b"xyz").unwrap();
        assert!(response(&mut stream).ends_with("PUT /e  3"));
        let file = std::env::temp_dir().join(format!("lanseal-http-body-{}", std::process::id()));
        std::fs::write(&file, [b'a'; 2048]).unwrap();
        // This curl (7.88) asks for 100-continue by itself only from 1 MiB.
        let body = file.display();
        let args =
            format!("-sSv -H Expect:100-continue --data-binary @{body} http://{address}/big");
        let (out, err) = run("curl", &args);
        assert_eq!(out, "POST /big  2048");
        assert!(err.contains("HTTP/1.1 100 Continue"), "{err}");
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn connection_limit() {
        let address = start(limits(2), None);
        let (mut first, _second) = (connect(address), connect(address));
        let refused = until_closed(&mut connect(address));
        assert!(
            refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{refused}"
        );
        first
            .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert!(until_closed(&mut first).starts_with("HTTP/1.1 200 OK"));
        drop(first);
        std::thread::sleep(ms(100));
        assert!(exchange(address, b"GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200 OK"));
    }

    #[test]
    fn idle_and_slow_clients_are_closed() {
        let address = start(limits(16), None);
        let mut stream = connect(address);
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        response(&mut stream);
        let started = Instant::now();
        assert_eq!(until_closed(&mut stream), "");
        assert!((ms(300)..ms(2000)).contains(&started.elapsed()));
        // Slow-loris: each byte well within the idle timeout, the head never whole
        // within the request timeout.
        let mut stream = connect(address);
        let mut writer = stream.try_clone().unwrap();
        let started = Instant::now();
        let dribble = std::thread::spawn(move || {
            for byte in b"GET / HTTP/1.1\r\nHost: slow.example\r\n\r\n" {
                if writer.write_all(&[*byte]).is_err() {
                    break;
                }
                std::thread::sleep(ms(100));
            }
        });
        assert_eq!(until_closed(&mut stream), "");
        assert!((ms(700)..ms(2000)).contains(&started.elapsed()));
        dribble.join().unwrap();
    }

    #[test]
    fn tls() {
        let dir = std::env::temp_dir().join(format!("lanseal-http-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key, sec1) = (
            dir.join("cert.pem"),
            dir.join("key.pem"),
            dir.join("sec1.pem"),
        );
        let (cert_file, key_file) = (cert.display(), key.display());
        let subject = "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1";
        let curve = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
        run(
            "openssl",
            &format!(
                "req -x509 {curve} -nodes -days 2 {subject} -keyout {key_file} -out {cert_file}"
            ),
        );
        run(
            "openssl",
            &format!("ec -in {key_file} -out {}", sec1.display()),
        );
        assert!(tls_config(&cert, &sec1).is_ok());
        let address = start(limits(16), Some(tls_config(&cert, &key).unwrap()));
        let url = format!(
            "-sS --cacert {cert_file} https://127.0.0.1:{}/x?y",
            address.port()
        );
        assert_eq!(run("curl", &url).0, "GET /x y 0");
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not PEM\n").unwrap();
        let missing = dir.join("missing.pem");
        for (c, k, named) in [
            (&missing, &key, &missing),
            (&garbage, &key, &garbage),
            (&cert, &garbage, &garbage),
            (&cert, &cert, &cert),
        ] {
            let error = tls_config(c, k).unwrap_err();
            assert!(error.contains(&named.display().to_string()), "{error}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn targets_and_lengths() {
        let targets = [
            ("/a?b?c", ("/a", "b?c")),
            ("HTTP://h/x", ("/x", "")),
            ("https://h?q", ("/", "q")),
            ("http://h", ("/", "")),
            ("*", ("*", "")),
        ];
        for (target, expected) in targets {
            assert_eq!(split_target(target), expected, "{target}");
        }
        let header = |v: &str| vec![("content-length".to_owned(), v.to_owned())];
        assert_eq!(content_length(&[]), Some(0));
        assert_eq!(content_length(&header("7, 7")), Some(7));
        assert_eq!(
            content_length(&header("99999999999999999999999")),
            Some(usize::MAX)
        );
        for bad in ["", "1,2", "+1", "0x10", "1 2"] {
            assert_eq!(content_length(&header(bad)), None, "{bad}");
        }
        assert_eq!(head_length(b"GET / HTTP/1.1\nA: b\n\nrest", 0), Some(21));
        assert_eq!(head_length(b"GET / HTTP/1.1\r\n\r\n", 17), Some(18));
        assert_eq!(
            encode(&Response::json(99, "x"), true, false),
            encode(&Response::json(500, "x"), true, false)
        );
    }
}
