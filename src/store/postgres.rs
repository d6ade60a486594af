//! PostgreSQL as the shared store of several delegate API nodes (feature
//! `postgres`, `[store] backend = "postgres"`): the delegate's accounts, TXT
//! values, zone serial and cross-node limits. Per-node state (certificates,
//! ACME accounts, runtime records, credentials the router holds) stays in the
//! node's SQLite file: it belongs to that node.
//!
//! Schema: the same migrations as SQLite (`schema`), the same tables and
//! columns, the types translated (`INTEGER` to `BIGINT`, `AUTOINCREMENT` to an
//! identity column, `BLOB` to `BYTEA`). The version lives in the one-row table
//! `lanseal_schema`; each step runs in one transaction under
//! `pg_advisory_xact_lock`, so nodes starting together migrate once, and a
//! database from a newer lanseal is refused.
//!
//! Writes: every write is one transaction that first raises the zone's serial
//! (`GREATEST(serial + 1, now)` on the one `delegate_serial` row: its row lock
//! orders writers across nodes, so serials grow in commit order) and sends
//! `pg_notify('lanseal_delegate', …)` with the serial, the subdomain and its
//! values as the transaction leaves them, which PostgreSQL
//! delivers at COMMIT to every listening node, in commit order. The API answers
//! only after COMMIT. The API's operations share one connection behind a mutex
//! (writers are serialised by the serial's row lock anyway).
//!
//! Publication: a node's DNS table is written by one thread only, its
//! listener (`delegate::sync`, with a [`Listener`], a connection of its own),
//! in the order the notifications come, i.e. commit order; the node's own
//! writes come back to it the same way. A write waits (at most
//! `PUBLISHED_WAIT`) until the listener has published its serial, so an
//! acknowledged change is served by the node that acknowledged it, as with
//! SQLite. Publishing its own writes directly would race: a write of another
//! node that committed just before (a smaller serial, its notification still
//! on the way) would then arrive "older" than what the table holds and have
//! to be either dropped or published under a falling serial. [`Postgres`]
//! keeps `published`, the newest serial the table reflects.
//!
//! Failure: an error answers [`StoreError::Failed`] and rolls back; a closed
//! connection is dropped and made anew by the next operation. Statements time
//! out after `STATEMENT_TIMEOUT_MS` (a database that hangs must not hold the
//! API's workers forever), and TCP keepalives with a user timeout find a dead
//! peer. No TLS in this build: the URL's `sslmode=require` is refused at
//! start-up rather than connected in clear; run it over loopback, a private
//! network or WireGuard.
//!
//! The crate: `postgres` 0.19, the sync face of tokio-postgres (pure Rust,
//! SCRAM included; the API's workers block anyway, and tokio is in the tree).

use std::fmt;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::delegate::{SharedWindow, Subdomains};
use super::{Account, StoreError, TXT_VALUES_PER_SUBDOMAIN};

/// The channel every write notifies; the payload is JSON: `serial`,
/// `subdomain`, `values` (newest first).
pub const CHANNEL: &str = "lanseal_delegate";
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A statement or a lock wait longer than this fails (500 `db_error`).
const STATEMENT_TIMEOUT_MS: u32 = 10_000;
/// TCP keepalive idle time and the user timeout: a peer gone silent is found
/// within about this much plus three probes.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a write waits for the listener to publish it before answering
/// anyway (the change is committed; the poll or a reconnect publishes it).
const PUBLISHED_WAIT: Duration = Duration::from_secs(2);
/// The advisory lock migrations run under (ASCII "lnsl").
const MIGRATION_LOCK: i64 = 0x6c6e_736c;

/// `schema`'s migrations in PostgreSQL's dialect; `MIGRATIONS[n]` takes a
/// database from version `n` to `n + 1`. Never edit a shipped one.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE accounts (
        username  TEXT PRIMARY KEY,
        key_hash  TEXT NOT NULL,
        subdomain TEXT UNIQUE NOT NULL,
        allowfrom TEXT NOT NULL,
        created   BIGINT NOT NULL
    );
    CREATE TABLE txt (
        subdomain TEXT NOT NULL REFERENCES accounts(subdomain) ON DELETE CASCADE,
        value     TEXT NOT NULL,
        updated   BIGINT NOT NULL,
        seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY
    );
    CREATE INDEX txt_subdomain ON txt(subdomain);
