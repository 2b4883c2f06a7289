//! Tasks: create, list, read, and claim / complete / release, each answered with the task's
//! state and the outcome of the request's own entry (spec/rest-api.md, section 11, Decision 5).

use axum::extract::State;
use axum::response::Response;
use openpact_proto::v1;
use serde::Deserialize;

use super::{CURSOR, LIMIT, ORDER, Page, pact_of, reply, rq};
use crate::error::{ApiResult, answer};
use crate::extract::{Body, Params, Prop, Query, Rule, Schema, patterns};
use crate::json;
use crate::state::{AppState, Plane};

/// `GET /tasks` query.
#[derive(Debug, Deserialize)]
pub struct TasksQuery {
    #[serde(flatten)]
    page: Page,
    status: Option<String>,
}

impl Schema for TasksQuery {
    const PROPS: &'static [Prop] = &[
        ORDER,
        LIMIT,
        CURSOR,
        Prop::opt("status", Rule::Enum(&["open", "claimed", "complete"])),
    ];
}

/// `GET /tasks`: task states, paged by their create entries.
pub async fn list<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<TasksQuery>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .list_tasks(rq(v1::ListTasksRequest {
                pact: pact_of(&p)?,
                page: q.page.request(),
                status: q.status,
            }))
            .await,
    )?;
    reply(super::list(
        r.tasks.iter().map(json::task).collect(),
        r.cursor,
        r.has_more,
    ))
}

/// `POST /tasks`: unknown fields are kept in the payload.
#[derive(Debug, Deserialize)]
pub struct NewTask {
    title: String,
    description: Option<String>,
    assigned_to: Option<String>,
}

impl Schema for NewTask {
    const PROPS: &'static [Prop] = &[
        Prop::req("title", Rule::str(1, 200)),
        Prop::opt("description", Rule::str(0, usize::MAX)),
        Prop::opt("assigned_to", Rule::pattern(patterns::HANDLE)),
    ];
    const KEEP_EXTRA: bool = true;
}

/// `POST /tasks`: the new task's state. The stored status is always `open` (a given `status` is
/// dropped), and null `claimed_by` / `result` are what a new task has anyway; any other value of
/// a payload field goes to the daemon, whose entry check refuses it (`BAD_ENTRY`).
pub async fn create<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    mut b: Body<NewTask>,
) -> ApiResult<Response> {
    b.extra.remove("status");
    for field in ["claimed_by", "result"] {
        if b.extra.get(field).is_some_and(serde_json::Value::is_null) {
            b.extra.remove(field);
        }
    }
    let extra_json = b.extra_json();
    let f = b.fields;
    let t = answer(
        st.plane
            .create_task(rq(v1::CreateTaskRequest {
                pact: pact_of(&p)?,
                title: f.title,
                description: f.description,
                assigned_to: f.assigned_to,
                extra_json,
            }))
            .await,
    )?;
    reply(json::task(&t))
}

/// `GET /tasks/{id}`.
pub async fn get_one<S: Plane>(State(st): State<AppState<S>>, p: Params) -> ApiResult<Response> {
    let t = answer(
        st.plane
            .get_task(rq(v1::GetTaskRequest {
                pact: pact_of(&p)?,
                id: p.get("id").to_string(),
            }))
            .await,
    )?;
    reply(json::task(&t))
}

/// `?wait=confirmed&wait_ms=N` of the state changes.
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    wait: Option<String>,
    wait_ms: Option<u32>,
}

impl Schema for WaitQuery {
    const PROPS: &'static [Prop] = &[
        Prop::opt("wait", Rule::Enum(&["applied", "confirmed"])),
        Prop::opt(
            "wait_ms",
            Rule::Int {
                min: 1,
                max: 60_000,
            },
        ),
    ];
}

impl WaitQuery {
    fn action(self, pact: String, id: &str, result: Option<String>) -> v1::TaskActionRequest {
        v1::TaskActionRequest {
            pact,
            id: id.to_string(),
            result,
            wait: match self.wait.as_deref() {
                Some("confirmed") => v1::Wait::Confirmed,
                _ => v1::Wait::Applied,
            } as i32,
            wait_ms: self.wait_ms.unwrap_or(0),
        }
    }
}

/// `PUT /tasks/{id}/claim` (no body).
pub async fn claim<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Response> {
    let req = q.action(pact_of(&p)?, p.get("id"), None);
    let t = answer(st.plane.claim_task(rq(req)).await)?;
    reply(json::task(&t))
}

/// `PUT /tasks/{id}/complete` body: an object, with an optional `result`.
#[derive(Debug, Deserialize)]
pub struct Complete {
    result: Option<String>,
}

impl Schema for Complete {
    const PROPS: &'static [Prop] = &[Prop::opt("result", Rule::nullable(usize::MAX))];
}

/// `PUT /tasks/{id}/complete`.
pub async fn complete<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<WaitQuery>,
    b: Body<Complete>,
) -> ApiResult<Response> {
    let req = q.action(pact_of(&p)?, p.get("id"), b.fields.result);
    let t = answer(st.plane.complete_task(rq(req)).await)?;
    reply(json::task(&t))
}

/// `PUT /tasks/{id}/release` (no body).
pub async fn release<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Response> {
    let req = q.action(pact_of(&p)?, p.get("id"), None);
    let t = answer(st.plane.release_task(rq(req)).await)?;
    reply(json::task(&t))
}
