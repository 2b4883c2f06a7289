//! Running the daemon: own the data dir, open the pacts, serve the control plane on
//! `<data>/openpact.sock` (mode 0600, with gRPC reflection) until SIGTERM, SIGINT or `Shutdown`,
//! then let in-flight requests finish and stop every writer.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::Duration;

use openpact_ledger::{SystemClock, WriterConfig};
use openpact_proto::v1;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use crate::datadir::{self, DataDir};
use crate::error::{ApiError, Result};
use crate::host::{Daemon, Ports};
use crate::net::{Net, NetOptions};
use crate::service::ControlPlane;
use openpact_gateway::state::{AppState, Config, Timeouts};

/// Longest socket path the kernel takes (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// How the daemon runs.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// REST and dashboard ports.
    pub ports: Ports,
    /// The peer network's endpoint; `None`: no peer network (this daemon's pacts stay local).
    pub p2p: Option<NetOptions>,
}

/// Runs the daemon in the current tokio runtime until it is told to stop. `ready` is called once
/// the socket accepts connections.
pub async fn run(dir: DataDir, opts: RunOptions, ready: impl FnOnce()) -> Result<()> {
    dir.ensure()?;
    let _lock = datadir::lock_dir(&dir)?;
    let socket = dir.socket_path();
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(ApiError::internal(format!(
            "The socket path {} is longer than {MAX_SOCKET_PATH} bytes. Use a shorter --data-dir.",
            socket.display()
        )));
    }
    // We hold the data dir's lock, so a socket left here belongs to a daemon that is gone.
    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(crate::pact::io_error(&socket, &e)),
    }
    // REST and the dashboard bind before the pacts open, so a port held by someone else stops
    // the start early.
    let rest = bind_local(opts.ports.rest, "REST", "--port").await?;
    let dashboard = match opts.ports.dashboard {
        Some(port) => {
            Some(bind_local(port, "dashboard", "--dashboard-port (or --no-dashboard)").await?)
        }
        None => None,
    };
    let ports = Ports {
        rest: bound_port(&rest)?,
        dashboard: dashboard.as_ref().map(bound_port).transpose()?,
    };
    let daemon = Daemon::start(
        dir.clone(),
        Arc::new(SystemClock),
        WriterConfig::default(),
        ports,
    )?;
    let token = dir.ensure_token()?;
    let net = match &opts.p2p {
        Some(p2p) => {
            let net = match Net::start(&daemon, p2p) {
                Ok(n) => n,
                Err(e) => {
                    daemon.close_all();
                    return Err(e);
                }
            };
            daemon.set_net(net.clone());
            Some(net)
        }
        None => None,
    };
    let p2p_port = net.as_ref().and_then(|n| n.local_addr()).map(|a| a.port());
    dir.update(|f| {
        f.port = Some(ports.rest);
        f.dashboard_port = ports.dashboard;
        f.p2p_port = p2p_port;
        Ok(())
    })?;
    let listener = UnixListener::bind(&socket).map_err(|e| crate::pact::io_error(&socket, &e))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| crate::pact::io_error(&socket, &e))?;
    datadir::write_pid(&dir, std::process::id())?;
    let gateway = tokio::spawn(openpact_gateway::app::serve(
        rest,
        AppState {
            plane: ControlPlane::new(daemon.clone()),
            config: Arc::new(gateway_config(token)),
        },
        crate::service::stopped(daemon.stopping()),
    ));
    let dashboard = dashboard.map(|listener| {
        tokio::spawn(openpact_gateway::app::serve_router(
            listener,
            openpact_gateway::dashboard::router(ControlPlane::new(daemon.clone())),
            Timeouts::default(),
            crate::service::stopped(daemon.stopping()),
            || {},
        ))
    });
    tracing::info!(
        socket = %socket.display(),
        rest = %format!("http://127.0.0.1:{}/v1/", ports.rest),
        grpc_web = %ports.dashboard.map_or("off".to_string(), |p| format!("http://127.0.0.1:{p}/grpc-web/")),
        p2p = %net.as_ref().and_then(|n| n.local_addr()).map_or("off".to_string(), |a| format!("{a} (UDP)")),
        host_key = %net.as_ref().map_or(String::new(), |n| hex::encode(n.host_key())),
        pacts = daemon.open_pacts().len(),
        "daemon ready"
    );
    ready();
    let served = serve(daemon.clone(), UnixListenerStream::new(listener)).await;
    daemon.request_stop();
    match gateway.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the REST gateway stopped with an error"),
        Err(e) => tracing::error!(error = %e, "the REST gateway task failed"),
    }
    if let Some(dashboard) = dashboard {
        match dashboard.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the dashboard port stopped with an error"),
            Err(e) => tracing::error!(error = %e, "the dashboard port's task failed"),
        }
    }
    if let Some(net) = &net {
        net.close();
    }
    daemon.close_all();
    let _ = std::fs::remove_file(&socket);
    let _ = datadir::remove_pid(&dir);
    tracing::info!("daemon stopped");
    served
}

/// The gateway's settings: the token, and the knobs from the environment (spec/rest-api.md,
/// Decision 16).
fn gateway_config(token: String) -> Config {
    let mut c = Config::new(token);
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(n) = env("OPENPACT_RATE_LIMIT") {
        c.rate_limit = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = env("OPENPACT_SSE_BUFFER_BYTES").filter(|n| *n > 0) {
        c.sse_buffer_bytes = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = env("OPENPACT_BODY_LIMIT").filter(|n| *n > 0) {
        c.body_limit = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if env("OPENPACT_ANSWER_CACHE") == Some(0) {
        c.answer_cache = false;
    }
    c
}

/// Binds `what` on 127.0.0.1 only (`port` 0: any free port); `flag` names the option to change.
async fn bind_local(port: u16, what: &str, flag: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                ApiError::internal(format!(
                    "Port {port} on 127.0.0.1 (the {what} port) is already in use (another OpenPact daemon, or another program). Stop it, or pass {flag} to pick another."
                ))
            } else {
                ApiError::internal(format!("Cannot listen on 127.0.0.1:{port} for {what}: {e}"))
            }
        })
}

fn bound_port(listener: &tokio::net::TcpListener) -> Result<u16> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ApiError::internal(format!("cannot read a bound address: {e}")))
}

async fn serve(daemon: Arc<Daemon>, incoming: UnixListenerStream) -> Result<()> {
    let plane = ControlPlane::new(daemon.clone());
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(openpact_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ApiError::internal(format!("cannot build gRPC reflection: {e}")))?;
    let stopping = daemon.stopping();
    let signal = async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch SIGTERM");
                    crate::service::stopped(stopping).await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
            _ = crate::service::stopped(stopping) => tracing::info!("shutdown requested: stopping"),
        }
    };
    let d = daemon.clone();
    let signal = async move {
        signal.await;
        // End the event streams, so the graceful shutdown does not wait on them.
        d.request_stop();
    };
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .add_service(v1::host_server::HostServer::new(plane.clone()))
        .add_service(v1::pact_server::PactServer::new(plane.clone()))
        .add_service(v1::events_server::EventsServer::new(plane))
        .add_service(reflection)
        .serve_with_incoming_shutdown(incoming, signal)
        .await
        .map_err(|e| ApiError::internal(format!("the control plane stopped: {e}")))
}
