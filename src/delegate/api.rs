//! The acme-dns-compatible HTTP API: `POST /register`, `POST /update`,
//! `GET /health`, at `/` and under `api_prefix`.
//!
//! Owns the API's rules (DESIGN.md §4, ../shared/ACME-DNS-COMPAT.md): status codes
//! and error bodies exactly as acme-dns writes them, JSON keys matched without
//! regard to case (older lego sends `SubDomain`, `Txt`, `AllowFrom`), a body read
//! whatever its content type. Every authentication failure is the same 401
//! `forbidden`, after the same bcrypt work whether or not the user exists. The
//! store commits before the DNS table changes, so an acknowledged update is on
//! disk and served; a failed write answers 500 `db_error` and changes nothing.
//! Runs on the HTTP server's bounded worker pool (bcrypt and SQLite block).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

use crate::config::{Delegate, Registration};
use crate::delegate::creds;
use crate::delegate::zone::DelegateRecords;
use crate::http::{Request, Response};
use crate::store::{self, Account, Store};

/// Registrations one client address may make per `REGISTRATION_WINDOW_SECS`.
const REGISTRATIONS_PER_WINDOW: u32 = 20;
const REGISTRATION_WINDOW_SECS: u64 = 3600;
/// Accounts at most: a bound on the store (and on the memory of the DNS table).
const ACCOUNTS_MAX: usize = 100_000;
/// Clients (IPv4 addresses, IPv6 /64s) remembered for the registration limit; the
/// oldest window is evicted when full.
const REGISTRATION_CLIENTS_MAX: usize = 4096;

/// The API's state: the store (shared with the other roles), the DNS table it
/// keeps in step, and the config.
pub struct Api {
    store: store::Shared,
    records: Arc<DelegateRecords>,
    config: Delegate,
    admin_token: Option<String>,
    /// Client address → (window start, registrations in it).
    registrations: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("zone", &self.config.zone)
            .finish_non_exhaustive()
    }
}

fn error(status: u16, code: &str) -> Response {
    Response::json(status, format!("{{\"error\": \"{code}\"}}"))
}

/// The value of `key` in a JSON object, matched without regard to case.
fn field<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

impl Api {
    pub fn new(
        store: store::Shared,
        records: Arc<DelegateRecords>,
        config: Delegate,
        admin_token: Option<String>,
    ) -> Self {
        Self {
            store,
            records,
            config,
            admin_token,
            registrations: Mutex::new(HashMap::new()),
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
            (_, "/register" | "/update" | "/health") => error(405, "method_not_allowed"),
            _ => error(404, "not_found"),
        }
    }

    /// The client's address: the socket peer, or from a trusted proxy the
    /// right-most `X-Forwarded-For` address that is not itself a trusted proxy.
    fn client_ip(&self, request: &Request) -> IpAddr {
        let peer = request.peer.ip();
        let trusted = |ip: IpAddr| self.config.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(peer) {
            return peer;
        }
        let Some(forwarded) = request.header("x-forwarded-for") else {
            return peer;
        };
        let hops: Vec<IpAddr> = forwarded
            .split(',')
            .filter_map(|hop| {
                hop.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .ok()
            })
            .collect();
        hops.iter()
            .rev()
            .copied()
            .find(|ip| !trusted(*ip))
            .unwrap_or(peer)
    }

    fn register(&self, request: &Request) -> Response {
        match self.config.registration {
            Registration::Open => {}
            Registration::Closed => return error(403, "registration_closed"),
            Registration::Token => {
                let given = request
                    .header("authorization")
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .map(str::trim);
                let expected = self.admin_token.as_deref();
                if given.is_none() || expected.is_none() || !constant_time_eq(given, expected) {
                    return error(401, "forbidden");
                }
            }
        }
        let client = self.client_ip(request);
        if !self.registration_allowed(client) {
            return error(429, "too_many_registrations");
        }
        let allowfrom = match parse_allowfrom(&request.body) {
            Ok(list) => list,
            Err(response) => return response,
        };
        let (Ok(username), Ok(subdomain), Ok(password)) = (
            creds::random_uuid(),
            creds::random_uuid(),
            creds::random_key(),
        ) else {
            return error(500, "db_error");
        };
        let Ok(key_hash) = creds::hash_key(&password) else {
            return error(500, "db_error");
        };
        let account = Account {
            username: username.clone(),
            key_hash,
            subdomain: subdomain.clone(),
            allowfrom: allowfrom.clone(),
            created_unix: i64::try_from(crate::clock::unix_seconds()).unwrap_or(i64::MAX),
        };
        {
            let mut store = self.store();
            match store.account_count() {
                Ok(count) if count >= ACCOUNTS_MAX => return error(503, "too_many_accounts"),
                Ok(_) => {}
                Err(e) => {
                    log::error!("delegate: register: {e}");
                    return error(500, "db_error");
                }
            }
            if let Err(e) = store.insert_account(&account) {
                log::error!("delegate: register: {e}");
                return error(500, "db_error");
            }
        }
        self.records.set(&subdomain, &[]);
        let fulldomain = format!("{subdomain}.{}", self.config.zone);
        let body = serde_json::json!({
            "username": username,
            "password": password,
            "fulldomain": fulldomain,
            "subdomain": subdomain,
            "allowfrom": allowfrom,
            "server_url": self.server_url(request),
        });
        log::info!("delegate: registered {fulldomain} for {client}");
        Response::json(201, body.to_string())
    }

