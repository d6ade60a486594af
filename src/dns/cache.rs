//! The forwarder's answer cache: upstream answers kept as wire bytes and replayed
//! with their TTLs counted down.
//!
//! Owns the cached entries and their bounds. An entry is the answer and authority
//! sections of an upstream response exactly as received (the additional section is
//! dropped), the offsets of their TTL fields, and its key (lower-case wire name,
//! type, class, DO bit) in one heap block. Replayed after a question of the same
//! name at offset 12, its compression pointers stay valid. Invariants: an entry
//! exists only if every name in it was checked, and every pointer aims strictly
//! backwards at a label start already seen in the question, answer or authority
//! section, so a replay never loops, never reaches the header or the dropped
//! additional section, and decodes to names of at most 255 bytes. Nothing from the
//! network can panic here. Lookups never allocate: one SipHash (random seed, since
//! names are chosen by clients), one lock, one probe, one copy, TTL patching.
//!
//! Bounds: 16 shards, each a `Mutex` over a dense `Vec` of entries and a linear-probing
//! index of `u32` positions, get 1/16 of `entries_max` and `bytes_max`. Bytes are
//! counted exactly for the tables (capacity times slot size) and as malloc lays out
//! each entry's block. A shard grows its tables only when the grown tables fit its
//! budget; otherwise it evicts the least useful of 8 sampled entries: dead (expired
//! more than `STALE_MAX_SECS` ago), then expired, then least recently used.
//! Measured (`memory_per_entry`, 10 000 A answers with 17-byte names, tables
//! included): 115 bytes per entry on x86_64; by the same count about 95 on 32-bit
//! MIPS (36-byte `Entry`, 40-byte block).

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::mem::size_of;
use std::ops::Range;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::dns::wire::{HEADER_BYTES, NAME_BYTES_MAX, RCODE_NOERROR, RCODE_NXDOMAIN};
use crate::dns::wire::{TYPE_OPT, TYPE_SOA};

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
/// Entries looked at to choose one to evict (Redis samples 5; 8 is closer to LRU).
const EVICTION_SAMPLE: usize = 8;
/// A DNS message never exceeds this (TCP length prefix), so offsets fit a `u16`.
const MESSAGE_BYTES_MAX: usize = 65_535;
/// A TTL field with the top bit set counts as 0 (RFC 2181 §8).
const TTL_FIELD_MAX: u32 = (1 << 31) - 1;
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const OPCODE_MASK: u16 = 0x7800;
const RCODE_MASK: u16 = 0x000F;
const ENTRY_DNSSEC_OK: u8 = 0x80;

const _: () = assert!(ENTRIES_MAX / SHARDS * 2 <= u32::MAX as usize);
const _: () = assert!(SHARDS == 16 && EVICTION_SAMPLE > 0);
// Every entry pays for a slot of this size: keep it from growing unnoticed.
const _: () = assert!(size_of::<Entry>() <= 48);

