//! Cost of the per-check STUN work an ICE agent does: building a signed
//! Binding request, and parsing plus authenticating one.

use criterion::{Criterion, criterion_group, criterion_main};
use ferrtc_stun::{Attribute, Class, Message, MessageBuilder, Method, TransactionId};
use std::hint::black_box;

fn build(buf: &mut Vec<u8>, key: &[u8]) -> usize {
    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, TransactionId([5; 12]));
    let _ = b.add(&Attribute::Username("abcdefgh:ijklmnop"));
    let _ = b.add(&Attribute::Priority(0x6e00_01ff));
    let _ = b.add(&Attribute::IceControlling(0x1234_5678_9abc_def0));
    let _ = b.add(&Attribute::UseCandidate);
    b.add_message_integrity(key);
    b.add_fingerprint();
    b.finish()
}

fn benches(c: &mut Criterion) {
    let key = b"0123456789abcdefghijkl";
    let mut buf = Vec::with_capacity(1500);
    c.bench_function("build binding request (MI + FINGERPRINT)", |b| {
        b.iter(|| build(black_box(&mut buf), black_box(key)))
    });

    build(&mut buf, key);
    c.bench_function("parse binding request + decode attributes", |b| {
        b.iter(|| {
            let msg = Message::parse(black_box(&buf)).ok()?;
            Some(msg.attributes().filter(Result::is_ok).count())
        })
    });
    c.bench_function("parse + verify MI + FINGERPRINT", |b| {
        b.iter(|| {
            let msg = Message::parse(black_box(&buf)).ok()?;
            msg.verify_fingerprint().ok()?;
            msg.verify_message_integrity(key).ok()
        })
    });
}

criterion_group!(stun, benches);
criterion_main!(stun);
