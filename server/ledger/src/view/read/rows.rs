//! Row access for the reader: replicated tables that read as empty before their first commit,
//! position-ordered walks over one index prefix, entry lookup and decoding, and list cursors.

use prost::Message;
use redb::{ReadOnlyTable, ReadTransaction, TableDefinition, TableHandle};

use super::{EntryView, Order};
use crate::code::{Code, Outcome};
use crate::entry::is_app_op;
use crate::error::{Error, Result};
use crate::hashes::{Pending, bytes_by_hash, slot_of};
use crate::keys::{EntryHash, MemberKey};
use crate::view::tables::{
    BRANCHES, ENTRIES, HASHES, Kind, OrderRow, ViewTable, api_id_key, parse_api_id, pos_key,
    prefixed_pos, slot_bytes, trailing_pos,
};
use crate::wire;

type ByteTable = ReadOnlyTable<&'static [u8], &'static [u8]>;
type ByteRange = redb::Range<'static, &'static [u8], &'static [u8]>;

/// Opens a table, or `None` when it was never created (a database before its first commit reads
/// as empty rather than failing).
pub(super) fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The error for a row of `table` that does not decode or names what is not there.
pub(super) fn corrupt(table: &str) -> Error {
    Error::Corrupt(format!("bad row in {table}"))
}

/// Decodes a prost row stored in the table named `table`.
pub(super) fn decode<M: Message + Default>(table: &str, bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|_| corrupt(table))
}

/// One replicated byte table of the snapshot.
pub(super) struct Rows {
    table: ViewTable,
    inner: Option<ByteTable>,
}

impl Rows {
    pub(super) fn open(txn: &ReadTransaction, table: ViewTable) -> Result<Rows> {
        Ok(Rows {
            table,
            inner: open(txn, table.def())?,
        })
    }

    pub(super) fn corrupt(&self) -> Error {
        corrupt(self.table.name())
    }

    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(t) = &self.inner else {
            return Ok(None);
        };
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    pub(super) fn row<M: Message + Default>(&self, key: &[u8]) -> Result<Option<M>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => M::decode(v.as_slice())
                .map(Some)
                .map_err(|_| self.corrupt()),
        }
    }

    pub(super) fn contains(&self, key: &[u8]) -> Result<bool> {
        let Some(t) = &self.inner else {
            return Ok(false);
        };
        Ok(t.get(key)?.is_some())
    }

    /// The first key at or after `from`.
    pub(super) fn first_key_from(&self, from: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(t) = &self.inner else {
            return Ok(None);
        };
        match t.range::<&[u8]>(from..)?.next() {
            Some(r) => Ok(Some(r?.0.value().to_vec())),
            None => Ok(None),
        }
    }

    /// Whether any key starts with `prefix` (one seek).
    pub(super) fn has_prefix(&self, prefix: &[u8]) -> Result<bool> {
        let Some(t) = &self.inner else {
            return Ok(false);
        };
        match t.range::<&[u8]>(prefix..)?.next() {
            Some(r) => Ok(r?.0.value().starts_with(prefix)),
            None => Ok(false),
        }
    }

    /// Every row in key order. Only for reads whose answer is the whole table (members, invites,
    /// the debug order, the canonical dump).
    pub(super) fn all(&self) -> Result<AllRows> {
        let range = match &self.inner {
            Some(t) => Some(t.range::<&[u8]>(..)?),
            None => None,
        };
        Ok(AllRows { range })
    }

    /// The `prefix ‖ pos` rows strictly past position `past` in the walk direction (all of them
    /// when `past` is `None`), as `(pos, value)`.
    pub(super) fn walk(&self, prefix: &[u8], order: Order, past: Option<u64>) -> Result<PosWalk> {
        let empty = PosWalk {
            range: None,
            order,
            key_len: 0,
            table: self.table,
        };
        let Some(t) = &self.inner else {
            return Ok(empty);
        };
        let (lo, hi) = match (order, past) {
            (_, None) => (0, u64::MAX),
            (Order::Asc, Some(p)) => match p.checked_add(1) {
                Some(lo) => (lo, u64::MAX),
                None => return Ok(empty),
            },
            (Order::Desc, Some(p)) => match p.checked_sub(1) {
                Some(hi) => (0, hi),
                None => return Ok(empty),
            },
        };
        let (lo, hi) = (prefixed_pos(prefix, lo), prefixed_pos(prefix, hi));
        // Keys are `prefix ‖ pos` and no prefix of a table is a prefix of another (fixed widths or
        // length-prefixed strings), so this range holds exactly the prefix's rows.
        let range = t.range::<&[u8]>(lo.as_slice()..=hi.as_slice())?;
        Ok(PosWalk {
            range: Some(range),
            order,
            key_len: prefix.len() + 8,
            table: self.table,
        })
    }
}

