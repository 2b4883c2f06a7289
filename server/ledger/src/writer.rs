//! The writer: one thread per pact that owns the ledger's write transaction.
//!
//! Callers send appends and ingests over a channel; the thread drains whatever is waiting into
//! one batch (group commit: one transaction for many writes) and commits it. With a journal
//! attached, the commit does not wait for the disk: a second thread, the flusher, writes the
//! journal records of every batch committed since its last flush with one write and one
//! `fdatasync`, and only then shows the batches to readers (it publishes the snapshot the
//! writer took after the last of them), hands their events to the sink, and answers their
//! callers. So an answer still means the entry is durable, and the writer works on the next
//! batch while the disk flushes the last one. When this peer is the indexer and unconfirmed
//! entries are waiting, the writer adds a small null entry after a debounce: an anchor that
//! confirms them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::entry::VerifiedEntry;
use crate::error::{Error, Result};
use crate::keys::{PactId, Signer};
use crate::ledger::{AppendResult, Deferred, Event, Ingested, Ledger};
use crate::view::read::{Snapshot, ViewReader};
use crate::wire;

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Most commands in one transaction.
    pub max_batch: usize,
    /// When this peer is the indexer: how long to wait before anchoring unconfirmed entries
    /// (`None`: never anchor on its own).
    pub anchor_debounce: Option<Duration>,
    /// With a journal: after this long without commands, checkpoint what the journal holds
    /// (`None`: only when it passes its limit, and at close).
    pub idle_checkpoint: Option<Duration>,
    /// Longest wait, after the first command of a batch, for as many commands as the last
    /// batch held, when no batch is being flushed (zero: never wait). While one is, the writer
    /// takes what is there, so its work overlaps the flush.
    pub gather: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 512,
            anchor_debounce: Some(Duration::from_millis(200)),
            gather: Duration::from_micros(300),
            idle_checkpoint: Some(Duration::from_millis(100)),
        }
    }
}

/// Receives each durable batch's events (possibly none), on the flusher thread, in commit order,
/// once readers can see the batch and before its callers hear their answers.
pub type EventSink = Box<dyn FnMut(&[Event]) + Send>;

enum Cmd {
    Append {
        body: wire::Body,
        reply: oneshot::Sender<Result<AppendResult>>,
    },
    Ingest {
        entries: Vec<Incoming>,
        reply: oneshot::Sender<Result<Vec<Ingested>>>,
    },
    Stop,
}

/// A handle to a pact's writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Cmd>,
    /// The snapshot readers get: the state after the last durable batch.
    published: Published,
    pact: PactId,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({:?})", self.pact)
    }
}

impl Writer {
    /// Starts the writer thread for `ledger`, writing as `signer` with time from `clock`.
    pub fn spawn(
        ledger: Ledger,
        signer: Signer,
        clock: Arc<dyn Clock>,
        config: WriterConfig,
        events: EventSink,
    ) -> Result<Writer> {
        let (tx, rx) = mpsc::channel();
        let pact = ledger.pact_id();
        let published: Published = Arc::new(RwLock::new(ledger.snapshot()?));
        let short = &pact.to_hex()[..8];
        let (flush_tx, flush_rx) = mpsc::channel();
        let flushing = Arc::new(AtomicUsize::new(0));
        let flusher = {
            let published = published.clone();
            let flushing = flushing.clone();
            std::thread::Builder::new()
                .name(format!("openpact-flush-{short}"))
                .spawn(move || flush(flush_rx, events, published, &flushing))
                .map_err(|e| Error::Io(format!("cannot start the flusher thread: {e}")))?
        };
        let worker = Worker {
            ledger,
            signer,
            clock,
            config,
            rx,
            flush: flush_tx,
            flusher,
            flushing,
        };
        let thread = std::thread::Builder::new()
            .name(format!("openpact-writer-{short}"))
            .spawn(move || worker.run())
            .map_err(|e| Error::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            tx,
            published,
            pact,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// The pact.
    pub fn pact_id(&self) -> PactId {
        self.pact
    }

    /// Appends an entry and waits until it is durable and applied.
    pub fn append(&self, body: wire::Body) -> Result<AppendResult> {
        self.append_async(body)
            .recv()
            .map_err(|_| Error::WriterStopped)?
    }

    /// Appends an entry; the receiver (blocking `recv`, or `.await`) yields once it is durable.
    pub fn append_async(&self, body: wire::Body) -> oneshot::Receiver<Result<AppendResult>> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::SendError(Cmd::Append { reply, .. })) =
            self.tx.send(Cmd::Append { body, reply })
        {
            let _ = reply.send(Err(Error::WriterStopped));
        }
        rx
    }

