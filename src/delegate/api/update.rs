//! `POST /update`: a new TXT value for the caller's subdomain, after the
//! per-client limit (before the bcrypt: an unauthenticated request must not be
//! able to buy more than its share), the key, the subdomain and `allowfrom`
//! checks. Stored, then published to DNS in commit order.

use serde_json::Value;

use super::{Api, field, limits, lock};
use crate::delegate::creds;
use crate::http::{Request, Response};
use crate::store::StoreError;

impl Api {
    pub(super) fn update(&self, request: &Request) -> Response {
        let client = self.client_ip(request);
        if !lock(&self.updates).take(client, self.now_secs()) {
            self.limit_counters.updates_per_client.hit();
            return Response::error(429, "too_many_requests");
        }
        // Then the bucket all nodes share (none with one node).
        if self.store.is_shared() {
            let key = limits::shared_update_key(client);
            match self
                .store
                .take_shared(&key, limits::UPDATE_BURST, limits::UPDATES_PER_MINUTE)
            {
                Ok(true) => {}
                Ok(false) => {
                    self.limit_counters.updates_per_client.hit();
                    return Response::error(429, "too_many_requests");
                }
                Err(e) => {
                    log::error!("delegate: update: {e}");
                    return Response::error(500, "db_error");
                }
            }
        }
        let user = request.header("x-api-user").unwrap_or_default();
        let key = request.header("x-api-key").unwrap_or_default();
        // A username or key of the wrong shape is refused without hashing, as
        // acme-dns does: the shape is public, so no time difference tells an
        // attacker anything, and garbage costs no bcrypt.
        if !creds::valid_username(user) || !creds::valid_key(key) {
            return Response::error(401, "forbidden");
        }
        let account = match self.store.account(&user.to_ascii_lowercase()) {
            Ok(account) => account,
            Err(e) => {
                log::error!("delegate: update: {e}");
                return Response::error(500, "db_error");
            }
        };
        // The same bcrypt work for an unknown user as for a wrong key.
        let key_ok = creds::verify_key(key, account.as_ref().map(|a| a.key_hash.as_str()));
        let Some(account) = account.filter(|_| key_ok) else {
            return Response::error(401, "forbidden");
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&request.body) else {
            return Response::error(400, "malformed_json_payload");
        };
        let subdomain = field(&body, "subdomain")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !subdomain.eq_ignore_ascii_case(&account.subdomain)
            || !creds::allowed_from(&account.allowfrom, client)
        {
            return Response::error(401, "forbidden");
        }
        let txt = match field(&body, "txt") {
            Some(Value::String(txt)) if creds::valid_txt(txt) => txt.clone(),
            _ => return Response::error(400, "bad_txt"),
        };
        if let Err(e) = self.commit_txt(&account.subdomain, &txt) {
            log::error!("delegate: update: {e}");
            return Response::error(500, "db_error");
        }
        self.activity.updated(crate::clock::monotonic_secs());
        Response::json(200, serde_json::json!({ "txt": txt }).to_string())
    }

    /// Stores `txt` for `subdomain` and publishes the values now stored to DNS,
    /// while still holding the store (SQLite; PostgreSQL publishes through the
    /// node's listener, in commit order too): two updates racing for one
    /// subdomain then publish in the order they committed. Published after the
    /// lock is let go, the older pair could land last and be served until the
    /// next update.
    pub(super) fn commit_txt(&self, subdomain: &str, txt: &str) -> Result<(), StoreError> {
        let now = i64::try_from(crate::clock::unix_seconds()).unwrap_or(i64::MAX);
        self.store.set_txt(subdomain, txt, now, |values, serial| {
            #[cfg(test)]
            self.pause_after_commit();
            self.records.commit(subdomain, values, serial);
        })
    }

    #[cfg(test)]
    fn pause_after_commit(&self) {
        let pause = lock(&self.pause_after_commit).take();
        if let Some(pause) = pause {
            pause();
        }
    }
}
