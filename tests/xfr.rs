//! The delegate zone as the primary of two standard secondaries at once, Knot
//! DNS (Debian's `knot`) and BIND 9 (Debian's `bind9`), each started here in a
//! temp dir on a loopback port (tests/common/secondaries.rs): both transfer the
//! zone by AXFR with TSIG and follow every update at the API by NOTIFY and IXFR
//! within a second (their own logs tell the kind of transfer); one that was down
//! catches up by IXFR, or by AXFR once the journal no longer reaches back (a
//! restarted delegate); a wrong key, at `dig` or configured in a secondary, is
//! refused and counted, and that secondary gets no zone.
//!
//! Figures: `XFR_UPDATES=100 cargo test --test xfr -- --nocapture` times that
//! many updates from the API's 200 to the answer at each secondary (median,
//! max; default 15); `XFR_ACCOUNTS=100` sizes the AXFR at that many accounts
//! (default 10) besides 1, and the IXFR of one update.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::secondaries::*;
use common::*;
use serde_json::Value;

const PREFIX: &str = "/api/v1/acme-dns-compat";
/// From the API's 200 to the new value at a secondary: the goal.
const FOLLOW_GOAL: Duration = Duration::from_secs(1);
/// How long a check waits for a value that must arrive (a loaded machine gets
/// slack; a passing test never waits this long).
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The API allows a client 50 updates at once and 20 registrations an hour
/// (`delegate::api::limits`): the test spreads its calls over source addresses.
const UPDATES_PER_SOURCE: usize = 40;
const REGISTRATIONS_PER_SOURCE: usize = 20;

/// A delegate for auth.test notifying `secondaries`; its API base (with the
/// prefix) beside it.
fn delegate(state: &TempDir, dns_listen: &str, secondaries: &[SocketAddr]) -> (Server, String) {
    let key = key_file(&state.0);
    let config = format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"{dns_listen}\"]\nresolv_file = \"\"\n\
         {}api_prefix = \"{PREFIX}\"\n",
        state.0.join("state").display(),
        delegate_section(secondaries, &key),
    );
    let server = Server::start_config(&config);
    let api = server.delegate_api();
    (server, api)
}

/// POST `path` at the API's host from `source` (a loopback address).
fn curl(api: &str, source: &str, path: &str, headers: &[&str], body: &str) -> (u16, Value) {
    let base = api.trim_end_matches(PREFIX);
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "--interface",
        source,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
    ]);
    cmd.args(["-X", "POST"]).arg(format!("{base}{path}"));
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

/// A new account, registered from `source`.
fn register(api: &str, source: &str) -> Value {
    let (status, account) = curl(api, source, &format!("{PREFIX}/register"), &[], "");
    assert_eq!(status, 201, "{account}");
    account
}

/// The `n`th registration's source address: 20 per address.
fn registration_source(n: usize) -> String {
    format!("127.0.1.{}", 1 + n / REGISTRATIONS_PER_SOURCE)
}

/// The `n`th update's source address.
fn update_source(n: usize) -> String {
    format!("127.0.2.{}", 1 + n / UPDATES_PER_SOURCE)
}

fn update(api: &str, source: &str, account: &Value, txt: &str) {
    let user = format!("X-Api-User: {}", account["username"].as_str().unwrap());
    let key = format!("X-Api-Key: {}", account["password"].as_str().unwrap());
    let subdomain = account["subdomain"].as_str().unwrap();
    let body = format!("{{\"subdomain\": \"{subdomain}\", \"txt\": \"{txt}\"}}");
    let (status, answer) = curl(
        api,
        source,
        &format!("{PREFIX}/update"),
        &[&user, &key],
        &body,
    );
    assert_eq!(status, 200, "{answer}");
}

/// The `n`th distinct challenge value (43 characters, as acme-dns wants).
fn value(n: usize) -> String {
    format!("v{n:042}")
}

fn fulldomain(account: &Value) -> String {
    account["fulldomain"].as_str().unwrap().to_string()
}

