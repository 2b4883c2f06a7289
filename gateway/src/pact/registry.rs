//! The daemon's registry of pacts: list, create, switch, join, rename (alias), delete
//! (spec/rest-api.md, section 10).

use axum::extract::State;
use axum::response::Response;
use openpact_proto::v1;
use serde::Deserialize;
use serde_json::json;

use super::{pact_of, reply, rq};
use crate::error::{ApiResult, answer};
use crate::extract::{Body, Params, Prop, Rule, Schema, patterns};
use crate::state::{AppState, Plane};

/// An alias: `^[a-z0-9][a-z0-9-]*$`, at most 48 characters.
const ALIAS: Rule = Rule::Str {
    min: 0,
    max: 48,
    pattern: Some(patterns::ALIAS),
    nullable: false,
};

/// `GET /v1/pacts`.
pub async fn list<S: Plane>(State(st): State<AppState<S>>) -> ApiResult<Response> {
    let r = answer(st.plane.list_pacts(rq(v1::ListPactsRequest {})).await)?;
    let pacts: Vec<_> = r
        .pacts
        .iter()
        .map(|p| {
            json!({
                "alias": p.alias,
                "pact_id": p.pact_id,
                "added_at": p.added_at,
                "data_dir": p.data_dir,
                "is_current": p.is_current,
                "pact_name": p.pact_name,
                "pact_purpose": p.pact_purpose,
                "display_name": p.display_name,
                "role": p.role,
            })
        })
        .collect();
    reply(json!({ "current": r.current, "pacts": pacts }))
}

/// `POST /v1/pacts`.
#[derive(Debug, Deserialize)]
pub struct CreatePact {
    name: String,
    purpose: Option<String>,
    display_name: Option<String>,
    alias: Option<String>,
    confirm: bool,
    claim_ttl_ms: Option<u64>,
}

impl Schema for CreatePact {
    const PROPS: &'static [Prop] = &[
        Prop::req("name", Rule::str(1, 64)),
        Prop::req("confirm", Rule::Bool),
        Prop::opt("purpose", Rule::nullable(200)),
        Prop::opt("display_name", Rule::nullable(64)),
        Prop::opt("alias", ALIAS),
        Prop::opt(
            "claim_ttl_ms",
            Rule::Int {
                min: 1,
                max: u64::MAX,
            },
        ),
    ];
}

/// `POST /v1/pacts`: the daemon checks `confirm` first.
pub async fn create<S: Plane>(
    State(st): State<AppState<S>>,
    b: Body<CreatePact>,
) -> ApiResult<Response> {
    let f = b.fields;
    let r = answer(
        st.plane
            .create_pact(rq(v1::CreatePactRequest {
                name: f.name,
                purpose: f.purpose,
                display_name: f.display_name,
                alias: f.alias,
                confirm: f.confirm,
                claim_ttl_ms: f.claim_ttl_ms.unwrap_or(0),
                force: false,
            }))
            .await,
    )?;
    reply(json!({
        "ok": true,
        "alias": r.alias,
        "pact_id": r.pact_id,
        "pact_name": r.pact_name,
        "pact_purpose": r.pact_purpose,
        "display_name": r.display_name,
        "peer_handle": r.peer_handle,
        "role": r.role,
    }))
}

/// `POST /v1/pacts/switch`.
#[derive(Debug, Deserialize)]
pub struct Switch {
    alias: String,
    confirm: String,
}

impl Schema for Switch {
    const PROPS: &'static [Prop] = &[
        Prop::req("alias", Rule::str(0, usize::MAX)),
        Prop::req("confirm", Rule::str(0, usize::MAX)),
    ];
}

/// `POST /v1/pacts/switch`: `confirm` must equal `alias` (checked by the daemon before the
/// alias is looked up).
pub async fn switch<S: Plane>(
    State(st): State<AppState<S>>,
    b: Body<Switch>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .switch_pact(rq(v1::SwitchPactRequest {
                alias: b.fields.alias,
                confirm: b.fields.confirm,
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "current": r.current }))
}

/// `POST /v1/pacts/join`.
#[derive(Debug, Deserialize)]
pub struct Join {
    key: String,
    alias: Option<String>,
    display_name: Option<String>,
    pact_name: Option<String>,
    pact_purpose: Option<String>,
    confirm: bool,
    token: Option<String>,
}

impl Schema for Join {
    const PROPS: &'static [Prop] = &[
        Prop::req("key", Rule::pattern(patterns::HEX64)),
        Prop::req("confirm", Rule::Bool),
        Prop::opt("alias", ALIAS),
        Prop::opt("display_name", Rule::nullable(64)),
        Prop::opt("pact_name", Rule::nullable(64)),
        Prop::opt("pact_purpose", Rule::nullable(200)),
        Prop::opt("token", Rule::str(8, 4096)),
    ];
}

/// `POST /v1/pacts/join`: adds the pact; with `token` (this project's addition) it also
/// redeems the invite at an indexer and answers once this daemon is a member.
pub async fn join<S: Plane>(State(st): State<AppState<S>>, b: Body<Join>) -> ApiResult<Response> {
    let f = b.fields;
    let r = answer(
        st.plane
            .join_pact(rq(v1::JoinPactRequest {
                key: f.key,
                alias: f.alias,
                display_name: f.display_name,
                pact_name: f.pact_name,
                pact_purpose: f.pact_purpose,
                confirm: f.confirm,
                token: f.token,
                timeout_ms: 0,
            }))
            .await,
    )?;
    reply(crate::json::joined(&r))
}

/// `PUT /v1/pacts/{pact_id}/alias`.
#[derive(Debug, Deserialize)]
pub struct Rename {
    alias: String,
}

impl Schema for Rename {
    const PROPS: &'static [Prop] = &[Prop::req("alias", ALIAS)];
}

/// `PUT /v1/pacts/{pact_id}/alias`.
pub async fn rename<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<Rename>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .rename_pact(rq(v1::RenamePactRequest {
                pact: pact_of(&p)?,
                alias: b.fields.alias,
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "alias": r.alias, "pact_id": r.pact_id }))
}

/// `DELETE /v1/pacts/{pact_id}`.
#[derive(Debug, Deserialize)]
pub struct Remove {
    confirm: String,
}

impl Schema for Remove {
    const PROPS: &'static [Prop] = &[Prop::req("confirm", Rule::str(0, usize::MAX))];
}

/// `DELETE /v1/pacts/{pact_id}`: the pact is looked up before `confirm` is compared with its
/// alias and id (both by the daemon).
pub async fn remove<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<Remove>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .delete_pact(rq(v1::DeletePactRequest {
                pact: pact_of(&p)?,
                confirm: b.fields.confirm,
            }))
            .await,
    )?;
    reply(json!({
        "ok": true,
        "removed": { "alias": r.alias, "pact_id": r.pact_id },
    }))
}
