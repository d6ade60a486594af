//! Zone transfer out (AXFR, RFC 5936) and NOTIFY (RFC 1996) of the public
//! (delegate) zone, and of the router zones that have `secondaries`, to their
//! configured secondaries, authenticated by TSIG (`dns::tsig`).
//!
//! Owns who may transfer and what they get. Over TCP, the server hands this
//! module every AXFR or IXFR request, and every TSIG-signed query when some
//! zone has secondaries ([`wants`]). The zone asked for decides the rules: the
//! public zone's ([`Transfer`], from `[delegate]`) or a router zone's
//! ([`ZoneTransfers`], from the config, so a reload brings new ones: they are
//! in the `Service`). A request for a zone not transferred, from an address
//! that is not one of its secondaries, unsigned, or signed wrongly is refused
//! (REFUSED, or NOTAUTH with the TSIG error) and counted (`dns_xfr_refused`).
//! A signed ordinary query (the secondary's SOA check) goes through the answer
//! path and its response is signed. A transfer sends the zone between two
//! SOAs with the current serial, in messages of at most `XFR_MESSAGE_BYTES`,
//! each signed (RFC 8945 §5.3.1): for the public zone the static records and
//! every dynamic record, and IXFR (RFC 1995) sends the changes since the
//! secondary's serial from the journal `dns::dynamic` keeps, the SOA alone
//! when it has the current serial, and the whole zone (AXFR-style, §4) when
//! the journal does not reach back that far (a restart empties it); a router
//! zone is streamed node by node from its arena, and its IXFR is always
//! AXFR-style (no journal) but for the SOA alone at the current serial. Over
//! UDP transfers stay refused by the answer path; a secondary's signed query
//! is answered signed there too ([`answer_signed_udp`]: BIND checks the SOA
//! over UDP, and rejects an unsigned answer to a signed query).
//!
//! NOTIFY: the public zone's after each commit of `dns::dynamic`, the router
//! zones' after each publication of a service in which a transferred zone's
//! serial changed (and once at start). A NOTIFY is signed, and only an answer
//! signed with the key and chained from its MAC (RFC 8945 §5.3), from the
//! secondary's address (a connected socket), counts; any other is ignored
//! like a lost one. The serials of router zones whose SOA is synthesized are
//! [`Serials`]'.
//!
//! Bounds: `XFR_AT_ONCE_MAX` transfers at once, all zones together (more are
//! refused); NOTIFYs go out at most once per `NOTIFY_COALESCE` (a change
//! after a quiet spell at once, the changes within the window after a NOTIFY
//! as one at its end), each retried `NOTIFY_ATTEMPTS` times until the
//! secondary answers, and a newer serial replaces a round still retrying.
//! Everything runs on the DNS I/O thread.
//!
//! Files: this one decides who may transfer what and serves it; `notify`
//! sends the NOTIFYs; `serials` keeps the router zones' synthesized serials.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::counters::Counters;
use crate::dns::answer::{Step, Transport};
use crate::dns::dynamic::DynamicZone;
use crate::dns::service::{Current, Service};
use crate::dns::tsig::{self, Checked, Key};
use crate::dns::wire::{self, CLASS_IN, HEADER_BYTES, NameBuf, Query, RCODE_REFUSED, TYPE_SOA};
use crate::dns::zone::{self, Zone, Zones};

mod notify;
mod serials;

pub use notify::{NOTIFY_ATTEMPTS, NOTIFY_COALESCE, notify_secondaries, notify_zones};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use notify::{notify_answered, notify_message};
pub use serials::Serials;

const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;

/// Transfers served at once; one more is refused until one ends.
pub const XFR_AT_ONCE_MAX: usize = 4;
/// A transfer message is closed once it holds this many bytes (TSIG and OPT
/// are added after; a TCP message may hold 65 535).
const XFR_MESSAGE_BYTES: usize = 16 * 1024;

/// Transfers served at once, the public zone's and the router zones' together.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(XFR_AT_ONCE_MAX);

/// The public zone's secondaries and the key they sign with.
#[derive(Debug)]
pub struct Transfer {
    /// Addresses notified; their IPs may transfer.
    secondaries: Vec<SocketAddr>,
    key: Key,
    dynamic: Arc<DynamicZone>,
}

