//! `lanseal config from-uci FILE`: an OpenWrt UCI file (`/etc/config/lanseal`)
//! turned into lanseal's TOML, by the mapping of `openwrt/UCI.md`: a section type
//! is a table, an option name is a key spelled the same, `list` lines are arrays,
//! and each value is converted by its key's type. `syntax` reads the file as
//! libuci does; this file owns the mapping and the type of every key (checked
//! against `raw` by a test); it owns no meaning of any key. The TOML it writes is
//! checked by [`Config::parse`] before it is printed, and an error there is
//! reported at the UCI line the offending key came from, so the user of
//! `/etc/config/lanseal` never sees a line number of a file they did not write.

mod syntax;

use std::path::Path;

use super::{Config, ConfigError, lines, raw};
use syntax::{Entry, Item, Section, Value, error, parse};

/// The type of a key, which says how its UCI text becomes a TOML value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    String,
    Bool,
    Integer,
    /// An array of strings: `list` lines, or one `option` as a one-element array.
    List,
    /// `auto` or a count (`[dns] threads`).
    Threads,
    /// `KEY=VALUE` items as a table of strings (`mail_dkim`: selector → record).
    Pairs,
    /// `KEY=VALUE` items as a table of string arrays (`routes`: domain → upstreams).
    PairLists,
    /// A section of its own (`[dns]` at the top level, `[zone.mail]` in a zone):
    /// never an option.
    Table,
}

/// One UCI section type: the TOML table it becomes and the type of each key.
/// The keys are those of `raw`'s struct for the same table (a unit test checks
/// the two sets are equal and that serde takes each kind), so the two lists
/// cannot drift apart.
struct Shape {
    uci_type: &'static str,
    /// The TOML header; empty for the top-level keys.
    header: &'static str,
    repeated: bool,
    /// Required, and reported here rather than as serde's "missing field".
    required: Option<&'static str>,
    keys: &'static [(&'static str, Kind)],
}

/// In the output order of UCI.md: top-level keys, `[dns]`, each `[[zone]]`,
/// `[acme]`, each `[[cert]]`, `[api]`, `[delegate]`, each `[[blocklist]]`.
const SHAPES: [Shape; 8] = [
    Shape {
        uci_type: "lanseal",
        header: "",
        repeated: false,
        required: None,
        keys: &[
            ("state_dir", Kind::String),
            ("log_level", Kind::String),
            ("log_file", Kind::String),
            ("user", Kind::String),
            ("dns", Kind::Table),
            ("zone", Kind::Table),
            ("delegate", Kind::Table),
            ("acme", Kind::Table),
            ("cert", Kind::Table),
            ("api", Kind::Table),
            ("blocklist", Kind::Table),
            // `[store]` has no UCI section type: its only other backend,
            // PostgreSQL, is a feature router builds leave out.
            ("store", Kind::Table),
        ],
    },
    Shape {
        uci_type: "dns",
        header: "[dns]",
        repeated: false,
        required: None,
        keys: &[
            ("listen", Kind::List),
            ("threads", Kind::Threads),
            ("tcp_connections_max", Kind::Integer),
            ("tcp_idle_timeout_ms", Kind::Integer),
            ("acl", Kind::List),
            ("rate_limit_qps", Kind::Integer),
            ("leases", Kind::List),
            ("hosts", Kind::List),
            ("lease_domain", Kind::String),
            ("upstreams", Kind::List),
            ("resolv_file", Kind::String),
            ("routes", Kind::PairLists),
            ("upstream_ca_file", Kind::String),
            ("rebind_protection", Kind::Bool),
            ("rebind_allow", Kind::List),
            ("bogus_priv", Kind::Bool),
            ("domain_needed", Kind::Bool),
            ("serve_stale", Kind::Bool),
            ("prefetch", Kind::Bool),
            ("cache_entries_max", Kind::Integer),
            ("cache_bytes_max", Kind::Integer),
            ("ttl_min", Kind::Integer),
            ("ttl_max", Kind::Integer),
            ("zone_records_max", Kind::Integer),
            ("tsig_key_file", Kind::String),
            ("tsig_key_name", Kind::String),
            ("tsig_algorithm", Kind::String),
        ],
    },
    Shape {
        uci_type: "zone",
        header: "[[zone]]",
        repeated: true,
        required: Some("name"),
        keys: &[
            ("name", Kind::String),
            ("mode", Kind::String),
            ("ttl", Kind::Integer),
            ("ip_names", Kind::Bool),
            ("ip_names_private_only", Kind::Bool),
            ("records", Kind::List),
            ("file", Kind::String),
            ("include", Kind::Bool),
            ("mail", Kind::Table),
            ("secondaries", Kind::List),
        ],
    },
    Shape {
        uci_type: "acme",
        header: "[acme]",
        repeated: false,
        required: None,
        keys: &[
            ("directory", Kind::String),
            ("email", Kind::String),
            ("ca_bundle", Kind::String),
            ("check_resolvers", Kind::List),
            ("eab_kid", Kind::String),
            ("eab_hmac_key", Kind::String),
        ],
    },
    Shape {
        uci_type: "cert",
        header: "[[cert]]",
        repeated: true,
        required: Some("name"),
        keys: &[
            ("name", Kind::String),
            ("domains", Kind::List),
            ("challenge", Kind::String),
            ("delegate", Kind::String),
            ("key_type", Kind::String),
            ("dir", Kind::String),
            ("openwrt_acme_links", Kind::Bool),
            ("deploy_hook", Kind::String),
            ("renew_before_days", Kind::Integer),
            ("profile", Kind::String),
        ],
    },
    Shape {
        uci_type: "api",
        header: "[api]",
        repeated: false,
        required: None,
        keys: &[
            ("listen", Kind::String),
            ("token_file", Kind::String),
            ("keys_endpoint", Kind::Bool),
            ("metrics_public", Kind::Bool),
        ],
    },
    Shape {
        uci_type: "delegate",
        header: "[delegate]",
        repeated: false,
        required: Some("zone"),
        keys: &[
            ("zone", Kind::String),
            ("ns", Kind::List),
            ("ns_addresses", Kind::List),
            ("glue", Kind::PairLists),
            ("soa_email", Kind::String),
            ("api_listen", Kind::String),
            ("api_prefix", Kind::String),
            ("tls_cert", Kind::String),
            ("tls_key", Kind::String),
            ("tls", Kind::String),
            ("api_host", Kind::String),
            ("registration", Kind::String),
            ("admin_token_file", Kind::String),
            ("trusted_proxies", Kind::List),
            ("secondaries", Kind::List),
            ("tsig_key_file", Kind::String),
            ("tsig_key_name", Kind::String),
            ("tsig_algorithm", Kind::String),
        ],
    },
    Shape {
        uci_type: "blocklist",
        header: "[[blocklist]]",
        repeated: true,
        required: Some("name"),
        keys: &[
            ("name", Kind::String),
            ("files", Kind::List),
            ("allow", Kind::List),
            ("allow_files", Kind::List),
            ("answer", Kind::String),
            ("names_max", Kind::Integer),
            ("cname_inspection", Kind::Bool),
        ],
    },
];

