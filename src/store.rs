//! The durable store: one SQLite file (`<state_dir>/lanseal.db` by convention) holding
//! the delegate's accounts and their TXT values.
//!
//! One owner: a [`Store`] owns its connection and the caller keeps it behind a
//! `Mutex`; the DNS hot path never touches it (answers are loaded from
//! [`Store::all_subdomains`] into memory). Invariants: every write is one
//! transaction, so a failure leaves nothing half-written; the schema is at
//! [`SCHEMA_VERSION`] once [`Store::open`] returns, and a file from a newer lanseal is
//! refused rather than guessed at; the file is created 0600 in a 0700 directory.
//! Bounds: at most [`TXT_VALUES_PER_SUBDOMAIN`] TXT rows per account (older ones are
//! deleted in the same transaction); the number of accounts is bounded by the caller
//! (it asks [`Store::account_count`] before registering). Every error is a
//! [`StoreError`] naming the file.

use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

/// The values kept per subdomain: an apex and a wildcard name validate together.
pub const TXT_VALUES_PER_SUBDOMAIN: usize = 2;

/// How long a write waits for a lock held by someone else (only an outside
/// `sqlite3` shell can hold one: inside lanseal the store has one owner).
const BUSY_TIMEOUT_MS: u64 = 500;

/// Schema migrations: `MIGRATIONS[n]` takes a file from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE accounts (
        username  TEXT PRIMARY KEY,
        key_hash  TEXT NOT NULL,
        subdomain TEXT UNIQUE NOT NULL,
        allowfrom TEXT NOT NULL,
        created   INTEGER NOT NULL
    );
    CREATE TABLE txt (
        subdomain TEXT NOT NULL REFERENCES accounts(subdomain) ON DELETE CASCADE,
        value     TEXT NOT NULL,
        updated   INTEGER NOT NULL,
        seq       INTEGER PRIMARY KEY AUTOINCREMENT
    );
    CREATE INDEX txt_subdomain ON txt(subdomain);
"];

/// The schema version this code writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// A failed store operation; the message names the file and what was being done.
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// One delegate account. `allowfrom` holds normalised CIDRs (none contains ',').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub key_hash: String,
    pub subdomain: String,
    pub allowfrom: Vec<String>,
    pub created_unix: i64,
}

/// The store; see the module doc.
pub struct Store {
    connection: Connection,
    /// The file as shown in messages (`:memory:` for an in-memory store).
    name: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("file", &self.name).finish()
    }
}

impl Store {
    /// Opens the store at `path`, creating it 0600 (and its directory 0700) if
    /// missing, sets the pragmas and migrates the schema to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        create_file(path).map_err(|e| StoreError(format!("store {name}: {e}")))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError(format!("store {name}: cannot open: {e}")))?;
        Store::set_up(connection, name, "delete")
    }

    /// A store that lives in memory only (tests); same schema and pragmas.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let name = ":memory:".to_string();
        let connection = Connection::open_in_memory()
            .map_err(|e| StoreError(format!("store {name}: cannot open: {e}")))?;
        Store::set_up(connection, name, "memory")
    }

    /// Pragmas, then migrations. `journal` is the journal mode SQLite must report.
    ///
    /// Journal mode: DELETE, the rollback journal. Writes here are rare (a register,
    /// two TXT updates per certificate renewal), so WAL's fewer fsyncs buy nothing,
    /// and WAL costs: its `-shm` index needs a shared writable mmap, which JFFS2 (the
    /// overlay of many NOR-flash OpenWrt routers) does not offer; its `-wal` file
    /// holds committed data until a checkpoint, so a copy of the `.db` alone (an
    /// OpenWrt sysupgrade or backup of the state directory) could lose updates.
    /// With DELETE the `-journal` file exists only during a write, so at rest the
    /// store is one self-contained file. `synchronous = FULL` fsyncs the journal and
    /// the database before a commit returns: an acknowledged update survives power
    /// loss.
    fn set_up(
        mut connection: Connection,
        name: String,
        journal: &str,
    ) -> Result<Store, StoreError> {
        let fail = |what: &str, e: rusqlite::Error| error(&name, what, e);
        connection
            .busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(|e| fail("setting busy_timeout", e))?;
        let mode: String = connection
            .pragma_update_and_check(None, "journal_mode", "DELETE", |row| row.get(0))
            .map_err(|e| fail("setting journal_mode", e))?;
        if !mode.eq_ignore_ascii_case(journal) {
            return Err(StoreError(format!(
                "store {name}: journal_mode is `{mode}`, expected `{journal}`"
            )));
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| fail("setting synchronous", e))?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| fail("setting foreign_keys", e))?;
        migrate(&mut connection, &name)?;
        Ok(Store { connection, name })
    }

    /// Adds an account in one transaction. A taken username or subdomain is an
    /// error and nothing is written.
    pub fn insert_account(&mut self, account: &Account) -> Result<(), StoreError> {
        let what = format!("insert account {}", account.username);
        let joinable = |c: &&String| c.is_empty() || c.contains(',');
        if let Some(bad) = account.allowfrom.iter().find(joinable) {
            let cause = format!("allowfrom entry `{bad}` is empty or contains ','");
            return Err(self.error(&what, cause));
        }
        let Store { connection, name } = self;
        let fail = |e: rusqlite::Error| error(name, &what, e);
        let transaction = connection.transaction().map_err(fail)?;
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
        transaction.commit().map_err(fail)
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

    fn error(&self, what: &str, cause: impl fmt::Display) -> StoreError {
        error(&self.name, what, cause)
    }
}

