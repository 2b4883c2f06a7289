//! The `/v1/pacts` routes and the per-pact routes over real HTTP against a real daemon in this
//! process: the "Test behaviours worth reproducing" 10–53 of spec/rest-api.md that one daemon can
//! show, with its Decisions applied, and the request-shape rules (415, malformed JSON, strict
//! types, Ajv messages, 100-character params). The guards (Host, Origin, token, rate limit,
//! body limit) are not mounted here; their tests live with them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openpact_gateway::state::{AppState, Config};
use openpact_ledger::view::apply::skill_checksum;
use openpact_ledger::{Clock, ManualClock, SystemClock, WriterConfig};
use openpact_proto::v1;
use openpact_proto::v1::host_server::Host as _;
use openpact_server::datadir::DataDir;
use openpact_server::host::{Daemon, Ports};
use openpact_server::service::ControlPlane;
use serde_json::{Value, json};

const SELF_KEY_LEN: usize = 64;

struct Rest {
    base: String,
    http: reqwest::Client,
    daemon: Arc<Daemon>,
    _dir: tempfile::TempDir,
}

/// A daemon on `clock`, its REST routes on a free loopback port; with the pact `default` when
/// `pact` (created with `claim_ttl_ms`, 0 for the default).
async fn start_with(clock: Arc<dyn Clock>, pact: bool, claim_ttl_ms: u64) -> Rest {
    let dir = tempfile::Builder::new()
        .prefix("oprp")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let daemon = Daemon::start(
        DataDir::at(dir.path()),
        clock,
        WriterConfig::default(),
        Ports::default(),
    )
    .expect("daemon starts");
    let plane = ControlPlane::new(daemon.clone());
    if pact {
        plane
            .create_pact(tonic::Request::new(v1::CreatePactRequest {
                name: "default".into(),
                alias: Some("default".into()),
                confirm: true,
                claim_ttl_ms,
                ..Default::default()
            }))
            .await
            .expect("create pact");
    }
    let app = axum::Router::new()
        .merge(openpact_gateway::pact::routes())
        .with_state(AppState {
            plane,
            config: Arc::new(Config::new("ab".repeat(32))),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Rest {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        daemon,
        _dir: dir,
    }
}

async fn start() -> Rest {
    start_with(Arc::new(SystemClock), true, 0).await
}

/// Per-pact path of the default pact.
fn p(rest: &str) -> String {
    format!("/v1/pacts/default{rest}")
}

impl Rest {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut rq = self.http.request(method, format!("{}{path}", self.base));
        if let Some(ct) = content_type {
            rq = rq.header("content-type", ct);
        }
        if let Some(b) = body {
            rq = rq.body(b);
        }
        let res = rq.send().await.expect("request");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.expect("body");
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 400 && v != Value::Null {
            assert_eq!(v["status"], status, "envelope status of {v}");
            assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        }
        (status, v)
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(&body).expect("json");
        self.send(method, path, Some("application/json"), Some(bytes))
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(reqwest::Method::POST, path, body).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(reqwest::Method::PUT, path, body).await
    }

    async fn put_empty(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, None, None).await
    }

    async fn delete(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(reqwest::Method::DELETE, path, body).await
    }

    /// Posts knowledge and answers its entry.
    async fn knowledge(&self, topic: &str, content: &str) -> Value {
        let (s, e) = self
            .post(
                &p("/knowledge"),
                json!({"topic": topic, "content": content}),
            )
            .await;
        assert_eq!(s, 200, "{e}");
        e
    }

    async fn task(&self, body: Value) -> Value {
        let (s, t) = self.post(&p("/tasks"), body).await;
        assert_eq!(s, 200, "{t}");
        t
    }

    async fn me(&self) -> String {
        let (_, st) = self.get(&p("/status")).await;
        st["peer_handle"].as_str().expect("handle").to_string()
    }
}

/// The error code of an error answer, asserting its status.
fn code(r: (u16, Value), status: u16) -> String {
    assert_eq!(r.0, status, "{}", r.1);
    r.1["error"].as_str().unwrap_or_default().to_string()
}

fn is_handle(s: &str) -> bool {
    s.strip_prefix("anon-")
        .and_then(|r| r.rsplit_once('-'))
        .is_some_and(|(w, h)| {
            !w.is_empty()
                && w.bytes().all(|b| b.is_ascii_lowercase())
                && h.len() == 8
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
}

fn is_entry_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(a, n)| {
        a.len() == 8 && a.bytes().all(|b| b.is_ascii_hexdigit()) && n.parse::<u64>().is_ok()
    })
}

