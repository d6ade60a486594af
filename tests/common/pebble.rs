//! Pebble 2.10, Let's Encrypt's test CA, as a fixture for every certificate test: the
//! binary that tests/ca/fetch-pebble.sh unpacks from Debian unstable into
//! target/pebble (never the system's `pebble`, bookworm's 2.4 without ARI, profiles
//! or dns-persist-01), on free loopback ports, with its own listener certificate,
//! validating through the DNS server the test names. Killed on drop.
//!
//! Every order really validates: no random sleeps, no rejected good nonces, and
//! authorization reuse at its minimum (`PEBBLE_AUTHZREUSE=0` still reuses a valid
//! authorization of the same account 1% of the time, an off-by-one in Pebble: a
//! test that must see a fresh validation uses a fresh account or fresh names).
//! Orders that name no profile get a *random* one of `default` and `shortlived`.
//! Facts about Pebble's behaviour, with references into its source: /work/notes/pebble.md.

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{CLIENT_TIMEOUT, free_tcp_port, tls_ca_and_server};

/// How long Pebble may take to listen on both ports (it generates its CA at start).
pub const PEBBLE_START_TIMEOUT: Duration = Duration::from_secs(20);
/// Starts on fresh ports after one was taken between choosing and binding it.
const PEBBLE_START_ATTEMPTS: u32 = 3;
/// Bound on one HTTPS request of the fixture (curl's `-m`).
const CURL_TIMEOUT_SECONDS: u32 = 10;
/// The `default` profile: 90 days, like Let's Encrypt's classic certificates.
pub const DEFAULT_VALIDITY_SECONDS: u64 = 7_776_000;
/// The `shortlived` profile: 6 days, like Let's Encrypt's short-lived certificates.
pub const SHORTLIVED_VALIDITY_SECONDS: u64 = 518_400;
/// Pebble's `meta.caaIdentities` and the dns-persist-01 `issuer-domain-names` when
/// the config names no `caaIdentities`.
pub const DEFAULT_ISSUER_DOMAIN_NAME: &str = "pebble.letsencrypt.org";
/// The seconds of Retry-After Pebble sends with every renewalInfo answer.
pub const RENEWAL_INFO_RETRY_AFTER_SECONDS: u64 = 21_600;

/// What a test may change in Pebble's configuration; `Default` is what most tests
/// want.
#[derive(Debug, Clone, Default)]
pub struct PebbleOptions {
    /// `-strict`: a challenge POST whose body is not exactly `{}` is refused, and so
    /// is a JWS body with the ACME v1 `resource` field.
    pub strict: bool,
    /// `retryAfter.authz`: seconds of Retry-After on a pending or processing
    /// authorization; 0 sends none. Pebble writes it as seconds or as an HTTP date,
    /// at random.
    pub retry_after_authz_seconds: u32,
    /// `retryAfter.order`: seconds of Retry-After on a processing order (and the
    /// finalize answer); 0 sends none.
    pub retry_after_order_seconds: u32,
    /// `caaIdentities`: the directory's `meta.caaIdentities` and the dns-persist-01
    /// `issuer-domain-names`; empty keeps [`DEFAULT_ISSUER_DOMAIN_NAME`].
    pub caa_identities: Vec<String>,
    /// More environment for Pebble, applied last (e.g. `PEBBLE_WFE_NONCEREJECT=50`
    /// to exercise badNonce retries, `PEBBLE_CHAIN_LENGTH=2`).
    pub env: Vec<(String, String)>,
}

/// An HTTPS answer from Pebble.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// The Retry-After header, if any, as sent.
    pub retry_after: Option<String>,
}

impl Reply {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A running Pebble; killed on drop.
pub struct Pebble {
    child: Option<Child>,
    dir: PathBuf,
    config: PathBuf,
    dns: SocketAddr,
    options: PebbleOptions,
    listen: SocketAddr,
    management: SocketAddr,
    ca_bundle: PathBuf,
    log: PathBuf,
}

impl Pebble {
    /// target/pebble/usr/bin/pebble, or a failure saying how to get it.
    pub fn binary() -> PathBuf {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pebble/usr/bin/pebble");
        assert!(
            path.exists(),
            "{} is missing: run tests/ca/fetch-pebble.sh (tests/run.sh does), which \
             unpacks Debian unstable's pebble 2.10 there",
            path.display()
        );
        path
    }

