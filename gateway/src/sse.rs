//! `GET /v1/events` (spec/rest-api.md, section 15, Decision 12): the control plane's event stream
//! as server-sent events, one host-wide stream multiplexed across every pact.
//!
//! A producer task turns control-plane events (and a keep-alive comment every 25 s) into frames
//! and queues them for the response body. The bytes queued but not yet taken by the body are the
//! client's unsent buffer: before each frame the producer checks it, and when it has passed
//! `Config::sse_buffer_bytes` the frame is dropped, the response ends and the close is counted in
//! `openpact_sse_backpressure_closes_total`. The client reconnects after `retry` and resumes with
//! `Last-Event-ID`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, http};
use openpact_proto::v1;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_stream::{Stream, StreamExt as _};
use tracing::Instrument as _;

use crate::error::{ApiResult, answer};
use crate::json;
use crate::metrics::Metrics;
use crate::state::{AppState, Plane};

/// Interval of the keep-alive comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(25);

/// The first bytes of every stream: clients reconnect after one second.
const RETRY_FRAME: &[u8] = b"retry: 1000\n\n";

/// Tells every open SSE response to end (the server is shutting down).
#[derive(Clone, Debug)]
pub struct Shutdown(pub watch::Receiver<bool>);

impl Shutdown {
    /// A signal that never fires (its sender is dropped at once, which `wait` reads as never).
    pub fn never() -> Self {
        Shutdown(watch::channel(false).1)
    }

