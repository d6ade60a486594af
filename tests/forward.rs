//! The forwarder against real servers: a second lanseal on loopback is the
//! upstream (authoritative for `up.test`), the first forwards to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn upstream(ttl: u32) -> Server {
    let big: String = (0..12)
        .map(|i| format!("  \"big TXT \\\"{i:02}{}\\\"\",\n", "x".repeat(150)))
        .collect();
    Server::start(
        "acl = [\"any\"]\nrate_limit_qps = 0",
        &format!(
            "[[zone]]\nname = \"up.test\"\nttl = {ttl}\nrecords = [\n  \"www A 192.0.2.71\",\n  \"inside A 192.168.5.5\",\n  \"inside6 AAAA fd00::5\",\n  \"www AAAA 2001:db8::71\",\n  \"alias CNAME www\",\n  \"3f1c TXT \\\"token-from-the-delegate\\\"\",\n{big}]\n"
        ),
    )
}

fn front(upstreams: &[SocketAddr], body: &str) -> Server {
    let list: Vec<String> = upstreams.iter().map(|a| format!("\"{a}\"")).collect();
    Server::start(&format!("upstreams = [{}]", list.join(", ")), body)
}

fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

fn ttl_of(m: &Message) -> u32 {
    m.answers[0].ttl
}

