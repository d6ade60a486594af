//! Zone transfer out (AXFR, RFC 5936) and NOTIFY (RFC 1996) of the public
//! (delegate) zone to its configured secondaries, authenticated by TSIG
//! (`dns::tsig`).
//!
//! Owns who may transfer and what they get. Over TCP, the server hands this
//! module every AXFR or IXFR request and every TSIG-signed query
//! ([`wants`]); anything from an address that is not a secondary, unsigned, or
//! signed wrongly is refused (REFUSED, or NOTAUTH with the TSIG error) and
//! counted (`dns_xfr_refused`). A signed ordinary query (the secondary's SOA
//! check) goes through the answer path and its response is signed. A transfer
//! sends the static zone's records and every dynamic record, between two SOAs
//! with the current serial, in messages of at most `XFR_MESSAGE_BYTES`, each
//! signed (RFC 8945 §5.3.1). IXFR (RFC 1995) sends the changes since the
//! secondary's serial from the journal `dns::dynamic` keeps, the SOA alone
//! when it has the current serial, and the whole zone (AXFR-style, §4) when
//! the journal does not reach back that far (a restart empties it). Over UDP
//! transfers stay refused by the answer path; a secondary's signed query is
//! answered signed there too ([`Transfer::answer_udp`]: BIND checks the SOA
//! over UDP).
//!
//! Bounds: `XFR_AT_ONCE_MAX` transfers at once (more are refused); NOTIFYs go
//! out at most once per `NOTIFY_COALESCE` (changes within it coalesce into
//! one), each retried `NOTIFY_ATTEMPTS` times until the secondary answers, and
//! a newer serial replaces a round still retrying. Everything runs on the DNS
//! I/O thread.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::counters::Counters;
use crate::dns::answer::{Answerer, Step, Transport};
use crate::dns::dynamic::DynamicZone;
use crate::dns::tsig::{self, Checked, Key};
use crate::dns::wire::{self, CLASS_IN, HEADER_BYTES, NameBuf, Query, RCODE_REFUSED, TYPE_SOA};
use crate::dns::zone::{self, Zone};

const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;
const OPCODE_NOTIFY: u16 = 4;
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;

/// Transfers served at once; one more is refused until one ends.
pub const XFR_AT_ONCE_MAX: usize = 4;
/// A transfer message is closed once it holds this many bytes (TSIG and OPT
/// are added after; a TCP message may hold 65 535).
const XFR_MESSAGE_BYTES: usize = 16 * 1024;
/// Changes within this window after the first are sent as one NOTIFY.
pub const NOTIFY_COALESCE: Duration = Duration::from_millis(100);
/// NOTIFYs sent to one secondary for one serial before giving up.
pub const NOTIFY_ATTEMPTS: usize = 4;
/// How long each NOTIFY waits for its answer.
const NOTIFY_TIMEOUT: Duration = Duration::from_millis(1000);

/// The public zone's secondaries and the key they sign with.
#[derive(Debug)]
pub struct Transfer {
    /// Addresses notified; their IPs may transfer.
    secondaries: Vec<SocketAddr>,
    key: Key,
    dynamic: Arc<DynamicZone>,
    slots: tokio::sync::Semaphore,
}

impl Transfer {
    pub fn new(secondaries: Vec<SocketAddr>, key: Key, dynamic: Arc<DynamicZone>) -> Self {
        Self {
            secondaries,
            key,
            dynamic,
            slots: tokio::sync::Semaphore::new(XFR_AT_ONCE_MAX),
        }
    }

    fn is_secondary(&self, ip: IpAddr) -> bool {
        self.secondaries.iter().any(|s| s.ip() == ip)
    }

