//! The forwarder: names that are not local and not cached go to the upstreams.
//!
//! Owns the upstream exchange and its defences. Each query upstream gets a random
//! ID and a fresh socket (a random source port from the kernel), connected to the
//! upstream so datagrams from anyone else are never read; an answer is used only
//! when its ID, QR bit and question (name, type, class) match, otherwise it is
//! ignored and the wait goes on (spoofing resistance). TC=1 is retried over TCP.
//! Upstreams are tried fastest first by smoothed round-trip time, each with a
//! timeout of a few round trips, failing over to the next. A question already
//! upstream is not asked again: later identical queries wait for its answer. At
//! most `INFLIGHT_MAX` questions are upstream at once.
//!
//! The result goes into the cache, and the client's response is then written by
//! the ordinary answer path from the cache, so local and forwarded answers share
//! one writer (flags, EDNS, truncation). What the cache will not keep (SERVFAIL,
//! NODATA without SOA) is relayed with the client's ID and question.
//!
//! Runs on the DNS TCP thread's tokio runtime: UDP threads hand over a [`Job`]
//! through a bounded channel and go back to their socket at once.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dns::answer::{self, Action, Answerer, Transport};
use crate::dns::cache::Cache;
use crate::dns::dot::{self, DotClient};
use crate::dns::ipname;
use crate::dns::wire::{self, HEADER_BYTES, NameBuf, Query};
use crate::dns::wire::{RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL, TYPE_A, TYPE_AAAA};

/// Queries upstream at once; beyond this new ones are answered SERVFAIL.
pub const INFLIGHT_MAX: usize = 512;
/// Jobs waiting for the forwarder thread; beyond this UDP threads drop (counted).
pub const QUEUE_MAX: usize = 1024;
/// Largest upstream answer read over UDP (we advertise 1232; some send more).
const UDP_RESPONSE_BYTES_MAX: usize = 4096;
/// Round-trip estimate of an upstream not yet measured.
const SRTT_INITIAL_MS: u32 = 100;
/// A failed attempt counts as this round trip, so a dead upstream sinks.
const SRTT_FAILURE_MS: u32 = 3000;
/// Per-attempt timeout bounds: a few round trips, never below the first nor above
/// the second.
const TIMEOUT_MIN_MS: u32 = 250;
const TIMEOUT_MAX_MS: u32 = 1500;
/// TCP retry after TC=1: connect, send and read the whole answer within this.
const TCP_TIMEOUT: Duration = Duration::from_secs(3);
/// DNS over TLS: a new connection costs a TCP and a TLS handshake first.
const DOT_TIMEOUT: Duration = Duration::from_secs(4);

/// A client query the UDP thread could not answer locally or from the cache.
#[derive(Debug)]
pub struct Job {
    pub packet: Vec<u8>,
    pub peer: SocketAddr,
    /// The socket the query came in on; the answer leaves from it.
    pub socket: Arc<UdpSocket>,
}

