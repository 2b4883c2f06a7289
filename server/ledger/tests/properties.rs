//! The properties of spec/ledger.md, section 8, over the deterministic simulator (`sim`).
//!
//! Every case is one schedule: a `u64` seed and a few sizes. A failing case prints its seed,
//! its parameters, the last actions and a command that replays it exactly
//! (`replay_one_schedule`, driven by `OPENPACT_SIM_*` variables); `OPENPACT_SIM_CASES` runs more
//! cases for a soak. Every run checks, after each batch, that confirmed positions never move and
//! agree across peers (2), that confirmed outcomes never change (3) and that valid entries are
//! never rejected; after anti-entropy it checks convergence (1), causality (4), claims (5),
//! rollback equivalence against a one-batch replay (6), that nothing acknowledged was lost (7),
//! membership (8), forks (12) and reopening (14). The tests below differ in what their
//! schedules stress, and each is named for the property it is about:
//!
//! | test | properties | cases |
//! |---|---|---|
//! | `every_replica_converges_whatever_the_delivery_order` | 1 (all actions) | 1000 |
//! | `confirmed_entries_never_move_and_their_outcomes_are_final` | 2, 3 | 256 |
//! | `rolled_back_tails_equal_a_fresh_replay` | 4, 6, 14 | 256 |
//! | `crashed_peers_recover_a_committed_state_and_lose_nothing_acknowledged` | 7 | 256 |
//! | `removed_and_never_added_writers_have_no_effect` | 8 | 256 |
//! | `forgeries_are_rejected_and_equivocators_frozen` | 12, 13 | 256 |
//!
//! Where signature checks are slow (dependencies built without optimisation) the schedules
//! are smaller and the secondary properties run 32 cases; see `sim::slow_crypto`.

mod sim;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use sim::{Mix, Params, Sim};

/// `cases`, or `OPENPACT_SIM_CASES` when set (for longer soak runs).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("OPENPACT_SIM_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // The seed in the failure message replays a case; no regression files in the tree.
        failure_persistence: None,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    }
}

fn simulate(params: Params) -> Result<Sim, TestCaseError> {
    Sim::new(params).run().map_err(TestCaseError::fail)
}

/// Permutation invariance: general schedules, every kind of action.
const CONVERGE: Mix = Mix::GENERAL;

/// Confirmed entries and outcomes: many anchors, claim races, and a short claim TTL so that
/// claims expire and outcomes are re-judged at confirmation with the anchor's time.
const FINALITY: Mix = Mix {
    name: "finality",
    anchor: 20,
    claim_race: 12,
    restart: 3,
    claim_ttl_ms: 1_000,
    max_tick_ms: 700,
    ..Mix::QUIET
};

/// Rollback equivalence: few anchors (long tails, many rollbacks) and frequent oracle checks.
const ROLLBACK: Mix = Mix {
    name: "rollback",
    anchor: 4,
    oracle: 8,
    twin: 3,
    ..Mix::QUIET
};

/// Crash consistency: crashes and restarts everywhere.
const CRASH: Mix = Mix {
    name: "crash",
    crash: 14,
    restart: 4,
    lose_messages: true,
    ..Mix::QUIET
};

/// Membership: removals, re-admissions, writers that write anyway.
const MEMBERSHIP: Mix = Mix {
    name: "membership",
    membership: 10,
    write: 34,
    ..Mix::QUIET
};

/// Validation: forgeries, equivocation, duplicates.
const VALIDATION: Mix = Mix {
    name: "validation",
    forge: 10,
    fork: 5,
    idempotence: 6,
    duplicate: 10,
    ..Mix::QUIET
};

/// Seeds and sizes: up to `max_members` members besides the creator, maybe an outsider, and
/// up to `max_steps` actions (smaller where signature checks are slow, see
/// [`sim::slow_crypto`]).
fn schedule(mix: Mix, max_members: usize, max_steps: usize) -> impl Strategy<Value = Params> {
    let (max_members, max_steps) = if sim::slow_crypto() {
        (max_members.min(2), max_steps.min(15))
    } else {
        (max_members, max_steps)
    };
    (any::<u64>(), 1..=max_members, any::<bool>(), 5..=max_steps).prop_map(
        move |(seed, members, outsider, steps)| Params {
            seed,
            members,
            outsider,
            steps,
            mix,
        },
    )
}

