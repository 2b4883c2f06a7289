//! [`Ledger`]: one pact's log store, order, finality and view in one redb database.
//!
//! All writes happen in a [`Batch`]: one redb write transaction in which entries are ingested
//! (from peers) or appended (locally), after which the order is reconciled with the view and the
//! transaction commits durably. Reconciling finds the committed anchors, confirms their segments,
//! and makes the applied order equal the desired order by rolling the tail back to the first
//! difference and re-applying from there. The in-memory state (the tail DAG, heads, the causal
//! buffer) is rebuilt from disk whenever a batch fails, so memory never runs ahead of the file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use prost::Message as _;
use redb::{Database, ReadableDatabase, ReadableTable, Table, WriteTransaction};

use crate::behind::DbSync;
use crate::code::Outcome;
use crate::entry::{self, DEFAULT_DEPS_CAP, Draft, VerifiedEntry};
use crate::error::{Error, Invalid, Result};
use crate::hashes::{HashIndex, IndexTables, bytes_by_hash};
use crate::journal::{self, Journal};
use crate::keys::{EntryHash, MemberKey, PactId, Signer};
use crate::order::{Epoch, Node, Tail};
use crate::view::read::{Snapshot, ViewReader};
use crate::view::tables::{
    ARRIVAL, BRANCHES, ENTRIES, EngineRow, FORKS, HEADS, LAYOUT_VERSION, LazyTable, STATE,
    STATE_JOURNAL_GEN, STATE_LAYOUT, STATE_PACT_ID,
};
use crate::view::txn::{Digest, ViewTxn};
use crate::wire;

mod batch;
mod load;
mod reconcile;
mod sign;

use load::load_state;

/// BLAKE3 derive-key context of the confirmed order digest.
const ORDER_DIGEST_CONTEXT: &str = "openpact 2026 order digest v1";
/// Most entries held in the causal buffer; past it the oldest waiting entries are forgotten
/// (sync fetches them again once their deps arrive).
const PARKED_CAP: usize = 100_000;

/// The parameters a pact is created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PactParams {
    /// Name, 1–64 characters.
    pub name: String,
    /// Purpose, up to 200 characters.
    pub purpose: Option<String>,
    /// How long a claim holds, in ms of ledger time (0: the default, 24 h).
    pub claim_ttl_ms: u64,
    /// Most deps per entry (0: the default, 64; at most 64).
    pub deps_cap: u32,
}

impl PactParams {
    /// Parameters with defaults and the given name.
    pub fn named(name: impl Into<String>) -> Self {
        PactParams {
            name: name.into(),
            purpose: None,
            claim_ttl_ms: 0,
            deps_cap: 0,
        }
    }
}

/// What ingesting an entry did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ingested {
    /// New, stored and ordered.
    New(EntryHash),
    /// Already known (or already waiting in the causal buffer).
    Duplicate(EntryHash),
    /// Valid so far, but waits for entries it depends on.
    Parked {
        /// The entry.
        hash: EntryHash,
        /// What it waits for.
        missing: Vec<EntryHash>,
    },
    /// Failed verification; nothing was stored.
    Invalid(Invalid),
}

/// Something that happened to the ledger, announced after the batch commits
/// (spec/ledger.md, Settled details 10).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// An entry was applied for the first time.
    Applied {
        /// Entry hash.
        hash: EntryHash,
        /// API id.
        api_id: String,
        /// Position.
        pos: u64,
        /// Outcome.
        outcome: Outcome,
        /// Arrival sequence (for the changes feed).
        arrival: u64,
        /// Author.
        author: MemberKey,
        /// Seq in the author's log.
        seq: u64,
        /// The author's timestamp (informational).
        time_ms: u64,
        /// The entry's body, as stored: a listener that shows the entry needs no read of it.
        body: Arc<wire::Body>,
    },
    /// An entry failed verification and was not ingested.
    InvalidEntry {
        /// Its hash, when the header could be read.
        hash: Option<EntryHash>,
        /// Why.
        reason: Invalid,
    },
    /// Tail positions from `from_pos` on were rolled back to be re-applied.
    TailRolledBack {
        /// First rolled-back position.
        from_pos: u64,
        /// How many positions.
        count: u64,
    },
    /// A re-applied entry got a different outcome.
    OutcomeChanged {
        /// Entry hash.
        hash: EntryHash,
        /// API id.
        api_id: String,
        /// New position.
        pos: u64,
        /// Outcome before.
        before: Outcome,
        /// Outcome now.
        after: Outcome,
    },
    /// An entry was confirmed: its position and outcome are final.
    Confirmed {
        /// Entry hash.
        hash: EntryHash,
        /// API id.
        api_id: String,
        /// Position.
        pos: u64,
        /// Final outcome.
        outcome: Outcome,
    },
    /// Two entries by one author at one seq.
    ForkDetected {
        /// The equivocating author.
        author: MemberKey,
        /// The seq.
        seq: u64,
        /// The first entry seen.
        first: EntryHash,
        /// The conflicting one.
        second: EntryHash,
    },
}

