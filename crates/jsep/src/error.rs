//! Errors of the JSEP layer.

use thiserror::Error;

use crate::{SdpType, SignalingState};

/// Why a JSEP operation failed; each maps to the W3C `DOMException` named in its doc.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JsepError {
    /// The description type is not allowed in this signaling state
    /// (W3C `InvalidStateError`, webrtc-pc §4.4.1.6).
    #[error("cannot {operation} of type {kind:?} in signaling state {state:?}")]
    InvalidState {
        /// `set local description`, `set remote description`, `create answer`, ...
        operation: &'static str,
        /// The description type.
        kind: Option<SdpType>,
        /// The state at the time of the call.
        state: SignalingState,
    },
    /// The peer connection is closed (W3C `InvalidStateError`).
    #[error("the session is closed")]
    Closed,
    /// The remote SDP does not parse (W3C `RTCError` `sdp-syntax-error`).
    #[error("remote SDP: {0}")]
    Sdp(#[from] ferrtc_sdp::SdpError),
    /// A local offer or answer is not the one last created
    /// (W3C `InvalidModificationError`, webrtc-pc §4.4.1.6).
    #[error("the local {0:?} is not the one last created")]
    Modified(SdpType),
    /// No offer or answer has been created to apply (W3C `InvalidModificationError`).
    #[error("no {0:?} has been created")]
    NothingCreated(SdpType),
    /// The remote description is valid SDP but breaks a JSEP rule
    /// (W3C `RTCError` `sdp-syntax-error` or `InvalidAccessError`).
    #[error("remote description rejected: {0}")]
    Invalid(String),
    /// A trickled candidate would take a remote m-section over
    /// [`crate::JsepConfig::max_remote_candidates`] (W3C `OperationError`).
    #[error("m-section {mid:?} already has {limit} remote candidates, the limit")]
    TooManyCandidates {
        /// The m-section's mid.
        mid: String,
        /// The configured limit.
        limit: usize,
    },
    /// The remote answer does not match the local offer (RFC 8829 §5.10).
    #[error("answer does not match the offer: {0}")]
    AnswerMismatch(String),
    /// An ICE restart needs new local credentials (RFC 8829 §5.2.1, §5.3.1).
    #[error("ICE restart requires new local ICE credentials")]
    IceRestartNeedsCredentials,
    /// `a=ice-ufrag` or `a=ice-pwd` breaks the grammar of RFC 8839 §5.4
    /// (W3C `InvalidAccessError`: the content of the description is invalid).
    #[error("m-section {mid:?}: {reason}")]
    InvalidIceCredentials {
        /// The m-section's mid.
        mid: String,
        /// Which rule is broken.
        reason: &'static str,
    },
    /// The remote ICE credentials changed in an answer although the offer
    /// restarted no ICE (RFC 8839 §4.4.1.1.1; W3C `InvalidAccessError`).
    #[error("m-section {mid:?}: remote ICE credentials changed without an ICE restart")]
    IceCredentialsChanged {
        /// The m-section's mid.
        mid: String,
    },
    /// A trickled candidate with neither `sdpMid` nor `sdpMLineIndex`
    /// (W3C `TypeError`, webrtc-pc §4.4.1.5 `addIceCandidate`).
    #[error("candidate has neither sdpMid nor sdpMLineIndex")]
    CandidateWithoutMid,
    /// A trickled candidate's `sdpMid` or `sdpMLineIndex` names no m-section
    /// of the remote description (W3C `OperationError`).
    #[error("candidate names no m-section (sdpMid {mid:?}, sdpMLineIndex {index:?})")]
    CandidateForNoSection {
        /// The `sdpMid` given.
        mid: Option<String>,
        /// The `sdpMLineIndex` given.
        index: Option<u16>,
    },
    /// A trickled candidate that cannot be added: it does not parse, or its
    /// `usernameFragment` is not the section's (W3C `OperationError`).
    #[error("candidate cannot be added: {0}")]
    BadCandidate(String),
    /// The transceiver handle does not name a transceiver of this session.
    #[error("no transceiver {0}")]
    UnknownTransceiver(usize),
}
