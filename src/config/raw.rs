//! The literal image of the TOML file: what the user wrote, with spans for errors.
//! Unknown keys are rejected here; meaning and defaults are resolved in `super`
//! (the top-level keys) and in each section's file (`dns`, `zone`, `delegate`,
//! `acme`, `api`, `blocklist`).
//! [`sections`] lists each section's keys as serde's derive knows them, so the
//! message for an unknown key can name its section and the nearest valid key.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use toml::Spanned;

/// Every section with its keys, as named in messages ("in [dns]"). The key
/// sets are distinct (a unit test checks it), so the list serde reports for an
/// unknown key tells which section it was found in.
pub fn sections() -> [(&'static str, &'static [&'static str]); 9] {
    [
        ("at the top level", keys::<File>()),
        ("in [dns]", keys::<Dns>()),
        ("in [[zone]]", keys::<Zone>()),
        ("in [zone.mail]", keys::<Mail>()),
        ("in [delegate]", keys::<Delegate>()),
        ("in [acme]", keys::<Acme>()),
        ("in [[cert]]", keys::<Cert>()),
        ("in [api]", keys::<Api>()),
        ("in [[blocklist]]", keys::<Blocklist>()),
    ]
}

/// serde's message for a key no struct field takes (`deny_unknown_fields`):
/// "unknown field `x`, expected one of `a`, `b`, ..." with every valid key. The
/// one place that message is rewritten: it names the key and its section, and
/// suggests the nearest valid key (or the section the key belongs to) instead of
/// listing them all. `None` for any other message.
pub fn unknown_key_message(serde_message: &str) -> Option<String> {
    let rest = serde_message.strip_prefix("unknown field `")?;
    let (key, expected) = rest.split_once("`, expected ")?;
    // "`a`", "`a` or `b`", "one of `a`, `b`, ...": the names sit between backticks.
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let sections = sections();
    // Same keys, compared as sets (no key is listed twice).
    let found = sections
        .iter()
        .find(|(_, keys)| keys.len() == known.len() && known.iter().all(|k| keys.contains(k)));
    let (section, keys) = match found {
        Some((section, keys)) => (*section, keys.to_vec()),
        None => ("here", known),
    };
    let mut message = format!("unknown key `{key}` {section}");
    if let Some(nearest) = nearest(key, &keys) {
        message.push_str(&format!("; did you mean `{nearest}`?"));
    } else if let Some((home, _)) = sections.iter().find(|(_, keys)| keys.contains(&key)) {
        let home = home.replacen("in ", "of ", 1);
        message.push_str(&format!(
            "; `{key}` is a key {home} (a key after a [section] header belongs to that section)"
        ));
    } else {
        message.push_str("; etc/lanseal.toml in the source tree describes every key");
    }
    Some(message)
}

/// The candidate closest to `key` by edit distance, if close enough to be a
/// likely typo: at most a third of the key's length (as rustc suggests names).
pub(super) fn nearest<'k>(key: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let limit = key.chars().count().max(3) / 3;
    candidates
        .iter()
        .map(|candidate| (edit_distance(key, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance: insertions, deletions and substitutions of characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, a_char) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The field names serde's derive generated for `T` (what it accepts under
/// `deny_unknown_fields`), read by asking `T` to deserialize itself from a
/// deserializer that only records the list. Taken from the derive rather than
/// written out, so the list cannot drift from the struct.
fn keys<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut keys: &'static [&'static str] = &[];
    // Always an error: the recorder never yields a value.
    let _ = T::deserialize(KeyRecorder(&mut keys));
    keys
}

/// A deserializer that records the field list of the struct asked for and fails.
struct KeyRecorder<'a>(&'a mut &'static [&'static str]);

/// The recorder's only outcome.
#[derive(Debug)]
struct Recorded;

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field list recorded")
    }
}

impl std::error::Error for Recorded {}

impl serde::de::Error for Recorded {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Recorded
    }
}

