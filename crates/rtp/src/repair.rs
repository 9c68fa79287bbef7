//! Loss repair: NACK generation on the receive side (RFC 4585 §6.2.1), a
//! send history that answers NACKs, RTX (RFC 4588) wrapping and
//! unwrapping, and keyframe requests (PLI, FIR) when a frame cannot be
//! decoded.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::packet::{PayloadType, RtpPacket, WriteError};
use crate::plain::PlainPacket;
use crate::seq::{self, FAR_COMPANION, FarNumbers, IN_FLIGHT, LeftNumberings, SeqUnwrapper};

/// Packets of the stream after which the far numbers whose successor did
/// not come are forgotten (see [`NackGenerator::on_packet`]).
const JUMP_PATIENCE: u8 = 8;

/// RFC 3550 A.1 `MAX_DROPOUT`: a believed jump of more than this many
/// numbers, ahead or behind, is a sender that restarted its numbers (the
/// jitter buffer's rule too), not a gap to ask for.
const MAX_DROPOUT: u64 = seq::MAX_DROPOUT as u64;

/// Limits of a [`NackGenerator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackConfig {
    /// How many times one packet is asked for before it is given up.
    pub max_retries: u8,
    /// The most missing packets tracked; a larger gap gives the oldest up.
    pub max_missing: usize,
    /// How long a gap may be reordering before the first NACK.
    pub reorder_delay: Duration,
    /// The least time between two requests for one packet, used when the
    /// round-trip time is smaller or unknown.
    pub min_interval: Duration,
}

