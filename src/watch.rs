//! Change notification for lease/hosts files and interface addresses.
//!
//! Owns one inotify fd (watches on the *parent directories* of watched files, and
//! on watched directories themselves) and, optionally, one NETLINK_ROUTE socket
//! joined to the link and address multicast groups. [`Watcher::wait`] blocks in
//! poll(2) on both, so nothing costs CPU while nothing changes. Invariants: every
//! watch descriptor in `watched` was returned by our inotify fd and is removed when
//! the kernel reports `IN_IGNORED`; every wait drains all pending events, so one
//! burst of writes gives one `Changes`; no call here panics or fails after `new`.
//! Netlink messages are never parsed: any message means "addresses may differ".

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::socket::{
    AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, socket,
};

/// Link and address groups from `<linux/rtnetlink.h>` (nix does not export them).
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
/// Reads per fd per poll wake-up; a flood beyond this is drained on the next wake-up
/// instead of starving the deadline check.
const DRAIN_READS_MAX: usize = 64;
/// Netlink messages are discarded unread; a short datagram read just truncates.
const NETLINK_BUFFER_BYTES: usize = 512;

/// What changed during one [`Watcher::wait`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    pub files: bool,
    pub interfaces: bool,
}

/// One watched directory: `names: None` means every entry counts.
struct Watched {
    dir: PathBuf,
    names: Option<Vec<OsString>>,
}

pub struct Watcher {
    inotify: Inotify,
    netlink: Option<OwnedFd>,
    watched: HashMap<WatchDescriptor, Watched>,
    missing: Vec<PathBuf>,
}

fn watch_mask() -> AddWatchFlags {
    AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MODIFY
}

impl Watcher {
    /// Watches `paths` (files or directories; they may not exist yet) and, if
    /// `interfaces`, address changes. A path that is an existing directory is
    /// watched itself; anything else is a file watched through its parent (if it
    /// later appears as a directory, the directory is watched from then on).
    /// Errors only if inotify or the netlink socket cannot be set up.
    pub fn new(paths: &[PathBuf], interfaces: bool) -> std::io::Result<Watcher> {
        let mut watcher = Watcher {
            inotify: Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?,
            netlink: interfaces.then(netlink_socket).transpose()?,
            watched: HashMap::new(),
            missing: Vec::new(),
        };
        let current_dir = std::env::current_dir().unwrap_or_default();
        for path in paths {
            let path = current_dir.join(path);
            match (path.is_dir(), path.parent(), path.file_name()) {
                (false, Some(dir), Some(name)) => watcher.add(dir, Some(name.to_owned())),
                _ => watcher.add(&path, None),
            }
        }
        Ok(watcher)
    }

    /// Blocks until something changed or `timeout` passed (then returns
    /// `Changes::default()`). After the first change keeps collecting for `settle`,
    /// so a file written in several steps gives one result.
    pub fn wait(&mut self, timeout: Duration, settle: Duration) -> Changes {
        let mut changes = Changes::default();
        let mut deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return changes;
            }
            let ready = {
                let mut fds = vec![PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
                let netlink = self.netlink.as_ref().map(|fd| fd.as_fd());
                fds.extend(netlink.map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
                poll(&mut fds, poll_timeout(remaining))
            };
            match ready {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(error) => {
                    log::warn!("watch: poll failed ({error}); sleeping until the timeout");
                    std::thread::sleep(remaining);
                    return changes;
                }
            }
            let before = changes;
            changes.files |= self.drain_inotify();
            changes.interfaces |= self.drain_netlink();
            if before == Changes::default() && changes != before {
                deadline = Instant::now() + settle;
            }
        }
    }

    /// Directories that could not be watched (usually: they did not exist yet, or
    /// were deleted since). A caller may re-create the Watcher to pick them up.
    pub fn missing(&self) -> &[PathBuf] {
        &self.missing
    }

    fn add(&mut self, dir: &Path, name: Option<OsString>) {
        let wd = match self.inotify.add_watch(dir, watch_mask()) {
            Ok(wd) => wd,
            Err(error) => {
                if error != Errno::ENOENT {
                    log::warn!("watch: cannot watch {}: {error}", dir.display());
                }
                if !self.missing.iter().any(|known| known == dir) {
                    self.missing.push(dir.to_owned());
                }
                return;
            }
        };
        let entry = self.watched.entry(wd).or_insert_with(|| Watched {
            dir: dir.to_owned(),
            names: Some(Vec::new()),
        });
        match (&mut entry.names, name) {
            (Some(names), Some(name)) if !names.contains(&name) => names.push(name),
            (names, None) => *names = None,
            _ => {}
        }
    }

