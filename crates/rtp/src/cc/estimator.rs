//! The send-side bandwidth estimate of Google Congestion Control
//! (draft-ietf-rmcat-gcc-02 §4): transport-cc feedback feeds the
//! delay-based controller (trendline detector and AIMD) and the loss-based
//! controller; the target is the lower of the two, raised by probe
//! results, and capped by the receiver's REMB when it sends one.

use std::time::{Duration, Instant};

use super::Bitrate;
use super::acked::AckedBitrate;
use super::aimd::{AimdConfig, AimdRateControl};
use super::ccfb::RtpIndex;
use super::history::{FeedbackReport, HistoryCounters, ProbeId, SendHistory};
use super::loss::{LossConfig, LossController};
use super::probe::{ProbeCluster, ProbeConfig, Prober};
use super::trendline::{BandwidthUsage, DelayDetector, TrendlineConfig};
use crate::rtcp::{CongestionControlFeedback, Remb, TransportFeedback};

/// Configuration of a [`SendSideEstimator`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimatorConfig {
    /// The estimate before any feedback.
    pub start: Bitrate,
    /// The estimate never goes below this.
    pub min: Bitrate,
    /// Nor above this (the sum of the senders' `maxBitrate`, say).
    pub max: Bitrate,
    /// Probe at start (3× and 6× `start`, then exponentially).
    pub probe_at_start: bool,
    /// Delay-based detector tuning.
    pub trendline: TrendlineConfig,
    /// Loss-based tuning.
    pub loss: LossConfig,
    /// Probing tuning (its `max` is replaced by `max`).
    pub probe: ProbeConfig,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self {
            start: Bitrate::kbps(300),
            min: Bitrate::kbps(30),
            max: Bitrate::kbps(20_000),
            probe_at_start: true,
            trendline: TrendlineConfig::default(),
            loss: LossConfig::default(),
            probe: ProbeConfig::default(),
        }
    }
}

/// The sender's view, for stats and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimatorStats {
    /// The delay-based estimate.
    pub delay_based: Bitrate,
    /// The loss-based limit, when loss sets one.
    pub loss_based: Option<Bitrate>,
    /// The last REMB received.
    pub remb: Option<Bitrate>,
    /// The acknowledged rate.
    pub acked: Option<Bitrate>,
    /// The detector's state.
    pub usage: BandwidthUsage,
    /// The loss fraction of the last window.
    pub loss: f64,
    /// Round-trip time from feedback (send to feedback received).
    pub rtt: Option<Duration>,
    /// Probe results taken.
    pub probes: u64,
    /// The history's counters.
    pub history: HistoryCounters,
}

/// The send-side bandwidth estimator.
///
/// Drive order: [`on_packet_sent`](Self::on_packet_sent) for every packet
/// that carries a transport-wide sequence number, as it leaves;
/// [`on_transport_feedback`](Self::on_transport_feedback) and
/// [`on_remb`](Self::on_remb) as feedback arrives; then
/// [`poll_probe`](Self::poll_probe) until `None` (give each cluster to the
/// pacer) and read [`target_bitrate`](Self::target_bitrate).
#[derive(Debug)]
pub struct SendSideEstimator {
    config: EstimatorConfig,
    history: SendHistory,
    /// The RFC 8888 path: packets by SSRC and sequence number, and their
    /// own history (made at the first packet sent that way).
    rtp: Option<Box<(RtpIndex, SendHistory)>>,
    detector: DelayDetector,
    aimd: AimdRateControl,
    loss: LossController,
    acked: AckedBitrate,
    prober: Prober,
    remb: Option<Bitrate>,
    rtt: Option<Duration>,
    last_probe: Option<(Instant, Bitrate)>,
    target: Bitrate,
    started: bool,
    probes: u64,
    /// When feedback last arrived, and when the estimate was last cut for
    /// the lack of it.
    last_feedback: Option<Instant>,
    last_silence_cut: Option<Instant>,
    /// When the silence check next cuts: the later of `last_feedback` and
    /// `last_silence_cut`, plus the timeout (`None`: no feedback yet, or
    /// never). Kept as they change, so a packet sent compares one instant.
    silence_deadline: Option<Instant>,
    /// The last feedback's report, its storage kept for the next one.
    report: FeedbackReport,
}

/// Feedback missing this long (or four RTTs if longer) while packets are
/// sent halves the estimate, and again each such period: the reverse path
/// may be gone, and the forward one with it.
const FEEDBACK_TIMEOUT: Duration = Duration::from_secs(1);

/// The most packet results whose storage is kept from one feedback to the
/// next (a feedback every 50 ms names a few hundred at most at 20 Mbit/s).
const MAX_KEPT_REPORT: usize = 1024;

