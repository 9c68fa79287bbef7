//! Simulcast from headless Chromium to `ferrtc peer --record DIR`
//! (interop/scripts/simulcast_chromium.py): Chromium offers its fake
//! camera with `sendEncodings` q, h and f (`scaleResolutionDownBy` 4, 2,
//! 1; RFC 8853), ferrtc answers, splits the three RTP streams by their RFC
//! 8852 rid and records each layer to its own IVF file. Each recording
//! must decode (ffprobe), hold the frames Chromium sent on its layer, and
//! start with a VP8 keyframe whose size (RFC 6386 §9.1) grows from q to h
//! to f as Chromium's getStats() says.

#[path = "pc_common/mod.rs"]
mod pc_common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// The size in the first VP8 keyframe of an IVF file (RFC 6386 §9.1: the
/// start code 9d 01 2a after the 3-byte frame tag, then 14-bit width and
/// height, little endian).
fn first_keyframe_size(path: &Path) -> Option<(u16, u16)> {
    let bytes = std::fs::read(path).ok()?;
    let header_len = usize::from(u16::from_le_bytes([*bytes.get(6)?, *bytes.get(7)?]));
    let mut at = header_len;
    while at + 12 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
        let frame = bytes.get(at + 12..at + 12 + len)?;
        if frame.len() >= 10 && frame[0] & 1 == 0 && frame[3..6] == [0x9d, 0x01, 0x2a] {
            let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
            let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
            return Some((w, h));
        }
        at += 12 + len;
    }
    None
}

/// Where `ferrtc --record` writes (it makes the directory); removed when
/// dropped.
fn record_dir() -> ferrtc_interop::TempPath {
    ferrtc_interop::TempPath::new(format!("ferrtc-simulcast-{}", std::process::id()))
}

#[test]
fn chromium_sends_three_simulcast_layers_and_ferrtc_records_each_decodable_at_its_size() {
    if !ferrtc_interop::interop_enabled() {
        return;
    }
    let bin = pc_common::ferrtc_bin();
    let script = pc_common::script("simulcast_chromium.py");
    let dir = record_dir();
    let args = [
        script.as_os_str(),
        "--ferrtc".as_ref(),
        bin.as_os_str(),
        "--record".as_ref(),
        dir.as_os_str(),
    ];
    let out =
        pc_common::run_with_deadline(&ferrtc_interop::python(), &args, Duration::from_secs(300));
    println!("{out}");
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no summary from the page: {out}"));
    let s: Value = serde_json::from_str(line).expect("summary is JSON");
    assert_eq!(s["ok"], true, "{s}");

    let mut widths = Vec::new();
    for rid in ["q", "h", "f"] {
        let sent = &s["sent"][rid];
        let sent_frames = sent["frames"].as_u64().unwrap_or(0);
        assert!(
            sent_frames > 30,
            "Chromium sent {sent_frames} frames on {rid}: {s}"
        );
        let recorded = s["recorded"]
            .as_object()
            .expect("recordings listed")
            .iter()
            .find(|(name, _)| name.ends_with(&format!("-{rid}.ivf")))
            .unwrap_or_else(|| panic!("no recording of layer {rid}: {s}"));
        let (name, r) = recorded;
        assert_eq!(r["codec"], "vp8", "{s}");
        let frames = r["frames"].as_u64().unwrap_or(0);
        // A few frames may be in flight when Chromium's sender stops.
        assert!(
            frames + 5 >= sent_frames,
            "layer {rid}: ferrtc recorded {frames} decodable frames of the {sent_frames} sent: {s}"
        );
        let (w, h) = first_keyframe_size(&dir.join(name))
            .unwrap_or_else(|| panic!("{name}: no VP8 keyframe"));
        assert_eq!(
            (u64::from(w), u64::from(h)),
            (
                sent["width"].as_u64().unwrap_or(0),
                sent["height"].as_u64().unwrap_or(0)
            ),
            "layer {rid}: the size Chromium sent: {s}"
        );
        widths.push((w, h));
    }
    assert!(
        widths[0].0 < widths[1].0 && widths[1].0 < widths[2].0,
        "q < h < f: {widths:?}"
    );
    assert!(widths[0].1 < widths[1].1 && widths[1].1 < widths[2].1);
}
