//! The delegate zone's per-account records, answered from memory.
//!
//! Owns what changes while the delegate runs: for every registered subdomain, its
//! TXT values (the two newest, TTL 1 so validators never see a stale token) and
//! the anti-spam records each name gets (null MX, `_dmarc` reject, empty
//! `*._domainkey`). The static zone data (SOA, NS, name-server addresses, apex
//! anti-spam) is an ordinary local zone built from the config. The store is the
//! truth; this table is refreshed from it at start and after every committed
//! update, so the DNS path never waits on SQLite, only on a read lock held for a
//! copy of at most two 43-byte values.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// TTL of the challenge TXT records: validators must see a new token at once.
pub const TXT_TTL_SECS: u32 = 1;
/// TTL of the per-account anti-spam records.
pub const ANTI_SPAM_TTL_SECS: u32 = 3600;
/// TXT values kept per subdomain (an apex and a wildcard validate together).
pub const TXT_VALUES_MAX: usize = 2;
/// Longest TXT value stored (acme-dns values are exactly 43 bytes).
const TXT_VALUE_BYTES_MAX: usize = 255;

/// `_dmarc`: reject everything, strict alignment.
pub const DMARC_REJECT: &str = "v=DMARC1;p=reject;sp=reject;adkim=s;aspf=s";
/// `*._domainkey`: an empty key, i.e. no valid signature exists.
pub const DKIM_EMPTY: &str = "v=DKIM1; p=";
/// The apex's SPF: no host may send mail for these names.
pub const SPF_NONE: &str = "v=spf1 -all";

/// One subdomain's TXT values, newest first.
type Values = Vec<Box<[u8]>>;

/// The delegate zone's apex and every account's records.
#[derive(Debug)]
pub struct DelegateRecords {
    /// The zone apex, lower-case wire format.
    apex: Box<[u8]>,
    /// Subdomain label (lower-case) → its TXT values.
    subdomains: RwLock<HashMap<Box<[u8]>, Values>>,
}

/// What a name one or two labels below the apex is, for the answer path.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A registered subdomain: its TXT values (newest first) and null MX.
    Subdomain(Vec<Box<[u8]>>),
    /// `_dmarc.<subdomain>`.
    Dmarc,
    /// `<selector>._domainkey.<subdomain>`.
    Dkim,
    /// Not a name of any account.
    Unknown,
}

impl DelegateRecords {
    /// `apex`: the zone name as lower-case wire format.
    pub fn new(apex: Box<[u8]>) -> Self {
        Self {
            apex,
            subdomains: RwLock::new(HashMap::new()),
        }
    }

    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// Sets a subdomain's values (registering it when new); newest first, at most
    /// `TXT_VALUES_MAX` kept.
    pub fn set(&self, subdomain: &str, values: &[String]) {
        let key: Box<[u8]> = subdomain.to_ascii_lowercase().into_bytes().into();
        let values = values
            .iter()
            .take(TXT_VALUES_MAX)
            .filter(|v| v.len() <= TXT_VALUE_BYTES_MAX)
            .map(|v| Box::<[u8]>::from(v.as_bytes()))
            .collect();
        self.subdomains
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, values);
    }

    pub fn len(&self) -> usize {
        self.subdomains
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What `name` (lower-case wire, inside the zone) is.
    pub fn lookup(&self, name: &[u8]) -> Lookup {
        let Some(relative) = name.strip_suffix(&*self.apex) else {
            return Lookup::Unknown;
        };
        let labels = labels(relative);
        let (kind, subdomain) = match labels.as_slice() {
            [subdomain] => (None, *subdomain),
            [b"_dmarc", subdomain] => (Some(Lookup::Dmarc), *subdomain),
            [_, b"_domainkey", subdomain] => (Some(Lookup::Dkim), *subdomain),
            _ => return Lookup::Unknown,
        };
        let table = self
            .subdomains
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match (table.get(subdomain), kind) {
            (None, _) => Lookup::Unknown,
            (Some(values), None) => Lookup::Subdomain(values.clone()),
            (Some(_), Some(kind)) => kind,
        }
    }
}

/// The labels of a relative wire name (no root), left to right.
fn labels(mut relative: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(3);
    while let Some((&len, rest)) = relative.split_first() {
        let len = usize::from(len);
        let Some(label) = rest.get(..len) else {
            return Vec::new();
        };
        out.push(label);
        relative = &rest[len..];
        if out.len() > 3 {
            return Vec::new();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    #[test]
    fn names_of_accounts() {
        let records = DelegateRecords::new(b"\x04auth\x07example\x00".to_vec().into());
        records.set("5EB4-x", &["a".repeat(43), "b".repeat(43), "c".repeat(43)]);
        let apex = b"\x04auth\x07example\x00";
        let name = |prefix: &[u8]| [prefix, &apex[..]].concat();
        match records.lookup(&name(b"\x065eb4-x")) {
            Lookup::Subdomain(values) => assert_eq!(values.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            records.lookup(&name(b"\x06_dmarc\x065eb4-x")),
            Lookup::Dmarc
        );
        assert_eq!(
            records.lookup(&name(b"\x02s1\x0a_domainkey\x065eb4-x")),
            Lookup::Dkim
        );
        assert_eq!(records.lookup(&name(b"\x05other")), Lookup::Unknown);
        assert_eq!(records.lookup(&name(b"\x01x\x065eb4-x")), Lookup::Unknown);
        assert_eq!(records.lookup(apex), Lookup::Unknown);
        assert_eq!(records.lookup(b"\x03foo\x00"), Lookup::Unknown);
        assert_eq!(records.len(), 1);
    }
}
