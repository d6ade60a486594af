//! The one DNS client: asks one server one question and returns a checked answer.
//!
//! Owns the exchange with a server and its defences against spoofing. Each
//! [`Request`] has a random ID; each UDP attempt a fresh socket on a random source
//! port chosen by the kernel, connected to the server so datagrams from anyone else
//! are never read. An answer is used only when its ID, QR bit, opcode and question
//! (name, type, class) match; anything else is ignored and the wait goes on. An
//! answer with TC=1 is asked again over TCP; DNS over TLS goes through
//! [`dns::dot`](crate::dns::dot). The forwarder uses it for the upstreams, and the
//! certificate role's checks (CNAME, CAA, the TXT at a delegate's servers) use it
//! too, so there is one implementation of these rules.
//!
//! Bounds: the caller's UDP timeout per attempt, [`TCP_TIMEOUT`] for the whole TCP
//! retry, [`DOT_TIMEOUT`] for a TLS exchange; answers at most
//! [`UDP_RESPONSE_BYTES_MAX`] over UDP and 65 535 bytes (framing) over TCP.

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dns::dot::DotClient;
use crate::dns::wire::{self, HEADER_BYTES, NameBuf};

/// Largest answer read over UDP (we advertise 1232; some servers send more).
pub const UDP_RESPONSE_BYTES_MAX: usize = 4096;
/// TCP retry after TC=1: connect, send and read the whole answer within this.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(3);
/// DNS over TLS: a new connection costs a TCP and a TLS handshake first.
pub const DOT_TIMEOUT: Duration = Duration::from_secs(4);
/// RFC 8467 §4.1: queries over TLS padded to multiples of this.
const PAD_BLOCK_BYTES: usize = 128;
thread_local! {
    /// Each thread's receive buffer for UDP answers (`UDP_RESPONSE_BYTES_MAX`).
    static RECEIVE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The CD flag (RFC 4035): the client's is passed on.
pub const FLAG_CD: u16 = 0x0010;
/// The RD flag: set on every query but those to an authoritative server itself.
const FLAG_RD: u16 = 0x0100;

/// What is asked: a name (lower-case wire), type and class.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub name: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
}

impl Question<'_> {
    /// Where the question section of a message asking it ends.
    pub fn end(&self) -> usize {
        HEADER_BYTES + self.name.len() + 4
    }
}

/// One question ready to send to any number of servers (the same ID for all).
#[derive(Debug)]
pub struct Request<'q> {
    question: Question<'q>,
    id: u16,
    flags: u16,
    dnssec_ok: bool,
    plain: Vec<u8>,
    padded: Option<Vec<u8>>,
}

impl<'q> Request<'q> {
    /// RD=1, `client_flags`' CD copied, EDNS advertising our UDP size with `dnssec_ok`.
    pub fn new(question: Question<'q>, client_flags: u16, dnssec_ok: bool) -> Self {
        Self::with_flags(question, FLAG_RD | (client_flags & FLAG_CD), dnssec_ok)
    }

    /// RD=0, for asking an authoritative server itself (the certs role's check that
    /// a delegate's servers serve a TXT value): nothing comes from a cache.
    pub fn non_recursive(question: Question<'q>) -> Self {
        Self::with_flags(question, 0, false)
    }

    fn with_flags(question: Question<'q>, flags: u16, dnssec_ok: bool) -> Self {
        let id = random_u16();
        Self {
            plain: encode(&question, flags, dnssec_ok, id, false),
            question,
            id,
            flags,
            dnssec_ok,
            padded: None,
        }
    }

    /// Over UDP with `timeout`, asked again over TCP when the answer has TC=1.
    pub async fn udp(&self, server: SocketAddr, timeout: Duration) -> io::Result<Vec<u8>> {
        let response = self.udp_only(server, timeout).await?;
        if response.get(2).is_some_and(|flags| flags & 0x02 != 0) {
            // Boxed: TC=1 is rare, and the TCP exchange's state would otherwise
            // make every UDP query's future (and tokio task) larger.
            return Box::pin(self.tcp(server)).await;
        }
        Ok(response)
    }

