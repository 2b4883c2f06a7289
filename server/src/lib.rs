//! The OpenPact daemon: one process holding many pacts, each with its ledger
//! (`openpact-ledger`), served through the control plane on `<data>/openpact.sock`.
//!
//! Built by the daemon issue; this crate holds its place in the workspace until then.
