//! Skills: publish, list, read verified content, install, and the installed list
//! (spec/rest-api.md, sections 11 and 13).

use axum::extract::State;
use axum::response::Response;
use openpact_proto::v1;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CURSOR, LIMIT, ORDER, Page, confirmed, entry_page, pact_of, reply, reply_with, rq};
use crate::error::{ApiResult, answer};
use crate::extract::{Body, Params, Prop, Query, Rule, Schema, patterns};
use crate::json;
use crate::state::{AppState, Plane};

const FORMATS: &[&str] = &["openclaw", "langchain", "generic"];

/// `GET /skills` query.
#[derive(Debug, Deserialize)]
pub struct SkillsQuery {
    #[serde(flatten)]
    page: Page,
    format: Option<String>,
}

impl Schema for SkillsQuery {
    const PROPS: &'static [Prop] = &[
        ORDER,
        LIMIT,
        CURSOR,
        Prop::opt("format", Rule::Enum(FORMATS)),
    ];
}

/// `GET /skills`.
pub async fn list<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    Query(q): Query<SkillsQuery>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .list_skills(rq(v1::ListSkillsRequest {
                pact: pact_of(&p)?,
                page: q.page.request(),
                format: q.format,
            }))
            .await,
    )?;
    entry_page(&r)
}

/// `POST /skills`: unknown fields are kept in the payload.
#[derive(Debug, Deserialize)]
pub struct NewSkill {
    name: String,
    version: String,
    format: String,
    content: String,
    checksum: String,
    description: Option<String>,
    requires_approval: Option<bool>,
}

impl Schema for NewSkill {
    const PROPS: &'static [Prop] = &[
        Prop::req("name", Rule::str(1, 200)),
        Prop::req("version", Rule::str(1, 200)),
        Prop::req("format", Rule::Enum(FORMATS)),
        Prop::req("content", Rule::str(0, usize::MAX)),
        Prop::req("checksum", Rule::pattern(patterns::CHECKSUM)),
        Prop::opt("description", Rule::str(0, usize::MAX)),
        Prop::opt("requires_approval", Rule::Bool),
    ];
    const KEEP_EXTRA: bool = true;
}

/// `POST /skills`: the entry. Name rules and the checksum are the daemon's (`BAD_SKILL_NAME`,
/// `SKILL_CHECKSUM_MISMATCH`), after the pact lookup.
pub async fn publish<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<NewSkill>,
) -> ApiResult<Response> {
    let extra_json = b.extra_json();
    let f = b.fields;
    let e = answer(
        st.plane
            .publish_skill(rq(v1::PublishSkillRequest {
                pact: pact_of(&p)?,
                name: f.name,
                version: f.version,
                format: f.format,
                content: f.content,
                checksum: f.checksum,
                description: f.description,
                requires_approval: f.requires_approval,
                extra_json,
            }))
            .await,
    )?;
    reply_with(&json::EntryJson(&e))
}

/// `GET /skills/{id}/content`: the content, verified against its checksum.
pub async fn content<S: Plane>(State(st): State<AppState<S>>, p: Params) -> ApiResult<Response> {
    let c = answer(
        st.plane
            .get_skill_content(rq(v1::GetSkillContentRequest {
                pact: pact_of(&p)?,
                id: p.get("id").to_string(),
            }))
            .await,
    )?;
    reply(json!({
        "id": c.id,
        "name": c.name,
        "version": c.version,
        "format": c.format,
        "checksum": c.checksum,
        "content": c.content,
    }))
}

/// `GET /skills/installed`: a bare array.
pub async fn installed<S: Plane>(State(st): State<AppState<S>>, p: Params) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .list_installed_skills(rq(v1::ListInstalledSkillsRequest { pact: pact_of(&p)? }))
            .await,
    )?;
    reply(Value::Array(
        r.skills.iter().map(json::installed_skill).collect(),
    ))
}

/// `{confirm}` of the confirmed routes.
#[derive(Debug, Deserialize)]
pub struct Confirm {
    pub(super) confirm: bool,
}

impl Schema for Confirm {
    const PROPS: &'static [Prop] = &[Prop::req("confirm", Rule::Bool)];
}

/// `POST /skills/{id}/install`: `confirm` before the pact lookup.
pub async fn install<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<Confirm>,
) -> ApiResult<Response> {
    confirmed(b.fields.confirm, "Installing a skill")?;
    let s = answer(
        st.plane
            .install_skill(rq(v1::InstallSkillRequest {
                pact: pact_of(&p)?,
                id: p.get("id").to_string(),
                confirm: true,
            }))
            .await,
    )?;
    reply(json!({
        "ok": true,
        "id": s.id,
        "path": s.path,
        "installed_at": s.installed_at,
    }))
}
