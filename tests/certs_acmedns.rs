//! The certs role's delegate client (`lanseal::certs::acmedns` on
//! `lanseal::certs::http`) against the real lanseal delegate, all on loopback:
//! register, two updates served together over DNS (checked with dig), a wrong key
//! (401) and a bad TXT (400); the same over HTTPS under a path prefix with the
//! test CA as the extra root (and refused without it); and the HTTP client
//! against `openssl s_server`, a TLS stack other than rustls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use lanseal::certs::acmedns::{self, AcmeDnsError};
use lanseal::certs::http::Client;

const DNS_TIMEOUT: Duration = Duration::from_secs(10);
/// Two key-authorization digests, as an apex + wildcard order sends them.
const TXT_APEX: &str = "LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM";
const TXT_WILDCARD: &str = "tJ1f3MJOOYbDl6W-8Ugm2b0Rn0-bsFlcAH1mIYIqG9E";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A delegate for `auth.test` with its API on a free loopback port; `extra` goes
/// into `[delegate]`. Returns the server and the API base from its log.
fn start_delegate(state: &TempDir, extra: &str) -> (Server, String) {
    let config = format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\n\
         resolv_file = \"\"\n[delegate]\nzone = \"auth.test\"\napi_listen = \"127.0.0.1:0\"\n{extra}\n",
        state.0.display()
    );
    let server = Server::start_config(&config);
    let base = server.delegate_api();
    (server, base)
}

/// The TXT values served for `name`, sorted (dig +short, quotes removed).
fn txt_values(server: &Server, name: &str) -> Vec<String> {
    let out = dig(server.addr, &[name, "TXT", "+short"]);
    let mut values: Vec<String> = out
        .lines()
        .map(|line| line.trim().trim_matches('"').to_string())
        .filter(|line| !line.is_empty())
        .collect();
    values.sort();
    values
}

#[test]
fn register_and_two_updates_are_served_over_dns() {
    let state = TempDir::new();
    let (server, base) = start_delegate(&state, "");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let client = Client::new(None).unwrap();
    runtime().block_on(async {
        let credentials = acmedns::register(&client, &base).await.unwrap();
        assert_eq!(credentials.server_url, base);
        assert_eq!(
            credentials.fulldomain,
            format!("{}.auth.test", credentials.subdomain)
        );
        assert_eq!(credentials.password.len(), 40);

        acmedns::update(&client, &credentials, TXT_APEX)
            .await
            .unwrap();
        acmedns::update(&client, &credentials, TXT_WILDCARD)
            .await
            .unwrap();
        let mut expected = vec![TXT_APEX.to_string(), TXT_WILDCARD.to_string()];
        expected.sort();
        let mut served = Vec::new();
        let both = eventually(DNS_TIMEOUT, || {
            served = txt_values(&server, &credentials.fulldomain);
            served == expected
        });
        assert!(both, "served {served:?}, expected {expected:?}");
        let setup = acmedns::setup_record("*.router.home.test", &credentials.fulldomain);
        assert_eq!(
            setup,
            format!(
                "_acme-challenge.router.home.test. CNAME {}.",
                credentials.fulldomain
            )
        );

        // A wrong key: 401 from the delegate, nothing changed.
        let wrong = acmedns::Credentials {
            password: "x".repeat(40),
            ..credentials.clone()
        };
        match acmedns::update(&client, &wrong, TXT_APEX).await {
            Err(AcmeDnsError::Status { url, status, body }) => {
                assert_eq!((url, status), (format!("{base}/update"), 401));
                assert!(body.contains("forbidden"), "{body}");
            }
            other => panic!("wrong key: {other:?}"),
        }
        // A TXT value that is not a 43-character digest: 400 bad_txt.
        match acmedns::update(&client, &credentials, "not a digest").await {
            Err(AcmeDnsError::Status { status, body, .. }) => {
                assert_eq!(status, 400);
                assert!(body.contains("bad_txt"), "{body}");
            }
            other => panic!("bad txt: {other:?}"),
        }
        assert_eq!(txt_values(&server, &credentials.fulldomain), expected);

        // A base with a trailing slash registers too, and keeps it as given.
        let slashed = format!("{base}/");
        let second = acmedns::register(&client, &slashed).await.unwrap();
        assert_eq!(second.server_url, slashed);
        assert_ne!(second.subdomain, credentials.subdomain);
        acmedns::update(&client, &second, TXT_APEX).await.unwrap();
        let served_second = eventually(DNS_TIMEOUT, || {
            txt_values(&server, &second.fulldomain) == [TXT_APEX]
        });
        assert!(served_second);

        // Registration with allowfrom: updates from 127.0.0.1 allowed.
        let networks = ["127.0.0.0/8".to_string()];
        let limited = acmedns::register_allowing(&client, &base, &networks)
            .await
            .unwrap();
        acmedns::update(&client, &limited, TXT_WILDCARD)
            .await
            .unwrap();
        let outside = ["192.0.2.0/24".to_string()];
        let elsewhere = acmedns::register_allowing(&client, &base, &outside)
            .await
            .unwrap();
        let refused = acmedns::update(&client, &elsewhere, TXT_WILDCARD).await;
        assert!(
            matches!(refused, Err(AcmeDnsError::Status { status: 401, .. })),
            "{refused:?}"
        );
    });
}

