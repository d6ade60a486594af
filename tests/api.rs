//! The local API against the real binary, with curl: the token, every endpoint,
//! runtime records answered by dig at once and after SIGHUP and a restart,
//! malformed and oversize bodies, `/metrics` through `promtool check metrics`,
//! and `keys` refused when off. The certificate endpoints with issued
//! certificates are in tests/certs.rs (they need Pebble).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

const ZONE: &str = "[[zone]]\nname = \"home.example.com\"\nrecords = [\"router A 192.168.1.1\"]\n";

/// A server with the zone above and the API on a free loopback port, its
/// state (store, token) in `state`.
fn start(state: &std::path::Path, extra: &str) -> Server {
    let config = format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n{ZONE}\n[api]\nlisten = \"127.0.0.1:0\"\n{extra}",
        state.display()
    );
    Server::start_config(&config)
}

fn short(server: &Server, name: &str) -> String {
    dig(server.addr, &["+short", name]).trim().to_string()
}

fn runtime_records(api: &LocalApi) -> Vec<Value> {
    let answer = api.call("GET", "/api/v1/dns/records", None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let records = answer.json()["records"].as_array().unwrap().clone();
    records
        .into_iter()
        .filter(|r| r["source"] == "runtime")
        .collect()
}

#[test]
fn token_is_required_and_a_refused_request_changes_nothing() {
    let state = TempDir::new();
    let server = start(&state.0, "");
    let api = server.local_api();
    let token_file = state.0.join("api.token");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the token file is 0600");
    let add = r#"{"zone": "home.example.com", "record": "nas A 192.168.1.10"}"#;
    let wrong = format!("{}x", api.token);
    for token in [None, Some("nope"), Some(wrong.as_str()), Some("")] {
        for (method, path, body) in [
            ("POST", "/api/v1/dns/records", Some(add)),
            ("GET", "/api/v1/status", None),
            ("GET", "/api/v1/dns/stats", None),
            ("GET", "/api/v1/dns/records", None),
            ("DELETE", "/api/v1/dns/records/1", None),
            ("POST", "/api/v1/dns/cache/flush", Some("{}")),
            ("GET", "/api/v1/certs", None),
            ("GET", "/api/v1/keys/router", None),
            ("GET", "/metrics", None),
        ] {
            let answer = api.call_as(token, method, path, body);
            assert_eq!(answer.status, 401, "{method} {path} with {token:?}");
            assert_eq!(answer.json()["error"], "unauthorized");
            assert!(answer.headers.contains("www-authenticate: bearer"));
        }
    }
    assert_eq!(
        short(&server, "nas.home.example.com"),
        "",
        "nothing was added"
    );
    assert!(runtime_records(&api).is_empty());
    // The page itself is public (it holds no data) and sends a strict CSP.
    let page = api.call_as(None, "GET", "/", None);
    assert_eq!(page.status, 200);
    assert!(page.headers.contains("content-type: text/html"));
    let csp = page
        .headers
        .lines()
        .find(|l| l.starts_with("content-security-policy:"));
    let csp = csp.expect("a CSP header");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
}

#[test]
fn errors_are_json_with_the_right_status() {
    let state = TempDir::new();
    let server = start(&state.0, "");
    let api = server.local_api();
    let answer = api.call("GET", "/api/v1/nothing", None);
    assert_eq!(
        (answer.status, answer.json()["error"].as_str()),
        (404, Some("not_found"))
    );
    assert!(
        answer.json()["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/nothing")
    );
    let answer = api.call("PUT", "/api/v1/dns/records", Some("{}"));
    assert_eq!(answer.status, 405);
    assert!(
        answer.headers.contains("allow: get, head, post"),
        "{}",
        answer.headers
    );
    let answer = api.call("GET", "/api/v1/dns/records/1", None);
    assert_eq!(answer.status, 405);
    assert!(
        answer.headers.contains("allow: delete"),
        "{}",
        answer.headers
    );
    // Malformed JSON, the wrong shape, a record that does not parse, a zone
    // that does not exist, an oversize body: refused, nothing stored.
    for (body, status, code, detail) in [
        ("{\"zone\": ", 400, "bad_json", "not JSON"),
        ("[1, 2]", 400, "bad_json", "JSON object"),
        (
            "{\"zone\": \"home.example.com\"}",
            400,
            "invalid",
            "`record`",
        ),
        (
            "{\"zone\": \"home.example.com\", \"record\": \"nas A 192.168.1.999\"}",
            400,
            "invalid",
            "192.168.1.999",
        ),
        (
            "{\"zone\": \"other.example\", \"record\": \"nas A 192.168.1.10\"}",
            400,
            "invalid",
            "other.example",
        ),
        (
            "{\"zone\": \"home.example.com\", \"record\": \"a A 192.168.1.1\\nb A 192.168.1.2\"}",
            400,
            "invalid",
            "one record line",
        ),
    ] {
        let answer = api.call("POST", "/api/v1/dns/records", Some(body));
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        let json = answer.json();
        assert_eq!(json["error"], code, "{body}");
        let text = json["detail"].as_str().unwrap();
        assert!(text.contains(detail), "{body}: {text}");
    }
    let huge = format!(
        "{{\"zone\": \"home.example.com\", \"record\": \"nas TXT \\\"{}\\\"\"}}",
        "x".repeat(20_000)
    );
    let answer = api.call("POST", "/api/v1/dns/records", Some(&huge));
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.json()["error"], "request_too_large");
    assert!(
        answer.json()["detail"]
            .as_str()
            .unwrap()
            .contains("16384 bytes")
    );
    assert!(runtime_records(&api).is_empty(), "nothing was stored");
    assert_eq!(short(&server, "nas.home.example.com"), "");
    let answer = api.call("DELETE", "/api/v1/dns/records/99", None);
    assert_eq!(answer.status, 404);
    let answer = api.call("DELETE", "/api/v1/dns/records/x", None);
    assert_eq!(answer.status, 404);
    // Roles that are off say so.
    for path in ["/api/v1/delegate", "/api/v1/certs/router/setup"] {
        let answer = api.call("GET", path, None);
        assert!(
            matches!(answer.status, 404 | 409),
            "{path}: {}",
            answer.body
        );
    }
    let answer = api.call("GET", "/api/v1/delegate", None);
    assert_eq!(answer.json()["error"], "role_off");
    let answer = api.call("POST", "/api/v1/dns/cache/flush", None);
    assert_eq!(
        (answer.status, answer.json()["error"].as_str()),
        (409, Some("no_cache"))
    );
    let answer = api.call("GET", "/api/v1/certs", None);
    assert_eq!(answer.json()["certs"], serde_json::json!([]));
}

