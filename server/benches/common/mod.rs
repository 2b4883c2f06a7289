//! What the daemon benchmarks share: starting the real `openpact` binary on a temp data dir,
//! waiting for it, stopping it as `openpact stop` does, and percentiles.
// Each bench target compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openpact_proto::v1;
use openpact_server::client::Client;

/// Starts `openpact start --foreground` on `dir`, REST on a free port, with `env` set.
pub fn spawn_daemon(dir: &Path, env: &[(&str, &str)]) -> Child {
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
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot spawn the daemon: {e}")))
}

/// The bench's command line: `--quick` (a smoke run) and `--seconds S`.
pub fn args() -> (bool, Option<f64>) {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let seconds = args
        .windows(2)
        .find(|w| w[0] == "--seconds")
        .and_then(|w| w[1].parse::<f64>().ok());
    (quick, seconds)
}

/// A temp dir under /tmp with a short name (the daemon's socket path must stay short).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| fail(&format!("temp dir: {e}")))
}

pub fn fail(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(1)
}

/// Connects and pings until the daemon answers; the time it took.
pub async fn ready(dir: &Path, started: Instant) -> (Client, Duration) {
    loop {
        if let Ok(mut c) = Client::connect(dir.join("openpact.sock")).await
            && c.host.ping(v1::PingRequest {}).await.is_ok()
        {
            return (c, started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(10) {
            fail("the daemon did not answer within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// SIGTERM, as `openpact stop` sends it, then wait for the exit.
pub fn stop(mut child: Child) {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    match pid {
        Some(pid) => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        None => {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Creates the pact `alias` through the control plane.
pub async fn create_pact(c: &mut Client, alias: &str) {
    c.host
        .create_pact(v1::CreatePactRequest {
            name: alias.into(),
            alias: Some(alias.into()),
            confirm: true,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| fail(&format!("create pact: {e}")));
}
