//! TLS for the HTTP server: a rustls `ServerConfig` whose certificate lives in a
//! [`CertificateSlot`], so a renewed certificate is served from the next
//! handshake on, without a restart ([`CertificateSlot::replace`]; the `certs`
//! role will call it for the delegate's own API).
//!
//! Invariants: the slot always holds a pair that was checked whole — PEM chain
//! parsed, private key (PKCS#8, SEC1 or PKCS#1) loaded by the provider, and the
//! key matching the end-entity certificate — so a bad pair is refused and the
//! old one stays. The project's one TLS stack: rustls on ring (named, not the
//! process default, as in `dns::dot`), TLS 1.2 and 1.3, ALPN "http/1.1".

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Largest certificate or key file read: a long chain is a few KB.
const PEM_FILE_BYTES_MAX: u64 = 1 << 20;

/// Why a certificate and key were not taken; says which of the two was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateError {
    /// The chain: unreadable, not PEM, or no certificate in it.
    Certificate(String),
    /// The private key: missing, not PEM, or a kind the provider cannot use.
    Key(String),
    /// Both parse, but the key is not the certificate's (or the certificate is
    /// not one rustls can read).
    Pair(String),
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateError::Certificate(why) => write!(f, "certificate: {why}"),
            CertificateError::Key(why) => write!(f, "private key: {why}"),
            CertificateError::Pair(why) => write!(f, "certificate and key: {why}"),
        }
    }
}

impl std::error::Error for CertificateError {}

/// The certificate the server presents; replaced whole, read at each handshake.
#[derive(Debug)]
pub struct CertificateSlot {
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
}

impl CertificateSlot {
    /// A slot holding `cert_pem` (the chain, end-entity first) and `key_pem`.
    pub fn new(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertificateSlot, CertificateError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = certified_key(cert_pem, key_pem, &provider)?;
        let current = RwLock::new(Arc::new(certified));
        Ok(CertificateSlot { current, provider })
    }

