//! The `openpact` binary (daemon and CLI); the verbs arrive in the next commits.

fn main() {}
