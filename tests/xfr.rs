//! The delegate zone as the primary of a standard secondary: Knot DNS (Debian's
//! `knot`), started here in a temp dir on a loopback port, transfers the zone
//! by AXFR with TSIG, and follows an update at the API by NOTIFY; a wrong key
//! and a missing one are refused and counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;
use serde_json::Value;

const PREFIX: &str = "/api/v1/acme-dns-compat";
/// 32 bytes, base64: the key both sides share.
const SECRET: &str = "bGFuc2VhbC14ZnItdGVzdC1rZXktMzItYnl0ZXMhISE=";
/// Another 32 bytes under the same key name.
const WRONG_SECRET: &str = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXkhISE=";
const KEY_NAME: &str = "lanseal-xfr";

/// A `knotd` under `dir`; killed on drop.
struct Knot {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Knot {
    /// Knot as the secondary of `auth.test` from `primary`, notified by it.
    fn start(dir: &TempDir, port: u16, primary: SocketAddr) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let root = dir.0.join("knot");
        std::fs::create_dir_all(&root).unwrap();
        let config = format!(
            "server:\n    rundir: \"{root}\"\n    listen: 127.0.0.1@{port}\n\
             database:\n    storage: \"{root}\"\n\
             log:\n  - target: stderr\n    any: info\n\
             key:\n  - id: {KEY_NAME}\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
             remote:\n  - id: primary\n    address: {ip}@{pport}\n    key: {KEY_NAME}\n\
             acl:\n  - id: notify_from_primary\n    address: 127.0.0.1\n    key: {KEY_NAME}\n    action: notify\n\
             template:\n  - id: default\n    storage: \"{root}\"\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n\
             zone:\n  - domain: auth.test\n    master: primary\n    acl: notify_from_primary\n",
            root = root.display(),
            ip = primary.ip(),
            pport = primary.port(),
        );
        let path = dir.write("knot.conf", &config);
        let log = std::fs::File::create(dir.0.join("knot.log")).unwrap();
        let child = Command::new("knotd")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("knotd (Debian package knot; tests/run.sh installs it)");
        Self { child, addr }
    }
}