/// The result of a local append, once committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// Entry hash.
    pub hash: EntryHash,
    /// API id.
    pub api_id: String,
    /// Position in this peer's order.
    pub pos: u64,
    /// Outcome (final if `confirmed`).
    pub outcome: Outcome,
    /// Whether the position and outcome are final.
    pub confirmed: bool,
    /// Its seq in this peer's log.
    pub seq: u64,
    /// Its timestamp (the writer's clock when it was appended).
    pub time_ms: u64,
    /// The ledger time it was judged by, as its order row holds it.
    pub ledger_time: u64,
}

/// What a committed batch did.
#[derive(Clone, Debug, Default)]
pub struct CommitReport {
    /// Events, in the order they happened.
    pub events: Vec<Event>,
    /// Results of the batch's appends, in append order.
    pub appended: Vec<AppendResult>,
}

/// An applied tail position, mirrored in memory.
#[derive(Clone, Debug)]
struct AppliedPos {
    hash: EntryHash,
    author: MemberKey,
    seq: u64,
    ledger_time: u64,
    time_sensitive: bool,
    changes_indexers: bool,
    outcome: Outcome,
    api_id: String,
}

#[derive(Default)]
struct Parked {
    entries: HashMap<EntryHash, VerifiedEntry>,
    waiting: HashMap<EntryHash, Vec<EntryHash>>,
    arrival: std::collections::VecDeque<EntryHash>,
}

/// In-memory state, always equal to what the last commit wrote (rebuilt after a failure).
struct State {
    pact: PactId,
    engine: EngineRow,
    digest: Digest,
    deps_cap: u32,
    epoch: Epoch,
    tail: Tail,
    applied: Vec<AppliedPos>,
    /// DAG tips: hash → (lamport, author, seq).
    heads: BTreeMap<EntryHash, (u64, MemberKey, u64)>,
    /// `(author, seq)` slots holding more than one entry.
    fork_slots: HashSet<(MemberKey, u64)>,
    parked: Parked,
    /// The lookup by hash: the hashes not yet swept into its table.
    hashes: HashIndex,
}

/// One pact's ledger.
pub struct Ledger {
    db: Arc<Database>,
    state: State,
    stale: bool,
    /// With a journal, batches are made durable by it and redb commits without flushing.
    journal: Option<Attached>,
    /// Journal bytes past which a batch checkpoints.
    journal_limit: u64,
    /// Why writing stopped: a journal or commit failure left the file and the memory unsure of
    /// each other, and only reopening (which replays the journal) is safe.
    poison: Poison,
}

/// A ledger's journal, as its writer sees it.
struct Attached {
    /// The files, shared with the [`Deferred`] records still to be flushed.
    shared: Arc<SharedJournal>,
    /// Where new records go: the file, and the generation it was started over under.
    target: (usize, u64),
    /// redb's file, when it is written behind ([`crate::behind`]).
    db: Option<DbSync>,
    /// The write-behind batch the next checkpoint waits for before it starts the other file
    /// over: the last checkpoint's. None: the checkpoint's own (after a replay, when both
    /// files may hold records that only this checkpoint makes durable).
    rotate_after: Option<u64>,
}

