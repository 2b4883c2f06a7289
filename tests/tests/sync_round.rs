//! Two real ledgers replicate over real QUIC on loopback: the creator's log reaches a new member
//! through the sync opening and a pull round, the member's entries reach the creator the same
//! way, and after the creator's anchor travels back both hold the same order. A stranger is
//! refused before anything moves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use openpact_ledger::{
    Ingested, Ledger, ManualClock, MemberKey, PactParams, Signer, Writer, WriterConfig, wire,
};
use openpact_p2p::hello::{self, Membership};
use openpact_p2p::sync::{self, Head, LogStore};
use openpact_p2p::{ALPN_SYNC, Endpoint, HostKey};
use redb::backends::InMemoryBackend;

fn db() -> redb::Database {
    redb::Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .expect("in-memory db")
}

/// A peer: its writer over a real ledger, its member key.
struct Peer {
    writer: Writer,
    seed: [u8; 32],
    /// Counts the bytes this peer serves (up) and stores from others (down), when set.
    gauge: std::sync::OnceLock<Arc<Gauge>>,
}

/// Bytes of entries that a serving peer handed out and the pulling peer has not stored yet:
/// now, and the most at any moment.
#[derive(Default)]
struct Gauge {
    now: AtomicI64,
    max: AtomicI64,
}

impl Gauge {
    fn add(&self, bytes: i64) {
        let now = self.now.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
}

fn bytes_of(entries: &[Vec<u8>]) -> i64 {
    entries.iter().map(|e| e.len() as i64).sum()
}

impl Peer {
    fn spawn(ledger: Ledger, seed: [u8; 32]) -> Peer {
        let writer = Writer::spawn(
            ledger,
            Signer::from_seed(seed),
            Arc::new(ManualClock::new(1_000)),
            WriterConfig {
                anchor_debounce: None,
                ..WriterConfig::default()
            },
            Box::new(|_| {}),
        )
        .expect("writer");
        Peer {
            writer,
            seed,
            gauge: std::sync::OnceLock::new(),
        }
    }

    fn record(&self, content: &str) {
        self.writer
            .append(wire::Body {
                ops: vec![wire::Op {
                    op: Some(wire::op::Op::Knowledge(wire::Knowledge {
                        topic: "sync".into(),
                        content: content.into(),
                        ..Default::default()
                    })),
                }],
                display_name: None,
            })
            .expect("append");
    }

    fn contents(&self) -> Vec<String> {
        let r = self.writer.reader().expect("reader");
        let mut q =
            openpact_ledger::view::read::ListQuery::new(openpact_ledger::view::Kind::Knowledge);
        q.limit = 1000;
        r.list(&q)
            .expect("list")
            .items
            .into_iter()
            .filter_map(|e| match e.op {
                Some(wire::op::Op::Knowledge(k)) => Some(k.content),
                _ => None,
            })
            .collect()
    }
}

/// The store sync sees: the ledger behind the writer, as the daemon will wire it.
impl LogStore for Peer {
    fn frontier(&self) -> Result<Vec<Head>, String> {
        let r = self.writer.reader().map_err(|e| e.to_string())?;
        Ok(r.frontier()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(author, seq, hash)| Head {
                author: author.0,
                seq,
                hash: hash.0,
            })
            .collect())
    }

    fn range(
        &self,
        author: &[u8; 32],
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, String> {
        let r = self.writer.reader().map_err(|e| e.to_string())?;
        let entries = r
            .log_range(&MemberKey(*author), from_seq, limit)
            .map_err(|e| e.to_string())?;
        if let Some(g) = self.gauge.get() {
            g.add(bytes_of(&entries));
        }
        Ok(entries)
    }

    async fn ingest(&self, entries: Vec<Vec<u8>>) -> Result<(), String> {
        let bytes = bytes_of(&entries);
        let results = self
            .writer
            .ingest_async(entries)
            .await
            .map_err(|_| "the writer stopped".to_string())?
            .map_err(|e| e.to_string())?;
        if let Some(g) = self.gauge.get() {
            g.add(-bytes);
        }
        match results.iter().find(|r| matches!(r, Ingested::Invalid(_))) {
            Some(bad) => Err(format!("{bad:?}")),
            None => Ok(()),
        }
    }
}

impl Membership for Peer {
    fn member_key(&self, pact: &[u8; 32]) -> Option<SigningKey> {
        (*pact == self.writer.pact_id().0).then(|| SigningKey::from_bytes(&self.seed))
    }

