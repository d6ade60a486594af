//! Test harness: the real `lanseal` binary on an ephemeral loopback port, a DNS
//! client built on hickory-proto's message codec, and `dig`/`kdig` runners;
//! [`pebble`] runs the test CA.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};

pub mod pebble;
pub mod secondaries;

pub const BIN: &str = env!("CARGO_BIN_EXE_lanseal");
const START_TIMEOUT: Duration = Duration::from_secs(20);
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("lanseal-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `lanseal run -c <config>`; killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: TempDir,
    pub log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts lanseal with `body` appended to a `[dns]` section listening on
    /// 127.0.0.1:0 (`dns_extra` goes inside `[dns]`). Nothing is forwarded unless
    /// `dns_extra` names upstreams (the system's resolvers are never used: tests
    /// send traffic to loopback only).
    pub fn start(dns_extra: &str, body: &str) -> Self {
        Self::start_within(dns_extra, body, START_TIMEOUT)
    }

    /// Like [`Server::start`], waiting up to `timeout` for lanseal to listen (for
    /// configs that take long to load on a loaded machine).
    pub fn start_within(dns_extra: &str, body: &str, timeout: Duration) -> Self {
        let config = format!(
            "log_level = \"debug\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n{dns_extra}\n{body}"
        );
        Self::start_config_within(&config, timeout)
    }

    pub fn start_config(config: &str) -> Self {
        Self::start_config_within(config, START_TIMEOUT)
    }

    /// Like [`Server::start_config`], waiting up to `timeout` for lanseal to listen.
    pub fn start_config_within(config: &str, timeout: Duration) -> Self {
        Self::start_wrapped(&[], config, timeout)
    }

    /// Like [`Server::start_config_within`], with `lanseal run -c FILE` given as
    /// the last arguments of `wrapper` (e.g. `unshare -m sh -c '… exec "$@"' …`,
    /// which must exec lanseal, so that [`Server::pid`] is lanseal's); no
    /// wrapper runs lanseal itself.
    pub fn start_wrapped(wrapper: &[String], config: &str, timeout: Duration) -> Self {
        let dir = TempDir::new();
        let path = dir.write("lanseal.toml", config);
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(BIN);
                command
            }
            None => Command::new(BIN),
        };
        let mut child = command
            .args(["run", "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lanseal");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + timeout;
        let addr = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("lanseal did not start: {config}"));
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        Self {
            child,
            addr,
            dir,
            log: rx,
        }
    }

    pub fn query(&self, name: &str, rtype: RecordType) -> Message {
        udp_query(self.addr, &query_message(name, rtype, true))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL now (no shutdown of any kind), and reaps the process.
    pub fn kill(&mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }

    /// Waits for the process to exit by itself (after a signal).
    pub fn wait_exit(&mut self) -> Option<i32> {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A query message as a stub resolver sends it (RD=1), with EDNS unless `edns` is false.
pub fn query_message(name: &str, rtype: RecordType, edns: bool) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(1232);
        message.set_edns(opt);
    }
    message
}

