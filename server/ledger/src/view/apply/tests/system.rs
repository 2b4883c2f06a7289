//! System ops: membership, the indexer set, pact info, invites and fork reports.

use super::*;
use crate::entry::{Draft, sign};

/// A usable member key equal to `base` except at byte `at`.
fn key_differing_at(base: &MemberKey, at: usize) -> MemberKey {
    (0..=255u8)
        .map(|b| {
            let mut k = base.0;
            k[at] = b;
            MemberKey(k)
        })
        .find(|k| k != base && k.verifying_key().is_some_and(|vk| !vk.is_weak()))
        .expect("a valid point nearby")
}

fn accept() -> Op {
    Op::AcceptIndexer(wire::AcceptIndexer {})
}

fn set_indexers(keys: &[MemberKey]) -> Op {
    Op::SetIndexers(wire::SetIndexers {
        keys: keys.iter().map(|k| k.0.to_vec()).collect(),
    })
}

fn mint(nonce: &[u8], expires_at_ms: u64) -> Op {
    Op::InviteMint(wire::InviteMint {
        nonce_hash: invite_nonce_hash(nonce).to_vec(),
        expires_at_ms,
        issuer_display: Some("Ada".into()),
    })
}

fn revoke(nonce: &[u8]) -> Op {
    Op::InviteRevoke(wire::InviteRevoke {
        nonce_hash: invite_nonce_hash(nonce).to_vec(),
    })
}

fn redeem(nonce: &[u8], key: &MemberKey) -> wire::Body {
    many(vec![
        Op::RedeemInvite(wire::RedeemInvite {
            nonce: nonce.to_vec(),
        }),
        add_member(key, 3),
    ])
}

// ---- members ----

#[test]
fn only_indexers_add_members() {
    with_pact(|v, l| {
        let carol = signer(4).public();
        assert_eq!(
            l.write(v, &alice(), one(add_member(&carol, 0))).outcome,
            rej(Code::NotIndexer)
        );
        let r = l.write(v, &creator(), one(add_member(&carol, 2)));
        assert_eq!((r.outcome, r.time_sensitive), (Outcome::Applied, false));
        let m = member_row(v, &carol);
        assert!(m.active && !m.creator && !m.accepted_indexer);
        assert_eq!((m.added_pos, m.from_seq), (r.pos, 2));
    });
}

#[test]
fn added_key_must_be_a_usable_ed25519_key() {
    let add = |key: Vec<u8>| check_body(&one(Op::AddMember(wire::AddMember { key, from_seq: 0 })));
    assert_eq!(add(alice().public().0.to_vec()), Ok(()));
    assert_eq!(add(vec![7; 31]), Err(Code::BadEntry));
    let not_a_point = (0..=255u8)
        .map(|b| MemberKey([b; 32]))
        .find(|k| k.verifying_key().is_none())
        .expect("some byte pattern is off the curve");
    assert_eq!(add(not_a_point.0.to_vec()), Err(Code::BadEntry));
    // The identity point has small order.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(add(identity.to_vec()), Err(Code::BadEntry));
}

#[test]
fn adding_an_active_member_again_changes_nothing() {
    with_pact(|v, l| {
        let before = v.digest();
        let r = l.write(v, &creator(), one(add_member(&alice().public(), 9)));
        assert_eq!(r.outcome, Outcome::Applied);
        assert_eq!(v.digest(), before);
        assert_eq!(member_row(v, &alice().public()).from_seq, 0);
    });
}

#[test]
fn handle_collision_is_rejected() {
    with_pact(|v, l| {
        let a = alice().public();
        // Byte 1 is in the 8-hex prefix but not in the handle.
        let twin = key_differing_at(&a, 1);
        assert_eq!(twin.handle(), a.handle());
        assert_ne!(twin.short(), a.short());
        let before = v.digest();
        assert_eq!(
            l.write(v, &creator(), one(add_member(&twin, 0))).outcome,
            rej(Code::BadEntry)
        );
        assert_eq!(v.digest(), before);
    });
}

#[test]
fn key_prefix_collision_is_rejected_even_after_removal() {
    with_pact(|v, l| {
        let a = alice().public();
        l.write(v, &creator(), one(remove_member(&a)));
        // Byte 5 is in the handle but not in the 8-hex prefix.
        let twin = key_differing_at(&a, 5);
        assert_eq!(twin.short(), a.short());
        assert_ne!(twin.handle(), a.handle());
        assert_eq!(
            l.write(v, &creator(), one(add_member(&twin, 0))).outcome,
            rej(Code::BadEntry)
        );
    });
}

