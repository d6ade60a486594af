//! The DNS role against the real binary: lanseal on an ephemeral loopback port,
//! queried with hickory-proto's message codec over UDP and TCP, and with dig/kdig
//! for the wire-level cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;

fn zones() -> String {
    let long = "k".repeat(600);
    let mut big = String::new();
    for i in 0..20 {
        big.push_str(&format!(
            "  \"big TXT \\\"{i:02}{}\\\"\",\n",
            "x".repeat(98)
        ));
    }
    format!(
        r#"
[[zone]]
name = "home.test"
mode = "authoritative"
ttl = 600
records = [
  "router A 192.168.1.1",
  "router AAAA fd00::1",
  "nas 3600 A 192.168.1.10",
  "www CNAME router",
  "*.dev CNAME nas",
  "deep.sub A 10.0.0.5",
  "loop1 CNAME loop2",
  "loop2 CNAME loop1",
  "ext CNAME www.example.org.",
  "@ MX 10 mail",
  "mail A 192.168.1.2",
  "@ TXT \"v=spf1 -all\" \"second string\"",
  "dkim._domainkey TXT \"{long}\"",
  "_sip._tcp SRV 10 5 5060 router",
  "@ CAA 0 issue \"letsencrypt.org\"",
{big}]

[[zone]]
name = "overlay.test"
mode = "overlay"
records = ["local A 10.1.1.1", "*.wild A 10.1.1.2"]
"#
    )
}

fn server() -> Server {
    Server::start("", &zones())
}

fn rcode(message: &Message) -> ResponseCode {
    message.metadata.response_code
}

