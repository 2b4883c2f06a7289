//! The host-level routes (spec/rest-api.md, section 10): ping, healthz, readyz, status, metrics,
//! events, and the API description. The router is built from [`ROUTES`], the table the OpenAPI
//! document reads.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Extension, Router};
use openpact_proto::v1;
use serde_json::{Value, json};

use crate::error::{ApiResult, GatewayError, answer};
use crate::extract::route_not_found;
use crate::json;
use crate::metrics::Metrics;
use crate::openapi::{Answer, Route};
use crate::state::{AppState, Plane};

/// The host routes.
pub const ROUTES: &[Route] = &[
    Route {
        public: true,
        ..Route::get("/v1/ping", "Answers when the daemon serves requests.")
    },
    Route {
        public: true,
        ..Route::get("/v1/healthz", "Liveness.")
    },
    Route {
        public: true,
        ..Route::get(
            "/v1/readyz",
            "Readiness: 200 once a pact exists, 503 before.",
        )
    },
    Route {
        answer: Answer::Shape("HostStatus"),
        ..Route::get(
            "/v1/status",
            "The current pact, pact count and peer connections.",
        )
    },
    Route {
        answer: Answer::Metrics,
        ..Route::get("/v1/metrics", "Prometheus metrics.")
    },
    Route {
        answer: Answer::EventStream,
        ..Route::get(
            "/v1/events",
            "Server-sent events across every pact; resumes with Last-Event-ID.",
        )
    },
    Route {
        public: true,
        ..Route::get("/v1/openapi.json", "This document.")
    },
];

/// The handler of a host route, by its path.
fn handler<S: Plane>(path: &str) -> Option<MethodRouter<AppState<S>>> {
    Some(match path {
        "/v1/ping" => get(ping::<S>),
        "/v1/healthz" => get(healthz::<S>),
        "/v1/readyz" => get(readyz::<S>),
        "/v1/status" => get(status::<S>),
        "/v1/metrics" => get(metrics::<S>),
        "/v1/events" => get(crate::sse::events::<S>),
        "/v1/openapi.json" => get(crate::openapi::document_handler),
        _ => return None,
    })
}

/// Every route of [`ROUTES`]; other methods on them answer as an unknown route.
pub fn routes<S: Plane>() -> Router<AppState<S>> {
    ROUTES
        .iter()
        .fold(Router::new(), |router, r| match handler::<S>(r.path) {
            Some(m) => router.route(r.path, m.fallback(no_route)),
            None => {
                tracing::error!(path = r.path, "a host route has no handler");
                router
            }
        })
}

/// 404 for a request no route takes.
pub async fn no_route(method: Method, uri: Uri) -> GatewayError {
    route_not_found(&method, &uri)
}

/// A 200 answer with a JSON body.
fn reply(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

fn rq<T>(message: T) -> tonic::Request<T> {
    tonic::Request::new(message)
}

/// `GET /v1/ping`: `{"ok":true}`.
async fn ping<S: Plane>(State(st): State<AppState<S>>) -> ApiResult<Response> {
    answer(st.plane.ping(rq(v1::PingRequest {})).await)?;
    Ok(reply(StatusCode::OK, json!({ "ok": true })))
}

/// `GET /v1/healthz`: `{"ok":true,"status":"alive"}`.
async fn healthz<S: Plane>(State(st): State<AppState<S>>) -> ApiResult<Response> {
    let h = answer(st.plane.health(rq(v1::HealthRequest {})).await)?;
    Ok(reply(
        StatusCode::OK,
        json!({ "ok": h.ok, "status": h.status }),
    ))
}

/// `GET /v1/readyz`: 200 once a pact exists, else 503.
async fn readyz<S: Plane>(State(st): State<AppState<S>>) -> ApiResult<Response> {
    let r = answer(st.plane.ready(rq(v1::ReadyRequest {})).await)?;
    let status = if r.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(reply(
        status,
        json!({
            "ok": r.ok,
            "status": r.status,
            "pact_count": r.pact_count,
            "agents": r.agents,
        }),
    ))
}

/// `GET /v1/status`: `{current, agents, pact_count}` and the daemon's facts.
async fn status<S: Plane>(State(st): State<AppState<S>>) -> ApiResult<Response> {
    let h = answer(v1::host_server::Host::status(&st.plane, rq(v1::HostStatusRequest {})).await)?;
    Ok(reply(StatusCode::OK, json::host_status(&h)))
}

/// `GET /v1/metrics`: the host status and every pact's status, as Prometheus text.
async fn metrics<S: Plane>(
    State(st): State<AppState<S>>,
    Extension(m): Extension<Arc<Metrics>>,
) -> ApiResult<Response> {
    let host =
        answer(v1::host_server::Host::status(&st.plane, rq(v1::HostStatusRequest {})).await)?;
    let list = answer(st.plane.list_pacts(rq(v1::ListPactsRequest {})).await)?;
    let mut pacts = Vec::with_capacity(list.pacts.len());
    for p in &list.pacts {
        let r = v1::pact_server::Pact::status(
            &st.plane,
            rq(v1::PactStatusRequest {
                pact: p.pact_id.clone(),
            }),
        )
        .await;
        // A pact deleted between the two calls is simply not reported.
        if let Ok(s) = r {
            pacts.push(s.into_inner());
        }
    }
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        m.render(&host, &pacts),
    )
        .into_response())
}
