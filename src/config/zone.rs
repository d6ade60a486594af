//! `[[zone]]`: each zone's mode, TTL, name, record lines (with their config
//! lines, `[zone.mail]` turned into record lines by `mail`) and master file
//! (`file`, `include`) as a [`ZoneSpec`]; the
//! rule that a zone name is defined once across `[[zone]]`, the lease domain and
//! `delegate.zone`; and the lease zone that lease and hosts files imply. The
//! records themselves are checked when the zones are built (`Zones::build`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use toml::Spanned;

use super::dns::Dns;
use super::{ConfigError, Lines, mail, raw};
use crate::dns::hosts::HOST_TTL_SECS;
use crate::dns::tsig::Key;
use crate::dns::xfr::ZoneTransfers;
use crate::dns::zone::file::ZoneFile;
use crate::dns::zone::{Mode, ZoneSpec};
use crate::dns::zone::{domain_wire, same_zone_name};

const ZONE_TTL_DEFAULT_SECS: u32 = 300;

/// A `[[zone]]`'s `secondaries`: the zone's index, the addresses, and where
/// the key is written.
pub(super) type Secondaries = (usize, Vec<SocketAddr>, usize);

/// What [`resolve_all`] returns: the zones, each one's config line, and the
/// zones' `secondaries`.
type Resolved = (Vec<ZoneSpec>, Vec<usize>, Vec<Secondaries>);

/// Every `[[zone]]`, each name once; also returns the config line of each zone's
/// `name`, and the zones' `secondaries` (for [`transfers`]).
pub(super) fn resolve_all(raw: Vec<raw::Zone>, lines: &Lines<'_>) -> Result<Resolved, ConfigError> {
    let mut zones = Vec::with_capacity(raw.len() + 1);
    let mut zone_lines = Vec::with_capacity(raw.len() + 1);
    let mut transferred = Vec::new();
    for mut zone in raw {
        let at = zone.name.span().start;
        if let Some(list) = zone.secondaries.take() {
            let list_at = list.first().map_or(at, |s| s.span().start);
            let addresses = super::delegate::secondaries(Some(list), "zone.secondaries", lines)?;
            if !addresses.is_empty() {
                transferred.push((zones.len(), addresses, list_at));
            }
        }
        let spec = resolve(zone, lines)?;
        check_zone_unique(&spec.name, &zones, &zone_lines, lines, at, "zone")?;
        zones.push(spec);
        zone_lines.push(lines.line(at));
    }
    Ok((zones, zone_lines, transferred))
}

/// The zones with `secondaries`, with `[dns]`'s key (required then); `None`
/// when no zone has any (the default: nothing is transferred). A zone must be
/// authoritative: an overlay zone has no SOA of its own to transfer.
pub(super) fn transfers(
    zones: &[ZoneSpec],
    transferred: Vec<Secondaries>,
    key: Option<&Arc<Key>>,
    lines: &Lines<'_>,
) -> Result<Option<ZoneTransfers>, ConfigError> {
    let Some(first_at) = transferred.first().map(|t| t.2) else {
        return Ok(None);
    };
    let Some(key) = key else {
        return Err(lines.error(
            first_at,
            "zone.secondaries need [dns] tsig_key_file (a 0600 file with the base64 secret)",
        ));
    };
    let mut out = Vec::with_capacity(transferred.len());
    for (index, secondaries, at) in transferred {
        let Some(zone) = zones.get(index) else {
            continue;
        };
        if zone.mode == Mode::Overlay {
            return Err(lines.error(
                at,
                format!(
                    "zone `{}`: secondaries need mode = \"authoritative\" (an overlay zone has no SOA of its own to transfer)",
                    zone.name
                ),
            ));
        }
        let apex = domain_wire(&zone.name)
            .map_err(|e| lines.error(at, format!("zone `{}`: {e}", zone.name)))?;
        out.push((apex.into_boxed_slice(), secondaries));
    }
    Ok(Some(ZoneTransfers {
        key: key.clone(),
        zones: out,
    }))
}

