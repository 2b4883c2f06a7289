//! Reading a peer's database from the outside: what the properties compare.
//!
//! Point reads go through [`ViewReader`]. Bulk reads (every stored entry, every result, the
//! rows behind the view digest) open the redb tables by name, so the checks do not depend on
//! the reader they also check.

use std::collections::{BTreeMap, HashMap};

use openpact_ledger::view::tables::{OrderRow, TaskRow};
use openpact_ledger::view::txn::row_hash;
use openpact_ledger::view::{Digest, ViewTable};
use openpact_ledger::{EntryHash, Ledger, MemberKey, Outcome, wire};
use prost::Message as _;
use redb::{ReadTransaction, ReadableDatabase as _, ReadableTable as _, TableDefinition};

/// `(author, seq) → hash ‖ SignedEntry bytes`, the first entry at each slot.
const ENTRIES: TableDefinition<([u8; 32], u64), &[u8]> = TableDefinition::new("log.entries");
/// `hash → SignedEntry bytes` of fork branches.
const BRANCHES: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("log.branches");

/// An `ENTRIES` value taken apart.
fn split(v: &[u8]) -> (EntryHash, Vec<u8>) {
    let (h, bytes) = v.split_at(32);
    (
        EntryHash::from_slice(h).expect("stored hash"),
        bytes.to_vec(),
    )
}
const HEADS: TableDefinition<[u8; 32], u64> = TableDefinition::new("log.heads");

fn read_txn(l: &Ledger) -> ReadTransaction {
    l.database().begin_read().expect("read transaction")
}

/// Every row of a replicated table, in key order.
pub fn rows(l: &Ledger, t: ViewTable) -> Vec<(Vec<u8>, Vec<u8>)> {
    let txn = read_txn(l);
    let table = txn
        .open_table(t.def())
        .expect("every view table exists once a batch ran");
    table
        .iter()
        .expect("iterate")
        .map(|r| {
            let (k, v) = r.expect("row");
            (k.value().to_vec(), v.value().to_vec())
        })
        .collect()
}

/// The view digest recomputed from the rows themselves (the ledger keeps it incrementally).
pub fn recomputed_digest(l: &Ledger) -> Digest {
    let mut d = Digest::default();
    for t in ViewTable::ALL {
        for (k, v) in rows(l, t) {
            d.add(&row_hash(t, &k, &v));
        }
    }
    d
}

/// Every stored entry: hash → `SignedEntry` bytes.
pub fn stored_entries(l: &Ledger) -> BTreeMap<EntryHash, Vec<u8>> {
    let txn = read_txn(l);
    let Ok(t) = txn.open_table(ENTRIES) else {
        return BTreeMap::new();
    };
    let mut out: BTreeMap<EntryHash, Vec<u8>> = t
        .iter()
        .expect("iterate")
        .map(|r| split(r.expect("row").1.value()))
        .collect();
    let branches = txn.open_table(BRANCHES).expect("branches");
    for r in branches.iter().expect("iterate") {
        let (k, v) = r.expect("row");
        out.insert(EntryHash(k.value()), v.value().to_vec());
    }
    // Every stored entry is found by its hash (the index is in `log.hashes` and in memory).
    let reader = l.reader().expect("reader");
    for (h, bytes) in &out {
        let found = reader.raw_entry(h).expect("lookup by hash");
        assert_eq!(
            found.as_ref(),
            Some(bytes),
            "{h} is stored but not found by hash"
        );
    }
    out
}

/// The stored bytes of one entry, found by hash.
pub fn entry_bytes(l: &Ledger, h: &EntryHash) -> Option<Vec<u8>> {
    l.reader()
        .expect("reader")
        .raw_entry(h)
        .expect("lookup by hash")
}

/// Whether the entry is stored.
pub fn has_entry(l: &Ledger, h: &EntryHash) -> bool {
    entry_bytes(l, h).is_some()
}

