//! Benchmarks of the REST gateway of the real daemon (docs/BENCHMARKS.md, "REST"):
//! `POST /v1/pacts/:pact/knowledge` with 1 and 64 connections and `GET …/knowledge?limit=50`
//! with 64, all driven by `wrk` (apt `wrk`) beside a bare axum JSON echo measured the same way
//! as the ceiling, then the SSE fan-out latency from a POST to 100 connected subscribers.
//!
//! `cargo bench -p openpact-server --bench rest -- [--quick] [--seconds S]`
//!
//! Without `wrk` on PATH the throughput part is skipped with a note; the fan-out still runs.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{args, create_pact, fail, ms, pct, ready, spawn_daemon, stop, temp_dir};
use openpact_server::datadir::DataDir;

/// What `wrk --latency` reported.
struct Wrk {
    rps: f64,
    p50: String,
    p99: String,
    requests: u64,
}

/// Runs wrk against `url` with `connections` (one thread per 32, at least one) for `seconds`,
/// the request shaped by the Lua `script`. Fails the bench on any non-2xx answer or socket
/// error, so a number never hides refusals.
fn wrk(url: &str, connections: u32, seconds: u32, script: &Path) -> Wrk {
    let threads = connections.div_ceil(32).clamp(1, 2);
    let out = Command::new("wrk")
        .args([
            format!("-t{threads}"),
            format!("-c{connections}"),
            format!("-d{seconds}s"),
            "--latency".to_string(),
            "-s".to_string(),
        ])
        .arg(script)
        .arg(url)
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run wrk: {e}")));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        fail(&format!(
            "wrk failed: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for bad in ["Non-2xx or 3xx responses", "Socket errors"] {
        if let Some(line) = text.lines().find(|l| l.trim_start().starts_with(bad)) {
            fail(&format!("wrk against {url}: {}\n{text}", line.trim()));
        }
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim_start().strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| fail(&format!("no `{prefix}` in wrk's output:\n{text}")))
    };
    let rps = field("Requests/sec:")
        .parse::<f64>()
        .unwrap_or_else(|e| fail(&format!("wrk's Requests/sec: {e}")));
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Wrk {
        rps,
        p50: field("50%"),
        p99: field("99%"),
        requests,
    }
}

/// A Lua script for wrk: `method` with `body` (JSON) and the bearer token.
fn script(
    dir: &Path,
    name: &str,
    method: &str,
    body: Option<&str>,
    token: &str,
) -> std::path::PathBuf {
    let mut lua =
        format!("wrk.method = \"{method}\"\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\n");
    if let Some(body) = body {
        lua.push_str("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
        lua.push_str(&format!("wrk.body = '{body}'\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, lua).unwrap_or_else(|e| fail(&format!("write {name}: {e}")));
    path
}

/// A bare axum server: POST /echo answers the JSON it was sent, GET /page answers `page`.
async fn echo_server(page: Arc<Vec<u8>>) -> std::net::SocketAddr {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/echo",
            post(|axum::Json(v): axum::Json<serde_json::Value>| async move { axum::Json(v) }),
        )
        .route(
            "/page",
            get(move || {
                let page = page.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        page.as_ref().clone(),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| fail(&format!("bind the echo server: {e}")));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| fail(&format!("echo address: {e}")));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn have_wrk() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// Opens `n` event streams, then POSTs `posts` knowledge entries `gap` apart and measures, for
/// every subscriber and post, the time from sending the POST to the subscriber reading its
/// `entry-applied` frame.
async fn fan_out(base: &str, token: &str, n: usize, posts: usize, gap: Duration) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let sent: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; posts]));
    let mut subscribers = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(n);
    for _ in 0..n {
        let r = http
            .get(format!("{base}/v1/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("subscribe: {e}")));
        if !r.status().is_success() {
            fail(&format!("subscribe: {}", r.status()));
        }
        let ready_tx = ready_tx.clone();
        subscribers.push(tokio::spawn(async move {
            let mut r = r;
            let mut arrivals = vec![None; posts];
            let mut seen = 0;
            let mut buf = String::new();
            let mut announced = false;
            while seen < posts {
                let chunk = match tokio::time::timeout(Duration::from_secs(30), r.chunk()).await {
                    Ok(Ok(Some(c))) => c,
                    _ => break,
                };
                let now = Instant::now();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                if !announced && buf.contains("retry: 1000") {
                    announced = true;
                    let _ = ready_tx.send(()).await;
                }
                while let Some(i) = buf.find("\n\n") {
                    let frame: String = buf.drain(..i + 2).collect();
                    if !frame.contains("event: entry-applied") {
                        continue;
                    }
                    if let Some(k) = frame
                        .split("fanout-")
                        .nth(1)
                        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|d| d.parse::<usize>().ok())
                        && k < posts
                        && arrivals[k].is_none()
                    {
                        arrivals[k] = Some(now);
                        seen += 1;
                    }
                }
            }
            arrivals
        }));
    }
    drop(ready_tx);
    for _ in 0..n {
        if ready_rx.recv().await.is_none() {
            fail("a subscriber ended before its stream started");
        }
    }
    for k in 0..posts {
        let t = Instant::now();
        if let Ok(mut s) = sent.lock() {
            s[k] = Some(t);
        }
        let r = http
            .post(format!("{base}/v1/pacts/bench/knowledge"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "topic": "fanout", "content": format!("fanout-{k}") }))
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("post: {e}")));
        if !r.status().is_success() {
            fail(&format!("post: {}", r.status()));
        }
        tokio::time::sleep(gap).await;
    }
    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    let mut lat = Vec::new();
    for s in subscribers {
        let arrivals = s
            .await
            .unwrap_or_else(|e| fail(&format!("subscriber: {e}")));
        for (k, a) in arrivals.iter().enumerate() {
            match (a, sent.get(k).copied().flatten()) {
                (Some(a), Some(t)) => lat.push(a.saturating_duration_since(t)),
                _ => fail(&format!("a subscriber never saw post {k}")),
            }
        }
    }
    lat.sort();
    lat
}

