//! The sender's record of packets sent with a transport-wide sequence
//! number, matched against transport-cc feedback
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rtcp::TransportFeedback;
use crate::seq::SeqUnwrapper;

/// The probe cluster a packet was sent in, as the pacer tagged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub u32);

/// One packet as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentPacket {
    /// The unwrapped transport-wide sequence number.
    pub seq: u64,
    /// When it left.
    pub send_time: Instant,
    /// Its size in bytes (the whole RTP packet; the estimate counts these).
    pub size: usize,
    /// The probe cluster it belonged to, if any.
    pub probe: Option<ProbeId>,
}

/// A sent packet and what feedback said of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketResult {
    /// The packet.
    pub sent: SentPacket,
    /// Its arrival in microseconds on the receiver's clock (unwrapped
    /// across feedback packets), or `None` if reported lost.
    pub arrival: Option<i64>,
}

/// What one feedback packet said about the packets it names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedbackReport {
    /// Every packet reported that this history knew, in sequence order.
    /// A packet reported received earlier is left out when reported again.
    pub packets: Vec<PacketResult>,
    /// The sent time of the newest packet reported received, if any.
    pub newest_received_send_time: Option<Instant>,
}

impl FeedbackReport {
    /// The packets reported received, in sequence order.
    pub fn received(&self) -> impl Iterator<Item = &PacketResult> {
        self.packets.iter().filter(|p| p.arrival.is_some())
    }

    /// How many were reported lost.
    pub fn lost(&self) -> usize {
        self.packets.iter().filter(|p| p.arrival.is_none()).count()
    }
}

/// What the history counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryCounters {
    /// Feedback entries for packets this history does not hold (too old,
    /// never sent, or a hostile peer).
    pub unknown: u64,
    /// Packets forgotten unacknowledged because they grew too old.
    pub expired: u64,
}

/// Packets sent, kept until acknowledged or `max_age` old: in sending
/// order (their numbers only grow), found by binary search.
#[derive(Debug)]
pub struct SendHistory {
    unwrapper: SeqUnwrapper,
    packets: VecDeque<Entry>,
    max_age: Duration,
    max_packets: usize,
    /// When the oldest packet held grows older than `max_age` (its send
    /// time + `max_age`; `None` when nothing is held or never): one
    /// comparison per packet sent instead of a look at the oldest entry.
    front_expiry: Option<Instant>,
    /// The unwrapped 24-bit reference time of the last feedback (64 ms units).
    reference: Option<i64>,
    counters: HistoryCounters,
}

/// One packet held: 40 bytes (a [`SentPacket`] and a flag were 48), so
/// more of the history shares each cache line a feedback walks.
#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    send_time: Instant,
    /// The size in bytes; RTP packets are far below 4 GiB (a larger size
    /// saturates).
    size: u32,
    probe: Option<ProbeId>,
    received: bool,
}

impl Entry {
    fn sent(&self) -> SentPacket {
        SentPacket {
            seq: self.seq,
            send_time: self.send_time,
            size: self.size as usize,
            probe: self.probe,
        }
    }
}

impl SendHistory {
    /// A history keeping packets up to `max_age` and at most `max_packets`.
    pub fn new(max_age: Duration, max_packets: usize) -> Self {
        Self {
            unwrapper: SeqUnwrapper::default(),
            packets: VecDeque::new(),
            max_age,
            max_packets: max_packets.max(1),
            front_expiry: None,
            reference: None,
            counters: HistoryCounters::default(),
        }
    }

