//! The table of open connections: who holds a slot, and which slot gives way.
//!
//! A new connection is admitted when its client (an IPv4 address, an IPv6 /64:
//! one host usually owns a whole /64) holds fewer than
//! `connections_per_client_max` and a slot is free. Otherwise an idle connection
//! makes room — the client's own oldest idle one when the client is at its cap,
//! the oldest idle one of anybody when the table is full — and only when none is
//! idle is the new connection refused. So one host can never hold the server,
//! and many hosts that hold connections without sending lose them to clients
//! that come to talk. Idle means waiting for a request: from the accept (a TLS
//! handshake included) to a request's first byte, and while lingering after the
//! last answer. A connection reading a request, in its handler or writing an
//! answer is busy and never evicted: its `request_timeout` bounds it.
//!
//! Invariants: at most `connections_max` entries (the table is allocated once);
//! every admission, refusal and eviction is decided under one lock and counted;
//! a slot's entry leaves the table exactly once (eviction or drop).

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::task::AbortHandle;

use super::{Counters, Limits};

/// A client for the per-client cap: the IPv4 address, or the IPv6 /64.
fn client_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6) & !((1u128 << 64) - 1),
    }
}

struct Entry {
    id: u64,
    /// `None` for a peer exempt from the per-client cap.
    client: Option<u128>,
    /// While idle: the tick it became idle (smaller is older). `None` while busy.
    idle_since: Option<u64>,
    /// Closes the connection's task; set right after the task is spawned.
    task: Option<AbortHandle>,
}

struct Table {
    entries: Vec<Entry>,
    /// Source of entry ids and idle ticks: strictly increasing.
    tick: u64,
}

impl Table {
    fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }

    /// Index of the oldest idle entry among those `eligible`.
    fn oldest_idle(&self, eligible: impl Fn(&Entry) -> bool) -> Option<usize> {
        let idle = self.entries.iter().enumerate();
        let idle = idle
            .filter(|(_, e)| eligible(e))
            .filter_map(|(i, e)| Some((i, e.idle_since?)));
        idle.min_by_key(|&(_, since)| since).map(|(i, _)| i)
    }

    /// Removes entry `index` and closes its connection.
    fn evict(&mut self, index: usize) {
        let entry = self.entries.swap_remove(index);
        if let Some(task) = entry.task {
            task.abort();
        }
    }
}

/// Every open connection of one server.
pub(super) struct Slots {
    table: Mutex<Table>,
    connections_max: usize,
    per_client_max: usize,
    exempt: Vec<crate::dns::acl::Net>,
    counters: Arc<Counters>,
}

