//! The OpenPact ledger: signed per-member logs, a deterministic order, finality, and the view.
//!
//! Each member of a pact writes its own ed25519-signed, BLAKE3 hash-chained log. Entries name the
//! heads their author had seen, so together the logs form a DAG. Every peer orders the DAG the
//! same way: confirmed segments (the causal past of each committed anchor, in commit order), then
//! the speculative tail, each sorted by `(lamport, entry hash)`. A pure `apply` turns that order
//! into the view (redb tables the API reads); before-images in an undo table let the tail roll
//! back and re-apply when a late entry sorts earlier. See `spec/ledger.md`.
//!
//! The crate is sans-IO in the quinn-proto sense: no tokio, no network. [`Ledger`] takes entries
//! and time as inputs; [`Writer`] is a thin thread that owns a ledger's write transaction and
//! batches concurrent appends into one commit, with a second thread that makes the commits
//! durable through the ledger's journal ([`journal`]) before anyone sees them.

pub mod behind;
pub mod clock;
pub mod code;
pub mod entry;
pub mod error;
mod hashes;
pub mod journal;
pub mod keys;
pub mod ledger;
pub mod order;
pub mod view;
pub mod writer;

pub use behind::{DbSync, WriteBehind};
pub use clock::{Clock, ManualClock, SystemClock};
pub use code::{Code, DropReason, Outcome};
pub use error::{Error, Invalid, Result};
pub use journal::JournalFile;
pub use keys::{EntryHash, MemberKey, PactId, Signer};
pub use ledger::{
    AppendResult, Batch, CommitReport, Deferred, Event, Ingested, Ledger, PactParams,
};
pub use openpact_proto::wire::v1 as wire;
pub use view::read::ViewReader;
pub use writer::{EventSink, Writer, WriterConfig};
