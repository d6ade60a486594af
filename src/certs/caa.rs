//! CAA evaluation (RFC 8659) with account and method binding (RFC 8657): may this
//! CA issue this certificate, and if not, which record says no.
//!
//! Owns the decision only: the relevant RRset is found by
//! [`dnscheck::Checker::caa`](crate::certs::dnscheck::Checker::caa) (the tree
//! climb), and the verdict predicts what the CA will decide, so an order that would
//! be refused is never placed and the owner is told which record to change. Pure
//! functions, no I/O; a malformed record never panics and never authorizes.

/// The critical flag (RFC 8659 §4.1): a CA that does not know the tag must not issue.
pub const FLAG_CRITICAL: u8 = 0x80;
/// Longest property tag (RFC 8659 §4.1: 1 to 15 ASCII letters and digits).
pub const TAG_BYTES_MAX: usize = 15;
/// Tags a CA is expected to understand; any other tag marked critical forbids
/// issuance. `issuemail` (RFC 9495) is among them because Let's Encrypt's Boulder
/// knows it too, so a critical `issuemail` does not stop it.
const KNOWN_TAGS: [&str; 4] = ["issue", "issuewild", "iodef", "issuemail"];

/// One CAA record: flags, tag (lower-cased; tags match case-insensitively) and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaRecord {
    pub flags: u8,
    pub tag: String,
    pub value: String,
}

impl CaaRecord {
    /// Zone-file form with its owner: `example.com. CAA 0 issue "letsencrypt.org"`.
    pub fn line(&self, owner: &str) -> String {
        format!("{}. CAA {}", owner.trim_end_matches('.'), self.data())
    }

    /// The record data in zone-file form: `0 issue "letsencrypt.org"`.
    pub fn data(&self) -> String {
        let value = self.value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{} {} \"{value}\"", self.flags, self.tag)
    }
}

/// Parses CAA record data (RFC 8659 §4.1): flags, tag length, tag, value. `None`
/// when truncated or when the tag is empty, longer than 15 bytes or not letters and
/// digits. A value that is not UTF-8 is kept lossily: it then matches no CA.
pub fn parse_rdata(rdata: &[u8]) -> Option<CaaRecord> {
    let (&flags, rest) = rdata.split_first()?;
    let (&tag_length, rest) = rest.split_first()?;
    let tag_length = usize::from(tag_length);
    if tag_length == 0 || tag_length > TAG_BYTES_MAX {
        return None;
    }
    let tag = rest.get(..tag_length)?;
    if !tag.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some(CaaRecord {
        flags,
        tag: String::from_utf8_lossy(tag).to_ascii_lowercase(),
        value: String::from_utf8_lossy(&rest[tag_length..]).into_owned(),
    })
}

/// What the CAA records say about one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No CAA anywhere up the tree: every CA may issue.
    NoRecords,
    /// `record` (zone-file form, owned by `owner`) forbids it, because `reason`.
    Forbidden {
        owner: String,
        record: String,
        reason: String,
    },
}

/// Decides from the relevant RRset `set` (owned by `owner`, the first non-empty set
/// climbing from the name) whether a CA whose directory lists `identities`
/// (`meta.caaIdentities`) may issue for a name (`wildcard`: a `*.` name, for which
/// `issuewild` records take precedence when there are any) to `account_url`
/// validating with `method` (`dns-01`, `dns-persist-01`).
pub fn evaluate(
    owner: &str,
    set: &[CaaRecord],
    identities: &[String],
    wildcard: bool,
    account_url: &str,
    method: &str,
) -> Verdict {
    let owner = owner.trim_end_matches('.').to_ascii_lowercase();
    if set.is_empty() {
        return Verdict::NoRecords;
    }
    let forbidden = |record: &CaaRecord, reason: String| Verdict::Forbidden {
        owner: owner.clone(),
        record: record.line(&owner),
        reason,
    };
    if let Some(record) = set
        .iter()
        .find(|r| r.flags & FLAG_CRITICAL != 0 && !KNOWN_TAGS.contains(&r.tag.as_str()))
    {
        return forbidden(
            record,
            format!(
                "its tag `{}` is marked critical and CAs do not know it, so none may issue",
                record.tag
            ),
        );
    }
    let has = |tag: &str| set.iter().any(|r| r.tag.eq_ignore_ascii_case(tag));
    let tag = if wildcard && has("issuewild") {
        "issuewild"
    } else {
        "issue"
    };
    let applicable: Vec<&CaaRecord> = set
        .iter()
        .filter(|r| r.tag.eq_ignore_ascii_case(tag))
        .collect();
    // RFC 8659 §4.2 and §4.3: without any issue (or issuewild) property, issuance is
    // not restricted (iodef alone restricts nothing).
    if applicable.is_empty() {
        return Verdict::Allowed;
    }
    let mut refusals = Vec::with_capacity(applicable.len());
    for record in &applicable {
        match authorizes(&record.value, identities, account_url, method) {
            Ok(()) => return Verdict::Allowed,
            Err(refusal) => refusals.push((*record, refusal)),
        }
    }
    // The most useful record to show: one naming this CA (the owner only needs to
    // fix its parameters), else the first.
    let (record, refusal) = refusals
        .iter()
        .find(|(_, refusal)| refusal.names_this_ca)
        .or_else(|| refusals.first())
        .map_or((applicable[0], String::new()), |(record, refusal)| {
            (*record, refusal.reason.clone())
        });
    forbidden(record, refusal)
}

