use std::process::Command;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{CertificateError, Error as TlsError, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use x509_parser::extensions::ParsedExtension;

use super::*;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// One CA shared by the tests that only need "a CA" (generation is cheap, but
/// sharing keeps the tests focused).
fn shared_ca() -> &'static CertificateAuthority {
    static CA: OnceLock<CertificateAuthority> = OnceLock::new();
    CA.get_or_init(|| CertificateAuthority::generate("Test Community CA", 30).unwrap())
}

fn der(cert_pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()
}

fn roots(ca: &CertificateAuthority) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    store.add(der(ca.cert_pem())).unwrap();
    Arc::new(store)
}

fn client_verifier(
    ca: &CertificateAuthority,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Arc<dyn ClientCertVerifier> {
    WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .with_crls(crls)
        .build()
        .unwrap()
}

fn server_verifier(ca: &CertificateAuthority) -> Arc<WebPkiServerVerifier> {
    WebPkiServerVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap()
}

fn verify_client(verifier: &dyn ClientCertVerifier, cert_pem: &str) -> Result<(), TlsError> {
    verifier
        .verify_client_cert(&der(cert_pem), &[], UnixTime::now())
        .map(|_| ())
}

fn verify_server(
    verifier: &WebPkiServerVerifier,
    cert_pem: &str,
    name: &str,
) -> Result<(), TlsError> {
    let name = ServerName::try_from(name.to_string()).unwrap();
    verifier
        .verify_server_cert(&der(cert_pem), &[], &name, &[], UnixTime::now())
        .map(|_| ())
}

fn cert_error(result: Result<(), TlsError>) -> CertificateError {
    match result {
        Err(TlsError::InvalidCertificate(err)) => err,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[test]
fn generated_ca_is_a_p256_ca_limited_to_end_entities() {
    let ca = CertificateAuthority::generate("Port Community CA", 3650).unwrap();
    let cert = der(ca.cert_pem());
    let (_, x509) = x509_parser::parse_x509_certificate(&cert).unwrap();

    assert_eq!(x509.subject(), x509.issuer(), "CA must be self-signed");
    x509.verify_signature(None).unwrap();
    let bc = x509.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    let ku = x509.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert!(!ku.digital_signature());
    let spki = x509.public_key();
    assert_eq!(
        spki.algorithm.algorithm,
        x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
    );
    assert_eq!(
        spki.algorithm
            .parameters
            .as_ref()
            .unwrap()
            .as_oid()
            .unwrap(),
        x509_parser::oid_registry::OID_EC_P256
    );

    let info = inspect_pem(ca.cert_pem()).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("Port Community CA"));
    let lifetime = info.not_after - info.not_before;
    assert!(
        lifetime >= Duration::days(3650) && lifetime <= Duration::days(3650) + Duration::hours(1)
    );
    assert!(info.not_before <= Utc::now());
    assert_eq!(info.serial_hex.len(), 32);
}

#[test]
fn client_cert_verifies_against_its_ca_only() {
    let ca = shared_ca();
    let member = ca.issue_client("Port of Example", 365).unwrap();
    verify_client(&*client_verifier(ca, vec![]), &member.cert_pem).unwrap();

    // A CA with the very same name but another key must not vouch for it.
    let impostor = CertificateAuthority::generate("Test Community CA", 30).unwrap();
    assert!(verify_client(&*client_verifier(&impostor, vec![]), &member.cert_pem).is_err());
    let other = CertificateAuthority::generate("Other CA", 30).unwrap();
    assert_eq!(
        cert_error(verify_client(
            &*client_verifier(&other, vec![]),
            &member.cert_pem
        )),
        CertificateError::UnknownIssuer
    );
    // And a certificate from another CA is not accepted by ours.
    let foreign = other.issue_client("Port of Example", 365).unwrap();
    assert!(verify_client(&*client_verifier(ca, vec![]), &foreign.cert_pem).is_err());
}

#[test]
fn client_cert_has_member_subject_and_client_auth_only() {
    let ca = shared_ca();
    let member = ca.issue_client("  Harbour Authority  ", 30).unwrap();
    let cert = der(&member.cert_pem);
    let (_, x509) = x509_parser::parse_x509_certificate(&cert).unwrap();
    let org: Vec<_> = x509
        .subject()
        .iter_organization()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(org, ["Breakwater member"]);
    assert_eq!(member.info.subject_cn.as_deref(), Some("Harbour Authority"));
    let eku = x509.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(!x509.basic_constraints().unwrap().unwrap().value.ca);

    // The serverAuth-less member certificate must not pass as a server.
    assert!(verify_server(&server_verifier(ca), &member.cert_pem, "localhost").is_err());
}

#[test]
fn server_cert_verifies_for_each_dns_name_and_ip() {
    let ca = shared_ca();
    let hosts = [
        "taxii.example.org",
        "localhost",
        "127.0.0.1",
        "[::1]",
        "*.ports.example",
    ]
    .map(String::from);
    let server = ca.issue_server(&hosts, 90).unwrap();
    let verifier = server_verifier(ca);
    for name in [
        "taxii.example.org",
        "localhost",
        "127.0.0.1",
        "::1",
        "rotterdam.ports.example",
    ] {
        verify_server(&verifier, &server.cert_pem, name)
            .unwrap_or_else(|err| panic!("{name} should verify: {err}"));
    }
    assert!(verify_server(&verifier, &server.cert_pem, "evil.example.org").is_err());
    assert!(verify_server(&verifier, &server.cert_pem, "127.0.0.2").is_err());
    assert_eq!(server.info.subject_cn.as_deref(), Some("taxii.example.org"));

    // Another CA's server certificate is rejected.
    let other = CertificateAuthority::generate("Other CA", 30).unwrap();
    let foreign = other.issue_server(&hosts, 90).unwrap();
    assert!(verify_server(&verifier, &foreign.cert_pem, "localhost").is_err());

    // A server certificate cannot be used as a member certificate.
    assert!(verify_client(&*client_verifier(ca, vec![]), &server.cert_pem).is_err());
}

#[test]
fn server_cert_rejects_bad_hosts() {
    let ca = shared_ca();
    assert!(matches!(ca.issue_server(&[], 30), Err(CertError::NoHosts)));
    for bad in [
        "",
        "exa mple.org",
        "bad_host!",
        "-lead.example",
        "1.2.3",
        "héllo.example",
    ] {
        assert!(
            matches!(
                ca.issue_server(&[bad.to_string()], 30),
                Err(CertError::InvalidHost(_))
            ),
            "{bad:?} should be rejected"
        );
    }
    assert!(matches!(
        ca.issue_server(&["localhost".to_string()], 0),
        Err(CertError::InvalidValidity(_))
    ));
}

#[test]
fn expired_and_not_yet_valid_certs_are_rejected() {
    let ca = shared_ca();
    let verifier = client_verifier(ca, vec![]);
    let now = Utc::now();

    let expired = ca
        .issue_client_between(
            "Late Member",
            now - Duration::days(10),
            now - Duration::days(1),
        )
        .unwrap();
    assert!(matches!(
        cert_error(verify_client(&*verifier, &expired.cert_pem)),
        CertificateError::Expired | CertificateError::ExpiredContext { .. }
    ));

    let future = ca
        .issue_client_between(
            "Early Member",
            now + Duration::days(1),
            now + Duration::days(10),
        )
        .unwrap();
    assert!(matches!(
        cert_error(verify_client(&*verifier, &future.cert_pem)),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }
    ));

    // The window itself is accepted.
    let current = ca
        .issue_client_between("On Time", now - Duration::days(1), now + Duration::days(1))
        .unwrap();
    verify_client(&*verifier, &current.cert_pem).unwrap();

    assert!(matches!(
        ca.issue_client_between("Backwards", now, now - Duration::days(1)),
        Err(CertError::InvalidValidity(_))
    ));
}

#[test]
fn crl_revokes_listed_serials_only() {
    let ca = shared_ca();
    let revoked = ca.issue_client("Revoked Member", 30).unwrap();
    let kept = ca.issue_client("Good Member", 30).unwrap();
    let now = Utc::now();

    let crl_pem = ca
        .crl_pem(
            &[
                RevokedSerial {
                    // Accept the colon-separated upper-case form operators paste.
                    serial_hex: colon_upper(&revoked.info.serial_hex),
                    revoked_at: now - Duration::hours(1),
                },
                RevokedSerial {
                    serial_hex: "0badc0ffee".to_string(),
                    revoked_at: now - Duration::days(3),
                },
            ],
            now - Duration::minutes(1),
            now + Duration::days(7),
            42,
        )
        .unwrap();
    let crl = CertificateRevocationListDer::from_pem_slice(crl_pem.as_bytes()).unwrap();
    let verifier = client_verifier(ca, vec![crl.clone()]);

    assert_eq!(
        cert_error(verify_client(&*verifier, &revoked.cert_pem)),
        CertificateError::Revoked
    );
    verify_client(&*verifier, &kept.cert_pem).unwrap();

    // An empty CRL revokes nothing.
    let empty = ca
        .crl_pem(&[], now - Duration::minutes(1), now + Duration::days(7), 43)
        .unwrap();
    let empty = CertificateRevocationListDer::from_pem_slice(empty.as_bytes()).unwrap();
    verify_client(&*client_verifier(ca, vec![empty]), &revoked.cert_pem).unwrap();

    // The CRL is a v2 CRL signed by the CA, carrying the CRL number.
    let (_, parsed) = x509_parser::parse_x509_crl(&crl).unwrap();
    assert_eq!(parsed.version(), Some(x509_parser::x509::X509Version::V2));
    assert_eq!(
        parsed.crl_number().map(|n| n.to_string()),
        Some("42".to_string())
    );
    let ca_der = der(ca.cert_pem());
    let (_, ca_x509) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    parsed.verify_signature(ca_x509.public_key()).unwrap();
    assert_eq!(parsed.iter_revoked_certificates().count(), 2);
}

fn colon_upper(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn crl_rejects_bad_input() {
    let ca = shared_ca();
    let now = Utc::now();
    let entry = |serial: &str| RevokedSerial {
        serial_hex: serial.to_string(),
        revoked_at: now,
    };
    for bad in ["", "xyz", "12 34", "0x"] {
        assert!(
            matches!(
                ca.crl_pem(&[entry(bad)], now, now + Duration::days(1), 1),
                Err(CertError::InvalidSerial(_))
            ),
            "{bad:?} should be rejected"
        );
    }
    assert!(matches!(
        ca.crl_pem(&[], now, now, 1),
        Err(CertError::InvalidValidity(_))
    ));
}

#[test]
fn from_pem_round_trips_and_keeps_issuing() {
    let ca = CertificateAuthority::generate("Reloaded CA", 30).unwrap();
    let reloaded = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
    assert_eq!(reloaded.cert_pem(), ca.cert_pem());
    assert_eq!(reloaded.key_pem(), ca.key_pem());

    // Certificates and CRLs from the reloaded CA verify against the original.
    let member = reloaded.issue_client("After Restart", 30).unwrap();
    let now = Utc::now();
    let crl = reloaded
        .crl_pem(
            &[RevokedSerial {
                serial_hex: member.info.serial_hex.clone(),
                revoked_at: now,
            }],
            now - Duration::minutes(1),
            now + Duration::days(1),
            1,
        )
        .unwrap();
    verify_client(&*client_verifier(&ca, vec![]), &member.cert_pem).unwrap();
    let crl = CertificateRevocationListDer::from_pem_slice(crl.as_bytes()).unwrap();
    assert_eq!(
        cert_error(verify_client(
            &*client_verifier(&ca, vec![crl]),
            &member.cert_pem
        )),
        CertificateError::Revoked
    );

    // The issued certificate names the CA as issuer and carries its key id.
    let member_der = der(&member.cert_pem);
    let ca_der = der(ca.cert_pem());
    let (_, member_x509) = x509_parser::parse_x509_certificate(&member_der).unwrap();
    let (_, ca_x509) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    assert_eq!(member_x509.issuer(), ca_x509.subject());
    let ski = ca_x509
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .expect("CA has a subject key identifier");
    let aki = member_x509
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            _ => None,
        })
        .expect("member certificate has an authority key identifier");
    assert_eq!(aki, ski);
}