#[test]
fn forwards_and_caches() {
    let up = upstream(300);
    let s = front(&[up.addr], "");
    // The answer is cached between these two instants.
    let before_insert = Instant::now();
    let m = s.query("www.up.test", RecordType::A);
    let after_insert = Instant::now();
    assert_eq!(answers(&m), ["www.up.test. 300 A 192.0.2.71"]);
    assert!(m.metadata.recursion_available && !m.metadata.authoritative);
    // Letter case is the client's, from the cache too.
    let m = s.query("WWW.Up.test", RecordType::A);
    assert_eq!(m.answers[0].name.to_string(), "WWW.Up.test.");
    let m = s.query("alias.up.test", RecordType::A);
    assert_eq!(m.answers.len(), 2);
    let m = s.query("nx.up.test", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    // The upstream goes away: answers and NXDOMAIN come from the cache, TTLs
    // counting down.
    drop(up);
    std::thread::sleep(Duration::from_millis(1100));
    let before_lookup = Instant::now();
    let m = s.query("www.up.test", RecordType::A);
    let after_lookup = Instant::now();
    assert_eq!(rcode(&m), ResponseCode::NoError);
    // The cache counts whole seconds of its monotonic clock, so the age it sees is
    // at least the whole seconds surely between insert and lookup (at least one,
    // after the sleep) and at most the seconds, rounded up, that may lie between.
    let age_min = (before_lookup - after_insert).as_secs() as u32;
    let age_max = (after_lookup - before_insert).as_secs_f64().ceil() as u32;
    let ttls = 300u32.saturating_sub(age_max)..=300 - age_min;
    assert!(
        ttls.contains(&ttl_of(&m)),
        "TTL {} not in {ttls:?}",
        ttl_of(&m)
    );
    let m = s.query("nx.up.test", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    // Not cached, upstream gone: SERVFAIL.
    let m = s.query("other.up.test", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::ServFail);
    let counters = s.counters();
    assert!(counters["dns_forwarded"] >= 3, "{counters:?}");
}

#[test]
fn serves_stale_when_upstreams_fail() {
    let up = upstream(1);
    let s = front(&[up.addr], "");
    assert_eq!(answers(&s.query("www.up.test", RecordType::A)).len(), 1);
    drop(up);
    std::thread::sleep(Duration::from_millis(2100));
    let m = s.query("www.up.test", RecordType::A);
    assert_eq!(answers(&m), ["www.up.test. 30 A 192.0.2.71"]);
}

#[test]
fn fails_over_from_a_silent_upstream() {
    let up = upstream(300);
    // Receives queries and never answers (held open so nothing else takes the port).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let s = front(&[silent.local_addr().unwrap(), up.addr], "");
    for name in ["www.up.test", "alias.up.test"] {
        let m = s.query(name, RecordType::A);
        assert_eq!(rcode(&m), ResponseCode::NoError, "{name}");
    }
    let m = s.query("www.up.test", RecordType::AAAA);
    assert_eq!(answers(&m), ["www.up.test. 300 AAAA 2001:db8::71"]);
}

#[test]
fn truncated_upstream_answers_are_fetched_over_tcp() {
    let up = upstream(300);
    let s = front(&[up.addr], "");
    let m = tcp_query(s.addr, &query_message("big.up.test", RecordType::TXT, true));
    assert_eq!(m.answers.len(), 12);
    // Over UDP the client gets TC=1 and follows up over TCP itself.
    let m = s.query("big.up.test", RecordType::TXT);
    assert!(m.metadata.truncation && m.answers.is_empty());
    let out = dig(s.addr, &["big.up.test", "TXT", "+short"]);
    assert_eq!(out.lines().count(), 12, "{out}");
}

#[test]
fn overlay_zones_forward_what_they_do_not_define() {
    let up = upstream(300);
    let body = r#"
[[zone]]
name = "up.test"
mode = "overlay"
records = ["local A 192.168.9.9"]
[zone.mail]
spf = "v=spf1 ip4:192.168.9.0/24 -all"
"#;
    let s = front(&[up.addr], body);
    assert_eq!(
        answers(&s.query("local.up.test", RecordType::A)),
        ["local.up.test. 300 A 192.168.9.9"]
    );
    // Sent once each (a slow answer must not become a second forwarded query).
    let once =
        |name: &str, rtype| udp_query_once(s.addr, &query_message(name, rtype, true), DEADLINE);
    assert_eq!(
        answers(&once("www.up.test", RecordType::A)),
        ["www.up.test. 300 A 192.0.2.71"]
    );
    // The apex: the mail record is local, its SOA comes from upstream.
    let out = dig(s.addr, &["up.test", "TXT", "+short"]);
    assert_eq!(out.trim(), "\"v=spf1 ip4:192.168.9.0/24 -all\"");
    let m = once("up.test", RecordType::SOA);
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
    // Single-label names never leave (domain_needed), nor do reverse lookups of
    // private addresses nobody here knows (bogus_priv).
    let m = s.query("printer", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    let out = dig(s.addr, &["-x", "192.168.77.1"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    let m = s.query("local.up.test", RecordType::A);
    assert_eq!(m.answers.len(), 1);
    let counters = s.counters();
    // www.up.test and the apex SOA went upstream; the single-label name and the
    // private reverse name never did.
    assert_eq!(counters["dns_forwarded"], 2, "{counters:?}");
}

/// A fake upstream (the one kind of server no real component plays): it answers
/// each query first with a wrong ID, then with the wrong question, and only then
/// correctly. lanseal must ignore the first two.
#[test]
fn spoofed_answers_are_ignored() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let fake_addr = fake.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = fake.recv_from(&mut buf) {
            let query = Message::from_vec(&buf[..n]).unwrap();
            let answer = |id: u16, name: &str, address: [u8; 4]| {
                let mut m = Message::response(id, query.metadata.op_code);
                let q = query.queries[0].clone();
                let owner = hickory_proto::rr::Name::from_ascii(name).unwrap();
                let mut q2 = q.clone();
                q2.set_name(owner.clone());
                m.add_query(q2);
                m.add_answer(hickory_proto::rr::Record::from_rdata(
                    owner,
                    60,
                    hickory_proto::rr::RData::A(std::net::Ipv4Addr::from(address).into()),
                ));
                m.to_vec().unwrap()
            };
            let id = query.metadata.id;
            let _ = fake.send_to(
                &answer(id.wrapping_add(1), "spoof.test.", [6, 6, 6, 6]),
                peer,
            );
            let _ = fake.send_to(&answer(id, "other.test.", [6, 6, 6, 7]), peer);
            let _ = fake.send_to(&answer(id, "spoof.test.", [192, 0, 2, 1]), peer);
        }
    });
    let s = front(&[fake_addr], "");
    let m = s.query("spoof.test", RecordType::A);
    assert_eq!(answers(&m), ["spoof.test. 60 A 192.0.2.1"]);
}

#[test]
fn rebinding_answers_are_dropped_unless_allowed() {
    let up = upstream(300);
    let s = front(&[up.addr], "");
    for (name, rtype) in [
        ("inside.up.test", RecordType::A),
        ("inside6.up.test", RecordType::AAAA),
    ] {
        // Sent once: a retry would be forwarded, and dropped, again.
        let m = udp_query_once(s.addr, &query_message(name, rtype, true), DEADLINE);
        assert_eq!(
            (rcode(&m), m.answers.len()),
            (ResponseCode::NXDomain, 0),
            "{name}"
        );
    }
    // Public addresses pass.
    assert_eq!(
        rcode(&s.query("www.up.test", RecordType::A)),
        ResponseCode::NoError
    );
    s.signal("USR1");
    let line = s.wait_log("cache:");
    assert!(line.contains("rebind_dropped=2"), "{line}");
    let list = format!(
        "upstreams = [\"{}\"]\nrebind_allow = [\"up.test\"]",
        up.addr
    );
    let s = Server::start(&list, "");
    let m = s.query("inside.up.test", RecordType::A);
    assert_eq!(answers(&m), ["inside.up.test. 300 A 192.168.5.5"]);
}

#[test]
fn routes_send_a_domain_to_its_own_servers() {
    let up = upstream(300);
    let other = Server::start(
        "acl = [\"any\"]",
        "[[zone]]\nname = \"corp.test\"\nrecords = [\"intranet A 192.0.2.99\"]\n",
    );
    let extra = format!(
        "upstreams = [\"{}\"]\nroutes = {{ \"corp.test\" = [\"{}\"] }}",
        up.addr, other.addr
    );
    let s = Server::start(&extra, "");
    assert_eq!(
        answers(&s.query("intranet.corp.test", RecordType::A)),
        ["intranet.corp.test. 300 A 192.0.2.99"]
    );
    assert_eq!(
        answers(&s.query("www.up.test", RecordType::A)),
        ["www.up.test. 300 A 192.0.2.71"]
    );
}

/// The servers in resolv.conf have no port (53 is implied), and binding port 53
/// needs root, so this test follows the file's changes through the log; the
/// forwarding itself is the same code the other tests drive. Loopback addresses
/// only: nothing is queried, and nothing would leave the machine if it were.
#[test]
fn resolv_file_changes_are_picked_up() {
    let dir = TempDir::new();
    let resolv = dir.write("resolv.conf", "nameserver 127.0.0.53\n");
    let config = format!(
        "log_level = \"debug\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"{}\"\n",
        resolv.display()
    );
    let s = Server::start_config(&config);
    std::fs::write(&resolv, "# netifd\nnameserver 127.0.0.53\nnameserver ::1\n").unwrap();
    s.wait_log("forwarding to 2 upstream(s)");
    // Replaced by rename, as netifd does.
    let tmp = dir.write("resolv.tmp", "nameserver ::1\n");
    std::fs::rename(tmp, &resolv).unwrap();
    s.wait_log("forwarding to 1 upstream(s)");
}

/// An ACME validator asks for `_acme-challenge.router.<zone>`: the local CNAME to
/// the delegate and the delegate's TXT come back together.
#[test]
fn cname_chains_leave_local_zones_through_the_forwarder() {
    let up = upstream(300);
    let body = r#"
[[zone]]
name = "home.test"
records = [
  "_acme-challenge.router CNAME 3f1c.up.test.",
  "gone CNAME nothing.up.test.",
  "web CNAME alias.up.test.",
]
"#;
    let s = front(&[up.addr], body);
    for _ in 0..2 {
        // Fetched the first time, from the cache the second.
        let m = s.query("_acme-challenge.router.home.test", RecordType::TXT);
        assert_eq!(
            answers(&m),
            [
                "_acme-challenge.router.home.test. 300 CNAME 3f1c.up.test.",
                "3f1c.up.test. 300 TXT token-from-the-delegate"
            ]
        );
    }
    let out = dig(
        s.addr,
        &["_acme-challenge.router.home.test", "TXT", "+short"],
    );
    assert_eq!(
        out.lines().last(),
        Some("\"token-from-the-delegate\""),
        "{out}"
    );
    // The chain continues upstream (alias -> www), and its end decides the RCODE.
    let m = s.query("web.home.test", RecordType::A);
    assert_eq!(m.answers.len(), 3, "{:?}", answers(&m));
    let m = s.query("gone.home.test", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
}

/// The rest of a local chain that the cache does not keep (no cache at all,
/// or an upstream answer with TTL 0) comes from the upstream's answer itself:
/// before, the chain was answered SERVFAIL.
#[test]
fn cname_chains_the_cache_does_not_keep_are_still_answered() {
    let body = r#"
[[zone]]
name = "home.test"
records = ["_acme-challenge.router CNAME 3f1c.up.test.", "web CNAME alias.up.test."]
"#;
    for (ttl, cache) in [(300, "cache_entries_max = 0"), (0, "")] {
        let up = upstream(ttl);
        let s = Server::start(&format!("upstreams = [\"{}\"]\n{cache}", up.addr), body);
        for _ in 0..2 {
            let m = s.query("_acme-challenge.router.home.test", RecordType::TXT);
            assert_eq!(rcode(&m), ResponseCode::NoError, "ttl {ttl} {cache}");
            assert_eq!(
                answers(&m),
                [
                    "_acme-challenge.router.home.test. 300 CNAME 3f1c.up.test.".to_string(),
                    format!("3f1c.up.test. {ttl} TXT token-from-the-delegate"),
                ],
                "ttl {ttl} {cache}"
            );
            // The chain continues upstream (alias -> www).
            let m = s.query("web.home.test", RecordType::A);
            assert_eq!(m.answers.len(), 3, "{:?}", answers(&m));
        }
    }
}

/// The longest a [`SlowUpstream`] holds a TCP answer: below lanseal's 3 s timeout
/// for an upstream TCP exchange, so even an answer held this long is taken.
const HOLD_MAX: Duration = Duration::from_secs(2);

/// A fake upstream (no real server can be made slow on purpose and count what it
/// receives). Over UDP it answers every query at once with TC=1 and no records,
/// which sends lanseal to TCP; there it holds each answer (`same.test. 60 A
/// 192.0.2.9`) until the test releases it, or for [`HOLD_MAX`]. The UDP answer is
/// immediate because lanseal gives a UDP attempt only 250 ms or so; the TCP hold
/// gives the test seconds in which every client's question reaches lanseal while
/// the first one is still upstream.
struct SlowUpstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    released: Arc<AtomicBool>,
}

impl SlowUpstream {
    fn start() -> SlowUpstream {
        // UDP and TCP on one port, as for any DNS server.
        let (tcp, udp) = (0..20)
            .find_map(|_| {
                let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
                let udp = UdpSocket::bind(tcp.local_addr().unwrap()).ok()?;
                Some((tcp, udp))
            })
            .expect("a port free for both UDP and TCP");
        let upstream = SlowUpstream {
            addr: udp.local_addr().unwrap(),
            udp_queries: Arc::default(),
            tcp_queries: Arc::default(),
            released: Arc::default(),
        };
        let udp_queries = upstream.udp_queries.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                udp_queries.fetch_add(1, Ordering::SeqCst);
                let query = Message::from_vec(&buf[..n]).unwrap();
                let mut m = Message::response(query.metadata.id, query.metadata.op_code);
                m.add_query(query.queries[0].clone());
                m.metadata.truncation = true;
                let _ = udp.send_to(&m.to_vec().unwrap(), peer);
            }
        });
        let (tcp_queries, released) = (upstream.tcp_queries.clone(), upstream.released.clone());
        std::thread::spawn(move || {
            for stream in tcp.incoming() {
                let Ok(stream) = stream else { break };
                let (tcp_queries, released) = (tcp_queries.clone(), released.clone());
                std::thread::spawn(move || hold_and_answer(stream, &tcp_queries, &released));
            }
        });
        upstream
    }

    fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }
}

