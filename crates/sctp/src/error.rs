//! Errors of the SCTP layer.

/// Everything that can go wrong in the SCTP association: peer misbehaviour
/// (each maps to its wire action: drop and count, or ABORT) and API misuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A packet or chunk ended before a field it must hold (drop the packet).
    #[error("truncated {what}: {len} bytes, at least {needed} needed")]
    Truncated {
        /// What was being parsed.
        what: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A chunk or parameter length field is impossible (RFC 9260 §3.2: drop the packet).
    #[error("invalid length {length} in {what}")]
    BadLength {
        /// What was being parsed.
        what: &'static str,
        /// The length field found.
        length: usize,
    },
    /// The CRC32c of the packet does not verify (RFC 9260 §6.8: discard silently).
    #[error("checksum mismatch: packet says {found:#010x}, computed {computed:#010x}")]
    BadChecksum {
        /// The checksum in the common header.
        found: u32,
        /// The checksum computed over the packet.
        computed: u32,
    },
    /// The verification tag does not match the association (RFC 9260 §8.5: discard).
    #[error("verification tag {found:#010x} does not match {expected:#010x}")]
    BadVerificationTag {
        /// The tag in the packet.
        found: u32,
        /// The tag expected.
        expected: u32,
    },
    /// The state cookie failed its signature, is malformed, or is too old (RFC 9260 §5.1.5).
    #[error("invalid or stale state cookie")]
    BadCookie,
    /// The peer broke a protocol rule; the association is aborted with a
    /// "Protocol Violation" cause (RFC 9260 §3.3.10.13).
    #[error("protocol violation: {0}")]
    ProtocolViolation(&'static str),
    /// A message exceeds the configured `max_message_size`.
    #[error("message of {size} bytes exceeds max message size {max}")]
    MessageTooLarge {
        /// Size of the message.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The send buffer would exceed its configured limit (W3C `send()` throws OperationError).
    #[error("send buffer full: {buffered} bytes buffered, limit {limit}")]
    SendBufferFull {
        /// Bytes already buffered.
        buffered: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The stream id is out of range for the negotiated number of streams.
    #[error("stream {stream} is not available (negotiated {count} outbound streams)")]
    InvalidStream {
        /// The stream id asked for.
        stream: u16,
        /// Number of outbound streams negotiated.
        count: u16,
    },
    /// The stream is being reset and takes no more messages.
    #[error("stream {0} is closing")]
    StreamClosing(u16),
    /// The call is not allowed in the association's current state.
    #[error("operation not allowed in state {0:?}")]
    InvalidState(crate::AssociationState),
    /// An empty message was given with a PPID that is not one of the "empty" PPIDs;
    /// SCTP cannot carry zero-length user data (RFC 8831 §6.6).
    #[error("empty payload: SCTP DATA must carry at least one byte")]
    EmptyPayload,
}