    async fn udp_only(&self, server: SocketAddr, timeout: Duration) -> io::Result<Vec<u8>> {
        let local: IpAddr = match server {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        // Port 0: the kernel picks a random source port for every query.
        let socket = tokio::net::UdpSocket::bind((local, 0)).await?;
        socket.connect(server).await?;
        socket.send(&self.plain).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ready = tokio::time::timeout_at(deadline, socket.readable()).await;
            match ready {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer")),
            }
            // Read into the thread's one receive buffer (no await while it is
            // borrowed) and keep an exact copy: no 4 KiB buffer per query.
            let answer = RECEIVE.with_borrow_mut(|buf| {
                buf.resize(UDP_RESPONSE_BYTES_MAX, 0);
                match socket.try_recv(buf) {
                    Ok(len) => Ok(self.matches(&buf[..len]).then(|| buf[..len].to_vec())),
                    Err(e) => Err(e),
                }
            });
            match answer {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => log::debug!("{server}: ignored an answer that does not match"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Over TCP (RFC 7766), within [`TCP_TIMEOUT`].
    pub async fn tcp(&self, server: SocketAddr) -> io::Result<Vec<u8>> {
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(server).await?;
            let length = u16::try_from(self.plain.len()).map_err(io::Error::other)?;
            let mut framed = length.to_be_bytes().to_vec();
            framed.extend_from_slice(&self.plain);
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
        self.checked(buf, "TCP")
    }

    /// Over TLS (RFC 7858), padded (RFC 8467), within [`DOT_TIMEOUT`].
    pub async fn tls(&mut self, dot: &DotClient) -> io::Result<Vec<u8>> {
        let (question, flags, dnssec_ok, id) = (self.question, self.flags, self.dnssec_ok, self.id);
        let padded = self
            .padded
            .get_or_insert_with(|| encode(&question, flags, dnssec_ok, id, true));
        let response = dot.exchange(padded, DOT_TIMEOUT).await?;
        self.checked(response, "DoT")
    }

    fn checked(&self, response: Vec<u8>, how: &str) -> io::Result<Vec<u8>> {
        if self.matches(&response) {
            Ok(response)
        } else {
            Err(io::Error::other(format!(
                "{how} answer does not match the question"
            )))
        }
    }

    /// True when `response` answers this request.
    fn matches(&self, response: &[u8]) -> bool {
        matches(response, self.id, &self.question)
    }
}

/// True when `response` answers request `id` for `question`: ID, QR=1, opcode 0,
/// one question equal to ours (letter case aside) and laid out as ours (so its
/// sections can follow a client's copy of the same question unchanged).
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
    end + 4 == question.end()
        && name.as_bytes() == question.name
        && u16::from_be_bytes([tail[0], tail[1]]) == question.qtype
        && u16::from_be_bytes([tail[2], tail[3]]) == question.qclass
}

/// A query message: `id`, the header `flags` (RD and CD), the question in lower
/// case, and EDNS advertising our UDP size with `dnssec_ok`. `pad`: padded to a
/// multiple of 128 bytes (RFC 8467), so an encrypted query's length says little.
fn encode(question: &Question<'_>, flags: u16, dnssec_ok: bool, id: u16, pad: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(question.end() + wire::OPT_BYTES + PAD_BLOCK_BYTES);
    let flags = flags & (FLAG_RD | FLAG_CD);
    wire::write_header(&mut out, id, flags, [1, 0, 0, 1]);
    out.extend_from_slice(question.name);
    out.extend_from_slice(&question.qtype.to_be_bytes());
    out.extend_from_slice(&question.qclass.to_be_bytes());
    wire::write_opt(&mut out, 0, dnssec_ok);
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

    const NAME: &[u8] = b"\x03www\x07example\x03org\x00";

    fn question() -> Question<'static> {
        Question {
            name: NAME,
            qtype: 1,
            qclass: 1,
        }
    }

    #[test]
    fn answers_must_match_the_question() {
        let q = question();
        let req = encode(&q, 0x0100, false, 0x1234, false);
        let mut good = req.clone();
        good[2] |= 0x80;
        assert!(matches(&good, 0x1234, &q));
        // Upper case in the answer's question is the same name.
        let mut case = good.clone();
        case[13] = b'W';
        assert!(matches(&case, 0x1234, &q));
        assert!(!matches(&good, 0x1235, &q), "wrong ID");
        assert!(!matches(&req, 0x1234, &q), "not a response");
        let mut opcode = good.clone();
        opcode[2] |= 0x28;
        assert!(!matches(&opcode, 0x1234, &q), "another opcode");
        let mut other = good.clone();
        other[14] = b'x';
        assert!(!matches(&other, 0x1234, &q), "other name");
        let mut qtype = good.clone();
        let at = HEADER_BYTES + q.name.len() + 1;
        qtype[at] = 28;
        assert!(!matches(&qtype, 0x1234, &q), "other type");
        for n in 0..good.len() {
            let _ = matches(&good[..n], 0x1234, &q);
        }
    }

    #[test]
    fn requests_carry_cd_do_and_padding() {
        let q = question();
        let plain = encode(&q, 0x0110, true, 7, false);
        assert_eq!(
            u16::from_be_bytes([plain[2], plain[3]]),
            0x0110,
            "RD and CD"
        );
        assert_eq!(plain[plain.len() - 4], 0x80, "DO");
        assert_eq!(Request::new(q, 0, false).plain[2], 0x01, "RD=1");
        assert_eq!(Request::non_recursive(q).plain[2], 0x00, "RD=0");
        let padded = encode(&q, 0, false, 7, true);
        assert_eq!(padded.len() % PAD_BLOCK_BYTES, 0);
        assert!(padded.len() > plain.len());
        assert!(random_u16() != random_u16() || random_u16() != random_u16());
    }

    /// A real exchange against a UDP socket on loopback: a spoofed answer (wrong
    /// ID) is ignored, the matching one is returned.
    #[test]
    fn udp_exchange_ignores_answers_that_do_not_match() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let responder = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (len, peer) = server.recv_from(&mut buf).unwrap();
            let mut answer = buf[..len].to_vec();
            answer[2] |= 0x80;
            let mut spoofed = answer.clone();
            spoofed[0] ^= 0xff;
            server.send_to(&spoofed, peer).unwrap();
            server.send_to(&answer, peer).unwrap();
        });
        let request = Request::new(question(), 0, false);
        let response = runtime
            .block_on(request.udp(address, Duration::from_secs(5)))
            .unwrap();
        assert_eq!(&response[..2], &request.id.to_be_bytes());
        responder.join().unwrap();
    }
}
