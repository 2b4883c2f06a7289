//! Concurrent claims (spec/ledger.md, section 6.7): two members claim one task, each before
//! hearing of the other. Each sees its own claim applied, provisionally. Once the claims meet,
//! every peer agrees on one winner, and the loser's outcome is `TASK_ALREADY_CLAIMED` once
//! confirmed and never changes after.

mod sim;

use openpact_ledger::{Code, EntryHash, Event, Outcome};
use rand::RngExt as _;

use sim::{Act, CREATOR, Mix, Params, Sim, forge, inspect};

const B: usize = 1;
const C: usize = 2;

/// A pact of the creator and three members, all admitted everywhere, with one open task that
/// every peer knows.
fn pact_with_one_task(seed: u64) -> Result<(Sim, String), String> {
    let mut sim = Sim::new(Params {
        seed,
        members: 3,
        outsider: false,
        steps: 0,
        mix: Mix::QUIET,
    });
    sim.flush()?;
    let done = sim.exec_ok(CREATOR, vec![Act::Append(forge::task_create("the task"))])?;
    let task = done.appended[0].api_id.clone();
    sim.flush()?;
    Ok((sim, task))
}

/// `p` claims `task` and sees its claim applied, not yet confirmed.
fn claim(sim: &mut Sim, p: usize, task: &str) -> Result<EntryHash, String> {
    let done = sim.exec_ok(p, vec![Act::Append(forge::claim(task))])?;
    let r = &done.appended[0];
    if (r.outcome, r.confirmed) != (Outcome::Applied, false) {
        return Err(sim.failure(format!(
            "p{p}'s own claim shows {:?}, confirmed {}",
            r.outcome, r.confirmed
        )));
    }
    Ok(r.hash)
}

/// What every peer says about the two claims at the end; the winner's peer index.
fn check_one_winner(
    sim: &Sim,
    task: &str,
    claims: [(usize, EntryHash); 2],
) -> Result<usize, String> {
    let order = inspect::order(sim.peers[CREATOR].ledger());
    let pos = |h: &EntryHash| order.iter().position(|x| x == h);
    let (first, second) = if pos(&claims[0].1) < pos(&claims[1].1) {
        (claims[0], claims[1])
    } else {
        (claims[1], claims[0])
    };
    for (p, peer) in sim.peers.iter().enumerate() {
        let reader = peer.ledger().reader().expect("reader");
        let won = reader
            .outcome(&first.1)
            .expect("outcome")
            .map(|o| (o.1, o.2));
        let lost = reader
            .outcome(&second.1)
            .expect("outcome")
            .map(|o| (o.1, o.2));
        let loser = Outcome::Rejected(Code::TaskAlreadyClaimed);
        if won != Some((Outcome::Applied, true)) || lost != Some((loser, true)) {
            return Err(sim.failure(format!("p{p}: first claim {won:?}, second {lost:?}")));
        }
        // The confirmation announced the final outcome, and nothing changed it after.
        if peer.finals.get(&second.1) != Some(&loser) {
            return Err(sim.failure(format!(
                "p{p} confirmed the losing claim as {:?}",
                peer.finals.get(&second.1)
            )));
        }
        let holder = reader
            .task(task, sim.now)
            .expect("task")
            .and_then(|t| t.claimed_by)
            .map(|c| c.key);
        if holder != Some(sim.peers[first.0].key()) {
            return Err(sim.failure(format!(
                "p{p}: the task is held by {holder:?}, not by p{}",
                first.0
            )));
        }
    }
    // The loser's own peer first showed its claim applied; it heard of the loss by an
    // outcome change, never after the confirmation.
    let log = &sim.peers[second.0].log;
    let changed = log.iter().position(|e| {
        matches!(e, Event::OutcomeChanged { hash, after, .. }
            if *hash == second.1 && *after == Outcome::Rejected(Code::TaskAlreadyClaimed))
    });
    let confirmed = log
        .iter()
        .position(|e| matches!(e, Event::Confirmed { hash, .. } if *hash == second.1));
    match (changed, confirmed) {
        (Some(c), Some(f)) if c < f => {}
        _ => {
            return Err(sim.failure(format!(
                "p{}: the losing claim changed at event {changed:?} and was confirmed at {confirmed:?}",
                second.0
            )));
        }
    }
    Ok(first.0)
}

#[test]
fn two_concurrent_claims_resolve_to_one_winner_on_every_peer() {
    let mut wins = [0u32; 3];
    let seeds = if sim::slow_crypto() { 200 } else { 256 };
    for seed in 0..seeds {
        let run = || -> Result<usize, String> {
            let (mut sim, task) = pact_with_one_task(seed)?;
            let b = claim(&mut sim, B, &task)?;
            let c = claim(&mut sim, C, &task)?;
            // The claims, and whatever else is in flight, arrive in a seeded order, in small
            // batches, with anchors by the creator in between.
            while sim.in_flight() > 0 {
                sim.advance();
                if sim.rng.random_ratio(1, 4) {
                    sim.exec_ok(CREATOR, vec![Act::Append(forge::null())])?;
                }
                let peers = sim.pending_peers();
                let p = peers[sim.rng.random_range(0..peers.len())];
                let k = sim.rng.random_range(1..=3);
                sim.deliver_some(p, k)?;
            }
            sim.finish()?;
            sim.check_final()?;
            check_one_winner(&sim, &task, [(B, b), (C, c)])
        };
        match run() {
            Ok(winner) => wins[winner] += 1,
            Err(e) => panic!("{e}"),
        }
    }
    // Either claim can win: which one depends on the delivery order, not on the claimer.
    assert!(
        wins[B] > 0 && wins[C] > 0,
        "one claimer always won: {wins:?}"
    );
}

#[test]
fn claim_confirmed_before_the_other_arrives_wins_on_every_peer() {
    let seeds = if sim::slow_crypto() { 16 } else { 64 };
    for seed in 0..seeds {
        let run = || -> Result<(), String> {
            let (mut sim, task) = pact_with_one_task(seed)?;
            let b = claim(&mut sim, B, &task)?;
            let c = claim(&mut sim, C, &task)?;
            // The creator hears of C's claim first and confirms it; B's claim arrives later.
            let c_bytes = sim.bytes[&c].to_vec();
            sim.exec_ok(CREATOR, vec![Act::Raw(c_bytes), Act::Append(forge::null())])?;
            sim.flush()?;
            sim.finish()?;
            sim.check_final()?;
            let winner = check_one_winner(&sim, &task, [(B, b), (C, c)])?;
            if winner != C {
                return Err(sim.failure("the claim the creator confirmed first lost".into()));
            }
            Ok(())
        };
        if let Err(e) = run() {
            panic!("{e}");
        }
    }
}
