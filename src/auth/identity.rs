//! Captures the client certificate once per TLS connection; every request on
//! that connection then carries its fingerprint in the connection data.

use actix_web::dev::Extensions;
use rustls::ServerConnection;

/// The SHA-256 fingerprint (lowercase hex) of the peer's end-entity certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub fingerprint: String,
}

pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    hex(digest.as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The connection hook: records the certificate the TLS session verified.
pub fn capture(session: &ServerConnection, data: &mut Extensions) {
    if let Some(cert) = session.peer_certificates().and_then(|c| c.first()) {
        data.insert(PeerCertificate {
            fingerprint: fingerprint(cert.as_ref()),
        });
    }
}
