//! Blocklists: names the LAN must not resolve (ads, trackers, malware), read from
//! local files, each list in its own compact set (`set`), with allow entries.
//!
//! Owns the lists' life: [`Blocklists::load`] reads every list's files (the
//! formats are `format`'s, detected per line; junk lines are skipped and counted,
//! never fatal) into a new value beside the one serving, reusing a list whose
//! section and files did not change; the caller swaps it in whole. A file that
//! cannot be read keeps that list's previous version (at start there is none: the
//! list loads what it can). [`Blocklists::check`] is the answer path's question:
//! a blocked name blocks itself and every name below it; the query name and each
//! of its parents cost one hash probe per list, and the most specific entry of any
//! list wins, an allow entry over a block entry of the same name (so `allow =
//! ["good.ads.example"]` inside a blocked `ads.example` works, whichever list
//! holds which). [`Blocklists::check_cname`] asks the same of a CNAME target in
//! an upstream answer (`dns::answer::cloaked`), for the lists with
//! `cname_inspection` on; an allow entry of any list still wins there.
//! Counters per list: names loaded, lines skipped, queries blocked, of them by
//! a CNAME target (one slot per DNS thread for the blocked count: no
//! read-modify-write on the answer path).
//!
//! Never fetches anything: getting lists from the internet is the owner's cron or
//! hotplug script (README). Invariant: a [`Blocklists`] is immutable once built.

mod format;
mod packed;
mod set;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

pub use format::{Line, Skip, parse_line};
pub use set::{Kind, LABELS_MAX, NameSet};

/// Lists at most (each costs a probe per label of every forwarded name).
pub const BLOCKLISTS_MAX: usize = 16;
/// Files per list at most (`files` and `allow_files` each).
pub const BLOCKLIST_FILES_MAX: usize = 16;
/// Names one list holds by default: 20 to 26 MB at a million names (of 17 to 25
/// characters), what a 64 MB router can spare.
pub const BLOCKLIST_NAMES_DEFAULT: usize = 1_000_000;
/// The highest `names_max` accepted (the arena's `u32` offsets reach 4 GiB).
pub const BLOCKLIST_NAMES_LIMIT: usize = 50_000_000;
/// A longer line is junk (a real entry is at most 255 bytes of name and an
/// address); it is skipped without being kept in memory.
const LINE_BYTES_MAX: usize = 4096;
/// Bytes of a typical list line, to size a list's table from its files: a
/// domain line of a short name (`ads.example.net`); hosts lines are longer, so
/// the guess is high, never far too low.
const LINE_BYTES_TYPICAL: u64 = 16;
/// Skipped lines named in the load's log line (the rest are counted).
const SKIP_EXAMPLES_MAX: usize = 3;
/// TTL of blocked answers, and of their SOA (and so of the client's negative
/// cache, RFC 2308): short, so an entry removed or allowed reaches the clients
/// within a minute; long enough that a page asking for a tracker again and again
/// is answered from its own cache.
pub const BLOCK_TTL_SECS: u32 = 60;
/// Threads counting blocked queries each in a slot of their own (plain load and
/// store); threads beyond share the last slot, counted with an atomic add.
const COUNTER_SLOTS: usize = 16;

/// What a blocked name is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockAnswer {
    /// NXDOMAIN with a small SOA (the default).
    Nxdomain,
    /// NOERROR without records, with the SOA.
    Nodata,
    /// 0.0.0.0 for A, :: for AAAA, NODATA for other types (dnsmasq's
    /// `address=/name/#`).
    Null,
}

impl BlockAnswer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nxdomain => "nxdomain",
            Self::Nodata => "nodata",
            Self::Null => "null",
        }
    }
}

/// One `[[blocklist]]` as the config resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlocklistSpec {
    /// Names the list in logs, stats and metrics (`list="name"`).
    pub name: String,
    pub files: Vec<PathBuf>,
    /// Allowed names from the config (lower-case wire).
    pub allow: Vec<Vec<u8>>,
    pub allow_files: Vec<PathBuf>,
    pub answer: BlockAnswer,
    /// Entries the list takes at most; more are counted and left out.
    pub names_max: usize,
    /// Upstream answers whose CNAME chain reaches a name of this list are
    /// blocked too (`dns::answer::cloaked`).
    pub cname_inspection: bool,
}

