//! Where in the config file: byte offsets (the spans serde and toml report) to
//! 1-based line numbers, the [`ConfigError`] built at such an offset, and the file's
//! bytes checked as UTF-8 with the line and column of the first invalid byte. Owns
//! no meaning of any key; every section's resolution reports through [`Lines`].

use super::ConfigError;

/// Maps byte offsets in the file to 1-based line numbers (binary search over line
/// starts: a 100 000-record zone must not cost a scan per record).
pub(super) struct Lines<'a> {
    text: &'a str,
    /// The file's name as errors show it.
    pub(super) file: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(super) fn new(text: &'a str, file: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, file, starts }
    }

    pub(super) fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.starts.partition_point(|&start| start <= offset)
    }

    /// The offset of the first line that is the header `[name]` (0 when none):
    /// serde keeps no span for a table, so errors about a section as a whole
    /// point here.
    pub(super) fn section(&self, name: &str) -> usize {
        let header = format!("[{name}]");
        let mut starts = self.starts.iter();
        let found = starts.find(|&&start| {
            let line = self.text.get(start..).unwrap_or_default();
            let line = line.lines().next().unwrap_or_default();
            let line = line.split('#').next().unwrap_or_default();
            line.trim() == header
        });
        found.copied().unwrap_or(0)
    }

    pub(super) fn error(&self, offset: usize, message: impl std::fmt::Display) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: self.line(offset),
            message: message.to_string(),
        }
    }
}

/// The file's bytes as text; invalid UTF-8 is reported at its line and column
/// (both 1-based, the column counted in bytes) with the offending byte.
pub(super) fn utf8(bytes: Vec<u8>, file: &str) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..offset];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = offset - line_start + 1;
        let byte = bytes.get(offset).copied().unwrap_or(0);
        ConfigError {
            file: file.to_string(),
            line,
            message: format!(
                "invalid UTF-8 at column {column} (byte 0x{byte:02x} at offset {offset}): \
                 the config file must be UTF-8 text"
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = utf8(b"[dns]\nthreads = 1 # caf\xe9\n".to_vec(), "t.toml").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(
            e.message
                .contains("invalid UTF-8 at column 18 (byte 0xe9 at offset 23)"),
            "{e}"
        );
        let e = utf8(b"\xff".to_vec(), "t.toml").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        assert!(
            e.message.contains("column 1 (byte 0xff at offset 0)"),
            "{e}"
        );
        assert_eq!(utf8("é\n".into(), "t.toml").unwrap(), "é\n");
    }
}
