//! The REST gateway's core over HTTP: guards, host routes, metrics, SSE, the API description,
//! and the gateway as its own process over the daemon's socket (spec/rest-api.md, sections 1–5,
//! 10, 15, 16; test behaviours 1–9, 54, 55). Most tests start the real daemon (`daemon::run`,
//! REST on a free port); those that need other gateway settings serve the router themselves over
//! a daemon's control plane.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openpact_gateway::state::{AppState, Config};
use openpact_ledger::{SystemClock, WriterConfig};
use openpact_proto::v1;
use openpact_proto::v1::host_server::Host as _;
use openpact_proto::v1::pact_server::Pact as _;
use openpact_server::client::Client;
use openpact_server::daemon::{self, RunOptions};
use openpact_server::datadir::DataDir;
use openpact_server::host::{Daemon, Ports};
use openpact_server::service::ControlPlane;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A daemon run as `openpact start` runs it, REST on a free port of 127.0.0.1.
struct Harness {
    _dir: tempfile::TempDir,
    c: Client,
    base: String,
    token: String,
    http: reqwest::Client,
    done: tokio::task::JoinHandle<openpact_server::Result<()>>,
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("opr")
        .tempdir_in("/tmp")
        .expect("temp dir")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

impl Harness {
    async fn start() -> Harness {
        let dir = temp_dir();
        let data = DataDir::at(dir.path());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done = tokio::spawn(daemon::run(
            data.clone(),
            RunOptions {
                ports: Ports {
                    rest: 0,
                    dashboard: None,
                },
                p2p: None,
            },
            move || {
                let _ = tx.send(());
            },
        ));
        rx.await.expect("daemon ready");
        let mut c = Client::connect(data.socket_path()).await.expect("connect");
        let port = c
            .host
            .status(v1::HostStatusRequest {})
            .await
            .expect("status")
            .into_inner()
            .port;
        assert_ne!(port, 0, "the daemon reports its REST port");
        let token = data.ensure_token().expect("token");
        Harness {
            _dir: dir,
            c,
            base: format!("http://127.0.0.1:{port}"),
            token,
            http: http(),
            done,
        }
    }

    async fn with_pact() -> Harness {
        let mut h = Harness::start().await;
        create_default_pact_over_grpc(&mut h.c).await;
        h
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn stop(mut self) {
        self.c
            .host
            .shutdown(v1::ShutdownRequest {})
            .await
            .expect("shutdown");
        let r = tokio::time::timeout(Duration::from_secs(10), &mut self.done)
            .await
            .expect("daemon stops within 10 s, open SSE streams included")
            .expect("join");
        r.expect("daemon ran cleanly");
    }
}

async fn create_default_pact_over_grpc(c: &mut Client) {
    c.host
        .create_pact(v1::CreatePactRequest {
            name: "default".into(),
            alias: Some("default".into()),
            confirm: true,
            ..Default::default()
        })
        .await
        .expect("create pact");
}

/// A gateway served by the test itself with its own settings, over a daemon's control plane.
struct Served {
    _dir: tempfile::TempDir,
    daemon: Arc<Daemon>,
    plane: ControlPlane,
    base: String,
    addr: SocketAddr,
    token: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(tune: impl FnOnce(&mut Config)) -> Served {
        let dir = temp_dir();
        let data = DataDir::at(dir.path());
        data.ensure().expect("data dir");
        let daemon = Daemon::start(
            data.clone(),
            Arc::new(SystemClock),
            WriterConfig::default(),
            Ports::default(),
        )
        .expect("daemon");
        let token = data.ensure_token().expect("token");
        let mut config = Config::new(token.clone());
        tune(&mut config);
        let plane = ControlPlane::new(daemon.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(openpact_gateway::app::serve(
            listener,
            AppState {
                plane: plane.clone(),
                config: Arc::new(config),
            },
            async move {
                let _ = stopped.await;
            },
        ));
        Served {
            _dir: dir,
            daemon,
            plane,
            base: format!("http://{addr}"),
            addr,
            token,
            http: http(),
            stop: Some(stop),
            served,
        }
    }

    async fn with_pact(tune: impl FnOnce(&mut Config)) -> Served {
        let s = Served::start(tune).await;
        s.plane
            .create_pact(tonic::Request::new(v1::CreatePactRequest {
                name: "default".into(),
                alias: Some("default".into()),
                confirm: true,
                ..Default::default()
            }))
            .await
            .expect("create pact");
        s
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.served)
            .await
            .expect("the gateway stops within 10 s, open SSE streams included")
            .expect("join")
            .expect("served cleanly");
        self.daemon.request_stop();
        self.daemon.close_all();
    }
}

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let v = r.json::<Value>().await.expect("a JSON body");
    (status, v)
}

/// Asserts the error envelope: `{error, message, status}` with `status` equal to the HTTP status.
async fn envelope(r: reqwest::Response, status: u16, code: &str) -> String {
    let (s, v) = body(r).await;
    assert_eq!(s.as_u16(), status, "{v}");
    assert_eq!(v["error"], code, "{v}");
    assert_eq!(v["status"], status, "{v}");
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), 3, "exactly error, message, status: {v}");
    v["message"].as_str().expect("message").to_string()
}

