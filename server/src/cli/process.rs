//! The daemon process: `start` (in the background by default, or in this process with
//! `--foreground`) and `stop`. The pid file says which process to signal; the data dir's lock,
//! taken by the daemon itself, is what keeps a second daemon off a data dir.

use std::fs::OpenOptions;
use std::io::{IsTerminal as _, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use openpact_server::daemon::{self, RunOptions};
use openpact_server::datadir::{self, DataDir};
use openpact_server::host::Ports;
use openpact_server::net::{self, NetOptions};
use rustix::process::{Pid, Signal};

use super::control;
use super::error::CliError;
use super::output::{card, say};

/// How often `start` asks the new daemon whether it answers.
const START_POLL: Duration = Duration::from_millis(50);
/// How long `start` waits for the daemon to answer.
const START_WAIT: Duration = Duration::from_secs(10);
/// How often `stop` looks whether the daemon is gone.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How long `stop` waits after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(3);

/// `openpact start`.
#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    /// Run the daemon in this process (logs on stderr) instead of in the background.
    #[arg(long)]
    pub foreground: bool,

    /// The REST + SSE port on 127.0.0.1 (0: the OS picks one, recorded in daemon.json).
    #[arg(long, default_value_t = 7666, value_name = "PORT")]
    pub port: u16,

    /// The dashboard port on 127.0.0.1, serving the control plane over gRPC-web under
    /// /grpc-web/ (0: the OS picks one, recorded in daemon.json).
    #[arg(
        long,
        default_value_t = 7667,
        value_name = "PORT",
        conflicts_with = "no_dashboard"
    )]
    pub dashboard_port: u16,

    /// Serve no dashboard.
    #[arg(long)]
    pub no_dashboard: bool,

    /// The UDP port for peers (QUIC). Without it: 7668, or any free port when 7668 is taken
    /// (recorded in daemon.json as p2pPort).
    #[arg(long, env = "OPENPACT_P2P_PORT", value_name = "PORT")]
    pub p2p_port: Option<u16>,

    /// The address the peer port listens on: 0.0.0.0 (default) for every interface, or one
    /// address such as 127.0.0.1.
    #[arg(
        long,
        env = "OPENPACT_P2P_HOST",
        default_value = "0.0.0.0",
        value_name = "ADDR"
    )]
    pub p2p_host: std::net::IpAddr,

    /// Run without a peer network: pacts stay on this machine.
    #[arg(long)]
    pub no_p2p: bool,

    /// Seed nodes to find pacts' peers through, as host:port (names resolved, /etc/hosts
    /// first), comma separated.
    #[arg(
        long,
        env = "OPENPACT_BOOTSTRAP",
        value_name = "HOST:PORT,...",
        value_delimiter = ','
    )]
    pub bootstrap: Vec<String>,

    /// What to log: error, warn, info (default), debug, trace, or a tracing filter such as
    /// `openpact_server=debug,info`.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

impl Default for StartArgs {
    fn default() -> Self {
        StartArgs {
            foreground: false,
            port: 7666,
            dashboard_port: 7667,
            no_dashboard: false,
            p2p_port: None,
            p2p_host: std::net::IpAddr::from([0, 0, 0, 0]),
            no_p2p: false,
            bootstrap: Vec::new(),
            log_level: None,
        }
    }
}

/// `openpact start`.
pub fn start(dir: &DataDir, args: &StartArgs) -> Result<(), CliError> {
    refuse_if_live(dir)?;
    if args.foreground {
        run_foreground(dir, args)
    } else {
        start_detached(dir, args, false)
    }
}

/// Starts the daemon in the background for another verb (`join`), saying so on stderr so the
/// verb's own output stays alone on stdout.
pub fn start_for_verb(dir: &DataDir, args: &StartArgs) -> Result<(), CliError> {
    refuse_if_live(dir)?;
    start_detached(dir, args, true)
}

