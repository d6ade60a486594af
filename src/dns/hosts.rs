//! Names of LAN hosts from dnsmasq lease files and hosts-format files.
//!
//! Owns the table that lets lanseal answer for the hosts dnsmasq hands addresses to
//! while dnsmasq keeps DHCP: A/AAAA sets by name and PTR sets by reverse name, keyed
//! by lower-case wire names and pre-encoded like `zone`'s so answering is a copy.
//! Files are read only when the table is built; a missing file or a bad line becomes
//! a warning, never an error, because a half-written lease file must not stop the
//! resolver. Everything is bounded: names, addresses per name, names per address,
//! bytes per file, files per directory and warnings. Built once, then only read.
//! Hosts files are read before leases, so a PTR answers a hosts name first.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::{self, File};
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::dns::wire::{NAME_BYTES_MAX, TYPE_A, TYPE_AAAA, TYPE_PTR};
use crate::dns::zone::{OwnedSet, reverse_name};

/// TTL of answers from leases and hosts files (seconds).
pub const HOST_TTL_SECS: u32 = 60;
/// Bound on names loaded from all files together (memory bound on a 64 MB router).
pub const HOST_NAMES_MAX: usize = 65_536;
/// Addresses kept per name: a host has a few per interface, v4 and v6.
const ADDRESSES_PER_NAME_MAX: usize = 16;
/// Names kept in one address's PTR set; the first seen is the canonical one.
const PTR_NAMES_MAX: usize = 8;
/// Largest file read: 4 MiB is about 100 000 hosts lines.
const FILE_BYTES_MAX: u64 = 4 << 20;
/// Files read from one directory source, in name order.
const DIRECTORY_FILES_MAX: usize = 64;
/// Warnings returned; the rest are counted in one last line.
const WARNINGS_MAX: usize = 20;

const _: () = assert!(ADDRESSES_PER_NAME_MAX <= u16::MAX as usize);
const _: () = assert!(PTR_NAMES_MAX <= u16::MAX as usize);

/// Where host names come from, as the config resolved them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    /// dnsmasq lease files (OpenWrt: `/tmp/dhcp.leases`).
    pub leases: Vec<PathBuf>,
    /// Hosts-format files, or directories whose files are all read.
    pub hosts: Vec<PathBuf>,
    /// Domain of lease names and single-label hosts names, e.g. `lan`.
    pub domain: String,
}

/// Host names from leases and hosts files, as ready-to-copy record sets.
#[derive(Debug, Default)]
pub struct HostTable {
    names: HashMap<Box<[u8]>, HostEntry>,
    reverse: HashMap<Box<[u8]>, OwnedSet>,
    /// Empty when the configured domain is not a usable name.
    domain: Box<[u8]>,
}

/// The address records of one name; at least one of the two is present.
#[derive(Debug)]
pub struct HostEntry {
    pub a: Option<OwnedSet>,
    pub aaaa: Option<OwnedSet>,
}

impl HostTable {
    /// Reads every file now. Unreadable or missing files and bad lines are skipped
    /// and described in the warnings (one line each, naming file and line). Never fails.
    pub fn load(sources: &Sources, now_unix: u64) -> (HostTable, Vec<String>) {
        let mut builder = Builder::new(&sources.domain, now_unix, HOST_NAMES_MAX);
        for path in &sources.hosts {
            let files = if path.is_dir() {
                builder.directory_files(path)
            } else {
                vec![path.clone()]
            };
            for file in files {
                if let Some(text) = builder.read(&file) {
                    builder.lines(&file.display().to_string(), &text, Builder::hosts_line);
                }
            }
        }
        for path in &sources.leases {
            if let Some(text) = builder.read(path) {
                builder.lines(&path.display().to_string(), &text, Builder::lease_line);
            }
        }
        builder.finish()
    }

