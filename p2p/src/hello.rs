//! The opening of a sync connection (`proto/openpact/wire/v1/sync.proto`): the dialer names a
//! pact and proves it is a member; the listener checks that against the pact's members, and
//! proves its own membership back. Only then do the two sync. What the ledger says about members
//! comes in through [`Membership`]; this module knows no ledger.

use ed25519_dalek::SigningKey;
use openpact_proto::wire::v1 as wire;

use crate::endpoint::{ALPN_SYNC, PeerConnection};
use crate::frame::{self, FrameRecv, FrameSend, protocol};
use crate::{Error, proof};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// The largest opening message.
const MAX_HELLO: usize = 16 * 1024;

/// What the listener knows of its pacts.
pub trait Membership: Send + Sync {
    /// This peer's member key in `pact`, when it holds that pact.
    fn member_key(&self, pact: &[u8; 32]) -> Option<SigningKey>;
    /// Whether `member` is an active member of `pact`.
    fn is_active_member(&self, pact: &[u8; 32], member: &[u8; 32]) -> bool;
}

/// An opened sync session: the control stream and who is on the other end.
pub struct Session {
    /// The pact.
    pub pact: [u8; 32],
    /// The peer's member key in it (proven).
    pub peer_member: [u8; 32],
    /// The control stream, framed.
    pub send: FrameSend,
    /// The control stream, framed.
    pub recv: FrameRecv,
}

fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32], Error> {
    <[u8; 32]>::try_from(bytes).map_err(|_| protocol(format!("{what} must be 32 bytes")))
}

fn sig64(bytes: &[u8]) -> Result<[u8; 64], Error> {
    <[u8; 64]>::try_from(bytes).map_err(|_| protocol("a proof must be 64 bytes"))
}

/// Dials the opening on `conn` for `pact` as the member `me`. The answer is the session, or the
/// listener's refusal as [`Error::Refused`].
pub async fn dial(
    conn: &PeerConnection,
    pact: [u8; 32],
    me: &SigningKey,
) -> Result<Session, Error> {
    if conn.alpn != ALPN_SYNC {
        return Err(protocol("the connection was not opened for sync"));
    }
    let binding = proof::session_binding(&conn.conn, &pact)?;
    let (send, recv) = conn
        .conn
        .open_bi()
        .await
        .map_err(|e| Error::Io(format!("cannot open the control stream: {e}")))?;
    let (mut send, mut recv) = frame::framed((send, recv), MAX_HELLO);
    let hello = wire::Hello {
        version: VERSION,
        pact_id: pact.to_vec(),
        member_key: me.verifying_key().to_bytes().to_vec(),
        proof: proof::prove(me, &pact, &binding).to_vec(),
    };
    frame::write(&mut send, &hello, "the opening").await?;
    let reply: wire::HelloReply = frame::read(&mut recv, "the answer to the opening").await?;
    if !reply.accepted {
        return Err(Error::Refused {
            code: reply.code,
            message: reply.message,
        });
    }
    let peer_member = key32(&reply.member_key, "the listener's member key")?;
    if !proof::verify(&peer_member, &pact, &binding, &sig64(&reply.proof)?) {
        return Err(protocol("the listener's membership proof does not hold"));
    }
    Ok(Session {
        pact,
        peer_member,
        send,
        recv,
    })
}

/// Answers the opening of the sync connection `conn`: the session when the dialer proved it is
/// an active member of a pact this peer holds; otherwise the dialer is told why and the error
/// says it too.
pub async fn answer(conn: &PeerConnection, members: &dyn Membership) -> Result<Session, Error> {
    let (send, recv) = conn
        .conn
        .accept_bi()
        .await
        .map_err(|e| Error::Io(format!("no control stream: {e}")))?;
    let (mut send, mut recv) = frame::framed((send, recv), MAX_HELLO);
    let hello: wire::Hello = frame::read(&mut recv, "the opening").await?;
    let verdict = check(conn, members, &hello);
    let reply = match &verdict {
        Ok(ok) => wire::HelloReply {
            accepted: true,
            member_key: ok.me.verifying_key().to_bytes().to_vec(),
            proof: proof::prove(&ok.me, &ok.pact, &ok.binding).to_vec(),
            ..Default::default()
        },
        Err(Error::Refused { code, message }) => wire::HelloReply {
            accepted: false,
            code: code.clone(),
            message: message.clone(),
            ..Default::default()
        },
        Err(e) => wire::HelloReply {
            accepted: false,
            code: "BAD_REQUEST".into(),
            message: e.to_string(),
            ..Default::default()
        },
    };
    frame::write(&mut send, &reply, "the answer to the opening").await?;
    let ok = verdict?;
    Ok(Session {
        pact: ok.pact,
        peer_member: ok.member,
        send,
        recv,
    })
}

fn refused(code: &str, message: impl Into<String>) -> Error {
    Error::Refused {
        code: code.into(),
        message: message.into(),
    }
}

/// An opening that holds.
struct Admitted {
    pact: [u8; 32],
    /// The dialer's member key.
    member: [u8; 32],
    /// Ours.
    me: SigningKey,
    /// The session's binding for the pact, which both proofs sign.
    binding: [u8; 32],
}

/// The pact, the dialer's member key and ours, when the opening holds.
fn check(
    conn: &PeerConnection,
    members: &dyn Membership,
    hello: &wire::Hello,
) -> Result<Admitted, Error> {
    if hello.version != VERSION {
        return Err(refused(
            "BAD_REQUEST",
            format!(
                "protocol version {} is not spoken here (1 is)",
                hello.version
            ),
        ));
    }
    let pact = key32(&hello.pact_id, "the pact id")?;
    let member = key32(&hello.member_key, "the member key")?;
    let proof = sig64(&hello.proof)?;
    let Some(me) = members.member_key(&pact) else {
        return Err(refused("UNKNOWN_PACT", "this peer does not hold that pact"));
    };
    let binding = proof::session_binding(&conn.conn, &pact)?;
    if !proof::verify(&member, &pact, &binding, &proof) {
        return Err(refused(
            "BAD_REQUEST",
            "the membership proof does not hold for this session",
        ));
    }
    if !members.is_active_member(&pact, &member) {
        return Err(refused(
            "NOT_A_MEMBER",
            "that key is not an active member of the pact; redeem an invite first",
        ));
    }
    Ok(Admitted {
        pact,
        member,
        me,
        binding,
    })
}
