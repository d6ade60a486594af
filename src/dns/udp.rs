//! Batched UDP I/O for the DNS threads: `recvmmsg` takes the queries waiting
//! on the socket (up to [`BATCH`]) in one system call, and `sendmmsg` sends
//! their answers in one more.
//!
//! Under light load a wake-up finds one query, and asking the kernel for more
//! costs: `recvmmsg` for up to N, given one, tries a second receive that fails
//! (`MSG_WAITFORONE`: block for the first, then take only what is already
//! queued). So a thread takes one with `recvfrom` while its queries come one at a time
//! (and sends its answer with `sendto`: the floor's own two calls), probes for
//! a queue every
//! [`PROBE_EVERY`] receives, and asks for a whole batch as long as the last
//! receive found more than one. The calls are libc's own: nix's wrappers
//! (`MultiHeaders`, `SockaddrStorage` per message) cost 1 500 instructions per
//! batch, as much again as answering a local name (valgrind's instruction
//! count, tests/bench/dns.sh's query set). Figures: the closing note of issue
//! 13 and README, "Speed".
//!
//! The buffers are allocated once per thread: [`BATCH`] requests of
//! [`REQUEST_BYTES_MAX`] (32 KiB) and as many answers.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::ptr::{null_mut, read_unaligned};

use crate::dns::wire::EDNS_PAYLOAD_BYTES;

/// Datagrams taken per `recvmmsg` under load. Not tuned: a saturated thread
/// (tests/bench/dns.sh unthrottled) always has more than this queued, and
/// 8 × 4 KiB is what a router's thread can spare.
pub const BATCH: usize = 8;
/// Largest request read from UDP. Queries are tiny; a bigger datagram is cut and
/// then fails to parse, which is the right outcome.
pub const REQUEST_BYTES_MAX: usize = 4096;

/// `sockaddr_storage`'s size, as the kernel is told it.
const NAME_BYTES: libc::socklen_t = size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// The kernel's view of a batch: one `mmsghdr` per datagram, each pointing at
/// its own `iovec` and address, all on the heap so the pointers stay valid
/// however the owner moves.
struct Headers {
    headers: Box<[libc::mmsghdr; BATCH]>,
    iovecs: Box<[libc::iovec; BATCH]>,
    names: Box<[libc::sockaddr_storage; BATCH]>,
}

impl Headers {
    #[allow(unsafe_code)]
    fn new() -> Self {
        // SAFETY: mmsghdr, iovec and sockaddr_storage are plain C structs of
        // integers and pointers, for which all-zero bytes are a valid value
        // (null pointers, zero lengths).
        let mut headers: Box<[libc::mmsghdr; BATCH]> = Box::new(unsafe { zeroed() });
        let mut iovecs: Box<[libc::iovec; BATCH]> = Box::new(unsafe { zeroed() });
        let mut names: Box<[libc::sockaddr_storage; BATCH]> = Box::new(unsafe { zeroed() });
        for ((header, iovec), name) in headers
            .iter_mut()
            .zip(iovecs.iter_mut())
            .zip(names.iter_mut())
        {
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
            header.msg_hdr.msg_namelen = NAME_BYTES;
        }
        Self {
            headers,
            iovecs,
            names,
        }
    }

