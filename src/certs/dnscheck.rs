//! The DNS checks around an ACME order: is the `_acme-challenge` CNAME visible to
//! the public, what do the CAA records up the tree say, which TXT values are
//! published, and do a delegate's own authoritative servers serve the new value yet.
//!
//! Owns how these questions are asked, not what the answers mean (`caa` decides,
//! the ordering acts). Every query goes through the one DNS client
//! ([`dns::client::Request`](crate::dns::client::Request): ID and question
//! matching, TCP on TC=1). With `check_resolvers` configured those recursive
//! servers answer everything (tests, split horizon). Without them the checker asks
//! the authoritative servers of each name's zone itself, with RD=0, found through
//! the bootstrap resolvers (SOA for the zone cut, then NS, then A/AAAA): the public
//! view, and never a resolver's negative answer cached before the owner added the
//! record. Names go in as presentation form with or without the final dot and come
//! out lower-case without it. Never panics on an answer; each count bound below
//! (CNAMEs, labels, servers) is counted in [`LIMITS_HIT`] when hit, and a timeout
//! is a [`CheckError::Timeout`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crate::certs::caa::{self, CaaRecord};
use crate::dns::client::{Question, Request};
use crate::dns::wire::{self, CLASS_IN, HEADER_BYTES, RCODE_NOERROR, RCODE_NXDOMAIN};
use crate::dns::wire::{TYPE_A, TYPE_AAAA, TYPE_CAA, TYPE_CNAME, TYPE_NS, TYPE_SOA, TYPE_TXT};

/// CNAMEs followed from one name (resolvers give up around 8 to 16 too).
pub const CNAME_CHAIN_MAX: usize = 8;
/// Labels climbed for a CAA set or a zone cut; a certificate name is far shorter.
pub const CLIMB_LABELS_MAX: usize = 32;
/// One UDP query's wait for its answer (a TC=1 retry over TCP has the client's own).
pub const QUERY_TIMEOUT_MS: u64 = 2_000;
/// Servers asked for one question, and a zone's name servers and addresses kept.
pub const SERVERS_ASKED_MAX: usize = 8;
/// The port authoritative servers listen on.
pub const DNS_PORT: u16 = 53;
/// `wait_txt_at`: the first pause between rounds, doubled each round…
pub const POLL_PAUSE_FIRST_MS: u64 = 250;
/// …up to this: delegates serve a new value within seconds, and a slow secondary
/// is asked every 2 s at most.
pub const POLL_PAUSE_MAX_MS: u64 = 2_000;
const _: () = assert!(POLL_PAUSE_FIRST_MS <= POLL_PAUSE_MAX_MS);

/// How often each bound was hit, process-wide (rare events: shared atomics).
#[derive(Debug)]
pub struct LimitsHit {
    pub cname_chain: AtomicUsize,
    pub climb_labels: AtomicUsize,
    pub servers_asked: AtomicUsize,
}

pub static LIMITS_HIT: LimitsHit = LimitsHit {
    cname_chain: AtomicUsize::new(0),
    climb_labels: AtomicUsize::new(0),
    servers_asked: AtomicUsize::new(0),
};

/// Why a check could not be answered. Each message names the server and the name.
#[derive(Debug)]
pub enum CheckError {
    /// No answer within [`QUERY_TIMEOUT_MS`].
    Timeout(String),
    /// An answer with an RCODE other than NOERROR or NXDOMAIN (SERVFAIL, REFUSED…).
    Servfail(String),
    /// The query could not be sent or read, or there was no server to ask.
    Io(String),
    /// An unreadable answer or name, a broken record, or a bound exceeded.
    Malformed(String),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(what) => write!(f, "DNS timeout: {what}"),
            Self::Servfail(what) => write!(f, "DNS failure: {what}"),
            Self::Io(what) => write!(f, "DNS I/O error: {what}"),
            Self::Malformed(what) => write!(f, "malformed DNS data: {what}"),
        }
    }
}

impl std::error::Error for CheckError {}

/// The servers the checks ask.
#[derive(Debug, Clone)]
pub struct Checker {
    /// Recursive resolvers for every check (`check_resolvers`); empty: discover.
    resolvers: Vec<SocketAddr>,
    /// Recursive resolvers used only to find authoritative servers.
    bootstrap: Vec<SocketAddr>,
    query_timeout: Duration,
    /// The port of discovered authoritative servers ([`DNS_PORT`]; tests change it).
    authoritative_port: u16,
}

