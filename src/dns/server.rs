//! Sockets and threads: where datagrams and TCP streams meet the answer path.
//!
//! Owns the network side of the DNS role. All sockets are bound before any thread
//! starts (so a bad address fails start-up cleanly, and privileges can be dropped
//! after binding). Each of the `threads` DNS threads has its own `SO_REUSEPORT` UDP
//! socket per listen address, so the kernel spreads queries over cores with no
//! shared queue; a UDP thread blocks in `recv_from`, answers into a reused buffer
//! and sends: no event loop, task, channel or allocation per query. TCP runs on one
//! `current_thread` tokio runtime of its own, and is bounded: at most `tcp_connections_max` clients (the oldest is closed to
//! admit a new one), an idle timeout per connection, and `rate_limit_qps` per
//! client as over UDP. TCP hands zone transfers to `dns::xfr` (which refuses
//! them unless the zone has secondaries), and TSIG-signed queries too when the
//! public zone or a router zone has secondaries; UDP hands it a secondary's
//! signed queries (BIND's SOA check); the I/O thread runs its NOTIFY tasks.
//!
//! TCP's rate limit has its own table. A UDP client over the limit is "slipped"
//! a TC=1 answer so that a real one retries over TCP, where its address is
//! proven (why BIND's and Knot's RRL leave TCP alone); sharing the table would
//! refuse exactly that retry whenever a spoofed flood drained the victim's
//! bucket. Over TCP the bound is there for the router's CPU against a real host
//! that floods (unbound's `ip-ratelimit` covers TCP for the same reason, and
//! drops). A query over the limit is dropped, not answered REFUSED (which costs
//! as much as an answer, and makes a stub resolver fail over or give up), and
//! after `TCP_RATE_LIMIT_DROPS_MAX` drops in a row the connection is closed,
//! freeing its place for other clients; both are counted.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::AbortHandle;

use crate::counters::Counters;
use crate::dns::answer::{Step, Transport};
use crate::dns::forward::{Job, QUEUE_MAX};
use crate::dns::ratelimit::Verdict;
use crate::dns::service::Current;
use crate::dns::udp::{Inbox, Outbox};
use crate::dns::wire::Query;
use crate::dns::xfr::Transfer;

/// Kernel accept queue per TCP listener.
const TCP_BACKLOG: i32 = 128;
/// Attempts to find a port free for both UDP and TCP when the config asks for port 0.
const EPHEMERAL_PORT_ATTEMPTS_MAX: usize = 16;
/// Pause after a failed accept or receive (e.g. out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Receive buffer asked for each UDP socket (the kernel doubles it for its
/// bookkeeping). Linux's default (212 992 bytes of accounting) holds about 256
/// queries: 51 ms at 5 000 q/s, so any longer stall of the UDP thread (a loaded
/// core, a reload building a big zone on a one-core router) made the kernel drop
/// queries (the soak of tests/reliability/soak.sh lost 5 of 3 000 000). 1 MiB
/// holds about 2 500 (half a second at 5 000 q/s); it is a bound, not an
/// allocation: memory is used only by queries waiting. Set with SO_RCVBUFFORCE
/// while still privileged, else SO_RCVBUF (capped at net.core.rmem_max); never
/// lowered.
const UDP_RECEIVE_BUFFER_BYTES: usize = 1 << 20;
/// A TCP connection whose client sent this many queries over the rate limit in
/// a row is closed: a few, so a client that pipelines a burst slightly beyond
/// the limit keeps its connection, while one that keeps flooding loses it.
const TCP_RATE_LIMIT_DROPS_MAX: usize = 4;

/// Every socket the DNS role serves, bound and ready.
#[derive(Debug)]
pub struct Sockets {
    /// One UDP socket per listen address for each thread.
    udp: Vec<Vec<UdpSocket>>,
    tcp: Vec<TcpListener>,
    /// The addresses actually bound (port 0 resolved).
    pub bound: Vec<SocketAddr>,
}

#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    pub connections_max: usize,
    pub idle_timeout: Duration,
}

