//! Daemons as processes on loopback replicate a pact over QUIC (issue 6): invite and join,
//! entries both ways, convergence of 3 and 8 daemons to one view digest, a claim race decided by
//! ledger order, catch-up after a restart, and tokens that must fail with their code.

use std::time::{Duration, Instant};

use openpact_tests::{Node, eventually};
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(20);

/// Whether `node` holds a knowledge entry of `pact` with this content.
async fn has(node: &Node, pact: &str, content: &str) -> bool {
    node.knowledge(pact).await.iter().any(|c| c == content)
}

/// Waits until `node` holds a knowledge entry of `pact` with this content.
async fn holds(node: &Node, pact: &str, content: &str, what: &str) {
    eventually(SYNC, what, || async {
        has(node, pact, content).await.then_some(())
    })
    .await;
}

/// A creator with a pact, and `n` daemons that joined it by invite over REST.
async fn pact_of(n: usize) -> (Node, String, Vec<Node>) {
    let a = Node::start().await;
    let pact = a.create_pact("mesh").await;
    let mut joiners = Vec::new();
    for i in 0..n {
        let b = Node::start().await;
        let token = a.invite(&pact).await;
        let r = b.join(&pact, &token, &format!("joiner-{i}")).await;
        assert_eq!(r.status, 200, "join {i}: {r:?}");
        assert_eq!(r.body["role"], "member", "join {i}: {r:?}");
        joiners.push(b);
    }
    (a, pact, joiners)
}

