//! Deploying a certificate set where the router's services read it: the certbot
//! layout in the certificate's `dir`, OpenWrt's `/etc/ssl/acme` links, and the
//! hooks that tell services to reload.
//!
//! A set (key, certificate, chain, full chain) is replaced as one: a crash at any
//! point leaves readers of `dir/privkey.pem` and its siblings either the old
//! complete set or the new one, never a key from one and a certificate from the
//! other. Each set is written into a fresh hidden directory `dir/.set-<n>`
//! (files and directory fsynced), then one symlink, `dir/current`, is switched
//! to it by renaming a temporary symlink over it (atomic), and `dir` is fsynced.
//! The four public names are relative symlinks into `current`, made once, so a
//! reader that opens `privkey.pem` by name keeps working. A layout of plain
//! files (certbot's, or a copy made by hand) is first adopted as a set of its
//! own, so that turning its files into links never shows a mixture.
//!
//! A deploy that fails (a full disk, a read-only `dir`) removes the sets and
//! temporary links it made before it reports the error, so the working set is
//! all that stays; what a crash leaves behind is removed by the next deploy.
//! [`check_room`] tells beforehand whether a set would fit.
//!
//! This module never decides whether a set is worth deploying and never logs:
//! it writes what it is given and reports every failure, with its path, to the
//! caller. One writer per directory at a time (the certs role deploys one
//! certificate at a time).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt, symlink};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::certs::x509::DNS_NAME_BYTES_MAX;

/// How long one hook (the deploy hook, ubus, hotplug-call) may run before its
/// whole process group is killed. A service restart on a slow router takes a
/// few seconds; a hook that hangs must not stall renewals forever.
pub const HOOK_TIMEOUT_SECONDS: u64 = 120;
/// How much of a failed hook's output (stdout and stderr, the end of it) goes
/// into its report.
pub const HOOK_OUTPUT_BYTES_MAX: usize = 2048;
/// The largest PEM file read back (a deployed cert.pem, or a plain file being
/// adopted). A full chain with an RSA-4096 key is under 10 KB.
pub const PEM_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// Entries of `dir` looked at when choosing a set number and removing old sets;
/// the directory holds about ten.
const DIRECTORY_ENTRIES_MAX: usize = 1024;
/// PATH entries searched for `ubus` and `hotplug-call`.
const PATH_DIRECTORIES_MAX: usize = 64;
/// How often a running hook is checked while its output is quiet.
const HOOK_POLL_INTERVAL_MS: u16 = 50;
/// How long to keep reading output after a hook exits, when something it
/// started in the background still holds its output open.
const HOOK_OUTPUT_GRACE_MS: u64 = 500;

const KEY: &str = "privkey.pem";
const CERT: &str = "cert.pem";
const CHAIN: &str = "chain.pem";
const FULLCHAIN: &str = "fullchain.pem";
/// The public names, in the order a set's files are written.
const NAMES: [&str; 4] = [KEY, CERT, CHAIN, FULLCHAIN];
const CURRENT: &str = "current";
const CURRENT_TEMPORARY: &str = ".current.tmp";
const SET_PREFIX: &str = ".set-";
/// The file [`check_room`] writes and removes.
const ROOM_PROBE: &str = ".room.tmp";
/// What [`check_room`] writes: more than a set takes (four files, the largest
/// an RSA-4096 full chain of about 10 KB, each rounded up to 4 KiB blocks).
pub const ROOM_PROBE_BYTES: usize = 32 * 1024;

const DIRECTORY_MODE: u32 = 0o700;
/// Inside `dir`, whose mode the owner controls: readable, so that a service
/// running as another user can still reach cert.pem if the owner lets it.
const SET_DIRECTORY_MODE: u32 = 0o755;
const KEY_MODE: u32 = 0o600;
const PUBLIC_FILE_MODE: u32 = 0o644;
const LINK_DIRECTORY_MODE: u32 = 0o755;

/// Used when the process has no PATH at all (OpenWrt's procd sets one).
const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
const SHELL: &str = "/bin/sh";
const UBUS_EVENT: &str = r#"{"type":"acme.renew","data":{}}"#;

/// One certificate set as PEM text; the full chain is `cert_pem` + `chain_pem`.
pub struct Set<'a> {
    pub key_pem: &'a str,
    pub cert_pem: &'a str,
    pub chain_pem: &'a str,
}

/// A deploy step that failed, and the path it failed on.
#[derive(Debug)]
pub struct DeployError {
    pub path: PathBuf,
    pub error: io::Error,
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for DeployError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// What one hook did.
#[derive(Debug)]
pub struct HookOutcome {
    /// The command as a shell would show it.
    pub command: String,
    /// Err says how it failed (exit status, signal, timeout, cannot start) and
    /// ends with the last of its output.
    pub result: Result<(), String>,
}

/// Writes the set into `dir` (created 0700 if missing): privkey.pem (0600),
/// cert.pem, chain.pem, fullchain.pem, replacing the previous set as one. On a
/// failure, what it wrote and readers cannot reach is removed again.
pub fn write_set(dir: &Path, set: &Set<'_>) -> Result<(), DeployError> {
    deploy_with(dir, set, &mut |_| Ok(()))
}

/// [`write_set`] with the step hook of the tests: a failure (an error from a
/// step or from the hook) is cleaned up, unlike a crash (a test that wants a
/// crash calls [`write_set_with`]).
fn deploy_with(dir: &Path, set: &Set<'_>, after: &mut AfterStep<'_>) -> Result<(), DeployError> {
    let result = write_set_with(dir, set, after);
    if result.is_err() {
        remove_unreachable(dir);
    }
    result
}

/// Whether `dir` (created 0700 if missing) has room for a set now: a file of
/// [`ROOM_PROBE_BYTES`] is written there (not synced) and removed. The certs
/// role asks before it orders, so that a full disk does not spend the CA's
/// issuance (and its rate limits) on certificates that cannot be deployed.
/// The error names `dir`.
pub fn check_room(dir: &Path) -> Result<(), DeployError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIRECTORY_MODE)
        .create(dir)
        .map_err(at(dir))?;
    let probe = dir.join(ROOM_PROBE);
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(KEY_MODE)
        .open(&probe)
        .and_then(|mut file| file.write_all(&[0u8; ROOM_PROBE_BYTES]));
    let removed = fs::remove_file(&probe);
    written.and(removed).map_err(at(dir))
}

