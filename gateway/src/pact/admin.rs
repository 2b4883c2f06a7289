//! Admin routes: members, promotion, removal by the creator, the pact's info, and this daemon's
//! display name in the pact (spec/rest-api.md, section 11, "Admin").

use axum::extract::State;
use axum::response::Response;
use openpact_proto::v1;
use serde::Deserialize;
use serde_json::json;

use super::{confirmed, pact_of, reply, rq};
use crate::error::{ApiResult, answer};
use crate::extract::{Body, Params, Prop, Rule, Schema, patterns, present};
use crate::state::{AppState, Plane};

/// `POST /admin/members`: unknown fields (such as `confirm`) are dropped.
#[derive(Debug, Deserialize)]
pub struct NewMember {
    key: String,
    indexer: Option<bool>,
}

impl Schema for NewMember {
    const PROPS: &'static [Prop] = &[
        Prop::req("key", Rule::pattern(patterns::HEX64)),
        Prop::opt("indexer", Rule::Bool),
    ];
}

/// `POST /admin/members`.
pub async fn add_member<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<NewMember>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .add_member(rq(v1::AddMemberRequest {
                pact: pact_of(&p)?,
                key: b.fields.key,
                indexer: b.fields.indexer.unwrap_or(false),
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "key": r.key, "indexer": r.indexer.unwrap_or(false) }))
}

/// `DELETE /admin/members/{key}`: the daemon checks the key before it looks up the pact.
pub async fn remove_member<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .remove_member(rq(v1::RemoveMemberRequest {
                pact: pact_of(&p)?,
                key: p.get("key").to_string(),
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "key": r.key }))
}

/// `POST /admin/promote` and `POST /admin/remove`.
#[derive(Debug, Deserialize)]
pub struct KeyConfirm {
    key: String,
    confirm: bool,
}

impl Schema for KeyConfirm {
    const PROPS: &'static [Prop] = &[
        Prop::req("key", Rule::pattern(patterns::HEX64)),
        Prop::req("confirm", Rule::Bool),
    ];
}

/// `POST /admin/promote`: schema, `confirm`, then the daemon (pact lookup, creator check, and
/// `NOT_SUPPORTED_YET` until multi-indexer finality arrives).
pub async fn promote<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<KeyConfirm>,
) -> ApiResult<Response> {
    confirmed(b.fields.confirm, "Promoting a member")?;
    let r = answer(
        st.plane
            .promote_member(rq(v1::PromoteMemberRequest {
                pact: pact_of(&p)?,
                key: b.fields.key,
                confirm: true,
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "key": r.key, "indexer": true }))
}

/// `POST /admin/remove`: schema, `confirm`, then the daemon (pact lookup, creator check).
pub async fn admin_remove<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<KeyConfirm>,
) -> ApiResult<Response> {
    confirmed(b.fields.confirm, "Removing a member")?;
    let r = answer(
        st.plane
            .admin_remove(rq(v1::PromoteMemberRequest {
                pact: pact_of(&p)?,
                key: b.fields.key,
                confirm: true,
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "key": r.key }))
}

/// `PUT /info`: an absent field is left as it is; `null` (or blank) clears it.
#[derive(Debug, Deserialize)]
pub struct Info {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    purpose: Option<Option<String>>,
    claim_ttl_ms: Option<u64>,
}

impl Schema for Info {
    const PROPS: &'static [Prop] = &[
        Prop::opt("name", Rule::nullable(64)),
        Prop::opt("purpose", Rule::nullable(200)),
        Prop::opt(
            "claim_ttl_ms",
            Rule::Int {
                min: 1,
                max: u64::MAX,
            },
        ),
    ];
}

/// `PUT /info`.
pub async fn set_info<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<Info>,
) -> ApiResult<Response> {
    let f = b.fields;
    let wrap = |v: Option<Option<String>>| v.map(|value| v1::OptionalString { value });
    let r = answer(
        st.plane
            .set_info(rq(v1::SetInfoRequest {
                pact: pact_of(&p)?,
                name: wrap(f.name),
                purpose: wrap(f.purpose),
                claim_ttl_ms: f.claim_ttl_ms,
            }))
            .await,
    )?;
    reply(json!({
        "ok": true,
        "pact_name": r.pact_name,
        "pact_purpose": r.pact_purpose,
        "claim_ttl_ms": r.claim_ttl_ms,
    }))
}

/// `PUT /me`: an empty, null or missing `display_name` clears it.
#[derive(Debug, Deserialize)]
pub struct Me {
    display_name: Option<String>,
}

impl Schema for Me {
    const PROPS: &'static [Prop] = &[Prop::opt("display_name", Rule::nullable(64))];
}

/// `PUT /me`.
pub async fn set_me<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<Me>,
) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .set_me(rq(v1::SetMeRequest {
                pact: pact_of(&p)?,
                display_name: b.fields.display_name,
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "display_name": r.display_name }))
}
