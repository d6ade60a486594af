//! One attempt to obtain a certificate, as an explicit state machine: one type
//! per state, each consumed by the step that leaves it (as rustls does for its
//! handshake), so a step cannot run out of order.
//!
//! [`Checked`] (the account exists, the directory's profile and the DNS records
//! the owner added are right, CAA allows the CA) → [`Pending`] (an order whose
//! challenges are answered at the delegate, or by the persistent record) →
//! [`Ready`] (the CA validated every name) → [`Issued`] (finalized with a CSR for
//! a fresh key, the chain downloaded). Every failure is an [`AttemptError`] saying
//! which state it stopped in and why; deploying is the caller's, after the last
//! state, so a failed attempt never touches the working certificate.

use std::net::SocketAddr;
use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};

use super::{Context, acmedns, caa, key, x509};
use crate::config::{Cert, Challenge};

/// Waiting for the delegate's own servers to return the new TXT values.
pub const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(60);
/// The CA's validation: polled with backoff (and its Retry-After) for this long.
pub const VALIDATION_TIMEOUT: Duration = Duration::from_secs(90);
/// Issuance after finalize.
pub const ISSUANCE_TIMEOUT: Duration = Duration::from_secs(90);

/// Where an attempt stopped, and why. `state` is what `certs status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    pub state: &'static str,
    pub message: String,
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.state, self.message)
    }
}

fn failed(message: impl Into<String>) -> AttemptError {
    AttemptError {
        state: "failed",
        message: message.into(),
    }
}

/// What the directory says about itself, beyond what instant-acme exposes.
#[derive(Debug, Clone, Default)]
pub struct DirectoryMeta {
    pub caa_identities: Vec<String>,
    pub profiles: Vec<String>,
    pub renewal_info: bool,
}

/// GET the directory and read `meta` (caaIdentities, profiles) and `renewalInfo`.
pub async fn directory_meta(context: &Context) -> Result<DirectoryMeta, AttemptError> {
    let url = &context.acme.directory;
    let response = context
        .http
        .get(url)
        .await
        .map_err(|e| failed(format!("the ACME directory {url}: {e}")))?;
    if response.status != 200 {
        return Err(failed(format!(
            "the ACME directory {url}: HTTP {}",
            response.status
        )));
    }
    let json: serde_json::Value = serde_json::from_slice(&response.body)
        .map_err(|e| failed(format!("the ACME directory {url}: not JSON: {e}")))?;
    let meta = &json["meta"];
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(DirectoryMeta {
        caa_identities: strings(&meta["caaIdentities"]),
        profiles: meta["profiles"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        renewal_info: json["renewalInfo"].is_string(),
    })
}

/// The names as the DNS checks see them: each base domain once (`*.x` → `x`).
pub fn base_domains(cert: &Cert) -> Vec<String> {
    let mut bases: Vec<String> = Vec::new();
    for domain in &cert.domains {
        let base = acmedns::base_domain(domain).to_string();
        if !bases.contains(&base) {
            bases.push(base);
        }
    }
    bases
}

/// Does the certificate name `*.<base>` (a dns-persist-01 record then needs
/// `policy=wildcard`, a CAA check `issuewild`)?
pub fn has_wildcard(cert: &Cert, base: &str) -> bool {
    cert.domains
        .iter()
        .any(|d| d.strip_prefix("*.") == Some(base))
}

/// The dns-persist-01 record for `base`: name and value.
pub fn persist_record(
    base: &str,
    issuer: &str,
    account_url: &str,
    wildcard: bool,
) -> (String, String) {
    let mut value = format!("{issuer}; accounturi={account_url}");
    if wildcard {
        value.push_str("; policy=wildcard");
    }
    (format!("_validation-persist.{base}"), value)
}

/// Does a TXT value at `_validation-persist` authorize `account_url` for `issuers`?
/// (draft-ietf-acme-dns-persist: `<issuer-domain-name>; key=value; ...`.)
pub fn persist_value_matches(
    value: &str,
    issuers: &[String],
    account_url: &str,
    wildcard: bool,
) -> bool {
    let mut parts = value.split(';').map(str::trim);
    let Some(issuer) = parts.next() else {
        return false;
    };
    if !issuers.iter().any(|i| {
        i.trim_end_matches('.')
            .eq_ignore_ascii_case(issuer.trim_end_matches('.'))
    }) {
        return false;
    }
    let (mut account, mut wildcard_ok) = (false, !wildcard);
    for part in parts {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        match key.as_str() {
            "accounturi" => account = value == account_url,
            "policy" => wildcard_ok |= value.eq_ignore_ascii_case("wildcard"),
            _ => {}
        }
    }
    account && wildcard_ok
}

/// The first state: account, directory, records and CAA checked.
pub struct Checked<'c> {
    context: &'c Context,
    cert: &'c Cert,
    account: Account,
    meta: DirectoryMeta,
    /// dns-01: each base domain's delegate credentials.
    delegations: Vec<(String, acmedns::Credentials)>,
}