#[test]
fn from_pem_rejects_mismatched_key_non_ca_and_garbage() {
    let ca = CertificateAuthority::generate("Mine", 30).unwrap();
    let other = CertificateAuthority::generate("Theirs", 30).unwrap();
    assert!(matches!(
        CertificateAuthority::from_pem(ca.cert_pem(), other.key_pem()),
        Err(CertError::KeyMismatch)
    ));

    let member = ca.issue_client("Not A CA", 30).unwrap();
    assert!(matches!(
        CertificateAuthority::from_pem(&member.cert_pem, &member.key_pem),
        Err(CertError::NotCa)
    ));

    assert!(matches!(
        CertificateAuthority::from_pem("not a certificate", ca.key_pem()),
        Err(CertError::InvalidCertificate(_))
    ));
    assert!(matches!(
        CertificateAuthority::from_pem(ca.cert_pem(), "not a key"),
        Err(CertError::InvalidKey(_))
    ));
    // A key where the certificate should be is not a certificate.
    assert!(matches!(
        CertificateAuthority::from_pem(ca.key_pem(), ca.key_pem()),
        Err(CertError::InvalidCertificate(_))
    ));
}

#[test]
fn inspect_reports_fingerprint_serial_cn_and_validity() {
    let ca = shared_ca();
    let not_before: DateTime<Utc> = "2025-01-02T03:04:05Z".parse().unwrap();
    let not_after: DateTime<Utc> = "2026-06-07T08:09:10Z".parse().unwrap();
    let issued = ca
        .issue_client_between("Inspected Member", not_before, not_after)
        .unwrap();
    let cert = der(&issued.cert_pem);

    // Key first, then the certificate: inspect_pem finds the certificate.
    let bundle = format!("{}{}", issued.key_pem, issued.cert_pem);
    let info = inspect_pem(&bundle).unwrap();
    assert_eq!(info, issued.info);
    assert_eq!(info, inspect_der(&cert).unwrap());

    let expected_fingerprint: String = ring::digest::digest(&ring::digest::SHA256, &cert)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(info.fingerprint, expected_fingerprint);
    assert_eq!(fingerprint_der(&cert), expected_fingerprint);
    assert_eq!(info.fingerprint.len(), 64);

    let (_, x509) = x509_parser::parse_x509_certificate(&cert).unwrap();
    assert_eq!(info.serial_hex, format!("{:032x}", x509.serial));
    assert_eq!(info.subject_cn.as_deref(), Some("Inspected Member"));
    assert_eq!(info.not_before, not_before);
    assert_eq!(info.not_after, not_after);

    // Serials are random, positive and 16 bytes long.
    let again = ca
        .issue_client_between("Inspected Member", not_before, not_after)
        .unwrap();
    assert_ne!(again.info.serial_hex, info.serial_hex);
    assert_ne!(again.info.fingerprint, info.fingerprint);
    assert_eq!(x509.raw_serial().len(), 16);
    assert!(x509.raw_serial()[0] & 0x80 == 0 && x509.raw_serial()[0] != 0);

    assert!(matches!(
        inspect_pem(&issued.key_pem),
        Err(CertError::InvalidCertificate(_))
    ));
    assert!(matches!(
        inspect_der(b"\x30\x03\x02\x01\x01"),
        Err(CertError::InvalidCertificate(_))
    ));
}

