//! The server's threads and its accept loop: [`bind`] (before any thread starts)
//! and [`spawn`].
//!
//! One thread ("http") runs a `current_thread` tokio runtime for every
//! connection; the handler runs on its bounded blocking pool ("http-worker",
//! `workers_max` threads), so a slow handler (bcrypt, SQLite) never stalls I/O.
//! Every HTTP thread runs at nice `HTTP_THREAD_NICE`: the DNS threads (nice 0)
//! take the CPU from a bcrypt the moment a query arrives, instead of sharing it
//! (issue 9: DNS latency rose twentyfold during 22 updates/s). Beyond the slot
//! table (`slots`) a plain connection gets a best-effort 503 and is closed, a TLS
//! one is just closed: no handshake is spent on it.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use super::slots::Slots;
use super::{Counters, Handler, Limits, connection};

/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Nice value of the HTTP threads (0 is the default, 19 the lowest priority).
/// At 10 a thread weighs about a tenth of a nice-0 one in Linux's scheduler, so
/// bcrypt still gets every core the DNS threads leave idle.
const HTTP_THREAD_NICE: i32 = 10;

/// A running HTTP server. Its thread serves until the process exits; this handle
/// only reads what it counts.
#[derive(Debug, Clone)]
pub struct Server {
    counters: Arc<Counters>,
}

impl Server {
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Binds `address` (std listener, so binding fails before threads start) — returns
/// the bound address too. `[::]` follows the system default (dual-stack on Linux).
pub fn bind(address: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// Starts the "http" thread with its runtime and worker pool, serving `listener`
/// (TLS when `tls` is given). Errors only if the thread or runtime cannot start.
pub fn spawn(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    limits: Limits,
    handler: Handler,
) -> io::Result<Server> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // Zero would panic in tokio; one worker is the least that can serve.
        .max_blocking_threads(limits.workers_max.max(1))
        .thread_name("http-worker")
        .on_thread_start(lower_priority)
        .build()?;
    let counters = Arc::new(Counters::default());
    let slots = Slots::new(&limits, counters.clone());
    let tls = tls.map(TlsAcceptor::from);
    let serve = async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => serve(listener, tls, Arc::new(limits), handler, slots).await,
            Err(e) => log::error!("HTTP listener: {e}"),
        }
    };
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            lower_priority();
            runtime.block_on(serve)
        })?;
    Ok(Server { counters })
}