    /// Answers `request` (a [`wants`] one) from `client` on `stream`: the
    /// transfer, a signed answer, or the refusal. An error closes the connection.
    #[allow(clippy::too_many_arguments)]
    pub async fn serve(
        &self,
        stream: &mut tokio::net::TcpStream,
        client: IpAddr,
        public: bool,
        request: &[u8],
        answerer: &Answerer,
        counters: &Counters,
        write_timeout: Duration,
    ) -> io::Result<()> {
        let now = crate::clock::unix_seconds();
        let Some(question) = Question::parse(request) else {
            counters.process.xfr_refused.fetch_add(1, Relaxed);
            return send(stream, &refusal(request, RCODE_FORMERR), write_timeout).await;
        };
        let refuse = |why: &str| {
            log::debug!("zone transfer: refused {client}: {why}");
            counters.process.xfr_refused.fetch_add(1, Relaxed);
        };
        if !self.is_secondary(client) {
            refuse("not a secondary");
            return send(
                stream,
                &question.reply(request, RCODE_REFUSED),
                write_timeout,
            )
            .await;
        }
        let signature = match tsig::check(request, &self.key, now) {
            Checked::Valid(signature) => signature,
            Checked::Unsigned => {
                refuse("no TSIG");
                return send(
                    stream,
                    &question.reply(request, RCODE_REFUSED),
                    write_timeout,
                )
                .await;
            }
            Checked::Malformed => {
                refuse("malformed TSIG");
                return send(
                    stream,
                    &question.reply(request, RCODE_FORMERR),
                    write_timeout,
                )
                .await;
            }
            Checked::Refused(signature, error) => {
                refuse(&format!("TSIG error {error}"));
                let mut reply = question.reply(request, tsig::RCODE_NOTAUTH);
                tsig::refuse(&mut reply, &self.key, &signature, error, now);
                return send(stream, &reply, write_timeout).await;
            }
        };
        log::debug!("signed query from {client}: type {}", question.qtype);
        let signed_reply = |rcode: u8| {
            let mut reply = question.reply(request, rcode);
            tsig::sign(&mut reply, &self.key, Some(&signature.mac), false, now);
            reply
        };
        if !matches!(question.qtype, TYPE_AXFR | TYPE_IXFR) {
            // The secondary's SOA check, or another signed query: answered as
            // usual, then signed.
            let Some(unsigned) = tsig::strip(request, &signature) else {
                return send(stream, &signed_reply(RCODE_FORMERR), write_timeout).await;
            };
            let mut response = Vec::new();
            let mut query = Query::empty();
            let step =
                answerer.answer(public, &unsigned, Transport::Tcp, &mut query, &mut response);
            if !matches!(step, Step::Send) || response.len() < HEADER_BYTES {
                return send(stream, &signed_reply(RCODE_REFUSED), write_timeout).await;
            }
            tsig::sign(&mut response, &self.key, Some(&signature.mac), false, now);
            return send(stream, &response, write_timeout).await;
        }
        let zone = answerer.zone_at(self.dynamic.apex());
        let Some(zone) = zone.filter(|_| {
            question.name.as_bytes() == self.dynamic.apex() && question.qclass == CLASS_IN
        }) else {
            refuse("not the public zone");
            return send(stream, &signed_reply(tsig::RCODE_NOTAUTH), write_timeout).await;
        };
        let Ok(_slot) = self.slots.try_acquire() else {
            refuse("too many transfers at once");
            return send(stream, &signed_reply(RCODE_REFUSED), write_timeout).await;
        };
        // What to send: for IXFR from a serial the journal reaches, the changes
        // since (RFC 1995 §4); at the current serial, the SOA alone; else the
        // whole zone (AXFR, or AXFR-style IXFR).
        let client_serial = (question.qtype == TYPE_IXFR)
            .then(|| ixfr_serial(request))
            .flatten();
        let changes = client_serial.and_then(|from| self.dynamic.changes_since(from));
        let (owners, serial) = match &changes {
            Some((_, serial)) => (Vec::new(), *serial),
            None => self.dynamic.snapshot(),
        };
        let up_to_date = client_serial == Some(serial);
        let Some(soa) = soa_rdata(zone, serial) else {
            return send(stream, &signed_reply(RCODE_SERVFAIL), write_timeout).await;
        };
        let mut packer = Packer::new(&self.key, request, &question, signature.mac, now);
        let apex = self.dynamic.apex();
        let mut records = 0usize;
        // Adds a record, sending the message it closed.
        macro_rules! push {
            ($name:expr, $rtype:expr, $ttl:expr, $rdata:expr) => {
                records += 1;
                if let Some(message) = packer.push($name, $rtype, $ttl, $rdata) {
                    send(stream, &message, write_timeout).await?;
                }
            };
        }
        push!(apex, TYPE_SOA, soa.0, &soa.1);
        let kind = if up_to_date {
            "up to date"
        } else if let Some((deltas, _)) = &changes {
            for delta in deltas {
                let mut at = soa.1.clone();
                let serial_at = at.len() - 20;
                at[serial_at..serial_at + 4].copy_from_slice(&delta.from.to_be_bytes());
                push!(apex, TYPE_SOA, soa.0, &at);
                for (name, record) in &delta.removed {
                    push!(name, record.rtype, record.ttl, &record.rdata);
                }
                at[serial_at..serial_at + 4].copy_from_slice(&delta.to.to_be_bytes());
                push!(apex, TYPE_SOA, soa.0, &at);
                for (name, record) in &delta.added {
                    push!(name, record.rtype, record.ttl, &record.rdata);
                }
            }
            push!(apex, TYPE_SOA, soa.0, &soa.1);
            "incremental"
        } else {
            let mut sets = Vec::new();
            zone.each_set(|name, set| {
                if set.rtype != TYPE_SOA {
                    for rdata in set.rdatas() {
                        sets.push((name.to_vec(), set.rtype, set.ttl, rdata.to_vec()));
                    }
                }
            });
            for (name, rtype, ttl, rdata) in &sets {
                push!(name, *rtype, *ttl, rdata);
            }
            drop(sets);
            for (label, own) in owners {
                let Some(name) = self.dynamic.owner_name(&label) else {
                    continue;
                };
                for record in own.iter() {
                    push!(&name, record.rtype, record.ttl, &record.rdata);
                }
                for (full, record) in self.dynamic.template_at(&name) {
                    push!(&full, record.rtype, record.ttl, &record.rdata);
                }
            }
            push!(apex, TYPE_SOA, soa.0, &soa.1);
            "whole zone"
        };
        let last = packer.finish();
        send(stream, &last, write_timeout).await?;
        counters.process.xfr_served.fetch_add(1, Relaxed);
        log::info!(
            "zone transfer: {} ({kind}) to {client}, serial {serial}, {records} records",
            if question.qtype == TYPE_AXFR {
                "AXFR"
            } else {
                "IXFR"
            }
        );
        Ok(())
    }

