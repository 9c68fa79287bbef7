//! WebRTC data channels (RFC 8831) with the Data Channel Establishment
//! Protocol (RFC 8832), as a sans-IO engine over [`ferrtc_sctp`].
//!
//! [`DataChannels`] owns the SCTP association of a peer connection and the
//! channels on it: it opens channels in-band (DATA_CHANNEL_OPEN / ACK) or
//! out-of-band ("negotiated" with an agreed id), picks stream ids by DTLS
//! role (client even, server odd, RFC 8832 §6), maps `ordered`,
//! `maxRetransmits` and `maxPacketLifeTime` to SCTP, tracks
//! `bufferedAmount` and its low-threshold event, and closes channels by
//! stream reset in both directions (RFC 8831 §6.7).
//!
//! ```
//! use std::time::Instant;
//! use ferrtc_datachannel::{ChannelConfig, DataChannels, DtlsRole, Event};
//! use ferrtc_sctp::Config;
//!
//! let now = Instant::now();
//! let mut a = DataChannels::new(Config { seed: 1, ..Config::default() }, DtlsRole::Client);
//! let mut b = DataChannels::new(Config { seed: 2, ..Config::default() }, DtlsRole::Server);
//! a.connect(now);
//! b.connect(now);
//! let id = a.create_channel(now, ChannelConfig::new("chat")).unwrap();
//! let mut buf = Vec::new();
//! for _ in 0..10 {
//!     while a.poll_transmit(now, &mut buf).is_some() { b.handle_receive(now, &buf); }
//!     while b.poll_transmit(now, &mut buf).is_some() { a.handle_receive(now, &buf); }
//! }
//! let mut opened = false;
//! while let Some(ev) = a.poll_event() { opened |= ev == Event::Open(id); }
//! assert!(opened);
//! ```
#![forbid(unsafe_code)]

mod dcep;
mod error;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

pub use dcep::{ChannelType, DcepMessage, Open};
pub use error::Error;
use ferrtc_sctp::{Association, Config, SendOptions, ppid};

/// Which side of the DTLS handshake we are: decides stream id parity (RFC 8832 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsRole {
    /// DTLS client: even stream ids.
    Client,
    /// DTLS server: odd stream ids.
    Server,
}

/// W3C `RTCDataChannelState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(alias = "RTCDataChannelState")]
pub enum ChannelState {
    /// Waiting for the association or the DATA_CHANNEL_ACK.
    Connecting,
    /// Messages can be sent.
    Open,
    /// A stream reset is under way.
    Closing,
    /// Both directions are reset; the id is free again.
    Closed,
}

/// W3C `RTCDataChannelInit` plus the label.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCDataChannelInit")]
pub struct ChannelConfig {
    /// The label.
    pub label: String,
    /// The sub-protocol.
    pub protocol: String,
    /// In-order delivery (W3C `ordered`, default true).
    pub ordered: bool,
    /// Reliability: at most one of `maxRetransmits` / `maxPacketLifeTime`.
    pub channel_type: ChannelType,
    /// Priority carried in DATA_CHANNEL_OPEN.
    pub priority: u16,
    /// `negotiated: true` with this `id`: no DCEP, both sides create it.
    pub negotiated: Option<u16>,
}

impl ChannelConfig {
    /// A reliable, ordered, in-band channel with this label.
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            protocol: String::new(),
            ordered: true,
            channel_type: ChannelType::Reliable,
            priority: 256,
            negotiated: None,
        }
    }
}

/// A message received on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMessage {
    /// The channel (SCTP stream id).
    pub id: u16,
    /// Binary (PPID 53/57) or string (51/56).
    pub binary: bool,
    /// The payload (empty for PPIDs 56/57).
    pub data: Vec<u8>,
}

/// What the layer above must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The SCTP association is up.
    Connected,
    /// A channel we created is open (ACK received, or negotiated and connected).
    Open(u16),
    /// The peer opened a channel (W3C `datachannel` event); it is open.
    Incoming {
        /// Stream id.
        id: u16,
        /// What the peer asked for.
        config: ChannelConfig,
    },
    /// A message arrived.
    Message(ChannelMessage),
    /// `bufferedAmount` fell to or below the threshold.
    BufferedAmountLow(u16),
    /// The channel is closing (the peer reset its stream, or we called close).
    Closing(u16),
    /// The channel is closed; its id can be reused.
    Closed(u16),
    /// The association ended; every channel is closed.
    AssociationClosed(ferrtc_sctp::CloseReason),
}

