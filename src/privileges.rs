//! Dropping root: after every socket is bound and every file that needs root is
//! open, the process becomes the config's `user` for good, so the HTTP parser,
//! bcrypt and SQLite of an internet-facing delegate never run as root.
//!
//! Owns the order and the checks. [`drop_to`] must run while the process has one
//! thread: `setuid(2)` changes only the calling thread in the kernel (glibc and
//! musl broadcast it to the others, but a thread started by a library would keep
//! root), so it refuses when `/proc/self/task` lists more than one. It makes the
//! paths it is given the user's (the state directory and the store's files, so
//! SQLite can create its journal there), then `setgroups([gid])` (only the
//! user's primary group, none of root's), `setgid`, `setuid`, and verifies: real,
//! effective and saved ids are the user's, and `setuid(0)` fails. Any failure is
//! a [`PrivilegeError`] and the daemon stops (exit 1): running on as root when
//! the config says otherwise is never the fallback.
//!
//! Not started as root, there is nothing to drop: when the process already is
//! `user`, that is the goal; when it is another user it logs a warning and runs
//! on. An error there would only stop someone trying a production config as an
//! ordinary user, who holds no more rights than that user's anyway.

use std::fmt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, User};

/// Why the privileges could not be dropped. Exit code 1.
#[derive(Debug)]
pub struct PrivilegeError(pub String);

impl fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PrivilegeError {}

/// What [`drop_to`] did, for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Root became the user.
    Dropped { uid: u32, gid: u32 },
    /// Already running as the user (or `user` is root itself): nothing to do.
    AlreadyTheUser,
    /// Not root and not the user: nothing can be dropped; runs on as `uid`.
    NotRoot { uid: u32 },
}

/// [`drop_to`] with its outcome logged: the daemon's one call.
pub fn apply(
    user: &str,
    owned: &[PathBuf],
    config_file: Option<&Path>,
) -> Result<(), PrivilegeError> {
    match drop_to(user, owned, config_file)? {
        Outcome::Dropped { uid, gid } => {
            log::info!("running as user {user} (uid {uid}, gid {gid})");
        }
        Outcome::AlreadyTheUser => log::debug!("running as user {user} already"),
        Outcome::NotRoot { uid } => log::warn!(
            "user = \"{user}\" is set, but lanseal was not started as root: \
             it runs on as uid {uid}"
        ),
    }
    Ok(())
}

/// Becomes `user` (see the module doc); `owned` become the user's first, and
/// `config_file` (read again by root at every start) must not lie in any of them.
pub fn drop_to(
    user: &str,
    owned: &[PathBuf],
    config_file: Option<&Path>,
) -> Result<Outcome, PrivilegeError> {
    let found = User::from_name(user)
        .map_err(|e| PrivilegeError(format!("user `{user}`: cannot read the user database: {e}")));
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        return Ok(match found {
            Ok(Some(target)) if target.uid == euid => Outcome::AlreadyTheUser,
            _ => Outcome::NotRoot { uid: euid.as_raw() },
        });
    }
    let Some(target) = found? else {
        return Err(PrivilegeError(format!(
            "user `{user}` does not exist (create it, e.g. `adduser -S -D -H {user}`, or remove `user`)"
        )));
    };
    if target.uid.is_root() {
        return Ok(Outcome::AlreadyTheUser);
    }
    let threads = thread_count();
    if threads.is_some_and(|n| n > 1) {
        return Err(PrivilegeError(format!(
            "cannot drop privileges: {} threads are running already (the drop must come first)",
            threads.unwrap_or(0)
        )));
    }
    if let Some(config_file) = config_file {
        refuse_config_inside(owned, config_file, user)?;
    }
    for path in owned {
        std::os::unix::fs::chown(path, Some(target.uid.as_raw()), Some(target.gid.as_raw()))
            .map_err(|e| {
                PrivilegeError(format!(
                    "cannot give {} to user `{user}`: {e}",
                    path.display()
                ))
            })?;
    }
    let failed = |step: &str, e: nix::Error| {
        PrivilegeError(format!("cannot drop privileges to `{user}`: {step}: {e}"))
    };
    nix::unistd::setgroups(&[target.gid]).map_err(|e| failed("setgroups", e))?;
    nix::unistd::setgid(target.gid).map_err(|e| failed("setgid", e))?;
    nix::unistd::setuid(target.uid).map_err(|e| failed("setuid", e))?;
    verify(target.uid, target.gid).map_err(|m| PrivilegeError(format!("user `{user}`: {m}")))?;
    Ok(Outcome::Dropped {
        uid: target.uid.as_raw(),
        gid: target.gid.as_raw(),
    })
}

/// After the drop: every id is the target's, and root cannot be taken back.
fn verify(uid: Uid, gid: Gid) -> Result<(), String> {
    let (real, effective) = (nix::unistd::getuid(), nix::unistd::geteuid());
    let (real_group, effective_group) = (nix::unistd::getgid(), nix::unistd::getegid());
    if real != uid || effective != uid || real_group != gid || effective_group != gid {
        return Err(format!(
            "after the drop uid {real}/{effective} gid {real_group}/{effective_group}, \
             expected uid {uid} gid {gid}"
        ));
    }
    let groups = nix::unistd::getgroups().map_err(|e| format!("getgroups: {e}"))?;
    if groups.iter().any(|g| *g != gid) {
        return Err(format!(
            "supplementary groups {groups:?} left after the drop"
        ));
    }
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err("setuid(0) still succeeds after the drop".into());
    }
    Ok(())
}

/// The paths made the user's must not hold the config file: the user could then
/// rewrite what root reads at the next start (`state_dir`, and so what root
/// chowns, among it).
fn refuse_config_inside(
    owned: &[PathBuf],
    config_file: &Path,
    user: &str,
) -> Result<(), PrivilegeError> {
    let Ok(config_file) = config_file.canonicalize() else {
        return Ok(());
    };
    for path in owned {
        let Ok(directory) = path.canonicalize() else {
            continue;
        };
        if directory.is_dir() && config_file.starts_with(&directory) {
            return Err(PrivilegeError(format!(
                "{} holds the config file {}: it would become user `{user}`'s, who could then \
                 rewrite what root reads at start; give state_dir a directory of its own \
                 (e.g. state_dir = \"/etc/lanseal/state\")",
                directory.display(),
                config_file.display()
            )));
        }
    }
    Ok(())
}

/// Threads of this process, from `/proc/self/task`; `None` without `/proc`.
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(|entries| entries.count())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn config_inside_an_owned_directory_is_refused() {
        let dir = std::env::temp_dir().join(format!("lanseal-privileges-{}", std::process::id()));
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        let outside = dir.join("lanseal.toml");
        let inside = state.join("lanseal.toml");
        std::fs::write(&outside, "").unwrap();
        std::fs::write(&inside, "").unwrap();
        let store = state.join("lanseal.db");
        std::fs::write(&store, "").unwrap();
        let owned = [state.clone(), store];
        assert!(refuse_config_inside(&owned, &outside, "nobody").is_ok());
        let error = refuse_config_inside(&owned, &inside, "nobody").unwrap_err();
        assert!(error.0.contains("holds the config file"), "{error}");
        // Through a `..` or a symlink: the same directory.
        let dotted = state.join("..").join("state").join("lanseal.toml");
        assert!(refuse_config_inside(&owned, &dotted, "nobody").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn threads_are_counted() {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        // This thread and one more, alive until `stop` is dropped.
        let extra = std::thread::spawn(move || stopped.recv());
        assert!(thread_count().unwrap() >= 2);
        drop(stop);
        let _ = extra.join();
    }
}
