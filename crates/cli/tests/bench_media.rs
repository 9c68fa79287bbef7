//! `ferrtc bench --media --json`: one sender's video and audio forwarded
//! to N receivers over loopback; one JSON object with the bench's
//! required keys and the forwarding figures.

use std::process::Command;

#[test]
fn bench_media_json_reports_packets_forwarded_to_every_receiver() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args([
            "bench",
            "--media",
            "--connections",
            "2",
            "--secs",
            "2",
            "--json",
        ])
        .env("FERRTC_LOG", "error")
        .output()
        .expect("ferrtc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["receivers"], 2);
    assert_eq!(report["secs"].as_f64(), Some(2.0));
    for positive in [
        "bytes",
        "message_size",
        "setup_ms",
        "mib_per_s",
        "peak_rss_mib",
        "media_packets_forwarded",
        "media_packets_per_s",
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
    // 2 s of 30 fps video (about nine packets a frame) and 50 audio
    // packets/s reach each of the two receivers: well over 1,000 packets.
    let packets = report["media_packets_forwarded"].as_u64().unwrap();
    assert!(packets > 1_000, "{packets} packets forwarded");
    let sent = report["frames_sent"].as_u64().unwrap();
    assert!(sent >= 150, "{sent} frames sent in 2 s");
    let lost = report["frames_lost"].as_u64().unwrap();
    assert!(lost * 10 < sent * 2, "{lost} of {} frames lost", sent * 2);
}
