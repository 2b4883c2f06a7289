//! Presenting an invite to an indexer (`proto/openpact/wire/v1/invite.proto`). The joiner hands
//! its token only to a peer that proves, on this very connection, that it holds one of the
//! indexer keys the token names; the indexer then redeems it (one ledger entry that spends the
//! nonce and adds the member) and answers. What an indexer does with a token comes in through
//! [`Indexer`]; this module knows no ledger.

use std::future::Future;

use ed25519_dalek::SigningKey;
use futures_util::StreamExt as _;
use openpact_proto::wire::v1 as wire;

use crate::endpoint::{ALPN_INVITE, PeerConnection};
use crate::frame::{self, FrameSend, protocol};
use crate::{Error, proof};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// The largest message (a token is at most 4 KiB).
const MAX_MESSAGE: usize = 16 * 1024;

/// A refusal: a wire code and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The wire code, e.g. `INVITE_SPENT`.
    pub code: String,
    /// Why.
    pub message: String,
}

/// What an indexer does with invites.
pub trait Indexer: Send + Sync {
    /// This peer's member key in `pact` when it is one of the pact's indexers.
    fn indexer_key(&self, pact: &[u8; 32]) -> Option<SigningKey>;
    /// Redeems `token` for `writer_key`: the spent nonce, or why not.
    /// `next_seq` is the joiner's next seq (it is admitted from there on).
    fn redeem(
        &self,
        pact: [u8; 32],
        token: String,
        writer_key: [u8; 32],
        next_seq: u64,
    ) -> impl Future<Output = Result<String, Refusal>> + Send;
}

async fn write(send: &mut FrameSend, m: &impl prost::Message) -> Result<(), Error> {
    frame::write(send, m, "an invite message").await
}

/// Presents `token` for `writer_key` (whose next entry has seq `next_seq`) on `conn` (opened
/// with [`ALPN_INVITE`]), after the peer proved it holds one of `indexers` for `pact`. The spent
/// nonce, or the indexer's refusal as [`Error::Refused`].
pub async fn present(
    conn: &PeerConnection,
    pact: [u8; 32],
    indexers: &[[u8; 32]],
    token: &str,
    writer_key: [u8; 32],
    next_seq: u64,
) -> Result<String, Error> {
    if conn.alpn != ALPN_INVITE {
        return Err(protocol("the connection was not opened for invites"));
    }
    let binding = proof::session_binding(&conn.conn, &pact)?;
    let (send, recv) = conn
        .conn
        .open_bi()
        .await
        .map_err(|e| Error::Io(format!("cannot open the invite stream: {e}")))?;
    let (mut send, mut recv) = frame::framed((send, recv), MAX_MESSAGE);
    write(
        &mut send,
        &wire::InviteOpen {
            version: VERSION,
            pact_id: pact.to_vec(),
        },
    )
    .await?;
    let shown: wire::InviteProof = frame::read(&mut recv, "an invite message").await?;
    if !shown.accepted {
        return Err(Error::Refused {
            code: shown.code,
            message: shown.message,
        });
    }
    let key = <[u8; 32]>::try_from(shown.indexer_key.as_slice())
        .map_err(|_| protocol("an indexer key must be 32 bytes"))?;
    let sig = <[u8; 64]>::try_from(shown.proof.as_slice())
        .map_err(|_| protocol("a proof must be 64 bytes"))?;
    if !indexers.contains(&key) {
        return Err(Error::Refused {
            code: "NO_INDEXER_REACHABLE".into(),
            message: "the peer's key is not one of the token's indexers".into(),
        });
    }
    if !proof::verify(&key, &pact, &binding, &sig) {
        return Err(protocol(
            "the indexer's proof does not hold for this session",
        ));
    }
    write(
        &mut send,
        &wire::Redeem {
            token: token.to_string(),
            writer_key: writer_key.to_vec(),
            next_seq,
        },
    )
    .await?;
    let reply: wire::RedeemReply = frame::read(&mut recv, "an invite message").await?;
    let _ = send.get_mut().finish();
    if reply.ok {
        Ok(reply.nonce)
    } else {
        Err(Error::Refused {
            code: reply.code,
            message: reply.message,
        })
    }
}

/// Answers one invite presented on `conn`.
pub async fn answer<I: Indexer>(conn: &PeerConnection, indexer: &I) -> Result<(), Error> {
    let (send, recv) = conn
        .conn
        .accept_bi()
        .await
        .map_err(|e| Error::Io(format!("no invite stream: {e}")))?;
    let (mut send, mut recv) = frame::framed((send, recv), MAX_MESSAGE);
    let open: wire::InviteOpen = frame::read(&mut recv, "an invite message").await?;
    let refuse = |code: &str, message: &str| wire::InviteProof {
        accepted: false,
        code: code.into(),
        message: message.into(),
        ..Default::default()
    };
    if open.version != VERSION {
        let m = format!(
            "protocol version {} is not spoken here (1 is)",
            open.version
        );
        write(&mut send, &refuse("BAD_REQUEST", &m)).await?;
        return Err(protocol(m));
    }
    let Ok(pact) = <[u8; 32]>::try_from(open.pact_id.as_slice()) else {
        write(&mut send, &refuse("BAD_REQUEST", "a pact id is 32 bytes")).await?;
        return Err(protocol("a pact id is 32 bytes"));
    };
    let Some(key) = indexer.indexer_key(&pact) else {
        write(
            &mut send,
            &refuse(
                "NO_INDEXER_REACHABLE",
                "this peer is not an indexer of that pact",
            ),
        )
        .await?;
        return Ok(());
    };
    let binding = proof::session_binding(&conn.conn, &pact)?;
    write(
        &mut send,
        &wire::InviteProof {
            accepted: true,
            indexer_key: key.verifying_key().to_bytes().to_vec(),
            proof: proof::prove(&key, &pact, &binding).to_vec(),
            ..Default::default()
        },
    )
    .await?;
    let redeem: wire::Redeem = frame::read(&mut recv, "an invite message").await?;
    let reply = match <[u8; 32]>::try_from(redeem.writer_key.as_slice()) {
        Err(_) => wire::RedeemReply {
            code: "INVITE_BAD_SHAPE".into(),
            message: "a writer key is 32 bytes".into(),
            ..Default::default()
        },
        Ok(writer) => match indexer
            .redeem(pact, redeem.token, writer, redeem.next_seq)
            .await
        {
            Ok(nonce) => wire::RedeemReply {
                ok: true,
                nonce,
                ..Default::default()
            },
            Err(r) => wire::RedeemReply {
                code: r.code,
                message: r.message,
                ..Default::default()
            },
        },
    };
    write(&mut send, &reply).await?;
    let _ = send.get_mut().finish();
    // Wait for the joiner to read the answer and hang up: closing first could drop it.
    let _ = recv.next().await;
    Ok(())
}
