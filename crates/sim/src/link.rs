//! Access links: delay, jitter, loss, duplication, reordering and a rate limit.
//!
//! Each host (and the public side of each NAT) has one [`Link`]: an up-link
//! for the datagrams it sends and a down-link for the datagrams it receives.
//! A datagram crosses the sender's up-link, then the receiver's down-link (and
//! the up- and down-links of the NATs on its path), and each link it crosses
//! decides its fate independently, from its own seeded RNG stream.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Default bound of a rate-limited link's queue, in bytes (64 KiB).
pub const DEFAULT_QUEUE_LIMIT: usize = 64 * 1024;

/// The impairments of one direction of a link, in the spirit of Linux `netem`.
///
/// The order in which a datagram meets them is:
/// 1. **loss**: dropped with probability `loss`;
/// 2. **duplication**: with probability `duplicate` a second copy follows;
///    each copy then goes through the steps below on its own;
/// 3. **rate limit**: if `rate` is set, the link serialises datagrams at
///    `rate` bytes per second behind a FIFO queue; a datagram that would make
///    the bytes waiting or in service (itself included) exceed `queue_limit`
///    is dropped (tail drop). A rate of 0 never drains the queue: every
///    datagram is dropped there;
/// 4. **delay**: `delay`, plus a uniform random `0..=jitter`, plus
///    `reorder_delay` for a datagram chosen for reordering (probability
///    `reorder`). Jitter and the reorder delay let a later datagram overtake
///    an earlier one: reordering is real, not simulated by counters.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way propagation delay.
    pub delay: Duration,
    /// Upper bound of a uniformly distributed extra delay per datagram.
    pub jitter: Duration,
    /// Probability in `0.0..=1.0` that a datagram is lost.
    pub loss: f64,
    /// Probability in `0.0..=1.0` that a datagram is duplicated.
    pub duplicate: f64,
    /// Probability in `0.0..=1.0` that a datagram is held back by `reorder_delay`.
    pub reorder: f64,
    /// Extra delay of a datagram chosen for reordering.
    pub reorder_delay: Duration,
    /// Serialisation rate in bytes per second; `None` means unlimited and
    /// `Some(0)` carries nothing (every datagram is dropped at the queue and
    /// counted in [`LinkCounters::rate_dropped`]).
    pub rate: Option<u64>,
    /// Bound, in bytes, of the queue in front of a rate-limited link.
    pub queue_limit: usize,
}

impl LinkConfig {
    /// A perfect link: no delay, no loss, no limit.
    pub const IDEAL: Self = Self {
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_delay: Duration::ZERO,
        rate: None,
        queue_limit: DEFAULT_QUEUE_LIMIT,
    };

    /// Sets the fixed one-way delay.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the bound of the uniform random extra delay.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the loss probability (clamped to `0.0..=1.0`).
    pub fn with_loss(mut self, loss: f64) -> Self {
        self.loss = clamp_probability(loss);
        self
    }

    /// Sets the duplication probability (clamped to `0.0..=1.0`).
    pub fn with_duplicate(mut self, duplicate: f64) -> Self {
        self.duplicate = clamp_probability(duplicate);
        self
    }

    /// Holds back a fraction `probability` of datagrams by `extra` delay.
    pub fn with_reorder(mut self, probability: f64, extra: Duration) -> Self {
        self.reorder = clamp_probability(probability);
        self.reorder_delay = extra;
        self
    }

    /// Limits the link to `bytes_per_second` behind a queue of `queue_limit`
    /// bytes. A rate of 0 makes a link that carries nothing.
    pub fn with_rate(mut self, bytes_per_second: u64, queue_limit: usize) -> Self {
        self.rate = Some(bytes_per_second);
        self.queue_limit = queue_limit;
        self
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self::IDEAL
    }
}

fn clamp_probability(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}

/// A host's access link: one [`LinkConfig`] per direction.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Link {
    /// Applied to datagrams the host sends.
    pub up: LinkConfig,
    /// Applied to datagrams the host receives.
    pub down: LinkConfig,
}

impl Link {
    /// A perfect link in both directions.
    pub const IDEAL: Self = Self {
        up: LinkConfig::IDEAL,
        down: LinkConfig::IDEAL,
    };

    /// A link with different impairments per direction.
    pub fn new(up: LinkConfig, down: LinkConfig) -> Self {
        Self { up, down }
    }

    /// The same impairments in both directions.
    pub fn symmetric(config: LinkConfig) -> Self {
        Self {
            up: config,
            down: config,
        }
    }
}

impl From<LinkConfig> for Link {
    fn from(config: LinkConfig) -> Self {
        Self::symmetric(config)
    }
}

/// What happened to the datagrams that entered one direction of a link.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkCounters {
    /// Datagrams that entered the link.
    pub sent: u64,
    /// Datagrams (copies included) that came out of the far end.
    pub delivered: u64,
    /// Datagrams dropped by random loss.
    pub lost: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Datagrams that came out after a datagram that entered later.
    pub reordered: u64,
    /// Datagrams (copies included) dropped because the rate-limit queue was full.
    pub rate_dropped: u64,
}

