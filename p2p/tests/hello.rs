//! The opening of a sync connection over real QUIC on loopback: a member is let in and learns
//! the listener's member key; a non-member, an unknown pact, a forged proof and a wrong version
//! are refused with their wire codes, and the listener says the same.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use openpact_p2p::hello::{self, Membership};
use openpact_p2p::{ALPN_SYNC, Endpoint, Error, HostKey};

const PACT: [u8; 32] = [7; 32];

/// The listener holds PACT with its own member key, and knows the active members.
struct Pacts {
    me: SigningKey,
    active: HashSet<[u8; 32]>,
}

impl Membership for Pacts {
    fn member_key(&self, pact: &[u8; 32]) -> Option<SigningKey> {
        (*pact == PACT).then(|| self.me.clone())
    }

    fn is_active_member(&self, pact: &[u8; 32], member: &[u8; 32]) -> bool {
        *pact == PACT && self.active.contains(member)
    }
}

fn member(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("within 10 s")
}

/// A listener for one connection; the dialer's outcome and the listener's.
async fn open(
    dialer_member: SigningKey,
    pact: [u8; 32],
) -> (Result<[u8; 32], Error>, Result<[u8; 32], Error>) {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let listener = Endpoint::bind(loopback, HostKey::from_seed([1; 32])).expect("bind");
    let dialer = Endpoint::bind(loopback, HostKey::from_seed([2; 32])).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let pacts = Pacts {
        me: member(100),
        active: [member(100), member(101)]
            .iter()
            .map(|k| k.verifying_key().to_bytes())
            .collect(),
    };
    let server = tokio::spawn(async move {
        let conn = listener.accept().await.expect("open").expect("handshake");
        let r = hello::answer(&conn, &pacts).await.map(|s| s.peer_member);
        // Let the dialer read the reply before the connection goes.
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.conn.closed()).await;
        r
    });
    let conn = within(dialer.connect(addr, None, ALPN_SYNC))
        .await
        .expect("connect");
    let dialed = within(hello::dial(&conn, pact, &dialer_member))
        .await
        .map(|s| s.peer_member);
    conn.conn.close(0u32.into(), b"done");
    (dialed, within(server).await.expect("join"))
}

fn code(r: &Result<[u8; 32], Error>) -> String {
    match r {
        Err(Error::Refused { code, .. }) => code.clone(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn a_member_is_let_in_and_both_ends_know_each_other() {
    let (dialed, answered) = open(member(101), PACT).await;
    assert_eq!(
        dialed.expect("accepted"),
        member(100).verifying_key().to_bytes(),
        "the dialer learns the listener's member key, proven"
    );
    assert_eq!(
        answered.expect("accepted"),
        member(101).verifying_key().to_bytes()
    );
}

#[tokio::test]
async fn a_non_member_is_refused() {
    let (dialed, answered) = open(member(102), PACT).await;
    assert_eq!(code(&dialed), "NOT_A_MEMBER");
    assert_eq!(code(&answered), "NOT_A_MEMBER");
}

#[tokio::test]
async fn an_unknown_pact_is_refused() {
    let (dialed, answered) = open(member(101), [8; 32]).await;
    assert_eq!(code(&dialed), "UNKNOWN_PACT");
    assert_eq!(code(&answered), "UNKNOWN_PACT");
}

#[tokio::test]
async fn a_proof_for_another_session_is_refused() {
    use openpact_proto::wire::v1 as wire;
    use prost::Message as _;
    // A member's proof made for some other session, sent by hand as the opening.
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let listener = Endpoint::bind(loopback, HostKey::from_seed([3; 32])).expect("bind");
    let dialer = Endpoint::bind(loopback, HostKey::from_seed([4; 32])).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let pacts = Pacts {
        me: member(100),
        active: [member(101).verifying_key().to_bytes()].into(),
    };
    let server = tokio::spawn(async move {
        let conn = listener.accept().await.expect("open").expect("handshake");
        let r = hello::answer(&conn, &pacts).await.map(|s| s.peer_member);
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.conn.closed()).await;
        r
    });
    let conn = within(dialer.connect(addr, None, ALPN_SYNC))
        .await
        .expect("connect");
    let stale = openpact_p2p::proof::prove(&member(101), &PACT, &[0; 32]);
    let hello = wire::Hello {
        version: 1,
        pact_id: PACT.to_vec(),
        member_key: member(101).verifying_key().to_bytes().to_vec(),
        proof: stale.to_vec(),
    };
    let (mut send, mut recv) = conn.conn.open_bi().await.expect("stream");
    let body = hello.encode_to_vec();
    let mut framed = (body.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    send.write_all(&framed).await.expect("write");
    let mut len = [0u8; 4];
    within(recv.read_exact(&mut len))
        .await
        .expect("reply length");
    let mut reply = vec![0u8; u32::from_be_bytes(len) as usize];
    within(recv.read_exact(&mut reply)).await.expect("reply");
    let reply = wire::HelloReply::decode(reply.as_slice()).expect("HelloReply");
    assert!(!reply.accepted);
    assert_eq!(reply.code, "BAD_REQUEST");
    assert!(reply.message.contains("proof"), "{}", reply.message);
    conn.conn.close(0u32.into(), b"done");
    assert_eq!(code(&within(server).await.expect("join")), "BAD_REQUEST");
}
