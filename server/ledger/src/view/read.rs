//! The read side of the view: everything the API shows, answered from one redb read transaction.
//!
//! A [`ViewReader`] holds an MVCC snapshot, so a read never waits for the writer and never sees a
//! half-applied reconcile. Every list walks one index range in position order and stops after
//! `limit + 1` rows (the extra row makes `has_more` exact); point reads are a few key lookups.
//! Only the reads whose answer *is* a whole table (members, invites, forks, the debug order and
//! the canonical dump) iterate one.
//!
//! Lists are paged by opaque cursors `<kind>/<position>/<api id>`. A cursor carries the identity
//! of the last row returned, not just its position: if the tail reordered between two pages, the
//! next page continues after wherever that entry is now (ledger.md, Settled details 13).

mod pact;
mod rows;
mod sync;
mod tasks;
#[cfg(test)]
mod tests;

use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, TableHandle};

pub use self::pact::{InviteView, MemberView, PactView};
/// The cursor a list gives a row: `<kind>/<position>/<api id>`.
pub use self::rows::format_cursor as format_list_cursor;
use self::rows::{Entries, Rows, decode, format_cursor, parse_cursor};
pub use self::sync::ForkView;
pub use self::tasks::{Claimer, TaskView};
use crate::code::{Code, Outcome};
use crate::error::{Error, Result};
use crate::hashes::{HashIndex, Pending};
use crate::keys::{EntryHash, MemberKey, PactId};
use crate::view::tables::{
    ARRIVAL, BRANCHES, ENTRIES, EngineRow, FORKS, Kind, OrderRow, STATE, STATE_ENGINE, SkillFormat,
    ViewTable, lp, pos_key, prefixed_pos,
};
use crate::view::txn::Digest;
use crate::wire;

/// A read transaction and the hashes in memory that go with it ([`crate::hashes`]).
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub(crate) txn: std::sync::Arc<ReadTransaction>,
    pub(crate) pending: Pending,
}

/// Largest page any list returns.
pub const MAX_LIMIT: usize = 1000;
/// Rows the changes feed may skip (system entries, rejected entries, other kinds) in one call
/// before it returns what it has, with `has_more` set and the cursor past the skipped rows.
pub const CHANGES_SKIP_BUDGET: usize = 4096;

/// BLAKE3 derive-key context of [`ViewReader::canonical_dump`].
const DUMP_CONTEXT: &str = "openpact 2026 view dump v1";

/// List direction, by ledger position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first (the API's default).
    #[default]
    Desc,
}

