//! DNS over TLS against a real server: unbound on loopback with a throwaway CA and a
//! certificate for `dot.test` made by the openssl CLI, answering from a local zone
//! (no network). Both programs are required: tests/run.sh installs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use lanseal::dns::dot::{DotClient, roots};

use common::{TempDir, answers, query_message};

const TIMEOUT: Duration = Duration::from_secs(5);
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// TXT records in `big.dot.test`: about 25 KB, so the answer spans several TLS records.
const BIG_RECORDS: usize = 120;

/// Runs `openssl` with `args` (split at spaces) in `dir`.
fn openssl(dir: &Path, args: &str) {
    let args: Vec<&str> = args.split_whitespace().collect();
    common::openssl_in(dir, &args);
}

/// A throwaway CA (`ca.pem`) and a server key and certificate for `dot.test`
/// signed by it (`server.key`, `server.pem`), EC P-256.
fn make_certificates(dir: &Path) {
    let ec = "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";
    openssl(dir, &format!("genpkey {ec} -out ca.key"));
    openssl(
        dir,
        "req -x509 -new -key ca.key -sha256 -days 2 -subj /CN=lanseal-test-CA \
         -addext basicConstraints=critical,CA:TRUE \
         -addext keyUsage=critical,keyCertSign,cRLSign -out ca.pem",
    );
    openssl(dir, &format!("genpkey {ec} -out server.key"));
    openssl(
        dir,
        "req -new -key server.key -subj /CN=dot.test -out server.csr",
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:dot.test\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 \
         -sha256 -extfile server.ext -out server.pem",
    );
}

/// unbound serving DoT on 127.0.0.1, killed on drop.
struct Unbound {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl Unbound {
    fn start() -> Self {
        let dir = TempDir::new();
        make_certificates(&dir.0);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.0.display();
        let mut config = format!(
            "server:\n  verbosity: 1\n  interface: 127.0.0.1@{port}\n  tls-port: {port}\n  \
             tls-service-key: \"{d}/server.key\"\n  tls-service-pem: \"{d}/server.pem\"\n  \
             do-ip6: no\n  do-udp: no\n  num-threads: 1\n  module-config: \"iterator\"\n  \
             username: \"\"\n  chroot: \"\"\n  pidfile: \"\"\n  directory: \"{d}\"\n  \
             do-daemonize: no\n  use-syslog: no\n  logfile: \"\"\n  \
             local-zone: \".\" refuse\n  local-zone: \"dot.test.\" static\n  \
             local-data: \"a.dot.test. 300 IN A 192.0.2.1\"\n  \
             local-data: \"b.dot.test. 300 IN A 192.0.2.2\"\n  \
             local-data: \"b.dot.test. 300 IN AAAA 2001:db8::2\"\n"
        );
        for n in 0..BIG_RECORDS {
            let text = format!("{n:03}{}", "x".repeat(197));
            config.push_str(&format!(
                "  local-data: 'big.dot.test. 300 IN TXT \"{text}\"'\n"
            ));
        }
        dir.write("unbound.conf", &config);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = spawn(&dir.0, addr);
        Self { child, addr, dir }
    }

    /// Kills unbound and starts it again on the same port and files.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.dir.0, self.addr);
    }

