//! Crash consistency of the real daemon: SIGKILL in the middle of a burst of concurrent writes,
//! restart, and every acknowledged entry is there, and the view equals a replay of the log; and
//! SIGTERM mid-burst stops cleanly with every acknowledged entry kept.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openpact_ledger::{Ledger, MemberKey};
use openpact_proto::v1;
use openpact_server::client::Client;

fn spawn_daemon(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_openpact"))
        .env("OPENPACT_P2P_HOST", "127.0.0.1")
        .env("OPENPACT_P2P_PORT", "0")
        .arg("--data-dir")
        .arg(dir)
        .args([
            "start",
            "--foreground",
            "--port",
            "0",
            "--no-dashboard",
            "--log-level",
            "warn",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the daemon")
}

async fn connect(dir: &Path) -> Client {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut c) = Client::connect(dir.join("openpact.sock")).await
            && c.host.ping(v1::PingRequest {}).await.is_ok()
        {
            return c;
        }
        assert!(Instant::now() < deadline, "the daemon answers within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every stored entry of the ledger file, author by author.
fn all_entries(ledger: &Ledger) -> Vec<Vec<u8>> {
    let r = ledger.reader().expect("reader");
    let mut out = Vec::new();
    let authors: Vec<MemberKey> = r
        .frontier()
        .expect("frontier")
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    for a in authors {
        out.extend(r.log_range(&a, 0, usize::MAX).expect("log range"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_loses_no_acknowledged_entry_and_the_view_equals_a_replay() {
    let tmp = tempfile::Builder::new()
        .prefix("opc")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let dir = tmp.path();
    let mut child = spawn_daemon(dir);
    let mut c = connect(dir).await;
    c.host
        .create_pact(v1::CreatePactRequest {
            name: "crash".into(),
            alias: Some("crash".into()),
            confirm: true,
            ..Default::default()
        })
        .await
        .expect("create pact");

    // 16 writers append as fast as they can; each acknowledged (id, hash) is recorded.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..16 {
        let mut c = connect(dir).await;
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let r = c
                    .pact
                    .create_knowledge(v1::CreateKnowledgeRequest {
                        pact: "crash".into(),
                        topic: format!("w{w}"),
                        content: format!("entry {i} of writer {w}"),
                        ..Default::default()
                    })
                    .await;
                match r {
                    Ok(e) => {
                        let e = e.into_inner();
                        acked.lock().expect("lock").push((e.id, e.hash));
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill once a good number of writes went through, mid-burst.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().expect("lock").len() < 500 {
        assert!(Instant::now() < deadline, "writes flow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 500);

    // Restart: every acknowledged entry is there, with the same hash.
    let mut child = spawn_daemon(dir);
    let mut c = connect(dir).await;
    for (id, hash) in &acked {
        let e = c
            .pact
            .get_entry(v1::GetEntryRequest {
                pact: "crash".into(),
                id: id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("acknowledged entry {id} lost after SIGKILL: {s}"))
            .into_inner();
        assert_eq!(&e.hash, hash);
    }
    c.host
        .shutdown(v1::ShutdownRequest {})
        .await
        .expect("shutdown");
    let status = child.wait().expect("wait");
    assert!(status.success(), "clean exit after Shutdown: {status}");

    // The view on disk equals a fresh replay of the log it holds.
    let file = dir.join("pacts/crash/ledger.redb");
    let ledger = Ledger::open(redb::Database::open(&file).expect("open")).expect("ledger");
    let entries = all_entries(&ledger);
    assert!(
        entries.len() > acked.len(),
        "genesis and anchors are in the log too"
    );
    let scratch = tempfile::tempdir().expect("scratch");
    let replay_db = redb::Database::create(scratch.path().join("replay.redb")).expect("db");
    let mut replay = Ledger::join(replay_db, ledger.pact_id()).expect("join");
    replay
        .batch(|b| {
            for e in &entries {
                b.ingest(e)?;
            }
            Ok(())
        })
        .expect("replay");
    let (a, b) = (ledger.reader().expect("r"), replay.reader().expect("r"));
    assert_eq!(a.order().expect("order"), b.order().expect("order"));
    assert_eq!(
        a.canonical_dump().expect("dump"),
        b.canonical_dump().expect("dump"),
        "the view equals a replay of the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_finishes_in_flight_appends_and_exits_cleanly() {
    let tmp = tempfile::Builder::new()
        .prefix("opt")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let dir = tmp.path();
    let mut child = spawn_daemon(dir);
    let mut c = connect(dir).await;
    c.host
        .create_pact(v1::CreatePactRequest {
            name: "term".into(),
            alias: Some("term".into()),
            confirm: true,
            ..Default::default()
        })
        .await
        .expect("create pact");
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8 {
        let mut c = connect(dir).await;
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let r = c
                    .pact
                    .create_knowledge(v1::CreateKnowledgeRequest {
                        pact: "term".into(),
                        topic: format!("w{w}"),
                        content: format!("entry {i}"),
                        ..Default::default()
                    })
                    .await;
                match r {
                    Ok(e) => acked.lock().expect("lock").push(e.into_inner().id),
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().expect("lock").len() < 200 {
        assert!(Instant::now() < deadline, "writes flow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    for w in writers {
        let _ = w.await;
    }
    assert!(!dir.join("openpact.sock").exists(), "the socket is removed");
    assert!(!dir.join("pid").exists(), "the pid file is removed");
    let acked = acked.lock().expect("lock").clone();
    let mut child = spawn_daemon(dir);
    let mut c = connect(dir).await;
    for id in &acked {
        c.pact
            .get_entry(v1::GetEntryRequest {
                pact: "term".into(),
                id: id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("acknowledged entry {id} lost after SIGTERM: {s}"));
    }
    c.host
        .shutdown(v1::ShutdownRequest {})
        .await
        .expect("shutdown");
    assert!(child.wait().expect("wait").success());
}
