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

/// A `--message-size` over the peer's `a=max-message-size` (256 KiB, RFC
/// 8841 §6) cannot be sent (W3C webrtc-pc §6.2 `send()`: a `TypeError`):
/// the bench says so and exits 1 instead of waiting forever for messages
/// that were never sent.
#[test]
fn bench_with_a_message_size_over_the_max_message_size_fails_and_does_not_hang() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(["bench", "--bytes", "1000000", "--message-size", "300000"])
        .env("FERRTC_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ferrtc runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bench --message-size 300000 still running after 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("max-message-size"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// When fewer pairs open than `--connections` asked for (here the process
/// runs out of file descriptors), the report still comes, then the exit
/// code 1 with a message that says so, not the unrelated "the peer
/// connection is closed".
#[test]
fn bench_says_how_many_pairs_opened_when_some_did_not() {
    let out = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -n 40 && exec "$1" bench --connections 60 --bytes 0 --json"#,
            "sh",
            env!("CARGO_BIN_EXE_ferrtc"),
        ])
        .env("FERRTC_LOG", "error")
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let opened = report["connections"].as_u64().unwrap();
    assert!(opened < 60, "{report}");
    assert!(
        stderr.contains(&format!("only {opened} of 60 connection pairs opened")),
        "{stderr}"
    );
}

/// `--connections N --bytes 0`: N pairs open, no bulk bytes move (0 is
/// allowed), and the one JSON object says how many pairs there were.
#[test]
fn bench_json_with_zero_bytes_over_several_connections_reports_them() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(["bench", "--bytes", "0", "--connections", "3", "--json"])
        .env("FERRTC_LOG", "error")
        .output()
        .expect("ferrtc runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["bytes"], 0);
    assert_eq!(report["connections"], 3);
    for key in [
        "message_size",
        "setup_ms",
        "secs",
        "mib_per_s",
        "cpu_s",
        "peak_rss_mib",
        "setup_median_ms",
        "rss_per_connection_kib",
        "small_messages_per_s",
    ] {
        assert!(report[key].is_number(), "{key} missing in {report}");
    }
}
