//! Apply, entry by entry, on an in-memory view: the harness, general behaviour and app ops.
//! App ops are in `tests/app.rs` and `tests/tasks.rs`; membership, invites and forks in
//! `tests/system.rs`.

mod app;
mod system;
mod tasks;

use std::collections::HashMap;

use prost::Message as _;
use redb::Database;
use redb::backends::InMemoryBackend;

use super::*;
use crate::keys::{Signer, api_id};
use crate::view::tables::{InviteRow, TaskRow, TaskStatus, pos_key};
use crate::view::txn::Digest;

// ---- harness ----

const PACT: PactId = PactId([9; 32]);

fn signer(n: u8) -> Signer {
    Signer::from_seed([n; 32])
}

fn creator() -> Signer {
    signer(1)
}

fn alice() -> Signer {
    signer(2)
}

fn bob() -> Signer {
    signer(3)
}

fn rej(code: Code) -> Outcome {
    Outcome::Rejected(code)
}

/// What one apply gave.
struct Res {
    outcome: Outcome,
    new_indexers: Option<Vec<MemberKey>>,
    id: String,
    pos: u64,
    time_sensitive: bool,
}

/// The order being applied: the next position, each author's next seq, and the ledger time.
struct Ledger {
    pos: u64,
    seqs: HashMap<MemberKey, u64>,
    time: u64,
}

impl Ledger {
    /// Applies `body` by `who` at its next seq and the next position.
    fn write(&mut self, v: &mut ViewTxn<'_>, who: &Signer, body: wire::Body) -> Res {
        let seq = self.seqs.get(&who.public()).copied().unwrap_or(0);
        self.write_seq(v, who, seq, body)
    }

    /// Applies `body` by `who` at `seq` and the next position.
    fn write_seq(&mut self, v: &mut ViewTxn<'_>, who: &Signer, seq: u64, body: wire::Body) -> Res {
        let author = who.public();
        let pos = self.pos;
        self.pos += 1;
        let next = self.seqs.entry(author).or_default();
        *next = (*next).max(seq + 1);
        let genesis = matches!(
            body.ops.as_slice(),
            [wire::Op {
                op: Some(Op::CreatePact(_))
            }]
        );
        let id = if genesis {
            String::new()
        } else {
            api_id(&author, seq)
        };
        let hash = entry_hash(pos, &author, seq);
        let ctx = ApplyCtx::new(pos, hash, author, seq, &id, PACT, &body, self.time);
        v.begin_entry(pos, true);
        let a = apply_entry(v, &ctx).expect("apply");
        v.end_entry().expect("end entry");
        let time_sensitive = ctx.time_sensitive();
        Res {
            outcome: a.outcome,
            new_indexers: a.new_indexers,
            id,
            pos,
            time_sensitive,
        }
    }
}

fn entry_hash(pos: u64, author: &MemberKey, seq: u64) -> EntryHash {
    let mut h = blake3::Hasher::new();
    h.update(&pos.to_be_bytes())
        .update(&author.0)
        .update(&seq.to_be_bytes());
    EntryHash(h.finalize().into())
}

