//! Signing a batch's appends ahead. An ed25519 signature costs about as much as the rest of an
//! append, and nothing in the batch needs it before the entry bytes are written at the end. So
//! from a batch's second append on, a helper thread (one per process) signs each append as soon
//! as it is prepared, while the batch goes on storing and applying on its own thread; at the end
//! the batch signs whatever the helper has not taken yet and waits for the rest.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, mpsc};

use crate::entry::Unsigned;
use crate::error::{Error, Result};
use crate::keys::Signer;

type Job = (Unsigned, Signer);

#[derive(Default)]
struct Queue {
    /// The batch's appends in order; a job is taken out when claimed.
    jobs: Vec<Option<Job>>,
    /// Their `SignedEntry` bytes, once signed.
    signed: Vec<Option<Vec<u8>>>,
    /// The next job to claim.
    next: usize,
    /// No more jobs will come: the helper stops waiting for them.
    closed: bool,
    /// Threads waiting for a change: only then does a change wake anyone (a wake-up is a
    /// system call, and most changes find nobody waiting).
    waiting: usize,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> Option<MutexGuard<'_, Queue>> {
        self.queue.lock().ok()
    }

    /// Claims the next job; with `wait`, waits for one until the queue is closed.
    fn claim(&self, wait: bool) -> Option<(usize, Job)> {
        let mut q = self.lock()?;
        loop {
            if q.next < q.jobs.len() {
                let i = q.next;
                q.next += 1;
                return q.jobs[i].take().map(|job| (i, job));
            }
            if !wait || q.closed {
                return None;
            }
            q = self.wait(q)?;
        }
    }

    /// Waits for a change.
    fn wait<'a>(&'a self, mut q: MutexGuard<'a, Queue>) -> Option<MutexGuard<'a, Queue>> {
        q.waiting += 1;
        let mut q = self.changed.wait(q).ok()?;
        q.waiting -= 1;
        Some(q)
    }

    /// Wakes the waiting threads, if any (`q` is the changed queue, still locked).
    fn notify(&self, q: MutexGuard<'_, Queue>) {
        let waiting = q.waiting > 0;
        drop(q);
        if waiting {
            self.changed.notify_all();
        }
    }

    /// Signs claimed jobs until none is left (waiting for more with `wait`).
    fn work(&self, wait: bool) {
        while let Some((i, (unsigned, signer))) = self.claim(wait) {
            let bytes = unsigned.signed_bytes(&signer);
            if let Some(mut q) = self.lock() {
                q.signed[i] = Some(bytes);
                self.notify(q);
            }
        }
    }

    fn close(&self) {
        if let Some(mut q) = self.lock() {
            q.closed = true;
            self.notify(q);
        }
    }
}

/// The process-wide signing helper, when the machine has a second core for it.
fn helper() -> Option<&'static mpsc::Sender<Arc<Shared>>> {
    static HELPER: OnceLock<Option<mpsc::Sender<Arc<Shared>>>> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if cores < 2 {
                return None;
            }
            let (tx, rx) = mpsc::channel::<Arc<Shared>>();
            std::thread::Builder::new()
                .name("openpact-signer".into())
                .spawn(move || {
                    for batch in rx {
                        batch.work(true);
                    }
                })
                .ok()?;
            Some(tx)
        })
        .as_ref()
}

/// One batch's appends, signed ahead.
#[derive(Default)]
pub(super) struct SignAhead {
    shared: Arc<Shared>,
    helped: bool,
}

impl SignAhead {
    /// Queues an append for signing.
    pub(super) fn push(&mut self, unsigned: Unsigned, signer: Signer) {
        let queued = match self.shared.lock() {
            Some(mut q) => {
                q.jobs.push(Some((unsigned, signer)));
                q.signed.push(None);
                let queued = q.jobs.len();
                self.shared.notify(q);
                queued
            }
            None => return, // cannot happen: nothing panics while holding the lock
        };
        // One append is signed at the end, on the batch's thread: a hand-off would cost more.
        if queued == 2
            && !self.helped
            && let Some(tx) = helper()
        {
            self.helped = tx.send(self.shared.clone()).is_ok();
        }
    }

    /// Signs what is left, waits for the helper, and returns the `SignedEntry` bytes of every
    /// queued append, in order.
    pub(super) fn finish(self) -> Result<Vec<Vec<u8>>> {
        let failed = || Error::Corrupt("signing an append failed".into());
        self.shared.close();
        self.shared.work(false);
        let mut q = self.shared.lock().ok_or_else(failed)?;
        while q.signed.iter().any(Option::is_none) {
            q = self.shared.wait(q).ok_or_else(failed)?;
        }
        Ok(q.signed.iter_mut().filter_map(Option::take).collect())
    }
}

impl Drop for SignAhead {
    fn drop(&mut self) {
        // A batch that failed must not leave the helper waiting for more of its appends.
        self.shared.close();
    }
}
