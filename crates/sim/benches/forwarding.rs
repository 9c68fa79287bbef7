//! How fast the simulator moves datagrams: virtual-time datagrams per real second.

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_sim::{Endpoint, LinkConfig, Network, Transmit};

const DATAGRAMS: u64 = 10_000;
const SIZE: usize = 1200;

/// Sends `remaining` datagrams of `SIZE` bytes, one every `interval`.
struct Blaster {
    from: SocketAddr,
    to: SocketAddr,
    next: Option<Instant>,
    interval: Duration,
    remaining: u64,
    due: bool,
}

impl Endpoint for Blaster {
    fn handle_receive(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if !self.due {
            return None;
        }
        self.due = false;
        buf.clear();
        buf.resize(SIZE, 0xab);
        Some(Transmit {
            source: self.from,
            destination: self.to,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.due = true;
        self.remaining -= 1;
        self.next = (self.remaining > 0).then(|| now + self.interval);
    }
}

/// Counts what arrives.
#[derive(Default)]
struct Counter {
    datagrams: u64,
    bytes: u64,
}

impl Endpoint for Counter {
    fn handle_receive(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, payload: &[u8]) {
        self.datagrams += 1;
        self.bytes += payload.len() as u64;
    }
    fn poll_transmit(&mut self, _: Instant, _: &mut Vec<u8>) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _: Instant) {}
}

fn run(link: LinkConfig) -> u64 {
    let a: IpAddr = "192.0.2.1".parse().unwrap();
    let b: IpAddr = "192.0.2.2".parse().unwrap();
    let mut net = Network::new(1);
    let start = net.now();
    net.add_host(
        [a],
        link,
        Blaster {
            from: SocketAddr::new(a, 1),
            to: SocketAddr::new(b, 2),
            next: Some(start),
            interval: Duration::from_micros(10),
            remaining: DATAGRAMS,
            due: false,
        },
    )
    .unwrap();
    let sink = net.add_host([b], link, Counter::default()).unwrap();
    while net.step() {}
    net.endpoint(&sink).datagrams
}

fn forwarding(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim");
    group.throughput(Throughput::Elements(DATAGRAMS));
    group.bench_function("ideal_link_10k", |bench| {
        bench.iter(|| black_box(run(LinkConfig::IDEAL)))
    });
    let impaired = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(20))
        .with_jitter(Duration::from_millis(2))
        .with_loss(0.01)
        .with_reorder(0.01, Duration::from_millis(5))
        .with_rate(125_000_000, 1 << 20);
    group.bench_function("impaired_link_10k", |bench| {
        bench.iter(|| black_box(run(impaired)))
    });
    group.finish();
}

criterion_group!(benches, forwarding);
criterion_main!(benches);
