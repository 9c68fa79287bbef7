//! Errors of the media calls, each mapped to the W3C exception the browser
//! API would throw (see [`crate::Error`]).

use ferrtc_jsep::TransceiverId;

/// Why a media call (`add_track`, `write_frame`, ...) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// No transceiver with this id (W3C `InvalidAccessError`: an object
    /// that does not belong to this connection).
    #[error("no transceiver {0:?}")]
    UnknownTransceiver(TransceiverId),
    /// The transceiver is stopped (W3C `InvalidStateError`).
    #[error("transceiver {0:?} is stopped")]
    Stopped(TransceiverId),
    /// The kind is neither audio nor video (ECMAScript `TypeError`).
    #[error("media kind {0} is neither audio nor video")]
    BadKind(String),
    /// The track's kind differs from the transceiver's (ECMAScript
    /// `TypeError`).
    #[error("track kind {track} does not match transceiver kind {transceiver}")]
    KindMismatch {
        /// The track's kind.
        track: String,
        /// The transceiver's kind.
        transceiver: String,
    },
    /// No negotiated sending direction for this sender yet, or no SRTP
    /// keys (W3C `InvalidStateError`).
    #[error("sender {0:?} cannot send: {1}")]
    NotSending(TransceiverId, &'static str),
    /// No negotiated receiving direction for this receiver yet, no stream
    /// received, or no PLI negotiated (W3C `InvalidStateError`).
    #[error("receiver {0:?} cannot ask for a keyframe: {1}")]
    NotReceiving(TransceiverId, &'static str),
    /// The negotiated codec has no payloader (W3C `NotSupportedError`).
    #[error("codec {0} is not supported for sending")]
    UnsupportedCodec(String),
    /// The frame could not be packetized (W3C `OperationError`).
    #[error("frame not packetized: {0}")]
    Packetize(#[from] ferrtc_rtp::codec::CodecError),
    /// A header extension does not fit (W3C `OperationError`): a mid
    /// longer than a one-byte extension holds (RFC 8285 §4.2).
    #[error("RTP header: {0}")]
    Header(String),
    /// SRTP refused to protect (W3C `OperationError`): key lifetime, too
    /// many streams.
    #[error("SRTP: {0}")]
    Srtp(String),
    /// `insertDTMF` refused the tones (ferrtc-rtp's check of webrtc-pc
    /// §7.2): a character that is not a tone is the W3C
    /// `InvalidCharacterError` ([`crate::Error::InvalidCharacter`]); the
    /// state check is an `InvalidStateError`.
    #[error("insertDTMF: {0}")]
    Dtmf(#[source] ferrtc_rtp::dtmf::DtmfError),
    /// A `jitterBufferTarget` above 4000 ms (W3C webrtc-pc §5.3.1:
    /// `RangeError`).
    #[error("jitterBufferTarget {0:?} is above 4000 ms")]
    JitterBufferTarget(std::time::Duration),
    /// No simulcast layer of the sender has this rid (W3C
    /// `InvalidAccessError`, as an encoding that is not the sender's).
    #[error("sender {0:?} has no encoding with rid {1:?}")]
    UnknownRid(TransceiverId, String),
    /// The outbound media queue is full (W3C `OperationError`): the caller
    /// writes faster than `poll_transmit` drains.
    #[error("outbound media queue full ({limit} datagrams)")]
    QueueFull {
        /// The bound.
        limit: usize,
    },
}
