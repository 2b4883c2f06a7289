//! Tasks: the state machine in ledger order, ledger-time claim expiry and the indexes.

use super::*;
use crate::view::tables::trailing_pos;

#[test]
fn task_create_writes_its_row_status_index_and_kind() {
    with_pact(|v, l| {
        let r = l.write(v, &alice(), one(task("Build landing page")));
        assert_eq!((r.outcome, r.time_sensitive), (Outcome::Applied, false));
        let t = task_row(v, &r.id);
        assert_eq!(t.status, TaskStatus::Open as u32);
        assert_eq!(
            (t.created_pos, t.title.as_str()),
            (r.pos, "Build landing page")
        );
        assert_eq!(
            t.last_entry,
            entry_hash(r.pos, &alice().public(), 0).0.to_vec()
        );
        let status_key = prefixed_pos(&[TaskStatus::Open as u8], r.pos);
        assert_eq!(
            v.get(ViewTable::TaskStatus, &status_key).expect("read"),
            Some(r.id.into_bytes())
        );
        assert!(has(v, ViewTable::ByKind, &kind_key(Kind::Task, r.pos)));
    });
}

#[test]
fn task_schema_is_checked() {
    assert_eq!(check_body(&one(task(""))), Err(Code::BadEntry));
    assert_eq!(
        check_body(&one(task(&"t".repeat(201)))),
        Err(Code::BadEntry)
    );
    assert_eq!(
        check_body(&one(assigned_task("t", "anon-rat-12345678"))),
        Ok(())
    );
    assert_eq!(
        check_body(&one(assigned_task("t", "not-a-handle"))),
        Err(Code::BadEntry)
    );
    let mut op = task("t");
    if let Op::TaskCreate(t) = &mut op {
        t.extra_json = r#"{"status":"claimed"}"#.into();
    }
    assert_eq!(check_body(&one(op)), Err(Code::BadEntry));
}

#[test]
fn state_change_on_unknown_task_is_not_found() {
    with_pact(|v, l| {
        let k = l.write(v, &alice(), one(knowledge("t", "c")));
        for id in ["abcd-99", k.id.as_str(), ""] {
            for op in [claim(id), complete(id, None), release(id)] {
                assert_eq!(l.write(v, &alice(), one(op)).outcome, rej(Code::NotFound));
            }
        }
    });
}

#[test]
fn claim_records_claimer_ledger_time_and_entry() {
    with_pact(|v, l| {
        let t = l.write(v, &alice(), one(task("t")));
        l.time = 5_000;
        let c = l.write(v, &bob(), one(claim(&t.id)));
        assert_eq!((c.outcome, c.time_sensitive), (Outcome::Applied, true));
        let row = task_row(v, &t.id);
        assert_eq!(row.status, TaskStatus::Claimed as u32);
        assert_eq!(
            (row.claimed_by, row.claimed_at),
            (bob().public().0.to_vec(), 5_000)
        );
        assert_eq!(
            row.claim_entry,
            entry_hash(c.pos, &bob().public(), 0).0.to_vec()
        );
        assert_eq!(row.last_entry, row.claim_entry);
    });
}

#[test]
fn second_claim_is_rejected_already_claimed() {
    with_pact(|v, l| {
        let t = l.write(v, &alice(), one(task("t")));
        assert_eq!(
            l.write(v, &alice(), one(claim(&t.id))).outcome,
            Outcome::Applied
        );
        assert_eq!(
            l.write(v, &bob(), one(claim(&t.id))).outcome,
            rej(Code::TaskAlreadyClaimed)
        );
        // Even the claimer itself.
        assert_eq!(
            l.write(v, &alice(), one(claim(&t.id))).outcome,
            rej(Code::TaskAlreadyClaimed)
        );
        assert_eq!(task_row(v, &t.id).claimed_by, alice().public().0.to_vec());
    });
}

/// Sets the claim TTL to 60 s.
fn short_ttl(v: &mut ViewTxn<'_>, l: &mut Ledger) {
    let r = l.write(v, &creator(), one(pact_info(None, None, Some(60_000))));
    assert_eq!(r.outcome, Outcome::Applied);
}

#[test]
fn claim_after_ttl_by_ledger_time_takes_over() {
    with_pact(|v, l| {
        short_ttl(v, l);
        let t = l.write(v, &alice(), one(task("t")));
        l.time = 1_000;
        assert_eq!(
            l.write(v, &alice(), one(claim(&t.id))).outcome,
            Outcome::Applied
        );
        // At exactly claimed_at + ttl the claim still holds.
        l.time = 61_000;
        assert_eq!(
            l.write(v, &bob(), one(claim(&t.id))).outcome,
            rej(Code::TaskAlreadyClaimed)
        );
        l.time = 61_001;
        let r = l.write(v, &bob(), one(claim(&t.id)));
        assert_eq!((r.outcome, r.time_sensitive), (Outcome::Applied, true));
        let row = task_row(v, &t.id);
        assert_eq!(
            (row.claimed_by, row.claimed_at),
            (bob().public().0.to_vec(), 61_001)
        );
    });
}

#[test]
fn only_the_assignee_may_claim() {
    with_pact(|v, l| {
        let t = l.write(
            v,
            &alice(),
            one(assigned_task("t", &bob().public().handle())),
        );
        assert_eq!(
            l.write(v, &alice(), one(claim(&t.id))).outcome,
            rej(Code::NotAssignee)
        );
        assert_eq!(
            l.write(v, &bob(), one(claim(&t.id))).outcome,
            Outcome::Applied
        );
    });
}

