//! A router zone (`[[zone]]`) as the primary of a standard secondary: off by
//! default; with `secondaries` and `[dns]`'s TSIG key, Knot DNS (Debian's
//! `knot`, started here on a loopback port) transfers it, and follows a
//! reload that changes the zone and a runtime record added at the local API,
//! each by NOTIFY; unsigned, wrongly signed and foreign requests, and a
//! secondary outside `acl`, are refused and counted; the serial rises with
//! the content only, across restarts too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::secondaries::Knot;
use common::*;
use hickory_proto::rr::RecordType;

/// 32 bytes, base64: the key both sides share.
const SECRET: &str = "bGFuc2VhbC14ZnItdGVzdC1rZXktMzItYnl0ZXMhISE=";
/// Another 32 bytes under the same key name.
const WRONG_SECRET: &str = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXkhISE=";
const KEY_NAME: &str = "lan-xfr";
const ZONE: &str = "home.test";
/// Names `h0` … of every zone here (more than 16 KiB: several messages).
const HOSTS: usize = 2000;

/// The config of a router on `listen` with zone `home.test` holding
/// `records`, sent to `secondaries` (none: not transferred), its key in
/// `key_file`, state in `state`, the local API on.
fn config(
    listen: &str,
    state: &Path,
    key_file: &Path,
    records: &[&str],
    secondaries: &[String],
) -> String {
    let mut records: Vec<String> = records.iter().map(|r| format!("\"{r}\"")).collect();
    // Enough names that a transfer takes several messages (each signed, the
    // later ones chained from the one before, RFC 8945 §5.3.1).
    records.extend((0..HOSTS).map(|i| format!("\"h{i} A 10.0.{}.{}\"", i / 250, i % 250 + 1)));
    let secondaries: Vec<String> = secondaries.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n\
         [dns]\nlisten = [\"{listen}\"]\nresolv_file = \"\"\n\
         tsig_key_file = \"{}\"\ntsig_key_name = \"{KEY_NAME}\"\n\
         [[zone]]\nname = \"{ZONE}\"\nrecords = [{}]\nsecondaries = [{}]\n\
         [api]\nlisten = \"127.0.0.1:0\"\n",
        state.display(),
        key_file.display(),
        records.join(", "),
        secondaries.join(", "),
    )
}

