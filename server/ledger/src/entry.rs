//! The signed entry format: building, signing and strict verification.
//!
//! An entry is stored and sent as the bytes of a `SignedEntry`. Its hash is BLAKE3 (derive-key
//! mode, context [`ENTRY_CONTEXT`]) over the header bytes; the author signs
//! `"openpact/entry/v1\n" || header`. Verification here covers everything that needs no other
//! entry: encoding, signature, body hash, pact binding and the shape of deps and body. Whether
//! `prev` and deps exist, match and give the stated lamport is checked at ingest.

use openpact_proto::wire::v1 as wire;
use prost::Message as _;

use crate::error::Invalid;
use crate::keys::{EntryHash, MemberKey, PactId, Signer};

/// BLAKE3 derive-key context of entry hashes.
pub const ENTRY_CONTEXT: &str = "openpact 2026 entry header v1";
/// BLAKE3 derive-key context of body hashes.
pub const BODY_CONTEXT: &str = "openpact 2026 entry body v1";
/// Prefix of the signed message.
pub const SIGNATURE_PREFIX: &[u8] = b"openpact/entry/v1\n";
/// The only entry format version.
pub const VERSION: u32 = 1;
/// Largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Largest header accepted, in bytes (64 deps of ~80 bytes fit easily).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Deps cap when the pact does not set one.
pub const DEFAULT_DEPS_CAP: u32 = 64;
/// Claim TTL when the pact does not set one: 24 h.
pub const DEFAULT_CLAIM_TTL_MS: u64 = 86_400_000;
/// The shortest claim TTL a pact accepts, ms.
pub const MIN_CLAIM_TTL_MS: u64 = 1_000;

/// A reference to another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryRef {
    /// Its author.
    pub author: MemberKey,
    /// Its 0-based seq.
    pub seq: u64,
    /// Its hash.
    pub hash: EntryHash,
}

/// The decoded header fields of a verified entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Pact id; zero in genesis.
    pub pact: PactId,
    /// Author key.
    pub author: MemberKey,
    /// 0-based seq in the author's log.
    pub seq: u64,
    /// The author's previous entry, none iff seq is 0.
    pub prev: Option<EntryHash>,
    /// Other authors' heads seen at creation.
    pub deps: Vec<EntryRef>,
    /// Lamport number.
    pub lamport: u64,
    /// Indexer epoch the author believed current.
    pub epoch: u64,
    /// Round, on multi-indexer vertices only.
    pub round: Option<u64>,
    /// The author's clock, informational.
    pub time_ms: u64,
}

/// An entry whose encoding, signature and shape verified. Its chain and deps are checked at
/// ingest.
#[derive(Clone, Debug)]
pub struct VerifiedEntry {
    /// Its hash (the ledger's identity of it).
    pub hash: EntryHash,
    /// The `SignedEntry` bytes, exactly as received or built.
    pub bytes: Vec<u8>,
    /// The exact header bytes (what was signed).
    pub header_bytes: Vec<u8>,
    /// The 64-byte signature.
    pub signature: [u8; 64],
    /// Decoded header.
    pub header: Header,
    /// Decoded body.
    pub body: wire::Body,
}

impl VerifiedEntry {
    /// Whether this is a genesis entry (a `CreatePact` at seq 0).
    pub fn is_genesis(&self) -> bool {
        is_genesis_body(&self.body)
    }

    /// A reference to this entry.
    pub fn as_ref(&self) -> EntryRef {
        EntryRef {
            author: self.header.author,
            seq: self.header.seq,
            hash: self.hash,
        }
    }
}

/// BLAKE3 of header bytes: an entry's hash.
pub fn entry_hash(header_bytes: &[u8]) -> EntryHash {
    EntryHash(
        blake3::Hasher::new_derive_key(ENTRY_CONTEXT)
            .update(header_bytes)
            .finalize()
            .into(),
    )
}

fn body_hash(body_bytes: &[u8]) -> [u8; 32] {
    blake3::Hasher::new_derive_key(BODY_CONTEXT)
        .update(body_bytes)
        .finalize()
        .into()
}

fn signed_message(header_bytes: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNATURE_PREFIX.len() + header_bytes.len());
    msg.extend_from_slice(SIGNATURE_PREFIX);
    msg.extend_from_slice(header_bytes);
    msg
}