/// Where to ask about a name: recursive resolvers, or the authoritative servers of
/// `zone` (lower-case wire; the root for resolvers, which answer for every name).
#[derive(Debug, Clone)]
struct Route {
    servers: Vec<SocketAddr>,
    recursive: bool,
    zone: Vec<u8>,
}

/// The data of one type found at the end of a name's CNAME chain.
struct Found {
    owner: Vec<u8>,
    records: Vec<Vec<u8>>,
}

impl Checker {
    /// `resolvers`: recursive servers for every check (empty: ask each zone's
    /// authoritative servers, found through the recursive `bootstrap` servers).
    pub fn new(resolvers: Vec<SocketAddr>, bootstrap: Vec<SocketAddr>) -> Self {
        Self {
            resolvers,
            bootstrap,
            query_timeout: Duration::from_millis(QUERY_TIMEOUT_MS),
            authoritative_port: DNS_PORT,
        }
    }

    /// Discovered authoritative servers are asked on `port` instead of 53 (tests
    /// run them on ephemeral loopback ports).
    pub fn with_authoritative_port(mut self, port: u16) -> Self {
        self.authoritative_port = port;
        self
    }

    /// The CNAME target at `name` as the public sees it (`None`: no CNAME there).
    /// Follows nothing.
    pub async fn cname(&self, name: &str) -> Result<Option<String>, CheckError> {
        let wire = wire_name(name)?;
        let route = self.route(&wire).await?;
        let response = self
            .ask(&route.servers, &wire, TYPE_CNAME, route.recursive)
            .await?;
        Ok(response
            .answers
            .iter()
            .find(|r| r.rtype == TYPE_CNAME && r.owner == wire)
            .map(|r| text_name(&r.data)))
    }