impl BlocklistSpec {
    /// Every file the list reads: block files, then allow files.
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.files.iter().chain(&self.allow_files)
    }
}

/// An entry as the config writes it (`name`, `name.` or `*.name`) as lower-case
/// wire: the rules of a list file's domain line.
pub fn entry_wire(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let text = text.strip_prefix("*.").unwrap_or(text);
    let mut wire = [0u8; crate::dns::wire::NAME_BYTES_MAX];
    let length = format::to_wire(text.as_bytes(), &mut wire)?;
    Some(wire[..length].to_vec())
}

/// A file as last seen: when it changes, the list is read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    bytes: u64,
    modified_seconds: i64,
    modified_nanoseconds: i64,
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Self {
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            bytes: metadata.len(),
            modified_seconds: metadata.mtime(),
            modified_nanoseconds: metadata.mtime_nsec(),
        }
    }

    /// The file at `path` now; `None` when it cannot be seen.
    fn now(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Self::of(&m))
    }
}

/// What one load of a list found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Block entries held.
    pub names: usize,
    /// Allow entries held (config and files).
    pub allowed: usize,
    /// Lines that were not usable (junk, unsupported options or addresses).
    pub skipped: usize,
    /// Entries beyond `names_max`, left out.
    pub over_limit: usize,
    /// Entries already in the list.
    pub duplicates: usize,
    /// Bytes of the set (arena and table).
    pub heap_bytes: usize,
    pub load_milliseconds: u64,
    /// When it was read (unix seconds).
    pub loaded_unix: u64,
}

/// The per-list counters that outlive reloads (by the list's name).
#[derive(Debug, Default)]
pub struct ListCounters {
    blocked: [Slot; COUNTER_SLOTS],
    /// Loads that kept the previous version because a file could not be read.
    pub load_failures: AtomicUsize,
    /// Times the list was read (start, file changes, SIGHUP with changes).
    pub loads: AtomicUsize,
    /// Entries left out past `names_max`, summed over every load (the bound's
    /// hits in `lanseal_limit_hits_total`).
    pub over_limit: AtomicUsize,
    /// Of the blocked queries, those whose upstream answer had a CNAME chain
    /// into the list (rare: an atomic add).
    pub cname_blocked: AtomicUsize,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicUsize);

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's counter slot, taken when it first blocks a query.
    static THREAD_SLOT: usize = NEXT_SLOT.fetch_add(1, Relaxed).min(COUNTER_SLOTS - 1);
}

impl ListCounters {
    fn count_blocked(&self) {
        let slot = THREAD_SLOT.with(|slot| *slot);
        let counter = &self.blocked[slot].0;
        if slot == COUNTER_SLOTS - 1 {
            counter.fetch_add(1, Relaxed);
        } else {
            // This thread is the slot's only writer.
            counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
        }
    }

    /// Queries answered as blocked, all threads.
    pub fn blocked(&self) -> usize {
        self.blocked
            .iter()
            .fold(0usize, |sum, slot| sum.wrapping_add(slot.0.load(Relaxed)))
    }
}

/// One list: its section, its set and how it was loaded.
#[derive(Debug)]
pub struct List {
    pub spec: BlocklistSpec,
    set: NameSet,
    pub stats: LoadStats,
    /// Each of `spec.paths()` as last looked at (`None`: it could not be seen),
    /// so an unreadable file is tried again only once it changes.
    seen: Mutex<Vec<Option<Stamp>>>,
    pub counters: Arc<ListCounters>,
}

impl List {
    /// True when a file differs from the last look at it (one `stat` each).
    fn changed(&self) -> bool {
        let now: Vec<Option<Stamp>> = self.spec.paths().map(|p| Stamp::now(p)).collect();
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) != now
    }
}

/// What a blocklist says about a name: the list, the answer, and where in the
/// name the entry that matched begins (the owner of the SOA).
#[derive(Debug, Clone, Copy)]
pub struct Blocked<'l> {
    pub list: &'l List,
    pub answer: BlockAnswer,
    /// Offset of the matched entry in the name checked (0: the name itself).
    pub entry_start: usize,
}