/// Every row of a table, in key order.
pub(super) struct AllRows {
    range: Option<ByteRange>,
}

impl Iterator for AllRows {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.range.as_mut()?.next()?;
        Some(
            item.map_err(Error::from)
                .map(|(k, v)| (k.value().to_vec(), v.value().to_vec())),
        )
    }
}

/// A walk over one `prefix ‖ pos` range in ledger order or its reverse, yielding `(pos, value)`.
pub(super) struct PosWalk {
    range: Option<ByteRange>,
    order: Order,
    key_len: usize,
    table: ViewTable,
}

impl Iterator for PosWalk {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let range = self.range.as_mut()?;
        let item = match self.order {
            Order::Asc => range.next(),
            Order::Desc => range.next_back(),
        }?;
        Some(item.map_err(Error::from).and_then(|(k, v)| {
            let k = k.value();
            match trailing_pos(k) {
                Some(pos) if k.len() == self.key_len => Ok((pos, v.value().to_vec())),
                _ => Err(corrupt(self.table.name())),
            }
        }))
    }
}

/// Several walks in one direction merged by position (each position is in at most one of them).
pub(super) struct Merge {
    walks: Vec<PosWalk>,
    heads: Vec<Option<(u64, Vec<u8>)>>,
    order: Order,
    primed: bool,
}

impl Merge {
    pub(super) fn new(walks: Vec<PosWalk>, order: Order) -> Merge {
        let heads = walks.iter().map(|_| None).collect();
        Merge {
            walks,
            heads,
            order,
            primed: false,
        }
    }

    fn refill(&mut self, i: usize) -> Result<()> {
        self.heads[i] = self.walks[i].next().transpose()?;
        Ok(())
    }
}

impl Iterator for Merge {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.walks.len() {
                if let Err(e) = self.refill(i) {
                    return Some(Err(e));
                }
            }
        }
        let order = self.order;
        let (i, _) = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(pos, _)| (i, *pos)))
            .reduce(|a, b| match order {
                Order::Asc if b.1 < a.1 => b,
                Order::Desc if b.1 > a.1 => b,
                _ => a,
            })?;
        let item = self.heads[i].take()?;
        if let Err(e) = self.refill(i) {
            return Some(Err(e));
        }
        Some(Ok(item))
    }
}

// ---- entries ----

/// What a stored `SignedEntry` says, decoded without re-verifying (it was verified at ingest).
pub(super) struct Decoded {
    pub(super) author: MemberKey,
    pub(super) seq: u64,
    pub(super) time_ms: u64,
    pub(super) display_name: Option<String>,
    pub(super) ops: Vec<wire::op::Op>,
}

pub(super) fn decode_entry(bytes: &[u8]) -> Result<Decoded> {
    let signed = decode::<wire::SignedEntry>(ENTRIES.name(), bytes)?;
    let header = decode::<wire::EntryHeader>(ENTRIES.name(), &signed.header)?;
    let body = decode::<wire::Body>(ENTRIES.name(), &signed.body)?;
    let author = MemberKey::from_slice(&header.author).ok_or_else(|| corrupt(ENTRIES.name()))?;
    Ok(Decoded::of(author, header.seq, header.time_ms, body))
}

impl Decoded {
    /// The parts of an entry the view shows, from its header fields and body.
    pub(super) fn of(author: MemberKey, seq: u64, time_ms: u64, body: wire::Body) -> Decoded {
        Decoded {
            author,
            seq,
            time_ms,
            display_name: body.display_name.filter(|n| !n.is_empty()),
            ops: body.ops.into_iter().filter_map(|o| o.op).collect(),
        }
    }
}

/// The kind and refs an app op gives its entry.
pub(super) fn kind_and_refs(op: &wire::op::Op) -> (Option<Kind>, Vec<String>) {
    use wire::op::Op;
    match op {
        Op::Knowledge(_) => (Some(Kind::Knowledge), vec![]),
        Op::TaskCreate(_) => (Some(Kind::Task), vec![]),
        Op::TaskClaim(c) => (Some(Kind::Task), vec![c.task_id.clone()]),
        Op::TaskComplete(c) => (Some(Kind::Task), vec![c.task_id.clone()]),
        Op::TaskRelease(c) => (Some(Kind::Task), vec![c.task_id.clone()]),
        Op::Skill(_) => (Some(Kind::Skill), vec![]),
        Op::Message(m) => (Some(Kind::Message), m.reply_to.iter().cloned().collect()),
        _ => (None, vec![]),
    }
}

/// The log tables, once the ledger has created them.
struct Log {
    entries: ReadOnlyTable<([u8; 32], u64), &'static [u8]>,
    hashes: ReadOnlyTable<[u8; 32], ([u8; 32], u64)>,
    pending: Pending,
    branches: ReadOnlyTable<[u8; 32], &'static [u8]>,
}

