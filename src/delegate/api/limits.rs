//! The API's rate limits: how many accounts may be registered, and how many
//! updates (each a bcrypt) a client may ask for, before any of that work is done.
//!
//! Clients are counted as an IPv4 address or an IPv6 /64 (one host usually owns
//! a whole /64); registrations also per IPv6 /48 (a site: RIRs hand one customer
//! a /48, so its 65,536 /64s must not each get the per-client allowance) and all
//! together. Every table has a fixed capacity and evicts its oldest entry when a
//! new client arrives, so a flood of addresses costs lookups, never memory.
//! Time is a monotonic second passed in by the caller (tests inject it).
//!
//! Several nodes on one PostgreSQL store (`store::postgres`): each keeps these
//! tables (they bound what one client can make that node do, the database's
//! writes included), and then the same windows and bucket are checked once
//! more in the store, summed over all nodes, by one UPSERT each on the
//! database's clock ([`shared_registration_windows`], [`shared_update_key`]).
//! Those rows are deleted once untouched for a window (`delegate::sync`), so
//! the table holds at most the clients of the last hour.
//!
//! Sizing. Registrations: a client registers once per name it delegates; 20 per
//! hour covers a host setting up many names, and the global 1,000 per hour keeps
//! `ACCOUNTS_MAX` (100,000) at least 100 hours away, time for an operator to act.
//! Updates: certbot and lego send two per certificate per renewal (the name and
//! its wildcard, which share one subdomain) and retry failures a few times; a
//! burst of 50 is a 25-certificate renewal at once, and 30 a minute (one bcrypt
//! every two seconds) sustained is far above what renewals need and a small CPU
//! share for an attacker's address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use crate::http::LimitCounter;

/// Accounts at most: a bound on the store (and on the memory of the DNS table).
pub const ACCOUNTS_MAX: usize = 100_000;
/// The window of every registration limit.
pub const REGISTRATION_WINDOW_SECS: u32 = 3600;
/// Registrations per client (IPv4 address, IPv6 /64) per window.
pub const REGISTRATIONS_PER_CLIENT_PER_WINDOW: u32 = 20;
/// Registrations per IPv6 /48 per window, all its /64s together.
pub const REGISTRATIONS_PER_48_PER_WINDOW: u32 = 40;
/// Registrations per window from everyone together.
pub const REGISTRATIONS_PER_WINDOW: u32 = 1000;
/// Clients remembered by each registration table (per client, per /48).
pub const REGISTRATION_CLIENTS_MAX: usize = 4096;
/// Updates a client may send at once (its bucket when full).
pub const UPDATE_BURST: u32 = 50;
/// Updates per minute a client may send, sustained (the bucket's refill).
pub const UPDATES_PER_MINUTE: u32 = 30;
/// Clients remembered by the update limit.
pub const UPDATE_CLIENTS_MAX: usize = 4096;

const MILLI_PER_TOKEN: u64 = 1000;

const _: () = assert!(
    REGISTRATIONS_PER_CLIENT_PER_WINDOW <= REGISTRATIONS_PER_48_PER_WINDOW
        && REGISTRATIONS_PER_48_PER_WINDOW <= REGISTRATIONS_PER_WINDOW
);
const _: () = assert!(UPDATE_BURST >= 2 && UPDATES_PER_MINUTE >= 1);
// Open registration alone takes at least 100 windows (hours) to fill the store.
const _: () = assert!(ACCOUNTS_MAX / REGISTRATIONS_PER_WINDOW as usize >= 100);

/// `ip` as the limits count it: IPv4 whole, IPv6 cut to its first `v6_bits`.
pub fn client_prefix(ip: IpAddr, v6_bits: u32) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - v6_bits.min(128)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
        v4 => v4,
    }
}

/// The registration windows all nodes of a shared store count together: the
/// same limits as [`RegistrationLimits`], in the same order (client, /48,
/// everyone), keyed by the address cut to its prefix.
pub fn shared_registration_windows(ip: IpAddr) -> Vec<crate::store::SharedWindow> {
    let client = client_prefix(ip, 64);
    let window = |kind: &str, ip: Option<IpAddr>, max: u32| crate::store::SharedWindow {
        key: crate::store::limit_key(kind, ip),
        max,
        window_secs: REGISTRATION_WINDOW_SECS,
    };
    let mut windows = vec![window(
        "register/client",
        Some(client),
        REGISTRATIONS_PER_CLIENT_PER_WINDOW,
    )];
    if matches!(client, IpAddr::V6(_)) {
        let site = client_prefix(ip, 48);
        windows.push(window(
            "register/48",
            Some(site),
            REGISTRATIONS_PER_48_PER_WINDOW,
        ));
    }
    windows.push(window("register/all", None, REGISTRATIONS_PER_WINDOW));
    windows
}

