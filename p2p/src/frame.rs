//! How every protocol here puts messages on a QUIC stream: each one protobuf message behind a
//! 4-byte big-endian length, with a cap on the length per stream.

use futures_util::{SinkExt as _, StreamExt as _};
use prost::Message;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::Error;

/// The sending half of a framed stream.
pub type FrameSend = FramedWrite<quinn::SendStream, LengthDelimitedCodec>;
/// The receiving half of a framed stream.
pub type FrameRecv = FramedRead<quinn::RecvStream, LengthDelimitedCodec>;

/// A protocol error: the peer sent something malformed or missing.
pub(crate) fn protocol(message: impl Into<String>) -> Error {
    Error::Protocol(message.into())
}

/// Frames both halves of a bidirectional stream, frames capped at `max` bytes.
pub(crate) fn framed(
    (send, recv): (quinn::SendStream, quinn::RecvStream),
    max: usize,
) -> (FrameSend, FrameRecv) {
    (send_framed(send, max), recv_framed(recv, max))
}

/// Frames a sending stream, frames capped at `max` bytes.
pub(crate) fn send_framed(send: quinn::SendStream, max: usize) -> FrameSend {
    FramedWrite::new(send, codec(max))
}

/// Frames a receiving stream, frames capped at `max` bytes.
pub(crate) fn recv_framed(recv: quinn::RecvStream, max: usize) -> FrameRecv {
    FramedRead::new(recv, codec(max))
}

fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(max)
        .new_codec()
}

/// Sends `m`; `what` names it in the error.
pub(crate) async fn write(send: &mut FrameSend, m: &impl Message, what: &str) -> Result<(), Error> {
    send.send(prost::bytes::Bytes::from(m.encode_to_vec()))
        .await
        .map_err(|e| Error::Io(format!("cannot send {what}: {e}")))
}

/// Reads one message; `what` names it in the error (the stream ending first is one too).
pub(crate) async fn read<M: Message + Default>(
    recv: &mut FrameRecv,
    what: &str,
) -> Result<M, Error> {
    let frame = recv
        .next()
        .await
        .ok_or_else(|| protocol(format!("the stream ended before {what}")))?
        .map_err(|e| protocol(format!("cannot read {what}: {e}")))?;
    M::decode(frame.freeze()).map_err(|e| protocol(format!("{what} is malformed: {e}")))
}
