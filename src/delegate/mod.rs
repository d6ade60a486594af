//! The delegate role: an acme-dns-compatible ACME-challenge delegate. `api` serves
//! the HTTP API, `zone` answers each account's records in the authoritative zone
//! (whose static part is an ordinary local zone built from `[delegate]`), `creds`
//! makes and checks credentials; accounts and TXT values live in `crate::store`.

pub mod api;
pub mod creds;
pub mod zone;
