//! The UCI syntax, as libuci's `file.c` reads it: `package`, `config`,
//! `option` and `list` statements, quoting, comments, and a section named twice
//! reopened. Owns no meaning of any section or option (`super` maps them).

use crate::config::ConfigError;

/// A section as libuci holds it after reading the file.
#[derive(Debug)]
pub(super) struct Section {
    pub(super) uci_type: String,
    /// `None` for an anonymous section (`config zone`).
    pub(super) name: Option<String>,
    /// Its index among the sections of its type (uci's `@zone[1]`).
    pub(super) ordinal: usize,
    pub(super) line: usize,
    pub(super) entries: Vec<Entry>,
}

/// An option or a list, in the order first written.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) name: String,
    /// The line of the `option`, or of the first `list` item.
    pub(super) line: usize,
    pub(super) value: Value,
}

#[derive(Debug)]
pub(super) enum Value {
    Single(String),
    List(Vec<Item>),
}

#[derive(Debug)]
pub(super) struct Item {
    pub(super) text: String,
    pub(super) line: usize,
}

/// A word of a statement, quotes and escapes resolved.
#[derive(Debug)]
struct Word {
    text: String,
    line: usize,
}

/// Splits the text into statements of words, as libuci's `parse_str`: adjacent
/// parts concatenate (`'it'\''s'` is `it's`); single quotes take everything up to
/// the next `'`, newlines included; in double quotes and bare words a backslash
/// takes the next character, and a backslash at the end of a line joins the next
/// line; `#` outside quotes starts a comment (also inside a bare word, as libuci
/// reads it); a newline or `;` outside quotes ends a statement.
struct Lexer<'a> {
    chars: Vec<char>,
    position: usize,
    line: usize,
    file: &'a str,
    /// The lines the last quoted part that held a newline opened and closed on:
    /// a forgotten closing quote makes one, and errors near it say so.
    spanning: Option<(usize, usize)>,
}

impl<'a> Lexer<'a> {
    fn new(text: &str, file: &'a str) -> Self {
        Self {
            chars: text.chars().collect(),
            position: 0,
            line: 1,
            file,
            spanning: None,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.position += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// The next statement's words; `None` at the end of the text.
    fn statement(&mut self) -> Result<Option<Vec<Word>>, ConfigError> {
        let mut words = Vec::new();
        loop {
            match self.peek() {
                None => return Ok((!words.is_empty()).then_some(words)),
                Some('\n' | ';') => {
                    self.next();
                    if !words.is_empty() {
                        return Ok(Some(words));
                    }
                }
                Some('#') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.next();
                    }
                }
                Some(c) if is_blank(c) => {
                    self.next();
                }
                Some(_) => words.push(self.word()?),
            }
        }
    }

    fn word(&mut self) -> Result<Word, ConfigError> {
        let line = self.line;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if is_blank(c) || matches!(c, '\n' | ';' | '#') {
                break;
            }
            self.next();
            match c {
                '\'' => self.single_quoted(&mut text)?,
                '"' => self.double_quoted(&mut text)?,
                '\\' => self.escaped(&mut text),
                c => text.push(c),
            }
        }
        Ok(Word { text, line })
    }

    fn single_quoted(&mut self, text: &mut String) -> Result<(), ConfigError> {
        let opened = self.line;
        loop {
            match self.next() {
                None => return Err(self.unterminated('\'', opened)),
                Some('\'') => {
                    self.closed(opened);
                    return Ok(());
                }
                Some(c) => text.push(c),
            }
        }
    }

    fn double_quoted(&mut self, text: &mut String) -> Result<(), ConfigError> {
        let opened = self.line;
        loop {
            match self.next() {
                None => return Err(self.unterminated('"', opened)),
                Some('"') => {
                    self.closed(opened);
                    return Ok(());
                }
                Some('\\') => self.escaped(text),
                Some(c) => text.push(c),
            }
        }
    }

    /// After a backslash: the next character as itself, or nothing when the line
    /// ends there (the statement goes on on the next line).
    fn escaped(&mut self, text: &mut String) {
        match self.peek() {
            Some('\n') => {
                self.next();
            }
            Some('\r') if self.chars.get(self.position + 1) == Some(&'\n') => {
                self.next();
                self.next();
            }
            Some(c) => {
                self.next();
                text.push(c);
            }
            None => {}
        }
    }

    fn closed(&mut self, opened: usize) {
        if self.line > opened {
            self.spanning = Some((opened, self.line));
        }
    }

    /// `error` with a word on the quoted part that ran over lines, when it is
    /// near: a quote left open on one line takes the lines after it into one
    /// value, and the error shows only where that went wrong.
    fn hinted(&self, mut error: ConfigError) -> ConfigError {
        if let Some((opened, closed)) = self.spanning
            && opened <= error.line + 1
            && error.line <= closed + 1
        {
            error.message.push_str(&format!(
                "; the quote opened at line {opened} closes only at line {closed}: \
                 is a closing quote missing on line {opened}?"
            ));
        }
        error
    }

    fn unterminated(&self, quote: char, opened: usize) -> ConfigError {
        error(
            self.file,
            opened,
            format!(
                "unterminated {quote} quote: expected a closing {quote} before the end of the file"
            ),
        )
    }
}

