//! `[[blocklist]]` against the real binary, with dig: each answer mode, allow
//! entries, local data winning over a list, CNAME cloaking (a second lanseal as
//! the upstream hides listed names behind CNAMEs), a list file replaced while
//! running (and removed: the old list stays), a SIGHUP that changes the
//! answer, and the counters in the local API, the metrics and SIGUSR1's log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Server, TempDir, dig, eventually};

/// Long enough for a loaded 2-core machine to notice a file change and reload.
const RELOAD_DEADLINE: Duration = Duration::from_secs(60);

/// dig's answer and authority sections and its status, white space collapsed:
/// ("NXDOMAIN", ["name. 60 IN SOA …"]).
fn ask(server: &Server, name: &str, rtype: &str) -> (String, Vec<String>) {
    let out = dig(
        server.addr,
        &[name, rtype, "+noall", "+comments", "+answer", "+authority"],
    );
    let status = out
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no status in dig's output: {out}"))
        .to_string();
    let records = out
        .lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (status, records)
}

/// The SOA a blocked `entry` answers with.
fn soa(entry: &str) -> String {
    format!("{entry}. 60 IN SOA {entry}. nobody.invalid. 1 3600 1200 604800 60")
}

/// An upstream lanseal for names outside the lists: every name under
/// `example` it knows answers 192.0.2.1.
fn upstream() -> Server {
    Server::start(
        "",
        "[[zone]]\nname = \"example\"\nrecords = [\"*.ads A 192.0.2.1\", \"ads A 192.0.2.1\", \
         \"*.tracker A 192.0.2.1\", \"site A 192.0.2.1\"]\n",
    )
}

fn blocklist(name: &str, file: &std::path::Path, extra: &str) -> String {
    format!(
        "[[blocklist]]\nname = \"{name}\"\nfiles = [\"{}\"]\n{extra}\n",
        file.display()
    )
}

