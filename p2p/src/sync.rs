//! One round of pull sync over an opened session (spec/ledger.md, "Replication over QUIC"):
//! both sides send their frontier, each pulls every author's entries it lacks by range requests on
//! their own streams, hands them to its store (which verifies and orders them), and says Done.
//! Live push and resume across reconnects build on this.

use std::future::Future;

use futures_util::{SinkExt as _, StreamExt as _};
use openpact_proto::wire::v1 as wire;
use prost::Message as _;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::Error;
use crate::endpoint::PeerConnection;
use crate::hello::Session;

/// Most entries per range answer.
pub const RANGE_LIMIT: u32 = 256;
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

fn protocol(message: impl Into<String>) -> Error {
    Error::Protocol(message.into())
}

fn key32(bytes: &[u8]) -> Result<[u8; 32], Error> {
    <[u8; 32]>::try_from(bytes).map_err(|_| protocol("a key or hash must be 32 bytes"))
}

async fn send_control(session: &mut Session, message: wire::control::Message) -> Result<(), Error> {
    let frame = wire::Control {
        message: Some(message),
    }
    .encode_to_vec();
    session
        .send
        .send(prost::bytes::Bytes::from(frame))
        .await
        .map_err(|e| Error::Io(format!("cannot write the control stream: {e}")))
}

async fn read_control(session: &mut Session) -> Result<wire::control::Message, Error> {
    let frame = session
        .recv
        .next()
        .await
        .ok_or_else(|| protocol("the control stream ended"))?
        .map_err(|e| protocol(format!("cannot read the control stream: {e}")))?;
    wire::Control::decode(frame.freeze())
        .map_err(|e| protocol(format!("a malformed control message: {e}")))?
        .message
        .ok_or_else(|| protocol("an empty control message"))
}

fn range_codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_RANGE_FRAME)
        .new_codec()
}

/// Runs one round on `session` (opened on `conn`): exchange frontiers, pull what this side
/// lacks, serve what the peer asks for, until both are done.
pub async fn round<S: LogStore>(
    conn: &PeerConnection,
    session: &mut Session,
    store: &S,
    dialer: bool,
) -> Result<Stats, Error> {
    let mine = store.frontier().map_err(Error::Io)?;
    let frontier = wire::control::Message::Frontier(wire::Frontier {
        heads: mine
            .iter()
            .map(|h| wire::Head {
                author: h.author.to_vec(),
                seq: h.seq,
                hash: h.hash.to_vec(),
            })
            .collect(),
    });
    let theirs = if dialer {
        send_control(session, frontier).await?;
        read_frontier(session).await?
    } else {
        let theirs = read_frontier(session).await?;
        send_control(session, frontier).await?;
        theirs
    };
    let wants: Vec<(Head, u64)> = theirs
        .into_iter()
        .filter_map(|h| {
            let have = mine
                .iter()
                .find(|m| m.author == h.author)
                .map(|m| m.seq + 1);
            let from = have.unwrap_or(0);
            (h.seq >= from).then_some((h, from))
        })
        .collect();
    let mut served = 0u64;
    let pulled = {
        let serving = serve(conn, store, &mut served);
        let pulling = async {
            let mut pulled = 0;
            for (head, from) in wants {
                pulled += pull(conn, store, head, from).await?;
            }
            // The peer sends Done once it has every answer it asked for: serving can stop then.
            send_control(session, wire::control::Message::Done(wire::Done {})).await?;
            match read_control(session).await? {
                wire::control::Message::Done(_) => Ok::<u64, Error>(pulled),
                wire::control::Message::Frontier(_) => {
                    Err(protocol("a second frontier in one round"))
                }
            }
        };
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
    };
    Ok(Stats { pulled, served })
}

async fn read_frontier(session: &mut Session) -> Result<Vec<Head>, Error> {
    match read_control(session).await? {
        wire::control::Message::Frontier(f) => f
            .heads
            .into_iter()
            .map(|h| {
                Ok(Head {
                    author: key32(&h.author)?,
                    seq: h.seq,
                    hash: key32(&h.hash)?,
                })
            })
            .collect(),
        wire::control::Message::Done(_) => Err(protocol("Done before the frontier")),
    }
}

/// Pulls `head.author`'s entries from `from` up to `head.seq`; how many were ingested.
async fn pull<S: LogStore>(
    conn: &PeerConnection,
    store: &S,
    head: Head,
    mut from: u64,
) -> Result<u64, Error> {
    let mut pulled = 0;
    while from <= head.seq {
        let (send, recv) = conn
            .conn
            .open_bi()
            .await
            .map_err(|e| Error::Io(format!("cannot open a range stream: {e}")))?;
        let mut send = FramedWrite::new(send, range_codec());
        let mut recv = FramedRead::new(recv, range_codec());
        let want = wire::Want {
            author: head.author.to_vec(),
            from_seq: from,
            limit: RANGE_LIMIT,
        };
        send.send(prost::bytes::Bytes::from(want.encode_to_vec()))
            .await
            .map_err(|e| Error::Io(format!("cannot send a range request: {e}")))?;
        let frame = recv
            .next()
            .await
            .ok_or_else(|| protocol("a range stream ended without an answer"))?
            .map_err(|e| protocol(format!("cannot read a range answer: {e}")))?;
        let entries = wire::Entries::decode(frame.freeze())
            .map_err(|e| protocol(format!("a malformed range answer: {e}")))?
            .entries;
        if entries.is_empty() {
            break;
        }
        if entries.len() > RANGE_LIMIT as usize {
            return Err(protocol("a range answer larger than asked for"));
        }
        let n = entries.len() as u64;
        store.ingest(entries).await.map_err(|e| Error::Refused {
            code: "BAD_ENTRY".into(),
            message: format!("the peer sent entries that do not verify: {e}"),
        })?;
        pulled += n;
        from += n;
    }
    Ok(pulled)
}

/// Answers the peer's range requests until the connection ends.
async fn serve<S: LogStore>(
    conn: &PeerConnection,
    store: &S,
    served: &mut u64,
) -> Result<(), Error> {
    loop {
        let (send, recv) = match conn.conn.accept_bi().await {
            Ok(s) => s,
            Err(_) => return Ok(()),
        };
        let mut send = FramedWrite::new(send, range_codec());
        let mut recv = FramedRead::new(recv, range_codec());
        let frame = recv
            .next()
            .await
            .ok_or_else(|| protocol("a range stream without a request"))?
            .map_err(|e| protocol(format!("cannot read a range request: {e}")))?;
        let want = wire::Want::decode(frame.freeze())
            .map_err(|e| protocol(format!("a malformed range request: {e}")))?;
        let author = key32(&want.author)?;
        let limit = want.limit.min(RANGE_LIMIT) as usize;
        let entries = store
            .range(&author, want.from_seq, limit)
            .map_err(Error::Io)?;
        *served += entries.len() as u64;
        send.send(prost::bytes::Bytes::from(
            wire::Entries { entries }.encode_to_vec(),
        ))
        .await
        .map_err(|e| Error::Io(format!("cannot answer a range request: {e}")))?;
        let _ = send.get_mut().finish();
    }
}
