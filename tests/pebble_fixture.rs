//! The Pebble fixture (tests/common/pebble.rs) against the real Pebble 2.10: what
//! the certificate tests rely on (ARI, profiles, the management API) is there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use common::TempDir;
use common::pebble::{DEFAULT_ISSUER_DOMAIN_NAME, Pebble, base64url, rfc3339};

/// Pebble never resolves anything in these tests (no order is validated): a
/// loopback port where nothing answers.
const NO_DNS: &str = "127.0.0.1:9";

#[test]
fn pebble_offers_ari_profiles_and_its_root() {
    let work = TempDir::new();
    let pebble = Pebble::start(&work.0, NO_DNS.parse::<SocketAddr>().unwrap());

    let directory = pebble.directory_json();
    let renewal_info = directory["renewalInfo"].as_str().unwrap_or_default();
    assert!(
        renewal_info.starts_with("https://127.0.0.1:") && renewal_info.ends_with("/renewalInfo"),
        "{directory}"
    );
    let profiles = directory["meta"]["profiles"].as_object().unwrap();
    assert!(profiles.contains_key("shortlived"), "{directory}");
    assert!(profiles.contains_key("default"), "{directory}");
    assert_eq!(
        directory["meta"]["caaIdentities"],
        serde_json::json!([DEFAULT_ISSUER_DOMAIN_NAME]),
        "{directory}"
    );

    // The root and the intermediate from the management API: the intermediate is
    // signed by the root (what a deployed chain is verified against).
    let root = pebble.root_pem();
    let intermediate = pebble.intermediate_pem();
    let root_path = work.write("root.pem", &root);
    let intermediate_path = work.write("intermediate.pem", &intermediate);
    let out = common::run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            root_path.to_str().unwrap(),
            intermediate_path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let log = pebble.log();
    assert!(
        log.contains(
            "Loaded profile \"shortlived\" with certificate validity period of 518400 seconds"
        ),
        "{log}"
    );
    assert!(
        log.contains("attempt authz reuse for each identifier 0% of the time"),
        "{log}"
    );
    assert!(log.contains("reject 0% of good nonces"), "{log}");
}

#[test]
fn pebble_stops_and_restarts_on_the_same_ports() {
    let work = TempDir::new();
    let mut pebble = Pebble::start(&work.0, NO_DNS.parse::<SocketAddr>().unwrap());
    let root_before = pebble.root_pem();
    pebble.stop();
    let refused = std::process::Command::new("curl")
        .args(["-sS", "--noproxy", "*", "-m", "5", "--cacert"])
        .arg(pebble.ca_bundle())
        .arg(pebble.directory())
        .output()
        .unwrap();
    assert!(!refused.status.success(), "Pebble still answers after stop");
    pebble.restart();
    assert!(pebble.directory_json()["renewalInfo"].is_string());
    assert_ne!(
        pebble.root_pem(),
        root_before,
        "a restarted Pebble has a new root"
    );
}

#[test]
fn base64url_and_rfc3339_match_known_values() {
    assert_eq!(base64url(b""), "");
    assert_eq!(base64url(b"f"), "Zg");
    assert_eq!(base64url(b"fo"), "Zm8");
    assert_eq!(base64url(b"foo"), "Zm9v");
    assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723);
    assert_eq!(rfc3339(leap_day), "2000-02-29T01:02:03Z");
    let last_second = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
    assert_eq!(rfc3339(last_second), "2026-12-31T23:59:59Z");
}
