//! Criterion benchmarks of RTP parse and write for a typical video packet
//! (mid, abs-send-time and transport-wide sequence number extensions), over
//! the packets of one 100 KB VP8 frame cut to a 1,200-byte MTU; and of the
//! VP8 payloader and depacketizer on that frame; and of the jitter buffer
//! taking a 2.5 Mbit/s stream's 10 KB delta frame (nine packets, in order)
//! and giving it back whole.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_rtp::codec::Codec;
use ferrtc_rtp::codec::{Depacketizer, Payloader, Vp8Depacketizer, Vp8Payloader};
use ferrtc_rtp::extension::{AbsSendTime, TransportSequence};
use ferrtc_rtp::jitter::{JitterBuffer, JitterConfig, JitterEvent};
use ferrtc_rtp::{ExtensionId, PayloadType, RtpPacket};

const FRAME: usize = 100 * 1024;
const MTU: usize = 1200;

fn frame() -> Vec<u8> {
    let mut f: Vec<u8> = (0..FRAME).map(|i| (i * 7 % 251) as u8).collect();
    f[0] = 0x10; // a VP8 key frame
    f
}

/// The payloads of the frame, within the MTU less the RTP header.
fn payloads() -> Vec<Vec<u8>> {
    Vp8Payloader::new(1)
        .payload(MTU - 32, &frame())
        .expect("payload")
}

/// The frame's packets, written.
fn packets(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let ast = AbsSendTime::from_ntp(0x1234_5678_9abc_def0).write();
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let twcc = TransportSequence(i as u16).write();
            let mut packet = packet(i as u16, p, &ast, &twcc);
            packet.marker = i + 1 == payloads.len();
            packet.to_vec()
        })
        .collect()
}

fn packet<'a>(seq: u16, payload: &'a [u8], ast: &'a [u8], twcc: &'a [u8]) -> RtpPacket<'a> {
    let pt = PayloadType::new(96).expect("pt");
    let mut p = RtpPacket::new(pt, seq, 90_000, 0x1234_5678, payload);
    let id = |v| ExtensionId::new(v).expect("id");
    p.extensions.insert(id(1), b"0").expect("mid");
    p.extensions.insert(id(2), ast).expect("abs-send-time");
    p.extensions.insert(id(3), twcc).expect("transport-cc");
    p
}

fn bench(c: &mut Criterion) {
    let payloads = payloads();
    let wire = packets(&payloads);
    let mut group = c.benchmark_group("vp8_100KB_frame");
    group.throughput(Throughput::Elements(wire.len() as u64));

    group.bench_function("parse", |b| {
        b.iter(|| {
            for bytes in &wire {
                let p = RtpPacket::parse(black_box(bytes)).expect("parse");
                black_box(p.extensions.get(ExtensionId::new(3).expect("id")));
            }
        })
    });

    let ast = AbsSendTime::from_ntp(1).write();
    let mut buf = vec![0u8; 1500];
    group.bench_function("write", |b| {
        b.iter(|| {
            for (i, payload) in payloads.iter().enumerate() {
                let twcc = TransportSequence(i as u16).write();
                let p = packet(i as u16, payload, &ast, &twcc);
                black_box(p.write(&mut buf).expect("write"));
            }
        })
    });

    let f = frame();
    group.bench_function("payload", |b| {
        let mut payloader = Vp8Payloader::new(1);
        b.iter(|| black_box(payloader.payload(MTU - 32, black_box(&f)).expect("payload")))
    });

    group.bench_function("depacketize", |b| {
        let mut out = Vec::with_capacity(FRAME);
        b.iter(|| {
            out.clear();
            for p in &payloads {
                Vp8Depacketizer
                    .depacketize(black_box(p), &mut out)
                    .expect("depacketize");
            }
            black_box(out.len())
        })
    });
    group.finish();
}

/// One 10 KB VP8 delta frame a round through a settled jitter buffer:
/// nine packets in, in order, and the frame out.
fn jitter(c: &mut Criterion) {
    const FRAME: usize = 2_500_000 / 8 / 30;
    let mut delta: Vec<u8> = (0..FRAME).map(|i| (i * 7 % 251) as u8).collect();
    delta[0] = 0x11; // RFC 7741 §4.3: P set, an interframe
    let mut key = delta.clone();
    key[0] = 0x10;
    let mut payloader = Vp8Payloader::new(1);
    let key = payloader.payload(MTU - 32, &key).expect("payload");
    let delta = payloader.payload(MTU - 32, &delta).expect("payload");
    let pt = PayloadType::new(96).expect("pt");
    let mut j = JitterBuffer::new(JitterConfig::VIDEO, Codec::Vp8.depacketizer());
    let (mut seq, mut ts, mut now) = (0u16, 0u32, Instant::now());
    let mut feed = |j: &mut JitterBuffer, now: Instant, payloads: &[Vec<u8>], ts: u32| {
        for (i, p) in payloads.iter().enumerate() {
            let mut packet = RtpPacket::new(pt, seq, ts, 0x1234_5678, p);
            packet.marker = i + 1 == payloads.len();
            j.insert(now, &packet);
            seq = seq.wrapping_add(1);
        }
    };
    // The first frame leaves after the start delay; the stream is settled.
    feed(&mut j, now, &key, ts);
    now += JitterConfig::VIDEO.start_delay;
    j.handle_timeout(now);
    while j.poll_event().is_some() {}
    let mut group = c.benchmark_group("jitter_buffer");
    group.throughput(Throughput::Bytes(FRAME as u64));
    group.bench_function("vp8_frame_of_10_KB_in_order", |b| {
        b.iter(|| {
            now += Duration::from_millis(33);
            ts = ts.wrapping_add(3000);
            feed(&mut j, now, black_box(&delta), ts);
            match j.poll_event() {
                Some(JitterEvent::Frame(f)) => black_box(f.data.len()),
                other => panic!("{other:?}"),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench, jitter);
criterion_main!(benches);
