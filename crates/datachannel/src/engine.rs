//! The data channel engine: the channels of one peer connection on its
//! SCTP association.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use ferrtc_dtls::Role;
use ferrtc_sctp::{Association, AssociationState, CloseReason, Reliability, SendOptions, ppid};

use crate::channel::{Channel, Held};
use crate::{
    ChannelId, ChannelInfo, ChannelType, DataChannelInit, DataChannelMessage, DataChannelState,
    DcepMessage, Error, Open,
};

/// Default limit on data channels open at once, ours and the peer's
/// ([`Config::max_channels`]): 1,024. SCTP would allow 65,534 (every
/// stream id but 65,535, RFC 8831 §6.5), but each channel costs state on
/// both sides and a peer may open channels with DCEP in a loop; 1,024 is
/// what ferrtc-core has always used, far above what browsers' applications
/// open, and proven against Chromium, Firefox and aiortc.
pub const DEFAULT_MAX_CHANNELS: usize = 1024;

/// Default number of closed channels whose attributes and counters are
/// kept for W3C `getStats` ([`Config::max_closed_channels`]): 1,024. Older
/// ones are forgotten, so a peer opening and closing channels in a loop
/// cannot grow memory without bound.
pub const DEFAULT_MAX_CLOSED_CHANNELS: usize = 1024;

/// Priority carried in DATA_CHANNEL_OPEN (RFC 8832 §5.1): 256, "normal"
/// in W3C's `RTCPriorityType` mapping (RFC 8831 §6.4).
const PRIORITY_NORMAL: u16 = 256;

/// Settings of a [`DataChannels`] engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most channels open at once, ours and the peer's (default
    /// [`DEFAULT_MAX_CHANNELS`]). `create` past it fails with
    /// [`Error::TooManyChannels`]; a peer's DATA_CHANNEL_OPEN past it is
    /// dropped and counted in [`Stats::dcep_dropped`].
    pub max_channels: usize,
    /// Most closed channels kept for [`DataChannels::channel`] and
    /// [`DataChannels::channel_infos`] (W3C `getStats` reports closed
    /// channels; default [`DEFAULT_MAX_CLOSED_CHANNELS`]). Past it the
    /// oldest closed channel is forgotten: `channel` returns `None` for it.
    pub max_closed_channels: usize,
    /// Outbound streams the association will ask for (the
    /// `ferrtc_sctp::Config::streams` given to [`DataChannels::start`]):
    /// bounds the stream ids allocated before the association exists; after,
    /// the negotiated count does (RFC 8831 §6.2).
    pub streams: u16,
    /// Largest message `send` accepts: the smaller of the peer's
    /// `a=max-message-size` and ours (RFC 8841 §6); see
    /// [`DataChannels::set_max_message_size`].
    pub max_message_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_channels: DEFAULT_MAX_CHANNELS,
            max_closed_channels: DEFAULT_MAX_CLOSED_CHANNELS,
            streams: ferrtc_sctp::Config::default().streams,
            // RFC 8841 §6.1: 65,536 when the peer says nothing.
            max_message_size: 65_536,
        }
    }
}

/// What the layer above must know: the W3C `RTCDataChannel` events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The SCTP association is established (RFC 9260 §5.1); channels that
    /// waited for it open now.
    Connected,
    /// The peer opened a channel with DATA_CHANNEL_OPEN (W3C `datachannel`
    /// event, RFC 8832 §6); [`Event::Open`] for it follows at once.
    Incoming(ChannelId),
    /// The channel's `open` event: messages may be sent. An in-band channel
    /// opens as soon as its DATA_CHANNEL_OPEN is sent, without waiting for
    /// the ACK (RFC 8832 §6, as Chromium does).
    Open(ChannelId),
    /// The channel's `message` event.
    Message {
        /// The channel.
        channel: ChannelId,
        /// The message.
        message: DataChannelMessage,
    },
    /// The channel's `bufferedamountlow` event: `bufferedAmount` fell to or
    /// below `bufferedAmountLowThreshold`.
    BufferedAmountLow(ChannelId),
    /// The channel's `closing` event: the peer reset its stream and we
    /// answered with ours (RFC 8831 §6.7), or the peer asked for the reset
    /// of ours (RFC 6525 §4.2), which is its closing the channel.
    Closing(ChannelId),
    /// The channel's `close` event: both directions are reset (our reset
    /// acknowledged and the peer's performed, RFC 8831 §6.7), the peer
    /// reused the stream (so it performed our reset), the peer refused our
    /// reset for good, or the association or the DTLS transport ended.
    Closed(ChannelId),
    /// The association ended (every channel got [`Event::Closed`] first).
    AssociationClosed(CloseReason),
}

/// Counters of the engine: channels, and input dropped (never an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Channels that reached `open` (W3C `dataChannelsOpened`; saturates).
    pub channels_opened: u32,
    /// Channels that left `open`, for `closing` or `closed`, by either
    /// end's close, the transport's or [`DataChannels::abort`] (W3C
    /// webrtc-stats `dataChannelsClosed`: opened less closed is the number
    /// open now; saturates).
    pub channels_closed: u32,
    /// DCEP messages dropped: malformed, or a DATA_CHANNEL_OPEN on a stream
    /// in use or retired (its reset refused by the peer, then asked
    /// again), on a stream of our parity (RFC 8832 §6: the peer opens its
    /// own), past [`Config::max_channels`], or after the transport closed
    /// (RFC 8832 §5, §6).
    pub dcep_dropped: u64,
    /// Data messages on a stream with no channel.
    pub unknown_stream_dropped: u64,
    /// Text messages (PPID 51) that are not UTF-8 (RFC 8831 §6.6).
    pub invalid_utf8_dropped: u64,
    /// Deprecated partial messages, PPID 52 and 54 (RFC 8831 §8).
    pub partial_messages_dropped: u64,
    /// Messages with a PPID data channels do not use.
    pub unknown_ppid_dropped: u64,
    /// Messages `send()` took and held (their stream's earlier reset was
    /// pending) that were dropped unsent: by then the peer had asked for
    /// the stream's reset (RFC 6525 §4.2), its closing of the channel (RFC
    /// 8831 §6.7), and a message after that reset would reach a stream the
    /// peer holds for closed; or the channel closed first (the association
    /// or the transport ended, [`DataChannels::abort`], or the peer reused
    /// the stream for a new channel). Not counted in
    /// [`messages_dropped`](Self::messages_dropped), which counts input.
    pub held_messages_dropped: u64,
}

impl Stats {
    /// Every SCTP message dropped, whatever the reason.
    pub fn messages_dropped(&self) -> u64 {
        self.dcep_dropped
            + self.unknown_stream_dropped
            + self.invalid_utf8_dropped
            + self.partial_messages_dropped
            + self.unknown_ppid_dropped
    }

    /// A channel left `open` (W3C webrtc-stats `dataChannelsClosed`).
    fn left_open(&mut self) {
        self.channels_closed = self.channels_closed.saturating_add(1);
    }
}

