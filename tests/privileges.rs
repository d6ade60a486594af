//! Dropping root against the real binary: started as root with `user = "nobody"`,
//! lanseal binds ports under 1024, then runs as nobody (all four uid and gid
//! fields of /proc/<pid>/status), still answers DNS, reloads, and as a delegate
//! keeps its store (owned by nobody) writable. Refusals exit 1. Needs root: run
//! as another user each test says "skipped: needs root" and passes (CI runs as
//! root, so there they run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};

use common::*;
use serde_json::Value;

/// Ports tried for the privileged listeners: below 1024, away from the usual
/// services' (53, 80, 443, 853...); each test takes the next free one.
const PRIVILEGED_PORT_FIRST: u16 = 700;
const PRIVILEGED_PORT_LAST: u16 = 1000;

/// True when running as root; otherwise says why the test does nothing.
fn root_or_skip(test: &str) -> bool {
    let out = run("id", &["-u"]);
    let root = String::from_utf8_lossy(&out.stdout).trim() == "0";
    if !root {
        println!("{test}: skipped: needs root");
    }
    root
}

/// `id -u nobody` and `id -g nobody`.
fn nobody() -> (u32, u32) {
    let id = |flag: &str| {
        let out = run("id", &[flag, "nobody"]);
        assert!(out.status.success(), "no user nobody on this machine");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// A loopback port under 1024 free for both TCP and UDP a moment ago.
fn privileged_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(PRIVILEGED_PORT_FIRST);
    loop {
        let port = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(port <= PRIVILEGED_PORT_LAST, "no free port under 1024");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(address).is_ok() && UdpSocket::bind(address).is_ok() {
            return port;
        }
    }
}

/// The ids on a /proc/<pid>/status line (`Uid:`, `Gid:`, `Groups:`).
fn status_ids(pid: u32, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    line[key.len()..]
        .split_whitespace()
        .map(|id| id.parse().unwrap())
        .collect()
}

fn assert_runs_as_nobody(server: &Server) {
    let (uid, gid) = nobody();
    let pid = server.pid();
    // Real, effective, saved and file-system ids.
    assert_eq!(status_ids(pid, "Uid:"), [uid; 4], "pid {pid}");
    assert_eq!(status_ids(pid, "Gid:"), [gid; 4], "pid {pid}");
    assert_eq!(status_ids(pid, "Groups:"), [gid], "no group of root's left");
}

#[test]
fn dns_on_a_privileged_port_runs_as_nobody() {
    if !root_or_skip("dns_on_a_privileged_port_runs_as_nobody") {
        return;
    }
    let port = privileged_port();
    let server = Server::start_config(&format!(
        "log_level = \"debug\"\nuser = \"nobody\"\n[dns]\nlisten = [\"127.0.0.1:{port}\"]\n\
         resolv_file = \"\"\n[[zone]]\nname = \"priv.test\"\nrecords = [\"a A 10.0.0.1\"]\n"
    ));
    assert_eq!(server.addr.port(), port);
    assert_runs_as_nobody(&server);
    assert_eq!(
        dig(server.addr, &["a.priv.test", "A", "+short"]).trim(),
        "10.0.0.1"
    );
    // A reload reads the config again, now as nobody.
    server.dir.write(
        "lanseal.toml",
        &format!(
            "log_level = \"debug\"\nuser = \"nobody\"\n[dns]\nlisten = [\"127.0.0.1:{port}\"]\n\
             resolv_file = \"\"\n[[zone]]\nname = \"priv.test\"\nrecords = [\"a A 10.0.0.2\"]\n"
        ),
    );
    server.signal("HUP");
    server.wait_log("reloaded");
    assert_eq!(
        dig(server.addr, &["a.priv.test", "A", "+short"]).trim(),
        "10.0.0.2"
    );
    assert_runs_as_nobody(&server);
}

/// `curl` with `args`; (HTTP status, JSON body or Null).
fn curl(args: &[&str]) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (
        status.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn delegate_config(state_dir: &std::path::Path, dns_port: u16, api_port: u16) -> String {
    format!(
        "log_level = \"debug\"\nuser = \"nobody\"\nstate_dir = \"{}\"\n\
         [dns]\nlisten = [\"127.0.0.1:{dns_port}\"]\nresolv_file = \"\"\n\
         [delegate]\nzone = \"auth.test\"\napi_listen = \"127.0.0.1:{api_port}\"\n",
        state_dir.display()
    )
}

#[test]
fn delegate_store_belongs_to_nobody_and_updates_commit() {
    if !root_or_skip("delegate_store_belongs_to_nobody_and_updates_commit") {
        return;
    }
    let (uid, gid) = nobody();
    let state = TempDir::new();
    let state_dir = state.0.join("state");
    let (dns_port, api_port) = (privileged_port(), privileged_port());
    let config = delegate_config(&state_dir, dns_port, api_port);
    let server = Server::start_config(&config);
    server.wait_log("delegate API on ");
    assert_runs_as_nobody(&server);
    let store = state_dir.join("lanseal.db");
    for (path, mode) in [(&state_dir, 0o700), (&store, 0o600)] {
        let metadata = std::fs::metadata(path).unwrap();
        assert_eq!((metadata.uid(), metadata.gid()), (uid, gid), "{path:?}");
        assert_eq!(metadata.permissions().mode() & 0o777, mode, "{path:?}");
    }
    let api = format!("http://127.0.0.1:{api_port}");
    let (status, account) = curl(&["-X", "POST", &format!("{api}/register")]);
    assert_eq!(status, 201, "{account}");
    let field = |key: &str| account[key].as_str().unwrap().to_string();
    let value = "p".repeat(43);
    let update = |value: &str| {
        curl(&[
            "-X",
            "POST",
            "-H",
            &format!("X-Api-User: {}", field("username")),
            "-H",
            &format!("X-Api-Key: {}", field("password")),
            "--data-binary",
            &format!(
                "{{\"subdomain\": \"{}\", \"txt\": \"{value}\"}}",
                field("subdomain")
            ),
            &format!("{api}/update"),
        ])
    };
    // The commit needs a journal in the state directory: nobody must own it.
    assert_eq!(update(&value), (200, serde_json::json!({ "txt": value })));
    let txt = dig(server.addr, &["TXT", &field("fulldomain"), "+short"]);
    assert_eq!(txt.trim(), format!("\"{value}\""));
    // Restarted (as root, dropping again), the committed value is still served.
    drop(server);
    let server = Server::start_config(&config);
    server.wait_log("delegate API on ");
    let txt = dig(server.addr, &["TXT", &field("fulldomain"), "+short"]);
    assert_eq!(txt.trim(), format!("\"{value}\""));
    let second = "q".repeat(43);
    assert_eq!(update(&second).0, 200);
    assert_runs_as_nobody(&server);
}

/// `lanseal run -c <dir>/lanseal.toml` expected to refuse: its exit code (`None`
/// if it ran on, then killed) and stderr.
fn refused(dir: &TempDir, config: &str) -> (Option<i32>, String) {
    let path = dir.write("lanseal.toml", config);
    let mut child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, std::time::Duration::from_secs(20));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.and_then(|s| s.code()), stderr)
}

