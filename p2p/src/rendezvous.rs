//! Rendezvous at a seed (`proto/openpact/wire/v1/rendezvous.proto`): peers announce the topics of
//! their pacts and look them up; the seed answers with the peers under a topic and tells each
//! requester the address it sees it at. When a peer looks a topic up, the seed also introduces it
//! to every announcer of that topic, so both sides dial each other at once. A topic is a keyed
//! hash of a pact's discovery secret ([`topic_of`]): the seed never learns which pact it is.
//!
//! [`Seed`] is the serving side: `openpact seed` runs only it, and every daemon runs one too (so
//! any member can be a seed for the others). The functions below are the asking side.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openpact_proto::wire::v1 as wire;

use crate::Error;
use crate::endpoint::{ALPN_RENDEZVOUS, PeerConnection};
use crate::frame::{self, protocol};

/// How long an announcement lasts unless renewed (or its connection closes first).
pub const ANNOUNCE_TTL: Duration = Duration::from_secs(60);
/// Most topics a seed node holds ([`Seed::new`] takes the limit; a member daemon keeps far
/// fewer).
pub const SEED_NODE_TOPICS: usize = 100_000;
/// Most announcers per topic (the newest are kept).
const MAX_PER_TOPIC: usize = 64;
/// The largest message.
const MAX_MESSAGE: usize = 64 * 1024;

/// The rendezvous topic of a pact's discovery secret.
pub fn topic_of(secret: &[u8]) -> [u8; 32] {
    blake3::derive_key("openpact rendezvous topic v1", secret)
}

/// A peer under a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its host key.
    pub host_key: [u8; 32],
    /// Where it can be dialed.
    pub addr: SocketAddr,
}

/// Peers a serving daemon knows for a topic besides the announcements (the members of its own
/// pacts it has sessions with), so peers learn of each other through any member.
pub trait Known: Send + Sync {
    /// Peers known for `topic`.
    fn known(&self, topic: &[u8; 32]) -> Vec<Peer>;
}

struct Announced {
    peer: Peer,
    expires: Instant,
    conn: quinn::Connection,
}

/// The serving side of rendezvous.
pub struct Seed {
    topics: Mutex<HashMap<[u8; 32], Vec<Announced>>>,
    known: Option<Arc<dyn Known>>,
    max_topics: usize,
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.topics.lock().map_or(0, |t| t.len());
        write!(f, "Seed({n} topics)")
    }
}

fn topic32(t: Option<wire::Topic>) -> Option<[u8; 32]> {
    t.and_then(|t| <[u8; 32]>::try_from(t.topic.as_slice()).ok())
}

fn peer_of(p: &wire::PeerAddress) -> Option<Peer> {
    Some(Peer {
        host_key: <[u8; 32]>::try_from(p.host_key.as_slice()).ok()?,
        addr: p.addr.parse().ok()?,
    })
}

fn wire_peer(p: &Peer) -> wire::PeerAddress {
    wire::PeerAddress {
        host_key: p.host_key.to_vec(),
        addr: p.addr.to_string(),
    }
}

impl Seed {
    /// A seed holding at most `max_topics` topics; `known` adds what a member daemon knows of
    /// its own pacts' peers.
    pub fn new(known: Option<Arc<dyn Known>>, max_topics: usize) -> Arc<Seed> {
        Arc::new(Seed {
            topics: Mutex::new(HashMap::new()),
            known,
            max_topics,
        })
    }

    /// How many peers are announced, all topics together.
    pub fn announced(&self) -> usize {
        self.topics
            .lock()
            .map_or(0, |t| t.values().map(Vec::len).sum())
    }

    /// Serves `conn` (opened with [`ALPN_RENDEZVOUS`]) until it closes; its announcements go
    /// with it.
    pub async fn serve(self: Arc<Self>, conn: PeerConnection) {
        loop {
            let Ok((send, recv)) = conn.conn.accept_bi().await else {
                break;
            };
            let (mut send, mut recv) = frame::framed((send, recv), MAX_MESSAGE);
            let reply = match frame::read(&mut recv, "a rendezvous request").await {
                Ok(req) => self.handle(&conn, req),
                Err(e) => refusal(e.to_string()),
            };
            // A stream the asker gave up on fails alone; the connection goes on being served
            // until it closes.
            let _ = frame::write(&mut send, &reply, "a rendezvous answer").await;
            let _ = send.get_mut().finish();
        }
        let id = conn.conn.stable_id();
        if let Ok(mut topics) = self.topics.lock() {
            for list in topics.values_mut() {
                list.retain(|a| a.conn.stable_id() != id);
            }
            topics.retain(|_, l| !l.is_empty());
        }
    }