/// `[zone.mail]`, written from a zone's `mail_*` options (UCI has no nesting).
const MAIL_HEADER: &str = "[zone.mail]";
const MAIL_PREFIX: &str = "mail_";
const MAIL_KEYS: &[(&str, Kind)] = &[
    ("mx", Kind::List),
    ("spf", Kind::String),
    ("dmarc", Kind::String),
    ("dkim", Kind::Pairs),
];

/// On every section, never written: a false value drops the section.
const ENABLED: &str = "enabled";

/// Reads the UCI file at `path` and returns its TOML, checked as `check-config`
/// checks a file. Errors name `path` and the UCI line.
pub fn convert_file(path: &Path) -> Result<String, ConfigError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ConfigError {
        file: name.clone(),
        line: 0,
        message: format!("cannot read the UCI file: {e}"),
    })?;
    let text = lines::utf8(bytes, &name)?;
    convert(&text, &name)
}

/// The TOML for the UCI `text`, checked by [`Config::parse`]; `file` names it in
/// errors, whose lines are the UCI file's.
pub fn convert(text: &str, file: &str) -> Result<String, ConfigError> {
    let sections = parse(text, file)?;
    let toml = write(&sections, file)?;
    match Config::parse(&toml.text, file) {
        Ok(_) => Ok(toml.text),
        // An error in a zone file (`option file`) is told at that file's line.
        Err(e) if e.file != file => Err(e),
        Err(e) => Err(toml.map_error(e, &sections)),
    }
}

/// The generated TOML, and for each of its lines where in the UCI file it came
/// from.
struct Toml {
    text: String,
    origins: Vec<Origin>,
}

#[derive(Clone, Copy)]
struct Origin {
    /// The UCI line.
    line: usize,
    /// Index into the parsed sections.
    section: usize,
    /// Index into that section's entries; `None` for its `config` line.
    entry: Option<usize>,
}

impl Toml {
    fn push(&mut self, line: std::fmt::Arguments<'_>, origin: Origin) {
        // Writing to a String cannot fail.
        let _ = std::fmt::Write::write_fmt(&mut self.text, line);
        self.text.push('\n');
        self.origins.push(origin);
    }

    /// `error` from checking the TOML, told at the UCI line its key came from,
    /// with that line's section and option. Line numbers in the message (such
    /// as "the first definition is at line 2") are mapped too.
    fn map_error(&self, error: ConfigError, sections: &[Section]) -> ConfigError {
        let origin = |toml_line: usize| self.origins.get(toml_line.checked_sub(1)?).copied();
        let Some(at) = origin(error.line) else {
            return ConfigError {
                line: 0,
                message: format!("in the TOML made from it: {}", error.message),
                ..error
            };
        };
        let mut message = String::new();
        let mut rest = error.message.as_str();
        while let Some(found) = rest.find("line ") {
            let (before, after) = rest.split_at(found + "line ".len());
            message.push_str(before);
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (number, after) = after.split_at(digits);
            match number.parse().ok().and_then(origin) {
                Some(mapped) => message.push_str(&mapped.line.to_string()),
                None => message.push_str(number),
            }
            rest = after;
        }
        message.push_str(rest);
        let section = &sections[at.section];
        let context = match at.entry.map(|index| &section.entries[index]) {
            Some(entry) => format!("{}: option '{}'", describe(section), entry.name),
            None => describe(section),
        };
        ConfigError {
            file: error.file,
            line: at.line,
            message: format!("{context}: {message}"),
        }
    }
}

/// `section 'zone' ('home')`, or `section 'zone' (@zone[1])` when anonymous (uci's
/// own spelling), as errors name a section.
fn describe(section: &Section) -> String {
    match &section.name {
        Some(name) => format!("section '{}' ('{name}')", section.uci_type),
        None => format!(
            "section '{}' (@{}[{}])",
            section.uci_type, section.uci_type, section.ordinal
        ),
    }
}

