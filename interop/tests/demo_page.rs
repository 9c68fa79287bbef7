//! Behaviours of the demo web app (`crates/signal/web`) in a real browser,
//! one case each: headless Chromium (Debian's `chromium`, driven by
//! playwright-core from `interop/browser/`) opens the page served by
//! `ferrtc demo` in two tabs, joins them as alice and bob and runs one case
//! of `interop/scripts/demo_page.mjs`.
//!
//! Needs `node`, `/usr/bin/chromium` (or `CHROMIUM`) and
//! `npm ci --prefix interop/browser`. Runs only with FERRTC_INTEROP=1.

use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use ferrtc_interop::{
    build_ferrtc, chromium, interop_enabled, run_browser_script, start_listening, workspace_root,
};

/// One browser at a time: the cases share a machine of two cores.
static BROWSER: Mutex<()> = Mutex::new(());

/// Runs `case` of `demo_page.mjs` against a fresh `ferrtc demo` and returns
/// its JSON report, or `None` when interop tests are off. Panics when the
/// case fails, with the report.
fn run_case(case: &str) -> Option<serde_json::Value> {
    run_case_with(case, &[])
}

/// [`run_case`] with `server_args` added to `ferrtc demo`'s.
fn run_case_with(case: &str, server_args: &[&str]) -> Option<serde_json::Value> {
    if !interop_enabled() {
        return None;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let root = workspace_root();
    let chromium = chromium(&root);
    let ferrtc = build_ferrtc(&root);
    let args: Vec<&str> = ["demo", "--listen", "127.0.0.1:0"]
        .into_iter()
        .chain(server_args.iter().copied())
        .collect();
    let (server, url) = start_listening(&ferrtc, &args, Stdio::null());
    let (status, report) = run_browser_script(
        "demo_page.mjs",
        &[&url, case],
        &chromium,
        Duration::from_secs(120),
    )
    .unwrap_or_else(|| panic!("the browser case {case} did not finish within 120 s"));
    let report = report.trim();
    drop(server);
    assert!(status.success(), "browser case {case} failed: {report}");
    let result: serde_json::Value = serde_json::from_str(report).expect("one JSON line");
    assert_eq!(result["ok"], true, "{report}");
    Some(result)
}

/// A file received from a peer is offered for download as bytes, never as
/// the type its sender claimed: a `blob:` URL has the origin of the page
/// that made it (HTML Living Standard, "blob URL entry"), so a received
/// `text/html` or `image/svg+xml` file opened from its "save" link (e.g.
/// "Open link in new tab") would run the sender's script as the demo page.
/// The blob is `application/octet-stream`, which a browser saves, and the
/// `download` name stays the sender's file name.
#[test]
fn a_received_file_opened_from_its_link_does_not_run_as_a_page_of_the_demo() {
    let Some(result) = run_case("received-file-link") else {
        return;
    };
    assert_eq!(result["content_type"], "application/octet-stream");
    assert_eq!(result["download"], "page.html");
    assert_eq!(result["saved_name"], "page.html");
}

/// A file transfer whose peer hangs up (or leaves) mid-way ends "failed" on
/// both sides. The sender waits for the channel's `bufferedamountlow`
/// (W3C webrtc-pc §6.2) between chunks, which never fires once the channel
/// is closed: every wait of a transfer also ends when its channel closes or
/// its call ends, so the sender's row is not left "running" for ever.
#[test]
fn a_file_transfer_fails_on_both_sides_when_the_receiver_hangs_up_mid_way() {
    let Some(result) = run_case("hangup-mid-transfer") else {
        return;
    };
    assert_eq!(result["alice"][0]["state"], "failed");
    assert_eq!(result["bob"][0]["state"], "failed");
}

/// An offer that arrives while the page is still applying the answer to its
/// own offer is answered, not ignored as glare. W3C webrtc-pc §10.7
/// ("perfect negotiation"): only an offer that meets our own offer is a
/// collision; one behind an answer being applied is the next negotiation
/// (the spec's example keeps `isSettingRemoteAnswerPending` for it). The page
/// handles each peer's signaling messages one at a time, in order. Here
/// alice (the impolite side, microphone only, slow to apply answers) starts
/// video; bob answers with his microphone and offers his camera right after
/// his answer: alice must receive his video.
#[test]
fn an_offer_that_arrives_while_the_answer_is_applied_is_answered_not_ignored() {
    let Some(result) = run_case("offer-while-answer-pending") else {
        return;
    };
    assert!(
        result["video_size_alice"][0].as_u64().unwrap_or(0) > 0,
        "{result}"
    );
}

/// A page whose `?room=` the server refuses (the connection gets an `error`
/// and is closed with 1008, policy violation, RFC 6455 §7.4.1, before any
/// user list) says so and does not reconnect: the same address would be
/// refused again, and a loop of one connection a second told the user only
/// "Signaling lost". The same holds for a malformed or expired `?token=`.
#[test]
fn a_page_whose_room_the_server_refuses_says_so_and_does_not_reconnect() {
    let Some(result) = run_case("refused-room") else {
        return;
    };
    assert!(result["sockets"].as_u64().unwrap_or(99) <= 2, "{result}");
    assert_eq!(result["status"], "refused", "{result}");
}

/// With `--secret`, a join token is checked at the `join`, with the name:
/// a name other than the token's gets `bad-token` and a close with 1008
/// before any user list (a connection learns nothing of the room before its
/// token is verified). That is not a refusal of the page's address: the
/// token is valid and the user only mistyped the name. The page must let
/// the user join with the right name without a reload.
#[test]
fn a_mistyped_name_with_a_valid_join_token_can_be_corrected_without_a_reload() {
    let Some(result) = run_case_with("secret-wrong-name", &["--secret", "s3cret"]) else {
        return;
    };
    assert_eq!(result["joined"], true, "{result}");
}

/// A received file whose call ends while the receiver hashes it (every
/// byte in, the SHA-256 under way) must not stay "running": it is
/// received, and the confirmation to the sender is best effort.
#[test]
fn a_received_file_whose_call_ends_while_it_is_hashed_is_not_left_running() {
    let Some(result) = run_case("hangup-while-hashing") else {
        return;
    };
    assert_ne!(result["bob"][0]["state"], "running", "{result}");
}

/// The page under its real Content-Security-Policy (the other cases bypass
/// it): chat, a received file saved from its `blob:` link, a video call, a
/// photo (a `data:` image), Broadcast (WHIP) and Watch (WHEP) all work and
/// no violation is reported.
#[test]
fn every_feature_of_the_page_works_under_its_content_security_policy() {
    let Some(result) = run_case("csp-features") else {
        return;
    };
    assert_eq!(result["violations"], serde_json::json!([]), "{result}");
}
