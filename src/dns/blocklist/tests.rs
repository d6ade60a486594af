#![allow(clippy::unwrap_used)]
use std::sync::atomic::AtomicU32;

use super::*;

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Relaxed);
    let dir = std::env::temp_dir().join(format!("lanseal-blocklist-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn wire(text: &str) -> Vec<u8> {
    let mut out = [0u8; crate::dns::wire::NAME_BYTES_MAX];
    let length = format::to_wire(text.as_bytes(), &mut out).unwrap();
    out[..length].to_vec()
}

fn spec(name: &str, files: Vec<PathBuf>) -> BlocklistSpec {
    BlocklistSpec {
        name: name.into(),
        files,
        allow: Vec::new(),
        allow_files: Vec::new(),
        answer: BlockAnswer::Nxdomain,
        names_max: BLOCKLIST_NAMES_DEFAULT,
        cname_inspection: true,
    }
}

/// The lists of `files` (each one list, its text), loaded.
fn lists(dir: &TempDir, texts: &[&str]) -> (Blocklists, Vec<BlocklistSpec>) {
    let specs: Vec<BlocklistSpec> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = dir.0.join(format!("list{i}"));
            std::fs::write(&path, text).unwrap();
            spec(&format!("list{i}"), vec![path])
        })
        .collect();
    (Blocklists::load(&specs, &Blocklists::default()), specs)
}

/// The name of the list blocking `name`, and the matched entry.
fn blocked_by(lists: &Blocklists, name: &str) -> Option<(String, String)> {
    let name = wire(name);
    lists.check(&name).map(|b| {
        let entry = crate::dns::wire::name_to_string(&name[b.entry_start..]);
        (b.list.spec.name.clone(), entry)
    })
}

fn blocked(lists: &Blocklists, name: &str) -> bool {
    blocked_by(lists, name).is_some()
}

#[test]
fn a_name_blocks_itself_and_below_not_above_or_beside() {
    let dir = temp_dir();
    let (lists, _) = lists(&dir, &["0.0.0.0 ads.example.com\n"]);
    assert!(blocked(&lists, "ads.example.com"));
    assert_eq!(
        blocked_by(&lists, "a.b.ads.example.com"),
        Some(("list0".into(), "ads.example.com.".into()))
    );
    assert!(!blocked(&lists, "example.com"));
    assert!(!blocked(&lists, "com"));
    assert!(!blocked(&lists, "xads.example.com"));
    assert!(!blocked(&lists, "ads.example.org"));
}

#[test]
fn the_most_specific_entry_wins() {
    let dir = temp_dir();
    let (lists, _) = lists(
        &dir,
        &["ads.example\n@@||good.ads.example^\nbad.good.ads.example\n"],
    );
    assert!(blocked(&lists, "x.ads.example"));
    assert!(!blocked(&lists, "good.ads.example"));
    assert!(!blocked(&lists, "www.good.ads.example"));
    assert_eq!(
        blocked_by(&lists, "a.bad.good.ads.example"),
        Some(("list0".into(), "bad.good.ads.example.".into()))
    );
}

#[test]
fn an_allow_entry_of_one_list_exempts_from_every_list() {
    let dir = temp_dir();
    let (mut lists, _) = lists(&dir, &["ads.example\n", "tracker.example\n"]);
    let allow_path = dir.0.join("allow");
    std::fs::write(&allow_path, "good.ads.example\n").unwrap();
    let mut specs: Vec<BlocklistSpec> = lists.lists.iter().map(|l| l.spec.clone()).collect();
    specs[1].allow = vec![wire("ok.tracker.example")];
    specs[1].allow_files = vec![allow_path];
    lists = Blocklists::load(&specs, &lists);
    assert!(!blocked(&lists, "good.ads.example"));
    assert!(!blocked(&lists, "ok.tracker.example"));
    assert_eq!(
        blocked_by(&lists, "bad.ads.example").unwrap().0,
        "list0",
        "the list that blocks is the one counted"
    );
    assert_eq!(blocked_by(&lists, "x.tracker.example").unwrap().0, "list1");
    assert_eq!(lists.lists[1].stats.allowed, 2);
    assert_eq!(lists.lists[1].stats.names, 1);
}