    /// RFC 8659 §3: the first non-empty CAA RRset from `domain` (without `*.`) up to,
    /// not including, the root, with each name's CNAMEs followed as a resolver does
    /// (the set found at a chain's end is the name's; its parents are not climbed).
    /// Returns the owner of the set found and its records, or `None`.
    pub async fn caa(&self, domain: &str) -> Result<Option<(String, Vec<CaaRecord>)>, CheckError> {
        let name = domain.strip_prefix("*.").unwrap_or(domain);
        let wire = wire_name(name)?;
        if label_count(&wire) > CLIMB_LABELS_MAX {
            LIMITS_HIT.climb_labels.fetch_add(1, Relaxed);
            return Err(CheckError::Malformed(format!(
                "{name} has more than {CLIMB_LABELS_MAX} labels to climb for CAA"
            )));
        }
        let mut at: &[u8] = &wire;
        let mut known: Option<Route> = None;
        while at != b"\0" {
            // Every name between a name and its zone's apex is in that zone: one
            // discovery serves the climb until it leaves the zone.
            let route = match known.take() {
                Some(route) if in_zone(at, &route.zone) => route,
                _ => self.route(at).await?,
            };
            let found = self.lookup_via(at, TYPE_CAA, &route).await?;
            if !found.records.is_empty() {
                let owner = text_name(&found.owner);
                let records = found
                    .records
                    .iter()
                    .map(|data| {
                        caa::parse_rdata(data).ok_or_else(|| {
                            CheckError::Malformed(format!("a CAA record at {owner} cannot be read"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(Some((owner, records)));
            }
            known = Some(route);
            at = parent(at);
        }
        Ok(None)
    }

    /// The TXT values at `name` (CNAMEs followed), each record's character-strings
    /// joined into one value.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, CheckError> {
        let wire = wire_name(name)?;
        let route = self.route(&wire).await?;
        let found = self.lookup_via(&wire, TYPE_TXT, &route).await?;
        found
            .records
            .iter()
            .map(|data| {
                txt_value(data).ok_or_else(|| {
                    CheckError::Malformed(format!(
                        "a TXT record at {} cannot be read",
                        text_name(&found.owner)
                    ))
                })
            })
            .collect()
    }

    /// The authoritative servers of the zone holding `fulldomain` (a delegate's):
    /// the zone cut found by SOA through the bootstrap resolvers, its NS, their
    /// addresses. With `resolvers` configured, those instead (tests, split horizon).
    pub async fn authoritative_servers(
        &self,
        fulldomain: &str,
    ) -> Result<Vec<SocketAddr>, CheckError> {
        if !self.resolvers.is_empty() {
            return Ok(self.resolvers.clone());
        }
        let wire = wire_name(fulldomain)?;
        Ok(self.route(&wire).await?.servers)
    }

    /// Asks each of `servers` directly (RD=0, a fresh query every round, so no cache
    /// answers) for the TXT at `fulldomain` until every one of them serves all of
    /// `values`: `Ok(true)`; `Ok(false)` once `deadline` has passed. Rounds are
    /// [`POLL_PAUSE_FIRST_MS`] apart, doubling to [`POLL_PAUSE_MAX_MS`]; a server
    /// that fails is asked again next round. `before_round` runs before each
    /// round (the certs role flushes the router's own cache there: a
    /// `check_resolvers` entry may be the router itself).
    pub async fn wait_txt_at(
        &self,
        servers: &[SocketAddr],
        fulldomain: &str,
        values: &[String],
        deadline: Duration,
        before_round: impl Fn(),
    ) -> Result<bool, CheckError> {
        let wire = wire_name(fulldomain)?;
        if servers.is_empty() {
            return Err(CheckError::Io(format!(
                "no server to ask for TXT {}",
                text_name(&wire)
            )));
        }
        let mut waiting = self.bounded(servers).to_vec();
        let rounds = async {
            let mut pause = Duration::from_millis(POLL_PAUSE_FIRST_MS);
            loop {
                before_round();
                let mut still = Vec::with_capacity(waiting.len());
                for &server in &waiting {
                    if !self.serves_all(server, &wire, values).await {
                        still.push(server);
                    }
                }
                waiting = still;
                if waiting.is_empty() {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(POLL_PAUSE_MAX_MS));
            }
        };
        Ok(tokio::time::timeout(deadline, rounds).await.is_ok())
    }

    /// True when `server` answers the TXT at `name` with every one of `values`.
    async fn serves_all(&self, server: SocketAddr, name: &[u8], values: &[String]) -> bool {
        let question = Question {
            name,
            qtype: TYPE_TXT,
            qclass: CLASS_IN,
        };
        let request = Request::non_recursive(question);
        match self.ask_one(&request, server, name, TYPE_TXT).await {
            Ok(response) => {
                let served: Vec<String> = response
                    .answers
                    .iter()
                    .filter(|r| r.rtype == TYPE_TXT && r.owner == name)
                    .filter_map(|r| txt_value(&r.data))
                    .collect();
                values.iter().all(|value| served.contains(value))
            }
            Err(e) => {
                log::debug!("waiting for TXT {}: {e}", text_name(name));
                false
            }
        }
    }

    /// `servers` cut to [`SERVERS_ASKED_MAX`] (counted when cut).
    fn bounded<'s>(&self, servers: &'s [SocketAddr]) -> &'s [SocketAddr] {
        if servers.len() > SERVERS_ASKED_MAX {
            LIMITS_HIT.servers_asked.fetch_add(1, Relaxed);
        }
        &servers[..servers.len().min(SERVERS_ASKED_MAX)]
    }

    /// Where to ask about `name`: the configured resolvers, or its zone's
    /// authoritative servers.
    async fn route(&self, name: &[u8]) -> Result<Route, CheckError> {
        if !self.resolvers.is_empty() {
            return Ok(Route {
                servers: self.resolvers.clone(),
                recursive: true,
                zone: vec![0],
            });
        }
        let zone = self.zone_of(name).await?;
        let servers = self.zone_servers(&zone).await?;
        Ok(Route {
            servers,
            recursive: false,
            zone,
        })
    }

    /// The apex of the zone holding `name`, asking the bootstrap resolvers for SOA:
    /// owned by the name itself at an apex, else in the authority section of the
    /// NODATA or NXDOMAIN answer. A CNAME at the name means the resolver went on to
    /// the target's zone: the CNAME itself lives in the parent's.
    async fn zone_of(&self, name: &[u8]) -> Result<Vec<u8>, CheckError> {
        let mut at = name;
        for _ in 0..CLIMB_LABELS_MAX {
            if at == b"\0" {
                break;
            }
            let response = self.ask(&self.bootstrap, at, TYPE_SOA, true).await?;
            if response
                .answers
                .iter()
                .any(|r| r.rtype == TYPE_SOA && r.owner == at)
            {
                return Ok(at.to_vec());
            }
            let is_alias = response
                .answers
                .iter()
                .any(|r| r.rtype == TYPE_CNAME && r.owner == at);
            if !is_alias
                && let Some(apex) = response
                    .authority
                    .iter()
                    .find(|r| r.rtype == TYPE_SOA && in_zone(at, &r.owner))
            {
                return Ok(apex.owner.clone());
            }
            at = parent(at);
        }
        if label_count(name) > CLIMB_LABELS_MAX {
            LIMITS_HIT.climb_labels.fetch_add(1, Relaxed);
        }
        Err(CheckError::Malformed(format!(
            "no zone found holding {} (no SOA through the bootstrap resolvers)",
            text_name(name)
        )))
    }

    /// The addresses of `zone`'s name servers (through the bootstrap resolvers), at
    /// most [`SERVERS_ASKED_MAX`], without those of an address family this host has
    /// no route for (a router without IPv6 could never hear an AAAA server).
    async fn zone_servers(&self, zone: &[u8]) -> Result<Vec<SocketAddr>, CheckError> {
        let response = self.ask(&self.bootstrap, zone, TYPE_NS, true).await?;
        let mut names: Vec<&[u8]> = response
            .answers
            .iter()
            .filter(|r| r.rtype == TYPE_NS && r.owner == zone)
            .map(|r| r.data.as_slice())
            .collect();
        if names.len() > SERVERS_ASKED_MAX {
            LIMITS_HIT.servers_asked.fetch_add(1, Relaxed);
            names.truncate(SERVERS_ASKED_MAX);
        }
        if names.is_empty() {
            return Err(CheckError::Malformed(format!(
                "the zone {} has no NS records",
                text_name(zone)
            )));
        }
        let mut servers = Vec::new();
        let mut last_error = None;
        'names: for name in names {
            for qtype in [TYPE_A, TYPE_AAAA] {
                let addresses = match self.ask(&self.bootstrap, name, qtype, true).await {
                    Ok(response) => response.addresses(qtype),
                    Err(e) => {
                        last_error = Some(e);
                        continue;
                    }
                };
                for ip in addresses {
                    let server = SocketAddr::new(ip, self.authoritative_port);
                    if servers.contains(&server) || !routable(server).await {
                        continue;
                    }
                    if servers.len() == SERVERS_ASKED_MAX {
                        LIMITS_HIT.servers_asked.fetch_add(1, Relaxed);
                        break 'names;
                    }
                    servers.push(server);
                }
            }
        }
        if servers.is_empty() {
            return Err(last_error.unwrap_or_else(|| {
                CheckError::Malformed(format!(
                    "no reachable address for the name servers of {}",
                    text_name(zone)
                ))
            }));
        }
        Ok(servers)
    }

    /// The records of `qtype` at the end of `name`'s CNAME chain, the first question
    /// asked through `route`. An answer that stops at a CNAME without the target's
    /// data (an authoritative server for another zone) is asked on at the target.
    async fn lookup_via(
        &self,
        name: &[u8],
        qtype: u16,
        route: &Route,
    ) -> Result<Found, CheckError> {
        let mut current = name.to_vec();
        let mut hops = 0;
        let mut response = self
            .ask(&route.servers, name, qtype, route.recursive)
            .await?;
        loop {
            let mut at = current.clone();
            while let Some(alias) = response
                .answers
                .iter()
                .find(|r| r.rtype == TYPE_CNAME && r.owner == at)
            {
                hops += 1;
                if hops > CNAME_CHAIN_MAX {
                    LIMITS_HIT.cname_chain.fetch_add(1, Relaxed);
                    return Err(CheckError::Malformed(format!(
                        "more than {CNAME_CHAIN_MAX} CNAMEs from {}",
                        text_name(name)
                    )));
                }
                at = alias.data.clone();
            }
            let records: Vec<Vec<u8>> = response
                .answers
                .iter()
                .filter(|r| r.rtype == qtype && r.owner == at)
                .map(|r| r.data.clone())
                .collect();
            if !records.is_empty() || at == current || response.rcode == RCODE_NXDOMAIN {
                return Ok(Found { owner: at, records });
            }
            current = at;
            let next = self.route(&current).await?;
            response = self
                .ask(&next.servers, &current, qtype, next.recursive)
                .await?;
        }
    }

    /// Asks `servers` in turn (the same query) until one answers NOERROR or
    /// NXDOMAIN; otherwise the last server's error.
    async fn ask(
        &self,
        servers: &[SocketAddr],
        name: &[u8],
        qtype: u16,
        recursive: bool,
    ) -> Result<Response, CheckError> {
        let question = Question {
            name,
            qtype,
            qclass: CLASS_IN,
        };
        let request = if recursive {
            Request::new(question, 0, false)
        } else {
            Request::non_recursive(question)
        };
        let mut last_error = None;
        for &server in self.bounded(servers) {
            match self.ask_one(&request, server, name, qtype).await {
                Ok(response) => return Ok(response),
                Err(e) => {
                    log::debug!("{e}");
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            CheckError::Io(format!(
                "no server to ask for {} {}",
                wire::type_name(qtype),
                text_name(name)
            ))
        }))
    }

    async fn ask_one(
        &self,
        request: &Request<'_>,
        server: SocketAddr,
        name: &[u8],
        qtype: u16,
    ) -> Result<Response, CheckError> {
        let what = || format!("{server}, {} {}", wire::type_name(qtype), text_name(name));
        let bytes = request
            .udp(server, self.query_timeout)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut => CheckError::Timeout(format!(
                    "{}: no answer within {} ms",
                    what(),
                    self.query_timeout.as_millis()
                )),
                _ => CheckError::Io(format!("{}: {e}", what())),
            })?;
        let response = Response::parse(&bytes)
            .ok_or_else(|| CheckError::Malformed(format!("{}: unreadable answer", what())))?;
        match response.rcode {
            RCODE_NOERROR | RCODE_NXDOMAIN => Ok(response),
            rcode => Err(CheckError::Servfail(format!(
                "{}: answered {}",
                what(),
                rcode_name(rcode)
            ))),
        }
    }
}

