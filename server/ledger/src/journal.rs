//! The journal: a small append-only file beside a ledger's redb database.
//!
//! A durable redb commit writes every B-tree page the batch touched and flushes them (about 45
//! pages for a batch of 16 short entries). With a journal attached, a batch instead appends the
//! entries it stored to this file, flushes that one small write, and then commits redb without
//! a flush ([`redb::Durability::None`]). The batch is durable once its record is; redb catches
//! up at a *checkpoint*, a durable commit taken when the journal has grown past its limit (and
//! when the ledger closes), after which the journal starts over.
//!
//! Which records are not yet in redb's durable state is told by generation numbers. A journal
//! is two files, used in turn; each starts with a header naming its generation, and each
//! record's checksum covers that generation. redb's state row
//! [`STATE_JOURNAL_GEN`](crate::view::tables) names the oldest generation whose records are
//! *not* in its durable state. A checkpoint commits the next generation number along with
//! everything the records held, then starts the *other* file over under that number, and new
//! records go there. The file it leaves keeps its records until the checkpoint is known to be on
//! disk: redb's file may be written behind ([`crate::behind`]), and then a checkpoint's commit
//! returns before its pages are flushed. The next checkpoint waits for that before it starts
//! the file over again, so at most one checkpoint is ever unflushed, and a reopen replays the
//! file of redb's generation and then the file of the one after it. Records of an older
//! generation left further in a file fail their checksum, and so does a record torn by a crash;
//! reading stops at the first record that does not check. Records are flushed in the order
//! their batches ran, whichever file they go to, so a record of the newer file is never on disk
//! without every record before it.
//!
//! A record holds the signed entries of one batch, in the order the batch stored them.
//! Replaying them through [`crate::Batch::ingest`], one batch per record, rebuilds exactly what
//! the lost non-durable commits held: the view is a function of the stored entries, and arrival
//! numbers follow each batch's apply order.

use std::io;

use redb::StorageBackend;

use crate::error::{Error, Result};

/// The first bytes of a journal file.
const MAGIC: &[u8; 8] = b"OPJRNL01";
/// Header length: magic, generation (u64 LE), zeros.
const HEADER: u64 = 32;
/// Record header length: payload length (u32 LE), then a 16-byte check.
const RECORD_HEADER: u64 = 20;
/// BLAKE3 derive-key context of a record's check.
const CHECK_CONTEXT: &str = "openpact 2026 journal record v1";
/// The file grows in steps of this much, so most appends write inside its length.
const GROW: u64 = 64 << 10;
/// A record longer than this is damage, not a record (a batch holds at most a few MiB).
const MAX_RECORD: u64 = 1 << 30;

/// The default size past which a batch checkpoints redb and the journal starts over.
pub const DEFAULT_LIMIT: u64 = 1 << 20;

/// An open journal, positioned after its last record.
pub(crate) struct Journal {
    file: Box<dyn StorageBackend>,
    generation: Option<u64>,
    end: u64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Journal(generation {:?}, {} bytes)",
            self.generation, self.end
        )
    }
}

fn io_err(what: &str, e: io::Error) -> Error {
    Error::Storage(format!("journal {what}: {e}"))
}

fn check(generation: u64, payload: &[u8]) -> [u8; 16] {
    let mut h = blake3::Hasher::new_derive_key(CHECK_CONTEXT);
    h.update(&generation.to_le_bytes());
    h.update(&(payload.len() as u64).to_le_bytes());
    h.update(payload);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// The payload of a record: each entry as a u32 LE length and its bytes.
fn encode(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 4).sum());
    for e in entries {
        out.extend_from_slice(&(e.len() as u32).to_le_bytes());
        out.extend_from_slice(e);
    }
    out
}

fn decode(mut payload: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = || Error::Corrupt("a journal record that checks does not parse".into());
    let mut out = Vec::new();
    while !payload.is_empty() {
        let (len, rest) = payload.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_le_bytes(*len) as usize;
        let entry = rest.get(..len).ok_or_else(bad)?;
        out.push(entry.to_vec());
        payload = &rest[len..];
    }
    Ok(out)
}

impl Journal {
    /// Reads the records in `file` under the generation its header names (none when the file
    /// is empty, new, or not a journal), and returns them with the journal. Call
    /// [`Journal::reset`] before appending.
    pub(crate) fn read(file: Box<dyn StorageBackend>) -> Result<(Journal, Vec<Vec<Vec<u8>>>)> {
        let len = file.len().map_err(|e| io_err("length", e))?;
        let mut records = Vec::new();
        let mut end = HEADER;
        let mut generation = None;
        if len >= HEADER {
            let mut header = [0u8; HEADER as usize];
            file.read(0, &mut header).map_err(|e| io_err("read", e))?;
            if &header[..8] == MAGIC && header[16..].iter().all(|b| *b == 0) {
                let mut g = [0u8; 8];
                g.copy_from_slice(&header[8..16]);
                generation = Some(u64::from_le_bytes(g));
            }
            while let Some(g) = generation
                && end + RECORD_HEADER <= len
            {
                let mut rh = [0u8; RECORD_HEADER as usize];
                file.read(end, &mut rh).map_err(|e| io_err("read", e))?;
                let plen = u64::from(u32::from_le_bytes([rh[0], rh[1], rh[2], rh[3]]));
                if plen == 0 || plen > MAX_RECORD || end + RECORD_HEADER + plen > len {
                    break;
                }
                let mut payload = vec![0u8; plen as usize];
                file.read(end + RECORD_HEADER, &mut payload)
                    .map_err(|e| io_err("read", e))?;
                if rh[4..] != check(g, &payload) {
                    break;
                }
                records.push(decode(&payload)?);
                end += RECORD_HEADER + plen;
            }
        }
        Ok((
            Journal {
                file,
                generation,
                end,
            },
            records,
        ))
    }

