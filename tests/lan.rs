//! LAN features against the real binary: IP-embedded names, mail overrides, lease
//! and hosts names, access control, rate limits, live reload and the counters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

const IP_ZONES: &str = r#"
[[zone]]
name = "lan.test"
ttl = 120
ip_names = true
records = ["router A 192.168.1.1", "192-168-1-99 A 10.9.9.9", "nas CNAME 192-168-1-10"]

[[zone]]
name = "pub.test"
ip_names = true
ip_names_private_only = false

[[zone]]
name = "ov.test"
mode = "overlay"
ip_names = true
"#;

fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

#[test]
fn ip_embedded_names() {
    let s = Server::start("", IP_ZONES);
    let m = s.query("192-168-1-10.lan.test", RecordType::A);
    assert_eq!(answers(&m), ["192-168-1-10.lan.test. 120 A 192.168.1.10"]);
    assert!(m.metadata.authoritative);
    // The question's case is echoed.
    let m = s.query("192-168-1-10.LAN.Test", RecordType::A);
    assert_eq!(answers(&m), ["192-168-1-10.LAN.Test. 120 A 192.168.1.10"]);
    // The other family: NODATA with the SOA.
    let m = s.query("192-168-1-10.lan.test", RecordType::AAAA);
    assert_eq!((rcode(&m), m.answers.len()), (ResponseCode::NoError, 0));
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    let m = s.query("fd00--1.lan.test", RecordType::AAAA);
    assert_eq!(answers(&m), ["fd00--1.lan.test. 120 AAAA fd00::1"]);
    let m = s.query("fe80--1-2.lan.test", RecordType::AAAA);
    assert_eq!(answers(&m), ["fe80--1-2.lan.test. 120 AAAA fe80::1:2"]);
    let m = s.query("fd00--1.lan.test", RecordType::A);
    assert_eq!((rcode(&m), m.answers.len()), (ResponseCode::NoError, 0));
    // Public addresses only where the zone allows them.
    for name in ["8-8-8-8.lan.test", "2001-db8--5.lan.test"] {
        let m = s.query(name, RecordType::A);
        assert_eq!(rcode(&m), ResponseCode::NXDomain, "{name}");
    }
    let m = s.query("2001-db8--5.pub.test", RecordType::AAAA);
    assert_eq!(answers(&m), ["2001-db8--5.pub.test. 300 AAAA 2001:db8::5"]);
    let m = s.query("8-8-8-8.pub.test", RecordType::A);
    assert_eq!(answers(&m), ["8-8-8-8.pub.test. 300 A 8.8.8.8"]);
    // Invalid encodings are names that do not exist.
    for name in [
        "300-1-1-1.lan.test",
        "1-2-3.lan.test",
        "010-0-0-1.lan.test",
        "192-168-01-1.lan.test",
        "fd00---1.lan.test",
        "x.192-168-1-10.lan.test",
    ] {
        let m = s.query(name, RecordType::A);
        assert_eq!(rcode(&m), ResponseCode::NXDomain, "{name}");
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA, "{name}");
    }
    // Zone data wins over synthesis, and CNAMEs may point at IP names.
    let m = s.query("192-168-1-99.lan.test", RecordType::A);
    assert_eq!(answers(&m), ["192-168-1-99.lan.test. 120 A 10.9.9.9"]);
    let m = s.query("nas.lan.test", RecordType::A);
    assert_eq!(
        answers(&m),
        [
            "nas.lan.test. 120 CNAME 192-168-1-10.lan.test.",
            "192-168-1-10.lan.test. 120 A 192.168.1.10"
        ]
    );
    // Overlay: valid names are local, anything else belongs upstream.
    let m = s.query("10-0-0-1.ov.test", RecordType::A);
    assert_eq!(answers(&m), ["10-0-0-1.ov.test. 300 A 10.0.0.1"]);
    let m = s.query("1-2-3.ov.test", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::Refused);
}