impl Slots {
    pub(super) fn new(limits: &Limits, counters: Arc<Counters>) -> Arc<Slots> {
        // Zero slots would refuse everyone; one is the least that can serve.
        let connections_max = limits.connections_max.max(1);
        let entries = Vec::with_capacity(connections_max);
        Arc::new(Slots {
            table: Mutex::new(Table { entries, tick: 0 }),
            connections_max,
            per_client_max: limits.connections_per_client_max.max(1),
            exempt: limits.per_client_exempt.clone(),
            counters,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new connection from `peer` (idle until its first byte), or
    /// None: refused, counted.
    pub(super) fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let exempt = self.exempt.iter().any(|net| net.contains(peer));
        let client = (!exempt).then(|| client_key(peer));
        let mut table = self.lock();
        if let Some(key) = client {
            let held = table
                .entries
                .iter()
                .filter(|e| e.client == Some(key))
                .count();
            if held >= self.per_client_max {
                let Some(own) = table.oldest_idle(|e| e.client == Some(key)) else {
                    self.counters.refused_per_client.hit();
                    return None;
                };
                table.evict(own);
                self.counters.evicted_idle.hit();
            }
        }
        if table.entries.len() >= self.connections_max {
            let Some(oldest) = table.oldest_idle(|_| true) else {
                self.counters.refused_full.hit();
                return None;
            };
            table.evict(oldest);
            self.counters.evicted_idle.hit();
        }
        let id = table.next_tick();
        let idle_since = Some(id);
        let task = None;
        table.entries.push(Entry {
            id,
            client,
            idle_since,
            task,
        });
        self.counters.open.store(table.entries.len(), Relaxed);
        Some(Slot {
            slots: self.clone(),
            id,
        })
    }
}

impl Slots {
    /// The handle that closes connection `id`'s task if it is evicted.
    pub(super) fn set_task(&self, id: u64, task: AbortHandle) {
        let mut table = self.lock();
        if let Some(entry) = table.entries.iter_mut().find(|e| e.id == id) {
            entry.task = Some(task);
        }
    }
}

/// One connection's place in the table; dropping it (however the task ends)
/// frees the place, unless an eviction already did.
pub(super) struct Slot {
    slots: Arc<Slots>,
    id: u64,
}

impl Slot {
    fn with_entry(&self, change: impl FnOnce(&mut Entry, u64)) {
        let mut table = self.slots.lock();
        let tick = table.next_tick();
        if let Some(entry) = table.entries.iter_mut().find(|e| e.id == self.id) {
            change(entry, tick);
        }
    }

    /// The server's counters.
    pub(super) fn counters(&self) -> &Counters {
        &self.slots.counters
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// Waiting for a request (or lingering): may be evicted from now on.
    pub(super) fn idle(&self) {
        self.with_entry(|entry, tick| entry.idle_since = Some(tick));
    }

    /// A request has begun: not evicted until it is answered.
    pub(super) fn busy(&self) {
        self.with_entry(|entry, _| entry.idle_since = None);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.slots.lock();
        if let Some(index) = table.entries.iter().position(|e| e.id == self.id) {
            table.entries.swap_remove(index);
        }
        self.slots.counters.open.store(table.entries.len(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn slots(connections_max: usize, per_client_max: usize) -> Arc<Slots> {
        let limits = Limits {
            connections_max,
            connections_per_client_max: per_client_max,
            per_client_exempt: vec![crate::dns::acl::Net::parse("10.0.0.0/8").unwrap()],
            ..Limits::default()
        };
        Slots::new(&limits, Arc::new(Counters::default()))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn ids(slots: &Slots) -> Vec<u64> {
        let mut ids: Vec<u64> = slots.lock().entries.iter().map(|e| e.id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn per_client_cap_takes_the_clients_own_oldest_idle() {
        let slots = slots(8, 2);
        let a1 = slots.admit(ip("192.0.2.1")).unwrap();
        let a2 = slots.admit(ip("192.0.2.1")).unwrap();
        a1.busy();
        // At its cap with a2 idle: a2 makes room for a3.
        let a3 = slots.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(ids(&slots), [a1.id, a3.id]);
        assert_eq!(slots.counters.evicted_idle.hits(), 1);
        drop(a2); // Its task ends after the eviction: nothing more leaves.
        assert_eq!(ids(&slots), [a1.id, a3.id]);
        a3.busy();
        assert!(slots.admit(ip("192.0.2.1")).is_none(), "none idle");
        assert_eq!(slots.counters.refused_per_client.hits(), 1);
        // The same /64 is one client; another /64, another address are not.
        let v6 = [ip("2001:db8::1"), ip("2001:db8::ffff:1"), ip("2001:db8::2")];
        let held: Vec<Slot> = v6.iter().map(|&p| slots.admit(p).unwrap()).collect();
        assert_eq!(
            slots.lock().entries.len(),
            4,
            "the third replaced the first"
        );
        assert!(slots.admit(ip("2001:db8:0:1::1")).is_some());
        assert!(slots.admit(ip("192.0.2.2")).is_some());
        drop(held);
        // Exempt peers (trusted proxies) have no cap of their own.
        let proxy: Vec<Slot> = (0..4)
            .map(|_| slots.admit(ip("10.1.1.1")).unwrap())
            .collect();
        assert_eq!(proxy.len(), 4);
    }

    #[test]
    fn a_full_table_evicts_the_oldest_idle_or_refuses() {
        let slots = slots(3, 3);
        let a = slots.admit(ip("192.0.2.1")).unwrap();
        let b = slots.admit(ip("192.0.2.2")).unwrap();
        let c = slots.admit(ip("192.0.2.3")).unwrap();
        // a became idle again after b and c: b is now the oldest idle.
        a.busy();
        a.idle();
        let d = slots.admit(ip("192.0.2.4")).unwrap();
        assert_eq!(ids(&slots), [a.id, c.id, d.id]);
        for slot in [&a, &c, &d] {
            slot.busy();
        }
        assert!(slots.admit(ip("192.0.2.5")).is_none());
        assert_eq!(slots.counters.refused_full.hits(), 1);
        assert_eq!(slots.counters.evicted_idle.hits(), 1);
        assert_eq!(slots.counters.open.load(Relaxed), 3);
        drop((b, c));
        assert_eq!(slots.counters.open.load(Relaxed), 2);
        assert!(slots.admit(ip("192.0.2.5")).is_some());
    }
}
