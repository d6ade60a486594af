//! The certs role: the router's LAN certificates, obtained and renewed forever
//! through an ACME-challenge delegate (dns-01) or dns-persist-01.
//!
//! One thread (`certs`) owns every certificate's schedule. It sleeps until the
//! earliest due time, a renewal asked for through [`Control::request_renewal`], or
//! one asked for by `lanseal certs renew` (a flag in the store, looked at every
//! [`POLL`]); then it runs one attempt at a time on its own current-thread tokio
//! runtime. An attempt ([`order`]) is the state machine checked → pending → ready
//! → issued; only an issued certificate is deployed ([`deploy`]), so a failure
//! never touches the working set; and an attempt first checks that `dir` has
//! room for a set, so that a full disk does not use up the CA's issuance. The
//! schedule ([`schedule`]) follows ARI when the directory offers it, else the
//! lifetime; failures back off; no decision is made while the clock is
//! implausible. The store keeps each certificate's state (only
//! written when it changes), the account and the delegate credentials.
//!
//! The parts: `http` (the one HTTP client, also instant-acme's transport),
//! `acmedns` (the delegate's API, lego's storage file), `dnscheck` and `caa` (the
//! checks before and during an order), `key` (fresh keys and CSRs), `x509` (what
//! the schedule reads from a certificate), `deploy` (the certbot layout, links,
//! hooks), `schedule` (when), `order` (how), `cli` (the commands). `certs.lock` in the state directory
//! tells the command line whether a daemon runs the role.

pub mod acmedns;
pub mod caa;
pub mod cli;
pub mod deploy;
pub mod dnscheck;
pub mod http;
pub mod key;
pub mod order;
pub mod schedule;
pub mod x509;

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use instant_acme::{Account, ExternalAccountKey, NewAccount};

use crate::http::CertificateSlot;

use crate::config::{Acme, Cert, Challenge, Config};
use crate::control::Control;
use crate::store::{self, AcmeAccount, CertificateRow, DelegateCredentials};
use order::{AttemptError, Checked};

/// How often the thread looks for a renewal asked for from the command line.
pub const POLL: Duration = Duration::from_secs(2);
/// After an issuance, the next is at least this far off.
const RENEWED_AGAIN_AFTER_SECS: i64 = 3600;
/// The file whose lock says a daemon runs the certs role.
pub const LOCK_FILE: &str = "certs.lock";
/// `/etc/ssl/acme`: where OpenWrt's uhttpd, nginx and luci-app-acme look.
pub const OPENWRT_ACME_DIR: &str = "/etc/ssl/acme";

/// What an attempt needs: the CA, the clients, the store, the daemon (if any).
pub struct Context {
    pub acme: Acme,
    pub http: http::Client,
    pub checker: dnscheck::Checker,
    pub store: store::Shared,
    /// The running daemon's control handle (cache flushes, our own zone's
    /// challenge records); `None` from the CLI.
    pub control: Option<Control>,
    /// `[delegate] zone`, where `Challenge::OwnZone` answers its challenges.
    pub delegate_zone: Option<String>,
    /// The delegate API's certificate, replaced when its own certificate renews.
    pub api_certificate: Option<Arc<CertificateSlot>>,
}