    /// Reads every pending inotify event; true if one concerned a watched path.
    fn drain_inotify(&mut self) -> bool {
        let mut changed = false;
        let mut new_dirs = Vec::new();
        let inotify = &self.inotify;
        let reads = (0..DRAIN_READS_MAX).map_while(|_| inotify.read_events().ok());
        for event in reads.flatten() {
            if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                changed = true;
                continue;
            }
            if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                if let Some(gone) = self.watched.remove(&event.wd) {
                    changed = true;
                    if !self.missing.contains(&gone.dir) {
                        self.missing.push(gone.dir);
                    }
                }
                continue;
            }
            let Some(watched) = self.watched.get(&event.wd) else {
                continue;
            };
            let matches = match (&watched.names, &event.name) {
                (None, _) => true,
                (Some(names), Some(name)) => names.contains(name),
                (Some(_), None) => false,
            };
            changed |= matches;
            let appeared = AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO;
            if matches
                && watched.names.is_some()
                && event.mask.contains(AddWatchFlags::IN_ISDIR)
                && event.mask.intersects(appeared)
                && let Some(name) = &event.name
            {
                new_dirs.push(watched.dir.join(name));
            }
        }
        for dir in new_dirs {
            self.add(&dir, None);
        }
        changed
    }

    /// Reads every pending netlink datagram; true if there was one (or an overrun).
    fn drain_netlink(&self) -> bool {
        let Some(netlink) = &self.netlink else {
            return false;
        };
        let mut buffer = [0u8; NETLINK_BUFFER_BYTES];
        let mut changed = false;
        for _ in 0..DRAIN_READS_MAX {
            match nix::unistd::read(netlink.as_fd(), &mut buffer) {
                Ok(_) | Err(Errno::ENOBUFS) => changed = true,
                Err(_) => break,
            }
        }
        changed
    }
}

fn netlink_socket() -> std::io::Result<OwnedFd> {
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        flags,
        SockProtocol::NetlinkRoute,
    )?;
    let groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
    Ok(fd)
}

/// Whole milliseconds, rounded up so a sub-millisecond rest does not spin.
fn poll_timeout(remaining: Duration) -> PollTimeout {
    PollTimeout::try_from(remaining + Duration::from_micros(999)).unwrap_or(PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const SETTLE: Duration = Duration::from_millis(50);
    const EVENT_TIMEOUT: Duration = Duration::from_secs(3);
    const QUIET_TIMEOUT: Duration = Duration::from_millis(300);

    const FILES: Changes = Changes {
        files: true,
        interfaces: false,
    };

    /// A fresh directory, removed on drop.
    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir() -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lanseal-watch-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn watch(path: &Path) -> Watcher {
        Watcher::new(&[path.to_owned()], false).unwrap()
    }

    #[test]
    fn writing_watched_file_reports_once_per_burst() {
        let tmp = temp_dir();
        let leases = tmp.0.join("dhcp.leases");
        let mut watcher = watch(&leases);
        assert!(watcher.missing().is_empty());
        std::fs::write(&leases, "a\n").unwrap();
        std::fs::write(&leases, "a\nb\n").unwrap();
        assert_eq!(watcher.wait(EVENT_TIMEOUT, SETTLE), FILES);
        assert_eq!(watcher.wait(QUIET_TIMEOUT, SETTLE), Changes::default());
    }

    #[test]
    fn other_file_in_same_dir_is_ignored() {
        let tmp = temp_dir();
        let mut watcher = watch(&tmp.0.join("dhcp.leases"));
        std::fs::write(tmp.0.join("other"), "x").unwrap();
        assert_eq!(watcher.wait(QUIET_TIMEOUT, SETTLE), Changes::default());
    }

    #[test]
    fn rename_over_watched_file_reports() {
        let tmp = temp_dir();
        let leases = tmp.0.join("dhcp.leases");
        std::fs::write(&leases, "old").unwrap();
        let mut watcher = watch(&leases);
        std::fs::write(tmp.0.join("dhcp.leases.tmp"), "new").unwrap();
        std::fs::rename(tmp.0.join("dhcp.leases.tmp"), &leases).unwrap();
        assert_eq!(watcher.wait(EVENT_TIMEOUT, SETTLE), FILES);
    }

    #[test]
    fn directory_source_reports_any_entry() {
        let tmp = temp_dir();
        let mut watcher = watch(&tmp.0);
        std::fs::write(tmp.0.join("odhcpd"), "x").unwrap();
        assert_eq!(watcher.wait(EVENT_TIMEOUT, SETTLE), FILES);
    }

    #[test]
    fn directory_created_later_is_watched() {
        let tmp = temp_dir();
        let hosts = tmp.0.join("hosts");
        let mut watcher = watch(&hosts);
        std::fs::create_dir(&hosts).unwrap();
        assert_eq!(watcher.wait(EVENT_TIMEOUT, SETTLE), FILES);
        std::fs::write(hosts.join("odhcpd"), "x").unwrap();
        assert_eq!(watcher.wait(EVENT_TIMEOUT, SETTLE), FILES);
    }

    #[test]
    fn missing_parent_is_reported_not_fatal() {
        let tmp = temp_dir();
        let absent = tmp.0.join("absent");
        let watcher = watch(&absent.join("dhcp.leases"));
        assert_eq!(watcher.missing(), [absent]);
    }

    #[test]
    fn nothing_changed_waits_for_the_timeout() {
        let mut watcher = Watcher::new(&[], false).unwrap();
        let started = Instant::now();
        assert_eq!(watcher.wait(QUIET_TIMEOUT, SETTLE), Changes::default());
        let took = started.elapsed();
        assert!(
            took >= QUIET_TIMEOUT && took < QUIET_TIMEOUT * 3,
            "took {took:?}"
        );
    }

    #[test]
    fn interface_watch_sets_up() {
        match Watcher::new(&[], true) {
            Ok(mut watcher) => {
                // Real interfaces are not touched; only check that waiting works.
                let _ = watcher.wait(Duration::from_millis(10), Duration::ZERO);
            }
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                eprintln!("netlink bind refused in this sandbox: {error}");
            }
            Err(error) => panic!("netlink setup failed: {error}"),
        }
    }
}
