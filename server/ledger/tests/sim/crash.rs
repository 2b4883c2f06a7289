//! A redb storage backend that can lose power.
//!
//! [`Disk`] is one peer's storage: the ledger's redb file and, for a peer that runs with one,
//! its two journal files (see `openpact_ledger::journal`), which lose power together. A disk
//! may have the ledger's file written behind, as the daemon does (`openpact_ledger::behind`):
//! then the simulator decides, from its seed, when the batches waiting in memory are written
//! ([`Disk::pump`]), and a crash loses those not written yet. It keeps two
//! images of each file: the *volatile* one (what the process wrote, as the
//! page cache holds it) and the *durable* one (what `sync_data` made it to the platter). Writes
//! and length changes since the last sync are kept in order as `pending`. A crash is armed with
//! [`Disk::fail_after`]: after that many more writes, length changes or syncs, every one of them
//! fails, as I/O does when the machine is going down. The peer is then reopened from
//! [`Disk::after_power_loss`] (the durable image plus a seeded random part of the pending writes,
//! some of them torn, within redb's stated assumptions: single bytes are atomic and no byte
//! outside a write's range changes) or [`Disk::after_kill`] (the volatile image: the process
//! died, the OS kept what it had been given).

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use openpact_ledger::{DbSync, Ledger, PactId, WriteBehind};
use rand::RngExt as _;
use rand::rngs::StdRng;
use redb::StorageBackend;

/// One write or length change not yet synced.
#[derive(Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Default)]
struct File {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
    syncs: u64,
}

/// The ledger's file and the journal's two.
const DB: usize = 0;
const JOURNAL: usize = 1;
const JOURNAL2: usize = 2;

#[derive(Default)]
struct Images {
    files: [File; 3],
    /// Whether the ledger's file is written behind.
    behind: bool,
    /// Whether a thread writes behind, as in the daemon (else [`Disk::pump`] does).
    threaded: bool,
    /// I/O calls (write, set_len, sync) still allowed before the crash; `None`: no crash armed.
    budget: Option<u64>,
    crashed: bool,
    calls: u64,
    /// With a journal: the journal size past which a batch checkpoints.
    journal_limit: Option<u64>,
    /// Entries replayed from the journal when the ledger was opened on this disk.
    replayed: u64,
}

impl Images {
    /// Counts one mutating call against an armed crash; `Err` once the machine is down.
    fn spend(&mut self) -> io::Result<()> {
        self.calls += 1;
        if let Some(b) = self.budget.as_mut() {
            if *b == 0 {
                self.crashed = true;
            } else {
                *b -= 1;
            }
        }
        if self.crashed {
            return Err(io::Error::other("simulated crash: the machine lost power"));
        }
        Ok(())
    }
}

/// What a disk holds: both files' bytes, and whether the peer runs with a journal.
#[derive(Clone)]
pub struct Image {
    files: [Vec<u8>; 3],
    journal_limit: Option<u64>,
    behind: bool,
}

impl Image {
    /// This image with `other`'s journal in place of its own.
    pub fn with_journal_of(mut self, other: &Image) -> Image {
        for f in [JOURNAL, JOURNAL2] {
            self.files[f] = other.files[f].clone();
        }
        self
    }
}

fn apply(image: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::SetLen(len) => image.resize(*len as usize, 0),
        Pending::Write { offset, data } => write_at(image, *offset, data),
    }
}

fn write_at(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = offset as usize;
    if image.len() < start + data.len() {
        image.resize(start + data.len(), 0);
    }
    image[start..start + data.len()].copy_from_slice(data);
}

/// A simulated machine's storage, shared between the backends the ledger owns and the
/// simulator.
#[derive(Clone, Default)]
pub struct Disk(Arc<Mutex<Images>>, Arc<Mutex<Option<DbSync>>>);

impl fmt::Debug for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.lock();
        write!(
            f,
            "Disk(len {}+{}+{}, pending {}+{}+{}, crashed {})",
            i.files[DB].volatile.len(),
            i.files[JOURNAL].volatile.len(),
            i.files[JOURNAL2].volatile.len(),
            i.files[DB].pending.len(),
            i.files[JOURNAL].pending.len(),
            i.files[JOURNAL2].pending.len(),
            i.crashed
        )
    }
}

impl Disk {
    /// An empty disk; with `journal_limit`, the peer runs with a journal of that limit.
    pub fn new(journal_limit: Option<u64>) -> Self {
        let d = Disk::default();
        d.lock().journal_limit = journal_limit;
        d
    }

    /// This disk, with the ledger's file written behind (when it runs with a journal).
    pub fn behind(self) -> Self {
        {
            let mut i = self.lock();
            i.behind = i.journal_limit.is_some();
        }
        self
    }

    /// This disk, with the ledger's file written behind by a thread of its own.
    pub fn behind_threaded(self) -> Self {
        self.lock().threaded = true;
        self.behind()
    }

    /// Writes the oldest batch the ledger's file has waiting in memory, if it is written
    /// behind and one waits. Returns whether one did.
    pub fn pump(&self) -> std::io::Result<bool> {
        let sync = self.1.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match sync {
            Some(s) => s.pump(),
            None => Ok(false),
        }
    }

    /// A disk holding `image`, all of it durable.
    pub fn from_image(image: Image) -> Self {
        let d = Disk::default();
        {
            let mut i = d.lock();
            for (file, bytes) in i.files.iter_mut().zip(image.files) {
                file.durable = bytes.clone();
                file.volatile = bytes;
            }
            i.journal_limit = image.journal_limit;
            i.behind = image.behind;
        }
        d
    }

