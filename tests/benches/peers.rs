//! Peer replication benchmarks (issue 6), daemons as processes on loopback:
//!
//! - catch-up: a fresh daemon joins a pact of N entries; time until it holds them all;
//! - the same while the creator keeps taking 1,000 writes/s;
//! - POST on A → `entry-applied` on B's SSE: latency, and exactly one event per entry (paced
//!   posts, then a burst from 16 writers);
//! - join-to-member with the daemons already running;
//! - time for two restarted daemons to carry a fresh entry across;
//! - memory and CPU of a daemon with 8 connected peers at rest.
//!
//! `cargo bench -p openpact-tests --bench peers [-- --quick] [--catch-up-only]`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openpact_tests::{Node, eventually};
use serde_json::json;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Writes `n` entries on `node` with 64 requests in flight.
async fn seed(node: &Node, pact: &str, n: usize, tag: &str) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..64).map(|_| {
        let next = next.clone();
        async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                node.record(pact, &format!("{tag} {i}: a short knowledge entry"))
                    .await;
            }
        }
    });
    futures_util::future::join_all(workers).await;
}

async fn stored(node: &Node, pact: &str) -> u64 {
    node.status(pact).await["stored"].as_u64().unwrap_or(0)
}

/// Joins `node` to `pact` with a fresh invite from `creator`; how long the join call took.
async fn join(creator: &Node, node: &Node, pact: &str, name: &str) -> Duration {
    let token = creator.invite(pact).await;
    let t = Instant::now();
    let r = node.join(pact, &token, name).await;
    let took = t.elapsed();
    assert_eq!(r.status, 200, "join: {r:?}");
    took
}

/// Catch-up of `n` entries by a fresh daemon; with `load`, while the creator takes 1,000
/// writes/s. Returns (time, entries, bytes).
async fn catch_up(a: &Node, pact: &str, n: u64, load: bool) -> (Duration, u64, u64) {
    let b = Node::start().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // 1,000 writes/s: 4 writers, one POST every 4 ms each (a POST takes a few ms under load,
    // so one sequential writer could not keep the pace).
    let writer = load.then(|| {
        let (base, token, pact, stop) = (
            a.base.clone(),
            a.token.clone(),
            pact.to_string(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let writers = (0..4).map(|w| {
                let (base, token, pact, stop) =
                    (base.clone(), token.clone(), pact.clone(), stop.clone());
                tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    let mut tick = tokio::time::interval(Duration::from_millis(4));
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        tick.tick().await;
                        let _ = http
                            .post(format!("{base}/v1/pacts/{pact}/knowledge"))
                            .bearer_auth(&token)
                            .json(&json!({"topic": "load", "content": format!("load {w} {i}")}))
                            .send()
                            .await;
                        i += 1;
                    }
                    i
                })
            });
            let mut total = 0;
            for w in writers.collect::<Vec<_>>() {
                total += w.await.unwrap_or(0);
            }
            (total, started.elapsed())
        })
    });
    if load {
        // Let the load settle before the joiner arrives.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let target = stored(a, pact).await.max(n);
    let cpu = |n: &Node| rss_and_cpu(pid_of(n)).map_or(0, |(_, ticks)| ticks);
    let (a0, b0) = (cpu(a), cpu(&b));
    // OPENPACT_BENCH_PERF=<file>: profile the whole machine during the catch-up (perf record
    // -a -g: `-p` would miss the threads the joiner starts later, such as its verifiers).
    // Build with `RUSTFLAGS="-C force-frame-pointers=yes"` for whole call chains.
    let perf = std::env::var("OPENPACT_BENCH_PERF").ok().and_then(|out| {
        println!("  (profiling into {out}; the joiner is pid {})", pid_of(&b));
        std::process::Command::new("perf")
            .args(["record", "-a", "-g", "-o", &out])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()
    });
    let t = Instant::now();
    join(a, &b, pact, "catcher").await;
    eventually(Duration::from_secs(300), "the catch-up", || async {
        (stored(&b, pact).await >= target).then_some(())
    })
    .await;
    let took = t.elapsed();
    if let Some(mut p) = perf {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &p.id().to_string()])
            .status();
        let _ = p.wait();
    }
    println!(
        "  (CPU during the catch-up: A {:.2} s, B {:.2} s)",
        (cpu(a) - a0) as f64 / 100.0,
        (cpu(&b) - b0) as f64 / 100.0
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (written, wrote_for) = match writer {
        Some(w) => w.await.unwrap_or_default(),
        None => (0, Duration::ZERO),
    };
    let s = b.status(pact).await;
    let bytes = s["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["bytes_in"].as_u64().unwrap_or(0))
        .sum();
    if load {
        println!(
            "  (the load wrote {written} entries, {:.0}/s)",
            written as f64 / wrote_for.as_secs_f64().max(0.001)
        );
    }
    (took, target, bytes)
}

/// Subscribes to `node`'s SSE; a task collecting `(content, arrival)` of every entry-applied
/// event whose content starts with `tag`, until `want` distinct ones arrived (or 30 s of
/// silence).
async fn sse_collector(
    node: &Node,
    tag: &'static str,
    want: usize,
) -> tokio::task::JoinHandle<HashMap<String, (Instant, u32)>> {
    let r = node.events().await;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut r = r;
        let mut seen: HashMap<String, (Instant, u32)> = HashMap::new();
        let mut buf = String::new();
        let mut ready = Some(ready_tx);
        while seen.len() < want {
            let chunk = match tokio::time::timeout(Duration::from_secs(30), r.chunk()).await {
                Ok(Ok(Some(c))) => c,
                _ => break,
            };
            let now = Instant::now();
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if buf.contains("retry: 1000")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(());
            }
            while let Some(i) = buf.find("\n\n") {
                let frame: String = buf.drain(..i + 2).collect();
                if !frame.contains("event: entry-applied") {
                    continue;
                }
                let Some(start) = frame.find(tag) else {
                    continue;
                };
                let content: String = frame[start..].chars().take_while(|c| *c != '"').collect();
                let e = seen.entry(content).or_insert((now, 0));
                e.1 += 1;
            }
        }
        // Wait a little for doubles.
        let _ = tokio::time::timeout(Duration::from_millis(300), r.chunk()).await;
        seen
    });
    let _ = ready_rx.await;
    task
}