    fn handle(&self, conn: &PeerConnection, req: wire::RendezvousRequest) -> wire::RendezvousReply {
        let me = Peer {
            host_key: conn.peer,
            addr: conn.conn.remote_address(),
        };
        let observed = me.addr.to_string();
        let now = Instant::now();
        let Ok(mut topics) = self.topics.lock() else {
            return refusal("the seed failed");
        };
        match req.request {
            Some(wire::rendezvous_request::Request::Announce(t)) => {
                let Some(topic) = topic32(Some(t)) else {
                    return refusal("a topic is 32 bytes");
                };
                if !topics.contains_key(&topic) && topics.len() >= self.max_topics {
                    topics.retain(|_, l| {
                        l.retain(|a| a.expires > now);
                        !l.is_empty()
                    });
                    if topics.len() >= self.max_topics {
                        return refusal("the seed holds too many topics");
                    }
                }
                let list = topics.entry(topic).or_default();
                list.retain(|a| a.expires > now && a.peer.host_key != me.host_key);
                list.push(Announced {
                    peer: me,
                    expires: now + ANNOUNCE_TTL,
                    conn: conn.conn.clone(),
                });
                let excess = list.len().saturating_sub(MAX_PER_TOPIC);
                list.drain(..excess);
                wire::RendezvousReply {
                    observed,
                    ttl_ms: ANNOUNCE_TTL.as_millis() as u64,
                    ..Default::default()
                }
            }
            Some(wire::rendezvous_request::Request::Lookup(t)) => {
                let Some(topic) = topic32(Some(t)) else {
                    return refusal("a topic is 32 bytes");
                };
                let mut peers: Vec<Peer> = Vec::new();
                if let Some(list) = topics.get_mut(&topic) {
                    list.retain(|a| a.expires > now);
                    for a in list.iter().filter(|a| a.peer.host_key != me.host_key) {
                        peers.push(a.peer);
                        introduce(a.conn.clone(), topic, me);
                    }
                }
                drop(topics);
                if let Some(k) = &self.known {
                    for p in k.known(&topic) {
                        if p.host_key != me.host_key && !peers.contains(&p) {
                            peers.push(p);
                        }
                    }
                }
                wire::RendezvousReply {
                    observed,
                    peers: peers.iter().map(wire_peer).collect(),
                    ..Default::default()
                }
            }
            None => refusal("an empty request"),
        }
    }
}

fn refusal(message: impl Into<String>) -> wire::RendezvousReply {
    wire::RendezvousReply {
        error: message.into(),
        ..Default::default()
    }
}

/// Tells the announcer on `conn` that `peer` looked `topic` up.
fn introduce(conn: quinn::Connection, topic: [u8; 32], peer: Peer) {
    tokio::spawn(async move {
        let Ok(send) = conn.open_uni().await else {
            return;
        };
        let mut send = frame::send_framed(send, MAX_MESSAGE);
        let message = wire::Introduce {
            topic: topic.to_vec(),
            peer: Some(wire_peer(&peer)),
        };
        if frame::write(&mut send, &message, "an introduction")
            .await
            .is_ok()
        {
            let _ = send.get_mut().finish();
        }
    });
}

async fn request(
    conn: &PeerConnection,
    request: wire::rendezvous_request::Request,
) -> Result<wire::RendezvousReply, Error> {
    if conn.alpn != ALPN_RENDEZVOUS {
        return Err(protocol("the connection was not opened for rendezvous"));
    }
    let (send, recv) = conn
        .conn
        .open_bi()
        .await
        .map_err(|e| Error::Io(format!("cannot open a rendezvous stream: {e}")))?;
    let (mut send, mut recv) = frame::framed((send, recv), MAX_MESSAGE);
    let req = wire::RendezvousRequest {
        request: Some(request),
    };
    frame::write(&mut send, &req, "a rendezvous request").await?;
    let reply: wire::RendezvousReply = frame::read(&mut recv, "the seed's answer").await?;
    if !reply.error.is_empty() {
        return Err(Error::Refused {
            code: "BAD_REQUEST".into(),
            message: reply.error,
        });
    }
    Ok(reply)
}

/// Announces `topic` at the seed on `conn`: the address the seed sees this peer at.
pub async fn announce(conn: &PeerConnection, topic: [u8; 32]) -> Result<SocketAddr, Error> {
    let reply = request(
        conn,
        wire::rendezvous_request::Request::Announce(wire::Topic {
            topic: topic.to_vec(),
        }),
    )
    .await?;
    reply
        .observed
        .parse()
        .map_err(|_| protocol("the seed sent no observed address"))
}

/// Looks `topic` up at the seed on `conn`: the peers under it.
pub async fn lookup(conn: &PeerConnection, topic: [u8; 32]) -> Result<Vec<Peer>, Error> {
    let reply = request(
        conn,
        wire::rendezvous_request::Request::Lookup(wire::Topic {
            topic: topic.to_vec(),
        }),
    )
    .await?;
    Ok(reply.peers.iter().filter_map(peer_of).collect())
}

/// The next introduction the seed on `conn` sends: a peer that looked up one of this peer's
/// announced topics. `None` once the connection ends.
pub async fn next_introduction(conn: &PeerConnection) -> Option<([u8; 32], Peer)> {
    loop {
        let recv = conn.conn.accept_uni().await.ok()?;
        let mut recv = frame::recv_framed(recv, MAX_MESSAGE);
        let Ok(m) = frame::read::<wire::Introduce>(&mut recv, "an introduction").await else {
            continue;
        };
        let (Ok(topic), Some(peer)) = (
            <[u8; 32]>::try_from(m.topic.as_slice()),
            m.peer.as_ref().and_then(peer_of),
        ) else {
            continue;
        };
        return Some((topic, peer));
    }
}