impl Order {
    /// From the API name, `asc` or `desc`.
    pub fn from_name(s: &str) -> Option<Order> {
        match s {
            "asc" => Some(Order::Asc),
            "desc" => Some(Order::Desc),
            _ => None,
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows, in the requested order.
    pub items: Vec<T>,
    /// Cursor of the last row; `None` when the page is empty.
    pub cursor: Option<String>,
    /// Whether another matching row exists past the last one returned.
    pub has_more: bool,
}

/// An ordered entry as the API shows it (spec/rest-api.md, section 8, plus Decision 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryView {
    /// The ledger's identity of the entry.
    pub hash: EntryHash,
    /// The API id, `<8 hex>-<seq + 1>` (empty for genesis).
    pub api_id: String,
    /// Its place in this peer's current order.
    pub position: u64,
    /// Whether its place and outcome are final.
    pub confirmed: bool,
    /// What applying it did.
    pub outcome: Outcome,
    /// Its author.
    pub author: MemberKey,
    /// The author's handle.
    pub handle: String,
    /// Its 0-based seq in the author's log.
    pub seq: u64,
    /// The author's clock when writing it (informational).
    pub time_ms: u64,
    /// The author's display name at the time, if it gave a non-empty one.
    pub display_name: Option<String>,
    /// The kind of its app op; `None` for system and null entries.
    pub kind: Option<Kind>,
    /// Its app op, if it has one.
    pub op: Option<wire::op::Op>,
    /// Its system ops (empty for app entries).
    pub system_ops: Vec<wire::op::Op>,
    /// API ids it refers to: the task of a task state change, the parent of a reply.
    pub refs: Vec<String>,
    /// The ledger time it was judged by: its segment's time once confirmed; 0 while it is
    /// unconfirmed and did not depend on time.
    pub ledger_time: u64,
}

impl EntryView {
    /// A local append as a read of its snapshot would show it, from what the append answered
    /// and the body it appended: no read needed. `author` is the appending member.
    pub fn appended(done: &crate::AppendResult, author: MemberKey, body: wire::Body) -> EntryView {
        rows::entry_view(
            rows::Placed {
                hash: done.hash,
                api_id: done.api_id.clone(),
                position: done.pos,
                confirmed: done.confirmed,
                outcome: done.outcome,
                ledger_time: done.ledger_time,
            },
            rows::Decoded::of(author, done.seq, done.time_ms, body),
        )
    }
}

/// The ledger's counters, for `status` and cross-peer comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerStatus {
    /// The pact.
    pub pact: PactId,
    /// Positions below this are confirmed.
    pub confirmed_len: u64,
    /// Length of the applied order.
    pub applied_len: u64,
    /// Unconfirmed positions (`applied_len - confirmed_len`).
    pub tail_len: u64,
    /// Multiset hash of every replicated row.
    pub view_digest: Digest,
    /// Running hash over the confirmed order.
    pub order_digest: [u8; 32],
    /// Ledger time of the last confirmed segment.
    pub ledger_time: u64,
    /// Current indexer epoch.
    pub epoch: u64,
    /// The indexer of the current epoch, once known.
    pub indexer: Option<MemberKey>,
    /// Committed anchors.
    pub anchors: u64,
    /// Entries in the log store, ordered or not.
    pub entries_stored: u64,
    /// Authors with at least one stored entry.
    pub authors: u64,
    /// Forks seen (second entries at one author and seq).
    pub forks: u64,
}

/// What a list walks: one kind, optionally narrowed by the one filter its index supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListFilter {
    /// Every applied entry of the kind.
    None,
    /// Knowledge with this exact topic.
    Topic(String),
    /// Skills of this format.
    Format(SkillFormat),
    /// Messages by this author.
    Author(MemberKey),
    /// Messages to this handle (`"*"`: to everyone).
    Recipient(String),
}

/// A typed list request (spec/rest-api.md, section 9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// The kind listed.
    pub kind: Kind,
    /// The filter.
    pub filter: ListFilter,
    /// Direction.
    pub order: Order,
    /// Page size, `1..=1000`.
    pub limit: usize,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The first page of `kind`, newest first, 50 rows, unfiltered.
    pub fn new(kind: Kind) -> Self {
        ListQuery {
            kind,
            filter: ListFilter::None,
            order: Order::Desc,
            limit: 50,
            cursor: None,
        }
    }
}

/// One row of the changes feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The entry's arrival number on this peer.
    pub arrival: u64,
    /// The entry.
    pub entry: EntryView,
}

/// A page of the changes feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangesPage {
    /// Applied app entries in arrival order.
    pub items: Vec<Change>,
    /// Arrival number to pass as `after` next time: the last row returned, or past the rows
    /// skipped at the end of the walk; the `after` given when nothing was read.
    pub cursor: Option<u64>,
    /// Whether more may follow right away (exact unless the skip budget ran out).
    pub has_more: bool,
}

/// A read-only snapshot of one pact's ledger and view.
pub struct ViewReader {
    txn: std::sync::Arc<ReadTransaction>,
    /// The hashes not yet in `log.hashes` when the snapshot was taken (and maybe later ones).
    pending: Pending,
    pact: PactId,
    /// The entry tables, opened on first use: a reader answering many point reads (the event
    /// pump reads one entry per event) opens them once.
    entries: std::sync::OnceLock<Entries>,
}

impl ViewReader {
    /// A reader over `txn`, a read transaction of `pact`'s database. Rebuilds from the file
    /// the hashes a writer would hold in memory; [`crate::Ledger::reader`] shares its own.
    pub fn new(txn: ReadTransaction, pact: PactId) -> Result<Self> {
        let pending = HashIndex::load(&txn)?.pending().clone();
        Ok(ViewReader::shared(
            Snapshot {
                txn: std::sync::Arc::new(txn),
                pending,
            },
            pact,
        ))
    }

