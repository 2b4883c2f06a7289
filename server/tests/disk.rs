//! A full disk and a read-only data dir: writes stop with a clear error naming the ledger file,
//! reads go on, nothing acknowledged is lost, and writes resume once space is back; a read-only
//! data dir is refused at start with the file named, and left as it is. Needs root
//! (it mounts a small tmpfs); elsewhere it skips with a printed reason.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use openpact_ledger::Code;
use openpact_proto::v1;
use openpact_server::client::Client;
use openpact_server::daemon::{self, RunOptions};
use openpact_server::datadir::DataDir;
use openpact_server::wire_code::from_status;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, opts: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn remount(&self, opts: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {opts}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn knowledge(i: usize) -> v1::CreateKnowledgeRequest {
    v1::CreateKnowledgeRequest {
        pact: "disk".into(),
        topic: "fill".into(),
        content: format!("{i} {}", "x".repeat(16 * 1024)),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_and_read_only_dir_stop_with_the_file_named_and_lose_nothing() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs this as root)");
        return;
    }
    let base = tempfile::Builder::new()
        .prefix("opd")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let Some(fs) = Tmpfs::mount(base.path(), "size=3m") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let data = DataDir::at(base.path().join("d"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done = tokio::spawn(daemon::run(
        data.clone(),
        RunOptions::default(),
        move || {
            let _ = tx.send(());
        },
    ));
    rx.await.expect("ready");
    let mut c = Client::connect(data.socket_path()).await.expect("connect");
    c.host
        .create_pact(v1::CreatePactRequest {
            name: "disk".into(),
            alias: Some("disk".into()),
            confirm: true,
            ..Default::default()
        })
        .await
        .expect("create");

    // Fill the disk.
    let mut acked = Vec::new();
    let err = loop {
        match c.pact.create_knowledge(knowledge(acked.len())).await {
            Ok(e) => acked.push(e.into_inner().id),
            Err(s) => break from_status(&s),
        }
        assert!(acked.len() < 10_000, "the 3 MiB disk fills up");
    };
    assert_eq!(err.code, Code::Internal);
    assert!(
        err.message.contains("pacts/disk/ledger.redb"),
        "the message names the file: {}",
        err.message
    );
    assert!(!acked.is_empty());
    // Reads go on, and every acknowledged entry is there.
    for id in &acked {
        c.pact
            .get_entry(v1::GetEntryRequest {
                pact: "disk".into(),
                id: id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("entry {id} lost on a full disk: {s}"));
    }

    // Space back: the daemon reopens the ledger by itself and writes resume.
    fs.remount("rw,size=64m");
    let mut resumed = false;
    for _ in 0..50 {
        if c.pact.create_knowledge(knowledge(0)).await.is_ok() {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        resumed,
        "writes resume once the disk has room, without a restart"
    );
    // And after a restart every acknowledged entry is still there.
    c.host
        .shutdown(v1::ShutdownRequest {})
        .await
        .expect("shutdown");
    tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean stop");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done = tokio::spawn(daemon::run(
        data.clone(),
        RunOptions::default(),
        move || {
            let _ = tx.send(());
        },
    ));
    rx.await.expect("ready again");
    let mut c = Client::connect(data.socket_path()).await.expect("connect");
    c.pact
        .create_knowledge(knowledge(1))
        .await
        .expect("writes resume once the disk has room");
    for id in &acked {
        c.pact
            .get_entry(v1::GetEntryRequest {
                pact: "disk".into(),
                id: id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("entry {id} lost after the restart: {s}"));
    }
    c.host
        .shutdown(v1::ShutdownRequest {})
        .await
        .expect("shutdown");
    tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean stop");

    // A read-only data dir: the daemon refuses to start, names the file, changes nothing.
    let ledger = base.path().join("d/pacts/disk/ledger.redb");
    let before = std::fs::read(&ledger).expect("ledger bytes");
    fs.remount("ro");
    let refused = daemon::run(data.clone(), RunOptions::default(), || {})
        .await
        .expect_err("a read-only data dir cannot be served");
    assert!(
        refused
            .message
            .contains(base.path().join("d").to_string_lossy().as_ref()),
        "the message names the file: {}",
        refused.message
    );
    assert_eq!(std::fs::read(&ledger).expect("ledger bytes"), before);
    fs.remount("rw");
    drop(fs);
}