#[test]
fn each_answer_mode() {
    let dir = TempDir::new();
    let nx = dir.write("nx", "0.0.0.0 ads.nx.example\n");
    let nodata = dir.write("nodata", "||ads.nodata.example^\n");
    let null = dir.write("null", "ads.null.example\n");
    let body = [
        blocklist("nx", &nx, ""),
        blocklist("nodata", &nodata, "answer = \"nodata\""),
        blocklist("null", &null, "answer = \"null\""),
    ]
    .concat();
    let server = Server::start("", &body);
    for name in [
        "ads.nx.example",
        "deep.sub.ads.nx.example",
        "ADS.Nx.Example",
    ] {
        let (status, records) = ask(&server, name, "A");
        assert_eq!(status, "NXDOMAIN", "{name}");
        // The owner points into the question, so it echoes the client's case.
        let records: Vec<String> = records.iter().map(|r| r.to_lowercase()).collect();
        let expected = soa("ads.nx.example").to_lowercase();
        assert_eq!(records, [expected], "{name}: the entry owns the SOA");
    }
    for rtype in ["A", "AAAA", "TXT"] {
        let (status, records) = ask(&server, "x.ads.nodata.example", rtype);
        assert_eq!(
            (status.as_str(), records),
            ("NOERROR", vec![soa("ads.nodata.example")]),
            "{rtype}"
        );
    }
    let (status, records) = ask(&server, "x.ads.null.example", "A");
    assert_eq!(status, "NOERROR");
    assert_eq!(records, ["x.ads.null.example. 60 IN A 0.0.0.0"]);
    let (_, records) = ask(&server, "ads.null.example", "AAAA");
    assert_eq!(records, ["ads.null.example. 60 IN AAAA ::"]);
    let (status, records) = ask(&server, "ads.null.example", "MX");
    assert_eq!(
        (status.as_str(), records),
        ("NOERROR", vec![soa("ads.null.example")])
    );
    // Not blocked: no upstream here, so REFUSED (nothing is forwarded).
    let (status, _) = ask(&server, "nx.example", "A");
    assert_eq!(status, "REFUSED");
    // Over TCP too.
    let out = dig(server.addr, &["+tcp", "ads.nx.example", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
}

#[test]
fn allow_entries_win_where_more_specific() {
    let up = upstream();
    let dir = TempDir::new();
    let list = dir.write(
        "list",
        "ads.example\n@@||fine.ads.example^\ntracker.example\n",
    );
    let allow_file = dir.write("allow", "# mine\nok.ads.example\n");
    let other = dir.write("other", "bad.good.ads.example\n");
    let extra = format!(
        "allow = [\"good.ads.example\"]\nallow_files = [\"{}\"]",
        allow_file.display()
    );
    let body = [
        blocklist("ads", &list, &extra),
        blocklist("more", &other, ""),
    ]
    .concat();
    let server = Server::start(&format!("upstreams = [\"{}\"]", up.addr), &body);
    for name in ["x.ads.example", "ads.example", "a.tracker.example"] {
        assert_eq!(ask(&server, name, "A").0, "NXDOMAIN", "{name}");
    }
    for name in [
        "good.ads.example",
        "www.good.ads.example",
        "ok.ads.example",
        "fine.ads.example",
        "site.example",
    ] {
        let (status, records) = ask(&server, name, "A");
        assert_eq!(status, "NOERROR", "{name}: {records:?}");
        assert!(
            records.iter().any(|r| r.ends_with("IN A 192.0.2.1")),
            "{name} comes from upstream: {records:?}"
        );
    }
    // The other list's more specific entry blocks again below the allow entry.
    assert_eq!(ask(&server, "x.bad.good.ads.example", "A").0, "NXDOMAIN");
}

#[test]
fn local_data_wins_over_a_list() {
    let up = upstream();
    let dir = TempDir::new();
    let hosts = dir.write("hosts", "192.168.1.7 printer\n");
    let list = dir.write(
        "list",
        "home.example\nprinter.lan\nads.example\n0.0.0.0 nas.home.example\n",
    );
    let body = format!(
        "[[zone]]\nname = \"home.example\"\nrecords = [\"nas A 192.168.1.9\", \
         \"tracker CNAME x.ads.example.\", \"shop CNAME site.example.\"]\n{}",
        blocklist("ads", &list, "")
    );
    let dns = format!(
        "upstreams = [\"{}\"]\nhosts = [\"{}\"]",
        up.addr,
        hosts.display()
    );
    let server = Server::start(&dns, &body);
    let (status, records) = ask(&server, "nas.home.example", "A");
    assert_eq!(status, "NOERROR");
    assert_eq!(records, ["nas.home.example. 300 IN A 192.168.1.9"]);
    assert_eq!(ask(&server, "nothing.home.example", "A").0, "NXDOMAIN");
    let (_, records) = ask(&server, "printer.lan", "A");
    assert_eq!(records, ["printer.lan. 60 IN A 192.168.1.7"]);
    // A local CNAME into a blocked name: the chain is ours, its end is blocked.
    let (status, records) = ask(&server, "tracker.home.example", "A");
    assert_eq!(status, "NXDOMAIN");
    assert_eq!(
        records,
        [
            "tracker.home.example. 300 IN CNAME x.ads.example.".to_string(),
            soa("ads.example")
        ]
    );
    // A chain to a name no list has goes on upstream.
    let (status, records) = ask(&server, "shop.home.example", "A");
    assert_eq!(status, "NOERROR");
    assert!(
        records.iter().any(|r| r.ends_with("IN A 192.0.2.1")),
        "{records:?}"
    );
}

#[test]
fn a_changed_file_is_read_again_and_a_missing_one_keeps_the_list() {
    let dir = TempDir::new();
    let list = dir.write("list", "old.example\n");
    let server = Server::start("", &blocklist("ads", &list, ""));
    assert_eq!(ask(&server, "old.example", "A").0, "NXDOMAIN");
    assert_eq!(ask(&server, "new.example", "A").0, "REFUSED");
    // As a fetch script does: a new file beside, renamed over the list.
    dir.write("list.new", "new.example\n# a comment\nnot a name\n");
    std::fs::rename(dir.0.join("list.new"), &list).unwrap();
    assert!(
        eventually(RELOAD_DEADLINE, || ask(&server, "new.example", "A").0
            == "NXDOMAIN"),
        "the new list is served"
    );
    assert_eq!(ask(&server, "old.example", "A").0, "REFUSED");
    server.wait_log("1 line(s) skipped, e.g.");
    // Gone: the list serving now stays.
    std::fs::remove_file(&list).unwrap();
    server.wait_log("cannot be read; the previous list (1 names) stays");
    assert_eq!(ask(&server, "new.example", "A").0, "NXDOMAIN");
    // SIGHUP with a changed section: the file is back, the answer is new.
    dir.write("list", "new.example\nthird.example\n");
    server.rewrite("", &blocklist("ads", &list, "answer = \"null\""));
    server.signal("HUP");
    assert!(
        eventually(RELOAD_DEADLINE, || {
            ask(&server, "third.example", "A").1 == ["third.example. 60 IN A 0.0.0.0"]
        }),
        "the reloaded section answers null"
    );
}

#[test]
fn blocked_queries_are_counted_per_list() {
    let dir = TempDir::new();
    let state = TempDir::new();
    let ads = dir.write("ads", "ads.example\nbad line here\n");
    // names_max = 1: the second name is left out, a hit of that bound.
    let malware = dir.write("malware", "evil.example\nworse.example\n");
    let config = format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\n\
         resolv_file = \"\"\n[api]\nlisten = \"127.0.0.1:0\"\n{}{}",
        state.0.display(),
        blocklist("ads", &ads, ""),
        blocklist("malware", &malware, "answer = \"nodata\"\nnames_max = 1")
    );
    let server = Server::start_config(&config);
    let api = server.local_api();
    for _ in 0..3 {
        assert_eq!(ask(&server, "x.ads.example", "A").0, "NXDOMAIN");
    }
    assert_eq!(ask(&server, "evil.example", "AAAA").0, "NOERROR");
    assert_eq!(ask(&server, "fine.example", "A").0, "REFUSED");
    let stats = api.call("GET", "/api/v1/dns/stats", None).json();
    let lists = stats["blocklists"].as_array().unwrap();
    assert_eq!(lists.len(), 2, "{stats}");
    assert_eq!(lists[0]["name"], "ads");
    assert_eq!(lists[0]["names"], 1);
    assert_eq!(lists[0]["skipped_lines"], 1);
    assert_eq!(lists[0]["blocked"], 3);
    assert_eq!(lists[0]["answer"], "nxdomain");
    assert_eq!(lists[1]["name"], "malware");
    assert_eq!(lists[1]["blocked"], 1);
    assert!(lists[1]["memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(lists[1]["over_limit"], 1, "{stats}");
    assert_eq!(stats["limits"]["dns_blocklist_names"], 1, "{stats}");
    let metrics = api.call("GET", "/metrics", None).body;
    for line in [
        "lanseal_blocklist_blocked_total{list=\"ads\"} 3",
        "lanseal_blocklist_blocked_total{list=\"malware\"} 1",
        "lanseal_blocklist_names{list=\"ads\"} 1",
        "lanseal_blocklist_skipped_lines{list=\"ads\"} 1",
        "lanseal_limit_hits_total{limit=\"dns_blocklist_names\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    let tool = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/promtool/usr/bin/promtool"
    );
    let checked = common::run_with_stdin(
        std::process::Command::new(tool).args(["check", "metrics"]),
        &metrics,
    );
    let complaints = String::from_utf8_lossy(&checked.stdout).into_owned()
        + &String::from_utf8_lossy(&checked.stderr);
    assert!(
        checked.status.success() && complaints.trim().is_empty(),
        "promtool: {complaints}"
    );
    server.signal("USR1");
    let line = server.wait_log("blocklist `ads`: names=");
    assert!(line.contains("skipped_lines=1 blocked=3"), "{line}");
}

#[test]
fn a_bad_section_is_a_config_error_at_its_line() {
    let dir = TempDir::new();
    let config = dir.write(
        "bad.toml",
        "[[blocklist]]\nname = \"ads\"\nfiles = [\"/nonexistent/list\"]\nanswer = \"drop\"\n",
    );
    let out = std::process::Command::new(common::BIN)
        .args(["check-config", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:4: answer `drop`", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
    // A missing list file is data, not a config error.
    let config = dir.write(
        "ok.toml",
        "[[blocklist]]\nname = \"ads\"\nfiles = [\"/nonexistent/list\"]\n",
    );
    let out = std::process::Command::new(common::BIN)
        .args(["check-config", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An upstream lanseal whose names hide vendors' names behind CNAMEs, as a
/// site does for a tracker it serves under its own name.
fn cloaking_upstream() -> Server {
    Server::start(
        "",
        "[[zone]]\nname = \"example.com\"\nrecords = [\
         \"tracker CNAME x.tracking-vendor.net.\", \"shop CNAME y.tracking-vendor.net.\", \
         \"partner CNAME ok.tracking-vendor.net.\", \"pixel CNAME p.null-vendor.net.\", \
         \"cdn CNAME e.cdn-vendor.net.\", \"zero 0 CNAME z.tracking-vendor.net.\", \
         \"www A 192.0.2.10\"]\n\
         [[zone]]\nname = \"tracking-vendor.net\"\nrecords = [\"x A 192.0.2.66\", \
         \"y A 192.0.2.66\", \"ok A 192.0.2.66\", \"z 0 A 192.0.2.66\"]\n\
         [[zone]]\nname = \"null-vendor.net\"\nrecords = [\"p A 192.0.2.67\", \
         \"p AAAA 2001:db8::67\"]\n\
         [[zone]]\nname = \"cdn-vendor.net\"\nrecords = [\"e A 192.0.2.68\"]\n",
    )
}

/// True when `records` hold an answer of the upstream's: its CNAME to
/// `target` and an address.
fn passed_through(records: &[String], target: &str) -> bool {
    records
        .iter()
        .any(|r| r.ends_with(&format!("IN CNAME {target}.")))
        && records.iter().any(|r| r.contains(" IN A 192.0.2."))
}

#[test]
fn a_cname_chain_into_a_listed_name_is_blocked_as_that_list_answers() {
    let up = cloaking_upstream();
    let dir = TempDir::new();
    let state = TempDir::new();
    let vendors = dir.write("vendors", "tracking-vendor.net\n");
    let allow = dir.write("allow", "ok.tracking-vendor.net\n");
    let null = dir.write("null", "null-vendor.net\n");
    let cdn = dir.write("cdn", "cdn-vendor.net\n");
    let config = format!(
        "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\n\
         resolv_file = \"\"\nupstreams = [\"{}\"]\n[api]\nlisten = \"127.0.0.1:0\"\n\
         [[zone]]\nname = \"home.example\"\nrecords = [\"analytics CNAME tracker.example.com.\"]\n\
         {}{}{}",
        state.0.display(),
        up.addr,
        blocklist(
            "vendors",
            &vendors,
            &format!(
                "allow = [\"shop.example.com\"]\nallow_files = [\"{}\"]",
                allow.display()
            )
        ),
        blocklist("null", &null, "answer = \"null\""),
        blocklist("cdn", &cdn, "cname_inspection = false"),
    );
    let server = Server::start_config(&config);
    let api = server.local_api();

    // A local CNAME into the cloaked name, asked first: the forwarder fetches
    // the rest of the chain, and its end is blocked as the list answers.
    let (status, records) = ask(&server, "analytics.home.example", "AAAA");
    assert_eq!(status, "NXDOMAIN", "{records:?}");
    let local = "analytics.home.example. 300 IN CNAME tracker.example.com.".to_string();
    assert_eq!(records, [local.clone(), soa("tracker.example.com")]);
    // Forwarded, then from the cache: the list's answer for the question, the
    // upstream's chain dropped, the SOA owned by the question.
    for round in ["forwarded", "cached"] {
        let (status, records) = ask(&server, "tracker.example.com", "A");
        assert_eq!(
            (status.as_str(), records),
            ("NXDOMAIN", vec![soa("tracker.example.com")]),
            "{round}"
        );
    }
    let (status, records) = ask(&server, "TRACKER.example.com", "MX");
    assert_eq!(status, "NXDOMAIN", "a chain to NODATA too: {records:?}");
    // The local chain again, its end from the cache now.
    let (status, records) = ask(&server, "analytics.home.example", "A");
    assert_eq!(
        (status.as_str(), records),
        ("NXDOMAIN", vec![local, soa("tracker.example.com")])
    );
    // An answer the cache does not keep (TTL 0) is checked before it is relayed.
    let (status, records) = ask(&server, "zero.example.com", "A");
    assert_eq!(
        (status.as_str(), records),
        ("NXDOMAIN", vec![soa("zero.example.com")])
    );
    // The null list answers 0.0.0.0 and :: for the question name.
    let (status, records) = ask(&server, "pixel.example.com", "A");
    assert_eq!(
        (status.as_str(), records),
        (
            "NOERROR",
            vec!["pixel.example.com. 60 IN A 0.0.0.0".to_string()]
        )
    );
    let (_, records) = ask(&server, "pixel.example.com", "AAAA");
    assert_eq!(records, ["pixel.example.com. 60 IN AAAA ::"]);
    // Allowed: the question (shop), the target (ok.tracking-vendor.net); not
    // inspected: a list with cname_inspection off (cdn), whose names are still
    // blocked when asked; and a name without a CNAME.
    for (name, target) in [
        ("shop.example.com", "y.tracking-vendor.net"),
        ("partner.example.com", "ok.tracking-vendor.net"),
        ("cdn.example.com", "e.cdn-vendor.net"),
    ] {
        let (status, records) = ask(&server, name, "A");
        assert_eq!(status, "NOERROR", "{name}: {records:?}");
        assert!(passed_through(&records, target), "{name}: {records:?}");
    }
    assert_eq!(ask(&server, "e.cdn-vendor.net", "A").0, "NXDOMAIN");
    let (_, records) = ask(&server, "www.example.com", "A");
    assert_eq!(records, ["www.example.com. 300 IN A 192.0.2.10"]);

    let stats = api.call("GET", "/api/v1/dns/stats", None).json();
    let list = |name: &str| {
        let lists = stats["blocklists"].as_array().unwrap();
        lists.iter().find(|l| l["name"] == name).unwrap().clone()
    };
    // analytics ×2, tracker ×3, zero.
    assert_eq!(
        (
            list("vendors")["blocked"].as_u64(),
            list("vendors")["cname_blocked"].as_u64()
        ),
        (Some(6), Some(6)),
        "{stats}"
    );
    assert_eq!(list("null")["cname_blocked"], 2, "{stats}");
    assert_eq!(
        (
            list("cdn")["blocked"].as_u64(),
            list("cdn")["cname_blocked"].as_u64()
        ),
        (Some(1), Some(0)),
        "{stats}"
    );
    assert_eq!(list("cdn")["cname_inspection"], false);
    let metrics = api.call("GET", "/metrics", None).body;
    let line = "lanseal_blocklist_cname_blocked_total{list=\"vendors\"} 6";
    assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");

    // The cache kept the upstream's answer: once the question is allowed (the
    // allow file replaced, as a script does), the same entry answers it.
    let hits = stats["cache"]["hits"].as_u64().unwrap();
    dir.write("allow.new", "ok.tracking-vendor.net\ntracker.example.com\n");
    std::fs::rename(dir.0.join("allow.new"), &allow).unwrap();
    assert!(
        eventually(RELOAD_DEADLINE, || {
            passed_through(
                &ask(&server, "tracker.example.com", "A").1,
                "x.tracking-vendor.net",
            )
        }),
        "the allowed question is answered as upstream said"
    );
    let stats = api.call("GET", "/api/v1/dns/stats", None).json();
    assert!(
        stats["cache"]["hits"].as_u64().unwrap() > hits,
        "answered from the cache: {stats}"
    );
    // Every query blocked before the allow entry came counts, each by a CNAME.
    server.signal("USR1");
    let line = server.wait_log("blocklist `vendors`: names=");
    let count = |key: &str| -> u64 {
        let value = line.split(&format!(" {key}=")).nth(1).unwrap_or_default();
        value
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or(0)
    };
    assert!(count("blocked") >= 6, "{line}");
    assert_eq!(count("blocked"), count("cname_blocked"), "{line}");
}
