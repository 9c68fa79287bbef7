//! Errors of the async API.

/// What went wrong in a [`crate::PeerConnection`], [`crate::DataChannel`] or
/// media handle call.
///
/// Every variant is one of the W3C exception kinds ([`Error::name`]); the
/// core's refusals keep theirs ([`ferrtc_core::Error`], with the lower-layer
/// cause as their `source`). A closed connection is always [`Error::Closed`],
/// unless its task panicked: [`Error::TaskPanicked`].
///
/// After the connection's task panicked, every call that its end fails
/// says [`Error::TaskPanicked`] instead of [`Error::Closed`] or a W3C
/// `InvalidStateError` for the closed state: the [`crate::PeerConnection`]'s
/// calls (`get_stats` too: no final report is kept), the media handles'
/// (the transceivers', senders' and receivers' calls, `write_frame`), and
/// the data channels' (`send`, `send_text`, `send_binary`, `wait_open`; on
/// every handle of the connection's channels). Only a panic of the
/// connection's own task is told so: one in another task ferrtc spawns
/// (the lookups of `iceServers` names, ICE-TCP and TURN-over-TCP
/// connections and listeners, a [`crate::UdpMux`]'s reader, an
/// [`crate::MdnsResponder`], the read of the system's TLS roots) is not,
/// and calls are not refused for it. Such a panic is logged and ends what
/// that task was doing as a failure would: the names count as not
/// resolved (gathering still completes), the TCP connection as closed,
/// the listener accepts no more, the reader or responder drops the
/// datagram and goes on, no system root is trusted for that connection.
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
    /// An `iceServers` URL of a scheme ferrtc does not implement: `stuns:`
    /// (STUN over TLS; W3C `NotSupportedError`).
    #[error("ICE server URL {url:?}: {reason}")]
    UnsupportedIceServer {
        /// The URL.
        url: String,
        /// What is not supported.
        reason: &'static str,
    },
    /// A TURN URL in `iceServers` without a username or credential (W3C
    /// webrtc-pc §4.4.1.6: `InvalidAccessError`).
    #[error("TURN server {url:?} needs a username and a credential")]
    MissingTurnCredentials {
        /// The URL.
        url: String,
    },
    /// `setConfiguration` tried to change what cannot change after
    /// creation (W3C `InvalidModificationError`).
    #[error("cannot change {0} of an existing connection")]
    InvalidModification(&'static str),
    /// A text message whose bytes are not UTF-8 (W3C `send(USVString)`
    /// cannot carry one).
    #[error("a text message must be UTF-8")]
    NotUtf8,
    /// A value out of its range (W3C `RangeError`), e.g. a
    /// `scaleResolutionDownBy` below 1.0 in `setParameters`.
    #[error("{0}")]
    Range(&'static str),
    /// The connection's task has ended (closed, or every handle dropped).
    #[error("the peer connection is closed")]
    Closed,
    /// The connection's task panicked (a bug in ferrtc: please report it
    /// with the message): the connection is gone, as after a close, but
    /// not by anyone's close. Which calls say so: see [`Error`].
    #[error("the peer connection's task panicked: {0}")]
    TaskPanicked(std::sync::Arc<str>),
}

impl Error {
    /// The W3C exception name (`"InvalidStateError"`, `"TypeError"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Error::Core(e) => e.name(),
            Error::Io(_) => "OperationError",
            Error::InvalidIceServer { .. } => "SyntaxError",
            Error::UnsupportedIceServer { .. } => "NotSupportedError",
            Error::MissingTurnCredentials { .. } => "InvalidAccessError",
            Error::InvalidModification(_) => "InvalidModificationError",
            Error::NotUtf8 => "TypeError",
            Error::Range(_) => "RangeError",
            Error::Closed => "InvalidStateError",
            Error::TaskPanicked(_) => "OperationError",
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

    /// W3C webrtc-pc §4.4.1.5: `addIceCandidate`'s refusals keep the core's
    /// W3C names through this crate's error.
    #[test]
    fn add_ice_candidate_errors_keep_their_w3c_names() {
        use std::time::{Instant, SystemTime};

        use ferrtc_core::{Config, IceCandidateInit, PeerConnection};

        let now = Instant::now();
        let new_pc = |seed| {
            let mut config = Config::default();
            config.rng_seed = Some([seed; 32]);
            PeerConnection::new(config, now, SystemTime::now()).unwrap()
        };
        let (mut a, mut b) = (new_pc(1), new_pc(2));
        let candidate = |mid: Option<&str>, line: &str| IceCandidateInit {
            sdp_mid: mid.map(str::to_owned),
            candidate: line.to_owned(),
            ..IceCandidateInit::default()
        };
        let host = "candidate:1 1 udp 2130706431 10.0.0.9 5000 typ host";
        let name = |r: Result<(), ferrtc_core::Error>| Error::from(r.unwrap_err()).name();

        a.create_data_channel(now, "x", Default::default()).unwrap();
        assert_eq!(
            name(a.add_ice_candidate(now, &candidate(Some("0"), host))),
            "InvalidStateError"
        );
        a.set_local_description(now, None).unwrap();
        b.set_remote_description(now, a.local_description().unwrap())
            .unwrap();
        assert_eq!(
            name(b.add_ice_candidate(now, &candidate(None, host))),
            "TypeError"
        );
        assert_eq!(
            name(b.add_ice_candidate(now, &candidate(Some("9"), host))),
            "OperationError"
        );
        assert_eq!(
            name(b.add_ice_candidate(now, &candidate(Some("0"), "candidate:x"))),
            "OperationError"
        );
        b.add_ice_candidate(now, &candidate(Some("0"), "")).unwrap();
    }
}
