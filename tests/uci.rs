//! `lanseal config from-uci FILE` against the real binary: the UCI files under
//! `tests/uci/` (the OpenWrt package's example among them) become TOML that
//! `check-config` accepts and that means what the UCI said; broken ones exit 2
//! with `FILE:LINE:` and what was expected, and nothing on stdout; a converted
//! file serves its zone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hickory_proto::rr::RecordType;

fn input(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/uci")
        .join(name)
}

fn from_uci(path: &Path) -> std::process::Output {
    run(BIN, &["config", "from-uci", path.to_str().unwrap()])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Converts `path`, and checks the TOML with `check-config -c`.
fn converted_and_checked(path: &Path) -> String {
    let out = from_uci(path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    let dir = TempDir::new();
    let written = dir.write("lanseal.toml", &toml);
    let check = run(BIN, &["check-config", "-c", written.to_str().unwrap()]);
    assert!(check.status.success(), "{}\n{toml}", text(&check.stderr));
    toml
}

#[test]
fn every_section_and_kind_of_value() {
    let toml = converted_and_checked(&input("full.config"));
    let ours: toml::Table = toml::from_str(&toml).unwrap();
    let expected = std::fs::read_to_string(input("full.toml")).unwrap();
    let expected: toml::Table = toml::from_str(&expected).unwrap();
    assert_eq!(ours, expected, "{toml}");
}

/// The example the OpenWrt package installs as `/etc/config/lanseal` (a copy in
/// `tests/uci/`, and the package's own file when the tree has it).
#[test]
fn the_openwrt_example_is_accepted() {
    let mut files = vec![input("openwrt-example.config")];
    let package =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("openwrt/lanseal/files/lanseal.config");
    if package.exists() {
        files.push(package);
    }
    for file in files {
        let toml = converted_and_checked(&file);
        let table: toml::Table = toml::from_str(&toml).unwrap();
        assert!(table.contains_key("dns"), "{}: {toml}", file.display());
        assert!(table.contains_key("api"), "{}: {toml}", file.display());
        // Its disabled sections are left out.
        assert!(
            !table.contains_key("delegate"),
            "{}: {toml}",
            file.display()
        );
    }
}

#[test]
fn broken_files_exit_2_with_file_line_and_expectation() {
    for (name, line, needle) in [
        (
            "broken-keyword.config",
            3,
            "unknown keyword `opton`: expected config, option, list or package",
        ),
        (
            "broken-option.config",
            7,
            "section 'zone' ('home'): unknown option 'ip_name'; did you mean 'ip_names'?",
        ),
        (
            "broken-quote.config",
            7,
            "unterminated ' quote: expected a closing ' before the end of the file; the \
             quote opened at line 6 closes only at line 7: is a closing quote missing on line 6?",
        ),
        // Found by checking the TOML, told at the UCI line.
        (
            "broken-record.config",
            9,
            "section 'zone' ('home'): option 'records': zone `home.example.com`: A record: \
             `192.168.1.300` is not an IPv4 address",
        ),
    ] {
        let path = input(name);
        let out = from_uci(&path);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: {}", text(&out.stdout));
        let expected = format!("lanseal: config error: {}:{line}: {needle}", path.display());
        assert_eq!(stderr.trim_end(), expected, "{name}");
    }
}

#[test]
fn usage_and_unreadable_files() {
    let out = run(BIN, &["config", "from-uci"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`config from-uci` takes one file"));
    let out = run(BIN, &["config", "to-uci", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown command `config to-uci`"));
    let dir = TempDir::new();
    let missing = dir.0.join("lanseal");
    let out = from_uci(&missing);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("{}: cannot read the UCI file", missing.display())),
        "{}",
        text(&out.stderr)
    );
    let latin1 = dir.write("latin1", "config dns\n\toption lease_domain 'caf\u{e9}'\n");
    std::fs::write(&latin1, b"config dns\n\toption lease_domain 'caf\xe9'\n").unwrap();
    let out = from_uci(&latin1);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("{}:2: invalid UTF-8", latin1.display())),
        "{}",
        text(&out.stderr)
    );
}

/// The whole way: a UCI file, its TOML, and lanseal serving that TOML's zone.
#[test]
fn a_converted_file_serves_its_zone() {
    let dir = TempDir::new();
    let uci = format!(
        "config lanseal 'main'\n\
         \toption state_dir '{}'\n\
         \toption log_level 'debug'\n\
         config dns\n\
         \tlist listen '127.0.0.1:0'\n\
         \toption resolv_file ''\n\
         config zone 'home'\n\
         \toption name 'home.test'\n\
         \toption ip_names 'yes'\n\
         \tlist records 'router A 192.168.1.1'\n\
         \tlist records \"note TXT \\\"it's here\\\"\"\n",
        dir.0.display()
    );
    let path = dir.write("lanseal", &uci);
    let toml = converted_and_checked(&path);
    let server = Server::start_config(&toml);
    let answers = answers(&server.query("router.home.test.", RecordType::A));
    assert_eq!(answers, ["router.home.test. 300 A 192.168.1.1"], "{toml}");
    let answers = answers_of(&server, "192-168-1-7.home.test.", RecordType::A);
    assert_eq!(
        answers,
        ["192-168-1-7.home.test. 300 A 192.168.1.7"],
        "{toml}"
    );
    let answers = answers_of(&server, "note.home.test.", RecordType::TXT);
    assert_eq!(answers, ["note.home.test. 300 TXT it's here"], "{toml}");
}

fn answers_of(server: &Server, name: &str, rtype: RecordType) -> Vec<String> {
    answers(&server.query(name, rtype))
}
