//! The acme-dns-compatible HTTP API: `POST /register`, `POST /update`,
//! `GET /health`, at `/` and under `api_prefix`.
//!
//! Owns the API's rules (DESIGN.md §4, ../shared/ACME-DNS-COMPAT.md): status codes
//! and error bodies exactly as acme-dns writes them, JSON keys matched without
//! regard to case (older lego sends `SubDomain`, `Txt`, `AllowFrom`), a body read
//! whatever its content type. By concern: `register` and `update` (one file per
//! endpoint), `client` (who the client is, through trusted proxies) and `limits`
//! (registrations per client, per /48 and altogether; updates per client), every
//! limit checked before the bcrypt it protects and every hit counted. Over a
//! limit the answer is 429 in acme-dns's shape (`too_many_registrations`,
//! `too_many_requests`: codes acme-dns itself does not have).
//!
//! Invariants: every authentication failure is the same 401 `forbidden`, after
//! the same bcrypt work whether or not the user exists. The store commits before
//! the DNS table changes, and the DNS table changes in commit order, so an
//! acknowledged update is on disk and served, and a slower older update never
//! overwrites a newer one; a failed write answers 500 `db_error` and changes
//! nothing. Runs on the HTTP server's bounded worker pool (bcrypt and the store
//! block). The store is a `store::DelegateStore`: the node's SQLite file, or a
//! PostgreSQL database several nodes share (then the limits are checked in it
//! too, summed over the nodes, see `limits`).

mod activity;
mod client;
mod limits;
mod register;
mod update;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};

pub use activity::Activity;
pub use limits::{LimitCounters, REGISTRATION_WINDOW_SECS};

use crate::config::Delegate;
use crate::delegate::zone::DelegateRecords;
use crate::http::{Request, Response};
use crate::store::{self, DelegateStore};

/// The API's state: the store (shared with the other roles, or with other
/// delegate nodes), the DNS table it keeps in step, the config and the limits.
pub struct Api {
    store: DelegateStore,
    records: Arc<DelegateRecords>,
    config: Delegate,
    admin_token: Option<String>,
    registrations: Mutex<limits::RegistrationLimits>,
    updates: Mutex<limits::UpdateLimits>,
    limit_counters: LimitCounters,
    activity: Activity,
    /// Tests only: runs once, between a TXT commit and its publication.
    #[cfg(test)]
    pause_after_commit: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Tests only: the limits' clock, when set.
    #[cfg(test)]
    clock_secs: Mutex<Option<u32>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("zone", &self.config.zone)
            .finish_non_exhaustive()
    }
}