impl<'c> Checked<'c> {
    /// Everything that can be checked before an order exists.
    pub async fn check(context: &'c Context, cert: &'c Cert) -> Result<Self, AttemptError> {
        let meta = directory_meta(context).await?;
        if let Some(profile) = &cert.profile
            && !meta.profiles.contains(profile)
        {
            let offered = if meta.profiles.is_empty() {
                "none".to_string()
            } else {
                meta.profiles.join(", ")
            };
            return Err(failed(format!(
                "profile `{profile}` is not offered by {} (offered: {offered})",
                context.acme.directory
            )));
        }
        let account = context.account().await?;
        let mut delegations = Vec::new();
        let bases = base_domains(cert);
        match cert.challenge {
            Challenge::Dns01 => {
                for base in &bases {
                    let credentials = context.delegate_credentials(cert, base).await?;
                    check_cname(context, base, &credentials.fulldomain).await?;
                    delegations.push((base.clone(), credentials));
                }
            }
            Challenge::DnsPersist01 => {
                for base in &bases {
                    check_persist_record(context, cert, base, &meta, account.id()).await?;
                }
            }
            // The names are in our own zone: nothing for the owner to add.
            Challenge::OwnZone => {}
        }
        for domain in &cert.domains {
            check_caa(context, domain, &meta, account.id(), cert.challenge).await?;
        }
        Ok(Self {
            context,
            cert,
            account,
            meta,
            delegations,
        })
    }