    /// Ingests entries from a peer and waits until they are durable and applied.
    pub fn ingest(&self, entries: Vec<Vec<u8>>) -> Result<Vec<Ingested>> {
        self.ingest_async(entries)
            .recv()
            .map_err(|_| Error::WriterStopped)?
    }

    /// Ingests entries from a peer; the receiver yields once they are durable.
    pub fn ingest_async(&self, entries: Vec<Vec<u8>>) -> oneshot::Receiver<Result<Vec<Ingested>>> {
        self.send_ingest(entries.into_iter().map(Incoming::Bytes).collect())
    }

    /// Ingests entries the caller already ran through [`crate::entry::verify`] for this pact
    /// (on its own threads, so the writer only orders, applies and commits); the receiver yields
    /// once they are durable.
    pub fn ingest_verified_async(
        &self,
        entries: Vec<VerifiedEntry>,
    ) -> oneshot::Receiver<Result<Vec<Ingested>>> {
        self.send_ingest(
            entries
                .into_iter()
                .map(|e| Incoming::Verified(Box::new(e)))
                .collect(),
        )
    }

    fn send_ingest(&self, entries: Vec<Incoming>) -> oneshot::Receiver<Result<Vec<Ingested>>> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::SendError(Cmd::Ingest { reply, .. })) =
            self.tx.send(Cmd::Ingest { entries, reply })
        {
            let _ = reply.send(Err(Error::WriterStopped));
        }
        rx
    }

    /// A consistent snapshot of the view: the state after the last durable batch. Never waits
    /// for the writer.
    pub fn reader(&self) -> Result<ViewReader> {
        let txn = self
            .published
            .read()
            .map_err(|_| Error::Storage("the writer's snapshot lock was poisoned".into()))?
            .clone();
        Ok(ViewReader::shared(txn, self.pact))
    }

    /// Stops the writer after the commands already sent, and waits for it.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Cmd::Stop);
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

type Published = Arc<RwLock<Snapshot>>;

struct Worker {
    ledger: Ledger,
    signer: Signer,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    rx: mpsc::Receiver<Cmd>,
    /// Committed batches, to the flusher.
    flush: mpsc::Sender<Committed>,
    flusher: JoinHandle<()>,
    /// Batches sent to the flusher and not answered yet.
    flushing: Arc<AtomicUsize>,
}

/// A batch the writer committed, for the flusher to make durable, show and answer.
struct Committed {
    /// Its journal record (none without a journal, or when it stored nothing).
    deferred: Option<Deferred>,
    /// The state after it (none when it failed).
    snapshot: Option<Snapshot>,
    events: Vec<Event>,
    answers: Vec<Answer>,
}

/// A caller and its answer.
enum Answer {
    Append(oneshot::Sender<Result<AppendResult>>, Result<AppendResult>),
    Ingest(
        oneshot::Sender<Result<Vec<Ingested>>>,
        Result<Vec<Ingested>>,
    ),
}

impl Answer {
    /// Sends the answer, or `failed` in place of a success (its batch is not durable).
    fn send(self, failed: Option<&str>) {
        let err = |m: &str| Error::Storage(m.to_string());
        match self {
            Answer::Append(tx, r) => {
                let _ = tx.send(match failed {
                    Some(m) if r.is_ok() => Err(err(m)),
                    _ => r,
                });
            }
            Answer::Ingest(tx, r) => {
                let _ = tx.send(match failed {
                    Some(m) if r.is_ok() => Err(err(m)),
                    _ => r,
                });
            }
        }
    }
}