    /// Starts the journal over at `generation` (after a checkpoint committed it): writes and
    /// flushes the header. Older records further on no longer check.
    pub(crate) fn reset(&mut self, generation: u64) -> Result<()> {
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&generation.to_le_bytes());
        self.reserve(HEADER)?;
        self.file
            .write(0, &header)
            .map_err(|e| io_err("write", e))?;
        self.file.sync_data().map_err(|e| io_err("flush", e))?;
        self.generation = Some(generation);
        self.end = HEADER;
        Ok(())
    }

    /// Appends records (each one batch's entries, in order) with one write, and flushes them:
    /// once this returns, they survive a crash.
    pub(crate) fn append(&mut self, records: &[&[Vec<u8>]]) -> Result<()> {
        let generation = self
            .generation
            .ok_or_else(|| Error::Storage("journal append before its header was written".into()))?;
        let mut buf = Vec::new();
        for entries in records {
            let payload = encode(entries);
            buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&check(generation, &payload));
            buf.extend_from_slice(&payload);
        }
        let end = self.end + buf.len() as u64;
        self.reserve(end)?;
        self.file
            .write(self.end, &buf)
            .map_err(|e| io_err("write", e))?;
        self.file.sync_data().map_err(|e| io_err("flush", e))?;
        self.end = end;
        Ok(())
    }

    /// The generation records are written under (none before the first reset of a file
    /// without a header).
    pub(crate) fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// Bytes of records since the last reset.
    pub(crate) fn records_len(&self) -> u64 {
        self.end - HEADER
    }

    /// Makes the file at least `end` bytes long, growing it in steps.
    fn reserve(&self, end: u64) -> Result<()> {
        let len = self.file.len().map_err(|e| io_err("length", e))?;
        if len < end {
            self.file
                .set_len(end.max(len + GROW))
                .map_err(|e| io_err("resize", e))?;
        }
        Ok(())
    }
}

/// A journal on a real file, for [`crate::Ledger::attach_journal`]. It takes an exclusive lock
/// on the file, so two processes never write one journal.
#[derive(Debug)]
pub struct JournalFile(std::fs::File);