/// The author's last entry on its first branch: `(seq, hash)`.
pub fn own_head(l: &Ledger, author: &MemberKey) -> Option<(u64, EntryHash)> {
    let txn = read_txn(l);
    let t = txn.open_table(ENTRIES).ok()?;
    let last = t
        .range((author.0, 0)..=(author.0, u64::MAX))
        .expect("range")
        .next_back()?;
    let (k, v) = last.expect("row");
    Some((k.value().1, split(v.value()).0))
}

/// The DAG's tips and their lamport numbers.
pub fn heads(l: &Ledger) -> Vec<(EntryHash, u64)> {
    let txn = read_txn(l);
    let Ok(t) = txn.open_table(HEADS) else {
        return Vec::new();
    };
    t.iter()
        .expect("iterate")
        .map(|r| {
            let (k, v) = r.expect("row");
            (EntryHash(k.value()), v.value())
        })
        .collect()
}

/// The whole applied order.
pub fn order(l: &Ledger) -> Vec<EntryHash> {
    rows(l, ViewTable::Order)
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| {
            assert_eq!(
                k,
                (i as u64).to_be_bytes(),
                "order rows are not dense at {i}"
            );
            let row = OrderRow::decode(v.as_slice()).expect("order row");
            EntryHash::from_slice(&row.hash).expect("order hash")
        })
        .collect()
}

/// The entry at one position, if any.
pub fn entry_at(l: &Ledger, pos: u64) -> Option<EntryHash> {
    let txn = read_txn(l);
    let t = txn.open_table(ViewTable::Order.def()).ok()?;
    let v = t.get(pos.to_be_bytes().as_slice()).expect("get")?;
    let row = OrderRow::decode(v.value()).expect("order row");
    EntryHash::from_slice(&row.hash)
}

/// Position and outcome of every ordered entry.
pub fn results(l: &Ledger) -> HashMap<EntryHash, (u64, Outcome)> {
    rows(l, ViewTable::Order)
        .into_iter()
        .map(|(k, v)| {
            let pos = u64::from_be_bytes(k.as_slice().try_into().expect("order key"));
            let row = OrderRow::decode(v.as_slice()).expect("order row");
            let outcome = Outcome::from_u16(row.outcome as u16).expect("outcome");
            (
                EntryHash::from_slice(&row.hash).expect("order hash"),
                (pos, outcome),
            )
        })
        .collect()
}

/// Authors frozen by a fork proof, and the position they are frozen from.
pub fn frozen(l: &Ledger) -> BTreeMap<MemberKey, u64> {
    rows(l, ViewTable::Frozen)
        .into_iter()
        .map(|(k, v)| {
            let pos = u64::from_be_bytes(v.as_slice().try_into().expect("frozen pos"));
            (MemberKey::from_slice(&k).expect("frozen key"), pos)
        })
        .collect()
}

/// Every task row, by task id.
pub fn tasks(l: &Ledger) -> BTreeMap<String, TaskRow> {
    rows(l, ViewTable::Tasks)
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8(k).expect("task id"),
                TaskRow::decode(v.as_slice()).expect("task"),
            )
        })
        .collect()
}

/// Positions that have a row in the by-kind index (every applied app entry has one).
pub fn kind_positions(l: &Ledger) -> Vec<u64> {
    rows(l, ViewTable::ByKind)
        .into_iter()
        .map(|(k, _)| u64::from_be_bytes(k[k.len() - 8..].try_into().expect("pos")))
        .collect()
}

/// A decoded entry.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// Hash.
    pub hash: EntryHash,
    /// Header.
    pub header: wire::EntryHeader,
    /// Signature bytes.
    pub signature: Vec<u8>,
    /// Body.
    pub body: wire::Body,
}

impl Decoded {
    /// Decodes `SignedEntry` bytes (which must be well formed).
    pub fn new(bytes: &[u8]) -> Decoded {
        let signed = wire::SignedEntry::decode(bytes).expect("signed entry");
        let header = wire::EntryHeader::decode(signed.header.as_slice()).expect("header");
        let body = wire::Body::decode(signed.body.as_slice()).expect("body");
        Decoded {
            hash: openpact_ledger::entry::entry_hash(&signed.header),
            header,
            signature: signed.signature,
            body,
        }
    }

