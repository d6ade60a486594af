//! Bearer tokens kept in files: the local API's token and the delegate's admin
//! token. [`token_file`] reads one, or creates it (0600, never overwriting a file
//! another process created first) with a random token; [`bearer_matches`]
//! compares what a request presents in constant time.

use std::path::Path;

/// The token in `file`, or a new random one written there (0600) when the file
/// does not exist or is empty. `what` names the token in the log line.
pub fn token_file(file: &Path, what: &str) -> Result<String, String> {
    match std::fs::read_to_string(file) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", file.display())),
    }
    let token = crate::delegate::creds::random_key()?;
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        // An empty file left behind is replaced; its mode is not trusted.
        let _ = std::fs::remove_file(file);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)?;
        writeln!(out, "{token}")?;
        out.sync_all()
    };
    write().map_err(|e| format!("cannot create {}: {e}", file.display()))?;
    log::info!("{what} written to {}", file.display());
    Ok(token)
}

/// The TSIG key in `file` under `name` (absolute, with the final dot): the
/// base64 secret alone, or the line `secret: ...` of a Knot key (`keymgr -t`),
/// or `secret "...";` of a BIND one (`tsig-keygen`). The file must not be
/// readable by group or others (0600), and the secret must be 16 bytes or more.
pub fn tsig_key(file: &Path, name: &str) -> Result<crate::dns::tsig::Key, String> {
    tsig_key_of("delegate", file, name)
}

/// [`tsig_key`] for `section` (named in errors).
pub fn tsig_key_of(
    section: &str,
    file: &Path,
    name: &str,
) -> Result<crate::dns::tsig::Key, String> {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt;
    let what = format!("{section}: TSIG key file {}", file.display());
    let metadata = std::fs::metadata(file).map_err(|e| format!("{what}: {e}"))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!("{what}: mode {mode:04o}, expected 0600"));
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        // A reload after privileges were dropped: root's 0600 file is no
        // longer readable. The key read from it at start still is the key.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let secret = read_before(file).ok_or_else(|| format!("{what}: {e}"))?;
            log::warn!(
                "{what}: {e}; kept the key read from it at start (a new key takes a restart, \
                 or a file the daemon's user can read)"
            );
            return key_of(&what, name, &secret);
        }
        Err(e) => return Err(format!("{what}: {e}")),
    };
    let encoded = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("secret"))
        .unwrap_or(&text)
        .trim()
        .trim_start_matches(':')
        .trim_end_matches(';')
        .trim()
        .trim_matches('"');
    let secret = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| format!("{what}: expected a base64 secret"))?;
    if secret.len() < 16 {
        return Err(format!(
            "{what}: the secret is {} bytes, expected 16 or more",
            secret.len()
        ));
    }
    let key = key_of(&what, name, &secret)?;
    let mut read = READ
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    read.retain(|(path, _)| path != file);
    read.push((file.to_path_buf(), secret));
    Ok(key)
}

/// The secrets read so far, by file: what [`tsig_key_of`] falls back to when a
/// file it read as root cannot be read after privileges are dropped. One entry
/// per key file the config names (two at most).
static READ: std::sync::Mutex<Vec<(std::path::PathBuf, Vec<u8>)>> =
    std::sync::Mutex::new(Vec::new());

fn read_before(file: &Path) -> Option<Vec<u8>> {
    let read = READ
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    read.iter()
        .find(|(path, _)| path == file)
        .map(|(_, secret)| secret.clone())
}

fn key_of(what: &str, name: &str, secret: &[u8]) -> Result<crate::dns::tsig::Key, String> {
    let wire = crate::dns::zone::domain_wire(name).map_err(|e| format!("{what}: {e}"))?;
    Ok(crate::dns::tsig::Key::new(wire.into(), secret))
}

/// Whether an `Authorization` header value is `Bearer <expected>`. The time taken
/// does not depend on where the two differ, nor on their lengths beyond their
/// digests' (both are hashed first), so the token cannot be guessed byte by byte.
pub fn bearer_matches(authorization: Option<&str>, expected: &str) -> bool {
    let given = authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .map_or("", str::trim);
    let digest = |text: &str| ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let (given_digest, expected_digest) = (digest(given), digest(expected));
    let differ = given_digest
        .as_ref()
        .iter()
        .zip(expected_digest.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // An empty expected token admits nobody (a misconfiguration, never "open").
    differ == 0 && !given.is_empty() && !expected.is_empty()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_once_0600_then_read() {
        let dir = crate::store::testing::TempDir::new();
        let file = dir.0.join("sub/api.token");
        let token = token_file(&file, "test token").unwrap();
        assert!(token.len() >= 40, "{token}");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(token_file(&file, "test token").unwrap(), token);
        std::fs::write(&file, "").unwrap();
        assert_ne!(token_file(&file, "test token").unwrap(), token);
    }

    #[test]
    fn bearer() {
        assert!(bearer_matches(Some("Bearer abc"), "abc"));
        assert!(bearer_matches(Some("Bearer  abc "), "abc"));
        for given in [
            None,
            Some("abc"),
            Some("Bearer abd"),
            Some("Bearer ab"),
            Some("Bearer "),
        ] {
            assert!(!bearer_matches(given, "abc"), "{given:?}");
        }
        assert!(!bearer_matches(Some("Bearer "), ""));
    }
}
