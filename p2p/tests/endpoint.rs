//! Two real endpoints over real QUIC on loopback: each side learns the other's host key from the
//! handshake, a dialer that expects another key is refused, only the known protocols are spoken,
//! and a membership proof made on one connection holds there and nowhere else.

use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use openpact_p2p::{ALPN_INVITE, ALPN_SYNC, Endpoint, HostKey, proof};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn endpoint(seed: u8) -> Endpoint {
    Endpoint::bind(loopback(), HostKey::from_seed([seed; 32])).expect("bind")
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("within 10 s")
}

#[tokio::test]
async fn both_ends_learn_each_others_key_and_the_protocol() {
    let (a, b) = (endpoint(1), endpoint(2));
    let b_addr = b.local_addr().expect("addr");
    let accept = tokio::spawn({
        let b = b.clone();
        async move {
            let c = b.accept().await.expect("open").expect("handshake");
            let (mut send, mut recv) = c.conn.accept_bi().await.expect("stream");
            let got = recv.read_to_end(1024).await.expect("read");
            send.write_all(&got).await.expect("echo");
            send.finish().expect("finish");
            // Keep the connection until the dialer has read the echo.
            let _ = c.conn.closed().await;
            (c.peer, c.alpn)
        }
    });
    let c = within(a.connect(b_addr, Some(b.host_key().public()), ALPN_SYNC))
        .await
        .expect("connect");
    assert_eq!(c.peer, b.host_key().public());
    assert_eq!(c.alpn, ALPN_SYNC);
    let (mut send, mut recv) = c.conn.open_bi().await.expect("stream");
    send.write_all(b"hello over quic").await.expect("write");
    send.finish().expect("finish");
    assert_eq!(
        within(recv.read_to_end(1024)).await.expect("read"),
        b"hello over quic"
    );
    c.conn.close(0u32.into(), b"done");
    let (peer, alpn) = within(accept).await.expect("join");
    assert_eq!(
        peer,
        a.host_key().public(),
        "the server knows the dialer's key"
    );
    assert_eq!(alpn, ALPN_SYNC);
}

#[tokio::test]
async fn a_dialer_expecting_another_key_is_refused() {
    let (a, b) = (endpoint(3), endpoint(4));
    let b_addr = b.local_addr().expect("addr");
    let server = tokio::spawn({
        let b = b.clone();
        async move { b.accept().await.map(|r| r.is_ok()) }
    });
    let wrong = HostKey::from_seed([5; 32]).public();
    let e = within(a.connect(b_addr, Some(wrong), ALPN_SYNC))
        .await
        .expect_err("the handshake fails");
    assert!(e.to_string().contains("expected"), "{e}");
    assert_eq!(within(server).await.expect("join"), Some(false));
}

#[tokio::test]
async fn an_unknown_protocol_is_refused_in_the_handshake() {
    let (a, b) = (endpoint(6), endpoint(7));
    let b_addr = b.local_addr().expect("addr");
    let server = tokio::spawn({
        let b = b.clone();
        async move { b.accept().await.map(|r| r.is_ok()) }
    });
    let e = within(a.connect(b_addr, None, b"http/1.1"))
        .await
        .expect_err("no such protocol here");
    assert!(!e.to_string().is_empty());
    assert_eq!(within(server).await.expect("join"), Some(false));
    // The endpoint goes on accepting after a failed handshake.
    let server = tokio::spawn({
        let b = b.clone();
        async move { b.accept().await.map(|r| r.map(|c| c.alpn)) }
    });
    let ok = within(a.connect(b_addr, None, ALPN_INVITE))
        .await
        .expect("connect");
    assert_eq!(ok.alpn, ALPN_INVITE);
    assert_eq!(
        within(server).await.expect("join").map(|r| r.expect("ok")),
        Some(ALPN_INVITE.to_vec())
    );
}

#[tokio::test]
async fn a_membership_proof_holds_on_its_own_connection_only() {
    let (a, b) = (endpoint(8), endpoint(9));
    let b_addr = b.local_addr().expect("addr");
    let pact = [42u8; 32];
    let member = SigningKey::from_bytes(&[10; 32]);
    let member_key = member.verifying_key().to_bytes();
    // The server reads a proof on each of two connections and checks it against its own
    // binding of that connection.
    let server = tokio::spawn({
        let b = b.clone();
        async move {
            let mut verdicts = Vec::new();
            let mut bindings = Vec::new();
            for _ in 0..2 {
                let c = b.accept().await.expect("open").expect("handshake");
                let mut recv = c.conn.accept_uni().await.expect("stream");
                let got = recv.read_to_end(64).await.expect("read");
                let proof: [u8; 64] = got.try_into().expect("64 bytes");
                let binding = proof::session_binding(&c.conn, &pact).expect("binding");
                verdicts.push(proof::verify(&member_key, &pact, &binding, &proof));
                bindings.push(binding);
                c.conn.close(0u32.into(), b"checked");
            }
            (verdicts, bindings)
        }
    });
    // First connection: an honest proof.
    let c1 = within(a.connect(b_addr, None, ALPN_SYNC))
        .await
        .expect("c1");
    let b1 = proof::session_binding(&c1.conn, &pact).expect("binding");
    let honest = proof::prove(&member, &pact, &b1);
    let mut s = c1.conn.open_uni().await.expect("stream");
    s.write_all(&honest).await.expect("write");
    s.finish().expect("finish");
    // Second connection: the first proof replayed.
    let c2 = within(a.connect(b_addr, None, ALPN_SYNC))
        .await
        .expect("c2");
    let b2 = proof::session_binding(&c2.conn, &pact).expect("binding");
    assert_ne!(b1, b2, "each session has its own binding");
    let mut s = c2.conn.open_uni().await.expect("stream");
    s.write_all(&honest).await.expect("write");
    s.finish().expect("finish");
    let (verdicts, bindings) = within(server).await.expect("join");
    assert_eq!(bindings, vec![b1, b2], "both ends derive the same binding");
    assert_eq!(verdicts, vec![true, false], "honest, then replayed");
}

#[tokio::test]
async fn a_taken_port_falls_back_to_a_free_one_only_when_allowed() {
    let first = endpoint(11);
    let taken = first.local_addr().expect("addr");
    match Endpoint::bind(taken, HostKey::from_seed([12; 32])) {
        Err(openpact_p2p::Error::Bind { in_use, .. }) => assert!(in_use, "the port is in use"),
        other => panic!("binding a taken port: {other:?}"),
    }
    let asked = Endpoint::bind_preferring(taken, HostKey::from_seed([12; 32]), false);
    assert!(asked.is_err(), "a port asked for is not swapped silently");
    let second = Endpoint::bind_preferring(taken, HostKey::from_seed([12; 32]), true)
        .expect("a free port instead");
    let bound = second.local_addr().expect("addr");
    assert_ne!(bound.port(), taken.port());
    assert_eq!(bound.ip(), taken.ip());
}
