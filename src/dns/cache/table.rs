//! The cache's table: the entries of one shard, their bounds and their eviction.
//!
//! Owns how an answer is kept once the scanner has checked it. An [`Entry`] holds
//! the key's name, the stored records and the offsets of their TTL fields in one
//! heap block. A [`Shard`] is a dense `Vec` of entries and a linear-probing index of
//! `u32` positions (the cache puts each shard behind its own `Mutex`). Bytes are
//! counted exactly for the tables (capacity times slot size) and as malloc lays out
//! each entry's block. A shard grows its tables only when the grown tables fit its
//! budget; otherwise it evicts the least useful of `EVICTION_SAMPLE` sampled
//! entries: dead (expired more than `STALE_MAX_SECS` ago), then expired, then least
//! recently used. A lookup copies the stored records and patches every TTL field
//! with the time left, and says whether the answer section has a CNAME (a flag
//! bit set at insert); a fresh hit in the last tenth of the entry's TTL (the TTL
//! it was stored with) takes a prefetch place and marks the entry, so it has one
//! prefetch at a time (see `prefetch`). Invariants: a shard never holds more than
//! its `entries_max` entries nor accounts more than its `bytes_max` bytes; the index
//! is at most half full; a lookup allocates nothing.

use std::mem::size_of;

use super::prefetch::{self, Prefetches};
use super::{Hit, STALE_MAX_SECS, STALE_TTL_SECS};

/// Entries looked at to choose one to evict (Redis samples 5; 8 is closer to LRU).
const EVICTION_SAMPLE: usize = 8;
/// An entry's flags: the RCODE in the low four bits, the DO bit in the top one,
/// below it whether a prefetch of the entry is under way, then whether the
/// answer section holds a CNAME.
const ENTRY_RCODE_MASK: u8 = 0x0F;
const ENTRY_DNSSEC_OK: u8 = 0x80;
const ENTRY_PREFETCHING: u8 = 0x40;
const ENTRY_CNAME: u8 = 0x20;

const _: () = assert!(EVICTION_SAMPLE > 0);
// Every entry pays for a slot of this size: keep it from growing unnoticed.
const _: () = assert!(size_of::<Entry>() <= 48);

/// A heap block of `n` bytes as malloc lays it out: a size word in front, rounded up
/// to two words, at least four (glibc; musl's mallocng is close).
pub(super) fn heap_block_bytes(n: usize) -> usize {
    const WORD: usize = size_of::<usize>();
    (n + WORD).next_multiple_of(2 * WORD).max(4 * WORD)
}

/// Index slots for a `Vec` of `capacity` entries: at most half full.
fn slot_count(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else {
        (2 * capacity).next_power_of_two()
    }
}

pub(super) fn tables_bytes(capacity: usize, slots: usize) -> usize {
    capacity * size_of::<Entry>() + slots * size_of::<u32>()
}

/// What is looked up: the key and its SipHash.
pub(super) struct Key<'n> {
    pub(super) name: &'n [u8],
    pub(super) qtype: u16,
    pub(super) qclass: u16,
    pub(super) dnssec_ok: bool,
    pub(super) hash: u64,
}

/// What an entry keeps of a checked response, besides its key.
pub(super) struct Answer<'r> {
    /// The answer and authority sections as received.
    pub(super) records: &'r [u8],
    /// Where each TTL field sits in `records`.
    pub(super) ttl_offsets: &'r [u16],
    pub(super) rcode: u8,
    pub(super) answers: u16,
    pub(super) authorities: u16,
    /// The answer section holds a CNAME.
    pub(super) cname: bool,
}

/// One cached answer: 48 bytes on 64-bit targets, 36 on 32-bit, plus its block.
pub(super) struct Entry {
    /// The key's name, the stored records, then the offset of each TTL field in the
    /// records (`u16`, big-endian): one heap block per entry.
    pub(super) data: Box<[u8]>,
    /// The key hash's low 32 bits: chooses the home slot, filters probes.
    hash: u32,
    /// Seconds on the caller's monotonic clock.
    inserted: u32,
    ttl: u32,
    used: u32,
    qtype: u16,
    qclass: u16,
    answers: u16,
    authorities: u16,
    records_len: u16,
    name_len: u8,
    /// RCODE in the low four bits, the DO bit in the top one, `ENTRY_PREFETCHING`,
    /// `ENTRY_CNAME`.
    flags: u8,
}

