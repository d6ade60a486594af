//! Standard secondaries of the delegate zone `auth.test`, each its own process
//! with its files in a temp dir, on 127.0.0.1 and a port the test chose: Knot DNS
//! (Debian's `knot`) and BIND 9 (Debian's `bind9`, `named -g` in the foreground,
//! never the system's service). Both transfer from lanseal's TCP port with the
//! TSIG key, accept its NOTIFY, and are killed on drop. Their logs are what the
//! tests read to tell an IXFR from an AXFR.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use super::{answers, free_tcp_port, query_message};

/// 32 bytes, base64: the key lanseal and its secondaries share.
pub const SECRET: &str = "bGFuc2VhbC14ZnItdGVzdC1rZXktMzItYnl0ZXMhISE=";
/// Another 32 bytes under the same key name.
pub const WRONG_SECRET: &str = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXkhISE=";
pub const KEY_NAME: &str = "lanseal-xfr";
/// The zone both secondaries transfer.
pub const ZONE: &str = "auth.test";

/// `[delegate]` lines for `auth.test` with `secondaries` notified and the key
/// in `key_file`, the API on a free port under no prefix.
pub fn delegate_section(secondaries: &[SocketAddr], key_file: &Path) -> String {
    let list: Vec<String> = secondaries.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "[delegate]\nzone = \"{ZONE}\"\nns = [\"ns1.{ZONE}.\"]\nns_addresses = [\"192.0.2.53\"]\n\
         api_listen = \"127.0.0.1:0\"\nsecondaries = [{}]\ntsig_key_file = \"{}\"\n\
         tsig_key_name = \"{KEY_NAME}\"\n",
        list.join(", "),
        key_file.display()
    )
}