impl Default for NackConfig {
    /// 10 retries, 1,000 missing packets, 5 ms reorder delay, 20 ms minimum
    /// interval.
    fn default() -> Self {
        Self {
            max_retries: 10,
            max_missing: 1000,
            reorder_delay: Duration::from_millis(5),
            min_interval: Duration::from_millis(20),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    detected: Instant,
    last_asked: Option<Instant>,
    asked: u8,
}

/// Decides which lost packets of one stream to ask for again (RFC 4585
/// §6.2.1 generic NACK) and when: each missing sequence number is asked for
/// after a short reorder delay, again once per round-trip time, up to a
/// retry limit.
#[derive(Debug, Clone)]
pub struct NackGenerator {
    config: NackConfig,
    seq: SeqUnwrapper,
    /// The highest sequence number believed: gaps below it are tracked.
    highest: Option<u64>,
    /// The latest far numbers (see [`Self::on_packet`]), not yet
    /// believed, oldest first: one is confirmed when the number after it
    /// comes.
    far: FarNumbers,
    /// Packets of the stream since the latest far number came.
    jump_misses: u8,
    /// The numberings left at the latest restarts, whose late packets
    /// are not a restart back.
    left: LeftNumberings,
    missing: BTreeMap<u64, Missing>,
    given_up: u64,
    recovered: u64,
}

impl NackGenerator {
    /// A generator with `config`.
    pub fn new(config: NackConfig) -> Self {
        Self {
            config,
            seq: SeqUnwrapper::default(),
            highest: None,
            far: FarNumbers::default(),
            jump_misses: 0,
            left: LeftNumberings::default(),
            missing: BTreeMap::new(),
            given_up: 0,
            recovered: 0,
        }
    }

    /// Records a received sequence number; returns whether it was one
    /// being asked for. A retransmission unwrapped from RTX goes to
    /// [`Self::on_retransmission`].
    ///
    /// A number far from the stream is believed only when the number after
    /// it comes within a few packets (RFC 3550 A.1 `update_seq` treats a
    /// large jump so; late packets of the old numbering may come between): one
    /// stray number must not become the highest, or the real stream's
    /// losses below it would go unseen until the stream passed it. The
    /// last few far numbers are remembered, so that a new numbering whose
    /// first packets come reordered (10,001, 10,000, 10,003, 10,002) is
    /// believed at the first number whose predecessor came before it, as
    /// the jitter buffer follows it. The far numbers kept are near each
    /// other (a far number more than 32 from the last one kept starts
    /// the list again) and are not unwrapped until believed, so strays of
    /// other numberings neither confirm each other nor move the stream's
    /// reference. Far is
    /// more than `max_missing` ahead (a believed gap that large is given
    /// up whole) or more than 3,000 (A.1 `MAX_DROPOUT`) behind. A believed
    /// jump beyond 3,000 either way is a sender that restarted its numbers
    /// (A.1 `init_seq`, as the jitter buffer takes it): what was missing of
    /// the old numbering is given up, and the stream goes on from the new
    /// numbers, its losses asked for as before. For a second after the
    /// restart, a number far or more than 100 ahead (past what was in
    /// flight, as the jitter buffer and the receive statistics judge it)
    /// within 3,000 behind or 100 ahead of the old numbering's highest is
    /// a late packet of it (reordered behind the first new ones), ignored:
    /// not a restart back nor a gap to ask for; after that second, a
    /// sender going back to its old numbering is followed as any restart.
    pub fn on_packet(&mut self, now: Instant, sequence: u16) -> bool {
        self.record(now, sequence, false)
    }

    /// Records a retransmission (the original sequence number unwrapped
    /// from RTX, RFC 4588 §4); returns whether it was one being asked for.
    /// A retransmission is late by nature: one far from the stream is an
    /// answer for numbers given up, never a jump nor a restart of the
    /// sender's numbers (two late answers in a row are not a new
    /// numbering).
    pub fn on_retransmission(&mut self, now: Instant, sequence: u16) -> bool {
        self.record(now, sequence, true)
    }

    fn record(&mut self, now: Instant, sequence: u16, retransmission: bool) -> bool {
        let ext = self.seq.peek(sequence);
        if self.missing.remove(&ext).is_some() {
            self.recovered += 1;
            return true;
        }
        let Some(high) = self.highest else {
            self.highest = Some(self.seq.unwrap(sequence));
            return false;
        };
        // Far ahead is past `max_missing`, not past 100 as in the jitter
        // buffer: a loss burst it can track is asked for from the first
        // packet after it, not a packet later, when a retransmission can
        // still come in time; a larger gap would be given up whole, so
        // it can wait for the packet after. Behind, within A.1
        // `MAX_DROPOUT`, a packet is late (at most it recovers a missing
        // one). See `seq::MAX_DROPOUT` for the three engines' "far".
        let far = if ext > high {
            ext - high - 1 > self.config.max_missing as u64
        } else {
            high - ext > MAX_DROPOUT
        };
        if far && retransmission {
            return false;
        }
        // Past what was in flight beyond the highest, as the jitter buffer
        // and the receive statistics ask, not only past `max_missing`: a
        // late packet there is no gap of the stream either.
        let beyond_in_flight = ext > high + u64::from(IN_FLIGHT);
        if (far || beyond_in_flight)
            && self
                .left
                .late(now, sequence, sequence.wrapping_sub(high as u16) as i16)
        {
            // RFC 3550 A.1: a late packet of the numbering the sender left
            // just before, not a restart back to it nor a jump whose gap
            // is asked for (the jitter buffer drops it as late).
            return false;
        }
        if far {
            // RFC 3550 A.1 `bad_seq`: believed when the number after a
            // far one comes.
            if !self.far.confirmed_by(sequence) {
                self.far.remember(sequence);
                self.jump_misses = 0;
                return false;
            }
            self.jump(now, high, ext, sequence);
            return false;
        }
        // A number of the stream: far ones before it were strays unless
        // the number after one comes within a few packets (a restart's
        // first new packets may be interleaved with late old ones);
        // strays the stream moved on from are forgotten, as the jitter
        // buffer forgets them.
        if !self.far.is_empty() {
            self.jump_misses += 1;
            if self.jump_misses > JUMP_PATIENCE {
                self.far.clear();
            }
        }
        self.seq.unwrap(sequence);
        if ext <= high {
            return false;
        }
        self.received_up_to(now, ext);
        false
    }

    /// A far jump confirmed by `sequence` (extended `ext`), the number
    /// after a far one remembered, with `high` the highest believed so
    /// far. The far numbers remembered near it are the new numbers' first
    /// packets, received (they may have come reordered): the stream goes
    /// on from the lowest of them, and the numbers between them that did
    /// not come are missing.
    fn jump(&mut self, now: Instant, high: u64, ext: u64, sequence: u16) {
        // Each received number of the jump, as its distance from
        // `sequence`, lowest first.
        let mut near: Vec<i16> = self
            .far
            .iter()
            .map(|f| f.wrapping_sub(sequence) as i16)
            .filter(|d| d.unsigned_abs() <= FAR_COMPANION)
            .chain([0])
            .collect();
        near.sort_unstable();
        self.far.clear();
        // At least the number before `sequence` is in.
        let lowest = near.first().copied().unwrap_or(0);
        let first = if ext < high || ext - high > MAX_DROPOUT {
            // RFC 3550 A.1: the sender restarted its numbers. Nothing of
            // the old numbering is asked for across the jump, and its
            // late packets are not a restart back for a while. The new
            // numbers count on above the old ones, from the lowest
            // received. The numbers across the jump were never sent: no
            // loss, nothing given up but what was missing.
            self.left.restarted(now, high as u16);
            self.given_up += self.missing.len() as u64;
            self.missing.clear();
            self.seq.restart_at(sequence.wrapping_add_signed(lowest))
        } else {
            // A gap beyond what is tracked is given up whole.
            let first = ext.saturating_sub(u64::from(lowest.unsigned_abs()));
            self.given_up += first.saturating_sub(high + 1);
            first
        };
        self.highest = Some(first.max(high));
        for d in near {
            let at = first + d.abs_diff(lowest) as u64;
            self.seq.unwrap(sequence.wrapping_add_signed(d));
            if self.highest.is_some_and(|h| at > h) {
                self.received_up_to(now, at);
            }
        }
    }

    /// `ext`, above the highest believed, came: it is the highest, and
    /// the numbers between are missing.
    fn received_up_to(&mut self, now: Instant, ext: u64) {
        let high = self.highest.unwrap_or(ext);
        self.highest = Some(ext);
        for s in high + 1..ext {
            self.missing.insert(
                s,
                Missing {
                    detected: now,
                    last_asked: None,
                    asked: 0,
                },
            );
        }
        while self.missing.len() > self.config.max_missing {
            self.missing.pop_first();
            self.given_up += 1;
        }
    }

    fn due(&self, m: &Missing, rtt: Duration) -> Instant {
        match m.last_asked {
            None => m.detected + self.config.reorder_delay,
            Some(t) => t + rtt.max(self.config.min_interval),
        }
    }

    /// The sequence numbers to ask for now, given the round-trip time; each
    /// is counted as asked. Packets past the retry limit are given up.
    pub fn poll_nack(&mut self, now: Instant, rtt: Duration) -> Vec<u16> {
        let mut out = Vec::new();
        let mut expired = Vec::new();
        let max = self.config.max_retries;
        let due: Vec<u64> = self
            .missing
            .iter()
            .filter(|(_, m)| self.due(m, rtt) <= now)
            .map(|(&s, _)| s)
            .collect();
        for s in due {
            let Some(m) = self.missing.get_mut(&s) else {
                continue;
            };
            if m.asked >= max {
                expired.push(s);
                continue;
            }
            m.asked += 1;
            m.last_asked = Some(now);
            out.push(s as u16);
        }
        for s in expired {
            self.missing.remove(&s);
            self.given_up += 1;
        }
        out
    }

    /// When [`Self::poll_nack`] next has something to do.
    pub fn poll_timeout(&self, rtt: Duration) -> Option<Instant> {
        self.missing.values().map(|m| self.due(m, rtt)).min()
    }

    /// Stops asking for `sequence` and every number before it: the
    /// receiver moved past them (the jitter buffer gave them up or
    /// released a frame after them), so a retransmission would come too
    /// late to be used (RFC 4585 §6.2.1 asks only for what can still
    /// help). Those still missing count as given up.
    pub fn give_up_through(&mut self, sequence: u16) {
        let ext = self.seq.peek(sequence);
        if self.highest.is_none_or(|h| ext > h) {
            // Beyond what this generator believes (a jump it has not
            // taken yet): nothing it tracks is known to be before it.
            return;
        }
        // Every released frame comes here: with nothing asked for at or
        // before it (the usual case) there is nothing to split off.
        if self.missing.first_key_value().is_none_or(|(k, _)| *k > ext) {
            return;
        }
        let kept = self.missing.split_off(&ext.saturating_add(1));
        let dropped = std::mem::replace(&mut self.missing, kept);
        self.given_up += dropped.len() as u64;
    }

    /// Sequence numbers currently missing.
    pub fn missing_count(&self) -> usize {
        self.missing.len()
    }

    /// Packets given up: past the retry limit, beyond the most tracked
    /// (a gap too large), given up through a point, or missing of the
    /// numbering a sender left at a restart. The numbers a restart jumps
    /// over were never sent: not counted (RFC 3550 A.1).
    pub fn given_up(&self) -> u64 {
        self.given_up
    }

    /// Missing packets that arrived later.
    pub fn recovered(&self) -> u64 {
        self.recovered
    }
}

/// Limits of a [`SendHistory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// The most packets kept.
    pub max_packets: usize,
    /// The oldest a kept packet may be.
    pub max_age: Duration,
}

impl Default for HistoryConfig {
    /// 1,024 packets, 1 s.
    fn default() -> Self {
        Self {
            max_packets: 1024,
            max_age: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone)]
struct Sent {
    /// Extended sequence number.
    ext: u64,
    packet: PlainPacket,
    sent: Instant,
    last_resent: Option<Instant>,
}

/// The packets one stream sent recently, to answer NACKs (RFC 4585 §6.2.1)
/// with retransmissions, bounded by count and age.
///
/// It keeps each packet as it left, before SRTP: the caller hands the
/// packet over once it has been protected into the datagram. A packet
/// cut from a frame shares the frame's bytes ([`PlainPacket`]; every
/// codec's payloader but AV1's cuts so), so
/// keeping it costs a small record, not a copy of its media, however many
/// streams sent the frame. A ring in sending order (sequence numbers only
/// grow on a stream), found by binary search.
#[derive(Debug, Clone)]
pub struct SendHistory {
    config: HistoryConfig,
    seq: SeqUnwrapper,
    packets: VecDeque<Sent>,
}

impl SendHistory {
    /// An empty history.
    pub fn new(config: HistoryConfig) -> Self {
        Self {
            config,
            seq: SeqUnwrapper::default(),
            packets: VecDeque::new(),
        }
    }

