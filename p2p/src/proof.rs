//! Proof of pact membership over a connection (ARCHITECTURE.md, "Identity and trust"; spec
//! ledger.md, `Hello`): the peer signs, with its member key, a value both ends derive from the TLS
//! session by the exporter (RFC 8446, 7.5). The proof is worthless on any other connection, so a
//! peer that saw one cannot replay it, and a relay in the middle cannot forward it.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::Error;

/// The exporter label.
const LABEL: &[u8] = b"EXPORTER-openpact-membership/1";
/// What a member signs before the binding, so the signature means nothing elsewhere.
const DOMAIN: &[u8] = b"openpact membership proof v1\0";

/// The value both ends of `conn` derive for `pact`: 32 bytes from the TLS session's exporter.
pub fn session_binding(conn: &quinn::Connection, pact: &[u8; 32]) -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    conn.export_keying_material(&mut out, LABEL, pact)
        .map_err(|_| Error::Tls("the TLS session cannot export keying material".into()))?;
    Ok(out)
}

fn message(pact: &[u8; 32], binding: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 64);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(pact);
    m.extend_from_slice(binding);
    m
}

/// The member's proof for `pact` on the session of `binding`.
pub fn prove(member: &SigningKey, pact: &[u8; 32], binding: &[u8; 32]) -> [u8; 64] {
    member.sign(&message(pact, binding)).to_bytes()
}

/// Whether `proof` was made by `member` for `pact` on the session of `binding`.
pub fn verify(member: &[u8; 32], pact: &[u8; 32], binding: &[u8; 32], proof: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(member).is_ok_and(|k| {
        k.verify(&message(pact, binding), &Signature::from_bytes(proof))
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_holds_for_its_member_pact_and_session_only() {
        let member = SigningKey::from_bytes(&[3; 32]);
        let key = member.verifying_key().to_bytes();
        let (pact, binding) = ([1; 32], [2; 32]);
        let proof = prove(&member, &pact, &binding);
        assert!(verify(&key, &pact, &binding, &proof));
        assert!(!verify(&key, &[9; 32], &binding, &proof), "another pact");
        assert!(!verify(&key, &pact, &[9; 32], &proof), "another session");
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key().to_bytes();
        assert!(!verify(&other, &pact, &binding, &proof), "another member");
    }
}