#[test]
fn failed_drops_refuse_to_run() {
    if !root_or_skip("failed_drops_refuse_to_run") {
        return;
    }
    let (code, stderr) = refused(
        &TempDir::new(),
        "user = \"lanseal-no-such-user\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("user `lanseal-no-such-user` does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
    // The config file inside the state directory would become nobody's.
    let dir = TempDir::new();
    let config = format!(
        "user = \"nobody\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n\
         [delegate]\nzone = \"auth.test\"\napi_listen = \"127.0.0.1:0\"\n",
        dir.0.display()
    );
    let (code, stderr) = refused(&dir, &config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("holds the config file"), "{stderr}");
    let owner = std::fs::metadata(&dir.0).unwrap().uid();
    assert_eq!(owner, 0, "nothing was given away");
}

/// Started as nobody (not root): `user = "nobody"` is already true; another
/// user is a warning and the daemon runs on.
#[test]
fn without_root_nothing_is_dropped() {
    if !root_or_skip("without_root_nothing_is_dropped") {
        return;
    }
    for (user, warned) in [("nobody", false), ("daemon", true)] {
        let dir = TempDir::new();
        let path = dir.write(
            "lanseal.toml",
            &format!("user = \"{user}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n"),
        );
        let mut child = Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN])
            .args(["run", "-c"])
            .arg(&path)
            .stderr(Stdio::piped())
            .spawn()
            .expect("setpriv (util-linux)");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut before_listening = Vec::new();
        let mut listening = false;
        for line in stderr.lines() {
            let line = line.unwrap();
            if line.contains("listening on ") {
                listening = true;
                break;
            }
            before_listening.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(listening, "user {user}: {before_listening:?}");
        let warning = before_listening
            .iter()
            .any(|l| l.starts_with("lanseal[WARN]") && l.contains("was not started as root"));
        assert_eq!(warning, warned, "user {user}: {before_listening:?}");
    }
}

/// `[dns]`'s TSIG key (router-zone transfers) in root's 0600 file: read at
/// start as root; a reload after the drop to nobody cannot read it, keeps the
/// key read at start (a warning says so) and still applies the new zone, and
/// a signed AXFR with that key still transfers it.
#[test]
fn a_reload_as_nobody_keeps_the_transfer_key_read_at_start() {
    if !root_or_skip("a_reload_as_nobody_keeps_the_transfer_key_read_at_start") {
        return;
    }
    const SECRET: &str = "bGFuc2VhbC14ZnItdGVzdC1rZXktMzItYnl0ZXMhISE=";
    let dir = TempDir::new();
    let key = dir.write("xfr.key", &format!("{SECRET}\n"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let state_dir = dir.0.join("state");
    let port = privileged_port();
    let config = |host: &str| {
        format!(
            "log_level = \"debug\"\nuser = \"nobody\"\nstate_dir = \"{}\"\n\
             [dns]\nlisten = [\"127.0.0.1:{port}\"]\nresolv_file = \"\"\n\
             tsig_key_file = \"{}\"\ntsig_key_name = \"lan-xfr\"\n\
             [[zone]]\nname = \"home.test\"\nrecords = [\"{host} A 192.168.1.10\"]\n\
             secondaries = [\"127.0.0.1:9\"]\n",
            state_dir.display(),
            key.display()
        )
    };
    let server = Server::start_config(&config("nas"));
    assert_runs_as_nobody(&server);
    server.dir.write("lanseal.toml", &config("printer"));
    server.signal("HUP");
    let (kept, _) = server.wait_log_within(
        "kept the key read from it at start",
        std::time::Duration::from_secs(10),
    );
    assert!(kept.contains("Permission denied"), "{kept}");
    server.wait_log("reloaded");
    let tsig = format!("hmac-sha256:lan-xfr:{SECRET}");
    let axfr = dig(
        server.addr,
        &["-b", "127.0.0.1", "AXFR", "home.test", "-y", &tsig],
    );
    assert!(axfr.contains("printer.home.test."), "{axfr}");
    assert!(!axfr.contains("nas.home.test."), "{axfr}");
}