",
    "
    CREATE TABLE certificates (
        name        TEXT PRIMARY KEY,
        domains     TEXT NOT NULL,
        key_type    TEXT NOT NULL,
        state       TEXT NOT NULL,
        not_after   BIGINT,
        renew_after BIGINT,
        failures    BIGINT NOT NULL DEFAULT 0,
        last_error  TEXT,
        updated     BIGINT NOT NULL
    );
    CREATE TABLE acme_accounts (
        directory_url TEXT PRIMARY KEY,
        key_pkcs8     BYTEA NOT NULL,
        account_url   TEXT NOT NULL,
        created       BIGINT NOT NULL
    );
    CREATE TABLE delegate_credentials (
        base_domain TEXT PRIMARY KEY,
        server_url  TEXT NOT NULL,
        username    TEXT NOT NULL,
        password    TEXT NOT NULL,
        subdomain   TEXT NOT NULL,
        fulldomain  TEXT NOT NULL,
        created     BIGINT NOT NULL
    );
    CREATE TABLE runtime_records (
        id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        zone    TEXT NOT NULL,
        record  TEXT NOT NULL,
        created BIGINT NOT NULL
    );
    CREATE INDEX runtime_records_zone ON runtime_records(zone);
",
    "
    ALTER TABLE certificates ADD COLUMN not_before BIGINT;
    ALTER TABLE certificates ADD COLUMN reason TEXT;
    ALTER TABLE certificates ADD COLUMN renew_requested BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE certificates ADD COLUMN ari_start BIGINT;
    ALTER TABLE certificates ADD COLUMN ari_end BIGINT;
    ALTER TABLE certificates ADD COLUMN ari_pick BIGINT;
",
    "
    CREATE TABLE delegate_serial (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        serial BIGINT NOT NULL
    );
",
    "
    CREATE TABLE delegate_limits (
        name    TEXT PRIMARY KEY,
        started BIGINT NOT NULL,
        amount  BIGINT NOT NULL
    );
",
];

// One numbering for both backends.
const _: () = assert!(MIGRATIONS.len() == super::SCHEMA_VERSION);

/// The database's clock in Unix seconds: every node's limits use the one clock.
const NOW: &str = "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)";

/// One registration in a fixed window: a row comes back only when admitted.
const WINDOW_SQL: &str = "
    INSERT INTO delegate_limits AS l (name, started, amount)
    VALUES ($1, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT), 1)
    ON CONFLICT (name) DO UPDATE SET
        started = CASE WHEN l.started + CAST($2 AS BIGINT) <= EXCLUDED.started
                  THEN EXCLUDED.started ELSE l.started END,
        amount  = CASE WHEN l.started + CAST($2 AS BIGINT) <= EXCLUDED.started
                  THEN 1 ELSE l.amount + 1 END
    WHERE l.started + CAST($2 AS BIGINT) <= EXCLUDED.started OR l.amount < CAST($3 AS BIGINT)
    RETURNING amount";

/// One token of a bucket in milli-tokens (`$2` full, `$3` per minute): a row
/// comes back only when a token was there. A refused take writes nothing, so
/// the refill keeps counting from the last taken one.
const BUCKET_SQL: &str = "
    INSERT INTO delegate_limits AS l (name, started, amount)
    VALUES ($1, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT), CAST($2 AS BIGINT) - 1000)
    ON CONFLICT (name) DO UPDATE SET
        started = EXCLUDED.started,
        amount  = LEAST(CAST($2 AS BIGINT), l.amount
                  + GREATEST(EXCLUDED.started - l.started, 0) * CAST($3 AS BIGINT) * 1000 / 60) - 1000
    WHERE LEAST(CAST($2 AS BIGINT), l.amount
          + GREATEST(EXCLUDED.started - l.started, 0) * CAST($3 AS BIGINT) * 1000 / 60) >= 1000
    RETURNING amount";

