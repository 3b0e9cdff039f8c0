//! Community CA and certificate issuance.
//!
//! Every Breakwater member authenticates with a TLS client certificate issued
//! by the community's certificate authority. This module creates that CA,
//! issues server and member (client) certificates, produces certificate
//! revocation lists, packages member credentials as PKCS#12 bundles and reads
//! the interesting fields back out of certificates.
//!
//! All keys are ECDSA P-256 (fast handshakes, small certificates). Nothing
//! here touches the network, a database or the file system: functions take and
//! return PEM text or DER bytes and callers decide where they are stored.

mod authority;
mod check;
pub mod expiry;
mod inspect;
mod names;
mod pkcs12;

#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Utc};

pub use authority::CertificateAuthority;
pub use check::{Problem, check_member_certificate};
pub use inspect::{fingerprint_der, inspect_der, inspect_pem, issued_by, key_matches_cert};
pub use names::{
    covers, is_ca_certificate, normalise_host, primary_name, server_names, server_names_der,
};
pub use pkcs12::pkcs12;

/// Everything that can go wrong while creating, loading or reading
/// certificates, keys, CRLs and PKCS#12 bundles.
///
/// Each message is a single sentence meant to be shown to an operator as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A certificate could not be decoded from PEM or DER.
    #[error("the certificate could not be read ({0})")]
    InvalidCertificate(String),
    /// A private key could not be decoded or is of an unsupported kind.
    #[error("the private key could not be read ({0})")]
    InvalidKey(String),
    /// The private key does not belong to the certificate it was paired with.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// A certificate loaded as the CA is not a certificate authority.
    #[error(
        "the certificate is not a certificate authority (it lacks the CA:true basic constraint)"
    )]
    NotCa,
    /// A CA or member name is empty or otherwise unusable as a common name.
    #[error("the name {0:?} cannot be used as a certificate common name ({1})")]
    InvalidName(String, &'static str),
    /// A server certificate host is neither a DNS name nor an IP address.
    #[error("{0:?} is neither a valid DNS name nor an IP address")]
    InvalidHost(String),
    /// A server certificate was requested without any host names.
    #[error("a server certificate needs at least one host name or IP address")]
    NoHosts,
    /// A validity period (certificate or CRL) is empty, reversed or out of range.
    #[error("the validity period is invalid ({0})")]
    InvalidValidity(String),
    /// A revoked serial number is not a hexadecimal number.
    #[error("{0:?} is not a valid certificate serial number (expected hexadecimal digits)")]
    InvalidSerial(String),
    /// The certificate or CRL could not be generated or signed.
    #[error("the certificate or CRL could not be generated ({0})")]
    Generation(String),
    /// The PKCS#12 bundle could not be built.
    #[error("the PKCS#12 bundle could not be built ({0})")]
    Pkcs12(String),
    /// A certificate would be refused at the handshake; every reason is named.
    #[error(
        "the certificate cannot identify a member: {}; a member needs a current client certificate issued by the community CA",
        check::describe(.0)
    )]
    Unusable(Vec<Problem>),
    /// A signing request asks for a certificate no member could use.
    #[error(
        "the signing request cannot become a member certificate: {}; ask the member for a request without those extensions",
        check::describe(.0)
    )]
    UnsuitableRequest(Vec<Problem>),
}

impl From<rcgen::Error> for CertError {
    fn from(err: rcgen::Error) -> Self {
        CertError::Generation(err.to_string())
    }
}

/// A certificate to list in a CRL: its serial number and when it was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSerial {
    /// Serial number as hexadecimal digits, as reported by
    /// [`CertInfo::serial_hex`]. Upper case and `:` separators are accepted.
    pub serial_hex: String,
    /// When the certificate was revoked.
    pub revoked_at: DateTime<Utc>,
}

/// A freshly issued certificate together with its private key.
///
/// `Debug` output never includes the private key.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM encoded.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM encoded. Callers must store it with
    /// restrictive permissions (or only hand it out inside a PKCS#12 bundle).
    pub key_pem: String,
    /// Fields read back from the issued certificate.
    pub info: CertInfo,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .field("info", &self.info)
            .finish()
    }
}

/// The fields of a certificate that Breakwater records and displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the DER encoding, lowercase hex without separators.
    pub fingerprint: String,
    /// Serial number as lowercase hex of its big-endian bytes (no separators,
    /// no leading zero byte).
    pub serial_hex: String,
    /// The first common name (CN) of the subject, if there is one.
    pub subject_cn: Option<String>,
    /// Start of the validity period.
    pub not_before: DateTime<Utc>,
    /// End of the validity period.
    pub not_after: DateTime<Utc>,
}

/// Lowercase hex encoding without separators.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Parses a serial number written as hex digits (optionally with `:`
/// separators or a `0x` prefix, any case) into big-endian bytes.
fn parse_serial_hex(text: &str) -> Result<Vec<u8>, CertError> {
    let invalid = || CertError::InvalidSerial(text.to_string());
    let trimmed = text.trim();
    let trimmed = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let digits: Vec<u8> = trimmed
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_digit(16).map(|d| d as u8).ok_or_else(invalid))
        .collect::<Result<_, _>>()?;
    if digits.is_empty() || digits.len() > 42 {
        return Err(invalid());
    }
    let mut bytes = Vec::with_capacity(digits.len().div_ceil(2));
    let mut iter = digits.iter();
    if digits.len() % 2 == 1 {
        bytes.push(*iter.next().expect("non-empty"));
    }
    while let (Some(hi), Some(lo)) = (iter.next(), iter.next()) {
        bytes.push(hi << 4 | lo);
    }
    Ok(bytes)
}

/// Converts a chrono timestamp to the `time` type rcgen uses (whole seconds).
fn to_offset_date_time(when: DateTime<Utc>) -> Result<time::OffsetDateTime, CertError> {
    let converted = time::OffsetDateTime::from_unix_timestamp(when.timestamp())
        .map_err(|_| CertError::InvalidValidity(format!("{when} is out of range")))?;
    // X.509 times end at 9999-12-31 (GeneralizedTime has four year digits).
    if converted.year() > 9999 || converted.year() < 1950 {
        return Err(CertError::InvalidValidity(format!(
            "{when} is outside the years 1950 to 9999 that certificates can express"
        )));
    }
    Ok(converted)
}
