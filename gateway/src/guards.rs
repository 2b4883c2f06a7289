//! The guards every request passes, written once ([`guard`]) and run by the router's one layer
//! (spec/rest-api.md, sections 1.2, 2 and 4), in this order:
//!
//! 1. Host must be loopback (403 `FORBIDDEN_HOST`);
//! 2. Origin, when present, must be loopback and match Host (403 `FORBIDDEN_ORIGIN`);
//! 3. the bearer token, compared in constant time (401 `UNAUTHORIZED`);
//! 4. a per-client fixed-window rate limit (429 `RATE_LIMITED`);
//! 5. the body limit (413 `PAYLOAD_TOO_LARGE`).
//!
//! The public paths skip 1–3. Requests that 1–3 reject do not use rate-limit budget, because the
//! limiter runs after them.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, ORIGIN, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use crate::error::GatewayError;
use crate::state::Config;

/// Paths that skip the Host, Origin and bearer checks (matched without the query string).
/// `/v1/openapi.json` is public too (Decision 11).
pub const PUBLIC_PATHS: &[&str] = &["/v1/ping", "/v1/healthz", "/v1/readyz", "/v1/openapi.json"];

/// Paths the rate limiter does not count.
pub const RATE_EXEMPT_PATHS: &[&str] = &["/v1/healthz", "/v1/readyz", "/v1/events"];

/// The rate limiter's window.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Whether a Host value (or an Origin's host) names this machine:
/// `^(localhost|127\.0\.0\.1|\[?::1\]?)(:\d{1,5})?$`, case-insensitively, after trimming.
pub fn is_loopback_host(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    ["localhost", "127.0.0.1", "[::1]", "[::1", "::1]", "::1"]
        .iter()
        .filter_map(|name| v.strip_prefix(name))
        .any(|rest| match rest.strip_prefix(':') {
            None => rest.is_empty(),
            Some(port) => (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()),
        })
}

/// Whether an Origin value is acceptable beside the request's Host: it parses as a URL, its host
/// (default port dropped) is loopback, and it equals Host when Host is present.
pub fn is_allowed_origin(origin: &str, host: Option<&str>) -> bool {
    let Ok(url) = url::Url::parse(origin.trim()) else {
        return false;
    };
    let Some(name) = url.host_str() else {
        return false;
    };
    let authority = match url.port() {
        Some(port) => format!("{name}:{port}"),
        None => name.to_string(),
    };
    is_loopback_host(&authority) && host.is_none_or(|h| h.trim().eq_ignore_ascii_case(&authority))
}

/// Whether `header` (an `Authorization` value) carries `token`: `^Bearer\s+(.+)$`, the scheme
/// case-insensitive, the token trimmed. `None` when the header is not in that form.
fn bearer_matches(header: &str, token: &str) -> Option<bool> {
    let (scheme, rest) = header.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("bearer") || !rest.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let given = rest.trim();
    if given.is_empty() {
        return None;
    }
    // `ct_eq` answers false for slices of different lengths without looking at their bytes.
    Some(bool::from(given.as_bytes().ct_eq(token.as_bytes())))
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// The guards, for the one layer that runs them all (see [`guard`]).
#[derive(Debug)]
pub struct Guards {
    /// The token and the body limit.
    pub config: Arc<Config>,
    /// The rate limiter.
    pub limiter: RateLimiter,
}

/// Runs the guards in their order in front of `next`: the Host, Origin and bearer checks
/// (public paths skip them), the rate limit (healthz, readyz and events are exempt; the
/// answer carries the limiter's headers), the declared body length. One layer rather than one
/// per guard: each layer costs the request a clone of everything inside it and a boxed future.
pub async fn guard(
    guards: &Guards,
    req: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    if !PUBLIC_PATHS.contains(&req.uri().path())
        && let Err(e) = check_auth(&guards.config, req.headers())
    {
        return e.into_response();
    }
    let exempt = (req.method() == Method::GET || req.method() == Method::HEAD)
        && RATE_EXEMPT_PATHS.contains(&req.uri().path());
    let verdict = match exempt {
        true => None,
        false => {
            let client = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
            guards.limiter.check(client, Instant::now())
        }
    };
    let response = match verdict {
        Some(v) if !v.allowed => {
            let ttl = v.reset.as_millis();
            GatewayError::new(
                429,
                "RATE_LIMITED",
                format!(
                    "rate limit exceeded: {} requests per {ttl}ms — retry in {}s",
                    v.limit,
                    ceil_secs(v.reset)
                ),
            )
            .into_response()
        }
        _ => match check_body_length(guards.config.body_limit, req.headers()) {
            Err(e) => e.into_response(),
            Ok(()) => next(req).await,
        },
    };
    match verdict {
        Some(v) => with_rate_headers(response, v),
        None => response,
    }
}

/// Host must name this machine (403 `FORBIDDEN_HOST`, against DNS rebinding); Origin, when a
/// browser sends one, must be loopback and match Host (403 `FORBIDDEN_ORIGIN`). The REST port
/// and the dashboard port both check this.
pub fn check_host_and_origin(headers: &HeaderMap) -> Result<(), GatewayError> {
    let host = header(headers, &HOST);
    if !host.is_some_and(is_loopback_host) {
        return Err(GatewayError::new(
            403,
            "FORBIDDEN_HOST",
            format!(
                "Host header {} is not loopback",
                host.unwrap_or("<missing>")
            ),
        ));
    }
    if let Some(origin) = header(headers, &ORIGIN)
        && !is_allowed_origin(origin, host)
    {
        return Err(GatewayError::new(
            403,
            "FORBIDDEN_ORIGIN",
            format!("Origin {origin} is not loopback or does not match Host"),
        ));
    }
    Ok(())
}

fn check_auth(config: &Config, headers: &HeaderMap) -> Result<(), GatewayError> {
    check_host_and_origin(headers)?;
    match header(headers, &AUTHORIZATION).and_then(|h| bearer_matches(h, &config.token)) {
        Some(true) => Ok(()),
        Some(false) => Err(GatewayError::new(
            401,
            "UNAUTHORIZED",
            "invalid Bearer token",
        )),
        None => Err(GatewayError::new(
            401,
            "UNAUTHORIZED",
            "missing Bearer token; set Authorization header",
        )),
    }
}

/// A per-client fixed-window counter (spec/rest-api.md, section 4).
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    count: u32,
}

