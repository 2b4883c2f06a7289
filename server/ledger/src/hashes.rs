//! The lookup of stored entries by hash, written without a random page per entry.
//!
//! `log.hashes` maps an entry hash to its slot `(author, seq)`. Keyed by hash, it puts each new
//! entry on a page of its own: once the table has more leaves than a checkpoint has entries,
//! every entry costs the checkpoint a 4 KiB page (12 MB for a 1 MiB journal, most of what a
//! checkpoint wrote). So a new hash goes first to `log.hash_queue`, keyed by a counter (rows
//! land at its end, on a few pages), and to memory; durable commits sweep memory into
//! `log.hashes` one slice of the hash space at a time (the hashes whose first byte has a given
//! high nibble), so each durable commit writes only the pages of that slice.
//!
//! Memory holds two generations. New hashes go to `current`. `sealed`, the generation before,
//! is swept: slice `cursor` between two durable commits, a share at each batch (so no commit
//! stalls on it), and whatever is left by the durable commit that ends the slice. Once all
//! [`SLICES`] are swept, the sealed generation's queue rows are dead (deleted the same way over
//! the next round), `current` becomes `sealed`, and a new `current` starts. A hash thus waits
//! one to two rounds in memory (up to 32 checkpoints); reopening rebuilds both generations from
//! the queue. Work a batch did ahead of the durable commit is not recorded: after a crash it is
//! done again, and writing a row twice changes nothing.
//!
//! A lookup tries memory, then `log.hashes`. Readers share the generations the writer had when
//! it took their snapshot: a generation leaves the writer only after the commit that swept its
//! last slice, so a snapshot from before that commit still finds the hash in memory, and one
//! from after finds it in the table. Memory may name an entry the snapshot does not hold (a
//! later batch, or one that failed): [`bytes_by_hash`] checks the slot.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use redb::{
    ReadTransaction, ReadableTable, ReadableTableMetadata, Table, TableDefinition, TableHandle,
    WriteTransaction,
};

use crate::error::{Error, Result};
use crate::keys::{EntryHash, MemberKey};
use crate::view::tables::{ENTRIES, HASHES, LazyTable, STATE, slot_bytes};

/// An entry's slot: its author's key and its seq.
pub(crate) type Slot = ([u8; 32], u64);

/// `counter → (entry hash, slot)`: hashes in the order they were stored, from the oldest one
/// not yet swept into [`HASHES`] (and dead rows still to delete).
pub(crate) const QUEUE: TableDefinition<u64, ([u8; 32], Slot)> =
    TableDefinition::new("log.hash_queue");

/// State key: the sweep's counters ([`Sweep::encode`]).
pub(crate) const STATE_SWEEP: &str = "hash_sweep";

/// Slices of the hash space, swept one per durable commit.
const SLICES: u8 = 16;

fn slice_of(hash: &[u8; 32]) -> u8 {
    hash[0] >> 4
}

type Bucket = HashMap<[u8; 32], Slot>;

/// One generation's hashes, a bucket per slice.
#[derive(Default)]
struct Generation([RwLock<Bucket>; SLICES as usize]);

impl Generation {
    fn bucket(&self, slice: u8) -> &RwLock<Bucket> {
        &self.0[usize::from(slice)]
    }

    fn of(buckets: [Bucket; SLICES as usize]) -> Generation {
        Generation(buckets.map(RwLock::new))
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Storage("the hash index lock was poisoned".into())
}

/// The hashes not yet (all) in [`HASHES`], shared by the writer and its readers' snapshots.
#[derive(Clone, Default)]
pub(crate) struct Pending {
    current: Arc<Generation>,
    sealed: Arc<Generation>,
}

impl Pending {
    /// The slot recorded in memory for `hash`.
    pub(crate) fn get(&self, hash: &[u8; 32]) -> Result<Option<Slot>> {
        for g in [&self.current, &self.sealed] {
            let bucket = g.bucket(slice_of(hash)).read().map_err(poisoned)?;
            if let Some(slot) = bucket.get(hash) {
                return Ok(Some(*slot));
            }
        }
        Ok(None)
    }

