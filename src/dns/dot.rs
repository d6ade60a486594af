//! DNS over TLS to upstreams (RFC 7858): [`DotClient`], one per upstream, and
//! [`roots`], the trust anchors its certificates are checked against.
//!
//! Owns the TLS connections to one upstream: opening them (TCP, then TLS 1.2/1.3 by
//! rustls on ring, the certificate checked for the configured name against the
//! bundled webpki roots plus an optional CA file), the two-byte length framing, and
//! a small pool of idle connections reused by later queries (RFC 7858 §3.4). IDs
//! and questions are the caller's to check.
//!
//! Invariants: a connection is pooled only after a complete exchange, and is used
//! by one exchange at a time (no pipelining); one left mid-exchange (error, timeout,
//! dropped future) is closed, so no query reads the rest of an earlier answer. The
//! pool lock is never held across an await.
//!
//! Bounds: connect, handshake, write and read together within the caller's
//! `timeout`; at most [`IDLE_CONNECTIONS_MAX`] idle connections, none reused after
//! [`IDLE_TIMEOUT`]; one retry, only when a reused connection fails before any
//! answer byte (the server had closed it); answers at most 65535 bytes by framing;
//! the CA file at most `CA_FILE_BYTES_MAX`. Concurrent exchanges each hold their own
//! connection, so the caller's in-flight limit bounds the connections open.
//!
//! Cost (measured, stripped release): once called, rustls + ring + webpki-roots add
//! 815 KB on mipsel (1,496,864 → 2,311,884 bytes) and 1.0 MB on x86_64 (1,148,128 →
//! 2,152,776); while nothing calls this module, LTO drops all of it.

use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Idle connections kept per upstream (each holds a socket and TLS buffers).
pub const IDLE_CONNECTIONS_MAX: usize = 2;
/// An idle connection older than this is closed, not reused: servers close idle
/// DoT connections after 10–30 s, and a reply on a closed one costs a retry.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest extra CA file read: a full system bundle is about 220 KB.
const CA_FILE_BYTES_MAX: u64 = 1 << 20;

/// Trust anchors for upstream TLS: the bundled webpki roots plus, if given, every
/// certificate in a PEM file (for a private DoT server or tests). Err: a message
/// naming the file and what is wrong.
pub fn roots(extra_ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, String> {
    let mut store = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let Some(path) = extra_ca_file else {
        return Ok(Arc::new(store));
    };
    let file = path.display();
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(CA_FILE_BYTES_MAX + 1).read_to_end(&mut pem))
        .map_err(|e| format!("CA file {file}: cannot read: {e}"))?;
    if pem.len() as u64 > CA_FILE_BYTES_MAX {
        return Err(format!("CA file {file}: over {CA_FILE_BYTES_MAX} bytes"));
    }
    let bundled = store.len();
    for (n, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let n = n + 1;
        let cert = cert.map_err(|e| format!("CA file {file}: certificate {n}: bad PEM: {e}"))?;
        store.add(cert).map_err(|e| {
            format!("CA file {file}: certificate {n}: not a usable CA certificate: {e}")
        })?;
    }
    if store.len() == bundled {
        return Err(format!("CA file {file}: no PEM certificate in it"));
    }
    Ok(Arc::new(store))
}

type Connection = TlsStream<TcpStream>;

/// One DoT upstream: its address, the name its certificate must carry, and idle
/// connections kept for reuse.
pub struct DotClient {
    address: SocketAddr,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    /// Idle connections with the time each went idle.
    idle: Mutex<Vec<(Instant, Connection)>>,
    /// TLS connections established (handshake completed) since creation.
    opened: AtomicUsize,
}

impl fmt::Debug for DotClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DotClient")
            .field("address", &self.address)
            .field("server_name", &self.server_name)
            .field("connections_opened", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

impl DotClient {
    /// Err for a server name that is neither a DNS name nor an IP address.
    pub fn new(
        address: SocketAddr,
        server_name: &str,
        roots: Arc<RootCertStore>,
    ) -> Result<DotClient, String> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| format!("DoT server name {server_name:?}: {e}"))?;
        // The provider is named, not taken from the process default, so another
        // crate enabling a second provider cannot change or break it.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(DotClient {
            address,
            server_name: name,
            connector: TlsConnector::from(Arc::new(config)),
            idle: Mutex::new(Vec::with_capacity(IDLE_CONNECTIONS_MAX)),
            opened: AtomicUsize::new(0),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// TLS connections established so far (reuse keeps this low).
    pub fn connections_opened(&self) -> usize {
        self.opened.load(Relaxed)
    }

    /// Sends one DNS message (no length prefix) and returns the response (no
    /// prefix), on an idle connection if any (retried once on a new one if that
    /// fails before any answer byte), else a new one; all within `timeout`.
    pub async fn exchange(&self, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
        let length = u16::try_from(request.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "DNS message over 65535 bytes")
        })?;
        let mut framed = Vec::with_capacity(request.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(request);
        let exchange = tokio::time::timeout(timeout, self.exchange_framed(&framed));
        exchange.await.map_err(|_| {
            let message = format!("DoT {}: no answer within {timeout:?}", self.address);
            io::Error::new(io::ErrorKind::TimedOut, message)
        })?
    }

    async fn exchange_framed(&self, framed: &[u8]) -> io::Result<Vec<u8>> {
        // A statement of its own: the pool lock must not live across the await.
        let reused = self.pool().pop();
        if let Some((_, mut connection)) = reused {
            match round_trip(&mut connection, framed).await {
                Ok(response) => {
                    self.put_idle(connection);
                    return Ok(response);
                }
                Err((e, true)) => return Err(e),
                Err((e, false)) => log::debug!(
                    "DoT {}: reused connection failed ({e}); retrying on a new one",
                    self.address
                ),
            }
        }
        let mut connection = self.connect().await?;
        let response = round_trip(&mut connection, framed).await.map_err(|e| e.0)?;
        self.put_idle(connection);
        Ok(response)
    }

    async fn connect(&self) -> io::Result<Connection> {
        let tcp = TcpStream::connect(self.address).await?;
        // Queries go out as one write each; Nagle would only delay the next one.
        tcp.set_nodelay(true)?;
        let handshake = self.connector.connect(self.server_name.clone(), tcp).await;
        let connection = handshake.map_err(|e| {
            let (address, name) = (self.address, self.server_name.to_str());
            io::Error::new(
                e.kind(),
                format!("TLS handshake with {address} ({name}): {e}"),
            )
        })?;
        self.opened.fetch_add(1, Relaxed);
        Ok(connection)
    }

    /// The idle pool, newest last, with connections past `IDLE_TIMEOUT` closed.
    fn pool(&self) -> MutexGuard<'_, Vec<(Instant, Connection)>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|(since, _)| since.elapsed() < IDLE_TIMEOUT);
        idle
    }

    /// Pools a connection after a complete exchange, closing the oldest when full.
    fn put_idle(&self, connection: Connection) {
        let mut idle = self.pool();
        if idle.len() >= IDLE_CONNECTIONS_MAX {
            idle.remove(0);
        }
        idle.push((Instant::now(), connection));
    }
}

