//! A sans-IO pacer: packets wait in one queue per priority (audio, then
//! retransmissions, then video, then padding) and leave at the pacing rate
//! (the estimate × a factor, 2.5 by default as libwebrtc) from a budget
//! that holds at most a few milliseconds of sending, so media leaves in
//! short bursts rather than all at once. Padding is made only to fill a
//! probe cluster or when a padding rate is asked for. A queue that would
//! not leave within half the queue-time limit at the pacing rate leaves
//! faster (the rate rises to drain it in time); video waiting longer than
//! the limit is dropped, oldest first, and counted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Bitrate;
use super::history::ProbeId;
use super::probe::ProbeCluster;

/// The most sending time a late poll catches up on.
const CATCH_UP: Duration = Duration::from_millis(500);

/// The class of a packet; queues are served in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PacketKind {
    /// Audio, first (and not held by the budget).
    Audio,
    /// Retransmissions (RTX, RFC 4588).
    Retransmission,
    /// Video.
    Video,
    /// Padding the caller made (padding the pacer asks for is [`Paced::Padding`]).
    Padding,
}

const KINDS: [PacketKind; 4] = [
    PacketKind::Audio,
    PacketKind::Retransmission,
    PacketKind::Video,
    PacketKind::Padding,
];

/// Tuning of the pacer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacerConfig {
    /// Pacing rate = target × this.
    pub factor: f64,
    /// The most sending the budget holds: the longest burst.
    pub burst: Duration,
    /// Video older than this in the queue is dropped.
    pub max_queue_time: Duration,
    /// At most this many packets wait (the oldest video goes first).
    pub max_packets: usize,
    /// The largest padding packet asked for.
    pub max_padding: usize,
}

impl Default for PacerConfig {
    fn default() -> Self {
        Self {
            factor: 2.5,
            burst: Duration::from_millis(5),
            max_queue_time: Duration::from_millis(2000),
            max_packets: 10_000,
            max_padding: 1200,
        }
    }
}

/// What the pacer counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacerCounters {
    /// Packets released.
    pub sent: u64,
    /// Bytes released, padding included.
    pub sent_bytes: u64,
    /// Video dropped for waiting too long or a full queue.
    pub dropped: u64,
    /// Padding packets asked for.
    pub padding: u64,
}

/// A packet the pacer releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paced<T> {
    /// A queued packet.
    Media {
        /// What was pushed.
        item: T,
        /// Its class.
        kind: PacketKind,
        /// Its size.
        size: usize,
        /// The probe cluster it counts in.
        probe: Option<ProbeId>,
    },
    /// Send `size` bytes of padding now (RFC 3550 padding-only packets, or
    /// RTX of old packets, as the caller likes).
    Padding {
        /// Bytes wanted.
        size: usize,
        /// The probe cluster it counts in.
        probe: Option<ProbeId>,
    },
}

#[derive(Debug)]
struct Queued<T> {
    item: T,
    size: usize,
    enqueued: Instant,
}

#[derive(Debug, Clone, Copy)]
struct ActiveProbe {
    cluster: ProbeCluster,
    packets: usize,
    bytes: usize,
    /// When the cluster may send its next packet.
    next: Option<Instant>,
}

/// The pacer.
///
/// Drive order: [`push`](Self::push) packets, [`set_target`](Self::set_target)
/// and [`probe`](Self::probe) as the estimator says; then
/// [`poll_packet`](Self::poll_packet) until `None`, sending each; then
/// [`poll_timeout`](Self::poll_timeout), and `poll_packet` again at that
/// instant.
#[derive(Debug)]
pub struct Pacer<T> {
    config: PacerConfig,
    queues: [VecDeque<Queued<T>>; 4],
    queued_bytes: usize,
    pacing: Bitrate,
    padding: Bitrate,
    /// Bytes that may be sent now; negative is debt.
    budget: f64,
    padding_budget: f64,
    last: Option<Instant>,
    probes: VecDeque<ProbeCluster>,
    active: Option<ActiveProbe>,
    counters: PacerCounters,
}

impl<T> Pacer<T> {
    /// A pacer for a target of `target`.
    pub fn new(config: PacerConfig, target: Bitrate) -> Self {
        Self {
            pacing: Bitrate::from_f64(target.as_f64() * config.factor),
            config,
            queues: Default::default(),
            queued_bytes: 0,
            padding: Bitrate::ZERO,
            budget: 0.0,
            padding_budget: 0.0,
            last: None,
            probes: VecDeque::new(),
            active: None,
            counters: PacerCounters::default(),
        }
    }

    /// What was counted so far.
    pub fn counters(&self) -> PacerCounters {
        self.counters
    }

