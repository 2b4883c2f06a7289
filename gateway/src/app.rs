//! The gateway's router and server: the host routes and the pact routes behind the guards
//! (spec/rest-api.md, section 1.2), in the spec's order. The outermost layer times every
//! request, rejected ones included.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use tokio::sync::watch;

use crate::guards::{self, RATE_WINDOW, RateLimiter};
use crate::metrics::{self, Metrics};
use crate::sse::Shutdown;
use crate::state::{AppState, Plane};

/// The whole REST + SSE surface, guards included, ready to serve.
pub fn router<S: Plane>(state: AppState<S>) -> axum::Router {
    build(state, Shutdown::never())
}

fn build<S: Plane>(state: AppState<S>, shutdown: Shutdown) -> axum::Router {
    let config = state.config.clone();
    let metrics = Arc::new(Metrics::default());
    let limiter = Arc::new(RateLimiter::new(config.rate_limit, RATE_WINDOW));
    // Layers run outermost last-added: metrics, then auth, rate limit, body limit, handler.
    axum::Router::new()
        .merge(crate::host::routes::<S>())
        .merge(crate::pact::routes::<S>())
        .fallback(crate::host::no_route)
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(from_fn_with_state(config.body_limit, guards::body_limit))
        .layer(from_fn_with_state(limiter, guards::rate_limit))
        .layer(from_fn_with_state(config, guards::auth))
        .layer(Extension(metrics.clone()))
        .layer(Extension(shutdown))
        .layer(from_fn_with_state(metrics, metrics::record))
}

/// Serves the router on `listener` until `shutdown` resolves: then open SSE responses end and
/// the server waits for in-flight requests.
pub async fn serve<S: Plane>(
    listener: tokio::net::TcpListener,
    state: AppState<S>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = watch::channel(false);
    let app = build(state, Shutdown(rx));
    let signal = async move {
        shutdown.await;
        let _ = tx.send(true);
    };
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .await
}
