//! [`Ledger`]: one pact's log store, order, finality and view in one redb database.
//!
//! All writes happen in a [`Batch`]: one redb write transaction in which entries are ingested
//! (from peers) or appended (locally), after which the order is reconciled with the view and the
//! transaction commits durably. Reconciling finds the committed anchors, confirms their segments,
//! and makes the applied order equal the desired order by rolling the tail back to the first
//! difference and re-applying from there. The in-memory state (the tail DAG, heads, the causal
//! buffer) is rebuilt from disk whenever a batch fails, so memory never runs ahead of the file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prost::Message as _;
use redb::{Database, ReadableDatabase, ReadableTable, Table, WriteTransaction};

use crate::code::{Code, Outcome};
use crate::entry::{self, DEFAULT_DEPS_CAP, Draft, EntryRef, VerifiedEntry};
use crate::error::{Error, Invalid, Result};
use crate::keys::{EntryHash, MemberKey, PactId, Signer};
use crate::order::{Epoch, Finalizer, Node, SingleIndexer, Tail};
use crate::view::apply::{ApplyCtx, apply_entry, check_body};
use crate::view::read::ViewReader;
use crate::view::tables::{
    ARRIVAL, ARRIVAL_OF, BY_AUTHOR, ENTRIES, EngineRow, FORKS, HEADS, LAYOUT_VERSION, MemberRow,
    OrderRow, ResultRow, STATE, STATE_ENGINE, STATE_LAYOUT, STATE_PACT_ID, ViewTable, pos_key,
};
use crate::view::txn::{Digest, ViewTxn};
use crate::wire;

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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    parked: Parked,
}

/// One pact's ledger.
pub struct Ledger {
    db: Arc<Database>,
    state: State,
    stale: bool,
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
                Some(_) => {}
                None => {
                    state.insert(STATE_PACT_ID, pact.0.as_slice())?;
                    state.insert(STATE_LAYOUT, LAYOUT_VERSION.to_le_bytes().as_slice())?;
                }
            }
        }
        // Create every table now, so readers of a ledger still waiting for its genesis work.
        LogTables::open(&txn)?;
        ViewTxn::open(&txn, Digest::default())?;
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
        Ok(ViewReader::new(self.db.begin_read()?, self.state.pact))
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
    /// durably. If `f` or the commit fails, nothing of the batch is kept.
    pub fn batch<R>(
        &mut self,
        f: impl FnOnce(&mut Batch<'_, '_>) -> Result<R>,
    ) -> Result<(R, CommitReport)> {
        if self.stale {
            self.state = load_state(&self.db)?;
            self.stale = false;
        }
        self.stale = true;
        let txn = self.db.begin_write()?;
        let (r, report) = {
            let log = LogTables::open(&txn)?;
            let view = ViewTxn::open(&txn, self.state.digest)?;
            let mut b = Batch {
                st: &mut self.state,
                log,
                view,
                events: Vec::new(),
                appended: Vec::new(),
                before: HashMap::new(),
            };
            let r = f(&mut b)?;
            let report = b.finish()?;
            (r, report)
        };
        txn.commit()?;
        self.stale = false;
        Ok((r, report))
    }
}

struct LogTables<'t> {
    entries: Table<'t, [u8; 32], &'static [u8]>,
    by_author: Table<'t, ([u8; 32], u64), [u8; 32]>,
    forks: Table<'t, ([u8; 32], u64), [u8; 32]>,
    heads: Table<'t, [u8; 32], u64>,
    arrival: Table<'t, u64, [u8; 32]>,
    arrival_of: Table<'t, [u8; 32], u64>,
    state: Table<'t, &'static str, &'static [u8]>,
}

impl<'t> LogTables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self> {
        Ok(LogTables {
            entries: txn.open_table(ENTRIES)?,
            by_author: txn.open_table(BY_AUTHOR)?,
            forks: txn.open_table(FORKS)?,
            heads: txn.open_table(HEADS)?,
            arrival: txn.open_table(ARRIVAL)?,
            arrival_of: txn.open_table(ARRIVAL_OF)?,
            state: txn.open_table(STATE)?,
        })
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