#[test]
fn ip_names_reverse() {
    let s = Server::start("", IP_ZONES);
    // A name of its own (from an A record) comes first; then the IP name.
    let out = dig(s.addr, &["-x", "192.168.1.1", "+short"]);
    assert_eq!(out.trim(), "router.lan.test.");
    let out = dig(s.addr, &["-x", "192.168.1.10", "+short"]);
    assert_eq!(out.trim(), "192-168-1-10.lan.test.");
    let out = dig(s.addr, &["-x", "fd00::1", "+short"]);
    assert_eq!(out.trim(), "fd00--1.lan.test.");
    let out = dig(s.addr, &["-x", "10.20.30.40", "+short"]);
    assert_eq!(out.trim(), "10-20-30-40.lan.test.");
    // Public addresses are not ours to name.
    let m = s.query("8.8.8.8.in-addr.arpa", RecordType::PTR);
    assert_eq!(rcode(&m), ResponseCode::Refused);
    // Not a whole address: not an IP name, but the apex of the locally served
    // reverse zone (RFC 6303): NODATA with its SOA.
    let m = s.query("168.192.in-addr.arpa", RecordType::PTR);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.answers.is_empty() && m.metadata.authoritative);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
}

fn mail_config(mode: &str, spf: &str, dmarc: &str, dkim: &str) -> String {
    format!(
        r#"
[[zone]]
name = "mail.test"
mode = "{mode}"
records = ["mx1 A 192.168.1.25"]
[zone.mail]
mx = ["10 mx1.mail.test.", "20 backup.example.net."]
spf = "{spf}"
dmarc = "{dmarc}"
dkim = {{ lan = "{dkim}", old = "v=DKIM1; k=rsa; p=QUJD" }}
"#
    )
}

#[test]
fn mail_overrides() {
    let key = "A".repeat(400);
    let dkim = format!("v=DKIM1; k=rsa; p={key}");
    for mode in ["overlay", "authoritative"] {
        let config = mail_config(
            mode,
            "v=spf1 ip4:192.168.1.0/24 -all",
            "v=DMARC1; p=none",
            &dkim,
        );
        let s = Server::start("", &config);
        let m = s.query("mail.test", RecordType::MX);
        assert_eq!(
            answers(&m),
            [
                "mail.test. 300 MX 10 mx1.mail.test.",
                "mail.test. 300 MX 20 backup.example.net."
            ],
            "{mode}"
        );
        let out = dig(s.addr, &["mail.test", "TXT", "+short"]);
        assert_eq!(out.trim(), "\"v=spf1 ip4:192.168.1.0/24 -all\"", "{mode}");
        let out = dig(s.addr, &["_dmarc.mail.test", "TXT", "+short"]);
        assert_eq!(out.trim(), "\"v=DMARC1; p=none\"", "{mode}");
        // A long key is split into 255-byte strings, which a DKIM verifier joins.
        let m = s.query("lan._domainkey.mail.test", RecordType::TXT);
        let Some(hickory_proto::rr::RData::TXT(txt)) = m.answers.first().map(|r| &r.data) else {
            panic!("no TXT: {m:?}");
        };
        let strings: Vec<&[u8]> = txt.txt_data.iter().map(|s| &s[..]).collect();
        assert_eq!(strings[0].len(), 255, "{mode}");
        assert_eq!(strings.concat(), dkim.as_bytes(), "{mode}");
        let out = dig(s.addr, &["old._domainkey.mail.test", "TXT", "+short"]);
        assert_eq!(out.trim(), "\"v=DKIM1; k=rsa; p=QUJD\"");
        let other = s.query("www.mail.test", RecordType::A);
        let apex_a = s.query("mail.test", RecordType::A);
        if mode == "overlay" {
            // Every other name, and the apex's other types, stay public (forwarded
            // once the forwarder exists; refused until then).
            assert_eq!(rcode(&other), ResponseCode::Refused);
            assert_eq!(rcode(&apex_a), ResponseCode::Refused);
        } else {
            assert_eq!(rcode(&other), ResponseCode::NXDomain);
            assert_eq!(
                (rcode(&apex_a), apex_a.answers.len()),
                (ResponseCode::NoError, 0)
            );
        }
    }
}

