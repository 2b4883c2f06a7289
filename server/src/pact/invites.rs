//! Invites (spec/rest-api.md, section 11 and Decision 7): the ledger records a hash of each nonce,
//! its expiry and issuer; the minting daemon keeps the nonces themselves in a local file, so its
//! list can show them.

use std::collections::BTreeMap;

use base64::Engine as _;
use openpact_ledger::view::apply::invite_nonce_hash;
use openpact_ledger::wire::{self, op::Op};
use openpact_ledger::{Code, Outcome};
use openpact_proto::v1;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use openpact_ledger::MemberKey;

use super::admin::member_key;
use super::skills::write_atomic;
use super::{OpenPact, io_error, rfc3339};
use crate::error::{ApiError, Result};
use crate::net::Net;

/// The local nonce file inside a pact's directory (mode 0600).
pub const NONCES_FILE: &str = "invite-nonces.json";
/// Default invite lifetime: 7 days.
pub const DEFAULT_TTL_MS: u64 = 7 * 24 * 3600 * 1000;
const MIN_TTL_MS: u64 = 60_000;
const MAX_TTL_MS: u64 = 7_776_000_000;
/// Where share URLs point unless `OPENPACT_JOIN_BASE_URL` says otherwise.
const DEFAULT_JOIN_BASE: &str = "https://openpact.dev/join/";

/// The invite token (`v: 2`), base64url JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InviteToken {
    /// Format version, 2.
    pub v: u32,
    /// The pact id, 64 hex.
    pub pact_id: String,
    /// The nonce, 48 hex.
    pub nonce: String,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// Pact name.
    pub pact_name: Option<String>,
    /// Pact purpose.
    pub pact_purpose: Option<String>,
    /// The issuer's display name.
    pub issuer_display: Option<String>,
    /// The pact's discovery secret, 64 hex.
    pub secret: String,
    /// Current indexer keys, 64 hex each.
    pub indexers: Vec<String>,
    /// host:port hints.
    #[serde(default)]
    pub seeds: Vec<String>,
}

impl InviteToken {
    /// Encodes as base64url (no padding) JSON.
    pub fn encode(&self) -> Result<String> {
        let json = serde_json::to_vec(self)
            .map_err(|e| ApiError::internal(format!("cannot encode the invite: {e}")))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    }

