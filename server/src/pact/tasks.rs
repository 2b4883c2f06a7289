//! Tasks: create, list, read, and the claim / complete / release state changes, each answered
//! with the outcome of its own entry (spec/rest-api.md, Decision 5).

use std::time::Duration;

use openpact_ledger::keys::is_handle;
use openpact_ledger::view::TaskStatus;
use openpact_ledger::view::read::{Order, TaskView};
use openpact_ledger::wire::{self, op::Op};
use openpact_ledger::{Code, Outcome};
use openpact_proto::v1;

use super::OpenPact;
use super::lists::{check_chars, check_json_object, limit_of};
use crate::convert;
use crate::error::{ApiError, Result};

/// Default wait for confirmation.
const DEFAULT_CONFIRM_WAIT_MS: u32 = 10_000;
/// Longest wait for confirmation.
const MAX_CONFIRM_WAIT_MS: u32 = 60_000;

/// Which state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskAction {
    /// Claim.
    Claim,
    /// Complete.
    Complete,
    /// Release.
    Release,
}

impl OpenPact {
    fn task_view(&self, id: &str) -> Result<TaskView> {
        self.reader()?
            .task(id, self.now())?
            .ok_or_else(|| ApiError::not_found(format!("task {id} not found")))
    }

    fn task_state(&self, t: &TaskView) -> Result<v1::TaskState> {
        convert::task(t, &self.reader()?)
    }

    /// Creates a task; answers its state once applied.
    pub async fn create_task(&self, req: v1::CreateTaskRequest) -> Result<v1::TaskState> {
        check_chars("title", &req.title, 1, 200)?;
        if let Some(a) = &req.assigned_to
            && !is_handle(a)
        {
            return Err(ApiError::bad_request(format!(
                "assigned_to must be an agent handle like anon-falcon-7f2d9999 (got {a})"
            )));
        }
        let extra_json = check_json_object("extra_json", &req.extra_json)?;
        let done = self
            .append(vec![Op::TaskCreate(wire::TaskCreate {
                title: req.title,
                description: req.description,
                assigned_to: req.assigned_to,
                extra_json,
            })])
            .await?;
        if let Outcome::Rejected(code) = done.outcome {
            return Err(ApiError::new(code, format!("task rejected: {code}")));
        }
        let t = self.task_view(&done.api_id)?;
        self.task_state(&t)
    }

    /// Lists tasks by the position of their create entry, optionally of one status.
    pub fn list_tasks(&self, req: &v1::ListTasksRequest) -> Result<v1::TaskPage> {
        let status = match &req.status {
            None => None,
            Some(s) => Some(match s.as_str() {
                "open" => TaskStatus::Open,
                "claimed" => TaskStatus::Claimed,
                "complete" => TaskStatus::Complete,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown status {other}: use open, claimed or complete"
                    )));
                }
            }),
        };
        let (order, limit, cursor) = match &req.page {
            None => (Order::Desc, limit_of(0)?, None),
            Some(p) => (
                match v1::Order::try_from(p.order) {
                    Ok(v1::Order::Asc) => Order::Asc,
                    _ => Order::Desc,
                },
                limit_of(p.limit)?,
                p.cursor.clone(),
            ),
        };
        if cursor
            .as_ref()
            .is_some_and(|c| c.is_empty() || c.len() > 512)
        {
            return Err(ApiError::bad_request(
                "cursor must be 1 to 512 characters long",
            ));
        }
        let r = self.reader()?;
        let page = r.tasks(status, order, limit, cursor.as_deref(), self.now())?;
        Ok(v1::TaskPage {
            tasks: page
                .items
                .iter()
                .map(|t| convert::task(t, &r))
                .collect::<Result<_>>()?,
            cursor: page.cursor,
            has_more: page.has_more,
        })
    }

    /// One task.
    pub fn get_task(&self, id: &str) -> Result<v1::TaskState> {
        let t = self.task_view(id)?;
        self.task_state(&t)
    }

    /// Claims, completes or releases a task: the checks of spec/rest-api.md section 11, then the
    /// entry, then (with `Wait::Confirmed`) its confirmation. The answer is the outcome of the
    /// request's own entry.
    pub async fn task_action(
        &self,
        action: TaskAction,
        req: v1::TaskActionRequest,
    ) -> Result<v1::TaskState> {
        let wait = v1::Wait::try_from(req.wait).unwrap_or(v1::Wait::Applied);
        let wait_ms = match req.wait_ms {
            0 => DEFAULT_CONFIRM_WAIT_MS,
            n => n.min(MAX_CONFIRM_WAIT_MS),
        };
        let id = req.id;
        let t = self.task_view(&id)?;
        let me = self.me.handle();
        let claimer = t.claimed_by.as_ref().map(|c| c.handle.clone());
        let op = match action {
            TaskAction::Claim => {
                if t.status != TaskStatus::Open {
                    return Err(ApiError::new(
                        Code::TaskNotOpen,
                        format!("task {id} is {}", t.status.as_str()),
                    ));
                }
                if let Some(a) = &t.assigned_to
                    && *a != me
                {
                    return Err(ApiError::new(
                        Code::NotAssignee,
                        format!("task {id} is reserved for {a}"),
                    ));
                }
                Op::TaskClaim(wire::TaskClaim {
                    task_id: id.clone(),
                })
            }
            TaskAction::Complete => {
                if t.status == TaskStatus::Complete {
                    return Err(ApiError::new(
                        Code::TaskAlreadyComplete,
                        format!("task {id} is already complete"),
                    ));
                }
                if let Some(c) = &claimer
                    && t.status == TaskStatus::Claimed
                    && *c != me
                {
                    return Err(ApiError::new(
                        Code::NotClaimer,
                        format!("task {id} is claimed by {c}"),
                    ));
                }
                Op::TaskComplete(wire::TaskComplete {
                    task_id: id.clone(),
                    result: req.result,
                })
            }
            TaskAction::Release => {
                if t.status != TaskStatus::Claimed {
                    return Err(ApiError::new(
                        Code::NotClaimed,
                        format!("task {id} is {}, not claimed", t.status.as_str()),
                    ));
                }
                if let Some(c) = &claimer
                    && *c != me
                {
                    return Err(ApiError::new(
                        Code::NotClaimer,
                        format!("task {id} is claimed by {c}"),
                    ));
                }
                Op::TaskRelease(wire::TaskRelease {
                    task_id: id.clone(),
                })
            }
        };
        let done = self.append(vec![op]).await?;
        let mut outcome = done.outcome;
        let mut confirmed = done.confirmed;
        if wait == v1::Wait::Confirmed && !confirmed {
            outcome = self
                .wait_confirmed(&done.hash, Duration::from_millis(u64::from(wait_ms)))
                .await?;
            confirmed = true;
        }
        match outcome {
            Outcome::Applied => {}
            Outcome::Rejected(code) => {
                let msg = match code {
                    Code::TaskAlreadyClaimed => {
                        format!("task {id} was claimed first by someone else")
                    }
                    c => format!("task {id}: {c}"),
                };
                return Err(ApiError::new(code, msg));
            }
            Outcome::Dropped(reason) => {
                return Err(ApiError::new(
                    Code::NotAMember,
                    format!("the entry was dropped ({})", reason.as_str()),
                ));
            }
        }
        let t = self.task_view(&id)?;
        let mut state = self.task_state(&t)?;
        state.confirmed = confirmed;
        state.outcome = convert::outcome(&outcome);
        Ok(state)
    }
}
