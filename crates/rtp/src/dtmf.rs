//! DTMF over RTP: the telephone-event payload (RFC 4733 §2.3), a sender that
//! follows the W3C `RTCDTMFSender` (webrtc-pc §7) and turns a tone buffer
//! into RFC 4733 packets on a clock the caller drives, and a receiver that
//! turns telephone-event packets back into one start and one end per tone.
//!
//! Sans-IO: no clock is read. The sender is given an epoch (the instant of
//! the caller's base RTP timestamp) and `now` on every call; its packets
//! carry RTP timestamp offsets from that epoch, in units of the negotiated
//! telephone-event clock (8000 Hz, or 48000 Hz next to Opus). The caller
//! adds its base timestamp, sequence number, SSRC and payload type.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ferrtc_rtp::dtmf::{DtmfReceiver, DtmfSender, DtmfSenderConfig, ToneEvent};
//!
//! let t0 = Instant::now();
//! let mut sender = DtmfSender::new(DtmfSenderConfig::default(), t0);
//! sender.insert_dtmf("1", 100, 70).unwrap();
//! let mut receiver = DtmfReceiver::default();
//! let (mut now, mut seq) = (t0, 0u16);
//! while let Some(at) = sender.poll_timeout() {
//!     now = now.max(at);
//!     while let Some(p) = sender.poll_packet(now) {
//!         receiver.handle_packet(&p.payload, 1000 + p.timestamp_offset, seq, p.marker).unwrap();
//!         seq = seq.wrapping_add(1);
//!     }
//! }
//! assert_eq!(receiver.poll_event().unwrap().tone(), Some('1'));
//! assert!(matches!(receiver.poll_event(), Some(ToneEvent::Ended { duration: 800, .. })));
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Bytes of one telephone-event payload block (RFC 4733 §2.3).
pub const EVENT_LEN: usize = 4;

/// The largest volume (RFC 4733 §2.3.4: 0 to -63 dBm0, as 0..=63).
pub const MAX_VOLUME: u8 = 63;

/// The shortest tone `insert_dtmf` plays, in ms (webrtc-pc §7.2).
pub const MIN_DURATION_MS: u32 = 40;
/// The longest tone `insert_dtmf` plays, in ms (webrtc-pc §7.2).
pub const MAX_DURATION_MS: u32 = 6000;
/// The default tone duration, in ms (webrtc-pc §7.2).
pub const DEFAULT_DURATION_MS: u32 = 100;
/// The shortest gap between tones, in ms (webrtc-pc §7.2).
pub const MIN_INTER_TONE_GAP_MS: u32 = 30;
/// The longest gap between tones, in ms (webrtc-pc §7.2).
pub const MAX_INTER_TONE_GAP_MS: u32 = 6000;
/// The default gap between tones, in ms (webrtc-pc §7.2).
pub const DEFAULT_INTER_TONE_GAP_MS: u32 = 70;
/// The pause a `,` in the tone buffer makes (webrtc-pc §7.2, playout task).
pub const COMMA_PAUSE: Duration = Duration::from_secs(2);

/// The most a duration field can say; a longer event is sent as segments
/// (RFC 4733 §2.5.1.3).
const MAX_SEGMENT: u64 = 0xFFFF;

/// How many segments in a row of a long event may be lost whole for the
/// next one to still continue it (a 6 s tone at 48 kHz has five).
const MAX_LOST_SEGMENTS: u32 = 4;

/// How far past 0xFFFF a sender may start a long event's next segment:
/// libwebrtc starts it at the audio frame where the duration passed 0xFFFF
/// (at most one frame later: 120 ms at 48 kHz is 5,760 units).
const SEGMENT_OVERSHOOT: u32 = 0x2000;

/// The DTMF event code of a tone character (RFC 4733 §3.2):
/// `0`-`9` are 0-9, `*` 10, `#` 11, `A`-`D` 12-15 (either case).
pub fn event_for_tone(tone: char) -> Option<u8> {
    match tone {
        '0'..='9' => Some(tone as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(tone as u8 - b'A' + 12),
        'a'..='d' => Some(tone as u8 - b'a' + 12),
        _ => None,
    }
}

/// The tone character of a DTMF event code (RFC 4733 §3.2), or
/// `None` for codes past 15 (other telephone events).
pub fn tone_for_event(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// Why a telephone-event payload could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EventParseError {
    /// Fewer than the 4 bytes of one event block (RFC 4733 §2.3).
    #[error("telephone-event payload of {available} bytes, needs {EVENT_LEN}")]
    TooShort {
        /// Bytes given.
        available: usize,
    },
}

/// Why a telephone-event payload could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EventWriteError {
    /// The caller's buffer is smaller than one event block.
    #[error("buffer of {available} bytes, telephone-event needs {EVENT_LEN}")]
    BufferTooSmall {
        /// Bytes in the buffer.
        available: usize,
    },
    /// The volume does not fit its 6 bits (RFC 4733 §2.3.4).
    #[error("telephone-event volume {0} past the largest, {MAX_VOLUME}")]
    VolumeOutOfRange(u8),
}

/// One telephone-event payload block (RFC 4733 §2.3, Figure 1):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (§2.3.1); DTMF is 0..=15 ([`tone_for_event`]).
    pub event: u8,
    /// E: this is the last packet of the event (§2.3.2).
    pub end: bool,
    /// R: reserved, sent as 0 and ignored on receipt (§2.3.3); kept so a
    /// parsed block writes back unchanged.
    pub reserved: bool,
    /// Power level in -dBm0, 0..=63 (§2.3.4).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units, from the packet's RTP
    /// timestamp (§2.3.5).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event block of `payload` (RFC 4733 §2.3). Bytes past
    /// the block are ignored. Never panics.
    pub fn parse(payload: &[u8]) -> Result<Self, EventParseError> {
        let Some(&[event, flags, d0, d1]) = payload.first_chunk::<EVENT_LEN>() else {
            return Err(EventParseError::TooShort {
                available: payload.len(),
            });
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            reserved: flags & 0x40 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The block as bytes (RFC 4733 §2.3).
    pub fn to_bytes(&self) -> Result<[u8; EVENT_LEN], EventWriteError> {
        if self.volume > MAX_VOLUME {
            return Err(EventWriteError::VolumeOutOfRange(self.volume));
        }
        let flags = (u8::from(self.end) << 7) | (u8::from(self.reserved) << 6) | self.volume;
        let [d0, d1] = self.duration.to_be_bytes();
        Ok([self.event, flags, d0, d1])
    }

    /// Writes the block into `buf`; returns the bytes written (4).
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, EventWriteError> {
        let available = buf.len();
        let Some(out) = buf.first_chunk_mut::<EVENT_LEN>() else {
            return Err(EventWriteError::BufferTooSmall { available });
        };
        *out = self.to_bytes()?;
        Ok(EVENT_LEN)
    }

    /// The DTMF tone character, if the event is one (0..=15).
    pub fn tone(&self) -> Option<char> {
        tone_for_event(self.event)
    }
}

/// Why `insert_dtmf` refused (webrtc-pc §7.2, `insertDTMF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// A character other than `0`-`9`, `A`-`D` (either case), `#`, `*` and
    /// `,` (the W3C `InvalidCharacterError`). The tone buffer is unchanged.
    #[error("InvalidCharacterError: {character:?} at position {position} is not a DTMF tone")]
    InvalidCharacterError {
        /// The character.
        character: char,
        /// Its position in the tones, in characters.
        position: usize,
    },
    /// The sender cannot send DTMF now (the W3C `InvalidStateError`: the
    /// transceiver is stopping or its current direction does not send).
    #[error("InvalidStateError: the sender cannot insert DTMF")]
    InvalidStateError,
}