/// What a lookup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub rcode: u8,
    pub answers: u16,
    pub authorities: u16,
    pub stale: bool,
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
            Mutex::new(Shard {
                entries: Vec::new(),
                slots: Box::default(),
                heap_bytes: 0,
                entries_max: share(entries_max, i),
                bytes_max: share(bytes_max, i),
                random: (hasher.hash_one(i) as u32) | 1,
                hits: 0,
                stale: 0,
                misses: 0,
            })
        });
        Cache {
            shards,
            hasher,
            ttl_min,
            ttl_max: ttl_max.max(ttl_min),
            entries_max,
            bytes_max,
        }
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
        let ttl = self.ttl_for(&scanned, negative_ttl_cap);
        if ttl == 0 {
            return false;
        }
        let Some(records) = response.get(scanned.records.clone()) else {
            return false;
        };
        let (Ok(name_len), Ok(records_len)) =
            (u8::try_from(name.len()), u16::try_from(records.len()))
        else {
            return false;
        };
        let mut data =
            Vec::with_capacity(name.len() + records.len() + 2 * scanned.ttl_offsets.len());
        data.extend_from_slice(name);
        data.extend_from_slice(records);
        for offset in &scanned.ttl_offsets {
            data.extend_from_slice(&offset.to_be_bytes());
        }
        let key = self.key(name, qtype, qclass, dnssec_ok);
        let entry = Entry {
            data: data.into_boxed_slice(),
            hash: key.hash as u32,
            inserted: now,
            ttl,
            used: now,
            qtype,
            qclass,
            answers: scanned.answers,
            authorities: scanned.authorities,
            records_len,
            name_len,
            flags: scanned.rcode | if dnssec_ok { ENTRY_DNSSEC_OK } else { 0 },
        };
        self.shard(key.hash).insert(&key, entry, now)
    }

    /// Appends the cached records for the key to `out`, which holds a header and the
    /// client's question for `name` (so `out.len()` is where the records started in
    /// the upstream response), TTLs counted down. An entry expired less than
    /// `STALE_MAX_SECS` ago is written only when `allow_stale`, with TTL
    /// `STALE_TTL_SECS` and `stale` set; an older one is removed. Allocates nothing
    /// (`out` grows only if its capacity is short).
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
        let key = self.key(name, qtype, qclass, dnssec_ok);
        let mut shard = self.shard(key.hash);
        let hit = shard.lookup(&key, now, allow_stale, out);
        let counter = match hit {
            Some(Hit { stale: true, .. }) => &mut shard.stale,
            Some(_) => &mut shard.hits,
            None => &mut shard.misses,
        };
        *counter = counter.wrapping_add(1);
        hit
    }

    /// Entries, bytes, and lookups answered fresh, stale and not at all.
    pub fn stats(&self) -> Stats {
        self.locked().fold(Stats::default(), |total, shard| Stats {
            entries: total.entries + shard.entries.len(),
            bytes: total.bytes + shard.bytes(),
            hits: total.hits.wrapping_add(shard.hits),
            stale: total.stale.wrapping_add(shard.stale),
            misses: total.misses.wrapping_add(shard.misses),
        })
    }

    pub fn len(&self) -> usize {
        self.locked().map(|shard| shard.entries.len()).sum()
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
            shard.entries = Vec::new();
            shard.slots = Box::default();
            shard.heap_bytes = 0;
        }
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

    fn ttl_for(&self, scanned: &Scanned, negative_ttl_cap: Option<u32>) -> u32 {
        let negative = scanned.rcode == RCODE_NXDOMAIN || scanned.answers == 0;
        if !negative {
            return scanned.ttl_min.max(self.ttl_min).min(self.ttl_max);
        }
        scanned.soa_ttl.map_or(0, |soa_ttl| {
            soa_ttl
                .min(NEGATIVE_TTL_MAX_SECS)
                .min(scanned.answer_ttl_min)
                .min(negative_ttl_cap.unwrap_or(u32::MAX))
        })
    }
}

/// Shard `i`'s part of `total`: the remainder goes to the first shards, so the parts
/// add up to `total` exactly.
fn share(total: usize, i: usize) -> usize {
    total / SHARDS + usize::from(i < total % SHARDS)
}

/// A heap block of `n` bytes as malloc lays it out: a size word in front, rounded up
/// to two words, at least four (glibc; musl's mallocng is close).
fn heap_block_bytes(n: usize) -> usize {
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

fn tables_bytes(capacity: usize, slots: usize) -> usize {
    capacity * size_of::<Entry>() + slots * size_of::<u32>()
}

/// What is looked up: the key and its SipHash.
struct Key<'n> {
    name: &'n [u8],
    qtype: u16,
    qclass: u16,
    dnssec_ok: bool,
    hash: u64,
}

/// One cached answer: 48 bytes on 64-bit targets, 36 on 32-bit, plus its block.
struct Entry {
    /// The key's name, the stored records, then the offset of each TTL field in the
    /// records (`u16`, big-endian): one heap block per entry.
    data: Box<[u8]>,
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
    /// RCODE in the low four bits, the DO bit in the top one.
    flags: u8,
}

impl Entry {
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
}

