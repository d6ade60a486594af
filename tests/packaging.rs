//! The Raspberry Pi / Debian side of the platform: the systemd unit passes
//! `systemd-analyze verify`, and `cross/mkdeb.sh` builds a .deb whose control
//! file, conffiles, maintainer scripts, file modes and starting config are
//! checked (the config with `lanseal check-config`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn output(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (tests/run.sh installs it)"));
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_systemd_unit_verifies() {
    let dir = TempDir::new();
    // verify checks that ExecStart exists: point it at the binary under test.
    let unit = std::fs::read_to_string(Path::new(ROOT).join("etc/lanseal.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/lanseal run -c /etc/lanseal/lanseal.toml"));
    for line in [
        "Type=simple",
        "User=lanseal",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "StateDirectory=lanseal",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    let path = dir.write("lanseal.service", &unit.replace("/usr/bin/lanseal", BIN));
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package; tests/run.sh installs it)");
    let complaints =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );
    // It does find faults (so the check above can fail).
    let broken = dir.write(
        "broken.service",
        &unit.replace("Type=simple", "Type=simpel"),
    );
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
}

#[test]
fn mkdeb_builds_a_package_that_installs_the_unit_and_the_user() {
    let dir = TempDir::new();
    // The test binary stripped, as a release one is (its debug info would make
    // xz take a minute).
    let bin = dir.0.join("lanseal");
    output(Command::new("strip").arg("-o").arg(&bin).arg(BIN));
    let out = output(
        Command::new(Path::new(ROOT).join("cross/mkdeb.sh"))
            .args(["x86_64-unknown-linux-musl", "--bin"])
            .arg(&bin)
            .arg("--out")
            .arg(&dir.0),
    );
    let deb = out.trim();
    assert!(deb.ends_with("_amd64.deb"), "{deb}");
    let field = |name: &str| output(Command::new("dpkg-deb").args(["-f", deb, name]));
    assert_eq!(field("Package").trim(), "lanseal");
    assert_eq!(field("Architecture").trim(), "amd64");
    assert_eq!(field("Version").trim(), env!("CARGO_PKG_VERSION"));
    // Files and modes.
    let listing = output(Command::new("dpkg-deb").args(["-c", deb]));
    let mode_of = |path: &str| {
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!(" ./{path}")) || l.ends_with(&format!(" ./{path}/")))
            .unwrap_or_else(|| panic!("{path} not in {listing}"));
        line.split_whitespace().next().unwrap().to_string()
    };
    assert_eq!(mode_of(""), "drwxr-xr-x", "the package's root is /");
    assert_eq!(mode_of("usr/bin/lanseal"), "-rwxr-xr-x");
    assert_eq!(mode_of("lib/systemd/system/lanseal.service"), "-rw-r--r--");
    assert_eq!(mode_of("etc/lanseal/lanseal.toml"), "-rw-r--r--");
    assert_eq!(mode_of("usr/lib/sysusers.d/lanseal.conf"), "-rw-r--r--");
    assert!(
        listing.lines().all(|l| l.contains(" root/root ")),
        "{listing}"
    );
    // The control area: conffiles and the scripts.
    let control = dir.0.join("control");
    output(Command::new("dpkg-deb").args(["-e", deb]).arg(&control));
    let read = |name: &str| std::fs::read_to_string(control.join(name)).unwrap();
    assert_eq!(read("conffiles"), "/etc/lanseal/lanseal.toml\n");
    for script in ["postinst", "prerm", "postrm"] {
        output(Command::new("sh").arg("-n").arg(control.join(script)));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(control.join(script))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{script}");
    }
    assert!(read("postinst").contains("systemd-sysusers /usr/lib/sysusers.d/lanseal.conf"));
    assert!(read("postinst").contains("systemctl enable lanseal.service"));
    assert!(read("prerm").contains("systemctl stop lanseal.service"));
    // The data: the unit as in etc/, a starting config lanseal accepts.
    let data = dir.0.join("data");
    output(Command::new("dpkg-deb").args(["-x", deb]).arg(&data));
    let unit = std::fs::read_to_string(data.join("lib/systemd/system/lanseal.service")).unwrap();
    let source = std::fs::read_to_string(Path::new(ROOT).join("etc/lanseal.service")).unwrap();
    assert_eq!(unit, source);
    let config = data.join("etc/lanseal/lanseal.toml");
    let checked = output(Command::new(BIN).args(["check-config", "-c"]).arg(&config));
    assert!(checked.contains(": ok ("), "{checked}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("state_dir = \"/var/lib/lanseal\""),
        "the unit's StateDirectory"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("user")),
        "the unit sets the user"
    );
    let sysusers = std::fs::read_to_string(data.join("usr/lib/sysusers.d/lanseal.conf")).unwrap();
    assert!(sysusers.starts_with("u lanseal "), "{sysusers}");
}
