//! Criterion benchmarks of congestion control per packet: the receiver's
//! feedback generator, the sender's estimator fed that feedback (history
//! match, trendline, AIMD, loss, acknowledged rate), and the pacer's push
//! and release, over one second of a 2.5 Mbit/s stream (about 260 packets
//! of 1,200 bytes, feedback every 50 ms). `round` and `round_200` are the
//! steady state of a long-lived connection, both ends: one 50 ms round of
//! packets sent (`on_packet_sent`), received (`FeedbackGenerator::on_packet`
//! and `poll_feedback` after each) and the feedback taken by the sender;
//! `round_200` cycles through 200 such connections, as a forwarder does,
//! so that each one's state is cold in the cache when its turn comes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_rtp::cc::Bitrate;
use ferrtc_rtp::cc::estimator::{EstimatorConfig, SendSideEstimator};
use ferrtc_rtp::cc::feedback::{FeedbackConfig, FeedbackGenerator};
use ferrtc_rtp::cc::pacer::{Pacer, PacerConfig, PacketKind};
use ferrtc_rtp::rtcp::TransportFeedback;

const PACKETS: u16 = 260;
const SIZE: usize = 1200;

fn gap() -> Duration {
    Duration::from_secs(1) / u32::from(PACKETS)
}

/// The feedback a receiver makes for one second of packets, 20 ms one-way.
fn feedback(t0: Instant) -> Vec<(Instant, TransportFeedback)> {
    let mut g = FeedbackGenerator::new(FeedbackConfig::default());
    let mut out = Vec::new();
    for s in 0..PACKETS {
        let now = t0 + gap() * u32::from(s) + Duration::from_millis(20);
        g.on_packet(now, s);
        while let Some(f) = g.poll_feedback(now) {
            out.push((now + Duration::from_millis(20), f));
        }
    }
    let end = t0 + Duration::from_secs(2);
    while let Some(f) = g.poll_feedback(end) {
        out.push((end, f));
    }
    out
}

/// One connection in the steady state: the sender's estimator and the
/// receiver's feedback generator, 20 ms one-way, no loss.
struct Connection {
    estimator: SendSideEstimator,
    generator: FeedbackGenerator,
    seq: u16,
    now: Instant,
}

/// Packets in one 50 ms round (2.5 Mbit/s of 1,200 bytes, about 13).
const ROUND: u16 = 13;

impl Connection {
    fn new(t0: Instant) -> Self {
        let mut c = Self {
            estimator: SendSideEstimator::new(EstimatorConfig::default()),
            generator: FeedbackGenerator::new(FeedbackConfig::default()),
            seq: 0,
            now: t0,
        };
        // Ten seconds in: the history and the windows are full.
        for _ in 0..200 {
            c.round();
        }
        c
    }

    /// One round: `ROUND` packets sent and received, then feedback.
    fn round(&mut self) -> Bitrate {
        let step = Duration::from_millis(50) / u32::from(ROUND);
        let one_way = Duration::from_millis(20);
        for _ in 0..ROUND {
            self.estimator
                .on_packet_sent(self.now, self.seq, SIZE, None);
            let arrival = self.now + one_way;
            self.generator.on_packet(arrival, self.seq);
            while let Some(f) = self.generator.poll_feedback(arrival) {
                self.estimator.on_transport_feedback(arrival + one_way, &f);
            }
            self.seq = self.seq.wrapping_add(1);
            self.now += step;
        }
        self.estimator.target_bitrate()
    }
}

fn benches(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut group = c.benchmark_group("cc");
    group.throughput(Throughput::Elements(u64::from(PACKETS)));

    group.bench_function("feedback_generator", |b| {
        b.iter(|| black_box(feedback(t0)).len());
    });

    let fb = feedback(t0);
    group.bench_function("estimator", |b| {
        b.iter(|| {
            let mut e = SendSideEstimator::new(EstimatorConfig::default());
            let mut next = fb.iter().peekable();
            for s in 0..PACKETS {
                let now = t0 + gap() * u32::from(s);
                e.on_packet_sent(now, s, SIZE, None);
                while let Some((at, f)) = next.next_if(|(at, _)| *at <= now) {
                    e.on_transport_feedback(*at, f);
                }
            }
            for (at, f) in next {
                e.on_transport_feedback(*at, f);
            }
            black_box(e.target_bitrate())
        });
    });

    group.bench_function("pacer", |b| {
        b.iter(|| {
            let mut p = Pacer::new(PacerConfig::default(), Bitrate::kbps(2500));
            let mut now = t0;
            let mut sent = 0usize;
            p.poll_packet(now);
            for s in 0..PACKETS {
                p.push(now, PacketKind::Video, SIZE, s);
                while let Some(x) = p.poll_packet(now) {
                    black_box(x);
                    sent += 1;
                }
                now += gap();
            }
            while let Some(t) = p.poll_timeout() {
                while let Some(x) = p.poll_packet(t) {
                    black_box(x);
                    sent += 1;
                }
            }
            sent
        });
    });
    group.finish();

    let mut group = c.benchmark_group("cc");
    group.throughput(Throughput::Elements(u64::from(ROUND)));
    let mut one = Connection::new(t0);
    group.bench_function("round", |b| b.iter(|| black_box(one.round())));
    let mut many: Vec<Connection> = (0..200).map(|_| Connection::new(t0)).collect();
    let mut next = 0;
    group.bench_function("round_200", |b| {
        b.iter(|| {
            next = (next + 1) % many.len();
            black_box(many[next].round())
        })
    });
    group.finish();
}

criterion_group!(cc, benches);
criterion_main!(cc);