/// The delegate's data in PostgreSQL; see the module doc.
pub struct Postgres {
    config: postgres::Config,
    /// The database as messages show it (no user, no password).
    name: String,
    /// The API's connection (none until made, or after it closed).
    link: Mutex<Option<Client>>,
    /// The newest serial the node's DNS table reflects (0: none yet).
    published: Mutex<i64>,
    /// Signalled whenever `published` rises.
    caught_up: Condvar,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("database", &self.name)
            .finish()
    }
}

/// A connection that LISTENs on [`CHANNEL`] (`delegate::sync` owns it).
pub struct Listener {
    client: Client,
    name: String,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("database", &self.name)
            .finish()
    }
}

/// What a notification says: the change committed at `serial` left
/// `subdomain` with `values` (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub serial: i64,
    pub subdomain: String,
    pub values: Vec<String>,
}

impl Postgres {
    /// Reads the URL from `url_file` (mode 0600, like every secret file;
    /// read while the daemon may still be root) and checks it; connects to
    /// nothing yet (that is [`Postgres::open`], after the privileges drop: a
    /// host name's lookup starts a thread). Every error names the file.
    pub fn configure(url_file: &Path) -> Result<Postgres, StoreError> {
        let mut config = read_url(url_file)?;
        config
            .ssl_mode(SslMode::Disable)
            .application_name("lanseal")
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .tcp_user_timeout(TCP_USER_TIMEOUT);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(Postgres {
            name: describe(&config),
            config,
            link: Mutex::new(None),
            published: Mutex::new(0),
            caught_up: Condvar::new(),
        })
    }

    /// Connects, migrates and makes sure the serial's row exists (starting at
    /// `now_unix`). Every error names the database.
    pub fn open(&self, now_unix: i64) -> Result<(), StoreError> {
        let mut client = self.connect()?;
        migrate(&mut client, &self.name)?;
        client
            .execute(
                "INSERT INTO delegate_serial (id, serial) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                &[&now_unix.max(1)],
            )
            .map_err(|e| self.error("create the zone serial", e))?;
        *self.link() = Some(client);
        Ok(())
    }

