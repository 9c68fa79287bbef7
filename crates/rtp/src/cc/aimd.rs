//! The delay-based rate controller of Google Congestion Control
//! (draft-ietf-rmcat-gcc-02 §5.5): additive-increase multiplicative-decrease
//! driven by the overuse detector. Far from the link's capacity the rate
//! grows multiplicatively (8 % a second); near it (the acknowledged rate at
//! the last decreases, a running average with its spread) by about one
//! packet per response time; on overuse it falls to 0.85 × the
//! acknowledged rate.

use std::time::{Duration, Instant};

use super::Bitrate;
use super::trendline::BandwidthUsage;

/// What the controller is doing (§5.5's state machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateState {
    /// Keep the rate (after a decrease, while queues drain).
    #[default]
    Hold,
    /// Grow the rate.
    Increase,
    /// Cut the rate.
    Decrease,
}

/// Tuning of the AIMD controller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AimdConfig {
    /// The decrease factor on overuse (§5.5: 0.85).
    pub beta: f64,
    /// Multiplicative growth per second far from convergence (§5.5: 1.08).
    pub eta: f64,
    /// The estimate never goes below this.
    pub min: Bitrate,
    /// Nor above this.
    pub max: Bitrate,
}

impl Default for AimdConfig {
    fn default() -> Self {
        Self {
            beta: 0.85,
            eta: 1.08,
            min: Bitrate::kbps(30),
            max: Bitrate::kbps(100_000),
        }
    }
}

/// The link capacity learnt from the acknowledged rate at decreases: a
/// running average in kbit/s and a normalised variance.
#[derive(Debug, Clone, Copy, Default)]
struct LinkCapacity {
    estimate_kbps: Option<f64>,
    deviation: f64,
}

impl LinkCapacity {
    fn sigma(&self, est: f64) -> f64 {
        (self.deviation * est).sqrt()
    }

    fn upper_kbps(&self) -> Option<f64> {
        self.estimate_kbps.map(|e| e + 3.0 * self.sigma(e))
    }

    fn lower_kbps(&self) -> Option<f64> {
        self.estimate_kbps
            .map(|e| (e - 3.0 * self.sigma(e)).max(0.0))
    }

    fn update(&mut self, sample_kbps: f64) {
        const ALPHA: f64 = 0.05;
        let est = match self.estimate_kbps {
            None => sample_kbps,
            Some(e) => (1.0 - ALPHA) * e + ALPHA * sample_kbps,
        };
        let norm = est.max(1.0);
        let err = est - sample_kbps;
        self.deviation =
            ((1.0 - ALPHA) * self.deviation + ALPHA * err * err / norm).clamp(0.4, 2.5);
        self.estimate_kbps = Some(est);
    }

    fn reset(&mut self) {
        self.estimate_kbps = None;
    }
}

/// The AIMD rate controller.
#[derive(Debug)]
pub struct AimdRateControl {
    config: AimdConfig,
    estimate: f64,
    state: RateState,
    last_update: Option<Instant>,
    last_decrease: Option<Instant>,
    capacity: LinkCapacity,
    rtt: Duration,
}

impl AimdRateControl {
    /// A controller starting at `start`.
    pub fn new(config: AimdConfig, start: Bitrate) -> Self {
        Self {
            config,
            estimate: start
                .as_f64()
                .clamp(config.min.as_f64(), config.max.as_f64()),
            state: RateState::Hold,
            last_update: None,
            last_decrease: None,
            capacity: LinkCapacity::default(),
            rtt: Duration::from_millis(200),
        }
    }

    /// The current estimate.
    pub fn estimate(&self) -> Bitrate {
        Bitrate::from_f64(self.estimate)
    }

    /// The controller's state.
    pub fn state(&self) -> RateState {
        self.state
    }

    /// Whether the link capacity is known (the additive, near-convergence regime).
    pub fn near_convergence(&self) -> bool {
        self.capacity.estimate_kbps.is_some()
    }

    /// The round-trip time used for the response time.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Changes the upper bound; the estimate comes down to it at once.
    pub fn set_max(&mut self, max: Bitrate) {
        self.config.max = max.max(self.config.min);
        self.estimate = self.estimate.min(self.config.max.as_f64());
    }

    /// Sets the estimate outright (from a probe result).
    pub fn set_estimate(&mut self, now: Instant, bitrate: Bitrate) {
        self.estimate = bitrate
            .as_f64()
            .clamp(self.config.min.as_f64(), self.config.max.as_f64());
        self.last_update = Some(now);
    }

