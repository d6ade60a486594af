//! The acme-dns API as a client (the certs role's delegate): [`register`] an
//! account, [`update`] its TXT record, and lego's storage file ([`parse_lego`],
//! [`read_lego`], [`write_lego`]) so a lego, acme.sh or certbot user keeps their
//! registration and CNAME.
//!
//! Owns turning delegate responses and storage files into [`Credentials`] once, at
//! the edge: JSON keys matched case-insensitively (older acme-dns servers and
//! goacmedns send `SubDomain`, `FullDomain`…), every field checked (a header-safe
//! user and key, a DNS name for `fulldomain`), any password length accepted
//! (getlocalcert issues 64 hex characters, acme-dns 40). Never validates the TXT
//! value itself: that is the delegate's to refuse (400 `bad_txt`).
//!
//! Bounds: responses as bounded by [`super::http`]; each credential field at most
//! [`CREDENTIAL_FIELD_BYTES_MAX`]; a storage file at most
//! [`LEGO_FILE_BYTES_MAX`]; an error body quoted up to [`ERROR_BODY_CHARS_MAX`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde_json::Value;

use super::http;

/// Longest credential field taken (user, key, subdomain, domain, URL): acme-dns's
/// are 36–40 characters, getlocalcert's key 64; anything past this is not a
/// delegate's answer.
pub const CREDENTIAL_FIELD_BYTES_MAX: usize = 1024;
/// Largest lego storage file read: one entry is about 250 bytes.
pub const LEGO_FILE_BYTES_MAX: u64 = 1 << 20;
/// How much of an error response's body an error quotes.
pub const ERROR_BODY_CHARS_MAX: usize = 200;

/// One acme-dns account, as lego stores it (the field order is lego's, for
/// [`write_lego`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// The name the owner's `_acme-challenge` CNAME points to, without the final dot.
    pub fulldomain: String,
    pub subdomain: String,
    pub username: String,
    pub password: String,
    /// The API base the account was registered at (empty in files written before
    /// goacmedns added the field).
    #[serde(default)]
    pub server_url: String,
}

/// Why a delegate call or a storage file failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeDnsError {
    /// No HTTP answer: connect, TLS, timeout, bounds (the delegate or the network).
    Http(String),
    /// The delegate answered with a status it should not have (401: wrong
    /// credentials; 400: a bad TXT value or request).
    Status {
        url: String,
        status: u16,
        body: String,
    },
    /// A response or storage file that is not what acme-dns or lego write.
    Malformed(String),
}

impl fmt::Display for AcmeDnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcmeDnsError::Http(message) | AcmeDnsError::Malformed(message) => f.write_str(message),
            AcmeDnsError::Status { url, status, body } => {
                write!(f, "POST {url}: the delegate answered HTTP {status}: {body}")
            }
        }
    }
}

impl std::error::Error for AcmeDnsError {}

/// `POST {base}/register` with an empty JSON object; see [`register_allowing`].
pub async fn register(client: &http::Client, base: &str) -> Result<Credentials, AcmeDnsError> {
    register_allowing(client, base, &[]).await
}

/// `POST {base}/register`, with `{"allowfrom": [...]}` if `allow_from` names
/// networks (the delegate then takes updates only from them). 200 or 201 is
/// success (acme-dns sends 201, some compatible servers 200); `server_url` is
/// `base` as given.
pub async fn register_allowing(
    client: &http::Client,
    base: &str,
    allow_from: &[String],
) -> Result<Credentials, AcmeDnsError> {
    let url = join(base, "register");
    let body = match allow_from {
        [] => serde_json::json!({}),
        networks => serde_json::json!({ "allowfrom": networks }),
    };
    let response = client
        .post_json(&url, &[], &body)
        .await
        .map_err(|e| AcmeDnsError::Http(e.to_string()))?;
    if !matches!(response.status, 200 | 201) {
        return Err(status_error(url, &response));
    }
    let malformed = |what: String| AcmeDnsError::Malformed(format!("POST {url}: {what}"));
    let value: Value = serde_json::from_slice(&response.body)
        .map_err(|e| malformed(format!("the answer is not JSON: {e}")))?;
    let fields = credential_fields(&value).map_err(malformed)?;
    Ok(Credentials {
        server_url: base.to_string(),
        ..fields
    })
}