#[test]
fn key_matches_cert_tells_pairs_apart() {
    let ca = shared_ca();
    let a = ca.issue_client("A", 30).unwrap();
    let b = ca.issue_client("B", 30).unwrap();
    assert!(key_matches_cert(&a.cert_pem, &a.key_pem).unwrap());
    assert!(!key_matches_cert(&a.cert_pem, &b.key_pem).unwrap());
    assert!(key_matches_cert(ca.cert_pem(), ca.key_pem()).unwrap());
    assert!(!key_matches_cert(ca.cert_pem(), &a.key_pem).unwrap());
    assert!(key_matches_cert("garbage", &a.key_pem).is_err());
    assert!(key_matches_cert(&a.cert_pem, "garbage").is_err());
}

#[test]
fn bad_member_names_are_rejected() {
    let ca = shared_ca();
    for bad in ["", "   ", "tab\tname", &"x".repeat(65)] {
        assert!(
            matches!(ca.issue_client(bad, 30), Err(CertError::InvalidName(..))),
            "{bad:?} should be rejected"
        );
    }
    assert!(matches!(
        CertificateAuthority::generate("", 30),
        Err(CertError::InvalidName(..))
    ));
    assert!(matches!(
        CertificateAuthority::generate("CA", 0),
        Err(CertError::InvalidValidity(_))
    ));
    // Far beyond what X.509 dates can express.
    assert!(matches!(
        ca.issue_client("Forever", u32::MAX),
        Err(CertError::InvalidValidity(_))
    ));
    // Non-ASCII member names are fine.
    let info = ca.issue_client("Hafen Lübeck", 30).unwrap().info;
    assert_eq!(info.subject_cn.as_deref(), Some("Hafen Lübeck"));
}

