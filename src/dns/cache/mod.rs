//! The forwarder's answer cache: upstream answers kept as wire bytes and replayed
//! with their TTLs counted down.
//!
//! Owns the cached entries and their bounds, in two parts: `scan` checks an upstream
//! response and decides what of it may be kept and for how long; `table` keeps it
//! (entries, their index, bounds, sampled-LRU eviction, replay with TTLs patched);
//! `prefetch` hands entries asked for in the last tenth of their TTL to the
//! forwarder, bounded. This module is the public surface: [`Cache`], its sharding by key hash, and its
//! counters. An entry is the answer and authority sections of an upstream response
//! exactly as received (the additional section is dropped), the offsets of their TTL
//! fields, and its key (lower-case wire name, type, class, DO bit) in one heap
//! block; a flag says whether its answer section has a CNAME ([`Hit::cname`]:
//! only those are checked against the blocklists' CNAME inspection, at every
//! replay). Replayed after a question of the same name at offset 12, its compression
//! pointers stay valid. Invariants: an entry exists only if every name in it was
//! checked, and every pointer aims strictly backwards at a label start already seen
//! in the question, answer or authority section, so a replay never loops, never
//! reaches the header or the dropped additional section, and decodes to names of at
//! most 255 bytes. Nothing from the network can panic here. Lookups never allocate
//! (but for the name of a prefetch they start, once per entry and TTL): one
//! SipHash (random seed, since names are chosen by clients), one lock, one probe,
//! one copy, TTL patching.
//!
//! Bounds: 16 shards, each a `Mutex` over a table, get 1/16 of `entries_max` and
//! `bytes_max`; a full shard evicts (see `table`). Measured (`memory_per_entry`,
//! 10 000 A answers with 17-byte names, tables included): 115 bytes per entry on
//! x86_64; by the same count about 95 on 32-bit MIPS (36-byte `Entry`, 40-byte
//! block).

pub mod prefetch;
mod scan;
mod table;
#[cfg(test)]
mod testing;

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::dns::wire::HEADER_BYTES;

use prefetch::{Prefetch, Prefetches};
use scan::scan;
use table::{Answer, Entry, Key, Shard};

/// RFC 2308 §5: negative answers are kept at most this long (unbound's default too).
pub const NEGATIVE_TTL_MAX_SECS: u32 = 3600;
/// RFC 8767 §5: an expired answer may be served, when upstreams fail, for a day.
pub const STALE_MAX_SECS: u32 = 86_400;
/// RFC 8767 §4: the TTL a stale answer is served with.
pub const STALE_TTL_SECS: u32 = 30;
/// Most entries whatever the config says: far beyond a router, and keeps a shard's
/// positions (`u32` slots) and its index mask (from a `u32` hash) in range.
pub const ENTRIES_MAX: usize = 1 << 24;

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;

const _: () = assert!(ENTRIES_MAX / SHARDS * 2 <= u32::MAX as usize);
const _: () = assert!(SHARDS == 16);

/// What a lookup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub rcode: u8,
    pub answers: u16,
    pub authorities: u16,
    pub stale: bool,
    /// The answer section holds a CNAME: its targets are checked against the
    /// blocklists (`dns::answer::cloaked`); answers without one skip that.
    pub cname: bool,
}

/// A snapshot of the cache's size and use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: usize,
    pub bytes: usize,
    pub hits: usize,
    pub stale: usize,
    pub misses: usize,
}

/// Cached upstream answers, shared by every DNS thread behind an `Arc`.
pub struct Cache {
    shards: [Mutex<Shard>; SHARDS],
    hasher: RandomState,
    ttl_min: u32,
    ttl_max: u32,
    entries_max: usize,
    bytes_max: usize,
    /// Where due hits queue their prefetch; `None`: never prefetched.
    prefetches: Option<Arc<Prefetches>>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("entries_max", &self.entries_max)
            .field("bytes_max", &self.bytes_max)
            .field("ttl_min", &self.ttl_min)
            .field("ttl_max", &self.ttl_max)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// At most `entries_max` entries (capped at [`ENTRIES_MAX`]) and `bytes_max`
    /// bytes: record bytes, key, malloc's block overhead and the tables. Positive
    /// TTLs are clamped to `ttl_min..=ttl_max` seconds (`ttl_max` is raised to
    /// `ttl_min` if below it).
    pub fn new(entries_max: usize, bytes_max: usize, ttl_min: u32, ttl_max: u32) -> Cache {
        let entries_max = entries_max.min(ENTRIES_MAX);
        let hasher = RandomState::new();
        let shards = std::array::from_fn(|i| {
            let seed = hasher.hash_one(i) as u32;
            Mutex::new(Shard::new(share(entries_max, i), share(bytes_max, i), seed))
        });
        Cache {
            shards,
            hasher,
            ttl_min,
            ttl_max: ttl_max.max(ttl_min),
            entries_max,
            bytes_max,
            prefetches: None,
        }
    }

