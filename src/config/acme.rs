//! `[acme]` and `[[cert]]`: the certs role's settings, resolved and checked.
//! `[acme]` names the CA (directory, extra roots, EAB) and the servers the
//! pre-order checks ask; each `[[cert]]` is one certificate: its names, how they
//! are proven (a delegate's acme-dns API for dns-01, or a persistent record for
//! dns-persist-01), its key type and profile, where it is deployed and what runs
//! after. A `[[cert]]` without `[acme]` uses Let's Encrypt's production directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::address::{AddressError, port_message, socket_address};
use super::{ConfigError, Lines, raw};
use crate::certs::key::KeyType;

/// Let's Encrypt's production directory: the default CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Certificates one daemon manages (each has its own scheduler and store row).
pub const CERTS_MAX: usize = 32;
/// Names per certificate (Let's Encrypt allows 100; a router needs a few).
pub const DOMAINS_PER_CERT_MAX: usize = 100;

/// `[acme]`: the CA and the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acme {
    pub directory: String,
    pub email: Option<String>,
    /// Extra roots for the ACME server (and the delegate API), beside the bundled ones.
    pub ca_bundle: Option<PathBuf>,
    /// Servers for the CNAME, CAA and TXT checks; empty = discover.
    pub check_resolvers: Vec<SocketAddr>,
    /// External account binding: key id and the base64url HMAC key.
    pub eab: Option<(String, String)>,
}

/// How a certificate's names are proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// A TXT at the delegate, behind the owner's `_acme-challenge` CNAME.
    Dns01,
    /// A persistent `_validation-persist` TXT naming the account.
    DnsPersist01,
    /// dns-01 answered in this lanseal's own delegate zone (the delegate API's
    /// certificate, `[delegate] tls = "acme"`): no HTTP round trip, no CNAME.
    OwnZone,
}

impl Challenge {
    pub fn name(self) -> &'static str {
        match self {
            Self::Dns01 => "dns-01",
            Self::DnsPersist01 => "dns-persist-01",
            Self::OwnZone => "dns-01",
        }
    }
}

/// One `[[cert]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    pub name: String,
    /// Lower-case, without the final dot; a wildcard only as the first label.
    pub domains: Vec<String>,
    pub challenge: Challenge,
    /// The acme-dns API base URL (dns-01), without a trailing slash.
    pub delegate: Option<String>,
    pub key_type: KeyType,
    /// privkey.pem, cert.pem, chain.pem, fullchain.pem.
    pub dir: PathBuf,
    pub openwrt_acme_links: bool,
    pub deploy_hook: Option<String>,
    /// 0 = ARI when offered, else when a third of the lifetime remains.
    pub renew_before_days: u32,
    /// The CA profile (checked against the directory's `meta.profiles` when ordering).
    pub profile: Option<String>,
}

