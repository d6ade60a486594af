//! The Pebble fixture (tests/common/pebble.rs) against the real Pebble 2.10: what
//! the certificate tests rely on (ARI, profiles, the management API) is there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::pebble::{
    DEFAULT_ISSUER_DOMAIN_NAME, Pebble, PebbleOptions, RENEWAL_INFO_RETRY_AFTER_SECONDS,
    SHORTLIVED_VALIDITY_SECONDS, base64url, parse_rfc3339, rfc3339,
};
use common::{DEADLINE, TempDir, wait_timeout};

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

fn certbot_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/acme-clients/bin/certbot");
    assert!(
        path.exists(),
        "{} is missing: run tests/run.sh, which makes that venv",
        path.display()
    );
    path
}

/// certbot obtains a `shortlived` certificate for `name` from `pebble` (which must
/// run with PEBBLE_VA_ALWAYS_VALID=1: the manual hook publishes nothing); its PEM.
fn shortlived_certificate(work: &TempDir, pebble: &Pebble, name: &str) -> String {
    let certbot_dir = work.0.join("certbot");
    let mut child = Command::new(certbot_path())
        .args([
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--no-eff-email",
        ])
        .args(["-m", "test@example.test", "--server", &pebble.directory()])
        .arg("--config-dir")
        .arg(certbot_dir.join("config"))
        .arg("--work-dir")
        .arg(certbot_dir.join("work"))
        .arg("--logs-dir")
        .arg(certbot_dir.join("logs"))
        .args(["--manual", "--preferred-challenges", "dns"])
        .args([
            "--manual-auth-hook",
            "true",
            "--required-profile",
            "shortlived",
        ])
        .args(["-d", name])
        .env("REQUESTS_CA_BUNDLE", pebble.ca_bundle())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, DEADLINE * 3);
    let cert = certbot_dir.join(format!("config/live/{name}/cert.pem"));
    assert!(
        status.is_some_and(|s| s.success()) && cert.exists(),
        "certbot failed ({status:?}):\n{}\n--- pebble:\n{}",
        std::fs::read_to_string(certbot_dir.join("logs/letsencrypt.log")).unwrap_or_default(),
        pebble.log()
    );
    std::fs::read_to_string(cert).unwrap()
}

/// Pebble's ARI window is the middle third's end ±1 day: for a 6-day certificate,
/// from notBefore + 3 d to notBefore + 5 d (less the second Pebble takes off
/// notAfter); the management API replaces it.
#[test]
fn pebble_suggests_and_moves_the_renewal_window_of_a_shortlived_certificate() {
    let work = TempDir::new();
    let options = PebbleOptions {
        env: vec![("PEBBLE_VA_ALWAYS_VALID".into(), "1".into())],
        ..PebbleOptions::default()
    };
    let pebble = Pebble::start_with(&work.0, NO_DNS.parse().unwrap(), options);
    let certificate = shortlived_certificate(&work, &pebble, "ari.example.test");

    let (not_before, not_after) = pebble.validity(&certificate);
    let day = Duration::from_secs(86_400);
    let second = Duration::from_secs(1);
    assert_eq!(
        not_after.duration_since(not_before).unwrap(),
        Duration::from_secs(SHORTLIVED_VALIDITY_SECONDS) - second
    );
    assert_eq!(
        pebble.certificate_status(&certificate).as_deref(),
        Some("Valid")
    );

    let reply = pebble.renewal_info(&certificate);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.retry_after,
        Some(RENEWAL_INFO_RETRY_AFTER_SECONDS.to_string()),
        "{reply:?}"
    );
    let window = &reply.json()["suggestedWindow"];
    let start = parse_rfc3339(window["start"].as_str().unwrap());
    let end = parse_rfc3339(window["end"].as_str().unwrap());
    assert_eq!(start, not_before + 3 * day - second, "{reply:?}");
    assert_eq!(end, not_before + 5 * day - second, "{reply:?}");

    // A window around now: a renewal is due.
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    pebble.set_renewal_window(&certificate, now - hour, now + hour);
    let reply = pebble.renewal_info(&certificate);
    assert_eq!(reply.status, 200, "{reply:?}");
    let window = &reply.json()["suggestedWindow"];
    assert_eq!(window["start"], rfc3339(now - hour), "{reply:?}");
    assert_eq!(window["end"], rfc3339(now + hour), "{reply:?}");
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
    for time in [UNIX_EPOCH, leap_day, last_second] {
        assert_eq!(parse_rfc3339(&rfc3339(time)), time);
    }
    assert_eq!(parse_rfc3339("2000-02-29T01:02:03.456Z"), leap_day);
}