/// One resource record of an answer: owner and, for CNAME and NS, the target
/// expanded, all lower-case wire.
#[derive(Debug)]
struct ResourceRecord {
    owner: Vec<u8>,
    rtype: u16,
    data: Vec<u8>,
}

/// An answer's RCODE and its class-IN records by section.
#[derive(Debug)]
struct Response {
    rcode: u8,
    answers: Vec<ResourceRecord>,
    authority: Vec<ResourceRecord>,
}

impl Response {
    /// `None` when any record cannot be read (the client already matched the
    /// header and question).
    fn parse(message: &[u8]) -> Option<Self> {
        let header = message.get(..HEADER_BYTES)?;
        let count = |i: usize| usize::from(u16::from_be_bytes([header[i], header[i + 1]]));
        let mut pos = wire::skip_name(message, HEADER_BYTES)? + 4;
        let mut answers = Vec::new();
        let mut authority = Vec::new();
        for (section, records) in [(count(6), &mut answers), (count(8), &mut authority)] {
            for _ in 0..section {
                let (record, next) = read_record(message, pos)?;
                records.extend(record);
                pos = next;
            }
        }
        Some(Self {
            rcode: header[3] & 0x0F,
            answers,
            authority,
        })
    }

    /// The addresses of type `qtype` (A or AAAA) in the answer, whatever their owner
    /// (the end of a CNAME chain the resolver followed).
    fn addresses(&self, qtype: u16) -> Vec<IpAddr> {
        self.answers
            .iter()
            .filter(|r| r.rtype == qtype)
            .filter_map(|r| match r.data.len() {
                4 => <[u8; 4]>::try_from(r.data.as_slice())
                    .ok()
                    .map(|b| IpAddr::from(Ipv4Addr::from(b))),
                16 => <[u8; 16]>::try_from(r.data.as_slice())
                    .ok()
                    .map(|b| IpAddr::from(Ipv6Addr::from(b))),
                _ => None,
            })
            .collect()
    }
}