/// The W3C `RTCDTMFToneChangeEvent` (webrtc-pc §7): `tone` is the tone
/// that starts playing (a `,` included), or empty once the buffer is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToneChange {
    /// One character, or empty when the tone buffer has been played.
    pub tone: String,
}

/// One telephone-event packet for the caller to send with the audio
/// stream's SSRC and the negotiated telephone-event payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The RTP payload (RFC 4733 §2.3).
    pub payload: [u8; EVENT_LEN],
    /// The block in `payload`.
    pub event: TelephoneEvent,
    /// The RTP timestamp (the event's, or its segment's, start) as an
    /// offset from the sender's epoch, in telephone-event clock units;
    /// add the base timestamp with wrapping arithmetic.
    pub timestamp_offset: u32,
    /// The RTP marker bit: set on the first packet of an event only
    /// (RFC 4733 §2.5.1.2), not on later segments (§2.5.1.3).
    pub marker: bool,
    /// The E bit: one of the (three) end packets (§2.5.1.4).
    pub is_end: bool,
}

/// How a [`DtmfSender`] builds its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfSenderConfig {
    /// The negotiated telephone-event clock rate (`a=rtpmap:.. telephone-event/8000`),
    /// in Hz; 0 counts as 8000.
    pub clock_rate: u32,
    /// Time between update packets of one event (RFC 4733 §2.5.1.2: 50 ms
    /// or the audio packet interval); zero counts as 1 ms.
    pub update_interval: Duration,
    /// Volume of the tones in -dBm0 (RFC 4733 §2.3.4); capped at 63.
    pub volume: u8,
    /// How many times the end packet is sent (RFC 4733 §2.5.1.4: three);
    /// at least one.
    pub end_packets: u8,
}

impl Default for DtmfSenderConfig {
    /// 8000 Hz, 50 ms updates, volume 10 (-10 dBm0), three end packets.
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            update_interval: Duration::from_millis(50),
            volume: 10,
            end_packets: 3,
        }
    }
}

/// The W3C playout task's schedule (webrtc-pc §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Playout {
    /// No task is queued.
    Idle,
    /// Queued by `insert_dtmf`: runs at the next poll.
    Asap,
    /// Runs at this instant (after a tone and its gap, or a `,`).
    At(Instant),
}

/// The tone whose packets are being produced.
#[derive(Debug, Clone, Copy)]
struct Playing {
    event: u8,
    start: Instant,
    /// Clock units from the epoch to `start`.
    start_units: u64,
    /// The tone's duration in clock units.
    total_units: u64,
    end_at: Instant,
    /// When the next packet is due: the first at `start`, updates every
    /// interval, the end packets at `end_at`.
    next: Instant,
    first_sent: bool,
    /// Clock units from `start` where the current segment begins.
    segment: u64,
}

/// The W3C `RTCDTMFSender` (webrtc-pc §7) as a sans-IO state machine that
/// produces RFC 4733 telephone-event packets (§2.5.1).
///
/// `insert_dtmf` fills the tone buffer; the playout task takes one tone at
/// a time, plays it for the duration and waits the inter-tone gap (a `,`
/// waits 2 s). Each tone is one event: a first packet with the marker bit,
/// updates every [`DtmfSenderConfig::update_interval`] with the same RTP
/// timestamp and the duration so far, and the end packet three times with
/// the final duration. A tone longer than 0xFFFF clock units is split into
/// segments (§2.5.1.3). Drive it with [`poll_packet`](Self::poll_packet) at
/// [`poll_timeout`](Self::poll_timeout); time is only what the caller says.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    config: DtmfSenderConfig,
    epoch: Instant,
    last_now: Instant,
    can_insert: bool,
    buffer: String,
    duration_ms: u32,
    gap_ms: u32,
    playout: Playout,
    playing: Option<Playing>,
    packets: VecDeque<DtmfPacket>,
    events: VecDeque<ToneChange>,
}

impl DtmfSender {
    /// A sender whose RTP timestamp offsets count from `epoch`; it can
    /// insert DTMF until told otherwise.
    pub fn new(config: DtmfSenderConfig, epoch: Instant) -> Self {
        let config = DtmfSenderConfig {
            clock_rate: if config.clock_rate == 0 {
                8000
            } else {
                config.clock_rate
            },
            update_interval: config.update_interval.max(Duration::from_millis(1)),
            volume: config.volume.min(MAX_VOLUME),
            end_packets: config.end_packets.max(1),
        };
        Self {
            config,
            epoch,
            last_now: epoch,
            can_insert: true,
            buffer: String::new(),
            duration_ms: DEFAULT_DURATION_MS,
            gap_ms: DEFAULT_INTER_TONE_GAP_MS,
            playout: Playout::Idle,
            playing: None,
            packets: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The W3C `canInsertDTMF` (webrtc-pc §7.2): whether the transceiver
    /// sends (not stopping, current direction sendrecv or sendonly).
    pub fn can_insert_dtmf(&self) -> bool {
        self.can_insert
    }

    /// Sets `canInsertDTMF`, as the transceiver's state changes. When false,
    /// the next playout task stops playout (the tone buffer stays); a tone
    /// already started still ends with its end packets.
    pub fn set_can_insert_dtmf(&mut self, can_insert: bool) {
        self.can_insert = can_insert;
    }

    /// The W3C `toneBuffer`: the tones still to play, uppercased.
    pub fn tone_buffer(&self) -> &str {
        &self.buffer
    }

    /// The tone duration in ms of the last `insert_dtmf`, after clamping.
    pub fn duration_ms(&self) -> u32 {
        self.duration_ms
    }

    /// The inter-tone gap in ms of the last `insert_dtmf`, after clamping.
    pub fn inter_tone_gap_ms(&self) -> u32 {
        self.gap_ms
    }

    /// The W3C `insertDTMF(tones, duration, interToneGap)` (webrtc-pc
    /// §7.2): checks the tones, replaces the tone buffer with them
    /// (uppercased), clamps the duration to 40..=6000 ms and the gap to
    /// 30..=6000 ms, and queues the playout task unless one is queued
    /// already (a tone being played keeps playing; the next one comes from
    /// the new buffer). An empty `tones` clears the buffer.
    pub fn insert_dtmf(
        &mut self,
        tones: &str,
        duration_ms: u32,
        inter_tone_gap_ms: u32,
    ) -> Result<(), DtmfError> {
        if !self.can_insert {
            return Err(DtmfError::InvalidStateError);
        }
        if let Some((position, character)) = tones
            .chars()
            .enumerate()
            .find(|&(_, c)| c != ',' && event_for_tone(c).is_none())
        {
            return Err(DtmfError::InvalidCharacterError {
                character,
                position,
            });
        }
        self.buffer = tones.to_ascii_uppercase();
        self.duration_ms = duration_ms.clamp(MIN_DURATION_MS, MAX_DURATION_MS);
        self.gap_ms = inter_tone_gap_ms.clamp(MIN_INTER_TONE_GAP_MS, MAX_INTER_TONE_GAP_MS);
        if self.buffer.is_empty() {
            return Ok(());
        }
        if self.playout == Playout::Idle {
            self.playout = Playout::Asap;
        }
        Ok(())
    }

    /// Whether a tone's packets are being produced (the caller may mute
    /// its audio meanwhile, RFC 4733 §2.5.1.2).
    pub fn is_playing_tone(&self) -> bool {
        self.playing.is_some()
    }

    /// When [`poll_packet`](Self::poll_packet) next has work; an instant
    /// in the past means now. `None` when idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.packets.is_empty() {
            return Some(self.last_now);
        }
        let tone = self.playing.map(|p| p.next);
        let playout = match self.playout {
            Playout::Idle => None,
            Playout::Asap => Some(self.last_now),
            Playout::At(at) => Some(at),
        };
        match (tone, playout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs everything due by `now`, in time order, queueing packets and
    /// tone changes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        loop {
            let tone_at = self.playing.map(|p| p.next).filter(|&t| t <= now);
            let playout_at = match self.playout {
                Playout::Idle => None,
                Playout::Asap => Some(now),
                Playout::At(at) => Some(at).filter(|&t| t <= now),
            };
            match (tone_at, playout_at) {
                (Some(t), Some(p)) if p < t => self.playout_task(p),
                (Some(t), _) => self.tone_step(t, now),
                (None, Some(p)) => self.playout_task(p),
                (None, None) => break,
            }
        }
    }