    /// One update from the detector's `usage` and the acknowledged rate.
    pub fn update(
        &mut self,
        now: Instant,
        usage: BandwidthUsage,
        acked: Option<Bitrate>,
    ) -> Bitrate {
        // §5.5: the state machine.
        self.state = match (usage, self.state) {
            (BandwidthUsage::Overusing, _) => RateState::Decrease,
            (BandwidthUsage::Underusing, _) => RateState::Hold,
            (BandwidthUsage::Normal, RateState::Hold) => RateState::Increase,
            (BandwidthUsage::Normal, s) => s,
        };
        let dt = self
            .last_update
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            .min(Duration::from_secs(1));
        let acked = acked.map(Bitrate::as_f64);
        match self.state {
            RateState::Hold => {}
            RateState::Increase => {
                if let (Some(a), Some(upper)) = (acked, self.capacity.upper_kbps())
                    && a / 1e3 > upper
                {
                    // The path carries more than we learnt: far again.
                    self.capacity.reset();
                }
                let increase = if self.near_convergence() {
                    self.additive_rate() * dt.as_secs_f64()
                } else {
                    (self.estimate * (self.config.eta.powf(dt.as_secs_f64()) - 1.0))
                        .max(1_000.0 * dt.as_secs_f64())
                };
                let mut next = self.estimate + increase;
                if let Some(a) = acked {
                    // Never run far ahead of what is delivered.
                    next = next.min((1.5 * a + 10_000.0).max(self.estimate));
                }
                self.estimate = next;
            }
            RateState::Decrease => {
                let since = self
                    .last_decrease
                    .map_or(Duration::MAX, |t| now.saturating_duration_since(t));
                if since >= self.rtt.max(Duration::from_millis(100)) {
                    if let Some(a) = acked {
                        let next = (self.config.beta * a).min(self.estimate);
                        if let Some(lower) = self.capacity.lower_kbps()
                            && a / 1e3 < lower
                        {
                            self.capacity.reset();
                        }
                        self.capacity.update(a / 1e3);
                        self.estimate = next;
                    } else {
                        self.estimate *= self.config.beta;
                    }
                    self.last_decrease = Some(now);
                }
                self.state = RateState::Hold;
            }
        }
        self.estimate = self
            .estimate
            .clamp(self.config.min.as_f64(), self.config.max.as_f64());
        self.last_update = Some(now);
        self.estimate()
    }

    /// Additive increase near convergence: about one packet per response
    /// time (RTT + 100 ms), at least 4 kbit/s per second.
    fn additive_rate(&self) -> f64 {
        let response = (self.rtt + Duration::from_millis(100)).as_secs_f64();
        let bits_per_frame = self.estimate / 30.0;
        let packets = (bits_per_frame / (1200.0 * 8.0)).ceil().max(1.0);
        (bits_per_frame / packets / response).max(4_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn normal_usage_grows_about_eight_percent_a_second_far_from_convergence() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(AimdConfig::default(), Bitrate::kbps(1000));
        for i in 0..=20u32 {
            c.update(t0 + 50 * i * MS, BandwidthUsage::Normal, None);
        }
        let r = c.estimate().as_bps();
        assert!((1_070_000..=1_090_000).contains(&r), "{r}");
    }

    #[test]
    fn overuse_cuts_to_085_of_the_acknowledged_rate_then_grows_additively() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(AimdConfig::default(), Bitrate::kbps(3000));
        let r = c.update(t0, BandwidthUsage::Overusing, Some(Bitrate::kbps(2000)));
        assert_eq!(r, Bitrate::kbps(1700));
        assert_eq!(c.state(), RateState::Hold);
        assert!(c.near_convergence());
        for i in 1..=20u32 {
            c.update(
                t0 + 50 * i * MS,
                BandwidthUsage::Normal,
                Some(Bitrate::kbps(1700)),
            );
        }
        let grown = c.estimate().as_bps() - 1_700_000;
        assert!((10_000..100_000).contains(&grown), "{grown}");
    }

    #[test]
    fn increase_never_runs_far_ahead_of_the_acknowledged_rate() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(AimdConfig::default(), Bitrate::kbps(100));
        for i in 0..200u32 {
            c.update(
                t0 + 50 * i * MS,
                BandwidthUsage::Normal,
                Some(Bitrate::kbps(100)),
            );
        }
        assert!(c.estimate() <= Bitrate::kbps(160));
    }

    #[test]
    fn underuse_holds_the_rate() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(AimdConfig::default(), Bitrate::kbps(500));
        c.update(t0, BandwidthUsage::Underusing, None);
        let r = c.update(t0 + 500 * MS, BandwidthUsage::Underusing, None);
        assert_eq!(r, Bitrate::kbps(500));
    }
}
