//! The receive side of transport-wide congestion control
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2): record the
//! transport-wide sequence number and arrival time of every packet, and
//! report them back in transport-cc feedback (§3.1) about once an interval
//! (with the first packet after it, or on a timer once packets stop) or
//! once enough packets are waiting.

use std::time::{Duration, Instant};

use crate::rtcp::TransportFeedback;
use crate::seq::SeqUnwrapper;
use crate::seqmap::SeqMap;

/// How a [`FeedbackGenerator`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackConfig {
    /// The SSRC the feedback is sent from.
    pub sender_ssrc: u32,
    /// The media SSRC field (libwebrtc puts the first media SSRC; 0 works).
    pub media_ssrc: u32,
    /// Feedback is due this often while packets arrive (libwebrtc: 50..250 ms
    /// by rate; the draft suggests one per frame or per RTT); it leaves with
    /// the first packet after, or half an interval later on the timer.
    pub interval: Duration,
    /// Feedback is sent at once when this many packets wait; also the most
    /// statuses in one feedback packet (keeps it within an MTU).
    pub max_packets: usize,
    /// How long an arrival is kept after it was reported, so a packet
    /// reordered behind a feedback is still reported with its neighbours.
    pub keep: Duration,
    /// The most arrivals held at once (oldest dropped first).
    pub max_arrivals: usize,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        Self {
            sender_ssrc: 0,
            media_ssrc: 0,
            interval: Duration::from_millis(50),
            max_packets: 200,
            keep: Duration::from_millis(500),
            max_arrivals: 4096,
        }
    }
}

/// What a [`FeedbackGenerator`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedbackCounters {
    /// Packets recorded.
    pub packets: u64,
    /// Packets whose sequence number had already arrived (not recorded again).
    pub duplicates: u64,
    /// Packets too old to report (before everything still held).
    pub too_old: u64,
    /// Feedback packets produced.
    pub feedback_sent: u64,
}

/// Records arrivals and produces transport-cc feedback.
///
/// Drive order: [`on_packet`](Self::on_packet) for each received packet that
/// carries the transport-wide sequence extension; then
/// [`poll_feedback`](Self::poll_feedback) until `None`; then
/// [`poll_timeout`](Self::poll_timeout), calling `poll_feedback` again when
/// that instant comes.
#[derive(Debug)]
pub struct FeedbackGenerator {
    config: FeedbackConfig,
    unwrapper: SeqUnwrapper,
    /// Arrival times by unwrapped sequence number, in nanoseconds from
    /// `origin` (in order: appended, forgotten from the front, no
    /// allocation per packet; 16 bytes an entry, and no arithmetic on
    /// instants per packet reported).
    arrivals: SeqMap<i64>,
    /// The arrivals of the feedback being built, kept for the next one.
    scratch: Vec<Option<i64>>,
    /// The first sequence number the next feedback reports.
    next_unreported: Option<u64>,
    /// Packets recorded since the last feedback.
    pending: usize,
    /// The origin of the microsecond clock the feedback reports in.
    origin: Option<Instant>,
    /// When feedback is due if packets wait: one interval after the last
    /// feedback was due, or after it left when it left early or more than
    /// an interval late (before the first: after `origin`); kept, so
    /// `poll_feedback` after every packet compares one instant.
    due_at: Option<Instant>,
    feedback_count: u8,
    counters: FeedbackCounters,
}

impl FeedbackGenerator {
    /// A generator with `config`.
    pub fn new(config: FeedbackConfig) -> Self {
        Self {
            config: FeedbackConfig {
                max_packets: config.max_packets.clamp(1, 0xffff),
                max_arrivals: config.max_arrivals.max(1),
                ..config
            },
            unwrapper: SeqUnwrapper::default(),
            arrivals: SeqMap::default(),
            scratch: Vec::new(),
            next_unreported: None,
            pending: 0,
            origin: None,
            due_at: None,
            feedback_count: 0,
            counters: FeedbackCounters::default(),
        }
    }

    /// What was counted so far.
    pub fn counters(&self) -> FeedbackCounters {
        self.counters
    }

