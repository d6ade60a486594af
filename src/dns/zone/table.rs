//! The name index of a zone: an open-addressing hash table of arena offsets.
//!
//! Each slot is one `u64`: the upper 32 bits of the name's hash as a tag, the
//! node's arena offset plus one in the lower 32 (0 is an empty slot). A probe
//! compares tags in the table itself and touches the arena only when a tag
//! matches, so a miss (an NXDOMAIN, a wildcard's closest-encloser search) walks a
//! few contiguous slots and reads no name. Linear probing at a load of at most
//! `LOAD_PERCENT_MAX`; the table size is not a power of two (the slot is chosen by
//! multiply-shift), so a 1 000 000-name zone costs 11.4 bytes per name here, not
//! up to 16.
//!
//! The hash is FxHash's multiply-rotate over 8-byte words with murmur3's
//! finalizer: zone names are the owner's data and query names only probe, so it
//! needs spread, not resistance to chosen keys.

/// Slots filled at most this share of the table (percent).
const LOAD_PERCENT_MAX: usize = 70;
/// The smallest table: zones of a handful of names.
const SLOTS_MIN: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct Table {
    slots: Box<[u64]>,
    len: usize,
}

impl Table {
    /// A table sized for `names` names.
    pub fn with_names(names: usize) -> Table {
        Table {
            slots: vec![0; slots_for(names)].into(),
            len: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes the slots take.
    pub fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<u64>()
    }

    /// The offset whose key, read by `key_at`, equals `key`.
    pub fn find<'a>(&self, key: &[u8], key_at: impl Fn(u32) -> Option<&'a [u8]>) -> Option<u32> {
        let hash = hash(key);
        let tag = hash >> 32;
        let mut index = self.start(hash)?;
        loop {
            let slot = *self.slots.get(index)?;
            if slot == 0 {
                return None;
            }
            let offset = (slot as u32).wrapping_sub(1);
            if slot >> 32 == tag && key_at(offset) == Some(key) {
                return Some(offset);
            }
            index = self.next(index);
        }
    }

    /// Adds `offset` under `key` (the caller knows `key` is not in the table yet);
    /// grows first when the load would pass its bound. `key_at` reads the key of
    /// any offset already in the table (for the rehash).
    pub fn insert<'a>(
        &mut self,
        key: &[u8],
        offset: u32,
        key_at: impl Fn(u32) -> Option<&'a [u8]>,
    ) {
        if (self.len + 1) * 100 > self.slots.len() * LOAD_PERCENT_MAX {
            self.grow(&key_at);
        }
        self.place(hash(key), offset);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, offset: u32) {
        let Some(mut index) = self.start(hash) else {
            return;
        };
        let slot = (hash & !0xffff_ffff) | u64::from(offset.wrapping_add(1));
        while let Some(existing) = self.slots.get_mut(index) {
            if *existing == 0 {
                *existing = slot;
                return;
            }
            index = self.next(index);
        }
    }

    fn grow<'a>(&mut self, key_at: &impl Fn(u32) -> Option<&'a [u8]>) {
        let old = std::mem::replace(&mut self.slots, vec![0; slots_for(self.len * 2 + 1)].into());
        for slot in old.iter().filter(|&&s| s != 0) {
            let offset = (*slot as u32).wrapping_sub(1);
            if let Some(key) = key_at(offset) {
                self.place(hash(key), offset);
            }
        }
    }

    /// The first slot for `hash`: the low 32 bits scaled to the table size.
    fn start(&self, hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let scaled = (hash & 0xffff_ffff) * self.slots.len() as u64;
        Some((scaled >> 32) as usize)
    }

    fn next(&self, index: usize) -> usize {
        if index + 1 == self.slots.len() {
            0
        } else {
            index + 1
        }
    }
}

/// Slots for `names` names at the load bound.
fn slots_for(names: usize) -> usize {
    (names.saturating_mul(100) / LOAD_PERCENT_MAX + 1).max(SLOTS_MIN)
}

/// A 64-bit hash of a name's bytes.
pub fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut value = [0u8; 8];
        value.copy_from_slice(word);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(value)).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut value = [0u8; 8];
        value[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(value)).wrapping_mul(K);
    }
    // murmur3's fmix64: every input bit reaches the tag and the slot bits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Keys as length-prefixed strings in one buffer, like a zone's arena.
    fn arena(keys: &[String]) -> (Vec<u8>, Vec<u32>) {
        let mut arena = Vec::new();
        let mut offsets = Vec::new();
        for key in keys {
            offsets.push(arena.len() as u32);
            arena.push(key.len() as u8);
            arena.extend_from_slice(key.as_bytes());
        }
        (arena, offsets)
    }

    fn key_at<'a>(arena: &'a [u8]) -> impl Fn(u32) -> Option<&'a [u8]> {
        move |offset| {
            let at = offset as usize;
            let len = usize::from(*arena.get(at)?);
            arena.get(at + 1..at + 1 + len)
        }
    }

    #[test]
    fn finds_every_key_and_no_other_through_growth() {
        let keys: Vec<String> = (0..5000).map(|i| format!("h{i}")).collect();
        let (arena, offsets) = arena(&keys);
        // Sized for far fewer: every insert past the bound grows the table.
        let mut table = Table::with_names(3);
        for (key, offset) in keys.iter().zip(&offsets) {
            table.insert(key.as_bytes(), *offset, key_at(&arena));
        }
        assert_eq!(table.len(), keys.len());
        for (key, offset) in keys.iter().zip(&offsets) {
            assert_eq!(table.find(key.as_bytes(), key_at(&arena)), Some(*offset));
        }
        for miss in ["h5000", "h-1", "", "x"] {
            assert_eq!(table.find(miss.as_bytes(), key_at(&arena)), None);
        }
        assert!(table.len() * 100 <= table.slots.len() * LOAD_PERCENT_MAX);
    }

    #[test]
    fn empty_table_finds_nothing() {
        let table = Table::default();
        assert_eq!(table.find(b"a", |_| None), None);
    }

    #[test]
    fn hash_spreads_sequential_names() {
        // Names that differ in one digit land in different slots of a small table.
        let table = Table::with_names(1000);
        let mut used = std::collections::HashSet::new();
        for i in 0..1000 {
            used.insert(table.start(hash(format!("host{i}").as_bytes())).unwrap());
        }
        // A random assignment of 1000 keys to 1429 slots fills about 717.
        assert!(used.len() > 650, "{}", used.len());
    }
}