/// Rebuilds the in-memory state from the database.
fn load_state(db: &Database) -> Result<State> {
    let txn = db.begin_read()?;
    let state_t = txn.open_table(STATE).map_err(|e| match e {
        redb::TableError::TableDoesNotExist(_) => {
            Error::Corrupt("not an OpenPact ledger (no state table)".into())
        }
        e => e.into(),
    })?;
    let pact = state_t
        .get(STATE_PACT_ID)?
        .and_then(|v| PactId::from_slice(v.value()))
        .ok_or_else(|| Error::Corrupt("no pact id in the ledger file".into()))?;
    let layout = state_t
        .get(STATE_LAYOUT)?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map(u32::from_le_bytes);
    if layout != Some(LAYOUT_VERSION) {
        return Err(Error::Corrupt(format!(
            "ledger layout {layout:?}, this build reads {LAYOUT_VERSION}"
        )));
    }
    let engine = match state_t.get(STATE_ENGINE)? {
        Some(v) => EngineRow::decode(v.value())
            .map_err(|_| Error::Corrupt("engine state does not decode".into()))?,
        None => EngineRow {
            order_digest: vec![0; 32],
            view_digest: vec![0; 32],
            ..Default::default()
        },
    };
    let digest = Digest(
        engine
            .view_digest
            .as_slice()
            .try_into()
            .map_err(|_| Error::Corrupt("view digest".into()))?,
    );
    let mut st = State {
        pact,
        digest,
        deps_cap: DEFAULT_DEPS_CAP,
        epoch: Epoch {
            number: engine.epoch,
            indexers: Vec::new(),
            start: None,
        },
        tail: Tail::default(),
        applied: Vec::new(),
        heads: BTreeMap::new(),
        parked: Parked::default(),
        engine,
    };
    if !st.engine.indexer.is_empty() {
        st.epoch.indexers = vec![key_of(&st.engine.indexer)?];
    }
    if !st.engine.epoch_start.is_empty() {
        st.epoch.start = Some(hash_of(&st.engine.epoch_start)?);
    }
    let Ok(entries) = txn.open_table(ENTRIES) else {
        return Ok(st); // nothing ingested yet
    };
    if let Some(g) = entries.get(pact.0)? {
        let g = decode_stored(g.value())?;
        if let Some(p) = genesis_params(&g.body) {
            st.deps_cap = effective_deps_cap(p.deps_cap);
        }
        if st.epoch.indexers.is_empty() {
            st.epoch.indexers = vec![key_of(&g.header.author)?];
        }
    }
    let heads = txn.open_table(HEADS)?;
    for r in heads.iter()? {
        let (h, lamport) = r?;
        let bytes = entries
            .get(h.value())?
            .ok_or_else(|| Error::Corrupt("head entry missing".into()))?;
        let header = decode_stored(bytes.value())?.header;
        st.heads.insert(
            EntryHash(h.value()),
            (lamport.value(), key_of(&header.author)?, header.seq),
        );
    }
    let order = txn.open_table(ViewTable::Order.def())?;
    let results = txn.open_table(ViewTable::Results.def())?;
    for r in order.range::<&[u8]>(pos_key(st.engine.confirmed_len).as_slice()..)? {
        let (_, v) = r?;
        let row = OrderRow::decode(v.value()).map_err(|_| Error::Corrupt("order row".into()))?;
        let hash = hash_of(&row.hash)?;
        let bytes = entries
            .get(hash.0)?
            .ok_or_else(|| Error::Corrupt("ordered entry missing".into()))?;
        st.tail
            .insert(hash, node_of(&decode_stored(bytes.value())?.header)?);
        let res = results
            .get(hash.0.as_slice())?
            .ok_or_else(|| Error::Corrupt("result row missing".into()))?;
        let res =
            ResultRow::decode(res.value()).map_err(|_| Error::Corrupt("result row".into()))?;
        st.applied.push(AppliedPos {
            hash,
            ledger_time: row.ledger_time,
            time_sensitive: row.time_sensitive,
            changes_indexers: row.changes_indexers,
            outcome: Outcome::from_u16(res.outcome as u16)
                .ok_or_else(|| Error::Corrupt("outcome".into()))?,
            api_id: res.api_id,
        });
    }
    if st.applied.len() as u64 != st.engine.applied_len - st.engine.confirmed_len {
        return Err(Error::Corrupt(
            "order rows do not match the engine state".into(),
        ));
    }
    Ok(st)
}

/// One write transaction's worth of ingests and appends. See [`Ledger::batch`].
pub struct Batch<'a, 't> {
    st: &'a mut State,
    log: LogTables<'t>,
    view: ViewTxn<'t>,
    events: Vec<Event>,
    appended: Vec<EntryHash>,
    /// Outcomes of rolled-back entries, to tell whether re-applying changed them.
    before: HashMap<EntryHash, Outcome>,
}

