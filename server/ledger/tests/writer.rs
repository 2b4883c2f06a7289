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

/// The simulator's disk that loses power: the redb file and the journal of one peer.
#[allow(dead_code)]
#[path = "sim/crash.rs"]
mod crash;

/// A pact on a simulated disk, with a journal of `limit` bytes (and, with `behind`, the
/// ledger's file written behind by a thread, as in the daemon), and its writer (with `config`,
/// or one that never checkpoints on its own when idle). The sink records every entry an
/// `Applied` event announced.
fn writer_on_disk(
    limit: u64,
    behind: bool,
    creator: &Signer,
    config: Option<WriterConfig>,
) -> (
    crash::Disk,
    Writer,
    Arc<std::sync::Mutex<std::collections::HashSet<openpact_ledger::EntryHash>>>,
) {
    let disk = match behind {
        true => crash::Disk::new(Some(limit)).behind_threaded(),
        false => crash::Disk::new(Some(limit)),
    };
    let mut ledger = Ledger::create(disk.database(), creator, PactParams::named("p"), 1, [0; 32])
        .expect("create");
    disk.attach(&mut ledger).expect("attach the journal");
    let announced = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen = announced.clone();
    let writer = Writer::spawn(
        ledger,
        creator.clone(),
        Arc::new(SystemClock),
        // The crashes in these tests must find records in the journal.
        config.unwrap_or(WriterConfig {
            idle_checkpoint: None,
            ..WriterConfig::default()
        }),
        Box::new(move |events: &[Event]| {
            let mut seen = seen.lock().expect("lock");
            for e in events {
                if let Event::Applied { hash, .. } = e {
                    seen.insert(*hash);
                }
            }
        }),
    )
    .expect("spawn");
    (disk, writer, announced)
}

/// 8 threads append until one fails or each made `per_thread`; returns what was acknowledged.
/// Once a thread's append fails, every later one must fail too (the ledger stops writing).
fn append_until_failure(
    writer: &Writer,
    per_thread: usize,
    announced: &Arc<std::sync::Mutex<std::collections::HashSet<openpact_ledger::EntryHash>>>,
) -> Vec<openpact_ledger::EntryHash> {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let w = writer.clone();
            let announced = announced.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut failed = false;
                for i in 0..per_thread {
                    match w.append(knowledge(t * 10_000 + i)) {
                        Ok(a) => {
                            assert!(!failed, "an append succeeded after one failed");
                            // Announced before answered, and readable once answered.
                            assert!(announced.lock().expect("lock").contains(&a.hash));
                            assert!(
                                w.reader()
                                    .expect("reader")
                                    .raw_entry(&a.hash)
                                    .expect("read")
                                    .is_some(),
                                "an acknowledged entry is readable"
                            );
                            acked.push(a.hash);
                        }
                        Err(_) => failed = true,
                    }
                }
                acked
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect()
}

#[test]
fn acknowledged_appends_survive_power_loss_with_the_journal() {
    use rand::SeedableRng as _;
    let creator = Signer::from_seed([1; 32]);
    // 0: a checkpoint at every batch; 4 KiB: every few; 1 MiB: none in this run.
    let cases = [(1u64, 0u64), (2, 4 << 10), (3, 1 << 20), (4, 1 << 20)];
    for ((seed, limit), behind) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        let (disk, writer, announced) = writer_on_disk(limit, behind, &creator, None);
        let acked = append_until_failure(&writer, 40, &announced);
        assert_eq!(acked.len(), 8 * 40);
        // The power goes: nothing more reaches the disk, not even the checkpoint at close.
        disk.crash_now();
        writer.shutdown();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let image = if seed % 2 == 0 {
            disk.after_power_loss(&mut rng)
        } else {
            disk.after_kill()
        };
        all_there(image, &acked, &format!("limit {limit}, behind {behind}"));
    }
}

/// The ledger reopened from `image` (replaying its journal) holds every entry of `acked`.
fn all_there(image: crash::Image, acked: &[openpact_ledger::EntryHash], case: &str) {
    let reopened = crash::Disk::from_image(image).open().expect("reopen");
    let reader = reopened.reader().expect("reader");
    for h in acked {
        assert!(
            reader.raw_entry(h).expect("read").is_some(),
            "{case}: acknowledged entry {h} lost"
        );
    }
}

