//! `apply`: the pure, deterministic function from (view state, entry at a position) to (new view
//! state, outcome). It sees the view only through [`ViewTxn`] and the entry only through
//! [`ApplyCtx`]: no clock, no randomness, no I/O. Time comes from the ledger (the committing
//! anchor's timestamp), and reading it marks the entry time-sensitive so the reconciler re-applies
//! it if its ledger time changes at confirmation.

use std::cell::Cell;

use crate::code::Outcome;
use crate::error::Result;
use crate::keys::{EntryHash, MemberKey, PactId};
use crate::view::txn::ViewTxn;
use crate::wire;

/// Everything apply may know about the entry it applies.
pub struct ApplyCtx<'a> {
    /// Its position in the order.
    pub pos: u64,
    /// Its hash.
    pub hash: EntryHash,
    /// Its author.
    pub author: MemberKey,
    /// Its 0-based seq in the author's log.
    pub seq: u64,
    /// Its API id (empty for genesis).
    pub api_id: &'a str,
    /// The pact.
    pub pact: PactId,
    /// Its ops.
    pub body: &'a wire::Body,
    ledger_time: u64,
    time_read: Cell<bool>,
}

impl<'a> ApplyCtx<'a> {
    /// A context for applying one entry with the given ledger time.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pos: u64,
        hash: EntryHash,
        author: MemberKey,
        seq: u64,
        api_id: &'a str,
        pact: PactId,
        body: &'a wire::Body,
        ledger_time: u64,
    ) -> Self {
        ApplyCtx { pos, hash, author, seq, api_id, pact, body, ledger_time, time_read: Cell::new(false) }
    }

    /// The ledger time this entry is judged by. Reading it makes the entry time-sensitive.
    pub fn ledger_time(&self) -> u64 {
        self.time_read.set(true);
        self.ledger_time
    }

    /// Whether apply read the ledger time.
    pub fn time_sensitive(&self) -> bool {
        self.time_read.get()
    }
}

/// What applying an entry did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The outcome.
    pub outcome: Outcome,
    /// The new indexer set, when an applied `SetIndexers` op changed it. The finalizer switches
    /// to it once this entry is confirmed.
    pub new_indexers: Option<Vec<MemberKey>>,
}
