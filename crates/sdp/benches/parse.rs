//! Parse and write speed of a real SDP (Chromium audio + video + data offer).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_sdp::{SessionDescription, parse};
use std::hint::black_box;

const OFFER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/sdp/chromium-156/av-dc-offer-gathered.sdp"
));

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sdp");
    g.throughput(Throughput::Bytes(OFFER.len() as u64));
    g.bench_function("parse chromium av-dc offer", |b| {
        b.iter(|| parse(black_box(OFFER)))
    });
    let sdp: SessionDescription = OFFER.parse().expect("fixture parses");
    let mut out = String::with_capacity(OFFER.len());
    g.bench_function("write chromium av-dc offer", |b| {
        b.iter(|| {
            out.clear();
            black_box(&sdp).write_to(&mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
