//! The daemon on the peer network: one QUIC endpoint for every pact (`openpact-p2p`), live sync
//! sessions with the pact's peers, and invites presented to (and answered by) indexers.
//!
//! Peers are found from addresses a pact's config remembers (`peers`): the seed hints of the
//! invite it was joined with, and every address a member dialed it from. Each known address has
//! one dial loop that keeps a session up, backing off with jitter while the peer is away. Two
//! daemons that dial each other at once keep one connection: the one dialed by the lower host
//! key.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use openpact_ledger::{Code, Ingested, MemberKey, PactId};
use openpact_p2p::hello::{self, Membership, Session};
use openpact_p2p::invite::{self, Indexer, Refusal};
use openpact_p2p::rendezvous::{self, Known, Seed};
use openpact_p2p::sync::{self, Counters, Head, LogStore};
use openpact_p2p::{ALPN_INVITE, ALPN_RENDEZVOUS, ALPN_SYNC, Endpoint, HostKey, PeerConnection};
use openpact_proto::v1;

use crate::error::{ApiError, Result};
use crate::host::Daemon;
use crate::pact::OpenPact;

/// The default UDP port.
pub const DEFAULT_PORT: u16 = 7668;
/// First wait before dialing a peer again.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest wait between dials.
const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// A session that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);
/// How long a dial (handshake and opening) may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Most topics this daemon holds announcements for, as a seed for others.
const DAEMON_SEED_TOPICS: usize = 1024;
/// Failed dials in a row after which an address found through discovery is dropped.
const GIVE_UP_AFTER: u32 = 8;
/// How long a forwarded redeem may take in all.
const REDEEM_TIMEOUT: Duration = Duration::from_secs(15);

/// QUIC close codes.
const CLOSE_DUPLICATE: u32 = 1;
const CLOSE_BAD_ENTRY: u32 = 2;
const CLOSE_DONE: u32 = 3;
const CLOSE_REMOVED: u32 = 4;

/// Where and how the endpoint listens.
#[derive(Clone, Debug)]
pub struct NetOptions {
    /// The address to bind (UDP).
    pub listen: SocketAddr,
    /// Whether another free port may be taken when `listen`'s is in use (no port was asked
    /// for).
    pub fallback: bool,
    /// Seeds to announce this daemon's pacts at and find their peers through (`host:port`).
    pub bootstrap: Vec<String>,
}

/// A live sync session.
#[derive(Clone)]
struct Live {
    id: u64,
    pact: PactId,
    host: [u8; 32],
    member: [u8; 32],
    addr: SocketAddr,
    dialer: bool,
    conn: quinn::Connection,
    counters: Arc<Counters>,
    since: Instant,
}

/// The daemon's peer network.
pub struct Net {
    endpoint: Endpoint,
    daemon: Weak<Daemon>,
    sessions: Mutex<Vec<Live>>,
    dialing: Mutex<HashSet<(PactId, SocketAddr)>>,
    next_id: AtomicU64,
    /// Wakes dial loops out of their backoff.
    retry: tokio::sync::Notify,
    /// Bumped when a session starts.
    sessions_up: tokio::sync::watch::Sender<u64>,
    /// This daemon as a seed for others.
    seed: Arc<Seed>,
    /// Seeds it announces at.
    bootstrap: Vec<String>,
    /// Addresses seeds saw this daemon at.
    observed: Mutex<Vec<SocketAddr>>,
    /// Wakes discovery for a round now (a pact was added).
    discover: tokio::sync::Notify,
    /// Per pact, what sessions that ended moved: pulled, served, bytes in, bytes out.
    ended: Mutex<std::collections::HashMap<PactId, [u64; 4]>>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Net({:?})", self.endpoint.local_addr().ok())
    }
}

