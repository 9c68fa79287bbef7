//! ferrtc-srtp against libsrtp2: packets per second for protect and unprotect,
//! per profile, 200- and 1200-byte RTP packets, measured in the same run on the
//! same machine with the same method.
//!
//! The libsrtp2 half is the C program `srtp_libsrtp_bench.c` beside this file,
//! compiled here with the system `cc` against Debian's libsrtp2-dev
//! (`-lsrtp2`) and run as a child process. Method, both halves: batches of
//! 1024 distinct RTP packets (one SSRC, consecutive sequence numbers);
//! protect times protecting a batch of fresh plaintexts in place; unprotect
//! times unprotecting a batch that was protected beforehand (untimed, so
//! replay protection sees each packet once). The figure is the median batch
//! rate within the time budget.
//!
//! `cargo bench -p ferrtc-interop --bench srtp_vs_libsrtp`; budget per case in
//! milliseconds from FERRTC_SRTP_BENCH_MS (default 700).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ferrtc_srtp::{Config, Context, ProtectionProfile};

const BATCH: usize = 1024;
const SIZES: [usize; 2] = [200, 1200];
const SSRC: u32 = 0x1234_5678;

fn context(profile: ProtectionProfile) -> Context {
    let key: Vec<u8> = (0..profile.master_key_len())
        .map(|i| (i * 7 + 1) as u8)
        .collect();
    let salt: Vec<u8> = (profile.master_key_len()
        ..profile.master_key_len() + profile.master_salt_len())
        .map(|i| (i * 7 + 1) as u8)
        .collect();
    Context::new(profile, &key, &salt, Config::default()).expect("context")
}

fn fill(p: &mut Vec<u8>, size: usize, seq: u16) {
    p.clear();
    p.resize(size, 0xab);
    p[..12].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&SSRC.to_be_bytes());
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn ferrtc(profile: ProtectionProfile, size: usize, unprotect: bool, budget: Duration) -> f64 {
    let (mut tx, mut rx) = (context(profile), context(profile));
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(1500)).collect();
    let mut seq = 0u16;
    let mut rates = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || rates.len() < 5 {
        for b in &mut bufs {
            fill(b, size, seq);
            seq = seq.wrapping_add(1);
            if unprotect {
                tx.protect_rtp(b).expect("protect");
            }
        }
        let t0 = Instant::now();
        for b in &mut bufs {
            if unprotect {
                std::hint::black_box(rx.unprotect_rtp(b).expect("unprotect"));
            } else {
                tx.protect_rtp(b).expect("protect");
            }
        }
        rates.push(BATCH as f64 / t0.elapsed().as_secs_f64());
    }
    median(rates)
}

/// Compiles and runs the libsrtp2 half; returns (profile id, size, op, pps) rows.
fn libsrtp(budget_ms: u64) -> Result<Vec<(u16, usize, String, f64)>, String> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/srtp_libsrtp_bench.c");
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("srtp_libsrtp_bench");
    let cc = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&here)
        .arg("-lsrtp2")
        .status()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !cc.success() {
        return Err(format!(
            "cc failed on {} (is libsrtp2-dev installed?)",
            here.display()
        ));
    }
    let out = Command::new(&exe)
        .arg(budget_ms.to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "libsrtp bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                f.get(2)?.to_string(),
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect();
    Ok(rows)
}

fn profile_name(p: ProtectionProfile) -> &'static str {
    match p {
        ProtectionProfile::Aes128CmHmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
        ProtectionProfile::Aes128CmHmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        ProtectionProfile::AeadAes128Gcm => "AEAD_AES_128_GCM",
        ProtectionProfile::AeadAes256Gcm => "AEAD_AES_256_GCM",
        _ => "other",
    }
}

fn main() {
    // `cargo bench` passes "--bench"; without it (`cargo test --benches`) this
    // is a smoke run: a few batches per case, figures not meaningful.
    let benching = std::env::args().any(|a| a == "--bench");
    let budget_ms: u64 = if benching {
        std::env::var("FERRTC_SRTP_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(700)
    } else {
        0
    };
    let budget = Duration::from_millis(budget_ms);
    let reference = match libsrtp(budget_ms) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("libsrtp2 half unavailable: {e}");
            Vec::new()
        }
    };
    println!("| profile | size | op | ferrtc pkt/s | libsrtp2 pkt/s | ferrtc / libsrtp2 |");
    println!("|---|---:|---|---:|---:|---:|");
    for profile in [
        ProtectionProfile::Aes128CmHmacSha1_80,
        ProtectionProfile::Aes128CmHmacSha1_32,
        ProtectionProfile::AeadAes128Gcm,
        ProtectionProfile::AeadAes256Gcm,
    ] {
        for size in SIZES {
            for op in ["protect", "unprotect"] {
                let ours = ferrtc(profile, size, op == "unprotect", budget);
                let theirs = reference
                    .iter()
                    .find(|r| r.0 == profile.id() && r.1 == size && r.2 == op)
                    .map(|r| r.3);
                let (theirs_s, ratio) = match theirs {
                    Some(t) => (format!("{t:.0}"), format!("{:.2}", ours / t)),
                    None => ("n/a".into(), "n/a".into()),
                };
                println!(
                    "| {} | {size} | {op} | {ours:.0} | {theirs_s} | {ratio} |",
                    profile_name(profile)
                );
            }
        }
    }
}