impl Batch<'_, '_> {
    /// Ingests an entry received from a peer, as its exact bytes. Invalid entries are reported
    /// (and announced), not stored; an `Err` is a storage failure.
    pub fn ingest(&mut self, bytes: &[u8]) -> Result<Ingested> {
        let e = match entry::verify(bytes, &self.st.pact, self.st.deps_cap) {
            Ok(e) => e,
            Err(reason) => {
                let hash = wire::SignedEntry::decode(bytes)
                    .ok()
                    .map(|s| entry::entry_hash(&s.header));
                self.events.push(Event::InvalidEntry {
                    hash,
                    reason: reason.clone(),
                });
                return Ok(Ingested::Invalid(reason));
            }
        };
        let hash = e.hash;
        if self.log.entries.get(hash.0)?.is_some() || self.st.parked.entries.contains_key(&hash) {
            return Ok(Ingested::Duplicate(hash));
        }
        let first = self.insert_or_park(e)?;
        // Release entries that waited for this one, transitively.
        let mut ready = vec![hash];
        while let Some(h) = ready.pop() {
            let Some(waiters) = self.st.parked.waiting.remove(&h) else {
                continue;
            };
            for w in waiters {
                let Some(pe) = self.st.parked.entries.remove(&w) else {
                    continue;
                };
                if let Ingested::New(nh) = self.insert_or_park(pe)? {
                    ready.push(nh);
                }
            }
        }
        Ok(first)
    }

    /// Looks up lamport, author and seq of a known entry.
    fn known(&self, h: &EntryHash) -> Result<Option<(u64, MemberKey, u64)>> {
        if let Some(n) = self.st.tail.get(h) {
            return Ok(Some((n.lamport, n.author, n.seq)));
        }
        match self.log.entries.get(h.0)? {
            None => Ok(None),
            Some(b) => {
                let header = decode_stored(b.value())?.header;
                Ok(Some((header.lamport, key_of(&header.author)?, header.seq)))
            }
        }
    }

    fn insert_or_park(&mut self, e: VerifiedEntry) -> Result<Ingested> {
        let hash = e.hash;
        let h = &e.header;
        // A genesis entry that verified is this pact's genesis (it hashes to the pact id).
        if !e.is_genesis() {
            if h.deps.len() > self.st.deps_cap as usize {
                return self.invalid(Some(hash), Invalid::BadDeps);
            }
            let mut missing = Vec::new();
            let mut max_lamport = 0;
            if let Some(prev) = h.prev {
                match self.known(&prev)? {
                    None => missing.push(prev),
                    Some((l, author, seq)) => {
                        if author != h.author || seq + 1 != h.seq {
                            return self.invalid(Some(hash), Invalid::BrokenChain);
                        }
                        max_lamport = l;
                    }
                }
            }
            for d in &h.deps {
                match self.known(&d.hash)? {
                    None => missing.push(d.hash),
                    Some((l, author, seq)) => {
                        if author != d.author || seq != d.seq {
                            return self.invalid(Some(hash), Invalid::BadDep);
                        }
                        max_lamport = max_lamport.max(l);
                    }
                }
            }
            if !missing.is_empty() {
                self.park(e, &missing);
                return Ok(Ingested::Parked { hash, missing });
            }
            if h.lamport != max_lamport + 1 {
                return self.invalid(
                    Some(hash),
                    Invalid::Lamport {
                        got: h.lamport,
                        expected: max_lamport + 1,
                    },
                );
            }
        }
        self.store(&e)?;
        Ok(Ingested::New(hash))
    }

    fn invalid(&mut self, hash: Option<EntryHash>, reason: Invalid) -> Result<Ingested> {
        self.events.push(Event::InvalidEntry {
            hash,
            reason: reason.clone(),
        });
        Ok(Ingested::Invalid(reason))
    }

    fn park(&mut self, e: VerifiedEntry, missing: &[EntryHash]) {
        let p = &mut self.st.parked;
        for m in missing {
            p.waiting.entry(*m).or_default().push(e.hash);
        }
        p.arrival.push_back(e.hash);
        p.entries.insert(e.hash, e);
        while p.entries.len() > PARKED_CAP {
            let Some(old) = p.arrival.pop_front() else {
                break;
            };
            p.entries.remove(&old);
        }
    }