    /// The next packet due by `now` (running what is due first), or `None`.
    pub fn poll_packet(&mut self, now: Instant) -> Option<DtmfPacket> {
        self.handle_timeout(now);
        self.packets.pop_front()
    }

    /// The next `tonechange` (`RTCDTMFToneChangeEvent`). Does no work.
    pub fn poll_event(&mut self) -> Option<ToneChange> {
        self.events.pop_front()
    }

    /// Clock units in `d`.
    fn units(&self, d: Duration) -> u64 {
        let units = d.as_nanos() * u128::from(self.config.clock_rate) / 1_000_000_000;
        u64::try_from(units).unwrap_or(u64::MAX)
    }

    /// The playout task (webrtc-pc §7.2), run at `at`.
    fn playout_task(&mut self, at: Instant) {
        // Step 1: a transceiver that no longer sends stops playout.
        if !self.can_insert {
            self.playout = Playout::Idle;
            return;
        }
        // Step 2: an empty buffer ends playout with an empty tonechange.
        let Some(tone) = self.buffer.chars().next() else {
            self.playout = Playout::Idle;
            self.events.push_back(ToneChange {
                tone: String::new(),
            });
            return;
        };
        // Step 3: take the first tone.
        self.buffer.drain(..tone.len_utf8());
        match event_for_tone(tone) {
            // Step 4: ',' pauses 2 s.
            None => self.playout = Playout::At(at + COMMA_PAUSE),
            // Step 5: play the tone, then wait for the gap.
            Some(event) => {
                let duration = Duration::from_millis(u64::from(self.duration_ms));
                let start_units = self.units(at.saturating_duration_since(self.epoch));
                self.playing = Some(Playing {
                    event,
                    start: at,
                    start_units,
                    total_units: u64::from(self.duration_ms) * u64::from(self.config.clock_rate)
                        / 1000,
                    end_at: at + duration,
                    next: at,
                    first_sent: false,
                    segment: 0,
                });
                let gap = Duration::from_millis(u64::from(self.gap_ms));
                self.playout = Playout::At(at + duration + gap);
            }
        }
        // Step 6: fire tonechange with the tone.
        self.events.push_back(ToneChange {
            tone: tone.to_string(),
        });
    }

    /// The packets of the playing tone due at `at` (RFC 4733 §2.5.1).
    fn tone_step(&mut self, at: Instant, now: Instant) {
        let Some(mut p) = self.playing else { return };
        let interval = self.config.update_interval;
        if !p.first_sent {
            // §2.5.1.2: the first packet as soon as the event starts, with
            // the marker bit. §2.3.5: a sender MUST NOT send a zero
            // duration (receivers ignore it), so it reports one update
            // interval, the span it stands for until the next packet.
            p.first_sent = true;
            let first = self.units(interval).clamp(1, p.total_units.max(1));
            self.push(&p, first, false, true);
            p.next = (p.start + interval).min(p.end_at);
        } else if at < p.end_at {
            // §2.5.1.2: an update with the same timestamp and the duration
            // so far. An update already overtaken by the next one (the
            // caller polled late) is skipped.
            let next = (at + interval).min(p.end_at);
            if next > now {
                let elapsed = self.units(at - p.start).min(p.total_units);
                self.close_segments(&mut p, elapsed);
                self.push(&p, elapsed - p.segment, false, false);
            }
            p.next = next;
        } else {
            // §2.5.1.4: the end packet, three times, with the final duration.
            let total = p.total_units;
            self.close_segments(&mut p, total);
            for _ in 0..self.config.end_packets {
                self.push(&p, p.total_units - p.segment, true, false);
            }
            self.playing = None;
            return;
        }
        self.playing = Some(p);
    }

    /// §2.5.1.3: while the duration since the segment's start would not fit
    /// 16 bits, the segment ends with a packet of duration 0xFFFF and a new
    /// one starts 0xFFFF units later (no marker, no E bit).
    fn close_segments(&mut self, p: &mut Playing, elapsed: u64) {
        while elapsed - p.segment > MAX_SEGMENT {
            self.push(p, MAX_SEGMENT, false, false);
            p.segment += MAX_SEGMENT;
        }
    }

    fn push(&mut self, p: &Playing, duration: u64, end: bool, marker: bool) {
        let event = TelephoneEvent {
            event: p.event,
            end,
            reserved: false,
            volume: self.config.volume,
            duration: u16::try_from(duration).unwrap_or(u16::MAX),
        };
        let payload = match event.to_bytes() {
            Ok(b) => b,
            // The volume is capped in `new`; unreachable in practice.
            Err(_) => return,
        };
        self.packets.push_back(DtmfPacket {
            payload,
            event,
            timestamp_offset: (p.start_units + p.segment) as u32,
            marker,
            is_end: end,
        });
    }
}

/// A received tone, reported once when it starts and once when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneEvent {
    /// The first packet seen of an event (the marker packet, or a later one
    /// when that was lost).
    Started {
        /// The event code ([`tone_for_event`]).
        event: u8,
        /// The event's RTP timestamp (its first segment's).
        timestamp: u32,
    },
    /// The event ended.
    Ended {
        /// The event code.
        event: u8,
        /// The event's RTP timestamp (its first segment's).
        timestamp: u32,
        /// The whole duration in clock units, over all segments.
        duration: u32,
        /// Whether an end packet was seen; false when the end was inferred
        /// from a later event or [`DtmfReceiver::end_all`] and `duration` is
        /// the last one known.
        end_bit: bool,
    },
}

impl ToneEvent {
    /// The event code.
    pub fn event(&self) -> u8 {
        match *self {
            Self::Started { event, .. } | Self::Ended { event, .. } => event,
        }
    }