fn is_genesis_body(body: &wire::Body) -> bool {
    matches!(
        body.ops.as_slice(),
        [wire::Op {
            op: Some(wire::op::Op::CreatePact(_))
        }]
    )
}

/// Whether an op is an app op (one per entry, alone) rather than a system op.
pub fn is_app_op(op: &wire::op::Op) -> bool {
    use wire::op::Op;
    matches!(
        op,
        Op::Knowledge(_)
            | Op::TaskCreate(_)
            | Op::TaskClaim(_)
            | Op::TaskComplete(_)
            | Op::TaskRelease(_)
            | Op::Skill(_)
            | Op::Message(_)
    )
}

/// What the writer needs to build an entry; the signer fills in author and signature.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Pact id (zero for genesis).
    pub pact: PactId,
    /// 0-based seq.
    pub seq: u64,
    /// Previous entry of the author.
    pub prev: Option<EntryHash>,
    /// Deps, any order; sorted here.
    pub deps: Vec<EntryRef>,
    /// Lamport number.
    pub lamport: u64,
    /// Epoch.
    pub epoch: u64,
    /// Informational time.
    pub time_ms: u64,
    /// The body.
    pub body: wire::Body,
}

/// An encoded entry waiting for its signature. Its hash is already final: the hash covers the
/// header, not the signature, so a writer can chain further entries on it and sign them all at
/// once (in parallel) before storing.
#[derive(Clone, Debug)]
pub struct Unsigned {
    /// Its hash.
    pub hash: EntryHash,
    /// The exact header bytes (what gets signed).
    pub header_bytes: Vec<u8>,
    /// The exact body bytes.
    pub body_bytes: Vec<u8>,
    /// Decoded header.
    pub header: Header,
    /// Decoded body.
    pub body: wire::Body,
}

/// Encodes a draft by `author`. Deps are sorted and deduplicated here.
pub fn prepare(author: MemberKey, mut draft: Draft) -> Unsigned {
    draft.deps.sort();
    draft.deps.dedup();
    let body_bytes = draft.body.encode_to_vec();
    let header = wire::EntryHeader {
        version: VERSION,
        pact: draft.pact.0.to_vec(),
        author: author.0.to_vec(),
        seq: draft.seq,
        prev: draft.prev.map(|p| p.0.to_vec()).unwrap_or_default(),
        deps: draft
            .deps
            .iter()
            .map(|d| wire::EntryRef {
                author: d.author.0.to_vec(),
                seq: d.seq,
                hash: d.hash.0.to_vec(),
            })
            .collect(),
        lamport: draft.lamport,
        epoch: draft.epoch,
        round: None,
        time_ms: draft.time_ms,
        body_hash: body_hash(&body_bytes).to_vec(),
        body_len: body_bytes.len() as u32,
    };
    let header_bytes = header.encode_to_vec();
    Unsigned {
        hash: entry_hash(&header_bytes),
        header_bytes,
        body_bytes,
        header: Header {
            pact: draft.pact,
            author,
            seq: draft.seq,
            prev: draft.prev,
            deps: draft.deps,
            lamport: draft.lamport,
            epoch: draft.epoch,
            round: None,
            time_ms: draft.time_ms,
        },
        body: draft.body,
    }
}

impl Unsigned {
    fn encode_signed(&self, signature: &[u8; 64]) -> Vec<u8> {
        wire::SignedEntry {
            header: self.header_bytes.clone(),
            signature: signature.to_vec(),
            body: self.body_bytes.clone(),
        }
        .encode_to_vec()
    }

    /// The `SignedEntry` bytes with `signer`'s signature (which must be the author's).
    pub fn signed_bytes(&self, signer: &Signer) -> Vec<u8> {
        self.encode_signed(&signer.sign(&signed_message(&self.header_bytes)))
    }

    /// Signs it. The result verifies by construction.
    pub fn sign(self, signer: &Signer) -> VerifiedEntry {
        let signature = signer.sign(&signed_message(&self.header_bytes));
        VerifiedEntry {
            hash: self.hash,
            bytes: self.encode_signed(&signature),
            header_bytes: self.header_bytes,
            signature,
            header: self.header,
            body: self.body,
        }
    }
}

/// Encodes and signs a draft. The result verifies by construction.
pub fn sign(signer: &Signer, draft: Draft) -> VerifiedEntry {
    prepare(signer.public(), draft).sign(signer)
}

