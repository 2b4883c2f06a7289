//! The gateway's router and server: the host routes and the pact routes behind the guards
//! (spec/rest-api.md, section 1.2), in the spec's order, all in one middleware layer that also
//! times every request (rejected ones included) and keeps the answer cache.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::cache::{self, AnswerCache};
use crate::guards::{self, Guards, RATE_WINDOW, RateLimiter};
use crate::metrics::{Metrics, Timing};
use crate::sse::Shutdown;
use crate::state::{AppState, Plane, Timeouts};

/// The whole REST + SSE surface, guards included, ready to serve.
pub fn router<S: Plane>(state: AppState<S>) -> axum::Router {
    build(state, Shutdown::never())
}

fn build<S: Plane>(state: AppState<S>, shutdown: Shutdown) -> axum::Router {
    let config = state.config.clone();
    let metrics = Arc::new(Metrics::default());
    let layer = Arc::new(Layer {
        guards: Guards {
            limiter: RateLimiter::new(config.rate_limit, RATE_WINDOW),
            config: config.clone(),
        },
        metrics: metrics.clone(),
        state: state.clone(),
        cache: AnswerCache::default(),
    });
    axum::Router::new()
        .merge(crate::host::routes::<S>())
        .merge(crate::pact::routes::<S>())
        .fallback(crate::host::no_route)
        .with_state(state)
        .layer(from_fn_with_state(layer, run_layer::<S>))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(Extension(metrics))
        .layer(Extension(shutdown))
}

/// What the one middleware layer holds.
struct Layer<S: Plane> {
    guards: Guards,
    metrics: Arc<Metrics>,
    state: AppState<S>,
    cache: AnswerCache,
}

/// The middleware, one layer (each layer costs every request a clone of what is inside it and a
/// boxed future): times the request, then the guards in the spec's order (Host, Origin, bearer,
/// rate limit, body limit), then the answer cache, then the handler.
async fn run_layer<S: Plane>(
    State(layer): State<Arc<Layer<S>>>,
    req: Request,
    next: Next,
) -> Response {
    let timing = Timing::start(&req);
    let response = guards::guard(&layer.guards, req, async |req: Request| {
        cache::answer(&layer.state, &layer.cache, req, next).await
    })
    .await;
    timing.finish(&layer.metrics, &response);
    response
}

/// Serves the REST router on `listener` until `shutdown` resolves: then open SSE responses end
/// and the connections close as [`serve_router`] says.
pub async fn serve<S: Plane>(
    listener: tokio::net::TcpListener,
    state: AppState<S>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let timeouts = state.config.timeouts;
    let (tx, rx) = watch::channel(false);
    let app = build(state, Shutdown(rx));
    serve_router(listener, app, timeouts, shutdown, move || {
        let _ = tx.send(true);
    })
    .await
}

/// Serves `app` over HTTP/1.1 on `listener` until `shutdown` resolves; `on_shutdown` runs then
/// (to end long responses). The server stops accepting, lets in-flight requests finish for the
/// shutdown grace and closes whatever is still open. The timeouts: an idle connection or slow
/// headers by `keep_alive` (hyper's header read timeout, which also runs between requests), a
/// stalled body by `request` (408), a write that makes no progress by `connection`.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    timeouts: Timeouts,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_shutdown: impl FnOnce(),
) -> std::io::Result<()> {
    let app = app.layer(RequestBodyTimeoutLayer::new(timeouts.request));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.keep_alive)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(timeouts.connection));
        let service = app
            .clone()
            .map_request(move |mut req: axum::extract::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let connection = http.serve_connection(
            TokioIo::new(Box::pin(stream)),
            TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    on_shutdown();
    if tokio::time::timeout(timeouts.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(
            open = connections.len(),
            "connections still open after the shutdown grace; closing them"
        );
    }
    connections.shutdown().await;
    Ok(())
}
