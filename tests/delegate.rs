//! The delegate role against the real binary: the acme-dns API driven with curl,
//! the authoritative zone queried with dig and hickory's codec. Every case of
//! ../shared/ACME-DNS-COMPAT.md has a test here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use serde_json::Value;

const PREFIX: &str = "/api/v1/acme-dns-compat";

struct Delegate {
    server: Server,
    api: String,
}

impl Delegate {
    fn start(state: &TempDir, dns_extra: &str, delegate_extra: &str) -> Self {
        let config = format!(
            "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n{dns_extra}\n\
             [delegate]\nzone = \"auth.test\"\nns = [\"ns1.auth.test.\"]\nns_addresses = [\"192.0.2.53\", \"2001:db8::53\"]\n\
             api_listen = \"127.0.0.1:0\"\napi_prefix = \"{PREFIX}\"\n{delegate_extra}\n",
            state.0.display()
        );
        let server = Server::start_config(&config);
        let api = server.delegate_api();
        Self { server, api }
    }

    /// `curl` a request: (status, parsed JSON body or Null).
    /// `curl` a request: (status, parsed JSON body or Null).
    fn call(&self, method: &str, path: &str, headers: &[&str], body: Option<&str>) -> (u16, Value) {
        curl(&self.api, method, path, headers, body)
    }

    fn register(&self, body: Option<&str>) -> (u16, Value) {
        self.call(
            "POST",
            &format!("{PREFIX}/register"),
            &["Content-Type: application/json"],
            body,
        )
    }

    fn update(&self, account: &Value, subdomain: &str, txt: &str) -> (u16, Value) {
        update(&self.api, account, subdomain, txt)
    }

    fn dns(&self) -> SocketAddr {
        self.server.addr
    }
}

/// `curl` a request to the API at `api`: (status, parsed JSON body or Null).
fn curl(api: &str, method: &str, path: &str, headers: &[&str], body: Option<&str>) -> (u16, Value) {
    let base = api.trim_end_matches(PREFIX);
    let url = format!("{base}{path}");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, &url]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    let file = body.filter(|b| b.len() > 4096).map(|b| {
        let dir = TempDir::new();
        let path = dir.write("body", b);
        (dir, path)
    });
    if let Some((_, path)) = &file {
        cmd.args(["--data-binary", &format!("@{}", path.display())]);
    } else if let Some(body) = body {
        cmd.args(["--data-binary", body]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status.parse().unwrap(), json)
}

fn update(api: &str, account: &Value, subdomain: &str, txt: &str) -> (u16, Value) {
    let user = format!("X-Api-User: {}", account["username"].as_str().unwrap());
    let key = format!("X-Api-Key: {}", account["password"].as_str().unwrap());
    let body = format!("{{\"subdomain\": \"{subdomain}\", \"txt\": \"{txt}\"}}");
    curl(
        api,
        "POST",
        &format!("{PREFIX}/update"),
        &[&user, &key],
        Some(&body),
    )
}

fn txt(c: char) -> String {
    std::iter::repeat_n(c, 43).collect()
}

fn error(code: &str) -> Value {
    serde_json::json!({ "error": code })
}

