//! Errors of the TURN client: API misuse, malformed ChannelData, and why a
//! request failed.

use std::net::{IpAddr, SocketAddr};

/// What went wrong in a [`crate::Client`] call or while parsing a ChannelData
/// message (RFC 8656).
#[non_exhaustive]
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The client has no allocation (yet, or any more): RFC 8656 §7 comes first.
    #[error("no allocation: {state}")]
    NotAllocated {
        /// The client's state.
        state: &'static str,
    },
    /// Sending to a peer needs a permission for its IP (RFC 8656 §9).
    #[error("no permission for peer {peer}")]
    NoPermission {
        /// The peer's IP.
        peer: IpAddr,
    },
    /// A CreatePermission for the peer's IP is still in flight: data may go
    /// out only once the server installed the permission (RFC 8656 §9).
    #[error("permission for peer {peer} not installed yet")]
    PermissionPending {
        /// The peer's IP.
        peer: IpAddr,
    },
    /// The queue of datagrams for the server is full
    /// ([`crate::MAX_QUEUED_TRANSMITS`]): the caller is not draining
    /// [`crate::Client::poll_transmit`].
    #[error("transmit queue full ({queued} datagrams)")]
    QueueFull {
        /// Datagrams queued.
        queued: usize,
    },
    /// Bytes on a TCP/TLS stream from the server that start neither a STUN
    /// message nor ChannelData (RFC 8656 §12.5): framing is lost and the
    /// connection must be closed.
    #[error("stream from the server lost framing at byte {byte:#04x}")]
    StreamGarbage {
        /// The first byte of the bad frame.
        byte: u8,
    },
    /// More unframed bytes than [`crate::STREAM_BUFFER_LIMIT`]: the caller
    /// must take frames out before pushing more.
    #[error("stream buffer holds {buffered} bytes, {pushed} more would exceed its limit")]
    StreamBufferFull {
        /// Bytes already buffered.
        buffered: usize,
        /// Bytes pushed.
        pushed: usize,
    },
    /// All channel numbers 0x4000..=0x4FFF are bound, being bound, or
    /// expired less than 5 minutes ago (RFC 8656 §12).
    #[error("no free channel number for {peer}")]
    ChannelsExhausted {
        /// The peer asked for.
        peer: SocketAddr,
    },
    /// Application data longer than a DATA attribute or ChannelData can carry.
    #[error("{len} bytes of data do not fit one message")]
    DataTooLong {
        /// The length given.
        len: usize,
    },
    /// Fewer bytes than a ChannelData header (RFC 8656 §12.4).
    #[error("ChannelData of {len} bytes is shorter than its 4-byte header")]
    ChannelDataTooShort {
        /// Datagram length.
        len: usize,
    },
    /// A channel number outside 0x4000..=0x4FFF (RFC 8656 §12).
    #[error("channel number {channel:#06x} is outside 0x4000..=0x4fff")]
    InvalidChannel {
        /// The number found.
        channel: u16,
    },
    /// The length field of a ChannelData message runs past the datagram.
    #[error("ChannelData on {channel:#06x} declares {declared} bytes, {available} present")]
    ChannelDataTruncated {
        /// Channel number.
        channel: u16,
        /// Length field.
        declared: usize,
        /// Bytes after the header.
        available: usize,
    },
    /// The STUN codec refused to build a message.
    #[error("STUN: {0}")]
    Stun(#[from] ferrtc_stun::Error),
}

/// Why a TURN request failed, reported in [`crate::Event::Failed`].
#[non_exhaustive]
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The server answered with an error response (RFC 8489 §14.8 ERROR-CODE).
    #[error("server answered {code} {reason}")]
    Rejected {
        /// The error code, e.g. 401, 437, 441, 486.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// No response after all retransmissions (RFC 8489 §6.2.1).
    #[error("no response after {transmits} transmissions")]
    Timeout {
        /// Transmissions sent.
        transmits: u32,
    },
    /// A success response lacked a required attribute (RFC 8656 §7.3).
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The 401 challenge offered no password algorithm we know (RFC 8489 §9.2.4).
    #[error("no supported password algorithm offered")]
    NoPasswordAlgorithm,
    /// The nonce announces password algorithms but PASSWORD-ALGORITHMS is
    /// missing or changed: a bid-down attack (RFC 8489 §9.2.5).
    #[error("PASSWORD-ALGORITHMS missing or changed: bid-down refused")]
    BidDown,
}