fn key_file(dir: &TempDir) -> std::path::PathBuf {
    let file = dir.write("xfr.key", &format!("{SECRET}\n"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    file
}

/// `dig` AXFR of home.test from `primary`, signed with `secret` (or not),
/// from `source`.
fn dig_axfr(primary: SocketAddr, secret: Option<&str>, source: &str) -> String {
    let key = secret.map(|s| format!("hmac-sha256:{KEY_NAME}:{s}"));
    let mut args = vec!["-b", source, "AXFR", ZONE];
    if let Some(key) = &key {
        args.extend(["-y", key]);
    }
    dig(primary, &args)
}

/// The serial in the SOA `server` answers for home.test.
fn serial_at(server: SocketAddr) -> u32 {
    let out = dig(server, &["+short", "SOA", ZONE]);
    let serial = out.split_whitespace().nth(2);
    serial
        .unwrap_or_else(|| panic!("no SOA: {out}"))
        .parse()
        .unwrap()
}

/// The A records `server` answers for `name` (none on no answer within
/// 100 ms: Knot answers nothing until it has the zone).
fn a_at(server: SocketAddr, name: &str) -> Vec<String> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let query = query_message(name, RecordType::A, true);
    socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    let mut buffer = vec![0u8; 65_535];
    match socket.recv_from(&mut buffer) {
        Ok((len, _)) => hickory_proto::op::Message::from_vec(&buffer[..len])
            .map(|m| answers(&m))
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// True once `server` answers `address` for `name`, within `timeout`.
fn answers_within(server: SocketAddr, name: &str, address: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if a_at(server, name).iter().any(|a| a.contains(address)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Without `secondaries` (the default) nothing is transferred, whatever the
/// request: unsigned or signed with the right key, all refused and counted.
#[test]
fn router_zones_are_not_transferred_by_default() {
    let state = TempDir::new();
    let key = key_file(&state);
    let server = Server::start_config(&config(
        "127.0.0.1:0",
        &state.0.join("state"),
        &key,
        &["router A 192.168.1.1"],
        &[],
    ));
    let before = server.counters();
    for secret in [None, Some(SECRET)] {
        let out = dig_axfr(server.addr, secret, "127.0.0.1");
        assert!(!out.contains("192.168.1.1"), "{out}");
        assert!(!out.contains("\tSOA\t"), "{out}");
    }
    let after = server.counters();
    assert_eq!(after["dns_xfr_refused"], before["dns_xfr_refused"] + 2);
    assert_eq!(after["dns_xfr_served"], 0);
    // The zone is served as always.
    let served = a_at(server.addr, "router.home.test");
    assert!(
        served.iter().any(|a| a.contains("192.168.1.1")),
        "{served:?}"
    );
}

#[test]
fn knot_secondary_of_a_router_zone_follows_reloads_and_runtime_records() {
    let state = TempDir::new();
    let key = key_file(&state);
    let state_dir = state.0.join("state");
    let knot_dir = TempDir::new();
    let knot_port = free_dns_port();
    let secondaries = [format!("127.0.0.1:{knot_port}")];
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let records = ["router A 192.168.1.1"];
    let server = Server::start_config(&config(
        "127.0.0.1:0",
        &state_dir,
        &key,
        &records,
        &secondaries,
    ));

    let api = server.local_api();

    // Refused: unsigned, signed with the wrong secret, and signed rightly but
    // from an address that is not a secondary's.
    let before = server.counters();
    let unsigned = dig_axfr(server.addr, None, "127.0.0.1");
    assert!(!unsigned.contains("\tSOA\t"), "{unsigned}");
    let wrong = dig_axfr(server.addr, Some(WRONG_SECRET), "127.0.0.1");
    assert!(!wrong.contains("192.168.1.1"), "{wrong}");
    assert!(
        wrong.contains("NOTAUTH") || wrong.contains("BADSIG") || wrong.contains("failed"),
        "{wrong}"
    );
    let foreign = dig_axfr(server.addr, Some(SECRET), "127.0.0.2");
    assert!(!foreign.contains("192.168.1.1"), "{foreign}");
    let after = server.counters();
    assert_eq!(after["dns_xfr_refused"], before["dns_xfr_refused"] + 3);
    assert_eq!(after["dns_xfr_served"], before["dns_xfr_served"]);

    // The right key transfers the zone: its records between two SOAs, the
    // SOA synthesized with a serial from the clock.
    let full = dig_axfr(server.addr, Some(SECRET), "127.0.0.1");
    assert_eq!(full.matches("\tSOA\t").count(), 2, "{full}");
    assert!(full.contains("192.168.1.1"), "{full}");
    assert!(!full.contains("failed"), "{full}");
    assert_eq!(full.matches("\tA\t10.0.").count(), HOSTS, "{full}");
    let messages: usize = full
        .split("(messages ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{full}"));
    assert!(messages >= 3, "{messages} messages: {full}");
    let first = serial_at(server.addr);
    assert!(u64::from(first) >= started_unix, "{first} < {started_unix}");

    // Knot's first transfer.
    let knot = Knot::start_zone(
        &knot_dir.0.join("knot"),
        knot_port,
        server.addr,
        ZONE,
        KEY_NAME,
        SECRET,
    );
    assert!(
        answers_within(
            knot.addr,
            "router.home.test",
            "192.168.1.1",
            Duration::from_secs(10)
        ),
        "Knot never served the zone: {}",
        knot.log()
    );
    let last = format!("h{}.home.test", HOSTS - 1);
    assert!(answers_within(
        knot.addr,
        &last,
        "10.0.7.250",
        Duration::from_secs(1)
    ));
    std::thread::sleep(Duration::from_secs(1));

    // A reload that changes nothing keeps the serial (and so sends nothing).
    let listen = server.addr.to_string();
    let text = config(&listen, &state_dir, &key, &records, &secondaries);
    server.dir.write("lanseal.toml", &text);
    server.signal("HUP");
    server.wait_log("reloaded");
    assert_eq!(serial_at(server.addr), first);

    // A reload that changes the zone reaches Knot by NOTIFY (its own refresh
    // is an hour away), with a higher serial.
    let notified_before = server.counters()["dns_notify_answered"];
    let changed = ["router A 192.168.1.1", "nas A 192.168.1.10"];
    let listen = server.addr.to_string();
    let text = config(&listen, &state_dir, &key, &changed, &secondaries);
    server.dir.write("lanseal.toml", &text);
    server.signal("HUP");
    let reloaded = Instant::now();
    assert!(
        answers_within(
            knot.addr,
            "nas.home.test",
            "192.168.1.10",
            Duration::from_secs(3)
        ),
        "the reload never reached Knot: {}",
        knot.log()
    );
    eprintln!("reload to answer at Knot: {:?}", reloaded.elapsed());
    let second = serial_at(server.addr);
    assert!(second > first, "{second} <= {first}");
    assert_eq!(serial_at(knot.addr), second);

    // A runtime record added at the local API: the same.
    let added = api.call(
        "POST",
        "/api/v1/dns/records",
        Some(&format!(
            "{{\"zone\": \"{ZONE}\", \"record\": \"printer A 192.168.1.20\"}}"
        )),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let at_api = Instant::now();
    assert!(
        answers_within(
            knot.addr,
            "printer.home.test",
            "192.168.1.20",
            Duration::from_secs(3)
        ),
        "the runtime record never reached Knot: {}",
        knot.log()
    );
    eprintln!("API record to answer at Knot: {:?}", at_api.elapsed());
    let third = serial_at(server.addr);
    assert!(third > second, "{third} <= {second}");
    let counters = server.counters();
    assert!(
        counters["dns_notify_answered"] >= notified_before + 2,
        "{counters:?}"
    );
    // Knot's IXFRs are answered with the whole zone (no journal is kept).
    let log = knot.log();
    assert!(log.contains("AXFR-style"), "{log}");
    assert!(!log.contains("failed"), "{log}");

    // A restart keeps the serial of the same content (the runtime record is
    // restored from the store) and raises it for new content.
    drop(server);
    let server = Server::start_config(&config(
        "127.0.0.1:0",
        &state_dir,
        &key,
        &changed,
        &secondaries,
    ));
    assert!(eventually(Duration::from_secs(5), || a_at(
        server.addr,
        "printer.home.test"
    )
    .len()
        == 1));
    assert_eq!(serial_at(server.addr), third);
    drop(server);
    let more = ["router A 192.168.1.1", "nas A 192.168.1.11"];
    let server = Server::start_config(&config(
        "127.0.0.1:0",
        &state_dir,
        &key,
        &more,
        &secondaries,
    ));
    let fourth = serial_at(server.addr);
    assert!(fourth > third, "{fourth} <= {third}");
}

/// A router zone is the LAN's: a secondary outside `acl` is refused, even
/// signed rightly, when a public (delegate) zone lets it connect at all.
#[test]
fn router_zone_secondaries_must_be_inside_the_acl() {
    let state = TempDir::new();
    let key = key_file(&state);
    let text = config(
        "127.0.0.1:0",
        &state.0.join("state"),
        &key,
        &["router A 192.168.1.1"],
        &["127.0.0.1".to_string()],
    )
    .replace(
        "resolv_file = \"\"\n",
        "resolv_file = \"\"\nacl = [\"127.0.0.2/32\"]\n",
    ) + "[delegate]\nzone = \"auth.test\"\nns = [\"ns1.auth.test.\"]\nns_addresses = [\"192.0.2.53\"]\n\
           api_listen = \"127.0.0.1:0\"\n";
    let server = Server::start_config(&text);
    let before = server.counters();
    let outside = dig_axfr(server.addr, Some(SECRET), "127.0.0.1");
    assert!(!outside.contains("192.168.1.1"), "{outside}");
    assert!(
        outside.contains("REFUSED") || outside.contains("failed"),
        "{outside}"
    );
    let after = server.counters();
    assert_eq!(after["dns_xfr_refused"], before["dns_xfr_refused"] + 1);
    assert_eq!(after["dns_xfr_served"], 0);
}