/// Waits until `node`'s event stream has been quiet for a second (every event of a catch-up
/// delivered); how long that took.
async fn quiet(node: &Node) -> Duration {
    let t = Instant::now();
    let mut r = node.events().await;
    loop {
        match tokio::time::timeout(Duration::from_secs(1), r.chunk()).await {
            Ok(Ok(Some(_))) => {}
            // Quiet for a second, or the stream ended (a slow consumer is closed): look again.
            Err(_) => return t.elapsed().saturating_sub(Duration::from_secs(1)),
            Ok(_) => {
                r = node.events().await;
            }
        }
    }
}

/// Prints the latency from each POST (`sent`) to its event (`seen`), and how many events
/// arrived once, never, or more than once.
fn report(what: &str, sent: &HashMap<String, Instant>, seen: &HashMap<String, (Instant, u32)>) {
    let mut lat: Vec<Duration> = sent
        .iter()
        .filter_map(|(c, t)| seen.get(c).map(|(at, _)| at.saturating_duration_since(*t)))
        .collect();
    lat.sort_unstable();
    let doubled = seen.values().filter(|(_, n)| *n > 1).count();
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} of {} arrived, {doubled} doubled",
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        lat.len(),
        sent.len(),
    );
}

fn rss_and_cpu(pid: u32) -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let rss = statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4096;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((rss, ticks))
}

