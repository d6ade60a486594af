//! `status`, `dns/stats` (with each blocklist's counters), `dns/records` and
//! `dns/cache/flush`.
//!
//! A runtime record is checked by the control handle exactly like a config
//! record, then kept in the store, then served, all under the control's lock
//! (`Control::add_record_with`): a record that does not parse, or a store
//! that cannot write, changes nothing. [`restore`] serves the stored records
//! at start-up.

use serde_json::{Value, json};

use super::{Answer, Api, body_object, control_error, error, ok};
use crate::control::{Control, ControlError};
use crate::http::Request;
use crate::store;

impl Api {
    pub(super) fn status(&self) -> Answer {
        let now = crate::certs::now();
        let build = crate::certs::schedule::BUILD_UNIX;
        ok(
            200,
            &json!({
                "version": env!("CARGO_PKG_VERSION"),
                "started": self.started_unix,
                "uptime_seconds": now.saturating_sub(self.started_unix),
                "roles": self.parts.roles,
                "config": {
                    "source": self.parts.config_source,
                    "loaded": self.parts.control.loaded_unix(),
                },
                "clock": {
                    "now": now,
                    "build": build,
                    "plausible": crate::certs::schedule::clock_plausible(now),
                },
            }),
        )
    }

    pub(super) fn dns_stats(&self) -> Answer {
        let stats = self.parts.control.stats();
        let counter = |name: &str| {
            let found = stats.counters.iter().find(|(n, _)| *n == name);
            found.map_or(0, |(_, value)| *value)
        };
        let forwarder = |name: &str| {
            let found = stats.forwarder.iter().find(|(n, _)| *n == name);
            found.map_or(0, |(_, value)| *value)
        };
        let cache = stats.cache.as_ref().map(|c| {
            json!({
                "entries": c.entries, "bytes": c.bytes, "hits": c.hits,
                "misses": c.misses, "stale": c.stale,
            })
        });
        let upstreams: Vec<Value> = stats
            .upstreams
            .iter()
            .map(|(address, answers, failures, srtt_ms)| {
                json!({
                    "address": address.to_string(), "answers": answers,
                    "failures": failures, "latency_ms": srtt_ms,
                })
            })
            .collect();
        let zones: Vec<Value> = stats
            .zones
            .iter()
            .map(|(name, records, bytes)| json!({"name": name, "records": records, "bytes": bytes}))
            .collect();
        let blocklists: Vec<Value> = stats
            .blocklists
            .iter()
            .map(|list| {
                json!({
                    "name": list.name, "answer": list.answer, "files": list.files,
                    "names": list.load.names, "allowed": list.load.allowed,
                    "skipped_lines": list.load.skipped, "over_limit": list.load.over_limit,
                    "duplicates": list.load.duplicates, "memory_bytes": list.load.heap_bytes,
                    "load_ms": list.load.load_milliseconds, "loaded": list.load.loaded_unix,
                    "blocked": list.blocked, "cname_blocked": list.cname_blocked,
                    "cname_inspection": list.cname_inspection, "names_max": list.names_max,
                    "loads": list.loads, "load_failures": list.load_failures,
                })
            })
            .collect();
        ok(
            200,
            &json!({
                "queries": {
                    "received": counter("dns_queries"),
                    "answered": counter("dns_answered"),
                    "forwarded": counter("dns_forwarded"),
                    "acl_dropped": counter("dns_acl_dropped"),
                    "rate_limited": counter("dns_rate_limited"),
                    "rate_limit_slipped": counter("dns_rate_limit_slipped"),
                    "tcp_rate_limited": counter("dns_tcp_rate_limited"),
                    "tcp_rate_limit_closed": counter("dns_tcp_rate_limit_closed"),
                    "malformed": counter("dns_malformed"),
                    "merged": forwarder("merged"),
                    "stale_served": forwarder("stale_served"),
                    "rebind_dropped": forwarder("rebind_dropped"),
                },
                "cache": cache,
                "zones": zones,
                "prefetch": {
                    "started": forwarder("prefetch_started"),
                    "answered": forwarder("prefetch_answered"),
                    "dropped": forwarder("prefetch_dropped"),
                    "inflight": forwarder("prefetch_inflight"),
                },
                "upstreams": upstreams,
                "blocklists": blocklists,
                "inflight": forwarder("inflight"),
                "process": {
                    "reloads": counter("reloads"),
                    "reload_failures": counter("reload_failures"),
                    "host_reloads": counter("host_reloads"),
                    "interface_changes": counter("interface_changes"),
                },
                "limits": self.limit_hits(&stats),
            }),
        )
    }

    /// Every bound of the process and how often it was hit, by name.
    pub(super) fn limit_hits(
        &self,
        stats: &crate::control::Stats,
    ) -> serde_json::Map<String, Value> {
        let mut limits = serde_json::Map::new();
        for (name, hits) in self.limit_list(stats) {
            limits.insert(name, json!(hits));
        }
        limits
    }