/// How a batch commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Commit {
    /// A durable redb commit (no journal).
    Durable,
    /// A redb commit without a flush, its journal record left to the caller to flush.
    Deferred,
    /// A durable redb commit that also moves the journal to the next generation.
    Checkpoint,
    /// A redb commit without a flush and no record (replaying the journal's own records).
    Replay,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("pact", &self.state.pact)
            .field("confirmed_len", &self.state.engine.confirmed_len)
            .field("applied_len", &self.state.engine.applied_len)
            .finish()
    }
}

impl Ledger {
    /// Creates a new pact in an empty database: writes, applies and confirms its genesis entry.
    /// `nonce` should be 32 random bytes (the daemon passes them; the simulator seeds them).
    pub fn create(
        db: Database,
        creator: &Signer,
        params: PactParams,
        now_ms: u64,
        nonce: [u8; 32],
    ) -> Result<Ledger> {
        let genesis = entry::sign(
            creator,
            Draft {
                pact: PactId::default(),
                seq: 0,
                prev: None,
                deps: Vec::new(),
                lamport: 1,
                epoch: 0,
                time_ms: now_ms,
                body: wire::Body {
                    ops: vec![wire::Op {
                        op: Some(wire::op::Op::CreatePact(wire::CreatePact {
                            params: Some(wire::PactParams {
                                name: params.name,
                                purpose: params.purpose,
                                claim_ttl_ms: params.claim_ttl_ms,
                                deps_cap: params.deps_cap,
                            }),
                            nonce: nonce.to_vec(),
                        })),
                    }],
                    display_name: None,
                },
            },
        );
        let pact = PactId(genesis.hash.0);
        let mut ledger = Ledger::join(db, pact)?;
        let (ingested, _) = ledger.batch(|b| b.ingest(&genesis.bytes))?;
        match ingested {
            Ingested::New(_) => Ok(ledger),
            other => Err(Error::Corrupt(format!("genesis not ingested: {other:?}"))),
        }
    }

    /// Opens a database for pact `pact`: a new, empty one (joining; entries arrive by sync,
    /// genesis first), or an existing ledger of that pact.
    pub fn join(db: Database, pact: PactId) -> Result<Ledger> {
        let txn = db.begin_write()?;
        {
            let mut state = txn.open_table(STATE)?;
            let existing = state.get(STATE_PACT_ID)?.map(|v| v.value().to_vec());
            match existing {
                Some(id) if id.as_slice() != pact.0.as_slice() => {
                    return Err(Error::Corrupt(format!(
                        "the ledger file holds pact {}, not {pact}",
                        hex::encode(&id)
                    )));
                }
                Some(_) => load::check_layout(&state)?,
                None => {
                    state.insert(STATE_PACT_ID, pact.0.as_slice())?;
                    state.insert(STATE_LAYOUT, LAYOUT_VERSION.to_le_bytes().as_slice())?;
                }
            }
        }
        // Create every table now, so readers of a ledger still waiting for its genesis work.
        LogTables::create_all(&txn)?;
        ViewTxn::create_all(&txn)?;
        txn.commit()?;
        Ledger::open(db)
    }

    /// Opens an existing ledger.
    pub fn open(db: Database) -> Result<Ledger> {
        let db = Arc::new(db);
        let state = load_state(&db)?;
        Ok(Ledger {
            db,
            state,
            stale: false,
            journal: None,
            journal_limit: journal::DEFAULT_LIMIT,
            poison: Poison::default(),
        })
    }

    /// The pact id.
    pub fn pact_id(&self) -> PactId {
        self.state.pact
    }

    /// The database, shared with readers.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// A consistent snapshot of the view for reading. Never blocks the writer.
    pub fn reader(&self) -> Result<ViewReader> {
        Ok(ViewReader::shared(self.snapshot()?, self.state.pact))
    }

