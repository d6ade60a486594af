//! Build-time facts the binary needs: `LANSEAL_BUILD_UNIX`, the build's time in unix
//! seconds, a lower bound on the real time whenever the binary runs (see
//! `certs::schedule::BUILD_UNIX`: routers without an RTC boot in 1970, and no
//! renewal is decided before the clock has passed this).
//!
//! Taken from SOURCE_DATE_EPOCH when set (reproducible builds), else the earlier of
//! the HEAD commit's time (`git log -1 --format=%ct`) and the build machine's clock
//! (a committer's clock running ahead must not make routers wait), else that clock.
//!
//! Reruns only when this file, SOURCE_DATE_EPOCH or the repository's HEAD file
//! changes (a checkout). Not on every commit: that would recompile the crate for
//! nothing, and an older time is still a correct lower bound.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> Result<(), String> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let build_unix = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse::<u64>().map_err(|_| {
            format!("SOURCE_DATE_EPOCH={text:?} is not unix seconds (decimal digits)")
        })?,
        Err(std::env::VarError::NotPresent) => {
            let clock = clock_unix()?;
            match git_head_commit_unix() {
                Some(commit) => commit.min(clock),
                None => clock,
            }
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err("SOURCE_DATE_EPOCH is not unix seconds (not UTF-8)".to_owned());
        }
    };
    if let Some(head) = git_head_file() {
        println!("cargo::rerun-if-changed={}", head.display());
    }
    println!("cargo::rustc-env=LANSEAL_BUILD_UNIX={build_unix}");
    Ok(())
}

/// The build machine's clock.
fn clock_unix() -> Result<u64, String> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .map_err(|_| "the build machine's clock is before 1970".to_owned())
}

/// `git` run in the package's directory; None if git is missing or fails (a source
/// tarball, a vendored crate, a repository owned by another user).
fn git(arguments: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(arguments)
        .current_dir(manifest_dir())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned())
}

fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The HEAD commit's committer time.
fn git_head_commit_unix() -> Option<u64> {
    git(&["log", "-1", "--format=%ct"])?.parse().ok()
}

/// The repository's HEAD file (in a worktree, the worktree's own), if it exists: a
/// path that does not exist would make cargo rerun this script on every build.
fn git_head_file() -> Option<PathBuf> {
    let path = PathBuf::from(git(&["rev-parse", "--git-path", "HEAD"])?);
    let path = if path.is_absolute() {
        path
    } else {
        manifest_dir().join(path)
    };
    Path::new(&path).is_file().then_some(path)
}