#[test]
fn a_failed_flush_fails_its_callers_and_every_later_write_keeping_what_was_acknowledged() {
    use rand::SeedableRng as _;
    let creator = Signer::from_seed([1; 32]);
    // With 1 MiB the crash hits a journal flush (no checkpoint in this run); with 8 KiB it may
    // hit a checkpoint too.
    let cases = [
        (5u64, 3u64, 1u64 << 20),
        (6, 20, 1 << 20),
        (7, 45, 1 << 20),
        (8, 4, 1 << 20),
        (9, 20, 8 << 10),
        (10, 45, 8 << 10),
        (11, 90, 8 << 10),
    ];
    for ((seed, budget, limit), behind) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        let (disk, writer, announced) = writer_on_disk(limit, behind, &creator, None);
        // The machine goes down after `budget` more writes, resizes or flushes.
        disk.fail_after(budget);
        let acked = append_until_failure(&writer, 60, &announced);
        assert!(disk.crashed(), "budget {budget}: the crash happened");
        assert!(acked.len() < 8 * 60, "budget {budget}: appends failed");
        // (The ledger's own refusal, or redb's after a failed write inside a batch.)
        match writer.append(knowledge(0)) {
            Err(Error::Storage(_)) => {}
            other => panic!("after a failure the writer takes no more writes: {other:?}"),
        }
        writer.shutdown();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let image = disk.after_power_loss(&mut rng);
        all_there(image, &acked, &format!("budget {budget}, behind {behind}"));
    }
}

#[test]
fn an_idle_writer_checkpoints_its_journal() {
    let creator = Signer::from_seed([1; 32]);
    for behind in [false, true] {
        let config = WriterConfig {
            idle_checkpoint: Some(Duration::from_millis(20)),
            anchor_debounce: None,
            ..WriterConfig::default()
        };
        let (disk, writer, _) = writer_on_disk(1 << 20, behind, &creator, Some(config));
        let acked: Vec<_> = (0..50)
            .map(|i| writer.append(knowledge(i)).expect("append").hash)
            .collect();
        let syncs = disk.syncs();
        std::thread::sleep(Duration::from_millis(300));
        assert!(disk.syncs() > syncs, "the idle writer checkpointed");
        // Killed now, the disk already holds everything in redb: nothing is left to replay.
        disk.crash_now();
        writer.shutdown();
        let image = disk.after_kill();
        let replay = crash::Disk::from_image(image.clone());
        replay.open().expect("reopen");
        assert_eq!(
            replay.replayed(),
            0,
            "behind {behind}: the journal was empty"
        );
        all_there(image, &acked, &format!("idle, behind {behind}"));
    }
}

#[test]
fn a_replay_that_fails_leaves_the_journal_to_the_next_open() {
    // Two pacts, each with an entry in its journal only (the machine then lost power).
    let image = |seed: u8| {
        let signer = Signer::from_seed([seed; 32]);
        let disk = crash::Disk::new(Some(1 << 20));
        let mut l = Ledger::create(
            disk.database(),
            &signer,
            PactParams::named("p"),
            1,
            [seed; 32],
        )
        .expect("create");
        disk.attach(&mut l).expect("attach");
        l.batch(|b| b.append(&signer, knowledge(1), 2))
            .expect("append");
        disk.crash_now();
        drop(l);
        disk.after_kill()
    };
    let (a, b) = (image(1), image(2));
    // Pact A's ledger with pact B's journal (same generation): B's entry is foreign to A, so
    // the replay fails and the ledger does not open.
    let mixed = crash::Disk::from_image(a.with_journal_of(&b));
    assert!(
        mixed.open().is_err(),
        "a foreign journal entry fails the open"
    );
    // The failed open did not checkpoint: the records are still there to refuse, not skipped.
    let again = crash::Disk::from_image(mixed.volatile());
    match again.open() {
        Err(e) => assert!(e.to_string().contains("journal"), "{e}"),
        Ok(_) => panic!("a failed replay marked the journal's records as done"),
    }
}
