//! The certs role's DNS checks (`certs::dnscheck::Checker`) against the real
//! binary: lanseal serves the zones, both as the configured resolver and as the
//! authoritative servers the checker discovers by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use lanseal::certs::caa::{self, CaaRecord, Verdict};
use lanseal::certs::dnscheck::{CheckError, Checker};

/// `test` and its subzones, each listing lanseal's own address as its name server
/// (for discovery). `extra_auth` goes into `auth.test`, the delegate-like zone.
fn zones(extra_auth: &str) -> String {
    format!(
        r#"
[[zone]]
name = "test"
mode = "authoritative"
records = ["@ NS ns1.test.", "ns1 A 127.0.0.1"]

[[zone]]
name = "home.test"
mode = "authoritative"
records = [
  "@ NS ns1.test.",
  "_acme-challenge.router CNAME abc.auth.test.",
  "@ CAA 0 issue \"pebble.letsencrypt.org\"",
  "@ CAA 0 iodef \"mailto:owner@home.test\"",
  "router A 192.168.1.1",
  "alias CNAME target.other.test.",
  "alias2 CNAME plain.other.test.",
  "t TXT \"v=one\" \" two\"",
  "t TXT \"second\"",
]

[[zone]]
name = "sub.home.test"
mode = "authoritative"
records = ["@ NS ns1.test.", "x A 192.0.2.1"]

[[zone]]
name = "own.home.test"
mode = "authoritative"
records = ["@ NS ns1.test.", "@ CAA 128 issue \";\""]

[[zone]]
name = "other.test"
mode = "authoritative"
records = ["@ NS ns1.test.", "target CAA 0 issue \"letsencrypt.org\"", "plain A 192.0.2.2"]

[[zone]]
name = "bare.test"
mode = "authoritative"
records = ["@ NS ns1.test.", "www A 192.0.2.3"]

[[zone]]
name = "auth.test"
mode = "authoritative"
records = ["@ NS ns1.test.", "abc A 192.0.2.4", {extra_auth}]
"#
    )
}

fn start(extra_auth: &str) -> Server {
    Server::start("", &zones(extra_auth))
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn issue(value: &str) -> CaaRecord {
    CaaRecord {
        flags: 0,
        tag: "issue".into(),
        value: value.into(),
    }
}

/// The home.test set as lanseal serves it (order aside).
fn home_set(mut records: Vec<CaaRecord>) -> Vec<CaaRecord> {
    records.sort_by(|a, b| a.tag.cmp(&b.tag));
    records
}

/// Every check through `checker`, the same answers whichever way it asks.
async fn checks_agree(checker: &Checker) {
    assert_eq!(
        checker
            .cname("_ACME-Challenge.Router.Home.Test.")
            .await
            .unwrap()
            .as_deref(),
        Some("abc.auth.test")
    );
    assert_eq!(checker.cname("router.home.test").await.unwrap(), None);
    assert_eq!(checker.cname("nothing.home.test").await.unwrap(), None);

    let iodef = CaaRecord {
        flags: 0,
        tag: "iodef".into(),
        value: "mailto:owner@home.test".into(),
    };
    let want_home = home_set(vec![issue("pebble.letsencrypt.org"), iodef]);
    // The name itself, a wildcard, and a name two labels down.
    for name in [
        "home.test",
        "*.home.test",
        "router.home.test",
        "a.b.home.test.",
    ] {
        let (owner, set) = checker.caa(name).await.unwrap().unwrap();
        assert_eq!(
            (owner.as_str(), home_set(set)),
            ("home.test", want_home.clone()),
            "{name}"
        );
    }
    // A subzone without CAA: the climb leaves it for its parent's set.
    let (owner, _) = checker.caa("x.sub.home.test").await.unwrap().unwrap();
    assert_eq!(owner, "home.test");
    // A subzone with its own set stops the climb there.
    let (owner, set) = checker.caa("www.own.home.test").await.unwrap().unwrap();
    assert_eq!((owner.as_str(), set.len()), ("own.home.test", 1));
    assert_eq!(set[0].flags, 128);
    // A CNAME whose target holds a set: that set is the name's.
    let (owner, set) = checker.caa("alias.home.test").await.unwrap().unwrap();
    assert_eq!(
        (owner.as_str(), set),
        ("target.other.test", vec![issue("letsencrypt.org")])
    );
    // A CNAME whose target holds none: the climb goes on from the alias's parent
    // (RFC 8659 does not climb the target's parents).
    let (owner, _) = checker.caa("alias2.home.test").await.unwrap().unwrap();
    assert_eq!(owner, "home.test");
    // No CAA anywhere up the tree.
    assert_eq!(checker.caa("www.bare.test").await.unwrap(), None);

    let mut values = checker.txt("T.home.test.").await.unwrap();
    values.sort();
    assert_eq!(values, ["second", "v=one two"]);
    assert!(checker.txt("router.home.test").await.unwrap().is_empty());
}

#[test]
fn checks_through_a_configured_resolver() {
    let server = start("");
    let checker = Checker::new(vec![server.addr], vec![]);
    block_on(async {
        checks_agree(&checker).await;
        assert_eq!(
            checker
                .authoritative_servers("abc.auth.test")
                .await
                .unwrap(),
            [server.addr],
            "configured resolvers are the servers to ask"
        );
    });
}

#[test]
fn checks_through_discovered_authoritative_servers() {
    let server = start("");
    // Only the bootstrap resolver is known; every zone's NS (ns1.test, 127.0.0.1)
    // is found and asked directly.
    let checker =
        Checker::new(vec![], vec![server.addr]).with_authoritative_port(server.addr.port());
    block_on(async {
        assert_eq!(
            checker
                .authoritative_servers("abc.auth.test.")
                .await
                .unwrap(),
            [server.addr]
        );
        checks_agree(&checker).await;
    });
}

#[test]
fn verdicts_from_served_records() {
    let server = start("");
    let checker = Checker::new(vec![server.addr], vec![]);
    let identities = ["pebble.letsencrypt.org".to_string()];
    let account = "https://127.0.0.1:14000/my-account/1";
    block_on(async {
        let verdict = |name: &'static str| {
            let (checker, identities) = (&checker, &identities);
            async move {
                let (owner, set) = checker.caa(name).await.unwrap().unwrap();
                caa::evaluate(
                    &owner,
                    &set,
                    identities,
                    name.starts_with("*."),
                    account,
                    "dns-01",
                )
            }
        };
        assert_eq!(verdict("router.home.test").await, Verdict::Allowed);
        assert_eq!(
            verdict("*.own.home.test").await,
            Verdict::Forbidden {
                owner: "own.home.test".into(),
                record: "own.home.test. CAA 128 issue \";\"".into(),
                reason: "it allows no CA to issue".into(),
            }
        );
        let Verdict::Forbidden { owner, reason, .. } = verdict("alias.home.test").await else {
            panic!("the alias's target allows only letsencrypt.org");
        };
        assert_eq!(owner, "target.other.test");
        assert!(reason.contains("letsencrypt.org"), "{reason}");
    });
}