#[test]
fn removed_member_is_readmitted_and_keeps_its_name() {
    with_pact(|v, l| {
        let a = alice().public();
        l.write(v, &alice(), named(one(accept()), "Ada"));
        l.write(v, &creator(), one(remove_member(&a)));
        let r = l.write(v, &creator(), one(add_member(&a, 4)));
        assert_eq!(r.outcome, Outcome::Applied);
        let m = member_row(v, &a);
        assert!(m.active && !m.accepted_indexer);
        assert_eq!((m.added_pos, m.from_seq, m.removed_pos), (r.pos, 4, None));
        assert_eq!(m.display_name.as_deref(), Some("Ada"));
    });
}

#[test]
fn last_indexer_cannot_be_removed() {
    with_pact(|v, l| {
        let c = creator();
        let before = v.digest();
        assert_eq!(
            l.write(v, &c, one(remove_member(&c.public()))).outcome,
            rej(Code::LastIndexer)
        );
        assert_eq!(v.digest(), before);
        assert!(member_row(v, &c.public()).active);
    });
}

#[test]
fn member_may_remove_itself_but_not_others() {
    with_pact(|v, l| {
        let (a, b) = (alice(), bob());
        assert_eq!(
            l.write(v, &a, one(remove_member(&b.public()))).outcome,
            rej(Code::NotIndexer)
        );
        assert_eq!(
            l.write(v, &a, one(remove_member(&a.public()))).outcome,
            Outcome::Applied
        );
        assert!(!member_row(v, &a.public()).active);
        assert!(member_row(v, &b.public()).active);
    });
}

#[test]
fn removing_a_non_member_is_not_a_member() {
    with_pact(|v, l| {
        let c = creator();
        let stranger = signer(50).public();
        assert_eq!(
            l.write(v, &c, one(remove_member(&stranger))).outcome,
            rej(Code::NotAMember)
        );
        l.write(v, &c, one(remove_member(&alice().public())));
        assert_eq!(
            l.write(v, &c, one(remove_member(&alice().public())))
                .outcome,
            rej(Code::NotAMember)
        );
        assert_eq!(
            check_body(&one(Op::RemoveMember(wire::RemoveMember { key: vec![1] }))),
            Err(Code::BadEntry)
        );
    });
}

// ---- indexers ----

#[test]
fn indexer_handover_needs_consent() {
    with_pact(|v, l| {
        let (c, a, b) = (creator(), alice(), bob());
        let r = l.write(v, &c, one(set_indexers(&[a.public()])));
        assert_eq!(r.outcome, rej(Code::NotConfirmed));
        assert_eq!(l.write(v, &a, one(accept())).outcome, Outcome::Applied);
        assert!(member_row(v, &a.public()).accepted_indexer);
        assert_eq!(
            l.write(v, &b, one(set_indexers(&[b.public()]))).outcome,
            rej(Code::NotIndexer)
        );
        let r = l.write(v, &c, one(set_indexers(&[a.public()])));
        assert_eq!(
            (r.outcome, r.new_indexers),
            (Outcome::Applied, Some(vec![a.public()]))
        );
        assert_eq!(pact(v).indexers, vec![a.public().0.to_vec()]);
        // Authority moved with it.
        let carol = signer(4).public();
        assert_eq!(
            l.write(v, &c, one(add_member(&carol, 0))).outcome,
            rej(Code::NotIndexer)
        );
        assert_eq!(
            l.write(v, &a, one(add_member(&carol, 0))).outcome,
            Outcome::Applied
        );
        // The former indexer is an ordinary member now and can be removed.
        assert_eq!(
            l.write(v, &a, one(remove_member(&c.public()))).outcome,
            Outcome::Applied
        );
    });
}

