//! Validation (spec/ledger.md, section 8, property 12): forged entries are rejected with their
//! reason and change nothing; entries by keys that are not members are ordered but dropped;
//! gaps wait in the causal buffer; equivocation is detected and a report freezes the author on
//! every replica at one position.

mod sim;

use openpact_ledger::entry::{Draft, EntryRef, sign};
use openpact_ledger::view::ViewTable;
use openpact_ledger::{
    DropReason, EntryHash, Event, Ingested, Invalid, Ledger, MemberKey, Outcome, PactId,
    PactParams, Signer, wire,
};
use prost::Message as _;

use sim::crash::Disk;
use sim::inspect::{self, Decoded, State};
use sim::{Act, CREATOR, Mix, Params, Sim, forge};

const B: usize = 1;
const C: usize = 2;

/// A pact of the creator and two members, everyone admitted everywhere; B has written two
/// confirmed entries and C one that is still in the creator's and B's tail.
fn pact() -> Sim {
    let mut sim = Sim::new(Params {
        seed: 7,
        members: 2,
        outsider: false,
        steps: 0,
        mix: Mix::QUIET,
    });
    sim.flush().expect("admissions");
    for i in 0..2 {
        sim.exec_ok(
            B,
            vec![Act::Append(forge::knowledge("ops", &format!("b{i}")))],
        )
        .expect("b writes");
        sim.flush().expect("deliver");
    }
    sim.exec_ok(CREATOR, vec![Act::Append(forge::null())])
        .expect("anchor");
    sim.flush().expect("deliver");
    sim.exec_ok(C, vec![Act::Append(forge::knowledge("ops", "c0"))])
        .expect("c writes");
    sim.flush().expect("deliver");
    assert!(
        sim.peers[B].ledger().tail_len() > 0,
        "B has an unconfirmed entry"
    );
    sim
}

/// The entries `author` wrote, lowest seq first, with their bytes.
fn log_of(sim: &Sim, p: usize) -> Vec<(EntryHash, Vec<u8>)> {
    let key = sim.peers[p].key();
    let mut v: Vec<(u64, EntryHash, Vec<u8>)> = sim
        .all
        .iter()
        .map(|h| (h, sim.bytes[h].to_vec()))
        .map(|(h, b)| (Decoded::new(&b), *h, b))
        .filter(|(d, _, _)| d.author() == key)
        .map(|(d, h, b)| (d.header.seq, h, b))
        .collect();
    v.sort();
    v.into_iter().map(|(_, h, b)| (h, b)).collect()
}

/// An entry C just wrote, still in flight to everyone: no other peer has its hash yet.
fn unseen(sim: &mut Sim) -> Vec<u8> {
    let done = sim
        .exec_ok(C, vec![Act::Append(forge::knowledge("ops", "unseen"))])
        .unwrap_or_else(|e| panic!("{e}"));
    sim.bytes[&done.appended[0].hash].to_vec()
}