fn content_type(h: &HeaderMap) -> &str {
    h.get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Reads an SSE response frame by frame.
struct Frames {
    r: reqwest::Response,
    buf: String,
}

impl Frames {
    fn new(r: reqwest::Response) -> Frames {
        Frames {
            r,
            buf: String::new(),
        }
    }

    /// The next frame (its text without the blank line), or `None` when the stream ended.
    async fn next(&mut self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let f = self.buf[..i].to_string();
                self.buf.drain(..i + 2);
                return Some(f);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.r.chunk()).await {
                Ok(Ok(Some(c))) => self.buf.push_str(&String::from_utf8_lossy(&c)),
                Ok(Ok(None)) | Ok(Err(_)) => return None,
                Err(_) => panic!("no SSE frame within 15 s; buffered: {:?}", self.buf),
            }
        }
    }

    /// The next `entry-applied` frame: its id and data.
    async fn next_applied(&mut self) -> (String, Value) {
        loop {
            let f = self.next().await.expect("the stream goes on");
            if let Some((id, name, data)) = parse(&f)
                && name == "entry-applied"
            {
                return (id, data);
            }
        }
    }
}

/// A frame's id, event name and data.
fn parse(frame: &str) -> Option<(String, String, Value)> {
    let mut id = String::new();
    let mut name = None;
    let mut data = None;
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.to_string();
        } else if let Some(v) = line.strip_prefix("event: ") {
            name = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = serde_json::from_str(v).ok();
        }
    }
    Some((id, name?, data?))
}