#[test]
fn https_under_a_prefix_with_the_extra_root() {
    let state = TempDir::new();
    let pki = TempDir::new();
    tls_ca_and_server(&pki.0, "IP:127.0.0.1");
    let extra = format!(
        "api_prefix = \"/api/v1/acme-dns-compat\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        pki.0.join("server.pem").display(),
        pki.0.join("server.key").display()
    );
    let (server, base) = start_delegate(&state, &extra);
    assert!(
        base.starts_with("https://127.0.0.1:") && base.ends_with("/api/v1/acme-dns-compat"),
        "{base}"
    );
    runtime().block_on(async {
        let client = Client::new(Some(&pki.0.join("ca.pem"))).unwrap();
        let credentials = acmedns::register(&client, &base).await.unwrap();
        assert_eq!(credentials.server_url, base);
        acmedns::update(&client, &credentials, TXT_APEX)
            .await
            .unwrap();
        let served = eventually(DNS_TIMEOUT, || {
            txt_values(&server, &credentials.fulldomain) == [TXT_APEX]
        });
        assert!(served);

        // The bundled roots alone do not know the test CA.
        let untrusted = Client::new(None).unwrap();
        match acmedns::register(&untrusted, &base).await {
            Err(AcmeDnsError::Http(message)) => assert_eq!(
                message,
                format!(
                    "POST {base}/register: TLS handshake: invalid peer certificate: UnknownIssuer"
                )
            ),
            other => panic!("untrusted: {other:?}"),
        }
    });
}

/// `openssl s_server -www` on a free loopback port; killed on drop.
struct OpensslServer(Child);

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn https_get_from_openssl_s_server() {
    let pki = TempDir::new();
    tls_ca_and_server(&pki.0, "IP:127.0.0.1");
    let port = free_tcp_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(pki.0.join("server.pem"))
        .arg("-key")
        .arg(pki.0.join("server.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `openssl` ({e}): install it"));
    let _server = OpensslServer(child);
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&address, CLIENT_TIMEOUT).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    runtime().block_on(async {
        let client = Client::new(Some(&pki.0.join("ca.pem"))).unwrap();
        let response = client
            .get(&format!("https://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        // -www answers HTTP/1.0 without a length: the body runs to the close.
        let body = String::from_utf8_lossy(&response.body);
        assert!(body.contains("s_server"), "{body}");
    });
}

#[test]
fn lego_storage_written_for_a_real_registration_reads_back() {
    let state = TempDir::new();
    let (_server, base) = start_delegate(&state, "");
    let client = Client::new(None).unwrap();
    let credentials = runtime()
        .block_on(acmedns::register(&client, &base))
        .unwrap();
    let path = state.0.join("acme-dns.json");
    let entries = vec![("*.router.home.test".to_string(), credentials.clone())];
    acmedns::write_lego(&path, &entries).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let expected = format!(
        "{{\"router.home.test\":{{\"fulldomain\":\"{}\",\"subdomain\":\"{}\",\"username\":\"{}\",\
         \"password\":\"{}\",\"server_url\":\"{}\"}}}}",
        credentials.fulldomain,
        credentials.subdomain,
        credentials.username,
        credentials.password,
        credentials.server_url
    );
    assert_eq!(text, expected);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let read = acmedns::read_lego(Path::new(&path)).unwrap();
    assert_eq!(read, vec![("router.home.test".to_string(), credentials)]);
}

/// A running Pebble (the test CA) serving `server.pem` from `pki`; killed on drop.
struct Pebble {
    child: Child,
    directory: String,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pebble {
    fn start(work: &Path, pki: &Path) -> Self {
        let listen = format!("127.0.0.1:{}", free_tcp_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": listen,
            "managementListenAddress": format!("127.0.0.1:{}", free_tcp_port()),
            "certificate": pki.join("server.pem"),
            "privateKey": pki.join("server.key"),
            "httpPort": free_tcp_port(),
            "tlsPort": free_tcp_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_path = work.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = std::fs::File::create(work.join("pebble.log")).unwrap();
        // Debian unstable's pebble 2.10 from tests/ca/fetch-pebble.sh, never one on PATH
        // (a clean machine has none).
        let child = Command::new(common::pebble::Pebble::binary())
            .arg("-config")
            .arg(&config_path)
            // Never asked here: the test stops before any validation.
            .args(["-dnsserver", "127.0.0.1:9"])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `pebble` ({e}): tests/run.sh installs it"));
        let pebble = Self {
            child,
            directory: format!("https://{listen}/dir"),
        };
        let address: SocketAddr = listen.parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&address, CLIENT_TIMEOUT).is_err() {
            assert!(
                Instant::now() < deadline,
                "pebble did not listen on {listen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        pebble
    }
}

/// instant-acme on this client as its transport: directory, nonces (HEAD),
/// account creation and an order with its dns-01 challenge, from a real CA.
#[test]
fn instant_acme_talks_to_pebble_through_the_client() {
    use instant_acme::{Account, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus};
    let work = TempDir::new();
    let pki = work.0.join("pki");
    std::fs::create_dir(&pki).unwrap();
    tls_ca_and_server(&pki, "IP:127.0.0.1");
    let pebble = Pebble::start(&work.0, &pki);
    let client = Client::new(Some(&pki.join("ca.pem"))).unwrap();
    runtime().block_on(async {
        let new_account = NewAccount {
            contact: &[],
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, _credentials) = Account::builder_with_http(Box::new(client))
            .create(&new_account, pebble.directory.clone(), None)
            .await
            .unwrap_or_else(|e| panic!("account at {}: {e}", pebble.directory));
        assert!(
            account.id().starts_with("https://127.0.0.1:"),
            "{}",
            account.id()
        );
        let identifiers = [Identifier::Dns("router.home.test".into())];
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .unwrap();
        assert_eq!(order.state().status, OrderStatus::Pending);
        let mut authorizations = order.authorizations();
        let mut authorization = authorizations.next().await.unwrap().unwrap();
        let challenge = authorization.challenge(ChallengeType::Dns01).unwrap();
        assert_eq!(challenge.key_authorization().dns_value().len(), 43);
    });
}