impl<'de> Deserializer<'de> for KeyRecorder<'_> {
    type Error = Recorded;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Recorded> {
        Err(Recorded)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Recorded> {
        *self.0 = fields;
        Err(Recorded)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub state_dir: Option<String>,
    pub log_level: Option<Spanned<String>>,
    pub log_file: Option<String>,
    pub user: Option<String>,
    pub dns: Option<Dns>,
    #[serde(default)]
    pub zone: Vec<Zone>,
    pub delegate: Option<Delegate>,
    pub acme: Option<Acme>,
    #[serde(default)]
    pub cert: Vec<Cert>,
    pub api: Option<Api>,
    #[serde(default)]
    pub blocklist: Vec<Blocklist>,
    /// `[store]`: a table of strings whose keys `config::store` checks. Read
    /// as the type `[zone.mail]`'s `dkim` already is, so the section adds no
    /// deserializer code to a build that has only the one backend.
    pub store: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocklist {
    pub name: Spanned<String>,
    pub files: Option<Vec<Spanned<String>>>,
    pub allow: Option<Vec<Spanned<String>>>,
    pub allow_files: Option<Vec<Spanned<String>>>,
    pub answer: Option<Spanned<String>>,
    pub names_max: Option<Spanned<i64>>,
    pub cname_inspection: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    pub listen: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub keys_endpoint: Option<bool>,
    pub metrics_public: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    pub directory: Option<Spanned<String>>,
    pub email: Option<Spanned<String>>,
    pub ca_bundle: Option<String>,
    pub check_resolvers: Option<Vec<Spanned<String>>>,
    pub eab_kid: Option<Spanned<String>>,
    pub eab_hmac_key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cert {
    pub name: Spanned<String>,
    pub domains: Option<Spanned<Vec<Spanned<String>>>>,
    pub challenge: Option<Spanned<String>>,
    pub delegate: Option<Spanned<String>>,
    pub key_type: Option<Spanned<String>>,
    pub dir: Option<String>,
    pub openwrt_acme_links: Option<bool>,
    pub deploy_hook: Option<String>,
    pub renew_before_days: Option<Spanned<i64>>,
    pub profile: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegate {
    pub zone: Spanned<String>,
    pub ns: Option<Spanned<Vec<Spanned<String>>>>,
    pub ns_addresses: Option<Vec<Spanned<String>>>,
    /// Name server → its own addresses (several in-zone name servers).
    pub glue: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    pub soa_email: Option<Spanned<String>>,
    pub api_listen: Option<Spanned<String>>,
    pub api_prefix: Option<Spanned<String>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    pub tls: Option<Spanned<String>>,
    pub api_host: Option<Spanned<String>>,
    pub registration: Option<Spanned<String>>,
    pub admin_token_file: Option<Spanned<String>>,
    pub trusted_proxies: Option<Vec<Spanned<String>>>,
    pub secondaries: Option<Vec<Spanned<String>>>,
    pub tsig_key_file: Option<Spanned<String>>,
    pub tsig_key_name: Option<Spanned<String>>,
    pub tsig_algorithm: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    pub listen: Option<Spanned<Vec<Spanned<String>>>>,
    pub threads: Option<Spanned<Threads>>,
    pub tcp_connections_max: Option<Spanned<i64>>,
    pub tcp_idle_timeout_ms: Option<Spanned<i64>>,
    pub acl: Option<Spanned<Vec<Spanned<String>>>>,
    pub rate_limit_qps: Option<Spanned<i64>>,
    pub leases: Option<Vec<Spanned<String>>>,
    pub hosts: Option<Vec<Spanned<String>>>,
    pub lease_domain: Option<Spanned<String>>,
    pub upstreams: Option<Vec<Spanned<String>>>,
    pub resolv_file: Option<Spanned<String>>,
    pub routes: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    pub upstream_ca_file: Option<Spanned<String>>,
    pub rebind_protection: Option<bool>,
    pub rebind_allow: Option<Vec<Spanned<String>>>,
    pub bogus_priv: Option<bool>,
    pub domain_needed: Option<bool>,
    pub serve_stale: Option<bool>,
    pub prefetch: Option<bool>,
    pub cache_entries_max: Option<Spanned<i64>>,
    pub cache_bytes_max: Option<Spanned<i64>>,
    pub ttl_min: Option<Spanned<i64>>,
    pub ttl_max: Option<Spanned<i64>>,
    pub zone_records_max: Option<Spanned<i64>>,
    pub tsig_key_file: Option<Spanned<String>>,
    pub tsig_key_name: Option<Spanned<String>>,
    pub tsig_algorithm: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Threads {
    Count(i64),
    Word(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: Spanned<String>,
    pub mode: Option<Spanned<String>>,
    pub ttl: Option<Spanned<i64>>,
    pub ip_names: Option<bool>,
    pub ip_names_private_only: Option<bool>,
    #[serde(default)]
    pub records: Vec<Spanned<String>>,
    /// A master file (RFC 1035 §5) with more records.
    pub file: Option<Spanned<String>>,
    /// `$INCLUDE` allowed in `file`.
    pub include: Option<Spanned<bool>>,
    pub mail: Option<Mail>,
    /// Transferred to these (`IP` or `IP:PORT`), signed with `[dns]`'s key.
    pub secondaries: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    pub mx: Option<Vec<Spanned<String>>>,
    pub spf: Option<Spanned<String>>,
    pub dmarc: Option<Spanned<String>>,
    pub dkim: Option<BTreeMap<String, Spanned<String>>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;
    use crate::config::tests::assert_errors;

    /// An unknown key in the file: its line, its section, and the nearest valid key
    /// or the section it belongs to.
    #[test]
    fn unknown_key_errors_name_line_and_section() {
        assert_errors(&[
            (
                "[dns]\nlisten = [\"127.0.0.1:53\"]\nbogus = 1\n",
                3,
                "unknown key `bogus` in [dns]",
            ),
            ("[acmee]\n", 1, "unknown key `acmee` at the top level"),
            (
                "[dns]\ncache_entry_max = 5\n",
                2,
                "unknown key `cache_entry_max` in [dns]; did you mean `cache_entries_max`?",
            ),
            (
                "[[zone]]\nname = \"a.test\"\nip_name = true\n",
                3,
                "unknown key `ip_name` in [[zone]]; did you mean `ip_names`?",
            ),
            (
                "[[zone]]\nname = \"a.test\"\n[zone.mail]\nspff = \"v=spf1 -all\"\n",
                4,
                "unknown key `spff` in [zone.mail]; did you mean `spf`?",
            ),
            (
                "[delegate]\nzone = \"auth.test\"\nlog_level = \"debug\"\n",
                3,
                "`log_level` is a key at the top level",
            ),
            ("usr = \"nobody\"\n", 1, "did you mean `user`?"),
            (
                "[delegate]\nzone = \"auth.test\"\napi_listen = \"0.0.0.0:44300\"\napi_listen_x = 1\n",
                4,
                "did you mean `api_listen`?",
            ),
        ]);
    }

    #[test]
    fn unknown_key_message_is_short() {
        let e = Config::parse("[dns]\nlisen = 1\n", "t.toml").unwrap_err();
        assert_eq!(
            e.message,
            "unknown key `lisen` in [dns]; did you mean `listen`?"
        );
    }

    #[test]
    fn section_keys_come_from_the_structs_and_are_distinct() {
        let sections = sections();
        for (name, keys) in &sections {
            assert!(!keys.is_empty(), "{name}");
        }
        assert!(sections[0].1.contains(&"log_level"));
        assert!(sections[1].1.contains(&"cache_entries_max"));
        assert!(sections[2].1.contains(&"ip_names_private_only"));
        assert!(sections[3].1.contains(&"dkim"));
        assert!(sections[4].1.contains(&"trusted_proxies"));
        for (i, (a, a_keys)) in sections.iter().enumerate() {
            for (b, b_keys) in &sections[i + 1..] {
                let mut a_sorted = a_keys.to_vec();
                let mut b_sorted = b_keys.to_vec();
                a_sorted.sort_unstable();
                b_sorted.sort_unstable();
                assert_ne!(a_sorted, b_sorted, "{a} and {b} have the same keys");
            }
        }
    }

    #[test]
    fn edit_distances() {
        for (a, b, distance) in [
            ("", "", 0),
            ("listen", "listen", 0),
            ("lisen", "listen", 1),
            ("cache_entry_max", "cache_entries_max", 3),
            ("ttl_max", "ttl_min", 2),
            ("abc", "", 3),
            ("zoné", "zone", 1),
        ] {
            assert_eq!(edit_distance(a, b), distance, "{a} {b}");
            assert_eq!(edit_distance(b, a), distance, "{b} {a}");
        }
    }

    #[test]
    fn unknown_key_messages() {
        let dns = keys::<Dns>();
        let expected: Vec<String> = dns.iter().map(|k| format!("`{k}`")).collect();
        let serde = |key: &str| {
            format!(
                "unknown field `{key}`, expected one of {}",
                expected.join(", ")
            )
        };
        assert_eq!(
            unknown_key_message(&serde("cache_entry_max")).unwrap(),
            "unknown key `cache_entry_max` in [dns]; did you mean `cache_entries_max`?"
        );
        assert_eq!(
            unknown_key_message(&serde("log_level")).unwrap(),
            "unknown key `log_level` in [dns]; `log_level` is a key at the top level \
             (a key after a [section] header belongs to that section)"
        );
        let far = unknown_key_message(&serde("frobnicate")).unwrap();
        assert!(
            far.starts_with("unknown key `frobnicate` in [dns]; "),
            "{far}"
        );
        assert!(!far.contains("listen"), "never the full list: {far}");
        // A list that is no known section's: still the key, the nearest of that list.
        assert_eq!(
            unknown_key_message("unknown field `colour`, expected `color` or `size`").unwrap(),
            "unknown key `colour` here; did you mean `color`?"
        );
        assert_eq!(unknown_key_message("invalid type: integer"), None);
    }
}