    fn update(&self, request: &Request) -> Response {
        let user = request.header("x-api-user").unwrap_or_default();
        let key = request.header("x-api-key").unwrap_or_default();
        let valid = creds::valid_username(user) && creds::valid_key(key);
        let account = if valid {
            match self.store().account(&user.to_ascii_lowercase()) {
                Ok(account) => account,
                Err(e) => {
                    log::error!("delegate: update: {e}");
                    return error(500, "db_error");
                }
            }
        } else {
            None
        };
        // The same bcrypt work for an unknown user as for a wrong key.
        let key_ok = creds::verify_key(key, account.as_ref().map(|a| a.key_hash.as_str()));
        let Some(account) = account.filter(|_| valid && key_ok) else {
            return error(401, "forbidden");
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
            return error(400, "malformed_json_payload");
        };
        let subdomain = field(&body, "subdomain")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !subdomain.eq_ignore_ascii_case(&account.subdomain)
            || !creds::allowed_from(&account.allowfrom, self.client_ip(request))
        {
            return error(401, "forbidden");
        }
        let txt = match field(&body, "txt") {
            Some(Value::String(txt)) if creds::valid_txt(txt) => txt.clone(),
            _ => return error(400, "bad_txt"),
        };
        let now = i64::try_from(crate::clock::unix_seconds()).unwrap_or(i64::MAX);
        let values = match self.store().set_txt(&account.subdomain, &txt, now) {
            Ok(values) => values,
            Err(e) => {
                log::error!("delegate: update: {e}");
                return error(500, "db_error");
            }
        };
        self.records.set(&account.subdomain, &values);
        Response::json(200, serde_json::json!({ "txt": txt }).to_string())
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock()
    }

    /// The API's base URL as this client reached it.
    fn server_url(&self, request: &Request) -> String {
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let host = request
            .header("host")
            .map_or_else(|| self.config.api_listen.to_string(), str::to_string);
        format!("{scheme}://{host}{}", self.config.api_prefix)
    }

    /// At most `REGISTRATIONS_PER_WINDOW` per client per window; an IPv6 client is
    /// its /64 (one host owns a whole /64, and must not fill the table alone). The
    /// table has a fixed size: when full, the oldest window makes room.
    fn registration_allowed(&self, client: IpAddr) -> bool {
        let client = match client {
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            v4 => v4,
        };
        let now = crate::clock::unix_seconds();
        let mut table = self
            .registrations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if table.len() >= REGISTRATION_CLIENTS_MAX && !table.contains_key(&client) {
            table.retain(|_, (start, _)| now.saturating_sub(*start) < REGISTRATION_WINDOW_SECS);
            if table.len() >= REGISTRATION_CLIENTS_MAX
                && let Some(oldest) = table
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(ip, _)| *ip)
            {
                table.remove(&oldest);
            }
        }
        let entry = table.entry(client).or_insert((now, 0));
        if now.saturating_sub(entry.0) >= REGISTRATION_WINDOW_SECS {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= REGISTRATIONS_PER_WINDOW
    }
}

/// `allowfrom` from a register body: empty or absent body → none; anything else
/// must be a JSON object whose `allowfrom` (any case), if present, is a list of
/// CIDR strings.
fn parse_allowfrom(body: &[u8]) -> Result<Vec<String>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let malformed = || error(400, "malformed_json_payload");
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return Err(malformed());
    };
    let list = match field(&object, "allowfrom") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(malformed()),
    };
    let mut cidrs = Vec::with_capacity(list.len());
    for item in list {
        let Value::String(cidr) = item else {
            return Err(malformed());
        };
        cidrs.push(cidr.clone());
    }
    creds::normalise_allowfrom(&cidrs).map_err(|()| error(400, "invalid_allowfrom_cidr"))
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: Option<&str>, b: Option<&str>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return false;
    };
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn api() -> Api {
        let config = Delegate {
            zone: "auth.test".into(),
            ns: vec!["ns1.auth.test.".into()],
            ns_addresses: Vec::new(),
            soa_email: "hostmaster.auth.test.".into(),
            api_listen: "127.0.0.1:0".parse().unwrap(),
            api_prefix: String::new(),
            tls: None,
            registration: Registration::Open,
            admin_token_file: None,
            trusted_proxies: Vec::new(),
        };
        let records = Arc::new(DelegateRecords::new(
            b"\x04auth\x04test\x00".to_vec().into(),
        ));
        let store = store::Shared::new(Store::open_in_memory().unwrap());
        Api::new(store, records, config, None)
    }

    #[test]
    fn registration_limit_per_address_and_per_64() {
        let api = api();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for _ in 0..REGISTRATIONS_PER_WINDOW {
            assert!(api.registration_allowed(ip("2001:db8::1")));
        }
        assert!(!api.registration_allowed(ip("2001:db8::1")));
        assert!(!api.registration_allowed(ip("2001:db8::ffff")), "same /64");
        assert!(api.registration_allowed(ip("2001:db8:0:1::1")));
        assert!(api.registration_allowed(ip("192.0.2.1")));
        // A full table evicts the oldest window instead of refusing everyone.
        for n in 0..REGISTRATION_CLIENTS_MAX as u32 {
            api.registration_allowed(IpAddr::V4((0x0a00_0000 + n).into()));
        }
        assert!(api.registration_allowed(ip("198.51.100.1")));
        assert!(api.registrations.lock().unwrap().len() <= REGISTRATION_CLIENTS_MAX);
    }
}
