//! `dns_answer`: one query through the answer path, and the upstream's part.
//!
//! Input: one control byte, the query's length (two bytes, big-endian), the
//! query, then what the upstream answers if the query goes upstream. The
//! control byte: bits 0–1 the transport (UDP, TCP, a rate-limited "slip",
//! UDP), bit 2 a client outside the ACL (only the public zone answers), bit 3
//! the upstream part is a whole message as received (otherwise it is framed:
//! two bytes of flags, three counts, then the records, after a header and the
//! question the harness writes, as a matching upstream answer would have),
//! bit 4 no upstream answers at all.

use std::sync::OnceLock;

use crate::control::Control;
use crate::dns::answer::{Step, Transport};
use crate::dns::wire::{self, HEADER_BYTES, Parsed, Query};

use super::fixture;

/// A TCP message's bound (its two-byte length prefix).
const TCP_MESSAGE_BYTES_MAX: usize = 65_535;

const FLAG_PUBLIC: u8 = 1 << 2;
const FLAG_RAW_UPSTREAM: u8 = 1 << 3;
const FLAG_UNANSWERED: u8 = 1 << 4;

fn control() -> &'static Control {
    static CONTROL: OnceLock<Control> = OnceLock::new();
    CONTROL.get_or_init(fixture::control)
}

pub fn dns_answer(data: &[u8]) {
    let [control_byte, length_high, length_low, rest @ ..] = data else {
        return;
    };
    let length = usize::from(u16::from_be_bytes([*length_high, *length_low]));
    let (request, upstream) = rest.split_at(length.min(rest.len()));
    let transport = match control_byte & 3 {
        1 => Transport::Tcp,
        2 => Transport::Slip,
        _ => Transport::Udp,
    };
    let public = control_byte & FLAG_PUBLIC != 0;
    let upstream = if control_byte & FLAG_UNANSWERED != 0 {
        Upstream::Unanswered
    } else if control_byte & FLAG_RAW_UPSTREAM != 0 {
        Upstream::Raw(upstream)
    } else {
        Upstream::Framed(upstream)
    };
    let control = control();
    // Each input starts from an empty cache (the same input, the same answers).
    let _ = control.flush_cache(None);
    // Twice: the second time the first one's upstream answer may be cached.
    for _ in 0..2 {
        ask(control, public, request, transport, &upstream);
    }
}

/// What the upstream gives for a forwarded query.
enum Upstream<'i> {
    Raw(&'i [u8]),
    Framed(&'i [u8]),
    Unanswered,
}

/// One query answered as a DNS thread and the forwarder answer it.
fn ask(control: &Control, public: bool, request: &[u8], transport: Transport, upstream: &Upstream) {
    let service = control.current().load();
    let answerer = &service.answerer;
    let mut query = Query::empty();
    let mut out = Vec::new();
    match answerer.answer(public, request, transport, &mut query, &mut out) {
        Step::Drop => {}
        Step::Send => check(request, transport, &out),
        Step::Forward(pending) => {
            assert!(!public, "a query from outside the ACL went upstream");
            let forwarder = service.forwarder.as_ref().expect("the fixture forwards");
            let framed;
            let answer = match upstream {
                Upstream::Raw(bytes) => Some(*bytes),
                Upstream::Framed(records) => {
                    framed = frame(pending.target(), pending.query(), records);
                    Some(framed.as_slice())
                }
                Upstream::Unanswered => None,
            };
            let response = forwarder.complete_with(answerer, pending, answer);
            check(request, transport, &response);
        }
    }
}

/// An upstream answer to `target`: our header and question (as `dns::client`
/// has matched them), then the input's flags, counts and records.
fn frame(target: &[u8], query: &Query, input: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 8];
    let given = input.len().min(header.len());
    header[..given].copy_from_slice(&input[..given]);
    let flags = u16::from_be_bytes([header[0], header[1]]) | 0x8000;
    let counts = |i: usize| u16::from_be_bytes([header[2 + 2 * i], header[3 + 2 * i]]);
    let mut message = Vec::with_capacity(HEADER_BYTES + target.len() + 4 + input.len());
    wire::write_header(
        &mut message,
        0x4c53,
        flags,
        [1, counts(0), counts(1), counts(2)],
    );
    message.extend_from_slice(target);
    message.extend_from_slice(&query.qtype.to_be_bytes());
    message.extend_from_slice(&query.qclass.to_be_bytes());
    message.extend_from_slice(&input[given..]);
    message
}

/// What every response to `request` must be: our ID, QR set, within what the
/// transport carries, and its counts describing the message to its last byte.
fn check(request: &[u8], transport: Transport, response: &[u8]) {
    assert!(
        response.len() >= HEADER_BYTES,
        "a response without a header"
    );
    assert_eq!(response[..2], request[..2], "the ID is not echoed");
    assert!(response[2] & 0x80 != 0, "a response without QR");
    let mut query = Query::empty();
    let edns = match query.parse(request) {
        Parsed::Query => query.edns,
        Parsed::Error { edns, .. } => edns,
        Parsed::Drop => None,
    };
    let limit = match transport {
        Transport::Udp | Transport::Slip => wire::udp_limit_bytes(edns),
        Transport::Tcp => TCP_MESSAGE_BYTES_MAX,
    };
    assert!(
        response.len() <= limit,
        "{} bytes over a transport that carries {limit}",
        response.len()
    );
    let count = |i: usize| {
        usize::from(u16::from_be_bytes([
            response[4 + 2 * i],
            response[5 + 2 * i],
        ]))
    };
    let mut at = HEADER_BYTES;
    for _ in 0..count(0) {
        let end = wire::skip_name(response, at).map(|end| end + 4);
        at = end
            .filter(|&end| end <= response.len())
            .expect("the question section walks");
    }
    let wanted = count(1) + count(2) + count(3);
    let (mut walked, mut end) = (0, at);
    for record in wire::records(response, at).take(wanted) {
        end = record.expect("every record walks").end;
        walked += 1;
    }
    assert_eq!(walked, wanted, "fewer records than the counts say");
    assert_eq!(end, response.len(), "bytes after the last record");
}