/// Offers `bytes` to peer `p`: they must be rejected as `reason`, announced once, and leave
/// the digests, the confirmed length, the tail, the causal buffer, the stored entries and
/// every replicated row as they were.
fn assert_rejected(sim: &mut Sim, p: usize, bytes: Vec<u8>, reason: Invalid) {
    let quick = sim.quick(p);
    let state = State::of(sim.peers[p].ledger());
    let stored = inspect::stored_entries(sim.peers[p].ledger()).len();
    let done = sim
        .exec_ok(p, vec![Act::Raw(bytes)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        done.ingested,
        [Ingested::Invalid(reason.clone())],
        "what ingest said"
    );
    assert!(
        matches!(done.events.as_slice(), [Event::InvalidEntry { reason: r, .. }] if *r == reason),
        "events of a rejected entry: {:?}",
        done.events
    );
    assert_eq!(
        sim.quick(p),
        quick,
        "digest, order digest, confirmed_len, tail or parked changed"
    );
    let after = State::of(sim.peers[p].ledger());
    assert_eq!(after, state, "the view changed: {}", state.diff(&after));
    assert_eq!(
        inspect::stored_entries(sim.peers[p].ledger()).len(),
        stored,
        "an entry was stored"
    );
}

#[test]
fn forged_signature_is_rejected_and_changes_nothing() {
    let mut sim = pact();
    let c0 = unseen(&mut sim);
    for bit in [0, 9, 300, 511] {
        assert_rejected(
            &mut sim,
            B,
            forge::tamper_signature(&c0, bit),
            Invalid::Signature,
        );
    }
    // Another member's valid signature (over its own entry) on C's header does not pass.
    let (_, b0) = log_of(&sim, B)[0].clone();
    let mut signed = wire::SignedEntry::decode(c0.as_slice()).expect("entry");
    signed.signature = wire::SignedEntry::decode(b0.as_slice())
        .expect("entry")
        .signature;
    assert_rejected(
        &mut sim,
        CREATOR,
        signed.encode_to_vec(),
        Invalid::Signature,
    );
}

#[test]
fn corrupted_copy_of_a_stored_entry_is_rejected_and_the_stored_copy_stays() {
    // Only exact duplicates skip verification: bytes that share a stored entry's header (and
    // hash) but differ are verified like any other.
    let mut sim = pact();
    let (c0_hash, c0) = log_of(&sim, C)[0].clone();
    let mut body = wire::SignedEntry::decode(c0.as_slice()).expect("entry");
    body.body = forge::knowledge("ops", "c1").encode_to_vec();
    let copies = [
        (forge::tamper_signature(&c0, 5), Invalid::Signature),
        (
            forge::non_canonical(&c0),
            Invalid::Malformed("signed entry not canonical"),
        ),
        (body.encode_to_vec(), Invalid::BodyHash),
    ];
    for (copy, reason) in copies {
        assert_rejected(&mut sim, B, copy, reason);
        let stored = inspect::entry_bytes(sim.peers[B].ledger(), &c0_hash);
        assert_eq!(
            stored.as_deref(),
            Some(c0.as_slice()),
            "the stored copy is the good one"
        );
    }
    // The exact bytes again are a duplicate.
    let done = sim
        .exec_ok(B, vec![Act::Raw(c0)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.ingested, [Ingested::Duplicate(c0_hash)]);
    assert!(done.events.is_empty(), "events: {:?}", done.events);
}

#[test]
fn tampered_body_is_rejected() {
    let mut sim = pact();
    let c0 = unseen(&mut sim);
    let mut signed = wire::SignedEntry::decode(c0.as_slice()).expect("entry");
    signed.body = forge::knowledge("ops", "c1").encode_to_vec();
    assert_rejected(&mut sim, B, signed.encode_to_vec(), Invalid::BodyHash);
}

#[test]
fn entry_whose_prev_is_not_its_authors_previous_entry_breaks_the_chain() {
    let mut sim = pact();
    let b_log = log_of(&sim, B);
    let (_, c0) = log_of(&sim, C)[0].clone();
    let signer = sim.peers[B].signer.clone();
    // B's second entry, pointing at C's entry instead of B's first.
    let (_, other_author) = forge::resign(&signer, &b_log[1].1, |d| {
        d.prev = Some(Decoded::new(&c0).hash)
    });
    assert_rejected(&mut sim, C, other_author, Invalid::BrokenChain);
    // B's second entry, pointing at B's entry at the same seq (itself).
    let (_, same_seq) = forge::resign(&signer, &b_log[1].1, |d| d.prev = Some(b_log[1].0));
    assert_rejected(&mut sim, C, same_seq, Invalid::BrokenChain);
    // A first entry that names a prev.
    let genesis = EntryHash(sim.pact.0);
    let (_, first_with_prev) = forge::resign(&signer, &b_log[0].1, |d| d.prev = Some(genesis));
    assert_rejected(&mut sim, C, first_with_prev, Invalid::BrokenChain);
}

#[test]
fn wrong_lamport_is_rejected() {
    let mut sim = pact();
    let (_, c0) = log_of(&sim, C)[0].clone();
    let signer = sim.peers[C].signer.clone();
    let l = Decoded::new(&c0).header.lamport;
    assert!(l >= 2, "c0 depends on something");
    let (_, high) = forge::resign(&signer, &c0, |d| d.lamport = l + 1);
    assert_rejected(
        &mut sim,
        B,
        high,
        Invalid::Lamport {
            got: l + 1,
            expected: l,
        },
    );
    let (_, low) = forge::resign(&signer, &c0, |d| d.lamport = l - 1);
    assert_rejected(
        &mut sim,
        B,
        low,
        Invalid::Lamport {
            got: l - 1,
            expected: l,
        },
    );
    let (_, zero) = forge::resign(&signer, &c0, |d| d.lamport = 0);
    assert_rejected(
        &mut sim,
        B,
        zero,
        Invalid::Lamport {
            got: 0,
            expected: 1,
        },
    );
}

#[test]
fn entry_of_a_foreign_pact_is_rejected() {
    let mut sim = pact();
    let (_, c0) = log_of(&sim, C)[0].clone();
    let signer = sim.peers[C].signer.clone();
    let (_, foreign) = forge::resign(&signer, &c0, |d| d.pact = PactId([0x42; 32]));
    assert_rejected(&mut sim, B, foreign, Invalid::ForeignPact);
    // A genesis of another pact (a second genesis) is not this pact's.
    let creator = sim.peers[CREATOR].signer.clone();
    let genesis = sim.bytes[&EntryHash(sim.pact.0)].to_vec();
    let (_, other_genesis) = forge::resign(&creator, &genesis, |d| d.time_ms += 1);
    assert_rejected(&mut sim, B, other_genesis, Invalid::Genesis);
}

#[test]
fn more_deps_than_the_cap_are_rejected() {
    let mut sim = pact();
    let (_, c0) = log_of(&sim, C)[0].clone();
    let signer = sim.peers[C].signer.clone();
    let key = signer.public();
    let (_, over) = forge::resign(&signer, &c0, |d| d.deps = forge::fake_deps(65, &key));
    assert_rejected(&mut sim, B, over, Invalid::BadDeps);

    // A pact with a cap of 2: three deps are too many, although the default would allow them.
    let creator = Signer::from_seed([1; 32]);
    let params = PactParams {
        deps_cap: 2,
        ..PactParams::named("small")
    };
    let mut l = Ledger::create(Disk::new(None).database(), &creator, params, 1_000, [3; 32])
        .expect("create");
    let deps: Vec<EntryRef> = (0..3u8)
        .map(|i| EntryRef {
            author: MemberKey([i + 10; 32]),
            seq: 0,
            hash: EntryHash([i; 32]),
        })
        .collect();
    let e = sign(
        &Signer::from_seed([2; 32]),
        Draft {
            pact: l.pact_id(),
            seq: 0,
            prev: None,
            deps,
            lamport: 2,
            epoch: 0,
            time_ms: 1_001,
            body: forge::knowledge("ops", "x"),
        },
    );
    let before = (
        l.view_digest(),
        l.order_digest(),
        l.confirmed_len(),
        l.tail_len(),
    );
    let (r, report) = l.batch(|b| b.ingest(&e.bytes)).expect("batch");
    assert_eq!(r, Ingested::Invalid(Invalid::BadDeps));
    assert!(matches!(
        report.events.as_slice(),
        [Event::InvalidEntry {
            reason: Invalid::BadDeps,
            ..
        }]
    ));
    assert_eq!(
        (
            l.view_digest(),
            l.order_digest(),
            l.confirmed_len(),
            l.tail_len()
        ),
        before
    );
}

#[test]
fn non_canonical_bytes_are_rejected() {
    let mut sim = pact();
    let c0 = unseen(&mut sim);
    assert_rejected(
        &mut sim,
        B,
        forge::non_canonical(&c0),
        Invalid::Malformed("signed entry not canonical"),
    );
    // A header with an unknown field: not what was signed in canonical form.
    let mut signed = wire::SignedEntry::decode(c0.as_slice()).expect("entry");
    signed.header.extend_from_slice(&[0x78, 0x01]);
    assert_rejected(
        &mut sim,
        B,
        signed.encode_to_vec(),
        Invalid::Malformed("header not canonical"),
    );
    // Bytes that are not an entry at all.
    assert_rejected(
        &mut sim,
        B,
        vec![0xff; 40],
        Invalid::Malformed("signed entry"),
    );
}

#[test]
fn entry_by_a_key_never_added_is_ordered_but_dropped_everywhere() {
    let mut sim = pact();
    let stranger = Signer::from_seed([0x99; 32]);
    let (hash, bytes) = forge::next_entry(
        sim.peers[B].ledger(),
        &stranger,
        forge::task_create("mine"),
        sim.now,
        64,
    );
    let rows_besides_order = |sim: &Sim, p: usize| -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
        let l = sim.peers[p].ledger();
        ViewTable::ALL
            .into_iter()
            .filter(|t| !matches!(t, ViewTable::Order | ViewTable::ApiIds))
            .map(|t| inspect::rows(l, t))
            .collect()
    };
    let before = rows_besides_order(&sim, B);
    let confirmed = sim.peers[B].ledger().confirmed_len();
    let tail = sim.peers[B].ledger().tail_len();
    let done = sim
        .exec_ok(B, vec![Act::Raw(bytes)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        done.ingested,
        [Ingested::New(hash)],
        "a well-formed entry by a stranger is stored"
    );
    let applied = done.events.iter().find_map(|e| match e {
        Event::Applied {
            hash: h, outcome, ..
        } if *h == hash => Some(*outcome),
        _ => None,
    });
    assert_eq!(applied, Some(Outcome::Dropped(DropReason::NotMember)));
    assert_eq!(
        rows_besides_order(&sim, B),
        before,
        "the stranger's entry changed the view"
    );
    assert_eq!(sim.peers[B].ledger().confirmed_len(), confirmed);
    assert_eq!(
        sim.peers[B].ledger().tail_len(),
        tail + 1,
        "it waits in the tail like any entry"
    );
    // Once everyone has it and the creator anchors, it is confirmed as dropped on every peer.
    sim.register(B, hash);
    sim.broadcast(B, hash);
    sim.flush().unwrap_or_else(|e| panic!("{e}"));
    sim.finish().unwrap_or_else(|e| panic!("{e}"));
    sim.check_final().unwrap_or_else(|e| panic!("{e}"));
    for (p, peer) in sim.peers.iter().enumerate() {
        let o = peer
            .ledger()
            .reader()
            .expect("reader")
            .outcome(&hash)
            .expect("outcome");
        assert!(
            matches!(o, Some((_, Outcome::Dropped(DropReason::NotMember), true))),
            "p{p}: {o:?}"
        );
        assert!(
            inspect::tasks(peer.ledger()).is_empty(),
            "p{p}: the stranger created a task"
        );
    }
}

#[test]
fn entry_with_a_gap_is_parked_and_released_when_the_gap_fills() {
    let mut sim = pact();
    // B writes three more entries that C does not hear of, then C gets them last first.
    let mut hashes = Vec::new();
    for i in 0..3 {
        let done = sim
            .exec_ok(
                B,
                vec![Act::Append(forge::knowledge("ops", &format!("g{i}")))],
            )
            .expect("b writes");
        hashes.push(done.appended[0].hash);
    }
    let before = sim.quick(C);
    let done = sim
        .deliver(C, vec![hashes[2], hashes[1]])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&done.ingested[0], Ingested::Parked { missing, .. } if *missing == [hashes[1]])
    );
    assert!(
        matches!(&done.ingested[1], Ingested::Parked { missing, .. } if *missing == [hashes[0]])
    );
    let (parked, mut waiting) = sim.peers[C].ledger().parked();
    waiting.sort();
    let mut want = vec![hashes[0], hashes[1]];
    want.sort();
    assert_eq!(
        (parked, waiting),
        (2, want),
        "both wait, each for the one before"
    );
    let after = sim.quick(C);
    assert_eq!(
        (after.0, after.1, after.2, after.3),
        (before.0, before.1, before.2, before.3),
        "parked entries are not ordered"
    );
    // A duplicate of a parked entry is a duplicate.
    let done = sim
        .deliver(C, vec![hashes[2]])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.ingested, [Ingested::Duplicate(hashes[2])]);
    let done = sim
        .deliver(C, vec![hashes[0]])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.ingested, [Ingested::New(hashes[0])]);
    let applied: Vec<EntryHash> = done
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Applied { hash, .. } => Some(*hash),
            _ => None,
        })
        .collect();
    assert_eq!(
        applied, hashes,
        "the released entries are applied, in order"
    );
    assert_eq!(sim.peers[C].ledger().parked().0, 0);
    sim.flush().unwrap_or_else(|e| panic!("{e}"));
    sim.finish().unwrap_or_else(|e| panic!("{e}"));
    sim.check_final().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn equivocation_is_detected_and_a_report_freezes_the_author_everywhere() {
    let mut sim = pact();
    let signer = sim.peers[B].signer.clone();
    let l = sim.peers[B].ledger();
    let (a, a_bytes) = forge::next_entry(l, &signer, forge::knowledge("fork", "a"), sim.now, 64);
    let (b, b_bytes) = forge::next_entry(l, &signer, forge::knowledge("fork", "b"), sim.now, 64);
    assert_eq!(
        Decoded::new(&a_bytes).header.seq,
        Decoded::new(&b_bytes).header.seq
    );
    // C gets both branches: the second is stored too, and announced as a fork.
    let done = sim
        .exec_ok(
            C,
            vec![Act::Raw(a_bytes.clone()), Act::Raw(b_bytes.clone())],
        )
        .expect("c");
    assert_eq!(done.ingested, [Ingested::New(a), Ingested::New(b)]);
    let fork = done.events.iter().find_map(|e| match e {
        Event::ForkDetected {
            author,
            first,
            second,
            ..
        } => Some((*author, *first, *second)),
        _ => None,
    });
    assert_eq!(fork, Some((signer.public(), a, b)));
    let forks = sim.peers[C]
        .ledger()
        .reader()
        .expect("reader")
        .forks()
        .expect("forks");
    assert!(
        forks
            .iter()
            .any(|f| f.author == signer.public() && f.first == a && f.second == b),
        "{forks:?}"
    );
    // C reports; the creator and B get everything, including B's branches.
    for h in [a, b] {
        sim.register(C, h);
        sim.broadcast(C, h);
    }
    let done = sim
        .exec_ok(C, vec![Act::Append(forge::report_fork(&a_bytes, &b_bytes))])
        .expect("report");
    let report = done.appended[0].hash;
    assert_eq!(done.appended[0].outcome, Outcome::Applied);
    sim.flush().unwrap_or_else(|e| panic!("{e}"));
    // B keeps writing on its branch: after the report those entries are dropped as frozen.
    let later = sim
        .write_by_hand(B, forge::knowledge("ops", "after"))
        .unwrap_or_else(|e| panic!("{e}"));
    sim.flush().unwrap_or_else(|e| panic!("{e}"));
    sim.exec_ok(CREATOR, vec![Act::Append(forge::null())])
        .expect("anchor");
    sim.flush().unwrap_or_else(|e| panic!("{e}"));
    let mut frozen_at = None;
    for (p, peer) in sim.peers.iter().enumerate() {
        let l = peer.ledger();
        let reader = l.reader().expect("reader");
        let report_pos = reader.outcome(&report).expect("outcome").map(|o| o.0);
        let frozen = inspect::frozen(l).get(&signer.public()).copied();
        assert_eq!(
            frozen, report_pos,
            "p{p}: frozen from the report's position"
        );
        assert!(
            frozen_at.is_none() || frozen_at == frozen,
            "p{p}: frozen at {frozen:?}, not {frozen_at:?}"
        );
        frozen_at = frozen;
        let o = reader.outcome(&later).expect("outcome");
        assert!(
            matches!(o, Some((_, Outcome::Dropped(DropReason::Frozen), true))),
            "p{p}: B's later entry is {o:?}"
        );
    }
    sim.finish().unwrap_or_else(|e| panic!("{e}"));
    sim.check_final().unwrap_or_else(|e| panic!("{e}"));
}