/// The data channels of one peer connection (W3C `RTCDataChannel`s over
/// RFC 8831, opened with DCEP, RFC 8832) and the SCTP association under
/// them, as a sans-IO engine.
///
/// Channels are named by [`ChannelId`] handles. They may be created at any
/// time: before the DTLS role is known (then their SCTP stream is allocated
/// once it is: client even, server odd, RFC 8832 §6), and before the
/// association exists (then they open once it is established).
///
/// # Lifecycle
///
/// 1. [`new`](Self::new); [`create`](Self::create) channels whenever the
///    application asks;
/// 2. [`set_role`](Self::set_role) once signaling settles the DTLS role;
/// 3. [`start`](Self::start) once DTLS is connected: the association sends
///    its INIT (both sides do, RFC 8841 §5);
/// 4. [`handle_transport_close`](Self::handle_transport_close) when the
///    peer closes DTLS, [`abort`](Self::abort) when the connection closes.
///
/// # Drive order
///
/// As every ferrtc engine. After creating it and after every input
/// ([`handle_receive`](Self::handle_receive) with each DTLS application
/// data record, [`handle_timeout`](Self::handle_timeout), or a call such as
/// [`send`](Self::send)):
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`, handing each
///    SCTP packet to DTLS;
/// 2. [`poll_event`](Self::poll_event) until `None` (it only pops: the
///    work is done by the inputs and `poll_transmit`);
/// 3. [`poll_timeout`](Self::poll_timeout), calling `handle_timeout` when
///    that instant comes.
#[derive(Debug)]
#[doc(alias = "RTCDataChannel")]
#[doc(alias = "RTCSctpTransport")]
pub struct DataChannels {
    config: Config,
    sctp: Option<Association>,
    role: Option<Role>,
    /// Every channel that is not closed, and the latest
    /// [`Config::max_closed_channels`] closed ones (W3C stats report them),
    /// by handle.
    ///
    /// Boxed: a B-tree node has room for 11 entries, so one channel inline
    /// would cost 11 channels' worth of memory in a connection with one.
    channels: BTreeMap<ChannelId, Box<Channel>>,
    /// Channels in `channels` that are not closed (the limit counts them).
    live: usize,
    /// The closed channels kept in `channels`, oldest first.
    closed: VecDeque<ChannelId>,
    /// Streams of the channels that are not closed.
    by_stream: HashMap<u16, ChannelId>,
    /// Streams whose outgoing reset, handed to SCTP for a channel that is
    /// gone (the peer reused the stream before the reset completed), is
    /// still pending: SCTP takes nothing more on them until it completes,
    /// so the stream's new channel holds its messages (`Channel::held`).
    stale_resets: HashSet<u16>,
    /// Streams whose outgoing reset the peer refused for good (RFC 6525
    /// §4.4): the peer's side of them was never reset and its channel may
    /// still be open and sending on them, so no new channel of ours goes on
    /// them (RFC 8831 §6.7: a stream is reused once both directions are
    /// reset) until the peer resets its side and performs our answering
    /// reset. At most one entry a stream.
    retired: HashSet<u16>,
    /// Per stream, the peer's requests to reset it (RFC 6525 §4.2,
    /// `ferrtc_sctp::Event::OutgoingStreamResetRequested`) handed up so
    /// far. With SCTP's count of them
    /// (`Association::peer_reset_requests`), which counts those still
    /// waiting (receiving paused), and the count at a channel's placement
    /// (`Channel::peer_resets_at`), it tells a request that predates the
    /// channel (its messages wait for the reset) from the peer closing
    /// it. At most one entry per stream.
    peer_resets_seen: HashMap<u16, u32>,
    /// Bytes held in every channel's `held`.
    held_total: usize,
    /// The association's `max_send_buffer`: held bytes count against it.
    max_send_buffer: usize,
    /// The next handle to try (wraps; handles in use are skipped).
    next_channel: u32,
    /// Where the next stream search starts (round robin, see `allocate_stream`).
    next_stream: u16,
    events: VecDeque<Event>,
    scratch: Vec<u8>,
    stats: Stats,
    /// Received messages stay in SCTP (see [`DataChannels::set_receive_paused`]).
    receive_paused: bool,
    /// The DTLS transport closed: no channel opens any more; the channels
    /// close once the association's queued events are handed up.
    transport_closed: bool,
    /// The channels were closed for `transport_closed`.
    transport_close_done: bool,
    /// [`DataChannels::abort`] was called: the association's events are
    /// discarded.
    aborted: bool,
}

impl DataChannels {
    /// An engine without association or role yet.
    pub fn new(config: Config) -> Self {
        DataChannels {
            config,
            sctp: None,
            role: None,
            channels: BTreeMap::new(),
            live: 0,
            closed: VecDeque::new(),
            by_stream: HashMap::new(),
            stale_resets: HashSet::new(),
            retired: HashSet::new(),
            peer_resets_seen: HashMap::new(),
            held_total: 0,
            max_send_buffer: ferrtc_sctp::Config::default().max_send_buffer,
            next_channel: 0,
            next_stream: 0,
            events: VecDeque::new(),
            scratch: Vec::new(),
            stats: Stats::default(),
            receive_paused: false,
            transport_closed: false,
            transport_close_done: false,
            aborted: false,
        }
    }

    // ------------------------------------------------------------ transport

    /// The DTLS role, which decides our stream id parity: the client uses
    /// even ids, the server odd (RFC 8832 §6). Channels waiting for a stream
    /// get one now, and open now if the association is already up.
    pub fn set_role(&mut self, now: Instant, role: Role) {
        self.role = Some(role);
        self.open_pending(now);
        self.process(now);
    }

    /// The DTLS role, once known.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// DTLS is connected: creates the SCTP association and starts it (both
    /// WebRTC peers send INIT, RFC 8841 §5, RFC 8831 §6.2). Does nothing if
    /// it was started before.
    pub fn start(&mut self, now: Instant, sctp: ferrtc_sctp::Config) {
        self.start_with(now, Association::new(sctp));
    }

    /// As [`start`](Self::start), with an association the caller built (for
    /// one whose tags and cookie key come from the caller's RNG,
    /// [`Association::with_rng`]). Does nothing if it was started before.
    pub fn start_with(&mut self, now: Instant, mut association: Association) {
        if self.sctp.is_some() {
            return;
        }
        self.max_send_buffer = association.max_send_buffer();
        association.connect(now);
        self.sctp = Some(association);
        self.process(now);
    }

    /// Whether [`start`](Self::start) was called.
    pub fn is_started(&self) -> bool {
        self.sctp.is_some()
    }

    /// The SCTP association (state, stats, limits), once started.
    pub fn association(&self) -> Option<&Association> {
        self.sctp.as_ref()
    }

    /// Sets the largest message [`send`](Self::send) accepts: the smaller
    /// of the peer's `a=max-message-size` and ours (RFC 8841 §6).
    pub fn set_max_message_size(&mut self, max: usize) {
        self.config.max_message_size = max;
    }

    /// The largest message [`send`](Self::send) accepts.
    pub fn max_message_size(&self) -> usize {
        self.config.max_message_size
    }

    /// Counters of channels and of dropped input.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The association is up and neither the transport nor the connection
    /// closed: channels may open and send.
    fn established(&self) -> bool {
        !self.transport_closed
            && !self.aborted
            && self
                .sctp
                .as_ref()
                .is_some_and(|s| s.state() == AssociationState::Established)
    }

    // ------------------------------------------------------------ channels

    /// The attributes of a channel (closed ones too, the latest
    /// [`Config::max_closed_channels`] of them).
    pub fn channel(&self, id: ChannelId) -> Option<ChannelInfo> {
        self.channels.get(&id).map(|c| c.info())
    }

    /// Every channel that is not closed, by handle (creation order until
    /// handles wrap after 2^32 channels).
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels
            .iter()
            .filter(|(_, c)| c.state != DataChannelState::Closed)
            .map(|(id, _)| *id)
    }

    /// Every channel not closed and the latest closed ones
    /// ([`Config::max_closed_channels`]), by handle (W3C `getStats` reports
    /// closed channels too).
    pub fn channel_infos(&self) -> impl Iterator<Item = (ChannelId, ChannelInfo)> + '_ {
        self.channels.iter().map(|(id, c)| (*id, c.info()))
    }

    /// W3C `createDataChannel`: a channel that opens once SCTP is
    /// established, announced with DATA_CHANNEL_OPEN (RFC 8832 §6) unless
    /// `negotiated` (then the peer creates it with the same `id`).
    pub fn create(
        &mut self,
        now: Instant,
        label: &str,
        init: DataChannelInit,
    ) -> Result<ChannelId, Error> {
        // RFC 8832 §5.1: label and protocol lengths are 16-bit.
        if label.len() > usize::from(u16::MAX) || init.protocol.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidInit(
                "label and protocol are limited to 65535 bytes",
            ));
        }
        let reliability = match (init.max_retransmits, init.max_packet_life_time) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidInit(
                    "maxRetransmits and maxPacketLifeTime are exclusive",
                ));
            }
            (Some(n), None) => Reliability::MaxRetransmits(n),
            // W3C `maxPacketLifeTime` is an `[EnforceRange] unsigned
            // short` of milliseconds, all DCEP can announce (RFC 8832 §5.1).
            (None, Some(d)) if d > Duration::from_millis(u64::from(u16::MAX)) => {
                return Err(Error::InvalidInit(
                    "maxPacketLifeTime is limited to 65535 ms",
                ));
            }
            (None, Some(d)) => Reliability::MaxLifetime(d),
            (None, None) => Reliability::Reliable,
        };
        if init.negotiated && init.id.is_none() {
            return Err(Error::InvalidInit("a negotiated channel needs an id"));
        }
        if self.live >= self.config.max_channels {
            return Err(Error::TooManyChannels {
                max: self.config.max_channels,
            });
        }
        // W3C webrtc-pc `createDataChannel`: `id` is used only when
        // `negotiated`. An in-band channel's stream follows the DTLS role
        // (RFC 8832 §6: client even, server odd), or the peer would take
        // its DATA_CHANNEL_OPEN for one on a stream of the peer's own.
        let requested = if init.negotiated { init.id } else { None };
        // RFC 8831 §6.5: stream 65,535 is reserved; W3C `createDataChannel`
        // throws a TypeError for it (an id in use is an OperationError).
        if requested == Some(u16::MAX) {
            return Err(Error::InvalidInit("id 65535 is reserved"));
        }
        let stream = match requested {
            Some(id) if self.by_stream.contains_key(&id) => return Err(Error::IdInUse(id)),
            Some(id) if self.retired.contains(&id) => return Err(Error::IdRetired(id)),
            id => id,
        };
        // W3C `createDataChannel`: with the transport connected, an id at
        // or above `[[MaxChannels]]` is refused (a channel made before it
        // connected closes then, see `open_pending`); with the DTLS role
        // known, an in-band channel needs a free id now.
        let live = !self.aborted && !self.transport_closed;
        let streams = self
            .sctp
            .as_ref()
            .filter(|_| self.established())
            .map(Association::outbound_streams)
            .filter(|n| *n > 0);
        if let (Some(id), Some(streams)) = (stream, streams)
            && live
            && id >= streams
        {
            return Err(Error::IdOutOfRange { id, streams });
        }
        if let (None, Some(role)) = (stream, self.role)
            && live
            && self.allocate_stream(role).is_none()
        {
            return Err(Error::NoFreeStream);
        }
        let id = self.insert(Channel::new(
            label.to_owned(),
            init.protocol,
            init.ordered,
            reliability,
            init.negotiated,
            stream,
            DataChannelState::Connecting,
        ));
        if self.aborted {
            // The connection is closed: the channel never opens, silently.
            self.bury(id);
            return Ok(id);
        }
        if self.transport_closed {
            // The transport is gone: the channel never opens.
            self.finish(id);
            self.process(now);
            return Ok(id);
        }
        self.open_pending(now);
        self.process(now);
        Ok(id)
    }

    /// W3C `send()`: a text message when `binary` is false (the bytes must
    /// be UTF-8), binary otherwise. Empty messages go as one zero byte with
    /// their own PPID (RFC 8831 §6.6).
    pub fn send(
        &mut self,
        now: Instant,
        id: ChannelId,
        data: &[u8],
        binary: bool,
    ) -> Result<(), Error> {
        let max = self.config.max_message_size;
        let established = self.established();
        let c = self.channels.get(&id).ok_or(Error::UnknownChannel(id))?;
        if c.state != DataChannelState::Open || !established {
            return Err(Error::NotOpen(id));
        }
        if data.len() > max {
            return Err(Error::MessageTooLarge {
                len: data.len(),
                max,
            });
        }
        let (ppid, payload): (u32, &[u8]) = match (binary, data.is_empty()) {
            (false, false) => (ppid::STRING, data),
            (false, true) => (ppid::STRING_EMPTY, &[0]),
            (true, false) => (ppid::BINARY, data),
            (true, true) => (ppid::BINARY_EMPTY, &[0]),
        };
        let options = c.send_options();
        self.transmit(now, id, ppid, payload, options)?;
        let Some(c) = self.channels.get_mut(&id) else {
            return Ok(());
        };
        c.stats.messages_sent += 1;
        c.stats.bytes_sent += data.len() as u64;
        Ok(())
    }

    /// W3C `close()`: resets the channel's outgoing stream after its queued
    /// data (RFC 8831 §6.7); [`Event::Closed`] follows once the reset is
    /// acknowledged and the peer has reset its side too. A channel that
    /// never opened closes at once.
    pub fn close(&mut self, now: Instant, id: ChannelId) -> Result<(), Error> {
        let established = self.established();
        let c = self
            .channels
            .get_mut(&id)
            .ok_or(Error::UnknownChannel(id))?;
        match c.state {
            DataChannelState::Closing | DataChannelState::Closed => return Ok(()),
            DataChannelState::Connecting | DataChannelState::Open => {}
        }
        match c.stream {
            Some(_) if established && c.state == DataChannelState::Open => {
                c.state = DataChannelState::Closing;
                self.stats.left_open();
                self.reset_out(id);
            }
            _ => self.finish(id),
        }
        self.process(now);
        Ok(())
    }

    /// W3C `bufferedAmount`: bytes queued on the channel and not yet sent.
    pub fn buffered_amount(&self, id: ChannelId) -> usize {
        let Some(c) = self.channels.get(&id) else {
            return 0;
        };
        let queued = match (c.stream, &self.sctp) {
            // A closed channel's stream may be another channel's now.
            (Some(stream), Some(sctp))
                if self.by_stream.get(&stream).is_none_or(|owner| *owner == id) =>
            {
                sctp.buffered_amount(stream)
            }
            _ => 0,
        };
        queued + c.held_bytes
    }

    /// Sets W3C `bufferedAmountLowThreshold`; [`Event::BufferedAmountLow`]
    /// fires when `bufferedAmount` falls to or below it.
    pub fn set_buffered_amount_low_threshold(
        &mut self,
        id: ChannelId,
        threshold: usize,
    ) -> Result<(), Error> {
        let c = self
            .channels
            .get_mut(&id)
            .ok_or(Error::UnknownChannel(id))?;
        c.low_threshold = threshold;
        match (c.stream, self.sctp.as_mut()) {
            // A closed channel's stream may be another channel's now: its
            // threshold is that channel's own (W3C attribute per channel).
            (Some(stream), Some(sctp))
                if self.by_stream.get(&stream).is_none_or(|owner| *owner == id) =>
            {
                sctp.set_buffered_amount_low_threshold(stream, threshold);
            }
            _ => {}
        }
        Ok(())
    }

    /// Stops or resumes handing received messages up. While paused they
    /// stay in SCTP's receive buffer, whose advertised window then closes
    /// and holds the peer back (RFC 9260 §6.2); resuming delivers what
    /// waited, and reopens the window. (Every association event waits
    /// while paused, so their order is kept.)
    pub fn set_receive_paused(&mut self, now: Instant, paused: bool) {
        if self.receive_paused == paused {
            return;
        }
        self.receive_paused = paused;
        if !paused {
            self.process(now);
        }
    }

    /// The DTLS transport closed (the peer's `close_notify`): every channel
    /// is closed (W3C: `close` fires when the underlying transport closes).
    /// Messages the association already received are handed up first (if
    /// receiving is paused, when it resumes; then the `close` events
    /// follow). From now on the peer's DATA_CHANNEL_OPENs are dropped and
    /// new channels close at once.
    pub fn handle_transport_close(&mut self, now: Instant) {
        self.transport_closed = true;
        self.process(now);
    }

    /// The peer connection closes (W3C `RTCPeerConnection.close()`): every
    /// channel is closed without events, and the association aborts (RFC
    /// 9260 §9.1); drain [`poll_transmit`](Self::poll_transmit) to send the
    /// ABORT.
    ///
    /// Events already returned by the association but not yet handed up
    /// (receiving paused) are discarded: no event follows `abort`, except
    /// those already queued in the engine.
    pub fn abort(&mut self, now: Instant) {
        self.aborted = true;
        let ids = self.unclosed();
        for id in ids {
            self.bury(id);
        }
        self.by_stream.clear();
        self.stale_resets.clear();
        self.peer_resets_seen.clear();
        if let Some(sctp) = self.sctp.as_mut() {
            sctp.abort(now);
        }
        self.process(now);
    }

    // ------------------------------------------------------------ I/O

    /// Feeds one SCTP packet (one DTLS application data record, RFC 8261).
    /// A packet the association refuses is dropped and counted by it; the
    /// error says why.
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        let result = match self.sctp.as_mut() {
            Some(sctp) => sctp.handle_receive(now, packet).map_err(Error::from),
            None => Ok(()),
        };
        self.process(now);
        result
    }

    /// Handles one message as if the association had delivered it: DCEP
    /// (PPID 50, RFC 8832) or channel data (RFC 8831 §6.6).
    /// [`handle_receive`](Self::handle_receive) calls it for every message;
    /// it is public so that tests and fuzz targets can drive the channel
    /// layer without SCTP.
    pub fn handle_message(&mut self, now: Instant, m: ferrtc_sctp::Message) {
        if m.ppid == ppid::DCEP {
            self.on_dcep(now, m.stream, &m.data);
            return;
        }
        let Some(&id) = self.by_stream.get(&m.stream) else {
            self.stats.unknown_stream_dropped += 1;
            return;
        };
        let message = match m.ppid {
            ppid::STRING => match String::from_utf8(m.data) {
                Ok(s) => DataChannelMessage::Text(s),
                Err(_) => {
                    self.stats.invalid_utf8_dropped += 1;
                    return;
                }
            },
            ppid::STRING_EMPTY => DataChannelMessage::Text(String::new()),
            ppid::BINARY => DataChannelMessage::Binary(m.data),
            ppid::BINARY_EMPTY => DataChannelMessage::Binary(Vec::new()),
            ppid::STRING_PARTIAL | ppid::BINARY_PARTIAL => {
                self.stats.partial_messages_dropped += 1;
                return;
            }
            _ => {
                self.stats.unknown_ppid_dropped += 1;
                return;
            }
        };
        let Some(c) = self.channels.get_mut(&id) else {
            return;
        };
        // RFC 8832 §6: data on the stream implies the peer got our OPEN.
        c.awaiting_ack = false;
        c.stats.messages_received += 1;
        c.stats.bytes_received += message.as_bytes().len() as u64;
        self.events.push_back(Event::Message {
            channel: id,
            message,
        });
    }

    /// Writes the next SCTP packet into `buf` (for DTLS to send as
    /// application data) and returns its length, or `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        let n = self.sctp.as_mut()?.poll_transmit(now, buf);
        self.process(now);
        n
    }

    /// The next event, or `None`. Only pops: the work is done by the inputs.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next wanted.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sctp.as_ref().and_then(Association::poll_timeout)
    }

    /// Time reached `now`: runs the association's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(sctp) = self.sctp.as_mut() {
            sctp.handle_timeout(now);
        }
        self.process(now);
    }

    // ------------------------------------------------------------ internals

    /// Turns the association's events into channel events, unless paused.
    /// After [`abort`](Self::abort) they are discarded; after the transport
    /// closed, the channels close once every queued event is handed up.
    fn process(&mut self, now: Instant) {
        if self.aborted {
            if let Some(sctp) = self.sctp.as_mut() {
                while sctp.poll_event().is_some() {}
            }
            return;
        }
        while !self.receive_paused
            && let Some(ev) = self.sctp.as_mut().and_then(Association::poll_event)
        {
            match ev {
                ferrtc_sctp::Event::Connected => {
                    if self.transport_closed {
                        continue;
                    }
                    tracing::debug!("SCTP established");
                    self.events.push_back(Event::Connected);
                    self.open_pending(now);
                }
                ferrtc_sctp::Event::Message(m) => self.handle_message(now, m),
                ferrtc_sctp::Event::IncomingStreamReset(stream) => {
                    self.on_incoming_reset(stream);
                }
                ferrtc_sctp::Event::AllIncomingStreamsReset => {
                    // RFC 6525 §4.1: every stream, so every channel on one,
                    // but a channel of ours the peer has not acknowledged
                    // (RFC 8832 §6; the request follows every message the
                    // peer sent before it, RFC 6525 §5.2.2) was unknown to
                    // the peer when it sent the request.
                    let mut streams: Vec<u16> = self
                        .by_stream
                        .iter()
                        .filter(|(_, id)| !self.channels.get(id).is_some_and(|c| c.awaiting_ack))
                        .map(|(s, _)| *s)
                        .chain(self.retired.iter().copied())
                        .collect();
                    streams.sort_unstable();
                    // A retired stream may be the peer's new channel's too.
                    streams.dedup();
                    for stream in streams {
                        self.on_incoming_reset(stream);
                    }
                }
                ferrtc_sctp::Event::OutgoingStreamResetRequested(stream) => {
                    self.on_reset_requested(stream);
                }
                ferrtc_sctp::Event::OutgoingStreamReset(stream) => {
                    self.on_outgoing_reset(now, stream);
                }
                ferrtc_sctp::Event::OutgoingStreamResetFailed(stream) => {
                    self.on_outgoing_reset_failed(now, stream);
                }
                ferrtc_sctp::Event::BufferedAmountLow(stream) => {
                    if let Some(&id) = self.by_stream.get(&stream) {
                        self.events.push_back(Event::BufferedAmountLow(id));
                    }
                }
                ferrtc_sctp::Event::Closed(reason) => {
                    tracing::debug!("SCTP closed: {reason:?}");
                    self.finish_all();
                    self.events.push_back(Event::AssociationClosed(reason));
                }
                _ => {}
            }
        }
        if !self.receive_paused && self.transport_closed && !self.transport_close_done {
            self.transport_close_done = true;
            self.finish_all();
        }
    }

    /// The peer reset its outgoing stream (RFC 8831 §6.7): we answer with
    /// ours; the channel is closed once both are done.
    fn on_incoming_reset(&mut self, stream: u16) {
        let Some(&id) = self.by_stream.get(&stream) else {
            self.answer_retired(stream);
            return;
        };
        let Some(c) = self.channels.get_mut(&id) else {
            return;
        };
        c.reset_in = true;
        if !c.reset_out {
            // RFC 8831 §6.7: answer the peer's reset with ours.
            if c.state == DataChannelState::Open {
                self.stats.left_open();
            }
            c.state = DataChannelState::Closing;
            self.events.push_back(Event::Closing(id));
            self.reset_out(id);
        }
        if self.channels.get(&id).is_some_and(|c| c.reset_out_done) {
            self.finish(id);
        }
    }

    /// The peer asked for the reset of our outgoing `stream` (an Incoming
    /// SSN Reset Request, RFC 6525 §4.2), which SCTP performs once the
    /// stream's queued messages are sent (§5.2.3). A peer following RFC
    /// 8831 §6.7 takes that reset for our side of the channel closing, and
    /// may reuse the stream once its side is reset too: the request is the
    /// peer closing the channel. The channel is closing at once and takes
    /// no more `send()` (a message after the reset would reach a stream
    /// the peer holds for closed, or its next channel there); SCTP's reset
    /// is the channel's own, and the channel closes once the peer has
    /// reset its side too, as after our `close()`.
    ///
    /// A request that reached SCTP before the channel was put on the
    /// stream (handed up late, receiving paused) is not the channel's
    /// closing: the channel's messages wait for that reset (`transmit`).
    fn on_reset_requested(&mut self, stream: u16) {
        let seen = self.peer_resets_seen.entry(stream).or_insert(0);
        *seen = seen.wrapping_add(1);
        let seen = *seen;
        let Some((id, c)) = self
            .by_stream
            .get(&stream)
            .and_then(|&id| Some((id, self.channels.get_mut(&id)?)))
            .filter(|(_, c)| c.state == DataChannelState::Open)
        else {
            return;
        };
        // Counts wrap after 2^32 requests: "at or below" is by distance.
        if c.peer_resets_at.wrapping_sub(seen) < 1 << 31 {
            return;
        }
        c.state = DataChannelState::Closing;
        c.reset_out = true;
        c.reset_sent = true;
        self.stats.left_open();
        self.events.push_back(Event::Closing(id));
    }

    /// The peer reset its side of a retired stream, its channel there
    /// closing (RFC 8831 §6.7), or sent DATA_CHANNEL_OPEN on it (refused,
    /// RFC 8832 §6): we answer with our reset of the stream, which no
    /// channel of ours has. Once it is performed (and, after a refused
    /// OPEN, the peer resets its side in turn) both directions are reset
    /// and the stream is free again (`on_outgoing_reset`).
    fn answer_retired(&mut self, stream: u16) {
        if !self.retired.contains(&stream) || self.stale_resets.contains(&stream) {
            return;
        }
        let Some(sctp) = self.sctp.as_mut() else {
            return;
        };
        match sctp.reset_stream(stream) {
            // StreamClosing: SCTP is resetting it already, at the peer's
            // request (RFC 6525 §5.2.3).
            Ok(()) | Err(ferrtc_sctp::Error::StreamClosing(_)) => {
                self.stale_resets.insert(stream);
            }
            Err(e) => tracing::debug!("retired stream {stream} reset failed: {e}"),
        }
    }

    /// Our outgoing reset of `stream` completed.
    fn on_outgoing_reset(&mut self, now: Instant, stream: u16) {
        if self.stale_resets.remove(&stream) {
            // Both directions are reset now (a retired stream's answer).
            self.retired.remove(&stream);
            // The reset of a channel that is gone: the stream's new channel
            // may send now.
            self.release_held(now, stream);
            return;
        }
        let Some(&id) = self.by_stream.get(&stream) else {
            return;
        };
        let Some(c) = self.channels.get_mut(&id) else {
            return;
        };
        // A reset the channel did not take for its own (the peer asked SCTP
        // for it, RFC 6525 §5.2.3, before the channel was on the stream, or
        // while the request was not yet handed up): the messages it held go
        // now.
        if !c.reset_sent {
            self.release_held(now, stream);
            return;
        }
        c.reset_out_done = true;
        if c.reset_in {
            self.finish(id);
        }
    }

    /// The peer refused our outgoing reset of `stream` for good (RFC 6525
    /// §4.4 Denied, again and again): a channel closing on it cannot close
    /// as RFC 8831 §6.7 has it, and closes now rather than stay closing,
    /// but its stream is retired unless the peer reset its side already:
    /// the peer may still use its side of it, and a new channel there
    /// would get the old one's messages. A stream
    /// whose channel is gone (the peer reused it) goes to its new channel.
    fn on_outgoing_reset_failed(&mut self, now: Instant, stream: u16) {
        tracing::debug!("the peer refused the reset of stream {stream}");
        if self.stale_resets.remove(&stream) {
            self.release_held(now, stream);
            return;
        }
        let Some(&id) = self.by_stream.get(&stream) else {
            return;
        };
        let Some(c) = self.channels.get(&id) else {
            return;
        };
        if !c.reset_sent {
            // A reset the peer asked for (RFC 6525 §5.2.3) and then refused:
            // the open channel's held messages go on the stream as it is.
            self.release_held(now, stream);
        } else {
            // The peer reset its side already: it sends nothing more there
            // and may reuse the stream (RFC 8831 §6.7), so the stream is
            // not retired.
            if !c.reset_in {
                self.retired.insert(stream);
            }
            self.finish(id);
        }
    }

    /// Resets the channel's outgoing stream after its queued data (RFC 8831
    /// §6.7), now or, if an earlier reset of the stream is still pending,
    /// once that completes.
    fn reset_out(&mut self, id: ChannelId) {
        let Some(c) = self.channels.get_mut(&id) else {
            return;
        };
        c.reset_out = true;
        let Some(stream) = c.stream else {
            return;
        };
        if c.reset_sent || self.stale_resets.contains(&stream) || !c.held.is_empty() {
            return;
        }
        let Some(sctp) = self.sctp.as_mut() else {
            return;
        };
        match sctp.reset_stream(stream) {
            Ok(()) => c.reset_sent = true,
            // SCTP is already resetting the stream, at the peer's request
            // (RFC 6525 §5.2.3): its completion is ours.
            Err(ferrtc_sctp::Error::StreamClosing(_)) => c.reset_sent = true,
            Err(e) => {
                tracing::debug!("stream {stream} reset failed: {e}");
                self.finish(id);
            }
        }
    }

    /// The stale reset of `stream`, or one the peer asked for, completed or
    /// was given up: its channel's held messages go to SCTP in order, its
    /// `bufferedAmountLowThreshold` is set again (SCTP dropped it with the
    /// stream's reset), then its own reset goes if one is due.
    fn release_held(&mut self, now: Instant, stream: u16) {
        let Some(&id) = self.by_stream.get(&stream) else {
            return;
        };
        let (Some(c), Some(sctp)) = (self.channels.get_mut(&id), self.sctp.as_mut()) else {
            return;
        };
        // The peer asked for the stream's reset again since the channel
        // was put there, its request perhaps not handed up yet (receiving
        // paused), and perhaps performed already: its closing of the
        // channel (RFC 6525 §4.2, RFC 8831 §6.7). The held messages would
        // go after that reset, on a stream the peer holds for closed, so
        // they are dropped, and counted.
        let closed_by_peer = sctp.peer_reset_requests(stream) != c.peer_resets_at;
        while let Some(h) = c.held.pop_front() {
            c.held_bytes -= counted(h.ppid, h.data.len());
            self.held_total -= h.data.len();
            let sent = if closed_by_peer {
                Err(ferrtc_sctp::Error::StreamClosing(stream))
            } else {
                sctp.send(now, stream, h.ppid, &h.data, h.options)
            };
            // `send()` took it: whatever keeps it from going is counted.
            if let Err(e) = sent {
                tracing::debug!("held message on stream {stream} dropped: {e}");
                if h.ppid != ppid::DCEP {
                    self.stats.held_messages_dropped += 1;
                }
            }
        }
        sctp.set_buffered_amount_low_threshold(stream, c.low_threshold);
        if c.reset_out {
            self.reset_out(id);
        }
    }

    /// Hands one message of a channel to SCTP, or holds it while an earlier
    /// reset of its stream is pending: a stale one, or one the peer asked
    /// for before the channel was on the stream (RFC 6525 §4.2, §5.2.3:
    /// SCTP takes no message on a stream being reset). Held bytes count
    /// against the association's send buffer, so releasing them cannot
    /// overflow it.
    fn transmit(
        &mut self,
        now: Instant,
        id: ChannelId,
        ppid: u32,
        payload: &[u8],
        options: SendOptions,
    ) -> Result<(), Error> {
        let (Some(c), Some(sctp)) = (self.channels.get_mut(&id), self.sctp.as_mut()) else {
            return Err(Error::NotOpen(id));
        };
        let Some(stream) = c.stream else {
            return Err(Error::NotOpen(id));
        };
        let buffered = sctp.send_buffered() + self.held_total;
        if self.held_total > 0 && buffered + payload.len() > self.max_send_buffer {
            return Err(Error::Sctp(ferrtc_sctp::Error::SendBufferFull {
                buffered,
                limit: self.max_send_buffer,
            }));
        }
        if !self.stale_resets.contains(&stream) && c.held.is_empty() {
            match sctp.send(now, stream, ppid, payload, options) {
                // Not our reset: the peer's request has SCTP reset the
                // stream (RFC 6525 §5.2.3). Asked before the channel was
                // there, the message waits for it (checked below).
                Err(ferrtc_sctp::Error::StreamClosing(_)) if !c.reset_sent => {}
                sent => return sent.map_err(Error::from),
            }
        }
        // The peer asked for the stream's reset since the channel was put
        // there, and the request is not handed up yet (receiving paused,
        // else the channel would be closing): the peer closing the channel
        // (RFC 6525 §4.2, RFC 8831 §6.7). The message would go after that
        // reset, or be dropped when the held ones are released.
        if sctp.peer_reset_requests(stream) != c.peer_resets_at {
            return Err(Error::NotOpen(id));
        }
        if buffered + payload.len() > self.max_send_buffer {
            return Err(Error::Sctp(ferrtc_sctp::Error::SendBufferFull {
                buffered,
                limit: self.max_send_buffer,
            }));
        }
        c.held.push_back(Held {
            ppid,
            data: payload.to_vec(),
            options,
        });
        c.held_bytes += counted(ppid, payload.len());
        self.held_total += payload.len();
        Ok(())
    }

    /// SCTP's count of the peer's requests to reset `stream` (RFC 6525
    /// §4.2), those not handed up yet included.
    fn peer_reset_requests(&self, stream: u16) -> u32 {
        self.sctp
            .as_ref()
            .map_or(0, |sctp| sctp.peer_reset_requests(stream))
    }

    /// Adds a channel under a fresh handle: one no channel the engine
    /// knows has (handles wrap after 2^32; at most `max_channels` open and
    /// `max_closed_channels` closed ones are known, so one is free).
    fn insert(&mut self, mut channel: Channel) -> ChannelId {
        if let Some(s) = channel.stream {
            channel.peer_resets_at = self.peer_reset_requests(s);
        }
        let id = loop {
            let id = ChannelId(self.next_channel);
            self.next_channel = self.next_channel.wrapping_add(1);
            if !self.channels.contains_key(&id) {
                break id;
            }
        };
        if let Some(s) = channel.stream {
            self.by_stream.insert(s, id);
        }
        if channel.state != DataChannelState::Closed {
            self.live += 1;
        }
        self.channels.insert(id, Box::new(channel));
        id
    }

    /// The handles of every channel not closed, in creation order.
    fn unclosed(&self) -> Vec<ChannelId> {
        self.channels
            .iter()
            .filter(|(_, c)| c.state != DataChannelState::Closed)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every channel not closed is closed (`close` fires).
    fn finish_all(&mut self) {
        let ids = self.unclosed();
        for id in ids {
            self.finish(id);
        }
        self.stale_resets.clear();
        self.peer_resets_seen.clear();
    }

    /// The channel is closed: frees its stream, fires `close`.
    fn finish(&mut self, id: ChannelId) {
        let Some(c) = self.channels.get(&id) else {
            return;
        };
        if c.state == DataChannelState::Closed {
            return;
        }
        self.bury(id);
        self.events.push_back(Event::Closed(id));
    }

    /// Marks a channel closed without an event, frees its stream, drops what
    /// it held, and keeps it for stats among the latest `max_closed_channels`.
    fn bury(&mut self, id: ChannelId) {
        let Some(c) = self.channels.get_mut(&id) else {
            return;
        };
        if c.state == DataChannelState::Closed {
            return;
        }
        if c.state == DataChannelState::Open {
            self.stats.left_open();
        }
        c.state = DataChannelState::Closed;
        if let Some(s) = c.stream
            && self.by_stream.get(&s) == Some(&id)
        {
            self.by_stream.remove(&s);
        }
        // `send()` took the held messages (`Ok`): dropped unsent, they
        // are counted.
        for h in &c.held {
            self.held_total -= h.data.len();
            if h.ppid != ppid::DCEP {
                self.stats.held_messages_dropped += 1;
            }
        }
        c.held_bytes = 0;
        c.held = VecDeque::new();
        self.live -= 1;
        self.closed.push_back(id);
        while self.closed.len() > self.config.max_closed_channels {
            if let Some(old) = self.closed.pop_front() {
                self.channels.remove(&old);
            }
        }
    }

    /// A free stream of our parity (RFC 8832 §6: the DTLS client uses even
    /// ids, the server odd) under the outbound stream count, round robin
    /// from the last one given: a stream just closed is not reused at once,
    /// because the peer may still wait for the acknowledgement of its own
    /// reset of it (RFC 6525 §5.1.2; lost under loss), and would then take
    /// our next reset of that stream for the one it waits for. A retired
    /// stream is never given.
    fn allocate_stream(&self, role: Role) -> Option<u16> {
        let start = match role {
            Role::Client => 0,
            Role::Server => 1,
        };
        let limit = self
            .sctp
            .as_ref()
            .map(Association::outbound_streams)
            .filter(|n| *n > 0)
            .unwrap_or(self.config.streams);
        let from = if self.next_stream < limit && self.next_stream % 2 == start {
            self.next_stream
        } else {
            start
        };
        (from..limit)
            .step_by(2)
            .chain((start..from).step_by(2))
            .find(|s| {
                !self.by_stream.contains_key(s)
                    && !self.stale_resets.contains(s)
                    && !self.retired.contains(s)
            })
    }

    /// Gives every connecting channel a stream once the role is known and,
    /// once SCTP is established, opens it: sends DATA_CHANNEL_OPEN unless
    /// negotiated, and fires `open` at once (RFC 8832 §6 lets data follow
    /// the OPEN before the ACK).
    fn open_pending(&mut self, now: Instant) {
        let established = self.established();
        let Some(role) = self.role else {
            return;
        };
        if self.transport_closed || self.aborted {
            return;
        }
        let pending: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, c)| c.state == DataChannelState::Connecting)
            .map(|(id, _)| *id)
            .collect();
        for id in pending {
            let stream = match self.channels.get(&id).and_then(|c| c.stream) {
                Some(s) => s,
                None => match self.allocate_stream(role) {
                    Some(s) => {
                        self.next_stream = s.saturating_add(2);
                        self.by_stream.insert(s, id);
                        let at = self.peer_reset_requests(s);
                        if let Some(c) = self.channels.get_mut(&id) {
                            c.stream = Some(s);
                            c.peer_resets_at = at;
                        }
                        s
                    }
                    None => {
                        tracing::warn!("no free SCTP stream for a data channel");
                        self.finish(id);
                        continue;
                    }
                },
            };
            if !established {
                continue;
            }
            // W3C webrtc-pc §6.1, the SCTP transport connects: a channel
            // whose id is not below the negotiated outbound stream count
            // (RFC 8831 §6.2) cannot carry a message, and closes. A
            // negotiated id is the application's; ours are allocated under
            // the count, unless taken before the association knew it.
            if let Some(Err(e)) = self.sctp.as_mut().map(|s| s.open_stream(stream)) {
                tracing::warn!("data channel on stream {stream} cannot open: {e}");
                self.finish(id);
                continue;
            }
            let Some(c) = self.channels.get(&id) else {
                continue;
            };
            let Some(sctp) = self.sctp.as_mut() else {
                return;
            };
            // Always: the stream may have been another channel's before.
            sctp.set_buffered_amount_low_threshold(stream, c.low_threshold);
            if !c.negotiated {
                // The peer learns of an in-band channel by its OPEN: a
                // request to reset the stream before it (RFC 6525 §4.2) is
                // not its closing of the channel.
                let at = sctp.peer_reset_requests(stream);
                let Some(c) = self.channels.get_mut(&id) else {
                    continue;
                };
                c.peer_resets_at = at;
                let mut open = std::mem::take(&mut self.scratch);
                open.clear();
                DcepMessage::Open(Open {
                    ordered: c.ordered,
                    channel_type: ChannelType::from_reliability(c.reliability),
                    priority: PRIORITY_NORMAL,
                    label: c.label.clone(),
                    protocol: c.protocol.clone(),
                })
                .write(&mut open);
                // RFC 8832 §6: OPEN goes reliable and ordered; so does our
                // data until the ACK comes.
                let sent = self.transmit(now, id, ppid::DCEP, &open, SendOptions::RELIABLE_ORDERED);
                self.scratch = open;
                if let Err(e) = sent {
                    tracing::warn!("DATA_CHANNEL_OPEN on stream {stream} failed: {e}");
                    self.finish(id);
                    continue;
                }
            }
            let Some(c) = self.channels.get_mut(&id) else {
                continue;
            };
            c.awaiting_ack = !c.negotiated;
            c.state = DataChannelState::Open;
            self.stats.channels_opened = self.stats.channels_opened.saturating_add(1);
            self.events.push_back(Event::Open(id));
        }
    }

    fn on_dcep(&mut self, now: Instant, stream: u16, data: &[u8]) {
        let message = match DcepMessage::parse(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("stream {stream}: {e}");
                self.stats.dcep_dropped += 1;
                return;
            }
        };
        match message {
            DcepMessage::Ack => {
                if let Some(c) = self
                    .by_stream
                    .get(&stream)
                    .and_then(|id| self.channels.get_mut(id))
                {
                    c.awaiting_ack = false;
                }
            }
            DcepMessage::Open(open) => self.on_open(now, stream, open),
        }
    }

    /// The peer's DATA_CHANNEL_OPEN (RFC 8832 §6): a new channel, answered
    /// with DATA_CHANNEL_ACK.
    fn on_open(&mut self, now: Instant, stream: u16, open: Open) {
        let ours = match self.role {
            Some(Role::Client) => stream % 2 == 0,
            Some(Role::Server) => stream % 2 == 1,
            None => false,
        };
        if ours || self.transport_closed || self.aborted {
            // RFC 8832 §6: the peer opens streams of its own parity (the
            // DTLS client even, the server odd); ours are for our opens.
            tracing::debug!("DATA_CHANNEL_OPEN on stream {stream} ignored");
            self.stats.dcep_dropped += 1;
            return;
        }
        if self.retired.contains(&stream) {
            // RFC 8832 §6: an OPEN is taken on an unused stream only, and a
            // retired one is not: neither direction was reset (the peer
            // refused ours, RFC 6525 §4.4), and the peer's old channel may
            // still be open there. The channel is refused by resetting
            // the stream (RFC 8831 §6.7), without DATA_CHANNEL_ACK.
            tracing::debug!("DATA_CHANNEL_OPEN on retired stream {stream} refused");
            self.stats.dcep_dropped += 1;
            self.answer_retired(stream);
            return;
        }
        // The peer reset its side of this stream, and so may reuse it (RFC
        // 8831 §6.7) once it performed our reset too, before the
        // acknowledgement of our reset reached us (it may be lost): the old
        // channel is over. Until our reset completes, SCTP takes nothing on
        // the stream: the new channel holds its messages until then.
        if let Some(&old) = self.by_stream.get(&stream)
            && let Some(c) = self.channels.get(&old)
            && c.reset_in
        {
            if c.reset_sent && !c.reset_out_done {
                self.stale_resets.insert(stream);
            }
            self.finish(old);
        }
        if self.by_stream.contains_key(&stream) || self.live >= self.config.max_channels {
            tracing::debug!("DATA_CHANNEL_OPEN on busy stream {stream} ignored");
            self.stats.dcep_dropped += 1;
            return;
        }
        let id = self.insert(Channel::new(
            open.label,
            open.protocol,
            open.ordered,
            open.channel_type.reliability(),
            false,
            Some(stream),
            DataChannelState::Open,
        ));
        // Events come in SCTP's order: the peer's requests to reset the
        // stream handed up so far came before its OPEN; those SCTP holds
        // behind it (RFC 6525 §4.2) are the peer closing the channel.
        let seen = self.peer_resets_seen.get(&stream).copied().unwrap_or(0);
        if let Some(c) = self.channels.get_mut(&id) {
            c.peer_resets_at = seen;
        }
        // The new channel's threshold is 0, whoever had the stream before.
        if let Some(sctp) = self.sctp.as_mut() {
            sctp.set_buffered_amount_low_threshold(stream, 0);
        }
        let mut ack = std::mem::take(&mut self.scratch);
        ack.clear();
        DcepMessage::Ack.write(&mut ack);
        // RFC 8832 §6: the ACK on the same stream, reliable and ordered.
        if let Err(e) = self.transmit(now, id, ppid::DCEP, &ack, SendOptions::RELIABLE_ORDERED) {
            tracing::debug!("DATA_CHANNEL_ACK on stream {stream} failed: {e}");
        }
        self.scratch = ack;
        self.stats.channels_opened = self.stats.channels_opened.saturating_add(1);
        self.events.push_back(Event::Incoming(id));
        self.events.push_back(Event::Open(id));
    }
}

