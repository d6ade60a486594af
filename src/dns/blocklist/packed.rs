//! Names as the arena keeps them: six bits a character. A list's names use 38
//! characters (`a`–`z`, `0`–`9`, `-`, `_`), so each label character, each dot
//! between labels and the end of the name (which says block or allow) is one
//! 6-bit code, four codes in three bytes: a name of n characters takes
//! ⌈6(n + 1)/8⌉ bytes instead of the n + 2 of wire format, a quarter less.
//! Entries start on a byte. Lookups compare a wire name against an entry code
//! by code (only when a fingerprint already matched); nothing here allocates.

use super::set::Kind;
use crate::dns::wire::NAME_BYTES_MAX;

const END_BLOCK: u8 = 0;
const END_ALLOW: u8 = 1;
const DOT: u8 = 2;
/// Not a code: the byte cannot be in a list's name.
const NONE: u8 = 0xFF;

/// Byte (lower case) to code.
const CODES: [u8; 256] = {
    let mut codes = [NONE; 256];
    let mut i = 0;
    while i < 26 {
        codes[b'a' as usize + i] = 3 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        codes[b'0' as usize + d] = 29 + d as u8;
        d += 1;
    }
    codes[b'-' as usize] = 39;
    codes[b'_' as usize] = 40;
    codes
};

/// Code to byte (the letters; 0 for the markers and unused codes).
const LETTERS: [u8; 64] = {
    let mut letters = [0u8; 64];
    let mut byte = 0;
    while byte < 256 {
        let code = CODES[byte];
        if code != NONE {
            letters[code as usize] = byte as u8;
        }
        byte += 1;
    }
    letters
};

/// Appends `name` (lower-case wire with the root label, at least one label) to
/// `arena`, ending as `kind`. False, with nothing appended, when a byte of it
/// has no code.
pub fn push(arena: &mut Vec<u8>, name: &[u8], kind: Kind) -> bool {
    let codes = Codes::new(name);
    if codes.clone().any(|code| code == NONE) {
        return false;
    }
    let (mut bits, mut count) = (0u32, 0u32);
    let end = match kind {
        Kind::Block => END_BLOCK,
        Kind::Allow => END_ALLOW,
    };
    for code in codes.chain(std::iter::once(end)) {
        bits = (bits << 6) | u32::from(code);
        count += 6;
        if count >= 8 {
            count -= 8;
            arena.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    if count > 0 {
        arena.push((bits << (8 - count)) as u8);
    }
    true
}

/// The codes of a wire name (labels' letters, a dot between labels), without
/// its end.
#[derive(Clone)]
struct Codes<'n> {
    name: &'n [u8],
    /// Where the current label's next byte is, and where the label ends.
    at: usize,
    label_end: usize,
}

impl<'n> Codes<'n> {
    fn new(name: &'n [u8]) -> Self {
        let first = name.first().map_or(0, |&l| usize::from(l));
        Self {
            name,
            at: 1,
            label_end: 1 + first,
        }
    }
}

impl Iterator for Codes<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if self.at < self.label_end {
            let byte = *self.name.get(self.at)?;
            self.at += 1;
            return Some(CODES[usize::from(byte)]);
        }
        let next = usize::from(*self.name.get(self.label_end)?);
        if next == 0 {
            return None;
        }
        self.at = self.label_end + 1;
        self.label_end = self.at + next;
        Some(DOT)
    }
}

/// Code `index` of the entry at `offset`.
#[inline]
fn code_at(arena: &[u8], offset: usize, index: usize) -> Option<u8> {
    let bit = index * 6;
    let byte = offset + bit / 8;
    let high = *arena.get(byte)?;
    let low = arena.get(byte + 1).copied().unwrap_or(0);
    let word = u16::from_be_bytes([high, low]);
    Some(((word >> (10 - bit % 8)) & 0x3F) as u8)
}

/// Sets code `index` of the entry at `offset`.
fn set_code(arena: &mut [u8], offset: usize, index: usize, code: u8) {
    let bit = index * 6;
    let byte = offset + bit / 8;
    let shift = 10 - bit % 8;
    let (Some(&high), low) = (arena.get(byte), arena.get(byte + 1).copied()) else {
        return;
    };
    let word = u16::from_be_bytes([high, low.unwrap_or(0)]);
    let word = (word & !(0x3F << shift)) | (u16::from(code) << shift);
    let [high, low_new] = word.to_be_bytes();
    arena[byte] = high;
    if low.is_some() {
        arena[byte + 1] = low_new;
    }
}

/// Where an entry that equals a name ends: its kind and the index of its end code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub kind: Kind,
    end: usize,
}

