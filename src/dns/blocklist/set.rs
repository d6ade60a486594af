//! One list's names in memory: an arena of lower-case wire names and an
//! open-addressing hash table over it, sized for a million names on a 64 MB router.
//!
//! Layout, per name: the name packed six bits a character, its end saying block
//! or allow (`packed`), all in one `Vec<u8>`; and one table slot: a `u32` offset
//! into the arena plus a one-byte fingerprint of the hash in a parallel array
//! (0 = empty). A probe reads fingerprints, which sit side by side,
//! and touches the arena only when one matches. No allocation per name, none per
//! lookup, no scan: a name costs one probe, its parents one each.
//!
//! Hashes are computed label by label from the right (`suffix_hashes`), so a
//! query's name and all its parents are hashed in one pass over its bytes.

use super::packed;
use crate::dns::wire::NAME_BYTES_MAX;

/// What an entry says about its name and everything below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block,
    Allow,
}

/// Labels in a wire name at most (255 bytes, one-letter labels: 127).
pub const LABELS_MAX: usize = 128;

/// Slots per name the final table gets: 0.8 full, so a lookup that misses reads
/// about a dozen fingerprint bytes, one or two cache lines.
const LOAD_NUMERATOR: usize = 5;
const LOAD_DENOMINATOR: usize = 4;
/// A table being built grows (doubles) when fuller than this, 7/8.
const GROW_NUMERATOR: usize = 7;
const GROW_DENOMINATOR: usize = 8;
/// The arena is addressed by `u32` offsets.
pub const ARENA_BYTES_MAX: usize = u32::MAX as usize;

const HASH_SEED: u64 = 0x243F_6A88_85A3_08D3;
const HASH_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// The hashes of `name` (lower-case wire, ending with the root) and of each of
/// its parents: `hashes[i]` is the hash of the name without its `i` leftmost
/// labels, and `starts[i]` where that suffix begins. Returns the label count
/// (the root not counted), `None` when the name does not walk.
pub fn suffix_hashes(
    name: &[u8],
    starts: &mut [u8; LABELS_MAX],
    hashes: &mut [u64; LABELS_MAX],
) -> Option<usize> {
    let mut count = 0;
    let mut at = 0usize;
    loop {
        let length = usize::from(*name.get(at)?);
        if length == 0 {
            break;
        }
        if count == LABELS_MAX || at > NAME_BYTES_MAX {
            return None;
        }
        starts[count] = u8::try_from(at).ok()?;
        count += 1;
        at += 1 + length;
    }
    let end = at;
    let mut state = HASH_SEED;
    let mut label_end = end;
    let suffixes = starts[..count].iter().zip(hashes[..count].iter_mut());
    for (&start, hash) in suffixes.rev() {
        let start = usize::from(start);
        state = mix_label(state, name.get(start..label_end)?);
        *hash = finish(state);
        label_end = start;
    }
    Some(count)
}

/// Folds one label (its length byte and letters) into the running state, eight
/// bytes at a time; the length byte makes the zero padding unambiguous.
#[inline]
fn mix_label(mut state: u64, label: &[u8]) -> u64 {
    for chunk in label.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        state = (state ^ u64::from_le_bytes(word))
            .wrapping_mul(HASH_MULTIPLIER)
            .rotate_left(29);
    }
    state
}

