//! Errors of the data channel layer.

/// What can go wrong with data channels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A DCEP message ended early (drop it).
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A DCEP message is malformed (drop it).
    #[error("malformed DCEP message: {0}")]
    Malformed(&'static str),
    /// No channel with this id.
    #[error("no data channel with id {0}")]
    UnknownChannel(u16),
    /// The channel is not open (W3C `send()` throws InvalidStateError).
    #[error("data channel {0} is not open")]
    NotOpen(u16),
    /// The id is taken, or out of range.
    #[error("stream id {0} is already in use or out of range")]
    IdInUse(u16),
    /// Every stream id of our parity is in use, or the channel limit is reached.
    #[error("no stream id available")]
    NoIdAvailable,
    /// An error from the SCTP layer (message too large, buffer full, ...).
    #[error(transparent)]
    Sctp(#[from] ferrtc_sctp::Error),
}