    fn is_active_member(&self, pact: &[u8; 32], member: &[u8; 32]) -> bool {
        *pact == self.writer.pact_id().0
            && self.writer.reader().is_ok_and(|r| {
                r.members()
                    .is_ok_and(|ms| ms.iter().any(|m| m.key.0 == *member && m.active))
            })
    }
}

/// One sync round between `listener` and `dialer` over fresh endpoints; what each pulled.
async fn round<L: LogStore + Membership + 'static>(
    listener: Arc<L>,
    dialer: Arc<Peer>,
    as_member: [u8; 32],
) -> Result<(u64, u64), String> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let le = Endpoint::bind(loopback, HostKey::from_seed([50; 32])).map_err(|e| e.to_string())?;
    let de = Endpoint::bind(loopback, HostKey::from_seed([51; 32])).map_err(|e| e.to_string())?;
    let addr = le.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let conn = le
            .accept()
            .await
            .ok_or("closed")?
            .map_err(|e| e.to_string())?;
        let mut session = hello::answer(&conn, &*listener)
            .await
            .map_err(|e| e.to_string())?;
        let stats = sync::round(&conn, &mut session, &*listener, false)
            .await
            .map_err(|e| e.to_string())?;
        // A round does not end the connection: hand it back so it lives until both ends are
        // done (closing drops whatever is still in flight).
        Ok::<_, String>((stats.pulled, conn, le))
    });
    let conn = de
        .connect(addr, None, ALPN_SYNC)
        .await
        .map_err(|e| e.to_string())?;
    let pact = dialer.writer.pact_id().0;
    let dialed = async {
        let mut session = hello::dial(&conn, pact, &SigningKey::from_bytes(&as_member))
            .await
            .map_err(|e| e.to_string())?;
        sync::round(&conn, &mut session, &*dialer, true)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    // The round is over once both ends say so; only then do they hang up.
    let served = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .map_err(|_| "the listener hung".to_string())?
        .map_err(|e| e.to_string())?;
    conn.conn.close(0u32.into(), b"done");
    let served = served.map(|(pulled, listener_conn, _endpoint)| {
        listener_conn.conn.close(0u32.into(), b"done");
        pulled
    });
    match (served, dialed) {
        (Ok(served), Ok(dialed)) => Ok((served, dialed.pulled)),
        (served, dialed) => Err(format!("listener: {served:?}; dialer: {dialed:?}")),
    }
}

