//! Criterion benchmarks of SRTP protect and unprotect, per profile, for 200-
//! and 1200-byte RTP packets (12-byte header plus payload).
//!
//! Each measured call handles one fresh packet: the untimed setup copies the
//! plaintext in (protect) or protects the next sequence number (unprotect),
//! so replay protection sees every packet once, as in a real stream.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_srtp::{Config, Context, ProtectionProfile};

const SIZES: [usize; 2] = [200, 1200];
const SSRC: u32 = 0x1234_5678;

fn context(profile: ProtectionProfile) -> Context {
    let key = vec![0x42; profile.master_key_len()];
    let salt = vec![0x24; profile.master_salt_len()];
    Context::new(profile, &key, &salt, Config::default()).expect("valid key and salt")
}

fn rtp_packet(seq: u16, size: usize, profile: ProtectionProfile) -> Vec<u8> {
    let mut p = Vec::with_capacity(size + profile.rtp_overhead());
    p.extend_from_slice(&[0x80, 96]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x10, 0]);
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.resize(size, 0xab);
    p
}

fn name(profile: ProtectionProfile) -> &'static str {
    match profile {
        ProtectionProfile::Aes128CmHmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
        ProtectionProfile::Aes128CmHmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        ProtectionProfile::AeadAes128Gcm => "AEAD_AES_128_GCM",
        ProtectionProfile::AeadAes256Gcm => "AEAD_AES_256_GCM",
        _ => "other",
    }
}

fn bench(c: &mut Criterion) {
    for profile in ProtectionProfile::ALL {
        let mut group = c.benchmark_group(name(profile));
        for size in SIZES {
            group.throughput(Throughput::Elements(1));
            let mut tx = context(profile);
            let mut seq = 0u16;
            group.bench_function(format!("protect/{size}"), |b| {
                b.iter_batched_ref(
                    || {
                        seq = seq.wrapping_add(1);
                        rtp_packet(seq, size, profile)
                    },
                    |packet| tx.protect_rtp(packet).expect("protect"),
                    BatchSize::SmallInput,
                )
            });

            let (mut tx, mut rx) = (context(profile), context(profile));
            let mut seq = 0u16;
            group.bench_function(format!("unprotect/{size}"), |b| {
                b.iter_batched_ref(
                    || {
                        seq = seq.wrapping_add(1);
                        let mut p = rtp_packet(seq, size, profile);
                        tx.protect_rtp(&mut p).expect("protect");
                        p
                    },
                    |packet| rx.unprotect_rtp(packet).expect("unprotect"),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
