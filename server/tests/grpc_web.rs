//! The control plane over gRPC-web on the dashboard port (spec/rest-api.md, Decision 13), spoken
//! byte for byte as a browser's gRPC-web client speaks it: unary calls, a wire code in the
//! trailers, a server stream carrying an event for a write, and the same-origin guards. The
//! TypeScript client's browser test drives the same endpoint from headless Chromium.

use std::time::Duration;

use openpact_proto::v1;
use openpact_server::daemon::{self, RunOptions};
use openpact_server::datadir::DataDir;
use openpact_server::host::Ports;
use prost::Message as _;

struct Harness {
    _dir: tempfile::TempDir,
    base: String,
    http: reqwest::Client,
    done: tokio::task::JoinHandle<openpact_server::Result<()>>,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::Builder::new()
            .prefix("opw")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let data = DataDir::at(dir.path());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done = tokio::spawn(daemon::run(
            data.clone(),
            RunOptions {
                ports: Ports {
                    rest: 0,
                    dashboard: Some(0),
                },
                p2p: None,
            },
            move || {
                let _ = tx.send(());
            },
        ));
        rx.await.expect("daemon ready");
        let port = data
            .load()
            .expect("daemon.json")
            .dashboard_port
            .expect("the dashboard port is recorded");
        assert_ne!(port, 0);
        Harness {
            _dir: dir,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            done,
        }
    }

    /// A gRPC-web call: the request framed, the response's messages and trailers.
    async fn call(&self, method: &str, msg: &impl prost::Message) -> (Vec<Vec<u8>>, String) {
        let r = self
            .http
            .post(format!("{}/grpc-web/{method}", self.base))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(frame(0, &msg.encode_to_vec()))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{method}");
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/grpc-web+proto")
        );
        // A call that fails before any message is "trailers-only": its status comes in the
        // response headers instead of a trailer frame, as gRPC-web allows.
        let mut head = String::new();
        for name in [
            "grpc-status",
            "grpc-message",
            "grpc-status-details-bin",
            "openpact-code",
        ] {
            if let Some(v) = r.headers().get(name).and_then(|v| v.to_str().ok()) {
                head.push_str(&format!("{name}:{v}\r\n"));
            }
        }
        let (messages, trailers) = unframe(&r.bytes().await.expect("body"));
        (messages, head.to_ascii_lowercase() + &trailers)
    }

    /// Stops the daemon through the control plane, over gRPC-web too.
    async fn stop(self) {
        let (_, trailers) = self
            .call("openpact.v1.Host/Shutdown", &v1::ShutdownRequest {})
            .await;
        assert!(trailers.contains("grpc-status:0"), "{trailers}");
        tokio::time::timeout(Duration::from_secs(10), self.done)
            .await
            .expect("stops within 10 s")
            .expect("join")
            .expect("ran cleanly");
    }
}

fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&u32::try_from(payload.len()).expect("small").to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a gRPC-web body into its data messages and its trailer block.
fn unframe(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let mut messages = Vec::new();
    let mut trailers = String::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let payload = &body[5..5 + len];
        if body[0] & 0x80 != 0 {
            trailers.push_str(&String::from_utf8_lossy(payload));
        } else {
            messages.push(payload.to_vec());
        }
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "a partial frame is left");
    (messages, trailers.to_ascii_lowercase())
}