/// murmur3's 64-bit finalizer: every input bit reaches the high bits (the slot)
/// and the low byte (the fingerprint).
#[inline]
fn finish(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// The home slot of `hash` in a table of `slots` (multiply-shift: any size, no
/// power of two needed, so the table is sized to the names).
#[inline]
fn home(hash: u64, slots: usize) -> usize {
    (((hash >> 32) * slots as u64) >> 32) as usize
}

/// The fingerprint kept beside a slot: never 0, which marks an empty slot.
#[inline]
fn fingerprint(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// An immutable set of names (see the module doc). `Debug` shows its size, not
/// its megabytes.
#[derive(Default)]
pub struct NameSet {
    arena: Box<[u8]>,
    fingerprints: Box<[u8]>,
    offsets: Box<[u32]>,
    len: usize,
}

impl std::fmt::Debug for NameSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameSet")
            .field("len", &self.len)
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

impl NameSet {
    /// Names in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held on the heap (the arena and the table), for the stats.
    pub fn heap_bytes(&self) -> usize {
        self.arena.len() + self.fingerprints.len() + self.offsets.len() * 4
    }

    /// The entry for exactly `suffix` (lower-case wire, ending with the root),
    /// whose hash is `hash` (from [`suffix_hashes`]).
    #[inline]
    pub fn get(&self, suffix: &[u8], hash: u64) -> Option<Kind> {
        match probe(&self.arena, &self.fingerprints, &self.offsets, suffix, hash) {
            Probe::Found(_, found) => Some(found.kind),
            _ => None,
        }
    }
}

/// Where a probe ended.
enum Probe {
    /// The name is at this arena offset.
    Found(usize, packed::Match),
    /// Not there; this slot is free for it.
    Free(usize),
    /// Not there, and the table has no free slot (only when it is empty).
    Full,
}

/// Linear probing from the home slot of `hash` until `name` or a free slot.
#[inline]
fn probe(arena: &[u8], fingerprints: &[u8], offsets: &[u32], name: &[u8], hash: u64) -> Probe {
    let slots = fingerprints.len();
    if slots == 0 || name.len() < 2 {
        return Probe::Full;
    }
    let wanted = fingerprint(hash);
    let mut slot = home(hash, slots);
    for _ in 0..slots {
        let seen = fingerprints[slot];
        if seen == 0 {
            return Probe::Free(slot);
        }
        if seen == wanted {
            let offset = offsets[slot] as usize;
            if let Some(found) = packed::matches(arena, offset, name) {
                return Probe::Found(offset, found);
            }
        }
        slot += 1;
        if slot == slots {
            slot = 0;
        }
    }
    Probe::Full
}

/// What [`Builder::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// The name was there already.
    Duplicate,
    /// The name was there as a block entry and is now an allow entry.
    Allowed,
    /// The arena's `u32` offsets cannot address more.
    Full,
    /// Not a name the arena can hold (the parser lets none through).
    Invalid,
}

/// Builds a [`NameSet`]: names are appended to the arena once (a duplicate is
/// found by the table being built and not stored again).
pub struct Builder {
    arena: Vec<u8>,
    fingerprints: Vec<u8>,
    offsets: Vec<u32>,
    len: usize,
    starts: Box<[u8; LABELS_MAX]>,
    hashes: Box<[u64; LABELS_MAX]>,
}

impl Builder {
    /// A builder expecting about `names` names (a hint: it grows past it).
    pub fn with_capacity(names: usize) -> Self {
        let slots = slots_for(names.max(16));
        Self {
            arena: Vec::new(),
            fingerprints: vec![0; slots],
            offsets: vec![0; slots],
            len: 0,
            starts: Box::new([0; LABELS_MAX]),
            hashes: Box::new([0; LABELS_MAX]),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds `name` (lower-case wire ending with the root, at least one label).
    pub fn insert(&mut self, name: &[u8], kind: Kind) -> Inserted {
        let Some(count) = suffix_hashes(name, &mut self.starts, &mut self.hashes) else {
            return Inserted::Invalid;
        };
        if count == 0 {
            return Inserted::Invalid;
        }
        let hash = self.hashes[0];
        let probed = probe(&self.arena, &self.fingerprints, &self.offsets, name, hash);
        let slot = match probed {
            Probe::Found(offset, found) => {
                if kind == Kind::Allow && found.kind == Kind::Block {
                    packed::allow(&mut self.arena, offset, found);
                    return Inserted::Allowed;
                }
                return Inserted::Duplicate;
            }
            Probe::Free(slot) => slot,
            Probe::Full => return Inserted::Full,
        };
        let offset = self.arena.len();
        if offset + name.len() > ARENA_BYTES_MAX {
            return Inserted::Full;
        }
        if !packed::push(&mut self.arena, name, kind) {
            return Inserted::Invalid;
        }
        self.fingerprints[slot] = fingerprint(hash);
        self.offsets[slot] = offset as u32;
        self.len += 1;
        if self.len * GROW_DENOMINATOR > self.fingerprints.len() * GROW_NUMERATOR {
            self.rehash(self.fingerprints.len() * 2);
        }
        Inserted::New
    }

    /// The set, its table cut to the final size and the arena to its length.
    pub fn finish(mut self) -> NameSet {
        let slots = slots_for(self.len);
        if slots != self.fingerprints.len() {
            self.rehash(slots);
        }
        self.arena.shrink_to_fit();
        NameSet {
            arena: self.arena.into_boxed_slice(),
            fingerprints: self.fingerprints.into_boxed_slice(),
            offsets: self.offsets.into_boxed_slice(),
            len: self.len,
        }
    }

    /// A table of `slots` with every name placed again (the arena stays).
    fn rehash(&mut self, slots: usize) {
        // The old table is dropped before the new one is allocated: nothing of it
        // is needed, one walk of the arena finds every name again. So the peak
        // is the arena and one table, never two.
        drop(std::mem::take(&mut self.fingerprints));
        drop(std::mem::take(&mut self.offsets));
        self.fingerprints = vec![0; slots];
        self.offsets = vec![0; slots];
        let mut offset = 0usize;
        let mut wire = [0u8; NAME_BYTES_MAX];
        while offset < self.arena.len() {
            let Some((length, entry_bytes)) = packed::decode(&self.arena, offset, &mut wire) else {
                break;
            };
            if let Some(count) = suffix_hashes(&wire[..length], &mut self.starts, &mut self.hashes)
                && count > 0
            {
                let hash = self.hashes[0];
                let mut slot = home(hash, slots);
                while self.fingerprints[slot] != 0 {
                    slot = if slot + 1 == slots { 0 } else { slot + 1 };
                }
                self.fingerprints[slot] = fingerprint(hash);
                self.offsets[slot] = offset as u32;
            }
            offset += entry_bytes;
        }
    }
}

/// Table slots for `names` at the final load (never fewer than names + 1, so a
/// probe always ends at a free slot).
fn slots_for(names: usize) -> usize {
    (names * LOAD_NUMERATOR / LOAD_DENOMINATOR).max(names + 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in text.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn get(set: &NameSet, text: &str) -> Option<Kind> {
        let name = wire(text);
        let (mut starts, mut hashes) = ([0; LABELS_MAX], [0; LABELS_MAX]);
        suffix_hashes(&name, &mut starts, &mut hashes).unwrap();
        set.get(&name, hashes[0])
    }

    #[test]
    fn suffix_hashes_match_the_hash_of_each_parent() {
        let name = wire("a.bc.example.com");
        let (mut starts, mut hashes) = ([0; LABELS_MAX], [0; LABELS_MAX]);
        assert_eq!(suffix_hashes(&name, &mut starts, &mut hashes), Some(4));
        for (i, &start) in starts[..4].iter().enumerate() {
            let parent = &name[usize::from(start)..];
            let (mut s, mut h) = ([0; LABELS_MAX], [0; LABELS_MAX]);
            suffix_hashes(parent, &mut s, &mut h).unwrap();
            assert_eq!(h[0], hashes[i], "suffix {i}");
        }
        assert_eq!(suffix_hashes(b"\x00", &mut starts, &mut hashes), Some(0));
        assert_eq!(suffix_hashes(b"\x05ab", &mut starts, &mut hashes), None);
    }

    #[test]
    fn names_are_found_exactly_and_duplicates_stored_once() {
        let mut builder = Builder::with_capacity(0);
        assert_eq!(
            builder.insert(&wire("ads.example"), Kind::Block),
            Inserted::New
        );
        assert_eq!(
            builder.insert(&wire("ads.example"), Kind::Block),
            Inserted::Duplicate
        );
        assert_eq!(
            builder.insert(&wire("good.ads.example"), Kind::Allow),
            Inserted::New
        );
        let set = builder.finish();
        assert_eq!(set.len(), 2);
        assert_eq!(get(&set, "ads.example"), Some(Kind::Block));
        assert_eq!(get(&set, "good.ads.example"), Some(Kind::Allow));
        assert_eq!(get(&set, "example"), None, "a parent is not an entry");
        assert_eq!(get(&set, "x.ads.example"), None, "a child is not an entry");
        assert_eq!(get(&set, "ads.exampl"), None);
        // 11 and 16 characters: 9 and 13 bytes packed; 3 slots of 5 bytes.
        assert_eq!(set.heap_bytes(), 9 + 13 + 3 * 5);
    }

    #[test]
    fn allow_replaces_block_for_the_same_name() {
        let mut builder = Builder::with_capacity(4);
        builder.insert(&wire("a.test"), Kind::Block);
        assert_eq!(
            builder.insert(&wire("a.test"), Kind::Allow),
            Inserted::Allowed
        );
        assert_eq!(
            builder.insert(&wire("a.test"), Kind::Allow),
            Inserted::Duplicate
        );
        assert_eq!(
            builder.insert(&wire("a.test"), Kind::Block),
            Inserted::Duplicate
        );
        assert_eq!(get(&builder.finish(), "a.test"), Some(Kind::Allow));
    }

    #[test]
    fn growing_keeps_every_name() {
        let mut builder = Builder::with_capacity(1);
        for i in 0..5000 {
            let name = wire(&format!("host{i}.example{}.test", i % 7));
            assert_eq!(builder.insert(&name, Kind::Block), Inserted::New);
        }
        let set = builder.finish();
        assert_eq!(set.len(), 5000);
        assert_eq!(set.fingerprints.len(), 6250);
        for i in 0..5000 {
            let name = format!("host{i}.example{}.test", i % 7);
            assert_eq!(get(&set, &name), Some(Kind::Block), "{name}");
            let other = format!("host{i}.example{}.test", (i + 1) % 7);
            assert_eq!(get(&set, &other), None, "{other}");
        }
    }

    #[test]
    fn empty_set_finds_nothing() {
        let set = NameSet::default();
        assert_eq!(get(&set, "a.test"), None);
        let set = Builder::with_capacity(0).finish();
        assert!(set.is_empty());
        assert_eq!(get(&set, "a.test"), None);
    }
}