/// Whitespace between words, as C's `isspace` but the newline (a `\r` of a CRLF
/// file is whitespace, as in libuci).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

/// The file's sections, as libuci reads them: a `config` with the name of an
/// earlier section reopens it; an `option` written again replaces its value (in
/// its first place); `list` items accumulate.
pub(super) fn parse(text: &str, file: &str) -> Result<Vec<Section>, ConfigError> {
    let mut lexer = Lexer::new(text, file);
    let mut sections: Vec<Section> = Vec::new();
    // Index of the section `option` and `list` lines go to.
    let mut current: Option<usize> = None;
    loop {
        let words = match lexer.statement() {
            Ok(Some(words)) => words,
            Ok(None) => return Ok(sections),
            Err(e) => return Err(lexer.hinted(e)),
        };
        statement(&words, &mut sections, &mut current, file).map_err(|e| lexer.hinted(e))?;
    }
}

/// One statement's effect on the sections read so far.
fn statement(
    words: &[Word],
    sections: &mut Vec<Section>,
    current: &mut Option<usize>,
    file: &str,
) -> Result<(), ConfigError> {
    let [keyword, arguments @ ..] = words else {
        return Ok(());
    };
    let line = keyword.line;
    match keyword.text.as_str() {
        "package" | "p" => package(arguments, file, line),
        "config" | "c" => {
            *current = Some(config(arguments, sections, file, line)?);
            Ok(())
        }
        "option" | "o" | "list" | "l" => {
            let list = keyword.text.starts_with('l');
            let Some(index) = *current else {
                let message = format!(
                    "`{}` before any `config` line: an option belongs to the section \
                     above it (`config TYPE ['NAME']`)",
                    keyword.text
                );
                return Err(error(file, line, message));
            };
            entry(arguments, list, &mut sections[index], file, line)
        }
        other => {
            let message =
                format!("unknown keyword `{other}`: expected config, option, list or package");
            Err(error(file, line, message))
        }
    }
}

