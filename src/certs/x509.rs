//! The few fields of an X.509 certificate the certs role needs (validity, serial,
//! authority key identifier, DNS names), read straight from its DER, plus PEM
//! blocks and the ARI certificate identifier (RFC 9773 §4.1).
//!
//! A full X.509 parser (x509-parser and its ASN.1 stack) costs more flash than a
//! 16 MB router can spare for reading five fields of certificates we asked for
//! ourselves. This reader walks only the TBSCertificate path to those fields and
//! skips everything else by its length. It verifies nothing (signatures and
//! chains are the TLS stack's job): it must never panic, never read out of
//! bounds, and turn any malformed input into an [`X509Error`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::pem::{SectionKind, SliceIter};

/// The largest certificate accepted. A Let's Encrypt leaf with 100 names is
/// about 4 KB; anything past this is not a certificate we asked for.
pub const CERTIFICATE_BYTES_MAX: usize = 64 * 1024;
/// RFC 5280 §4.1.2.2 allows 20 octets of serial number; one more for the sign
/// octet, and some slack for CAs that get it wrong.
pub const SERIAL_BYTES_MAX: usize = 32;
/// RFC 5280 §4.2.1.1 places no limit on the key identifier; a SHA-1 or SHA-256
/// digest (20 or 32 octets) is what CAs use.
pub const KEY_IDENTIFIER_BYTES_MAX: usize = 64;
/// Public CAs allow at most 100 names per certificate (Let's Encrypt's limit).
pub const DNS_NAMES_MAX: usize = 256;
/// A DNS name in presentation form is at most 253 characters (RFC 1035 §2.3.4).
pub const DNS_NAME_BYTES_MAX: usize = 253;
/// Length octets after the first: four cover every size up to 4 GiB, far more
/// than [`CERTIFICATE_BYTES_MAX`].
const LENGTH_OCTETS_MAX: usize = 4;

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
/// TBSCertificate `version [0] EXPLICIT`.
const TAG_VERSION: u8 = 0xa0;
/// TBSCertificate `extensions [3] EXPLICIT`.
const TAG_EXTENSIONS: u8 = 0xa3;
/// AuthorityKeyIdentifier `keyIdentifier [0] IMPLICIT OCTET STRING`.
const TAG_KEY_IDENTIFIER: u8 = 0x80;
/// GeneralName `dNSName [2] IMPLICIT IA5String`.
const TAG_DNS_NAME: u8 = 0x82;

/// id-ce-authorityKeyIdentifier, 2.5.29.35, as DER content octets.
const OID_AUTHORITY_KEY_IDENTIFIER: &[u8] = &[0x55, 0x1d, 0x23];
/// id-ce-subjectAltName, 2.5.29.17.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// What the certs role reads from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity (inclusive, RFC 5280 §4.1.2.5), Unix seconds.
    pub not_after: i64,
    /// The serial INTEGER's content octets as encoded, sign octet included (RFC
    /// 9773 identifies a certificate by exactly these bytes).
    pub serial: Vec<u8>,
    /// The keyIdentifier of the authority key identifier extension, if present.
    pub authority_key_id: Option<Vec<u8>>,
    /// The subject alternative name's dNSName entries, lower-cased, in order.
    pub dns_names: Vec<String>,
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Error(pub String);

impl fmt::Display for X509Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed certificate: {}", self.0)
    }
}

impl std::error::Error for X509Error {}

fn error(message: impl Into<String>) -> X509Error {
    X509Error(message.into())
}

