//! The certs role's faults (issue 13, item 5), against Pebble 2.10 (tests/ca/
//! fetch-pebble.sh): the disk holding a certificate's `dir` full during a
//! renewal's deploy, and SIGKILL at random moments, and in the middle of
//! deploys, while renewals run back to back. One lanseal runs every role: DNS
//! with its zone `home.test`, the local API, a delegate, and the certs role
//! with a dns-persist-01 certificate that Pebble validates through that zone
//! (the owner's record, from `lanseal certs setup`, is in the config). The local
//! API's `certs/lan/renew` forces the renewals.
//!
//! After each fault the deployed set in `dir` must be one complete set: four
//! PEM files that parse, privkey.pem the key of cert.pem, fullchain.pem exactly
//! cert.pem + chain.pem, and the chain leading to Pebble's root.
//!
//! Environment: `CERT_FAULT_RUNS` (kill runs, default 20), `CERT_FAULT_SEED`
//! (default: from the clock; printed). The figures are printed on stderr past
//! the test harness's capture, as `certs faults: …` lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::pebble::Pebble;
use common::*;
use hickory_proto::rr::RecordType;

/// From a start (or a renewal asked for) to a deployed certificate, with slack
/// for a loaded CI machine.
const ISSUE_TIMEOUT: Duration = Duration::from_secs(90);
/// The certificate's name in the config.
const CERT: &str = "lan";
const ISSUED: &str = "certs: lan issued and deployed";
const FILES: [&str; 4] = ["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"];
/// The tmpfs under the certificate's `dir` in the disk-full case: room for a
/// few sets (one is four files, a page each) and the fill.
const TMPFS_SIZE: &str = "256k";
/// How often the renewal driver asks for a renewal (the role queues them and
/// runs one attempt after the other).
const RENEW_EVERY: Duration = Duration::from_millis(100);
/// Kills that are not aimed at a deploy come this long after the start.
const RANDOM_KILL_MS: (u64, u64) = (200, 3000);
/// Deploys timed before the kills (the median sets where aimed kills land).
const DEPLOYS_MEASURED: usize = 5;
/// Polling interval of the deploy watcher.
const WATCH_EVERY: Duration = Duration::from_micros(50);

/// Figures that must reach the terminal under `cargo test`'s capture: written
/// to the process's stderr itself, not through `eprintln!`.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "certs faults: {line}");
}

/// The router: Pebble, the ports, where the certificate goes, the owner's records.
struct Router {
    work: TempDir,
    pebble: Pebble,
    port: u16,
    api_port: u16,
    /// The certificate's `dir` as lanseal sees it.
    cert_dir: PathBuf,
    records: Vec<String>,
}