    /// A read transaction with the hashes in memory that go with it, for readers.
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            txn: Arc::new(self.db.begin_read()?),
            pending: self.state.hashes.pending().clone(),
        })
    }

    /// Number of unconfirmed entries.
    pub fn tail_len(&self) -> usize {
        self.state.tail.len()
    }

    /// Positions below this are confirmed.
    pub fn confirmed_len(&self) -> u64 {
        self.state.engine.confirmed_len
    }

    /// The view digest as of the last commit.
    pub fn view_digest(&self) -> Digest {
        self.state.digest
    }

    /// The confirmed order digest as of the last commit.
    pub fn order_digest(&self) -> [u8; 32] {
        self.state
            .engine
            .order_digest
            .as_slice()
            .try_into()
            .unwrap_or([0; 32])
    }

    /// Whether `key` is the current epoch's (single) indexer.
    pub fn is_indexer(&self, key: &MemberKey) -> bool {
        self.state.epoch.indexers.contains(key)
    }

    /// Whether the tail holds entries that an anchor by the indexer would confirm.
    pub fn has_unconfirmed(&self) -> bool {
        !self.state.tail.is_empty()
    }

    /// Entries waiting in the causal buffer, and the hashes they wait for.
    pub fn parked(&self) -> (usize, Vec<EntryHash>) {
        let p = &self.state.parked;
        (p.entries.len(), p.waiting.keys().copied().collect())
    }

    /// Runs `f` in one write transaction, reconciles the order with the view, and commits
    /// durably (through the journal, when one is attached). If `f` or the commit fails, nothing
    /// of the batch is kept.
    pub fn batch<R>(
        &mut self,
        f: impl FnOnce(&mut Batch<'_, '_>) -> Result<R>,
    ) -> Result<(R, CommitReport)> {
        // The record is flushed before this returns; nobody sees the batch in between (the
        // ledger is borrowed, and the writer hands readers snapshots it took at flushes).
        let (r, report, deferred) = self.batch_deferred(f)?;
        if let Some(d) = deferred {
            Deferred::flush(vec![d])?;
        }
        Ok((r, report))
    }

    /// Like [`Ledger::batch`], but with a journal attached the batch is committed to redb
    /// (without a flush) before its journal record is written: the record comes back as a
    /// [`Deferred`], and the batch is durable only once [`Deferred::flush`] has written it.
    /// Until then nothing of the batch may be shown outside this ledger (answers, events, reads
    /// of snapshots taken since); the writer shows readers snapshots it took at flushes. The
    /// next batch can run meanwhile, so one batch's flush overlaps the next one's work. Deferred
    /// records must be flushed in the order their batches ran; after a failed flush the ledger
    /// takes no more writes. Without a journal this is [`Ledger::batch`] (no record).
    pub fn batch_deferred<R>(
        &mut self,
        f: impl FnOnce(&mut Batch<'_, '_>) -> Result<R>,
    ) -> Result<(R, CommitReport, Option<Deferred>)> {
        let commit = match &self.journal {
            None => Commit::Durable,
            Some(j) if j.len() >= self.journal_limit => Commit::Checkpoint,
            Some(_) => Commit::Deferred,
        };
        self.batch_as(commit, f)
    }

    fn batch_as<R>(
        &mut self,
        commit: Commit,
        f: impl FnOnce(&mut Batch<'_, '_>) -> Result<R>,
    ) -> Result<(R, CommitReport, Option<Deferred>)> {
        if let Some(why) = self.poison.get() {
            return Err(Error::Storage(why));
        }
        if self.stale {
            self.state = load_state(&self.db)?;
            self.stale = false;
        }
        self.stale = true;
        let durable = match (commit, &self.journal) {
            (Commit::Replay, _) | (Commit::Deferred, Some(_)) => false,
            (Commit::Durable | Commit::Checkpoint, _) | (_, None) => true,
        };
        let mut txn = self.db.begin_write()?;
        let (r, report, record, sweep) = {
            let log = LogTables::open(&txn, &self.state.hashes)?;
            let view = ViewTxn::open(&txn, self.state.digest)?;
            let mut b = Batch {
                st: &mut self.state,
                log,
                view,
                events: Vec::new(),
                appended: Vec::new(),
                before: HashMap::new(),
                fresh: HashMap::new(),
                unsigned: Vec::new(),
                sign_ahead: sign::SignAhead::default(),
                results: HashMap::new(),
                verifier: crate::entry::Verifier::default(),
                record: matches!(commit, Commit::Deferred | Commit::Checkpoint).then(Vec::new),
                durable,
            };
            let r = f(&mut b)?;
            let (report, record, sweep) = b.finish()?;
            (r, report, record, sweep)
        };
        let mut deferred = None;
        let failure = match (commit, &mut self.journal) {
            (Commit::Replay, _) => {
                txn.set_durability(redb::Durability::None)
                    .map_err(|e| Error::Storage(e.to_string()))?;
                txn.commit()?;
                None
            }
            (Commit::Durable, _) | (_, None) => {
                txn.commit()?;
                None
            }
            (Commit::Deferred, Some(journal)) => {
                txn.set_durability(redb::Durability::None)
                    .map_err(|e| Error::Storage(e.to_string()))?;
                // The caller flushes the record and shows the batch only then. A batch that
                // stored nothing needs no record. After a failed commit the memory can no
                // longer tell what a reopen will find.
                deferred = journal.deferred(record, &self.poison);
                txn.commit().err().map(Error::from)
            }
            (Commit::Checkpoint, Some(journal)) => {
                let next = journal.target.1 + 1;
                txn.open_table(STATE)?
                    .insert(STATE_JOURNAL_GEN, next.to_le_bytes().as_slice())?;
                // Records of batches before this one may still be flushing, to the file this
                // checkpoint leaves (their callers wait for that, not for this commit); the
                // checkpoint holds them too. This batch's own record goes to the new file: a
                // commit written behind is not on disk when it returns. Whether a failed
                // durable commit reached the disk is unknown, and with it which generation the
                // journal must write under.
                match txn.commit() {
                    Err(e) => Some(e.into()),
                    Ok(()) => match journal.rotate(next) {
                        Err(e) => Some(e),
                        Ok(()) => {
                            deferred = journal.deferred(record, &self.poison);
                            None
                        }
                    },
                }
            }
        };
        if let Some(e) = failure {
            self.poison
                .set(format!("the ledger's journal or commit failed ({e})"));
            return Err(e);
        }
        if let Some(step) = sweep {
            self.state.hashes.swept(step);
        }
        self.stale = false;
        Ok((r, report, deferred))
    }

    /// Attaches a journal (see [`crate::journal`]), two files used in turn: replays the records
    /// a crash left in them, checkpoints, and from then on makes batches durable through them.
    /// `db` is given when this ledger's redb file is written behind ([`crate::WriteBehind`]):
    /// the journal then keeps what a checkpoint holds until the checkpoint is on disk. Returns
    /// how many entries the replay stored. When the checkpoint fails (a full disk) the ledger
    /// still reads, but writes fail until it is reopened ([`Ledger::write_blocked`] says why).
    pub fn attach_journal(
        &mut self,
        first: impl redb::StorageBackend,
        second: impl redb::StorageBackend,
        db: Option<DbSync>,
    ) -> Result<usize> {
        if self.journal.is_some() {
            return Err(Error::Io("a journal is attached already".into()));
        }
        let generation = {
            let txn = self.db.begin_read()?;
            let state = txn.open_table(STATE)?;
            match state.get(STATE_JOURNAL_GEN)? {
                None => 0,
                Some(v) => u64::from_le_bytes(
                    v.value()
                        .try_into()
                        .map_err(|_| Error::Corrupt("bad journal generation row".into()))?,
                ),
            }
        };
        let (a, a_records) = Journal::read(Box::new(first))?;
        let (b, b_records) = Journal::read(Box::new(second))?;
        let gens = [a.generation(), b.generation()];
        if let [Some(x), Some(y)] = gens
            && x == y
        {
            return Err(Error::Corrupt(format!(
                "both journal files name generation {x}"
            )));
        }
        // redb's generation first, then the one after it (a checkpoint that had not reached
        // the disk); files of older generations are in redb's durable state.
        let mut records = [a_records, b_records];
        let mut replay = Vec::new();
        let mut active = 0;
        for want in [generation, generation + 1] {
            if let Some(i) = gens.iter().position(|g| *g == Some(want)) {
                replay.push(std::mem::take(&mut records[i]));
                active = i;
            }
        }
        // The journal is attached only after the replay: should the replay fail, closing the
        // ledger must not checkpoint (that would mark the records not yet replayed as done).
        let mut stored = 0;
        for record in replay.into_iter().flatten() {
            let (n, _, _) = self.batch_as(Commit::Replay, |b| {
                let mut n = 0;
                for bytes in &record {
                    match b.ingest(bytes)? {
                        Ingested::New(_) => n += 1,
                        Ingested::Duplicate(_) => {}
                        Ingested::Parked { hash, .. } => {
                            return Err(Error::Corrupt(format!(
                                "journal entry {hash} lacks entries it depends on"
                            )));
                        }
                        Ingested::Invalid(why) => {
                            return Err(Error::Corrupt(format!(
                                "a journal entry does not verify: {why}"
                            )));
                        }
                    }
                }
                Ok(n)
            })?;
            stored += n;
        }
        // The next generation is above every one either file names.
        let top = gens.into_iter().flatten().fold(generation, u64::max);
        self.journal = Some(Attached {
            shared: Arc::new(SharedJournal::new([a, b])),
            target: (active, top),
            db,
            rotate_after: None,
        });
        if let Err(e) = self.checkpoint() {
            // Disk full, say. What the journal held is readable (committed without a flush,
            // and still in the journal); writing waits for a reopen that can checkpoint.
            self.poison.set(format!(
                "the checkpoint after replaying the journal failed ({e})"
            ));
        }
        Ok(stored)
    }

    /// Why this ledger takes no more writes until it is reopened, if it does not.
    pub fn write_blocked(&self) -> Option<String> {
        self.poison.get()
    }

    /// Commits everything durably to redb and starts the journal over (a no-op without one).
    /// Closing the ledger does this too.
    pub fn checkpoint(&mut self) -> Result<()> {
        if self.journal.is_some() {
            self.batch_as(Commit::Checkpoint, |_| Ok(()))?;
        }
        Ok(())
    }

    /// Sets the journal size past which a batch checkpoints (default 1 MiB).
    pub fn set_journal_limit(&mut self, bytes: u64) {
        self.journal_limit = bytes;
    }

    /// Bytes of journal records not yet checkpointed (0 without a journal).
    pub fn journal_len(&self) -> u64 {
        self.journal.as_ref().map_or(0, Attached::len)
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        // A clean close leaves nothing to replay. On failure the journal still holds it all.
        let pending = self.journal.as_ref().is_some_and(|j| j.len() > 0);
        if pending {
            let _ = self.checkpoint();
        }
    }
}