#[test]
fn register_update_and_serve_over_dns() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "");
    assert_eq!(d.call("GET", &format!("{PREFIX}/health"), &[], None).0, 200);
    assert_eq!(d.call("GET", "/health", &[], None).0, 200);
    let (status, account) = d.register(None);
    assert_eq!(status, 201, "{account}");
    for key in [
        "username",
        "password",
        "fulldomain",
        "subdomain",
        "allowfrom",
        "server_url",
    ] {
        assert!(!account[key].is_null(), "{key} missing: {account}");
    }
    assert_eq!(account["allowfrom"], serde_json::json!([]));
    assert_eq!(account["password"].as_str().unwrap().len(), 40);
    let subdomain = account["subdomain"].as_str().unwrap().to_string();
    let fulldomain = account["fulldomain"].as_str().unwrap().to_string();
    assert_eq!(fulldomain, format!("{subdomain}.auth.test"));
    // Registered, no TXT yet: NODATA.
    let m = udp_query(d.dns(), &query_message(&fulldomain, RecordType::TXT, true));
    assert_eq!(
        (m.metadata.response_code, m.answers.len()),
        (ResponseCode::NoError, 0)
    );
    assert!(m.metadata.authoritative);
    // Two updates are both served; a third replaces the oldest.
    for c in ['a', 'b'] {
        let (status, body) = d.update(&account, &subdomain, &txt(c));
        assert_eq!((status, body), (200, serde_json::json!({ "txt": txt(c) })));
    }
    let out = dig(d.dns(), &["TXT", &fulldomain, "+short"]);
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    assert_eq!(
        got,
        [format!("\"{}\"", txt('a')), format!("\"{}\"", txt('b'))]
    );
    d.update(&account, &subdomain, &txt('c'));
    let m = udp_query(
        d.dns(),
        &query_message(&fulldomain.to_uppercase(), RecordType::TXT, true),
    );
    let mut got = answers(&m);
    got.sort_unstable();
    assert_eq!(got.len(), 2);
    assert!(
        got[0].contains(" 1 TXT ") && got[0].contains(&txt('b')),
        "{got:?}"
    );
    assert!(got[1].contains(&txt('c')), "{got:?}");
    // Credentials and values survive a restart.
    drop(d);
    let d = Delegate::start(&state, "", "");
    let out = dig(d.dns(), &["TXT", &fulldomain, "+short"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(d.update(&account, &subdomain, &txt('d')).0, 200);
}

#[test]
fn register_validates_allowfrom_and_json() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "");
    let (status, account) = d.register(Some(r#"{"allowfrom": ["[::1]/64", "192.0.2.0/24"]}"#));
    assert_eq!(status, 201);
    assert_eq!(
        account["allowfrom"],
        serde_json::json!(["::1/64", "192.0.2.0/24"])
    );
    let (status, account) = d.register(Some(r#"{"AllowFrom": ["10.0.0.0/8"]}"#));
    assert_eq!(
        (status, &account["allowfrom"]),
        (201, &serde_json::json!(["10.0.0.0/8"]))
    );
    for bad in [
        "invalid",
        "1.2.3.4/33",
        "1.2/24",
        "1.2.3.4",
        "12345:db8:a0b:12f0::1/32",
        "1234::123::123::1/32",
    ] {
        let (status, body) = d.register(Some(&format!("{{\"allowfrom\": [\"{bad}\"]}}")));
        assert_eq!(
            (status, body),
            (400, error("invalid_allowfrom_cidr")),
            "{bad}"
        );
    }
    for broken in [
        r#"{"allowfrom": ["#,
        r#"{"allowfrom": "1.2.3.4/32"}"#,
        r#""just a string""#,
        "[1, 2]",
        r#"{"allowfrom": [1]}"#,
    ] {
        let (status, body) = d.register(Some(broken));
        assert_eq!(
            (status, body),
            (400, error("malformed_json_payload")),
            "{broken}"
        );
    }
    // No JSON content type: the body is read all the same.
    let (status, account) = d.call(
        "POST",
        &format!("{PREFIX}/register"),
        &["Content-Type: text/plain"],
        Some(r#"{"allowfrom": ["192.0.2.0/24"]}"#),
    );
    assert_eq!(
        (status, &account["allowfrom"]),
        (201, &serde_json::json!(["192.0.2.0/24"]))
    );
    // `//register` (a base URL with a trailing slash) works; unknown paths are 404 JSON.
    assert_eq!(
        d.call("POST", &format!("{PREFIX}//register"), &[], None).0,
        201
    );
    assert_eq!(d.call("GET", "/nope", &[], None), (404, error("not_found")));
    // Oversize bodies: 413, nothing read further.
    let huge = format!("{{\"allowfrom\": [\"{}\"]}}", "1".repeat(200_000));
    assert_eq!(d.register(Some(&huge)).0, 413);
}

#[test]
fn update_rejects_everything_but_the_right_key() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "");
    let (_, account) = d.register(None);
    let (_, other) = d.register(None);
    let subdomain = account["subdomain"].as_str().unwrap();
    let forbidden = (401, error("forbidden"));
    assert_eq!(d.update(&account, "example.com", &txt('a')), forbidden);
    assert_eq!(
        d.update(&account, other["subdomain"].as_str().unwrap(), &txt('a')),
        forbidden
    );
    for bad_txt in ["idk m8 bbl lmao", &"a".repeat(42), &"a".repeat(44)] {
        assert_eq!(
            d.update(&account, subdomain, bad_txt),
            (400, error("bad_txt")),
            "{bad_txt}"
        );
    }
    let numeric = format!("{{\"subdomain\": \"{subdomain}\", \"txt\": 1234}}");
    let user = format!("X-Api-User: {}", account["username"].as_str().unwrap());
    let key = format!("X-Api-Key: {}", account["password"].as_str().unwrap());
    assert_eq!(
        d.call("POST", "/update", &[&user, &key], Some(&numeric)),
        (400, error("bad_txt"))
    );
    // Credentials: none, malformed, unknown, wrong.
    let body = format!(
        "{{\"subdomain\": \"{subdomain}\", \"txt\": \"{}\"}}",
        txt('a')
    );
    assert_eq!(d.call("POST", "/update", &[], Some(&body)), forbidden);
    let key40 = format!("X-Api-Key: {}", "k".repeat(40));
    for (user, key) in [
        ("X-Api-User: not-a-uuid", key.as_str()),
        (user.as_str(), "X-Api-Key: short"),
        (user.as_str(), &format!("X-Api-Key: {}", "k".repeat(39))),
        (user.as_str(), &format!("X-Api-Key: {}", "k".repeat(41))),
        (
            "X-Api-User: 6f2a1b3c-1d2e-4f50-8a6b-7c8d9e0f1a2b",
            key.as_str(),
        ),
        (user.as_str(), key40.as_str()),
    ] {
        assert_eq!(
            d.call("POST", "/update", &[user, key], Some(&body)),
            forbidden,
            "{user} {key}"
        );
    }
    // Lower-case JSON keys or older lego's: both work.
    let legacy = format!(
        "{{\"SubDomain\": \"{subdomain}\", \"Txt\": \"{}\"}}",
        txt('z')
    );
    assert_eq!(
        d.call("POST", "/update", &[&user, &key], Some(&legacy)).0,
        200
    );
}

#[test]
fn allowfrom_and_trusted_proxies() {
    let state = TempDir::new();
    // Without trusted proxies the socket peer (127.0.0.1) counts, whatever the header says.
    let d = Delegate::start(&state, "", "");
    let (_, account) = d.register(Some(r#"{"allowfrom": ["192.0.2.0/24"]}"#));
    let subdomain = account["subdomain"].as_str().unwrap().to_string();
    let user = format!("X-Api-User: {}", account["username"].as_str().unwrap());
    let key = format!("X-Api-Key: {}", account["password"].as_str().unwrap());
    let body = format!(
        "{{\"subdomain\": \"{subdomain}\", \"txt\": \"{}\"}}",
        txt('a')
    );
    let post = |d: &Delegate, xff: &str| {
        let header = format!("X-Forwarded-For: {xff}");
        d.call("POST", "/update", &[&user, &key, &header], Some(&body))
            .0
    };
    assert_eq!(post(&d, "192.0.2.7"), 401);
    drop(d);
    let d = Delegate::start(
        &state,
        "",
        "trusted_proxies = [\"127.0.0.1/32\", \"10.9.0.0/16\"]",
    );
    assert_eq!(post(&d, "192.0.2.7"), 200);
    // The right-most address that is not a trusted proxy is the client.
    assert_eq!(post(&d, "192.0.2.7, 10.9.1.1"), 200);
    assert_eq!(post(&d, "192.0.2.7,198.51.100.1"), 401);
    assert_eq!(post(&d, "192.0.2.7 , 2001:db8::1"), 401);
    assert_eq!(post(&d, "2001:db8::1, 192.0.2.9"), 200);
    // Every X-Forwarded-For line counts, in order: a proxy such as HAProxy
    // (`option forwardfor`) appends its own line after the client's, and that
    // line, not the client's, names the client.
    let lines = |d: &Delegate, lines: &[&str]| {
        let headers: Vec<String> = lines
            .iter()
            .map(|l| format!("X-Forwarded-For: {l}"))
            .collect();
        let mut all = vec![user.as_str(), key.as_str()];
        all.extend(headers.iter().map(String::as_str));
        d.call("POST", "/update", &all, Some(&body)).0
    };
    assert_eq!(
        lines(&d, &["192.0.2.7", "198.51.100.1"]),
        401,
        "forged first line"
    );
    assert_eq!(lines(&d, &["198.51.100.1", "192.0.2.7"]), 200);
    assert_eq!(lines(&d, &["192.0.2.7", "198.51.100.1, 10.9.1.1"]), 401);
    // A hop that is not a bare address (a proxy writing `ip:port`) ends the walk:
    // the client is then the proxy, never an address left of it.
    assert_eq!(post(&d, "192.0.2.7, 198.51.100.1:4711"), 401);
    assert_eq!(post(&d, "192.0.2.7:4711"), 401);
    assert_eq!(lines(&d, &["192.0.2.7", "garbage"]), 401);
}

/// A connection from `source` (any 127.0.0.0/8 address is this host) to `api`.
fn connect_from(source: &str, api: &str) -> std::net::TcpStream {
    use socket2::{Domain, Socket, Type};
    let authority = api.split("://").nth(1).unwrap().split('/').next().unwrap();
    let address: SocketAddr = authority.parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let source: std::net::IpAddr = source.parse().unwrap();
    socket.bind(&SocketAddr::new(source, 0).into()).unwrap();
    socket.connect(&address.into()).unwrap();
    std::net::TcpStream::from(socket)
}

/// Whether the server closed `stream` (a short look, no long wait).
fn closed(mut stream: &std::net::TcpStream) -> bool {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    match stream.read(&mut [0u8]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Idle connections cannot hold the API: one host gets at most 8 (its own
/// oldest idle one makes room for the next), and when many hosts fill all 64
/// slots, the oldest idle connection makes room for a client that talks.
#[test]
fn idle_connections_cannot_hold_the_api() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "");
    let health = format!("{PREFIX}/health");
    // One host opens 20: 12 of them are closed again.
    let hog: Vec<_> = (0..20).map(|_| connect_from("127.0.0.2", &d.api)).collect();
    assert!(eventually(Duration::from_secs(20), || hog
        .iter()
        .filter(|s| closed(s))
        .count()
        == 12));
    d.server
        .wait_log("HTTP idle connection closed to make room");
    // Nine more hosts, eight each: with the hog's 8, 80 asked for 64 slots.
    let _crowd: Vec<_> = (3..12)
        .flat_map(|host| (0..8).map(move |_| host))
        .map(|host| connect_from(&format!("127.0.0.{host}"), &d.api))
        .collect();
    assert_eq!(d.call("GET", &health, &[], None).0, 200);
    assert_eq!(d.register(None).0, 201);
}

/// POSTs `body` to `path` on a kept-alive connection: (status, body).
fn post_on(
    stream: &mut std::net::TcpStream,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        request.push_str(&format!("{header}\r\n"));
    }
    request.push_str(&format!("\r\n{body}"));
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.parse().unwrap());
    let mut answer = vec![0u8; length];
    stream.read_exact(&mut answer).unwrap();
    (
        status,
        serde_json::from_slice(&answer).unwrap_or(Value::Null),
    )
}

/// Each client has a budget of updates checked before anything is hashed: past
/// `UPDATE_BURST` (50) at once, 429 `too_many_requests`, while another client
/// is still answered. Malformed keys cost no bcrypt, so this is quick.
#[test]
fn updates_over_the_client_limit_get_429() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "");
    let headers = [
        "X-Api-User: 6f2a1b3c-1d2e-4f50-8a6b-7c8d9e0f1a2b",
        "X-Api-Key: short",
    ];
    let body = format!("{{\"subdomain\": \"x\", \"txt\": \"{}\"}}", txt('a'));
    let mut stream = connect_from("127.0.0.1", &d.api);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let statuses: Vec<(u16, Value)> = (0..60)
        .map(|_| post_on(&mut stream, "/update", &headers, &body))
        .collect();
    assert!(
        statuses[..50].iter().all(|(s, _)| *s == 401),
        "{statuses:?}"
    );
    // One token comes back every 2 s: 60 quick requests meet a 429.
    let refused = statuses.iter().find(|(s, _)| *s == 429);
    assert_eq!(
        refused,
        Some(&(429, error("too_many_requests"))),
        "{statuses:?}"
    );
    d.server
        .wait_log("delegate: update refused (429), client over its limit");
    let mut other = connect_from("127.0.0.2", &d.api);
    other
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(
        post_on(&mut other, "/update", &headers, &body),
        (401, error("forbidden"))
    );
}

/// Many concurrent updates of one subdomain: DNS serves exactly the two values
/// the store holds (what a restart loads), not an older pair published last.
#[test]
fn concurrent_updates_of_one_name_serve_what_the_store_holds() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "");
    let (_, account) = d.register(None);
    let subdomain = account["subdomain"].as_str().unwrap().to_string();
    let fulldomain = account["fulldomain"].as_str().unwrap().to_string();
    // 4 clients at once, 4 updates each (within one client's burst of 50). With
    // one HTTP worker (2 cores) they are serialised anyway; the deterministic
    // check of the ordering is api::tests::updates_publish_in_commit_order.
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (api, account, subdomain) = (&d.api, &account, &subdomain);
            scope.spawn(move || {
                for n in 0..4 {
                    let value = format!("{thread}{n}{}", "v".repeat(41));
                    assert_eq!(update(api, account, subdomain, &value).0, 200);
                }
            });
        }
    });
    let served = |d: &Delegate| {
        let out = dig(d.dns(), &["TXT", &fulldomain, "+short"]);
        let mut values: Vec<String> = out
            .lines()
            .map(|l| l.trim_matches('"').to_string())
            .collect();
        values.sort_unstable();
        values
    };
    let before = served(&d);
    assert_eq!(before.len(), 2, "{before:?}");
    drop(d);
    let d = Delegate::start(&state, "", "");
    assert_eq!(
        served(&d),
        before,
        "DNS served other values than the store holds"
    );
}