/// The set directory `dir/current` names now (`dir/.set-N`), resolved once:
/// files read from it belong to one set, where the public names, each
/// followed on its own, can mix the old set's key with the new set's
/// certificate when a deploy switches `current` between two reads. `None`
/// when `current` is not a link lanseal made (nothing deployed yet).
pub fn current_set(dir: &Path) -> Option<PathBuf> {
    let target = fs::read_link(dir.join(CURRENT)).ok()?;
    let name = target.to_str()?;
    generation_of(target.as_os_str())?;
    Some(dir.join(name))
}

/// The deployed set's cert.pem text, if there is one readable now.
pub fn read_cert(dir: &Path) -> Option<String> {
    let bytes = read_bounded(&dir.join(CERT)).ok()??;
    String::from_utf8(bytes).ok()
}

/// OpenWrt: `base/<domain>.{key,crt,chain.crt,fullchain.crt}` as symlinks to the
/// public names in `dir` (OpenWrt's acme package puts them in /etc/ssl/acme,
/// where uhttpd and others look). Idempotent; a stale regular file or link in
/// their place is replaced.
pub fn write_openwrt_links(base: &Path, domain: &str, dir: &Path) -> Result<(), DeployError> {
    if domain.is_empty()
        || domain.starts_with('.')
        || domain.contains(['/', '\0'])
        || domain.len() > DNS_NAME_BYTES_MAX
    {
        return Err(DeployError {
            path: base.join(domain),
            error: io::Error::new(io::ErrorKind::InvalidInput, "not a domain name"),
        });
    }
    // Links are resolved from base, so they must not depend on our working directory.
    let dir = std::path::absolute(dir).map_err(at(dir))?;
    DirBuilder::new()
        .recursive(true)
        .mode(LINK_DIRECTORY_MODE)
        .create(base)
        .map_err(at(base))?;
    let mut changed = false;
    for (suffix, name) in [
        ("key", KEY),
        ("crt", CERT),
        ("chain.crt", CHAIN),
        ("fullchain.crt", FULLCHAIN),
    ] {
        changed |= place_link(base, &format!("{domain}.{suffix}"), &dir.join(name))?;
    }
    if changed {
        sync_directory(base)?;
    }
    Ok(())
}

/// After a deploy, in order: `deploy_hook` (with `sh -c`), then `ubus call
/// service event '{"type":"acme.renew","data":{}}'` where `ubus` is on the PATH,
/// then `ACTION=renewed hotplug-call acme` where `hotplug-call` is. Each runs at
/// most [`HOOK_TIMEOUT_SECONDS`]; a failure is reported and the next one still
/// runs. `path_env` replaces the PATH for the search and for the hooks.
pub fn run_hooks(
    name: &str,
    dir: &Path,
    domains: &[String],
    deploy_hook: Option<&str>,
    path_env: Option<&OsStr>,
) -> Vec<HookOutcome> {
    let timeout = Duration::from_secs(HOOK_TIMEOUT_SECONDS);
    run_hooks_within(name, dir, domains, deploy_hook, path_env, timeout)
}

/// The steps of a deploy, reported to a test that "crashes" after any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    DirectoryReady,
    /// One file of a set written and fsynced in its hidden directory.
    FileWritten(&'static str),
    /// A set's hidden directory fsynced.
    SetSynced,
    TemporaryCurrentCreated,
    CurrentSwapped,
    /// A public name now a link (temporary link renamed over it).
    LinkPlaced,
    DirectorySynced,
    OldSetsRemoved,
}

type AfterStep<'a> = dyn FnMut(Step) -> io::Result<()> + 'a;

fn after_step(after: &mut AfterStep<'_>, dir: &Path, step: Step) -> Result<(), DeployError> {
    after(step).map_err(at(dir))
}

fn write_set_with(dir: &Path, set: &Set<'_>, after: &mut AfterStep<'_>) -> Result<(), DeployError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIRECTORY_MODE)
        .create(dir)
        .map_err(at(dir))?;
    after_step(after, dir, Step::DirectoryReady)?;

    let mut newest = newest_generation(dir)?;
    if let Some(adopted) = adopt_foreign_files(dir, newest, after)? {
        newest = Some(adopted);
    }
    // Links whose target the current set lacks dangle, which readers see as a
    // missing file: a first set appears all at once when `current` is made.
    let mut changed = false;
    for name in NAMES {
        if place_link(dir, name, &Path::new(CURRENT).join(name))? {
            changed = true;
            after_step(after, dir, Step::LinkPlaced)?;
        }
    }
    if changed {
        sync_directory(dir)?;
        after_step(after, dir, Step::DirectorySynced)?;
    }

    let fullchain = full_chain(set);
    let contents = [
        Some(set.key_pem.as_bytes()),
        Some(set.cert_pem.as_bytes()),
        Some(set.chain_pem.as_bytes()),
        Some(fullchain.as_bytes()),
    ];
    let generation = next_generation(dir, newest)?;
    write_generation(dir, generation, &contents, after)?;
    swap_current(dir, generation, after)?;
    // The old set is no longer reachable once `current` is durable; removing
    // it may fail (nothing depends on it).
    remove_leftovers(dir, Some(generation));
    after_step(after, dir, Step::OldSetsRemoved)
}

