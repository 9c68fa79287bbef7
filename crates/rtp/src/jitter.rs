//! A jitter buffer and frame assembler: packets in by sequence number (with
//! 16-bit wrap handling), whole frames out in order; it waits a bounded time
//! for missing packets, then gives the gap up and reports it.
//!
//! The first frame is held [`JitterConfig::start_delay`] after the first
//! packet arrives, so packets that were overtaken by it can still join it;
//! after that, packets older than what was released count as late.
//!
//! A target delay ([`JitterBuffer::set_target_delay`], W3C
//! `jitterBufferTarget`) holds every complete frame until that long after
//! its first packet arrived, smoothing the release of frames whose packets
//! arrive unevenly; a full buffer still releases at once.
//!
//! Once settled (the first frame out, or a gap given up), a frame whose
//! packets arrive in order is
//! depacketized as they arrive, straight from each packet's payload into
//! the frame (one copy, no buffer per packet); a packet that arrives out
//! of order, or behind a frame still held, is copied and waits as before.
//!
//! A packet far from the stream's numbers (more than 100 ahead of the
//! highest received, or more than 3,000 behind it) is not believed on its
//! own (RFC 3550 A.1 `update_seq`): it is held aside, and taken when a
//! packet near it comes (within 32 either way: the packet after it, or
//! the stream reordered after a loss burst), however many packets of the
//! stream came in between (A.1 keeps `bad_seq`); then a jump ahead of
//! at most 3,000 is an ordinary gap (a loss burst, waited on as any), and
//! a larger jump, either way, a sender that restarted its numbers: what
//! was held of the old numbering is given up and the stream goes on at
//! once from the lower of the two packets (its first ones may come
//! reordered). For a second after a restart, a far packet within 3,000
//! behind or 100 ahead of the old numbering's highest is a late packet of
//! it and refused as late, not held aside: two of them in order would
//! otherwise switch the stream back for a moment; after that second, a
//! sender going back to its old numbering is followed as any restart.
//! A packet held aside is dropped when another far packet takes its place,
//! or once the stream moved on without it (a packet of the stream more
//! than `max_wait` after it, or 32 of them), so a stray packet never takes
//! the place of the packet of its number nor moves the stream ahead. For
//! video, a lone far packet after the stream was silent a whole wait, and
//! followed by nothing for another, asks for a keyframe from the timer
//! (the stream back after an outage, its frames lost; RFC 4585 §6.3.1).
//!
//! A retransmission the caller knows as such (unwrapped from RTX, RFC 4588;
//! [`JitterBuffer::insert_retransmission`]) is late by nature: it is never
//! held aside nor taken for a restart; within 3,000 behind the highest
//! received or 100 ahead of it, it is taken as any packet of the stream
//! (and one before a packet held aside after a loss burst confirms that
//! packet), further it is late.
//!
//! Drive order, as every ferrtc engine: after [`JitterBuffer::insert`] or
//! [`JitterBuffer::handle_timeout`], call [`JitterBuffer::poll_event`] until
//! `None`, then [`JitterBuffer::poll_timeout`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::codec::Depacketizer;
use crate::packet::RtpPacket;
use crate::seq::{self, LeftNumberings, SeqUnwrapper};
use crate::seqmap::SeqMap;

/// Limits and behaviour of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// The most packets held; beyond it the oldest gap is given up at once.
    pub capacity: usize,
    /// How long a missing packet is waited for (reorder tolerance plus time
    /// for a retransmission) before the frames it breaks are given up.
    pub max_wait: Duration,
    /// Every packet is a frame (audio) rather than frames ending with the
    /// marker bit (video).
    pub packet_is_frame: bool,
    /// After frames are given up, drop frames until a keyframe (a video
    /// decoder cannot continue from a broken reference).
    pub wait_for_keyframe: bool,
    /// How long the first frame is held, so that packets sent before the
    /// first one received but overtaken by it can still join.
    pub start_delay: Duration,
}

impl JitterConfig {
    /// Defaults for video: 2,000 packets, 500 ms, frames end at the marker,
    /// a keyframe needed first and after a loss, the first frame held 50 ms.
    pub const VIDEO: Self = Self {
        capacity: 2000,
        max_wait: Duration::from_millis(500),
        packet_is_frame: false,
        wait_for_keyframe: true,
        start_delay: Duration::from_millis(50),
    };
    /// Defaults for audio: 500 packets, 100 ms, one packet per frame, the
    /// first held 20 ms.
    pub const AUDIO: Self = Self {
        capacity: 500,
        max_wait: Duration::from_millis(100),
        packet_is_frame: true,
        wait_for_keyframe: false,
        start_delay: Duration::from_millis(20),
    };
}

/// An assembled frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The RTP timestamp of its packets.
    pub timestamp: u32,
    /// The sequence number of its first packet.
    pub first_sequence: u16,
    /// The sequence number of its last packet.
    pub last_sequence: u16,
    /// Whether it is a keyframe, as the codec tells from its first packet.
    pub keyframe: bool,
    /// The encoded frame, as the depacketizer writes it.
    pub data: Vec<u8>,
    /// When its last packet arrived.
    pub received: Instant,
    /// When its first packet to arrive did (the start of its time in the
    /// buffer, W3C `jitterBufferDelay`).
    pub first_received: Instant,
}

/// What the jitter buffer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JitterEvent {
    /// A complete frame, in order.
    Frame(Frame),
    /// Sequence numbers given up: never received, or received in a frame
    /// that could not be completed or decoded. Inclusive range.
    Dropped {
        /// The first sequence number given up.
        first: u16,
        /// The last sequence number given up.
        last: u16,
    },
    /// Frames were lost; the decoder needs a keyframe (send PLI or FIR).
    KeyframeNeeded,
}

/// What happened to an inserted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored.
    Stored,
    /// Already held.
    Duplicate,
    /// Older than what was already released or given up; a
    /// retransmission outside the stream's numbers (see
    /// [`JitterBuffer::insert_retransmission`]); or, within a second of a
    /// restart of the sender's numbers, a packet of the numbering it left.
    Late,
    /// Held aside: far from the stream's numbers, so not believed alone
    /// (RFC 3550 A.1). Taken, and the stream followed there, when a packet
    /// near it (within 32 either way) comes before the stream moves on
    /// without it; dropped otherwise.
    Suspect,
}

#[derive(Debug)]
struct Stored {
    timestamp: u32,
    marker: bool,
    /// The payload; empty when its media is already in the frame being
    /// built (see [`Building`]), when it is skipped, or when it was empty.
    payload: Vec<u8>,
    arrival: Instant,
    /// A sequence number of the stream that carries no media (see
    /// [`JitterBuffer::skip`]): released as nothing.
    skip: bool,
}

/// The most a frame being built reserves before its size is known.
const MAX_FRAME_GUESS: usize = 256 * 1024;

/// How far ahead of the highest number received a packet may be and be
/// taken as the stream's: beyond the loss bursts a stream recovers from,
/// a jump is believed only on the packet after it (RFC 3550 A.1). Nearer
/// than the statistics' 3,000 and the NACK generator's `max_missing`:
/// the buffer waits on every gap it believes, so a stray believed ahead
/// would hold up playout (see [`seq::MAX_DROPOUT`]). Where late packets
/// of a numbering left are looked for too ([`seq::IN_FLIGHT`]).
const STRAY_DISTANCE: i16 = seq::IN_FLIGHT as i16;

/// RFC 3550 A.1 `MAX_DROPOUT`: a believed jump ahead beyond it, or one
/// behind beyond it, is a sender that restarted its numbers, not a gap
/// to wait on. Behind, packets within it are late or reordered (a late
/// retransmission), never a restart.
const MAX_DROPOUT: i16 = seq::MAX_DROPOUT as i16;

/// How near a held-aside packet the next one must be (either way) for
/// both to be believed the stream's: reordering after a loss burst, not
/// the distance between two unrelated strays.
const SUSPECT_COMPANION: u16 = 32;

/// How many packets of the stream, none near it, a held-aside packet
/// outlasts: a stream back reordered after a loss burst brings a packet
/// near it among its first few (late packets of before the burst may come
/// in between), while a stream going on in order under a stray more than
/// [`STRAY_DISTANCE`] ahead needs more than twice as many packets to come
/// near it, so it never finds the stray in its way.
const SUSPECT_PATIENCE: u16 = 32;

/// Where a packet falls against the stream's numbers (RFC 3550 A.1
/// `update_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Within [`STRAY_DISTANCE`] ahead or [`MAX_DROPOUT`] behind the
    /// highest received: the stream's.
    Near,
    /// Further ahead, within [`MAX_DROPOUT`]: a loss burst, if believed.
    Ahead,
    /// Further either way: a restart of the numbers, if believed.
    Jump,
}

impl Reach {
    /// The reach of a packet `step` numbers from the highest received.
    fn of(step: i16) -> Self {
        if (-MAX_DROPOUT..=STRAY_DISTANCE).contains(&step) {
            Self::Near
        } else if (1..=MAX_DROPOUT).contains(&step) {
            Self::Ahead
        } else {
            Self::Jump
        }
    }
}

/// A packet far from the stream, held aside until the next packet shows
/// whether it is the stream's (RFC 3550 A.1 `bad_seq`). One at most; the
/// storage of its payload is kept for the next (bounded by a packet).
#[derive(Debug, Default)]
struct Suspect {
    packet: Option<SuspectPacket>,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct SuspectPacket {
    sequence: u16,
    timestamp: u32,
    marker: bool,
    /// A skipped number (see [`JitterBuffer::skip`]): no payload.
    skip: bool,
    arrival: Instant,
    /// Packets of the stream (not near it) received since it came.
    passed: u16,
}

/// The frame at the next sequence number to release, depacketized as its
/// packets arrived in order. Its packets stay in the map (for duplicates,
/// gaps, capacity and release times) with empty payloads.
#[derive(Debug)]
struct Building {
    /// The first and last sequence numbers depacketized into `data`; the
    /// first is always the buffer's next to release.
    first: u64,
    last: u64,
    timestamp: u32,
    /// The last packet ends the frame (marker, or a packet per frame).
    ended: bool,
    /// What the codec tells of the first packet: a keyframe, a frame
    /// start, a frame start even after a loss.
    keyframe: bool,
    start: bool,
    start_after_loss: bool,
    /// A payload did not depacketize: the frame is given up at release.
    failed: bool,
    data: Vec<u8>,
}

/// The jitter buffer and frame assembler of one RTP stream.
pub struct JitterBuffer {
    config: JitterConfig,
    depacketizer: Box<dyn Depacketizer + Send>,
    packets: SeqMap<Stored>,
    seq: SeqUnwrapper,
    next: Option<u64>,
    settled: bool,
    /// The packets before `next` were given up (or, at the start, unseen).
    after_gap: bool,
    first_arrival: Option<Instant>,
    /// When the last packet taken as the stream's arrived.
    last_arrival: Option<Instant>,
    /// A packet far from the stream, not believed yet.
    suspect: Suspect,
    /// The numberings left at the latest restarts, whose late packets
    /// are not a restart back.
    left: LeftNumberings,
    /// When the packet that last moved the stream on arrived: the last
    /// packet of the latest frame (or skipped number) released.
    released_at: Option<Instant>,
    /// How long a complete frame is held after its first packet arrived.
    target_delay: Duration,
    need_keyframe: bool,
    keyframe_requested: bool,
    events: VecDeque<JitterEvent>,
    /// The frame being depacketized as its packets arrive.
    building: Option<Building>,
    /// The size of the last frame assembled: the first guess at the size
    /// of the next one built.
    last_frame_len: usize,
    /// Tests compare against a buffer that builds no frame as packets
    /// arrive (every payload stored, as before building existed).
    #[cfg(test)]
    build_off: bool,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("config", &self.config)
            .field("packets", &self.packets.len())
            .field("next", &self.next)
            .finish()
    }
}

enum Assembly {
    /// The frame spans `first..=last`.
    Complete(u64),
    /// A packet of the frame is missing.
    Incomplete,
}

impl JitterBuffer {
    /// A buffer assembling frames with `depacketizer`.
    pub fn new(config: JitterConfig, depacketizer: Box<dyn Depacketizer + Send>) -> Self {
        Self {
            config,
            depacketizer,
            packets: SeqMap::default(),
            seq: SeqUnwrapper::default(),
            next: None,
            settled: false,
            after_gap: true,
            first_arrival: None,
            last_arrival: None,
            suspect: Suspect::default(),
            left: LeftNumberings::default(),
            released_at: None,
            target_delay: Duration::ZERO,
            need_keyframe: config.wait_for_keyframe,
            keyframe_requested: false,
            events: VecDeque::new(),
            building: None,
            last_frame_len: 0,
            #[cfg(test)]
            build_off: false,
        }
    }

    /// Adds a received packet and releases what it completes.
    ///
    /// A packet without payload (padding only, RFC 3550 §5.1: what a
    /// sender without RTX probes bandwidth with on the media stream) is
    /// taken as [`Self::skip`] takes a number: received, carrying no media.
    pub fn insert(&mut self, now: Instant, packet: &RtpPacket<'_>) -> Inserted {
        self.store(
            now,
            packet.sequence_number,
            packet.timestamp,
            packet.marker,
            media(packet.payload),
            false,
        )
    }

