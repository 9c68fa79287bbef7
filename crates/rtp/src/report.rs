//! Reception statistics and reports (RFC 3550 §6.4, appendix A.3 and A.8),
//! sender reports with the NTP/RTP timestamp mapping, and the round-trip
//! time from a report block. The wall clock is always passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::rtcp::{ReportBlock, SenderReport};
use crate::seq::{FarNumbers, IN_FLIGHT, LeftNumberings, MAX_DROPOUT};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// An NTP timestamp (RFC 3550 §4): 32.32 fixed-point seconds since 1900.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// The NTP time of a wall-clock instant the caller read.
    pub fn from_system_time(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        Self((d.as_secs() + NTP_UNIX_OFFSET) << 32 | frac)
    }

    /// The middle 32 bits (RFC 3550 §6.4.1, LSR): 16.16 seconds.
    pub fn middle(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// 1/65536 s units (RFC 3550 §6.4.1, DLSR) of a duration, saturating.
fn to_1_65536(d: Duration) -> u32 {
    u32::try_from(d.as_nanos() * 65_536 / 1_000_000_000).unwrap_or(u32::MAX)
}

fn from_1_65536(units: u32) -> Duration {
    Duration::from_nanos(u64::from(units) * 1_000_000_000 / 65_536)
}

/// The round-trip time from a report block about our stream (RFC 3550
/// §6.4.1): arrival time minus LSR minus DLSR, with `arrival` the NTP time
/// at which the report arrived. `None` without an SR echoed (LSR 0) or when
/// the clocks make it negative.
pub fn round_trip_time(arrival: NtpTime, block: &ReportBlock) -> Option<Duration> {
    if block.last_sr == 0 {
        return None;
    }
    let rtt = arrival
        .middle()
        .wrapping_sub(block.last_sr)
        .wrapping_sub(block.delay_since_last_sr);
    (rtt as i32 >= 0).then(|| from_1_65536(rtt))
}

/// Sequence number state of RFC 3550 A.1.
#[derive(Debug, Clone, Copy)]
struct SeqState {
    base_seq: u16,
    max_seq: u16,
    /// Shifted count of sequence number cycles.
    cycles: u32,
    /// The last "bad" sequence number plus one (A.1).
    bad_seq: u32,
}

/// RFC 3550 A.1: the furthest back a packet is taken as reordered.
const MAX_MISORDER: u32 = 100;

/// Statistics of one received RTP stream (RFC 3550 A.3, A.8), and its
/// report block.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    ssrc: u32,
    clock_rate: u32,
    /// A.1 state once the first packet is seen.
    seq: Option<SeqState>,
    /// The numberings left at the latest restarts, whose late packets
    /// are not a restart back.
    left: LeftNumberings,
    /// The latest far numbers not yet believed, as the NACK generator
    /// keeps them; forgotten at the stream's next in-order packet.
    far: FarNumbers,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter times 16 (A.8).
    jitter_q4: u32,
    epoch: Option<Instant>,
    transit: Option<u32>,
    last_sr: Option<(u32, Instant)>,
}