#[test]
fn failures_name_the_server_and_the_name() {
    let server = start("");
    let checker = Checker::new(vec![server.addr], vec![]);
    block_on(async {
        // Outside every zone, with no upstream: lanseal refuses.
        let error = checker.caa("www.example.org").await.unwrap_err();
        assert!(matches!(error, CheckError::Servfail(_)), "{error}");
        let text = error.to_string();
        assert!(
            text.contains("REFUSED") && text.contains("www.example.org"),
            "{text}"
        );
        assert!(text.contains(&server.addr.to_string()), "{text}");
        let error = checker.txt("bad..name").await.unwrap_err();
        assert!(matches!(error, CheckError::Malformed(_)), "{error}");
    });
    // A server that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address: SocketAddr = silent.local_addr().unwrap();
    let checker = Checker::new(vec![address], vec![]);
    let error = block_on(checker.cname("router.home.test")).unwrap_err();
    assert!(matches!(error, CheckError::Timeout(_)), "{error}");
    assert!(error.to_string().contains(&address.to_string()), "{error}");
    // Discovery without any bootstrap resolver has nobody to ask.
    let error = block_on(Checker::new(vec![], vec![]).txt("t.home.test")).unwrap_err();
    assert!(matches!(error, CheckError::Io(_)), "{error}");
}

#[test]
fn wait_txt_at_sees_a_value_appear_at_every_server() {
    let first = start("");
    let second = start("");
    let checker = Checker::new(vec![], vec![]);
    let name = "ABC.auth.test.";
    let one = vec!["token-1".to_string()];
    let both = vec!["token-1".to_string(), "token-2".to_string()];
    let short = Duration::from_millis(1_500);
    block_on(async {
        assert!(
            !checker
                .wait_txt_at(&[first.addr], name, &one, short, || ())
                .await
                .unwrap()
        );
    });

    // The value appears while the checker polls: a reload a moment after it starts.
    let config = format!(
        "log_level = \"debug\"\n[dns]\nlisten = [\"{}\"]\nresolv_file = \"\"\n\n{}",
        first.addr,
        zones(r#""abc TXT \"token-1\"""#)
    );
    let path = first.dir.0.join("lanseal.toml");
    let pid = first.pid().to_string();
    // Rounds counted by the hook that runs before each (the certs role
    // flushes its own cache there).
    let rounds = std::cell::Cell::new(0);
    let reload = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(path, config).unwrap();
        assert!(run("kill", &["-HUP", &pid]).status.success());
    });
    block_on(async {
        assert!(
            checker
                .wait_txt_at(&[first.addr], name, &one, DEADLINE, || rounds
                    .set(rounds.get() + 1))
                .await
                .unwrap()
        );
    });
    reload.join().unwrap();
    assert!(rounds.get() >= 2, "{} rounds", rounds.get());
    first.wait_log("reloaded");
    block_on(async {
        // Every value must be there, and at every server.
        assert!(
            !checker
                .wait_txt_at(&[first.addr], name, &both, short, || ())
                .await
                .unwrap()
        );
        let servers = [first.addr, second.addr];
        assert!(
            !checker
                .wait_txt_at(&servers, name, &one, short, || ())
                .await
                .unwrap()
        );
    });
    second.rewrite(
        "",
        &zones(r#""abc TXT \"token-2\"", "abc TXT \"token-1\"""#),
    );
    second.signal("HUP");
    second.wait_log("reloaded");
    block_on(async {
        let servers = [first.addr, second.addr];
        assert!(
            checker
                .wait_txt_at(&servers, name, &one, DEADLINE, || ())
                .await
                .unwrap()
        );
        assert!(
            !checker
                .wait_txt_at(&servers, name, &both, short, || ())
                .await
                .unwrap()
        );
        assert!(
            checker
                .wait_txt_at(&[second.addr], name, &both, DEADLINE, || ())
                .await
                .unwrap()
        );
    });
}

