//! Errors of the DTLS layer.

use std::fmt;
use std::time::SystemTime;

use crate::alert::AlertDescription;
use crate::codec::DecodeError;
use crate::fingerprint::Fingerprint;
use crate::srtp::SrtpProfile;

/// Everything that can go wrong in `ferrtc-dtls`: certificate handling,
/// fingerprint parsing, the DTLS handshake (RFC 6347) and API misuse.
///
/// Any error delivered in [`Event::Failed`](crate::Event::Failed) is fatal for
/// that connection: the transport is unusable and must be thrown away.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer's certificate matched none of the `a=fingerprint` values from
    /// the remote description (RFC 8122 §5, RFC 8842 §5.1). A fatal
    /// `bad_certificate` alert was sent to the peer.
    #[error("peer certificate fingerprint {actual} matches none of the expected {expected:?}")]
    FingerprintMismatch {
        /// The fingerprints announced in the remote SDP.
        expected: Vec<Fingerprint>,
        /// The peer certificate's fingerprint, with the first expected algorithm.
        actual: Fingerprint,
    },
    /// The handshake completed without the peer presenting a certificate.
    #[error("peer presented no certificate")]
    NoPeerCertificate,
    /// The server selected a DTLS-SRTP protection profile (RFC 5764 §4.1.2)
    /// that is not in [`Config::srtp_profiles`](crate::Config::srtp_profiles).
    #[error("peer negotiated SRTP profile {profile}, which is not allowed by the configuration")]
    SrtpProfileNotAllowed {
        /// The profile the server selected.
        profile: SrtpProfile,
    },
    /// The peer sent a fatal alert (RFC 5246 §7.2), or a warning alert that
    /// ends the connection.
    #[error("peer sent alert {description}")]
    AlertReceived {
        /// The alert's description.
        description: AlertDescription,
    },
    /// We ended the connection with a fatal alert to the peer because of
    /// `reason`.
    #[error("sent fatal alert {sent}: {reason}")]
    Protocol {
        /// The alert we sent.
        sent: AlertDescription,
        /// Why.
        reason: ProtocolError,
    },
    /// The handshake ran out of retransmissions or hit its overall deadline.
    #[error("DTLS handshake timed out")]
    HandshakeTimeout,
    /// The certificate's `notAfter` is at or before the given time.
    #[error("certificate expired at {not_after:?} (now {now:?})")]
    CertificateExpired {
        /// The certificate's `notAfter`.
        not_after: SystemTime,
        /// The time the check was made against.
        now: SystemTime,
    },
    /// rcgen could not generate the certificate.
    #[error("certificate generation failed: {0}")]
    CertificateGeneration(#[source] rcgen::Error),
    /// A certificate or key given for import is malformed or unsupported.
    #[error("invalid certificate or key: {reason}")]
    InvalidCertificate {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `a=fingerprint` value (RFC 8122 §5) could not be parsed.
    #[error("invalid fingerprint: {reason}")]
    InvalidFingerprint {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The configuration is invalid (for example an MTU below [`MIN_MTU`](crate::MIN_MTU)).
    #[error("invalid DTLS configuration: {reason}")]
    Config {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Application data was sent before `Connected` or after close/failure,
    /// or a record does not fit the MTU.
    #[error("DTLS connection is not established")]
    NotConnected,
    /// An application record is larger than the MTU allows.
    #[error("application data of {len} bytes exceeds the {max} bytes a record can carry")]
    RecordTooLarge {
        /// The payload length.
        len: usize,
        /// The most one record can carry at the configured MTU.
        max: usize,
    },
}

/// Why the engine ended a handshake or connection with a fatal alert.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A handshake message or record body did not parse (`decode_error`).
    Decode(DecodeError),
    /// A message arrived that is not allowed in this state (`unexpected_message`).
    UnexpectedMessage {
        /// The state machine's state.
        state: &'static str,
        /// The handshake message type received.
        got: u8,
    },
    /// No cipher suite offered by the client is one we support (`handshake_failure`).
    NoCommonCipherSuite,
    /// No key exchange group in common (`handshake_failure`).
    NoCommonGroup,
    /// No signature scheme in common, or the peer's key does not fit its scheme.
    NoCommonSignatureScheme,
    /// The peer does not offer the extended master secret (RFC 7627 §5.2), which we require.
    NoExtendedMasterSecret,
    /// The peer does not support the secure renegotiation indication (RFC 5746) or sent a non-empty one.
    BadRenegotiationInfo,
    /// The peer selected something we did not offer (`illegal_parameter`).
    IllegalParameter(&'static str),
    /// The peer's DTLS version is not 1.2 (`protocol_version`).
    UnsupportedVersion(u16),
    /// The ServerHello carries an extension of this type that the
    /// ClientHello did not offer (RFC 5246 §7.4.1.4, `unsupported_extension`).
    UnsupportedExtension(u16),
    /// The peer's certificate is unparsable or of an unsupported key type
    /// (`bad_certificate` / `unsupported_certificate`).
    BadCertificate(&'static str),
    /// The ServerKeyExchange or CertificateVerify signature did not verify (`decrypt_error`).
    BadSignature,
    /// The peer's Finished did not match the transcript (`decrypt_error`).
    BadFinished,
    /// The peer's key share is invalid (`illegal_parameter`).
    BadKeyShare,
    /// A record decrypted to more than 2^14 bytes of plaintext (RFC 5246
    /// §6.2.3, RFC 8446 §5.2: `record_overflow`).
    RecordOverflow {
        /// The plaintext length.
        len: usize,
    },
    /// A cryptographic primitive failed locally (`internal_error`).
    Internal(&'static str),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "{e}"),
            Self::UnexpectedMessage { state, got } => {
                write!(f, "unexpected handshake message {got} in state {state}")
            }
            Self::NoCommonCipherSuite => f.write_str("no cipher suite in common"),
            Self::NoCommonGroup => f.write_str("no key exchange group in common"),
            Self::NoCommonSignatureScheme => f.write_str("no signature scheme in common"),
            Self::NoExtendedMasterSecret => {
                f.write_str("peer does not support the extended master secret (RFC 7627)")
            }
            Self::BadRenegotiationInfo => f.write_str("missing or non-empty renegotiation_info"),
            Self::IllegalParameter(what) => write!(f, "illegal parameter: {what}"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported version {v:#06x}"),
            Self::UnsupportedExtension(t) => write!(f, "extension {t} was not offered"),
            Self::BadCertificate(what) => write!(f, "bad certificate: {what}"),
            Self::BadSignature => f.write_str("signature did not verify"),
            Self::BadFinished => f.write_str("Finished did not verify"),
            Self::BadKeyShare => f.write_str("invalid key share"),
            Self::RecordOverflow { len } => {
                write!(f, "record of {len} bytes of plaintext, over 2^14")
            }
            Self::Internal(what) => write!(f, "internal error: {what}"),
        }
    }
}

impl ProtocolError {
    /// The alert RFC 5246 §7.2.2 prescribes for this error.
    pub fn alert(&self) -> AlertDescription {
        match self {
            Self::Decode(_) => AlertDescription::DecodeError,
            Self::UnexpectedMessage { .. } => AlertDescription::UnexpectedMessage,
            Self::NoCommonCipherSuite
            | Self::NoCommonGroup
            | Self::NoCommonSignatureScheme
            | Self::NoExtendedMasterSecret
            | Self::BadRenegotiationInfo => AlertDescription::HandshakeFailure,
            Self::IllegalParameter(_) | Self::BadKeyShare => AlertDescription::IllegalParameter,
            Self::UnsupportedVersion(_) => AlertDescription::ProtocolVersion,
            Self::UnsupportedExtension(_) => AlertDescription::UnsupportedExtension,
            Self::BadCertificate(_) => AlertDescription::BadCertificate,
            Self::BadSignature | Self::BadFinished => AlertDescription::DecryptError,
            Self::RecordOverflow { .. } => AlertDescription::RecordOverflow,
            Self::Internal(_) => AlertDescription::InternalError,
        }
    }
}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}
