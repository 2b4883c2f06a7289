//! Write-behind for a ledger's redb file: a checkpoint's pages reach the disk on a thread of
//! their own, so the writer does not wait for them.
//!
//! With a journal attached (see [`crate::journal`]) a batch is durable once its journal record
//! is, and redb's file only catches up at checkpoints. A checkpoint writes every page the
//! batches since the last one dirtied (about 4 MB per MiB of journal, scattered over the file)
//! and flushes them: 8–15 ms on this project's virtual disks, during which the writer stood
//! still and every append waited. [`WriteBehind`] wraps the file's storage backend: writes and
//! length changes are kept in memory, in order, and `sync_data` hands everything kept so far to
//! a background thread as one *batch*, which the thread writes and flushes (256 KiB at a time,
//! so a journal flush meanwhile waits for little of it) before it starts on the next. Reads see
//! the newest bytes: batches not yet on disk lie over the file.
//!
//! The file goes through the states it would go through with redb writing it directly, in the
//! same order, only later. redb takes a commit for durable when `sync_data` returns, and it is
//! not yet: the ledger keeps the journal records a checkpoint holds until [`DbSync::wait`] says
//! the checkpoint's batch was flushed (see [`crate::Ledger::attach_journal`]). Nothing of a batch
//! reaches the file before the batch ahead of it was flushed, so the pages redb frees at a
//! commit and reuses after it are never overwritten while the disk may still need them.
//!
//! A failed write or flush stops the thread; from then on every call fails, so the ledger stops
//! taking writes until it is reopened (which replays the journal the checkpoint did not free).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use redb::{BackendError, StorageBackend};

/// Bytes a batch writes between two flushes.
const FLUSH_SLICE: usize = 256 << 10;

/// One write or length change, in the order redb made them.
#[derive(Clone)]
enum Op {
    Write(u64, Arc<[u8]>),
    SetLen(u64),
}

/// Writes and length changes between two `sync_data` calls.
#[derive(Default)]
struct Batch {
    ops: Vec<Op>,
    /// The writes by `(offset, position in ops)`, for reads.
    writes: BTreeMap<(u64, usize), Arc<[u8]>>,
    /// The longest write, to bound the search for writes that overlap a read.
    longest: u64,
}

impl Batch {
    fn write(&mut self, offset: u64, data: Arc<[u8]>) {
        self.longest = self.longest.max(data.len() as u64);
        self.writes.insert((offset, self.ops.len()), data.clone());
        self.ops.push(Op::Write(offset, data));
    }

    /// The writes of this batch that overlap `[offset, end)`, as `(offset, bytes)` in the order
    /// they were made.
    fn overlapping(&self, offset: u64, end: u64) -> Vec<(u64, &Arc<[u8]>)> {
        let from = offset.saturating_sub(self.longest.saturating_sub(1));
        let mut hits: Vec<(usize, u64, &Arc<[u8]>)> = self
            .writes
            .range((from, 0)..(end, 0))
            .filter(|((at, _), data)| at + data.len() as u64 > offset)
            .map(|((at, pos), data)| (*pos, *at, data))
            .collect();
        hits.sort_unstable_by_key(|(pos, _, _)| *pos);
        hits.into_iter().map(|(_, at, data)| (at, data)).collect()
    }
}

/// Copies `writes` (from [`Batch::overlapping`]) over `out`, which holds the bytes from `offset`.
fn overlay<'a>(writes: impl IntoIterator<Item = (u64, &'a [u8])>, offset: u64, out: &mut [u8]) {
    let end = offset + out.len() as u64;
    for (at, data) in writes {
        let lo = at.max(offset);
        let hi = (at + data.len() as u64).min(end);
        out[(lo - offset) as usize..(hi - offset) as usize]
            .copy_from_slice(&data[(lo - at) as usize..(hi - at) as usize]);
    }
}