#[test]
fn the_most_specific_entry_of_any_list_is_the_one_counted() {
    let dir = temp_dir();
    let (lists, _) = lists(&dir, &["b.example\n", "a.b.example\n"]);
    assert_eq!(blocked_by(&lists, "a.b.example").unwrap().0, "list1");
    assert_eq!(blocked_by(&lists, "b.example").unwrap().0, "list0");
    assert_eq!(lists.lists[1].counters.blocked(), 1);
    assert_eq!(lists.lists[0].counters.blocked(), 1);
}

#[test]
fn entries_are_case_insensitive_and_line_ends_do_not_matter() {
    let dir = temp_dir();
    let (lists, _) = lists(
        &dir,
        &["0.0.0.0 Ads.EXAMPLE.com\r\n||Tracker.Example^\r\nlast.example"],
    );
    assert!(blocked(&lists, "ads.example.com"));
    assert!(blocked(&lists, "x.tracker.example"));
    assert!(blocked(&lists, "last.example"), "a last line without \\n");
    assert_eq!(lists.lists[0].stats.names, 3);
}

#[test]
fn junk_lines_are_skipped_and_counted() {
    let dir = temp_dir();
    let long = "a".repeat(LINE_BYTES_MAX + 10);
    let text = format!(
        "# hosts\n127.0.0.1 localhost\nok.example\nbad..name\n{long}\n\
         ||x.example^$third-party\n192.168.1.1 nas.example\nexample.com##.ad\nok.example\n"
    );
    let (lists, _) = lists(&dir, &[&text]);
    let stats = &lists.lists[0].stats;
    assert_eq!(stats.names, 1);
    assert_eq!(stats.skipped, 5);
    assert_eq!(stats.duplicates, 1);
    assert!(blocked(&lists, "ok.example"));
    assert!(!blocked(&lists, "x.example"));
    assert!(!blocked(&lists, "nas.example"));
    assert!(!blocked(&lists, "localhost"));
}

#[test]
fn names_max_bounds_a_list_and_counts_the_rest() {
    let dir = temp_dir();
    let path = dir.0.join("big");
    std::fs::write(&path, "a.test\nb.test\nc.test\n").unwrap();
    let mut limited = spec("big", vec![path]);
    limited.names_max = 2;
    let lists = Blocklists::load(&[limited], &Blocklists::default());
    assert_eq!(lists.lists[0].stats.names, 2);
    assert_eq!(lists.lists[0].stats.over_limit, 1);
    assert!(!blocked(&lists, "c.test"));
}

#[test]
fn unchanged_lists_are_kept_and_changed_ones_read_again() {
    let dir = temp_dir();
    let (first, specs) = lists(&dir, &["a.test\n", "b.test\n"]);
    assert!(first.refresh().is_none(), "nothing changed");
    let again = Blocklists::load(&specs, &first);
    assert!(Arc::ptr_eq(&again.lists[0], &first.lists[0]));
    // A new file written beside and renamed over, as a fetch script does.
    let new = dir.0.join("new");
    std::fs::write(&new, "c.test\n").unwrap();
    std::fs::rename(&new, &specs[1].files[0]).unwrap();
    let refreshed = first.refresh().unwrap();
    assert!(Arc::ptr_eq(&refreshed.lists[0], &first.lists[0]));
    assert!(blocked(&refreshed, "c.test"));
    assert!(!blocked(&refreshed, "b.test"));
    // The counters carry over to the new version.
    assert!(Arc::ptr_eq(
        &refreshed.lists[1].counters,
        &first.lists[1].counters
    ));
    // A changed section is read again even if its files did not change.
    let mut changed = specs.clone();
    changed[0].answer = BlockAnswer::Null;
    let reloaded = Blocklists::load(&changed, &refreshed);
    assert!(!Arc::ptr_eq(&reloaded.lists[0], &refreshed.lists[0]));
    assert_eq!(reloaded.lists[0].spec.answer, BlockAnswer::Null);
}

