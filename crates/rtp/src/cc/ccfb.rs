//! RFC 8888 congestion control feedback as the alternative to transport-cc:
//! the receiver reports, per RTP stream, whether each sequence number
//! arrived, when (an offset before the report timestamp, in 1/1024 s) and
//! with what ECN marking (§3.1); the sender, which knows its packets by
//! SSRC and RTP sequence number, turns that into the same per-packet
//! results the estimator takes from transport-cc.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::rtcp::{CCFB_ATO_OVER_RANGE, CcfbMetric, CcfbStream, CongestionControlFeedback, Ecn};
use crate::seq::SeqUnwrapper;

/// The largest arrival time offset that is a measurement: 0x1ffe means "at
/// least this long" (RFC 8888 §3.1).
const ATO_AT_LEAST: u16 = 0x1ffe;

/// How a [`CcfbGenerator`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcfbConfig {
    /// The SSRC the feedback is sent from.
    pub sender_ssrc: u32,
    /// Feedback is sent this often while packets arrive (RFC 8888 §3.1
    /// leaves the interval to the congestion controller; about an RTT).
    pub interval: Duration,
    /// The most metric blocks per stream in one report.
    pub max_per_stream: usize,
    /// The most streams tracked (packets of more new SSRCs are counted and
    /// ignored).
    pub max_streams: usize,
    /// How long an arrival is kept after it was reported.
    pub keep: Duration,
}

impl Default for CcfbConfig {
    fn default() -> Self {
        Self {
            sender_ssrc: 0,
            interval: Duration::from_millis(50),
            max_per_stream: 256,
            max_streams: 32,
            keep: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Default)]
struct StreamArrivals {
    unwrapper: SeqUnwrapper,
    arrivals: BTreeMap<u64, (Instant, Ecn)>,
    next_unreported: Option<u64>,
}

/// Records arrivals per RTP stream and produces RFC 8888 feedback.
///
/// Drive order: [`on_packet`](Self::on_packet) per RTP packet received;
/// [`poll_feedback`](Self::poll_feedback) when
/// [`poll_timeout`](Self::poll_timeout) comes, with the report timestamp
/// (the middle 32 bits of the NTP time of `now`, from the caller's clock).
#[derive(Debug)]
pub struct CcfbGenerator {
    config: CcfbConfig,
    streams: BTreeMap<u32, StreamArrivals>,
    pending: usize,
    first_pending: Option<Instant>,
    last_feedback: Option<Instant>,
    /// Packets of SSRCs beyond `max_streams`.
    pub ignored: u64,
}

impl CcfbGenerator {
    /// A generator with `config`.
    pub fn new(config: CcfbConfig) -> Self {
        Self {
            config: CcfbConfig {
                max_per_stream: config.max_per_stream.clamp(1, 16_384),
                ..config
            },
            streams: BTreeMap::new(),
            pending: 0,
            first_pending: None,
            last_feedback: None,
            ignored: 0,
        }
    }

    /// An RTP packet of `ssrc` numbered `seq` arrived at `now` with `ecn`.
    pub fn on_packet(&mut self, now: Instant, ssrc: u32, seq: u16, ecn: Ecn) {
        if !self.streams.contains_key(&ssrc) && self.streams.len() >= self.config.max_streams {
            self.ignored += 1;
            return;
        }
        let s = self.streams.entry(ssrc).or_default();
        let ext = s.unwrapper.unwrap(seq);
        if s.arrivals.contains_key(&ext) {
            return;
        }
        let oldest = s.arrivals.keys().next().copied();
        if let (Some(next), Some(oldest)) = (s.next_unreported, oldest)
            && ext < next
            && ext < oldest
        {
            return;
        }
        s.arrivals.insert(ext, (now, ecn));
        s.next_unreported = Some(s.next_unreported.map_or(ext, |n| n.min(ext)));
        // Bounded: a stream holds at most four reports' worth.
        while s.arrivals.len() > 4 * self.config.max_per_stream {
            s.arrivals.pop_first();
        }
        if let Some(first) = s.arrivals.keys().next().copied() {
            s.next_unreported = s.next_unreported.map(|n| n.max(first));
        }
        self.pending += 1;
        self.first_pending.get_or_insert(now);
    }

