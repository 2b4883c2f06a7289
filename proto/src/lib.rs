//! Generated protobuf types for OpenPact.
//!
//! `wire::v1` holds the signed entry format and the peer wire messages. Entries are signed over
//! their exact encoded bytes, which are stored and sent as they are.

/// Peer wire and entry formats.
pub mod wire {
    /// Version 1 of the wire and entry formats.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/openpact.wire.v1.rs"));
    }
}
