//! Errors of the async API.

/// What went wrong in a [`crate::PeerConnection`] or [`crate::DataChannel`] call.
///
/// Every variant is one of the W3C exception kinds ([`Error::name`]); the
/// core's refusals keep theirs ([`ferrtc_core::Error`], with the lower-layer
/// cause as their `source`). A closed connection is always [`Error::Closed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sans-IO core refused the call (signaling state, bad SDP, channel
    /// state...); never its `Closed`, which is [`Error::Closed`].
    #[error(transparent)]
    Core(ferrtc_core::Error),
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

impl Error {
    /// The W3C exception name (`"InvalidStateError"`, `"TypeError"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Error::Core(e) => e.name(),
            Error::Io(_) => "OperationError",
            Error::InvalidIceServer { .. } => "SyntaxError",
            Error::InvalidModification(_) => "InvalidModificationError",
            Error::NotUtf8 => "TypeError",
            Error::Closed => "InvalidStateError",
        }
    }
}

impl From<ferrtc_core::Error> for Error {
    fn from(e: ferrtc_core::Error) -> Self {
        match e {
            // One `Closed`, whichever side noticed.
            ferrtc_core::Error::Closed => Error::Closed,
            e => Error::Core(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_core_is_the_one_closed_error() {
        assert!(matches!(
            Error::from(ferrtc_core::Error::Closed),
            Error::Closed
        ));
        assert_eq!(Error::Closed.name(), "InvalidStateError");
    }

    #[test]
    fn every_error_names_its_w3c_kind() {
        let core = ferrtc_core::Error::type_error("too big");
        assert_eq!(Error::from(core).name(), "TypeError");
        assert_eq!(Error::NotUtf8.name(), "TypeError");
        let url = Error::InvalidIceServer {
            url: "stun:".into(),
            reason: "no host",
        };
        assert_eq!(url.name(), "SyntaxError");
    }
}
