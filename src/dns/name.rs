//! Domain names in presentation form (RFC 1035 §5.1) to lower-case wire format:
//! the names of zone data, zone names, the delegate's settings and the
//! certificate checks.
//!
//! Labels separated by dots, a final dot for an absolute name (else the origin is
//! appended), `\X` and `\DDD` escapes for any byte. Unescaped, a label holds
//! letters, digits, `-` (not first), `_` (service labels, DKIM), or is `*` alone
//! (a wildcard). Non-ASCII text is refused with a pointer to its IDNA (`xn--`)
//! form: hickory-proto's `Name`, which this replaces outside the tests, converts
//! UTF-8 through `idna` and `url`, about 100 KB of a MIPS binary for names a LAN
//! zone hardly ever has (issue 12's size budget).

use std::fmt;

use crate::dns::wire::{self, NAME_BYTES_MAX};

/// RFC 1035 §2.3.4.
const LABEL_BYTES_MAX: usize = 63;

/// An absolute name as lower-case wire format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    wire: Vec<u8>,
}

impl Name {
    pub fn root() -> Name {
        Name { wire: vec![0] }
    }

    pub fn is_root(&self) -> bool {
        self.wire == [0]
    }

    /// Lower-case wire format, ending with the root label.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// Parses `text`; a name without a final dot is relative to `origin` (the
    /// root when there is none).
    pub fn parse(text: &str, origin: Option<&Name>) -> Result<Name, String> {
        if text == "." {
            return Ok(Name::root());
        }
        if text.is_empty() {
            return Err("empty name".into());
        }
        if !text.is_ascii() {
            return Err(
                "not ASCII; write an internationalized name in its IDNA form (xn--…)".into(),
            );
        }
        let bytes = text.as_bytes();
        let mut wire = Vec::with_capacity(bytes.len() + 2);
        let mut label: Vec<u8> = Vec::with_capacity(LABEL_BYTES_MAX);
        let mut escaped_any = false;
        let mut at = 0;
        let mut absolute = false;
        while at < bytes.len() {
            let c = bytes[at];
            match c {
                b'.' => {
                    finish_label(&label, escaped_any, &mut wire)?;
                    label.clear();
                    escaped_any = false;
                    if at + 1 == bytes.len() {
                        absolute = true;
                    }
                }
                b'\\' => {
                    let (byte, used) = unescape(&bytes[at + 1..])?;
                    label.push(byte.to_ascii_lowercase());
                    escaped_any = true;
                    at += used;
                }
                _ => label.push(c.to_ascii_lowercase()),
            }
            if label.len() > LABEL_BYTES_MAX {
                return Err(format!("a label is longer than {LABEL_BYTES_MAX} bytes"));
            }
            at += 1;
        }
        if !absolute {
            finish_label(&label, escaped_any, &mut wire)?;
            match origin {
                Some(origin) => wire.extend_from_slice(origin.wire()),
                None => wire.push(0),
            }
        } else {
            wire.push(0);
        }
        if wire.len() > NAME_BYTES_MAX {
            return Err(format!("longer than {NAME_BYTES_MAX} bytes"));
        }
        Ok(Name { wire })
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&wire::name_to_string(&self.wire))
    }
}

/// Appends `label` (checked) with its length byte.
fn finish_label(label: &[u8], escaped: bool, wire: &mut Vec<u8>) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty label".into());
    }
    // Escaped bytes are what the writer asked for; the rest must be host-name
    // characters, `_` or a lone `*`.
    if !escaped && label != b"*" {
        if label[0] == b'-' {
            return Err(format!(
                "label `{}` starts with `-`",
                String::from_utf8_lossy(label)
            ));
        }
        if let Some(&bad) = label
            .iter()
            .find(|&&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(format!(
                "character `{}` is not allowed in a name",
                char::from(bad)
            ));
        }
    }
    wire.push(label.len() as u8);
    wire.extend_from_slice(label);
    Ok(())
}

/// The byte of an escape (after its backslash) and how many bytes it used.
fn unescape(rest: &[u8]) -> Result<(u8, usize), String> {
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            u8::try_from(value)
                .map(|byte| (byte, 3))
                .map_err(|_| format!("escape `\\{value}` is above 255"))
        }
        [d, ..] if d.is_ascii_digit() => {
            Err("`\\` and a digit must be three digits (`\\DDD`)".into())
        }
        [byte, ..] => Ok((*byte, 1)),
        [] => Err("a name ends with `\\`".into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn absolute(text: &str) -> Vec<u8> {
        Name::parse(text, None).unwrap().wire().to_vec()
    }

    #[test]
    fn absolute_relative_and_case() {
        assert_eq!(
            absolute("Router.Home.Test."),
            b"\x06router\x04home\x04test\x00"
        );
        let origin = Name::parse("home.test.", None).unwrap();
        let nas = Name::parse("NAS", Some(&origin)).unwrap();
        assert_eq!(nas.wire(), b"\x03nas\x04home\x04test\x00");
        assert_eq!(nas.to_string(), "nas.home.test.");
        assert_eq!(
            Name::parse("x.example.", Some(&origin)).unwrap().wire(),
            b"\x01x\x07example\x00"
        );
        assert!(Name::parse(".", None).unwrap().is_root());
        assert_eq!(absolute("_dmarc.x."), b"\x06_dmarc\x01x\x00");
        assert_eq!(absolute("*.x."), b"\x01*\x01x\x00");
        assert_eq!(absolute("a-b.x"), b"\x03a-b\x01x\x00");
    }

    #[test]
    fn escapes() {
        assert_eq!(absolute("john\\.doe.x."), b"\x08john.doe\x01x\x00");
        assert_eq!(absolute("a\\032b.x."), b"\x03a b\x01x\x00");
        assert_eq!(absolute("\\*x."), b"\x02*x\x00");
        for bad in ["a\\", "a\\25x.", "a\\256."] {
            assert!(Name::parse(bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refused() {
        let long_label = "a".repeat(64);
        let long_name = format!("{}.", vec!["a".repeat(63); 4].join("."));
        for bad in [
            "",
            "a..b",
            "..",
            ".a",
            "-a.x",
            "a b",
            "a!.x",
            "*a.x",
            "bücher.x",
            &long_label,
            &long_name,
        ] {
            assert!(Name::parse(bad, None).is_err(), "{bad:?}");
        }
        let max = format!("{}.{}.", vec!["a".repeat(63); 3].join("."), "a".repeat(61));
        assert_eq!(Name::parse(&max, None).unwrap().wire().len(), 255);
    }
}