#[test]
fn runtime_records_are_served_at_once_and_survive_sighup_and_restart() {
    let state = TempDir::new();
    let server = start(&state.0, "");
    let api = server.local_api();
    let answer = api.call(
        "POST",
        "/api/v1/dns/records",
        Some(r#"{"zone": "home.example.com", "record": "nas 300 A 192.168.1.10"}"#),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let added = answer.json();
    assert_eq!(added["zone"], "home.example.com");
    assert_eq!(added["record"], "nas 300 A 192.168.1.10");
    let id = added["id"].as_str().unwrap().to_string();
    assert_eq!(short(&server, "nas.home.example.com"), "192.168.1.10");
    let second = api.call(
        "POST",
        "/api/v1/dns/records",
        Some(r#"{"zone": "home.example.com", "record": "printer A 192.168.1.20"}"#),
    );
    assert_eq!(second.status, 201);
    let second_id = second.json()["id"].as_str().unwrap().to_string();
    // The list: runtime records with ids, config records read-only beside them.
    let all = api.call("GET", "/api/v1/dns/records", None).json();
    let config = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == "config")
        .unwrap()
        .clone();
    assert_eq!(config["record"], "router A 192.168.1.1");
    assert_eq!(all["zones"], serde_json::json!(["home.example.com"]));
    assert!(config.get("id").is_none());
    assert_eq!(runtime_records(&api).len(), 2);
    // SIGHUP with a changed config file keeps them.
    let path = server.dir.0.join("lanseal.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace("router A 192.168.1.1", "router A 192.168.1.2");
    std::fs::write(&path, text).unwrap();
    server.signal("HUP");
    server.wait_log("reloaded");
    assert_eq!(short(&server, "router.home.example.com"), "192.168.1.2");
    assert_eq!(short(&server, "nas.home.example.com"), "192.168.1.10");
    // Deleted: gone at once.
    let answer = api.call("DELETE", &format!("/api/v1/dns/records/{second_id}"), None);
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(short(&server, "printer.home.example.com"), "");
    let answer = api.call("DELETE", &format!("/api/v1/dns/records/{second_id}"), None);
    assert_eq!(answer.status, 404, "deleted once");
    drop(server);
    // A new process with the same state directory serves what was kept.
    let server = start(&state.0, "");
    let api = server.local_api();
    assert_eq!(short(&server, "nas.home.example.com"), "192.168.1.10");
    assert_eq!(short(&server, "printer.home.example.com"), "");
    let kept = runtime_records(&api);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["id"], id.as_str(), "the same id after a restart");
    let answer = api.call("DELETE", &format!("/api/v1/dns/records/{id}"), None);
    assert_eq!(answer.status, 204);
    drop(server);
    let server = start(&state.0, "");
    assert_eq!(short(&server, "nas.home.example.com"), "");
}

/// `promtool check metrics` on `text`: its complaints, empty when clean.
fn promtool(text: &str) -> String {
    let tool = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/promtool/usr/bin/promtool"
    );
    let output = run_with_stdin(Command::new(tool).args(["check", "metrics"]), text);
    let complaints = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        complaints.trim().to_string()
    } else {
        format!("promtool failed: {complaints}")
    }
}