impl JournalFile {
    /// Opens or creates the journal at `path`, and locks it.
    pub fn open(path: &std::path::Path) -> Result<JournalFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::Storage(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(JournalFile(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Storage(format!(
                "{} is in use by another process; stop it first",
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::Storage(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }
}

impl StorageBackend for JournalFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.0, out, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, data, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A file in memory that can tear or lose its last write.
    #[derive(Clone, Debug, Default)]
    struct Mem(Arc<Mutex<Vec<u8>>>);

    impl Mem {
        fn bytes(&self) -> Vec<u8> {
            self.0.lock().map(|b| b.clone()).unwrap_or_default()
        }
        fn set(&self, bytes: Vec<u8>) {
            if let Ok(mut b) = self.0.lock() {
                *b = bytes;
            }
        }
    }

    impl StorageBackend for Mem {
        fn len(&self) -> io::Result<u64> {
            Ok(self.bytes().len() as u64)
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
            let b = self.bytes();
            let s = offset as usize;
            let src = b
                .get(s..s + out.len())
                .ok_or(io::ErrorKind::UnexpectedEof)?;
            out.copy_from_slice(src);
            Ok(())
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            let mut b = self.bytes();
            b.resize(len as usize, 0);
            self.set(b);
            Ok(())
        }
        fn sync_data(&self) -> io::Result<()> {
            Ok(())
        }
        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            let mut b = self.bytes();
            let s = offset as usize;
            b.get_mut(s..s + data.len())
                .ok_or(io::ErrorKind::UnexpectedEof)?
                .copy_from_slice(data);
            self.set(b);
            Ok(())
        }
    }

    fn entries(tag: u8, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![tag; 10 + i * 7]).collect()
    }

    /// The generation the file's header names, and its records.
    fn read(mem: &Mem) -> (Option<u64>, Vec<Vec<Vec<u8>>>) {
        match Journal::read(Box::new(mem.clone())) {
            Ok((j, records)) => (j.generation(), records),
            Err(e) => panic!("reading the journal failed: {e}"),
        }
    }

    fn fresh(mem: &Mem, generation: u64) -> Journal {
        let (mut j, _) = match Journal::read(Box::new(mem.clone())) {
            Ok(r) => r,
            Err(e) => panic!("reading the journal failed: {e}"),
        };
        if let Err(e) = j.reset(generation) {
            panic!("reset failed: {e}");
        }
        j
    }

    #[test]
    fn records_read_back_in_order_under_their_generation() -> Result<()> {
        let mem = Mem::default();
        let mut j = fresh(&mem, 7);
        j.append(&[&entries(1, 3)])?;
        // Two batches flushed together: one write, two records.
        j.append(&[&entries(2, 1), &entries(3, 2)])?;
        assert_eq!(
            read(&mem),
            (Some(7), vec![entries(1, 3), entries(2, 1), entries(3, 2)])
        );
        // A record checked under another generation is not one of this file's.
        let mut bytes = mem.bytes();
        bytes[8] = 8;
        mem.set(bytes);
        assert_eq!(read(&mem), (Some(8), vec![]));
        Ok(())
    }

    #[test]
    fn a_file_never_started_takes_no_records() {
        let mem = Mem::default();
        let (mut j, _) = match Journal::read(Box::new(mem.clone())) {
            Ok(r) => r,
            Err(e) => panic!("reading the journal failed: {e}"),
        };
        assert!(j.append(&[&entries(1, 1)]).is_err());
        assert!(mem.bytes().is_empty());
    }

    #[test]
    fn a_reset_hides_older_records_further_in_the_file() -> Result<()> {
        let mem = Mem::default();
        let mut j = fresh(&mem, 1);
        j.append(&[&entries(1, 5)])?;
        j.append(&[&entries(2, 5)])?;
        j.reset(2)?;
        j.append(&[&entries(3, 1)])?;
        // The generation-1 records after the new one are still in the file, but do not check.
        assert_eq!(read(&mem), (Some(2), vec![entries(3, 1)]));
        assert_eq!(j.records_len(), read_len(&entries(3, 1)));
        Ok(())
    }

    fn read_len(e: &[Vec<u8>]) -> u64 {
        RECORD_HEADER + encode(e).len() as u64
    }

    #[test]
    fn a_torn_or_damaged_last_record_is_dropped_and_the_ones_before_kept() -> Result<()> {
        let mem = Mem::default();
        let mut j = fresh(&mem, 3);
        j.append(&[&entries(1, 2)])?;
        let good = mem.bytes();
        j.append(&[&entries(2, 4)])?;
        let full = mem.bytes();
        let start = (HEADER + read_len(&entries(1, 2))) as usize;
        let end = start + read_len(&entries(2, 4)) as usize;
        // Every cut of the second record (a torn write that kept a prefix of it).
        for cut in start..end {
            let mut torn = good.clone();
            torn[start..cut].copy_from_slice(&full[start..cut]);
            mem.set(torn);
            assert_eq!(read(&mem).1, vec![entries(1, 2)], "cut at {cut}");
        }
        // A flipped byte anywhere in the second record.
        for at in start..end {
            let mut bad = full.clone();
            bad[at] ^= 0x40;
            mem.set(bad);
            assert_eq!(read(&mem).1, vec![entries(1, 2)], "flip at {at}");
        }
        Ok(())
    }

    #[test]
    fn a_new_empty_or_foreign_file_holds_no_records() {
        let mem = Mem::default();
        assert_eq!(read(&mem), (None, vec![]));
        mem.set(vec![0xAB; 4096]);
        assert_eq!(read(&mem), (None, vec![]));
        mem.set(b"OPJRNL01".to_vec());
        assert_eq!(read(&mem), (None, vec![]));
    }

    #[test]
    fn the_file_grows_in_steps_and_is_reused_after_a_reset() -> Result<()> {
        let mem = Mem::default();
        let mut j = fresh(&mem, 1);
        assert_eq!(mem.bytes().len() as u64, GROW);
        for i in 0..500u32 {
            j.append(&[&entries((i % 200) as u8, 30)])?;
        }
        let grown = mem.bytes().len() as u64;
        assert!(grown > GROW && grown.is_multiple_of(GROW), "{grown}");
        j.reset(2)?;
        for i in 0..500u32 {
            j.append(&[&entries((i % 200) as u8, 30)])?;
        }
        assert_eq!(mem.bytes().len() as u64, grown);
        assert_eq!(read(&mem).1.len(), 500);
        Ok(())
    }

    #[test]
    fn a_journal_file_is_locked_against_a_second_opener() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("openpact-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io(e.to_string()))?;
        let path = dir.join("ledger.journal");
        let first = JournalFile::open(&path)?;
        match JournalFile::open(&path) {
            Err(Error::Storage(m)) => assert!(m.contains("in use"), "{m}"),
            other => panic!("a second open should fail: {other:?}"),
        }
        drop(first);
        JournalFile::open(&path)?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