    fn lock(&self) -> MutexGuard<'_, Images> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens (or creates) a redb database on this disk.
    pub fn database(&self) -> redb::Database {
        let file = CrashBackend(self.clone(), DB);
        let (behind, threaded) = {
            let i = self.lock();
            (i.behind, i.threaded)
        };
        let opened = if behind {
            let wrapped = match threaded {
                true => WriteBehind::spawn(file, "openpact-sim-disk".into()),
                false => WriteBehind::manual(file),
            };
            let (backend, sync) =
                wrapped.unwrap_or_else(|e| panic!("wrapping the simulated file failed: {e}"));
            // Small slices, so a crash may come between the flushes of one batch.
            backend.set_flush_slice(16 << 10);
            *self.1.lock().unwrap_or_else(|e| e.into_inner()) = Some(sync);
            redb::Database::builder().create_with_backend(backend)
        } else {
            redb::Database::builder().create_with_backend(file)
        };
        opened.unwrap_or_else(|e| panic!("opening a database on the simulated disk failed: {e}"))
    }

    /// Attaches this disk's journal to `ledger`, when the peer runs with one.
    pub fn attach(&self, ledger: &mut Ledger) -> openpact_ledger::Result<()> {
        let limit = self.lock().journal_limit;
        if let Some(limit) = limit {
            let sync = self.1.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let replayed = ledger.attach_journal(
                CrashBackend(self.clone(), JOURNAL),
                CrashBackend(self.clone(), JOURNAL2),
                sync,
            )?;
            self.lock().replayed += replayed as u64;
            ledger.set_journal_limit(limit);
        }
        Ok(())
    }

    /// Opens the ledger on this disk (replaying its journal, if any).
    pub fn open(&self) -> openpact_ledger::Result<Ledger> {
        let mut l = Ledger::open(self.database())?;
        self.attach(&mut l)?;
        Ok(l)
    }

    /// Joins `pact` on this disk, with its journal.
    pub fn join(&self, pact: PactId) -> openpact_ledger::Result<Ledger> {
        let mut l = Ledger::join(self.database(), pact)?;
        self.attach(&mut l)?;
        Ok(l)
    }

    /// Entries replayed from the journal by the ledgers opened on this disk.
    pub fn replayed(&self) -> u64 {
        self.lock().replayed
    }

    /// Arms a crash: after `calls` more mutating I/O calls, all of them fail.
    pub fn fail_after(&self, calls: u64) {
        let mut i = self.lock();
        i.budget = Some(calls);
        i.crashed = false;
    }

    /// Fails every mutating call from now on.
    pub fn crash_now(&self) {
        let mut i = self.lock();
        i.crashed = true;
    }

    /// Whether the armed crash has happened.
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Number of mutating I/O calls (write, set_len, sync) so far, failed ones included.
    pub fn io_calls(&self) -> u64 {
        self.lock().calls
    }

    /// Number of successful `sync_data` calls so far, of both files.
    pub fn syncs(&self) -> u64 {
        let i = self.lock();
        i.files.iter().map(|f| f.syncs).sum()
    }

    /// What the OS holds: the volatile images (batches of a file written behind that are not
    /// written yet are in the process's memory, not here).
    pub fn volatile(&self) -> Image {
        let i = self.lock();
        Image {
            files: [DB, JOURNAL, JOURNAL2].map(|n| i.files[n].volatile.clone()),
            journal_limit: i.journal_limit,
            behind: i.behind,
        }
    }

    /// The images after the process was killed (the OS keeps every write it accepted).
    pub fn after_kill(&self) -> Image {
        self.volatile()
    }

    /// The images after a power loss: each file's durable image, then each of its pending
    /// writes in order either kept, lost, or torn (a random run of its bytes kept), length
    /// changes kept or lost.
    pub fn after_power_loss(&self, rng: &mut StdRng) -> Image {
        let i = self.lock();
        let files = [DB, JOURNAL, JOURNAL2].map(|n| {
            let file = &i.files[n];
            let mut image = file.durable.clone();
            for op in &file.pending {
                match rng.random_range(0..10u32) {
                    0..=4 => apply(&mut image, op),
                    5..=7 => {}
                    _ => match op {
                        Pending::SetLen(_) => {}
                        Pending::Write { offset, data } if !data.is_empty() => {
                            let a = rng.random_range(0..data.len());
                            let b = rng.random_range(a..=data.len());
                            write_at(&mut image, offset + a as u64, &data[a..b]);
                        }
                        Pending::Write { .. } => {}
                    },
                }
            }
            image
        });
        Image {
            files,
            journal_limit: i.journal_limit,
            behind: i.behind,
        }
    }
}

/// The [`StorageBackend`] over one file of a [`Disk`].
pub struct CrashBackend(Disk, usize);

impl fmt::Debug for CrashBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CrashBackend({:?}, file {})", self.0, self.1)
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "read past the end of the simulated file",
    )
}

impl StorageBackend for CrashBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.lock().files[self.1].volatile.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let i = self.0.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let src = i.files[self.1]
            .volatile
            .get(start..start + out.len())
            .ok_or_else(out_of_range)?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut i = self.0.lock();
        i.spend()?;
        let op = Pending::SetLen(len);
        let file = &mut i.files[self.1];
        apply(&mut file.volatile, &op);
        file.pending.push(op);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut i = self.0.lock();
        i.spend()?;
        let file = &mut i.files[self.1];
        let pending = std::mem::take(&mut file.pending);
        for op in &pending {
            apply(&mut file.durable, op);
        }
        file.syncs += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut i = self.0.lock();
        i.spend()?;
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = start + data.len();
        let file = &mut i.files[self.1];
        if end > file.volatile.len() {
            return Err(out_of_range());
        }
        file.volatile[start..end].copy_from_slice(data);
        file.pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}