struct State {
    /// Kept since the last `sync_data`.
    current: Batch,
    /// Handed over and not flushed yet, oldest first. The thread takes the front one and
    /// removes it once it is on disk.
    queue: VecDeque<Arc<Batch>>,
    /// The length redb sees.
    len: u64,
    /// What the file's own length is (at least), as far as the batches written so far made it.
    file_len: u64,
    /// Batches handed over, and flushed, since the start.
    sealed: u64,
    synced: u64,
    /// The first failure of the thread; every call fails after it.
    failed: Option<String>,
    /// Set by `close`: the thread ends once the queue is empty.
    closing: bool,
    /// The file was cut outside the batches since the last `sync_data`: the next batch
    /// flushes, even if it writes nothing.
    cut: bool,
}

struct Shared {
    inner: Box<dyn StorageBackend>,
    state: Mutex<State>,
    /// Signalled when a batch is handed over, flushed, or fails, and at close.
    changed: Condvar,
    /// Whether a thread writes the batches (else [`DbSync::pump`] does).
    threaded: bool,
    /// Held while a batch is written.
    writing: Mutex<()>,
    /// Bytes a batch writes between two flushes.
    slice: AtomicUsize,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteBehind({:?})", self.inner)
    }
}

fn failed(why: &str) -> io::Error {
    io::Error::other(format!(
        "an earlier write of the ledger file failed ({why}); reopen the ledger"
    ))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere does not break it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(state: &State) -> io::Result<()> {
        match &state.failed {
            Some(why) => Err(failed(why)),
            None => Ok(()),
        }
    }

    /// Writes the oldest batch handed over and flushes it. Returns whether there was one.
    fn write_one(&self) -> io::Result<bool> {
        // One batch at a time, whoever writes it.
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let batch = {
            let s = self.lock();
            Shared::check(&s)?;
            match s.queue.front() {
                Some(b) => b.clone(),
                None => return Ok(false),
            }
        };
        let mut grown = 0;
        let mut unsynced = 0;
        let written = batch
            .ops
            .iter()
            .try_for_each(|op| {
                match op {
                    Op::Write(at, data) => {
                        grown = grown.max(at + data.len() as u64);
                        unsynced += data.len();
                        self.inner.write(*at, data)?;
                    }
                    Op::SetLen(len) => {
                        grown = *len;
                        self.inner.set_len(*len)?;
                    }
                }
                // Flushed a slice at a time, so the disk never holds much of it at once: a
                // flush of the journal meanwhile (which flushes the disk's cache too) then
                // waits for one slice, not the whole checkpoint. Part of a batch on disk is
                // what a crash in the middle of one flush leaves too; the next batch still
                // starts only once all of this one is flushed.
                if unsynced >= self.slice.load(Ordering::Relaxed) {
                    unsynced = 0;
                    self.inner.sync_data()?;
                }
                Ok(())
            })
            .and_then(|()| self.inner.sync_data());
        let mut s = self.lock();
        match &written {
            Ok(()) => {
                s.queue.pop_front();
                s.file_len = s.file_len.max(grown);
                s.synced += 1;
            }
            Err(e) => {
                // The batch stays in the queue: reads still see it.
                s.failed.get_or_insert_with(|| e.to_string());
            }
        }
        drop(s);
        self.changed.notify_all();
        written.map(|()| true)
    }

    /// The thread: writes batches as they come, until closed or failed.
    fn run(&self) {
        loop {
            {
                let mut s = self.lock();
                while s.queue.is_empty() && !s.closing && s.failed.is_none() {
                    s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                if s.failed.is_some() || s.queue.is_empty() {
                    return;
                }
            }
            if self.write_one().is_err() {
                return;
            }
        }
    }

    /// Hands what was kept since the last call to the thread. Returns its number.
    fn seal(&self) -> io::Result<u64> {
        let mut s = self.lock();
        Shared::check(&s)?;
        if !s.current.ops.is_empty() || s.cut {
            s.cut = false;
            let batch = std::mem::take(&mut s.current);
            s.queue.push_back(Arc::new(batch));
            s.sealed += 1;
            let n = s.sealed;
            drop(s);
            self.changed.notify_all();
            return Ok(n);
        }
        Ok(s.sealed)
    }

    /// Waits until batch `n` is on disk (writing batches itself without a thread).
    fn wait(&self, n: u64) -> io::Result<()> {
        loop {
            let s = self.lock();
            Shared::check(&s)?;
            if s.synced >= n {
                return Ok(());
            }
            if self.threaded {
                drop(self.changed.wait(s).unwrap_or_else(|e| e.into_inner()));
            } else {
                drop(s);
                self.write_one()?;
            }
        }
    }

    /// Hands everything over and waits until it is on disk.
    fn drain(&self) -> io::Result<()> {
        let n = self.seal()?;
        self.wait(n)
    }
}

/// A redb [`StorageBackend`] that writes behind: see the module documentation. Build the
/// database with [`redb::Builder::create_with_backend`], and give the [`DbSync`] that comes
/// with it to [`crate::Ledger::attach_journal`]: without a journal, nothing makes a commit
/// durable before `sync_data`'s batch is flushed.
pub struct WriteBehind {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for WriteBehind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

/// Tells when the batches a [`WriteBehind`] was handed are on disk.
#[derive(Clone, Debug)]
pub struct DbSync(Arc<Shared>);

impl WriteBehind {
    /// Wraps `inner`, with a thread named `name` that writes the batches.
    pub fn spawn(inner: impl StorageBackend, name: String) -> io::Result<(WriteBehind, DbSync)> {
        let (wb, sync) = WriteBehind::new(Box::new(inner), true)?;
        let shared = wb.shared.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || shared.run())?;
        if let Ok(mut t) = wb.thread.lock() {
            *t = Some(thread);
        }
        Ok((wb, sync))
    }

    /// Wraps `inner` without a thread: batches are written when [`DbSync::pump`] or
    /// [`DbSync::wait`] is called (the simulator decides when, from its seed).
    pub fn manual(inner: impl StorageBackend) -> io::Result<(WriteBehind, DbSync)> {
        WriteBehind::new(Box::new(inner), false)
    }

    /// Opens the redb file at `path`, which must exist (a ledger is created without a journal,
    /// and opened with one), with a writing thread.
    pub fn open_file(path: &std::path::Path) -> io::Result<(WriteBehind, DbSync)> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        if file.metadata()?.len() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the file is empty, not a ledger",
            ));
        }
        let backend = redb::backends::FileBackend::new(file).map_err(io::Error::other)?;
        let name = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().chars().take(6).collect::<String>())
            .unwrap_or_default();
        WriteBehind::spawn(backend, format!("openpact-disk-{name}"))
    }

    fn new(inner: Box<dyn StorageBackend>, threaded: bool) -> io::Result<(WriteBehind, DbSync)> {
        let len = inner.len()?;
        let shared = Arc::new(Shared {
            inner,
            state: Mutex::new(State {
                current: Batch::default(),
                queue: VecDeque::new(),
                len,
                file_len: len,
                sealed: 0,
                synced: 0,
                failed: None,
                closing: false,
                cut: false,
            }),
            changed: Condvar::new(),
            threaded,
            writing: Mutex::new(()),
            slice: AtomicUsize::new(FLUSH_SLICE),
        });
        let sync = DbSync(shared.clone());
        Ok((
            WriteBehind {
                shared,
                thread: Mutex::new(None),
            },
            sync,
        ))
    }

    /// Sets how many bytes a batch writes between two flushes (256 KiB unless set).
    pub fn set_flush_slice(&self, bytes: usize) {
        self.shared.slice.store(bytes.max(1), Ordering::Relaxed);
    }

    /// Writes everything out and ends the thread. Idempotent.
    fn finish(&self) -> io::Result<()> {
        let drained = self.shared.drain();
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
        drained
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        // redb closes its backend before dropping it; this covers a backend never handed to
        // a database.
        let _ = self.finish();
    }
}