impl Attached {
    /// Bytes of records in the file taking them (since the last checkpoint).
    fn len(&self) -> u64 {
        self.shared.lens[self.target.0].load(Ordering::Acquire)
    }

    /// The record of a batch that stored `record` (none when it stored nothing), for the file
    /// taking records now.
    fn deferred(&self, record: Option<Vec<Vec<u8>>>, poison: &Poison) -> Option<Deferred> {
        record.filter(|r| !r.is_empty()).map(|record| Deferred {
            record,
            journal: self.shared.clone(),
            target: self.target,
            poison: poison.clone(),
        })
    }

    /// After a checkpoint committed generation `generation`: starts the other file over under
    /// it, once the last checkpoint is on disk (so what the other file holds is), and sends new
    /// records there.
    fn rotate(&mut self, generation: u64) -> Result<()> {
        if let Some(db) = &self.db {
            let this = db.sealed();
            let after = self.rotate_after.unwrap_or(this);
            db.wait(after).map_err(|e| {
                Error::Storage(format!("flushing the ledger file behind failed: {e}"))
            })?;
            self.rotate_after = Some(this);
        }
        let next = 1 - self.target.0;
        self.shared.reset(next, generation)?;
        self.target = (next, generation);
        Ok(())
    }
}

/// A ledger's two journal files, shared with its [`Deferred`] records. Their lengths are
/// readable without a lock: the writer checks one at every batch, while the flusher holds a
/// file's lock through a write and its flush.
struct SharedJournal {
    files: [Mutex<Journal>; 2],
    /// [`Journal::records_len`] of each file as of its last append or reset.
    lens: [AtomicU64; 2],
}

