//! Entry bodies, and entries built by hand: what a buggy or malicious writer could send.
//!
//! A local `append` refuses writers that are not members; [`next_entry`] builds the same entry
//! `append` would, without asking, so a removed writer or an outsider can still publish. The
//! `tamper_*` and `resign_*` functions make the forgeries validation must reject.

use openpact_ledger::entry::{Draft, EntryRef, sign};
use openpact_ledger::{EntryHash, Ledger, MemberKey, PactId, Signer, wire};
use prost::Message as _;

use super::inspect::{self, Decoded};

fn op(op: wire::op::Op) -> wire::Body {
    wire::Body {
        ops: vec![wire::Op { op: Some(op) }],
        display_name: None,
    }
}

/// A null entry: the creator's anchor.
pub fn null() -> wire::Body {
    wire::Body::default()
}

/// A piece of knowledge.
pub fn knowledge(topic: &str, content: &str) -> wire::Body {
    op(wire::op::Op::Knowledge(wire::Knowledge {
        topic: topic.into(),
        content: content.into(),
        ..Default::default()
    }))
}

/// A new task.
pub fn task_create(title: &str) -> wire::Body {
    op(wire::op::Op::TaskCreate(wire::TaskCreate {
        title: title.into(),
        ..Default::default()
    }))
}

/// A claim of task `id` (the API id of its create entry).
pub fn claim(id: &str) -> wire::Body {
    op(wire::op::Op::TaskClaim(wire::TaskClaim {
        task_id: id.into(),
    }))
}

/// Completes task `id`.
pub fn complete(id: &str) -> wire::Body {
    op(wire::op::Op::TaskComplete(wire::TaskComplete {
        task_id: id.into(),
        result: Some("done".into()),
    }))
}

/// Releases task `id`.
pub fn release(id: &str) -> wire::Body {
    op(wire::op::Op::TaskRelease(wire::TaskRelease {
        task_id: id.into(),
    }))
}

/// Admits `key`; its entries below `from_seq` ordered after this are dropped.
pub fn add_member(key: &MemberKey, from_seq: u64) -> wire::Body {
    op(wire::op::Op::AddMember(wire::AddMember {
        key: key.0.to_vec(),
        from_seq,
    }))
}

/// Removes `key`.
pub fn remove_member(key: &MemberKey) -> wire::Body {
    op(wire::op::Op::RemoveMember(wire::RemoveMember {
        key: key.0.to_vec(),
    }))
}

/// A fork proof from two entries by one author at one seq.
pub fn report_fork(a: &[u8], b: &[u8]) -> wire::Body {
    let a = wire::SignedEntry::decode(a).expect("entry a");
    let b = wire::SignedEntry::decode(b).expect("entry b");
    op(wire::op::Op::ReportFork(wire::ReportFork {
        header_a: a.header,
        signature_a: a.signature,
        header_b: b.header,
        signature_b: b.signature,
    }))
}

/// The draft of a stored entry, to re-sign with changes.
pub fn draft_of(d: &Decoded) -> Draft {
    Draft {
        pact: PactId::from_slice(&d.header.pact).expect("pact"),
        seq: d.header.seq,
        prev: d.prev(),
        deps: d
            .header
            .deps
            .iter()
            .map(|r| EntryRef {
                author: MemberKey::from_slice(&r.author).expect("dep author"),
                seq: r.seq,
                hash: EntryHash::from_slice(&r.hash).expect("dep hash"),
            })
            .collect(),
        lamport: d.header.lamport,
        epoch: d.header.epoch,
        time_ms: d.header.time_ms,
        body: d.body.clone(),
    }
}

/// The entry `signer` would append next on `ledger`: its next seq after its first-branch head,
/// deps on the other authors' heads (most recent first, at most `cap`), lamport one above.
pub fn next_entry(
    ledger: &Ledger,
    signer: &Signer,
    body: wire::Body,
    now_ms: u64,
    cap: usize,
) -> (EntryHash, Vec<u8>) {
    let author = signer.public();
    let lamport_of = |h: &EntryHash| -> (u64, MemberKey, u64) {
        let d = Decoded::new(&inspect::entry_bytes(ledger, h).expect("stored entry"));
        (d.header.lamport, d.author(), d.header.seq)
    };
    let own = inspect::own_head(ledger, &author);
    let (seq, prev, mut lamport) = match own {
        Some((s, h)) => (s + 1, Some(h), lamport_of(&h).0),
        None => (0, None, 0),
    };
    let mut heads: Vec<(u64, EntryHash, MemberKey, u64)> = inspect::heads(ledger)
        .into_iter()
        .map(|(h, l)| {
            let (_, a, s) = lamport_of(&h);
            (l, h, a, s)
        })
        .filter(|(_, _, a, _)| *a != author)
        .collect();
    heads.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    heads.truncate(cap);
    let mut deps = Vec::new();
    for (l, h, a, s) in heads {
        lamport = lamport.max(l);
        deps.push(EntryRef {
            author: a,
            seq: s,
            hash: h,
        });
    }
    let e = sign(
        signer,
        Draft {
            pact: ledger.pact_id(),
            seq,
            prev,
            deps,
            lamport: lamport + 1,
            epoch: 0,
            time_ms: now_ms,
            body,
        },
    );
    (e.hash, e.bytes)
}

/// The entry with one bit of its signature flipped.
pub fn tamper_signature(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut s = wire::SignedEntry::decode(bytes).expect("entry");
    let i = (bit / 8) % s.signature.len();
    s.signature[i] ^= 1 << (bit % 8);
    s.encode_to_vec()
}

/// The entry with an unknown field appended: it decodes, but is not the canonical encoding.
pub fn non_canonical(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    // Field 15, varint 1.
    b.extend_from_slice(&[0x78, 0x01]);
    b
}

/// The entry re-signed by its author after `change` edits its draft.
pub fn resign(
    signer: &Signer,
    bytes: &[u8],
    change: impl FnOnce(&mut Draft),
) -> (EntryHash, Vec<u8>) {
    let d = Decoded::new(bytes);
    assert_eq!(
        d.author(),
        signer.public(),
        "re-signing needs the author's key"
    );
    let mut draft = draft_of(&d);
    change(&mut draft);
    let e = sign(signer, draft);
    (e.hash, e.bytes)
}

/// `n` deps on made-up entries by made-up authors (sorted, unique, none by `author`).
pub fn fake_deps(n: usize, author: &MemberKey) -> Vec<EntryRef> {
    (0..n)
        .map(|i| {
            let mut a = [0u8; 32];
            a[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            a[31] = 0x5a;
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_be_bytes());
            EntryRef {
                author: MemberKey(a),
                seq: i as u64,
                hash: EntryHash(h),
            }
        })
        .filter(|r| r.author != *author)
        .collect()
}