/// Counters of dropped input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Deprecated partial messages (PPID 52/54) dropped.
    pub partial_messages_dropped: u64,
    /// Messages with an unknown PPID, or for no channel, dropped.
    pub messages_dropped: u64,
    /// Malformed or unexpected DCEP messages dropped.
    pub dcep_dropped: u64,
}

#[derive(Debug)]
struct Channel {
    config: ChannelConfig,
    state: ChannelState,
    /// We sent DATA_CHANNEL_OPEN and wait for the ACK.
    awaiting_ack: bool,
    /// We still have to send DATA_CHANNEL_OPEN (association not up yet).
    open_pending: bool,
    out_reset: bool,
    in_reset: bool,
}

/// The data channels of one peer connection over one SCTP association.
///
/// Polling order: as for [`Association`]: after input, drain
/// [`poll_transmit`](Self::poll_transmit), then [`poll_event`](Self::poll_event),
/// then re-arm the timer from [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
#[doc(alias = "RTCDataChannel")]
pub struct DataChannels {
    sctp: Association,
    role: DtlsRole,
    channels: HashMap<u16, Channel>,
    events: VecDeque<Event>,
    stats: Stats,
    scratch: Vec<u8>,
    next_id: u16,
    max_channels: usize,
}

/// Default limit on channels open at once.
pub const DEFAULT_MAX_CHANNELS: usize = 65_534;

impl DataChannels {
    /// Creates the engine with its SCTP association.
    pub fn new(config: Config, role: DtlsRole) -> Self {
        Self {
            sctp: Association::new(config),
            role,
            channels: HashMap::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            scratch: Vec::new(),
            next_id: if role == DtlsRole::Client { 0 } else { 1 },
            max_channels: DEFAULT_MAX_CHANNELS,
        }
    }

    /// Limits how many channels may exist at once (ours and the peer's).
    pub fn set_max_channels(&mut self, n: usize) {
        self.max_channels = n;
    }

    /// Starts SCTP association setup (both WebRTC peers do this).
    pub fn connect(&mut self, now: Instant) {
        self.sctp.connect(now);
    }

    /// The underlying association (state, stats, limits).
    pub fn association(&self) -> &Association {
        &self.sctp
    }

    /// Counters of dropped input.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of channels that exist (any state but closed).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// The state of a channel (`Closed` for unknown ids).
    pub fn state(&self, id: u16) -> ChannelState {
        self.channels
            .get(&id)
            .map_or(ChannelState::Closed, |c| c.state)
    }

    /// The configuration of a channel.
    pub fn config(&self, id: u16) -> Option<&ChannelConfig> {
        self.channels.get(&id).map(|c| &c.config)
    }

    fn connected(&self) -> bool {
        self.sctp.state() == ferrtc_sctp::AssociationState::Established
    }

