//! Data channel bookkeeping (W3C `RTCDataChannel` over RFC 8831 / 8832).

use std::time::Duration;

use ferrtc_sctp::{Reliability, SendOptions};

/// A data channel's handle inside one peer connection. Stable for the
/// connection's life; the SCTP stream id (W3C `id`) may be unknown until
/// the DTLS role is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub(crate) u32);

impl ChannelId {
    /// The handle as a number (for logs and maps).
    pub fn index(self) -> u32 {
        self.0
    }
}

/// W3C `RTCDataChannelInit`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCDataChannelInit")]
pub struct DataChannelInit {
    /// Deliver in order (default true).
    pub ordered: bool,
    /// Give up on a message after this long (W3C `maxPacketLifeTime`, an
    /// `unsigned short` of milliseconds: at most 65,535 ms, and DCEP
    /// announces it to the peer in whole milliseconds).
    pub max_packet_life_time: Option<Duration>,
    /// Give up on a message after this many retransmissions.
    pub max_retransmits: Option<u16>,
    /// Subprotocol name.
    pub protocol: String,
    /// The application negotiated the channel out of band: no DCEP, and
    /// `id` must be given.
    pub negotiated: bool,
    /// The SCTP stream id (required when `negotiated`).
    pub id: Option<u16>,
}

impl Default for DataChannelInit {
    fn default() -> Self {
        DataChannelInit {
            ordered: true,
            max_packet_life_time: None,
            max_retransmits: None,
            protocol: String::new(),
            negotiated: false,
            id: None,
        }
    }
}

/// W3C `RTCDataChannelState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "RTCDataChannelState")]
pub enum DataChannelState {
    /// Waiting for SCTP (and DCEP).
    Connecting,
    /// Messages flow.
    Open,
    /// Closing: stream reset in progress.
    Closing,
    /// Closed.
    Closed,
}

impl DataChannelState {
    /// The W3C string.
    pub fn as_str(self) -> &'static str {
        match self {
            DataChannelState::Connecting => "connecting",
            DataChannelState::Open => "open",
            DataChannelState::Closing => "closing",
            DataChannelState::Closed => "closed",
        }
    }
}

/// What is known about one channel.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub(crate) label: String,
    pub(crate) protocol: String,
    pub(crate) ordered: bool,
    pub(crate) reliability: Reliability,
    pub(crate) negotiated: bool,
    pub(crate) stream: Option<u16>,
    pub(crate) state: DataChannelState,
    /// We sent DATA_CHANNEL_OPEN and no ACK came yet: send ordered
    /// (RFC 8832 §6).
    pub(crate) awaiting_ack: bool,
    pub(crate) reset_out: bool,
    pub(crate) reset_in: bool,
    pub(crate) low_threshold: usize,
    pub(crate) stats: ChannelStats,
}

impl Channel {
    pub(crate) fn send_options(&self) -> SendOptions {
        SendOptions {
            unordered: !self.ordered && !self.awaiting_ack,
            reliability: self.reliability,
        }
    }
}

/// Counters of one channel (W3C `RTCDataChannelStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Messages sent.
    pub messages_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
}

/// A read-only view of a channel (W3C `RTCDataChannel` attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// `label`.
    pub label: String,
    /// `protocol`.
    pub protocol: String,
    /// `ordered`.
    pub ordered: bool,
    /// `maxRetransmits`.
    pub max_retransmits: Option<u16>,
    /// `maxPacketLifeTime`.
    pub max_packet_life_time: Option<Duration>,
    /// `negotiated`.
    pub negotiated: bool,
    /// `id`: the SCTP stream, once known.
    pub id: Option<u16>,
    /// `readyState`.
    pub ready_state: DataChannelState,
    /// Counters.
    pub stats: ChannelStats,
}

impl From<&Channel> for ChannelInfo {
    fn from(c: &Channel) -> Self {
        let (max_retransmits, max_packet_life_time) = match c.reliability {
            Reliability::Reliable => (None, None),
            Reliability::MaxRetransmits(n) => (Some(n), None),
            Reliability::MaxLifetime(d) => (None, Some(d)),
        };
        ChannelInfo {
            label: c.label.clone(),
            protocol: c.protocol.clone(),
            ordered: c.ordered,
            max_retransmits,
            max_packet_life_time,
            negotiated: c.negotiated,
            id: c.stream,
            ready_state: c.state,
            stats: c.stats,
        }
    }
}
