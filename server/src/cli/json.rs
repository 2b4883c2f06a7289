//! The JSON the CLI prints: the shapes REST answers with (spec/rest-api.md), defined once in
//! the gateway crate.

pub use openpact_gateway::json::*;