/// One sixteenth of the cache.
struct Shard {
    /// Dense, so eviction can sample positions; removal swaps the last one in.
    entries: Vec<Entry>,
    /// Linear probing: an entry's position + 1, 0 when free. Invariant: its length is
    /// `slot_count(entries.capacity())`, so it is at most half full.
    slots: Box<[u32]>,
    /// Sum of the entries' heap blocks.
    heap_bytes: usize,
    entries_max: usize,
    bytes_max: usize,
    /// xorshift32 state for eviction samples; never 0.
    random: u32,
    /// Lookups answered fresh, answered stale, and not answered (counted under the
    /// lock already held: no extra atomic on the hot path).
    hits: usize,
    stale: usize,
    misses: usize,
}

impl Shard {
    fn bytes(&self) -> usize {
        self.heap_bytes + tables_bytes(self.entries.capacity(), self.slots.len())
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

    fn lookup(
        &mut self,
        key: &Key<'_>,
        now: u32,
        allow_stale: bool,
        out: &mut Vec<u8>,
    ) -> Option<Hit> {
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
        entry.used = now;
        let start = out.len();
        out.extend_from_slice(entry.records());
        let ttl = ttl.to_be_bytes();
        for offset in entry.ttl_offsets() {
            if let Some(field) = out.get_mut(start + offset..start + offset + 4) {
                field.copy_from_slice(&ttl);
            }
        }
        Some(Hit {
            rcode: entry.flags & RCODE_MASK as u8,
            answers: entry.answers,
            authorities: entry.authorities,
            stale,
        })
    }

    fn insert(&mut self, key: &Key<'_>, entry: Entry, now: u32) -> bool {
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

/// What a response holds, once every record in it has been checked.
struct Scanned {
    rcode: u8,
    answers: u16,
    authorities: u16,
    /// The answer and authority sections: the bytes stored.
    records: Range<usize>,
    /// Offsets of the TTL fields, relative to `records.start`.
    ttl_offsets: Vec<u16>,
    /// Lowest TTL of the answer records, and of all stored records.
    answer_ttl_min: u32,
    ttl_min: u32,
    /// Lowest min(TTL, MINIMUM) of the authority section's SOAs (RFC 2308 §5).
    soa_ttl: Option<u32>,
}

/// Checks a whole upstream response: header, the question (`name`, `qtype`,
/// `qclass`), every name and record of the answer and authority sections, and the
/// additional section's framing and OPT. `None` for anything not to be cached.
fn scan(response: &[u8], name: &[u8], qtype: u16, qclass: u16) -> Option<Scanned> {
    if response.len() > MESSAGE_BYTES_MAX {
        return None;
    }
    let header = response.get(..HEADER_BYTES)?;
    let word = |i: usize| u16::from_be_bytes([header[2 * i], header[2 * i + 1]]);
    let flags = word(1);
    let rcode = (flags & RCODE_MASK) as u8;
    if flags & FLAG_QR == 0
        || flags & (FLAG_TC | OPCODE_MASK) != 0
        || !matches!(rcode, RCODE_NOERROR | RCODE_NXDOMAIN)
        || word(2) != 1
    {
        return None;
    }
    let (answers, authorities, additionals) = (word(3), word(4), word(5));
    let mut names = Names::default();
    let name_end = names.read(response, HEADER_BYTES)?;
    if !response
        .get(HEADER_BYTES..name_end)?
        .eq_ignore_ascii_case(name)
    {
        return None;
    }
    let question_type = response.get(name_end..name_end + 4)?;
    if question_type != [qtype.to_be_bytes(), qclass.to_be_bytes()].as_flattened() {
        return None;
    }
    let start = name_end + 4;
    let mut scanned = Scanned {
        rcode,
        answers,
        authorities,
        records: start..start,
        ttl_offsets: Vec::new(),
        answer_ttl_min: u32::MAX,
        ttl_min: u32::MAX,
        soa_ttl: None,
    };
    let mut pos = start;
    for i in 0..usize::from(answers) + usize::from(authorities) {
        let record = read_record(response, pos, &mut names)?;
        // An OPT's "TTL" holds flags: it belongs in the additional section only.
        if record.rtype == TYPE_OPT {
            return None;
        }
        let ttl = if record.ttl > TTL_FIELD_MAX {
            0
        } else {
            record.ttl
        };
        scanned
            .ttl_offsets
            .push(u16::try_from(record.ttl_at - start).ok()?);
        scanned.ttl_min = scanned.ttl_min.min(ttl);
        if i < usize::from(answers) {
            scanned.answer_ttl_min = scanned.answer_ttl_min.min(ttl);
        } else if record.rtype == TYPE_SOA {
            let minimum = response.get(record.end - 4..record.end)?;
            let minimum = u32::from_be_bytes([minimum[0], minimum[1], minimum[2], minimum[3]]);
            let negative = ttl.min(minimum);
            scanned.soa_ttl = Some(scanned.soa_ttl.map_or(negative, |t| t.min(negative)));
        }
        pos = record.end;
    }
    scanned.records.end = pos;
    // Not stored, but a response must parse whole, and an extended RCODE in the
    // OPT (RFC 6891 §6.1.3) means it is neither NOERROR nor NXDOMAIN.
    for _ in 0..additionals {
        let (end, rtype, ttl) = skip_record(response, pos)?;
        if rtype == TYPE_OPT && ttl >> 24 != 0 {
            return None;
        }
        pos = end;
    }
    Some(scanned)
}

/// One record of the answer or authority section, checked.
struct Record {
    /// Position after it.
    end: usize,
    rtype: u16,
    /// Position of its TTL field.
    ttl_at: usize,
    ttl: u32,
}

/// Reads the record at `pos`: its owner name, fixed fields, and the names inside the
/// RDATA of the types known to hold them (which must fill the RDATA exactly).
fn read_record(message: &[u8], pos: usize, names: &mut Names) -> Option<Record> {
    let type_at = names.read(message, pos)?;
    let fixed = message.get(type_at..type_at + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let rdata_start = type_at + 10;
    let end = rdata_start + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    // Names in the RDATA must end inside it.
    let message = message.get(..end)?;
    if let Some((prefix_bytes, name_count, tail_bytes)) = rdata_names(rtype) {
        let mut at = rdata_start + prefix_bytes;
        for _ in 0..name_count {
            at = names.read(message, at)?;
        }
        if tail_bytes.is_some_and(|tail| at + tail != end) {
            return None;
        }
    }
    Some(Record {
        end,
        rtype,
        ttl_at: type_at + 4,
        ttl,
    })
}

/// Where the RDATA of `rtype` holds names (which a server may compress or point
/// at): fixed bytes before them, how many, and the exact bytes after them (`None`:
/// opaque data of any length). `None` for types without names.
fn rdata_names(rtype: u16) -> Option<(usize, usize, Option<usize>)> {
    Some(match rtype {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME.
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => (0, 1, Some(0)),
        // SOA: MNAME, RNAME, then serial, refresh, retry, expire, minimum.
        6 => (0, 2, Some(20)),
        // MINFO, RP.
        14 | 17 => (0, 2, Some(0)),
        // MX, AFSDB, RT, KX: a preference, then a host.
        15 | 18 | 21 | 36 => (2, 1, Some(0)),
        // PX: a preference, then two names.
        26 => (2, 2, Some(0)),
        // SRV: priority, weight, port, target.
        33 => (6, 1, Some(0)),
        // RRSIG: 18 fixed bytes, the signer, the signature.
        46 => (18, 1, None),
        // NSEC: the next name, the type bitmap.
        47 => (0, 1, None),
        _ => return None,
    })
}

/// Skips a record of the additional section (not stored, so its names are only
/// framed, not resolved): the position after it, its type and TTL.
fn skip_record(message: &[u8], mut pos: usize) -> Option<(usize, u16, u32)> {
    loop {
        match *message.get(pos)? {
            0 => {
                pos += 1;
                break;
            }
            len @ 1..=63 => pos += 1 + usize::from(len),
            0xC0..=0xFF => {
                pos += 2;
                break;
            }
            _ => return None,
        }
    }
    let fixed = message.get(pos..pos + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let end = pos + 10 + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    (end <= message.len()).then_some((end, rtype, ttl))
}

/// The label starts seen so far in a message's names, in message order, each with
/// the decoded length of the name from there to the root. A compression pointer is
/// accepted only when it aims at one of an earlier name's labels: it then cannot
/// loop, cannot reach the header or anything not yet checked, and the length of the
/// name it completes is known without following it.
#[derive(Default)]
struct Names {
    labels: Vec<(u16, u8)>,
}

impl Names {
    /// Checks the name at `pos` in `message` and returns the position after it.
    fn read(&mut self, message: &[u8], mut pos: usize) -> Option<usize> {
        let first = self.labels.len();
        let mut literal_bytes = 0usize;
        let (end, tail_bytes) = loop {
            let len = *message.get(pos)?;
            match len {
                0 => break (pos + 1, 1),
                1..=63 => {
                    let len = usize::from(len);
                    // At least the root byte follows.
                    if literal_bytes + 1 + len >= NAME_BYTES_MAX {
                        return None;
                    }
                    message.get(pos + len)?;
                    let offset = u8::try_from(literal_bytes).ok()?;
                    self.labels.push((u16::try_from(pos).ok()?, offset));
                    literal_bytes += 1 + len;
                    pos += 1 + len;
                }
                0xC0..=0xFF => {
                    let low = *message.get(pos + 1)?;
                    let target = usize::from(len & 0x3F) << 8 | usize::from(low);
                    let earlier = self.labels.get(..first)?;
                    let at = earlier
                        .binary_search_by_key(&target, |&(start, _)| usize::from(start))
                        .ok()?;
                    break (pos + 2, usize::from(earlier.get(at)?.1));
                }
                // The 0x40 and 0x80 label types are obsolete or reserved.
                _ => return None,
            }
        };
        let total = literal_bytes + tail_bytes;
        if total > NAME_BYTES_MAX {
            return None;
        }
        for label in self.labels.get_mut(first..)? {
            label.1 = u8::try_from(total - usize::from(label.1)).ok()?;
        }
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    use std::collections::HashSet;
    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use crate::dns::wire::{self, CLASS_IN, TYPE_A};

    const NOW: u32 = 10_000;

    fn name(text: &str) -> Name {
        Name::from_str(text).unwrap()
    }

    fn a(owner: &str, ttl: u32, ip: [u8; 4]) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::from(ip))))
    }

    fn cname(owner: &str, ttl: u32, target: &str) -> Record {
        Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        let (mname, rname) = (name(&format!("ns.{zone}")), name(&format!("admin.{zone}")));
        let rdata = SOA::new(mname, rname, 1, 7200, 900, 86400, minimum);
        Record::from_rdata(name(zone), ttl, RData::SOA(rdata))
    }

    fn message(qname: &str, qtype: RecordType, rcode: ResponseCode) -> Message {
        let mut m = Message::response(0x1234, OpCode::Query);
        m.metadata.response_code = rcode;
        m.metadata.recursion_desired = true;
        m.metadata.recursion_available = true;
        m.add_query(Query::query(name(qname), qtype));
        m
    }

    /// What upstreams send: two A records, an NS in authority, glue and EDNS in the
    /// additional section; hickory compresses the owners against the question.
    fn a_response(qname: &str, ttl: u32) -> Message {
        let mut m = message(qname, RecordType::A, ResponseCode::NoError);
        m.add_answer(a(qname, ttl, [192, 0, 2, 1]));
        m.add_answer(a(qname, ttl + 50, [192, 0, 2, 2]));
        let ns = RData::NS(NS(name("ns1.example.com.")));
        m.add_authority(Record::from_rdata(name("example.com."), ttl + 100, ns));
        m.add_additional(a("ns1.example.com.", 3600, [192, 0, 2, 53]));
        m.set_edns(Edns::new());
        m
    }

    fn nxdomain(qname: &str, soa_ttl: u32, minimum: u32) -> Message {
        let mut m = message(qname, RecordType::A, ResponseCode::NXDomain);
        m.add_authority(soa("example.com.", soa_ttl, minimum));
        m
    }

    /// A question and the upstream's response to it.
    #[derive(Clone)]
    struct Case {
        qname: Vec<u8>,
        qtype: u16,
        dnssec_ok: bool,
        response: Vec<u8>,
    }

    impl Case {
        fn of(message: &Message) -> Case {
            let query = &message.queries[0];
            Case {
                qname: wire::wire_from_name(query.name()).unwrap(),
                qtype: u16::from(query.query_type()),
                dnssec_ok: false,
                response: message.to_vec().unwrap(),
            }
        }

        fn question_end(&self) -> usize {
            HEADER_BYTES + self.qname.len() + 4
        }

        fn insert(&self, cache: &Cache, now: u32) -> bool {
            self.insert_capped(cache, now, None)
        }

        fn insert_capped(&self, cache: &Cache, now: u32, cap: Option<u32>) -> bool {
            let (name, qtype, response) = (&self.qname, self.qtype, &self.response);
            cache.insert(name, qtype, CLASS_IN, self.dnssec_ok, response, now, cap)
        }

        /// The header and question copied from the response (as the answer path
        /// writes them), the lookup, then the counts.
        fn replay(&self, cache: &Cache, now: u32, allow_stale: bool) -> Option<(Hit, Vec<u8>)> {
            let mut out = self.response[..self.question_end()].to_vec();
            let (name, qtype, dnssec_ok) = (&self.qname, self.qtype, self.dnssec_ok);
            let hit = cache.lookup(name, qtype, CLASS_IN, dnssec_ok, now, allow_stale, &mut out)?;
            wire::set_counts(&mut out, hit.answers, hit.authorities, 0);
            Some((hit, out))
        }

        /// The TTLs of a fresh replay, as a client parses them.
        fn ttls(&self, cache: &Cache, now: u32) -> Option<Vec<u32>> {
            let (_, out) = self.replay(cache, now, false)?;
            let m = Message::from_vec(&out).unwrap();
            Some(
                m.answers
                    .iter()
                    .chain(&m.authorities)
                    .map(|r| r.ttl)
                    .collect(),
            )
        }
    }

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
                stale
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
    fn negative_answers_live_by_the_soa() {
        let cache = Cache::new(1000, 1 << 20, 300, 600);
        // min(SOA TTL 900, MINIMUM 60); ttl_min is for positive answers only.
        let case = Case::of(&nxdomain("nope.example.com.", 900, 60));
        assert!(case.insert(&cache, NOW));
        let (hit, _) = case.replay(&cache, NOW, false).unwrap();
        let stale = false;
        assert_eq!(
            hit,
            Hit {
                rcode: RCODE_NXDOMAIN,
                answers: 0,
                authorities: 1,
                stale
            }
        );
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [60]);
        assert_eq!(case.ttls(&cache, NOW + 60), None);
        // At most an hour, and at most the caller's cap.
        let case = Case::of(&nxdomain("nope.example.com.", 86400, 86400));
        assert!(case.insert(&cache, NOW));
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [3600]);
        assert!(case.insert_capped(&cache, NOW, Some(5)));
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [5]);
        // A CNAME to a name that does not exist: the CNAME's TTL bounds it too.
        let mut m = nxdomain("alias.example.com.", 900, 600);
        m.add_answer(cname("alias.example.com.", 20, "gone.example.com."));
        let case = Case::of(&m);
        assert!(case.insert(&cache, NOW));
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [20, 20]);
        // NODATA with a SOA.
        let mut m = message("www.example.com.", RecordType::AAAA, ResponseCode::NoError);
        m.add_authority(soa("example.com.", 900, 120));
        let case = Case::of(&m);
        assert!(case.insert(&cache, NOW));
        let (hit, _) = case.replay(&cache, NOW, false).unwrap();
        assert_eq!(
            (hit.rcode, hit.answers, hit.authorities),
            (RCODE_NOERROR, 0, 1)
        );
        assert_eq!(case.ttls(&cache, NOW).unwrap(), [120]);
        // A TTL of 0 is not cached.
        assert!(!Case::of(&nxdomain("zero.example.com.", 0, 60)).insert(&cache, NOW));
    }

    #[test]
    fn uncacheable_responses_are_refused() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let qname = "www.example.com.";
        let nodata = message(qname, RecordType::A, ResponseCode::NoError);
        assert!(!Case::of(&nodata).insert(&cache, NOW), "NODATA without SOA");
        let nx = message(qname, RecordType::A, ResponseCode::NXDomain);
        assert!(!Case::of(&nx).insert(&cache, NOW), "NXDOMAIN without SOA");
        // BADVERS is NOERROR in the header and 16 with the OPT's high bits.
        use ResponseCode::{BADVERS, FormErr, Refused, ServFail};
        for rcode in [ServFail, Refused, FormErr, BADVERS] {
            let mut m = message(qname, RecordType::A, rcode);
            m.add_answer(a(qname, 300, [192, 0, 2, 1]));
            m.set_edns(Edns::new());
            assert!(!Case::of(&m).insert(&cache, NOW), "{rcode:?}");
        }
        let good = Case::of(&a_response(qname, 300));
        let mut truncated = good.clone();
        truncated.response[2] |= 0x02;
        assert!(!truncated.insert(&cache, NOW), "TC=1");
        let mut query = good.clone();
        query.response[2] &= 0x7F;
        assert!(!query.insert(&cache, NOW), "QR=0");
        // Another question than the one asked.
        let other = Case {
            qname: b"\x05other\x07example\x03com\x00".to_vec(),
            ..good.clone()
        };
        assert!(!other.insert(&cache, NOW));
        assert!(!Case { qtype: 28, ..good }.insert(&cache, NOW));
        assert!(cache.is_empty());
    }

    #[test]
    fn ttls_are_clamped() {
        let cache = Cache::new(1000, 1 << 20, 60, 100);
        let short = Case::of(&a_response("short.example.com.", 5));
        assert!(short.insert(&cache, NOW));
        assert_eq!(short.ttls(&cache, NOW).unwrap(), [60, 60, 60]);
        let long = Case::of(&a_response("long.example.com.", 300));
        assert!(long.insert(&cache, NOW));
        assert_eq!(long.ttls(&cache, NOW + 1).unwrap(), [99, 99, 99]);
        // RFC 2181 §8: a TTL with the top bit set is 0, then clamped.
        let mut huge = Case::of(&a_response("huge.example.com.", 300));
        let ttl_at = huge.question_end() + 6;
        huge.response[ttl_at] = 0x80;
        assert!(huge.insert(&cache, NOW));
        assert_eq!(huge.ttls(&cache, NOW).unwrap(), [60, 60, 60]);
        assert!(!huge.insert(&Cache::new(1000, 1 << 20, 0, 86400), NOW));
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
        let (entries, slots, heap_bytes) = (Vec::new(), Box::default(), 0);
        let (bytes_max, random) = (1 << 20, 1);
        Shard {
            entries,
            slots,
            heap_bytes,
            entries_max,
            bytes_max,
            random,
            hits: 0,
            stale: 0,
            misses: 0,
        }
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
                .lookup(&bare_key(&names[0], 0), 100, false, &mut out)
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

    /// Header and question `\x01a\x00` A IN (bytes 12..19) with `an` answers and `ar`
    /// additional records, then `records`.
    fn hand_made(an: u8, ar: u8, records: &[u8]) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, an, 0, 0, 0, ar];
        p.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        p.extend_from_slice(records);
        p
    }

    fn record(owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut r = owner.to_vec();
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 1, 0x2C]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    #[test]
    fn hostile_names_are_refused() {
        let cache = Cache::new(1000, 1 << 20, 0, 86400);
        let insert = |response: &[u8]| {
            cache.insert(b"\x01a\x00", TYPE_A, CLASS_IN, false, response, NOW, None)
        };
        let a_at = |owner: &[u8]| record(owner, TYPE_A, &[192, 0, 2, 1]);
        // Records start at 19; a record owned by a pointer is 16 bytes long.
        assert!(
            insert(&hand_made(1, 0, &a_at(b"\xC0\x0C"))),
            "the base case"
        );
        // A CNAME's target (its label at 31) may be pointed at.
        let chain = [record(b"\xC0\x0C", 5, b"\x01b\xC0\x0C"), a_at(b"\xC0\x1F")].concat();
        assert!(insert(&hand_made(2, 0, &chain)));
        let cname_to = |target: &[u8]| record(b"\xC0\x0C", 5, target);
        // Pointing at the owner of the next record (at 35).
        let pointing_ahead = [a_at(b"\xC0\x23"), a_at(b"\x01x\x00")].concat();
        let into_txt = [record(b"\xC0\x0C", 16, b"\x01x\x00"), a_at(b"\xC0\x1F")].concat();
        let cases: [(&str, u8, u8, Vec<u8>); 16] = [
            ("pointer to itself", 1, 0, a_at(b"\xC0\x13")),
            ("pointer into the header", 1, 0, a_at(b"\xC0\x00")),
            ("pointer to offset 11", 1, 0, a_at(b"\xC0\x0B")),
            ("pointer into the question's type", 1, 0, a_at(b"\xC0\x0F")),
            ("pointer to the question's root", 1, 0, a_at(b"\xC0\x0E")),
            ("pointer into the additional", 1, 1, pointing_ahead.clone()),
            ("forward pointer", 2, 0, pointing_ahead),
            ("pointer into TXT data", 2, 0, into_txt),
            ("pointer within its own name", 1, 0, a_at(b"\x01b\xC0\x13")),
            (
                "CNAME target pointing at itself",
                1,
                0,
                cname_to(b"\x01b\xC0\x21"),
            ),
            ("extended label type", 1, 0, a_at(b"\x41b\x00")),
            ("CNAME target past its RDATA", 1, 0, cname_to(b"\x05b")),
            (
                "bytes after the CNAME target",
                1,
                0,
                cname_to(b"\x01b\x00\x00"),
            ),
            (
                "SOA without its numbers",
                1,
                0,
                record(b"\x00", TYPE_SOA, b"\x00\x00"),
            ),
            ("OPT in the answer", 1, 0, record(b"\x00", TYPE_OPT, &[])),
            ("more records counted than sent", 2, 0, a_at(b"\xC0\x0C")),
        ];
        for (what, an, ar, records) in cases {
            assert!(!insert(&hand_made(an, ar, &records)), "{what}");
        }
        // Names that grow past 255 bytes through pointers: each record adds a 63-byte
        // label to the previous owner (the first owner: two labels then `a.`).
        let label63 = |tail: &[u8]| [&[63][..], &[b'x'; 63], tail].concat();
        let pointer = |at: usize| (0xC000 | at as u16).to_be_bytes();
        let first = record(&label63(&label63(&pointer(12))), 16, &[]); // 131 bytes decoded
        let second = record(&label63(&pointer(19)), 16, &[]); // 195
        let third = record(&label63(&pointer(19 + first.len())), 16, &[]); // 259
        let two = [first.clone(), second.clone()].concat();
        assert!(insert(&hand_made(2, 0, &two)));
        assert!(!insert(&hand_made(3, 0, &[first, second, third].concat())));
    }

    #[test]
    fn malformed_responses_never_panic() {
        let cache = Cache::new(100, 1 << 16, 0, 86400);
        let mut nx = nxdomain("nope.example.com.", 900, 60);
        nx.add_answer(cname("nope.example.com.", 20, "x.example.com."));
        nx.set_edns(Edns::new());
        for valid in [
            Case::of(&a_response("www.example.com.", 300)),
            Case::of(&nx),
        ] {
            assert!(valid.insert(&cache, NOW));
            for n in 0..valid.response.len() {
                let mut cut = valid.clone();
                cut.response.truncate(n);
                assert!(!cut.insert(&cache, NOW), "cut at {n}");
            }
            for i in 0..valid.response.len() {
                for value in [0u8, 1, 2, 0x3F, 0x40, 0x80, 0xC0, 0xC0 | 12, 0xFF] {
                    let mut bad = valid.clone();
                    bad.response[i] = value;
                    if bad.insert(&cache, NOW) {
                        let (_, out) = bad.replay(&cache, NOW, false).unwrap();
                        assert!(out.len() <= bad.response.len());
                    }
                    // And a pointer just after it.
                    for j in [i + 1, i + 2, i + 7] {
                        if let Some(byte) = bad.response.get_mut(j) {
                            *byte = 0xC0;
                            bad.insert(&cache, NOW);
                        }
                    }
                }
            }
        }
        assert!(cache.len() <= 100 && cache.bytes() <= 1 << 16);
    }
}