impl Router {
    /// Pebble, then `certs setup` (the ACME account, the dns-persist-01 record),
    /// as an owner would. `cert_dir`: None keeps the default, state_dir/certs/lan.
    fn new(work: TempDir, cert_dir: Option<PathBuf>) -> Router {
        let port = free_dns_port();
        let pebble = Pebble::start(&work.0, SocketAddr::from(([127, 0, 0, 1], port)));
        let cert_dir = cert_dir.unwrap_or_else(|| work.0.join("state/certs").join(CERT));
        let mut router = Router {
            work,
            pebble,
            port,
            api_port: free_tcp_port(),
            cert_dir,
            records: Vec::new(),
        };
        let config = router.work.write("setup.toml", &router.config());
        let out = lanseal(&["certs", "setup", CERT, "-c", config.to_str().unwrap()]);
        router.records = out
            .lines()
            .map(|l| l.split("  ;").next().unwrap().trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        assert!(
            router
                .records
                .iter()
                .any(|r| r.starts_with("_validation-persist.p.home.test. TXT")),
            "{out}"
        );
        std::fs::write(router.work.0.join("root.pem"), router.pebble.root_pem()).unwrap();
        router
    }

    fn config(&self) -> String {
        let mut records = vec!["www A 192.0.2.80".to_string()];
        records.extend(self.records.iter().cloned());
        let records: Vec<String> = records.iter().map(|r| format!("{r:?}")).collect();
        format!(
            "log_level = \"info\"\nstate_dir = \"{state}\"\n\
             [dns]\nlisten = [\"127.0.0.1:{port}\"]\nresolv_file = \"\"\n\
             [[zone]]\nname = \"home.test\"\nrecords = [{records}]\n\
             [api]\nlisten = \"127.0.0.1:{api_port}\"\ntoken_file = \"{token}\"\n\
             [delegate]\nzone = \"acme.test\"\nns = [\"ns1.acme.test.\"]\n\
             ns_addresses = [\"192.0.2.53\"]\napi_listen = \"127.0.0.1:0\"\n\
             [acme]\ndirectory = \"{directory}\"\nca_bundle = \"{ca}\"\n\
             check_resolvers = [\"127.0.0.1:{port}\"]\n\
             [[cert]]\nname = \"{CERT}\"\ndomains = [\"p.home.test\"]\n\
             challenge = \"dns-persist-01\"\nprofile = \"default\"\ndir = \"{dir}\"\n",
            state = self.work.0.join("state").display(),
            port = self.port,
            records = records.join(", "),
            api_port = self.api_port,
            token = self.token_file().display(),
            directory = self.pebble.directory(),
            ca = self.pebble.ca_bundle().display(),
            dir = self.cert_dir.display(),
        )
    }

    fn token_file(&self) -> PathBuf {
        self.work.0.join("api.token")
    }

    fn api(&self) -> LocalApi {
        LocalApi {
            base: format!("http://127.0.0.1:{}", self.api_port),
            token: std::fs::read_to_string(self.token_file())
                .unwrap()
                .trim()
                .to_string(),
        }
    }

    fn root(&self) -> PathBuf {
        self.work.0.join("root.pem")
    }
}

/// `openssl <args>`: stdout, or why not.
fn openssl(args: &[&str], file: &Path) -> Result<String, String> {
    let out = Command::new("openssl")
        .args(args)
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl {args:?} {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The set a reader of `dir` sees, checked (see the module doc): its four files.
fn check_set(dir: &Path, root: &Path) -> Result<Vec<Vec<u8>>, String> {
    let mut files = Vec::new();
    for name in FILES {
        let path = dir.join(name);
        files.push(std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    if files[3] != [files[1].as_slice(), files[2].as_slice()].concat() {
        return Err("fullchain.pem is not cert.pem + chain.pem".into());
    }
    let from_cert = openssl(&["x509", "-noout", "-pubkey", "-in"], &dir.join("cert.pem"))?;
    let from_key = openssl(&["pkey", "-pubout", "-in"], &dir.join("privkey.pem"))?;
    if from_cert != from_key {
        return Err("privkey.pem is not the key of cert.pem".into());
    }
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(root)
        .arg("-untrusted")
        .arg(dir.join("chain.pem"))
        .arg(dir.join("cert.pem"))
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(files)
}

/// What `dir` holds besides the public names: the sets (number → files in it),
/// the set `current` names, and temporary links.
#[derive(Debug, Default)]
struct Layout {
    current: Option<u64>,
    sets: BTreeMap<u64, usize>,
    temporaries: Vec<String>,
}

fn layout(dir: &Path) -> Layout {
    let mut layout = Layout {
        current: std::fs::read_link(dir.join("current"))
            .ok()
            .and_then(|t| t.to_str()?.strip_prefix(".set-")?.parse().ok()),
        ..Layout::default()
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return layout;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(number) = name.strip_prefix(".set-").and_then(|n| n.parse().ok()) {
            let files = std::fs::read_dir(entry.path()).map_or(0, Iterator::count);
            layout.sets.insert(number, files);
        } else if name.ends_with(".tmp") && name != ".room.tmp" {
            // (`.room.tmp` is the room check before an order, not a deploy's.)
            layout.temporaries.push(name);
        }
    }
    layout
}

impl Layout {
    /// The highest set number in `dir` (or `current`'s), 0 if none.
    fn top(&self) -> u64 {
        let listed = self.sets.keys().next_back().copied().unwrap_or(0);
        listed.max(self.current.unwrap_or(0))
    }

    /// One set, the current one, and nothing else: no deploy under way.
    fn settled(&self) -> bool {
        self.sets.len() == 1
            && self.current.is_some_and(|c| self.sets.contains_key(&c))
            && self.temporaries.is_empty()
    }

    /// Where a kill left the deploys of a run that began with `floor` as the
    /// highest set number: what readers see, as the fault suite counts it.
    fn outcome(&self, floor: u64) -> &'static str {
        let top = self.top();
        if top <= floor {
            "before any deploy"
        } else if self.current < Some(top) {
            // The new set written in part (or not yet switched to): the old one
            // is what readers see.
            "mid-deploy, old set"
        } else if self.settled() {
            "between deploys"
        } else {
            // `current` switched, the old set not yet (all) removed.
            "mid-deploy, new set"
        }
    }
}

/// Asks for a renewal every [`RENEW_EVERY`] (plain HTTP on a fresh connection,
/// failures ignored: lanseal may be gone) until dropped.
struct Driver {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    fn start(api: &LocalApi) -> Driver {
        let stop = Arc::new(AtomicBool::new(false));
        let address: SocketAddr = api.base.trim_start_matches("http://").parse().unwrap();
        let request = format!(
            "POST /api/v1/certs/{CERT}/renew HTTP/1.1\r\nHost: {address}\r\n\
             Authorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            api.token
        );
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut stream) =
                        TcpStream::connect_timeout(&address, Duration::from_secs(1))
                    {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                        let _ = stream.write_all(request.as_bytes());
                        let _ = stream.read(&mut [0u8; 512]);
                    }
                    std::thread::sleep(RENEW_EVERY);
                }
            }
        });
        Driver {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// xorshift64*: the kill moments, reproducible from the printed seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: not a number")),
        Err(_) => default,
    }
}

