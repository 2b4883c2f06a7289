//! Finding a pact's peers through seeds (`--bootstrap host:port,...` / `OPENPACT_BOOTSTRAP`):
//! the daemon keeps a rendezvous connection to each seed, announces the topic of every pact it
//! holds, looks each topic up and dials the peers it learns of; a seed's introductions (a peer
//! looked up one of our topics) are dialed at once too. Announcements are renewed well before
//! they expire, and the addresses the seeds see this daemon at become seed hints of its
//! invites. Seed names are resolved with hickory-resolver, which honours /etc/hosts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openpact_p2p::{ALPN_RENDEZVOUS, PeerConnection, rendezvous};

use crate::net::Net;

/// How often announcements are renewed and topics looked up again.
pub const ROUND: Duration = Duration::from_secs(20);
/// How long connecting to a seed may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves `host:port` hints: IP literals as they are, names through hickory-resolver
/// (`/etc/hosts` first). Hints that do not resolve are logged and skipped.
pub async fn resolve(hints: &[String]) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let mut resolver = None;
    for hint in hints {
        let hint = hint.trim();
        if let Ok(a) = hint.parse::<SocketAddr>() {
            out.push(a);
            continue;
        }
        let Some((host, port)) = hint.rsplit_once(':') else {
            tracing::warn!(%hint, "a seed hint is host:port; skipped");
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            tracing::warn!(%hint, "a seed hint's port is not a number; skipped");
            continue;
        };
        if resolver.is_none() {
            match hickory_resolver::Resolver::builder_tokio().map(|b| b.build()) {
                Ok(Ok(r)) => resolver = Some(r),
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(error = %e, "cannot set up name resolution; seed names are skipped");
                    return out;
                }
            }
        }
        let Some(r) = &resolver else { continue };
        match r.lookup_ip(host.trim_matches(['[', ']'])).await {
            Ok(ips) => out.extend(ips.iter().map(|ip| SocketAddr::new(ip, port))),
            Err(e) => tracing::warn!(%hint, error = %e, "cannot resolve a seed"),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Looks `topic` up at each seed of `seeds` over one-off connections: every peer they know,
/// this daemon excluded.
pub async fn lookup_once(net: &Net, seeds: &[SocketAddr], topic: [u8; 32]) -> Vec<SocketAddr> {
    let mut seeds = seeds.to_vec();
    seeds.sort_unstable();
    seeds.dedup();
    let mut found = Vec::new();
    for seed in &seeds {
        let conn = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            net.endpoint().connect(*seed, None, ALPN_RENDEZVOUS),
        )
        .await
        {
            Ok(Ok(c)) => c,
            _ => continue,
        };
        if let Ok(peers) = rendezvous::lookup(&conn, topic).await {
            found.extend(
                peers
                    .into_iter()
                    .filter(|p| p.host_key != net.host_key())
                    .map(|p| p.addr),
            );
        }
        conn.conn.close(0u32.into(), b"done");
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// Runs discovery through the daemon's seeds ([`Net::seeds`]) until the daemon stops.
pub async fn run(net: Arc<Net>, mut stopping: tokio::sync::watch::Receiver<bool>) {
    let mut seeds: HashMap<SocketAddr, PeerConnection> = HashMap::new();
    loop {
        for addr in resolve(&net.seeds()).await {
            if net.local_addr() == Some(addr) {
                continue;
            }
            let alive = seeds
                .get(&addr)
                .is_some_and(|c| c.conn.close_reason().is_none());
            if alive {
                continue;
            }
            match tokio::time::timeout(
                CONNECT_TIMEOUT,
                net.endpoint().connect(addr, None, ALPN_RENDEZVOUS),
            )
            .await
            {
                Ok(Ok(conn)) => {
                    tracing::info!(seed = %addr, "connected to a seed");
                    tokio::spawn(introductions(net.clone(), conn.clone()));
                    seeds.insert(addr, conn);
                }
                Ok(Err(e)) => tracing::info!(seed = %addr, error = %e, "cannot reach a seed"),
                Err(_) => tracing::info!(seed = %addr, "a seed did not answer in time"),
            }
        }
        for (addr, conn) in &seeds {
            if conn.conn.close_reason().is_some() {
                continue;
            }
            for (pact, topic) in net.topics() {
                match rendezvous::announce(conn, topic).await {
                    Ok(observed) => net.observed(observed),
                    Err(e) => {
                        tracing::debug!(seed = %addr, error = %e, "announce failed");
                        continue;
                    }
                }
                match rendezvous::lookup(conn, topic).await {
                    Ok(peers) => {
                        for p in peers.into_iter().filter(|p| p.host_key != net.host_key()) {
                            net.dial_found(pact, p.addr);
                        }
                    }
                    Err(e) => tracing::debug!(seed = %addr, error = %e, "lookup failed"),
                }
            }
        }
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => break,
            () = tokio::time::sleep(ROUND) => {}
            () = net.discovery_wanted() => {}
        }
    }
    for conn in seeds.values() {
        conn.conn.close(0u32.into(), b"stopping");
    }
}

/// Dials every peer a seed introduces for one of our topics.
async fn introductions(net: Arc<Net>, conn: PeerConnection) {
    while let Some((topic, peer)) = rendezvous::next_introduction(&conn).await {
        if peer.host_key == net.host_key() {
            continue;
        }
        if let Some(pact) = net
            .topics()
            .into_iter()
            .find(|(_, t)| *t == topic)
            .map(|(p, _)| p)
        {
            net.dial_found(pact, peer.addr);
        }
    }
}