/// What the lists say about one name.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'l> {
    /// No list has the name or a parent.
    Unlisted,
    /// The most specific entry is an allow entry.
    Allowed,
    Blocked(Blocked<'l>),
}

/// Every list, as served now.
#[derive(Debug, Default)]
pub struct Blocklists {
    lists: Vec<Arc<List>>,
    /// Some list has `cname_inspection` on.
    inspects_cnames: bool,
}

impl Blocklists {
    fn of(lists: Vec<Arc<List>>) -> Blocklists {
        let inspects_cnames = lists.iter().any(|l| l.spec.cname_inspection);
        Blocklists {
            lists,
            inspects_cnames,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// True when upstream answers' CNAME targets are to be checked: some list
    /// has `cname_inspection` on.
    pub fn inspects_cnames(&self) -> bool {
        self.inspects_cnames
    }

    pub fn lists(&self) -> &[Arc<List>] {
        &self.lists
    }

    /// Reads `specs`' lists; a list of `old` with the same section whose files
    /// did not change is kept as it is, and a list whose file cannot be read
    /// keeps its `old` version. Logs each list read.
    pub fn load(specs: &[BlocklistSpec], old: &Blocklists) -> Blocklists {
        let lists = specs
            .iter()
            .map(|spec| {
                let previous = old.lists.iter().find(|l| l.spec.name == spec.name);
                match previous {
                    Some(list) if list.spec == *spec && !list.changed() => list.clone(),
                    _ => read_list(spec, previous),
                }
            })
            .collect();
        Blocklists::of(lists)
    }

    /// For the watcher: `Some` new value when a file of some list changed since it
    /// was last looked at, `None` when nothing changed (nothing is read then).
    pub fn refresh(&self) -> Option<Blocklists> {
        let changed: Vec<bool> = self.lists.iter().map(|l| l.changed()).collect();
        if !changed.contains(&true) {
            return None;
        }
        let lists = self
            .lists
            .iter()
            .zip(changed)
            .map(|(list, changed)| match changed {
                false => list.clone(),
                true => read_list(&list.spec, Some(list)),
            })
            .collect();
        Some(Blocklists::of(lists))
    }

    /// Whether `name` (lower-case wire) is blocked, counted in the list's
    /// counter when it is. One probe per label per list; no allocation.
    pub fn check(&self, name: &[u8]) -> Option<Blocked<'_>> {
        match self.verdict(name) {
            Verdict::Blocked(blocked) => Some(blocked),
            Verdict::Unlisted | Verdict::Allowed => None,
        }
    }

    /// What the lists say about `name` (lower-case wire); a block is counted in
    /// the list's counter. One probe per label per list; no allocation.
    pub fn verdict(&self, name: &[u8]) -> Verdict<'_> {
        let verdict = self.find(name, false);
        if let Verdict::Blocked(blocked) = verdict {
            blocked.list.counters.count_blocked();
        }
        verdict
    }

    /// True when the most specific entry for `name` is an allow entry. Counts
    /// nothing.
    pub fn is_allowed(&self, name: &[u8]) -> bool {
        matches!(self.find(name, false), Verdict::Allowed)
    }