    /// A TSIG-signed ordinary query over UDP (BIND checks the primary's SOA
    /// over UDP, and rejects an unsigned answer to a signed query, RFC 8945
    /// §5.3): from a secondary with a valid signature, answered as usual into
    /// `response` and signed; with a wrong key, signature or time, NOTAUTH with
    /// the TSIG error, counted as over TCP. `false` for anything else (unsigned,
    /// malformed, a transfer, or not from a secondary): the answer path answers
    /// it as before.
    #[allow(clippy::too_many_arguments)]
    pub fn answer_udp(
        &self,
        client: IpAddr,
        public: bool,
        request: &[u8],
        answerer: &Answerer,
        query: &mut Query,
        response: &mut Vec<u8>,
        counters: &Counters,
    ) -> bool {
        let Some(question) = Question::parse(request) else {
            return false;
        };
        if !self.is_secondary(client) || matches!(question.qtype, TYPE_AXFR | TYPE_IXFR) {
            return false;
        }
        let now = crate::clock::unix_seconds();
        match tsig::check(request, &self.key, now) {
            Checked::Valid(signature) => {
                let Some(unsigned) = tsig::strip(request, &signature) else {
                    return false;
                };
                log::debug!(
                    "signed query from {client} over UDP: type {}",
                    question.qtype
                );
                response.clear();
                let step = answerer.answer(public, &unsigned, Transport::Udp, query, response);
                if !matches!(step, Step::Send) || response.len() < HEADER_BYTES {
                    *response = question.reply(request, RCODE_REFUSED);
                }
                tsig::sign(response, &self.key, Some(&signature.mac), false, now);
                true
            }
            Checked::Refused(signature, error) => {
                log::debug!("signed query from {client} over UDP: refused, TSIG error {error}");
                counters.process.xfr_refused.fetch_add(1, Relaxed);
                *response = question.reply(request, tsig::RCODE_NOTAUTH);
                tsig::refuse(response, &self.key, &signature, error, now);
                true
            }
            Checked::Unsigned | Checked::Malformed => false,
        }
    }
}

