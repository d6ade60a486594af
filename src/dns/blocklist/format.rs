//! One line of a list file to the names it blocks or allows. The format is told
//! per line, so files that mix them (and files with junk) load:
//!
//! - hosts: `0.0.0.0 name [name…]`, also `127.0.0.1`, `::` and `::1`; entries of
//!   other addresses are not blocking entries and are skipped; `localhost` and
//!   its kin (`broadcasthost`, `ip6-…`) are ignored.
//! - domain per line: `name`, `name.`, and `*.name` (read as `name`: an entry
//!   blocks its subdomains anyway).
//! - adblock: `||name^`, an exception `@@||name^`, with `$important` (honoured:
//!   it changes nothing in DNS); any other `$` option (`$third-party`,
//!   `$dnstype=…`, `$client=…`…) cannot be honoured by name alone, so the line
//!   is skipped.
//! - dnsmasq: `address=/name/…`, `local=/name/`, `server=/name/` (the form lists
//!   made for dnsmasq use), one or more names between slashes.
//! - `#` and `!` comments (also after an entry, following white space), `[…]`
//!   headers (`[Adblock Plus 2.0]`), blank lines, CRLF line ends.
//!
//! Everything else is skipped and counted by the caller. Never allocates.

use std::net::IpAddr;

use super::set::Kind;
use crate::dns::wire::NAME_BYTES_MAX;

/// What one line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// Blank, a comment or a header.
    Empty,
    /// `count` names were handed to the sink.
    Names(usize),
    /// A `localhost`-type hosts entry: not a blocking entry, and not junk.
    Ignored,
    /// Not usable; why.
    Skipped(Skip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A name with a character, label or length a domain name cannot have.
    NotAName,
    /// An adblock `$` option that cannot be honoured by name.
    Options,
    /// A hosts entry for an address that is not 0.0.0.0, 127.x, :: or ::1.
    Address,
    /// A rule of a syntax lanseal does not read (cosmetic `##`, regex, paths).
    Syntax,
}

impl Skip {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotAName => "not a domain name",
            Self::Options => "adblock options that cannot be honoured",
            Self::Address => "a hosts entry for an address other than 0.0.0.0, 127.x, :: or ::1",
            Self::Syntax => "not a rule lanseal reads",
        }
    }
}

/// Hosts-file names that name this host or a multicast group, never ads.
const IGNORED_NAMES: &[&[u8]] = &[
    b"localhost",
    b"localhost.localdomain",
    b"local",
    b"broadcasthost",
    b"ip6-localhost",
    b"ip6-loopback",
    b"ip6-localnet",
    b"ip6-mcastprefix",
    b"ip6-allnodes",
    b"ip6-allrouters",
    b"ip6-allhosts",
];

/// Parses `line` (without its `\n`); each name goes to `sink` as lower-case
/// wire with the root label, with `kind` unless the line itself says allow
/// (`@@`).
pub fn parse_line(line: &[u8], kind: Kind, sink: &mut impl FnMut(&[u8], Kind)) -> Line {
    let line = trim(line);
    match line.first() {
        None | Some(b'#' | b'!' | b'[') => return Line::Empty,
        _ => {}
    }
    if let Some(rest) = line.strip_prefix(b"@@||") {
        return adblock(rest, Kind::Allow, sink);
    }
    if let Some(rest) = line.strip_prefix(b"||") {
        return adblock(rest, kind, sink);
    }
    for prefix in [&b"address=/"[..], &b"local=/"[..], &b"server=/"[..]] {
        if let Some(rest) = line.strip_prefix(prefix) {
            return dnsmasq(rest, kind, sink);
        }
    }
    let line = strip_comment(line);
    let mut tokens = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty());
    let Some(first) = tokens.next() else {
        return Line::Empty;
    };
    if let Some(address) = address(first) {
        return hosts(address, tokens, kind, sink);
    }
    if tokens.next().is_some() {
        return Line::Skipped(Skip::Syntax);
    }
    let name = first.strip_prefix(b"*.").unwrap_or(first);
    one_name(name, kind, sink)
}

/// A hosts line after its address.
fn hosts<'l>(
    address: IpAddr,
    names: impl Iterator<Item = &'l [u8]>,
    kind: Kind,
    sink: &mut impl FnMut(&[u8], Kind),
) -> Line {
    let blocking = address.is_unspecified() || address.is_loopback();
    let (mut count, mut skip, mut ignored) = (0, None, false);
    for name in names {
        if is_ignored(name) {
            ignored = true;
            continue;
        }
        if !blocking {
            skip = Some(Skip::Address);
            continue;
        }
        match one_name(name, kind, sink) {
            Line::Names(n) => count += n,
            Line::Ignored => ignored = true,
            Line::Skipped(why) => skip = Some(why),
            Line::Empty => {}
        }
    }
    match (skip, count, ignored) {
        (Some(why), _, _) => Line::Skipped(why),
        (None, 0, true) => Line::Ignored,
        (None, 0, false) => Line::Skipped(Skip::Syntax),
        (None, count, _) => Line::Names(count),
    }
}