/// `package NAME` (what `uci export` writes first): checked, then ignored.
fn package(arguments: &[Word], file: &str, line: usize) -> Result<(), ConfigError> {
    let [name] = arguments else {
        return Err(error(file, line, "expected `package NAME`"));
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.text.is_empty() || !name.text.chars().all(valid) {
        let message = format!(
            "invalid package name `{}`: letters, digits, _ and - only",
            name.text
        );
        return Err(error(file, line, message));
    }
    Ok(())
}

/// `config TYPE ['NAME']`: the index of the section it opens (or reopens).
fn config(
    arguments: &[Word],
    sections: &mut Vec<Section>,
    file: &str,
    line: usize,
) -> Result<usize, ConfigError> {
    let (uci_type, name) = match arguments {
        [uci_type] => (uci_type, None),
        [uci_type, name] => (uci_type, Some(name).filter(|name| !name.text.is_empty())),
        _ => return Err(error(file, line, "expected `config TYPE ['NAME']`")),
    };
    let printable = |c: char| c.is_ascii_graphic();
    if uci_type.text.is_empty() || !uci_type.text.chars().all(printable) {
        let message = format!(
            "invalid section type `{}`: expected `config TYPE ['NAME']` with a TYPE of \
             printable characters",
            uci_type.text
        );
        return Err(error(file, line, message));
    }
    let name = match name {
        None => None,
        Some(name) => Some(valid_name(&name.text, "section", file, line)?),
    };
    let earlier = name.as_ref().and_then(|name| {
        sections
            .iter()
            .position(|section| section.name.as_ref() == Some(name))
    });
    if let Some(index) = earlier {
        let section = &sections[index];
        if section.uci_type != uci_type.text {
            let message = format!(
                "section '{}' is a '{}' (line {}): a section of another type cannot \
                 take its name",
                section.name.as_deref().unwrap_or_default(),
                section.uci_type,
                section.line
            );
            return Err(error(file, line, message));
        }
        return Ok(index);
    }
    let ordinal = sections
        .iter()
        .filter(|section| section.uci_type == uci_type.text)
        .count();
    sections.push(Section {
        uci_type: uci_type.text.clone(),
        name,
        ordinal,
        line,
        entries: Vec::new(),
    });
    Ok(sections.len() - 1)
}

/// `option NAME VALUE` or `list NAME VALUE` in `section`.
fn entry(
    arguments: &[Word],
    list: bool,
    section: &mut Section,
    file: &str,
    line: usize,
) -> Result<(), ConfigError> {
    let form = if list {
        "`list NAME 'VALUE'`"
    } else {
        "`option NAME 'VALUE'`"
    };
    let [name, value] = arguments else {
        return Err(error(file, line, format!("expected {form}")));
    };
    let name = valid_name(&name.text, "option", file, line)?;
    let item = Item {
        text: value.text.clone(),
        line,
    };
    let earlier = section.entries.iter_mut().find(|entry| entry.name == name);
    match (earlier, list) {
        (None, false) => section.entries.push(Entry {
            name,
            line,
            value: Value::Single(item.text),
        }),
        (None, true) => section.entries.push(Entry {
            name,
            line,
            value: Value::List(vec![item]),
        }),
        (Some(entry), false) => {
            entry.line = line;
            entry.value = Value::Single(item.text);
        }
        (Some(entry), true) => match &mut entry.value {
            Value::List(items) => items.push(item),
            // libuci's `uci_add_list` turns the option into a list, value first.
            Value::Single(text) => {
                let first = Item {
                    text: std::mem::take(text),
                    line: entry.line,
                };
                entry.value = Value::List(vec![first, item]);
            }
        },
    }
    Ok(())
}

/// A section or option name: letters, digits and `_` (libuci's rule, for shells).
fn valid_name(text: &str, what: &str, file: &str, line: usize) -> Result<String, ConfigError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if text.is_empty() || !text.chars().all(valid) {
        let message = format!("invalid {what} name `{text}`: letters, digits and _ only");
        return Err(error(file, line, message));
    }
    Ok(text.to_string())
}