/// True when `request` is for this module: a zone transfer, or signed.
pub fn wants(request: &[u8]) -> bool {
    Question::parse(request).is_some_and(|q| matches!(q.qtype, TYPE_AXFR | TYPE_IXFR))
        || tsig::is_signed(request)
}

/// The one question of a request.
struct Question {
    id: u16,
    flags: u16,
    name: NameBuf,
    qtype: u16,
    qclass: u16,
    /// End of the question in the request.
    end: usize,
}

impl Question {
    fn parse(request: &[u8]) -> Option<Self> {
        let header = request.get(..HEADER_BYTES)?;
        let flags = u16::from_be_bytes([header[2], header[3]]);
        if flags & FLAG_QR != 0 || u16::from_be_bytes([header[4], header[5]]) != 1 {
            return None;
        }
        let mut name = NameBuf::empty();
        let at = name.parse(request, HEADER_BYTES)?;
        let fixed = request.get(at..at + 4)?;
        Some(Self {
            id: u16::from_be_bytes([header[0], header[1]]),
            flags,
            name,
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
            end: at + 4,
        })
    }

    /// A response header with `rcode`, then the question.
    fn reply(&self, request: &[u8], rcode: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let flags = FLAG_QR | (self.flags & 0x7900) | FLAG_AA | u16::from(rcode);
        wire::write_header(&mut out, self.id, flags, [1, 0, 0, 0]);
        out.extend_from_slice(request.get(HEADER_BYTES..self.end).unwrap_or_default());
        out
    }
}

/// A response to a request without a readable question: its header only.
fn refusal(request: &[u8], rcode: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let id = request
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    wire::write_header(&mut out, id, FLAG_QR | u16::from(rcode), [0; 4]);
    out
}

/// The zone's SOA (TTL and data) with `serial` in it.
fn soa_rdata(zone: &Zone, serial: u32) -> Option<(u32, Vec<u8>)> {
    let set = zone.node(&zone.apex)?.set(TYPE_SOA)?;
    let mut rdata = set.rdatas().next()?.to_vec();
    let at = rdata.len().checked_sub(20)?;
    rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    Some((set.ttl, rdata))
}

/// The serial of the SOA in an IXFR request's authority section (RFC 1995 §3).
fn ixfr_serial(request: &[u8]) -> Option<u32> {
    let header = request.get(..HEADER_BYTES)?;
    if u16::from_be_bytes([header[8], header[9]]) != 1 {
        return None;
    }
    let question_end = wire::skip_name(request, HEADER_BYTES)? + 4;
    let start = wire::skip_records(
        request,
        question_end,
        usize::from(u16::from_be_bytes([header[6], header[7]])),
    )?;
    let end = wire::skip_records(request, start, 1)?;
    let rdata = request.get(..end)?;
    let serial = rdata.get(end.checked_sub(20)?..end.checked_sub(16)?)?;
    Some(u32::from_be_bytes([
        serial[0], serial[1], serial[2], serial[3],
    ]))
}

/// Writes one DNS message with its TCP length prefix.
async fn send(
    stream: &mut tokio::net::TcpStream,
    message: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    let length = u16::try_from(message.len()).map_err(|_| io::Error::other("message too long"))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    match tokio::time::timeout(timeout, stream.write_all(&framed)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
    }
}

