//! Records that change while lanseal runs, fed by a role and answered from memory.
//!
//! A [`DynamicZone`] holds, under one zone apex, a set of *owners*: names one label
//! below the apex, each with records of its own (the delegate's accounts and their
//! challenge TXT values). Every owner also gets the zone's *template*: records at
//! fixed names relative to the owner (the delegate's null MX, `_dmarc` and
//! `*._domainkey` anti-spam records), stored once for all owners. The static part
//! of the zone (SOA, NS, apex records) is an ordinary local zone; the answer path
//! asks this table for names that zone does not define.
//!
//! The roles write (one `set` per committed change); the DNS threads read under a
//! read lock held only to copy the records of one name into the response, with no
//! allocation. Nothing here knows which role feeds it: `dns` does not depend on
//! the roles.
//!
//! The zone's SOA serial lives here too (the value the role's store keeps): the
//! answer path writes it into the static SOA, zone transfers (`dns::xfr`) read
//! it, and a change wakes the NOTIFY task. A role's change is a
//! [`DynamicZone::commit`]: the records and the new serial at once, with the
//! difference kept in a journal of the last `JOURNAL_ENTRIES_MAX` changes
//! (what IXFR sends; older serials get the whole zone).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

/// Changes the journal keeps for IXFR; older serials get the whole zone.
pub const JOURNAL_ENTRIES_MAX: usize = 1000;

/// Longest record data kept for an owner (a TXT string of 255 bytes plus its length).
const RDATA_BYTES_MAX: usize = 256;

/// One record: type, TTL and wire data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Box<[u8]>,
}

impl Record {
    /// A TXT record holding one character-string (cut at 255 bytes).
    pub fn txt(ttl: u32, text: &[u8]) -> Self {
        let len = text.len().min(255);
        let mut rdata = Vec::with_capacity(len + 1);
        rdata.push(len as u8);
        rdata.extend_from_slice(&text[..len]);
        Self {
            rtype: crate::dns::wire::TYPE_TXT,
            ttl,
            rdata: rdata.into(),
        }
    }
}

/// A template record: at `relative` (lower-case wire labels without the root,
/// empty for the owner itself; a leading `*` label matches one or more labels,
/// RFC 4592) below every owner.
#[derive(Debug, Clone)]
pub struct TemplateRecord {
    pub relative: Box<[u8]>,
    pub record: Record,
}

/// What the table knows of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Not a name of any owner: the static zone decides (NXDOMAIN).
    Nothing,
    /// The name exists; `wrote` records of the asked type were emitted (0: NODATA).
    Name { wrote: usize },
}

/// A record at a full owner name (lower-case wire).
pub type Named = (Box<[u8]>, Record);

/// One committed change, from serial `from` to `to`: the records it removed
/// and added, by full name (the template's included for a new owner).
#[derive(Debug, Default)]
pub struct Delta {
    pub from: u32,
    pub to: u32,
    pub removed: Vec<Named>,
    pub added: Vec<Named>,
}

/// The last `JOURNAL_ENTRIES_MAX` changes, oldest first. Its lock orders every
/// change with the serial it gets, and a transfer's copy of the table with
/// the serial it is sent under.
#[derive(Debug, Default)]
struct Journal {
    /// False until the first serial is set: loading the store is no change.
    started: bool,
    entries: VecDeque<Arc<Delta>>,
}

/// An owner label (lower-case, no length byte) and its own records.
pub type Owner = (Box<[u8]>, Box<[Record]>);

/// Owner label (lower-case, no length byte) → its own records.
type Owners = HashMap<Box<[u8]>, Box<[Record]>>;

/// Owners and their records under one apex; see the module doc.
#[derive(Debug)]
pub struct DynamicZone {
    /// The zone apex, lower-case wire.
    apex: Box<[u8]>,
    template: Box<[TemplateRecord]>,
    owners: RwLock<Owners>,
    /// The SOA serial (RFC 1982), set by the role after each committed change.
    serial: AtomicU32,
    journal: Mutex<Journal>,
    /// Woken by [`DynamicZone::set_serial`]: the NOTIFY task waits here.
    changed: tokio::sync::Notify,
}