    #[cfg(test)]
    fn len(&self) -> Result<usize> {
        let mut n = 0;
        for g in [&self.current, &self.sealed] {
            for b in &g.0 {
                n += b.read().map_err(poisoned)?.len();
            }
        }
        Ok(n)
    }
}

/// Where the sweep stands, as queue counters (persisted in [`STATE_SWEEP`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sweep {
    /// Queue rows from here on are the current generation.
    current_from: u64,
    /// Queue rows from here up to `current_from` are the sealed generation.
    sealed_from: u64,
    /// Queue rows from here up to `sealed_from` are swept and wait to be deleted.
    dead_from: u64,
    /// The sealed generation's slices below this one are in [`HASHES`].
    cursor: u8,
}

impl Sweep {
    fn encode(&self) -> [u8; 25] {
        let mut b = [0; 25];
        b[..8].copy_from_slice(&self.current_from.to_le_bytes());
        b[8..16].copy_from_slice(&self.sealed_from.to_le_bytes());
        b[16..24].copy_from_slice(&self.dead_from.to_le_bytes());
        b[24] = self.cursor;
        b
    }

    fn decode(b: &[u8]) -> Result<Sweep> {
        let bad = || Error::Corrupt(format!("bad {STATE_SWEEP} row in {}", STATE.name()));
        let u = |i: usize| -> Result<u64> {
            let bytes = b
                .get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(bad)?;
            Ok(u64::from_le_bytes(bytes))
        };
        let s = Sweep {
            current_from: u(0)?,
            sealed_from: u(8)?,
            dead_from: u(16)?,
            cursor: *b.get(24).ok_or_else(bad)?,
        };
        let ordered = s.dead_from <= s.sealed_from && s.sealed_from <= s.current_from;
        if b.len() != 25 || s.cursor >= SLICES || !ordered {
            return Err(bad());
        }
        Ok(s)
    }
}

/// The writer's side of the index: the generations in memory and the sweep.
#[derive(Default)]
pub(crate) struct HashIndex {
    pending: Pending,
    sweep: Sweep,
    /// Slice `cursor` of the sealed generation in hash order, once a batch started on it.
    todo: Vec<([u8; 32], Slot)>,
    /// How much of `todo` batches wrote to the table (not durable until the slice ends).
    done: usize,
    /// Queue rows below this one are dead and deleted (in this process).
    dead_done: u64,
}

