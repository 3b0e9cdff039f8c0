//! From a `postgres://` URL to a connection: libpq's TLS parameters
//! (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) read here and turned into a
//! rustls client configuration, the rest handed to the driver.
//!
//! `sslmode` has libpq's meaning: `disable`; `prefer` (the default) and
//! `require` encrypt without checking the server's certificate, unless
//! `sslrootcert` names a CA, which makes them `verify-ca`; `verify-ca` checks
//! the chain to `sslrootcert`; `verify-full` checks the chain and that the
//! certificate names the host connected to. `sslcert` and `sslkey` (PEM)
//! authenticate Breakwater with a client certificate.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{StoreError, StoreResult};

/// How long a connection attempt may take unless the URL says
/// (`connect_timeout=SECONDS`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub type TlsStream = <MakeRustlsConnect as MakeTlsConnect<tokio_postgres::Socket>>::Stream;

/// What libpq's `sslmode` asks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    None,
    Chain,
    ChainAndHost,
}

/// Everything needed to open a connection; cheap to clone.
#[derive(Clone)]
pub struct Connector {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
    /// The URL without its password, for messages.
    pub shown: String,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

fn bad_url(shown: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("the database URL {shown} cannot be used: {why}"))
}

impl Connector {
    /// Parses a `postgres://` or `postgresql://` URL.
    pub fn from_url(url: &str) -> StoreResult<Connector> {
        let shown = crate::config::redact_database_url(url);
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| bad_url(&shown, e))?;
        let mut mode = None;
        let mut root = None;
        let mut cert = None;
        let mut key = None;
        let mut rest = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "sslmode" => mode = Some(v),
                "sslrootcert" => root = Some(PathBuf::from(v)),
                "sslcert" => cert = Some(PathBuf::from(v)),
                "sslkey" => key = Some(PathBuf::from(v)),
                _ => rest.push((k, v)),
            }
        }
        let passed = if rest.is_empty() {
            base.to_string()
        } else {
            format!(
                "{base}?{}",
                serde_urlencoded::to_string(&rest).map_err(|e| bad_url(&shown, e))?
            )
        };
        let mut config =
            tokio_postgres::Config::from_str(&passed).map_err(|e| bad_url(&shown, e))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("breakwater");
        }
        // A peer that vanishes (a node's host loses power) must not hold its
        // locks for the kernel's two-hour default.
        config.keepalives_idle(Duration::from_secs(30));
        let root = root.or_else(|| {
            let default = home_postgresql("root.crt")?;
            default.is_file().then_some(default)
        });
        let (ssl_mode, verify) = match mode.as_deref().unwrap_or("prefer") {
            "disable" => (SslMode::Disable, Verify::None),
            "allow" | "prefer" if root.is_some() => (SslMode::Prefer, Verify::Chain),
            "allow" | "prefer" => (SslMode::Prefer, Verify::None),
            "require" if root.is_some() => (SslMode::Require, Verify::Chain),
            "require" => (SslMode::Require, Verify::None),
            "verify-ca" => (SslMode::Require, Verify::Chain),
            "verify-full" => (SslMode::Require, Verify::ChainAndHost),
            other => {
                return Err(bad_url(
                    &shown,
                    format!(
                        "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    ),
                ));
            }
        };
        config.ssl_mode(ssl_mode);
        let tls = client_tls(
            verify,
            root.as_deref(),
            cert.as_deref(),
            key.as_deref(),
            &shown,
        )?;
        Ok(Connector {
            config,
            tls: MakeRustlsConnect::new(tls),
            shown,
        })
    }

    /// Connects; the caller runs the returned connection (it does the I/O).
    pub async fn open(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<tokio_postgres::Socket, TlsStream>,
        ),
        tokio_postgres::Error,
    > {
        self.config.connect(self.tls.clone()).await
    }
}

/// `~/.postgresql/NAME`, where libpq looks by default.
fn home_postgresql(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(Path::new(&home).join(".postgresql").join(name))
}

fn read_pem(path: &Path, what: &str, shown: &str) -> StoreResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        bad_url(
            shown,
            format!(
                "cannot read the {what} {}: {}",
                path.display(),
                crate::config::io_reason(&e)
            ),
        )
    })
}

fn client_tls(
    verify: Verify,
    root: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
    shown: &str,
) -> StoreResult<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad_url(shown, e))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::None => Arc::new(AnyCertificate(provider.clone())),
        Verify::Chain | Verify::ChainAndHost => {
            let Some(root) = root else {
                return Err(bad_url(
                    shown,
                    "sslmode=verify-ca and verify-full need sslrootcert=FILE, the CA certificate (PEM) that signed the server's certificate",
                ));
            };
            let pem = read_pem(root, "CA certificate (sslrootcert)", shown)?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| bad_url(shown, format!("sslrootcert: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| bad_url(shown, format!("sslrootcert: {e}")))?;
            }
            if roots.is_empty() {
                return Err(bad_url(
                    shown,
                    format!("{} holds no PEM certificate", root.display()),
                ));
            }
            let full = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| bad_url(shown, e))?;
            if verify == Verify::Chain {
                Arc::new(ChainOnly(full))
            } else {
                full
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (cert, key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read_pem(
                cert,
                "client certificate (sslcert)",
                shown,
            )?)
            .collect::<Result<_, _>>()
            .map_err(|e| bad_url(shown, format!("sslcert: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(&read_pem(key, "client key (sslkey)", shown)?)
                .map_err(|e| bad_url(shown, format!("sslkey: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad_url(shown, format!("sslcert/sslkey: {e}")))
        }
        _ => Err(bad_url(
            shown,
            "sslcert and sslkey go together: name both files or neither",
        )),
    }
}

/// `sslmode=verify-ca`: the chain must lead to `sslrootcert`; the name in the
/// certificate is not compared with the host.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `sslmode=prefer` or `require` without a CA: encrypted, the certificate
/// unchecked (libpq's behaviour). The handshake signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_are_read_and_the_rest_reaches_the_driver() {
        let c = Connector::from_url(
            "postgres://bw:s3cret@db.port.example:6432/exchange?sslmode=disable&application_name=node-a",
        )
        .unwrap();
        assert_eq!(c.config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(c.config.get_dbname(), Some("exchange"));
        assert_eq!(c.config.get_application_name(), Some("node-a"));
        assert_eq!(c.config.get_ports(), &[6432]);
        assert!(!c.shown.contains("s3cret"), "{}", c.shown);
        let c = Connector::from_url("postgresql://bw@localhost/exchange").unwrap();
        assert_eq!(c.config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(c.config.get_application_name(), Some("breakwater"));
        assert_eq!(
            c.config.get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn verification_without_a_ca_and_unknown_modes_are_refused_in_words() {
        let err = Connector::from_url("postgres://bw:pw@db/x?sslmode=verify-full")
            .unwrap_err()
            .to_string();
        assert!(err.contains("need sslrootcert=FILE"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
        let err = Connector::from_url("postgres://bw@db/x?sslmode=sometimes")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sslmode=sometimes is not one of"), "{err}");
        let err = Connector::from_url(
            "postgres://bw@db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("it does not exist"), "{err}");
        let err = Connector::from_url("postgres://bw@db/x?sslcert=/a.pem")
            .unwrap_err()
            .to_string();
        assert!(err.contains("go together"), "{err}");
    }
}