/// What one peer session shows in status.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The pact.
    pub pact: PactId,
    /// The peer's host key.
    pub host: [u8; 32],
    /// The peer's member key in the pact.
    pub member: [u8; 32],
    /// Its address.
    pub addr: SocketAddr,
    /// Whether this daemon dialed.
    pub dialer: bool,
    /// Entries pulled from it, and served to it.
    pub pulled: u64,
    /// Entries served to it.
    pub served: u64,
    /// Bytes received and sent in entries.
    pub bytes_in: u64,
    /// Bytes sent in entries.
    pub bytes_out: u64,
    /// How long the session has been up.
    pub up: Duration,
}

fn net_error(e: openpact_p2p::Error) -> ApiError {
    match e {
        openpact_p2p::Error::Refused { code, message } => {
            ApiError::new(Code::from_name(&code).unwrap_or(Code::Internal), message)
        }
        openpact_p2p::Error::Bind { addr, in_use, .. } if in_use => ApiError::internal(format!(
            "UDP port {} on {} (the peer port) is already in use (another OpenPact daemon, or another program). Stop it, or pass --p2p-port to pick another.",
            addr.port(),
            addr.ip()
        )),
        other => ApiError::internal(format!("peer network: {other}")),
    }
}

/// The address this machine sends from by default, for a daemon listening on every interface:
/// what the OS picks to route towards a documentation address (RFC 5737 / 3849). Connecting a
/// UDP socket sends nothing. `None` without a default route.
fn primary_address(v6: bool) -> Option<std::net::IpAddr> {
    let (any, probe): (SocketAddr, SocketAddr) = if v6 {
        (
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
            SocketAddr::from((std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9)),
        )
    } else {
        (
            SocketAddr::from(([0, 0, 0, 0], 0)),
            SocketAddr::from(([192, 0, 2, 1], 9)),
        )
    };
    let socket = std::net::UdpSocket::bind(any).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// Up to `d`, plus or minus a quarter, so peers that lost each other at once do not dial in
/// lockstep.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = getrandom::fill(&mut b).map_or(0.5, |()| f64::from(u16::from_le_bytes(b)) / 65535.0);
    d.mul_f64(0.75 + r / 2.0)
}

impl Net {
    /// Binds the endpoint with the data dir's host key, starts answering peers and dials the
    /// peers every open pact knows.
    pub fn start(daemon: &Arc<Daemon>, opts: &NetOptions) -> Result<Arc<Net>> {
        let key = HostKey::from_seed(daemon.dir.host_seed()?);
        let endpoint =
            Endpoint::bind_preferring(opts.listen, key, opts.fallback).map_err(net_error)?;
        let net = Arc::new_cyclic(|me: &Weak<Net>| Net {
            endpoint,
            daemon: Arc::downgrade(daemon),
            sessions: Mutex::new(Vec::new()),
            dialing: Mutex::new(HashSet::new()),
            next_id: AtomicU64::new(1),
            retry: tokio::sync::Notify::new(),
            sessions_up: tokio::sync::watch::channel(0).0,
            seed: Seed::new(Some(Arc::new(KnownPeers(me.clone()))), DAEMON_SEED_TOPICS),
            bootstrap: opts.bootstrap.clone(),
            observed: Mutex::new(Vec::new()),
            discover: tokio::sync::Notify::new(),
            ended: Mutex::new(std::collections::HashMap::new()),
        });
        tokio::spawn(net.clone().accept_loop(daemon.stopping()));
        for pact in daemon.open_pacts() {
            net.dial_known(&pact);
        }
        tokio::spawn(crate::discovery::run(net.clone(), daemon.stopping()));
        Ok(net)
    }

    /// Where the endpoint listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// This daemon's host key.
    pub fn host_key(&self) -> [u8; 32] {
        self.endpoint.host_key().public()
    }