#[test]
fn pkcs12_parses_back_with_cert_key_and_ca() {
    let ca = shared_ca();
    let member = ca.issue_client("Bundle Member", 30).unwrap();
    let p12 = pkcs12(
        &member.cert_pem,
        &member.key_pem,
        ca.cert_pem(),
        "Bundle Member",
        "s3cret",
    )
    .unwrap();

    let store = KeyStore::from_pkcs12(&p12, "s3cret", Pkcs12ImportPolicy::Strict).unwrap();
    let (alias, chain) = store.private_key_chain().expect("bundle holds a key");
    assert_eq!(alias, "Bundle Member");
    let key_der =
        rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(member.key_pem.as_bytes()).unwrap();
    assert_eq!(chain.key().as_der(), key_der.secret_pkcs8_der());
    let certs: Vec<&[u8]> = chain.certs().iter().map(|c| c.as_der()).collect();
    assert_eq!(
        certs,
        [der(&member.cert_pem).as_ref(), der(ca.cert_pem()).as_ref()]
    );
    assert!(matches!(
        store.entry("Bundle Member"),
        Some(KeyStoreEntry::PrivateKeyChain(_))
    ));

    assert!(KeyStore::from_pkcs12(&p12, "wrong", Pkcs12ImportPolicy::Strict).is_err());

    let stranger = ca.issue_client("Stranger", 30).unwrap();
    assert!(matches!(
        pkcs12(&member.cert_pem, &stranger.key_pem, ca.cert_pem(), "x", "x"),
        Err(CertError::KeyMismatch)
    ));
}