/// An upstream as the config names it: plain DNS, or DNS over TLS with the name
/// its certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub address: SocketAddr,
    pub tls_name: Option<String>,
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tls_name {
            Some(name) => write!(f, "tls://{}#{name}", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

/// An upstream with its health.
#[derive(Debug)]
struct Peer {
    address: SocketAddr,
    /// Present for DNS over TLS (then no UDP at all).
    dot: Option<DotClient>,
    /// Smoothed round-trip time in milliseconds (RFC 6298 style, gain 1/8).
    srtt_ms: AtomicU32,
    failures: AtomicUsize,
    answers: AtomicUsize,
}

impl Peer {
    fn timeout(&self) -> Duration {
        let ms = self.srtt_ms.load(Relaxed).saturating_mul(3);
        Duration::from_millis(u64::from(ms.clamp(TIMEOUT_MIN_MS, TIMEOUT_MAX_MS)))
    }

    fn record(&self, sample_ms: u32, ok: bool) {
        let old = self.srtt_ms.load(Relaxed);
        let sample = if ok { sample_ms } else { SRTT_FAILURE_MS };
        self.srtt_ms
            .store((old.saturating_mul(7).saturating_add(sample)) / 8, Relaxed);
        let counter = if ok { &self.answers } else { &self.failures };
        counter.fetch_add(1, Relaxed);
    }
}

/// What the config says about forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Servers for every name without a route.
    pub upstreams: Vec<Upstream>,
    /// (domain as lower-case wire, its servers): names under it go there only.
    pub routes: Vec<(Vec<u8>, Vec<Upstream>)>,
    /// Extra trust anchors for DNS over TLS.
    pub ca_file: Option<std::path::PathBuf>,
    pub serve_stale: bool,
    pub rebind_protection: bool,
    /// Domains (lower-case wire) whose answers may carry private addresses.
    pub rebind_allow: Vec<Vec<u8>>,
}

/// The upstreams, their health, and the cache answers go into.
#[derive(Debug)]
pub struct Forwarder {
    upstreams: Box<[Peer]>,
    routes: HashMap<Box<[u8]>, Box<[Peer]>>,
    cache: Arc<Cache>,
    serve_stale: bool,
    rebind_protection: bool,
    rebind_allow: HashSet<Box<[u8]>>,
    inflight: AtomicUsize,
    /// Questions upstream now, with the clients waiting for the same answer.
    pending: Mutex<HashMap<PendingKey, Waiters>>,
    /// Queries that waited for an identical one already upstream.
    pub merged: AtomicUsize,
    /// Answers served stale because every upstream failed.
    pub stale_served: AtomicUsize,
    /// Upstream answers dropped by rebinding protection.
    pub rebind_dropped: AtomicUsize,
}

fn peers(upstreams: &[Upstream], roots: Option<&Arc<rustls::RootCertStore>>) -> Box<[Peer]> {
    upstreams
        .iter()
        .filter_map(|upstream| {
            let dot = match (&upstream.tls_name, roots) {
                (None, _) => None,
                (Some(name), Some(roots)) => {
                    match DotClient::new(upstream.address, name, roots.clone()) {
                        Ok(client) => Some(client),
                        Err(e) => {
                            log::error!("upstream {upstream}: {e}");
                            return None;
                        }
                    }
                }
                (Some(_), None) => {
                    log::error!("upstream {upstream}: no trust anchors for TLS");
                    return None;
                }
            };
            Some(Peer {
                address: upstream.address,
                dot,
                srtt_ms: AtomicU32::new(SRTT_INITIAL_MS),
                failures: AtomicUsize::new(0),
                answers: AtomicUsize::new(0),
            })
        })
        .collect()
}

impl Forwarder {
    pub fn new(settings: &Settings, cache: Arc<Cache>) -> Self {
        let tls = settings
            .upstreams
            .iter()
            .chain(settings.routes.iter().flat_map(|(_, r)| r));
        let roots = if tls.clone().any(|u| u.tls_name.is_some()) {
            dot::roots(settings.ca_file.as_deref())
                .map_err(|e| log::error!("DNS over TLS: {e}"))
                .ok()
        } else {
            None
        };
        let roots = roots.as_ref();
        Self {
            upstreams: peers(&settings.upstreams, roots),
            routes: settings
                .routes
                .iter()
                .map(|(domain, servers)| (domain.as_slice().into(), peers(servers, roots)))
                .collect(),
            cache,
            serve_stale: settings.serve_stale,
            rebind_protection: settings.rebind_protection,
            rebind_allow: settings
                .rebind_allow
                .iter()
                .map(|d| d.as_slice().into())
                .collect(),
            inflight: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            merged: AtomicUsize::new(0),
            stale_served: AtomicUsize::new(0),
            rebind_dropped: AtomicUsize::new(0),
        }
    }

    /// Queries upstream right now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Relaxed)
    }

    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// Per upstream: address, answers, failures, smoothed RTT in ms.
    pub fn health(&self) -> Vec<(SocketAddr, usize, usize, u32)> {
        self.upstreams
            .iter()
            .chain(self.routes.values().flat_map(|r| r.iter()))
            .map(|u| {
                let (a, f) = (u.answers.load(Relaxed), u.failures.load(Relaxed));
                (u.address, a, f, u.srtt_ms.load(Relaxed))
            })
            .collect()
    }

    /// Answers `packet` through the upstreams: the response to send, or `None` to
    /// send nothing.
    pub async fn resolve(
        &self,
        answerer: &Answerer,
        packet: &[u8],
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let mut query = Query::empty();
        let mut out = Vec::new();
        // Asked again here: the answer may have been cached meanwhile, and the
        // answerer says which name to fetch (the question's, or where a local CNAME
        // chain leaves local data).
        let target = match answerer.answer(packet, transport, &mut query, &mut out) {
            Action::Send => return Some(out),
            Action::Drop => return None,
            Action::Forward => std::mem::take(&mut out),
        };
        let question = Question {
            name: &target,
            qtype: query.qtype,
            qclass: query.qclass,
        };
        let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
        if self.inflight.fetch_add(1, Relaxed) >= INFLIGHT_MAX {
            self.inflight.fetch_sub(1, Relaxed);
            answerer.error(packet, &query, RCODE_SERVFAIL, &mut out);
            return Some(out);
        }
        let response = self
            .exchange_merged(&question, query.flags, dnssec_ok)
            .await;
        self.inflight.fetch_sub(1, Relaxed);
        let Some(response) = response else {
            if self.serve_stale
                && answerer.answer_stale(packet, transport, &mut query, &mut out) == Action::Send
            {
                self.stale_served.fetch_add(1, Relaxed);
                return Some(out);
            }
            answerer.error(packet, &query, RCODE_SERVFAIL, &mut out);
            return Some(out);
        };
        if self.rebind_protection
            && !self.rebind_exempt(answerer, query.name.as_bytes())
            && rebinds(&response, question.end())
        {
            self.rebind_dropped.fetch_add(1, Relaxed);
            log::info!(
                "possible DNS rebinding: an upstream answer for {} carries a private address; answered NXDOMAIN",
                wire::name_to_string(&target)
            );
            answerer.error(packet, &query, RCODE_NXDOMAIN, &mut out);
            return Some(out);
        }
        let cached = self.cache.insert(
            &target,
            query.qtype,
            query.qclass,
            dnssec_ok,
            &response,
            crate::clock::monotonic_secs(),
            None,
        );
        if cached && answerer.answer(packet, transport, &mut query, &mut out) == Action::Send {
            return Some(out);
        }
        if target.as_slice() == query.name.as_bytes()
            && relay(&response, packet, &query, transport, &mut out)
        {
            return Some(out);
        }
        answerer.error(packet, &query, RCODE_SERVFAIL, &mut out);
        Some(out)
    }

    /// Our own zones and `rebind_allow` domains may resolve to private addresses.
    fn rebind_exempt(&self, answerer: &Answerer, name: &[u8]) -> bool {
        answerer.is_local_zone(name)
            || crate::dns::zone::suffixes(name).any(|s| self.rebind_allow.contains(s))
    }

    /// The upstreams for `name` (its most specific route, else the default) by
    /// smoothed RTT, fastest first.
    fn order(&self, name: &[u8]) -> Vec<&Peer> {
        let group = crate::dns::zone::suffixes(name)
            .find_map(|s| self.routes.get(s))
            .unwrap_or(&self.upstreams);
        let mut order: Vec<&Peer> = group.iter().collect();
        order.sort_by_key(|u| u.srtt_ms.load(Relaxed));
        order
    }

    /// Like [`Forwarder::exchange`], but a question already upstream is not asked
    /// again: this query waits for that answer.
    async fn exchange_merged(
        &self,
        question: &Question<'_>,
        flags: u16,
        dnssec_ok: bool,
    ) -> Option<Arc<Vec<u8>>> {
        let key: PendingKey = (
            question.name.into(),
            question.qtype,
            question.qclass,
            dnssec_ok,
            flags & FLAG_CD != 0,
        );
        let waiting = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            match pending.get_mut(&key) {
                Some(waiters) => {
                    let (sender, receiver) = tokio::sync::oneshot::channel();
                    waiters.push(sender);
                    Some(receiver)
                }
                None => {
                    pending.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(receiver) = waiting {
            self.merged.fetch_add(1, Relaxed);
            return receiver.await.ok().flatten();
        }
        // Whatever happens to this task (even cancellation), the waiters hear.
        let mut leader = Leader {
            pending: &self.pending,
            key: Some(key),
            result: None,
        };
        leader.result = self
            .exchange(question, flags, dnssec_ok)
            .await
            .map(Arc::new);
        leader.result.clone()
    }

    /// One validated upstream response, trying each upstream at most once.
    async fn exchange(
        &self,
        question: &Question<'_>,
        flags: u16,
        dnssec_ok: bool,
    ) -> Option<Vec<u8>> {
        let id = random_u16();
        let plain = request(question, flags, dnssec_ok, id, false);
        let mut padded = None;
        for upstream in self.order(question.name) {
            let started = Instant::now();
            let result = if let Some(dot) = &upstream.dot {
                let padded =
                    padded.get_or_insert_with(|| request(question, flags, dnssec_ok, id, true));
                dot_exchange(dot, padded, id, question).await
            } else {
                match udp_exchange(upstream, &plain, id, question).await {
                    Ok(response) if response.get(2).is_some_and(|f| f & 0x02 != 0) => {
                        tcp_exchange(upstream.address, &plain, id, question).await
                    }
                    other => other,
                }
            };
            let elapsed = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
            match result {
                Ok(response) => {
                    upstream.record(elapsed, true);
                    return Some(response);
                }
                Err(e) => {
                    log::debug!("upstream {}: {e}", upstream.address);
                    upstream.record(elapsed, false);
                }
            }
        }
        None
    }
}

/// Identical questions: name, type, class, DO and CD.
type PendingKey = (Box<[u8]>, u16, u16, bool, bool);
type Waiters = Vec<tokio::sync::oneshot::Sender<Option<Arc<Vec<u8>>>>>;
const FLAG_CD: u16 = 0x0010;

/// The query that went upstream for a question; when it ends (or is dropped), the
/// queries merged into it get its result and the question leaves `pending`.
struct Leader<'a> {
    pending: &'a Mutex<HashMap<PendingKey, Waiters>>,
    key: Option<PendingKey>,
    result: Option<Arc<Vec<u8>>>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let waiters = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(self.result.clone());
        }
    }
}