/// A pact created by `creator_seed` that admitted `member_seed`: the creator's peer, and a new
/// peer of the member that holds nothing yet.
fn pact_with_member(
    name: &str,
    creator_seed: [u8; 32],
    member_seed: [u8; 32],
) -> (Arc<Peer>, Arc<Peer>) {
    let genesis = Ledger::create(
        db(),
        &Signer::from_seed(creator_seed),
        PactParams::named(name),
        1_000,
        [9; 32],
    )
    .expect("create");
    let pact = genesis.pact_id();
    let creator = Arc::new(Peer::spawn(genesis, creator_seed));
    creator
        .writer
        .append(wire::Body {
            ops: vec![wire::Op {
                op: Some(wire::op::Op::AddMember(wire::AddMember {
                    key: Signer::from_seed(member_seed).public().0.to_vec(),
                    from_seq: 0,
                })),
            }],
            display_name: None,
        })
        .expect("admit the member");
    let member = Arc::new(Peer::spawn(
        Ledger::join(db(), pact).expect("join"),
        member_seed,
    ));
    (creator, member)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_ledgers_converge_over_quic() {
    let (creator_seed, member_seed) = ([1u8; 32], [2u8; 32]);
    let creator_key = Signer::from_seed(creator_seed).public();
    let (a, b) = pact_with_member("sync", creator_seed, member_seed);
    for i in 0..300 {
        a.record(&format!("from the creator {i}"));
    }
    assert!(b.contents().is_empty());

    // The member dials the creator and pulls its whole log (more than one range of 256).
    let (creator_pulled, member_pulled) = round(a.clone(), b.clone(), member_seed)
        .await
        .expect("round 1");
    assert_eq!(creator_pulled, 0);
    assert_eq!(member_pulled, 302, "genesis, the admission and 300 entries");
    assert_eq!(b.contents(), a.contents());

    // The member writes; the next round carries it to the creator.
    for i in 0..3 {
        b.record(&format!("from the member {i}"));
    }
    let (creator_pulled, _) = round(a.clone(), b.clone(), member_seed)
        .await
        .expect("round 2");
    assert_eq!(creator_pulled, 3);
    // The creator's next entry anchors the member's; one more round brings it back.
    a.record("anchor");
    round(a.clone(), b.clone(), member_seed)
        .await
        .expect("round 3");
    assert_eq!(
        a.contents(),
        b.contents(),
        "the same entries in the same order"
    );
    assert_eq!(a.contents().len(), 304);
    let (ra, rb) = (a.writer.reader().expect("r"), b.writer.reader().expect("r"));
    assert_eq!(ra.frontier().expect("f"), rb.frontier().expect("f"));
    assert!(
        ra.frontier()
            .expect("f")
            .iter()
            .any(|(k, _, _)| *k == creator_key)
    );

    // A key the pact never admitted cannot even open a session.
    let stranger = round(a.clone(), b.clone(), [3u8; 32]).await;
    let e = stranger.expect_err("a stranger is refused");
    assert!(e.contains("NOT_A_MEMBER"), "{e}");
}

/// A member's daemon that serves its log with one byte of every entry changed.
struct Liar(Arc<Peer>);

impl LogStore for Liar {
    fn frontier(&self) -> Result<Vec<Head>, String> {
        self.0.frontier()
    }

    fn range(
        &self,
        author: &[u8; 32],
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, String> {
        let mut entries = self.0.range(author, from_seq, limit)?;
        for e in &mut entries {
            if let Some(last) = e.last_mut() {
                *last ^= 0x01;
            }
        }
        Ok(entries)
    }

    async fn ingest(&self, entries: Vec<Vec<u8>>) -> Result<(), String> {
        self.0.ingest(entries).await
    }
}

impl Membership for Liar {
    fn member_key(&self, pact: &[u8; 32]) -> Option<SigningKey> {
        self.0.member_key(pact)
    }

    fn is_active_member(&self, pact: &[u8; 32], member: &[u8; 32]) -> bool {
        self.0.is_active_member(pact, member)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_that_do_not_verify_end_the_round_and_nothing_is_applied() {
    let (creator_seed, member_seed) = ([4u8; 32], [5u8; 32]);
    let (a, b) = pact_with_member("forged", creator_seed, member_seed);
    a.record("true");
    let e = round(Arc::new(Liar(a.clone())), b.clone(), member_seed)
        .await
        .expect_err("forged entries end the round");
    assert!(
        e.contains("BAD_ENTRY") && e.contains("do not verify"),
        "{e}"
    );
    assert!(
        b.frontier().expect("frontier").is_empty(),
        "nothing was stored"
    );
    assert!(b.contents().is_empty());
    // The honest log still syncs afterwards.
    round(a.clone(), b.clone(), member_seed)
        .await
        .expect("honest round");
    assert_eq!(b.contents(), vec!["true".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_of_large_entries_holds_no_more_than_its_budget() {
    let (creator_seed, member_seed) = ([6u8; 32], [7u8; 32]);
    let (a, b) = pact_with_member("large", creator_seed, member_seed);
    // 1,280 entries of 48 KiB: five ranges of about 12.5 MB, 63 MB in all.
    let filler = "x".repeat(48 * 1024);
    for i in 0..1280 {
        a.record(&format!("{i} {filler}"));
    }
    let gauge = Arc::new(Gauge::default());
    for peer in [&a, &b] {
        assert!(peer.gauge.set(gauge.clone()).is_ok());
    }
    let (_, pulled) = round(a.clone(), b.clone(), member_seed)
        .await
        .expect("round");
    assert_eq!(pulled, 1282, "genesis, the admission and 1,280 entries");
    assert_eq!(
        a.frontier().expect("frontier"),
        b.frontier().expect("frontier")
    );
    assert_eq!(
        gauge.now.load(Ordering::SeqCst),
        0,
        "everything served was stored"
    );
    let budget = i64::from(sync::PULL_BUDGET_KIB) * 1024;
    let one_range = 256 * (49 * 1024);
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(
        max <= budget,
        "{max} bytes were in flight at once; the budget is {budget}"
    );
    assert!(
        max > one_range,
        "ranges were still pulled side by side ({max} bytes in flight at most)"
    );
}