/// Reads the fields of [`CertInfo`] from one DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, X509Error> {
    if der.len() > CERTIFICATE_BYTES_MAX {
        return Err(error(format!(
            "{} bytes, more than the {CERTIFICATE_BYTES_MAX} accepted",
            der.len()
        )));
    }
    let mut outer = Der::new(der);
    let certificate = outer.read(TAG_SEQUENCE, "Certificate")?;
    outer.finish("after the Certificate")?;

    let mut certificate = Der::new(certificate);
    let tbs = certificate.read(TAG_SEQUENCE, "TBSCertificate")?;
    certificate.read(TAG_SEQUENCE, "signatureAlgorithm")?;
    certificate.read(TAG_BIT_STRING, "signatureValue")?;
    certificate.finish("after signatureValue")?;

    let mut tbs = Der::new(tbs);
    tbs.optional(TAG_VERSION, "version")?;
    let serial = tbs.read(TAG_INTEGER, "serialNumber")?;
    if serial.is_empty() || serial.len() > SERIAL_BYTES_MAX {
        return Err(error(format!(
            "serialNumber of {} octets (1 to {SERIAL_BYTES_MAX} accepted)",
            serial.len()
        )));
    }
    tbs.read(TAG_SEQUENCE, "signature")?;
    tbs.read(TAG_SEQUENCE, "issuer")?;
    let mut validity = Der::new(tbs.read(TAG_SEQUENCE, "validity")?);
    let not_before = read_time(&mut validity, "notBefore")?;
    let not_after = read_time(&mut validity, "notAfter")?;
    validity.finish("after notAfter")?;
    tbs.read(TAG_SEQUENCE, "subject")?;
    tbs.read(TAG_SEQUENCE, "subjectPublicKeyInfo")?;

    let mut info = CertInfo {
        not_before,
        not_after,
        serial: serial.to_vec(),
        authority_key_id: None,
        dns_names: Vec::new(),
    };
    // issuerUniqueID [1], subjectUniqueID [2] and extensions [3], in that order;
    // only the extensions matter here.
    while !tbs.is_empty() {
        let (tag, content) = tbs.read_any("TBSCertificate field")?;
        if tag == TAG_EXTENSIONS {
            let mut wrapper = Der::new(content);
            let extensions = wrapper.read(TAG_SEQUENCE, "Extensions")?;
            wrapper.finish("after Extensions")?;
            read_extensions(extensions, &mut info)?;
        }
    }
    Ok(info)
}

/// Every PEM block with this label ("CERTIFICATE", "PRIVATE KEY"...) decoded to DER,
/// in order. Blocks with other labels are skipped; reading stops at the first
/// malformed block (what came before it is returned). A label rustls' PEM reader
/// does not know yields nothing.
pub fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let Ok(wanted) = SectionKind::try_from(label.as_bytes()) else {
        return Vec::new();
    };
    SliceIter::<(SectionKind, Vec<u8>)>::new(text.as_bytes())
        .map_while(Result::ok)
        .filter(|(kind, _)| *kind == wanted)
        .map(|(_, der)| der)
        .collect()
}

/// RFC 9773 §4.1 ARI certificate identifier: base64url(AKI keyIdentifier) "."
/// base64url(serial DER content), no padding. None without a key identifier.
pub fn ari_identifier(info: &CertInfo) -> Option<String> {
    let key_identifier = info.authority_key_id.as_deref()?;
    if key_identifier.is_empty() || info.serial.is_empty() {
        return None;
    }
    Some(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(key_identifier),
        URL_SAFE_NO_PAD.encode(&info.serial)
    ))
}

fn read_extensions(extensions: &[u8], info: &mut CertInfo) -> Result<(), X509Error> {
    let mut extensions = Der::new(extensions);
    let mut seen_authority_key_id = false;
    let mut seen_subject_alt_name = false;
    while !extensions.is_empty() {
        let mut extension = Der::new(extensions.read(TAG_SEQUENCE, "Extension")?);
        let oid = extension.read(TAG_OID, "extnID")?;
        extension.optional(TAG_BOOLEAN, "critical")?;
        let value = extension.read(TAG_OCTET_STRING, "extnValue")?;
        extension.finish("after extnValue")?;
        // RFC 5280 §4.2: at most one instance of an extension; two would make
        // the one we pick arbitrary.
        if oid == OID_AUTHORITY_KEY_IDENTIFIER {
            if std::mem::replace(&mut seen_authority_key_id, true) {
                return Err(error("two authorityKeyIdentifier extensions"));
            }
            info.authority_key_id = read_authority_key_id(value)?;
        } else if oid == OID_SUBJECT_ALT_NAME {
            if std::mem::replace(&mut seen_subject_alt_name, true) {
                return Err(error("two subjectAltName extensions"));
            }
            info.dns_names = read_dns_names(value)?;
        }
    }
    Ok(())
}

