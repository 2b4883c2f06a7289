//! A daemon's transport identity: its host ed25519 key, presented in TLS 1.3 as an RFC 7250 raw
//! public key (the SubjectPublicKeyInfo of the key, no X.509 certificate, no dates).

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::Error;

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (32 bytes) }. The key's 32 bytes follow it.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A daemon's host key. Cheap to clone.
#[derive(Clone)]
pub struct HostKey(Arc<SigningKey>);

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostKey({})", hex::encode(self.public()))
    }
}

impl HostKey {
    /// The key of a 32-byte seed (as stored in the data dir).
    pub fn from_seed(seed: [u8; 32]) -> HostKey {
        HostKey(Arc::new(SigningKey::from_bytes(&seed)))
    }

    /// A fresh key from the OS's randomness.
    pub fn generate() -> Result<HostKey, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::Identity(format!("no randomness for a host key: {e}")))?;
        Ok(HostKey::from_seed(seed))
    }

    /// The public key, as peers see it.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The key as rustls presents it: the raw public key and a signer for the handshake.
    pub(crate) fn certified(&self, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, Error> {
        let pkcs8 = self
            .0
            .to_pkcs8_der()
            .map_err(|e| Error::Identity(format!("cannot encode the host key: {e}")))?;
        let signer = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                pkcs8.as_bytes().to_vec(),
            )))
            .map_err(|e| Error::Identity(format!("the TLS stack refused the host key: {e}")))?;
        Ok(Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(spki_of(&self.public()).to_vec())],
            signer,
        )))
    }
}

/// The SubjectPublicKeyInfo of an Ed25519 public key.
pub fn spki_of(key: &[u8; 32]) -> [u8; 44] {
    let mut out = [0u8; 44];
    out[..12].copy_from_slice(&ED25519_SPKI_PREFIX);
    out[12..].copy_from_slice(key);
    out
}

/// The Ed25519 key inside a SubjectPublicKeyInfo, or `None` for anything else.
pub fn key_of_spki(spki: &[u8]) -> Option<[u8; 32]> {
    let key = spki.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    <[u8; 32]>::try_from(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_through_its_spki() {
        let key = HostKey::from_seed([7; 32]);
        let spki = spki_of(&key.public());
        assert_eq!(key_of_spki(&spki), Some(key.public()));
        assert_eq!(key_of_spki(&spki[..43]), None, "too short");
        let mut other = spki;
        other[8] = 0x71; // another algorithm's OID
        assert_eq!(key_of_spki(&other), None);
    }

    #[test]
    fn rustls_takes_the_key_and_presents_its_spki() {
        let provider = rustls::crypto::ring::default_provider();
        let key = HostKey::from_seed([9; 32]);
        let certified = key.certified(&provider).expect("certified");
        assert_eq!(key_of_spki(certified.cert[0].as_ref()), Some(key.public()));
        assert_eq!(
            certified.key.public_key().map(|k| k.as_ref().to_vec()),
            Some(spki_of(&key.public()).to_vec())
        );
    }
}
