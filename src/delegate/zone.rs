//! The delegate zone's per-account records, answered from memory.
//!
//! Owns what changes while the delegate runs: for every registered subdomain, its
//! TXT values (the two newest, TTL 1 so validators never see a stale token) and
//! the anti-spam records each name gets (null MX, `_dmarc` reject, empty
//! `*._domainkey`). The static zone data (SOA, NS, name-server addresses, apex
//! anti-spam) is an ordinary local zone, whose records [`spec`] writes from the
//! `[delegate]` settings. The store is the
//! truth; this table is refreshed from it at start and after every committed
//! update, so the DNS path never waits on SQLite, only on a read lock held for a
//! copy of at most two 43-byte values. The zone's SOA serial is the store's
//! too, published here after every committed change ([`DelegateRecords::set_serial`]).

use std::sync::Arc;

use crate::config;
use crate::dns::dynamic::{DynamicZone, Record, TemplateRecord};
use crate::dns::wire::TYPE_MX;
use crate::dns::zone::{Mode, ZoneSpec};

/// SOA minimum of the delegate zone: how long resolvers cache a negative answer
/// (a name registered a moment ago must appear soon).
const DELEGATE_NEGATIVE_TTL_SECS: u32 = 60;

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

    /// Sets a subdomain's values as loaded from the store (registering it
    /// when new); newest first, at most `TXT_VALUES_MAX` kept, each at most
    /// `TXT_VALUE_BYTES_MAX` bytes. Not a change: see [`DelegateRecords::commit`].
    pub fn set(&self, subdomain: &str, values: &[String]) {
        self.dynamic.set(subdomain, txt_records(values));
    }

    /// Publishes the store's serial once everything is loaded.
    pub fn set_serial(&self, serial: u32) {
        self.dynamic.set_serial(serial);
    }

    /// A committed change: the subdomain's values and the zone's new serial
    /// (the store's) at once; answers carry it, the change is journaled for
    /// IXFR, and the secondaries are notified.
    pub fn commit(&self, subdomain: &str, values: &[String], serial: u32) {
        self.dynamic.commit(subdomain, txt_records(values), serial);
    }

    /// Several subdomains' values as one committed change at `serial` (a node
    /// catching up with a shared store: `delegate::sync`); unchanged ones add
    /// nothing to the journal.
    #[cfg(feature = "postgres")]
    pub fn commit_many(&self, subdomains: &[(String, Vec<String>)], serial: u32) {
        let changes = subdomains
            .iter()
            .map(|(subdomain, values)| (subdomain.clone(), txt_records(values)))
            .collect();
        self.dynamic.commit_many(changes, serial);
    }

    pub fn len(&self) -> usize {
        self.dynamic.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn txt_records(values: &[String]) -> Vec<Record> {
    values
        .iter()
        .take(TXT_VALUES_MAX)
        .filter(|v| v.len() <= TXT_VALUE_BYTES_MAX)
        .map(|v| Record::txt(TXT_TTL_SECS, v.as_bytes()))
        .collect()
}

/// The delegate's static zone data: SOA and NS at the apex, addresses of the name
/// servers inside the zone, and the anti-spam records getlocalcert publishes (a
/// local-only name must not send mail). Per-account TXT records are not zone data:
/// [`DelegateRecords`] answers them from memory.
pub fn spec(delegate: &config::Delegate) -> ZoneSpec {
    let mut records = vec![format!(
        "@ 3600 SOA {} {} 1 3600 600 86400 {DELEGATE_NEGATIVE_TTL_SECS}",
        delegate.ns[0], delegate.soa_email
    )];
    for ns in &delegate.ns {
        records.push(format!("@ 3600 NS {ns}"));
        for ip in delegate.ns_glue(ns) {
            let rtype = if ip.is_ipv4() { "A" } else { "AAAA" };
            records.push(format!("{ns} 3600 {rtype} {ip}"));
        }
    }
    // getlocalcert's records against mail from local-only names (seed 000), at
    // the apex; [`template`] gives the same for every account's name.
    let ttl = ANTI_SPAM_TTL_SECS;
    records.push(format!("@ {ttl} TXT \"{SPF_NONE}\""));
    records.push(format!("_dmarc {ttl} TXT \"{DMARC_REJECT}\""));
    records.push(format!("*._domainkey {ttl} TXT \"{DKIM_EMPTY}\""));
    records.push(format!("@ {ttl} MX 0 ."));
    ZoneSpec {
        name: delegate.zone.clone(),
        mode: Mode::Authoritative,
        ttl: 3600,
        ip_names: false,
        ip_names_private_only: true,
        records: records.into_iter().map(|r| (r, 0)).collect(),
        file: None,
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
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::dynamic::Found;
    use crate::dns::wire::TYPE_TXT;

    /// Several in-zone name servers each get their own addresses (`glue`),
    /// the others `ns_addresses`; an outside one gets none.
    #[test]
    fn name_servers_and_their_addresses() {
        let config = crate::config::Config::parse(
            "[delegate]\nzone = \"auth.test\"\n\
             ns = [\"ns1.auth.test\", \"ns2.auth.test\", \"ns.other.test\"]\n\
             ns_addresses = [\"192.0.2.1\"]\n\
             glue = { \"ns2.auth.test\" = [\"198.51.100.2\", \"2001:db8::2\"] }\n",
            "t.toml",
        )
        .unwrap();
        let records: Vec<String> = spec(&config.delegate.unwrap())
            .records
            .into_iter()
            .map(|(record, _)| record)
            .filter(|r| r.contains(" NS ") || r.contains(" A ") || r.contains(" AAAA "))
            .collect();
        assert_eq!(
            records,
            [
                "@ 3600 NS ns1.auth.test.",
                "ns1.auth.test. 3600 A 192.0.2.1",
                "@ 3600 NS ns2.auth.test.",
                "ns2.auth.test. 3600 A 198.51.100.2",
                "ns2.auth.test. 3600 AAAA 2001:db8::2",
                "@ 3600 NS ns.other.test.",
            ]
        );
    }

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
