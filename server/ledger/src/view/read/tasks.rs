//! Task reads: the task state apply keeps, shown with local-clock claim expiry
//! (spec/rest-api.md, section 12; ledger.md, Settled details 2).
//!
//! Apply decides who holds a claim by ledger time. Reads additionally show a claim whose TTL has
//! passed by the *local* clock as open, with `expired_at`, as v0.1.4 does; the next claim's
//! outcome is still apply's to decide.

use super::rows::{Entries, Merge, Rows, format_cursor, parse_cursor};
use super::{EntryView, Order, Page, ViewReader, check_limit};
use crate::code::Outcome;
use crate::entry::DEFAULT_CLAIM_TTL_MS;
use crate::error::Result;
use crate::keys::MemberKey;
use crate::view::tables::{Kind, TaskRow, TaskStatus, ViewTable, lp};
use crate::wire;

/// The member holding a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimer {
    /// Its key.
    pub key: MemberKey,
    /// Its handle.
    pub handle: String,
}

/// A task as the API shows it (the TaskState object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskView {
    /// The task id: the API id of its create entry.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description, if the create gave one.
    pub description: Option<String>,
    /// Status, with a claim past its TTL by the local clock shown as open.
    pub status: TaskStatus,
    /// Who holds the claim in force (`None` once it expired by the local clock).
    pub claimed_by: Option<Claimer>,
    /// Ledger time of the claim, kept when it expired by the local clock.
    pub claimed_at: Option<u64>,
    /// When the claim expired by the local clock (`claimed_at + ttl`).
    pub expired_at: Option<u64>,
    /// Handle the task is assigned to.
    pub assigned_to: Option<String>,
    /// Result given at completion.
    pub result: Option<String>,
    /// The create entry.
    pub created: EntryView,
    /// Latest author time in the history.
    pub updated_at: u64,
    /// The create and every applied state change, in ledger order.
    pub history: Vec<EntryView>,
    /// Whether the last entry of the history is confirmed.
    pub confirmed: bool,
    /// Outcome of the last entry of the history.
    pub outcome: Outcome,
}

/// What the list filter and the view agree a row's status is.
struct Effective {
    status: TaskStatus,
    claimed_by: Option<MemberKey>,
    claimed_at: Option<u64>,
    expired_at: Option<u64>,
}

fn effective(row: &TaskRow, tasks: &Rows, ttl: u64, now_ms: u64) -> Result<Effective> {
    let status = u8::try_from(row.status)
        .ok()
        .and_then(TaskStatus::from_u8)
        .ok_or_else(|| tasks.corrupt())?;
    let claimer = match row.claimed_by.as_slice() {
        [] => None,
        k => Some(MemberKey::from_slice(k).ok_or_else(|| tasks.corrupt())?),
    };
    let claimed_at = claimer.map(|_| row.claimed_at);
    if status == TaskStatus::Claimed && now_ms.saturating_sub(row.claimed_at) > ttl {
        return Ok(Effective {
            status: TaskStatus::Open,
            claimed_by: None,
            claimed_at,
            expired_at: Some(row.claimed_at.saturating_add(ttl)),
        });
    }
    Ok(Effective {
        status,
        claimed_by: claimer,
        claimed_at,
        expired_at: None,
    })
}

/// The task tables, opened once per call.
struct TaskTables<'a> {
    tasks: Rows,
    by_status: Rows,
    refs: Rows,
    entries: &'a Entries,
    ttl: u64,
}

impl TaskTables<'_> {
    fn row(&self, id: &str) -> Result<Option<TaskRow>> {
        self.tasks.row(id.as_bytes())
    }

    fn view(&self, id: &str, row: &TaskRow, now_ms: u64) -> Result<TaskView> {
        let eff = effective(row, &self.tasks, self.ttl, now_ms)?;
        let created = self.entries.at(row.created_pos)?;
        if created.api_id != id {
            return Err(self.tasks.corrupt());
        }
        let description = match &created.op {
            Some(wire::op::Op::TaskCreate(c)) => c.description.clone(),
            _ => return Err(self.tasks.corrupt()),
        };
        let mut history = vec![created.clone()];
        for r in self.refs.walk(&lp(id), Order::Asc, None)? {
            let e = self.entries.at(r?.0)?;
            if e.kind == Some(Kind::Task) {
                history.push(e);
            }
        }
        history.sort_by_key(|e| e.position);
        let updated_at = history
            .iter()
            .map(|e| e.time_ms)
            .max()
            .unwrap_or(created.time_ms);
        let (confirmed, outcome) = history
            .last()
            .map_or((created.confirmed, created.outcome), |e| {
                (e.confirmed, e.outcome)
            });
        Ok(TaskView {
            id: id.to_string(),
            title: row.title.clone(),
            description,
            status: eff.status,
            claimed_by: eff.claimed_by.map(|key| Claimer {
                key,
                handle: key.handle(),
            }),
            claimed_at: eff.claimed_at,
            expired_at: eff.expired_at,
            assigned_to: row.assigned_to.clone(),
            result: row.result.clone(),
            created,
            updated_at,
            history,
            confirmed,
            outcome,
        })
    }
}