/// What is asked upstream: a name (lower-case wire), type and class.
struct Question<'a> {
    name: &'a [u8],
    qtype: u16,
    qclass: u16,
}

impl Question<'_> {
    /// Where the question section of a message asking it ends.
    fn end(&self) -> usize {
        HEADER_BYTES + self.name.len() + 4
    }
}

/// A fresh query for the upstream: our ID, RD=1 (the client's CD copied), the
/// question in lower case, and EDNS advertising our UDP size with the client's DO.
/// `pad`: over TLS, padded to a multiple of 128 bytes (RFC 8467), so the length
/// of an encrypted query says little about the name in it.
fn request(
    question: &Question<'_>,
    client_flags: u16,
    dnssec_ok: bool,
    id: u16,
    pad: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(question.end() + 11 + PAD_BLOCK_BYTES);
    let flags = 0x0100 | (client_flags & FLAG_CD);
    wire::write_header(&mut out, id, flags, [1, 0, 0, 1]);
    out.extend_from_slice(question.name);
    out.extend_from_slice(&question.qtype.to_be_bytes());
    out.extend_from_slice(&question.qclass.to_be_bytes());
    out.extend_from_slice(&[0, 0, 41]);
    out.extend_from_slice(&wire::EDNS_PAYLOAD_BYTES.to_be_bytes());
    out.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    if pad {
        // The Padding option (code 12): its 4-byte header and zeros.
        let unpadded = out.len() + 4;
        let zeros = (PAD_BLOCK_BYTES - unpadded % PAD_BLOCK_BYTES) % PAD_BLOCK_BYTES;
        let rdlength = (4 + zeros) as u16;
        let at = out.len() - 2;
        out[at..].copy_from_slice(&rdlength.to_be_bytes());
        out.extend_from_slice(&[0, 12]);
        out.extend_from_slice(&(zeros as u16).to_be_bytes());
        out.resize(out.len() + zeros, 0);
    }
    out
}

