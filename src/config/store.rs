//! `[store]`: where the delegate's shared data lives. `backend = "sqlite"`
//! (the default): the node's own file, `<state_dir>/lanseal.db`, like every
//! other role's state. `backend = "postgres"` (builds with the `postgres`
//! feature only): a PostgreSQL database several delegate API nodes share, its
//! libpq-style URL in `url_file` (it may hold a password: the daemon refuses
//! the file unless it is 0600, as it does the TSIG key). Per-node state stays
//! in the node's SQLite file either way. A build without the feature refuses
//! `"postgres"` here, at its line, rather than starting as a lone node.

#[cfg(feature = "postgres")]
use std::path::PathBuf;

use super::{ConfigError, Lines, raw};

/// The resolved `[store]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Store {
    /// The node's SQLite file.
    #[default]
    Sqlite,
    /// A PostgreSQL database several delegate nodes share.
    #[cfg(feature = "postgres")]
    Postgres {
        /// Holds the URL (`postgresql://user:password@host:port/dbname`).
        url_file: PathBuf,
    },
}

/// The `[store]` section resolved; `section_at` is its header's offset and
/// `delegate` whether `[delegate]` is present (the only role PostgreSQL serves).
pub(super) fn resolve(
    raw: Option<raw::Store>,
    delegate: bool,
    section_at: usize,
    lines: &Lines<'_>,
) -> Result<Store, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Store::Sqlite);
    };
    let backend = raw
        .backend
        .as_ref()
        .map(|b| (b.get_ref().as_str(), b.span().start));
    match backend {
        None | Some(("sqlite", _)) => {
            if let Some(url_file) = &raw.url_file {
                return Err(lines.error(
                    url_file.span().start,
                    "store.url_file: only for backend = \"postgres\"",
                ));
            }
            Ok(Store::Sqlite)
        }
        Some(("postgres", at)) => postgres(raw.url_file, delegate, at, section_at, lines),
        Some((other, at)) => Err(lines.error(
            at,
            format!("store.backend `{other}`: expected \"sqlite\" or \"postgres\""),
        )),
    }
}

#[cfg(not(feature = "postgres"))]
fn postgres(
    _url_file: Option<toml::Spanned<String>>,
    _delegate: bool,
    at: usize,
    _section_at: usize,
    lines: &Lines<'_>,
) -> Result<Store, ConfigError> {
    Err(lines.error(
        at,
        "store.backend = \"postgres\": this lanseal was built without the postgres feature \
         (cargo build --features postgres)",
    ))
}

#[cfg(feature = "postgres")]
fn postgres(
    url_file: Option<toml::Spanned<String>>,
    delegate: bool,
    at: usize,
    section_at: usize,
    lines: &Lines<'_>,
) -> Result<Store, ConfigError> {
    if !delegate {
        return Err(lines.error(
            at,
            "store.backend = \"postgres\" holds the delegate's shared data: it needs [delegate]",
        ));
    }
    match url_file {
        Some(file) if !file.get_ref().trim().is_empty() => Ok(Store::Postgres {
            url_file: PathBuf::from(file.into_inner()),
        }),
        Some(file) => Err(lines.error(
            file.span().start,
            "store.url_file: expected a file path (a 0600 file holding the PostgreSQL URL)",
        )),
        None => Err(lines.error(
            section_at,
            "store.backend = \"postgres\" needs url_file (a 0600 file holding the PostgreSQL URL)",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::tests::assert_errors;

    const DELEGATE: &str = "[delegate]\nzone = \"auth.example.org\"\n\
        ns = [\"ns1.auth.example.org\"]\nns_addresses = [\"192.0.2.1\"]\n";

    #[test]
    fn errors_name_line_and_expectation() {
        assert_errors(&[
            (
                format!("{DELEGATE}[store]\nbackend = \"mysql\"\n"),
                6,
                "expected \"sqlite\" or \"postgres\"",
            ),
            (
                format!("{DELEGATE}[store]\nurl_file = \"/etc/pg.url\"\n"),
                6,
                "only for backend = \"postgres\"",
            ),
        ]);
    }

    /// A build without the feature says so at the line that asks for it.
    #[cfg(not(feature = "postgres"))]
    #[test]
    fn postgres_needs_the_feature() {
        assert_errors(&[(
            format!("{DELEGATE}[store]\nbackend = \"postgres\"\nurl_file = \"/etc/pg.url\"\n"),
            6,
            "this lanseal was built without the postgres feature",
        )]);
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_needs_a_url_file_and_the_delegate() {
        use super::super::Config;
        use super::Store;
        assert_errors(&[
            (
                format!("{DELEGATE}[store]\nbackend = \"postgres\"\n"),
                5,
                "needs url_file",
            ),
            (
                "[store]\nbackend = \"postgres\"\nurl_file = \"/p\"\n".to_string(),
                2,
                "it needs [delegate]",
            ),
        ]);
        let text = format!("{DELEGATE}[store]\nbackend = \"postgres\"\nurl_file = \"/p\"\n");
        let config = Config::parse(&text, "t.toml").unwrap();
        assert_eq!(
            config.store,
            Store::Postgres {
                url_file: "/p".into()
            }
        );
    }
}