/// What the limiter decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the request may pass.
    pub allowed: bool,
    /// The limit.
    pub limit: u32,
    /// Requests left in the window.
    pub remaining: u32,
    /// Time left in the window.
    pub reset: Duration,
}

impl RateLimiter {
    /// `max` requests per `window` per client; `max` 0 disables the limiter.
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max,
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `client` at `now`; `None` when the limiter is disabled.
    pub fn check(&self, client: IpAddr, now: Instant) -> Option<Verdict> {
        if self.max == 0 {
            return None;
        }
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget finished windows now and then, so the map does not grow without bound.
        if clients.len() > 1024 {
            clients.retain(|_, w| now.duration_since(w.start) < self.window);
        }
        let w = clients.entry(client).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.duration_since(w.start) >= self.window {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
        let reset = self.window.saturating_sub(now.duration_since(w.start));
        Some(Verdict {
            allowed: w.count <= self.max,
            limit: self.max,
            remaining: self.max.saturating_sub(w.count),
            reset,
        })
    }
}

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

/// The limiter's headers on an answer (429 or not).
fn with_rate_headers(mut response: Response, v: Verdict) -> Response {
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(v.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(v.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(ceil_secs(v.reset)));
    if !v.allowed {
        h.insert(RETRY_AFTER, HeaderValue::from(ceil_secs(v.reset)));
    }
    response
}

/// 413 `PAYLOAD_TOO_LARGE` for a declared length over the limit. A body without a length (chunked)
/// is cut at the limit by `DefaultBodyLimit` as the handler reads it, with the same answer.
fn check_body_length(limit: usize, headers: &HeaderMap) -> Result<(), GatewayError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::new(
            413,
            "PAYLOAD_TOO_LARGE",
            "Request body is too large",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_predicate_takes_loopback_names_with_or_without_a_port() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:7666",
            "localhost",
            "LOCALHOST:7666",
            "::1",
            "[::1]:7666",
            " localhost ",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "10.0.0.1",
            "localhost.evil.com",
            "127.0.0.1:123456",
            "127.0.0.1:",
            "localhost:x",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn origin_must_be_a_loopback_url_matching_host() {
        let host = Some("127.0.0.1:7666");
        assert!(is_allowed_origin("http://127.0.0.1:7666", host));
        assert!(is_allowed_origin("http://localhost", None));
        assert!(is_allowed_origin("http://localhost:80", Some("localhost")));
        assert!(!is_allowed_origin("http://example.com", host));
        assert!(!is_allowed_origin("http://127.0.0.1:7667", host));
        assert!(!is_allowed_origin("not a url", host));
        assert!(!is_allowed_origin("null", host));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_lengths_may_differ() {
        let t = "ab".repeat(32);
        assert_eq!(bearer_matches(&format!("Bearer {t}"), &t), Some(true));
        assert_eq!(bearer_matches(&format!("bearer   {t} "), &t), Some(true));
        assert_eq!(bearer_matches("Bearer short", &t), Some(false));
        assert_eq!(bearer_matches("Bearer", &t), None);
        assert_eq!(bearer_matches("Bearer ", &t), None);
        assert_eq!(bearer_matches(&format!("Basic {t}"), &t), None);
        assert_eq!(bearer_matches(&format!("Bearer{t}"), &t), None);
    }

    #[test]
    fn the_fourth_request_in_a_window_of_three_is_refused_until_the_window_ends() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        for i in 0..3 {
            let v = l.check(ip, t0).unwrap();
            assert!(v.allowed);
            assert_eq!(v.remaining, 2 - i);
        }
        let v = l.check(ip, t0 + Duration::from_secs(1)).unwrap();
        assert!(!v.allowed);
        assert_eq!(ceil_secs(v.reset), 59);
        assert!(l.check(ip, t0 + Duration::from_secs(60)).unwrap().allowed);
        assert!(RateLimiter::new(0, RATE_WINDOW).check(ip, t0).is_none());
    }
}