impl Context {
    pub fn new(
        config: &Config,
        store: store::Shared,
        control: Option<Control>,
    ) -> Result<Self, String> {
        let Some(acme) = config.acme.clone() else {
            return Err("no [acme] section and no [[cert]]".to_string());
        };
        let http = http::Client::new(acme.ca_bundle.as_deref()).map_err(|e| e.to_string())?;
        // Discovery asks the router's own resolver (it forwards; its cache is
        // flushed for challenge names after each update).
        let bootstrap: Vec<SocketAddr> = config
            .dns
            .listen
            .iter()
            .map(|a| match a.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => {
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), a.port())
                }
                IpAddr::V6(ip) if ip.is_unspecified() => {
                    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), a.port())
                }
                _ => *a,
            })
            .collect();
        let checker = dnscheck::Checker::new(acme.check_resolvers.clone(), bootstrap);
        Ok(Self {
            acme,
            http,
            checker,
            store,
            control,
            delegate_zone: config.delegate.as_ref().map(|d| d.zone.clone()),
            api_certificate: None,
        })
    }

    /// The account for the directory: from the store, or created once.
    pub async fn account(&self) -> Result<Account, AttemptError> {
        let directory = self.acme.directory.clone();
        let fail = |m: String| AttemptError {
            state: "failed",
            message: m,
        };
        let stored = self
            .store
            .lock()
            .acme_account(&directory)
            .map_err(|e| fail(e.to_string()))?;
        let builder = Account::builder_with_http(Box::new(self.http.clone()));
        if let Some(stored) = stored {
            let key = rustls::pki_types::PrivatePkcs8KeyDer::from(stored.key_pkcs8.as_slice());
            return builder
                .from_parts(stored.account_url, key, directory.clone())
                .await
                .map_err(|e| fail(format!("the ACME directory {directory}: {e}")));
        }
        let contact: Vec<String> = self
            .acme
            .email
            .iter()
            .map(|e| format!("mailto:{e}"))
            .collect();
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let eab = match &self.acme.eab {
            None => None,
            Some((kid, key)) => {
                use base64::Engine;
                let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(key.trim_end_matches('='))
                    .map_err(|e| fail(format!("acme.eab_hmac_key is not base64url: {e}")))?;
                Some(ExternalAccountKey::new(kid.clone(), &raw))
            }
        };
        let new = NewAccount {
            contact: &contact,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, credentials) = builder
            .create(&new, directory.clone(), eab.as_ref())
            .await
            .map_err(|e| fail(format!("creating the ACME account at {directory}: {e}")))?;
        let row = AcmeAccount {
            key_pkcs8: credentials.private_key().secret_pkcs8_der().to_vec(),
            account_url: account.id().to_string(),
        };
        self.store
            .lock()
            .put_acme_account(&directory, &row, now())
            .map_err(|e| fail(e.to_string()))?;
        log::info!(
            "certs: ACME account {} created at {directory}",
            account.id()
        );
        Ok(account)
    }

    /// The delegate registration for `base`: from the store, or registered once.
    pub async fn delegate_credentials(
        &self,
        cert: &Cert,
        base: &str,
    ) -> Result<acmedns::Credentials, AttemptError> {
        let fail = |m: String| AttemptError {
            state: "failed",
            message: m,
        };
        let stored = self
            .store
            .lock()
            .delegate_credentials(base)
            .map_err(|e| fail(e.to_string()))?;
        if let Some(stored) = stored {
            return Ok(stored.into());
        }
        let Some(delegate) = &cert.delegate else {
            return Err(fail(format!("cert `{}` names no delegate", cert.name)));
        };
        let credentials = acmedns::register(&self.http, delegate)
            .await
            .map_err(|e| fail(format!("registering at the delegate {delegate}: {e}")))?;
        self.store
            .lock()
            .put_delegate_credentials(base, &credentials.clone().into(), now())
            .map_err(|e| fail(e.to_string()))?;
        log::info!(
            "certs: registered {base} at {delegate}: add {}",
            acmedns::setup_record(base, &credentials.fulldomain)
        );
        Ok(credentials)
    }

    /// Drops the router's cached answers for a challenge name.
    pub fn flush(&self, name: &str) {
        if let Some(control) = &self.control {
            let _ = control.flush_cache(Some(name));
        }
    }
}

/// The store keeps what the acme-dns client registered, field for field.
impl From<DelegateCredentials> for acmedns::Credentials {
    fn from(c: DelegateCredentials) -> Self {
        Self {
            fulldomain: c.fulldomain,
            subdomain: c.subdomain,
            username: c.username,
            password: c.password,
            server_url: c.server_url,
        }
    }
}

impl From<acmedns::Credentials> for DelegateCredentials {
    fn from(c: acmedns::Credentials) -> Self {
        Self {
            server_url: c.server_url,
            username: c.username,
            password: c.password,
            subdomain: c.subdomain,
            fulldomain: c.fulldomain,
        }
    }
}

