//! The web page at `/` in a real browser: Debian's headless Chromium, driven
//! through chromedriver by `tests/browser/page.py` (Selenium), against the real
//! binary (and Pebble, the CA of its certificate) on loopback. The page logs
//! in, shows a blocklist's row (its counters as the API gives them, a blocked
//! query dig made, and the mark of a list at its `names_max`), a certificate
//! and its setup records (one copied through the
//! clipboard and pasted back), shows the API's reason for a malformed record, adds a
//! record that `dig` then gets, deletes it again (`dig` then gets nothing),
//! flushes the cache, asks for a renewal and logs out; the browser's console
//! must show no CSP violation and no script error. The screenshots land in
//! `target/screenshots/` (`api-page.png`, `api-page-phone.png`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::pebble::Pebble;
use common::*;

const PYTHON: &str = "/usr/bin/python3";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// From the browser's start to each step's report: Chromium's first start on a
/// loaded 2-core machine takes seconds; a passing run never waits this long.
/// Where nothing answers DNS: Pebble validates nothing here, the certs role's
/// checks find nothing, and the upstream (there for the cache) never answers.
const NO_DNS: &str = "127.0.0.1:9";
const STEP_TIMEOUT: Duration = Duration::from_secs(180);

/// Fails with what to install when the browser or its driver is missing
/// (tests/run.sh installs them): a browser test never passes without a browser.
fn require_browser() {
    let install = "install Debian's chromium, chromium-driver and python3-selenium \
                   (tests/run.sh does: apt-get install chromium chromium-driver python3-selenium)";
    for program in [PYTHON, CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: {install}"
        );
    }
    let selenium = Command::new(PYTHON)
        .args(["-c", "import selenium"])
        .output()
        .unwrap();
    assert!(
        selenium.status.success(),
        "{PYTHON} cannot import selenium: {install}"
    );
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The driver script, its reports read line by line with a deadline; killed
/// with its browser (its process group) if the test fails first.
struct Driver {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Driver {
    fn start(args: &[String]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/page.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next report, which must start with `word`.
    fn expect(&mut self, word: &str) -> String {
        match self.lines.recv_timeout(STEP_TIMEOUT) {
            Ok(line) if line.starts_with(word) => line[word.len()..].trim().to_string(),
            Ok(line) => panic!("page.py said `{line}`, expected `{word} …`"),
            Err(_) => {
                let status = self.child.try_wait().unwrap();
                panic!("page.py said no `{word}` (exit: {status:?}; its error is above)")
            }
        }
    }

    fn tell(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn page_logs_in_adds_and_deletes_a_record_in_chromium() {
    require_browser();
    let state = TempDir::new();
    let token_file = state.0.join("api.token");
    // Pebble answers the setup (its account); it validates nothing here.
    let pebble = Pebble::start(&state.0, NO_DNS.parse().unwrap());
    // names_max 2: the allow entry and ads.example; more.example is left out.
    let list = state.write("ads.txt", "ads.example\nmore.example\nnot a list line\n");
    let config = format!(
        "log_level = \"debug\"\nstate_dir = \"{state}\"\n\
         [dns]\nlisten = [\"127.0.0.1:0\"]\nresolv_file = \"\"\nupstreams = [\"{NO_DNS}\"]\n\
         [[zone]]\nname = \"home.example.com\"\nrecords = [\"router 300 A 192.168.1.1\"]\n\
         [api]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{token}\"\n\
         [acme]\ndirectory = \"{directory}\"\nca_bundle = \"{ca}\"\ncheck_resolvers = [\"{NO_DNS}\"]\n\
         [[cert]]\nname = \"router\"\ndomains = [\"router.home.example.com\"]\n\
         challenge = \"dns-persist-01\"\ndir = \"{state}/certs/router\"\n\
         [[blocklist]]\nname = \"ads\"\nfiles = [\"{list}\"]\nallow = [\"good.ads.example\"]\n\
         names_max = 2\n",
        list = list.display(),
        state = state.0.display(),
        token = token_file.display(),
        directory = pebble.directory(),
        ca = pebble.ca_bundle().display(),
    );
    let server = Server::start_config(&config);
    let line = server.wait_log("api: http://");
    let url = line.split("api: ").nth(1).unwrap();
    let url = url.split_whitespace().next().unwrap().to_string();

    let screenshot = screenshot_dir().join("api-page.png");
    for stale in ["api-page.png", "api-page-phone.png", "api-page-failure.png"] {
        let _ = std::fs::remove_file(screenshot_dir().join(stale));
    }
    let name = "pagetest.home.example.com";
    let args: Vec<String> = [
        "--url",
        &url,
        "--token-file",
        &token_file.display().to_string(),
        "--zone",
        "home.example.com",
        "--record",
        "pagetest 300 A 192.0.2.77",
        "--owner",
        "pagetest",
        "--cert",
        "router",
        "--blocklist",
        "ads",
        "--screenshot",
        &screenshot.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    // A query first, for the statistics on the screenshot.
    let answer = dig(server.addr, &["+short", "router.home.example.com", "A"]);
    assert_eq!(answer.trim(), "192.168.1.1");
    let answer = dig(server.addr, &["x.ads.example", "A"]);
    assert!(answer.contains("status: NXDOMAIN"), "{answer}");
    let mut driver = Driver::start(&args);

    let row: serde_json::Value = serde_json::from_str(&driver.expect("blocklist")).unwrap();
    let cells: Vec<&str> = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let [
        list,
        names,
        allowed,
        skipped,
        memory,
        blocked,
        loaded,
        failures,
    ] = cells[..]
    else {
        panic!("eight cells in the blocklist row: {row}");
    };
    assert!(list.contains("ads") && list.contains("nxdomain"), "{row}");
    assert!(list.contains("CNAME inspection"), "{row}");
    assert!(names.starts_with('1'), "{row}");
    assert!(
        names.contains("full: names_max 2, 1 left out") && row["full"] == true,
        "a list at its names_max is marked: {row}"
    );
    assert_eq!(
        (allowed, skipped, blocked, failures),
        ("1", "1", "1", "0"),
        "{row}"
    );
    assert!(memory.ends_with(" B") || memory.ends_with(" kB"), "{row}");
    assert!(
        loaded.ends_with(" ago") || loaded.starts_with("in "),
        "{row}"
    );

    let persist = driver.expect("copied");
    assert!(
        persist.starts_with("_validation-persist.router.home.example.com. TXT"),
        "the first setup record, copied with the clipboard API: {persist}"
    );
    let caa = driver.expect("copied");
    assert!(
        caa.starts_with("router.home.example.com. CAA 0 issue"),
        "the second setup record, copied without the clipboard API: {caa}"
    );
    let invalid = driver.expect("invalid");
    assert!(!invalid.is_empty(), "the page showed no reason");
    let id = driver.expect("added");
    assert!(id.parse::<u64>().is_ok(), "record id `{id}`");
    let answer = dig(server.addr, &["+short", name, "A"]);
    assert_eq!(
        answer.trim(),
        "192.0.2.77",
        "dig {name} after the page added it"
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is no PNG",
        screenshot.display()
    );
    driver.tell("continue");

    driver.expect("deleted");
    let answer = dig(server.addr, &[name, "A"]);
    assert!(
        answer.contains("status: NXDOMAIN") && !answer.contains("192.0.2.77"),
        "dig {name} after the page deleted it: {answer}"
    );
    driver.expect("console clean");
    let status = wait_timeout(&mut driver.child, STEP_TIMEOUT).unwrap();
    assert!(status.success(), "page.py: {status}");
    eprintln!("screenshots: {}", screenshot.display());
}
