//! What the DNS threads serve right now, and how a new version replaces it.
//!
//! A [`Service`] bundles everything a query consults (the answerer with its zones and
//! host names, the ACL, the rate limiter). It is immutable; a reload or a changed
//! lease file builds a new one and [`Current::publish`]es it. Each serving thread
//! keeps its own `Arc` in a [`View`] and, per query, compares one generation number
//! (a relaxed atomic load, no lock, no shared write) to learn that a newer version
//! exists; only then does it take the lock to pick it up. Queries in flight finish
//! on the version they started with, so a reload drops nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::dns::acl::Acl;
use crate::dns::answer::Answerer;
use crate::dns::cache::prefetch::Prefetches;
use crate::dns::forward::Forwarder;
use crate::dns::ratelimit::RateLimiter;

/// Everything one query consults.
#[derive(Debug)]
pub struct Service {
    pub answerer: Answerer,
    pub acl: Acl,
    /// `None` when `rate_limit_qps = 0`.
    pub limiter: Option<Arc<RateLimiter>>,
    /// The same limit over TCP, in a table of its own (see `dns::server`).
    pub tcp_limiter: Option<Arc<RateLimiter>>,
    /// `None` when no upstream is configured.
    pub forwarder: Option<Arc<Forwarder>>,
    /// The prefetches every cache queues; one for the process's life, so the I/O
    /// thread that drains it never has to follow a new one.
    pub prefetches: Arc<Prefetches>,
    /// SIGTERM: new queries are dropped unread while what was accepted drains.
    pub stopping: bool,
    /// The router zones transferred to secondaries, and their key.
    pub zone_transfers: Option<Arc<crate::dns::xfr::ZoneTransfers>>,
}

/// The version of [`Service`] that new queries use.
#[derive(Debug)]
pub struct Current {
    generation: AtomicUsize,
    service: Mutex<Arc<Service>>,
    /// Woken by each publication (for the router zones' NOTIFY task).
    published: tokio::sync::Notify,
}

impl Current {
    pub fn new(service: Service) -> Self {
        Self {
            generation: AtomicUsize::new(0),
            service: Mutex::new(Arc::new(service)),
            published: tokio::sync::Notify::new(),
        }
    }

    /// Makes `service` the one every thread uses from its next query on.
    pub fn publish(&self, service: Service) {
        let mut slot = self.service.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Arc::new(service);
        // Released after the store above, so a thread that sees the new number
        // finds the new service behind the lock.
        self.generation.fetch_add(1, Ordering::Release);
        self.published.notify_one();
    }

    /// Returns once a service was published since the last call returned (the
    /// one task that waits here: a publication in between is not lost).
    pub async fn changed(&self) {
        self.published.notified().await;
    }

    pub fn load(&self) -> Arc<Service> {
        self.service
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A per-thread handle that follows this value.
    pub fn view(&self) -> View<'_> {
        let generation = self.generation.load(Ordering::Acquire);
        View {
            current: self,
            generation,
            service: self.load(),
        }
    }
}

/// One thread's copy of the current service.
#[derive(Debug)]
pub struct View<'a> {
    current: &'a Current,
    generation: usize,
    service: Arc<Service>,
}

impl View<'_> {
    /// The current service: one atomic load, plus a lock only after a publish.
    #[inline]
    pub fn get(&mut self) -> &Service {
        let generation = self.current.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.generation = generation;
            self.service = self.current.load();
        }
        &self.service
    }
}
