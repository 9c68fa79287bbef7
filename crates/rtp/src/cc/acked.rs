//! The acknowledged bitrate: what the receiver reports it got, over a
//! sliding window of arrival time (draft-ietf-rmcat-gcc-02 §5.5 uses it as
//! the base of a decrease).

use std::collections::VecDeque;
use std::time::Duration;

use super::Bitrate;

/// Received bytes over a window of receiver time.
#[derive(Debug)]
pub struct AckedBitrate {
    window_us: i64,
    min_span_us: i64,
    samples: VecDeque<(i64, usize)>,
    bytes: usize,
}

impl AckedBitrate {
    /// A window of `window`; no rate until the samples span `min_span`.
    pub fn new(window: Duration, min_span: Duration) -> Self {
        Self {
            window_us: window.as_micros().min(i64::MAX as u128) as i64,
            min_span_us: min_span.as_micros().min(i64::MAX as u128).max(1) as i64,
            samples: VecDeque::new(),
            bytes: 0,
        }
    }

    /// A packet of `size` bytes arrived at `arrival` (receiver microseconds).
    pub fn on_received(&mut self, arrival: i64, size: usize) {
        // Keep time monotonic: a reordered report counts at the newest
        // time. One from more than a window before it is a clock that
        // jumped (a stepped wall clock, a crafted reference time): the
        // window starts again from it, or no sample would ever expire
        // again and the span would stand still while the bytes grow.
        let at = match self.samples.back() {
            Some(&(newest, _)) if arrival < newest.saturating_sub(self.window_us) => {
                self.samples.clear();
                self.bytes = 0;
                arrival
            }
            Some(&(newest, _)) => arrival.max(newest),
            None => arrival,
        };
        self.samples.push_back((at, size));
        self.bytes += size;
        while let Some(&(t, s)) = self.samples.front() {
            if at.saturating_sub(t) > self.window_us {
                self.samples.pop_front();
                self.bytes -= s;
            } else {
                break;
            }
        }
    }

    /// The rate over the window, once it spans enough time.
    pub fn bitrate(&self) -> Option<Bitrate> {
        let (&(first, first_size), &(last, _)) = (self.samples.front()?, self.samples.back()?);
        let span = last.saturating_sub(first);
        if span < self.min_span_us {
            return None;
        }
        // The first packet's bytes arrived before the span began.
        let bits = (self.bytes - first_size) as f64 * 8.0;
        Some(Bitrate::from_f64(bits * 1e6 / span as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_arrivals_give_their_rate_once_the_window_is_spanned() {
        let mut a = AckedBitrate::new(Duration::from_millis(500), Duration::from_millis(100));
        a.on_received(0, 1250);
        assert_eq!(a.bitrate(), None);
        // 1250 bytes every 10 ms = 1 Mbit/s.
        for i in 1..=100 {
            a.on_received(i * 10_000, 1250);
        }
        assert_eq!(a.bitrate(), Some(Bitrate::kbps(1000)));
    }

    #[test]
    fn a_clock_that_jumps_a_window_back_or_ahead_starts_the_window_again() {
        let mut a = AckedBitrate::new(Duration::from_millis(500), Duration::from_millis(100));
        // 1 Mbit/s; then a report from six days before, then the same
        // 1 Mbit/s twelve days before (the next honest report unwrapped
        // against the crafted one).
        let day: i64 = 86_400_000_000;
        for (from, n) in [(0, 101), (-6 * day, 1), (-12 * day, 101)] {
            for i in 0..n {
                a.on_received(from + i * 10_000, 1250);
            }
        }
        assert_eq!(a.bitrate(), Some(Bitrate::kbps(1000)));
        assert!(a.samples.len() <= 51, "samples expire: {}", a.samples.len());
        // A report six days ahead, then the honest stream again.
        a.on_received(6 * day, 1250);
        for i in 0..101 {
            a.on_received(-12 * day + 1_000_000 + i * 10_000, 1250);
        }
        assert_eq!(a.bitrate(), Some(Bitrate::kbps(1000)));
        assert!(a.samples.len() <= 51);
    }
}