    /// Keeps a packet (the whole RTP packet, before SRTP) that left at
    /// `now`; a packet kept for the same sequence number is replaced.
    pub fn insert(&mut self, now: Instant, sequence: u16, packet: PlainPacket) {
        let ext = self.seq.unwrap(sequence);
        let sent = Sent {
            ext,
            packet,
            sent: now,
            last_resent: None,
        };
        match self.packets.back() {
            None => self.packets.push_back(sent),
            Some(last) if last.ext < ext => self.packets.push_back(sent),
            // A sequence number sent again or out of order: keep the order.
            Some(_) => match self.packets.binary_search_by_key(&ext, |s| s.ext) {
                Ok(i) => self.packets[i] = sent,
                Err(i) => self.packets.insert(i, sent),
            },
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while self.packets.len() > self.config.max_packets {
            self.packets.pop_front();
        }
        while let Some(first) = self.packets.front() {
            if now.saturating_duration_since(first.sent) <= self.config.max_age {
                break;
            }
            self.packets.pop_front();
        }
        if self.packets.is_empty() && self.packets.capacity() > 0 {
            // An idle stream keeps nothing.
            self.packets = VecDeque::new();
        }
    }

    /// The packet with `sequence` to send again, unless it is gone or was
    /// already resent less than `rtt` ago (a repeated NACK the first
    /// retransmission answers).
    pub fn resend(&mut self, now: Instant, sequence: u16, rtt: Duration) -> Option<&PlainPacket> {
        self.expire(now);
        let ext = self.seq.peek(sequence);
        let i = self.packets.binary_search_by_key(&ext, |s| s.ext).ok()?;
        let sent = &mut self.packets[i];
        if sent
            .last_resent
            .is_some_and(|t| now.saturating_duration_since(t) < rtt)
        {
            return None;
        }
        sent.last_resent = Some(now);
        Some(&sent.packet)
    }

    /// Packets kept.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

/// How a decoder asks its sender for a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeMethod {
    /// Picture loss indication (RFC 4585 §6.3.1), what browsers send.
    Pli,
    /// Full intra request (RFC 5104 §4.3.1), where `ccm fir` is negotiated.
    Fir,
}

/// Turns "a keyframe is needed" (from the jitter buffer) into PLI or FIR
/// packets, at most one per interval (RFC 4585 §3.4 asks receivers not to
/// repeat requests faster than the sender can answer; one round-trip time
/// at least). A FIR carries a sequence number that grows with every FIR
/// sent (RFC 5104 §4.3.1.1): a FIR sent again after an interval without
/// a keyframe is a new request, since the keyframe that answered the last
/// one may be what was lost, and a media sender acts once per number (as
/// ferrtc's and libwebrtc's do).
#[derive(Debug, Clone)]
pub struct KeyframeRequester {
    method: KeyframeMethod,
    sender_ssrc: u32,
    media_ssrc: u32,
    last: Option<Instant>,
    fir_sequence: u8,
    pending: bool,
}

impl KeyframeRequester {
    /// A requester for the stream `media_ssrc`, sending as `sender_ssrc`.
    pub fn new(method: KeyframeMethod, sender_ssrc: u32, media_ssrc: u32) -> Self {
        Self {
            method,
            sender_ssrc,
            media_ssrc,
            last: None,
            fir_sequence: 0,
            pending: false,
        }
    }

    /// A keyframe is needed: requests go out until one arrives.
    pub fn request(&mut self) {
        self.pending = true;
    }

    /// A keyframe arrived: stop asking.
    pub fn keyframe_received(&mut self) {
        self.pending = false;
    }

    /// When a pending request held back by the interval may go: `interval`
    /// after the last one sent. `None` when nothing is pending, or when a
    /// pending request may go at once (at the next [`Self::poll_request`]).
    pub fn poll_timeout(&self, interval: Duration) -> Option<Instant> {
        if !self.pending {
            return None;
        }
        self.last.map(|t| t + interval)
    }

