//! Zone master files (RFC 1035 §5): a `[[zone]]`'s `file = "…"`.
//!
//! Owns the master-file syntax around the records: `$ORIGIN`, `$TTL`, `$INCLUDE`
//! (off unless the zone says `include = true`; its path relative to the including
//! file, its optional origin, at most [`INCLUDE_DEPTH_MAX`] files deep),
//! parentheses joining lines, `;` comments outside quotes, a blank owner meaning
//! the previous owner, `@`, and the TTL and class in either order (class IN only).
//! Each entry is turned into the one-line form [`record::parse`] reads, passed
//! with the current `$ORIGIN`, so a record means the same in a file as in the
//! config: the owner as written (`record::parse` completes a relative one, which
//! costs fewer labels to parse than an absolute one), or made absolute when a
//! blank owner follows an `$ORIGIN` change. It streams: one line at a time through a `BufReader`, each
//! record handed to a visitor with its file and line, none kept here (a zone of a
//! million records is read with a few buffers). Every error names the file and
//! the line where its entry began.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dns::name::Name;

use super::ZoneError;
use crate::dns::record::{self, Record};

/// Files deep an `$INCLUDE` chain may go, the zone's own file being depth 1; it
/// also ends a file that includes itself.
pub const INCLUDE_DEPTH_MAX: usize = 8;
/// Longest line, and longest entry once its parenthesized lines are joined: the
/// largest record data (65 535 bytes) written wholly as `\DDD` escapes is
/// 262 140 characters, and there is room for quotes, spaces and the fields.
pub const ENTRY_TEXT_BYTES_MAX: usize = 320 * 1024;
/// The read buffer of each open file: large reads for a large file, small
/// beside the zone it fills.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// A zone's master file as the config names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFile {
    /// As written in the config (a relative path is relative to the working
    /// directory, as `leases` and `hosts` are).
    pub path: PathBuf,
    /// `$INCLUDE` is allowed (`include = true`).
    pub include: bool,
}

/// What was wrong, in which file (an included one, maybe) and at which line (0:
/// the file as a whole, e.g. it cannot be opened).
#[derive(Debug, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl From<FileError> for ZoneError {
    fn from(error: FileError) -> Self {
        ZoneError {
            file: Some(error.file),
            line: error.line,
            message: error.message,
        }
    }
}

/// Reads `file` with `origin` (the zone's) as its first `$ORIGIN`, calling
/// `visit` with each record, the file it is written in and the line its entry
/// began on. An error from `visit` stops the reading and is returned at that
/// file and line. A record without a TTL gets the `$TTL` in force, else none
/// (the zone's `ttl`).
pub fn read<F>(file: &ZoneFile, origin: &Name, mut visit: F) -> Result<(), FileError>
where
    F: FnMut(Record, &Arc<Path>, usize) -> Result<(), String>,
{
    let path: Arc<Path> = Arc::from(file.path.as_path());
    let input = File::open(&path).map_err(|e| FileError {
        file: file.path.clone(),
        line: 0,
        message: format!("cannot read the zone file: {e}"),
    })?;
    let mut reader = Reader::new(file.include, &mut visit);
    let input = BufReader::with_capacity(READ_BUFFER_BYTES, input);
    reader.stream(input, &path, Scope::new(origin), 1)
}

/// The visitor and what carries from one entry to the next, across files.
struct Reader<'v, F> {
    include: bool,
    visit: &'v mut F,
    owner: Owner,
    /// The one-line form of the current record (a reused buffer).
    line_text: String,
}

/// The previous record's owner as written (empty before the first record), and
/// the `$ORIGIN` it was written under.
#[derive(Default)]
struct Owner {
    written: String,
    origin_text: String,
}

impl<'v, F> Reader<'v, F> {
    fn new(include: bool, visit: &'v mut F) -> Self {
        Self {
            include,
            visit,
            owner: Owner::default(),
            line_text: String::new(),
        }
    }
}

/// What a file may change for itself: an included file starts from its
/// includer's (or the `$INCLUDE`'s origin) and hands nothing back (RFC 1035 §5.1).
#[derive(Clone)]
struct Scope {
    origin: Name,
    /// `origin` as text, with its final dot, to complete relative owners.
    origin_text: String,
    /// `$TTL`.
    ttl: Option<u32>,
}

impl Scope {
    fn new(origin: &Name) -> Self {
        Self {
            origin: origin.clone(),
            origin_text: origin_text(origin),
            ttl: None,
        }
    }
}

