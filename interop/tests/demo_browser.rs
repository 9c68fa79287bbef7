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

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrtc_interop::{Server, build_ferrtc, interop_enabled, workspace_root};

#[test]
fn two_tabs_chat_send_a_file_and_video_call_and_the_ferrtc_bot_echoes_an_upload() {
    if !interop_enabled() {
        return;
    }
    let root = workspace_root();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: apt-get install chromium"
    );
    assert!(
        root.join("interop/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: npm ci --prefix interop/browser"
    );

    let ferrtc = build_ferrtc(&root);
    let mut child = Command::new(ferrtc)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ferrtc demo starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server prints its address");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
        .to_owned();

    let artifacts = root.join("artifacts");
    let node = std::env::var("FERRTC_NODE").unwrap_or_else(|_| "node".into());
    let mut browser = Command::new(node)
        .arg(root.join("interop/scripts/demo_browser.mjs"))
        .arg(&url)
        .arg(&artifacts)
        .arg(server.0.id().to_string())
        .arg("--bot")
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = browser.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = browser.kill();
            let _ = browser.wait();
            panic!("the browser test did not finish within 240 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = browser.wait_with_output().expect("node output");
    let report = String::from_utf8_lossy(&output.stdout);
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
