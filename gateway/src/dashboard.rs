//! The dashboard port (spec/rest-api.md, Decision 13): 127.0.0.1 only, same-origin only. It
//! serves the control plane over gRPC-web under `/grpc-web/` (tonic-web), so a page served from
//! this port, such as the dashboard or a browser agent, talks to the daemon with the generated
//! TypeScript client. The control plane needs no token (the unix socket's mode is its guard);
//! here the Host and Origin checks stand in for it, as on REST. The dashboard's pages and its
//! `/api/*` REST proxy arrive with the dashboard issue; until then any other path is 404.

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Uri};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use openpact_proto::v1;

use crate::error::GatewayError;
use crate::guards::check_host_and_origin;
use crate::state::Plane;

/// Where the control plane is served over gRPC-web.
pub const GRPC_WEB_PREFIX: &str = "/grpc-web";

/// The dashboard port's router: gRPC-web for the three control-plane services, behind the Host
/// and Origin checks.
pub fn router<S: Plane>(plane: S) -> axum::Router {
    let grpc = tonic::service::Routes::new(v1::host_server::HostServer::new(plane.clone()))
        .add_service(v1::pact_server::PactServer::new(plane.clone()))
        .add_service(v1::events_server::EventsServer::new(plane))
        .into_axum_router()
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(from_fn(grpc_web_only));
    axum::Router::new()
        .nest_service(GRPC_WEB_PREFIX, grpc)
        .fallback(not_found)
        .layer(from_fn(same_origin))
}

/// Host must name this machine; Origin, when a browser sends one, must be this very port.
async fn same_origin(req: Request, next: Next) -> Response {
    match check_host_and_origin(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Only gRPC-web calls (POST, `application/grpc-web…`) reach the services: plain gRPC needs
/// HTTP/2 trailers, which this HTTP/1.1 port cannot carry (use the unix socket).
async fn grpc_web_only(req: Request, next: Next) -> Response {
    let grpc_web = req.method() == Method::POST
        && req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/grpc-web"));
    if !grpc_web {
        return GatewayError::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "This path serves gRPC-web only: POST with content-type application/grpc-web+proto \
             (or -text). Native gRPC clients use the daemon's unix socket.",
        )
        .into_response();
    }
    next.run(req).await
}

async fn not_found(method: Method, uri: Uri) -> GatewayError {
    GatewayError::new(
        404,
        "NOT_FOUND",
        format!(
            "route {method} {uri} not found; this port serves the control plane over gRPC-web \
             under {GRPC_WEB_PREFIX}/ (the dashboard pages arrive with the dashboard)"
        ),
    )
}
