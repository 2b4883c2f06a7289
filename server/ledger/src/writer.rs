//! The writer: one thread per pact that owns the ledger's write transaction.
//!
//! Callers send appends and ingests over a channel; the thread drains whatever is waiting into
//! one batch (group commit: one transaction, one fsync for many writes), commits, and only then
//! answers each caller, so an answer means the entry is durable. When this peer is the indexer
//! and unconfirmed entries are waiting, it writes a small null entry after a debounce: an anchor
//! that confirms them.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase};

use crate::clock::Clock;
use crate::entry::VerifiedEntry;
use crate::error::{Error, Result};
use crate::keys::{PactId, Signer};
use crate::ledger::{AppendResult, Event, Ingested, Ledger};
use crate::view::read::ViewReader;
use crate::wire;

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Most commands in one transaction.
    pub max_batch: usize,
    /// When this peer is the indexer: how long to wait before anchoring unconfirmed entries
    /// (`None`: never anchor on its own).
    pub anchor_debounce: Option<Duration>,
    /// Longest wait, after the first command of a batch, for as many commands as the last
    /// batch held (zero: never wait).
    pub gather: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 512,
            anchor_debounce: Some(Duration::from_millis(200)),
            gather: Duration::from_micros(300),
        }
    }
}

/// Receives each committed batch's events (possibly none), on the writer thread, in commit order,
/// before the batch's callers hear their answers.
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
    db: Arc<Database>,
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
        let db = ledger.database().clone();
        let pact = ledger.pact_id();
        let name = format!("openpact-writer-{}", &pact.to_hex()[..8]);
        let mut worker = Worker {
            ledger,
            signer,
            clock,
            config,
            events,
            rx,
        };
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || worker.run())
            .map_err(|e| Error::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            tx,
            db,
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

    /// A consistent snapshot of the view. Never waits for the writer.
    pub fn reader(&self) -> Result<ViewReader> {
        Ok(ViewReader::new(self.db.begin_read()?, self.pact))
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

struct Worker {
    ledger: Ledger,
    signer: Signer,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    events: EventSink,
    rx: mpsc::Receiver<Cmd>,
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
    fn run(&mut self) {
        let mut anchor_at: Option<Instant> = None;
        let mut last_batch = 0;
        loop {
            let first = match anchor_at {
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
            // Take what is waiting; then, while fewer commands arrived than the last batch held,
            // give the callers that batch answered a moment to send their next ones, so steady
            // concurrent writers share one commit instead of alternating between two.
            let gather_until = Instant::now() + self.config.gather;
            while !stop && cmds.len() < self.config.max_batch {
                let next = match self.rx.try_recv() {
                    Ok(c) => Ok(c),
                    Err(_) if !cmds.is_empty() && cmds.len() < last_batch => self
                        .rx
                        .recv_timeout(gather_until.saturating_duration_since(Instant::now())),
                    Err(_) => break,
                };
                match next {
                    Ok(Cmd::Stop) => stop = true,
                    Ok(c) => cmds.push(c),
                    Err(_) => break,
                }
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
        let result = self.ledger.batch(|b| {
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
        match result {
            Ok((done, report)) => {
                // The sink hears of the commit before any caller does: whoever learns of an
                // acknowledged write can already find its events (and caches keyed by commits
                // already know they are stale).
                (self.events)(&report.events);
                for (reply, d) in replies.into_iter().zip(done) {
                    match (reply, d) {
                        (Reply::Append(tx), Done::Append(r)) => {
                            let r = r.and_then(|h| {
                                report
                                    .appended
                                    .iter()
                                    .find(|a| a.hash == h)
                                    .cloned()
                                    .ok_or_else(|| Error::Corrupt("append result missing".into()))
                            });
                            let _ = tx.send(r);
                        }
                        (Reply::Ingest(tx), Done::Ingest(out)) => {
                            let _ = tx.send(Ok(out));
                        }
                        (Reply::Append(tx), Done::Ingest(_)) => {
                            let _ = tx.send(Err(Error::Corrupt("writer reply mismatch".into())));
                        }
                        (Reply::Ingest(tx), Done::Append(_)) => {
                            let _ = tx.send(Err(Error::Corrupt("writer reply mismatch".into())));
                        }
                    }
                }
            }
            Err(e) => {
                // The batch failed as a whole and nothing of it was kept; every caller hears why.
                let msg = e.to_string();
                for reply in replies {
                    match reply {
                        Reply::Append(tx) => {
                            let _ = tx.send(Err(Error::Storage(msg.clone())));
                        }
                        Reply::Ingest(tx) => {
                            let _ = tx.send(Err(Error::Storage(msg.clone())));
                        }
                    }
                }
            }
        }
    }
}
