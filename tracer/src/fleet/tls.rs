//! TLS for `https://` endpoints: rustls (ring provider, TLS 1.2 and 1.3), the
//! server's certificate checked against a CA file (`--ca`, `fleet.ca` in the
//! configuration; the system bundle by default) and the host name or IP
//! address of the URL. No client certificates: the shipper authenticates
//! with the credentials file (Basic authentication, now inside TLS).
//!
//! Why rustls: no OpenSSL headers or version skew on the nodes, and the whole
//! stack is Rust; the hand-written HTTP client ([`super::http`]) only needs a
//! stream that reads and writes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Debian's (and most distributions') bundle of trusted CAs.
pub const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("CA file {path}: {problem}")]
    Ca { path: String, problem: String },
    #[error("{host:?} is not a name or address a certificate can be checked against")]
    Name { host: String },
    #[error("TLS set-up: {0}")]
    Setup(String),
}

/// A loaded client configuration (shared by every connection to the server).
#[derive(Clone)]
pub struct TlsConfig {
    pub ca: PathBuf,
    config: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsConfig(ca: {})", self.ca.display())
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.ca == other.ca
    }
}
impl Eq for TlsConfig {}

impl TlsConfig {
    /// Reads the PEM certificates of `ca` (at least one).
    pub fn load(ca: &Path) -> Result<Self, TlsError> {
        let err = |problem: String| TlsError::Ca {
            path: ca.display().to_string(),
            problem,
        };
        let mut roots = rustls::RootCertStore::empty();
        let mut n = 0;
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| err(e.to_string()))? {
            let cert = cert.map_err(|e| err(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| err(format!("certificate {}: {e}", n + 1)))?;
            n += 1;
        }
        if n == 0 {
            return Err(err("holds no PEM certificate".into()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            ca: ca.to_owned(),
            config: Arc::new(config),
        })
    }

    /// A client connection to `host` (checked against the certificate).
    pub fn connect(&self, host: &str) -> Result<rustls::ClientConnection, TlsError> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| TlsError::Name {
            host: host.to_owned(),
        })?;
        rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| TlsError::Setup(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        assert!(TlsConfig::load(&p)
            .unwrap_err()
            .to_string()
            .contains("ca.pem"));
        std::fs::write(&p, "not a certificate\n").unwrap();
        assert!(TlsConfig::load(&p)
            .unwrap_err()
            .to_string()
            .contains("no PEM certificate"));
    }

    #[test]
    fn system_bundle_loads_when_present() {
        if Path::new(SYSTEM_CA).exists() {
            let t = TlsConfig::load(Path::new(SYSTEM_CA)).unwrap();
            assert!(t.connect("127.0.0.1").is_ok());
            assert!(t.connect("ch.example").is_ok());
            assert!(t.connect("bad host").is_err());
        }
    }
}