/// The tables that turn a position, an API id or a hash into an [`EntryView`].
pub(super) struct Entries {
    pub(super) order: Rows,
    pub(super) api_ids: Rows,
    log: Option<Log>,
    confirmed_len: u64,
}

impl Entries {
    pub(super) fn open(
        txn: &ReadTransaction,
        pending: &Pending,
        confirmed_len: u64,
    ) -> Result<Entries> {
        let log = match (
            open(txn, ENTRIES)?,
            open(txn, HASHES)?,
            open(txn, BRANCHES)?,
        ) {
            (Some(entries), Some(hashes), Some(branches)) => Some(Log {
                entries,
                hashes,
                pending: pending.clone(),
                branches,
            }),
            _ => None,
        };
        Ok(Entries {
            order: Rows::open(txn, ViewTable::Order)?,
            api_ids: Rows::open(txn, ViewTable::ApiIds)?,
            log,
            confirmed_len,
        })
    }

    pub(super) fn confirmed(&self, pos: u64) -> bool {
        pos < self.confirmed_len
    }

    /// The stored bytes of any ingested entry.
    pub(super) fn raw(&self, h: &EntryHash) -> Result<Option<Vec<u8>>> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        let index = (&log.hashes, &log.pending);
        Ok(bytes_by_hash(&log.entries, index, &log.branches, h)?.map(|(_, _, b)| b))
    }

    /// The stored bytes of entry `hash` at slot `(author, seq)`.
    pub(super) fn raw_at(
        &self,
        author: &MemberKey,
        seq: u64,
        hash: &EntryHash,
    ) -> Result<Option<Vec<u8>>> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        slot_bytes(&log.entries, &log.branches, author, seq, hash)
    }

    pub(super) fn outcome(&self, row: &OrderRow) -> Result<Outcome> {
        u16::try_from(row.outcome)
            .ok()
            .and_then(Outcome::from_u16)
            .ok_or_else(|| self.order.corrupt())
    }

    /// The position an [`ViewTable::ApiIds`] key names, if any.
    fn id_pos(&self, key: &[u8]) -> Result<Option<u64>> {
        match self.api_ids.get(key)? {
            None => Ok(None),
            Some(v) => <[u8; 8]>::try_from(v.as_slice())
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| self.api_ids.corrupt()),
        }
    }

    /// The current position and order row of an entry, if it is ordered: found through its
    /// slot's API id row (the plain id, or the `~xxxx` one a fork branch gets), or at position 0
    /// for the genesis entry.
    pub(super) fn ordered(&self, h: &EntryHash) -> Result<Option<(u64, OrderRow)>> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        let Some((author, seq)) = slot_of(&log.pending, &log.hashes, h)? else {
            return Ok(None);
        };
        let author = MemberKey(author);
        for suffix in [None, Some([h.0[0], h.0[1]])] {
            let Some(pos) = self.id_pos(&api_id_key(&author, seq, suffix))? else {
                continue;
            };
            let row = self.order_row(pos)?.ok_or_else(|| self.api_ids.corrupt())?;
            if row.hash == h.0 {
                return Ok(Some((pos, row)));
            }
        }
        // The genesis entry has no API id; it is always confirmed at position 0.
        if seq == 0
            && let Some(row) = self.order_row(0)?
            && row.hash == h.0
        {
            return Ok(Some((0, row)));
        }
        Ok(None)
    }

    /// The current position of the entry an API id names, if it is ordered. Ids are keyed by the
    /// whole author key; should two authors' keys share the id's 8 hex, the id names the one
    /// ordered last.
    pub(super) fn position_of(&self, api_id: &str) -> Result<Option<u64>> {
        let Some((prefix, seq, suffix)) = parse_api_id(api_id) else {
            return Ok(None);
        };
        let mut from = [0u8; 32];
        from[..4].copy_from_slice(&prefix);
        let mut found = None;
        while let Some(key) = self.api_ids.first_key_from(&from)? {
            let Some(author) = key.get(..32).and_then(MemberKey::from_slice) else {
                return Err(self.api_ids.corrupt());
            };
            if author.0[..4] != prefix {
                break;
            }
            if let Some(pos) = self.id_pos(&api_id_key(&author, seq, suffix))? {
                found = found.max(Some(pos));
            }
            match next_author(author.0) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(found)
    }

    pub(super) fn order_row(&self, pos: u64) -> Result<Option<OrderRow>> {
        self.order.row(&pos_key(pos))
    }

    /// The entry at an ordered position. An index naming a position outside the order is corrupt.
    pub(super) fn at(&self, pos: u64) -> Result<EntryView> {
        let order = self.order_row(pos)?.ok_or_else(|| self.order.corrupt())?;
        self.build(pos, order)
    }

    /// The entry with this hash, looked for first at `pos` (one read where it still is).
    pub(super) fn by_hash_near(&self, hash: &EntryHash, pos: u64) -> Result<Option<EntryView>> {
        match self.order_row(pos)? {
            Some(order) if order.hash == hash.0 => self.build(pos, order).map(Some),
            _ => self.by_hash(hash),
        }
    }

    /// The entry with this hash, built from `decoded` (its stored header fields and body) where
    /// it is still at `pos`: one read instead of two and a decode.
    pub(super) fn by_hash_near_with(
        &self,
        hash: &EntryHash,
        pos: u64,
        decoded: impl FnOnce() -> Decoded,
    ) -> Result<Option<EntryView>> {
        match self.order_row(pos)? {
            Some(order) if order.hash == hash.0 => self.placed(pos, order, decoded()).map(Some),
            _ => self.by_hash(hash),
        }
    }

    /// The entry with this hash, if it is ordered.
    pub(super) fn by_hash(&self, hash: &EntryHash) -> Result<Option<EntryView>> {
        match self.ordered(hash)? {
            Some((pos, order)) => self.build(pos, order).map(Some),
            None => Ok(None),
        }
    }

    fn build(&self, pos: u64, order: OrderRow) -> Result<EntryView> {
        let hash = order.entry_hash().ok_or_else(|| self.order.corrupt())?;
        let author = MemberKey::from_slice(&order.author).ok_or_else(|| self.order.corrupt())?;
        let bytes = self.raw_at(&author, order.seq, &hash)?.ok_or_else(|| {
            Error::Corrupt(format!(
                "ordered entry {hash} missing from {}",
                ENTRIES.name()
            ))
        })?;
        self.placed(pos, order, decode_entry(&bytes)?)
    }

    /// The entry at `pos`, of `order` and the decoded `d`.
    fn placed(&self, pos: u64, order: OrderRow, d: Decoded) -> Result<EntryView> {
        let hash = order.entry_hash().ok_or_else(|| self.order.corrupt())?;
        let outcome = self.outcome(&order)?;
        Ok(entry_view(
            Placed {
                hash,
                api_id: order.api_id,
                position: pos,
                confirmed: self.confirmed(pos),
                outcome,
                ledger_time: order.ledger_time,
            },
            d,
        ))
    }
}

