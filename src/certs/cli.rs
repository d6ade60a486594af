//! The certs role's command line: `lanseal certs status|setup|renew|import-lego|
//! export-lego`. Each opens the config's store itself; `renew` goes through the
//! running daemon when one holds `certs.lock`, else renews here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Context, Turn, acmedns, caa, deployed, iso8601, new_row, now, order, runtime, take_lock, turn,
};
use crate::config::{Cert, Challenge, Config};
use crate::store::{self, CertificateRow};

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

/// `certs status`: one paragraph per certificate.
pub fn status(config: &Config, state_dir: &Path) -> Result<String, String> {
    let store = open_store(state_dir)?;
    let mut out = String::new();
    for cert in &config.certs {
        let row = store
            .lock()
            .certificate(&cert.name)
            .map_err(|e| e.to_string())?;
        let row = row.unwrap_or_else(|| new_row(cert));
        let deployed = deployed(cert);
        out.push_str(&format!(
            "{}\n  names:        {}\n",
            cert.name,
            cert.domains.join(", ")
        ));
        out.push_str(&format!("  state:        {}\n", row.state));
        match &deployed {
            Some(info) => out.push_str(&format!(
                "  not after:    {}\n  deployed in:  {}\n",
                iso8601(info.not_after),
                cert.dir.display()
            )),
            None => out.push_str(&format!(
                "  not after:    (no certificate in {})\n",
                cert.dir.display()
            )),
        }
        match row.renew_after {
            Some(at) => out.push_str(&format!(
                "  next renewal: {} ({})\n",
                iso8601(at),
                row.reason.as_deref().unwrap_or("scheduled")
            )),
            None => out.push_str("  next renewal: as soon as the daemon runs\n"),
        }
        if let Some(error) = &row.last_error {
            out.push_str(&format!(
                "  last error:   {error} (failures: {})\n",
                row.failures
            ));
        }
    }
    if config.certs.is_empty() {
        out.push_str("no [[cert]] in the config\n");
    }
    Ok(out)
}

/// `certs setup NAME`: the records the owner adds once (and registration at the
/// delegate, which creates the account name the records carry).
pub fn setup(config: &Config, state_dir: &Path, name: &str) -> Result<String, String> {
    let cert = find(config, name)?;
    let store = open_store(state_dir)?;
    let context = Context::new(config, store, None)?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let meta = order::directory_meta(&context)
            .await
            .map_err(|e| e.to_string())?;
        let account = context.account().await.map_err(|e| e.to_string())?;
        let identity = meta
            .caa_identities
            .first()
            .cloned()
            .unwrap_or_else(|| "letsencrypt.org".to_string());
        let mut out = String::new();
        for base in &order::base_domains(cert) {
            let wildcard = order::has_wildcard(cert, base);
            match cert.challenge {
                Challenge::Dns01 => {
                    let credentials = context
                        .delegate_credentials(cert, base)
                        .await
                        .map_err(|e| e.to_string())?;
                    out.push_str(&acmedns::setup_record(base, &credentials.fulldomain));
                    out.push('\n');
                }
                Challenge::OwnZone => {}
                Challenge::DnsPersist01 => {
                    let (owner, value) =
                        order::persist_record(base, &identity, account.id(), wildcard);
                    out.push_str(&format!("{owner}. TXT \"{value}\"\n"));
                }
            }
            for line in caa::recommended(
                base,
                &identity,
                account.id(),
                cert.challenge.name(),
                wildcard,
            ) {
                out.push_str(&line);
                out.push_str("  ; recommended\n");
            }
        }
        Ok(out)
    })
}

/// `certs renew NAME`: through the running daemon when one holds the lock, else
/// here and now. Returns the certificate's row afterwards.
pub fn renew(config: &Config, state_dir: &Path, name: &str) -> Result<CertificateRow, String> {
    let cert = find(config, name)?;
    let store = open_store(state_dir)?;
    if let Some(_lock) = take_lock(state_dir)? {
        let context = Context::new(config, store, None)?;
        let runtime = runtime()?;
        return Ok(runtime.block_on(turn(&context, cert, Turn::Forced)));
    }
    // A daemon runs: ask it, and wait for its answer in the store.
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
        std::thread::sleep(Duration::from_millis(250));
        let row = store.lock().certificate(name).map_err(|e| e.to_string())?;
        if let Some(row) = row
            && !row.renew_requested
            && Some(&row) != before.as_ref()
        {
            return Ok(row);
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "the daemon did not finish renewing `{name}` within {} s; see `lanseal certs status`",
                RENEW_WAIT.as_secs()
            ));
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
