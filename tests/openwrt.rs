//! The OpenWrt package (openwrt/): the init script, the rpcd plugin and
//! mkipk.sh parse with dash (the POSIX sh closest to busybox ash) and pass
//! shellcheck; the rpcd plugin's `list` names every method and its `call`s
//! reach a live daemon through `lanseal api` (records added and deleted are
//! answered by dig); the plugin, its ACL and the LuCI view agree on the
//! methods; the view parses (node) and, run by node against the live daemon
//! through the plugin (tests/openwrt/luci_view.js fakes LuCI's browser side),
//! shows its state and adds and deletes a record; the example UCI file becomes a config that
//! checks; mkipk.sh builds an .ipk in the format opkg reads, with the control
//! fields, conffiles, scripts and file modes the SDK's Makefile gives.
//!
//! OpenWrt's `jsonfilter` has no Debian package: tests/openwrt/jsonfilter is a
//! fake that knows the one form the plugin uses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;

/// The methods of the ubus object `lanseal`.
const METHODS: [&str; 9] = [
    "status",
    "dns_stats",
    "records",
    "add_record",
    "delete_record",
    "certs",
    "cert_setup",
    "renew",
    "flush",
];

fn source(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

const INIT: &str = "openwrt/lanseal/files/lanseal.init";
const PLUGIN: &str = "openwrt/lanseal/files/lanseal.rpcd";
const MKIPK: &str = "openwrt/mkipk.sh";
const VIEW: &str = "openwrt/luci-app-lanseal/htdocs/luci-static/resources/view/lanseal/overview.js";

fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (tests/run.sh installs it)"))
}

