//! Captures the client certificate once per TLS connection; every request on
//! that connection then carries its fingerprint in the connection data.

use std::any::Any;

use actix_rt::net::TcpStream;
use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;

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

/// `HttpServer::on_connect` hook (also turns Nagle's algorithm off).
pub fn capture(conn: &dyn Any, data: &mut Extensions) {
    if let Some(tls) = conn.downcast_ref::<TlsStream<TcpStream>>() {
        let (socket, session) = tls.get_ref();
        // Small responses go out at once instead of waiting on a delayed ACK.
        let _ = socket.set_nodelay(true);
        if let Some(cert) = session.peer_certificates().and_then(|c| c.first()) {
            data.insert(PeerCertificate {
                fingerprint: fingerprint(cert.as_ref()),
            });
        }
    }
}
