//! The certs role's command line: `lanseal certs status|setup|renew|import-lego|
//! export-lego`. Each opens the config's store itself; `renew` goes through the
//! running daemon when one holds `certs.lock`, else renews here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::http::Method;
use serde_json::Value;

use super::{
    Context, Turn, acmedns, caa, deployed, iso8601, new_row, now, order, runtime, take_lock, turn,
};
use crate::api::client::LocalApi;
use crate::config::{Cert, Challenge, Config};
use crate::store;

/// The store of a config's state directory, opened for the command line.
fn open_store(state_dir: &Path) -> Result<store::Shared, String> {
    let path = state_dir.join(store::FILE_NAME);
    store::Store::open(&path)
        .map(store::Shared::new)
        .map_err(|e| e.to_string())
}

fn find<'c>(config: &'c Config, name: &str) -> Result<&'c Cert, String> {
    config.certs.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = config.certs.iter().map(|c| c.name.as_str()).collect();
        format!(
            "no [[cert]] named `{name}` in {} (there are: {})",
            config.source,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )
    })
}

/// One certificate as `certs status` and the local API show it (the API's JSON
/// is this, serialized; the command line reads it back from a running daemon).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    pub name: String,
    pub domains: Vec<String>,
    pub challenge: String,
    /// `pending`, `valid`, `waiting_for_cname`, `failed`, ...
    pub state: String,
    /// The deployed certificate's validity (unix seconds), if one is deployed.
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub dir: PathBuf,
    /// The next attempt (unix seconds) and why then; `None` before the daemon
    /// first looked at it.
    #[serde(rename = "next_renewal")]
    pub renew_after: Option<i64>,
    #[serde(rename = "next_renewal_reason")]
    pub reason: Option<String>,
    pub last_error: Option<String>,
    pub failures: u32,
    pub renew_requested: bool,
}

/// The status of `cert`: its store row and the certificate deployed in its dir.
pub fn status_of(cert: &Cert, store: &store::Shared) -> Result<Status, String> {
    let row = store
        .lock()
        .certificate(&cert.name)
        .map_err(|e| e.to_string())?;
    let row = row.unwrap_or_else(|| new_row(cert));
    let deployed = deployed(cert);
    Ok(Status {
        name: cert.name.clone(),
        domains: cert.domains.clone(),
        challenge: cert.challenge.name().to_string(),
        state: row.state,
        not_before: deployed.as_ref().map(|info| info.not_before),
        not_after: deployed.as_ref().map(|info| info.not_after),
        dir: cert.dir.clone(),
        renew_after: row.renew_after,
        reason: row.reason,
        last_error: row.last_error,
        failures: row.failures,
        renew_requested: row.renew_requested,
    })
}

/// `certs status`: one paragraph per certificate; from the running daemon's
/// local API when it answers, else from the store.
pub fn status(config: &Config, state_dir: &Path) -> Result<String, String> {
    if let Some(api) = LocalApi::of(config) {
        let runtime = runtime()?;
        let answer = runtime.block_on(api.call(Method::GET, "certs", None))?;
        let certs = answer.get("certs").cloned().unwrap_or_default();
        let all: Vec<Status> = serde_json::from_value(certs)
            .map_err(|e| format!("the local API's certificate list: {e}"))?;
        return Ok(status_text(&all));
    }
    let store = open_store(state_dir)?;
    let mut all = Vec::new();
    for cert in &config.certs {
        all.push(status_of(cert, &store)?);
    }
    Ok(status_text(&all))
}