impl DynamicZone {
    /// `apex`: lower-case wire name; `template`: the records every owner gets.
    pub fn new(apex: Box<[u8]>, template: Vec<TemplateRecord>) -> Self {
        Self {
            apex,
            template: template.into(),
            owners: RwLock::new(HashMap::new()),
            serial: AtomicU32::new(1),
            journal: Mutex::new(Journal::default()),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The zone's SOA serial.
    pub fn serial(&self) -> u32 {
        self.serial.load(Ordering::Acquire)
    }

    /// Publishes a committed change's serial and wakes whoever waits in
    /// [`DynamicZone::changed`] (several changes before it runs wake it once).
    pub fn set_serial(&self, serial: u32) {
        self.publish(self.journal(), None, serial);
    }

    /// Ends a commit under `journal`: `delta` (if any) into the bounded
    /// journal, `serial` published, the waiter woken.
    fn publish(&self, mut journal: MutexGuard<'_, Journal>, delta: Option<Delta>, serial: u32) {
        if let Some(delta) = delta {
            journal.entries.push_back(Arc::new(delta));
            while journal.entries.len() > JOURNAL_ENTRIES_MAX {
                journal.entries.pop_front();
            }
        }
        journal.started = true;
        self.serial.store(serial, Ordering::Release);
        drop(journal);
        self.changed.notify_one();
    }

    /// A committed change: `label`'s records become `records` and the zone's
    /// serial `serial`, at once for a transfer, and the change is journaled.
    pub fn commit(&self, label: &str, records: Vec<Record>, serial: u32) {
        let journal = self.journal();
        let (key, records) = Self::owner(label, records);
        let old = self.write().insert(key.clone(), records.clone());
        let from = self.serial.load(Ordering::Acquire);
        let delta = (journal.started && from != serial).then(|| {
            let mut delta = Delta {
                from,
                to: serial,
                ..Delta::default()
            };
            self.diff(&mut delta, &key, old.as_deref(), &records);
            delta
        });
        self.publish(journal, delta, serial);
    }

    /// One committed change of several owners (a delegate node catching up
    /// with a store other nodes share): every label's records become its
    /// `records` and the zone's serial `serial`, as one journal entry. Owners
    /// whose records are unchanged add nothing to it.
    #[cfg(feature = "postgres")]
    pub fn commit_many(&self, changes: Vec<(String, Vec<Record>)>, serial: u32) {
        let journal = self.journal();
        let from = self.serial.load(Ordering::Acquire);
        let mut delta = Delta {
            from,
            to: serial,
            ..Delta::default()
        };
        let mut owners = self.write();
        for (label, records) in changes {
            let (key, records) = Self::owner(&label, records);
            if owners.get(&key) == Some(&records) {
                continue;
            }
            let old = owners.insert(key.clone(), records.clone());
            self.diff(&mut delta, &key, old.as_deref(), &records);
        }
        drop(owners);
        let delta = (journal.started && from != serial).then_some(delta);
        self.publish(journal, delta, serial);
    }

    /// What replacing owner `key`'s `old` records (`None`: a new owner, which
    /// also gets the template) by `records` removes and adds, into `delta`.
    fn diff(&self, delta: &mut Delta, key: &[u8], old: Option<&[Record]>, records: &[Record]) {
        let old_records: &[Record] = old.unwrap_or_default();
        let Some(name) = self.owner_name(key) else {
            return;
        };
        for record in old_records.iter().filter(|r| !records.contains(r)) {
            delta.removed.push((name.clone(), record.clone()));
        }
        for record in records.iter().filter(|r| !old_records.contains(r)) {
            delta.added.push((name.clone(), record.clone()));
        }
        if old.is_none() {
            for (full, record) in self.template_at(&name) {
                delta.added.push((full, record.clone()));
            }
        }
    }

    /// The changes from `serial` to the current one, oldest first, with the
    /// current serial; `None` when the journal does not reach back to it.
    pub fn changes_since(&self, serial: u32) -> Option<(Vec<Arc<Delta>>, u32)> {
        let journal = self.journal();
        let current = self.serial.load(Ordering::Acquire);
        let start = journal.entries.iter().position(|d| d.from == serial)?;
        let chain: Vec<Arc<Delta>> = journal.entries.iter().skip(start).cloned().collect();
        let linked = chain.windows(2).all(|w| w[0].to == w[1].from);
        (linked && chain.last().is_some_and(|d| d.to == current)).then_some((chain, current))
    }

    /// The full wire name of an owner label; `None` when too long.
    pub fn owner_name(&self, label: &[u8]) -> Option<Box<[u8]>> {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))?;
        let full = [&[len][..], label, &self.apex].concat();
        (full.len() <= crate::dns::wire::NAME_BYTES_MAX).then(|| full.into())
    }

