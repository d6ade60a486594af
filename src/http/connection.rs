//! One connection's life on hyper's HTTP/1 server: the connection settings
//! (`builder`), the service that turns a hyper request into a [`Request`] read
//! whole and the handler's [`Response`] into hyper's, and the lingering close.
//!
//! hyper does the framing: the request line and headers (httparse), the body
//! (`Content-Length` or chunked), `Expect: 100-continue` (sent only when the
//! body is first read), keep-alive, HTTP/1.0, HEAD, pipelining (one request at a
//! time), and the answer to a malformed or oversize head (400, 431). Ours are the
//! bounds hyper has no word for, and the counting:
//!
//! - `header_bytes_max`: hyper's `max_header_size`, exact at any size (its
//!   `max_buf_size` cannot go below 8 KiB and asserts, so it is only ever set to
//!   a value from `read_buffer_bytes`, never below that minimum); 431, counted
//!   (also hyper's own bound of 100 header lines).
//! - `body_bytes_max`: a `Content-Length` over it is answered 413 before a byte
//!   of the body is read (so no 100 Continue goes out); a chunked body is read
//!   until it passes the bound and then answered 413; counted.
//! - `idle_timeout`, `request_timeout`: `watch`, hyper runs without a timer (its
//!   `header_read_timeout` would count from the end of the previous answer, idle
//!   time included, and panics if set without one).
//! - The last answer: half-close and drain at most `LINGER_BYTES_MAX` for at
//!   most `LINGER_TIMEOUT`, so a client still sending (the 413 case) reads the
//!   answer instead of a reset.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, TRANSFER_ENCODING};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::slots::Slot;
use super::watch::{Phase, Watch, Watched, until_done};
use super::{Counters, Handler, Limits, Request, Response};

/// After the last response: input discarded, and time allowed, before the close.
const LINGER_BYTES_MAX: usize = 64 * 1024;
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes a refused connection may have sent that are read (not waited for) so
/// that closing it does not reset the 503 away.
const REFUSE_DRAIN_BYTES_MAX: usize = 16 * 1024;
/// hyper's least `max_buf_size` (it asserts on less: `MINIMUM_MAX_BUFFER_SIZE`).
const HYPER_BUFFER_BYTES_MIN: usize = 8192;
/// Room in the read buffer beyond a head of `header_bytes_max`: one read's worth
/// of the body or of a pipelined request.
const READ_SLACK_BYTES: usize = 4096;

/// Best effort, never waiting: take what the client already sent (so closing does
/// not reset the connection), write a 503 into the socket buffer, close.
pub(super) fn refuse(stream: &tokio::net::TcpStream) {
    let (mut scratch, mut drained) = ([0u8; 1024], 0);
    while drained < REFUSE_DRAIN_BYTES_MAX {
        match stream.try_read(&mut scratch) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
    let body = Response::error(503, "too_many_connections").body;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.try_write(&[head.as_bytes(), &body].concat());
}

/// The read buffer hyper may fill: a whole head of `header_bytes_max` and some,
/// never under hyper's minimum (so `max_buf_size` cannot panic).
fn read_buffer_bytes(header_bytes_max: usize) -> usize {
    let wanted = header_bytes_max.saturating_add(READ_SLACK_BYTES);
    wanted.max(HYPER_BUFFER_BYTES_MIN)
}

fn builder(limits: &Limits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        // A client that half-closes after its request still gets the answer.
        .half_close(true)
        // The wire form of the hand-written server this replaced (and of most
        // servers): `Content-Length`, not `content-length`.
        .title_case_headers(true)
        .max_header_size(limits.header_bytes_max)
        .max_buf_size(read_buffer_bytes(limits.header_bytes_max))
        .header_read_timeout(None);
    builder
}

/// A plain or a TLS stream.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// Serves one connection (after its TLS handshake, if any) until it closes, its
/// phase's deadline passes, or its slot is evicted (the task is aborted).
/// The stream is boxed so that hyper's connection code exists once in the
/// binary, not once for plain and once for TLS streams.
pub(super) async fn serve(
    stream: Box<dyn Stream>,
    peer: SocketAddr,
    limits: &Limits,
    handler: Handler,
    slot: Slot,
) {
    let watch = Arc::new(Watch::new(
        slot,
        limits.idle_timeout,
        limits.request_timeout,
    ));
    let service = Service {
        handler,
        peer,
        body_bytes_max: limits.body_bytes_max,
        watch: watch.clone(),
    };
    let io = TokioIo::new(Watched::new(stream, watch.clone()));
    let mut connection = builder(limits).serve_connection(io, service);
    let counters = watch.slot().counters();
    match until_done(&watch, |cx| connection.poll_without_shutdown(cx)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            // hyper answered 431 (or 400) itself, or the connection broke.
            if e.is_parse_too_large() {
                counters.header_too_large.hit();
            }
            log::debug!("HTTP {peer}: {e}");
        }
        Err(Phase::Idle) => {
            counters.idle_closed.fetch_add(1, Relaxed);
            return;
        }
        Err(phase) => {
            log::debug!("HTTP {peer}: too slow ({phase:?})");
            return counters.timed_out.hit();
        }
    }
    watch.slot().idle();
    let mut stream = connection.into_parts().io.into_inner().into_inner();
    close(&mut stream).await;
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

/// The hyper service of one connection: reads a request whole, runs the handler
/// on the blocking pool, answers.
struct Service {
    handler: Handler,
    peer: SocketAddr,
    body_bytes_max: usize,
    watch: Arc<Watch>,
}

type Answer = hyper::Response<Full<Bytes>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Service {
    type Response = Answer;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        // A pipelined request may be parsed from bytes read with the one before.
        self.watch.request_begins();
        let (handler, peer) = (self.handler.clone(), self.peer);
        let (watch, body_bytes_max) = (self.watch.clone(), self.body_bytes_max);
        Box::pin(async move {
            let counters = watch.slot().counters();
            let response = match read(request, peer, body_bytes_max, counters).await {
                Ok(request) => {
                    watch.handling();
                    let answer = tokio::task::spawn_blocking(move || handler(&request)).await;
                    answer.unwrap_or_else(|e| {
                        log::error!("HTTP {peer}: handler failed: {e}");
                        Response::error(500, "internal_error")
                    })
                }
                Err(refusal) => refusal,
            };
            watch.writing();
            Ok(answer(response))
        })
    }
}

