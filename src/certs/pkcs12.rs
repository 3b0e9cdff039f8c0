//! PKCS#12 bundles for handing a member its certificate, key and CA.

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};

use super::CertError;
use super::inspect::{all_cert_ders, first_cert_der, key_matches_der, parse_key};

/// PBKDF2 iterations for the encrypted contents and the integrity MAC.
const ITERATIONS: u32 = 10_000;

/// Builds a password-protected PKCS#12 (`.p12`/`.pfx`) bundle holding the
/// certificate, its private key and the CA certificate(s) from `ca_pem`.
///
/// The key and certificates are encrypted with PBES2 (PBKDF2 with
/// HMAC-SHA256, AES-256-CBC) and the file is protected by an HMAC-SHA256 MAC,
/// which OpenSSL 3, curl, Python and current browsers and operating systems
/// read. `friendly_name` becomes the key's alias (what importers show).
///
/// Fails if the key does not belong to the certificate.
pub fn pkcs12(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
    friendly_name: &str,
    password: &str,
) -> Result<Vec<u8>, CertError> {
    let leaf = first_cert_der(cert_pem)?;
    let key = parse_key(key_pem)?;
    if !key_matches_der(&leaf, &key)? {
        return Err(CertError::KeyMismatch);
    }
    let ca_chain = all_cert_ders(ca_pem)?;
    if ca_chain.is_empty() && !ca_pem.trim().is_empty() {
        return Err(CertError::InvalidCertificate(
            "no PEM CERTIFICATE block was found in the CA certificate".to_string(),
        ));
    }

    let bag_error = |err: p12_keystore::error::Error| CertError::Pkcs12(err.to_string());
    let mut chain = Vec::with_capacity(1 + ca_chain.len());
    chain.push(Certificate::from_der(&leaf).map_err(bag_error)?);
    for ca in &ca_chain {
        chain.push(Certificate::from_der(ca).map_err(bag_error)?);
    }
    let private_key = PrivateKey::from_der(&key.serialize_der()).map_err(bag_error)?;
    // The local key ID ties the key to its certificate inside the bundle;
    // the certificate's SHA-256 is unique and stable.
    let local_key_id = ring::digest::digest(&ring::digest::SHA256, &leaf)
        .as_ref()
        .to_vec();

    let mut store = KeyStore::new();
    store.add_entry(
        friendly_name,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, private_key, chain)),
    );
    store
        .writer(password)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(bag_error)
}