/// Reads one length-prefixed query, counts it, waits for the release (at most
/// [`HOLD_MAX`]) and answers it.
fn hold_and_answer(mut stream: TcpStream, queries: &AtomicUsize, released: &AtomicBool) {
    let accepted = Instant::now();
    let mut length = [0u8; 2];
    if stream.read_exact(&mut length).is_err() {
        return;
    }
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(length))];
    if stream.read_exact(&mut buf).is_err() {
        return;
    }
    queries.fetch_add(1, Ordering::SeqCst);
    while !released.load(Ordering::SeqCst) && accepted.elapsed() < HOLD_MAX {
        std::thread::sleep(Duration::from_millis(10));
    }
    let query = Message::from_vec(&buf).unwrap();
    let mut m = Message::response(query.metadata.id, query.metadata.op_code);
    m.add_query(query.queries[0].clone());
    m.add_answer(hickory_proto::rr::Record::from_rdata(
        query.queries[0].name().clone(),
        60,
        hickory_proto::rr::RData::A(std::net::Ipv4Addr::new(192, 0, 2, 9).into()),
    ));
    let answer = m.to_vec().unwrap();
    let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&answer);
    let _ = stream.write_all(&framed);
}

/// Twenty clients asking the same question while it is upstream cause one upstream
/// query. The upstream holds its answer until lanseal reports all nineteen
/// followers merged into the first question, so the test does not depend on how
/// fast the clients or lanseal run; without merging the upstream would see twenty
/// queries (and `merged` would stay below 19 until the hold ends).
#[test]
fn identical_questions_in_flight_are_merged() {
    const CLIENTS: usize = 20;
    let upstream = SlowUpstream::start();
    let s = front(&[upstream.addr], "");
    // One thread sends every query (no thread start-up between them), each from a
    // socket of its own, as twenty clients would; each is sent once.
    let clients: Vec<UdpSocket> = (0..CLIENTS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for (i, client) in clients.iter().enumerate() {
        let mut query = query_message("same.test", RecordType::A, true);
        query.metadata.id = 100 + i as u16;
        client.send_to(&query.to_vec().unwrap(), s.addr).unwrap();
    }
    let followers = (CLIENTS - 1) as u64;
    let deadline = Instant::now() + HOLD_MAX;
    while s.cache_field("merged") < followers && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    upstream.release();
    let mut buf = [0u8; 1500];
    for (i, client) in clients.iter().enumerate() {
        client.set_read_timeout(Some(DEADLINE)).unwrap();
        let (n, _) = client
            .recv_from(&mut buf)
            .expect("an answer for every client");
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(m.metadata.id, 100 + i as u16);
        assert_eq!(answers(&m), ["same.test. 60 A 192.0.2.9"], "client {i}");
    }
    let upstream_queries = (
        upstream.udp_queries.load(Ordering::SeqCst),
        upstream.tcp_queries.load(Ordering::SeqCst),
    );
    assert_eq!(upstream_queries, (1, 1), "upstream queries (UDP, TCP)");
    assert_eq!(s.cache_field("merged"), followers);
}

/// 100 000 distinct names through the cache: it stays within `cache_bytes_max`,
/// and so does the process.
#[test]
fn cache_stays_within_its_byte_limit() {
    let up = Server::start(
        "acl = [\"any\"]\nrate_limit_qps = 0",
        "[[zone]]\nname = \"ip.test\"\nip_names = true\nip_names_private_only = false\n",
    );
    let limit = 1 << 20;
    let extra = format!(
        "upstreams = [\"{}\"]\nrate_limit_qps = 0\ncache_entries_max = 1000000\ncache_bytes_max = {limit}",
        up.addr
    );
    let s = Server::start(&extra, "");
    let addr = s.addr;
    // What the process holds before the cache fills (a debug build's code
    // pages are most of it) is the base its growth is measured from.
    assert_eq!(
        rcode(&s.query("1-0-0-1.ip.test", RecordType::A)),
        ResponseCode::NoError
    );
    let rss_kb = |pid: u32| -> usize {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap()
    };
    let base_kb = rss_kb(s.pid());
    let workers: Vec<_> = (0..4u32)
        .map(|w| {
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut answered = 0;
                let mut buf = [0u8; 1500];
                // 25 000 names per worker, 50 outstanding at a time.
                for batch in 0..500u32 {
                    for k in 0..50u32 {
                        let n = w * 25_000 + batch * 50 + k;
                        let name = format!("1-{}-{}-{}.ip.test", n >> 16, (n >> 8) & 255, n & 255);
                        let packet = query_message(&name, RecordType::A, false).to_vec().unwrap();
                        socket.send_to(&packet, addr).unwrap();
                    }
                    for _ in 0..50 {
                        if socket.recv_from(&mut buf).is_ok() {
                            answered += 1;
                        }
                    }
                }
                answered
            })
        })
        .collect();
    let answered: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(answered > 99_000, "answered {answered} of 100000");
    s.signal("USR1");
    let line = s.wait_log("cache:");
    let field = |name: &str| -> usize {
        let value = line.split(&format!("{name}=")).nth(1).unwrap();
        value.split_whitespace().next().unwrap().parse().unwrap()
    };
    let (entries, bytes) = (field("entries"), field("bytes"));
    assert!(bytes <= limit, "{line}");
    assert!(entries > 5_000, "{line}");
    // 1 MiB of cache, its index, and what the allocator keeps around them.
    let rss_kb = rss_kb(s.pid());
    let grown_kb = rss_kb.saturating_sub(base_kb);
    assert!(grown_kb < 6 * 1024, "RSS {base_kb} KiB -> {rss_kb} KiB");
    eprintln!(
        "cache: {entries} entries in {bytes} bytes ({} per entry); RSS {base_kb} KiB -> {rss_kb} KiB",
        bytes / entries
    );
}