impl SharedJournal {
    fn new([a, b]: [Journal; 2]) -> SharedJournal {
        let lens = [
            AtomicU64::new(a.records_len()),
            AtomicU64::new(b.records_len()),
        ];
        SharedJournal {
            files: [Mutex::new(a), Mutex::new(b)],
            lens,
        }
    }

    fn lock(&self, file: usize) -> Result<MutexGuard<'_, Journal>> {
        self.files[file]
            .lock()
            .map_err(|_| Error::Storage("the journal's lock was poisoned".into()))
    }

    /// Appends records to `file` if it is still at `generation`. If it was started over since,
    /// a checkpoint on disk holds them (see [`Attached::rotate`]), and nothing is written.
    fn append(&self, (file, generation): (usize, u64), records: &[&[Vec<u8>]]) -> Result<()> {
        let mut j = self.lock(file)?;
        if j.generation() != Some(generation) {
            return Ok(());
        }
        let written = j.append(records);
        self.lens[file].store(j.records_len(), Ordering::Release);
        written
    }

    fn reset(&self, file: usize, generation: u64) -> Result<()> {
        let mut j = self.lock(file)?;
        let reset = j.reset(generation);
        self.lens[file].store(j.records_len(), Ordering::Release);
        reset
    }
}

/// Why a ledger stopped taking writes, shared with its [`Deferred`] records.
#[derive(Clone, Debug, Default)]
struct Poison(Arc<Mutex<Option<String>>>);