pub(super) fn error(file: &str, line: usize, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line,
        message: message.into(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn err(uci: &str) -> ConfigError {
        parse(uci, "lanseal").unwrap_err()
    }

    /// Each UCI text fails at that line with a message containing that text.
    pub(in crate::config::uci) fn assert_errors_with(
        err: impl Fn(&str) -> ConfigError,
        cases: &[(&str, usize, &str)],
    ) {
        for (uci, line, needle) in cases {
            let e = err(uci);
            assert_eq!(e.line, *line, "{uci:?}: {e}");
            assert!(e.message.contains(needle), "{uci:?}: {e}");
            assert_eq!(e.file, "lanseal");
        }
    }

    fn assert_errors(cases: &[(&str, usize, &str)]) {
        assert_errors_with(err, cases);
    }

    /// The words of each statement, as libuci's parser splits and unquotes them.
    fn statements(text: &str) -> Vec<Vec<String>> {
        let mut lexer = Lexer::new(text, "lanseal");
        let mut all = Vec::new();
        while let Some(words) = lexer.statement().unwrap() {
            all.push(words.into_iter().map(|word| word.text).collect());
        }
        all
    }

    #[test]
    fn quoting_as_libuci_reads_it() {
        let one = |text: &str| statements(text).remove(0).remove(2);
        assert_eq!(one("option a 'it'\\''s'"), "it's");
        assert_eq!(one("option a \"say \\\"hi\\\" \\\\o/\""), "say \"hi\" \\o/");
        // No escapes in single quotes; a backslash takes the next character
        // as itself elsewhere (there is no `\n` escape).
        assert_eq!(one("option a 'C:\\dir'"), "C:\\dir");
        assert_eq!(one("option a \"x\\ny\""), "xny");
        assert_eq!(one("option a two\\ words"), "two words");
        assert_eq!(one("option a 'multi\nline'"), "multi\nline");
        assert_eq!(one("option a \"multi\nline\""), "multi\nline");
        assert_eq!(one("option a \"joined \\\nline\""), "joined line");
        assert_eq!(one("option a joined\\\n-line"), "joined-line");
        assert_eq!(one("option a ''"), "");
        assert_eq!(one("option a 'a#b' # comment"), "a#b");
        // A bare word ends at `#`, as libuci cuts it.
        assert_eq!(
            one("option a tls://1.1.1.1#cloudflare-dns.com"),
            "tls://1.1.1.1"
        );
        assert_eq!(one("option a 'b'\r\n"), "b");
        assert_eq!(
            statements("config dns; option a b ;list c 'd'\n\n  # x\n\tconfig zone\n"),
            [
                vec!["config", "dns"],
                vec!["option", "a", "b"],
                vec!["list", "c", "d"],
                vec!["config", "zone"],
            ]
        );
    }

    #[test]
    fn syntax_errors_name_line_and_expectation() {
        assert_errors(&[
            (
                "config dns\n\toptoin listen '::1'\n",
                2,
                "unknown keyword `optoin`: expected config, option, list or package",
            ),
            (
                "config dns\n\n\toption listen '::1\n",
                3,
                "unterminated ' quote",
            ),
            (
                "config dns\noption listen \"::1\n\n",
                2,
                "unterminated \" quote",
            ),
            (
                "# hi\noption listen '::1'\n",
                2,
                "`option` before any `config` line",
            ),
            ("list listen '::1'\n", 1, "`list` before any `config` line"),
            (
                "config dns\noption list-en '::1'\n",
                2,
                "invalid option name `list-en`: letters, digits and _ only",
            ),
            (
                "config dns\noption 'lis ten' '::1'\n",
                2,
                "invalid option name `lis ten`",
            ),
            (
                "config dns\noption listen\n",
                2,
                "expected `option NAME 'VALUE'`",
            ),
            (
                "config dns\nlist listen\n",
                2,
                "expected `list NAME 'VALUE'`",
            ),
            (
                "config dns\noption listen '::1' '::2'\n",
                2,
                "expected `option NAME 'VALUE'`",
            ),
            ("config\n", 1, "expected `config TYPE ['NAME']`"),
            (
                "config zone 'a' 'b'\n",
                1,
                "expected `config TYPE ['NAME']`",
            ),
            (
                "config zone 'home.lan'\n",
                1,
                "invalid section name `home.lan`",
            ),
            ("config 'zo ne'\n", 1, "invalid section type `zo ne`"),
            ("package\n", 1, "expected `package NAME`"),
            ("package 'a b'\n", 1, "invalid package name `a b`"),
            (
                "config dns 'x'\nconfig zone 'x'\n",
                2,
                "section 'x' is a 'dns' (line 1)",
            ),
            // A quote left open runs into the next line; the errors it causes
            // say where it began.
            (
                "config dns\n\toption resolv_file '/tmp/r\n\tlist leases '/tmp/l'\n",
                3,
                "unterminated ' quote: expected a closing ' before the end of the file; \
                 the quote opened at line 2 closes only at line 3: is a closing quote \
                 missing on line 2?",
            ),
            (
                "config dns\n\toption resolv_file '/tmp/r\n\tlist leases /tmp/l' x\n",
                2,
                "expected `option NAME 'VALUE'`; the quote opened at line 2 closes only at line 3",
            ),
        ]);
        let far = err("config dns\n\toption hosts '/a\n/b'\n\n\nbad\n");
        assert!(!far.message.contains("closes only"), "{far}");
    }
}