    /// The QUIC endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Where a joiner can find this daemon's pacts, for an invite's seed hints: the listening
    /// address (for 0.0.0.0 or ::, the machine's primary address on that port), the addresses
    /// seeds saw this daemon at, and the seeds themselves.
    pub fn hints(&self) -> Vec<String> {
        let mut out: Vec<String> = match self.local_addr() {
            Some(a) if a.ip().is_unspecified() => primary_address(a.is_ipv6())
                .map(|ip| SocketAddr::new(ip, a.port()).to_string())
                .into_iter()
                .collect(),
            Some(a) => vec![a.to_string()],
            None => Vec::new(),
        };
        if let Ok(o) = self.observed.lock() {
            out.extend(o.iter().map(SocketAddr::to_string));
        }
        out.extend(self.bootstrap.iter().cloned());
        let mut seen = HashSet::new();
        out.retain(|h| seen.insert(h.clone()));
        out
    }

    /// Notes an address a seed saw this daemon at.
    pub fn observed(&self, addr: SocketAddr) {
        if let Ok(mut o) = self.observed.lock()
            && !o.contains(&addr)
        {
            tracing::info!(%addr, "a seed sees this daemon at");
            o.push(addr);
            let excess = o.len().saturating_sub(4);
            o.drain(..excess);
        }
    }

    /// The rendezvous topic of every open pact that has a discovery secret.
    pub fn topics(&self) -> Vec<(PactId, [u8; 32])> {
        let Some(d) = self.daemon() else {
            return Vec::new();
        };
        d.open_pacts()
            .into_iter()
            .filter_map(|p| {
                let secret = hex::decode(p.discovery_secret()?).ok()?;
                Some((p.id, rendezvous::topic_of(&secret)))
            })
            .collect()
    }

    /// The seed hints every open pact was joined with (`seeds` in its config), with the
    /// daemon's own `--bootstrap`: where discovery announces and looks up.
    pub fn seeds(&self) -> Vec<String> {
        let mut out = self.bootstrap.clone();
        if let Some(d) = self.daemon() {
            for p in d.open_pacts() {
                out.extend(p.seeds());
            }
        }
        let mut seen = HashSet::new();
        out.retain(|h| seen.insert(h.clone()));
        out
    }

    /// Asks discovery for a round now (a pact was added or joined).
    pub fn rediscover(&self) {
        self.discover.notify_waiters();
    }

    /// Resolves when a discovery round is asked for.
    pub async fn discovery_wanted(&self) {
        self.discover.notified().await;
    }