    /// What was counted so far.
    pub fn counters(&self) -> HistoryCounters {
        self.counters
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// A packet with transport-wide sequence number `seq` left at `now`.
    pub fn on_sent(&mut self, now: Instant, seq: u16, size: usize, probe: Option<ProbeId>) {
        let seq = self.unwrapper.unwrap(seq);
        self.on_sent_id(now, seq, size, probe);
    }

    /// A packet the caller numbered `seq` itself (growing, never reused)
    /// left at `now`: the RFC 8888 path, where packets are known by SSRC
    /// and RTP sequence number and [`super::ccfb::RtpIndex`] numbers them.
    pub fn on_sent_id(&mut self, now: Instant, seq: u64, size: usize, probe: Option<ProbeId>) {
        let entry = Entry {
            seq,
            send_time: now,
            size: u32::try_from(size).unwrap_or(u32::MAX),
            probe,
            received: false,
        };
        match self.packets.back() {
            Some(last) if last.seq >= seq => {
                // Out of order (not how senders number): keep the order.
                match self.packets.binary_search_by_key(&seq, |e| e.seq) {
                    Ok(i) => self.packets[i] = entry,
                    Err(i) => self.packets.insert(i, entry),
                }
                self.front_changed();
            }
            Some(_) => self.packets.push_back(entry),
            None => {
                self.packets.push_back(entry);
                self.front_changed();
            }
        }
        while self.packets.len() > self.max_packets {
            self.pop_oldest();
        }
        // `now - oldest send time > max_age`, as `now > expiry`.
        while self.front_expiry.is_some_and(|t| now > t) {
            self.pop_oldest();
        }
    }

    /// The oldest packet changed: when it expires.
    fn front_changed(&mut self) {
        self.front_expiry = self
            .packets
            .front()
            .and_then(|e| e.send_time.checked_add(self.max_age));
    }

    fn pop_oldest(&mut self) {
        if let Some(e) = self.packets.pop_front()
            && !e.received
        {
            self.counters.expired += 1;
        }
        self.front_changed();
    }

    /// Matches `feedback` against the packets sent.
    pub fn on_feedback(&mut self, feedback: &TransportFeedback) -> FeedbackReport {
        let mut report = FeedbackReport::default();
        self.on_feedback_into(feedback, &mut report);
        report
    }

    /// As [`Self::on_feedback`], into `report` (cleared first), whose
    /// storage a caller keeps from one feedback to the next: no allocation
    /// per feedback once it has grown.
    pub fn on_feedback_into(&mut self, feedback: &TransportFeedback, report: &mut FeedbackReport) {
        // The 24-bit reference time (64 ms units) unwraps against the last.
        let raw = i64::from(feedback.reference_time & 0x00ff_ffff);
        let reference = match self.reference {
            None => raw,
            Some(last) => {
                let diff = (raw - last).rem_euclid(1 << 24);
                let diff = if diff >= 1 << 23 {
                    diff - (1 << 24)
                } else {
                    diff
                };
                last.saturating_add(diff)
            }
        };
        self.reference = Some(reference);
        let shift = reference.saturating_sub(raw).saturating_mul(64_000);
        let base = self.unwrapper.peek(feedback.base_sequence);
        let results = feedback
            .arrivals_iter()
            .enumerate()
            .map(|(i, a)| (Some(base + i as u64), a.map(|a| a.saturating_add(shift))));
        self.report_into(results, report);
    }

    /// Matches `(packet, arrival in receiver microseconds)` pairs against
    /// the packets sent (`None` for an id this history does not know).
    pub fn report(
        &mut self,
        results: impl IntoIterator<Item = (Option<u64>, Option<i64>)>,
    ) -> FeedbackReport {
        let mut report = FeedbackReport::default();
        self.report_into(results, &mut report);
        report
    }

    /// As [`Self::report`], into `report` (cleared first, its storage kept).
    pub fn report_into(
        &mut self,
        results: impl IntoIterator<Item = (Option<u64>, Option<i64>)>,
        report: &mut FeedbackReport,
    ) {
        let results = results.into_iter();
        report.packets.clear();
        report.newest_received_send_time = None;
        // Sized once: one result per packet named, mostly (at most what is
        // held: a peer's feedback may claim 65,535).
        report
            .packets
            .reserve(results.size_hint().0.min(self.packets.len()));
        // Feedback names packets in sequence order, mostly consecutive, and
        // the history holds them so: the entry after the last one found
        // (first: the one at the number's offset from the oldest) is tried
        // before a search.
        //
        // A number outside what the history holds is passed over at once:
        // a feedback may name 65,535 packets in a few bytes (run-length
        // chunks), and each must not cost a search.
        let held = self
            .packets
            .front()
            .zip(self.packets.back())
            .map(|(oldest, newest)| oldest.seq..=newest.seq);
        let mut hint = None;
        for (seq, arrival) in results {
            let held = held.as_ref();
            let found = seq
                .filter(|s| held.is_some_and(|h| h.contains(s)))
                .and_then(|s| {
                    let oldest = *held?.start();
                    let at =
                        hint.unwrap_or_else(|| usize::try_from(s - oldest).unwrap_or(usize::MAX));
                    let i = match self.packets.get(at) {
                        Some(e) if e.seq == s => at,
                        _ => self.packets.binary_search_by_key(&s, |e| e.seq).ok()?,
                    };
                    hint = Some(i + 1);
                    self.packets.get_mut(i)
                });
            let Some(entry) = found else {
                self.counters.unknown += 1;
                continue;
            };
            if entry.received {
                continue;
            }
            if arrival.is_some() {
                entry.received = true;
                report.newest_received_send_time = Some(
                    report
                        .newest_received_send_time
                        .map_or(entry.send_time, |t| t.max(entry.send_time)),
                );
            }
            report.packets.push(PacketResult {
                sent: entry.sent(),
                arrival,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::PacketStatus;

    #[test]
    fn feedback_is_matched_to_send_times_and_sizes_and_a_repeat_is_not_counted_twice() {
        let t0 = Instant::now();
        let mut h = SendHistory::new(Duration::from_secs(2), 1000);
        for s in 0..4u16 {
            h.on_sent(
                t0 + Duration::from_millis(u64::from(s)),
                s,
                1000 + usize::from(s),
                None,
            );
        }
        let fb =
            TransportFeedback::from_arrivals(0, 0, 1, 0, &[Some(100_000), None, Some(102_000)]);
        let r = h.on_feedback(&fb);
        assert_eq!(r.packets.len(), 3);
        assert_eq!(r.packets[0].sent.size, 1001);
        assert_eq!(r.lost(), 1);
        assert_eq!(
            r.packets[2].arrival.unwrap() - r.packets[0].arrival.unwrap(),
            2_000
        );
        assert_eq!(
            r.newest_received_send_time,
            Some(t0 + Duration::from_millis(3))
        );
        let again = h.on_feedback(&fb);
        assert_eq!(
            again.packets.len(),
            1,
            "only the lost one is reported again"
        );
    }

    #[test]
    fn feedback_across_the_sequence_wrap_finds_every_packet_around_a_hole_in_the_history() {
        let t0 = Instant::now();
        let mut h = SendHistory::new(Duration::from_secs(2), 1000);
        // 65530..=5 sent, but 65535 never (another path numbered it).
        let sent: Vec<u16> = (65530u16..=65534).chain(0..=5).collect();
        for (i, &s) in sent.iter().enumerate() {
            h.on_sent(t0 + Duration::from_millis(i as u64), s, 100 + i, None);
        }
        let arrivals: Vec<Option<i64>> = (0..12).map(|i| Some(1000 * i)).collect();
        let r = h.on_feedback(&TransportFeedback::from_arrivals(0, 0, 65530, 0, &arrivals));
        let sizes: Vec<usize> = r.packets.iter().map(|p| p.sent.size).collect();
        assert_eq!(sizes, (100..111).collect::<Vec<_>>());
        assert_eq!(h.counters().unknown, 1, "65535 was never sent");
        assert_eq!(r.packets[5].arrival, Some(6000), "0 follows the hole");
    }

    #[test]
    fn reference_time_wraps_at_24_bits_without_a_jump() {
        let t0 = Instant::now();
        let mut h = SendHistory::new(Duration::from_secs(2), 1000);
        h.on_sent(t0, 0, 100, None);
        h.on_sent(t0, 1, 100, None);
        let mut a = TransportFeedback::from_arrivals(0, 0, 0, 0, &[Some(0)]);
        a.reference_time = 0x00ff_ffff;
        let mut b = TransportFeedback::from_arrivals(0, 0, 1, 1, &[Some(0)]);
        b.reference_time = 0;
        let first = h.on_feedback(&a).packets[0].arrival.unwrap();
        let second = h.on_feedback(&b).packets[0].arrival.unwrap();
        assert_eq!(second - first, 64_000);
    }

    #[test]
    fn feedback_for_unknown_packets_is_counted_not_trusted() {
        let mut h = SendHistory::new(Duration::from_secs(2), 1000);
        let fb = TransportFeedback::from_arrivals(0, 0, 500, 0, &[Some(1), Some(2)]);
        assert!(h.on_feedback(&fb).packets.is_empty());
        assert_eq!(h.counters().unknown, 2);
    }

    #[test]
    fn history_is_bounded_by_count_and_age() {
        let t0 = Instant::now();
        let mut h = SendHistory::new(Duration::from_millis(100), 10);
        for s in 0..50u16 {
            h.on_sent(t0, s, 100, None);
        }
        assert_eq!(h.len(), 10);
        h.on_sent(t0 + Duration::from_secs(1), 50, 100, None);
        assert_eq!(h.len(), 1);
        assert_eq!(h.counters().expired, 50);
    }

    #[test]
    fn a_packet_expires_once_older_than_max_age_not_at_it() {
        let t0 = Instant::now();
        let mut h = SendHistory::new(Duration::from_millis(100), 1000);
        h.on_sent(t0, 0, 100, None);
        h.on_sent(t0 + Duration::from_millis(100), 1, 100, None);
        assert_eq!(h.len(), 2, "exactly max_age old is kept");
        h.on_sent(
            t0 + Duration::from_millis(100) + Duration::from_nanos(1),
            2,
            100,
            None,
        );
        assert_eq!(h.len(), 2);
        assert_eq!(h.counters().expired, 1);
        // Reordered into the front, the oldest sets the age again.
        h.on_sent_id(t0, h.packets[0].seq - 1, 100, None);
        h.on_sent(t0 + Duration::from_millis(150), 3, 100, None);
        assert_eq!(h.len(), 3);
        assert_eq!(h.counters().expired, 2);
    }

    #[test]
    fn a_reused_report_holds_only_the_latest_feedback() {
        let t0 = Instant::now();
        let mut h = SendHistory::new(Duration::from_secs(2), 1000);
        for s in 0..6u16 {
            h.on_sent(t0 + Duration::from_millis(u64::from(s)), s, 100, None);
        }
        let mut report = FeedbackReport::default();
        h.on_feedback_into(
            &TransportFeedback::from_arrivals(0, 0, 0, 0, &[Some(0), Some(1000), Some(2000)]),
            &mut report,
        );
        assert_eq!(report.packets.len(), 3);
        h.on_feedback_into(
            &TransportFeedback::from_arrivals(0, 0, 3, 1, &[None, Some(9000)]),
            &mut report,
        );
        let seqs: Vec<u64> = report.packets.iter().map(|p| p.sent.seq & 0xffff).collect();
        assert_eq!(seqs, [3, 4]);
        assert_eq!(
            report.newest_received_send_time,
            Some(t0 + Duration::from_millis(4))
        );
    }

    fn status() -> impl proptest::strategy::Strategy<Value = PacketStatus> {
        use proptest::prelude::*;
        prop_oneof![
            Just(PacketStatus::NotReceived),
            any::<u8>().prop_map(PacketStatus::SmallDelta),
            any::<i16>().prop_map(PacketStatus::LargeDelta),
        ]
    }

    proptest::proptest! {
        /// Feedback is matched against the packets sent, at the arrival
        /// times its statuses carry, whatever they are.
        #[test]
        fn feedback_matches_the_arrivals_it_carries_to_the_packets_sent(
            reference_time in 0u32..1 << 24,
            base in proptest::prelude::any::<u16>(),
            packets in proptest::collection::vec(status(), 0..300),
        ) {
            let t0 = Instant::now();
            let mut h = SendHistory::new(Duration::from_secs(2), 1000);
            let mut expected = SendHistory::new(Duration::from_secs(2), 1000);
            for i in 0..300u16 {
                let at = t0 + Duration::from_micros(u64::from(i) * 300);
                h.on_sent(at, base.wrapping_add(i), 100 + usize::from(i), None);
                expected.on_sent(at, base.wrapping_add(i), 100 + usize::from(i), None);
            }
            let f = TransportFeedback {
                sender_ssrc: 0,
                media_ssrc: 0,
                base_sequence: base,
                reference_time,
                feedback_count: 0,
                packets,
            };
            // Decoded here by hand (§3.1.5): each received packet's delta,
            // in 250 µs, from the previous one, the first from the
            // reference time (64 ms units).
            let mut at = i64::from(reference_time) * 64_000;
            let mut decoded = Vec::new();
            for p in &f.packets {
                decoded.push(match *p {
                    PacketStatus::NotReceived => None,
                    PacketStatus::SmallDelta(d) => { at += i64::from(d) * 250; Some(at) }
                    PacketStatus::LargeDelta(d) => { at += i64::from(d) * 250; Some(at) }
                });
            }
            let first = expected.unwrapper.peek(base);
            let want = expected.report(
                decoded.into_iter().enumerate().map(|(i, a)| (Some(first + i as u64), a)),
            );
            proptest::prop_assert_eq!(h.on_feedback(&f), want);
            proptest::prop_assert_eq!(h.counters(), expected.counters());
        }
    }
}