/// `POST {server_url}/update` with the account's `X-Api-User`/`X-Api-Key` and
/// `{"subdomain", "txt"}`; any 2xx is success.
pub async fn update(
    client: &http::Client,
    credentials: &Credentials,
    txt: &str,
) -> Result<(), AcmeDnsError> {
    let url = join(&credentials.server_url, "update");
    let headers = [
        ("X-Api-User", credentials.username.as_str()),
        ("X-Api-Key", credentials.password.as_str()),
    ];
    let body = serde_json::json!({ "subdomain": credentials.subdomain, "txt": txt });
    let response = client
        .post_json(&url, &headers, &body)
        .await
        .map_err(|e| AcmeDnsError::Http(e.to_string()))?;
    if !(200..300).contains(&response.status) {
        return Err(status_error(url, &response));
    }
    Ok(())
}

/// `base` and an endpoint with one slash between: a trailing slash and a path
/// prefix (getlocalcert's `/api/v1/acme-dns-compat`) are kept as they should be.
fn join(base: &str, endpoint: &str) -> String {
    format!("{}/{endpoint}", base.trim_end_matches('/'))
}

fn status_error(url: String, response: &http::Response) -> AcmeDnsError {
    let text = String::from_utf8_lossy(&response.body);
    let mut body: String = text.trim().chars().take(ERROR_BODY_CHARS_MAX).collect();
    if text.trim().chars().count() > ERROR_BODY_CHARS_MAX {
        body.push('…');
    }
    AcmeDnsError::Status {
        url,
        status: response.status,
        body,
    }
}

/// The four account fields of a JSON object, keys matched case-insensitively,
/// each checked; `server_url` taken if present (else empty).
fn credential_fields(value: &Value) -> Result<Credentials, String> {
    let Value::Object(object) = value else {
        return Err("expected a JSON object with the account's fields".into());
    };
    let field = |name: &str, required: bool| -> Result<String, String> {
        let found = object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name));
        match found.map(|(_, value)| value) {
            None | Some(Value::Null) if !required => Ok(String::new()),
            None | Some(Value::Null) => Err(format!("no {name}")),
            Some(Value::String(text)) if text.len() > CREDENTIAL_FIELD_BYTES_MAX => {
                Err(format!("{name} is over {CREDENTIAL_FIELD_BYTES_MAX} bytes"))
            }
            Some(Value::String(text)) if !text.is_empty() && visible_ascii(text) => {
                Ok(text.clone())
            }
            Some(Value::String(text)) if text.is_empty() && !required => Ok(String::new()),
            Some(_) => Err(format!("{name} is not a non-empty printable string")),
        }
    };
    let fulldomain = field("fulldomain", true)?;
    let fulldomain = fulldomain
        .strip_suffix('.')
        .unwrap_or(&fulldomain)
        .to_string();
    if !domain_name(&fulldomain) {
        return Err(format!("fulldomain {fulldomain:?} is not a domain name"));
    }
    Ok(Credentials {
        fulldomain,
        subdomain: field("subdomain", true)?,
        username: field("username", true)?,
        password: field("password", true)?,
        server_url: field("server_url", false)?,
    })
}

/// A domain below the root in presentation form (as the zone code parses names).
fn domain_name(text: &str) -> bool {
    visible_ascii(text)
        && !text.is_empty()
        && crate::dns::zone::domain_wire(text).is_ok_and(|wire| wire.len() > 1)
}

/// Safe as an HTTP header value and in a log line.
fn visible_ascii(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic())
}

