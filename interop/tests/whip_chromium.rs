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

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrtc_interop::{Server, build_ferrtc, interop_enabled, workspace_root};

#[test]
fn chromium_broadcasts_by_whip_and_three_chromium_viewers_decode_it_by_whep() {
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
        .args(["signal", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ferrtc signal starts");
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
        .arg(root.join("interop/scripts/whip_chromium.mjs"))
        .arg(&url)
        .arg(&artifacts)
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = browser.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = browser.kill();
            let _ = browser.wait();
            panic!("the browser test did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = browser.wait_with_output().expect("node output");
    let report = String::from_utf8_lossy(&output.stdout);
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