    /// Same as `load`, from texts already in memory: `[(file name, text)]`.
    pub fn from_texts(
        leases: &[(String, String)],
        hosts: &[(String, String)],
        domain: &str,
        now_unix: u64,
    ) -> (HostTable, Vec<String>) {
        let mut builder = Builder::new(domain, now_unix, HOST_NAMES_MAX);
        for (file, text) in hosts {
            builder.lines(file, text, Builder::hosts_line);
        }
        for (file, text) in leases {
            builder.lines(file, text, Builder::lease_line);
        }
        builder.finish()
    }

    /// A and AAAA sets of `name` (lower-case wire).
    pub fn lookup(&self, name: &[u8]) -> Option<&HostEntry> {
        self.names.get(name)
    }

    /// The reverse names of every PTR set.
    pub fn reverse_names(&self) -> impl Iterator<Item = &[u8]> {
        self.reverse.keys().map(|name| &name[..])
    }

    /// PTR set of a reverse name (lower-case wire).
    pub fn reverse(&self, name: &[u8]) -> Option<&OwnedSet> {
        self.reverse.get(name)
    }

    /// The lease domain as lower-case wire (empty if unusable); names under it that
    /// match nothing are NXDOMAIN, like dnsmasq's `local=/lan/`.
    pub fn domain(&self) -> &[u8] {
        &self.domain
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[derive(Default)]
struct Builder {
    domain: Box<[u8]>,
    now_unix: u64,
    names_max: usize,
    names: HashMap<Box<[u8]>, Vec<IpAddr>>,
    /// Address -> names, in the order first seen.
    owners: HashMap<IpAddr, Vec<Box<[u8]>>>,
    /// Entries dropped at a bound.
    dropped: usize,
    warnings: Vec<String>,
    warnings_dropped: usize,
}

impl Builder {
    fn new(domain: &str, now_unix: u64, names_max: usize) -> Builder {
        let wire = absolute_wire(domain).unwrap_or_default().into();
        let mut builder = Builder {
            domain: wire,
            now_unix,
            names_max,
            ..Builder::default()
        };
        if builder.domain.is_empty() {
            builder.warn(format!(
                "lease domain `{domain}` is not a domain name; names without a dot are ignored"
            ));
        }
        builder
    }

    fn warn(&mut self, message: String) {
        if self.warnings.len() < WARNINGS_MAX {
            self.warnings.push(message);
        } else {
            self.warnings_dropped += 1;
        }
    }

    /// The file as text (invalid UTF-8 replaced), or `None` after a warning.
    fn read(&mut self, path: &Path) -> Option<String> {
        let mut bytes = Vec::new();
        let result =
            File::open(path).and_then(|file| file.take(FILE_BYTES_MAX + 1).read_to_end(&mut bytes));
        let error = match result {
            Err(e) => format!("cannot read ({e})"),
            Ok(_) if bytes.len() as u64 > FILE_BYTES_MAX => {
                format!("larger than {} MiB, skipped", FILE_BYTES_MAX >> 20)
            }
            Ok(_) => return Some(String::from_utf8_lossy(&bytes).into_owned()),
        };
        self.warn(format!("{}: {error}", path.display()));
        None
    }

    /// Regular files in `dir` not starting with `.`, sorted, at most
    /// `DIRECTORY_FILES_MAX`; memory stays bounded however large the directory.
    fn directory_files(&mut self, dir: &Path) -> Vec<PathBuf> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.warn(format!("{}: cannot read directory ({e})", dir.display()));
                return Vec::new();
            }
        };
        let mut files = Vec::new();
        let mut more = false;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().as_encoded_bytes().starts_with(b".") || !path.is_file() {
                continue;
            }
            files.push(path);
            if files.len() > 2 * DIRECTORY_FILES_MAX {
                files.sort();
                files.truncate(DIRECTORY_FILES_MAX);
                more = true;
            }
        }
        files.sort();
        if more || files.len() > DIRECTORY_FILES_MAX {
            files.truncate(DIRECTORY_FILES_MAX);
            let dir = dir.display();
            self.warn(format!(
                "{dir}: only the first {DIRECTORY_FILES_MAX} files are read"
            ));
        }
        files
    }

    /// Feeds each line to `parse`; an error becomes a warning with file and line.
    fn lines(&mut self, file: &str, text: &str, parse: fn(&mut Self, &str) -> Result<(), String>) {
        for (index, line) in text.lines().enumerate() {
            if let Err(message) = parse(self, line) {
                self.warn(format!("{file}:{}: {message}", index + 1));
            }
        }
    }

    /// dnsmasq leases: `<expiry> <mac|iaid> <address> <hostname> <client-id>`; a
    /// `duid` line starts the IPv6 part, whose lines have the same shape.
    fn lease_line(&mut self, line: &str) -> Result<(), String> {
        let mut fields = line.split_whitespace();
        let (Some(expiry), Some(_), Some(address), Some(host)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            let ignored = line.trim().is_empty() || line.starts_with("duid ");
            return if ignored {
                Ok(())
            } else {
                Err("not a lease line".into())
            };
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("`{address}` is not an IP address"))?;
        let expiry: u64 = expiry
            .parse()
            .map_err(|_| format!("`{expiry}` is not an expiry time"))?;
        if (expiry != 0 && expiry < self.now_unix) || host == "*" {
            return Ok(());
        }
        // Some clients send a FQDN: the first label is the host.
        let label = host.split('.').next().unwrap_or(host);
        let name = self
            .wire_for(label)
            .ok_or_else(|| format!("`{host}` is not a valid host name"))?;
        self.add(name, address);
        Ok(())
    }

    /// Hosts format: `<address> <name> [<alias>...]`, `#` starts a comment.
    fn hosts_line(&mut self, line: &str) -> Result<(), String> {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(address) = fields.next() else {
            return Ok(());
        };
        if address.contains('%') {
            return Err(format!(
                "`{address}` has a zone suffix; link-local addresses are not answered"
            ));
        }
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("`{address}` is not an IP address"))?;
        let (mut named, mut bad) = (false, None);
        for name in fields {
            named = true;
            match self.wire_for(name) {
                Some(wire) => self.add(wire, address),
                None => bad = bad.or(Some(name)),
            }
        }
        match (named, bad) {
            (false, _) => Err(format!("`{address}` has no name")),
            (true, Some(name)) => Err(format!("`{name}` is not a valid host name")),
            (true, None) => Ok(()),
        }
    }

    /// A dotted name as given; a single label under the lease domain.
    fn wire_for(&self, name: &str) -> Option<Vec<u8>> {
        let mut wire = absolute_wire(name)?;
        if !name.contains('.') {
            if self.domain.is_empty() {
                return None;
            }
            wire.pop();
            wire.extend_from_slice(&self.domain);
        }
        (wire.len() <= NAME_BYTES_MAX).then_some(wire)
    }

    fn add(&mut self, name: Vec<u8>, address: IpAddr) {
        // 0.0.0.0 and :: block names in ad-block hosts files; they answer nothing.
        if address.is_unspecified() {
            return;
        }
        let name: Box<[u8]> = name.into();
        let full = self.names.len() >= self.names_max;
        let addresses = match self.names.entry(name.clone()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(_) if full => {
                self.dropped += 1;
                return;
            }
            Entry::Vacant(e) => e.insert(Vec::new()),
        };
        if addresses.contains(&address) {
            return;
        }
        if addresses.len() >= ADDRESSES_PER_NAME_MAX {
            self.dropped += 1;
            return;
        }
        addresses.push(address);
        let owners = self.owners.entry(address).or_default();
        if owners.len() < PTR_NAMES_MAX {
            owners.push(name);
        }
    }

    fn finish(mut self) -> (HostTable, Vec<String>) {
        let mut table = HostTable {
            domain: std::mem::take(&mut self.domain),
            ..HostTable::default()
        };
        for (name, addresses) in self.names {
            let a = record_set(TYPE_A, addresses.iter().filter(|a| a.is_ipv4()).map(rdata));
            let aaaa = record_set(
                TYPE_AAAA,
                addresses.iter().filter(|a| a.is_ipv6()).map(rdata),
            );
            table.names.insert(name, HostEntry { a, aaaa });
        }
        for (address, owners) in self.owners {
            if let Some(set) = record_set(TYPE_PTR, &owners) {
                table.reverse.insert(reverse_name(address), set);
            }
        }
        let mut warnings = self.warnings;
        if self.warnings_dropped > 0 {
            warnings.push(format!("and {} more", self.warnings_dropped));
        }
        if self.dropped > 0 {
            warnings.push(format!(
                "{} host entries ignored: at most {} names and {ADDRESSES_PER_NAME_MAX} addresses per name",
                self.dropped, self.names_max
            ));
        }
        (table, warnings)
    }
}