pub fn now() -> i64 {
    i64::try_from(crate::clock::unix_seconds()).unwrap_or(i64::MAX)
}

/// Jitter only (nothing secret): when the system's generator fails, the clock's
/// nanoseconds still spread routers apart.
fn random() -> u64 {
    schedule::random_u64().unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()))
    })
}

/// The deployed certificate of `cert`, if its files hold one that parses.
pub fn deployed(cert: &Cert) -> Option<x509::CertInfo> {
    let text = deploy::read_cert(&cert.dir)?;
    let der = x509::pem_blocks(&text, "CERTIFICATE").into_iter().next()?;
    x509::parse_certificate(&der).ok()
}

/// Does the deployed certificate name exactly the configured domains?
fn covers(info: &x509::CertInfo, cert: &Cert) -> bool {
    let mut have = info.dns_names.clone();
    let mut want = cert.domains.clone();
    have.sort();
    want.sort();
    have == want
}

fn new_row(cert: &Cert) -> CertificateRow {
    CertificateRow {
        name: cert.name.clone(),
        domains: cert.domains.join(","),
        key_type: cert.key_type.name().to_string(),
        state: "pending".to_string(),
        ..CertificateRow::default()
    }
}

/// Why a certificate gets a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Its time came (or it has none yet).
    Due,
    /// Renew now, whatever the schedule says (`certs renew`, the API).
    Forced,
    /// The daemon started: the ARI window is asked again (it may have moved
    /// while nothing ran), then the stored schedule resumes.
    Startup,
}

/// One certificate's turn: renew if due (or forced), else refresh the schedule.
/// Writes the row when it changed. Returns the row as it now is.
pub async fn turn(context: &Context, cert: &Cert, why: Turn) -> CertificateRow {
    let forced = why == Turn::Forced;
    let now = now();
    let stored = context.store.lock().certificate(&cert.name).ok().flatten();
    let mut row = stored.unwrap_or_else(|| new_row(cert));
    row.domains = cert.domains.join(",");
    row.key_type = cert.key_type.name().to_string();
    row.renew_requested = false;
    row.updated = now;
    if !schedule::clock_plausible(now) {
        row.renew_after = Some(now + schedule::CLOCK_RECHECK_SECS);
        row.reason = Some(schedule::Reason::ClockImplausible.to_string());
        save(context, &row);
        return row;
    }
    let current = deployed(cert);
    if let Some(info) = &current {
        row.not_before = Some(info.not_before);
        row.not_after = Some(info.not_after);
    }
    let fresh = current
        .as_ref()
        .is_some_and(|i| covers(i, cert) && i.not_after > now);
    let due = row.renew_after.is_none_or(|t| t <= now);
    let recheck_only = row.reason.as_deref() == Some(&schedule::Reason::AriRecheck.to_string());
    if fresh && !forced && (!due || recheck_only) {
        if (due || why == Turn::Startup)
            && let Some(info) = &current
        {
            plan(context, cert, info, &mut row).await;
        }
        if row.state != "valid" && row.failures == 0 {
            row.state = "valid".to_string();
        }
        save(context, &row);
        return row;
    }
    let started = std::time::Instant::now();
    let mut failed = false;
    let outcome;
    match attempt(context, cert, current.as_ref()).await {
        Ok(info) => {
            outcome = format!(
                "certs: {} issued and deployed in {} ms ({}), valid until {}",
                cert.name,
                started.elapsed().as_millis(),
                cert.domains.join(", "),
                iso8601(info.not_after)
            );
            row.state = "valid".to_string();
            row.failures = 0;
            row.last_error = None;
            row.not_before = Some(info.not_before);
            row.not_after = Some(info.not_after);
            plan(context, cert, &info, &mut row).await;
            // A schedule that is due at once (renew_before_days longer than the
            // lifetime, a window already past) must not make a loop of orders.
            let earliest = now.saturating_add(RENEWED_AGAIN_AFTER_SECS);
            if row.renew_after.is_some_and(|t| t < earliest) {
                row.renew_after = Some(earliest);
            }
        }
        Err(e) => {
            row.failures = row.failures.saturating_add(1);
            let wait = match e.state {
                // The owner is adding the record now, most likely: look again
                // soon (1 min, doubling), not after the hour a failure waits.
                "waiting_for_cname" | "waiting_for_record" => {
                    waiting_recheck_secs(row.failures, random())
                }
                _ => schedule::backoff_secs(row.failures, random()),
            };
            outcome = format!(
                "certs: {}: {e}; next attempt in {} s (failure {})",
                cert.name, wait, row.failures
            );
            failed = true;
            row.state = e.state.to_string();
            row.last_error = Some(e.message);
            row.renew_after = Some(now.saturating_add(wait));
            row.reason = Some(schedule::Reason::FailureBackoff.to_string());
        }
    }
    // Saved before it is told: whoever reads the log line (the owner, a
    // script, the tests) then finds the store saying the same.
    save(context, &row);
    if failed {
        log::warn!("{outcome}");
    } else {
        log::info!("{outcome}");
    }
    row
}