/// Split horizon, as on a router: the bootstrap resolver (127.0.0.3, also the
/// server of `test`) knows only the zone cuts and the name servers;
/// `home.test`'s server (127.0.0.1) and `other.test`'s (127.0.0.2) hold the data,
/// all on one port. Every answer below can
/// only come from asking each zone's own servers, following a CNAME from one zone's
/// servers to the other's.
#[test]
fn discovery_asks_each_zones_own_servers() {
    let cuts = r#"
[[zone]]
name = "test"
mode = "authoritative"
records = ["@ NS ns3.test.", "ns1 A 127.0.0.1", "ns2 A 127.0.0.2", "ns3 A 127.0.0.3"]
"#;
    // Not `test` too: lanseal would then answer NXDOMAIN for other.test's names
    // (it serves no referrals), where a real parent zone delegates.
    let home = r#"
[[zone]]
name = "home.test"
mode = "authoritative"
records = [
  "@ NS ns1.test.",
  "_acme-challenge.router CNAME abc.other.test.",
  "fresh CNAME abc.other.test.",
  "alias CNAME target.other.test.",
  "toparent CNAME www.test.",
]
"#;
    let first = Server::start("", home);
    let port = first.addr.port();
    let other = Server::start_config(&format!(
        r#"log_level = "debug"
[dns]
listen = ["127.0.0.2:{port}"]
resolv_file = ""
[[zone]]
name = "other.test"
mode = "authoritative"
records = ["@ NS ns2.test.", "target CAA 0 issue \"letsencrypt.org\"", "abc TXT \"token\""]
"#
    ));
    // The public view: the cuts and two CNAMEs (a resolver asked for their SOA
    // follows them into another zone), but not `fresh`, added a moment ago and not
    // yet seen by the resolver.
    let bootstrap = Server::start_config(&format!(
        r#"log_level = "debug"
[dns]
listen = ["127.0.0.3:{port}"]
resolv_file = ""
{cuts}
[[zone]]
name = "home.test"
mode = "authoritative"
records = [
  "@ NS ns1.test.",
  "_acme-challenge.router CNAME abc.other.test.",
  "toparent CNAME www.test.",
]
[[zone]]
name = "other.test"
mode = "authoritative"
records = ["@ NS ns2.test."]
"#
    ));
    let checker = Checker::new(vec![], vec![bootstrap.addr]).with_authoritative_port(port);
    block_on(async {
        for name in ["_acme-challenge.router.home.test", "fresh.home.test"] {
            let target = checker.cname(name).await.unwrap();
            assert_eq!(target.as_deref(), Some("abc.other.test"), "{name}");
            assert_eq!(checker.txt(name).await.unwrap(), ["token"], "{name}");
        }
        let (owner, set) = checker.caa("alias.home.test").await.unwrap().unwrap();
        assert_eq!(
            (owner.as_str(), set),
            ("target.other.test", vec![issue("letsencrypt.org")])
        );
        assert_eq!(checker.caa("www.home.test").await.unwrap(), None);
        // The resolver follows a CNAME asked for SOA, here into the parent zone:
        // the alias is still home.test's.
        let servers = checker
            .authoritative_servers("toparent.home.test")
            .await
            .unwrap();
        assert_eq!(servers, [first.addr]);
        let servers = checker
            .authoritative_servers("abc.other.test")
            .await
            .unwrap();
        assert_eq!(servers, [other.addr]);
        let token = ["token".to_string()];
        assert!(
            checker
                .wait_txt_at(&servers, "abc.other.test", &token, DEADLINE, || ())
                .await
                .unwrap()
        );
    });
}