/// RFC 8467 §4.1: queries padded to multiples of 128 bytes.
const PAD_BLOCK_BYTES: usize = 128;

async fn dot_exchange(
    dot: &DotClient,
    request: &[u8],
    id: u16,
    question: &Question<'_>,
) -> io::Result<Vec<u8>> {
    let response = dot.exchange(request, DOT_TIMEOUT).await?;
    if matches(&response, id, question) {
        Ok(response)
    } else {
        Err(io::Error::other("DoT answer does not match the question"))
    }
}

/// True when `response` answers our request `id` for `question`.
fn matches(response: &[u8], id: u16, question: &Question<'_>) -> bool {
    if response.len() < HEADER_BYTES
        || u16::from_be_bytes([response[0], response[1]]) != id
        || response[2] & 0x80 == 0
        || response[2] & 0x78 != 0
        || u16::from_be_bytes([response[4], response[5]]) != 1
    {
        return false;
    }
    let mut name = NameBuf::empty();
    let Some(end) = name.parse(response, HEADER_BYTES) else {
        return false;
    };
    let Some(tail) = response.get(end..end + 4) else {
        return false;
    };
    // Same layout as the client's question (no compression in it), so the answer's
    // sections can follow the client's question as they are.
    end + 4 == question.end()
        && name.as_bytes() == question.name
        && u16::from_be_bytes([tail[0], tail[1]]) == question.qtype
        && u16::from_be_bytes([tail[2], tail[3]]) == question.qclass
}