/// The TOML of `sections`, in the order of [`SHAPES`]; sections with a false
/// `enabled` are left out.
fn write(sections: &[Section], file: &str) -> Result<Toml, ConfigError> {
    let mut toml = Toml {
        text: String::new(),
        origins: Vec::new(),
    };
    for (index, section) in sections.iter().enumerate() {
        if !SHAPES
            .iter()
            .any(|shape| shape.uci_type == section.uci_type)
        {
            let types: Vec<&str> = SHAPES.iter().map(|shape| shape.uci_type).collect();
            let message = format!(
                "unknown section type '{}': expected one of {}",
                section.uci_type,
                types.join(", ")
            );
            return Err(error(file, section.line, message));
        }
        enabled(section, index, file)?;
    }
    for shape in &SHAPES {
        let mut first: Option<&Section> = None;
        for (index, section) in sections.iter().enumerate() {
            if section.uci_type != shape.uci_type || !enabled(section, index, file)? {
                continue;
            }
            if let (false, Some(first)) = (shape.repeated, first) {
                let message = format!(
                    "{}: a second '{}' section (the first is at line {}): lanseal has one \
                     {}; drop one or give it `option enabled '0'`",
                    describe(section),
                    shape.uci_type,
                    first.line,
                    shape.header
                );
                return Err(error(file, section.line, message));
            }
            first.get_or_insert(section);
            write_section(&mut toml, shape, sections, index, file)?;
        }
    }
    Ok(toml)
}

/// Whether the section is written: its `enabled` option, true when absent. On
/// `config lanseal` it tells the init script whether to start at all, and the
/// top-level keys are written either way.
fn enabled(section: &Section, index: usize, file: &str) -> Result<bool, ConfigError> {
    let Some((position, entry)) = section
        .entries
        .iter()
        .enumerate()
        .find(|(_, entry)| entry.name == ENABLED)
    else {
        return Ok(true);
    };
    let origin = Origin {
        line: entry.line,
        section: index,
        entry: Some(position),
    };
    let text = single(entry, section, file)?;
    let value = boolean(text).ok_or_else(|| bad_value(section, entry, origin, file, Kind::Bool))?;
    Ok(value || section.uci_type == SHAPES[0].uci_type)
}

fn write_section(
    toml: &mut Toml,
    shape: &Shape,
    sections: &[Section],
    index: usize,
    file: &str,
) -> Result<(), ConfigError> {
    let section = &sections[index];
    let header = Origin {
        line: section.line,
        section: index,
        entry: None,
    };
    if !shape.header.is_empty() {
        if !toml.text.is_empty() {
            toml.push(format_args!(""), header);
        }
        toml.push(format_args!("{}", shape.header), header);
    }
    if let Some(required) = shape.required {
        let written = section.entries.iter().any(|entry| entry.name == required);
        match (&section.name, written) {
            (_, true) => {}
            // UCI.md: a named `config cert` or `config blocklist` without
            // `option name` takes the section's name.
            (Some(name), false) if matches!(shape.uci_type, "cert" | "blocklist") => {
                toml.push(format_args!("{required} = {}", Quoted(name)), header);
            }
            _ => {
                let message = format!(
                    "{}: missing option '{required}' (expected `option {required} '...'`)",
                    describe(section)
                );
                return Err(error(file, section.line, message));
            }
        }
    }
    let mut mail = Vec::new();
    for (position, entry) in section.entries.iter().enumerate() {
        let origin = Origin {
            line: entry.line,
            section: index,
            entry: Some(position),
        };
        if entry.name == ENABLED {
            continue;
        }
        let mail_key = (shape.uci_type == "zone")
            .then(|| entry.name.strip_prefix(MAIL_PREFIX))
            .flatten()
            .and_then(|key| kind_of(MAIL_KEYS, key).map(|kind| (key, kind)));
        if let Some((key, kind)) = mail_key {
            mail.push((key, kind, entry, origin));
            continue;
        }
        let Some(kind) = kind_of(shape.keys, &entry.name).filter(|kind| *kind != Kind::Table)
        else {
            return Err(unknown_option(shape, section, entry, file));
        };
        write_entry(toml, &entry.name, kind, (section, entry, origin), file)?;
    }
    if let Some((_, _, _, origin)) = mail.first() {
        toml.push(format_args!(""), *origin);
        toml.push(format_args!("{MAIL_HEADER}"), *origin);
    }
    for (key, kind, entry, origin) in mail {
        write_entry(toml, key, kind, (section, entry, origin), file)?;
    }
    Ok(())
}

fn kind_of(keys: &[(&str, Kind)], name: &str) -> Option<Kind> {
    keys.iter()
        .find(|(key, _)| *key == name)
        .map(|(_, kind)| *kind)
}

fn unknown_option(shape: &Shape, section: &Section, entry: &Entry, file: &str) -> ConfigError {
    let mut options: Vec<String> = shape
        .keys
        .iter()
        .filter(|(_, kind)| *kind != Kind::Table)
        .map(|(key, _)| key.to_string())
        .collect();
    if shape.uci_type == "zone" {
        options.extend(
            MAIL_KEYS
                .iter()
                .map(|(key, _)| format!("{MAIL_PREFIX}{key}")),
        );
    }
    let candidates: Vec<&str> = options.iter().map(String::as_str).collect();
    let mut message = format!("{}: unknown option '{}'", describe(section), entry.name);
    if let Some(nearest) = raw::nearest(&entry.name, &candidates) {
        message.push_str(&format!("; did you mean '{nearest}'?"));
    } else {
        message.push_str(&format!(
            "; a '{}' section takes {}",
            shape.uci_type,
            candidates.join(", ")
        ));
    }
    error(file, entry.line, message)
}