impl Poison {
    fn get(&self) -> Option<String> {
        let why = match self.0.lock() {
            Ok(g) => g.clone(),
            Err(_) => Some("a thread panicked while writing the ledger".into()),
        };
        why.map(|w| format!("{w}; nothing more is written until the ledger is reopened"))
    }

    /// Records the first reason.
    fn set(&self, why: String) {
        if let Ok(mut g) = self.0.lock()
            && g.is_none()
        {
            *g = Some(why);
        }
    }
}

/// The journal record of a batch committed by [`Ledger::batch_deferred`]: the batch is durable,
/// and may be shown, once [`Deferred::flush`] has written it.
#[must_use = "the batch is not durable until its record is flushed"]
pub struct Deferred {
    record: Vec<Vec<u8>>,
    journal: Arc<SharedJournal>,
    /// The journal file and generation the record goes to.
    target: (usize, u64),
    poison: Poison,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Deferred({} entries)", self.record.len())
    }
}

impl Deferred {
    /// Writes the records of `batches` (one ledger's, in the order its batches ran) with one
    /// write and one flush per journal file (two when a checkpoint came between them, the
    /// older file first). After a failure the ledger takes no more writes until reopened: the
    /// records may or may not be on disk.
    pub fn flush(batches: Vec<Deferred>) -> Result<()> {
        let Some(first) = batches.first() else {
            return Ok(());
        };
        if let Some(why) = first.poison.get() {
            return Err(Error::Storage(why));
        }
        for run in batches.chunk_by(|a, b| a.target == b.target) {
            let records: Vec<&[Vec<u8>]> = run.iter().map(|d| d.record.as_slice()).collect();
            if let Err(e) = first.journal.append(run[0].target, &records) {
                first
                    .poison
                    .set(format!("writing the ledger's journal failed ({e})"));
                return Err(e);
            }
        }
        Ok(())
    }
}

struct LogTables<'t> {
    entries: Table<'t, ([u8; 32], u64), &'static [u8]>,
    index: IndexTables<'t>,
    branches: LazyTable<'t, [u8; 32], &'static [u8]>,
    forks: LazyTable<'t, ([u8; 32], u64), [u8; 32]>,
    heads: Table<'t, [u8; 32], u64>,
    arrival: Table<'t, u64, [u8; 32]>,
    state: Table<'t, &'static str, &'static [u8]>,
}

impl<'t> LogTables<'t> {
    fn open(txn: &'t WriteTransaction, index: &HashIndex) -> Result<Self> {
        Ok(LogTables {
            entries: txn.open_table(ENTRIES)?,
            index: IndexTables::open(txn, index)?,
            branches: LazyTable::new(txn, BRANCHES),
            forks: LazyTable::new(txn, FORKS),
            heads: txn.open_table(HEADS)?,
            arrival: txn.open_table(ARRIVAL)?,
            state: txn.open_table(STATE)?,
        })
    }
}

