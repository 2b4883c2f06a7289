//! `apply`: the pure, deterministic function from (view state, entry at a position) to (new view
//! state, outcome). It sees the view only through [`ViewTxn`] and the entry only through
//! [`ApplyCtx`]: no clock, no randomness, no I/O. Time comes from the ledger (the committing
//! anchor's timestamp), and reading it marks the entry time-sensitive so the reconciler re-applies
//! it if its ledger time changes at confirmation.
//!
//! An entry first passes the writer checks (frozen, not a member, stale seq: `Dropped`), then the
//! static schema check ([`check_body`]), then its ops run in order, all-or-nothing: the first op
//! that fails rolls the entry back to where it started and gives `Rejected(code)`. Bad input never
//! makes apply fail; only storage does.

mod members;
mod schema;
mod tasks;
#[cfg(test)]
mod tests;

use std::cell::Cell;

use crate::code::{Code, DropReason, Outcome};
use crate::entry::{DEFAULT_CLAIM_TTL_MS, DEFAULT_DEPS_CAP};
use crate::error::{Error, Result};
use crate::keys::{EntryHash, MemberKey, PactId};
use crate::view::tables::{
    Kind, MEMBER_ID_HANDLE, MEMBER_ID_PREFIX, MemberRow, PACT_KEY, PactRow, SkillFormat, ViewTable,
    lp, prefixed_pos,
};
use crate::view::txn::ViewTxn;
use crate::wire;
use crate::wire::op::Op;

pub use schema::{check_body, is_skill_name, skill_checksum};

/// BLAKE3 derive-key context of invite nonce hashes.
const INVITE_NONCE_CONTEXT: &str = "openpact 2026 invite nonce v1";

/// Everything apply may know about the entry it applies.
pub struct ApplyCtx<'a> {
    /// Its position in the order.
    pub pos: u64,
    /// Its hash.
    pub hash: EntryHash,
    /// Its author.
    pub author: MemberKey,
    /// Its 0-based seq in the author's log.
    pub seq: u64,
    /// Its API id (empty for genesis).
    pub api_id: &'a str,
    /// The pact.
    pub pact: PactId,
    /// Its ops.
    pub body: &'a wire::Body,
    ledger_time: u64,
    time_read: Cell<bool>,
}

impl<'a> ApplyCtx<'a> {
    /// A context for applying one entry with the given ledger time.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pos: u64,
        hash: EntryHash,
        author: MemberKey,
        seq: u64,
        api_id: &'a str,
        pact: PactId,
        body: &'a wire::Body,
        ledger_time: u64,
    ) -> Self {
        ApplyCtx {
            pos,
            hash,
            author,
            seq,
            api_id,
            pact,
            body,
            ledger_time,
            time_read: Cell::new(false),
        }
    }

    /// The ledger time this entry is judged by. Reading it makes the entry time-sensitive.
    pub fn ledger_time(&self) -> u64 {
        self.time_read.set(true);
        self.ledger_time
    }

    /// Whether apply read the ledger time.
    pub fn time_sensitive(&self) -> bool {
        self.time_read.get()
    }
}

/// What applying an entry did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The outcome.
    pub outcome: Outcome,
    /// The new indexer set, when an applied `SetIndexers` op changed it. The finalizer switches
    /// to it once this entry is confirmed.
    pub new_indexers: Option<Vec<MemberKey>>,
}

impl Applied {
    fn outcome(outcome: Outcome) -> Self {
        Applied {
            outcome,
            new_indexers: None,
        }
    }
}

/// The hash under which an invite nonce is minted, redeemed and revoked (only the hash is in the
/// ledger; the 24-byte nonce travels in the token).
pub fn invite_nonce_hash(nonce: &[u8]) -> [u8; 32] {
    blake3::Hasher::new_derive_key(INVITE_NONCE_CONTEXT)
        .update(nonce)
        .finalize()
        .into()
}

/// Why an op did not take effect.
enum Fail {
    /// The op is refused: the entry is rejected with this code.
    Reject(Code),
    /// Storage failed.
    Storage(Error),
}

impl From<Code> for Fail {
    fn from(c: Code) -> Self {
        Fail::Reject(c)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Storage(e)
    }
}

/// What an op gives back.
type OpResult = std::result::Result<(), Fail>;

