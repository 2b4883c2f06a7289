//! Rendezvous at a seed over real QUIC on loopback: announce tells a peer its observed address,
//! lookup finds the other announcers of a topic (never the asker, never another topic's), the
//! seed introduces the asker to the announcers, announcements leave with their connection, and
//! malformed requests and topics past the seed's limit are refused.

use std::net::SocketAddr;
use std::time::Duration;

use openpact_p2p::rendezvous::{self, Seed};
use openpact_p2p::{ALPN_RENDEZVOUS, Endpoint, Error, HostKey, PeerConnection};

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("within 10 s")
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A seed on loopback serving every connection; its address and state.
fn seed() -> (SocketAddr, std::sync::Arc<Seed>) {
    let endpoint = Endpoint::bind(loopback(), HostKey::from_seed([9; 32])).expect("bind");
    let addr = endpoint.local_addr().expect("addr");
    let seed = Seed::new(None, 16);
    let serving = seed.clone();
    tokio::spawn(async move {
        while let Some(Ok(conn)) = endpoint.accept().await {
            tokio::spawn(serving.clone().serve(conn));
        }
    });
    (addr, seed)
}

/// A peer's endpoint and its rendezvous connection to the seed at `addr`.
async fn peer(seed: u8, addr: SocketAddr) -> (Endpoint, PeerConnection) {
    let e = Endpoint::bind(loopback(), HostKey::from_seed([seed; 32])).expect("bind");
    let c = within(e.connect(addr, None, ALPN_RENDEZVOUS))
        .await
        .expect("connect");
    (e, c)
}

#[tokio::test]
async fn peers_find_each_other_by_topic_and_are_introduced() {
    let (addr, seed) = seed();
    let topic = rendezvous::topic_of(b"the pact's secret");
    let (ea, a) = peer(1, addr).await;
    let (eb, b) = peer(2, addr).await;

    // Each learns the address the seed sees it at: its own endpoint's.
    let seen = within(rendezvous::announce(&a, topic))
        .await
        .expect("announce");
    assert_eq!(seen, ea.local_addr().expect("addr"));
    assert_eq!(seed.announced(), 1);

    // b looks the topic up: it finds a (and not itself), and the seed introduces b to a.
    within(rendezvous::announce(&b, topic))
        .await
        .expect("announce");
    let found = within(rendezvous::lookup(&b, topic)).await.expect("lookup");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].host_key, HostKey::from_seed([1; 32]).public());
    assert_eq!(found[0].addr, ea.local_addr().expect("addr"));
    let (t, introduced) = within(rendezvous::next_introduction(&a))
        .await
        .expect("an introduction");
    assert_eq!(t, topic);
    assert_eq!(introduced.host_key, HostKey::from_seed([2; 32]).public());
    assert_eq!(introduced.addr, eb.local_addr().expect("addr"));

    // Another topic holds nobody.
    let other = rendezvous::topic_of(b"another secret");
    assert!(
        within(rendezvous::lookup(&b, other))
            .await
            .expect("lookup")
            .is_empty()
    );

    // An announcement leaves with its connection.
    a.conn.close(0u32.into(), b"bye");
    within(async {
        while seed.announced() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        within(rendezvous::lookup(&b, topic))
            .await
            .expect("lookup")
            .is_empty()
    );
}

#[tokio::test]
async fn a_seed_refuses_a_connection_opened_for_another_protocol_and_a_topic_of_the_wrong_size() {
    let (addr, _seed) = seed();
    let e = Endpoint::bind(loopback(), HostKey::from_seed([3; 32])).expect("bind");
    let sync = within(e.connect(addr, None, openpact_p2p::ALPN_SYNC))
        .await
        .expect("connect");
    // The asking side checks the protocol before it sends anything.
    assert!(matches!(
        within(rendezvous::lookup(&sync, [0; 32])).await,
        Err(Error::Protocol(_))
    ));
    let (_e, c) = peer(4, addr).await;
    // A request the seed cannot use gets a refusal, and the connection goes on serving.
    let (send, recv) = c.conn.open_bi().await.expect("stream");
    use futures_util::{SinkExt as _, StreamExt as _};
    use prost::Message as _;
    let mut send =
        tokio_util::codec::FramedWrite::new(send, tokio_util::codec::LengthDelimitedCodec::new());
    let mut recv =
        tokio_util::codec::FramedRead::new(recv, tokio_util::codec::LengthDelimitedCodec::new());
    let bad = openpact_proto::wire::v1::RendezvousRequest {
        request: Some(
            openpact_proto::wire::v1::rendezvous_request::Request::Lookup(
                openpact_proto::wire::v1::Topic {
                    topic: vec![1, 2, 3],
                },
            ),
        ),
    };
    send.send(prost::bytes::Bytes::from(bad.encode_to_vec()))
        .await
        .expect("send");
    let frame = within(recv.next()).await.expect("answer").expect("frame");
    let reply = openpact_proto::wire::v1::RendezvousReply::decode(frame.freeze()).expect("a reply");
    assert_eq!(reply.error, "a topic is 32 bytes");
    assert!(reply.peers.is_empty());
    within(rendezvous::announce(&c, [5; 32]))
        .await
        .expect("still serving");
    // The seed holds at most 16 topics (this one's limit): the 17th is refused.
    for t in 6..21u8 {
        within(rendezvous::announce(&c, [t; 32]))
            .await
            .expect("room for 16 topics");
    }
    assert!(matches!(
        within(rendezvous::announce(&c, [99; 32])).await,
        Err(Error::Refused { message, .. }) if message.contains("too many topics")
    ));
}