/// Decodes `bytes` and verifies everything that needs no other entry. `pact` is the pact the
/// entry must belong to: a genesis entry must hash to it, any other entry must name it.
pub fn verify(bytes: &[u8], pact: &PactId, deps_cap: u32) -> Result<VerifiedEntry, Invalid> {
    Verifier::default().verify(bytes, pact, deps_cap)
}

/// Verifies entries one by one like [`verify`], keeping each author's decoded public key: a
/// batch of one author's entries (what sync sends) decompresses that key once, not per entry.
/// The verdicts are exactly [`verify`]'s.
#[derive(Default)]
pub struct Verifier {
    keys: std::collections::HashMap<MemberKey, Option<ed25519_dalek::VerifyingKey>>,
}

impl Verifier {
    /// [`verify`], with this verifier's remembered keys.
    pub fn verify(
        &mut self,
        bytes: &[u8],
        pact: &PactId,
        deps_cap: u32,
    ) -> Result<VerifiedEntry, Invalid> {
        verify_with(bytes, pact, deps_cap, self)
    }

    /// [`verify_header`], with this verifier's remembered keys.
    pub fn verify_header(
        &mut self,
        header_bytes: &[u8],
        signature: &[u8],
    ) -> Result<(wire::EntryHeader, [u8; 64]), Invalid> {
        if header_bytes.len() > MAX_HEADER_BYTES {
            return Err(Invalid::Malformed("header too large"));
        }
        let header =
            wire::EntryHeader::decode(header_bytes).map_err(|_| Invalid::Malformed("header"))?;
        if header.encode_to_vec() != header_bytes {
            return Err(Invalid::Malformed("header not canonical"));
        }
        if header.version != VERSION {
            return Err(Invalid::Version(header.version));
        }
        let author = MemberKey::from_slice(&header.author).ok_or(Invalid::Malformed("author"))?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| Invalid::Malformed("signature length"))?;
        let vk = self
            .keys
            .entry(author)
            .or_insert_with(|| author.verifying_key())
            .as_ref()
            .ok_or(Invalid::Signature)?;
        vk.verify_strict(
            &signed_message(header_bytes),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .map_err(|_| Invalid::Signature)?;
        Ok((header, signature))
    }
}

fn verify_with(
    bytes: &[u8],
    pact: &PactId,
    deps_cap: u32,
    verifier: &mut Verifier,
) -> Result<VerifiedEntry, Invalid> {
    let signed =
        wire::SignedEntry::decode(bytes).map_err(|_| Invalid::Malformed("signed entry"))?;
    if signed.encode_to_vec() != bytes {
        return Err(Invalid::Malformed("signed entry not canonical"));
    }
    let (header, signature) = verifier.verify_header(&signed.header, &signed.signature)?;
    if signed.body.len() > MAX_BODY_BYTES || signed.body.len() != header.body_len as usize {
        return Err(Invalid::BodyHash);
    }
    if body_hash(&signed.body).as_slice() != header.body_hash.as_slice() {
        return Err(Invalid::BodyHash);
    }
    let body =
        wire::Body::decode(signed.body.as_slice()).map_err(|_| Invalid::Malformed("body"))?;
    if body.encode_to_vec() != signed.body {
        return Err(Invalid::Malformed("body not canonical"));
    }
    let header = check_header_shape(&header, deps_cap)?;
    let hash = entry_hash(&signed.header);
    check_body_shape(&body, &header)?;
    if is_genesis_body(&body) {
        if header.pact != PactId::default() || hash.0 != pact.0 {
            return Err(Invalid::Genesis);
        }
    } else if header.pact != *pact {
        return Err(Invalid::ForeignPact);
    }
    Ok(VerifiedEntry {
        hash,
        bytes: bytes.to_vec(),
        header_bytes: signed.header,
        signature,
        header,
        body,
    })
}

/// Decodes and signature-checks a header on its own (also used for fork proofs).
pub fn verify_header(
    header_bytes: &[u8],
    signature: &[u8],
) -> Result<(wire::EntryHeader, [u8; 64]), Invalid> {
    Verifier::default().verify_header(header_bytes, signature)
}