/// Applies the entry in `ctx` at `ctx.pos`. Never fails for bad input: a bad entry gets an
/// outcome. Errors are storage errors only.
pub fn apply_entry(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>) -> Result<Applied> {
    let Some(pact) = v.get_row::<PactRow>(ViewTable::Pact, PACT_KEY)? else {
        if let Some(cp) = genesis_op(ctx.body) {
            return genesis(v, ctx, cp);
        }
        // Before genesis nobody is a member.
        return Ok(Applied::outcome(Outcome::Dropped(DropReason::NotMember)));
    };
    if let Some(reason) = drop_reason(v, ctx)? {
        return Ok(Applied::outcome(Outcome::Dropped(reason)));
    }
    if let Err(code) = check_body(ctx.body) {
        return Ok(Applied::outcome(Outcome::Rejected(code)));
    }
    let sp = v.savepoint();
    for (i, op) in ctx.body.ops.iter().enumerate() {
        match apply_op(v, ctx, i, op) {
            Ok(()) => {}
            Err(Fail::Reject(code)) => {
                v.rollback_to(sp)?;
                return Ok(Applied::outcome(Outcome::Rejected(code)));
            }
            Err(Fail::Storage(e)) => return Err(e),
        }
    }
    set_display_name(v, ctx)?;
    let after = pact_row(v)?;
    let new_indexers = (after.indexers != pact.indexers).then(|| {
        after
            .indexers
            .iter()
            .filter_map(|k| MemberKey::from_slice(k))
            .collect()
    });
    Ok(Applied {
        outcome: Outcome::Applied,
        new_indexers,
    })
}

/// The `CreatePact` of a genesis body (exactly that one op).
fn genesis_op(body: &wire::Body) -> Option<&wire::CreatePact> {
    match body.ops.as_slice() {
        [op] => match &op.op {
            Some(Op::CreatePact(cp)) => Some(cp),
            _ => None,
        },
        _ => None,
    }
}

/// The genesis entry: the pact row and its creator, the first member and indexer.
fn genesis(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, cp: &wire::CreatePact) -> Result<Applied> {
    if let Err(code) = check_body(ctx.body) {
        return Ok(Applied::outcome(Outcome::Rejected(code)));
    }
    let params = cp.params.clone().unwrap_or_default();
    let author = ctx.author.0.to_vec();
    let pact = PactRow {
        name: params.name,
        purpose: params.purpose,
        claim_ttl_ms: match params.claim_ttl_ms {
            0 => DEFAULT_CLAIM_TTL_MS,
            n => n,
        },
        deps_cap: match params.deps_cap {
            0 => DEFAULT_DEPS_CAP,
            n => n,
        },
        creator: author.clone(),
        indexers: vec![author],
    };
    v.put_row(ViewTable::Pact, PACT_KEY, &pact)?;
    let member = MemberRow {
        active: true,
        added_pos: ctx.pos,
        from_seq: 0,
        removed_pos: None,
        accepted_indexer: true,
        display_name: None,
        creator: true,
    };
    v.put_row(ViewTable::Members, &ctx.author.0, &member)?;
    put_member_ids(v, &ctx.author)?;
    set_display_name(v, ctx)?;
    Ok(Applied::outcome(Outcome::Applied))
}

/// Why the entry's author may not write at its position, if it may not.
fn drop_reason(v: &ViewTxn<'_>, ctx: &ApplyCtx<'_>) -> Result<Option<DropReason>> {
    if let Some(at) = v.get(ViewTable::Frozen, &ctx.author.0)? {
        let at: [u8; 8] = at
            .as_slice()
            .try_into()
            .map_err(|_| Error::Corrupt("frozen row".into()))?;
        if u64::from_be_bytes(at) <= ctx.pos {
            return Ok(Some(DropReason::Frozen));
        }
    }
    let member = v.get_row::<MemberRow>(ViewTable::Members, &ctx.author.0)?;
    Ok(match member {
        Some(m) if m.active && ctx.seq < m.from_seq => Some(DropReason::Stale),
        Some(m) if m.active => None,
        _ => Some(DropReason::NotMember),
    })
}

