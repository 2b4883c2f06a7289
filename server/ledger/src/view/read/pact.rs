//! Who and what the pact is: its parameters, its members, its invites.

use super::ViewReader;
use super::rows::{self, decode};
use crate::entry::{DEFAULT_CLAIM_TTL_MS, DEFAULT_DEPS_CAP};
use crate::error::Result;
use crate::keys::MemberKey;
use crate::view::tables::{InviteRow, MemberRow, PACT_KEY, PactRow, ViewTable};

/// The pact's parameters and info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PactView {
    /// Name.
    pub name: String,
    /// Purpose.
    pub purpose: Option<String>,
    /// Claim TTL in ms of ledger time (the default when the pact set none).
    pub claim_ttl_ms: u64,
    /// Most deps an entry may carry (the default when the pact set none).
    pub deps_cap: u32,
    /// The creator.
    pub creator: MemberKey,
    /// Current indexers, sorted.
    pub indexers: Vec<MemberKey>,
}
/// Someone who is or was a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// Key.
    pub key: MemberKey,
    /// Handle derived from the key.
    pub handle: String,
    /// Active now.
    pub active: bool,
    /// The pact's creator.
    pub creator: bool,
    /// In the current indexer set.
    pub indexer: bool,
    /// Has consented to become an indexer.
    pub accepted_indexer: bool,
    /// Latest non-empty display name seen on its applied entries.
    pub display_name: Option<String>,
    /// Position of the op that (re-)admitted it.
    pub added_pos: u64,
    /// Position of its removal, if removed.
    pub removed_pos: Option<u64>,
}

/// A minted invite (only the nonce's hash is in the ledger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteView {
    /// Hash of the nonce.
    pub nonce_hash: Vec<u8>,
    /// Expiry, ledger time.
    pub expires_at_ms: u64,
    /// The minting indexer.
    pub issuer: MemberKey,
    /// The issuer's display name at minting.
    pub issuer_display: Option<String>,
    /// Position of the mint.
    pub minted_pos: u64,
    /// Ledger time of the mint.
    pub minted_at: u64,
    /// Revoked.
    pub revoked: bool,
    /// Who it admitted, once spent.
    pub spent_by: Option<MemberKey>,
    /// Ledger time of the spend.
    pub spent_at: Option<u64>,
    /// Revoked, spent, or expired by the `now_ms` it was read with.
    pub dead: bool,
}

impl ViewReader {
    pub(super) fn pact_row(&self) -> Result<Option<PactRow>> {
        self.rows(ViewTable::Pact)?.row(PACT_KEY)
    }

    /// The pact's parameters, once genesis is applied.
    pub fn pact(&self) -> Result<Option<PactView>> {
        let Some(p) = self.pact_row()? else {
            return Ok(None);
        };
        let corrupt = || rows::corrupt(ViewTable::Pact.name());
        let key = |b: &[u8]| MemberKey::from_slice(b).ok_or_else(corrupt);
        Ok(Some(PactView {
            creator: key(&p.creator)?,
            indexers: p.indexers.iter().map(|k| key(k)).collect::<Result<_>>()?,
            name: p.name,
            purpose: p.purpose,
            claim_ttl_ms: if p.claim_ttl_ms == 0 {
                DEFAULT_CLAIM_TTL_MS
            } else {
                p.claim_ttl_ms
            },
            deps_cap: if p.deps_cap == 0 {
                DEFAULT_DEPS_CAP
            } else {
                p.deps_cap
            },
        }))
    }

    /// Everyone who is or was a member, in key order.
    pub fn members(&self) -> Result<Vec<MemberView>> {
        let table = self.rows(ViewTable::Members)?;
        let indexers = self.pact_row()?.map(|p| p.indexers).unwrap_or_default();
        let mut out = Vec::new();
        for row in table.all()? {
            let (k, v) = row?;
            let key = MemberKey::from_slice(&k).ok_or_else(|| table.corrupt())?;
            let m: MemberRow = decode(ViewTable::Members.name(), &v)?;
            out.push(MemberView {
                key,
                handle: key.handle(),
                active: m.active,
                creator: m.creator,
                indexer: indexers.iter().any(|i| i.as_slice() == key.0),
                accepted_indexer: m.accepted_indexer,
                display_name: m.display_name.filter(|n| !n.is_empty()),
                added_pos: m.added_pos,
                removed_pos: m.removed_pos,
            });
        }
        Ok(out)
    }

    /// Every minted invite, in minting order; `dead` is judged at `now_ms`.
    pub fn invites(&self, now_ms: u64) -> Result<Vec<InviteView>> {
        let (order, invites) = (
            self.rows(ViewTable::InviteOrder)?,
            self.rows(ViewTable::Invites)?,
        );
        let mut out = Vec::new();
        for row in order.all()? {
            let (_, nonce_hash) = row?;
            let i: InviteRow = invites.row(&nonce_hash)?.ok_or_else(|| invites.corrupt())?;
            let key = |b: &[u8]| MemberKey::from_slice(b).ok_or_else(|| invites.corrupt());
            let spent_by = if i.spent_by.is_empty() {
                None
            } else {
                Some(key(&i.spent_by)?)
            };
            out.push(InviteView {
                dead: i.revoked || spent_by.is_some() || i.expires_at_ms <= now_ms,
                issuer: key(&i.issuer)?,
                nonce_hash,
                expires_at_ms: i.expires_at_ms,
                issuer_display: i.issuer_display,
                minted_pos: i.minted_pos,
                minted_at: i.minted_at,
                revoked: i.revoked,
                spent_by,
                spent_at: i.spent_at,
            });
        }
        Ok(out)
    }
}