fn check_header_shape(h: &wire::EntryHeader, deps_cap: u32) -> Result<Header, Invalid> {
    let pact = PactId::from_slice(&h.pact).ok_or(Invalid::Malformed("pact"))?;
    let author = MemberKey::from_slice(&h.author).ok_or(Invalid::Malformed("author"))?;
    let prev = match (h.seq, h.prev.is_empty()) {
        (0, true) => None,
        (0, false) => return Err(Invalid::BrokenChain),
        (_, true) => return Err(Invalid::BrokenChain),
        (_, false) => Some(EntryHash::from_slice(&h.prev).ok_or(Invalid::Malformed("prev"))?),
    };
    if h.deps.len() > deps_cap as usize {
        return Err(Invalid::BadDeps);
    }
    let mut deps = Vec::with_capacity(h.deps.len());
    for d in &h.deps {
        let dep = EntryRef {
            author: MemberKey::from_slice(&d.author).ok_or(Invalid::Malformed("dep author"))?,
            seq: d.seq,
            hash: EntryHash::from_slice(&d.hash).ok_or(Invalid::Malformed("dep hash"))?,
        };
        if dep.author == author || deps.last().is_some_and(|last: &EntryRef| *last >= dep) {
            return Err(Invalid::BadDeps);
        }
        deps.push(dep);
    }
    if h.lamport == 0 {
        return Err(Invalid::Lamport {
            got: 0,
            expected: 1,
        });
    }
    if h.round.is_some() {
        // Wave-commit vertices come with multi-indexer finality; until then no entry has one.
        return Err(Invalid::Malformed("round not supported by this version"));
    }
    Ok(Header {
        pact,
        author,
        seq: h.seq,
        prev,
        deps,
        lamport: h.lamport,
        epoch: h.epoch,
        round: h.round,
        time_ms: h.time_ms,
    })
}