#[test]
fn complete_from_open_skips_the_claim() {
    with_pact(|v, l| {
        let t = l.write(v, &alice(), one(task("t")));
        let r = l.write(v, &bob(), one(complete(&t.id, Some("shipped"))));
        assert_eq!((r.outcome, r.time_sensitive), (Outcome::Applied, false));
        let row = task_row(v, &t.id);
        assert_eq!(row.status, TaskStatus::Complete as u32);
        assert_eq!(
            (row.result.as_deref(), row.claimed_by.len()),
            (Some("shipped"), 0)
        );
    });
}

#[test]
fn claimer_completes_and_keeps_the_claim() {
    with_pact(|v, l| {
        let t = l.write(v, &alice(), one(task("t")));
        l.write(v, &bob(), one(claim(&t.id)));
        assert_eq!(
            l.write(v, &alice(), one(complete(&t.id, None))).outcome,
            rej(Code::NotClaimer)
        );
        assert_eq!(
            l.write(v, &bob(), one(complete(&t.id, None))).outcome,
            Outcome::Applied
        );
        let row = task_row(v, &t.id);
        assert_eq!(
            (row.status, row.claimed_by),
            (TaskStatus::Complete as u32, bob().public().0.to_vec())
        );
        assert_eq!(row.result, None);
    });
}

#[test]
fn complete_after_ttl_by_anyone_clears_the_claimer() {
    with_pact(|v, l| {
        short_ttl(v, l);
        let t = l.write(v, &alice(), one(task("t")));
        l.write(v, &bob(), one(claim(&t.id)));
        l.time += 60_001;
        assert_eq!(
            l.write(v, &alice(), one(complete(&t.id, None))).outcome,
            Outcome::Applied
        );
        let row = task_row(v, &t.id);
        assert_eq!(row.status, TaskStatus::Complete as u32);
        assert!(row.claimed_by.is_empty() && row.claim_entry.is_empty() && row.claimed_at == 0);
    });
}

#[test]
fn complete_task_cannot_be_claimed_completed_or_released() {
    with_pact(|v, l| {
        let t = l.write(v, &alice(), one(task("t")));
        l.write(v, &alice(), one(complete(&t.id, None)));
        assert_eq!(
            l.write(v, &bob(), one(claim(&t.id))).outcome,
            rej(Code::TaskNotOpen)
        );
        let again = l.write(v, &alice(), one(complete(&t.id, None)));
        assert_eq!(again.outcome, rej(Code::TaskAlreadyComplete));
        assert_eq!(
            l.write(v, &alice(), one(release(&t.id))).outcome,
            rej(Code::NotClaimed)
        );
    });
}

#[test]
fn release_rules() {
    with_pact(|v, l| {
        short_ttl(v, l);
        let t = l.write(v, &alice(), one(task("t")));
        assert_eq!(
            l.write(v, &alice(), one(release(&t.id))).outcome,
            rej(Code::NotClaimed)
        );
        l.write(v, &alice(), one(claim(&t.id)));
        assert_eq!(
            l.write(v, &bob(), one(release(&t.id))).outcome,
            rej(Code::NotClaimer)
        );
        assert_eq!(
            l.write(v, &alice(), one(release(&t.id))).outcome,
            Outcome::Applied
        );
        let row = task_row(v, &t.id);
        assert_eq!(row.status, TaskStatus::Open as u32);
        assert!(row.claimed_by.is_empty() && row.claim_entry.is_empty() && row.claimed_at == 0);
        // An expired claim can no longer be released, even by its claimer.
        l.write(v, &alice(), one(claim(&t.id)));
        l.time += 60_001;
        assert_eq!(
            l.write(v, &alice(), one(release(&t.id))).outcome,
            rej(Code::NotClaimed)
        );
    });
}

#[test]
fn task_state_changes_move_the_status_index_and_reference_the_task() {
    with_pact(|v, l| {
        let t = l.write(v, &alice(), one(task("t")));
        let status_rows = |v: &ViewTxn<'_>| -> Vec<(Vec<u8>, Vec<u8>)> {
            v.scan_prefix(ViewTable::TaskStatus, &[]).expect("scan")
        };
        let c = l.write(v, &bob(), one(claim(&t.id)));
        let claimed = prefixed_pos(&[TaskStatus::Claimed as u8], t.pos);
        assert_eq!(status_rows(v), vec![(claimed, t.id.clone().into_bytes())]);
        let r = l.write(v, &bob(), one(release(&t.id)));
        let d = l.write(v, &alice(), one(complete(&t.id, None)));
        let done = prefixed_pos(&[TaskStatus::Complete as u8], t.pos);
        assert_eq!(status_rows(v), vec![(done, t.id.clone().into_bytes())]);
        let refs: Vec<u64> = v
            .scan_prefix(ViewTable::Refs, &lp(&t.id))
            .expect("scan")
            .iter()
            .filter_map(|(k, _)| trailing_pos(k))
            .collect();
        assert_eq!(refs, vec![c.pos, r.pos, d.pos]);
        for p in [t.pos, c.pos, r.pos, d.pos] {
            assert!(has(v, ViewTable::ByKind, &kind_key(Kind::Task, p)));
        }
        assert_eq!(
            task_row(v, &t.id).last_entry,
            entry_hash(d.pos, &alice().public(), 1).0.to_vec()
        );
    });
}
