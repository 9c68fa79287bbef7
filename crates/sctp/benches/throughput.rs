//! Throughput of one reliable ordered channel, 16 KiB messages:
//! - `sim`: over `ferrtc-sim` without loss (10 ms one-way delay, virtual time),
//! - `memory`: two associations passing packets directly (pure SCTP cost).
//!
//! Criterion reports MiB/s of wall time; the process is single-threaded, so
//! CPU time per MiB is the inverse (1 / MiB/s seconds).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_sctp::{Association, Bytes, Config, Event, SendOptions, ppid};
use ferrtc_sim::{Endpoint, LinkConfig, Network, Transmit};

const MESSAGE: usize = 16 * 1024;
const TOTAL: usize = 16 << 20;

struct Peer {
    assoc: Association,
    local: SocketAddr,
    remote: SocketAddr,
    to_send: usize,
    received: usize,
    connected: bool,
    payload: Bytes,
}

impl Peer {
    fn drain(&mut self) {
        while let Some(ev) = self.assoc.poll_event() {
            match ev {
                Event::Message(m) => self.received += m.data.len(),
                Event::Connected => self.connected = true,
                _ => {}
            }
        }
    }
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, _s: SocketAddr, _d: SocketAddr, p: &[u8]) {
        let _ = self.assoc.handle_receive(now, p);
        self.drain();
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while self.connected && self.to_send > 0 && self.assoc.buffered_amount(1) < 1 << 20 {
            let opts = SendOptions::RELIABLE_ORDERED;
            if self
                .assoc
                .send_bytes(now, 1, ppid::BINARY, self.payload.clone(), opts)
                .is_err()
            {
                break;
            }
            self.to_send -= MESSAGE;
        }
        let out = self.assoc.poll_transmit(now, buf).map(|_| Transmit {
            source: self.local,
            destination: self.remote,
        });
        self.drain();
        out
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.assoc.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.assoc.handle_timeout(now);
        self.drain();
    }
}

fn peer(seed: u64, local: &str, remote: &str, to_send: usize) -> Peer {
    Peer {
        assoc: Association::new(Config {
            seed: Some(seed),
            ..Config::default()
        }),
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        to_send,
        received: 0,
        connected: false,
        payload: Bytes::from(vec![0x5a; MESSAGE]),
    }
}

fn over_sim() -> Duration {
    let mut net = Network::new(1);
    let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(10));
    let a = net
        .add_host(
            ["10.0.0.1".parse().unwrap()],
            link,
            peer(1, "10.0.0.1:5000", "10.0.0.2:5000", TOTAL),
        )
        .unwrap();
    let b = net
        .add_host(
            ["10.0.0.2".parse().unwrap()],
            link,
            peer(2, "10.0.0.2:5000", "10.0.0.1:5000", 0),
        )
        .unwrap();
    let now = net.now();
    net.endpoint_mut(&a).assoc.connect(now);
    let done = net.run_until_condition(Duration::from_secs(3600), |n| {
        n.endpoint(&b).received >= TOTAL
    });
    assert!(done);
    net.elapsed()
}

fn in_memory() {
    let now = Instant::now();
    let mut a = peer(1, "10.0.0.1:5000", "10.0.0.2:5000", TOTAL);
    let mut b = peer(2, "10.0.0.2:5000", "10.0.0.1:5000", 0);
    a.assoc.connect(now);
    let mut buf = Vec::with_capacity(1500);
    let mut t = now;
    while b.received < TOTAL {
        let mut moved = false;
        while a.poll_transmit(t, &mut buf).is_some() {
            b.handle_receive(t, a.local, b.local, &buf);
            moved = true;
        }
        while b.poll_transmit(t, &mut buf).is_some() {
            a.handle_receive(t, b.local, a.local, &buf);
            moved = true;
        }
        if !moved {
            // Let delayed-SACK timers run.
            t += Duration::from_millis(1);
            a.handle_timeout(t);
            b.handle_timeout(t);
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("reliable_ordered_16KiB");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(10);
    g.bench_function("sim_no_loss", |bench| bench.iter(over_sim));
    g.bench_function("in_memory", |bench| bench.iter(in_memory));
    g.finish();
    let virtual_time = over_sim();
    println!(
        "sim_no_loss: 16 MiB took {:?} of virtual time ({:.1} MiB/s virtual, 10 ms one-way delay)",
        virtual_time,
        16.0 / virtual_time.as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
