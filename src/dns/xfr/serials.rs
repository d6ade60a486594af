//! [`Serials`]: the serials of transferred router zones whose SOA lanseal
//! synthesizes, rising with their content only and kept in the state dir.

use super::*;

/// The serials lanseal writes into the SOAs it synthesizes for transferred
/// router zones, and the content each stands for.
///
/// A zone's serial rises only when its content does (a digest of its records,
/// the serial left out): to max(previous + 1, the Unix time), so it never goes
/// back, even when the clock does (a router without a battery-backed clock
/// boots in the past until NTP). They are kept in `<state_dir>/zone-serials`
/// (written on change), so a restart keeps them: unchanged content
/// keeps its serial, changed content gets a higher one. Without the file (the
/// first start) a zone starts at the Unix time. A zone whose SOA the config
/// writes keeps that serial: then a change without a new serial is logged,
/// since its secondaries will not transfer it.
#[derive(Debug, Default)]
pub struct Serials {
    /// `None`: kept in memory only (tests, the fuzz fixture).
    path: Option<PathBuf>,
    entries: Vec<Entry>,
    /// During start-up, what is settled goes here, not into `entries` (see
    /// [`Serials::release`]): the zones are built without the runtime records
    /// first, and their content then is not the content served before.
    held: Option<Vec<Entry>>,
}

/// A zone's apex (lower-case wire), content digest and serial.
type Entry = (Box<[u8]>, u64, u32);

/// Sets `apex`'s entry in `book`; true when it changed.
fn upsert(book: &mut Vec<Entry>, apex: &[u8], digest: u64, serial: u32) -> bool {
    match book.iter_mut().find(|(a, _, _)| **a == *apex) {
        Some(entry) if entry.1 == digest && entry.2 == serial => false,
        Some(entry) => {
            (entry.1, entry.2) = (digest, serial);
            true
        }
        None => {
            book.push((apex.into(), digest, serial));
            true
        }
    }
}

impl Serials {
    pub const FILE_NAME: &'static str = "zone-serials";

    /// The serials kept at `path`; none when it is missing or unreadable
    /// (then logged: the zones restart from the Unix time). Held until
    /// [`Serials::release`].
    pub fn load(path: PathBuf) -> Self {
        let mut entries = Vec::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for line in text.lines() {
                    let mut words = line.split_whitespace();
                    let (Some(name), Some(serial), Some(digest)) =
                        (words.next(), words.next(), words.next())
                    else {
                        continue;
                    };
                    let (Ok(apex), Ok(serial), Ok(digest)) = (
                        zone::domain_wire(name),
                        serial.parse(),
                        u64::from_str_radix(digest, 16),
                    ) else {
                        continue;
                    };
                    entries.push((apex.into(), digest, serial));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("{}: {e}", path.display()),
        }
        Self {
            path: Some(path),
            entries,
            held: Some(Vec::new()),
        }
    }

    /// Gives every transferred zone of `zones` whose SOA is synthesized the
    /// serial of its content (see the type's doc), and keeps them.
    pub fn settle(&mut self, zones: &mut Zones, transfers: Option<&ZoneTransfers>) {
        let now = u32::try_from(crate::clock::unix_seconds()).unwrap_or(u32::MAX);
        let mut changed = false;
        for (apex, _) in transfers.iter().flat_map(|t| &t.zones) {
            let Some(zone) = zones.zone_mut(apex) else {
                continue;
            };
            let (digest, Some(current)) = (zone.digest(), zone.serial()) else {
                continue;
            };
            let entry = self.entries.iter().find(|(a, _, _)| a == apex);
            let serial = match (entry, zone.soa_synthesized) {
                (_, false) => {
                    if entry.is_some_and(|e| e.1 != digest && e.2 == current) {
                        log::warn!(
                            "zone {}: changed, but its SOA serial {current} did not: its secondaries will not transfer it",
                            wire::name_to_string(apex)
                        );
                    }
                    current
                }
                (Some((_, old_digest, old)), true) if *old_digest == digest => *old,
                (Some((_, _, old)), true) => old.wrapping_add(1).max(now),
                (None, true) => now,
            };
            if serial != current {
                match Arc::get_mut(zone) {
                    Some(zone) => zone.set_serial(serial),
                    // Shared with the zones served now: not rebuilt, so its
                    // content and serial are those of the book already.
                    None => log::warn!(
                        "zone {}: serial {current} kept (shared)",
                        wire::name_to_string(apex)
                    ),
                }
            }
            let book = match &mut self.held {
                Some(held) => held,
                None => &mut self.entries,
            };
            changed |= upsert(book, apex, digest, serial);
        }
        if changed && self.held.is_none() {
            self.save();
        }
    }