/// Binds UDP (once per thread, `SO_REUSEPORT`) and TCP on every listen address.
pub fn bind(listen: &[SocketAddr], threads: usize) -> io::Result<Sockets> {
    let mut udp: Vec<Vec<UdpSocket>> = (0..threads).map(|_| Vec::new()).collect();
    let mut tcp = Vec::new();
    let mut bound = Vec::new();
    for &wanted in listen {
        let (sockets, listener, address) = bind_address(wanted, threads)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {wanted}: {e}")))?;
        for (thread, socket) in udp.iter_mut().zip(sockets) {
            thread.push(socket);
        }
        tcp.push(listener);
        bound.push(address);
    }
    Ok(Sockets { udp, tcp, bound })
}

fn bind_address(
    wanted: SocketAddr,
    threads: usize,
) -> io::Result<(Vec<UdpSocket>, TcpListener, SocketAddr)> {
    let mut last_error = None;
    for _ in 0..EPHEMERAL_PORT_ATTEMPTS_MAX {
        let first = udp_socket(wanted)?;
        let address = first.local_addr()?;
        // With port 0 the UDP port is chosen first; TCP must get the same one.
        let listener = match tcp_listener(address) {
            Ok(listener) => listener,
            Err(e) if wanted.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                last_error = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut sockets = vec![first];
        for _ in 1..threads {
            sockets.push(udp_socket(address)?);
        }
        return Ok((sockets, listener, address));
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port")))
}

fn new_socket(address: SocketAddr, kind: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), kind, Some(protocol))?;
    if address.is_ipv6() {
        // `[::]:53` next to `0.0.0.0:53` must not claim IPv4 too.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn udp_socket(address: SocketAddr) -> io::Result<UdpSocket> {
    let socket = new_socket(address, Type::DGRAM, Protocol::UDP)?;
    socket.set_reuse_port(true)?;
    grow_receive_buffer(&socket);
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// Raises the socket's receive buffer to `UDP_RECEIVE_BUFFER_BYTES` where the
/// kernel allows it; a refusal leaves the default (logged, not fatal).
fn grow_receive_buffer(socket: &Socket) {
    // The kernel reports the doubled value it keeps.
    let wanted = 2 * UDP_RECEIVE_BUFFER_BYTES;
    if socket.recv_buffer_size().is_ok_and(|size| size >= wanted) {
        return;
    }
    let forced = nix::sys::socket::setsockopt(
        socket,
        nix::sys::socket::sockopt::RcvBufForce,
        &UDP_RECEIVE_BUFFER_BYTES,
    );
    if forced.is_err()
        && let Err(e) = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER_BYTES)
    {
        log::debug!("UDP receive buffer stays at the default: {e}");
    }
}

fn tcp_listener(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = new_socket(address, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(TCP_BACKLOG)?;
    Ok(socket.into())
}

/// Stack of a UDP thread: the answer path keeps a few KiB on the stack; the rest of
/// the default 2 MiB would be address space a router does not need to reserve.
const UDP_THREAD_STACK_BYTES: usize = 256 * 1024;

impl Sockets {
    /// Serving threads [`spawn`] will start: one per UDP socket, plus one for TCP.
    pub fn thread_count(&self) -> usize {
        self.udp.iter().map(Vec::len).sum::<usize>() + 1
    }
}

/// Starts one blocking thread per UDP socket and one tokio thread for all of TCP.
/// Thread `i` counts into `counters.thread(i)`; TCP is the last.
pub fn spawn(
    sockets: Sockets,
    current: Arc<Current>,
    counters: Arc<Counters>,
    limits: TcpLimits,
    transfer: Option<Arc<Transfer>>,
) -> io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut handles = Vec::new();
    let mut index = 0;
    let (jobs, queue) = tokio::sync::mpsc::channel(QUEUE_MAX);
    for (thread, udp) in sockets.udp.into_iter().enumerate() {
        for socket in udp {
            let (current, counters, jobs) = (current.clone(), counters.clone(), jobs.clone());
            let transfer = transfer.clone();
            let handle = std::thread::Builder::new()
                .name(format!("dns-udp-{thread}"))
                .stack_size(UDP_THREAD_STACK_BYTES)
                .spawn(move || {
                    let socket = Arc::new(socket);
                    serve_udp(
                        socket,
                        &current,
                        &counters,
                        index,
                        &jobs,
                        transfer.as_deref(),
                    );
                })?;
            handles.push(handle);
            index += 1;
        }
    }
    let tcp = sockets.tcp;
    let handle = std::thread::Builder::new()
        .name("dns-io".into())
        .spawn(move || serve_io_thread(tcp, queue, current, counters, index, limits, transfer))?;
    handles.push(handle);
    Ok(handles)
}

/// The UDP hot path: a blocking receive of every query waiting (see
/// `dns::udp`), each answered into a reused buffer, and one send of all the
/// answers. No event loop, task, channel or allocation per query; an event loop
/// would add a failed receive and an `epoll_wait` for every wake-up.
fn serve_udp(
    socket: Arc<UdpSocket>,
    current: &Current,
    counters: &Counters,
    index: usize,
    jobs: &tokio::sync::mpsc::Sender<Job>,
    transfer: Option<&Transfer>,
) {
    // The secondaries' signed queries count their refusals process-wide.
    let transfer = (transfer, counters);
    let counters = counters.thread(index);
    let mut view = current.view();
    if let Err(e) = socket.set_nonblocking(false) {
        log::error!("UDP socket: {e}");
        return;
    }
    let mut inbox = Inbox::new();
    let mut outbox = Outbox::new();
    let mut query = Query::empty();
    loop {
        match inbox.receive(&socket) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Not expected on a bound UDP socket; pause so a persistent error
                // cannot turn into a busy loop.
                log::warn!("UDP receive: {e}");
                std::thread::sleep(ACCEPT_ERROR_PAUSE);
                continue;
            }
        }
        let service = view.get();
        for (packet, peer) in inbox.requests() {
            counters.queries.bump();
            let Some(response) = outbox.slot() else {
                break;
            };
            // Source port 0 cannot be answered (and is a reflection trick).
            let Some(peer) = peer.filter(|peer| peer.port() != 0) else {
                counters.malformed.bump();
                continue;
            };
            if service.stopping {
                continue;
            }
            match answer_udp(
                service, counters, transfer, packet, peer, &mut query, response,
            ) {
                Some(Step::Send) => outbox.queue(peer),
                Some(Step::Drop) => counters.malformed.bump(),
                Some(Step::Forward(pending)) => {
                    let job = Job {
                        pending,
                        peer,
                        socket: socket.clone(),
                    };
                    if jobs.try_send(job).is_ok() {
                        counters.forwarded.bump();
                    } else {
                        counters.forward_queue_full.bump();
                    }
                }
                None => {}
            }
        }
        let sent = outbox.flush(&socket);
        for _ in 0..sent.count {
            counters.answered.bump();
        }
        if let Some((peer, e)) = sent.error {
            log::debug!("UDP send to {peer}: {e}");
        }
    }
}