/// One option or list as TOML lines, each with its UCI origin: arrays one item
/// a line, so that an error about an item points at its `list` line.
fn write_entry(
    toml: &mut Toml,
    key: &str,
    kind: Kind,
    (section, entry, origin): (&Section, &Entry, Origin),
    file: &str,
) -> Result<(), ConfigError> {
    let at = |line| Origin { line, ..origin };
    match kind {
        Kind::List => match &entry.value {
            Value::Single(text) => toml.push(format_args!("{key} = [{}]", Quoted(text)), origin),
            Value::List(items) => write_array(toml, key, items, at),
        },
        Kind::Pairs | Kind::PairLists => {
            return write_pairs(toml, key, kind, (section, entry, origin), file);
        }
        Kind::String => {
            let text = single(entry, section, file)?;
            toml.push(format_args!("{key} = {}", Quoted(text)), origin);
        }
        Kind::Bool => match boolean(single(entry, section, file)?) {
            Some(value) => toml.push(format_args!("{key} = {value}"), origin),
            None => return Err(bad_value(section, entry, origin, file, kind)),
        },
        Kind::Integer => match integer(single(entry, section, file)?) {
            Some(value) => toml.push(format_args!("{key} = {value}"), origin),
            None => return Err(bad_value(section, entry, origin, file, kind)),
        },
        Kind::Threads => match single(entry, section, file)? {
            "auto" => toml.push(format_args!("{key} = \"auto\""), origin),
            text => match integer(text).filter(|_| !text.starts_with('-')) {
                Some(value) => toml.push(format_args!("{key} = {value}"), origin),
                None => return Err(bad_value(section, entry, origin, file, kind)),
            },
        },
        Kind::Table => return Err(bad_value(section, entry, origin, file, kind)),
    }
    Ok(())
}

fn write_array(toml: &mut Toml, key: &str, items: &[Item], at: impl Fn(usize) -> Origin) {
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        return;
    };
    if items.len() == 1 {
        toml.push(
            format_args!("{key} = [{}]", Quoted(&first.text)),
            at(first.line),
        );
        return;
    }
    toml.push(format_args!("{key} = ["), at(first.line));
    for item in items {
        toml.push(format_args!("  {},", Quoted(&item.text)), at(item.line));
    }
    toml.push(format_args!("]"), at(last.line));
}

/// `KEY=VALUE` items as dotted keys (`routes."corp.example" = [...]`,
/// `dkim."lan" = "..."`): each key on a line of its own, so an error points at it.
fn write_pairs(
    toml: &mut Toml,
    key: &str,
    kind: Kind,
    (section, entry, origin): (&Section, &Entry, Origin),
    file: &str,
) -> Result<(), ConfigError> {
    let single;
    let items = match &entry.value {
        Value::List(items) => items.as_slice(),
        Value::Single(text) => {
            single = [Item {
                text: text.clone(),
                line: entry.line,
            }];
            &single[..]
        }
    };
    // In order of first appearance; values in file order.
    let mut groups: Vec<(&str, Vec<&Item>, usize)> = Vec::new();
    for item in items {
        let pair = item.text.split_once('=');
        let Some((name, _)) = pair.filter(|(name, value)| !name.is_empty() && !value.is_empty())
        else {
            let origin = Origin {
                line: item.line,
                ..origin
            };
            return Err(bad_value(section, entry, origin, file, kind));
        };
        match groups.iter_mut().find(|(group, _, _)| *group == name) {
            Some((_, values, _)) if kind == Kind::PairLists => values.push(item),
            Some((_, _, first_line)) => {
                let message = format!(
                    "{}: option '{}': `{name}` is given twice (first at line {first_line})",
                    describe(section),
                    entry.name
                );
                return Err(error(file, item.line, message));
            }
            None => groups.push((name, vec![item], item.line)),
        }
    }
    fn value_of(item: &Item) -> Quoted<'_> {
        Quoted(item.text.split_once('=').map_or("", |(_, value)| value))
    }
    for (name, values, line) in groups {
        let at = |line| Origin { line, ..origin };
        let name = Quoted(name);
        match (kind, values.as_slice()) {
            (Kind::Pairs, [value, ..]) => {
                toml.push(format_args!("{key}.{name} = {}", value_of(value)), at(line));
            }
            (_, [.., last]) => {
                toml.push(format_args!("{key}.{name} = ["), at(line));
                for value in &values {
                    toml.push(format_args!("  {},", value_of(value)), at(value.line));
                }
                toml.push(format_args!("]"), at(last.line));
            }
            (_, []) => {}
        }
    }
    Ok(())
}

/// The value of a scalar key: an `option`, not `list` lines.
fn single<'e>(entry: &'e Entry, section: &Section, file: &str) -> Result<&'e str, ConfigError> {
    match &entry.value {
        Value::Single(text) => Ok(text),
        Value::List(_) => {
            let message = format!(
                "{}: option '{}' takes one value: expected `option {} '...'`, not `list`",
                describe(section),
                entry.name,
                entry.name
            );
            Err(error(file, entry.line, message))
        }
    }
}

