//! The host names a server certificate covers, read back from its subject
//! alternative names, and host strings put in one comparable form.

use std::net::IpAddr;

use x509_parser::extensions::GeneralName;

use super::CertError;
use super::inspect::{first_cert_der, parse_x509};

/// A host as certificates compare it: IP addresses in their canonical text
/// (`::1`, no brackets), names in lower case without a trailing dot.
pub fn normalise_host(host: &str) -> String {
    let trimmed = host.trim();
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(trimmed);
    match unbracketed.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => trimmed.trim_end_matches('.').to_ascii_lowercase(),
    }
}

/// The DNS names and IP addresses in the subject alternative names of the
/// (first) certificate in `cert_pem`, in the certificate's order.
pub fn server_names(cert_pem: &str) -> Result<Vec<String>, CertError> {
    server_names_der(&first_cert_der(cert_pem)?)
}

/// [`server_names`] of a DER-encoded certificate.
pub fn server_names_der(der: &[u8]) -> Result<Vec<String>, CertError> {
    let x509 = parse_x509(der)?;
    let Some(san) = x509
        .subject_alternative_name()
        .map_err(|e| CertError::InvalidCertificate(e.to_string()))?
    else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(dns) => names.push(normalise_host(dns)),
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    names.push(ip.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// The name to show for a server certificate: its first name that is not a
/// loopback name (`localhost`, `127.0.0.1`, `::1`), else its first name.
pub fn primary_name(names: &[String]) -> Option<&str> {
    const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
    names
        .iter()
        .find(|n| !LOOPBACK.contains(&n.as_str()))
        .or(names.first())
        .map(String::as_str)
}

/// Whether a certificate carrying `names` is valid for `host` (exact match,
/// or one `*.` wildcard label for DNS names).
pub fn covers(names: &[String], host: &str) -> bool {
    let host = normalise_host(host);
    names.iter().any(|n| {
        *n == host
            || n.strip_prefix("*.").is_some_and(|suffix| {
                host.split_once('.')
                    .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix)
            })
    })
}

/// Whether a DER certificate is a CA certificate (basic constraints `CA:true`).
pub fn is_ca_certificate(der: &[u8]) -> bool {
    parse_x509(der)
        .ok()
        .and_then(|x| x.basic_constraints().ok().flatten().map(|bc| bc.value.ca))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::CertificateAuthority;

    #[test]
    fn reads_back_the_names_a_server_certificate_was_issued_for() {
        let ca = CertificateAuthority::generate("Test CA", 30).unwrap();
        let hosts: Vec<String> = [
            "Exchange.Port.Example",
            "127.0.0.1",
            "[::1]",
            "*.crc.example",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let issued = ca.issue_server(&hosts, 30).unwrap();
        let names = server_names(&issued.cert_pem).unwrap();
        assert_eq!(
            names,
            ["exchange.port.example", "127.0.0.1", "::1", "*.crc.example"]
        );
        assert!(covers(&names, "exchange.port.example."));
        assert!(covers(&names, "[::1]"));
        assert!(covers(&names, "taxii.crc.example"));
        assert!(!covers(&names, "a.b.crc.example"));
        assert!(!covers(&names, "localhost"));
        assert_eq!(primary_name(&names), Some("exchange.port.example"));
        assert_eq!(
            primary_name(&["localhost".to_string(), "::1".to_string()]),
            Some("localhost")
        );
        let ca_der = crate::certs::inspect::first_cert_der(ca.cert_pem()).unwrap();
        assert!(is_ca_certificate(&ca_der));
        let server_der = crate::certs::inspect::first_cert_der(&issued.cert_pem).unwrap();
        assert!(!is_ca_certificate(&server_der));
    }
}
