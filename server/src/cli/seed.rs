//! `openpact seed`: a seed node. It answers announce and lookup of rendezvous topics and tells
//! each peer the address it sees it at; it holds no pact and no key of one.

use std::io::Write as _;
use std::net::SocketAddr;

use openpact_p2p::rendezvous::Seed;
use openpact_p2p::{ALPN_RENDEZVOUS, Endpoint, HostKey};
use openpact_server::datadir::DataDir;

use super::error::CliError;

/// Flags of `openpact seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// The UDP address to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "0.0.0.0:7669", value_name = "HOST:PORT")]
    pub listen: SocketAddr,
}

/// Serves rendezvous until SIGINT or SIGTERM. The first line on stdout says where.
pub fn run(dir: &DataDir, args: &SeedArgs) -> Result<(), CliError> {
    let seed_key = dir.seed_node_seed().map_err(CliError::local)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("openpact-seed")
        .build()
        .map_err(|e| CliError::new(format!("Cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let key = HostKey::from_seed(seed_key);
        let endpoint = Endpoint::bind(args.listen, key.clone())
            .map_err(|e| CliError::new(format!("{e}. Pass --listen with another port.")))?;
        let addr = endpoint
            .local_addr()
            .map_err(|e| CliError::new(format!("Cannot read the listening address: {e}")))?;
        println!(
            "seed listening on {addr} (UDP), key {}",
            hex::encode(key.public())
        );
        let _ = std::io::stdout().flush();
        let seed = Seed::new(None, openpact_p2p::rendezvous::SEED_NODE_TOPICS);
        let stop = super::gateway::stop_signal();
        tokio::pin!(stop);
        loop {
            let incoming = tokio::select! {
                () = &mut stop => break,
                i = endpoint.accept_incoming() => i,
            };
            let Some(incoming) = incoming else { break };
            let seed = seed.clone();
            tokio::spawn(async move {
                match openpact_p2p::endpoint::handshake(incoming).await {
                    Ok(conn) if conn.alpn == ALPN_RENDEZVOUS => seed.serve(conn).await,
                    Ok(conn) => conn
                        .conn
                        .close(0u32.into(), b"a seed serves rendezvous only"),
                    Err(e) => eprintln!("a handshake failed: {e}"),
                }
            });
        }
        endpoint.close();
        Ok(())
    })
}