/// Runs op `i` of the entry.
fn apply_op(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, i: usize, op: &wire::Op) -> OpResult {
    let Some(op) = &op.op else {
        return Err(Code::BadEntry.into());
    };
    match op {
        // Genesis is handled before any op runs; a CreatePact here is a second genesis.
        Op::CreatePact(_) => Err(Code::BadEntry.into()),
        Op::Knowledge(k) => {
            index_kind(v, ctx, Kind::Knowledge)?;
            v.put(ViewTable::Topic, &prefixed_pos(&lp(&k.topic), ctx.pos), &[])?;
            Ok(())
        }
        Op::TaskCreate(t) => tasks::create(v, ctx, t),
        Op::TaskClaim(t) => tasks::claim(v, ctx, &t.task_id),
        Op::TaskComplete(t) => tasks::complete(v, ctx, &t.task_id, t.result.as_deref()),
        Op::TaskRelease(t) => tasks::release(v, ctx, &t.task_id),
        Op::Skill(s) => {
            let format = SkillFormat::from_name(&s.format).ok_or(Code::BadEntry)?;
            index_kind(v, ctx, Kind::Skill)?;
            v.put(
                ViewTable::SkillFormat,
                &prefixed_pos(&[format as u8], ctx.pos),
                &[],
            )?;
            Ok(())
        }
        Op::Message(m) => {
            index_kind(v, ctx, Kind::Message)?;
            v.put(
                ViewTable::MessageAuthor,
                &prefixed_pos(&ctx.author.0, ctx.pos),
                &[],
            )?;
            let to = m.to.as_deref().unwrap_or("*");
            v.put(
                ViewTable::MessageRecipient,
                &prefixed_pos(&lp(to), ctx.pos),
                &[],
            )?;
            if let Some(target) = &m.reply_to {
                add_ref(v, ctx, target)?;
            }
            Ok(())
        }
        Op::AddMember(a) => members::add(v, ctx, a),
        Op::RemoveMember(r) => members::remove(v, ctx, &r.key),
        Op::AcceptIndexer(_) => members::accept_indexer(v, ctx),
        Op::SetIndexers(s) => members::set_indexers(v, ctx, &s.keys),
        Op::PactInfo(p) => members::pact_info(v, ctx, p),
        Op::InviteMint(m) => members::invite_mint(v, ctx, m),
        Op::InviteRevoke(r) => members::invite_revoke(v, ctx, &r.nonce_hash),
        Op::RedeemInvite(r) => {
            // check_body made sure an AddMember follows; it is the member the invite pays for.
            let Some(wire::Op {
                op: Some(Op::AddMember(add)),
            }) = ctx.body.ops.get(i + 1)
            else {
                return Err(Code::BadEntry.into());
            };
            members::redeem_invite(v, ctx, &r.nonce, &add.key)
        }
        Op::ReportFork(f) => members::report_fork(v, ctx, f),
    }
}

/// Notes an applied app entry under its kind.
fn index_kind(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, kind: Kind) -> Result<()> {
    v.put(
        ViewTable::ByKind,
        &prefixed_pos(&[kind as u8], ctx.pos),
        &[],
    )
}

/// Notes that the entry refers to the entry with API id `target`.
fn add_ref(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, target: &str) -> Result<()> {
    v.put(ViewTable::Refs, &prefixed_pos(&lp(target), ctx.pos), &[])
}

/// The pact row, which exists from genesis on.
fn pact_row(v: &ViewTxn<'_>) -> Result<PactRow> {
    v.get_row(ViewTable::Pact, PACT_KEY)?
        .ok_or_else(|| Error::Corrupt("no pact row".into()))
}

/// The short-id keys a member takes in [`ViewTable::MemberIds`]: its 8-hex prefix and its handle.
fn member_id_keys(key: &MemberKey) -> [Vec<u8>; 2] {
    let mut prefix = vec![MEMBER_ID_PREFIX];
    prefix.extend_from_slice(&key.0[..4]);
    let mut handle = vec![MEMBER_ID_HANDLE];
    handle.extend_from_slice(&crate::keys::handle_parts(key));
    [prefix, handle]
}

fn put_member_ids(v: &mut ViewTxn<'_>, key: &MemberKey) -> Result<()> {
    for id in member_id_keys(key) {
        v.put(ViewTable::MemberIds, &id, &key.0)?;
    }
    Ok(())
}

/// Keeps the latest non-empty display name the author gave on an applied entry.
fn set_display_name(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>) -> Result<()> {
    let Some(name) = ctx.body.display_name.as_deref().filter(|n| !n.is_empty()) else {
        return Ok(());
    };
    let Some(mut m) = v.get_row::<MemberRow>(ViewTable::Members, &ctx.author.0)? else {
        return Ok(());
    };
    if m.display_name.as_deref() != Some(name) {
        m.display_name = Some(name.to_owned());
        v.put_row(ViewTable::Members, &ctx.author.0, &m)?;
    }
    Ok(())
}