#[test]
fn registration_modes() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "registration = \"closed\"");
    assert_eq!(d.register(None), (403, error("registration_closed")));
    drop(d);
    let token_file = state.0.join("admin.token");
    let extra = format!(
        "registration = \"token\"\nadmin_token_file = \"{}\"",
        token_file.display()
    );
    let d = Delegate::start(&state, "", &extra);
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(d.register(None), (401, error("forbidden")));
    let bad = d.call("POST", "/register", &["Authorization: Bearer nope"], None);
    assert_eq!(bad, (401, error("forbidden")));
    let good = format!("Authorization: Bearer {token}");
    assert_eq!(d.call("POST", "/register", &[&good], None).0, 201);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_zone_is_authoritative_public_and_never_recursive() {
    let state = TempDir::new();
    // The ACL admits 127.0.0.1 only; the delegate zone is answered to anyone.
    let d = Delegate::start(&state, "acl = [\"127.0.0.1/32\"]", "");
    let (_, account) = d.register(None);
    let fulldomain = account["fulldomain"].as_str().unwrap().to_string();
    let from = |source: &str, name: &str, rtype: RecordType| -> Message {
        let packet = query_message(name, rtype, true).to_vec().unwrap();
        let bytes = udp_from(source, d.dns(), &packet, Duration::from_secs(2)).expect("an answer");
        Message::from_vec(&bytes).unwrap()
    };
    for source in ["127.0.0.1", "127.0.0.2"] {
        let m = from(source, "auth.test", RecordType::SOA);
        assert!(m.metadata.authoritative, "{source}");
        assert_eq!(m.answers[0].record_type(), RecordType::SOA);
        // Names echo the question's case (compression points at it).
        let m = from(source, "Auth.Test", RecordType::NS);
        assert_eq!(answers(&m), ["Auth.Test. 3600 NS ns1.Auth.Test."]);
        let m = from(source, "ns1.auth.test", RecordType::A);
        assert_eq!(answers(&m), ["ns1.auth.test. 3600 A 192.0.2.53"]);
        let m = from(source, "ns1.auth.test", RecordType::AAAA);
        assert_eq!(answers(&m), ["ns1.auth.test. 3600 AAAA 2001:db8::53"]);
        let m = from(source, "nothing.auth.test", RecordType::TXT);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        let soa = &m.authorities[0];
        assert_eq!(soa.record_type(), RecordType::SOA);
        assert!(soa.ttl <= 300);
        // Outside the zone, and look-alikes: refused, never recursion for the world.
        for name in ["example.com", "special-auth.test", "authtest"] {
            let m = from(source, name, RecordType::A);
            assert_eq!(
                m.metadata.response_code,
                ResponseCode::Refused,
                "{source} {name}"
            );
            assert!(!m.metadata.recursion_available || source == "127.0.0.1");
        }
    }
    // Anti-spam at the apex and for every account's name.
    let out = dig(d.dns(), &["auth.test", "TXT", "+short"]);
    assert_eq!(out.trim(), "\"v=spf1 -all\"");
    let out = dig(d.dns(), &["_dmarc.auth.test", "TXT", "+short"]);
    assert_eq!(out.trim(), "\"v=DMARC1;p=reject;sp=reject;adkim=s;aspf=s\"");
    let out = dig(d.dns(), &["mail._domainkey.auth.test", "TXT", "+short"]);
    assert_eq!(out.trim(), "\"v=DKIM1; p=\"");
    let out = dig(d.dns(), &["auth.test", "MX", "+short"]);
    assert_eq!(out.trim(), "0 .");
    let out = dig(d.dns(), &[&fulldomain, "MX", "+short"]);
    assert_eq!(out.trim(), "0 .");
    let out = dig(d.dns(), &[&format!("_dmarc.{fulldomain}"), "TXT", "+short"]);
    assert_eq!(out.trim(), "\"v=DMARC1;p=reject;sp=reject;adkim=s;aspf=s\"");
    let out = dig(
        d.dns(),
        &[&format!("s1._domainkey.{fulldomain}"), "TXT", "+short"],
    );
    assert_eq!(out.trim(), "\"v=DKIM1; p=\"");
    // EDNS: version 1 gets BADVERS.
    let out = kdig(d.dns(), &["+edns=1", "auth.test", "SOA"]);
    assert!(out.contains("BADVERS"), "{out}");
}