/// Refuses when the pid file names a live process.
fn refuse_if_live(dir: &DataDir) -> Result<(), CliError> {
    if let Some(pid) = datadir::read_pid(dir).map_err(CliError::local)?
        && running(pid)
    {
        return Err(CliError::new(format!(
            "a daemon already appears to be bound (PID file at {}). Run `openpact stop` first.",
            dir.pid_path().display()
        )));
    }
    Ok(())
}

fn run_foreground(dir: &DataDir, args: &StartArgs) -> Result<(), CliError> {
    let filter = args
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| CliError::new(format!("--log-level {filter} is not a log filter: {e}")))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("openpact")
        .build()
        .map_err(|e| CliError::new(format!("Cannot start the async runtime: {e}")))?;
    let opts = RunOptions {
        ports: Ports {
            rest: args.port,
            dashboard: (!args.no_dashboard).then_some(args.dashboard_port),
        },
        p2p: (!args.no_p2p).then(|| NetOptions {
            listen: std::net::SocketAddr::new(
                args.p2p_host,
                args.p2p_port.unwrap_or(net::DEFAULT_PORT),
            ),
            fallback: args.p2p_port.is_none(),
            bootstrap: args
                .bootstrap
                .iter()
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty())
                .collect(),
        }),
    };
    let on_terminal = std::io::stdout().is_terminal();
    let shown = dir.clone();
    let ready = move || {
        if on_terminal {
            card(
                "The daemon stirs. Press Ctrl-C to stop it.",
                &[
                    ("Socket", shown.socket_path().display().to_string()),
                    ("PID", std::process::id().to_string()),
                    ("Data dir", shown.root().display().to_string()),
                ],
            );
        }
    };
    runtime
        .block_on(daemon::run(dir.clone(), opts, ready))
        .map_err(CliError::local)
}

fn start_detached(dir: &DataDir, args: &StartArgs, on_stderr: bool) -> Result<(), CliError> {
    dir.ensure().map_err(CliError::local)?;
    let log_path = dir.log_path();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(|e| CliError::new(format!("Cannot open {}: {e}", log_path.display())))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let mut child = spawn_daemon(dir, args, &log)
        .map_err(|e| CliError::new(format!("Cannot start the daemon process: {e}")))?;
    let deadline = Instant::now() + START_WAIT;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("Cannot start the async runtime: {e}")))?;
    let ping = loop {
        if let Ok(Some(_)) = child.try_wait() {
            return Err(failed_to_start(&log_path, log_start));
        }
        // Only our child counts: a daemon already on this dir (its pid file gone) answers
        // too, until the child fails on the data dir's lock.
        if let Some(p) = runtime.block_on(control::ping(dir))
            && p.pid == child.id()
        {
            break p;
        }
        if Instant::now() >= deadline {
            let _ = signal(child.id(), Signal::TERM);
            return Err(CliError::new(format!(
                "the daemon did not answer within {} s. See logs at {}",
                START_WAIT.as_secs(),
                log_path.display()
            )));
        }
        std::thread::sleep(START_POLL);
    };
    if on_stderr {
        eprintln!(
            "Started the daemon (PID {}, logs at {}).",
            ping.pid,
            log_path.display()
        );
        return Ok(());
    }
    card(
        "The daemon stirs.",
        &[
            ("Socket", dir.socket_path().display().to_string()),
            ("PID", ping.pid.to_string()),
            ("Data dir", dir.root().display().to_string()),
            ("Logs", log_path.display().to_string()),
        ],
    );
    Ok(())
}