/// The domain a registration is kept under: `*.x` and `x` share one (the
/// challenge name `_acme-challenge.x` is the same for both).
pub fn base_domain(domain: &str) -> &str {
    domain.strip_prefix("*.").unwrap_or(domain)
}

/// The record the owner adds once: `_acme-challenge.<domain>. CNAME <fulldomain>.`
pub fn setup_record(domain: &str, fulldomain: &str) -> String {
    let domain = base_domain(domain);
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let target = fulldomain.strip_suffix('.').unwrap_or(fulldomain);
    format!("_acme-challenge.{domain}. CNAME {target}.")
}

/// lego's storage file, `{"<domain>": {fulldomain, subdomain, username, password,
/// server_url}, ...}`, as (bare domain, credentials) sorted by domain. Extra keys
/// (certbot's `allowfrom`) are ignored and field names matched case-insensitively;
/// `x` and `*.x` are one entry (two that differ are an error).
pub fn parse_lego(text: &str) -> Result<Vec<(String, Credentials)>, AcmeDnsError> {
    let malformed = |what: String| AcmeDnsError::Malformed(format!("lego storage: {what}"));
    let value: Value =
        serde_json::from_str(text).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let Value::Object(entries) = value else {
        return Err(malformed("expected one JSON object keyed by domain".into()));
    };
    let mut parsed: BTreeMap<String, Credentials> = BTreeMap::new();
    for (key, entry) in &entries {
        let domain = base_domain(key);
        let domain = domain
            .strip_suffix('.')
            .unwrap_or(domain)
            .to_ascii_lowercase();
        if !domain_name(&domain) {
            return Err(malformed(format!("{key:?} is not a domain name")));
        }
        let credentials =
            credential_fields(entry).map_err(|what| malformed(format!("{key:?}: {what}")))?;
        match parsed.get(&domain) {
            Some(earlier) if *earlier != credentials => {
                return Err(malformed(format!(
                    "two different registrations for {domain} (as {domain} and *.{domain}): keep one"
                )));
            }
            _ => {
                parsed.insert(domain, credentials);
            }
        }
    }
    Ok(parsed.into_iter().collect())
}

/// Reads and parses lego's storage file; errors name the file.
pub fn read_lego(path: &Path) -> Result<Vec<(String, Credentials)>, AcmeDnsError> {
    let file = path.display();
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(LEGO_FILE_BYTES_MAX + 1).read_to_string(&mut text))
        .map_err(|e| AcmeDnsError::Malformed(format!("{file}: cannot read: {e}")))?;
    if text.len() as u64 > LEGO_FILE_BYTES_MAX {
        let what = format!("{file}: over {LEGO_FILE_BYTES_MAX} bytes");
        return Err(AcmeDnsError::Malformed(what));
    }
    parse_lego(&text).map_err(|e| AcmeDnsError::Malformed(format!("{file}: {e}")))
}

/// The file's text exactly as lego writes it: Go's `json.Marshal` of a map, so
/// one line, keys sorted, no newline at the end, and `<`, `>`, `&`, U+2028 and
/// U+2029 escaped as `\u003c`… (Go's HTML-safe escaping).
pub fn lego_text(entries: &[(String, Credentials)]) -> String {
    let map: BTreeMap<&str, &Credentials> = entries
        .iter()
        .map(|(domain, credentials)| (base_domain(domain), credentials))
        .collect();
    // Serialising strings and a derived struct cannot fail.
    let json = serde_json::to_string(&map).unwrap_or_default();
    let mut text = String::with_capacity(json.len());
    for character in json.chars() {
        match character {
            // Only ever inside strings: JSON's own syntax uses none of these.
            '<' => text.push_str("\\u003c"),
            '>' => text.push_str("\\u003e"),
            '&' => text.push_str("\\u0026"),
            '\u{2028}' => text.push_str("\\u2028"),
            '\u{2029}' => text.push_str("\\u2029"),
            other => text.push(other),
        }
    }
    text
}