    /// When feedback is next due, if packets wait.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.pending == 0 {
            return None;
        }
        Some(match self.last_feedback {
            Some(last) => last + self.config.interval,
            None => self.first_pending? + self.config.interval,
        })
    }

    /// The feedback due at `now`, stamped `report_timestamp` (compact NTP
    /// of `now`), if due.
    pub fn poll_feedback(
        &mut self,
        now: Instant,
        report_timestamp: u32,
    ) -> Option<CongestionControlFeedback> {
        if self.poll_timeout().is_none_or(|t| t > now) {
            return None;
        }
        let mut streams = Vec::new();
        let max = self.config.max_per_stream as u64;
        for (&ssrc, s) in &mut self.streams {
            let (Some(start), Some(&highest)) = (s.next_unreported, s.arrivals.keys().next_back())
            else {
                continue;
            };
            if start > highest {
                continue;
            }
            // The newest packets first: a burst beyond one report leaves
            // its oldest unreported rather than delaying the newest.
            let start = start.max(highest.saturating_sub(max - 1));
            let metrics = (start..=highest)
                .map(|seq| match s.arrivals.get(&seq) {
                    None => CcfbMetric::NotReceived,
                    Some(&(at, ecn)) => CcfbMetric::Received {
                        ecn,
                        arrival_offset: offset(now.saturating_duration_since(at)),
                    },
                })
                .collect();
            streams.push(CcfbStream {
                ssrc,
                begin_seq: start as u16,
                metrics,
            });
            s.next_unreported = Some(highest + 1);
            while let Some((&seq, &(at, _))) = s.arrivals.first_key_value() {
                if seq <= highest && now.saturating_duration_since(at) > self.config.keep {
                    s.arrivals.pop_first();
                } else {
                    break;
                }
            }
        }
        self.pending = 0;
        self.first_pending = None;
        self.last_feedback = Some(now);
        (!streams.is_empty()).then_some(CongestionControlFeedback {
            sender_ssrc: self.config.sender_ssrc,
            streams,
            report_timestamp,
        })
    }
}

/// RFC 8888 §3.1: the offset in 1/1024 s, 0x1ffe for anything longer.
fn offset(d: Duration) -> u16 {
    let units = (d.as_secs_f64() * 1024.0).round();
    if units >= f64::from(ATO_AT_LEAST) {
        ATO_AT_LEAST
    } else {
        units as u16
    }
}

/// The sender's side: numbers packets sent by (SSRC, RTP sequence number)
/// so RFC 8888 feedback can be matched to them, and turns the feedback's
/// times into microseconds on the receiver's clock.
#[derive(Debug)]
pub struct RtpIndex {
    next_id: u64,
    streams: BTreeMap<u32, (SeqUnwrapper, BTreeMap<u64, u64>)>,
    max_streams: usize,
    max_per_stream: usize,
    /// The unwrapped report timestamp of the last feedback (1/65536 s).
    report: Option<i64>,
}

impl RtpIndex {
    /// An index of at most `max_streams` SSRCs and `max_per_stream`
    /// packets each.
    pub fn new(max_streams: usize, max_per_stream: usize) -> Self {
        Self {
            next_id: 0,
            streams: BTreeMap::new(),
            max_streams: max_streams.max(1),
            max_per_stream: max_per_stream.max(1),
            report: None,
        }
    }