/// When a public name is something other than our link (a plain file, a
/// certbot link into its archive), copies what readers see now, all four
/// names, into a set of its own and makes it current; the links that replace
/// those files then show the same bytes. Returns that set's number.
fn adopt_foreign_files(
    dir: &Path,
    newest: Option<u64>,
    after: &mut AfterStep<'_>,
) -> Result<Option<u64>, DeployError> {
    let mut foreign = false;
    for name in NAMES {
        let path = dir.join(name);
        match fs::symlink_metadata(&path) {
            Ok(_) => foreign |= !is_link_to(&path, &Path::new(CURRENT).join(name)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(DeployError { path, error }),
        }
    }
    if !foreign {
        return Ok(None);
    }
    let mut visible: [Option<Vec<u8>>; 4] = Default::default();
    for (slot, name) in visible.iter_mut().zip(NAMES) {
        let path = dir.join(name);
        *slot = read_bounded(&path).map_err(|error| DeployError { path, error })?;
    }
    let contents = visible.each_ref().map(|content| content.as_deref());
    let generation = next_generation(dir, newest)?;
    write_generation(dir, generation, &contents, after)?;
    swap_current(dir, generation, after)?;
    Ok(Some(generation))
}

/// Writes the files that have content into a new `dir/.set-<generation>`,
/// each fsynced, then the directory.
fn write_generation(
    dir: &Path,
    generation: u64,
    contents: &[Option<&[u8]>; 4],
    after: &mut AfterStep<'_>,
) -> Result<(), DeployError> {
    let set_dir = dir.join(format!("{SET_PREFIX}{generation}"));
    // Not recursive, and an existing directory is an error: a set is never reused.
    DirBuilder::new()
        .mode(SET_DIRECTORY_MODE)
        .create(&set_dir)
        .map_err(at(&set_dir))?;
    for (name, content) in NAMES.into_iter().zip(contents) {
        let Some(content) = content else { continue };
        let mode = if name == KEY {
            KEY_MODE
        } else {
            PUBLIC_FILE_MODE
        };
        let path = set_dir.join(name);
        write_file(&path, content, mode).map_err(|error| DeployError { path, error })?;
        after_step(after, dir, Step::FileWritten(name))?;
    }
    sync_directory(&set_dir)?;
    after_step(after, dir, Step::SetSynced)
}

/// Points `dir/current` at `.set-<generation>` by one rename, then makes it durable.
fn swap_current(dir: &Path, generation: u64, after: &mut AfterStep<'_>) -> Result<(), DeployError> {
    let temporary = dir.join(CURRENT_TEMPORARY);
    remove_if_present(&temporary)?;
    symlink(format!("{SET_PREFIX}{generation}"), &temporary).map_err(at(&temporary))?;
    after_step(after, dir, Step::TemporaryCurrentCreated)?;
    let current = dir.join(CURRENT);
    fs::rename(&temporary, &current).map_err(at(&current))?;
    after_step(after, dir, Step::CurrentSwapped)?;
    sync_directory(dir)?;
    after_step(after, dir, Step::DirectorySynced)
}

/// Makes `directory/link_name` a symlink to `target`, replacing whatever file
/// or link is there by one rename. Returns whether anything changed.
fn place_link(directory: &Path, link_name: &str, target: &Path) -> Result<bool, DeployError> {
    let link = directory.join(link_name);
    if is_link_to(&link, target) {
        return Ok(false);
    }
    let temporary = directory.join(format!(".{link_name}.tmp"));
    remove_if_present(&temporary)?;
    symlink(target, &temporary).map_err(at(&temporary))?;
    // rename(2) replaces a file or a link, and refuses a directory: an owner's
    // directory in that place is reported, not removed.
    fs::rename(&temporary, &link).map_err(at(&link))?;
    Ok(true)
}

fn is_link_to(link: &Path, target: &Path) -> bool {
    fs::read_link(link).is_ok_and(|found| found == target)
}

/// The highest set number in `dir`, from `current` and the `.set-*` entries
/// (a set a crash left behind is never overwritten, only removed later).
fn newest_generation(dir: &Path) -> Result<Option<u64>, DeployError> {
    let current = fs::read_link(dir.join(CURRENT))
        .ok()
        .and_then(|target| generation_of(target.as_os_str()));
    let entries = fs::read_dir(dir).map_err(at(dir))?;
    let listed = entries
        .take(DIRECTORY_ENTRIES_MAX)
        .filter_map(|entry| generation_of(&entry.ok()?.file_name()))
        .max();
    Ok(current.max(listed))
}

fn next_generation(dir: &Path, newest: Option<u64>) -> Result<u64, DeployError> {
    newest
        .map_or(Some(1), |newest| newest.checked_add(1))
        .ok_or_else(|| DeployError {
            path: dir.to_owned(),
            error: io::Error::other("set numbers exhausted"),
        })
}

fn generation_of(name: &OsStr) -> Option<u64> {
    let number = name.to_str()?.strip_prefix(SET_PREFIX)?;
    // Only the form we write: no sign, no leading zero.
    if number.starts_with(['0', '+']) {
        return None;
    }
    number.parse().ok()
}

/// After a failed deploy (a full disk, say): removes the sets `current` does
/// not point to and the temporary links, so that failed attempts do not pile
/// up sets (and private keys) that were never deployed, nor hold the space the
/// next attempt needs. Best effort; nothing is removed when `current` cannot
/// be read or points somewhere else than a set.
fn remove_unreachable(dir: &Path) {
    match fs::read_link(dir.join(CURRENT)) {
        Ok(target) => {
            if let Some(generation) = generation_of(target.as_os_str()) {
                remove_leftovers(dir, Some(generation));
            }
        }
        // No set was ever made current: readers see none of them.
        Err(error) if error.kind() == io::ErrorKind::NotFound => remove_leftovers(dir, None),
        Err(_) => {}
    }
}

/// Removes every set but `keep`, and temporary links a crash left behind.
fn remove_leftovers(dir: &Path, keep: Option<u64>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.take(DIRECTORY_ENTRIES_MAX).flatten() {
        let name = entry.file_name();
        match generation_of(&name) {
            Some(generation) if Some(generation) != keep => {
                let _ = fs::remove_dir_all(entry.path());
            }
            Some(_) => {}
            None if is_temporary_name(&name) => {
                let _ = fs::remove_file(entry.path());
            }
            None => {}
        }
    }
}

/// A temporary link, or the probe of [`check_room`], that a crash left behind.
fn is_temporary_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    name == CURRENT_TEMPORARY
        || name == ROOM_PROBE
        || name
            .strip_prefix('.')
            .and_then(|name| name.strip_suffix(".tmp"))
            .is_some_and(|public| NAMES.contains(&public))
}