impl HashIndex {
    /// Rebuilds the generations from the queue as `txn` sees it.
    pub(crate) fn load(txn: &ReadTransaction) -> Result<HashIndex> {
        let sweep = match txn.open_table(STATE) {
            Ok(state) => match state.get(STATE_SWEEP)? {
                Some(v) => Sweep::decode(v.value())?,
                None => Sweep::default(),
            },
            Err(redb::TableError::TableDoesNotExist(_)) => Sweep::default(),
            Err(e) => return Err(e.into()),
        };
        let queue = match txn.open_table(QUEUE) {
            Ok(q) => q,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashIndex::default()),
            Err(e) => return Err(e.into()),
        };
        // Room for what the queue's keys say is there, so the buckets are not grown row by row.
        // (Never more than the queue holds, whatever a damaged sweep row says.)
        let next = next_key(&queue)?.max(sweep.current_from);
        let len = queue.len()?;
        let per_bucket = |rows: u64| (rows.min(len) / u64::from(SLICES)) as usize * 9 / 8;
        let room = |rows: u64| -> [Bucket; SLICES as usize] {
            std::array::from_fn(|_| Bucket::with_capacity(per_bucket(rows)))
        };
        let mut current = room(next - sweep.current_from);
        let mut sealed = room(sweep.current_from - sweep.sealed_from);
        for row in queue.range(sweep.sealed_from..)? {
            let (k, v) = row?;
            let (hash, slot) = v.value();
            let slice = slice_of(&hash);
            if k.value() >= sweep.current_from {
                current[usize::from(slice)].insert(hash, slot);
            } else if slice >= sweep.cursor {
                sealed[usize::from(slice)].insert(hash, slot);
            }
        }
        Ok(HashIndex {
            pending: Pending {
                current: Arc::new(Generation::of(current)),
                sealed: Arc::new(Generation::of(sealed)),
            },
            sweep,
            todo: Vec::new(),
            done: 0,
            dead_done: sweep.dead_from,
        })
    }

    /// The generations, for a snapshot.
    pub(crate) fn pending(&self) -> &Pending {
        &self.pending
    }

    /// Does a share of the sweep in an ordinary batch's transaction (`t`): about twice as many
    /// hashes as the batch stored go from the slice being swept to [`HASHES`], and as many dead
    /// queue rows are deleted, so the durable commit that ends the slice finds little left.
    pub(crate) fn advance(&mut self, t: &mut IndexTables<'_>) -> Result<()> {
        let budget = 2 * (t.next - t.first) as usize + 16;
        let end = (self.dead_done + budget as u64).min(self.sweep.sealed_from);
        if self.dead_done < end {
            t.queue.retain_in(self.dead_done..end, |_, _| false)?;
            self.dead_done = end;
        }
        self.fill_todo()?;
        let end = (self.done + budget).min(self.todo.len());
        if self.done < end {
            let hashes = t.hashes.get_mut()?;
            for (hash, slot) in &self.todo[self.done..end] {
                hashes.insert(hash, slot)?;
            }
            self.done = end;
        }
        Ok(())
    }

    /// Sorts slice `cursor` of the sealed generation into `todo`, once per slice.
    fn fill_todo(&mut self) -> Result<()> {
        if self.done > 0 || !self.todo.is_empty() {
            return Ok(());
        }
        let bucket = self.pending.sealed.bucket(self.sweep.cursor);
        self.todo = bucket
            .read()
            .map_err(poisoned)?
            .iter()
            .map(|(h, slot)| (*h, *slot))
            .collect();
        // In key order, each page of the slice is written once.
        self.todo.sort_unstable_by_key(|r| r.0);
        Ok(())
    }

    /// Ends the slice in the transaction of a durable commit (`t`, and its `state` table):
    /// writes what batches left of slice `cursor` of the sealed generation to [`HASHES`],
    /// deletes dead queue rows as needed to finish them by the end of the round, and records
    /// where the sweep stands. [`HashIndex::swept`] takes the returned step once the
    /// transaction has committed.
    pub(crate) fn sweep(
        &mut self,
        t: &mut IndexTables<'_>,
        state: &mut Table<'_, &'static str, &'static [u8]>,
    ) -> Result<Sweep> {
        self.fill_todo()?;
        if self.done < self.todo.len() {
            let hashes = t.hashes.get_mut()?;
            for (hash, slot) in &self.todo[self.done..] {
                hashes.insert(hash, slot)?;
            }
            self.done = self.todo.len();
        }
        let mut s = self.sweep;
        // What earlier batches deleted is gone (in this file) only once this commit is durable.
        s.dead_from = self.dead_done.max(s.dead_from);
        if s.dead_from < s.sealed_from {
            // An equal share per step, so the dead rows are gone when the round ends.
            let steps_left = u64::from(SLICES - s.cursor);
            let end = s.dead_from + (s.sealed_from - s.dead_from).div_ceil(steps_left);
            t.queue.retain_in(s.dead_from..end, |_, _| false)?;
            s.dead_from = end;
        }
        s.cursor += 1;
        if s.cursor == SLICES {
            // The sealed generation is all in the table; the current one is sealed.
            s.cursor = 0;
            s.sealed_from = s.current_from;
            s.current_from = t.next;
        }
        state.insert(STATE_SWEEP, s.encode().as_slice())?;
        Ok(s)
    }

    /// Takes a step of [`HashIndex::sweep`] whose commit succeeded.
    pub(crate) fn swept(&mut self, step: Sweep) {
        if step.cursor == 0 {
            self.pending.sealed = std::mem::take(&mut self.pending.current);
        }
        self.sweep = step;
        self.dead_done = step.dead_from;
        self.todo = Vec::new();
        self.done = 0;
    }

    /// Hashes held in memory (of both generations).
    #[cfg(test)]
    pub(crate) fn in_memory(&self) -> Result<usize> {
        self.pending.len()
    }
}

fn next_key(queue: &impl ReadableTable<u64, ([u8; 32], Slot)>) -> Result<u64> {
    Ok(queue.last()?.map_or(0, |(k, _)| k.value() + 1))
}

/// The index tables of a write transaction: lookups, and recording a newly stored entry.
pub(crate) struct IndexTables<'t> {
    /// Opened for lookups (remote entries) and the sweep; a batch of appends may need neither.
    hashes: LazyTable<'t, [u8; 32], Slot>,
    queue: Table<'t, u64, ([u8; 32], Slot)>,
    /// The queue's next key, and what it was when the tables were opened.
    next: u64,
    first: u64,
    pending: Pending,
}