/// One set with TTL `HOST_TTL_SECS`, or `None` when `rdatas` is empty.
fn record_set<R: AsRef<[u8]>>(rtype: u16, rdatas: impl IntoIterator<Item = R>) -> Option<OwnedSet> {
    OwnedSet::new(rtype, HOST_TTL_SECS, rdatas)
}

fn rdata(address: &IpAddr) -> Vec<u8> {
    match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// `a.b` or `a.b.` as lower-case wire; `None` unless every label is a host label
/// (RFC 1123: letters, digits, inner hyphens, 1 to 63 bytes) and the name fits.
fn absolute_wire(name: &str) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut wire = Vec::with_capacity(name.len() + 2);
    for label in name.split('.') {
        let bytes = label.as_bytes();
        let valid = (1..=63).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && !bytes.starts_with(b"-")
            && !bytes.ends_with(b"-");
        wire.push(u8::try_from(bytes.len()).ok().filter(|_| valid)?);
        wire.extend(bytes.iter().map(u8::to_ascii_lowercase));
    }
    wire.push(0);
    (wire.len() <= NAME_BYTES_MAX).then_some(wire)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LEASES: &str = "\
0 aa:bb:cc:dd:ee:01 192.168.1.10 NAS 01:aa:bb:cc:dd:ee:01
500 aa:bb:cc:dd:ee:02 192.168.1.11 old *
2000 aa:bb:cc:dd:ee:03 192.168.1.12 * *
2000 aa:bb:cc:dd:ee:04 192.168.1.13 phone.example.com *
2000 aa:bb:cc:dd:ee:05 192.168.1.14 -bad- *
duid 00:01:00:01:2a:2b:2c:2d:aa:bb:cc:dd:ee:ff
2000 1234 fd00::10 nas 00:01:00:01:aa
2000 1234 fd00::10 nas 00:01:00:01:aa
";
    const HOSTS: &str = "\
# comment line

192.168.1.10\tnas nas-alias # trailing comment
192.168.1.20 printer.home.arpa.
fe80::1%eth0 linklocal
0.0.0.0 ads.example.com
not-an-ip foo
192.168.1.21 router
";

    fn table(names_max: usize) -> (HostTable, Vec<String>) {
        let mut builder = Builder::new("lan", 1000, names_max);
        builder.lines("hosts", HOSTS, Builder::hosts_line);
        builder.lines("dhcp.leases", LEASES, Builder::lease_line);
        builder.finish()
    }

    /// The rdata of the first record in a set.
    fn first_rdata(set: &OwnedSet) -> &[u8] {
        set.view().rdatas().next().unwrap()
    }

    #[test]
    fn leases_and_hosts_answer() {
        let (table, warnings) = table(HOST_NAMES_MAX);
        let nas = table.lookup(b"\x03nas\x03lan\x00").unwrap();
        let (a, aaaa) = (nas.a.as_ref().unwrap(), nas.aaaa.as_ref().unwrap());
        assert_eq!((a.count, aaaa.count), (1, 1), "deduplicated");
        assert_eq!(a.ttl, HOST_TTL_SECS);
        assert_eq!(first_rdata(a), &[192, 168, 1, 10]);
        for name in [
            &b"\x05phone\x03lan\x00"[..],
            b"\x09nas-alias\x03lan\x00",
            b"\x07printer\x04home\x04arpa\x00",
            b"\x06router\x03lan\x00",
        ] {
            assert!(table.lookup(name).is_some(), "{name:?}");
        }
        assert!(table.lookup(b"\x03old\x03lan\x00").is_none(), "expired");
        assert!(table.lookup(b"\x03ads\x07example\x03com\x00").is_none());
        assert_eq!((table.len(), table.domain()), (5, &b"\x03lan\x00"[..]));
        let ptr = table
            .reverse(&reverse_name("192.168.1.10".parse().unwrap()))
            .unwrap();
        assert_eq!((ptr.rtype, ptr.count), (TYPE_PTR, 2));
        assert_eq!(first_rdata(ptr), b"\x03nas\x03lan\x00");
        assert!(
            table
                .reverse(&reverse_name("fd00::10".parse().unwrap()))
                .is_some()
        );
        let expected = [
            "hosts:5: `fe80::1%eth0` has a zone suffix",
            "hosts:7: `not-an-ip` is not an IP address",
            "dhcp.leases:5: `-bad-` is not a valid host name",
        ];
        assert_eq!(warnings.len(), expected.len(), "{warnings:?}");
        for (warning, start) in warnings.iter().zip(expected) {
            assert!(warning.starts_with(start), "{warning}");
        }
    }

    #[test]
    fn bounds_names_and_warnings() {
        let (table, warnings) = table(2);
        assert_eq!(table.len(), 2);
        assert!(warnings.last().unwrap().contains("at most 2 names"));
        let bad: String = (0..30).map(|i| format!("x{i} name\n")).collect();
        let (_, warnings) = HostTable::from_texts(&[], &[("h".into(), bad)], "lan", 0);
        assert_eq!(warnings.len(), WARNINGS_MAX + 1);
        assert_eq!(warnings.last().unwrap(), "and 10 more");
    }

    #[test]
    fn names_and_domain() {
        assert_eq!(absolute_wire("Lan").unwrap(), b"\x03lan\x00");
        assert_eq!(absolute_wire("a.B.").unwrap(), b"\x01a\x01b\x00");
        for bad in ["", ".", "a..b", "-a", "a-", "a_b", "ü", &"x".repeat(64)] {
            assert!(absolute_wire(bad).is_none(), "{bad}");
        }
        let hosts = [("h".into(), "10.0.0.1 nas nas.example\n10.0.0.2\n".into())];
        let (table, warnings) = HostTable::from_texts(&[], &hosts, "", 0);
        assert_eq!((table.len(), table.domain()), (1, &b""[..]));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
    }

    #[test]
    fn load_reads_files_and_directories() {
        let dir = std::env::temp_dir().join(format!("lanseal-hosts-{}", std::process::id()));
        let hosts_dir = dir.join("hosts.d");
        fs::create_dir_all(&hosts_dir).unwrap();
        fs::write(dir.join("dhcp.leases"), LEASES).unwrap();
        fs::write(dir.join("hosts"), HOSTS).unwrap();
        fs::write(hosts_dir.join("odhcpd"), "fd00::20 tv\n").unwrap();
        fs::write(hosts_dir.join(".hidden"), "10.0.0.9 hidden\n").unwrap();
        let sources = Sources {
            leases: vec![dir.join("dhcp.leases"), dir.join("missing")],
            hosts: vec![dir.join("hosts"), hosts_dir],
            domain: "lan".into(),
        };
        let (table, warnings) = HostTable::load(&sources, 1000);
        let _ = fs::remove_dir_all(&dir);
        assert!(table.lookup(b"\x02tv\x03lan\x00").unwrap().aaaa.is_some());
        assert!(table.lookup(b"\x06hidden\x03lan\x00").is_none());
        assert_eq!(table.len(), 6);
        let missing = format!("{}: cannot read", dir.join("missing").display());
        assert!(
            warnings.iter().any(|w| w.starts_with(&missing)),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("hosts:7:")),
            "{warnings:?}"
        );
    }
}