    /// The database as messages show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| self.error("connect", e))?;
        client
            .batch_execute(&format!(
                "SET statement_timeout = {STATEMENT_TIMEOUT_MS}; \
                 SET lock_timeout = {STATEMENT_TIMEOUT_MS}"
            ))
            .map_err(|e| self.error("set the session's timeouts", e))?;
        Ok(client)
    }

    fn link(&self) -> MutexGuard<'_, Option<Client>> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, what: &str, cause: impl fmt::Display) -> StoreError {
        StoreError::Failed(format!("store {}: {what}: {cause}", self.name))
    }

    /// Runs `op` on the API's connection (made anew when there is none or it
    /// closed), under its mutex.
    fn with_link<T>(
        &self,
        op: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.link();
        if client.as_ref().is_none_or(Client::is_closed) {
            *client = None;
            *client = Some(self.connect()?);
        }
        let Some(connected) = client.as_mut() else {
            return Err(self.error("connect", "no connection"));
        };
        let result = op(connected);
        if client.as_ref().is_some_and(Client::is_closed) {
            *client = None;
        }
        result
    }

    /// The newest serial the node's DNS table reflects.
    pub fn published(&self) -> i64 {
        *self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The listener published everything up to `serial`.
    pub fn set_published(&self, serial: i64) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *published = (*published).max(serial);
        drop(published);
        self.caught_up.notify_all();
    }

    /// Waits until the node's DNS table reflects `serial`, at most
    /// `PUBLISHED_WAIT`; false when it did not in time.
    fn wait_published(&self, serial: i64) -> bool {
        let published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (published, _) = self
            .caught_up
            .wait_timeout_while(published, PUBLISHED_WAIT, |p| *p < serial)
            .unwrap_or_else(PoisonError::into_inner);
        let done = *published >= serial;
        if !done {
            log::warn!(
                "store {}: serial {serial} committed but not yet published by this node's \
                 listener (at {}); the poll publishes it",
                self.name,
                *published
            );
        }
        done
    }

    /// See `DelegateStore::register`.
    pub fn register(&self, account: &Account, max: usize) -> Result<(), StoreError> {
        let what = format!("insert account {}", account.username);
        account
            .check_allowfrom()
            .map_err(|cause| self.error(&what, cause))?;
        let serial = self.with_link(|client| {
            let fail = |e: postgres::Error| self.error(&what, e);
            let mut transaction = client.transaction().map_err(fail)?;
            let serial = raise_serial(&mut transaction, account.created_unix).map_err(fail)?;
            let count: i64 = transaction
                .query_one("SELECT COUNT(*) FROM accounts", &[])
                .and_then(|row| row.try_get(0))
                .map_err(fail)?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= max {
                return Err(StoreError::Full(format!("{what}: {max} accounts exist")));
            }
            transaction
                .execute(
                    "INSERT INTO accounts (username, key_hash, subdomain, allowfrom, created)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &account.username,
                        &account.key_hash,
                        &account.subdomain,
                        &account.allowfrom.join(","),
                        &account.created_unix,
                    ],
                )
                .map_err(fail)?;
            notify(&mut transaction, serial, &account.subdomain, &[]).map_err(fail)?;
            transaction.commit().map_err(fail)?;
            Ok(serial)
        })?;
        self.wait_published(serial);
        Ok(())
    }

    /// The account named `username` (an exact match), if any.
    pub fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        self.with_link(|client| {
            let fail = |e: postgres::Error| self.error(&format!("read account {username}"), e);
            let row = client
                .query_opt(
                    "SELECT username, key_hash, subdomain, allowfrom, created
                     FROM accounts WHERE username = $1",
                    &[&username],
                )
                .map_err(fail)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let allowfrom: String = row.try_get(3).map_err(fail)?;
            Ok(Some(Account {
                username: row.try_get(0).map_err(fail)?,
                key_hash: row.try_get(1).map_err(fail)?,
                subdomain: row.try_get(2).map_err(fail)?,
                allowfrom: super::accounts::split_allowfrom(&allowfrom),
                created_unix: row.try_get(4).map_err(fail)?,
            }))
        })
    }

    /// See `DelegateStore::set_txt`.
    pub fn set_txt(&self, subdomain: &str, value: &str, now_unix: i64) -> Result<(), StoreError> {
        let what = format!("set TXT of {subdomain}");
        let serial = self.with_link(|client| {
            let fail = |e: postgres::Error| self.error(&what, e);
            let mut transaction = client.transaction().map_err(fail)?;
            let serial = raise_serial(&mut transaction, now_unix).map_err(fail)?;
            let known = transaction
                .query_opt("SELECT 1 FROM accounts WHERE subdomain = $1", &[&subdomain])
                .map_err(fail)?;
            if known.is_none() {
                // Dropped: rolled back, the serial included.
                return Err(self.error(&what, "no account has this subdomain"));
            }
            transaction
                .execute(
                    "INSERT INTO txt (subdomain, value, updated) VALUES ($1, $2, $3)",
                    &[&subdomain, &value, &now_unix],
                )
                .map_err(fail)?;
            transaction
                .execute(
                    "DELETE FROM txt WHERE subdomain = $1 AND seq NOT IN
                     (SELECT seq FROM txt WHERE subdomain = $1 ORDER BY seq DESC LIMIT $2)",
                    &[&subdomain, &(TXT_VALUES_PER_SUBDOMAIN as i64)],
                )
                .map_err(fail)?;
            let values = values_of(&mut transaction, subdomain).map_err(fail)?;
            notify(&mut transaction, serial, subdomain, &values).map_err(fail)?;
            transaction.commit().map_err(fail)?;
            Ok(serial)
        })?;
        self.wait_published(serial);
        Ok(())
    }

    /// Everything and the serial, as of one moment; the node's DNS table is
    /// taken to reflect it from now on (the caller loads it before serving).
    pub fn load(&self) -> Result<(Subdomains, u32), StoreError> {
        let (subdomains, serial) =
            self.with_link(|client| snapshot(client).map_err(|e| self.error("load", e)))?;
        self.set_published(serial);
        Ok((subdomains, serial as u32))
    }

    /// The number of accounts.
    pub fn account_count(&self) -> Result<usize, StoreError> {
        self.with_link(|client| {
            client
                .query_one("SELECT COUNT(*) FROM accounts", &[])
                .and_then(|row| row.try_get::<_, i64>(0))
                .map(|count| usize::try_from(count).unwrap_or(0))
                .map_err(|e| self.error("count accounts", e))
        })
    }

    /// See `DelegateStore::admit_shared`: one UPSERT per window in one
    /// transaction, rolled back when a window refuses.
    pub fn admit_windows(&self, windows: &[SharedWindow]) -> Result<Option<usize>, StoreError> {
        self.with_link(|client| {
            let fail = |e: postgres::Error| self.error("registration limits", e);
            let mut transaction = client.transaction().map_err(fail)?;
            for (index, window) in windows.iter().enumerate() {
                let params: [&(dyn postgres::types::ToSql + Sync); 3] = [
                    &window.key,
                    &i64::from(window.window_secs),
                    &i64::from(window.max),
                ];
                let admitted = transaction.query_opt(WINDOW_SQL, &params).map_err(fail)?;
                if admitted.is_none() {
                    return Ok(Some(index));
                }
            }
            transaction.commit().map_err(fail)?;
            Ok(None)
        })
    }

    /// See `DelegateStore::take_shared`: one UPSERT.
    pub fn take_token(&self, key: &str, burst: u32, per_minute: u32) -> Result<bool, StoreError> {
        self.with_link(|client| {
            let full = i64::from(burst) * 1000;
            let params: [&(dyn postgres::types::ToSql + Sync); 3] =
                [&key, &full, &i64::from(per_minute)];
            client
                .query_opt(BUCKET_SQL, &params)
                .map(|row| row.is_some())
                .map_err(|e| self.error("update limit", e))
        })
    }

    /// Deletes the limit rows untouched for `idle_secs` (each is then back to
    /// its start: a window over, a bucket full); how many.
    pub fn prune_limits(&self, idle_secs: u32) -> Result<u64, StoreError> {
        self.with_link(|client| {
            client
                .execute(
                    &format!("DELETE FROM delegate_limits WHERE started < {NOW} - $1"),
                    &[&i64::from(idle_secs)],
                )
                .map_err(|e| self.error("prune limits", e))
        })
    }

    /// A connection of its own that LISTENs on [`CHANNEL`].
    pub fn listen(&self) -> Result<Listener, StoreError> {
        let mut client = self.connect()?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| self.error("listen", e))?;
        Ok(Listener {
            client,
            name: self.name.clone(),
        })
    }
}