/// `kill -9` in the middle of a burst of updates: every acknowledged update is on
/// disk (the store commits with `synchronous` safe against power loss before the
/// API answers), so after a restart DNS serves the last acknowledged value.
#[test]
fn kill_9_loses_no_acknowledged_update() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "");
    let (_, account) = d.register(None);
    let subdomain = account["subdomain"].as_str().unwrap().to_string();
    let fulldomain = account["fulldomain"].as_str().unwrap().to_string();
    let values: Vec<String> = (0..40)
        .map(|i| format!("{i:02}{}", "x".repeat(41)))
        .collect();
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let burst = {
        let (api, account, subdomain, values) = (
            d.api.clone(),
            account.clone(),
            subdomain.clone(),
            values.clone(),
        );
        let acknowledged = acknowledged.clone();
        std::thread::spawn(move || {
            for value in values {
                if update(&api, &account, &subdomain, &value).0 != 200 {
                    break;
                }
                acknowledged.lock().unwrap().push(value);
            }
        })
    };
    // Let some updates through, then pull the plug.
    assert!(eventually(Duration::from_secs(30), || acknowledged
        .lock()
        .unwrap()
        .len()
        >= 5));
    d.server.signal("KILL");
    burst.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    drop(d);
    let d = Delegate::start(&state, "", "");
    let out = dig(d.dns(), &["TXT", &fulldomain, "+short"]);
    let served: Vec<String> = out
        .lines()
        .map(|l| l.trim_matches('"').to_string())
        .collect();
    let last = acknowledged.last().unwrap();
    assert!(
        served.contains(last),
        "last acknowledged {last} not in {served:?}"
    );
    // Nothing served that was never sent; at most one unacknowledged (in flight).
    assert!(served.iter().all(|v| values.contains(v)), "{served:?}");
}