impl Transfer {
    pub fn new(secondaries: Vec<SocketAddr>, key: Key, dynamic: Arc<DynamicZone>) -> Self {
        Self {
            secondaries,
            key,
            dynamic,
        }
    }
}

/// The router zones that are transferred (`[[zone]] secondaries`) and the key
/// their secondaries sign with (`[dns] tsig_key_file`); built with the config,
/// so a reload brings new ones.
#[derive(Debug)]
pub struct ZoneTransfers {
    pub key: Arc<Key>,
    /// Each zone's apex (lower-case wire) and its secondaries (never empty).
    pub zones: Vec<(Box<[u8]>, Vec<SocketAddr>)>,
}

impl ZoneTransfers {
    /// The transferred zone `name` lies in, the most specific one.
    fn zone_of(&self, name: &[u8]) -> Option<&(Box<[u8]>, Vec<SocketAddr>)> {
        self.zones
            .iter()
            .filter(|(apex, _)| zone::is_within(name, apex))
            .max_by_key(|(apex, _)| apex.len())
    }
}

/// Whose rules a request for a name falls under: the most specific
/// transferred zone's (a router zone may lie below the public one).
struct Rules<'a> {
    key: &'a Key,
    apex: &'a [u8],
    /// Set when that zone is the public one.
    public_zone: Option<&'a Transfer>,
}

impl<'a> Rules<'a> {
    /// The rules for `name`, when `client` may use them; else why not.
    fn of(
        name: &[u8],
        service: &'a Service,
        delegate: Option<&'a Transfer>,
        client: IpAddr,
        public: bool,
    ) -> Result<Self, &'static str> {
        let router_zone = service.zone_transfers.as_deref().and_then(|t| {
            let (apex, secondaries) = t.zone_of(name)?;
            Some((&*t.key, &**apex, &secondaries[..]))
        });
        let public_zone = delegate.filter(|t| {
            zone::is_within(name, t.dynamic.apex())
                && router_zone.is_none_or(|(_, apex, _)| apex.len() < t.dynamic.apex().len())
        });
        let target = match (public_zone, router_zone) {
            (Some(t), _) => Some((&t.key, t.dynamic.apex(), &t.secondaries[..])),
            (None, zone) => zone,
        };
        let Some((key, apex, secondaries)) = target else {
            return Err("no zone transferred there");
        };
        // A router zone is the LAN's: its secondaries must be inside the ACL
        // too (outside it, only the public zone is answered).
        if public && public_zone.is_none() {
            return Err("outside the acl");
        }
        if !secondaries.iter().any(|s| s.ip() == client) {
            return Err("not a secondary");
        }
        Ok(Self {
            key,
            apex,
            public_zone,
        })
    }
}

/// A TSIG-signed ordinary query over UDP (BIND checks the primary's SOA over
/// UDP, and rejects an unsigned answer to a signed query, RFC 8945 §5.3): for
/// a transferred zone, from one of its secondaries, with a valid signature,
/// answered as usual into `response` and signed; with a wrong key, signature
/// or time, NOTAUTH with the TSIG error, counted as over TCP. `false` for
/// anything else (unsigned, malformed, a transfer, no transferred zone there,
/// not a secondary): the answer path answers it as before.
#[allow(clippy::too_many_arguments)]
pub fn answer_signed_udp(
    client: IpAddr,
    public: bool,
    request: &[u8],
    service: &Service,
    delegate: Option<&Transfer>,
    query: &mut Query,
    response: &mut Vec<u8>,
    counters: &Counters,
) -> bool {
    let Some(question) = Question::parse(request) else {
        return false;
    };
    if matches!(question.qtype, TYPE_AXFR | TYPE_IXFR) {
        return false;
    }
    let Ok(rules) = Rules::of(question.name.as_bytes(), service, delegate, client, public) else {
        return false;
    };
    let now = crate::clock::unix_seconds();
    match tsig::check(request, rules.key, now) {
        Checked::Valid(signature) => {
            let Some(unsigned) = tsig::strip(request, &signature) else {
                return false;
            };
            log::debug!(
                "signed query from {client} over UDP: type {}",
                question.qtype
            );
            response.clear();
            let step = service
                .answerer
                .answer(public, &unsigned, Transport::Udp, query, response);
            if !matches!(step, Step::Send) || response.len() < HEADER_BYTES {
                *response = question.reply(request, RCODE_REFUSED);
            }
            tsig::sign(response, rules.key, Some(&signature.mac), false, now);
            true
        }
        Checked::Refused(signature, error) => {
            log::debug!("signed query from {client} over UDP: refused, TSIG error {error}");
            counters.process.xfr_refused.fetch_add(1, Relaxed);
            *response = question.reply(request, tsig::RCODE_NOTAUTH);
            tsig::refuse(response, rules.key, &signature, error, now);
            true
        }
        Checked::Unsigned | Checked::Malformed => false,
    }
}