    /// Adds a packet known to be a retransmission (the original packet
    /// unwrapped from RTX, RFC 4588 §4) and releases what it completes.
    ///
    /// A retransmission comes late by nature (a round trip after the loss
    /// at least), so it is judged only against the stream's numbers: within
    /// 3,000 (RFC 3550 A.1 `MAX_DROPOUT`) behind the highest received, or
    /// 100 ahead of it, it is taken as [`Self::insert`] takes a packet of
    /// the stream (stored, or [`Inserted::Late`] behind what was released);
    /// further it is [`Inserted::Late`] (an answer for the numbers before
    /// a restart, say), unless it comes before a packet held aside after
    /// a loss burst, which it then confirms. It is never held aside, never
    /// drops a packet held aside, and never restarts the stream: two late
    /// retransmissions near each other are not a sender that restarted
    /// its numbers.
    pub fn insert_retransmission(&mut self, now: Instant, packet: &RtpPacket<'_>) -> Inserted {
        self.store(
            now,
            packet.sequence_number,
            packet.timestamp,
            packet.marker,
            media(packet.payload),
            true,
        )
    }

    /// Marks `sequence` as received but carrying no media of this stream:
    /// a packet of another payload format that shares the stream's SSRC and
    /// sequence numbers, such as an RFC 4733 telephone event (§2.1). The
    /// buffer does not wait for it as a gap; it releases no frame for it
    /// and releases the frames it was holding behind it.
    pub fn skip(&mut self, now: Instant, sequence: u16, timestamp: u32) -> Inserted {
        self.store(now, sequence, timestamp, false, None, false)
    }

    /// Takes a packet with `payload`, or a skipped sequence number
    /// (`None`), as the stream's, or holds it aside when it is far from
    /// the stream's numbers. RFC 3550 A.1 `update_seq`: a large jump is
    /// believed when a packet near it comes (`bad_seq`), which packets of
    /// the stream in between do not forget; the held packet is dropped
    /// once the stream has clearly moved on without it (see
    /// [`Self::stream_moved_on`]) or another far packet takes its place.
    /// A `retransmission` is never held aside (see
    /// [`Self::insert_retransmission`]).
    fn store(
        &mut self,
        now: Instant,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: Option<&[u8]>,
        retransmission: bool,
    ) -> Inserted {
        let Some(step) = self.seq.step(sequence) else {
            return self.accept(now, sequence, timestamp, marker, payload);
        };
        if retransmission {
            // An answer for a number before the packet held aside after a
            // loss burst: the sender's numbers reached it, it is the
            // stream's.
            let reached = Reach::of(step) == Reach::Ahead
                && self.suspect.packet.is_some_and(|s| {
                    let behind = s.sequence.wrapping_sub(sequence) as i16;
                    (0..=MAX_DROPOUT).contains(&behind)
                        && self.seq.step(s.sequence).map(Reach::of) == Some(Reach::Ahead)
                });
            if reached {
                self.believe_suspect(now, sequence);
            } else if Reach::of(step) != Reach::Near {
                // Only what the stream's numbers reach (a late answer of
                // the numbering before a restart may be far ahead of it).
                return Inserted::Late;
            }
            return self.accept(now, sequence, timestamp, marker, payload);
        }
        let near = Reach::of(step) == Reach::Near;
        if !near && self.left.late(now, sequence, step) {
            // RFC 3550 A.1: a late packet of the numbering the sender
            // left just before: not a restart back to it.
            return Inserted::Late;
        }
        match self.suspect.packet {
            Some(s) if Self::companions(s.sequence, sequence) => {
                self.believe_suspect(now, sequence)
            }
            Some(s) if !near && s.sequence == sequence => return Inserted::Duplicate,
            Some(_) if near => self.stream_moved_on(now, sequence),
            _ if !near => {
                self.hold_suspect(now, sequence, timestamp, marker, payload);
                return Inserted::Suspect;
            }
            _ => {}
        }
        self.accept(now, sequence, timestamp, marker, payload)
    }

    /// A packet of the stream, not near the one held aside, came: the
    /// held packet is dropped when this packet has its number (the stream
    /// reached it: the real one takes its place), when it came more than
    /// [`JitterConfig::max_wait`] after the held one, or when it is the
    /// [`SUSPECT_PATIENCE`]th such packet. The stream then went on without
    /// the held packet: a stray, which the stream must not find in place
    /// of the packet of its number when it gets near it (the time bounds
    /// that at low packet rates, the count at high ones). Until then a
    /// packet near it still shows it is the stream's (RFC 3550 A.1 keeps
    /// `bad_seq` across the packets of the stream).
    fn stream_moved_on(&mut self, now: Instant, sequence: u16) {
        let max_wait = self.config.max_wait;
        let Some(s) = self.suspect.packet.as_mut() else {
            return;
        };
        s.passed = s.passed.saturating_add(1);
        if s.sequence == sequence || now > s.arrival + max_wait || s.passed >= SUSPECT_PATIENCE {
            self.suspect.packet = None;
        }
    }

    /// Whether `sequence` is near the held-aside `suspect`, as the stream's
    /// next packets are (RFC 3550 A.1 asks for the packet after it; the
    /// packets after a loss burst may also come reordered, a few apart),
    /// and two strays almost never are.
    fn companions(suspect: u16, sequence: u16) -> bool {
        let apart = sequence.wrapping_sub(suspect) as i16;
        apart != 0 && apart.unsigned_abs() <= SUSPECT_COMPANION
    }

    /// Holds a far packet aside, in place of any held before.
    fn hold_suspect(
        &mut self,
        now: Instant,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: Option<&[u8]>,
    ) {
        self.suspect.payload.clear();
        self.suspect
            .payload
            .extend_from_slice(payload.unwrap_or_default());
        self.suspect.packet = Some(SuspectPacket {
            sequence,
            timestamp,
            marker,
            skip: payload.is_none(),
            arrival: now,
            passed: 0,
        });
    }

    /// `companion`, near the packet held aside, came: the stream is there
    /// (restarted, or after a loss burst). Takes the held packet; the
    /// caller then takes `companion`. Where the held packet stands
    /// against the stream is judged now: the stream may have moved on
    /// since it came. A restart starts at the lower of the two (RFC 3550
    /// A.1 `init_seq`): its first packets may come reordered, and the
    /// companion behind the held one is the stream's as much.
    fn believe_suspect(&mut self, now: Instant, companion: u16) {
        let Some(s) = self.suspect.packet.take() else {
            return;
        };
        if self.seq.step(s.sequence).map(Reach::of) == Some(Reach::Jump) {
            let behind = (companion.wrapping_sub(s.sequence) as i16) < 0;
            self.restart(now, if behind { companion } else { s.sequence });
        }
        let payload = std::mem::take(&mut self.suspect.payload);
        let media = (!s.skip).then_some(payload.as_slice());
        self.accept(s.arrival, s.sequence, s.timestamp, s.marker, media);
        self.suspect.payload = payload;
    }

    /// The sender restarted its numbers (RFC 3550 A.1 `init_seq`): what
    /// was held or awaited of the old numbering is given up (reported as
    /// dropped; for video, a keyframe is needed), and the stream goes on
    /// from `sequence`, numbered above everything before it. Late packets
    /// of the old numbering are late for a second from `now` (see
    /// `LeftNumberings`).
    fn restart(&mut self, now: Instant, sequence: u16) {
        if let (Some(next), Some(high)) = (self.next, self.seq.highest())
            && next <= high
        {
            self.drop_range(next, high);
        }
        if let Some(high) = self.seq.highest() {
            self.left.restarted(now, high as u16);
        }
        self.packets.clear();
        self.building = None;
        self.next = Some(self.seq.restart_at(sequence));
        self.after_gap = true;
    }

    /// Stores a packet of the stream with `payload`, or a skipped sequence
    /// number (`None`). A new packet that continues the frame at the next
    /// sequence number to release is depacketized into it at once (see
    /// [`Self::build`]); any other is copied (a fresh allocation: the
    /// allocator's recently freed memory is warm in the cache, a buffer
    /// kept per stream is not).
    fn accept(
        &mut self,
        now: Instant,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: Option<&[u8]>,
    ) -> Inserted {
        let ext = self.seq.unwrap(sequence);
        self.first_arrival.get_or_insert(now);
        self.last_arrival = Some(now);
        match self.next {
            Some(n) if ext < n && self.settled => return Inserted::Late,
            Some(n) if ext >= n => {}
            _ => self.next = Some(ext),
        }
        if self.packets.contains(ext) {
            return Inserted::Duplicate;
        }
        let payload_held = match payload {
            Some(p) if self.build(ext, timestamp, marker, p) => Vec::new(),
            Some(p) => p.to_vec(),
            None => Vec::new(),
        };
        let stored = Stored {
            timestamp,
            marker,
            payload: payload_held,
            arrival: now,
            skip: payload.is_none(),
        };
        self.packets.insert(ext, stored);
        self.drain(now);
        Inserted::Stored
    }

    /// Depacketizes the new packet `ext` into the frame being built, or
    /// starts building one with it, when it is the next packet of that
    /// frame (or the next to release, and a frame start that would be
    /// released). `false`: the packet is to be stored as is.
    ///
    /// Only once settled (the next to release no longer moves back), so
    /// the frame being built is always the one at `next`: nothing else is
    /// released or depacketized while it is built, and whatever frees its
    /// packets (its release, or giving it up) ends it.
    fn build(&mut self, ext: u64, timestamp: u32, marker: bool, payload: &[u8]) -> bool {
        #[cfg(test)]
        if self.build_off {
            return false;
        }
        if !self.settled {
            return false;
        }
        let ended = self.config.packet_is_frame || marker;
        if let Some(b) = self.building.as_mut() {
            // Within a frame, packets share the timestamp (RFC 3550 §5.1)
            // and the marker ends it.
            if b.ended || ext != b.last + 1 || timestamp != b.timestamp {
                return false;
            }
            if !b.failed && self.depacketizer.depacketize(payload, &mut b.data).is_err() {
                b.failed = true;
            }
            b.last = ext;
            b.ended = ended;
            return true;
        }
        if Some(ext) != self.next {
            return false;
        }
        let keyframe = self.depacketizer.is_keyframe(payload);
        let start = self.depacketizer.is_frame_start(payload);
        let start_after_loss = self.depacketizer.is_frame_start_after_loss(payload);
        let starts = if self.after_gap {
            start_after_loss
        } else {
            start
        };
        if !starts || (self.need_keyframe && !keyframe) {
            // Given up at release: depacketize nothing of it.
            return false;
        }
        // A frame of one packet is about its payload's size; a longer one
        // is guessed at the last frame's size and a little more (at most
        // `MAX_FRAME_GUESS`: one huge frame does not make every next one
        // reserve as much).
        let guess = if ended {
            payload.len()
        } else {
            let last = self.last_frame_len;
            (last + last / 8).min(MAX_FRAME_GUESS).max(payload.len())
        };
        let mut data = Vec::with_capacity(guess);
        let failed = self.depacketizer.depacketize(payload, &mut data).is_err();
        self.building = Some(Building {
            first: ext,
            last: ext,
            timestamp,
            ended,
            keyframe,
            start,
            start_after_loss,
            failed,
            data,
        });
        true
    }

    /// Holds every complete frame until `delay` after its first packet
    /// arrived (zero, the default, releases frames as soon as they are
    /// complete). Frames already complete are held by the new delay too;
    /// call [`Self::handle_timeout`] and [`Self::poll_timeout`] after.
    pub fn set_target_delay(&mut self, delay: Duration) {
        self.target_delay = delay;
    }

    /// The delay of [`Self::set_target_delay`].
    pub fn target_delay(&self) -> Duration {
        self.target_delay
    }