/// After `||` or `@@||`: `name^`, then `|` optionally, then `$options`.
fn adblock(rest: &[u8], kind: Kind, sink: &mut impl FnMut(&[u8], Kind)) -> Line {
    let Some(caret) = rest.iter().position(|&b| b == b'^') else {
        return Line::Skipped(Skip::Syntax);
    };
    let (name, mut after) = (&rest[..caret], &rest[caret + 1..]);
    after = after.strip_prefix(b"|").unwrap_or(after);
    if let Some(options) = after.strip_prefix(b"$") {
        let honoured = options
            .split(|&b| b == b',')
            .all(|option| matches!(option, b"important"));
        if !honoured {
            return Line::Skipped(Skip::Options);
        }
    } else if !after.is_empty() {
        return Line::Skipped(Skip::Syntax);
    }
    one_name(name, kind, sink)
}

/// After `address=/`: names separated by `/`, up to the last `/`.
fn dnsmasq(rest: &[u8], kind: Kind, sink: &mut impl FnMut(&[u8], Kind)) -> Line {
    let Some(last) = rest.iter().rposition(|&b| b == b'/') else {
        return Line::Skipped(Skip::Syntax);
    };
    let mut count = 0;
    for name in rest[..last].split(|&b| b == b'/') {
        match one_name(name, kind, sink) {
            Line::Names(n) => count += n,
            other => return other,
        }
    }
    Line::Names(count)
}

fn one_name(text: &[u8], kind: Kind, sink: &mut impl FnMut(&[u8], Kind)) -> Line {
    if is_ignored(text) || address(text).is_some() {
        return Line::Ignored;
    }
    let mut wire = [0u8; NAME_BYTES_MAX];
    match to_wire(text, &mut wire) {
        Some(length) => {
            sink(&wire[..length], kind);
            Line::Names(1)
        }
        None => Line::Skipped(Skip::NotAName),
    }
}

/// `text` (a final dot allowed) as lower-case wire in `out`; its length. Labels
/// of 1 to 63 letters, digits, `-` and `_`, at most 255 bytes in all.
pub fn to_wire(text: &[u8], out: &mut [u8; NAME_BYTES_MAX]) -> Option<usize> {
    let text = text.strip_suffix(b".").unwrap_or(text);
    if text.is_empty() {
        return None;
    }
    let mut at = 0usize;
    for label in text.split(|&b| b == b'.') {
        if label.is_empty() || label.len() > 63 || at + 1 + label.len() + 1 > NAME_BYTES_MAX {
            return None;
        }
        out[at] = label.len() as u8;
        for (i, &byte) in label.iter().enumerate() {
            if !(byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_') {
                return None;
            }
            out[at + 1 + i] = byte.to_ascii_lowercase();
        }
        at += 1 + label.len();
    }
    out[at] = 0;
    Some(at + 1)
}

fn is_ignored(name: &[u8]) -> bool {
    IGNORED_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The token as an address (`fe80::1%lo0`'s zone dropped), if it is one.
fn address(token: &[u8]) -> Option<IpAddr> {
    let token = token.split(|&b| b == b'%').next()?;
    std::str::from_utf8(token).ok()?.parse().ok()
}

/// Without white space (CR included) at either end.
fn trim(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|b| !b.is_ascii_whitespace());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(start), Some(end)) => &line[start..=end],
        _ => &[],
    }
}

