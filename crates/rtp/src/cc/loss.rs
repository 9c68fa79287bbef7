//! The loss-based controller of Google Congestion Control
//! (draft-ietf-rmcat-gcc-02 §6): over a window of feedback, more than 10 %
//! loss cuts the rate by half the loss fraction, less than 2 % lets it
//! grow (8 % a second, as libwebrtc), anything between holds it. It works
//! from the combined estimate, so it only ever lowers it or lets it grow
//! back.

use std::time::{Duration, Instant};

use super::Bitrate;

/// Tuning of the loss-based controller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossConfig {
    /// A window closes once it spans this long...
    pub window: Duration,
    /// ...and holds this many packets.
    pub min_packets: u64,
    /// Loss above this cuts the rate (§6: 10 %).
    pub high: f64,
    /// Loss below this lets the rate grow (§6: 2 %).
    pub low: f64,
    /// Growth per second below `low`.
    pub growth: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(500),
            min_packets: 20,
            high: 0.10,
            low: 0.02,
            growth: 1.08,
        }
    }
}

/// The loss-based controller.
#[derive(Debug)]
pub struct LossController {
    config: LossConfig,
    estimate: Option<f64>,
    received: u64,
    lost: u64,
    window_start: Option<Instant>,
    last_update: Option<Instant>,
    last_loss: f64,
    last_decrease: Option<Instant>,
    rtt: Duration,
    /// No cut goes below this (the estimator's minimum).
    floor: f64,
}

impl LossController {
    /// A controller with `config`, no estimate of its own yet.
    pub fn new(config: LossConfig) -> Self {
        Self {
            config,
            estimate: None,
            received: 0,
            lost: 0,
            window_start: None,
            last_update: None,
            last_loss: 0.0,
            last_decrease: None,
            rtt: Duration::from_millis(100),
            floor: 0.0,
        }
    }

    /// The lowest limit a cut sets (the estimator's minimum): a limit cut
    /// far below it by a long loss would hold the target at the minimum
    /// for as long as it took to grow back to it once the loss ended.
    pub fn set_floor(&mut self, floor: Bitrate) {
        self.floor = floor.as_f64();
    }

    /// The round-trip time: after a cut, the next waits for a window of
    /// packets sent after it (window + RTT), so one loss burst cuts once.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// The loss fraction of the last closed window.
    pub fn loss(&self) -> f64 {
        self.last_loss
    }

    /// The loss-based limit, if loss ever constrained the rate.
    pub fn estimate(&self) -> Option<Bitrate> {
        self.estimate.map(Bitrate::from_f64)
    }

    /// Feedback reported `received` and `lost` packets; `current` is the
    /// combined estimate. Returns the loss-based limit.
    pub fn update(
        &mut self,
        now: Instant,
        received: u64,
        lost: u64,
        current: Bitrate,
    ) -> Option<Bitrate> {
        self.received += received;
        self.lost += lost;
        let start = *self.window_start.get_or_insert(now);
        let total = self.received + self.lost;
        if now.saturating_duration_since(start) < self.config.window
            || total < self.config.min_packets
        {
            return self.estimate();
        }
        let loss = self.lost as f64 / total as f64;
        self.last_loss = loss;
        self.received = 0;
        self.lost = 0;
        self.window_start = Some(now);
        let dt = self
            .last_update
            .map_or(self.config.window, |t| now.saturating_duration_since(t))
            .min(Duration::from_secs(1));
        self.last_update = Some(now);
        // §6: from the rate in force, not from a limit that loss no longer sets.
        let base = self
            .estimate
            .map_or(current.as_f64(), |e| e.min(current.as_f64()));
        let cut_allowed = self
            .last_decrease
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.window + self.rtt);
        self.estimate = if loss > self.config.high {
            if cut_allowed {
                self.last_decrease = Some(now);
                Some((base * (1.0 - 0.5 * loss)).max(self.floor))
            } else {
                Some(base)
            }
        } else if loss < self.config.low {
            match self.estimate {
                // Grow back; once at the combined estimate, loss sets no limit.
                Some(e) if e < current.as_f64() => {
                    Some(e * self.config.growth.powf(dt.as_secs_f64()) + 1_000.0 * dt.as_secs_f64())
                        .filter(|&n| n < current.as_f64())
                }
                _ => None,
            }
        } else {
            self.estimate.map(|e| e.min(current.as_f64()))
        };
        self.estimate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn long_heavy_loss_cuts_no_lower_than_the_floor_and_growth_starts_there() {
        let t0 = Instant::now();
        let mut c = LossController::new(LossConfig::default());
        c.set_floor(Bitrate::kbps(30));
        c.update(t0, 0, 0, Bitrate::kbps(1000));
        // 30 s of 50% loss, one window of 100 packets every 600 ms.
        let mut now = t0;
        for _ in 0..50 {
            now += ms(600);
            c.update(now, 50, 50, Bitrate::kbps(1000));
        }
        assert_eq!(c.estimate(), Some(Bitrate::kbps(30)));
        // The loss ends: the limit grows from the floor at the first window.
        now += ms(600);
        let grown = c.update(now, 100, 0, Bitrate::kbps(1000)).unwrap();
        assert!(grown > Bitrate::kbps(30), "{grown}");
    }

    #[test]
    fn heavy_loss_cuts_by_half_the_loss_fraction() {
        let t0 = Instant::now();
        let mut c = LossController::new(LossConfig::default());
        c.update(t0, 0, 0, Bitrate::kbps(1000));
        let r = c.update(t0 + ms(500), 80, 20, Bitrate::kbps(1000)).unwrap();
        assert_eq!(r, Bitrate::kbps(900));
        assert!((c.loss() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn moderate_loss_holds_and_light_loss_grows_back_until_no_limit() {
        let t0 = Instant::now();
        let mut c = LossController::new(LossConfig::default());
        c.update(t0, 0, 0, Bitrate::kbps(1000));
        c.update(t0 + ms(500), 50, 50, Bitrate::kbps(1000));
        assert_eq!(c.estimate(), Some(Bitrate::kbps(750)));
        c.update(t0 + ms(1000), 95, 5, Bitrate::kbps(1000));
        assert_eq!(c.estimate(), Some(Bitrate::kbps(750)));
        let mut t = t0 + ms(1000);
        for _ in 0..20 {
            t += ms(500);
            c.update(t, 100, 0, Bitrate::kbps(1000));
        }
        assert_eq!(c.estimate(), None, "loss no longer limits the rate");
    }

    #[test]
    fn one_loss_burst_cuts_once() {
        let t0 = Instant::now();
        let mut c = LossController::new(LossConfig::default());
        c.update(t0, 0, 0, Bitrate::kbps(1000));
        c.update(t0 + ms(500), 50, 50, Bitrate::kbps(1000));
        c.update(t0 + ms(1000), 50, 50, Bitrate::kbps(1000));
        assert_eq!(c.estimate(), Some(Bitrate::kbps(750)));
        c.update(t0 + ms(1500), 50, 50, Bitrate::kbps(1000));
        assert_eq!(c.estimate(), Some(Bitrate::bps(562_500)));
    }

    #[test]
    fn a_window_needs_enough_packets_and_time() {
        let t0 = Instant::now();
        let mut c = LossController::new(LossConfig::default());
        c.update(t0, 0, 0, Bitrate::kbps(1000));
        assert_eq!(c.update(t0 + ms(100), 0, 50, Bitrate::kbps(1000)), None);
        assert_eq!(
            c.update(t0 + ms(600), 0, 1, Bitrate::kbps(1000)),
            Some(Bitrate::kbps(500))
        );
    }
}