fn read_authority_key_id(value: &[u8]) -> Result<Option<Vec<u8>>, X509Error> {
    let mut outer = Der::new(value);
    let mut fields = Der::new(outer.read(TAG_SEQUENCE, "AuthorityKeyIdentifier")?);
    outer.finish("after AuthorityKeyIdentifier")?;
    let Some(key_identifier) = fields.optional(TAG_KEY_IDENTIFIER, "keyIdentifier")? else {
        return Ok(None);
    };
    if key_identifier.is_empty() || key_identifier.len() > KEY_IDENTIFIER_BYTES_MAX {
        return Err(error(format!(
            "keyIdentifier of {} octets (1 to {KEY_IDENTIFIER_BYTES_MAX} accepted)",
            key_identifier.len()
        )));
    }
    // authorityCertIssuer [1] and authorityCertSerialNumber [2] may follow; they
    // are skipped, but must still be well-formed.
    while !fields.is_empty() {
        fields.read_any("AuthorityKeyIdentifier field")?;
    }
    Ok(Some(key_identifier.to_vec()))
}

fn read_dns_names(value: &[u8]) -> Result<Vec<String>, X509Error> {
    let mut outer = Der::new(value);
    let mut names = Der::new(outer.read(TAG_SEQUENCE, "SubjectAltName")?);
    outer.finish("after SubjectAltName")?;
    let mut dns_names = Vec::new();
    while !names.is_empty() {
        let (tag, content) = names.read_any("GeneralName")?;
        if tag != TAG_DNS_NAME {
            continue; // IP addresses, e-mail addresses, URIs...
        }
        if dns_names.len() == DNS_NAMES_MAX {
            return Err(error(format!("more than {DNS_NAMES_MAX} DNS names")));
        }
        if content.is_empty() || content.len() > DNS_NAME_BYTES_MAX {
            return Err(error(format!(
                "dNSName of {} bytes (1 to {DNS_NAME_BYTES_MAX} accepted)",
                content.len()
            )));
        }
        // IA5String: ASCII only; a name with control characters is not a host name.
        if !content.iter().all(|byte| byte.is_ascii_graphic()) {
            return Err(error("dNSName with a byte that is not printable ASCII"));
        }
        let name: String = content
            .iter()
            .map(|byte| char::from(byte.to_ascii_lowercase()))
            .collect();
        dns_names.push(name);
    }
    Ok(dns_names)
}