/// Fills the messages of one transfer and signs each.
struct Packer<'k> {
    key: &'k Key,
    id: u16,
    flags: u16,
    /// The request's question, written in the first message only.
    question: Option<Vec<u8>>,
    opt: bool,
    message: Vec<u8>,
    answers: u16,
    /// The MAC the next message chains from (the request's for the first).
    prior: Vec<u8>,
    first: bool,
    now: u64,
}

impl<'k> Packer<'k> {
    fn new(
        key: &'k Key,
        request: &[u8],
        question: &Question,
        request_mac: Vec<u8>,
        now: u64,
    ) -> Self {
        let mut packer = Self {
            key,
            id: question.id,
            flags: FLAG_QR | FLAG_AA | (question.flags & 0x0100),
            question: request.get(HEADER_BYTES..question.end).map(<[u8]>::to_vec),
            opt: has_opt(request, question.end),
            message: Vec::new(),
            answers: 0,
            prior: request_mac,
            first: true,
            now,
        };
        packer.start();
        packer
    }

    fn start(&mut self) {
        let question = if self.first {
            self.question.as_deref()
        } else {
            None
        };
        let questions = u16::from(question.is_some());
        wire::write_header(&mut self.message, self.id, self.flags, [questions, 0, 0, 0]);
        if let Some(question) = question {
            self.message.extend_from_slice(question);
        }
        self.answers = 0;
    }

