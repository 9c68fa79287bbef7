//! The raw floor of this machine: what plain UDP on loopback and
//! AES-128-GCM on one core can do, so the table shows how close each stack
//! comes to it.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::proc::{cpu_seconds, peak_rss_mib};
use crate::workload::Sample;

/// Size of each datagram / sealed buffer: a typical WebRTC packet.
const DATAGRAM: usize = 1200;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// (a) 1,200-byte datagrams from a sender thread to a receiver thread over
/// two std `UdpSocket`s on 127.0.0.1, until `bytes` were sent or `limit`
/// passed; figures are what the receiver got.
pub fn udp(bytes: u64, limit: Duration) -> Result<Sample, String> {
    let err = |e: std::io::Error| e.to_string();
    let rx = UdpSocket::bind("127.0.0.1:0").map_err(err)?;
    let tx = UdpSocket::bind("127.0.0.1:0").map_err(err)?;
    tx.connect(rx.local_addr().map_err(err)?).map_err(err)?;
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(err)?;
    let done = Arc::new(AtomicBool::new(false));

    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    // The sender sends as fast as it can until the receiver has enough or
    // the time is up; datagrams the receive buffer cannot hold are dropped
    // by the kernel, so the figure is what the receiver can take in.
    let sender = {
        let done = done.clone();
        std::thread::spawn(move || {
            let buf = [0x5a_u8; DATAGRAM];
            let mut sent = 0u64;
            while !done.load(Ordering::Relaxed) && t0.elapsed() < limit {
                if tx.send(&buf).is_ok() {
                    sent += DATAGRAM as u64;
                }
            }
            sent
        })
    };
    let mut buf = [0_u8; 2048];
    let mut got = 0u64;
    while got < bytes && t0.elapsed() < limit {
        if let Ok(n) = rx.recv(&mut buf) {
            got += n as u64;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    done.store(true, Ordering::Relaxed);
    let sent = sender.join().map_err(|_| "sender thread panicked")?;
    eprintln!(
        "floor udp: sent {} MiB, received {} MiB in {secs:.2} s",
        sent >> 20,
        got >> 20
    );
    Ok(Sample {
        stack: "floor: UDP 1200 B".into(),
        version: "std::net::UdpSocket".into(),
        secs,
        cpu_s: cpu,
        mib_per_s: Some(got as f64 / MIB / secs),
        cpu_s_per_gib: Some(cpu / (got as f64 / GIB).max(1e-12)),
        peak_rss_mib: peak_rss_mib(),
        ..Default::default()
    })
}

/// (b) AES-128-GCM `seal_in_place` over 1,200-byte buffers with distinct
/// nonces on one core: at least `bytes` and at least one second (so the
/// CPU clock has something to count), at most `limit`.
pub fn aes_gcm(bytes: u64, limit: Duration) -> Result<Sample, String> {
    let key = UnboundKey::new(&AES_128_GCM, &[7_u8; 16]).map_err(|e| e.to_string())?;
    let key = LessSafeKey::new(key);
    // One buffer, reused: payload plus room for the 16-byte tag.
    let mut buf = Vec::with_capacity(DATAGRAM + 16);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut done = 0u64;
    let mut counter = 0u64;
    while done < bytes || t0.elapsed() < Duration::from_secs(1) {
        buf.clear();
        buf.resize(DATAGRAM, 0x5a);
        let mut nonce = [0_u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        counter += 1;
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|e| e.to_string())?;
        std::hint::black_box(&buf);
        done += DATAGRAM as u64;
        if counter.is_multiple_of(4096) && t0.elapsed() > limit {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    let cpu = cpu_seconds() - cpu0;
    Ok(Sample {
        stack: "floor: AES-128-GCM 1200 B".into(),
        version: "aws-lc-rs LessSafeKey".into(),
        secs,
        cpu_s: cpu,
        mib_per_s: Some(done as f64 / MIB / secs),
        cpu_s_per_gib: Some(cpu / (done as f64 / GIB).max(1e-12)),
        peak_rss_mib: peak_rss_mib(),
        ..Default::default()
    })
}