    /// Gives up gaps that waited [`JitterConfig::max_wait`], releases
    /// the frames whose hold ended, and asks for a keyframe for a lone far
    /// packet after a silence (RFC 4585 §6.3.1: a PLI from the timer).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.suspect_deadline().is_some_and(|t| t <= now) {
            self.keyframe_requested = true;
            self.events.push_back(JitterEvent::KeyframeNeeded);
        }
        self.drain(now);
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let buffered = self.next.and_then(|next| {
            if let Assembly::Complete(last) = self.assemble(next)
                && let Some(release) = self.release_at(next, last)
            {
                return Some(release);
            }
            self.gap_deadline(next)
        });
        buffered.into_iter().chain(self.suspect_deadline()).min()
    }

    /// When the packet held aside asks for a keyframe (video): it came
    /// after the stream was silent a whole [`JitterConfig::max_wait`], and
    /// nothing of the stream came for as long after it. Most likely the
    /// stream is back after an outage, its frames lost, and the sender
    /// paused again: waiting for its next packet to believe the jump would
    /// hold the request back as long (RFC 4585 §6.3.1). The stream is not
    /// moved to it: it may still be a stray.
    fn suspect_deadline(&self) -> Option<Instant> {
        let s = self.suspect.packet.as_ref()?;
        if !self.config.wait_for_keyframe || self.keyframe_requested {
            return None;
        }
        let wait = self.config.max_wait;
        let silent = self.last_arrival.is_none_or(|t| t + wait <= s.arrival);
        silent.then_some(s.arrival + wait)
    }

    /// When what waits at `next` (a gap, or a frame not complete) is given
    /// up: [`JitterConfig::max_wait`] after the packet there arrived; for
    /// a gap, after the first one held arrived or the packet that last
    /// moved the stream on did, whichever is later. Giving up a gap skips
    /// to the first packet held, and every packet of the stream before it
    /// would then come too late; so a stream still moving on in order is
    /// not given up for a packet ahead (and a packet far ahead is not
    /// held at all until the packet after it follows it, see
    /// [`Self::store`]).
    fn gap_deadline(&self, next: u64) -> Option<Instant> {
        let waiting = match self.packets.get(next) {
            Some(p) => p.arrival,
            None => {
                let (_, first) = self.packets.first()?;
                self.released_at
                    .map_or(first.arrival, |at| at.max(first.arrival))
            }
        };
        Some(waiting + self.config.max_wait)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<JitterEvent> {
        self.events.pop_front()
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Sequence numbers missing between the next one to release and the
    /// highest received, at most `limit`.
    pub fn missing(&self, limit: usize) -> Vec<u16> {
        let (Some(next), Some(high)) = (self.next, self.seq.highest()) else {
            return Vec::new();
        };
        (next..high)
            .filter(|&s| !self.packets.contains(s))
            .take(limit)
            .map(|s| s as u16)
            .collect()
    }

    fn assemble(&self, first: u64) -> Assembly {
        let Some(p) = self.packets.get(first) else {
            return Assembly::Incomplete;
        };
        if p.skip {
            return Assembly::Complete(first);
        }
        if !self.settled && !self.depacketizer.is_frame_start(&p.payload) {
            // Before the first frame, a packet from the middle of a frame
            // may have overtaken the frame's start: wait for it.
            return Assembly::Incomplete;
        }
        let ts = p.timestamp;
        // One pass over the packets held from `first` on, while their
        // numbers follow each other.
        for (expected, (s, p)) in (first..).zip(self.packets.range(first..=u64::MAX)) {
            if s != expected {
                return Assembly::Incomplete;
            }
            // A skipped number of the frame's own time inside it (padding
            // sent between its packets) is part of it, carrying nothing.
            if p.skip && p.timestamp == ts && s != first {
                continue;
            }
            if p.timestamp != ts || p.skip {
                // The frame ended without a marker: the next one has begun.
                return Assembly::Complete(s - 1);
            }
            if self.config.packet_is_frame || p.marker {
                return Assembly::Complete(s);
            }
        }
        Assembly::Incomplete
    }

    /// When the complete frame `first..=last` may leave: the end of the
    /// start delay before the first frame, and the end of the target
    /// delay for a frame with media. `None`: at once.
    fn release_at(&self, first: u64, last: u64) -> Option<Instant> {
        let start = self
            .first_arrival
            .filter(|_| !self.settled)
            .map(|t| t + self.config.start_delay);
        let media = self.packets.get(first).is_some_and(|p| !p.skip);
        let target = (media && !self.target_delay.is_zero())
            .then(|| {
                self.packets
                    .range(first..=last)
                    .map(|(_, p)| p.arrival)
                    .min()
            })
            .flatten()
            .map(|t| t + self.target_delay);
        start.into_iter().chain(target).max()
    }

    fn drain(&mut self, now: Instant) {
        while let Some(next) = self.next {
            if self.packets.is_empty() {
                break;
            }
            let overflow = self.packets.len() > self.config.capacity;
            match self.assemble(next) {
                Assembly::Complete(last)
                    if !overflow && self.release_at(next, last).is_some_and(|t| now < t) =>
                {
                    break;
                }
                Assembly::Complete(last) => {
                    let arrived = self.packets.get(last).map(|p| p.arrival);
                    self.released_at = self.released_at.max(arrived);
                    self.release(next, last);
                }
                Assembly::Incomplete => {
                    let timed_out = self.gap_deadline(next).is_some_and(|t| t <= now);
                    if !(overflow || timed_out) {
                        break;
                    }
                    self.give_up(next);
                }
            }
        }
    }

    /// Drops the frame at `next` (if its first packets are here) and the gap
    /// before the following stored packet.
    fn give_up(&mut self, next: u64) {
        let mut end = next;
        if let Some(ts) = self.packets.get(next).map(|p| p.timestamp) {
            while let Some((seq, p)) = self.packets.first() {
                if p.timestamp != ts {
                    break;
                }
                end = seq;
                self.remove_first();
            }
        }
        self.settled = true;
        self.after_gap = true;
        // A frame being built is the one at `next`, given up here.
        self.building = None;
        let resume = self.packets.first().map_or(end + 1, |(seq, _)| seq);
        self.drop_range(next, resume - 1);
        self.next = Some(resume);
    }

    fn drop_range(&mut self, first: u64, last: u64) {
        self.events.push_back(JitterEvent::Dropped {
            first: first as u16,
            last: last as u16,
        });
        if self.config.wait_for_keyframe {
            self.need_keyframe = true;
            if !self.keyframe_requested {
                self.keyframe_requested = true;
                self.events.push_back(JitterEvent::KeyframeNeeded);
            }
        }
    }

    fn release(&mut self, first: u64, last: u64) {
        if self.packets.get(first).is_some_and(|p| p.skip) {
            // No media: nothing to release, and the stream is not settled
            // by it (its first frame may still be on its way).
            self.remove(first);
            self.next = Some(first + 1);
            return;
        }
        self.settled = true;
        self.next = Some(last + 1);
        let frame = self.assemble_frame(first, last);
        for s in first..=last {
            self.remove(s);
        }
        match frame {
            Some(frame) => {
                if frame.keyframe {
                    self.need_keyframe = false;
                    self.keyframe_requested = false;
                }
                self.events.push_back(JitterEvent::Frame(frame));
            }
            // A frame whose start was given up, one the decoder cannot use
            // before the next keyframe, or one that does not depacketize.
            None => self.drop_range(first, last),
        }
    }

    /// The frame made of the packets `first..=last` (in place: the caller
    /// removes them), or `None` when it cannot be released. The frame
    /// being built, if it is this one, holds the media of its first
    /// packets; the rest are depacketized from their stored payloads.
    fn assemble_frame(&mut self, first: u64, last: u64) -> Option<Frame> {
        let built = self
            .building
            .take()
            .filter(|b| b.first == first && b.last <= last);
        let head = self.packets.get(first)?;
        let after_gap = std::mem::take(&mut self.after_gap);
        let (keyframe, start) = match &built {
            Some(b) => (
                b.keyframe,
                if after_gap {
                    b.start_after_loss
                } else {
                    b.start
                },
            ),
            // Packets just before this one are lost (or were never seen):
            // only a start that nothing of its frame can precede will do.
            None if after_gap => (
                self.depacketizer.is_keyframe(&head.payload),
                self.depacketizer.is_frame_start_after_loss(&head.payload),
            ),
            None => (
                self.depacketizer.is_keyframe(&head.payload),
                self.depacketizer.is_frame_start(&head.payload),
            ),
        };
        if !start || (self.need_keyframe && !keyframe) {
            return None;
        }
        let (mut data, stored_from) = match built {
            Some(b) if b.failed => return None,
            Some(b) => (b.data, b.last + 1),
            None => (Vec::new(), first),
        };
        let size: usize = self
            .packets
            .range(stored_from..=last)
            .map(|(_, p)| p.payload.len())
            .sum();
        // One buffer, sized once, handed to the caller with the frame.
        data.reserve_exact(size);
        let (mut first_received, mut received) = (head.arrival, head.arrival);
        for (s, p) in self.packets.range(first..=last) {
            if s >= stored_from && !p.skip {
                self.depacketizer.depacketize(&p.payload, &mut data).ok()?;
            }
            first_received = first_received.min(p.arrival);
            received = p.arrival;
        }
        self.last_frame_len = data.len();
        if data.capacity() / 2 > data.len() {
            // A guess far above the frame's size: give the rest back.
            data.shrink_to_fit();
        }
        Some(Frame {
            timestamp: head.timestamp,
            first_sequence: first as u16,
            last_sequence: last as u16,
            keyframe,
            data,
            received,
            first_received,
        })
    }

    /// Removes the packet at `seq`.
    fn remove(&mut self, seq: u64) {
        self.packets.remove(seq);
    }

    /// Removes the oldest packet.
    fn remove_first(&mut self) {
        self.packets.pop_first();
    }
}

/// The media of a payload: none for an empty one (a padding-only packet).
fn media(payload: &[u8]) -> Option<&[u8]> {
    (!payload.is_empty()).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Codec, PacketizationMode, Payloader};
    use crate::packet::PayloadType;

    struct Stream {
        seq: u16,
        ts: u32,
        codec: Codec,
        payloader: Box<dyn Payloader + Send>,
    }

    /// A stream starting at `seq`: each frame a list of (seq, ts, marker,
    /// payload).
    impl Stream {
        /// VP8.
        fn new(seq: u16) -> Self {
            Self::of(Codec::Vp8, seq)
        }

        /// VP8, H.264 (packetization mode 1) or AV1.
        fn of(codec: Codec, seq: u16) -> Self {
            Self {
                seq,
                ts: 1000,
                codec,
                payloader: codec.payloader(),
            }
        }

        /// A frame of about `size` bytes in the codec's bitstream: VP8's
        /// keyframe bit; H.264 in Annex B, SPS, PPS and an IDR slice for a
        /// keyframe, else a non-IDR slice; an AV1 temporal unit, a
        /// sequence header before the frame OBU for a keyframe.
        fn frame(&mut self, key: bool, size: usize) -> Vec<(u16, u32, bool, Vec<u8>)> {
            let data = match self.codec {
                Codec::H264(_) => {
                    // No byte 0 or 1: no start code inside a unit. Bit 7
                    // set: a slice's first_mb_in_slice is 0 (ue(v) "1"),
                    // so each non-key frame starts one.
                    let body = vec![0x80 | (size % 127) as u8; size];
                    let mut d = Vec::new();
                    if key {
                        d.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1f]);
                        d.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c]);
                        d.extend_from_slice(&[0, 0, 0, 1, 0x65]);
                    } else {
                        d.extend_from_slice(&[0, 0, 0, 1, 0x41]);
                    }
                    d.extend_from_slice(&body);
                    d
                }
                Codec::Av1 => {
                    // OBUs with their size fields (LEB128, two bytes).
                    let obu = |kind: u8, len: usize| {
                        let mut o = vec![kind << 3 | 0x02, 0x80 | (len & 0x7f) as u8];
                        o.push((len >> 7) as u8);
                        o.extend(std::iter::repeat_n((len % 251) as u8, len));
                        o
                    };
                    let mut d = Vec::new();
                    if key {
                        d.extend(obu(1, 12));
                    }
                    d.extend(obu(6, size));
                    d
                }
                _ => {
                    let mut d = vec![(size % 251) as u8; size];
                    d[0] = if key { 0x10 } else { 0x11 };
                    d
                }
            };
            let payloads = self.payloader.payload(500, &data).unwrap();
            let n = payloads.len();
            let out = payloads
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let s = self.seq;
                    self.seq = self.seq.wrapping_add(1);
                    (s, self.ts, i + 1 == n, p)
                })
                .collect();
            self.ts += 3000;
            out
        }
    }

    fn feed(
        j: &mut JitterBuffer,
        now: Instant,
        (seq, ts, marker, payload): &(u16, u32, bool, Vec<u8>),
    ) -> Inserted {
        let mut p = RtpPacket::new(PayloadType::new(96).unwrap(), *seq, *ts, 1, payload);
        p.marker = *marker;
        j.insert(now, &p)
    }

    fn events(j: &mut JitterBuffer) -> Vec<JitterEvent> {
        std::iter::from_fn(|| j.poll_event()).collect()
    }

    fn video() -> JitterBuffer {
        JitterBuffer::new(JitterConfig::VIDEO, Codec::Vp8.depacketizer())
    }

    fn audio() -> JitterBuffer {
        JitterBuffer::new(JitterConfig::AUDIO, Codec::Opus.depacketizer())
    }

    /// A one-byte Opus packet.
    fn opus(seq: u16, ts: u32) -> RtpPacket<'static> {
        RtpPacket::new(PayloadType::new(111).unwrap(), seq, ts, 1, &[1])
    }

    #[test]
    fn frames_come_out_in_order_across_the_sequence_wrap_even_when_the_stream_starts_backwards() {
        let mut s = Stream::new(65530);
        let frames: Vec<_> = (0..4).map(|i| s.frame(i == 0, 1200)).collect();
        let mut packets: Vec<_> = frames.concat();
        // Every packet overtakes the one before: the stream arrives backwards
        // within the start delay.
        packets.reverse();
        let mut j = video();
        let now = Instant::now();
        for p in &packets {
            feed(&mut j, now, p);
        }
        assert!(
            events(&mut j).is_empty(),
            "the first frame is held for the start delay"
        );
        assert_eq!(
            j.poll_timeout(),
            Some(now + JitterConfig::VIDEO.start_delay)
        );
        j.handle_timeout(now + JitterConfig::VIDEO.start_delay);
        let got: Vec<_> = events(&mut j)
            .into_iter()
            .map(|e| match e {
                JitterEvent::Frame(f) => (f.timestamp, f.data.len(), f.keyframe),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1000, 1200, true),
                (4000, 1200, false),
                (7000, 1200, false),
                (10000, 1200, false)
            ]
        );
        assert!(j.is_empty());
    }

    #[test]
    fn a_lost_packet_is_waited_for_then_its_frame_dropped_and_a_keyframe_asked() {
        let mut s = Stream::new(100);
        let key = s.frame(true, 400);
        let broken = s.frame(false, 1200); // 3 packets: 101, 102, 103
        let after = s.frame(false, 400);
        let mut j = video();
        let t0 = Instant::now();
        feed(&mut j, t0, &key[0]);
        feed(&mut j, t0, &broken[0]);
        feed(&mut j, t0, &broken[2]);
        feed(&mut j, t0, &after[0]);
        j.handle_timeout(t0 + JitterConfig::VIDEO.start_delay);
        assert!(matches!(events(&mut j)[..], [JitterEvent::Frame(_)]));
        assert_eq!(j.missing(10), vec![102]);
        assert_eq!(j.poll_timeout(), Some(t0 + Duration::from_millis(500)));
        j.handle_timeout(t0 + Duration::from_millis(499));
        assert!(events(&mut j).is_empty());
        j.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(
            events(&mut j),
            vec![
                JitterEvent::Dropped {
                    first: 101,
                    last: 103
                },
                JitterEvent::KeyframeNeeded,
                JitterEvent::Dropped {
                    first: 104,
                    last: 104
                },
            ]
        );
        // The late packet is refused; the next keyframe flows again.
        assert_eq!(feed(&mut j, t0, &broken[1]), Inserted::Late);
        feed(&mut j, t0, &s.frame(true, 300)[0]);
        assert!(matches!(&events(&mut j)[..], [JitterEvent::Frame(f)] if f.keyframe));
    }

    #[test]
    fn a_padding_only_packet_between_frames_breaks_no_frame_and_asks_no_keyframe() {
        // A sender without RTX probes with padding-only packets on the media
        // stream after a frame's marker (RFC 3550 §5.1: the P bit, no
        // payload): numbered as the stream, carrying no media.
        let mut s = Stream::new(65533);
        let key = s.frame(true, 400);
        let padding_seq = s.seq;
        s.seq = s.seq.wrapping_add(1);
        let delta = s.frame(false, 400);
        let mut j = video();
        let t0 = Instant::now();
        feed(&mut j, t0, &key[0]);
        j.handle_timeout(t0 + JitterConfig::VIDEO.start_delay);
        assert!(matches!(&events(&mut j)[..], [JitterEvent::Frame(f)] if f.keyframe));
        let padding = (padding_seq, key[0].1, false, Vec::new());
        assert_eq!(feed(&mut j, t0, &padding), Inserted::Stored);
        feed(&mut j, t0, &delta[0]);
        let got = events(&mut j);
        assert!(
            matches!(&got[..], [JitterEvent::Frame(f)] if !f.keyframe && f.first_sequence == delta[0].0),
            "{got:?}"
        );
        assert!(j.is_empty());
    }

    #[test]
    fn a_padding_only_packet_inside_a_frame_neither_cuts_nor_drops_it() {
        // A padding-only packet (RFC 3550 §5.1) sent between two packets of
        // a frame, with the frame's timestamp: it carries no media, and the
        // frame around it is whole; no half frame goes to the decoder.
        let mut s = Stream::new(100);
        let key = s.frame(true, 400);
        let delta = s.frame(false, 1400);
        assert_eq!(delta.len(), 3, "a frame of three packets");
        let mut j = video();
        let t0 = Instant::now();
        feed(&mut j, t0, &key[0]);
        j.handle_timeout(t0 + JitterConfig::VIDEO.start_delay);
        assert!(matches!(&events(&mut j)[..], [JitterEvent::Frame(f)] if f.keyframe));
        let t1 = t0 + JitterConfig::VIDEO.start_delay;
        let (s0, ts, _, _) = delta[0];
        feed(&mut j, t1, &delta[0]);
        let padding = (s0.wrapping_add(1), ts, false, Vec::new());
        assert_eq!(feed(&mut j, t1, &padding), Inserted::Stored);
        for (seq, ts, marker, payload) in &delta[1..] {
            feed(
                &mut j,
                t1,
                &(seq.wrapping_add(1), *ts, *marker, payload.clone()),
            );
        }
        j.handle_timeout(t1 + Duration::from_secs(1));
        let got = events(&mut j);
        // The whole frame as the decoder would get it without the padding.
        let mut plain = video();
        for p in key.iter().chain(&delta) {
            feed(&mut plain, t0, p);
        }
        plain.handle_timeout(t1 + Duration::from_secs(1));
        let whole = events(&mut plain)
            .into_iter()
            .filter_map(|e| match e {
                JitterEvent::Frame(f) if !f.keyframe => Some(f.data),
                _ => None,
            })
            .next()
            .expect("the frame without padding");
        assert!(
            matches!(&got[..], [JitterEvent::Frame(f)] if f.data == whole),
            "{:?}",
            got.iter()
                .map(|e| match e {
                    JitterEvent::Frame(f) => format!(
                        "Frame {}..={} {} of {} bytes",
                        f.first_sequence,
                        f.last_sequence,
                        f.data.len(),
                        whole.len()
                    ),
                    e => format!("{e:?}"),
                })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_stream_joined_mid_frame_waits_for_a_keyframe() {
        let mut s = Stream::new(7);
        let delta = s.frame(false, 1200);
        let key = s.frame(true, 100);
        let mut j = video();
        let now = Instant::now();
        for p in delta.iter().skip(1).chain(&key) {
            feed(&mut j, now, p);
        }
        // The frame's start may still come: wait for it, then give it up.
        assert!(events(&mut j).is_empty());
        j.handle_timeout(now + JitterConfig::VIDEO.max_wait);
        let e = events(&mut j);
        assert_eq!(
            e[..2],
            [
                JitterEvent::Dropped { first: 8, last: 9 },
                JitterEvent::KeyframeNeeded
            ]
        );
        assert!(matches!(&e[2..], [JitterEvent::Frame(f)] if f.keyframe && f.first_sequence == 10));
    }

    #[test]
    fn duplicates_are_refused_and_memory_stays_within_capacity() {
        let config = JitterConfig {
            capacity: 10,
            ..JitterConfig::VIDEO
        };
        let mut j = JitterBuffer::new(config, Codec::Vp8.depacketizer());
        let now = Instant::now();
        let mut s = Stream::new(0);
        let first = s.frame(true, 100);
        feed(&mut j, now, &first[0]);
        // Seq 1 never arrives; 30 more packets pile up behind the gap.
        s.seq = 2;
        for _ in 0..30 {
            for p in s.frame(false, 100) {
                assert_eq!(feed(&mut j, now, &p), Inserted::Stored);
                assert_eq!(
                    feed(&mut j, now, &p),
                    if !j.is_empty() {
                        Inserted::Duplicate
                    } else {
                        Inserted::Late
                    }
                );
                assert!(j.len() <= 10);
            }
        }
    }

    #[test]
    fn frames_carry_their_own_packets_bytes_across_the_wrap_and_after_losses_given_up() {
        let mut j = audio();
        let t0 = Instant::now();
        let start = JitterConfig::AUDIO.start_delay;
        // Payloads of changing sizes, so a frame built with stale bytes or
        // a stale length would show.
        let payload = |seq: u16| vec![seq as u8; 1 + usize::from(seq) % 97];
        let mut now = t0;
        let mut expected = Vec::new();
        let mut got = Vec::new();
        let mut dropped = 0;
        let mut seq = 65_000u16;
        for round in 0..1200u32 {
            let p = payload(seq);
            let packet = RtpPacket::new(PayloadType::new(111).unwrap(), seq, round * 960, 1, &p);
            if round % 50 == 49 {
                // Lost for good: waited for, then given up.
                now += JitterConfig::AUDIO.max_wait + Duration::from_millis(1);
                j.handle_timeout(now);
            } else {
                assert_eq!(j.insert(now, &packet), Inserted::Stored);
                expected.push(p);
            }
            if round == 0 {
                now += start;
                j.handle_timeout(now);
            }
            got.extend(events(&mut j).into_iter().filter_map(|e| match e {
                JitterEvent::Frame(f) => Some(f.data),
                JitterEvent::Dropped { first, last } => {
                    assert_eq!(first, last);
                    dropped += 1;
                    None
                }
                other => panic!("{other:?}"),
            }));
            seq = seq.wrapping_add(1);
        }
        // Every loss but the last was given up (the last has no packet
        // after it yet).
        assert_eq!(dropped, 1200 / 50 - 1);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "a frame carried another packet's bytes");
    }

    #[test]
    fn audio_releases_every_packet_as_a_frame_in_order() {
        let mut j = audio();
        let now = Instant::now();
        // The second packet overtakes the first inside the start delay.
        j.insert(now, &opus(2, 960));
        j.insert(now, &opus(1, 0));
        j.insert(now, &opus(3, 1920));
        j.handle_timeout(now + JitterConfig::AUDIO.start_delay);
        // Later a reorder inside the stream.
        let later = now + JitterConfig::AUDIO.start_delay;
        j.insert(later, &opus(5, 3840));
        j.insert(later, &opus(4, 2880));
        let ts: Vec<_> = events(&mut j)
            .into_iter()
            .map(|e| match e {
                JitterEvent::Frame(f) => f.timestamp,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ts, vec![0, 960, 1920, 2880, 3840]);
    }

    /// An Opus stream of 20 ms packets from sequence number 1,000, run as
    /// a connection runs it (due timers fired before each arrival), with
    /// one packet `stray` numbers ahead after the 100th. Returns the
    /// frames released after the stray and the packets refused as late.
    fn audio_with_a_stray(stray: Option<u16>) -> (usize, usize) {
        audio_with_strays_and_pauses(stray.as_slice(), Duration::ZERO)
    }

    /// As [`audio_with_a_stray`], with a stray packet each of `strays`
    /// ahead, and `pause` more between each of the packets 200 to 210
    /// (380 ms: Opus DTX in a silence, a packet every 400 ms, longer than
    /// the buffer waits).
    fn audio_with_strays_and_pauses(strays: &[u16], pause: Duration) -> (usize, usize) {
        let mut j = audio();
        let t0 = Instant::now();
        let (mut frames, mut late) = (0, 0);
        for i in 0..500u16 {
            let pauses = u32::from(i.clamp(200, 210) - 200);
            let at = t0 + Duration::from_millis(20 * u64::from(i)) + pause * pauses;
            while let Some(due) = j.poll_timeout().filter(|t| *t <= at) {
                j.handle_timeout(due);
            }
            let seq = 1000 + i;
            if j.insert(at, &opus(seq, 960 * u32::from(i))) == Inserted::Late {
                late += 1;
            }
            for ahead in strays.iter().filter(|_| i == 100) {
                j.insert(at, &opus(seq + ahead, 1));
            }
            let released = events(&mut j)
                .into_iter()
                .filter(|e| matches!(e, JitterEvent::Frame(_)));
            if i > 100 {
                frames += released.count();
            }
        }
        (frames, late)
    }

    #[test]
    fn one_stray_packet_far_ahead_does_not_make_the_stream_behind_it_late() {
        assert_eq!(audio_with_a_stray(None), (399, 0));
        // The stream goes on in order under the stray: nothing is given
        // up for it (it used to be, one wait after it came, and every
        // packet before it was then late: 395 of the next 399).
        assert_eq!(audio_with_a_stray(Some(1000)), (399, 0));
        // Nor a stray the stream catches up with: it is never held in the
        // place of the real packet of its number, which is taken.
        assert_eq!(audio_with_a_stray(Some(300)), (399, 0));
        // Nor when the stream pauses longer than the buffer waits: a lone
        // packet far ahead is not waited on.
        let dtx = Duration::from_millis(380);
        assert_eq!(audio_with_strays_and_pauses(&[], dtx), (399, 0));
        assert_eq!(audio_with_strays_and_pauses(&[1000], dtx), (399, 0));
        // Nor an outage of several seconds, nor two strays far apart.
        let outage = Duration::from_millis(2500);
        assert_eq!(audio_with_strays_and_pauses(&[1000], outage), (399, 0));
        assert_eq!(
            audio_with_strays_and_pauses(&[1000, 3000], outage),
            (399, 0)
        );
    }

    /// RFC 3550 A.1: a jump beyond MAX_DROPOUT believed on two packets
    /// in sequence is a restart, followed at once.
    #[test]
    fn a_sender_that_restarts_far_ahead_is_followed_once_its_second_packet_comes() {
        let mut j = audio();
        let t0 = Instant::now();
        for i in 0..10u16 {
            j.insert(t0 + Duration::from_millis(20 * u64::from(i)), &opus(i, 0));
        }
        j.handle_timeout(t0 + Duration::from_secs(1));
        events(&mut j);
        // The sender starts again 5,000 numbers on (beyond RFC 3550 A.1's
        // MAX_DROPOUT): its first packet alone is held aside, not waited
        // on; the second, in sequence, restarts the stream there at once.
        let at = t0 + Duration::from_secs(2);
        assert_eq!(j.insert(at, &opus(5000, 0)), Inserted::Suspect);
        assert_eq!(j.poll_timeout(), None);
        assert_eq!(j.insert(at, &opus(5001, 960)), Inserted::Stored);
        let released = events(&mut j)
            .into_iter()
            .filter(|e| matches!(e, JitterEvent::Frame(_)))
            .count();
        assert_eq!(released, 2);
        assert_eq!(j.poll_timeout(), None, "no gap left to wait on");
    }

    #[test]
    fn a_stray_held_when_the_sender_restarts_further_ahead_delays_it_by_two_waits_at_most() {
        let mut j = audio();
        let t0 = Instant::now();
        let at = |i: u64| t0 + Duration::from_millis(20 * i);
        for i in 0..10u16 {
            j.insert(at(u64::from(i)), &opus(i, 960 * u32::from(i)));
        }
        j.handle_timeout(at(10));
        events(&mut j);
        // A stray 1,000 ahead, then the sender restarts 5,000 ahead.
        j.insert(at(11), &opus(1000, 1));
        let mut first_after = None;
        for i in 0..100u16 {
            let now = at(20 + u64::from(i));
            while let Some(due) = j.poll_timeout().filter(|t| *t <= now) {
                j.handle_timeout(due);
            }
            j.insert(now, &opus(5000 + i, 960 * u32::from(i)));
            let frames = events(&mut j)
                .into_iter()
                .filter_map(|e| match e {
                    JitterEvent::Frame(f) => Some(f.timestamp),
                    _ => None,
                })
                .collect::<Vec<_>>();
            if frames.iter().any(|ts| *ts != 1) && first_after.is_none() {
                first_after = Some(now - at(20));
            }
        }
        // The gap below the stray, then the one below the restart.
        let limit = 2 * JitterConfig::AUDIO.max_wait + Duration::from_millis(40);
        assert!(first_after.is_some_and(|d| d <= limit), "{first_after:?}");
    }

    /// RFC 3550 A.1 (`update_seq`): a packet far from the stream is not
    /// believed on its own. A stray numbered 300 ahead, which the stream
    /// reaches six seconds later, must not stand in for the real packet of
    /// that number: the real one is taken, with its own timestamp, and
    /// nothing of the stream is refused.
    #[test]
    fn a_stray_far_ahead_does_not_take_the_place_of_the_packet_the_stream_later_brings() {
        let mut j = audio();
        let t0 = Instant::now();
        let at = |i: u16| t0 + Duration::from_millis(20 * u64::from(i));
        let mut refused = Vec::new();
        let mut released = Vec::new();
        for i in 0..400u16 {
            while let Some(due) = j.poll_timeout().filter(|t| *t <= at(i)) {
                j.handle_timeout(due);
            }
            let got = j.insert(at(i), &opus(i, 960 * u32::from(i)));
            if matches!(got, Inserted::Duplicate | Inserted::Late) {
                refused.push(i);
            }
            if i == 50 {
                // Numbered 350, with a timestamp of nothing in the stream.
                j.insert(at(i), &opus(350, 7));
            }
            released.extend(events(&mut j).into_iter().filter_map(|e| match e {
                JitterEvent::Frame(f) => Some((f.first_sequence, f.timestamp)),
                _ => None,
            }));
        }
        assert_eq!(refused, Vec::<u16>::new());
        assert!(released.contains(&(350, 960 * 350)), "the real 350");
        assert!(!released.iter().any(|(_, ts)| *ts == 7), "the stray");
    }

    /// After a loss burst longer than [`STRAY_DISTANCE`] the stream may come
    /// back reordered: the first packet is held aside, and the next one,
    /// near it but not after it, still shows the stream is there. Nothing
    /// after the burst is lost.
    #[test]
    fn a_stream_back_reordered_after_a_long_loss_burst_loses_no_packet_after_it() {
        let mut j = audio();
        let t0 = Instant::now();
        let mut released = Vec::new();
        let after_burst = [302u16, 300, 301].into_iter().chain(303..=400);
        for (n, i) in (0..100u16).chain(after_burst).enumerate() {
            let at = t0 + Duration::from_millis(20 * n as u64);
            while let Some(due) = j.poll_timeout().filter(|t| *t <= at) {
                j.handle_timeout(due);
            }
            j.insert(at, &opus(i, 960 * u32::from(i)));
            released.extend(events(&mut j).into_iter().filter_map(|e| match e {
                JitterEvent::Frame(f) => Some(f.first_sequence),
                _ => None,
            }));
        }
        let end = t0 + Duration::from_secs(60);
        while let Some(due) = j.poll_timeout().filter(|t| *t <= end) {
            j.handle_timeout(due);
            released.extend(events(&mut j).into_iter().filter_map(|e| match e {
                JitterEvent::Frame(f) => Some(f.first_sequence),
                _ => None,
            }));
        }
        let after: Vec<u16> = released.into_iter().filter(|&s| s >= 300).collect();
        assert_eq!(after, (300..=400).collect::<Vec<u16>>());
    }

    /// RFC 3550 A.1: a large jump is believed only on two packets in
    /// sequence. Two strays far ahead and near each other, but not in
    /// sequence, are each dropped: when the stream then pauses longer
    /// than the buffer waits, the buffer does not skip ahead to them and
    /// refuse the stream as late.
    #[test]
    fn two_far_packets_not_in_sequence_do_not_move_the_stream_to_them() {
        let dtx = Duration::from_millis(380);
        assert_eq!(
            audio_with_strays_and_pauses(&[1000, 1050], Duration::ZERO),
            (399, 0)
        );
        assert_eq!(audio_with_strays_and_pauses(&[1000, 1050], dtx), (399, 0));
    }

    /// RFC 3550 A.1: a sender that starts its numbers again lower (a
    /// reset, a new random first number) is followed as soon as two of its
    /// packets in sequence show it, rather than every packet of it being
    /// refused as late; what the buffer held of the old numbering is given
    /// up.
    #[test]
    fn a_sender_that_restarts_its_numbers_lower_is_followed_once_its_second_packet_comes() {
        let mut j = audio();
        let t0 = Instant::now();
        for i in 0..10u16 {
            let at = t0 + Duration::from_millis(20 * u64::from(i));
            j.insert(at, &opus(5000 + i, 960 * u32::from(i)));
        }
        j.handle_timeout(t0 + Duration::from_secs(1));
        assert_eq!(events(&mut j).len(), 10);
        let at = t0 + Duration::from_secs(2);
        assert_eq!(j.insert(at, &opus(100, 0)), Inserted::Suspect);
        assert!(
            events(&mut j).is_empty(),
            "one packet alone is not believed"
        );
        assert_eq!(j.insert(at, &opus(101, 960)), Inserted::Stored);
        let released: Vec<u16> = events(&mut j)
            .into_iter()
            .filter_map(|e| match e {
                JitterEvent::Frame(f) => Some(f.first_sequence),
                _ => None,
            })
            .collect();
        assert_eq!(released, vec![100, 101]);
        assert_eq!(j.insert(at, &opus(102, 1920)), Inserted::Stored);
        assert!(matches!(&events(&mut j)[..], [JitterEvent::Frame(f)] if f.first_sequence == 102));
    }

    /// RFC 3550 A.1: late packets of the numbering a sender left, in
    /// order (two in order pass A.1's probation), reordered behind the
    /// first packets of its new numbering (right after the two that
    /// showed the restart, or ten packets on) and arriving within a
    /// second of the restart, are late: the stream is not switched back to
    /// the old numbering (nor forward again), and every frame of the new
    /// numbering is released, once, in order.
    #[test]
    fn late_packets_of_the_numbering_left_within_a_second_do_not_switch_the_stream_back() {
        for after in [2, 10] {
            let mut j = audio();
            let old = 40_000..40_010u16;
            let new = 10_000..10_020u16;
            let seqs: Vec<u16> = old
                .clone()
                .chain(new.clone().take(after))
                .chain(40_010..40_013)
                .chain(new.clone().skip(after))
                .collect();
            let released = run_audio(&mut j, Instant::now(), &seqs);
            let want: Vec<u16> = old.chain(new).collect();
            assert_eq!(released, want, "late run after {after} new packets");
        }
    }

    /// As above, the numbering left ending at the 16-bit wrap: its late
    /// packets past the wrap (0, 1, 2) are late too.
    #[test]
    fn late_packets_of_the_numbering_left_across_the_wrap_do_not_switch_the_stream_back() {
        let mut j = audio();
        let old = 65_526..=65_535u16;
        let new = 10_000..10_020u16;
        let seqs: Vec<u16> = old
            .clone()
            .chain(new.clone().take(5))
            .chain(0..3)
            .chain(new.clone().skip(5))
            .collect();
        let released = run_audio(&mut j, Instant::now(), &seqs);
        assert_eq!(released, old.chain(new).collect::<Vec<u16>>());
    }

    /// RFC 3550 A.1 `init_seq`: a sender that restarts a second time,
    /// within a second of the first restart, to a third numbering is
    /// followed at once; late packets of both numberings it left, coming
    /// after, are late, and the third numbering's frames are released.
    #[test]
    fn a_second_restart_within_the_second_is_followed_and_both_numberings_left_are_late() {
        let mut j = audio();
        let first = 40_000..40_010u16;
        let second = 10_000..10_010u16;
        let third = 20_000..20_020u16;
        let seqs: Vec<u16> = first
            .clone()
            .chain(second.clone())
            .chain(third.clone().take(10))
            .chain([40_010, 40_011, 10_010, 10_011])
            .chain(third.clone().skip(10))
            .collect();
        let released = run_audio(&mut j, Instant::now(), &seqs);
        let want: Vec<u16> = first.chain(second).chain(third).collect();
        assert_eq!(released, want);
    }

    /// RFC 3550 A.1 `init_seq`: a sender that restarts its numbers twice,
    /// the second time back near its first numbering (within 3,000 behind
    /// its highest, as a sender resuming an earlier numbering does) more
    /// than a second after the first restart, is followed there: every
    /// frame of the third numbering is released.
    #[test]
    fn a_second_restart_back_near_the_first_numbering_after_a_second_is_followed() {
        let mut j = audio();
        let first = 40_000..40_010u16;
        // 1.2 s of the second numbering.
        let second = 10_000..10_060u16;
        let third = 38_000..39_500u16;
        let seqs: Vec<u16> = first
            .clone()
            .chain(second.clone())
            .chain(third.clone())
            .collect();
        let released = run_audio(&mut j, Instant::now(), &seqs);
        let want: Vec<u16> = first.chain(second).chain(third).collect();
        assert_eq!(released, want);
    }

    /// As above, the sender resuming the numbering it left (the numbers
    /// just past its highest) across the 16-bit wrap: followed there.
    #[test]
    fn a_sender_resuming_the_numbering_it_left_after_a_second_across_the_wrap_is_followed() {
        let mut j = audio();
        let first = 65_500..=65_530u16;
        let second = 10_000..10_060u16;
        let third: Vec<u16> = (65_531..=65_535u16).chain(0..1_000).collect();
        let seqs: Vec<u16> = first
            .clone()
            .chain(second.clone())
            .chain(third.iter().copied())
            .collect();
        let released = run_audio(&mut j, Instant::now(), &seqs);
        let want: Vec<u16> = first.chain(second).chain(third).collect();
        assert_eq!(released, want);
    }

    /// A sender that resumes the numbering it left within a second of
    /// leaving it cannot be told from late packets of it: its packets are
    /// late until a second after the restart, and then it is followed as
    /// any restart (RFC 3550 A.1, two packets in order): the stream stalls
    /// a second at most, never for good.
    #[test]
    fn a_sender_resuming_the_numbering_it_left_within_a_second_is_followed_once_the_second_ends() {
        let mut j = audio();
        let first = 40_000..40_010u16;
        let second = 10_000..10_010u16;
        let third = 40_010..40_200u16;
        let seqs: Vec<u16> = first
            .clone()
            .chain(second.clone())
            .chain(third.clone())
            .collect();
        let released = run_audio(&mut j, Instant::now(), &seqs);
        // The restart to the second numbering is taken at its second
        // packet (the 12th, at 220 ms); the third comes from 400 ms, one
        // packet each 20 ms: those before 1,220 ms (41) are late.
        let want: Vec<u16> = first.chain(second).chain(third.clone().skip(41)).collect();
        assert_eq!(released, want);
    }

    /// After a restart 3,500 numbers back, a loss burst of 660 numbers in
    /// the new numbering (ahead of it by less than 3,000: not a restart)
    /// a second after the restart brings the stream within 3,000 behind
    /// the highest of the numbering left: it is the stream's, and its
    /// frames are released.
    #[test]
    fn a_loss_burst_of_the_new_numbering_into_the_numbers_left_after_a_second_is_followed() {
        let mut j = audio();
        let first = 40_000..40_010u16;
        let second = 36_500..36_560u16;
        let after_burst = 37_220..37_400u16;
        let seqs: Vec<u16> = first
            .clone()
            .chain(second.clone())
            .chain(after_burst.clone())
            .collect();
        let released = run_audio(&mut j, Instant::now(), &seqs);
        let want: Vec<u16> = first.chain(second).chain(after_burst).collect();
        assert_eq!(released, want);
    }

    /// Feeds `seqs` (timestamp 960 per number) one each 20 ms from `t0`,
    /// as a connection runs a buffer (due timers fired before each
    /// arrival), then runs the timers 60 s on. The first sequence numbers
    /// of the frames released, in order.
    fn run_audio(j: &mut JitterBuffer, t0: Instant, seqs: &[u16]) -> Vec<u16> {
        run_audio_with_retransmissions(j, t0, seqs, &[])
    }

    /// As [`run_audio`], the packets at the positions `retransmitted`
    /// through [`JitterBuffer::insert_retransmission`].
    fn run_audio_with_retransmissions(
        j: &mut JitterBuffer,
        t0: Instant,
        seqs: &[u16],
        retransmitted: &[usize],
    ) -> Vec<u16> {
        let mut out = Vec::new();
        let take = |j: &mut JitterBuffer, out: &mut Vec<u16>| {
            out.extend(events(j).into_iter().filter_map(|e| match e {
                JitterEvent::Frame(f) => Some(f.first_sequence),
                _ => None,
            }));
        };
        let mut at = t0;
        for (i, &s) in seqs.iter().enumerate() {
            while let Some(due) = j.poll_timeout().filter(|t| *t <= at) {
                j.handle_timeout(due);
                take(j, &mut out);
            }
            let p = opus(s, 960u32.wrapping_mul(u32::from(s)));
            if retransmitted.contains(&i) {
                j.insert_retransmission(at, &p);
            } else {
                j.insert(at, &p);
            }
            take(j, &mut out);
            at += Duration::from_millis(20);
        }
        let end = at + Duration::from_secs(60);
        while let Some(due) = j.poll_timeout().filter(|t| *t <= end) {
            j.handle_timeout(due);
            take(j, &mut out);
        }
        out
    }

    /// RFC 3550 A.1 keeps `bad_seq` across packets of the stream: after a
    /// loss burst just over [`STRAY_DISTANCE`] the stream comes back
    /// reordered, 201 first (102 ahead: held aside), then 198 (99 ahead:
    /// the stream's). 198 is near 201, so it shows 201 is the stream's
    /// too: both are taken, and nothing after the burst is lost (201 used
    /// to be dropped by 198, and the NACK generator, which saw it, never
    /// asked for it again).
    #[test]
    fn a_near_packet_after_the_held_aside_one_does_not_lose_it() {
        let mut j = audio();
        let seqs: Vec<u16> = (0..100)
            .chain([201, 198, 199, 200])
            .chain(202..=300)
            .collect();
        let out = run_audio(&mut j, Instant::now(), &seqs);
        let after: Vec<u16> = out.into_iter().filter(|&s| s >= 198).collect();
        assert_eq!(after, (198..=300).collect::<Vec<u16>>());
    }

    /// RFC 3550 A.1 keeps `bad_seq` across packets of the stream: a late
    /// packet of the stream (here 90, a late retransmission or a
    /// straggler) arriving between the first packet after a long loss
    /// burst (300, held aside) and the next one (301) leaves 300 held, and
    /// 301 then shows it is the stream's: 300 is not lost.
    #[test]
    fn a_late_retransmission_between_does_not_lose_the_first_packet_after_a_burst() {
        let mut j = audio();
        let seqs: Vec<u16> = (0..100).chain([300, 90]).chain(301..=400).collect();
        let out = run_audio(&mut j, Instant::now(), &seqs);
        let after: Vec<u16> = out.into_iter().filter(|&s| s >= 300).collect();
        assert_eq!(after, (300..=400).collect::<Vec<u16>>());
    }

    /// RFC 3550 A.1 `init_seq`: a sender that restarted its numbers (here
    /// 15,000 on, beyond MAX_DROPOUT) and whose first two packets come
    /// reordered (20001, then 20000) is followed from the lower of the
    /// two: 20000 is not refused as late.
    #[test]
    fn a_restart_that_comes_reordered_loses_no_packet() {
        let mut j = audio();
        let seqs: Vec<u16> = (5000..5010)
            .chain([20001, 20000])
            .chain(20002..=20010)
            .collect();
        let out = run_audio(&mut j, Instant::now(), &seqs);
        let after: Vec<u16> = out.into_iter().filter(|&s| s >= 20000).collect();
        assert_eq!(after, (20000..=20010).collect::<Vec<u16>>());
    }

    /// RFC 4588 §4, RFC 3550 A.1: retransmissions (unwrapped from RTX)
    /// are late by nature; two near each other more than MAX_DROPOUT
    /// behind (a late answer to a NACK) are refused as late, never taken
    /// for a sender that restarted its numbers (they used to be: old
    /// frames released again after newer ones, the stream moved back).
    #[test]
    fn two_late_retransmissions_far_behind_are_not_a_restart() {
        let mut j = audio();
        let seqs: Vec<u16> = (0..=4000).chain([500, 501]).chain(4001..=4010).collect();
        let out = run_audio_with_retransmissions(&mut j, Instant::now(), &seqs, &[4001, 4002]);
        let tail: Vec<u16> = out.into_iter().skip(4001).collect();
        assert_eq!(tail, (4001..=4010).collect::<Vec<u16>>());
        let late = j.insert_retransmission(Instant::now(), &opus(502, 0));
        assert_eq!(late, Inserted::Late);
    }

    /// RFC 4585 §6.3.1: after a long outage, a lone video packet far
    /// ahead that the sender follows with nothing (it paused) still makes
    /// the buffer ask for a keyframe: from its timer, the wait for a gap
    /// after that packet came, not on the sender's next packet.
    #[test]
    fn a_lone_video_packet_after_a_long_outage_asks_for_a_keyframe_from_the_timer() {
        let mut s = Stream::new(100);
        let mut j = video();
        let t0 = Instant::now();
        let mut now = t0;
        let drive = |j: &mut JitterBuffer, until: Instant| {
            let mut asked = None;
            while let Some(due) = j.poll_timeout().filter(|t| *t <= until) {
                j.handle_timeout(due);
                if events(j).contains(&JitterEvent::KeyframeNeeded) {
                    asked.get_or_insert(due);
                }
            }
            asked
        };
        for i in 0..10 {
            for p in s.frame(i == 0, 300) {
                drive(&mut j, now);
                feed(&mut j, now, &p);
            }
            now += Duration::from_millis(33);
        }
        drive(&mut j, now + Duration::from_secs(1));
        let frames = events(&mut j);
        assert!(!frames.contains(&JitterEvent::KeyframeNeeded), "{frames:?}");
        // Three seconds of nothing: 300 packets lost, then one packet (a
        // frame of its own) and the sender pauses.
        s.seq = s.seq.wrapping_add(300);
        now += Duration::from_secs(3);
        let lone = s.frame(false, 300);
        assert_eq!(lone.len(), 1);
        feed(&mut j, now, &lone[0]);
        let mut asked = events(&mut j)
            .contains(&JitterEvent::KeyframeNeeded)
            .then_some(now);
        if asked.is_none() {
            asked = drive(&mut j, now + Duration::from_secs(5));
        }
        assert_eq!(asked, Some(now + JitterConfig::VIDEO.max_wait));
        // The sender answers with a keyframe: the lone packet is believed,
        // the gap before it given up, and the keyframe comes out.
        let later = now + Duration::from_secs(2);
        for p in s.frame(true, 300) {
            feed(&mut j, later, &p);
        }
        let e = events(&mut j);
        assert!(
            matches!(&e[..], [.., JitterEvent::Frame(f)] if f.keyframe),
            "{e:?}"
        );
        assert!(!e.contains(&JitterEvent::KeyframeNeeded), "asked once");
    }

    #[test]
    fn after_a_long_outage_the_stream_resumes_though_the_packet_after_its_first_is_lost() {
        let mut j = audio();
        let t0 = Instant::now();
        let at = |i: u16| t0 + Duration::from_millis(20 * u64::from(i));
        let mut first_after = None;
        // 0..100, then 3 s without packets (150 lost), then 250 on, with
        // 251 lost too.
        for i in (0..100).chain(250..400).filter(|i| *i != 251) {
            while let Some(due) = j.poll_timeout().filter(|t| *t <= at(i)) {
                j.handle_timeout(due);
            }
            j.insert(at(i), &opus(i, 960 * u32::from(i)));
            let released = events(&mut j)
                .into_iter()
                .any(|e| matches!(e, JitterEvent::Frame(_)));
            if i >= 250 && released && first_after.is_none() {
                first_after = Some(at(i) - at(250));
            }
        }
        // The packets after 251 show the jump was no stray: the gaps are
        // given up after the ordinary wait, not when the buffer is full.
        assert!(
            first_after.is_some_and(|d| d <= 2 * JitterConfig::AUDIO.max_wait),
            "{first_after:?}"
        );
    }

    #[test]
    fn skipped_sequence_numbers_are_not_waited_for_and_release_no_frame() {
        let mut j = audio();
        let now = Instant::now();
        j.insert(now, &opus(1, 0));
        j.handle_timeout(now + JitterConfig::AUDIO.start_delay);
        let t = now + JitterConfig::AUDIO.start_delay;
        // Sequence numbers 2 and 3 carry telephone events (RFC 4733 §2.1):
        // 3 arrives after the audio packet behind it, 2 not at all yet.
        j.insert(t, &opus(4, 960));
        assert_eq!(j.skip(t, 3, 500), Inserted::Stored);
        let frames = |j: &mut JitterBuffer| -> Vec<u32> {
            events(j)
                .into_iter()
                .map(|e| match e {
                    JitterEvent::Frame(f) => f.timestamp,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(frames(&mut j), vec![0], "2 is still missing");
        assert_eq!(j.skip(t, 2, 500), Inserted::Stored);
        assert_eq!(frames(&mut j), vec![960], "no frame for 2 and 3");
        assert_eq!(j.skip(t, 3, 500), Inserted::Late);
        j.insert(t, &opus(5, 1920));
        assert_eq!(frames(&mut j), vec![1920]);
        assert!(j.is_empty());
        assert_eq!(j.poll_timeout(), None, "nothing waited for");
    }

    #[test]
    fn a_target_delay_holds_each_frame_after_its_first_packet_arrived() {
        let mut j = JitterBuffer::new(JitterConfig::VIDEO, Codec::Vp8.depacketizer());
        let target = Duration::from_millis(100);
        j.set_target_delay(target);
        assert_eq!(j.target_delay(), target);
        let t0 = Instant::now();
        let mut s = Stream::new(7);
        let key = s.frame(true, 3000);
        assert!(key.len() > 1);
        // The keyframe's packets arrive 10 ms apart; its hold counts from
        // the first, not the last.
        for (i, p) in key.iter().enumerate() {
            feed(&mut j, t0 + Duration::from_millis(10 * i as u64), p);
        }
        let last_arrival = t0 + Duration::from_millis(10 * (key.len() as u64 - 1));
        assert!(last_arrival < t0 + target);
        j.handle_timeout(last_arrival);
        assert!(events(&mut j).is_empty(), "held for the target");
        assert_eq!(j.poll_timeout(), Some(t0 + target));
        j.handle_timeout(t0 + target - Duration::from_millis(1));
        assert!(events(&mut j).is_empty());
        j.handle_timeout(t0 + target);
        let released: Vec<_> = events(&mut j)
            .into_iter()
            .map(|e| match e {
                JitterEvent::Frame(f) => (f.timestamp, f.first_received, f.received),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(released, vec![(1000, t0, last_arrival)]);
        // A later frame, complete at once, waits its own target too.
        let t1 = t0 + Duration::from_millis(500);
        for p in &s.frame(false, 100) {
            feed(&mut j, t1, p);
        }
        assert!(events(&mut j).is_empty());
        assert_eq!(j.poll_timeout(), Some(t1 + target));
        // Back to zero: the held frame leaves at the next call.
        j.set_target_delay(Duration::ZERO);
        j.handle_timeout(t1);
        assert_eq!(events(&mut j).len(), 1);
    }

    #[test]
    fn a_full_buffer_releases_frames_the_target_still_holds() {
        let config = JitterConfig {
            capacity: 4,
            ..JitterConfig::AUDIO
        };
        let mut j = JitterBuffer::new(config, Codec::Opus.depacketizer());
        j.set_target_delay(Duration::from_secs(4));
        let now = Instant::now();
        for i in 0..10u16 {
            j.insert(now, &opus(i, u32::from(i) * 960));
            assert!(j.len() <= 4);
        }
        assert_eq!(events(&mut j).len(), 6);
    }

    #[test]
    fn a_frame_arriving_in_order_is_built_from_the_packets_without_storing_their_payloads() {
        let mut s = Stream::new(40);
        let key = s.frame(true, 300);
        let delta = s.frame(false, 1800);
        assert!(delta.len() > 2);
        let mut j = video();
        let t0 = Instant::now();
        feed(&mut j, t0, &key[0]);
        j.handle_timeout(t0 + JitterConfig::VIDEO.start_delay);
        assert_eq!(
            events(&mut j).len(),
            1,
            "the keyframe, after the start delay"
        );
        let t1 = t0 + JitterConfig::VIDEO.start_delay;
        let (last, rest) = delta.split_last().unwrap();
        for p in rest {
            assert_eq!(feed(&mut j, t1, p), Inserted::Stored);
            assert_eq!(feed(&mut j, t1, p), Inserted::Duplicate);
        }
        // Held for gaps and duplicates, but no payload copied: the media is
        // in the frame being built.
        assert_eq!(j.len(), rest.len());
        assert!(
            j.packets
                .range(0..=u64::MAX)
                .all(|(_, p)| p.payload.capacity() == 0)
        );
        let mut want = Vec::new();
        let mut depacketizer = Codec::Vp8.depacketizer();
        for p in rest {
            depacketizer.depacketize(&p.3, &mut want).unwrap();
        }
        let built = j
            .building
            .as_ref()
            .map(|b| (b.first as u16, b.last as u16, b.data.clone()));
        assert_eq!(built, Some((41, 40 + rest.len() as u16, want.clone())));
        feed(&mut j, t1, last);
        depacketizer.depacketize(&last.3, &mut want).unwrap();
        match &events(&mut j)[..] {
            [JitterEvent::Frame(f)] => {
                assert_eq!(
                    (f.first_sequence, f.last_sequence),
                    (41, 40 + delta.len() as u16)
                );
                assert_eq!(f.data, want);
            }
            other => panic!("{other:?}"),
        }
        assert!(j.is_empty() && j.building.is_none());
    }

    #[test]
    fn frames_of_every_video_codec_are_built_in_order_and_released_whole() {
        for codec in [
            Codec::Vp8,
            Codec::H264(PacketizationMode::NonInterleaved),
            Codec::Av1,
        ] {
            let mut s = Stream::of(codec, 65000);
            let frames = [s.frame(true, 1800), s.frame(false, 1300)];
            let mut j = JitterBuffer::new(JitterConfig::VIDEO, codec.depacketizer());
            let t0 = Instant::now();
            let mut got = Vec::new();
            for (i, frame) in frames.iter().enumerate() {
                assert!(frame.len() > 2, "{codec:?}: several packets");
                let at = t0 + JitterConfig::VIDEO.start_delay * i as u32;
                for (k, p) in frame.iter().enumerate() {
                    assert_eq!(feed(&mut j, at, p), Inserted::Stored);
                    if i == 1 && k + 1 < frame.len() {
                        // After the keyframe is out: built as it arrives.
                        assert!(j.building.is_some(), "{codec:?}: packet {k} built");
                    }
                }
                if i == 0 {
                    j.handle_timeout(t0 + JitterConfig::VIDEO.start_delay);
                }
                got.extend(events(&mut j));
            }
            let want: Vec<Vec<u8>> = frames
                .iter()
                .map(|f| {
                    let mut d = codec.depacketizer();
                    let mut data = Vec::new();
                    for p in f {
                        d.depacketize(&p.3, &mut data).unwrap();
                    }
                    data
                })
                .collect();
            match &got[..] {
                [JitterEvent::Frame(a), JitterEvent::Frame(b)] => {
                    assert!(a.keyframe && !b.keyframe, "{codec:?}");
                    assert_eq!([&a.data, &b.data], [&want[0], &want[1]], "{codec:?}");
                }
                other => panic!("{codec:?}: {other:?}"),
            }
        }
    }

    proptest::proptest! {
        /// Whatever arrives (loss, reorder, duplicates, undecodable
        /// payloads, markers missing, skipped numbers, a target delay, a
        /// small capacity),
        /// building frames as packets arrive gives the same answers and
        /// events as storing every payload.
        #[test]
        fn building_frames_as_packets_arrive_changes_no_answer_or_event(
            sizes in proptest::collection::vec(1usize..2500, 1..30),
            keys in proptest::collection::vec(proptest::bool::weighted(0.15), 30),
            fate in proptest::collection::vec(0u8..100, 300),
            swaps in proptest::collection::vec((1usize..300, 1usize..4), 0..20),
            gaps_ms in proptest::collection::vec(0u64..40, 300),
            target_ms in proptest::prop_oneof![proptest::strategy::Just(0u64), 1u64..80],
            capacity in proptest::prop_oneof![proptest::strategy::Just(2000usize), 3usize..20],
            codec in 0usize..4,
            start: u16,
        ) {
            // The depacketizers that keep state between payloads (H.264's
            // FU-A, AV1's fragments) are where building could differ.
            let video = [Codec::Vp8, Codec::H264(PacketizationMode::NonInterleaved), Codec::Av1];
            let audio = codec == 3;
            let mut s = Stream::of(video[codec % 3], start);
            let frames: Vec<_> =
                sizes.iter().enumerate().map(|(i, &n)| s.frame(i == 0 || keys[i], n)).collect();
            let mut packets: Vec<_> = frames.concat();
            for (at, by) in swaps {
                if at + by < packets.len() {
                    packets.swap(at, at + by);
                }
            }
            let (base, codec) = if audio {
                (JitterConfig::AUDIO, Codec::Opus)
            } else {
                (JitterConfig::VIDEO, video[codec])
            };
            let config = JitterConfig { capacity, ..base };
            let mut fast = JitterBuffer::new(config, codec.depacketizer());
            let mut slow = JitterBuffer::new(config, codec.depacketizer());
            slow.build_off = true;
            for j in [&mut fast, &mut slow] {
                j.set_target_delay(Duration::from_millis(target_ms));
            }
            let mut now = Instant::now();
            for (i, p) in packets.iter().enumerate() {
                now += Duration::from_millis(gaps_ms[i % 300]);
                let fate = fate[i % 300];
                let mut p = p.clone();
                match fate {
                    0..4 => continue, // lost
                    4..6 => p.3.clear(), // undecodable
                    6..8 => p.2 = false, // a frame ended without a marker
                    _ => {}
                }
                for _ in 0..1 + usize::from((6..10).contains(&fate)) {
                    let (a, b) = if (10..13).contains(&fate) {
                        (fast.skip(now, p.0, p.1), slow.skip(now, p.0, p.1))
                    } else {
                        (feed(&mut fast, now, &p), feed(&mut slow, now, &p))
                    };
                    proptest::prop_assert_eq!(a, b);
                }
                if fate % 3 == 0 {
                    fast.handle_timeout(now);
                    slow.handle_timeout(now);
                }
                proptest::prop_assert_eq!(events(&mut fast), events(&mut slow));
                proptest::prop_assert_eq!(fast.len(), slow.len());
                proptest::prop_assert_eq!(fast.poll_timeout(), slow.poll_timeout());
                proptest::prop_assert_eq!(fast.missing(20), slow.missing(20));
            }
            now += Duration::from_secs(5);
            fast.handle_timeout(now);
            slow.handle_timeout(now);
            proptest::prop_assert_eq!(events(&mut fast), events(&mut slow));
            proptest::prop_assert!(fast.is_empty() && fast.building.is_none());
        }

        #[test]
        fn released_frames_are_exactly_the_complete_ones_in_order(
            sizes in proptest::collection::vec(1usize..1400, 1..40),
            lost in proptest::collection::vec(proptest::bool::weighted(0.08), 200),
            swaps in proptest::collection::vec((1usize..200, 1usize..4), 0..40),
            start: u16,
        ) {
            let mut s = Stream::new(start);
            let frames: Vec<_> = sizes.iter().enumerate().map(|(i, &n)| s.frame(i == 0, n)).collect();
            let mut packets: Vec<_> = frames.concat();
            // The first packet arrives first; the rest lose and overtake.
            for (at, by) in swaps {
                if at + by < packets.len() {
                    packets.swap(at, at + by);
                }
            }
            let delivered: Vec<_> =
                packets.iter().enumerate().filter(|(i, _)| *i == 0 || !lost[i % 200]).map(|(_, p)| p.clone()).collect();
            let config = JitterConfig { wait_for_keyframe: false, capacity: 1000, ..JitterConfig::VIDEO };
            let mut j = JitterBuffer::new(config, Codec::Vp8.depacketizer());
            let now = Instant::now();
            for p in &delivered {
                feed(&mut j, now, p);
            }
            j.handle_timeout(now + config.max_wait);
            let got: Vec<_> = events(&mut j)
                .into_iter()
                .filter_map(|e| match e {
                    JitterEvent::Frame(f) => Some((f.timestamp, f.data)),
                    _ => None,
                })
                .collect();
            let seqs: std::collections::HashSet<u16> = delivered.iter().map(|p| p.0).collect();
            let mut depacketizer = Codec::Vp8.depacketizer();
            let want: Vec<_> = frames
                .iter()
                .filter(|f| f.iter().all(|p| seqs.contains(&p.0)))
                .map(|f| {
                    let mut data = Vec::new();
                    for p in f {
                        depacketizer.depacketize(&p.3, &mut data).unwrap();
                    }
                    (f[0].1, data)
                })
                .collect();
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert!(j.is_empty());
        }
    }
}

#[cfg(test)]
mod h264_tests {
    use super::*;
    use crate::codec::{Codec, PacketizationMode, Packetizer};
    use crate::packet::{Extensions, PayloadType};

    #[test]
    fn an_h264_keyframe_whose_parameter_sets_are_lost_is_not_released_as_whole() {
        let codec = Codec::H264(PacketizationMode::NonInterleaved);
        let mut p = Packetizer::new(codec, PayloadType::new(102).unwrap(), 1, 100);
        let mut stream = Vec::new();
        let p_frame = [0, 0, 0, 1, 0x41, 0x9a, 1, 2, 3];
        stream.extend(
            p.packetize(
                1200,
                0,
                &[
                    [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2].as_slice(),
                    &[0, 0, 0, 1, 0x65, 0x88, 9],
                ]
                .concat(),
                &Extensions::new(),
            )
            .unwrap(),
        );
        stream.extend(
            p.packetize(1200, 3000, &p_frame, &Extensions::new())
                .unwrap(),
        );
        let mut idr = vec![
            0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 0x88,
        ];
        idr.extend(std::iter::repeat_n(7u8, 3000));
        let idr_packets = p.packetize(1200, 6000, &idr, &Extensions::new()).unwrap();
        assert_eq!(
            RtpPacket::parse(&idr_packets[0]).unwrap().payload[0] & 0x1f,
            24,
            "STAP-A first"
        );
        stream.extend(idr_packets.into_iter().skip(1));
        stream.extend(
            p.packetize(1200, 9000, &p_frame, &Extensions::new())
                .unwrap(),
        );
        let mut j = JitterBuffer::new(JitterConfig::VIDEO, codec.depacketizer());
        let t0 = Instant::now();
        for b in &stream {
            j.insert(t0, &RtpPacket::parse(b).unwrap());
        }
        j.handle_timeout(t0 + JitterConfig::VIDEO.max_wait);
        let frames: Vec<_> = std::iter::from_fn(|| j.poll_event())
            .filter_map(|e| match e {
                JitterEvent::Frame(f) => Some(f.timestamp),
                _ => None,
            })
            .collect();
        assert_eq!(frames, vec![0, 3000]);
    }
}

#[cfg(test)]
mod far_packet_tests {
    use super::*;
    use crate::codec::Codec;
    use crate::packet::{PayloadType, RtpPacket};

    /// One packet: (sequence, arrival offset, is an RTX-unwrapped retransmission).
    type Arrival = (u16, Duration, bool);

    /// Feeds `arrivals` (sorted by time) as a connection runs a buffer,
    /// every packet a frame (timestamp from its number), and returns the
    /// sequence numbers released, in order.
    fn run(config: JitterConfig, arrivals: &[Arrival]) -> Vec<u16> {
        let mut j = JitterBuffer::new(config, Codec::Opus.depacketizer());
        let t0 = Instant::now();
        let mut out = Vec::new();
        let take = |j: &mut JitterBuffer, out: &mut Vec<u16>| {
            while let Some(e) = j.poll_event() {
                if let JitterEvent::Frame(f) = e {
                    out.push(f.first_sequence);
                }
            }
        };
        let mut last = t0;
        for &(seq, dt, rtx) in arrivals {
            let at = t0 + dt;
            last = at;
            while let Some(due) = j.poll_timeout().filter(|t| *t <= at) {
                j.handle_timeout(due);
                take(&mut j, &mut out);
            }
            let payload = [1u8];
            let p = RtpPacket::new(
                PayloadType::new(111).unwrap(),
                seq,
                960u32.wrapping_mul(u32::from(seq)),
                1,
                &payload,
            );
            let r = if rtx {
                j.insert_retransmission(at, &p)
            } else {
                j.insert(at, &p)
            };
            let _ = r;
            take(&mut j, &mut out);
        }
        let end = last + Duration::from_secs(60);
        while let Some(due) = j.poll_timeout().filter(|t| *t <= end) {
            j.handle_timeout(due);
            take(&mut j, &mut out);
        }
        out
    }

    /// RFC 4585 §6.2.1 NACK without RTX, 1,000 packets/s, 110 ms round
    /// trip: 100 and 101 came 5 ms late (reordered), the NACK sent for them
    /// is answered on the media SSRC 110 ms later (or a NACK repeated for
    /// a lost pair is answered twice): two duplicates 105 behind, not
    /// waited on. They must be refused as duplicates/late, not taken for a
    /// sender restarting 105 lower.
    #[test]
    fn duplicate_retransmissions_on_the_media_ssrc_far_behind_are_not_a_restart() {
        let config = JitterConfig {
            packet_is_frame: true,
            wait_for_keyframe: false,
            ..JitterConfig::VIDEO
        };
        let ms = Duration::from_millis;
        let mut arrivals: Vec<Arrival> = (0..400u16)
            .map(|s| {
                let delay = if s == 100 || s == 101 { 5 } else { 0 };
                (s, ms(u64::from(s) + delay), false)
            })
            .collect();
        arrivals.push((100, ms(210) + Duration::from_micros(500), false));
        arrivals.push((101, ms(210) + Duration::from_micros(600), false));
        arrivals.sort_by_key(|a| a.1);
        let out = run(config, &arrivals);
        assert_eq!(out, (0..400).collect::<Vec<u16>>());
    }

    /// RFC 4588: a retransmission is of numbers the stream reached. One far
    /// ahead of the stream (an answer for the numbering before a restart,
    /// say) is late: it is not stored to be released among the stream's.
    #[test]
    fn a_retransmission_far_ahead_of_the_stream_is_late_and_never_released() {
        let ms = Duration::from_millis;
        let mut arrivals: Vec<Arrival> = (0..50u16)
            .map(|s| (s, ms(20 * u64::from(s)), false))
            .collect();
        arrivals.push((2_050, ms(990), true));
        arrivals.push((60, ms(995), true));
        arrivals.extend((50..150u16).map(|s| (s, ms(1000 + 20 * u64::from(s - 50)), false)));
        arrivals.sort_by_key(|a| a.1);
        let out = run(JitterConfig::AUDIO, &arrivals);
        assert_eq!(out, (0..150).collect::<Vec<u16>>());
    }

    /// RFC 4588: after a loss burst longer than the stray distance, the
    /// first packet past it is held aside; an RTX answer for a number
    /// before it, arriving before the packet after it, shows the sender's
    /// numbers reached it: both are taken.
    #[test]
    fn an_rtx_answer_before_the_held_aside_packet_confirms_it() {
        let ms = Duration::from_millis;
        let mut arrivals: Vec<Arrival> = (0..100u16)
            .map(|s| (s, ms(20 * u64::from(s)), false))
            .collect();
        arrivals.push((300, ms(2_000), false));
        arrivals.push((250, ms(2_005), true));
        arrivals.extend((301..320u16).map(|s| (s, ms(2_020 + 20 * u64::from(s - 301)), false)));
        let out = run(JitterConfig::AUDIO, &arrivals);
        assert!(out.contains(&250), "the answer is released: {out:?}");
        let after: Vec<u16> = out.into_iter().filter(|&s| s >= 300).collect();
        assert_eq!(after, (300..320).collect::<Vec<u16>>());
    }

    /// Model: one sender restarting its numbers (RFC 3550 A.1) at a
    /// random place, more than 3,000 from where it was, the wrap
    /// included; one to three runs of late packets of the numbering it
    /// left (2 to 11 each, in order, past its highest) arrive among the
    /// new ones within 600 ms of the restart, at 50 or 1,000 packets/s.
    /// Every packet of both numberings is released once, in order, and
    /// no late packet is.
    #[test]
    fn model_late_packets_after_a_restart_release_each_packet_once_in_order() {
        let mut rng: u64 = 0x1234_5678_9abc_def1;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut failures = Vec::new();
        for case in 0..300u32 {
            let high_rate = case % 2 == 1;
            let spacing_us: u64 = if high_rate { 1000 } else { 20_000 };
            let old_start = next(65_536) as u16;
            let new_start = old_start.wrapping_add(3_200 + next(59_000) as u16);
            let (old_len, new_len) = (50u16, 300u16);
            let at = |i: u64| Duration::from_micros(i * spacing_us);
            let mut arrivals: Vec<Arrival> = (0..old_len)
                .map(|i| (old_start.wrapping_add(i), at(u64::from(i)), false))
                .chain((0..new_len).map(|i| {
                    let s = new_start.wrapping_add(i);
                    (s, at(u64::from(old_len + i)), false)
                }))
                .collect();
            // After the second new packet (the restart), 0.1 ms apart.
            let mut late = old_start.wrapping_add(old_len);
            for _ in 0..1 + next(3) {
                let from = at(u64::from(old_len) + 2) + Duration::from_micros(next(600_000));
                for k in 0..2 + next(10) {
                    arrivals.push((late, from + Duration::from_micros(100 * k), false));
                    late = late.wrapping_add(1);
                }
            }
            arrivals.sort_by_key(|a| a.1);
            let config = if high_rate {
                JitterConfig {
                    packet_is_frame: true,
                    wait_for_keyframe: false,
                    ..JitterConfig::VIDEO
                }
            } else {
                JitterConfig::AUDIO
            };
            let out = run(config, &arrivals);
            let want: Vec<u16> = (0..old_len)
                .map(|i| old_start.wrapping_add(i))
                .chain((0..new_len).map(|i| new_start.wrapping_add(i)))
                .collect();
            if out != want {
                failures.push((case, old_start, new_start, out.len()));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of 300 cases: (case, old start, new start, released) {:?}",
            failures.len(),
            &failures[..failures.len().min(10)]
        );
    }

    /// Model: one sender, no restart, random loss bursts (1..=400),
    /// reordering (up to 8 ms), duplicates (NACK without RTX answered
    /// twice, 60..150 ms later), at 50 or 1,000 packets/s, starting near
    /// the 16-bit wrap. Every frame released is of the real stream, at most
    /// once, in order (unwrapped), and a packet arriving in order right
    /// after its predecessor is released.
    #[test]
    fn model_no_restart_releases_each_packet_once_in_order() {
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut failures = Vec::new();
        for case in 0..300u32 {
            let high_rate = case % 2 == 1;
            let spacing_us: u64 = if high_rate { 1000 } else { 20_000 };
            let start: u16 = 65_000u16.wrapping_add(next(1000) as u16);
            let mut arrivals: Vec<Arrival> = Vec::new();
            let mut i = 0u64;
            let n = 1500u64;
            while i < n {
                if next(200) == 0 {
                    i += 1 + next(400);
                    continue;
                }
                let seq = start.wrapping_add(i as u16);
                let sent = i * spacing_us;
                let jitter = if next(20) == 0 { next(8000) } else { 0 };
                arrivals.push((seq, Duration::from_micros(sent + jitter), false));
                if next(50) == 0 {
                    let rt = 60_000 + next(90_000);
                    arrivals.push((seq, Duration::from_micros(sent + rt), false));
                }
                i += 1;
            }
            arrivals.sort_by_key(|a| a.1);
            let config = if high_rate {
                JitterConfig {
                    packet_is_frame: true,
                    wait_for_keyframe: false,
                    ..JitterConfig::VIDEO
                }
            } else {
                JitterConfig::AUDIO
            };
            let out = run(config, &arrivals);
            let unwrap = |s: u16| u64::from(s.wrapping_sub(start));
            let ok = out.windows(2).all(|w| unwrap(w[1]) > unwrap(w[0]));
            if !ok {
                let bad = out
                    .windows(2)
                    .position(|w| unwrap(w[1]) <= unwrap(w[0]))
                    .unwrap();
                failures.push((case, high_rate, out[bad], out[bad + 1]));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of 300 cases: (case, high rate, released, then) {:?}",
            failures.len(),
            &failures[..failures.len().min(10)]
        );
    }
}

#[cfg(test)]
mod loss_burst_after_restart {
    use super::*;
    use crate::codec::Codec;
    use crate::packet::{PayloadType, RtpPacket};
    use crate::repair::{NackConfig, NackGenerator};

    fn high_rate_video() -> JitterConfig {
        JitterConfig {
            packet_is_frame: true,
            wait_for_keyframe: false,
            ..JitterConfig::VIDEO
        }
    }

    fn packet(seq: u16, payload: &[u8]) -> RtpPacket<'_> {
        RtpPacket::new(
            PayloadType::new(111).unwrap(),
            seq,
            960u32.wrapping_mul(u32::from(seq)),
            1,
            payload,
        )
    }

    /// The arrivals of a sender at 1,000 packets/s that restarts its
    /// numbers 3,149 behind where it was (200 packets of 40,000.., then
    /// 20 of 37,050..), then loses 150 packets (150 ms) and goes on with
    /// 37,220..38,150: (sequence, arrival in ms).
    fn restart_then_loss_burst() -> Vec<(u16, u64)> {
        let old = 40_000..40_200u16;
        let new = (37_050..37_070u16).chain(37_220..38_150);
        old.chain(new)
            .enumerate()
            .map(|(i, s)| {
                let lost = if s >= 37_220 { 150 } else { 0 };
                (s, i as u64 + lost)
            })
            .collect()
    }

    /// RFC 3550 A.1: a loss burst of the new numbering (150 packets, a
    /// gap of at most 3,000 ahead: not a restart) soon after a restart is
    /// waited on and given up as any; the packets after it were received
    /// and are the stream's, not late packets of the numbering left.
    #[test]
    fn a_loss_burst_soon_after_a_restart_loses_only_the_burst() {
        let mut j = JitterBuffer::new(high_rate_video(), Codec::Opus.depacketizer());
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut refused = Vec::new();
        let take = |j: &mut JitterBuffer, out: &mut Vec<u16>| {
            while let Some(e) = j.poll_event() {
                if let JitterEvent::Frame(f) = e {
                    out.push(f.first_sequence);
                }
            }
        };
        let arrivals = restart_then_loss_burst();
        let mut last = t0;
        for &(s, ms) in &arrivals {
            let at = t0 + Duration::from_millis(ms);
            last = at;
            while let Some(due) = j.poll_timeout().filter(|t| *t <= at) {
                j.handle_timeout(due);
                take(&mut j, &mut out);
            }
            if j.insert(at, &packet(s, &[1])) == Inserted::Late {
                refused.push(s);
            }
            take(&mut j, &mut out);
        }
        let end = last + Duration::from_secs(60);
        while let Some(due) = j.poll_timeout().filter(|t| *t <= end) {
            j.handle_timeout(due);
            take(&mut j, &mut out);
        }
        let want: Vec<u16> = arrivals.iter().map(|a| a.0).collect();
        let lost: Vec<u16> = want.iter().copied().filter(|s| !out.contains(s)).collect();
        assert!(
            refused.is_empty() && lost.is_empty(),
            "{} received packets refused as late ({:?}..), {} not released ({:?}..)",
            refused.len(),
            refused.first(),
            lost.len(),
            lost.first()
        );
    }

    /// The NACK generator and the jitter buffer judge the packets after a
    /// loss burst soon after a restart alike: the generator asks for the
    /// burst, so it took the packets after it for the stream's; the
    /// buffer must not refuse them as late (nor the answers to the NACKs
    /// beyond 100 of what it holds), or the generator asks for numbers
    /// whose answers the buffer drops and never asks for what the buffer
    /// dropped.
    #[test]
    fn the_nack_generator_and_the_jitter_buffer_agree_on_a_loss_burst_after_a_restart() {
        let mut j = JitterBuffer::new(high_rate_video(), Codec::Opus.depacketizer());
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        let mut at = t0;
        let mut inserted = Vec::new();
        for (s, ms) in restart_then_loss_burst().into_iter().take(230) {
            at = t0 + Duration::from_millis(ms);
            g.on_packet(at, s);
            inserted.push((s, j.insert(at, &packet(s, &[1]))));
            while j.poll_event().is_some() {}
        }
        let asked = g.poll_nack(at + Duration::from_millis(10), Duration::from_millis(50));
        assert_eq!(
            asked,
            (37_070..37_220).collect::<Vec<u16>>(),
            "the burst is asked for"
        );
        let answer = j.insert_retransmission(at, &packet(37_200, &[1]));
        let refused: Vec<u16> = inserted
            .iter()
            .filter(|(_, r)| *r == Inserted::Late)
            .map(|(s, _)| *s)
            .collect();
        assert!(
            refused.is_empty() && answer != Inserted::Late,
            "asked for by the generator, yet the buffer refuses {} packets after the burst \
             ({:?}..) and the answer for 37,200 ({answer:?})",
            refused.len(),
            refused.first()
        );
    }
}
