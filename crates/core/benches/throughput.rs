//! Two sans-IO peer connections wired back to back in memory (no sockets,
//! no loss): the cost of the whole stack per byte of data-channel payload
//! (SCTP, DTLS records with AES-GCM, ICE routing, demux).

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_core::{ChannelId, Config, DataChannelInit, Event, PeerConnection};

struct Wire {
    a: PeerConnection,
    b: PeerConnection,
    now: Instant,
    buf: Vec<u8>,
}

impl Wire {
    /// Moves every pending datagram across; returns b's received payload bytes.
    fn pump(&mut self) -> usize {
        let mut got = 0;
        loop {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit(self.now, &mut self.buf) {
                self.b
                    .handle_receive(self.now, t.source, t.destination, &mut self.buf);
                moved = true;
            }
            while let Some(t) = self.b.poll_transmit(self.now, &mut self.buf) {
                self.a
                    .handle_receive(self.now, t.source, t.destination, &mut self.buf);
                moved = true;
            }
            while let Some(ev) = self.b.poll_event() {
                if let Event::ChannelMessage { message, .. } = ev {
                    got += message.as_bytes().len();
                }
            }
            while self.a.poll_event().is_some() {}
            if !moved {
                // Let delayed acknowledgements and other timers fire.
                let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= self.now + Duration::from_millis(200) => {
                        self.now = self.now.max(t);
                        self.a.handle_timeout(self.now);
                        self.b.handle_timeout(self.now);
                    }
                    _ => return got,
                }
            }
        }
    }
}

fn connected() -> (Wire, ChannelId) {
    let now = Instant::now();
    let wall = SystemTime::now();
    let mut ca = Config::default();
    ca.rng_seed = Some([1; 32]);
    let mut cb = Config::default();
    cb.rng_seed = Some([2; 32]);
    let mut a = PeerConnection::new(ca, now, wall).unwrap();
    let mut b = PeerConnection::new(cb, now, wall).unwrap();
    let (addr_a, addr_b): (SocketAddr, SocketAddr) = (
        "10.0.0.1:5000".parse().unwrap(),
        "10.0.0.2:5000".parse().unwrap(),
    );
    a.add_local_host(now, addr_a).unwrap();
    b.add_local_host(now, addr_b).unwrap();
    let chan = a
        .create_data_channel(now, "bench", DataChannelInit::default())
        .unwrap();
    let offer = a.create_offer().unwrap();
    a.set_local_description(now, Some(offer.clone())).unwrap();
    b.set_remote_description(now, offer).unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(now, Some(answer.clone())).unwrap();
    a.set_remote_description(now, answer).unwrap();
    let mut wire = Wire {
        a,
        b,
        now,
        buf: Vec::new(),
    };
    let is_open = |w: &Wire| {
        w.a.channel(chan)
            .is_some_and(|c| c.ready_state == ferrtc_core::DataChannelState::Open)
    };
    let mut open = false;
    for _ in 0..200 {
        let mut to_b = Vec::new();
        let mut to_a = Vec::new();
        while let Some(ev) = wire.a.poll_event() {
            if let Event::IceCandidate(c) = ev {
                to_b.push(c);
            }
        }
        while let Some(ev) = wire.b.poll_event() {
            if let Event::IceCandidate(c) = ev {
                to_a.push(c);
            }
        }
        for c in to_b {
            wire.b.add_ice_candidate(wire.now, &c).unwrap();
        }
        for c in to_a {
            wire.a.add_ice_candidate(wire.now, &c).unwrap();
        }
        wire.pump();
        if is_open(&wire) {
            open = true;
            break;
        }
        wire.now += Duration::from_millis(10);
        wire.a.handle_timeout(wire.now);
        wire.b.handle_timeout(wire.now);
    }
    assert!(open, "the channel did not open");
    wire.pump();
    (wire, chan)
}

fn bench(c: &mut Criterion) {
    let (mut wire, chan) = connected();
    let message = vec![0x5a; 16 * 1024];
    const MESSAGES: usize = 64;
    let mut group = c.benchmark_group("sans_io_pair");
    group.throughput(Throughput::Bytes((MESSAGES * message.len()) as u64));
    group.bench_function("1_MiB_in_16_KiB_messages", |bench| {
        bench.iter(|| {
            let mut got = 0;
            for _ in 0..MESSAGES {
                wire.a.send(wire.now, chan, &message, true).unwrap();
                got += wire.pump();
            }
            while got < MESSAGES * message.len() {
                let more = wire.pump();
                assert!(more > 0, "stalled at {got} bytes");
                got += more;
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