/// Whether the entry at `offset` is exactly `name` (lower-case wire).
#[inline]
pub fn matches(arena: &[u8], offset: usize, name: &[u8]) -> Option<Match> {
    let mut index = 0;
    for code in Codes::new(name) {
        if code == NONE || code_at(arena, offset, index)? != code {
            return None;
        }
        index += 1;
    }
    let kind = match code_at(arena, offset, index)? {
        END_BLOCK => Kind::Block,
        END_ALLOW => Kind::Allow,
        _ => return None,
    };
    Some(Match { kind, end: index })
}

/// Makes a matched block entry an allow entry.
pub fn allow(arena: &mut [u8], offset: usize, found: Match) {
    set_code(arena, offset, found.end, END_ALLOW);
}

/// The entry at `offset` as wire (with the root label) in `out`: its wire
/// length and the entry's length in bytes. `None` past the arena's end or for
/// a damaged entry.
pub fn decode(
    arena: &[u8],
    offset: usize,
    out: &mut [u8; NAME_BYTES_MAX],
) -> Option<(usize, usize)> {
    let (mut index, mut label_start, mut write) = (0, 0, 1);
    loop {
        let code = code_at(arena, offset, index)?;
        index += 1;
        match code {
            END_BLOCK | END_ALLOW | DOT => {
                let length = write - label_start - 1;
                if length == 0 || length > 63 {
                    return None;
                }
                out[label_start] = length as u8;
                if code != DOT {
                    *out.get_mut(write)? = 0;
                    return Some((write + 1, (index * 6).div_ceil(8)));
                }
                label_start = write;
                write += 1;
            }
            letter => {
                let byte = LETTERS[usize::from(letter)];
                if byte == 0 {
                    return None;
                }
                *out.get_mut(write)? = byte;
                write += 1;
            }
        }
        if write >= NAME_BYTES_MAX {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        let mut out = [0u8; NAME_BYTES_MAX];
        let length = super::super::format::to_wire(text.as_bytes(), &mut out).unwrap();
        out[..length].to_vec()
    }

    #[test]
    fn names_pack_to_six_bits_a_character_and_back() {
        let mut arena = vec![0xAA];
        for (text, bytes) in [
            ("a", 2),
            ("ab.c", 4),
            ("ads.example.com", 12),
            ("x-1_z.0.test", 10),
            (&"a".repeat(63), 48),
        ] {
            let name = wire(text);
            let offset = arena.len();
            assert!(push(&mut arena, &name, Kind::Block), "{text}");
            assert_eq!(arena.len() - offset, bytes, "{text}");
            let found = matches(&arena, offset, &name).unwrap();
            assert_eq!(found.kind, Kind::Block);
            let mut out = [0u8; NAME_BYTES_MAX];
            let (length, entry) = decode(&arena, offset, &mut out).unwrap();
            assert_eq!(&out[..length], &name[..], "{text}");
            assert_eq!(entry, bytes);
        }
    }

    #[test]
    fn only_the_same_name_matches() {
        let mut arena = Vec::new();
        push(&mut arena, &wire("ads.example"), Kind::Allow);
        let second = arena.len();
        push(&mut arena, &wire("b"), Kind::Block);
        assert_eq!(
            matches(&arena, 0, &wire("ads.example")).unwrap().kind,
            Kind::Allow
        );
        for other in [
            "ads.exampl",
            "ads.example.com",
            "ads",
            "adsexample",
            "x.ads.example",
        ] {
            assert_eq!(matches(&arena, 0, &wire(other)), None, "{other}");
        }
        assert_eq!(
            matches(&arena, second, &wire("b")).unwrap().kind,
            Kind::Block
        );
        assert_eq!(
            matches(&arena, second, b"\x01B\x00"),
            None,
            "upper case has no code"
        );
        assert!(!push(&mut arena, b"\x03a*b\x00", Kind::Block));
        assert_eq!(arena.len(), second + 2, "nothing appended");
    }

    #[test]
    fn a_block_entry_becomes_allow_in_place() {
        for text in ["a", "ab", "abc", "abcd", "ads.example.com"] {
            let mut arena = Vec::new();
            push(&mut arena, &wire(text), Kind::Block);
            push(&mut arena, &wire("next.test"), Kind::Block);
            let found = matches(&arena, 0, &wire(text)).unwrap();
            allow(&mut arena, 0, found);
            assert_eq!(
                matches(&arena, 0, &wire(text)).unwrap().kind,
                Kind::Allow,
                "{text}"
            );
            let (_, entry) = decode(&arena, 0, &mut [0; NAME_BYTES_MAX]).unwrap();
            let next = matches(&arena, entry, &wire("next.test")).unwrap();
            assert_eq!(
                next.kind,
                Kind::Block,
                "{text}: the next entry is untouched"
            );
        }
    }
}