/// Which limit refused, from the index [`shared_registration_windows`] gave.
pub fn shared_registration_limit(index: usize, ip: IpAddr) -> RegistrationLimit {
    let is_v6 = matches!(client_prefix(ip, 64), IpAddr::V6(_));
    match (index, is_v6) {
        (0, _) => RegistrationLimit::Client,
        (1, true) => RegistrationLimit::Site48,
        _ => RegistrationLimit::Everyone,
    }
}

/// The key of a client's update bucket all nodes share.
pub fn shared_update_key(ip: IpAddr) -> String {
    crate::store::limit_key("update", Some(client_prefix(ip, 64)))
}

/// Which registration limit refused a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationLimit {
    Client,
    Site48,
    Everyone,
}

/// A map of at most `capacity` entries: when full, a new key takes the place of
/// the entry whose `age` stamp is smallest (oldest).
struct Table<V> {
    entries: HashMap<IpAddr, V>,
    capacity: usize,
}

impl<V: Copy> Table<V> {
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // Allocated once: inserting up to `capacity` never reallocates.
        let entries = HashMap::with_capacity(capacity);
        Table { entries, capacity }
    }

    fn get(&self, key: &IpAddr) -> Option<V> {
        self.entries.get(key).copied()
    }

    fn put(&mut self, key: IpAddr, value: V, age: impl Fn(&V) -> u32) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let oldest = self.entries.iter().min_by_key(|(_, v)| age(v));
            if let Some(oldest) = oldest.map(|(k, _)| *k) {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, value);
    }
}

/// A fixed window: when it began, and what it counted since.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start_secs: u32,
    count: u32,
}

impl Window {
    /// The count at `now`: 0 once the window is over.
    fn count_at(self, now_secs: u32) -> u32 {
        let over = now_secs.saturating_sub(self.start_secs) >= REGISTRATION_WINDOW_SECS;
        if over { 0 } else { self.count }
    }

    /// The window with one more at `now` (a new window if the old one is over).
    fn plus_one(self, now_secs: u32) -> Window {
        match self.count_at(now_secs) {
            0 => Window {
                start_secs: now_secs,
                count: 1,
            },
            count => Window {
                count: count.saturating_add(1),
                ..self
            },
        }
    }
}

/// Registrations per client, per IPv6 /48 and altogether, each per window.
pub struct RegistrationLimits {
    per_client: Table<Window>,
    per_48: Table<Window>,
    everyone: Window,
}

impl RegistrationLimits {
    pub fn new() -> Self {
        RegistrationLimits {
            per_client: Table::new(REGISTRATION_CLIENTS_MAX),
            per_48: Table::new(REGISTRATION_CLIENTS_MAX),
            everyone: Window::default(),
        }
    }

    /// Admits one registration from `ip` at `now`, or says which limit refuses
    /// it. Only an admitted one is counted, so a client over its own limit
    /// cannot spend the /48's or everyone's allowance.
    pub fn admit(&mut self, ip: IpAddr, now_secs: u32) -> Result<(), RegistrationLimit> {
        let client = client_prefix(ip, 64);
        let site = matches!(client, IpAddr::V6(_)).then(|| client_prefix(ip, 48));
        let count = |window: Option<Window>| window.map_or(0, |w| w.count_at(now_secs));
        if count(self.per_client.get(&client)) >= REGISTRATIONS_PER_CLIENT_PER_WINDOW {
            return Err(RegistrationLimit::Client);
        }
        if let Some(site) = site
            && count(self.per_48.get(&site)) >= REGISTRATIONS_PER_48_PER_WINDOW
        {
            return Err(RegistrationLimit::Site48);
        }
        if self.everyone.count_at(now_secs) >= REGISTRATIONS_PER_WINDOW {
            return Err(RegistrationLimit::Everyone);
        }
        let started = |w: &Window| w.start_secs;
        let window = self.per_client.get(&client).unwrap_or_default();
        self.per_client
            .put(client, window.plus_one(now_secs), started);
        if let Some(site) = site {
            let window = self.per_48.get(&site).unwrap_or_default();
            self.per_48.put(site, window.plus_one(now_secs), started);
        }
        self.everyone = self.everyone.plus_one(now_secs);
        Ok(())
    }
}