#[test]
fn mail_values_are_checked() {
    let dir = TempDir::new();
    for (spf, dmarc, dkim, needle) in [
        ("spf1 -all", "v=DMARC1; p=none", "v=DKIM1; p=QUJD", "v=spf1"),
        ("v=spf1 -all", "p=none", "v=DKIM1; p=QUJD", "v=DMARC1"),
        (
            "v=spf1 -all",
            "v=DMARC1; p=none",
            "k=rsa; p=QUJD",
            "v=DKIM1",
        ),
        ("v=spf1 -all", "v=DMARC1; p=none", "v=DKIM1; k=rsa", "p="),
    ] {
        let path = dir.write("bad.toml", &mail_config("overlay", spf, dmarc, dkim));
        let out = run(BIN, &["check-config", "-c", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{spf} {dmarc} {dkim}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.toml:"), "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn lease_and_hosts_names() {
    let dir = TempDir::new();
    let leases = dir.0.join("dhcp.leases");
    let hosts_dir = dir.0.join("hosts.d");
    let extra = format!(
        "leases = [\"{}\"]\nhosts = [\"{}\"]\nlease_domain = \"lan\"\n",
        leases.display(),
        hosts_dir.display()
    );
    let s = Server::start(&extra, "");
    // Neither source exists yet: the lease domain is ours and the name is unknown.
    let m = s.query("laptop.lan", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    // The lease file appears (written elsewhere and renamed in, as dnsmasq may).
    let tmp = dir.write(
        "leases.tmp",
        "0 aa:bb:cc:dd:ee:ff 192.168.1.50 laptop 01:aa:bb:cc:dd:ee:ff\n\
         duid 00:01:00:01:aa:bb:cc:dd:ee:ff:00:11\n\
         0 1234 fd00::50 laptop 00:01:00:01:11\n",
    );
    std::fs::rename(&tmp, &leases).unwrap();
    let answered = |name: &str, rtype, want: &str| {
        eventually(Duration::from_secs(15), || {
            answers(&s.query(name, rtype))
                .iter()
                .any(|a| a.ends_with(want))
        })
    };
    assert!(answered("laptop.lan", RecordType::A, "A 192.168.1.50"));
    assert!(answered("LAPTOP.lan", RecordType::AAAA, "AAAA fd00::50"));
    let out = dig(s.addr, &["-x", "192.168.1.50", "+short"]);
    assert_eq!(out.trim(), "laptop.lan.");
    // The lease changes in place (dnsmasq rewrites the file).
    std::fs::write(&leases, "0 aa:bb:cc:dd:ee:ff 192.168.1.51 laptop *\n").unwrap();
    assert!(answered("laptop.lan", RecordType::A, "A 192.168.1.51"));
    // A hosts directory appears later and gets a file (odhcpd does this).
    std::fs::create_dir_all(&hosts_dir).unwrap();
    std::fs::write(
        hosts_dir.join("odhcpd"),
        "192.168.1.60 printer printer.lan\n",
    )
    .unwrap();
    assert!(answered("printer.lan", RecordType::A, "A 192.168.1.60"));
    let counters = s.counters();
    assert!(counters["host_reloads"] >= 2, "{counters:?}");
}

#[test]
fn acl_drops_other_clients() {
    let s = Server::start("acl = [\"127.0.0.1/32\"]", IP_ZONES);
    let packet = query_message("router.lan.test", RecordType::A, true)
        .to_vec()
        .unwrap();
    assert!(udp_from("127.0.0.1", s.addr, &packet, DEADLINE).is_some());
    // No answer within a short wait; the counter below proves it was dropped, not
    // late.
    assert!(udp_from("127.0.0.2", s.addr, &packet, Duration::from_millis(700)).is_none());
    // TCP from a refused address: closed before anything is read.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.connect(&s.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    let _ = std::io::Write::write_all(&mut stream, &framed);
    let mut buf = [0u8; 2];
    assert!(std::io::Read::read_exact(&mut stream, &mut buf).is_err());
    // The UDP query may still be on its way through a slow machine: wait for it.
    let counters = s.counters_until(DEADLINE, |c| c["dns_acl_dropped"] >= 2);
    assert_eq!(counters["dns_acl_dropped"], 2, "{counters:?}");
    assert_eq!(counters["dns_answered"], 1, "{counters:?}");
    // The default `local` covers all of loopback.
    let s = Server::start("", IP_ZONES);
    assert!(udp_from("127.0.0.2", s.addr, &packet, DEADLINE).is_some());
}

#[test]
fn acl_covers_each_address_family() {
    let config = |acl: &str| {
        format!(
            "log_level = \"debug\"\n[dns]\nlisten = [\"[::1]:0\"]\nresolv_file = \"\"\nacl = [{acl}]\n{IP_ZONES}"
        )
    };
    let packet = query_message("router.lan.test", RecordType::A, true)
        .to_vec()
        .unwrap();
    // An IPv4-only list lets no IPv6 client in.
    let s = Server::start_config(&config("\"127.0.0.0/8\", \"192.168.0.0/16\""));
    assert!(udp_from("::1", s.addr, &packet, Duration::from_millis(700)).is_none());
    // Dropped by the ACL, not merely late.
    let counters = s.counters_until(DEADLINE, |c| c["dns_acl_dropped"] >= 1);
    assert_eq!(
        (counters["dns_acl_dropped"], counters["dns_answered"]),
        (1, 0),
        "{counters:?}"
    );
    let s = Server::start_config(&config("\"127.0.0.0/8\", \"::1/128\""));
    assert!(udp_from("::1", s.addr, &packet, DEADLINE).is_some());
    let s = Server::start_config(&config("\"any\""));
    assert!(udp_from("::1", s.addr, &packet, DEADLINE).is_some());
}

/// `rate_limit_qps = 20`: each client has a bucket of 20 tokens, refilled at 20
/// a second. A burst of 200 queries from one client gets the bucket's 20 answers
/// and at most the tokens refilled while the server worked through the burst,
/// which the test bounds by the time it measured around all of the server's
/// checks; every other query is refused, every second refusal in a row with an
/// empty TC=1 answer.
#[test]
fn rate_limit_drops_and_slips() {
    const QPS: u64 = 20;
    let s = Server::start(&format!("rate_limit_qps = {QPS}"), IP_ZONES);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // 200 queries of 44 bytes fit in a socket's default receive buffer (208 KiB
    // holds 256 such datagrams), so the kernel keeps the whole burst for the
    // server however slowly it reads, and the server decides on every query.
    let burst: u64 = 200;
    let started = Instant::now();
    for id in 0..burst {
        let mut m = query_message("router.lan.test", RecordType::A, true);
        m.metadata.id = id as u16;
        socket.send_to(&m.to_vec().unwrap(), s.addr).unwrap();
    }
    // Each query ends answered (in full or TC=1) or dropped; wait for all 200.
    let decided = |c: &HashMap<String, u64>| {
        c["dns_answered"] + c["dns_rate_limited"] - c["dns_rate_limit_slipped"]
    };
    let counters = s.counters_until(DEADLINE, |c| decided(c) >= burst);
    // Every check happened between `started` and now.
    let window_ms = started.elapsed().as_millis() as u64;
    assert_eq!(decided(&counters), burst, "{counters:?}");
    let slipped = counters["dns_rate_limit_slipped"];
    let full = counters["dns_answered"] - slipped;
    // The server's millisecond clock may count one more than the test's.
    let refilled = QPS * (window_ms + 1) / 1000;
    assert!(
        (QPS..=QPS + refilled).contains(&full),
        "{full} full answers; expected {QPS} to {} ({window_ms} ms)",
        QPS + refilled
    );
    assert_eq!(counters["dns_rate_limited"], burst - full, "{counters:?}");
    assert!(slipped > 0, "no TC=1 slip among the refused: {counters:?}");
    // The client receives exactly what the server sent.
    let (mut full_received, mut truncated_received) = (0, 0);
    let mut buf = [0u8; 2048];
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + DEADLINE;
    while (full_received, truncated_received) != (full, slipped) && Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let m = Message::from_vec(&buf[..n]).unwrap();
        if m.metadata.truncation {
            assert!(m.answers.is_empty());
            truncated_received += 1;
        } else {
            full_received += 1;
        }
    }
    assert_eq!((full_received, truncated_received), (full, slipped));
    // A real client that got TC=1 retries over TCP and is answered.
    let m = tcp_query(
        s.addr,
        &query_message("router.lan.test", RecordType::A, true),
    );
    assert_eq!(answers(&m), ["router.lan.test. 120 A 192.168.1.1"]);
}

/// A TCP connection to `addr` from `source` (e.g. 127.0.0.2).
fn tcp_from(source: &str, addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    socket
        .connect_timeout(&addr.into(), CLIENT_TIMEOUT)
        .unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream
}

/// Issue 13: `rate_limit_qps` holds over TCP too, in TCP's own table. One client
/// pipelines 100 queries on one connection with `rate_limit_qps = 20`: it gets
/// the bucket's 20 answers and at most what refilled while the server worked
/// (bounded by the time measured around it), the others are dropped and counted,
/// and after 4 drops in a row (`TCP_RATE_LIMIT_DROPS_MAX`) the server closes the
/// connection. Then another client is answered over TCP, and the limited one
/// over UDP (the tables are separate, so a client slipped over UDP can retry
/// over TCP).
#[test]
fn tcp_rate_limit_drops_then_closes_and_spares_other_clients() {
    const QPS: u64 = 20;
    const DROPS_IN_A_ROW_MAX: u64 = 4;
    let s = Server::start(&format!("rate_limit_qps = {QPS}"), IP_ZONES);
    let burst: u64 = 100;
    let mut framed = Vec::new();
    for id in 0..burst {
        let mut m = query_message("router.lan.test", RecordType::A, true);
        m.metadata.id = id as u16;
        let packet = m.to_vec().unwrap();
        framed.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        framed.extend_from_slice(&packet);
    }
    let mut stream = TcpStream::connect_timeout(&s.addr, CLIENT_TIMEOUT).unwrap();
    let started = Instant::now();
    stream.write_all(&framed).unwrap();
    // Answers until the server closes the connection (a FIN, or a reset since
    // the rest of the burst was never read).
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut received = 0;
    loop {
        let mut length = [0u8; 2];
        if stream.read_exact(&mut length).is_err() {
            break;
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
        if stream.read_exact(&mut message).is_err() {
            break;
        }
        let m = Message::from_vec(&message).unwrap();
        assert_eq!(answers(&m), ["router.lan.test. 120 A 192.168.1.1"]);
        received += 1;
    }
    let closed = s.counters_until(DEADLINE, |c| c["dns_tcp_rate_limit_closed"] >= 1);
    // Every check happened between `started` and now.
    let window_ms = started.elapsed().as_millis() as u64;
    assert_eq!(closed["dns_tcp_rate_limit_closed"], 1, "{closed:?}");
    let answered = closed["dns_answered"];
    let limited = closed["dns_tcp_rate_limited"];
    let refilled = QPS * (window_ms + 1) / 1000;
    assert!(
        (QPS..=QPS + refilled).contains(&answered),
        "{answered} answered; expected {QPS} to {} ({window_ms} ms)",
        QPS + refilled
    );
    assert!(limited >= DROPS_IN_A_ROW_MAX, "{closed:?}");
    assert_eq!(closed["dns_queries"], answered + limited, "{closed:?}");
    assert!(received <= answered, "{received} received, {answered} sent");
    assert_eq!(closed["dns_rate_limited"], 0, "UDP's counter is UDP's");
    // Another client is answered over TCP, and this one over UDP.
    let m = query_message("router.lan.test", RecordType::A, true)
        .to_vec()
        .unwrap();
    let mut other = tcp_from("127.0.0.2", s.addr);
    for _ in 0..5 {
        let reply = Message::from_vec(&tcp_exchange(&mut other, &m)).unwrap();
        assert_eq!(answers(&reply), ["router.lan.test. 120 A 192.168.1.1"]);
    }
    assert_eq!(
        answers(&s.query("router.lan.test", RecordType::A)),
        ["router.lan.test. 120 A 192.168.1.1"]
    );
}

#[test]
fn sighup_reloads_and_keeps_serving() {
    let zone =
        |address: &str| format!("[[zone]]\nname = \"r.test\"\nrecords = [\"a A {address}\"]\n");
    let s = Server::start("", &zone("10.0.0.1"));
    // A client queries all along: no reload may lose a query. Each query waits
    // for its answer as long as the test would wait for anything, so a loaded
    // machine makes a query slow, never lost.
    let addr = s.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let querier = {
        let (stop, done) = (stop.clone(), done.clone());
        std::thread::spawn(move || {
            let mut lost = 0;
            let packet = query_message("a.r.test", RecordType::A, false)
                .to_vec()
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if udp_from("127.0.0.1", addr, &packet, DEADLINE).is_none() {
                    lost += 1;
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
            lost
        })
    };
    let completed = || done.load(std::sync::atomic::Ordering::Relaxed);
    // Several reloads while it runs, each after the client has completed two more
    // queries, the last one serving 10.0.4.2 and a new zone.
    for round in 0..5 {
        let before = completed();
        assert!(eventually(DEADLINE, || completed() >= before + 2));
        let body = format!(
            "{}\n[[zone]]\nname = \"new.test\"\nrecords = [\"b A 10.0.0.9\"]\n",
            zone(&format!("10.0.{round}.2"))
        );
        s.rewrite("", &body);
        s.signal("HUP");
        s.wait_log("reloaded");
    }
    let before = completed();
    assert!(eventually(DEADLINE, || completed() >= before + 2));
    assert_eq!(
        answers(&s.query("a.r.test", RecordType::A)),
        ["a.r.test. 300 A 10.0.4.2"]
    );
    assert_eq!(
        answers(&s.query("b.new.test", RecordType::A)),
        ["b.new.test. 300 A 10.0.0.9"]
    );
    // A broken config is rejected with its error; the old one keeps serving.
    s.rewrite(
        "",
        "[[zone]]\nname = \"r.test\"\nrecords = [\n  \"a A 10.0.0.3\",\n  \"b A 999.0.0.1\",\n]\n",
    );
    s.signal("HUP");
    let line = s.wait_log("reload rejected");
    assert!(line.contains("lanseal.toml:10:"), "{line}");
    assert_eq!(
        answers(&s.query("a.r.test", RecordType::A)),
        ["a.r.test. 300 A 10.0.4.2"]
    );
    // Limits change live too: an ACL that excludes us takes effect at once.
    s.rewrite("acl = [\"10.0.0.0/8\"]", &zone("10.0.0.2"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let lost = querier.join().unwrap();
    let sent = completed();
    assert!(sent >= 12 && lost == 0, "sent {sent}, lost {lost}");
    s.signal("HUP");
    s.wait_log("reloaded");
    let packet = query_message("a.r.test", RecordType::A, false)
        .to_vec()
        .unwrap();
    assert!(udp_from("127.0.0.1", s.addr, &packet, Duration::from_millis(700)).is_none());
    // Dropped by the new ACL, not merely late.
    let counters = s.counters_until(DEADLINE, |c| c["dns_acl_dropped"] >= 1);
    assert_eq!(counters["dns_acl_dropped"], 1, "{counters:?}");
    assert_eq!(
        (counters["reloads"], counters["reload_failures"]),
        (6, 1),
        "{counters:?}"
    );
}
