//! Alerts (RFC 5246 §7.2): the descriptions this engine sends and names.

use std::fmt;

/// Alert level (RFC 5246 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertLevel {
    /// `warning(1)`.
    Warning,
    /// `fatal(2)`: the connection ends.
    Fatal,
}

impl AlertLevel {
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Warning),
            2 => Some(Self::Fatal),
            _ => None,
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Self::Warning => 1,
            Self::Fatal => 2,
        }
    }
}

/// An alert description (RFC 5246 §7.2, RFC 5746 for `no_renegotiation`).
/// Descriptions this crate does not name are kept as [`Other`](Self::Other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertDescription {
    /// `close_notify(0)`.
    CloseNotify,
    /// `unexpected_message(10)`.
    UnexpectedMessage,
    /// `bad_record_mac(20)`.
    BadRecordMac,
    /// `record_overflow(22)`: a record over 2^14 bytes of plaintext.
    RecordOverflow,
    /// `handshake_failure(40)`.
    HandshakeFailure,
    /// `bad_certificate(42)`: for WebRTC, the fingerprint did not match.
    BadCertificate,
    /// `unsupported_certificate(43)`.
    UnsupportedCertificate,
    /// `certificate_expired(45)`.
    CertificateExpired,
    /// `illegal_parameter(47)`.
    IllegalParameter,
    /// `decode_error(50)`.
    DecodeError,
    /// `decrypt_error(51)`: a Finished or signature did not verify.
    DecryptError,
    /// `protocol_version(70)`.
    ProtocolVersion,
    /// `insufficient_security(71)`.
    InsufficientSecurity,
    /// `internal_error(80)`.
    InternalError,
    /// `no_renegotiation(100)`.
    NoRenegotiation,
    /// `unsupported_extension(110)`.
    UnsupportedExtension,
    /// Any other code.
    Other(u8),
}

impl AlertDescription {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Self::CloseNotify => 0,
            Self::UnexpectedMessage => 10,
            Self::BadRecordMac => 20,
            Self::RecordOverflow => 22,
            Self::HandshakeFailure => 40,
            Self::BadCertificate => 42,
            Self::UnsupportedCertificate => 43,
            Self::CertificateExpired => 45,
            Self::IllegalParameter => 47,
            Self::DecodeError => 50,
            Self::DecryptError => 51,
            Self::ProtocolVersion => 70,
            Self::InsufficientSecurity => 71,
            Self::InternalError => 80,
            Self::NoRenegotiation => 100,
            Self::UnsupportedExtension => 110,
            Self::Other(code) => code,
        }
    }

    /// The description for a wire code.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Self::CloseNotify,
            10 => Self::UnexpectedMessage,
            20 => Self::BadRecordMac,
            22 => Self::RecordOverflow,
            40 => Self::HandshakeFailure,
            42 => Self::BadCertificate,
            43 => Self::UnsupportedCertificate,
            45 => Self::CertificateExpired,
            47 => Self::IllegalParameter,
            50 => Self::DecodeError,
            51 => Self::DecryptError,
            70 => Self::ProtocolVersion,
            71 => Self::InsufficientSecurity,
            80 => Self::InternalError,
            100 => Self::NoRenegotiation,
            110 => Self::UnsupportedExtension,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for AlertDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(code) => write!(f, "alert {code}"),
            known => write!(f, "{known:?}({})", known.code()),
        }
    }
}