/// The request as the handler sees it, its body read whole; or the answer that
/// refuses it (and closes the connection).
async fn read(
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    body_bytes_max: usize,
    counters: &Counters,
) -> Result<Request, Response> {
    let closing = |status, code| {
        let mut response = Response::error(status, code);
        response.headers.push(("Connection", "close".to_owned()));
        response
    };
    let too_large = || {
        counters.body_too_large.hit();
        log::debug!("HTTP {peer}: answering 413 and closing");
        // acme-dns's shape, with the sentence the local API's errors carry.
        let body = format!(
            "{{\"error\": \"request_too_large\", \"detail\": \"the body is over {body_bytes_max} bytes\"}}"
        );
        let mut response = Response::json(413, body);
        response.headers.push(("Connection", "close".to_owned()));
        response
    };
    let (head, mut body) = request.into_parts();
    let announced = body.size_hint().lower();
    // Content-Length (exact) over the bound: refused before the body is read.
    if announced > u64::try_from(body_bytes_max).unwrap_or(u64::MAX) {
        return Err(too_large());
    }
    let mut headers = Vec::with_capacity(head.headers.len());
    for (name, value) in &head.headers {
        let Ok(value) = std::str::from_utf8(value.as_bytes()) else {
            return Err(closing(400, "bad_request"));
        };
        headers.push((name.as_str().to_owned(), value.to_owned()));
    }
    // Within the bound, so the announced length fits in memory.
    let mut bytes = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        // Broken chunked framing, or the client went away.
        let Ok(frame) = frame else {
            return Err(closing(400, "bad_request"));
        };
        // A chunked body grows until it passes the bound.
        if let Some(data) = frame.data_ref() {
            if data.len() > body_bytes_max.saturating_sub(bytes.len()) {
                return Err(too_large());
            }
            bytes.extend_from_slice(data);
        }
    }
    let uri = head.uri;
    let path = Some(uri.path()).filter(|p| !p.is_empty()).unwrap_or("/");
    Ok(Request {
        method: head.method.as_str().to_owned(),
        path: path.to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
        body: bytes,
        peer,
    })
}

/// hyper's form of `response`. A status outside 200–599 (a handler bug) becomes
/// 500; extra headers hyper frames itself (`Content-Length`, `Transfer-Encoding`)
/// and any that is not a valid name and value (a value with CR or LF) are
/// dropped. hyper omits the body of a HEAD answer and of 204/304.
fn answer(response: Response) -> Answer {
    let status = StatusCode::from_u16(response.status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = hyper::Response::new(Full::new(Bytes::from(response.body)));
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    if let Ok(value) = HeaderValue::from_str(response.content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    for (name, value) in &response.headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        let framing = name == CONTENT_LENGTH || name == TRANSFER_ENCODING;
        if let (false, Ok(value)) = (framing, HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // RFC 9110's name; the `http` crate still has RFC 7231's "Payload Too Large".
        let reason = hyper::ext::ReasonPhrase::from_static(b"Content Too Large");
        answer.extensions_mut().insert(reason);
    }
    answer
}
