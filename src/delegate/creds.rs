//! Delegate credentials: making them (UUIDs, keys, bcrypt hashes) and checking what
//! clients send (usernames, keys, subdomains, TXT values, `allowfrom` CIDRs).
//!
//! Pure functions with table tests; no I/O except the system's random source.
//! Invariants: all randomness comes from `ring`'s `SystemRandom` and is mapped to
//! text without modulo bias; a key is only ever stored as a bcrypt hash of cost
//! [`BCRYPT_COST`]; [`verify_key`] does one bcrypt computation whether or not the
//! account exists, so response time does not reveal which usernames are taken.
//! Bounds: keys are 40 characters (under bcrypt's 72-byte limit), TXT values 43, an
//! `allowfrom` list at most [`ALLOWFROM_ENTRIES_MAX`] entries.

use std::net::IpAddr;

use ring::rand::{SecureRandom, SystemRandom};

use crate::dns::acl::Net;

/// bcrypt work factor for stored keys (acme-dns uses 10; DESIGN §4 asks ≥ 10).
/// One verify costs about 2^10 Blowfish key expansions: milliseconds on a PC, far
/// more on a router's CPU, which bounds how many updates a worker serves per second.
pub const BCRYPT_COST: u32 = 10;

/// The most CIDRs one account may list in `allowfrom` (each update scans them all).
pub const ALLOWFROM_ENTRIES_MAX: usize = 32;

/// Characters of a key ([`random_key`]).
pub const KEY_CHARS: usize = 40;

/// Characters of a TXT value: base64url of a SHA-256 digest, unpadded.
pub const TXT_CHARS: usize = 43;

/// The base64url alphabet: 64 symbols, so 6 random bits pick one without bias.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// bcrypt (cost [`BCRYPT_COST`]) of a fixed string nobody uses as a key: what
/// [`verify_key`] checks against for an unknown user, to spend the same time.
const DUMMY_HASH: &str = "$2a$10$vomy3bd0oZlbCbHvfVoFoeVSqByeipFgZDd41fxkHzp7lyrrOVE.e";

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system random number generator failed".to_string())?;
    Ok(bytes)
}

/// A random UUIDv4 as text: lower-case hex, 8-4-4-4-12, version nibble 4, variant
/// bits 10.
pub fn random_uuid() -> Result<String, String> {
    let mut bytes: [u8; 16] = random_bytes()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push_str(&format!("{byte:02x}"));
    }
    Ok(text)
}

/// A random key: [`KEY_CHARS`] characters of `[A-Za-z0-9_-]`, 6 random bits each
/// (240 bits).
pub fn random_key() -> Result<String, String> {
    const _: () = assert!(
        KEY_CHARS.is_multiple_of(4),
        "4 symbols come from each 3 bytes"
    );
    let bytes: [u8; KEY_CHARS / 4 * 3] = random_bytes()?;
    let mut key = String::with_capacity(KEY_CHARS);
    for chunk in bytes.chunks_exact(3) {
        let bits = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            key.push(char::from(ALPHABET[(bits >> shift & 0x3f) as usize]));
        }
    }
    Ok(key)
}

/// The bcrypt hash (`$2a$10$…`, as acme-dns writes it) of `key`, salted from ring.
pub fn hash_key(key: &str) -> Result<String, String> {
    let salt: [u8; 16] = random_bytes()?;
    bcrypt::hash_with_salt(key, BCRYPT_COST, salt)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoA))
        .map_err(|e| format!("hashing a key failed: {e}"))
}

/// True when `key` matches the bcrypt `hash`. With `None` (no such user) the key is
/// checked against `DUMMY_HASH` and the answer is false: same work either way.
/// A malformed hash is false.
pub fn verify_key(key: &str, hash: Option<&str>) -> bool {
    match hash {
        Some(hash) => bcrypt::verify(key, hash).unwrap_or(false),
        None => {
            let _ = bcrypt::verify(key, DUMMY_HASH);
            false
        }
    }
}