/// Why one issue/issuewild value does not authorize this CA.
struct Refusal {
    names_this_ca: bool,
    reason: String,
}

/// RFC 8659 §4.2 value: `issuer-domain-name *WSP [";" *WSP parameters]`, where each
/// parameter is `key=value` and parameters are separated by `;`. An empty issuer
/// (`";"`) authorizes no CA. The CA identity matches case-insensitively (domain
/// names); `accounturi` must equal the account URL, `validationmethods` must list the
/// method (RFC 8657 §3, §4); unknown parameters are ignored.
fn authorizes(
    value: &str,
    identities: &[String],
    account_url: &str,
    method: &str,
) -> Result<(), Refusal> {
    let mut parts = value.split(';');
    let issuer = parts.next().unwrap_or("").trim();
    let refuse = |names_this_ca, reason: String| Refusal {
        names_this_ca,
        reason,
    };
    if issuer.is_empty() {
        return Err(refuse(false, "it allows no CA to issue".into()));
    }
    let issuer = issuer.trim_end_matches('.');
    if identities.is_empty() {
        return Err(refuse(
            false,
            format!(
                "it allows only `{issuer}`, and the CA's directory lists no caaIdentities to match it against"
            ),
        ));
    }
    if !identities
        .iter()
        .any(|identity| identity.trim_end_matches('.').eq_ignore_ascii_case(issuer))
    {
        return Err(refuse(
            false,
            format!(
                "it allows only `{issuer}`, not this CA ({})",
                identities.join(", ")
            ),
        ));
    }
    let mut account = None;
    let mut methods = None;
    for parameter in parts.map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, parameter_value)) = parameter.split_once('=') else {
            return Err(refuse(
                true,
                format!("its parameter `{parameter}` is not key=value"),
            ));
        };
        let (key, parameter_value) = (key.trim(), parameter_value.trim());
        let slot = if key.eq_ignore_ascii_case("accounturi") {
            &mut account
        } else if key.eq_ignore_ascii_case("validationmethods") {
            &mut methods
        } else {
            continue;
        };
        // RFC 8657 §3, §4: a parameter given twice makes the record unusable.
        if slot.replace(parameter_value).is_some() {
            return Err(refuse(true, format!("it gives `{key}` twice")));
        }
    }
    if let Some(account) = account
        && account != account_url
    {
        return Err(refuse(
            true,
            format!("its accounturi is `{account}`, not this account ({account_url})"),
        ));
    }
    if let Some(methods) = methods
        && !methods.split(',').any(|m| m.trim() == method)
    {
        return Err(refuse(
            true,
            format!("its validationmethods `{methods}` do not include {method}"),
        ));
    }
    Ok(())
}

/// The record lanseal recommends for `domain` (a `*.` prefix and a final dot are
/// dropped): `<domain>. CAA 0 issue "<identity>; accounturi=<url>; validationmethods=<method>"`,
/// and for a wildcard certificate the same `issuewild` line after it.
pub fn recommended(
    domain: &str,
    identity: &str,
    account_url: &str,
    method: &str,
    wildcard: bool,
) -> Vec<String> {
    let records = recommended_records(domain, identity, account_url, method, wildcard);
    let lines = records.into_iter();
    lines
        .map(|(owner, data)| format!("{owner} CAA {data}"))
        .collect()
}

