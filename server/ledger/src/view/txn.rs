//! The view transaction: the only handle through which the replicated tables change.
//!
//! Every `put` and `delete` first notes the key's before-image. For a tail position the notes are
//! written to the undo table, so the position can be rolled back later; for a position that is
//! confirmed in the same transaction they stay in memory, only long enough to undo a failed op of
//! the entry being applied (ops are all-or-nothing). Every change also updates the view digest: a
//! multiset hash, the sum modulo 2^256 of BLAKE3 over table, key and value of every row, so
//! reading it costs nothing and two views with the same rows have the same digest.

use prost::Message;
use redb::{ReadableTable, Table, WriteTransaction};

use super::tables::{LazyTable, UNDO, ViewTable};
use crate::error::{Error, Result};

/// BLAKE3 derive-key context of view row hashes.
const ROW_CONTEXT: &str = "openpact 2026 view row v1";

/// The multiset hash of every replicated row: a 256-bit little-endian sum.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    fn limbs(&self) -> [u64; 4] {
        let mut l = [0u64; 4];
        for (i, limb) in l.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.0[i * 8..i * 8 + 8]);
            *limb = u64::from_le_bytes(b);
        }
        l
    }

    fn set_limbs(&mut self, l: [u64; 4]) {
        for (i, limb) in l.iter().enumerate() {
            self.0[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
        }
    }

    /// Adds a row hash.
    pub fn add(&mut self, h: &[u8; 32]) {
        let (a, b) = (self.limbs(), Digest(*h).limbs());
        let mut out = [0u64; 4];
        let mut carry = false;
        for i in 0..4 {
            let (s, c1) = a[i].overflowing_add(b[i]);
            let (s, c2) = s.overflowing_add(carry as u64);
            out[i] = s;
            carry = c1 || c2;
        }
        self.set_limbs(out);
    }

    /// Subtracts a row hash.
    pub fn sub(&mut self, h: &[u8; 32]) {
        let (a, b) = (self.limbs(), Digest(*h).limbs());
        let mut out = [0u64; 4];
        let mut borrow = false;
        for i in 0..4 {
            let (s, b1) = a[i].overflowing_sub(b[i]);
            let (s, b2) = s.overflowing_sub(borrow as u64);
            out[i] = s;
            borrow = b1 || b2;
        }
        self.set_limbs(out);
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        crate::keys::hex32(&self.0)
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({})", &self.to_hex()[..16])
    }
}

/// The hash of one row, as summed into the digest.
pub fn row_hash(table: ViewTable, key: &[u8], value: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(ROW_CONTEXT);
    h.update(&[table as u8]);
    h.update(&(key.len() as u32).to_le_bytes());
    h.update(key);
    h.update(value);
    h.finalize().into()
}

struct UndoRec {
    table: ViewTable,
    key: Vec<u8>,
    old: Option<Vec<u8>>,
}

impl UndoRec {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(6 + self.key.len() + self.old.as_ref().map_or(0, Vec::len));
        b.push(self.table as u8);
        b.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.key);
        if let Some(old) = &self.old {
            b.push(1);
            b.extend_from_slice(old);
        } else {
            b.push(0);
        }
        b
    }

    fn decode(b: &[u8]) -> Result<UndoRec> {
        let bad = || Error::Corrupt("undo record".into());
        let table = ViewTable::from_id(*b.first().ok_or_else(bad)?).ok_or_else(bad)?;
        let len: [u8; 4] = b.get(1..5).ok_or_else(bad)?.try_into().map_err(|_| bad())?;
        let len = u32::from_le_bytes(len) as usize;
        let key = b.get(5..5 + len).ok_or_else(bad)?.to_vec();
        let old = match b.get(5 + len).ok_or_else(bad)? {
            0 => None,
            1 => Some(b[6 + len..].to_vec()),
            _ => return Err(bad()),
        };
        Ok(UndoRec { table, key, old })
    }
}

struct Current {
    pos: u64,
    persist: bool,
}

type ByteTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// Read and write access to the replicated tables inside one redb write transaction.
pub struct ViewTxn<'t> {
    /// Each replicated table, opened when first used: a batch touches a few of them.
    tables: Vec<LazyTable<'t, &'static [u8], &'static [u8]>>,
    undo_table: Table<'t, (u64, u32), &'static [u8]>,
    digest: Digest,
    current: Option<Current>,
    undo: Vec<UndoRec>,
}

impl<'t> ViewTxn<'t> {
    /// Access to the replicated tables in `txn`, starting from the stored digest.
    pub(crate) fn open(txn: &'t WriteTransaction, digest: Digest) -> Result<Self> {
        Ok(ViewTxn {
            tables: ViewTable::ALL
                .iter()
                .map(|t| LazyTable::new(txn, t.def()))
                .collect(),
            undo_table: txn.open_table(UNDO)?,
            digest,
            current: None,
            undo: Vec::new(),
        })
    }

    /// Creates every replicated table that does not exist yet.
    pub(crate) fn create_all(txn: &WriteTransaction) -> Result<()> {
        for t in ViewTable::ALL {
            txn.open_table(t.def())?;
        }
        Ok(())
    }

    fn table(&self, t: ViewTable) -> Result<&ByteTable<'t>> {
        self.lazy(t)?.get()
    }

    fn table_mut(&mut self, t: ViewTable) -> Result<&mut ByteTable<'t>> {
        self.tables
            .get_mut(t as usize - 1)
            .ok_or_else(|| Error::Corrupt(format!("no slot for table {t:?}")))?
            .get_mut()
    }

    fn lazy(&self, t: ViewTable) -> Result<&LazyTable<'t, &'static [u8], &'static [u8]>> {
        self.tables
            .get(t as usize - 1)
            .ok_or_else(|| Error::Corrupt(format!("no slot for table {t:?}")))
    }

    /// The current view digest.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The value at `key`.
    pub fn get(&self, t: ViewTable, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.table(t)?.get(key)?.map(|v| v.value().to_vec()))
    }

    /// The row at `key`, decoded.
    pub fn get_row<M: Message + Default>(&self, t: ViewTable, key: &[u8]) -> Result<Option<M>> {
        match self.table(t)?.get(key)? {
            None => Ok(None),
            Some(v) => M::decode(v.value())
                .map(Some)
                .map_err(|_| Error::Corrupt(format!("row in {t:?}"))),
        }
    }

    /// Whether any key starts with `prefix`.
    pub fn has_prefix(&self, t: ViewTable, prefix: &[u8]) -> Result<bool> {
        let mut range = self.table(t)?.range::<&[u8]>(prefix..)?;
        match range.next() {
            Some(r) => Ok(r?.0.value().starts_with(prefix)),
            None => Ok(false),
        }
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, t: ViewTable, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for r in self.table(t)?.range::<&[u8]>(prefix..)? {
            let (k, v) = r?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Sets `key` to `value`, noting the before-image.
    pub fn put(&mut self, t: ViewTable, key: &[u8], value: &[u8]) -> Result<()> {
        let old = self
            .table_mut(t)?
            .insert(key, value)?
            .map(|v| v.value().to_vec());
        if let Some(old) = &old {
            if old == value {
                return Ok(());
            }
            self.digest.sub(&row_hash(t, key, old));
        }
        self.digest.add(&row_hash(t, key, value));
        self.note(t, key, old);
        Ok(())
    }

    /// Sets `key` to an encoded row.
    pub fn put_row<M: Message>(&mut self, t: ViewTable, key: &[u8], row: &M) -> Result<()> {
        self.put(t, key, &row.encode_to_vec())
    }

    /// Removes `key`, noting the before-image.
    pub fn delete(&mut self, t: ViewTable, key: &[u8]) -> Result<()> {
        let old = self.table_mut(t)?.remove(key)?.map(|v| v.value().to_vec());
        if let Some(old) = old {
            self.digest.sub(&row_hash(t, key, &old));
            self.note(t, key, Some(old));
        }
        Ok(())
    }

    fn note(&mut self, table: ViewTable, key: &[u8], old: Option<Vec<u8>>) {
        if self.current.is_some() {
            self.undo.push(UndoRec {
                table,
                key: key.to_vec(),
                old,
            });
        }
    }

    /// Raw restore: sets or removes a row without noting anything.
    fn restore(&mut self, rec: &UndoRec) -> Result<()> {
        let t = rec.table;
        let current = match &rec.old {
            Some(old) => self
                .table_mut(t)?
                .insert(rec.key.as_slice(), old.as_slice())?,
            None => self.table_mut(t)?.remove(rec.key.as_slice())?,
        }
        .map(|v| v.value().to_vec());
        if let Some(cur) = current {
            self.digest.sub(&row_hash(t, &rec.key, &cur));
        }
        if let Some(old) = &rec.old {
            self.digest.add(&row_hash(t, &rec.key, old));
        }
        Ok(())
    }

    /// Starts noting changes for the entry at `pos`. `persist` keeps the notes in the undo
    /// table (a tail position); otherwise they live only until [`ViewTxn::end_entry`].
    pub(crate) fn begin_entry(&mut self, pos: u64, persist: bool) {
        self.current = Some(Current { pos, persist });
        self.undo.clear();
    }

    /// A mark to roll the current entry back to.
    pub fn savepoint(&self) -> usize {
        self.undo.len()
    }

    /// Undoes the current entry's changes made since `savepoint`.
    pub fn rollback_to(&mut self, savepoint: usize) -> Result<()> {
        while self.undo.len() > savepoint {
            if let Some(rec) = self.undo.pop() {
                self.restore(&rec)?;
            }
        }
        Ok(())
    }

    /// Finishes the current entry, writing its notes to the undo table if it is a tail entry.
    pub(crate) fn end_entry(&mut self) -> Result<()> {
        if let Some(cur) = self.current.take()
            && cur.persist
        {
            let recs = std::mem::take(&mut self.undo);
            for (i, rec) in recs.iter().enumerate() {
                self.undo_table
                    .insert((cur.pos, i as u32), rec.encode().as_slice())?;
            }
        }
        self.undo.clear();
        Ok(())
    }

    /// Rolls back everything the entry at `pos` changed, from its undo rows.
    pub(crate) fn rollback_position(&mut self, pos: u64) -> Result<()> {
        let mut recs = Vec::new();
        for r in self.undo_table.range((pos, 0)..=(pos, u32::MAX))? {
            let (_, v) = r?;
            recs.push(UndoRec::decode(v.value())?);
        }
        for rec in recs.iter().rev() {
            self.restore(rec)?;
        }
        self.undo_table
            .retain_in((pos, 0)..=(pos, u32::MAX), |_, _| false)?;
        Ok(())
    }

    /// Forgets the undo rows of positions below `pos` (they are confirmed).
    pub(crate) fn forget_undo_below(&mut self, pos: u64) -> Result<()> {
        if pos > 0 {
            self.undo_table.retain_in(..(pos, 0), |_, _| false)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_add_then_sub_is_identity_and_order_free() {
        let a = row_hash(ViewTable::Tasks, b"a", b"1");
        let b = row_hash(ViewTable::Tasks, b"b", b"2");
        let mut d1 = Digest::default();
        d1.add(&a);
        d1.add(&b);
        let mut d2 = Digest::default();
        d2.add(&b);
        d2.add(&a);
        assert_eq!(d1, d2);
        d1.sub(&a);
        d1.sub(&b);
        assert_eq!(d1, Digest::default());
        // Wrap-around works both ways.
        let mut d = Digest::default();
        d.sub(&a);
        d.add(&a);
        assert_eq!(d, Digest::default());
    }

    #[test]
    fn undo_record_round_trips() {
        for old in [None, Some(vec![]), Some(vec![1, 2, 3])] {
            let rec = UndoRec {
                table: ViewTable::Members,
                key: b"key".to_vec(),
                old,
            };
            let back = UndoRec::decode(&rec.encode()).expect("decodes");
            assert_eq!(
                (back.table, back.key, back.old),
                (rec.table, rec.key, rec.old)
            );
        }
    }
}
