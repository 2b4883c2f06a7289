//! Signing a batch's appends ahead. An ed25519 signature costs about as much as the rest of an
//! append, and nothing in the batch needs it before the entry bytes are written at the end. So
//! from a batch's second append on, a helper thread (one per process) signs each append as soon
//! as it is prepared, while the batch goes on storing and applying on its own thread; at the end
//! the batch signs whatever the helper has not signed yet, including the append the helper is
//! signing at that moment, rather than wait for it: the helper may be waiting for a core, and an
//! ed25519 signature is deterministic, so both give the same bytes.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, mpsc};

use crate::entry::Unsigned;
use crate::error::{Error, Result};
use crate::keys::Signer;

type Job = Arc<(Unsigned, Signer)>;

#[derive(Default)]
struct Queue {
    /// The batch's appends in order.
    jobs: Vec<Job>,
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
                return Some((i, q.jobs[i].clone()));
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
        while let Some((i, job)) = self.claim(wait) {
            self.sign(i, &job);
        }
    }

    /// Signs job `i` and keeps its bytes, unless they were kept meanwhile.
    fn sign(&self, i: usize, job: &Job) {
        let bytes = job.0.signed_bytes(&job.1);
        // Nobody waits for a signature (the batch's thread signs what it lacks), so no wake-up.
        if let Some(mut q) = self.lock()
            && q.signed[i].is_none()
        {
            q.signed[i] = Some(bytes);
        }
    }

    /// A job claimed but not signed yet (by the helper, still at it), if any.
    fn unfinished(&self) -> Option<(usize, Job)> {
        let q = self.lock()?;
        let i = q.signed.iter().position(Option::is_none)?;
        Some((i, q.jobs[i].clone()))
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
                q.jobs.push(Arc::new((unsigned, signer)));
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

    /// Signs what is left (without waiting for the helper), and returns the `SignedEntry` bytes
    /// of every queued append, in order.
    pub(super) fn finish(self) -> Result<Vec<Vec<u8>>> {
        self.shared.close();
        self.shared.work(false);
        while let Some((i, job)) = self.shared.unfinished() {
            self.shared.sign(i, &job);
        }
        let mut q = self
            .shared
            .lock()
            .ok_or_else(|| Error::Corrupt("signing an append failed".into()))?;
        Ok(q.signed.iter_mut().filter_map(Option::take).collect())
    }
}

impl Drop for SignAhead {
    fn drop(&mut self) {
        // A batch that failed must not leave the helper waiting for more of its appends.
        self.shared.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::entry::{Draft, prepare};
    use crate::keys::{EntryHash, PactId};
    use crate::wire;

    fn unsigned(signer: &Signer, seq: u64) -> Unsigned {
        let body = wire::Body {
            ops: vec![wire::Op {
                op: Some(wire::op::Op::Knowledge(wire::Knowledge {
                    topic: "t".into(),
                    content: format!("note {seq}"),
                    ..Default::default()
                })),
            }],
            display_name: None,
        };
        let draft = Draft {
            pact: PactId([9; 32]),
            seq,
            prev: Some(EntryHash([seq as u8; 32])),
            deps: Vec::new(),
            lamport: seq + 1,
            epoch: 0,
            time_ms: 5,
            body,
        };
        prepare(signer.public(), draft)
    }

    /// `finish` on another thread, failing the test (not hanging it) if it blocks.
    fn finish_within(sa: SignAhead, limit: Duration) -> Vec<Vec<u8>> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(sa.finish());
        });
        match rx.recv_timeout(limit) {
            Ok(r) => r.expect("finish"),
            Err(_) => panic!("finish blocked for {limit:?}"),
        }
    }

    #[test]
    fn a_signature_is_the_same_bytes_each_time() {
        // `finish` signs a job the helper is still signing and keeps whichever is first: that
        // is only sound because ed25519 (RFC 8032) signs deterministically.
        let signer = Signer::from_seed([3; 32]);
        let u = unsigned(&signer, 1);
        assert_eq!(u.signed_bytes(&signer), u.signed_bytes(&signer));
    }

    #[test]
    fn finish_gives_every_append_signed_in_order() {
        let signer = Signer::from_seed([3; 32]);
        for n in [1, 2, 3, 17, 64] {
            let mut sa = SignAhead::default();
            let expected: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let u = unsigned(&signer, i + 1);
                    let bytes = u.signed_bytes(&signer);
                    sa.push(u, signer.clone());
                    bytes
                })
                .collect();
            assert_eq!(
                finish_within(sa, Duration::from_secs(30)),
                expected,
                "{n} appends"
            );
        }
    }

    #[test]
    fn finish_signs_a_job_the_helper_holds_instead_of_waiting() {
        // A helper that claimed the first job and then never ran again (as when it waits for a
        // core): the batch still finishes, with that job signed too.
        let signer = Signer::from_seed([3; 32]);
        let sa = SignAhead::default();
        let mut expected = Vec::new();
        if let Some(mut q) = sa.shared.lock() {
            for i in 0..3 {
                let u = unsigned(&signer, i + 1);
                expected.push(u.signed_bytes(&signer));
                q.jobs.push(Arc::new((u, signer.clone())));
                q.signed.push(None);
            }
        }
        let held = sa.shared.claim(false).map(|(i, _)| i);
        assert_eq!(held, Some(0));
        assert_eq!(finish_within(sa, Duration::from_secs(30)), expected);
    }
}