/// `name` as text with its final dot.
fn origin_text(name: &Name) -> String {
    let mut text = name.to_string();
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

/// One entry: its lines joined without comments and parentheses.
#[derive(Default)]
struct Entry {
    text: String,
    /// The line it began on (its errors name it).
    line: usize,
    /// Parentheses open at the end of the last line.
    depth: usize,
    /// The first line began with a space or tab: the previous record's owner.
    blank_owner: bool,
}

impl<F> Reader<'_, F>
where
    F: FnMut(Record, &Arc<Path>, usize) -> Result<(), String>,
{
    /// Reads every entry of one file; `depth` counts the files open, this one too.
    fn stream(
        &mut self,
        mut input: impl BufRead,
        path: &Arc<Path>,
        mut scope: Scope,
        depth: usize,
    ) -> Result<(), FileError> {
        let error = |line: usize, message: String| FileError {
            file: path.to_path_buf(),
            line,
            message,
        };
        let mut bytes = Vec::new();
        let mut entry = Entry::default();
        let mut number = 0;
        loop {
            bytes.clear();
            let limit = ENTRY_TEXT_BYTES_MAX as u64 + 1;
            let read = (&mut input)
                .take(limit)
                .read_until(b'\n', &mut bytes)
                .map_err(|e| error(number + 1, format!("cannot read the zone file: {e}")))?;
            if read == 0 {
                break;
            }
            number += 1;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            } else if bytes.len() > ENTRY_TEXT_BYTES_MAX {
                let message = format!("a line is longer than {ENTRY_TEXT_BYTES_MAX} bytes");
                return Err(error(number, message));
            }
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            let mut text = std::str::from_utf8(&bytes).map_err(|e| {
                let message = format!(
                    "invalid UTF-8 at byte {} of the line (write other bytes as \\DDD)",
                    e.valid_up_to() + 1
                );
                error(number, message)
            })?;
            if number == 1 {
                text = text.strip_prefix('\u{feff}').unwrap_or(text);
            }
            let complete = append(&mut entry, text, number).map_err(|m| error(number, m))?;
            if complete {
                self.entry(&entry, path, &mut scope, depth)?;
            }
        }
        if entry.depth > 0 {
            let message = "a `(` is not closed by the end of the file".to_string();
            return Err(error(entry.line, message));
        }
        Ok(())
    }

    /// One complete entry: a directive, a record, or nothing (blank, comment).
    fn entry(
        &mut self,
        entry: &Entry,
        path: &Arc<Path>,
        scope: &mut Scope,
        depth: usize,
    ) -> Result<(), FileError> {
        let error = |message: String| FileError {
            file: path.to_path_buf(),
            line: entry.line,
            message,
        };
        let mut rest = entry.text.as_str();
        self.line_text.clear();
        if entry.blank_owner {
            if rest.trim_start().is_empty() {
                return Ok(());
            }
            if self.owner.written.is_empty() {
                return Err(error(
                    "a line that begins with a space or tab continues the previous record's \
                     owner, and there is none yet"
                        .into(),
                ));
            }
            let owner = &self.owner;
            if owner.origin_text == scope.origin_text {
                self.line_text.push_str(&owner.written);
            } else {
                // Written under an earlier $ORIGIN, which completes it.
                absolute_owner(&owner.written, &owner.origin_text, &mut self.line_text);
            }
        } else {
            let Some(first) = next_word(&mut rest) else {
                return Ok(());
            };
            if first.starts_with('$') {
                return self.directive(first, rest, entry, path, scope, depth);
            }
            self.owner.written.clear();
            self.owner.written.push_str(first);
            if self.owner.origin_text != scope.origin_text {
                self.owner.origin_text.clear();
                self.owner.origin_text.push_str(&scope.origin_text);
            }
            self.line_text.push_str(first);
        }
        let ttl = ttl_and_class(&mut rest).map_err(error)?;
        if let Some(ttl) = ttl {
            self.line_text.push(' ');
            self.line_text.push_str(ttl);
        }
        self.line_text.push(' ');
        self.line_text.push_str(rest);
        let mut record = record::parse(&self.line_text, &scope.origin).map_err(error)?;
        record.ttl = record.ttl.or(scope.ttl);
        (self.visit)(record, path, entry.line).map_err(error)
    }

    /// `$ORIGIN`, `$TTL` or `$INCLUDE`, its arguments in `rest`.
    fn directive(
        &mut self,
        name: &str,
        mut rest: &str,
        entry: &Entry,
        path: &Arc<Path>,
        scope: &mut Scope,
        depth: usize,
    ) -> Result<(), FileError> {
        let error = |message: String| FileError {
            file: path.to_path_buf(),
            line: entry.line,
            message,
        };
        let mut argument = |what: &str| {
            next_word(&mut rest).ok_or_else(|| error(format!("{name}: expected {what}")))
        };
        if name.eq_ignore_ascii_case("$ORIGIN") {
            let text = argument("a domain name")?;
            no_more(name, rest).map_err(error)?;
            let origin = record::parse_name(text, &scope.origin).map_err(error)?;
            scope.origin_text = origin_text(&origin);
            scope.origin = origin;
            Ok(())
        } else if name.eq_ignore_ascii_case("$TTL") {
            let text = argument("a TTL (seconds, or e.g. 5m, 1h, 1d)")?;
            no_more(name, rest).map_err(error)?;
            scope.ttl = Some(record::parse_ttl(text).map_err(error)?);
            Ok(())
        } else if name.eq_ignore_ascii_case("$INCLUDE") {
            if !self.include {
                return Err(error(
                    "$INCLUDE is off for this zone; `include = true` in its [[zone]] allows it"
                        .into(),
                ));
            }
            let file = argument("a file name")?;
            let origin = next_word(&mut rest);
            no_more(name, rest).map_err(error)?;
            if depth >= INCLUDE_DEPTH_MAX {
                return Err(error(format!(
                    "$INCLUDE: more than {INCLUDE_DEPTH_MAX} files deep (does a file include itself?)"
                )));
            }
            let mut inner = scope.clone();
            if let Some(origin) = origin {
                inner.origin = record::parse_name(origin, &scope.origin).map_err(error)?;
                inner.origin_text = origin_text(&inner.origin);
            }
            let included = included_path(path, file);
            let input = File::open(&included).map_err(|e| {
                error(format!(
                    "$INCLUDE: cannot read `{}`: {e}",
                    included.display()
                ))
            })?;
            let included: Arc<Path> = Arc::from(included.as_path());
            let input = BufReader::with_capacity(READ_BUFFER_BYTES, input);
            self.stream(input, &included, inner, depth + 1)
        } else {
            Err(error(format!(
                "unknown directive `{name}` (expected $ORIGIN, $TTL or $INCLUDE)"
            )))
        }
    }
}