impl<'t> IndexTables<'t> {
    /// Opens the tables in `txn` for a writer whose generations are `index`'s.
    pub(crate) fn open(txn: &'t WriteTransaction, index: &HashIndex) -> Result<Self> {
        let queue = txn.open_table(QUEUE)?;
        let next = next_key(&queue)?.max(index.sweep.current_from);
        Ok(IndexTables {
            hashes: LazyTable::new(txn, HASHES),
            next,
            first: next,
            queue,
            pending: index.pending.clone(),
        })
    }

    /// Records that the entry `hash` is stored at `slot`.
    pub(crate) fn insert(&mut self, hash: &EntryHash, slot: Slot) -> Result<()> {
        self.queue.insert(self.next, (hash.0, slot))?;
        self.next += 1;
        self.pending
            .current
            .bucket(slice_of(&hash.0))
            .write()
            .map_err(poisoned)?
            .insert(hash.0, slot);
        Ok(())
    }

    /// Whether an entry with this hash is stored.
    pub(crate) fn contains(&self, hash: &EntryHash) -> Result<bool> {
        Ok(slot_of(&self.pending, self.hashes.get()?, hash)?.is_some())
    }

    /// The durable table, and the generations.
    pub(crate) fn parts(&self) -> Result<(&Table<'t, [u8; 32], Slot>, &Pending)> {
        Ok((self.hashes.get()?, &self.pending))
    }
}

/// The slot recorded for `hash`, in memory or in the table.
pub(crate) fn slot_of(
    pending: &Pending,
    hashes: &impl ReadableTable<[u8; 32], Slot>,
    hash: &EntryHash,
) -> Result<Option<Slot>> {
    if let Some(slot) = pending.get(&hash.0)? {
        return Ok(Some(slot));
    }
    Ok(hashes.get(hash.0)?.map(|v| v.value()))
}