#[test]
fn status_stats_cache_flush_and_metrics() {
    // An upstream that is a second lanseal, authoritative for up.test.
    let upstream = Server::start(
        "",
        "[[zone]]\nname = \"up.test\"\nmode = \"authoritative\"\nrecords = [\"www A 192.0.2.80\", \"ftp A 192.0.2.21\"]\n",
    );
    let state = TempDir::new();
    let config = format!(
        "state_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\nupstreams = [\"{}\"]\nrebind_protection = false\n{ZONE}\n[api]\nlisten = \"127.0.0.1:0\"\n",
        state.0.display(),
        upstream.addr
    );
    let server = Server::start_config(&config);
    let api = server.local_api();
    let status = api.call("GET", "/api/v1/status", None);
    assert_eq!(status.status, 200);
    let status = status.json();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["roles"], serde_json::json!(["dns", "api"]));
    assert!(
        status["config"]["source"]
            .as_str()
            .unwrap()
            .ends_with("lanseal.toml")
    );
    assert!(status["config"]["loaded"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(status["clock"]["plausible"], true);
    assert!(status["uptime_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(short(&server, "www.up.test"), "192.0.2.80");
    assert_eq!(short(&server, "www.up.test"), "192.0.2.80");
    assert_eq!(short(&server, "ftp.up.test"), "192.0.2.21");
    assert_eq!(short(&server, "router.home.example.com"), "192.168.1.1");
    let stats = api.call("GET", "/api/v1/dns/stats", None).json();
    assert_eq!(stats["queries"]["received"], 4, "{stats}");
    assert_eq!(stats["queries"]["forwarded"], 2, "{stats}");
    assert_eq!(stats["cache"]["entries"], 2, "{stats}");
    assert_eq!(
        stats["queries"]["answered"], 4,
        "forwarded answers count too: {stats}"
    );
    assert_eq!(stats["cache"]["misses"], 2, "{stats}");
    assert!(stats["cache"]["hits"].as_u64().unwrap() >= 1, "{stats}");
    let upstreams = stats["upstreams"].as_array().unwrap();
    assert_eq!(upstreams[0]["address"], upstream.addr.to_string());
    assert_eq!(upstreams[0]["answers"], 2);
    assert!(stats["limits"]["dns_rate_limit"].is_number(), "{stats}");
    assert!(
        stats["limits"]["api_http_body_bytes"].is_number(),
        "{stats}"
    );
    // Flush one name, then everything.
    let answer = api.call(
        "POST",
        "/api/v1/dns/cache/flush",
        Some(r#"{"name": "www.up.test"}"#),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["flushed"], 1);
    let stats = api.call("GET", "/api/v1/dns/stats", None).json();
    assert_eq!(stats["cache"]["entries"], 1, "{stats}");
    let answer = api.call("POST", "/api/v1/dns/cache/flush", None);
    assert_eq!(answer.json()["flushed"], 1, "{}", answer.body);
    let answer = api.call("POST", "/api/v1/dns/cache/flush", Some(r#"{"name": 5}"#));
    assert_eq!(answer.status, 400);
    let answer = api.call(
        "POST",
        "/api/v1/dns/cache/flush",
        Some(r#"{"name": "a..b"}"#),
    );
    assert_eq!(answer.status, 400, "{}", answer.body);
    // The exposition: clean for promtool, in the lanseal_ namespace.
    let metrics = api.call("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .headers
            .contains("content-type: text/plain; version=0.0.4")
    );
    assert_eq!(promtool(&metrics.body), "", "{}", metrics.body);
    for line in metrics.body.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("lanseal_"), "{line}");
    }
    assert!(
        metrics.body.contains("lanseal_dns_queries_total 4\n"),
        "{}",
        metrics.body
    );
    assert!(metrics.body.contains("lanseal_dns_cache_entries 0\n"));
    let upstream_rtt = format!(
        "lanseal_dns_upstream_rtt_seconds{{upstream=\"{}\"}}",
        upstream.addr
    );
    assert!(metrics.body.contains(&upstream_rtt), "{}", metrics.body);
    // promtool does find problems (so the check above can fail).
    assert_ne!(promtool("# TYPE lanseal_x counter\nlanseal_x 1\n"), "");
}

#[test]
fn metrics_public_and_keys_off() {
    let state = TempDir::new();
    let server = start(&state.0, "metrics_public = true\n");
    let api = server.local_api();
    let metrics = api.call_as(None, "GET", "/metrics", None);
    assert_eq!(metrics.status, 200, "no token needed with metrics_public");
    assert_eq!(promtool(&metrics.body), "");
    // Everything else still needs it.
    assert_eq!(api.call_as(None, "GET", "/api/v1/status", None).status, 401);
    let answer = api.call("GET", "/api/v1/keys/router", None);
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(answer.json()["error"], "keys_endpoint_off");
}

#[test]
fn a_network_address_needs_a_token_file() {
    let dir = TempDir::new();
    let path = dir.write(
        "lanseal.toml",
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n[api]\nlisten = \"0.0.0.0:0\"\n",
    );
    let out = run(BIN, &["run", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lanseal.toml:5:") && err.contains("token_file"),
        "{err}"
    );
}

#[test]
fn delegate_report() {
    let state = TempDir::new();
    let config = format!(
        "state_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n[delegate]\nzone = \"auth.test\"\nns_addresses = [\"127.0.0.1\"]\napi_listen = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
        state.0.display()
    );
    let server = Server::start_config(&config);
    let delegate = server.delegate_api();
    let api = server.local_api();
    let register = run(
        "curl",
        &["-sS", "-X", "POST", &format!("{delegate}/register")],
    );
    let account: Value = serde_json::from_slice(&register.stdout).unwrap();
    let update = run(
        "curl",
        &[
            "-sS",
            "-H",
            &format!("X-Api-User: {}", account["username"].as_str().unwrap()),
            "-H",
            &format!("X-Api-Key: {}", account["password"].as_str().unwrap()),
            "-d",
            &format!(
                "{{\"subdomain\": \"{}\", \"txt\": \"{}\"}}",
                account["subdomain"].as_str().unwrap(),
                "a".repeat(43)
            ),
            &format!("{delegate}/update"),
        ],
    );
    assert!(String::from_utf8_lossy(&update.stdout).contains("txt"));
    let report = api.call("GET", "/api/v1/delegate", None);
    assert_eq!(report.status, 200, "{}", report.body);
    let report = report.json();
    assert_eq!(report["registration"], "open");
    assert_eq!(report["accounts"], 1);
    assert_eq!(report["registrations"], 1);
    assert_eq!(report["updates"], 1);
    assert_eq!(report["updates_last_hour"], 1);
    assert_eq!(report["limits"]["updates_per_client"], 0);
    let metrics = api.call("GET", "/metrics", None).body;
    assert_eq!(promtool(&metrics), "");
    assert!(
        metrics.contains("lanseal_delegate_accounts 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("lanseal_delegate_updates_total 1\n"));
    assert!(metrics.contains("lanseal_http_connections{server=\"delegate\"}"));
    let status = api.call("GET", "/api/v1/status", None).json();
    assert_eq!(
        status["roles"],
        serde_json::json!(["dns", "api", "delegate"])
    );
}

#[test]
fn a_stored_record_that_no_longer_fits_is_kept_unserved_and_can_be_deleted() {
    let state = TempDir::new();
    let server = start(&state.0, "");
    let api = server.local_api();
    let body = r#"{"zone": "home.example.com", "record": "nas A 192.168.1.10"}"#;
    let id = api.call("POST", "/api/v1/dns/records", Some(body)).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(server);
    // The zone is gone from the config: the daemon starts without serving it
    // (it names the record in the log, before it listens).
    let config = format!(
        "state_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
        state.0.display()
    );
    let server = Server::start_config(&config);
    let api = server.local_api();
    assert!(runtime_records(&api).is_empty());
    // Still in the store (an id never stored is 404), and deleted from there.
    assert_eq!(
        api.call("DELETE", "/api/v1/dns/records/999", None).status,
        404
    );
    let answer = api.call("DELETE", &format!("/api/v1/dns/records/{id}"), None);
    assert_eq!(answer.status, 204, "{}", answer.body);
    drop(server);
    // Gone for good: with the zone back, nothing is served.
    let server = start(&state.0, "");
    assert_eq!(short(&server, "nas.home.example.com"), "");
}

#[test]
fn the_api_command_asks_the_running_daemon() {
    let state = TempDir::new();
    let port = free_tcp_port();
    let config = format!(
        "state_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n{ZONE}\n[api]\nlisten = \"127.0.0.1:{port}\"\n",
        state.0.display()
    );
    let file = state.write("lanseal.toml", &config);
    let file = file.to_str().unwrap();
    let lanseal = |args: &[&str], stdin: &str| {
        let out = run_with_stdin(Command::new(BIN).args(args).args(["-c", file]), stdin);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    // No daemon yet: a clear failure.
    let (code, _, err) = lanseal(&["api", "GET", "status"], "");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("token") || err.contains("no lanseal daemon"),
        "{err}"
    );
    let server = Server::start_config(&config);
    let (code, out, err) = lanseal(&["api", "GET", "status"], "");
    assert_eq!(code, Some(0), "{err}");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["roles"], serde_json::json!(["dns", "api"]));
    let body = r#"{"zone": "home.example.com", "record": "nas A 192.168.1.10"}"#;
    let (code, out, err) = lanseal(&["api", "post", "dns/records", body], "");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\"source\":\"runtime\""), "{out}");
    assert_eq!(short(&server, "nas.home.example.com"), "192.168.1.10");
    // The body from standard input; an error answer exits 1 with its JSON.
    let (code, out, _) = lanseal(&["api", "POST", "dns/records", "-"], "{\"zone\": \"x\"}");
    assert_eq!(code, Some(1));
    assert!(out.contains("\"error\":\"invalid\""), "{out}");
    let (code, out, _) = lanseal(&["api", "GET", "/metrics"], "");
    assert_eq!(code, Some(0));
    assert!(out.contains("lanseal_dns_queries_total"), "{out}");
    let (code, _, err) = lanseal(&["api", "GET", "status", "{not json"], "");
    assert_eq!(code, Some(1));
    assert!(err.contains("not JSON"), "{err}");
    let (code, _, err) = lanseal(&["api", "GET"], "");
    assert_eq!(code, Some(2), "{err}");
}