    fn ca(&self) -> PathBuf {
        self.dir.0.join("ca.pem")
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts unbound on `dir`/unbound.conf and waits until it accepts connections.
fn spawn(dir: &Path, addr: SocketAddr) -> Child {
    let log = std::fs::File::create(dir.join("unbound.log")).unwrap();
    let mut child = Command::new("unbound")
        .arg("-d")
        .arg("-c")
        .arg(dir.join("unbound.conf"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `unbound` ({e}): install it (tests/run.sh does: apt-get install unbound)")
        });
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        let exited = child.try_wait().unwrap();
        if exited.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("unbound.log")).unwrap_or_default();
            panic!("unbound did not start ({exited:?}):\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One query over `client`; the response parsed and its ID checked.
fn ask(
    runtime: &tokio::runtime::Runtime,
    client: &DotClient,
    name: &str,
    rtype: RecordType,
) -> Message {
    let query = query_message(name, rtype, true);
    let bytes = runtime
        .block_on(client.exchange(&query.to_vec().unwrap(), TIMEOUT))
        .unwrap_or_else(|e| panic!("{name} {rtype}: {e}"));
    let response = Message::from_vec(&bytes).unwrap();
    assert_eq!(response.metadata.id, query.metadata.id);
    response
}

#[test]
fn exchanges_reuse_one_connection_and_survive_a_server_restart() {
    let mut unbound = Unbound::start();
    let roots = roots(Some(&unbound.ca())).unwrap();
    let client = DotClient::new(unbound.addr, "dot.test", roots).unwrap();
    assert_eq!(client.address(), unbound.addr);
    let runtime = runtime();

    let a = ask(&runtime, &client, "a.dot.test.", RecordType::A);
    assert_eq!(answers(&a), ["a.dot.test. 300 A 192.0.2.1"]);
    let b = ask(&runtime, &client, "b.dot.test.", RecordType::AAAA);
    assert_eq!(answers(&b), ["b.dot.test. 300 AAAA 2001:db8::2"]);
    let big = ask(&runtime, &client, "big.dot.test.", RecordType::TXT);
    assert_eq!(big.answers.len(), BIG_RECORDS);
    assert!(big.to_vec().unwrap().len() > 20_000);
    assert_eq!(
        client.connections_opened(),
        1,
        "three queries, one connection"
    );

    let refused = ask(&runtime, &client, "example.com.", RecordType::A);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    let missing = ask(&runtime, &client, "nope.dot.test.", RecordType::A);
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(client.connections_opened(), 1);

    // Two at once need two connections; both are pooled and reused afterwards.
    let query = |name| query_message(name, RecordType::A, false).to_vec().unwrap();
    let (q1, q2) = (query("a.dot.test."), query("b.dot.test."));
    let client = Arc::new(client);
    let (r1, r2) = runtime.block_on(async {
        let c = Arc::clone(&client);
        let first = tokio::spawn(async move { c.exchange(&q1, TIMEOUT).await });
        let second = client.exchange(&q2, TIMEOUT).await;
        (first.await.unwrap(), second)
    });
    assert!(r1.is_ok() && r2.is_ok(), "{r1:?} {r2:?}");
    assert_eq!(client.connections_opened(), 2);
    ask(&runtime, &client, "a.dot.test.", RecordType::A);
    assert_eq!(client.connections_opened(), 2);

    // The server closes every connection: the next query fails on the pooled one
    // before any answer byte and is retried once on a new connection.
    unbound.restart();
    let a = ask(&runtime, &client, "a.dot.test.", RecordType::A);
    assert_eq!(answers(&a), ["a.dot.test. 300 A 192.0.2.1"]);
    assert_eq!(client.connections_opened(), 3);
}

#[test]
fn certificates_must_match_name_and_roots() {
    let unbound = Unbound::start();
    let runtime = runtime();
    let query = query_message("a.dot.test.", RecordType::A, true)
        .to_vec()
        .unwrap();
    let with_ca = roots(Some(&unbound.ca())).unwrap();
    let cases = [
        ("other.test", with_ca, "other.test"),
        ("dot.test", roots(None).unwrap(), "UnknownIssuer"),
    ];
    for (name, trust, expected) in cases {
        let client = DotClient::new(unbound.addr, name, Arc::clone(&trust)).unwrap();
        let error = runtime
            .block_on(client.exchange(&query, TIMEOUT))
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("certificate") && text.contains(expected),
            "{name}: {text}"
        );
        assert_eq!(client.connections_opened(), 0);
    }
}

#[test]
fn dead_or_silent_servers_fail_within_the_timeout() {
    let runtime = runtime();
    let trust = roots(None).unwrap();
    let query = query_message("a.dot.test.", RecordType::A, true)
        .to_vec()
        .unwrap();
    let timeout = Duration::from_millis(700);

    // Nothing listens: refused at once.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = DotClient::new(closed, "dot.test", Arc::clone(&trust)).unwrap();
    let started = Instant::now();
    assert!(runtime.block_on(client.exchange(&query, timeout)).is_err());
    assert!(started.elapsed() < timeout);

    // Accepts TCP (the kernel's backlog) but never speaks TLS: cut at the timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = DotClient::new(silent.local_addr().unwrap(), "dot.test", trust).unwrap();
    let started = Instant::now();
    let error = runtime
        .block_on(client.exchange(&query, timeout))
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
    assert!(elapsed >= timeout && elapsed < timeout + Duration::from_millis(500));
}

/// The whole path: a LAN client asks lanseal over UDP, lanseal asks unbound over
/// TLS (`tls://…#dot.test` with the test CA), and the answer is cached.
#[test]
fn lanseal_forwards_over_tls() {
    let unbound = Unbound::start();
    let extra = format!(
        "upstreams = [\"tls://{}#dot.test\"]\nupstream_ca_file = \"{}\"",
        unbound.addr,
        unbound.ca().display()
    );
    let s = common::Server::start(&extra, "");
    let m = s.query("b.dot.test", RecordType::AAAA);
    assert_eq!(answers(&m), ["b.dot.test. 300 AAAA 2001:db8::2"]);
    // Big answers need no TC dance over TLS; the client gets TC=1 over UDP and the
    // full answer over TCP.
    let m = common::tcp_query(
        s.addr,
        &query_message("big.dot.test", RecordType::TXT, true),
    );
    assert_eq!(m.answers.len(), BIG_RECORDS);
    // Without the test CA the certificate is not trusted: nothing is answered.
    let extra = format!("upstreams = [\"tls://{}#dot.test\"]", unbound.addr);
    let s = common::Server::start(&extra, "");
    let m = s.query("a.dot.test", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}