impl Entry {
    /// The entry for `key` holding `answer`, alive for `ttl` seconds from `now`.
    /// `None` when a part is longer than its length field can say (a name over 255
    /// bytes, records over 65 535).
    pub(super) fn new(key: &Key<'_>, answer: &Answer<'_>, now: u32, ttl: u32) -> Option<Entry> {
        let name_len = u8::try_from(key.name.len()).ok()?;
        let records_len = u16::try_from(answer.records.len()).ok()?;
        let capacity = key.name.len() + answer.records.len() + 2 * answer.ttl_offsets.len();
        let mut data = Vec::with_capacity(capacity);
        data.extend_from_slice(key.name);
        data.extend_from_slice(answer.records);
        for offset in answer.ttl_offsets {
            data.extend_from_slice(&offset.to_be_bytes());
        }
        Some(Entry {
            data: data.into_boxed_slice(),
            hash: key.hash as u32,
            inserted: now,
            ttl,
            used: now,
            qtype: key.qtype,
            qclass: key.qclass,
            answers: answer.answers,
            authorities: answer.authorities,
            records_len,
            name_len,
            flags: answer.rcode
                | if key.dnssec_ok { ENTRY_DNSSEC_OK } else { 0 }
                | if answer.cname { ENTRY_CNAME } else { 0 },
        })
    }

    fn name(&self) -> &[u8] {
        self.data
            .get(..usize::from(self.name_len))
            .unwrap_or_default()
    }

    fn records(&self) -> &[u8] {
        let start = usize::from(self.name_len);
        let end = start + usize::from(self.records_len);
        self.data.get(start..end).unwrap_or_default()
    }

    fn ttl_offsets(&self) -> impl Iterator<Item = usize> + '_ {
        let start = usize::from(self.name_len) + usize::from(self.records_len);
        let offsets = self.data.get(start..).unwrap_or_default();
        offsets
            .chunks_exact(2)
            .map(|pair| usize::from(u16::from_be_bytes([pair[0], pair[1]])))
    }

    fn is(&self, key: &Key<'_>) -> bool {
        self.hash == key.hash as u32
            && self.qtype == key.qtype
            && self.qclass == key.qclass
            && (self.flags & ENTRY_DNSSEC_OK != 0) == key.dnssec_ok
            && self.name() == key.name
    }

    /// Smaller is more worth evicting: (dead 0 / expired 1 / fresh 2, last use).
    fn usefulness(&self, now: u32) -> (u8, u32) {
        let age = now.saturating_sub(self.inserted);
        let state = if age < self.ttl {
            2
        } else if age - self.ttl < STALE_MAX_SECS {
            1
        } else {
            0
        };
        (state, self.used)
    }

    /// Appends the records to `out` with every TTL field set to `ttl`.
    fn replay(&self, ttl: u32, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(self.records());
        let ttl = ttl.to_be_bytes();
        for offset in self.ttl_offsets() {
            if let Some(field) = out.get_mut(start + offset..start + offset + 4) {
                field.copy_from_slice(&ttl);
            }
        }
    }
}

/// One sixteenth of the cache.
pub(super) struct Shard {
    /// Dense, so eviction can sample positions; removal swaps the last one in.
    pub(super) entries: Vec<Entry>,
    /// Linear probing: an entry's position + 1, 0 when free. Invariant: its length is
    /// `slot_count(entries.capacity())`, so it is at most half full.
    pub(super) slots: Box<[u32]>,
    /// Sum of the entries' heap blocks.
    heap_bytes: usize,
    entries_max: usize,
    bytes_max: usize,
    /// xorshift32 state for eviction samples; never 0.
    random: u32,
    /// Lookups answered fresh, answered stale, and not answered (counted under the
    /// lock already held: no extra atomic on the hot path).
    pub(super) hits: usize,
    pub(super) stale: usize,
    pub(super) misses: usize,
}

