//! A certificate validated through a secondary: Pebble 2.10 asks lanseal A (the
//! router: its zone home.test with the `_acme-challenge` CNAME, and the certs
//! role as the ACME client), and A routes the delegate zone auth.test to Knot
//! alone, Knot being the secondary of lanseal B (the delegate: its acme-dns API
//! and zone, the primary). The role's checks ask C, a copy of A's DNS without a
//! cache. Nothing in A's or C's path reaches B's DNS: the TXT values Pebble sees
//! arrive at Knot by NOTIFY and IXFR from B, or not at all. Checked by breaking
//! it: with B's NOTIFY sent to a dead port (Knot's next refresh an hour away),
//! the role's check times out; with C asking B itself, the role tells Pebble,
//! and Pebble, through A and Knot, finds no such name (NXDOMAIN).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::pebble::{Pebble, sans};
use common::secondaries::*;
use common::*;

/// From A's start to a deployed certificate (a few seconds; a loaded CI machine
/// gets slack).
const ISSUE_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn pebble_validates_through_a_knot_secondary_of_the_delegate() {
    let started = Instant::now();
    let work = TempDir::new();

    // B, the delegate, notifying Knot; Knot transfers its zone.
    let knot_port = free_dns_port();
    let knot_addr = SocketAddr::from(([127, 0, 0, 1], knot_port));
    let key = key_file(&work.0);
    let b_config = format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n{}",
        work.0.join("state-b").display(),
        delegate_section(&[knot_addr], &key),
    );
    let b = Server::start_config(&b_config);
    let api = b.delegate_api();
    let knot = Knot::start(&work.0.join("knot"), knot_port, b.addr, SECRET);
    let loaded = eventually(Duration::from_secs(10), || {
        dig(knot.addr, &["SOA", ZONE]).contains("status: NOERROR")
    });
    assert!(loaded, "Knot never loaded the zone: {}", knot.log());

    // A, the router: Pebble's resolver and the certs role; auth.test goes to
    // Knot, never to B. The role's checks ask C, the same zone and route
    // without a cache, so they see what Knot serves and nothing A cached.
    let port = free_dns_port();
    let a_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let pebble = Pebble::start(&work.0, a_addr);
    let dns = |listen: SocketAddr, records: &[String], extra: &str| {
        let records: Vec<String> = records.iter().map(|r| format!("{r:?}")).collect();
        format!(
            "[dns]\nlisten = [\"{listen}\"]\nresolv_file = \"\"\n{extra}\
             routes = {{ \"{ZONE}\" = [\"{knot_addr}\"] }}\n\
             [[zone]]\nname = \"home.test\"\nrecords = [{}]\n",
            records.join(", "),
        )
    };
    let config = |records: &[String], checker: SocketAddr| {
        format!(
            "log_level = \"debug\"\nstate_dir = \"{state}\"\n{dns}\
             [acme]\ndirectory = \"{directory}\"\nca_bundle = \"{ca}\"\n\
             check_resolvers = [\"{checker}\"]\n\
             [[cert]]\nname = \"router\"\ndomains = [\"home.test\", \"*.home.test\"]\n\
             delegate = \"{api}\"\n",
            state = work.0.join("state-a").display(),
            dns = dns(a_addr, records, ""),
            directory = pebble.directory(),
            ca = pebble.ca_bundle().display(),
        )
    };
    let path = work.0.join("a.toml");
    // `certs setup` asks no resolver: any checker will do.
    std::fs::write(&path, config(&[], a_addr)).unwrap();
    let setup = lanseal(&["certs", "setup", "router", "-c", path.to_str().unwrap()]);
    let cname: Vec<String> = setup
        .lines()
        .map(|l| l.split("  ;").next().unwrap().trim().to_string())
        .filter(|l| l.contains(" CNAME "))
        .collect();
    assert_eq!(cname.len(), 1, "{setup}");
    // C on a port of its own choosing (one picked in advance could be taken
    // by then), and A told where it is.
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let c_config = dns(any, &cname, "cache_entries_max = 0\n");
    let c = Server::start_config(&c_config);
    let a_config = config(&cname, c.addr);
    for text in [&a_config, &c_config] {
        assert!(!text.contains(&b.addr.to_string()), "{text}");
    }

    let before = b.counters();
    let knot_before = knot.transfers_since_start();
    let issuing = Instant::now();
    let a = Server::start_config(&a_config);
    // The first outcome of the first attempt: deployed, or failed (fails the
    // test at once, with what the role or the CA said).
    let mut seen = Vec::new();
    let line = loop {
        let (line, before) = a.wait_log_within("certs: router", ISSUE_TIMEOUT);
        seen.extend(before);
        if line.contains("issued and deployed") {
            break line;
        }
        assert!(
            !line.contains("failed"),
            "{line}\n--- knot:\n{}\n--- A:\n{}",
            knot.log(),
            seen.join("\n")
        );
        seen.push(line);
    };
    eprintln!(
        "certificate through the secondary {:?} after A's start: {line}",
        issuing.elapsed()
    );
    if std::env::var_os("XFR_CERTS_LOG").is_some() {
        eprintln!("{}", seen.join("\n"));
    }
    let dir = work.0.join("state-a/certs/router");
    pebble.verify(&dir, &work.0);
    let names = sans(&dir.join("cert.pem"));
    assert!(
        names.contains("DNS:home.test") && names.contains("DNS:*.home.test"),
        "{names}"
    );

    // The two challenge values reached Knot by IXFR from B, the only way they
    // could reach A.
    let knot_after = knot.transfers_since_start();
    assert!(
        knot_after.incremental > knot_before.incremental,
        "{knot_after:?}: {}\n{}",
        knot.log(),
        seen.join("\n")
    );
    let after = b.counters();
    assert!(
        after["dns_xfr_served"] > before["dns_xfr_served"],
        "{after:?}"
    );
    assert!(
        after["dns_notify_answered"] > before["dns_notify_answered"],
        "{after:?}"
    );
    eprintln!("whole test: {:?}", started.elapsed());
}