fn resolve(raw: raw::Zone, lines: &Lines<'_>) -> Result<ZoneSpec, ConfigError> {
    let mode = match raw.mode.as_ref().map(|m| m.get_ref().as_str()) {
        None | Some("authoritative") => Mode::Authoritative,
        Some("overlay") => Mode::Overlay,
        Some(other) => {
            let start = raw.mode.as_ref().map_or(0, |m| m.span().start);
            return Err(lines.error(
                start,
                format!("mode `{other}`: expected \"authoritative\" or \"overlay\""),
            ));
        }
    };
    let ttl = match raw.ttl {
        None => ZONE_TTL_DEFAULT_SECS,
        Some(ttl) if (0..=0x7FFF_FFFF).contains(ttl.get_ref()) => *ttl.get_ref() as u32,
        Some(ttl) => {
            return Err(lines.error(
                ttl.span().start,
                "ttl: expected seconds from 0 to 2147483647",
            ));
        }
    };
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(lines.error(raw.name.span().start, "zone name is empty"));
    }
    let mut records: Vec<(String, usize)> = raw
        .records
        .into_iter()
        .map(|r| {
            let line = lines.line(r.span().start);
            (r.into_inner(), line)
        })
        .collect();
    if let Some(mail_block) = raw.mail {
        records.extend(mail::records(mail_block, lines)?);
    }
    let file = zone_file(raw.file, raw.include, lines)?;
    Ok(ZoneSpec {
        name,
        mode,
        ttl,
        ip_names: raw.ip_names.unwrap_or(false),
        ip_names_private_only: raw.ip_names_private_only.unwrap_or(true),
        records,
        file,
    })
}

/// `file` and `include`: the path as written (relative to the working
/// directory, as `leases` and `hosts` are); `include = true` needs a `file`.
/// The file is read when the zone is built, so a reload reads it again.
fn zone_file(
    file: Option<Spanned<String>>,
    include: Option<Spanned<bool>>,
    lines: &Lines<'_>,
) -> Result<Option<ZoneFile>, ConfigError> {
    let include_on = include.as_ref().is_some_and(|i| *i.get_ref());
    let Some(path) = file else {
        if let Some(include) = include.filter(|i| *i.get_ref()) {
            return Err(lines.error(
                include.span().start,
                "include = true: expected a `file` in this [[zone]] (it allows $INCLUDE there)",
            ));
        }
        return Ok(None);
    };
    if path.get_ref().is_empty() {
        return Err(lines.error(path.span().start, "file: the path is empty"));
    }
    Ok(Some(ZoneFile {
        path: PathBuf::from(path.into_inner()),
        include: include_on,
    }))
}

/// `text` as a domain below the root: lower-case, trimmed, without the final
/// dot; `None` when it is empty, the root, or not a domain name.
pub(super) fn domain_below_root(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid =
        !text.is_empty() && crate::dns::zone::zone_origin(&text).is_ok_and(|name| !name.is_root());
    valid.then_some(text)
}

/// A zone name may be defined once: the error for the second definition (at
/// `at`) names the line of the first. Names compare as DNS names (case and a
/// final dot do not matter); a name that does not parse is left to the zone
/// builder, which reports it.
pub(super) fn check_zone_unique(
    name: &str,
    zones: &[ZoneSpec],
    zone_lines: &[usize],
    lines: &Lines<'_>,
    at: usize,
    key: &str,
) -> Result<(), ConfigError> {
    let Ok(wire) = domain_wire(name) else {
        return Ok(());
    };
    let first = zones
        .iter()
        .position(|zone| domain_wire(&zone.name).is_ok_and(|w| w == wire));
    let Some(first) = first else {
        return Ok(());
    };
    let first_line = zone_lines.get(first).copied().unwrap_or(0);
    Err(lines.error(
        at,
        format!("{key} `{name}` is defined twice: the first definition is at line {first_line}"),
    ))
}

