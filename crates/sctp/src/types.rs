//! Public value types of the SCTP layer: messages, send options, events.

use std::time::Duration;

/// Payload Protocol Identifiers used by WebRTC (RFC 8831 §8, IANA).
pub mod ppid {
    /// DCEP control message (RFC 8832).
    pub const DCEP: u32 = 50;
    /// UTF-8 string message.
    pub const STRING: u32 = 51;
    /// Deprecated partial binary message (dropped with a counter).
    pub const BINARY_PARTIAL: u32 = 52;
    /// Binary message.
    pub const BINARY: u32 = 53;
    /// Deprecated partial string message (dropped with a counter).
    pub const STRING_PARTIAL: u32 = 54;
    /// Empty string (sent with one zero byte of payload).
    pub const STRING_EMPTY: u32 = 56;
    /// Empty binary message (sent with one zero byte of payload).
    pub const BINARY_EMPTY: u32 = 57;
}

/// Partial reliability policy of a message (RFC 3758; W3C `maxRetransmits`
/// and `maxPacketLifeTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reliability {
    /// Retransmit until acknowledged.
    #[default]
    Reliable,
    /// Give up after this many retransmissions (W3C `maxRetransmits`).
    MaxRetransmits(u16),
    /// Give up once the message is older than this (W3C `maxPacketLifeTime`).
    MaxLifetime(Duration),
}

/// How a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendOptions {
    /// Deliver as soon as complete, not in stream order (U bit, RFC 9260 §3.3.1).
    pub unordered: bool,
    /// Partial reliability policy.
    pub reliability: Reliability,
}

impl SendOptions {
    /// Reliable and ordered: the default data channel.
    pub const RELIABLE_ORDERED: Self = Self {
        unordered: false,
        reliability: Reliability::Reliable,
    };
}

/// A message received on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The SCTP stream id.
    pub stream: u16,
    /// The Payload Protocol Identifier.
    pub ppid: u32,
    /// Whether it was sent unordered.
    pub unordered: bool,
    /// The reassembled payload.
    pub data: Vec<u8>,
}

/// Why an association ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Graceful SHUTDOWN completed (RFC 9260 §9.2).
    Shutdown,
    /// The peer sent ABORT, with the first error cause code if any.
    AbortedByPeer {
        /// First error cause code in the ABORT, if any.
        cause: Option<u16>,
    },
    /// We aborted because the peer broke a rule.
    AbortedLocally(crate::Error),
    /// The application called [`Association::abort`](crate::Association::abort).
    UserAbort,
    /// Too many retransmissions without an answer (RFC 9260 §8.1).
    Timeout,
}

/// Something the layer above must know (from [`Association::poll_event`](crate::Association::poll_event)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The association is established (COOKIE-ACK received or sent).
    Connected,
    /// A complete message arrived.
    Message(Message),
    /// The peer reset its outgoing stream (our incoming side, RFC 6525 §5.2.2):
    /// the data channel on this stream is closing.
    IncomingStreamReset(u16),
    /// The peer reset every one of its outgoing streams (an Outgoing SSN
    /// Reset Request listing no stream, RFC 6525 §4.1): as
    /// [`IncomingStreamReset`](Self::IncomingStreamReset) for each incoming
    /// stream, also one the peer never sent on. Told once, in place of one
    /// event per stream (there can be 65,535).
    AllIncomingStreamsReset,
    /// The peer asked for the reset of this outgoing stream (an Incoming
    /// SSN Reset Request, RFC 6525 §4.2). The association resets it once
    /// its queued messages are sent (§5.2.3) and takes no new message on
    /// it until then; [`OutgoingStreamReset`](Self::OutgoingStreamReset)
    /// follows. For a data channel this is its closing (RFC 8831 §6.7):
    /// the peer takes our reset for our side of the channel closing. A
    /// request listing no stream is told for each stream in use (the
    /// others are at SSN 0 already and are not reset); a stream being
    /// reset already is not told again.
    OutgoingStreamResetRequested(u16),
    /// Our reset of this outgoing stream was performed by the peer (RFC 6525 §5.2.3).
    OutgoingStreamReset(u16),
    /// The peer refused our reset of this outgoing stream (Denied or an
    /// error result, RFC 6525 §4.4) more than
    /// [`Config::max_retransmits`](crate::Config::max_retransmits) times in
    /// a row, or answered "In progress" (result 6) more than that many
    /// times: it is given up. The stream takes messages again; its
    /// sequence numbers go on.
    OutgoingStreamResetFailed(u16),
    /// The buffered amount of a stream fell to or below its low threshold.
    BufferedAmountLow(u16),
    /// The peer sent an ERROR chunk with this cause code (RFC 9260 §3.3.10).
    PeerError(u16),
    /// The association is closed; nothing more will be sent or received.
    Closed(CloseReason),
}

/// The association's state (RFC 9260 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssociationState {
    /// Created, not yet connecting (`connect()` or the peer's INIT starts it).
    Closed,
    /// INIT sent, waiting for INIT-ACK.
    CookieWait,
    /// COOKIE-ECHO sent, waiting for COOKIE-ACK.
    CookieEchoed,
    /// Data flows.
    Established,
    /// `shutdown()` called; waiting for outstanding data to be acknowledged.
    ShutdownPending,
    /// SHUTDOWN sent.
    ShutdownSent,
    /// SHUTDOWN received; finishing our outstanding data.
    ShutdownReceived,
    /// SHUTDOWN-ACK sent.
    ShutdownAckSent,
    /// Closed for good (after shutdown, abort or failure).
    Terminated,
}

/// Counters of what the association did and dropped, for stats and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Packets received and accepted.
    pub packets_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets dropped: bad checksum, bad tag, malformed.
    pub packets_dropped: u64,
    /// DATA chunks received (including duplicates).
    pub data_chunks_received: u64,
    /// Duplicate DATA chunks received.
    pub duplicate_chunks_received: u64,
    /// DATA chunks dropped for lack of receive buffer.
    pub data_chunks_dropped: u64,
    /// DATA chunks sent for the first time.
    pub data_chunks_sent: u64,
    /// DATA chunks retransmitted (T3 or fast retransmit).
    pub data_chunks_retransmitted: u64,
    /// Fast retransmit episodes.
    pub fast_retransmits: u64,
    /// T3-rtx timer expiries.
    pub t3_expiries: u64,
    /// Messages delivered to the application.
    pub messages_received: u64,
    /// Messages abandoned by PR-SCTP on the sending side.
    pub messages_abandoned: u64,
    /// Unknown or unexpected chunks skipped.
    pub chunks_ignored: u64,
    /// Current congestion window (bytes).
    pub cwnd: usize,
    /// Current smoothed RTT estimate, if measured.
    pub srtt: Option<Duration>,
}