/// While waiting for the owner's record: 1 min after the first look, doubling,
/// at most [`schedule::BACKOFF_FIRST_SECS`] (then the failure backoff's first
/// step), plus up to 10% jitter.
fn waiting_recheck_secs(looks: u32, random: u64) -> i64 {
    const FIRST_SECS: i64 = 60;
    let doublings = looks.saturating_sub(1).min(6);
    let base = (FIRST_SECS << doublings).min(schedule::BACKOFF_FIRST_SECS);
    base + (random % (base as u64 / 10 + 1)) as i64
}

fn save(context: &Context, row: &CertificateRow) {
    if let Err(e) = context.store.lock().put_certificate(row) {
        log::error!("certs: {e}");
    }
}

/// Obtains and deploys; the working set is replaced only at the very end.
async fn attempt(
    context: &Context,
    cert: &Cert,
    current: Option<&x509::CertInfo>,
) -> Result<x509::CertInfo, AttemptError> {
    // A full disk would fail the deploy after the CA issued: say so before
    // anything is ordered (the deploy still reports a disk that fills meanwhile).
    deploy::check_room(&cert.dir).map_err(|e| AttemptError {
        state: "failed",
        message: format!("no room to deploy, nothing ordered: {e}"),
    })?;
    let checked = Checked::check(context, cert).await?;
    let issued = checked
        .order(current)
        .await?
        .validate()
        .await?
        .finalize()
        .await?;
    let set = deploy::Set {
        key_pem: &issued.key_pem,
        cert_pem: &issued.cert_pem,
        chain_pem: &issued.chain_pem,
    };
    deploy::write_set(&cert.dir, &set).map_err(|e| AttemptError {
        state: "failed",
        message: format!("deploying: {e}"),
    })?;
    if cert.challenge == Challenge::OwnZone
        && let Some(slot) = &context.api_certificate
    {
        let fullchain = format!("{}{}", issued.cert_pem, issued.chain_pem);
        match slot.replace(fullchain.as_bytes(), issued.key_pem.as_bytes()) {
            Ok(()) => log::info!("certs: the delegate API serves the new certificate"),
            Err(e) => log::error!("certs: the delegate API keeps its certificate: {e}"),
        }
    }
    if cert.openwrt_acme_links
        && let Some(first) = cert.domains.first()
    {
        let domain = acmedns::base_domain(first);
        if let Err(e) = deploy::write_openwrt_links(Path::new(OPENWRT_ACME_DIR), domain, &cert.dir)
        {
            log::warn!("certs: {}: {e}", cert.name);
        }
    }
    let path = std::env::var_os("PATH");
    for outcome in deploy::run_hooks(
        &cert.name,
        &cert.dir,
        &cert.domains,
        cert.deploy_hook.as_deref(),
        path.as_deref(),
    ) {
        match outcome.result {
            Ok(()) => log::info!("certs: {}: ran {}", cert.name, outcome.command),
            Err(e) => log::warn!(
                "certs: {}: `{}` failed: {e} (the certificate stays deployed)",
                cert.name,
                outcome.command
            ),
        }
    }
    Ok(issued.info)
}

