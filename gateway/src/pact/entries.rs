//! A pact's status and agents, knowledge and messages, single entries, threads, and the changes
//! feed (spec/rest-api.md, section 11).

use axum::extract::State;
use axum::response::Response;
use openpact_proto::v1;
use serde::Deserialize;
use serde_json::Value;

use super::{CURSOR, LIMIT, ORDER, Page, entry_page, pact_of, reply, reply_with, rq};
use crate::error::{ApiResult, answer};
use crate::extract::{Body, Params, Prop, Query, Rule, Schema, parse_date_time, patterns};
use crate::json;
use crate::state::{AppState, Plane};

/// `GET /status`.
pub async fn status<S: Plane>(State(st): State<AppState<S>>, p: Params) -> ApiResult<Response> {
    let req = rq(v1::PactStatusRequest { pact: pact_of(&p)? });
    let s = answer(v1::pact_server::Pact::status(&st.plane, req).await)?;
    reply(json::pact_status(&s))
}

/// `GET /agents` query.
#[derive(Debug, Deserialize)]
pub struct AgentsQuery {
    online: Option<String>,
}

impl Schema for AgentsQuery {
    const PROPS: &'static [Prop] = &[Prop::opt("online", Rule::Enum(&["true", "false"]))];
}

/// `GET /agents`: a bare array, this daemon first.
pub async fn agents<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<AgentsQuery>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .list_agents(rq(v1::ListAgentsRequest {
                pact: pact_of(&p)?,
                online: q.online.map(|o| o == "true"),
            }))
            .await,
    )?;
    reply(Value::Array(r.agents.iter().map(json::agent).collect()))
}

/// `GET /knowledge` query.
#[derive(Debug, Deserialize)]
pub struct KnowledgeQuery {
    #[serde(flatten)]
    page: Page,
    topic: Option<String>,
}

impl Schema for KnowledgeQuery {
    const PROPS: &'static [Prop] = &[ORDER, LIMIT, CURSOR, Prop::opt("topic", Rule::str(1, 200))];
}

/// `GET /knowledge`.
pub async fn list_knowledge<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<KnowledgeQuery>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .list_knowledge(rq(v1::ListKnowledgeRequest {
                pact: pact_of(&p)?,
                page: q.page.request(),
                topic: q.topic,
            }))
            .await,
    )?;
    entry_page(&r)
}

/// `POST /knowledge`: the body is the payload; unknown fields are kept in it.
#[derive(Debug, Deserialize)]
pub struct NewKnowledge {
    topic: String,
    content: String,
    source: Option<String>,
}

impl Schema for NewKnowledge {
    const PROPS: &'static [Prop] = &[
        Prop::req("topic", Rule::str(1, 200)),
        Prop::req("content", Rule::str(1, usize::MAX)),
        Prop::opt("source", Rule::str(0, usize::MAX)),
    ];
    const KEEP_EXTRA: bool = true;
}

/// `POST /knowledge`: the entry.
pub async fn create_knowledge<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<NewKnowledge>,
) -> ApiResult<Response> {
    let extra_json = b.extra_json();
    let f = b.fields;
    let e = answer(
        st.plane
            .create_knowledge(rq(v1::CreateKnowledgeRequest {
                pact: pact_of(&p)?,
                topic: f.topic,
                content: f.content,
                source: f.source,
                extra_json,
            }))
            .await,
    )?;
    reply_with(&json::EntryJson(&e))
}

/// `GET /messages` query.
#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    #[serde(flatten)]
    page: Page,
    since: Option<String>,
    agent_id: Option<String>,
    to: Option<String>,
}

impl Schema for MessagesQuery {
    const PROPS: &'static [Prop] = &[
        ORDER,
        LIMIT,
        CURSOR,
        Prop::opt("since", Rule::DateTime),
        Prop::opt("agent_id", Rule::pattern(patterns::HANDLE)),
        Prop::opt("to", Rule::pattern(patterns::RECIPIENT)),
    ];
}

