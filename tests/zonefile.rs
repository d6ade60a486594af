//! A zone from a master file (`file = "…"` in `[[zone]]`, RFC 1035 §5) against
//! the real binary: served and asked with dig, read again on SIGHUP, and a broken
//! file refused at start (exit 2) and on reload with the file's name and line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;

/// How long a reload may take to show (a loaded 2-core machine).
const RELOAD_WAIT: Duration = Duration::from_secs(20);

const HOME_ZONE: &str = "\
; home.test from a master file
$TTL 1h
@   IN  SOA ns hostmaster (
        2024010101 ; serial
        1h 10m 1w  ; refresh, retry, expire
        300 )      ; minimum
    IN  NS  ns
ns          A     192.168.1.1
nas 600 IN  A     192.168.1.10
            AAAA  fd00::10
www         CNAME nas
@           TXT   ( \"v=spf1\"
                    \"-all\" )
$ORIGIN lab.home.test.
printer     A     192.168.1.20
$INCLUDE lab/hosts.zone iot
after       A     192.168.1.21
";

const LAB_HOSTS: &str = "\
$TTL 60
cam  A 192.168.1.30 ; cam.iot.lab.home.test
";

/// The answer section of `dig +noall +answer`, one record per line, with single
/// spaces.
fn answer(server: &Server, name: &str, rtype: &str) -> Vec<String> {
    dig(server.addr, &["+noall", "+answer", name, rtype])
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn zone_config(path: &std::path::Path) -> String {
    format!(
        "[[zone]]\nname = \"home.test\"\nrecords = [\"cfg A 192.168.1.2\"]\nfile = \"{}\"\ninclude = true\n",
        path.display()
    )
}

#[test]
fn a_zone_from_a_master_file_answers_dig() {
    let files = TempDir::new();
    let path = files.write("home.zone", HOME_ZONE);
    std::fs::create_dir_all(files.0.join("lab")).unwrap();
    files.write("lab/hosts.zone", LAB_HOSTS);
    let server = Server::start("", &zone_config(&path));
    for (name, rtype, expected) in [
        (
            "nas.home.test",
            "A",
            &["nas.home.test. 600 IN A 192.168.1.10"][..],
        ),
        // A blank owner is the previous one; no TTL given: $TTL.
        (
            "nas.home.test",
            "AAAA",
            &["nas.home.test. 3600 IN AAAA fd00::10"],
        ),
        (
            "www.home.test",
            "A",
            &[
                "www.home.test. 3600 IN CNAME nas.home.test.",
                "nas.home.test. 600 IN A 192.168.1.10",
            ],
        ),
        // Parentheses across lines, with comments inside.
        (
            "home.test",
            "TXT",
            &["home.test. 3600 IN TXT \"v=spf1\" \"-all\""],
        ),
        (
            "home.test",
            "SOA",
            &[
                "home.test. 3600 IN SOA ns.home.test. hostmaster.home.test. 2024010101 3600 600 604800 300",
            ],
        ),
        ("home.test", "NS", &["home.test. 3600 IN NS ns.home.test."]),
        // $ORIGIN.
        (
            "printer.lab.home.test",
            "A",
            &["printer.lab.home.test. 3600 IN A 192.168.1.20"],
        ),
        // $INCLUDE with an origin relative to the $ORIGIN, a $TTL of its own.
        (
            "cam.iot.lab.home.test",
            "A",
            &["cam.iot.lab.home.test. 60 IN A 192.168.1.30"],
        ),
        // The including file's $ORIGIN and $TTL again after the $INCLUDE.
        (
            "after.lab.home.test",
            "A",
            &["after.lab.home.test. 3600 IN A 192.168.1.21"],
        ),
        // The config's records beside the file's.
        (
            "cfg.home.test",
            "A",
            &["cfg.home.test. 300 IN A 192.168.1.2"],
        ),
    ] {
        assert_eq!(answer(&server, name, rtype), expected, "{name} {rtype}");
    }
    let out = dig(server.addr, &["nothing.home.test", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    // The reverse name of an address from the file.
    assert_eq!(
        dig(server.addr, &["+short", "-x", "192.168.1.30"]).trim(),
        "cam.iot.lab.home.test."
    );
}

#[test]
fn sighup_reads_the_file_again_and_a_broken_one_changes_nothing() {
    let files = TempDir::new();
    let path = files.write("home.zone", "$TTL 60\nnas A 192.168.1.10\n");
    let server = Server::start("", &zone_config(&path));
    assert_eq!(
        answer(&server, "nas.home.test", "A"),
        ["nas.home.test. 60 IN A 192.168.1.10"]
    );
    files.write(
        "home.zone",
        "$TTL 60\nnas A 192.168.1.11\nnew A 192.168.1.12\n",
    );
    server.signal("HUP");
    server.wait_log("reloaded");
    let reloaded = eventually(RELOAD_WAIT, || {
        answer(&server, "new.home.test", "A") == ["new.home.test. 60 IN A 192.168.1.12"]
    });
    assert!(reloaded, "the new file is not served");
    assert_eq!(
        answer(&server, "nas.home.test", "A"),
        ["nas.home.test. 60 IN A 192.168.1.11"]
    );
    files.write(
        "home.zone",
        "$TTL 60\nnas A 192.168.1.13\n\nbad A 192.168.1.300\n",
    );
    server.signal("HUP");
    let line = server.wait_log("reload rejected");
    let expected = format!("{}:4: zone `home.test`: ", path.display());
    assert!(line.contains(&expected), "{line}");
    assert!(line.contains("not an IPv4 address"), "{line}");
    // Still the zones of the last good load.
    assert_eq!(
        answer(&server, "nas.home.test", "A"),
        ["nas.home.test. 60 IN A 192.168.1.11"]
    );
    assert_eq!(
        answer(&server, "new.home.test", "A"),
        ["new.home.test. 60 IN A 192.168.1.12"]
    );
}

#[test]
fn a_broken_zone_file_is_a_config_error_at_its_line() {
    let files = TempDir::new();
    std::fs::create_dir_all(files.0.join("lab")).unwrap();
    let included = files.write("lab/bad.zone", "ok A 192.168.1.1\n\nx CH TXT \"chaos\"\n");
    for (text, include, file, line, needle) in [
        (
            "$TTL 1h\n@ SOA ns hm ( 1 2 3 4\n 5\n\nnas A 192.168.1.10\n",
            true,
            None,
            2,
            "a `(` is not closed by the end of the file",
        ),
        (
            "ok A 192.168.1.1\nweb.example.org. A 192.168.1.2\n",
            true,
            None,
            2,
            "`web.example.org.` is outside zone `home.test`",
        ),
        (
            "ok A 192.168.1.1\n$INCLUDE lab/bad.zone\n",
            false,
            None,
            2,
            "$INCLUDE is off for this zone",
        ),
        (
            "ok A 192.168.1.1\n$INCLUDE lab/bad.zone\n",
            true,
            Some(&included),
            3,
            "class `CH` is not served",
        ),
        (
            "ok A 192.168.1.1\n$GENERATE 1-9 h$ A 192.168.1.$\n",
            true,
            None,
            2,
            "unknown directive `$GENERATE`",
        ),
    ] {
        let path = files.write("home.zone", text);
        let config = format!(
            "[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n[[zone]]\nname = \"home.test\"\nfile = \"{}\"\ninclude = {include}\n",
            path.display()
        );
        let config_path = files.write("lanseal.toml", &config);
        let at = file.unwrap_or(&path);
        let expected = format!("{}:{line}: zone `home.test`: ", at.display());
        for command in ["check-config", "run"] {
            let out = run(BIN, &[command, "-c", config_path.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {text:?}: {err}");
            assert!(err.contains(&expected), "{command}: {err}");
            assert!(err.contains(needle), "{command}: {err}");
            assert!(!err.contains("listening"), "{command}: {err}");
        }
    }
}
