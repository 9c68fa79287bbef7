//! Audio and video between headless Chromium (fake camera and microphone)
//! and `ferrtc peer --play FILE --record DIR`, both roles
//! (interop/scripts/media_chromium.py). ferrtc sends a 30 fps VP8 (or
//! H.264) file and an Opus file; Chromium's getStats() must show frames
//! decoded at the file's rate and audio samples received at 48 kHz. Chromium
//! sends its camera; ferrtc's recording must decode with ffprobe and hold at
//! least the frames Chromium reports sent (less a margin for the frames in
//! flight when the test ends).
//! DTMF both ways: `ferrtc peer --dtmf` tones are read back from Chromium's
//! audio receiver (its encoded frames: the telephone-event payload type and
//! the RFC 4733 event code), and the tones of Chromium's RTCDTMFSender come
//! out of ferrtc as `dtmf received: X` lines, in order.

#[path = "pc_common/mod.rs"]
mod pc_common;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Runs the page against ferrtc and returns its JSON summary (`None` when
/// interop tests are off).
fn run(role: &str, codec: &str, extra: &[&str]) -> Option<Value> {
    if !ferrtc_interop::interop_enabled() {
        return None;
    }
    let bin = pc_common::ferrtc_bin();
    let script = pc_common::script("media_chromium.py");
    let media = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/media");
    let mut args = vec![
        script.as_os_str(),
        "--ferrtc".as_ref(),
        bin.as_os_str(),
        "--role".as_ref(),
        role.as_ref(),
        "--codec".as_ref(),
        codec.as_ref(),
        "--media".as_ref(),
        media.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
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

/// What every run must show, whatever the role: Chromium decodes ferrtc's
/// video at the file's 30 fps and receives its audio at 48 kHz, and
/// ferrtc's recordings decode with at least the frames Chromium sent.
fn check_both_ways(s: &Value, video_mime: &str, recorded_video: &str, extension: &str) {
    assert_eq!(s["recv_video_codec"], video_mime, "{s}");
    let fps = s["recv_video_fps"].as_f64().unwrap_or(0.0);
    assert!(
        (24.0..=36.0).contains(&fps),
        "Chromium decoded {fps} fps: {s}"
    );
    assert_eq!(s["recv_video_size"], serde_json::json!([320, 240]), "{s}");
    assert_eq!(s["recv_audio_codec"], "audio/opus", "{s}");
    let rate = s["recv_audio_samples_per_s"].as_f64().unwrap_or(0.0);
    assert!(
        (40_000.0..=56_000.0).contains(&rate),
        "Chromium received {rate} audio samples/s: {s}"
    );
    // The 440 Hz tone is heard, not concealment.
    assert!(s["recv_audio_energy"].as_f64().unwrap_or(0.0) > 0.0, "{s}");
    let concealed = s["recv_audio_concealed"].as_f64().unwrap_or(1.0);
    assert!(
        concealed < 0.05,
        "{concealed} of the audio was concealed: {s}"
    );

    let recorded = s["recorded"].as_object().expect("recordings listed");
    let video = recorded
        .iter()
        .find(|(name, _)| name.ends_with(extension))
        .unwrap_or_else(|| panic!("no {extension} recording: {s}"))
        .1;
    assert_eq!(video["codec"], recorded_video, "{s}");
    let sent = s["sent_video_frames"].as_u64().unwrap_or(0);
    let frames = video["frames"].as_u64().unwrap_or(0);
    assert!(sent > 60, "Chromium sent only {sent} frames: {s}");
    // A frame or two may be in flight when Chromium's sender stops.
    assert!(
        frames + 3 >= sent,
        "ferrtc recorded {frames} decodable frames of the {sent} Chromium sent: {s}"
    );
    let audio = recorded
        .iter()
        .find(|(name, _)| name.ends_with(".ogg"))
        .unwrap_or_else(|| panic!("no .ogg recording: {s}"))
        .1;
    assert_eq!(audio["codec"], "opus", "{s}");
    let packets = s["sent_audio_packets"].as_u64().unwrap_or(0);
    let decoded = audio["frames"].as_u64().unwrap_or(0);
    assert!(
        decoded + 5 >= packets && packets > 100,
        "ferrtc recorded {decoded} Opus packets of the {packets} Chromium sent: {s}"
    );
}

#[test]
fn ferrtc_answers_a_chromium_call_with_vp8_and_opus_both_ways() {
    if let Some(s) = run("ferrtc-answers", "VP8", &[]) {
        check_both_ways(&s, "video/VP8", "vp8", ".ivf");
    }
}

#[test]
fn ferrtc_calls_chromium_with_vp8_and_opus_both_ways() {
    if let Some(s) = run("ferrtc-offers", "VP8", &[]) {
        check_both_ways(&s, "video/VP8", "vp8", ".ivf");
    }
}

#[test]
fn ferrtc_and_chromium_exchange_h264_both_ways() {
    if let Some(s) = run("ferrtc-answers", "H264", &[]) {
        check_both_ways(&s, "video/H264", "h264", ".h264");
    }
}

#[test]
fn dtmf_goes_both_ways_between_chromium_and_ferrtc_in_order() {
    let extra = ["--dtmf", "1#A,9", "--chromium-dtmf", "5*B0"];
    if let Some(s) = run("ferrtc-answers", "VP8", &extra) {
        assert_eq!(s["chromium_dtmf_sent"], "5*B0", "{s}");
        assert_eq!(s["dtmf_received"], "5*B0", "ferrtc heard: {s}");
        assert_eq!(s["chromium_dtmf_heard"], "1#A9", "Chromium heard: {s}");
        // The media goes on meanwhile.
        let fps = s["recv_video_fps"].as_f64().unwrap_or(0.0);
        assert!(fps > 20.0, "Chromium decoded {fps} fps: {s}");
    }
}