/// `GET /messages`: `since` is exclusive; before 1970 it filters nothing.
pub async fn list_messages<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<Response> {
    let since_ms = q
        .since
        .as_deref()
        .and_then(parse_date_time)
        .and_then(|ms| u64::try_from(ms).ok());
    let r = answer(
        st.plane
            .list_messages(rq(v1::ListMessagesRequest {
                pact: pact_of(&p)?,
                page: q.page.request(),
                since_ms,
                agent_id: q.agent_id,
                to: q.to,
            }))
            .await,
    )?;
    entry_page(&r)
}

/// `POST /messages`: unknown fields are dropped; `reply_to` becomes the entry's `refs`.
#[derive(Debug, Deserialize)]
pub struct NewMessage {
    content: String,
    priority: Option<String>,
    reply_to: Option<String>,
    to: Option<String>,
}

impl Schema for NewMessage {
    const PROPS: &'static [Prop] = &[
        Prop::req("content", Rule::str(1, usize::MAX)),
        Prop::opt("priority", Rule::Enum(&["low", "normal", "high"])),
        Prop::opt("reply_to", Rule::pattern(patterns::ENTRY_ID)),
        Prop::opt("to", Rule::pattern(patterns::RECIPIENT)),
    ];
}

/// `POST /messages`: the entry.
pub async fn post_message<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<NewMessage>,
) -> ApiResult<Response> {
    let f = b.fields;
    let e = answer(
        st.plane
            .post_message(rq(v1::PostMessageRequest {
                pact: pact_of(&p)?,
                content: f.content,
                priority: f.priority,
                reply_to: f.reply_to,
                to: f.to,
            }))
            .await,
    )?;
    reply_with(&json::EntryJson(&e))
}

/// `GET /entries/{id}`: ids are not checked; an unknown one is 404 `NOT_FOUND`.
pub async fn get_entry<S: Plane>(State(st): State<AppState<S>>, p: Params) -> ApiResult<Response> {
    let e = answer(
        st.plane
            .get_entry(rq(v1::GetEntryRequest {
                pact: pact_of(&p)?,
                id: p.get("id").to_string(),
            }))
            .await,
    )?;
    reply_with(&json::EntryJson(&e))
}

/// `GET /entries/{id}/referenced-by`: a bare array, `[]` for an unknown id.
pub async fn referenced_by<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .referenced_by(rq(v1::ReferencedByRequest {
                pact: pact_of(&p)?,
                id: p.get("id").to_string(),
            }))
            .await,
    )?;
    reply_with(&r.entries.iter().map(json::EntryJson).collect::<Vec<_>>())
}

/// `GET /changes` query.
#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    since: Option<String>,
    wait: Option<u32>,
    limit: Option<u32>,
    #[serde(rename = "type")]
    kind: Option<String>,
    from: Option<String>,
}

impl Schema for ChangesQuery {
    const PROPS: &'static [Prop] = &[
        Prop::opt("since", Rule::str(1, 512)),
        Prop::opt("wait", Rule::Int { min: 0, max: 30 }),
        LIMIT,
        Prop::opt(
            "type",
            Rule::Enum(&["knowledge", "task", "skill", "message"]),
        ),
        Prop::opt("from", Rule::Enum(&["head"])),
    ];
}

/// `GET /changes`: entries in this peer's arrival order after the opaque cursor `since`
/// (`BAD_CURSOR` from the daemon when it is not one), long-polling up to `wait` seconds.
pub async fn changes<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<Response> {
    let kind = q.kind.as_deref().map(|t| {
        let t = match t {
            "knowledge" => v1::EntryType::Knowledge,
            "task" => v1::EntryType::Task,
            "skill" => v1::EntryType::Skill,
            _ => v1::EntryType::Message,
        };
        t as i32
    });
    let r = answer(
        st.plane
            .changes(rq(v1::ChangesRequest {
                pact: pact_of(&p)?,
                since: q.since,
                wait_ms: q.wait.unwrap_or(0) * 1000,
                limit: q.limit.unwrap_or(0),
                r#type: kind,
                from_head: q.from.is_some(),
            }))
            .await,
    )?;
    reply_with(&json::EntryList::new(
        &r.entries,
        r.cursor.as_deref(),
        r.has_more,
    ))
}
