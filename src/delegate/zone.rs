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

use std::sync::Arc;

use crate::dns::dynamic::{DynamicZone, Record, TemplateRecord};
use crate::dns::wire::TYPE_MX;

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

/// The delegate zone's per-account records: a [`DynamicZone`] whose owners are the
/// registered subdomains, with the anti-spam records as its template.
#[derive(Debug)]
pub struct DelegateRecords {
    dynamic: Arc<DynamicZone>,
}

impl DelegateRecords {
    /// `apex`: the zone name as lower-case wire format.
    pub fn new(apex: Box<[u8]>) -> Self {
        Self {
            dynamic: Arc::new(DynamicZone::new(apex, template())),
        }
    }

    /// The table the DNS threads answer from.
    pub fn dynamic(&self) -> &Arc<DynamicZone> {
        &self.dynamic
    }

    /// Sets a subdomain's values (registering it when new); newest first, at most
    /// `TXT_VALUES_MAX` kept, each at most `TXT_VALUE_BYTES_MAX` bytes.
    pub fn set(&self, subdomain: &str, values: &[String]) {
        let records = values
            .iter()
            .take(TXT_VALUES_MAX)
            .filter(|v| v.len() <= TXT_VALUE_BYTES_MAX)
            .map(|v| Record::txt(TXT_TTL_SECS, v.as_bytes()))
            .collect();
        self.dynamic.set(subdomain, records);
    }

    pub fn len(&self) -> usize {
        self.dynamic.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What every account name gets besides its TXT values (seed 000): a null MX at
/// `<subdomain>`, `_dmarc.<subdomain>` reject and an empty `*._domainkey` key.
fn template() -> Vec<TemplateRecord> {
    vec![
        TemplateRecord {
            relative: Box::default(),
            record: Record {
                rtype: TYPE_MX,
                ttl: ANTI_SPAM_TTL_SECS,
                rdata: Box::new([0, 0, 0]),
            },
        },
        TemplateRecord {
            relative: b"\x06_dmarc".to_vec().into(),
            record: Record::txt(ANTI_SPAM_TTL_SECS, DMARC_REJECT.as_bytes()),
        },
        TemplateRecord {
            relative: b"\x01*\x0a_domainkey".to_vec().into(),
            record: Record::txt(ANTI_SPAM_TTL_SECS, DKIM_EMPTY.as_bytes()),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::dynamic::Found;
    use crate::dns::wire::TYPE_TXT;

    #[test]
    fn names_of_accounts() {
        let apex = b"\x04auth\x07example\x00";
        let records = DelegateRecords::new(apex.to_vec().into());
        records.set("5EB4-x", &["a".repeat(43), "b".repeat(43), "c".repeat(43)]);
        let name = |prefix: &[u8]| [prefix, &apex[..]].concat();
        let count = |name: &[u8], qtype: u16| {
            let mut values = Vec::new();
            let found = records.dynamic().lookup(name, qtype, |_, ttl, rdata| {
                values.push((ttl, rdata.to_vec()))
            });
            (found, values)
        };
        let (found, values) = count(&name(b"\x065eb4-x"), TYPE_TXT);
        assert_eq!(found, Found::Name { wrote: 2 }, "the two newest values");
        assert_eq!(values[0].0, TXT_TTL_SECS);
        assert_eq!(values[0].1[1..], *"a".repeat(43).as_bytes());
        assert_eq!(
            count(&name(b"\x065eb4-x"), TYPE_MX).0,
            Found::Name { wrote: 1 }
        );
        let dmarc = count(&name(b"\x06_dmarc\x065eb4-x"), TYPE_TXT);
        assert_eq!(dmarc.1[0].1[1..], *DMARC_REJECT.as_bytes());
        let dkim = count(&name(b"\x02s1\x0a_domainkey\x065eb4-x"), TYPE_TXT);
        assert_eq!(dkim.1[0].1[1..], *DKIM_EMPTY.as_bytes());
        assert_eq!(count(&name(b"\x05other"), TYPE_TXT).0, Found::Nothing);
        assert_eq!(count(apex, TYPE_TXT).0, Found::Nothing);
        assert_eq!(records.len(), 1);
    }
}