    /// Adds a record; returns the message it closed, if it did.
    fn push(&mut self, name: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Option<Vec<u8>> {
        let record_bytes = name.len() + 10 + rdata.len();
        let closed = (self.answers > 0 && self.message.len() + record_bytes > XFR_MESSAGE_BYTES)
            .then(|| self.finish());
        if record_bytes > XFR_MESSAGE_BYTES * 3 {
            // Cannot fit a message with its TSIG; no record of the zone is this big.
            log::warn!("zone transfer: a record of {record_bytes} bytes left out");
            return closed;
        }
        self.message.extend_from_slice(name);
        zone::push_record(&mut self.message, rtype, ttl, rdata);
        self.answers = self.answers.saturating_add(1);
        closed
    }

    /// Closes the current message: counts, OPT, TSIG; starts the next.
    fn finish(&mut self) -> Vec<u8> {
        wire::set_counts(&mut self.message, self.answers, 0, 0);
        if self.opt {
            wire::write_opt(&mut self.message, 0, false);
            wire::set_counts(&mut self.message, self.answers, 0, 1);
        }
        let later = !self.first;
        self.prior = tsig::sign(
            &mut self.message,
            self.key,
            Some(&self.prior),
            later,
            self.now,
        );
        let message = std::mem::take(&mut self.message);
        self.first = false;
        self.start();
        message
    }
}

/// True when the request's additional section holds an OPT record.
fn has_opt(request: &[u8], question_end: usize) -> bool {
    let Some(header) = request.get(..HEADER_BYTES) else {
        return false;
    };
    let count = |i: usize| usize::from(u16::from_be_bytes([header[4 + 2 * i], header[5 + 2 * i]]));
    let Some(mut pos) = wire::skip_records(request, question_end, count(1) + count(2)) else {
        return false;
    };
    for _ in 0..count(3) {
        let Some(after_name) = wire::skip_name(request, pos) else {
            return false;
        };
        if request.get(after_name..after_name + 2) == Some(&wire::TYPE_OPT.to_be_bytes()[..]) {
            return true;
        }
        match wire::skip_records(request, pos, 1) {
            Some(next) => pos = next,
            None => return false,
        }
    }
    false
}

/// The NOTIFY task: after each change (coalesced over `NOTIFY_COALESCE`), one
/// signed NOTIFY to every secondary, retried until it answers.
pub async fn notify_secondaries(transfer: Arc<Transfer>, counters: Arc<Counters>) {
    let mut last = transfer.dynamic.serial();
    let mut rounds: Vec<tokio::task::AbortHandle> = Vec::new();
    loop {
        transfer.dynamic.changed().await;
        tokio::time::sleep(NOTIFY_COALESCE).await;
        let serial = transfer.dynamic.serial();
        if serial == last {
            continue;
        }
        last = serial;
        // A newer serial replaces a round still retrying.
        for round in rounds.drain(..) {
            round.abort();
        }
        for &secondary in &transfer.secondaries {
            let (transfer, counters) = (transfer.clone(), counters.clone());
            let task = tokio::spawn(async move {
                let answered = notify(&transfer, secondary).await;
                let counter = match answered {
                    Ok(()) => &counters.process.notify_answered,
                    Err(e) => {
                        log::warn!("NOTIFY to {secondary} (serial {serial}): {e}");
                        &counters.process.notify_failed
                    }
                };
                counter.fetch_add(1, Relaxed);
            });
            rounds.push(task.abort_handle());
        }
    }
}

/// Sends one NOTIFY to `secondary` until it answers (the secondary asks for
/// the serial itself).
async fn notify(transfer: &Transfer, secondary: SocketAddr) -> io::Result<()> {
    let local: SocketAddr = if secondary.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(secondary).await?;
    let mut id = [0u8; 2];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| io::Error::other("no randomness"))?;
    let id = u16::from_be_bytes(id);
    let mut message = Vec::new();
    let flags = (OPCODE_NOTIFY << 11) | FLAG_AA;
    wire::write_header(&mut message, id, flags, [1, 0, 0, 0]);
    message.extend_from_slice(transfer.dynamic.apex());
    message.extend_from_slice(&TYPE_SOA.to_be_bytes());
    message.extend_from_slice(&CLASS_IN.to_be_bytes());
    tsig::sign(
        &mut message,
        &transfer.key,
        None,
        false,
        crate::clock::unix_seconds(),
    );
    let mut buffer = [0u8; 1024];
    for _ in 0..NOTIFY_ATTEMPTS {
        log::debug!("NOTIFY to {secondary}: sent");
        socket.send(&message).await?;
        let deadline = tokio::time::Instant::now() + NOTIFY_TIMEOUT;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await;
            let Ok(received) = received else {
                break;
            };
            let Ok(len) = received else {
                // An ICMP refusal: wait out the attempt, then send again.
                tokio::time::sleep_until(deadline).await;
                break;
            };
            let response = &buffer[..len];
            if response.len() >= HEADER_BYTES
                && response[..2] == id.to_be_bytes()
                && u16::from_be_bytes([response[2], response[3]]) & (FLAG_QR | 0x7800)
                    == FLAG_QR | (OPCODE_NOTIFY << 11)
            {
                log::debug!("NOTIFY to {secondary}: answered");
                let rcode = response[3] & 0x0f;
                if rcode != 0 {
                    return Err(io::Error::other(format!("answered RCODE {rcode}")));
                }
                return Ok(());
            }
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every prefix and byte change of a transfer request parses or not, and
    /// never panics.
    #[test]
    fn broken_requests_never_panic() {
        let mut packet = Vec::new();
        wire::write_header(&mut packet, 7, 0, [1, 0, 1, 1]);
        packet.extend_from_slice(b"\x04auth\x04test\x00\x00\xfb\x00\x01");
        packet.extend_from_slice(b"\xc0\x0c\x00\x06\x00\x01\x00\x00\x00\x00\x00\x16");
        packet.extend_from_slice(b"\x00\x00\x00\x00\x00\x05\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01");
        wire::write_opt(&mut packet, 0, false);
        assert_eq!(ixfr_serial(&packet), Some(5));
        assert!(has_opt(&packet, HEADER_BYTES + 15));
        assert!(wants(&packet));
        for len in 0..packet.len() {
            let cut = &packet[..len];
            let _ = (wants(cut), ixfr_serial(cut), Question::parse(cut).is_some());
            let _ = refusal(cut, 1);
        }
        for at in 0..packet.len() {
            let mut broken = packet.clone();
            broken[at] ^= 0xff;
            let _ = (wants(&broken), ixfr_serial(&broken), has_opt(&broken, 12));
        }
    }
}
