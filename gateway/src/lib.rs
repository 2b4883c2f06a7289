//! The REST + SSE gateway on 127.0.0.1:7666 (spec/rest-api.md), written against the control
//! plane's generated service traits ([`state::Plane`]). It holds no state and never touches redb.

pub mod app;
pub mod cache;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod guards;
pub mod host;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod pact;
pub mod remote;
pub mod sse;
pub mod state;