/// Writes one framed message and reads one framed answer. On failure, also says
/// whether any answer byte had arrived (if not, the request can be retried).
async fn round_trip(
    connection: &mut Connection,
    framed: &[u8],
) -> Result<Vec<u8>, (io::Error, bool)> {
    connection.write_all(framed).await.map_err(|e| (e, false))?;
    connection.flush().await.map_err(|e| (e, false))?;
    let high = connection.read_u8().await.map_err(|e| (e, false))?;
    let low = connection.read_u8().await.map_err(|e| (e, true))?;
    let mut response = vec![0u8; usize::from(u16::from_be_bytes([high, low]))];
    let read = connection.read_exact(&mut response).await;
    read.map_err(|e| (e, true))?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A self-signed EC P-256 CA made with `openssl req -x509` (valid to 2126).
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBljCCATugAwIBAgIUd0/R1V7oEcgiguksc8X937ioNKYwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUbGFuc2VhbCB1bml0IHRlc3QgQ0EwIBcNMjYxMTIzMTE0MzMx
WhgPMjEyNjEwMzAxMTQzMzFaMB8xHTAbBgNVBAMMFGxhbnNlYWwgdW5pdCB0ZXN0
IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEe8tknzzhK/9nZmtJ3lW3WFWL
qz0vRPitSjCCkf7PMyxYGCGpZiQJAJaUOn8GukzFSF3AqvTO8hDtmB5hjcrm0KNT
MFEwHQYDVR0OBBYEFEk3MeHl+zAbWNGI6B98xkdiKtBZMB8GA1UdIwQYMBaAFEk3
MeHl+zAbWNGI6B98xkdiKtBZMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SQAwRgIhAOzBCJfnGC0FsvQrbP4Klgh7NG3d+zUkawfXm796N27QAiEA9HoY/lEM
/hON7WaRuYoDj13++Mt22I7YPFJmEfpNWyo=
-----END CERTIFICATE-----
";

    #[test]
    fn roots_from_files() {
        let bundled = webpki_roots::TLS_SERVER_ROOTS.len();
        assert_eq!(roots(None).unwrap().len(), bundled);
        let dir = std::env::temp_dir().join(format!("lanseal-dot-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = CA_PEM.replace("MIIB", "M!IB");
        let cases = [
            ("missing", None),
            ("junk", Some("junk\n")),
            ("bad", Some(&*bad)),
        ];
        for (name, text) in cases {
            let path = dir.join(name);
            if let Some(text) = text {
                std::fs::write(&path, text).unwrap();
            }
            let error = roots(Some(&path)).unwrap_err();
            assert!(error.contains(&path.display().to_string()), "{error}");
        }
        let path = dir.join("ca.pem");
        std::fs::write(&path, format!("# a comment\n{CA_PEM}{CA_PEM}")).unwrap();
        assert_eq!(roots(Some(&path)).unwrap().len(), bundled + 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn server_names_and_request_limits() {
        let roots = roots(None).unwrap();
        let address: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for good in ["dns.example", "one.one.one.one", "192.0.2.1", "2001:db8::1"] {
            DotClient::new(address, good, roots.clone()).unwrap();
        }
        for bad in ["", "bad name", "a..b", "dot.test/"] {
            let error = DotClient::new(address, bad, roots.clone()).unwrap_err();
            assert!(error.contains("DoT server name"), "{error}");
        }
        let client = DotClient::new(address, "dns.example", roots).unwrap();
        assert!(format!("{client:?}").contains("127.0.0.1:9"));
        let mut builder = tokio::runtime::Builder::new_current_thread();
        let runtime = builder.enable_all().build().unwrap();
        let oversized = vec![0u8; 65_536];
        let exchange = client.exchange(&oversized, Duration::from_secs(1));
        fn shared<T: Send + Sync>(_: &T) {}
        fn sendable<T: Send>(_: &T) {}
        shared(&client);
        sendable(&exchange);
        let error = runtime.block_on(exchange).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(client.connections_opened(), 0);
    }
}