/// A store that cannot write (its rollback journal cannot be created: a directory
/// stands where the file must go, which stops root too) answers 500 `db_error`
/// and keeps nothing half-written; once it can write again, all is well.
#[test]
fn storage_failure_is_db_error_and_writes_nothing() {
    let state = TempDir::new();
    let d = Delegate::start(&state, "", "");
    let (status, account) = d.register(None);
    assert_eq!(status, 201);
    let subdomain = account["subdomain"].as_str().unwrap().to_string();
    let blocker = state.0.join("lanseal.db-journal");
    std::fs::create_dir(&blocker).unwrap();
    assert_eq!(d.register(None), (500, error("db_error")));
    assert_eq!(
        d.update(&account, &subdomain, &txt('a')),
        (500, error("db_error"))
    );
    let fulldomain = account["fulldomain"].as_str().unwrap();
    assert_eq!(dig(d.dns(), &["TXT", fulldomain, "+short"]).trim(), "");
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(d.register(None).0, 201);
    assert_eq!(d.update(&account, &subdomain, &txt('b')).0, 200);
    drop(d);
    // Two accounts, not three: the failed registration left no row behind.
    let config = format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n\
         [delegate]\nzone = \"auth.test\"\napi_listen = \"127.0.0.1:0\"\n",
        state.0.display()
    );
    let mut child = std::process::Command::new(BIN)
        .args(["run", "-c"])
        .arg(state.write("again.toml", &config))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let found = loop {
        line.clear();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() == 0 {
            break false;
        }
        if line.contains("delegate: zone auth.test with") {
            break line.contains("with 2 account(s)");
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "{line}");
}

/// With `tls_cert` and `tls_key` the API is HTTPS only.
#[test]
fn the_api_speaks_https_when_given_a_certificate() {
    let state = TempDir::new();
    let certs = TempDir::new();
    tls_ca_and_server(&certs.0, "IP:127.0.0.1");
    let extra = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        certs.0.join("server.pem").display(),
        certs.0.join("server.key").display()
    );
    let d = Delegate::start(&state, "", &extra);
    assert!(d.api.starts_with("https://"), "{}", d.api);
    let ca = certs.0.join("ca.pem");
    let health = format!("{}/health", d.api);
    let out = run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            ca.to_str().unwrap(),
            &health,
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let register = format!("{}/register", d.api);
    let out = run(
        "curl",
        &[
            "-s",
            "-X",
            "POST",
            "--cacert",
            ca.to_str().unwrap(),
            &register,
        ],
    );
    let account: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        account["server_url"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{account}"
    );
    // Plain HTTP to the HTTPS port gets nothing useful.
    let plain = health.replacen("https://", "http://", 1);
    let out = run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "3",
            &plain,
        ],
    );
    assert_ne!(String::from_utf8_lossy(&out.stdout), "200");
}