/// Waits (polling) until a deploy begins in `dir`: a set numbered above `floor`.
fn wait_deploy_start(dir: &Path, floor: u64, server: &Server, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        if layout(dir).top() > floor {
            return Instant::now();
        }
        if Instant::now() >= deadline {
            let log: Vec<String> = server.log.try_iter().collect();
            panic!("no deploy began within {timeout:?}:\n{}", log.join("\n"));
        }
        std::thread::sleep(WATCH_EVERY);
    }
}

/// Until `dir` is settled again after a deploy began.
fn wait_settled(dir: &Path, timeout: Duration) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        if layout(dir).settled() {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{:?}", layout(dir));
        std::thread::sleep(WATCH_EVERY);
    }
}

/// The log lines so far that speak of the store failing.
fn store_errors(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("store") && (l.contains("[ERROR]") || lower.contains("corrupt"))
        })
        .cloned()
        .collect()
}

/// SIGKILL at random moments across CERT_FAULT_RUNS runs, every other one aimed
/// at a deploy (a random moment within one deploy's duration, measured here
/// first, after its new set appears). After each kill the set in `dir` is
/// complete (old or new), lanseal starts again on the same state and its API
/// reads the store; at the end a renewal is deployed and one set is left.
#[test]
fn sigkill_during_renewals_leaves_the_old_set_or_the_new_one() {
    let runs = env_number("CERT_FAULT_RUNS", 20);
    let seed = env_number(
        "CERT_FAULT_SEED",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            .into(),
    );
    let mut random = Random(seed | 1);
    let started = Instant::now();
    let router = Router::new(TempDir::new(), None);
    let config = router.config();
    let dir = router.cert_dir.clone();
    let root = router.root();

    // The first certificate, then how long a deploy takes on this disk.
    let mut deploys = 0u64;
    let mut a = Server::start_config(&config);
    a.wait_log_within(ISSUED, ISSUE_TIMEOUT);
    deploys += 1;
    let driver = Driver::start(&router.api());
    let mut durations = Vec::new();
    for _ in 0..DEPLOYS_MEASURED {
        let began = wait_deploy_start(&dir, layout(&dir).top(), &a, ISSUE_TIMEOUT);
        durations.push(wait_settled(&dir, ISSUE_TIMEOUT) - began);
        deploys += 1;
    }
    drop(driver);
    a.kill();
    durations.sort();
    let deploy_time = durations[durations.len() / 2];
    // Kills aimed at a deploy land within 1.2 (median) deploy times of its start.
    let window_us = (deploy_time.as_micros() as u64 * 6 / 5).max(200);
    check_set(&dir, &root).unwrap();

    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    let mut partial_files = 0u64;
    for run in 1..=runs {
        let mut a = Server::start_config(&config);
        let api = router.api();
        let answer = api.call("GET", &format!("/api/v1/certs/{CERT}"), None);
        assert_eq!(answer.status, 200, "run {run}: {}", answer.body);
        let floor = layout(&dir).top();
        let driver = Driver::start(&api);
        let aimed = run % 2 == 1;
        let moment = if aimed {
            let began = wait_deploy_start(&dir, floor, &a, ISSUE_TIMEOUT);
            let delay = Duration::from_micros(random.below(window_us + 1));
            while began.elapsed() < delay {
                std::hint::spin_loop();
            }
            format!("{} µs after a deploy began", delay.as_micros())
        } else {
            let ms = RANDOM_KILL_MS.0 + random.below(RANDOM_KILL_MS.1 - RANDOM_KILL_MS.0);
            std::thread::sleep(Duration::from_millis(ms));
            format!("{ms} ms after the start")
        };
        let status = a.kill();
        drop(driver);
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "run {run}: lanseal was not running at the kill"
        );
        let lines: Vec<String> = a.log.try_iter().collect();
        deploys += lines.iter().filter(|l| l.contains(ISSUED)).count() as u64;
        let errors = store_errors(&lines);
        assert!(errors.is_empty(), "run {run}: {errors:?}");
        let seen = layout(&dir);
        let outcome = seen.outcome(floor);
        if outcome == "mid-deploy, old set" && seen.sets.get(&seen.top()) < Some(&FILES.len()) {
            partial_files += 1;
        }
        check_set(&dir, &root)
            .unwrap_or_else(|e| panic!("run {run}, killed {moment} ({outcome}): {e}; {seen:?}"));
        *outcomes.entry(outcome).or_default() += 1;
        eprintln!("run {run}: killed {moment}: {outcome} {seen:?}");
    }

    // lanseal starts on what the kills left; a renewal is deployed, and the
    // leftovers are gone.
    let a = Server::start_config(&config);
    let before = std::fs::read(dir.join("cert.pem")).unwrap();
    let answer = router
        .api()
        .call("POST", &format!("/api/v1/certs/{CERT}/renew"), None);
    assert_eq!(answer.status, 202, "{}", answer.body);
    a.wait_log_within(ISSUED, ISSUE_TIMEOUT);
    deploys += 1;
    let files = check_set(&dir, &root).unwrap();
    assert_ne!(files[1], before, "a new certificate");
    let end = layout(&dir);
    assert!(end.settled(), "{end:?}");
    let midway: u64 = outcomes
        .iter()
        .filter(|(k, _)| k.starts_with("mid"))
        .map(|(_, v)| v)
        .sum();
    report(&format!(
        "SIGKILL: {runs} runs, {runs} kills ({} aimed at a deploy, {} at random 0.2-3 s), \
         {deploys} renewals deployed (logged), kills mid-deploy: {midway} ({} left the old set, {} the new; \
         {partial_files} of them with the new set's files not all written), {} between deploys, \
         {} before the run's first deploy; every set complete \
         (key matches cert, fullchain = cert + chain, chain to Pebble's root), the store opened \
         and lanseal started after every kill, a final renewal deployed; a deploy took \
         {} µs here (median of {DEPLOYS_MEASURED}; kills aimed within {window_us} µs of its start); seed {seed}, {:.1} s",
        runs.div_ceil(2),
        runs / 2,
        outcomes.get("mid-deploy, old set").unwrap_or(&0),
        outcomes.get("mid-deploy, new set").unwrap_or(&0),
        outcomes.get("between deploys").unwrap_or(&0),
        outcomes.get("before any deploy").unwrap_or(&0),
        deploy_time.as_micros(),
        started.elapsed().as_secs_f64(),
    ));
}