impl ViewReader {
    fn task_tables(&self) -> Result<TaskTables<'_>> {
        let ttl = self
            .pact()?
            .map_or(DEFAULT_CLAIM_TTL_MS, |p| p.claim_ttl_ms);
        Ok(TaskTables {
            tasks: self.rows(ViewTable::Tasks)?,
            by_status: self.rows(ViewTable::TaskStatus)?,
            refs: self.rows(ViewTable::Refs)?,
            entries: self.entries()?,
            ttl,
        })
    }

    /// The title of the task with this id, without reading its history.
    pub fn task_title(&self, id: &str) -> Result<Option<String>> {
        let tasks = self.rows(ViewTable::Tasks)?;
        Ok(tasks.row::<TaskRow>(id.as_bytes())?.map(|r| r.title))
    }

    /// The task with this id (the API id of its create entry), judged at local time `now_ms`.
    pub fn task(&self, id: &str, now_ms: u64) -> Result<Option<TaskView>> {
        let t = self.task_tables()?;
        match t.row(id)? {
            Some(row) => t.view(id, &row, now_ms).map(Some),
            None => Ok(None),
        }
    }

    /// One page of tasks by the position of their create entry, optionally of one status as
    /// shown at local time `now_ms`.
    ///
    /// Walks the status index: `open` merges the open and claimed ranges (a claim expired by the
    /// local clock shows as open), `claimed` skips the expired claims, no status merges all three.
    pub fn tasks(
        &self,
        status: Option<TaskStatus>,
        order: Order,
        limit: usize,
        cursor: Option<&str>,
        now_ms: u64,
    ) -> Result<Page<TaskView>> {
        check_limit(limit)?;
        let t = self.task_tables()?;
        let past = match cursor {
            None => None,
            Some(c) => {
                let (recorded, id) = parse_cursor(c, Kind::Task)?;
                Some(t.row(&id)?.map_or(recorded, |r| r.created_pos))
            }
        };
        let ranges: &[TaskStatus] = match status {
            None => &[TaskStatus::Open, TaskStatus::Claimed, TaskStatus::Complete],
            Some(TaskStatus::Open) => &[TaskStatus::Open, TaskStatus::Claimed],
            Some(s) => &[s],
        };
        let walks = ranges
            .iter()
            .map(|s| t.by_status.walk(&[*s as u8], order, past))
            .collect::<Result<Vec<_>>>()?;
        let mut found: Vec<(String, TaskRow)> = Vec::with_capacity(limit + 1);
        for r in Merge::new(walks, order) {
            let (pos, id) = r?;
            let id = String::from_utf8(id).map_err(|_| t.by_status.corrupt())?;
            let row = t.row(&id)?.ok_or_else(|| t.tasks.corrupt())?;
            if row.created_pos != pos {
                return Err(t.by_status.corrupt());
            }
            let shown = effective(&row, &t.tasks, t.ttl, now_ms)?.status;
            if status.is_none_or(|s| s == shown) {
                found.push((id, row));
                if found.len() > limit {
                    break;
                }
            }
        }
        let has_more = found.len() > limit;
        found.truncate(limit);
        let items = found
            .iter()
            .map(|(id, row)| t.view(id, row, now_ms))
            .collect::<Result<Vec<_>>>()?;
        let cursor = items
            .last()
            .map(|v| format_cursor(Kind::Task, v.created.position, &v.id));
        Ok(Page {
            items,
            cursor,
            has_more,
        })
    }
}
