//! Regression tests for defects found by trying lanseal as a new user would (issue
//! 9), each against the real binary. Every test here failed before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

fn authority_types(m: &Message) -> Vec<RecordType> {
    m.authorities.iter().map(|r| r.record_type()).collect()
}

/// A query for `name` (wire) and `qtype` with an OPT record whose DO bit is set,
/// and `opcode` in the header.
fn raw_query(name: &[u8], qtype: u16, opcode: u8, questions: u16) -> Vec<u8> {
    let mut p = vec![0x4c, 0x53, 0x01 | (opcode << 3), 0x00];
    p.extend_from_slice(&questions.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
    for _ in 0..questions {
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
    }
    // OPT: root owner, type 41, payload 1232, ext-rcode 0, version 0, DO=1.
    p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    p
}

/// The TTL field of the response's OPT record (extended RCODE, version, DO),
/// which lanseal writes last and without options; `None` without one.
fn opt_ttl(response: &[u8]) -> Option<u32> {
    let additional = u16::from_be_bytes([response[10], response[11]]);
    let opt = response.get(response.len().checked_sub(11)?..)?;
    if additional != 1 || opt[..3] != [0, 0, 41] || opt[9..] != [0, 0] {
        return None;
    }
    Some(u32::from_be_bytes([opt[5], opt[6], opt[7], opt[8]]))
}

/// Issue 9: a local CNAME whose target lies under an overlay zone (and is not
/// defined there) is chased upstream like any target outside every zone.
#[test]
fn issue9_cname_into_overlay_zone_is_chased() {
    let up = Server::start(
        "acl = [\"any\"]\nrate_limit_qps = 0",
        "[[zone]]\nname = \"up.test\"\nrecords = [\"www A 192.0.2.71\"]\n",
    );
    let front = Server::start(
        &format!("upstreams = [\"{}\"]", up.addr),
        "[[zone]]\nname = \"up.test\"\nmode = \"overlay\"\nrecords = [\"local A 192.168.9.9\"]\n\
         [[zone]]\nname = \"home.test\"\nrecords = [\"ext CNAME www.up.test.\", \"self CNAME local.up.test.\"]\n",
    );
    for _ in 0..2 {
        let m = front.query("ext.home.test", RecordType::A);
        assert_eq!(rcode(&m), ResponseCode::NoError);
        assert_eq!(
            answers(&m),
            [
                "ext.home.test. 300 CNAME www.up.test.",
                "www.up.test. 300 A 192.0.2.71"
            ]
        );
    }
    // A target the overlay zone does define stays local.
    let m = front.query("self.home.test", RecordType::A);
    assert_eq!(answers(&m).len(), 2, "{m:?}");
    assert!(answers(&m)[1].ends_with("A 192.168.9.9"));
}

/// Issue 9: negative answers in the reverse zones lanseal serves carry the SOA
/// (RFC 2308 §3), and a reverse name above a synthesized PTR is an empty
/// non-terminal of the same zone, not REFUSED.
#[test]
fn issue9_reverse_negative_answers_carry_the_soa() {
    let s = Server::start(
        "",
        "[[zone]]\nname = \"home.test\"\nip_names = true\nrecords = [\"nas A 192.168.1.10\"]\n",
    );
    // A PTR synthesized from an A record, asked for another type: NODATA + SOA.
    let m = s.query("10.1.168.192.in-addr.arpa", RecordType::TXT);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert!(m.metadata.authoritative);
    assert_eq!(authority_types(&m), [RecordType::SOA]);
    // The same for an IP-name PTR (no record of its own).
    let m = s.query("7.1.168.192.in-addr.arpa", RecordType::TXT);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(authority_types(&m), [RecordType::SOA]);
    let m = s.query("7.1.168.192.in-addr.arpa", RecordType::PTR);
    assert_eq!(answers(&m).len(), 1, "{m:?}");
    // The parents of those names: empty non-terminals of one zone.
    for name in ["1.168.192.in-addr.arpa", "168.192.in-addr.arpa"] {
        let m = s.query(name, RecordType::PTR);
        assert_eq!(rcode(&m), ResponseCode::NoError, "{name}");
        assert!(m.metadata.authoritative, "{name}");
        assert_eq!(authority_types(&m), [RecordType::SOA], "{name}");
    }
    // The zone's apex has its SOA.
    let m = s.query("168.192.in-addr.arpa", RecordType::SOA);
    assert_eq!(m.answers.len(), 1, "{m:?}");
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
}

/// Issue 9: without IP names, an unknown private reverse name is NXDOMAIN with
/// the SOA of its locally served zone (bogus_priv, RFC 6303), and the SOA's
/// owner is that zone.
#[test]
fn issue9_unknown_private_reverse_name_is_nxdomain_with_soa() {
    let s = Server::start(
        "",
        "[[zone]]\nname = \"home.test\"\nrecords = [\"nas A 10.1.2.3\"]\n",
    );
    let m = s.query("9.9.1.10.in-addr.arpa", RecordType::PTR);
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    assert_eq!(authority_types(&m), [RecordType::SOA]);
    assert_eq!(m.authorities[0].name.to_string(), "10.in-addr.arpa.");
    let m = s.query("3.2.1.10.in-addr.arpa", RecordType::PTR);
    assert_eq!(
        answers(&m),
        ["3.2.1.10.in-addr.arpa. 300 PTR nas.home.test."]
    );
    let m = s.query("2.1.10.in-addr.arpa", RecordType::PTR);
    assert_eq!(rcode(&m), ResponseCode::NoError, "an empty non-terminal");
    assert_eq!(authority_types(&m), [RecordType::SOA]);
}

/// Issue 9: the DO bit of the query is copied into the response (RFC 3225 §3).
#[test]
fn issue9_do_bit_is_copied() {
    let s = Server::start(
        "",
        "[[zone]]\nname = \"home.test\"\nrecords = [\"nas A 192.168.1.10\"]\n",
    );
    let response = udp_exchange(s.addr, &raw_query(b"\x03nas\x04home\x04test\x00", 1, 0, 1))
        .expect("an answer");
    assert_eq!(opt_ttl(&response), Some(0x8000));
    let out = dig(s.addr, &["+dnssec", "nas.home.test", "A"]);
    assert!(out.contains("flags: do;"), "{out}");
    let out = dig(s.addr, &["nas.home.test", "A"]);
    assert!(!out.contains("flags: do;"), "{out}");
}

/// Issue 9: error answers (NOTIMP, FORMERR) to a query with an OPT carry one too
/// (RFC 6891 §6.1.1).
#[test]
fn issue9_error_answers_keep_the_opt() {
    let s = Server::start("", "");
    let name = b"\x03nas\x04home\x04test\x00";
    // Opcode 2 (STATUS): NOTIMP.
    let response = udp_exchange(s.addr, &raw_query(name, 1, 2, 1)).expect("an answer");
    assert_eq!(response[3] & 0x0f, 4, "NOTIMP");
    assert_eq!(opt_ttl(&response), Some(0x8000));
    // Two questions: FORMERR.
    let response = udp_exchange(s.addr, &raw_query(name, 1, 0, 2)).expect("an answer");
    assert_eq!(response[3] & 0x0f, 1, "FORMERR");
    assert_eq!(opt_ttl(&response), Some(0x8000));
}

/// Issue 9: a SIGHUP that changes `[delegate]` (read only at start) says a
/// restart is needed instead of claiming to have reloaded it.
#[test]
fn issue9_reload_names_delegate_changes_that_need_a_restart() {
    let config = |prefix: &str, state: &std::path::Path| {
        format!(
            "log_level = \"debug\"\nstate_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\n\
             resolv_file = \"\"\n[delegate]\nzone = \"auth.test\"\napi_listen = \"127.0.0.1:0\"\n\
             api_prefix = \"{prefix}\"\n",
            state.display()
        )
    };
    let state = TempDir::new();
    let s = Server::start_config(&config("/one", &state.0));
    let listen = format!("listen = [\"{}\"]", s.addr);
    // Unchanged: an ordinary reload.
    let same = config("/one", &state.0).replace("listen = [\"127.0.0.1:0\"]", &listen);
    s.dir.write("lanseal.toml", &same);
    s.signal("HUP");
    s.wait_log("reloaded");
    let changed = config("/two", &state.0).replace("listen = [\"127.0.0.1:0\"]", &listen);
    s.dir.write("lanseal.toml", &changed);
    s.signal("HUP");
    let line = s.wait_log("[delegate]");
    assert!(line.contains("next restart"), "{line}");
    s.wait_log("reloaded");
    // The same for the state directory (the store is open, its owner set).
    let elsewhere = TempDir::new();
    let moved = config("/two", &elsewhere.0).replace("listen = [\"127.0.0.1:0\"]", &listen);
    s.dir.write("lanseal.toml", &moved);
    s.signal("HUP");
    let line = s.wait_log("state_dir");
    assert!(line.contains("next restart"), "{line}");
}
