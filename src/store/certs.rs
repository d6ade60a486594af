//! The certs role's rows: its ACME accounts (`acme_accounts`, one per directory),
//! what it registered at delegates (`delegate_credentials`, one per base domain)
//! and each certificate's state (`certificates`: validity, next renewal and why,
//! failures and the last error, a renewal asked for from the command line). The
//! certificate and key themselves live in the deployed files, not here.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// An ACME account: its key (PKCS#8 DER) and URL (the `kid`, CAA `accounturi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAccount {
    pub key_pkcs8: Vec<u8>,
    pub account_url: String,
}

/// Credentials at an acme-dns delegate, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegateCredentials {
    pub server_url: String,
    pub username: String,
    pub password: String,
    pub subdomain: String,
    pub fulldomain: String,
}

/// One certificate's durable state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateRow {
    pub name: String,
    /// Comma-separated, as configured when last written.
    pub domains: String,
    pub key_type: String,
    /// `waiting_for_cname`, `pending`, `valid`, `failed`, ...
    pub state: String,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    /// When the next attempt is due (unix seconds).
    pub renew_after: Option<i64>,
    /// Why `renew_after` is what it is.
    pub reason: Option<String>,
    pub failures: u32,
    pub last_error: Option<String>,
    pub renew_requested: bool,
    /// The ARI window last seen for the deployed certificate, and the time
    /// picked in it (RFC 9773 §4.2: picked once per window).
    pub ari_start: Option<i64>,
    pub ari_end: Option<i64>,
    pub ari_pick: Option<i64>,
    pub updated: i64,
}