    /// Due hits queue their prefetch in `prefetches` (while it is enabled).
    pub fn with_prefetches(mut self, prefetches: Arc<Prefetches>) -> Cache {
        self.prefetches = Some(prefetches);
        self
    }

    /// Stores the upstream `response` to the question (`name` in lower-case wire
    /// format, `qtype`, `qclass`), replacing any entry for the same key. The caller
    /// has checked its ID and question. Cached: NOERROR or NXDOMAIN, TC=0, and every
    /// record well formed. Positive answers live for their lowest TTL, clamped;
    /// negative ones (NXDOMAIN, or no answer) for min(SOA TTL, SOA MINIMUM) of the
    /// authority SOA (RFC 2308; no SOA, no caching), at most `NEGATIVE_TTL_MAX_SECS`,
    /// `negative_ttl_cap` and the TTL of any answer record (a CNAME before the
    /// NXDOMAIN). A TTL of 0 is not cached. `now`: monotonic seconds.
    // The forwarder's fixed API: the key's four parts travel separately.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &self,
        name: &[u8],
        qtype: u16,
        qclass: u16,
        dnssec_ok: bool,
        response: &[u8],
        now: u32,
        negative_ttl_cap: Option<u32>,
    ) -> bool {
        let Some(scanned) = scan(response, name, qtype, qclass) else {
            return false;
        };
        let ttl = scanned.ttl(self.ttl_min, self.ttl_max, negative_ttl_cap);
        if ttl == 0 {
            return false;
        }
        let Some(records) = response.get(scanned.records.clone()) else {
            return false;
        };
        let answer = Answer {
            records,
            ttl_offsets: &scanned.ttl_offsets,
            rcode: scanned.rcode,
            answers: scanned.answers,
            authorities: scanned.authorities,
            cname: scanned.cname,
        };
        let key = self.key(name, qtype, qclass, dnssec_ok);
        let Some(entry) = Entry::new(&key, &answer, now, ttl) else {
            return false;
        };
        self.shard(key.hash).insert(&key, entry, now)
    }

    /// Appends the cached records for the key to `out`, which holds a header and the
    /// client's question for `name` (so `out.len()` is where the records started in
    /// the upstream response), TTLs counted down. An entry expired less than
    /// `STALE_MAX_SECS` ago is written only when `allow_stale`, with TTL
    /// `STALE_TTL_SECS` and `stale` set; an older one is removed. A fresh hit in
    /// the last tenth of its TTL queues a prefetch (see `prefetch`). Allocates
    /// nothing but that prefetch's name (`out` grows only if its capacity is short).
    #[allow(clippy::too_many_arguments)]
    pub fn lookup(
        &self,
        name: &[u8],
        qtype: u16,
        qclass: u16,
        dnssec_ok: bool,
        now: u32,
        allow_stale: bool,
        out: &mut Vec<u8>,
    ) -> Option<Hit> {
        // Any other length would shift every compression pointer's target.
        if out.len() != HEADER_BYTES + name.len() + 4 {
            return None;
        }
        let prefetches = self.prefetches.as_ref().filter(|p| p.enabled());
        let key = self.key(name, qtype, qclass, dnssec_ok);
        let mut shard = self.shard(key.hash);
        let found = shard.lookup(&key, now, allow_stale, prefetches.map(|p| &**p), out);
        let counter = match found {
            Some((Hit { stale: true, .. }, _)) => &mut shard.stale,
            Some(_) => &mut shard.hits,
            None => &mut shard.misses,
        };
        *counter = counter.wrapping_add(1);
        drop(shard);
        let (hit, prefetch) = found?;
        if prefetch && let Some(prefetches) = prefetches {
            prefetches.push(name, qtype, qclass, dnssec_ok);
        }
        Some(hit)
    }

    /// `prefetch` ended without replacing its entry (no answer, or one the cache
    /// would not keep): a later hit may start another.
    pub fn prefetch_ended(&self, prefetch: &Prefetch) {
        let key = self.key(
            &prefetch.name,
            prefetch.qtype,
            prefetch.qclass,
            prefetch.dnssec_ok,
        );
        self.shard(key.hash).prefetch_ended(&key);
    }

    /// Entries, bytes, and lookups answered fresh, stale and not at all.
    pub fn stats(&self) -> Stats {
        self.locked().fold(Stats::default(), |total, shard| Stats {
            entries: total.entries + shard.len(),
            bytes: total.bytes + shard.bytes(),
            hits: total.hits.wrapping_add(shard.hits),
            stale: total.stale.wrapping_add(shard.stale),
            misses: total.misses.wrapping_add(shard.misses),
        })
    }

    pub fn len(&self) -> usize {
        self.locked().map(|shard| shard.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes accounted now: tables at their capacity plus every entry's heap block.
    pub fn bytes(&self) -> usize {
        self.locked().map(|shard| shard.bytes()).sum()
    }

    /// Drops every entry and frees the tables.
    pub fn clear(&self) {
        for mut shard in self.locked() {
            shard.clear();
        }
    }

    /// Drops every entry for `name` (lower-case wire; all types, classes and DO
    /// bits); how many. Scans every shard: for an operator's flush, not queries.
    pub fn remove_name(&self, name: &[u8]) -> usize {
        self.locked().map(|mut shard| shard.remove_name(name)).sum()
    }

    fn key<'n>(&self, name: &'n [u8], qtype: u16, qclass: u16, dnssec_ok: bool) -> Key<'n> {
        Key {
            name,
            qtype,
            qclass,
            dnssec_ok,
            hash: self.hasher.hash_one((name, qtype, qclass, dnssec_ok)),
        }
    }

    /// The top bits choose the shard; the low 32 its slots (no overlap).
    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        let shard = &self.shards[(hash >> (64 - SHARD_BITS)) as usize % SHARDS];
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn locked(&self) -> impl Iterator<Item = MutexGuard<'_, Shard>> {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Shard `i`'s part of `total`: the remainder goes to the first shards, so the parts
/// add up to `total` exactly.
fn share(total: usize, i: usize) -> usize {
    total / SHARDS + usize::from(i < total % SHARDS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::testing::{Case, NOW, a_response};
    use super::*;

    use hickory_proto::op::Message;

    use super::table::tables_bytes;

    #[test]
    fn is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Cache>();
    }

    #[test]
    fn replays_answer_with_ttl_counted_down() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let original = a_response("www.example.com.", 300);
        let case = Case::of(&original);
        assert!(case.response[case.question_end()..].starts_with(&[0xC0, 0x0C]));
        assert!(case.insert(&cache, NOW));
        assert_eq!(cache.len(), 1);

        let (hit, out) = case.replay(&cache, NOW + 100, false).unwrap();
        let stale = false;
        assert_eq!(
            hit,
            Hit {
                rcode: 0,
                answers: 2,
                authorities: 1,
                stale,
                cname: false,
            }
        );
        // The stored bytes end where the additional section began: glue (owner a
        // pointer, 16 bytes) and OPT (11 bytes) are gone.
        assert_eq!(out.len(), case.response.len() - 16 - 11);
        let replayed = Message::from_vec(&out).unwrap();
        assert_eq!(replayed.queries, original.queries);
        let records = |m: &Message| {
            let all = m.answers.iter().chain(&m.authorities);
            all.map(|r| (r.name.clone(), r.data.clone(), r.ttl))
                .collect::<Vec<_>>()
        };
        let want = records(&original).into_iter().map(|(n, d, _)| (n, d, 200));
        assert_eq!(records(&replayed), want.collect::<Vec<_>>());
        assert!(replayed.additionals.is_empty());

        // The last fresh second, then expiry.
        assert_eq!(case.ttls(&cache, NOW + 299).unwrap(), [1, 1, 1]);
        assert_eq!(case.ttls(&cache, NOW + 300), None);
        // Another type or class is another key.
        assert_eq!(
            Case {
                qtype: 28,
                ..case.clone()
            }
            .ttls(&cache, NOW),
            None
        );
        let mut out = case.response[..case.question_end()].to_vec();
        assert_eq!(
            cache.lookup(&case.qname, 1, 3, false, NOW, false, &mut out),
            None
        );
        // An `out` of another length would shift every pointer: nothing is written.
        let mut out = vec![0; 20];
        assert_eq!(
            cache.lookup(&case.qname, 1, 1, false, NOW, false, &mut out),
            None
        );
        assert_eq!(out.len(), 20);
    }

    /// The blocklists inspect the CNAME chain of a hit only when the entry says
    /// its answer section has one.
    #[test]
    fn a_hit_says_whether_its_answer_has_a_cname() {
        use hickory_proto::op::ResponseCode;
        use hickory_proto::rr::RecordType;
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let mut chain = testing::message("t.example.com.", RecordType::A, ResponseCode::NoError);
        chain.add_answer(testing::cname("t.example.com.", 300, "x.vendor.example."));
        chain.add_answer(testing::a("x.vendor.example.", 300, [192, 0, 2, 9]));
        let chain = Case::of(&chain);
        let plain = Case::of(&a_response("www.example.com.", 300));
        let missing = Case::of(&testing::nxdomain("gone.example.com.", 300, 300));
        for case in [&chain, &plain, &missing] {
            assert!(case.insert(&cache, NOW));
        }
        assert!(chain.replay(&cache, NOW, false).unwrap().0.cname);
        assert!(!plain.replay(&cache, NOW, false).unwrap().0.cname);
        assert!(!missing.replay(&cache, NOW, false).unwrap().0.cname);
        // Still flagged when served stale, and after a prefetch mark.
        assert!(chain.replay(&cache, NOW + 300, true).unwrap().0.cname);
    }

    #[test]
    fn replays_in_the_clients_case() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let case = Case::of(&a_response("www.example.com.", 300));
        assert!(case.insert(&cache, NOW));
        // hickory writes lower case: patch the client's mixed case in.
        let mut client = case.clone();
        client.response[12..29].copy_from_slice(b"\x03WwW\x07ExAmple\x03COM\x00");
        let (_, out) = client.replay(&cache, NOW, false).unwrap();
        let replayed = Message::from_vec(&out).unwrap();
        assert_eq!(replayed.answers[0].name.to_string(), "WwW.ExAmple.COM.");
    }

    #[test]
    fn serves_stale_for_a_day_then_forgets() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let case = Case::of(&a_response("www.example.com.", 300));
        assert!(case.insert(&cache, NOW));
        let expired = NOW + 300;
        assert!(case.replay(&cache, expired, false).is_none());
        let (hit, out) = case.replay(&cache, expired, true).unwrap();
        assert!(hit.stale);
        let m = Message::from_vec(&out).unwrap();
        assert!(m.answers.iter().chain(&m.authorities).all(|r| r.ttl == 30));
        let last = expired + STALE_MAX_SECS - 1;
        assert!(case.replay(&cache, last, true).unwrap().0.stale);
        assert!(case.replay(&cache, last + 1, true).is_none());
        assert!(cache.is_empty(), "a dead entry is removed when met");
        assert_eq!(cache.bytes(), tables_bytes(4, 8), "only the tables remain");
        cache.clear();
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn dnssec_ok_is_part_of_the_key() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let plain = Case::of(&a_response("www.example.com.", 300));
        let signed = Case {
            dnssec_ok: true,
            ..Case::of(&a_response("www.example.com.", 600))
        };
        assert!(plain.insert(&cache, NOW) && signed.insert(&cache, NOW));
        assert_eq!(cache.len(), 2);
        assert_eq!(plain.ttls(&cache, NOW).unwrap()[0], 300);
        assert_eq!(signed.ttls(&cache, NOW).unwrap()[0], 600);
        // Replacing keeps one entry per key.
        let replacement = Case {
            dnssec_ok: true,
            ..plain.clone()
        };
        assert!(replacement.insert(&cache, NOW));
        assert_eq!(cache.len(), 2);
        assert_eq!(signed.ttls(&cache, NOW).unwrap()[0], 300);
        // A refused response leaves the entry there (it may yet be served stale).
        let mut broken = signed.clone();
        broken.response.truncate(20);
        assert!(!broken.insert(&cache, NOW));
        assert_eq!(signed.ttls(&cache, NOW).unwrap()[0], 300);
    }

    /// The entry's lowest TTL is 300 s (the stored one): its last tenth starts
    /// with 30 s left, at NOW + 270.
    #[test]
    fn a_hit_in_the_last_tenth_queues_one_prefetch_at_a_time() {
        use std::sync::atomic::Ordering::Relaxed;
        let prefetches = Arc::new(Prefetches::new(true));
        let cache = Cache::new(1000, 1 << 20, 0, 86400).with_prefetches(prefetches.clone());
        let case = Case::of(&a_response("www.example.com.", 300));
        assert!(case.insert(&cache, NOW));
        assert!(case.replay(&cache, NOW + 269, false).is_some());
        assert!(prefetches.pop().is_none(), "31 s left of 300: not yet");
        let (hit, _) = case.replay(&cache, NOW + 270, false).unwrap();
        assert!(!hit.stale, "the client gets the cached answer at once");
        let prefetch = prefetches.pop().unwrap();
        assert_eq!(
            (&*prefetch.name, prefetch.qtype, prefetch.qclass),
            (&case.qname[..], 1, 1)
        );
        // Under way: more hits start nothing, and are still hits.
        for now in NOW + 271..NOW + 300 {
            assert!(case.replay(&cache, now, false).is_some());
        }
        assert!(prefetches.pop().is_none());
        assert_eq!(prefetches.inflight(), 1);
        // It failed: the flag is cleared and its place freed, so a later hit
        // tries again.
        cache.prefetch_ended(&prefetch);
        drop(prefetch);
        assert_eq!(prefetches.inflight(), 0);
        assert!(case.replay(&cache, NOW + 295, false).is_some());
        let prefetch = prefetches.pop().unwrap();
        // It was answered: the new entry replaces the old, with no flag.
        assert!(case.insert(&cache, NOW + 296));
        prefetch.answered();
        drop(prefetch);
        assert_eq!(case.ttls(&cache, NOW + 300).unwrap()[0], 296);
        assert!(prefetches.pop().is_none(), "fresh again: nothing due");
        assert!(case.replay(&cache, NOW + 296 + 270, false).is_some());
        assert!(prefetches.pop().is_some());
        // Stale answers are never prefetched; neither is anything when off.
        let other = Case::of(&a_response("mail.example.com.", 300));
        assert!(other.insert(&cache, NOW));
        assert!(other.replay(&cache, NOW + 300, true).unwrap().0.stale);
        prefetches.set_enabled(false);
        assert!(other.replay(&cache, NOW + 299, false).is_some());
        assert!(prefetches.pop().is_none());
        assert_eq!(prefetches.started.load(Relaxed), 3);
        assert_eq!(prefetches.answered.load(Relaxed), 1);
        assert_eq!(prefetches.dropped.load(Relaxed), 0);
    }

    #[test]
    fn due_hits_beyond_the_bound_are_served_and_counted() {
        use prefetch::PREFETCH_INFLIGHT_MAX;
        use std::sync::atomic::Ordering::Relaxed;
        let prefetches = Arc::new(Prefetches::new(true));
        let cache = Cache::new(1000, 1 << 20, 0, 86400).with_prefetches(prefetches.clone());
        let cases: Vec<Case> = (0..PREFETCH_INFLIGHT_MAX + 3)
            .map(|i| Case::of(&a_response(&format!("h{i}.example.com."), 100)))
            .collect();
        for case in &cases {
            assert!(case.insert(&cache, NOW));
        }
        for case in &cases {
            assert!(case.replay(&cache, NOW + 95, false).is_some());
        }
        assert_eq!(prefetches.inflight(), PREFETCH_INFLIGHT_MAX);
        assert_eq!(prefetches.dropped.load(Relaxed), 3);
        // The dropped ones were not marked: once places are free, they start.
        let queued: Vec<_> = std::iter::from_fn(|| prefetches.pop()).collect();
        assert_eq!(queued.len(), PREFETCH_INFLIGHT_MAX);
        drop(queued);
        for case in &cases {
            assert!(case.replay(&cache, NOW + 96, false).is_some());
        }
        assert_eq!(prefetches.inflight(), 3, "the marked ones start no other");
    }

    #[test]
    fn flushes_one_name_of_any_type_and_keeps_the_rest() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let www = Case::of(&a_response("www.example.com.", 300));
        let signed = Case {
            dnssec_ok: true,
            ..www.clone()
        };
        let other = Case::of(&a_response("mail.example.com.", 300));
        let missing = Case::of(&testing::nxdomain("gone.example.com.", 300, 300));
        for case in [&www, &signed, &other, &missing] {
            assert!(case.insert(&cache, NOW));
        }
        for i in 0..200 {
            let filler = Case::of(&a_response(&format!("h{i}.example.com."), 300));
            assert!(filler.insert(&cache, NOW));
        }
        assert_eq!(cache.remove_name(&www.qname), 2, "both DO variants");
        assert!(www.ttls(&cache, NOW).is_none() && signed.ttls(&cache, NOW).is_none());
        assert!(other.ttls(&cache, NOW).is_some());
        assert_eq!(cache.len(), 202);
        assert_eq!(cache.remove_name(&www.qname), 0);
        // Every remaining entry is still found (the index was kept consistent).
        for i in 0..200 {
            let filler = Case::of(&a_response(&format!("h{i}.example.com."), 300));
            assert!(filler.ttls(&cache, NOW).is_some(), "h{i}");
        }
        cache.clear();
        assert!(cache.is_empty());
    }
}