    /// Stores a chain-checked entry and adds it to the tail.
    fn store(&mut self, e: &VerifiedEntry) -> Result<()> {
        let h = &e.header;
        self.log.entries.insert(e.hash.0, e.bytes.as_slice())?;
        let slot = (h.author.0, h.seq);
        let first = self.log.by_author.get(slot)?.map(|v| EntryHash(v.value()));
        match first {
            None => {
                self.log.by_author.insert(slot, e.hash.0)?;
            }
            Some(first) if first != e.hash => {
                if self.log.forks.get(slot)?.is_none() {
                    self.log.forks.insert(slot, e.hash.0)?;
                }
                self.events.push(Event::ForkDetected {
                    author: h.author,
                    seq: h.seq,
                    first,
                    second: e.hash,
                });
            }
            Some(_) => {}
        }
        let mut parents = Vec::with_capacity(h.deps.len() + 1);
        parents.extend(h.prev);
        parents.extend(h.deps.iter().map(|d| d.hash));
        for p in &parents {
            if self.st.heads.remove(p).is_some() {
                self.log.heads.remove(p.0)?;
            }
        }
        self.st.heads.insert(e.hash, (h.lamport, h.author, h.seq));
        self.log.heads.insert(e.hash.0, h.lamport)?;
        if e.is_genesis() {
            if let Some(p) = genesis_params(&e.body) {
                self.st.deps_cap = effective_deps_cap(p.deps_cap);
            }
            self.st.epoch = Epoch {
                number: 0,
                indexers: vec![h.author],
                start: None,
            };
            self.st.engine.indexer = h.author.0.to_vec();
        }
        self.st.tail.insert(
            e.hash,
            Node {
                author: h.author,
                seq: h.seq,
                lamport: h.lamport,
                time_ms: h.time_ms,
                parents,
            },
        );
        Ok(())
    }

    /// Appends a local entry by `signer` with the given body. Refused (changing nothing) when
    /// the signer is not an active member or the body breaks its schema.
    pub fn append(&mut self, signer: &Signer, body: wire::Body, now_ms: u64) -> Result<EntryHash> {
        let author = signer.public();
        if self.st.epoch.indexers.is_empty() {
            return Err(Error::refused(
                Code::PactNotReady,
                "The pact's genesis entry has not arrived yet.",
            ));
        }
        let member: Option<MemberRow> = self.view.get_row(ViewTable::Members, &author.0)?;
        if !member.is_some_and(|m| m.active) {
            return Err(Error::refused(
                Code::NotAMember,
                "This peer is not a member of the pact yet. Redeem an invite first.",
            ));
        }
        if let Err(code) = check_body(&body) {
            return Err(Error::refused(
                code,
                format!("entry validation failed: {}", code.as_str()),
            ));
        }
        let own = self
            .log
            .by_author
            .range((author.0, 0)..=(author.0, u64::MAX))?
            .next_back()
            .transpose()?
            .map(|(k, v)| (k.value().1, EntryHash(v.value())));
        let (seq, prev) = match own {
            Some((s, h)) => (s + 1, Some(h)),
            None => (0, None),
        };
        let mut max_lamport = match &prev {
            Some(p) => self.known(p)?.map_or(0, |k| k.0),
            None => 0,
        };
        // Deps: other authors' heads, most recent first, up to the cap.
        let mut heads: Vec<(u64, EntryHash, MemberKey, u64)> = self
            .st
            .heads
            .iter()
            .filter(|(_, (_, a, _))| *a != author)
            .map(|(h, (l, a, s))| (*l, *h, *a, *s))
            .collect();
        heads.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        heads.truncate(self.st.deps_cap as usize);
        let mut deps = Vec::with_capacity(heads.len());
        for (l, hash, a, seq) in heads {
            deps.push(EntryRef {
                author: a,
                seq,
                hash,
            });
            max_lamport = max_lamport.max(l);
        }
        let e = entry::sign(
            signer,
            Draft {
                pact: self.st.pact,
                seq,
                prev,
                deps,
                lamport: max_lamport + 1,
                epoch: self.st.epoch.number,
                time_ms: now_ms,
                body,
            },
        );
        self.store(&e)?;
        self.appended.push(e.hash);
        Ok(e.hash)
    }

    /// Whether unconfirmed entries are waiting (an anchor by the indexer would confirm them).
    pub fn has_unconfirmed(&self) -> bool {
        !self.st.tail.is_empty()
    }

