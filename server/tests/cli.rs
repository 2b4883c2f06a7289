//! End-to-end tests of the `openpact` command line: the real binary as a subprocess, against a
//! real daemon it starts, each test in a fresh data dir of its own. Piped stdout makes every
//! data verb print JSON, which the tests read.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_openpact");
const NOT_RUNNING: &str = "error: OpenPact daemon is not running. Start it with `openpact start`.";

/// A data dir under /tmp (short, so the socket path fits in 107 bytes). Dropping it stops any
/// daemon started on it, even when the test failed.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::Builder::new()
            .prefix("opc")
            .tempdir_in("/tmp")
            .expect("temp dir");
        Host { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn pid_path(&self) -> PathBuf {
        self.root().join("pid")
    }

    fn socket_path(&self) -> PathBuf {
        self.root().join("openpact.sock")
    }

    /// The binary on this data dir, with no stray environment.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--data-dir")
            .arg(self.root())
            .args(args)
            .env_remove("OPENPACT_DATA_DIR")
            .env_remove("OPENPACT_PACT")
            .env_remove("RUST_LOG")
            // Peers only on loopback, on a free port.
            .env("OPENPACT_P2P_HOST", "127.0.0.1")
            .env("OPENPACT_P2P_PORT", "0")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run openpact")
    }

    /// Runs a verb that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "openpact {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a verb that must succeed and print JSON.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// Runs a verb that must fail with exit code 1 and exactly one line on stderr; that line.
    fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(1),
            "openpact {args:?} should fail:\nstdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
        stderr.trim_end().to_string()
    }

    /// Starts a daemon in the background, REST on a port the OS picks (tests run in parallel).
    fn start(&self) -> String {
        self.ok(&["start", "--port", "0", "--no-dashboard"])
    }

    /// Seals a pact with no questions.
    fn init(&self, name: &str, alias: &str) -> Value {
        self.json(&[
            "init",
            "--no-interactive",
            "--name",
            name,
            "--alias",
            alias,
            "--display-name",
            "Tester",
        ])
    }

    fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_path())
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if self.pid_path().exists() {
            let _ = self.cmd(&["stop", "--timeout", "2000"]).output();
        }
        if let Some(pid) = self.daemon_pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// `start` on a fresh dir followed by `init` through the daemon.
