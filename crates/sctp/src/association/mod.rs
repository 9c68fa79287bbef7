//! The association state machine (RFC 9260 §4-§9): setup with a state
//! cookie, verification tags, chunk dispatch, timers, SACK timing, stream
//! reset (RFC 6525), shutdown and abort.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::chunk::{
    self, COMMON_HEADER_LEN, CommonHeader, Data, EDMID_DTLS, ForwardTsn, Init, InitCaps,
    InitParams, ReconfigParam, Sack, cause, flag, param, ty,
};
use crate::cookie::{Cookie, CookieSigner};
use crate::recv::{DataOutcome, ENTRY_OVERHEAD, Receiver};
use crate::send::{Sender, SenderConfig};
use crate::{AssociationState, CloseReason, Config, Error, Event, SendOptions, Stats, crc};

mod input;
mod output;

/// Most control chunks waiting to be sent; further ERROR reports are dropped.
const MAX_PENDING_CONTROL: usize = 16;

/// RE-CONFIG response results (RFC 6525 §4.4).
mod result {
    pub const SUCCESS_NOTHING: u32 = 0;
    pub const SUCCESS_PERFORMED: u32 = 1;
    pub const DENIED: u32 = 2;
    pub const BAD_SEQUENCE: u32 = 5;
    pub const IN_PROGRESS: u32 = 6;
}

/// A control chunk waiting to be sent.
#[derive(Debug)]
enum Control {
    Init,
    /// INIT-ACK: the peer's initiate tag and the chunk value.
    InitAck {
        tag: u32,
        value: Vec<u8>,
    },
    CookieEcho(Vec<u8>),
    CookieAck,
    Heartbeat([u8; 16]),
    HeartbeatAck(Vec<u8>),
    /// ERROR chunk with its causes.
    Error(Vec<u8>),
    /// ABORT with one cause; `tag` is the verification tag to use.
    Abort {
        cause: u16,
        tag: u32,
        reflect: bool,
    },
    Shutdown,
    ShutdownAck,
    ShutdownComplete {
        tag: u32,
        reflect: bool,
    },
    ReconfigResponse {
        seq: u32,
        result: u32,
    },
}

/// An outgoing stream reset request in flight (RFC 6525 §4.1).
#[derive(Debug)]
struct ResetRequest {
    seq: u32,
    last_tsn: u32,
    streams: Vec<u16>,
    /// Whether it must be (re)sent at the next transmit.
    send: bool,
    /// "In progress" answers to it (RFC 6525 §4.4, result 6).
    in_progress: u32,
    /// The peer answered "In progress": the timer's expiry sends it again
    /// without counting as an unanswered timeout.
    answered: bool,
}

/// A peer's outgoing reset that waits for its last TSN (RFC 6525 §5.2.2).
#[derive(Debug)]
struct DeferredReset {
    seq: u32,
    last_tsn: u32,
    streams: Vec<u16>,
}

/// The parts that exist once the peer's parameters are known.
#[derive(Debug)]
struct Established {
    sender: Sender,
    receiver: Receiver,
    /// Per outgoing stream, the peer's Incoming SSN Reset Requests (RFC
    /// 6525 §4.2) that queued a reset of it, each told with
    /// [`Event::OutgoingStreamResetRequested`] (see
    /// [`Association::peer_reset_requests`]). At most one entry per
    /// outbound stream.
    peer_reset_requests: HashMap<u16, u32>,
}