    /// The DTMF tone character, if the event is one.
    pub fn tone(&self) -> Option<char> {
        tone_for_event(self.event())
    }
}

/// Limits of a [`DtmfReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfReceiverConfig {
    /// Events remembered to deduplicate their repeated packets; past it the
    /// oldest is forgotten and packets older than it are ignored. At least 1.
    pub max_events: usize,
}

impl Default for DtmfReceiverConfig {
    /// 16 events.
    fn default() -> Self {
        Self { max_events: 16 }
    }
}

/// Counters of a [`DtmfReceiver`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtmfReceiverStats {
    /// Packets that parsed.
    pub packets: u64,
    /// Packets that parsed but told nothing new (updates, repeated end
    /// packets, duplicates, packets of an ended event).
    pub redundant: u64,
    /// Packets of an event older than every remembered one, ignored.
    pub stale: u64,
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    event: u8,
    /// The RTP timestamp of the event's first segment: the key.
    timestamp: u32,
    /// The latest segment's timestamp.
    segment: u32,
    /// The longest duration seen in the latest segment.
    duration: u16,
    ended: bool,
    last_seq: u16,
}

impl Tracked {
    fn total(&self) -> u32 {
        self.segment
            .wrapping_sub(self.timestamp)
            .saturating_add(u32::from(self.duration))
    }
}

/// `a` is after `b` in RTP timestamp order (within half the range).
fn ts_after(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000_0000
}

/// How far apart (in clock units, either way) two events may be for the
/// receiver to compare them: 2^24, 35 minutes at 8000 Hz, 5.8 at 48000 Hz.
/// An event further from every remembered one starts afresh, so that
/// timestamps wrapping during a long silence never look stale.
const NEAR: u32 = 1 << 24;

/// `a` and `b` are less than [`NEAR`] apart.
fn near(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d < NEAR || d > NEAR.wrapping_neg()
}

/// Turns received telephone-event packets (RFC 4733 §2.5.2) into one
/// [`ToneEvent::Started`] and one [`ToneEvent::Ended`] per event. Events
/// are keyed by RTP timestamp, so updates and the repeated end packets are
/// deduplicated, a lost first packet only makes the start known later,
/// reordered packets of an earlier event are still matched to it, and a
/// new segment of a long event (§2.5.1.3: same event, no marker, a whole
/// number of 0xFFFF after the last segment, or up to one audio frame past
/// 0xFFFF after a full one) continues it. An event whose end packets
/// were all lost ends when a later event starts. State is bounded by
/// [`DtmfReceiverConfig::max_events`].
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    config: DtmfReceiverConfig,
    tracked: VecDeque<Tracked>,
    /// The timestamp of the newest forgotten event.
    horizon: Option<u32>,
    events: VecDeque<ToneEvent>,
    stats: DtmfReceiverStats,
}

impl DtmfReceiver {
    /// A receiver with `config`.
    pub fn new(config: DtmfReceiverConfig) -> Self {
        Self {
            config: DtmfReceiverConfig {
                max_events: config.max_events.max(1),
            },
            ..Self::default()
        }
    }