    /// The list is written as it is read (a router may hold thousands of
    /// records: no tree of JSON values, no copy of the records).
    pub(super) fn records(&self) -> Answer {
        #[derive(serde::Serialize)]
        struct Item<'r> {
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<String>,
            zone: &'r str,
            record: &'r str,
            source: &'static str,
        }
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"records\": [");
        let mut failed = None;
        self.parts.control.visit_records(|id, zone, record| {
            if out.len() > b"{\"records\": [".len() {
                out.push(b',');
            }
            let source = if id.is_some() { "runtime" } else { "config" };
            let id = id.map(|id| id.to_string());
            let item = Item {
                id,
                zone,
                record,
                source,
            };
            if let Err(e) = serde_json::to_writer(&mut out, &item) {
                failed = Some(e.to_string());
            }
        });
        if let Some(e) = failed {
            return Err(error(500, "internal", e));
        }
        out.extend_from_slice(b"], \"zones\": ");
        let zones = self.parts.control.zone_names();
        serde_json::to_writer(&mut out, &zones)
            .map_err(|e| error(500, "internal", e.to_string()))?;
        out.push(b'}');
        Ok(crate::http::Response::json(200, out))
    }

    pub(super) fn add_record(&self, request: &Request) -> Answer {
        let body = body_object(request)?;
        let text = |key: &str| match body.get(key) {
            Some(Value::String(value)) => Ok(value.as_str()),
            _ => Err(error(
                400,
                "invalid",
                format!(
                    "`{key}` is required, a string (e.g. {{\"zone\": \"home.example.com\", \"record\": \"nas 300 A 192.168.1.10\"}})"
                ),
            )),
        };
        let (zone, record) = (text("zone")?, text("record")?);
        let added = add_persisted(&self.parts.control, &self.parts.store, zone, record)
            .map_err(control_error)?;
        log::info!(
            "api: runtime record {} added in {}: {}",
            added.id,
            added.zone,
            added.record
        );
        ok(
            201,
            &json!({
                "id": added.id.to_string(), "zone": added.zone, "record": added.record,
                "source": "runtime",
            }),
        )
    }

    pub(super) fn delete_record(&self, id: &str) -> Answer {
        let not_found = || error(404, "not_found", format!("no runtime record {id}"));
        let Ok(id) = id.parse::<u64>() else {
            return Err(not_found());
        };
        let store = &self.parts.store;
        let removed = self.parts.control.remove_record_with(id, || {
            let stored = i64::try_from(id).map_err(|_| ControlError::NotFound)?;
            match store.lock().delete_runtime_record(stored) {
                Ok(_) => Ok(()),
                Err(e) => Err(ControlError::Store(e.to_string())),
            }
        });
        match removed {
            Ok(()) => {
                log::info!("api: runtime record {id} deleted");
                Ok(crate::http::Response::json(204, Vec::new()))
            }
            // A stored record that no longer fits the config is not served,
            // but it can still be deleted.
            Err(ControlError::NotFound) => match i64::try_from(id) {
                Ok(stored) if matches!(store.lock().delete_runtime_record(stored), Ok(true)) => {
                    log::info!("api: unserved runtime record {id} deleted from the store");
                    Ok(crate::http::Response::json(204, Vec::new()))
                }
                _ => Err(not_found()),
            },
            Err(e) => Err(control_error(e)),
        }
    }

    pub(super) fn flush(&self, request: &Request) -> Answer {
        let body = body_object(request)?;
        let name = match body.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.as_str()),
            Some(_) => return Err(error(400, "invalid", "`name` must be a string")),
        };
        let flushed = self
            .parts
            .control
            .flush_cache(name)
            .map_err(control_error)?;
        log::info!(
            "api: cache flushed ({}): {flushed} entries",
            name.unwrap_or("all")
        );
        ok(200, &json!({ "flushed": flushed, "name": name }))
    }
}

/// Adds a runtime record that the store keeps (under the store's id).
pub fn add_persisted(
    control: &Control,
    store: &store::Shared,
    zone: &str,
    record: &str,
) -> Result<crate::control::RuntimeRecord, ControlError> {
    control.add_record_with(zone, record, |checked, _| {
        let now = crate::certs::now();
        let kept = store
            .lock()
            .insert_runtime_record(&checked.zone, &checked.record, now);
        match kept {
            Ok(id) => u64::try_from(id).map_err(|_| ControlError::Store(format!("id {id}"))),
            Err(store::StoreError::Full(message)) => {
                log::warn!("api: {message}");
                Err(ControlError::Full("the runtime record table"))
            }
            Err(e) => Err(ControlError::Store(e.to_string())),
        }
    })
}

/// Serves the records the store keeps (at start-up). One that no longer fits
/// the config (its zone is gone, it clashes) stays in the store, unserved, and
/// is named in the log.
pub fn restore(control: &Control, store: &store::Shared) -> Result<usize, String> {
    let rows = store.lock().runtime_records().map_err(|e| e.to_string())?;
    let records: Vec<crate::control::RuntimeRecord> = rows
        .into_iter()
        .filter_map(|row| {
            let id = u64::try_from(row.id).ok()?;
            let (zone, record) = (row.zone, row.record);
            Some(crate::control::RuntimeRecord { id, zone, record })
        })
        .collect();
    let count = records.len();
    let refused = control.restore_records(records);
    for (record, e) in &refused {
        log::warn!(
            "api: stored runtime record {} ({} in {}) not served: {e}",
            record.id,
            record.record,
            record.zone
        );
    }
    Ok(count - refused.len())
}
