//! Peer networking for OpenPact: one quinn endpoint per daemon, discovery through bootstrap and
//! seed nodes, and sync sessions generic over a log-store trait that the server implements over
//! the ledger. It never opens a database, knows REST or parses entry bodies.
//!
//! Built so far: the transport identity (the host key as a TLS 1.3 raw public key,
//! [`identity`], [`tls`]), the endpoint with one ALPN per protocol ([`endpoint`]) and the proof of
//! pact membership bound to a TLS session ([`proof`]), and the opening of a sync connection where
//! both ends prove they are members of the pact ([`hello`]), pull sync in rounds and live
//! sessions ([`sync`]), presenting an invite to an indexer ([`invite`]), and announce and lookup
//! of topics at seeds ([`rendezvous`]).

pub mod endpoint;
pub mod frame;
pub mod hello;
pub mod identity;
pub mod invite;
pub mod proof;
pub mod rendezvous;
pub mod sync;
mod tls;

pub use endpoint::{ALPN_INVITE, ALPN_RENDEZVOUS, ALPN_SYNC, Endpoint, PeerConnection};
pub use identity::HostKey;

/// What can go wrong on the peer network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host key cannot be made or used.
    #[error("host key: {0}")]
    Identity(String),
    /// TLS could not be set up, or a handshake broke a rule.
    #[error("TLS: {0}")]
    Tls(String),
    /// The UDP port could not be bound.
    #[error("cannot listen on {addr} (UDP): {message}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Whether another socket holds it.
        in_use: bool,
        /// The system's reason.
        message: String,
    },
    /// A connection could not be made or completed.
    #[error("connection with {addr}: {message}")]
    Connect {
        /// The peer's address.
        addr: std::net::SocketAddr,
        /// Why.
        message: String,
    },
    /// Another I/O failure.
    #[error("{0}")]
    Io(String),
    /// The peer broke the protocol (a malformed or missing message).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The peer refused, with a wire code.
    #[error("refused ({code}): {message}")]
    Refused {
        /// The wire code, e.g. `NOT_A_MEMBER`.
        code: String,
        /// Why.
        message: String,
    },
}