impl LogTables<'_> {
    /// Creates every log table (batches open some only when they need them).
    fn create_all(txn: &WriteTransaction) -> Result<()> {
        let t = LogTables::open(txn, &HashIndex::default())?;
        t.index.parts()?;
        t.branches.get()?;
        t.forks.get()?;
        Ok(())
    }

    /// Slot and stored bytes of a stored entry, by hash.
    fn by_hash(&self, hash: &EntryHash) -> Result<Option<(MemberKey, u64, Vec<u8>)>> {
        bytes_by_hash(
            &self.entries,
            self.index.parts()?,
            self.branches.get()?,
            hash,
        )
    }
}

/// A stored entry, decoded without re-verifying (it was verified at ingest).
struct Stored {
    header: wire::EntryHeader,
    body: wire::Body,
}

fn decode_stored(bytes: &[u8]) -> Result<Stored> {
    let corrupt = || Error::Corrupt("stored entry does not decode".into());
    let signed = wire::SignedEntry::decode(bytes).map_err(|_| corrupt())?;
    let header = wire::EntryHeader::decode(signed.header.as_slice()).map_err(|_| corrupt())?;
    let body = wire::Body::decode(signed.body.as_slice()).map_err(|_| corrupt())?;
    Ok(Stored { header, body })
}

fn key_of(bytes: &[u8]) -> Result<MemberKey> {
    MemberKey::from_slice(bytes).ok_or_else(|| Error::Corrupt("stored key".into()))
}

fn hash_of(bytes: &[u8]) -> Result<EntryHash> {
    EntryHash::from_slice(bytes).ok_or_else(|| Error::Corrupt("stored hash".into()))
}

fn node_of(header: &wire::EntryHeader) -> Result<Node> {
    let mut parents = Vec::with_capacity(header.deps.len() + 1);
    if !header.prev.is_empty() {
        parents.push(hash_of(&header.prev)?);
    }
    for d in &header.deps {
        parents.push(hash_of(&d.hash)?);
    }
    Ok(Node {
        author: key_of(&header.author)?,
        seq: header.seq,
        lamport: header.lamport,
        time_ms: header.time_ms,
        parents,
    })
}

fn genesis_params(body: &wire::Body) -> Option<&wire::PactParams> {
    match body.ops.as_slice() {
        [
            wire::Op {
                op: Some(wire::op::Op::CreatePact(c)),
            },
        ] => c.params.as_ref(),
        _ => None,
    }
}

fn effective_deps_cap(cap: u32) -> u32 {
    if cap == 0 {
        DEFAULT_DEPS_CAP
    } else {
        cap.min(DEFAULT_DEPS_CAP)
    }
}

/// One write transaction's worth of ingests and appends. See [`Ledger::batch`].
pub struct Batch<'a, 't> {
    st: &'a mut State,
    log: LogTables<'t>,
    view: ViewTxn<'t>,
    events: Vec<Event>,
    /// This batch's appends: hash, seq and timestamp.
    appended: Vec<(EntryHash, u64, u64)>,
    /// Outcomes of rolled-back entries, to tell whether re-applying changed them.
    before: HashMap<EntryHash, Outcome>,
    /// Entries stored by this batch, decoded: applied from memory, and the first apply of each
    /// assigns its arrival number.
    fresh: HashMap<EntryHash, Fresh>,
    /// This batch's appends, stored but not yet signed: hash, author and seq.
    unsigned: Vec<(EntryHash, MemberKey, u64)>,
    /// Their signing, ahead of the end of the batch.
    sign_ahead: sign::SignAhead,
    /// Where and how this batch last applied each entry (its ledger time as the order row
    /// holds it, also after a confirmation rewrote it).
    results: HashMap<EntryHash, Applied>,
    /// Checks entries ingested as bytes, each author's key decoded once per batch.
    verifier: crate::entry::Verifier,
    /// With a journal: the entries this batch stored, in order (`None` for a local append,
    /// whose bytes exist once signed).
    record: Option<Vec<Option<Vec<u8>>>>,
    /// Whether the batch commits durably: it then ends a slice of the hash sweep
    /// ([`crate::hashes`]); other batches do a share of it.
    durable: bool,
}

/// Where and how the current batch last applied an entry.
struct Applied {
    pos: u64,
    outcome: Outcome,
    api_id: String,
    ledger_time: u64,
}

/// An entry stored by the current batch.
struct Fresh {
    body: Arc<wire::Body>,
    /// Whether it has been applied (and given its arrival number) yet.
    applied: bool,
}