#[test]
fn positive_answers_are_authoritative() {
    let s = server();
    let m = s.query("router.home.test.", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert!(m.metadata.recursion_desired, "RD is echoed");
    assert!(!m.metadata.recursion_available, "no forwarder yet: RA=0");
    assert_eq!(answers(&m), ["router.home.test. 600 A 192.168.1.1"]);
    assert_eq!(
        answers(&s.query("router.home.test.", RecordType::AAAA)),
        ["router.home.test. 600 AAAA fd00::1"]
    );
    assert_eq!(
        answers(&s.query("nas.home.test.", RecordType::A)),
        ["nas.home.test. 3600 A 192.168.1.10"]
    );
    assert_eq!(
        answers(&s.query("home.test.", RecordType::MX)),
        ["home.test. 600 MX 10 mail.home.test."]
    );
    assert_eq!(
        answers(&s.query("_sip._tcp.home.test.", RecordType::SRV)),
        ["_sip._tcp.home.test. 600 SRV 10 5 5060 router.home.test."]
    );
    let caa = answers(&s.query("home.test.", RecordType::CAA));
    assert_eq!(caa.len(), 1);
    assert!(caa[0].contains("letsencrypt.org"), "{caa:?}");
    let soa = answers(&s.query("home.test.", RecordType::SOA));
    assert!(
        soa[0].starts_with("home.test. 600 SOA localhost. hostmaster.home.test."),
        "{soa:?}"
    );
    assert_eq!(
        answers(&s.query("home.test.", RecordType::NS)),
        ["home.test. 600 NS localhost."]
    );
}

#[test]
fn txt_strings_with_dig() {
    let s = server();
    let out = dig(s.addr, &["+short", "TXT", "home.test"]);
    assert_eq!(out.trim(), r#""v=spf1 -all" "second string""#);
    // A 600-byte value is served as 255 + 255 + 90 byte strings.
    let out = dig(s.addr, &["+short", "TXT", "dkim._domainkey.home.test"]);
    let strings: Vec<&str> = out.trim().split("\" \"").collect();
    assert_eq!(strings.len(), 3, "{out}");
    assert_eq!(out.matches('k').count(), 600);
}

#[test]
fn nxdomain_and_nodata_carry_the_soa() {
    let s = server();
    let m = s.query("missing.home.test.", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
    let soa = &m.authorities[0];
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name.to_string(), "home.test.");
    // RFC 2308: TTL of the SOA in a negative answer is min(SOA TTL, minimum).
    assert_eq!(soa.ttl, 300);
    // A name that exists without the asked type: NODATA.
    let m = s.query("nas.home.test.", RecordType::AAAA);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    // An empty non-terminal exists (RFC 8020): NODATA, not NXDOMAIN.
    let m = s.query("sub.home.test.", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let m = s.query("x.sub.home.test.", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
}

#[test]
fn wildcards_follow_rfc4592() {
    let s = server();
    let m = s.query("laptop.dev.home.test.", RecordType::A);
    assert_eq!(
        answers(&m),
        [
            "laptop.dev.home.test. 600 CNAME nas.home.test.",
            "nas.home.test. 3600 A 192.168.1.10"
        ]
    );
    // Several labels below the closest encloser still match.
    assert_eq!(
        answers(&s.query("a.b.dev.home.test.", RecordType::A)).len(),
        2
    );
    // The wildcard's parent is an empty non-terminal: NODATA.
    let m = s.query("dev.home.test.", RecordType::A);
    assert_eq!((rcode(&m), m.answers.len()), (ResponseCode::NoError, 0));
    // An existing name's children are not covered by a sibling wildcard.
    assert_eq!(
        rcode(&s.query("x.nas.home.test.", RecordType::A)),
        ResponseCode::NXDomain
    );
}

#[test]
fn cname_chains_loops_and_exits() {
    let s = server();
    let m = s.query("www.home.test.", RecordType::AAAA);
    assert_eq!(
        answers(&m),
        [
            "www.home.test. 600 CNAME router.home.test.",
            "router.home.test. 600 AAAA fd00::1"
        ]
    );
    let m = s.query("www.home.test.", RecordType::CNAME);
    assert_eq!(answers(&m), ["www.home.test. 600 CNAME router.home.test."]);
    let m = s.query("loop1.home.test.", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::ServFail);
    assert!(m.answers.is_empty());
    // Leaving local data: the CNAME alone until the forwarder exists.
    let m = s.query("ext.home.test.", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(answers(&m), ["ext.home.test. 600 CNAME www.example.org."]);
}

#[test]
fn overlay_zone_answers_only_its_own_names() {
    let s = server();
    assert_eq!(
        answers(&s.query("local.overlay.test.", RecordType::A)),
        ["local.overlay.test. 300 A 10.1.1.1"]
    );
    let m = s.query("local.overlay.test.", RecordType::MX);
    assert_eq!((rcode(&m), m.answers.len()), (ResponseCode::NoError, 0));
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(
        answers(&s.query("pc.wild.overlay.test.", RecordType::A)),
        ["pc.wild.overlay.test. 300 A 10.1.1.2"]
    );
    // Not defined locally: belongs upstream; refused while there is no forwarder.
    assert_eq!(
        rcode(&s.query("www.overlay.test.", RecordType::A)),
        ResponseCode::Refused
    );
    assert_eq!(
        rcode(&s.query("overlay.test.", RecordType::SOA)),
        ResponseCode::Refused
    );
}

#[test]
fn outside_zones_is_refused_and_ptr_is_synthesized() {
    let s = server();
    let m = s.query("example.com.", RecordType::A);
    assert_eq!(rcode(&m), ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
    let m = s.query("10.1.168.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(
        answers(&m),
        ["10.1.168.192.in-addr.arpa. 3600 PTR nas.home.test."]
    );
    let out = dig(s.addr, &["+short", "-x", "fd00::1"]);
    assert_eq!(out.trim(), "router.home.test.");
    // An unknown private address: NXDOMAIN in its locally served reverse zone
    // (RFC 6303), with that zone's SOA.
    let m = s.query("99.1.168.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn any_is_answered_minimally() {
    let s = server();
    let m = s.query("router.home.test.", RecordType::ANY);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1, "RFC 8482: one record set");
}

#[test]
fn opcodes_classes_and_transfers() {
    let s = server();
    let mut message = query_message("router.home.test.", RecordType::A, false);
    message.metadata.op_code = OpCode::Update;
    let m = Message::from_vec(&udp_exchange(s.addr, &message.to_vec().unwrap()).unwrap()).unwrap();
    assert_eq!(rcode(&m), ResponseCode::NotImp);
    let out = dig(s.addr, &["router.home.test", "A", "-c", "CH"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    let out = dig(s.addr, &["home.test", "AXFR"]);
    assert!(!out.contains("192.168.1.1"), "{out}");
}

#[test]
fn case_is_echoed_and_matched_insensitively() {
    let s = server();
    let out = dig(
        s.addr,
        &["+noall", "+question", "+answer", "RoUtEr.HoMe.TeSt", "A"],
    );
    assert!(out.contains(";RoUtEr.HoMe.TeSt.\t\tIN\tA"), "{out}");
    assert!(
        out.contains("RoUtEr.HoMe.TeSt.\t600\tIN\tA\t192.168.1.1"),
        "{out}"
    );
}

#[test]
fn names_are_compressed() {
    let s = server();
    // 12 header + 19 question + CNAME (2 owner + 10 + 7 "router" + 2 pointer)
    // + A (2 pointer into the CNAME data + 10 + 4) + 11 OPT.
    let out = dig(s.addr, &["www.home.test", "A"]);
    assert!(out.contains("MSG SIZE  rcvd: 79"), "{out}");
    // NXDOMAIN: the SOA owner points into the question.
    let out = dig(s.addr, &["nothing.home.test", "A"]);
    let soa_rdata = 11 + (11 + 2) + 20; // localhost. hostmaster.<pointer> + 5 numbers
    let expected = 12 + (1 + 7 + 1 + 4 + 1 + 4 + 1 + 4) + (2 + 10 + soa_rdata) + 11;
    assert!(
        out.contains(&format!("MSG SIZE  rcvd: {expected}")),
        "{out}"
    );
}

#[test]
fn edns_is_advertised_and_versions_checked() {
    let s = server();
    let out = dig(s.addr, &["router.home.test"]);
    assert!(out.contains("udp: 1232"), "{out}");
    let out = dig(s.addr, &["+noedns", "router.home.test"]);
    assert!(!out.contains("OPT PSEUDOSECTION"), "{out}");
    let out = kdig(s.addr, &["+edns=1", "+nsid", "router.home.test"]);
    assert!(out.contains("BADVERS"), "{out}");
}

#[test]
fn truncation_over_udp_and_full_answer_over_tcp() {
    let s = server();
    let m = udp_query(
        s.addr,
        &query_message("big.home.test.", RecordType::TXT, true),
    );
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1);
    let m = tcp_query(
        s.addr,
        &query_message("big.home.test.", RecordType::TXT, true),
    );
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 20);
    // Without EDNS the limit is 512 bytes: 6 records of ~112 bytes do not fit.
    let m = udp_query(
        s.addr,
        &query_message("big.home.test.", RecordType::TXT, false),
    );
    assert!(m.metadata.truncation);
    // dig sees TC=1 and retries over TCP by itself.
    let out = dig(s.addr, &["big.home.test", "TXT"]);
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert!(out.contains("ANSWER: 20"), "{out}");
}

#[test]
fn garbage_never_stops_the_server() {
    let s = server();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Deterministic pseudo-random packets of every small length, plus crafted ones.
    let mut seed: u32 = 0x1234_5678;
    let mut packets: Vec<Vec<u8>> = (0..600)
        .map(|i| {
            (0..(i % 300))
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (seed >> 16) as u8
                })
                .collect()
        })
        .collect();
    packets.push(vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]); // question missing
    packets.push(vec![
        0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1,
    ]); // pointer loop
    packets.push(vec![
        0xab, 0xcd, 1, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0, 1,
    ]); // counts lie
    packets.push(vec![
        0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 41, 0x10, 0, 0, 0, 0, 0xff,
        0xff,
    ]);
    for packet in &packets {
        socket.send_to(packet, s.addr).unwrap();
    }
    // A header-only query with a missing question is answered FORMERR.
    let formerr = udp_exchange(s.addr, &[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(formerr[3] & 0x0f, 1);
    // Garbage over TCP, then a good query on a new connection.
    let mut stream = TcpStream::connect(s.addr).unwrap();
    let _ = std::io::Write::write_all(&mut stream, &[0, 5, 1, 2, 3, 4, 5, 0xff, 0xff, 9]);
    drop(stream);
    assert_eq!(
        answers(&s.query("router.home.test.", RecordType::A)),
        ["router.home.test. 600 A 192.168.1.1"]
    );
    assert_eq!(
        answers(&tcp_query(
            s.addr,
            &query_message("nas.home.test.", RecordType::A, true)
        ))
        .len(),
        1
    );
}

/// A TCP connection to `s` that has had one query answered.
fn tcp_client(s: &Server, packet: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    assert!(!tcp_exchange(&mut stream, packet).is_empty());
    stream
}

/// At `tcp_connections_max`, a new client makes the server close the oldest
/// connection. The idle timeout is a minute, longer than the test waits, so only
/// the eviction can close it; the younger connections keep being served.
#[test]
fn tcp_connections_over_the_bound_close_the_oldest() {
    let s = Server::start(
        "tcp_connections_max = 2\ntcp_idle_timeout_ms = 60000",
        &zones(),
    );
    let packet = query_message("router.home.test.", RecordType::A, true)
        .to_vec()
        .unwrap();
    let mut first = tcp_client(&s, &packet);
    let mut second = tcp_client(&s, &packet);
    // Its query answered, the third was accepted, and the oldest closed before that.
    let mut third = tcp_client(&s, &packet);
    if let Err(e) = wait_closed_by_server(&mut first, DEADLINE) {
        panic!("the oldest connection should have been closed by the server: {e}");
    }
    assert!(!tcp_exchange(&mut second, &packet).is_empty());
    // Several queries on one connection are answered in order.
    assert!(!tcp_exchange(&mut third, &packet).is_empty());
    assert!(!tcp_exchange(&mut third, &packet).is_empty());
}

/// An idle client is disconnected by the server, `tcp_idle_timeout_ms` after its
/// last answer and not before.
#[test]
fn idle_tcp_connections_are_closed() {
    let idle_timeout = Duration::from_millis(700);
    let s = Server::start(
        &format!("tcp_idle_timeout_ms = {}", idle_timeout.as_millis()),
        &zones(),
    );
    let packet = query_message("router.home.test.", RecordType::A, true)
        .to_vec()
        .unwrap();
    let mut stream = tcp_client(&s, &packet);
    // The server starts the idle timer only after it has read and answered this
    // query, so it cannot close the connection earlier than `idle_timeout` after
    // the query was sent (a millisecond is left for timer rounding).
    let sent = Instant::now();
    assert!(!tcp_exchange(&mut stream, &packet).is_empty());
    let closed = match wait_closed_by_server(&mut stream, DEADLINE) {
        Ok(closed) => closed,
        Err(e) => panic!("the idle connection should have been closed by the server: {e}"),
    };
    let idle = closed - sent;
    assert!(
        idle + Duration::from_millis(1) >= idle_timeout,
        "closed after {idle:?}, before the idle timeout"
    );
}

#[test]
fn threads_auto_serves_on_one_port() {
    let s = Server::start("threads = \"auto\"", &zones());
    for _ in 0..20 {
        assert_eq!(
            answers(&s.query("router.home.test.", RecordType::A)).len(),
            1
        );
    }
}

#[test]
fn large_zone_loads_and_answers() {
    let mut records = String::new();
    for i in 0..100_000 {
        records.push_str(&format!(
            "\"h{i} A 10.{}.{}.{}\",\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    // About 3 s to load in a debug build on an idle machine, over 20 s on a loaded
    // one: a deadline of its own.
    let s = Server::start_within(
        "",
        &format!("[[zone]]\nname = \"big.test\"\nrecords = [\n{records}]\n"),
        Duration::from_secs(180),
    );
    assert_eq!(
        answers(&s.query("h99999.big.test.", RecordType::A)),
        ["h99999.big.test. 300 A 10.1.134.159"]
    );
    assert_eq!(
        rcode(&s.query("nope.big.test.", RecordType::A)),
        ResponseCode::NXDomain
    );
}