/// [`recommended`] as (owner with its final dot, record data) pairs.
pub fn recommended_records(
    domain: &str,
    identity: &str,
    account_url: &str,
    method: &str,
    wildcard: bool,
) -> Vec<(String, String)> {
    let domain = domain.strip_prefix("*.").unwrap_or(domain);
    let record = |tag: &str| CaaRecord {
        flags: 0,
        tag: tag.into(),
        value: format!("{identity}; accounturi={account_url}; validationmethods={method}"),
    };
    let owner = format!("{}.", domain.trim_end_matches('.').to_ascii_lowercase());
    let mut records = vec![(owner.clone(), record("issue").data())];
    if wildcard {
        records.push((owner, record("issuewild").data()));
    }
    records
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    const ACCOUNT: &str = "https://ca.test/acme/acct/1";

    fn record(flags: u8, tag: &str, value: &str) -> CaaRecord {
        CaaRecord {
            flags,
            tag: tag.into(),
            value: value.into(),
        }
    }

    fn verdict(set: &[CaaRecord], wildcard: bool, method: &str) -> Verdict {
        let identities = ["pebble.letsencrypt.org".to_string()];
        evaluate("Home.Test.", set, &identities, wildcard, ACCOUNT, method)
    }

    /// The reason of a `Forbidden` verdict (panics on any other).
    fn reason(verdict: Verdict) -> (String, String) {
        match verdict {
            Verdict::Forbidden {
                owner,
                record,
                reason,
            } => {
                assert_eq!(owner, "home.test");
                (record, reason)
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
    }

    #[test]
    fn table() {
        let ours = "pebble.letsencrypt.org";
        let bound = format!("{ours}; accounturi={ACCOUNT}; validationmethods=dns-01");
        let allowed: &[(&str, Vec<CaaRecord>, bool)] = &[
            ("issue names us", vec![record(0, "issue", ours)], false),
            (
                "identity case and final dot do not matter",
                vec![record(0, "issue", "Pebble.LetsEncrypt.org.")],
                false,
            ),
            (
                "bound to this account and method",
                vec![record(0, "issue", &bound)],
                false,
            ),
            (
                "whitespace and an empty parameter tolerated",
                vec![record(
                    0,
                    "issue",
                    &format!(
                        " {ours} ;accounturi = {ACCOUNT} ;; validationmethods=http-01, dns-01 ;"
                    ),
                )],
                false,
            ),
            (
                "one of several issue records names us",
                vec![
                    record(0, "issue", "letsencrypt.org"),
                    record(0, "issue", ours),
                ],
                false,
            ),
            (
                "iodef alone restricts nothing",
                vec![record(0, "iodef", "mailto:a@b")],
                false,
            ),
            (
                "non-critical unknown tag ignored",
                vec![record(0, "futuretag", "x"), record(0, "issue", ours)],
                false,
            ),
            (
                "critical but known tag",
                vec![
                    record(128, "issue", ours),
                    record(128, "iodef", "mailto:a@b"),
                ],
                false,
            ),
            (
                "issuewild wins for a wildcard",
                vec![record(0, "issue", ";"), record(0, "issuewild", ours)],
                true,
            ),
            (
                "issue used for a wildcard without issuewild",
                vec![record(0, "issue", ours)],
                true,
            ),
            (
                "issuewild does not apply to a plain name",
                vec![record(0, "issue", ours), record(0, "issuewild", ";")],
                false,
            ),
            (
                "unknown parameters ignored",
                vec![record(0, "issue", &format!("{ours}; policy=ev"))],
                false,
            ),
        ];
        for (what, set, wildcard) in allowed {
            assert_eq!(
                verdict(set, *wildcard, "dns-01"),
                Verdict::Allowed,
                "{what}"
            );
        }
        assert_eq!(verdict(&[], false, "dns-01"), Verdict::NoRecords);

        let forbidden: &[(&str, Vec<CaaRecord>, bool, &str, &str)] = &[
            (
                "another CA",
                vec![record(0, "issue", "letsencrypt.org")],
                false,
                "dns-01",
                "not this CA",
            ),
            (
                "issue \";\"",
                vec![record(0, "issue", ";")],
                false,
                "dns-01",
                "allows no CA",
            ),
            (
                "issue \"\"",
                vec![record(0, "issue", "")],
                false,
                "dns-01",
                "allows no CA",
            ),
            (
                "issuewild forbids the wildcard",
                vec![record(0, "issue", ours), record(0, "issuewild", ";")],
                true,
                "dns-01",
                "allows no CA",
            ),
            (
                "another account",
                vec![record(
                    0,
                    "issue",
                    &format!("{ours}; accounturi=https://ca.test/acme/acct/2"),
                )],
                false,
                "dns-01",
                "accounturi",
            ),
            (
                "method not listed",
                vec![record(0, "issue", &bound)],
                false,
                "dns-persist-01",
                "validationmethods",
            ),
            (
                "unknown critical tag",
                vec![record(0, "issue", ours), record(128, "futuretag", "x")],
                false,
                "dns-01",
                "critical",
            ),
            (
                "accounturi twice",
                vec![record(
                    0,
                    "issue",
                    &format!("{ours}; accounturi={ACCOUNT}; accounturi={ACCOUNT}"),
                )],
                false,
                "dns-01",
                "twice",
            ),
            (
                "a parameter without =",
                vec![record(0, "issue", &format!("{ours}; accounturi"))],
                false,
                "dns-01",
                "key=value",
            ),
        ];
        for (what, set, wildcard, method, needle) in forbidden {
            let (_, why) = reason(verdict(set, *wildcard, method));
            assert!(why.contains(needle), "{what}: {why}");
        }
    }

    #[test]
    fn the_record_shown_is_the_one_to_fix() {
        let set = [
            record(0, "issue", "letsencrypt.org"),
            record(
                0,
                "issue",
                "pebble.letsencrypt.org; accounturi=https://other",
            ),
        ];
        let (line, why) = reason(verdict(&set, false, "dns-01"));
        assert_eq!(
            line,
            "home.test. CAA 0 issue \"pebble.letsencrypt.org; accounturi=https://other\""
        );
        assert!(why.contains("https://other"), "{why}");
        let (line, _) = reason(verdict(&[record(128, "tbs", "a\"b")], false, "dns-01"));
        assert_eq!(line, "home.test. CAA 128 tbs \"a\\\"b\"");
    }

    #[test]
    fn no_identities_cannot_match() {
        let set = [record(0, "issue", "pebble.letsencrypt.org")];
        let verdict = evaluate("home.test", &set, &[], false, ACCOUNT, "dns-01");
        assert!(matches!(verdict, Verdict::Forbidden { .. }), "{verdict:?}");
        assert_eq!(
            evaluate(
                "home.test",
                &[record(0, "iodef", "x")],
                &[],
                false,
                ACCOUNT,
                "dns-01"
            ),
            Verdict::Allowed
        );
    }

    #[test]
    fn parses_rdata() {
        assert_eq!(
            parse_rdata(b"\x80\x05ISSUEletsencrypt.org"),
            Some(record(128, "issue", "letsencrypt.org"))
        );
        assert_eq!(parse_rdata(b"\x00\x05issue"), Some(record(0, "issue", "")));
        let malformed: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\x00\x00",
            b"\x00\x00value",
            b"\x00\x05iss",
            b"\x00\x10issueissueissueis",
            b"\x00\x05is-ue",
            b"\x00\x05is\x00ue",
        ];
        for rdata in malformed {
            assert_eq!(parse_rdata(rdata), None, "{rdata:?}");
        }
        let lossy = parse_rdata(b"\x00\x05issue\xffca").unwrap();
        assert_eq!(
            evaluate(
                "a",
                &[lossy],
                &["\u{fffd}ca".into()],
                false,
                ACCOUNT,
                "dns-01"
            ),
            Verdict::Allowed,
            "a lossy value is kept as it reads (it matches no real CA identity)"
        );
    }

    #[test]
    fn recommended_records() {
        assert_eq!(
            recommended(
                "Router.Home.Test.",
                "pebble.letsencrypt.org",
                ACCOUNT,
                "dns-01",
                false
            ),
            [format!(
                "router.home.test. CAA 0 issue \"pebble.letsencrypt.org; accounturi={ACCOUNT}; validationmethods=dns-01\""
            )]
        );
        let both = recommended(
            "*.lan.home.test",
            "letsencrypt.org",
            ACCOUNT,
            "dns-persist-01",
            true,
        );
        assert_eq!(both.len(), 2);
        assert!(both[0].starts_with("lan.home.test. CAA 0 issue \"letsencrypt.org;"));
        assert!(both[1].starts_with("lan.home.test. CAA 0 issuewild \"letsencrypt.org;"));
        // What lanseal recommends, lanseal accepts.
        for line in &both {
            let value = line.split_once('"').unwrap().1.trim_end_matches('"');
            let set = [record(0, "issue", value)];
            let identities = ["letsencrypt.org".to_string()];
            let verdict = evaluate(
                "lan.home.test",
                &set,
                &identities,
                false,
                ACCOUNT,
                "dns-persist-01",
            );
            assert_eq!(verdict, Verdict::Allowed);
        }
    }
}