    /// Orders, and answers every pending challenge.
    pub async fn order(
        self,
        replaces: Option<&x509::CertInfo>,
    ) -> Result<Pending<'c>, AttemptError> {
        let identifiers: Vec<Identifier> = self
            .cert
            .domains
            .iter()
            .map(|d| Identifier::Dns(d.clone()))
            .collect();
        let plain = || match &self.cert.profile {
            Some(profile) => NewOrder::new(&identifiers).profile(profile),
            None => NewOrder::new(&identifiers),
        };
        let mut new_order = plain();
        // RFC 9773 §5: the order names the certificate it replaces.
        let replacing = replaces
            .filter(|_| self.meta.renewal_info)
            .and_then(|info| Some((info.authority_key_id.clone()?, info.serial.clone())));
        if let Some((key_id, serial)) = &replacing {
            new_order = new_order.replaces(instant_acme::CertificateIdentifier::new(
                key_id.as_slice().into(),
                serial.as_slice().into(),
            ));
        }
        let replaced = replaces.and_then(x509::ari_identifier);
        let names = self.cert.domains.join(", ");
        let mut order = match (self.account.new_order(&new_order).await, &replacing) {
            (Ok(order), _) => {
                match (&replacing, &replaced) {
                    (Some(_), Some(id)) => {
                        log::info!("certs: {}: ordered {names} (replaces {id})", self.cert.name)
                    }
                    _ => log::info!("certs: {}: ordered {names}", self.cert.name),
                }
                order
            }
            // A CA may refuse the replacement (already replaced, not found): the
            // certificate is still wanted, so order it plainly.
            (Err(e), Some(_)) => {
                log::warn!(
                    "certs: {}: the order replacing {} was refused ({e}); ordering without `replaces`",
                    self.cert.name,
                    replaced.as_deref().unwrap_or("the current certificate")
                );
                match self.account.new_order(&plain()).await {
                    Ok(order) => order,
                    Err(e) => return Err(self.order_refused(e)),
                }
            }
            (Err(e), None) => return Err(self.order_refused(e)),
        };
        let challenge_type = match self.cert.challenge {
            Challenge::Dns01 | Challenge::OwnZone => ChallengeType::Dns01,
            // instant-acme 0.8 has no variant for it: its catch-all carries the name,
            // and the challenge is answered like any other (POST {} to its URL).
            Challenge::DnsPersist01 => ChallengeType::Unknown("dns-persist-01".to_string()),
        };
        // Values per delegate subdomain (an apex and its wildcard share one).
        let mut values: Vec<(acmedns::Credentials, Vec<String>)> = Vec::new();
        // OwnZone: (`_acme-challenge.<name>`, value) served from our own zone.
        let mut own: Vec<(String, String)> = Vec::new();
        {
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization =
                    authorization.map_err(|e| failed(format!("authorization: {e}")))?;
                match authorization.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    status => {
                        return Err(failed(format!(
                            "authorization for {} is {status:?}",
                            authorization.identifier()
                        )));
                    }
                }
                let name = authorization.identifier().to_string();
                let base = acmedns::base_domain(&name).to_string();
                let Some(mut challenge) = authorization.challenge(challenge_type.clone()) else {
                    return Err(failed(format!(
                        "the CA offers no {} challenge for {name}",
                        self.cert.challenge.name()
                    )));
                };
                if self.cert.challenge == Challenge::OwnZone {
                    let value = challenge.key_authorization().dns_value();
                    own.push((format!("_acme-challenge.{base}"), value));
                }
                if self.cert.challenge == Challenge::Dns01 {
                    let value = challenge.key_authorization().dns_value();
                    let Some((_, credentials)) = self.delegations.iter().find(|(b, _)| *b == base)
                    else {
                        return Err(failed(format!("no delegate registration for {base}")));
                    };
                    match values.iter_mut().find(|(c, _)| c == credentials) {
                        Some((_, list)) => list.push(value),
                        None => values.push((credentials.clone(), vec![value])),
                    }
                }
                // Answered below, after the TXT is visible (dns-01), or now.
                if self.cert.challenge == Challenge::DnsPersist01 {
                    challenge
                        .set_ready()
                        .await
                        .map_err(|e| failed(format!("answering the challenge for {name}: {e}")))?;
                }
            }
        }
        Ok(Pending {
            context: self.context,
            cert: self.cert,
            order,
            values,
            own,
            answered: self.cert.challenge == Challenge::DnsPersist01,
        })
    }
}

impl Checked<'_> {
    /// A refused order; when the CA no longer knows the account (a CA reset, a
    /// test CA restarted), the stored one is forgotten so the next attempt makes
    /// a new one, whose URL the CAA and dns-persist-01 records must then name.
    fn order_refused(&self, error: instant_acme::Error) -> AttemptError {
        let unknown = matches!(&error, instant_acme::Error::Api(problem)
            if problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist"));
        if unknown {
            let directory = &self.context.acme.directory;
            let _ = self.context.store.lock().delete_acme_account(directory);
            return failed(format!(
                "the CA no longer knows the account {}: a new one is made at the next \
                 attempt (records naming the old account URL must be updated: `lanseal certs setup`)",
                self.account.id()
            ));
        }
        failed(format!("new order: {error}"))
    }
}