#[tokio::test(flavor = "multi_thread")]
async fn unary_calls_answer_messages_and_wire_codes_in_trailers() {
    let h = Harness::start().await;
    let (msgs, trailers) = h.call("openpact.v1.Host/Ping", &v1::PingRequest {}).await;
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let ping = v1::PingResponse::decode(msgs[0].as_slice()).expect("PingResponse");
    assert!(!ping.version.is_empty());

    let (msgs, _) = h
        .call(
            "openpact.v1.Host/CreatePact",
            &v1::CreatePactRequest {
                name: "web".into(),
                alias: Some("web".into()),
                confirm: true,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(msgs.len(), 1, "the created pact comes back");

    // A real mistake: an unknown pact. The wire code travels in the trailers.
    let (msgs, trailers) = h
        .call(
            "openpact.v1.Pact/ListKnowledge",
            &v1::ListKnowledgeRequest {
                pact: "nope".into(),
                ..Default::default()
            },
        )
        .await;
    assert!(msgs.is_empty());
    assert!(trailers.contains("grpc-status:5"), "NOT_FOUND: {trailers}");
    assert!(
        trailers.contains("openpact-code:unknown_pact"),
        "{trailers}"
    );
    assert!(trailers.contains("grpc-status-details-bin:"), "{trailers}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_stream_carries_the_event_of_a_write() {
    let h = Harness::start().await;
    h.call(
        "openpact.v1.Host/CreatePact",
        &v1::CreatePactRequest {
            name: "web".into(),
            alias: Some("web".into()),
            confirm: true,
            ..Default::default()
        },
    )
    .await;
    let mut stream = h
        .http
        .post(format!("{}/grpc-web/openpact.v1.Events/Subscribe", h.base))
        .header("content-type", "application/grpc-web+proto")
        .body(frame(0, &v1::SubscribeRequest::default().encode_to_vec()))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(stream.status(), 200);
    // The stream is open before the write: its response headers came back.
    let (msgs, trailers) = h
        .call(
            "openpact.v1.Pact/CreateKnowledge",
            &v1::CreateKnowledgeRequest {
                pact: "web".into(),
                topic: "web".into(),
                content: "from the browser's protocol".into(),
                ..Default::default()
            },
        )
        .await;
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let written = v1::Entry::decode(msgs[0].as_slice()).expect("Entry");
    let mut buf = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = stream
                .chunk()
                .await
                .expect("read")
                .expect("the stream goes on");
            buf.extend_from_slice(&chunk);
            let mut rest = buf.as_slice();
            while rest.len() >= 5 {
                let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
                if rest.len() < 5 + len {
                    break;
                }
                let event = v1::Event::decode(&rest[5..5 + len]).expect("Event");
                if format!("{event:?}").contains(&written.id) {
                    return event;
                }
                rest = &rest[5 + len..];
            }
        }
    })
    .await
    .expect("the event arrives within 10 s");
    assert!(!found.id.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_same_origin_grpc_web_is_served() {
    let h = Harness::start().await;
    let ping = frame(0, &v1::PingRequest {}.encode_to_vec());
    let url = format!("{}/grpc-web/openpact.v1.Host/Ping", h.base);
    let status = |r: reqwest::Response| r.status().as_u16();
    // A page from elsewhere.
    let r = h
        .http
        .post(&url)
        .header("content-type", "application/grpc-web+proto")
        .header("origin", "http://evil.example")
        .body(ping.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(status(r), 403);
    // Another local port is another origin.
    let r = h
        .http
        .post(&url)
        .header("content-type", "application/grpc-web+proto")
        .header("origin", "http://127.0.0.1:1")
        .body(ping.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(status(r), 403);
    // The dashboard's own origin is fine.
    let r = h
        .http
        .post(&url)
        .header("content-type", "application/grpc-web+proto")
        .header("origin", &h.base)
        .body(ping.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(status(r), 200);
    // A DNS-rebinding Host.
    let r = h
        .http
        .post(&url)
        .header("content-type", "application/grpc-web+proto")
        .header("host", "attacker.example")
        .body(ping.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(status(r), 403);
    // Not gRPC-web: a GET, or plain gRPC's content type.
    let r = h.http.get(&url).send().await.expect("send");
    assert_eq!(status(r), 415);
    let r = h
        .http
        .post(&url)
        .header("content-type", "application/grpc")
        .body(ping)
        .send()
        .await
        .expect("send");
    assert_eq!(status(r), 415);
    let r = h
        .http
        .get(format!("{}/anything", h.base))
        .send()
        .await
        .expect("send");
    assert_eq!(status(r), 404);
    h.stop().await;
}