async fn udp_exchange(
    upstream: &Peer,
    request: &[u8],
    id: u16,
    question: &Question<'_>,
) -> io::Result<Vec<u8>> {
    let local: IpAddr = match upstream.address {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    // Port 0: the kernel picks a random source port for every query.
    let socket = tokio::net::UdpSocket::bind((local, 0)).await?;
    socket.connect(upstream.address).await?;
    socket.send(request).await?;
    let deadline = tokio::time::Instant::now() + upstream.timeout();
    let mut buf = vec![0u8; UDP_RESPONSE_BYTES_MAX];
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
        let len = match received {
            Ok(Ok(len)) => len,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer")),
        };
        if matches(&buf[..len], id, question) {
            buf.truncate(len);
            return Ok(buf);
        }
        log::debug!(
            "upstream {}: ignored an answer that does not match",
            upstream.address
        );
    }
}

async fn tcp_exchange(
    address: SocketAddr,
    request: &[u8],
    id: u16,
    question: &Question<'_>,
) -> io::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let length = u16::try_from(request.len()).map_err(io::Error::other)?;
        let mut framed = length.to_be_bytes().to_vec();
        framed.extend_from_slice(request);
        stream.write_all(&framed).await?;
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut buf).await?;
        Ok::<_, io::Error>(buf)
    };
    let buf = tokio::time::timeout(TCP_TIMEOUT, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TCP answer timed out"))??;
    if matches(&buf, id, question) {
        Ok(buf)
    } else {
        Err(io::Error::other("TCP answer does not match the question"))
    }
}

/// Passes on an upstream answer the cache did not keep: the client's ID, flags and
/// question, the upstream's answer and authority sections, our own OPT. Cut to the
/// question with TC=1 when over the client's limit.
fn relay(
    response: &[u8],
    packet: &[u8],
    query: &Query,
    transport: Transport,
    out: &mut Vec<u8>,
) -> bool {
    let question_end = query.question_end;
    if response.len() < question_end {
        return false;
    }
    let counts = |i: usize| u16::from_be_bytes([response[4 + 2 * i], response[5 + 2 * i]]);
    let (answers, authorities) = (counts(1), counts(2));
    let Some(end) = skip_records(
        response,
        question_end,
        usize::from(answers) + usize::from(authorities),
    ) else {
        return false;
    };
    let rcode = response[3] & 0x0f;
    let rcode = if matches!(rcode, RCODE_NOERROR | RCODE_NXDOMAIN) {
        rcode
    } else {
        RCODE_SERVFAIL
    };
    let flags = wire::response_flags(query.flags, false, true, rcode);
    wire::write_header(out, query.id, flags, [1, answers, authorities, 0]);
    out.extend_from_slice(&packet[HEADER_BYTES..question_end]);
    out.extend_from_slice(&response[question_end..end]);
    answer::finish(out, query, transport, [answers, authorities], flags, 0);
    true
}

