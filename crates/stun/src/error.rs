//! Errors of the STUN codec.

/// Everything that can go wrong while parsing, building or authenticating a
/// STUN message (RFC 8489).
///
/// Parsing variants mean "the peer sent something malformed": the caller drops
/// the datagram (or, for a request, answers 400 Bad Request).
#[non_exhaustive]
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The datagram is shorter than the 20-byte STUN header (RFC 8489 §5).
    #[error("datagram of {len} bytes is shorter than the 20-byte STUN header")]
    TooShort {
        /// Length of the datagram.
        len: usize,
    },
    /// The two most significant bits of the message are not zero (RFC 8489 §5).
    #[error("first two bits of the STUN header are not zero")]
    NotStun,
    /// The magic cookie is not 0x2112A442 (RFC 8489 §5).
    #[error("magic cookie {found:#010x} is not 0x2112a442")]
    BadMagicCookie {
        /// The cookie found in the header.
        found: u32,
    },
    /// The message length is not a multiple of 4 (RFC 8489 §5).
    #[error("message length {len} is not a multiple of 4")]
    UnalignedLength {
        /// The length field of the header.
        len: u16,
    },
    /// The header's length field does not match the datagram length.
    #[error("header says {header} bytes of attributes but the datagram carries {actual}")]
    LengthMismatch {
        /// Attribute bytes announced by the header.
        header: usize,
        /// Attribute bytes actually present.
        actual: usize,
    },
    /// An attribute's value runs past the end of the message (RFC 8489 §14).
    #[error("attribute {typ:#06x} of length {len} runs past the end of the message")]
    AttributeOverflow {
        /// Attribute type.
        typ: u16,
        /// Declared value length.
        len: u16,
    },
    /// The message carries more attributes than the parser accepts.
    #[error("message carries more than {max} attributes")]
    TooManyAttributes {
        /// The limit, [`crate::MAX_ATTRIBUTES`].
        max: usize,
    },
    /// An attribute value has a length its type does not allow.
    #[error("attribute {typ:#06x} has invalid length {len}")]
    InvalidAttributeLength {
        /// Attribute type.
        typ: u16,
        /// Value length.
        len: usize,
    },
    /// A text attribute (USERNAME, REALM, ...) is not valid UTF-8.
    #[error("attribute {typ:#06x} is not valid UTF-8")]
    InvalidUtf8 {
        /// Attribute type.
        typ: u16,
    },
    /// An address attribute names a family other than IPv4 (0x01) or IPv6 (0x02).
    #[error("attribute {typ:#06x} has unknown address family {family:#04x}")]
    UnknownAddressFamily {
        /// Attribute type.
        typ: u16,
        /// The family byte found.
        family: u8,
    },
    /// An ERROR-CODE (or ADDRESS-ERROR-CODE) has a class outside 3..=6 or a
    /// number above 99 (RFC 8489 §14.8).
    #[error("attribute {typ:#06x} carries invalid error code class {class} number {number}")]
    InvalidErrorCode {
        /// Attribute type.
        typ: u16,
        /// Class (hundreds digit).
        class: u8,
        /// Number (0..=99 when valid).
        number: u8,
    },
    /// The message has no MESSAGE-INTEGRITY / MESSAGE-INTEGRITY-SHA256 attribute
    /// of the kind asked for.
    #[error("message has no {0} attribute")]
    MissingIntegrity(&'static str),
    /// MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 does not match: the sender
    /// does not know the key, or the message was altered (RFC 8489 §9).
    #[error("{0} check failed")]
    IntegrityMismatch(&'static str),
    /// The message has no FINGERPRINT attribute (RFC 8489 §14.7).
    #[error("message has no FINGERPRINT attribute")]
    MissingFingerprint,
    /// The FINGERPRINT attribute does not match the message (RFC 8489 §14.7).
    #[error("FINGERPRINT {found:#010x} does not match computed {expected:#010x}")]
    FingerprintMismatch {
        /// Value in the message.
        found: u32,
        /// Value computed over the message.
        expected: u32,
    },
    /// A builder was asked to write a value too long for its attribute type
    /// (RFC 8489 §14 limits, or the 16-bit length field).
    #[error("value of {len} bytes is too long for attribute {typ:#06x} (max {max})")]
    ValueTooLong {
        /// Attribute type.
        typ: u16,
        /// Length given.
        len: usize,
        /// Largest length allowed.
        max: usize,
    },
    /// A builder was asked for a value the attribute cannot carry (e.g. an
    /// ERROR-CODE outside 300..=699, a MAPPED-ADDRESS family mismatch).
    #[error("invalid value for attribute {typ:#06x}: {reason}")]
    InvalidValue {
        /// Attribute type.
        typ: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// The message would exceed the 16-bit length field of the STUN header.
    #[error("message would exceed 65535 bytes of attributes")]
    MessageTooLong,
    /// [`crate::MessageBuilder::add`] was given MESSAGE-INTEGRITY,
    /// MESSAGE-INTEGRITY-SHA256 or FINGERPRINT, which the builder computes
    /// itself via its dedicated methods.
    #[error("attribute {typ:#06x} is computed by the builder; use its dedicated method")]
    ComputedAttribute {
        /// Attribute type.
        typ: u16,
    },
    /// An attribute was added after MESSAGE-INTEGRITY(-SHA256) or FINGERPRINT,
    /// where receivers would ignore it (RFC 8489 §14.5-§14.7).
    #[error("attribute {typ:#06x} added after an integrity or fingerprint attribute")]
    AttributeAfterIntegrity {
        /// Attribute type.
        typ: u16,
    },
}