    /// Decodes and checks the shape, or `INVITE_BAD_SHAPE`.
    pub fn decode(token: &str) -> Result<InviteToken> {
        let bad =
            |why: &str| ApiError::new(Code::InviteBadShape, format!("invalid invite token: {why}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim().trim_end_matches('='))
            .map_err(|_| bad("not base64url"))?;
        let t: InviteToken =
            serde_json::from_slice(&bytes).map_err(|_| bad("not an invite (JSON)"))?;
        if t.v != 2 {
            return Err(bad("unsupported version"));
        }
        if !is_hex(&t.pact_id, 64) {
            return Err(bad("bad pactId"));
        }
        if !is_hex(&t.nonce, 48) {
            return Err(bad("bad nonce"));
        }
        if humantime::parse_rfc3339_weak(&t.expires_at).is_err() {
            return Err(bad("bad expiresAt"));
        }
        Ok(t)
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn ms_of(rfc: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(rfc).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

impl OpenPact {
    fn nonces_path(&self) -> std::path::PathBuf {
        self.dir().join(NONCES_FILE)
    }

    fn read_nonces(&self) -> Result<BTreeMap<String, String>> {
        let path = self.nonces_path();
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                ApiError::internal(format!(
                    "{} is not valid JSON ({e}). Fix or move it; it was left as it is.",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_error(&path, &e)),
        }
    }

    /// Mints an invite: records it in the ledger, keeps the nonce locally, answers the token
    /// (with `seeds`, addresses where the joiner can reach the pact's peers).
    pub async fn mint_invite(
        &self,
        req: &v1::MintInviteRequest,
        seeds: Vec<String>,
    ) -> Result<v1::MintInviteResponse> {
        if !req.confirm {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "minting an invite needs confirm: true",
            ));
        }
        let ttl = match req.ttl_ms {
            0 => DEFAULT_TTL_MS,
            t if (MIN_TTL_MS..=MAX_TTL_MS).contains(&t) => t,
            t => {
                return Err(ApiError::bad_request(format!(
                    "ttl_ms must be between {MIN_TTL_MS} and {MAX_TTL_MS} (got {t})"
                )));
            }
        };
        let r = self.reader()?;
        if self.role(&r)? != Some("creator") {
            return Err(ApiError::new(
                Code::NotCreator,
                "Only the pact's creator can mint invites.",
            ));
        }
        let pact = r
            .pact()?
            .ok_or_else(|| ApiError::new(Code::PactNotReady, "the pact has no genesis yet"))?;
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce)
            .map_err(|e| ApiError::internal(format!("The OS random source failed: {e}")))?;
        let hash = invite_nonce_hash(&nonce);
        let expires = self.now() + ttl;
        let config = self.config();
        // The nonce is kept before the mint is appended: a crash in between leaves an unused
        // nonce in the file, never a minted invite whose nonce is lost.
        let mut nonces = self.read_nonces()?;
        nonces.insert(hex::encode(hash), hex::encode(nonce));
        let json = serde_json::to_vec_pretty(&nonces)
            .map_err(|e| ApiError::internal(format!("cannot encode nonces: {e}")))?;
        write_atomic(&self.nonces_path(), &json, 0o600)?;
        let done = self
            .append(vec![Op::InviteMint(wire::InviteMint {
                nonce_hash: hash.to_vec(),
                expires_at_ms: expires,
                issuer_display: config.display_name.clone(),
            })])
            .await?;
        if let Outcome::Rejected(code) = done.outcome {
            return Err(ApiError::new(
                code,
                format!("the invite was rejected: {code}"),
            ));
        }
        let secret = self.discovery_secret().unwrap_or_default();
        let token = InviteToken {
            v: 2,
            pact_id: self.id.to_hex(),
            nonce: hex::encode(nonce),
            expires_at: rfc3339(expires),
            pact_name: Some(pact.name),
            pact_purpose: pact.purpose,
            issuer_display: config.display_name,
            secret,
            indexers: pact.indexers.iter().map(|k| k.to_hex()).collect(),
            seeds,
        }
        .encode()?;
        let mut base = std::env::var("OPENPACT_JOIN_BASE_URL")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| DEFAULT_JOIN_BASE.to_string());
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(v1::MintInviteResponse {
            share_url: format!("{base}?invite={token}"),
            token,
            nonce: hex::encode(nonce),
            expires_at: rfc3339(expires),
        })
    }

    /// Every invite of the pact, from the ledger, with nonces where this daemon minted them.
    pub fn list_invites(&self) -> Result<Vec<v1::InviteSummary>> {
        let r = self.reader()?;
        let nonces = self.read_nonces()?;
        let name = r.pact()?.map(|p| p.name);
        Ok(r.invites(self.now())?
            .into_iter()
            .map(|i| {
                let h = hex::encode(&i.nonce_hash);
                v1::InviteSummary {
                    nonce: nonces
                        .get(&h)
                        .cloned()
                        .unwrap_or_else(|| h[..12].to_string()),
                    expires_at: rfc3339(i.expires_at_ms),
                    created_at: rfc3339(i.minted_at),
                    pact_name: name.clone(),
                    issuer_display: i.issuer_display,
                    revoked: i.revoked,
                    spent_at: i.spent_at.map(rfc3339),
                    spent_by: i.spent_by.map(|k| k.to_hex()),
                    dead: i.dead,
                }
            })
            .collect())
    }

    /// Revokes an invite by its nonce (idempotent).
    pub async fn revoke_invite(
        &self,
        req: &v1::RevokeInviteRequest,
    ) -> Result<v1::RevokeInviteResponse> {
        let nonce = req.nonce.to_ascii_lowercase();
        if !is_hex(&nonce, 48) {
            return Err(ApiError::bad_request("nonce must be 48-hex"));
        }
        if req.confirm.to_ascii_lowercase() != nonce {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "confirm must equal the nonce being revoked",
            ));
        }
        let r = self.reader()?;
        if self.role(&r)? != Some("creator") {
            return Err(ApiError::new(
                Code::NotCreator,
                "Only the pact's creator can revoke invites.",
            ));
        }
        let bytes =
            hex::decode(&nonce).map_err(|_| ApiError::bad_request("nonce must be 48-hex"))?;
        let hash = invite_nonce_hash(&bytes);
        let known = r
            .invites(self.now())?
            .into_iter()
            .find(|i| i.nonce_hash == hash);
        match known {
            None => {
                return Err(ApiError::new(
                    Code::UnknownInvite,
                    format!("no invite with nonce {nonce}"),
                ));
            }
            Some(i) if i.revoked => {}
            Some(_) => {
                let done = self
                    .append(vec![Op::InviteRevoke(wire::InviteRevoke {
                        nonce_hash: hash.to_vec(),
                    })])
                    .await?;
                if let Outcome::Rejected(code) = done.outcome {
                    return Err(ApiError::new(
                        code,
                        format!("the revocation was rejected: {code}"),
                    ));
                }
            }
        }
        Ok(v1::RevokeInviteResponse { ok: true, nonce })
    }

    /// Redeems `token` for `writer_key`: as the indexer when this daemon is one (one entry that
    /// spends the nonce and adds the member, so single use is decided by ledger order), else at
    /// an indexer reached over `net`.
    pub async fn redeem_invite(
        &self,
        req: &v1::RedeemInviteRequest,
        net: Option<&Arc<Net>>,
    ) -> Result<v1::RedeemInviteResponse> {
        if !req.confirm {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "redeeming needs confirm: true",
            ));
        }
        let key = member_key(&req.writer_key)
            .map_err(|e| ApiError::new(Code::InviteBadShape, e.message))?;
        let token = InviteToken::decode(&req.token)?;
        if token.pact_id != self.id.to_hex() {
            return Err(ApiError::new(
                Code::InviteWrongPact,
                "the invite is for another pact",
            ));
        }
        let r = self.reader()?;
        let is_indexer = r.pact()?.is_some_and(|p| p.indexers.contains(&self.me));
        if !is_indexer {
            return self.forward_redeem(req, &token, key, net).await;
        }
        let nonce = hex::decode(&token.nonce)
            .map_err(|_| ApiError::new(Code::InviteBadShape, "invalid invite token: bad nonce"))?;
        let hash = invite_nonce_hash(&nonce);
        let now = self.now();
        let invite = r
            .invites(now)?
            .into_iter()
            .find(|i| i.nonce_hash == hash)
            .ok_or_else(|| ApiError::new(Code::UnknownInvite, "no such invite in this pact"))?;
        if invite.revoked {
            return Err(ApiError::new(Code::InviteRevoked, "the invite was revoked"));
        }
        if invite.spent_by.is_some() {
            return Err(ApiError::new(
                Code::InviteSpent,
                "the invite was already used",
            ));
        }
        if invite.expires_at_ms <= now || ms_of(&token.expires_at).is_some_and(|e| e <= now) {
            return Err(ApiError::new(
                Code::InviteExpired,
                format!(
                    "the invite expired at {}. Ask {} for a fresh one.",
                    rfc3339(invite.expires_at_ms),
                    invite
                        .issuer_display
                        .unwrap_or_else(|| "its issuer".to_string())
                ),
            ));
        }
        let from_seq = r
            .frontier()?
            .into_iter()
            .find(|(k, _, _)| *k == key)
            .map_or(0, |(_, seq, _)| seq + 1)
            .max(req.writer_next_seq);
        let done = self
            .append(vec![
                Op::RedeemInvite(wire::RedeemInvite { nonce }),
                Op::AddMember(wire::AddMember {
                    key: key.0.to_vec(),
                    from_seq,
                }),
            ])
            .await?;
        match done.outcome {
            Outcome::Applied => Ok(v1::RedeemInviteResponse {
                ok: true,
                nonce: token.nonce,
            }),
            Outcome::Rejected(code) => Err(ApiError::new(
                code,
                format!("the redeem was rejected: {code}"),
            )),
            Outcome::Dropped(r) => Err(ApiError::new(
                Code::NotAMember,
                format!("the redeem was dropped ({})", r.as_str()),
            )),
        }
    }

    /// A redeem for a daemon that is not an indexer: presented over QUIC to an indexer the token
    /// names, reached through this pact's live peers or the token's seed hints.
    async fn forward_redeem(
        &self,
        req: &v1::RedeemInviteRequest,
        token: &InviteToken,
        key: MemberKey,
        net: Option<&Arc<Net>>,
    ) -> Result<v1::RedeemInviteResponse> {
        let net = net.ok_or_else(|| {
            ApiError::new(
                Code::NoIndexerReachable,
                "This daemon is not an indexer and runs without a peer network, so it cannot reach one.",
            )
        })?;
        let mut addrs: Vec<std::net::SocketAddr> = net
            .peers()
            .into_iter()
            .filter(|p| p.pact == self.id)
            .map(|p| p.addr)
            .collect();
        let seeds = crate::discovery::resolve(&token.seeds).await;
        if let Ok(secret) = hex::decode(&token.secret) {
            let topic = openpact_p2p::rendezvous::topic_of(&secret);
            addrs.extend(crate::discovery::lookup_once(net, &seeds, topic).await);
        }
        addrs.extend(seeds);
        addrs.sort_unstable();
        addrs.dedup();
        let indexers = token
            .indexers
            .iter()
            .filter_map(|k| MemberKey::from_hex(k).map(|k| k.0))
            .collect();
        let (nonce, _) = net
            .redeem_remote(
                self.id,
                indexers,
                addrs,
                req.token.clone(),
                key,
                req.writer_next_seq,
            )
            .await?;
        Ok(v1::RedeemInviteResponse { ok: true, nonce })
    }
}