/// The text of `certs status` for these certificates.
pub fn status_text(all: &[Status]) -> String {
    let mut out = String::new();
    for status in all {
        out.push_str(&format!(
            "{}\n  names:        {}\n",
            status.name,
            status.domains.join(", ")
        ));
        out.push_str(&format!("  state:        {}\n", status.state));
        match status.not_after {
            Some(not_after) => out.push_str(&format!(
                "  not after:    {}\n  deployed in:  {}\n",
                iso8601(not_after),
                status.dir.display()
            )),
            None => out.push_str(&format!(
                "  not after:    (no certificate in {})\n",
                status.dir.display()
            )),
        }
        match status.renew_after {
            Some(at) => out.push_str(&format!(
                "  next renewal: {} ({})\n",
                iso8601(at),
                status.reason.as_deref().unwrap_or("scheduled")
            )),
            None => out.push_str("  next renewal: as soon as the daemon runs\n"),
        }
        if let Some(error) = &status.last_error {
            out.push_str(&format!(
                "  last error:   {error} (failures: {})\n",
                status.failures
            ));
        }
    }
    if all.is_empty() {
        out.push_str("no [[cert]] in the config\n");
    }
    out
}

/// One record the owner adds once, for `certs setup` and the local API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupRecord {
    /// `cname` (dns-01 via the delegate), `persist` (dns-persist-01), `caa`.
    pub purpose: &'static str,
    /// Absolute, with the final dot.
    pub owner: String,
    pub rtype: &'static str,
    /// The record data as a zone file writes it.
    pub value: String,
    /// Required for issuance (false: recommended, the CAA records).
    pub required: bool,
}

impl SetupRecord {
    /// The record as one zone-file line.
    pub fn text(&self) -> String {
        let line = format!("{} {} {}", self.owner, self.rtype, self.value);
        if self.required {
            line
        } else {
            format!("{line}  ; recommended")
        }
    }
}

/// `certs setup NAME`: the records the owner adds once (and registration at the
/// delegate, which creates the account name the records carry).
pub fn setup(config: &Config, state_dir: &Path, name: &str) -> Result<String, String> {
    let cert = find(config, name)?;
    let store = open_store(state_dir)?;
    let context = Context::new(config, store, None)?;
    let runtime = runtime()?;
    let records = runtime.block_on(setup_records(&context, cert))?;
    let lines: Vec<String> = records.iter().map(|r| r.text() + "\n").collect();
    Ok(lines.concat())
}

/// The records `cert` needs: the ACME account is created and the delegate
/// registration made if the store has none yet (both are kept).
pub async fn setup_records(context: &Context, cert: &Cert) -> Result<Vec<SetupRecord>, String> {
    let meta = order::directory_meta(context)
        .await
        .map_err(|e| e.to_string())?;
    let account = context.account().await.map_err(|e| e.to_string())?;
    let identity = meta
        .caa_identities
        .first()
        .cloned()
        .unwrap_or_else(|| "letsencrypt.org".to_string());
    let mut records = Vec::new();
    for base in &order::base_domains(cert) {
        let wildcard = order::has_wildcard(cert, base);
        match cert.challenge {
            Challenge::Dns01 => {
                let credentials = context
                    .delegate_credentials(cert, base)
                    .await
                    .map_err(|e| e.to_string())?;
                let domain = acmedns::base_domain(base).trim_end_matches('.');
                records.push(SetupRecord {
                    purpose: "cname",
                    owner: format!("_acme-challenge.{domain}."),
                    rtype: "CNAME",
                    value: format!("{}.", credentials.fulldomain.trim_end_matches('.')),
                    required: true,
                });
            }
            Challenge::OwnZone => {}
            Challenge::DnsPersist01 => {
                let (owner, value) = order::persist_record(base, &identity, account.id(), wildcard);
                records.push(SetupRecord {
                    purpose: "persist",
                    owner: format!("{owner}."),
                    rtype: "TXT",
                    value: format!("\"{value}\""),
                    required: true,
                });
            }
        }
        for (owner, value) in caa::recommended_records(
            base,
            &identity,
            account.id(),
            cert.challenge.name(),
            wildcard,
        ) {
            records.push(SetupRecord {
                purpose: "caa",
                owner,
                rtype: "CAA",
                value,
                required: false,
            });
        }
    }
    Ok(records)
}