/// Cut at a `#` that follows white space (a comment after an entry).
fn strip_comment(line: &[u8]) -> &[u8] {
    let cut = line
        .windows(2)
        .position(|w| w[0].is_ascii_whitespace() && w[1] == b'#');
    match cut {
        Some(at) => &line[..at],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The names (as text) and what the line was.
    fn parse(line: &str) -> (Vec<(String, Kind)>, Line) {
        let mut names = Vec::new();
        let outcome = parse_line(line.as_bytes(), Kind::Block, &mut |wire, kind| {
            names.push((crate::dns::wire::name_to_string(wire), kind));
        });
        (names, outcome)
    }

    fn blocks(line: &str) -> Vec<String> {
        let (names, outcome) = parse(line);
        assert_eq!(outcome, Line::Names(names.len()), "{line:?}");
        names
            .into_iter()
            .map(|(name, kind)| {
                assert_eq!(kind, Kind::Block, "{line:?}");
                name
            })
            .collect()
    }

    #[test]
    fn hosts_lines() {
        assert_eq!(blocks("0.0.0.0 ads.example.com"), ["ads.example.com."]);
        assert_eq!(blocks("127.0.0.1\tAds.Example.COM"), ["ads.example.com."]);
        assert_eq!(
            blocks(":: a.test b.test  c.test"),
            ["a.test.", "b.test.", "c.test."]
        );
        assert_eq!(blocks("::1 a.test # tracker"), ["a.test."]);
        assert_eq!(blocks("0.0.0.0 a.test\r"), ["a.test."]);
        for line in [
            "127.0.0.1 localhost",
            "::1 localhost ip6-localhost ip6-loopback",
            "fe80::1%lo0 localhost",
            "255.255.255.255 broadcasthost",
            "0.0.0.0 0.0.0.0",
            "127.0.0.1 localhost.localdomain",
        ] {
            assert_eq!(parse(line), (vec![], Line::Ignored), "{line}");
        }
        assert_eq!(
            parse("192.168.1.5 nas.example").1,
            Line::Skipped(Skip::Address)
        );
        assert_eq!(parse("0.0.0.0 bad!name").1, Line::Skipped(Skip::NotAName));
        assert_eq!(parse("0.0.0.0").1, Line::Skipped(Skip::Syntax));
    }

    #[test]
    fn domain_lines() {
        assert_eq!(blocks("ads.example.com"), ["ads.example.com."]);
        assert_eq!(blocks("  ads.example.com.  "), ["ads.example.com."]);
        assert_eq!(blocks("*.ads.example.com"), ["ads.example.com."]);
        assert_eq!(blocks("under_score.example"), ["under_score.example."]);
        assert_eq!(blocks("zip"), ["zip."]);
        assert_eq!(parse("two names").1, Line::Skipped(Skip::Syntax));
    }

    #[test]
    fn adblock_lines() {
        assert_eq!(blocks("||ads.example.com^"), ["ads.example.com."]);
        assert_eq!(blocks("||ads.example.com^|"), ["ads.example.com."]);
        assert_eq!(blocks("||ads.example.com^$important"), ["ads.example.com."]);
        let (names, outcome) = parse("@@||good.example.com^");
        assert_eq!(outcome, Line::Names(1));
        assert_eq!(names, [("good.example.com.".to_string(), Kind::Allow)]);
        for line in [
            "||ads.example.com^$third-party",
            "||ads.example.com^$important,dnstype=AAAA",
            "||ads.example.com^$client=192.168.1.5",
        ] {
            assert_eq!(
                parse(line),
                (vec![], Line::Skipped(Skip::Options)),
                "{line}"
            );
        }
        for line in [
            "||ads.example.com",
            "||ads.example.com^/path",
            "example.com##.ad",
        ] {
            assert!(
                matches!(parse(line).1, Line::Skipped(_)),
                "{line}: {:?}",
                parse(line)
            );
        }
        assert_eq!(parse("||a b^").1, Line::Skipped(Skip::NotAName));
    }

    #[test]
    fn dnsmasq_lines() {
        assert_eq!(blocks("address=/ads.example.com/"), ["ads.example.com."]);
        assert_eq!(blocks("address=/a.test/b.test/#"), ["a.test.", "b.test."]);
        assert_eq!(blocks("local=/a.test/"), ["a.test."]);
        assert_eq!(blocks("server=/a.test/"), ["a.test."]);
        assert_eq!(parse("address=/a.test").1, Line::Skipped(Skip::Syntax));
    }

    #[test]
    fn comments_and_blank_lines() {
        for line in [
            "",
            "   ",
            "\r",
            "# comment",
            "! adblock comment",
            "[Adblock Plus 2.0]",
        ] {
            assert_eq!(parse(line), (vec![], Line::Empty), "{line:?}");
        }
    }

    #[test]
    fn junk_is_skipped() {
        let long_label = format!("{}.test", "a".repeat(64));
        let long_name = format!("{}test", "abcdefghi.".repeat(26));
        for line in [
            "a..b",
            ".",
            "*.",
            "exa mple.com extra",
            "caf\u{e9}.example",
            long_label.as_str(),
            long_name.as_str(),
            "/ads[0-9]+\\.example/",
            "||^",
        ] {
            assert!(
                matches!(parse(line).1, Line::Skipped(_)),
                "{line:?}: {:?}",
                parse(line)
            );
        }
        let mut wire = [0u8; NAME_BYTES_MAX];
        let longest = format!("{}a", "abcdefgh.".repeat(28));
        assert_eq!(to_wire(longest.as_bytes(), &mut wire), Some(255));
    }
}
