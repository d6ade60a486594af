//! `[[blocklist]]`: each list's name, files, allowed names, answer and CNAME
//! inspection as a [`BlocklistSpec`]. Only the section is checked here: the
//! files are data, read by `dns::blocklist` when the daemon starts and whenever
//! they change (a missing file or a junk line is logged there, never a config
//! error).

use super::{ConfigError, Lines, raw};
use crate::dns::blocklist::{self, BlockAnswer, BlocklistSpec};
use crate::dns::blocklist::{BLOCKLIST_FILES_MAX, BLOCKLIST_NAMES_DEFAULT};
use crate::dns::blocklist::{BLOCKLIST_NAMES_LIMIT, BLOCKLISTS_MAX};

/// A list's name is a Prometheus label value and a log word: kept short and plain.
const LIST_NAME_BYTES_MAX: usize = 64;
/// Names in one `allow` at most (longer allowlists belong in `allow_files`).
const ALLOW_NAMES_MAX: usize = 1024;

/// Every `[[blocklist]]`, each name once, at most [`BLOCKLISTS_MAX`].
pub(super) fn resolve_all(
    raw: Vec<raw::Blocklist>,
    lines: &Lines<'_>,
) -> Result<Vec<BlocklistSpec>, ConfigError> {
    let mut specs: Vec<BlocklistSpec> = Vec::with_capacity(raw.len());
    let mut name_lines: Vec<usize> = Vec::with_capacity(raw.len());
    for list in raw {
        let at = list.name.span().start;
        if specs.len() == BLOCKLISTS_MAX {
            return Err(lines.error(
                at,
                format!("at most {BLOCKLISTS_MAX} [[blocklist]] sections"),
            ));
        }
        let spec = resolve(list, lines)?;
        if let Some(first) = specs.iter().position(|s| s.name == spec.name) {
            return Err(lines.error(
                at,
                format!(
                    "blocklist `{}` is defined twice: the first definition is at line {}",
                    spec.name, name_lines[first]
                ),
            ));
        }
        specs.push(spec);
        name_lines.push(lines.line(at));
    }
    Ok(specs)
}

fn resolve(raw: raw::Blocklist, lines: &Lines<'_>) -> Result<BlocklistSpec, ConfigError> {
    let at = raw.name.span().start;
    let name = raw.name.into_inner();
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if name.is_empty() || name.len() > LIST_NAME_BYTES_MAX || !name.bytes().all(plain) {
        return Err(lines.error(
            at,
            format!(
                "blocklist name `{name}`: expected 1 to {LIST_NAME_BYTES_MAX} letters, digits, \
                 `-`, `_` or `.` (it names the list in logs and metrics)"
            ),
        ));
    }
    let files = paths(raw.files, "files", lines)?;
    let allow_files = paths(raw.allow_files, "allow_files", lines)?;
    let allow = allow_names(raw.allow, lines)?;
    if files.is_empty() && allow.is_empty() && allow_files.is_empty() {
        return Err(lines.error(
            at,
            format!("blocklist `{name}` has no `files`, `allow` or `allow_files`"),
        ));
    }
    let answer = match raw.answer.as_ref().map(|a| a.get_ref().as_str()) {
        None | Some("nxdomain") => BlockAnswer::Nxdomain,
        Some("nodata") => BlockAnswer::Nodata,
        Some("null") => BlockAnswer::Null,
        Some(other) => {
            let at = raw.answer.as_ref().map_or(0, |a| a.span().start);
            return Err(lines.error(
                at,
                format!("answer `{other}`: expected \"nxdomain\", \"nodata\" or \"null\""),
            ));
        }
    };
    let names_max = match raw.names_max {
        None => BLOCKLIST_NAMES_DEFAULT,
        Some(n) if (1..=BLOCKLIST_NAMES_LIMIT as i64).contains(n.get_ref()) => {
            *n.get_ref() as usize
        }
        Some(n) => {
            return Err(lines.error(
                n.span().start,
                format!("names_max: expected 1 to {BLOCKLIST_NAMES_LIMIT}"),
            ));
        }
    };
    Ok(BlocklistSpec {
        name,
        files,
        allow,
        allow_files,
        answer,
        names_max,
        cname_inspection: raw.cname_inspection.unwrap_or(true),
    })
}

/// `files` or `allow_files` (named by `key`): non-empty paths, at most
/// [`BLOCKLIST_FILES_MAX`], each once.
fn paths(
    raw: Option<Vec<toml::Spanned<String>>>,
    key: &str,
    lines: &Lines<'_>,
) -> Result<Vec<std::path::PathBuf>, ConfigError> {
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    for path in raw.unwrap_or_default() {
        let at = path.span().start;
        if path.get_ref().is_empty() {
            return Err(lines.error(at, format!("{key}: a path is empty")));
        }
        if out.len() == BLOCKLIST_FILES_MAX {
            return Err(lines.error(at, format!("{key}: at most {BLOCKLIST_FILES_MAX} files")));
        }
        let path = std::path::PathBuf::from(path.into_inner());
        if out.contains(&path) {
            return Err(lines.error(at, format!("{key}: `{}` is given twice", path.display())));
        }
        out.push(path);
    }
    Ok(out)
}