fn running_with_pact() -> Host {
    let h = Host::new();
    h.start();
    h.init("The Test Pact", "main");
    h
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

// ---- start, stop, status ---------------------------------------------------------------------

#[test]
fn start_then_stop_leaves_no_pid_file_and_no_socket() {
    let h = Host::new();
    let card = h.start();
    assert!(card.contains("The daemon stirs."), "{card}");
    assert!(
        card.contains(&h.socket_path().display().to_string()),
        "{card}"
    );
    assert!(h.pid_path().exists());
    assert!(h.socket_path().exists());
    let pid = h.daemon_pid().expect("a pid");
    assert!(card.contains(&pid.to_string()), "{card}");

    let out = h.ok(&["stop"]);
    assert_eq!(
        out.trim(),
        format!("The daemon has been banished. (pid {pid})")
    );
    assert!(!h.pid_path().exists(), "pid file left");
    assert!(!h.socket_path().exists(), "socket left");
    assert_eq!(h.fail(&["status"]), NOT_RUNNING);
}

#[test]
fn a_second_start_on_the_same_data_dir_is_refused() {
    let h = Host::new();
    h.start();
    let line = h.fail(&["start", "--port", "0", "--no-dashboard"]);
    assert!(line.contains("already appears to be bound"), "{line}");
    assert!(line.contains(&h.pid_path().display().to_string()), "{line}");
    assert!(line.contains("openpact stop"), "{line}");
    // The first daemon still serves.
    h.json(&["status"]);
}

#[test]
fn a_second_daemon_is_kept_off_the_data_dir_even_without_a_pid_file() {
    let h = Host::new();
    h.start();
    let pid = h.daemon_pid().expect("a pid");
    std::fs::remove_file(h.pid_path()).unwrap();
    let out = h.run(&["start", "--port", "0", "--no-dashboard"]);
    // Put the pid back first, so the guard stops the first daemon whatever happens next.
    std::fs::write(h.pid_path(), format!("{pid}\n")).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the daemon failed to start"), "{stderr}");
    assert!(stderr.contains("Another daemon owns"), "{stderr}");
    assert!(stderr.contains("daemon.log"), "{stderr}");
    assert_eq!(h.json(&["status"])["daemon"]["pid"], pid);
}

#[test]
fn stop_with_no_daemon_and_with_a_stale_pid_file_succeeds() {
    let h = Host::new();
    assert_eq!(h.ok(&["stop"]).trim(), "No daemon to banish (no PID file).");

    // A pid no process has (reaped child).
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(h.pid_path(), format!("{dead}\n")).unwrap();
    let out = h.ok(&["stop"]);
    assert!(out.contains("Stale PID file"), "{out}");
    assert!(!h.pid_path().exists());
}

#[test]
fn start_ignores_a_stale_pid_file() {
    let h = Host::new();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(h.pid_path(), format!("{dead}\n")).unwrap();
    h.start();
    assert_ne!(h.daemon_pid(), Some(dead));
    h.ok(&["stop"]);
}

#[test]
fn the_foreground_daemon_stops_cleanly_on_sigterm() {
    let h = Host::new();
    let mut child = h
        .cmd(&["start", "--foreground", "--port", "0", "--no-dashboard"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.run(&["status"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "the foreground daemon never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(h.daemon_pid(), Some(child.id()));
    h.init("Foreground", "fg");
    let rec = h.json(&["record", "kept", "--topic", "t"]);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(!h.pid_path().exists());
    assert!(!h.socket_path().exists());

    // What was acknowledged is there after a restart.
    h.start();
    let log = h.json(&["log", "--type", "knowledge"]);
    assert_eq!(log["entries"][0]["id"], rec["id"]);
}

#[test]
fn status_with_no_pact_shows_the_daemon() {
    let h = Host::new();
    h.start();
    let v = h.json(&["status"]);
    assert_eq!(v["daemon"]["running"], true);
    assert_eq!(v["daemon"]["pact_count"], 0);
    assert_eq!(v["daemon"]["current"], Value::Null);
    assert_eq!(v["daemon"]["pid"].as_u64(), h.daemon_pid().map(u64::from));
    assert_eq!(v["pact"], Value::Null);
}

#[test]
fn status_shows_the_current_pact() {
    let h = running_with_pact();
    let v = h.json(&["status"]);
    assert_eq!(v["pact"]["alias"], "main");
    assert_eq!(v["pact"]["pact_name"], "The Test Pact");
    assert_eq!(v["pact"]["role"], "creator");
    assert_eq!(v["pact"]["display_name"], "Tester");
    assert_eq!(v["pact"]["is_current"], true);
    assert_eq!(v["pact"]["agents"], 1);
    assert_eq!(v["daemon"]["current"], "main");
}

#[test]
fn verbs_that_need_the_daemon_say_it_is_not_running() {
    let h = Host::new();
    for args in [
        &["status"][..],
        &["record", "x", "--topic", "t"],
        &["message", "hello"],
        &["agents"],
        &["log"],
        &["task", "list"],
        &["skill", "list"],
    ] {
        assert_eq!(h.fail(args), NOT_RUNNING, "{args:?}");
    }
}

#[test]
fn a_stale_socket_reads_as_not_running() {
    let h = running_with_pact();
    let pid = h.daemon_pid().unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.run(&["status"]).status.success() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.socket_path().exists(), "SIGKILL leaves the socket");
    assert_eq!(h.fail(&["record", "x", "--topic", "t"]), NOT_RUNNING);
    // stop cleans up after the dead daemon; start then works again.
    let out = h.ok(&["stop"]);
    assert!(out.contains("Stale PID file"), "{out}");
    assert!(!h.socket_path().exists());
    h.start();
    assert_eq!(h.json(&["status"])["pact"]["alias"], "main");
}

#[test]
fn an_unknown_pact_is_refused_with_unknown_pact() {
    let h = running_with_pact();
    for args in [
        &["status", "--pact", "nope"][..],
        &["record", "x", "--topic", "t", "--pact", "nope"],
        &["task", "list", "--pact", "nope"],
        &["log", "--pact", "nope"],
    ] {
        let line = h.fail(args);
        assert!(
            line.starts_with("error: UNKNOWN_PACT: "),
            "{args:?}: {line}"
        );
        assert!(line.contains("nope"), "{line}");
    }
    let out = h
        .cmd(&["record", "x", "--topic", "t"])
        .env("OPENPACT_PACT", "nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNKNOWN_PACT"));
}

#[test]
fn a_daemon_that_does_not_answer_is_named_and_its_files_are_not_touched() {
    let h = running_with_pact();
    let pid = h.daemon_pid().unwrap().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    // All three at once: each waits out the CLI's ping timeout.
    let spawn = |args: &[&str]| {
        h.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [
        spawn(&["status"]),
        spawn(&["init", "--no-interactive", "--alias", "other"]),
        spawn(&["remove", "main", "--yes"]),
    ];
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    for out in outs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("does not answer"), "{stderr}");
        assert!(stderr.contains("openpact stop"), "{stderr}");
    }
    let list = h.json(&["list"]);
    assert_eq!(list["pacts"].as_array().unwrap().len(), 1);
    assert!(h.root().join("pacts/main").is_dir());
    h.json(&["status"]);
}

#[test]
fn a_corrupt_daemon_json_stops_list_init_and_start_and_is_left_as_it_is() {
    let h = Host::new();
    let path = h.root().join("daemon.json");
    std::fs::write(&path, "{not json").unwrap();
    for args in [
        &["list"][..],
        &["init", "--no-interactive"],
        &["start", "--port", "0", "--no-dashboard"],
    ] {
        let line = h.fail(args);
        assert!(
            line.contains(&path.display().to_string()),
            "{args:?}: {line}"
        );
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
    assert!(!h.pid_path().exists());
}

#[test]
fn a_corrupt_ledger_fails_its_pact_with_the_file_named_and_is_left_as_it_is() {
    let h = Host::new();
    h.init("Broken", "broken");
    let ledger = h.root().join("pacts/broken/ledger.redb");
    let garbage = vec![0x5a_u8; 8192];
    std::fs::write(&ledger, &garbage).unwrap();
    // The daemon still starts; the broken pact answers why it cannot serve.
    h.start();
    let line = h.fail(&["record", "x", "--topic", "t"]);
    assert!(line.contains(&ledger.display().to_string()), "{line}");
    let line = h.fail(&["status"]);
    assert!(line.contains(&ledger.display().to_string()), "{line}");
    assert_eq!(std::fs::read(&ledger).unwrap(), garbage);
    // Other pacts on the host work.
    h.init("Fine", "fine");
    h.json(&["record", "x", "--topic", "t", "--pact", "fine"]);
}

#[test]
fn a_ledger_of_another_layout_is_refused_with_the_next_step_and_not_converted() {
    let h = Host::new();
    h.init("Older", "older");
    let ledger = h.root().join("pacts/older/ledger.redb");
    let state: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("peer.state");
    // Mark the file as written by a build of layout 2.
    {
        let db = redb::Database::open(&ledger).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(state)
            .unwrap()
            .insert("layout", 2u32.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    h.start();
    let line = h.fail(&["status"]);
    assert!(line.contains(&ledger.display().to_string()), "{line}");
    assert!(line.contains("layout version 2"), "{line}");
    assert!(line.contains("join it again"), "{line}");
    assert!(!line.contains("corrupt"), "{line}");
    h.ok(&["stop"]);
    // Nothing was converted. (redb itself records its free pages when a file it opened is
    // closed, so the bytes may differ; what the ledger holds does not.)
    let db = redb::Database::open(&ledger).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let rows = txn.open_table(state).unwrap();
    let layout = rows.get("layout").unwrap().map(|v| v.value().to_vec());
    assert_eq!(layout, Some(2u32.to_le_bytes().to_vec()));
    assert!(rows.get("pact_id").unwrap().is_some());
}

// ---- init, list, switch, rename, remove --------------------------------------------------------

#[test]
fn list_with_no_pacts_is_empty() {
    let h = Host::new();
    assert_eq!(
        h.json(&["list"]),
        serde_json::json!({"current": null, "pacts": []})
    );
}

#[test]
fn init_without_a_daemon_writes_the_pact_and_list_shows_it() {
    let h = Host::new();
    let v = h.json(&[
        "init",
        "--no-interactive",
        "--name",
        "Quiet Harbor",
        "--purpose",
        "Testing",
        "--display-name",
        "Heron",
        "--claim-ttl",
        "30m",
    ]);
    assert_eq!(v["alias"], "quiet-harbor");
    assert_eq!(v["pact_name"], "Quiet Harbor");
    assert_eq!(v["is_current"], true);
    let pact_id = v["pact_id"].as_str().unwrap().to_string();
    assert_eq!(pact_id.len(), 64);
    assert!(
        !h.pid_path().exists(),
        "init --no-interactive started nothing"
    );

    let list = h.json(&["list", "--json"]);
    assert_eq!(list["current"], "quiet-harbor");
    let rows = list["pacts"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "alias",
        "pact_id",
        "data_dir",
        "added_at",
        "is_current",
        "pact_name",
        "pact_purpose",
        "display_name",
        "role",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(row["pact_id"], pact_id.as_str());
    assert_eq!(row["is_current"], true);
    assert_eq!(row["pact_purpose"], "Testing");
    assert_eq!(row["display_name"], "Heron");
    assert_eq!(row["role"], "creator");
    assert_eq!(
        row["data_dir"],
        h.root().join("pacts/quiet-harbor").display().to_string()
    );

    // The daemon opens what init wrote, with the claim TTL it was given.
    h.start();
    let status = h.json(&["status"]);
    assert_eq!(status["pact"]["pact_id"], pact_id.as_str());
    assert_eq!(status["pact"]["claim_ttl_ms"], 30 * 60 * 1000);
}

#[test]
fn init_without_flags_uses_generated_defaults() {
    let h = Host::new();
    let v = h.json(&["init", "--no-interactive"]);
    let name = v["pact_name"].as_str().unwrap();
    assert!(name.starts_with("The "), "{name}");
    assert!(v["pact_purpose"].as_str().is_some_and(|p| !p.is_empty()));
    assert!(v["display_name"].as_str().is_some_and(|d| !d.is_empty()));
}

#[test]
fn init_through_a_running_daemon_and_alias_collisions() {
    let h = Host::new();
    h.start();
    let v = h.init("First", "team");
    assert_eq!(v["alias"], "team");
    assert_eq!(v["is_current"], true);
    // The running daemon serves it at once.
    assert_eq!(h.json(&["status"])["pact"]["alias"], "team");

    let line = h.fail(&[
        "init",
        "--no-interactive",
        "--name",
        "Second",
        "--alias",
        "team",
    ]);
    assert!(line.starts_with("error: PACT_ALIAS_EXISTS: "), "{line}");
    assert!(line.contains("--force"), "{line}");

    let replaced = h.json(&[
        "init",
        "--no-interactive",
        "--name",
        "Second",
        "--alias",
        "team",
        "--force",
    ]);
    assert_ne!(replaced["pact_id"], v["pact_id"]);
    assert_eq!(h.json(&["status"])["pact"]["pact_name"], "Second");

    // Without --alias, the slug steps around a taken one.
    let other = h.json(&["init", "--no-interactive", "--name", "Team"]);
    assert_eq!(other["alias"], "team-2");
    assert_eq!(other["is_current"], false);
}

#[test]
fn init_without_a_daemon_refuses_a_taken_alias_unless_forced() {
    let h = Host::new();
    let first = h.init("First", "team");
    let line = h.fail(&[
        "init",
        "--no-interactive",
        "--name",
        "Again",
        "--alias",
        "team",
    ]);
    assert!(line.starts_with("error: PACT_ALIAS_EXISTS: "), "{line}");
    let second = h.json(&[
        "init",
        "--no-interactive",
        "--name",
        "Again",
        "--alias",
        "team",
        "--force",
    ]);
    assert_ne!(first["pact_id"], second["pact_id"]);
    let list = h.json(&["list"]);
    assert_eq!(list["pacts"].as_array().unwrap().len(), 1);
    assert_eq!(list["pacts"][0]["pact_name"], "Again");
}

#[test]
fn init_validates_its_flags() {
    let h = Host::new();
    let long = "x".repeat(65);
    let line = h.fail(&["init", "--no-interactive", "--name", &long]);
    assert!(line.contains("1 to 64"), "{line}");
    let line = h.fail(&[
        "init",
        "--no-interactive",
        "--name",
        "A",
        "--alias",
        "Bad Alias",
    ]);
    assert!(line.contains("alias"), "{line}");
    let line = h.fail(&["init", "--no-interactive", "--claim-ttl", "soon"]);
    assert!(line.contains("--claim-ttl"), "{line}");
    assert_eq!(h.json(&["list"])["pacts"], serde_json::json!([]));
}

#[test]
fn switch_rename_and_remove_go_through_the_daemon() {
    let h = running_with_pact();
    h.init("Second", "second");
    assert_eq!(h.json(&["switch", "second"])["current"], "second");
    assert_eq!(h.json(&["status"])["pact"]["alias"], "second");
    assert_eq!(h.json(&["switch", "second"])["changed"], false);
    let line = h.fail(&["switch", "nope"]);
    assert!(
        line.starts_with("error: UNKNOWN_PACT: no pact named nope"),
        "{line}"
    );

    let renamed = h.json(&["rename", "second", "renamed"]);
    assert_eq!(renamed["alias"], "renamed");
    assert_eq!(h.json(&["status"])["pact"]["alias"], "renamed");
    assert!(h.root().join("pacts/renamed").is_dir());
    let line = h.fail(&["rename", "renamed", "main"]);
    assert!(line.starts_with("error: PACT_ALIAS_EXISTS: "), "{line}");

    let removed = h.json(&["remove", "renamed", "--yes"]);
    assert_eq!(removed["alias"], "renamed");
    assert!(!h.root().join("pacts/renamed").exists());
    let list = h.json(&["list"]);
    assert_eq!(list["current"], "main");
    assert_eq!(list["pacts"].as_array().unwrap().len(), 1);
    assert_eq!(h.json(&["status"])["pact"]["alias"], "main");
}

#[test]
fn switch_rename_and_remove_work_on_the_files_with_no_daemon() {
    let h = Host::new();
    h.init("First", "first");
    h.init("Second", "second");
    assert_eq!(h.json(&["list"])["current"], "first");
    h.json(&["switch", "second"]);
    assert_eq!(h.json(&["list"])["current"], "second");
    let line = h.fail(&["switch", "nope"]);
    assert!(line.contains("known: first, second"), "{line}");

    h.json(&["rename", "second", "two"]);
    let list = h.json(&["list"]);
    assert_eq!(list["current"], "two");
    assert!(h.root().join("pacts/two").is_dir());
    assert!(!h.root().join("pacts/second").exists());

    let removed = h.json(&["remove", "two", "--yes"]);
    assert_eq!(removed["alias"], "two");
    let list = h.json(&["list"]);
    assert_eq!(list["current"], "first");
    assert_eq!(list["pacts"].as_array().unwrap().len(), 1);
    assert!(!h.root().join("pacts/two").exists());
    let line = h.fail(&["remove", "two", "--yes"]);
    assert!(line.contains("UNKNOWN_PACT"), "{line}");

    // And the daemon opens what is left.
    h.start();
    assert_eq!(h.json(&["status"])["pact"]["alias"], "first");
}

#[test]
fn remove_without_yes_is_refused_and_wipes_nothing() {
    let h = running_with_pact();
    let dir = h.root().join("pacts/main");
    let line = h.fail(&["remove", "main"]);
    assert_eq!(
        line,
        format!(
            "error: refusing to remove main without --yes (would wipe {})",
            dir.display()
        )
    );
    let line = h.fail(&["remove", "main", "--no-interactive"]);
    assert!(line.contains("refusing to remove main"), "{line}");
    assert!(dir.is_dir());
    assert_eq!(h.json(&["status"])["pact"]["alias"], "main");
}

// ---- entries -------------------------------------------------------------------------------------

#[test]
fn record_message_and_log() {
    let h = running_with_pact();
    let k = h.json(&[
        "record",
        "Tuesdays convert",
        "--topic",
        "sales",
        "--source",
        "crm",
    ]);
    assert_eq!(k["type"], "knowledge");
    assert_eq!(k["payload"]["topic"], "sales");
    assert_eq!(k["payload"]["source"], "crm");
    let kid = id_of(&k);

    let m = h.json(&["message", "  hello all  ", "--priority", "high"]);
    assert_eq!(m["type"], "message");
    assert_eq!(m["payload"]["content"], "hello all");
    assert_eq!(m["payload"]["priority"], "high");
    let reply = h.json(&["message", "agreed", "--reply-to", &kid]);
    assert_eq!(reply["refs"], serde_json::json!([kid]));

    let log = h.json(&["log"]);
    let entries = log["entries"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
    let pos = |id: &str| ids.iter().position(|i| *i == id).unwrap();
    assert!(pos(&kid) < pos(&id_of(&m)) && pos(&id_of(&m)) < pos(&id_of(&reply)));

    let only = h.json(&["log", "--type", "knowledge"]);
    assert_eq!(only["entries"].as_array().unwrap().len(), 1);
    let limited = h.json(&["log", "--limit", "1"]);
    assert_eq!(limited["entries"].as_array().unwrap().len(), 1);
    assert_eq!(limited["entries"][0]["id"], reply["id"]);

    let line = h.fail(&["log", "--type", "bogus"]);
    assert_eq!(
        line,
        "error: unknown type: bogus. Allowed: knowledge, task, skill, message"
    );
}

#[test]
fn message_checks_its_input_before_sending() {
    let h = running_with_pact();
    assert_eq!(
        h.fail(&["message", "   "]),
        "error: message content must not be empty"
    );
    assert!(
        h.fail(&["message", "x", "--priority", "urgent"])
            .contains("unknown priority")
    );
    assert_eq!(
        h.fail(&["message", "x", "--reply-to", "nope"]),
        "error: --reply-to expects an entry id like a7f2bcde-412"
    );
    let line = h.fail(&["record", "x", "--topic", ""]);
    assert!(line.starts_with("error: BAD_REQUEST: "), "{line}");
}

#[test]
fn message_to_one_agent_is_addressed() {
    let h = running_with_pact();
    let me = h.json(&["status"])["pact"]["peer_handle"]
        .as_str()
        .unwrap()
        .to_string();
    let m = h.json(&["message", "for you", "--to", &me]);
    assert_eq!(m["payload"]["to"], me.as_str());
}

#[test]
fn agents_lists_this_host_as_the_creator() {
    let h = running_with_pact();
    let agents = h.json(&["agents"]);
    let rows = agents.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["is_self"], true);
    assert_eq!(rows[0]["role"], "creator");
    assert_eq!(rows[0]["online"], true);
    assert_eq!(rows[0]["display_name"], "Tester");
}

#[test]
fn log_follow_prints_an_entry_recorded_from_another_process() {
    let h = running_with_pact();
    let before = h.json(&["record", "before", "--topic", "t"]);
    let mut follow: Child = h
        .cmd(&["log", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |id: &str| -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("log --follow never printed {id}"));
            let v: Value = serde_json::from_str(&line).expect("one JSON object per line");
            if v["id"] == id {
                return v;
            }
        }
    };
    // The history comes first; once it is out, the subscription is live.
    wait_for(&id_of(&before));
    let after = h.json(&["record", "after", "--topic", "t"]);
    let seen = wait_for(&id_of(&after));
    assert_eq!(seen["payload"]["content"], "after");
    let task = h.json(&["task", "add", "followed"]);
    assert_eq!(wait_for(&id_of(&task))["payload"]["title"], "followed");
    let _ = follow.kill();
    let _ = follow.wait();
}

// ---- tasks ---------------------------------------------------------------------------------------

#[test]
fn task_add_claim_complete_release_and_list() {
    let h = running_with_pact();
    let t = h.json(&["task", "add", "Build landing page", "--description", "fast"]);
    assert_eq!(t["status"], "open");
    assert_eq!(t["description"], "fast");
    let id = id_of(&t);
    let me = h.json(&["status"])["pact"]["peer_handle"].clone();

    let claimed = h.json(&["task", "claim", &id]);
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["claimed_by"], me);
    let line = h.fail(&["task", "claim", &id]);
    assert!(line.starts_with("error: TASK_NOT_OPEN: "), "{line}");
    assert!(line.contains(&id), "{line}");

    let released = h.json(&["task", "release", &id]);
    assert_eq!(released["status"], "open");
    let line = h.fail(&["task", "release", &id]);
    assert!(line.starts_with("error: NOT_CLAIMED: "), "{line}");

    let confirmed = h.json(&["task", "claim", &id, "--wait-confirmed"]);
    assert_eq!(confirmed["status"], "claimed");
    assert_eq!(confirmed["confirmed"], true);

    let done = h.json(&["task", "complete", &id, "--result", "shipped"]);
    assert_eq!(done["status"], "complete");
    assert_eq!(done["result"], "shipped");
    let line = h.fail(&["task", "complete", &id]);
    assert!(line.starts_with("error: TASK_ALREADY_COMPLETE: "), "{line}");

    let other = h.json(&["task", "add", "Second"]);
    let all = h.json(&["task", "list"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["id"], other["id"], "newest first");
    let open = h.json(&["task", "list", "--status", "open"]);
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["id"], other["id"]);
    assert_eq!(
        h.json(&["task", "list", "--limit", "1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        h.fail(&["task", "list", "--status", "lost"])
            .contains("unknown status")
    );

    let line = h.fail(&["task", "claim", "abcdef12-99"]);
    assert!(line.starts_with("error: NOT_FOUND: "), "{line}");
}

#[test]
fn a_task_assigned_to_someone_else_cannot_be_claimed() {
    let h = running_with_pact();
    let t = h.json(&[
        "task",
        "add",
        "Reserved",
        "--assign-to",
        "anon-other-12345678",
    ]);
    assert_eq!(t["assigned_to"], "anon-other-12345678");
    let line = h.fail(&["task", "claim", &id_of(&t)]);
    assert!(line.starts_with("error: NOT_ASSIGNEE: "), "{line}");
}

// ---- skills --------------------------------------------------------------------------------------

#[test]
fn skill_publish_list_and_install() {
    let h = running_with_pact();
    let file = h.root().join("greet.md");
    std::fs::write(&file, "# Greet\nSay hello.\n").unwrap();
    let file = file.display().to_string();
    let published = h.json(&[
        "skill",
        "publish",
        &file,
        "--name",
        "greet",
        "--version",
        "1.0.0",
        "--format",
        "generic",
    ]);
    assert_eq!(published["type"], "skill");
    assert_eq!(published["payload"]["name"], "greet");
    assert!(
        published["payload"]["checksum"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let id = id_of(&published);

    let list = h.json(&["skill", "list"]);
    assert_eq!(list[0]["id"], id.as_str());

    let line = h.fail(&["skill", "install", &id]);
    assert!(line.contains("refusing to install"), "{line}");
    assert!(line.contains("--yes"), "{line}");
    assert_eq!(h.json(&["skill", "installed"]), serde_json::json!([]));

    let installed = h.json(&["skill", "install", &id, "--yes"]);
    let path = installed["path"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        "# Greet\nSay hello.\n"
    );
    assert!(path.starts_with(&h.root().join("pacts/main").display().to_string()));
    assert_eq!(h.json(&["skill", "installed"])[0]["id"], id.as_str());

    let line = h.fail(&[
        "skill",
        "publish",
        &file,
        "--name",
        "../etc",
        "--version",
        "1",
        "--format",
        "generic",
    ]);
    assert!(line.starts_with("error: BAD_SKILL_NAME: "), "{line}");
    let line = h.fail(&[
        "skill",
        "publish",
        &file,
        "--name",
        "x",
        "--version",
        "1",
        "--format",
        "word",
    ]);
    assert!(line.contains("unknown format"), "{line}");
    let line = h.fail(&[
        "skill",
        "publish",
        "/nonexistent/skill.md",
        "--name",
        "x",
        "--version",
        "1",
        "--format",
        "generic",
    ]);
    assert!(line.contains("/nonexistent/skill.md"), "{line}");
    let line = h.fail(&["skill", "install", "abcdef12-99", "--yes"]);
    assert!(line.starts_with("error: NOT_FOUND: "), "{line}");
}

// ---- the command line itself ---------------------------------------------------------------------

#[test]
fn every_verb_has_help() {
    let h = Host::new();
    let verbs: &[&[&str]] = &[
        &[],
        &["start"],
        &["stop"],
        &["status"],
        &["init"],
        &["list"],
        &["switch"],
        &["rename"],
        &["remove"],
        &["agents"],
        &["log"],
        &["record"],
        &["message"],
        &["task"],
        &["task", "add"],
        &["task", "claim"],
        &["task", "complete"],
        &["task", "release"],
        &["task", "list"],
        &["skill"],
        &["skill", "publish"],
        &["skill", "list"],
        &["skill", "install"],
        &["completions"],
    ];
    for verb in verbs {
        let mut args = verb.to_vec();
        args.push("--help");
        let out = h.ok(&args);
        assert!(out.contains("Usage: openpact"), "{verb:?}: {out}");
    }
    let version = h.ok(&["--version"]);
    assert!(version.starts_with("openpact "), "{version}");
}

#[test]
fn per_pact_verbs_accept_port_and_pact_from_the_environment() {
    let h = running_with_pact();
    h.init("Second", "second");
    let out = h
        .cmd(&["record", "routed", "--topic", "t", "--port", "7666"])
        .env("OPENPACT_PACT", "second")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = h.json(&["log", "--pact", "second", "--type", "knowledge"]);
    assert_eq!(log["entries"][0]["payload"]["content"], "routed");
    let main = h.json(&["log", "--pact", "main", "--type", "knowledge"]);
    assert_eq!(main["entries"], serde_json::json!([]));
}

#[test]
fn usage_errors_exit_1() {
    let h = Host::new();
    let out = h.run(&["record", "no topic"]);
    assert_eq!(out.status.code(), Some(1));
    let out = h.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn completions_are_printed_for_each_shell() {
    let h = Host::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = h.ok(&["completions", shell]);
        assert!(out.contains("openpact"), "{shell}");
        assert!(out.contains("record"), "{shell}");
    }
    assert_eq!(h.run(&["completions", "cmd.exe"]).status.code(), Some(1));
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn gateway_serves_rest_in_front_of_the_daemons_socket() {
    let h = running_with_pact();
    h.ok(&["record", "through the socket", "--topic", "gw"]);
    let mut gw = Killed(
        h.cmd(&["gateway", "--port", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the gateway"),
    );
    let stderr = gw.0.stderr.take().expect("stderr");
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("the gateway says where it listens");
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let daemon_json: Value = serde_json::from_str(
        &std::fs::read_to_string(h.root().join("daemon.json")).expect("daemon.json"),
    )
    .expect("daemon.json is JSON");
    let token = daemon_json["apiToken"].as_str().expect("token").to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let ping = http
            .get(format!("{base}/v1/ping"))
            .send()
            .await
            .expect("ping");
        assert_eq!(ping.status(), 200);
        let denied = http
            .get(format!("{base}/v1/pacts/main/knowledge"))
            .send()
            .await
            .expect("no token");
        assert_eq!(denied.status(), 401);
        let list: Value = http
            .get(format!("{base}/v1/pacts/main/knowledge?topic=gw"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("knowledge")
            .json()
            .await
            .expect("json");
        assert_eq!(
            list["entries"][0]["payload"]["content"],
            "through the socket"
        );
    });
}