/// Waits until every authoritative server of `name` (`whose` in the message)
/// returns all of `values`, within [`PROPAGATION_TIMEOUT`].
async fn wait_visible(
    context: &Context,
    name: &str,
    values: &[String],
    whose: &str,
) -> Result<(), AttemptError> {
    let servers = context
        .checker
        .authoritative_servers(name)
        .await
        .map_err(|e| failed(format!("finding {name}'s servers: {e}")))?;
    let seen = context
        .checker
        .wait_txt_at(&servers, name, values, PROPAGATION_TIMEOUT, || {
            // The router's own cache (when it is among `check_resolvers`)
            // must not answer a later round with the NODATA a lagging
            // secondary gave an earlier one: that would last the zone's
            // negative TTL, the whole wait for a delegate's (60 s).
            context.flush(name)
        })
        .await
        .map_err(|e| failed(format!("checking the TXT at {name}: {e}")))?;
    if !seen {
        return Err(failed(format!(
            "{whose} {} did not return the new TXT at {name} within {} s",
            list(&servers),
            PROPAGATION_TIMEOUT.as_secs()
        )));
    }
    Ok(())
}

/// The CNAME the owner must add points at the delegate.
async fn check_cname(context: &Context, base: &str, fulldomain: &str) -> Result<(), AttemptError> {
    let name = format!("_acme-challenge.{base}");
    let target = context
        .checker
        .cname(&name)
        .await
        .map_err(|e| failed(format!("checking the CNAME {name}: {e}")))?;
    let want = fulldomain.trim_end_matches('.').to_ascii_lowercase();
    if target
        .as_deref()
        .map(|t| t.trim_end_matches('.').to_ascii_lowercase())
        == Some(want)
    {
        return Ok(());
    }
    let record = acmedns::setup_record(base, fulldomain);
    let found = match target {
        Some(t) => format!("it points at {t}"),
        None => "there is none".to_string(),
    };
    Err(AttemptError {
        state: "waiting_for_cname",
        message: format!("add this record: {record} ({found})"),
    })
}

async fn check_persist_record(
    context: &Context,
    cert: &Cert,
    base: &str,
    meta: &DirectoryMeta,
    account_url: &str,
) -> Result<(), AttemptError> {
    let wildcard = has_wildcard(cert, base);
    let (name, want) = match meta.caa_identities.first() {
        Some(issuer) => persist_record(base, issuer, account_url, wildcard),
        None => {
            return Err(failed(
                "the CA names no caaIdentities: the dns-persist-01 issuer is unknown",
            ));
        }
    };
    let values = context
        .checker
        .txt(&name)
        .await
        .map_err(|e| failed(format!("checking the TXT {name}: {e}")))?;
    if values
        .iter()
        .any(|v| persist_value_matches(v, &meta.caa_identities, account_url, wildcard))
    {
        return Ok(());
    }
    Err(AttemptError {
        state: "waiting_for_record",
        message: format!("add this record: {name}. TXT \"{want}\""),
    })
}

async fn check_caa(
    context: &Context,
    domain: &str,
    meta: &DirectoryMeta,
    account_url: &str,
    challenge: Challenge,
) -> Result<(), AttemptError> {
    let wildcard = domain.starts_with("*.");
    let base = acmedns::base_domain(domain);
    // Only a definite refusal stops the order here: when the tree cannot be read
    // (a server that refuses a parent zone, split horizon), the CA checks CAA
    // itself and has the last word.
    let found = match context.checker.caa(base).await {
        Ok(found) => found,
        Err(e) => {
            log::warn!("certs: cannot check CAA for {base} ({e}); the CA will");
            return Ok(());
        }
    };
    let Some((owner, set)) = found else {
        return Ok(());
    };
    match caa::evaluate(
        &owner,
        &set,
        &meta.caa_identities,
        wildcard,
        account_url,
        challenge.name(),
    ) {
        caa::Verdict::Allowed | caa::Verdict::NoRecords => Ok(()),
        caa::Verdict::Forbidden {
            owner,
            record,
            reason,
        } => Err(AttemptError {
            state: "caa_forbids",
            message: format!(
                "CAA at {owner} forbids issuance for {domain}: `{record}` ({reason}); \
                 the CA is {}",
                meta.caa_identities.join(", ")
            ),
        }),
    }
}

