//! System ops: membership, the indexer set, pact info, invites and fork reports
//! (spec/ledger.md, Settled details 4 to 7, sections 6.5 and 6.6). Authority is always checked by
//! member key: indexers may change membership, pact info and invites; any member may remove
//! itself, consent to become an indexer and report a fork.

use super::schema::{fork_proof, key32, new_member_key};
use super::{ApplyCtx, Fail, OpResult, member_id_keys, pact_row, put_member_ids};
use crate::code::Code;
use crate::keys::MemberKey;
use crate::view::tables::{InviteRow, MemberRow, PACT_KEY, PactRow, ViewTable, pos_key};
use crate::view::txn::ViewTxn;
use crate::wire;

/// Adds a member, or re-admits a removed one. Adding an active member changes nothing.
pub(super) fn add(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, a: &wire::AddMember) -> OpResult {
    indexer_pact(v, ctx)?;
    let key = new_member_key(&a.key)?;
    let old = member(v, &key)?;
    if old.as_ref().is_some_and(|m| m.active) {
        return Ok(());
    }
    // Short ids stay unique per pact: no other key that is or was a member may share them.
    for id in member_id_keys(&key) {
        if v.get(ViewTable::MemberIds, &id)?
            .is_some_and(|holder| holder != key.0)
        {
            return Err(Code::BadEntry.into());
        }
    }
    let old = old.unwrap_or_default();
    let row = MemberRow {
        active: true,
        added_pos: ctx.pos,
        from_seq: a.from_seq,
        removed_pos: None,
        accepted_indexer: false,
        display_name: old.display_name,
        creator: old.creator,
    };
    v.put_row(ViewTable::Members, &key.0, &row)?;
    put_member_ids(v, &key)?;
    Ok(())
}

/// Removes a member: by an indexer, or by the member itself. Indexers stay until the indexer
/// set no longer names them.
pub(super) fn remove(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, key: &[u8]) -> OpResult {
    let key = key32(key)?;
    let pact = pact_row(v)?;
    if key != ctx.author && !is_indexer(&pact, &ctx.author) {
        return Err(Code::NotIndexer.into());
    }
    let mut m = active_member(v, &key)?;
    if is_indexer(&pact, &key) {
        // Removing an indexer among several needs multi-indexer finality, which comes later.
        let code = if pact.indexers.len() == 1 {
            Code::LastIndexer
        } else {
            Code::NotSupportedYet
        };
        return Err(code.into());
    }
    m.active = false;
    m.removed_pos = Some(ctx.pos);
    v.put_row(ViewTable::Members, &key.0, &m)?;
    Ok(())
}

/// The author consents to become an indexer.
pub(super) fn accept_indexer(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>) -> OpResult {
    let mut m = active_member(v, &ctx.author)?;
    m.accepted_indexer = true;
    v.put_row(ViewTable::Members, &ctx.author.0, &m)?;
    Ok(())
}

/// Names the whole new indexer set. Only one indexer is supported for now.
pub(super) fn set_indexers(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, keys: &[Vec<u8>]) -> OpResult {
    let mut pact = indexer_pact(v, ctx)?;
    if keys.len() > 1 {
        return Err(Code::NotSupportedYet.into());
    }
    for k in keys {
        if !active_member(v, &key32(k)?)?.accepted_indexer {
            return Err(Code::NotConfirmed.into());
        }
    }
    let mut keys = keys.to_vec();
    keys.sort();
    pact.indexers = keys;
    v.put_row(ViewTable::Pact, PACT_KEY, &pact)?;
    Ok(())
}

/// Changes the pact's name, purpose or claim TTL.
pub(super) fn pact_info(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, p: &wire::PactInfo) -> OpResult {
    let mut pact = indexer_pact(v, ctx)?;
    if let Some(name) = &p.name {
        pact.name = name.value.clone().ok_or(Code::BadEntry)?;
    }
    if let Some(purpose) = &p.purpose {
        pact.purpose = purpose.value.clone();
    }
    if let Some(ttl) = p.claim_ttl_ms {
        pact.claim_ttl_ms = ttl;
    }
    v.put_row(ViewTable::Pact, PACT_KEY, &pact)?;
    Ok(())
}