/// The offset after `count` resource records starting at `pos`.
fn skip_records(message: &[u8], pos: usize, count: usize) -> Option<usize> {
    let mut end = pos;
    for record in records(message, pos).take(count) {
        end = record?.end;
    }
    Some(end)
}

/// One resource record's type, data and end offset.
struct Record<'m> {
    rtype: u16,
    data: &'m [u8],
    end: usize,
}

/// The records from `pos` on, each `None` (and then nothing more) when malformed.
fn records(message: &[u8], mut pos: usize) -> impl Iterator<Item = Option<Record<'_>>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= message.len() {
            return None;
        }
        let record = (|| {
            pos = wire::skip_name(message, pos)?;
            let fixed = message.get(pos..pos + 10)?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let data = message.get(pos + 10..pos + 10 + rdlength)?;
            pos += 10 + rdlength;
            Some(Record {
                rtype,
                data,
                end: pos,
            })
        })();
        failed = record.is_none();
        Some(record)
    })
}

/// True when the answer section holds an address only a LAN can mean (private,
/// loopback, link-local, ULA) or none at all (0.0.0.0/8, ::): a DNS rebinding
/// attempt. A malformed answer counts as one too.
fn rebinds(response: &[u8], question_end: usize) -> bool {
    let Some(count) = response.get(6..8).map(|c| u16::from_be_bytes([c[0], c[1]])) else {
        return true;
    };
    for record in records(response, question_end).take(usize::from(count)) {
        let Some(record) = record else {
            return true;
        };
        let ip: IpAddr = match (record.rtype, record.data.len()) {
            (TYPE_A, 4) => Ipv4Addr::new(
                record.data[0],
                record.data[1],
                record.data[2],
                record.data[3],
            )
            .into(),
            (TYPE_AAAA, 16) => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(record.data);
                let v6 = Ipv6Addr::from(octets);
                v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
            }
            _ => continue,
        };
        let nowhere = match ip {
            IpAddr::V4(v4) => v4.octets()[0] == 0,
            IpAddr::V6(v6) => v6.is_unspecified(),
        };
        if nowhere || ipname::is_private(ip) {
            return true;
        }
    }
    false
}

