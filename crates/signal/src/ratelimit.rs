//! Per-client message rate limit: a token bucket.
//!
//! Each client has a bucket of `burst` tokens refilled at `per_second`; a
//! message takes one. A message that finds the bucket empty is refused with
//! the `rate-limited` error; a client refused `disconnect_after` times in a
//! row (sustained abuse, not a burst of ICE candidates) is disconnected.
//! Sans-IO: the caller passes the time.

use std::time::{Duration, Instant};

/// Limits of the per-client token bucket ([`crate::SignalConfig::rate_limit`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Messages per second a client may send on average. Default 20.
    pub per_second: f64,
    /// Messages a client may send at once (the bucket's size). Default 100,
    /// room for a browser's burst of trickled candidates.
    pub burst: u32,
    /// Refusals in a row after which the client is disconnected. Default 50.
    pub disconnect_after: u32,
}

impl RateLimit {
    /// A limit of `per_second` on average with bursts of `burst`.
    pub fn new(per_second: f64, burst: u32, disconnect_after: u32) -> Self {
        Self {
            per_second,
            burst,
            disconnect_after,
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new(20.0, 100, 50)
    }
}

/// What the bucket says about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Handle it.
    Allow,
    /// Refuse it with `rate-limited`.
    Refuse,
    /// Refuse it and disconnect the client.
    Disconnect,
}

/// One client's bucket.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
    refused_in_a_row: u32,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
            refused_in_a_row: 0,
        }
    }

    /// Takes a token for a message arriving at `now`.
    pub(crate) fn take(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        let refill = elapsed.as_secs_f64() * self.limit.per_second.max(0.0);
        self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            return Verdict::Allow;
        }
        self.refused_in_a_row = self.refused_in_a_row.saturating_add(1);
        if self.refused_in_a_row >= self.limit.disconnect_after.max(1) {
            Verdict::Disconnect
        } else {
            Verdict::Refuse
        }
    }

    /// How long until the next token (for the error message).
    pub(crate) fn retry_after(&self) -> Duration {
        let missing = (1.0 - self.tokens).max(0.0);
        if self.limit.per_second <= 0.0 {
            return Duration::MAX;
        }
        Duration::from_secs_f64(missing / self.limit.per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_up_to_the_bucket_size_passes_then_messages_are_refused() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::new(10.0, 5, 100), t0);
        for _ in 0..5 {
            assert_eq!(bucket.take(t0), Verdict::Allow);
        }
        assert_eq!(bucket.take(t0), Verdict::Refuse);
    }

    #[test]
    fn tokens_come_back_at_the_configured_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::new(10.0, 1, 100), t0);
        assert_eq!(bucket.take(t0), Verdict::Allow);
        assert_eq!(bucket.take(t0 + Duration::from_millis(50)), Verdict::Refuse);
        assert_eq!(bucket.take(t0 + Duration::from_millis(101)), Verdict::Allow);
    }

    #[test]
    fn the_bucket_never_holds_more_than_its_size() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::new(10.0, 3, 100), t0);
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(bucket.take(later), Verdict::Allow);
        }
        assert_eq!(bucket.take(later), Verdict::Refuse);
    }

    #[test]
    fn sustained_abuse_disconnects_and_an_allowed_message_resets_the_count() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::new(1.0, 1, 3), t0);
        assert_eq!(bucket.take(t0), Verdict::Allow);
        assert_eq!(bucket.take(t0), Verdict::Refuse);
        assert_eq!(bucket.take(t0), Verdict::Refuse);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(bucket.take(t1), Verdict::Allow, "a token came back");
        assert_eq!(bucket.take(t1), Verdict::Refuse);
        assert_eq!(bucket.take(t1), Verdict::Refuse);
        assert_eq!(bucket.take(t1), Verdict::Disconnect);
        assert!(bucket.retry_after() > Duration::ZERO);
    }
}