    /// A reader over a snapshot shared with other readers (one the writer published).
    pub(crate) fn shared(snapshot: Snapshot, pact: PactId) -> Self {
        ViewReader {
            txn: snapshot.txn,
            pending: snapshot.pending,
            pact,
            entries: std::sync::OnceLock::new(),
        }
    }

    /// The pact this reader reads.
    pub fn pact_id(&self) -> PactId {
        self.pact
    }

    fn rows(&self, t: ViewTable) -> Result<Rows> {
        Rows::open(&self.txn, t)
    }

    fn engine(&self) -> Result<EngineRow> {
        let Some(state) = rows::open(&self.txn, STATE)? else {
            return Ok(EngineRow::default());
        };
        match state.get(STATE_ENGINE)? {
            Some(v) => decode(STATE.name(), v.value()),
            None => Ok(EngineRow::default()),
        }
    }

    fn entries(&self) -> Result<&Entries> {
        if let Some(e) = self.entries.get() {
            return Ok(e);
        }
        let e = Entries::open(&self.txn, &self.pending, self.engine()?.confirmed_len)?;
        Ok(self.entries.get_or_init(|| e))
    }

    /// The ledger's counters and digests.
    pub fn status(&self) -> Result<LedgerStatus> {
        let e = self.engine()?;
        let bad = || rows::corrupt(STATE.name());
        let hash32 = |b: &[u8]| -> Result<[u8; 32]> {
            if b.is_empty() {
                Ok([0; 32])
            } else {
                b.try_into().map_err(|_| bad())
            }
        };
        let applied_len = e.applied_len;
        let entries_stored = self.log_len(ENTRIES)? + self.log_len(BRANCHES)?;
        let forks = self.log_len(FORKS)?;
        Ok(LedgerStatus {
            pact: self.pact,
            confirmed_len: e.confirmed_len,
            applied_len,
            tail_len: applied_len.saturating_sub(e.confirmed_len),
            view_digest: Digest(hash32(&e.view_digest)?),
            order_digest: hash32(&e.order_digest)?,
            ledger_time: e.ledger_time,
            epoch: e.epoch,
            indexer: match e.indexer.as_slice() {
                [] => None,
                k => Some(MemberKey::from_slice(k).ok_or_else(bad)?),
            },
            anchors: e.anchors,
            entries_stored,
            authors: self.frontier()?.len() as u64,
            forks,
        })
    }