fn curl(api: &str, path: &str, headers: &[&str], body: &str) -> (u16, Value) {
    let base = api.trim_end_matches(PREFIX);
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"]);
    cmd.arg(format!("{base}{path}"));
    for header in headers {
        cmd.args(["-H", header]);
    }
    cmd.args(["--data-binary", body]);
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (
        status.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn update(api: &str, account: &Value, txt: &str) {
    let user = format!("X-Api-User: {}", account["username"].as_str().unwrap());
    let key = format!("X-Api-Key: {}", account["password"].as_str().unwrap());
    let subdomain = account["subdomain"].as_str().unwrap();
    let body = format!("{{\"subdomain\": \"{subdomain}\", \"txt\": \"{txt}\"}}");
    let (status, answer) = curl(api, &format!("{PREFIX}/update"), &[&user, &key], &body);
    assert_eq!(status, 200, "{answer}");
}

fn txt(c: char) -> String {
    std::iter::repeat_n(c, 43).collect()
}

/// The answers `server` gives for `name`'s TXT (none on no answer within
/// 100 ms: Knot answers nothing until it has the zone).
fn txt_at(server: SocketAddr, name: &str) -> Vec<String> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let query = query_message(name, RecordType::TXT, true);
    socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    let mut buffer = vec![0u8; 65_535];
    match socket.recv_from(&mut buffer) {
        Ok((len, _)) => hickory_proto::op::Message::from_vec(&buffer[..len])
            .map(|m| answers(&m))
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// `dig` AXFR of auth.test from `primary` signed with `secret` (or unsigned).
fn dig_axfr(primary: SocketAddr, secret: Option<&str>) -> String {
    let key = secret.map(|s| format!("hmac-sha256:{KEY_NAME}:{s}"));
    let mut args = vec!["AXFR", "auth.test"];
    if let Some(key) = &key {
        args.extend(["-y", key]);
    }
    dig(primary, &args)
}

/// The serial in the SOA `server` answers for auth.test.
fn serial_at(server: SocketAddr) -> u32 {
    let out = dig(server, &["+short", "SOA", "auth.test"]);
    out.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn knot_secondary_transfers_and_follows_updates() {
    let state = TempDir::new();
    let key_file = state.write("xfr.key", &format!("{SECRET}\n"));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Knot's port is chosen before lanseal starts: lanseal notifies it.
    let knot_dir = TempDir::new();
    let knot_port = free_tcp_port();
    let config = format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n\
         [delegate]\nzone = \"auth.test\"\nns = [\"ns1.auth.test.\"]\nns_addresses = [\"192.0.2.53\"]\n\
         api_listen = \"127.0.0.1:0\"\napi_prefix = \"{PREFIX}\"\n\
         secondaries = [\"127.0.0.1:{knot_port}\"]\ntsig_key_file = \"{}\"\ntsig_key_name = \"{KEY_NAME}\"\n",
        state.0.join("state").display(),
        key_file.display(),
    );
    let server = Server::start_config(&config);
    let api = server.delegate_api();
    let (status, account) = curl(&api, &format!("{PREFIX}/register"), &[], "");
    assert_eq!(status, 201, "{account}");
    let fulldomain = account["fulldomain"].as_str().unwrap().to_string();
    update(&api, &account, &txt('a'));

    // A transfer that is not signed, or signed with the wrong secret, is refused
    // (the address is a secondary's: only the key tells them apart).
    let before = server.counters();
    let unsigned = dig_axfr(server.addr, None);
    assert!(!unsigned.contains("SOA"), "{unsigned}");
    let wrong = dig_axfr(server.addr, Some(WRONG_SECRET));
    assert!(!wrong.contains(&txt('a')), "{wrong}");
    assert!(
        wrong.contains("NOTAUTH") || wrong.contains("BADSIG") || wrong.contains("failed"),
        "{wrong}"
    );
    let after = server.counters();
    assert_eq!(after["dns_xfr_refused"], before["dns_xfr_refused"] + 2);
    assert_eq!(after["dns_xfr_served"], before["dns_xfr_served"]);
    // The right key transfers the whole zone between two SOAs.
    let full = dig_axfr(server.addr, Some(SECRET));
    assert_eq!(full.matches("\tSOA\t").count(), 2, "{full}");
    assert!(full.contains(&txt('a')), "{full}");
    assert!(full.contains("_dmarc."), "{full}");
    assert!(!full.contains("failed"), "{full}");

    // IXFR from the serial before the update: that change alone (the SOA four
    // times: new, old, new, new); from a serial older than the journal (a
    // store's first serial is the time): the whole zone.
    let serial = serial_at(server.addr);
    let key = format!("hmac-sha256:{KEY_NAME}:{SECRET}");
    let ixfr = |from: u32| {
        dig(
            server.addr,
            &[&format!("IXFR={from}"), "auth.test", "-y", &key],
        )
    };
    let changes = ixfr(serial - 1);
    assert_eq!(changes.matches("\tSOA\t").count(), 4, "{changes}");
    assert!(changes.contains(&txt('a')), "{changes}");
    assert!(!changes.contains("_dmarc.auth.test"), "{changes}");
    let whole = ixfr(1);
    assert_eq!(whole.matches("\tSOA\t").count(), 2, "{whole}");
    assert!(whole.contains("_dmarc.auth.test"), "{whole}");
    let current = ixfr(serial);
    assert_eq!(current.matches("\tSOA\t").count(), 1, "{current}");

    // Knot's initial AXFR.
    let knot = Knot::start(&knot_dir, knot_port, server.addr);
    let started = eventually(Duration::from_secs(10), || {
        txt_at(knot.addr, &fulldomain)
            .iter()
            .any(|a| a.contains(&txt('a')))
    });
    let knot_log = || std::fs::read_to_string(knot_dir.0.join("knot.log")).unwrap_or_default();
    assert!(started, "Knot never served the zone: {}", knot_log());
    // Knot's own refresh after its bootstrap settles first.
    std::thread::sleep(Duration::from_secs(1));

    // An update at the API reaches Knot by NOTIFY within a second.
    let mut delays = Vec::new();
    for c in ['b', 'c', 'd', 'e', 'f'] {
        update(&api, &account, &txt(c));
        // From the API's answer: the update is committed and published.
        let updated = Instant::now();
        let mut seen = false;
        while updated.elapsed() < Duration::from_secs(3) {
            if txt_at(knot.addr, &fulldomain)
                .iter()
                .any(|a| a.contains(&txt(c)))
            {
                seen = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let delay = updated.elapsed();
        assert!(seen, "update {c} never reached Knot: {}", knot_log());
        delays.push(delay);
    }
    eprintln!("API update to answer at Knot: {delays:?}");
    if std::env::var_os("XFR_KNOT_LOG").is_some() {
        eprintln!("{}", knot_log());
        while let Ok(line) = server.log.try_recv() {
            eprintln!("{line}");
        }
    }
    for delay in &delays {
        assert!(*delay < Duration::from_secs(1), "{delays:?}");
    }
    // Every update went by IXFR, from the journal (Knot checks that every
    // record an IXFR deletes exists).
    let log = knot_log();
    let incremental = log.matches("IXFR, incoming").count();
    assert!(incremental >= 10, "{log}");
    assert!(!log.contains("AXFR-style"), "{log}");
    assert!(!log.contains("failed"), "{log}");
    let counters = server.counters();
    assert!(counters["dns_notify_answered"] >= 5, "{counters:?}");
    assert!(counters["dns_xfr_served"] >= 2, "{counters:?}");
    assert_eq!(counters["dns_notify_failed"], 0, "{counters:?}");

    // A secondary that was down catches up by IXFR across every change it
    // missed: Knot keeps its zone (journal-content: all), and its refresh
    // (here asked for by knotc; its SOA refresh timer in the field) finds
    // the journal reaching back.
    drop(knot);
    for c in ['g', 'h', 'i'] {
        update(&api, &account, &txt(c));
    }
    let knot = Knot::start(&knot_dir, knot_port, server.addr);
    assert!(
        eventually(Duration::from_secs(5), || !txt_at(knot.addr, &fulldomain)
            .is_empty()),
        "Knot did not restart: {}",
        knot_log()
    );
    let socket = knot_dir.0.join("knot").join("knot.sock");
    let refresh = Command::new("knotc")
        .arg("-s")
        .arg(&socket)
        .args(["zone-refresh", "auth.test"])
        .output()
        .unwrap();
    assert!(refresh.status.success(), "{refresh:?}");
    let caught_up = eventually(Duration::from_secs(5), || {
        txt_at(knot.addr, &fulldomain)
            .iter()
            .any(|a| a.contains(&txt('i')))
    });
    let log = knot_log();
    assert!(caught_up, "{log}");
    assert_eq!(serial_at(knot.addr), serial_at(server.addr));
    let restarted = log.rsplit("starting").next().unwrap_or_default();
    assert!(restarted.contains("IXFR, incoming"), "{restarted}");
    assert!(!restarted.contains("AXFR"), "{restarted}");
}
