//! One quinn endpoint per daemon on one UDP port, serving every pact and every protocol: the
//! protocol is the connection's ALPN ([`ALPN_SYNC`], [`ALPN_INVITE`], [`ALPN_RENDEZVOUS`]). Each
//! connection knows the host key of its peer, proven by the TLS handshake.

use std::net::SocketAddr;
use std::sync::Arc;

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};

use crate::Error;
use crate::identity::{HostKey, key_of_spki};
use crate::tls;

/// Replication of a pact's logs (spec/ledger.md, "Replication over QUIC").
pub const ALPN_SYNC: &[u8] = b"openpact-sync/1";
/// Presenting an invite to an indexer.
pub const ALPN_INVITE: &[u8] = b"openpact-invite/1";
/// Announce and lookup on a seed node.
pub const ALPN_RENDEZVOUS: &[u8] = b"openpact-rendezvous/1";
/// Every protocol an endpoint accepts.
pub const ALPNS: [&[u8]; 3] = [ALPN_SYNC, ALPN_INVITE, ALPN_RENDEZVOUS];

/// The name dialers put in the handshake. Peers are known by key, not by name; it is never
/// checked.
const SERVER_NAME: &str = "openpact.invalid";

/// A daemon's QUIC endpoint. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Endpoint {
    quic: quinn::Endpoint,
    key: HostKey,
    identity: tls::Identity,
}

/// A connection whose peer proved it holds `peer`'s private key.
#[derive(Clone, Debug)]
pub struct PeerConnection {
    /// The QUIC connection.
    pub conn: quinn::Connection,
    /// The peer's host key.
    pub peer: [u8; 32],
    /// The protocol agreed on.
    pub alpn: Vec<u8>,
}

impl Endpoint {
    /// Binds `addr` (UDP) with the host key `key`.
    pub fn bind(addr: SocketAddr, key: HostKey) -> Result<Endpoint, Error> {
        let identity = tls::Identity::new(&key)?;
        let crypto = tls::server_config(&identity, &ALPNS)?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(
            QuicServerConfig::try_from(crypto).map_err(|e| Error::Tls(e.to_string()))?,
        ));
        server.transport_config(transport());
        let quic = quinn::Endpoint::server(server, addr).map_err(|e| Error::Bind {
            addr,
            in_use: e.kind() == std::io::ErrorKind::AddrInUse,
            message: e.to_string(),
        })?;
        Ok(Endpoint {
            quic,
            key,
            identity,
        })
    }

    /// Binds `addr`; when its port is taken and `fallback` allows it (no port was asked for),
    /// any free port on the same address instead, logged.
    pub fn bind_preferring(
        addr: SocketAddr,
        key: HostKey,
        fallback: bool,
    ) -> Result<Endpoint, Error> {
        match Endpoint::bind(addr, key.clone()) {
            Err(Error::Bind { in_use: true, .. }) if fallback => {
                let any = SocketAddr::new(addr.ip(), 0);
                let e = Endpoint::bind(any, key)?;
                tracing::info!(
                    wanted = %addr,
                    bound = %e.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
                    "the peer port is taken; listening on a free one"
                );
                Ok(e)
            }
            other => other,
        }
    }

    /// Where the endpoint listens.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.quic.local_addr().map_err(|e| Error::Io(e.to_string()))
    }

    /// This endpoint's host key.
    pub fn host_key(&self) -> &HostKey {
        &self.key
    }

    /// Dials `addr` for the protocol `alpn`. With `expected`, the handshake fails unless the peer
    /// holds that key.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        expected: Option<[u8; 32]>,
        alpn: &[u8],
    ) -> Result<PeerConnection, Error> {
        let crypto = tls::client_config(&self.identity, expected, alpn)?;
        let mut config = quinn::ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(crypto).map_err(|e| Error::Tls(e.to_string()))?,
        ));
        config.transport_config(transport());
        let connecting = self
            .quic
            .connect_with(config, addr, SERVER_NAME)
            .map_err(|e| Error::Connect {
                addr,
                message: e.to_string(),
            })?;
        let conn = connecting.await.map_err(|e| Error::Connect {
            addr,
            message: e.to_string(),
        })?;
        identify(conn)
    }

    /// The next incoming connection, handshake done; `None` once the endpoint is closed. A
    /// handshake that fails gives an error and the endpoint goes on.
    pub async fn accept(&self) -> Option<Result<PeerConnection, Error>> {
        Some(handshake(self.accept_incoming().await?).await)
    }

    /// The next incoming connection before its handshake, so a server can run handshakes side
    /// by side ([`handshake`]); `None` once the endpoint is closed.
    pub async fn accept_incoming(&self) -> Option<quinn::Incoming> {
        self.quic.accept().await
    }

    /// Closes every connection and stops accepting.
    pub fn close(&self) {
        self.quic.close(0u32.into(), b"closing");
    }

    /// Waits until every connection is closed.
    pub async fn wait_idle(&self) {
        self.quic.wait_idle().await;
    }
}

/// Completes the handshake of an incoming connection.
pub async fn handshake(incoming: quinn::Incoming) -> Result<PeerConnection, Error> {
    let addr = incoming.remote_address();
    match incoming.await {
        Ok(conn) => identify(conn),
        Err(e) => Err(Error::Connect {
            addr,
            message: e.to_string(),
        }),
    }
}

/// Keep-alives every 5 s hold an idle session open (and through NATs); a peer silent for 20 s
/// is gone. Flow control is each peer's credit: at most 32 requests (streams) in flight, 4 MiB
/// unread per stream and 16 MiB per connection, whatever the peer sends.
fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(32u32.into());
    t.max_concurrent_uni_streams(16u32.into());
    t.stream_receive_window((4u32 << 20).into());
    t.receive_window((16u32 << 20).into());
    t.keep_alive_interval(Some(std::time::Duration::from_secs(5)));
    if let Ok(idle) = quinn::IdleTimeout::try_from(std::time::Duration::from_secs(20)) {
        t.max_idle_timeout(Some(idle));
    }
    Arc::new(t)
}

/// The peer's key and the protocol of an established connection.
fn identify(conn: quinn::Connection) -> Result<PeerConnection, Error> {
    let peer = conn
        .peer_identity()
        .and_then(|id| {
            id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .and_then(|certs| certs.first().and_then(|c| key_of_spki(c.as_ref())))
        .ok_or_else(|| Error::Tls("the peer presented no Ed25519 key".into()))?;
    let alpn = conn
        .handshake_data()
        .and_then(|d| d.downcast::<HandshakeData>().ok())
        .and_then(|d| d.protocol)
        .ok_or_else(|| Error::Tls("no protocol was agreed on".into()))?;
    Ok(PeerConnection { conn, peer, alpn })
}
