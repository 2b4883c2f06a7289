//! Reaching the daemon over its control-plane socket.

use std::time::Duration;

use openpact_proto::v1;
use openpact_server::client::Client;
use openpact_server::datadir::DataDir;

use super::error::CliError;

/// How long connecting and a ping may take before the daemon counts as hung.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// What answers on the socket.
enum Reach {
    /// A daemon that answered its ping.
    Up(Box<(Client, v1::PingResponse)>),
    /// Nothing: no socket, or nobody accepts on it.
    Down,
    /// Something accepted the connection but did not answer in time.
    Hung,
}

async fn reach(dir: &DataDir) -> Reach {
    let attempt = async {
        let Ok(mut client) = Client::connect(dir.socket_path()).await else {
            return Reach::Down;
        };
        match client.host.ping(v1::PingRequest {}).await {
            Ok(r) => Reach::Up(Box::new((client, r.into_inner()))),
            Err(_) => Reach::Down,
        }
    };
    tokio::time::timeout(PING_TIMEOUT, attempt)
        .await
        .unwrap_or(Reach::Hung)
}

fn hung(dir: &DataDir) -> CliError {
    CliError::new(format!(
        "The daemon on {} accepts connections but does not answer. Stop it with `openpact stop`, then start it again.",
        dir.socket_path().display()
    ))
}

/// A client of the daemon on `dir`, or why there is none.
pub async fn connect(dir: &DataDir) -> Result<Client, CliError> {
    match reach(dir).await {
        Reach::Up(up) => Ok(up.0),
        Reach::Down => Err(CliError::not_running()),
        Reach::Hung => Err(hung(dir)),
    }
}

/// A client of the daemon on `dir` if one runs; an error only when one seems to run but does
/// not answer.
pub async fn try_connect(dir: &DataDir) -> Result<Option<Client>, CliError> {
    match reach(dir).await {
        Reach::Up(up) => Ok(Some(up.0)),
        Reach::Down => Ok(None),
        Reach::Hung => Err(hung(dir)),
    }
}

/// The daemon's ping answer, if it answers.
pub async fn ping(dir: &DataDir) -> Option<v1::PingResponse> {
    match reach(dir).await {
        Reach::Up(up) => Some(up.1),
        Reach::Down | Reach::Hung => None,
    }
}