fn check_body_shape(body: &wire::Body, header: &Header) -> Result<(), Invalid> {
    use wire::op::Op;
    let mut app = 0;
    for op in &body.ops {
        let Some(op) = &op.op else {
            return Err(Invalid::Malformed("empty op"));
        };
        match op {
            Op::CreatePact(_)
                if body.ops.len() != 1 || header.seq != 0 || !header.deps.is_empty() =>
            {
                return Err(Invalid::Genesis);
            }
            Op::CreatePact(_) => {}
            op if is_app_op(op) => app += 1,
            _ => {}
        }
    }
    if app > 0 && body.ops.len() > 1 {
        return Err(Invalid::Body("an app op must be alone in its entry"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knowledge_body(topic: &str) -> wire::Body {
        wire::Body {
            ops: vec![wire::Op {
                op: Some(wire::op::Op::Knowledge(wire::Knowledge {
                    topic: topic.into(),
                    content: "c".into(),
                    ..Default::default()
                })),
            }],
            display_name: None,
        }
    }

    fn draft(pact: PactId) -> Draft {
        Draft {
            pact,
            seq: 1,
            prev: Some(EntryHash([7; 32])),
            deps: vec![],
            lamport: 2,
            epoch: 0,
            time_ms: 5,
            body: knowledge_body("t"),
        }
    }

    #[test]
    fn signed_entry_verifies_and_round_trips() {
        let s = Signer::from_seed([1; 32]);
        let pact = PactId([9; 32]);
        let e = sign(&s, draft(pact));
        let v = verify(&e.bytes, &pact, 64).expect("verifies");
        assert_eq!(v.hash, e.hash);
        assert_eq!(v.header, e.header);
        assert_eq!(v.body, e.body);
    }

    #[test]
    fn forged_signature_is_rejected() {
        let s = Signer::from_seed([1; 32]);
        let pact = PactId([9; 32]);
        let e = sign(&s, draft(pact));
        let mut signed = wire::SignedEntry::decode(e.bytes.as_slice()).expect("decodes");
        signed.signature[3] ^= 1;
        assert_eq!(
            verify(&signed.encode_to_vec(), &pact, 64).err(),
            Some(Invalid::Signature)
        );
        // Another key's signature over the same header does not pass either.
        let other = Signer::from_seed([2; 32]);
        signed.signature = other.sign(&signed_message(&signed.header)).to_vec();
        assert_eq!(
            verify(&signed.encode_to_vec(), &pact, 64).err(),
            Some(Invalid::Signature)
        );
    }

    #[test]
    fn a_reused_verifier_gives_the_verdicts_of_verify() {
        let pact = PactId([9; 32]);
        let (one, two) = (Signer::from_seed([1; 32]), Signer::from_seed([2; 32]));
        let good = sign(&one, draft(pact)).bytes;
        let mut forged = wire::SignedEntry::decode(good.as_slice()).expect("decodes");
        forged.signature[0] ^= 1;
        let forged = forged.encode_to_vec();
        let other = sign(&two, draft(pact)).bytes;
        // An author whose key is no curve point: its entries never verify, cached or not.
        let bad_key = (0u8..=255)
            .map(|b| MemberKey([b; 32]))
            .find(|k| k.verifying_key().is_none())
            .expect("some 32-byte string is not a point");
        let mut offkey = wire::SignedEntry::decode(other.as_slice()).expect("decodes");
        let mut header = wire::EntryHeader::decode(offkey.header.as_slice()).expect("header");
        header.author = bad_key.0.to_vec();
        offkey.header = header.encode_to_vec();
        offkey.signature = one.sign(&signed_message(&offkey.header)).to_vec();
        let offkey = offkey.encode_to_vec();

        let mut verifier = Verifier::default();
        for bytes in [&good, &forged, &other, &offkey, &good, &offkey, &forged] {
            assert_eq!(
                verifier.verify(bytes, &pact, 64).map(|e| e.hash),
                verify(bytes, &pact, 64).map(|e| e.hash),
                "same verdict for every entry, in any order"
            );
        }
        assert!(verifier.verify(&good, &pact, 64).is_ok());
        assert_eq!(
            verifier.verify(&forged, &pact, 64).err(),
            Some(Invalid::Signature)
        );
        assert_eq!(
            verifier.verify(&offkey, &pact, 64).err(),
            Some(Invalid::Signature)
        );
    }

    #[test]
    fn tampered_body_and_foreign_pact_are_rejected() {
        let s = Signer::from_seed([1; 32]);
        let pact = PactId([9; 32]);
        let e = sign(&s, draft(pact));
        let mut signed = wire::SignedEntry::decode(e.bytes.as_slice()).expect("decodes");
        signed.body = knowledge_body("u").encode_to_vec();
        assert_eq!(
            verify(&signed.encode_to_vec(), &pact, 64).err(),
            Some(Invalid::BodyHash)
        );
        assert_eq!(
            verify(&e.bytes, &PactId([8; 32]), 64).err(),
            Some(Invalid::ForeignPact)
        );
    }

    #[test]
    fn non_canonical_bytes_are_rejected() {
        let s = Signer::from_seed([1; 32]);
        let pact = PactId([9; 32]);
        let mut bytes = sign(&s, draft(pact)).bytes;
        // An unknown field appended to the outer message.
        bytes.extend_from_slice(&[0x20, 0x01]);
        assert!(matches!(
            verify(&bytes, &pact, 64),
            Err(Invalid::Malformed(_))
        ));
    }

    #[test]
    fn deps_over_the_cap_or_unsorted_are_rejected() {
        let s = Signer::from_seed([1; 32]);
        let pact = PactId([9; 32]);
        let mut d = draft(pact);
        d.deps = (0..3u8)
            .map(|i| EntryRef {
                author: MemberKey([i + 10; 32]),
                seq: 0,
                hash: EntryHash([i; 32]),
            })
            .collect();
        let e = sign(&s, d);
        assert!(verify(&e.bytes, &pact, 3).is_ok());
        assert_eq!(verify(&e.bytes, &pact, 2).err(), Some(Invalid::BadDeps));
        // Own author in deps.
        let mut d = draft(pact);
        d.deps = vec![EntryRef {
            author: s.public(),
            seq: 0,
            hash: EntryHash([1; 32]),
        }];
        assert_eq!(
            verify(&sign(&s, d).bytes, &pact, 64).err(),
            Some(Invalid::BadDeps)
        );
    }

    #[test]
    fn app_op_must_be_alone() {
        let s = Signer::from_seed([1; 32]);
        let pact = PactId([9; 32]);
        let mut d = draft(pact);
        d.body.ops.push(wire::Op {
            op: Some(wire::op::Op::AcceptIndexer(wire::AcceptIndexer {})),
        });
        assert!(matches!(
            verify(&sign(&s, d).bytes, &pact, 64),
            Err(Invalid::Body(_))
        ));
    }
}
