//! Criterion benchmarks of RTP parse and write for a typical video packet
//! (mid, abs-send-time and transport-wide sequence number extensions), over
//! the packets of one 100 KB VP8 frame cut to a 1,200-byte MTU; and of the
//! VP8 payloader and depacketizer on that frame.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_rtp::codec::{Depacketizer, Payloader, Vp8Depacketizer, Vp8Payloader};
use ferrtc_rtp::extension::{AbsSendTime, TransportSequence};
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

criterion_group!(benches, bench);
criterion_main!(benches);