fn bad_value(
    section: &Section,
    entry: &Entry,
    origin: Origin,
    file: &str,
    kind: Kind,
) -> ConfigError {
    let expected = match kind {
        Kind::Bool => "a boolean (1, yes, on, true, enabled or 0, no, off, false, disabled)",
        Kind::Integer => "an integer (decimal digits, optionally a leading -)",
        Kind::Threads => "`auto` or a number of threads",
        Kind::Pairs => "`SELECTOR=RECORD`",
        Kind::PairLists => "`DOMAIN=UPSTREAM`",
        Kind::Table => "a section of its own (`config TYPE`), not an option",
        Kind::String | Kind::List => "a value",
    };
    let found = match &entry.value {
        Value::Single(text) => text.as_str(),
        Value::List(items) => items
            .iter()
            .find(|item| item.line == origin.line)
            .map_or("", |item| item.text.as_str()),
    };
    let message = format!(
        "{}: option '{}': expected {expected}, found `{found}`",
        describe(section),
        entry.name
    );
    error(file, origin.line, message)
}

/// UCI's boolean words (as OpenWrt's `config_get_bool`), any case.
fn boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" | "enabled" => Some(true),
        "0" | "no" | "off" | "false" | "disabled" => Some(false),
        _ => None,
    }
}