impl Shard {
    /// An empty shard that may hold `entries_max` entries in `bytes_max` bytes;
    /// `seed` starts its eviction samples (made odd, so never 0).
    pub(super) fn new(entries_max: usize, bytes_max: usize, seed: u32) -> Shard {
        Shard {
            entries: Vec::new(),
            slots: Box::default(),
            heap_bytes: 0,
            entries_max,
            bytes_max,
            random: seed | 1,
            hits: 0,
            stale: 0,
            misses: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes accounted: the tables at their capacity plus every entry's heap block.
    pub(super) fn bytes(&self) -> usize {
        self.heap_bytes + tables_bytes(self.entries.capacity(), self.slots.len())
    }

    /// Drops every entry and frees the tables.
    pub(super) fn clear(&mut self) {
        self.entries = Vec::new();
        self.slots = Box::default();
        self.heap_bytes = 0;
    }

    /// Removes every entry for `name` (any type, class or DO bit); how many. A
    /// scan of the shard: an operator's flush, never on the query path.
    pub(super) fn remove_name(&mut self, name: &[u8]) -> usize {
        let mut removed = 0;
        let mut position = 0;
        while position < self.entries.len() {
            if self.entries[position].name() != name {
                position += 1;
                continue;
            }
            // `remove` moves the last entry here: look at this position again.
            let Some(slot) = self.slot_of(position) else {
                return removed;
            };
            self.remove(slot, position);
            removed += 1;
        }
        removed
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot and position of the entry for `key`.
    fn find(&self, key: &Key<'_>) -> Option<(usize, usize)> {
        let mask = self.mask();
        let mut at = key.hash as u32 as usize & mask;
        for _ in 0..self.slots.len() {
            let position = (*self.slots.get(at)? as usize).checked_sub(1)?;
            if self.entries.get(position)?.is(key) {
                return Some((at, position));
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// The slot holding the entry at `position`.
    fn slot_of(&self, position: usize) -> Option<usize> {
        let mask = self.mask();
        let mut at = self.entries.get(position)?.hash as usize & mask;
        for _ in 0..self.slots.len() {
            if *self.slots.get(at)? as usize == position + 1 {
                return Some(at);
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// Appends the records of `key`'s entry to `out`, TTLs counted down to `now`.
    /// An entry expired less than `STALE_MAX_SECS` ago is written only when
    /// `allow_stale`, with TTL `STALE_TTL_SECS`; an older one is removed. With
    /// `prefetches`, a fresh hit in the last tenth of its TTL whose entry has no
    /// prefetch under way takes a place and marks the entry: the flag is then true
    /// and the caller queues the question.
    pub(super) fn lookup(
        &mut self,
        key: &Key<'_>,
        now: u32,
        allow_stale: bool,
        prefetches: Option<&Prefetches>,
        out: &mut Vec<u8>,
    ) -> Option<(Hit, bool)> {
        let (slot, position) = self.find(key)?;
        let entry = self.entries.get_mut(position)?;
        let age = now.saturating_sub(entry.inserted);
        let (ttl, stale) = match age.checked_sub(entry.ttl) {
            None => (entry.ttl - age, false),
            Some(past) if past < STALE_MAX_SECS => {
                if !allow_stale {
                    return None;
                }
                (STALE_TTL_SECS, true)
            }
            Some(_) => {
                self.remove(slot, position);
                return None;
            }
        };
        let prefetch = match prefetches {
            Some(prefetches)
                if !stale
                    && entry.flags & ENTRY_PREFETCHING == 0
                    && prefetch::due(ttl, entry.ttl) =>
            {
                let taken = prefetches.reserve();
                if taken {
                    entry.flags |= ENTRY_PREFETCHING;
                }
                taken
            }
            _ => false,
        };
        entry.used = now;
        entry.replay(ttl, out);
        let hit = Hit {
            rcode: entry.flags & ENTRY_RCODE_MASK,
            answers: entry.answers,
            authorities: entry.authorities,
            stale,
            cname: entry.flags & ENTRY_CNAME != 0,
        };
        Some((hit, prefetch))
    }

    /// The prefetch of `key`'s entry ended without replacing it: a later hit
    /// may start another.
    pub(super) fn prefetch_ended(&mut self, key: &Key<'_>) {
        if let Some((_, position)) = self.find(key)
            && let Some(entry) = self.entries.get_mut(position)
        {
            entry.flags &= !ENTRY_PREFETCHING;
        }
    }

    /// Stores `entry` under `key`, replacing the key's old entry and evicting others
    /// if the shard is full. False if it cannot fit even in an empty shard.
    pub(super) fn insert(&mut self, key: &Key<'_>, entry: Entry, now: u32) -> bool {
        if let Some((slot, position)) = self.find(key) {
            self.remove(slot, position);
        }
        let cost = heap_block_bytes(entry.data.len());
        if !self.make_room(cost, now) {
            return false;
        }
        let position = self.entries.len();
        if !place(&mut self.slots, entry.hash, position) {
            return false;
        }
        self.entries.push(entry);
        self.heap_bytes += cost;
        true
    }

    /// Grows the tables if the grown tables fit, else evicts, until one more entry
    /// of `cost` heap bytes fits without reallocating. False if it never will.
    fn make_room(&mut self, cost: usize, now: u32) -> bool {
        loop {
            let len = self.entries.len();
            let capacity = self.entries.capacity();
            if len == capacity && len < self.entries_max {
                let grown = (capacity + capacity / 2).max(4).min(self.entries_max);
                let grown_bytes = tables_bytes(grown, slot_count(grown));
                if self.heap_bytes + cost + grown_bytes <= self.bytes_max {
                    self.grow(grown);
                    continue;
                }
            }
            if len < capacity && len < self.entries_max && self.bytes() + cost <= self.bytes_max {
                return true;
            }
            if len == 0 {
                return false;
            }
            self.evict(now);
        }
    }

    fn grow(&mut self, capacity: usize) {
        self.entries
            .reserve_exact(capacity.saturating_sub(self.entries.len()));
        let mut slots = vec![0; slot_count(self.entries.capacity())].into_boxed_slice();
        for (position, entry) in self.entries.iter().enumerate() {
            place(&mut slots, entry.hash, position);
        }
        self.slots = slots;
    }

    /// Removes the least useful of `EVICTION_SAMPLE` entries (all of them, if fewer).
    fn evict(&mut self, now: u32) {
        let len = self.entries.len();
        let mut victim: Option<(usize, (u8, u32))> = None;
        for i in 0..EVICTION_SAMPLE.min(len) {
            let position = if len <= EVICTION_SAMPLE {
                i
            } else {
                self.random() as usize % len
            };
            let Some(entry) = self.entries.get(position) else {
                continue;
            };
            let usefulness = entry.usefulness(now);
            if victim.is_none_or(|(_, least)| usefulness < least) {
                victim = Some((position, usefulness));
            }
        }
        let Some((position, _)) = victim else { return };
        if let Some(slot) = self.slot_of(position) {
            self.remove(slot, position);
        }
    }

    fn random(&mut self) -> u32 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.random = x;
        x
    }

    /// Removes the entry at `position`, whose index slot is `slot`.
    fn remove(&mut self, slot: usize, position: usize) {
        self.unlink(slot);
        if position >= self.entries.len() {
            return;
        }
        let removed = self.entries.swap_remove(position);
        self.heap_bytes -= heap_block_bytes(removed.data.len());
        // The former last entry now sits at `position`: repoint its slot.
        let moved_from = self.entries.len();
        if position == moved_from {
            return;
        }
        let Some(moved) = self.entries.get(position) else {
            return;
        };
        let mask = self.mask();
        let mut at = moved.hash as usize & mask;
        for _ in 0..self.slots.len() {
            let Some(value) = self.slots.get_mut(at) else {
                return;
            };
            if *value as usize == moved_from + 1 {
                *value = (position + 1) as u32;
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Empties `hole` and shifts back the probe chain behind it (no tombstones).
    fn unlink(&mut self, mut hole: usize) {
        let mask = self.mask();
        let Some(value) = self.slots.get_mut(hole) else {
            return;
        };
        *value = 0;
        let mut at = hole;
        for _ in 0..self.slots.len() {
            at = (at + 1) & mask;
            let value = self.slots.get(at).copied().unwrap_or(0);
            let Some(entry) = (value as usize)
                .checked_sub(1)
                .and_then(|p| self.entries.get(p))
            else {
                return;
            };
            let home = entry.hash as usize & mask;
            // The entry may fill the hole if the hole lies between its home and `at`.
            if at.wrapping_sub(home) & mask >= at.wrapping_sub(hole) & mask {
                self.slots[hole] = value;
                self.slots[at] = 0;
                hole = at;
            }
        }
    }
}

/// Puts `position` into the first free slot from `hash`'s home.
fn place(slots: &mut [u32], hash: u32, position: usize) -> bool {
    let mask = slots.len().wrapping_sub(1);
    let mut at = hash as usize & mask;
    for _ in 0..slots.len() {
        let Some(value) = slots.get_mut(at) else {
            return false;
        };
        if *value == 0 {
            *value = (position + 1) as u32;
            return true;
        }
        at = (at + 1) & mask;
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    use std::collections::HashSet;

    use crate::dns::cache::Cache;
    use crate::dns::cache::testing::{Case, NOW};
    use crate::dns::wire::{CLASS_IN, HEADER_BYTES, TYPE_A};

    /// `n{i:05}.home.lan` in wire format: 17 bytes, a typical LAN name.
    fn host_name(i: usize) -> Vec<u8> {
        let mut wire = vec![6];
        wire.extend_from_slice(format!("n{i:05}").as_bytes());
        wire.extend_from_slice(b"\x04home\x03lan\x00");
        wire
    }

    /// A small answer built by hand: `qname` A `ttl` 192.0.2.1, owner compressed.
    fn host_case(i: usize, ttl: u32) -> Case {
        let qname = host_name(i);
        let mut response = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        response.extend_from_slice(&qname);
        response.extend_from_slice(&[0, 1, 0, 1, 0xC0, 0x0C, 0, 1, 0, 1]);
        response.extend_from_slice(&ttl.to_be_bytes());
        response.extend_from_slice(&[0, 4, 192, 0, 2, 1]);
        Case {
            qname,
            qtype: TYPE_A,
            dnssec_ok: false,
            response,
        }
    }

    #[test]
    fn bounds_hold_under_a_flood_of_names() {
        let bounds = [
            (1000, 1 << 20),
            (1 << 20, 64 << 10),
            (5000, 200_000),
            (10, 1 << 20),
        ];
        for (entries_max, bytes_max) in bounds.into_iter().chain([(1000, 100)]) {
            let cache = Cache::new(entries_max, bytes_max, 0, 86400);
            for i in 0..100_000 {
                // A third expire soon, so both eviction orders are exercised.
                let ttl = if i % 3 == 0 { 5 } else { 3600 };
                host_case(i, ttl).insert(&cache, NOW + (i / 1000) as u32);
                if i % 997 == 0 {
                    assert!(cache.len() <= entries_max && cache.bytes() <= bytes_max);
                }
            }
            assert!(
                cache.len() <= entries_max,
                "{} > {entries_max}",
                cache.len()
            );
            assert!(
                cache.bytes() <= bytes_max,
                "{} > {bytes_max}",
                cache.bytes()
            );
            // Every entry left is found: the index agrees with the entries.
            let found = (0..100_000)
                .filter(|&i| host_case(i, 0).replay(&cache, NOW + 100, true).is_some())
                .count();
            assert_eq!(found, cache.len());
            if (entries_max, bytes_max) == (1000, 1 << 20) {
                assert_eq!(cache.len(), 1000, "a full shard evicts one entry at a time");
            }
        }
    }

    #[test]
    fn memory_per_entry() {
        let cache = Cache::new(1 << 20, 1 << 30, 0, 86400);
        let count = 10_000;
        for i in 0..count {
            assert!(host_case(i, 300).insert(&cache, NOW));
        }
        assert_eq!(cache.len(), count);
        // Counted again from the structures: tables at capacity plus heap blocks.
        let mut real = 0;
        for shard in cache.locked() {
            real += shard.entries.capacity() * size_of::<Entry>();
            real += shard.slots.len() * size_of::<u32>();
            let blocks = shard.entries.iter().map(|e| heap_block_bytes(e.data.len()));
            real += blocks.sum::<usize>();
        }
        assert_eq!(real, cache.bytes());
        let per_entry = cache.bytes() / cache.len();
        let data_bytes = host_name(0).len() + 16 + 2;
        println!(
            "{per_entry} bytes per entry: Entry {} bytes, heap block {} bytes for {data_bytes}",
            size_of::<Entry>(),
            heap_block_bytes(data_bytes),
        );
        assert!(per_entry <= 400);
    }

    fn bare_shard(entries_max: usize) -> Shard {
        Shard::new(entries_max, 1 << 20, 1)
    }

    fn bare_key(name: &[u8], hash: u64) -> Key<'_> {
        Key {
            name,
            qtype: TYPE_A,
            qclass: CLASS_IN,
            dnssec_ok: false,
            hash,
        }
    }

    /// An entry without records, straight into a shard, with a hash the test chose.
    fn bare_insert(shard: &mut Shard, name: &[u8], hash: u64, now: u32, ttl: u32) -> bool {
        let entry = Entry {
            data: name.into(),
            hash: hash as u32,
            inserted: now,
            ttl,
            used: now,
            qtype: TYPE_A,
            qclass: CLASS_IN,
            answers: 0,
            authorities: 0,
            records_len: 0,
            name_len: name.len() as u8,
            flags: 0,
        };
        shard.insert(&bare_key(name, hash), entry, now)
    }

    #[test]
    fn evicts_expired_then_least_recently_used() {
        let mut shard = bare_shard(4);
        let names: Vec<[u8; 3]> = (b'a'..=b'f').map(|c| [1, c, 0]).collect();
        // names[i] has hash i; c expires at 7.
        for (i, name) in names[..4].iter().enumerate() {
            let ttl = if i == 2 { 5 } else { 1000 };
            assert!(bare_insert(&mut shard, name, i as u64, i as u32, ttl));
        }
        let present = |shard: &Shard| {
            let found = names.iter().enumerate();
            found
                .map(|(i, n)| shard.find(&bare_key(n, i as u64)).is_some())
                .collect::<Vec<_>>()
        };
        let mut out = vec![0; HEADER_BYTES + 3 + 4];
        assert!(
            shard
                .lookup(&bare_key(&names[0], 0), 100, false, None, &mut out)
                .is_some()
        );
        assert!(bare_insert(&mut shard, &names[4], 4, 100, 1000));
        assert_eq!(
            present(&shard),
            [true, true, false, true, true, false],
            "expired first"
        );
        assert!(bare_insert(&mut shard, &names[5], 5, 101, 1000));
        let lru = [true, false, false, true, true, true];
        assert_eq!(
            present(&shard),
            lru,
            "then least recently used: a was used at 100"
        );
    }

    /// Inserts and removals of keys whose hashes share home slots: the index (backward
    /// shift on removal, repointing after `swap_remove`) must agree with a model.
    #[test]
    fn index_survives_colliding_churn() {
        let mut shard = bare_shard(64);
        let names: Vec<[u8; 3]> = (0..100).map(|i| [1, i, 0]).collect();
        let hash = |i: usize| (i % 7) as u64 * 3;
        let mut model = HashSet::new();
        let mut random = 12345u32;
        for _ in 0..20_000 {
            random ^= random << 13;
            random ^= random >> 17;
            random ^= random << 5;
            let i = random as usize % names.len();
            let found = shard.find(&bare_key(&names[i], hash(i)));
            assert_eq!(found.is_some(), model.contains(&i));
            if random & 0x100 == 0 && model.len() < 64 {
                assert!(bare_insert(&mut shard, &names[i], hash(i), 0, 1000));
                model.insert(i);
            } else if let Some((slot, position)) = found {
                shard.remove(slot, position);
                model.remove(&i);
            }
            assert_eq!(shard.entries.len(), model.len());
        }
        let heap = shard.entries.iter().map(|e| heap_block_bytes(e.data.len()));
        assert_eq!(shard.heap_bytes, heap.sum::<usize>());
    }
}
