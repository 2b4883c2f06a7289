//! The writer thread: group commit, durability, refusals, anchoring and shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use openpact_ledger::{
    Code, Error, Event, Ledger, ManualClock, Outcome, PactParams, Signer, SystemClock, Writer,
    WriterConfig, wire,
};

fn knowledge(i: usize) -> wire::Body {
    wire::Body {
        ops: vec![wire::Op {
            op: Some(wire::op::Op::Knowledge(wire::Knowledge {
                topic: "bench".into(),
                content: format!("fact number {i}"),
                ..Default::default()
            })),
        }],
        display_name: None,
    }
}

fn add_member(key: &Signer) -> wire::Body {
    wire::Body {
        ops: vec![wire::Op {
            op: Some(wire::op::Op::AddMember(wire::AddMember {
                key: key.public().0.to_vec(),
                from_seq: 0,
            })),
        }],
        display_name: None,
    }
}

fn file_db(dir: &tempfile::TempDir, name: &str) -> redb::Database {
    redb::Database::create(dir.path().join(name)).expect("create db")
}

/// A new pact in `dir/a.redb`, created by `creator`.
fn new_pact(dir: &tempfile::TempDir, creator: &Signer) -> Ledger {
    Ledger::create(
        file_db(dir, "a.redb"),
        creator,
        PactParams::named("p"),
        1,
        [0; 32],
    )
    .expect("create")
}

fn stored(ledger: &Writer, hash: &openpact_ledger::EntryHash) -> Vec<u8> {
    ledger
        .reader()
        .expect("reader")
        .raw_entry(hash)
        .expect("read")
        .expect("stored")
}

#[test]
fn concurrent_appends_share_commits_and_each_gets_its_own_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creator = Signer::from_seed([1; 32]);
    let ledger = new_pact(&dir, &creator);
    let commits = Arc::new(AtomicUsize::new(0));
    let c = commits.clone();
    let writer = Writer::spawn(
        ledger,
        creator,
        Arc::new(SystemClock),
        WriterConfig::default(),
        Box::new(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .expect("spawn");
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let w = writer.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| w.append(knowledge(t * 100 + i)).expect("append"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in threads {
        for r in t.join().expect("thread") {
            assert_eq!(r.outcome, Outcome::Applied);
            assert!(
                r.confirmed,
                "the creator's own writes are confirmed at once"
            );
            assert!(ids.insert(r.api_id.clone()), "duplicate id {}", r.api_id);
        }
    }
    assert_eq!(ids.len(), 800);
    let commits = commits.load(Ordering::SeqCst);
    assert!(
        commits < 800,
        "800 appends from 16 threads took {commits} commits"
    );
    writer.shutdown();
}

#[test]
fn acknowledged_appends_survive_shutdown_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creator = Signer::from_seed([1; 32]);
    let ledger = new_pact(&dir, &creator);
    let writer = Writer::spawn(
        ledger,
        creator,
        Arc::new(ManualClock::new(5)),
        WriterConfig::default(),
        Box::new(|_| {}),
    )
    .expect("spawn");
    let pending: Vec<_> = (0..100)
        .map(|i| writer.append_async(knowledge(i)))
        .collect();
    writer.shutdown();
    let mut hashes = Vec::new();
    for p in pending {
        hashes.push(p.recv().expect("answered").expect("appended").hash);
    }
    assert!(matches!(
        writer.append(knowledge(0)),
        Err(Error::WriterStopped)
    ));
    drop(writer);
    let reopened = Ledger::open(redb::Database::open(dir.path().join("a.redb")).expect("open"))
        .expect("reopen");
    let reader = reopened.reader().expect("reader");
    for h in hashes {
        let (_, outcome, confirmed) = reader.outcome(&h).expect("read").expect("present");
        assert_eq!((outcome, confirmed), (Outcome::Applied, true));
    }
}

#[test]
fn a_non_member_append_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creator = Signer::from_seed([1; 32]);
    let a = new_pact(&dir, &creator);
    let pact = a.pact_id();
    let genesis = a
        .reader()
        .expect("reader")
        .raw_entry(&openpact_ledger::EntryHash(pact.0))
        .expect("read")
        .expect("genesis");
    let mut b = Ledger::join(file_db(&dir, "b.redb"), pact).expect("join");
    b.batch(|batch| batch.ingest(&genesis))
        .expect("ingest genesis");
    let digest = b.view_digest();
    let stranger = Signer::from_seed([9; 32]);
    let w = Writer::spawn(
        b,
        stranger,
        Arc::new(SystemClock),
        WriterConfig::default(),
        Box::new(|_| {}),
    )
    .expect("spawn");
    match w.append(knowledge(1)) {
        Err(Error::Refused { code, .. }) => assert_eq!(code, Code::NotAMember),
        other => panic!("expected NOT_A_MEMBER, got {other:?}"),
    }
    assert_eq!(
        w.reader()
            .expect("reader")
            .status()
            .expect("status")
            .view_digest,
        digest
    );
    w.shutdown();
}

#[test]
fn the_indexer_anchors_member_entries_after_the_debounce() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creator = Signer::from_seed([1; 32]);
    let member = Signer::from_seed([2; 32]);
    let a = new_pact(&dir, &creator);
    let pact = a.pact_id();
    let (tx, rx) = mpsc::channel::<Event>();
    let wa = Writer::spawn(
        a,
        creator,
        Arc::new(SystemClock),
        WriterConfig {
            anchor_debounce: Some(Duration::from_millis(20)),
            ..Default::default()
        },
        Box::new(move |events| {
            for e in events {
                let _ = tx.send(e.clone());
            }
        }),
    )
    .expect("spawn a");
    let admitted = wa.append(add_member(&member)).expect("admit");
    // The member's daemon receives the creator's log, then writes.
    let mut b = Ledger::join(file_db(&dir, "b.redb"), pact).expect("join");
    let log: Vec<Vec<u8>> = [openpact_ledger::EntryHash(pact.0), admitted.hash]
        .iter()
        .map(|h| stored(&wa, h))
        .collect();
    b.batch(|batch| {
        for e in &log {
            batch.ingest(e)?;
        }
        Ok(())
    })
    .expect("sync");
    let wb = Writer::spawn(
        b,
        member,
        Arc::new(SystemClock),
        WriterConfig::default(),
        Box::new(|_| {}),
    )
    .expect("spawn b");
    let written = wb.append(knowledge(7)).expect("member append");
    assert!(!written.confirmed, "a member's write waits for the indexer");
    wa.ingest(vec![stored(&wb, &written.hash)])
        .expect("deliver");
    let confirmed = loop {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Event::Confirmed { hash, outcome, .. }) if hash == written.hash => break outcome,
            Ok(_) => continue,
            Err(e) => panic!("no confirmation: {e}"),
        }
    };
    assert_eq!(confirmed, Outcome::Applied);
    assert_eq!(
        wa.reader()
            .expect("reader")
            .status()
            .expect("status")
            .tail_len,
        0
    );
    wa.shutdown();
    wb.shutdown();
}
