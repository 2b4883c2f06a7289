//! A cache of read answers, keyed by the request and the daemon's generation
//! ([`Plane::generation`]). Agents and dashboards poll the same pages over and over; between two
//! changes of the daemon the answer is the same bytes, so it is served from memory instead of
//! being read from the ledger and written as JSON again.
//!
//! Why it cannot serve a stale answer: the generation grows after every ledger commit and every
//! registry change, before the change is acknowledged to anyone. An answer is computed after
//! reading generation `g`, so it holds at least everything acknowledged before `g`, and it is
//! served only while the generation is still `g`. Only answers that depend on the ledger and the
//! registry alone are cached (lists, one entry, referenced-by); anything with local or live
//! state (agents' online flags, installed skills, long polls, status) never is.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::{AppState, Plane};

/// Largest answer kept.
const MAX_ANSWER: usize = 256 * 1024;
/// Most bytes kept in all.
const MAX_TOTAL: usize = 16 * 1024 * 1024;

/// The cached answers of one generation.
#[derive(Default)]
pub struct AnswerCache {
    inner: Mutex<Generation>,
}

#[derive(Default)]
struct Generation {
    generation: u64,
    answers: HashMap<String, (HeaderValue, Bytes)>,
    bytes: usize,
}

impl AnswerCache {
    fn get(&self, generation: u64, key: &str) -> Option<(HeaderValue, Bytes)> {
        let inner = self.inner.lock().ok()?;
        if inner.generation != generation {
            return None;
        }
        inner.answers.get(key).cloned()
    }

    fn put(&self, generation: u64, key: String, content_type: HeaderValue, body: Bytes) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if generation < inner.generation {
            // Computed before a newer answer was kept: already stale.
            return;
        }
        if generation > inner.generation {
            *inner = Generation {
                generation,
                ..Generation::default()
            };
        }
        if inner.bytes + body.len() > MAX_TOTAL {
            inner.answers.clear();
            inner.bytes = 0;
        }
        inner.bytes += body.len();
        if let Some((_, old)) = inner.answers.insert(key, (content_type, body)) {
            inner.bytes -= old.len();
        }
    }
}

/// Whether the answer to `GET path` depends only on the ledger and the registry:
/// `/v1/pacts/:pact/{knowledge,messages,skills,tasks}`, `/v1/pacts/:pact/tasks/:id`,
/// `/v1/pacts/:pact/entries/:id` and `…/entries/:id/referenced-by`.
pub fn cacheable(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/v1/pacts/") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [pact, kind] => {
            !pact.is_empty() && matches!(*kind, "knowledge" | "messages" | "skills" | "tasks")
        }
        [pact, "tasks" | "entries", id] => !pact.is_empty() && !id.is_empty(),
        [pact, "entries", id, "referenced-by"] => !pact.is_empty() && !id.is_empty(),
        _ => false,
    }
}

/// Answers a cacheable GET from the cache when the generation has not moved, else runs the
/// handler (`next`) and keeps a 200 answer.
pub async fn answer<S: Plane>(
    state: &AppState<S>,
    cache: &AnswerCache,
    req: Request,
    next: Next,
) -> Response {
    if !state.config.answer_cache || req.method() != Method::GET || !cacheable(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(generation) = state.plane.generation() else {
        return next.run(req).await;
    };
    let key = req.uri().to_string();
    if let Some((content_type, body)) = cache.get(generation, &key) {
        return ([(CONTENT_TYPE, content_type)], body).into_response();
    }
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Some(content_type) = parts.headers.get(CONTENT_TYPE).cloned() else {
        return Response::from_parts(parts, body);
    };
    // Only answers of a known size under the limit are kept; the rest go out as they are.
    let small = http_body::Body::size_hint(&body)
        .exact()
        .is_some_and(|n| n <= MAX_ANSWER as u64);
    if !small {
        return Response::from_parts(parts, body);
    }
    // Answers are built in memory, so reading them back whole costs a copy at most.
    match axum::body::to_bytes(body, MAX_ANSWER).await {
        Ok(bytes) => {
            cache.put(generation, key, content_type, bytes.clone());
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(e) => crate::error::GatewayError::internal(format!("cannot read an answer: {e}"))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ledger_reads_are_cacheable() {
        for p in [
            "/v1/pacts/default/knowledge",
            "/v1/pacts/default/messages",
            "/v1/pacts/default/skills",
            "/v1/pacts/default/tasks",
            "/v1/pacts/default/tasks/abcd1234-7",
            "/v1/pacts/default/entries/abcd1234-7",
            "/v1/pacts/default/entries/abcd1234-7/referenced-by",
        ] {
            assert!(cacheable(p), "{p}");
        }
        for p in [
            "/v1/pacts",
            "/v1/status",
            "/v1/pacts/default",
            "/v1/pacts/default/status",
            "/v1/pacts/default/agents",
            "/v1/pacts/default/changes",
            "/v1/pacts/default/skills/installed",
            "/v1/pacts/default/skills/x/content",
            "/v1/pacts/default/info",
            "/v1/pacts/default/me",
            "/v1/pacts/default/invites",
            "/v1/pacts//knowledge",
            "/v1/pacts/default/knowledge/",
        ] {
            assert!(!cacheable(p), "{p}");
        }
    }

    #[test]
    fn an_answer_lives_for_its_generation_only() {
        let c = AnswerCache::default();
        let ct = HeaderValue::from_static("application/json");
        c.put(3, "a".into(), ct.clone(), Bytes::from_static(b"three"));
        assert_eq!(
            c.get(3, "a").map(|(_, b)| b),
            Some(Bytes::from_static(b"three"))
        );
        assert!(c.get(4, "a").is_none(), "a newer generation never sees it");
        // An answer computed at an older generation than the one kept is dropped.
        c.put(4, "b".into(), ct.clone(), Bytes::from_static(b"four"));
        c.put(3, "a".into(), ct, Bytes::from_static(b"late"));
        assert!(c.get(3, "a").is_none());
        assert!(c.get(4, "a").is_none());
        assert_eq!(
            c.get(4, "b").map(|(_, b)| b),
            Some(Bytes::from_static(b"four"))
        );
    }
}