    /// Whether `target`, a CNAME target in an upstream answer, is blocked by a
    /// list with `cname_inspection` on (an allow entry of any list wins, as for
    /// a question); counted as a blocked query of that list, and as one blocked
    /// by a CNAME.
    pub fn check_cname(&self, target: &[u8]) -> Option<Blocked<'_>> {
        match self.find(target, true) {
            Verdict::Blocked(blocked) => {
                let counters = &blocked.list.counters;
                counters.count_blocked();
                counters.cname_blocked.fetch_add(1, Relaxed);
                Some(blocked)
            }
            Verdict::Unlisted | Verdict::Allowed => None,
        }
    }

    /// The most specific entry for `name` in any list, an allow entry over a
    /// block entry of the same name; with `cname`, block entries of lists
    /// without `cname_inspection` are passed over. Counts nothing.
    fn find(&self, name: &[u8], cname: bool) -> Verdict<'_> {
        if self.lists.is_empty() {
            return Verdict::Unlisted;
        }
        let mut starts = [0u8; LABELS_MAX];
        let mut hashes = [0u64; LABELS_MAX];
        let Some(labels) = set::suffix_hashes(name, &mut starts, &mut hashes) else {
            return Verdict::Unlisted;
        };
        for (&start, &hash) in starts[..labels].iter().zip(&hashes[..labels]) {
            let start = usize::from(start);
            let Some(suffix) = name.get(start..) else {
                return Verdict::Unlisted;
            };
            let mut blocking = None;
            for list in &self.lists {
                match list.set.get(suffix, hash) {
                    Some(Kind::Allow) => return Verdict::Allowed,
                    Some(Kind::Block)
                        if blocking.is_none() && (!cname || list.spec.cname_inspection) =>
                    {
                        blocking = Some(list)
                    }
                    _ => {}
                }
            }
            if let Some(list) = blocking {
                return Verdict::Blocked(Blocked {
                    list,
                    answer: list.spec.answer,
                    entry_start: start,
                });
            }
        }
        Verdict::Unlisted
    }
}

/// Reads one list. When a file cannot be read and `previous` exists, the
/// previous version is kept (and the failure counted); otherwise the list holds
/// what could be read.
fn read_list(spec: &BlocklistSpec, previous: Option<&Arc<List>>) -> Arc<List> {
    let counters = previous.map_or_else(Arc::default, |p| p.counters.clone());
    let started = Instant::now();
    let mut reader = ListReader::new(spec);
    for wire in &spec.allow {
        reader.insert(wire, Kind::Allow);
    }
    let mut loaded = Vec::new();
    let mut failed = None;
    for (path, kind) in spec
        .files
        .iter()
        .map(|p| (p, Kind::Block))
        .chain(spec.allow_files.iter().map(|p| (p, Kind::Allow)))
    {
        match reader.read_file(path, kind) {
            Ok(stamp) => loaded.push(Some(stamp)),
            Err(e) => {
                log::warn!("blocklist `{}`: {}: {e}", spec.name, path.display());
                failed.get_or_insert_with(|| path.clone());
                loaded.push(None);
            }
        }
    }
    counters.loads.fetch_add(1, Relaxed);
    if let (Some(path), Some(previous)) = (&failed, previous) {
        counters.load_failures.fetch_add(1, Relaxed);
        log::warn!(
            "blocklist `{}`: {} cannot be read; the previous list ({} names) stays",
            spec.name,
            path.display(),
            previous.stats.names
        );
        // Tried again once the files change.
        let seen: Vec<Option<Stamp>> = spec.paths().map(|p| Stamp::now(p)).collect();
        *previous.seen.lock().unwrap_or_else(PoisonError::into_inner) = seen;
        return previous.clone();
    }
    let list = reader.finish(started, loaded, counters);
    list.counters
        .over_limit
        .fetch_add(list.stats.over_limit, Relaxed);
    log_loaded(&list, failed.is_some());
    Arc::new(list)
}

fn log_loaded(list: &List, partial: bool) {
    let stats = &list.stats;
    let mut message = format!(
        "blocklist `{}`: {} names, {} allowed, from {} file(s) in {} ms ({} bytes, {:.1} per name)",
        list.spec.name,
        stats.names,
        stats.allowed,
        list.spec.files.len() + list.spec.allow_files.len(),
        stats.load_milliseconds,
        stats.heap_bytes,
        stats.heap_bytes as f64 / (stats.names + stats.allowed).max(1) as f64,
    );
    if stats.duplicates > 0 {
        message.push_str(&format!(", {} duplicates", stats.duplicates));
    }
    if partial {
        message.push_str(", some files unreadable");
    }
    log::info!("{message}");
    if stats.over_limit > 0 {
        log::warn!(
            "blocklist `{}`: {} names over names_max ({}) left out",
            list.spec.name,
            stats.over_limit,
            list.spec.names_max
        );
    }
}

/// One list being read.
struct ListReader<'s> {
    spec: &'s BlocklistSpec,
    builder: set::Builder,
    stats: LoadStats,
    /// The first skipped lines, as `file:line: why`.
    examples: Vec<String>,
}