    /// A packet with transport-wide sequence number `seq` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, seq: u16) {
        let ext = self.unwrapper.unwrap(seq);
        if self.arrivals.contains(ext) {
            self.counters.duplicates += 1;
            return;
        }
        let oldest = self.arrivals.first().map(|(seq, _)| seq);
        if let (Some(next), Some(oldest)) = (self.next_unreported, oldest)
            && ext < next
            && ext < oldest
        {
            // Reported as lost already, and its neighbours are gone.
            self.counters.too_old += 1;
            return;
        }
        let origin = match self.origin {
            Some(origin) => origin,
            None => {
                self.origin = Some(now);
                // The first feedback goes one interval after the first packet.
                self.due_at = now.checked_add(self.config.interval);
                now
            }
        };
        self.arrivals.insert(ext, nanos_since(origin, now));
        self.counters.packets += 1;
        self.pending += 1;
        match self.next_unreported {
            // A packet reordered behind a feedback: report again from it.
            Some(next) if ext < next => self.next_unreported = Some(ext),
            Some(_) => {}
            None => self.next_unreported = Some(ext),
        }
        while self.arrivals.len() > self.config.max_arrivals {
            self.arrivals.pop_first();
        }
        if let Some((first, _)) = self.arrivals.first() {
            self.next_unreported = self.next_unreported.map(|n| n.max(first));
        }
    }

    /// When feedback is due, if packets wait: one interval after the last.
    fn due(&self) -> Option<Instant> {
        if self.pending == 0 {
            return None;
        }
        self.due_at
    }

    /// When [`Self::poll_feedback`] must be called again, if packets wait:
    /// half an interval after feedback is due. Feedback that is due goes
    /// out with the next packet that arrives (`poll_feedback` after each
    /// `on_packet`), so while a stream flows its feedback leaves as its
    /// packets come in, not on a wake-up of its own (a stream with a
    /// packet less than half an interval apart never needs the timer); the
    /// timer sends
    /// what waits when packets stop.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due().map(|t| t + self.config.interval / 2)
    }

    /// The next feedback packet, if one is due at `now` (the interval has
    /// passed, or `max_packets` wait).
    pub fn poll_feedback(&mut self, now: Instant) -> Option<TransportFeedback> {
        let due = self.due().is_some_and(|t| t <= now) || self.pending >= self.config.max_packets;
        if !due {
            return None;
        }
        let feedback = self.build(now);
        if feedback.is_none() {
            self.pending = 0;
        }
        feedback
    }

    fn build(&mut self, now: Instant) -> Option<TransportFeedback> {
        // The next one is due an interval after this one was due, when it
        // left late with a packet (within an interval): a flowing stream
        // keeps the interval on average. Early (`max_packets`) or much
        // later: from now.
        let interval = self.config.interval;
        let counted_from = match self.due() {
            Some(due) if due <= now && now < due + interval => due,
            _ => now,
        };
        let origin = self.origin?;
        let highest = self.arrivals.last_key()?;
        let mut start = self.next_unreported?;
        // Start at the first packet still held (a long run of losses before
        // it is not worth reporting packet by packet).
        let (first_held, _) = self.arrivals.first_from(start)?;
        if first_held - start >= self.config.max_packets as u64 {
            start = first_held;
        }
        let end = highest.min(start + self.config.max_packets as u64 - 1);
        let mut arrivals = std::mem::take(&mut self.scratch);
        arrivals.clear();
        let mut at = start;
        for (seq, &time) in self.arrivals.range(start..=end) {
            arrivals.extend(std::iter::repeat_n(None, (seq - at) as usize));
            // Whole microseconds since the origin, none before it.
            arrivals.push(Some(time.max(0) / 1_000));
            at = seq + 1;
        }
        let feedback = TransportFeedback::from_arrivals(
            self.config.sender_ssrc,
            self.config.media_ssrc,
            start as u16,
            self.feedback_count,
            &arrivals,
        );
        self.feedback_count = self.feedback_count.wrapping_add(1);
        self.counters.feedback_sent += 1;
        self.next_unreported = Some(end + 1);
        self.scratch = arrivals;
        self.pending = self.arrivals.count_from(end + 1);
        self.due_at = counted_from.checked_add(interval);
        // Forget arrivals reported long enough ago (`now - time > keep`;
        // an arrival after `now` is no age).
        let now = nanos_since(origin, now);
        let keep = i64::try_from(self.config.keep.as_nanos()).unwrap_or(i64::MAX);
        while let Some((seq, &time)) = self.arrivals.first() {
            if seq <= end && now.saturating_sub(time) > keep {
                self.arrivals.pop_first();
            } else {
                break;
            }
        }
        Some(feedback)
    }
}