/// Answers `request` (a [`wants`] one) from `client` on `stream`: the
/// transfer, a signed answer, or the refusal. The zone asked for decides whose
/// rules apply: the public zone's (`delegate`), or a router zone's
/// (`service.zone_transfers`). An error closes the connection.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    stream: &mut tokio::net::TcpStream,
    client: IpAddr,
    public: bool,
    request: &[u8],
    service: &Service,
    delegate: Option<&Transfer>,
    counters: &Counters,
    write_timeout: Duration,
) -> io::Result<()> {
    let now = crate::clock::unix_seconds();
    let answerer = &service.answerer;
    let Some(question) = Question::parse(request) else {
        counters.process.xfr_refused.fetch_add(1, Relaxed);
        return send(stream, &refusal(request, RCODE_FORMERR), write_timeout).await;
    };
    let refuse = |why: &str| {
        log::debug!("zone transfer: refused {client}: {why}");
        counters.process.xfr_refused.fetch_add(1, Relaxed);
    };
    let name = question.name.as_bytes();
    let rules = match Rules::of(name, service, delegate, client, public) {
        Ok(rules) => rules,
        Err(why) => {
            refuse(why);
            return send(
                stream,
                &question.reply(request, RCODE_REFUSED),
                write_timeout,
            )
            .await;
        }
    };
    let Rules {
        key,
        apex,
        public_zone,
    } = rules;
    let refusal = match tsig::check(request, key, now) {
        Checked::Valid(signature) => Ok(signature),
        Checked::Unsigned => Err(("no TSIG".to_string(), RCODE_REFUSED, None)),
        Checked::Malformed => Err(("malformed TSIG".to_string(), RCODE_FORMERR, None)),
        Checked::Refused(signature, error) => Err((
            format!("TSIG error {error}"),
            tsig::RCODE_NOTAUTH,
            Some((signature, error)),
        )),
    };
    let signature = match refusal {
        Ok(signature) => signature,
        Err((why, rcode, tsig_error)) => {
            refuse(&why);
            let mut reply = question.reply(request, rcode);
            if let Some((signature, error)) = tsig_error {
                tsig::refuse(&mut reply, key, &signature, error, now);
            }
            return send(stream, &reply, write_timeout).await;
        }
    };
    log::debug!("signed query from {client}: type {}", question.qtype);
    let signed_reply = |rcode: u8| {
        let mut reply = question.reply(request, rcode);
        tsig::sign(&mut reply, key, Some(&signature.mac), false, now);
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
        let step = answerer.answer(public, &unsigned, Transport::Tcp, &mut query, &mut response);
        if !matches!(step, Step::Send) || response.len() < HEADER_BYTES {
            return send(stream, &signed_reply(RCODE_REFUSED), write_timeout).await;
        }
        tsig::sign(&mut response, key, Some(&signature.mac), false, now);
        return send(stream, &response, write_timeout).await;
    }
    let zone = answerer.zone_at(apex);
    let Some(zone) = zone.filter(|_| name == apex && question.qclass == CLASS_IN) else {
        refuse("not the apex of a transferred zone");
        return send(stream, &signed_reply(tsig::RCODE_NOTAUTH), write_timeout).await;
    };
    let Ok(_slot) = SLOTS.try_acquire() else {
        refuse("too many transfers at once");
        return send(stream, &signed_reply(RCODE_REFUSED), write_timeout).await;
    };
    let client_serial = (question.qtype == TYPE_IXFR)
        .then(|| ixfr_serial(request))
        .flatten();
    let mut packer = Packer::new(key, request, &question, signature.mac.clone(), now);
    let sent = match public_zone {
        Some(transfer) => {
            public_records(
                stream,
                &mut packer,
                transfer,
                zone,
                client_serial,
                write_timeout,
            )
            .await?
        }
        None => zone_records(stream, &mut packer, zone, client_serial, write_timeout).await?,
    };
    let Some((kind, serial)) = sent else {
        return send(stream, &signed_reply(RCODE_SERVFAIL), write_timeout).await;
    };
    let last = packer.finish();
    send(stream, &last, write_timeout).await?;
    counters.process.xfr_served.fetch_add(1, Relaxed);
    log::info!(
        "zone transfer: {} of {} ({kind}) to {client}, serial {serial}, {} records",
        if question.qtype == TYPE_AXFR {
            "AXFR"
        } else {
            "IXFR"
        },
        wire::name_to_string(apex),
        packer.records
    );
    Ok(())
}