/// Sets the row's next renewal from ARI (when offered and `renew_before_days` is
/// 0) or the lifetime.
async fn plan(context: &Context, cert: &Cert, info: &x509::CertInfo, row: &mut CertificateRow) {
    let now = now();
    if cert.renew_before_days == 0
        && let Some((start, end, retry_secs)) = ari_window(context, info).await
    {
        apply_ari(row, (start, end, retry_secs), now, random());
        return;
    }
    (row.ari_start, row.ari_end, row.ari_pick) = (None, None, None);
    row.renew_after = Some(schedule::renew_at(
        info.not_before,
        info.not_after,
        cert.renew_before_days,
        random(),
    ));
    let rule = schedule::renew_rule(info.not_before, info.not_after, cert.renew_before_days);
    row.reason = Some(rule.to_string());
}

/// The schedule from an ARI answer: the time picked in the window (kept while
/// the window is the same) or, when sooner, the re-check the Retry-After asks.
fn apply_ari(
    row: &mut CertificateRow,
    (start, end, retry_secs): (i64, i64, i64),
    now: i64,
    random: u64,
) {
    // Picked once per window: picking again at every re-check would drift
    // the renewals of many routers towards the window's end.
    let same_window = row.ari_start == Some(start) && row.ari_end == Some(end);
    let pick = match row.ari_pick.filter(|_| same_window) {
        Some(pick) => pick,
        None => schedule::ari_pick(start, end, now, random),
    };
    row.ari_start = Some(start);
    row.ari_end = Some(end);
    row.ari_pick = Some(pick);
    let recheck = now.saturating_add(schedule::clamp_retry_after_secs(retry_secs));
    if recheck < pick {
        row.renew_after = Some(recheck);
        row.reason = Some(schedule::Reason::AriRecheck.to_string());
    } else {
        row.renew_after = Some(pick);
        row.reason = Some(schedule::Reason::AriWindow.to_string());
    }
}

/// RFC 9773: the suggested window (unix seconds) and the Retry-After, if offered.
async fn ari_window(context: &Context, info: &x509::CertInfo) -> Option<(i64, i64, i64)> {
    let key_id = info.authority_key_id.as_ref()?;
    let account = context.account().await.ok()?;
    let id = instant_acme::CertificateIdentifier::new(
        key_id.as_slice().into(),
        info.serial.as_slice().into(),
    );
    match account.renewal_info(&id).await {
        Ok((renewal, retry)) => {
            let window = renewal.suggested_window;
            Some((
                window.start.unix_timestamp(),
                window.end.unix_timestamp(),
                i64::try_from(retry.as_secs()).unwrap_or(i64::MAX),
            ))
        }
        Err(instant_acme::Error::Unsupported(_)) => None,
        Err(e) => {
            log::warn!("certs: renewal information: {e}; using the lifetime instead");
            None
        }
    }
}

/// Starts the certs thread. It holds `certs.lock` in `state_dir` while it runs.
/// `api_certificate`: the delegate API's slot, when it serves a certificate of ours.
pub fn start(
    config: &Config,
    state_dir: &Path,
    store: store::Shared,
    control: Control,
    api_certificate: Option<Arc<CertificateSlot>>,
) -> Result<(), String> {
    let Some(lock) = take_lock(state_dir)? else {
        return Err(format!(
            "{}: another lanseal runs the certs role for this state directory",
            state_dir.join(LOCK_FILE).display()
        ));
    };
    let mut context = Context::new(config, store, Some(control.clone()))?;
    context.api_certificate = api_certificate;
    let certs = config.certs.clone();
    let requests = control.renewal_requests();
    std::thread::Builder::new()
        .name("certs".into())
        .spawn(move || {
            let _lock = lock;
            run(&context, &certs, &requests);
        })
        .map_err(|e| format!("cannot start the certs thread: {e}"))?;
    Ok(())
}

/// `certs.lock`, held: `Some` while this process runs the role, `None` when
/// another (a daemon) holds it.
fn take_lock(state_dir: &Path) -> Result<Option<File>, String> {
    std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let path = state_dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("{}: {e}", path.display())),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the certs runtime: {e}"))
}