/// An order whose challenges are being answered.
pub struct Pending<'c> {
    context: &'c Context,
    cert: &'c Cert,
    order: instant_acme::Order,
    /// dns-01: the values each delegate account must serve.
    values: Vec<(acmedns::Credentials, Vec<String>)>,
    /// OwnZone: the TXT records to serve from our own zone.
    own: Vec<(String, String)>,
    answered: bool,
}

/// Challenge TXT records served from our own zone while an order validates;
/// removed when dropped, whatever the outcome.
struct OwnRecords {
    control: Option<crate::control::Control>,
    ids: Vec<u64>,
}

impl Drop for OwnRecords {
    fn drop(&mut self) {
        if let Some(control) = &self.control {
            for id in &self.ids {
                let _ = control.remove_record(*id);
            }
        }
    }
}

impl<'c> Pending<'c> {
    /// dns-01: update the TXT at each delegate, wait for its own servers to
    /// return it, tell the CA; then wait for the CA's verdict.
    pub async fn validate(mut self) -> Result<Ready<'c>, AttemptError> {
        let _own = self.serve_own().await?;
        for (credentials, values) in &self.values {
            for value in values {
                acmedns::update(&self.context.http, credentials, value)
                    .await
                    .map_err(|e| failed(format!("updating the TXT at the delegate: {e}")))?;
            }
            // The router's own cache must not serve a NODATA cached before
            // the update: `wait_visible` flushes it before each round.
            wait_visible(
                self.context,
                &credentials.fulldomain,
                values,
                "the delegate's servers",
            )
            .await?;
        }
        if !self.answered {
            let mut authorizations = self.order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization =
                    authorization.map_err(|e| failed(format!("authorization: {e}")))?;
                if authorization.status != AuthorizationStatus::Pending {
                    continue;
                }
                let name = authorization.identifier().to_string();
                if let Some(mut challenge) = authorization.challenge(ChallengeType::Dns01) {
                    challenge
                        .set_ready()
                        .await
                        .map_err(|e| failed(format!("answering the challenge for {name}: {e}")))?;
                }
            }
        }
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(VALIDATION_TIMEOUT);
        let status = match self.order.poll_ready(&retries).await {
            Ok(status) => status,
            Err(instant_acme::Error::Api(problem)) => {
                return Err(failed(format!(
                    "the CA did not validate: {}",
                    problem.detail.as_deref().unwrap_or("no detail given")
                )));
            }
            Err(e) => return Err(failed(format!("waiting for validation: {e}"))),
        };
        if status != OrderStatus::Ready {
            return Err(failed(format!(
                "the CA did not validate: {}",
                self.challenge_errors().await
            )));
        }
        Ok(Ready {
            cert: self.cert,
            order: self.order,
        })
    }

    /// OwnZone: the TXT values go straight into our delegate zone (through the
    /// control handle, at TTL 1); then our own servers must return them.
    async fn serve_own(&self) -> Result<OwnRecords, AttemptError> {
        let mut served = OwnRecords {
            control: self.context.control.clone(),
            ids: Vec::new(),
        };
        if self.own.is_empty() {
            return Ok(served);
        }
        let (Some(control), Some(zone)) = (&self.context.control, &self.context.delegate_zone)
        else {
            return Err(failed(
                "the delegate's own certificate is obtained by the running daemon only",
            ));
        };
        for (name, value) in &self.own {
            let record = format!("{name}. 1 TXT \"{value}\"");
            let added = control
                .add_record(zone, &record)
                .map_err(|e| failed(format!("serving {name} in {zone}: {e}")))?;
            served.ids.push(added.id);
        }
        let mut names: Vec<&String> = self.own.iter().map(|(n, _)| n).collect();
        names.dedup();
        for name in names {
            let values: Vec<String> = self
                .own
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect();
            wait_visible(self.context, name, &values, "our own servers").await?;
        }
        Ok(served)
    }

    /// What the CA said about each failed challenge.
    async fn challenge_errors(&mut self) -> String {
        let mut errors = Vec::new();
        let mut authorizations = self.order.authorizations();
        while let Some(Ok(authorization)) = authorizations.next().await {
            for challenge in &authorization.challenges {
                if let Some(problem) = &challenge.error {
                    errors.push(format!(
                        "{}: {}",
                        authorization.identifier(),
                        problem.detail.as_deref().unwrap_or("invalid")
                    ));
                }
            }
        }
        if errors.is_empty() {
            "order invalid".to_string()
        } else {
            errors.join("; ")
        }
    }
}