/// Writes [`lego_text`] to `path` with mode 0600, atomically: a temporary file
/// beside it, fsync, rename over `path`, fsync the directory. A crash leaves the
/// old file or the new one.
pub fn write_lego(path: &Path, entries: &[(String, Credentials)]) -> Result<(), std::io::Error> {
    let text = lego_text(entries);
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        let what = format!("{}: not a file name", path.display());
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, what));
    };
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".tmp-{}", std::process::id()));
    let temporary = directory.join(temporary_name);
    // A leftover from a crash may have other permissions: start afresh.
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(directory)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const USER: &str = "c36f50e8-4632-44f0-83fe-e070fef28a10";
    const SUBDOMAIN: &str = "8e5700ea-a4bf-41c7-8a77-e990661dcc6a";
    /// The file as lego writes it (DESIGN.md §8): one line, lego's field order.
    const LEGO_FILE: &str = concat!(
        r#"{"x.home.test":{"fulldomain":"8e5700ea-a4bf-41c7-8a77-e990661dcc6a.auth.test","#,
        r#""subdomain":"8e5700ea-a4bf-41c7-8a77-e990661dcc6a","#,
        r#""username":"c36f50e8-4632-44f0-83fe-e070fef28a10","#,
        r#""password":"htB9mR5DYdtA-0ucJqQBsM7uOHOFIx7JZUDHGQ8p","#,
        r#""server_url":"http://127.0.0.1:8443"}}"#
    );

    fn credentials(password: &str) -> Credentials {
        Credentials {
            fulldomain: format!("{SUBDOMAIN}.auth.test"),
            subdomain: SUBDOMAIN.into(),
            username: USER.into(),
            password: password.into(),
            server_url: "http://127.0.0.1:8443".into(),
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lanseal-acmedns-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn lego_file_round_trips_byte_for_byte_with_mode_0600() {
        let entries = parse_lego(LEGO_FILE).unwrap();
        let expected = credentials("htB9mR5DYdtA-0ucJqQBsM7uOHOFIx7JZUDHGQ8p");
        assert_eq!(entries, vec![("x.home.test".to_string(), expected)]);
        let dir = temp_dir("round-trip");
        let path = dir.join("acme-dns.json");
        // An existing file with looser permissions is replaced, not reused.
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_lego(&path, &entries).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), LEGO_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_lego(&path).unwrap(), entries);
        // Nothing left beside it.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("acme-dns.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wildcards_share_the_bare_domain() {
        let one = credentials("a".repeat(40).as_str());
        let other = credentials("b".repeat(40).as_str());
        let entries = vec![
            ("*.b.test".to_string(), other.clone()),
            ("a.test".to_string(), one.clone()),
        ];
        let text = lego_text(&entries);
        assert!(text.starts_with(r#"{"a.test":{"fulldomain":"#), "{text}");
        assert!(
            text.contains(r#""b.test":{"#) && !text.contains('*'),
            "{text}"
        );
        assert!(!text.contains('\n'));
        let parsed = parse_lego(&text).unwrap();
        assert_eq!(
            parsed,
            vec![
                ("a.test".into(), one.clone()),
                ("b.test".into(), other.clone())
            ]
        );
        // Written by hand with the wildcard key, or both keys for one account.
        let by_hand = format!(
            r#"{{"*.C.test.": {}, "c.test": {}}}"#,
            serde_json::to_string(&one).unwrap(),
            serde_json::to_string(&one).unwrap()
        );
        assert_eq!(
            parse_lego(&by_hand).unwrap(),
            vec![("c.test".into(), one.clone())]
        );
        let conflicting = format!(
            r#"{{"*.c.test": {}, "c.test": {}}}"#,
            serde_json::to_string(&one).unwrap(),
            serde_json::to_string(&other).unwrap()
        );
        let error = parse_lego(&conflicting).unwrap_err().to_string();
        assert!(
            error.contains("two different registrations for c.test"),
            "{error}"
        );
        assert_eq!(base_domain("*.x.test"), "x.test");
        assert_eq!(base_domain("x.test"), "x.test");
        assert_eq!(base_domain("*x.test"), "*x.test");
    }

    #[test]
    fn field_names_match_case_insensitively_and_extra_keys_are_ignored() {
        // goacmedns before 0.2 and certbot's registration file (with allowfrom).
        let password = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let text = format!(
            r#"{{"x.home.test": {{"FullDomain": "{SUBDOMAIN}.auth.test.", "SubDomain": "{SUBDOMAIN}",
                "Username": "{USER}", "PASSWORD": "{password}", "allowfrom": [], "Server_URL": null}}}}"#
        );
        let entries = parse_lego(&text).unwrap();
        let expected = Credentials {
            server_url: String::new(),
            ..credentials(password)
        };
        assert_eq!(entries, vec![("x.home.test".to_string(), expected)]);
        // The derived Deserialize reads lego's own spelling, server_url optional.
        let plain = format!(
            r#"{{"fulldomain":"f.auth.test","subdomain":"s","username":"u","password":"{password}"}}"#
        );
        let derived: Credentials = serde_json::from_str(&plain).unwrap();
        assert_eq!((derived.password.len(), &*derived.server_url), (64, ""));
    }

    #[test]
    fn broken_storage_files_are_refused_with_the_reason() {
        let good = serde_json::to_string(&credentials("p")).unwrap();
        let cases = [
            ("{", "not JSON"),
            ("[]", "expected one JSON object keyed by domain"),
            (
                r#"{"x.test": "a string"}"#,
                "\"x.test\": expected a JSON object",
            ),
            (r#"{"x.test": {}}"#, "\"x.test\": no fulldomain"),
            (
                r#"{"x.test": {"fulldomain": "f.auth.test", "subdomain": "s", "username": "u"}}"#,
                "no password",
            ),
            (
                r#"{"x.test": {"fulldomain": "f.auth.test", "subdomain": "s", "username": "u", "password": ""}}"#,
                "password is not a non-empty printable string",
            ),
            (
                r#"{"x.test": {"fulldomain": "f.auth.test", "subdomain": "s", "username": "u", "password": 7}}"#,
                "password is not a non-empty printable string",
            ),
            (
                r#"{"x.test": {"fulldomain": "f.auth.test", "subdomain": "s", "username": "u u", "password": "p"}}"#,
                "username is not a non-empty printable string",
            ),
            (
                r#"{"x.test": {"fulldomain": "not..a.name", "subdomain": "s", "username": "u", "password": "p"}}"#,
                "is not a domain name",
            ),
        ];
        for (text, what) in cases {
            let error = parse_lego(text).unwrap_err();
            assert!(matches!(error, AcmeDnsError::Malformed(_)), "{text}");
            let error = error.to_string();
            assert!(
                error.starts_with("lego storage: ") && error.contains(what),
                "{text}: {error}"
            );
        }
        for key in ["", "bad key", ".", "a..b"] {
            let error = parse_lego(&format!(r#"{{"{key}": {good}}}"#))
                .unwrap_err()
                .to_string();
            assert!(error.contains("is not a domain name"), "{key:?}: {error}");
        }
        let long = "k".repeat(CREDENTIAL_FIELD_BYTES_MAX + 1);
        let text = format!(
            r#"{{"x.test": {{"fulldomain": "f.auth.test", "subdomain": "s", "username": "u", "password": "{long}"}}}}"#
        );
        assert!(
            parse_lego(&text)
                .unwrap_err()
                .to_string()
                .contains("password is over 1024 bytes")
        );
        // read_lego names the file.
        let dir = temp_dir("broken");
        let path = dir.join("storage.json");
        std::fs::write(&path, "[]").unwrap();
        let error = read_lego(&path).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}: lego storage: expected one JSON object keyed by domain",
                path.display()
            )
        );
        let missing = dir.join("missing.json");
        let error = read_lego(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: cannot read: ", missing.display())),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lego_text_escapes_as_go_does() {
        let mut odd = credentials("p&<q>");
        odd.server_url = "https://a.test/x?a=1&b=2\u{2028}".into();
        let text = lego_text(&[("a.test".into(), odd.clone())]);
        assert!(
            text.contains(r#""password":"p\u0026\u003cq\u003e""#),
            "{text}"
        );
        assert!(text.contains(r#"?a=1\u0026b=2\u2028""#), "{text}");
        let back: BTreeMap<String, Credentials> = serde_json::from_str(&text).unwrap();
        assert_eq!(back["a.test"], odd);
        assert_eq!(lego_text(&[]), "{}");
    }

    #[test]
    fn write_lego_errors_leave_nothing_behind() {
        let dir = temp_dir("errors");
        let missing = dir.join("no/such/dir/file.json");
        assert!(write_lego(&missing, &[]).is_err());
        // A directory where the file should be: the rename fails, the temp goes.
        let occupied = dir.join("occupied");
        std::fs::create_dir(&occupied).unwrap();
        std::fs::write(occupied.join("inside"), "x").unwrap();
        assert!(write_lego(&occupied, &[]).is_err());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("occupied")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn setup_records_and_urls() {
        let cases = [
            (
                "x.home.test",
                "abc.auth.test",
                "_acme-challenge.x.home.test. CNAME abc.auth.test.",
            ),
            (
                "*.x.home.test",
                "abc.auth.test.",
                "_acme-challenge.x.home.test. CNAME abc.auth.test.",
            ),
            (
                "x.home.test.",
                "abc.auth.test",
                "_acme-challenge.x.home.test. CNAME abc.auth.test.",
            ),
        ];
        for (domain, fulldomain, record) in cases {
            assert_eq!(setup_record(domain, fulldomain), record);
        }
        let joins = [
            (
                "https://auth.acme-dns.io",
                "https://auth.acme-dns.io/register",
            ),
            (
                "https://auth.acme-dns.io/",
                "https://auth.acme-dns.io/register",
            ),
            (
                "https://api.getlocalcert.net/api/v1/acme-dns-compat",
                "https://api.getlocalcert.net/api/v1/acme-dns-compat/register",
            ),
            (
                "https://api.getlocalcert.net/api/v1/acme-dns-compat/",
                "https://api.getlocalcert.net/api/v1/acme-dns-compat/register",
            ),
        ];
        for (base, url) in joins {
            assert_eq!(join(base, "register"), url);
        }
        let status = AcmeDnsError::Status {
            url: "http://127.0.0.1:1/update".into(),
            status: 401,
            body: r#"{"error":"forbidden"}"#.into(),
        };
        assert_eq!(
            status.to_string(),
            r#"POST http://127.0.0.1:1/update: the delegate answered HTTP 401: {"error":"forbidden"}"#
        );
    }

    #[test]
    fn register_answers_are_checked() {
        // credential_fields is what register applies to the answer.
        let answer = serde_json::json!({
            "username": USER, "password": "x".repeat(64), "fulldomain": format!("{SUBDOMAIN}.auth.test"),
            "subdomain": SUBDOMAIN, "allowfrom": []
        });
        let fields = credential_fields(&answer).unwrap();
        assert_eq!((fields.password.len(), &*fields.server_url), (64, ""));
        let old_style = serde_json::json!({
            "UserName": USER, "PassWord": "p", "FullDomain": "f.auth.test", "SubDomain": "s"
        });
        assert_eq!(
            credential_fields(&old_style).unwrap().fulldomain,
            "f.auth.test"
        );
        assert!(credential_fields(&serde_json::json!("x")).is_err());
        assert!(credential_fields(&serde_json::json!({"username": USER})).is_err());
    }
}