/// An SCTP association (RFC 9260) carrying WebRTC data channels over DTLS
/// (RFC 8261): whole SCTP packets in, whole SCTP packets out.
///
/// # Polling order
///
/// The caller owns time and I/O. After any input (`handle_receive`,
/// `handle_timeout`, or an API call such as [`send`](Self::send)):
///
/// 1. call [`poll_transmit`](Self::poll_transmit) until it returns `None`,
///    sending each packet (as one DTLS record);
/// 2. call [`poll_event`](Self::poll_event) until it returns `None`;
/// 3. call [`poll_timeout`](Self::poll_timeout) and arrange for
///    [`handle_timeout`](Self::handle_timeout) to be called at that instant.
///
/// Feeding a burst of received packets before polling lets one SACK answer
/// the whole burst. Received messages count against the receive window until
/// `poll_event` hands them out, so an application that stops polling
/// throttles the peer instead of growing memory.
///
/// ```
/// use std::time::Instant;
/// use ferrtc_sctp::{Association, Config, Event, SendOptions, ppid};
///
/// let now = Instant::now();
/// let mut a = Association::new(Config { seed: Some(1), ..Config::default() });
/// let mut b = Association::new(Config { seed: Some(2), ..Config::default() });
/// a.connect(now);
/// let mut buf = Vec::new();
/// // Shuttle packets until both sides are quiet.
/// for _ in 0..10 {
///     while a.poll_transmit(now, &mut buf).is_some() { b.handle_receive(now, &buf).unwrap(); }
///     while b.poll_transmit(now, &mut buf).is_some() { a.handle_receive(now, &buf).unwrap(); }
/// }
/// assert_eq!(a.poll_event(), Some(Event::Connected));
/// a.send(now, 1, ppid::STRING, b"hi", SendOptions::RELIABLE_ORDERED).unwrap();
/// while a.poll_transmit(now, &mut buf).is_some() { b.handle_receive(now, &buf).unwrap(); }
/// assert_eq!(b.poll_event(), Some(Event::Connected));
/// match b.poll_event() {
///     Some(Event::Message(m)) => assert_eq!(m.data, b"hi"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
#[doc(alias = "SCTP")]
pub struct Association {
    config: Config,
    rng: StdRng,
    signer: CookieSigner,
    state: AssociationState,
    epoch: Option<Instant>,
    local_tag: u32,
    peer_tag: u32,
    local_initial_tsn: u32,
    caps: InitCaps,
    est: Option<Established>,
    control: VecDeque<Control>,
    events: VecDeque<Event>,
    stats: Stats,
    /// T1-init / T1-cookie (RFC 9260 §5.1).
    t1: Option<Instant>,
    t1_count: u32,
    t1_rto: Duration,
    /// T2-shutdown (RFC 9260 §9.2).
    t2: Option<Instant>,
    /// Consecutive unanswered timeouts (RFC 9260 §8.1).
    error_count: u32,
    sack_now: bool,
    sack_deadline: Option<Instant>,
    packets_unacked: u32,
    last_a_rwnd: u32,
    heartbeat_at: Option<Instant>,
    heartbeat_sent: Option<(Instant, u64)>,
    reset_out: Option<ResetRequest>,
    /// With `reset_out`, its retransmission timer (RFC 6525 §5.1.1);
    /// without, the wait before asking again after a refusal.
    reset_timer: Option<Instant>,
    /// The reset timer's backed-off RTO, doubled at each expiry up to
    /// RTO.max (RFC 9260 §6.3.3 E2); `None`: the association's RTO, as
    /// when the request is answered.
    reset_rto: Option<Duration>,
    /// The wait before asking again after the last refusal, doubled at
    /// each refusal in a row up to RTO.max as `reset_rto` is; `None`
    /// after a performed request: the association's RTO.
    reset_refused_wait: Option<Duration>,
    next_reconfig_seq: u32,
    peer_reconfig_seq: u32,
    /// The answers to the peer's last two requests (a RE-CONFIG chunk
    /// carries up to two, RFC 6525 §3.1), for their retransmissions.
    last_reconfig_results: [Option<(u32, u32)>; 2],
    deferred_reset: Option<DeferredReset>,
    reset_scratch: Vec<u16>,
    /// The cookie we echo, kept for T1-cookie retransmission.
    cookie_echo: Option<Vec<u8>>,
}

impl Association {
    /// Creates an association in the `Closed` state. Call [`connect`](Self::connect)
    /// to open it actively, or feed the peer's INIT to `handle_receive`.
    /// WebRTC peers usually both connect (simultaneous open), which works.
    ///
    /// The RNG (a ChaCha generator) is seeded from the operating system's
    /// CSPRNG, or from [`Config::seed`] when a test sets one: two
    /// associations made with the default configuration never share a
    /// verification tag or cookie key.
    pub fn new(config: Config) -> Self {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self::with_rng(config, rng)
    }