/// The flusher thread: takes every committed batch waiting, writes their journal records with
/// one write and one flush, then publishes the newest snapshot, hands the events to the sink and
/// answers the callers, batch by batch in commit order. Ends when the writer does.
fn flush(
    rx: mpsc::Receiver<Committed>,
    mut events: EventSink,
    published: Published,
    flushing: &AtomicUsize,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        let n = group.len();
        let records: Vec<Deferred> = group.iter_mut().filter_map(|c| c.deferred.take()).collect();
        match Deferred::flush(records) {
            Ok(()) => {
                if let Some(s) = group.iter().rev().find_map(|c| c.snapshot.clone())
                    && let Ok(mut p) = published.write()
                {
                    *p = s;
                }
                for c in group {
                    // The sink hears of a batch before any caller does: whoever learns of an
                    // acknowledged write can already find its events (and caches keyed by
                    // commits already know they are stale).
                    events(&c.events);
                    for a in c.answers {
                        a.send(None);
                    }
                }
            }
            Err(e) => {
                // Not durable, or not known to be: every caller of these batches hears so,
                // and the ledger takes no more writes until it is reopened.
                let msg = e.to_string();
                for c in group {
                    for a in c.answers {
                        a.send(Some(&msg));
                    }
                }
            }
        }
        flushing.fetch_sub(n, Ordering::AcqRel);
    }
}

/// What a batch does for one command, and where its answer goes.
enum Work {
    Append(wire::Body),
    Ingest(Vec<Incoming>),
}

/// An entry from a peer: its bytes, or already verified.
enum Incoming {
    Bytes(Vec<u8>),
    Verified(Box<VerifiedEntry>),
}

enum Reply {
    Append(oneshot::Sender<Result<AppendResult>>),
    Ingest(oneshot::Sender<Result<Vec<Ingested>>>),
}

enum Done {
    Append(Result<crate::EntryHash>),
    Ingest(Vec<Ingested>),
}

impl Worker {
    fn run(mut self) {
        self.serve();
        // Every committed batch is flushed and answered before the ledger closes (its
        // checkpoint) and before `shutdown` returns.
        let Worker {
            ledger,
            flush,
            flusher,
            ..
        } = self;
        drop(flush);
        let _ = flusher.join();
        drop(ledger);
    }

