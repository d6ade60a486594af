//! Keeps this node's delegate records in step with a PostgreSQL store that
//! several delegate nodes share (feature `postgres`; `store::postgres`).
//!
//! One thread, with a connection of its own that LISTENs on the store's
//! channel, is the only writer of the node's records once the API serves.
//! Every write of every node (this one's included) notifies, at COMMIT and in
//! commit order, its serial and the subdomain's values as that transaction
//! left them; the thread commits each notification newer than what the table
//! reflects, under its serial. So the table's serial only rises, every change
//! is in the IXFR journal, and every node holds exactly the database's state
//! at each serial it publishes: a secondary may transfer from any node, by
//! IXFR too. (Re-reading the values when a notification arrives would
//! converge as well, but could publish a later state under an earlier serial,
//! and two nodes' journals would then disagree about what a serial holds.)
//! The writing API thread waits until its serial is published before it
//! answers.
//!
//! Fallback: every [`POLL_INTERVAL`] the thread checks its connection (a round
//! trip) and reads the database's serial; when the table is behind it and no
//! notification catches up within [`POLL_GRACE`], it reloads everything as of
//! one moment and commits what differs (one journal entry). A lost connection
//! is made anew with backoff ([`BACKOFF_MIN`] doubling to [`BACKOFF_MAX`]),
//! then everything is reloaded (notifications were missed meanwhile). Bound: a
//! change committed at any node is served by every node whose database
//! connection works within one notification round trip (milliseconds on a
//! LAN, measured by tests/postgres.rs), and at worst within
//! `POLL_INTERVAL + POLL_GRACE` (5 s) while the connection holds; after a lost
//! connection, as soon as the thread is connected again (attempts back off up
//! to `BACKOFF_MAX`: a database that is down is not hammered by every node).
//! While the database is away the DNS keeps answering from memory.
//!
//! The thread also deletes the shared limits' rows untouched for a window
//! (every [`PRUNE_INTERVAL`]), which keeps that table at the clients of the
//! last hour.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::delegate::zone::DelegateRecords;
use crate::store::StoreError;
use crate::store::postgres::{Change, Listener, Postgres};

/// How often the serial is compared with the database's.
pub const POLL_INTERVAL: Duration = Duration::from_secs(4);
/// How long a poll that finds the table behind waits for notifications.
pub const POLL_GRACE: Duration = Duration::from_secs(1);
/// The first wait before connecting again, doubled up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often the limits' idle rows are deleted.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a connection check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the thread; it runs for the life of the process.
pub fn spawn(postgres: Arc<Postgres>, records: Arc<DelegateRecords>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("delegate-sync".into())
        .spawn(move || run(&postgres, &records))
        .map(drop)
        .map_err(|e| format!("cannot start the delegate's sync thread: {e}"))
}

fn run(postgres: &Postgres, records: &DelegateRecords) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let error = session(postgres, records, &mut backoff);
        log::warn!("delegate: sync: {error}; connecting again in {backoff:?}");
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection's life: listen, reload, then follow notifications and poll
/// until something fails (the error is returned).
fn session(postgres: &Postgres, records: &DelegateRecords, backoff: &mut Duration) -> StoreError {
    let mut listener = match postgres.listen() {
        Ok(listener) => listener,
        Err(e) => return e,
    };
    // Listening first, then the reload: a change in between is not missed.
    if let Err(e) = reload(postgres, records, &mut listener) {
        return e;
    }
    *backoff = BACKOFF_MIN;
    log::info!("delegate: following changes in {}", postgres.name());
    let mut next_poll = Instant::now() + POLL_INTERVAL;
    let mut next_prune = Instant::now();
    loop {
        let wait = next_poll.saturating_duration_since(Instant::now());
        match listener.next(wait) {
            Ok(Some(change)) => {
                apply(postgres, records, &change);
            }
            Ok(None) => {}
            Err(e) => return e,
        }
        let now = Instant::now();
        if now >= next_poll {
            if let Err(e) = poll(postgres, records, &mut listener) {
                return e;
            }
            next_poll = Instant::now() + POLL_INTERVAL;
        }
        if now >= next_prune {
            let idle = crate::delegate::api::REGISTRATION_WINDOW_SECS;
            match postgres.prune_limits(idle) {
                Ok(0) => {}
                Ok(deleted) => log::debug!("delegate: {deleted} idle limit row(s) deleted"),
                Err(e) => log::warn!("delegate: {e}"),
            }
            next_prune = now + PRUNE_INTERVAL;
        }
    }
}

/// A notified change, unless the table already reflects its serial.
fn apply(postgres: &Postgres, records: &DelegateRecords, change: &Change) {
    if change.serial <= postgres.published() {
        return;
    }
    records.commit(&change.subdomain, &change.values, change.serial as u32);
    postgres.set_published(change.serial);
}

/// The connection checked, then the serial compared; behind after the grace:
/// everything reloaded.
fn poll(
    postgres: &Postgres,
    records: &DelegateRecords,
    listener: &mut Listener,
) -> Result<(), StoreError> {
    listener.check(CHECK_TIMEOUT)?;
    let serial = listener.serial()?;
    let deadline = Instant::now() + POLL_GRACE;
    while postgres.published() < serial {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            log::warn!(
                "delegate: serial {serial} in the database, {} served: reloading",
                postgres.published()
            );
            return reload(postgres, records, listener);
        }
        if let Some(change) = listener.next(left)? {
            apply(postgres, records, &change);
        }
    }
    Ok(())
}

/// Everything as of one moment, committed where it differs, unless the table
/// reflects that moment already.
fn reload(
    postgres: &Postgres,
    records: &DelegateRecords,
    listener: &mut Listener,
) -> Result<(), StoreError> {
    let (subdomains, serial) = listener.snapshot()?;
    if serial > postgres.published() {
        records.commit_many(&subdomains, serial as u32);
        postgres.set_published(serial);
    }
    Ok(())
}