/// `certs renew NAME`: through the running daemon when one runs (its local
/// API, else the store's flag when it holds the lock), else here and now.
/// Returns the certificate's status afterwards.
pub fn renew(config: &Config, state_dir: &Path, name: &str) -> Result<Status, String> {
    let cert = find(config, name)?;
    if let Some(api) = LocalApi::of(config) {
        let runtime = runtime()?;
        return runtime.block_on(renew_through(&api, name));
    }
    let store = open_store(state_dir)?;
    if let Some(_lock) = take_lock(state_dir)? {
        let context = Context::new(config, store.clone(), None)?;
        let runtime = runtime()?;
        runtime.block_on(turn(&context, cert, Turn::Forced));
        return status_of(cert, &store);
    }
    // A daemon runs without the local API: ask it through the store, and wait
    // for its answer there.
    let before = store.lock().certificate(name).map_err(|e| e.to_string())?;
    let asked = store
        .lock()
        .request_certificate_renewal(name)
        .map_err(|e| e.to_string())?;
    if !asked {
        return Err(format!(
            "the daemon has not scheduled `{name}` yet; try again in a few seconds"
        ));
    }
    let deadline = std::time::Instant::now() + RENEW_WAIT;
    loop {
        std::thread::sleep(RENEW_POLL);
        let row = store.lock().certificate(name).map_err(|e| e.to_string())?;
        if let Some(row) = row
            && !row.renew_requested
            && Some(&row) != before.as_ref()
        {
            return status_of(cert, &store);
        }
        if std::time::Instant::now() >= deadline {
            return Err(renew_timeout(name));
        }
    }
}

fn renew_timeout(name: &str) -> String {
    format!(
        "the daemon did not finish renewing `{name}` within {} s; see `lanseal certs status`",
        RENEW_WAIT.as_secs()
    )
}

/// How often `certs renew` looks whether the daemon is done.
const RENEW_POLL: Duration = Duration::from_millis(250);
/// `certs renew` through the local API: asks the daemon to renew `name` and
/// waits until the certificate's status changes.
async fn renew_through(api: &LocalApi, name: &str) -> Result<Status, String> {
    let path = format!("certs/{name}");
    let status = |value: Value| {
        serde_json::from_value::<Status>(value).map_err(|e| format!("the local API: {e}"))
    };
    let before = status(api.call(Method::GET, &path, None).await?)?;
    api.call(Method::POST, &format!("{path}/renew"), None)
        .await?;
    let deadline = tokio::time::Instant::now() + RENEW_WAIT;
    loop {
        tokio::time::sleep(RENEW_POLL).await;
        let now = status(api.call(Method::GET, &path, None).await?)?;
        let changed = Status {
            renew_requested: before.renew_requested,
            ..now.clone()
        } != before;
        if changed {
            return Ok(now);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(renew_timeout(name));
        }
    }
}
/// `certs renew` waits this long for the daemon.
const RENEW_WAIT: Duration = Duration::from_secs(300);

/// `certs import-lego FILE`: lego's (or acme.sh's) registrations into the store.
pub fn import_lego(state_dir: &Path, file: &Path) -> Result<String, String> {
    let entries = acmedns::read_lego(file).map_err(|e| e.to_string())?;
    let store = open_store(state_dir)?;
    let mut out = String::new();
    for (domain, c) in &entries {
        store
            .lock()
            .put_delegate_credentials(acmedns::base_domain(domain), &c.clone().into(), now())
            .map_err(|e| e.to_string())?;
        out.push_str(&format!(
            "imported {domain}: {}\n",
            acmedns::setup_record(domain, &c.fulldomain)
        ));
    }
    Ok(out)
}

/// `certs export-lego FILE`: the store's registrations in lego's format (0600).
pub fn export_lego(state_dir: &Path, file: &Path) -> Result<usize, String> {
    let store = open_store(state_dir)?;
    let rows = store
        .lock()
        .all_delegate_credentials()
        .map_err(|e| e.to_string())?;
    let entries: Vec<(String, acmedns::Credentials)> = rows
        .into_iter()
        .map(|(domain, stored)| (domain, stored.into()))
        .collect();
    acmedns::write_lego(file, &entries).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(entries.len())
}

/// The state directory a config names, as the daemon resolves it.
pub fn state_dir_of(config: &Config) -> PathBuf {
    crate::daemon::state_dir(config)
}
