//! The delay-based detector of Google Congestion Control
//! (draft-ietf-rmcat-gcc-02 §5): packets sent within a short burst form a
//! group (§5.2); the change in one-way delay between groups (the delay
//! gradient) is accumulated, smoothed, and its trend over a window of
//! groups estimated by least squares (libwebrtc's trendline filter, in
//! place of the draft's Kalman filter); the overuse detector compares the
//! trend with an adaptive threshold (§5.4).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the detector concludes about the path (draft-ietf-rmcat-gcc-02 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BandwidthUsage {
    /// Queues are neither building nor draining.
    #[default]
    Normal,
    /// Queues are building: sending faster than the path carries.
    Overusing,
    /// Queues are draining.
    Underusing,
}

/// Tuning of the delay-based detector; the defaults are libwebrtc's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendlineConfig {
    /// Packets sent within this span of the group's first form one group
    /// (§5.2: 5 ms).
    pub burst: Duration,
    /// Groups in the regression window.
    pub window: usize,
    /// Exponential smoothing of the accumulated delay.
    pub smoothing: f64,
    /// Gain applied to the trend before the threshold comparison.
    pub threshold_gain: f64,
    /// The first threshold, in ms (§5.4: 12.5 ms).
    pub initial_threshold: f64,
    /// Adaptation speed when the trend is above the threshold (§5.4 K_u).
    pub k_up: f64,
    /// Adaptation speed when below (§5.4 K_d).
    pub k_down: f64,
    /// Overuse must last this long before it is signalled (§5.4: 10 ms).
    pub overuse_time: Duration,
}

impl Default for TrendlineConfig {
    fn default() -> Self {
        Self {
            burst: Duration::from_millis(5),
            window: 20,
            smoothing: 0.9,
            threshold_gain: 4.0,
            initial_threshold: 12.5,
            k_up: 0.0087,
            k_down: 0.039,
            overuse_time: Duration::from_millis(10),
        }
    }
}

/// A group of packets sent in one burst (§5.2).
#[derive(Debug, Clone, Copy)]
struct Group {
    first_send: Instant,
    last_send: Instant,
    /// Last arrival in the group, receiver microseconds.
    last_arrival: i64,
    size: usize,
}

/// The delay-based detector: groups, trendline, overuse.
#[derive(Debug)]
pub struct DelayDetector {
    config: TrendlineConfig,
    current: Option<Group>,
    /// The last send time within the current group's burst (its first
    /// send time + `burst`; `None`: no group, or beyond any instant).
    burst_end: Option<Instant>,
    previous: Option<Group>,
    /// Accumulated delay variation, ms.
    accumulated: f64,
    smoothed: f64,
    first_arrival: Option<i64>,
    /// (arrival ms since the first, smoothed delay ms).
    history: VecDeque<(f64, f64)>,
    deltas: u32,
    prev_trend: f64,
    threshold: f64,
    last_threshold_update: Option<i64>,
    time_over_using: Option<f64>,
    overuse_count: u32,
    state: BandwidthUsage,
    trend: f64,
}

impl DelayDetector {
    /// A detector with `config`.
    pub fn new(config: TrendlineConfig) -> Self {
        Self {
            config,
            current: None,
            burst_end: None,
            previous: None,
            accumulated: 0.0,
            smoothed: 0.0,
            first_arrival: None,
            history: VecDeque::with_capacity(config.window + 1),
            deltas: 0,
            prev_trend: 0.0,
            threshold: config.initial_threshold,
            last_threshold_update: None,
            time_over_using: None,
            overuse_count: 0,
            state: BandwidthUsage::Normal,
            trend: 0.0,
        }
    }

    /// The current conclusion.
    pub fn state(&self) -> BandwidthUsage {
        self.state
    }

    /// The last trend (slope of smoothed delay over time, ms per ms).
    pub fn trend(&self) -> f64 {
        self.trend
    }

    /// The adaptive threshold, ms.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// A packet sent at `send_time` of `size` bytes arrived at `arrival`
    /// (receiver microseconds). Give packets in send order.
    pub fn on_packet(&mut self, send_time: Instant, arrival: i64, size: usize) {
        let group = Group {
            first_send: send_time,
            last_send: send_time,
            last_arrival: arrival,
            size,
        };
        let Some(cur) = self.current.as_mut() else {
            self.start_group(group);
            return;
        };
        if send_time < cur.first_send {
            // Reordered into an older group: ignore for the gradient.
            return;
        }
        // `send_time - first_send <= burst`, as `send_time <= burst_end`.
        if self.burst_end.is_none_or(|end| send_time <= end) {
            cur.last_send = cur.last_send.max(send_time);
            cur.last_arrival = cur.last_arrival.max(arrival);
            cur.size += size;
            return;
        }
        let done = *cur;
        self.start_group(group);
        if let Some(prev) = self.previous {
            let send_delta = done.last_send.duration_since(prev.last_send).as_secs_f64() * 1e3;
            let arrival_delta = done.last_arrival.saturating_sub(prev.last_arrival) as f64 / 1e3;
            self.update(arrival_delta, send_delta, done.last_arrival);
        }
        self.previous = Some(done);
    }

    /// `group` opens the current group.
    fn start_group(&mut self, group: Group) {
        self.burst_end = group.first_send.checked_add(self.config.burst);
        self.current = Some(group);
    }