/// Resolves `[acme]` (defaults when absent) when there is any `[[cert]]` or the
/// section is written; `None` when neither is.
pub(super) fn resolve_acme(
    raw: Option<raw::Acme>,
    certs: bool,
    lines: &Lines<'_>,
) -> Result<Option<Acme>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(certs.then(|| Acme {
            directory: LETS_ENCRYPT.to_string(),
            email: None,
            ca_bundle: None,
            check_resolvers: Vec::new(),
            eab: None,
        }));
    };
    let directory = match raw.directory {
        None => LETS_ENCRYPT.to_string(),
        Some(url) => {
            let text = url.get_ref().trim().to_string();
            if !(text.starts_with("https://") || text.starts_with("http://")) || text.len() < 10 {
                return Err(lines.error(
                    url.span().start,
                    format!(
                        "acme.directory `{text}`: expected an https:// URL such as \"{LETS_ENCRYPT}\""
                    ),
                ));
            }
            text
        }
    };
    let email = match raw.email {
        None => None,
        Some(email) => {
            let text = email.get_ref().trim().to_string();
            let valid = text.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)
            });
            if !valid {
                return Err(lines.error(
                    email.span().start,
                    format!("acme.email `{text}`: expected an address such as \"me@example.com\""),
                ));
            }
            Some(text)
        }
    };
    let mut check_resolvers = Vec::new();
    for server in raw.check_resolvers.unwrap_or_default() {
        let address = socket_address(server.get_ref(), Some(53)).map_err(|e| {
            let what = match e {
                AddressError::Port(port) => port_message(&port),
                AddressError::Form => "expected IP or IP:PORT, e.g. \"127.0.0.1:5399\"".to_string(),
            };
            lines.error(
                server.span().start,
                format!("acme.check_resolvers `{}`: {what}", server.get_ref()),
            )
        })?;
        check_resolvers.push(address);
    }
    let eab = match (raw.eab_kid, raw.eab_hmac_key) {
        (None, None) => None,
        (Some(kid), Some(key)) => Some((kid.into_inner(), key.into_inner())),
        (Some(one), None) | (None, Some(one)) => {
            return Err(lines.error(
                one.span().start,
                "acme: eab_kid and eab_hmac_key go together (the CA gives both)",
            ));
        }
    };
    Ok(Some(Acme {
        directory,
        email,
        ca_bundle: raw.ca_bundle.map(PathBuf::from),
        check_resolvers,
        eab,
    }))
}

/// The name of the delegate API's own certificate (`[delegate] tls = "acme"`).
pub const DELEGATE_API_CERT: &str = "delegate-api";

/// The delegate API's certificate, kept by the certs role like any other.
pub(super) fn delegate_api_cert(host: String, state_dir: &Path) -> Cert {
    Cert {
        name: DELEGATE_API_CERT.to_string(),
        domains: vec![host],
        challenge: Challenge::OwnZone,
        delegate: None,
        key_type: KeyType::Ec256,
        dir: state_dir.join("certs").join(DELEGATE_API_CERT),
        openwrt_acme_links: false,
        deploy_hook: None,
        renew_before_days: 0,
        profile: None,
    }
}

/// Resolves every `[[cert]]`; `state_dir` gives the default `dir`.
pub(super) fn resolve_certs(
    raw: Vec<raw::Cert>,
    state_dir: &Path,
    lines: &Lines<'_>,
) -> Result<Vec<Cert>, ConfigError> {
    if let Some(extra) = raw.get(CERTS_MAX) {
        return Err(lines.error(
            extra.name.span().start,
            format!("at most {CERTS_MAX} [[cert]] sections"),
        ));
    }
    let mut certs: Vec<Cert> = Vec::new();
    for cert in raw {
        let at = cert.name.span().start;
        let name = cert.name.get_ref().trim().to_string();
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !name.starts_with('.');
        if !valid_name {
            return Err(lines.error(
                at,
                format!("cert.name `{name}`: expected letters, digits, '-', '_' or '.' (a file name), such as \"router\""),
            ));
        }
        if certs.iter().any(|c| c.name == name) || name == DELEGATE_API_CERT {
            return Err(lines.error(at, format!("cert.name `{name}` is used twice")));
        }
        let domains = domains(cert.domains, at, lines)?;
        let challenge = match cert.challenge.as_ref().map(|c| c.get_ref().as_str()) {
            None | Some("dns-01") => Challenge::Dns01,
            Some("dns-persist-01") => Challenge::DnsPersist01,
            Some(other) => {
                let at = cert.challenge.as_ref().map_or(at, |c| c.span().start);
                return Err(lines.error(
                    at,
                    format!("cert.challenge `{other}`: expected \"dns-01\" or \"dns-persist-01\""),
                ));
            }
        };
        let delegate = match cert.delegate {
            None => None,
            Some(url) => {
                let text = url.get_ref().trim().trim_end_matches('/').to_string();
                if !(text.starts_with("https://") || text.starts_with("http://")) {
                    return Err(lines.error(
                        url.span().start,
                        format!("cert.delegate `{text}`: expected the acme-dns API's base URL, such as \"https://auth.example.org\""),
                    ));
                }
                Some(text)
            }
        };
        if challenge == Challenge::Dns01 && delegate.is_none() {
            return Err(lines.error(
                at,
                format!(
                    "cert `{name}`: challenge \"dns-01\" needs delegate (the acme-dns API base URL)"
                ),
            ));
        }
        let key_type = match cert.key_type {
            None => KeyType::Ec256,
            Some(text) => KeyType::from_name(text.get_ref()).ok_or_else(|| {
                lines.error(
                    text.span().start,
                    format!(
                        "cert.key_type `{}`: expected one of {}",
                        text.get_ref(),
                        KeyType::NAMES
                    ),
                )
            })?,
        };
        let dir = match cert.dir {
            Some(dir) => PathBuf::from(dir),
            None => state_dir.join("certs").join(&name),
        };
        let renew_before_days = match cert.renew_before_days {
            None => 0,
            Some(days) => u32::try_from(*days.get_ref())
                .ok()
                .filter(|d| *d <= 365)
                .ok_or_else(|| {
                    lines.error(
                        days.span().start,
                        "cert.renew_before_days: expected 0 (ARI, else a third of the lifetime) to 365",
                    )
                })?,
        };
        let profile = match cert.profile {
            None => None,
            Some(p) if p.get_ref().trim().is_empty() => {
                return Err(lines.error(
                    p.span().start,
                    "cert.profile: expected a profile name such as \"shortlived\"",
                ));
            }
            Some(p) => Some(p.into_inner().trim().to_string()),
        };
        certs.push(Cert {
            name,
            domains,
            challenge,
            delegate,
            key_type,
            dir,
            openwrt_acme_links: cert.openwrt_acme_links.unwrap_or(false),
            deploy_hook: cert.deploy_hook.filter(|h| !h.trim().is_empty()),
            renew_before_days,
            profile,
        });
    }
    Ok(certs)
}