/// Reads a `Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }` in
/// the forms RFC 5280 §4.1.2.5 allows: `YYMMDDHHMMSSZ` (YY of 50 to 99 meaning
/// 19YY, 00 to 49 meaning 20YY) and `YYYYMMDDHHMMSSZ`, no fractions, always Z.
fn read_time(der: &mut Der<'_>, what: &str) -> Result<i64, X509Error> {
    let (tag, content) = der.read_any(what)?;
    let (year, rest) = match tag {
        TAG_UTC_TIME => {
            if content.len() != 13 {
                return Err(error(format!("{what}: UTCTime of {} bytes", content.len())));
            }
            let (yy, rest) = content.split_at_checked(2).unwrap_or_default();
            let yy = digits(yy, what)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, rest)
        }
        TAG_GENERALIZED_TIME => {
            if content.len() != 15 {
                return Err(error(format!(
                    "{what}: GeneralizedTime of {} bytes",
                    content.len()
                )));
            }
            let (yyyy, rest) = content.split_at_checked(4).unwrap_or_default();
            (digits(yyyy, what)?, rest)
        }
        _ => return Err(error(format!("{what}: tag {tag:#04x} is not a time"))),
    };
    // rest is MMDDHHMMSSZ, 11 bytes in both forms.
    let Some((fields, b"Z")) = rest.split_at_checked(10) else {
        return Err(error(format!("{what}: time not in UTC (Z)")));
    };
    let field = |index: usize| digits(fields.get(index..index + 2).unwrap_or_default(), what);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(error(format!("{what}: no such date")));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(error(format!("{what}: no such time of day")));
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// ASCII decimal digits to a number; at most four digits are ever passed.
fn digits(text: &[u8], what: &str) -> Result<i64, X509Error> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(error(format!("{what}: not a number")));
    }
    Ok(text
        .iter()
        .fold(0, |value, digit| value * 10 + i64::from(digit - b'0')))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`); year 0 to 9999 here, so no overflow.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A cursor over DER bytes: one tag-length-value at a time, bounds checked.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Der<'a> {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element's tag and content.
    fn read_any(&mut self, what: &str) -> Result<(u8, &'a [u8]), X509Error> {
        let truncated = || error(format!("{what}: truncated"));
        let (&tag, rest) = self.rest.split_first().ok_or_else(truncated)?;
        if tag & 0x1f == 0x1f {
            // High tag numbers appear nowhere in a certificate.
            return Err(error(format!("{what}: multi-byte tag")));
        }
        let (&first, mut rest) = rest.split_first().ok_or_else(truncated)?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > LENGTH_OCTETS_MAX {
                return Err(error(format!("{what}: unsupported length form")));
            }
            let (octets, after) = rest.split_at_checked(count).ok_or_else(truncated)?;
            rest = after;
            let length = octets
                .iter()
                .fold(0usize, |length, octet| (length << 8) | usize::from(*octet));
            // DER: the shortest form, so no leading zero octet and no long form
            // for what the short form holds.
            if octets.first() == Some(&0) || length < 0x80 {
                return Err(error(format!("{what}: length not in DER form")));
            }
            length
        };
        let (content, rest) = rest.split_at_checked(length).ok_or_else(truncated)?;
        self.rest = rest;
        Ok((tag, content))
    }

    /// The next element's content, which must carry `tag`.
    fn read(&mut self, tag: u8, what: &str) -> Result<&'a [u8], X509Error> {
        let (found, content) = self.read_any(what)?;
        if found != tag {
            return Err(error(format!(
                "{what}: tag {found:#04x} where {tag:#04x} was expected"
            )));
        }
        Ok(content)
    }

    /// The next element's content if it carries `tag`, else nothing consumed.
    fn optional(&mut self, tag: u8, what: &str) -> Result<Option<&'a [u8]>, X509Error> {
        if self.rest.first() != Some(&tag) {
            return Ok(None);
        }
        self.read(tag, what).map(Some)
    }

    fn finish(&self, what: &str) -> Result<(), X509Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(error(format!(
                "{} unexpected bytes {what}",
                self.rest.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::store::testing::TempDir;

    /// The RFC 9773 §4.1 example's authority key identifier.
    const RFC_KEY_ID: [u8; 20] = [
        0x69, 0x88, 0x5b, 0x6b, 0x87, 0x46, 0x40, 0x41, 0xe1, 0xb3, 0x7b, 0x84, 0x7b, 0xa0, 0xae,
        0x2c, 0xde, 0x01, 0xc8, 0xd4,
    ];
    const RFC_IDENTIFIER: &str = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

    fn openssl(dir: &Path, args: &[&str]) -> String {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// A test CA made by openssl whose subject key identifier is the RFC 9773
    /// example's, so that its leaves carry that authority key identifier.
    struct TestCa {
        dir: TempDir,
    }

    impl TestCa {
        fn new() -> TestCa {
            let dir = TempDir::new();
            std::fs::create_dir_all(&dir.0).unwrap();
            let key_id: Vec<String> = RFC_KEY_ID.iter().map(|b| format!("{b:02X}")).collect();
            let config = format!(
                "[req]\ndistinguished_name = dn\nx509_extensions = ca_ext\nprompt = no\n\
                 [dn]\nCN = lanseal test CA\n\
                 [ca_ext]\nbasicConstraints = critical,CA:true\nkeyUsage = critical,keyCertSign\n\
                 subjectKeyIdentifier = {}\n\
                 [ca]\ndefault_ca = test_ca\n\
                 [test_ca]\ndatabase = index.txt\nserial = serial\nnew_certs_dir = .\n\
                 certificate = ca.pem\nprivate_key = ca.key\ndefault_md = sha256\n\
                 policy = any\nunique_subject = no\n\
                 [any]\ncommonName = supplied\n",
                key_id.join(":")
            );
            std::fs::write(dir.0.join("ca.cnf"), config).unwrap();
            std::fs::write(dir.0.join("index.txt"), "").unwrap();
            openssl(
                &dir.0,
                &[
                    "req",
                    "-x509",
                    "-new",
                    "-config",
                    "ca.cnf",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "30",
                ],
            );
            openssl(
                &dir.0,
                &[
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    "leaf.key",
                    "-out",
                    "leaf.csr",
                    "-subj",
                    "/CN=example.com",
                ],
            );
            TestCa { dir }
        }

        /// Signs the leaf request with explicit dates (openssl's `YYMMDDHHMMSSZ`
        /// or `YYYYMMDDHHMMSSZ`), serial (hex, as openssl's serial file holds
        /// it) and extension lines; returns the certificate as PEM.
        fn issue(&self, start: &str, end: &str, serial_hex: &str, extensions: &str) -> String {
            std::fs::write(self.dir.0.join("serial"), format!("{serial_hex}\n")).unwrap();
            std::fs::write(
                self.dir.0.join("leaf.cnf"),
                format!("[leaf]\n{extensions}\n"),
            )
            .unwrap();
            openssl(
                &self.dir.0,
                &[
                    "ca",
                    "-batch",
                    "-config",
                    "ca.cnf",
                    "-in",
                    "leaf.csr",
                    "-out",
                    "leaf.pem",
                    "-notext",
                    "-startdate",
                    start,
                    "-enddate",
                    end,
                    "-extfile",
                    "leaf.cnf",
                    "-extensions",
                    "leaf",
                ],
            );
            std::fs::read_to_string(self.dir.0.join("leaf.pem")).unwrap()
        }

        /// openssl's own reading of a certificate's dates, as Unix seconds (by
        /// GNU date), to check ours against.
        fn openssl_dates(&self, pem: &str) -> (i64, i64) {
            std::fs::write(self.dir.0.join("check.pem"), pem).unwrap();
            let text = openssl(
                &self.dir.0,
                &[
                    "x509",
                    "-in",
                    "check.pem",
                    "-noout",
                    "-dateopt",
                    "iso_8601",
                    "-startdate",
                    "-enddate",
                ],
            );
            let seconds = |prefix: &str| {
                let line = text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap();
                let output = Command::new("date")
                    .args(["-u", "-d", line, "+%s"])
                    .output()
                    .unwrap();
                assert!(output.status.success(), "date -d {line}");
                String::from_utf8(output.stdout)
                    .unwrap()
                    .trim()
                    .parse::<i64>()
                    .unwrap()
            };
            (seconds("notBefore="), seconds("notAfter="))
        }
    }

    fn der_of(pem: &str) -> Vec<u8> {
        let blocks = pem_blocks(pem, "CERTIFICATE");
        assert_eq!(blocks.len(), 1, "one certificate in {pem}");
        blocks.into_iter().next().unwrap()
    }

    const LEAF_EXTENSIONS: &str = "subjectAltName = DNS:Example.COM, DNS:*.example.com, \
         IP:192.0.2.1, email:owner@example.com, DNS:WWW.example.com\n\
         authorityKeyIdentifier = keyid:always\nbasicConstraints = critical,CA:false";

    #[test]
    fn ari_identifier_matches_rfc_9773_example() {
        let info = CertInfo {
            not_before: 0,
            not_after: 0,
            serial: vec![0x00, 0x87, 0x65, 0x43, 0x21],
            authority_key_id: Some(RFC_KEY_ID.to_vec()),
            dns_names: Vec::new(),
        };
        assert_eq!(ari_identifier(&info).as_deref(), Some(RFC_IDENTIFIER));
        let without_key_id = CertInfo {
            authority_key_id: None,
            ..info
        };
        assert_eq!(ari_identifier(&without_key_id), None);
    }

    #[test]
    fn openssl_leaf_every_field() {
        let ca = TestCa::new();
        // Serial 0x87654321 has its top bit set, so DER carries a leading zero
        // octet: exactly the RFC 9773 example, end to end.
        let pem = ca.issue(
            "261201132309Z",
            "270301132309Z",
            "87654321",
            LEAF_EXTENSIONS,
        );
        let info = parse_certificate(&der_of(&pem)).unwrap();
        assert_eq!(info.serial, [0x00, 0x87, 0x65, 0x43, 0x21]);
        assert_eq!(info.authority_key_id.as_deref(), Some(&RFC_KEY_ID[..]));
        assert_eq!(
            info.dns_names,
            ["example.com", "*.example.com", "www.example.com"]
        );
        // date -u -d '2026-12-01 13:23:09Z' +%s, and 90 days later.
        assert_eq!(info.not_before, 1_796_131_389);
        assert_eq!(info.not_after, 1_796_131_389 + 90 * 86_400);
        assert_eq!(ca.openssl_dates(&pem), (info.not_before, info.not_after));
        assert_eq!(ari_identifier(&info).as_deref(), Some(RFC_IDENTIFIER));
    }

    #[test]
    fn utc_time_until_2049_generalized_time_from_2050() {
        let ca = TestCa::new();
        let pem = ca.issue("491231235959Z", "20500101000000Z", "01", LEAF_EXTENSIONS);
        let der = der_of(&pem);
        // openssl chose the RFC 5280 encodings: check that the test tests them.
        let contains = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"\x17\x0d491231235959Z"), "UTCTime notBefore");
        assert!(
            contains(b"\x18\x0f20500101000000Z"),
            "GeneralizedTime notAfter"
        );
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.not_before, 2_524_607_999); // 2049-12-31T23:59:59Z
        assert_eq!(info.not_after, 2_524_608_000); // 2050-01-01T00:00:00Z
        assert_eq!(ca.openssl_dates(&pem), (info.not_before, info.not_after));
        assert_eq!(info.serial, [0x01]);
    }

    #[test]
    fn utc_time_50_is_1950() {
        let ca = TestCa::new();
        let pem = ca.issue("500101000000Z", "000229120000Z", "7f", LEAF_EXTENSIONS);
        let info = parse_certificate(&der_of(&pem)).unwrap();
        assert_eq!(info.not_before, -631_152_000); // 1950-01-01T00:00:00Z
        assert_eq!(info.not_after, 951_825_600); // 2000-02-29T12:00:00Z
        assert_eq!(ca.openssl_dates(&pem), (info.not_before, info.not_after));
    }

    #[test]
    fn no_extensions_no_names_no_identifier() {
        let ca = TestCa::new();
        let pem = ca.issue(
            "260101000000Z",
            "260401000000Z",
            "00FF",
            "basicConstraints = CA:false\nsubjectKeyIdentifier = none\nauthorityKeyIdentifier = none",
        );
        let info = parse_certificate(&der_of(&pem)).unwrap();
        assert_eq!(info.serial, [0x00, 0xff]);
        assert_eq!(info.authority_key_id, None);
        assert!(info.dns_names.is_empty());
        assert_eq!(ari_identifier(&info), None);
    }

    #[test]
    fn rcgen_leaf_and_duplicate_extension() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["Router.LAN.example".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 3, 1);
        params.not_after = rcgen::date_time_ymd(2026, 3, 7);
        params.serial_number = Some(vec![0x12, 0x34].into());
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(vec![0xab; 32]);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.dns_names, ["router.lan.example"]);
        assert_eq!(info.not_before, 1_772_323_200); // 2026-03-01T00:00:00Z
        assert_eq!(info.not_after - info.not_before, 6 * 86_400);
        assert_eq!(info.serial, [0x12, 0x34]);
        assert_eq!(info.authority_key_id, Some(vec![0xab; 32]));

        // A second subjectAltName (30 0f 82 0d "evil.example") must not be
        // silently preferred or ignored.
        let mut san = vec![0x30, 0x0e, 0x82, 0x0c];
        san.extend_from_slice(b"evil.example");
        params.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[2, 5, 29, 17],
            san,
        )];
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let error = parse_certificate(&der).unwrap_err();
        assert!(error.0.contains("two subjectAltName"), "{error}");
    }

    fn time(tag: u8, text: &str) -> Result<i64, X509Error> {
        let mut der = vec![tag, u8::try_from(text.len()).unwrap()];
        der.extend_from_slice(text.as_bytes());
        read_time(&mut Der::new(&der), "time")
    }

    #[test]
    fn times_table() {
        let good = [
            (TAG_UTC_TIME, "700101000000Z", 0),
            (TAG_UTC_TIME, "491231235959Z", 2_524_607_999),
            (TAG_UTC_TIME, "500101000000Z", -631_152_000),
            (TAG_UTC_TIME, "991231235959Z", 946_684_799),
            (TAG_UTC_TIME, "000101000000Z", 946_684_800),
            (TAG_UTC_TIME, "240229000000Z", 1_709_164_800),
            (TAG_GENERALIZED_TIME, "20500101000000Z", 2_524_608_000),
            (TAG_GENERALIZED_TIME, "19700101000001Z", 1),
            (TAG_GENERALIZED_TIME, "21000228235959Z", 4_107_542_399),
            (TAG_GENERALIZED_TIME, "99991231235959Z", 253_402_300_799),
        ];
        for (tag, text, seconds) in good {
            assert_eq!(time(tag, text), Ok(seconds), "{text}");
        }
        let bad = [
            (TAG_UTC_TIME, "7001010000Z"),       // no seconds
            (TAG_UTC_TIME, "700101000000+0100"), // not UTC
            (TAG_UTC_TIME, "700101000000z"),
            (TAG_UTC_TIME, "701301000000Z"), // month 13
            (TAG_UTC_TIME, "700001000000Z"), // month 0
            (TAG_UTC_TIME, "700100000000Z"), // day 0
            (TAG_UTC_TIME, "230229000000Z"), // not a leap year
            (TAG_UTC_TIME, "700431000000Z"),
            (TAG_UTC_TIME, "700101240000Z"),
            (TAG_UTC_TIME, "700101006000Z"),
            (TAG_UTC_TIME, "700101000060Z"),
            (TAG_UTC_TIME, "7a0101000000Z"),
            (TAG_UTC_TIME, "70 101000000Z"),
            (TAG_UTC_TIME, "-10101000000Z"),
            (TAG_GENERALIZED_TIME, "21000229000000Z"), // 2100 is not a leap year
            (TAG_GENERALIZED_TIME, "20500101000000.5Z"), // fractions
            (TAG_GENERALIZED_TIME, "205001010000Z"),
            (TAG_GENERALIZED_TIME, "491231235959Z"),
            (TAG_UTC_TIME, "20500101000000Z"),
            (TAG_OCTET_STRING, "700101000000Z"),
        ];
        for (tag, text) in bad {
            assert!(time(tag, text).is_err(), "{text} accepted");
        }
    }

    #[test]
    fn truncations_bit_flips_and_trailing_bytes_never_panic() {
        let ca = TestCa::new();
        let der = der_of(&ca.issue("260101000000Z", "260401000000Z", "0A", LEAF_EXTENSIONS));
        let info = parse_certificate(&der).unwrap();
        // Every proper prefix is an error: the outer length no longer fits.
        for length in 0..der.len() {
            assert!(
                parse_certificate(&der[..length]).is_err(),
                "prefix {length}"
            );
        }
        let mut longer = der.clone();
        longer.push(0);
        assert!(parse_certificate(&longer).is_err());
        // Every single bit flipped: any result but a panic; a flip inside the
        // parts we read must not go unnoticed as the same answer everywhere.
        let mut changed = 0;
        for index in 0..der.len() {
            for bit in 0..8 {
                let mut flipped = der.clone();
                flipped[index] ^= 1 << bit;
                if parse_certificate(&flipped).map_or(true, |other| other != info) {
                    changed += 1;
                }
            }
        }
        assert!(
            changed > der.len(),
            "{changed} of {} flips noticed",
            der.len() * 8
        );
        // Lengths that claim more than is there, in every length form.
        for bytes in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x81, 0x05, 0x00],
            &[0x3f, 0x00],
            &[0x30],
        ] {
            assert!(parse_certificate(bytes).is_err(), "{bytes:02x?}");
        }
        assert!(parse_certificate(&vec![0; CERTIFICATE_BYTES_MAX + 1]).is_err());
    }

    #[test]
    fn pem_blocks_by_label_in_order() {
        let ca = TestCa::new();
        let first = ca.issue("260101000000Z", "260401000000Z", "01", LEAF_EXTENSIONS);
        let second = ca.issue("260101000000Z", "260401000000Z", "02", LEAF_EXTENSIONS);
        let key = std::fs::read_to_string(ca.dir.0.join("leaf.key")).unwrap();
        let text = format!("comment before\n{first}{key}\r\nbetween\n{second}");
        let certificates = pem_blocks(&text, "CERTIFICATE");
        assert_eq!(certificates.len(), 2);
        assert_eq!(parse_certificate(&certificates[0]).unwrap().serial, [0x01]);
        assert_eq!(parse_certificate(&certificates[1]).unwrap().serial, [0x02]);
        assert_eq!(pem_blocks(&text, "PRIVATE KEY").len(), 1);
        assert!(pem_blocks(&text, "EC PRIVATE KEY").is_empty());
        assert!(pem_blocks(&text, "NO SUCH LABEL").is_empty());
        assert!(pem_blocks("", "CERTIFICATE").is_empty());
        // A damaged block ends the reading; what came before it stays.
        let damaged = format!(
            "{first}-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n{second}"
        );
        assert_eq!(pem_blocks(&damaged, "CERTIFICATE").len(), 1);
        let unterminated = format!("{first}-----BEGIN CERTIFICATE-----\nMIIB\n");
        assert_eq!(pem_blocks(&unterminated, "CERTIFICATE").len(), 1);
    }
}
