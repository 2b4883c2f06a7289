//! What an append answers is enough to show its entry: `EntryView::appended` equals what a read
//! of the committed snapshot shows, confirmed or not, for every app op and with or without a
//! display name (the daemon answers a POST from it without reading the entry back). Likewise,
//! the entry an `Event::Applied` announces, built from the body it carries, equals the read (the
//! daemon's event stream shows entries that way).

use openpact_ledger::view::apply::skill_checksum;
use openpact_ledger::view::read::EntryView;
use openpact_ledger::{AppendResult, CommitReport, Event, Ledger, PactParams, Signer, wire};
use redb::backends::InMemoryBackend;

fn db() -> redb::Database {
    redb::Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .expect("in-memory db")
}

fn body(op: wire::op::Op, display_name: Option<&str>) -> wire::Body {
    wire::Body {
        ops: vec![wire::Op { op: Some(op) }],
        display_name: display_name.map(str::to_string),
    }
}

/// Appends `b` as `who` at `now`; the append's answer.
fn append(l: &mut Ledger, who: &Signer, b: wire::Body, now: u64) -> AppendResult {
    let (_, report) = l.batch(|batch| batch.append(who, b, now)).expect("append");
    events_show_as_read(l, &report, 1);
    report.appended.into_iter().next().expect("one append")
}

/// Checks that each of the `applied` entries `report` announces shows as a read shows it.
fn events_show_as_read(l: &Ledger, report: &CommitReport, applied: usize) {
    let r = l.reader().expect("reader");
    let mut seen = 0;
    for ev in &report.events {
        let Event::Applied { hash, .. } = ev else {
            assert_eq!(r.applied_entry(ev).expect("read"), None);
            continue;
        };
        let read = r.entry_by_hash(hash).expect("read").expect("ordered");
        assert_eq!(r.applied_entry(ev).expect("read"), Some(read));
        seen += 1;
    }
    assert_eq!(seen, applied, "entries applied by the batch");
}

/// Checks that the answer of appending `b` shows the entry as the committed view does.
fn answers_as_read(l: &mut Ledger, who: &Signer, b: wire::Body, now: u64) -> EntryView {
    let done = append(l, who, b.clone(), now);
    let shown = EntryView::appended(&done, who.public(), b);
    let read = l
        .reader()
        .expect("reader")
        .entry_by_hash(&done.hash)
        .expect("read")
        .expect("ordered");
    assert_eq!(shown, read);
    shown
}

fn ops() -> Vec<wire::op::Op> {
    use wire::op::Op;
    vec![
        Op::Knowledge(wire::Knowledge {
            topic: "sales".into(),
            content: "Tuesdays convert".into(),
            source: Some("crm".into()),
            ..Default::default()
        }),
        Op::TaskCreate(wire::TaskCreate {
            title: "ship".into(),
            ..Default::default()
        }),
        Op::Message(wire::Message {
            content: "hello".into(),
            to: Some("*".into()),
            ..Default::default()
        }),
        Op::Skill(wire::Skill {
            name: "deploy".into(),
            version: "1.0.0".into(),
            format: "generic".into(),
            content: "# deploy".into(),
            checksum: skill_checksum("# deploy"),
            ..Default::default()
        }),
    ]
}

#[test]
fn the_creators_appends_answer_their_confirmed_entries() {
    let creator = Signer::from_seed([1; 32]);
    let mut l =
        Ledger::create(db(), &creator, PactParams::named("shown"), 1_000, [3; 32]).expect("create");
    for (i, op) in ops().into_iter().enumerate() {
        let name = (i % 2 == 0).then_some("Ada");
        let shown = answers_as_read(&mut l, &creator, body(op, name), 2_000 + i as u64);
        assert!(shown.confirmed, "the creator's entries confirm themselves");
    }
    // An empty display name shows as none, as a read shows it.
    let op = ops().remove(0);
    let shown = answers_as_read(&mut l, &creator, body(op, Some("")), 3_000);
    assert_eq!(shown.display_name, None);
}

#[test]
fn a_members_appends_answer_their_unconfirmed_entries() {
    let creator = Signer::from_seed([1; 32]);
    let member = Signer::from_seed([2; 32]);
    let mut a =
        Ledger::create(db(), &creator, PactParams::named("shown"), 1_000, [3; 32]).expect("create");
    append(
        &mut a,
        &creator,
        body(
            wire::op::Op::AddMember(wire::AddMember {
                key: member.public().0.to_vec(),
                from_seq: 0,
            }),
            None,
        ),
        1_100,
    );
    let log = a
        .reader()
        .expect("reader")
        .log_range(&creator.public(), 0, 10)
        .expect("log");
    let mut b = Ledger::join(db(), a.pact_id()).expect("join");
    let (_, report) = b
        .batch(|batch| {
            for e in &log {
                batch.ingest(e)?;
            }
            Ok(())
        })
        .expect("ingest");
    // Ingested entries too: the genesis and the member's admission.
    events_show_as_read(&b, &report, log.len());
    for (i, op) in ops().into_iter().enumerate() {
        let shown = answers_as_read(&mut b, &member, body(op, Some("Bo")), 2_000 + i as u64);
        assert!(!shown.confirmed, "only the indexer's anchor confirms them");
    }
}
