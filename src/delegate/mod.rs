//! The delegate role: an acme-dns-compatible ACME-challenge delegate. `api` serves
//! the HTTP API, `zone` answers each account's records in the authoritative zone
//! (whose static part is an ordinary local zone built from `[delegate]`), `creds`
//! makes and checks credentials; accounts and TXT values live in `crate::store`,
//! which the daemon opens and hands over, with the zone's SOA serial. With
//! `secondaries`, [`Prepared`] also reads the TSIG key and makes the
//! `dns::xfr::Transfer` the DNS I/O thread serves them with. [`Prepared`] is
//! its start-up: everything that can fail before threads start. With a store
//! several nodes share (feature `postgres`), `sync` is the thread that keeps
//! this node's records in step with every node's writes.

pub mod api;
pub mod creds;
#[cfg(feature = "postgres")]
pub mod sync;
pub mod zone;

use std::path::Path;
use std::sync::Arc;

use crate::config;
use crate::delegate::api::Api;
use crate::delegate::zone::DelegateRecords;
use crate::store;

/// The delegate role between opening its store and serving its API.
pub struct Prepared {
    /// The per-account records the DNS threads answer from.
    pub records: Arc<DelegateRecords>,
    /// Zone transfer to the configured secondaries (none configured: `None`).
    pub transfer: Option<Arc<crate::dns::xfr::Transfer>>,
    api: Arc<Api>,
    listener: std::net::TcpListener,
    bound: std::net::SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The API's certificate, replaceable while it serves (the `certs` role).
    certificate: Option<Arc<crate::http::CertificateSlot>>,
    /// Trusted reverse proxies: exempt from the per-client connection cap.
    trusted_proxies: Vec<crate::dns::acl::Net>,
    prefix: String,
    /// The zone's name (messages).
    #[cfg(feature = "postgres")]
    zone: String,
    /// A store other nodes share: its listener keeps `records` in step.
    #[cfg(feature = "postgres")]
    shared: Option<Arc<store::postgres::Postgres>>,
}

impl Prepared {
    /// Loads every account's records from `store` and binds the API: all that
    /// can fail, before any thread starts.
    /// `acme_dir`: where the certs role keeps the API's own certificate
    /// (`tls = "acme"`).
    pub fn new(
        settings: &config::Delegate,
        store: store::DelegateStore,
        acme_dir: &Path,
        (listener, bound): (std::net::TcpListener, std::net::SocketAddr),
    ) -> Result<Self, String> {
        let apex = crate::dns::zone::domain_wire(&settings.zone)
            .map_err(|e| format!("delegate zone: {e}"))?;
        let records = Arc::new(DelegateRecords::new(apex.into()));
        // A shared store is reached after the privileges drop (`connect`).
        if !store.is_shared() {
            load(&store, &records, &settings.zone)?;
        }
        #[cfg(feature = "postgres")]
        let shared = match &store {
            store::DelegateStore::Postgres(postgres) => Some(postgres.clone()),
            store::DelegateStore::Sqlite(_) => None,
        };
        let transfer = match &settings.tsig {
            Some(tsig) if !settings.secondaries.is_empty() => {
                let key = crate::secret::tsig_key(&tsig.key_file, &tsig.key_name)?;
                log::info!(
                    "delegate: zone transfers to {} secondary(ies), TSIG key {}",
                    settings.secondaries.len(),
                    tsig.key_name
                );
                Some(Arc::new(crate::dns::xfr::Transfer::new(
                    settings.secondaries.clone(),
                    key,
                    records.dynamic().clone(),
                )))
            }
            _ => None,
        };
        let admin_token = match &settings.admin_token_file {
            Some(file) => Some(crate::secret::token_file(file, "delegate: admin token")?),
            None => None,
        };
        let (tls, certificate) = match (&settings.tls, &settings.tls_acme) {
            (Some((cert, key)), _) => {
                let (config, slot) = crate::http::load_tls(cert, key)?;
                (Some(config), Some(slot))
            }
            (None, Some(host)) => {
                let (config, slot) = crate::http::load_or_stand_in(acme_dir, host)?;
                (Some(config), Some(slot))
            }
            (None, None) => (None, None),
        };
        let api = Arc::new(Api::new(
            store,
            records.clone(),
            settings.clone(),
            admin_token,
        ));
        Ok(Self {
            records,
            transfer,
            api,
            listener,
            bound,
            tls,
            certificate,
            trusted_proxies: settings.trusted_proxies.clone(),
            prefix: settings.api_prefix.clone(),
            #[cfg(feature = "postgres")]
            zone: settings.zone.clone(),
            #[cfg(feature = "postgres")]
            shared,
        })
    }

    /// A store other nodes share: connects (migrating it if need be) and
    /// loads every account, once the privileges are dropped and before any
    /// thread starts. Nothing to do with the node's own store.
    pub fn connect(&self) -> Result<(), String> {
        #[cfg(feature = "postgres")]
        if let Some(postgres) = &self.shared {
            let now = i64::try_from(crate::clock::unix_seconds()).unwrap_or(i64::MAX);
            postgres
                .open(now)
                .map_err(|e| format!("delegate store: {e}"))?;
            let store = store::DelegateStore::Postgres(postgres.clone());
            load(&store, &self.records, &self.zone)?;
        }
        Ok(())
    }

    /// The API's socket, bound first of all (before the daemon detaches).
    pub fn bind(
        settings: &config::Delegate,
    ) -> Result<(std::net::TcpListener, std::net::SocketAddr), String> {
        crate::http::bind(settings.api_listen).map_err(|e| {
            format!(
                "delegate API: cannot listen on {}: {e}",
                settings.api_listen
            )
        })
    }

    /// The API's state, for the local API's report (mode, accounts, activity).
    pub fn api(&self) -> Arc<Api> {
        self.api.clone()
    }

    /// The API's certificate slot (HTTPS only): what a renewal replaces.
    pub fn certificate(&self) -> Option<Arc<crate::http::CertificateSlot>> {
        self.certificate.clone()
    }

    /// Starts serving the API; the handle reads the HTTP server's counters.
    pub fn start(self) -> Result<crate::http::Server, String> {
        // The listener first: a write waits for it to publish.
        #[cfg(feature = "postgres")]
        if let Some(postgres) = self.shared {
            sync::spawn(postgres, self.records.clone())?;
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let api = self.api;
        let handler: crate::http::Handler = Arc::new(move |request| api.handle(request));
        let limits = crate::http::Limits {
            per_client_exempt: self.trusted_proxies,
            ..crate::http::Limits::default()
        };
        let server = crate::http::spawn(self.listener, self.tls, limits, handler)
            .map_err(|e| format!("cannot start the delegate API: {e}"))?;
        log::info!("delegate API on {scheme}://{}{}", self.bound, self.prefix);
        Ok(server)
    }
}

/// Every account's records and the zone's serial from `store` into `records`.
fn load(store: &store::DelegateStore, records: &DelegateRecords, zone: &str) -> Result<(), String> {
    let now = i64::try_from(crate::clock::unix_seconds()).unwrap_or(i64::MAX);
    let (accounts, serial) = store
        .load(now)
        .map_err(|e| format!("delegate store: {e}"))?;
    for (subdomain, values) in &accounts {
        records.set(subdomain, values);
    }
    records.set_serial(serial);
    log::info!("delegate: zone {zone} with {} account(s)", accounts.len());
    Ok(())
}