/// The name servers of a resolv.conf, leaving out `ours` (lanseal's own listen
/// addresses: forwarding to ourselves would loop) and loopback servers on port 53
/// when we listen on a wildcard address there.
pub fn parse_resolv_conf(text: &str, ours: &[SocketAddr]) -> Vec<Upstream> {
    let wildcard_53 = ours
        .iter()
        .any(|a| a.port() == 53 && a.ip().is_unspecified());
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        // "fe80::1%eth0": the zone index cannot be used without an interface lookup.
        .filter_map(|address| address.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .filter(|server| {
            let own = ours.contains(server) || (wildcard_53 && server.ip().is_loopback());
            !own && !server.ip().is_unspecified()
        })
        .take(MAX_RESOLV_SERVERS)
        .map(|address| Upstream {
            address,
            tls_name: None,
        })
        .collect()
}

/// glibc reads at most three; OpenWrt's file may list more, all are used.
const MAX_RESOLV_SERVERS: usize = 8;

/// An unpredictable 16-bit number: SipHash with a random key over a counter.
fn random_u16() -> u16 {
    static STATE: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut hasher = STATE
        .get_or_init(std::collections::hash_map::RandomState::new)
        .build_hasher();
    hasher.write_usize(COUNTER.fetch_add(1, Relaxed));
    hasher.finish() as u16
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::wire::Parsed;

    fn query(name: &[u8]) -> (Vec<u8>, Query) {
        let mut p = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(name);
        p.extend_from_slice(&[0, 1, 0, 1]);
        let mut q = Query::empty();
        assert!(matches!(q.parse(&p), Parsed::Query));
        (p, q)
    }

    #[test]
    fn answers_must_match_the_question() {
        let (_, q) = query(b"\x03Www\x07example\x03org\x00");
        let question = Question {
            name: q.name.as_bytes(),
            qtype: q.qtype,
            qclass: q.qclass,
        };
        let req = request(&question, q.flags, false, 0x1234, false);
        let q = &question;
        let mut good = req.clone();
        good[2] |= 0x80;
        assert!(matches(&good, 0x1234, q));
        // Upper case in the answer's question is the same name.
        let mut case = good.clone();
        case[13] = b'W';
        assert!(matches(&case, 0x1234, q));
        assert!(!matches(&good, 0x1235, q), "wrong ID");
        assert!(!matches(&req, 0x1234, q), "not a response");
        let mut other = good.clone();
        other[14] = b'x';
        assert!(!matches(&other, 0x1234, q), "other name");
        let mut qtype = good.clone();
        let at = HEADER_BYTES + q.name.len() + 1;
        qtype[at] = 28;
        assert!(!matches(&qtype, 0x1234, q), "other type");
        for n in 0..good.len() {
            let _ = matches(&good[..n], 0x1234, q);
        }
    }

    #[test]
    fn relays_with_the_clients_id_and_question() {
        let (packet, q) = query(b"\x01A\x04test\x00");
        let question = Question {
            name: q.name.as_bytes(),
            qtype: q.qtype,
            qclass: q.qclass,
        };
        let mut response = request(&question, q.flags, false, 7, false);
        response.truncate(response.len() - 11);
        response[2] |= 0x80;
        response[3] = 2; // SERVFAIL
        response[11] = 0;
        let mut out = Vec::new();
        assert!(relay(&response, &packet, &q, Transport::Udp, &mut out));
        assert_eq!(&out[..2], &[0xab, 0xcd]);
        assert_eq!(out[3] & 0x0f, 2);
        assert_eq!(&out[12..q.question_end], &packet[12..q.question_end]);
        assert!(random_u16() != random_u16() || random_u16() != random_u16());
    }

    #[test]
    fn resolv_conf() {
        let text = "# generated\nsearch lan\nnameserver 192.0.2.1\nnameserver 127.0.0.1\n\
                    nameserver ::1\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\nnameserver bogus\n";
        let ours: Vec<SocketAddr> = vec!["0.0.0.0:53".parse().unwrap()];
        let servers: Vec<String> = parse_resolv_conf(text, &ours)
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(servers, ["192.0.2.1:53", "[2001:db8::53]:53"]);
        let ours: Vec<SocketAddr> = vec!["127.0.0.1:5353".parse().unwrap()];
        assert_eq!(parse_resolv_conf(text, &ours).len(), 4);
    }

    #[test]
    fn rebinding_addresses() {
        let (_, q) = query(b"\x01a\x04test\x00");
        let question = Question {
            name: q.name.as_bytes(),
            qtype: q.qtype,
            qclass: q.qclass,
        };
        let answer = |rtype: u16, data: &[u8]| {
            let mut m = request(&question, q.flags, false, 1, false);
            m.truncate(q.question_end);
            m[7] = 1;
            m[11] = 0;
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&rtype.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60, 0, data.len() as u8]);
            m.extend_from_slice(data);
            m
        };
        assert!(rebinds(&answer(1, &[192, 168, 1, 1]), q.question_end));
        assert!(rebinds(&answer(1, &[127, 0, 0, 1]), q.question_end));
        assert!(rebinds(&answer(1, &[0, 0, 0, 0]), q.question_end));
        assert!(!rebinds(&answer(1, &[93, 184, 216, 34]), q.question_end));
        let mut fd = [0u8; 16];
        fd[0] = 0xfd;
        assert!(rebinds(&answer(28, &fd), q.question_end));
        let mut mapped = [0u8; 16];
        mapped[10..].copy_from_slice(&[0xff, 0xff, 10, 0, 0, 1]);
        assert!(rebinds(&answer(28, &mapped), q.question_end));
        let mut public = [0u8; 16];
        public[..2].copy_from_slice(&[0x20, 0x01]);
        assert!(!rebinds(&answer(28, &public), q.question_end));
        assert!(!rebinds(&answer(16, b"\x03abc"), q.question_end));
        let good = answer(1, &[93, 184, 216, 34]);
        for n in q.question_end..good.len() {
            assert!(rebinds(&good[..n], q.question_end) || n == q.question_end);
        }
    }
}