    /// Feeds one telephone-event packet: its payload, RTP timestamp,
    /// sequence number and marker bit. A payload that does not parse is
    /// refused and changes nothing.
    pub fn handle_packet(
        &mut self,
        payload: &[u8],
        timestamp: u32,
        sequence: u16,
        marker: bool,
    ) -> Result<(), EventParseError> {
        let block = TelephoneEvent::parse(payload)?;
        self.stats.packets += 1;
        if let Some(i) = self.find(&block, timestamp, marker) {
            self.update(i, &block, timestamp, sequence);
            return Ok(());
        }
        if self
            .horizon
            .is_some_and(|h| near(timestamp, h) && !ts_after(timestamp, h))
        {
            self.stats.stale += 1;
            return Ok(());
        }
        if !self.tracked.iter().any(|t| near(timestamp, t.timestamp)) {
            // Far from every remembered event (a long silence, the
            // timestamp wrapped): those are history.
            self.end_all();
            self.tracked.clear();
            self.horizon = None;
        }
        // A new event. Earlier events still open have ended (§2.5.2.2: a
        // new event's start ends the one playing).
        for t in self.tracked.iter_mut() {
            if !t.ended && ts_after(timestamp, t.timestamp) {
                t.ended = true;
                self.events.push_back(ToneEvent::Ended {
                    event: t.event,
                    timestamp: t.timestamp,
                    duration: t.total(),
                    end_bit: false,
                });
            }
        }
        self.events.push_back(ToneEvent::Started {
            event: block.event,
            timestamp,
        });
        let newest_first = self
            .tracked
            .iter()
            .any(|t| ts_after(t.timestamp, timestamp));
        let mut tracked = Tracked {
            event: block.event,
            timestamp,
            segment: timestamp,
            duration: block.duration,
            ended: false,
            last_seq: sequence,
        };
        if block.end {
            self.end(&mut tracked);
        } else if newest_first {
            // A reordered packet of an event older than one already seen:
            // that later event implies this one is over.
            tracked.ended = true;
            self.events.push_back(ToneEvent::Ended {
                event: tracked.event,
                timestamp,
                duration: tracked.total(),
                end_bit: false,
            });
        }
        self.tracked.push_back(tracked);
        while self.tracked.len() > self.config.max_events {
            // Forget the oldest event by timestamp.
            let Some(oldest) = (0..self.tracked.len()).min_by(|&a, &b| {
                let (ta, tb) = (self.tracked[a].timestamp, self.tracked[b].timestamp);
                if ts_after(ta, tb) {
                    std::cmp::Ordering::Greater
                } else if ts_after(tb, ta) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Equal
                }
            }) else {
                break;
            };
            if let Some(gone) = self.tracked.remove(oldest) {
                if self.horizon.is_none_or(|h| ts_after(gone.timestamp, h)) {
                    self.horizon = Some(gone.timestamp);
                }
            }
        }
        Ok(())
    }

    /// Ends every open event with its last known duration (the stream
    /// stopped, or the caller's own timeout).
    pub fn end_all(&mut self) {
        for t in self.tracked.iter_mut().filter(|t| !t.ended) {
            t.ended = true;
            self.events.push_back(ToneEvent::Ended {
                event: t.event,
                timestamp: t.timestamp,
                duration: t.total(),
                end_bit: false,
            });
        }
    }

    /// The next tone event. Does no work.
    pub fn poll_event(&mut self) -> Option<ToneEvent> {
        self.events.pop_front()
    }

    /// The counters.
    pub fn stats(&self) -> DtmfReceiverStats {
        self.stats
    }

    /// How many events are remembered (at most `max_events`).
    pub fn remembered(&self) -> usize {
        self.tracked.len()
    }

    /// The remembered event this packet belongs to: same first or latest
    /// segment timestamp, or the next segment of an open event (§2.5.2.3).
    fn find(&self, block: &TelephoneEvent, timestamp: u32, marker: bool) -> Option<usize> {
        self.tracked
            .iter()
            .position(|t| t.timestamp == timestamp || t.segment == timestamp)
            .or_else(|| {
                if marker {
                    return None;
                }
                // §2.5.1.3: a segment ends at 0xFFFF units and the next
                // starts there: a whole number of 0xFFFF past the latest
                // segment known (more than one when whole segments were
                // lost), or, after a segment seen full, up to one audio
                // frame later (where libwebrtc starts it). Anything else
                // is a new event, even of the same digit whose first
                // packet was lost.
                let segment = MAX_SEGMENT as u32;
                self.tracked.iter().position(|t| {
                    let step = timestamp.wrapping_sub(t.segment);
                    let whole = step % segment == 0 && step <= segment * MAX_LOST_SEGMENTS;
                    let after_full = u32::from(t.duration) == segment
                        && (segment..=segment + SEGMENT_OVERSHOOT).contains(&step);
                    !t.ended
                        && t.event == block.event
                        && ts_after(timestamp, t.segment)
                        && (whole || after_full)
                })
            })
    }

    fn update(&mut self, i: usize, block: &TelephoneEvent, timestamp: u32, sequence: u16) {
        let Some(mut t) = self.tracked.get(i).copied() else {
            return;
        };
        let duplicate = t.last_seq == sequence;
        t.last_seq = sequence;
        if t.ended || duplicate || block.event != t.event {
            self.stats.redundant += 1;
            self.tracked[i] = t;
            return;
        }
        if timestamp != t.segment && ts_after(timestamp, t.segment) {
            t.segment = timestamp;
            t.duration = block.duration;
        } else if timestamp == t.segment {
            t.duration = t.duration.max(block.duration);
        }
        if block.end && timestamp == t.segment {
            self.end(&mut t);
        } else {
            self.stats.redundant += 1;
        }
        self.tracked[i] = t;
    }

    fn end(&mut self, t: &mut Tracked) {
        t.ended = true;
        self.events.push_back(ToneEvent::Ended {
            event: t.event,
            timestamp: t.timestamp,
            duration: t.total(),
            end_bit: true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Sent = (Vec<(u64, DtmfPacket)>, Vec<(u64, String)>);

    /// Runs `sender` on virtual time from `start` until idle, at its own
    /// timeouts; returns each packet with the ms it was sent at, and the
    /// tone changes with the ms they fired at, in ms since `t0`.
    fn run(sender: &mut DtmfSender, t0: Instant, start: Instant) -> Sent {
        let (mut packets, mut changes) = (Vec::new(), Vec::new());
        let mut now = start;
        while let Some(c) = sender.poll_event() {
            changes.push(((start - t0).as_millis() as u64, c.tone));
        }
        let mut guard = 0;
        while let Some(at) = sender.poll_timeout() {
            guard += 1;
            assert!(guard < 100_000, "the sender never goes idle");
            now = now.max(at);
            let ms = (now - t0).as_millis() as u64;
            while let Some(p) = sender.poll_packet(now) {
                packets.push((ms, p));
            }
            while let Some(c) = sender.poll_event() {
                changes.push((ms, c.tone));
            }
        }
        (packets, changes)
    }

    fn events(receiver: &mut DtmfReceiver) -> Vec<ToneEvent> {
        std::iter::from_fn(|| receiver.poll_event()).collect()
    }

    #[test]
    fn payload_bytes_follow_the_rfc_4733_figure() {
        // '5' (event 5), E=1, R=0, volume 10, duration 800 = 0x0320.
        let bytes = [0x05, 0b1000_1010, 0x03, 0x20];
        let e = TelephoneEvent::parse(&bytes).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 5,
                end: true,
                reserved: false,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.tone(), Some('5'));
        assert_eq!(e.to_bytes().unwrap(), bytes);
        // '#' (11), E=0, R=1, volume 63, duration 0xFFFF.
        let bytes = [0x0b, 0b0111_1111, 0xff, 0xff];
        let e = TelephoneEvent::parse(&bytes).unwrap();
        assert_eq!((e.event, e.end, e.reserved), (11, false, true));
        assert_eq!((e.volume, e.duration), (63, 0xffff));
        let mut buf = [0u8; 6];
        assert_eq!(e.write(&mut buf).unwrap(), 4);
        assert_eq!(buf[..4], bytes);
        // Trailing bytes are ignored.
        assert_eq!(
            TelephoneEvent::parse(&[0x0b, 0x7f, 0xff, 0xff, 9]).unwrap(),
            e
        );
    }

    #[test]
    fn payload_errors_say_what_was_wrong() {
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(EventParseError::TooShort { available: 3 })
        );
        assert_eq!(
            TelephoneEvent::parse(&[]),
            Err(EventParseError::TooShort { available: 0 })
        );
        let mut e = TelephoneEvent::parse(&[1, 0, 0, 0]).unwrap();
        assert_eq!(
            e.write(&mut [0u8; 3]),
            Err(EventWriteError::BufferTooSmall { available: 3 })
        );
        e.volume = 64;
        assert_eq!(e.to_bytes(), Err(EventWriteError::VolumeOutOfRange(64)));
        assert!(
            EventParseError::TooShort { available: 3 }
                .to_string()
                .contains("3 bytes")
        );
    }

    #[test]
    fn payload_round_trips_for_every_flag_combination() {
        for event in [0u8, 9, 11, 15, 16, 255] {
            for flags in 0..=255u8 {
                for duration in [0u16, 1, 400, 0xffff] {
                    let [d0, d1] = duration.to_be_bytes();
                    let bytes = [event, flags, d0, d1];
                    let e = TelephoneEvent::parse(&bytes).unwrap();
                    assert_eq!(e.to_bytes().unwrap(), bytes);
                }
            }
        }
    }

    #[test]
    fn tones_map_to_the_rfc_4733_event_codes() {
        let tones = "0123456789*#ABCD";
        for (code, tone) in tones.chars().enumerate() {
            assert_eq!(event_for_tone(tone), Some(code as u8));
            assert_eq!(tone_for_event(code as u8), Some(tone));
        }
        assert_eq!(event_for_tone('d'), Some(15));
        assert_eq!(event_for_tone(','), None);
        assert_eq!(event_for_tone('E'), None);
        assert_eq!(tone_for_event(16), None);
    }

    #[test]
    fn insert_dtmf_refuses_an_invalid_character_and_keeps_the_buffer() {
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), Instant::now());
        s.insert_dtmf("12", 100, 70).unwrap();
        assert_eq!(
            s.insert_dtmf("1a,E", 100, 70),
            Err(DtmfError::InvalidCharacterError {
                character: 'E',
                position: 3
            })
        );
        assert_eq!(
            s.insert_dtmf("1 2", 100, 70),
            Err(DtmfError::InvalidCharacterError {
                character: ' ',
                position: 1
            })
        );
        assert!(s.insert_dtmf("é", 100, 70).is_err());
        assert_eq!(s.tone_buffer(), "12");
        assert!(
            DtmfError::InvalidCharacterError {
                character: 'E',
                position: 3
            }
            .to_string()
            .starts_with("InvalidCharacterError")
        );
    }

    #[test]
    fn insert_dtmf_uppercases_and_clamps_duration_and_gap() {
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), Instant::now());
        s.insert_dtmf("abcd#*,0", 10, 0).unwrap();
        assert_eq!(s.tone_buffer(), "ABCD#*,0");
        assert_eq!((s.duration_ms(), s.inter_tone_gap_ms()), (40, 30));
        s.insert_dtmf("1", 7000, 9000).unwrap();
        assert_eq!((s.duration_ms(), s.inter_tone_gap_ms()), (6000, 6000));
        s.insert_dtmf("1", 40, 30).unwrap();
        assert_eq!((s.duration_ms(), s.inter_tone_gap_ms()), (40, 30));
        s.insert_dtmf("1", 6000, 31).unwrap();
        assert_eq!((s.duration_ms(), s.inter_tone_gap_ms()), (6000, 31));
    }

    #[test]
    fn a_clamped_duration_is_what_is_played() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), t0);
        s.insert_dtmf("1", 1, 1).unwrap();
        let (packets, changes) = run(&mut s, t0, t0);
        let end = packets.iter().find(|(_, p)| p.is_end).unwrap();
        assert_eq!((end.0, end.1.event.duration), (40, 320));
        // The buffer is done after 40 ms of tone and 30 ms of gap.
        assert_eq!(changes.last().unwrap(), &(70, String::new()));
    }

    #[test]
    fn insert_dtmf_needs_can_insert_dtmf() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), t0);
        s.set_can_insert_dtmf(false);
        assert!(!s.can_insert_dtmf());
        assert_eq!(
            s.insert_dtmf("1", 100, 70),
            Err(DtmfError::InvalidStateError)
        );
        assert_eq!(s.poll_timeout(), None);
        s.set_can_insert_dtmf(true);
        s.insert_dtmf("12", 100, 70).unwrap();
        assert!(s.poll_packet(t0).is_some());
        // The transceiver stops sending during '1': '1' still ends, '2'
        // never starts, no tonechange follows.
        s.set_can_insert_dtmf(false);
        let (packets, changes) = run(&mut s, t0, t0);
        assert_eq!(packets.iter().filter(|(_, p)| p.is_end).count(), 3);
        assert!(packets.iter().all(|(_, p)| p.event.event == 1));
        assert_eq!(changes, vec![(0, "1".to_string())]);
        assert_eq!(s.tone_buffer(), "2");
    }

    #[test]
    fn one_100_ms_tone_at_8_khz_is_the_rfc_4733_packet_sequence() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), t0);
        s.insert_dtmf("7", 100, 70).unwrap();
        let (packets, changes) = run(&mut s, t0, t0);
        let seen: Vec<(u64, bool, bool, u16, u32)> = packets
            .iter()
            .map(|(ms, p)| {
                (
                    *ms,
                    p.marker,
                    p.is_end,
                    p.event.duration,
                    p.timestamp_offset,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (0, true, false, 400, 0),
                (50, false, false, 400, 0),
                (100, false, true, 800, 0),
                (100, false, true, 800, 0),
                (100, false, true, 800, 0),
            ]
        );
        for (_, p) in &packets {
            assert_eq!(p.event.event, 7);
            assert_eq!(p.event.volume, 10);
            assert_eq!(p.payload, p.event.to_bytes().unwrap());
        }
        assert_eq!(packets[0].1.payload, [7, 10, 0x01, 0x90]);
        assert_eq!(packets[4].1.payload, [7, 0x80 | 10, 0x03, 0x20]);
        assert_eq!(changes, vec![(0, "7".to_string()), (170, String::new())]);
    }

    #[test]
    fn the_timestamp_is_the_tone_start_at_the_negotiated_rate() {
        let t0 = Instant::now();
        let config = DtmfSenderConfig {
            clock_rate: 48_000,
            update_interval: Duration::from_millis(20),
            ..DtmfSenderConfig::default()
        };
        let mut s = DtmfSender::new(config, t0);
        // Inserted 1 s after the epoch: the first tone starts at 48,000.
        let later = t0 + Duration::from_secs(1);
        s.insert_dtmf("12", 60, 40).unwrap();
        let (packets, _) = run(&mut s, t0, later);
        let first: Vec<_> = packets.iter().filter(|(_, p)| p.marker).collect();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].1.timestamp_offset, 48_000);
        // '2' starts 60 + 40 ms later.
        assert_eq!(first[1].1.timestamp_offset, 48_000 + 4_800);
        let ones: Vec<u16> = packets
            .iter()
            .filter(|(_, p)| p.event.event == 1)
            .map(|(_, p)| p.event.duration)
            .collect();
        // The first packet reports one update interval, never zero (§2.3.5).
        assert_eq!(ones, vec![960, 960, 1920, 2880, 2880, 2880]);
    }

    #[test]
    fn a_comma_pauses_two_seconds() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), t0);
        s.insert_dtmf("1,2", 100, 70).unwrap();
        let (packets, changes) = run(&mut s, t0, t0);
        assert_eq!(
            changes,
            vec![
                (0, "1".to_string()),
                (170, ",".to_string()),
                (2170, "2".to_string()),
                (2340, String::new()),
            ]
        );
        let starts: Vec<(u64, u32)> = packets
            .iter()
            .filter(|(_, p)| p.marker)
            .map(|(ms, p)| (*ms, p.timestamp_offset))
            .collect();
        assert_eq!(starts, vec![(0, 0), (2170, 2170 * 8)]);
        assert!(packets.iter().all(|(ms, _)| !(101..2170).contains(ms)));
    }

    #[test]
    fn a_new_insert_replaces_the_buffer_and_the_playing_tone_finishes() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), t0);
        s.insert_dtmf("123", 100, 70).unwrap();
        let ms = |m| t0 + Duration::from_millis(m);
        // The playout task queued by insert_dtmf runs at the first poll.
        assert!(s.poll_packet(t0).unwrap().marker);
        while s.poll_packet(ms(60)).is_some() {}
        assert_eq!(s.tone_buffer(), "23");
        s.insert_dtmf("9", 200, 50).unwrap();
        assert_eq!(s.tone_buffer(), "9");
        let (packets, changes) = run(&mut s, t0, ms(60));
        let tones: Vec<&str> = changes.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(tones, vec!["1", "9", ""]);
        // '1' keeps its 100 ms and 70 ms gap; '9' plays 200 ms.
        let ends: Vec<(u64, u8, u16)> = packets
            .iter()
            .filter(|(_, p)| p.is_end)
            .map(|(ms, p)| (*ms, p.event.event, p.event.duration))
            .collect();
        assert_eq!(ends[0], (100, 1, 800));
        assert_eq!(ends[3], (370, 9, 1600));
        assert_eq!(changes.last().unwrap(), &(420, String::new()));
        // An empty insert clears the buffer: the next task reports done.
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), t0);
        s.insert_dtmf("12", 100, 70).unwrap();
        while s.poll_packet(t0).is_some() {}
        s.insert_dtmf("", 100, 70).unwrap();
        assert_eq!(s.tone_buffer(), "");
        let (_, changes) = run(&mut s, t0, t0);
        assert_eq!(changes, vec![(0, "1".to_string()), (170, String::new())]);
    }

    #[test]
    fn a_tone_longer_than_0xffff_units_is_sent_in_segments() {
        let t0 = Instant::now();
        let config = DtmfSenderConfig {
            clock_rate: 48_000,
            ..DtmfSenderConfig::default()
        };
        let mut s = DtmfSender::new(config, t0);
        // 2 s at 48 kHz: 96,000 units.
        s.insert_dtmf("#", 2000, 70).unwrap();
        let (packets, _) = run(&mut s, t0, t0);
        assert!(packets.iter().all(|(_, p)| p.event.event == 11));
        assert_eq!(packets.iter().filter(|(_, p)| p.marker).count(), 1);
        assert!(packets[0].1.marker);
        let first: Vec<u16> = packets
            .iter()
            .filter(|(_, p)| p.timestamp_offset == 0)
            .map(|(_, p)| p.event.duration)
            .collect();
        // Updates every 2,400 units up to 64,800; the segment then ends at
        // 0xFFFF without the E bit.
        assert_eq!(first.len(), 29);
        assert_eq!(first[27], 64_800);
        assert_eq!(first[28], 0xffff);
        let second: Vec<&DtmfPacket> = packets
            .iter()
            .map(|(_, p)| p)
            .filter(|p| p.timestamp_offset == 0xffff)
            .collect();
        assert_eq!(second.first().unwrap().event.duration, 1665); // 67,200 - 65,535
        assert!(!second[0].marker);
        let ends: Vec<&&DtmfPacket> = second.iter().filter(|p| p.is_end).collect();
        assert_eq!(ends.len(), 3);
        assert!(
            ends.iter()
                .all(|p| p.event.duration == (96_000 - 0xffff) as u16)
        );
        assert!(
            packets
                .iter()
                .filter(|(_, p)| p.is_end)
                .all(|(_, p)| p.timestamp_offset == 0xffff)
        );
        // The receiver puts the segments back together.
        let mut r = DtmfReceiver::default();
        for (seq, (_, p)) in packets.iter().enumerate() {
            r.handle_packet(&p.payload, 5 + p.timestamp_offset, seq as u16, p.marker)
                .unwrap();
        }
        assert_eq!(
            events(&mut r),
            vec![
                ToneEvent::Started {
                    event: 11,
                    timestamp: 5
                },
                ToneEvent::Ended {
                    event: 11,
                    timestamp: 5,
                    duration: 96_000,
                    end_bit: true
                },
            ]
        );
    }

    #[test]
    fn a_late_poll_skips_stale_updates_but_not_the_first_or_end_packets() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), t0);
        s.insert_dtmf("1", 300, 70).unwrap();
        let mut late = Vec::new();
        assert_eq!(s.poll_timeout(), Some(t0));
        late.extend(s.poll_packet(t0).map(|p| (p.marker, p.event.duration)));
        while let Some(p) = s.poll_packet(t0 + Duration::from_millis(180)) {
            late.push((p.marker, p.event.duration));
        }
        assert_eq!(late, vec![(true, 400), (false, 1200)]);
    }

    #[test]
    fn tones_survive_a_lossy_path_and_are_reported_once_each_in_order() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(DtmfSenderConfig::default(), t0);
        s.insert_dtmf("1234#,9", 100, 70).unwrap();
        let (packets, changes) = run(&mut s, t0, t0);
        let tones: Vec<&str> = changes.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(tones, vec!["1", "2", "3", "4", "#", ",", "9", ""]);
        // Lose the first packet of '3' and one end packet of '#'.
        let mut dropped_first = false;
        let mut dropped_end = false;
        let base = 0xffff_f000u32; // the RTP timestamp wraps on the way
        let mut r = DtmfReceiver::default();
        for (seq, (_, p)) in packets.iter().enumerate() {
            if p.event.event == 3 && p.marker && !dropped_first {
                dropped_first = true;
                continue;
            }
            if p.event.event == 11 && p.is_end && !dropped_end {
                dropped_end = true;
                continue;
            }
            r.handle_packet(
                &p.payload,
                base.wrapping_add(p.timestamp_offset),
                seq as u16,
                p.marker,
            )
            .unwrap();
        }
        assert!(dropped_first && dropped_end);
        let got = events(&mut r);
        let started: Vec<char> = got
            .iter()
            .filter(|e| matches!(e, ToneEvent::Started { .. }))
            .filter_map(ToneEvent::tone)
            .collect();
        assert_eq!(started, vec!['1', '2', '3', '4', '#', '9']);
        let ended: Vec<(char, u32, bool)> = got
            .iter()
            .filter_map(|e| match *e {
                ToneEvent::Ended {
                    duration, end_bit, ..
                } => Some((e.tone().unwrap(), duration, end_bit)),
                ToneEvent::Started { .. } => None,
            })
            .collect();
        assert_eq!(
            ended,
            vec![
                ('1', 800, true),
                ('2', 800, true),
                ('3', 800, true),
                ('4', 800, true),
                ('#', 800, true),
                ('9', 800, true),
            ]
        );
        // Each start comes right before its end.
        for pair in got.chunks(2) {
            assert!(matches!(pair[0], ToneEvent::Started { .. }));
            assert_eq!(pair[0].event(), pair[1].event());
        }
        // The '9' starts 2 s after the ',' (which came 170 ms after '#').
        let ts: Vec<u32> = got
            .iter()
            .filter_map(|e| match *e {
                ToneEvent::Started { timestamp, .. } => Some(timestamp.wrapping_sub(base)),
                ToneEvent::Ended { .. } => None,
            })
            .collect();
        // '3' was first seen at its 50 ms update, with the same timestamp.
        assert_eq!(ts, vec![0, 1360, 2720, 4080, 5440, 5440 + 1360 + 16_000]);
        let stats = r.stats();
        assert_eq!(stats.packets, packets.len() as u64 - 2);
        assert_eq!(stats.stale, 0);
    }

    #[test]
    fn reordered_packets_are_matched_to_their_event() {
        let end = |d: u16| TelephoneEvent {
            event: 4,
            end: true,
            reserved: false,
            volume: 10,
            duration: d,
        };
        let update = |d: u16| TelephoneEvent {
            end: false,
            ..end(d)
        };
        let mut r = DtmfReceiver::default();
        // The end packet first, then the update and the first packet.
        r.handle_packet(&end(800).to_bytes().unwrap(), 100, 3, false)
            .unwrap();
        r.handle_packet(&update(400).to_bytes().unwrap(), 100, 2, false)
            .unwrap();
        r.handle_packet(&update(0).to_bytes().unwrap(), 100, 1, true)
            .unwrap();
        r.handle_packet(&end(800).to_bytes().unwrap(), 100, 4, false)
            .unwrap();
        assert_eq!(
            events(&mut r),
            vec![
                ToneEvent::Started {
                    event: 4,
                    timestamp: 100
                },
                ToneEvent::Ended {
                    event: 4,
                    timestamp: 100,
                    duration: 800,
                    end_bit: true
                },
            ]
        );
        assert_eq!(r.stats().redundant, 3);
        // Every end packet of the next event lost: the one after ends it.
        let next = |e: u8, d: u16| TelephoneEvent {
            event: e,
            ..update(d)
        };
        r.handle_packet(&next(5, 0).to_bytes().unwrap(), 2000, 5, true)
            .unwrap();
        r.handle_packet(&next(5, 400).to_bytes().unwrap(), 2000, 6, false)
            .unwrap();
        r.handle_packet(&next(6, 0).to_bytes().unwrap(), 4000, 10, true)
            .unwrap();
        // A late update of the first event changes nothing.
        r.handle_packet(&update(400).to_bytes().unwrap(), 100, 2, false)
            .unwrap();
        assert_eq!(
            events(&mut r),
            vec![
                ToneEvent::Started {
                    event: 5,
                    timestamp: 2000
                },
                ToneEvent::Ended {
                    event: 5,
                    timestamp: 2000,
                    duration: 400,
                    end_bit: false
                },
                ToneEvent::Started {
                    event: 6,
                    timestamp: 4000
                },
            ]
        );
        r.end_all();
        assert_eq!(
            events(&mut r),
            vec![ToneEvent::Ended {
                event: 6,
                timestamp: 4000,
                duration: 0,
                end_bit: false
            }]
        );
        // A payload too short is refused and counted nowhere.
        assert!(r.handle_packet(&[1, 2], 9000, 11, true).is_err());
        assert_eq!(events(&mut r), vec![]);
    }

    #[test]
    fn the_receiver_remembers_at_most_max_events_and_ignores_older_packets() {
        let mut r = DtmfReceiver::new(DtmfReceiverConfig { max_events: 4 });
        let block = |e: u8, end: bool| {
            TelephoneEvent {
                event: e,
                end,
                reserved: false,
                volume: 10,
                duration: 800,
            }
            .to_bytes()
            .unwrap()
        };
        for i in 0..1000u32 {
            let ts = i.wrapping_mul(2000).wrapping_add(0xffff_0000);
            r.handle_packet(&block((i % 16) as u8, true), ts, i as u16, true)
                .unwrap();
            assert!(r.remembered() <= 4);
        }
        assert_eq!(events(&mut r).len(), 2000);
        // A repeated end packet of a forgotten event is not a new tone.
        let old = 10u32.wrapping_mul(2000).wrapping_add(0xffff_0000);
        r.handle_packet(&block(10, true), old, 7, false).unwrap();
        assert_eq!(events(&mut r), vec![]);
        assert_eq!(r.stats().stale, 1);
        // One still remembered is deduplicated.
        let recent = 999u32.wrapping_mul(2000).wrapping_add(0xffff_0000);
        r.handle_packet(&block(7, true), recent, 1, false).unwrap();
        assert_eq!(events(&mut r), vec![]);
    }

    /// RFC 4733 §2.5.1.3: a new segment of a long event starts exactly
    /// 0xFFFF units after the previous one. The same digit pressed again
    /// 170 ms later is a new event (its own timestamp, §2.5.1.2) even when
    /// the first press's end packets and the second's first packet were
    /// lost: it is reported as a second tone, not merged into the first.
    #[test]
    fn the_same_digit_again_is_a_new_event_when_its_first_packet_is_lost() {
        let block = |d: u16, end: bool| {
            TelephoneEvent {
                event: 1,
                end,
                reserved: false,
                volume: 10,
                duration: d,
            }
            .to_bytes()
            .unwrap()
        };
        let mut r = DtmfReceiver::default();
        // '1' at 0 (8000 Hz): its first packet and one update; its three
        // end packets are lost.
        r.handle_packet(&block(400, false), 0, 1, true).unwrap();
        r.handle_packet(&block(800, false), 0, 2, false).unwrap();
        // '1' again at 1360 (100 ms tone, 70 ms gap): the marker packet
        // is lost, then an update and the end packets arrive.
        r.handle_packet(&block(400, false), 1360, 7, false).unwrap();
        for seq in 8..11 {
            r.handle_packet(&block(800, true), 1360, seq, false)
                .unwrap();
        }
        let got = events(&mut r);
        let started: Vec<u32> = got
            .iter()
            .filter_map(|e| match *e {
                ToneEvent::Started { timestamp, .. } => Some(timestamp),
                ToneEvent::Ended { .. } => None,
            })
            .collect();
        assert_eq!(started, vec![0, 1360], "{got:?}");
        assert!(got.contains(&ToneEvent::Ended {
            event: 1,
            timestamp: 1360,
            duration: 800,
            end_bit: true
        }));
    }

    /// libwebrtc segments a long event at the audio frame where the
    /// duration first exceeds 0xFFFF: duration 0xFFFF on the old segment,
    /// then a new segment at that frame's timestamp (old + 66,240 at 48 kHz
    /// with 20 ms frames), not at old + 0xFFFF (RFC 4733 §2.5.1.3). A 2 s
    /// '#' from such a sender is one tone, not two.
    #[test]
    fn a_long_event_segmented_at_the_next_audio_frame_is_one_tone() {
        let block = |d: u32, end: bool| {
            TelephoneEvent {
                event: 11,
                end,
                reserved: false,
                volume: 10,
                duration: d as u16,
            }
            .to_bytes()
            .unwrap()
        };
        let mut r = DtmfReceiver::default();
        let (ts0, frame, length) = (1_000u32, 960u32, 96_000u32);
        let mut seg = ts0;
        let mut seq = 0u16;
        let mut first = true;
        let mut at = ts0 + frame;
        loop {
            let mut d = at - seg;
            let ended = at - ts0 >= length;
            if d > 0xffff {
                r.handle_packet(&block(0xffff, false), seg, seq, false)
                    .unwrap();
                seq += 1;
                seg = at;
                d -= 0xffff;
            }
            for _ in 0..if ended { 3 } else { 1 } {
                r.handle_packet(&block(d, ended), seg, seq, first).unwrap();
                seq += 1;
            }
            first = false;
            if ended {
                break;
            }
            at += frame;
        }
        let got = events(&mut r);
        let started = got
            .iter()
            .filter(|e| matches!(e, ToneEvent::Started { .. }))
            .count();
        assert_eq!(started, 1, "one 2 s tone reported as {got:?}");
    }

    #[test]
    fn after_a_long_silence_a_new_event_is_never_taken_for_a_stale_one() {
        let mut r = DtmfReceiver::new(DtmfReceiverConfig { max_events: 1 });
        let block = |e: u8| {
            TelephoneEvent {
                event: e,
                end: true,
                reserved: false,
                volume: 10,
                duration: 800,
            }
            .to_bytes()
            .unwrap()
        };
        r.handle_packet(&block(1), 1_000, 1, true).unwrap();
        r.handle_packet(&block(2), 3_000, 2, true).unwrap();
        // '1' is forgotten: its late end packet is stale.
        r.handle_packet(&block(1), 1_000, 3, false).unwrap();
        assert_eq!(r.stats().stale, 1);
        // 24 hours at 48 kHz later the timestamp sits "behind" the horizon.
        let later = 3_000u32.wrapping_add(48_000 * 3600 * 24);
        assert!(!ts_after(later, 3_000));
        r.handle_packet(&block(3), later, 4, true).unwrap();
        let got: Vec<char> = events(&mut r).iter().filter_map(ToneEvent::tone).collect();
        assert_eq!(got, vec!['1', '1', '2', '2', '3', '3']);
        assert_eq!(r.stats().stale, 1);
    }

    #[test]
    fn the_receiver_never_panics_on_arbitrary_packets_and_stays_bounded() {
        let mut r = DtmfReceiver::default();
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 32) as u32
        };
        for _ in 0..20_000 {
            let len = (next() % 7) as usize;
            let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let ts = next() % 100_000;
            let _ = TelephoneEvent::parse(&payload);
            let _ = r.handle_packet(&payload, ts, next() as u16, next() % 2 == 0);
            assert!(r.remembered() <= 16);
            while r.poll_event().is_some() {}
        }
    }
}