    fn log_len<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: redb::TableDefinition<K, V>,
    ) -> Result<u64> {
        match rows::open(&self.txn, def)? {
            Some(t) => Ok(t.len()?),
            None => Ok(0),
        }
    }

    /// The ordered entry with this API id. System entries are returned too (their `kind` is
    /// `None`); the API shows only app entries.
    pub fn entry_by_api_id(&self, id: &str) -> Result<Option<EntryView>> {
        let entries = self.entries()?;
        match entries.position_of(id)? {
            Some(pos) => entries.at(pos).map(Some),
            None => Ok(None),
        }
    }

    /// The entry with this hash, if it is ordered, looked for first at `pos`, where it was last
    /// seen (an event's position): one read instead of three while it is still there.
    pub fn entry_by_hash_near(&self, h: &EntryHash, pos: u64) -> Result<Option<EntryView>> {
        self.entries()?.by_hash_near(h, pos)
    }

    /// The entry an [`Event::Applied`](crate::Event::Applied) announced, as
    /// [`Self::entry_by_hash_near`] shows it, built from the body the event carries where the
    /// entry is still at the event's position (no read of the stored entry). `None` for other
    /// events, and for an entry no longer ordered.
    pub fn applied_entry(&self, ev: &crate::Event) -> Result<Option<EntryView>> {
        let crate::Event::Applied {
            hash,
            pos,
            author,
            seq,
            time_ms,
            body,
            ..
        } = ev
        else {
            return Ok(None);
        };
        self.entries()?.by_hash_near_with(hash, *pos, || {
            rows::Decoded::of(*author, *seq, *time_ms, wire::Body::clone(body))
        })
    }

    /// The entry with this hash, if it is ordered.
    pub fn entry_by_hash(&self, h: &EntryHash) -> Result<Option<EntryView>> {
        self.entries()?.by_hash(h)
    }

    /// The stored `SignedEntry` bytes of any ingested entry, ordered or not.
    pub fn raw_entry(&self, h: &EntryHash) -> Result<Option<Vec<u8>>> {
        self.entries()?.raw(h)
    }

    /// An entry's position, outcome, and whether it is confirmed.
    pub fn outcome(&self, h: &EntryHash) -> Result<Option<(u64, Outcome, bool)>> {
        let entries = self.entries()?;
        match entries.ordered(h)? {
            Some((pos, row)) => Ok(Some((pos, entries.outcome(&row)?, entries.confirmed(pos)))),
            None => Ok(None),
        }
    }

    /// One page of applied entries of a kind, by ledger position.
    pub fn list(&self, q: &ListQuery) -> Result<Page<EntryView>> {
        check_limit(q.limit)?;
        let (table, prefix) = list_index(q)?;
        let index = self.rows(table)?;
        let entries = self.entries()?;
        let past = match &q.cursor {
            None => None,
            Some(c) => {
                let (recorded, api_id) = parse_cursor(c, q.kind)?;
                let now = entries.position_of(&api_id)?;
                Some(match now {
                    Some(p) if index.contains(&prefixed_pos(&prefix, p))? => p,
                    _ => recorded,
                })
            }
        };
        let mut positions = Vec::with_capacity(q.limit + 1);
        for row in index.walk(&prefix, q.order, past)?.take(q.limit + 1) {
            positions.push(row?.0);
        }
        let has_more = positions.len() > q.limit;
        positions.truncate(q.limit);
        let items = positions
            .iter()
            .map(|&p| entries.at(p))
            .collect::<Result<Vec<_>>>()?;
        let cursor = items
            .last()
            .map(|e| format_cursor(q.kind, e.position, &e.api_id));
        Ok(Page {
            items,
            cursor,
            has_more,
        })
    }

    /// Applied entries whose refs name `id` (replies, task state changes), in ledger order.
    pub fn referenced_by(&self, id: &str) -> Result<Vec<EntryView>> {
        let entries = self.entries()?;
        self.rows(ViewTable::Refs)?
            .walk(&lp(id), Order::Asc, None)?
            .map(|row| entries.at(row?.0))
            .collect()
    }

    /// Applied app entries that arrived after arrival number `after` (all when `None`), oldest
    /// arrival first, optionally of one kind.
    ///
    /// The walk follows the per-peer arrival sequence, so it never misses a late entry. It skips
    /// system entries, entries that are not (or no longer) applied, and other kinds; with a
    /// `kind` that is rare among recent arrivals it may skip many rows, so one call skips at most
    /// [`CHANGES_SKIP_BUDGET`] of them and then returns early with `has_more` set and a cursor past
    /// them.
    pub fn changes(
        &self,
        after: Option<u64>,
        limit: usize,
        kind: Option<Kind>,
    ) -> Result<ChangesPage> {
        check_limit(limit)?;
        let empty = ChangesPage {
            items: Vec::new(),
            cursor: after,
            has_more: false,
        };
        let Some(arrival) = rows::open(&self.txn, ARRIVAL)? else {
            return Ok(empty);
        };
        let range = match after {
            None => arrival.range::<u64>(..)?,
            Some(a) => match a.checked_add(1) {
                Some(from) => arrival.range::<u64>(from..)?,
                None => return Ok(empty),
            },
        };
        let entries = self.entries()?;
        let mut items = Vec::with_capacity(limit + 1);
        let (mut skipped, mut last_read) = (0usize, after);
        for row in range {
            let (seq, hash) = row?;
            let (seq, hash) = (seq.value(), EntryHash(hash.value()));
            last_read = Some(seq);
            // Check the outcome before decoding the entry: most skipped rows stop here.
            let ordered = entries.ordered(&hash)?;
            let wanted = match ordered {
                Some((pos, row)) if entries.outcome(&row)? == Outcome::Applied => {
                    let e = entries.at(pos)?;
                    Some(e).filter(|e| e.kind.is_some() && kind.is_none_or(|k| e.kind == Some(k)))
                }
                _ => None,
            };
            match wanted {
                Some(entry) => {
                    items.push(Change {
                        arrival: seq,
                        entry,
                    });
                    if items.len() > limit {
                        items.truncate(limit);
                        let cursor = items.last().map(|c| c.arrival);
                        return Ok(ChangesPage {
                            items,
                            cursor,
                            has_more: true,
                        });
                    }
                }
                None => {
                    skipped += 1;
                    if skipped >= CHANGES_SKIP_BUDGET {
                        return Ok(ChangesPage {
                            items,
                            cursor: last_read,
                            has_more: true,
                        });
                    }
                }
            }
        }
        Ok(ChangesPage {
            items,
            cursor: last_read,
            has_more: false,
        })
    }

    /// The arrival number a changes walk may start after to see only what comes next, or `None`
    /// when no applied entry of `kind` (any app kind when `None`) exists.
    ///
    /// It is the newest arrival of any entry: no entry of `kind` arrived after the newest one of
    /// that kind, so starting after either sees the same entries, and this one is a single seek.
    pub fn head_arrival(&self, kind: Option<Kind>) -> Result<Option<u64>> {
        let by_kind = self.rows(ViewTable::ByKind)?;
        let any = match kind {
            Some(k) => by_kind.has_prefix(&[k as u8])?,
            None => by_kind.has_prefix(&[])?,
        };
        if !any {
            return Ok(None);
        }
        let Some(arrival) = rows::open(&self.txn, ARRIVAL)? else {
            return Ok(None);
        };
        Ok(arrival.last()?.map(|(k, _)| k.value()))
    }

    /// The whole applied order (tests and debugging).
    pub fn order(&self) -> Result<Vec<EntryHash>> {
        let table = self.rows(ViewTable::Order)?;
        let mut out = Vec::new();
        for row in table.all()? {
            let (k, v) = row?;
            if k.as_slice() != pos_key(out.len() as u64) {
                return Err(table.corrupt());
            }
            let o: OrderRow = decode(ViewTable::Order.name(), &v)?;
            out.push(o.entry_hash().ok_or_else(|| table.corrupt())?);
        }
        Ok(out)
    }

    /// BLAKE3 over every replicated row: for each table in [`ViewTable::ALL`] order, each row in
    /// key order as `table id ‖ key len ‖ key ‖ value len ‖ value` (lengths u32 LE). Two peers
    /// with the same view produce the same bytes; property tests compare it. Reads everything.
    pub fn canonical_dump(&self) -> Result<[u8; 32]> {
        let mut h = blake3::Hasher::new_derive_key(DUMP_CONTEXT);
        for t in ViewTable::ALL {
            for row in self.rows(t)?.all()? {
                let (k, v) = row?;
                h.update(&[t as u8]);
                h.update(&(k.len() as u32).to_le_bytes());
                h.update(&k);
                h.update(&(v.len() as u32).to_le_bytes());
                h.update(&v);
            }
        }
        Ok(h.finalize().into())
    }
}

