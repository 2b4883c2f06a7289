//! Pull sync over an opened session (spec/ledger.md, "Replication over QUIC"). Both sides send
//! their frontier; each pulls every author's entries it lacks by range requests, each on its own
//! stream, and hands them to its store, which verifies and orders them.
//!
//! - [`round`]: one round, ended by a Done from each side.
//! - [`live`]: a session that lasts as long as the connection. Whenever a store's log grows, its
//!   side sends Have (the new frontier) and the other pulls what it lacks. A reconnect resumes
//!   from the heights, since requests are keyed by `(author, seq)`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt as _;
use openpact_proto::wire::v1 as wire;
use tokio::sync::watch;

use crate::Error;
use crate::endpoint::PeerConnection;
use crate::frame::{self, FrameRecv as ControlRecv, FrameSend as ControlSend, protocol};
use crate::hello::Session;

/// Most entries per range answer.
pub const RANGE_LIMIT: u32 = 256;
/// Range requests one pull keeps in flight.
const RANGES_IN_FLIGHT: usize = 16;
/// Batches one pull hands to its store before the first is stored: the next ones are verified
/// while the writer applies, and verification goes on while the writer commits. Measured for a
/// 100,000-entry catch-up on 2 cores, with verification one thread per core in arrival order
/// (ranges/ingests): 16/8 4.73 s, 16/16 4.59 s, 16/32 4.40-4.53 s, 32/64 4.44 s.
const INGESTS_IN_FLIGHT: usize = 32;
/// Most KiB of pulled entries one pull holds at once (fetched, being verified, or waiting
/// for the writer): all 48 ranges of short entries fit, 2 of entries with 64 KiB payloads.
pub const PULL_BUDGET_KIB: u32 = 32 * 1024;
/// Pushed batches a session stores at once.
const PUSHES_IN_FLIGHT: usize = 8;
/// Most bytes of fresh entries pushed at once; more than that is announced and pulled.
const PUSH_MAX_BYTES: usize = 64 * 1024;
/// The largest control message: a frontier of about 50,000 authors.
const MAX_CONTROL_FRAME: usize = 4 * 1024 * 1024;
/// The largest message on a range stream (256 entries of up to 64 KiB payload fit).
const MAX_RANGE_FRAME: usize = 32 * 1024 * 1024;

/// One author's log head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The author's member key.
    pub author: [u8; 32],
    /// Its last seq.
    pub seq: u64,
    /// The entry hash at that seq.
    pub hash: [u8; 32],
}

/// A pact's log, as sync sees it: the server implements it over the ledger.
pub trait LogStore: Send + Sync {
    /// Every author's head.
    fn frontier(&self) -> Result<Vec<Head>, String>;
    /// Up to `limit` stored entries of `author` from `from_seq` on, contiguous.
    fn range(&self, author: &[u8; 32], from_seq: u64, limit: usize)
    -> Result<Vec<Vec<u8>>, String>;
    /// Verifies and stores entries a peer sent. An error means the peer sent something that does
    /// not verify: the session ends.
    fn ingest(&self, entries: Vec<Vec<u8>>) -> impl Future<Output = Result<(), String>> + Send;
}

/// What one round moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries pulled from the peer and ingested.
    pub pulled: u64,
    /// Entries served to the peer.
    pub served: u64,
}

