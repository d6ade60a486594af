//! `POST /register`: a new account (username, key, subdomain), within the
//! registration mode and limits, before any bcrypt is spent on it.

use serde_json::Value;

use super::limits::ACCOUNTS_MAX;
use super::{Api, field, limits, lock};
use crate::config::Registration;
use crate::delegate::creds;
use crate::http::{Request, Response};
use crate::store::{Account, StoreError};

impl Api {
    pub(super) fn register(&self, request: &Request) -> Response {
        if let Some(refusal) = self.registration_refusal(request) {
            return refusal;
        }
        let allowfrom = match parse_allowfrom(&request.body) {
            Ok(list) => list,
            Err(response) => return response,
        };
        let client = self.client_ip(request);
        if let Err(limit) = lock(&self.registrations).admit(client, self.now_secs()) {
            self.limit_counters.registration(limit).hit();
            return Response::error(429, "too_many_registrations");
        }
        // This node's own check first (it bounds what a client can make the
        // node do, database writes included), then the one all nodes share
        // (none with one node; without the postgres feature `is_shared` is
        // false and this is compiled out).
        if self.store.is_shared() {
            let windows = limits::shared_registration_windows(client);
            match self.store.admit_shared(&windows) {
                Ok(None) => {}
                Ok(Some(refused)) => {
                    let limit = limits::shared_registration_limit(refused, client);
                    self.limit_counters.registration(limit).hit();
                    return Response::error(429, "too_many_registrations");
                }
                Err(e) => {
                    log::error!("delegate: register: {e}");
                    return Response::error(500, "db_error");
                }
            }
        }
        let (Ok(username), Ok(subdomain), Ok(password)) = (
            creds::random_uuid(),
            creds::random_uuid(),
            creds::random_key(),
        ) else {
            return Response::error(500, "db_error");
        };
        let Ok(key_hash) = creds::hash_key(&password) else {
            return Response::error(500, "db_error");
        };
        let account = Account {
            username: username.clone(),
            key_hash,
            subdomain: subdomain.clone(),
            allowfrom: allowfrom.clone(),
            created_unix: i64::try_from(crate::clock::unix_seconds()).unwrap_or(i64::MAX),
        };
        if let Err(response) = self.insert_account(&account) {
            return response;
        }
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
        self.activity.registered();
        Response::json(201, body.to_string())
    }

    /// What the registration mode says to this request, if it refuses it.
    fn registration_refusal(&self, request: &Request) -> Option<Response> {
        match self.config.registration {
            Registration::Open => None,
            Registration::Closed => Some(Response::error(403, "registration_closed")),
            Registration::Token => {
                let given = request.header("authorization");
                let expected = self.admin_token.as_deref().unwrap_or_default();
                let admitted = crate::secret::bearer_matches(given, expected);
                (!admitted).then(|| Response::error(401, "forbidden"))
            }
        }
    }

    /// Stores the account (within `ACCOUNTS_MAX`, counted inside the writing
    /// transaction: with several nodes, only the store sees every account) and
    /// publishes its empty TXT set in commit order (see `DelegateStore`).
    fn insert_account(&self, account: &Account) -> Result<(), Response> {
        let publish = |serial| self.records.commit(&account.subdomain, &[], serial);
        match self.store.register(account, ACCOUNTS_MAX, publish) {
            Ok(()) => Ok(()),
            Err(StoreError::Full(_)) => Err(Response::error(503, "too_many_accounts")),
            Err(e) => {
                log::error!("delegate: register: {e}");
                Err(Response::error(500, "db_error"))
            }
        }
    }

    /// The API's base URL as this client reached it.
    fn server_url(&self, request: &Request) -> String {
        let scheme = if self.config.tls.is_some() || self.config.tls_acme.is_some() {
            "https"
        } else {
            "http"
        };
        let host = request
            .header("host")
            .map_or_else(|| self.config.api_listen.to_string(), str::to_string);
        format!("{scheme}://{host}{}", self.config.api_prefix)
    }
}

/// `allowfrom` from a register body: empty or absent body → none; anything else
/// must be a JSON object whose `allowfrom` (any case), if present, is a list of
/// CIDR strings.
fn parse_allowfrom(body: &[u8]) -> Result<Vec<String>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let malformed = || Response::error(400, "malformed_json_payload");
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
    creds::normalise_allowfrom(&cidrs).map_err(|()| Response::error(400, "invalid_allowfrom_cidr"))
}