    /// A packet of `ssrc` numbered `seq` is sent: its id in the history.
    pub fn on_sent(&mut self, ssrc: u32, seq: u16) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if !self.streams.contains_key(&ssrc) && self.streams.len() >= self.max_streams {
            // Forget the stream that sent least recently.
            if let Some(oldest) = self
                .streams
                .iter()
                .min_by_key(|(_, (_, m))| m.values().next_back().copied().unwrap_or(0))
                .map(|(s, _)| *s)
            {
                self.streams.remove(&oldest);
            }
        }
        let (unwrapper, ids) = self.streams.entry(ssrc).or_default();
        ids.insert(unwrapper.unwrap(seq), id);
        while ids.len() > self.max_per_stream {
            ids.pop_first();
        }
        id
    }

    /// The packets `feedback` reports, as (history id, arrival in
    /// microseconds on the receiver's clock); `None` ids for packets not
    /// held. Over-range offsets count as received at an unknown time and
    /// are left out.
    pub fn results(
        &mut self,
        feedback: &CongestionControlFeedback,
    ) -> Vec<(Option<u64>, Option<i64>)> {
        // The 32-bit compact NTP timestamp unwraps against the last one.
        let raw = i64::from(feedback.report_timestamp);
        let report = match self.report {
            None => raw,
            Some(last) => {
                let diff = (raw - last).rem_euclid(1 << 32);
                let diff = if diff >= 1 << 31 {
                    diff - (1 << 32)
                } else {
                    diff
                };
                last.saturating_add(diff)
            }
        };
        self.report = Some(report);
        let report_us = report.saturating_mul(1_000_000) / 65_536;
        let mut out = Vec::new();
        for s in &feedback.streams {
            let Some((unwrapper, ids)) = self.streams.get(&s.ssrc) else {
                out.extend(std::iter::repeat_n((None, None), s.metrics.len()));
                continue;
            };
            let base = unwrapper.peek(s.begin_seq);
            for (i, m) in s.metrics.iter().enumerate() {
                let id = ids.get(&(base + i as u64)).copied();
                match *m {
                    CcfbMetric::NotReceived => out.push((id, None)),
                    CcfbMetric::Received { arrival_offset, .. }
                        if arrival_offset < CCFB_ATO_OVER_RANGE =>
                    {
                        let back = i64::from(arrival_offset) * 1_000_000 / 1024;
                        out.push((id, Some(report_us.saturating_sub(back))));
                    }
                    CcfbMetric::Received { .. } => {}
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn feedback_names_each_stream_with_offsets_before_the_report_time() {
        let t0 = Instant::now();
        let mut g = CcfbGenerator::new(CcfbConfig::default());
        g.on_packet(t0, 0xa, 100, Ecn::Ect0);
        g.on_packet(t0 + ms(10), 0xa, 102, Ecn::Ce);
        g.on_packet(t0 + ms(20), 0xb, 7, Ecn::NotEct);
        assert_eq!(g.poll_timeout(), Some(t0 + ms(50)));
        let f = g.poll_feedback(t0 + ms(50), 0x1234_0000).unwrap();
        assert_eq!(f.streams.len(), 2);
        let a = &f.streams[0];
        assert_eq!((a.ssrc, a.begin_seq), (0xa, 100));
        assert_eq!(
            a.metrics,
            [
                CcfbMetric::Received {
                    ecn: Ecn::Ect0,
                    arrival_offset: 51 // 50 ms in 1/1024 s
                },
                CcfbMetric::NotReceived,
                CcfbMetric::Received {
                    ecn: Ecn::Ce,
                    arrival_offset: 41
                },
            ]
        );
        assert!(g.poll_feedback(t0 + ms(200), 0).is_none(), "nothing new");
    }

    #[test]
    fn the_sender_recovers_arrival_times_and_matches_its_packets() {
        let t0 = Instant::now();
        let mut index = RtpIndex::new(8, 1000);
        let ids: Vec<u64> = (0..3)
            .map(|s| index.on_sent(0xa, 65534u16.wrapping_add(s)))
            .collect();
        let mut g = CcfbGenerator::new(CcfbConfig::default());
        g.on_packet(t0, 0xa, 65534, Ecn::NotEct);
        g.on_packet(t0 + ms(20), 0xa, 0, Ecn::NotEct);
        // Report time: 10 s in 1/65536 s.
        let f = g.poll_feedback(t0 + ms(50), 10 << 16).unwrap();
        let r = index.results(&f);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].0, Some(ids[0]));
        assert_eq!(r[1], (Some(ids[1]), None));
        let (a, b) = (r[0].1.unwrap(), r[2].1.unwrap());
        assert!((a - (10_000_000 - 50_000)).abs() < 1_000, "{a}");
        assert!(((b - a) - 20_000).abs() < 1_500, "{}", b - a);
    }

    #[test]
    fn streams_and_packets_are_bounded() {
        let t0 = Instant::now();
        let mut g = CcfbGenerator::new(CcfbConfig {
            max_streams: 2,
            max_per_stream: 10,
            ..CcfbConfig::default()
        });
        for ssrc in 0..5 {
            for seq in 0..100 {
                g.on_packet(t0, ssrc, seq, Ecn::NotEct);
            }
        }
        assert_eq!(g.ignored, 300);
        let f = g.poll_feedback(t0 + ms(50), 0).unwrap();
        assert!(f.streams.iter().all(|s| s.metrics.len() == 10));
        let mut index = RtpIndex::new(2, 10);
        for ssrc in 0..5 {
            for seq in 0..100 {
                index.on_sent(ssrc, seq);
            }
        }
        assert!(index.streams.len() <= 2);
        assert!(index.streams.values().all(|(_, m)| m.len() <= 10));
    }
}
