//! `ferrtc bench --json`: one JSON object on stdout with the figures
//! the README names, plus the setup-latency and small-message workloads.

use std::process::Command;

#[test]
fn bench_json_reports_throughput_setup_latency_and_small_messages() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(["bench", "--bytes", "1048576", "--json"])
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
    assert_eq!(report["bytes"], 1_048_576);
    assert_eq!(report["message_size"], 16_384);
    assert_eq!(report["connections"], 1);
    for positive in [
        "setup_ms",
        "secs",
        "mib_per_s",
        "peak_rss_mib",
        "setup_median_ms",
        "small_messages_per_s",
    ] {
        let v = report[positive]
            .as_f64()
            .unwrap_or_else(|| panic!("{positive} missing"));
        assert!(v > 0.0, "{positive} = {v}");
    }
    assert!(report["cpu_s"].as_f64().is_some_and(|v| v >= 0.0));
    assert!(report["rss_per_connection_kib"].as_f64().is_some());
}