/// Adds a record to `$packer`, sending the message it closed on `$stream`.
macro_rules! push {
    ($stream:expr, $packer:expr, $timeout:expr, $name:expr, $rtype:expr, $ttl:expr, $rdata:expr) => {
        if let Some(message) = $packer.push($name, $rtype, $ttl, $rdata) {
            send($stream, &message, $timeout).await?;
        }
    };
}

/// The public zone's records: for IXFR from a serial the journal reaches, the
/// changes since (RFC 1995 §4); at the current serial, the SOA alone; else
/// the whole zone (AXFR, or AXFR-style IXFR). Returns what was sent and the
/// serial, `None` when the zone has no SOA.
async fn public_records(
    stream: &mut tokio::net::TcpStream,
    packer: &mut Packer<'_>,
    transfer: &Transfer,
    zone: &Zone,
    client_serial: Option<u32>,
    timeout: Duration,
) -> io::Result<Option<(&'static str, u32)>> {
    let changes = client_serial.and_then(|from| transfer.dynamic.changes_since(from));
    let (owners, serial) = match &changes {
        Some((_, serial)) => (Vec::new(), *serial),
        None => transfer.dynamic.snapshot(),
    };
    let Some(soa) = soa_rdata(zone, serial) else {
        return Ok(None);
    };
    let apex = transfer.dynamic.apex();
    push!(stream, packer, timeout, apex, TYPE_SOA, soa.0, &soa.1);
    if client_serial == Some(serial) {
        return Ok(Some(("up to date", serial)));
    }
    if let Some((deltas, _)) = &changes {
        for delta in deltas {
            let mut at = soa.1.clone();
            let serial_at = at.len() - 20;
            // RFC 1995 §4: the old SOA and what left, the new SOA and what came.
            for (serial, records) in [(delta.from, &delta.removed), (delta.to, &delta.added)] {
                at[serial_at..serial_at + 4].copy_from_slice(&serial.to_be_bytes());
                push!(stream, packer, timeout, apex, TYPE_SOA, soa.0, &at);
                for (name, record) in records {
                    let (rtype, ttl) = (record.rtype, record.ttl);
                    push!(stream, packer, timeout, name, rtype, ttl, &record.rdata);
                }
            }
        }
        push!(stream, packer, timeout, apex, TYPE_SOA, soa.0, &soa.1);
        return Ok(Some(("incremental", serial)));
    }
    for (name, rtype, ttl, rdata) in &static_sets(zone) {
        push!(stream, packer, timeout, name, *rtype, *ttl, rdata);
    }
    for (label, own) in owners {
        let Some(name) = transfer.dynamic.owner_name(&label) else {
            continue;
        };
        for record in own.iter() {
            push!(
                stream,
                packer,
                timeout,
                &name,
                record.rtype,
                record.ttl,
                &record.rdata
            );
        }
        for (full, record) in transfer.dynamic.template_at(&name) {
            push!(
                stream,
                packer,
                timeout,
                &full,
                record.rtype,
                record.ttl,
                &record.rdata
            );
        }
    }
    push!(stream, packer, timeout, apex, TYPE_SOA, soa.0, &soa.1);
    Ok(Some(("whole zone", serial)))
}