#[test]
fn pkcs12_is_accepted_by_openssl() {
    let ca = shared_ca();
    let member = ca.issue_client("OpenSSL Member", 30).unwrap();
    let p12 = pkcs12(
        &member.cert_pem,
        &member.key_pem,
        ca.cert_pem(),
        "OpenSSL Member",
        "x",
    )
    .unwrap();

    // Only a missing binary skips the check; a broken openssl fails the test.
    let version = match Command::new("openssl").arg("version").output() {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            println!("note: openssl is not on PATH; skipping the OpenSSL PKCS#12 check");
            return;
        }
        other => other.expect("openssl could not be started"),
    };
    assert!(version.status.success(), "`openssl version` failed");
    println!(
        "checking with {}",
        String::from_utf8_lossy(&version.stdout).trim()
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("member.p12");
    std::fs::write(&path, &p12).unwrap();
    let run = |password: &str, what: &[&str]| {
        Command::new("openssl")
            .args(["pkcs12", "-info", "-in"])
            .arg(&path)
            .args(["-passin", &format!("pass:{password}")])
            .args(what)
            .output()
            .unwrap()
    };

    let out = run("x", &["-nokeys"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openssl rejected the bundle:\n{stderr}"
    );
    assert!(stdout.contains("OpenSSL Member"), "{stdout}");
    assert_eq!(stdout.matches("BEGIN CERTIFICATE").count(), 2, "{stdout}");
    assert!(stderr.contains("AES-256-CBC"), "{stderr}");
    assert!(stderr.contains("MAC: sha256"), "{stderr}");

    assert!(!run("wrong", &["-nokeys"]).status.success());

    // OpenSSL also decrypts the key, and it is the member's key.
    let out = run("x", &["-nocerts", "-nodes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_pem = String::from_utf8(out.stdout).unwrap();
    assert!(key_matches_cert(&member.cert_pem, &key_pem).unwrap());
}

#[test]
fn a_signing_request_becomes_a_member_certificate_for_the_members_own_key() {
    let ca = CertificateAuthority::generate("Request CA", 30).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut asked = rcgen::CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
    asked
        .distinguished_name
        .push(rcgen::DnType::CommonName, "someone-else");
    let csr_pem = asked.serialize_request(&key).unwrap().pem().unwrap();

    let issued = ca.sign_request(&csr_pem, "rail-co", 30).unwrap();
    assert!(issued.key_pem.is_empty());
    // Our subject, not the one the request asked for; the member's own key.
    assert_eq!(issued.info.subject_cn.as_deref(), Some("rail-co"));
    assert!(key_matches_cert(&issued.cert_pem, &key.serialize_pem()).unwrap());
    assert!(crate::certs::issued_by(&issued.cert_pem, ca.cert_pem()).unwrap());
    let other = CertificateAuthority::generate("Other CA", 30).unwrap();
    assert!(!crate::certs::issued_by(&issued.cert_pem, other.cert_pem()).unwrap());

    assert!(ca.sign_request("not a request", "rail-co", 30).is_err());
}

/// A CA certificate signed by `parent`: a valid chain, but not a member.
fn sub_ca(parent: &CertificateAuthority) -> String {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Intermediate");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        parent.cert_pem(),
        rcgen::KeyPair::from_pem(parent.key_pem()).unwrap(),
    )
    .unwrap();
    params.signed_by(&key, &issuer).unwrap().pem()
}

/// A community CA whose own validity ended in 2021.
fn expired_ca() -> CertificateAuthority {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Old Community CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.self_signed(&key).unwrap();
    CertificateAuthority::from_pem(&cert.pem(), &key.serialize_pem()).unwrap()
}

fn problems(result: Result<CertInfo, CertError>) -> Vec<Problem> {
    match result {
        Err(CertError::Unusable(problems)) => problems,
        other => panic!("expected the certificate to be refused, got {other:?}"),
    }
}

#[test]
fn a_certificate_the_handshake_would_refuse_is_refused_at_registration_naming_why() {
    let ca = shared_ca();
    let other = CertificateAuthority::generate("Other CA", 30).unwrap();
    let now = Utc::now();
    let check = |pem: &str| check_member_certificate(pem, ca.cert_pem(), now);

    let good = ca.issue_client("Good Member", 30).unwrap();
    assert_eq!(check(&good.cert_pem).unwrap(), good.info);

    let expired = ca
        .issue_client_between("Late", now - Duration::days(10), now - Duration::days(1))
        .unwrap();
    let future = ca
        .issue_client_between("Early", now + Duration::days(1), now + Duration::days(10))
        .unwrap();
    let server_only = ca
        .issue_server(&["terminal.example".to_string()], 30)
        .unwrap();
    let intermediate = sub_ca(ca);
    let foreign = other.issue_client("Good Member", 30).unwrap();
    let cases: Vec<(&str, &str, Vec<Problem>, &str)> = vec![
        (
            "expired",
            &expired.cert_pem,
            vec![Problem::Expired {
                not_after: expired.info.not_after,
            }],
            "it expired on",
        ),
        (
            "not yet valid",
            &future.cert_pem,
            vec![Problem::NotYetValid {
                not_before: future.info.not_before,
            }],
            "it is not valid before",
        ),
        (
            "serverAuth only",
            &server_only.cert_pem,
            vec![Problem::NotForClientAuth {
                usages: vec!["serverAuth".into()],
            }],
            "it is not for client authentication (its extended key usage is serverAuth, without clientAuth)",
        ),
        (
            "an intermediate CA",
            &intermediate,
            vec![Problem::CertificateAuthority],
            "it is a CA certificate",
        ),
        (
            "the community CA itself",
            ca.cert_pem(),
            vec![Problem::CertificateAuthority],
            "it is a CA certificate",
        ),
        (
            "another CA's",
            &foreign.cert_pem,
            vec![Problem::ForeignIssuer],
            "it was not issued by the community CA",
        ),
    ];
    let verifier = client_verifier(ca, vec![]);
    for (what, pem, expected, text) in cases {
        let result = check(pem);
        let message = result.as_ref().unwrap_err().to_string();
        assert_eq!(problems(result), expected, "{what}");
        assert!(message.contains(text), "{what}: {message}");
        // The handshake refuses exactly these.
        assert!(verify_client(&*verifier, pem).is_err(), "{what}");
    }
    verify_client(&*verifier, &good.cert_pem).unwrap();

    // Every problem is named, not only the first.
    let both = other
        .issue_client_between("Late", now - Duration::days(10), now - Duration::days(1))
        .unwrap();
    let result = check(&both.cert_pem);
    let message = result.as_ref().unwrap_err().to_string();
    assert_eq!(
        problems(result),
        [
            Problem::ForeignIssuer,
            Problem::Expired {
                not_after: both.info.not_after
            }
        ]
    );
    assert!(
        message.contains("it was not issued by the community CA and it expired on"),
        "{message}"
    );
    assert!(matches!(
        check("not a certificate"),
        Err(CertError::InvalidCertificate(_))
    ));
}

#[test]
fn certificates_of_an_expired_community_ca_are_refused() {
    let old = expired_ca();
    let now = Utc::now();
    let member = old
        .issue_client_between("Member", now - Duration::days(1), now + Duration::days(1))
        .unwrap();
    let result = check_member_certificate(&member.cert_pem, old.cert_pem(), now);
    let message = result.as_ref().unwrap_err().to_string();
    assert!(matches!(
        problems(result)[..],
        [Problem::CommunityCaNotValid { .. }]
    ));
    assert!(
        message.contains("the community CA certificate itself is valid only from"),
        "{message}"
    );
    // Signing a request with it is refused the same way.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    assert!(matches!(
        old.sign_request(&csr, "member", 30),
        Err(CertError::Unusable(_))
    ));
}

