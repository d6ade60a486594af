//! The schema and its migrations by `PRAGMA user_version`: `MIGRATIONS[n]` takes a
//! file from version `n` to `n + 1`, each in one transaction. A shipped migration
//! is never edited (files in the field were made by it); a change is a new one.
//!
//! Version 1: the delegate's `accounts` and `txt`. Version 2: room for the coming
//! roles, each table owned by one of them — `certificates` (certs: what to
//! issue, its state, when to renew, the last failure), `acme_accounts` (certs:
//! one account per ACME directory, its key as PKCS#8 DER), `delegate_credentials`
//! (certs: what the router registered at a delegate, per base domain) and
//! `runtime_records` (the local API: records added at run time, served by DNS
//! from memory). Version 3: `certificates` gains `not_before`, `reason`,
//! `renew_requested`, and the last ARI window with the time picked in it.
//! Version 4: `delegate_serial`, the delegate zone's SOA serial (one row),
//! raised in the transaction of every change the zone's secondaries must see.
//! Version 5: `delegate_limits`, the API's limits when several nodes share
//! them (used by PostgreSQL only, see `postgres`; SQLite gets the table so the
//! numbering stays one).

use rusqlite::Connection;

use super::{StoreError, error};

const MIGRATIONS: &[&str] = &[
    "
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
",
    // Times are Unix seconds; lists are comma-separated (no element holds a comma).
    "
    CREATE TABLE certificates (
        name        TEXT PRIMARY KEY,
        domains     TEXT NOT NULL,
        key_type    TEXT NOT NULL,
        state       TEXT NOT NULL,
        not_after   INTEGER,
        renew_after INTEGER,
        failures    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT,
        updated     INTEGER NOT NULL
    );
    CREATE TABLE acme_accounts (
        directory_url TEXT PRIMARY KEY,
        key_pkcs8     BLOB NOT NULL,
        account_url   TEXT NOT NULL,
        created       INTEGER NOT NULL
    );
    CREATE TABLE delegate_credentials (
        base_domain TEXT PRIMARY KEY,
        server_url  TEXT NOT NULL,
        username    TEXT NOT NULL,
        password    TEXT NOT NULL,
        subdomain   TEXT NOT NULL,
        fulldomain  TEXT NOT NULL,
        created     INTEGER NOT NULL
    );
    CREATE TABLE runtime_records (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        zone    TEXT NOT NULL,
        record  TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX runtime_records_zone ON runtime_records(zone);
",
    // What the certs role learned it needs: the start of the validity (for the
    // one-third rule), why the next renewal is when it is, a renewal asked for
    // by `lanseal certs renew` while the daemon runs, and the ARI window last
    // seen with the time picked in it (picked again only when the window moves).
    "
    ALTER TABLE certificates ADD COLUMN not_before INTEGER;
    ALTER TABLE certificates ADD COLUMN reason TEXT;
    ALTER TABLE certificates ADD COLUMN renew_requested INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE certificates ADD COLUMN ari_start INTEGER;
    ALTER TABLE certificates ADD COLUMN ari_end INTEGER;
    ALTER TABLE certificates ADD COLUMN ari_pick INTEGER;
",
    // The delegate zone's SOA serial: one row, raised with every account and
    // TXT change in the same transaction, so it never goes back across restarts.
    "
    CREATE TABLE delegate_serial (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        serial INTEGER NOT NULL
    );
",
    // The delegate API's limits shared by several nodes (`[store] backend =
    // "postgres"`, store::postgres): one row per limit key. Kept in step with
    // PostgreSQL's numbering; a single SQLite node keeps its limits in memory
    // and leaves this table empty.
    "
    CREATE TABLE delegate_limits (
        name    TEXT PRIMARY KEY,
        started INTEGER NOT NULL,
        amount  INTEGER NOT NULL
    );
",
];

/// The schema version this code writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Brings the schema to [`SCHEMA_VERSION`], one transaction per step. Each step
/// takes the write lock first (an IMMEDIATE transaction, waiting out
/// `busy_timeout`) and reads the version inside it: another process opening the
/// same file at the same moment (the daemon and `lanseal certs status`, say) has
/// either done the step already, and it is skipped, or waits for this one.
pub(super) fn migrate(connection: &mut Connection, name: &str) -> Result<(), StoreError> {
    let fail = |what: &str, e: rusqlite::Error| error(name, what, e);
    loop {
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| fail("locking the store to read the schema version", e))?;
        let found: i64 = transaction
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| fail("reading the schema version", e))?;
        let Some(from) = usize::try_from(found).ok().filter(|&v| v <= SCHEMA_VERSION) else {
            return Err(StoreError::Failed(format!(
                "store {name}: schema version {found} was written by a newer lanseal \
                 (this one knows up to {SCHEMA_VERSION}); run the newer lanseal or restore a backup"
            )));
        };
        let Some(sql) = MIGRATIONS.get(from) else {
            // Up to date: nothing was written, the lock goes with the transaction.
            return Ok(());
        };
        let to = from + 1;
        let what = format!("migrating the schema from version {from} to {to}");
        transaction.execute_batch(sql).map_err(|e| fail(&what, e))?;
        // user_version lives in the file header, which the transaction covers.
        transaction
            .pragma_update(None, "user_version", to as i64)
            .map_err(|e| fail(&what, e))?;
        transaction.commit().map_err(|e| fail(&what, e))?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::super::testing::TempDir;
    use super::super::{FILE_NAME, Store};
    use super::*;

    /// Migration 1 exactly as lanseal 0.1.0 shipped it: files in the field were
    /// made by this text, so it must never change.
    const VERSION_1_AS_SHIPPED: &str = "
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
";

    fn version(connection: &Connection) -> i64 {
        connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    /// A store file in `dir` with schema 1 exactly as lanseal 0.1.0 shipped it.
    fn version_1_file(dir: &TempDir) -> std::path::PathBuf {
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = dir.0.join(FILE_NAME);
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(VERSION_1_AS_SHIPPED).unwrap();
        raw.pragma_update(None, "user_version", 1).unwrap();
        path
    }

    /// Two processes opening a version-1 file at once (the daemon and the CLI):
    /// both end up at the latest version, neither fails on a step the other did.
    #[test]
    fn concurrent_openers_migrate_once() {
        for _ in 0..20 {
            let dir = TempDir::new();
            let path = version_1_file(&dir);
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Store::open(&path).map(|s| version(&s.connection))
                    })
                })
                .collect();
            for opener in openers {
                let opened = opener.join().unwrap();
                assert_eq!(
                    opened.as_ref().ok(),
                    Some(&(SCHEMA_VERSION as i64)),
                    "{opened:?}"
                );
            }
        }
    }

    #[test]
    fn migration_1_is_unchanged() {
        assert_eq!(MIGRATIONS[0], VERSION_1_AS_SHIPPED);
        assert_eq!(SCHEMA_VERSION, 5);
    }

    #[test]
    fn version_1_file_migrates_to_the_latest_and_keeps_its_rows() {
        let dir = TempDir::new();
        let path = version_1_file(&dir);
        {
            // A store as lanseal 0.1.0 left it: schema 1 and an account with a TXT.
            let raw = Connection::open(&path).unwrap();
            raw.execute(
                "INSERT INTO accounts VALUES ('user-1', '$2a$10$hash', 'sub-1', '', 1)",
                [],
            )
            .unwrap();
            raw.execute(
                "INSERT INTO txt (subdomain, value, updated) VALUES ('sub-1', 'value-1', 2)",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&store.connection), SCHEMA_VERSION as i64);
        assert_eq!(store.account_count().unwrap(), 1);
        assert_eq!(
            store.all_subdomains().unwrap(),
            [("sub-1".to_string(), vec!["value-1".to_string()])]
        );
        for table in [
            "certificates",
            "acme_accounts",
            "delegate_credentials",
            "runtime_records",
        ] {
            let count: i64 = store
                .connection
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .unwrap();
            assert_eq!(count, 0, "{table}");
        }
        drop(store);
        // Opening again migrates nothing (a second CREATE TABLE would fail).
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&store.connection), SCHEMA_VERSION as i64);
        assert_eq!(store.account_count().unwrap(), 1);
    }

    #[test]
    fn new_tables_take_what_the_coming_roles_store() {
        let store = Store::open_in_memory().unwrap();
        store
            .connection
            .execute_batch(
                "INSERT INTO certificates (name, domains, key_type, state, updated)
                     VALUES ('home', '*.home.example.com,home.example.com', 'ecdsa-p256', 'pending', 1);
                 UPDATE certificates SET state = 'valid', not_after = 100, renew_after = 70,
                     failures = 0, last_error = NULL WHERE name = 'home';
                 INSERT INTO acme_accounts VALUES
                     ('https://acme.example/directory', x'3041', 'https://acme.example/acct/1', 1);
                 INSERT INTO delegate_credentials VALUES ('home.example.com',
                     'https://auth.example.org', 'user', 'password', 'sub', 'sub.auth.example.org', 1);",
            )
            .unwrap();
        let duplicate = store.connection.execute(
            "INSERT INTO acme_accounts VALUES ('https://acme.example/directory', x'30', 'u', 2)",
            [],
        );
        assert!(duplicate.is_err(), "one account per ACME directory");
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = TempDir::new();
        let path = dir.0.join(FILE_NAME);
        drop(Store::open(&path).unwrap());
        let raw = Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", SCHEMA_VERSION as i64 + 1)
            .unwrap();
        drop(raw);
        let error = Store::open(&path).unwrap_err().to_string();
        assert!(error.contains("newer lanseal"), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn in_memory_store_is_migrated() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(version(&store.connection), SCHEMA_VERSION as i64);
    }
}
