//! Bandwidth probing (draft-ietf-rmcat-gcc-02 leaves it to the sender;
//! this follows libwebrtc): short clusters of packets sent above the
//! estimate, whose receive rate, once reported, says what the path carries.
//! At start, clusters at 3× and 6× the start rate, then again at twice each
//! result that reached 70 % of its target (exponential probing); after a
//! large drop of the estimate, one cluster at 85 % of the rate before it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::Bitrate;
use super::history::{PacketResult, ProbeId};

/// A cluster for the pacer to send: at least `min_packets` packets and
/// `min_bytes` bytes at `bitrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeCluster {
    /// Tags the packets of this cluster.
    pub id: ProbeId,
    /// The rate to send the cluster at.
    pub bitrate: Bitrate,
    /// The fewest packets.
    pub min_packets: usize,
    /// The fewest bytes.
    pub min_bytes: usize,
}

/// Tuning of probing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeConfig {
    /// Multiples of the start rate probed at start.
    pub initial: [f64; 2],
    /// A cluster lasts at least this long at its rate.
    pub duration: Duration,
    /// And holds at least this many packets.
    pub min_packets: usize,
    /// Exponential probing goes on while a result reaches this fraction of
    /// its target.
    pub continue_fraction: f64,
    /// A drop below this fraction of the recent highest estimate...
    pub drop_fraction: f64,
    /// ...within this long of that estimate triggers a probe...
    pub drop_window: Duration,
    /// ...at this fraction of the estimate before the drop.
    pub drop_probe_fraction: f64,
    /// Nothing is probed above this.
    pub max: Bitrate,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            initial: [3.0, 6.0],
            duration: Duration::from_millis(15),
            min_packets: 5,
            continue_fraction: 0.7,
            drop_fraction: 0.66,
            drop_window: Duration::from_secs(5),
            drop_probe_fraction: 0.85,
            max: Bitrate::kbps(100_000),
        }
    }
}

/// One cluster's packets as reported.
#[derive(Debug, Clone, Copy)]
struct ClusterStats {
    target: Bitrate,
    created: Instant,
    sent: usize,
    reported: usize,
    received: usize,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
    last_send_size: usize,
    first_arrival: Option<i64>,
    first_arrival_size: usize,
    last_arrival: Option<i64>,
    bytes: usize,
}

/// Plans probe clusters and turns their feedback into rate measurements.
#[derive(Debug)]
pub struct Prober {
    config: ProbeConfig,
    next_id: u32,
    queued: VecDeque<ProbeCluster>,
    clusters: BTreeMap<ProbeId, ClusterStats>,
    /// Exponential probing is on until a result falls short.
    exponential: bool,
    /// The highest rate probed or planned so far in this phase.
    highest_planned: Bitrate,
    /// The highest estimate recently and when it was seen.
    recent_max: Option<(Instant, Bitrate)>,
    last_drop_probe: Option<Instant>,
}

impl Prober {
    /// A prober with `config`.
    pub fn new(config: ProbeConfig) -> Self {
        Self {
            config,
            next_id: 1,
            queued: VecDeque::new(),
            clusters: BTreeMap::new(),
            exponential: false,
            highest_planned: Bitrate::ZERO,
            recent_max: None,
            last_drop_probe: None,
        }
    }

    /// Plans the start probes at multiples of `start`.
    pub fn start(&mut self, now: Instant, start: Bitrate) {
        self.exponential = true;
        for m in self.config.initial {
            self.plan(now, Bitrate::from_f64(start.as_f64() * m));
        }
    }

    fn plan(&mut self, now: Instant, bitrate: Bitrate) {
        let bitrate = bitrate.min(self.config.max);
        if bitrate <= self.highest_planned && self.exponential {
            return;
        }
        self.highest_planned = self.highest_planned.max(bitrate);
        let id = ProbeId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let min_bytes = bitrate.bytes_in(self.config.duration).ceil() as usize;
        self.queued.push_back(ProbeCluster {
            id,
            bitrate,
            min_packets: self.config.min_packets,
            min_bytes,
        });
        self.clusters.insert(
            id,
            ClusterStats {
                target: bitrate,
                created: now,
                sent: 0,
                reported: 0,
                received: 0,
                first_send: None,
                last_send: None,
                last_send_size: 0,
                first_arrival: None,
                first_arrival_size: 0,
                last_arrival: None,
                bytes: 0,
            },
        );
    }

    /// The next cluster for the pacer.
    pub fn poll_probe(&mut self) -> Option<ProbeCluster> {
        self.queued.pop_front()
    }

    /// Whether a cluster is planned or waiting for its feedback.
    pub fn in_progress(&self) -> bool {
        !self.clusters.is_empty()
    }

    /// A packet of cluster `id` left.
    pub fn on_sent(&mut self, now: Instant, id: ProbeId, size: usize) {
        if let Some(c) = self.clusters.get_mut(&id) {
            c.sent += 1;
            if c.first_send.is_none() {
                c.first_send = Some(now);
            }
            c.last_send = Some(now);
            c.last_send_size = size;
            c.bytes += size;
        }
    }

