//! `openpact gateway`: the REST gateway as its own process, in front of a running daemon's
//! control-plane socket (the daemon serves the same gateway itself on `--port`).

use std::path::PathBuf;
use std::sync::Arc;

use openpact_gateway::remote::Remote;
use openpact_gateway::state::{AppState, Config};
use openpact_server::datadir::DataDir;

use super::error::CliError;

/// Flags of `openpact gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// The daemon's control-plane socket [default: <data dir>/openpact.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The port to serve REST on, on 127.0.0.1 only (0: any free port).
    #[arg(long, default_value_t = 7666, value_name = "PORT")]
    pub port: u16,
    /// Requests per minute per client; 0 disables the limiter.
    #[arg(
        long,
        env = "OPENPACT_RATE_LIMIT",
        default_value_t = 3000,
        value_name = "N"
    )]
    pub rate_limit: u32,
}

/// Serves REST until SIGINT or SIGTERM.
pub fn run(dir: &DataDir, args: &GatewayArgs) -> Result<(), CliError> {
    let socket = args.socket.clone().unwrap_or_else(|| dir.socket_path());
    let token = dir.ensure_token().map_err(CliError::local)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("openpact-gateway")
        .build()
        .map_err(|e| CliError::new(format!("Cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let remote = Remote::connect(&socket)
            .await
            .map_err(|e| CliError::new(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .map_err(|e| {
                CliError::new(format!(
                    "Cannot listen on 127.0.0.1:{}: {e}. Pass --port to pick another.",
                    args.port
                ))
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| CliError::new(format!("Cannot read the listening address: {e}")))?
            .port();
        eprintln!(
            "REST gateway on http://127.0.0.1:{port}/v1/ for the daemon on {}",
            socket.display()
        );
        let mut config = Config::new(token);
        config.rate_limit = args.rate_limit;
        let state = AppState {
            plane: remote,
            config: Arc::new(config),
        };
        openpact_gateway::app::serve(listener, state, stop_signal())
            .await
            .map_err(|e| CliError::new(format!("The gateway stopped: {e}")))
    })
}

/// Resolves on SIGINT or SIGTERM.
pub(super) async fn stop_signal() {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
