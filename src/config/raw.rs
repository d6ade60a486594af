//! The literal image of the TOML file: what the user wrote, with spans for errors.
//! Unknown keys are rejected here; meaning and defaults are `super::resolve`'s job.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub state_dir: Option<String>,
    pub log_level: Option<Spanned<String>>,
    pub user: Option<String>,
    pub dns: Option<Dns>,
    #[serde(default)]
    pub zone: Vec<Zone>,
    pub delegate: Option<Delegate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegate {
    pub zone: Spanned<String>,
    pub ns: Option<Spanned<Vec<Spanned<String>>>>,
    pub ns_addresses: Option<Vec<Spanned<String>>>,
    pub soa_email: Option<Spanned<String>>,
    pub api_listen: Option<Spanned<String>>,
    pub api_prefix: Option<Spanned<String>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    pub registration: Option<Spanned<String>>,
    pub admin_token_file: Option<Spanned<String>>,
    pub trusted_proxies: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    pub listen: Option<Spanned<Vec<Spanned<String>>>>,
    pub threads: Option<Spanned<Threads>>,
    pub tcp_connections_max: Option<Spanned<i64>>,
    pub tcp_idle_timeout_ms: Option<Spanned<i64>>,
    pub acl: Option<Spanned<Vec<Spanned<String>>>>,
    pub rate_limit_qps: Option<Spanned<i64>>,
    pub leases: Option<Vec<Spanned<String>>>,
    pub hosts: Option<Vec<Spanned<String>>>,
    pub lease_domain: Option<Spanned<String>>,
    pub upstreams: Option<Vec<Spanned<String>>>,
    pub resolv_file: Option<Spanned<String>>,
    pub routes: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    pub upstream_ca_file: Option<Spanned<String>>,
    pub rebind_protection: Option<bool>,
    pub rebind_allow: Option<Vec<Spanned<String>>>,
    pub bogus_priv: Option<bool>,
    pub domain_needed: Option<bool>,
    pub serve_stale: Option<bool>,
    pub cache_entries_max: Option<Spanned<i64>>,
    pub cache_bytes_max: Option<Spanned<i64>>,
    pub ttl_min: Option<Spanned<i64>>,
    pub ttl_max: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Threads {
    Count(i64),
    Word(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: Spanned<String>,
    pub mode: Option<Spanned<String>>,
    pub ttl: Option<Spanned<i64>>,
    pub ip_names: Option<bool>,
    pub ip_names_private_only: Option<bool>,
    #[serde(default)]
    pub records: Vec<Spanned<String>>,
    pub mail: Option<Mail>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    pub mx: Option<Vec<Spanned<String>>>,
    pub spf: Option<Spanned<String>>,
    pub dmarc: Option<Spanned<String>>,
    pub dkim: Option<BTreeMap<String, Spanned<String>>>,
}