/// Runs `f` on an empty view inside a write transaction that is never committed.
fn run(f: impl FnOnce(&mut ViewTxn<'_>, &mut Ledger)) {
    let db = Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .expect("database");
    let txn = db.begin_write().expect("write transaction");
    {
        let mut v = ViewTxn::open(&txn, Digest::default()).expect("view");
        let mut l = Ledger {
            pos: 0,
            seqs: HashMap::new(),
            time: 1_000,
        };
        f(&mut v, &mut l);
    }
    txn.abort().expect("abort");
}

/// Runs `f` on a pact created by [`creator`], with alice and bob members.
fn with_pact(f: impl FnOnce(&mut ViewTxn<'_>, &mut Ledger)) {
    run(|v, l| {
        let c = creator();
        assert_eq!(l.write(v, &c, genesis_body()).outcome, Outcome::Applied);
        for m in [alice(), bob()] {
            assert_eq!(
                l.write(v, &c, one(add_member(&m.public(), 0))).outcome,
                Outcome::Applied
            );
        }
        f(v, l);
    });
}

// ---- bodies ----

fn genesis_body() -> wire::Body {
    one(Op::CreatePact(wire::CreatePact {
        params: Some(wire::PactParams {
            name: "test pact".into(),
            purpose: None,
            claim_ttl_ms: 0,
            deps_cap: 0,
        }),
        nonce: vec![5; 32],
    }))
}

fn one(op: Op) -> wire::Body {
    many(vec![op])
}

fn many(ops: Vec<Op>) -> wire::Body {
    wire::Body {
        ops: ops
            .into_iter()
            .map(|op| wire::Op { op: Some(op) })
            .collect(),
        display_name: None,
    }
}

fn named(mut body: wire::Body, name: &str) -> wire::Body {
    body.display_name = Some(name.into());
    body
}

fn knowledge(topic: &str, content: &str) -> Op {
    Op::Knowledge(wire::Knowledge {
        topic: topic.into(),
        content: content.into(),
        ..Default::default()
    })
}

fn task(title: &str) -> Op {
    Op::TaskCreate(wire::TaskCreate {
        title: title.into(),
        ..Default::default()
    })
}

fn assigned_task(title: &str, to: &str) -> Op {
    Op::TaskCreate(wire::TaskCreate {
        title: title.into(),
        assigned_to: Some(to.into()),
        ..Default::default()
    })
}

fn claim(id: &str) -> Op {
    Op::TaskClaim(wire::TaskClaim { task_id: id.into() })
}

fn complete(id: &str, result: Option<&str>) -> Op {
    Op::TaskComplete(wire::TaskComplete {
        task_id: id.into(),
        result: result.map(Into::into),
    })
}

fn release(id: &str) -> Op {
    Op::TaskRelease(wire::TaskRelease { task_id: id.into() })
}

fn skill(name: &str, version: &str, format: &str, content: &str) -> wire::Skill {
    wire::Skill {
        name: name.into(),
        version: version.into(),
        format: format.into(),
        content: content.into(),
        checksum: skill_checksum(content),
        ..Default::default()
    }
}

fn message(content: &str) -> wire::Message {
    wire::Message {
        content: content.into(),
        ..Default::default()
    }
}

fn add_member(key: &MemberKey, from_seq: u64) -> Op {
    Op::AddMember(wire::AddMember {
        key: key.0.to_vec(),
        from_seq,
    })
}

fn remove_member(key: &MemberKey) -> Op {
    Op::RemoveMember(wire::RemoveMember {
        key: key.0.to_vec(),
    })
}

fn pact_info(name: Option<Option<&str>>, purpose: Option<Option<&str>>, ttl: Option<u64>) -> Op {
    let ns = |v: Option<&str>| wire::NullableString {
        value: v.map(Into::into),
    };
    Op::PactInfo(wire::PactInfo {
        name: name.map(ns),
        purpose: purpose.map(ns),
        claim_ttl_ms: ttl,
    })
}

// ---- reads ----

fn pact(v: &ViewTxn<'_>) -> PactRow {
    pact_row(v).expect("pact row")
}

fn member_row(v: &ViewTxn<'_>, key: &MemberKey) -> MemberRow {
    v.get_row(ViewTable::Members, &key.0)
        .expect("read")
        .expect("member row")
}

fn task_row(v: &ViewTxn<'_>, id: &str) -> TaskRow {
    v.get_row(ViewTable::Tasks, id.as_bytes())
        .expect("read")
        .expect("task row")
}

fn invite_row(v: &ViewTxn<'_>, nonce: &[u8]) -> InviteRow {
    v.get_row(ViewTable::Invites, &invite_nonce_hash(nonce))
        .expect("read")
        .expect("invite row")
}

fn has(v: &ViewTxn<'_>, t: ViewTable, key: &[u8]) -> bool {
    v.get(t, key).expect("read").is_some()
}

fn kind_key(kind: Kind, pos: u64) -> Vec<u8> {
    prefixed_pos(&[kind as u8], pos)
}

// ---- genesis and the shape of entries ----

#[test]
fn genesis_creates_the_pact_and_its_creator() {
    run(|v, l| {
        let c = creator();
        let r = l.write(v, &c, named(genesis_body(), "Ada"));
        assert_eq!(
            (r.outcome, r.id.as_str(), r.time_sensitive),
            (Outcome::Applied, "", false)
        );
        let p = pact(v);
        assert_eq!(p.name, "test pact");
        assert_eq!(p.claim_ttl_ms, DEFAULT_CLAIM_TTL_MS);
        assert_eq!(p.deps_cap, DEFAULT_DEPS_CAP);
        assert_eq!(p.creator, c.public().0.to_vec());
        assert_eq!(p.indexers, vec![c.public().0.to_vec()]);
        let m = member_row(v, &c.public());
        assert!(m.active && m.creator && m.accepted_indexer);
        assert_eq!(
            (m.added_pos, m.from_seq, m.display_name.as_deref()),
            (0, 0, Some("Ada"))
        );
        for id in member_id_keys(&c.public()) {
            assert_eq!(
                v.get(ViewTable::MemberIds, &id).expect("read"),
                Some(c.public().0.to_vec())
            );
        }
    });
}

#[test]
fn second_create_pact_is_rejected() {
    with_pact(|v, l| {
        assert_eq!(
            l.write(v, &creator(), genesis_body()).outcome,
            rej(Code::BadEntry)
        );
        assert_eq!(pact(v).indexers.len(), 1);
    });
}

#[test]
fn entries_before_genesis_are_dropped() {
    run(|v, l| {
        let r = l.write(v, &creator(), one(knowledge("t", "c")));
        assert_eq!(r.outcome, Outcome::Dropped(DropReason::NotMember));
        assert_eq!(v.digest(), Digest::default());
    });
}

#[test]
fn null_entry_is_applied_and_writes_nothing() {
    with_pact(|v, l| {
        let before = v.digest();
        assert_eq!(l.write(v, &alice(), many(vec![])).outcome, Outcome::Applied);
        assert_eq!(v.digest(), before);
    });
}

#[test]
fn app_op_must_be_alone_in_its_entry() {
    let body = many(vec![
        knowledge("t", "c"),
        Op::AcceptIndexer(wire::AcceptIndexer {}),
    ]);
    assert_eq!(check_body(&body), Err(Code::BadEntry));
    let body = many(vec![knowledge("t", "c"), knowledge("u", "c")]);
    assert_eq!(check_body(&body), Err(Code::BadEntry));
    let empty_op = wire::Body {
        ops: vec![wire::Op { op: None }],
        display_name: None,
    };
    assert_eq!(check_body(&empty_op), Err(Code::BadEntry));
}

// ---- who may write ----

#[test]
fn non_member_is_dropped() {
    with_pact(|v, l| {
        let before = v.digest();
        let r = l.write(v, &signer(40), one(knowledge("t", "c")));
        assert_eq!(r.outcome, Outcome::Dropped(DropReason::NotMember));
        assert_eq!(v.digest(), before);
    });
}

#[test]
fn removed_member_is_dropped() {
    with_pact(|v, l| {
        assert_eq!(
            l.write(v, &alice(), one(knowledge("t", "c"))).outcome,
            Outcome::Applied
        );
        let rm = l.write(v, &creator(), one(remove_member(&alice().public())));
        assert_eq!(rm.outcome, Outcome::Applied);
        let m = member_row(v, &alice().public());
        assert_eq!((m.active, m.removed_pos), (false, Some(rm.pos)));
        let before = v.digest();
        let r = l.write(v, &alice(), named(one(knowledge("t", "c")), "Eve"));
        assert_eq!(r.outcome, Outcome::Dropped(DropReason::NotMember));
        assert_eq!(v.digest(), before);
    });
}

#[test]
fn stale_entries_below_from_seq_are_dropped() {
    with_pact(|v, l| {
        let (a, c) = (alice(), creator());
        l.write(v, &c, one(remove_member(&a.public())));
        assert_eq!(
            l.write(v, &c, one(add_member(&a.public(), 5))).outcome,
            Outcome::Applied
        );
        let m = member_row(v, &a.public());
        assert_eq!((m.active, m.from_seq, m.removed_pos), (true, 5, None));
        let stale = l.write_seq(v, &a, 4, one(knowledge("t", "c")));
        assert_eq!(stale.outcome, Outcome::Dropped(DropReason::Stale));
        assert_eq!(
            l.write_seq(v, &a, 5, one(knowledge("t", "c"))).outcome,
            Outcome::Applied
        );
    });
}

// ---- display names ----

#[test]
fn display_name_follows_applied_entries_only() {
    with_pact(|v, l| {
        let a = alice().public();
        l.write(v, &alice(), named(one(knowledge("t", "c")), "Ada"));
        assert_eq!(member_row(v, &a).display_name.as_deref(), Some("Ada"));
        // A rejected entry changes nothing, not even the name.
        let r = l.write(v, &alice(), named(one(claim("abcd-1")), "Eve"));
        assert_eq!(r.outcome, rej(Code::NotFound));
        assert_eq!(member_row(v, &a).display_name.as_deref(), Some("Ada"));
        // An empty name does not clear it; a null entry can carry a new one.
        l.write(v, &alice(), named(many(vec![]), ""));
        assert_eq!(member_row(v, &a).display_name.as_deref(), Some("Ada"));
        l.write(v, &alice(), named(many(vec![]), "Ada L."));
        assert_eq!(member_row(v, &a).display_name.as_deref(), Some("Ada L."));
        // Same name again writes nothing.
        let before = v.digest();
        l.write(v, &alice(), named(many(vec![]), "Ada L."));
        assert_eq!(v.digest(), before);
        let long = l.write(v, &alice(), named(many(vec![]), &"n".repeat(65)));
        assert_eq!(long.outcome, rej(Code::BadEntry));
    });
}

// ---- determinism and time ----

#[test]
fn rejected_entry_leaves_digest_unchanged() {
    with_pact(|v, l| {
        let t = l.write(v, &alice(), one(task("t")));
        l.write(v, &alice(), one(claim(&t.id)));
        let before = v.digest();
        let lost = l.write(v, &bob(), named(one(claim(&t.id)), "Bob"));
        assert_eq!(lost.outcome, rej(Code::TaskAlreadyClaimed));
        assert_eq!(v.digest(), before);
        // A failure in a later op undoes the earlier ops of the entry.
        let mixed = many(vec![
            pact_info(Some(Some("renamed")), None, None),
            remove_member(&creator().public()),
        ]);
        assert_eq!(
            l.write(v, &creator(), mixed).outcome,
            rej(Code::LastIndexer)
        );
        assert_eq!(pact(v).name, "test pact");
        assert_eq!(v.digest(), before);
    });
}

#[test]
fn apply_twice_from_same_state_gives_same_bytes() {
    with_pact(|v, l| {
        let t = l.write(v, &alice(), one(task("t")));
        let before = v.digest();
        let body = named(one(claim(&t.id)), "Bob");
        let (pos, author) = (l.pos, bob().public());
        let id = api_id(&author, 0);
        let apply = |v: &mut ViewTxn<'_>| {
            let ctx = ApplyCtx::new(
                pos,
                entry_hash(pos, &author, 0),
                author,
                0,
                &id,
                PACT,
                &body,
                7_000,
            );
            v.begin_entry(pos, true);
            let a = apply_entry(v, &ctx).expect("apply");
            v.end_entry().expect("end entry");
            (a, v.digest(), task_row(v, &t.id).encode_to_vec())
        };
        let first = apply(v);
        assert_eq!(first.0.outcome, Outcome::Applied);
        assert_ne!(first.1, before);
        v.rollback_position(pos).expect("rollback");
        assert_eq!(v.digest(), before);
        assert_eq!(task_row(v, &t.id).status, TaskStatus::Open as u32);
        assert_eq!(apply(v), first);
    });
}

#[test]
fn time_sensitivity_is_marked_only_when_time_is_read() {
    with_pact(|v, l| {
        let ts = |r: Res| r.time_sensitive;
        let (a, b) = (alice(), bob());
        assert!(!ts(l.write(v, &a, one(knowledge("t", "c")))));
        let t = l.write(v, &a, one(task("t")));
        assert!(!t.time_sensitive);
        // Releasing an open task and completing it from open never look at the clock.
        assert!(!ts(l.write(v, &a, one(release(&t.id)))));
        // A claim records ledger time; a competing claim must ask whether it expired.
        assert!(ts(l.write(v, &a, one(claim(&t.id)))));
        assert!(ts(l.write(v, &b, one(claim(&t.id)))));
        assert!(ts(l.write(v, &a, one(complete(&t.id, None)))));
        let u = l.write(v, &a, one(task("u")));
        assert!(!ts(l.write(v, &a, one(complete(&u.id, None)))));
        assert!(!ts(l.write(v, &a, one(claim(&u.id)))));
        // Membership changes do not depend on time; invites do.
        assert!(!ts(l.write(v, &creator(), one(remove_member(&b.public())))));
        let nonce = [4u8; 24];
        let mint = Op::InviteMint(wire::InviteMint {
            nonce_hash: invite_nonce_hash(&nonce).to_vec(),
            expires_at_ms: 1_000_000,
            issuer_display: None,
        });
        assert!(ts(l.write(v, &creator(), one(mint))));
    });
}
