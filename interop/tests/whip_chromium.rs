//! WHIP ingest and WHEP egress with browsers: headless Chromium (Debian's
//! `chromium`, driven by playwright-core from `interop/browser/`) opens the
//! page of `ferrtc signal`, one page broadcasts its fake camera by WHIP (as
//! three simulcast layers, each sending), a
//! second broadcaster is refused (409), three pages watch by WHEP, and each
//! viewer's `getStats()` shows its inbound video decoding (`framesDecoded`
//! grows) with the codec the broadcaster sends, forwarded by ferrtc without
//! decoding (interop/scripts/whip_chromium.mjs).
//!
//! Needs `node`, `/usr/bin/chromium` (or `CHROMIUM`) and
//! `npm ci --prefix interop/browser`. Runs only with FERRTC_INTEROP=1.

use std::process::Stdio;
use std::time::Duration;

use ferrtc_interop::{
    build_ferrtc, chromium, interop_enabled, run_browser_script, start_listening, workspace_root,
};

#[test]
fn chromium_broadcasts_by_whip_and_three_chromium_viewers_decode_it_by_whep() {
    if !interop_enabled() {
        return;
    }
    let root = workspace_root();
    let chromium = chromium(&root);
    let ferrtc = build_ferrtc(&root);
    let (server, url) = start_listening(
        &ferrtc,
        &["signal", "--listen", "127.0.0.1:0"],
        Stdio::inherit(),
    );

    let artifacts = root.join("artifacts");
    let args = [url.as_str(), artifacts.to_str().expect("UTF-8 path")];
    let (status, report) = run_browser_script(
        "whip_chromium.mjs",
        &args,
        &chromium,
        Duration::from_secs(180),
    )
    .unwrap_or_else(|| panic!("the browser test did not finish within 180 s"));
    println!("{report}");
    drop(server);

    let result: serde_json::Value =
        serde_json::from_str(report.trim()).unwrap_or_else(|_| panic!("one JSON line: {report}"));
    assert!(status.success(), "browser test failed: {report}");
    assert_eq!(result["broadcasting"], true, "{report}");
    assert_eq!(result["second_broadcaster_refused"], true, "{report}");
    let viewers = result["viewers"].as_array().expect("viewers");
    assert_eq!(viewers.len(), 3, "{report}");
    for v in viewers {
        let first = v["frames_first"].as_u64().unwrap_or(0);
        let later = v["frames_later"].as_u64().unwrap_or(0);
        // 3 s at the fake camera's rate; a margin for a slow machine.
        assert!(
            later >= first + 20,
            "a viewer's video is not decoding: {report}"
        );
        assert!(v["width"].as_u64().unwrap_or(0) >= 160, "{report}");
        assert!(
            v["codec"].as_str().is_some_and(|c| c.starts_with("video/")),
            "{report}"
        );
    }
    // The page broadcasts simulcast: three layers, each sending.
    let layers = result["layers_sent"].as_array().expect("layers_sent");
    let rids: Vec<&str> = layers.iter().filter_map(|l| l["rid"].as_str()).collect();
    assert_eq!(rids, ["f", "h", "q"], "{report}");
    assert!(
        layers.iter().all(|l| l["bytes"].as_u64().unwrap_or(0) > 0),
        "every layer sends: {report}"
    );
    assert_eq!(result["stopped"], true, "{report}");
    let ended = result["viewers_ended"].as_array().expect("viewers_ended");
    assert_eq!(ended.len(), 3, "every viewer's connection ended: {report}");
    for v in ended {
        let states = v["states"].as_array().expect("states");
        assert!(
            states
                .iter()
                .any(|s| ["disconnected", "failed", "closed"].contains(&s.as_str().unwrap_or(""))),
            "the viewer's connection ended: {report}"
        );
    }
    assert!(artifacts.join("whep-viewer0.png").exists());
}
