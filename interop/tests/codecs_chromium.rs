//! The `codecs` feature against headless Chromium
//! (interop/scripts/media_chromium.py with `--generated --snapshot`):
//! `ferrtc peer --play test-pattern --play tone` sends VP8 encoded live by
//! libvpx and an Opus tone by libopus, and Chromium's getStats() must show
//! the 640x480 frames decoded at 30 fps (`framesDecoded` growing) and the
//! tone received; ferrtc's `--snapshot` writes a PNG of Chromium's camera
//! (VP8 from libwebrtc, decoded by libvpx here), 320x240, every CRC valid.
//! Both roles.

#[path = "pc_common/mod.rs"]
mod pc_common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// The `ferrtc` binary built with the `codecs` feature, copied to
/// `target/<profile>/ferrtc-codecs` so that the other tests' plain build
/// (pc_common::ferrtc_bin) does not replace it. `FERRTC_CODECS_BIN`
/// overrides it.
fn ferrtc_codecs_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRTC_CODECS_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps layout")
        .to_path_buf();
    let copy = profile_dir.join("ferrtc-codecs");
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "ferrtc-cli",
            "--bin",
            "ferrtc",
            "--features",
            "codecs",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building ferrtc --features codecs failed");
        // Test binaries run one after another: no other build replaces
        // the binary between the build and the copy.
        std::fs::copy(profile_dir.join("ferrtc"), &copy).expect("copy the codecs binary");
    });
    copy
}

/// Runs the page against ferrtc playing the generated sources and returns
/// its JSON summary (`None` when interop tests are off).
fn run(role: &str) -> Option<Value> {
    if !ferrtc_interop::interop_enabled() {
        return None;
    }
    let bin = ferrtc_codecs_bin();
    let script = pc_common::script("media_chromium.py");
    let media = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/media");
    let args = [
        script.as_os_str(),
        "--ferrtc".as_ref(),
        bin.as_os_str(),
        "--role".as_ref(),
        role.as_ref(),
        "--media".as_ref(),
        media.as_os_str(),
        "--generated".as_ref(),
        "--snapshot".as_ref(),
    ];
    let out =
        pc_common::run_with_deadline(&ferrtc_interop::python(), &args, Duration::from_secs(300));
    println!("{out}");
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no summary from the page: {out}"));
    let summary: Value = serde_json::from_str(line).expect("summary is JSON");
    assert_eq!(summary["ok"], true, "{summary}");
    Some(summary)
}

fn check(s: &Value) {
    assert_eq!(s["recv_video_codec"], "video/VP8", "{s}");
    assert_eq!(s["recv_video_size"], serde_json::json!([640, 480]), "{s}");
    let fps = s["recv_video_fps"].as_f64().unwrap_or(0.0);
    assert!(
        (24.0..=36.0).contains(&fps),
        "Chromium decoded {fps} fps of the test pattern: {s}"
    );
    assert!(
        s["recv_video_keyframes_decoded"].as_u64().unwrap_or(0) >= 1,
        "{s}"
    );
    assert_eq!(s["recv_audio_codec"], "audio/opus", "{s}");
    assert!(s["recv_audio_energy"].as_f64().unwrap_or(0.0) > 0.0, "{s}");
    let concealed = s["recv_audio_concealed"].as_f64().unwrap_or(1.0);
    assert!(
        concealed < 0.05,
        "{concealed} of the tone was concealed: {s}"
    );
    let snap = &s["snapshot"];
    assert_eq!(snap["width"], 320, "{s}");
    assert_eq!(snap["height"], 240, "{s}");
    assert_eq!(snap["crcs_ok"], true, "{s}");
    assert_eq!(snap["first"], serde_json::json!(["IHDR"]), "{s}");
    assert_eq!(snap["last"], serde_json::json!(["IEND"]), "{s}");
}

#[test]
fn chromium_decodes_ferrtcs_test_pattern_and_tone_when_ferrtc_answers() {
    if let Some(s) = run("ferrtc-answers") {
        check(&s);
    }
}

#[test]
fn chromium_decodes_ferrtcs_test_pattern_and_tone_when_ferrtc_offers() {
    if let Some(s) = run("ferrtc-offers") {
        check(&s);
    }
}
