//! A control-plane client over the daemon's unix socket, for the CLI and for tests.

use std::path::{Path, PathBuf};

use openpact_proto::v1;
use tonic::transport::Channel;

use crate::error::{ApiError, Result};

/// Clients of every service over one connection.
#[derive(Clone, Debug)]
pub struct Client {
    /// `Host`.
    pub host: v1::host_client::HostClient<Channel>,
    /// `Pact`.
    pub pact: v1::pact_client::PactClient<Channel>,
    /// `Events`.
    pub events: v1::events_client::EventsClient<Channel>,
}

/// The message when no daemon answers on `socket`.
pub fn not_running(socket: &Path) -> ApiError {
    ApiError::internal(format!(
        "OpenPact daemon is not running (nothing answers on {}). Start it with `openpact start`.",
        socket.display()
    ))
}

impl Client {
    /// Connects to the daemon listening on `socket`.
    pub async fn connect(socket: impl AsRef<Path>) -> Result<Client> {
        let socket: PathBuf = socket.as_ref().to_path_buf();
        if !socket.exists() {
            return Err(not_running(&socket));
        }
        let channel = openpact_gateway::remote::dial(&socket)
            .await
            .map_err(|_| not_running(&socket))?;
        Ok(Client {
            host: v1::host_client::HostClient::new(channel.clone())
                .max_decoding_message_size(64 * 1024 * 1024),
            pact: v1::pact_client::PactClient::new(channel.clone())
                .max_decoding_message_size(64 * 1024 * 1024),
            events: v1::events_client::EventsClient::new(channel),
        })
    }
}
