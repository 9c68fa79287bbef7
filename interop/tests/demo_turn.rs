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

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use ferrtc_interop::interop_enabled;

#[test]
fn two_chromium_tabs_relay_only_call_each_other_through_ferrtc_turn() {
    if !interop_enabled() {
        return;
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing");
    let bin = pc_common::ferrtc_bin();
    let users = std::env::temp_dir().join(format!("ferrtc-demo-turn-users-{}", std::process::id()));
    std::fs::write(&users, "alice:secret\n").unwrap();
    let turn = turn_server_common::ferrtc_turn(
        &bin,
        &["--users", users.to_str().unwrap(), "--allow-loopback"],
    );
    let mut demo = Command::new(&bin)
        .args(["signal", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ferrtc signal starts");
    let mut line = String::new();
    BufReader::new(demo.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _demo = turn_server_common::Killed(demo);
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let url = format!(
        "{base}/?turn=turn:{}&turnUser=alice&turnPass=secret&relay=1",
        turn.udp
    );
    let script = pc_common::script("demo_turn.mjs");
    let node = std::env::var("FERRTC_NODE").unwrap_or_else(|_| "node".into());
    let out = Command::new(node)
        .arg(script)
        .arg(&url)
        .env("CHROMIUM", &chromium)
        .stderr(Stdio::inherit())
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(out.status.success(), "{report}");
    let result: serde_json::Value = serde_json::from_str(report.trim()).expect("one JSON line");
    assert_eq!(result["chat"], true, "{report}");
    for key in ["alice_local", "alice_remote", "bob_local", "bob_remote"] {
        let shown = result[key].as_str().unwrap_or_default();
        assert!(shown.starts_with("relay "), "{key}: {shown}");
    }
}
