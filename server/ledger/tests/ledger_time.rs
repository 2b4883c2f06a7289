//! Claim expiry is judged by ledger time: the committing anchor's timestamp, never the clock of
//! the member that wrote the claim (spec/ledger.md, Settled details 2).

use openpact_ledger::{
    Code, EntryHash, Event, Ledger, Outcome, PactParams, Signer, ViewReader, wire,
};
use redb::backends::InMemoryBackend;

fn db() -> redb::Database {
    redb::Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .expect("in-memory db")
}

fn body(op: wire::op::Op) -> wire::Body {
    wire::Body {
        ops: vec![wire::Op { op: Some(op) }],
        display_name: None,
    }
}

fn stored(reader: &ViewReader, h: &EntryHash) -> Vec<u8> {
    reader.raw_entry(h).expect("read").expect("stored")
}

/// Appends one entry as `who` at time `now` and returns its hash.
fn append(l: &mut Ledger, who: &Signer, b: wire::Body, now: u64) -> EntryHash {
    l.batch(|batch| batch.append(who, b, now))
        .expect("append")
        .0
}

/// Creates a task as `who` at time `now`; returns its entry hash and API id.
fn create_task(l: &mut Ledger, who: &Signer, now: u64) -> (EntryHash, String) {
    let create = wire::op::Op::TaskCreate(wire::TaskCreate {
        title: "ship".into(),
        ..Default::default()
    });
    let hash = append(l, who, body(create), now);
    let entry = l
        .reader()
        .expect("reader")
        .entry_by_hash(&hash)
        .expect("read");
    (hash, entry.expect("the task is ordered").api_id)
}

/// Copies entries from one ledger to another; returns the receiver's events.
fn deliver(from: &Ledger, to: &mut Ledger, hashes: &[EntryHash]) -> Vec<Event> {
    let r = from.reader().expect("reader");
    let bytes: Vec<_> = hashes.iter().map(|h| stored(&r, h)).collect();
    to.batch(|b| {
        for e in &bytes {
            b.ingest(e)?;
        }
        Ok(())
    })
    .expect("ingest")
    .1
    .events
}

#[test]
fn a_claim_is_rejudged_with_its_anchors_time_at_confirmation() {
    let creator = Signer::from_seed([1; 32]);
    let member = Signer::from_seed([2; 32]);
    let params = PactParams {
        claim_ttl_ms: 60_000,
        ..PactParams::named("ttl")
    };
    let mut a = Ledger::create(db(), &creator, params, 1_000, [3; 32]).expect("create");
    let pact = a.pact_id();
    let admit = append(
        &mut a,
        &creator,
        body(wire::op::Op::AddMember(wire::AddMember {
            key: member.public().0.to_vec(),
            from_seq: 0,
        })),
        1_100,
    );
    let (task, task_id) = create_task(&mut a, &creator, 1_200);
    let first_claim = append(
        &mut a,
        &creator,
        body(wire::op::Op::TaskClaim(wire::TaskClaim {
            task_id: task_id.clone(),
        })),
        1_500,
    );

    let mut m = Ledger::join(db(), pact).expect("join");
    deliver(&a, &mut m, &[EntryHash(pact.0), admit, task, first_claim]);
    // The member's clock says the TTL is long gone, but the latest ledger time it knows is the
    // creator's 1_500: provisionally the claim loses.
    let late_claim = append(
        &mut m,
        &member,
        body(wire::op::Op::TaskClaim(wire::TaskClaim {
            task_id: task_id.clone(),
        })),
        500_000,
    );
    let r = m.reader().expect("reader");
    let (_, outcome, confirmed) = r.outcome(&late_claim).expect("read").expect("ordered");
    assert_eq!(
        (outcome, confirmed),
        (Outcome::Rejected(Code::TaskAlreadyClaimed), false)
    );

    // The creator anchors it at 70_000: past 1_500 + 60_000, so the claim takes over.
    deliver(&m, &mut a, &[late_claim]);
    let anchor = append(&mut a, &creator, wire::Body::default(), 70_000);
    let r = a.reader().expect("reader");
    let (_, outcome, confirmed) = r.outcome(&late_claim).expect("read").expect("ordered");
    assert_eq!((outcome, confirmed), (Outcome::Applied, true));

    let events = deliver(&a, &mut m, &[anchor]);
    assert!(
        events.iter().any(
            |e| matches!(e, Event::OutcomeChanged { hash, before, after, .. }
            if *hash == late_claim
                && *before == Outcome::Rejected(Code::TaskAlreadyClaimed)
                && *after == Outcome::Applied)
        ),
        "the member hears that its claim's outcome changed: {events:?}"
    );
    for l in [&a, &m] {
        let t = l
            .reader()
            .expect("reader")
            .task(&task_id, 70_000)
            .expect("read")
            .expect("task");
        assert_eq!(t.claimed_by.map(|c| c.key), Some(member.public()));
    }
    assert_eq!(a.view_digest(), m.view_digest());
    assert_eq!(a.order_digest(), m.order_digest());
}

#[test]
fn an_anchor_older_than_the_last_never_moves_ledger_time_back() {
    let creator = Signer::from_seed([1; 32]);
    let params = PactParams {
        claim_ttl_ms: 60_000,
        ..PactParams::named("ttl")
    };
    let mut a = Ledger::create(db(), &creator, params, 100_000, [4; 32]).expect("create");
    let (_, task_id) = create_task(&mut a, &creator, 100_000);
    let claim = body(wire::op::Op::TaskClaim(wire::TaskClaim { task_id }));
    append(&mut a, &creator, claim.clone(), 100_000);
    // The creator's clock jumps back: its ledger time stays at 100_000, and a second claim a
    // "minute" later by that clock is still within the TTL.
    let again = append(&mut a, &creator, claim, 30_000);
    let (_, outcome, _) = a
        .reader()
        .expect("reader")
        .outcome(&again)
        .expect("read")
        .expect("ordered");
    assert_eq!(outcome, Outcome::Rejected(Code::TaskAlreadyClaimed));
    assert_eq!(
        a.reader()
            .expect("reader")
            .status()
            .expect("status")
            .ledger_time,
        100_000
    );
}
