//! `ferrtc bench --media --json`: one sender's video and audio forwarded
//! to N receivers over loopback; one JSON object with the bench's
//! required keys and the forwarding figures, all measured.

use std::process::Command;

fn ferrtc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(args)
        .env("FERRTC_LOG", "error")
        .output()
        .expect("ferrtc runs")
}

#[test]
fn bench_media_json_reports_what_every_receiver_got() {
    let out = ferrtc(&[
        "bench",
        "--media",
        "--connections",
        "2",
        "--secs",
        "2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["connections"], 2);
    assert_eq!(report["receivers"], 2);
    // Measured: the stream's 2 s and the drain's 0.5 s, not the plan.
    let secs = report["secs"].as_f64().unwrap();
    assert!((2.4..4.0).contains(&secs), "secs = {secs}");
    for positive in [
        "message_size",
        "setup_ms",
        "peak_rss_mib",
        "media_packets_per_s",
        "mib_per_cpu_s",
    ] {
        let v = report[positive]
            .as_f64()
            .unwrap_or_else(|| panic!("{positive} missing"));
        assert!(v > 0.0, "{positive} = {v}");
    }
    for present in ["cpu_s", "media_packets_per_cpu_s", "rss_per_receiver_kib"] {
        assert!(
            report[present].as_f64().is_some_and(|v| v >= 0.0),
            "{present} missing or negative"
        );
    }
    // 2 s of 30 fps video and 50 audio frames/s: 60 + 100 frames.
    let sent = report["frames_sent"].as_u64().unwrap();
    assert_eq!(sent, 160, "frames written in 2 s");
    assert_eq!(
        report["frames_not_written"], 0,
        "no frame refused or dropped"
    );
    // Each receiver got its share, not one receiver all of it.
    let per_receiver: Vec<u64> = report["frames_per_receiver"]
        .as_array()
        .expect("frames_per_receiver")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(per_receiver.len(), 2);
    for got in &per_receiver {
        assert!(
            *got * 10 >= sent * 9 && *got <= sent,
            "{got} of {sent} frames"
        );
    }
    let lost = report["frames_lost"].as_u64().unwrap();
    assert_eq!(lost, 2 * sent - per_receiver.iter().sum::<u64>());
    // The bytes are the frames the receivers got: 2 keyframes (48,825 B)
    // and 58 delta frames (9,765 B) of video and 100 × 120 B of audio
    // each, less what was lost.
    let full = 2 * (2 * 48_825 + 58 * 9_765 + 100 * 120);
    let bytes = report["bytes"].as_u64().unwrap();
    assert!(
        bytes <= full && bytes * 10 >= full * 9,
        "{bytes} of {full} bytes"
    );
    let mib_per_s = report["mib_per_s"].as_f64().unwrap();
    let expected = bytes as f64 / (1024.0 * 1024.0) / secs;
    assert!((mib_per_s - expected).abs() < 1e-6 * expected.max(1.0));
    // About nine packets a delta frame, 41 a keyframe, one an audio frame.
    let packets = report["media_packets_forwarded"].as_u64().unwrap();
    assert!(
        (1_300..=1_800).contains(&packets),
        "{packets} packets forwarded"
    );
}

#[test]
fn bench_refuses_media_flags_without_media_and_data_flags_with_it() {
    let secs_alone = ferrtc(&["bench", "--secs", "2", "--json"]);
    assert_eq!(secs_alone.status.code(), Some(2), "--secs needs --media");
    assert!(String::from_utf8_lossy(&secs_alone.stderr).contains("--media"));
    for flag in ["--bytes", "--message-size"] {
        let out = ferrtc(&["bench", "--media", flag, "1000", "--json"]);
        assert_eq!(out.status.code(), Some(2), "{flag} with --media");
        assert!(out.stdout.is_empty());
    }
}