/// The record at `pos` (`None` inside: not class IN) and the position after it.
fn read_record(message: &[u8], pos: usize) -> Option<(Option<ResourceRecord>, usize)> {
    let mut owner = Vec::new();
    let pos = wire::expand_name(message, pos, &mut owner)?;
    let fixed = message.get(pos..pos + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let data_at = pos + 10;
    let end = data_at + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let data = message.get(data_at..end)?;
    if class != CLASS_IN {
        return Some((None, end));
    }
    let data = match rtype {
        TYPE_CNAME | TYPE_NS => {
            let mut target = Vec::new();
            if wire::expand_name(message, data_at, &mut target)? != end {
                return None;
            }
            target.make_ascii_lowercase();
            target
        }
        _ => data.to_vec(),
    };
    // Length bytes are at most 63, below every letter: lower-casing the whole wire
    // name changes letters only.
    owner.make_ascii_lowercase();
    Some((Some(ResourceRecord { owner, rtype, data }), end))
}

/// TXT data: its character-strings joined (`None` when a length runs past the end).
fn txt_value(data: &[u8]) -> Option<String> {
    let mut value = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some((&length, tail)) = rest.split_first() {
        let chunk = tail.get(..usize::from(length))?;
        value.extend_from_slice(chunk);
        rest = &tail[usize::from(length)..];
    }
    Some(String::from_utf8_lossy(&value).into_owned())
}

/// A presentation name (final dot optional, any case) to lower-case wire.
fn wire_name(name: &str) -> Result<Vec<u8>, CheckError> {
    let bare = name.trim();
    let bare = bare.strip_suffix('.').unwrap_or(bare);
    let invalid =
        |why: &str| CheckError::Malformed(format!("`{name}` is not a domain name ({why})"));
    if bare.is_empty() {
        return Err(invalid("empty"));
    }
    let parsed =
        crate::dns::name::Name::parse(&format!("{bare}."), None).map_err(|e| invalid(&e))?;
    Ok(parsed.wire().to_vec())
}

/// A lower-case wire name in presentation form, without the final dot.
fn text_name(wire: &[u8]) -> String {
    let text = wire::name_to_string(wire);
    text.strip_suffix('.').unwrap_or(&text).to_owned()
}

/// The name without its leftmost label (the root stays the root).
fn parent(wire: &[u8]) -> &[u8] {
    match wire.first() {
        Some(&length) if length > 0 => wire.get(1 + usize::from(length)..).unwrap_or(b"\0"),
        _ => b"\0",
    }
}

fn label_count(wire: &[u8]) -> usize {
    let mut count = 0;
    let mut at = wire;
    while at != b"\0" && !at.is_empty() {
        count += 1;
        at = parent(at);
    }
    count
}

/// True when `name` is `zone` or below it (both lower-case wire).
fn in_zone(name: &[u8], zone: &[u8]) -> bool {
    let mut at = name;
    loop {
        if at == zone {
            return true;
        }
        if at == b"\0" || at.is_empty() {
            return false;
        }
        at = parent(at);
    }
}

/// True when this host has a route to `server` (connecting a UDP socket sends
/// nothing; it only picks the route).
async fn routable(server: SocketAddr) -> bool {
    let local: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    match tokio::net::UdpSocket::bind((local, 0)).await {
        Ok(socket) => socket.connect(server).await.is_ok(),
        Err(_) => false,
    }
}

fn rcode_name(rcode: u8) -> String {
    match rcode {
        wire::RCODE_FORMERR => "FORMERR".into(),
        wire::RCODE_SERVFAIL => "SERVFAIL".into(),
        wire::RCODE_NOTIMP => "NOTIMP".into(),
        wire::RCODE_REFUSED => "REFUSED".into(),
        other => format!("RCODE{other}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names() {
        let wire = wire_name("Router.Home.Test.").unwrap();
        assert_eq!(wire, b"\x06router\x04home\x04test\x00");
        assert_eq!(wire_name("router.home.test").unwrap(), wire);
        assert_eq!(text_name(&wire), "router.home.test");
        assert_eq!(parent(&wire), b"\x04home\x04test\x00");
        assert_eq!(parent(b"\x00"), b"\x00");
        assert_eq!(label_count(&wire), 3);
        assert!(in_zone(&wire, b"\x04test\x00"));
        assert!(in_zone(&wire, b"\x00"));
        assert!(!in_zone(b"\x04test\x00", &wire));
        for bad in ["", ".", "a..b", &"a".repeat(64)] {
            assert!(wire_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn txt_values() {
        assert_eq!(txt_value(b"\x02ab\x01c").unwrap(), "abc");
        assert_eq!(txt_value(b"\x00").unwrap(), "");
        assert_eq!(txt_value(b"\x05ab"), None);
    }

    /// Every truncation of an answer with a compressed CNAME is refused without a
    /// panic; the whole one reads back expanded and lower-cased.
    #[test]
    fn reads_answers() {
        let mut m = vec![0x12, 0x34, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x01A\x04test\x00\x00\x05\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'B', 0xc0, 12]);
        let response = Response::parse(&m).unwrap();
        assert_eq!(response.rcode, 0);
        assert_eq!(response.answers[0].owner, b"\x01a\x04test\x00");
        assert_eq!(response.answers[0].data, b"\x01b\x01a\x04test\x00");
        for n in 0..m.len() {
            assert!(Response::parse(&m[..n]).is_none(), "{n}");
        }
    }
}