/// One UDP query through the ACL, the rate limit and the answer path (a
/// secondary's TSIG-signed one through `dns::xfr`); `None` when the ACL or the
/// rate limit dropped it (counted).
#[inline]
fn answer_udp(
    service: &crate::dns::service::Service,
    counters: &crate::counters::ThreadCounters,
    transfer: (Option<&Transfer>, &Counters),
    packet: &[u8],
    peer: SocketAddr,
    query: &mut Query,
    response: &mut Vec<u8>,
) -> Option<Step> {
    // Outside the ACL: dropped, unless a public (delegate) zone is served.
    let public = !service.acl.allows(peer.ip());
    if public && !service.answerer.serves_public() {
        counters.acl_dropped.bump();
        return None;
    }
    let mut transport = Transport::Udp;
    if let Some(limiter) = &service.limiter {
        match limiter.check(peer.ip(), crate::clock::monotonic_ms()) {
            Verdict::Allow => {}
            Verdict::Drop => {
                counters.rate_limited.bump();
                return None;
            }
            Verdict::Slip => {
                counters.rate_limited.bump();
                counters.rate_limit_slipped.bump();
                transport = Transport::Slip;
            }
        }
    }
    // A secondary's signed query (its SOA check, over UDP from BIND): signed.
    let (delegate, all) = transfer;
    if matches!(transport, Transport::Udp)
        && (delegate.is_some() || service.zone_transfers.is_some())
        && crate::dns::xfr::wants(packet, true)
        && crate::dns::xfr::answer_signed_udp(
            peer.ip(),
            public,
            packet,
            service,
            delegate,
            query,
            response,
            all,
        )
    {
        return Some(Step::Send);
    }
    Some(
        service
            .answerer
            .answer(public, packet, transport, query, response),
    )
}

