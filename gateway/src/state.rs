//! What every handler holds: the control plane and the gateway's settings.

use std::sync::Arc;
use std::time::Duration;

use openpact_proto::v1;

/// The control plane, as the gateway uses it: the daemon's own service implementation when the
/// daemon starts the gateway (no socket hop), or [`crate::remote::Remote`] over the unix socket
/// when the gateway runs as its own process.
pub trait Plane:
    v1::host_server::Host
    + v1::pact_server::Pact
    + v1::events_server::Events
    + Clone
    + Send
    + Sync
    + 'static
{
    /// The daemon's generation, when the plane can tell it cheaply (in process): it grows after
    /// every change a read could see, before the change is acknowledged. `None` (over the
    /// socket): never cache.
    fn generation(&self) -> Option<u64> {
        None
    }
}

/// The gateway's settings (flags > env > daemon.json > defaults, resolved by the caller).
#[derive(Clone, Debug)]
pub struct Config {
    /// The bearer token (64 lowercase hex) from `<data>/daemon.json`.
    pub token: String,
    /// Requests per minute per client; 0 disables the limiter.
    pub rate_limit: u32,
    /// Largest HTTP body, bytes (128 KiB by default).
    pub body_limit: usize,
    /// An SSE client whose unsent bytes pass this is closed (1 MiB by default).
    pub sse_buffer_bytes: usize,
    /// Server timeouts (spec/rest-api.md, section 1.1).
    pub timeouts: Timeouts,
    /// Whether read answers are cached per daemon generation ([`crate::cache`]); on by default,
    /// `OPENPACT_ANSWER_CACHE=0` turns it off.
    pub answer_cache: bool,
}

/// The REST server's timeouts. Defaults are the spec's: keep-alive 5 s, request 30 s,
/// connection 30 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a connection may sit idle between requests, and how long a client has to send
    /// a request's headers (keepAliveTimeout).
    pub keep_alive: Duration,
    /// How long reading a request body may stall before the answer is 408 (requestTimeout).
    pub request: Duration,
    /// How long writing to a client may make no progress before the connection is closed
    /// (connectionTimeout). SSE keep-alives every 25 s keep a healthy stream under it.
    pub connection: Duration,
    /// After shutdown, how long in-flight requests get before their connections are closed.
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            keep_alive: Duration::from_secs(5),
            request: Duration::from_secs(30),
            connection: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// Defaults with `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Config {
            token: token.into(),
            rate_limit: 3000,
            body_limit: 128 * 1024,
            sse_buffer_bytes: 1024 * 1024,
            timeouts: Timeouts::default(),
            answer_cache: true,
        }
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState<S> {
    /// The control plane.
    pub plane: S,
    /// Settings.
    pub config: Arc<Config>,
}