    fn pick_id(&mut self) -> Result<u16, Error> {
        // Ids of our parity below 65535, round robin from the last one used.
        for _ in 0..32_768 {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(2);
            if self.next_id >= 65_534 {
                self.next_id = if self.role == DtlsRole::Client { 0 } else { 1 };
            }
            let in_range = self.sctp.outbound_streams() == 0 || id < self.sctp.outbound_streams();
            if in_range && !self.channels.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(Error::NoIdAvailable)
    }

    /// Creates a channel (W3C `createDataChannel`); returns its id.
    pub fn create_channel(&mut self, now: Instant, config: ChannelConfig) -> Result<u16, Error> {
        if self.channels.len() >= self.max_channels {
            return Err(Error::NoIdAvailable);
        }
        let id = match config.negotiated {
            Some(id) => {
                if id == u16::MAX || self.channels.contains_key(&id) {
                    return Err(Error::IdInUse(id));
                }
                id
            }
            None => self.pick_id()?,
        };
        let negotiated = config.negotiated.is_some();
        self.channels.insert(
            id,
            Channel {
                config,
                state: ChannelState::Connecting,
                awaiting_ack: false,
                open_pending: !negotiated,
                out_reset: false,
                in_reset: false,
            },
        );
        if self.connected() {
            self.start_channel(now, id)?;
        }
        Ok(id)
    }

    /// Sends DATA_CHANNEL_OPEN, or opens a negotiated channel.
    fn start_channel(&mut self, now: Instant, id: u16) -> Result<(), Error> {
        let Some(ch) = self.channels.get_mut(&id) else {
            return Ok(());
        };
        if ch.state != ChannelState::Connecting {
            return Ok(());
        }
        if !ch.open_pending {
            if !ch.awaiting_ack {
                ch.state = ChannelState::Open;
                self.events.push_back(Event::Open(id));
            }
            return Ok(());
        }
        let msg = DcepMessage::Open(Open {
            ordered: ch.config.ordered,
            channel_type: ch.config.channel_type,
            priority: ch.config.priority,
            label: ch.config.label.clone(),
            protocol: ch.config.protocol.clone(),
        });
        ch.open_pending = false;
        ch.awaiting_ack = true;
        self.scratch.clear();
        msg.write(&mut self.scratch);
        // RFC 8832 §6: DCEP messages go reliable and ordered.
        self.sctp.send(
            now,
            id,
            ppid::DCEP,
            &self.scratch,
            SendOptions::RELIABLE_ORDERED,
        )?;
        Ok(())
    }

    fn send_options(c: &ChannelConfig) -> SendOptions {
        SendOptions {
            unordered: !c.ordered,
            reliability: c.channel_type.reliability(),
        }
    }

    /// Sends a message (W3C `send`); `binary` picks PPID 53/57 over 51/56.
    pub fn send(&mut self, now: Instant, id: u16, data: &[u8], binary: bool) -> Result<(), Error> {
        let ch = self.channels.get(&id).ok_or(Error::UnknownChannel(id))?;
        if ch.state != ChannelState::Open {
            return Err(Error::NotOpen(id));
        }
        let opts = Self::send_options(&ch.config);
        // RFC 8831 §6.6: empty messages are sent as one zero byte with PPID 56/57.
        let (ppid, payload): (u32, &[u8]) = match (data.is_empty(), binary) {
            (true, true) => (ppid::BINARY_EMPTY, &[0]),
            (true, false) => (ppid::STRING_EMPTY, &[0]),
            (false, true) => (ppid::BINARY, data),
            (false, false) => (ppid::STRING, data),
        };
        self.sctp.send(now, id, ppid, payload, opts)?;
        Ok(())
    }

    /// Bytes queued and not yet sent (W3C `bufferedAmount`).
    pub fn buffered_amount(&self, id: u16) -> usize {
        self.sctp.buffered_amount(id)
    }

    /// W3C `bufferedAmountLowThreshold`.
    pub fn set_buffered_amount_low_threshold(&mut self, id: u16, threshold: usize) {
        self.sctp.set_buffered_amount_low_threshold(id, threshold);
    }

    /// Closes a channel (W3C `close`): resets the outgoing stream after the
    /// queued data; the peer answers by resetting its own (RFC 8831 §6.7).
    pub fn close(&mut self, id: u16) -> Result<(), Error> {
        let ch = self
            .channels
            .get_mut(&id)
            .ok_or(Error::UnknownChannel(id))?;
        if matches!(ch.state, ChannelState::Closing | ChannelState::Closed) {
            return Ok(());
        }
        let was_connecting_unsent = ch.open_pending;
        ch.state = ChannelState::Closing;
        self.events.push_back(Event::Closing(id));
        if was_connecting_unsent || !self.connected() {
            // Never reached the wire: closed at once.
            self.channels.remove(&id);
            self.events.push_back(Event::Closed(id));
            return Ok(());
        }
        self.sctp.reset_stream(id)?;
        Ok(())
    }

    /// Feeds one SCTP packet (a DTLS application-data record). Dropped
    /// packets are counted by the association.
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) {
        let _ = self.sctp.handle_receive(now, packet);
        self.process(now);
    }

