//! Reading certificates and keys: fingerprints, serials, names, validity and
//! whether a key belongs to a certificate.

use chrono::{DateTime, Utc};
use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::certificate::X509Certificate;
use x509_parser::time::ASN1Time;

use super::{CertError, CertInfo, to_hex};

/// SHA-256 fingerprint of a DER-encoded certificate, lowercase hex without
/// separators (the form Breakwater stores and compares).
pub fn fingerprint_der(der: &[u8]) -> String {
    to_hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

/// Reads the fingerprint, serial, subject CN and validity of the first
/// certificate in a PEM document (other sections such as keys are skipped).
pub fn inspect_pem(cert_pem: &str) -> Result<CertInfo, CertError> {
    inspect_der(&first_cert_der(cert_pem)?)
}

/// Reads the fingerprint, serial, subject CN and validity of a DER-encoded
/// certificate.
pub fn inspect_der(der: &[u8]) -> Result<CertInfo, CertError> {
    let x509 = parse_x509(der)?;
    let mut serial = x509.raw_serial();
    // A DER INTEGER gets a leading zero byte when its top bit is set; that
    // byte is encoding, not part of the number.
    while serial.len() > 1 && serial[0] == 0 {
        serial = &serial[1..];
    }
    let subject_cn = x509
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let validity = x509.validity();
    Ok(CertInfo {
        fingerprint: fingerprint_der(der),
        serial_hex: to_hex(serial),
        subject_cn,
        not_before: to_chrono(&validity.not_before)?,
        not_after: to_chrono(&validity.not_after)?,
    })
}

/// Tells whether the private key in `key_pem` belongs to the (first)
/// certificate in `cert_pem`, by comparing public keys.
///
/// Errors only if either input cannot be read; a readable key that belongs to
/// another certificate gives `Ok(false)`.
pub fn key_matches_cert(cert_pem: &str, key_pem: &str) -> Result<bool, CertError> {
    let der = first_cert_der(cert_pem)?;
    let key = parse_key(key_pem)?;
    key_matches_der(&der, &key)
}

/// Tells whether the (first) certificate in `cert_pem` was signed by the CA
/// certificate in `ca_pem`: only such certificates pass the TLS handshake.
pub fn issued_by(cert_pem: &str, ca_pem: &str) -> Result<bool, CertError> {
    let cert_der = first_cert_der(cert_pem)?;
    let ca_der = first_cert_der(ca_pem)?;
    let cert = parse_x509(&cert_der)?;
    let ca = parse_x509(&ca_der)?;
    Ok(cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok())
}

/// The first CERTIFICATE section of a PEM document.
pub(super) fn first_cert_der(cert_pem: &str) -> Result<CertificateDer<'static>, CertError> {
    all_cert_ders(cert_pem)?.into_iter().next().ok_or_else(|| {
        CertError::InvalidCertificate("no PEM CERTIFICATE block was found".to_string())
    })
}

/// Every CERTIFICATE section of a PEM document, in order.
pub(super) fn all_cert_ders(pem: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| CertError::InvalidCertificate(format!("malformed PEM: {err}")))
}

/// Decodes a PKCS#8 PEM private key (the format this module writes).
pub(super) fn parse_key(key_pem: &str) -> Result<KeyPair, CertError> {
    KeyPair::from_pem(key_pem).map_err(|err| {
        CertError::InvalidKey(format!(
            "expected an unencrypted PKCS#8 \"PRIVATE KEY\" PEM block: {err}"
        ))
    })
}

pub(super) fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    let (rest, x509) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| CertError::InvalidCertificate(err.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::InvalidCertificate(
            "unexpected data after the certificate".to_string(),
        ));
    }
    Ok(x509)
}

pub(super) fn key_matches_der(der: &[u8], key: &KeyPair) -> Result<bool, CertError> {
    let x509 = parse_x509(der)?;
    let cert_key = &x509.public_key().subject_public_key.data;
    Ok(cert_key.as_ref() == key.der_bytes())
}

pub(super) fn to_chrono(time: &ASN1Time) -> Result<DateTime<Utc>, CertError> {
    DateTime::from_timestamp(time.timestamp(), 0)
        .ok_or_else(|| CertError::InvalidCertificate("a validity date is out of range".to_string()))
}