#[test]
fn a_signing_request_for_a_ca_or_for_server_use_only_is_refused_naming_why() {
    let ca = shared_ca();
    let request = |params: rcgen::CertificateParams| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        params.serialize_request(&key).unwrap().pem().unwrap()
    };

    let mut as_ca = rcgen::CertificateParams::default();
    as_ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let err = ca.sign_request(&request(as_ca), "rail-co", 30).unwrap_err();
    assert!(
        matches!(&err, CertError::UnsuitableRequest(p) if p[..] == [Problem::CertificateAuthority]),
        "{err:?}"
    );
    assert!(err.to_string().contains("it is a CA certificate"), "{err}");

    let mut server = rcgen::CertificateParams::default();
    server.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let err = ca
        .sign_request(&request(server), "rail-co", 30)
        .unwrap_err();
    assert!(
        matches!(&err, CertError::UnsuitableRequest(p) if p[..] == [Problem::NotForClientAuth { usages: vec!["serverAuth".into()] }]),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("it is not for client authentication"),
        "{err}"
    );

    // Asking for clientAuth (among others), or for nothing, is fine; the
    // certificate is ours either way and passes the member check.
    let mut both = rcgen::CertificateParams::default();
    both.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    for params in [both, rcgen::CertificateParams::default()] {
        let issued = ca.sign_request(&request(params), "rail-co", 30).unwrap();
        check_member_certificate(&issued.cert_pem, ca.cert_pem(), Utc::now()).unwrap();
    }
}