/// Gives the calling thread nice `HTTP_THREAD_NICE`. On Linux the nice value is
/// per thread (setpriority on a thread id changes that thread only), so the
/// DNS threads keep theirs. Raising one's own nice value needs no privilege;
/// a failure only costs DNS latency, so it is logged, not fatal.
fn lower_priority() {
    use nix::libc;
    #[allow(unsafe_code)]
    // SAFETY: gettid has no arguments and cannot fail; setpriority takes plain
    // integers and touches no memory of ours.
    let result = unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, HTTP_THREAD_NICE)
    };
    if result != 0 {
        let error = io::Error::last_os_error();
        log::debug!("HTTP thread: cannot lower its priority: {error}");
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    limits: Arc<Limits>,
    handler: Handler,
    slots: Arc<Slots>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!("HTTP accept: {e}");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let Some(slot) = slots.admit(peer.ip()) else {
            log::debug!("HTTP connection from {peer} refused: no slot");
            if tls.is_none() {
                connection::refuse(&stream);
            }
            continue;
        };
        let id = slot.id();
        let (tls, handler, limits) = (tls.clone(), handler.clone(), limits.clone());
        let task = tokio::spawn(async move {
            let slot = slot;
            let _ = stream.set_nodelay(true);
            let Some(acceptor) = tls else {
                return connection::serve(Box::new(stream), peer, &limits, handler, slot).await;
            };
            // Idle (evictable) during the handshake, bounded by request_timeout.
            match timeout(limits.request_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    connection::serve(Box::new(stream), peer, &limits, handler, slot).await
                }
                Ok(Err(e)) => log::debug!("HTTPS {peer}: TLS handshake: {e}"),
                Err(_) => {
                    log::debug!("HTTPS {peer}: TLS handshake timed out");
                    slot.counters().timed_out.hit();
                }
            }
        });
        // The task has not run yet (this thread is its only executor), so it
        // cannot end before its slot knows how to close it.
        slots.set_task(id, task.abort_handle());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::{Read, Write};
    use std::net::{IpAddr, TcpStream};
    use std::process::Command;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::{Mutex, mpsc};
    use std::time::Instant;

    use super::*;
    use crate::http::{Request, Response, load_tls};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Generous for a loaded 2-core machine: only reached when a test fails.
    const DEADLINE: Duration = Duration::from_secs(20);

    fn limits(connections_max: usize) -> Limits {
        let (header_bytes_max, body_bytes_max, workers_max) = (1024, 4096, 2);
        let (idle_timeout, request_timeout) = (ms(400), ms(800));
        Limits {
            connections_max,
            connections_per_client_max: connections_max,
            per_client_exempt: Vec::new(),
            header_bytes_max,
            body_bytes_max,
            idle_timeout,
            request_timeout,
            workers_max,
        }
    }

    fn echo() -> Handler {
        Arc::new(|r: &Request| {
            let echo = format!("{} {} {} {}", r.method, r.path, r.query, r.body.len());
            Response::text(200, echo)
        })
    }

    /// A server whose handler echoes method, path, query and body length.
    fn start(limits: Limits, tls: Option<Arc<ServerConfig>>) -> SocketAddr {
        start_with(limits, tls, echo()).0
    }

    fn start_with(
        limits: Limits,
        tls: Option<Arc<ServerConfig>>,
        handler: Handler,
    ) -> (SocketAddr, Server) {
        let (listener, address) = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let server = spawn(listener, tls, limits, handler).unwrap();
        (address, server)
    }

    fn connect(address: SocketAddr) -> TcpStream {
        connect_from("127.0.0.1", address)
    }

    /// A connection from `source` (any 127.0.0.0/8 address is this host's).
    fn connect_from(source: &str, address: SocketAddr) -> TcpStream {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let source: IpAddr = source.parse().unwrap();
        socket.bind(&SocketAddr::new(source, 0).into()).unwrap();
        socket.connect(&address.into()).unwrap();
        let stream = TcpStream::from(socket);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    /// Whether the server has closed `stream` (looks without waiting long).
    fn closed(stream: &mut TcpStream) -> bool {
        stream.set_read_timeout(Some(ms(20))).unwrap();
        let mut byte = [0u8];
        match stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    fn eventually(mut condition: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::sleep(ms(10));
        }
        condition()
    }

    /// Everything the server sends until it closes (or resets) the connection.
    fn until_closed(stream: &mut TcpStream) -> String {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn exchange(address: SocketAddr, request: &[u8]) -> String {
        let mut stream = connect(address);
        stream.write_all(request).unwrap();
        until_closed(&mut stream)
    }

    /// One response (head, then Content-Length bytes) from a connection kept open.
    fn head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    fn response(stream: &mut TcpStream) -> String {
        let head = head(stream);
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "));
        let mut body = vec![0u8; length.map_or(0, |n| n.parse().unwrap())];
        stream.read_exact(&mut body).unwrap();
        head + std::str::from_utf8(&body).unwrap()
    }

    /// Runs `curl` or `openssl` with `args` split at spaces: (stdout, stderr).
    fn run(program: &str, args: &str) -> (String, String) {
        let mut command = Command::new(program);
        let output = command.args(args.split(' ')).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{program} {args}: {stderr}");
        (String::from_utf8(output.stdout).unwrap(), stderr)
    }

    #[test]
    fn requests_keep_alive_and_close() {
        let address = start(limits(16), None);
        let mut stream = connect(address);
        stream
            .write_all(b"GET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        let first = response(&mut stream);
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        // HTTP/1.1 stays open without saying so.
        assert!(
            !first.contains("Connection: close") && first.ends_with("GET /a/b x=1&y 0"),
            "{first}"
        );
        // Two requests sent together (pipelined) on the same connection.
        stream
            .write_all(
                b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloHEAD /h HTTP/1.1\r\n\r\n",
            )
            .unwrap();
        assert!(response(&mut stream).ends_with("POST /p  5"));
        // HEAD: the length of the body a GET would get, and no body (the next
        // response follows at once).
        let head = head(&mut stream);
        assert!(head.contains("Content-Length: 10\r\n"), "{head}");
        stream
            .write_all(b"GET /c HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap();
        let last = until_closed(&mut stream);
        assert!(
            last.starts_with("HTTP/1.1 200 OK\r\n")
                && last.contains("Connection: close\r\n")
                && last.ends_with("GET /c  0"),
            "{last}"
        );
        // HTTP/1.0 is answered in HTTP/1.0 (hyper's choice) and closed after it.
        let mut stream = connect(address);
        stream
            .write_all(b"GET http://h:1/abs?q HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut old = Vec::new();
        stream.read_to_end(&mut old).unwrap();
        let old = String::from_utf8(old).unwrap();
        assert!(
            old.starts_with("HTTP/1.0 200 OK\r\n") && old.ends_with("GET /abs q 0"),
            "{old}"
        );
        let mut stream = connect(address);
        stream
            .write_all(b"\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        assert!(response(&mut stream).contains("Connection: keep-alive\r\n"));
        let (url, post) = (
            format!("-sS http://{address}/q?z"),
            format!("-sS -d abc http://{address}/p"),
        );
        assert_eq!(run("curl", &url).0, "GET /q z 0");
        assert_eq!(run("curl", &post).0, "POST /p  3");
    }

    #[test]
    fn bad_requests_are_answered_and_closed() {
        let (address, server) = start_with(limits(16), None, echo());
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
        let cases: [(&[u8], &str); 9] = [
            // The 413 comes without the rest of the body ever being sent.
            (
                b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc",
                "413 Content Too Large",
            ),
            (long.as_bytes(), "431 Request Header Fields Too Large"),
            (b"HELLO\r\n\r\n", "400 Bad Request"),
            (b"GET / HTTP/2.0\r\n\r\n", "400 Bad Request"),
            (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", "400 Bad Request"),
            (b"GET / HTTP/1.1\r\n folded: x\r\n\r\n", "400 Bad Request"),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                "400 Bad Request",
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                "400 Bad Request",
            ),
            (b"GET / HTTP/1.1\r\nX: \x01\r\n\r\n", "400 Bad Request"),
        ];
        for (request, status) in cases {
            let answer = exchange(address, request);
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{answer}"
            );
            assert!(answer.contains("Connection: close\r\n"), "{answer}");
        }
        let answer = exchange(address, cases[0].0);
        assert!(
            answer.ends_with(
                "{\"error\": \"request_too_large\", \"detail\": \"the body is over 4096 bytes\"}"
            ),
            "{answer}"
        );
        let counters = server.counters();
        let hits = (
            counters.body_too_large.hits(),
            counters.header_too_large.hits(),
        );
        assert_eq!(hits, (2, 1));
    }

    #[test]
    fn expect_continue() {
        let address = start(limits(16), None);
        let mut stream = connect(address);
        stream
            .write_all(b"PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            .unwrap();
        let mut interim = [0u8; 25];
        stream.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(b"xyz").unwrap();
        assert!(response(&mut stream).ends_with("PUT /e  3"));
        // Too large to take: the 413 comes at once, never a 100 Continue.
        stream
            .write_all(b"PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
            .unwrap();
        let refused = until_closed(&mut stream);
        assert!(
            refused.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
            "{refused}"
        );
        let file = std::env::temp_dir().join(format!("lanseal-http-body-{}", std::process::id()));
        std::fs::write(&file, [b'a'; 2048]).unwrap();
        // This curl (7.88) asks for 100-continue by itself only from 1 MiB.
        let body = file.display();
        let args =
            format!("-sSv -H Expect:100-continue --data-binary @{body} http://{address}/big");
        let (out, err) = run("curl", &args);
        assert_eq!(out, "POST /big  2048");
        assert!(err.contains("HTTP/1.1 100 Continue"), "{err}");
        let _ = std::fs::remove_file(file);
    }

    /// What the handler sees: path and query of origin- and absolute-form
    /// targets, every header line (a repeated name in the order received, as a
    /// proxy appends its `X-Forwarded-For` after the client's).
    #[test]
    fn requests_as_the_handler_sees_them() {
        let handler: Handler = Arc::new(|r: &Request| {
            let forwarded: Vec<&str> = r.header_lines("X-FORWARDED-FOR").collect();
            let first = r.header("x-forwarded-for").unwrap_or("-");
            let lines = r.headers.len();
            let seen = format!(
                "{}|{}|{}|{first}|{lines}",
                r.path,
                r.query,
                forwarded.join(";")
            );
            Response::text(200, seen)
        });
        let address = start_with(limits(16), None, handler).0;
        let ask = |target: &str, headers: &str| {
            let request = format!("GET {target} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n");
            let answer = exchange(address, request.as_bytes());
            answer
                .split("\r\n\r\n")
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(ask("/a?b?c", ""), "/a|b?c||-|1");
        assert_eq!(ask("HTTP://h/x", ""), "/x|||-|1");
        assert_eq!(ask("https://h?q", ""), "/|q||-|1");
        assert_eq!(ask("http://h", ""), "/|||-|1");
        let proxied = "X-Forwarded-For: 192.0.2.7\r\nHost: h\r\n\
                       x-forwarded-for: 198.51.100.1, 10.0.0.1\r\n";
        assert_eq!(
            ask("/p", proxied),
            "/p||192.0.2.7;198.51.100.1, 10.0.0.1|192.0.2.7|4"
        );
        // A header value that is not UTF-8 is refused, as the old parser did.
        let answer = exchange(address, b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
    }

    /// hyper frames what the handler answers: a status outside 200-599 is 500,
    /// a header value with CR or LF is dropped (and a framing header the handler
    /// sets), 204 has no body and no length, HEAD gets the length and no body.
    #[test]
    fn answers_are_framed() {
        let handler: Handler = Arc::new(|r: &Request| {
            let mut response = match r.path.as_str() {
                "/99" => Response::json(99, "x"),
                "/204" => Response::text(204, "dropped"),
                "/big" => Response::text(200, vec![b'z'; 300_000]),
                _ => Response::with(405, "text/html; charset=utf-8", b"<p>no</p>".to_vec()),
            };
            response.headers.push(("Allow", "GET, POST".to_owned()));
            response
                .headers
                .push(("X-Injected", "a\r\nSet-Cookie: x".to_owned()));
            response.headers.push(("Content-Length", "1".to_owned()));
            response.headers.push(("Bad Name", "b".to_owned()));
            response
        });
        let address = start_with(limits(16), None, handler).0;
        let answer = exchange(address, b"GET /99 HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{answer}"
        );
        let answer = exchange(address, b"GET /204 HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 204 No Content\r\n")
                && !answer.contains("Content-Length")
                && answer.ends_with("\r\n\r\n"),
            "{answer}"
        );
        let answer = exchange(address, b"GET /page HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")
                && answer.contains("Content-Type: text/html; charset=utf-8\r\n")
                && answer.contains("Allow: GET, POST\r\n")
                && answer.contains("Content-Length: 9\r\n")
                && answer.ends_with("\r\n\r\n<p>no</p>"),
            "{answer}"
        );
        assert!(
            !answer.contains("Set-Cookie")
                && !answer.contains("X-Injected")
                && !answer.contains("Bad"),
            "{answer}"
        );
        // Far over the 8 KiB buffer hyper is given, on a kept-alive connection.
        let mut stream = connect(address);
        for _ in 0..2 {
            stream.write_all(b"GET /big HTTP/1.1\r\n\r\n").unwrap();
            let big = response(&mut stream);
            assert!(big.ends_with(&format!("\r\n\r\n{}", "z".repeat(300_000))));
        }
        let answer = exchange(address, b"HEAD /page HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(
            answer.contains("Content-Length: 9\r\n") && answer.ends_with("\r\n\r\n"),
            "{answer}"
        );
    }

    /// `header_bytes_max` (here 1024, under hyper's least buffer of 8 KiB) and
    /// `body_bytes_max` (4096) hold to the byte, for a `Content-Length` and for a
    /// chunked body alike.
    #[test]
    fn sizes_are_bounded_exactly() {
        let (address, server) = start_with(limits(16), None, echo());
        let head = |bytes: usize| {
            let frame = "GET / HTTP/1.1\r\nX: \r\n\r\n".len();
            format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(bytes - frame))
        };
        assert!(exchange(address, head(1024).as_bytes()).starts_with("HTTP/1.1 200 OK\r\n"));
        let over = exchange(address, head(1025).as_bytes());
        assert!(
            over.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{over}"
        );
        let sized = |length: usize| {
            let body = "b".repeat(length);
            let request = format!("POST /s HTTP/1.1\r\nContent-Length: {length}\r\n\r\n{body}");
            exchange(address, request.as_bytes())
        };
        assert!(sized(4096).ends_with("POST /s  4096"));
        assert!(sized(4097).starts_with("HTTP/1.1 413 Content Too Large\r\n"));
        // Chunked: read up to the bound, then refused.
        let chunked = |chunks: &[usize]| {
            let mut request =
                String::from("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
            for &length in chunks {
                request.push_str(&format!("{length:x}\r\n{}\r\n", "c".repeat(length)));
            }
            request.push_str("0\r\n\r\n");
            let mut stream = connect(address);
            stream.write_all(request.as_bytes()).unwrap();
            stream
        };
        let mut within = chunked(&[3, 2048, 2045]);
        assert!(response(&mut within).ends_with("POST /c  4096"));
        let mut beyond = chunked(&[2048, 2048, 1]);
        let refused = until_closed(&mut beyond);
        assert!(
            refused.starts_with("HTTP/1.1 413 Content Too Large\r\n")
                && refused.contains("Connection: close\r\n")
                && refused.contains("{\"error\": \"request_too_large\", \"detail\": "),
            "{refused}"
        );
        let counters = server.counters();
        let hits = (
            counters.header_too_large.hits(),
            counters.body_too_large.hits(),
        );
        assert_eq!(hits, (1, 2));
    }

    /// No `Limits` value makes the server panic (hyper asserts on a buffer under
    /// 8 KiB; a timeout can overflow the clock): the extremes serve or refuse.
    #[test]
    fn extreme_limits_never_panic() {
        let extreme = |header_bytes_max| Limits {
            connections_max: 0,
            connections_per_client_max: 0,
            header_bytes_max,
            body_bytes_max: 0,
            idle_timeout: Duration::MAX,
            request_timeout: Duration::MAX,
            workers_max: 0,
            ..limits(1)
        };
        let address = start(extreme(usize::MAX), None);
        let answer = exchange(address, b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(answer.ends_with("GET /x  0"), "{answer}");
        let answer = exchange(address, b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
        assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
        let address = start(extreme(0), None);
        let answer = exchange(address, b"GET / HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    }

    /// Busy connections (here: in their handler) are never evicted: with every
    /// slot busy a new connection gets a 503; once one frees, the next is served.
    #[test]
    fn connection_limit() {
        let (entered, entered_here) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let handler: Handler = Arc::new(move |r: &Request| {
            if r.path == "/block" {
                let _ = entered.send(());
                let _ = released.lock().unwrap().recv_timeout(DEADLINE);
            }
            Response::text(200, "done")
        });
        let limits = Limits {
            connections_per_client_max: 16,
            ..limits(2)
        };
        let (address, server) = start_with(limits, None, handler);
        let blocked: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut stream = connect(address);
                stream
                    .write_all(b"GET /block HTTP/1.1\r\nConnection: close\r\n\r\n")
                    .unwrap();
                stream
            })
            .collect();
        for _ in 0..2 {
            entered_here.recv_timeout(DEADLINE).unwrap();
        }
        let refused = until_closed(&mut connect(address));
        assert!(
            refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{refused}"
        );
        assert_eq!(server.counters().refused_full.hits(), 1);
        // One handler returns; its connection closes and frees its slot.
        release.send(()).unwrap();
        assert!(eventually(|| server.counters().open.load(Relaxed) == 1));
        assert!(exchange(address, b"GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200 OK"));
        release.send(()).unwrap();
        drop(blocked);
    }

    /// One host opening connection after connection holds at most its cap, and
    /// when the table is full the oldest idle connection makes room: a client
    /// that comes to talk is always served.
    #[test]
    fn idle_connections_make_room() {
        let limits = Limits {
            connections_per_client_max: 2,
            idle_timeout: Duration::from_secs(60),
            ..limits(4)
        };
        let (address, server) = start_with(limits, None, echo());
        let mut hog: Vec<TcpStream> = (0..6).map(|_| connect_from("127.0.0.2", address)).collect();
        let _others: Vec<TcpStream> = (0..2).map(|_| connect_from("127.0.0.3", address)).collect();
        let answer = exchange(address, b"GET /served HTTP/1.0\r\n\r\n");
        assert!(answer.ends_with("GET /served  0"), "{answer}");
        // The hog's first four made room for its own later ones (its cap is 2);
        // the fifth, then the oldest idle of all, made room for 127.0.0.1.
        assert!(eventually(|| hog[..5].iter_mut().all(closed)));
        assert!(!closed(&mut hog[5]));
        let counters = server.counters();
        assert_eq!(counters.evicted_idle.hits(), 5);
        assert_eq!(
            (
                counters.refused_full.hits(),
                counters.refused_per_client.hits()
            ),
            (0, 0)
        );
    }

    #[test]
    fn idle_and_slow_clients_are_closed() {
        let (address, server) = start_with(limits(16), None, echo());
        let mut stream = connect(address);
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        response(&mut stream);
        let started = Instant::now();
        assert_eq!(until_closed(&mut stream), "");
        assert!((ms(300)..ms(2000)).contains(&started.elapsed()));
        // Slow-loris: each byte well within the idle timeout, the head never whole
        // within the request timeout.
        let mut stream = connect(address);
        let mut writer = stream.try_clone().unwrap();
        let started = Instant::now();
        let dribble = std::thread::spawn(move || {
            for byte in b"GET / HTTP/1.1\r\nHost: slow.example\r\n\r\n" {
                if writer.write_all(&[*byte]).is_err() {
                    break;
                }
                std::thread::sleep(ms(100));
            }
        });
        assert_eq!(until_closed(&mut stream), "");
        assert!((ms(700)..ms(2000)).contains(&started.elapsed()));
        dribble.join().unwrap();
        let counters = server.counters();
        assert_eq!(counters.idle_closed.load(Relaxed), 1);
        assert_eq!(counters.timed_out.hits(), 1);
    }

    #[test]
    fn tls() {
        let dir = std::env::temp_dir().join(format!("lanseal-http-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key, sec1) = (
            dir.join("cert.pem"),
            dir.join("key.pem"),
            dir.join("sec1.pem"),
        );
        let (cert_file, key_file) = (cert.display(), key.display());
        let subject = "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1";
        let curve = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
        run(
            "openssl",
            &format!(
                "req -x509 {curve} -nodes -days 2 {subject} -keyout {key_file} -out {cert_file}"
            ),
        );
        run(
            "openssl",
            &format!("ec -in {key_file} -out {}", sec1.display()),
        );
        assert!(load_tls(&cert, &sec1).is_ok());
        let (config, _slot) = load_tls(&cert, &key).unwrap();
        let address = start(limits(16), Some(config));
        let url = format!(
            "-sS --cacert {cert_file} https://127.0.0.1:{}/x?y",
            address.port()
        );
        assert_eq!(run("curl", &url).0, "GET /x y 0");
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not PEM\n").unwrap();
        let missing = dir.join("missing.pem");
        for (c, k, named) in [
            (&missing, &key, &missing),
            (&garbage, &key, &garbage),
            (&cert, &garbage, &garbage),
            (&cert, &cert, &cert),
        ] {
            let error = load_tls(c, k).unwrap_err();
            assert!(error.contains(&named.display().to_string()), "{error}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