/// The bytes a message of `len` payload bytes with `ppid` counts in
/// `bufferedAmount`: W3C webrtc-pc `send()` counts the application's data,
/// so an empty message, one byte on the wire with its "empty" PPID (RFC
/// 8831 §6.6), counts 0 (as it does in SCTP's count), and so does a DCEP
/// message (RFC 8832), which is the engine's, not the application's.
fn counted(ppid: u32, len: usize) -> usize {
    match ppid {
        ppid::STRING_EMPTY | ppid::BINARY_EMPTY | ppid::DCEP => 0,
        _ => len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dcep(stream: u16, data: &[u8]) -> ferrtc_sctp::Message {
        ferrtc_sctp::Message {
            stream,
            ppid: ppid::DCEP,
            unordered: false,
            data: data.to_vec(),
        }
    }

    #[test]
    fn a_dcep_ack_lets_an_unordered_channel_send_unordered() {
        let now = Instant::now();
        let mut dc = DataChannels::new(Config::default());
        let init = DataChannelInit {
            ordered: false,
            negotiated: true,
            id: Some(4),
            ..DataChannelInit::default()
        };
        let id = dc.create(now, "chat", init).unwrap();
        let channel = dc.channels.get_mut(&id).unwrap();
        channel.awaiting_ack = true;
        // RFC 8832 §6: until the ACK, data goes ordered.
        assert!(!channel.send_options().unordered);
        dc.handle_message(now, dcep(4, &[0x02]));
        assert!(dc.channels[&id].send_options().unordered);
    }

    /// DATA_CHANNEL_OPEN as RFC 8832 §5.1 lays it out: reliable, ordered.
    fn open_bytes(label: &str) -> Vec<u8> {
        let mut b = vec![0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0];
        b.extend_from_slice(&(label.len() as u16).to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(label.as_bytes());
        b
    }

    #[test]
    fn a_peer_reusing_a_stream_it_reset_replaces_the_old_channel() {
        let now = Instant::now();
        let mut dc = DataChannels::new(Config::default());
        dc.handle_message(now, dcep(3, &open_bytes("old")));
        let old = dc.channels().next().unwrap();
        // A second OPEN on a busy stream is dropped...
        dc.handle_message(now, dcep(3, &open_bytes("dup")));
        assert_eq!(dc.stats().dcep_dropped, 1);
        // ...but once the peer reset its side, the stream is its to reuse
        // (RFC 8831 §6.7), even if our reset is not acknowledged yet.
        if let Some(c) = dc.channels.get_mut(&old) {
            c.reset_in = true;
            c.reset_out = true;
            c.state = DataChannelState::Closing;
        }
        dc.events.clear();
        dc.handle_message(now, dcep(3, &open_bytes("new")));
        let new = ChannelId(old.0 + 1);
        assert_eq!(
            std::iter::from_fn(|| dc.poll_event()).collect::<Vec<_>>(),
            vec![Event::Closed(old), Event::Incoming(new), Event::Open(new)]
        );
        assert_eq!(dc.channel(new).unwrap().label, "new");
        assert_eq!(dc.channels().collect::<Vec<_>>(), vec![new]);
    }

    #[test]
    fn handles_wrap_around_without_replacing_a_channel_still_known() {
        let now = Instant::now();
        let mut dc = DataChannels::new(Config::default());
        let kept = dc.create(now, "kept", DataChannelInit::default()).unwrap();
        assert_eq!(kept.index(), 0);
        dc.next_channel = u32::MAX;
        let last = dc.create(now, "last", DataChannelInit::default()).unwrap();
        assert_eq!(last.index(), u32::MAX);
        // Handle 0 is still the open channel "kept": the next one skips it.
        let wrapped = dc
            .create(now, "wrapped", DataChannelInit::default())
            .unwrap();
        assert_eq!(wrapped.index(), 1);
        assert_eq!(dc.channel(kept).unwrap().label, "kept");
        assert_eq!(dc.channel(wrapped).unwrap().label, "wrapped");
        assert_eq!(dc.channels().count(), 3);
    }

    #[test]
    fn the_opened_and_closed_counters_saturate() {
        let now = Instant::now();
        let mut dc = DataChannels::new(Config::default());
        dc.stats.channels_opened = u32::MAX;
        dc.stats.channels_closed = u32::MAX;
        dc.handle_message(now, dcep(3, &open_bytes("x")));
        let id = dc.channels().next().unwrap();
        // No association: the channel closes at once.
        dc.close(now, id).unwrap();
        assert_eq!(
            dc.channel(id).unwrap().ready_state,
            DataChannelState::Closed
        );
        assert_eq!(dc.stats().channels_opened, u32::MAX);
        assert_eq!(dc.stats().channels_closed, u32::MAX);
    }

    #[test]
    fn data_from_the_peer_also_ends_the_wait_for_the_ack() {
        let now = Instant::now();
        let mut dc = DataChannels::new(Config::default());
        let init = DataChannelInit {
            ordered: false,
            negotiated: true,
            id: Some(2),
            ..DataChannelInit::default()
        };
        let id = dc.create(now, "chat", init).unwrap();
        dc.channels.get_mut(&id).unwrap().awaiting_ack = true;
        dc.handle_message(
            now,
            ferrtc_sctp::Message {
                stream: 2,
                ppid: ppid::BINARY,
                unordered: false,
                data: vec![1],
            },
        );
        assert!(dc.channels[&id].send_options().unordered);
    }
}