fn check_limit(limit: usize) -> Result<()> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(Error::refused(
            Code::BadRequest,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

/// The index a list walks and its prefix.
fn list_index(q: &ListQuery) -> Result<(ViewTable, Vec<u8>)> {
    let mismatch = |filter: &str, kind: Kind| {
        Err(Error::refused(
            Code::BadRequest,
            format!("the {filter} filter applies to {} only", kind.as_str()),
        ))
    };
    Ok(match (&q.filter, q.kind) {
        (ListFilter::None, k) => (ViewTable::ByKind, vec![k as u8]),
        (ListFilter::Topic(t), Kind::Knowledge) => (ViewTable::Topic, lp(t)),
        (ListFilter::Format(f), Kind::Skill) => (ViewTable::SkillFormat, vec![*f as u8]),
        (ListFilter::Author(a), Kind::Message) => (ViewTable::MessageAuthor, a.0.to_vec()),
        (ListFilter::Recipient(r), Kind::Message) => (ViewTable::MessageRecipient, lp(r)),
        (ListFilter::Topic(_), _) => return mismatch("topic", Kind::Knowledge),
        (ListFilter::Format(_), _) => return mismatch("format", Kind::Skill),
        (ListFilter::Author(_), _) => return mismatch("author", Kind::Message),
        (ListFilter::Recipient(_), _) => return mismatch("recipient", Kind::Message),
    })
}
