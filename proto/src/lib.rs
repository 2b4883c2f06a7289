//! Generated protobuf types for OpenPact.
//!
//! `v1` is the control plane (the daemon's gRPC services). `wire::v1` holds the signed entry format and the peer wire messages. Entries are signed over
//! their exact encoded bytes, which are stored and sent as they are.

/// Peer wire and entry formats.
pub mod wire {
    /// Version 1 of the wire and entry formats.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/openpact.wire.v1.rs"));
    }
}

/// The control plane: the daemon's gRPC services (`Host`, `Pact`, `Events`) and their messages.
pub mod v1 {
    // Generated: `Event` holds its details inline, as prost generates oneofs.
    #![allow(clippy::large_enum_variant)]
    include!(concat!(env!("OUT_DIR"), "/openpact.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every proto file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/openpact_descriptor.bin"));
