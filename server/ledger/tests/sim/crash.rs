//! A redb storage backend that can lose power.
//!
//! [`Disk`] keeps two images of one file: the *volatile* one (what the process wrote, as the
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

use rand::RngExt as _;
use rand::rngs::StdRng;
use redb::StorageBackend;

/// One write or length change not yet synced.
#[derive(Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Default)]
struct Images {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
    /// I/O calls (write, set_len, sync) still allowed before the crash; `None`: no crash armed.
    budget: Option<u64>,
    crashed: bool,
    syncs: u64,
    calls: u64,
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

/// A simulated file, shared between the backend redb owns and the simulator.
#[derive(Clone, Default)]
pub struct Disk(Arc<Mutex<Images>>);

impl fmt::Debug for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.lock();
        write!(
            f,
            "Disk(len {}, pending {}, crashed {})",
            i.volatile.len(),
            i.pending.len(),
            i.crashed
        )
    }
}

impl Disk {
    /// An empty disk.
    pub fn new() -> Self {
        Disk::default()
    }

    /// A disk holding `image`, all of it durable.
    pub fn from_image(image: Vec<u8>) -> Self {
        let d = Disk::default();
        {
            let mut i = d.lock();
            i.durable = image.clone();
            i.volatile = image;
        }
        d
    }

    fn lock(&self) -> MutexGuard<'_, Images> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The backend to give redb.
    pub fn backend(&self) -> CrashBackend {
        CrashBackend(self.clone())
    }

    /// Opens (or creates) a redb database on this disk.
    pub fn database(&self) -> redb::Database {
        redb::Database::builder()
            .create_with_backend(self.backend())
            .unwrap_or_else(|e| panic!("opening a database on the simulated disk failed: {e}"))
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

    /// Number of successful `sync_data` calls so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// What the process sees: the volatile image.
    pub fn volatile(&self) -> Vec<u8> {
        self.lock().volatile.clone()
    }

    /// The image after the process was killed (the OS keeps every write it accepted).
    pub fn after_kill(&self) -> Vec<u8> {
        self.volatile()
    }

    /// The image after a power loss: the durable image, then each pending write in order either
    /// kept, lost, or torn (a random run of its bytes kept), length changes kept or lost.
    pub fn after_power_loss(&self, rng: &mut StdRng) -> Vec<u8> {
        let i = self.lock();
        let mut image = i.durable.clone();
        for op in &i.pending {
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
    }
}

/// The [`StorageBackend`] over a [`Disk`].
pub struct CrashBackend(Disk);

impl fmt::Debug for CrashBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CrashBackend({:?})", self.0)
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
        Ok(self.0.lock().volatile.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let i = self.0.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let src = i
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
        apply(&mut i.volatile, &op);
        i.pending.push(op);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut i = self.0.lock();
        i.spend()?;
        let pending = std::mem::take(&mut i.pending);
        for op in &pending {
            apply(&mut i.durable, op);
        }
        i.syncs += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut i = self.0.lock();
        i.spend()?;
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = start + data.len();
        if end > i.volatile.len() {
            return Err(out_of_range());
        }
        i.volatile[start..end].copy_from_slice(data);
        i.pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}