#[test]
fn indexer_set_rules() {
    with_pact(|v, l| {
        let (c, a) = (creator(), alice());
        l.write(v, &a, one(accept()));
        let two = l.write(v, &c, one(set_indexers(&[c.public(), a.public()])));
        assert_eq!(two.outcome, rej(Code::NotSupportedYet));
        let dup = set_indexers(&[a.public(), a.public()]);
        assert_eq!(l.write(v, &c, one(dup)).outcome, rej(Code::BadEntry));
        assert_eq!(
            l.write(v, &c, one(set_indexers(&[]))).outcome,
            rej(Code::BadEntry)
        );
        let stranger = signer(50).public();
        assert_eq!(
            l.write(v, &c, one(set_indexers(&[stranger]))).outcome,
            rej(Code::NotAMember)
        );
        // Naming the current set changes nothing.
        let same = l.write(v, &c, one(set_indexers(&[c.public()])));
        assert_eq!((same.outcome, same.new_indexers), (Outcome::Applied, None));
        // Removing an indexer among several is for later; with one it is the last.
        l.write(v, &c, one(set_indexers(&[a.public()])));
        assert_eq!(
            l.write(v, &a, one(remove_member(&a.public()))).outcome,
            rej(Code::LastIndexer)
        );
    });
}

#[test]
fn pact_info_changes_name_purpose_and_ttl() {
    with_pact(|v, l| {
        let c = creator();
        let r = l.write(
            v,
            &c,
            one(pact_info(
                Some(Some("Coven")),
                Some(Some("Brew")),
                Some(60_000),
            )),
        );
        assert_eq!(r.outcome, Outcome::Applied);
        let p = pact(v);
        assert_eq!(
            (p.name.as_str(), p.purpose.as_deref(), p.claim_ttl_ms),
            ("Coven", Some("Brew"), 60_000)
        );
        // Absent fields stay; a purpose can be cleared; a name cannot.
        assert_eq!(
            l.write(v, &c, one(pact_info(None, Some(None), None)))
                .outcome,
            Outcome::Applied
        );
        assert_eq!((pact(v).name.as_str(), pact(v).purpose), ("Coven", None));
        assert_eq!(
            l.write(v, &c, one(pact_info(Some(None), None, None)))
                .outcome,
            rej(Code::BadEntry)
        );
        assert_eq!(
            l.write(v, &c, one(pact_info(Some(Some("")), None, None)))
                .outcome,
            rej(Code::BadEntry)
        );
        let long = "n".repeat(65);
        assert_eq!(
            l.write(v, &c, one(pact_info(Some(Some(&long)), None, None)))
                .outcome,
            rej(Code::BadEntry)
        );
        assert_eq!(
            l.write(v, &c, one(pact_info(None, None, Some(999))))
                .outcome,
            rej(Code::BadEntry)
        );
        let by_member = l.write(v, &alice(), one(pact_info(Some(Some("Mine")), None, None)));
        assert_eq!(by_member.outcome, rej(Code::NotIndexer));
        assert_eq!(pact(v).claim_ttl_ms, 60_000);
    });
}

// ---- invites ----

#[test]
fn redeeming_a_minted_invite_admits_the_member() {
    with_pact(|v, l| {
        let (c, carol) = (creator(), signer(4).public());
        let nonce = [7u8; 24];
        l.time = 2_000;
        let m = l.write(v, &c, one(mint(&nonce, 10_000)));
        assert_eq!((m.outcome, m.time_sensitive), (Outcome::Applied, true));
        let row = invite_row(v, &nonce);
        assert_eq!(
            (row.expires_at_ms, row.minted_pos, row.minted_at),
            (10_000, m.pos, 2_000)
        );
        assert_eq!(
            (row.issuer, row.issuer_display.as_deref()),
            (c.public().0.to_vec(), Some("Ada"))
        );
        let order = v
            .get(ViewTable::InviteOrder, &pos_key(m.pos))
            .expect("read");
        assert_eq!(order, Some(invite_nonce_hash(&nonce).to_vec()));
        l.time = 9_999;
        let r = l.write(v, &c, redeem(&nonce, &carol));
        assert_eq!((r.outcome, r.time_sensitive), (Outcome::Applied, true));
        let row = invite_row(v, &nonce);
        assert_eq!(
            (row.spent_by, row.spent_at),
            (carol.0.to_vec(), Some(9_999))
        );
        let m = member_row(v, &carol);
        assert_eq!((m.active, m.from_seq), (true, 3));
        // A second redeem of the same nonce, even for another key, is refused.
        let again = l.write(v, &c, redeem(&nonce, &signer(5).public()));
        assert_eq!(again.outcome, rej(Code::InviteSpent));
    });
}

