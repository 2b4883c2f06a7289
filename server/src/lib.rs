//! The OpenPact daemon: one process holding many pacts, each with its ledger
//! (`openpact-ledger`), served through the control plane (`proto/openpact/v1`) on
//! `<data>/openpact.sock`, and the `openpact` command line.

pub mod client;
pub mod convert;
pub mod daemon;
pub mod datadir;
pub mod discovery;
pub mod error;
pub mod events;
pub mod host;
pub mod net;
pub mod pact;
pub mod service;
pub mod wire_code;

pub use error::{ApiError, Result};
