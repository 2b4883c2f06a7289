//! Reader tests over real views: signed entries, log tables, and view rows written through
//! `ViewTxn` by a small stand-in for apply that writes the rows the real one does.

use prost::Message as _;
use redb::backends::InMemoryBackend;
use redb::{Database, ReadableDatabase, WriteTransaction};
use wire::op::Op;

use super::*;
use crate::code::Code;
use crate::entry::{DEFAULT_CLAIM_TTL_MS, DEFAULT_DEPS_CAP, Draft, VerifiedEntry, sign};
use crate::keys::{Signer, api_id};
use crate::view::tables::{
    BRANCHES, ENTRIES, HASHES, InviteRow, MemberRow, PACT_KEY, PactRow, TaskRow, TaskStatus,
    api_id_key, stored_value,
};
use crate::view::txn::ViewTxn;

/// Signed entries by three members of one pact; member 0 created it.
struct Fixture {
    pact: PactId,
    signers: Vec<Signer>,
    heads: Vec<(u64, Option<EntryHash>)>,
    lamport: u64,
    entries: Vec<VerifiedEntry>,
}

fn ledger_time(pos: u64) -> u64 {
    5_000 + pos * 100
}

fn body(ops: Vec<Op>, display_name: Option<String>) -> wire::Body {
    wire::Body {
        ops: ops
            .into_iter()
            .map(|op| wire::Op { op: Some(op) })
            .collect(),
        display_name,
    }
}

impl Fixture {
    fn new(claim_ttl_ms: u64) -> Fixture {
        let signers: Vec<Signer> = (1..=3u8).map(|i| Signer::from_seed([i; 32])).collect();
        let create = Op::CreatePact(wire::CreatePact {
            params: Some(wire::PactParams {
                name: "test".into(),
                purpose: Some("testing reads".into()),
                claim_ttl_ms,
                deps_cap: 0,
            }),
            nonce: vec![7; 32],
        });
        let genesis = sign(
            &signers[0],
            Draft {
                pact: PactId::default(),
                seq: 0,
                prev: None,
                deps: vec![],
                lamport: 1,
                epoch: 0,
                time_ms: 1_000,
                body: body(vec![create], None),
            },
        );
        Fixture {
            pact: PactId(genesis.hash.0),
            heads: vec![(1, Some(genesis.hash)), (0, None), (0, None)],
            signers,
            lamport: 1,
            entries: vec![genesis],
        }
    }

    fn key(&self, who: usize) -> MemberKey {
        self.signers[who].public()
    }

    /// Appends an entry by member `who`; returns its index.
    fn write(&mut self, who: usize, op: Op) -> usize {
        self.write_ops(who, vec![op])
    }

    fn write_ops(&mut self, who: usize, ops: Vec<Op>) -> usize {
        let (seq, prev) = self.heads[who];
        self.lamport += 1;
        let e = sign(
            &self.signers[who],
            Draft {
                pact: self.pact,
                seq,
                prev,
                deps: vec![],
                lamport: self.lamport,
                epoch: 0,
                time_ms: 1_000 + 10 * self.entries.len() as u64,
                body: body(ops, Some(format!("agent {who}"))),
            },
        );
        self.heads[who] = (seq + 1, Some(e.hash));
        self.entries.push(e);
        self.entries.len() - 1
    }

    fn id(&self, i: usize) -> String {
        let h = &self.entries[i].header;
        if i == 0 {
            String::new()
        } else {
            api_id(&h.author, h.seq)
        }
    }

    fn hash(&self, i: usize) -> EntryHash {
        self.entries[i].hash
    }

