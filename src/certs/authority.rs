//! The community certificate authority: creation, reloading, issuance and CRLs.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::DnsName;
use x509_parser::extensions::ParsedExtension;

use super::check::{check_member_certificate, request_problems};
use super::inspect::{first_cert_der, inspect_der, key_matches_der, parse_key, parse_x509};
use super::{CertError, IssuedCert, RevokedSerial, parse_serial_hex, to_offset_date_time};

/// Organisation (O) written into every member certificate.
const MEMBER_ORGANISATION: &str = "Breakwater member";

/// How far certificates are back-dated so that peers whose clocks run a little
/// slow accept a certificate issued moments ago.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(5);

/// Upper bound for a common name (RFC 5280 `ub-common-name`).
const MAX_COMMON_NAME_CHARS: usize = 64;

/// The community certificate authority.
///
/// Holds the CA certificate and key as PEM (the form callers persist) and the
/// issuer parameters parsed from the certificate (subject, key usages, key
/// identifier), so that certificates issued by a reloaded CA are
/// indistinguishable from those issued right after
/// [`generate`](Self::generate).
///
/// `Debug` output never includes the private key.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// How the CA's key identifier is written into the authority key
    /// identifier of CRLs (the CA's own subject key identifier).
    key_id_method: KeyIdMethod,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Creates a new self-signed CA valid for `days` days from now.
    ///
    /// The CA has an ECDSA P-256 key, the basic constraints `CA:true,
    /// pathlen:0` (it can only issue end-entity certificates) and the key
    /// usages keyCertSign and cRLSign.
    pub fn generate(common_name: &str, days: u32) -> Result<Self, CertError> {
        let common_name = check_common_name(common_name)?;
        let (not_before, not_after) = validity_for_days(days)?;

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial()?);
        params.not_before = to_offset_date_time(not_before)?;
        params.not_after = to_offset_date_time(not_after)?;

        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.self_signed(&key)?;
        // Go through the same parsing path as a CA loaded from disk.
        Self::from_pem(&cert.pem(), &key.serialize_pem())
    }

    /// Loads a CA from the PEM contents of its certificate and key files.
    ///
    /// Fails if the certificate is not a CA certificate or if the key does
    /// not belong to it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let der = first_cert_der(cert_pem)?;
        let key = parse_key(key_pem)?;
        if !key_matches_der(&der, &key)? {
            return Err(CertError::KeyMismatch);
        }
        let x509 = parse_x509(&der)?;
        let is_ca = x509
            .basic_constraints()
            .map_err(|err| CertError::InvalidCertificate(err.to_string()))?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(CertError::NotCa);
        }
        // Same rule rcgen applies to certificates: reuse the CA's subject key
        // identifier, or derive one from the key if the CA has none.
        let key_id_method = x509
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(KeyIdMethod::PreSpecified(id.0.to_vec()))
                }
                _ => None,
            })
            .unwrap_or(KeyIdMethod::Sha256);
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|err| CertError::InvalidCertificate(err.to_string()))?;
        Ok(Self {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
            key_id_method,
        })
    }

    /// The CA certificate, PEM encoded (as given to [`from_pem`](Self::from_pem)).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PEM encoded (as given to [`from_pem`](Self::from_pem)).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues a TLS server certificate valid for `days` days from now.
    ///
    /// Each entry of `hosts` becomes a subject alternative name: an IP
    /// address SAN if it parses as an IPv4/IPv6 address (brackets around IPv6
    /// are accepted), otherwise a DNS name SAN (a leading `*.` wildcard is
    /// allowed). The first host is also used as the subject CN. The
    /// certificate carries the serverAuth extended key usage.
    pub fn issue_server(&self, hosts: &[String], days: u32) -> Result<IssuedCert, CertError> {
        if hosts.is_empty() {
            return Err(CertError::NoHosts);
        }
        let sans = hosts
            .iter()
            .map(|host| parse_host(host))
            .collect::<Result<Vec<_>, _>>()?;
        let (not_before, not_after) = validity_for_days(days)?;

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, san_display(&sans[0]));
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue_end_entity(params, not_before, not_after)
    }

    /// Issues a member (TLS client) certificate valid for `days` days from now.
    ///
    /// The subject is `CN=<member>, O=Breakwater member` and the certificate
    /// carries the clientAuth extended key usage.
    pub fn issue_client(&self, member: &str, days: u32) -> Result<IssuedCert, CertError> {
        let (not_before, not_after) = validity_for_days(days)?;
        self.issue_client_between(member, not_before, not_after)
    }

    /// Issues a member certificate with an explicit validity period.
    ///
    /// Like [`issue_client`](Self::issue_client) but without back-dating, so
    /// tests and tools can create certificates that are already expired or
    /// not yet valid. Times are truncated to whole seconds.
    pub fn issue_client_between(
        &self,
        member: &str,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Result<IssuedCert, CertError> {
        self.issue_end_entity(member_params(member)?, not_before, not_after)
    }

    /// Signs a member's certificate signing request (PEM), so the member keeps
    /// its private key. The subject and usages are ours (`CN=<member>`,
    /// clientAuth), whatever the request asked for; only its public key is
    /// used. A request asking to be a CA, or for key usages without
    /// clientAuth, is refused rather than silently overridden: its sender
    /// expects something else. The issued certificate goes through the same
    /// check as a registered one (an expired community CA is refused there).
    /// The returned `key_pem` is empty.
    pub fn sign_request(
        &self,
        csr_pem: &str,
        member: &str,
        days: u32,
    ) -> Result<IssuedCert, CertError> {
        let params = member_params(member)?;
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            CertError::InvalidCertificate(format!("the signing request is unusable: {e}"))
        })?;
        let problems = request_problems(&csr.params.is_ca, &csr.params.extended_key_usages);
        if !problems.is_empty() {
            return Err(CertError::UnsuitableRequest(problems));
        }
        let (not_before, not_after) = validity_for_days(days)?;
        csr.params = end_entity_params(params, not_before, not_after)?;
        let cert = csr.signed_by(&self.issuer)?;
        let info = check_member_certificate(&cert.pem(), &self.cert_pem, Utc::now())?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: String::new(),
            info,
        })
    }

    /// Produces an X.509 v2 CRL signed by this CA, PEM encoded.
    ///
    /// `crl_number` must increase with every CRL the community publishes.
    /// `next_update` must be later than `this_update`.
    pub fn crl_pem(
        &self,
        revoked: &[RevokedSerial],
        this_update: DateTime<Utc>,
        next_update: DateTime<Utc>,
        crl_number: u64,
    ) -> Result<String, CertError> {
        if next_update.timestamp() <= this_update.timestamp() {
            return Err(CertError::InvalidValidity(
                "the CRL's next update must be later than its this update".to_string(),
            ));
        }
        let revoked_certs = revoked
            .iter()
            .map(|entry| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&parse_serial_hex(&entry.serial_hex)?),
                    revocation_time: to_offset_date_time(entry.revoked_at)?,
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, CertError>>()?;
        let crl = CertificateRevocationListParams {
            this_update: to_offset_date_time(this_update)?,
            next_update: to_offset_date_time(next_update)?,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: self.key_id_method.clone(),
        }
        .signed_by(&self.issuer)?;
        Ok(crl.pem()?)
    }

    /// Fills in what all end-entity certificates share (fresh P-256 key,
    /// random serial, validity, CA:false, digitalSignature, authority key
    /// identifier) and signs.
    fn issue_end_entity(
        &self,
        params: CertificateParams,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Result<IssuedCert, CertError> {
        let params = end_entity_params(params, not_before, not_after)?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let info = inspect_der(cert.der())?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            info,
        })
    }
}

