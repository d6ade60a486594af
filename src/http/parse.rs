//! HTTP/1.1 framing, pure: where a request head ends, the head as a [`Request`]
//! without its body, the body length, and a [`Response`] as bytes.
//!
//! No I/O and no panic on any input. Strict where leniency would let two parties
//! read one message differently (request smuggling): obsolete line folding,
//! control characters, disagreeing `Content-Length` values and non-UTF-8 heads
//! are all malformed. Repeated header lines are kept, in order (a proxy's own
//! `X-Forwarded-For` line comes after the client's).

use std::net::SocketAddr;

use super::{Request, Response};

/// Length of the head through its empty line (CRLF or bare LF), once complete.
/// `scanned` bytes were searched before: a slow client costs no rescans.
pub(super) fn head_length(buffer: &[u8], scanned: usize) -> Option<usize> {
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
pub(super) fn parse_head(head: &[u8], peer: SocketAddr) -> Option<(Request, bool)> {
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

/// Whether the connection stays open after the answer: HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
pub(super) fn keep_alive(request: &Request, http10: bool) -> bool {
    let mut tokens = request
        .header_lines("connection")
        .flat_map(|v| v.split(','));
    let mut has = |token: &str| tokens.any(|t| t.trim().eq_ignore_ascii_case(token));
    if http10 {
        has("keep-alive")
    } else {
        !has("close")
    }
}

pub(super) fn is_token(text: &str) -> bool {
    let special = |b: u8| b"!#$%&'*+-.^_`|~".contains(&b);
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || special(b))
}

/// The body length: 0 without the header; None unless every Content-Length value
/// (repeated headers, comma lists) is the same decimal number. Overflow saturates.
pub(super) fn content_length(headers: &[(String, String)]) -> Option<usize> {
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
pub(super) fn split_target(target: &str) -> (&str, &str) {
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
pub(super) fn encode(response: &Response, keep_alive: bool, head_only: bool) -> Vec<u8> {
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
    use super::*;

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

    #[test]
    fn repeated_headers_are_kept_in_order() {
        let head = b"POST / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.7\r\nHost: h\r\n\
                     x-forwarded-for: 198.51.100.1, 10.0.0.1\r\nConnection: x, Close\r\n\r\n";
        let peer = "127.0.0.1:1".parse().unwrap();
        let (request, http10) = parse_head(head, peer).unwrap();
        let lines: Vec<&str> = request.header_lines("X-FORWARDED-FOR").collect();
        assert_eq!(lines, ["192.0.2.7", "198.51.100.1, 10.0.0.1"]);
        assert_eq!(request.header("x-forwarded-for"), Some("192.0.2.7"));
        assert!(!keep_alive(&request, http10));
    }
}
