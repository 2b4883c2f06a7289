//! Tasks (spec/rest-api.md, section 12): create, then claim, complete and release, judged in
//! ledger order. Who holds a claim follows ledger time and the pact's claim TTL, so the ledger
//! time is read only where a claim's age matters or a claim starts.

use super::{ApplyCtx, Fail, OpResult, add_ref, index_kind, pact_row};
use crate::code::Code;
use crate::error::Error;
use crate::view::tables::{Kind, TaskRow, TaskStatus, ViewTable, prefixed_pos};
use crate::view::txn::ViewTxn;
use crate::wire;

/// Creates the task under the entry's own API id.
pub(super) fn create(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, t: &wire::TaskCreate) -> OpResult {
    let id = ctx.api_id.as_bytes();
    // The reconciler hands every app entry a fresh id; anything else is a bug upstream.
    if id.is_empty() || v.get(ViewTable::Tasks, id)?.is_some() {
        return Err(Code::Internal.into());
    }
    let row = TaskRow {
        status: TaskStatus::Open as u32,
        created_pos: ctx.pos,
        claimed_by: Vec::new(),
        claimed_at: 0,
        claim_entry: Vec::new(),
        result: None,
        assigned_to: t.assigned_to.clone(),
        title: t.title.clone(),
        last_entry: ctx.hash.0.to_vec(),
    };
    v.put_row(ViewTable::Tasks, id, &row)?;
    v.put(
        ViewTable::TaskStatus,
        &prefixed_pos(&[TaskStatus::Open as u8], ctx.pos),
        id,
    )?;
    index_kind(v, ctx, Kind::Task)?;
    Ok(())
}

/// Claims an open task, or one whose claim has expired by this entry's ledger time.
pub(super) fn claim(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, id: &str) -> OpResult {
    let (mut row, status) = load(v, id)?;
    if row
        .assigned_to
        .as_deref()
        .is_some_and(|a| a != ctx.author.handle())
    {
        return Err(Code::NotAssignee.into());
    }
    match status {
        TaskStatus::Complete => return Err(Code::TaskNotOpen.into()),
        TaskStatus::Claimed if !expired(v, ctx, &row)? => {
            return Err(Code::TaskAlreadyClaimed.into());
        }
        _ => {}
    }
    row.claimed_by = ctx.author.0.to_vec();
    row.claimed_at = ctx.ledger_time();
    row.claim_entry = ctx.hash.0.to_vec();
    save(v, ctx, id, row, status, TaskStatus::Claimed)
}

/// Completes a task: from open (skip-claim), from an expired claim (by anyone), or from an
/// active claim by its claimer.
pub(super) fn complete(
    v: &mut ViewTxn<'_>,
    ctx: &ApplyCtx<'_>,
    id: &str,
    result: Option<&str>,
) -> OpResult {
    let (mut row, status) = load(v, id)?;
    let keep_claim = match status {
        TaskStatus::Complete => return Err(Code::TaskAlreadyComplete.into()),
        TaskStatus::Open => false,
        TaskStatus::Claimed => {
            if expired(v, ctx, &row)? {
                false
            } else if row.claimed_by != ctx.author.0 {
                return Err(Code::NotClaimer.into());
            } else {
                true
            }
        }
    };
    if !keep_claim {
        clear_claim(&mut row);
    }
    row.result = result.map(str::to_owned);
    save(v, ctx, id, row, status, TaskStatus::Complete)
}

/// Releases a claim: only the active claimer, and only before the claim expires.
pub(super) fn release(v: &mut ViewTxn<'_>, ctx: &ApplyCtx<'_>, id: &str) -> OpResult {
    let (mut row, status) = load(v, id)?;
    if status != TaskStatus::Claimed || expired(v, ctx, &row)? {
        return Err(Code::NotClaimed.into());
    }
    if row.claimed_by != ctx.author.0 {
        return Err(Code::NotClaimer.into());
    }
    clear_claim(&mut row);
    save(v, ctx, id, row, status, TaskStatus::Open)
}

/// The task with this id and its status, or `NOT_FOUND`.
fn load(v: &ViewTxn<'_>, id: &str) -> Result<(TaskRow, TaskStatus), Fail> {
    let row: TaskRow = v
        .get_row(ViewTable::Tasks, id.as_bytes())?
        .ok_or(Code::NotFound)?;
    let status = u8::try_from(row.status)
        .ok()
        .and_then(TaskStatus::from_u8)
        .ok_or_else(|| Error::Corrupt(format!("status of task {id}")))?;
    Ok((row, status))
}

/// Whether the claim on a claimed task has run past the TTL by this entry's ledger time.
fn expired(v: &ViewTxn<'_>, ctx: &ApplyCtx<'_>, row: &TaskRow) -> Result<bool, Fail> {
    let ttl = pact_row(v)?.claim_ttl_ms;
    Ok(ctx.ledger_time() > row.claimed_at.saturating_add(ttl))
}

fn clear_claim(row: &mut TaskRow) {
    row.claimed_by.clear();
    row.claimed_at = 0;
    row.claim_entry.clear();
}

/// Writes a task's new state: its row, its status index row, and the state-change entry's kind
/// and reference to the task.
fn save(
    v: &mut ViewTxn<'_>,
    ctx: &ApplyCtx<'_>,
    id: &str,
    mut row: TaskRow,
    old: TaskStatus,
    new: TaskStatus,
) -> OpResult {
    if old != new {
        v.delete(
            ViewTable::TaskStatus,
            &prefixed_pos(&[old as u8], row.created_pos),
        )?;
        v.put(
            ViewTable::TaskStatus,
            &prefixed_pos(&[new as u8], row.created_pos),
            id.as_bytes(),
        )?;
    }
    row.status = new as u32;
    row.last_entry = ctx.hash.0.to_vec();
    v.put_row(ViewTable::Tasks, id.as_bytes(), &row)?;
    index_kind(v, ctx, Kind::Task)?;
    add_ref(v, ctx, id)?;
    Ok(())
}