/// `t - origin` in nanoseconds, negative before `origin` (saturating
/// at ±292 years).
fn nanos_since(origin: Instant, t: Instant) -> i64 {
    match t.checked_duration_since(origin) {
        Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        None => i64::try_from(origin.duration_since(t).as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn feedback_reports_each_arrival_and_marks_gaps_lost() {
        let t0 = Instant::now();
        let mut g = FeedbackGenerator::new(FeedbackConfig::default());
        g.on_packet(t0, 10);
        g.on_packet(t0 + ms(5), 11);
        g.on_packet(t0 + ms(12), 13);
        assert!(g.poll_feedback(t0 + ms(20)).is_none());
        // Due at 50 ms; the timer waits 25 ms more for a packet to carry it.
        assert_eq!(g.poll_timeout(), Some(t0 + ms(75)));
        let fb = g.poll_feedback(t0 + ms(50)).unwrap();
        assert_eq!(fb.base_sequence, 10);
        let a = fb.arrivals();
        assert_eq!(a.len(), 4);
        assert_eq!(a[1].unwrap() - a[0].unwrap(), 5_000);
        assert_eq!(a[2], None);
        assert_eq!(a[3].unwrap() - a[0].unwrap(), 12_000);
        assert!(g.poll_feedback(t0 + ms(200)).is_none());
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn a_steady_stream_carries_its_feedback_out_and_the_timer_only_sends_what_waits_when_it_stops()
    {
        let t0 = Instant::now();
        let mut g = FeedbackGenerator::new(FeedbackConfig::default());
        let mut sent_at = Vec::new();
        // A packet every 20 ms for 1 s: feedback leaves as packets arrive,
        // before the timer is ever due.
        for i in 0..50u16 {
            let now = t0 + ms(20 * u64::from(i));
            if g.poll_timeout().is_some_and(|t| t <= now) {
                panic!("the timer came due at {:?} while packets flowed", now - t0);
            }
            g.on_packet(now, i);
            if g.poll_feedback(now).is_some() {
                sent_at.push(now - t0);
            }
        }
        // Due at 50, 100, 150, ...: each leaves with the first packet from
        // then on, and the next is due an interval after this one was.
        assert_eq!(sent_at.first(), Some(&ms(60)));
        assert_eq!(sent_at.len(), 19, "{sent_at:?}");
        assert!(
            sent_at.iter().all(|t| t.as_millis() % 50 <= 10),
            "{sent_at:?}"
        );
        // The stream stops at 980 ms: what waits goes on the timer, half an
        // interval after it was due at 1,000 ms.
        let t = g.poll_timeout().expect("arrivals wait");
        assert_eq!(t, t0 + ms(1025));
        assert!(g.poll_feedback(t).is_some());
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn a_packet_reordered_behind_a_feedback_is_reported_in_the_next_one() {
        let t0 = Instant::now();
        let mut g = FeedbackGenerator::new(FeedbackConfig::default());
        g.on_packet(t0, 1);
        g.on_packet(t0 + ms(1), 3);
        let first = g.poll_feedback(t0 + ms(50)).unwrap();
        assert_eq!(first.arrivals()[1], None);
        g.on_packet(t0 + ms(60), 2);
        g.on_packet(t0 + ms(61), 4);
        let second = g.poll_feedback(t0 + ms(100)).unwrap();
        assert_eq!(second.base_sequence, 2);
        assert_eq!(second.feedback_count, 1);
        assert!(second.arrivals().iter().all(Option::is_some));
        assert_eq!(second.arrivals().len(), 3);
    }

    #[test]
    fn duplicates_are_counted_once_and_sequence_numbers_unwrap() {
        let t0 = Instant::now();
        let mut g = FeedbackGenerator::new(FeedbackConfig::default());
        g.on_packet(t0, 65535);
        g.on_packet(t0, 65535);
        g.on_packet(t0 + ms(1), 0);
        assert_eq!(g.counters().duplicates, 1);
        let fb = g.poll_feedback(t0 + ms(50)).unwrap();
        assert_eq!(fb.base_sequence, 65535);
        assert_eq!(fb.arrivals().len(), 2);
    }

    #[test]
    fn enough_waiting_packets_make_feedback_due_at_once_and_bounded_in_size() {
        let t0 = Instant::now();
        let config = FeedbackConfig {
            max_packets: 10,
            ..FeedbackConfig::default()
        };
        let mut g = FeedbackGenerator::new(config);
        for s in 0..25u16 {
            g.on_packet(t0, s);
        }
        let a = g.poll_feedback(t0).unwrap();
        let b = g.poll_feedback(t0).unwrap();
        assert_eq!((a.packets.len(), b.packets.len()), (10, 10));
        assert_eq!(b.base_sequence, 10);
        assert!(g.poll_feedback(t0).is_none());
        assert_eq!(g.poll_feedback(t0 + ms(50)).unwrap().packets.len(), 5);
    }

    #[test]
    fn a_long_stream_is_reported_whole_across_wraps_and_expired_arrivals_are_forgotten() {
        let t0 = Instant::now();
        let mut g = FeedbackGenerator::new(FeedbackConfig::default());
        let mut now = t0;
        let mut seq = 65_000u16;
        let mut next_base = seq;
        let mut reported = 0usize;
        for i in 0..200_000u32 {
            // Every 100th packet is overtaken by the next one.
            if i % 100 == 50 {
                g.on_packet(now, seq.wrapping_add(1));
                g.on_packet(now, seq);
                seq = seq.wrapping_add(2);
            } else {
                g.on_packet(now, seq);
                seq = seq.wrapping_add(1);
            }
            now += Duration::from_micros(250);
            while let Some(fb) = g.poll_feedback(now) {
                assert_eq!(fb.base_sequence, next_base, "feedback {i}");
                let a = fb.arrivals();
                assert!(a.iter().all(Option::is_some), "nothing was lost");
                reported += a.len();
                next_base = next_base.wrapping_add(a.len() as u16);
            }
        }
        assert_eq!(reported + g.pending, 200_000 + 2_000);
        assert_eq!(g.counters().duplicates, 0);
        // Only the last `keep` of arrivals (plus one interval) is held.
        assert!(
            g.arrivals.len() <= 4 * (500 + 50) + 200,
            "{}",
            g.arrivals.len()
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_sequence_numbers() {
        let t0 = Instant::now();
        let config = FeedbackConfig {
            max_arrivals: 100,
            ..FeedbackConfig::default()
        };
        let mut g = FeedbackGenerator::new(config);
        for s in 0..10_000u32 {
            g.on_packet(t0, (s * 7) as u16);
        }
        assert!(g.arrivals.len() <= 100);
        while g.poll_feedback(t0 + ms(50)).is_some() {}
    }

    #[test]
    fn an_arrival_before_the_first_is_reported_at_the_origin() {
        let t0 = Instant::now();
        let mut g = FeedbackGenerator::new(FeedbackConfig::default());
        g.on_packet(t0 + ms(10), 0);
        // The caller's clock stepped back: not before the origin on the wire.
        g.on_packet(t0, 1);
        g.on_packet(t0 + ms(10) + Duration::from_micros(1_999), 2);
        let fb = g.poll_feedback(t0 + ms(60)).unwrap();
        assert_eq!(fb.base_sequence, 0);
        let a = fb.arrivals();
        assert_eq!(a[0], a[1]);
        assert_eq!(a[2].unwrap() - a[1].unwrap(), 2_000, "1,999 µs, to 250 µs");
    }

    #[test]
    fn a_reported_arrival_is_held_until_older_than_keep() {
        let t0 = Instant::now();
        let mut g = FeedbackGenerator::new(FeedbackConfig {
            max_packets: 1,
            ..FeedbackConfig::default()
        });
        let keep = FeedbackConfig::default().keep;
        for (seq, at) in [(0, t0), (1, t0 + keep)] {
            g.on_packet(at, seq);
            assert!(g.poll_feedback(at).is_some());
        }
        assert_eq!(g.arrivals.len(), 2, "exactly `keep` old: held");
        let later = t0 + keep + Duration::from_nanos(1);
        g.on_packet(later, 2);
        assert!(g.poll_feedback(later).is_some());
        assert_eq!(g.arrivals.first().map(|(s, _)| s & 0xffff), Some(1));
    }
}
