//! `[zone.mail]`: the records that replace a local-only domain's public no-mail
//! records on the LAN.
//!
//! A domain from getlocalcert (and any domain that only serves a LAN) publishes
//! records forbidding mail: `"v=spf1 -all"` at the apex, a `_dmarc` reject policy,
//! `*._domainkey` with an empty key and a null MX. This block generates exactly
//! their replacements as ordinary record lines (so they take the zone-data path
//! with all its checks): MX hosts, the SPF TXT at the apex, `_dmarc` TXT and one
//! `<selector>._domainkey` TXT per DKIM selector. Each value is checked for the
//! tag a receiving mail server needs first, with the config line of the value.

use super::{ConfigError, Lines, raw};

/// Record lines (with their config lines) generated from a `[zone.mail]` block.
pub fn records(mail: raw::Mail, lines: &Lines<'_>) -> Result<Vec<(String, usize)>, ConfigError> {
    let mut out = Vec::new();
    for mx in mail.mx.unwrap_or_default() {
        let line = lines.line(mx.span().start);
        check_mx(mx.get_ref()).map_err(|m| lines.error(mx.span().start, m))?;
        out.push((format!("@ MX {}", mx.get_ref()), line));
    }
    if let Some(spf) = mail.spf {
        check_spf(spf.get_ref()).map_err(|m| lines.error(spf.span().start, m))?;
        out.push((txt_line("@", spf.get_ref()), lines.line(spf.span().start)));
    }
    if let Some(dmarc) = mail.dmarc {
        check_dmarc(dmarc.get_ref()).map_err(|m| lines.error(dmarc.span().start, m))?;
        out.push((
            txt_line("_dmarc", dmarc.get_ref()),
            lines.line(dmarc.span().start),
        ));
    }
    for (selector, key) in mail.dkim.unwrap_or_default() {
        check_dkim(&selector, key.get_ref()).map_err(|m| lines.error(key.span().start, m))?;
        let owner = format!("{selector}._domainkey");
        out.push((
            txt_line(&owner, key.get_ref()),
            lines.line(key.span().start),
        ));
    }
    Ok(out)
}

/// A TXT record line with `value` quoted (the record parser splits it into
/// 255-byte strings).
fn txt_line(owner: &str, value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{owner} TXT \"{escaped}\"")
}

fn check_mx(text: &str) -> Result<(), String> {
    let mut words = text.split_whitespace();
    let (Some(preference), Some(_host), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "mail.mx `{text}`: expected \"<preference> <host>\", e.g. \"10 mail.home.example.com.\""
        ));
    };
    preference
        .parse::<u16>()
        .map(drop)
        .map_err(|_| format!("mail.mx `{text}`: the preference must be a number from 0 to 65535"))
}

fn check_spf(text: &str) -> Result<(), String> {
    let version = text.split(' ').next().unwrap_or_default();
    if !version.eq_ignore_ascii_case("v=spf1") {
        return Err(format!(
            "mail.spf `{text}`: an SPF record starts with `v=spf1` (RFC 7208), e.g. \"v=spf1 ip4:192.168.1.0/24 -all\""
        ));
    }
    Ok(())
}

/// `tag=value` pairs separated by `;` (DMARC and DKIM share this syntax).
fn tags(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.split_once('=')
                .map_or((t, ""), |(k, v)| (k.trim(), v.trim()))
        })
}

fn check_dmarc(text: &str) -> Result<(), String> {
    let example = "e.g. \"v=DMARC1; p=none\"";
    if tags(text).next() != Some(("v", "DMARC1")) {
        return Err(format!(
            "mail.dmarc `{text}`: a DMARC record starts with `v=DMARC1` (RFC 7489), {example}"
        ));
    }
    match tags(text).find(|(k, _)| *k == "p").map(|(_, v)| v) {
        Some("none" | "quarantine" | "reject") => Ok(()),
        _ => Err(format!(
            "mail.dmarc `{text}`: needs a policy `p=none`, `p=quarantine` or `p=reject`, {example}"
        )),
    }
}

fn check_dkim(selector: &str, text: &str) -> Result<(), String> {
    let valid_label = !selector.is_empty()
        && selector.len() <= 63
        && selector
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_label {
        return Err(format!(
            "mail.dkim selector `{selector}`: expected one DNS label (letters, digits, `-`, `_`)"
        ));
    }
    let example = "e.g. \"v=DKIM1; k=ed25519; p=<base64 public key>\"";
    if tags(text).next() != Some(("v", "DKIM1")) {
        return Err(format!(
            "mail.dkim `{selector}`: a DKIM key record starts with `v=DKIM1` (RFC 6376), {example}"
        ));
    }
    match tags(text).find(|(k, _)| *k == "p").map(|(_, v)| v) {
        None => Err(format!(
            "mail.dkim `{selector}`: the record has no public key `p=`, {example}"
        )),
        Some("") => Err(format!(
            "mail.dkim `{selector}`: `p=` is empty, which revokes the key; put the public key there"
        )),
        Some(key)
            if !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/= ".contains(&b)) =>
        {
            Err(format!(
                "mail.dkim `{selector}`: `p=` must be the base64 public key"
            ))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(check_spf("v=spf1 ip4:192.168.1.0/24 -all").is_ok());
        assert!(check_spf("v=spf1").is_ok());
        assert!(check_spf("spf1 -all").is_err());
        assert!(check_spf("v=spf10 -all").is_err());
        assert!(check_dmarc("v=DMARC1; p=none").is_ok());
        assert!(check_dmarc("v=DMARC1;p=reject;sp=reject;adkim=s;aspf=s").is_ok());
        assert!(check_dmarc("p=none; v=DMARC1").is_err());
        assert!(check_dmarc("v=DMARC1").is_err());
        assert!(check_dmarc("v=DMARC1; p=maybe").is_err());
        assert!(
            check_dkim(
                "lan",
                "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
            )
            .is_ok()
        );
        assert!(check_dkim("lan", "k=rsa; p=abc").is_err());
        assert!(check_dkim("lan", "v=DKIM1; k=rsa").is_err());
        assert!(check_dkim("lan", "v=DKIM1; p=").is_err());
        assert!(check_dkim("lan", "v=DKIM1; p=\"x\"").is_err());
        assert!(check_dkim("a.b", "v=DKIM1; p=abc").is_err());
        assert!(check_mx("10 mail.example.com.").is_ok());
        assert!(check_mx("mail.example.com.").is_err());
        assert!(check_mx("70000 mail.").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(txt_line("@", r#"a"b\c"#), r#"@ TXT "a\"b\\c""#);
    }
}