impl SendSideEstimator {
    /// An estimator with `config`.
    pub fn new(config: EstimatorConfig) -> Self {
        let aimd = AimdRateControl::new(
            AimdConfig {
                min: config.min,
                max: config.max,
                ..AimdConfig::default()
            },
            config.start,
        );
        Self {
            history: SendHistory::new(Duration::from_secs(5), 16_384),
            rtp: None,
            detector: DelayDetector::new(config.trendline),
            target: aimd.estimate(),
            aimd,
            loss: {
                let mut loss = LossController::new(config.loss);
                loss.set_floor(config.min);
                loss
            },
            acked: AckedBitrate::new(Duration::from_millis(500), Duration::from_millis(100)),
            prober: Prober::new(ProbeConfig {
                max: config.max,
                ..config.probe
            }),
            remb: None,
            rtt: None,
            last_probe: None,
            started: false,
            probes: 0,
            last_feedback: None,
            last_silence_cut: None,
            silence_deadline: None,
            report: FeedbackReport::default(),
            config,
        }
    }

    /// The target send rate: min(delay-based, loss-based), at most REMB,
    /// within the configured bounds (W3C `availableOutgoingBitrate`).
    pub fn target_bitrate(&self) -> Bitrate {
        self.target
    }

    /// What the parts of the estimate say.
    pub fn stats(&self) -> EstimatorStats {
        EstimatorStats {
            delay_based: self.aimd.estimate(),
            loss_based: self.loss.estimate(),
            remb: self.remb,
            acked: self.acked.bitrate(),
            usage: self.detector.state(),
            loss: self.loss.loss(),
            rtt: self.rtt,
            probes: self.probes,
            history: {
                let mut h = self.history.counters();
                if let Some(rtp) = self.rtp.as_deref() {
                    h.unknown += rtp.1.counters().unknown;
                    h.expired += rtp.1.counters().expired;
                }
                h
            },
        }
    }

    /// Changes the upper bound (a sender's `maxBitrate` changed).
    pub fn set_max(&mut self, max: Bitrate) {
        self.config.max = max;
        self.aimd.set_max(max);
        self.recompute(None);
    }

    /// A packet with transport-wide sequence number `seq` and `size` bytes
    /// left at `now`, in probe cluster `probe` if the pacer said so.
    pub fn on_packet_sent(&mut self, now: Instant, seq: u16, size: usize, probe: Option<ProbeId>) {
        self.start(now);
        self.history.on_sent(now, seq, size, probe);
        if let Some(id) = probe {
            self.prober.on_sent(now, id, size);
        }
    }

    /// The RFC 8888 path: a packet of `ssrc` with RTP sequence number `seq`
    /// and `size` bytes left at `now` (no transport-wide number needed).
    pub fn on_rtp_sent(
        &mut self,
        now: Instant,
        ssrc: u32,
        seq: u16,
        size: usize,
        probe: Option<ProbeId>,
    ) {
        self.start(now);
        let rtp = self.rtp.get_or_insert_with(|| {
            Box::new((
                RtpIndex::new(64, 16_384),
                SendHistory::new(Duration::from_secs(5), 16_384),
            ))
        });
        let id = rtp.0.on_sent(ssrc, seq);
        rtp.1.on_sent_id(now, id, size, probe);
        if let Some(id) = probe {
            self.prober.on_sent(now, id, size);
        }
    }

    /// Feedback stopped while we send: halve the estimate once per timeout.
    fn check_silence(&mut self, now: Instant) {
        // `now - since > timeout` (see `silence_deadline`), as `now > deadline`.
        if self.silence_deadline.is_some_and(|d| now > d) {
            self.last_silence_cut = Some(now);
            self.update_silence_deadline();
            let half = Bitrate::from_f64(self.aimd.estimate().as_f64() / 2.0);
            self.aimd.set_estimate(now, half);
            self.recompute(None);
        }
    }

    /// Feedback, a cut or the RTT moved: when silence next cuts.
    fn update_silence_deadline(&mut self) {
        // A peer that never sent feedback: nothing to miss yet.
        self.silence_deadline = self.last_feedback.and_then(|last| {
            let timeout = FEEDBACK_TIMEOUT.max(self.rtt.unwrap_or_default() * 4);
            let since = self.last_silence_cut.map_or(last, |c| c.max(last));
            since.checked_add(timeout)
        });
    }

    fn start(&mut self, now: Instant) {
        self.check_silence(now);
        if !self.started {
            self.started = true;
            if self.config.probe_at_start {
                self.prober.start(now, self.config.start);
            }
        }
    }