impl<'s> ListReader<'s> {
    fn new(spec: &'s BlocklistSpec) -> Self {
        // Sized from the files, so a big list is not rehashed at every doubling
        // (each rehash walks the whole arena); the final table is cut to the
        // count anyway, and a list with many comments only starts too big.
        let bytes: u64 = spec
            .paths()
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|metadata| metadata.len())
            .sum();
        let guess = usize::try_from(bytes / LINE_BYTES_TYPICAL).unwrap_or(usize::MAX);
        Self {
            spec,
            builder: set::Builder::with_capacity(guess.min(spec.names_max) + spec.allow.len()),
            stats: LoadStats::default(),
            examples: Vec::new(),
        }
    }

    fn insert(&mut self, wire: &[u8], kind: Kind) {
        if self.builder.len() >= self.spec.names_max {
            self.stats.over_limit += 1;
            return;
        }
        match self.builder.insert(wire, kind) {
            set::Inserted::New if kind == Kind::Allow => self.stats.allowed += 1,
            set::Inserted::New => self.stats.names += 1,
            set::Inserted::Allowed => {
                self.stats.names -= 1;
                self.stats.allowed += 1;
            }
            set::Inserted::Duplicate => self.stats.duplicates += 1,
            set::Inserted::Full => self.stats.over_limit += 1,
            set::Inserted::Invalid => self.stats.skipped += 1,
        }
    }

    /// Every line of `path`; the file's stamp as it was opened.
    fn read_file(&mut self, path: &Path, kind: Kind) -> std::io::Result<Stamp> {
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        if metadata.is_dir() {
            return Err(std::io::Error::other("is a directory, not a list file"));
        }
        let stamp = Stamp::of(&metadata);
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut number = 0usize;
        for_each_line(&mut reader, |line, too_long| {
            number += 1;
            let outcome = if too_long {
                Line::Skipped(Skip::Syntax)
            } else {
                parse_line(line, kind, &mut |wire, kind| self.insert(wire, kind))
            };
            if let Line::Skipped(why) = outcome {
                self.stats.skipped += 1;
                if self.examples.len() < SKIP_EXAMPLES_MAX {
                    let why = if too_long {
                        "a line too long"
                    } else {
                        why.describe()
                    };
                    self.examples
                        .push(format!("{}:{number}: {why}", path.display()));
                }
            }
        })?;
        Ok(stamp)
    }

    fn finish(
        self,
        started: Instant,
        loaded: Vec<Option<Stamp>>,
        counters: Arc<ListCounters>,
    ) -> List {
        let mut stats = self.stats;
        if stats.skipped > 0 {
            log::info!(
                "blocklist `{}`: {} line(s) skipped, e.g. {}",
                self.spec.name,
                stats.skipped,
                self.examples.join("; ")
            );
        }
        let set = self.builder.finish();
        stats.heap_bytes = set.heap_bytes();
        stats.load_milliseconds = started.elapsed().as_millis() as u64;
        stats.loaded_unix = crate::clock::unix_seconds();
        List {
            spec: self.spec.clone(),
            set,
            stats,
            seen: Mutex::new(loaded),
            counters,
        }
    }
}

/// Calls `each` with every line of `reader` (without its `\n`), and whether it
/// was longer than [`LINE_BYTES_MAX`] (then it is empty: a long line is never
/// held in memory).
fn for_each_line(
    reader: &mut impl BufRead,
    mut each: impl FnMut(&[u8], bool),
) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(256);
    let mut too_long = false;
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buffer.is_empty() {
            if !line.is_empty() || too_long {
                each(&line, too_long);
            }
            return Ok(());
        }
        let newline = buffer.iter().position(|&b| b == b'\n');
        let chunk = &buffer[..newline.unwrap_or(buffer.len())];
        if !too_long {
            if line.len() + chunk.len() > LINE_BYTES_MAX {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(newline.is_some());
        reader.consume(used);
        if newline.is_some() {
            each(&line, too_long);
            line.clear();
            too_long = false;
        }
    }
}

#[cfg(test)]
mod tests;