/// A token bucket in milli-tokens, as of a second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens_milli: u64,
    at_secs: u32,
}

/// Updates per client: a token bucket of `UPDATE_BURST` refilled at
/// `UPDATES_PER_MINUTE`.
pub struct UpdateLimits {
    buckets: Table<Bucket>,
}

impl UpdateLimits {
    pub fn new() -> Self {
        UpdateLimits {
            buckets: Table::new(UPDATE_CLIENTS_MAX),
        }
    }

    /// Takes one update's token for `ip` at `now`; false when none is left.
    pub fn take(&mut self, ip: IpAddr, now_secs: u32) -> bool {
        let client = client_prefix(ip, 64);
        let full = u64::from(UPDATE_BURST) * MILLI_PER_TOKEN;
        let bucket = self.buckets.get(&client).map_or(full, |b| {
            let elapsed = u64::from(now_secs.saturating_sub(b.at_secs));
            let refill = elapsed * u64::from(UPDATES_PER_MINUTE) * MILLI_PER_TOKEN / 60;
            b.tokens_milli.saturating_add(refill).min(full)
        });
        let allowed = bucket >= MILLI_PER_TOKEN;
        let tokens_milli = if allowed {
            bucket - MILLI_PER_TOKEN
        } else {
            bucket
        };
        let at_secs = now_secs;
        let touched = |b: &Bucket| b.at_secs;
        let bucket = Bucket {
            tokens_milli,
            at_secs,
        };
        self.buckets.put(client, bucket, touched);
        allowed
    }
}

/// Every limit hit of the API, counted and logged at most once a minute each.
#[derive(Debug)]
pub struct LimitCounters {
    pub registrations_per_client: LimitCounter,
    pub registrations_per_48: LimitCounter,
    pub registrations_everyone: LimitCounter,
    pub updates_per_client: LimitCounter,
}

impl Default for LimitCounters {
    fn default() -> Self {
        LimitCounters {
            registrations_per_client: LimitCounter::new(
                "delegate: registration refused, client over its limit",
            ),
            registrations_per_48: LimitCounter::new(
                "delegate: registration refused, IPv6 /48 over its limit",
            ),
            registrations_everyone: LimitCounter::new(
                "delegate: registration refused, all clients together over the limit",
            ),
            updates_per_client: LimitCounter::new(
                "delegate: update refused (429), client over its limit",
            ),
        }
    }
}