/// `allow`: domain names (`*.name` read as `name`), as lower-case wire.
fn allow_names(
    raw: Option<Vec<toml::Spanned<String>>>,
    lines: &Lines<'_>,
) -> Result<Vec<Vec<u8>>, ConfigError> {
    let mut names = Vec::new();
    for name in raw.unwrap_or_default() {
        let at = name.span().start;
        if names.len() == ALLOW_NAMES_MAX {
            return Err(lines.error(
                at,
                format!("allow: at most {ALLOW_NAMES_MAX} names (put more in `allow_files`)"),
            ));
        }
        let Some(wire) = blocklist::entry_wire(name.get_ref()) else {
            return Err(lines.error(
                at,
                format!(
                    "allow: `{}` is not a domain name (letters, digits, `-` and `_` in labels \
                     of 1 to 63)",
                    name.get_ref()
                ),
            ));
        };
        names.push(wire);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use crate::config::Config;
    use crate::config::tests::assert_errors;
    use crate::dns::blocklist::BlockAnswer;

    /// A section's values: the line, and what was wrong.
    #[test]
    fn blocklist_errors_name_line_and_expectation() {
        assert_errors(&[
            (
                "[[blocklist]]\nname = \"ads\"\nfiles = [\"/a\"]\nanswer = \"refused\"\n",
                4,
                "answer `refused`: expected \"nxdomain\", \"nodata\" or \"null\"",
            ),
            (
                "[[blocklist]]\nname = \"ads\"\nfiles = [\"/a\"]\nallow = [\n  \"ok.test\",\n  \"bad..name\",\n]\n",
                6,
                "allow: `bad..name` is not a domain name",
            ),
            (
                "[[blocklist]]\nname = \"ads\"\nfiles = [\"/a\", \"\"]\n",
                3,
                "files: a path is empty",
            ),
            (
                "[[blocklist]]\nname = \"ads\"\nfiles = [\"/a\", \"/a\"]\n",
                3,
                "files: `/a` is given twice",
            ),
            (
                "[[blocklist]]\nname = \"ads\"\n",
                2,
                "has no `files`, `allow` or `allow_files`",
            ),
            (
                "[[blocklist]]\nname = \"my list\"\nfiles = [\"/a\"]\n",
                2,
                "blocklist name `my list`",
            ),
            (
                "[[blocklist]]\nname = \"ads\"\nfiles = [\"/a\"]\n\n[[blocklist]]\nname = \"ads\"\nfiles = [\"/b\"]\n",
                6,
                "blocklist `ads` is defined twice: the first definition is at line 2",
            ),
            (
                "[[blocklist]]\nname = \"ads\"\nfiles = [\"/a\"]\nnames_max = 0\n",
                4,
                "names_max: expected 1 to 50000000",
            ),
            (
                "[[blocklist]]\nname = \"ads\"\nfile = [\"/a\"]\n",
                3,
                "unknown key `file` in [[blocklist]]; did you mean `files`?",
            ),
            (
                "[[blocklist]]\nfiles = [\"/a\"]\n",
                1,
                "missing field `name`",
            ),
        ]);
        let many: String = (0..=crate::dns::blocklist::BLOCKLISTS_MAX)
            .map(|i| format!("[[blocklist]]\nname = \"l{i}\"\nfiles = [\"/a\"]\n"))
            .collect();
        assert_errors(&[(many, 50, "at most 16 [[blocklist]] sections")]);
    }

    #[test]
    fn defaults_and_values() {
        let text = "[[blocklist]]\nname = \"ads\"\nfiles = [\"/a\", \"/b\"]\n\
                    [[blocklist]]\nname = \"mine\"\nallow = [\"*.Good.Example.\"]\n\
                    allow_files = [\"/c\"]\nanswer = \"null\"\nnames_max = 10\n\
                    cname_inspection = false\n";
        let config = Config::parse(text, "t.toml").unwrap();
        let [ads, mine] = &config.blocklists[..] else {
            panic!("two lists: {:?}", config.blocklists);
        };
        assert_eq!(ads.answer, BlockAnswer::Nxdomain);
        assert_eq!(ads.names_max, 1_000_000);
        assert_eq!(ads.files.len(), 2);
        assert!(ads.cname_inspection, "on by default");
        assert!(!mine.cname_inspection);
        assert_eq!(mine.allow, vec![b"\x04good\x07example\x00".to_vec()]);
        assert_eq!(mine.answer, BlockAnswer::Null);
        assert_eq!(mine.names_max, 10);
        assert_eq!(mine.allow_files, vec![std::path::PathBuf::from("/c")]);
    }
}