#[test]
fn sighup_keeps_the_cache() {
    let up = upstream(300);
    let extra = format!("upstreams = [\"{}\"]", up.addr);
    let s = Server::start(&extra, "");
    assert_eq!(
        rcode(&s.query("www.up.test", RecordType::A)),
        ResponseCode::NoError
    );
    drop(up);
    // A reload that keeps the cache settings keeps the cache.
    s.rewrite(
        &extra,
        "[[zone]]\nname = \"new.test\"\nrecords = [\"x A 192.0.2.5\"]\n",
    );
    s.signal("HUP");
    s.wait_log("reloaded");
    let m = s.query("www.up.test", RecordType::A);
    assert_eq!(answers(&m).len(), 1, "{m:?}");
    assert_eq!(answers(&s.query("x.new.test", RecordType::A)).len(), 1);
    // New cache sizes start a new cache.
    s.rewrite(&format!("{extra}\ncache_entries_max = 500"), "");
    s.signal("HUP");
    s.wait_log("reloaded");
    let m = s.query("www.up.test", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::ServFail);
}

/// The TTL an entry of the prefetch test lives for: its last tenth is 3 s, wide
/// enough for a poll every 250 ms on a loaded machine.
const PREFETCH_TTL_SECS: u32 = 30;

/// What one run of the prefetch test saw (see below).
struct PrefetchRun {
    /// Upstream queries after the last query.
    upstream_queries: u64,
    /// The front's cache misses and hits added by the query after the expiry.
    misses_added: u64,
    hits_added: u64,
    /// The front's prefetch counters at the end.
    prefetch: serde_json::Value,
    /// The TTL of the answer after the expiry.
    ttl_after_expiry: u32,
    metrics: String,
}

