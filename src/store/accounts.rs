//! The delegate's accounts and their TXT values (tables `accounts` and `txt`).
//! Bounds: at most [`TXT_VALUES_PER_SUBDOMAIN`] TXT rows per account (older ones
//! are deleted in the same transaction); the number of accounts is bounded by
//! the caller (it asks [`Store::account_count`] before registering). Every
//! account or TXT change raises the zone's SOA serial (`delegate_serial`) in its
//! own transaction: `max(serial + 1, now)`, so it only grows, and a store made
//! anew still starts above what secondaries saw (the time, as Knot's
//! `unixtime` serial policy).

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, StoreError, error};

/// The values kept per subdomain: an apex and a wildcard name validate together.
pub const TXT_VALUES_PER_SUBDOMAIN: usize = 2;

/// One delegate account. `allowfrom` holds normalised CIDRs (none contains ',').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub key_hash: String,
    pub subdomain: String,
    pub allowfrom: Vec<String>,
    pub created_unix: i64,
}

impl Account {
    /// Whether `allowfrom` can be stored joined by ',' (and split back): no
    /// entry is empty or holds a comma.
    pub(super) fn check_allowfrom(&self) -> Result<(), String> {
        let joinable = |c: &&String| c.is_empty() || c.contains(',');
        match self.allowfrom.iter().find(joinable) {
            Some(bad) => Err(format!("allowfrom entry `{bad}` is empty or contains ','")),
            None => Ok(()),
        }
    }
}

impl Store {
    /// Adds an account in one transaction. A taken username or subdomain is an
    /// error and nothing is written.
    pub fn insert_account(&mut self, account: &Account) -> Result<(), StoreError> {
        self.insert_account_within(account, usize::MAX)
    }