impl LimitCounters {
    pub fn registration(&self, limit: RegistrationLimit) -> &LimitCounter {
        match limit {
            RegistrationLimit::Client => &self.registrations_per_client,
            RegistrationLimit::Site48 => &self.registrations_per_48,
            RegistrationLimit::Everyone => &self.registrations_everyone,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// An address in 2001:db8:<site>::/48, /64 number `net`.
    fn v6(site: u16, net: u16) -> IpAddr {
        ip(&format!("2001:db8:{site:x}:{net:x}::1"))
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            client_prefix(ip("2001:db8:1:2:3::4"), 64),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_prefix(ip("2001:db8:1:2:3::4"), 48),
            ip("2001:db8:1::")
        );
        assert_eq!(client_prefix(ip("::ffff:192.0.2.1"), 64), ip("192.0.2.1"));
        assert_eq!(client_prefix(ip("192.0.2.1"), 48), ip("192.0.2.1"));
        assert_eq!(client_prefix(ip("2001:db8::1"), 0), ip("::"));
    }

    #[test]
    fn registrations_per_client_and_per_64() {
        let mut limits = RegistrationLimits::new();
        for _ in 0..REGISTRATIONS_PER_CLIENT_PER_WINDOW {
            assert_eq!(limits.admit(ip("2001:db8::1"), 0), Ok(()));
        }
        let refused = Err(RegistrationLimit::Client);
        assert_eq!(limits.admit(ip("2001:db8::1"), 0), refused);
        assert_eq!(limits.admit(ip("2001:db8::ffff"), 1), refused, "same /64");
        assert_eq!(limits.admit(ip("2001:db8:0:1::1"), 1), Ok(()));
        assert_eq!(limits.admit(ip("192.0.2.1"), 1), Ok(()));
        // The window ends: the client may register again.
        let later = REGISTRATION_WINDOW_SECS;
        assert_eq!(limits.admit(ip("2001:db8::1"), later), Ok(()));
    }

    #[test]
    fn registrations_per_48() {
        let mut limits = RegistrationLimits::new();
        // Each /64 of one /48 stays under its own limit; the /48 as a whole stops.
        let per_64 = REGISTRATIONS_PER_CLIENT_PER_WINDOW;
        let mut admitted = 0;
        for net in 0..10 {
            for _ in 0..per_64 {
                admitted += u32::from(limits.admit(v6(1, net), 5).is_ok());
            }
        }
        assert_eq!(admitted, REGISTRATIONS_PER_48_PER_WINDOW);
        assert_eq!(limits.admit(v6(1, 99), 5), Err(RegistrationLimit::Site48));
        // Another /48 is not affected; nor is IPv4.
        assert_eq!(limits.admit(v6(2, 0), 5), Ok(()));
        assert_eq!(limits.admit(ip("192.0.2.1"), 5), Ok(()));
        assert_eq!(
            limits.admit(v6(1, 99), 5 + REGISTRATION_WINDOW_SECS),
            Ok(())
        );
    }

    #[test]
    fn registrations_of_everyone() {
        let mut limits = RegistrationLimits::new();
        let clients = (0..).map(|n: u32| IpAddr::V4((0x0a00_0000 + n).into()));
        let mut clients = clients.take(REGISTRATIONS_PER_WINDOW as usize + 1);
        for client in clients.by_ref().take(REGISTRATIONS_PER_WINDOW as usize) {
            assert_eq!(limits.admit(client, 10), Ok(()));
        }
        let last = clients.next().unwrap();
        assert_eq!(limits.admit(last, 10), Err(RegistrationLimit::Everyone));
        // Refused attempts counted nothing: the per-client allowance is intact.
        assert_eq!(limits.admit(last, 10 + REGISTRATION_WINDOW_SECS), Ok(()));
        for _ in 1..REGISTRATIONS_PER_CLIENT_PER_WINDOW {
            assert_eq!(limits.admit(last, 10 + REGISTRATION_WINDOW_SECS), Ok(()));
        }
    }

    #[test]
    fn tables_evict_instead_of_growing() {
        let mut limits = RegistrationLimits::new();
        for n in 0..(REGISTRATION_CLIENTS_MAX as u32 + 100) {
            let _ = limits.admit(v6(n as u16, 0), n * 4); // under everyone's limit
        }
        assert_eq!(limits.per_client.entries.len(), REGISTRATION_CLIENTS_MAX);
        assert_eq!(limits.per_48.entries.len(), REGISTRATION_CLIENTS_MAX);
        let mut updates = UpdateLimits::new();
        for n in 0..(UPDATE_CLIENTS_MAX as u32 + 100) {
            assert!(updates.take(IpAddr::V4(n.into()), n));
        }
        assert_eq!(updates.buckets.entries.len(), UPDATE_CLIENTS_MAX);
        // The one touched longest ago went first.
        assert!(updates.buckets.get(&IpAddr::V4(0.into())).is_none());
    }

    #[test]
    fn updates_burst_then_refill() {
        let mut limits = UpdateLimits::new();
        let client = ip("2001:db8::1");
        for _ in 0..UPDATE_BURST {
            assert!(limits.take(client, 100));
        }
        assert!(!limits.take(client, 100));
        assert!(!limits.take(ip("2001:db8::2"), 100), "same /64");
        assert!(limits.take(ip("2001:db8:0:1::1"), 100), "another /64");
        // One token per 60 / UPDATES_PER_MINUTE seconds.
        let per_token_secs = 60 / UPDATES_PER_MINUTE;
        assert!(limits.take(client, 100 + per_token_secs));
        assert!(!limits.take(client, 100 + per_token_secs));
        // A long pause refills the whole burst, no more.
        let later = 100 + 3600;
        for _ in 0..UPDATE_BURST {
            assert!(limits.take(client, later));
        }
        assert!(!limits.take(client, later));
    }
}