    /// A database holding every entry in the log and `order` applied; entries in `rejected` are
    /// ordered with a rejection, so they get no index rows. Arrival follows the order.
    fn materialise(&self, order: &[usize], rejected: &[usize], confirmed_len: u64) -> Database {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("in-memory database");
        let txn = db.begin_write().expect("write txn");
        let digest = {
            let mut v = ViewTxn::open(&txn, Digest::default()).expect("view txn");
            let mut log = txn.open_table(ENTRIES).expect("entries");
            let mut hashes = txn.open_table(HASHES).expect("hashes");
            txn.open_table(BRANCHES).expect("branches");
            let mut arrival = txn.open_table(ARRIVAL).expect("arrival");
            for e in &self.entries {
                let slot = (e.header.author.0, e.header.seq);
                log.insert(slot, stored_value(&e.hash, &e.bytes).as_slice())
                    .expect("insert");
                hashes.insert(e.hash.0, slot).expect("insert");
            }
            for (pos, &i) in order.iter().enumerate() {
                let pos = pos as u64;
                let (e, id) = (&self.entries[i], self.id(i));
                let outcome = if rejected.contains(&i) {
                    Outcome::Rejected(Code::TaskAlreadyClaimed)
                } else {
                    Outcome::Applied
                };
                let order_row = OrderRow {
                    hash: e.hash.0.to_vec(),
                    ledger_time: ledger_time(pos),
                    time_sensitive: false,
                    changes_indexers: false,
                    outcome: outcome.to_u16().into(),
                    api_id: id.clone(),
                    author: e.header.author.0.to_vec(),
                    seq: e.header.seq,
                };
                v.put_row(ViewTable::Order, &pos_key(pos), &order_row)
                    .expect("put");
                if !id.is_empty() {
                    let key = api_id_key(&e.header.author, e.header.seq, None);
                    v.put(ViewTable::ApiIds, &key, &pos_key(pos)).expect("put");
                }
                arrival.insert(pos, e.hash.0).expect("insert");
                if outcome == Outcome::Applied {
                    apply(&mut v, e, pos, &id);
                }
            }
            v.digest()
        };
        let engine = EngineRow {
            confirmed_len,
            applied_len: order.len() as u64,
            order_digest: vec![9; 32],
            view_digest: digest.0.to_vec(),
            ledger_time: ledger_time(order.len() as u64),
            indexer: self.key(0).0.to_vec(),
            anchors: 1,
            next_arrival: order.len() as u64,
            ..EngineRow::default()
        };
        {
            let mut state = txn.open_table(STATE).expect("state");
            state
                .insert(STATE_ENGINE, engine.encode_to_vec().as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
        db
    }

    fn reader(&self, db: &Database) -> ViewReader {
        ViewReader::new(db.begin_read().expect("read txn"), self.pact).expect("reader")
    }
}

fn change(db: &Database, f: impl FnOnce(&WriteTransaction)) {
    let txn = db.begin_write().expect("write txn");
    f(&txn);
    txn.commit().expect("commit");
}

/// The rows apply writes for an applied entry, for the ops these tests use.
fn apply(v: &mut ViewTxn<'_>, e: &VerifiedEntry, pos: u64, id: &str) {
    let author = e.header.author;
    let hash = e.hash.0.to_vec();
    let by_kind = |k: Kind| prefixed_pos(&[k as u8], pos);
    for op in e.body.ops.iter().filter_map(|o| o.op.as_ref()) {
        match op {
            Op::CreatePact(c) => {
                let p = c.params.clone().unwrap_or_default();
                let pact = PactRow {
                    name: p.name,
                    purpose: p.purpose,
                    claim_ttl_ms: p.claim_ttl_ms,
                    deps_cap: p.deps_cap,
                    creator: author.0.to_vec(),
                    indexers: vec![author.0.to_vec()],
                };
                v.put_row(ViewTable::Pact, PACT_KEY, &pact).expect("put");
                let m = MemberRow {
                    active: true,
                    added_pos: pos,
                    creator: true,
                    ..Default::default()
                };
                v.put_row(ViewTable::Members, &author.0, &m).expect("put");
            }
            Op::AddMember(a) => {
                let m = MemberRow {
                    active: true,
                    added_pos: pos,
                    from_seq: a.from_seq,
                    display_name: Some("joiner".into()),
                    ..Default::default()
                };
                v.put_row(ViewTable::Members, &a.key, &m).expect("put");
            }
            Op::InviteMint(m) => {
                let row = InviteRow {
                    expires_at_ms: m.expires_at_ms,
                    issuer: author.0.to_vec(),
                    minted_pos: pos,
                    minted_at: ledger_time(pos),
                    issuer_display: m.issuer_display.clone(),
                    ..Default::default()
                };
                v.put_row(ViewTable::Invites, &m.nonce_hash, &row)
                    .expect("put");
                v.put(ViewTable::InviteOrder, &pos_key(pos), &m.nonce_hash)
                    .expect("put");
            }
            Op::Knowledge(k) => {
                v.put(ViewTable::ByKind, &by_kind(Kind::Knowledge), &[])
                    .expect("put");
                v.put(ViewTable::Topic, &prefixed_pos(&lp(&k.topic), pos), &[])
                    .expect("put");
            }
            Op::Skill(s) => {
                v.put(ViewTable::ByKind, &by_kind(Kind::Skill), &[])
                    .expect("put");
                let f = SkillFormat::from_name(&s.format).expect("format") as u8;
                v.put(ViewTable::SkillFormat, &prefixed_pos(&[f], pos), &[])
                    .expect("put");
            }
            Op::Message(m) => {
                v.put(ViewTable::ByKind, &by_kind(Kind::Message), &[])
                    .expect("put");
                v.put(ViewTable::MessageAuthor, &prefixed_pos(&author.0, pos), &[])
                    .expect("put");
                let to = lp(m.to.as_deref().unwrap_or("*"));
                v.put(ViewTable::MessageRecipient, &prefixed_pos(&to, pos), &[])
                    .expect("put");
                if let Some(parent) = &m.reply_to {
                    v.put(ViewTable::Refs, &prefixed_pos(&lp(parent), pos), &[])
                        .expect("put");
                }
            }
            Op::TaskCreate(t) => {
                v.put(ViewTable::ByKind, &by_kind(Kind::Task), &[])
                    .expect("put");
                let row = TaskRow {
                    status: TaskStatus::Open as u32,
                    created_pos: pos,
                    title: t.title.clone(),
                    assigned_to: t.assigned_to.clone(),
                    last_entry: hash.clone(),
                    ..Default::default()
                };
                v.put_row(ViewTable::Tasks, id.as_bytes(), &row)
                    .expect("put");
                let k = prefixed_pos(&[TaskStatus::Open as u8], pos);
                v.put(ViewTable::TaskStatus, &k, id.as_bytes())
                    .expect("put");
            }
            Op::TaskClaim(wire::TaskClaim { task_id })
            | Op::TaskRelease(wire::TaskRelease { task_id })
            | Op::TaskComplete(wire::TaskComplete { task_id, .. }) => {
                v.put(ViewTable::ByKind, &by_kind(Kind::Task), &[])
                    .expect("put");
                v.put(ViewTable::Refs, &prefixed_pos(&lp(task_id), pos), &[])
                    .expect("put");
                let mut row: TaskRow = v
                    .get_row(ViewTable::Tasks, task_id.as_bytes())
                    .expect("get")
                    .expect("task");
                let old = prefixed_pos(&[row.status as u8], row.created_pos);
                v.delete(ViewTable::TaskStatus, &old).expect("delete");
                match op {
                    Op::TaskClaim(_) => {
                        row.status = TaskStatus::Claimed as u32;
                        row.claimed_by = author.0.to_vec();
                        row.claimed_at = ledger_time(pos);
                        row.claim_entry = hash.clone();
                    }
                    Op::TaskComplete(c) => {
                        row.status = TaskStatus::Complete as u32;
                        row.result = c.result.clone();
                    }
                    _ => {
                        row.status = TaskStatus::Open as u32;
                        row.claimed_by.clear();
                        row.claimed_at = 0;
                    }
                }
                row.last_entry = hash.clone();
                v.put_row(ViewTable::Tasks, task_id.as_bytes(), &row)
                    .expect("put");
                let new = prefixed_pos(&[row.status as u8], row.created_pos);
                v.put(ViewTable::TaskStatus, &new, task_id.as_bytes())
                    .expect("put");
            }
            _ => {}
        }
    }
}

fn knowledge(topic: &str) -> Op {
    Op::Knowledge(wire::Knowledge {
        topic: topic.into(),
        content: "c".into(),
        ..Default::default()
    })
}

fn task_create(title: &str) -> Op {
    Op::TaskCreate(wire::TaskCreate {
        title: title.into(),
        ..Default::default()
    })
}

fn message(to: Option<&str>, reply_to: Option<String>) -> Op {
    Op::Message(wire::Message {
        content: "hi".into(),
        to: to.map(Into::into),
        reply_to,
        ..Default::default()
    })
}

fn ids(page: &Page<EntryView>) -> Vec<String> {
    page.items.iter().map(|e| e.api_id.clone()).collect()
}

/// Walks every page of `q`, returning the ids seen and each page's `has_more`.
fn walk_pages(r: &ViewReader, mut q: ListQuery) -> (Vec<String>, Vec<bool>) {
    let (mut seen, mut more) = (Vec::new(), Vec::new());
    loop {
        let page = r.list(&q).expect("list");
        seen.extend(ids(&page));
        more.push(page.has_more);
        if !page.has_more {
            return (seen, more);
        }
        q.cursor = page.cursor;
    }
}

fn bad_cursor(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(Error::Refused {
            code: Code::BadCursor,
            message,
        }) => message,
        other => panic!("expected BAD_CURSOR, got {other:?}"),
    }
}

#[test]
fn paging_five_entries_by_two_in_both_directions_sees_all_in_order_with_exact_has_more() {
    let mut fx = Fixture::new(0);
    let k: Vec<usize> = (0..5)
        .map(|i| fx.write(i % 2, knowledge(&format!("t{i}"))))
        .collect();
    let db = fx.materialise(&[0, k[0], k[1], k[2], k[3], k[4]], &[], 3);
    let r = fx.reader(&db);
    let ordered: Vec<String> = k.iter().map(|&i| fx.id(i)).collect();

    let mut q = ListQuery::new(Kind::Knowledge);
    q.limit = 2;
    let (desc, more) = walk_pages(&r, q.clone());
    assert_eq!(desc, ordered.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(more, [true, true, false]);

    q.order = Order::Asc;
    let (asc, more) = walk_pages(&r, q.clone());
    assert_eq!(asc, ordered);
    assert_eq!(more, [true, true, false]);

    let first = r.list(&q).expect("list");
    assert_eq!(
        first.cursor.as_deref(),
        Some(format!("knowledge/2/{}", ordered[1]).as_str())
    );
    let e = &first.items[0];
    assert_eq!(
        (e.position, e.confirmed, e.outcome),
        (1, true, Outcome::Applied)
    );
    assert_eq!(
        (e.kind, e.author, e.seq),
        (Some(Kind::Knowledge), fx.key(0), 1)
    );
    assert_eq!(e.handle, fx.key(0).handle());
    assert_eq!(e.display_name.as_deref(), Some("agent 0"));
    assert_eq!(e.ledger_time, ledger_time(1));
    assert!(e.system_ops.is_empty() && e.refs.is_empty());
    assert!(matches!(&e.op, Some(Op::Knowledge(kn)) if kn.topic == "t0"));
    assert!(!r.list(&ListQuery { limit: 5, ..q }).expect("list").items[4].confirmed);

    let empty = r.list(&ListQuery::new(Kind::Skill)).expect("list");
    assert_eq!(
        empty,
        Page {
            items: vec![],
            cursor: None,
            has_more: false
        }
    );
}

#[test]
fn filtered_list_has_exact_has_more_and_skips_rejected_entries() {
    let mut fx = Fixture::new(0);
    let topics = ["a", "b", "a", "b", "b", "a"];
    let k: Vec<usize> = topics.iter().map(|t| fx.write(1, knowledge(t))).collect();
    let mut order = vec![0];
    order.extend(&k);
    // The last "a" is rejected: no index rows, so it must not make `has_more` true.
    let db = fx.materialise(&order, &[k[5]], 0);
    let r = fx.reader(&db);

    let q = ListQuery {
        filter: ListFilter::Topic("a".into()),
        limit: 1,
        ..ListQuery::new(Kind::Knowledge)
    };
    let (seen, more) = walk_pages(&r, q.clone());
    assert_eq!(seen, [fx.id(k[2]), fx.id(k[0])]);
    assert_eq!(more, [true, false]);

    let q = ListQuery {
        filter: ListFilter::Topic("b".into()),
        limit: 3,
        ..q
    };
    let page = r.list(&q).expect("list");
    assert_eq!(ids(&page), [fx.id(k[4]), fx.id(k[3]), fx.id(k[1])]);
    assert!(!page.has_more);

    let none = ListQuery {
        filter: ListFilter::Topic("c".into()),
        ..q
    };
    assert_eq!(
        r.list(&none).expect("list"),
        Page {
            items: vec![],
            cursor: None,
            has_more: false
        }
    );
}

#[test]
fn message_filters_walk_author_and_recipient_indexes() {
    let mut fx = Fixture::new(0);
    let to = fx.key(2).handle();
    let m1 = fx.write(1, message(None, None));
    let m2 = fx.write(2, message(Some(&to), Some(fx.id(m1))));
    let m3 = fx.write(1, message(Some(&to), None));
    let db = fx.materialise(&[0, m1, m2, m3], &[], 0);
    let r = fx.reader(&db);

    let by = ListQuery {
        filter: ListFilter::Author(fx.key(1)),
        ..ListQuery::new(Kind::Message)
    };
    assert_eq!(ids(&r.list(&by).expect("list")), [fx.id(m3), fx.id(m1)]);
    let to_q = ListQuery {
        filter: ListFilter::Recipient(to),
        order: Order::Asc,
        ..by
    };
    assert_eq!(ids(&r.list(&to_q).expect("list")), [fx.id(m2), fx.id(m3)]);

    let replies = r.referenced_by(&fx.id(m1)).expect("refs");
    assert_eq!(replies.len(), 1);
    assert_eq!(
        (replies[0].api_id.clone(), replies[0].refs.clone()),
        (fx.id(m2), vec![fx.id(m1)])
    );
    assert!(r.referenced_by("zzzz-99").expect("refs").is_empty());
}

#[test]
fn foreign_or_malformed_cursor_is_bad_cursor_and_bad_queries_are_bad_request() {
    let mut fx = Fixture::new(0);
    let k = fx.write(0, knowledge("t"));
    let db = fx.materialise(&[0, k], &[], 0);
    let r = fx.reader(&db);

    let q = |c: &str| ListQuery {
        cursor: Some(c.into()),
        ..ListQuery::new(Kind::Knowledge)
    };
    let msg = bad_cursor(r.list(&q(&format!("task/1/{}", fx.id(k)))));
    assert_eq!(msg, "cursor does not belong to this resource");
    bad_cursor(r.list(&q("nope")));
    bad_cursor(r.list(&q("knowledge/x/12345678-1")));
    bad_cursor(r.list(&q("knowledge/1/")));
    let task_cursor = format!("knowledge/1/{}", fx.id(k));
    bad_cursor(r.tasks(None, Order::Desc, 10, Some(&task_cursor), 0));

    let refused = |res: Result<Page<EntryView>>| match res {
        Err(Error::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let wrong_filter = ListQuery {
        filter: ListFilter::Topic("t".into()),
        ..ListQuery::new(Kind::Skill)
    };
    assert_eq!(refused(r.list(&wrong_filter)), Code::BadRequest);
    assert_eq!(
        refused(r.list(&ListQuery {
            limit: 0,
            ..ListQuery::new(Kind::Knowledge)
        })),
        Code::BadRequest
    );
    assert_eq!(
        refused(r.list(&ListQuery {
            limit: 1001,
            ..ListQuery::new(Kind::Knowledge)
        })),
        Code::BadRequest
    );
    // A cursor naming an entry this peer never saw is a seek position, not an error.
    let unseen = r.list(&q("knowledge/2/abcdef01-9")).expect("list");
    assert_eq!(ids(&unseen), [fx.id(k)]);
}

#[test]
fn cursor_resumes_right_after_its_entry_when_the_tail_reorders_between_pages() {
    let mut fx = Fixture::new(0);
    let k: Vec<usize> = (0..5)
        .map(|i| fx.write(1, knowledge(&format!("t{i}"))))
        .collect();
    let late = fx.write(2, knowledge("late"));
    let before = fx.materialise(&[0, k[0], k[1], k[2], k[3], k[4]], &[], 1);
    let q = ListQuery {
        limit: 2,
        ..ListQuery::new(Kind::Knowledge)
    };
    let page = fx.reader(&before).list(&q).expect("list");
    assert_eq!(ids(&page), [fx.id(k[4]), fx.id(k[3])]);
    assert_eq!(page.cursor, Some(format!("knowledge/4/{}", fx.id(k[3]))));

    // A late entry sorts in at position 3: k[2..] each move up one place.
    let after = fx.materialise(&[0, k[0], k[1], late, k[2], k[3], k[4]], &[], 1);
    let r = fx.reader(&after);
    let next = r
        .list(&ListQuery {
            cursor: page.cursor.clone(),
            ..q.clone()
        })
        .expect("list");
    // Resuming from the recorded position 4 would skip k[2], now at 4.
    assert_eq!(ids(&next), [fx.id(k[2]), fx.id(late)]);
    assert!(next.has_more);

    // An entry that left the index falls back to the recorded position.
    let gone = fx.materialise(&[0, k[0], k[1], late, k[2], k[3], k[4]], &[k[3]], 1);
    let next = fx
        .reader(&gone)
        .list(&ListQuery {
            cursor: page.cursor,
            ..q
        })
        .expect("list");
    assert_eq!(ids(&next), [fx.id(late), fx.id(k[1])]);
}

#[test]
fn claim_past_its_ttl_by_the_local_clock_reads_as_open_with_expired_at() {
    let mut fx = Fixture::new(1_000);
    let t = fx.write(0, task_create("build"));
    let claim = fx.write(1, Op::TaskClaim(wire::TaskClaim { task_id: fx.id(t) }));
    let other = fx.write(0, task_create("other"));
    let done = fx.write(
        2,
        Op::TaskComplete(wire::TaskComplete {
            task_id: fx.id(other),
            result: Some("ok".into()),
        }),
    );
    let db = fx.materialise(&[0, t, claim, other, done], &[], 3);
    let r = fx.reader(&db);
    let claimed_at = ledger_time(2);
    let id = fx.id(t);

    let live = r
        .task(&id, claimed_at + 1_000)
        .expect("task")
        .expect("exists");
    assert_eq!(live.status, TaskStatus::Claimed);
    assert_eq!(live.claimed_by.as_ref().map(|c| c.key), Some(fx.key(1)));
    assert_eq!(
        live.claimed_by.as_ref().map(|c| c.handle.clone()),
        Some(fx.key(1).handle())
    );
    assert_eq!((live.claimed_at, live.expired_at), (Some(claimed_at), None));
    assert_eq!(live.title, "build");
    let history: Vec<String> = live.history.iter().map(|e| e.api_id.clone()).collect();
    assert_eq!(history, [id.clone(), fx.id(claim)]);
    assert_eq!(live.updated_at, fx.entries[claim].header.time_ms);
    assert_eq!((live.confirmed, live.outcome), (true, Outcome::Applied));
    assert_eq!(live.created.api_id, id);

    let expired = r
        .task(&id, claimed_at + 1_001)
        .expect("task")
        .expect("exists");
    assert_eq!(expired.status, TaskStatus::Open);
    assert_eq!(expired.claimed_by, None);
    assert_eq!(expired.expired_at, Some(claimed_at + 1_000));
    assert_eq!(expired.history.len(), 2);

    let late = claimed_at + 5_000;
    let open = r
        .tasks(Some(TaskStatus::Open), Order::Desc, 10, None, late)
        .expect("tasks");
    assert_eq!(
        open.items.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    assert!(
        r.tasks(Some(TaskStatus::Claimed), Order::Desc, 10, None, late)
            .expect("tasks")
            .items
            .is_empty()
    );
    let claimed = r
        .tasks(Some(TaskStatus::Claimed), Order::Desc, 10, None, claimed_at)
        .expect("tasks");
    assert_eq!(claimed.items.len(), 1);
    let complete = r
        .tasks(Some(TaskStatus::Complete), Order::Desc, 10, None, late)
        .expect("tasks");
    assert_eq!(complete.items[0].result.as_deref(), Some("ok"));
    assert!(!complete.items[0].confirmed);

    // All tasks, one per page, newest create first, with exact has_more.
    let first = r.tasks(None, Order::Desc, 1, None, late).expect("tasks");
    assert_eq!(
        (first.items[0].id.clone(), first.has_more),
        (fx.id(other), true)
    );
    assert_eq!(first.cursor, Some(format!("task/3/{}", fx.id(other))));
    let second = r
        .tasks(None, Order::Desc, 1, first.cursor.as_deref(), late)
        .expect("tasks");
    assert_eq!(
        (second.items[0].id.clone(), second.has_more),
        (id.clone(), false)
    );

    // A claim entry's id is not a task.
    assert!(r.task(&fx.id(claim), late).expect("task").is_none());
    let refs: Vec<String> = r
        .referenced_by(&id)
        .expect("refs")
        .iter()
        .map(|e| e.api_id.clone())
        .collect();
    assert_eq!(refs, [fx.id(claim)]);
}

#[test]
fn changes_walk_arrivals_after_a_cursor_skipping_system_and_rejected_entries() {
    let mut fx = Fixture::new(0);
    let k1 = fx.write(0, knowledge("a"));
    let add = fx.write(
        0,
        Op::AddMember(wire::AddMember {
            key: fx.key(1).0.to_vec(),
            from_seq: 0,
        }),
    );
    let t1 = fx.write(1, task_create("t"));
    let k2 = fx.write(1, knowledge("b"));
    let m1 = fx.write(1, message(None, None));
    let db = fx.materialise(&[0, k1, add, t1, k2, m1], &[k2], 0);
    let r = fx.reader(&db);

    let page = r.changes(None, 2, None).expect("changes");
    let got: Vec<(u64, String)> = page
        .items
        .iter()
        .map(|c| (c.arrival, c.entry.api_id.clone()))
        .collect();
    assert_eq!(got, [(1, fx.id(k1)), (3, fx.id(t1))]);
    assert_eq!((page.cursor, page.has_more), (Some(3), true));

    let rest = r.changes(page.cursor, 2, None).expect("changes");
    assert_eq!(
        rest.items
            .iter()
            .map(|c| c.entry.api_id.clone())
            .collect::<Vec<_>>(),
        [fx.id(m1)]
    );
    assert_eq!((rest.cursor, rest.has_more), (Some(5), false));

    let idle = r.changes(rest.cursor, 2, None).expect("changes");
    assert_eq!(
        (idle.items.len(), idle.cursor, idle.has_more),
        (0, Some(5), false)
    );

    let msgs = r.changes(None, 10, Some(Kind::Message)).expect("changes");
    assert_eq!(
        msgs.items.iter().map(|c| c.arrival).collect::<Vec<_>>(),
        [5]
    );

    assert_eq!(r.head_arrival(None).expect("head"), Some(5));
    assert_eq!(r.head_arrival(Some(Kind::Task)).expect("head"), Some(5));
    assert_eq!(r.head_arrival(Some(Kind::Skill)).expect("head"), None);
    let empty = Fixture::new(0);
    let db = empty.materialise(&[0], &[], 1);
    assert_eq!(empty.reader(&db).head_arrival(None).expect("head"), None);
    assert_eq!(
        empty
            .reader(&db)
            .changes(None, 5, None)
            .expect("changes")
            .items
            .len(),
        0
    );
}

#[test]
fn frontier_log_range_and_forks_follow_the_log_tables() {
    let mut fx = Fixture::new(0);
    let a: Vec<usize> = (0..2).map(|_| fx.write(0, knowledge("a"))).collect();
    let b: Vec<usize> = (0..3).map(|_| fx.write(1, knowledge("b"))).collect();
    // Ingested but not ordered yet.
    let db = fx.materialise(&[0, a[0], a[1], b[0]], &[], 0);
    let r = fx.reader(&db);

    let mut want = vec![(fx.key(0), 2, fx.hash(a[1])), (fx.key(1), 2, fx.hash(b[2]))];
    want.sort();
    assert_eq!(r.frontier().expect("frontier"), want);

    let range = r.log_range(&fx.key(1), 1, 10).expect("range");
    assert_eq!(
        range,
        [
            fx.entries[b[1]].bytes.clone(),
            fx.entries[b[2]].bytes.clone()
        ]
    );
    assert_eq!(
        r.log_range(&fx.key(1), 0, 1).expect("range"),
        [fx.entries[b[0]].bytes.clone()]
    );
    assert!(r.log_range(&fx.key(2), 0, 10).expect("range").is_empty());

    assert_eq!(
        r.raw_entry(&fx.hash(b[2])).expect("raw"),
        Some(fx.entries[b[2]].bytes.clone())
    );
    assert_eq!(r.entry_by_hash(&fx.hash(b[2])).expect("entry"), None);
    // Looked for near a position: the same answer wherever it was last seen.
    let at3 = r.entry_by_hash(&fx.hash(b[0])).expect("entry");
    assert_eq!(at3.as_ref().map(|e| e.position), Some(3));
    // The same for an applied event's entry, built from the body the event carries where the
    // entry still is, read in full where it has moved (as when the event was of an older
    // snapshot than the reader's).
    let applied = |i: usize, pos: u64| {
        let e = &fx.entries[i];
        crate::Event::Applied {
            hash: e.hash,
            api_id: String::new(),
            pos,
            outcome: Outcome::Applied,
            arrival: 0,
            author: e.header.author,
            seq: e.header.seq,
            time_ms: e.header.time_ms,
            body: std::sync::Arc::new(e.body.clone()),
        }
    };
    for pos in [3, 0, 2, 99] {
        assert_eq!(
            r.entry_by_hash_near(&fx.hash(b[0]), pos).expect("entry"),
            at3
        );
        assert_eq!(r.applied_entry(&applied(b[0], pos)).expect("entry"), at3);
        assert_eq!(
            r.entry_by_hash_near(&fx.hash(b[2]), pos).expect("entry"),
            None
        );
        assert_eq!(r.applied_entry(&applied(b[2], pos)).expect("entry"), None);
    }
    let other = crate::Event::TailRolledBack {
        from_pos: 0,
        count: 1,
    };
    assert_eq!(r.applied_entry(&other).expect("entry"), None);
    assert_eq!(
        r.outcome(&fx.hash(b[0])).expect("outcome"),
        Some((3, Outcome::Applied, false))
    );
    let status = r.status().expect("status");
    assert_eq!(
        (status.entries_stored, status.authors, status.forks),
        (6, 2, 0)
    );
    assert_eq!((status.applied_len, status.tail_len), (4, 4));
    assert!(r.forks().expect("forks").is_empty());

    change(&db, |txn| {
        let mut forks = txn.open_table(FORKS).expect("forks");
        forks.insert((fx.key(1).0, 1), [0xab; 32]).expect("insert");
    });
    let forks = fx.reader(&db).forks().expect("forks");
    let fork = ForkView {
        author: fx.key(1),
        seq: 1,
        first: fx.hash(b[1]),
        second: EntryHash([0xab; 32]),
    };
    assert_eq!(forks, [fork]);
}

#[test]
fn point_reads_show_pact_members_invites_and_status() {
    let mut fx = Fixture::new(0);
    let add = fx.write(
        0,
        Op::AddMember(wire::AddMember {
            key: fx.key(1).0.to_vec(),
            from_seq: 3,
        }),
    );
    let mint = |n: u8, expires: u64| {
        Op::InviteMint(wire::InviteMint {
            nonce_hash: vec![n; 32],
            expires_at_ms: expires,
            issuer_display: None,
        })
    };
    let i1 = fx.write(0, mint(1, 10_000));
    let i2 = fx.write(0, mint(2, 20_000));
    let db = fx.materialise(&[0, add, i1, i2], &[], 4);
    let r = fx.reader(&db);

    let pact = r.pact().expect("pact").expect("genesis applied");
    assert_eq!(
        (pact.name.as_str(), pact.purpose.as_deref()),
        ("test", Some("testing reads"))
    );
    assert_eq!(
        (pact.claim_ttl_ms, pact.deps_cap),
        (DEFAULT_CLAIM_TTL_MS, DEFAULT_DEPS_CAP)
    );
    assert_eq!(
        (pact.creator, pact.indexers.clone()),
        (fx.key(0), vec![fx.key(0)])
    );

    let members = r.members().expect("members");
    assert_eq!(members.len(), 2);
    let creator = members
        .iter()
        .find(|m| m.key == fx.key(0))
        .expect("creator");
    assert!(creator.creator && creator.indexer && creator.active);
    let joiner = members.iter().find(|m| m.key == fx.key(1)).expect("joiner");
    assert!(!joiner.creator && !joiner.indexer && joiner.active);
    assert_eq!(
        (joiner.added_pos, joiner.display_name.as_deref()),
        (1, Some("joiner"))
    );

    let invites = r.invites(15_000).expect("invites");
    assert_eq!(
        invites.iter().map(|i| i.nonce_hash[0]).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        invites.iter().map(|i| i.dead).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!((invites[0].issuer, invites[0].minted_pos), (fx.key(0), 2));

    let genesis = r
        .entry_by_hash(&fx.hash(0))
        .expect("entry")
        .expect("ordered");
    assert_eq!(
        (
            genesis.api_id.as_str(),
            genesis.kind,
            genesis.system_ops.len()
        ),
        ("", None, 1)
    );
    let sys = r
        .entry_by_api_id(&fx.id(add))
        .expect("entry")
        .expect("ordered");
    assert!(sys.op.is_none() && matches!(sys.system_ops[..], [Op::AddMember(_)]));
    assert_eq!(r.entry_by_api_id("zzzz-99").expect("entry"), None);

    let status = r.status().expect("status");
    assert_eq!(status.pact, fx.pact);
    assert_eq!(
        (status.confirmed_len, status.applied_len, status.tail_len),
        (4, 4, 0)
    );
    assert_eq!(
        (status.indexer, status.order_digest),
        (Some(fx.key(0)), [9; 32])
    );
    assert_eq!(
        r.order().expect("order"),
        [fx.hash(0), fx.hash(add), fx.hash(i1), fx.hash(i2)]
    );
}

#[test]
fn canonical_dump_matches_equal_views_and_differs_when_one_row_differs() {
    let mut fx = Fixture::new(0);
    let k = fx.write(0, knowledge("a"));
    let t = fx.write(1, task_create("t"));
    let (one, two) = (
        fx.materialise(&[0, k, t], &[], 3),
        fx.materialise(&[0, k, t], &[], 3),
    );
    let (r1, r2) = (fx.reader(&one), fx.reader(&two));
    assert_eq!(
        r1.canonical_dump().expect("dump"),
        r2.canonical_dump().expect("dump")
    );
    assert_eq!(
        r1.status().expect("status").view_digest,
        r2.status().expect("status").view_digest
    );

    change(&two, |txn| {
        let mut v = ViewTxn::open(txn, Digest::default()).expect("view txn");
        v.put(ViewTable::Topic, &prefixed_pos(&lp("a"), 1), b"x")
            .expect("put");
    });
    assert_ne!(
        r1.canonical_dump().expect("dump"),
        fx.reader(&two).canonical_dump().expect("dump")
    );
    // The old snapshot still reads the old rows.
    assert_eq!(
        r1.canonical_dump().expect("dump"),
        r2.canonical_dump().expect("dump")
    );
}

#[test]
fn a_fresh_database_reads_as_empty() {
    let db = Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .expect("db");
    let r = ViewReader::new(db.begin_read().expect("read"), PactId([1; 32])).expect("reader");
    assert_eq!(r.status().expect("status").applied_len, 0);
    assert!(
        r.list(&ListQuery::new(Kind::Knowledge))
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        r.tasks(None, Order::Desc, 5, None, 0)
            .expect("tasks")
            .items
            .is_empty()
    );
    assert!(r.frontier().expect("frontier").is_empty());
    assert_eq!(r.pact().expect("pact"), None);
}