/// Lease and hosts names need a zone to be authoritative in (NXDOMAIN for unknown
/// hosts, like dnsmasq's `local=/lan/`): an empty one is added unless the config
/// already has a zone of that name. Without lease and hosts files there is no
/// such zone. True when it was added.
pub(super) fn add_lease_zone(dns: &Dns, zones: &mut Vec<ZoneSpec>) -> bool {
    if dns.leases.is_empty() && dns.hosts.is_empty() {
        return false;
    }
    let same = |z: &ZoneSpec| same_zone_name(&z.name, &dns.lease_domain);
    if !zones.iter().any(same) {
        zones.push(ZoneSpec {
            name: dns.lease_domain.clone(),
            mode: Mode::Authoritative,
            ttl: HOST_TTL_SECS,
            ip_names: false,
            ip_names_private_only: true,
            records: Vec::new(),
            file: None,
        });
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::config::Config;
    use crate::config::tests::assert_errors;

    /// Zone settings, record lines and names defined twice: the line, and what was
    /// wrong.
    #[test]
    fn zone_errors_name_line_and_expectation() {
        assert_errors(&[
            (
                "[[zone]]\nname = \"a.test\"\nmode = \"weird\"\n",
                3,
                "mode `weird`",
            ),
            (
                "[[zone]]\nname = \"a.test\"\nrecords = [\n  \"ok A 1.2.3.4\",\n  \"x A 999.1.1.1\",\n]\n",
                5,
                "not an IPv4",
            ),
            (
                "[[zone]]\nname = \"a.test\"\n[[zone]]\nname = \"A.test.\"\n",
                4,
                "zone `A.test.` is defined twice: the first definition is at line 2",
            ),
            (
                "[dns]\nleases = [\"/nonexistent/leases\"]\nlease_domain = \"lan\"\n\
                 [delegate]\nzone = \"LAN.\"\n",
                5,
                "delegate.zone `lan` is defined twice: the first definition is at line 3",
            ),
            ("[[zone]]\nname = \".\"\n", 2, "root zone"),
            ("[[zone]]\nmode = \"overlay\"\n", 1, "missing field `name`"),
        ]);
    }

    /// A zone file's records join the config's; an error in the file is told
    /// at the file's line, one about the keys at the config's.
    #[test]
    fn zone_file_records_and_errors() {
        let dir = std::env::temp_dir().join(format!("lanseal-config-zone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let config = |path: &str| {
            format!(
                "[[zone]]\nname = \"a.test\"\nrecords = [\"cfg A 10.0.0.1\"]\nfile = \"{path}\"\n"
            )
        };
        let good = write("good.zone", "$TTL 60\nnas A 10.0.0.2\n  AAAA fd00::2\n");
        let zones = Config::parse(&config(&good), "t.toml").unwrap().zone_data;
        let zone = zones.find(b"\x01a\x04test\x00").unwrap();
        assert!(zone.node(b"\x03cfg\x01a\x04test\x00").is_some());
        assert_eq!(
            zone.node(b"\x03nas\x01a\x04test\x00")
                .unwrap()
                .sets()
                .count(),
            2
        );
        for (name, text, line, needle) in [
            (
                "outside.zone",
                "ok A 10.0.0.3\n\nx.example.org. A 10.0.0.4\n",
                3,
                "outside zone",
            ),
            (
                "bad.zone",
                "$TTL 60\n@ SOA ns hm (\n 1 2 3 4\n",
                2,
                "not closed",
            ),
            // The conflict with a config record is told at the file's record.
            (
                "cname.zone",
                "ok A 10.0.0.3\ncfg CNAME ok\n",
                2,
                "CNAME and other records",
            ),
            ("missing-dir/none.zone", "", 0, "cannot read the zone file"),
        ] {
            let path = if name.contains('/') {
                dir.join(name).display().to_string()
            } else {
                write(name, text)
            };
            let e = Config::parse(&config(&path), "t.toml").unwrap_err();
            assert_eq!((e.file.as_str(), e.line), (path.as_str(), line), "{e}");
            assert!(e.message.contains("zone `a.test`: "), "{e}");
            assert!(e.message.contains(needle), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_errors(&[
            (
                "[[zone]]\nname = \"a.test\"\ninclude = true\n",
                3,
                "include = true: expected a `file`",
            ),
            (
                "[[zone]]\nname = \"a.test\"\nfile = \"\"\n",
                3,
                "file: the path is empty",
            ),
        ]);
    }

    /// `secondaries` with `[dns]`'s key: off by default, the zones and their
    /// addresses when set; each error at its line.
    #[test]
    fn zone_secondaries_and_their_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lanseal-config-xfr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("xfr.key");
        std::fs::write(
            &key,
            "secret: bGFuc2VhbC14ZnItdGVzdC1rZXktMzItYnl0ZXMhISE=\n",
        )
        .unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let open = dir.join("open.key");
        std::fs::write(&open, "bGFuc2VhbC14ZnItdGVzdC1rZXktMzItYnl0ZXMhISE=\n").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let dns = |file: &std::path::Path| {
            format!(
                "[dns]\ntsig_key_file = \"{}\"\ntsig_key_name = \"lan-xfr\"\n",
                file.display()
            )
        };
        let config = Config::parse("[[zone]]\nname = \"a.test\"\n", "t.toml").unwrap();
        assert!(config.dns.zone_transfers.is_none());
        let text = format!(
            "{}[[zone]]\nname = \"A.test.\"\nsecondaries = [\"127.0.0.1\", \"[::1]:5300\"]\n[[zone]]\nname = \"b.test\"\n",
            dns(&key)
        );
        let config = Config::parse(&text, "t.toml").unwrap();
        let transfers = config.dns.zone_transfers.unwrap();
        assert_eq!(transfers.key.name(), b"\x07lan-xfr\x00");
        assert_eq!(transfers.zones.len(), 1);
        assert_eq!(&*transfers.zones[0].0, b"\x01a\x04test\x00");
        assert_eq!(
            transfers.zones[0].1,
            vec![
                "127.0.0.1:53".parse().unwrap(),
                "[::1]:5300".parse().unwrap()
            ]
        );
        let zone = "[[zone]]\nname = \"a.test\"\n";
        assert_errors(&[
            (
                format!("{zone}secondaries = [\"127.0.0.1\"]\n"),
                3,
                "zone.secondaries need [dns] tsig_key_file",
            ),
            (
                format!(
                    "{}{zone}mode = \"overlay\"\nsecondaries = [\"127.0.0.1\"]\n",
                    dns(&key)
                ),
                7,
                "secondaries need mode = \"authoritative\"",
            ),
            (
                format!("{zone}secondaries = [\"127.0.0.1:99999\"]\n"),
                3,
                "zone.secondaries `127.0.0.1:99999`",
            ),
            (dns(&open), 2, "mode 0644, expected 0600"),
            (dns(&dir.join("none.key")), 2, "dns: TSIG key file"),
            (
                "[dns]\ntsig_algorithm = \"hmac-md5\"\n".to_string(),
                2,
                "dns.tsig_algorithm `hmac-md5`",
            ),
        ]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lease_zone_exists_only_with_leases_or_hosts() {
        let has_lan = |text: &str| {
            let config = Config::parse(text, "t.toml").unwrap();
            config.zones.iter().any(|z| z.name == "lan")
        };
        assert!(!has_lan("[dns]\nlease_domain = \"lan\"\n"));
        assert!(has_lan("[dns]\nleases = [\"/nonexistent/leases\"]\n"));
        assert!(has_lan("[dns]\nhosts = [\"/nonexistent/hosts\"]\n"));
    }
}
