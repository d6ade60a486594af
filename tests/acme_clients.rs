//! The delegate role against real third-party ACME clients, all on loopback: certbot
//! with the `dns-acmedns` authenticator (PyPI `certbot-dns-acmedns`, which calls the
//! acme-dns API through `pyacmedns`) obtains a certificate for `example.test` and
//! `*.example.test` from Pebble, Let's Encrypt's test CA. Pebble resolves
//! `_acme-challenge.example.test` TXT at lanseal, which serves `example.test` as a
//! local zone whose `_acme-challenge` is a CNAME into its own delegate zone
//! `auth.test`. tests/run.sh fetches Pebble 2.10 into target/pebble
//! (tests/ca/fetch-pebble.sh) and installs certbot in a venv under
//! target/acme-clients; missing either fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pebble::Pebble;
use common::*;
use serde_json::Value;

const CERTBOT_TIMEOUT: Duration = Duration::from_secs(120);

/// lanseal's config: the local zone `example.test` with `records` (TOML strings),
/// the delegate zone `auth.test` with its API on `api`.
fn config(state: &Path, listen: &str, api: &str, records: &str) -> String {
    format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"{listen}\"]\nresolv_file = \"\"\n\
         [[zone]]\nname = \"example.test\"\nrecords = [{records}]\n\
         [delegate]\nzone = \"auth.test\"\napi_listen = \"{api}\"\n",
        state.display()
    )
}

fn certbot_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/acme-clients/bin/certbot");
    assert!(
        path.exists(),
        "{} is missing: run tests/run.sh, which makes that venv \
         (python3 -m venv target/acme-clients && target/acme-clients/bin/pip install \
         certbot certbot-dns-acmedns)",
        path.display()
    );
    path
}

/// Text of a file, or a note that it could not be read (for failure messages).
fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<{}: {e}>", path.display()))
}

/// `curl -X POST` without any proxy: (status, JSON body or Null).
fn post(url: &str) -> (u16, Value) {
    let out = run(
        "curl",
        &[
            "-s",
            "--noproxy",
            "*",
            "-m",
            "10",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            url,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    let status = status.parse().unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn certbot_gets_a_certificate_from_pebble_through_the_delegate() {
    let certbot = certbot_path();
    let work = TempDir::new();
    let state = work.0.join("state");
    std::fs::create_dir(&state).unwrap();

    // lanseal: the delegate zone, and example.test still without the CNAME.
    let server = Server::start_config(&config(&state, "127.0.0.1:0", "127.0.0.1:0", ""));
    let api = server.delegate_api();
    let api_addr = api.strip_prefix("http://").unwrap().to_string();

    // Register at the acme-dns API, then point _acme-challenge at the account's
    // name: rewrite the config and reload with SIGHUP (the account persists in the
    // store).
    let (status, account) = post(&format!("{api}/register"));
    assert_eq!(status, 201, "register: {account}");
    let fulldomain = account["fulldomain"].as_str().unwrap().to_string();
    let records = format!("\"_acme-challenge CNAME {fulldomain}.\"");
    server.dir.write(
        "lanseal.toml",
        &config(&state, &server.addr.to_string(), &api_addr, &records),
    );
    server.signal("HUP");
    server.wait_log("reloaded");
    let out = dig(
        server.addr,
        &["_acme-challenge.example.test", "CNAME", "+short"],
    );
    assert_eq!(out.trim(), format!("{fulldomain}."), "CNAME after SIGHUP");

    // Pebble, with a listener certificate from a throwaway CA that certbot trusts.
    let pebble = Pebble::start(&work.0, server.addr);

    // certbot-dns-acmedns: an INI naming the API and a registration file in the
    // acme-dns-client/lego layout, keyed by the domain (both must be 0600).
    let mut registration = serde_json::Map::new();
    let mut entry = account.as_object().unwrap().clone();
    entry.remove("server_url");
    registration.insert("example.test".into(), Value::Object(entry));
    let registration_file = work.write("acmedns.json", &Value::Object(registration).to_string());
    let credentials = work.write(
        "acmedns.ini",
        &format!(
            "dns_acmedns_api_url = {api}\ndns_acmedns_registration_file = {}\n",
            registration_file.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    for file in [&registration_file, &credentials] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let certbot_dir = work.0.join("certbot");
    let output = work.0.join("certbot.out");
    let out = File::create(&output).unwrap();
    let started = Instant::now();
    let mut child = Command::new(&certbot)
        .args([
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--no-eff-email",
            "-m",
            "test@example.test",
            "--server",
            &pebble.directory(),
        ])
        .arg("--config-dir")
        .arg(certbot_dir.join("config"))
        .arg("--work-dir")
        .arg(certbot_dir.join("work"))
        .arg("--logs-dir")
        .arg(certbot_dir.join("logs"))
        .args(["-a", "dns-acmedns", "--dns-acmedns-credentials"])
        .arg(&credentials)
        .args(["--dns-acmedns-propagation-seconds", "0"])
        .args(["-d", "example.test", "-d", "*.example.test"])
        .env("REQUESTS_CA_BUNDLE", pebble.ca_bundle())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", certbot.display()));
    let status = wait_timeout(&mut child, CERTBOT_TIMEOUT);
    let elapsed = started.elapsed();
    let cert = certbot_dir.join("config/live/example.test/cert.pem");
    if status.is_none_or(|s| !s.success()) || !cert.exists() {
        let lanseal_log: Vec<String> = server.log.try_iter().collect();
        panic!(
            "certbot failed ({status:?} after {elapsed:?}):\n{}\n--- certbot log:\n{}\n\
             --- pebble:\n{}\n--- lanseal:\n{}",
            read_lossy(&output),
            read_lossy(&certbot_dir.join("logs/letsencrypt.log")),
            pebble.log(),
            lanseal_log.join("\n")
        );
    }
    eprintln!("certbot obtained the certificate in {elapsed:?}");

    let text = run(
        "openssl",
        &["x509", "-noout", "-text", "-in", cert.to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("DNS:example.test"), "{text}");
    assert!(text.contains("DNS:*.example.test"), "{text}");
    assert!(
        text.contains("Issuer: CN = Pebble Intermediate CA"),
        "{text}"
    );

    // Both challenges' values (apex and wildcard) are still served behind the CNAME
    // (the plugin never deletes them).
    let out = dig(
        server.addr,
        &["_acme-challenge.example.test", "TXT", "+short"],
    );
    let values: Vec<&str> = out.lines().filter(|l| l.starts_with('"')).collect();
    assert_eq!(values.len(), 2, "{out}");
    assert!(out.starts_with(&format!("{fulldomain}.\n")), "{out}");
}
