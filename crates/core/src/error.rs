//! Errors of the peer connection API.

/// What went wrong in a [`crate::PeerConnection`] call. Datagrams from the
/// network never produce errors: bad ones are dropped and counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Offer/answer failed (W3C `InvalidStateError`, `InvalidModificationError`,
    /// `sdp-syntax-error`, ...).
    #[error("signaling: {0}")]
    Jsep(#[from] ferrtc_jsep::JsepError),
    /// The ICE agent refused an input.
    #[error("ICE: {0}")]
    Ice(#[from] ferrtc_ice::Error),
    /// The DTLS transport failed or could not be created.
    #[error("DTLS: {0}")]
    Dtls(#[from] ferrtc_dtls::Error),
    /// The SCTP association refused an input.
    #[error("SCTP: {0}")]
    Sctp(#[from] ferrtc_sctp::Error),
    /// A DCEP message does not parse (RFC 8832 §5). Not returned at
    /// present: a malformed DCEP message from the peer is dropped and
    /// counted, like any bad input from the network.
    #[error("DCEP: {0}")]
    Dcep(String),
    /// A remote fingerprint uses a hash function DTLS cannot check.
    #[error("remote fingerprint: {0}")]
    Fingerprint(String),
    /// No data channel with this id.
    #[error("no data channel {0:?}")]
    UnknownChannel(crate::ChannelId),
    /// The data channel is not open (W3C `InvalidStateError` of `send()`).
    #[error("data channel {0:?} is not open")]
    ChannelNotOpen(crate::ChannelId),
    /// A message over the remote `max-message-size` (W3C `TypeError` of `send()`).
    #[error("message of {len} bytes exceeds the remote max-message-size {max}")]
    MessageTooLarge {
        /// Size of the message.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Invalid arguments to `create_data_channel` (W3C `TypeError`).
    #[error("invalid data channel parameters: {0}")]
    InvalidChannelInit(&'static str),
    /// A negotiated channel id already in use, or no free stream id
    /// (W3C `OperationError`).
    #[error("data channel id {0} is in use or out of range")]
    ChannelIdInUse(u16),
    /// The peer connection is closed (W3C `InvalidStateError`).
    #[error("the peer connection is closed")]
    Closed,
}

impl From<ferrtc_datachannel::Error> for Error {
    /// The data channel engine's errors as the W3C errors of the peer
    /// connection API.
    fn from(e: ferrtc_datachannel::Error) -> Self {
        use ferrtc_datachannel::Error as E;
        match e {
            E::UnknownChannel(id) => Error::UnknownChannel(id),
            E::NotOpen(id) => Error::ChannelNotOpen(id),
            E::MessageTooLarge { len, max } => Error::MessageTooLarge { len, max },
            E::InvalidInit(why) => Error::InvalidChannelInit(why),
            E::TooManyChannels { .. } => Error::InvalidChannelInit("too many data channels"),
            E::IdInUse(id) => Error::ChannelIdInUse(id),
            E::Sctp(e) => Error::Sctp(e),
            e => Error::Dcep(e.to_string()),
        }
    }
}