/// `dig` AXFR of auth.test from `primary` signed with `secret` (or unsigned).
fn dig_axfr(primary: SocketAddr, secret: Option<&str>) -> String {
    let key = secret.map(|s| format!("hmac-sha256:{KEY_NAME}:{s}"));
    let mut args = vec!["AXFR", ZONE];
    if let Some(key) = &key {
        args.extend(["-y", key]);
    }
    dig(primary, &args)
}

fn dig_ixfr(primary: SocketAddr, from: u32) -> String {
    let key = format!("hmac-sha256:{KEY_NAME}:{SECRET}");
    dig(primary, &[&format!("IXFR={from}"), ZONE, "-y", &key])
}

/// The serial in the SOA `server` answers for auth.test.
fn serial_at(server: SocketAddr) -> u32 {
    let out = dig(server, &["+short", "SOA", ZONE]);
    out.split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SOA from {server}: {out}"))
}

/// dig's "XFR size: R records (messages M, bytes B)" as (messages, records, bytes).
fn xfr_size(out: &str) -> (u64, u64, u64) {
    let line = out
        .lines()
        .find(|l| l.contains("XFR size:"))
        .unwrap_or_else(|| panic!("no XFR size in {out}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [records, messages, bytes] = numbers[..] else {
        panic!("{line}")
    };
    (messages, records, bytes)
}

/// The median, the 90th percentile and the maximum of `delays`.
fn median_p90_max(delays: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = delays.to_vec();
    sorted.sort();
    let at = |q: usize| sorted[(sorted.len() * q / 100).min(sorted.len() - 1)];
    (at(50), at(90), sorted[sorted.len() - 1])
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits until lanseal has given up notifying (`dns_notify_failed` at `count`):
/// the NOTIFYs it retries would otherwise reach a secondary that comes back
/// within seconds, and the test wants the refresh of one down for longer.
fn given_up(server: &Server, count: u64) {
    let counters = server.counters_until(ARRIVAL_TIMEOUT + ARRIVAL_TIMEOUT, |c| {
        c["dns_notify_failed"] >= count
    });
    assert!(counters["dns_notify_failed"] >= count, "{counters:?}");
}

/// Both secondaries and their logs, for failure messages.
fn logs(knot: &Knot, bind: &Bind) -> String {
    format!(
        "--- knot:\n{}\n--- named:\n{}",
        knot.log_since_start(),
        bind.summary()
    )
}

/// Free ports for Knot and BIND on 127.0.0.1, and the two as the delegate's
/// `secondaries` (chosen before lanseal starts: it notifies them).
fn secondary_ports() -> (u16, u16, [SocketAddr; 2]) {
    let (knot_port, bind_port) = (free_dns_port(), free_dns_port());
    let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
    (knot_port, bind_port, [at(knot_port), at(bind_port)])
}

#[test]
fn knot_and_bind_transfer_and_follow_updates() {
    let test_started = Instant::now();
    let state = TempDir::new();
    // The secondaries' ports are chosen before lanseal starts: lanseal notifies them.
    let dirs = TempDir::new();
    let (knot_dir, bind_dir) = (dirs.0.join("knot"), dirs.0.join("bind"));
    let (knot_port, bind_port, secondaries) = secondary_ports();
    let (server, api) = delegate(&state, "127.0.0.1:0", &secondaries);
    let account = register(&api, "127.0.0.1");
    let name = fulldomain(&account);
    update(&api, "127.0.0.1", &account, &value(0));

    // A transfer that is not signed, or signed with the wrong secret, is refused
    // (the address is a secondary's: only the key tells them apart).
    let before = server.counters();
    let unsigned = dig_axfr(server.addr, None);
    assert!(!unsigned.contains("SOA"), "{unsigned}");
    let wrong = dig_axfr(server.addr, Some(WRONG_SECRET));
    assert!(!wrong.contains(&value(0)), "{wrong}");
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
    assert!(full.contains(&value(0)), "{full}");
    assert!(full.contains("_dmarc."), "{full}");
    assert!(!full.contains("failed"), "{full}");

    // IXFR from the serial before the update: that change alone (the SOA four
    // times: new, old, new, new); from a serial older than the journal (a
    // store's first serial is the time): the whole zone.
    let serial = serial_at(server.addr);
    let changes = dig_ixfr(server.addr, serial - 1);
    assert_eq!(changes.matches("\tSOA\t").count(), 4, "{changes}");
    assert!(changes.contains(&value(0)), "{changes}");
    assert!(!changes.contains("_dmarc.auth.test"), "{changes}");
    let whole = dig_ixfr(server.addr, 1);
    assert_eq!(whole.matches("\tSOA\t").count(), 2, "{whole}");
    assert!(whole.contains("_dmarc.auth.test"), "{whole}");
    let current = dig_ixfr(server.addr, serial);
    assert_eq!(current.matches("\tSOA\t").count(), 1, "{current}");

    // The initial AXFR, at both.
    let started = Instant::now();
    let knot = Knot::start(&knot_dir, knot_port, server.addr, SECRET);
    let bind = Bind::start(&bind_dir, bind_port, server.addr, SECRET);
    let both = eventually(ARRIVAL_TIMEOUT, || {
        serves(knot.addr, &name, &value(0)) && serves(bind.addr, &name, &value(0))
    });
    assert!(
        both,
        "a secondary never served the zone:\n{}",
        logs(&knot, &bind)
    );
    eprintln!(
        "Knot and BIND started and transferred the zone in {:?}",
        started.elapsed()
    );
    assert_eq!(knot.transfers_since_start().whole, 1, "{}", knot.log());
    assert_eq!(bind.transfers_since_start().whole, 1, "{}", bind.summary());
    // Knot's own refresh after its bootstrap settles first.
    std::thread::sleep(Duration::from_secs(1));

    // Every update at the API reaches both by NOTIFY and IXFR within a second.
    let updates = env_count("XFR_UPDATES", 15);
    let mut delays: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let knot_before = knot.transfers_since_start();
    let bind_before = bind.transfers_since_start();
    let round = Instant::now();
    for n in 1..=updates {
        let want = value(n);
        update(&api, &update_source(n), &account, &want);
        // From the API's answer: the update is committed and published.
        let updated = Instant::now();
        let mut seen: [Option<Duration>; 2] = [None, None];
        while seen.iter().any(Option::is_none) && updated.elapsed() < ARRIVAL_TIMEOUT {
            for (i, secondary) in [knot.addr, bind.addr].into_iter().enumerate() {
                if seen[i].is_none() && serves(secondary, &name, &want) {
                    seen[i] = Some(updated.elapsed());
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        for (i, who) in ["Knot", "BIND"].into_iter().enumerate() {
            let delay = seen[i].unwrap_or_else(|| {
                panic!("update {n} never reached {who}:\n{}", logs(&knot, &bind))
            });
            delays[i].push(delay);
        }
    }
    eprintln!(
        "{updates} updates in {:?} (bcrypt per update in the debug build)",
        round.elapsed()
    );
    for (i, who) in ["Knot", "BIND"].into_iter().enumerate() {
        if std::env::var_os("XFR_DELAYS").is_some() {
            eprintln!("{who}: {:?}", delays[i]);
        }
        let (median, p90, max) = median_p90_max(&delays[i]);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        eprintln!(
            "API 200 to the new TXT at {who} over {updates} updates: median {:.1} ms, \
             90th percentile {:.1} ms, max {:.1} ms",
            ms(median),
            ms(p90),
            ms(max)
        );
        assert!(max < FOLLOW_GOAL, "{who}: {:?}", delays[i]);
    }
    // Every update went by IXFR, from the journal (both check that every
    // record an IXFR deletes exists).
    let knot_after = knot.transfers_since_start();
    let bind_after = bind.transfers_since_start();
    assert!(
        knot_after.incremental - knot_before.incremental >= updates,
        "{knot_after:?}: {}",
        knot.log()
    );
    assert_eq!(knot_after.whole, knot_before.whole, "{}", knot.log());
    assert!(!knot.log().contains("failed"), "{}", knot.log());
    assert!(
        bind_after.incremental - bind_before.incremental >= updates,
        "{bind_after:?}: {}",
        bind.summary()
    );
    assert_eq!(bind_after.whole, bind_before.whole, "{}", bind.summary());
    assert!(!bind.log().contains("failure"), "{}", bind.summary());
    let counters = server.counters();
    assert!(
        counters["dns_notify_answered"] >= 2 * updates as u64,
        "{counters:?}"
    );
    assert!(
        counters["dns_xfr_served"] >= 2 * updates as u64 + 2,
        "{counters:?}"
    );
    assert_eq!(counters["dns_notify_failed"], 0, "{counters:?}");

    // Secondaries that were down catch up by IXFR across every change they
    // missed: both keep their zone and journal, and their refresh (Knot's own
    // at start, rndc's for BIND, knotc's for both; the SOA refresh timer in
    // the field) finds the journal reaching back.
    let down = Instant::now();
    drop(knot);
    drop(bind);
    let failed = server.counters()["dns_notify_failed"];
    for n in updates + 1..=updates + 3 {
        update(&api, &update_source(n), &account, &value(n));
    }
    given_up(&server, failed + 2);
    let last = value(updates + 3);
    let knot = Knot::start(&knot_dir, knot_port, server.addr, SECRET);
    let bind = Bind::start(&bind_dir, bind_port, server.addr, SECRET);
    let by = Transfers {
        incremental: 1,
        whole: 0,
    };
    restarted_secondaries_catch_up(&knot, &bind, &server, &name, &last, by);
    eprintln!(
        "down, three updates, back and caught up: {:?}",
        down.elapsed()
    );
    eprintln!("whole test: {:?}", test_started.elapsed());
}

/// Knot and BIND, started again after missing changes, serve the zone, and
/// after a refresh (Knot refreshes by itself at start; BIND waits for its
/// timer) serve `value` at `name` under the primary's serial, each having
/// made exactly the transfers `by` since its start.
fn restarted_secondaries_catch_up(
    knot: &Knot,
    bind: &Bind,
    server: &Server,
    name: &str,
    value: &str,
    by: Transfers,
) {
    let back = eventually(ARRIVAL_TIMEOUT, || {
        !txt_at(knot.addr, name).is_empty() && !txt_at(bind.addr, name).is_empty()
    });
    assert!(back, "a secondary did not restart:\n{}", logs(knot, bind));
    knot.refresh();
    bind.refresh();
    let caught_up = eventually(ARRIVAL_TIMEOUT, || {
        serves(knot.addr, name, value) && serves(bind.addr, name, value)
    });
    assert!(caught_up, "{}", logs(knot, bind));
    assert_eq!(serial_at(knot.addr), serial_at(server.addr));
    assert_eq!(serial_at(bind.addr), serial_at(server.addr));
    for (who, transfers, log) in [
        ("Knot", knot.transfers_since_start(), knot.log_since_start()),
        ("BIND", bind.transfers_since_start(), bind.summary()),
    ] {
        assert_eq!(transfers, by, "{who}: {log}");
    }
}

/// A restarted delegate's journal begins at its restart: a secondary that was
/// down across an update before it and asks by IXFR from the serial it had gets
/// the whole zone (AXFR-style), and serves what it missed.
#[test]
fn after_a_delegate_restart_the_secondaries_catch_up_by_a_whole_zone_transfer() {
    let started = Instant::now();
    let state = TempDir::new();
    let dirs = TempDir::new();
    let (knot_dir, bind_dir) = (dirs.0.join("knot"), dirs.0.join("bind"));
    let (knot_port, bind_port, secondaries) = secondary_ports();
    // A fixed port: the secondaries find the restarted delegate where it was.
    let listen = format!("127.0.0.1:{}", free_dns_port());
    let (server, api) = delegate(&state, &listen, &secondaries);
    let account = register(&api, "127.0.0.1");
    let name = fulldomain(&account);
    update(&api, "127.0.0.1", &account, &value(1));
    let knot = Knot::start(&knot_dir, knot_port, server.addr, SECRET);
    let bind = Bind::start(&bind_dir, bind_port, server.addr, SECRET);
    let both = eventually(ARRIVAL_TIMEOUT, || {
        serves(knot.addr, &name, &value(1)) && serves(bind.addr, &name, &value(1))
    });
    assert!(both, "{}", logs(&knot, &bind));
    let primary = server.addr;
    // Down, they miss an update; then the delegate restarts (its journal now
    // begins at the serial it restarts with) and changes again.
    drop(knot);
    drop(bind);
    update(&api, "127.0.0.1", &account, &value(2));
    drop(server);
    let (server, api) = delegate(&state, &listen, &secondaries);
    update(&api, "127.0.0.1", &account, &value(3));
    given_up(&server, 2);
    let knot = Knot::start(&knot_dir, knot_port, primary, SECRET);
    let bind = Bind::start(&bind_dir, bind_port, primary, SECRET);
    let by = Transfers {
        incremental: 0,
        whole: 1,
    };
    restarted_secondaries_catch_up(&knot, &bind, &server, &name, &value(3), by);
    eprintln!("catch-up after a delegate restart: {:?}", started.elapsed());
}

/// A secondary configured with the wrong secret under the right key name, at an
/// address lanseal transfers to: every SOA check and transfer it tries is
/// refused and counted, it never serves the zone, and lanseal's NOTIFY (signed
/// with the right key) is not taken either.
#[test]
fn a_secondary_with_the_wrong_key_gets_no_zone() {
    let started = Instant::now();
    let state = TempDir::new();
    let dirs = TempDir::new();
    let (knot_port, bind_port, secondaries) = secondary_ports();
    let (server, api) = delegate(&state, "127.0.0.1:0", &secondaries);
    let account = register(&api, "127.0.0.1");
    let name = fulldomain(&account);
    update(&api, "127.0.0.1", &account, &value(1));
    let knot = Knot::start(&dirs.0.join("knot"), knot_port, server.addr, WRONG_SECRET);
    let bind = Bind::start(&dirs.0.join("bind"), bind_port, server.addr, WRONG_SECRET);
    // Each has tried at least once (at start), and been refused.
    let counters = server.counters_until(ARRIVAL_TIMEOUT, |c| c["dns_xfr_refused"] >= 2);
    assert!(counters["dns_xfr_refused"] >= 2, "{counters:?}");
    // An update: NOTIFY to both, which they cannot verify.
    update(&api, "127.0.0.1", &account, &value(2));
    std::thread::sleep(Duration::from_secs(2));
    for secondary in [knot.addr, bind.addr] {
        let soa = dig(secondary, &["SOA", ZONE]);
        assert!(
            !soa.contains("status: NOERROR") && !soa.contains(&value(2)),
            "{soa}\n{}",
            logs(&knot, &bind)
        );
        assert!(txt_at(secondary, &name).is_empty());
    }
    let counters = server.counters();
    assert_eq!(counters["dns_xfr_served"], 0, "{counters:?}");
    assert!(counters["dns_xfr_refused"] >= 2, "{counters:?}");
    // What each says about it: lanseal's answers fail their TSIG check, and
    // lanseal's NOTIFY fails BIND's.
    let knot_log = knot.log();
    assert!(knot_log.contains("failed to verify TSIG"), "{knot_log}");
    let bind_log = bind.summary();
    assert!(bind_log.contains("tsig indicates error"), "{bind_log}");
    assert!(
        bind_log.contains("request has invalid signature"),
        "{bind_log}"
    );
    assert!(!bind.log().contains("Transfer completed"), "{bind_log}");
    eprintln!("wrong keys: {:?}", started.elapsed());
    assert!(!bind_log.contains("Transfer completed"), "{bind_log}");
}

/// The sizes of the transfers (printed; the IXFR of one update is checked to be
/// that change alone): the AXFR at 1 account and at `XFR_ACCOUNTS` (default
/// 10), each account with its TXT value, and the IXFR of one update.
#[test]
fn transfer_sizes() {
    let started = Instant::now();
    let state = TempDir::new();
    // Allowed to transfer from 127.0.0.1 (dig's address); the NOTIFYs go to a
    // port where nothing listens.
    let (server, api) = delegate(&state, "127.0.0.1:0", &["127.0.0.1:9".parse().unwrap()]);
    let accounts = env_count("XFR_ACCOUNTS", 10).max(2);
    let axfr = |count: usize| {
        let out = dig_axfr(server.addr, Some(SECRET));
        let (messages, records, bytes) = xfr_size(&out);
        eprintln!(
            "AXFR at {count} account(s): {records} records, {messages} message(s), {bytes} bytes"
        );
        (messages, records, bytes)
    };
    let first = register(&api, &registration_source(0));
    update(&api, &update_source(0), &first, &value(0));
    let (_, one, _) = axfr(1);
    for n in 1..accounts {
        let account = register(&api, &registration_source(n));
        update(&api, &update_source(n), &account, &value(n));
    }
    let (_, many, _) = axfr(accounts);
    assert!(
        many > one,
        "{one} records at 1 account, {many} at {accounts}"
    );
    // One update: its IXFR (the SOA four times, the new value in: the account's
    // first value stays, as two are kept); then one more, which replaces the
    // oldest (out and in), as every later renewal does.
    for (n, kind, records_want) in [
        (accounts, "adds a second value", 5),
        (accounts + 1, "replaces the oldest value", 6),
    ] {
        let serial = serial_at(server.addr);
        update(&api, &update_source(n), &first, &value(n));
        let out = dig_ixfr(server.addr, serial);
        let (messages, records, bytes) = xfr_size(&out);
        eprintln!(
            "IXFR of one update that {kind}: {records} records, {messages} message(s), {bytes} bytes"
        );
        assert_eq!(out.matches("\tSOA\t").count(), 4, "{out}");
        assert_eq!(records, records_want, "{out}");
        assert!(out.contains(&value(n)), "{out}");
        assert!(!out.contains("_dmarc."), "{out}");
    }
    eprintln!("transfer sizes: {:?}", started.elapsed());
}

/// A TSIG-signed ordinary query (a secondary's SOA check) is answered signed
/// over UDP as over TCP (RFC 8945 §5.3): BIND makes that check over UDP and
/// rejects an unsigned answer ("expected a TSIG or SIG(0)"), so it never
/// followed a NOTIFY before. A wrong secret: NOTAUTH, counted.
#[test]
fn a_signed_query_over_udp_gets_a_signed_answer() {
    let state = TempDir::new();
    let (server, _api) = delegate(&state, "127.0.0.1:0", &["127.0.0.1:9".parse().unwrap()]);
    let key = format!("hmac-sha256:{KEY_NAME}:{SECRET}");
    let tcp = dig(server.addr, &["+tcp", "SOA", ZONE, "-y", &key]);
    assert!(tcp.contains("TSIG PSEUDOSECTION"), "{tcp}");
    let udp = dig(server.addr, &["SOA", ZONE, "-y", &key]);
    assert!(!udp.contains("expected a TSIG"), "{udp}");
    assert!(!udp.contains("Couldn't verify"), "{udp}");
    assert!(udp.contains("TSIG PSEUDOSECTION"), "{udp}");
    assert!(
        udp.contains("status: NOERROR") && udp.contains("\tSOA\t"),
        "{udp}"
    );
    let before = server.counters()["dns_xfr_refused"];
    let wrong = format!("hmac-sha256:{KEY_NAME}:{WRONG_SECRET}");
    let udp = dig(server.addr, &["SOA", ZONE, "-y", &wrong]);
    assert!(udp.contains("NOTAUTH") || udp.contains("BADSIG"), "{udp}");
    assert!(!udp.contains("\tSOA\t"), "{udp}");
    assert_eq!(server.counters()["dns_xfr_refused"], before + 1);
}