/// A front (with `prefetch` as given) and its upstream: one query caches the
/// answer; queries every 250 ms until one is answered in the last tenth of the
/// TTL; then (after any prefetch is answered) one more once the first answer has
/// surely expired. `None` if a stall made the polls miss the last tenth.
fn prefetch_run(prefetch: bool) -> Option<PrefetchRun> {
    let up = upstream(PREFETCH_TTL_SECS);
    let state = TempDir::new();
    let config = format!(
        "state_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\nupstreams = [\"{}\"]\nprefetch = {prefetch}\n[api]\nlisten = \"127.0.0.1:0\"\n",
        state.0.display(),
        up.addr
    );
    let s = Server::start_config(&config);
    let api = s.local_api();
    let stats = || api.call("GET", "/api/v1/dns/stats", None).json();
    let first = s.query("www.up.test", RecordType::A);
    // The answer was cached before this instant.
    let cached = Instant::now();
    assert_eq!(ttl_of(&first), PREFETCH_TTL_SECS);
    let window = PREFETCH_TTL_SECS / 10;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let ttl = ttl_of(&s.query("www.up.test", RecordType::A));
        if ttl <= window {
            break;
        }
        if cached.elapsed() >= Duration::from_secs(u64::from(PREFETCH_TTL_SECS - window)) {
            // The last tenth came and went between two polls.
            return None;
        }
    }
    if prefetch {
        let answered = eventually(DEADLINE, || stats()["prefetch"]["answered"] == 1);
        assert!(answered, "{}", stats());
    }
    // The first answer has expired (a second more than its TTL after it was
    // cached, whole seconds counted either way).
    let expired = cached + Duration::from_secs(u64::from(PREFETCH_TTL_SECS) + 1);
    std::thread::sleep(expired.saturating_duration_since(Instant::now()));
    let before = stats();
    // Sent once: a retry would count twice.
    let query = query_message("www.up.test", RecordType::A, true);
    let after_expiry = udp_query_once(s.addr, &query, DEADLINE);
    assert_eq!(answers(&after_expiry).len(), 1, "{after_expiry:?}");
    let after = stats();
    let added = |field: &str| {
        after["cache"][field].as_u64().unwrap() - before["cache"][field].as_u64().unwrap()
    };
    Some(PrefetchRun {
        upstream_queries: up.counters()["dns_queries"],
        misses_added: added("misses"),
        hits_added: added("hits"),
        prefetch: after["prefetch"].clone(),
        ttl_after_expiry: ttl_of(&after_expiry),
        metrics: api.call("GET", "/metrics", None).body,
    })
}

