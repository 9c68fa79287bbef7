//! One data channel's attributes, state and counters (W3C `RTCDataChannel`
//! over RFC 8831 / 8832).

use std::collections::VecDeque;
use std::time::Duration;

use ferrtc_sctp::{Reliability, SendOptions};

/// A data channel's handle inside one [`DataChannels`](crate::DataChannels)
/// engine (one peer connection). Stable for the connection's life; never
/// given to another channel while the engine still knows this one (open,
/// or closed and kept for stats, [`Config::max_closed_channels`](crate::Config::max_closed_channels)); only
/// after 2^32 channels may the handle of a forgotten one come back.
/// Independent of the SCTP stream id (W3C `id`), which is
/// unknown until the DTLS role settles its parity (RFC 8832 §6).
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
    /// Give up on a message after this many retransmissions (W3C `maxRetransmits`).
    pub max_retransmits: Option<u16>,
    /// Subprotocol name (W3C `protocol`).
    pub protocol: String,
    /// The application negotiated the channel out of band (W3C
    /// `negotiated`): no DCEP, and `id` must be given.
    pub negotiated: bool,
    /// The SCTP stream id (W3C `id`): required when `negotiated`, and
    /// ignored otherwise, as W3C `createDataChannel` says: an in-band
    /// channel's stream follows the DTLS role (RFC 8832 §6).
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
    /// Waiting for SCTP (and, for an in-band channel, for the
    /// DATA_CHANNEL_OPEN to be sent).
    Connecting,
    /// Messages flow.
    Open,
    /// Closing: stream reset in progress (RFC 8831 §6.7).
    Closing,
    /// Closed.
    Closed,
}

impl DataChannelState {
    /// The W3C string (`"connecting"`, `"open"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DataChannelState::Connecting => "connecting",
            DataChannelState::Open => "open",
            DataChannelState::Closing => "closing",
            DataChannelState::Closed => "closed",
        }
    }
}

/// Counters of one channel (W3C `RTCDataChannelStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[doc(alias = "RTCDataChannelStats")]
pub struct ChannelStats {
    /// Messages sent (`messagesSent`).
    pub messages_sent: u64,
    /// Payload bytes sent (`bytesSent`).
    pub bytes_sent: u64,
    /// Messages received (`messagesReceived`).
    pub messages_received: u64,
    /// Payload bytes received (`bytesReceived`).
    pub bytes_received: u64,
}

/// A read-only view of a channel (W3C `RTCDataChannel` attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCDataChannel")]
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

/// A message received on a data channel (W3C `MessageEvent.data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataChannelMessage {
    /// A text message (PPID 51 or 56, RFC 8831 §6.6).
    Text(String),
    /// A binary message (PPID 53 or 57).
    Binary(Vec<u8>),
}

impl DataChannelMessage {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            DataChannelMessage::Text(s) => s.as_bytes(),
            DataChannelMessage::Binary(b) => b,
        }
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, DataChannelMessage::Binary(_))
    }
}

/// What the engine knows about one channel.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub(crate) label: String,
    pub(crate) protocol: String,
    pub(crate) ordered: bool,
    pub(crate) reliability: Reliability,
    pub(crate) negotiated: bool,
    /// The SCTP stream, once allocated (at creation for a given `id`, else
    /// once the DTLS role is known).
    pub(crate) stream: Option<u16>,
    pub(crate) state: DataChannelState,
    /// We sent DATA_CHANNEL_OPEN and neither the ACK nor any data came
    /// back yet: send ordered (RFC 8832 §6).
    pub(crate) awaiting_ack: bool,
    /// Our outgoing stream is to be reset (we closed, answer the peer, or
    /// the peer asked for it, RFC 6525 §4.2).
    pub(crate) reset_out: bool,
    /// The reset is handed to SCTP (it may wait there behind queued data);
    /// false while it waits in the engine for an earlier reset of the
    /// stream to complete.
    pub(crate) reset_sent: bool,
    /// SCTP reported our outgoing reset complete
    /// (`ferrtc_sctp::Event::OutgoingStreamReset`).
    pub(crate) reset_out_done: bool,
    /// The peer reset its outgoing stream (our incoming one).
    pub(crate) reset_in: bool,
    /// W3C `bufferedAmountLowThreshold`, kept until the stream exists.
    pub(crate) low_threshold: usize,
    pub(crate) stats: ChannelStats,
    /// Messages (DATA_CHANNEL_ACK, data) held back while the stream's
    /// earlier outgoing reset, of a channel now gone, is still in flight:
    /// SCTP takes nothing on a stream being reset. Sent, in order, once it
    /// completes.
    pub(crate) held: VecDeque<Held>,
    /// Payload bytes in `held` (part of `bufferedAmount`).
    pub(crate) held_bytes: usize,
    /// SCTP's count of the peer's requests to reset the stream (RFC 6525
    /// §4.2, `Association::peer_reset_requests`) when the channel was put
    /// on it: requests up to this count predate the channel (its messages
    /// wait for their resets), later ones are the peer closing it.
    pub(crate) peer_resets_at: u32,
}

/// A message waiting in [`Channel::held`].
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) ppid: u32,
    pub(crate) data: Vec<u8>,
    pub(crate) options: SendOptions,
}

impl Channel {
    /// How this channel's messages go to SCTP: ordered until the peer has
    /// answered our DATA_CHANNEL_OPEN (RFC 8832 §6).
    /// A channel in `state`, nothing reset, nothing held.
    pub(crate) fn new(
        label: String,
        protocol: String,
        ordered: bool,
        reliability: Reliability,
        negotiated: bool,
        stream: Option<u16>,
        state: DataChannelState,
    ) -> Self {
        Channel {
            label,
            protocol,
            ordered,
            reliability,
            negotiated,
            stream,
            state,
            awaiting_ack: false,
            reset_out: false,
            reset_sent: false,
            reset_out_done: false,
            reset_in: false,
            low_threshold: 0,
            stats: ChannelStats::default(),
            held: VecDeque::new(),
            held_bytes: 0,
            peer_resets_at: 0,
        }
    }

    pub(crate) fn send_options(&self) -> SendOptions {
        SendOptions {
            unordered: !self.ordered && !self.awaiting_ack,
            reliability: self.reliability,
        }
    }

    pub(crate) fn info(&self) -> ChannelInfo {
        let (max_retransmits, max_packet_life_time) = match self.reliability {
            Reliability::Reliable => (None, None),
            Reliability::MaxRetransmits(n) => (Some(n), None),
            Reliability::MaxLifetime(d) => (None, Some(d)),
        };
        ChannelInfo {
            label: self.label.clone(),
            protocol: self.protocol.clone(),
            ordered: self.ordered,
            max_retransmits,
            max_packet_life_time,
            negotiated: self.negotiated,
            id: self.stream,
            ready_state: self.state,
            stats: self.stats,
        }
    }
}