    /// Starts Pebble with [`PebbleOptions::default`], validating challenges through
    /// the DNS server at `dns` (over TCP), with its files under `dir/pebble`.
    pub fn start(dir: &Path, dns: SocketAddr) -> Self {
        Self::start_with(dir, dns, PebbleOptions::default())
    }

    /// Starts Pebble with `options`.
    pub fn start_with(dir: &Path, dns: SocketAddr, options: PebbleOptions) -> Self {
        let binary = Self::binary();
        let dir = dir.join("pebble");
        let pki = dir.join("pki");
        std::fs::create_dir_all(&pki).unwrap();
        tls_ca_and_server(&pki, "IP:127.0.0.1");
        let mut pebble = Self {
            child: None,
            config: dir.join("pebble.json"),
            log: dir.join("pebble.log"),
            ca_bundle: pki.join("ca.pem"),
            dir,
            dns,
            options,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            management: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        for attempt in 1..=PEBBLE_START_ATTEMPTS {
            pebble.listen = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
            pebble.management = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
            pebble.write_config();
            match pebble.spawn(&binary) {
                Ok(child) => {
                    pebble.child = Some(child);
                    return pebble;
                }
                Err(why)
                    if attempt < PEBBLE_START_ATTEMPTS
                        && why.contains("address already in use") => {}
                Err(why) => panic!("pebble did not start: {why}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn write_config(&self) {
        let pki = self.dir.join("pki");
        let mut pebble = serde_json::json!({
            "listenAddress": self.listen.to_string(),
            "managementListenAddress": self.management.to_string(),
            "certificate": pki.join("server.pem"),
            "privateKey": pki.join("server.key"),
            // Ports the VA would connect to for http-01 and tls-alpn-01 (unused: the
            // certs role answers DNS challenges only).
            "httpPort": free_tcp_port(),
            "tlsPort": free_tcp_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "profiles": {
                "default": {
                    "description": "90 days",
                    "validityPeriod": DEFAULT_VALIDITY_SECONDS,
                },
                "shortlived": {
                    "description": "6 days",
                    "validityPeriod": SHORTLIVED_VALIDITY_SECONDS,
                },
            },
            "retryAfter": {
                "authz": self.options.retry_after_authz_seconds,
                "order": self.options.retry_after_order_seconds,
            },
        });
        if !self.options.caa_identities.is_empty() {
            pebble["caaIdentities"] = serde_json::json!(self.options.caa_identities);
        }
        let config = serde_json::json!({ "pebble": pebble });
        std::fs::write(&self.config, config.to_string()).unwrap();
    }

    /// Runs the binary on the current config and waits until both ports accept
    /// connections; on failure, kills it and returns its log.
    fn spawn(&self, binary: &Path) -> Result<Child, String> {
        // Appended: a restart keeps the earlier log for failure messages.
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(binary);
        command.arg("-config").arg(&self.config);
        command.args(["-dnsserver", &self.dns.to_string()]);
        if self.options.strict {
            command.arg("-strict");
        }
        // Only the settings below: none inherited from the caller's environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PEBBLE_") {
                command.env_remove(key);
            }
        }
        command
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        for (key, value) in &self.options.env {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let deadline = Instant::now() + PEBBLE_START_TIMEOUT;
        for addr in [self.listen, self.management] {
            while TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT).is_err() {
                let exited = child.try_wait().unwrap();
                if exited.is_some() || Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "not listening on {addr} ({exited:?}):\n{}",
                        self.log()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(child)
    }

    /// Kills Pebble (the "CA down" fault); the URLs refuse connections until
    /// [`Pebble::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Pebble again on the same ports, config and listener certificate (the
    /// `ca_bundle` stays valid). Pebble keeps nothing on disk: it comes back with a
    /// new root and intermediate, and no accounts, orders or certificates.
    pub fn restart(&mut self) {
        self.stop();
        let child = self
            .spawn(&Self::binary())
            .unwrap_or_else(|why| panic!("pebble did not restart: {why}"));
        self.child = Some(child);
    }

    /// The ACME directory URL, `https://127.0.0.1:<port>/dir`.
    pub fn directory(&self) -> String {
        format!("https://{}/dir", self.listen)
    }

    /// The management API's base URL, `https://127.0.0.1:<port>` (no trailing slash).
    pub fn management(&self) -> String {
        format!("https://{}", self.management)
    }

    /// The PEM of the CA that signed Pebble's listener certificate: what lanseal
    /// gets as the directory's `ca_bundle` (and certbot as REQUESTS_CA_BUNDLE).
    pub fn ca_bundle(&self) -> &Path {
        &self.ca_bundle
    }

    /// The directory object.
    pub fn directory_json(&self) -> Value {
        let reply = self.get(&self.directory());
        assert_eq!(reply.status, 200, "GET {}: {reply:?}", self.directory());
        reply.json()
    }

    /// The root that issued certificates chain to (management `/roots/0`), PEM.
    pub fn root_pem(&self) -> String {
        self.management_pem("/roots/0")
    }

    /// `openssl verify` of `dir`'s cert.pem against this Pebble's root, with
    /// chain.pem (the root is written to `work`).
    pub fn verify(&self, dir: &Path, work: &Path) {
        let root = work.join("pebble-root.pem");
        std::fs::write(&root, self.root_pem()).unwrap();
        let out = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&root)
            .arg("-untrusted")
            .arg(dir.join("chain.pem"))
            .arg(dir.join("cert.pem"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The intermediate that signs certificates (management `/intermediates/0`), PEM.
    pub fn intermediate_pem(&self) -> String {
        self.management_pem("/intermediates/0")
    }

    fn management_pem(&self, path: &str) -> String {
        let url = format!("{}{path}", self.management());
        let reply = self.get(&url);
        assert!(
            reply.status == 200 && reply.body.starts_with("-----BEGIN CERTIFICATE-----"),
            "GET {url}: {reply:?}"
        );
        reply.body
    }

    /// Pebble's log so far (stdout and stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<{}: {e}>", self.log.display()))
    }

    /// The RFC 9773 CertID of a certificate Pebble issued (the leaf is the first
    /// certificate of `certificate_pem`): `base64url(AKI keyIdentifier) "."
    /// base64url(serial)`.
    pub fn cert_id(&self, certificate_pem: &str) -> String {
        let (authority_key_id, serial) = self.key_id_and_serial(certificate_pem);
        format!("{}.{}", base64url(&authority_key_id), base64url(&serial))
    }

    /// GET `renewalInfo/<CertID>` for a certificate Pebble issued: the suggested
    /// window as JSON and Retry-After ([`RENEWAL_INFO_RETRY_AFTER_SECONDS`]).
    pub fn renewal_info(&self, certificate_pem: &str) -> Reply {
        let base = self.directory_json()["renewalInfo"]
            .as_str()
            .expect("the directory offers renewalInfo")
            .to_string();
        self.get(&format!("{base}/{}", self.cert_id(certificate_pem)))
    }

    /// Management `/set-renewal-info/`: from now on renewalInfo answers `response`
    /// verbatim for that certificate (even malformed JSON, to test the client).
    pub fn set_renewal_info(&self, certificate_pem: &str, response: &str) {
        let body = serde_json::json!({ "certificate": certificate_pem, "ariResponse": response });
        let url = format!("{}/set-renewal-info/", self.management());
        let reply = self.request("POST", &url, Some(&body.to_string()));
        assert_eq!(reply.status, 200, "POST {url}: {reply:?}");
    }

    /// Sets the suggested renewal window of a certificate (e.g. one that contains
    /// now, to make an ARI renewal due).
    pub fn set_renewal_window(&self, certificate_pem: &str, start: SystemTime, end: SystemTime) {
        let window = serde_json::json!({
            "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) }
        });
        self.set_renewal_info(certificate_pem, &window.to_string());
    }

    /// Management `/cert-status-by-serial/`: `Some("Valid")` or `Some("Revoked")`
    /// for a certificate Pebble issued, `None` if it does not know it.
    pub fn certificate_status(&self, certificate_pem: &str) -> Option<String> {
        let (_, serial) = self.key_id_and_serial(certificate_pem);
        let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
        let url = format!("{}/cert-status-by-serial/{hex}", self.management());
        let reply = self.get(&url);
        match reply.status {
            200 => reply.json()["Status"].as_str().map(str::to_string),
            404 => None,
            _ => panic!("GET {url}: {reply:?}"),
        }
    }

    /// GET `url` on Pebble, trusting [`Pebble::ca_bundle`].
    pub fn get(&self, url: &str) -> Reply {
        self.request("GET", url, None)
    }

    fn request(&self, method: &str, url: &str, body: Option<&str>) -> Reply {
        let mut command = Command::new("curl");
        command
            .args([
                "-sS",
                "--noproxy",
                "*",
                "-m",
                &CURL_TIMEOUT_SECONDS.to_string(),
            ])
            .arg("--cacert")
            .arg(&self.ca_bundle)
            .args(["-X", method, "-o", "-"])
            .args(["-w", "\n%{http_code}\n%header{retry-after}"]);
        if let Some(body) = body {
            command.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ]);
        }
        let out = command
            .arg(url)
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut parts = text.rsplitn(3, '\n');
        let retry_after = parts.next().unwrap_or("").trim().to_string();
        let status = parts.next().unwrap_or("").trim().parse().unwrap_or(0);
        let body = parts.next().unwrap_or("").to_string();
        assert!(
            status != 0,
            "curl {method} {url} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Reply {
            status,
            body,
            retry_after: (!retry_after.is_empty()).then_some(retry_after),
        }
    }

    /// The leaf's notBefore and notAfter (the first certificate of
    /// `certificate_pem`), read by openssl.
    pub fn validity(&self, certificate_pem: &str) -> (SystemTime, SystemTime) {
        let text = self.openssl_x509(
            certificate_pem,
            &["-startdate", "-enddate", "-dateopt", "iso_8601"],
        );
        let date = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .map(|d| parse_rfc3339(&d.replacen(' ', "T", 1)))
                .unwrap_or_else(|| panic!("no {prefix} in {text}"))
        };
        (date("notBefore="), date("notAfter="))
    }

    /// `openssl x509 -noout <args>` on the first certificate of `certificate_pem`.
    fn openssl_x509(&self, certificate_pem: &str, args: &[&str]) -> String {
        let path = self.dir.join("inspected.pem");
        std::fs::write(&path, certificate_pem).unwrap();
        let out = Command::new("openssl")
            .args(["x509", "-noout"])
            .args(args)
            .arg("-in")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "openssl x509 {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// The leaf's authority key identifier and serial number (big-endian bytes),
    /// read by openssl.
    fn key_id_and_serial(&self, certificate_pem: &str) -> (Vec<u8>, Vec<u8>) {
        let text = self.openssl_x509(
            certificate_pem,
            &["-serial", "-ext", "authorityKeyIdentifier"],
        );
        let serial = text
            .lines()
            .find_map(|l| l.strip_prefix("serial="))
            .map(hex_bytes)
            .unwrap_or_else(|| panic!("no serial in {text}"));
        let key_id = text
            .lines()
            .skip_while(|l| !l.contains("Authority Key Identifier"))
            .nth(1)
            .map(|l| hex_bytes(l.trim().trim_start_matches("keyid:")))
            .unwrap_or_else(|| panic!("no authority key identifier in {text}"));
        (key_id, serial)
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `AB:CD:...` or `ABCD...` (as openssl prints them) to bytes.
fn hex_bytes(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(char::is_ascii_hexdigit).collect();
    let digits = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

/// Base64url without padding (RFC 4648 §5), as ACME uses it.
/// The SANs of a PEM certificate, per openssl.
pub fn sans(pem_path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(pem_path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// `time` as RFC 3339 UTC with seconds (`1970-01-01T00:00:00Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// An RFC 3339 UTC time (`2026-12-01T13:00:00Z`, fractional seconds ignored, as
/// Pebble writes a suggested window).
pub fn parse_rfc3339(text: &str) -> SystemTime {
    let fields: Vec<i64> = text
        .trim()
        .strip_suffix('Z')
        .map(|t| t.split('.').next().unwrap_or(t))
        .unwrap_or_else(|| not_a_time(text))
        .split(['-', 'T', ':'])
        .map(|field| field.parse().unwrap_or_else(|_| not_a_time(text)))
        .collect();
    let [year, month, day, hour, minute, second] = fields[..] else {
        not_a_time(text)
    };
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or_else(|_| not_a_time(text)))
}

fn not_a_time<T>(text: &str) -> T {
    panic!("not an RFC 3339 UTC time: {text:?}")
}