fn full_chain(set: &Set<'_>) -> String {
    let mut text = String::with_capacity(set.cert_pem.len() + 1 + set.chain_pem.len());
    text.push_str(set.cert_pem);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(set.chain_pem);
    text
}

fn write_file(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

fn sync_directory(path: &Path) -> Result<(), DeployError> {
    File::open(path)
        .and_then(|directory| directory.sync_all())
        .map_err(at(path))
}

fn remove_if_present(path: &Path) -> Result<(), DeployError> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(DeployError {
            path: path.to_owned(),
            error,
        }),
        _ => Ok(()),
    }
}

/// The file's bytes following links; None if it does not exist.
fn read_bounded(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut bytes = Vec::new();
    file.take(PEM_FILE_BYTES_MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > PEM_FILE_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {PEM_FILE_BYTES_MAX} bytes"),
        ));
    }
    Ok(Some(bytes))
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> DeployError + '_ {
    move |error| DeployError {
        path: path.to_owned(),
        error,
    }
}

fn run_hooks_within(
    name: &str,
    dir: &Path,
    domains: &[String],
    deploy_hook: Option<&str>,
    path_env: Option<&OsStr>,
    timeout: Duration,
) -> Vec<HookOutcome> {
    let search_path: OsString = path_env
        .map(OsStr::to_owned)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let command = |program: &OsStr| {
        let mut command = Command::new(program);
        if let Some(path) = path_env {
            command.env("PATH", path);
        }
        command
    };
    let mut outcomes = Vec::new();
    if let Some(hook) = deploy_hook.filter(|hook| !hook.trim().is_empty()) {
        let mut shell = command(OsStr::new(SHELL));
        // The names certbot gives its deploy hooks, so that existing hooks work.
        shell
            .arg("-c")
            .arg(hook)
            .env("LANSEAL_CERT_NAME", name)
            .env("LANSEAL_CERT_DIR", dir)
            .env("LANSEAL_DOMAINS", domains.join(" "))
            .env("RENEWED_LINEAGE", dir)
            .env("RENEWED_DOMAINS", domains.join(" "));
        outcomes.push(HookOutcome {
            command: hook.to_owned(),
            result: run_bounded(shell, timeout),
        });
    }
    if let Some(ubus) = find_on_path("ubus", &search_path) {
        let mut ubus = command(ubus.as_os_str());
        ubus.args(["call", "service", "event", UBUS_EVENT]);
        outcomes.push(HookOutcome {
            command: format!("ubus call service event '{UBUS_EVENT}'"),
            result: run_bounded(ubus, timeout),
        });
    }
    if let Some(hotplug) = find_on_path("hotplug-call", &search_path) {
        let mut hotplug = command(hotplug.as_os_str());
        hotplug.arg("acme").env("ACTION", "renewed");
        outcomes.push(HookOutcome {
            command: "ACTION=renewed hotplug-call acme".to_owned(),
            result: run_bounded(hotplug, timeout),
        });
    }
    outcomes
}

