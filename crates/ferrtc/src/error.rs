//! Errors of the async API.

/// What went wrong in a [`crate::PeerConnection`] or [`crate::DataChannel`] call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sans-IO core refused the call (signaling state, bad SDP, channel state...).
    #[error(transparent)]
    Core(#[from] ferrtc_core::Error),
    /// A socket could not be opened.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// An `iceServers` URL that does not parse (W3C `SyntaxError`).
    #[error("invalid ICE server URL {url:?}: {reason}")]
    InvalidIceServer {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// `setConfiguration` tried to change what cannot change after
    /// creation (W3C `InvalidModificationError`).
    #[error("cannot change {0} of an existing connection")]
    InvalidModification(&'static str),
    /// A text message whose bytes are not UTF-8 (W3C `send(USVString)`
    /// cannot carry one).
    #[error("a text message must be UTF-8")]
    NotUtf8,
    /// The connection's task has ended (closed, or every handle dropped).
    #[error("the peer connection is closed")]
    Closed,
}