/// Slot and stored bytes of any stored entry, by hash.
pub(crate) fn bytes_by_hash(
    entries: &impl ReadableTable<([u8; 32], u64), &'static [u8]>,
    (hashes, pending): (&impl ReadableTable<[u8; 32], Slot>, &Pending),
    branches: &impl ReadableTable<[u8; 32], &'static [u8]>,
    hash: &EntryHash,
) -> Result<Option<(MemberKey, u64, Vec<u8>)>> {
    if let Some((author, seq)) = pending.get(&hash.0)? {
        // Memory may name an entry this snapshot does not hold; the table is the word then.
        let author = MemberKey(author);
        if let Some(b) = slot_bytes(entries, branches, &author, seq, hash)? {
            return Ok(Some((author, seq, b)));
        }
    }
    let Some(slot) = hashes.get(hash.0)? else {
        return Ok(None);
    };
    let (author, seq) = slot.value();
    let author = MemberKey(author);
    match slot_bytes(entries, branches, &author, seq, hash)? {
        Some(b) => Ok(Some((author, seq, b))),
        None => Err(Error::Corrupt(format!(
            "entry {hash} in {} missing from {}",
            HASHES.name(),
            ENTRIES.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use redb::backends::InMemoryBackend;
    use redb::{Database, ReadableDatabase, ReadableTableMetadata};

    use super::*;

    fn db() -> Database {
        Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("in-memory database")
    }

    fn hash(i: u64) -> EntryHash {
        EntryHash(*blake3::hash(&i.to_le_bytes()).as_bytes())
    }

    fn slot(i: u64) -> Slot {
        ([(i % 7) as u8; 32], i)
    }

    /// Commits a batch storing entries `from..to`, durably (a sweep step) or not.
    fn commit(db: &Database, index: &mut HashIndex, from: u64, to: u64, durable: bool) {
        let txn = db.begin_write().expect("write");
        let step = {
            let mut t = IndexTables::open(&txn, index).expect("tables");
            for i in from..to {
                t.insert(&hash(i), slot(i)).expect("insert");
            }
            if durable {
                let mut state = txn.open_table(STATE).expect("state");
                Some(index.sweep(&mut t, &mut state).expect("sweep"))
            } else {
                index.advance(&mut t).expect("advance");
                None
            }
        };
        txn.commit().expect("commit");
        if let Some(step) = step {
            index.swept(step);
        }
    }

    fn found(db: &Database, pending: &Pending, i: u64) -> bool {
        let txn = db.begin_read().expect("read");
        let Ok(hashes) = txn.open_table(HASHES) else {
            return pending.get(&hash(i).0).expect("get") == Some(slot(i));
        };
        slot_of(pending, &hashes, &hash(i)).expect("lookup") == Some(slot(i))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Batches of random sizes, some durable: every hash stays found (in memory or in the
        /// table) by the writer, by a reader rebuilt from the file, and by a reader that kept
        /// an old snapshot; memory and the queue hold no more than two rounds of hashes.
        #[test]
        fn every_stored_hash_stays_found_while_the_sweep_moves_it(
            batches in prop::collection::vec((1u64..40, any::<bool>()), 1..120),
        ) {
            let db = db();
            let mut index = HashIndex::default();
            let mut stored = 0;
            let mut old: Option<(u64, Pending)> = None;
            let mut since_round = std::collections::VecDeque::new();
            for (i, (n, durable)) in batches.into_iter().enumerate() {
                commit(&db, &mut index, stored, stored + n, durable);
                stored += n;
                if i == 3 {
                    old = Some((stored, index.pending().clone()));
                }
                if durable {
                    since_round.push_back(stored);
                    if since_round.len() > 3 * usize::from(SLICES) + 1 {
                        since_round.pop_front();
                    }
                }
            }
            let rebuilt = HashIndex::load(&db.begin_read().expect("read")).expect("load");
            for i in 0..stored {
                prop_assert!(found(&db, index.pending(), i), "writer lost entry {}", i);
                prop_assert!(found(&db, rebuilt.pending(), i), "reopen lost entry {}", i);
            }
            prop_assert_eq!(rebuilt.sweep, index.sweep);
            // A reader's old generations still find what its snapshot held.
            if let Some((upto, pending)) = old {
                for i in 0..upto {
                    prop_assert!(found(&db, &pending, i), "old reader lost entry {}", i);
                }
            }
            // Hashes stored two rounds of durable commits ago are in the table only, and their
            // queue rows are deleted a round later.
            let rounds_ago = |r: usize| {
                let back = r * usize::from(SLICES) + 1;
                (since_round.len() >= back).then(|| since_round[since_round.len() - back])
            };
            if let Some(before) = rounds_ago(2) {
                prop_assert!(index.in_memory().expect("len") as u64 <= stored - before);
            }
            if let Some(before) = rounds_ago(3) {
                let txn = db.begin_read().expect("read");
                let queue_len = txn.open_table(QUEUE).map_or(0, |q| q.len().expect("len"));
                prop_assert!(queue_len <= stored - before);
            }
            // Memory agrees with the file: the current generation exactly, and the sealed one
            // for the slices not swept yet.
            for slice in 0..SLICES {
                let bucket = |g: &Generation| g.bucket(slice).read().expect("lock").clone();
                prop_assert_eq!(
                    bucket(&rebuilt.pending.current),
                    bucket(&index.pending.current)
                );
                let sealed = if slice >= index.sweep.cursor {
                    bucket(&index.pending.sealed)
                } else {
                    Bucket::new()
                };
                prop_assert_eq!(bucket(&rebuilt.pending.sealed), sealed);
            }
        }
    }

    #[test]
    fn a_damaged_sweep_row_does_not_make_the_load_reserve_what_the_queue_lacks() {
        let db = db();
        let mut index = HashIndex::default();
        commit(&db, &mut index, 0, 40, true);
        let txn = db.begin_write().expect("write");
        {
            let huge = Sweep {
                current_from: u64::MAX / 2,
                sealed_from: 0,
                dead_from: 0,
                cursor: 0,
            };
            let mut state = txn.open_table(STATE).expect("state");
            state
                .insert(STATE_SWEEP, huge.encode().as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
        let loaded = HashIndex::load(&db.begin_read().expect("read")).expect("load");
        // Every row reads as the sealed generation's: nothing is lost, nothing huge reserved.
        assert_eq!(loaded.in_memory().expect("len"), 40);
    }

    #[test]
    fn a_bad_sweep_row_is_refused_with_its_name() {
        for bad in [
            &[0u8; 24][..],
            &[0u8; 26][..],
            &{
                let mut b = [0u8; 25];
                b[24] = SLICES;
                b
            }[..],
        ] {
            let e = Sweep::decode(bad).expect_err("refused");
            assert!(e.to_string().contains(STATE_SWEEP), "{e}");
        }
        let s = Sweep {
            current_from: 9,
            sealed_from: 5,
            dead_from: 2,
            cursor: 3,
        };
        assert_eq!(Sweep::decode(&s.encode()).expect("decodes"), s);
        let backwards = Sweep { dead_from: 6, ..s };
        assert!(Sweep::decode(&backwards.encode()).is_err());
    }
}
