//! rustls server configuration: the server's chain and key, the community CA
//! as the only root for client certificates. A missing client certificate is
//! allowed at the handshake so the HTTP layer can answer 401 with a TAXII
//! error (and `/health` can answer at all); every TAXII route requires a
//! registered member.
//!
//! The server certificate sits behind a resolver whose certificate can be
//! swapped while the server runs (`SIGHUP`): handshakes after the swap get
//! the new certificate, connections already open keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use rustls::RootCertStore;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::certs::expiry::{CertKind, Expiry};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0} holds no certificate")]
    NoCertificate(String),
    #[error(
        "{0} holds no private key (PEM \"PRIVATE KEY\", \"EC PRIVATE KEY\" or \"RSA PRIVATE KEY\")"
    )]
    NoKey(String),
    #[error("the key {key} does not belong to the certificate {cert}")]
    KeyMismatch { cert: String, key: String },
    #[error("the key {key} cannot be used: {reason}")]
    BadKey { key: String, reason: String },
    #[error("the certificate {path} cannot be read: {reason}")]
    BadCertificate { path: String, reason: String },
    #[error("the TLS configuration is invalid: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("the client CA cannot be used: {0}")]
    Verifier(String),
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |reason: String| TlsError::Read {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(pem_reason(e)))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(certs)
}

/// A PEM reading error in words (files that are missing say so).
fn pem_reason(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => crate::config::io_reason(&io),
        other => format!("it is not valid PEM ({other})"),
    }
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server certificate ready to serve, with what the operator wants to
/// know about it.
#[derive(Debug)]
pub struct ServerCert {
    pub key: Arc<CertifiedKey>,
    pub fingerprint: String,
    pub names: Vec<String>,
    pub not_after: DateTime<Utc>,
    /// Whether the community CA issued it (else: the operator's own PKI).
    pub from_community_ca: bool,
}

/// Loads a certificate chain and its private key exactly as the server
/// does, so `config check` finds what would stop the server from starting:
/// unreadable files, a key in a form rustls cannot use, a key that belongs
/// to another certificate.
pub fn load_server_cert(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ServerCert, TlsError> {
    let chain = read_certs(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey(key.display().to_string()),
        other => TlsError::Read {
            path: key.display().to_string(),
            reason: pem_reason(other),
        },
    })?;
    let signing_key = provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::BadKey {
            key: key.display().to_string(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::KeyMismatch {
                cert: cert.display().to_string(),
                key: key.display().to_string(),
            });
        }
        // rustls could not tell (no public key exposed): the handshake will.
        Err(rustls::Error::InconsistentKeys(_)) => {}
        Err(e) => {
            return Err(TlsError::BadCertificate {
                path: cert.display().to_string(),
                reason: e.to_string(),
            });
        }
    }
    let bad = |reason: String| TlsError::BadCertificate {
        path: cert.display().to_string(),
        reason,
    };
    let info =
        crate::certs::inspect_der(certified.cert[0].as_ref()).map_err(|e| bad(e.to_string()))?;
    // read_certs succeeded, so the file is PEM text whose first
    // certificate is the end entity.
    let cert_pem = std::fs::read_to_string(cert).map_err(|e| bad(crate::config::io_reason(&e)))?;
    let names = crate::certs::server_names(&cert_pem).map_err(|e| bad(e.to_string()))?;
    let from_community_ca = match client_ca {
        Some(ca) => std::fs::read_to_string(ca)
            .ok()
            .and_then(|ca_pem| crate::certs::issued_by(&cert_pem, &ca_pem).ok())
            .unwrap_or(false),
        None => false,
    };
    Ok(ServerCert {
        key: Arc::new(certified),
        fingerprint: info.fingerprint,
        names,
        not_after: info.not_after,
        from_community_ca,
    })
}

/// Hands every new handshake the current server certificate; `set` swaps it.
#[derive(Debug)]
pub struct ServerCertResolver {
    current: RwLock<Arc<ServerCert>>,
}

impl ServerCertResolver {
    pub fn new(cert: ServerCert) -> ServerCertResolver {
        ServerCertResolver {
            current: RwLock::new(Arc::new(cert)),
        }
    }

    pub fn current(&self) -> Arc<ServerCert> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set(&self, cert: ServerCert) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cert);
    }
}

impl ResolvesServerCert for ServerCertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().key.clone())
    }
}

/// The server's TLS material as files, and what is being served from them.
#[derive(Debug)]
pub struct ServerTls {
    resolver: Arc<ServerCertResolver>,
    cert_path: PathBuf,
    key_path: PathBuf,
    client_ca: PathBuf,
    ca: Option<Expiry>,
}

impl ServerTls {
    pub fn resolver(&self) -> &Arc<ServerCertResolver> {
        &self.resolver
    }

    /// Reads the certificate and key files again and serves them to new
    /// connections. On any problem the certificate in use stays.
    pub fn reload(&self) -> Result<Arc<ServerCert>, TlsError> {
        let cert = load_server_cert(&self.cert_path, &self.key_path, Some(&self.client_ca))?;
        self.resolver.set(cert);
        Ok(self.resolver.current())
    }

    /// Reloads and logs the outcome (the `SIGHUP` handler).
    pub fn reload_and_log(&self) {
        match self.reload() {
            Ok(cert) => tracing::info!(
                certificate = %self.cert_path.display(),
                names = %cert.names.join(", "),
                fingerprint = %cert.fingerprint,
                not_after = %cert.not_after.format("%Y-%m-%dT%H:%M:%SZ"),
                "reloaded the server certificate; new connections use it, open ones keep theirs"
            ),
            Err(e) => tracing::error!(
                reason = %e,
                "could not reload the server certificate; still serving the previous one"
            ),
        }
    }