    /// The address the kernel wrote (receive) or we wrote (send) in slot `i`.
    #[allow(unsafe_code)]
    fn address(&self, i: usize) -> Option<SocketAddr> {
        let name = self.names.get(i)?;
        let len = self.headers.get(i)?.msg_hdr.msg_namelen as usize;
        let storage = std::ptr::from_ref(name);
        match i32::from(name.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in (the
                // kernel wrote `len` bytes of one); sockaddr_storage is larger
                // and as aligned, and the read is unaligned anyway.
                let v4 = unsafe { read_unaligned(storage.cast::<libc::sockaddr_in>()) };
                let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(v4.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for a sockaddr_in6.
                let v6 = unsafe { read_unaligned(storage.cast::<libc::sockaddr_in6>()) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(v6.sin6_addr.s6_addr),
                    u16::from_be(v6.sin6_port),
                    v6.sin6_flowinfo,
                    v6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Writes `peer` as slot `i`'s destination.
    #[allow(unsafe_code)]
    fn set_address(&mut self, i: usize, peer: SocketAddr) {
        let (Some(name), Some(header)) = (self.names.get_mut(i), self.headers.get_mut(i)) else {
            return;
        };
        let storage = std::ptr::from_mut(name);
        let len = match peer {
            SocketAddr::V4(v4) => {
                // SAFETY: as in `new`, zero is a valid sockaddr_in.
                let mut c: libc::sockaddr_in = unsafe { zeroed() };
                c.sin_family = libc::AF_INET as libc::sa_family_t;
                c.sin_port = v4.port().to_be();
                c.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                // SAFETY: sockaddr_storage is larger than a sockaddr_in and as
                // aligned; the write is unaligned anyway.
                unsafe { std::ptr::write_unaligned(storage.cast(), c) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                // SAFETY: as in `new`, zero is a valid sockaddr_in6.
                let mut c: libc::sockaddr_in6 = unsafe { zeroed() };
                c.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                c.sin6_port = v6.port().to_be();
                c.sin6_addr.s6_addr = v6.ip().octets();
                c.sin6_flowinfo = v6.flowinfo();
                c.sin6_scope_id = v6.scope_id();
                // SAFETY: as above, for a sockaddr_in6.
                unsafe { std::ptr::write_unaligned(storage.cast(), c) };
                size_of::<libc::sockaddr_in6>()
            }
        };
        header.msg_hdr.msg_namelen = len as libc::socklen_t;
    }
}

/// The queries one `recvmmsg` took.
pub struct Inbox {
    requests: Box<[[u8; REQUEST_BYTES_MAX]; BATCH]>,
    kernel: Headers,
    count: usize,
    /// The last receive took more than one: ask for a whole batch again.
    busy: bool,
    /// Receives so far (wrapping): every [`PROBE_EVERY`]th asks for a batch
    /// even when idle, to notice the load rising.
    receives: u32,
}

/// While queries come one at a time, one receive in this many asks for a whole
/// batch; the others ask for one. `recvmmsg` for up to N, given one, tries a
/// second receive that fails, which made a lightly loaded thread (20 000 q/s)
/// cost 1.16× the floor instead of 1.04×; asking for one costs what `recvfrom`
/// does, and the probe finds a queue within 16 wake-ups.
const PROBE_EVERY: u32 = 16;

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Inbox {
    pub fn new() -> Self {
        let mut requests: Box<[[u8; REQUEST_BYTES_MAX]; BATCH]> =
            match vec![[0; REQUEST_BYTES_MAX]; BATCH]
                .into_boxed_slice()
                .try_into()
            {
                Ok(requests) => requests,
                Err(_) => Box::new([[0; REQUEST_BYTES_MAX]; BATCH]),
            };
        let mut kernel = Headers::new();
        for (iovec, request) in kernel.iovecs.iter_mut().zip(requests.iter_mut()) {
            iovec.iov_base = request.as_mut_ptr().cast();
            iovec.iov_len = REQUEST_BYTES_MAX;
        }
        Self {
            requests,
            kernel,
            count: 0,
            busy: false,
            receives: 0,
        }
    }

    /// Blocks until at least one datagram is waiting on `socket` (a blocking
    /// socket), then takes it and, when the last receive found a queue (or this
    /// one probes for one), any others already queued. Returns how many.
    #[allow(unsafe_code)]
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.count = 0;
        self.receives = self.receives.wrapping_add(1);
        if !self.busy && !self.receives.is_multiple_of(PROBE_EVERY) {
            return self.receive_one(socket);
        }
        let wanted = BATCH;
        for header in self.kernel.headers.iter_mut() {
            header.msg_hdr.msg_namelen = NAME_BYTES;
        }
        // SAFETY: every header points at its own iovec (REQUEST_BYTES_MAX bytes of
        // `requests`) and its own sockaddr_storage (`msg_namelen` bytes), all
        // owned by `self` on the heap and unaliased for the call; the kernel
        // writes at most BATCH headers.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.kernel.headers.as_mut_ptr(),
                wanted as libc::c_uint,
                // c_int on glibc, c_uint on musl.
                libc::MSG_WAITFORONE as _,
                null_mut(),
            )
        };
        let Ok(count) = usize::try_from(received) else {
            return Err(io::Error::last_os_error());
        };
        self.count = count.min(wanted);
        self.busy = self.count > 1;
        Ok(self.count)
    }

    /// One datagram into slot 0 with `recvfrom`: the floor's own system call
    /// (a `recvmmsg` of one also copies in and checks a message header and its
    /// iovec array).
    #[allow(unsafe_code)]
    fn receive_one(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let (Some(request), Some(header), Some(name)) = (
            self.requests.first_mut(),
            self.kernel.headers.first_mut(),
            self.kernel.names.first_mut(),
        ) else {
            return Ok(0);
        };
        let mut name_len = NAME_BYTES;
        // SAFETY: the buffer is slot 0's request (its length is passed), the
        // address is slot 0's sockaddr_storage (`name_len` bytes, updated by
        // the kernel); all owned by `self` and unaliased for the call.
        let received = unsafe {
            libc::recvfrom(
                socket.as_raw_fd(),
                request.as_mut_ptr().cast(),
                request.len(),
                0,
                std::ptr::from_mut(name).cast(),
                &mut name_len,
            )
        };
        let Ok(len) = usize::try_from(received) else {
            return Err(io::Error::last_os_error());
        };
        header.msg_len = u32::try_from(len).unwrap_or(u32::MAX);
        header.msg_hdr.msg_namelen = name_len;
        self.count = 1;
        self.busy = false;
        Ok(1)
    }

    /// The requests taken by the last [`receive`](Self::receive), with their senders.
    pub fn requests(&self) -> impl Iterator<Item = (&[u8], Option<SocketAddr>)> {
        self.requests
            .iter()
            .zip(self.kernel.headers.iter())
            .take(self.count)
            .enumerate()
            .map(|(i, (request, header))| {
                let len = (header.msg_len as usize).min(REQUEST_BYTES_MAX);
                (&request[..len], self.kernel.address(i))
            })
    }
}

/// The answers of one batch, sent together.
pub struct Outbox {
    responses: [Vec<u8>; BATCH],
    kernel: Headers,
    /// The answers [`queue`](Self::queue) kept so far.
    count: usize,
}

/// How [`Outbox::flush`] went: answers sent, and the first failure (with its
/// destination) when some could not be.
pub struct Sent {
    pub count: usize,
    pub failed: usize,
    pub error: Option<(SocketAddr, io::Error)>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub fn new() -> Self {
        Self {
            responses: std::array::from_fn(|_| Vec::with_capacity(usize::from(EDNS_PAYLOAD_BYTES))),
            kernel: Headers::new(),
            count: 0,
        }
    }

    /// The buffer the next answer is written into; it is sent only once
    /// [`queue`](Self::queue)d. `None` when the outbox is full (it holds as many
    /// as an [`Inbox`] takes, so never between a receive and its flush).
    pub fn slot(&mut self) -> Option<&mut Vec<u8>> {
        self.responses.get_mut(self.count)
    }

    /// Keeps the answer just written into [`slot`](Self::slot), for `peer`.
    pub fn queue(&mut self, peer: SocketAddr) {
        if self.count < BATCH {
            self.kernel.set_address(self.count, peer);
            self.count += 1;
        }
    }

    /// Sends every queued answer (one `sendmmsg`, more only after a failure:
    /// an answer the kernel refuses is skipped, the rest still go).
    #[allow(unsafe_code)]
    pub fn flush(&mut self, socket: &UdpSocket) -> Sent {
        let mut sent = Sent {
            count: 0,
            failed: 0,
            error: None,
        };
        let queued = std::mem::take(&mut self.count);
        // The answers may have moved (a Vec grows while written): point at them now.
        for (iovec, response) in self
            .kernel
            .iovecs
            .iter_mut()
            .zip(&self.responses)
            .take(queued)
        {
            iovec.iov_base = response.as_ptr().cast_mut().cast();
            iovec.iov_len = response.len();
        }
        if queued == 1 {
            return self.send_one(socket);
        }
        let mut start = 0;
        while start < queued {
            let Some(headers) = self.kernel.headers.get_mut(start..queued) else {
                break;
            };
            // SAFETY: headers `start..queued` each point at their own iovec (an
            // answer in `responses`, not touched until the call returns) and an
            // address written by `queue`, `msg_namelen` bytes long; the kernel
            // reads at most `headers.len()` of them.
            let result = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    headers.as_mut_ptr(),
                    headers.len() as libc::c_uint,
                    0,
                )
            };
            match usize::try_from(result) {
                Ok(count) if count > 0 => {
                    sent.count += count;
                    start += count;
                }
                // Not expected (an error is returned instead); never loop.
                Ok(_) => {
                    sent.failed += 1;
                    start += 1;
                }
                Err(_) => {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    // The answer at `start` is the one refused; skip it.
                    if sent.error.is_none()
                        && let Some(peer) = self.kernel.address(start)
                    {
                        sent.error = Some((peer, e));
                    }
                    sent.failed += 1;
                    start += 1;
                }
            }
        }
        sent
    }

    /// The first queued answer alone, with `sendto` (less work in the kernel
    /// than a `sendmmsg` of one).
    #[allow(unsafe_code)]
    fn send_one(&self, socket: &UdpSocket) -> Sent {
        let (Some(response), Some(header)) = (self.responses.first(), self.kernel.headers.first())
        else {
            return Sent {
                count: 0,
                failed: 0,
                error: None,
            };
        };
        loop {
            // SAFETY: the buffer is `response` (its length is passed), the
            // address is slot 0's sockaddr_storage, of which `queue` wrote
            // `msg_namelen` bytes; both outlive the call.
            let result = unsafe {
                libc::sendto(
                    socket.as_raw_fd(),
                    response.as_ptr().cast(),
                    response.len(),
                    0,
                    header.msg_hdr.msg_name.cast_const().cast(),
                    header.msg_hdr.msg_namelen,
                )
            };
            if result >= 0 {
                return Sent {
                    count: 1,
                    failed: 0,
                    error: None,
                };
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Sent {
                    count: 0,
                    failed: 1,
                    error: self.kernel.address(0).map(|peer| (peer, e)),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Several datagrams queued before one receive are all taken, with their
    /// senders; the answers queued for them all arrive, each at its sender.
    #[test]
    fn one_receive_takes_what_is_queued_and_one_flush_sends_it_all() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let clients: Vec<UdpSocket> = (0..BATCH + 2)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for (i, client) in clients.iter().enumerate() {
            client.send_to(&[i as u8; 3], address).unwrap();
        }
        let mut inbox = Inbox::new();
        let mut outbox = Outbox::new();
        let mut seen = Vec::new();
        while seen.len() < clients.len() {
            let taken = inbox.receive(&server).unwrap();
            assert!((1..=BATCH).contains(&taken));
            for (request, peer) in inbox.requests() {
                let peer = peer.unwrap();
                seen.push((request.to_vec(), peer));
                let out = outbox.slot().unwrap();
                out.clear();
                out.extend_from_slice(b"re:");
                out.extend_from_slice(request);
                outbox.queue(peer);
            }
            let sent = outbox.flush(&server);
            assert_eq!((sent.count, sent.failed), (taken, 0));
        }
        for (i, client) in clients.iter().enumerate() {
            let expected = (vec![i as u8; 3], client.local_addr().unwrap());
            assert!(seen.contains(&expected), "{seen:?}");
            let mut buf = [0u8; 16];
            client
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let len = client.recv(&mut buf).unwrap();
            assert_eq!(&buf[..len], [b"re:".as_slice(), &[i as u8; 3]].concat());
        }
    }

    /// One at a time while they come one at a time; a probe every
    /// PROBE_EVERY receives finds the queue, and whole batches follow until
    /// one finds a single query.
    #[test]
    fn a_batch_is_asked_for_only_after_a_probe_finds_a_queue() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let queued = PROBE_EVERY as usize - 1 + 3 * BATCH + 1;
        for i in 0..queued {
            client
                .send_to(&(i as u32).to_be_bytes(), server.local_addr().unwrap())
                .unwrap();
        }
        let mut inbox = Inbox::new();
        let mut takes = Vec::new();
        let mut next = 0u32;
        while takes.iter().sum::<usize>() < queued {
            takes.push(inbox.receive(&server).unwrap());
            for (request, peer) in inbox.requests() {
                assert_eq!(request, next.to_be_bytes(), "in order, none lost");
                assert_eq!(peer, Some(client.local_addr().unwrap()));
                next += 1;
            }
        }
        let mut expected = vec![1; PROBE_EVERY as usize - 1];
        expected.extend([BATCH, BATCH, BATCH, 1]);
        assert_eq!(takes, expected);
    }

    /// A single answer the kernel refuses is reported too.
    #[test]
    fn a_refused_single_answer_is_reported() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut outbox = Outbox::new();
        let out = outbox.slot().unwrap();
        out.clear();
        out.extend_from_slice(b"bad");
        outbox.queue("[::1]:9".parse().unwrap());
        let sent = outbox.flush(&server);
        assert_eq!((sent.count, sent.failed), (0, 1));
        assert_eq!(sent.error.unwrap().0, "[::1]:9".parse().unwrap());
        assert!(outbox.slot().is_some(), "the outbox is empty again");
    }

    /// An answer the kernel refuses (an IPv6 destination on an IPv4 socket) is
    /// reported and skipped; the answers after it are still sent.
    #[test]
    fn a_refused_answer_does_not_stop_the_rest() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut outbox = Outbox::new();
        for (peer, text) in [
            (client.local_addr().unwrap(), b"one"),
            ("[::1]:9".parse().unwrap(), b"bad"),
            (client.local_addr().unwrap(), b"two"),
        ] {
            let out = outbox.slot().unwrap();
            out.clear();
            out.extend_from_slice(text);
            outbox.queue(peer);
        }
        let sent = outbox.flush(&server);
        assert_eq!((sent.count, sent.failed), (2, 1));
        assert_eq!(sent.error.unwrap().0, "[::1]:9".parse().unwrap());
        let mut buf = [0u8; 8];
        let len = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"one");
        let len = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"two");
    }
}