/// Runs this binary as `start --foreground` in a session of its own, its output appended to
/// the log.
fn spawn_daemon(dir: &DataDir, args: &StartArgs, log: &std::fs::File) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("--data-dir").arg(dir.root()).args([
        "start",
        "--foreground",
        "--port",
        &args.port.to_string(),
    ]);
    if args.no_dashboard {
        cmd.arg("--no-dashboard");
    } else {
        cmd.args(["--dashboard-port", &args.dashboard_port.to_string()]);
    }
    if args.no_p2p {
        cmd.arg("--no-p2p");
    } else {
        // The default is left out, so the daemon still reads OPENPACT_P2P_HOST (a verb such as
        // `join` starts it with default arguments).
        if !args.p2p_host.is_unspecified() {
            cmd.args(["--p2p-host", &args.p2p_host.to_string()]);
        }
        if let Some(p) = args.p2p_port {
            cmd.args(["--p2p-port", &p.to_string()]);
        }
        if !args.bootstrap.is_empty() {
            cmd.args(["--bootstrap", &args.bootstrap.join(",")]);
        }
    }
    if let Some(level) = &args.log_level {
        cmd.args(["--log-level", level]);
    }
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent; a new session
    // keeps the daemon out of the terminal's job control (Ctrl-C, hangup).
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
}

/// "the daemon failed to start", with the last line the daemon logged (its error) when there
/// is one.
fn failed_to_start(log_path: &Path, from: u64) -> CliError {
    let last = last_line(log_path, from);
    match last {
        Some(line) => {
            let stop = if line.ends_with(['.', '!', '?']) {
                ""
            } else {
                "."
            };
            CliError::new(format!(
                "the daemon failed to start: {line}{stop} See logs at {}",
                log_path.display()
            ))
        }
        None => CliError::new(format!(
            "the daemon failed to start. See logs at {}",
            log_path.display()
        )),
    }
}

fn last_line(path: &Path, from: u64) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut text = String::new();
    f.take(64 * 1024).read_to_string(&mut text).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let line = line.trim();
    Some(line.strip_prefix("error: ").unwrap_or(line).to_string())
}

/// `openpact stop`.
pub fn stop(dir: &DataDir, timeout_ms: u64) -> Result<(), CliError> {
    let Some(pid) = datadir::read_pid(dir).map_err(CliError::local)? else {
        say("No daemon to banish (no PID file).");
        return Ok(());
    };
    if !running(pid) {
        say(format!(
            "Stale PID file at {} (pid {pid}). Cleaning up.",
            dir.pid_path().display()
        ));
        clean_up(dir, pid);
        return Ok(());
    }
    signal(pid, Signal::TERM)
        .map_err(|e| CliError::new(format!("Cannot signal the daemon (pid {pid}): {e}")))?;
    if !wait_gone(pid, Duration::from_millis(timeout_ms)) {
        let _ = signal(pid, Signal::KILL);
        if !wait_gone(pid, KILL_WAIT) {
            return Err(CliError::new(format!(
                "the daemon (pid {pid}) is still running after SIGKILL"
            )));
        }
    }
    clean_up(dir, pid);
    say(format!("The daemon has been banished. (pid {pid})"));
    Ok(())
}

/// Removes what a daemon that is gone may have left: its pid file (if it still names `pid`)
/// and, when no daemon holds the data dir, its socket.
fn clean_up(dir: &DataDir, pid: u32) {
    if let Ok(Some(p)) = datadir::read_pid(dir)
        && p == pid
    {
        let _ = datadir::remove_pid(dir);
    }
    if dir.socket_path().exists()
        && let Ok(lock) = datadir::lock_dir(dir)
    {
        let _ = std::fs::remove_file(dir.socket_path());
        drop(lock);
    }
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !running(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(STOP_POLL);
    }
}

fn signal(pid: u32, sig: Signal) -> rustix::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or(rustix::io::Errno::SRCH)?;
    rustix::process::kill_process(pid, sig)
}

/// Whether `pid` is a running process: alive and not a zombie waiting to be reaped.
pub fn running(pid: u32) -> bool {
    datadir::process_alive(pid) && !zombie(pid)
}

fn zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_some_and(|state| matches!(state, 'Z' | 'X'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_running_and_a_reaped_child_is_not() {
        assert!(running(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!running(pid));
    }

    #[test]
    fn an_unreaped_child_counts_as_gone() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !zombie(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!running(pid));
        child.wait().unwrap();
    }
}