    /// The server certificate, the community CA and every unrevoked member
    /// certificate, with when each expires.
    pub fn expiries(&self, store: &dyn Store) -> Vec<Expiry> {
        let server = self.resolver.current();
        let mut all = vec![Expiry {
            kind: CertKind::Server,
            name: crate::certs::primary_name(&server.names)
                .unwrap_or_default()
                .to_string(),
            fingerprint: server.fingerprint.clone(),
            not_after: server.not_after,
        }];
        all.extend(self.ca.clone());
        match store.certificates() {
            Ok(certs) => all.extend(certs.into_iter().filter(|c| c.revoked_at.is_none()).map(
                |c| Expiry {
                    kind: CertKind::Member,
                    name: c.member,
                    fingerprint: c.fingerprint,
                    not_after: c.not_after.to_datetime(),
                },
            )),
            Err(e) => tracing::error!(error = %e, "could not read the member certificates"),
        }
        all
    }

    /// Logs a warning for each certificate expiring within 30 days.
    pub fn warn_expiring(&self, store: &dyn Store, now: DateTime<Utc>) {
        let all = self.expiries(store);
        for e in crate::certs::expiry::expiring(&all, now, crate::certs::expiry::WARN_DAYS) {
            tracing::warn!(
                kind = e.kind.as_str(),
                name = %e.name,
                fingerprint = %e.fingerprint,
                not_after = %e.not_after.format("%Y-%m-%dT%H:%M:%SZ"),
                "{}",
                e.describe(now)
            );
        }
    }

    /// Runs for the server's lifetime: the expiry warnings now and once a
    /// day, and a certificate reload on every `SIGHUP`. Call inside the
    /// server's runtime.
    pub fn spawn_watchers(self: &Arc<Self>, store: Arc<dyn Store>) {
        let tls = self.clone();
        actix_rt::spawn(async move {
            let mut daily = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
            loop {
                daily.tick().await;
                let (tls, store) = (tls.clone(), store.clone());
                let _ = actix_web::rt::task::spawn_blocking(move || {
                    tls.warn_expiring(store.as_ref(), Utc::now())
                })
                .await;
            }
        });
        #[cfg(unix)]
        {
            let tls = self.clone();
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(mut hangups) => {
                    actix_rt::spawn(async move {
                        while hangups.recv().await.is_some() {
                            let tls = tls.clone();
                            let _ =
                                actix_web::rt::task::spawn_blocking(move || tls.reload_and_log())
                                    .await;
                        }
                    });
                }
                Err(e) => tracing::error!(
                    error = %e,
                    "cannot listen for SIGHUP; certificate reloads need a restart"
                ),
            }
        }
    }
}

/// The rustls configuration and the handle that reloads its certificate.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
) -> Result<(rustls::ServerConfig, Arc<ServerTls>), TlsError> {
    let served = load_server_cert(cert, key, Some(client_ca))?;
    let ca_chain = read_certs(client_ca)?;
    let mut roots = RootCertStore::empty();
    for ca in ca_chain.iter().cloned() {
        roots
            .add(ca)
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
    }
    let ca = crate::certs::inspect_der(ca_chain[0].as_ref())
        .ok()
        .map(|info| Expiry {
            kind: CertKind::Ca,
            name: info.subject_cn.unwrap_or_default(),
            fingerprint: info.fingerprint,
            not_after: info.not_after,
        });
    let provider = provider();
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let verifier = Arc::new(LoggingVerifier { inner: webpki });
    let resolver = Arc::new(ServerCertResolver::new(served));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver.clone());
    // TAXII §8.2.2: no TLS 1.3 0-RTT (rustls' default is off; keep it explicit).
    config.max_early_data_size = 0;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let handle = Arc::new(ServerTls {
        resolver,
        cert_path: cert.to_path_buf(),
        key_path: key.to_path_buf(),
        client_ca: client_ca.to_path_buf(),
        ca,
    });
    Ok((config, handle))
}

/// Why a client certificate was refused at the handshake, in words an
/// operator can act on.
pub fn refusal_in_words(end_entity: &[u8], error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    if crate::certs::is_ca_certificate(end_entity) {
        return "the client certificate is a CA certificate, not a member certificate".into();
    }
    let rustls::Error::InvalidCertificate(e) = error else {
        return format!("the client certificate was refused ({error})");
    };
    match e {
        C::UnknownIssuer => {
            "the client certificate was issued by an unknown CA (not the community CA)".into()
        }
        C::Expired | C::ExpiredContext { .. } => "the client certificate has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the client certificate is not valid yet (check the clocks)".into()
        }
        C::Revoked => "the client certificate is revoked".into(),
        C::BadSignature => "the client certificate's signature does not verify".into(),
        C::BadEncoding => "the client certificate cannot be decoded".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "the client certificate is not meant for client authentication (no clientAuth usage)"
                .into()
        }
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "the client certificate uses a signature algorithm this server does not accept".into()
        }
        C::UnhandledCriticalExtension => {
            "the client certificate has a critical extension this server does not understand".into()
        }
        other => format!("the client certificate was refused ({other})"),
    }
}

/// Delegates to webpki and logs every refused certificate with its
/// fingerprint and the reason in words, so an operator can tell which
/// member's tool is failing and why.
#[derive(Debug)]
struct LoggingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for LoggingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(|e| {
                tracing::warn!(
                    fingerprint = %crate::auth::identity::fingerprint(end_entity.as_ref()),
                    reason = %refusal_in_words(end_entity.as_ref(), e),
                    "refused a client certificate at the TLS handshake"
                )
            })
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