/// The thread of everything that waits: TCP clients and upstream queries.
fn serve_io_thread(
    tcp: Vec<TcpListener>,
    queue: tokio::sync::mpsc::Receiver<Job>,
    current: Arc<Current>,
    counters: Arc<Counters>,
    index: usize,
    limits: TcpLimits,
    transfer: Option<Arc<Transfer>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log::error!("cannot start the DNS I/O thread: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for listener in tcp {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    let context = Context {
                        current: current.clone(),
                        counters: counters.clone(),
                        index,
                        transfer: transfer.clone(),
                    };
                    drop(tasks.spawn(serve_tcp(listener, context, limits)));
                }
                Err(e) => log::error!("TCP listener: {e}"),
            }
        }
        tasks.spawn(forward_jobs(
            queue,
            current.clone(),
            counters.clone(),
            index,
        ));
        tasks.spawn(prefetch_jobs(current.clone()));
        if let Some(transfer) = transfer {
            tasks.spawn(crate::dns::xfr::notify_secondaries(
                transfer,
                counters.clone(),
            ));
        }
        tasks.spawn(crate::dns::xfr::notify_zones(current, counters.clone()));
        while tasks.join_next().await.is_some() {}
    });
}

/// Takes UDP queries the UDP threads could not answer and answers them from the
/// upstreams, one task each. Every task runs on this (the I/O) thread, so the
/// responses it sends are counted in this thread's block (`index`), keeping
/// its single writer.
async fn forward_jobs(
    mut queue: tokio::sync::mpsc::Receiver<Job>,
    current: Arc<Current>,
    counters: Arc<Counters>,
    index: usize,
) {
    while let Some(job) = queue.recv().await {
        let service = current.load();
        let counters = counters.clone();
        tokio::spawn(async move {
            let response = match &service.forwarder {
                Some(forwarder) => forwarder.resolve(&service.answerer, job.pending).await,
                // A reload took every upstream away while the query waited
                // here: answered (SERVFAIL, as with no upstream for the
                // name), not left to time out at the client.
                None => {
                    let busy = crate::dns::answer::FromUpstream::Busy;
                    service.answerer.complete(job.pending, busy).0
                }
            };
            match job.socket.send_to(&response, job.peer) {
                Ok(_) => counters.thread(index).answered.bump(),
                Err(e) => log::debug!("UDP send to {}: {e}", job.peer),
            }
        });
    }
}

/// Takes the prefetches cache hits queued (see `dns::cache::prefetch`) and asks
/// the current forwarder, one task each. A prefetch dropped here (stopping, no
/// forwarder) gives its place back.
async fn prefetch_jobs(current: Arc<Current>) {
    let prefetches = current.load().prefetches.clone();
    loop {
        prefetches.queued().await;
        while let Some(prefetch) = prefetches.pop() {
            let service = current.load();
            if service.stopping {
                continue;
            }
            let Some(forwarder) = service.forwarder.clone() else {
                continue;
            };
            let exempt = service.answerer.is_local_zone(&prefetch.name);
            tokio::spawn(async move { forwarder.prefetch(prefetch, exempt).await });
        }
    }
}

/// Open TCP connections, oldest first, so the oldest can be closed when full.
type Connections = Arc<Mutex<VecDeque<(u64, AbortHandle)>>>;

/// What every TCP task shares: the service and the TCP thread's counters (all TCP
/// tasks run on that one thread, so the counters keep a single writer).
#[derive(Clone)]
struct Context {
    current: Arc<Current>,
    counters: Arc<Counters>,
    index: usize,
    /// The public zone's secondaries, when it has some.
    transfer: Option<Arc<Transfer>>,
}