    /// Like [`new`](Self::new), drawing the State Cookie key (RFC 9260
    /// §5.1.3), the verification tag and the initial TSN (§5.1: random)
    /// from `rng`, a ChaCha generator seeded from the OS or from 32 bytes;
    /// [`Config::seed`] is not used.
    pub fn with_rng(config: Config, mut rng: StdRng) -> Self {
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        let local_tag = rng.random_range(1..=u32::MAX);
        let local_initial_tsn = rng.random();
        Self {
            t1_rto: config.rto_initial,
            config,
            rng,
            signer: CookieSigner::new(&secret),
            state: AssociationState::Closed,
            epoch: None,
            local_tag,
            peer_tag: 0,
            local_initial_tsn,
            caps: InitCaps::default(),
            est: None,
            control: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            t1: None,
            t1_count: 0,
            t2: None,
            error_count: 0,
            sack_now: false,
            sack_deadline: None,
            packets_unacked: 0,
            last_a_rwnd: 0,
            heartbeat_at: None,
            heartbeat_sent: None,
            reset_out: None,
            reset_timer: None,
            reset_rto: None,
            reset_refused_wait: None,
            next_reconfig_seq: local_initial_tsn,
            peer_reconfig_seq: 0,
            last_reconfig_results: [None; 2],
            deferred_reset: None,
            reset_scratch: Vec::new(),
            cookie_echo: None,
        }
    }

    /// Starts the four-way handshake by sending INIT (RFC 9260 §5.1).
    pub fn connect(&mut self, now: Instant) {
        self.touch(now);
        if self.state != AssociationState::Closed {
            return;
        }
        self.state = AssociationState::CookieWait;
        self.control.push_back(Control::Init);
        self.t1 = Some(now + self.t1_rto);
        self.t1_count = 0;
    }

    /// The association's state.
    pub fn state(&self) -> AssociationState {
        self.state
    }

