//! The demo web app in a real browser: headless Chromium (Debian's
//! `chromium`, driven by playwright-core from `interop/browser/`) opens the
//! page served by `ferrtc demo`, joins as two users in two tabs, chats over a
//! data channel between them, sends a 5 MiB file and checks the SHA-256 both
//! tabs show; calls the built-in ferrtc peer `ferrtc-bot`, which echoes chat,
//! hashes a 5 MiB upload and answers `/stats`; sees a taken name refused, a
//! hang-up reported and, once the server is stopped, "Signaling lost" on the
//! page; screenshots are saved under `artifacts/`.
//!
//! Needs `node`, `/usr/bin/chromium` (or `CHROMIUM`) and
//! `npm ci --prefix interop/browser`. Runs only with FERRTC_INTEROP=1.

use std::process::Stdio;
use std::time::Duration;

use ferrtc_interop::{
    build_ferrtc, chromium, interop_enabled, run_browser_script, start_listening, workspace_root,
};

#[test]
fn two_tabs_chat_send_a_file_and_video_call_and_the_ferrtc_bot_echoes_an_upload() {
    if !interop_enabled() {
        return;
    }
    let root = workspace_root();
    let chromium = chromium(&root);
    let ferrtc = build_ferrtc(&root);
    let (server, url) = start_listening(
        &ferrtc,
        &["demo", "--listen", "127.0.0.1:0"],
        Stdio::inherit(),
    );

    let artifacts = root.join("artifacts");
    let pid = server.0.id().to_string();
    let args = [
        url.as_str(),
        artifacts.to_str().expect("UTF-8 path"),
        &pid,
        "--bot",
    ];
    let (status, report) = run_browser_script(
        "demo_browser.mjs",
        &args,
        &chromium,
        Duration::from_secs(240),
    )
    .unwrap_or_else(|| panic!("the browser test did not finish within 240 s"));
    println!("{report}");
    drop(server);

    assert!(status.success(), "browser test failed: {report}");
    let result: serde_json::Value = serde_json::from_str(report.trim()).expect("one JSON line");
    assert_eq!(result["ok"], true);
    assert_eq!(result["chat"], true);
    assert_eq!(result["sha256_receiver"], result["sha256_expected"]);
    assert_eq!(result["sha256_sender"], result["sha256_expected"]);
    assert_eq!(result["name_taken_error"], "the name \"alice\" is taken");
    assert_eq!(result["hangup"], true);
    // The video call between the two tabs (fake camera: 640x480, which
    // Chromium may send scaled down while its bandwidth estimate ramps up).
    for name in ["alice", "bob"] {
        let width = result[format!("video_size_{name}")][0]
            .as_u64()
            .unwrap_or(0);
        assert!(width >= 160, "{name} saw no remote video: {report}");
        assert!(
            result[format!("video_in_{name}")]
                .as_str()
                .is_some_and(|s| s.starts_with("VP8") && s.contains("fps")),
            "{name}'s stats panel shows no inbound video: {report}"
        );
    }
    assert_eq!(result["muted"], true, "{report}");
    assert!(
        result["photo"][0].as_u64().unwrap_or(0) >= 160 && result["photo"][2] == true,
        "no photo: {report}"
    );
    assert!(artifacts.join("video-alice.png").exists());
    assert!(
        result["signaling_lost"]
            .as_str()
            .is_some_and(|text| text.starts_with("Signaling lost")),
        "no clear message when the server went away: {report}"
    );
    assert_eq!(result["bot_echo"], true, "the bot did not echo: {report}");
    assert_eq!(
        result["bot_match"], "true",
        "the bot's SHA-256 differs: {report}"
    );
    assert_eq!(
        result["bot_stats"], true,
        "the bot did not answer /stats: {report}"
    );
    assert!(
        result["bot_video_size"][0].as_u64().unwrap_or(0) >= 160,
        "alice's video did not come back through the bot: {report}"
    );
    assert_eq!(
        result["bot_rtp_stats"],
        serde_json::json!(["inbound-rtp", "outbound-rtp"]),
        "{report}"
    );
    assert!(artifacts.join("demo-alice.png").exists());
    assert!(artifacts.join("demo-bob.png").exists());
}