#[test]
fn the_shell_scripts_parse_with_dash_and_pass_shellcheck() {
    for script in [INIT, PLUGIN, MKIPK] {
        let out = output(Command::new("dash").arg("-n").arg(source(script)));
        assert!(
            out.status.success(),
            "dash -n {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // SC3043: `local`, which busybox ash (OpenWrt's sh) has.
        let out = output(
            Command::new("shellcheck")
                .args(["-s", "sh", "-e", "SC3043"])
                .arg(source(script)),
        );
        assert!(
            out.status.success(),
            "shellcheck {script}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The plugin run as rpcd runs it: `call METHOD` with the arguments on stdin,
/// the fake jsonfilter first on PATH, against `config`. Every answer must be
/// one JSON object and the exit status 0 (rpcd ignores it; an object is what
/// it passes on).
fn plugin_call(config: &Path, method: &str, arguments: &str) -> Value {
    let path = format!(
        "{}:{}",
        source("tests/openwrt").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run_with_stdin(
        Command::new("dash")
            .arg(source(PLUGIN))
            .args(["call", method])
            .env("PATH", path)
            .env("LANSEAL_BIN", BIN)
            .env("LANSEAL_CONFIG", config),
        arguments,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "call {method}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("call {method} {arguments}: not JSON ({e}): {stdout}"));
    assert!(value.is_object(), "call {method}: not an object: {stdout}");
    value
}

#[test]
fn the_rpcd_plugin_lists_every_method_with_its_arguments() {
    // As rpcd runs it at start: stdin and stderr /dev/null, nothing else.
    let out = output(
        Command::new("dash")
            .arg(source(PLUGIN))
            .arg("list")
            .env_clear()
            .stdin(Stdio::null()),
    );
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: BTreeSet<&str> = list
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(listed, METHODS.into_iter().collect::<BTreeSet<_>>());
    // rpcd types each argument by its example: strings here.
    let arguments = |method: &str| -> Vec<(String, bool)> {
        let signature = list[method].as_object().unwrap();
        let pairs = signature.iter().map(|(k, v)| (k.clone(), v.is_string()));
        pairs.collect()
    };
    let strings = |names: &[&str]| -> Vec<(String, bool)> {
        names.iter().map(|n| (n.to_string(), true)).collect()
    };
    assert_eq!(arguments("add_record"), strings(&["record", "zone"]));
    assert_eq!(arguments("delete_record"), strings(&["id"]));
    for method in ["cert_setup", "renew", "flush"] {
        assert_eq!(arguments(method), strings(&["name"]), "{method}");
    }
    for method in ["status", "dns_stats", "records", "certs"] {
        assert_eq!(arguments(method), strings(&[]), "{method}");
    }
}

#[test]
fn the_acl_and_the_luci_view_name_the_plugin_methods() {
    let acl: Value = serde_json::from_str(
        &std::fs::read_to_string(source("openwrt/lanseal/files/lanseal.acl.json")).unwrap(),
    )
    .unwrap();
    let grant = |kind: &str| -> BTreeSet<String> {
        let methods = acl["luci-app-lanseal"][kind]["ubus"]["lanseal"]
            .as_array()
            .unwrap();
        methods
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    };
    let (read, write) = (grant("read"), grant("write"));
    let expected_read: BTreeSet<String> = ["status", "dns_stats", "records", "certs", "cert_setup"]
        .map(String::from)
        .into();
    assert_eq!(read, expected_read);
    assert!(read.is_disjoint(&write));
    let all: BTreeSet<String> = read.union(&write).cloned().collect();
    assert_eq!(all, METHODS.map(String::from).into());
    // Every rpc.declare of the view is a method of the object `lanseal`.
    let view = std::fs::read_to_string(source(VIEW)).unwrap();
    let declared: BTreeSet<String> = view
        .split("rpc.declare(")
        .skip(1)
        .map(|declaration| {
            assert!(declaration.contains("object: 'lanseal'"), "{declaration}");
            let method = declaration.split("method: '").nth(1).unwrap();
            method.split('\'').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(declared, all);
    // ubusd lets the daemon's user send the acme.renew event after a renewal.
    let ubus_acl: Value = serde_json::from_str(
        &std::fs::read_to_string(source("openwrt/lanseal/files/lanseal.ubus-acl.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ubus_acl["user"], "lanseal");
    assert_eq!(
        ubus_acl["access"]["service"]["methods"],
        serde_json::json!(["event"])
    );
    // The menu opens this view, for holders of this ACL.
    let menu: Value = serde_json::from_str(
        &std::fs::read_to_string(source(
            "openwrt/luci-app-lanseal/root/usr/share/luci/menu.d/luci-app-lanseal.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let entry = &menu["admin/services/lanseal"];
    assert_eq!(entry["action"]["path"], "lanseal/overview");
    assert_eq!(entry["depends"]["acl"][0], "luci-app-lanseal");
}

#[test]
fn the_luci_view_parses() {
    let out = output(Command::new("node").arg("--check").arg(source(VIEW)));
    assert!(
        out.status.success(),
        "node --check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_rpcd_plugin_calls_a_live_daemon() {
    let state = TempDir::new();
    let port = free_tcp_port();
    let config = format!(
        "state_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\n[[zone]]\nname = \"home.example.com\"\nrecords = [\"router A 192.168.1.1\"]\n[api]\nlisten = \"127.0.0.1:{port}\"\n",
        state.0.display()
    );
    let mut server = Server::start_config(&config);
    let file = server.dir.0.join("lanseal.toml");
    let short = |name: &str| dig(server.addr, &["+short", name]).trim().to_string();

    let status = plugin_call(&file, "status", "{}");
    assert_eq!(
        status["roles"],
        serde_json::json!(["dns", "api"]),
        "{status}"
    );
    // rpcd's input may carry more than the signature (LuCI's session id).
    let added = plugin_call(
        &file,
        "add_record",
        r#"{"zone": "home.example.com", "record": "nas 300 A 192.168.1.10", "ubus_rpc_session": "x"}"#,
    );
    assert_eq!(added["source"], "runtime", "{added}");
    let id = added["id"].as_str().unwrap().to_string();
    assert_eq!(short("nas.home.example.com"), "192.168.1.10");
    // Quotes and backslashes reach the API intact.
    let txt = plugin_call(
        &file,
        "add_record",
        r#"{"zone": "home.example.com", "record": "note TXT \"a \\\\ b\""}"#,
    );
    assert_eq!(txt["record"], r#"note TXT "a \\ b""#, "{txt}");
    let answer = dig(
        server.addr,
        &["+short", "-t", "TXT", "note.home.example.com"],
    );
    assert_eq!(answer.trim(), r#""a \\ b""#);
    let records = plugin_call(&file, "records", "");
    let listed = records["records"].as_array().unwrap();
    assert!(listed.iter().any(|r| r["id"] == id.as_str()), "{records}");
    assert!(listed.iter().any(|r| r["source"] == "config"), "{records}");
    assert_eq!(records["zones"], serde_json::json!(["home.example.com"]));

    let deleted = plugin_call(&file, "delete_record", &format!("{{\"id\": \"{id}\"}}"));
    assert_eq!(deleted, serde_json::json!({ "deleted": id }));
    assert_eq!(short("nas.home.example.com"), "");

    // Refusals are objects: the plugin's own, and the API's passed on.
    for (method, arguments, error) in [
        ("add_record", r#"{"zone": "home.example.com"}"#, "invalid"),
        (
            "add_record",
            r#"{"zone": "nowhere.test", "record": "a A 192.0.2.1"}"#,
            "invalid",
        ),
        ("delete_record", r#"{"id": "../keys/router"}"#, "invalid"),
        ("delete_record", r#"{"id": "999"}"#, "not_found"),
        ("cert_setup", r#"{"name": "router"}"#, "not_found"),
        ("renew", "{}", "invalid"),
        ("flush", "{}", "no_cache"),
        ("nothing", "{}", "not_found"),
    ] {
        let answer = plugin_call(&file, method, arguments);
        assert_eq!(answer["error"], error, "{method} {arguments}: {answer}");
        assert!(answer["detail"].is_string(), "{answer}");
    }
    let certs = plugin_call(&file, "certs", "");
    assert_eq!(certs["certs"], serde_json::json!([]));
    let stats = plugin_call(&file, "dns_stats", "");
    assert!(
        stats["queries"]["received"].as_u64().unwrap() >= 3,
        "{stats}"
    );

    // No daemon: a clear "unavailable", still an object.
    server.signal("TERM");
    assert_eq!(server.wait_exit(), Some(0));
    let answer = plugin_call(&file, "status", "");
    assert_eq!(answer["error"], "unavailable", "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("no lanseal daemon"),
        "{answer}"
    );
}

#[test]
fn the_example_uci_file_becomes_a_config_that_checks() {
    let out = output(
        Command::new(BIN)
            .args(["config", "from-uci"])
            .arg(source("openwrt/lanseal/files/lanseal.config")),
    );
    let toml = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "from-uci: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Behind dnsmasq by default, with the API LuCI needs; the sections marked
    // `enabled '0'` are left out.
    assert!(toml.contains("127.0.0.1:5353"), "{toml}");
    assert!(toml.contains("[api]"), "{toml}");
    for absent in ["[[zone]]", "[[cert]]", "[acme]", "[delegate]", "enabled"] {
        assert!(!toml.contains(absent), "{absent} in\n{toml}");
    }
    let dir = TempDir::new();
    let file = dir.write("lanseal.toml", &toml);
    let out = output(Command::new(BIN).args(["check-config", "-c"]).arg(&file));
    assert!(
        out.status.success(),
        "check-config:\n{toml}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One entry of a tar archive, as opkg's own reader (libbb/unarchive.c) sees
/// its 512-byte header.
#[derive(Debug)]
struct Entry {
    name: String,
    mode: u32,
    uid: u32,
    gid: u32,
    kind: u8,
    data: Vec<u8>,
}

fn octal(field: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(field);
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    u64::from_str_radix(digits, 8).unwrap_or_else(|_| panic!("not octal: {text:?}"))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "not gzip");
    out.stdout
}

/// The entries of a gzipped tar, checked the way opkg checks them: "ustar"
/// magic, a correct header checksum, and no entry type opkg does not know
/// (a pax header would be one).
fn untar(gzipped: &[u8]) -> Vec<Entry> {
    let tar = gunzip(gzipped);
    assert_ne!(
        &tar[..7.min(tar.len())],
        b"!<arch>",
        "an ar archive: opkg reads only tar"
    );
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset + 512 <= tar.len() && tar[offset..offset + 512].iter().any(|&b| b != 0) {
        let header = &tar[offset..offset + 512];
        assert_eq!(&header[257..262], b"ustar", "header magic");
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        assert_eq!(sum, octal(&header[148..156]), "header checksum");
        let kind = header[156];
        assert!(matches!(kind, b'0' | b'5'), "entry type {}", kind as char);
        let name_end = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let size = octal(&header[124..136]) as usize;
        let start = offset + 512;
        entries.push(Entry {
            name: String::from_utf8(header[..name_end].to_vec()).unwrap(),
            mode: octal(&header[100..108]) as u32,
            uid: octal(&header[108..116]) as u32,
            gid: octal(&header[116..124]) as u32,
            kind,
            data: tar[start..start + size].to_vec(),
        });
        offset = start + size.div_ceil(512) * 512;
    }
    entries
}

fn entry<'e>(entries: &'e [Entry], name: &str) -> &'e Entry {
    let found = entries.iter().find(|e| e.name == name);
    found.unwrap_or_else(|| {
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        panic!("no {name} in {names:?}")
    })
}

fn text(entry: &Entry) -> String {
    String::from_utf8(entry.data.clone()).unwrap()
}

/// What the packages-feed Makefile installs: destination path -> mode, from
/// its `$(INSTALL_BIN|CONF|DATA) SOURCE $(1)/DEST` lines (the modes of
/// OpenWrt's rules.mk); sources under ./files/ must exist.
fn makefile_installs() -> BTreeMap<String, u32> {
    let makefile = std::fs::read_to_string(source("openwrt/lanseal/Makefile")).unwrap();
    let mut installs = BTreeMap::new();
    for line in makefile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mode = match words.first() {
            Some(&"$(INSTALL_BIN)") => 0o755,
            Some(&"$(INSTALL_CONF)") => 0o600,
            Some(&"$(INSTALL_DATA)") => 0o644,
            _ => continue,
        };
        let (from, to) = (words[1], words[2]);
        if let Some(file) = from.strip_prefix("./files/") {
            assert!(
                source(&format!("openwrt/lanseal/files/{file}")).is_file(),
                "{from}"
            );
        }
        let to = to.strip_prefix("$(1)").unwrap();
        installs.insert(format!(".{to}"), mode);
    }
    installs
}

fn mkipk(target: &str, out: &Path) -> PathBuf {
    let result = output(
        Command::new("sh")
            .arg(source(MKIPK))
            .arg(target)
            .args(["--bin", BIN, "--out"])
            .arg(out),
    );
    assert!(
        result.status.success(),
        "mkipk.sh {target}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    PathBuf::from(String::from_utf8(result.stdout).unwrap().trim())
}

#[test]
fn mkipk_builds_the_package_opkg_installs() {
    let dir = TempDir::new();
    let ipk = mkipk("x86_64", &dir.0);
    let version = {
        let cargo = std::fs::read_to_string(source("Cargo.toml")).unwrap();
        let line = cargo.lines().find(|l| l.starts_with("version = ")).unwrap();
        line.split('"').nth(1).unwrap().to_string()
    };
    assert_eq!(
        ipk.file_name().unwrap().to_str().unwrap(),
        format!("lanseal_{version}-r1_x86_64.ipk")
    );

    let outer = untar(&std::fs::read(&ipk).unwrap());
    let names: Vec<&str> = outer.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
    );
    assert_eq!(text(&outer[0]), "2.0\n");

    let control = untar(&outer[2].data);
    let data = untar(&outer[1].data);
    let fields: BTreeMap<String, String> = text(entry(&control, "./control"))
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(fields["Package"], "lanseal");
    assert_eq!(fields["Version"], format!("{version}-r1"));
    assert_eq!(fields["Architecture"], "x86_64");
    // Static: no libc; jsonfilter for the rpcd plugin.
    assert_eq!(fields["Depends"], "jsonfilter");
    assert_eq!(fields["Require-User"], "lanseal=8053:lanseal=8053");
    let installed: usize = gunzip(&outer[1].data).len();
    assert_eq!(fields["Installed-Size"], installed.to_string());
    assert!(fields.contains_key("Description"));

    assert_eq!(
        text(entry(&control, "./conffiles")),
        "/etc/config/lanseal\n"
    );
    let postinst = text(entry(&control, "./postinst"));
    assert!(
        postinst.contains("${IPKG_INSTROOT}/lib/functions.sh"),
        "{postinst}"
    );
    assert!(postinst.contains("default_postinst $0 $@"), "{postinst}");
    assert!(text(entry(&control, "./prerm")).contains("default_prerm $0 $@"));
    let postinst_pkg = text(entry(&control, "./postinst-pkg"));
    assert!(postinst_pkg.contains("rpcd reload"), "{postinst_pkg}");
    assert!(
        postinst_pkg.contains("-HUP $(pidof ubusd)"),
        "{postinst_pkg}"
    );
    for script in ["./postinst", "./prerm", "./postinst-pkg", "./postrm"] {
        let script_entry = entry(&control, script);
        assert_eq!(script_entry.mode, 0o755, "{script}");
        let scratch = dir.write("script", &text(script_entry));
        let out = output(Command::new("dash").arg("-n").arg(&scratch));
        assert!(out.status.success(), "{script} does not parse");
    }

    // The same files and modes as the SDK's package, root-owned.
    for e in control.iter().chain(&data).chain(&outer) {
        assert_eq!((e.uid, e.gid), (0, 0), "{}", e.name);
    }
    let installs = makefile_installs();
    assert_eq!(installs.len(), 6, "{installs:?}");
    for (path, mode) in &installs {
        let file = entry(&data, path);
        assert_eq!((file.kind, file.mode), (b'0', *mode), "{path}");
    }
    assert_eq!(
        entry(&data, "./usr/sbin/lanseal").data,
        std::fs::read(BIN).unwrap()
    );
    assert_eq!(
        entry(&data, "./etc/init.d/lanseal").data,
        std::fs::read(source(INIT)).unwrap()
    );
    // sysupgrade keeps /etc/lanseal/, as the Makefile's conffiles say.
    let makefile = std::fs::read_to_string(source("openwrt/lanseal/Makefile")).unwrap();
    let conffiles = makefile
        .split("define Package/lanseal/conffiles\n")
        .nth(1)
        .unwrap();
    let conffiles = conffiles.split("endef").next().unwrap();
    assert_eq!(conffiles, "/etc/config/lanseal\n/etc/lanseal/\n");
    assert_eq!(
        text(entry(&data, "./lib/upgrade/keep.d/lanseal")),
        "/etc/lanseal/\n"
    );
    let files: Vec<&str> = data
        .iter()
        .filter(|e| e.kind == b'0')
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(files.len(), installs.len() + 1, "{files:?}");
}

#[test]
fn mkipk_names_the_openwrt_architecture_of_each_target() {
    let dir = TempDir::new();
    let ipk = mkipk("mipsel-unknown-linux-musl", &dir.0);
    assert!(
        ipk.to_str().unwrap().ends_with("_mipsel_24kc.ipk"),
        "{ipk:?}"
    );
    let out = output(
        Command::new("sh")
            .arg(source(MKIPK))
            .args(["sparc", "--bin", BIN]),
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn mkipk_builds_the_luci_package() {
    let dir = TempDir::new();
    let ipk = mkipk("luci", &dir.0);
    assert!(ipk.to_str().unwrap().ends_with("_all.ipk"), "{ipk:?}");
    let outer = untar(&std::fs::read(&ipk).unwrap());
    let control = untar(&outer[2].data);
    let data = untar(&outer[1].data);
    let fields = text(entry(&control, "./control"));
    for field in [
        "Package: luci-app-lanseal\n",
        "Depends: luci-base, lanseal\n",
        "Architecture: all\n",
    ] {
        assert!(fields.contains(field), "{field} not in {fields}");
    }
    // Where luci.mk puts htdocs/ and root/, world-readable.
    for (path, local) in [
        ("./www/luci-static/resources/view/lanseal/overview.js", VIEW),
        (
            "./usr/share/luci/menu.d/luci-app-lanseal.json",
            "openwrt/luci-app-lanseal/root/usr/share/luci/menu.d/luci-app-lanseal.json",
        ),
    ] {
        let file = entry(&data, path);
        assert_eq!(file.mode, 0o644, "{path}");
        assert_eq!(file.data, std::fs::read(source(local)).unwrap(), "{path}");
    }
    let postinst = text(entry(&control, "./postinst-pkg"));
    assert!(postinst.contains("luci-indexcache"), "{postinst}");
}

#[test]
fn the_luci_view_shows_the_daemon_and_adds_and_deletes_a_record() {
    let state = TempDir::new();
    let port = free_tcp_port();
    // names_max 2: the allow entry and ads.example; more.example is left out.
    let list = state.write("ads.txt", "ads.example\nmore.example\nnot a list line\n");
    let config = format!(
        "state_dir = \"{}\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\nupstreams = [\"127.0.0.1:9\"]\n[[zone]]\nname = \"home.example.com\"\nrecords = [\"router A 192.168.1.1\"]\n[api]\nlisten = \"127.0.0.1:{port}\"\n\
         [[blocklist]]\nname = \"ads\"\nfiles = [\"{}\"]\nallow = [\"good.ads.example\"]\nnames_max = 2\n",
        state.0.display(),
        list.display()
    );
    let server = Server::start_config(&config);
    let blocked = dig(server.addr, &["x.ads.example", "A"]);
    assert!(blocked.contains("status: NXDOMAIN"), "{blocked}");
    let path = format!(
        "{}:{}",
        source("tests/openwrt").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = output(
        Command::new("node")
            .arg(source("tests/openwrt/luci_view.js"))
            .arg(source(VIEW))
            .arg(source(PLUGIN))
            .arg(server.addr.port().to_string())
            .env("PATH", path)
            .env("LANSEAL_BIN", BIN)
            .env("LANSEAL_CONFIG", server.dir.0.join("lanseal.toml")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rendered = report["rendered"].as_str().unwrap();
    let rendered = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
    for shown in [
        "0.1.0",
        "dns, api",
        "router A 192.168.1.1",
        "config file",
        "Queries received",
        "127.0.0.1:9",
        "No certificate",
        // The blocklist's row: name, answer, names (full), allowed, skipped
        // lines, memory, the one blocked query, when loaded, load failures.
        "Blocklists",
        "ads nxdomain · CNAME inspection 1 full: names_max 2, 1 left out 1 1 ",
        "B 1 ",
    ] {
        assert!(rendered.contains(shown), "{shown} not in {rendered}");
    }
    let added = report["added"].as_str().unwrap();
    assert!(added.contains("nas 300 A 192.168.1.10"), "{added}");
    assert_eq!(report["answerAfterAdd"], "192.168.1.10");
    assert!(!report["deleted"].as_str().unwrap().contains("nas 300 A"));
    assert_eq!(report["answerAfterDelete"], "");
    assert_eq!(
        report["notifications"],
        serde_json::json!(["info: 0 cache entries flushed"]),
        "{report}"
    );
}

/// The packages-feed Makefile, run by GNU make with FAKE stand-ins for the
/// SDK's rules.mk, package.mk and rust-package.mk (only the variables a
/// package recipe uses, with OpenWrt's values): its version is the crate's,
/// its install recipe installs what mkipk.sh packs (same paths, same modes),
/// and its postinst/postrm parse. (BuildPackage's own work, the metadata and
/// the archive, needs the SDK: not here.)
#[test]
fn the_feed_makefile_installs_what_mkipk_packs() {
    let sdk = TempDir::new();
    let topdir = &sdk.0;
    for (path, text) in [
        (
            "rules.mk",
            "INCLUDE_DIR:=$(TOPDIR)/include\nCP:=cp -fpR\nINSTALL_DIR:=install -d -m0755\nINSTALL_BIN:=install -m0755\nINSTALL_DATA:=install -m0644\nINSTALL_CONF:=install -m0600\n",
        ),
        ("include/package.mk", "define BuildPackage\nendef\n"),
        (
            "feeds/packages/lang/rust/rust-package.mk",
            "RUST_ARCH_DEPENDS:=@(x86_64)\nCARGO_PKG_VARS=\n",
        ),
        (
            "driver.mk",
            "include Makefile\n\
             $(eval $(Package/lanseal))\n\
             root:\n\
             \t$(call Package/lanseal/install,$(ROOT))\n\
             \t$(file >$(ROOT)/../postinst,$(Package/lanseal/postinst))\n\
             \t$(file >$(ROOT)/../postrm,$(Package/lanseal/postrm))\n\
             \t$(file >$(ROOT)/../facts,$(PKG_VERSION)-r$(PKG_RELEASE) $(USERID) $(DEPENDS))\n",
        ),
    ] {
        let file = topdir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let built = topdir.join("built/bin");
    std::fs::create_dir_all(&built).unwrap();
    std::fs::copy(BIN, built.join("lanseal")).unwrap();
    let root = topdir.join("out/root");
    std::fs::create_dir_all(&root).unwrap();
    let out = output(
        Command::new("make")
            .arg("-C")
            .arg(source("openwrt/lanseal"))
            .arg("-f")
            .arg(topdir.join("driver.mk"))
            .arg(format!("TOPDIR={}", topdir.display()))
            .arg(format!(
                "PKG_INSTALL_DIR={}",
                topdir.join("built").display()
            ))
            .arg(format!("ROOT={}", root.display()))
            .arg("root"),
    );
    assert!(
        out.status.success(),
        "make: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let facts = std::fs::read_to_string(topdir.join("out/facts")).unwrap();
    let version = {
        let cargo = std::fs::read_to_string(source("Cargo.toml")).unwrap();
        let line = cargo.lines().find(|l| l.starts_with("version = ")).unwrap();
        line.split('"').nth(1).unwrap().to_string()
    };
    assert_eq!(
        facts.trim(),
        format!("{version}-r1 lanseal=8053:lanseal=8053 @(x86_64) +jsonfilter")
    );
    for script in ["postinst", "postrm"] {
        let path = topdir.join("out").join(script);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("${IPKG_INSTROOT}"), "{text}");
        assert!(text.contains("-HUP $(pidof ubusd)"), "{text}");
        let parsed = output(Command::new("dash").arg("-n").arg(&path));
        assert!(parsed.status.success(), "{script}: {text}");
    }

    // Every file the recipe installed, with its mode, against the ipk's.
    let mut installed = BTreeMap::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for item in std::fs::read_dir(&dir).unwrap() {
            let path = item.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path);
            } else {
                use std::os::unix::fs::PermissionsExt as _;
                let relative = path.strip_prefix(&root).unwrap().display().to_string();
                installed.insert(format!("./{relative}"), meta.permissions().mode() & 0o7777);
            }
        }
    }
    let ipk = mkipk("x86_64", &sdk.0.join("ipk"));
    let outer = untar(&std::fs::read(&ipk).unwrap());
    let data = untar(&outer[1].data);
    let packed: BTreeMap<String, u32> = data
        .iter()
        .filter(|e| e.kind == b'0' && e.name != "./lib/upgrade/keep.d/lanseal")
        .map(|e| (e.name.clone(), e.mode))
        .collect();
    assert_eq!(installed, packed);
    assert_eq!(installed, makefile_installs());
}

/// The init script's own logic, its functions run by dash with the paths
/// pointed into a temporary directory (procd and rc.common are not needed for
/// these): the TOML is written 0640 from the UCI file, and a broken UCI file
/// is logged and leaves the last good TOML in place.
#[test]
fn the_init_script_writes_the_config_and_keeps_the_last_good_one() {
    let dir = TempDir::new();
    let uci = dir.write(
        "lanseal",
        "config dns\n\tlist listen '127.0.0.1:5353'\n\toption resolv_file ''\n",
    );
    let toml = dir.0.join("var/etc/lanseal.toml");
    let generate = || {
        output(
            Command::new("dash")
                .arg("-c")
                .arg(format!(
                    ". '{}'; PROG='{BIN}'; UCI_FILE='{}'; CONFIG='{}'; generate_config",
                    source(INIT).display(),
                    uci.display(),
                    toml.display()
                ))
                .env_remove("LANSEAL_CONFIG"),
        )
    };
    let out = generate();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("127.0.0.1:5353"), "{text}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&toml).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);

    std::fs::write(&uci, "config dns\n\toption listen '127.0.0.1:5353\n").unwrap();
    let out = generate();
    assert!(!out.status.success());
    let logged = String::from_utf8_lossy(&out.stderr);
    assert!(logged.contains("not applied"), "{logged}");
    assert_eq!(std::fs::read_to_string(&toml).unwrap(), text);
    assert!(!dir.0.join("var/etc/lanseal.toml.new").exists());
}