async fn post_knowledge(http: &reqwest::Client, base: &str, token: &str, content: &str) -> Value {
    let r = http
        .post(format!("{base}/v1/pacts/default/knowledge"))
        .bearer_auth(token)
        .json(&json!({ "topic": "sales", "content": content }))
        .send()
        .await
        .expect("post");
    let (s, v) = body(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

// Behaviour 1.
#[tokio::test(flavor = "multi_thread")]
async fn ping_answers_ok_in_json_without_a_token() {
    let h = Harness::start().await;
    let r = h
        .http
        .get(format!("{}/v1/ping", h.base))
        .send()
        .await
        .unwrap();
    assert!(content_type(r.headers()).contains("application/json"));
    let (s, v) = body(r).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({ "ok": true }));
    h.stop().await;
}

// Behaviour 2, and section 1: auth runs before routing; trailing slashes are not ignored.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_route_is_404_not_found_after_the_token_check() {
    let h = Harness::start().await;
    let m = envelope(h.get("/v1/unknown").send().await.unwrap(), 404, "NOT_FOUND").await;
    assert_eq!(m, "route GET /v1/unknown not found");
    let m = envelope(
        h.get("/v1/unknown?x=1").send().await.unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(m, "route GET /v1/unknown?x=1 not found");
    envelope(h.get("/v1/ping/").send().await.unwrap(), 404, "NOT_FOUND").await;
    envelope(
        h.http
            .post(format!("{}/v1/status", h.base))
            .bearer_auth(&h.token)
            .send()
            .await
            .unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
    let r = h
        .http
        .get(format!("{}/v1/unknown", h.base))
        .send()
        .await
        .unwrap();
    envelope(r, 401, "UNAUTHORIZED").await;
    h.stop().await;
}

// Behaviour 3.
#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_token_is_required_and_must_match_exactly() {
    let h = Harness::start().await;
    let status = format!("{}/v1/status", h.base);
    let m = envelope(
        h.http.get(&status).send().await.unwrap(),
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert_eq!(m, "missing Bearer token; set Authorization header");
    let m = envelope(
        h.http
            .get(&status)
            .header("authorization", format!("Basic {}", h.token))
            .send()
            .await
            .unwrap(),
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert_eq!(m, "missing Bearer token; set Authorization header");
    let mut changed = h.token.clone();
    let last = if changed.ends_with('0') { "1" } else { "0" };
    changed.replace_range(63.., last);
    for wrong in ["nope", "short", changed.as_str()] {
        let m = envelope(
            h.http.get(&status).bearer_auth(wrong).send().await.unwrap(),
            401,
            "UNAUTHORIZED",
        )
        .await;
        assert_eq!(m, "invalid Bearer token");
    }
    let r = h
        .http
        .get(&status)
        .header("authorization", format!("bearer   {} ", h.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, v) = body(h.get("/v1/status").send().await.unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["current"], Value::Null);
    assert_eq!(v["pact_count"], 0);
    assert!(v["agents"].is_number());
    h.stop().await;
}

/// A raw HTTP/1.0 exchange (no Host header unless given): status line and body.
async fn raw(addr: &str, request: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answer within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

// Behaviours 4 and 5.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_hosts_and_origins_are_forbidden() {
    let h = Harness::with_pact().await;
    let port = h.base.rsplit(':').next().unwrap().to_string();
    let host = format!("127.0.0.1:{port}");
    let with = |headers: &[(&str, &str)]| {
        let mut r = h.get("/v1/status");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r
    };
    let m = envelope(
        with(&[("origin", "http://evil.example.com")])
            .send()
            .await
            .unwrap(),
        403,
        "FORBIDDEN_ORIGIN",
    )
    .await;
    assert_eq!(
        m,
        "Origin http://evil.example.com is not loopback or does not match Host"
    );
    for origin in ["http://127.0.0.1:7667", "not a url", "null"] {
        envelope(
            with(&[("origin", origin)]).send().await.unwrap(),
            403,
            "FORBIDDEN_ORIGIN",
        )
        .await;
    }
    let own = format!("http://{host}");
    assert_eq!(
        with(&[("origin", own.as_str())])
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for bad in ["example.com", "10.0.0.1", "localhost.example.com:80"] {
        let m = envelope(
            with(&[("host", bad)]).send().await.unwrap(),
            403,
            "FORBIDDEN_HOST",
        )
        .await;
        assert_eq!(m, format!("Host header {bad} is not loopback"));
    }
    // Host is checked before Origin.
    envelope(
        with(&[("host", "example.com"), ("origin", "http://example.com")])
            .send()
            .await
            .unwrap(),
        403,
        "FORBIDDEN_HOST",
    )
    .await;
    for good in [
        format!("localhost:{port}"),
        "LOCALHOST".into(),
        "[::1]:7666".into(),
        "::1".into(),
    ] {
        let r = with(&[("host", good.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{good}");
    }
    let addr = h.base.trim_start_matches("http://").to_string();
    let (code, b) = raw(
        &addr,
        &format!(
            "GET /v1/status HTTP/1.0\r\nAuthorization: Bearer {}\r\n\r\n",
            h.token
        ),
    )
    .await;
    assert_eq!(code, 403);
    let v: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(v["error"], "FORBIDDEN_HOST");
    assert_eq!(v["message"], "Host header <missing> is not loopback");
    // Public paths skip the guards.
    let (code, _) = raw(&addr, "GET /v1/ping HTTP/1.0\r\nHost: example.com\r\n\r\n").await;
    assert_eq!(code, 200);
    h.stop().await;
}

// Behaviour 6 (and Decision 16: readyz says 503 until a pact exists).
#[tokio::test(flavor = "multi_thread")]
async fn healthz_is_alive_and_readyz_is_503_until_a_pact_exists() {
    let mut h = Harness::start().await;
    let url = |p: &str| format!("{}{p}", h.base);
    let (s, v) = body(h.http.get(url("/v1/healthz")).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({ "ok": true, "status": "alive" }));
    let (s, v) = body(h.http.get(url("/v1/readyz")).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        v,
        json!({ "ok": false, "status": "not-ready", "pact_count": 0, "agents": 0 })
    );
    create_default_pact_over_grpc(&mut h.c).await;
    let (s, v) = body(h.http.get(url("/v1/readyz")).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ok"], true);
    assert_eq!(v["status"], "ready");
    assert_eq!(v["pact_count"], 1);
    let (_, v) = body(h.get("/v1/status").send().await.unwrap()).await;
    assert_eq!(v["current"], "default");
    assert_eq!(v["pact_count"], 1);
    h.stop().await;
}

// Behaviour 7, plus the latency histograms and ledger gauges after a write.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_need_the_token_and_show_the_ledger_after_a_write() {
    let mut h = Harness::with_pact().await;
    let r = h
        .http
        .get(format!("{}/v1/metrics", h.base))
        .send()
        .await
        .unwrap();
    envelope(r, 401, "UNAUTHORIZED").await;
    post_knowledge(&h.http, &h.base, &h.token, "Tuesdays convert").await;
    let r = h.get("/v1/metrics").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(r.headers()), "text/plain; version=0.0.4");
    let text = r.text().await.unwrap();
    for name in [
        "openpact_process_uptime_seconds",
        "openpact_process_resident_memory_bytes",
        "openpact_pacts_total",
        "openpact_agents_connected",
        "openpact_sse_backpressure_closes_total",
        "openpact_pact_view_version",
        "openpact_pact_is_indexer",
        "openpact_http_request_duration_seconds",
        "openpact_pact_positions",
        "openpact_pact_confirmed_length",
        "openpact_pact_tail_length",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}:\n{text}");
    }
    assert!(text.ends_with('\n'));
    let pact_id =
        h.c.pact
            .status(v1::PactStatusRequest {
                pact: "default".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .pact_id;
    let value = |name: &str| -> f64 {
        let prefix = format!("{name}{{pact_id=\"{pact_id}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix}in\n{text}"))
    };
    assert!(value("openpact_pact_positions") >= 1.0);
    assert_eq!(value("openpact_pact_is_indexer"), 1.0);
    assert_eq!(
        value("openpact_pact_confirmed_length") + value("openpact_pact_tail_length"),
        value("openpact_pact_positions")
    );
    assert!(text.contains("openpact_pacts_total 1\n"), "{text}");
    assert!(
        text.contains(
            "openpact_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/pacts/{pact_id}/knowledge\",status=\"200\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"/v1/metrics\",status=\"401\""),
        "rejected requests are timed too:\n{text}"
    );
    h.stop().await;
}

fn header_u64(h: &HeaderMap, name: &str) -> u64 {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("header {name} in {h:?}"))
}

// Behaviour 8, with the 429's headers.
#[tokio::test(flavor = "multi_thread")]
async fn the_fourth_ping_in_a_minute_is_rate_limited_but_events_and_health_are_not() {
    let s = Served::start(|c| c.rate_limit = 3).await;
    let ping = format!("{}/v1/ping", s.base);
    for left in [2, 1, 0] {
        let r = s.http.get(&ping).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header_u64(r.headers(), "x-ratelimit-limit"), 3);
        assert_eq!(header_u64(r.headers(), "x-ratelimit-remaining"), left);
        assert!(header_u64(r.headers(), "x-ratelimit-reset") <= 60);
        assert!(r.headers().get("retry-after").is_none());
    }
    let r = s.http.get(&ping).send().await.unwrap();
    let headers = r.headers().clone();
    let m = envelope(r, 429, "RATE_LIMITED").await;
    let secs: u64 = m
        .split("retry in ")
        .nth(1)
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("retry in <n>s: {m}"));
    assert!((1..=60).contains(&secs), "{m}");
    assert!(m.starts_with("rate limit exceeded: 3 requests per "), "{m}");
    assert_eq!(header_u64(&headers, "retry-after"), secs);
    assert_eq!(header_u64(&headers, "x-ratelimit-remaining"), 0);
    assert_eq!(header_u64(&headers, "x-ratelimit-limit"), 3);
    let r = s.get("/v1/events").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(r.headers()), "text/event-stream");
    drop(r);
    for p in ["/v1/healthz", "/v1/readyz"] {
        let r = s.http.get(format!("{}{p}", s.base)).send().await.unwrap();
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{p}");
        assert!(r.headers().get("x-ratelimit-limit").is_none(), "{p}");
    }
    envelope(
        s.get("/v1/status").send().await.unwrap(),
        429,
        "RATE_LIMITED",
    )
    .await;
    s.stop().await;
}

// Section 1.2: requests rejected by auth do not use rate-limit budget.
#[tokio::test(flavor = "multi_thread")]
async fn requests_refused_by_auth_do_not_use_rate_limit_budget() {
    let s = Served::start(|c| c.rate_limit = 2).await;
    for _ in 0..5 {
        let r = s
            .http
            .get(format!("{}/v1/status", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for _ in 0..2 {
        assert_eq!(
            s.get("/v1/status").send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        s.get("/v1/status").send().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    s.stop().await;
}

// Behaviour 8: max 0 disables the limiter.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_of_zero_disables_the_limiter() {
    let s = Served::start(|c| c.rate_limit = 0).await;
    for _ in 0..20 {
        let r = s
            .http
            .get(format!("{}/v1/ping", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("x-ratelimit-limit").is_none());
    }
    s.stop().await;
}

// Section 1: the HTTP body limit.
#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_413_payload_too_large() {
    let s = Served::with_pact(|c| c.body_limit = 1024).await;
    let big = json!({ "topic": "t", "content": "x".repeat(2048) });
    let r = s
        .http
        .post(format!("{}/v1/pacts/default/knowledge", s.base))
        .bearer_auth(&s.token)
        .json(&big)
        .send()
        .await
        .unwrap();
    let m = envelope(r, 413, "PAYLOAD_TOO_LARGE").await;
    assert_eq!(m, "Request body is too large");
    // Without the token, auth answers first.
    let r = s
        .http
        .post(format!("{}/v1/pacts/default/knowledge", s.base))
        .json(&big)
        .send()
        .await
        .unwrap();
    envelope(r, 401, "UNAUTHORIZED").await;
    s.stop().await;
}

/// Reads from `stream` until the peer closes it or `within` passes; what was read, and whether
/// it closed.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    within: Duration,
) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (got, closed)
}

fn short_timeouts(c: &mut Config) {
    c.timeouts.keep_alive = Duration::from_millis(300);
    c.timeouts.request = Duration::from_millis(300);
    c.timeouts.connection = Duration::from_millis(300);
}

// Section 1: keepAliveTimeout. An idle connection, before its first request or between two, is
// closed; one that keeps sending is not.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_closed_after_the_keep_alive_timeout() {
    let s = Served::with_pact(short_timeouts).await;
    let mut silent = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (got, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed && got.is_empty(), "a silent connection is closed");

    let mut kept = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let ping = format!("GET /v1/ping HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr);
    for _ in 0..4 {
        // Requests 200 ms apart keep the connection: each is answered on it.
        kept.write_all(ping.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = kept.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (got, closed) = read_until_closed(&mut kept, Duration::from_secs(5)).await;
    assert!(
        closed && got.is_empty(),
        "an idle keep-alive connection is closed"
    );
    s.stop().await;
}

// Section 1: requestTimeout. A body that stalls is answered 408 `REQUEST_TIMEOUT` and records
// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_request_body_is_408_and_records_nothing() {
    let s = Served::with_pact(short_timeouts).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let json = r#"{"topic":"t","content":"never finished"}"#;
    stream
        .write_all(
            format!(
                "POST /v1/pacts/default/knowledge HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                s.addr,
                s.token,
                json.len(),
                &json[..10]
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (got, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""error":"REQUEST_TIMEOUT""#), "{text}");
    let (status, v) = body(s.get("/v1/pacts/default/knowledge").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["entries"], json!([]), "nothing was recorded");
    s.stop().await;
}

// Section 1: connectionTimeout. A client that stops reading an event stream is cut off once the
// server's writes make no progress for the timeout, even below the SSE backpressure threshold.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_whose_socket_stops_taking_bytes_is_disconnected() {
    let s = Served::with_pact(|c| {
        short_timeouts(c);
        c.sse_buffer_bytes = 1 << 30;
    })
    .await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut stream = sock.connect(s.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
                s.addr, s.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // 12 MiB of events: far more than the two sockets' buffers hold.
    let content = "x".repeat(60 * 1024);
    for _ in 0..200 {
        s.plane
            .create_knowledge(tonic::Request::new(v1::CreateKnowledgeRequest {
                pact: "default".into(),
                topic: "bulk".into(),
                content: content.clone(),
                ..Default::default()
            }))
            .await
            .map(|_| ())
            .unwrap_or_else(|e| panic!("append: {e}"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (got, closed) = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(closed, "the stalled connection was closed");
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(
        got.len() < 200 * 60 * 1024,
        "the stream was cut off, not delivered whole ({} bytes)",
        got.len()
    );
    assert!(!got.ends_with(b"0\r\n\r\n"), "cut off, not ended");
    s.stop().await;
}

// Read answers are cached per daemon generation: a read never misses an acknowledged write, a
// confirmation, or a registry change, however often the same page was read before.
#[tokio::test(flavor = "multi_thread")]
async fn cached_reads_see_every_acknowledged_change() {
    let h = Harness::with_pact().await;
    let page = "/v1/pacts/default/knowledge?limit=3";
    let newest = |v: &Value| v["entries"][0]["payload"]["content"].clone();
    for i in 0..40 {
        let (_, before) = body(h.get(page).send().await.unwrap()).await;
        let (_, again) = body(h.get(page).send().await.unwrap()).await;
        assert_eq!(before, again, "nothing changed between two reads");
        let written = post_knowledge(&h.http, &h.base, &h.token, &format!("note {i}")).await;
        let (_, after) = body(h.get(page).send().await.unwrap()).await;
        assert_eq!(
            newest(&after),
            json!(format!("note {i}")),
            "read {i} after its write"
        );
        let one = format!(
            "/v1/pacts/default/entries/{}",
            written["id"].as_str().unwrap()
        );
        let (status, _) = body(h.get(&one).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
    }
    // The anchor that confirms the entries is a commit too: the cached page moves with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = body(h.get(page).send().await.unwrap()).await;
        if v["entries"][0]["confirmed"] == json!(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the newest entry is never shown confirmed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An answer too large to keep goes out whole, every time.
    let big = "x".repeat(60 * 1024);
    for _ in 0..6 {
        post_knowledge(&h.http, &h.base, &h.token, &big).await;
    }
    for _ in 0..2 {
        let (status, v) = body(
            h.get("/v1/pacts/default/knowledge?limit=6")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", v["message"]);
        let entries = v["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 6);
        assert!(
            entries
                .iter()
                .all(|e| e["payload"]["content"] == json!(big))
        );
    }
    // A registry change: the old alias is gone at once.
    let r = h
        .http
        .put(format!("{}/v1/pacts/default/alias", h.base))
        .bearer_auth(&h.token)
        .json(&json!({ "alias": "renamed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    envelope(h.get(page).send().await.unwrap(), 404, "UNKNOWN_PACT").await;
    let (status, v) = body(
        h.get("/v1/pacts/renamed/knowledge?limit=3")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(newest(&v), json!(big));
    h.stop().await;
}

// Behaviour 9: REST listens on 127.0.0.1 only; the daemon records its port.
#[tokio::test(flavor = "multi_thread")]
async fn rest_listens_on_loopback_and_reports_its_port() {
    let mut h = Harness::start().await;
    let st =
        h.c.host
            .status(v1::HostStatusRequest {})
            .await
            .unwrap()
            .into_inner();
    assert_eq!(h.base, format!("http://127.0.0.1:{}", st.port));
    let (_, v) = body(h.get("/v1/status").send().await.unwrap()).await;
    assert_eq!(v["port"], st.port);
    let r = h
        .http
        .get(format!("http://localhost:{}/v1/ping", st.port))
        .send()
        .await;
    // `localhost` may resolve to ::1 first; 127.0.0.1 is the address that must answer.
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::OK);
    }
    h.stop().await;
}

// Behaviour 54.
#[tokio::test(flavor = "multi_thread")]
async fn events_stream_starts_with_retry_and_carries_an_applied_knowledge_entry() {
    let mut h = Harness::with_pact().await;
    let r = h.get("/v1/events").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(r.headers()), "text/event-stream");
    let cc = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(cc.contains("no-cache"), "{cc}");
    let mut frames = Frames::new(r);
    assert_eq!(frames.next().await.as_deref(), Some("retry: 1000"));
    let posted = post_knowledge(&h.http, &h.base, &h.token, "Tuesdays convert").await;
    let (id, data) = frames.next_applied().await;
    let pact_id =
        h.c.pact
            .status(v1::PactStatusRequest {
                pact: "default".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .pact_id;
    assert_eq!(data["pact_id"], pact_id);
    assert_eq!(data["alias"], "default");
    assert_eq!(data["kind"], "entry");
    assert_eq!(data["entry"]["payload"]["content"], "Tuesdays convert");
    assert_eq!(data["entry"]["id"], posted["id"]);
    assert!(
        data["key"].as_str().is_some_and(
            |k| k.starts_with("knowledge/") && k.ends_with(posted["id"].as_str().unwrap())
        ),
        "{data}"
    );
    let (boot, n) = id.rsplit_once('-').expect("<boot>-<n>");
    assert!(!boot.is_empty() && n.parse::<u64>().is_ok(), "{id}");
    drop(frames);
    h.stop().await;
}

// Decision 12: a client reconnecting with Last-Event-ID gets what it missed, and not again what
// it had.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_resumes_after_its_last_event_id() {
    let h = Harness::with_pact().await;
    let mut frames = Frames::new(h.get("/v1/events").send().await.unwrap());
    post_knowledge(&h.http, &h.base, &h.token, "first").await;
    let (first_id, data) = frames.next_applied().await;
    assert_eq!(data["entry"]["payload"]["content"], "first");
    drop(frames);
    post_knowledge(&h.http, &h.base, &h.token, "second").await;
    post_knowledge(&h.http, &h.base, &h.token, "third").await;
    let r = h
        .get("/v1/events")
        .header("last-event-id", first_id.as_str())
        .send()
        .await
        .unwrap();
    let mut frames = Frames::new(r);
    assert_eq!(frames.next().await.as_deref(), Some("retry: 1000"));
    let (second_id, data) = frames.next_applied().await;
    assert_eq!(data["entry"]["payload"]["content"], "second");
    let (_, data) = frames.next_applied().await;
    assert_eq!(data["entry"]["payload"]["content"], "third");
    let n = |id: &str| id.rsplit_once('-').and_then(|(_, n)| n.parse::<u64>().ok());
    assert!(n(&second_id) > n(&first_id));
    drop(frames);
    // An id from another daemon run: a reset, telling the client to resync.
    let r = h
        .get("/v1/events")
        .header("last-event-id", "0000000000000000-1")
        .send()
        .await
        .unwrap();
    let mut frames = Frames::new(r);
    assert_eq!(frames.next().await.as_deref(), Some("retry: 1000"));
    let f = frames.next().await.expect("a reset frame");
    let (_, name, _) = parse(&f).expect("an event");
    assert_eq!(name, "reset");
    drop(frames);
    h.stop().await;
}

// Behaviour 55: a client that does not read is closed once its unsent bytes pass the threshold,
// and counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_does_not_read_is_closed_and_counted() {
    let s = Served::with_pact(|c| c.sse_buffer_bytes = 128).await;
    // A client with a small receive window that reads nothing after the request.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut stream = sock.connect(s.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
                s.addr, s.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let closes = || async {
        let text = s
            .get("/v1/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("openpact_sse_backpressure_closes_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(closes().await, 0);
    let content = "x".repeat(16 * 1024);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut posted = 0;
    while closes().await == 0 {
        assert!(
            Instant::now() < deadline,
            "no backpressure close after {posted} posts"
        );
        s.plane
            .create_knowledge(tonic::Request::new(v1::CreateKnowledgeRequest {
                pact: "default".into(),
                topic: "bulk".into(),
                content: content.clone(),
                ..Default::default()
            }))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("append: {e}"));
        posted += 1;
    }
    // The response ends: reading what was sent reaches the last chunk (or the connection's end).
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.ends_with(b"0\r\n\r\n") {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the response ends after the close");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text.contains("retry: 1000\n\n"));
    assert_eq!(closes().await, 1);
    s.stop().await;
}

// The server's shutdown ends open SSE responses, so a graceful stop does not hang on them.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_open_event_streams() {
    let s = Served::with_pact(|_| {}).await;
    let mut frames = Frames::new(s.get("/v1/events").send().await.unwrap());
    assert_eq!(frames.next().await.as_deref(), Some("retry: 1000"));
    let reader = tokio::spawn(async move { while frames.next().await.is_some() {} });
    s.stop().await;
    tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the stream ends with the server")
        .unwrap();
}

// Decision 11: the API description is public and lists every route, each of which is served.
#[tokio::test(flavor = "multi_thread")]
async fn openapi_is_public_and_every_route_it_lists_is_served() {
    let h = Harness::with_pact().await;
    let r = h
        .http
        .get(format!("{}/v1/openapi.json", h.base))
        .send()
        .await
        .unwrap();
    let (s, doc) = body(r).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/v1/events"));
    assert!(paths.contains_key("/v1/pacts/{pact_id}/tasks/{id}/claim"));
    let mut checked = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["responses"]["default"].is_object(), "{method} {path}");
            if path == "/v1/events" {
                continue;
            }
            let url = path
                .replace("{pact_id}", "nope")
                .replace("{id}", "abcd-99")
                .replace("{key}", &"bb".repeat(32))
                .replace("{nonce}", &"f".repeat(48));
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let mut rq = h
                .http
                .request(m, format!("{}{url}", h.base))
                .bearer_auth(&h.token);
            if op.get("requestBody").is_some() {
                rq = rq.json(&json!({}));
            }
            let r = rq.send().await.unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            assert!(
                !(status == StatusCode::NOT_FOUND && text.contains("\"route ")),
                "{method} {path} is listed but not served: {text}"
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
    h.stop().await;
}

// Section 4 of the issue: `openpact gateway --socket` serves the same router over the socket.
#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_runs_over_the_daemons_socket() {
    let h = Harness::with_pact().await;
    let dir = h._dir.path().to_path_buf();
    let remote = openpact_gateway::remote::Remote::connect(DataDir::at(&dir).socket_path())
        .await
        .expect("connect");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(openpact_gateway::app::serve(
        listener,
        AppState {
            plane: remote,
            config: Arc::new(Config::new(h.token.clone())),
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let (s, v) = body(
        h.http
            .get(format!("{base}/v1/readyz"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = h
        .http
        .get(format!("{base}/v1/events"))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    let mut frames = Frames::new(r);
    assert_eq!(frames.next().await.as_deref(), Some("retry: 1000"));
    post_knowledge(&h.http, &base, &h.token, "over the socket").await;
    let (_, data) = frames.next_applied().await;
    assert_eq!(data["entry"]["payload"]["content"], "over the socket");
    let r = h
        .http
        .get(format!("{base}/v1/pacts/nope/status"))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    envelope(r, 404, "UNKNOWN_PACT").await;
    drop(frames);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
    h.stop().await;
}
