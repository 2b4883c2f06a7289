//! The REST + SSE gateway on 127.0.0.1:7666 (spec/rest-api.md), written against the control
//! plane's generated service traits ([`state::Plane`]). It holds no state and never touches redb.

pub mod error;
pub mod json;
pub mod state;