/// The TSIG key file lanseal reads (mode 0600), written into `dir`.
pub fn key_file(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("xfr.key");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A `knotd` under `root`; killed on drop.
pub struct Knot {
    child: Child,
    pub addr: SocketAddr,
    root: PathBuf,
    log: PathBuf,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Knot {
    /// Knot as the secondary of `auth.test` from `primary` (keeping its zone and
    /// journal in `root` across restarts), accepting NOTIFY signed with the key;
    /// `secret` is the key it signs with.
    pub fn start(root: &Path, port: u16, primary: SocketAddr, secret: &str) -> Self {
        Self::start_zone(root, port, primary, ZONE, KEY_NAME, secret)
    }

    /// [`Knot::start`] for `zone`, with the key named `key_name`.
    pub fn start_zone(
        root: &Path,
        port: u16,
        primary: SocketAddr,
        zone: &str,
        key_name: &str,
        secret: &str,
    ) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        std::fs::create_dir_all(root).unwrap();
        let config = format!(
            "server:\n    rundir: \"{dir}\"\n    listen: 127.0.0.1@{port}\n\
             database:\n    storage: \"{dir}\"\n\
             log:\n  - target: stderr\n    any: info\n\
             key:\n  - id: {key_name}\n    algorithm: hmac-sha256\n    secret: {secret}\n\
             remote:\n  - id: primary\n    address: {ip}@{pport}\n    key: {key_name}\n\
             acl:\n  - id: notify_from_primary\n    address: 127.0.0.1\n    key: {key_name}\n    action: notify\n\
             template:\n  - id: default\n    storage: \"{dir}\"\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n\
             zone:\n  - domain: {zone}\n    master: primary\n    acl: notify_from_primary\n",
            dir = root.display(),
            ip = primary.ip(),
            pport = primary.port(),
        );
        let path = root.join("knot.conf");
        std::fs::write(&path, config).unwrap();
        let log = root.join("knot.log");
        // Appended: a restart keeps the earlier lines (the tests split at "starting").
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new("knotd")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("knotd (Debian package knot; tests/run.sh installs it)");
        Self {
            child,
            addr,
            root: root.to_path_buf(),
            log,
        }
    }

    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// The log since the last start.
    pub fn log_since_start(&self) -> String {
        let log = self.log();
        log.rsplit("info: Knot DNS ")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// `knotc zone-refresh`: the SOA check its refresh timer would make.
    pub fn refresh(&self) {
        let out = Command::new("knotc")
            .arg("-s")
            .arg(self.root.join("knot.sock"))
            .args(["zone-refresh", ZONE])
            .output()
            .unwrap();
        assert!(out.status.success(), "knotc zone-refresh: {out:?}");
    }

    /// Transfers Knot took in since its last start, by kind.
    pub fn transfers_since_start(&self) -> Transfers {
        let log = self.log_since_start();
        let finished = |kind: &str| {
            log.lines()
                .filter(|l| l.contains(kind) && l.contains("finished"))
                .count()
        };
        Transfers {
            incremental: finished("IXFR, incoming"),
            whole: finished("AXFR, incoming"),
        }
    }
}

/// How many transfers a secondary took in: incremental (IXFR answered with the
/// changes) and of the whole zone (AXFR, or an IXFR answered AXFR-style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfers {
    pub incremental: usize,
    pub whole: usize,
}

/// BIND 9's `named -g` under `root`; killed on drop.
pub struct Bind {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    rndc_conf: PathBuf,
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `named`: Debian's bind9 package.
pub const NAMED: &str = "/usr/sbin/named";

impl Bind {
    /// BIND as the secondary of `auth.test` from `primary` (its zone file and
    /// journal in `root`, kept across restarts), accepting NOTIFY signed with the
    /// key; `secret` is the key it signs with. Debug level 3: the transfer lines
    /// say whether the primary's answer was incremental.
    pub fn start(root: &Path, port: u16, primary: SocketAddr, secret: &str) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        std::fs::create_dir_all(root).unwrap();
        let rndc_conf = root.join("rndc.conf");
        if !rndc_conf.exists() {
            // rndc's own key and port (the control channel, for `rndc refresh`).
            std::fs::write(
                &rndc_conf,
                format!(
                    "key \"rndc\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};\n\
                     options {{ default-key \"rndc\"; default-server 127.0.0.1; default-port {}; }};\n",
                    free_tcp_port()
                ),
            )
            .unwrap();
        }
        let rndc_port = std::fs::read_to_string(&rndc_conf)
            .unwrap()
            .split("default-port ")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_string();
        let config = format!(
            "options {{\n  directory \"{dir}\";\n  pid-file \"{dir}/named.pid\";\n\
             session-keyfile \"{dir}/session.key\";\n  managed-keys-directory \"{dir}\";\n\
             listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n\
             recursion no;\n  notify no;\n  dnssec-validation no;\n  allow-query {{ any; }};\n\
             allow-transfer {{ none; }};\n}};\n\
             key \"{KEY_NAME}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n\
             key \"rndc\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};\n\
             controls {{ inet 127.0.0.1 port {rndc_port} allow {{ 127.0.0.1; }} keys {{ \"rndc\"; }}; }};\n\
             zone \"{ZONE}\" {{\n  type secondary;\n  primaries port {pport} {{ {ip} key \"{KEY_NAME}\"; }};\n\
             file \"{ZONE}.db\";\n  allow-notify {{ key \"{KEY_NAME}\"; }};\n}};\n",
            dir = root.display(),
            ip = primary.ip(),
            pport = primary.port(),
        );
        let path = root.join("named.conf");
        std::fs::write(&path, config).unwrap();
        let log = root.join("named.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(NAMED)
            .args(["-g", "-d", "3", "-n", "1", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("named (Debian package bind9; tests/run.sh installs it)");
        Self {
            child,
            addr,
            log,
            rndc_conf,
        }
    }

    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// The log since the last start.
    pub fn log_since_start(&self) -> String {
        let log = self.log();
        log.rsplit("starting BIND")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// The zone's lines of the log since the last start (transfers, NOTIFYs,
    /// refreshes, TSIG), the last 80: debug level 3 logs every query too, too
    /// much for a failure message.
    pub fn summary(&self) -> String {
        let log = self.log_since_start();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                [
                    "auth.test/IN:",
                    "transfer of",
                    "notify",
                    "TSIG",
                    "tsig",
                    "failure",
                ]
                .iter()
                .any(|word| l.contains(word))
                    && !l.contains(": enter")
            })
            .collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }

    /// `rndc refresh`: the SOA check its refresh timer would make.
    pub fn refresh(&self) {
        let out = Command::new("rndc")
            .arg("-c")
            .arg(&self.rndc_conf)
            .args(["refresh", ZONE])
            .output()
            .unwrap();
        assert!(out.status.success(), "rndc refresh: {out:?}");
    }

    /// Transfers BIND took in since its last start, by kind.
    pub fn transfers_since_start(&self) -> Transfers {
        let log = self.log_since_start();
        Transfers {
            incremental: log.matches("got incremental response").count(),
            // The answer to an AXFR, or an IXFR answered with the whole zone.
            whole: log.matches("got nonincremental response").count(),
        }
    }
}

/// The TXT answers `server` gives for `name` (none on no answer within 100 ms,
/// or an error: a secondary answers SERVFAIL or nothing until it has the zone).
pub fn txt_at(server: SocketAddr, name: &str) -> Vec<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let query = query_message(name, RecordType::TXT, true);
    socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    let mut buffer = vec![0u8; 65_535];
    match socket.recv_from(&mut buffer) {
        Ok((len, _)) => Message::from_vec(&buffer[..len])
            .map(|m| answers(&m))
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// True when `server` answers `name`'s TXT with `value` among the answers.
pub fn serves(server: SocketAddr, name: &str, value: &str) -> bool {
    txt_at(server, name).iter().any(|a| a.contains(value))
}