/// `unshare … sh -c 'mount -t tmpfs … && exec "$@"'` for `mount` (which must
/// exist): root in a mount namespace of its own (`unshare -m`), else a user
/// namespace too (`-Urm`), if the kernel allows it. The tmpfs vanishes with the
/// process; the test sees it through `/proc/<pid>/root`.
fn tmpfs_wrapper(mount: &Path) -> Result<Vec<String>, String> {
    let uid = run("id", &["-u"]);
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let namespace: &[&str] = if root {
        &["unshare", "-m"]
    } else {
        &["unshare", "-Urm"]
    };
    let script =
        format!("mount -t tmpfs -o size={TMPFS_SIZE},mode=0755 tmpfs \"$0\" && exec \"$@\"");
    let probe = Command::new(namespace[0])
        .args(&namespace[1..])
        .args(["sh", "-c", &script])
        .arg(mount)
        .arg("true")
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "{} cannot mount a tmpfs: {}",
            namespace.join(" "),
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    let mut wrapper: Vec<String> = namespace.iter().map(|s| s.to_string()).collect();
    wrapper.extend(["sh".into(), "-c".into(), script]);
    wrapper.push(mount.display().to_string());
    Ok(wrapper)
}

/// Fills the filesystem of `dir` (a tmpfs): page-sized writes until it refuses.
fn fill(dir: &Path) -> u64 {
    let mut file = std::fs::File::create(dir.join("fill")).unwrap();
    let page = [0u8; 4096];
    let mut written = 0u64;
    loop {
        match file.write(&page) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    // Not one more byte fits.
    let probe = dir.join("probe");
    let refused = std::fs::write(&probe, b"x").is_err();
    let _ = std::fs::remove_file(&probe);
    assert!(refused, "{} still takes a byte", dir.display());
    written
}

/// Where the certs role stands, from the local API.
fn status(api: &LocalApi) -> serde_json::Value {
    api.call("GET", &format!("/api/v1/certs/{CERT}"), None)
        .json()
}

fn renew(api: &LocalApi) {
    let answer = api.call("POST", &format!("/api/v1/certs/{CERT}/renew"), None);
    assert_eq!(answer.status, 202, "{}", answer.body);
}

/// The line from its level on (`certs: …`).
fn message(line: &str) -> &str {
    line.find("] ").map_or(line, |at| &line[at + 2..])
}

/// After a refused attempt: the working set byte for byte and nothing of the
/// new one, DNS and the API answering, the status saying what failed.
fn still_serving(
    a: &Server,
    api: &LocalApi,
    dir: &Path,
    root: &Path,
    working: &[Vec<u8>],
    valid: &serde_json::Value,
    failures: u64,
) -> serde_json::Value {
    let files = check_set(dir, root).unwrap();
    assert!(files == working, "the working set changed");
    let left = layout(dir);
    assert!(
        left.settled(),
        "what the failed attempt wrote stays: {left:?}"
    );
    let answer = a.query("www.home.test", RecordType::A);
    assert!(
        answers(&answer).iter().any(|r| r.ends_with("A 192.0.2.80")),
        "{answer:?}"
    );
    assert_eq!(api.call("GET", "/api/v1/status", None).status, 200);
    let failed = status(api);
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["failures"], failures, "{failed}");
    assert_eq!(failed["not_after"], valid["not_after"], "{failed}");
    assert_eq!(
        failed["next_renewal_reason"], "backoff after failure",
        "{failed}"
    );
    let metrics = api.call("GET", "/metrics", None).body;
    assert!(
        metrics.contains("lanseal_certificate_state{name=\"lan\",state=\"failed\"} 1"),
        "{metrics}"
    );
    failed
}

