//! One connection's life: wait (idle) for a request, read it whole within
//! `request_timeout`, run the handler on the blocking pool, write the answer,
//! and on the last one close with a linger so the client reads it.
//!
//! Bounds: `idle_timeout` for a request's first byte; `header_bytes_max` (431)
//! and `body_bytes_max` (413, answered before the body is read); chunked bodies
//! refused (411); `request_timeout` for the rest of a request and for writing a
//! response; a closing connection is half-closed and drained of at most
//! `LINGER_BYTES_MAX` for at most `LINGER_TIMEOUT`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::parse::{content_length, encode, head_length, keep_alive, parse_head};
use super::slots::Slot;
use super::{Handler, Limits, Request, Response};

/// Bytes asked of the socket per read; also the most a buffer holds past a request.
const READ_CHUNK_BYTES: usize = 4096;
/// After the last response: input discarded, and time allowed, before the close.
const LINGER_BYTES_MAX: usize = 64 * 1024;
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes a refused connection may have sent that are read (not waited for) so
/// that closing it does not reset the 503 away.
const REFUSE_DRAIN_BYTES_MAX: usize = 16 * 1024;

/// Why reading a request stopped: the connection is done, or gets this answer first.
enum Stop {
    Close,
    Reject(Response),
}

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
    let refusal = Response::error(503, "too_many_connections");
    let _ = stream.try_write(&encode(&refusal, false, false));
}

pub(super) async fn serve<S>(
    mut stream: S,
    peer: SocketAddr,
    limits: &Limits,
    handler: Handler,
    slot: &Slot,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = Vec::new();
    loop {
        if buffer.is_empty() {
            slot.idle();
            let first = timeout(limits.idle_timeout, fill_some(&mut stream, &mut buffer));
            match first.await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return, // Closed by the client, or broken.
                Err(_) => {
                    slot.counters().idle_closed.fetch_add(1, Relaxed);
                    return;
                }
            }
        }
        slot.busy();
        let read = read_request(&mut stream, &mut buffer, limits, peer);
        let (response, keep_alive, head_only) = match timeout(limits.request_timeout, read).await {
            Ok(Ok((request, keep_alive))) => {
                let (handler, head_only) = (handler.clone(), request.method == "HEAD");
                let answer = tokio::task::spawn_blocking(move || handler(&request)).await;
                let response = answer.unwrap_or_else(|e| {
                    log::error!("HTTP {peer}: handler failed: {e}");
                    Response::error(500, "internal_error")
                });
                (response, keep_alive, head_only)
            }
            Ok(Err(Stop::Reject(response))) => {
                log::debug!("HTTP {peer}: answering {} and closing", response.status);
                match response.status {
                    431 => slot.counters().header_too_large.hit(),
                    413 => slot.counters().body_too_large.hit(),
                    _ => {}
                }
                (response, false, false)
            }
            Ok(Err(Stop::Close)) => return, // Gone or broken.
            Err(_) => return slot.counters().timed_out.hit(),
        };
        let bytes = encode(&response, keep_alive, head_only);
        match timeout(limits.request_timeout, write(&mut stream, &bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => return slot.counters().timed_out.hit(),
        }
        if !keep_alive {
            slot.idle();
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

/// `fill`, with the end of the stream or an error as `Stop::Close`.
async fn fill_some<S: AsyncRead + Unpin>(stream: &mut S, buffer: &mut Vec<u8>) -> Result<(), Stop> {
    match fill(stream, buffer).await {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(Stop::Close),
    }
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
    let reject = |status, code| Err(Stop::Reject(Response::error(status, code)));
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
    let keep_alive = keep_alive(&request, http10);
    Ok((request, keep_alive))
}
