//! Two sans-IO peer connections wired back to back in memory (no sockets,
//! no loss): the cost of the whole stack per byte of data-channel payload
//! (SCTP, DTLS records with AES-GCM, ICE routing, demux), and per video
//! frame (packetizing, SRTP both ways, send history, transport-cc numbers
//! and feedback, demux, jitter buffer, depacketizing): the user-space
//! share of what `bench/`'s forwarding workload costs per receiver.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_core::{
    ChannelId, Config, DataChannelInit, Event, MediaKind, PeerConnection, PeerConnectionState,
    TrackInfo, TransceiverId,
};

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

/// Two connected peers; `setup` adds what `a` offers (a data channel, a
/// track) before the exchange. `up` says when the pair is ready.
fn wired(setup: impl FnOnce(&mut PeerConnection, Instant), up: impl Fn(&Wire) -> bool) -> Wire {
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
    setup(&mut a, now);
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
    let mut ready = false;
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
        if up(&wire) {
            ready = true;
            break;
        }
        wire.now += Duration::from_millis(10);
        wire.a.handle_timeout(wire.now);
        wire.b.handle_timeout(wire.now);
    }
    assert!(ready, "the pair did not come up");
    wire.pump();
    wire
}

fn connected() -> (Wire, ChannelId) {
    let mut chan = None;
    let wire = wired(
        |a, now| {
            chan = Some(
                a.create_data_channel(now, "bench", DataChannelInit::default())
                    .unwrap(),
            );
        },
        |w| {
            w.a.channels().any(|id| {
                w.a.channel(id)
                    .is_some_and(|c| c.ready_state == ferrtc_core::DataChannelState::Open)
            })
        },
    );
    (wire, chan.unwrap())
}

/// A pair where `a` sends a video track to `b`.
fn calling() -> (Wire, TransceiverId) {
    let mut video = None;
    let wire = wired(
        |a, _| {
            let track = TrackInfo {
                id: "camera".into(),
                kind: MediaKind::Video,
                stream_ids: vec!["stream".into()],
            };
            video = Some(a.add_track(track).unwrap());
        },
        |w| {
            w.a.connection_state() == PeerConnectionState::Connected
                && w.b.connection_state() == PeerConnectionState::Connected
        },
    );
    (wire, video.unwrap())
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

/// One 2.5 Mbit/s video stream's frames (30 a second, about 10 KB, nine
/// packets each), written on `a`'s sender and taken whole out of `b`'s
/// receiver, the clock moving on by a frame's time each (so reports and
/// feedback come due as on a real call).
fn media(c: &mut Criterion) {
    let (mut wire, video) = calling();
    const FRAME: usize = 2_500_000 / 8 / 30;
    // A delta frame (RFC 7741 §4.3: P bit set).
    let frame = vec![0x11; FRAME];
    let interval = Duration::from_nanos(1_000_000_000 / 30);
    // The receiver starts at a keyframe (P bit clear).
    let mut key = frame.clone();
    key[0] = 0x10;
    wire.a
        .write_frame(wire.now, video, &key, interval, true)
        .unwrap();
    wire.pump();
    let mut group = c.benchmark_group("sans_io_pair");
    group.throughput(Throughput::Bytes(FRAME as u64));
    group.bench_function("video_frame_of_10_KB", |bench| {
        bench.iter(|| {
            wire.now += interval;
            wire.a.handle_timeout(wire.now);
            wire.b.handle_timeout(wire.now);
            wire.a
                .write_frame(wire.now, video, &frame, interval, false)
                .unwrap();
            let mut got = 0;
            while let Some(t) = wire.a.poll_transmit(wire.now, &mut wire.buf) {
                wire.b
                    .handle_receive(wire.now, t.source, t.destination, &mut wire.buf);
            }
            while let Some(t) = wire.b.poll_transmit(wire.now, &mut wire.buf) {
                wire.a
                    .handle_receive(wire.now, t.source, t.destination, &mut wire.buf);
            }
            while let Some(ev) = wire.b.poll_event() {
                if let Event::TrackFrame { frame, .. } = ev {
                    got += frame.len();
                }
            }
            while wire.a.poll_event().is_some() {}
            assert_eq!(got, FRAME, "the frame arrived whole");
        })
    });
    group.finish();
}

criterion_group!(benches, bench, media);
criterion_main!(benches);
