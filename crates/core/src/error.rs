//! Errors of the peer connection API, by W3C exception kind.
//!
//! Each variant is one of the exceptions webrtc-pc throws (the `DOMException`
//! names of WebIDL §2.8.1, and the ECMAScript `TypeError`); what the lower
//! layer (JSEP, ICE, DTLS, SCTP) said is kept as the
//! [`source`](std::error::Error::source). `RangeError` joins them with the
//! media API (`jitterBufferTarget`): no data channel call throws it.

use std::error::Error as StdError;

/// The lower-layer error behind an [`Error`].
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong in a [`crate::PeerConnection`] call, as the W3C exception
/// the browser API would throw. Datagrams from the network never produce
/// errors: bad ones are dropped and counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// W3C `InvalidStateError`: not allowed in the current state (signaling
    /// state, data channel not open, ...).
    #[error("InvalidStateError: {message}")]
    InvalidState {
        /// What was refused.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// W3C `InvalidModificationError`: a description that is not the one
    /// last created, a setting that cannot change.
    #[error("InvalidModificationError: {message}")]
    InvalidModification {
        /// What was refused.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// W3C `InvalidAccessError`: a remote description that breaks a JSEP
    /// rule, an object that does not belong to this connection.
    #[error("InvalidAccessError: {message}")]
    InvalidAccess {
        /// What was refused.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// W3C `OperationError`: the operation failed for a reason specific to
    /// it (a candidate that cannot be added, a data channel id in use, a
    /// full send buffer, ...).
    #[error("OperationError: {message}")]
    Operation {
        /// What failed.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// W3C `SyntaxError` (and `RTCError` `sdp-syntax-error`): SDP or a
    /// candidate that does not parse.
    #[error("SyntaxError: {message}")]
    Syntax {
        /// What does not parse.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// W3C `InvalidCharacterError`: a DTMF tone `insertDTMF` does not know
    /// (webrtc-pc §7.2 step 6: only `0-9`, `A-D`, `#`, `*` and `,`).
    #[error("InvalidCharacterError: {message}")]
    InvalidCharacter {
        /// What was refused.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// ECMAScript `TypeError`: invalid arguments (`RTCDataChannelInit`, a
    /// message over `maxMessageSize`).
    #[error("TypeError: {message}")]
    Type {
        /// What is invalid.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// W3C `NotSupportedError`: a feature this implementation lacks.
    #[error("NotSupportedError: {message}")]
    NotSupported {
        /// What is not supported.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// ECMAScript `RangeError`: a value outside the range the API allows
    /// (`jitterBufferTarget` above 4000 ms).
    #[error("RangeError: {message}")]
    Range {
        /// What is out of range.
        message: String,
        /// The lower layer's error.
        #[source]
        source: Option<Cause>,
    },
    /// The peer connection is closed (W3C `InvalidStateError` once the
    /// `[[IsClosed]]` slot is true).
    #[error("InvalidStateError: the peer connection is closed")]
    Closed,
}

impl Error {
    /// The W3C exception name (`"InvalidStateError"`, `"TypeError"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Error::InvalidState { .. } | Error::Closed => "InvalidStateError",
            Error::InvalidModification { .. } => "InvalidModificationError",
            Error::InvalidAccess { .. } => "InvalidAccessError",
            Error::Operation { .. } => "OperationError",
            Error::Syntax { .. } => "SyntaxError",
            Error::InvalidCharacter { .. } => "InvalidCharacterError",
            Error::Type { .. } => "TypeError",
            Error::NotSupported { .. } => "NotSupportedError",
            Error::Range { .. } => "RangeError",
        }
    }

    /// An `OperationError` whose cause is the SCTP send buffer being full
    /// (W3C `send()`, RFC 8831 §6.6): the message may be retried once the
    /// buffered amount falls.
    pub fn is_send_buffer_full(&self) -> bool {
        matches!(
            self.cause::<ferrtc_sctp::Error>(),
            Some(ferrtc_sctp::Error::SendBufferFull { .. })
        )
    }

    /// The lower-layer error of type `E` behind this one, if that is its
    /// cause.
    pub fn cause<E: StdError + 'static>(&self) -> Option<&E> {
        StdError::source(self).and_then(|s| s.downcast_ref::<E>())
    }

    /// The identity failure behind this error (W3C webrtc-identity: an IdP
    /// failure, a missing or mismatched peer identity), if that is its cause.
    pub fn identity_error(&self) -> Option<&crate::identity::IdentityError> {
        self.cause()
    }

    /// An `InvalidStateError` with no lower-layer cause (for a driver that
    /// checks a channel's state before it reaches the core, as W3C
    /// `send()` does).
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Error::InvalidState {
            message: message.into(),
            source: None,
        }
    }

    /// A `TypeError` with no lower-layer cause (W3C `send()` over
    /// `maxMessageSize`, checked by a driver before it reaches the core).
    pub fn type_error(message: impl Into<String>) -> Self {
        Error::Type {
            message: message.into(),
            source: None,
        }
    }
}

/// A variant with `cause` as its source and its message as the message.
fn with_cause<E: StdError + Send + Sync + 'static>(
    kind: fn(String, Option<Cause>) -> Error,
    cause: E,
) -> Error {
    kind(cause.to_string(), Some(Box::new(cause)))
}

fn invalid_state(message: String, source: Option<Cause>) -> Error {
    Error::InvalidState { message, source }
}

fn invalid_modification(message: String, source: Option<Cause>) -> Error {
    Error::InvalidModification { message, source }
}

fn invalid_access(message: String, source: Option<Cause>) -> Error {
    Error::InvalidAccess { message, source }
}

fn operation(message: String, source: Option<Cause>) -> Error {
    Error::Operation { message, source }
}

fn syntax(message: String, source: Option<Cause>) -> Error {
    Error::Syntax { message, source }
}

fn type_error(message: String, source: Option<Cause>) -> Error {
    Error::Type { message, source }
}

fn not_supported(message: String, source: Option<Cause>) -> Error {
    Error::NotSupported { message, source }
}

/// webrtc-pc §4.4.1.6 (setting a description), §4.4.1.5
/// (`addIceCandidate`) and RFC 8829 §5.
impl From<ferrtc_jsep::JsepError> for Error {
    fn from(e: ferrtc_jsep::JsepError) -> Self {
        use ferrtc_jsep::JsepError as J;
        let kind = match &e {
            J::Closed => return Error::Closed,
            J::InvalidState { .. } => invalid_state,
            J::Modified(_) | J::NothingCreated(_) => invalid_modification,
            J::Sdp(_) => syntax,
            // "If the content of description is invalid": InvalidAccessError.
            J::Invalid(_)
            | J::InvalidIceCredentials { .. }
            | J::IceCredentialsChanged { .. }
            | J::AnswerMismatch(_)
            | J::UnknownTransceiver(_) => invalid_access,
            // §4.4.1.5 addIceCandidate: no sdpMid and no sdpMLineIndex.
            J::CandidateWithoutMid => type_error,
            // §4.4.1.5: a section that does not exist, a candidate that
            // cannot be parsed or added (and TooManyCandidates).
            _ => operation,
        };
        with_cause(kind, e)
    }
}

/// webrtc-pc §4.4.1.6 `addIceCandidate`: a candidate that cannot be added
/// is an `OperationError`.
impl From<ferrtc_ice::Error> for Error {
    fn from(e: ferrtc_ice::Error) -> Self {
        use ferrtc_ice::Error as I;
        let kind = match &e {
            I::Closed => return Error::Closed,
            I::InvalidCredentials(_) => syntax,
            I::NotInLiteMode(_) => not_supported,
            I::NotConnected => invalid_state,
            _ => operation,
        };
        with_cause(kind, e)
    }
}

/// webrtc-pc §4.4.1.1 (constructor): an expired certificate is an
/// `InvalidAccessError`.
impl From<ferrtc_dtls::Error> for Error {
    fn from(e: ferrtc_dtls::Error) -> Self {
        use ferrtc_dtls::Error as D;
        let kind = match &e {
            D::CertificateExpired { .. } | D::InvalidCertificate { .. } => invalid_access,
            D::InvalidFingerprint { .. } => syntax,
            D::NotConnected => invalid_state,
            _ => operation,
        };
        with_cause(kind, e)
    }
}

/// webrtc-pc §6.2 `send()`: over `maxMessageSize` is a `TypeError`, a
/// channel not open an `InvalidStateError`, a full buffer an
/// `OperationError`.
impl From<ferrtc_sctp::Error> for Error {
    fn from(e: ferrtc_sctp::Error) -> Self {
        use ferrtc_sctp::Error as S;
        let kind = match &e {
            S::MessageTooLarge { .. } => type_error,
            S::StreamClosing(_) | S::InvalidState(_) => invalid_state,
            _ => operation,
        };
        with_cause(kind, e)
    }
}

/// webrtc-pc §6.2: `createDataChannel` throws `TypeError` for bad
/// parameters and `OperationError` for an id in use or no free id; `send()`
/// throws `InvalidStateError` unless open and `TypeError` over
/// `maxMessageSize`.
impl From<ferrtc_datachannel::Error> for Error {
    fn from(e: ferrtc_datachannel::Error) -> Self {
        use ferrtc_datachannel::Error as D;
        let kind = match e {
            D::Sctp(inner) => return Error::from(inner),
            D::UnknownChannel(_) | D::NotOpen(_) => invalid_state,
            D::MessageTooLarge { .. } | D::InvalidInit(_) => type_error,
            _ => operation,
        };
        with_cause(kind, e)
    }
}

/// W3C webrtc-identity §9.3, §9.5: an IdP failure rejects `createOffer`,
/// `createAnswer`, `getIdentityAssertion` and (with a target peer identity)
/// `setRemoteDescription` with an `OperationError` (an `RTCError` whose
/// `errorDetail` is [`IdentityError::error_detail`](crate::identity::IdentityError::error_detail)).
impl From<crate::identity::IdentityError> for Error {
    fn from(e: crate::identity::IdentityError) -> Self {
        with_cause(operation, e)
    }
}

impl From<crate::media::MediaError> for Error {
    fn from(e: crate::media::MediaError) -> Self {
        use crate::media::MediaError as M;
        let message = e.to_string();
        match &e {
            M::UnknownTransceiver(_) | M::UnknownRid(..) => {
                invalid_access(message, Some(Box::new(e)))
            }
            M::Stopped(_) | M::NotSending(..) | M::NotReceiving(..) => {
                invalid_state(message, Some(Box::new(e)))
            }
            M::BadKind(_) | M::KindMismatch { .. } => type_error(message, Some(Box::new(e))),
            M::UnsupportedCodec(_) => not_supported(message, Some(Box::new(e))),
            M::JitterBufferTarget(_) => Error::Range {
                message,
                source: Some(Box::new(e)),
            },
            // webrtc-pc §7.2 insertDTMF step 6.
            M::Dtmf(ferrtc_rtp::dtmf::DtmfError::InvalidCharacterError { .. }) => {
                Error::InvalidCharacter {
                    message,
                    source: Some(Box::new(e)),
                }
            }
            M::Dtmf(ferrtc_rtp::dtmf::DtmfError::InvalidStateError) => {
                invalid_state(message, Some(Box::new(e)))
            }
            _ => operation(message, Some(Box::new(e))),
        }
    }
}
