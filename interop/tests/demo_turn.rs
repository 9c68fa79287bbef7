//! Two headless Chromium tabs on the demo page reach each other only
//! through `ferrtc turn` (both with `iceTransportPolicy: "relay"`, the
//! server in the page URL): they join, call and chat, and each tab's
//! connection panel shows a relay-to-relay pair
//! (interop/scripts/demo_turn.mjs).
//!
//! Runs only with FERRTC_INTEROP=1.
#![allow(missing_docs)]

#[path = "pc_common/mod.rs"]
mod pc_common;
#[path = "turn_server_common/mod.rs"]
mod turn_server_common;

use std::process::Stdio;
use std::time::Duration;

use ferrtc_interop::{
    TempPath, chromium, interop_enabled, run_browser_script, start_listening, workspace_root,
};

#[test]
fn two_chromium_tabs_relay_only_call_each_other_through_ferrtc_turn() {
    if !interop_enabled() {
        return;
    }
    let chromium = chromium(&workspace_root());
    let bin = pc_common::ferrtc_bin();
    let users = TempPath::file(
        format!("ferrtc-demo-turn-users-{}", std::process::id()),
        "alice:secret\n",
    );
    let turn = turn_server_common::ferrtc_turn(
        &bin,
        &["--users", users.to_str().unwrap(), "--allow-loopback"],
    );
    let (_demo, base) = start_listening(
        &bin,
        &["signal", "--listen", "127.0.0.1:0"],
        Stdio::inherit(),
    );
    let url = format!(
        "{base}/?turn=turn:{}&turnUser=alice&turnPass=secret&relay=1",
        turn.udp
    );
    let (status, report) = run_browser_script(
        "demo_turn.mjs",
        &[&url],
        &chromium,
        Duration::from_secs(240),
    )
    .unwrap_or_else(|| panic!("the browser test did not finish within 240 s"));
    println!("{report}");
    assert!(status.success(), "{report}");
    let result: serde_json::Value = serde_json::from_str(report.trim()).expect("one JSON line");
    assert_eq!(result["chat"], true, "{report}");
    for key in ["alice_local", "alice_remote", "bob_local", "bob_remote"] {
        let shown = result[key].as_str().unwrap_or_default();
        assert!(shown.starts_with("relay "), "{key}: {shown}");
    }
}
