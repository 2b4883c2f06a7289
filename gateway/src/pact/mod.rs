//! The `/v1/pacts` routes and the per-pact routes under `/v1/pacts/{pact_id}` (spec/rest-api.md,
//! sections 10 and 11). A handler checks the request's HTTP shape (schema, then the
//! confirmations the spec checks before the pact lookup), makes one control-plane call, and
//! answers in the spec's JSON shape. Everything that needs the pact (lookup, roles, task state,
//! checksums, invites) is the daemon's, and its errors pass through [`crate::error::answer`].

mod admin;
mod entries;
mod invites;
mod registry;
mod skills;
mod table;
mod tasks;

pub use table::ROUTES;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use openpact_proto::v1;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ApiResult, GatewayError};
use crate::extract::{Params, Prop, Rule, route_not_found};
use crate::json;
use crate::state::{AppState, Plane};

/// Every route of this module, for [`crate::app`] to merge.
pub fn routes<S: Plane>() -> Router<AppState<S>> {
    let pact = |rest: &str| format!("/v1/pacts/{{pact_id}}{rest}");
    Router::new()
        .route(
            "/v1/pacts",
            only(get(registry::list::<S>).post(registry::create::<S>)),
        )
        .route("/v1/pacts/switch", only(post(registry::switch::<S>)))
        .route("/v1/pacts/join", only(post(registry::join::<S>)))
        .route(&pact(""), only(delete(registry::remove::<S>)))
        .route(&pact("/alias"), only(put(registry::rename::<S>)))
        .route(&pact("/status"), only(get(entries::status::<S>)))
        .route(&pact("/agents"), only(get(entries::agents::<S>)))
        .route(
            &pact("/knowledge"),
            only(get(entries::list_knowledge::<S>).post(entries::create_knowledge::<S>)),
        )
        .route(
            &pact("/messages"),
            only(get(entries::list_messages::<S>).post(entries::post_message::<S>)),
        )
        .route(
            &pact("/tasks"),
            only(get(tasks::list::<S>).post(tasks::create::<S>)),
        )
        .route(&pact("/tasks/{id}"), only(get(tasks::get_one::<S>)))
        .route(&pact("/tasks/{id}/claim"), only(put(tasks::claim::<S>)))
        .route(
            &pact("/tasks/{id}/complete"),
            only(put(tasks::complete::<S>)),
        )
        .route(&pact("/tasks/{id}/release"), only(put(tasks::release::<S>)))
        .route(
            &pact("/skills"),
            only(get(skills::list::<S>).post(skills::publish::<S>)),
        )
        .route(
            &pact("/skills/installed"),
            only(get(skills::installed::<S>)),
        )
        .route(
            &pact("/skills/{id}/content"),
            only(get(skills::content::<S>)),
        )
        .route(
            &pact("/skills/{id}/install"),
            only(post(skills::install::<S>)),
        )
        .route(&pact("/entries/{id}"), only(get(entries::get_entry::<S>)))
        .route(
            &pact("/entries/{id}/referenced-by"),
            only(get(entries::referenced_by::<S>)),
        )
        .route(&pact("/changes"), only(get(entries::changes::<S>)))
        .route(&pact("/admin/members"), only(post(admin::add_member::<S>)))
        .route(
            &pact("/admin/members/{key}"),
            only(delete(admin::remove_member::<S>)),
        )
        .route(&pact("/admin/promote"), only(post(admin::promote::<S>)))
        .route(&pact("/admin/remove"), only(post(admin::admin_remove::<S>)))
        .route(&pact("/info"), only(put(admin::set_info::<S>)))
        .route(&pact("/me"), only(put(admin::set_me::<S>)))
        .route(
            &pact("/invites"),
            only(get(invites::list::<S>).post(invites::mint::<S>)),
        )
        .route(&pact("/invites/redeem"), only(post(invites::redeem::<S>)))
        .route(
            &pact("/invites/{nonce}"),
            only(delete(invites::revoke::<S>)),
        )
}

/// A route answers other methods as an unknown route, 404 (v0.1.4 had no 405).
fn only<S: Plane>(m: MethodRouter<AppState<S>>) -> MethodRouter<AppState<S>> {
    m.fallback(no_route)
}

async fn no_route(method: Method, uri: Uri) -> GatewayError {
    route_not_found(&method, &uri)
}

/// A 200 answer with a JSON body.
fn reply(v: Value) -> ApiResult<Response> {
    reply_with(&v)
}

/// A 200 answer with `body` serialised straight to JSON.
fn reply_with(body: &impl serde::Serialize) -> ApiResult<Response> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| GatewayError::internal(format!("cannot write the answer as JSON: {e}")))?;
    Ok(([(CONTENT_TYPE, "application/json; charset=utf-8")], bytes).into_response())
}

/// The `:pactId` of the route: an alias or a 64-hex pact id.
fn pact_of(p: &Params) -> ApiResult<String> {
    match p.get("pact_id") {
        "" => Err(GatewayError::bad_request("params/pactId is missing")),
        s => Ok(s.to_string()),
    }
}

/// `400 NOT_CONFIRMED` unless `confirmed`.
fn confirmed(confirmed: bool, what: &str) -> ApiResult<()> {
    if confirmed {
        Ok(())
    } else {
        Err(GatewayError::not_confirmed(format!(
            "{what} needs confirm: true."
        )))
    }
}

/// A control-plane request.
fn rq<T>(message: T) -> tonic::Request<T> {
    tonic::Request::new(message)
}

/// The paging parameters of every typed list (spec/rest-api.md, section 9).
const ORDER: Prop = Prop::opt("order", Rule::Enum(&["asc", "desc"]));
const LIMIT: Prop = Prop::opt("limit", Rule::Int { min: 1, max: 1000 });
const CURSOR: Prop = Prop::opt("cursor", Rule::str(1, 512));

/// `order`, `limit` and `cursor` of a list query.
#[derive(Debug, Deserialize)]
struct Page {
    order: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl Page {
    fn request(self) -> Option<v1::PageRequest> {
        Some(v1::PageRequest {
            order: match self.order.as_deref() {
                Some("asc") => v1::Order::Asc,
                _ => v1::Order::Desc,
            } as i32,
            limit: self.limit.unwrap_or(0),
            cursor: self.cursor,
        })
    }
}

/// The list envelope `{entries, cursor, has_more}`.
fn list(entries: Vec<Value>, cursor: Option<String>, has_more: bool) -> Value {
    serde_json::json!({ "entries": entries, "cursor": cursor, "has_more": has_more })
}

/// A page of entries as the list envelope, answered.
fn entry_page(p: &v1::EntryPage) -> ApiResult<Response> {
    reply_with(&json::EntryList::new(
        &p.entries,
        p.cursor.as_deref(),
        p.has_more,
    ))
}