impl Listener {
    /// The next notified change, waiting at most `timeout` (`Ok(None)`: none
    /// came, or a payload lanseal did not write, left to the next poll). An
    /// error: the connection is gone.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Change>, StoreError> {
        let fail = |e: &dyn fmt::Display| {
            StoreError::Failed(format!("store {}: notifications: {e}", self.name))
        };
        let next = self.client.notifications().timeout_iter(timeout).next();
        match next {
            Ok(Some(notification)) => Ok(parse_change(notification.payload())),
            Ok(None) if self.client.is_closed() => Err(fail(&"the connection closed")),
            Ok(None) => Ok(None),
            Err(e) => Err(fail(&e)),
        }
    }

    /// The database's serial now.
    pub fn serial(&mut self) -> Result<i64, StoreError> {
        read_serial(&mut self.client)
            .map_err(|e| StoreError::Failed(format!("store {}: read the serial: {e}", self.name)))
    }

    /// Everything and the serial as of one moment.
    pub fn snapshot(&mut self) -> Result<(Subdomains, i64), StoreError> {
        snapshot(&mut self.client)
            .map_err(|e| StoreError::Failed(format!("store {}: reload: {e}", self.name)))
    }

    /// A round trip on the listening connection: a silent peer is found here.
    pub fn check(&mut self, timeout: Duration) -> Result<(), StoreError> {
        self.client
            .is_valid(timeout)
            .map_err(|e| StoreError::Failed(format!("store {}: notifications: {e}", self.name)))
    }
}

