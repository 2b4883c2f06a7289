//! The REST + SSE gateway on 127.0.0.1:7666, the dashboard on :7667 and the MCP server, all written
//! against the control plane's generated service trait. It holds no state and never touches redb.
//!
//! Built by the REST gateway issue; this crate holds its place in the workspace until then.