    /// Checks the new pair, then serves it from the next handshake on.
    /// Connections already open keep the certificate they began with; on Err
    /// nothing changes.
    pub fn replace(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), CertificateError> {
        let certified = Arc::new(certified_key(cert_pem, key_pem, &self.provider)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = certified;
        Ok(())
    }

    /// The certificate and key presented now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A server config that presents whatever this slot holds at each handshake.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, String> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertificateSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertificateError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem).collect::<Result<Vec<_>, _>>();
    let chain = chain.map_err(|e| CertificateError::Certificate(format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        let why = "no PEM certificate in it".to_string();
        return Err(CertificateError::Certificate(why));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        CertificateError::Key(format!("no PEM private key (PKCS#8, SEC1 or PKCS#1): {e}"))
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| CertificateError::Key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    // Strict, unlike CertifiedKey::from_der: a key whose public half is unknown
    // cannot be checked, so it is not taken.
    certified
        .keys_match()
        .map_err(|e| CertificateError::Pair(e.to_string()))?;
    Ok(certified)
}

/// Loads `cert` and `key` (PEM files) into a slot and a server config built on it.
/// Err names the file and what is wrong with it.
pub fn load_tls(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<ServerConfig>, Arc<CertificateSlot>), String> {
    let (cert_file, key_file) = (cert.display(), key.display());
    let cert_pem = read_pem(cert, "certificate")?;
    let key_pem = read_pem(key, "key")?;
    let slot = CertificateSlot::new(&cert_pem, &key_pem).map_err(|e| match e {
        CertificateError::Certificate(why) => format!("certificate file {cert_file}: {why}"),
        CertificateError::Key(why) => format!("key file {key_file}: {why}"),
        CertificateError::Pair(why) => {
            format!("certificate file {cert_file} with key file {key_file}: {why}")
        }
    })?;
    let slot = Arc::new(slot);
    Ok((slot.server_config()?, slot))
}

/// The certificate the certs role keeps in `dir` (fullchain.pem, privkey.pem)
/// for `host`, or, before it has one, a self-signed stand-in for `host` so the
/// listener is up at once (clients refuse it until the real one arrives, which
/// replaces it without a restart).
pub fn load_or_stand_in(
    dir: &Path,
    host: &str,
) -> Result<(Arc<ServerConfig>, Arc<CertificateSlot>), String> {
    let (cert, key) = (dir.join("fullchain.pem"), dir.join("privkey.pem"));
    if cert.exists() && key.exists() {
        match load_tls(&cert, &key) {
            Ok(loaded) => return Ok(loaded),
            Err(e) => {
                log::warn!("{e}; serving a self-signed certificate until a new one is issued")
            }
        }
    }
    let key_pair = rcgen::KeyPair::generate().map_err(|e| format!("a stand-in key: {e}"))?;
    let params = rcgen::CertificateParams::new(vec![host.to_string()])
        .map_err(|e| format!("a stand-in certificate for {host}: {e}"))?;
    let certificate = params
        .self_signed(&key_pair)
        .map_err(|e| format!("a stand-in certificate for {host}: {e}"))?;
    let slot = CertificateSlot::new(
        certificate.pem().as_bytes(),
        key_pair.serialize_pem().as_bytes(),
    )
    .map_err(|e| format!("a stand-in certificate for {host}: {e:?}"))?;
    let slot = Arc::new(slot);
    Ok((slot.server_config()?, slot))
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let (mut pem, file) = (Vec::new(), path.display());
    let read = std::fs::File::open(path)
        .and_then(|f| f.take(PEM_FILE_BYTES_MAX + 1).read_to_end(&mut pem));
    read.map_err(|e| format!("{what} file {file}: cannot read: {e}"))?;
    if pem.len() as u64 > PEM_FILE_BYTES_MAX {
        return Err(format!(
            "{what} file {file}: over {PEM_FILE_BYTES_MAX} bytes"
        ));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::io::Write;
    use std::net::{SocketAddr, TcpStream};
    use std::path::PathBuf;
    use std::process::Command;

    use rustls::pki_types::ServerName;

    use super::*;
    use crate::http::{Handler, Limits, Request, Response, bind, spawn};

    /// Without a stored certificate: a self-signed one for the host, so HTTPS is
    /// up; with a stored pair: that pair.
    #[test]
    fn stand_in_until_a_certificate_is_stored() {
        let dir = std::env::temp_dir().join(format!("lanseal-standin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (_, slot) = load_or_stand_in(&dir, "ns1.auth.test").unwrap();
        let served = slot.current();
        let first = served.cert[0].as_ref().to_vec();
        let text = String::from_utf8_lossy(&first).into_owned();
        assert!(!first.is_empty(), "{text}");
        // A stored pair is what is served next time.
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["ns1.auth.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("fullchain.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("privkey.pem"), key.serialize_pem()).unwrap();
        let (_, slot) = load_or_stand_in(&dir, "ns1.auth.test").unwrap();
        assert_eq!(slot.current().cert[0].as_ref(), cert.der().as_ref());
        assert_ne!(slot.current().cert[0].as_ref(), first.as_slice());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn openssl(dir: &Path, args: &str) {
        let output = Command::new("openssl")
            .args(args.split(' '))
            .current_dir(dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "openssl {args}: {stderr}");
    }

    /// A CA and two server certificates for 127.0.0.1 signed by it, in a fresh
    /// directory: ca.pem, and for each of `names` NAME.pem and NAME.key.
    fn certificates(names: &[&str]) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lanseal-tls-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ec = "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";
        openssl(&dir, &format!("genpkey {ec} -out ca.key"));
        openssl(
            &dir,
            "req -x509 -new -key ca.key -sha256 -days 2 -subj /CN=lanseal-test-CA \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out ca.pem",
        );
        let ext = "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                   keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
        std::fs::write(dir.join("server.ext"), ext).unwrap();
        for (serial, name) in names.iter().enumerate() {
            openssl(&dir, &format!("genpkey {ec} -out {name}.key"));
            let subject = format!("-subj /CN=lanseal-test-{name}");
            openssl(
                &dir,
                &format!("req -new -key {name}.key {subject} -out {name}.csr"),
            );
            openssl(
                &dir,
                &format!(
                    "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial {} -days 2 \
                     -sha256 -extfile server.ext -out {name}.pem",
                    serial + 2
                ),
            );
        }
        dir
    }

    /// The end-entity certificate a TLS client is shown at 127.0.0.1:`port`,
    /// verified against `ca`; the HTTP answer's body must be "ok".
    fn presented(address: SocketAddr, ca: &Path) -> CertificateDer<'static> {
        let mut roots = rustls::RootCertStore::empty();
        let ca_pem = std::fs::read(ca).unwrap();
        for cert in CertificateDer::pem_slice_iter(&ca_pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::IpAddress(address.ip().into());
        let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(address).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer); // close_notify or a plain FIN
        assert!(answer.ends_with(b"\r\n\r\nok"), "{answer:?}");
        let chain = stream.conn.peer_certificates().unwrap();
        chain[0].clone().into_owned()
    }

    fn der(pem_file: &Path) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(pem_file).unwrap()
    }

    #[test]
    fn a_replaced_certificate_is_served_from_the_next_handshake() {
        let dir = certificates(&["first", "second"]);
        let file = |name: &str| dir.join(name);
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let (config, slot) = load_tls(&file("first.pem"), &file("first.key")).unwrap();
        let (listener, address) = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let handler: Handler = Arc::new(|_: &Request| Response::text(200, "ok"));
        spawn(listener, Some(config), Limits::default(), handler).unwrap();
        let ca = file("ca.pem");
        assert_eq!(presented(address, &ca), der(&file("first.pem")));
        slot.replace(&read("second.pem"), &read("second.key"))
            .unwrap();
        assert_eq!(presented(address, &ca), der(&file("second.pem")));
        // Bad pairs are refused, saying which half is wrong; the second stays.
        let refused = [
            (read("first.pem"), read("second.key"), "Pair"),
            (b"not PEM".to_vec(), read("first.key"), "Certificate"),
            (read("first.pem"), read("first.pem"), "Key"),
        ];
        for (cert, key, kind) in refused {
            let error = slot.replace(&cert, &key).unwrap_err();
            assert!(format!("{error:?}").starts_with(kind), "{error:?}");
        }
        assert_eq!(presented(address, &ca), der(&file("second.pem")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