impl ReceiveStats {
    /// Statistics for `ssrc` with a media clock of `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        Self {
            ssrc,
            clock_rate,
            seq: None,
            left: LeftNumberings::default(),
            far: FarNumbers::default(),
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter_q4: 0,
            epoch: None,
            transit: None,
            last_sr: None,
        }
    }

    /// Counts a received packet and updates the interarrival jitter (A.8)
    /// with its arrival time and RTP timestamp. Retransmissions should not
    /// be passed here: their arrival says nothing of the network's jitter.
    ///
    /// Sequence numbers follow RFC 3550 A.1: a jump of 3,000 or more ahead
    /// (or more than 100 behind) is not counted unless a packet follows
    /// it (the next number after it or after one of the last few far
    /// numbers near it: a restart's first packets may come reordered), in
    /// which case the source restarted and the statistics start over.
    /// For a second after a restart, a far packet within 3,000 behind or
    /// 100 ahead of the highest number of the numbering left, nearer it
    /// than the stream's highest, is a late packet of it: not counted,
    /// never a restart back (the jitter buffer's and the NACK generator's
    /// rule, so that all three follow a restart once).
    /// Returns whether the packet was counted.
    pub fn on_packet(&mut self, now: Instant, sequence: u16, rtp_timestamp: u32) -> bool {
        if !self.track_sequence(now, sequence) {
            return false;
        }
        self.count(now, rtp_timestamp);
        true
    }

    /// Counts a received packet of the stream whose RTP timestamp does not
    /// follow the media clock at its sending (an RFC 4733 telephone event
    /// repeats its start timestamp in every update, §2.5.1.2): its sequence
    /// number counts for loss (A.1, A.3), not for the interarrival jitter
    /// (A.8). `now` is its arrival, for the sequence rules of
    /// [`Self::on_packet`]. Returns whether it was counted.
    pub fn on_untimed_packet(&mut self, now: Instant, sequence: u16) -> bool {
        if !self.track_sequence(now, sequence) {
            return false;
        }
        self.received += 1;
        true
    }

    /// RFC 3550 A.1 update_seq: whether the packet counts.
    fn track_sequence(&mut self, now: Instant, sequence: u16) -> bool {
        let Some(state) = &mut self.seq else {
            self.restart(sequence);
            return true;
        };
        let delta = sequence.wrapping_sub(state.max_seq);
        // A.1 as written (far: 3,000 ahead, 100 behind), not the jitter
        // buffer's or the NACK generator's reach: these counts are the
        // report block's, which the peer reads as A.1 defines them (see
        // `seq::MAX_DROPOUT` for the three engines' "far").
        if delta < MAX_DROPOUT {
            // In order, with a permissible gap: beyond what was in flight
            // (IN_FLIGHT), a late packet of a numbering left is no
            // jump of the stream.
            if delta > IN_FLIGHT && self.left.late(now, sequence, delta as i16) {
                return false;
            }
            self.far.clear();
            if sequence < state.max_seq {
                // The extended highest sequence number is 32 bits (RFC
                // 3550 §6.4.1): its cycle count wraps too.
                state.cycles = state.cycles.wrapping_add(1 << 16);
            }
            state.max_seq = sequence;
        } else if u32::from(delta) <= (1 << 16) - MAX_MISORDER {
            if self.left.late(now, sequence, delta as i16) {
                // A late packet of the numbering the sender left just
                // before: not a restart back to it (A.1's probation alone
                // would take two of them in order for one).
                return false;
            }
            // A very large jump: believe it on the second packet in a row.
            // A.1 `bad_seq`, kept for the last few far numbers near each
            // other (a restart's first packets may come reordered).
            if u32::from(sequence) == state.bad_seq || self.far.confirmed_by(sequence) {
                let left = state.max_seq;
                self.far.clear();
                self.restart(sequence);
                self.left.restarted(now, left);
            } else {
                state.bad_seq = (u32::from(sequence) + 1) & 0xffff;
                self.far.remember(sequence);
                return false;
            }
        }
        // Otherwise a duplicate or a reordered packet: counted as received.
        true
    }

    fn restart(&mut self, sequence: u16) {
        // RFC 3550 A.1 init_seq.
        self.seq = Some(SeqState {
            base_seq: sequence,
            max_seq: sequence,
            cycles: 0,
            bad_seq: 1 << 16 | 1,
        });
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.transit = None;
    }

    fn count(&mut self, now: Instant, rtp_timestamp: u32) {
        self.received += 1;
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = (now.saturating_duration_since(epoch).as_nanos()
            * u128::from(self.clock_rate)
            / 1_000_000_000) as u32;
        let transit = arrival.wrapping_sub(rtp_timestamp);
        if let Some(prev) = self.transit {
            // A.8: J += (|D| - J) / 16, in fixed point with 4 fraction bits.
            // In 64 bits and saturated: timestamps that jump by 2^31
            // (a hostile or broken sender) must not wrap the estimate.
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            let j = u64::from(self.jitter_q4);
            self.jitter_q4 = u32::try_from(j + d - ((j + 8) >> 4)).unwrap_or(u32::MAX);
        }
        self.transit = Some(transit);
    }

    /// The same statistics for the stream now at `clock_rate` (a codec
    /// change on the SSRC): losses and sequence state go on; the jitter,
    /// in the old clock's units, starts over (RFC 3550 A.8).
    pub fn at_clock_rate(mut self, clock_rate: u32) -> Self {
        if clock_rate != self.clock_rate {
            self.clock_rate = clock_rate;
            self.jitter_q4 = 0;
            self.transit = None;
            self.epoch = None;
        }
        self
    }

    /// Records a sender report from this source for LSR/DLSR.
    pub fn on_sender_report(&mut self, now: Instant, sr: &SenderReport) {
        self.last_sr = Some((NtpTime(sr.ntp_time).middle(), now));
    }

    /// The interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Packets received (duplicates included, as A.3 counts).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The extended highest sequence number (A.1): cycles in the high 16
    /// bits.
    pub fn extended_highest(&self) -> u32 {
        self.seq.map_or(0, |s| s.cycles | u32::from(s.max_seq))
    }

    fn expected(&self) -> u64 {
        // A.3: extended_max - base_seq + 1.
        self.seq.map_or(0, |s| {
            u64::from(s.cycles) + u64::from(s.max_seq) - u64::from(s.base_seq) + 1
        })
    }

    /// Packets lost so far (A.3): expected minus received; negative with
    /// duplicates.
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// The report block for this source at `now` (RFC 3550 §6.4.1, A.3),
    /// starting a new interval for the fraction lost.
    pub fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior.min(expected);
        let received_interval = self.received - self.received_prior.min(self.received);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => (lsr, to_1_65536(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            // A.3: clamped to the 24-bit signed field.
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            extended_highest_sequence: self.extended_highest(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// What a sender counts for its reports (RFC 3550 §6.4.1), and the round-
/// trip time from the report blocks that echo its reports.
#[derive(Debug, Clone)]
pub struct SendStats {
    ssrc: u32,
    clock_rate: u32,
    packets: u32,
    octets: u32,
    last: Option<(u32, Instant)>,
    /// The LSR value and send time of recent SRs, newest last.
    sent_reports: VecDeque<(u32, Instant)>,
    rtt: Option<Duration>,
}

impl SendStats {
    /// Counters for `ssrc` with a media clock of `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        Self {
            ssrc,
            clock_rate,
            packets: 0,
            octets: 0,
            last: None,
            sent_reports: VecDeque::new(),
            rtt: None,
        }
    }

    /// The same stream's state at `clock_rate`: the counts and the reports
    /// sent go on (RFC 3550 §6.4.1: they restart only with a new SSRC); the
    /// RTP time mapping, at the old clock, is dropped.
    pub fn at_clock_rate(mut self, clock_rate: u32) -> Self {
        if clock_rate != self.clock_rate {
            self.clock_rate = clock_rate;
            self.last = None;
        }
        self
    }

    /// Counts a sent packet: its RTP timestamp and payload length.
    pub fn on_packet_sent(&mut self, now: Instant, rtp_timestamp: u32, payload_len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.last = Some((rtp_timestamp, now));
    }

    /// A sender report at `now`, with `wall` the wall-clock time the caller
    /// read at the same instant: the NTP time and the RTP timestamp of that
    /// instant, extrapolated from the last packet sent (RFC 3550 §6.4.1).
    pub fn sender_report(&mut self, now: Instant, wall: SystemTime) -> SenderReport {
        let ntp = NtpTime::from_system_time(wall);
        let rtp_time = match self.last {
            Some((ts, at)) => {
                let elapsed = now.saturating_duration_since(at);
                ts.wrapping_add(
                    (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32,
                )
            }
            None => 0,
        };
        self.sent_reports.push_back((ntp.middle(), now));
        if self.sent_reports.len() > 16 {
            self.sent_reports.pop_front();
        }
        SenderReport {
            ssrc: self.ssrc,
            ntp_time: ntp.0,
            rtp_time,
            packet_count: self.packets,
            octet_count: self.octets,
            reports: Vec::new(),
        }
    }

    /// Takes a report block about this stream and updates the round-trip
    /// time: the time since the SR it echoes, minus the receiver's delay.
    /// Returns the new RTT, `None` if the block echoes no SR of ours.
    pub fn on_report_block(&mut self, now: Instant, block: &ReportBlock) -> Option<Duration> {
        if block.ssrc != self.ssrc || block.last_sr == 0 {
            return None;
        }
        let &(_, sent) = self
            .sent_reports
            .iter()
            .rev()
            .find(|(lsr, _)| *lsr == block.last_sr)?;
        let rtt = now
            .saturating_duration_since(sent)
            .saturating_sub(from_1_65536(block.delay_since_last_sr));
        self.rtt = Some(rtt);
        Some(rtt)
    }

    /// The last round-trip time measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn untimed_packets_count_for_loss_but_not_for_jitter() {
        let t0 = Instant::now();
        let mut s = ReceiveStats::new(1, 8000);
        // Audio every 20 ms, exactly on time: no jitter.
        for i in 0..5u16 {
            s.on_packet(t0 + MS * 20 * u32::from(i), i, 160 * u32::from(i));
        }
        // Telephone events with one start timestamp, 50 ms apart.
        for i in 5..10u16 {
            assert!(s.on_untimed_packet(t0 + MS * (100 + 10 * u32::from(i)), i));
        }
        s.on_packet(t0 + MS * 200, 10, 1600);
        assert_eq!(s.jitter(), 0);
        assert_eq!(s.cumulative_lost(), 0);
        assert_eq!(s.received(), 11);
        s.on_packet(t0 + MS * 220, 12, 1760);
        assert_eq!(s.cumulative_lost(), 1, "the skipped 11 is lost");
    }

    #[test]
    fn jitter_follows_the_a8_recurrence() {
        // 8 kHz clock: 1 ms is 8 units. Packets every 20 ms (160 units);
        // the second arrives 2 ms late: D = 16, J = 16/16 = 1.
        let mut s = ReceiveStats::new(1, 8000);
        let t0 = Instant::now();
        s.on_packet(t0, 0, 0);
        s.on_packet(t0 + 22 * MS, 1, 160);
        assert_eq!(s.jitter(), 1);
        // Then on time again: D = 16 once more: J = 1 + (16 - 1)/16 -> 31/16.
        s.on_packet(t0 + 40 * MS, 2, 320);
        assert_eq!(s.jitter_q4, 16 + 16 - 1);
        // Constant transit lets it decay.
        for i in 3..200u16 {
            s.on_packet(t0 + u32::from(i) * 20 * MS, i, u32::from(i) * 160);
        }
        assert_eq!(s.jitter(), 0);
    }

    #[test]
    fn timestamps_jumping_by_half_their_range_saturate_the_jitter_without_overflow() {
        let mut s = ReceiveStats::new(1, 90_000);
        let t = Instant::now();
        // One arrival instant: each |D| is the timestamp step, 2^31 at
        // most. The fourth step brings the estimate (16 J) to u32::MAX;
        // adding to it used to overflow.
        let j2: u64 = (1 << 32) - (1 << 27);
        let steps = [
            0,
            1 << 31,
            1 << 31,
            ((u64::from(u32::MAX) - j2) + ((j2 + 8) >> 4)) as u32,
        ];
        let mut ts = 0u32;
        for (seq, step) in (1..).zip(steps) {
            ts = ts.wrapping_add(step);
            assert!(s.on_packet(t, seq, ts));
        }
        assert_eq!(s.jitter(), u32::MAX >> 4);
        // The next packet, in step: the estimate decays by a sixteenth.
        assert!(s.on_packet(t, 5, ts));
        assert_eq!(s.jitter(), (u32::MAX - (1 << 28)) >> 4);
    }

    #[test]
    fn loss_counts_follow_a3_across_the_wrap_with_fraction_per_interval() {
        let mut s = ReceiveStats::new(9, 90000);
        let t0 = Instant::now();
        // 65530..=65535, 0..=9 expected (16); 4 of them lost.
        for seq in (65530..=65535)
            .chain(0..10)
            .filter(|s| ![65533, 1, 2, 3].contains(s))
        {
            s.on_packet(t0, seq, 0);
        }
        let b = s.report_block(t0);
        assert_eq!(b.cumulative_lost, 4);
        assert_eq!(b.fraction_lost, 64); // 4/16 of 256
        // One wrap: cycles 1, highest 9.
        assert_eq!(b.extended_highest_sequence, 0x0001_0009);
        // A clean interval reports no fraction lost, the cumulative stays.
        for seq in 10..20 {
            s.on_packet(t0, seq, 0);
        }
        let b = s.report_block(t0);
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 4));
        // A duplicate makes the interval's loss negative: fraction 0.
        s.on_packet(t0, 19, 0);
        let b = s.report_block(t0);
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 3));
    }

    #[test]
    fn a_large_jump_counts_only_when_the_next_packet_follows_it_as_a1_says() {
        let mut s = ReceiveStats::new(1, 90000);
        let t0 = Instant::now();
        for seq in 100..110 {
            assert!(s.on_packet(t0, seq, 0));
        }
        // A stray packet far ahead is not counted and changes nothing.
        assert!(!s.on_packet(t0, 20_000, 0));
        assert_eq!((s.received(), s.extended_highest()), (10, 109));
        // A packet less than 100 behind is reordered: counted as received.
        assert!(s.on_packet(t0, 50, 0));
        assert_eq!(s.received(), 11);
        // Two in a row after a jump: the source restarted.
        assert!(!s.on_packet(t0, 40_000, 0));
        assert!(s.on_packet(t0, 40_001, 0));
        assert_eq!(
            (s.received(), s.extended_highest(), s.cumulative_lost()),
            (1, 40_001, 0)
        );
        assert!(s.on_packet(t0, 40_003, 0));
        assert_eq!(s.cumulative_lost(), 1);
    }

    /// RFC 3550 A.1 `init_seq`, as the jitter buffer and the NACK
    /// generator follow it: late packets of the numbering a sender left,
    /// in order (two in order pass A.1's probation), arriving within a
    /// second of its restart behind the first new packets, are not a
    /// restart back: the statistics start over once, at the restart, and
    /// the extended highest sequence number and the packets lost stay the
    /// new numbering's.
    #[test]
    fn late_packets_of_the_numbering_left_do_not_restart_the_statistics_back() {
        let mut s = ReceiveStats::new(1, 90000);
        let t0 = Instant::now();
        let mut at = t0;
        let mut arrive = |s: &mut ReceiveStats, seq: u16| {
            at += 20 * MS;
            (s.on_packet(at, seq, 0), s.report_block(at))
        };
        for seq in 100..199 {
            arrive(&mut s, seq);
        }
        // The sender restarts at 10,000; 199 and 200 come late, after
        // the first new packets; 10,010 is lost.
        let new = (10_000..10_021u16).filter(|&q| q != 10_010);
        let arrivals: Vec<u16> = new
            .clone()
            .take(3)
            .chain([199, 200])
            .chain(new.skip(3))
            .collect();
        let mut highest = 0;
        for seq in arrivals {
            let (counted, b) = arrive(&mut s, seq);
            if seq == 10_000 {
                // Not believed yet (A.1 probation).
                continue;
            }
            assert!(
                b.extended_highest_sequence >= highest && (0..=1).contains(&b.cumulative_lost),
                "after {seq}: extended highest {}, lost {}",
                b.extended_highest_sequence,
                b.cumulative_lost
            );
            highest = b.extended_highest_sequence;
            assert_eq!(counted, seq > 1_000, "{seq} counted");
        }
        // From 10,001 (A.1 counts from the packet that confirmed the
        // restart): 20 expected, 19 received.
        assert_eq!(
            (s.extended_highest(), s.received(), s.cumulative_lost()),
            (10_020, 19, 1)
        );
    }

    /// RFC 3550 A.1, as the jitter buffer and the NACK generator follow
    /// it: a sender restarts its numbers 3,010 below its highest, and two
    /// late packets of the numbering it left come once the new numbering
    /// has come within 3,000 of them (still within the second). They are
    /// late there too: not an in-order jump of 2,990 that counts them as
    /// the stream's highest and makes the new numbering's next packets
    /// late in turn.
    #[test]
    fn late_packets_of_the_numbering_left_are_no_in_order_jump_after_a_restart_lower() {
        let mut s = ReceiveStats::new(1, 90000);
        let t0 = Instant::now();
        let mut at = t0;
        let mut arrive = |s: &mut ReceiveStats, seq: u16| {
            at += 5 * MS;
            s.on_packet(at, seq, 0)
        };
        for seq in 39_990..40_010 {
            arrive(&mut s, seq);
        }
        for seq in 37_000..37_020 {
            arrive(&mut s, seq);
        }
        assert!(!arrive(&mut s, 40_010), "late");
        assert!(!arrive(&mut s, 40_011), "late");
        for seq in 37_020..37_030 {
            assert!(arrive(&mut s, seq), "{seq} is the stream's");
        }
        // From 37,001, which confirmed the restart.
        assert_eq!(
            (s.extended_highest(), s.received(), s.cumulative_lost()),
            (37_029, 29, 0)
        );
    }

    /// RFC 3550 A.1 `init_seq`, as the jitter buffer and the NACK
    /// generator follow it: a sender that restarts its numbers, its new
    /// packets reordered in pairs (10,001, 10,000, 10,003, 10,002, ...),
    /// is followed by the statistics too: the receiver reports' extended
    /// highest sequence number is the new numbering's.
    #[test]
    fn receive_stats_follow_a_restart_whose_packets_come_reordered_in_pairs() {
        let mut s = ReceiveStats::new(1, 90000);
        let t0 = Instant::now();
        let mut at = t0;
        for seq in 100..200 {
            at += 20 * MS;
            s.on_packet(at, seq, 0);
        }
        for i in 0..100u16 {
            at += 20 * MS;
            s.on_packet(at, 10_000 + (i ^ 1), 0);
        }
        assert!(
            s.extended_highest() >= 10_090,
            "extended highest {}",
            s.extended_highest()
        );
    }

    /// RFC 3550 A.1: more than a second after a restart, a sender going
    /// back to the numbering it left is followed as any restart (two
    /// packets in order), never refused for good.
    #[test]
    fn a_sender_going_back_to_the_numbering_it_left_after_a_second_is_followed() {
        let mut s = ReceiveStats::new(1, 90000);
        let t0 = Instant::now();
        for seq in 100..110 {
            s.on_packet(t0, seq, 0);
        }
        for seq in 10_000..10_010 {
            s.on_packet(t0 + 100 * MS, seq, 0);
        }
        assert!(
            !s.on_packet(t0 + 500 * MS, 110, 0),
            "late within the second"
        );
        let later = t0 + 1200 * MS;
        assert!(!s.on_packet(later, 111, 0));
        assert!(s.on_packet(later, 112, 0));
        assert_eq!((s.extended_highest(), s.received()), (112, 1));
    }

    #[test]
    fn lsr_and_dlsr_echo_the_last_sender_report() {
        let mut s = ReceiveStats::new(9, 90000);
        let t0 = Instant::now();
        s.on_packet(t0, 1, 0);
        assert_eq!(s.report_block(t0).last_sr, 0);
        let sr = SenderReport {
            ssrc: 9,
            ntp_time: 0x1234_5678_9abc_def0,
            ..SenderReport::default()
        };
        s.on_sender_report(t0, &sr);
        let b = s.report_block(t0 + 500 * MS);
        assert_eq!(b.last_sr, 0x5678_9abc);
        assert_eq!(b.delay_since_last_sr, 32768);
    }

    #[test]
    fn rtt_is_arrival_minus_lsr_minus_dlsr() {
        // The example of RFC 3550 §6.4.1 (Figure 2): A 0xb710:8000,
        // LSR 0xb705:2000, DLSR 0x0005:4000 (5.25 s).
        let block = ReportBlock {
            last_sr: 0xb705_2000,
            delay_since_last_sr: 0x0005_4000,
            ..ReportBlock::default()
        };
        let arrival = NtpTime(0xb710_8000u64 << 16);
        // 0xb710_8000 - 0xb705_2000 - 0x0005_4000 = 0x0006_2000 = 6.125 s.
        assert_eq!(
            round_trip_time(arrival, &block),
            Some(Duration::from_millis(6125))
        );
        assert_eq!(round_trip_time(arrival, &ReportBlock::default()), None);
    }

    #[test]
    fn sender_report_maps_wall_clock_to_extrapolated_rtp_time_and_measures_rtt() {
        let mut s = SendStats::new(7, 90000);
        let t0 = Instant::now();
        s.on_packet_sent(t0, 1000, 1200);
        s.on_packet_sent(t0, 1000, 800);
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + 250 * MS;
        let sr = s.sender_report(t0 + 100 * MS, wall);
        assert_eq!(sr.rtp_time, 1000 + 9000);
        assert_eq!((sr.packet_count, sr.octet_count), (2, 2000));
        assert_eq!(sr.ntp_time >> 32, 1_700_000_000 + NTP_UNIX_OFFSET);
        assert_eq!(sr.ntp_time as u32, 1 << 30);
        // The receiver holds it 20 ms; the report arrives 70 ms after the SR.
        let block = ReportBlock {
            ssrc: 7,
            last_sr: NtpTime(sr.ntp_time).middle(),
            delay_since_last_sr: to_1_65536(20 * MS),
            ..ReportBlock::default()
        };
        let rtt = s.on_report_block(t0 + 170 * MS, &block).unwrap();
        assert!(rtt.abs_diff(50 * MS) < MS, "{rtt:?}");
        assert_eq!(s.rtt(), Some(rtt));
    }
}