fn pid_of(node: &Node) -> u32 {
    std::fs::read_to_string(node.root().join("pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n: u64 = if quick { 2_000 } else { 100_000 };
    println!("Peer benchmarks (daemons as processes on loopback; {n} entries)");

    // Catch-up.
    let a = Node::start().await;
    let pact = a.create_pact("bench").await;
    let t = Instant::now();
    seed(&a, &pact, n as usize, "seed").await;
    println!(
        "seeded {n} entries on A in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (took, entries, bytes) = catch_up(&a, &pact, n, false).await;
    println!(
        "catch-up, fresh B joins a pact of {entries} entries: {:.2} s, {:.0} entries/s, {:.1} MB/s",
        took.as_secs_f64(),
        entries as f64 / took.as_secs_f64(),
        bytes as f64 / 1e6 / took.as_secs_f64(),
    );
    if std::env::args().any(|a| a == "--catch-up-only") {
        return;
    }
    let (took, entries, _) = catch_up(&a, &pact, n, true).await;
    println!(
        "catch-up while A takes 1,000 writes/s: {:.2} s for {entries} entries",
        took.as_secs_f64(),
    );

    // POST on A → entry-applied on B.
    let b = Node::start().await;
    join(&a, &b, &pact, "listener").await;
    eventually(Duration::from_secs(300), "B to catch up", || async {
        (stored(&b, &pact).await >= stored(&a, &pact).await).then_some(())
    })
    .await;
    let drained = quiet(&b).await;
    println!(
        "B's event stream went quiet {:.2} s after it held every entry",
        drained.as_secs_f64()
    );
    let posts = if quick { 50 } else { 500 };
    let collector = sse_collector(&b, "paced-", posts).await;
    let mut sent = HashMap::new();
    for k in 0..posts {
        let content = format!("paced-{k}");
        sent.insert(content.clone(), Instant::now());
        a.record(&pact, &content).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = collector.await.unwrap_or_default();
    report(
        &format!("POST on A → entry-applied on B ({posts} paced posts)"),
        &sent,
        &seen,
    );
    let per = if quick { 10 } else { 50 };
    let burst = 16 * per;
    let collector = sse_collector(&b, "burst-", burst).await;
    let sent = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let writers = (0..16).map(|w| {
        let (a, pact, sent) = (&a, &pact, sent.clone());
        async move {
            for k in 0..per {
                let content = format!("burst-{w}-{k}");
                if let Ok(mut s) = sent.lock() {
                    s.insert(content.clone(), Instant::now());
                }
                a.record(pact, &content).await;
            }
        }
    });
    futures_util::future::join_all(writers).await;
    let seen = collector.await.unwrap_or_default();
    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    report(
        &format!("the same, a burst from 16 writers ({burst} posts)"),
        &sent,
        &seen,
    );

    // Join-to-member with both daemons running, on a fresh hub daemon.
    let rss_a = rss_and_cpu(pid_of(&a)).map_or(0, |(rss, _)| rss);
    println!(
        "A's RSS after all that (it holds the {n}-entry pact): {:.1} MiB",
        rss_a as f64 / 1048576.0
    );
    drop(b);
    drop(a);
    let hub = Node::start().await;
    let mut joins = Vec::new();
    let small = hub.create_pact("joins").await;
    let mut nodes = Vec::new();
    for i in 0..8 {
        let node = Node::start().await;
        joins.push(join(&hub, &node, &small, &format!("peer-{i}")).await);
        nodes.push(node);
    }
    joins.sort_unstable();
    println!(
        "join-to-member (8 joins, daemons running): p50 {:.1} ms, max {:.1} ms",
        ms(pct(&joins, 0.5)),
        ms(joins.last().copied().unwrap_or_default()),
    );

    // 8 connected peers at rest.
    eventually(Duration::from_secs(20), "8 sessions on the hub", || async {
        (hub.status(&small).await["peers"].as_array().map(Vec::len) == Some(8)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = pid_of(&hub);
    let window = Duration::from_secs(if quick { 2 } else { 10 });
    if let Some((_, before)) = rss_and_cpu(pid) {
        tokio::time::sleep(window).await;
        if let Some((rss, after)) = rss_and_cpu(pid) {
            let cpu = (after - before) as f64 / 100.0 / window.as_secs_f64() * 100.0;
            println!(
                "a daemon at rest with 8 connected peers: RSS {:.1} MiB, CPU {cpu:.2} % over {} s",
                rss as f64 / 1048576.0,
                window.as_secs()
            );
        }
    }
    drop(nodes);

    // Both restart; a fresh entry crosses.
    let mut x = Node::start().await;
    let pair = x.create_pact("pair").await;
    let mut y = Node::start().await;
    join(&x, &y, &pair, "y").await;
    x.stop();
    y.stop();
    x.restart();
    y.restart();
    let t = Instant::now();
    x.record(&pair, "after both restarted").await;
    eventually(Duration::from_secs(30), "the entry on y", || async {
        y.knowledge(&pair)
            .await
            .contains(&"after both restarted".to_string())
            .then_some(())
    })
    .await;
    println!(
        "both daemons restart, an entry written on one reaches the other: {:.0} ms",
        ms(t.elapsed())
    );
}