fn contents(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            e["payload"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn skill(name: &str, format: &str, content: &str) -> Value {
    json!({"name": name, "version": "1.0.0", "format": format, "content": content,
           "checksum": skill_checksum(content)})
}

// 10, 12: status.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pact_status_shows_the_creator_and_its_entries_grow_after_an_append() {
    let r = start().await;
    let (s, st) = r.get(&p("/status")).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["role"], "creator");
    assert_eq!(st["agents"], 1);
    assert_eq!(st["is_member"], true);
    assert_eq!(st["is_indexer"], true);
    assert!(is_handle(st["peer_handle"].as_str().expect("handle")));
    assert_eq!(st["public_key"].as_str().map(str::len), Some(SELF_KEY_LEN));
    let before = st["entries"].as_u64().expect("entries is a number");
    r.knowledge("sales", "Tuesdays convert").await;
    let (_, st) = r.get(&p("/status")).await;
    assert!(st["entries"].as_u64().expect("entries") > before);
    let (s, e) = r.get("/v1/pacts/does-not-exist/status").await;
    assert_eq!(s, 404);
    assert_eq!(e["error"], "UNKNOWN_PACT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pact_can_be_named_by_its_id_as_well_as_its_alias() {
    let r = start().await;
    let (_, st) = r.get(&p("/status")).await;
    let id = st["pact_id"].as_str().expect("id").to_string();
    let (s, by_id) = r.get(&format!("/v1/pacts/{id}/status")).await;
    assert_eq!(s, 200);
    assert_eq!(by_id["pact_id"], id.as_str());
}

// 13: agents.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_of_a_fresh_pact_is_only_this_daemon() {
    let r = start().await;
    let (s, a) = r.get(&p("/agents")).await;
    assert_eq!(s, 200);
    let rows = a.as_array().expect("a bare array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["is_self"], true);
    assert_eq!(rows[0]["role"], "creator");
    assert_eq!(rows[0]["online"], true);
    assert!(is_handle(rows[0]["id"].as_str().expect("id")));
    assert_eq!(
        r.get(&p("/agents?online=true"))
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(r.get(&p("/agents?online=false")).await.1, json!([]));
    let e = r.get(&p("/agents?online=maybe")).await;
    assert_eq!(code(e.clone(), 400), "BAD_REQUEST");
    assert_eq!(
        e.1["message"],
        "querystring/online must be equal to one of the allowed values"
    );
}

// 14, 15: knowledge posts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knowledge_post_answers_its_entry_with_extras_kept() {
    let r = start().await;
    let me = r.me().await;
    let (s, e) = r
        .post(
            &p("/knowledge"),
            json!({"topic": "sales", "content": "Tuesdays convert", "lang": "en"}),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    assert!(is_entry_id(e["id"].as_str().expect("id")));
    assert_eq!(e["type"], "knowledge");
    assert_eq!(e["agent_id"], me.as_str());
    assert_eq!(e["display_name"], Value::Null);
    assert_eq!(
        e["payload"],
        json!({"topic": "sales", "content": "Tuesdays convert", "lang": "en"})
    );
    assert!(e["timestamp"].is_string());
    assert!(e["position"].is_u64());
    assert_eq!(e["outcome"], "applied");
    assert!(e["confirmed"].is_boolean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_error_is_400_and_beats_an_unknown_pact() {
    let r = start().await;
    let e = r
        .post(&p("/knowledge"), json!({"content": "no topic"}))
        .await;
    assert_eq!(e.1["message"], "body must have required property 'topic'");
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r.post("/v1/pacts/nope/knowledge", json!({})).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r
        .post(&p("/knowledge"), json!({"topic": 5, "content": "x"}))
        .await;
    assert_eq!(e.1["message"], "body/topic must be string");
    let e = r
        .post(
            &p("/knowledge"),
            json!({"topic": "t", "content": "x", "source": 1}),
        )
        .await;
    assert_eq!(e.1["message"], "body/source must be string");
}

// 16: the entry payload limit (the HTTP body limit is a guard, tested with the guards).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_of_exactly_64_kib_is_accepted_and_one_byte_more_is_413() {
    let r = start().await;
    // {"topic":"t","content":"…"} is 26 bytes around the content.
    let fits = "x".repeat(65536 - 26);
    let (s, e) = r
        .post(&p("/knowledge"), json!({"topic": "t", "content": fits}))
        .await;
    assert_eq!(s, 200, "{e}");
    let over = "x".repeat(65536 - 25);
    let e = r
        .post(&p("/knowledge"), json!({"topic": "t", "content": over}))
        .await;
    assert_eq!(code(e, 413), "PAYLOAD_TOO_LARGE");
    let big = "x".repeat(70 * 1024);
    let e = r
        .post(&p("/knowledge"), json!({"topic": "t", "content": big}))
        .await;
    assert_eq!(code(e, 413), "PAYLOAD_TOO_LARGE");
}

// 17, 18, 19: lists.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_pages_newest_first_and_a_cursor_walks_them_all() {
    let r = start().await;
    for i in 0..5 {
        r.knowledge("t", &format!("c{i}")).await;
    }
    let (s, page) = r.get(&p("/knowledge?limit=3")).await;
    assert_eq!(s, 200);
    assert_eq!(contents(&page), ["c4", "c3", "c2"]);
    assert_eq!(page["has_more"], true);
    assert!(page["cursor"].is_string());
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => p(&format!("/knowledge?limit=2&cursor={}", enc(c))),
            None => p("/knowledge?limit=2"),
        };
        let (_, page) = r.get(&path).await;
        seen.extend(contents(&page));
        if page["has_more"] != true {
            break;
        }
        cursor = page["cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, ["c4", "c3", "c2", "c1", "c0"]);
    let (_, asc) = r.get(&p("/knowledge?order=asc&limit=3")).await;
    assert_eq!(contents(&asc), ["c0", "c1", "c2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topic_filter_is_exact_and_an_empty_list_is_the_empty_envelope() {
    let r = start().await;
    let empty = json!({"entries": [], "cursor": null, "has_more": false});
    assert_eq!(r.get(&p("/knowledge")).await.1, empty);
    r.knowledge("sales", "s").await;
    r.knowledge("eng", "e").await;
    let (_, page) = r.get(&p("/knowledge?topic=sales")).await;
    assert_eq!(contents(&page), ["s"]);
    assert_eq!(page["has_more"], false);
    assert_eq!(r.get(&p("/knowledge?topic=none")).await.1, empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_query_mistakes_are_400_with_ajv_messages() {
    let r = start().await;
    let e = r.get(&p("/knowledge?cursor=task/whatever")).await;
    assert_eq!(code(e, 400), "BAD_CURSOR");
    let e = r.get(&p("/knowledge?limit=1001")).await;
    assert_eq!(e.1["message"], "querystring/limit must be <= 1000");
    let e = r.get(&p("/knowledge?limit=0")).await;
    assert_eq!(e.1["message"], "querystring/limit must be >= 1");
    let e = r.get(&p("/knowledge?limit=abc")).await;
    assert_eq!(e.1["message"], "querystring/limit must be integer");
    let e = r.get(&p("/knowledge?order=sideways")).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r.get(&p("/knowledge?cursor=")).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let (s, _) = r.get(&p("/knowledge?limit=3&unknown=1")).await;
    assert_eq!(s, 200);
}

// 20, 21, 22, 23: messages.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_post_and_addressed_messages_can_be_filtered_by_recipient() {
    let r = start().await;
    let me = r.me().await;
    let (s, m) = r
        .post(&p("/messages"), json!({"content": "heads up"}))
        .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["type"], "message");
    assert_eq!(m["agent_id"], me.as_str());
    let e = r.post(&p("/messages"), json!({"content": ""})).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    // Decision 8: `to` addresses the message (v0.1.4 dropped it).
    let (s, m) = r
        .post(
            &p("/messages"),
            json!({"to": "anon-cobra-3e910000", "content": "hi", "bogus": 1}),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    assert!(m["payload"].get("bogus").is_none());
    let (_, to) = r.get(&p("/messages?to=anon-cobra-3e910000")).await;
    assert_eq!(contents(&to), ["hi"]);
    let e = r
        .post(&p("/messages"), json!({"to": "bob", "content": "hi"}))
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r
        .post(
            &p("/messages"),
            json!({"content": "x", "priority": "urgent"}),
        )
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_refs_its_parent_and_the_thread_reads_back_through_referenced_by() {
    let r = start().await;
    let (_, parent) = r.post(&p("/messages"), json!({"content": "q"})).await;
    let pid = parent["id"].as_str().expect("id");
    let (s, reply) = r
        .post(
            &p("/messages"),
            json!({"content": "reply", "reply_to": pid}),
        )
        .await;
    assert_eq!(s, 200, "{reply}");
    assert_eq!(reply["refs"], json!([pid]));
    assert!(reply["payload"].get("reply_to").is_none());
    let (s, thread) = r.get(&p(&format!("/entries/{pid}/referenced-by"))).await;
    assert_eq!(s, 200);
    let rows = thread.as_array().expect("bare array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["payload"]["content"], "reply");
    let e = r
        .post(
            &p("/messages"),
            json!({"content": "x", "reply_to": "not-an-id"}),
        )
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_filter_by_author_and_by_time() {
    let r = start().await;
    let me = r.me().await;
    let (_, first) = r.post(&p("/messages"), json!({"content": "first"})).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    r.post(&p("/messages"), json!({"content": "second"})).await;
    let (_, mine) = r.get(&p(&format!("/messages?agent_id={me}"))).await;
    assert_eq!(contents(&mine), ["second", "first"]);
    let (_, ghost) = r.get(&p("/messages?agent_id=anon-ghost-00000000")).await;
    assert_eq!(contents(&ghost), Vec::<String>::new());
    let e = r.get(&p("/messages?agent_id=not-a-handle")).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let since = first["timestamp"].as_str().expect("ts");
    let (_, later) = r.get(&p(&format!("/messages?since={}", enc(since)))).await;
    assert_eq!(contents(&later), ["second"]);
    // The same instant in another zone.
    let e = r.get(&p("/messages?since=2026-04-15T12:00:00")).await;
    assert_eq!(
        e.1["message"],
        "querystring/since must match format \"date-time\""
    );
    let (s, all) = r
        .get(&p(&format!(
            "/messages?since={}",
            enc("1970-01-01T02:00:00+02:00")
        )))
        .await;
    assert_eq!(s, 200);
    assert_eq!(contents(&all), ["second", "first"]);
}

// 24–30: tasks.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_post_answers_its_open_state() {
    let r = start().await;
    let t = r
        .task(json!({"title": "Build landing page", "estimate": 3}))
        .await;
    assert!(is_entry_id(t["id"].as_str().expect("id")));
    assert_eq!(t["status"], "open");
    assert_eq!(t["claimed_by"], Value::Null);
    assert_eq!(t["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(t["history"][0]["payload"]["estimate"], 3);
    let e = r.post(&p("/tasks"), json!({})).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let t = r
        .task(json!({"title": "x", "assigned_to": "anon-rat-12345678"}))
        .await;
    assert_eq!(t["assigned_to"], "anon-rat-12345678");
    let e = r
        .post(
            &p("/tasks"),
            json!({"title": "x", "assigned_to": "not-a-handle"}),
        )
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    // A given status is dropped: a new task is open.
    let t = r
        .task(json!({"title": "x", "status": "complete", "claimed_by": null}))
        .await;
    assert_eq!(t["status"], "open");
    let e = r
        .post(&p("/tasks"), json!({"title": "x", "claimed_by": 5}))
        .await;
    assert_eq!(code(e, 400), "BAD_ENTRY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_list_as_states_filtered_by_status() {
    let r = start().await;
    let a = r.task(json!({"title": "a"})).await;
    r.task(json!({"title": "b"})).await;
    let (_, page) = r.get(&p("/tasks")).await;
    let rows = page["entries"].as_array().expect("entries");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|t| t["status"] == "open"));
    assert_eq!(page["has_more"], false);
    let id = a["id"].as_str().expect("id");
    assert_eq!(r.put_empty(&p(&format!("/tasks/{id}/claim"))).await.0, 200);
    let (_, open) = r.get(&p("/tasks?status=open")).await;
    let (_, claimed) = r.get(&p("/tasks?status=claimed")).await;
    assert_eq!(open["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(claimed["entries"][0]["id"], id);
    let e = r.get(&p("/tasks?status=lost")).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_task_is_404_on_every_task_route() {
    let r = start().await;
    assert_eq!(code(r.get(&p("/tasks/abcd-99")).await, 404), "NOT_FOUND");
    for action in ["claim", "release"] {
        let e = r.put_empty(&p(&format!("/tasks/abcd-99/{action}"))).await;
        assert_eq!(code(e, 404), "NOT_FOUND");
    }
    let e = r.put(&p("/tasks/abcd-99/complete"), json!({})).await;
    assert_eq!(code(e, 404), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_then_a_second_claim_is_task_not_open() {
    let r = start().await;
    let me = r.me().await;
    let t = r.task(json!({"title": "t"})).await;
    let id = t["id"].as_str().expect("id");
    let (s, c) = r.put_empty(&p(&format!("/tasks/{id}/claim"))).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "claimed");
    assert_eq!(c["claimed_by"], me.as_str());
    assert_eq!(c["outcome"], "applied");
    let e = r.put_empty(&p(&format!("/tasks/{id}/claim"))).await;
    assert_eq!(code(e, 409), "TASK_NOT_OPEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_claims_through_one_daemon_cannot_both_win() {
    let r = start().await;
    let t = r.task(json!({"title": "race"})).await;
    let path = p(&format!("/tasks/{}/claim", t["id"].as_str().expect("id")));
    let (a, b) = tokio::join!(r.put_empty(&path), r.put_empty(&path));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.1, b.1);
    let loser = if a.0 == 409 { a.1 } else { b.1 };
    assert!(
        ["TASK_NOT_OPEN", "TASK_ALREADY_CLAIMED"].contains(&loser["error"].as_str().unwrap_or("")),
        "{loser}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_after_a_claim_and_complete_without_one() {
    let r = start().await;
    let t = r.task(json!({"title": "t"})).await;
    let id = t["id"].as_str().expect("id");
    r.put_empty(&p(&format!("/tasks/{id}/claim"))).await;
    let (s, c) = r
        .put(
            &p(&format!("/tasks/{id}/complete")),
            json!({"result": "shipped", "x": 1}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "complete");
    assert_eq!(c["result"], "shipped");
    let e = r.put(&p(&format!("/tasks/{id}/complete")), json!({})).await;
    assert_eq!(code(e, 409), "TASK_ALREADY_COMPLETE");
    let e = r.put_empty(&p(&format!("/tasks/{id}/claim"))).await;
    assert_eq!(code(e, 409), "TASK_NOT_OPEN");
    let t = r.task(json!({"title": "skip"})).await;
    let id = t["id"].as_str().expect("id");
    // A missing body is validated as null.
    let e = r.put_empty(&p(&format!("/tasks/{id}/complete"))).await;
    assert_eq!(e.1["message"], "body must be object");
    let (s, c) = r.put(&p(&format!("/tasks/{id}/complete")), json!({})).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "complete");
    assert_eq!(c["result"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_reopens_a_claim_and_is_not_claimed_on_an_open_task() {
    let r = start().await;
    let t = r.task(json!({"title": "t"})).await;
    let id = t["id"].as_str().expect("id");
    let e = r.put_empty(&p(&format!("/tasks/{id}/release"))).await;
    assert_eq!(code(e, 409), "NOT_CLAIMED");
    r.put_empty(&p(&format!("/tasks/{id}/claim"))).await;
    let (s, t) = r.put_empty(&p(&format!("/tasks/{id}/release"))).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["status"], "open");
    assert_eq!(t["claimed_by"], Value::Null);
    let (_, refs) = r.get(&p(&format!("/entries/{id}/referenced-by"))).await;
    assert_eq!(refs.as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_assignee_can_claim_an_assigned_task() {
    let r = start().await;
    let me = r.me().await;
    let other = r
        .task(json!({"title": "t", "assigned_to": "anon-falcon-deadbeef"}))
        .await;
    let e = r
        .put_empty(&p(&format!(
            "/tasks/{}/claim",
            other["id"].as_str().expect("id")
        )))
        .await;
    assert_eq!(code(e, 409), "NOT_ASSIGNEE");
    let mine = r.task(json!({"title": "t", "assigned_to": me})).await;
    let (s, c) = r
        .put_empty(&p(&format!(
            "/tasks/{}/claim",
            mine["id"].as_str().expect("id")
        )))
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["claimed_by"], me.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_can_wait_until_it_is_confirmed() {
    let r = start().await;
    let t = r.task(json!({"title": "t"})).await;
    let id = t["id"].as_str().expect("id");
    let (s, c) = r
        .put_empty(&p(&format!(
            "/tasks/{id}/claim?wait=confirmed&wait_ms=5000"
        )))
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["confirmed"], true);
    assert_eq!(c["outcome"], "applied");
    let e = r
        .put_empty(&p(&format!("/tasks/{id}/release?wait=later")))
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r
        .put_empty(&p(&format!("/tasks/{id}/release?wait_ms=60001")))
        .await;
    assert_eq!(e.1["message"], "querystring/wait_ms must be <= 60000");
}

// 32: a claim past its TTL shows as open.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_past_the_pacts_ttl_shows_as_open_with_expired_at() {
    let t0 = 1_776_254_400_000;
    let clock = Arc::new(ManualClock::new(t0));
    let r = start_with(clock.clone(), true, 60_000).await;
    let t = r.task(json!({"title": "t"})).await;
    let id = t["id"].as_str().expect("id").to_string();
    let (s, c) = r.put_empty(&p(&format!("/tasks/{id}/claim"))).await;
    assert_eq!(s, 200, "{c}");
    clock.set(t0 + 30_000);
    assert_eq!(
        r.get(&p(&format!("/tasks/{id}"))).await.1["status"],
        "claimed"
    );
    clock.set(t0 + 120_000);
    let (_, t) = r.get(&p(&format!("/tasks/{id}"))).await;
    assert_eq!(t["status"], "open");
    assert_eq!(t["claimed_by"], Value::Null);
    assert_eq!(t["expired_at"], "2026-04-15T12:01:00.000Z");
    assert_eq!(t["history"].as_array().map(Vec::len), Some(2));
    let (s, again) = r.put_empty(&p(&format!("/tasks/{id}/claim"))).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "claimed");
}

// 33–38: skills.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_publish_in_every_format_and_checksums_are_checked() {
    let r = start().await;
    for format in ["openclaw", "langchain", "generic"] {
        let (s, e) = r
            .post(
                &p("/skills"),
                skill(&format!("s-{format}"), format, "real content"),
            )
            .await;
        assert_eq!(s, 200, "{e}");
        assert_eq!(e["type"], "skill");
    }
    let mut missing = skill("x", "generic", "c");
    missing.as_object_mut().map(|o| o.remove("checksum"));
    assert_eq!(
        code(r.post(&p("/skills"), missing).await, 400),
        "BAD_REQUEST"
    );
    let mut md5 = skill("x", "generic", "c");
    md5["checksum"] = json!("md5:abc");
    assert_eq!(code(r.post(&p("/skills"), md5).await, 400), "BAD_REQUEST");
    let mut wrong = skill("x", "generic", "c");
    wrong["checksum"] = json!(format!("sha256:{}", "a".repeat(64)));
    assert_eq!(
        code(r.post(&p("/skills"), wrong).await, 400),
        "SKILL_CHECKSUM_MISMATCH"
    );
    for name in ["../../etc/passwd", "foo..bar", "."] {
        let e = r.post(&p("/skills"), skill(name, "generic", "c")).await;
        assert_eq!(code(e, 400), "BAD_SKILL_NAME", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_filter_by_format_and_keep_requires_approval() {
    let r = start().await;
    let mut s = skill("scraper", "openclaw", "# scrape");
    s["requires_approval"] = json!(true);
    s["homepage"] = json!("https://example.com");
    let (st, e) = r.post(&p("/skills"), s).await;
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["payload"]["requires_approval"], true);
    assert_eq!(e["payload"]["homepage"], "https://example.com");
    r.post(&p("/skills"), skill("chain", "langchain", "print(1)"))
        .await;
    let (_, oc) = r.get(&p("/skills?format=openclaw")).await;
    let rows = oc["entries"].as_array().expect("entries");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["payload"]["name"], "scraper");
    assert_eq!(
        code(r.get(&p("/skills?format=autogen")).await, 400),
        "BAD_REQUEST"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skill_content_install_and_the_installed_list() {
    let r = start().await;
    let (s, installed) = r.get(&p("/skills/installed")).await;
    assert_eq!(s, 200);
    assert_eq!(installed, json!([]));
    let mut ids = Vec::new();
    for (name, format, ext) in [("scraper", "openclaw", "md"), ("chain", "langchain", "py")] {
        let content = format!("content of {name}\n");
        let (_, e) = r.post(&p("/skills"), skill(name, format, &content)).await;
        let id = e["id"].as_str().expect("id").to_string();
        let (s, c) = r.get(&p(&format!("/skills/{id}/content"))).await;
        assert_eq!(s, 200, "{c}");
        assert_eq!(c["content"], content.as_str());
        assert_eq!(c["checksum"], skill_checksum(&content).as_str());
        let e = r
            .post(
                &p(&format!("/skills/{id}/install")),
                json!({"confirm": false}),
            )
            .await;
        assert_eq!(code(e, 400), "NOT_CONFIRMED");
        let e = r
            .post(&p(&format!("/skills/{id}/install")), json!({}))
            .await;
        assert_eq!(code(e, 400), "BAD_REQUEST");
        let (s, i) = r
            .post(
                &p(&format!("/skills/{id}/install")),
                json!({"confirm": true}),
            )
            .await;
        assert_eq!(s, 200, "{i}");
        assert_eq!(i["ok"], true);
        let path = i["path"].as_str().expect("path");
        assert!(
            path.ends_with(&format!("/skills/{name}@1.0.0.{ext}")),
            "{path}"
        );
        assert_eq!(
            std::fs::read_to_string(path).expect("installed file"),
            content
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        ids.push(id);
    }
    let (_, installed) = r.get(&p("/skills/installed")).await;
    let rows = installed.as_array().expect("bare array");
    assert_eq!(rows.len(), 2);
    for id in &ids {
        assert!(rows.iter().any(|row| row["id"] == id.as_str()));
    }
    let pact_dir = r.daemon.dir.pact_dir("default");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(pact_dir.join("installed-skills.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest[&ids[0]]["name"], "scraper");
    assert!(std::fs::read_dir(&pact_dir).expect("dir").all(|e| {
        !e.expect("entry")
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")
    }));
    let e = r.get(&p("/skills/abcd1234-99/content")).await;
    assert_eq!(code(e, 404), "NOT_FOUND");
    let e = r
        .post(&p("/skills/abcd1234-99/install"), json!({"confirm": true}))
        .await;
    assert_eq!(code(e, 404), "NOT_FOUND");
}

// 39: entries.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_read_back_by_id_and_a_task_is_referenced_by_its_claim() {
    let r = start().await;
    let k = r.knowledge("sales", "Tuesdays convert").await;
    let id = k["id"].as_str().expect("id");
    let (s, e) = r.get(&p(&format!("/entries/{id}"))).await;
    assert_eq!(s, 200);
    assert_eq!(e["id"], id);
    assert_eq!(e["type"], "knowledge");
    assert_eq!(e["payload"], k["payload"]);
    assert_eq!(code(r.get(&p("/entries/zzzz-99")).await, 404), "NOT_FOUND");
    assert_eq!(
        r.get(&p(&format!("/entries/{id}/referenced-by"))).await.1,
        json!([])
    );
    let t = r.task(json!({"title": "t"})).await;
    let tid = t["id"].as_str().expect("id");
    r.put_empty(&p(&format!("/tasks/{tid}/claim"))).await;
    let (_, refs) = r.get(&p(&format!("/entries/{tid}/referenced-by"))).await;
    let rows = refs.as_array().expect("bare array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["payload"]["status"], "claimed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_answers_its_entry_exactly_as_it_reads_back() {
    let r = start().await;
    let (s, _) = r.put(&p("/me"), json!({"display_name": "Ada"})).await;
    assert_eq!(s, 200);
    let (_, parent) = r.post(&p("/messages"), json!({"content": "q"})).await;
    let pid = parent["id"].as_str().expect("id").to_string();
    let posts = [
        (
            "/knowledge",
            json!({"topic": "sales", "content": "Tuesdays convert", "source": "crm", "lang": "en"}),
        ),
        (
            "/messages",
            json!({"content": "reply", "reply_to": pid, "priority": "high"}),
        ),
        ("/messages", json!({"content": "to all", "to": "*"})),
        ("/skills", skill("deploy", "generic", "# deploy")),
    ];
    for (route, body) in posts {
        let (s, posted) = r.post(&p(route), body).await;
        assert_eq!(s, 200, "{posted}");
        assert_eq!(posted["display_name"], "Ada");
        let id = posted["id"].as_str().expect("id");
        let (s, read) = r.get(&p(&format!("/entries/{id}"))).await;
        assert_eq!(s, 200);
        assert_eq!(
            posted, read,
            "{route}: the answer is the entry as it reads back"
        );
    }
}

// 40–44: the changes feed.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_an_empty_pact_are_empty() {
    let r = start().await;
    let empty = json!({"entries": [], "cursor": null, "has_more": false});
    assert_eq!(r.get(&p("/changes?from=head")).await.1, empty);
    let (s, page) = r.get(&p("/changes?wait=0")).await;
    assert_eq!(s, 200);
    assert_eq!(page["entries"], json!([]));
    assert_eq!(page["has_more"], false);
}

/// Spec behaviour 40 pins a null cursor; the daemon answers `0|` (a cursor past the pact's
/// genesis rows), which resumes correctly but is not null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_an_empty_pact_have_a_null_cursor() {
    let r = start().await;
    let empty = json!({"entries": [], "cursor": null, "has_more": false});
    assert_eq!(r.get(&p("/changes?wait=0")).await.1, empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_list_every_type_in_arrival_order_and_resume_from_the_cursor() {
    let r = start().await;
    r.knowledge("t", "k").await;
    r.post(&p("/messages"), json!({"content": "m"})).await;
    r.task(json!({"title": "task"})).await;
    let (s, all) = r.get(&p("/changes")).await;
    assert_eq!(s, 200);
    let types: Vec<&str> = all["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(types, ["knowledge", "message", "task"]);
    assert!(all["cursor"].as_str().expect("cursor").contains('|'));
    let (_, k) = r.get(&p("/changes?type=knowledge")).await;
    assert_eq!(k["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        code(r.get(&p("/changes?type=admin")).await, 400),
        "BAD_REQUEST"
    );
    assert_eq!(
        code(r.get(&p("/changes?since=nope")).await, 400),
        "BAD_CURSOR"
    );
    assert_eq!(
        code(r.get(&p("/changes?wait=31")).await, 400),
        "BAD_REQUEST"
    );
    let (_, one) = r.get(&p("/changes?limit=1")).await;
    assert_eq!(one["entries"][0]["type"], "knowledge");
    assert_eq!(one["has_more"], true);
    let cursor = one["cursor"].as_str().expect("cursor");
    let (_, next) = r
        .get(&p(&format!("/changes?limit=2&since={}", enc(cursor))))
        .await;
    assert_eq!(next["entries"][0]["type"], "message");
    assert_eq!(next["entries"][1]["type"], "task");
    assert_eq!(next["has_more"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_from_head_see_only_later_writes() {
    let r = start().await;
    r.knowledge("t", "before").await;
    let (_, head) = r.get(&p("/changes?from=head")).await;
    assert_eq!(head["entries"], json!([]));
    let cursor = head["cursor"].as_str().expect("head cursor").to_string();
    let (_, none) = r
        .get(&p(&format!("/changes?since={}&wait=0", enc(&cursor))))
        .await;
    assert_eq!(none["entries"], json!([]));
    r.knowledge("t", "after").await;
    let (_, after) = r
        .get(&p(&format!("/changes?since={}&wait=0", enc(&cursor))))
        .await;
    assert_eq!(contents(&after), ["after"]);
    let t = r.task(json!({"title": "t"})).await;
    r.post(&p("/messages"), json!({"content": "later"})).await;
    let (_, head) = r.get(&p("/changes?from=head&type=task")).await;
    let cursor = head["cursor"].as_str().expect("cursor").to_string();
    let (_, none) = r
        .get(&p(&format!("/changes?since={}&type=task", enc(&cursor))))
        .await;
    assert_eq!(none["entries"], json!([]));
    let later = r.task(json!({"title": "later"})).await;
    let (_, next) = r
        .get(&p(&format!("/changes?since={}&type=task", enc(&cursor))))
        .await;
    assert_eq!(next["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(next["entries"][0]["id"], later["id"]);
    let _ = t;
}

/// Spec behaviour 43 pins the head of a typed feed to that type's last entry; the daemon's head
/// is the last arrival of any type (`<arrival>|`), which resumes correctly but names no task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_head_of_one_type_ends_with_that_types_last_id() {
    let r = start().await;
    let t = r.task(json!({"title": "t"})).await;
    r.post(&p("/messages"), json!({"content": "later"})).await;
    let (_, head) = r.get(&p("/changes?from=head&type=task")).await;
    let tid = t["id"].as_str().expect("id");
    assert!(
        head["cursor"]
            .as_str()
            .expect("cursor")
            .ends_with(&format!("|{tid}")),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_long_poll_answers_a_write_at_once_and_times_out_empty() {
    let r = Arc::new(start().await);
    let (_, head) = r.get(&p("/changes?from=head")).await;
    assert_eq!(head["cursor"], Value::Null);
    let writer = r.clone();
    let write = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(40)).await;
        writer.knowledge("t", "late").await;
    });
    let t = Instant::now();
    let (s, got) = r.get(&p("/changes?wait=5")).await;
    assert_eq!(s, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(contents(&got), ["late"]);
    write.await.expect("writer");
    let cursor = got["cursor"].as_str().expect("cursor").to_string();
    let t = Instant::now();
    let (_, empty) = r
        .get(&p(&format!("/changes?since={}&wait=1", enc(&cursor))))
        .await;
    let took = t.elapsed();
    assert_eq!(empty["entries"], json!([]));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );
}

// 45, 46: admin.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_added_and_removed_and_their_keys_checked_first() {
    let r = start().await;
    let key = member_key(2);
    let (s, m) = r
        .post(
            &p("/admin/members"),
            json!({"key": key, "indexer": false, "confirm": true}),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m, json!({"ok": true, "key": key, "indexer": false}));
    let (_, agents) = r.get(&p("/agents")).await;
    assert_eq!(agents.as_array().map(Vec::len), Some(2));
    // An indexer needs multi-indexer finality, which a later release brings.
    let e = r
        .post(
            &p("/admin/members"),
            json!({"key": member_key(3), "indexer": true}),
        )
        .await;
    assert_eq!(code(e, 409), "NOT_SUPPORTED_YET");
    let e = r.post(&p("/admin/members"), json!({"key": "short"})).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    // 64 hex characters that are no ed25519 point: refused before anything is written.
    let (s, e) = r
        .post(
            &p("/admin/members"),
            json!({"key": "dd".repeat(32), "indexer": false, "confirm": true}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("not an ed25519 public key")),
        "{e}"
    );
    let e = r.post(&p("/admin/members"), json!({"indexer": true})).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let (s, d) = r
        .send(
            reqwest::Method::DELETE,
            &p(&format!("/admin/members/{key}")),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["key"], key.as_str());
    let e = r
        .send(
            reqwest::Method::DELETE,
            "/v1/pacts/nope/admin/members/notlongenough",
            None,
            None,
        )
        .await;
    assert_eq!(e.1["message"], "key must be 64 hex chars (got 13)");
    assert_eq!(code(e, 400), "BAD_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_remove_check_their_input_before_the_pact() {
    let r = start().await;
    let key = member_key(2);
    for route in ["/admin/promote", "/admin/remove"] {
        let e = r.post(&p(route), json!({"key": key})).await;
        assert_eq!(code(e, 400), "BAD_REQUEST", "{route}");
        let e = r
            .post(&p(route), json!({"key": key, "confirm": false}))
            .await;
        assert_eq!(code(e, 400), "NOT_CONFIRMED", "{route}");
        let e = r
            .post(&p(route), json!({"key": "not-hex", "confirm": true}))
            .await;
        assert_eq!(code(e, 400), "BAD_REQUEST", "{route}");
        let e = r
            .post(
                &format!("/v1/pacts/nope{route}"),
                json!({"key": key, "confirm": false}),
            )
            .await;
        assert_eq!(code(e, 400), "NOT_CONFIRMED", "{route}");
        let e = r
            .post(
                &format!("/v1/pacts/nope{route}"),
                json!({"key": key, "confirm": true}),
            )
            .await;
        assert_eq!(code(e, 404), "UNKNOWN_PACT", "{route}");
    }
    // Promotion waits for multi-indexer finality.
    let e = r
        .post(&p("/admin/promote"), json!({"key": key, "confirm": true}))
        .await;
    assert_eq!(code(e, 409), "NOT_SUPPORTED_YET");
    r.post(&p("/admin/members"), json!({"key": key})).await;
    let (s, m) = r
        .post(&p("/admin/remove"), json!({"key": key, "confirm": true}))
        .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m, json!({"ok": true, "key": key}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_me_change_the_pact_and_announce_it() {
    let r = start().await;
    let (s, i) = r
        .put(&p("/info"), json!({"name": "Renamed", "purpose": "Ship"}))
        .await;
    assert_eq!(s, 200, "{i}");
    assert_eq!(i["pact_name"], "Renamed");
    assert_eq!(i["pact_purpose"], "Ship");
    let (_, i) = r.put(&p("/info"), json!({"purpose": null})).await;
    assert_eq!(i["pact_name"], "Renamed");
    assert_eq!(i["pact_purpose"], Value::Null);
    let e = r.put_empty(&p("/info")).await;
    assert_eq!(e.1["message"], "body must be object");
    // A claim TTL under a second is the caller's mistake, refused before anything is written.
    let (s, e) = r.put(&p("/info"), json!({"claim_ttl_ms": 0})).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "BAD_REQUEST");
    let (s, me) = r.put(&p("/me"), json!({"display_name": "Ada"})).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me, json!({"ok": true, "display_name": "Ada"}));
    let (_, st) = r.get(&p("/status")).await;
    assert_eq!(st["display_name"], "Ada");
    let (_, msgs) = r.get(&p("/messages")).await;
    let kinds: Vec<&str> = msgs["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|m| m["payload"]["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"rename") && kinds.contains(&"pact-update"),
        "{kinds:?}"
    );
    let (_, me) = r.put(&p("/me"), json!({})).await;
    assert_eq!(me["display_name"], Value::Null);
    let e = r
        .put(&p("/me"), json!({"display_name": "x".repeat(65)}))
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
}

// 47–50: invites.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_mint_list_and_revoke() {
    let r = start().await;
    assert_eq!(
        code(r.post(&p("/invites"), json!({})).await, 400),
        "BAD_REQUEST"
    );
    let e = r.post(&p("/invites"), json!({"confirm": false})).await;
    assert_eq!(code(e, 400), "NOT_CONFIRMED");
    let e = r
        .post(&p("/invites"), json!({"confirm": true, "ttl_ms": 1000}))
        .await;
    assert_eq!(e.1["message"], "body/ttl_ms must be >= 60000");
    assert_eq!(
        r.get(&p("/invites")).await.1,
        json!({"entries": [], "cursor": null, "has_more": false})
    );
    let (s, inv) = r.post(&p("/invites"), json!({"confirm": true})).await;
    assert_eq!(s, 200, "{inv}");
    assert!(inv["token"].as_str().expect("token").len() > 20);
    assert!(inv["share_url"].as_str().expect("url").contains("invite="));
    let nonce = inv["nonce"].as_str().expect("nonce").to_string();
    assert!(nonce.len() == 48 && nonce.bytes().all(|b| b.is_ascii_hexdigit()));
    let (s, short) = r
        .post(&p("/invites"), json!({"confirm": true, "ttl_ms": 60000}))
        .await;
    assert_eq!(s, 200);
    let exp =
        openpact_gateway::extract::parse_date_time(short["expires_at"].as_str().expect("exp"))
            .expect("rfc 3339");
    let now = SystemClock.now_ms() as i64;
    assert!((exp - (now + 60_000)).abs() < 5_000, "{exp} vs {now}");
    let (_, list) = r.get(&p("/invites")).await;
    let rows = list["entries"].as_array().expect("entries");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["nonce"], nonce.as_str());
    assert_eq!(rows[0]["dead"], false);
    assert_eq!(rows[0]["revoked"], false);
    assert_eq!(rows[0]["spent_at"], Value::Null);
    let e = r
        .delete(
            &p(&format!("/invites/{nonce}")),
            json!({"confirm": "0".repeat(48)}),
        )
        .await;
    assert_eq!(code(e, 400), "NOT_CONFIRMED");
    let e = r.delete(&p(&format!("/invites/{nonce}")), json!({})).await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r
        .delete(&p("/invites/xyz"), json!({"confirm": "0".repeat(48)}))
        .await;
    assert_eq!(e.1["message"], "nonce must be 48-hex");
    let (s, d) = r
        .delete(&p(&format!("/invites/{nonce}")), json!({"confirm": nonce}))
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d, json!({"ok": true, "nonce": nonce}));
    let (_, list) = r.get(&p("/invites")).await;
    assert_eq!(list["entries"][0]["revoked"], true);
    assert_eq!(list["entries"][0]["dead"], true);
    let f = "f".repeat(48);
    let e = r
        .delete(&p(&format!("/invites/{f}")), json!({"confirm": f}))
        .await;
    assert_eq!(code(e, 404), "UNKNOWN_INVITE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_redeems_once_with_this_daemon_as_the_indexer() {
    let t0 = 1_776_254_400_000;
    let clock = Arc::new(ManualClock::new(t0));
    let r = start_with(clock.clone(), true, 0).await;
    let (_, inv) = r.post(&p("/invites"), json!({"confirm": true})).await;
    let token = inv["token"].as_str().expect("token").to_string();
    let key = member_key(2);
    let redeem = |token: &str, key: &str, confirm: bool| json!({"token": token, "writer_key": key, "confirm": confirm});
    let e = r
        .post(&p("/invites/redeem"), redeem("garbage!", &key, false))
        .await;
    assert_eq!(code(e, 400), "NOT_CONFIRMED");
    let e = r
        .post(&p("/invites/redeem"), redeem("thisisnotatoken", &key, true))
        .await;
    assert_eq!(code(e, 400), "INVITE_BAD_SHAPE");
    let (s, ok) = r
        .post(&p("/invites/redeem"), redeem(&token, &key, true))
        .await;
    assert_eq!(s, 200, "{ok}");
    assert_eq!(ok, json!({"ok": true, "nonce": inv["nonce"]}));
    let (_, list) = r.get(&p("/invites")).await;
    assert_eq!(list["entries"][0]["spent_by"], key.as_str());
    let (_, agents) = r.get(&p("/agents")).await;
    assert!(
        agents
            .as_array()
            .expect("agents")
            .iter()
            .any(|a| a["remote_key"] == key.as_str())
    );
    let e = r
        .post(&p("/invites/redeem"), redeem(&token, &member_key(3), true))
        .await;
    assert_eq!(code(e, 409), "INVITE_SPENT");
    // Revoked.
    let (_, inv) = r.post(&p("/invites"), json!({"confirm": true})).await;
    let nonce = inv["nonce"].as_str().expect("nonce");
    r.delete(&p(&format!("/invites/{nonce}")), json!({"confirm": nonce}))
        .await;
    let e = r
        .post(
            &p("/invites/redeem"),
            redeem(inv["token"].as_str().expect("t"), &key, true),
        )
        .await;
    assert_eq!(code(e, 409), "INVITE_REVOKED");
    // Expired.
    let (_, inv) = r
        .post(&p("/invites"), json!({"confirm": true, "ttl_ms": 60000}))
        .await;
    clock.set(t0 + 61_000);
    let e = r
        .post(
            &p("/invites/redeem"),
            redeem(inv["token"].as_str().expect("t"), &member_key(4), true),
        )
        .await;
    assert_eq!(code(e, 410), "INVITE_EXPIRED");
    // For another pact.
    let other = start().await;
    let (_, foreign) = other.post(&p("/invites"), json!({"confirm": true})).await;
    let e = r
        .post(
            &p("/invites/redeem"),
            redeem(foreign["token"].as_str().expect("t"), &key, true),
        )
        .await;
    assert_eq!(code(e, 400), "INVITE_WRONG_PACT");
}

// 51, 52, 53 and the rest of `/v1/pacts`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacts_list_create_and_rename() {
    let r = start_with(Arc::new(SystemClock), false, 0).await;
    assert_eq!(
        r.get("/v1/pacts").await.1,
        json!({"current": null, "pacts": []})
    );
    let e = r
        .post("/v1/pacts", json!({"name": "Team", "confirm": false}))
        .await;
    assert_eq!(code(e, 400), "NOT_CONFIRMED");
    let e = r
        .post("/v1/pacts", json!({"name": "Team", "confirm": "true"}))
        .await;
    assert_eq!(e.1["message"], "body/confirm must be boolean");
    let e = r.post("/v1/pacts", json!({"confirm": true})).await;
    assert_eq!(e.1["message"], "body must have required property 'name'");
    let (s, c) = r
        .post(
            "/v1/pacts",
            json!({"name": "Sales Team!", "purpose": null, "confirm": true, "x": 1}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["alias"], "sales-team");
    assert_eq!(c["role"], "creator");
    assert_eq!(c["pact_name"], "Sales Team!");
    assert!(is_handle(c["peer_handle"].as_str().expect("handle")));
    let e = r
        .post(
            "/v1/pacts",
            json!({"name": "Other", "alias": "sales-team", "confirm": true}),
        )
        .await;
    assert_eq!(code(e, 409), "PACT_ALIAS_EXISTS");
    let e = r
        .post(
            "/v1/pacts",
            json!({"name": "Other", "alias": "Bad Alias", "confirm": true}),
        )
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let (_, list) = r.get("/v1/pacts").await;
    assert_eq!(list["current"], "sales-team");
    assert_eq!(list["pacts"][0]["is_current"], true);
    assert_eq!(list["pacts"][0]["role"], "creator");
    assert_eq!(list["pacts"][0]["pact_id"], c["pact_id"]);
    let (s, rn) = r
        .put("/v1/pacts/sales-team/alias", json!({"alias": "sales"}))
        .await;
    assert_eq!(s, 200, "{rn}");
    assert_eq!(
        rn,
        json!({"ok": true, "alias": "sales", "pact_id": c["pact_id"]})
    );
    assert_eq!(r.get("/v1/pacts").await.1["current"], "sales");
    let e = r
        .put("/v1/pacts/sales/alias", json!({"alias": "sales"}))
        .await;
    assert_eq!(code(e, 409), "PACT_ALIAS_EXISTS");
    let e = r.put("/v1/pacts/nope/alias", json!({"alias": "x"})).await;
    assert_eq!(code(e, 404), "UNKNOWN_PACT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_pact_needs_its_alias_or_id_as_confirm() {
    let r = start().await;
    let e = r
        .delete("/v1/pacts/default", json!({"confirm": true}))
        .await;
    assert!(e.1["message"].as_str().unwrap_or("").contains("confirm"));
    assert_eq!(code(e, 400), "BAD_REQUEST");
    assert_eq!(
        code(r.delete("/v1/pacts/default", json!({})).await, 400),
        "BAD_REQUEST"
    );
    let e = r.delete("/v1/pacts/nope", json!({"confirm": "nope"})).await;
    assert_eq!(code(e, 404), "UNKNOWN_PACT");
    let e = r
        .delete("/v1/pacts/default", json!({"confirm": "typo"}))
        .await;
    assert_eq!(code(e, 400), "NOT_CONFIRMED");
    let (s, d) = r
        .delete("/v1/pacts/default", json!({"confirm": "default"}))
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["removed"]["alias"], "default");
    assert_eq!(r.get("/v1/pacts").await.1["pacts"], json!([]));
    let (_, c) = r
        .post("/v1/pacts", json!({"name": "again", "confirm": true}))
        .await;
    let id = c["pact_id"].as_str().expect("id");
    let (s, d) = r
        .delete(&format!("/v1/pacts/{id}"), json!({"confirm": id}))
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["removed"]["pact_id"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_needs_the_alias_as_confirm() {
    let r = start().await;
    let e = r
        .post("/v1/pacts/switch", json!({"alias": "default"}))
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r
        .post(
            "/v1/pacts/switch",
            json!({"alias": "default", "confirm": "other"}),
        )
        .await;
    assert_eq!(code(e, 400), "NOT_CONFIRMED");
    let (s, sw) = r
        .post(
            "/v1/pacts/switch",
            json!({"alias": "default", "confirm": "default"}),
        )
        .await;
    assert_eq!(s, 200, "{sw}");
    assert_eq!(sw, json!({"ok": true, "current": "default"}));
    let e = r
        .post(
            "/v1/pacts/switch",
            json!({"alias": "ghost", "confirm": "ghost"}),
        )
        .await;
    assert_eq!(code(e, 404), "UNKNOWN_PACT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_by_key_adds_the_pact_with_no_role_after_its_checks() {
    let r = start().await;
    let key = "ab".repeat(32);
    let e = r
        .post("/v1/pacts/join", json!({"alias": "coven", "confirm": true}))
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r
        .post(
            "/v1/pacts/join",
            json!({"key": "AB".repeat(32), "confirm": true}),
        )
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r
        .post("/v1/pacts/join", json!({"key": key, "confirm": false}))
        .await;
    assert_eq!(code(e, 400), "NOT_CONFIRMED");
    let e = r
        .post(
            "/v1/pacts/join",
            json!({"key": key, "token": "thisisnotatoken", "confirm": true}),
        )
        .await;
    assert_eq!(code(e, 400), "INVITE_BAD_SHAPE");
    // Test behaviour 53: echoed and persisted; no role until an invite is redeemed.
    let body = json!({"key": key, "alias": "coven", "display_name": "Ada", "pact_name": "Coven",
                      "pact_purpose": "Brew", "confirm": true});
    let (status, joined) = r.post("/v1/pacts/join", body.clone()).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["alias"], "coven");
    assert_eq!(joined["pact_id"], key.as_str());
    assert_eq!(joined["pact_name"], "Coven");
    assert_eq!(joined["pact_purpose"], "Brew");
    assert_eq!(joined["role"], Value::Null);
    let config: Value = serde_json::from_slice(
        &std::fs::read(r.daemon.dir.root().join("pacts/coven/config.json")).expect("config"),
    )
    .expect("config is JSON");
    assert_eq!(config["pactName"], "Coven");
    assert_eq!(config["pactPurpose"], "Brew");
    // The same alias and key again: the same pact.
    let (status, again) = r.post("/v1/pacts/join", body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["alias"], "coven");
    // The alias bound to another pact.
    let e = r
        .post(
            "/v1/pacts/join",
            json!({"key": "cd".repeat(32), "alias": "coven", "confirm": true}),
        )
        .await;
    assert_eq!(code(e, 409), "PACT_ALIAS_EXISTS");
}

// Request shape: content types, malformed JSON, params, methods.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_must_be_json_objects() {
    let r = start().await;
    let path = p("/knowledge");
    let e = r
        .send(
            reqwest::Method::POST,
            &path,
            Some("application/x-www-form-urlencoded"),
            Some(b"topic=a&content=b".to_vec()),
        )
        .await;
    assert_eq!(code(e, 415), "UNSUPPORTED_MEDIA_TYPE");
    let e = r
        .send(reqwest::Method::POST, &path, None, Some(b"{}".to_vec()))
        .await;
    assert_eq!(code(e, 415), "UNSUPPORTED_MEDIA_TYPE");
    let e = r
        .send(
            reqwest::Method::POST,
            &path,
            Some("application/json"),
            Some(b"{\"topic\":".to_vec()),
        )
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r
        .send(
            reqwest::Method::POST,
            &path,
            Some("application/json"),
            Some(Vec::new()),
        )
        .await;
    assert_eq!(code(e, 400), "BAD_REQUEST");
    let e = r.send(reqwest::Method::POST, &path, None, None).await;
    assert_eq!(e.1["message"], "body must be object");
    let e = r.post(&path, json!(["topic", "content"])).await;
    assert_eq!(e.1["message"], "body must be object");
    let (s, ok) = r
        .send(
            reqwest::Method::POST,
            &path,
            Some("application/json; charset=utf-8"),
            Some(br#"{"topic":"t","content":"c"}"#.to_vec()),
        )
        .await;
    assert_eq!(s, 200, "{ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_answers_say_their_charset() {
    let r = start().await;
    let res = r
        .http
        .get(format!("{}{}", r.base, p("/status")))
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json; charset=utf-8")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_params_trailing_slashes_and_other_methods_match_no_route() {
    let r = start().await;
    let long = "a".repeat(101);
    let e = r.get(&p(&format!("/entries/{long}"))).await;
    assert_eq!(code(e, 404), "NOT_FOUND");
    let e = r.get(&p(&format!("/entries/{}", "a".repeat(100)))).await;
    assert_eq!(
        e.1["message"],
        format!("entry {} not found", "a".repeat(100))
    );
    let (s, _) = r.get(&p("/status/")).await;
    assert_eq!(s, 404);
    let e = r
        .send(reqwest::Method::PATCH, &p("/knowledge"), None, None)
        .await;
    assert_eq!(
        e.1["message"],
        format!("route PATCH {} not found", p("/knowledge"))
    );
    assert_eq!(code(e, 404), "NOT_FOUND");
    let res = r
        .http
        .head(format!("{}{}", r.base, p("/status")))
        .send()
        .await
        .expect("head");
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_api_description_is_served() {
    let r = start().await;
    for route in openpact_gateway::pact::ROUTES {
        let path = route
            .path
            .replace("{pact_id}", "default")
            .replace("{id}", "abcd1234-1")
            .replace("{key}", &member_key(2))
            .replace("{nonce}", &"f".repeat(48));
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).expect("method");
        let (s, v) = r.send(method, &path, None, None).await;
        // No route: axum's bare 404, or the envelope naming the route.
        let unrouted = s == 404
            && v["message"]
                .as_str()
                .is_none_or(|m| m.starts_with("route "));
        assert!(!unrouted && s != 405, "{} {path}: {s} {v}", route.method);
    }
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The public key (64 hex) of a made-up member: a real ed25519 key, as a joining daemon has.
fn member_key(seed: u8) -> String {
    openpact_ledger::Signer::from_seed([seed; 32])
        .public()
        .to_hex()
}