/// `domains`: at least one; DNS names, a wildcard only as `*.` in front.
fn domains(
    raw: Option<Spanned<Vec<Spanned<String>>>>,
    at: usize,
    lines: &Lines<'_>,
) -> Result<Vec<String>, ConfigError> {
    let Some(list) = raw.filter(|l| !l.get_ref().is_empty()) else {
        return Err(lines.error(
            at,
            "cert: needs domains, such as [\"router.home.example.com\"]",
        ));
    };
    if list.get_ref().len() > DOMAINS_PER_CERT_MAX {
        return Err(lines.error(
            list.span().start,
            format!("cert.domains: at most {DOMAINS_PER_CERT_MAX} names"),
        ));
    }
    let mut domains: Vec<String> = Vec::new();
    for domain in list.into_inner() {
        let text = domain
            .get_ref()
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let base = text.strip_prefix("*.").unwrap_or(&text);
        let valid = !base.contains('*')
            && base.contains('.')
            && super::zone::domain_below_root(base).is_some();
        if !valid {
            return Err(lines.error(
                domain.span().start,
                format!("cert.domains `{text}`: expected a domain name such as \"router.home.example.com\" or \"*.lan.home.example.com\""),
            ));
        }
        if domains.contains(&text) {
            return Err(lines.error(
                domain.span().start,
                format!("cert.domains `{text}` is listed twice"),
            ));
        }
        domains.push(text);
    }
    Ok(domains)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::config::Config;
    use crate::config::tests::assert_errors;

    use super::*;

    const CERT: &str = "[[cert]]\nname = \"router\"\ndomains = [\"router.home.test\", \"*.lan.home.test\"]\ndelegate = \"http://127.0.0.1:8443/\"\n";

    #[test]
    fn defaults() {
        let config = Config::parse(&format!("state_dir = \"/s\"\n{CERT}"), "t.toml").unwrap();
        let acme = config.acme.unwrap();
        assert_eq!(acme.directory, LETS_ENCRYPT);
        let cert = &config.certs[0];
        assert_eq!(cert.domains, ["router.home.test", "*.lan.home.test"]);
        assert_eq!(cert.delegate.as_deref(), Some("http://127.0.0.1:8443"));
        assert_eq!(cert.key_type, KeyType::Ec256);
        assert_eq!(cert.challenge, Challenge::Dns01);
        assert_eq!(cert.dir, PathBuf::from("/s/certs/router"));
        assert_eq!(cert.renew_before_days, 0);
        assert!(Config::parse("", "t.toml").unwrap().acme.is_none());
        // Without state_dir, dir is under the default state directory.
        let config = Config::parse(CERT, "t.toml").unwrap();
        assert_eq!(
            config.certs[0].dir,
            crate::config::default_state_dir().join("certs/router")
        );
    }

    #[test]
    fn full() {
        let text = "[acme]\ndirectory = \"https://127.0.0.1:14000/dir\"\nemail = \"me@example.com\"\n\
                    ca_bundle = \"/ca.pem\"\ncheck_resolvers = [\"127.0.0.1:5399\", \"::1\"]\n\
                    [[cert]]\nname = \"p\"\ndomains = [\"a.test\"]\nchallenge = \"dns-persist-01\"\n\
                    key_type = \"rsa3072\"\ndir = \"/d\"\nopenwrt_acme_links = true\n\
                    deploy_hook = \"true\"\nrenew_before_days = 30\nprofile = \"shortlived\"\n";
        let config = Config::parse(text, "t.toml").unwrap();
        let acme = config.acme.unwrap();
        assert_eq!(acme.check_resolvers.len(), 2);
        assert_eq!(acme.check_resolvers[1].port(), 53);
        let cert = &config.certs[0];
        assert_eq!(cert.challenge, Challenge::DnsPersist01);
        assert_eq!(cert.key_type, KeyType::Rsa3072);
        assert_eq!(cert.profile.as_deref(), Some("shortlived"));
        assert!(cert.openwrt_acme_links);
    }

    #[test]
    fn errors_name_line_and_expectation() {
        assert_errors(&[
            (
                "[acme]\ndirectory = \"ftp://x\"\n",
                2,
                "expected an https:// URL",
            ),
            ("[acme]\nemail = \"me\"\n", 2, "acme.email `me`"),
            (
                "[acme]\ncheck_resolvers = [\"x\"]\n",
                2,
                "acme.check_resolvers `x`",
            ),
            ("[acme]\neab_kid = \"k\"\n", 2, "go together"),
            ("[[cert]]\nname = \"a/b\"\n", 2, "cert.name `a/b`"),
            ("[[cert]]\nname = \"a\"\n", 2, "needs domains"),
            (
                "[[cert]]\nname = \"a\"\ndomains = [\"a.*.test\"]\n",
                3,
                "cert.domains `a.*.test`",
            ),
            (
                "[[cert]]\nname = \"a\"\ndomains = [\"test\"]\n",
                3,
                "cert.domains `test`",
            ),
            (
                "[[cert]]\nname = \"a\"\ndomains = [\"a.test\", \"A.test.\"]\n",
                3,
                "listed twice",
            ),
            (
                "[[cert]]\nname = \"a\"\ndomains = [\"a.test\"]\n",
                2,
                "needs delegate",
            ),
            (
                "[[cert]]\nname = \"a\"\ndomains = [\"a.test\"]\nchallenge = \"http-01\"\n",
                4,
                "expected \"dns-01\"",
            ),
            (
                "[[cert]]\nname = \"a\"\ndomains = [\"a.test\"]\nchallenge = \"dns-persist-01\"\nkey_type = \"ed25519\"\n",
                5,
                "expected one of ec256",
            ),
            (
                "state_dir = \"/s\"\n[[cert]]\nname = \"a\"\ndomains = [\"a.test\"]\nchallenge = \"dns-persist-01\"\nrenew_before_days = -1\n",
                6,
                "renew_before_days",
            ),
            (
                &format!("state_dir = \"/s\"\n{CERT}{}", CERT),
                7,
                "used twice",
            ),
            (
                "[[cert]]\nname = \"a\"\nbogus = 1\n",
                3,
                "unknown key `bogus` in [[cert]]",
            ),
        ]);
    }
}