/// Where the copies of a datagram leave a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    /// Per-link sequence number, to detect reordering at the far end.
    pub seq: u64,
    /// Exit instants of up to two copies (the second only when duplicated).
    pub exits: [Option<Instant>; 2],
}

/// One direction of a link with its queue, RNG stream and counters.
#[derive(Debug)]
pub(crate) struct LinkState {
    pub config: LinkConfig,
    pub counters: LinkCounters,
    rng: StdRng,
    busy_until: Option<Instant>,
    next_seq: u64,
    max_exited: Option<u64>,
}

impl LinkState {
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        Self {
            config,
            counters: LinkCounters::default(),
            rng: StdRng::seed_from_u64(seed),
            busy_until: None,
            next_seq: 0,
            max_exited: None,
        }
    }

    /// A datagram of `len` bytes enters the link at `now`.
    pub fn enter(&mut self, now: Instant, len: usize) -> Admission {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.counters.sent += 1;
        let mut admission = Admission {
            seq,
            exits: [None, None],
        };
        if self.chance(self.config.loss) {
            self.counters.lost += 1;
            return admission;
        }
        let copies = if self.chance(self.config.duplicate) {
            self.counters.duplicated += 1;
            2
        } else {
            1
        };
        for exit in admission.exits.iter_mut().take(copies) {
            *exit = self.schedule_copy(now, len);
        }
        admission
    }

    /// A copy that entered with `seq` comes out of the far end.
    pub fn exit(&mut self, seq: u64) {
        self.counters.delivered += 1;
        match self.max_exited {
            Some(max) if seq < max => self.counters.reordered += 1,
            _ => self.max_exited = Some(seq),
        }
    }

    fn schedule_copy(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let departure = match self.config.rate {
            Some(rate) => self.queue(now, len, rate)?,
            None => now,
        };
        let mut exit = departure + self.config.delay;
        let jitter = duration_nanos(self.config.jitter);
        if jitter > 0 {
            exit += Duration::from_nanos(self.rng.random_range(0..=jitter));
        }
        if self.chance(self.config.reorder) {
            exit += self.config.reorder_delay;
        }
        Some(exit)
    }

    /// FIFO serialisation at `rate` bytes/s with tail drop past `queue_limit`.
    /// A zero rate is a queue that never drains: everything is tail-dropped
    /// (admitting a datagram there would keep it forever).
    fn queue(&mut self, now: Instant, len: usize, rate: u64) -> Option<Instant> {
        if rate == 0 {
            self.counters.rate_dropped += 1;
            return None;
        }
        let start = self.busy_until.filter(|b| *b > now).unwrap_or(now);
        let backlog_ns = (start - now).as_nanos();
        let backlog_bytes = backlog_ns.saturating_mul(u128::from(rate)) / 1_000_000_000;
        let len_bytes = len as u128;
        if backlog_bytes + len_bytes > self.config.queue_limit as u128 {
            self.counters.rate_dropped += 1;
            return None;
        }
        let service_ns = len_bytes
            .saturating_mul(1_000_000_000)
            .div_ceil(u128::from(rate));
        let departure = start + Duration::from_nanos(u64::try_from(service_ns).unwrap_or(u64::MAX));
        self.busy_until = Some(departure);
        Some(departure)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random::<f64>() < p
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_link_passes_every_datagram_at_once() {
        let now = Instant::now();
        let mut link = LinkState::new(LinkConfig::IDEAL, 1);
        let admission = link.enter(now, 100);
        assert_eq!(admission.exits, [Some(now), None]);
    }

    #[test]
    fn rate_limit_serialises_back_to_back_datagrams() {
        let now = Instant::now();
        // 1000 bytes/s: a 100-byte datagram takes 100 ms on the wire.
        let mut link = LinkState::new(LinkConfig::IDEAL.with_rate(1000, 1000), 1);
        let first = link.enter(now, 100).exits[0];
        let second = link.enter(now, 100).exits[0];
        assert_eq!(first, Some(now + Duration::from_millis(100)));
        assert_eq!(second, Some(now + Duration::from_millis(200)));
    }

    #[test]
    fn rate_limit_drops_past_the_queue_bound() {
        let now = Instant::now();
        let mut link = LinkState::new(LinkConfig::IDEAL.with_rate(1000, 250), 1);
        assert!(link.enter(now, 100).exits[0].is_some());
        assert!(link.enter(now, 100).exits[0].is_some());
        // 200 bytes are queued; 100 more would make 300 > 250.
        assert!(link.enter(now, 100).exits[0].is_none());
        assert_eq!(link.counters.rate_dropped, 1);
    }

    #[test]
    fn probabilities_are_clamped() {
        let config = LinkConfig::IDEAL.with_loss(2.0).with_duplicate(f64::NAN);
        assert_eq!(config.loss, 1.0);
        assert_eq!(config.duplicate, 0.0);
    }
}