    /// Packets waiting.
    pub fn queued_packets(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Bytes waiting.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The pacing rate in force.
    pub fn pacing_rate(&self) -> Bitrate {
        self.pacing
    }

    /// A new target from the estimator: pacing at target × factor.
    pub fn set_target(&mut self, now: Instant, target: Bitrate) {
        self.refill(now);
        self.pacing = Bitrate::from_f64(target.as_f64() * self.config.factor);
    }

    /// Ask for padding at `rate` while the queues are empty (0 stops it).
    pub fn set_padding(&mut self, now: Instant, rate: Bitrate) {
        self.refill(now);
        self.padding = rate;
    }

    /// Sends `cluster` next: its packets leave at its rate, media first,
    /// padding when the queues run dry.
    pub fn probe(&mut self, cluster: ProbeCluster) {
        self.probes.push_back(cluster);
    }

    /// Queues a packet of `size` bytes.
    pub fn push(&mut self, now: Instant, kind: PacketKind, size: usize, item: T) {
        self.refill(now);
        self.queues[kind as usize].push_back(Queued {
            item,
            size,
            enqueued: now,
        });
        self.queued_bytes += size;
        while self.queued_packets() > self.config.max_packets.max(1) {
            if !self.drop_oldest_video() {
                break;
            }
        }
    }

    fn drop_oldest_video(&mut self) -> bool {
        match self.queues[PacketKind::Video as usize].pop_front() {
            Some(q) => {
                self.queued_bytes -= q.size;
                self.counters.dropped += 1;
                true
            }
            None => false,
        }
    }

    fn refill(&mut self, now: Instant) {
        let Some(last) = self.last else {
            self.last = Some(now);
            return;
        };
        let dt = now.saturating_duration_since(last);
        if dt.is_zero() {
            return;
        }
        self.last = Some(now);
        let rate = self.rate(now);
        // Bursts of at most `burst` when polled on time; a caller polled
        // late while packets wait catches up on the time it missed (up to
        // half a second, as libwebrtc's budget window), else a busy event
        // loop would pace below the rate.
        // (Audio is never held by the budget: it earns no catching up.)
        let held = self.queued_packets() - self.queues[PacketKind::Audio as usize].len();
        let window = match held {
            0 => self.config.burst,
            _ => self.config.burst.max(dt.min(CATCH_UP)),
        };
        self.budget = (self.budget + rate.bytes_in(dt)).min(rate.bytes_in(window));
        let pad_cap = self.padding.bytes_in(self.config.burst);
        self.padding_budget = (self.padding_budget + self.padding.bytes_in(dt)).min(pad_cap);
    }

    /// The rate in force at `now`: the pacing rate, or more when what
    /// waits would not leave within half `max_queue_time` at it (the
    /// queue drains rather than grows into drops; libwebrtc drains long
    /// queues likewise).
    fn rate(&self, now: Instant) -> Bitrate {
        let oldest = self
            .queues
            .iter()
            .filter_map(|q| q.front().map(|e| e.enqueued))
            .min();
        let Some(oldest) = oldest else {
            return self.pacing;
        };
        let left = (self.config.max_queue_time / 2)
            .saturating_sub(now.saturating_duration_since(oldest))
            .max(Duration::from_millis(10));
        let needed = self.queued_bytes as f64 * 8.0 / left.as_secs_f64();
        self.pacing.max(Bitrate::from_f64(needed))
    }

    fn next_kind(&self) -> Option<PacketKind> {
        KINDS
            .into_iter()
            .find(|&k| !self.queues[k as usize].is_empty())
    }

    /// The next packet to send at `now`, if the budget allows one.
    pub fn poll_packet(&mut self, now: Instant) -> Option<Paced<T>> {
        self.refill(now);
        // Video that waited too long is stale: drop it, oldest first.
        while let Some(q) = self.queues[PacketKind::Video as usize].front() {
            if now.saturating_duration_since(q.enqueued) > self.config.max_queue_time {
                self.drop_oldest_video();
            } else {
                break;
            }
        }
        if self.active.is_none()
            && let Some(cluster) = self.probes.pop_front()
        {
            self.active = Some(ActiveProbe {
                cluster,
                packets: 0,
                bytes: 0,
                next: None,
            });
        }
        if let Some(probe) = self.active {
            return self.poll_probe(now, probe);
        }
        // Audio is not held back by the budget (libwebrtc does the same).
        if !self.queues[PacketKind::Audio as usize].is_empty() {
            return self.release(PacketKind::Audio, None);
        }
        if self.budget > 0.0
            && let Some(kind) = self.next_kind()
        {
            return self.release(kind, None);
        }
        if self.queued_packets() == 0 && self.padding_budget > 0.0 {
            let size = (self.padding_budget.ceil() as usize).clamp(1, self.config.max_padding);
            self.padding_budget -= size as f64;
            return Some(self.padding(size, None));
        }
        None
    }

    fn poll_probe(&mut self, now: Instant, mut probe: ActiveProbe) -> Option<Paced<T>> {
        if probe.next.is_some_and(|t| t > now) {
            return None;
        }
        let id = Some(probe.cluster.id);
        let out = match self.next_kind() {
            Some(kind) => self.release(kind, id)?,
            None => self.padding(self.config.max_padding, id),
        };
        let size = match &out {
            Paced::Media { size, .. } | Paced::Padding { size, .. } => *size,
        };
        probe.packets += 1;
        probe.bytes += size;
        let gap = probe
            .cluster
            .bitrate
            .time_for(size as f64)
            .unwrap_or(Duration::ZERO);
        probe.next = Some(now + gap);
        self.active = (probe.packets < probe.cluster.min_packets
            || probe.bytes < probe.cluster.min_bytes)
            .then_some(probe);
        Some(out)
    }

    fn padding(&mut self, size: usize, probe: Option<ProbeId>) -> Paced<T> {
        self.counters.padding += 1;
        self.counters.sent += 1;
        self.counters.sent_bytes += size as u64;
        self.budget -= size as f64;
        Paced::Padding { size, probe }
    }

    fn release(&mut self, kind: PacketKind, probe: Option<ProbeId>) -> Option<Paced<T>> {
        let q = self.queues[kind as usize].pop_front()?;
        self.queued_bytes -= q.size;
        self.budget -= q.size as f64;
        self.counters.sent += 1;
        self.counters.sent_bytes += q.size as u64;
        Some(Paced::Media {
            item: q.item,
            kind,
            size: q.size,
            probe,
        })
    }

    /// Everything waiting, in priority order, unpaced (for an owner that
    /// stops pacing); probes in progress are dropped.
    pub fn drain(&mut self) -> Vec<T> {
        self.probes.clear();
        self.active = None;
        self.queued_bytes = 0;
        self.queues
            .iter_mut()
            .flat_map(|q| q.drain(..).map(|e| e.item))
            .collect()
    }

    /// When [`poll_packet`](Self::poll_packet) will have something, if
    /// anything waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let last = self.last?;
        if let Some(p) = &self.active {
            return Some(p.next.unwrap_or(last));
        }
        if !self.probes.is_empty() || !self.queues[PacketKind::Audio as usize].is_empty() {
            return Some(last);
        }
        if self.queued_packets() > 0 {
            if self.budget > 0.0 {
                return Some(last);
            }
            // Until the budget is positive again (a tick of at least 1 ms).
            let wait = self.rate(last).time_for(-self.budget + 1.0)?;
            return Some(last + wait.max(Duration::from_millis(1)));
        }
        if self.padding > Bitrate::ZERO {
            let wait = self.padding.time_for(-self.padding_budget + 1.0)?;
            return Some(last + wait.max(Duration::from_millis(1)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pacer for `target`, started at `t0`, with `n` video packets of
    /// `size` bytes queued then (numbered from 0).
    fn video_queued(t0: Instant, target: Bitrate, n: u32, size: usize) -> Pacer<u32> {
        let mut p = Pacer::new(PacerConfig::default(), target);
        p.poll_packet(t0);
        for i in 0..n {
            p.push(t0, PacketKind::Video, size, i);
        }
        p
    }

    fn drain(p: &mut Pacer<u32>, now: Instant) -> Vec<Paced<u32>> {
        std::iter::from_fn(|| p.poll_packet(now)).collect()
    }

    #[test]
    fn audio_goes_before_retransmissions_before_video() {
        let t0 = Instant::now();
        let mut p = Pacer::new(PacerConfig::default(), Bitrate::kbps(1000));
        p.push(t0, PacketKind::Video, 100, 1);
        p.push(t0, PacketKind::Retransmission, 100, 2);
        p.push(t0, PacketKind::Audio, 100, 3);
        let out = drain(&mut p, t0 + Duration::from_millis(5));
        let items: Vec<u32> = out
            .into_iter()
            .filter_map(|o| match o {
                Paced::Media { item, .. } => Some(item),
                Paced::Padding { .. } => None,
            })
            .collect();
        assert_eq!(items, [3, 2, 1]);
    }

    #[test]
    fn video_leaves_at_the_pacing_rate_in_bursts_of_at_most_five_ms() {
        let t0 = Instant::now();
        // 400 kbit/s target → 1 Mbit/s pacing → 125 bytes per ms.
        let mut p = video_queued(t0, Bitrate::kbps(400), 100, 1250);
        let mut now = t0;
        let mut sent_at = Vec::new();
        loop {
            let burst = drain(&mut p, now);
            assert!(
                burst.len() <= 1,
                "a 5 ms budget holds 625 bytes: one packet at a time"
            );
            sent_at.extend(burst.iter().map(|_| now));
            if p.queued_packets() == 0 {
                break;
            }
            now = p.poll_timeout().unwrap();
        }
        let span = *sent_at.last().unwrap() - sent_at[0];
        // 99 gaps of 10 ms each.
        assert!(
            span.abs_diff(Duration::from_millis(990)) <= Duration::from_millis(30),
            "{span:?}"
        );
    }

    #[test]
    fn a_queue_too_long_for_the_estimate_drains_within_a_second_instead_of_dropping() {
        let t0 = Instant::now();
        // 100 kbit/s target → 250 kbit/s pacing: 250 KB would take 8 s.
        let mut p = video_queued(t0, Bitrate::kbps(100), 200, 1250);
        let mut now = t0;
        while p.queued_packets() > 0 {
            drain(&mut p, now);
            if let Some(t) = p.poll_timeout() {
                now = t;
            }
        }
        assert_eq!(p.counters().dropped, 0);
        assert!(now - t0 <= Duration::from_millis(1100), "{:?}", now - t0);
        assert!(now - t0 >= Duration::from_millis(800), "{:?}", now - t0);
    }

    #[test]
    fn a_pacer_polled_late_catches_up_on_the_time_it_missed() {
        let t0 = Instant::now();
        // 400 kbit/s target → 1 Mbit/s pacing → 125 bytes per ms.
        let mut p = video_queued(t0, Bitrate::kbps(400), 100, 1250);
        // Polled every 50 ms rather than at its 10 ms ticks: 50 ms of
        // sending each time (5 packets), not one 5 ms burst (one packet).
        let mut now = t0;
        let mut sent = 0;
        for _ in 0..10 {
            now += Duration::from_millis(50);
            sent += drain(&mut p, now).len();
        }
        assert!((48..=55).contains(&sent), "{sent} packets in 500 ms");
        // An idle pacer still builds up no more than one burst.
        let mut idle = Pacer::new(PacerConfig::default(), Bitrate::kbps(400));
        idle.poll_packet(t0);
        idle.poll_packet(t0 + Duration::from_secs(1));
        for i in 0..10 {
            idle.push(t0 + Duration::from_secs(1), PacketKind::Video, 1250, i);
        }
        assert_eq!(drain(&mut idle, t0 + Duration::from_secs(1)).len(), 1);
    }

    #[test]
    fn stale_video_is_dropped_and_counted() {
        let t0 = Instant::now();
        let mut p = video_queued(t0, Bitrate::kbps(30), 100, 1200);
        drain(&mut p, t0 + Duration::from_secs(3));
        assert!(p.counters().dropped > 90);
        assert_eq!(p.queued_packets(), 0);
    }

    #[test]
    fn a_probe_cluster_is_filled_with_padding_at_its_rate() {
        let t0 = Instant::now();
        let mut p: Pacer<u32> = Pacer::new(PacerConfig::default(), Bitrate::kbps(300));
        p.probe(ProbeCluster {
            id: ProbeId(7),
            bitrate: Bitrate::kbps(960),
            min_packets: 5,
            min_bytes: 1800,
        });
        let mut out = Vec::new();
        let mut next = Some(t0);
        while let Some(now) = next {
            if let Some(x) = p.poll_packet(now) {
                out.push((now, x));
            }
            next = p.poll_timeout();
        }
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|(_, x)| matches!(
            x,
            Paced::Padding {
                size: 1200,
                probe: Some(ProbeId(7))
            }
        )));
        // 1200 bytes at 960 kbit/s = 10 ms apart.
        assert_eq!(out[4].0 - out[0].0, Duration::from_millis(40));
    }

    #[test]
    fn drain_gives_everything_in_priority_order() {
        let t0 = Instant::now();
        let mut p = Pacer::new(PacerConfig::default(), Bitrate::kbps(30));
        p.push(t0, PacketKind::Video, 1000, 1);
        p.push(t0, PacketKind::Audio, 100, 2);
        p.push(t0, PacketKind::Video, 1000, 3);
        assert_eq!(p.drain(), [2, 1, 3]);
        assert_eq!((p.queued_packets(), p.queued_bytes()), (0, 0));
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn no_padding_unless_probing_or_asked() {
        let t0 = Instant::now();
        let mut p: Pacer<u32> = Pacer::new(PacerConfig::default(), Bitrate::kbps(1000));
        assert!(drain(&mut p, t0).is_empty());
        assert!(drain(&mut p, t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(p.poll_timeout(), None);
        p.set_padding(t0 + Duration::from_secs(1), Bitrate::kbps(100));
        let out = drain(&mut p, t0 + Duration::from_secs(2));
        assert!(!out.is_empty());
        assert!(
            out.iter()
                .all(|x| matches!(x, Paced::Padding { probe: None, .. }))
        );
    }
}