    /// Reconciles, records the engine state, and builds the report.
    fn finish(mut self) -> Result<CommitReport> {
        self.reconcile()?;
        let st = &mut *self.st;
        st.engine.view_digest = self.view.digest().0.to_vec();
        st.digest = self.view.digest();
        self.log
            .state
            .insert(STATE_ENGINE, st.engine.encode_to_vec().as_slice())?;
        let mut appended = Vec::with_capacity(self.appended.len());
        for h in &self.appended {
            let row: ResultRow = self
                .view
                .get_row(ViewTable::Results, &h.0)?
                .ok_or_else(|| Error::Corrupt("appended entry has no result".into()))?;
            appended.push(AppendResult {
                hash: *h,
                api_id: row.api_id,
                pos: row.pos,
                outcome: Outcome::from_u16(row.outcome as u16)
                    .ok_or_else(|| Error::Corrupt("outcome".into()))?,
                confirmed: row.pos < st.engine.confirmed_len,
            });
        }
        Ok(CommitReport {
            events: self.events,
            appended,
        })
    }

    fn reconcile(&mut self) -> Result<()> {
        while let Some(anchor) = SingleIndexer.next_anchor(&self.st.tail, &self.st.epoch) {
            let segment = self.st.tail.causal_past(&anchor);
            let anchor_time = self.st.tail.get(&anchor).map_or(0, |n| n.time_ms);
            let ledger_time = self.st.engine.ledger_time.max(anchor_time);
            self.align(&segment, ledger_time, true)?;
            self.confirm(segment.len(), anchor, ledger_time)?;
        }
        let desired: Vec<EntryHash> = self.st.tail.in_order().collect();
        let ledger_time = self.st.engine.ledger_time;
        self.align(&desired, ledger_time, false)
    }

    /// Makes the positions from `confirmed_len` on hold `desired`, applied with `ledger_time`:
    /// keeps the longest matching prefix, rolls back everything after it, applies the rest.
    /// With `confirming`, `desired` is a segment about to be confirmed (no undo rows kept) and
    /// applied positions after it may stay.
    fn align(&mut self, desired: &[EntryHash], ledger_time: u64, confirming: bool) -> Result<()> {
        let base = self.st.engine.confirmed_len;
        let applied = &self.st.applied;
        let k = desired
            .iter()
            .zip(applied.iter())
            .take_while(|(d, a)| {
                **d == a.hash && (!a.time_sensitive || a.ledger_time == ledger_time)
            })
            .count();
        if k < desired.len() || (!confirming && applied.len() > k) {
            self.rollback_to(base + k as u64)?;
        }
        for (j, hash) in desired.iter().enumerate().skip(k) {
            self.apply_at(base + j as u64, *hash, ledger_time, !confirming)?;
        }
        Ok(())
    }

    /// Rolls back applied positions from the end down to `pos`.
    fn rollback_to(&mut self, pos: u64) -> Result<()> {
        let end = self.st.engine.applied_len;
        if pos >= end {
            return Ok(());
        }
        for p in (pos..end).rev() {
            self.view.rollback_position(p)?;
        }
        let keep = (pos - self.st.engine.confirmed_len) as usize;
        for a in self.st.applied.drain(keep..) {
            self.before.entry(a.hash).or_insert(a.outcome);
        }
        self.st.engine.applied_len = pos;
        self.events.push(Event::TailRolledBack {
            from_pos: pos,
            count: end - pos,
        });
        Ok(())
    }

