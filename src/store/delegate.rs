//! The delegate's shared data behind one type, whichever store holds it:
//! [`DelegateStore::Sqlite`], the node's own file (one node, the default), or
//! [`DelegateStore::Postgres`] (feature `postgres`, `[store] backend =
//! "postgres"`), one database several API nodes share (`postgres`).
//!
//! The operations are the ones the delegate API needs: register an account
//! within a bound, look one up, store a TXT value, load everything with the
//! zone's serial, and the limits several nodes share. Each write commits before
//! it returns. SQLite hands what it committed to a `publish` closure while the
//! store is still held, so the node publishes to its DNS table in commit order
//! (`delegate::api`); PostgreSQL leaves publishing to the node's listener,
//! which gets every node's changes in commit order, and returns once it has
//! published this one (see `postgres`), so `publish` is not called there.
//! The DNS hot path never comes here.

use std::net::IpAddr;

use super::{Account, Shared, StoreError};

/// The store of the delegate's accounts, TXT values and zone serial; see the
/// module doc. Cloning shares it.
#[derive(Clone, Debug)]
pub enum DelegateStore {
    /// The node's SQLite file, shared with its other roles.
    Sqlite(Shared),
    /// A PostgreSQL database several delegate nodes share.
    #[cfg(feature = "postgres")]
    Postgres(std::sync::Arc<super::postgres::Postgres>),
}

/// Every subdomain with its TXT values, newest first.
pub type Subdomains = Vec<(String, Vec<String>)>;

/// A limit several nodes share: a fixed window of `max` events per
/// `window_secs` (registrations) under `key`.
#[derive(Debug, Clone)]
pub struct SharedWindow {
    pub key: String,
    pub max: u32,
    pub window_secs: u32,
}

impl DelegateStore {
    /// Stores `account` unless `max` accounts exist ([`StoreError::Full`]; the
    /// count is taken inside the writing transaction); SQLite then calls
    /// `publish(serial)` with the zone's new serial, the store still held.
    pub fn register(
        &self,
        account: &Account,
        max: usize,
        publish: impl FnOnce(u32),
    ) -> Result<(), StoreError> {
        match self {
            DelegateStore::Sqlite(shared) => {
                let mut store = shared.lock();
                store.insert_account_within(account, max)?;
                let serial = store.delegate_serial(account.created_unix)?;
                publish(serial);
                Ok(())
            }
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(postgres) => postgres.register(account, max),
        }
    }

    /// The account named `username` (an exact match), if any.
    pub fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        match self {
            DelegateStore::Sqlite(shared) => shared.lock().account(username),
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(postgres) => postgres.account(username),
        }
    }

    /// Stores `value` for `subdomain` (keeping the newest
    /// `TXT_VALUES_PER_SUBDOMAIN`); SQLite then calls `publish(values, serial)`
    /// with the values now stored, newest first, and the zone's new serial, the
    /// store still held. An unknown subdomain is an error.
    pub fn set_txt(
        &self,
        subdomain: &str,
        value: &str,
        now_unix: i64,
        publish: impl FnOnce(&[String], u32),
    ) -> Result<(), StoreError> {
        match self {
            DelegateStore::Sqlite(shared) => {
                let mut store = shared.lock();
                let values = store.set_txt(subdomain, value, now_unix)?;
                let serial = store.delegate_serial(now_unix)?;
                publish(&values, serial);
                Ok(())
            }
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(postgres) => postgres.set_txt(subdomain, value, now_unix),
        }
    }

    /// Every subdomain with its values (newest first) and the zone's serial, as
    /// of one moment; a store without a serial yet starts at `now_unix`.
    pub fn load(&self, now_unix: i64) -> Result<(Subdomains, u32), StoreError> {
        match self {
            DelegateStore::Sqlite(shared) => {
                let mut store = shared.lock();
                let subdomains = store.all_subdomains()?;
                Ok((subdomains, store.delegate_serial(now_unix)?))
            }
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(postgres) => postgres.load(),
        }
    }

    /// The number of accounts.
    pub fn account_count(&self) -> Result<usize, StoreError> {
        match self {
            DelegateStore::Sqlite(shared) => shared.lock().account_count(),
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(postgres) => postgres.account_count(),
        }
    }

    /// Counts one registration in every window of `windows`, all or none:
    /// `Ok(Some(i))` when `windows[i]` (the first that is full) refuses it.
    /// A single node has nothing to share (its limits in memory are exact):
    /// SQLite admits.
    pub fn admit_shared(&self, windows: &[SharedWindow]) -> Result<Option<usize>, StoreError> {
        match self {
            DelegateStore::Sqlite(_) => {
                let _ = windows;
                Ok(None)
            }
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(postgres) => postgres.admit_windows(windows),
        }
    }

    /// Takes one token of the bucket `key` (`burst` tokens, refilled at
    /// `per_minute`) that all nodes share; false when it is empty. SQLite: true
    /// (see [`DelegateStore::admit_shared`]).
    pub fn take_shared(&self, key: &str, burst: u32, per_minute: u32) -> Result<bool, StoreError> {
        match self {
            DelegateStore::Sqlite(_) => {
                let _ = (key, burst, per_minute);
                Ok(true)
            }
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(postgres) => postgres.take_token(key, burst, per_minute),
        }
    }

    /// Whether several nodes share this store (their limits are then checked
    /// against it too). Always false without the `postgres` feature, so the
    /// shared paths fold away there.
    pub fn is_shared(&self) -> bool {
        match self {
            DelegateStore::Sqlite(_) => false,
            #[cfg(feature = "postgres")]
            DelegateStore::Postgres(_) => true,
        }
    }
}

/// The key of a limit on `ip` (already cut to the limit's prefix).
pub fn limit_key(kind: &str, ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) => format!("{kind}/{ip}"),
        None => kind.to_string(),
    }
}