    /// Planned probe clusters, for the pacer. Poll after creation (the
    /// start probes are planned at the first packet sent) and after every
    /// feedback.
    pub fn poll_probe(&mut self, now: Instant) -> Option<ProbeCluster> {
        if !self.started {
            self.started = true;
            if self.config.probe_at_start {
                self.prober.start(now, self.config.start);
            }
        }
        self.prober.poll_probe()
    }

    /// Transport-cc feedback arrived at `now`.
    pub fn on_transport_feedback(&mut self, now: Instant, feedback: &TransportFeedback) {
        let mut report = std::mem::take(&mut self.report);
        self.history.on_feedback_into(feedback, &mut report);
        self.on_report(now, &report);
        self.keep_report(report);
    }

    /// Keeps `report`'s storage for the next feedback, unless a feedback
    /// naming thousands of packets (a peer may claim 65,535) grew it.
    fn keep_report(&mut self, mut report: FeedbackReport) {
        report.packets.clear();
        if report.packets.capacity() > MAX_KEPT_REPORT {
            report.packets = Vec::new();
        }
        self.report = report;
    }

    /// RFC 8888 congestion control feedback arrived at `now` (for packets
    /// reported with [`on_rtp_sent`](Self::on_rtp_sent)).
    pub fn on_ccfb(&mut self, now: Instant, feedback: &CongestionControlFeedback) {
        let Some(rtp) = self.rtp.as_deref_mut() else {
            return;
        };
        let mut report = std::mem::take(&mut self.report);
        let results = rtp.0.results(feedback);
        rtp.1.report_into(results, &mut report);
        self.on_report(now, &report);
        self.keep_report(report);
    }

    fn on_report(&mut self, now: Instant, report: &FeedbackReport) {
        self.last_feedback = Some(now);
        if let Some(sent) = report.newest_received_send_time {
            let sample = now.saturating_duration_since(sent);
            // A short memory: the newest sample counts for a quarter.
            self.rtt = Some(match self.rtt {
                None => sample,
                Some(r) => (r * 3 + sample) / 4,
            });
            self.aimd.set_rtt(self.rtt.unwrap_or(sample));
            self.loss.set_rtt(self.rtt.unwrap_or(sample));
        }
        self.update_silence_deadline();
        // One pass: the acknowledged rate and the delay detector take the
        // packets received, in order; the loss controller their counts.
        let mut received = 0u64;
        for p in &report.packets {
            if let Some(a) = p.arrival {
                received += 1;
                self.acked.on_received(a, p.sent.size);
                self.detector.on_packet(p.sent.send_time, a, p.sent.size);
            }
        }
        let lost = report.packets.len() as u64 - received;
        let results = self.prober.on_feedback(now, &report.packets);
        let mut probe = None;
        for r in results {
            self.probes += 1;
            probe = Some(probe.map_or(r, |p: Bitrate| p.max(r)));
        }
        if let Some(p) = probe {
            self.last_probe = Some((now, p));
        }
        // The rate a decrease starts from: what is acknowledged, or what a
        // probe measured within the last second if more (the acknowledged
        // rate lags while the rate ramps up).
        let recent_probe = self
            .last_probe
            .filter(|(t, _)| now.saturating_duration_since(*t) < Duration::from_secs(1))
            .map(|(_, p)| p);
        let throughput = match (self.acked.bitrate(), recent_probe) {
            (Some(a), Some(p)) => Some(a.max(p)),
            (a, p) => a.or(p),
        };
        if !report.packets.is_empty() {
            self.aimd.update(now, self.detector.state(), throughput);
        }
        // A probe measures the path directly; the overuse its own burst
        // caused does not undo it.
        if let Some(p) = probe
            && p > self.aimd.estimate()
        {
            self.aimd.set_estimate(now, p);
        }
        self.recompute(Some((now, received, lost)));
        self.prober.on_estimate(now, self.target);
    }

    /// The receiver's REMB (a cap on the estimate).
    pub fn on_remb(&mut self, remb: &Remb) {
        self.remb = Some(Bitrate::bps(remb.bitrate));
        self.recompute(None);
    }