/// A router zone's records: the SOA alone to a secondary at the current serial
/// (IXFR), else the whole zone between two SOAs (AXFR, or AXFR-style IXFR: no
/// journal is kept for these zones, RFC 1995 §4 allows it).
async fn zone_records(
    stream: &mut tokio::net::TcpStream,
    packer: &mut Packer<'_>,
    zone: &Zone,
    client_serial: Option<u32>,
    timeout: Duration,
) -> io::Result<Option<(&'static str, u32)>> {
    let Some(serial) = zone.serial() else {
        return Ok(None);
    };
    let Some(soa) = soa_rdata(zone, serial) else {
        return Ok(None);
    };
    push!(stream, packer, timeout, &zone.apex, TYPE_SOA, soa.0, &soa.1);
    if client_serial == Some(serial) {
        return Ok(Some(("up to date", serial)));
    }
    // Node by node, so that a message is sent as soon as it is full: a big
    // zone is never copied (the zone is immutable: a reload builds another).
    let mut offset = 0;
    let mut closed = Vec::new();
    loop {
        let next = zone.visit_node(offset, |name, set| {
            if set.rtype == TYPE_SOA && name == &*zone.apex {
                return;
            }
            for rdata in set.rdatas() {
                closed.extend(packer.push(name, set.rtype, set.ttl, rdata));
            }
        });
        let Some(next) = next else {
            break;
        };
        for message in closed.drain(..) {
            send(stream, &message, timeout).await?;
        }
        offset = next;
    }
    push!(stream, packer, timeout, &zone.apex, TYPE_SOA, soa.0, &soa.1);
    Ok(Some(("whole zone", serial)))
}

/// The zone's record sets but the SOA, copied (so that sending does not hold
/// a borrow of the zone's visitor across an await).
fn static_sets(zone: &Zone) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
    let mut sets = Vec::new();
    zone.each_set(|name, set| {
        if set.rtype != TYPE_SOA {
            for rdata in set.rdatas() {
                sets.push((name.to_vec(), set.rtype, set.ttl, rdata.to_vec()));
            }
        }
    });
    sets
}

/// True when `request` is for this module: a zone transfer, or signed (when
/// `signed_too`: some zone's secondaries sign).
pub fn wants(request: &[u8], signed_too: bool) -> bool {
    Question::parse(request).is_some_and(|q| matches!(q.qtype, TYPE_AXFR | TYPE_IXFR))
        || (signed_too && tsig::is_signed(request))
}

/// The one question of a request.
pub(crate) struct Question {
    id: u16,
    flags: u16,
    pub(crate) name: NameBuf,
    pub(crate) qtype: u16,
    qclass: u16,
    /// End of the question in the request.
    pub(crate) end: usize,
}

impl Question {
    pub(crate) fn parse(request: &[u8]) -> Option<Self> {
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
    pub(crate) fn reply(&self, request: &[u8], rcode: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let flags = FLAG_QR | (self.flags & 0x7900) | FLAG_AA | u16::from(rcode);
        wire::write_header(&mut out, self.id, flags, [1, 0, 0, 0]);
        out.extend_from_slice(request.get(HEADER_BYTES..self.end).unwrap_or_default());
        out
    }
}

/// A response to a request without a readable question: its header only.
pub(crate) fn refusal(request: &[u8], rcode: u8) -> Vec<u8> {
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
pub(crate) fn ixfr_serial(request: &[u8]) -> Option<u32> {
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
pub(crate) struct Packer<'k> {
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
    /// Records pushed.
    records: usize,
}

impl<'k> Packer<'k> {
    pub(crate) fn new(
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
            records: 0,
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
    pub(crate) fn push(
        &mut self,
        name: &[u8],
        rtype: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Option<Vec<u8>> {
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
        self.records += 1;
        closed
    }

    /// Closes the current message: counts, OPT, TSIG; starts the next.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
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
pub(crate) fn has_opt(request: &[u8], question_end: usize) -> bool {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    /// The key of the tests of this module and its children.
    pub(super) fn key(secret: &[u8]) -> Key {
        Key::new(b"\x03xfr\x00".to_vec().into(), secret)
    }

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
        assert!(wants(&packet, false));
        for len in 0..packet.len() {
            let cut = &packet[..len];
            let _ = (
                wants(cut, true),
                ixfr_serial(cut),
                Question::parse(cut).is_some(),
            );
            let _ = refusal(cut, 1);
        }
        for at in 0..packet.len() {
            let mut broken = packet.clone();
            broken[at] ^= 0xff;
            let _ = (
                wants(&broken, true),
                ixfr_serial(&broken),
                has_opt(&broken, 12),
            );
        }
    }
}