/// What a session moved so far; shared with whoever shows it (status, metrics).
#[derive(Debug, Default)]
pub struct Counters {
    /// Entries pulled from the peer and ingested.
    pub pulled: AtomicU64,
    /// Entries served to the peer.
    pub served: AtomicU64,
    /// Bytes of entries received.
    pub bytes_in: AtomicU64,
    /// Bytes of entries sent.
    pub bytes_out: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

fn key32(bytes: &[u8]) -> Result<[u8; 32], Error> {
    <[u8; 32]>::try_from(bytes).map_err(|_| protocol("a key or hash must be 32 bytes"))
}

async fn send_control(
    send: &mut ControlSend,
    message: wire::control::Message,
) -> Result<(), Error> {
    let control = wire::Control {
        message: Some(message),
    };
    frame::write(send, &control, "a control message").await
}

async fn read_control(recv: &mut ControlRecv) -> Result<wire::control::Message, Error> {
    frame::read::<wire::Control>(recv, "a control message")
        .await?
        .message
        .ok_or_else(|| protocol("an empty control message"))
}

fn frontier_message(heads: &[Head]) -> wire::Frontier {
    wire::Frontier {
        heads: heads
            .iter()
            .map(|h| wire::Head {
                author: h.author.to_vec(),
                seq: h.seq,
                hash: h.hash.to_vec(),
            })
            .collect(),
    }
}

fn heads_of(f: wire::Frontier) -> Result<Vec<Head>, Error> {
    f.heads
        .into_iter()
        .map(|h| {
            Ok(Head {
                author: key32(&h.author)?,
                seq: h.seq,
                hash: key32(&h.hash)?,
            })
        })
        .collect()
}

/// Sends this side's frontier and reads the peer's, the dialer first. From here on the control
/// stream takes frames up to [`MAX_CONTROL_FRAME`] (the opening's were small).
async fn exchange<S: LogStore>(
    send: &mut ControlSend,
    recv: &mut ControlRecv,
    store: &S,
    dialer: bool,
) -> Result<Vec<Head>, Error> {
    send.encoder_mut().set_max_frame_length(MAX_CONTROL_FRAME);
    recv.decoder_mut().set_max_frame_length(MAX_CONTROL_FRAME);
    let mine =
        wire::control::Message::Frontier(frontier_message(&store.frontier().map_err(Error::Io)?));
    if dialer {
        send_control(send, mine).await?;
        read_frontier(recv).await
    } else {
        let theirs = read_frontier(recv).await?;
        send_control(send, mine).await?;
        Ok(theirs)
    }
}

async fn read_frontier(recv: &mut ControlRecv) -> Result<Vec<Head>, Error> {
    match read_control(recv).await? {
        wire::control::Message::Frontier(f) => heads_of(f),
        _ => Err(protocol("the session must open with a frontier")),
    }
}

/// Per author, the seqs this side lacks of what the peer holds: `(author, from, to)`, both ends
/// included. `next` holds where this session already pulled up to, so entries still waiting
/// for their dependencies (not yet in the frontier) are not asked for again.
fn wants(
    mine: &[Head],
    theirs: &HashMap<[u8; 32], u64>,
    next: &HashMap<[u8; 32], u64>,
) -> Vec<([u8; 32], u64, u64)> {
    let mut out: Vec<_> = theirs
        .iter()
        .filter_map(|(author, &seq)| {
            let have = mine
                .iter()
                .find(|m| m.author == *author)
                .map_or(0, |m| m.seq + 1);
            let from = have.max(next.get(author).copied().unwrap_or(0));
            (seq >= from).then_some((*author, from, seq))
        })
        .collect();
    out.sort_unstable();
    out
}

/// The entries this side holds past what the peer announced (and past what was already pushed
/// to it), per author from its first missing seq, while they fit in one push.
fn fresh_entries<S: LogStore>(
    store: &S,
    mine: &[Head],
    theirs: &HashMap<[u8; 32], (u64, [u8; 32])>,
    pushed: &mut HashMap<[u8; 32], u64>,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for m in mine {
        let after_theirs = theirs.get(&m.author).map(|(s, _)| s + 1);
        let after_pushed = pushed.get(&m.author).map(|s| s + 1);
        let from = after_theirs.max(after_pushed).unwrap_or(0);
        if m.seq < from {
            continue;
        }
        let want = (m.seq - from + 1) as usize;
        if want > RANGE_LIMIT as usize {
            continue;
        }
        let entries = store.range(&m.author, from, want).map_err(Error::Io)?;
        let mut last = None;
        for (i, e) in entries.into_iter().enumerate() {
            if bytes + e.len() > PUSH_MAX_BYTES {
                break;
            }
            bytes += e.len();
            out.push(e);
            last = Some(from + i as u64);
        }
        if let Some(seq) = last {
            pushed.insert(m.author, seq);
        }
        if bytes >= PUSH_MAX_BYTES {
            break;
        }
    }
    Ok(out)
}

/// Authors whose head the peer holds at the very seq of this side's head, but with another hash.
fn forked(mine: &[Head], theirs: &HashMap<[u8; 32], (u64, [u8; 32])>) -> Vec<([u8; 32], u64)> {
    mine.iter()
        .filter(|m| {
            theirs
                .get(&m.author)
                .is_some_and(|(seq, hash)| *seq == m.seq && *hash != m.hash)
        })
        .map(|m| (m.author, m.seq))
        .collect()
}

/// Runs one round on `session` (opened on `conn`): exchange frontiers, pull what this side
/// lacks, serve what the peer asks for, until both are done.
pub async fn round<S: LogStore>(
    conn: &PeerConnection,
    session: &mut Session,
    store: &S,
    dialer: bool,
) -> Result<Stats, Error> {
    let counters = Counters::default();
    let theirs = exchange(&mut session.send, &mut session.recv, store, dialer).await?;
    let mine = store.frontier().map_err(Error::Io)?;
    let theirs: HashMap<_, _> = theirs.iter().map(|h| (h.author, h.seq)).collect();
    let pulling = async {
        for (author, from, to) in wants(&mine, &theirs, &HashMap::new()) {
            pull(conn, store, author, from, to, &counters).await?;
        }
        // The peer sends Done once it has every answer it asked for: serving can stop then.
        send_control(
            &mut session.send,
            wire::control::Message::Done(wire::Done {}),
        )
        .await?;
        match read_control(&mut session.recv).await? {
            wire::control::Message::Done(_) => Ok::<(), Error>(()),
            _ => Err(protocol("a second frontier in one round")),
        }
    };
    let serving = serve(conn, store, &counters);
    tokio::pin!(serving);
    tokio::pin!(pulling);
    tokio::select! {
        biased;
        pulled = &mut pulling => pulled?,
        served = &mut serving => {
            // Serving ends when the connection does: what was already received may still
            // finish the round.
            served?;
            pulling.await?
        }
    }
    Ok(Stats {
        pulled: counters.pulled.load(Ordering::Relaxed),
        served: counters.served.load(Ordering::Relaxed),
    })
}

/// Runs a live session on `session` (opened on `conn`) until the connection ends or a side
/// breaks the protocol: frontiers first, then Have whenever `grown` changes (the store's log
/// grew), and pulls whenever the peer holds more than this side. Serves the peer's range
/// requests throughout. An entry that does not verify ends it with `BAD_ENTRY`.
pub async fn live<S: LogStore>(
    conn: &PeerConnection,
    session: Session,
    store: &S,
    dialer: bool,
    mut grown: watch::Receiver<u64>,
    counters: &Counters,
) -> Result<(), Error> {
    let Session {
        mut send, mut recv, ..
    } = session;
    grown.borrow_and_update();
    let theirs = exchange(&mut send, &mut recv, store, dialer).await?;
    let (heard, mut heads) = watch::channel(
        theirs
            .iter()
            .map(|h| (h.author, (h.seq, h.hash)))
            .collect::<HashMap<_, _>>(),
    );
    let known = heard.subscribe();
    let announcing = async {
        // Per author, the last seq pushed to the peer.
        let mut pushed: HashMap<[u8; 32], u64> = HashMap::new();
        loop {
            if grown.changed().await.is_err() {
                // The store is gone: the daemon is stopping.
                return Ok::<(), Error>(());
            }
            let mine = store.frontier().map_err(Error::Io)?;
            let fresh = {
                let theirs = known.borrow();
                fresh_entries(store, &mine, &theirs, &mut pushed)?
            };
            if !fresh.is_empty() {
                Counters::add(&counters.served, fresh.len() as u64);
                Counters::add(
                    &counters.bytes_out,
                    fresh.iter().map(|e| e.len() as u64).sum(),
                );
                let push = wire::Entries { entries: fresh };
                send_control(&mut send, wire::control::Message::Push(push)).await?;
            }
            send_control(
                &mut send,
                wire::control::Message::Have(frontier_message(&mine)),
            )
            .await?;
        }
    };
    let listening = async {
        // Pushed batches being verified and stored, in the order they came; the control
        // stream is read on meanwhile, so a burst is stored in a few group commits.
        let mut storing = futures_util::stream::FuturesOrdered::new();
        loop {
            let message = tokio::select! {
                biased;
                Some(stored) = storing.next(), if !storing.is_empty() => {
                    stored?;
                    continue;
                }
                m = read_control(&mut recv), if storing.len() < PUSHES_IN_FLIGHT => m,
            };
            let heads = match message {
                Ok(wire::control::Message::Have(f) | wire::control::Message::Frontier(f)) => {
                    heads_of(f)?
                }
                Ok(wire::control::Message::Push(p)) => {
                    storing.push_back(store_from_peer(store, p.entries, counters, "pushed"));
                    continue;
                }
                Ok(wire::control::Message::Done(_)) => return Ok::<(), Error>(()),
                // The peer hung up.
                Err(_) if conn.conn.close_reason().is_some() => return Ok(()),
                Err(e) => return Err(e),
            };
            heard.send_modify(|known| {
                for h in heads {
                    let head = known.entry(h.author).or_insert((h.seq, h.hash));
                    if h.seq >= head.0 {
                        *head = (h.seq, h.hash);
                    }
                }
            });
        }
    };
    let pulling = async {
        let mut next: HashMap<[u8; 32], u64> = HashMap::new();
        let mut checked: HashSet<([u8; 32], u64)> = HashSet::new();
        loop {
            let mine = store.frontier().map_err(Error::Io)?;
            let (todo, forks) = {
                let theirs = heads.borrow_and_update();
                let seqs = theirs.iter().map(|(a, (s, _))| (*a, *s)).collect();
                (wants(&mine, &seqs, &next), forked(&mine, &theirs))
            };
            // A head at a seq this side holds, with another hash: the author forked. Fetch the
            // peer's entry once, so the store records the fork and its proof.
            for (author, seq) in forks {
                if checked.insert((author, seq)) {
                    pull(conn, store, author, seq, seq, counters).await?;
                }
            }
            if todo.is_empty() {
                if heads.changed().await.is_err() {
                    return Ok::<(), Error>(());
                }
                continue;
            }
            for (author, from, to) in todo {
                let got = pull(conn, store, author, from, to, counters).await?;
                // What the peer announced but could not serve is not asked for again until it
                // announces more.
                next.insert(author, if got == 0 { to + 1 } else { from + got });
            }
        }
    };
    let serving = serve(conn, store, counters);
    tokio::select! {
        r = announcing => r,
        r = listening => r,
        r = pulling => r,
        r = serving => r,
    }
}

/// Asks for one range; the entries the peer answered.
async fn fetch(
    conn: &PeerConnection,
    author: [u8; 32],
    from: u64,
    limit: u32,
) -> Result<Vec<Vec<u8>>, Error> {
    let stream = conn
        .conn
        .open_bi()
        .await
        .map_err(|e| Error::Io(format!("cannot open a range stream: {e}")))?;
    let (mut send, mut recv) = frame::framed(stream, MAX_RANGE_FRAME);
    let want = wire::Want {
        author: author.to_vec(),
        from_seq: from,
        limit,
    };
    frame::write(&mut send, &want, "a range request").await?;
    let entries = frame::read::<wire::Entries>(&mut recv, "a range answer")
        .await?
        .entries;
    if entries.len() > limit as usize {
        return Err(protocol("a range answer larger than asked for"));
    }
    Ok(entries)
}

/// Pulls `author`'s entries `from..=to`, a few ranges in flight, ingesting them in order (the
/// next batches are verified while the last one is applied); how many were ingested. Stops
/// early where the peer has no more.
///
/// What the ranges in flight hold is bounded by [`PULL_BUDGET_KIB`] too. The first range is
/// asked for alone; every later one waits until its estimated size (the last answer's) fits,
/// and gives its share back once stored. Shares are taken in order, one range at a time, so a
/// range never waits on a later one.
async fn pull<S: LogStore>(
    conn: &PeerConnection,
    store: &S,
    author: [u8; 32],
    from: u64,
    to: u64,
    counters: &Counters,
) -> Result<u64, Error> {
    let budget = Arc::new(tokio::sync::Semaphore::new(PULL_BUDGET_KIB as usize));
    // KiB of the last answer; 0 until the first one arrived.
    let (estimate, known) = watch::channel(0u32);
    let estimate = Arc::new(estimate);
    let starts = futures_util::stream::iter((from..=to).step_by(RANGE_LIMIT as usize))
        .enumerate()
        .then(move |(i, start)| {
            let (budget, mut known) = (budget.clone(), known.clone());
            async move {
                let share = if i == 0 {
                    PULL_BUDGET_KIB
                } else {
                    let kib = known
                        .wait_for(|kib| *kib > 0)
                        .await
                        .map_or(PULL_BUDGET_KIB, |kib| *kib);
                    kib.min(PULL_BUDGET_KIB)
                };
                let permit = budget
                    .acquire_many_owned(share)
                    .await
                    .map_err(|_| Error::Io("the pull stopped".into()))?;
                Ok::<_, Error>((start, permit))
            }
        })
        .map(move |ticket| {
            let estimate = estimate.clone();
            async move {
                let (start, mut permit) = ticket?;
                let limit = (to - start + 1).min(u64::from(RANGE_LIMIT)) as u32;
                let entries = fetch(conn, author, start, limit).await?;
                let bytes: usize = entries.iter().map(Vec::len).sum();
                let kib = (bytes / 1024 + 1) as u32;
                estimate.send_replace(kib);
                // Keep what this answer takes; the rest goes back at once.
                if let Some(keep) = permit.split((kib as usize).min(permit.num_permits())) {
                    permit = keep;
                }
                Ok::<_, Error>((entries, permit))
            }
        });
    let mut done = false;
    let ingests = starts
        .buffered(RANGES_IN_FLIGHT)
        // A short or empty answer: the peer has no more right now; later ranges are not used.
        .take_while(move |answer| {
            let go = !done;
            done = done
                || answer
                    .as_ref()
                    .map_or(true, |(e, _)| e.len() < RANGE_LIMIT as usize);
            let empty = answer.as_ref().is_ok_and(|(e, _)| e.is_empty());
            futures_util::future::ready(go && !empty)
        })
        .map(|answer| async move {
            let (entries, _share) = answer?;
            store_from_peer(store, entries, counters, "sent").await
        })
        .buffered(INGESTS_IN_FLIGHT);
    tokio::pin!(ingests);
    let mut pulled = 0;
    while let Some(n) = ingests.next().await {
        pulled += n?;
    }
    Ok(pulled)
}

/// Stores entries the peer `how` (pushed or sent in a range answer) and counts them; how many.
/// Entries that do not verify end the session, and none of them is stored.
async fn store_from_peer<S: LogStore>(
    store: &S,
    entries: Vec<Vec<u8>>,
    counters: &Counters,
    how: &str,
) -> Result<u64, Error> {
    let n = entries.len() as u64;
    let bytes = entries.iter().map(|e| e.len() as u64).sum();
    store.ingest(entries).await.map_err(|e| Error::Refused {
        code: "BAD_ENTRY".into(),
        message: format!("the peer {how} entries that do not verify: {e}"),
    })?;
    Counters::add(&counters.pulled, n);
    Counters::add(&counters.bytes_in, bytes);
    Ok(n)
}

/// Answers the peer's range requests until the connection ends.
async fn serve<S: LogStore>(
    conn: &PeerConnection,
    store: &S,
    counters: &Counters,
) -> Result<(), Error> {
    loop {
        let stream = match conn.conn.accept_bi().await {
            Ok(s) => s,
            Err(_) => return Ok(()),
        };
        let (mut send, mut recv) = frame::framed(stream, MAX_RANGE_FRAME);
        let want: wire::Want = frame::read(&mut recv, "a range request").await?;
        let author = key32(&want.author)?;
        let limit = want.limit.min(RANGE_LIMIT) as usize;
        let entries = store
            .range(&author, want.from_seq, limit)
            .map_err(Error::Io)?;
        Counters::add(&counters.served, entries.len() as u64);
        Counters::add(
            &counters.bytes_out,
            entries.iter().map(|e| e.len() as u64).sum(),
        );
        frame::write(&mut send, &wire::Entries { entries }, "a range answer").await?;
        let _ = send.get_mut().finish();
    }
}