/// Sends `packet` and waits for one answer, retrying like a stub resolver does (a
/// burst can fill the server's receive queue, and the kernel then drops datagrams).
pub fn udp_exchange(addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    for _ in 0..3 {
        socket.send_to(packet, addr).unwrap();
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

pub fn udp_query(addr: SocketAddr, message: &Message) -> Message {
    let bytes = udp_exchange(addr, &message.to_vec().unwrap()).expect("no UDP answer");
    let response = Message::from_vec(&bytes).unwrap();
    assert_eq!(response.metadata.id, message.metadata.id);
    response
}

pub fn tcp_exchange(stream: &mut TcpStream, packet: &[u8]) -> Vec<u8> {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).unwrap();
    buf
}

pub fn tcp_query(addr: SocketAddr, message: &Message) -> Message {
    let mut stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    Message::from_vec(&tcp_exchange(&mut stream, &message.to_vec().unwrap())).unwrap()
}

/// Answer records as `name TTL type data` strings.
pub fn answers(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

/// Runs a command and returns its output.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// `dig @addr -p port <args>`, stdout as text.
pub fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let server = format!("@{}", addr.ip());
    let port = addr.port().to_string();
    let mut all = vec![server.as_str(), "-p", port.as_str(), "+time=3", "+tries=1"];
    all.extend_from_slice(args);
    let out = run("dig", &all);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kdig @addr -p port <args>`, stdout as text.
pub fn kdig(addr: SocketAddr, args: &[&str]) -> String {
    let server = format!("@{}", addr.ip());
    let port = addr.port().to_string();
    let mut all = vec![server.as_str(), "-p", port.as_str(), "+time=3", "+retry=0"];
    all.extend_from_slice(args);
    let out = run("kdig", &all);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Server {
    /// Sends `signal` (e.g. "HUP") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = run("kill", &[&format!("-{signal}"), &self.pid().to_string()]);
        assert!(status.status.success(), "kill -{signal} failed");
    }

    /// Waits for a log line containing `needle`, up to `timeout`; returns it
    /// and every line seen before it.
    pub fn wait_log_within(&self, needle: &str, timeout: Duration) -> (String, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return (line, seen),
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "no log line with `{needle}` within {timeout:?}:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }

    /// Waits for a log line containing `needle`; returns it.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with `{needle}`"),
            }
        }
    }

    /// The delegate API's base URL, from its start-up log line
    /// ("delegate API on http://127.0.0.1:PORT[/prefix]").
    pub fn delegate_api(&self) -> String {
        let line = self.wait_log("delegate API on ");
        let url = line.split("delegate API on ").nth(1).unwrap_or_default();
        url.trim().to_string()
    }

    /// The counters lanseal logs on SIGUSR1, by name.
    pub fn counters(&self) -> std::collections::HashMap<String, u64> {
        self.signal("USR1");
        let line = self.wait_log("counters:");
        line.split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect()
    }

    /// Rewrites the config file (keeping the listen address) for a SIGHUP.
    pub fn rewrite(&self, dns_extra: &str, body: &str) {
        let config = format!(
            "log_level = \"debug\"\n[dns]\nlisten = [\"{}\"]\nresolv_file = \"\"\n{dns_extra}\n{body}",
            self.addr
        );
        self.dir.write("lanseal.toml", &config);
    }
}

/// One UDP exchange from a socket bound to `source` (e.g. 127.0.0.2), no retry.
pub fn udp_from(
    source: &str,
    addr: SocketAddr,
    packet: &[u8],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((source, 0)).unwrap();
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket.send_to(packet, addr).unwrap();
    let mut buf = vec![0u8; 65_535];
    socket
        .recv_from(&mut buf)
        .ok()
        .map(|(n, _)| buf[..n].to_vec())
}

/// Polls `f` every 50 ms until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A loopback TCP port that was free a moment ago (for programs that cannot be told
/// to listen on port 0 and report the port, like pebble).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `openssl` with `args` in `dir`; a missing openssl fails the test with what
/// to install.
pub fn openssl_in(dir: &std::path::Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}): install it (tests/run.sh does: apt-get install openssl)")
        });
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A throwaway CA (`ca.pem`) and a server key and certificate signed by it
/// (`server.key`, `server.pem`) for `subject_alt_name` (e.g. "IP:127.0.0.1"), EC
/// P-256, in `dir`. Strict verifiers (Python 3.13's default) accept the pair.
pub fn tls_ca_and_server(dir: &std::path::Path, subject_alt_name: &str) {
    let ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    openssl_in(dir, &[&["genpkey"][..], &ec, &["-out", "ca.key"]].concat());
    openssl_in(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-sha256",
            "-days",
            "2",
            "-subj",
            "/CN=lanseal-test-CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.pem",
        ],
    );
    openssl_in(
        dir,
        &[&["genpkey"][..], &ec, &["-out", "server.key"]].concat(),
    );
    openssl_in(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "server.key",
            "-subj",
            "/CN=lanseal-test-server",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName={subject_alt_name}\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        ),
    )
    .unwrap();
    openssl_in(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

/// Waits up to `timeout` for `child` to exit; kills it (and reaps it) if it does not.
/// `None` on timeout.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long a test waits for something that must happen (an answer, a closed
/// connection, a counter): generous, since the machine may be loaded; a test that
/// passes never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// One UDP query, sent once and waited for up to `timeout`: unlike [`udp_query`],
/// a slow answer can never turn into a second query (for tests that count what
/// lanseal forwards or merges).
pub fn udp_query_once(addr: SocketAddr, message: &Message, timeout: Duration) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket.send_to(&message.to_vec().unwrap(), addr).unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no UDP answer within {timeout:?}: {e}"));
    let response = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(response.metadata.id, message.metadata.id);
    response
}

/// Waits up to `timeout` for the server to close `stream`: a read that returns 0
/// (FIN) or fails with ECONNRESET or ECONNABORTED. A read that only times out is
/// not a close. Returns when the close was seen, or what happened instead.
pub fn wait_closed_by_server(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<std::time::Instant, String> {
    use std::io::ErrorKind;
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!("still open after {timeout:?}"));
        }
        stream
            .set_read_timeout(Some(left.min(Duration::from_secs(1))))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Ok(std::time::Instant::now()),
            Ok(n) => return Err(format!("the server sent {n} bytes instead of closing")),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                return Ok(std::time::Instant::now());
            }
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}

impl Server {
    /// Polls the counters (SIGUSR1) until `done` holds for them or `timeout`
    /// passes; returns the last snapshot either way, for the caller to assert on.
    pub fn counters_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&std::collections::HashMap<String, u64>) -> bool,
    ) -> std::collections::HashMap<String, u64> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let counters = self.counters();
            if done(&counters) || std::time::Instant::now() >= deadline {
                return counters;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of `field` in the `cache:` line lanseal logs on SIGUSR1.
    pub fn cache_field(&self, field: &str) -> u64 {
        self.signal("USR1");
        let line = self.wait_log("cache:");
        let value = line
            .split(&format!(" {field}="))
            .nth(1)
            .unwrap_or_else(|| panic!("no {field}= in {line}"));
        value.split_whitespace().next().unwrap().parse().unwrap()
    }
}

/// A running daemon's local API (`[api]`), reached with curl.
pub struct LocalApi {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    pub token: String,
}

/// What curl got: the status, the headers (lower-case names) and the body.
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Server {
    /// The local API, from its start-up log line
    /// ("api: http://127.0.0.1:PORT/ (token in FILE)").
    pub fn local_api(&self) -> LocalApi {
        let line = self.wait_log("api: http://");
        let rest = line.split("api: ").nth(1).unwrap();
        let base = rest
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('/');
        let file = rest
            .split("(token in ")
            .nth(1)
            .unwrap()
            .trim_end_matches(')');
        let token = std::fs::read_to_string(file).unwrap().trim().to_string();
        LocalApi {
            base: base.to_string(),
            token,
        }
    }
}

impl LocalApi {
    /// `method path` with the token and `body` (JSON text), if any.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.call_as(Some(&self.token), method, path, body)
    }

    /// `method path` presenting `token` (None: no Authorization header).
    pub fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut command = Command::new("curl");
        command.args(["-sS", "-D", "-", "-X", method, "--max-time", "60", &url]);
        let authorization;
        if let Some(token) = token {
            authorization = format!("Authorization: Bearer {token}");
            command.args(["-H", &authorization]);
        }
        if body.is_some() {
            command.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ]);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("curl (tests/run.sh installs it)");
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(body.unwrap_or_default().as_bytes())
            .unwrap();
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "curl {method} {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        Answer {
            status,
            headers: head.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }
}

/// A port free for both UDP and TCP on 127.0.0.1, for a DNS server whose
/// port must be known before it starts.
pub fn free_dns_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `lanseal <args>`; its stdout, or a failure showing both streams.
pub fn lanseal(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "lanseal {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `command` with `stdin` as its standard input; its output (a missing
/// program fails the test with what to install).
pub fn run_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (tests/run.sh installs it)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