    /// Counters and congestion figures.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        if let Some(e) = &self.est {
            e.sender.fill_stats(&mut s);
        }
        s
    }

    /// The configured `max-message-size` (RFC 8841).
    pub fn max_message_size(&self) -> usize {
        self.config.max_message_size
    }

    /// Number of outbound streams negotiated (0 before establishment).
    pub fn outbound_streams(&self) -> u16 {
        self.est.as_ref().map_or(0, |e| e.sender.outbound_streams())
    }

    /// Number of inbound streams negotiated (0 before establishment).
    pub fn inbound_streams(&self) -> u16 {
        self.est
            .as_ref()
            .map_or(0, |e| e.receiver.inbound_streams())
    }

    /// Whether the peer supports partial reliability (RFC 3758 FORWARD-TSN).
    pub fn peer_supports_partial_reliability(&self) -> bool {
        self.caps.forward_tsn
    }

    /// Whether I-DATA (RFC 8260) is in use: both sides offered it.
    pub fn i_data_in_use(&self) -> bool {
        self.config.i_data && self.caps.i_data
    }

    /// Whether packets are sent with a zero checksum (RFC 9653 agreed by both sides).
    pub fn zero_checksum_in_use(&self) -> bool {
        self.config.zero_checksum && self.caps.zero_checksum
    }

    /// Bytes held in receive buffers (reassembly, ordering, undelivered events).
    pub fn receive_buffered(&self) -> usize {
        self.est.as_ref().map_or(0, |e| e.receiver.held())
    }

    /// Bytes queued for sending and not yet sent, all streams.
    pub fn send_buffered(&self) -> usize {
        self.est.as_ref().map_or(0, |e| e.sender.buffered_total())
    }

    /// Our verification tag (for the fuzzing entry point).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn local_tag(&self) -> u32 {
        self.local_tag
    }

    fn touch(&mut self, now: Instant) {
        if self.epoch.is_none() {
            self.epoch = Some(now);
        }
    }

    fn now_ms(&self, now: Instant) -> u64 {
        self.epoch
            .map_or(0, |e| now.saturating_duration_since(e).as_millis() as u64)
    }

    /// The most bytes the association holds unsent across its streams
    /// ([`Config::max_send_buffer`]).
    pub fn max_send_buffer(&self) -> usize {
        self.config.max_send_buffer
    }

    fn sender_config(&self) -> SenderConfig {
        SenderConfig {
            mtu: self.config.mtu - COMMON_HEADER_LEN - chunk::DATA_HEADER_LEN,
            initial_cwnd: self.config.initial_cwnd_mtus.max(1) * self.config.mtu,
            max_send_buffer: self.config.max_send_buffer,
            max_message_size: self.config.max_message_size,
            rto_initial: self.config.rto_initial,
            rto_min: self.config.rto_min,
            rto_max: self.config.rto_max,
        }
    }

    // ------------------------------------------------------------ user API

    /// Checks that a stream can carry messages (streams are implicit in SCTP;
    /// this validates the id against the negotiated count).
    pub fn open_stream(&mut self, stream: u16) -> Result<(), Error> {
        let e = self.est.as_ref().ok_or(Error::InvalidState(self.state))?;
        let count = e.sender.outbound_streams();
        if stream >= count {
            return Err(Error::InvalidStream { stream, count });
        }
        Ok(())
    }

    /// Queues a message on a stream (copies `data` once).
    pub fn send(
        &mut self,
        now: Instant,
        stream: u16,
        ppid: u32,
        data: &[u8],
        options: SendOptions,
    ) -> Result<(), Error> {
        self.send_bytes(now, stream, ppid, Bytes::copy_from_slice(data), options)
    }

    /// Queues a message on a stream without copying it.
    pub fn send_bytes(
        &mut self,
        now: Instant,
        stream: u16,
        ppid: u32,
        data: Bytes,
        options: SendOptions,
    ) -> Result<(), Error> {
        self.touch(now);
        if self.state != AssociationState::Established {
            return Err(Error::InvalidState(self.state));
        }
        let e = self.est.as_mut().ok_or(Error::InvalidState(self.state))?;
        e.sender.enqueue(now, stream, ppid, data, options)
    }

    /// Bytes queued on a stream and not yet sent (W3C `bufferedAmount`):
    /// the application's data, so neither an empty message's one byte
    /// (RFC 8831 §6.6) nor a DCEP message (RFC 8832).
    pub fn buffered_amount(&self, stream: u16) -> usize {
        self.est
            .as_ref()
            .map_or(0, |e| e.sender.buffered_amount(stream))
    }

    /// Sets the threshold under which [`Event::BufferedAmountLow`] fires
    /// (W3C `bufferedAmountLowThreshold`). It lasts until the stream's
    /// reset completes ([`Event::OutgoingStreamReset`]): the stream's next
    /// user starts at 0.
    pub fn set_buffered_amount_low_threshold(&mut self, stream: u16, threshold: usize) {
        if let Some(e) = self.est.as_mut() {
            e.sender.set_low_threshold(stream, threshold);
        }
    }

    /// How many of the peer's Incoming SSN Reset Requests (RFC 6525 §4.2)
    /// have queued a reset of our outgoing `stream` so far: one for each
    /// [`Event::OutgoingStreamResetRequested`] of it, counted when the
    /// request arrives, before the event is polled (wraps after 2^32). A
    /// layer that holds events back can tell by it whether a request it has
    /// not seen yet is waiting, and which of its requests came before a
    /// given moment.
    pub fn peer_reset_requests(&self, stream: u16) -> u32 {
        self.est
            .as_ref()
            .and_then(|e| e.peer_reset_requests.get(&stream))
            .copied()
            .unwrap_or(0)
    }

    /// Resets an outgoing stream (RFC 6525 Outgoing SSN Reset Request) after
    /// its queued data is sent; [`Event::OutgoingStreamReset`] follows.
    /// This is how a data channel is closed (RFC 8831 §6.7).
    pub fn reset_stream(&mut self, stream: u16) -> Result<(), Error> {
        if self.state != AssociationState::Established {
            return Err(Error::InvalidState(self.state));
        }
        let e = self.est.as_mut().ok_or(Error::InvalidState(self.state))?;
        let count = e.sender.outbound_streams();
        if stream >= count {
            return Err(Error::InvalidStream { stream, count });
        }
        if !e.sender.queue_reset(stream) {
            return Err(Error::StreamClosing(stream));
        }
        Ok(())
    }

    /// Starts a graceful shutdown (RFC 9260 §9.2): queued data is sent first.
    pub fn shutdown(&mut self, now: Instant) {
        self.touch(now);
        match self.state {
            AssociationState::Established => {
                self.state = AssociationState::ShutdownPending;
                self.maybe_progress_shutdown(now);
            }
            AssociationState::Closed
            | AssociationState::CookieWait
            | AssociationState::CookieEchoed => self.terminate(CloseReason::Shutdown),
            _ => {}
        }
    }

    /// Aborts the association at once (RFC 9260 §9.1), telling the peer.
    pub fn abort(&mut self, now: Instant) {
        self.touch(now);
        if self.state == AssociationState::Terminated {
            return;
        }
        self.control.push_back(Control::Abort {
            cause: cause::USER_INITIATED_ABORT,
            tag: self.peer_tag,
            reflect: false,
        });
        self.terminate(CloseReason::UserAbort);
    }

    fn terminate(&mut self, reason: CloseReason) {
        if self.state == AssociationState::Terminated {
            return;
        }
        self.state = AssociationState::Terminated;
        self.t1 = None;
        self.t2 = None;
        self.sack_deadline = None;
        self.heartbeat_at = None;
        self.reset_timer = None;
        self.sack_now = false;
        self.est = None;
        self.events.push_back(Event::Closed(reason));
    }

    fn protocol_abort(&mut self, err: Error) {
        let code = match err {
            Error::InvalidStream { .. } => cause::INVALID_STREAM,
            _ => cause::PROTOCOL_VIOLATION,
        };
        self.control.clear();
        self.control.push_back(Control::Abort {
            cause: code,
            tag: self.peer_tag,
            reflect: false,
        });
        self.terminate(CloseReason::AbortedLocally(err));
    }

    fn push_control(&mut self, c: Control) {
        if self.control.len() < MAX_PENDING_CONTROL {
            self.control.push_back(c);
        }
    }

    // ------------------------------------------------------------ events

    /// The next event for the layer above.
    pub fn poll_event(&mut self) -> Option<Event> {
        let Some(ev) = self.events.pop_front() else {
            // Drained: an idle association keeps no event capacity.
            if self.events.capacity() > 0 {
                self.events = VecDeque::new();
            }
            return None;
        };
        if let (Event::Message(m), Some(e)) = (&ev, self.est.as_mut()) {
            let r = &mut e.receiver;
            r.event_bytes = r.event_bytes.saturating_sub(m.data.len() + ENTRY_OVERHEAD);
            // Window update: tell the peer once the window reopens (RFC 9260 §6.2).
            let half = (r.window / 2) as u32;
            if self.last_a_rwnd < half && r.a_rwnd() >= half {
                self.sack_now = true;
            }
        }
        Some(ev)
    }

    // ------------------------------------------------------------ timers

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t3 = self.est.as_ref().and_then(|e| e.sender.t3());
        [
            self.t1,
            self.t2,
            t3,
            self.sack_deadline,
            self.heartbeat_at,
            self.reset_timer,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.t1) {
            self.on_t1(now);
        }
        if due(self.t2) {
            self.on_t2(now);
        }
        if due(self.sack_deadline) {
            self.sack_deadline = None;
            self.sack_now = true;
        }
        if due(self.est.as_ref().and_then(|e| e.sender.t3())) {
            let counts = self.est.as_mut().is_none_or(|e| {
                let counts = e.sender.handle_t3(now, &mut self.stats, &mut self.events);
                e.sender.rearm_forward_tsn();
                counts
            });
            if counts {
                self.count_error();
            }
        }
        if due(self.heartbeat_at) {
            self.on_heartbeat_timer(now);
        }
        if due(self.reset_timer) {
            self.reset_timer = None;
            if let Some(r) = self.reset_out.as_mut()
                && std::mem::take(&mut r.answered)
            {
                // Answered "In progress" (RFC 6525 §4.4): asked again,
                // the peer being reachable (RFC 9260 §8.1).
                r.send = true;
            } else if let Some(r) = self.reset_out.as_mut() {
                // RFC 6525 §5.1.1: the request is sent again, and the
                // expiry counts toward the association's error counter
                // as a T3-rtx one does (RFC 9260 §8.1): too many end it.
                // As T3-rtx's, the timer backs off (RFC 9260 §6.3.3 E2).
                r.send = true;
                let rto = self
                    .reset_rto
                    .or(self.est.as_ref().map(|e| e.sender.rto()))
                    .unwrap_or(self.config.rto_initial);
                self.reset_rto = Some((rto * 2).min(self.config.rto_max));
                self.count_error();
            }
        }
    }

    fn count_error(&mut self) {
        self.error_count += 1;
        if self.error_count > self.config.max_retransmits {
            self.control.push_back(Control::Abort {
                cause: cause::PROTOCOL_VIOLATION,
                tag: self.peer_tag,
                reflect: false,
            });
            self.terminate(CloseReason::Timeout);
        }
    }

    fn on_t1(&mut self, now: Instant) {
        self.t1_count += 1;
        if self.t1_count > self.config.max_init_retransmits {
            self.t1 = None;
            self.terminate(CloseReason::Timeout);
            return;
        }
        self.t1_rto = (self.t1_rto * 2).min(self.config.rto_max);
        match self.state {
            AssociationState::CookieWait => self.control.push_back(Control::Init),
            AssociationState::CookieEchoed => {
                if let Some(Control::CookieEcho(c)) = self.pending_cookie_echo() {
                    self.control.push_front(Control::CookieEcho(c));
                }
            }
            _ => {
                self.t1 = None;
                return;
            }
        }
        self.t1 = Some(now + self.t1_rto);
    }

    fn pending_cookie_echo(&mut self) -> Option<Control> {
        self.cookie_echo.clone().map(Control::CookieEcho)
    }

    fn on_t2(&mut self, now: Instant) {
        self.t2 = None;
        match self.state {
            AssociationState::ShutdownSent => self.control.push_back(Control::Shutdown),
            AssociationState::ShutdownAckSent => self.control.push_back(Control::ShutdownAck),
            _ => return,
        }
        self.count_error();
        if self.state != AssociationState::Terminated {
            let rto = self
                .est
                .as_ref()
                .map_or(self.config.rto_initial, |e| e.sender.rto());
            self.t2 = Some(now + rto);
        }
    }

    fn on_heartbeat_timer(&mut self, now: Instant) {
        self.heartbeat_at = None;
        if self.state != AssociationState::Established {
            return;
        }
        if self.heartbeat_sent.take().is_some() {
            // The last heartbeat went unanswered (RFC 9260 §8.3).
            self.count_error();
            if self.state == AssociationState::Terminated {
                return;
            }
        }
        let nonce: u64 = self.rng.random();
        let mut info = [0u8; 16];
        info[..8].copy_from_slice(&self.now_ms(now).to_be_bytes());
        info[8..].copy_from_slice(&nonce.to_be_bytes());
        self.heartbeat_sent = Some((now, nonce));
        self.push_control(Control::Heartbeat(info));
        self.arm_heartbeat(now);
    }

    fn arm_heartbeat(&mut self, now: Instant) {
        if let Some(interval) = self.config.heartbeat_interval {
            let rto = self
                .est
                .as_ref()
                .map_or(self.config.rto_initial, |e| e.sender.rto());
            self.heartbeat_at = Some(now + interval + rto);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9260 §5.1 (random verification tag and initial TSN), §5.1.3
    /// (secret cookie key): `new` without a seed draws from the OS.
    #[test]
    fn default_associations_have_different_tags_and_cookie_keys() {
        let a = Association::new(Config::default());
        let b = Association::new(Config::default());
        assert_ne!(a.local_tag, b.local_tag);
        assert_ne!(a.local_initial_tsn, b.local_initial_tsn);
        assert_ne!(a.signer.secret(), b.signer.secret());
    }

    #[test]
    fn equal_seeds_still_give_equal_associations_for_tests() {
        let config = || Config {
            seed: Some(7),
            ..Config::default()
        };
        let (a, b) = (Association::new(config()), Association::new(config()));
        assert_eq!(a.local_tag, b.local_tag);
        assert_eq!(a.signer.secret(), b.signer.secret());
    }
}
