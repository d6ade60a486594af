//! The command line against the real binary: exit codes, config errors with file
//! and line, the embedded default and the reference config.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// How long a log line may take to come (a loaded 2-core machine).
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_and_usage() {
    let out = run(BIN, &["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lanseal "));
    let out = run(BIN, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown command `frobnicate`"));
    assert_eq!(run(BIN, &[]).status.code(), Some(2));
    assert_eq!(run(BIN, &["run", "-c"]).status.code(), Some(2));
}

#[test]
fn reference_and_embedded_configs_are_valid() {
    let reference = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/lanseal.toml");
    let out = run(BIN, &["check-config", "-c", reference]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(BIN, &["check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn config_errors_name_file_line_and_expectation() {
    let dir = TempDir::new();
    for (text, line, needle) in [
        (
            "[dns]\nlisten = [\"127.0.0.1:53\"]\nlisen = 1\n",
            3,
            "unknown key `lisen` in [dns]; did you mean `listen`?",
        ),
        (
            "[dns]\ncache_entry_max = 100\n",
            2,
            "unknown key `cache_entry_max` in [dns]; did you mean `cache_entries_max`?",
        ),
        (
            "[[zone]]\nname = \"a.test\"\n\n[[zone]]\nname = \"a.test.\"\n",
            5,
            "zone `a.test.` is defined twice: the first definition is at line 2",
        ),
        (
            "[dns]\nlisten = [\"127.0.0.1:70000\"]\n",
            2,
            "listen address `127.0.0.1:70000`: port 70000 is out of range (0–65535)",
        ),
        (
            "[dns]\nlisten = [\"127.0.0.1\", \"banana\"]\n",
            2,
            "listen address `banana`",
        ),
        (
            "[[zone]]\nname = \"a.test\"\nrecords = [\n  \"x A 1.2.3.4\",\n  \"x CNAME y\",\n]\n",
            5,
            "CNAME and other",
        ),
        (
            "[[zone]]\nname = \"a.test\"\nrecords = [\"x MX ten mail\"]\n",
            3,
            "MX preference `ten`",
        ),
    ] {
        let path = dir.write("bad.toml", text);
        let path = path.to_str().unwrap();
        for command in ["check-config", "run"] {
            let out = run(BIN, &[command, "-c", path]);
            assert_eq!(out.status.code(), Some(2), "{command} {text:?}");
            let err = stderr(&out);
            assert!(err.contains(&format!("{path}:{line}: ")), "{err}");
            assert!(err.contains(needle), "{err}");
            assert!(
                !err.contains("listening"),
                "nothing may start on a bad config: {err}"
            );
        }
    }
    // Invalid UTF-8 (a Latin-1 "é" in a comment) is found at its line and column.
    let path = dir.0.join("latin1.toml");
    std::fs::write(&path, b"[dns]\nthreads = 1\n# caf\xe9\n").unwrap();
    let path = path.to_str().unwrap();
    for command in ["check-config", "run"] {
        let out = run(BIN, &[command, "-c", path]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{path}:3: invalid UTF-8 at column 6 (byte 0xe9")),
            "{err}"
        );
    }
    let out = run(BIN, &["check-config", "-c", "/nonexistent/lanseal.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read the config file"));
}

/// An unknown key names itself and at most one suggestion, never the list of
/// every key of its section.
#[test]
fn unknown_key_message_is_one_short_line() {
    let dir = TempDir::new();
    let path = dir.write("bad.toml", "[dns]\nfrobnicate = 1\n");
    let out = run(BIN, &["check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(":2: unknown key `frobnicate` in [dns]"),
        "{err}"
    );
    assert!(
        !err.contains("cache_bytes_max"),
        "no list of every key: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.len() < 200, "{} bytes: {err}", err.len());
}

#[test]
fn busy_port_is_a_runtime_failure() {
    let s = Server::start("", "");
    let dir = TempDir::new();
    let path = dir.write("c.toml", &format!("[dns]\nlisten = [\"{}\"]\n", s.addr));
    // Another process holds the TCP port (UDP shares with SO_REUSEPORT only between
    // sockets of the same user; TCP with a listener never).
    let out = run(BIN, &["run", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("cannot listen on {}", s.addr)));
}

/// Log lines are `lanseal[LEVEL] message`, and a reload changes the level: debug
/// lines (an upstream that refuses) appear only after `log_level = "debug"`.
#[test]
fn log_format_and_level_changed_by_reload() {
    // A UDP port nobody listens on: the upstream exchange fails at once.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let upstream = closed.local_addr().unwrap();
    drop(closed);
    let config = |level: &str, listen: &str| {
        format!(
            "log_level = \"{level}\"\n[dns]\nlisten = [\"{listen}\"]\nresolv_file = \"\"\n\
             upstreams = [\"{upstream}\"]\nserve_stale = false\n"
        )
    };
    let s = Server::start_config(&config("info", "127.0.0.1:0"));
    let failing = common::query_message("name.example.", RecordType::A, true);
    let servfail = |s: &Server| {
        let answer = udp_query(s.addr, &failing);
        assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    };
    servfail(&s);
    s.dir
        .write("lanseal.toml", &config("debug", &s.addr.to_string()));
    s.signal("HUP");
    let before: Vec<String> = std::iter::from_fn(|| s.log.recv_timeout(START_WAIT).ok())
        .take_while(|line| !line.contains("reloaded"))
        .collect();
    assert!(
        before.iter().all(|line| line.starts_with("lanseal[")),
        "{before:?}"
    );
    assert!(
        !before
            .iter()
            .any(|line| line.starts_with("lanseal[DEBUG] ")),
        "no debug line at info level: {before:?}"
    );
    servfail(&s);
    let debug = s.wait_log("lanseal[DEBUG] ");
    assert!(debug.contains(&upstream.to_string()), "{debug}");
}

#[test]
fn sigterm_exits_cleanly() {
    let mut s = Server::start(
        "",
        "[[zone]]\nname = \"t.test\"\nrecords = [\"a A 10.0.0.1\"]\n",
    );
    assert_eq!(answers(&s.query("a.t.test.", RecordType::A)).len(), 1);
    let status = run("kill", &["-TERM", &s.pid().to_string()]);
    assert!(status.status.success());
    assert_eq!(s.wait_exit(), Some(0));
}
