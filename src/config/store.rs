//! `[store]`: where the delegate's shared data lives. `backend = "sqlite"`
//! (the default): the node's own file, `<state_dir>/lanseal.db`, like every
//! other role's state. `backend = "postgres"` (builds with the `postgres`
//! feature only): a PostgreSQL database several delegate API nodes share, its
//! libpq-style URL in `url_file` (it may hold a password: the daemon refuses
//! the file unless it is 0600, as it does the TSIG key). Per-node state stays
//! in the node's SQLite file either way. A build without the feature refuses
//! `"postgres"` here, at its line, rather than starting as a lone node.

use std::collections::BTreeMap;
#[cfg(feature = "postgres")]
use std::path::PathBuf;

use toml::Spanned;

use super::{ConfigError, Lines};

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

/// The `[store]` section resolved; `delegate` is whether `[delegate]` is
/// present (the only role PostgreSQL serves). The section is a table of
/// strings (`raw::File::store`): unknown keys are refused here.
pub(super) fn resolve(
    raw: Option<BTreeMap<String, Spanned<String>>>,
    delegate: bool,
    lines: &Lines<'_>,
) -> Result<Store, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Store::Sqlite);
    };
    let (mut backend, mut url_file) = (None, None);
    for (key, value) in raw {
        match key.as_str() {
            "backend" => backend = Some(value),
            "url_file" => url_file = Some(value),
            _ => {
                return Err(lines.error(
                    value.span().start,
                    format!("unknown key `{key}` in [store]: expected backend or url_file"),
                ));
            }
        }
    }
    let Some(backend) = backend else {
        return match url_file {
            Some(url_file) => Err(only_postgres(&url_file, lines)),
            None => Ok(Store::Sqlite),
        };
    };
    match backend.get_ref().as_str() {
        "sqlite" => match url_file {
            Some(url_file) => Err(only_postgres(&url_file, lines)),
            None => Ok(Store::Sqlite),
        },
        "postgres" => postgres(url_file, delegate, backend.span().start, lines),
        other => Err(lines.error(
            backend.span().start,
            format!("store.backend `{other}`: expected \"sqlite\" or \"postgres\""),
        )),
    }
}

fn only_postgres(url_file: &Spanned<String>, lines: &Lines<'_>) -> ConfigError {
    lines.error(
        url_file.span().start,
        "store.url_file: only for backend = \"postgres\"",
    )
}

#[cfg(not(feature = "postgres"))]
fn postgres(
    _url_file: Option<Spanned<String>>,
    _delegate: bool,
    at: usize,
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
    url_file: Option<Spanned<String>>,
    delegate: bool,
    at: usize,
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
            at,
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
            (
                format!("{DELEGATE}[store]\nbackend = \"sqlite\"\nurl = \"x\"\n"),
                7,
                "unknown key `url` in [store]",
            ),
            (
                format!("{DELEGATE}[store]\nbackend = 1\n"),
                6,
                "invalid type",
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
                6,
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