    /// [`Store::insert_account`] unless `max` accounts exist already
    /// ([`StoreError::Full`]), counted inside the writing transaction.
    pub fn insert_account_within(
        &mut self,
        account: &Account,
        max: usize,
    ) -> Result<(), StoreError> {
        let what = format!("insert account {}", account.username);
        account
            .check_allowfrom()
            .map_err(|cause| self.error(&what, cause))?;
        let Store { connection, name } = self;
        let fail = |e: rusqlite::Error| error(name, &what, e);
        let transaction = connection.transaction().map_err(fail)?;
        let count: i64 = transaction
            .query_row("SELECT COUNT(*) FROM accounts", [], |row| row.get(0))
            .map_err(fail)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            return Err(StoreError::Full(format!("{what}: {max} accounts exist")));
        }
        transaction
            .execute(
                "INSERT INTO accounts (username, key_hash, subdomain, allowfrom, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    account.username,
                    account.key_hash,
                    account.subdomain,
                    account.allowfrom.join(","),
                    account.created_unix
                ],
            )
            .map_err(fail)?;
        raise_serial(&transaction, account.created_unix).map_err(fail)?;
        transaction.commit().map_err(fail)
    }

    /// The delegate zone's SOA serial; a store that has none yet starts at `now_unix`.
    pub fn delegate_serial(&mut self, now_unix: i64) -> Result<u32, StoreError> {
        let Store { connection, name } = self;
        let fail = |e: rusqlite::Error| error(name, "read the zone serial", e);
        let transaction = connection.transaction().map_err(fail)?;
        transaction
            .execute(
                "INSERT OR IGNORE INTO delegate_serial (id, serial) VALUES (1, ?1)",
                params![now_unix.max(1)],
            )
            .map_err(fail)?;
        let serial = read_serial(&transaction).map_err(fail)?;
        transaction.commit().map_err(fail)?;
        Ok(serial)
    }

    /// The account named `username` (an exact match), if any.
    pub fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        self.connection
            .query_row(
                "SELECT username, key_hash, subdomain, allowfrom, created
                 FROM accounts WHERE username = ?1",
                params![username],
                |row| {
                    let allowfrom: String = row.get(3)?;
                    Ok(Account {
                        username: row.get(0)?,
                        key_hash: row.get(1)?,
                        subdomain: row.get(2)?,
                        allowfrom: split_allowfrom(&allowfrom),
                        created_unix: row.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(&format!("read account {username}"), e))
    }

    /// Stores `value` for `subdomain` and deletes all but the
    /// [`TXT_VALUES_PER_SUBDOMAIN`] newest values, in one transaction; returns the
    /// values now stored, newest first. An unknown subdomain is an error.
    pub fn set_txt(
        &mut self,
        subdomain: &str,
        value: &str,
        now_unix: i64,
    ) -> Result<Vec<String>, StoreError> {
        let what = format!("set TXT of {subdomain}");
        let Store { connection, name } = self;
        let fail = |e: rusqlite::Error| error(name, &what, e);
        let transaction = connection.transaction().map_err(fail)?;
        let Some(values) = write_txt(&transaction, subdomain, value, now_unix).map_err(fail)?
        else {
            return Err(error(name, &what, "no account has this subdomain"));
        };
        raise_serial(&transaction, now_unix).map_err(fail)?;
        transaction.commit().map_err(fail)?;
        Ok(values)
    }

    /// Every registered subdomain (in name order) with its TXT values, newest first
    /// (an empty `Vec` when it has none).
    pub fn all_subdomains(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let what = "read subdomains";
        let mut statement = self
            .connection
            .prepare(
                "SELECT accounts.subdomain, txt.value FROM accounts
                 LEFT JOIN txt ON txt.subdomain = accounts.subdomain
                 ORDER BY accounts.subdomain, txt.seq DESC",
            )
            .map_err(|e| self.error(what, e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
            })
            .map_err(|e| self.error(what, e))?;
        let mut subdomains: Vec<(String, Vec<String>)> = Vec::new();
        for row in rows {
            let (subdomain, value) = row.map_err(|e| self.error(what, e))?;
            match subdomains.last_mut() {
                Some((last, values)) if *last == subdomain => values.extend(value),
                _ => subdomains.push((subdomain, value.into_iter().collect())),
            }
        }
        Ok(subdomains)
    }

    /// The number of accounts.
    pub fn account_count(&self) -> Result<usize, StoreError> {
        self.connection
            .query_row("SELECT COUNT(*) FROM accounts", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|count| usize::try_from(count).unwrap_or(0))
            .map_err(|e| self.error("count accounts", e))
    }
}

/// Raises the zone's serial to `max(serial + 1, now_unix)` (see the module doc).
fn raise_serial(transaction: &Transaction<'_>, now_unix: i64) -> rusqlite::Result<()> {
    transaction.execute(
        "INSERT OR IGNORE INTO delegate_serial (id, serial) VALUES (1, 0)",
        [],
    )?;
    transaction.execute(
        "UPDATE delegate_serial SET serial = MAX(serial + 1, ?1) WHERE id = 1",
        params![now_unix.max(1)],
    )?;
    Ok(())
}

/// The serial as the SOA carries it: 32 bits (RFC 1982 arithmetic wraps).
fn read_serial(transaction: &Transaction<'_>) -> rusqlite::Result<u32> {
    let serial: i64 = transaction.query_row(
        "SELECT serial FROM delegate_serial WHERE id = 1",
        [],
        |row| row.get(0),
    )?;
    Ok(serial as u32)
}

/// The body of [`Store::set_txt`]; `None` when no account has `subdomain`.
fn write_txt(
    transaction: &Transaction<'_>,
    subdomain: &str,
    value: &str,
    now_unix: i64,
) -> rusqlite::Result<Option<Vec<String>>> {
    let known = transaction
        .query_row(
            "SELECT 1 FROM accounts WHERE subdomain = ?1",
            params![subdomain],
            |_| Ok(()),
        )
        .optional()?;
    if known.is_none() {
        return Ok(None);
    }
    transaction.execute(
        "INSERT INTO txt (subdomain, value, updated) VALUES (?1, ?2, ?3)",
        params![subdomain, value, now_unix],
    )?;
    transaction.execute(
        "DELETE FROM txt WHERE subdomain = ?1 AND seq NOT IN
         (SELECT seq FROM txt WHERE subdomain = ?1 ORDER BY seq DESC LIMIT ?2)",
        params![subdomain, TXT_VALUES_PER_SUBDOMAIN as i64],
    )?;
    let mut statement =
        transaction.prepare("SELECT value FROM txt WHERE subdomain = ?1 ORDER BY seq DESC")?;
    let values = statement
        .query_map(params![subdomain], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(values))
}

pub(super) fn split_allowfrom(joined: &str) -> Vec<String> {
    joined
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::super::FILE_NAME;
    use super::super::testing::TempDir;
    use super::*;

    fn account(n: u32) -> Account {
        Account {
            username: format!("c36f50e8-4632-44f0-83fe-e070fef2{n:04x}"),
            key_hash: format!("$2a$10$hash{n}"),
            subdomain: format!("d420c923-bbd7-4056-ab64-c3ca5477{n:04x}"),
            allowfrom: vec!["192.0.2.0/24".into(), "::1/64".into()],
            created_unix: 1_700_000_000 + i64::from(n),
        }
    }

    /// The serial rises with every change and keeps its value across a reopen;
    /// a clock behind the stored serial cannot lower it.
    #[test]
    fn serial_rises_with_changes_and_survives_reopen() {
        let dir = TempDir::new();
        let path = dir.0.join("state").join(FILE_NAME);
        let alice = account(1);
        let after = {
            let mut store = Store::open(&path).unwrap();
            let start = store.delegate_serial(1_000).unwrap();
            assert_eq!(start, 1_000);
            assert_eq!(store.delegate_serial(5_000).unwrap(), start, "reads only");
            store.insert_account(&alice).unwrap();
            let registered = store.delegate_serial(0).unwrap();
            assert!(registered > start);
            store
                .set_txt(&alice.subdomain, &"a".repeat(43), 10)
                .unwrap();
            let updated = store.delegate_serial(0).unwrap();
            assert_eq!(updated, registered + 1, "the clock is behind: +1");
            updated
        };
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.delegate_serial(0).unwrap(), after);
        assert!(store.set_txt("unknown", &"b".repeat(43), 1).is_err());
        assert_eq!(
            store.delegate_serial(0).unwrap(),
            after,
            "no change, no raise"
        );
    }

    #[test]
    fn file_store_round_trip_and_survives_reopen() {
        let dir = TempDir::new();
        let path = dir.0.join("state").join(FILE_NAME);
        let alice = account(1);
        let mut bob = account(2);
        bob.allowfrom.clear();
        {
            let mut store = Store::open(&path).unwrap();
            assert_eq!(store.account_count().unwrap(), 0);
            store.insert_account(&alice).unwrap();
            store.insert_account(&bob).unwrap();
            assert_eq!(store.account(&alice.username).unwrap(), Some(alice.clone()));
            assert_eq!(store.account(&bob.username).unwrap(), Some(bob.clone()));
            assert_eq!(store.account("nobody").unwrap(), None);
            let first = "a".repeat(43);
            let second = "b".repeat(43);
            let third = "c".repeat(43);
            assert_eq!(
                store.set_txt(&alice.subdomain, &first, 1).unwrap(),
                std::slice::from_ref(&first)
            );
            assert_eq!(
                store.set_txt(&alice.subdomain, &second, 2).unwrap(),
                [second.clone(), first.clone()]
            );
            assert_eq!(
                store.set_txt(&alice.subdomain, &third, 3).unwrap(),
                [third.clone(), second.clone()]
            );
            let count: i64 = store
                .connection
                .query_row("SELECT COUNT(*) FROM txt", [], |row| row.get(0))
                .unwrap();
            assert_eq!(count, 2, "older values are deleted, not only hidden");
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.account_count().unwrap(), 2);
        assert_eq!(store.account(&alice.username).unwrap(), Some(alice.clone()));
        let mut expected = vec![
            (
                alice.subdomain.clone(),
                vec!["c".repeat(43), "b".repeat(43)],
            ),
            (bob.subdomain.clone(), vec![]),
        ];
        expected.sort();
        assert_eq!(store.all_subdomains().unwrap(), expected);
    }

    #[test]
    fn set_txt_on_unknown_subdomain_fails() {
        let mut store = Store::open_in_memory().unwrap();
        let error = store.set_txt("unknown", &"a".repeat(43), 1).unwrap_err();
        assert!(
            error.to_string().contains("no account has this subdomain"),
            "{error}"
        );
        assert!(store.all_subdomains().unwrap().is_empty());
    }

    #[test]
    fn duplicates_are_refused_and_write_nothing() {
        let mut store = Store::open_in_memory().unwrap();
        let alice = account(1);
        store.insert_account(&alice).unwrap();
        let same_name = Account {
            subdomain: account(2).subdomain,
            ..alice.clone()
        };
        let error = store.insert_account(&same_name).unwrap_err();
        assert!(
            error.to_string().contains("UNIQUE") && error.to_string().contains(":memory:"),
            "{error}"
        );
        let same_subdomain = Account {
            username: account(3).username,
            ..alice.clone()
        };
        assert!(store.insert_account(&same_subdomain).is_err());
        assert_eq!(store.account_count().unwrap(), 1);
        assert_eq!(store.account(&same_subdomain.username).unwrap(), None);
        assert_eq!(store.account(&alice.username).unwrap(), Some(alice));
        let comma = Account {
            allowfrom: vec!["1.2.3.0/24,x".into()],
            ..account(4)
        };
        assert!(store.insert_account(&comma).is_err());
        assert_eq!(store.account_count().unwrap(), 1);
    }
}