    /// The estimate is now `estimate`: watch for a large drop.
    pub fn on_estimate(&mut self, now: Instant, estimate: Bitrate) {
        let max = match self.recent_max {
            Some((at, max))
                if now.saturating_duration_since(at) < self.config.drop_window
                    && max >= estimate =>
            {
                (at, max)
            }
            _ => (now, estimate),
        };
        self.recent_max = Some(max);
        let dropped = estimate.as_f64() < self.config.drop_fraction * max.1.as_f64();
        let quiet = self
            .last_drop_probe
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.drop_window);
        if dropped && quiet && !self.in_progress() {
            self.last_drop_probe = Some(now);
            self.exponential = false;
            self.plan(
                now,
                Bitrate::from_f64(max.1.as_f64() * self.config.drop_probe_fraction),
            );
            self.recent_max = Some((now, estimate));
        }
    }

    /// Feedback arrived for `packets`: returns the rate each finished
    /// cluster measured.
    pub fn on_feedback(&mut self, now: Instant, packets: &[PacketResult]) -> Vec<Bitrate> {
        for p in packets {
            let Some(id) = p.sent.probe else { continue };
            let Some(c) = self.clusters.get_mut(&id) else {
                continue;
            };
            c.reported += 1;
            if let Some(a) = p.arrival {
                c.received += 1;
                if c.first_arrival.is_none_or(|f| a < f) {
                    c.first_arrival = Some(a);
                    c.first_arrival_size = p.sent.size;
                }
                c.last_arrival = Some(c.last_arrival.map_or(a, |l| l.max(a)));
            }
        }
        let mut results = Vec::new();
        let done: Vec<ProbeId> = self
            .clusters
            .iter()
            .filter(|(_, c)| {
                (c.sent >= self.config.min_packets && c.reported >= c.sent)
                    || now.saturating_duration_since(c.created) > Duration::from_secs(2)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in done {
            let Some(c) = self.clusters.remove(&id) else {
                continue;
            };
            match measure(&c) {
                Some(rate) => {
                    results.push(rate);
                    if self.exponential
                        && rate.as_f64() >= self.config.continue_fraction * c.target.as_f64()
                    {
                        self.plan(now, Bitrate::from_f64(2.0 * rate.as_f64()));
                    } else if rate.as_f64() < self.config.continue_fraction * c.target.as_f64() {
                        self.exponential = false;
                    }
                }
                None => self.exponential = false,
            }
        }
        results
    }
}

/// The rate a cluster measured: the lower of its send and receive rates,
/// and 95 % of the receive rate when that is clearly below the send rate
/// (the probe found the path's limit).
fn measure(c: &ClusterStats) -> Option<Bitrate> {
    if c.received * 5 < c.sent * 4 || c.received < 2 {
        return None;
    }
    let send_span = c
        .last_send?
        .saturating_duration_since(c.first_send?)
        .as_secs_f64();
    let recv_span = c.last_arrival?.saturating_sub(c.first_arrival?) as f64 / 1e6;
    if send_span <= 0.0 || recv_span <= 0.0 {
        return None;
    }
    let send = c.bytes.saturating_sub(c.last_send_size) as f64 * 8.0 / send_span;
    let recv = c.bytes.saturating_sub(c.first_arrival_size) as f64 * 8.0 / recv_span;
    Some(Bitrate::from_f64(if recv < 0.9 * send {
        0.95 * recv
    } else {
        send.min(recv)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::history::SentPacket;

    /// Sends `cluster` at its rate and reports it through a path of `capacity`.
    fn run_cluster(
        p: &mut Prober,
        t0: Instant,
        cluster: ProbeCluster,
        capacity: f64,
    ) -> Vec<Bitrate> {
        let size = 1000usize;
        let n = cluster.min_packets.max(cluster.min_bytes.div_ceil(size));
        let gap = size as f64 * 8.0 / cluster.bitrate.as_f64();
        let mut results = Vec::new();
        let mut arrival = 0.0f64;
        for i in 0..n {
            let sent_at = t0 + Duration::from_secs_f64(gap * i as f64);
            p.on_sent(sent_at, cluster.id, size);
            arrival = arrival.max(gap * i as f64) + size as f64 * 8.0 / capacity;
            results.push(PacketResult {
                sent: SentPacket {
                    seq: i as u64,
                    send_time: sent_at,
                    size,
                    probe: Some(cluster.id),
                },
                arrival: Some((arrival * 1e6) as i64),
            });
        }
        p.on_feedback(t0, &results)
    }

    #[test]
    fn start_probes_at_three_and_six_times_and_goes_on_while_results_keep_up() {
        let t0 = Instant::now();
        let mut p = Prober::new(ProbeConfig::default());
        p.start(t0, Bitrate::kbps(300));
        let a = p.poll_probe().unwrap();
        let b = p.poll_probe().unwrap();
        assert_eq!(
            (a.bitrate, b.bitrate),
            (Bitrate::kbps(900), Bitrate::kbps(1800))
        );
        assert!(
            run_cluster(&mut p, t0, a, 10e6)[0]
                .as_bps()
                .abs_diff(900_000)
                < 20_000
        );
        assert!(
            run_cluster(&mut p, t0, b, 10e6)[0]
                .as_bps()
                .abs_diff(1_800_000)
                < 40_000
        );
        let c = p.poll_probe().expect("exponential probing goes on");
        assert!(c.bitrate.as_bps().abs_diff(3_600_000) < 100_000);
        // A path of 2 Mbit/s: the result is near it and probing stops.
        let r = run_cluster(&mut p, t0, c, 2e6)[0];
        assert!(r.as_bps().abs_diff(1_900_000) < 150_000, "{r}");
        assert_eq!(p.poll_probe(), None);
    }

    #[test]
    fn a_large_drop_probes_at_85_percent_of_the_rate_before_it() {
        let t0 = Instant::now();
        let mut p = Prober::new(ProbeConfig::default());
        p.on_estimate(t0, Bitrate::kbps(2000));
        p.on_estimate(t0 + Duration::from_secs(1), Bitrate::kbps(1000));
        assert_eq!(p.poll_probe().map(|c| c.bitrate), Some(Bitrate::kbps(1700)));
    }
}