    /// The author.
    pub fn author(&self) -> MemberKey {
        MemberKey::from_slice(&self.header.author).expect("author")
    }

    /// The previous entry of the author.
    pub fn prev(&self) -> Option<EntryHash> {
        EntryHash::from_slice(&self.header.prev)
    }

    /// Prev and deps.
    pub fn parents(&self) -> Vec<EntryHash> {
        let mut p: Vec<EntryHash> = self.prev().into_iter().collect();
        p.extend(
            self.header
                .deps
                .iter()
                .map(|d| EntryHash::from_slice(&d.hash).expect("dep")),
        );
        p
    }

    /// The ops.
    pub fn ops(&self) -> impl Iterator<Item = &wire::op::Op> {
        self.body.ops.iter().filter_map(|o| o.op.as_ref())
    }
}

/// What the cross-peer and crash comparisons look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// The incrementally kept view digest.
    pub view_digest: Digest,
    /// The confirmed order digest.
    pub order_digest: [u8; 32],
    /// Confirmed length.
    pub confirmed_len: u64,
    /// The applied order (confirmed and tail).
    pub order: Vec<EntryHash>,
    /// The reader's canonical dump of every replicated table.
    pub dump: [u8; 32],
}

impl State {
    /// Reads a ledger's state.
    pub fn of(l: &Ledger) -> State {
        let reader = l.reader().expect("reader");
        let status = reader.status().expect("status");
        assert_eq!(
            status.view_digest,
            l.view_digest(),
            "status and ledger disagree on the digest"
        );
        assert_eq!(
            status.confirmed_len,
            l.confirmed_len(),
            "status and ledger disagree"
        );
        State {
            view_digest: l.view_digest(),
            order_digest: l.order_digest(),
            confirmed_len: l.confirmed_len(),
            order: reader.order().expect("order"),
            dump: reader.canonical_dump().expect("dump"),
        }
    }

    /// A one-line description of how `other` differs from `self`.
    pub fn diff(&self, other: &State) -> String {
        let mut d = Vec::new();
        if self.confirmed_len != other.confirmed_len {
            d.push(format!(
                "confirmed_len {} vs {}",
                self.confirmed_len, other.confirmed_len
            ));
        }
        if self.order != other.order {
            let first = self
                .order
                .iter()
                .zip(&other.order)
                .position(|(a, b)| a != b);
            d.push(format!(
                "order (len {} vs {}, first difference at {:?})",
                self.order.len(),
                other.order.len(),
                first
            ));
        }
        if self.order_digest != other.order_digest {
            d.push("order digest".into());
        }
        if self.view_digest != other.view_digest {
            d.push(format!(
                "view digest {:?} vs {:?}",
                self.view_digest, other.view_digest
            ));
        }
        if self.dump != other.dump {
            d.push("canonical dump".into());
        }
        if d.is_empty() {
            "nothing".into()
        } else {
            d.join(", ")
        }
    }
}

/// Where two ledgers' replicated rows differ: per table, the first few keys that differ and
/// their values (hex), for failure messages.
pub fn row_diff(a: &Ledger, b: &Ledger) -> String {
    let mut out = Vec::new();
    for t in ViewTable::ALL {
        let ra: BTreeMap<Vec<u8>, Vec<u8>> = rows(a, t).into_iter().collect();
        let rb: BTreeMap<Vec<u8>, Vec<u8>> = rows(b, t).into_iter().collect();
        if ra == rb {
            continue;
        }
        let mut keys: Vec<&Vec<u8>> = ra.keys().chain(rb.keys()).collect();
        keys.sort();
        keys.dedup();
        let differing: Vec<String> = keys
            .into_iter()
            .filter(|k| ra.get(*k) != rb.get(*k))
            .take(4)
            .map(|k| {
                format!(
                    "{}: {:?} vs {:?}",
                    hex::encode(k),
                    ra.get(k).map(hex::encode),
                    rb.get(k).map(hex::encode)
                )
            })
            .collect();
        out.push(format!("{t:?} [{}]", differing.join("; ")));
    }
    out.join("\n    ")
}