fn parse_change(payload: &str) -> Option<Change> {
    let change: serde_json::Value = serde_json::from_str(payload).ok()?;
    let values = change.get("values")?.as_array()?;
    Some(Change {
        serial: change.get("serial")?.as_i64()?,
        subdomain: change.get("subdomain")?.as_str()?.to_string(),
        values: values
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()?,
    })
}

/// The URL in `file`: the file must not be readable by group or others.
fn read_url(file: &Path) -> Result<postgres::Config, StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let what = format!("store: PostgreSQL URL file {}", file.display());
    let metadata =
        std::fs::metadata(file).map_err(|e| StoreError::Failed(format!("{what}: {e}")))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::Failed(format!(
            "{what}: mode {mode:04o}, expected 0600 (it may hold a password)"
        )));
    }
    let text =
        std::fs::read_to_string(file).map_err(|e| StoreError::Failed(format!("{what}: {e}")))?;
    let config: postgres::Config = text.trim().parse().map_err(|e| {
        StoreError::Failed(format!(
            "{what}: expected a URL such as postgresql://lanseal@10.0.0.5/lanseal: {e}"
        ))
    })?;
    if matches!(config.get_ssl_mode(), SslMode::Require) {
        return Err(StoreError::Failed(format!(
            "{what}: sslmode=require, but this lanseal speaks to PostgreSQL without TLS; \
             reach it over loopback, a private network or WireGuard and drop sslmode"
        )));
    }
    Ok(config)
}

/// `postgresql://host:port/dbname` without user or password.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            Host::Tcp(name) => format!("{name}:{port}"),
            Host::Unix(dir) => format!("{}:{port}", dir.display()),
        })
        .collect();
    let hosts = match hosts.is_empty() {
        true => "localhost".to_string(),
        false => hosts.join(","),
    };
    format!(
        "postgresql://{hosts}/{}",
        config.get_dbname().unwrap_or_default()
    )
}

/// Brings the database to `SCHEMA_VERSION`, one step per transaction, each
/// under the advisory lock and reading the version inside it.
fn migrate(client: &mut Client, name: &str) -> Result<(), StoreError> {
    let fail =
        |what: &str, e: postgres::Error| StoreError::Failed(format!("store {name}: {what}: {e}"));
    loop {
        let what = "locking the database to read the schema version";
        let mut transaction = client.transaction().map_err(|e| fail(what, e))?;
        transaction
            .query_one("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(|e| fail(what, e))?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS lanseal_schema (
                     id      INTEGER PRIMARY KEY CHECK (id = 1),
                     version INTEGER NOT NULL
                 );
                 INSERT INTO lanseal_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
            )
            .map_err(|e| fail("creating the version table", e))?;
        let found: i32 = transaction
            .query_one("SELECT version FROM lanseal_schema WHERE id = 1", &[])
            .and_then(|row| row.try_get(0))
            .map_err(|e| fail("reading the schema version", e))?;
        let known = super::SCHEMA_VERSION;
        let Some(from) = usize::try_from(found).ok().filter(|&v| v <= known) else {
            return Err(StoreError::Failed(format!(
                "store {name}: schema version {found} was written by a newer lanseal \
                 (this one knows up to {known}); run the newer lanseal or restore a backup"
            )));
        };
        let Some(sql) = MIGRATIONS.get(from) else {
            return transaction
                .commit()
                .map_err(|e| fail("reading the schema version", e));
        };
        let to = from + 1;
        let what = format!("migrating the schema from version {from} to {to}");
        transaction.batch_execute(sql).map_err(|e| fail(&what, e))?;
        transaction
            .execute(
                "UPDATE lanseal_schema SET version = $1 WHERE id = 1",
                &[&(to as i32)],
            )
            .map_err(|e| fail(&what, e))?;
        transaction.commit().map_err(|e| fail(&what, e))?;
        log::info!("store {name}: schema migrated to version {to}");
    }
}