/// Appends one line, without its comment and parentheses, to `entry` (which
/// starts afresh when the previous one was complete). True when the entry is
/// complete: no parenthesis is left open.
fn append(entry: &mut Entry, line: &str, number: usize) -> Result<bool, String> {
    if entry.depth == 0 {
        entry.text.clear();
        entry.line = number;
        entry.blank_owner = line.starts_with([' ', '\t']);
    } else {
        entry.text.push(' ');
    }
    let bytes = line.as_bytes();
    let mut start = 0;
    let mut end = bytes.len();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // The escaped character is data, whatever it is; `record::parse`
            // decodes the escape.
            b'\\' => {
                i += 2;
                continue;
            }
            b'"' => quoted = !quoted,
            b';' if !quoted => {
                end = i;
                break;
            }
            b'(' | b')' if !quoted => {
                entry.text.push_str(line.get(start..i).unwrap_or_default());
                entry.text.push(' ');
                if bytes[i] == b'(' {
                    entry.depth += 1;
                } else if entry.depth == 0 {
                    return Err("a `)` without a `(` before it".into());
                } else {
                    entry.depth -= 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if quoted {
        return Err("a quoted string is not closed on its line (a `\"` is missing)".into());
    }
    entry
        .text
        .push_str(line.get(start..end).unwrap_or_default());
    if entry.text.len() > ENTRY_TEXT_BYTES_MAX {
        return Err(format!(
            "an entry is longer than {ENTRY_TEXT_BYTES_MAX} bytes (is a `)` missing?)"
        ));
    }
    Ok(entry.depth == 0)
}

/// Takes the optional TTL and class before the type from `rest` (either order,
/// each at most once); returns the TTL's text.
fn ttl_and_class<'a>(rest: &mut &'a str) -> Result<Option<&'a str>, String> {
    let mut ttl = None;
    let mut class = false;
    loop {
        let mut after = *rest;
        let Some(word) = next_word(&mut after) else {
            return Ok(ttl);
        };
        if word.as_bytes()[0].is_ascii_digit() {
            if ttl.is_some() {
                return Err(format!("two TTLs in one record (`{word}`)"));
            }
            ttl = Some(word);
        } else if is_class(word) {
            if !word.eq_ignore_ascii_case("IN") && !word.eq_ignore_ascii_case("CLASS1") {
                return Err(format!(
                    "class `{word}` is not served: lanseal's zones are class IN"
                ));
            }
            if class {
                return Err(format!("two classes in one record (`{word}`)"));
            }
            class = true;
        } else {
            return Ok(ttl);
        }
        *rest = after;
    }
}