/// Where an entry stands in the order.
pub(super) struct Placed {
    pub(super) hash: EntryHash,
    pub(super) api_id: String,
    pub(super) position: u64,
    pub(super) confirmed: bool,
    pub(super) outcome: Outcome,
    pub(super) ledger_time: u64,
}

/// An entry as the API shows it, from its place and its decoded contents.
pub(super) fn entry_view(at: Placed, d: Decoded) -> EntryView {
    let (op, system_ops): (Vec<_>, Vec<_>) = d.ops.into_iter().partition(is_app_op);
    let op = op.into_iter().next();
    let (kind, refs) = op.as_ref().map(kind_and_refs).unwrap_or_default();
    EntryView {
        hash: at.hash,
        api_id: at.api_id,
        position: at.position,
        confirmed: at.confirmed,
        outcome: at.outcome,
        author: d.author,
        handle: d.author.handle(),
        seq: d.seq,
        time_ms: d.time_ms,
        display_name: d.display_name,
        kind,
        op,
        system_ops,
        refs,
        ledger_time: at.ledger_time,
    }
}

/// The 32-byte key right after `k`, or `None` past the last.
pub(super) fn next_author(mut k: [u8; 32]) -> Option<[u8; 32]> {
    for b in k.iter_mut().rev() {
        if *b == u8::MAX {
            *b = 0;
        } else {
            *b += 1;
            return Some(k);
        }
    }
    None
}

// ---- cursors ----

/// `<kind name>/<position>/<api id>`.
pub fn format_cursor(kind: Kind, pos: u64, api_id: &str) -> String {
    format!("{}/{pos}/{api_id}", kind.as_str())
}

/// A cursor's recorded position and API id. The kind prefix must be the listed resource's.
pub(super) fn parse_cursor(s: &str, kind: Kind) -> Result<(u64, String)> {
    let foreign = || Error::refused(Code::BadCursor, "cursor does not belong to this resource");
    let malformed = || {
        Error::refused(
            Code::BadCursor,
            "cursor is malformed; list again without a cursor",
        )
    };
    let (prefix, rest) = s.split_once('/').ok_or_else(foreign)?;
    if prefix != kind.as_str() {
        return Err(foreign());
    }
    let (pos, api_id) = rest.split_once('/').ok_or_else(malformed)?;
    let pos = pos.parse::<u64>().map_err(|_| malformed())?;
    if api_id.is_empty() || api_id.contains('/') {
        return Err(malformed());
    }
    Ok((pos, api_id.to_string()))
}