    /// The template's records below `owner` (a full wire name), by full name.
    pub fn template_at<'t>(
        &'t self,
        owner: &[u8],
    ) -> impl Iterator<Item = (Box<[u8]>, &'t Record)> {
        let owner = owner.to_vec();
        self.template.iter().filter_map(move |entry| {
            let full = [&entry.relative[..], &owner].concat();
            (full.len() <= crate::dns::wire::NAME_BYTES_MAX).then(|| (full.into(), &entry.record))
        })
    }

    fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn owner(label: &str, records: Vec<Record>) -> (Box<[u8]>, Box<[Record]>) {
        let key: Box<[u8]> = label.to_ascii_lowercase().into_bytes().into();
        let records: Box<[Record]> = records
            .into_iter()
            .filter(|r| r.rdata.len() <= RDATA_BYTES_MAX)
            .collect();
        (key, records)
    }

    /// Waits for the next [`DynamicZone::set_serial`] (or one not yet waited for).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// A copy of every owner label and its own records (taken under the read
    /// lock, so writers wait only for the copy): what a zone transfer sends,
    /// with [`DynamicZone::template`] below each.
    /// The serial returned is the one of exactly this copy.
    pub fn snapshot(&self) -> (Vec<Owner>, u32) {
        let journal = self.journal();
        let owners = self
            .read()
            .iter()
            .map(|(label, records)| (label.clone(), records.clone()))
            .collect();
        let serial = self.serial.load(Ordering::Acquire);
        drop(journal);
        (owners, serial)
    }

    /// The records every owner gets.
    pub fn template(&self) -> &[TemplateRecord] {
        &self.template
    }

    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// Makes `label` an owner with exactly `records` (replacing what it had).
    /// Records with data over `RDATA_BYTES_MAX` are left out.
    /// Not journaled: for loading what the store holds, before the first
    /// serial; a change is a [`DynamicZone::commit`].
    pub fn set(&self, label: &str, records: Vec<Record>) {
        let (key, records) = Self::owner(label, records);
        self.write().insert(key, records);
    }

    /// Owners at present.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Emits every record of type `qtype` (all types for ANY) at `name`
    /// (lower-case wire) through `emit(rtype, ttl, rdata)`.
    pub fn lookup(&self, name: &[u8], qtype: u16, mut emit: impl FnMut(u16, u32, &[u8])) -> Found {
        let Some(below) = name.strip_suffix(&*self.apex) else {
            return Found::Nothing;
        };
        // The owner is the last label before the apex; `relative` what is left.
        let Some((relative, label)) = last_label(below) else {
            return Found::Nothing;
        };
        let owners = self.read();
        let Some(own) = owners.get(label) else {
            return Found::Nothing;
        };
        let wanted = |rtype: u16| qtype == rtype || qtype == crate::dns::wire::TYPE_ANY;
        let mut wrote = 0;
        let mut exists = relative.is_empty();
        if relative.is_empty() {
            for record in own.iter().filter(|r| wanted(r.rtype)) {
                emit(record.rtype, record.ttl, &record.rdata);
                wrote += 1;
            }
        }
        for entry in self.template.iter() {
            match matches(&entry.relative, relative) {
                Match::No => {}
                Match::Below => exists = true,
                Match::Yes => {
                    exists = true;
                    if wanted(entry.record.rtype) {
                        let record = &entry.record;
                        emit(record.rtype, record.ttl, &record.rdata);
                        wrote += 1;
                    }
                }
            }
        }
        if exists {
            Found::Name { wrote }
        } else {
            Found::Nothing
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Owners> {
        self.owners.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Owners> {
        self.owners.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Splits a relative wire name (no root) into everything before its last label,
/// and that label's bytes.
fn last_label(relative: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut pos = 0;
    loop {
        let len = usize::from(*relative.get(pos)?);
        let end = pos + 1 + len;
        if len == 0 || end > relative.len() {
            return None;
        }
        if end == relative.len() {
            return Some((&relative[..pos], &relative[pos + 1..]));
        }
        pos = end;
    }
}

enum Match {
    No,
    /// `name` is an empty non-terminal above the pattern.
    Below,
    Yes,
}

/// Does relative `name` match template `pattern`?
fn matches(pattern: &[u8], name: &[u8]) -> Match {
    if pattern == name {
        return Match::Yes;
    }
    if let Some(rest) = pattern.strip_prefix(b"\x01*") {
        // One or more labels, then exactly `rest`.
        if name.len() > rest.len() && name.ends_with(rest) && label_aligned(name, rest.len()) {
            return Match::Yes;
        }
        if name == rest {
            // The wildcard's parent (`_domainkey.<owner>`) exists, empty.
            return Match::Below;
        }
    }
    if pattern.len() > name.len() && pattern.ends_with(name) && label_aligned(pattern, name.len()) {
        return Match::Below;
    }
    Match::No
}

/// True when the last `tail` bytes of `name` start at a label boundary.
fn label_aligned(name: &[u8], tail: usize) -> bool {
    let boundary = name.len() - tail;
    let mut pos = 0;
    while pos < boundary {
        pos += 1 + usize::from(name[pos]);
    }
    pos == boundary
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::wire::{TYPE_ANY, TYPE_MX, TYPE_TXT};

    const APEX: &[u8] = b"\x04auth\x07example\x00";

    fn zone() -> DynamicZone {
        let template = vec![
            TemplateRecord {
                relative: Box::default(),
                record: Record {
                    rtype: TYPE_MX,
                    ttl: 3600,
                    rdata: Box::new([0, 0, 0]),
                },
            },
            TemplateRecord {
                relative: b"\x06_dmarc".to_vec().into(),
                record: Record::txt(3600, b"v=DMARC1;p=reject"),
            },
            TemplateRecord {
                relative: b"\x01*\x0a_domainkey".to_vec().into(),
                record: Record::txt(3600, b"v=DKIM1; p="),
            },
        ];
        DynamicZone::new(APEX.into(), template)
    }

    fn name(prefix: &[u8]) -> Vec<u8> {
        [prefix, APEX].concat()
    }

    fn ask(zone: &DynamicZone, name: &[u8], qtype: u16) -> (Found, Vec<(u16, Vec<u8>)>) {
        let mut seen = Vec::new();
        let found = zone.lookup(name, qtype, |rtype, _, rdata| {
            seen.push((rtype, rdata.to_vec()))
        });
        (found, seen)
    }

    #[test]
    fn owners_and_templates() {
        let z = zone();
        z.set(
            "5EB4-x",
            vec![Record::txt(1, b"first"), Record::txt(1, b"second")],
        );
        let (found, seen) = ask(&z, &name(b"\x065eb4-x"), TYPE_TXT);
        assert_eq!(found, Found::Name { wrote: 2 });
        assert_eq!(seen[0], (TYPE_TXT, b"\x05first".to_vec()));
        let (found, _) = ask(&z, &name(b"\x065eb4-x"), TYPE_MX);
        assert_eq!(found, Found::Name { wrote: 1 });
        assert_eq!(
            ask(&z, &name(b"\x065eb4-x"), TYPE_ANY).0,
            Found::Name { wrote: 3 }
        );
        assert_eq!(ask(&z, &name(b"\x065eb4-x"), 1).0, Found::Name { wrote: 0 });
        let dmarc = name(b"\x06_dmarc\x065eb4-x");
        assert_eq!(ask(&z, &dmarc, TYPE_TXT).0, Found::Name { wrote: 1 });
        let dkim = name(b"\x02s1\x0a_domainkey\x065eb4-x");
        assert_eq!(ask(&z, &dkim, TYPE_TXT).0, Found::Name { wrote: 1 });
        let deep = name(b"\x01a\x02s1\x0a_domainkey\x065eb4-x");
        assert_eq!(ask(&z, &deep, TYPE_TXT).0, Found::Name { wrote: 1 });
        // `_domainkey.<owner>` exists (the wildcard's parent), empty.
        let parent = name(b"\x0a_domainkey\x065eb4-x");
        assert_eq!(ask(&z, &parent, TYPE_TXT).0, Found::Name { wrote: 0 });
        assert_eq!(ask(&z, &name(b"\x05other"), TYPE_TXT).0, Found::Nothing);
        assert_eq!(
            ask(&z, &name(b"\x01x\x065eb4-x"), TYPE_TXT).0,
            Found::Nothing
        );
        assert_eq!(ask(&z, APEX, TYPE_TXT).0, Found::Nothing);
        assert_eq!(ask(&z, b"\x03foo\x00", TYPE_TXT).0, Found::Nothing);
        assert_eq!(z.len(), 1);
        // Replacing keeps one owner.
        z.set("5eb4-x", vec![Record::txt(1, b"third")]);
        assert_eq!(
            ask(&z, &name(b"\x065eb4-x"), TYPE_TXT).0,
            Found::Name { wrote: 1 }
        );
        assert_eq!(z.len(), 1);
    }

    /// Commits are journaled by serial: the chain from any journaled serial,
    /// nothing from a serial the journal does not reach, the bound kept.
    #[test]
    fn journal_of_commits() {
        let z = zone();
        z.set("loaded", vec![Record::txt(1, b"old")]);
        z.set_serial(10);
        assert!(z.changes_since(10).is_none(), "loading is no change");
        z.commit("new", vec![], 11);
        z.commit("new", vec![Record::txt(1, b"a")], 12);
        z.commit("new", vec![Record::txt(1, b"b"), Record::txt(1, b"a")], 13);
        let (chain, current) = z.changes_since(11).unwrap();
        assert_eq!(current, 13);
        assert_eq!(chain.len(), 2);
        assert_eq!((chain[0].from, chain[0].to), (11, 12));
        let first = z.changes_since(10).unwrap().0;
        // A new owner: its records and the template's three, at full names.
        assert_eq!(first[0].added.len(), 3);
        assert!(first[0].removed.is_empty());
        assert_eq!(&*first[0].added[1].0, &name(b"\x06_dmarc\x03new")[..]);
        // Only what changed: "a" stays, "b" is added.
        assert!(chain[1].removed.is_empty());
        assert_eq!(
            chain[1].added,
            [(name(b"\x03new").into(), Record::txt(1, b"b"))]
        );
        assert!(z.changes_since(9).is_none());
        assert!(z.changes_since(13).is_none(), "up to date: nothing to send");
        let (snapshot, serial) = z.snapshot();
        assert_eq!((snapshot.len(), serial), (2, 13));
        for serial in 14..=14 + JOURNAL_ENTRIES_MAX as u32 {
            z.commit("new", vec![Record::txt(1, &serial.to_be_bytes())], serial);
        }
        assert!(z.changes_since(13).is_none(), "older than the journal");
        assert!(z.changes_since(14).is_some(), "the oldest kept");
    }

    /// Several owners in one commit (a node catching up): one journal entry
    /// with every owner's change; an unchanged owner adds nothing to it.
    #[cfg(feature = "postgres")]
    #[test]
    fn commit_many_is_one_change() {
        let z = zone();
        z.set("same", vec![Record::txt(1, b"s")]);
        z.set("old", vec![Record::txt(1, b"o")]);
        z.set_serial(10);
        let changes = vec![
            ("same".to_string(), vec![Record::txt(1, b"s")]),
            ("old".to_string(), vec![Record::txt(1, b"p")]),
            ("new".to_string(), vec![]),
        ];
        z.commit_many(changes, 12);
        assert_eq!(z.serial(), 12);
        let (chain, current) = z.changes_since(10).unwrap();
        assert_eq!((chain.len(), current), (1, 12));
        assert_eq!(
            chain[0].removed,
            [(name(b"\x03old").into(), Record::txt(1, b"o"))]
        );
        // "p" at old, and the new owner's three template records.
        assert_eq!(chain[0].added.len(), 4);
        assert!(
            chain[0]
                .added
                .iter()
                .all(|(owner, _)| !owner.ends_with(&name(b"\x04same")))
        );
        let mut served = Vec::new();
        z.lookup(&name(b"\x03old"), TYPE_TXT, |_, _, rdata| {
            served.push(rdata.to_vec())
        });
        assert_eq!(served, [b"\x01p".to_vec()]);
    }

    #[test]
    fn broken_names_are_nothing() {
        let z = zone();
        z.set("a", vec![]);
        for bad in [&b"\x05a"[..], b"\x00", b"\x3fa", b"\x01"] {
            let bad = [bad, APEX].concat();
            assert_eq!(ask(&z, &bad, TYPE_TXT).0, Found::Nothing);
        }
    }
}