    /// The live sessions.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.sessions
            .lock()
            .map(|s| {
                s.iter()
                    .map(|l| PeerInfo {
                        pact: l.pact,
                        host: l.host,
                        member: l.member,
                        addr: l.addr,
                        dialer: l.dialer,
                        pulled: l.counters.pulled.load(Ordering::Relaxed),
                        served: l.counters.served.load(Ordering::Relaxed),
                        bytes_in: l.counters.bytes_in.load(Ordering::Relaxed),
                        bytes_out: l.counters.bytes_out.load(Ordering::Relaxed),
                        up: l.since.elapsed(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The live sessions of `pact`, as status shows them.
    pub fn sessions_of(&self, pact: &PactId) -> Vec<v1::PeerSession> {
        self.peers()
            .into_iter()
            .filter(|p| p.pact == *pact)
            .map(|p| v1::PeerSession {
                remote_key: hex::encode(p.host),
                member_key: hex::encode(p.member),
                address: p.addr.to_string(),
                outbound: p.dialer,
                pulled: p.pulled,
                served: p.served,
                bytes_in: p.bytes_in,
                bytes_out: p.bytes_out,
                up_ms: p.up.as_millis() as u64,
            })
            .collect()
    }

    /// Whether a session for `pact` is up.
    pub fn connected_pact(&self, pact: &PactId) -> bool {
        self.sessions
            .lock()
            .is_ok_and(|s| s.iter().any(|l| l.pact == *pact))
    }

    /// Waits until a session for `pact` is up, or `deadline`.
    pub async fn wait_connected(&self, pact: &PactId, deadline: tokio::time::Instant) {
        let mut up = self.sessions_up.subscribe();
        while !self.connected_pact(pact) {
            match tokio::time::timeout_at(deadline, up.changed()).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }

    /// Dials every known peer again now, whatever their backoff (this daemon was just
    /// admitted somewhere).
    pub fn retry_now(&self) {
        self.retry.notify_waiters();
    }

    /// Closes every connection (the daemon is stopping).
    pub fn close(&self) {
        self.endpoint.close();
    }

    /// Starts a dial loop for every address `pact` knows.
    pub fn dial_known(self: &Arc<Self>, pact: &Arc<OpenPact>) {
        for addr in pact.known_peers() {
            match addr.parse::<SocketAddr>() {
                Ok(a) => self.dial(pact.id, a),
                Err(_) => tracing::warn!(pact = %pact.id, %addr, "not a peer address; skipped"),
            }
        }
    }

    /// Keeps a session with `addr` for `pact` up from now on, unless a loop already does.
    pub fn dial(self: &Arc<Self>, pact: PactId, addr: SocketAddr) {
        self.start_dialing(pact, addr, true);
    }

    /// Dials `addr` for `pact`, found through a seed or a peer: like [`Net::dial`], but the
    /// loop gives up when the address never answers (discovery finds the peer again).
    pub fn dial_found(self: &Arc<Self>, pact: PactId, addr: SocketAddr) {
        self.start_dialing(pact, addr, false);
    }

    fn start_dialing(self: &Arc<Self>, pact: PactId, addr: SocketAddr, persistent: bool) {
        if self.local_addr() == Some(addr) {
            return;
        }
        let fresh = self
            .dialing
            .lock()
            .is_ok_and(|mut d| d.insert((pact, addr)));
        if fresh {
            tokio::spawn(self.clone().dial_loop(pact, addr, persistent));
        }
    }

    fn daemon(&self) -> Option<Arc<Daemon>> {
        self.daemon.upgrade()
    }

    fn open_pact(&self, pact: &PactId) -> Option<Arc<OpenPact>> {
        self.daemon()?
            .open_pacts()
            .into_iter()
            .find(|p| p.id == *pact)
    }

    async fn accept_loop(self: Arc<Self>, mut stopping: tokio::sync::watch::Receiver<bool>) {
        loop {
            let incoming = tokio::select! {
                _ = stopping.wait_for(|s| *s) => break,
                i = self.endpoint.accept_incoming() => i,
            };
            let Some(incoming) = incoming else { break };
            let net = self.clone();
            tokio::spawn(async move {
                match openpact_p2p::endpoint::handshake(incoming).await {
                    Ok(conn) => net.answer(conn).await,
                    Err(e) => tracing::debug!(error = %e, "an incoming handshake failed"),
                }
            });
        }
        self.endpoint.close();
    }

    /// Serves one incoming connection by its protocol.
    async fn answer(self: Arc<Self>, conn: PeerConnection) {
        let Some(daemon) = self.daemon() else { return };
        let addr = conn.conn.remote_address();
        if conn.alpn == ALPN_SYNC {
            match hello::answer(&conn, &Members(daemon)).await {
                Ok(session) => self.run(conn, session, false).await,
                Err(e) => {
                    tracing::info!(peer = %addr, error = %e, "refused a sync opening");
                    // Let the refusal reach the dialer before hanging up.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    conn.conn.close(CLOSE_DONE.into(), b"refused");
                }
            }
        } else if conn.alpn == ALPN_RENDEZVOUS {
            self.seed.clone().serve(conn).await;
        } else if conn.alpn == ALPN_INVITE {
            if let Err(e) = invite::answer(&conn, &Indexers(daemon)).await {
                tracing::info!(peer = %addr, error = %e, "an invite presentation failed");
            }
            conn.conn.close(CLOSE_DONE.into(), b"done");
        } else {
            conn.conn.close(CLOSE_DONE.into(), b"not served here");
        }
    }

    /// Runs a session until it ends, registered for status and for the one-connection rule.
    async fn run(self: &Arc<Self>, conn: PeerConnection, session: Session, dialer: bool) {
        let pact_id = PactId(session.pact);
        let Some(pact) = self.open_pact(&pact_id) else {
            return;
        };
        let live = Live {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            pact: pact_id,
            host: conn.peer,
            member: session.peer_member,
            addr: conn.conn.remote_address(),
            dialer,
            conn: conn.conn.clone(),
            counters: Arc::new(Counters::default()),
            since: Instant::now(),
        };
        if !self.register(&live) {
            conn.conn.close(CLOSE_DUPLICATE.into(), b"duplicate");
            return;
        }
        if !dialer {
            // Its endpoint dialed from the address it listens on: dial it there after a restart.
            match pact.remember_peer(&live.addr.to_string()) {
                Ok(true) => self.dial(pact_id, live.addr),
                Ok(false) => {}
                Err(e) => tracing::warn!(pact = %pact_id, error = %e, "cannot remember a peer"),
            }
        }
        self.publish(&pact, &live, v1::EventKind::PeerAdd);
        pact.peer_up(MemberKey(live.member));
        tracing::info!(pact = %pact_id, peer = %live.addr, member = %hex::encode(live.member), "peer session up");
        let store = Store(pact.clone());
        let result = tokio::select! {
            r = sync::live(&conn, session, &store, dialer, pact.commits(), &live.counters) => r,
            () = removed(&pact, MemberKey(live.member)) => {
                tracing::info!(pact = %pact_id, peer = %live.addr, "the peer's member was removed: session closed");
                conn.conn.close(CLOSE_REMOVED.into(), b"removed");
                Ok(())
            }
        };
        self.unregister(live.id);
        pact.peer_down(MemberKey(live.member));
        self.publish(&pact, &live, v1::EventKind::PeerRemove);
        match result {
            Err(openpact_p2p::Error::Refused { code, message }) if code == "BAD_ENTRY" => {
                tracing::warn!(pact = %pact_id, peer = %live.addr, %message, "cut off a peer that sent entries that do not verify");
                conn.conn.close(CLOSE_BAD_ENTRY.into(), b"bad entry");
            }
            Err(e) => {
                tracing::info!(pact = %pact_id, peer = %live.addr, error = %e, "peer session ended")
            }
            Ok(()) => tracing::info!(pact = %pact_id, peer = %live.addr, "peer session ended"),
        }
    }

    /// Adds a session, unless one with the same peer and pact should be kept instead: of two,
    /// the one dialed by the lower host key stays (both ends decide alike).
    fn register(&self, live: &Live) -> bool {
        let Ok(mut sessions) = self.sessions.lock() else {
            return false;
        };
        let me = self.host_key();
        if let Some(i) = sessions
            .iter()
            .position(|l| l.pact == live.pact && l.host == live.host)
        {
            let lower_dials = me < live.host;
            if sessions[i].dialer == lower_dials {
                return false;
            }
            let old = sessions.remove(i);
            old.conn.close(CLOSE_DUPLICATE.into(), b"duplicate");
            self.retire(&old);
        }
        sessions.push(live.clone());
        self.sessions_up.send_modify(|n| *n += 1);
        true
    }

    fn unregister(&self, id: u64) {
        let gone = self.sessions.lock().ok().and_then(|mut s| {
            let i = s.iter().position(|l| l.id == id)?;
            Some(s.remove(i))
        });
        if let Some(l) = gone {
            self.retire(&l);
        }
    }

    /// Adds what a session that left the list moved to its pact's totals.
    fn retire(&self, l: &Live) {
        if let Ok(mut ended) = self.ended.lock() {
            let t = ended.entry(l.pact).or_default();
            for (total, counter) in t.iter_mut().zip([
                &l.counters.pulled,
                &l.counters.served,
                &l.counters.bytes_in,
                &l.counters.bytes_out,
            ]) {
                *total += counter.load(Ordering::Relaxed);
            }
        }
    }

    /// What every session of `pact` moved since the daemon started: pulled, served, bytes
    /// in, bytes out.
    pub fn totals(&self, pact: &PactId) -> [u64; 4] {
        let mut t = self
            .ended
            .lock()
            .ok()
            .and_then(|e| e.get(pact).copied())
            .unwrap_or_default();
        for p in self.peers().into_iter().filter(|p| p.pact == *pact) {
            t[0] += p.pulled;
            t[1] += p.served;
            t[2] += p.bytes_in;
            t[3] += p.bytes_out;
        }
        t
    }

    fn connected(&self, pact: &PactId, addr: &SocketAddr) -> bool {
        self.sessions
            .lock()
            .is_ok_and(|s| s.iter().any(|l| l.pact == *pact && l.addr == *addr))
    }

    fn publish(&self, pact: &OpenPact, live: &Live, kind: v1::EventKind) {
        if let Some(d) = self.daemon() {
            d.bus.publish(v1::Event {
                kind: kind as i32,
                pact_id: pact.id.to_hex(),
                alias: pact.alias(),
                detail: Some(v1::event::Detail::Peer(v1::PeerChange {
                    remote_key: hex::encode(live.host),
                })),
                ..Default::default()
            });
        }
    }

    /// Keeps a session with `addr` up while the pact is open and the daemon runs.
    async fn dial_loop(self: Arc<Self>, pact: PactId, addr: SocketAddr, persistent: bool) {
        let mut backoff = BACKOFF_MIN;
        let mut failures = 0;
        loop {
            let Some(daemon) = self.daemon() else { break };
            if *daemon.stopping().borrow() || self.open_pact(&pact).is_none() {
                break;
            }
            drop(daemon);
            if self.connected(&pact, &addr) {
                tokio::time::sleep(jitter(Duration::from_secs(1))).await;
                continue;
            }
            let started = Instant::now();
            match self.dial_once(pact, addr).await {
                Ok(()) => failures = 0,
                Err(Dial::Myself) => {
                    tracing::debug!(%addr, "that address is this daemon; not dialing it");
                    break;
                }
                Err(Dial::Failed(e)) => {
                    tracing::debug!(pact = %pact, peer = %addr, error = %e, "dial failed");
                    failures += 1;
                    if !persistent && failures >= GIVE_UP_AFTER {
                        break;
                    }
                }
            }
            if started.elapsed() > STABLE {
                backoff = BACKOFF_MIN;
            }
            tokio::select! {
                () = tokio::time::sleep(jitter(backoff)) => {}
                () = self.retry.notified() => backoff = BACKOFF_MIN,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        if let Ok(mut d) = self.dialing.lock() {
            d.remove(&(pact, addr));
        }
    }

    async fn dial_once(
        self: &Arc<Self>,
        pact_id: PactId,
        addr: SocketAddr,
    ) -> std::result::Result<(), Dial> {
        let pact = self
            .open_pact(&pact_id)
            .ok_or_else(|| Dial::Failed("the pact is not open".into()))?;
        let opened = tokio::time::timeout(DIAL_TIMEOUT, async {
            let conn = self.endpoint.connect(addr, None, ALPN_SYNC).await?;
            if conn.peer == self.host_key() {
                conn.conn.close(CLOSE_DONE.into(), b"self");
                return Ok(None);
            }
            let key = SigningKey::from_bytes(&pact.member_seed());
            let session = hello::dial(&conn, pact_id.0, &key).await;
            match session {
                Ok(s) => Ok(Some((conn, s))),
                Err(e) => {
                    conn.conn.close(CLOSE_DONE.into(), b"refused");
                    Err(e)
                }
            }
        })
        .await
        .map_err(|_| Dial::Failed("timed out".into()))?
        .map_err(|e| Dial::Failed(e.to_string()))?;
        let Some((conn, session)) = opened else {
            return Err(Dial::Myself);
        };
        self.run(conn, session, true).await;
        Ok(())
    }

    /// Presents `token` for this daemon's key in `pact` to an indexer reachable at one of
    /// `addrs`, trying them side by side; the first redeem wins: the spent nonce and where that
    /// indexer is. Refusals by an indexer keep their wire code; when none answers,
    /// `NO_INDEXER_REACHABLE`.
    pub async fn redeem_remote(
        &self,
        pact: PactId,
        indexers: Vec<[u8; 32]>,
        addrs: Vec<SocketAddr>,
        token: String,
        writer_key: MemberKey,
        next_seq: u64,
    ) -> Result<(String, SocketAddr)> {
        // One presentation per address: the same indexer twice would race itself, and the
        // loser's INVITE_SPENT would hide the winner's admission.
        let mut addrs = addrs;
        addrs.sort_unstable();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(ApiError::new(
                Code::NoIndexerReachable,
                "No address to reach the pact's indexers: the invite has no seeds and no peer of the pact is known. Ask for an invite minted by a daemon that peers can reach.",
            ));
        }
        let attempts = addrs.into_iter().map(|addr| {
            let (token, indexers) = (token.clone(), indexers.clone());
            Box::pin(async move {
                let conn = self.endpoint.connect(addr, None, ALPN_INVITE).await?;
                let out =
                    invite::present(&conn, pact.0, &indexers, &token, writer_key.0, next_seq).await;
                conn.conn.close(CLOSE_DONE.into(), b"done");
                out.map(|nonce| (nonce, addr))
            })
        });
        let all = async {
            let mut last: Option<openpact_p2p::Error> = None;
            // An indexer's verdict on the token, kept until every attempt is in: another
            // indexer (or the same one under another address) may have admitted this daemon.
            let mut verdict: Option<openpact_p2p::Error> = None;
            let mut pending: Vec<_> = attempts.collect();
            while !pending.is_empty() {
                let (result, _, rest) = futures_util::future::select_all(pending).await;
                pending = rest;
                match result {
                    Ok(done) => return Ok(done),
                    Err(e @ openpact_p2p::Error::Refused { .. }) if !matches!(&e, openpact_p2p::Error::Refused { code, .. } if code == "NO_INDEXER_REACHABLE") =>
                    {
                        verdict.get_or_insert(e);
                    }
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = verdict {
                return Err(net_error(e));
            }
            Err(ApiError::new(
                Code::NoIndexerReachable,
                format!(
                    "No indexer of the pact answered{}. Check that the inviting daemon runs and its peer port is reachable, then try again.",
                    last.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            ))
        };
        tokio::time::timeout(REDEEM_TIMEOUT, all)
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::new(
                    Code::NoIndexerReachable,
                    format!(
                        "No indexer answered within {} s. Try again once one is online.",
                        REDEEM_TIMEOUT.as_secs()
                    ),
                ))
            })
    }
}

/// Resolves once `member` is no longer an active member of `pact` (its removal was applied
/// here): from then on it gets nothing new.
async fn removed(pact: &OpenPact, member: MemberKey) {
    let mut commits = pact.commits();
    loop {
        // A member this view does not know yet (a joiner still syncing) is not removed.
        let gone = pact
            .reader()
            .and_then(|r| r.members().map_err(Into::into))
            .is_ok_and(|ms| ms.iter().any(|m| m.key == member && !m.active));
        if gone {
            return;
        }
        if commits.changed().await.is_err() {
            // The pact closed: the session ends with it.
            std::future::pending::<()>().await;
        }
    }
}

enum Dial {
    /// The address is this daemon's own.
    Myself,
    Failed(String),
}

/// What this daemon knows of a topic as a seed: the peers of its pact with that topic it has
/// sessions with, and itself (so peers learn of each other through any member).
struct KnownPeers(Weak<Net>);

impl Known for KnownPeers {
    fn known(&self, topic: &[u8; 32]) -> Vec<rendezvous::Peer> {
        let Some(net) = self.0.upgrade() else {
            return Vec::new();
        };
        let Some(pact) = net
            .topics()
            .into_iter()
            .find(|(_, t)| t == topic)
            .map(|(p, _)| p)
        else {
            return Vec::new();
        };
        let mut out: Vec<rendezvous::Peer> = net
            .peers()
            .into_iter()
            .filter(|p| p.pact == pact)
            .map(|p| rendezvous::Peer {
                host_key: p.host,
                addr: p.addr,
            })
            .collect();
        if let Some(me) = net.local_addr().filter(|a| !a.ip().is_unspecified()) {
            out.push(rendezvous::Peer {
                host_key: net.host_key(),
                addr: me,
            });
        }
        out
    }
}

/// The pacts this daemon holds, as the sync opening sees them.
struct Members(Arc<Daemon>);

impl Membership for Members {
    fn member_key(&self, pact: &[u8; 32]) -> Option<SigningKey> {
        let p = self.0.open_pacts().into_iter().find(|p| p.id.0 == *pact)?;
        Some(SigningKey::from_bytes(&p.member_seed()))
    }

    fn is_active_member(&self, pact: &[u8; 32], member: &[u8; 32]) -> bool {
        self.0
            .open_pacts()
            .into_iter()
            .find(|p| p.id.0 == *pact)
            .and_then(|p| p.reader().ok())
            .and_then(|r| r.members().ok())
            .is_some_and(|ms| ms.iter().any(|m| m.key.0 == *member && m.active))
    }
}

/// The pacts this daemon is an indexer of, as invite presentation sees them.
struct Indexers(Arc<Daemon>);

impl Indexer for Indexers {
    fn indexer_key(&self, pact: &[u8; 32]) -> Option<SigningKey> {
        let p = self.0.open_pacts().into_iter().find(|p| p.id.0 == *pact)?;
        let is_indexer = p.reader().ok()?.pact().ok()??.indexers.contains(&p.me);
        is_indexer.then(|| SigningKey::from_bytes(&p.member_seed()))
    }

    async fn redeem(
        &self,
        pact: [u8; 32],
        token: String,
        writer_key: [u8; 32],
        next_seq: u64,
    ) -> std::result::Result<String, Refusal> {
        let refusal = |e: ApiError| Refusal {
            code: e.code.as_str().to_string(),
            message: e.message,
        };
        let p = self
            .0
            .open_pacts()
            .into_iter()
            .find(|p| p.id.0 == pact)
            .ok_or_else(|| Refusal {
                code: "UNKNOWN_PACT".into(),
                message: "this peer does not hold that pact".into(),
            })?;
        p.redeem_invite(
            &v1::RedeemInviteRequest {
                pact: String::new(),
                token,
                writer_key: hex::encode(writer_key),
                confirm: true,
                writer_next_seq: next_seq,
            },
            None,
        )
        .await
        .map(|r| r.nonce)
        .map_err(refusal)
    }
}

/// A pact's log as sync sees it.
struct Store(Arc<OpenPact>);

impl LogStore for Store {
    fn frontier(&self) -> std::result::Result<Vec<Head>, String> {
        let r = self.0.reader().map_err(|e| e.message)?;
        Ok(r.frontier()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(author, seq, hash)| Head {
                author: author.0,
                seq,
                hash: hash.0,
            })
            .collect())
    }

    fn range(
        &self,
        author: &[u8; 32],
        from_seq: u64,
        limit: usize,
    ) -> std::result::Result<Vec<Vec<u8>>, String> {
        let r = self.0.reader().map_err(|e| e.message)?;
        r.log_range(&MemberKey(*author), from_seq, limit)
            .map_err(|e| e.to_string())
    }

    async fn ingest(&self, entries: Vec<Vec<u8>>) -> std::result::Result<(), String> {
        let results = self.0.ingest(entries).await.map_err(|e| e.message)?;
        match results.iter().find(|r| matches!(r, Ingested::Invalid(_))) {
            Some(bad) => Err(format!("{bad:?}")),
            None => Ok(()),
        }
    }
}
