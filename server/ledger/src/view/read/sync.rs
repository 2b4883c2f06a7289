//! What sync reads: per-author log heights, stored log ranges, and forks.

use super::ViewReader;
use super::rows;
use crate::error::{Error, Result};
use crate::keys::{EntryHash, MemberKey};
use redb::TableHandle;

use crate::view::tables::{ENTRIES, FORKS, split_stored};

/// Two entries by one author at one seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkView {
    /// The equivocating author.
    pub author: MemberKey,
    /// The seq both claim.
    pub seq: u64,
    /// The branch seen first (the one heights follow).
    pub first: EntryHash,
    /// The conflicting entry.
    pub second: EntryHash,
}

impl ViewReader {
    /// Per author, the highest seq of its first-branch log and that entry's hash: what sync
    /// advertises. Ingest stores an entry only after its `prev`, so each author's rows are
    /// contiguous from seq 0 and the last row is the highest contiguous one. Two seeks per author.
    pub fn frontier(&self) -> Result<Vec<(MemberKey, u64, EntryHash)>> {
        let Some(t) = rows::open(&self.txn, ENTRIES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut from = [0u8; 32];
        loop {
            let Some(first) = t.range((from, 0)..)?.next() else {
                break;
            };
            let author = first?.0.value().0;
            if let Some(last) = t.range((author, 0)..=(author, u64::MAX))?.next_back() {
                let (k, v) = last?;
                let (hash, _) = split_stored(v.value()).ok_or_else(corrupt)?;
                out.push((MemberKey(author), k.value().1, hash));
            }
            match rows::next_author(author) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(out)
    }

    /// Up to `limit` stored entries of `author`'s first-branch log from `from_seq` on, stopping at
    /// the first gap: what sync sends for a range request.
    pub fn log_range(
        &self,
        author: &MemberKey,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let Some(t) = rows::open(&self.txn, ENTRIES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let range = t.range((author.0, from_seq)..=(author.0, u64::MAX))?;
        for (want, row) in (from_seq..).zip(range.take(limit)) {
            let (k, v) = row?;
            if k.value().1 != want {
                break;
            }
            let (_, bytes) = split_stored(v.value()).ok_or_else(corrupt)?;
            out.push(bytes.to_vec());
        }
        Ok(out)
    }

    /// Every fork seen: an author's two entries at one seq.
    pub fn forks(&self) -> Result<Vec<ForkView>> {
        let Some(forks) = rows::open(&self.txn, FORKS)? else {
            return Ok(Vec::new());
        };
        let entries = rows::open(&self.txn, ENTRIES)?;
        let mut out = Vec::new();
        for row in forks.range::<([u8; 32], u64)>(..)? {
            let (k, v) = row?;
            let (author, seq) = k.value();
            let first = match &entries {
                Some(t) => match t.get((author, seq))? {
                    Some(v) => Some(split_stored(v.value()).ok_or_else(corrupt)?.0),
                    None => None,
                },
                None => None,
            };
            let first = first.ok_or_else(|| {
                Error::Corrupt(format!(
                    "fork at {}/{seq} has no first branch",
                    MemberKey(author)
                ))
            })?;
            out.push(ForkView {
                author: MemberKey(author),
                seq,
                first,
                second: EntryHash(v.value()),
            });
        }
        Ok(out)
    }
}

fn corrupt() -> Error {
    rows::corrupt(ENTRIES.name())
}