    fn apply_at(
        &mut self,
        pos: u64,
        hash: EntryHash,
        ledger_time: u64,
        persist: bool,
    ) -> Result<()> {
        debug_assert_eq!(pos, self.st.engine.applied_len);
        let stored = {
            let b = self
                .log
                .entries
                .get(hash.0)?
                .ok_or_else(|| Error::Corrupt("entry to apply is missing".into()))?;
            decode_stored(b.value())?
        };
        let author = key_of(&stored.header.author)?;
        let seq = stored.header.seq;
        let genesis = genesis_params(&stored.body).is_some() && seq == 0;
        self.view.begin_entry(pos, persist);
        let api_id = if genesis {
            String::new()
        } else {
            let base = crate::keys::api_id(&author, seq);
            let id = match self.view.get(ViewTable::ApiIds, base.as_bytes())? {
                Some(h) if h.as_slice() != hash.0.as_slice() => {
                    format!("{base}~{}", hex::encode(&hash.0[..2]))
                }
                _ => base,
            };
            self.view.put(ViewTable::ApiIds, id.as_bytes(), &hash.0)?;
            id
        };
        let ctx = ApplyCtx::new(
            pos,
            hash,
            author,
            seq,
            &api_id,
            self.st.pact,
            &stored.body,
            ledger_time,
        );
        let applied = apply_entry(&mut self.view, &ctx)?;
        let outcome = applied.outcome;
        let time_sensitive = ctx.time_sensitive();
        let changes_indexers = applied.new_indexers.is_some();
        self.view.put_row(
            ViewTable::Results,
            &hash.0,
            &ResultRow {
                pos,
                outcome: outcome.to_u16() as u32,
                api_id: api_id.clone(),
            },
        )?;
        self.view.put_row(
            ViewTable::Order,
            &pos_key(pos),
            &OrderRow {
                hash: hash.0.to_vec(),
                ledger_time,
                time_sensitive,
                changes_indexers,
            },
        )?;
        self.view.end_entry()?;
        self.st.engine.applied_len = pos + 1;
        if self.log.arrival_of.get(hash.0)?.is_none() {
            let arrival = self.st.engine.next_arrival;
            self.st.engine.next_arrival += 1;
            self.log.arrival.insert(arrival, hash.0)?;
            self.log.arrival_of.insert(hash.0, arrival)?;
            self.events.push(Event::Applied {
                hash,
                api_id: api_id.clone(),
                pos,
                outcome,
                arrival,
            });
        } else if let Some(before) = self.before.get(&hash)
            && *before != outcome
        {
            self.events.push(Event::OutcomeChanged {
                hash,
                api_id: api_id.clone(),
                pos,
                before: *before,
                after: outcome,
            });
            self.before.insert(hash, outcome);
        }
        self.st.applied.push(AppliedPos {
            hash,
            ledger_time,
            time_sensitive,
            changes_indexers,
            outcome,
            api_id,
        });
        Ok(())
    }

    /// Confirms the first `n` applied tail positions: the segment of `anchor`.
    fn confirm(&mut self, n: usize, anchor: EntryHash, ledger_time: u64) -> Result<()> {
        let base = self.st.engine.confirmed_len;
        let mut digest: [u8; 32] = self
            .st
            .engine
            .order_digest
            .as_slice()
            .try_into()
            .unwrap_or([0; 32]);
        let mut new_indexers = None;
        for (i, a) in self.st.applied.drain(..n).enumerate() {
            digest = blake3::Hasher::new_derive_key(ORDER_DIGEST_CONTEXT)
                .update(&digest)
                .update(&a.hash.0)
                .finalize()
                .into();
            self.st.tail.remove(&a.hash);
            if a.changes_indexers {
                new_indexers = Some(a.hash);
            }
            self.events.push(Event::Confirmed {
                hash: a.hash,
                api_id: a.api_id,
                pos: base + i as u64,
                outcome: a.outcome,
            });
        }
        let e = &mut self.st.engine;
        e.order_digest = digest.to_vec();
        e.confirmed_len = base + n as u64;
        e.ledger_time = ledger_time;
        e.anchors += 1;
        e.last_anchor = anchor.0.to_vec();
        self.view.forget_undo_below(e.confirmed_len)?;
        if let Some(changer) = new_indexers {
            let keys = self.indexers_set_by(&changer)?;
            let e = &mut self.st.engine;
            e.epoch += 1;
            e.epoch_start = anchor.0.to_vec();
            e.indexer = keys.first().map(|k| k.0.to_vec()).unwrap_or_default();
            self.st.epoch = Epoch {
                number: e.epoch,
                indexers: keys,
                start: Some(anchor),
            };
        }
        Ok(())
    }

    /// The indexer set named by the (applied) `SetIndexers` op of a stored entry.
    fn indexers_set_by(&self, hash: &EntryHash) -> Result<Vec<MemberKey>> {
        let b = self
            .log
            .entries
            .get(hash.0)?
            .ok_or_else(|| Error::Corrupt("indexer change entry missing".into()))?;
        let body = decode_stored(b.value())?.body;
        let mut keys = Vec::new();
        for op in body.ops {
            if let Some(wire::op::Op::SetIndexers(s)) = op.op {
                keys = s.keys.iter().map(|k| key_of(k)).collect::<Result<_>>()?;
            }
        }
        keys.sort();
        Ok(keys)
    }
}