/// An executable file named `program` in an absolute directory of `path`.
fn find_on_path(program: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .take(PATH_DIRECTORIES_MAX)
        .filter(|directory| directory.is_absolute())
        .map(|directory| directory.join(program))
        .find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `command` in a process group of its own with its output collected
/// (bounded); after `timeout` the whole group is killed, so nothing it started
/// outlives it.
fn run_bounded(mut command: Command, timeout: Duration) -> Result<(), String> {
    let (reader, writer) = io::pipe().map_err(|error| format!("cannot create a pipe: {error}"))?;
    let stdout = writer
        .try_clone()
        .map_err(|error| format!("cannot create a pipe: {error}"))?;
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(writer)
        .process_group(0);
    let spawned = command.spawn();
    // The command holds our copies of the pipe's write end: without dropping
    // it, the end of the hook's output would never be seen.
    drop(command);
    let mut child = spawned.map_err(|error| format!("cannot start: {error}"))?;

    let mut output = Output::default();
    let mut reader = Some(reader);
    let deadline = Instant::now() + timeout;
    let mut exited: Option<(ExitStatus, Instant)> = None;
    loop {
        match &mut reader {
            Some(pipe) => {
                if !output.read_some(pipe) {
                    reader = None;
                }
            }
            None => std::thread::sleep(Duration::from_millis(HOOK_POLL_INTERVAL_MS.into())),
        }
        if exited.is_none() {
            match child.try_wait() {
                Ok(Some(status)) => exited = Some((status, Instant::now())),
                Ok(None) => {}
                Err(error) => return Err(format!("cannot wait for it: {error}")),
            }
        }
        match exited {
            Some((status, at))
                if reader.is_none()
                    || at.elapsed() >= Duration::from_millis(HOOK_OUTPUT_GRACE_MS) =>
            {
                return describe(status).map_err(|failure| output.append_to(failure));
            }
            None if Instant::now() >= deadline => {
                kill_group(&mut child);
                let failure = format!("still running after {} s, killed", timeout.as_secs());
                return Err(output.append_to(failure));
            }
            _ => {}
        }
    }
}

fn kill_group(child: &mut std::process::Child) {
    // The group's id is the child's pid (process_group(0)).
    let killed = i32::try_from(child.id())
        .ok()
        .is_some_and(|pid| killpg(Pid::from_raw(pid), Signal::SIGKILL).is_ok());
    if !killed {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn describe(status: ExitStatus) -> Result<(), String> {
    match (status.code(), status.signal()) {
        _ if status.success() => Ok(()),
        (Some(code), _) => Err(format!("exit status {code}")),
        (None, Some(signal)) => Err(format!("killed by signal {signal}")),
        (None, None) => Err(format!("failed: {status}")),
    }
}

/// The last [`HOOK_OUTPUT_BYTES_MAX`] bytes a hook wrote.
#[derive(Default)]
struct Output {
    tail: Vec<u8>,
}

impl Output {
    /// Waits up to one poll interval for output and keeps it. False at the
    /// end of the output (or on an error reading it).
    fn read_some(&mut self, pipe: &mut io::PipeReader) -> bool {
        let mut descriptors = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut descriptors, PollTimeout::from(HOOK_POLL_INTERVAL_MS)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        let mut buffer = [0u8; 512];
        match pipe.read(&mut buffer) {
            Ok(0) => false,
            Ok(count) => {
                self.tail.extend_from_slice(&buffer[..count]);
                let excess = self.tail.len().saturating_sub(HOOK_OUTPUT_BYTES_MAX);
                self.tail.drain(..excess);
                true
            }
            Err(error) => error.kind() == io::ErrorKind::Interrupted,
        }
    }

    fn append_to(&self, failure: String) -> String {
        let text = String::from_utf8_lossy(&self.tail);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        if lines.is_empty() {
            failure
        } else {
            format!("{failure}: {}", lines.join(" | "))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::BTreeSet;
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::store::testing::TempDir;

    /// A set whose every file names its generation, so a reader can tell
    /// whether what it sees belongs together.
    struct Marked {
        key: String,
        cert: String,
        chain: String,
    }

    impl Marked {
        fn new(label: &str) -> Marked {
            Marked {
                key: format!("KEY {label}\n"),
                cert: format!("CERT {label}\n"),
                chain: format!("CHAIN {label}\n"),
            }
        }

        fn set(&self) -> Set<'_> {
            Set {
                key_pem: &self.key,
                cert_pem: &self.cert,
                chain_pem: &self.chain,
            }
        }

        /// What a reader of the four public names must see once it is deployed.
        fn visible(&self) -> Visible {
            [
                Some(self.key.clone()),
                Some(self.cert.clone()),
                Some(self.chain.clone()),
                Some(format!("{}{}", self.cert, self.chain)),
            ]
        }
    }

    /// The four public names as a reader (uhttpd) sees them, in NAMES order.
    type Visible = [Option<String>; 4];

    fn visible(dir: &Path) -> Visible {
        NAMES.map(|name| match fs::read_to_string(dir.join(name)) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => panic!("{name}: {error}"),
        })
    }

    fn entries(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn first_set_modes_links_and_layout() {
        let tmp = TempDir::new();
        let dir = tmp.0.join("certs").join("router.example");
        let new = Marked::new("NEW");
        write_set(&dir, &new.set()).unwrap();
        assert_eq!(visible(&dir), new.visible());
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(KEY)), 0o600);
        assert_eq!(mode(&dir.join(CERT)) & 0o600, 0o600);
        for name in NAMES {
            assert_eq!(
                fs::read_link(dir.join(name)).unwrap(),
                Path::new("current").join(name),
                "{name} is a relative link into current"
            );
        }
        assert_eq!(
            fs::read_link(dir.join(CURRENT)).unwrap(),
            Path::new(".set-1")
        );
        assert_eq!(read_cert(&dir).as_deref(), Some(new.cert.as_str()));
        let expected: BTreeSet<String> = [".set-1", "current", KEY, CERT, CHAIN, FULLCHAIN]
            .map(str::to_owned)
            .into();
        assert_eq!(entries(&dir), expected);
    }

    #[test]
    fn second_set_replaces_first_and_keeps_links() {
        let tmp = TempDir::new();
        let dir = tmp.0.clone();
        write_set(&dir, &Marked::new("OLD").set()).unwrap();
        let link_inode = fs::symlink_metadata(dir.join(KEY)).unwrap().ino();
        let new = Marked::new("NEW");
        write_set(&dir, &new.set()).unwrap();
        assert_eq!(visible(&dir), new.visible());
        assert_eq!(
            fs::symlink_metadata(dir.join(KEY)).unwrap().ino(),
            link_inode,
            "the public links are made once"
        );
        assert_eq!(
            fs::read_link(dir.join(CURRENT)).unwrap(),
            Path::new(".set-2")
        );
        assert!(!dir.join(".set-1").exists(), "the old set is removed");
        assert_eq!(mode(&dir.join(KEY)), 0o600);
    }

    /// `current_set` names the set `current` points at, and nothing for a
    /// directory without one or with a `current` lanseal did not make.
    #[test]
    fn the_current_set_is_the_one_current_names() {
        let tmp = TempDir::new();
        let dir = tmp.0.clone();
        assert_eq!(current_set(&dir), None);
        write_set(&dir, &Marked::new("OLD").set()).unwrap();
        assert_eq!(current_set(&dir), Some(dir.join(".set-1")));
        let new = Marked::new("NEW");
        write_set(&dir, &new.set()).unwrap();
        let set = current_set(&dir).unwrap();
        assert_eq!(set, dir.join(".set-2"));
        assert_eq!(visible(&set), new.visible());
        fs::remove_file(dir.join(CURRENT)).unwrap();
        symlink("/etc", dir.join(CURRENT)).unwrap();
        assert_eq!(current_set(&dir), None);
    }

    #[test]
    fn cert_without_final_newline_still_starts_its_own_line_in_fullchain() {
        let tmp = TempDir::new();
        let set = Set {
            key_pem: "K",
            cert_pem: "C",
            chain_pem: "H\n",
        };
        write_set(&tmp.0, &set).unwrap();
        assert_eq!(fs::read_to_string(tmp.0.join(FULLCHAIN)).unwrap(), "C\nH\n");
    }

    /// The layouts a directory can be in before a deploy.
    fn prepare(kind: &str, dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        let old = Marked::new("OLD");
        match kind {
            "empty" => {}
            "lanseal" => write_set(dir, &old.set()).unwrap(),
            "plain" => {
                for (name, text) in NAMES.into_iter().zip(old.visible()) {
                    fs::write(dir.join(name), text.unwrap()).unwrap();
                }
            }
            // Some tools keep only a key and a full chain.
            "partial plain" => {
                fs::write(dir.join(KEY), &old.key).unwrap();
                fs::write(dir.join(FULLCHAIN), format!("{}{}", old.cert, old.chain)).unwrap();
            }
            // certbot's live/<name>/ links into archive/<name>/.
            "certbot" => {
                let archive = dir.join("archive");
                fs::create_dir_all(&archive).unwrap();
                for (name, text) in NAMES.into_iter().zip(old.visible()) {
                    let file = name.replace(".pem", "1.pem");
                    fs::write(archive.join(&file), text.unwrap()).unwrap();
                    symlink(Path::new("archive").join(&file), dir.join(name)).unwrap();
                }
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_crash_after_any_step_leaves_the_old_set_or_the_new_one() {
        let new = Marked::new("NEW");
        let newer = Marked::new("NEWER");
        for kind in ["empty", "lanseal", "plain", "partial plain", "certbot"] {
            let mut crashed_at = Vec::new();
            for crash_after in 0.. {
                let tmp = TempDir::new();
                let dir = tmp.0.join("live");
                prepare(kind, &dir);
                let before = visible(&dir);
                let mut steps = 0;
                let mut last = None;
                let result = write_set_with(&dir, &new.set(), &mut |step| {
                    last = Some(step);
                    steps += 1;
                    if steps > crash_after {
                        Err(io::Error::other("simulated crash"))
                    } else {
                        Ok(())
                    }
                });
                let seen = visible(&dir);
                if result.is_ok() {
                    assert_eq!(seen, new.visible(), "{kind}: completed");
                    break;
                }
                crashed_at.push(last);
                assert!(
                    seen == before || seen == new.visible(),
                    "{kind}, crash after {last:?}: a mixture {seen:?}"
                );
                // The next deploy recovers, and leaves one set and no temporaries.
                write_set(&dir, &newer.set()).unwrap();
                assert_eq!(visible(&dir), newer.visible(), "{kind}: recovery");
                let sets = entries(&dir)
                    .into_iter()
                    .filter(|name| name.starts_with('.'))
                    .count();
                assert_eq!(sets, 1, "{kind}: {:?}", entries(&dir));
            }
            // Every step was crashed after: 15 for a first set (links, set,
            // swap); 10 once the links exist; a foreign layout first has its
            // visible files adopted as a set (8 steps, one fewer per missing
            // file) and its names turned into links (5 steps).
            let expected_steps = match kind {
                "empty" => 15,
                "lanseal" => 10,
                "partial plain" => 21,
                _ => 23,
            };
            assert_eq!(crashed_at.len(), expected_steps, "{kind}: {crashed_at:?}");
        }
    }

    #[test]
    fn a_failed_deploy_removes_what_it_wrote_and_keeps_the_working_set() {
        let new = Marked::new("NEW");
        let newer = Marked::new("NEWER");
        for kind in ["empty", "lanseal", "plain", "certbot"] {
            for fail_after in 0.. {
                let tmp = TempDir::new();
                let dir = tmp.0.join("live");
                prepare(kind, &dir);
                let before = visible(&dir);
                let mut steps = 0;
                // An I/O error after that many steps, as a full disk gives one
                // (ENOSPC) while a file of the new set is written.
                let result = deploy_with(&dir, &new.set(), &mut |_| {
                    steps += 1;
                    if steps > fail_after {
                        Err(io::Error::from_raw_os_error(28))
                    } else {
                        Ok(())
                    }
                });
                if result.is_ok() {
                    break;
                }
                let seen = visible(&dir);
                assert!(
                    seen == before || seen == new.visible(),
                    "{kind}, failure after {fail_after} steps: {seen:?}"
                );
                // Only what readers reach stays: the set `current` names, if any.
                let hidden: Vec<String> = entries(&dir)
                    .into_iter()
                    .filter(|name| name.starts_with('.'))
                    .collect();
                let current = fs::read_link(dir.join(CURRENT)).ok();
                let expected: Vec<String> = current
                    .iter()
                    .map(|target| target.display().to_string())
                    .collect();
                assert_eq!(hidden, expected, "{kind}, failure after {fail_after} steps");
                write_set(&dir, &newer.set()).unwrap();
                assert_eq!(visible(&dir), newer.visible(), "{kind}: the next deploy");
            }
        }
    }

    #[test]
    fn room_is_checked_without_a_trace() {
        let tmp = TempDir::new();
        let dir = tmp.0.join("certs").join("router");
        check_room(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "created as a deploy creates it");
        assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
        write_set(&dir, &Marked::new("OLD").set()).unwrap();
        let before = entries(&dir);
        check_room(&dir).unwrap();
        assert_eq!(entries(&dir), before);
        // A probe a crash left behind goes with the next deploy.
        fs::write(dir.join(ROOM_PROBE), "x").unwrap();
        write_set(&dir, &Marked::new("NEW").set()).unwrap();
        assert!(!dir.join(ROOM_PROBE).exists());
        // Where no file can be written, the error names the directory.
        let blocked = tmp.0.join("a-file");
        fs::write(&blocked, "").unwrap();
        let error = check_room(&blocked.join("dir")).unwrap_err();
        assert_eq!(error.path, blocked.join("dir"));
    }

    /// The environment variable naming the directory `deploy_loop_child` deploys into.
    const LOOP_DIR_VARIABLE: &str = "LANSEAL_TEST_DEPLOY_LOOP_DIR";

    /// Not a test of its own: the child process of
    /// `kill_9_during_deploys_leaves_one_complete_set`, deploying numbered
    /// sets into one directory until it is killed.
    #[test]
    #[ignore = "run by kill_9_during_deploys_leaves_one_complete_set"]
    fn deploy_loop_child() {
        let Some(dir) = std::env::var_os(LOOP_DIR_VARIABLE) else {
            return;
        };
        let dir = PathBuf::from(dir);
        for round in 0u64.. {
            let label = format!("{}-{round}", std::process::id());
            write_set(&dir, &Marked::new(&label).set()).unwrap();
        }
    }

    /// Either nothing yet, or all four names from one set.
    fn assert_one_set(dir: &Path, context: &str) {
        let seen = visible(dir);
        if seen.iter().all(Option::is_none) {
            return;
        }
        let key = seen[0]
            .as_deref()
            .unwrap_or_else(|| panic!("{context}: {seen:?}"));
        let label = key.trim_end().strip_prefix("KEY ").unwrap();
        assert_eq!(seen, Marked::new(label).visible(), "{context}: a mixture");
    }

    #[test]
    fn kill_9_during_deploys_leaves_one_complete_set() {
        let tmp = TempDir::new();
        let dir = tmp.0.join("live");
        prepare("plain", &dir);
        let test_binary = std::env::current_exe().unwrap();
        for round in 0..20u64 {
            let current_before = fs::read_link(dir.join(CURRENT)).ok();
            let mut child = Command::new(&test_binary)
                .args(["--exact", "certs::deploy::tests::deploy_loop_child"])
                .args(["--ignored", "--test-threads=1", "--quiet"])
                .env(LOOP_DIR_VARIABLE, &dir)
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            // Once the child is deploying (it has switched `current`), let it
            // run a varying while, so the kills land at different points.
            let deadline = Instant::now() + Duration::from_secs(60);
            while fs::read_link(dir.join(CURRENT)).ok() == current_before {
                assert!(Instant::now() < deadline, "the child never deployed");
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(round % 10));
            child.kill().unwrap(); // SIGKILL
            let status = child.wait().unwrap();
            assert_eq!(status.signal(), Some(9), "the child was still deploying");
            assert_one_set(&dir, &format!("after kill {round}"));
        }
        // And the next deploy cleans up whatever the kills left.
        let last = Marked::new("LAST");
        write_set(&dir, &last.set()).unwrap();
        assert_eq!(visible(&dir), last.visible());
        let hidden = entries(&dir)
            .into_iter()
            .filter(|name| name.starts_with('.'))
            .count();
        assert_eq!(hidden, 1, "{:?}", entries(&dir));
    }

    #[test]
    fn a_directory_in_place_of_a_public_name_is_reported() {
        let tmp = TempDir::new();
        fs::create_dir_all(tmp.0.join(CERT).join("inside")).unwrap();
        let error = write_set(&tmp.0, &Marked::new("NEW").set()).unwrap_err();
        assert_eq!(error.path, tmp.0.join(CERT));
        assert!(
            error
                .to_string()
                .starts_with(&tmp.0.join(CERT).display().to_string())
        );
        assert!(
            tmp.0.join(CERT).join("inside").is_dir(),
            "the owner's directory stays"
        );
    }

    #[test]
    fn openwrt_links_idempotent_and_replace_stale_files() {
        let tmp = TempDir::new();
        let dir = tmp.0.join("live");
        let base = tmp.0.join("etc-ssl-acme");
        let set = Marked::new("NEW");
        write_set(&dir, &set.set()).unwrap();
        fs::create_dir_all(&base).unwrap();
        fs::write(base.join("router.example.crt"), "a stale copy").unwrap();
        symlink("/nowhere", base.join("router.example.key")).unwrap();
        write_openwrt_links(&base, "router.example", &dir).unwrap();
        let links = [
            ("router.example.key", KEY, &set.key),
            ("router.example.crt", CERT, &set.cert),
            ("router.example.chain.crt", CHAIN, &set.chain),
        ];
        for (link, name, text) in links {
            assert_eq!(fs::read_link(base.join(link)).unwrap(), dir.join(name));
            assert_eq!(&fs::read_to_string(base.join(link)).unwrap(), text);
        }
        let fullchain = fs::read_to_string(base.join("router.example.fullchain.crt")).unwrap();
        assert_eq!(fullchain, format!("{}{}", set.cert, set.chain));

        let inodes = |base: &Path| {
            entries(base)
                .into_iter()
                .map(|name| fs::symlink_metadata(base.join(&name)).unwrap().ino())
                .collect::<Vec<_>>()
        };
        let before = inodes(&base);
        write_openwrt_links(&base, "router.example", &dir).unwrap();
        assert_eq!(inodes(&base), before, "nothing rewritten the second time");
        assert_eq!(entries(&base).len(), 4);

        // Still right after a renewal: the links go through dir's names.
        let renewed = Marked::new("RENEWED");
        write_set(&dir, &renewed.set()).unwrap();
        let key = fs::read_to_string(base.join("router.example.key")).unwrap();
        assert_eq!(key, renewed.key);

        for bad in ["", "../x", "a/b", ".hidden"] {
            assert!(write_openwrt_links(&base, bad, &dir).is_err(), "{bad:?}");
        }
    }

    /// A directory of stand-ins for OpenWrt's `ubus` and `hotplug-call`, which do
    /// not exist on the Debian machines the tests run on: shell scripts that
    /// append their arguments to a log (and fail when told to).
    struct FakeOpenWrt {
        tmp: TempDir,
    }

    impl FakeOpenWrt {
        fn new(ubus_exit: u8) -> FakeOpenWrt {
            let tmp = TempDir::new();
            let bin = tmp.0.join("bin");
            fs::create_dir_all(&bin).unwrap();
            let log = tmp.0.join("log");
            let script = |name: &str, body: String| {
                let path = bin.join(name);
                fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            };
            script(
                "ubus",
                format!(
                    "printf 'ubus %s\\n' \"$*\" >> '{}'\necho ubus says no >&2\nexit {ubus_exit}",
                    log.display()
                ),
            );
            script(
                "hotplug-call",
                format!(
                    "printf 'hotplug-call %s ACTION=%s\\n' \"$*\" \"$ACTION\" >> '{}'",
                    log.display()
                ),
            );
            FakeOpenWrt { tmp }
        }

        /// The PATH to give run_hooks: the stand-ins first, then the system's.
        fn path(&self) -> OsString {
            format!("{}:/usr/bin:/bin", self.tmp.0.join("bin").display()).into()
        }

        fn log(&self) -> Vec<String> {
            fs::read_to_string(self.tmp.0.join("log"))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    fn domains() -> Vec<String> {
        vec!["router.example".to_owned(), "*.router.example".to_owned()]
    }

    #[test]
    fn hooks_run_in_order_with_certbot_environment() {
        let openwrt = FakeOpenWrt::new(0);
        let log = openwrt.tmp.0.join("log");
        let hook = format!(
            "printf 'hook %s|%s|%s|%s\\n' \"$LANSEAL_CERT_NAME\" \"$LANSEAL_CERT_DIR\" \
             \"$LANSEAL_DOMAINS\" \"$RENEWED_LINEAGE\" >> '{}'",
            log.display()
        );
        let dir = Path::new("/etc/lanseal/live/router");
        let path = openwrt.path();
        let outcomes = run_hooks("router", dir, &domains(), Some(&hook), Some(&path));
        let commands: Vec<&str> = outcomes.iter().map(|o| o.command.as_str()).collect();
        assert_eq!(
            commands,
            [
                hook.as_str(),
                r#"ubus call service event '{"type":"acme.renew","data":{}}'"#,
                "ACTION=renewed hotplug-call acme",
            ]
        );
        assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
        assert_eq!(
            openwrt.log(),
            [
                "hook router|/etc/lanseal/live/router|router.example *.router.example|/etc/lanseal/live/router",
                r#"ubus call service event {"type":"acme.renew","data":{}}"#,
                "hotplug-call acme ACTION=renewed",
            ]
        );
    }

    #[test]
    fn hook_failures_are_reported_and_the_rest_still_run() {
        let openwrt = FakeOpenWrt::new(4);
        let path = openwrt.path();
        let hook = "echo first line; echo 'cannot reload uhttpd' >&2; exit 3";
        let outcomes = run_hooks(
            "router",
            Path::new("/x"),
            &domains(),
            Some(hook),
            Some(&path),
        );
        assert_eq!(outcomes.len(), 3, "{outcomes:?}");
        let failure = outcomes[0].result.as_ref().unwrap_err();
        assert!(failure.starts_with("exit status 3"), "{failure}");
        assert!(
            failure.contains("first line | cannot reload uhttpd"),
            "{failure}"
        );
        let failure = outcomes[1].result.as_ref().unwrap_err();
        assert_eq!(failure, "exit status 4: ubus says no");
        assert!(outcomes[2].result.is_ok());
        assert_eq!(openwrt.log().len(), 2, "ubus and hotplug-call both ran");

        let missing = run_hooks(
            "router",
            Path::new("/x"),
            &domains(),
            Some("exec /nonexistent/program"),
            Some(OsStr::new("/nonexistent")),
        );
        assert_eq!(missing.len(), 1, "no ubus or hotplug-call on that PATH");
        assert!(
            missing[0]
                .result
                .as_ref()
                .unwrap_err()
                .starts_with("exit status")
        );

        let none = run_hooks(
            "router",
            Path::new("/x"),
            &domains(),
            None,
            Some(OsStr::new("")),
        );
        assert!(none.is_empty());
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_with_what_it_started() {
        let tmp = TempDir::new();
        fs::create_dir_all(&tmp.0).unwrap();
        let pid_file = tmp.0.join("background.pid");
        // A background child that would outlive a plain kill of the shell.
        let hook = format!(
            "sleep 300 & echo $! > '{}'; echo started; wait",
            pid_file.display()
        );
        let started = Instant::now();
        let outcomes = run_hooks_within(
            "router",
            &tmp.0,
            &domains(),
            Some(&hook),
            Some(OsStr::new("/usr/bin:/bin")),
            Duration::from_secs(1),
        );
        assert!(started.elapsed() < Duration::from_secs(120), "not killed");
        let failure = outcomes[0].result.as_ref().unwrap_err();
        assert_eq!(failure, "still running after 1 s, killed: started");
        let pid = fs::read_to_string(&pid_file).unwrap().trim().to_owned();
        // Killed, then reaped by whoever inherited it: gone or a zombie.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat.rsplit(") ").next().map(|rest| rest.chars().next()))
                .flatten();
            if matches!(state, None | Some('Z')) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "background sleep {pid} still {state:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn a_finished_hook_is_not_held_up_by_its_background_child() {
        let tmp = TempDir::new();
        fs::create_dir_all(&tmp.0).unwrap();
        let pid_file = tmp.0.join("background.pid");
        // The background sleep keeps the hook's output open after the hook exits.
        let hook = format!("sleep 300 & echo $! > '{}'", pid_file.display());
        let started = Instant::now();
        let outcomes = run_hooks_within(
            "router",
            &tmp.0,
            &domains(),
            Some(&hook),
            Some(OsStr::new("/usr/bin:/bin")),
            Duration::from_secs(200),
        );
        let pid: i32 = fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        assert!(outcomes[0].result.is_ok(), "{outcomes:?}");
        assert!(
            started.elapsed() < Duration::from_secs(100),
            "waited for the background child"
        );
    }
}