fn error(name: &str, what: &str, cause: impl fmt::Display) -> StoreError {
    StoreError(format!("store {name}: {what}: {cause}"))
}

/// Creates `path` 0600 (its directory 0700) unless it exists; leaves an existing
/// file and its mode alone. SQLite gives its journal the database file's mode.
fn create_file(path: &Path) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| format!("cannot create directory {}: {e}", parent.display()))?;
    }
    // Never truncate: an existing file is the store.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| format!("cannot create or open for writing: {e}"))
}

/// Brings the schema to [`SCHEMA_VERSION`], one transaction per step.
fn migrate(connection: &mut Connection, name: &str) -> Result<(), StoreError> {
    let fail = |what: &str, e: rusqlite::Error| error(name, what, e);
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| fail("reading the schema version", e))?;
    let Some(found) = usize::try_from(found).ok().filter(|&v| v <= SCHEMA_VERSION) else {
        return Err(StoreError(format!(
            "store {name}: schema version {found} was written by a newer lanseal \
             (this one knows up to {SCHEMA_VERSION}); run the newer lanseal or restore a backup"
        )));
    };
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found) {
        let to = from + 1;
        let what = format!("migrating the schema from version {from} to {to}");
        let transaction = connection.transaction().map_err(|e| fail(&what, e))?;
        transaction.execute_batch(sql).map_err(|e| fail(&what, e))?;
        // user_version lives in the file header, which the transaction covers.
        transaction
            .pragma_update(None, "user_version", to as i64)
            .map_err(|e| fail(&what, e))?;
        transaction.commit().map_err(|e| fail(&what, e))?;
    }
    Ok(())
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

fn split_allowfrom(joined: &str) -> Vec<String> {
    joined
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A fresh directory (not created) under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("lanseal-store-test-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn account(n: u32) -> Account {
        Account {
            username: format!("c36f50e8-4632-44f0-83fe-e070fef2{n:04x}"),
            key_hash: format!("$2a$10$hash{n}"),
            subdomain: format!("d420c923-bbd7-4056-ab64-c3ca5477{n:04x}"),
            allowfrom: vec!["192.0.2.0/24".into(), "::1/64".into()],
            created_unix: 1_700_000_000 + i64::from(n),
        }
    }

    #[test]
    fn file_store_round_trip_and_survives_reopen() {
        let dir = TempDir::new();
        let path = dir.0.join("state").join("lanseal.db");
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
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert!(
            !path.with_extension("db-journal").exists(),
            "no journal at rest"
        );
    }

    #[test]
    fn set_txt_on_unknown_subdomain_fails() {
        let mut store = Store::open_in_memory().unwrap();
        let error = store.set_txt("unknown", &"a".repeat(43), 1).unwrap_err();
        assert!(error.0.contains("no account has this subdomain"), "{error}");
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
            error.0.contains("UNIQUE") && error.0.contains(":memory:"),
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

    #[test]
    fn newer_schema_is_refused() {
        let dir = TempDir::new();
        let path = dir.0.join("lanseal.db");
        drop(Store::open(&path).unwrap());
        let raw = Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", SCHEMA_VERSION as i64 + 1)
            .unwrap();
        drop(raw);
        let error = Store::open(&path).unwrap_err();
        assert!(error.0.contains("newer lanseal"), "{error}");
        assert!(error.0.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn unwritable_path_is_an_error_naming_it() {
        let dir = TempDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        // A regular file as the "directory": fails even for root.
        let file = dir.0.join("not-a-directory");
        std::fs::write(&file, b"").unwrap();
        let path = file.join("lanseal.db");
        let error = Store::open(&path).unwrap_err();
        assert!(error.0.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn garbage_file_is_an_error_naming_it() {
        let dir = TempDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = dir.0.join("lanseal.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let error = Store::open(&path).unwrap_err();
        assert!(error.0.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn in_memory_store_is_migrated() {
        let store = Store::open_in_memory().unwrap();
        let version: i64 = store
            .connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION as i64);
        assert!(format!("{store:?}").contains(":memory:"));
    }
}
