//! Whether a certificate can identify a member: the checks the TLS
//! handshake makes, made when the operator registers or signs it, so a
//! certificate that could never connect is refused with the reason instead
//! of being accepted silently.

use std::fmt;

use chrono::{DateTime, Utc};
use rcgen::{ExtendedKeyUsagePurpose, IsCa};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ExtendedKeyUsage;

use super::inspect::{first_cert_der, inspect_der, parse_x509, to_chrono};
use super::{CertError, CertInfo};

/// One reason a certificate (or a signing request) cannot identify a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its validity period ended.
    Expired { not_after: DateTime<Utc> },
    /// Its validity period has not begun.
    NotYetValid { not_before: DateTime<Utc> },
    /// It carries an extended key usage without clientAuth (for example a
    /// serverAuth-only certificate); the handshake requires clientAuth
    /// wherever the extension is present.
    NotForClientAuth { usages: Vec<String> },
    /// It is a certificate authority, which a handshake never accepts as a
    /// client's own certificate.
    CertificateAuthority,
    /// It was not signed by the community CA.
    ForeignIssuer,
    /// The community CA certificate itself is outside its validity period,
    /// so no member certificate verifies now.
    CommunityCaNotValid {
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Expired { not_after } => write!(f, "it expired on {not_after}"),
            Problem::NotYetValid { not_before } => {
                write!(f, "it is not valid before {not_before}")
            }
            Problem::NotForClientAuth { usages } => write!(
                f,
                "it is not for client authentication (its extended key usage is {}, without clientAuth)",
                usages.join(", ")
            ),
            Problem::CertificateAuthority => {
                write!(f, "it is a CA certificate (basic constraints CA:true)")
            }
            Problem::ForeignIssuer => write!(f, "it was not issued by the community CA"),
            Problem::CommunityCaNotValid {
                not_before,
                not_after,
            } => write!(
                f,
                "the community CA certificate itself is valid only from {not_before} to {not_after}"
            ),
        }
    }
}

/// Several problems as one clause: "a; b and c".
pub(super) fn describe(problems: &[Problem]) -> String {
    let texts: Vec<String> = problems.iter().map(Problem::to_string).collect();
    match texts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join("; ")),
        _ => texts.join(""),
    }
}

/// Checks that the (first) certificate in `cert_pem` would pass the TLS
/// handshake as a member's certificate at `now`: signed by the community CA
/// in `ca_pem` (itself valid at `now`), inside its validity period, not a
/// CA, and usable for client authentication. Returns the certificate's
/// fields, or `CertError::Unusable` naming every problem found.
pub fn check_member_certificate(
    cert_pem: &str,
    ca_pem: &str,
    now: DateTime<Utc>,
) -> Result<CertInfo, CertError> {
    let der = first_cert_der(cert_pem)?;
    let ca_der = first_cert_der(ca_pem)?;
    let cert = parse_x509(&der)?;
    let ca = parse_x509(&ca_der)?;
    let mut problems = Vec::new();
    let issued =
        cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok();
    if !issued {
        problems.push(Problem::ForeignIssuer);
    }
    let (not_before, not_after) = validity(&cert)?;
    if now > not_after {
        problems.push(Problem::Expired { not_after });
    } else if now < not_before {
        problems.push(Problem::NotYetValid { not_before });
    }
    let ca_flag = cert
        .basic_constraints()
        .map_err(|e| CertError::InvalidCertificate(e.to_string()))?
        .is_some_and(|bc| bc.value.ca);
    if ca_flag {
        problems.push(Problem::CertificateAuthority);
    }
    let eku = cert
        .extended_key_usage()
        .map_err(|e| CertError::InvalidCertificate(e.to_string()))?;
    if let Some(eku) = eku
        && !eku.value.client_auth
    {
        problems.push(Problem::NotForClientAuth {
            usages: eku_names(eku.value),
        });
    }
    if issued {
        let (ca_from, ca_until) = validity(&ca)?;
        if now < ca_from || now > ca_until {
            problems.push(Problem::CommunityCaNotValid {
                not_before: ca_from,
                not_after: ca_until,
            });
        }
    }
    if !problems.is_empty() {
        return Err(CertError::Unusable(problems));
    }
    inspect_der(&der)
}

/// The problems of a signing request that would make its certificate
/// useless to a member: asking for a CA, or for key usages without
/// clientAuth. (Whatever else it asks for is replaced by our own choice.)
pub(super) fn request_problems(is_ca: &IsCa, usages: &[ExtendedKeyUsagePurpose]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if matches!(is_ca, IsCa::Ca(_)) {
        problems.push(Problem::CertificateAuthority);
    }
    if !usages.is_empty() && !usages.contains(&ExtendedKeyUsagePurpose::ClientAuth) {
        problems.push(Problem::NotForClientAuth {
            usages: usages.iter().map(purpose_name).collect(),
        });
    }
    problems
}

fn validity(cert: &X509Certificate<'_>) -> Result<(DateTime<Utc>, DateTime<Utc>), CertError> {
    let v = cert.validity();
    Ok((to_chrono(&v.not_before)?, to_chrono(&v.not_after)?))
}

fn eku_names(eku: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let mut names: Vec<String> = [
        (eku.any, "anyExtendedKeyUsage"),
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ]
    .into_iter()
    .filter(|(present, _)| *present)
    .map(|(_, name)| name.to_string())
    .collect();
    names.extend(eku.other.iter().map(|oid| oid.to_id_string()));
    if names.is_empty() {
        names.push("empty".to_string());
    }
    names
}

fn purpose_name(purpose: &ExtendedKeyUsagePurpose) -> String {
    match purpose {
        ExtendedKeyUsagePurpose::Any => "anyExtendedKeyUsage".into(),
        ExtendedKeyUsagePurpose::ServerAuth => "serverAuth".into(),
        ExtendedKeyUsagePurpose::ClientAuth => "clientAuth".into(),
        ExtendedKeyUsagePurpose::CodeSigning => "codeSigning".into(),
        ExtendedKeyUsagePurpose::EmailProtection => "emailProtection".into(),
        ExtendedKeyUsagePurpose::TimeStamping => "timeStamping".into(),
        ExtendedKeyUsagePurpose::OcspSigning => "OCSPSigning".into(),
        ExtendedKeyUsagePurpose::Other(arcs) => arcs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    }
}