impl Store {
    pub fn acme_account(&self, directory_url: &str) -> Result<Option<AcmeAccount>, StoreError> {
        self.connection
            .query_row(
                "SELECT key_pkcs8, account_url FROM acme_accounts WHERE directory_url = ?1",
                params![directory_url],
                |row| {
                    Ok(AcmeAccount {
                        key_pkcs8: row.get(0)?,
                        account_url: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(&format!("read the ACME account for {directory_url}"), e))
    }

    pub fn put_acme_account(
        &mut self,
        directory_url: &str,
        account: &AcmeAccount,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO acme_accounts (directory_url, key_pkcs8, account_url, created)
                 VALUES (?1, ?2, ?3, ?4)",
                params![directory_url, account.key_pkcs8, account.account_url, now_unix],
            )
            .map(drop)
            .map_err(|e| self.error(&format!("store the ACME account for {directory_url}"), e))
    }

    /// Forgets the account of a directory (the CA no longer knows it).
    pub fn delete_acme_account(&mut self, directory_url: &str) -> Result<bool, StoreError> {
        self.connection
            .execute(
                "DELETE FROM acme_accounts WHERE directory_url = ?1",
                params![directory_url],
            )
            .map(|n| n > 0)
            .map_err(|e| self.error(&format!("forget the ACME account for {directory_url}"), e))
    }

    pub fn delegate_credentials(
        &self,
        base_domain: &str,
    ) -> Result<Option<DelegateCredentials>, StoreError> {
        self.connection
            .query_row(
                "SELECT server_url, username, password, subdomain, fulldomain
                 FROM delegate_credentials WHERE base_domain = ?1",
                params![base_domain],
                |row| {
                    Ok(DelegateCredentials {
                        server_url: row.get(0)?,
                        username: row.get(1)?,
                        password: row.get(2)?,
                        subdomain: row.get(3)?,
                        fulldomain: row.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(&format!("read delegate credentials for {base_domain}"), e))
    }

    /// Every stored registration, by base domain (for `certs export-lego`).
    pub fn all_delegate_credentials(
        &self,
    ) -> Result<Vec<(String, DelegateCredentials)>, StoreError> {
        let what = "read delegate credentials";
        let mut statement = self
            .connection
            .prepare(
                "SELECT base_domain, server_url, username, password, subdomain, fulldomain
                 FROM delegate_credentials ORDER BY base_domain",
            )
            .map_err(|e| self.error(what, e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    DelegateCredentials {
                        server_url: row.get(1)?,
                        username: row.get(2)?,
                        password: row.get(3)?,
                        subdomain: row.get(4)?,
                        fulldomain: row.get(5)?,
                    },
                ))
            })
            .map_err(|e| self.error(what, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.error(what, e))
    }

    pub fn put_delegate_credentials(
        &mut self,
        base_domain: &str,
        credentials: &DelegateCredentials,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO delegate_credentials
                 (base_domain, server_url, username, password, subdomain, fulldomain, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    base_domain,
                    credentials.server_url,
                    credentials.username,
                    credentials.password,
                    credentials.subdomain,
                    credentials.fulldomain,
                    now_unix
                ],
            )
            .map(drop)
            .map_err(|e| self.error(&format!("store delegate credentials for {base_domain}"), e))
    }

    pub fn certificate(&self, name: &str) -> Result<Option<CertificateRow>, StoreError> {
        self.connection
            .query_row(
                "SELECT name, domains, key_type, state, not_before, not_after, renew_after,
                        reason, failures, last_error, renew_requested, updated,
                        ari_start, ari_end, ari_pick
                 FROM certificates WHERE name = ?1",
                params![name],
                |row| {
                    Ok(CertificateRow {
                        name: row.get(0)?,
                        domains: row.get(1)?,
                        key_type: row.get(2)?,
                        state: row.get(3)?,
                        not_before: row.get(4)?,
                        not_after: row.get(5)?,
                        renew_after: row.get(6)?,
                        reason: row.get(7)?,
                        failures: row.get(8)?,
                        last_error: row.get(9)?,
                        renew_requested: row.get(10)?,
                        updated: row.get(11)?,
                        ari_start: row.get(12)?,
                        ari_end: row.get(13)?,
                        ari_pick: row.get(14)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(&format!("read certificate {name}"), e))
    }

    /// Writes the row when it differs from what is stored (the flash is written
    /// only when something changed); returns whether it wrote.
    pub fn put_certificate(&mut self, row: &CertificateRow) -> Result<bool, StoreError> {
        let stored = self.certificate(&row.name)?;
        let same = stored.as_ref().is_some_and(|s| {
            let mut s = s.clone();
            s.updated = row.updated;
            s == *row
        });
        if same {
            return Ok(false);
        }
        self.connection
            .execute(
                "INSERT OR REPLACE INTO certificates
                 (name, domains, key_type, state, not_before, not_after, renew_after, reason,
                  failures, last_error, renew_requested, updated, ari_start, ari_end, ari_pick)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    row.name,
                    row.domains,
                    row.key_type,
                    row.state,
                    row.not_before,
                    row.not_after,
                    row.renew_after,
                    row.reason,
                    row.failures,
                    row.last_error,
                    row.renew_requested,
                    row.updated,
                    row.ari_start,
                    row.ari_end,
                    row.ari_pick
                ],
            )
            .map(|_| true)
            .map_err(|e| self.error(&format!("store certificate {}", row.name), e))
    }

    /// Marks a renewal asked for from outside the daemon (`certs renew`); false
    /// when no row has that name.
    pub fn request_certificate_renewal(&mut self, name: &str) -> Result<bool, StoreError> {
        self.connection
            .execute(
                "UPDATE certificates SET renew_requested = 1 WHERE name = ?1",
                params![name],
            )
            .map(|n| n > 0)
            .map_err(|e| self.error(&format!("request renewal of {name}"), e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rows_round_trip_and_unchanged_rows_are_not_written() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(store.acme_account("https://ca/dir").unwrap(), None);
        let account = AcmeAccount {
            key_pkcs8: vec![0x30, 1, 2],
            account_url: "https://ca/acct/1".into(),
        };
        store
            .put_acme_account("https://ca/dir", &account, 1)
            .unwrap();
        assert_eq!(store.acme_account("https://ca/dir").unwrap(), Some(account));

        let credentials = DelegateCredentials {
            server_url: "http://127.0.0.1:1".into(),
            username: "u".into(),
            password: "p".repeat(64),
            subdomain: "s".into(),
            fulldomain: "s.auth.test".into(),
        };
        store
            .put_delegate_credentials("home.test", &credentials, 1)
            .unwrap();
        assert_eq!(
            store.delegate_credentials("home.test").unwrap(),
            Some(credentials.clone())
        );
        assert_eq!(
            store.all_delegate_credentials().unwrap(),
            [("home.test".to_string(), credentials)]
        );

        let mut row = CertificateRow {
            name: "router".into(),
            domains: "a.test".into(),
            key_type: "ec256".into(),
            state: "valid".into(),
            not_after: Some(100),
            updated: 1,
            ..CertificateRow::default()
        };
        assert!(store.put_certificate(&row).unwrap());
        row.updated = 2;
        assert!(!store.put_certificate(&row).unwrap(), "same but the time");
        row.failures = 1;
        assert!(store.put_certificate(&row).unwrap());
        assert!(store.request_certificate_renewal("router").unwrap());
        assert!(!store.request_certificate_renewal("other").unwrap());
        let stored = store.certificate("router").unwrap().unwrap();
        assert!(stored.renew_requested);
        assert_eq!(stored.failures, 1);
    }
}