/// Waits until every node holds `expected` knowledge entries and one view digest; that digest.
async fn converged(nodes: &[&Node], pact: &str, expected: usize) -> String {
    eventually(SYNC, "every daemon to hold the same view", || async {
        let mut digests = Vec::new();
        for n in nodes {
            let s = n.status(pact).await;
            if s["tail"] != 0 {
                return None;
            }
            digests.push(s["view_digest"].as_str().unwrap_or_default().to_string());
        }
        for n in nodes {
            if n.knowledge(pact).await.len() != expected {
                return None;
            }
        }
        digests.dedup();
        (digests.len() == 1).then(|| digests.remove(0))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_becomes_a_member_and_entries_flow_both_ways() {
    let a = Node::start().await;
    let pact = a.create_pact("coven").await;
    let token = a.invite(&pact).await;

    // The CLI joins an empty data dir whose daemon runs, and prints one JSON line.
    let b = Node::start().await;
    let started = Instant::now();
    let joined = b.cli_json(&["join", &token, "--display-name", "bob", "--timeout", "20"]);
    let took = started.elapsed();
    assert_eq!(joined["role"], "member");
    assert_eq!(joined["pact_id"], pact.as_str());
    assert!(took < Duration::from_secs(5), "join took {took:?}");

    a.record(&pact, "from alice").await;
    b.record(&pact, "from bob").await;
    holds(&a, &pact, "from bob", "bob's entry on alice's daemon").await;
    holds(&b, &pact, "from alice", "alice's entry on bob's daemon").await;
    converged(&[&a, &b], &pact, 2).await;

    // Each sees the other online, and status names the session.
    let agents = a.get(&format!("/v1/pacts/{pact}/agents")).await;
    let bob = agents
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["display_name"] == "bob")
        .cloned()
        .unwrap_or_else(|| panic!("bob is among alice's agents: {agents}"));
    assert_eq!(bob["online"], true, "{agents}");
    let s = b.status(&pact).await;
    assert_eq!(s["peers"].as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(
        s["peers"][0]["member_key"],
        a.status(&pact).await["public_key"]
    );

    // Status and metrics show the sync.
    let s = b.status(&pact).await;
    assert!(s["sync_pulled_total"].as_u64() > Some(0), "{s}");
    let metrics = reqwest::Client::new()
        .get(format!("{}/v1/metrics", b.base))
        .bearer_auth(&b.token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains(&format!(
            "openpact_pact_peer_sessions{{pact_id=\"{pact}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE openpact_sync_entries_pulled_total counter"));
    let status = b.cli_json(&["status", "--json"]);
    assert_eq!(status["pact"]["peers"].as_array().map(Vec::len), Some(1));

    // The same token again: spent, decided by the indexer's ledger.
    let c = Node::start().await;
    let again = c.join(&pact, &token, "carol").await;
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(again.code(), "INVITE_SPENT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_starts_the_daemon_when_none_runs() {
    let a = Node::start().await;
    let pact = a.create_pact("cold").await;
    let share = a.mint(&pact).await["share_url"]
        .as_str()
        .expect("share_url")
        .to_string();
    let mut b = Node::unstarted();
    // The share URL as printed; --port 0: the daemon it starts takes any free REST port.
    let joined = b.cli_json(&["join", &share, "--port", "0", "--timeout", "20"]);
    assert_eq!(joined["role"], "member");
    b.adopt();
    b.record(&pact, "from a daemon join started").await;
    holds(&a, &pact, "from a daemon join started", "the entry on a").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invite_and_member_verbs_work_from_the_cli() {
    let a = Node::start().await;
    let pact = a.create_pact("by-hand").await;
    let minted = a.cli_json(&["invite", "--ttl", "1h"]);
    let nonce = minted["nonce"].as_str().expect("nonce").to_string();
    assert!(
        minted["share_url"]
            .as_str()
            .is_some_and(|u| u.contains("invite="))
    );
    let listed = a.cli_json(&["invite", "--list"]);
    assert_eq!(listed["entries"][0]["nonce"], nonce.as_str(), "{listed}");
    assert_eq!(listed["entries"][0]["dead"], false);
    a.cli_json(&["invite", "--revoke", &nonce]);
    let listed = a.cli_json(&["invite", "--list"]);
    assert_eq!(listed["entries"][0]["revoked"], true, "{listed}");

    // The revoked token fails with its code, on one line.
    let b = Node::start().await;
    let token = minted["token"].as_str().expect("token");
    let out = b.cli(&["join", token, "--timeout", "5"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("INVITE_REVOKED"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // add-member admits a key without an invite.
    let key = openpact_ledger::Signer::from_seed([77; 32])
        .public()
        .to_hex();
    a.cli_json(&["add-member", &key]);
    let agents = a.get(&format!("/v1/pacts/{pact}/agents")).await;
    assert!(
        agents
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["remote_key"] == key.as_str()),
        "{agents}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_and_foreign_tokens_fail_with_their_codes() {
    let a = Node::start().await;
    let pact = a.create_pact("guarded").await;
    let other = a.create_pact("other").await;
    let b = Node::start().await;

    let token = a.invite(&pact).await;
    let list = a.get(&format!("/v1/pacts/{pact}/invites")).await;
    let nonce = list["entries"][0]["nonce"]
        .as_str()
        .expect("nonce")
        .to_string();
    a.call(
        "DELETE",
        &format!("/v1/pacts/{pact}/invites/{nonce}"),
        Some(json!({"confirm": nonce})),
    )
    .await
    .ok();
    let r = b.join(&pact, &token, "b").await;
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(r.code(), "INVITE_REVOKED");

    // A token of another pact, presented for this one.
    let foreign = a.invite(&other).await;
    let r = b.join(&pact, &foreign, "b").await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.code(), "INVITE_WRONG_PACT");
    // The same token, redeemed at the indexer for the wrong pact.
    let r = a
        .call(
            "POST",
            &format!("/v1/pacts/{pact}/invites/redeem"),
            Some(json!({"token": foreign, "writer_key": a.status(&pact).await["public_key"], "confirm": true})),
        )
        .await;
    assert_eq!(r.code(), "INVITE_WRONG_PACT", "{r:?}");
    // A token past its expiry: the indexer refuses it over QUIC.
    let expired = with_field(
        &a.invite(&pact).await,
        "expiresAt",
        json!("2026-01-01T00:00:00.000Z"),
    );
    let r = b.join(&pact, &expired, "b").await;
    assert_eq!(r.status, 410, "{r:?}");
    assert_eq!(r.code(), "INVITE_EXPIRED");
    assert!(
        r.body["message"].as_str().unwrap_or("").contains("expired"),
        "{r:?}"
    );
    // Nothing was admitted.
    assert_eq!(
        b.get("/v1/pacts").await["pacts"].as_array().map(Vec::len),
        Some(1)
    );
    let members = a.get(&format!("/v1/pacts/{pact}/agents")).await;
    assert_eq!(members.as_array().map(Vec::len), Some(1), "{members}");

    // The creator joining its own pact (no peers) with a token changes nothing and spends
    // nothing: the token still admits b.
    let fresh = a.invite(&other).await;
    let own = a.join(&other, &fresh, "alice").await;
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(own.body["role"], "creator");
    let r = b.join(&other, &fresh, "b").await;
    assert_eq!(r.status, 200, "the invite is still good: {r:?}");
    assert_eq!(r.body["role"], "member");
}

async fn converge(n: usize) {
    let (a, pact, joiners) = pact_of(n - 1).await;
    let mut all: Vec<&Node> = vec![&a];
    all.extend(joiners.iter());
    let per = 5;
    let writes = all.iter().enumerate().map(|(i, node)| {
        let pact = pact.clone();
        async move {
            for k in 0..per {
                node.record(&pact, &format!("node {i} entry {k}")).await;
            }
        }
    });
    futures_util::future::join_all(writes).await;
    let digest = converged(&all, &pact, n * per).await;
    assert_eq!(digest.len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_converge_to_one_view() {
    converge(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_daemons_converge_to_one_view() {
    converge(8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_race_has_one_winner_everywhere() {
    let (a, pact, joiners) = pact_of(2).await;
    let (b, c) = (&joiners[0], &joiners[1]);
    let task = a
        .call(
            "POST",
            &format!("/v1/pacts/{pact}/tasks"),
            Some(json!({"title": "only one may take it"})),
        )
        .await
        .ok();
    let id = task["id"].as_str().expect("task id").to_string();
    for n in [b, c] {
        eventually(SYNC, "the task on every daemon", || async {
            (n.call("GET", &format!("/v1/pacts/{pact}/tasks/{id}"), None)
                .await
                .status
                == 200)
                .then_some(())
        })
        .await;
    }
    let path = format!("/v1/pacts/{pact}/tasks/{id}/claim?wait=confirmed");
    let (rb, rc) = tokio::join!(b.call("PUT", &path, None), c.call("PUT", &path, None));
    let mut statuses = [rb.status, rc.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "one wins: {rb:?} / {rc:?}");
    let loser = if rb.status == 409 { &rb } else { &rc };
    assert!(
        ["TASK_ALREADY_CLAIMED", "TASK_NOT_OPEN"].contains(&loser.code()),
        "{loser:?}"
    );
    let winner = if rb.status == 200 { &rb } else { &rc };
    let claimed_by = winner.body["claimed_by"].clone();
    for n in [&a, b, c] {
        eventually(SYNC, "every daemon to name the same claimer", || async {
            let t = n.get(&format!("/v1/pacts/{pact}/tasks/{id}")).await;
            (t["claimed_by"] == claimed_by).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_daemon_catches_up_after_restart() {
    let (a, pact, mut joiners) = pact_of(1).await;
    let b = &mut joiners[0];
    a.record(&pact, "before").await;
    converged(&[&a, b], &pact, 1).await;
    b.stop();
    for i in 0..100 {
        a.record(&pact, &format!("while b was away {i}")).await;
    }
    b.restart();
    converged(&[&a, b], &pact, 101).await;
    // And what b writes after its restart reaches a.
    let started = Instant::now();
    b.record(&pact, "back again").await;
    holds(&a, &pact, "back again", "b's entry after its restart on a").await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A peer that proves membership and serves the log it is given, true or not.
struct Liar {
    entries: Vec<Vec<u8>>,
    head: openpact_p2p::sync::Head,
}

impl openpact_p2p::sync::LogStore for Liar {
    fn frontier(&self) -> Result<Vec<openpact_p2p::sync::Head>, String> {
        Ok(vec![self.head])
    }

    fn range(&self, _: &[u8; 32], from: u64, limit: usize) -> Result<Vec<Vec<u8>>, String> {
        Ok(self
            .entries
            .iter()
            .skip(from as usize)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn ingest(&self, _: Vec<Vec<u8>>) -> Result<(), String> {
        Ok(())
    }
}

/// A member made by hand on the wire: it redeems an invite of `a`'s pact over QUIC with its
/// own key, then signs whatever entries a test needs and serves them in sync sessions.
struct HandMadePeer {
    endpoint: openpact_p2p::Endpoint,
    member: openpact_ledger::Signer,
    key: ed25519_dalek::SigningKey,
    pact: openpact_ledger::PactId,
    addr: std::net::SocketAddr,
}

impl HandMadePeer {
    async fn join(a: &Node, pact: &str) -> HandMadePeer {
        use openpact_p2p::{ALPN_INVITE, Endpoint, HostKey, invite};
        let token = a.invite(pact).await;
        let creator = a.status(pact).await["public_key"]
            .as_str()
            .expect("key")
            .to_string();
        let peer = HandMadePeer {
            endpoint: Endpoint::bind(
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                HostKey::from_seed([43; 32]),
            )
            .expect("endpoint"),
            member: openpact_ledger::Signer::from_seed([42; 32]),
            key: ed25519_dalek::SigningKey::from_bytes(&[42; 32]),
            pact: openpact_ledger::PactId::from_hex(pact).expect("pact id"),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], a.p2p_port)),
        };
        let conn = peer
            .endpoint
            .connect(peer.addr, None, ALPN_INVITE)
            .await
            .expect("invite connection");
        let indexer = openpact_ledger::MemberKey::from_hex(&creator)
            .expect("key")
            .0;
        invite::present(
            &conn,
            peer.pact.0,
            &[indexer],
            &token,
            peer.member.public().0,
            0,
        )
        .await
        .expect("the invite is redeemed");
        conn.conn.close(0u32.into(), b"done");
        eventually(SYNC, "the hand-made peer admitted", || async {
            let agents = a.get(&format!("/v1/pacts/{pact}/agents")).await;
            (agents.as_array().map(Vec::len) == Some(2)).then_some(())
        })
        .await;
        peer
    }

    /// A knowledge entry of its log at `seq`.
    fn entry(
        &self,
        seq: u64,
        prev: Option<openpact_ledger::EntryHash>,
        content: &str,
    ) -> openpact_ledger::entry::VerifiedEntry {
        use openpact_ledger::wire;
        openpact_ledger::entry::sign(
            &self.member,
            openpact_ledger::entry::Draft {
                pact: self.pact,
                seq,
                prev,
                deps: Vec::new(),
                // No deps: one more than its previous entry's.
                lamport: 1 + seq,
                epoch: 0,
                time_ms: 1 + seq,
                body: wire::Body {
                    ops: vec![wire::Op {
                        op: Some(wire::op::Op::Knowledge(wire::Knowledge {
                            topic: "hand-made".into(),
                            content: content.into(),
                            ..Default::default()
                        })),
                    }],
                    display_name: None,
                },
            },
        )
    }

    /// One sync session with the daemon, serving `entries` (its head at `head`), until the
    /// daemon hangs up or `within` passes; the connection, to read why it closed.
    async fn serve(
        &self,
        entries: Vec<Vec<u8>>,
        head: &openpact_ledger::entry::VerifiedEntry,
        within: Duration,
    ) -> quinn::Connection {
        use openpact_p2p::{ALPN_SYNC, hello, sync};
        let liar = Liar {
            entries,
            head: sync::Head {
                author: self.member.public().0,
                seq: head.header.seq,
                hash: head.hash.0,
            },
        };
        let conn = self
            .endpoint
            .connect(self.addr, None, ALPN_SYNC)
            .await
            .expect("sync connection");
        let session = hello::dial(&conn, self.pact.0, &self.key)
            .await
            .expect("a member may sync");
        let (_tx, grown) = tokio::sync::watch::channel(0u64);
        let counters = sync::Counters::default();
        let _ = tokio::time::timeout(
            within,
            sync::live(&conn, session, &liar, true, grown, &counters),
        )
        .await;
        conn.conn.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_sends_a_tampered_entry_is_cut_off_and_nothing_it_sent_is_applied() {
    let a = Node::start().await;
    let pact = a.create_pact("honest").await;
    a.record(&pact, "before the liar").await;
    let liar = HandMadePeer::join(&a, &pact).await;
    let before = a.status(&pact).await;

    // Two entries of its own log: the first valid, the second with a flipped body byte.
    let first = liar.entry(0, None, "a valid entry from the liar");
    let second = liar.entry(1, Some(first.hash), "the truth");
    let mut tampered = second.bytes.clone();
    let at = tampered
        .windows(9)
        .position(|w| w == b"the truth")
        .expect("content in the bytes");
    tampered[at] = b'T';
    let conn = liar
        .serve(vec![first.bytes.clone(), tampered], &second, SYNC)
        .await;
    let reason = conn.close_reason();
    assert!(
        matches!(&reason, Some(quinn::ConnectionError::ApplicationClosed(c)) if c.reason.as_ref() == b"bad entry"),
        "closed for the bad entry: {reason:?}"
    );
    let after = a.status(&pact).await;
    assert_eq!(
        after["stored"], before["stored"],
        "nothing the liar sent is stored"
    );
    assert_eq!(after["view_digest"], before["view_digest"]);
    assert!(
        !a.knowledge(&pact)
            .await
            .iter()
            .any(|c| c.contains("valid entry") || c.contains("truth"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_is_detected_and_its_proof_enters_the_ledger() {
    let a = Node::start().await;
    let pact = a.create_pact("forked").await;
    let forker = HandMadePeer::join(&a, &pact).await;
    let events = a.events().await;

    // Two different entries at seq 0, signed by the same member, served one after the other.
    let x = forker.entry(0, None, "version one");
    let y = forker.entry(0, None, "version two");
    let stored = a.status(&pact).await["stored"].as_u64().unwrap_or(0);
    forker
        .serve(vec![x.bytes.clone()], &x, Duration::from_millis(700))
        .await;
    let first = eventually(SYNC, "the first version stored", || async {
        let now = a.status(&pact).await["stored"].as_u64().unwrap_or(0);
        (now > stored).then_some(now)
    })
    .await;
    forker
        .serve(vec![y.bytes.clone()], &y, Duration::from_millis(700))
        .await;

    // The daemon saw both, says so, and (as the indexer) records the proof in the ledger.
    let mut events = events;
    let mut seen = String::new();
    let found = tokio::time::timeout(SYNC, async {
        while let Ok(Some(chunk)) = events.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: fork-detected") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "a fork-detected event: {seen}");
    // The second version and the daemon's report (the proof) are stored too.
    eventually(SYNC, "the fork proof in the ledger", || async {
        (a.status(&pact).await["stored"].as_u64() >= Some(first + 2)).then_some(())
    })
    .await;
    let log = std::fs::read_to_string(a.root().join("logs/daemon.log")).unwrap_or_default();
    assert!(log.contains("its proof is in the ledger"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_is_cut_off_and_can_be_invited_again() {
    let (a, pact, joiners) = pact_of(2).await;
    let (b, c) = (&joiners[0], &joiners[1]);
    b.record(&pact, "b while a member").await;
    converged(&[&a, b, c], &pact, 1).await;
    let b_key = b.status(&pact).await["public_key"]
        .as_str()
        .expect("key")
        .to_string();

    a.cli_json(&["remove-member", &b_key]);
    // Its sessions for the pact close.
    eventually(SYNC, "b's session on a to close", || async {
        let s = a.status(&pact).await;
        let peers = s["peers"].as_array().cloned().unwrap_or_default();
        (!peers.iter().any(|p| p["member_key"] == b_key.as_str())).then_some(())
    })
    .await;
    // What b writes from now on never takes effect elsewhere, and b gets nothing new.
    let _ = b
        .call(
            "POST",
            &format!("/v1/pacts/{pact}/knowledge"),
            Some(json!({"topic": "e2e", "content": "b after removal"})),
        )
        .await;
    a.record(&pact, "a after removal").await;
    holds(c, &pact, "a after removal", "c to get a's entry").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for n in [&a, c] {
        assert!(
            !has(n, &pact, "b after removal").await,
            "a removed member's write took effect"
        );
    }
    assert!(
        !has(b, &pact, "a after removal").await,
        "the removed member got a new entry"
    );
    let agents = a.get(&format!("/v1/pacts/{pact}/agents")).await;
    assert!(
        !agents
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["remote_key"] == b_key.as_str()),
        "{agents}"
    );

    // Invited again, it works again: it catches up and its new writes arrive.
    let token = a.invite(&pact).await;
    let r = b.join(&pact, &token, "b again").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["role"], "member");
    holds(
        b,
        &pact,
        "a after removal",
        "b to catch up after its return",
    )
    .await;
    b.record(&pact, "b is back").await;
    for n in [&a, c] {
        holds(n, &pact, "b is back", "b's new entry everywhere").await;
    }
    for n in [&a, c] {
        assert!(
            !has(n, &pact, "b after removal").await,
            "the write made while removed stays dropped"
        );
    }
    converged(&[&a, b, c], &pact, 3).await;
}

/// The token with its seed hints replaced by `seeds`.
fn with_seeds(token: &str, seeds: &[&str]) -> String {
    with_field(token, "seeds", json!(seeds))
}

/// The token with one field of its JSON replaced.
fn with_field(token: &str, field: &str, value: Value) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut t: Value =
        serde_json::from_slice(&b64.decode(token).expect("base64url")).expect("JSON");
    t[field] = value;
    b64.encode(serde_json::to_vec(&t).expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_find_each_other_through_a_seed() {
    let seed = openpact_tests::SeedNode::start();
    let boot = [seed.addr.clone()];
    let mut a = Node::start_with(&boot).await;
    let pact = a.create_pact("seeded").await;

    // The joiner knows only the seed: it finds the indexer by the pact's topic.
    let token = with_seeds(&a.invite(&pact).await, &[&seed.addr]);
    let mut b = Node::start().await;
    let r = b.join(&pact, &token, "b").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["role"], "member");
    a.record(&pact, "found").await;
    converged(&[&a, &b], &pact, 1).await;

    // Both move to new ports: what each remembered of the other is stale, and only the seed
    // (which b learned from its token) brings them together again.
    a.restart_elsewhere();
    b.restart_elsewhere();
    let started = Instant::now();
    b.record(&pact, "after both moved").await;
    holds(
        &a,
        &pact,
        "after both moved",
        "b's entry on a after both moved",
    )
    .await;
    eprintln!("found again through the seed in {:?}", started.elapsed());
}