    fn serve(&mut self) {
        let mut anchor_at: Option<Instant> = None;
        let mut last_batch = 0;
        loop {
            // With journal records waiting, an idle spell checkpoints them (cheaply, and
            // while nobody waits), so a load that pauses rarely meets a checkpoint mid-burst.
            let idle_at = self
                .config
                .idle_checkpoint
                .filter(|_| self.ledger.journal_len() > 0)
                .map(|d| Instant::now() + d);
            let wake_at = match (anchor_at, idle_at) {
                (Some(a), Some(i)) => Some(a.min(i)),
                (a, i) => a.or(i),
            };
            let first = match wake_at {
                None => match self.rx.recv() {
                    Ok(c) => Some(c),
                    Err(_) => return,
                },
                Some(at) => {
                    match self
                        .rx
                        .recv_timeout(at.saturating_duration_since(Instant::now()))
                    {
                        Ok(c) => Some(c),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            let mut cmds = Vec::new();
            let mut stop = false;
            match first {
                Some(Cmd::Stop) => stop = true,
                Some(c) => cmds.push(c),
                None => {}
            }
            // Take what is waiting; then, while fewer commands arrived than the last batch held
            // and no batch is being flushed, give the callers that batch answered a moment to
            // send their next ones, so steady concurrent writers share one commit instead of
            // alternating between two.
            let gather_until = Instant::now() + self.config.gather;
            while !stop && cmds.len() < self.config.max_batch {
                let next = match self.rx.try_recv() {
                    Ok(c) => Ok(c),
                    Err(_)
                        if !cmds.is_empty()
                            && cmds.len() < last_batch
                            && self.flushing.load(Ordering::Acquire) == 0 =>
                    {
                        self.rx
                            .recv_timeout(gather_until.saturating_duration_since(Instant::now()))
                    }
                    Err(_) => break,
                };
                match next {
                    Ok(Cmd::Stop) => stop = true,
                    Ok(c) => cmds.push(c),
                    Err(_) => break,
                }
            }
            if cmds.is_empty()
                && !stop
                && idle_at.is_some_and(|at| Instant::now() >= at)
                && anchor_at.is_none_or(|at| Instant::now() < at)
            {
                // A failure stops writes (the next batch says why); reopening recovers.
                let _ = self.ledger.checkpoint();
                continue;
            }
            last_batch = cmds.len();
            let anchor_due = anchor_at.is_some_and(|at| Instant::now() >= at);
            if !cmds.is_empty() || anchor_due {
                self.run_batch(cmds, anchor_due);
            }
            if anchor_due {
                anchor_at = None;
            }
            if stop {
                return;
            }
            let me = self.signer.public();
            if let Some(d) = self.config.anchor_debounce
                && anchor_at.is_none()
                && self.ledger.is_indexer(&me)
                && self.ledger.has_unconfirmed()
            {
                anchor_at = Some(Instant::now() + d);
            }
        }
    }

    fn run_batch(&mut self, cmds: Vec<Cmd>, anchor: bool) {
        let mut work = Vec::with_capacity(cmds.len());
        let mut replies = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            match cmd {
                Cmd::Append { body, reply } => {
                    work.push(Work::Append(body));
                    replies.push(Reply::Append(reply));
                }
                Cmd::Ingest { entries, reply } => {
                    work.push(Work::Ingest(entries));
                    replies.push(Reply::Ingest(reply));
                }
                Cmd::Stop => {}
            }
        }
        let signer = &self.signer;
        let clock = &self.clock;
        let result = self.ledger.batch_deferred(|b| {
            let mut done = Vec::with_capacity(work.len());
            for w in work {
                match w {
                    Work::Append(body) => match b.append(signer, body, clock.now_ms()) {
                        Err(e @ Error::Refused { .. }) => done.push(Done::Append(Err(e))),
                        Err(e) => return Err(e),
                        Ok(h) => done.push(Done::Append(Ok(h))),
                    },
                    Work::Ingest(entries) => {
                        let mut out = Vec::with_capacity(entries.len());
                        for e in entries {
                            out.push(match e {
                                Incoming::Bytes(bytes) => b.ingest(&bytes)?,
                                Incoming::Verified(v) => b.ingest_verified(*v)?,
                            });
                        }
                        done.push(Done::Ingest(out));
                    }
                }
            }
            if anchor && b.has_unconfirmed() {
                // A null entry: an anchor that confirms the tail. A refusal (no longer a
                // member) means there is nothing to anchor as this peer.
                match b.append(signer, wire::Body::default(), clock.now_ms()) {
                    Ok(_) | Err(Error::Refused { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(done)
        });
        let committed = match result {
            Ok((done, report, deferred)) => {
                let mut appended: std::collections::HashMap<_, _> =
                    report.appended.into_iter().map(|a| (a.hash, a)).collect();
                let answers = replies
                    .into_iter()
                    .zip(done)
                    .map(|(reply, d)| match (reply, d) {
                        (Reply::Append(tx), Done::Append(r)) => {
                            let r = r.and_then(|h| {
                                appended
                                    .remove(&h)
                                    .ok_or_else(|| Error::Corrupt("append result missing".into()))
                            });
                            Answer::Append(tx, r)
                        }
                        (Reply::Ingest(tx), Done::Ingest(out)) => Answer::Ingest(tx, Ok(out)),
                        (Reply::Append(tx), Done::Ingest(_)) => {
                            Answer::Append(tx, Err(Error::Corrupt("writer reply mismatch".into())))
                        }
                        (Reply::Ingest(tx), Done::Append(_)) => {
                            Answer::Ingest(tx, Err(Error::Corrupt("writer reply mismatch".into())))
                        }
                    })
                    .collect();
                Committed {
                    deferred,
                    // The state after this batch, for readers once it is durable. Should a
                    // snapshot fail, readers keep an older one until the next batch's.
                    snapshot: self.ledger.snapshot().ok(),
                    events: report.events,
                    answers,
                }
            }
            Err(e) => {
                // The batch failed as a whole and nothing of it was kept; every caller hears
                // why (after the batches before it, in order).
                let msg = e.to_string();
                let answers = replies
                    .into_iter()
                    .map(|reply| match reply {
                        Reply::Append(tx) => Answer::Append(tx, Err(Error::Storage(msg.clone()))),
                        Reply::Ingest(tx) => Answer::Ingest(tx, Err(Error::Storage(msg.clone()))),
                    })
                    .collect();
                Committed {
                    deferred: None,
                    snapshot: None,
                    events: Vec::new(),
                    answers,
                }
            }
        };
        // Should the flusher be gone, the callers hear that the writer stopped.
        self.flushing.fetch_add(1, Ordering::AcqRel);
        let _ = self.flush.send(committed);
    }
}