/// The class mnemonics of RFC 1035 §3.2.4 and RFC 2136, and `CLASSnnn` (RFC 3597);
/// no record type is spelt like one.
fn is_class(word: &str) -> bool {
    let mnemonic = ["IN", "CH", "CS", "HS", "NONE", "ANY"]
        .iter()
        .any(|class| word.eq_ignore_ascii_case(class));
    let numbered = word
        .get(..5)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("CLASS"))
        && word.len() > 5
        && word.bytes().skip(5).all(|b| b.is_ascii_digit());
    mnemonic || numbered
}

/// Appends `owner` as an absolute name to `out`: `@` is the origin, a name with a
/// final (unescaped) dot is absolute, any other is completed by the origin.
fn absolute_owner(owner: &str, origin_text: &str, out: &mut String) {
    if owner == "@" {
        out.push_str(origin_text);
        return;
    }
    out.push_str(owner);
    if is_absolute(owner) {
        return;
    }
    if origin_text != "." {
        out.push('.');
    }
    out.push_str(origin_text);
}

/// A final dot that no backslash escapes.
fn is_absolute(name: &str) -> bool {
    let Some(body) = name.strip_suffix('.') else {
        return false;
    };
    let backslashes = body.len() - body.trim_end_matches('\\').len();
    backslashes % 2 == 0
}

/// `file` of an `$INCLUDE` in `including`: relative to the including file's
/// directory. Quotes around it are dropped.
fn included_path(including: &Path, file: &str) -> PathBuf {
    let file = file
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(file);
    let file = Path::new(file);
    match including.parent() {
        Some(directory) if file.is_relative() => directory.join(file),
        _ => file.to_path_buf(),
    }
}

fn no_more(directive: &str, rest: &str) -> Result<(), String> {
    match rest.split_whitespace().next() {
        None => Ok(()),
        Some(word) => Err(format!("{directive}: unexpected `{word}`")),
    }
}

