//! The entry points of the fuzz targets in `tests/fuzz/` (cargo-fuzz on nightly,
//! run by `tests/reliability/fuzz.sh`): one function per target, each taking one
//! fuzzer input into a real path of the daemon, built from a small fixture
//! config as the daemon builds it. Compiled only with the `fuzzing` feature
//! (the fuzz crate turns it on) and in unit tests, which replay the checked-in
//! corpus through the same functions: nothing of it is in a shipped binary.
//!
//! - [`dns_answer`] — a query into the [`crate::dns::answer::Answerer`] the
//!   DNS threads use (zones with wildcards, CNAME chains, IP names, an overlay
//!   zone, lease and hosts names, the delegate's dynamic zone, a runtime
//!   record); where it goes upstream, the rest of the input as the upstream's
//!   answer through the forwarder's checks, the cache and `complete`, then the
//!   same query again (now from the cache).
//! - [`config_toml`], [`config_uci`] — [`crate::config::Config::parse`] and
//!   `lanseal config from-uci`'s [`crate::config::uci::convert`].
//! - [`http_api`], [`http_delegate`] — bytes from a client into one HTTP
//!   connection (hyper, our limits, the watch phases) over an in-memory stream,
//!   with the local API's handler or the delegate's.
//! - [`delegate_body`] — a `POST /register` or `POST /update` body into the
//!   delegate's handler, with valid credentials for the updates.
//! - [`dns_xfr`] — a request into the zone transfer path (`dns::xfr`'s
//!   parsing and refusals, `dns::tsig::check` against a fixed key), or an
//!   answer into the NOTIFY answer check.
//!
//! Besides "no panic", each checks what must hold of every answer (a DNS
//! response walks to its end and fits the transport, an HTTP answer is HTTP,
//! a config error names a line of the input, a connection ends soon after its
//! input): a broken one panics, which the fuzzer reports as a crash.

// Harness code, like a test: a fixture that cannot be built is a broken harness
// and must stop the fuzzer at once.
#![allow(clippy::expect_used)]

mod config;
mod delegate;
mod dns;
mod fixture;
mod http;
mod xfr;

pub use config::{config_toml, config_uci};
pub use delegate::delegate_body;
pub use dns::dns_answer;
pub use http::{http_api, http_delegate};
pub use xfr::dns_xfr;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    /// Runs every checked-in corpus file of `target` through `run`.
    fn replay(target: &str, run: fn(&[u8])) {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz/corpus")
            .join(target);
        let mut files: Vec<_> = std::fs::read_dir(&corpus)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus in {}", corpus.display());
        for file in files {
            run(&std::fs::read(&file).unwrap());
        }
    }

    #[test]
    fn dns_answer_corpus() {
        replay("dns_answer", super::dns_answer);
    }

    #[test]
    fn config_toml_corpus() {
        replay("config_toml", super::config_toml);
    }

    #[test]
    fn config_uci_corpus() {
        replay("config_uci", super::config_uci);
    }

    #[test]
    fn http_api_corpus() {
        replay("http_api", super::http_api);
    }

    #[test]
    fn http_delegate_corpus() {
        replay("http_delegate", super::http_delegate);
    }

    #[test]
    fn delegate_body_corpus() {
        replay("delegate_body", super::delegate_body);
    }

    #[test]
    fn dns_xfr_corpus() {
        replay("dns_xfr", super::dns_xfr);
    }
}