/// The certs thread: one attempt at a time, forever.
fn run(context: &Context, certs: &[Cert], requests: &std::sync::mpsc::Receiver<String>) {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => return log::error!("certs: {e}"),
    };
    let mut asked: Vec<String> = Vec::new();
    let mut startup = true;
    loop {
        let mut earliest = i64::MAX;
        for cert in certs {
            let row = context.store.lock().certificate(&cert.name).ok().flatten();
            let requested =
                row.as_ref().is_some_and(|r| r.renew_requested) || asked.contains(&cert.name);
            let due = row
                .as_ref()
                .and_then(|r| r.renew_after)
                .is_none_or(|t| t <= now());
            let row = if requested || due || startup {
                asked.retain(|n| n != &cert.name);
                let why = if requested {
                    Turn::Forced
                } else if due {
                    Turn::Due
                } else {
                    Turn::Startup
                };
                runtime.block_on(turn(context, cert, why))
            } else {
                match row {
                    Some(row) => row,
                    None => continue,
                }
            };
            earliest = earliest.min(row.renew_after.unwrap_or(i64::MAX));
        }
        startup = false;
        let wait = earliest
            .saturating_sub(now())
            .clamp(0, POLL.as_secs() as i64);
        match requests.recv_timeout(Duration::from_secs(wait as u64)) {
            Ok(name) => asked.push(name),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(POLL),
        }
    }
}

/// Every bound of the role's clients that was hit, by name (SIGUSR1's log line;
/// the local API will serve them too).
pub fn bounds_hit() -> Vec<(&'static str, usize)> {
    use std::sync::atomic::Ordering::Relaxed;
    let (h, d) = (&http::BOUNDS_HIT, &dnscheck::LIMITS_HIT);
    vec![
        ("http_connect_timeouts", h.connect_timeouts.load(Relaxed)),
        ("http_request_timeouts", h.request_timeouts.load(Relaxed)),
        (
            "http_responses_too_large",
            h.responses_too_large.load(Relaxed),
        ),
        ("dns_check_cname_chains", d.cname_chain.load(Relaxed)),
        ("dns_check_climb_labels", d.climb_labels.load(Relaxed)),
        ("dns_check_servers_asked", d.servers_asked.load(Relaxed)),
    ]
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_ari_pick_is_kept_while_the_window_stays() {
        let day = 86_400;
        let mut row = CertificateRow::default();
        apply_ari(&mut row, (10 * day, 12 * day, 6 * 3600), 0, 1);
        let first = row.ari_pick.unwrap();
        assert!((10 * day..12 * day).contains(&first));
        assert_eq!(row.renew_after, Some(6 * 3600), "the re-check comes first");
        assert_eq!(row.reason.as_deref(), Some("ARI re-check"));
        // The same window later, another random draw: the pick stays.
        apply_ari(
            &mut row,
            (10 * day, 12 * day, 6 * 3600),
            3 * day,
            u64::MAX / 3,
        );
        assert_eq!(row.ari_pick, Some(first));
        // The window moves (say, the CA asks for an early renewal): a new pick.
        apply_ari(&mut row, (4 * day, 5 * day, 6 * 3600), 4 * day, 7);
        let second = row.ari_pick.unwrap();
        assert!((4 * day..5 * day).contains(&second), "{second}");
        assert_eq!(row.renew_after, Some(second));
        assert_eq!(row.reason.as_deref(), Some("ARI window"));
    }

    #[test]
    fn waiting_for_a_record_looks_again_soon() {
        assert_eq!(waiting_recheck_secs(1, 0), 60);
        assert_eq!(waiting_recheck_secs(2, 0), 120);
        assert_eq!(waiting_recheck_secs(6, 0), 1920);
        assert_eq!(waiting_recheck_secs(7, 0), 3600);
        assert_eq!(waiting_recheck_secs(u32::MAX, 0), 3600);
        assert!(waiting_recheck_secs(1, u64::MAX) <= 66);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }
}