/// The next word of `rest`: the entry's words are split by spaces and tabs
/// (ASCII whitespace; a byte test, as this runs several times per record).
fn next_word<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let text = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return None;
    }
    let end = text
        .bytes()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let (word, tail) = text.split_at(end);
    *rest = tail;
    Some(word)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Cursor;

    use super::*;
    use crate::dns::wire::{self, TYPE_A, TYPE_CNAME, TYPE_MX, TYPE_SOA, TYPE_TXT};

    /// One record as read: owner, type, TTL, data, file name and line.
    type Read = (String, u16, Option<u32>, Vec<u8>, String, usize);

    fn origin() -> Name {
        Name::parse("home.test.", None).unwrap()
    }

    fn collect(record: Record, path: &Arc<Path>, line: usize, out: &mut Vec<Read>) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let owner = wire::name_to_string(&record.owner);
        let owner = owner.trim_end_matches('.').to_string();
        out.push((owner, record.rtype, record.ttl, record.rdata, name, line));
    }

    /// `text` read as the file `zone.db` (nothing on disk: `$INCLUDE` off).
    fn read_text(text: &str) -> Result<Vec<Read>, FileError> {
        let mut out = Vec::new();
        let mut visit = |record, path: &Arc<Path>, line| {
            collect(record, path, line, &mut out);
            Ok(())
        };
        let mut reader = Reader::new(false, &mut visit);
        let path: Arc<Path> = Arc::from(Path::new("zone.db"));
        reader.stream(Cursor::new(text), &path, Scope::new(&origin()), 1)?;
        Ok(out)
    }

    fn error(text: &str) -> FileError {
        read_text(text).unwrap_err()
    }

    /// Each text fails at that line with a message containing that text.
    fn assert_errors(cases: &[(&str, usize, &str)]) {
        for (text, line, needle) in cases {
            let e = error(text);
            assert_eq!(
                (e.line, e.file.as_path()),
                (*line, Path::new("zone.db")),
                "{text:?}: {e:?}"
            );
            assert!(e.message.contains(needle), "{text:?}: {e:?}");
        }
    }

    /// A directory of files for `$INCLUDE`, removed on drop.
    struct Files(PathBuf);

    impl Files {
        fn new(files: &[(&str, &str)]) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("lanseal-zonefile-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for (name, text) in files {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Self(dir)
        }

        fn read(&self, include: bool) -> Result<Vec<Read>, FileError> {
            let file = ZoneFile {
                path: self.0.join("zone.db"),
                include,
            };
            let mut out = Vec::new();
            read(&file, &origin(), |record, path, line| {
                collect(record, path, line, &mut out);
                Ok(())
            })?;
            Ok(out)
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn owners_and_lines(records: &[Read]) -> Vec<(&str, usize)> {
        records.iter().map(|r| (r.0.as_str(), r.5)).collect()
    }

    #[test]
    fn origin_at_and_relative_names() {
        let records = read_text(
            "nas A 192.168.1.10\n\
             @ MX 10 mail\n\
             abs.home.test. A 10.0.0.1\n\
             $ORIGIN sub.home.test.\n\
             www CNAME nas\n\
             @ A 10.0.0.2\n\
             $ORIGIN deeper\n\
             x A 10.0.0.3\n",
        )
        .unwrap();
        assert_eq!(
            owners_and_lines(&records),
            [
                ("nas.home.test", 1),
                ("home.test", 2),
                ("abs.home.test", 3),
                ("www.sub.home.test", 5),
                ("sub.home.test", 6),
                ("x.deeper.sub.home.test", 8),
            ]
        );
        // Names in record data are relative to the $ORIGIN in force.
        assert_eq!(records[1].3, b"\x00\x0a\x04mail\x04home\x04test\x00");
        assert_eq!(records[3].1, TYPE_CNAME);
        assert_eq!(records[3].3, b"\x03nas\x03sub\x04home\x04test\x00");
    }

    #[test]
    fn ttl_explicit_then_dollar_ttl_then_none() {
        let records = read_text(
            "a A 10.0.0.1\n\
             $TTL 1h\n\
             b A 10.0.0.2\n\
             c 60 A 10.0.0.3\n\
             $ttl 300\n\
             d 1d A 10.0.0.4\n\
             e A 10.0.0.5\n",
        )
        .unwrap();
        let ttls: Vec<Option<u32>> = records.iter().map(|r| r.2).collect();
        assert_eq!(ttls, [None, Some(3600), Some(60), Some(86_400), Some(300)]);
    }

    #[test]
    fn ttl_and_class_in_either_order() {
        let records = read_text(
            "a IN 300 A 10.0.0.1\n\
             b 300 IN A 10.0.0.2\n\
             c in 5m A 10.0.0.3\n\
             d IN A 10.0.0.4\n\
             e CLASS1 A 10.0.0.5\n",
        )
        .unwrap();
        let ttls: Vec<Option<u32>> = records.iter().map(|r| r.2).collect();
        assert_eq!(ttls, [Some(300), Some(300), Some(300), None, None]);
        assert!(records.iter().all(|r| r.1 == TYPE_A));
    }

    #[test]
    fn blank_owner_is_the_previous_owner() {
        let records = read_text(
            "nas A 10.0.0.1\n\
             \x20   AAAA fd00::1\n\
             \t300 IN TXT \"x\"\n\
             $ORIGIN other.test.\n\
             \x20 MX 0 mail\n",
        )
        .unwrap();
        assert_eq!(
            owners_and_lines(&records),
            [
                ("nas.home.test", 1),
                ("nas.home.test", 2),
                ("nas.home.test", 3),
                ("nas.home.test", 5),
            ]
        );
        assert_eq!(records[2].2, Some(300));
        let apex = read_text("@ A 10.0.0.1\n$ORIGIN sub.home.test.\n  TXT \"x\"\n").unwrap();
        assert_eq!(
            owners_and_lines(&apex),
            [("home.test", 1), ("home.test", 3)]
        );
        // The MX exchange is relative to the new origin.
        assert_eq!(records[3].1, TYPE_MX);
        assert_eq!(records[3].3, b"\x00\x00\x04mail\x05other\x04test\x00");
    }

    #[test]
    fn parentheses_join_lines_and_the_entry_has_its_first_line() {
        let records = read_text(
            "; a zone\n\
             \n\
             @ IN SOA ns hostmaster ( ; primary, mailbox\n\
             \x20      2024010101 ; serial\n\
             \x20      1h 10m     ; refresh, retry\n\
             \x20      1w\n\
             \x20      300 )      ; minimum\n\
             txt TXT ( \"one\"\n\
             \x20         \"two\" )\n\
             after A 10.0.0.1\n",
        )
        .unwrap();
        assert_eq!(
            owners_and_lines(&records),
            [
                ("home.test", 3),
                ("txt.home.test", 8),
                ("after.home.test", 10)
            ]
        );
        assert_eq!(records[0].1, TYPE_SOA);
        assert!(records[0].3.ends_with(&[
            0x78, 0xa3, 0xf1, 0x75, 0, 0, 0x0e, 0x10, 0, 0, 2, 0x58, 0, 9, 0x3a, 0x80, 0, 0, 1,
            0x2c
        ]));
        assert_eq!(records[1].3, b"\x03one\x03two");
    }

    #[test]
    fn comments_quotes_and_escapes() {
        let records = read_text(
            "a TXT \"semi;colon (paren\" ; a comment \"with a quote\n\
             b TXT \"say \\\"hi\\\"\" \"\\059\\032x\"\n\
             c TXT unquoted\\;semi ; comment\n\
             d A 10.0.0.1;comment without space\n",
        )
        .unwrap();
        assert!(records.iter().all(|r| r.1 == TYPE_TXT || r.1 == TYPE_A));
        assert_eq!(records[0].3, b"\x11semi;colon (paren");
        assert_eq!(records[1].3, b"\x08say \"hi\"\x03; x");
        assert_eq!(records[2].3, b"\x0dunquoted;semi");
        assert_eq!(records[3].3, [10, 0, 0, 1]);
    }

    #[test]
    fn crlf_and_byte_order_mark() {
        let records = read_text("\u{feff}a A 10.0.0.1\r\n TXT \"x\"\r\n").unwrap();
        assert_eq!(
            owners_and_lines(&records),
            [("a.home.test", 1), ("a.home.test", 2)]
        );
        assert_eq!(records[1].3, b"\x01x");
    }

    #[test]
    fn syntax_errors_name_their_line() {
        assert_errors(&[
            ("ok A 10.0.0.1\nx A 10.0.0.1 )\n", 2, "a `)` without a `(`"),
            (
                "ok A 10.0.0.1\n@ SOA ns hm ( 1\n 2 3 4 5\n",
                2,
                "a `(` is not closed by the end of the file",
            ),
            (
                "ok A 10.0.0.1\n\nx TXT \"open\n",
                3,
                "quoted string is not closed",
            ),
            (
                "$GENERATE 1-10 h$ A 10.0.0.$\n",
                1,
                "unknown directive `$GENERATE`",
            ),
            (
                "ok A 10.0.0.1\n$INCLUDE other.db\n",
                2,
                "$INCLUDE is off for this zone",
            ),
            ("x CH TXT \"chaos\"\n", 1, "class `CH` is not served"),
            ("x 60 HS A 10.0.0.1\n", 1, "class `HS`"),
            ("x IN IN A 10.0.0.1\n", 1, "two classes"),
            ("x 60 IN 70 A 10.0.0.1\n", 1, "two TTLs"),
            ("  A 10.0.0.1\n", 1, "there is none yet"),
            (
                "a A 10.0.0.1\n\n\nb A 10.0.0.999\n",
                4,
                "not an IPv4 address",
            ),
            (
                "a A 10.0.0.1\nb MX (\n ten mail )\n",
                2,
                "MX preference `ten`",
            ),
            ("$TTL\n", 1, "$TTL: expected a TTL"),
            ("$TTL 5x\n", 1, "not a TTL"),
            ("$TTL 300 600\n", 1, "$TTL: unexpected `600`"),
            ("$ORIGIN\n", 1, "$ORIGIN: expected a domain name"),
            ("$ORIGIN a..b\n", 1, "not a valid domain name"),
            (
                "ok A 10.0.0.1\nx A 10.0.0.1\nlonely\n",
                3,
                "missing record type",
            ),
        ]);
        let e = read_text("a A 10.0.0.1\nb TXT \"caf\u{e9}\"\n").map(|r| r.len());
        assert_eq!(e, Ok(2), "UTF-8 in a string is fine");
        let mut visit = |_: Record, _: &Arc<Path>, _: usize| Ok(());
        let mut reader = Reader::new(false, &mut visit);
        let path: Arc<Path> = Arc::from(Path::new("zone.db"));
        let bytes: &[u8] = b"a A 10.0.0.1\nb TXT \"caf\xe9\"\n";
        let e = reader
            .stream(Cursor::new(bytes), &path, Scope::new(&origin()), 1)
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("invalid UTF-8 at byte 11"), "{e:?}");
    }

    #[test]
    fn bounds_are_errors() {
        let long = format!("a TXT \"{}\"\n", "x".repeat(ENTRY_TEXT_BYTES_MAX));
        let e = error(&format!("ok A 10.0.0.1\n{long}"));
        assert_eq!(e.line, 2);
        assert!(e.message.contains("a line is longer than"), "{e:?}");
        // An unclosed `(` cannot swallow the file into one entry.
        let mut text = String::from("ok A 10.0.0.1\nx TXT (\n");
        let line = format!("\"{}\"\n", "y".repeat(200));
        while text.len() < ENTRY_TEXT_BYTES_MAX + 1000 {
            text.push_str(&line);
        }
        let e = error(&text);
        assert!(e.message.contains("an entry is longer than"), "{e:?}");
    }

    #[test]
    fn a_visitor_error_is_told_at_its_record() {
        let mut visit = |record: Record, _: &Arc<Path>, _| {
            if record.rtype == TYPE_MX {
                Err("no MX here".to_string())
            } else {
                Ok(())
            }
        };
        let mut reader = Reader::new(false, &mut visit);
        let path: Arc<Path> = Arc::from(Path::new("zone.db"));
        let text = "a A 10.0.0.1\n@ MX (\n 10 mail )\n";
        let e = reader
            .stream(Cursor::new(text), &path, Scope::new(&origin()), 1)
            .unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "no MX here"));
    }

    #[test]
    fn include_is_relative_to_the_including_file_with_its_own_origin() {
        let files = Files::new(&[
            (
                "zone.db",
                "$TTL 600\n\
                 top A 10.0.0.1\n\
                 $INCLUDE sub/hosts.db lab ; with an origin\n\
                 after A 10.0.0.2\n\
                 $INCLUDE \"sub/hosts.db\"\n",
            ),
            (
                "sub/hosts.db",
                "h1 A 10.0.1.1\n\
                 $ORIGIN elsewhere.home.test.\n\
                 $TTL 60\n\
                 h2 A 10.0.1.2\n\
                 $INCLUDE leaf.db\n",
            ),
            ("sub/leaf.db", "\n  TXT \"leaf\"\n"),
        ]);
        let records = files.read(true).unwrap();
        let seen: Vec<(&str, Option<u32>, &str, usize)> = records
            .iter()
            .map(|r| (r.0.as_str(), r.2, r.4.as_str(), r.5))
            .collect();
        assert_eq!(
            seen,
            [
                ("top.home.test", Some(600), "zone.db", 2),
                ("h1.lab.home.test", Some(600), "hosts.db", 1),
                ("h2.elsewhere.home.test", Some(60), "hosts.db", 4),
                // A blank owner in an included file: the previous record's.
                ("h2.elsewhere.home.test", Some(60), "leaf.db", 2),
                // The including file's $ORIGIN and $TTL again.
                ("after.home.test", Some(600), "zone.db", 4),
                ("h1.home.test", Some(600), "hosts.db", 1),
                ("h2.elsewhere.home.test", Some(60), "hosts.db", 4),
                ("h2.elsewhere.home.test", Some(60), "leaf.db", 2),
            ]
        );
        // Off unless the zone allows it.
        let e = files.read(false).unwrap_err();
        assert_eq!((e.file, e.line), (files.0.join("zone.db"), 3));
        assert!(e.message.contains("$INCLUDE is off"), "{}", e.message);
    }

    #[test]
    fn include_errors_name_the_included_file_and_line() {
        let files = Files::new(&[
            ("zone.db", "ok A 10.0.0.1\n$INCLUDE bad.db\n"),
            ("bad.db", "fine A 10.0.0.2\nbroken A 10.0.0.256\n"),
        ]);
        let e = files.read(true).unwrap_err();
        assert_eq!((e.file, e.line), (files.0.join("bad.db"), 2));
        assert!(e.message.contains("not an IPv4 address"), "{}", e.message);
        let files = Files::new(&[("zone.db", "ok A 10.0.0.1\n\n$INCLUDE missing.db\n")]);
        let e = files.read(true).unwrap_err();
        assert_eq!((e.file, e.line), (files.0.join("zone.db"), 3));
        assert!(e.message.contains("cannot read"), "{}", e.message);
        assert!(e.message.contains("missing.db"), "{}", e.message);
        let files = Files::new(&[]);
        let e = files.read(true).unwrap_err();
        assert_eq!((e.file, e.line), (files.0.join("zone.db"), 0));
        assert!(
            e.message.contains("cannot read the zone file"),
            "{}",
            e.message
        );
    }

    #[test]
    fn include_depth_is_bounded() {
        let files = Files::new(&[("zone.db", "x A 10.0.0.1\n$INCLUDE zone.db\n")]);
        let e = files.read(true).unwrap_err();
        assert_eq!((e.file, e.line), (files.0.join("zone.db"), 2));
        assert!(
            e.message
                .contains(&format!("more than {INCLUDE_DEPTH_MAX} files deep")),
            "{}",
            e.message
        );
        // zone.db is depth 1 and n.db depth n + 1: 1.db..7.db may be read,
        // and 7.db's $INCLUDE of 8.db is one too many.
        let mut chain: Vec<(String, String)> = (1..INCLUDE_DEPTH_MAX)
            .map(|n| {
                (
                    format!("{n}.db"),
                    format!("h{n} A 10.0.0.{n}\n$INCLUDE {}.db\n", n + 1),
                )
            })
            .collect();
        chain.push((
            format!("{INCLUDE_DEPTH_MAX}.db"),
            "last A 10.0.0.99\n".into(),
        ));
        chain.push(("zone.db".into(), "$INCLUDE 1.db\n".into()));
        let borrowed: Vec<(&str, &str)> = chain
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let files = Files::new(&borrowed);
        let e = files.read(true).unwrap_err();
        assert_eq!(
            e.file,
            files.0.join(format!("{}.db", INCLUDE_DEPTH_MAX - 1))
        );
        // Exactly the bound: zone.db, then 2.db..8.db.
        chain.pop();
        chain.push(("zone.db".into(), "$INCLUDE 2.db\n".into()));
        let borrowed: Vec<(&str, &str)> = chain
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let files = Files::new(&borrowed);
        let records = files.read(true).unwrap();
        assert_eq!(records.len(), INCLUDE_DEPTH_MAX - 1);
    }

    /// The reader's speed on a generated 1 000 000-line file (A, blank-owner
    /// AAAA, TXT, MX lines, a `$ORIGIN` every 10 000 lines): run in release with
    /// `cargo test --release --lib zone::file::tests::million -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, for release builds"]
    fn million_lines() {
        use std::io::Write;
        const LINES: usize = 1_000_000;
        let files = Files::new(&[]);
        std::fs::create_dir_all(&files.0).unwrap();
        let path = files.0.join("zone.db");
        let mut out = std::io::BufWriter::new(File::create(&path).unwrap());
        writeln!(out, "$TTL 300").unwrap();
        for n in 1..LINES {
            let (a, b) = ((n >> 8) & 0xff, n & 0xff);
            match n % 10 {
                0 if n % 10_000 == 0 => writeln!(out, "$ORIGIN part{}.home.test.", n / 10_000),
                1 if n > 1 => writeln!(out, "    AAAA fd00::{a:x}:{b:x}"),
                2 => writeln!(out, "t{n} 60 TXT \"v=spf1 -all\" \"n={n}\""),
                3 => writeln!(out, "m{n} IN MX 10 mail{n}"),
                _ => writeln!(out, "host{n} A 10.{}.{a}.{b}", n >> 16),
            }
            .unwrap();
        }
        drop(out);
        let bytes = std::fs::metadata(&path).unwrap().len();
        // CPU time as well as wall time: the machine may be busy with others.
        let cpu_ns = || -> u64 {
            let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
            text.split_whitespace().next().unwrap().parse().unwrap()
        };
        let cpu_started = cpu_ns();
        let started = std::time::Instant::now();
        let (mut records, mut rdata_bytes) = (0usize, 0usize);
        let file = ZoneFile {
            path,
            include: false,
        };
        read(&file, &origin(), |record, _, _| {
            records += 1;
            rdata_bytes += record.rdata.len();
            Ok(())
        })
        .unwrap();
        let elapsed = started.elapsed();
        let cpu = (cpu_ns() - cpu_started) as f64 / 1e9;
        println!(
            "{LINES} lines ({bytes} bytes): {records} records, {rdata_bytes} bytes of record data \
             in {:.3} s ({cpu:.3} s of CPU)",
            elapsed.as_secs_f64()
        );
        assert_eq!(records, LINES - 1 - (LINES - 1) / 10_000);
    }

    #[test]
    fn absolute_owner_text() {
        let mut out = String::new();
        for (owner, origin, expected) in [
            ("@", "home.test.", "home.test."),
            ("nas", "home.test.", "nas.home.test."),
            ("nas.", "home.test.", "nas."),
            ("a\\.", "home.test.", "a\\..home.test."),
            ("a\\\\.", "home.test.", "a\\\\."),
            ("nas", ".", "nas."),
        ] {
            out.clear();
            absolute_owner(owner, origin, &mut out);
            assert_eq!(out, expected, "{owner} in {origin}");
        }
        assert!(is_class("class255") && is_class("ANY") && !is_class("CLASS") && !is_class("A"));
    }
}