#[test]
fn revoked_and_unknown_invites_are_rejected() {
    with_pact(|v, l| {
        let c = creator();
        let (nonce, carol) = ([7u8; 24], signer(4).public());
        assert_eq!(
            l.write(v, &c, redeem(&nonce, &carol)).outcome,
            rej(Code::UnknownInvite)
        );
        assert_eq!(
            l.write(v, &c, one(revoke(&nonce))).outcome,
            rej(Code::UnknownInvite)
        );
        l.write(v, &c, one(mint(&nonce, u64::MAX)));
        assert_eq!(
            l.write(v, &alice(), one(revoke(&nonce))).outcome,
            rej(Code::NotIndexer)
        );
        assert_eq!(
            l.write(v, &c, one(revoke(&nonce))).outcome,
            Outcome::Applied
        );
        assert!(invite_row(v, &nonce).revoked);
        // Revoking again is fine and changes nothing.
        let before = v.digest();
        assert_eq!(
            l.write(v, &c, one(revoke(&nonce))).outcome,
            Outcome::Applied
        );
        assert_eq!(v.digest(), before);
        assert_eq!(
            l.write(v, &c, redeem(&nonce, &carol)).outcome,
            rej(Code::InviteRevoked)
        );
        assert!(!has(v, ViewTable::Members, &carol.0));
    });
}

#[test]
fn expired_invite_is_rejected_and_nothing_changes() {
    with_pact(|v, l| {
        let c = creator();
        let (nonce, carol) = ([7u8; 24], signer(4).public());
        l.write(v, &c, one(mint(&nonce, 10_000)));
        l.time = 10_000;
        let before = v.digest();
        let r = l.write(v, &c, redeem(&nonce, &carol));
        assert_eq!(
            (r.outcome, r.time_sensitive),
            (rej(Code::InviteExpired), true)
        );
        assert_eq!(v.digest(), before);
        assert_eq!(invite_row(v, &nonce).spent_at, None);
        assert!(!has(v, ViewTable::Members, &carol.0));
    });
}

#[test]
fn redeem_is_all_or_nothing() {
    with_pact(|v, l| {
        let c = creator();
        let nonce = [7u8; 24];
        l.write(v, &c, one(mint(&nonce, u64::MAX)));
        let before = v.digest();
        // The invite checks pass but the AddMember fails: the invite stays unspent.
        let twin = key_differing_at(&alice().public(), 1);
        assert_eq!(
            l.write(v, &c, redeem(&nonce, &twin)).outcome,
            rej(Code::BadEntry)
        );
        assert_eq!(v.digest(), before);
        assert!(invite_row(v, &nonce).spent_by.is_empty());
        let carol = signer(4).public();
        assert_eq!(
            l.write(v, &c, redeem(&nonce, &carol)).outcome,
            Outcome::Applied
        );
    });
}

#[test]
fn invite_op_shapes_are_checked() {
    let redeem_only = one(Op::RedeemInvite(wire::RedeemInvite { nonce: vec![7; 24] }));
    assert_eq!(check_body(&redeem_only), Err(Code::BadEntry));
    let carol = signer(4).public();
    let reversed = many(vec![
        add_member(&carol, 0),
        Op::RedeemInvite(wire::RedeemInvite { nonce: vec![7; 24] }),
    ]);
    assert_eq!(check_body(&reversed), Err(Code::BadEntry));
    let short = many(vec![
        Op::RedeemInvite(wire::RedeemInvite { nonce: vec![7; 16] }),
        add_member(&carol, 0),
    ]);
    assert_eq!(check_body(&short), Err(Code::BadEntry));
    assert_eq!(check_body(&redeem(&[7; 24], &carol)), Ok(()));
    let two_mints = many(vec![mint(&[1; 24], 5), mint(&[2; 24], 5)]);
    assert_eq!(check_body(&two_mints), Err(Code::BadEntry));
    let bad_hash = Op::InviteMint(wire::InviteMint {
        nonce_hash: vec![1; 31],
        ..Default::default()
    });
    assert_eq!(check_body(&one(bad_hash)), Err(Code::BadEntry));
    with_pact(|v, l| {
        let c = creator();
        assert_eq!(
            l.write(v, &alice(), one(mint(&[1; 24], 5))).outcome,
            rej(Code::NotIndexer)
        );
        assert_eq!(
            l.write(v, &c, one(mint(&[1; 24], 5))).outcome,
            Outcome::Applied
        );
        assert_eq!(
            l.write(v, &c, one(mint(&[1; 24], 9))).outcome,
            rej(Code::BadEntry)
        );
    });
}