/// A member certificate's subject (`CN=<member>, O=Breakwater member`) and
/// its clientAuth usage.
fn member_params(member: &str) -> Result<CertificateParams, CertError> {
    let member = check_common_name(member)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, member);
    params
        .distinguished_name
        .push(DnType::OrganizationName, MEMBER_ORGANISATION);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// What every end-entity certificate shares: validity, a random serial,
/// CA:false, digitalSignature and the authority key identifier.
fn end_entity_params(
    mut params: CertificateParams,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<CertificateParams, CertError> {
    if not_after.timestamp() <= not_before.timestamp() {
        return Err(CertError::InvalidValidity(
            "the end of the validity period must be later than its start".to_string(),
        ));
    }
    params.not_before = to_offset_date_time(not_before)?;
    params.not_after = to_offset_date_time(not_after)?;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// A random positive 128-bit serial number.
///
/// The top bit is cleared so the DER INTEGER needs no padding byte, and the
/// first byte is kept non-zero so the encoding is always exactly 16 bytes.
fn random_serial() -> Result<SerialNumber, CertError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertError::Generation("the system random generator failed".to_string()))?;
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 0x01;
    }
    Ok(SerialNumber::from_slice(&bytes))
}

/// Validity period starting a few minutes ago and lasting `days` days.
fn validity_for_days(days: u32) -> Result<(DateTime<Utc>, DateTime<Utc>), CertError> {
    if days == 0 {
        return Err(CertError::InvalidValidity(
            "the number of days must be at least 1".to_string(),
        ));
    }
    let now = Utc::now();
    let not_after = now
        .checked_add_signed(Duration::days(i64::from(days)))
        .ok_or_else(|| CertError::InvalidValidity(format!("{days} days is too long")))?;
    Ok((now - CLOCK_SKEW_ALLOWANCE, not_after))
}

fn check_common_name(name: &str) -> Result<&str, CertError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(CertError::InvalidName(name.to_string(), "it is empty"));
    }
    if trimmed.chars().count() > MAX_COMMON_NAME_CHARS {
        return Err(CertError::InvalidName(
            name.to_string(),
            "it is longer than 64 characters",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(CertError::InvalidName(
            name.to_string(),
            "it contains control characters",
        ));
    }
    Ok(trimmed)
}

/// Turns a host string into a subject alternative name.
fn parse_host(host: &str) -> Result<SanType, CertError> {
    let invalid = || CertError::InvalidHost(host.to_string());
    let trimmed = host.trim();
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(trimmed);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let name = trimmed
        .strip_suffix('.')
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    let checked = name.strip_prefix("*.").unwrap_or(&name);
    // DnsName enforces label syntax and lengths; it also accepts strings that
    // look like IPv4 addresses, which are not host names.
    if DnsName::try_from(checked).is_err()
        || checked.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return Err(invalid());
    }
    Ok(SanType::DnsName(name.try_into().map_err(|_| invalid())?))
}

fn san_display(san: &SanType) -> String {
    match san {
        SanType::IpAddress(ip) => ip.to_string(),
        SanType::DnsName(name) => name.as_str().to_string(),
        other => format!("{other:?}"),
    }
}
