//! The fixture every target is built from: one config as the daemon loads it,
//! its control state (zones, lease and hosts names, the forwarder and its
//! cache, the delegate's zone), an in-memory store, and the delegate's API.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::config::Config;
use crate::control::{Control, State};
use crate::counters::Counters;
use crate::delegate::api::Api;
use crate::delegate::zone::DelegateRecords;
use crate::store::{self, Account, Store};

/// The local API's token (the corpus and the dictionary carry it).
pub const API_TOKEN: &str = "fuzz-token-0123456789abcdef";
/// The delegate account every update is made for (its key hash is bcrypt of
/// cost [`ACCOUNT_BCRYPT_COST`], so an update costs a millisecond, not 50).
pub const ACCOUNT_USER: &str = "c36f50e8-4632-44f0-83fe-e070fb9e4d9a";
pub const ACCOUNT_KEY: &str = "ModYGGTPvOjyV3b2nVZpJvSUhHFjK3DpTPWgQYaA";
pub const ACCOUNT_SUBDOMAIN: &str = "8e5700ea-a4bf-4ae2-9f8d-23b1ac05ca0d";
/// The account admits updates from here only (the updates come from 10/8).
const ACCOUNT_ALLOWFROM: &str = "10.0.0.0/8";
/// bcrypt's least cost.
const ACCOUNT_BCRYPT_COST: u32 = 4;

/// Zones with the shapes the resolver treats apart: wildcards, CNAME chains
/// (local, looping, leaving local data), empty non-terminals, IP names, mail
/// records, an overlay zone, lease and hosts names (`{dir}`: where the fixture
/// writes those files), a blocklist naming the target of the corpus's upstream
/// CNAME (so those answers take the CNAME-cloaking path), the delegate zone
/// and the local API. Upstreams exist
/// (so the cache does) but are never asked: the inputs answer for them.
const CONFIG: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
resolv_file = ""
upstreams = ["127.0.0.1:9"]
routes = { "corp.test" = ["127.0.0.1:9"] }
leases = ["{dir}/leases"]
hosts = ["{dir}/hosts"]
lease_domain = "lan"
rebind_allow = ["rebind-ok.test"]
cache_entries_max = 64
cache_bytes_max = 65536
ttl_min = 0

[[zone]]
name = "home.test"
ttl = 300
ip_names = true
records = [
    "@ NS ns.home.test.",
    "ns A 192.168.1.1",
    "a A 192.168.1.10",
    "a AAAA fd00::10",
    "www CNAME a",
    "*.w CNAME www",
    "*.wild A 10.0.0.1",
    "*.wild AAAA fd00::1",
    "out CNAME www.example.net.",
    "far CNAME host.elsewhere.test.",
    "loop1 CNAME loop2",
    "loop2 CNAME loop1",
    "@ MX 10 a.home.test.",
    "t TXT \"hello\" \"world\"",
    "_http._tcp SRV 0 0 80 a.home.test.",
    "@ CAA 0 issue \"ca.test\"",
    "deep.ent.sub A 10.0.0.2",
    "many A 192.168.1.11",
    "many A 192.168.1.12",
    "many A 192.168.1.13",
    "many A 192.168.1.14",
]

[zone.mail]
mx = ["20 ns.home.test."]
spf = "v=spf1 mx -all"
dmarc = "v=DMARC1; p=none"

[[zone]]
name = "example.net"
mode = "overlay"
records = [
    "local A 192.168.1.20",
    "elsewhere CNAME www.example.org.",
]

[[blocklist]]
name = "fuzz"
files = ["{dir}/blocklist"]
allow = ["ok.cdn.example.org"]
answer = "null"

[delegate]
zone = "auth.test"
ns_addresses = ["127.0.0.1"]
api_listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
"#;

/// A lease that never expires, and one for an IPv6 address.
const LEASES: &str = "0 aa:bb:cc:dd:ee:01 192.168.1.50 laptop *\n\
                      0 aa:bb:cc:dd:ee:02 fd00::50 phone *\n";
const HOSTS: &str = "192.168.1.60 nas nas.home.test\nfd00::60 nas\n10.9.9.9 printer\n";
/// The target of the corpus's upstream CNAME (`tests/fuzz/seed.py`), and a name
/// a question blocks directly.
const BLOCKLIST: &str = "cdn.example.org\n0.0.0.0 ads.example.org\n";

/// The fixture config, parsed as the daemon parses its file, its lease and
/// hosts files in `dir`.
pub fn config(dir: &Path) -> Config {
    let text = CONFIG.replace("{dir}", &dir.display().to_string());
    Config::parse(&text, "fuzz.toml").expect("the fixture config parses")
}

/// A directory of this process's own (the unit tests build fixtures in
/// parallel).
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Relaxed);
    std::env::temp_dir().join(format!("lanseal-fuzz-{}-{n}", std::process::id()))
}

/// A new control state for the fixture, as the daemon starts it (the delegate
/// zone with one account's TXT values, one runtime record).
pub fn control() -> Control {
    let dir = scratch_dir();
    let mut config = config(&dir);
    let delegate = config.delegate.clone().expect("the fixture has [delegate]");
    let records = delegate_records(&config);
    let values = ["txt-value-one".to_string(), "two".to_string()];
    records.set(ACCOUNT_SUBDOMAIN, &values);
    let role_specs = vec![crate::delegate::zone::spec(&delegate)];
    let dynamic = Some(records.dynamic().clone());
    let state = State::new(&mut config, role_specs, dynamic).expect("the fixture state builds");
    // Lease and hosts files are read by `start`, and never again.
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    std::fs::write(dir.join("leases"), LEASES).expect("the fixture lease file");
    std::fs::write(dir.join("hosts"), HOSTS).expect("the fixture hosts file");
    std::fs::write(dir.join("blocklist"), BLOCKLIST).expect("the fixture blocklist");
    let control = Control::start(state, Arc::new(Counters::new(1)));
    let _ = std::fs::remove_dir_all(&dir);
    control
        .add_record("home.test", "runtime 60 A 192.168.1.99")
        .expect("the fixture's runtime record");
    control
}

/// The delegate zone's table of per-account records, empty.
fn delegate_records(config: &Config) -> Arc<DelegateRecords> {
    let delegate = config
        .delegate
        .as_ref()
        .expect("the fixture has [delegate]");
    let apex = crate::dns::zone::domain_wire(&delegate.zone).expect("the delegate zone");
    Arc::new(DelegateRecords::new(apex.into()))
}

/// The delegate's API with one account ([`ACCOUNT_USER`]) in an in-memory
/// store, and the table it publishes to.
pub fn delegate() -> (Api, Arc<DelegateRecords>) {
    let config = config(&scratch_dir());
    let records = delegate_records(&config);
    let mut store = Store::open_in_memory().expect("an in-memory store");
    let key_hash = bcrypt::hash_with_salt(ACCOUNT_KEY, ACCOUNT_BCRYPT_COST, [7; 16])
        .expect("bcrypt of the fixture key")
        .format_for_version(bcrypt::Version::TwoA);
    let account = Account {
        username: ACCOUNT_USER.into(),
        key_hash,
        subdomain: ACCOUNT_SUBDOMAIN.into(),
        allowfrom: vec![ACCOUNT_ALLOWFROM.into()],
        created_unix: 0,
    };
    store.insert_account(&account).expect("the fixture account");
    records.set(ACCOUNT_SUBDOMAIN, &[]);
    let settings = config.delegate.expect("the fixture has [delegate]");
    let store = store::DelegateStore::Sqlite(store::Shared::new(store));
    let api = Api::new(store, records.clone(), settings, None);
    (api, records)
}