/// Decimal digits with an optional leading `-` (no `+`, no spaces), within i64.
fn integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Shown as a TOML basic string: `"` and `\` escaped, and every control
/// character (TOML allows none but the tab unescaped; a UCI value may hold
/// newlines).
struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\t' => f.write_str("\\t")?,
                '\r' => f.write_str("\\r")?,
                c if c.is_control() => write!(f, "\\u{:04X}", u32::from(c))?,
                c => std::fmt::Write::write_char(f, c)?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn toml(uci: &str) -> String {
        convert(uci, "lanseal").unwrap()
    }

    fn err(uci: &str) -> ConfigError {
        convert(uci, "lanseal").unwrap_err()
    }

    /// The generated TOML as a table, to compare meaning rather than layout.
    fn table(uci: &str) -> toml::Table {
        toml::from_str(&toml(uci)).unwrap()
    }

    fn expected(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    fn assert_errors(cases: &[(&str, usize, &str)]) {
        super::syntax::tests::assert_errors_with(err, cases);
    }

    #[test]
    fn the_example_of_uci_md() {
        let uci = "\
package lanseal

config lanseal 'main'
	option enabled '1'
	option state_dir '/etc/lanseal'
	option user 'lanseal'

config dns
	list listen '127.0.0.1:5353'
	option resolv_file '/tmp/resolv.conf.d/resolv.conf.auto'
	list leases '/tmp/dhcp.leases'
	list routes 'corp.example=10.0.0.1'

config zone 'home'
	option name 'home.example.com'
	option ip_names '1'
	list records 'router A 192.168.1.1'
	list records 'nas 300 A 192.168.1.10'
	option mail_spf 'v=spf1 -all'

config cert 'router'
	list domains 'router.home.example.com'
	option delegate 'https://auth.example.org'
	option openwrt_acme_links '1'

config api
	option listen '127.0.0.1:8053'
	option token_file '/etc/lanseal/api.token'

config delegate
	option enabled '0'
	option zone 'auth.example.org'
";
        let toml_text = r#"
state_dir = "/etc/lanseal"
user = "lanseal"

[dns]
listen = ["127.0.0.1:5353"]
resolv_file = "/tmp/resolv.conf.d/resolv.conf.auto"
leases = ["/tmp/dhcp.leases"]
routes = { "corp.example" = ["10.0.0.1"] }

[[zone]]
name = "home.example.com"
ip_names = true
records = ["router A 192.168.1.1", "nas 300 A 192.168.1.10"]

[zone.mail]
spf = "v=spf1 -all"

[[cert]]
name = "router"
domains = ["router.home.example.com"]
delegate = "https://auth.example.org"
openwrt_acme_links = true

[api]
listen = "127.0.0.1:8053"
token_file = "/etc/lanseal/api.token"
"#;
        assert_eq!(table(uci), expected(toml_text));
        let config = Config::parse(&toml(uci), "t.toml").unwrap();
        assert_eq!(config.user.as_deref(), Some("lanseal"));
        assert_eq!(config.certs.len(), 1);
        assert!(config.delegate.is_none());
    }

    #[test]
    fn values_by_type() {
        let uci = "\
config dns
	option listen '[::1]:53'
	option threads 'auto'
	option rate_limit_qps '0'
	option ttl_min '-0'
	option cache_entries_max '500'
	option rebind_protection 'Off'
	option bogus_priv 'yes'
	option domain_needed 'disabled'
	option serve_stale 'TRUE'
	option resolv_file ''
	list upstreams '127.0.0.1:5399'
	list upstreams 'tls://127.0.0.1:8853#dns.test'
config zone
	option name 'a.test'
	option ttl '60'
	option mail_spf 'v=spf1 \"quoted\" -all'
	list mail_dkim 'lan=v=DKIM1; k=ed25519; p=AAAA'
	list mail_dkim 'old=v=DKIM1; p=BBBB'
	list mail_mx '10 mail.a.test.'
config zone
	option name 'b.test'
	option mode 'authoritative'
";
        let toml_text = r#"
[dns]
listen = ["[::1]:53"]
threads = "auto"
rate_limit_qps = 0
ttl_min = 0
cache_entries_max = 500
rebind_protection = false
bogus_priv = true
domain_needed = false
serve_stale = true
resolv_file = ""
upstreams = ["127.0.0.1:5399", "tls://127.0.0.1:8853#dns.test"]

[[zone]]
name = "a.test"
ttl = 60
[zone.mail]
spf = 'v=spf1 "quoted" -all'
dkim = { lan = "v=DKIM1; k=ed25519; p=AAAA", old = "v=DKIM1; p=BBBB" }
mx = ["10 mail.a.test."]

[[zone]]
name = "b.test"
mode = "authoritative"
"#;
        assert_eq!(table(uci), expected(toml_text));
        let threads = table("config dns\n\toption threads '3'\n");
        assert_eq!(threads["dns"]["threads"].as_integer(), Some(3));
    }

    #[test]
    fn routes_accumulate_per_domain_in_order() {
        let uci = "\
config dns
	option resolv_file ''
	list routes 'corp.example=10.0.0.1'
	list routes 'lab.example=tls://192.168.9.1#dns.lab.example'
	list routes 'corp.example=10.0.0.2'
";
        let toml_text = r#"
[dns]
resolv_file = ""
routes = { "corp.example" = ["10.0.0.1", "10.0.0.2"], "lab.example" = ["tls://192.168.9.1#dns.lab.example"] }
"#;
        assert_eq!(table(uci), expected(toml_text));
        let one = table("config dns\n\toption routes 'corp.example=10.0.0.1'\n");
        assert_eq!(
            one["dns"]["routes"]["corp.example"][0].as_str(),
            Some("10.0.0.1")
        );
    }

    #[test]
    fn sections_and_sameness() {
        // The later option wins, list lines accumulate; a named section reopens.
        let uci = "\
config lanseal 'main'
	option enabled '0'
	option log_level 'warn'
	option log_level 'debug'
config cert 'router'
	list domains 'a.test'
	option delegate 'https://auth.test'
config cert
	option name 'other'
	option domains 'b.test'
	option delegate 'https://auth.test'
config cert 'router'
	list domains 'c.test'
config zone
	option enabled 'no'
	option name 'off.test'
config api
	option enabled '1'
config dns
	option enabled '0'
config dns
	option resolv_file ''
";
        let toml_text = r#"
log_level = "debug"
[dns]
resolv_file = ""
[[cert]]
name = "router"
domains = ["a.test", "c.test"]
delegate = "https://auth.test"
[[cert]]
name = "other"
domains = ["b.test"]
delegate = "https://auth.test"
[api]
"#;
        assert_eq!(table(uci), expected(toml_text));
        // No mail options: no [zone.mail].
        let zone = table("config zone\n\toption name 'a.test'\n");
        assert!(zone["zone"][0].get("mail").is_none());
        assert_eq!(toml(""), "");
        assert_eq!(toml("# only a comment\n\npackage lanseal\n"), "");
    }

    #[test]
    fn mapping_errors_name_section_option_and_expectation() {
        assert_errors(&[
            (
                "config dns\nconfig dnss\n",
                2,
                "unknown section type 'dnss': expected one of lanseal, dns, zone, acme, cert, api, delegate",
            ),
            (
                "config dns\n\toption resolv_file ''\nconfig dns\n",
                3,
                "section 'dns' (@dns[1]): a second 'dns' section (the first is at line 1)",
            ),
            (
                "config lanseal\nconfig lanseal 'main'\n",
                2,
                "a second 'lanseal' section",
            ),
            (
                "config dns\n\toption resolv_file ''\n\toption cache_entry_max '5'\n",
                3,
                "section 'dns' (@dns[0]): unknown option 'cache_entry_max'; did you mean 'cache_entries_max'?",
            ),
            (
                "config zone 'home'\n\toption name 'a.test'\n\toption mail_spff 'x'\n",
                3,
                "section 'zone' ('home'): unknown option 'mail_spff'; did you mean 'mail_spf'?",
            ),
            (
                "config api\n\toption frobnicate '1'\n",
                2,
                "a 'api' section takes listen, token_file, keys_endpoint, metrics_public",
            ),
            (
                "config lanseal\n\toption dns 'x'\n",
                2,
                "unknown option 'dns'",
            ),
            (
                "config zone\n\toption ttl '60'\n",
                1,
                "section 'zone' (@zone[0]): missing option 'name' (expected `option name '...'`)",
            ),
            (
                "config cert\n\tlist domains 'a.test'\n",
                1,
                "missing option 'name'",
            ),
            (
                "config delegate\n\toption ns 'ns1.auth.test.'\n",
                1,
                "missing option 'zone'",
            ),
            (
                "config zone\n\toption name 'a.test'\n\toption ttl '6O'\n",
                3,
                "option 'ttl': expected an integer (decimal digits, optionally a leading -), found `6O`",
            ),
            (
                "config zone\n\toption name 'a.test'\n\toption ttl '+60'\n",
                3,
                "expected an integer",
            ),
            (
                "config zone\n\toption name 'a.test'\n\toption ttl '99999999999999999999'\n",
                3,
                "expected an integer",
            ),
            (
                "config zone\n\toption name 'a.test'\n\toption ip_names 'maybe'\n",
                3,
                "option 'ip_names': expected a boolean",
            ),
            (
                "config zone\n\toption name 'a.test'\n\toption enabled '2'\n",
                3,
                "option 'enabled': expected a boolean",
            ),
            (
                "config dns\n\toption threads '-1'\n",
                2,
                "option 'threads': expected `auto` or a number of threads, found `-1`",
            ),
            (
                "config zone\n\tlist name 'a.test'\n\tlist name 'b.test'\n",
                2,
                "option 'name' takes one value: expected `option name '...'`, not `list`",
            ),
            (
                "config dns\n\tlist routes 'corp.example=10.0.0.1'\n\tlist routes 'corp.example'\n",
                3,
                "option 'routes': expected `DOMAIN=UPSTREAM`, found `corp.example`",
            ),
            (
                "config dns\n\tlist routes '=10.0.0.1'\n",
                2,
                "expected `DOMAIN=UPSTREAM`",
            ),
            (
                "config dns\n\tlist routes 'corp.example='\n",
                2,
                "expected `DOMAIN=UPSTREAM`",
            ),
            (
                "config zone\n\toption name 'a.test'\n\tlist mail_dkim 'lan=v=DKIM1; p=A'\n\tlist mail_dkim 'lan=v=DKIM1; p=B'\n",
                4,
                "option 'mail_dkim': `lan` is given twice (first at line 3)",
            ),
        ]);
    }

    /// What `Config::parse` finds wrong in the TOML is told at the UCI line the
    /// key came from, with its section and option.
    #[test]
    fn checked_errors_point_at_uci_lines() {
        assert_errors(&[
            (
                "config dns\n\tlist listen '127.0.0.1:53'\n\tlist listen '127.0.0.1:70000'\n",
                3,
                "section 'dns' (@dns[0]): option 'listen': ",
            ),
            (
                "config lanseal 'main'\n\toption log_level 'loud'\n",
                2,
                "section 'lanseal' ('main'): option 'log_level': log_level `loud`: expected one of error",
            ),
            (
                "config dns\n\toption resolv_file ''\n\n\tlist routes 'a.example=10.0.0.1'\n\tlist routes 'a.example=10.0.0.300'\n",
                5,
                "option 'routes': upstream `10.0.0.300`",
            ),
            (
                "config zone\n\toption name 'a.test'\n\tlist records 'www A 192.0.2.1'\n\tlist records 'www A 192.0.2.999'\n",
                4,
                "section 'zone' (@zone[0]): option 'records': ",
            ),
            (
                "config zone\n\toption name 'a.test'\n\toption mail_dmarc 'v=DMARC1'\n\tlist mail_mx 'ten mail.a.test.'\n",
                4,
                "option 'mail_mx': ",
            ),
            (
                "config cert 'router'\n\tlist domains 'a.test'\n\toption delegate 'https://auth.test'\n\toption key_type 'dsa'\n",
                4,
                "section 'cert' ('router'): option 'key_type': ",
            ),
        ]);
        // A line number inside the message is the UCI file's too.
        let e = err(
            "config zone\n\toption name 'a.test'\n\n\n\nconfig zone 'again'\n\toption name 'a.test.'\n",
        );
        assert_eq!(e.line, 7, "{e}");
        assert!(
            e.message.contains("the first definition is at line 2"),
            "{e}"
        );
        assert!(e.to_string().starts_with("lanseal:7: section 'zone' ('again'): option 'name': zone `a.test.` is defined twice"), "{e}");
    }

    /// `option file`: the zone file's own errors are told at its line, not at a
    /// UCI line.
    #[test]
    fn a_zone_file_error_names_the_zone_file() {
        let path = std::env::temp_dir().join(format!("lanseal-uci-{}.zone", std::process::id()));
        std::fs::write(&path, "ok A 192.0.2.1\nbad A 192.0.2.999\n").unwrap();
        let uci = format!(
            "config zone\n\toption name 'a.test'\n\toption file '{}'\n\toption include '1'\n",
            path.display()
        );
        let e = err(&uci);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            (e.file.as_str(), e.line),
            (path.to_str().unwrap(), 2),
            "{e}"
        );
        assert!(e.message.starts_with("zone `a.test`: A record: "), "{e}");
        let toml = table("config zone\n\toption name 'a.test'\n\toption include '0'\n");
        assert_eq!(toml["zone"][0]["include"].as_bool(), Some(false));
    }

    #[test]
    fn strings_are_escaped_for_toml() {
        for text in [
            "plain",
            "",
            "q\"uote",
            "back\\slash",
            "new\nline\r\n",
            "tab\there",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{85}",
            "é ünicode ✓",
            "'single'",
        ] {
            let value: toml::Table = toml::from_str(&format!("x = {}", Quoted(text))).unwrap();
            assert_eq!(value["x"].as_str(), Some(text), "{text:?}");
        }
        let uci = "config lanseal\n\toption user \"multi\nline \\\"user\\\"\"\n";
        assert_eq!(table(uci)["user"].as_str(), Some("multi\nline \"user\""));
    }

    #[test]
    fn booleans_and_integers() {
        for (text, value) in [
            ("1", true),
            ("yes", true),
            ("ON", true),
            ("True", true),
            ("enabled", true),
            ("0", false),
            ("no", false),
            ("off", false),
            ("FALSE", false),
            ("Disabled", false),
        ] {
            assert_eq!(boolean(text), Some(value), "{text}");
        }
        for text in ["", "2", "y", "nope", " 1"] {
            assert_eq!(boolean(text), None, "{text:?}");
        }
        for (text, value) in [
            ("0", Some(0)),
            ("-5", Some(-5)),
            ("007", Some(7)),
            ("9223372036854775807", Some(i64::MAX)),
            ("", None),
            ("-", None),
            ("+1", None),
            ("1 ", None),
            ("1e3", None),
            ("9223372036854775808", None),
        ] {
            assert_eq!(integer(text), value, "{text:?}");
        }
    }

    /// Malformed input never panics: texts made of UCI's tricky pieces, in a
    /// fixed pseudo-random order, each converted or refused with an error.
    #[test]
    fn no_input_panics() {
        const PIECES: [&str; 26] = [
            "config ",
            "option ",
            "list ",
            "package ",
            "c ",
            " ",
            "\t",
            "\n",
            "\r\n",
            "'",
            "\"",
            "\\",
            "#",
            ";",
            "dns",
            "zone ",
            "name ",
            "a.test ",
            "listen ",
            "=",
            "enabled ",
            "0",
            "mail_dkim ",
            "routes ",
            "records ",
            "é",
        ];
        let mut state: u64 = 0x5eed;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..(state % 40) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(PIECES[(state >> 33) as usize % PIECES.len()]);
            }
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if let Err(e) = convert(&text, "lanseal") {
                assert!(!e.message.is_empty(), "{text:?}");
            }
        }
        // Well-formed sections of every type with their own keys and every kind
        // of value, to reach the mapping and the check of the TOML.
        let values = [
            "1",
            "0",
            "-3",
            "auto",
            "a.test",
            "a.test=127.0.0.1",
            "=",
            "127.0.0.1:53",
            "",
            "www A 192.0.2.1",
            "it's",
            "two\nlines",
            "https://auth.test",
            "lan=v=DKIM1",
        ];
        let mut pick = |count: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % count
        };
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..pick(5) {
                let shape = &SHAPES[pick(SHAPES.len())];
                text.push_str(&format!("config {}\n", shape.uci_type));
                let mut names: Vec<String> =
                    shape.keys.iter().map(|(key, _)| key.to_string()).collect();
                names.extend(
                    MAIL_KEYS
                        .iter()
                        .map(|(key, _)| format!("{MAIL_PREFIX}{key}")),
                );
                names.push(ENABLED.to_string());
                for _ in 0..pick(8) {
                    let keyword = ["option", "option", "list"][pick(3)];
                    let name = &names[pick(names.len())];
                    let value = values[pick(values.len())];
                    text.push_str(&format!("\t{keyword} {name} '{value}'\n"));
                }
            }
            if let Err(e) = convert(&text, "lanseal") {
                assert!(!e.message.is_empty(), "{text:?}");
            }
        }
    }

    /// The key lists here are `raw`'s: the same keys per table, and the kind each
    /// is given is one serde takes (and a wrong kind one it refuses), so a key
    /// added to or retyped in `raw.rs` fails this test until the table follows.
    #[test]
    fn keys_and_kinds_match_raw() {
        let header_label = |header: &str| match header {
            "" => "at the top level".to_string(),
            header => format!("in {header}"),
        };
        type Keys = &'static [(&'static str, Kind)];
        let mut tables: Vec<(String, &str, Keys)> = SHAPES
            .iter()
            .map(|shape| (header_label(shape.header), shape.header, shape.keys))
            .collect();
        tables.push((header_label(MAIL_HEADER), MAIL_HEADER, MAIL_KEYS));
        let sections = raw::sections();
        assert_eq!(tables.len(), sections.len());
        for (label, header, keys) in &tables {
            let (_, raw_keys) = sections.iter().find(|(name, _)| name == label).unwrap();
            let mut ours: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
            let mut theirs = raw_keys.to_vec();
            ours.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(ours, theirs, "{label}");
            assert!(
                !ours.contains(&ENABLED),
                "`enabled` is never a key: {label}"
            );
            if *header == "[[zone]]" {
                assert!(!ours.iter().any(|key| key.starts_with(MAIL_PREFIX)));
            }
            for (key, kind) in keys.iter() {
                let (good, bad): (&[&str], &[&str]) = match kind {
                    Kind::String => (&["\"x\""], &["1", "[\"x\"]"]),
                    Kind::Bool => (&["true"], &["\"x\"", "1"]),
                    Kind::Integer => (&["1"], &["\"x\"", "true"]),
                    Kind::List => (&["[\"x\"]"], &["\"x\"", "[1]"]),
                    Kind::Threads => (&["1", "\"x\""], &["true"]),
                    Kind::Pairs => (&["{ a = \"x\" }"], &["{ a = [\"x\"] }"]),
                    Kind::PairLists => (&["{ a = [\"x\"] }"], &["{ a = \"x\" }"]),
                    Kind::Table => continue,
                };
                let document = |value: &str| {
                    let required = match *header {
                        "[[zone]]" | "[[cert]]" | "[[blocklist]]" if *key != "name" => {
                            "name = \"a\"\n"
                        }
                        "[delegate]" if *key != "zone" => "zone = \"a\"\n",
                        _ => "",
                    };
                    match *header {
                        "" => format!("{key} = {value}\n"),
                        MAIL_HEADER => {
                            format!("[[zone]]\nname = \"a\"\n[zone.mail]\n{key} = {value}\n")
                        }
                        header => format!("{header}\n{required}{key} = {value}\n"),
                    }
                };
                for value in good {
                    let text = document(value);
                    if let Err(e) = toml::from_str::<raw::File>(&text) {
                        panic!("{label} `{key}` as {kind:?}: {text:?} refused: {e}");
                    }
                }
                for value in bad {
                    let text = document(value);
                    assert!(
                        toml::from_str::<raw::File>(&text).is_err(),
                        "{label} `{key}` as {kind:?}: {text:?} taken"
                    );
                }
            }
        }
    }
}