#[test]
fn invite_nonce_hash_is_keyed_and_deterministic() {
    let n = [3u8; 24];
    assert_eq!(invite_nonce_hash(&n), invite_nonce_hash(&n));
    assert_ne!(invite_nonce_hash(&n), *blake3::hash(&n).as_bytes());
    assert_ne!(invite_nonce_hash(&n), invite_nonce_hash(&[4u8; 24]));
}

// ---- forks ----

/// Two different entries by `who` at one seq, as a fork report.
fn fork_report(who: &Signer, pact: PactId, seq: u64) -> wire::ReportFork {
    let draft = |time_ms| Draft {
        pact,
        seq,
        prev: Some(EntryHash([7; 32])),
        deps: vec![],
        lamport: 2,
        epoch: 0,
        time_ms,
        body: wire::Body::default(),
    };
    let (a, b) = (sign(who, draft(1)), sign(who, draft(2)));
    wire::ReportFork {
        header_a: a.header_bytes,
        signature_a: a.signature.to_vec(),
        header_b: b.header_bytes,
        signature_b: b.signature.to_vec(),
    }
}

#[test]
fn frozen_author_is_dropped() {
    with_pact(|v, l| {
        let (a, b) = (alice(), bob());
        let r = l.write(v, &b, one(Op::ReportFork(fork_report(&a, PACT, 1))));
        assert_eq!((r.outcome, r.time_sensitive), (Outcome::Applied, false));
        assert_eq!(
            v.get(ViewTable::Frozen, &a.public().0).expect("read"),
            Some(pos_key(r.pos).to_vec())
        );
        let before = v.digest();
        let dropped = l.write(v, &a, one(knowledge("t", "c")));
        assert_eq!(dropped.outcome, Outcome::Dropped(DropReason::Frozen));
        // A second report changes nothing.
        assert_eq!(
            l.write(v, &b, one(Op::ReportFork(fork_report(&a, PACT, 2))))
                .outcome,
            Outcome::Applied
        );
        assert_eq!(v.digest(), before);
        // Frozen is checked before membership.
        l.write(v, &creator(), one(remove_member(&a.public())));
        let dropped = l.write(v, &a, one(knowledge("t", "c")));
        assert_eq!(dropped.outcome, Outcome::Dropped(DropReason::Frozen));
    });
}

#[test]
fn bad_fork_proofs_are_rejected() {
    with_pact(|v, l| {
        let (a, b) = (alice(), bob());
        let report = |f: wire::ReportFork| one(Op::ReportFork(f));
        let same = wire::ReportFork {
            header_b: fork_report(&a, PACT, 1).header_a,
            signature_b: fork_report(&a, PACT, 1).signature_a,
            ..fork_report(&a, PACT, 1)
        };
        let other_seq = wire::ReportFork {
            header_b: fork_report(&a, PACT, 2).header_b,
            signature_b: fork_report(&a, PACT, 2).signature_b,
            ..fork_report(&a, PACT, 1)
        };
        let other_author = wire::ReportFork {
            header_b: fork_report(&b, PACT, 1).header_b,
            signature_b: fork_report(&b, PACT, 1).signature_b,
            ..fork_report(&a, PACT, 1)
        };
        let mut forged = fork_report(&a, PACT, 1);
        forged.signature_b[0] ^= 1;
        for f in [same, other_seq, other_author, forged] {
            assert_eq!(check_body(&report(f.clone())), Err(Code::BadEntry));
            assert_eq!(l.write(v, &b, report(f)).outcome, rej(Code::BadEntry));
        }
        // A valid proof from another pact passes the schema but not apply.
        let foreign = fork_report(&a, PactId([8; 32]), 1);
        assert_eq!(check_body(&report(foreign.clone())), Ok(()));
        assert_eq!(l.write(v, &b, report(foreign)).outcome, rej(Code::BadEntry));
        assert!(!has(v, ViewTable::Frozen, &a.public().0));
    });
}