async fn serve_tcp(listener: tokio::net::TcpListener, context: Context, limits: TcpLimits) {
    let connections: Connections = Arc::new(Mutex::new(VecDeque::new()));
    let mut next_id: u64 = 0;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!("TCP accept: {e}");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        // A refused client gets its connection closed at once, before any read,
        // unless a public (delegate) zone is served: then it gets only that.
        let service = context.current.load();
        if service.stopping {
            continue;
        }
        let public = !service.acl.allows(peer.ip());
        if public && !service.answerer.serves_public() {
            context.counters.thread(context.index).acl_dropped.bump();
            continue;
        }
        drop(service);
        next_id += 1;
        let id = next_id;
        let task = tokio::spawn(serve_connection(
            stream,
            peer.ip(),
            context.clone(),
            public,
            limits.idle_timeout,
            connections.clone(),
            id,
        ));
        let mut open = connections.lock().unwrap_or_else(PoisonError::into_inner);
        open.push_back((id, task.abort_handle()));
        while open.len() > limits.connections_max {
            if let Some((_, oldest)) = open.pop_front() {
                log::debug!(
                    "TCP connections at {}: closing the oldest for {peer}",
                    limits.connections_max
                );
                oldest.abort();
                context.counters.process.tcp_evicted.fetch_add(1, Relaxed);
            }
        }
    }
}

async fn serve_connection(
    mut stream: tokio::net::TcpStream,
    client: std::net::IpAddr,
    context: Context,
    public: bool,
    idle_timeout: Duration,
    connections: Connections,
    id: u64,
) {
    let mut request = Vec::new();
    let mut response = Vec::new();
    let mut query = Query::empty();
    // Queries over the rate limit since the last one under it.
    let mut over_limit = 0;
    loop {
        let mut length = [0u8; 2];
        let read = async {
            stream.read_exact(&mut length).await?;
            request.resize(usize::from(u16::from_be_bytes(length)), 0);
            stream.read_exact(&mut request).await
        };
        match tokio::time::timeout(idle_timeout, read).await {
            Ok(Ok(_)) => {}
            // Idle, closed by the client, or broken: either way this connection is done.
            Ok(Err(_)) | Err(_) => break,
        }
        let counters = context.counters.thread(context.index);
        counters.queries.bump();
        let service = context.current.load();
        if let Some(limiter) = &service.tcp_limiter {
            if limiter.check(client, crate::clock::monotonic_ms()) == Verdict::Allow {
                over_limit = 0;
            } else {
                counters.tcp_rate_limited.bump();
                over_limit += 1;
                if over_limit >= TCP_RATE_LIMIT_DROPS_MAX {
                    log::debug!("TCP client {client} over the rate limit: connection closed");
                    counters.tcp_rate_limit_closed.bump();
                    break;
                }
                continue;
            }
        }
        // Transfers always (refused unless a zone is transferred), signed
        // queries when some zone's secondaries sign.
        let signers = context.transfer.is_some() || service.zone_transfers.is_some();
        if crate::dns::xfr::wants(&request, signers) {
            let counters = &context.counters;
            let served = crate::dns::xfr::serve(
                &mut stream,
                client,
                public,
                &request,
                &service,
                context.transfer.as_deref(),
                counters,
                idle_timeout,
            );
            if served.await.is_err() {
                break;
            }
            counters.thread(context.index).answered.bump();
            continue;
        }
        let step =
            (service.answerer).answer(public, &request, Transport::Tcp, &mut query, &mut response);
        match step {
            Step::Send => {}
            Step::Drop => {
                counters.malformed.bump();
                continue;
            }
            Step::Forward(pending) => {
                counters.forwarded.bump();
                let Some(forwarder) = &service.forwarder else {
                    continue;
                };
                response = forwarder.resolve(&service.answerer, pending).await;
            }
        }
        counters.answered.bump();
        let Ok(length) = u16::try_from(response.len()) else {
            break;
        };
        response.splice(0..0, length.to_be_bytes());
        if !matches!(
            tokio::time::timeout(idle_timeout, stream.write_all(&response)).await,
            Ok(Ok(()))
        ) {
            break;
        }
    }
    let mut open = connections.lock().unwrap_or_else(PoisonError::into_inner);
    open.retain(|(other, _)| *other != id);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The UDP socket gets the receive buffer asked for, at least as far as
    /// SO_RCVBUF may go without privileges (net.core.rmem_max): the kernel's
    /// default dropped queries in the soak whenever the thread stalled 51 ms.
    #[test]
    fn udp_socket_has_the_larger_receive_buffer() {
        let socket = udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let size = Socket::from(socket).recv_buffer_size().unwrap();
        let floor = 2 * UDP_RECEIVE_BUFFER_BYTES.min(rmem_max);
        assert!(
            size >= floor,
            "receive buffer {size} bytes, want at least {floor}"
        );
    }
}