/// Starts a daemon on `dir` with the rate limiter off (the bench measures the server, not the
/// 3000/min default) and `env`, with the pact `bench`: the child, the REST base URL, the token.
async fn start(dir: &Path, env: &[(&str, &str)]) -> (std::process::Child, String, String) {
    let mut all = vec![("OPENPACT_RATE_LIMIT", "0")];
    all.extend_from_slice(env);
    let child = spawn_daemon(dir, &all);
    let (mut c, _) = ready(dir, Instant::now()).await;
    create_pact(&mut c, "bench").await;
    let file = DataDir::at(dir)
        .load()
        .unwrap_or_else(|e| fail(&format!("daemon.json: {e}")));
    let (Some(port), Some(token)) = (file.port, file.api_token) else {
        fail("daemon.json names no REST port or token")
    };
    (child, format!("http://127.0.0.1:{port}"), token)
}

/// 100 entries, so a page of 50 is full.
async fn seed(http: &reqwest::Client, base: &str, token: &str) {
    for i in 0..100 {
        let r = http
            .post(format!("{base}/v1/pacts/bench/knowledge"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "topic": "seed", "content": format!("seed entry {i}") }))
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("seed post: {e}")));
        if !r.status().is_success() {
            fail(&format!("seed post: {}", r.status()));
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (quick, seconds) = args();
    // wrk takes whole seconds.
    let seconds = seconds.map_or(if quick { 1 } else { 10 }, |s| s.ceil().max(1.0) as u32);
    let tmp = temp_dir("opr");
    let (child, base, token) = start(&tmp.path().join("data"), &[]).await;
    let http = reqwest::Client::new();
    seed(&http, &base, &token).await;
    let page_url = format!("{base}/v1/pacts/bench/knowledge?limit=50");
    let page = http
        .get(&page_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("page: {e}")))
        .bytes()
        .await
        .unwrap_or_else(|e| fail(&format!("page: {e}")))
        .to_vec();
    println!("REST benchmarks ({seconds} s per wrk run; daemon and wrk on the same machine)");

    if have_wrk() {
        let body = r#"{"topic":"bench","content":"a short knowledge entry written by wrk"}"#;
        let post = script(tmp.path(), "post.lua", "POST", Some(body), &token);
        let get = script(tmp.path(), "get.lua", "GET", None, &token);
        let echo = echo_server(Arc::new(page.clone())).await;
        let echo_post = format!("http://{echo}/echo");
        let echo_get = format!("http://{echo}/page");
        let know = format!("{base}/v1/pacts/bench/knowledge");
        let page_url = page_url.as_str();
        let runs: [(&str, &str, &Path, u32); 6] = [
            ("axum echo     POST     c1", &echo_post, &post, 1),
            ("axum echo     POST     c64", &echo_post, &post, 64),
            ("axum echo     GET page c64", &echo_get, &get, 64),
            ("POST knowledge         c1", &know, &post, 1),
            ("POST knowledge         c64", &know, &post, 64),
            ("GET knowledge?limit=50 c64", page_url, &get, 64),
        ];
        println!(
            "{:<28} {:>11} {:>10} {:>10} {:>10}",
            "run", "req/s", "p50", "p99", "requests"
        );
        let row = |name: &str, w: Wrk| {
            println!(
                "{name:<28} {:>11.0} {:>10} {:>10} {:>10}",
                w.rps, w.p50, w.p99, w.requests
            );
        };
        for (name, url, script, conns) in runs {
            row(name, wrk(url, conns, seconds, script));
        }
        // The same page with the answer cache off: every request reads the ledger and writes
        // the JSON, as when writes land between reads.
        let (cold, cold_base, cold_token) =
            start(&tmp.path().join("cold"), &[("OPENPACT_ANSWER_CACHE", "0")]).await;
        seed(&http, &cold_base, &cold_token).await;
        let cold_get = script(tmp.path(), "cold.lua", "GET", None, &cold_token);
        row(
            "GET limit=50 no cache  c64",
            wrk(
                &format!("{cold_base}/v1/pacts/bench/knowledge?limit=50"),
                64,
                seconds,
                &cold_get,
            ),
        );
        stop(cold);
    } else {
        println!("wrk is not on PATH (apt install wrk): the throughput runs are skipped");
    }

    let (subscribers, posts) = if quick { (100, 10) } else { (100, 200) };
    let lat = fan_out(&base, &token, subscribers, posts, Duration::from_millis(20)).await;
    println!(
        "SSE fan-out, POST → entry-applied at {subscribers} subscribers ({posts} posts, {} \
         deliveries): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
    stop(child);
}