    /// §5.3: one delay-gradient sample, then the trend and the detector.
    fn update(&mut self, arrival_delta: f64, send_delta: f64, arrival: i64) {
        let delta = arrival_delta - send_delta;
        self.deltas = self.deltas.saturating_add(1);
        self.accumulated += delta;
        let s = self.config.smoothing;
        self.smoothed = s * self.smoothed + (1.0 - s) * self.accumulated;
        let first = *self.first_arrival.get_or_insert(arrival);
        self.history
            .push_back((arrival.saturating_sub(first) as f64 / 1e3, self.smoothed));
        if self.history.len() > self.config.window {
            self.history.pop_front();
        }
        if self.history.len() == self.config.window
            && let Some(slope) = linear_slope(&self.history)
        {
            self.trend = slope;
        }
        self.detect(send_delta, arrival);
    }

    /// §5.4: compare the modified trend with the adaptive threshold.
    fn detect(&mut self, send_delta: f64, arrival: i64) {
        let modified = f64::from(self.deltas.min(60)) * self.trend * self.config.threshold_gain;
        if modified > self.threshold {
            let over = match self.time_over_using {
                None => send_delta / 2.0,
                Some(t) => t + send_delta,
            };
            self.time_over_using = Some(over);
            self.overuse_count += 1;
            let required = self.config.overuse_time.as_secs_f64() * 1e3;
            if over > required && self.overuse_count > 1 && self.trend >= self.prev_trend {
                self.time_over_using = Some(0.0);
                self.overuse_count = 0;
                self.state = BandwidthUsage::Overusing;
            }
        } else if modified < -self.threshold {
            self.time_over_using = None;
            self.overuse_count = 0;
            self.state = BandwidthUsage::Underusing;
        } else {
            self.time_over_using = None;
            self.overuse_count = 0;
            self.state = BandwidthUsage::Normal;
        }
        self.prev_trend = self.trend;
        self.adapt_threshold(modified, arrival);
    }

    /// §5.4: the threshold follows |modified trend| slowly, faster downwards.
    fn adapt_threshold(&mut self, modified: f64, arrival: i64) {
        let last = *self.last_threshold_update.get_or_insert(arrival);
        // Spikes far above the threshold (e.g. a route change) do not move it.
        if modified.abs() > self.threshold + 15.0 {
            self.last_threshold_update = Some(arrival);
            return;
        }
        let k = if modified.abs() < self.threshold {
            self.config.k_down
        } else {
            self.config.k_up
        };
        let dt = (arrival.saturating_sub(last) as f64 / 1e3).clamp(0.0, 100.0);
        self.threshold += k * (modified.abs() - self.threshold) * dt;
        self.threshold = self.threshold.clamp(6.0, 600.0);
        self.last_threshold_update = Some(arrival);
    }
}

/// Least-squares slope of `points` (x, y); `None` if x does not vary.
fn linear_slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den != 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets every `gap_ms` whose one-way delay grows by `growth_ms` each.
    fn run(
        detector: &mut DelayDetector,
        n: u64,
        gap_ms: u64,
        growth_us: i64,
    ) -> Vec<BandwidthUsage> {
        let t0 = Instant::now();
        let mut states = Vec::new();
        for i in 0..n {
            let send = t0 + Duration::from_millis(i * gap_ms);
            let arrival = (i * gap_ms * 1000) as i64 + 50_000 + growth_us * i as i64;
            detector.on_packet(send, arrival, 1200);
            states.push(detector.state());
        }
        states
    }

    #[test]
    fn a_steady_delay_is_normal() {
        let mut d = DelayDetector::new(TrendlineConfig::default());
        let states = run(&mut d, 200, 10, 0);
        assert!(states.iter().all(|s| *s == BandwidthUsage::Normal));
    }

    #[test]
    fn a_growing_queue_is_overuse() {
        let mut d = DelayDetector::new(TrendlineConfig::default());
        let states = run(&mut d, 100, 10, 1_000);
        assert!(states.contains(&BandwidthUsage::Overusing));
    }

    #[test]
    fn a_draining_queue_is_underuse() {
        let mut d = DelayDetector::new(TrendlineConfig::default());
        let states = run(&mut d, 100, 10, -1_000);
        assert_eq!(states.last(), Some(&BandwidthUsage::Underusing));
    }

    #[test]
    fn packets_within_one_burst_form_one_group() {
        let mut d = DelayDetector::new(TrendlineConfig::default());
        let t0 = Instant::now();
        for i in 0..5u64 {
            d.on_packet(t0 + Duration::from_millis(i), i as i64 * 1000, 1000);
        }
        assert_eq!(d.current.map(|g| g.size), Some(5000));
        assert_eq!(d.deltas, 0);
    }

    #[test]
    fn a_packet_exactly_one_burst_after_the_first_joins_its_group_and_one_later_does_not() {
        let mut d = DelayDetector::new(TrendlineConfig::default());
        let t0 = Instant::now();
        let burst = TrendlineConfig::default().burst;
        d.on_packet(t0, 0, 1000);
        d.on_packet(t0 + burst, 5_000, 1000);
        assert_eq!(d.current.map(|g| g.size), Some(2000));
        d.on_packet(t0 + burst + Duration::from_nanos(1), 5_001, 1000);
        assert_eq!(
            d.current.map(|g| (g.first_send, g.size)),
            Some((t0 + burst + Duration::from_nanos(1), 1000))
        );
        assert_eq!(d.previous.map(|g| g.size), Some(2000));
    }
}
