//! `delegate_body`: one acme-dns JSON body into the delegate's handler. The
//! first byte picks the endpoint (even: `POST /register`, odd: `POST /update`),
//! the rest is the body.
//!
//! A registration comes from one address, so after the first
//! `REGISTRATIONS_PER_CLIENT_PER_WINDOW` the per-client limit answers 429 — after
//! the body is parsed and checked, before any bcrypt. An update carries the
//! fixture account's credentials and comes from an address of its own in
//! 10/8 (the account's `allowfrom`), so the per-client limit never stops it
//! before the body is read.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use serde_json::Value;

use crate::delegate::api::Api;
use crate::delegate::zone::DelegateRecords;
use crate::dns::wire::TYPE_TXT;
use crate::http::Request;

use super::fixture;

fn delegate() -> &'static (Api, std::sync::Arc<DelegateRecords>) {
    static DELEGATE: OnceLock<(Api, std::sync::Arc<DelegateRecords>)> = OnceLock::new();
    DELEGATE.get_or_init(fixture::delegate)
}

pub fn delegate_body(data: &[u8]) {
    let Some((&endpoint, body)) = data.split_first() else {
        return;
    };
    let (api, records) = delegate();
    if endpoint % 2 == 0 {
        register(api, body);
    } else {
        update(api, records, body);
    }
}

fn request(path: &str, headers: Vec<(String, String)>, body: &[u8], peer: IpAddr) -> Request {
    Request {
        method: "POST".into(),
        path: path.into(),
        query: String::new(),
        headers,
        body: body.to_vec(),
        peer: SocketAddr::new(peer, 40_000),
    }
}

fn register(api: &Api, body: &[u8]) {
    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let response = api.handle(&request("/register", Vec::new(), body, peer));
    assert!(
        matches!(response.status, 201 | 400 | 429),
        "register answered {}: {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    if response.status == 201 {
        let account: Value = serde_json::from_slice(&response.body).expect("a JSON account");
        for key in [
            "username",
            "password",
            "fulldomain",
            "subdomain",
            "allowfrom",
        ] {
            assert!(account.get(key).is_some(), "a registration without {key}");
        }
    }
}

fn update(api: &Api, records: &DelegateRecords, body: &[u8]) {
    // A new client each time: 10.0.0.1, 10.0.0.2, … (16 million before a repeat).
    static NEXT_CLIENT: AtomicU32 = AtomicU32::new(1);
    let client = NEXT_CLIENT.fetch_add(1, Relaxed) & 0x00ff_ffff;
    let peer = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | client));
    let headers = vec![
        ("x-api-user".to_string(), fixture::ACCOUNT_USER.to_string()),
        ("x-api-key".to_string(), fixture::ACCOUNT_KEY.to_string()),
    ];
    let response = api.handle(&request("/update", headers, body, peer));
    assert!(
        matches!(response.status, 200 | 400 | 401),
        "update answered {}: {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    if response.status == 200 {
        let answer: Value = serde_json::from_slice(&response.body).expect("a JSON answer");
        let txt = answer["txt"].as_str().expect("the TXT value in the answer");
        // Acknowledged, so served: the TXT record holds it.
        let mut wanted = vec![u8::try_from(txt.len()).expect("a TXT value under 256 bytes")];
        wanted.extend_from_slice(txt.as_bytes());
        let mut name = vec![u8::try_from(fixture::ACCOUNT_SUBDOMAIN.len()).expect("a label")];
        name.extend_from_slice(fixture::ACCOUNT_SUBDOMAIN.as_bytes());
        name.extend_from_slice(b"\x04auth\x04test\x00");
        let mut served = false;
        records
            .dynamic()
            .lookup(&name, TYPE_TXT, |_, _, rdata| served |= rdata == wanted);
        assert!(served, "an acknowledged TXT value is not served: {txt}");
    }
}