/// A UUID as text: 8-4-4-4-12 hex digits, either case, any version.
pub fn valid_username(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Exactly [`KEY_CHARS`] of `[A-Za-z0-9_-]`.
pub fn valid_key(s: &str) -> bool {
    s.len() == KEY_CHARS && is_base64url(s)
}

/// One DNS label: 1 to 63 of `[A-Za-z0-9-]`, not starting or ending with `-`.
pub fn valid_subdomain(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Exactly [`TXT_CHARS`] of `[A-Za-z0-9_-]` (a base64url SHA-256 digest).
pub fn valid_txt(s: &str) -> bool {
    s.len() == TXT_CHARS && is_base64url(s)
}

/// Checks an `allowfrom` list as acme-dns does and returns it normalised: each entry
/// must be an address with an explicit prefix (`192.0.2.0/24`, `2001:db8::/32`);
/// surrounding spaces and brackets around an IPv6 address are dropped
/// (`[::1]/64` → `::1/64`), the address is written in its canonical form, and
/// host bits are kept as written (acme-dns echoes them). Err for any bad entry or
/// more than [`ALLOWFROM_ENTRIES_MAX`] entries.
// The one failure the API reports is `invalid_allowfrom_cidr`, whichever entry it was.
#[allow(clippy::result_unit_err)]
pub fn normalise_allowfrom(list: &[String]) -> Result<Vec<String>, ()> {
    if list.len() > ALLOWFROM_ENTRIES_MAX {
        return Err(());
    }
    list.iter().map(|entry| normalise_cidr(entry)).collect()
}

fn normalise_cidr(entry: &str) -> Result<String, ()> {
    let (addr, prefix) = entry.trim().split_once('/').ok_or(())?;
    let addr = match addr.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').ok_or(())?,
        None => addr,
    };
    let addr: IpAddr = addr.parse().map_err(|_| ())?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    // Digits only: u8's parser would also take "+24".
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    let prefix: u8 = prefix.parse().map_err(|_| ())?;
    if prefix > bits {
        return Err(());
    }
    Ok(format!("{addr}/{prefix}"))
}

/// True when `allowfrom` is empty or one of its (normalised) CIDRs contains `ip`
/// (an IPv4-mapped IPv6 `ip` counts as IPv4). An entry that does not parse admits
/// nobody.
pub fn allowed_from(allowfrom: &[String], ip: IpAddr) -> bool {
    allowfrom.is_empty()
        || allowfrom
            .iter()
            .any(|cidr| Net::parse(cidr).is_ok_and(|net| net.contains(ip)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn uuids_are_version_4_lower_hex() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let uuid = random_uuid().unwrap();
            assert!(valid_username(&uuid), "{uuid}");
            assert_eq!(uuid, uuid.to_ascii_lowercase());
            let bytes = uuid.as_bytes();
            assert_eq!(bytes[14], b'4', "version nibble: {uuid}");
            assert!(
                matches!(bytes[19], b'8' | b'9' | b'a' | b'b'),
                "variant: {uuid}"
            );
            assert!(seen.insert(uuid));
        }
    }

    #[test]
    fn keys_are_40_base64url_characters() {
        let mut seen = std::collections::HashSet::new();
        let mut used = std::collections::HashSet::new();
        for _ in 0..100 {
            let key = random_key().unwrap();
            assert_eq!(key.len(), 40);
            assert!(valid_key(&key), "{key}");
            used.extend(key.bytes());
            assert!(seen.insert(key));
        }
        // 4000 draws from 64 symbols: missing one by chance is ~64 * e^-62.
        assert_eq!(used.len(), 64, "every symbol of the alphabet turns up");
    }

    #[test]
    fn hash_and_verify_round_trip() {
        let key = random_key().unwrap();
        let hash = hash_key(&key).unwrap();
        assert!(hash.starts_with("$2a$10$"), "{hash}");
        assert_eq!(hash.len(), 60);
        assert_ne!(hash_key(&key).unwrap(), hash, "a fresh salt each time");
        assert!(verify_key(&key, Some(&hash)));
        let mut wrong = key.clone().into_bytes();
        wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
        let wrong = String::from_utf8(wrong).unwrap();
        assert!(!verify_key(&wrong, Some(&hash)));
        assert!(!verify_key(&key, None));
        assert!(!verify_key(&key, Some("not a bcrypt hash")));
        assert!(!verify_key(&key, Some("")));
    }

    #[test]
    fn dummy_hash_is_a_valid_hash_of_the_current_cost() {
        let parts: bcrypt::HashParts = DUMMY_HASH.parse().unwrap();
        assert_eq!(
            parts.get_cost(),
            BCRYPT_COST,
            "regenerate DUMMY_HASH with hash_key"
        );
        assert!(bcrypt::verify("lanseal-dummy-key", DUMMY_HASH).unwrap());
    }

    /// The dummy compare for an unknown user is a real bcrypt of the same cost,
    /// so it takes about as long as a real verify. A missing dummy compare takes
    /// microseconds against tens of milliseconds, so the bound can be loose (a
    /// quarter) and each side's fastest of three runs, taken in turn, keeps a
    /// busy machine from deciding the outcome.
    /// `cargo test --release --lib creds::tests::bcrypt_timing -- --nocapture`
    #[test]
    fn bcrypt_timing() {
        let key = random_key().unwrap();
        let hash = hash_key(&key).unwrap();
        let (mut known, mut unknown) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            let start = Instant::now();
            assert!(verify_key(&key, Some(&hash)));
            known = known.min(start.elapsed());
            let start = Instant::now();
            assert!(!verify_key(&key, None));
            unknown = unknown.min(start.elapsed());
        }
        println!("bcrypt cost {BCRYPT_COST}: verify {known:?}, unknown user {unknown:?}");
        assert!(
            unknown * 4 >= known,
            "an unknown user costs {unknown:?}, a real verify {known:?}: the dummy compare is missing"
        );
    }

    #[test]
    fn usernames() {
        let table = [
            ("c36f50e8-4632-44f0-83fe-e070fef28a10", true),
            ("C36F50E8-4632-44F0-83FE-E070FEF28A10", true),
            ("00000000-0000-0000-0000-000000000000", true),
            ("c36f50e8-4632-14f0-03fe-e070fef28a10", true), // any version or variant
            ("c36f50e84632-44f0-83fe-e070fef28a10-", false),
            ("c36f50e8-4632-44f0-83fe-e070fef28a1", false),
            ("c36f50e8-4632-44f0-83fe-e070fef28a100", false),
            ("c36f50e8-4632-44f0-83fe-e070fef28a1g", false),
            ("c36f50e846324f083fee070fef28a10a", false),
            ("{c36f50e8-4632-44f0-83fe-e070fef28a10}", false),
            ("", false),
            ("admin", false),
        ];
        for (input, expected) in table {
            assert_eq!(valid_username(input), expected, "{input:?}");
        }
    }

    #[test]
    fn keys() {
        let table = [
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-", true),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_", true),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ab", true),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa#", false),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false), // 39
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false), // 41
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=", false),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa é", false),
            ("", false),
        ];
        for (input, expected) in table {
            assert_eq!(valid_key(input), expected, "{input:?}");
        }
    }

    #[test]
    fn subdomains() {
        let table = [
            ("foo-example-com", true),
            ("a", true),
            ("c36f50e8-4632-44f0-83fe-e070fef28a10", true),
            ("ABC123", true),
            (&*"a".repeat(63), true),
            (&*"a".repeat(64), false),
            ("foo.example.com", false),
            ("-foo", false),
            ("foo-", false),
            ("foo_bar", false),
            ("foo bar", false),
            ("", false),
        ];
        for (input, expected) in table {
            assert_eq!(valid_subdomain(input), expected, "{input:?}");
        }
    }

    #[test]
    fn txt_values() {
        let good = "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo";
        assert_eq!(good.len(), 43);
        let table = [
            (good, true),
            (&*"-".repeat(43), true),
            (&*"_".repeat(43), true),
            ("idk m8 bbl lmao", false),
            (&good[..42], false),
            (&*format!("{good}a"), false),
            ("1234567890", false),
            (&*format!("{}=", &good[..42]), false),
            (&*format!("{}+", &good[..42]), false),
            ("", false),
        ];
        for (input, expected) in table {
            assert_eq!(valid_txt(input), expected, "{input:?}");
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn allowfrom_normalised() {
        let table: &[(&[&str], &[&str])] = &[
            (&[], &[]),
            (&["[::1]/64"], &["::1/64"]),
            (
                &["192.0.2.0/24", "2001:db8::/32"],
                &["192.0.2.0/24", "2001:db8::/32"],
            ),
            (&["1.2.3.4/24"], &["1.2.3.4/24"]), // host bits kept
            (&[" 10.0.0.0/8 "], &["10.0.0.0/8"]),
            (&["2001:DB8:0::1/128"], &["2001:db8::1/128"]),
            (&["0.0.0.0/0", "::/0"], &["0.0.0.0/0", "::/0"]),
            (&["1.2.3.4/32"], &["1.2.3.4/32"]),
        ];
        for (input, expected) in table {
            assert_eq!(
                normalise_allowfrom(&strings(input)),
                Ok(strings(expected)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn allowfrom_bad_cidrs() {
        let bad = [
            "invalid",
            "1.2.3.4/33",
            "1.2/24",
            "1.2.3.4",
            "12345:db8:a0b:12f0::1/32",
            "1234::123::123::1/32",
            "::1/129",
            "::1",
            "[::1]",
            "[::1/64",
            "[1.2.3.4]x/24",
            "1.2.3.4/",
            "1.2.3.4/+24",
            "1.2.3.4/-1",
            "1.2.3.4/24/24",
            "1.2.3.4/0024",
            "fe80::1%eth0/64",
            "",
        ];
        for entry in bad {
            assert_eq!(
                normalise_allowfrom(&strings(&[entry])),
                Err(()),
                "{entry:?}"
            );
            let mixed = strings(&["192.0.2.0/24", entry]);
            assert_eq!(
                normalise_allowfrom(&mixed),
                Err(()),
                "one bad entry: {entry:?}"
            );
        }
        let too_many = vec!["10.0.0.0/8".to_string(); ALLOWFROM_ENTRIES_MAX + 1];
        assert_eq!(normalise_allowfrom(&too_many), Err(()));
        let most = vec!["10.0.0.0/8".to_string(); ALLOWFROM_ENTRIES_MAX];
        assert!(normalise_allowfrom(&most).is_ok());
    }

    #[test]
    fn allowfrom_matching() {
        let list = normalise_allowfrom(&strings(&["192.0.2.7/24", "[2001:db8::1]/32"])).unwrap();
        let table = [
            ("192.0.2.1", true),
            ("192.0.2.255", true),
            ("::ffff:192.0.2.9", true), // IPv4-mapped counts as IPv4
            ("192.0.3.1", false),
            ("10.0.0.1", false),
            ("2001:db8:ffff::1", true),
            ("2001:db9::1", false),
            ("::1", false),
        ];
        for (ip, expected) in table {
            assert_eq!(allowed_from(&list, ip.parse().unwrap()), expected, "{ip}");
        }
        assert!(
            allowed_from(&[], "203.0.113.1".parse().unwrap()),
            "empty admits all"
        );
        assert!(allowed_from(&[], "::1".parse().unwrap()));
        let loopback = strings(&["::1/64"]);
        assert!(allowed_from(&loopback, "::1".parse().unwrap()));
        assert!(!allowed_from(&loopback, "127.0.0.1".parse().unwrap()));
        assert!(!allowed_from(
            &strings(&["garbage"]),
            "127.0.0.1".parse().unwrap()
        ));
    }
}