    /// The request to send now, if one is pending and the last was sent at
    /// least `interval` ago (pass the RTT, or more); repeats until
    /// [`Self::keyframe_received`].
    pub fn poll_request(
        &mut self,
        now: Instant,
        interval: Duration,
    ) -> Option<crate::rtcp::RtcpPacket> {
        use crate::rtcp::{Fir, FirEntry, Pli, RtcpPacket};
        if !self.pending
            || self
                .last
                .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            return None;
        }
        self.last = Some(now);
        self.fir_sequence = self.fir_sequence.wrapping_add(1);
        Some(match self.method {
            KeyframeMethod::Pli => RtcpPacket::Pli(Pli {
                sender_ssrc: self.sender_ssrc,
                media_ssrc: self.media_ssrc,
            }),
            KeyframeMethod::Fir => RtcpPacket::Fir(Fir {
                sender_ssrc: self.sender_ssrc,
                entries: vec![FirEntry {
                    ssrc: self.media_ssrc,
                    sequence: self.fir_sequence,
                }],
            }),
        })
    }
}

/// Why an RTX packet could not be unwrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtxError {
    /// No original sequence number: a padding-only packet (RFC 4588 §4, as
    /// used for bandwidth probing).
    #[error("RTX packet without an original sequence number")]
    NoOriginalSequence,
}

/// Writes the RTX packet (RFC 4588 §4) that retransmits `original` on the
/// RTX stream: same timestamp, marker, CSRCs and extensions; the RTX SSRC,
/// payload type and sequence number; the payload the original sequence
/// number (OSN) followed by the original payload. Returns its length.
pub fn wrap_rtx(
    original: &RtpPacket<'_>,
    rtx_ssrc: u32,
    rtx_payload_type: PayloadType,
    rtx_sequence: u16,
    buf: &mut [u8],
) -> Result<usize, WriteError> {
    let mut p = *original;
    p.ssrc = rtx_ssrc;
    p.payload_type = rtx_payload_type;
    p.sequence_number = rtx_sequence;
    p.payload = &[];
    p.padding = 0;
    let len = p.header_len() + 2 + original.payload.len();
    if buf.len() < len {
        return Err(WriteError::BufferTooSmall {
            needed: len,
            available: buf.len(),
        });
    }
    let at = p.write_header(buf)?;
    buf[at..at + 2].copy_from_slice(&original.sequence_number.to_be_bytes());
    buf[at + 2..len].copy_from_slice(original.payload);
    Ok(len)
}

/// The original packet inside an RTX packet (RFC 4588 §4): the sequence
/// number from the OSN, the SSRC and payload type of the original stream
/// (from the `apt` mapping the caller holds), the payload after the OSN.
pub fn unwrap_rtx<'a>(
    rtx: &RtpPacket<'a>,
    original_ssrc: u32,
    original_payload_type: PayloadType,
) -> Result<RtpPacket<'a>, RtxError> {
    let [a, b, payload @ ..] = rtx.payload else {
        return Err(RtxError::NoOriginalSequence);
    };
    let mut p = *rtx;
    p.sequence_number = u16::from_be_bytes([*a, *b]);
    p.ssrc = original_ssrc;
    p.payload_type = original_payload_type;
    p.payload = payload;
    p.padding = 0;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::ExtensionId;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn numbers_given_up_through_a_point_are_no_longer_asked_for() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        g.on_packet(t0, 65530);
        g.on_packet(t0, 4); // 65531..=65535, 0..=3 missing
        assert_eq!(g.missing_count(), 9);
        g.give_up_through(1);
        assert_eq!(g.missing_count(), 2);
        assert_eq!(g.given_up(), 7);
        assert_eq!(g.poll_nack(t0 + 5 * MS, 100 * MS), vec![2, 3]);
        // A number past the highest believed gives nothing up.
        g.give_up_through(2000);
        assert_eq!(g.missing_count(), 2);
    }

    #[test]
    fn a_gap_is_asked_for_after_the_reorder_delay_then_once_per_rtt() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        g.on_packet(t0, 65534);
        g.on_packet(t0, 2); // 65535, 0, 1 missing
        assert_eq!(g.missing_count(), 3);
        assert!(g.poll_nack(t0 + 4 * MS, 100 * MS).is_empty());
        assert_eq!(g.poll_timeout(100 * MS), Some(t0 + 5 * MS));
        assert_eq!(g.poll_nack(t0 + 5 * MS, 100 * MS), vec![65535, 0, 1]);
        assert!(g.poll_nack(t0 + 104 * MS, 100 * MS).is_empty());
        assert!(g.on_packet(t0 + 50 * MS, 0));
        assert_eq!(g.poll_nack(t0 + 105 * MS, 100 * MS), vec![65535, 1]);
        // With a tiny RTT the minimum interval spaces the requests.
        assert!(g.poll_nack(t0 + 110 * MS, MS).is_empty());
        assert_eq!(g.poll_nack(t0 + 125 * MS, MS), vec![65535, 1]);
        assert_eq!(g.recovered(), 1);
    }

    #[test]
    fn a_packet_is_given_up_after_the_retry_limit() {
        let config = NackConfig {
            max_retries: 2,
            ..NackConfig::default()
        };
        let mut g = NackGenerator::new(config);
        let t0 = Instant::now();
        g.on_packet(t0, 1);
        g.on_packet(t0, 3);
        let mut asked = 0;
        for i in 1..10 {
            asked += g.poll_nack(t0 + i * 50 * MS, 40 * MS).len();
        }
        assert_eq!(asked, 2);
        assert_eq!(g.missing_count(), 0);
        assert_eq!(g.given_up(), 1);
    }

    #[test]
    fn a_jump_beyond_max_missing_is_believed_on_the_next_packet_and_its_gap_given_up() {
        let mut g = NackGenerator::new(NackConfig {
            max_missing: 100,
            ..NackConfig::default()
        });
        let t0 = Instant::now();
        g.on_packet(t0, 0);
        // Within 3,000 (RFC 3550 A.1 `MAX_DROPOUT`): a loss burst.
        g.on_packet(t0, 2000);
        assert_eq!(
            (g.missing_count(), g.given_up()),
            (0, 0),
            "not believed yet"
        );
        g.on_packet(t0, 2001);
        // 1..=1999: more than can be tracked, and seconds old.
        assert_eq!((g.missing_count(), g.given_up()), (0, 1999));
        g.on_packet(t0, 2003);
        assert_eq!(g.poll_nack(t0 + 10 * MS, MS), vec![2002]);
    }

    #[test]
    fn one_stray_number_far_ahead_does_not_hide_the_losses_of_the_stream() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in 0..100u16 {
            g.on_packet(t0, s);
        }
        g.on_packet(t0, 20_100);
        // The stream goes on below the stray and loses 150..160.
        for s in (100..300u16).filter(|s| !(150..160).contains(s)) {
            g.on_packet(t0, s);
        }
        assert_eq!(
            g.poll_nack(t0 + 10 * MS, 100 * MS),
            (150..160).collect::<Vec<u16>>()
        );
        assert_eq!(g.given_up(), 0);
    }

    /// RFC 3550 A.1: a sender that restarts its numbers far lower (more
    /// than `MAX_DROPOUT` behind) is followed once its second packet
    /// comes: the new numbering's losses are asked for, and what was
    /// missing of the old numbering is given up, not asked for across
    /// the jump (the jitter buffer gave it up with the restart).
    #[test]
    fn a_sender_that_restarts_its_numbers_lower_has_its_new_losses_asked_for() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in (40_000..40_010u16).filter(|&s| s != 40_005) {
            g.on_packet(t0, s);
        }
        assert_eq!(g.poll_nack(t0 + 10 * MS, 100 * MS), vec![40_005]);
        // The sender restarts 30,000 lower and loses 10,002.
        for s in [10_000, 10_001, 10_003] {
            g.on_packet(t0 + 20 * MS, s);
        }
        assert_eq!(g.poll_nack(t0 + 200 * MS, 100 * MS), vec![10_002]);
        assert_eq!((g.missing_count(), g.given_up()), (1, 1));
        // The new numbering's numbers given up are followed too.
        g.give_up_through(10_002);
        assert_eq!(g.missing_count(), 0);
    }

    /// RFC 3550 A.1: a believed jump ahead beyond `MAX_DROPOUT` is a
    /// restart too: nothing of the old numbering is asked for after it.
    #[test]
    fn a_sender_that_restarts_its_numbers_far_ahead_is_not_asked_for_its_old_losses() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in (0..10u16).filter(|&s| s != 5) {
            g.on_packet(t0, s);
        }
        for s in [5_000, 5_001, 5_003] {
            g.on_packet(t0 + MS, s);
        }
        assert_eq!(g.poll_nack(t0 + 10 * MS, 100 * MS), vec![5_002]);
    }

    /// RFC 3550 A.1: one packet far behind, not followed by the next, is a
    /// stray (a late duplicate), not a restart: the stream's losses go on
    /// being asked for.
    #[test]
    fn one_stray_number_far_behind_is_not_a_restart() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in 40_000..40_010u16 {
            g.on_packet(t0, s);
        }
        g.on_packet(t0, 10_000);
        for s in (40_010..40_020u16).filter(|&s| s != 40_015) {
            g.on_packet(t0, s);
        }
        assert_eq!(g.poll_nack(t0 + 10 * MS, 100 * MS), vec![40_015]);
        assert_eq!(g.given_up(), 0);
    }

    /// RFC 4588 §4: retransmissions are late by nature; two in a row far
    /// behind (answers for numbers already given up) are not a sender
    /// that restarted its numbers, nor is one far ahead a jump.
    #[test]
    fn late_retransmissions_far_from_the_stream_are_not_a_restart() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in (40_000..40_010u16).filter(|&s| s != 40_005) {
            g.on_packet(t0, s);
        }
        for s in [30_000, 30_001, 50_000, 50_001] {
            assert!(!g.on_retransmission(t0, s));
        }
        g.on_packet(t0, 40_011);
        assert_eq!(g.poll_nack(t0 + 10 * MS, 100 * MS), vec![40_005, 40_010]);
        assert!(g.on_retransmission(t0 + 20 * MS, 40_005));
        assert_eq!(g.recovered(), 1);
    }

    /// RFC 3550 A.1 (as the jitter buffer applies it): a stray far
    /// behind that the stream moved on from long ago is forgotten; a
    /// second stray, one number after it but a hundred packets later, is
    /// not the sender restarting its numbers, and the stream's losses go
    /// on being asked for.
    #[test]
    fn a_stray_far_behind_the_stream_moved_on_from_does_not_confirm_a_later_one() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in 40_000..40_010u16 {
            g.on_packet(t0, s);
        }
        // A late duplicate far behind.
        g.on_packet(t0, 10_000);
        // A hundred packets of the stream, 40,095 lost.
        for s in (40_010..40_110u16).filter(|&s| s != 40_095) {
            g.on_packet(t0, s);
        }
        // Another late duplicate far behind, the number after the first.
        g.on_packet(t0, 10_001);
        for s in 40_110..40_120u16 {
            g.on_packet(t0, s);
        }
        assert_eq!(g.poll_nack(t0 + 10 * MS, 100 * MS), vec![40_095]);
        assert_eq!(g.given_up(), 0);
    }

    /// The same ahead (within 3,000, not a restart): two strays far ahead
    /// a hundred packets apart are not a jump the stream made; the
    /// stream's losses after the second one go on being asked for.
    #[test]
    fn two_strays_far_ahead_far_apart_do_not_move_the_stream() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in 0..10u16 {
            g.on_packet(t0, s);
        }
        g.on_packet(t0, 2_000);
        for s in 10..110u16 {
            g.on_packet(t0, s);
        }
        g.on_packet(t0, 2_001);
        for s in (110..130u16).filter(|&s| s != 120) {
            g.on_packet(t0, s);
        }
        assert_eq!(g.poll_nack(t0 + 10 * MS, 100 * MS), vec![120]);
    }

    /// RFC 3550 A.1 across the 16-bit wrap: a sender that restarts its
    /// numbers lower, the new numbering wrapping soon after.
    #[test]
    fn a_restart_lower_then_the_wrap_has_its_losses_asked_for() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in (5_000..5_010u16).filter(|&s| s != 5_005) {
            g.on_packet(t0, s);
        }
        // 5,006 lower across the wrap, then the new numbering wraps, 1 lost.
        for s in (65_530..=65_535).chain([0, 2]) {
            g.on_packet(t0, s);
        }
        assert_eq!(g.poll_nack(t0 + 10 * MS, 100 * MS), vec![1]);
        assert_eq!((g.missing_count(), g.given_up()), (1, 1));
    }

    /// RFC 3550 A.1: a sender that restarts its numbers far below, its
    /// first new packets interleaved with late packets of the old
    /// numbering (reordering at the switch). The restart is confirmed by
    /// its own consecutive numbers; a loss in the new numbering right
    /// after is asked for.
    #[test]
    fn a_restart_interleaved_with_late_old_packets_is_followed() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        for s in 40_000..40_010u16 {
            g.on_packet(t0, s);
        }
        // New numbering from 10,000; 40,010 and 40,011 arrive late, each
        // behind a packet of the new numbering.
        for s in [10_000, 40_010, 10_001, 40_011, 10_002] {
            g.on_packet(t0, s);
        }
        // 10,003 lost.
        for s in 10_004..10_010u16 {
            g.on_packet(t0, s);
        }
        assert_eq!(g.poll_nack(t0 + 10 * MS, 100 * MS), vec![10_003]);
    }

    /// RFC 3550 A.1 `init_seq`, as the jitter buffer follows it: a
    /// sender that restarts its numbers, its new packets reordered in
    /// pairs from the first (10,001, 10,000, 10,003, 10,002, ...), is
    /// followed: a later loss of the new numbering is asked for, and
    /// nothing the new numbering received is.
    #[test]
    fn a_restart_whose_first_packets_come_reordered_in_pairs_is_followed() {
        // Ahead, and behind with the new numbering across the wrap.
        for restart in [10_000u16, 65_500] {
            let mut g = NackGenerator::new(NackConfig::default());
            let t0 = Instant::now();
            let mut at = t0;
            feed(&mut g, &mut at, 30_000..30_100);
            let lost = restart.wrapping_add(56);
            let new = (0..100u16)
                .map(|i| restart.wrapping_add(i ^ 1))
                .filter(|&s| s != lost);
            feed(&mut g, &mut at, new);
            assert_eq!(
                g.poll_nack(at + 10 * MS, 100 * MS),
                vec![lost],
                "restart at {restart}"
            );
        }
    }

    /// RFC 3550 A.1's probation: two stray packets far from the stream
    /// are a restart only when the second is the number after the first.
    /// Two the other way round, or two apart, are not: the stream's
    /// losses after them go on being asked for.
    #[test]
    fn two_far_packets_not_in_sequence_are_no_restart() {
        for strays in [[20_001, 20_000], [20_000, 20_002], [20_000, 20_000]] {
            let mut g = NackGenerator::new(NackConfig::default());
            let t0 = Instant::now();
            let mut at = t0;
            feed(&mut g, &mut at, 0..10);
            feed(&mut g, &mut at, strays);
            feed(&mut g, &mut at, (10..20).filter(|&s| s != 15));
            assert_eq!(
                g.poll_nack(at + 10 * MS, 100 * MS),
                vec![15],
                "strays {strays:?}"
            );
        }
    }

    /// RFC 3550 A.1: a restart of the sender's numbers is no loss. The
    /// numbers between the old numbering and the new one were never sent
    /// and are not counted as given up, ahead or behind; only what was
    /// missing of the old numbering is.
    #[test]
    fn a_restart_gives_up_only_what_was_missing_of_the_numbering_left() {
        // Ahead, behind across the wrap, behind.
        for restart in [10_000u16, 60_000, 200] {
            let mut g = NackGenerator::new(NackConfig::default());
            let t0 = Instant::now();
            let mut at = t0;
            feed(&mut g, &mut at, (5_000..5_010).filter(|&s| s != 5_005));
            feed(&mut g, &mut at, (0..10).map(|i| restart + i));
            assert_eq!(
                (g.missing_count(), g.given_up()),
                (0, 1),
                "restart at {restart}"
            );
        }
    }

    /// RFC 3550 A.1's probation: two stray packets far ahead of the
    /// stream, not in sequence (20,000 then 40,000, the stream near 10),
    /// are no restart. The stream's losses before them stay asked for,
    /// and nothing is given up.
    #[test]
    fn far_strays_of_two_numberings_among_the_streams_packets_are_no_restart() {
        assert_strays_among_the_stream_are_no_restart(&[20_000, 40_000]);
    }

    /// The stream 0..20 with 5 and 15 lost and `strays` far from it
    /// between 9 and 10: both losses are asked for, nothing is given up
    /// (the strays are no restart).
    fn assert_strays_among_the_stream_are_no_restart(strays: &[u16]) {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        let mut at = t0;
        feed(&mut g, &mut at, (0..10).filter(|&s| s != 5));
        feed(&mut g, &mut at, strays.iter().copied());
        feed(&mut g, &mut at, (10..20).filter(|&s| s != 15));
        assert_eq!(
            (g.poll_nack(at + 10 * MS, 100 * MS), g.given_up()),
            (vec![5, 15], 0),
            "strays {strays:?}"
        );
    }

    /// RFC 3550 A.1's probation (`bad_seq` is the number after the
    /// latest far packet), as the jitter buffer and the receive
    /// statistics apply it: three stray packets far from the stream,
    /// 20,000, 30,000 and 20,001, are no restart. The stream's losses
    /// before and after them are asked for, and nothing is given up.
    #[test]
    fn a_far_stray_between_two_in_sequence_makes_no_restart() {
        assert_strays_among_the_stream_are_no_restart(&[20_000, 30_000, 20_001]);
    }

    /// One stray packet far ahead (32,700 ahead of the stream) is not
    /// believed: a retransmission of a packet the stream lost before it
    /// still answers the request, which is not asked for again.
    #[test]
    fn one_far_stray_does_not_hide_a_retransmission_behind_the_stream() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        let mut at = t0;
        feed(&mut g, &mut at, (30_000..30_100).filter(|&s| s != 30_010));
        feed(&mut g, &mut at, [30_099u16.wrapping_add(32_700)]);
        assert_eq!(g.poll_nack(at, 100 * MS), vec![30_010]);
        assert!(g.on_retransmission(at + 50 * MS, 30_010), "an answer");
        assert!(g.poll_nack(at + 500 * MS, 100 * MS).is_empty());
    }

    /// Feeds `seqs` to `g` one each 20 ms from `*at`, which it moves on.
    fn feed(g: &mut NackGenerator, at: &mut Instant, seqs: impl IntoIterator<Item = u16>) {
        for s in seqs {
            g.on_packet(*at, s);
            *at += 20 * MS;
        }
    }

    /// RFC 3550 A.1: late packets of the numbering a sender left, in
    /// order (two in order pass A.1's probation), reordered behind the
    /// first packets of its new numbering (right after the two that
    /// showed the restart, or ten packets on) and arriving within a
    /// second of the restart, are not a restart back: the new numbering's
    /// losses before and after them are asked for, nothing is given up,
    /// and the late packets are not asked for.
    #[test]
    fn late_packets_of_the_numbering_left_within_a_second_are_not_a_restart_back() {
        for after in [2, 10] {
            let mut g = NackGenerator::new(NackConfig::default());
            let t0 = Instant::now();
            let mut at = t0;
            feed(&mut g, &mut at, 40_000..40_010);
            let new: Vec<u16> = (10_000..10_020u16)
                .filter(|&s| s != 10_005 && s != 10_015)
                .collect();
            feed(&mut g, &mut at, new[..after].iter().copied());
            feed(&mut g, &mut at, 40_010..40_013);
            feed(&mut g, &mut at, new[after..].iter().copied());
            let asked = g.poll_nack(at + 10 * MS, 100 * MS);
            assert_eq!(asked, vec![10_005, 10_015], "late run after {after}");
            assert_eq!(g.given_up(), 0, "late run after {after}");
        }
    }

    /// RFC 3550 A.1, as the jitter buffer and the receive statistics
    /// follow it: a fast sender (4,000 packets/s) restarts its numbers
    /// 3,500 below its highest (10,000), and half a second on, the new
    /// numbering at 8,500, a late packet of the numbering left (9,400),
    /// or a late answer for one, comes 900 ahead of the stream, nearer
    /// the numbering left. It is late: the 899 numbers between, never
    /// sent, are not asked for; the stream's own loss after it is.
    #[test]
    fn a_late_packet_of_the_numbering_left_within_max_missing_ahead_asks_for_nothing() {
        for retransmission in [false, true] {
            let mut g = NackGenerator::new(NackConfig::default());
            let mut at = Instant::now();
            let tick = Duration::from_micros(250);
            for s in (9_990..=10_000).chain(6_500..=8_500) {
                g.on_packet(at, s);
                at += tick;
            }
            if retransmission {
                assert!(!g.on_retransmission(at, 9_400));
            } else {
                assert!(!g.on_packet(at, 9_400));
            }
            // 8,501 lost.
            g.on_packet(at + tick, 8_502);
            assert_eq!(
                g.poll_nack(at + 10 * MS, 100 * MS),
                vec![8_501],
                "retransmission {retransmission}"
            );
        }
    }

    /// As above, the numbering left ending at the 16-bit wrap: its late
    /// packets past the wrap (0, 1, 2) are not a restart back either, and
    /// give nothing more up.
    #[test]
    fn late_packets_of_the_numbering_left_across_the_wrap_are_not_a_restart_back() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        let mut at = t0;
        feed(&mut g, &mut at, 65_526..=65_535);
        // A restart ahead across the wrap.
        feed(&mut g, &mut at, (10_000..10_010).filter(|&s| s != 10_005));
        let given_up = g.given_up();
        feed(&mut g, &mut at, 0..3);
        feed(&mut g, &mut at, (10_010..10_020).filter(|&s| s != 10_015));
        assert_eq!(g.poll_nack(at + 10 * MS, 100 * MS), vec![10_005, 10_015]);
        assert_eq!(g.given_up(), given_up);
    }

    /// RFC 3550 A.1 `init_seq`: a sender that restarts a second time,
    /// within a second of the first restart, to a third numbering is
    /// followed at once; late packets of both numberings it left, coming
    /// after, are not a restart back: the third numbering's losses before
    /// and after them are asked for, and nothing more is given up.
    #[test]
    fn a_second_restart_within_the_second_is_followed_and_both_numberings_left_are_late() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        let mut at = t0;
        feed(&mut g, &mut at, 40_000..40_010);
        feed(&mut g, &mut at, 10_000..10_010);
        feed(&mut g, &mut at, (20_000..20_010).filter(|&s| s != 20_005));
        let given_up = g.given_up();
        feed(&mut g, &mut at, [40_010, 40_011, 10_010, 10_011]);
        feed(&mut g, &mut at, (20_010..20_030).filter(|&s| s != 20_025));
        assert_eq!(g.poll_nack(at + 10 * MS, 100 * MS), vec![20_005, 20_025]);
        assert_eq!(g.given_up(), given_up);
    }

    /// RFC 3550 A.1 `init_seq`: a sender that restarts its numbers twice,
    /// the second time back near its first numbering (within 3,000 behind
    /// its highest) more than a second after the first restart, is
    /// followed there: the losses of its third numbering are asked for.
    #[test]
    fn a_second_restart_back_near_the_first_numbering_after_a_second_asks_for_its_losses() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        let mut at = t0;
        feed(&mut g, &mut at, 40_000..40_010);
        // 1.2 s of the second numbering.
        feed(&mut g, &mut at, 10_000..10_060);
        feed(&mut g, &mut at, (38_000..39_500).filter(|&s| s != 39_400));
        assert_eq!(g.poll_nack(at + 10 * MS, 100 * MS), vec![39_400]);
    }

    /// As above, the sender resuming the numbering it left (the numbers
    /// just past its highest) across the 16-bit wrap: its losses are
    /// asked for.
    #[test]
    fn a_sender_resuming_the_numbering_it_left_after_a_second_across_the_wrap_asks_for_its_losses()
    {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        let mut at = t0;
        feed(&mut g, &mut at, 65_500..=65_530);
        feed(&mut g, &mut at, 10_000..10_060);
        let third = (65_531..=65_535).chain(0..1_000).filter(|&s| s != 900);
        feed(&mut g, &mut at, third);
        assert_eq!(g.poll_nack(at + 10 * MS, 100 * MS), vec![900]);
    }

    /// A sender that resumes the numbering it left within a second of
    /// leaving it cannot be told from late packets of it: they are not
    /// asked for until a second after the restart; then it is followed
    /// as any restart (RFC 3550 A.1, two packets in order) and its losses
    /// are asked for: never a stall for good.
    #[test]
    fn a_sender_resuming_the_numbering_it_left_within_a_second_has_its_losses_asked_for_after_it() {
        let mut g = NackGenerator::new(NackConfig::default());
        let t0 = Instant::now();
        let mut at = t0;
        feed(&mut g, &mut at, 40_000..40_010);
        feed(&mut g, &mut at, 10_000..10_010);
        // From 400 ms; the restart was taken at 220 ms. 40,030 is lost
        // while its numbering is taken for late, 40,100 after.
        let third = (40_010..40_200).filter(|&s| s != 40_030 && s != 40_100);
        feed(&mut g, &mut at, third);
        assert_eq!(g.poll_nack(at + 10 * MS, 100 * MS), vec![40_100]);
    }

    #[test]
    fn the_send_history_answers_once_per_rtt_and_forgets_by_count_and_age() {
        let mut h = SendHistory::new(HistoryConfig {
            max_packets: 3,
            max_age: Duration::from_secs(1),
        });
        let t0 = Instant::now();
        for s in 0..5u16 {
            h.insert(t0, s, vec![s as u8].into());
        }
        assert_eq!(h.len(), 3);
        assert!(h.resend(t0, 1, 50 * MS).is_none());
        assert_eq!(
            h.resend(t0, 3, 50 * MS).map(|p| p.to_vec()).as_deref(),
            Some(&[3][..])
        );
        assert!(h.resend(t0 + 10 * MS, 3, 50 * MS).is_none());
        assert_eq!(
            h.resend(t0 + 50 * MS, 3, 50 * MS)
                .map(|p| p.to_vec())
                .as_deref(),
            Some(&[3][..])
        );
        assert!(
            h.resend(t0 + Duration::from_millis(1001), 4, 50 * MS)
                .is_none()
        );
        assert!(h.is_empty());
    }

    #[test]
    fn the_send_history_finds_packets_across_a_wrap_and_out_of_order_inserts() {
        let mut h = SendHistory::new(HistoryConfig {
            max_packets: 4,
            max_age: Duration::from_secs(1),
        });
        let t0 = Instant::now();
        // Across the 16-bit wrap, one sent out of order, of lengths that
        // differ.
        for s in [65533u16, 65534, 0, 65535, 1, 2] {
            h.insert(t0, s, vec![s as u8; usize::from(s % 7) + 1].into());
        }
        assert_eq!(h.len(), 4);
        assert!(h.resend(t0, 65534, 50 * MS).is_none(), "aged out by count");
        for s in [65535u16, 0, 1, 2] {
            let want = vec![s as u8; usize::from(s % 7) + 1];
            assert_eq!(
                h.resend(t0, s, 50 * MS).map(|p| p.to_vec()).as_deref(),
                Some(&want[..]),
                "{s}"
            );
        }
        // The same number sent again replaces the packet kept for it.
        h.insert(t0 + 100 * MS, 1, b"again".to_vec().into());
        assert_eq!(
            h.resend(t0 + 200 * MS, 1, 50 * MS)
                .map(|p| p.to_vec())
                .as_deref(),
            Some(&b"again"[..])
        );
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn a_steady_stream_keeps_one_second_of_packets_and_reads_them_back_whole() {
        let mut h = SendHistory::new(HistoryConfig::default());
        let t0 = Instant::now();
        // 100 packets a second for 3 s, of changing lengths.
        let packet = |s: u16| vec![s as u8; usize::from(s % 13) * 100 + 1];
        for s in 0..300u16 {
            h.insert(t0 + u32::from(s) * 10 * MS, s, packet(s).into());
        }
        let now = t0 + 2990 * MS;
        assert_eq!(h.len(), 101, "1 s of packets, both ends included");
        assert!(h.resend(now, 198, 50 * MS).is_none(), "aged out");
        for s in 199..300u16 {
            assert_eq!(
                h.resend(now, s, 50 * MS).map(|p| p.to_vec()).as_deref(),
                Some(&packet(s)[..]),
                "{s}"
            );
        }
    }

    #[test]
    fn rtx_carries_the_osn_first_and_a_padding_only_rtx_packet_is_refused() {
        let mut original = RtpPacket::new(PayloadType::new(96).unwrap(), 0x1234, 99, 1, b"media");
        original.marker = true;
        original
            .extensions
            .insert(ExtensionId::new(3).unwrap(), &[7, 7])
            .unwrap();
        let mut buf = [0; 100];
        let len = wrap_rtx(&original, 2, PayloadType::new(97).unwrap(), 500, &mut buf).unwrap();
        let rtx = RtpPacket::parse(&buf[..len]).unwrap();
        assert_eq!(
            (rtx.ssrc, rtx.payload_type.get(), rtx.sequence_number),
            (2, 97, 500)
        );
        assert_eq!(rtx.payload, b"\x12\x34media");
        assert_eq!(
            unwrap_rtx(&rtx, 1, PayloadType::new(96).unwrap()),
            Ok(original)
        );
        let probe = RtpPacket::new(PayloadType::new(97).unwrap(), 501, 99, 2, &[]);
        assert_eq!(
            unwrap_rtx(&probe, 1, PayloadType::new(96).unwrap()),
            Err(RtxError::NoOriginalSequence)
        );
        assert!(
            wrap_rtx(
                &original,
                2,
                PayloadType::new(97).unwrap(),
                500,
                &mut buf[..len - 1]
            )
            .is_err()
        );
    }

    #[test]
    fn a_keyframe_request_held_back_by_the_interval_names_when_it_may_go() {
        let t0 = Instant::now();
        let mut pli = KeyframeRequester::new(KeyframeMethod::Pli, 1, 2);
        assert_eq!(pli.poll_timeout(100 * MS), None, "nothing pending");
        pli.request();
        assert_eq!(pli.poll_timeout(100 * MS), None, "it may go at once");
        assert!(pli.poll_request(t0, 100 * MS).is_some());
        // A keyframe came, then another is wanted within the interval.
        pli.keyframe_received();
        assert_eq!(pli.poll_timeout(100 * MS), None);
        pli.request();
        assert_eq!(pli.poll_request(t0 + 10 * MS, 100 * MS), None);
        assert_eq!(pli.poll_timeout(100 * MS), Some(t0 + 100 * MS));
        assert!(pli.poll_request(t0 + 100 * MS, 100 * MS).is_some());
    }

    #[test]
    fn keyframe_requests_repeat_once_per_interval_until_a_keyframe_and_each_fir_sent_is_numbered_anew()
     {
        use crate::rtcp::{Fir, FirEntry, Pli, RtcpPacket};
        let t0 = Instant::now();
        let mut pli = KeyframeRequester::new(KeyframeMethod::Pli, 1, 2);
        assert_eq!(pli.poll_request(t0, 100 * MS), None);
        pli.request();
        pli.request();
        let want = RtcpPacket::Pli(Pli {
            sender_ssrc: 1,
            media_ssrc: 2,
        });
        assert_eq!(pli.poll_request(t0, 100 * MS), Some(want.clone()));
        assert_eq!(pli.poll_request(t0 + 99 * MS, 100 * MS), None);
        assert_eq!(pli.poll_request(t0 + 100 * MS, 100 * MS), Some(want));
        pli.keyframe_received();
        assert_eq!(pli.poll_request(t0 + 300 * MS, 100 * MS), None);

        let mut fir = KeyframeRequester::new(KeyframeMethod::Fir, 1, 2);
        let entry = |sequence| {
            RtcpPacket::Fir(Fir {
                sender_ssrc: 1,
                entries: vec![FirEntry { ssrc: 2, sequence }],
            })
        };
        fir.request();
        assert_eq!(fir.poll_request(t0, 100 * MS), Some(entry(1)));
        assert_eq!(
            fir.poll_request(t0 + 100 * MS, 100 * MS),
            Some(entry(2)),
            "sent again without a keyframe: a new request, a new number"
        );
        fir.keyframe_received();
        fir.request();
        assert_eq!(fir.poll_request(t0 + 200 * MS, 100 * MS), Some(entry(3)));
    }

    proptest! {
        #[test]
        fn rtx_round_trips_any_packet(seq: u16, ts: u32, marker: bool, payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut original = RtpPacket::new(PayloadType::new(100).unwrap(), seq, ts, 5, &payload);
            original.marker = marker;
            let mut buf = vec![0; 400];
            let len = wrap_rtx(&original, 6, PayloadType::new(101).unwrap(), seq ^ 0x5555, &mut buf).unwrap();
            let rtx = RtpPacket::parse(&buf[..len]).unwrap();
            prop_assert_eq!(unwrap_rtx(&rtx, 5, PayloadType::new(100).unwrap()).unwrap(), original);
        }
    }
}