#[test]
fn an_unreadable_file_keeps_the_previous_list() {
    let dir = temp_dir();
    let (first, specs) = lists(&dir, &["a.test\n"]);
    std::fs::remove_file(&specs[0].files[0]).unwrap();
    let refreshed = first.refresh().unwrap();
    assert!(blocked(&refreshed, "a.test"), "the old list still serves");
    assert_eq!(refreshed.lists[0].counters.load_failures.load(Relaxed), 1);
    assert!(
        refreshed.refresh().is_none(),
        "not retried until it changes"
    );
    std::fs::write(&specs[0].files[0], "b.test\n").unwrap();
    let back = refreshed.refresh().unwrap();
    assert!(blocked(&back, "b.test"));
    assert!(!blocked(&back, "a.test"));
}

#[test]
fn a_missing_file_at_start_gives_what_the_others_have() {
    let dir = temp_dir();
    let present = dir.0.join("present");
    std::fs::write(&present, "a.test\n").unwrap();
    let absent = dir.0.join("absent");
    let lists = Blocklists::load(
        &[spec("l", vec![absent.clone(), present])],
        &Blocklists::default(),
    );
    assert!(blocked(&lists, "a.test"));
    std::fs::write(&absent, "b.test\n").unwrap();
    let refreshed = lists.refresh().unwrap();
    assert!(blocked(&refreshed, "b.test") && blocked(&refreshed, "a.test"));
}

#[test]
fn lines_are_read_whole_across_buffer_ends() {
    let text = "one.test\ntwo.test\r\nthree";
    let mut reader = BufReader::with_capacity(3, text.as_bytes());
    let mut lines = Vec::new();
    for_each_line(&mut reader, |line, too_long| {
        lines.push((String::from_utf8(line.to_vec()).unwrap(), too_long));
    })
    .unwrap();
    let expected = [("one.test", false), ("two.test\r", false), ("three", false)];
    let expected: Vec<(String, bool)> = expected.iter().map(|(l, t)| (l.to_string(), *t)).collect();
    assert_eq!(lines, expected);
}

/// A CNAME target is checked against the lists with `cname_inspection` on
/// only; an allow entry of any list still wins; both counters count.
#[test]
fn cname_targets_only_for_inspecting_lists() {
    let dir = temp_dir();
    let vendors = dir.0.join("vendors");
    let cdn = dir.0.join("cdn");
    std::fs::write(&vendors, "vendor.example\n").unwrap();
    std::fs::write(&cdn, "cdn.example\nedge.vendor.example\n").unwrap();
    let mut quiet = spec("cdn", vec![cdn]);
    quiet.cname_inspection = false;
    quiet.allow = vec![wire("ok.vendor.example")];
    let specs = [spec("vendors", vec![vendors]), quiet];
    let lists = Blocklists::load(&specs, &Blocklists::default());
    assert!(lists.inspects_cnames());
    let by = |name: &str| {
        lists
            .check_cname(&wire(name))
            .map(|b| b.list.spec.name.clone())
    };
    assert_eq!(by("x.vendor.example").as_deref(), Some("vendors"));
    // The non-inspecting list's more specific entry is passed over; the
    // inspecting list's parent entry blocks.
    assert_eq!(by("a.edge.vendor.example").as_deref(), Some("vendors"));
    assert_eq!(by("a.cdn.example"), None, "cdn does not inspect");
    assert_eq!(by("ok.vendor.example"), None, "allowed, by any list");
    assert_eq!(by("example"), None);
    assert!(lists.is_allowed(&wire("www.ok.vendor.example")));
    assert!(!lists.is_allowed(&wire("x.vendor.example")));
    // A question still sees every list.
    assert!(blocked(&lists, "a.cdn.example"));
    let counters = |i: usize| {
        let list = &lists.lists()[i];
        (
            list.counters.blocked(),
            list.counters.cname_blocked.load(Relaxed),
        )
    };
    assert_eq!(counters(0), (2, 2));
    assert_eq!(counters(1), (1, 0));
    let none = Blocklists::load(&specs[1..], &Blocklists::default());
    assert!(!none.inspects_cnames());
}
