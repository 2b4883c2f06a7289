//! Benchmarks of the real daemon through its control plane (docs/BENCHMARKS.md):
//! cold start to ready, idle and loaded RSS, and durable appends per second with 1 and 16
//! concurrent clients over the unix socket (p50/p99 latency). Beside them, the same clients
//! calling `Ping`, which does nothing: the ceiling of the control plane's transport (tonic over
//! the socket, clients and daemon on the same machine), measured the same way. And, as a
//! diagnostic, the 16 clients each keeping 4 appends in flight on their one connection.
//!
//! `cargo bench -p openpact-server --bench daemon -- [--quick] [--seconds S]`

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{args, create_pact, fail, ms, pct, ready, spawn_daemon, stop, temp_dir};
use openpact_proto::v1;
use openpact_server::client::Client;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) the process has used, in clock ticks of 10 ms.
fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start after the last ')'.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// What each client calls in a loop.
#[derive(Clone, Copy)]
enum Call {
    /// `CreateKnowledge`: a durable append.
    Append,
    /// `Ping`: no work, the transport's ceiling.
    Ping,
}

/// `clients` clients, each on its own connection with `depth` calls in flight, calling `call` in
/// a loop for `seconds`: calls/s, p50, p99, calls made.
async fn calls(
    dir: &Path,
    call: Call,
    clients: usize,
    depth: usize,
    seconds: f64,
) -> (f64, Duration, Duration, usize) {
    let mut tasks = Vec::new();
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    for (w, mut c) in connections(dir, clients, depth).await {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < until {
                let t = Instant::now();
                let r = match call {
                    Call::Append => c
                        .pact
                        .create_knowledge(v1::CreateKnowledgeRequest {
                            pact: "bench".into(),
                            topic: format!("writer-{w}"),
                            content: format!("short knowledge entry {i} from client {w}"),
                            ..Default::default()
                        })
                        .await
                        .map(drop),
                    Call::Ping => c.host.ping(v1::PingRequest {}).await.map(drop),
                };
                if let Err(e) = r {
                    fail(&format!("call failed: {e}"));
                }
                lat.push(t.elapsed());
                i += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        match t.await {
            Ok(l) => all.extend(l),
            Err(e) => fail(&format!("client task: {e}")),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    (
        all.len() as f64 / secs,
        pct(&all, 0.5),
        pct(&all, 0.99),
        all.len(),
    )
}

/// `depth` handles on each of `clients` connections (a tonic client is a handle on its
/// connection; its clones share it), numbered for the entries' topics.
async fn connections(dir: &Path, clients: usize, depth: usize) -> Vec<(usize, Client)> {
    let mut out = Vec::new();
    for w in 0..clients {
        let (c, _) = ready(dir, Instant::now()).await;
        out.extend((0..depth).map(|d| (w * depth + d, c.clone())));
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (quick, seconds) = args();
    let seconds = seconds.unwrap_or(if quick { 0.5 } else { 5.0 });
    let runs = if quick { 1 } else { 5 };
    let tmp = temp_dir("opb");
    let dir = tmp.path();

    // Cold start of an empty data dir, then create the pact.
    let t = Instant::now();
    let child = spawn_daemon(dir, &[]);
    let (mut c, empty_start) = ready(dir, t).await;
    create_pact(&mut c, "bench").await;
    stop(child);

    // Cold start with one pact, several times.
    let mut starts = Vec::new();
    let mut child = None;
    for i in 0..runs {
        let t = Instant::now();
        let ch = spawn_daemon(dir, &[]);
        let (_, took) = ready(dir, t).await;
        starts.push(took);
        if i + 1 < runs {
            stop(ch);
        } else {
            child = Some(ch);
        }
    }
    let Some(child) = child else {
        fail("no daemon left running")
    };
    starts.sort();
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(if quick { 100 } else { 2000 })).await;
    let idle = rss_kib(pid);

    println!("openpact daemon benchmark ({} s per run of calls)", seconds);
    println!(
        "cold start to ready: empty data dir {:.1} ms; one pact median {:.1} ms (min {:.1}, max {:.1}, {} runs)",
        ms(empty_start),
        ms(pct(&starts, 0.5)),
        ms(starts[0]),
        ms(starts[starts.len() - 1]),
        starts.len()
    );
    println!("idle RSS: {:.1} MiB", idle as f64 / 1024.0);
    let runs = [
        ("appends", Call::Append, 1usize, 1usize),
        ("appends", Call::Append, 16, 1),
        ("pings (ceiling)", Call::Ping, 16, 1),
        ("diagnostic: appends, 4 in flight each", Call::Append, 16, 4),
    ];
    for (name, call, clients, depth) in runs {
        let (cpu, own) = (cpu_ticks(pid), cpu_ticks(std::process::id()));
        let (rate, p50, p99, n) = calls(dir, call, clients, depth, seconds).await;
        let per = |ticks: u64| ticks as f64 * 10_000.0 / n.max(1) as f64;
        let cpu_us = per(cpu_ticks(pid).saturating_sub(cpu));
        let client_us = per(cpu_ticks(std::process::id()).saturating_sub(own));
        println!(
            "{name}, {clients:>2} client(s): {rate:>8.0}/s  p50 {:.2} ms  p99 {:.2} ms  CPU per call: daemon {cpu_us:.0} µs, clients {client_us:.0} µs  ({n} calls)",
            ms(p50),
            ms(p99)
        );
    }
    let loaded = rss_kib(pid);
    println!(
        "loaded RSS (after the runs): {:.1} MiB",
        loaded as f64 / 1024.0
    );
    stop(child);
}
