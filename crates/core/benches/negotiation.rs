//! The cost of answering a WHIP publisher's offer of many bundled
//! `sendonly` audio sections on a sans-IO peer connection:
//! `setRemoteDescription(offer)`, `createAnswer`,
//! `setLocalDescription(answer)`. A public WHIP endpoint answers such
//! offers from anyone, so the cost must grow about linearly with the
//! number of sections: compare the per-section times of the sizes.

use std::time::{Instant, SystemTime};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_core::{Config, PeerConnection, SessionDescription};

/// The offer: session-level ICE credentials, fingerprint and setup, one
/// BUNDLE group, and `n` PCMU sections of four lines each.
fn offer(n: usize) -> String {
    let mids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let fingerprint: Vec<String> = (0..32).map(|i| format!("{i:02X}")).collect();
    let mut sdp = format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE {}\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
         a=fingerprint:sha-256 {}\r\na=setup:actpass\r\n",
        mids.join(" "),
        fingerprint.join(":")
    );
    for mid in &mids {
        sdp.push_str(&format!(
            "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:{mid}\r\na=sendonly\r\na=rtcp-mux\r\n"
        ));
    }
    sdp
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("answer_whip_offer");
    for n in [100, 700] {
        let sdp = offer(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n}_sendonly_audio_sections"), |b| {
            b.iter_batched(
                // A new connection per exchange; its certificate is not
                // what is measured.
                || {
                    let now = Instant::now();
                    let pc = PeerConnection::new(Config::default(), now, SystemTime::now())
                        .expect("connection");
                    (pc, now)
                },
                |(mut pc, now)| {
                    pc.set_remote_description(now, SessionDescription::offer(sdp.clone()))
                        .expect("offer applies");
                    let answer = pc.create_answer().expect("answer");
                    pc.set_local_description(now, Some(answer))
                        .expect("answer applies");
                    pc
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