/// The certificate's `dir` on a tmpfs that is full when a renewal starts, then
/// one that fills while the CA validates: each time the error names the path,
/// the working set stays byte for byte (and nothing of the new one), DNS and
/// the API keep answering, the status says what failed; the first time nothing
/// is ordered. Once the space is freed the next attempt deploys.
#[test]
fn a_full_disk_during_a_deploy_keeps_the_working_certificate() {
    let work = TempDir::new();
    let mount = work.0.join("certs-disk");
    std::fs::create_dir_all(&mount).unwrap();
    let wrapper = match tmpfs_wrapper(&mount) {
        Ok(wrapper) => wrapper,
        Err(why) => {
            report(&format!(
                "disk full: SKIPPED, no tmpfs in a mount namespace here ({why}); \
                 run as root (CI does)"
            ));
            return;
        }
    };
    let started = Instant::now();
    let router = Router::new(work, Some(mount.join(CERT)));
    let root = router.root();
    let a = Server::start_wrapped(&wrapper, &router.config(), Duration::from_secs(20));
    // The tmpfs as the test sees it.
    let view = PathBuf::from(format!("/proc/{}/root{}", a.pid(), mount.display()));
    let dir = view.join(CERT);
    let dir_path = mount.join(CERT).display().to_string();
    a.wait_log_within(ISSUED, ISSUE_TIMEOUT);
    let working = check_set(&dir, &root).unwrap();
    let api = router.api();
    let valid = status(&api);
    assert_eq!(valid["state"], "valid", "{valid}");

    // Full when the renewal starts: refused before anything is ordered.
    let filled = fill(&view);
    renew(&api);
    let (before, seen) = a.wait_log_within("certs: lan: failed: ", ISSUE_TIMEOUT);
    assert!(
        before.contains(&format!("no room to deploy, nothing ordered: {dir_path}: "))
            && before.contains("No space left on device"),
        "{before}"
    );
    assert!(
        !seen.iter().any(|l| l.contains("certs: lan: ordered")),
        "ordered anyway: {seen:?}"
    );
    let first = still_serving(&a, &api, &dir, &root, &working, &valid, 1);

    // Room when it starts, full by the time the CA has issued: the deploy fails.
    std::fs::remove_file(view.join("fill")).unwrap();
    renew(&api);
    a.wait_log_within("certs: lan: ordered", ISSUE_TIMEOUT);
    fill(&view);
    let (during, _) = a.wait_log_within("certs: lan: failed: ", ISSUE_TIMEOUT);
    assert!(
        during.contains(&format!("deploying: {dir_path}/.set-"))
            && during.contains("No space left on device"),
        "{during}"
    );
    let second = still_serving(&a, &api, &dir, &root, &working, &valid, 2);

    // Room again: the next attempt deploys a new certificate.
    std::fs::remove_file(view.join("fill")).unwrap();
    renew(&api);
    a.wait_log_within(ISSUED, ISSUE_TIMEOUT);
    let renewed = check_set(&dir, &root).unwrap();
    assert_ne!(renewed[1], working[1], "a new certificate");
    assert!(layout(&dir).settled(), "{:?}", layout(&dir));
    let valid_again = status(&api);
    assert_eq!(valid_again["state"], "valid", "{valid_again}");
    assert_eq!(valid_again["failures"], 0, "{valid_again}");
    report(&format!(
        "disk full: certificate dir on a {TMPFS_SIZE} tmpfs ({} KiB filled). Full at the \
         renewal: `{}`, nothing ordered; status API state {}, failures {}, last_error {}, \
         next_renewal_reason {}. Filled while the CA validated: `{}`; status API failures {}, \
         last_error {}. Both times the working set kept byte for byte (nothing of the new one \
         left), not_after unchanged, DNS and the API answering; once freed the next attempt \
         deployed ({:.1} s)",
        filled / 1024,
        message(&before),
        first["state"],
        first["failures"],
        first["last_error"],
        first["next_renewal_reason"],
        message(&during),
        second["failures"],
        second["last_error"],
        started.elapsed().as_secs_f64(),
    ));
}
