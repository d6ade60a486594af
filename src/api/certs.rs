//! `certs`, `certs/{name}`, `certs/{name}/setup`, `certs/{name}/renew`,
//! `keys/{name}` and `delegate`: what the certs and delegate roles report,
//! and the two things the owner asks of them (a renewal now, the key files).
//!
//! `keys` serves private keys: off unless `keys_endpoint = true`, and every
//! download is logged with the client's address.

use serde_json::{Value, json};

use super::{Answer, Api, control_error, error, ok};
use crate::certs::cli::{SetupRecord, Status, status_of};
use crate::config::{Cert, Registration};
use crate::http::Request;

/// The files of a deployed certificate, as localtls's JSON names them.
const KEY_FILES: [(&str, &str); 4] = [
    ("privkey", "privkey.pem"),
    ("cert", "cert.pem"),
    ("chain", "chain.pem"),
    ("fullchain", "fullchain.pem"),
];
/// A PEM file read for `keys` at most: a chain of a few certificates.
const KEY_FILE_BYTES_MAX: u64 = 64 * 1024;

fn status_json(status: &Status) -> Value {
    serde_json::to_value(status).unwrap_or_default()
}

fn record_json(record: &SetupRecord) -> Value {
    json!({
        "purpose": record.purpose,
        "name": record.owner,
        "type": record.rtype,
        "value": record.value,
        "required": record.required,
        "text": record.text(),
    })
}

impl Api {
    fn find_cert(&self, name: &str) -> Result<&Cert, crate::http::Response> {
        let found = self.parts.certs.iter().find(|c| c.name == name);
        found.ok_or_else(|| error(404, "not_found", format!("no certificate named `{name}`")))
    }

    /// Every certificate's status.
    pub(super) fn statuses(&self) -> Result<Vec<Status>, crate::http::Response> {
        let all = self.parts.certs.iter();
        let read = all.map(|cert| status_of(cert, &self.parts.store));
        read.collect::<Result<Vec<_>, _>>()
            .map_err(|e| error(500, "store_error", e))
    }

    pub(super) fn certs(&self) -> Answer {
        let all = self.statuses()?;
        let certs: Vec<Value> = all.iter().map(status_json).collect();
        ok(200, &json!({ "certs": certs }))
    }

    pub(super) fn cert(&self, name: &str) -> Answer {
        let cert = self.find_cert(name)?;
        let status =
            status_of(cert, &self.parts.store).map_err(|e| error(500, "store_error", e))?;
        ok(200, &status_json(&status))
    }

    /// The records to add once. Registers at the delegate and creates the ACME
    /// account first if the certs role has not yet (both are kept), so this may
    /// take as long as a round trip to each.
    pub(super) fn cert_setup(&self, name: &str) -> Answer {
        let cert = self.find_cert(name)?;
        let Some(context) = &self.parts.certs_context else {
            return Err(error(409, "role_off", "the certs role is not enabled"));
        };
        let runtime = crate::certs::runtime().map_err(|e| error(500, "internal", e))?;
        let records = runtime
            .block_on(crate::certs::cli::setup_records(context, cert))
            .map_err(|e| error(502, "setup_failed", e))?;
        let text: Vec<String> = records.iter().map(SetupRecord::text).collect();
        let records: Vec<Value> = records.iter().map(record_json).collect();
        ok(
            200,
            &json!({ "name": cert.name, "records": records, "text": text.join("\n") + "\n" }),
        )
    }

    pub(super) fn cert_renew(&self, name: &str) -> Answer {
        let cert = self.find_cert(name)?;
        self.parts
            .control
            .request_renewal(&cert.name)
            .map_err(control_error)?;
        log::info!("api: renewal of `{name}` requested");
        ok(202, &json!({ "name": cert.name, "renewal": "requested" }))
    }

    /// localtls's `{"privkey", "cert", "chain", "fullchain"}` (seed 004).
    pub(super) fn keys(&self, name: &str, request: &Request) -> Answer {
        if !self.settings.keys_endpoint {
            return Err(error(
                403,
                "keys_endpoint_off",
                "key download is off: set keys_endpoint = true in [api]",
            ));
        }
        let cert = self.find_cert(name)?;
        // All four from the one set `current` names (a deploy may switch it
        // meanwhile; a set removed under us is read again from the new one).
        let read_set = || {
            let set = crate::certs::deploy::current_set(&cert.dir);
            let from = set.as_deref().unwrap_or(&cert.dir);
            let mut body = serde_json::Map::new();
            for (key, file) in KEY_FILES {
                let path = from.join(file);
                let text = read_pem(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                body.insert(key.to_string(), Value::String(text));
            }
            Ok::<_, String>(body)
        };
        let body = read_set()
            .or_else(|_| read_set())
            .map_err(|e| error(404, "not_deployed", e))?;
        log::warn!(
            "api: private key of `{name}` downloaded by {}",
            request.peer.ip()
        );
        ok(200, &Value::Object(body))
    }

    pub(super) fn delegate(&self) -> Answer {
        let Some(delegate) = &self.parts.delegate else {
            return Err(error(409, "role_off", "the delegate role is not enabled"));
        };
        let api = &delegate.api;
        let accounts = api
            .account_count()
            .map_err(|e| error(500, "store_error", e.to_string()))?;
        let activity = api.activity();
        let now = crate::clock::monotonic_secs();
        let limits = api.limit_counters();
        let mode = match api.registration() {
            Registration::Open => "open",
            Registration::Token => "token",
            Registration::Closed => "closed",
        };
        ok(
            200,
            &json!({
                "registration": mode,
                "accounts": accounts,
                "registrations": activity.registrations(),
                "updates": activity.updates(),
                "updates_last_minute": activity.updates_within(1, now),
                "updates_last_hour": activity.updates_within(60, now),
                "limits": {
                    "registrations_per_client": limits.registrations_per_client.hits(),
                    "registrations_per_48": limits.registrations_per_48.hits(),
                    "registrations_everyone": limits.registrations_everyone.hits(),
                    "updates_per_client": limits.updates_per_client.hits(),
                },
            }),
        )
    }
}

/// A PEM file, bounded, as text.
fn read_pem(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(KEY_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > KEY_FILE_BYTES_MAX {
        return Err(format!("larger than {KEY_FILE_BYTES_MAX} bytes"));
    }
    Ok(text)
}