/// Issue 13: a cached answer asked for in the last tenth of its TTL is refreshed
/// in the background, so the answer after the first one's expiry is still a hit
/// (and the upstream saw one query more, before it); with `prefetch = false`
/// that answer is a miss. Both runs go at once (each lasts a TTL).
#[test]
fn prefetch_refreshes_answers_asked_for_in_the_last_tenth_of_their_ttl() {
    let run = |prefetch| {
        // A machine stalled through a whole 3 s window gets two more tries.
        (0..3)
            .find_map(|_| prefetch_run(prefetch))
            .expect("the polls never landed in the last tenth of the TTL")
    };
    let (on, off) = std::thread::scope(|scope| {
        let on = scope.spawn(|| run(true));
        let off = scope.spawn(|| run(false));
        (on.join().unwrap(), off.join().unwrap())
    });
    // On: the first query and the prefetch went upstream; the query after the
    // expiry was answered from the refreshed entry.
    assert_eq!(on.upstream_queries, 2);
    assert_eq!((on.hits_added, on.misses_added), (1, 0));
    assert!(
        on.ttl_after_expiry > PREFETCH_TTL_SECS / 2,
        "{}",
        on.ttl_after_expiry
    );
    assert_eq!(on.prefetch["started"], 1, "{}", on.prefetch);
    assert_eq!(on.prefetch["answered"], 1, "{}", on.prefetch);
    assert_eq!(on.prefetch["dropped"], 0, "{}", on.prefetch);
    for line in [
        "lanseal_dns_prefetch_started_total 1\n",
        "lanseal_dns_prefetch_answered_total 1\n",
        "lanseal_dns_prefetch_dropped_total 0\n",
    ] {
        assert!(on.metrics.contains(line), "{line}{}", on.metrics);
    }
    // Off: nothing asked early, and the query after the expiry missed and went
    // upstream (its answer is then written from the cache: one hit too).
    assert_eq!(off.upstream_queries, 2);
    assert_eq!((off.hits_added, off.misses_added), (1, 1));
    assert_eq!(off.ttl_after_expiry, PREFETCH_TTL_SECS);
    assert_eq!(off.prefetch["started"], 0, "{}", off.prefetch);
    assert!(
        off.metrics
            .contains("lanseal_dns_prefetch_started_total 0\n")
    );
}