/// The value of `key` in a JSON object, matched without regard to case.
fn field<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// A lock that a panicked holder left behind is still good: every critical
/// section leaves its data whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Api {
    pub fn new(
        store: DelegateStore,
        records: Arc<DelegateRecords>,
        config: Delegate,
        admin_token: Option<String>,
    ) -> Self {
        Self {
            store,
            records,
            config,
            admin_token,
            registrations: Mutex::new(limits::RegistrationLimits::new()),
            updates: Mutex::new(limits::UpdateLimits::new()),
            limit_counters: LimitCounters::default(),
            activity: Activity::default(),
            #[cfg(test)]
            pause_after_commit: Mutex::new(None),
            #[cfg(test)]
            clock_secs: Mutex::new(None),
        }
    }

    pub fn handle(&self, request: &Request) -> Response {
        // `//register` happens (a base URL with a trailing slash): tolerate it.
        let mut path = request.path.as_str();
        while path.starts_with("//") {
            path = &path[1..];
        }
        let prefix = self.config.api_prefix.as_str();
        if !prefix.is_empty()
            && let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            path = rest;
            while path.starts_with("//") {
                path = &path[1..];
            }
        }
        match (request.method.as_str(), path) {
            ("POST", "/register") => self.register(request),
            ("POST", "/update") => self.update(request),
            ("GET" | "HEAD", "/health") => Response::json(200, ""),
            (_, "/register" | "/update" | "/health") => Response::error(405, "method_not_allowed"),
            _ => Response::error(404, "not_found"),
        }
    }

    /// Every limit hit so far (the local API's `delegate` and `/metrics`).
    pub fn limit_counters(&self) -> &LimitCounters {
        &self.limit_counters
    }

    /// Registrations and updates served, and the recent update rate.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// The registration mode and the number of accounts (the local API).
    pub fn registration(&self) -> crate::config::Registration {
        self.config.registration
    }

    pub fn account_count(&self) -> Result<usize, store::StoreError> {
        self.store.account_count()
    }

    /// The client's address: see `client`.
    fn client_ip(&self, request: &Request) -> IpAddr {
        let trusted = |ip: IpAddr| self.config.trusted_proxies.iter().any(|n| n.contains(ip));
        let forwarded = request.header_lines("x-forwarded-for");
        client::client_ip(request.peer.ip(), forwarded, trusted)
    }

    /// The limits' clock: monotonic seconds.
    fn now_secs(&self) -> u32 {
        #[cfg(test)]
        if let Some(fixed) = *lock(&self.clock_secs) {
            return fixed;
        }
        crate::clock::monotonic_secs()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::config::Registration;

    pub(super) fn api() -> Api {
        let config = Delegate {
            zone: "auth.test".into(),
            ns: vec!["ns1.auth.test.".into()],
            ns_addresses: Vec::new(),
            glue: Vec::new(),
            soa_email: "hostmaster.auth.test.".into(),
            api_listen: "127.0.0.1:0".parse().unwrap(),
            api_prefix: String::new(),
            tls: None,
            tls_acme: None,
            registration: Registration::Open,
            admin_token_file: None,
            trusted_proxies: Vec::new(),
            secondaries: Vec::new(),
            tsig: None,
        };
        let records = Arc::new(DelegateRecords::new(
            b"\x04auth\x04test\x00".to_vec().into(),
        ));
        let store = store::Shared::new(store::Store::open_in_memory().unwrap());
        Api::new(DelegateStore::Sqlite(store), records, config, None)
    }

    /// The API's SQLite store (every test API has one).
    fn sqlite(api: &Api) -> MutexGuard<'_, store::Store> {
        match &api.store {
            DelegateStore::Sqlite(shared) => shared.lock(),
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(_) => unreachable!("test APIs use SQLite"),
        }
    }

    fn served(api: &Api, subdomain: &str) -> Vec<String> {
        let name = [
            &[subdomain.len() as u8],
            subdomain.as_bytes(),
            b"\x04auth\x04test\x00",
        ];
        let mut values = Vec::new();
        let qtype = crate::dns::wire::TYPE_TXT;
        api.records
            .dynamic()
            .lookup(&name.concat(), qtype, |_, _, rdata| {
                values.push(String::from_utf8(rdata[1..].to_vec()).unwrap())
            });
        values
    }

    /// Two updates of one subdomain: the first commits, and is slow to publish
    /// (paused until the second has answered, or for a while when it cannot);
    /// DNS must end up serving what the store holds — the second's pair —
    /// not the first's older pair published last.
    #[test]
    fn updates_publish_in_commit_order() {
        let api = Arc::new(api());
        let account = crate::store::Account {
            username: creds_uuid(),
            key_hash: "unused".into(),
            subdomain: "sub".into(),
            allowfrom: Vec::new(),
            created_unix: 0,
        };
        sqlite(&api).insert_account(&account).unwrap();
        let (second_done, wait_for_second) = mpsc::channel::<()>();
        *lock(&api.pause_after_commit) = Some(Box::new(move || {
            // With the fix the second waits for our lock: this times out.
            let _ = wait_for_second.recv_timeout(Duration::from_secs(2));
        }));
        let first = {
            let api = api.clone();
            std::thread::spawn(move || api.commit_txt("sub", &"a".repeat(43)).unwrap())
        };
        // The first is paused once the hook is gone (taken by its commit).
        while lock(&api.pause_after_commit).is_some() {
            std::thread::yield_now();
        }
        api.commit_txt("sub", &"b".repeat(43)).unwrap();
        let _ = second_done.send(());
        first.join().unwrap();
        let stored = sqlite(&api).all_subdomains().unwrap();
        assert_eq!(stored[0].1, served(&api, "sub"));
        assert_eq!(served(&api, "sub")[0], "b".repeat(43));
    }

    fn post(api: &Api, peer: &str, headers: &[(&str, &str)], body: &str) -> Response {
        let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_string()));
        let request = Request {
            method: "POST".into(),
            path: "/update".into(),
            query: String::new(),
            headers: headers.collect(),
            body: body.as_bytes().to_vec(),
            peer: format!("{peer}:4711").parse().unwrap(),
        };
        api.handle(&request)
    }

    /// Over its budget a client gets 429 before any key is checked, the right
    /// key included; another client still has its own.
    #[test]
    fn the_update_limit_comes_before_the_key() {
        let api = api();
        *lock(&api.clock_secs) = Some(1000);
        let key = crate::delegate::creds::random_key().unwrap();
        let account = crate::store::Account {
            username: creds_uuid(),
            key_hash: crate::delegate::creds::hash_key(&key).unwrap(),
            subdomain: "sub".into(),
            allowfrom: Vec::new(),
            created_unix: 0,
        };
        sqlite(&api).insert_account(&account).unwrap();
        let headers = [
            ("X-Api-User", account.username.as_str()),
            ("X-Api-Key", &key),
        ];
        let body = format!(
            "{{\"subdomain\": \"sub\", \"txt\": \"{}\"}}",
            "t".repeat(43)
        );
        let malformed = [("X-Api-User", "nobody"), ("X-Api-Key", "short")];
        for _ in 0..limits::UPDATE_BURST {
            assert_eq!(post(&api, "192.0.2.1", &malformed, &body).status, 401);
        }
        let refused = post(&api, "192.0.2.1", &headers, &body);
        assert_eq!(refused, Response::error(429, "too_many_requests"));
        assert_eq!(api.limit_counters().updates_per_client.hits(), 1);
        assert_eq!(post(&api, "192.0.2.2", &headers, &body).status, 200);
        // Time refills the budget.
        *lock(&api.clock_secs) = Some(1000 + 60 / limits::UPDATES_PER_MINUTE);
        assert_eq!(post(&api, "192.0.2.1", &headers, &body).status, 200);
    }

    fn creds_uuid() -> String {
        crate::delegate::creds::random_uuid().unwrap()
    }
}