    async fn wait(mut self) {
        loop {
            if *self.0.borrow_and_update() {
                return;
            }
            if self.0.changed().await.is_err() {
                // The sender is gone without firing: never fires.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// `GET /v1/events`.
pub async fn events<S: Plane>(
    State(st): State<AppState<S>>,
    Extension(metrics): Extension<Arc<Metrics>>,
    Extension(shutdown): Extension<Shutdown>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let upstream = answer(
        v1::events_server::Events::subscribe(
            &st.plane,
            tonic::Request::new(v1::SubscribeRequest {
                last_event_id,
                ..Default::default()
            }),
        )
        .await,
    )?;
    let mut queue = Queue::new(st.config.sse_buffer_bytes);
    let body = queue.body();
    let producer = produce(upstream, queue, metrics, shutdown);
    tokio::spawn(producer.instrument(tracing::info_span!("sse-client")));
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    h.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    h.insert(
        http::HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// The frames between the producer and the response body, with the count of unsent bytes.
struct Queue {
    tx: mpsc::UnboundedSender<Bytes>,
    rx: Option<mpsc::UnboundedReceiver<Bytes>>,
    pending: Arc<AtomicUsize>,
    closed: Arc<AtomicBool>,
    threshold: usize,
}

impl Queue {
    fn new(threshold: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Queue {
            tx,
            rx: Some(rx),
            pending: Arc::new(AtomicUsize::new(0)),
            closed: Arc::new(AtomicBool::new(false)),
            threshold,
        }
    }

    /// The response body's end of the queue. Taken once: a second call gets an empty body.
    fn body(&mut self) -> FrameStream {
        FrameStream {
            rx: self
                .rx
                .take()
                .unwrap_or_else(|| mpsc::unbounded_channel().1),
            pending: self.pending.clone(),
            closed: self.closed.clone(),
        }
    }

    /// Queues `frame`, or refuses it (`Err(pending)`) when the unsent bytes already pass the
    /// threshold. `Ok(false)`: the body is gone (the client left).
    fn push(&self, frame: Bytes) -> Result<bool, usize> {
        let pending = self.pending.load(Ordering::Acquire);
        if pending > self.threshold {
            return Err(pending);
        }
        self.pending.fetch_add(frame.len(), Ordering::AcqRel);
        Ok(self.tx.send(frame).is_ok())
    }

    /// Ends the body now, dropping what it has not taken.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// The response body: frames as the producer queued them, until it closes.
struct FrameStream {
    rx: mpsc::UnboundedReceiver<Bytes>,
    pending: Arc<AtomicUsize>,
    closed: Arc<AtomicBool>,
}

impl Stream for FrameStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.closed.load(Ordering::Acquire) {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => {
                self.pending.fetch_sub(frame.len(), Ordering::AcqRel);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Feeds one client until its upstream ends, it leaves, it falls behind, or the server stops.
async fn produce<U>(upstream: U, queue: Queue, metrics: Arc<Metrics>, shutdown: Shutdown)
where
    U: Stream<Item = Result<v1::Event, tonic::Status>> + Send + 'static,
{
    let mut upstream = std::pin::pin!(upstream);
    let stop = shutdown.wait();
    let mut stop = std::pin::pin!(stop);
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    if !matches!(queue.push(Bytes::from_static(RETRY_FRAME)), Ok(true)) {
        return;
    }
    loop {
        let frame = tokio::select! {
            _ = &mut stop => break,
            _ = queue.tx.closed() => break,
            _ = keep_alive.tick() => Bytes::from(format!(": keepalive {}\n\n", now_ms())),
            next = upstream.next() => match next {
                Some(Ok(e)) => match frame(&e) {
                    Some(f) => Bytes::from(f),
                    None => continue,
                },
                Some(Err(status)) => {
                    tracing::warn!(error = %status, "the event stream failed; ending the SSE response");
                    break;
                }
                None => break,
            },
        };
        match queue.push(frame) {
            Ok(true) => {}
            Ok(false) => break,
            Err(pending) => {
                tracing::info!(
                    event = "sse-backpressure-close",
                    pending_bytes = pending,
                    threshold = queue.threshold,
                    "closing a slow SSE client"
                );
                metrics.sse_backpressure_closed();
                queue.close();
                break;
            }
        }
    }
    // Dropping the queue's sender ends the body once it has taken what is queued (unless
    // `close` ended it already).
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The SSE frame of a control-plane event, or `None` for an event SSE does not show.
pub fn frame(e: &v1::Event) -> Option<String> {
    let (name, data) = event_data(e)?;
    let mut f = String::new();
    if !e.id.is_empty() {
        f.push_str("id: ");
        f.push_str(&e.id);
        f.push('\n');
    }
    f.push_str("event: ");
    f.push_str(name);
    f.push_str("\ndata: ");
    // serde_json writes no raw newlines, so the data is one line.
    f.push_str(&data.to_string());
    f.push_str("\n\n");
    Some(f)
}

/// The event name and `data` payload of a control-plane event (spec/rest-api.md, section 15).
pub fn event_data(e: &v1::Event) -> Option<(&'static str, Value)> {
    use v1::EventKind as K;
    use v1::event::Detail as D;
    let kind = K::try_from(e.kind).ok()?;
    let scoped = |mut v: Value| {
        if let Value::Object(o) = &mut v {
            o.insert("pact_id".into(), json!(e.pact_id));
            o.insert("alias".into(), json!(e.alias));
        }
        v
    };
    Some(match (kind, &e.detail) {
        (K::EntryApplied, Some(D::Applied(a))) => {
            let mut v = json!({ "kind": a.kind });
            if let Some(entry) = &a.entry {
                v["entry"] = json::entry(entry);
                v["key"] = json!(format!(
                    "{}/{}/{}",
                    json::type_name(entry.r#type),
                    json::time(entry.time_ms),
                    entry.id
                ));
            } else {
                v["entry"] = Value::Null;
            }
            v["id"] = json!(a.id);
            v["hash"] = json!(a.hash);
            v["position"] = json!(a.position);
            v["outcome"] = json!(a.outcome);
            ("entry-applied", scoped(v))
        }
        (K::InvalidEntry, Some(D::Invalid(i))) => (
            "invalid-entry",
            scoped(json!({
                "reason": i.reason,
                "entry": Value::Null,
                "hash": i.hash,
                "message": i.message,
            })),
        ),
        (K::PactUpdated, _) => ("update", scoped(json!({}))),
        (K::MemberOnline, Some(D::Member(m))) => (
            "member-online",
            scoped(json!({ "member_key": m.member_key })),
        ),
        (K::MemberOffline, Some(D::Member(m))) => (
            "member-offline",
            scoped(json!({ "member_key": m.member_key })),
        ),
        (K::PeerAdd, Some(D::Peer(p))) => ("peer-add", json!({ "remoteKey": p.remote_key })),
        (K::PeerRemove, Some(D::Peer(p))) => ("peer-remove", json!({ "remoteKey": p.remote_key })),
        (K::EntryConfirmed, Some(D::Confirmed(c))) => (
            "entry-confirmed",
            scoped(json!({
                "hash": c.hash,
                "id": c.id,
                "position": c.position,
                "outcome": c.outcome,
            })),
        ),
        (K::OutcomeChanged, Some(D::OutcomeChanged(o))) => (
            "entry-outcome-changed",
            scoped(json!({
                "hash": o.hash,
                "id": o.id,
                "position": o.position,
                "before": o.before,
                "after": o.after,
            })),
        ),
        (K::TailRolledBack, Some(D::RolledBack(r))) => (
            "tail-rolled-back",
            scoped(json!({ "from_position": r.from_position, "count": r.count })),
        ),
        (K::ForkDetected, Some(D::Fork(f))) => (
            "fork-detected",
            scoped(json!({
                "author": f.author,
                "seq": f.seq,
                "first": f.first,
                "second": f.second,
            })),
        ),
        (K::Reset, _) => (
            "reset",
            json!({
                "message": "Events were missed. Resync through /v1/pacts/{pact_id}/changes, then reconnect."
            }),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_applied_entry_frame_names_its_pact_and_carries_the_entry() {
        let e = v1::Event {
            id: "abcd-7".into(),
            kind: v1::EventKind::EntryApplied as i32,
            pact_id: "aa".repeat(32),
            alias: "default".into(),
            detail: Some(v1::event::Detail::Applied(v1::EntryApplied {
                kind: "entry".into(),
                entry: Some(v1::Entry {
                    id: "12347f2d-1".into(),
                    r#type: v1::EntryType::Knowledge as i32,
                    ..Default::default()
                }),
                id: "12347f2d-1".into(),
                ..Default::default()
            })),
        };
        let f = frame(&e).unwrap();
        assert!(f.starts_with("id: abcd-7\nevent: entry-applied\ndata: {"));
        assert!(f.ends_with("}\n\n"));
        let data: Value =
            serde_json::from_str(f.lines().nth(2).unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(data["pact_id"], "aa".repeat(32));
        assert_eq!(data["alias"], "default");
        assert_eq!(data["entry"]["id"], "12347f2d-1");
        assert_eq!(data["key"], "knowledge/1970-01-01T00:00:00.000Z/12347f2d-1");
    }

    #[test]
    fn peer_events_have_no_pact_and_a_camel_case_key() {
        let e = v1::Event {
            id: "abcd-8".into(),
            kind: v1::EventKind::PeerAdd as i32,
            detail: Some(v1::event::Detail::Peer(v1::PeerChange {
                remote_key: "bb".into(),
            })),
            ..Default::default()
        };
        let (name, data) = event_data(&e).unwrap();
        assert_eq!(name, "peer-add");
        assert_eq!(data, json!({"remoteKey": "bb"}));
    }

    #[test]
    fn a_frame_is_refused_once_the_unsent_bytes_pass_the_threshold() {
        let mut q = Queue::new(128);
        let mut body = q.body();
        assert_eq!(q.push(Bytes::from(vec![b'x'; 100])), Ok(true));
        assert_eq!(q.push(Bytes::from(vec![b'x'; 100])), Ok(true));
        assert_eq!(q.push(Bytes::from(vec![b'x'; 10])), Err(200));
        // The body takes a frame: the unsent bytes fall under the threshold again.
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(matches!(
            Pin::new(&mut body).poll_next(&mut cx),
            Poll::Ready(Some(Ok(_)))
        ));
        assert_eq!(q.push(Bytes::from(vec![b'x'; 10])), Ok(true));
        q.close();
        assert!(matches!(
            Pin::new(&mut body).poll_next(&mut cx),
            Poll::Ready(None)
        ));
    }
}
