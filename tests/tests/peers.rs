//! Daemons as processes on loopback replicate a pact over QUIC (issue 6): invite and join,
//! entries both ways, convergence of 3 and 8 daemons to one view digest, a claim race decided by
//! ledger order, catch-up after a restart, and tokens that must fail with their code.

use std::time::{Duration, Instant};

use openpact_tests::{Node, eventually};
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(20);

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
    let out = b.cli(&["join", &token, "--display-name", "bob", "--timeout", "20"]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "join failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let joined: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(joined["role"], "member");
    assert_eq!(joined["pact_id"], pact.as_str());
    assert!(took < Duration::from_secs(5), "join took {took:?}");

    a.record(&pact, "from alice").await;
    b.record(&pact, "from bob").await;
    eventually(SYNC, "bob's entry on alice's daemon", || async {
        a.knowledge(&pact)
            .await
            .contains(&"from bob".to_string())
            .then_some(())
    })
    .await;
    eventually(SYNC, "alice's entry on bob's daemon", || async {
        b.knowledge(&pact)
            .await
            .contains(&"from alice".to_string())
            .then_some(())
    })
    .await;
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

    // The same token again: spent, decided by the indexer's ledger.
    let c = Node::start().await;
    let again = c.join(&pact, &token, "carol").await;
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(again.code(), "INVITE_SPENT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_foreign_tokens_fail_with_their_codes() {
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
    // Nothing was admitted.
    assert_eq!(
        b.get("/v1/pacts").await["pacts"].as_array().map(Vec::len),
        Some(1)
    );
    let members = a.get(&format!("/v1/pacts/{pact}/agents")).await;
    assert_eq!(members.as_array().map(Vec::len), Some(1), "{members}");
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
    eventually(SYNC, "b's entry after its restart on a", || async {
        a.knowledge(&pact)
            .await
            .contains(&"back again".to_string())
            .then_some(())
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
}
