//! The durable store: one SQLite file, `<state_dir>/lanseal.db` ([`FILE_NAME`]),
//! for every role that keeps state. Today the delegate's accounts and TXT values
//! (`accounts`); the schema also holds the coming roles' tables (certificates,
//! ACME accounts, delegate credentials held by the router, runtime records), see
//! `schema`.
//!
//! One owner: a [`Store`] owns the connection; the daemon opens it once at
//! start-up (before privileges are dropped) and hands every role a clone of one
//! [`Shared`] handle, the store behind one mutex. Invariants: every write is one
//! transaction, so a failure leaves nothing half-written; the schema is at
//! `schema::SCHEMA_VERSION` once [`Store::open`] returns, and a file from a newer
//! lanseal is refused rather than guessed at; the file is created 0600 in a 0700
//! directory; the DNS hot path never touches the store (what DNS answers from it
//! is loaded into memory, e.g. [`Store::all_subdomains`]). Bounded tables check
//! their bound inside the writing transaction and answer [`StoreError::Full`].
//! Every error names the file.
//!
//! Files: this one opens the file and sets the pragmas; `schema` migrates by
//! `user_version`; `accounts` is the delegate's accounts and TXT values;
//! `runtime` the runtime records. `delegate` is the delegate's data behind one
//! type ([`DelegateStore`]) whichever store holds it: this file, or with the
//! `postgres` feature and `[store] backend = "postgres"`, a PostgreSQL
//! database several delegate nodes share (`postgres`: same schema and
//! migrations, commits before the API answers, changes pushed to every node by
//! LISTEN/NOTIFY). Per-node state stays here either way.

mod accounts;
mod certs;
mod delegate;
#[cfg(feature = "postgres")]
pub mod postgres;
mod runtime;
mod schema;

pub use accounts::{Account, TXT_VALUES_PER_SUBDOMAIN};
pub use certs::{AcmeAccount, CertificateRow, DelegateCredentials};
pub use delegate::{DelegateStore, SharedWindow, Subdomains, limit_key};
pub use runtime::{RUNTIME_RECORDS_MAX, RuntimeRecord};
pub use schema::SCHEMA_VERSION;

use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OpenFlags};

/// The store's file name inside the state directory.
pub const FILE_NAME: &str = "lanseal.db";

/// What must belong to the user the daemon runs as when the store lives in
/// `state_dir`: the directory (SQLite creates its journal there at every write),
/// the file, and a journal a crash left behind.
pub fn owned_paths(state_dir: &Path) -> Vec<PathBuf> {
    let file = state_dir.join(FILE_NAME);
    let journal = state_dir.join(format!("{FILE_NAME}-journal"));
    let mut paths = vec![state_dir.to_path_buf(), file];
    if journal.exists() {
        paths.push(journal);
    }
    paths
}

/// How long a write waits for a lock held by someone else (only an outside
/// `sqlite3` shell can hold one: inside lanseal the store has one owner).
const BUSY_TIMEOUT_MS: u64 = 500;

/// A failed store operation; the message names the file and what was being done.
#[derive(Debug)]
pub enum StoreError {
    /// SQLite or the file system failed, or the data broke a rule (a taken name).
    Failed(String),
    /// A bounded table is at its bound: the caller's request is refused, nothing
    /// is wrong with the store.
    Full(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Failed(message) | StoreError::Full(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StoreError {}

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

/// The one store every role reaches: cloning shares it. Each role locks it for
/// one operation (one transaction) at a time and never across a network wait.
#[derive(Clone, Debug)]
pub struct Shared(Arc<Mutex<Store>>);

impl Shared {
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// The store, for one operation. A thread that panicked while holding it
    /// cannot have left a write half-done (an open transaction rolls back when it
    /// is dropped, also while unwinding; release builds abort on panic anyway),
    /// so a poisoned lock is taken over rather than passed on.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// Opens the store at `path`, creating it 0600 (and its directory 0700) if
    /// missing, sets the pragmas and migrates the schema to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        create_file(path).map_err(|e| StoreError::Failed(format!("store {name}: {e}")))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::Failed(format!("store {name}: cannot open: {e}")))?;
        Store::set_up(connection, name, "delete")
    }

    /// A store that lives in memory only (tests); same schema and pragmas.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let name = ":memory:".to_string();
        let connection = Connection::open_in_memory()
            .map_err(|e| StoreError::Failed(format!("store {name}: cannot open: {e}")))?;
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
            return Err(StoreError::Failed(format!(
                "store {name}: journal_mode is `{mode}`, expected `{journal}`"
            )));
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| fail("setting synchronous", e))?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| fail("setting foreign_keys", e))?;
        schema::migrate(&mut connection, &name)?;
        Ok(Store { connection, name })
    }

    fn error(&self, what: &str, cause: impl fmt::Display) -> StoreError {
        error(&self.name, what, cause)
    }
}

fn error(name: &str, what: &str, cause: impl fmt::Display) -> StoreError {
    StoreError::Failed(format!("store {name}: {what}: {cause}"))
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

#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory (not created) under the system temp dir, removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new() -> TempDir {
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::unix::fs::PermissionsExt;

    use super::testing::TempDir;
    use super::*;

    #[test]
    fn file_is_0600_in_a_0700_directory_and_no_journal_at_rest() {
        let dir = TempDir::new();
        let path = dir.0.join("state").join(FILE_NAME);
        drop(Store::open(&path).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert!(
            !path.with_extension("db-journal").exists(),
            "no journal at rest"
        );
    }

    #[test]
    fn unwritable_path_is_an_error_naming_it() {
        let dir = TempDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        // A regular file as the "directory": fails even for root.
        let file = dir.0.join("not-a-directory");
        std::fs::write(&file, b"").unwrap();
        let path = file.join(FILE_NAME);
        let error = Store::open(&path).unwrap_err();
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn garbage_file_is_an_error_naming_it() {
        let dir = TempDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = dir.0.join(FILE_NAME);
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let error = Store::open(&path).unwrap_err();
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn shared_handles_reach_one_store_and_survive_a_panicking_holder() {
        let shared = Shared::new(Store::open_in_memory().unwrap());
        let other = shared.clone();
        let result = std::thread::spawn(move || {
            let mut held = other.lock();
            held.insert_runtime_record("lan", "x A 10.0.0.1", 1)
                .unwrap();
            panic!("a role fails while holding the store");
        })
        .join();
        assert!(result.is_err());
        let store = shared.lock();
        assert_eq!(store.runtime_records().unwrap().len(), 1, "one store");
        assert!(format!("{store:?}").contains(":memory:"));
    }
}
