//! Peer networking for OpenPact: one quinn endpoint per daemon, discovery through bootstrap and
//! seed nodes, and sync sessions generic over a log-store trait that the server implements over
//! the ledger. It never opens a database, knows REST or parses entry bodies.
//!
//! Built by the peers issue; this crate holds its place in the workspace until then.