proptest! {
    #![proptest_config(config(1000))]

    /// 1: whatever the delivery order, duplicates, delays, losses, restarts and crashes, every
    /// replica ends with the same canonical dump, view digest, order digest and results.
    #[test]
    fn every_replica_converges_whatever_the_delivery_order(params in schedule(CONVERGE, 4, 60)) {
        simulate(params)?;
    }
}

/// Cases of the properties other than convergence (fewer where signature checks are slow).
fn secondary() -> u32 {
    if sim::slow_crypto() { 32 } else { 256 }
}

proptest! {
    #![proptest_config(config(secondary()))]

    /// 2, 3: confirmed_len only grows, each confirmed position keeps its entry, confirmed
    /// orders are prefixes of one another across peers, and no confirmed outcome changes, even
    /// when claims expire and are re-judged with their anchor's time.
    #[test]
    fn confirmed_entries_never_move_and_their_outcomes_are_final(params in schedule(FINALITY, 4, 60)) {
        simulate(params)?;
    }

    /// 4, 6, 14: long tails rolled back and re-applied over and over equal a fresh replay of
    /// the same entries in one batch; a twin given the same batch ends byte-identical.
    #[test]
    fn rolled_back_tails_equal_a_fresh_replay(params in schedule(ROLLBACK, 4, 60)) {
        simulate(params)?;
    }

    /// 7: a peer crashed at any I/O call recovers exactly the last committed state (or the
    /// failed batch's, if it landed), loses nothing it acknowledged, and converges.
    #[test]
    fn crashed_peers_recover_a_committed_state_and_lose_nothing_acknowledged(params in schedule(CRASH, 3, 50)) {
        simulate(params)?;
    }

    /// 8: entries of removed writers ordered after their removal, and of keys never added, are
    /// dropped and leave no trace, on every replica; the last indexer cannot be removed.
    #[test]
    fn removed_and_never_added_writers_have_no_effect(params in schedule(MEMBERSHIP, 4, 60)) {
        simulate(params)?;
    }

    /// 12, 13: forged entries are rejected with their reason and change nothing, re-ingested
    /// entries are duplicates, gaps park and release, and a reported equivocator is frozen at
    /// the same position everywhere.
    #[test]
    fn forgeries_are_rejected_and_equivocators_frozen(params in schedule(VALIDATION, 4, 60)) {
        simulate(params)?;
    }
}

/// Settled details 2: the ledger time of a confirmed entry is its committing anchor's time,
/// whatever provisional time each peer applied it with while it was in the tail. The time is in
/// the replicated order rows, so peers that disagree on it disagree on the view digest.
#[test]
fn confirmed_entry_has_its_anchors_ledger_time_on_every_peer() {
    use openpact_ledger::Outcome;
    use sim::{Act, CREATOR, forge};
    let run = || -> Result<(), String> {
        let mut sim = Sim::new(Params {
            seed: 3,
            members: 1,
            outsider: false,
            steps: 0,
            mix: Mix::QUIET,
        });
        sim.flush()?;
        sim.now += 1_000;
        // B writes while its latest known ledger time is the admission's.
        let k = sim
            .exec_ok(1, vec![Act::Append(forge::knowledge("ops", "k"))])?
            .appended[0]
            .hash;
        sim.now += 1_000;
        // The creator anchors before hearing of it, then hears of it (a newer provisional time).
        sim.exec_ok(CREATOR, vec![Act::Append(forge::null())])?;
        sim.deliver_some(CREATOR, usize::MAX)?;
        sim.now += 1_000;
        let anchor = sim.now;
        let done = sim.exec_ok(CREATOR, vec![Act::Append(forge::null())])?;
        if done.appended[0].outcome != Outcome::Applied {
            return Err(sim.failure("anchor not applied".into()));
        }
        sim.flush()?;
        for (p, peer) in sim.peers.iter().enumerate() {
            let view = peer
                .ledger()
                .reader()
                .expect("reader")
                .entry_by_hash(&k)
                .expect("read");
            let view = view.ok_or_else(|| sim.failure(format!("p{p} has no {k:?}")))?;
            if !view.confirmed || view.ledger_time != anchor {
                return Err(sim.failure(format!(
                    "p{p}: the entry is confirmed {} with ledger time {}, its anchor's is {anchor} (provisional times: +{} ms)",
                    view.confirmed,
                    view.ledger_time,
                    anchor.saturating_sub(view.ledger_time)
                )));
            }
        }
        sim.finish()?;
        sim.check_final()
    };
    if let Err(e) = run() {
        panic!("{e}");
    }
}

