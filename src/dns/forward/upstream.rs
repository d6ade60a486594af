//! The upstream servers and their health: one [`Peer`] per configured server, its
//! smoothed round-trip time deciding the order they are tried in and the timeout
//! each attempt gets, and the per-domain routes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crate::dns::dot::DotClient;

/// Round-trip estimate of an upstream not yet measured.
const SRTT_INITIAL_MS: u32 = 100;
/// A failed attempt counts as this round trip, so a dead upstream sinks.
const SRTT_FAILURE_MS: u32 = 3000;
/// Per-attempt timeout bounds: a few round trips, never below the first nor above
/// the second.
const TIMEOUT_MIN_MS: u32 = 250;
const TIMEOUT_MAX_MS: u32 = 1500;

/// An upstream as the config names it: plain DNS, or DNS over TLS with the name
/// its certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub address: SocketAddr,
    pub tls_name: Option<String>,
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tls_name {
            Some(name) => write!(f, "tls://{}#{name}", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

/// An upstream with its health.
#[derive(Debug)]
pub struct Peer {
    pub address: SocketAddr,
    /// Present for DNS over TLS (then no UDP at all).
    pub dot: Option<DotClient>,
    /// Smoothed round-trip time in milliseconds (RFC 6298 style, gain 1/8).
    srtt_ms: AtomicU32,
    failures: AtomicUsize,
    answers: AtomicUsize,
}

impl Peer {
    /// A few round trips, within the bounds.
    pub fn timeout(&self) -> Duration {
        let ms = self.srtt_ms.load(Relaxed).saturating_mul(3);
        Duration::from_millis(u64::from(ms.clamp(TIMEOUT_MIN_MS, TIMEOUT_MAX_MS)))
    }

    /// One attempt's outcome: its round trip when `ok`, else a failure.
    pub fn record(&self, sample_ms: u32, ok: bool) {
        let old = self.srtt_ms.load(Relaxed);
        let sample = if ok { sample_ms } else { SRTT_FAILURE_MS };
        self.srtt_ms
            .store((old.saturating_mul(7).saturating_add(sample)) / 8, Relaxed);
        let counter = if ok { &self.answers } else { &self.failures };
        counter.fetch_add(1, Relaxed);
    }

    pub fn srtt_ms(&self) -> u32 {
        self.srtt_ms.load(Relaxed)
    }
}

/// Per upstream: address, answers, failures, smoothed RTT in ms.
pub type Health = (SocketAddr, usize, usize, u32);

/// The default upstreams and the routes, each a group tried fastest first.
#[derive(Debug)]
pub struct Upstreams {
    default: Box<[Peer]>,
    routes: HashMap<Box<[u8]>, Box<[Peer]>>,
}

impl Upstreams {
    /// `routes`: (domain as lower-case wire, its servers). A DoT server needs
    /// `roots`; without them it is left out (logged).
    pub fn new(
        default: &[Upstream],
        routes: &[(Vec<u8>, Vec<Upstream>)],
        roots: Option<&Arc<rustls::RootCertStore>>,
    ) -> Self {
        Self {
            default: peers(default, roots),
            routes: routes
                .iter()
                .map(|(domain, servers)| (domain.as_slice().into(), peers(servers, roots)))
                .collect(),
        }
    }

    /// The upstreams for `name` (its most specific route, else the default) by
    /// smoothed RTT, fastest first.
    pub fn order(&self, name: &[u8]) -> Vec<&Peer> {
        let group = crate::dns::zone::suffixes(name)
            .find_map(|s| self.routes.get(s))
            .unwrap_or(&self.default);
        let mut order: Vec<&Peer> = group.iter().collect();
        order.sort_by_key(|u| u.srtt_ms());
        order
    }

    pub fn health(&self) -> Vec<Health> {
        self.default
            .iter()
            .chain(self.routes.values().flat_map(|r| r.iter()))
            .map(|u| {
                let (a, f) = (u.answers.load(Relaxed), u.failures.load(Relaxed));
                (u.address, a, f, u.srtt_ms())
            })
            .collect()
    }
}

fn peers(upstreams: &[Upstream], roots: Option<&Arc<rustls::RootCertStore>>) -> Box<[Peer]> {
    upstreams
        .iter()
        .filter_map(|upstream| {
            let dot = match (&upstream.tls_name, roots) {
                (None, _) => None,
                (Some(name), Some(roots)) => {
                    match DotClient::new(upstream.address, name, roots.clone()) {
                        Ok(client) => Some(client),
                        Err(e) => {
                            log::error!("upstream {upstream}: {e}");
                            return None;
                        }
                    }
                }
                (Some(_), None) => {
                    log::error!("upstream {upstream}: no trust anchors for TLS");
                    return None;
                }
            };
            Some(Peer {
                address: upstream.address,
                dot,
                srtt_ms: AtomicU32::new(SRTT_INITIAL_MS),
                failures: AtomicUsize::new(0),
                answers: AtomicUsize::new(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn plain(address: &str) -> Upstream {
        Upstream {
            address: address.parse().unwrap(),
            tls_name: None,
        }
    }

    #[test]
    fn routes_and_order_by_srtt() {
        let routes = vec![(b"\x04corp\x00".to_vec(), vec![plain("10.0.0.1:53")])];
        let upstreams = Upstreams::new(
            &[plain("192.0.2.1:53"), plain("192.0.2.2:53")],
            &routes,
            None,
        );
        let order = upstreams.order(b"\x01a\x04corp\x00");
        assert_eq!(order.len(), 1);
        assert_eq!(order[0].address, "10.0.0.1:53".parse().unwrap());
        let order = upstreams.order(b"\x01a\x04test\x00");
        assert_eq!(order[0].address, "192.0.2.1:53".parse().unwrap());
        // A failure sinks the first; the timeout follows the estimate, within bounds.
        order[0].record(0, false);
        let order = upstreams.order(b"\x01a\x04test\x00");
        assert_eq!(order[0].address, "192.0.2.2:53".parse().unwrap());
        assert_eq!(
            order[1].timeout(),
            Duration::from_millis(3 * ((7 * 100 + SRTT_FAILURE_MS as u64) / 8))
        );
        assert_eq!(order[0].timeout(), Duration::from_millis(300));
        let health = upstreams.health();
        assert_eq!(health.len(), 3);
        assert!(health.iter().any(|h| h.2 == 1));
    }
}