/// Raises the serial to `GREATEST(serial + 1, now)` and returns it; the row
/// lock it takes is held to COMMIT, ordering every writer of every node.
fn raise_serial(transaction: &mut Transaction<'_>, now_unix: i64) -> Result<i64, postgres::Error> {
    transaction
        .query_one(
            "INSERT INTO delegate_serial (id, serial) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE
             SET serial = GREATEST(delegate_serial.serial + 1, EXCLUDED.serial)
             RETURNING serial",
            &[&now_unix.max(1)],
        )?
        .try_get(0)
}

/// Delivered to every listening node when the transaction commits: the
/// subdomain's values as this transaction leaves them (at most two values of
/// 255 bytes: far below NOTIFY's 8000-byte payload).
fn notify(
    transaction: &mut Transaction<'_>,
    serial: i64,
    subdomain: &str,
    values: &[String],
) -> Result<(), postgres::Error> {
    let payload = serde_json::json!({ "serial": serial, "subdomain": subdomain, "values": values })
        .to_string();
    transaction
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .map(drop)
}

fn values_of(
    transaction: &mut Transaction<'_>,
    subdomain: &str,
) -> Result<Vec<String>, postgres::Error> {
    transaction
        .query(
            "SELECT value FROM txt WHERE subdomain = $1 ORDER BY seq DESC LIMIT $2",
            &[&subdomain, &(TXT_VALUES_PER_SUBDOMAIN as i64)],
        )?
        .iter()
        .map(|row| row.try_get(0))
        .collect()
}

fn read_serial(client: &mut Client) -> Result<i64, postgres::Error> {
    client
        .query_one("SELECT serial FROM delegate_serial WHERE id = 1", &[])?
        .try_get(0)
}

/// Every subdomain with its values and the serial, in one REPEATABLE READ
/// transaction: a consistent picture as of one moment.
fn snapshot(client: &mut Client) -> Result<(Subdomains, i64), postgres::Error> {
    let mut transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let serial: i64 = transaction
        .query_one("SELECT serial FROM delegate_serial WHERE id = 1", &[])?
        .try_get(0)?;
    let rows = transaction.query(
        "SELECT accounts.subdomain, txt.value FROM accounts
         LEFT JOIN txt ON txt.subdomain = accounts.subdomain
         ORDER BY accounts.subdomain, txt.seq DESC",
        &[],
    )?;
    transaction.commit()?;
    let mut subdomains: Subdomains = Vec::new();
    for row in rows {
        let subdomain: String = row.try_get(0)?;
        let value: Option<String> = row.try_get(1)?;
        match subdomains.last_mut() {
            Some((last, values)) if *last == subdomain => values.extend(value),
            _ => subdomains.push((subdomain, value.into_iter().collect())),
        }
    }
    Ok((subdomains, serial))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn payloads() {
        let payload = serde_json::json!({
            "serial": 1_700_000_001_i64,
            "subdomain": "abc-def",
            "values": ["b", "a"],
        });
        assert_eq!(
            parse_change(&payload.to_string()),
            Some(Change {
                serial: 1_700_000_001,
                subdomain: "abc-def".into(),
                values: vec!["b".into(), "a".into()],
            })
        );
        assert_eq!(parse_change("12 abc"), None);
        assert_eq!(
            parse_change(r#"{"serial": 1, "subdomain": "x", "values": [1]}"#),
            None
        );
        assert_eq!(parse_change(r#"{"serial": 1, "subdomain": "x"}"#), None);
    }
}