impl DbSync {
    /// Number of batches handed over so far: after a durable commit, the one that holds it.
    pub fn sealed(&self) -> u64 {
        self.0.lock().sealed
    }

    /// Number of batches on disk.
    pub fn synced(&self) -> u64 {
        self.0.lock().synced
    }

    /// Waits until batch `n` (see [`DbSync::sealed`]) is on disk, or says why it never will be.
    pub fn wait(&self, n: u64) -> io::Result<()> {
        self.0.wait(n)
    }

    /// Without a thread ([`WriteBehind::manual`]): writes and flushes the oldest batch waiting.
    /// Returns whether there was one.
    pub fn pump(&self) -> io::Result<bool> {
        self.0.write_one()
    }
}

impl StorageBackend for WriteBehind {
    fn len(&self) -> io::Result<u64> {
        let s = self.shared.lock();
        Shared::check(&s)?;
        Ok(s.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(out.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "read out of range"))?;
        let (batches, current, file_len) = {
            let s = self.shared.lock();
            if end > s.len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the ledger file",
                ));
            }
            // The current batch changes once the lock is let go (its writes are taken out); the
            // handed-over ones do not (they are shared).
            let current: Vec<(u64, Arc<[u8]>)> = s
                .current
                .overlapping(offset, end)
                .into_iter()
                .map(|(at, data)| (at, data.clone()))
                .collect();
            let batches: Vec<Arc<Batch>> = s.queue.iter().cloned().collect();
            (batches, current, s.file_len)
        };
        // A batch leaves the queue only once it is in the file, so whatever the file does not
        // hold yet of this range is in `batches` or `current`.
        let on_file = file_len.clamp(offset, end);
        let (head, tail) = out.split_at_mut((on_file - offset) as usize);
        if !head.is_empty() {
            self.shared.inner.read(offset, head)?;
        }
        tail.fill(0);
        for b in &batches {
            let writes = b.overlapping(offset, end);
            overlay(writes.into_iter().map(|(at, d)| (at, &d[..])), offset, out);
        }
        overlay(current.iter().map(|(at, d)| (*at, &d[..])), offset, out);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.shared.lock();
        Shared::check(&s)?;
        if len == s.len {
            return Ok(());
        }
        if len > s.len {
            s.current.ops.push(Op::SetLen(len));
            s.len = len;
            return Ok(());
        }
        // Shrinking (rare: redb trims free space at the end after a commit). Write everything
        // out first, so no kept write beyond the new end can come back, then cut the file.
        drop(s);
        self.shared.drain()?;
        self.shared.inner.set_len(len)?;
        let mut s = self.shared.lock();
        s.len = len;
        s.file_len = len;
        s.cut = true;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.shared.seal().map(|_| ())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut s = self.shared.lock();
        Shared::check(&s)?;
        let end = offset + data.len() as u64;
        if end > s.len {
            // A write past the end extends a file, as it would on disk.
            s.current.ops.push(Op::SetLen(end));
            s.len = end;
        }
        s.current.write(offset, Arc::from(data));
        Ok(())
    }

    fn close(&self) -> io::Result<()> {
        let finished = self.finish();
        let closed = self.shared.inner.close();
        finished.and(closed)
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.shared.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.shared.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.shared.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.shared.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.shared.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.shared.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A file in memory: what was written, and what the last flush made durable.
    #[derive(Default)]
    struct Files {
        bytes: Vec<u8>,
        durable: Vec<u8>,
        syncs: u64,
        /// Fail every call from now on.
        broken: bool,
    }

    #[derive(Clone, Debug, Default)]
    struct Mem(Arc<Mutex<Files>>);

    impl fmt::Debug for Files {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Files({} bytes)", self.bytes.len())
        }
    }

    impl Mem {
        fn get(&self) -> MutexGuard<'_, Files> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
        fn live(&self) -> io::Result<MutexGuard<'_, Files>> {
            let f = self.get();
            match f.broken {
                true => Err(io::Error::other("the test broke this file")),
                false => Ok(f),
            }
        }
    }

    impl StorageBackend for Mem {
        fn len(&self) -> io::Result<u64> {
            Ok(self.live()?.bytes.len() as u64)
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
            let f = self.live()?;
            let s = offset as usize;
            let src = f
                .bytes
                .get(s..s + out.len())
                .ok_or(io::ErrorKind::UnexpectedEof)?;
            out.copy_from_slice(src);
            Ok(())
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.live()?.bytes.resize(len as usize, 0);
            Ok(())
        }
        fn sync_data(&self) -> io::Result<()> {
            let mut f = self.live()?;
            f.durable = f.bytes.clone();
            f.syncs += 1;
            Ok(())
        }
        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            let mut f = self.live()?;
            let end = offset as usize + data.len();
            if f.bytes.len() < end {
                f.bytes.resize(end, 0);
            }
            f.bytes[offset as usize..end].copy_from_slice(data);
            Ok(())
        }
    }

    #[derive(Clone, Debug)]
    enum Step {
        Write { at: u64, len: usize, byte: u8 },
        Grow(u64),
        Shrink(u64),
        Sync,
        Pump,
        Read { at: u64, len: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0..12_000u64, 1..5_000usize, any::<u8>())
                .prop_map(|(at, len, byte)| Step::Write { at, len, byte }),
            1 => (0..4_000u64).prop_map(Step::Grow),
            1 => (0..100u64).prop_map(Step::Shrink),
            2 => Just(Step::Sync),
            2 => Just(Step::Pump),
            4 => (0..16_000u64, 1..6_000usize).prop_map(|(at, len)| Step::Read { at, len }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Reads always see the newest bytes; each flushed batch leaves the file exactly as
        /// it was when redb asked for that flush, in order; a shrink writes everything first.
        #[test]
        fn reads_see_every_write_and_the_file_follows_in_order(
            steps in proptest::collection::vec(step(), 1..80),
            slice in 1..40_000usize,
        ) {
            let mem = Mem::default();
            let (wb, sync) = WriteBehind::manual(mem.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            wb.set_flush_slice(slice);
            let mut model: Vec<u8> = Vec::new();
            // What the file must hold once each sealed batch is flushed.
            let mut sealed: VecDeque<Vec<u8>> = VecDeque::new();
            let fail = |e: io::Error| TestCaseError::fail(e.to_string());
            for s in steps {
                match s {
                    Step::Write { at, len, byte } => {
                        wb.write(at, &vec![byte; len]).map_err(fail)?;
                        let end = at as usize + len;
                        if model.len() < end {
                            model.resize(end, 0);
                        }
                        model[at as usize..end].fill(byte);
                    }
                    Step::Grow(by) => {
                        let len = model.len() as u64 + by;
                        wb.set_len(len).map_err(fail)?;
                        model.resize(len as usize, 0);
                    }
                    Step::Shrink(pct) => {
                        let len = model.len() as u64 * pct / 100;
                        if len == model.len() as u64 {
                            continue;
                        }
                        wb.set_len(len).map_err(fail)?;
                        model.truncate(len as usize);
                        // Everything before was written: the file is the model, and no batch
                        // waits.
                        sealed.clear();
                        prop_assert_eq!(&mem.get().bytes, &model);
                        prop_assert!(!sync.pump().map_err(fail)?);
                    }
                    Step::Sync => {
                        let before = sync.sealed();
                        wb.sync_data().map_err(fail)?;
                        if sync.sealed() > before {
                            sealed.push_back(model.clone());
                        }
                    }
                    Step::Pump => {
                        let pumped = sync.pump().map_err(fail)?;
                        prop_assert_eq!(pumped, !sealed.is_empty());
                        if let Some(want) = sealed.pop_front() {
                            let f = mem.get();
                            prop_assert_eq!(&f.durable, &want);
                        }
                    }
                    Step::Read { at, len } => {
                        let mut out = vec![0xEE; len];
                        let r = wb.read(at, &mut out);
                        match model.get(at as usize..at as usize + len) {
                            Some(want) => {
                                r.map_err(fail)?;
                                prop_assert_eq!(&out[..], want);
                            }
                            None => prop_assert!(r.is_err()),
                        }
                    }
                }
                prop_assert_eq!(wb.len().map_err(fail)?, model.len() as u64);
                prop_assert_eq!(sync.synced() + sealed.len() as u64, sync.sealed());
            }
            // Closing writes and flushes the rest.
            wb.close().map_err(fail)?;
            let f = mem.get();
            prop_assert_eq!(&f.durable, &model);
        }
    }

    #[test]
    fn a_failed_flush_fails_every_call_after_it_and_reads_still_see_the_batch() -> io::Result<()> {
        let mem = Mem::default();
        let (wb, sync) = WriteBehind::manual(mem.clone())?;
        wb.write(0, b"first")?;
        wb.sync_data()?;
        assert!(sync.pump()?);
        wb.write(0, b"again")?;
        wb.sync_data()?;
        mem.get().broken = true;
        assert!(sync.pump().is_err());
        mem.get().broken = false;
        // The batch is not known to be on disk: nobody may go on as if it were.
        assert!(sync.wait(sync.sealed()).is_err());
        assert!(wb.write(0, b"x").is_err());
        assert!(wb.sync_data().is_err());
        assert!(wb.len().is_err());
        let mut out = [0u8; 5];
        wb.read(0, &mut out)?;
        assert_eq!(&out, b"again");
        assert_eq!(&mem.get().durable[..5], b"first");
        Ok(())
    }

    #[test]
    fn the_thread_writes_what_it_is_handed_and_close_waits_for_it() -> io::Result<()> {
        let mem = Mem::default();
        let (wb, sync) = WriteBehind::spawn(mem.clone(), "openpact-test".into())?;
        for i in 0..50u8 {
            wb.write(u64::from(i) * 100, &[i; 100])?;
            wb.sync_data()?;
        }
        sync.wait(25)?;
        assert!(mem.get().syncs >= 25);
        wb.write(5_000, b"last")?;
        wb.close()?;
        let f = mem.get();
        assert_eq!(sync.synced(), 51);
        assert_eq!(&f.durable[5_000..5_004], b"last");
        assert_eq!(&f.durable[4_900..5_000], &[49; 100]);
        Ok(())
    }

    /// A redb database on a file written behind: committed, closed, and opened again from what
    /// reached the file.
    #[test]
    fn a_database_written_behind_reopens_from_the_file()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        const T: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("t");
        let mem = Mem::default();
        {
            let (wb, sync) = WriteBehind::spawn(mem.clone(), "openpact-test".into())?;
            let db = redb::Database::builder().create_with_backend(wb)?;
            for round in 0..20u64 {
                let txn = db.begin_write()?;
                {
                    let mut t = txn.open_table(T)?;
                    for k in 0..200 {
                        t.insert(round * 1_000 + k, [round as u8; 300].as_slice())?;
                    }
                }
                txn.commit()?;
                assert!(sync.sealed() > round);
            }
        }
        let db = redb::Database::builder().create_with_backend(mem)?;
        let txn = redb::ReadableDatabase::begin_read(&db)?;
        let t = txn.open_table(T)?;
        assert_eq!(redb::ReadableTableMetadata::len(&t)?, 4_000);
        let v = t.get(19_199)?.ok_or("row 19199 is missing")?;
        assert_eq!(v.value(), [19u8; 300].as_slice());
        Ok(())
    }
}