/// Replays one schedule from `OPENPACT_SIM_SEED` (and `_MEMBERS`, `_OUTSIDER`, `_STEPS`,
/// `_MIX`), printing what it exercised. Does nothing without a seed.
#[test]
fn replay_one_schedule() {
    let Ok(seed) = std::env::var("OPENPACT_SIM_SEED") else {
        return;
    };
    let var =
        |k: &str, d: &str| std::env::var(format!("OPENPACT_SIM_{k}")).unwrap_or_else(|_| d.into());
    let seed = match seed.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).expect("hex seed"),
        None => seed.parse().expect("seed"),
    };
    let mix = match var("MIX", "general").as_str() {
        "general" => CONVERGE,
        "quiet" => Mix::QUIET,
        "finality" => FINALITY,
        "rollback" => ROLLBACK,
        "crash" => CRASH,
        "membership" => MEMBERSHIP,
        "validation" => VALIDATION,
        other => panic!("unknown mix {other}"),
    };
    let params = Params {
        seed,
        members: var("MEMBERS", "3").parse().expect("members"),
        outsider: var("OUTSIDER", "true").parse().expect("outsider"),
        steps: var("STEPS", "60").parse().expect("steps"),
        mix,
    };
    let t = std::time::Instant::now();
    let mut sim = Sim::new(params);
    let phases = [
        (
            "steps",
            Sim::run_steps as fn(&mut Sim) -> Result<(), String>,
        ),
        ("anti-entropy", Sim::finish),
        ("final checks", Sim::check_final),
    ];
    for (name, phase) in phases {
        let started = std::time::Instant::now();
        if let Err(e) = phase(&mut sim) {
            panic!("{e}");
        }
        println!("{name}: {:?}", started.elapsed());
    }
    println!("{}", sim.trace.join("\n"));
    println!("passed in {:?}: {:?}", t.elapsed(), sim.stats);
}

/// The schedules do reach what the properties are about (a guard against a simulator that
/// quietly stops exercising the engine).
#[test]
fn schedules_exercise_rollbacks_parking_crashes_forks_and_lost_claims() {
    let mut total = sim::Stats::default();
    let mixes = [CONVERGE, FINALITY, ROLLBACK, CRASH, MEMBERSHIP, VALIDATION];
    for seed in 0..24u64 {
        let mix = mixes[seed as usize % mixes.len()];
        let params = Params {
            seed,
            members: 3,
            outsider: true,
            steps: 60,
            mix,
        };
        let s = Sim::new(params)
            .run()
            .unwrap_or_else(|e| panic!("{e}"))
            .stats;
        total.rollbacks += s.rollbacks;
        total.outcome_changes += s.outcome_changes;
        total.parked += s.parked;
        total.crashes_lost += s.crashes_lost;
        total.crashes_after_commit += s.crashes_after_commit;
        total.journal_replays += s.journal_replays;
        total.forks += s.forks;
        total.forgeries += s.forgeries;
        total.dropped += s.dropped;
        total.lost_claims += s.lost_claims;
        total.comparisons += s.comparisons;
    }
    println!("{total:?}");
    assert!(total.rollbacks > 0, "no rollbacks: {total:?}");
    assert!(total.outcome_changes > 0, "no outcome changes: {total:?}");
    assert!(total.parked > 0, "nothing parked: {total:?}");
    assert!(
        total.crashes_lost + total.crashes_after_commit > 0,
        "no crashes: {total:?}"
    );
    assert!(
        total.journal_replays > 0,
        "no crash left entries in a journal to replay: {total:?}"
    );
    assert!(
        total.forks > 0 && total.forgeries > 0,
        "no forks or forgeries: {total:?}"
    );
    assert!(total.dropped > 0, "nothing dropped: {total:?}");
    assert!(total.lost_claims > 0, "no claim lost a race: {total:?}");
    assert!(total.comparisons > 0, "no oracle comparisons: {total:?}");
}