    fn recompute(&mut self, loss_report: Option<(Instant, u64, u64)>) {
        let delay = self.aimd.estimate();
        let mut target = delay;
        if let Some((now, received, lost)) = loss_report {
            if let Some(l) = self.loss.update(now, received, lost, delay) {
                target = target.min(l);
            }
        } else if let Some(l) = self.loss.estimate() {
            target = target.min(l);
        }
        if let Some(r) = self.remb {
            target = target.min(r);
        }
        self.target = target.clamp(self.config.min, self.config.max.max(self.config.min));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::PacketStatus;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = PacketStatus> {
        prop_oneof![
            Just(PacketStatus::NotReceived),
            any::<u8>().prop_map(PacketStatus::SmallDelta),
            any::<i16>().prop_map(PacketStatus::LargeDelta),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn hostile_feedback_never_panics_and_the_target_stays_in_bounds(
            start in any::<u16>(),
            feedback in proptest::collection::vec(
                (any::<u16>(), 0u32..1 << 24, proptest::collection::vec(status(), 0..200)),
                1..20,
            ),
        ) {
            let t0 = Instant::now();
            let config = EstimatorConfig::default();
            let mut e = SendSideEstimator::new(config);
            for i in 0..500u16 {
                e.on_packet_sent(t0 + Duration::from_millis(u64::from(i)), start.wrapping_add(i), 1000, None);
            }
            let mut now = t0 + Duration::from_millis(500);
            for (k, (offset, reference_time, packets)) in feedback.into_iter().enumerate() {
                now += Duration::from_millis(50);
                let f = TransportFeedback {
                    sender_ssrc: 1,
                    media_ssrc: 2,
                    base_sequence: start.wrapping_add(offset % 600),
                    reference_time,
                    feedback_count: k as u8,
                    packets,
                };
                e.on_transport_feedback(now, &f);
                while e.poll_probe(now).is_some() {}
                let t = e.target_bitrate();
                prop_assert!(t >= config.min && t <= config.max, "{t}");
            }
        }
    }

    #[test]
    fn remb_caps_the_estimate() {
        let mut e = SendSideEstimator::new(EstimatorConfig::default());
        assert_eq!(e.target_bitrate(), Bitrate::kbps(300));
        e.on_remb(&Remb {
            sender_ssrc: 1,
            bitrate: 100_000,
            ssrcs: vec![],
        });
        assert_eq!(e.target_bitrate(), Bitrate::kbps(100));
    }

    #[test]
    fn the_first_poll_plans_the_start_probes() {
        let t0 = Instant::now();
        let mut e = SendSideEstimator::new(EstimatorConfig::default());
        assert_eq!(
            e.poll_probe(t0).map(|c| c.bitrate),
            Some(Bitrate::kbps(900))
        );
        assert_eq!(
            e.poll_probe(t0).map(|c| c.bitrate),
            Some(Bitrate::kbps(1800))
        );
        assert_eq!(e.poll_probe(t0), None);
    }

    #[test]
    fn the_estimate_halves_each_second_feedback_stays_away_while_sending() {
        let t0 = Instant::now();
        let mut e = SendSideEstimator::new(EstimatorConfig {
            probe_at_start: false,
            ..EstimatorConfig::default()
        });
        e.on_packet_sent(t0, 0, 1000, None);
        // Without any feedback ever, silence means nothing.
        e.on_packet_sent(t0 + Duration::from_secs(3), 1, 1000, None);
        assert_eq!(e.target_bitrate(), Bitrate::kbps(300));
        let fb = TransportFeedback::from_arrivals(0, 0, 0, 0, &[Some(0), Some(1000)]);
        e.on_transport_feedback(t0 + Duration::from_secs(3), &fb);
        let before = e.target_bitrate();
        let mut seq = 2;
        let mut at = |ms: u64| {
            seq += 1;
            e.on_packet_sent(t0 + Duration::from_millis(3000 + ms), seq, 1000, None);
            e.target_bitrate()
        };
        assert_eq!(at(900), before);
        assert_eq!(at(1100).as_bps(), before.as_bps() / 2);
        assert_eq!(at(1500).as_bps(), before.as_bps() / 2);
        assert_eq!(at(2200).as_bps(), before.as_bps() / 4);
    }

    #[test]
    fn max_bounds_the_target() {
        let mut e = SendSideEstimator::new(EstimatorConfig::default());
        e.set_max(Bitrate::kbps(200));
        assert_eq!(e.target_bitrate(), Bitrate::kbps(200));
    }

    #[test]
    fn a_huge_feedback_leaves_no_huge_buffer_behind() {
        let t0 = Instant::now();
        let mut e = SendSideEstimator::new(EstimatorConfig::default());
        for i in 0..5000u16 {
            e.on_packet_sent(t0, i, 100, None);
        }
        let small = TransportFeedback::from_arrivals(0, 0, 0, 0, &[Some(0); 10]);
        e.on_transport_feedback(t0, &small);
        let kept = e.report.packets.capacity();
        assert!(kept >= 10, "small reports keep their storage");
        let huge = TransportFeedback::from_arrivals(0, 0, 10, 1, &vec![Some(0); 4000]);
        e.on_transport_feedback(t0, &huge);
        assert!(e.report.packets.capacity() <= MAX_KEPT_REPORT);
        assert!(e.report.packets.is_empty());
    }
}
