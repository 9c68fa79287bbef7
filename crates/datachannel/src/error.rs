//! Errors of the data channel layer.

use crate::ChannelId;

/// What can go wrong with data channels. Input from the network never
/// produces one of these from the engine: bad messages are dropped and
/// counted in [`Stats`](crate::Stats); the DCEP parser returns
/// [`Error::Truncated`] and [`Error::Malformed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A DCEP message ended early (RFC 8832 §5; drop it).
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A DCEP message is malformed (RFC 8832 §5; drop it).
    #[error("malformed DCEP message: {0}")]
    Malformed(&'static str),
    /// No channel with this handle.
    #[error("no data channel {0:?}")]
    UnknownChannel(ChannelId),
    /// The channel is not open (W3C `send()` throws `InvalidStateError`).
    #[error("data channel {0:?} is not open")]
    NotOpen(ChannelId),
    /// A message over the `max-message-size` in force (RFC 8841 §6; W3C
    /// `send()` throws `TypeError`).
    #[error("message of {len} bytes exceeds the max-message-size {max}")]
    MessageTooLarge {
        /// Size of the message.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Invalid `RTCDataChannelInit`, id 65,535 among them (reserved, RFC
    /// 8831 §6.5) (W3C `createDataChannel` throws `TypeError`).
    #[error("invalid data channel parameters: {0}")]
    InvalidInit(&'static str),
    /// The channel limit is reached ([`Config::max_channels`](crate::Config::max_channels)).
    #[error("too many data channels (limit {max})")]
    TooManyChannels {
        /// The limit.
        max: usize,
    },
    /// A negotiated stream id already in use (W3C `OperationError`).
    #[error("stream id {0} is already in use")]
    IdInUse(u16),
    /// A negotiated stream id that is out of use for the rest of the
    /// association: the peer refused the reset that closed its last channel
    /// (RFC 6525 §4.4), so the peer's side of it may still be in use (RFC
    /// 8831 §6.7; W3C `OperationError`, as for an id in use).
    #[error("stream id {0} is out of use: the peer refused its reset")]
    IdRetired(u16),
    /// A negotiated stream id at or above the connected association's
    /// outbound stream count (W3C `createDataChannel`: `[[MaxChannels]]`,
    /// an `OperationError`; RFC 8831 §6.2).
    #[error("stream id {id} is beyond the association's {streams} streams")]
    IdOutOfRange {
        /// The id asked for.
        id: u16,
        /// The outbound stream count.
        streams: u16,
    },
    /// No stream of our role's parity is free for an in-band channel (W3C
    /// `createDataChannel`: no available id, an `OperationError`).
    #[error("no free SCTP stream for a data channel")]
    NoFreeStream,
    /// An error from the SCTP layer (buffer full, ...).
    #[error(transparent)]
    Sctp(#[from] ferrtc_sctp::Error),
}