    /// Ends the start-up (the runtime records restored): the serials settled
    /// since [`Serials::load`] are kept from now on.
    pub fn release(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        let mut changed = false;
        for (apex, digest, serial) in held {
            changed |= upsert(&mut self.entries, &apex, digest, serial);
        }
        if changed {
            self.save();
        }
    }

    /// Writes the file anew (a temporary file renamed over it); a failure is
    /// logged, the serials stay right in memory until the next restart.
    fn save(&self) {
        let Some(path) = &self.path else {
            return;
        };
        let mut text = String::new();
        for (apex, digest, serial) in &self.entries {
            text.push_str(&format!(
                "{} {serial} {digest:016x}\n",
                wire::name_to_string(apex)
            ));
        }
        // By rename when the directory allows it (it may be root's, the file
        // lanseal's: then in place).
        let temporary = path.with_extension("new");
        let renamed =
            std::fs::write(&temporary, &text).and_then(|()| std::fs::rename(&temporary, path));
        if let Err(e) = renamed.or_else(|_| std::fs::write(path, &text)) {
            log::warn!("cannot keep the zone serials in {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::xfr::tests::key;

    /// The serial of a transferred zone with a synthesized SOA rises when its
    /// content changes, to max(old + 1, now), and stays when it does not,
    /// across a restart (the file) too; a zone with its own SOA keeps it.
    #[test]
    fn serials_rise_with_content_and_survive_restarts() {
        use crate::dns::zone::{Mode, ZoneSpec};
        let dir = std::env::temp_dir().join(format!("lanseal-serials-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(Serials::FILE_NAME);
        let _ = std::fs::remove_file(&path);
        let spec = |name: &str, records: &[&str]| ZoneSpec {
            name: name.into(),
            mode: Mode::Authoritative,
            ttl: 300,
            ip_names: false,
            ip_names_private_only: true,
            records: records.iter().map(|r| (r.to_string(), 1)).collect(),
            file: None,
        };
        let transfers = ZoneTransfers {
            key: Arc::new(key(b"secret one")),
            zones: ["home.test", "own.test"]
                .iter()
                .map(|n| (zone::domain_wire(n).unwrap().into(), vec![]))
                .collect(),
        };
        // Built with serial 7 as `build` does at a time the clock said 7.
        let built = |records: &[&str]| {
            let specs = [
                spec("home.test", records),
                spec("own.test", &["@ SOA ns hm 42 1 2 3 4", "a A 10.0.0.1"]),
            ];
            Zones::build(&specs, 7, 100).unwrap()
        };
        let serial = |zones: &Zones, name: &str| {
            let apex = zone::domain_wire(name).unwrap();
            let zone = zones.find(&apex).unwrap();
            let negative = zone.negative_soa();
            let copy = negative.rdatas().next().unwrap();
            let from_negative =
                u32::from_be_bytes(copy[copy.len() - 20..][..4].try_into().unwrap());
            assert_eq!(zone.serial(), Some(from_negative), "{name}");
            from_negative
        };
        let now = u32::try_from(crate::clock::unix_seconds()).unwrap();
        let mut serials = Serials::load(path.clone());
        // At start, built without the runtime records first: held, not kept.
        let mut without = built(&[]);
        serials.settle(&mut without, Some(&transfers));
        assert!(!path.exists());
        let mut zones = built(&["a A 10.0.0.1"]);
        serials.settle(&mut zones, Some(&transfers));
        serials.release();
        let first = serial(&zones, "home.test");
        assert!(first >= now, "{first} < {now}");
        assert_eq!(serial(&zones, "own.test"), 42);
        // The same records: the same serial, now and after a restart.
        let mut again = built(&["a A 10.0.0.1"]);
        serials.settle(&mut again, Some(&transfers));
        assert_eq!(serial(&again, "home.test"), first);
        let mut restarted = Serials::load(path.clone());
        restarted.settle(&mut built(&[]), Some(&transfers));
        let mut again = built(&["a A 10.0.0.1"]);
        restarted.settle(&mut again, Some(&transfers));
        restarted.release();
        assert_eq!(serial(&again, "home.test"), first);
        // A change: higher, even with the serial kept far in the future (a
        // clock that went back).
        let mut changed = built(&["a A 10.0.0.2"]);
        restarted.settle(&mut changed, Some(&transfers));
        let second = serial(&changed, "home.test");
        assert!(second > first, "{second} <= {first}");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(&second.to_string(), "4000000000")).unwrap();
        let mut restarted = Serials::load(path.clone());
        restarted.release();
        let mut changed = built(&["a A 10.0.0.3"]);
        restarted.settle(&mut changed, Some(&transfers));
        assert_eq!(serial(&changed, "home.test"), 4_000_000_001);
        // A zone not transferred keeps the build's serial.
        let mut untouched = built(&["a A 10.0.0.1"]);
        restarted.settle(&mut untouched, None);
        assert_eq!(serial(&untouched, "home.test"), 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