/// Every name validated: finalize.
pub struct Ready<'c> {
    cert: &'c Cert,
    order: instant_acme::Order,
}

impl Ready<'_> {
    pub async fn finalize(mut self) -> Result<Issued, AttemptError> {
        let (key_pem, csr) = key::new_key_and_csr(self.cert.key_type, &self.cert.domains)
            .map_err(|e| failed(format!("making the key and CSR: {e}")))?;
        self.order
            .finalize_csr(&csr)
            .await
            .map_err(|e| failed(format!("finalize: {e}")))?;
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(ISSUANCE_TIMEOUT);
        let chain = self
            .order
            .poll_certificate(&retries)
            .await
            .map_err(|e| failed(format!("downloading the certificate: {e}")))?;
        Issued::new(key_pem, &chain)
    }
}

/// A certificate, its chain and its key, checked and ready to deploy.
#[derive(Debug)]
pub struct Issued {
    pub key_pem: String,
    pub cert_pem: String,
    pub chain_pem: String,
    pub info: x509::CertInfo,
}

impl Issued {
    /// Splits the downloaded chain: the first certificate, then the rest.
    pub fn new(key_pem: String, chain: &str) -> Result<Self, AttemptError> {
        let blocks = x509::pem_blocks(chain, "CERTIFICATE");
        let Some(first) = blocks.first() else {
            return Err(failed("the CA returned no certificate"));
        };
        let info = x509::parse_certificate(first)
            .map_err(|e| failed(format!("the issued certificate: {e}")))?;
        let pem = |der: &[u8]| pem_encode("CERTIFICATE", der);
        Ok(Self {
            key_pem,
            cert_pem: pem(first),
            chain_pem: blocks[1..].iter().map(|b| pem(b)).collect(),
            info,
        })
    }
}

/// PEM text of one block, 64 columns.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn list(servers: &[SocketAddr]) -> String {
    let names: Vec<String> = servers.iter().map(ToString::to_string).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_values() {
        let issuers = vec!["pebble.letsencrypt.org".to_string()];
        let url = "https://127.0.0.1:14000/my-account/1";
        let (name, value) = persist_record("home.test", &issuers[0], url, false);
        assert_eq!(name, "_validation-persist.home.test");
        assert!(persist_value_matches(&value, &issuers, url, false));
        assert!(
            !persist_value_matches(&value, &issuers, url, true),
            "no wildcard policy"
        );
        let (_, wild) = persist_record("home.test", &issuers[0], url, true);
        assert!(persist_value_matches(&wild, &issuers, url, true));
        assert!(!persist_value_matches(
            &value,
            &issuers,
            "https://x/acct/2",
            false
        ));
        assert!(!persist_value_matches(
            &value,
            &["other.ca".to_string()],
            url,
            false
        ));
        assert!(persist_value_matches(
            " PEBBLE.letsencrypt.org ;accounturi=https://127.0.0.1:14000/my-account/1 ; persistUntil=1",
            &issuers,
            url,
            false
        ));
        assert!(!persist_value_matches("", &issuers, url, false));
    }

    #[test]
    fn pem_lines_are_64_columns() {
        let pem = pem_encode("CERTIFICATE", &[7u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last().copied(), Some("-----END CERTIFICATE-----"));
        assert_eq!(x509::pem_blocks(&pem, "CERTIFICATE"), vec![vec![7u8; 100]]);
    }
}
