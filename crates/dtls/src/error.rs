//! Errors of the DTLS layer.

use std::time::SystemTime;

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
    /// the remote description (RFC 8122 §5, RFC 8842 §5.1).
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
    /// The negotiated DTLS-SRTP protection profile (RFC 5764 §4.1.2) is not in
    /// [`Config::srtp_profiles`](crate::Config::srtp_profiles).
    #[error("peer negotiated SRTP profile {profile}, which is not allowed by the configuration")]
    SrtpProfileNotAllowed {
        /// The profile the handshake settled on.
        profile: SrtpProfile,
    },
    /// The peer negotiated an SRTP profile this crate does not know.
    #[error("peer negotiated an unknown SRTP profile")]
    UnknownSrtpProfile,
    /// The DTLS engine reported a fatal error: the peer misbehaved, a
    /// signature did not verify, or no common cipher suite exists.
    #[error("DTLS handshake or record layer failed: {0}")]
    Protocol(#[source] dimpl::Error),
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
    /// The configuration is invalid (for example an MTU below 64 bytes).
    #[error("invalid DTLS configuration: {0}")]
    Config(#[source] dimpl::Error),
    /// Application data was sent before `Connected` or after close/failure.
    #[error("DTLS connection is not established")]
    NotConnected,
}