/// Records a minted invite (only the nonce's hash).
pub(super) fn invite_mint(
    v: &mut ViewTxn<'_>,
    ctx: &ApplyCtx<'_>,
    m: &wire::InviteMint,
) -> OpResult {
    indexer_pact(v, ctx)?;
    if v.get(ViewTable::Invites, &m.nonce_hash)?.is_some() {
        return Err(Code::BadEntry.into());
    }
    let row = InviteRow {
        expires_at_ms: m.expires_at_ms,
        issuer: ctx.author.0.to_vec(),
        minted_pos: ctx.pos,
        minted_at: ctx.ledger_time(),
        issuer_display: m.issuer_display.clone(),
        revoked: false,
        spent_by: Vec::new(),
        spent_at: None,
    };
    v.put_row(ViewTable::Invites, &m.nonce_hash, &row)?;
    v.put(ViewTable::InviteOrder, &pos_key(ctx.pos), &m.nonce_hash)?;
    Ok(())
}

/// Revokes an invite (again, or after it was spent, changes nothing more).
pub(super) fn invite_revoke(
    v: &mut ViewTxn<'_>,
    ctx: &ApplyCtx<'_>,
    nonce_hash: &[u8],
) -> OpResult {
    indexer_pact(v, ctx)?;
    let mut row = invite(v, nonce_hash)?;
    row.revoked = true;
    v.put_row(ViewTable::Invites, nonce_hash, &row)?;
    Ok(())
}

/// Spends an invite for `key`, the member the following `AddMember` admits.
pub(super) fn redeem_invite(
    v: &mut ViewTxn<'_>,
    ctx: &ApplyCtx<'_>,
    nonce: &[u8],
    key: &[u8],
) -> OpResult {
    indexer_pact(v, ctx)?;
    let hash = super::invite_nonce_hash(nonce);
    let mut row = invite(v, &hash)?;
    if row.revoked {
        return Err(Code::InviteRevoked.into());
    }
    if row.spent_at.is_some() {
        return Err(Code::InviteSpent.into());
    }
    let now = ctx.ledger_time();
    if now >= row.expires_at_ms {
        return Err(Code::InviteExpired.into());
    }
    row.spent_by = key.to_vec();
    row.spent_at = Some(now);
    v.put_row(ViewTable::Invites, &hash, &row)?;
    Ok(())
}

/// Freezes the author of a proven fork from this position on.
pub(super) fn report_fork(
    v: &mut ViewTxn<'_>,
    ctx: &ApplyCtx<'_>,
    f: &wire::ReportFork,
) -> OpResult {
    let proof = fork_proof(f)?;
    if proof.pacts.iter().any(|p| p.as_slice() != ctx.pact.0) {
        return Err(Code::BadEntry.into());
    }
    if v.get(ViewTable::Frozen, &proof.author.0)?.is_none() {
        v.put(ViewTable::Frozen, &proof.author.0, &pos_key(ctx.pos))?;
    }
    Ok(())
}

fn is_indexer(pact: &PactRow, key: &MemberKey) -> bool {
    pact.indexers.iter().any(|k| k.as_slice() == key.0)
}

/// The pact row, if the author is an indexer; `NOT_INDEXER` otherwise.
fn indexer_pact(v: &ViewTxn<'_>, ctx: &ApplyCtx<'_>) -> Result<PactRow, Fail> {
    let pact = pact_row(v)?;
    if !is_indexer(&pact, &ctx.author) {
        return Err(Code::NotIndexer.into());
    }
    Ok(pact)
}

fn member(v: &ViewTxn<'_>, key: &MemberKey) -> Result<Option<MemberRow>, Fail> {
    Ok(v.get_row(ViewTable::Members, &key.0)?)
}

/// The row of an active member; `NOT_A_MEMBER` otherwise.
fn active_member(v: &ViewTxn<'_>, key: &MemberKey) -> Result<MemberRow, Fail> {
    match member(v, key)? {
        Some(m) if m.active => Ok(m),
        _ => Err(Code::NotAMember.into()),
    }
}

/// The invite with this nonce hash; `UNKNOWN_INVITE` otherwise.
fn invite(v: &ViewTxn<'_>, nonce_hash: &[u8]) -> Result<InviteRow, Fail> {
    Ok(v.get_row(ViewTable::Invites, nonce_hash)?
        .ok_or(Code::UnknownInvite)?)
}