    /// Writes the next SCTP packet into `buf`; see [`Association::poll_transmit`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        let n = self.sctp.poll_transmit(now, buf);
        self.process(now);
        n
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sctp.poll_timeout()
    }

    /// Handles due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sctp.handle_timeout(now);
        self.process(now);
    }

    /// The next channel event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Turns SCTP events into channel events.
    fn process(&mut self, now: Instant) {
        while let Some(ev) = self.sctp.poll_event() {
            match ev {
                ferrtc_sctp::Event::Connected => {
                    self.events.push_back(Event::Connected);
                    let mut ids: Vec<u16> = self.channels.keys().copied().collect();
                    ids.sort_unstable();
                    for id in ids {
                        if self.start_channel(now, id).is_err() {
                            self.stats.dcep_dropped += 1;
                        }
                    }
                }
                ferrtc_sctp::Event::Message(m) => self.on_message(now, m),
                // Only user data counts: not the DATA_CHANNEL_OPEN of a connecting channel.
                ferrtc_sctp::Event::BufferedAmountLow(id)
                    if self
                        .channels
                        .get(&id)
                        .is_some_and(|c| c.state != ChannelState::Connecting) =>
                {
                    self.events.push_back(Event::BufferedAmountLow(id));
                }
                ferrtc_sctp::Event::IncomingStreamReset(id) => self.on_incoming_reset(id),
                ferrtc_sctp::Event::OutgoingStreamReset(id) => {
                    if let Some(ch) = self.channels.get_mut(&id) {
                        ch.out_reset = true;
                        self.maybe_closed(id);
                    }
                }
                ferrtc_sctp::Event::Closed(reason) => {
                    let mut ids: Vec<u16> = self.channels.keys().copied().collect();
                    ids.sort_unstable();
                    self.channels.clear();
                    for id in ids {
                        self.events.push_back(Event::Closed(id));
                    }
                    self.events.push_back(Event::AssociationClosed(reason));
                }
                _ => {}
            }
        }
    }

    fn on_incoming_reset(&mut self, id: u16) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        ch.in_reset = true;
        if ch.state != ChannelState::Closing {
            // The peer closes: reset our side too (RFC 8831 §6.7).
            ch.state = ChannelState::Closing;
            self.events.push_back(Event::Closing(id));
            if self.sctp.reset_stream(id).is_err() {
                if let Some(ch) = self.channels.get_mut(&id) {
                    ch.out_reset = true;
                }
            }
        }
        self.maybe_closed(id);
    }

    fn maybe_closed(&mut self, id: u16) {
        if self
            .channels
            .get(&id)
            .is_some_and(|c| c.in_reset && c.out_reset)
        {
            self.channels.remove(&id);
            self.events.push_back(Event::Closed(id));
        }
    }

    fn on_message(&mut self, now: Instant, m: ferrtc_sctp::Message) {
        match m.ppid {
            ppid::DCEP => self.on_dcep(now, m.stream, &m.data),
            ppid::STRING | ppid::BINARY | ppid::STRING_EMPTY | ppid::BINARY_EMPTY => {
                let open = self.channels.get(&m.stream).is_some_and(|c| {
                    matches!(c.state, ChannelState::Open | ChannelState::Closing)
                        || (c.state == ChannelState::Connecting && c.awaiting_ack)
                });
                if !open {
                    self.stats.messages_dropped += 1;
                    return;
                }
                let binary = matches!(m.ppid, ppid::BINARY | ppid::BINARY_EMPTY);
                let data = if matches!(m.ppid, ppid::STRING_EMPTY | ppid::BINARY_EMPTY) {
                    Vec::new()
                } else {
                    m.data
                };
                self.events.push_back(Event::Message(ChannelMessage {
                    id: m.stream,
                    binary,
                    data,
                }));
            }
            ppid::STRING_PARTIAL | ppid::BINARY_PARTIAL => self.stats.partial_messages_dropped += 1,
            _ => self.stats.messages_dropped += 1,
        }
    }

    fn on_dcep(&mut self, now: Instant, id: u16, data: &[u8]) {
        let Ok(msg) = DcepMessage::parse(data) else {
            self.stats.dcep_dropped += 1;
            return;
        };
        match msg {
            DcepMessage::Ack => match self.channels.get_mut(&id) {
                Some(ch) if ch.awaiting_ack => {
                    ch.awaiting_ack = false;
                    if ch.state == ChannelState::Connecting {
                        ch.state = ChannelState::Open;
                        self.events.push_back(Event::Open(id));
                    }
                }
                _ => self.stats.dcep_dropped += 1,
            },
            DcepMessage::Open(open) => {
                if self.channels.contains_key(&id) || self.channels.len() >= self.max_channels {
                    self.stats.dcep_dropped += 1;
                    return;
                }
                let config = ChannelConfig {
                    label: open.label,
                    protocol: open.protocol,
                    ordered: open.ordered,
                    channel_type: open.channel_type,
                    priority: open.priority,
                    negotiated: None,
                };
                self.scratch.clear();
                DcepMessage::Ack.write(&mut self.scratch);
                if self
                    .sctp
                    .send(
                        now,
                        id,
                        ppid::DCEP,
                        &self.scratch,
                        SendOptions::RELIABLE_ORDERED,
                    )
                    .is_err()
                {
                    self.stats.dcep_dropped += 1;
                    return;
                }
                self.channels.insert(
                    id,
                    Channel {
                        config: config.clone(),
                        state: ChannelState::Open,
                        awaiting_ack: false,
                        open_pending: false,
                        out_reset: false,
                        in_reset: false,
                    },
                );
                self.events.push_back(Event::Incoming { id, config });
            }
        }
    }
}
