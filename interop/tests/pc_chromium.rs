//! `ferrtc peer --echo` against headless Chromium (Debian `chromium`), both
//! roles: mixed text and binary messages of 1 byte to 256 KiB, 32 MiB of
//! 16 KiB messages with back-pressure, an unordered maxRetransmits=0
//! channel (when Chromium offers), clean close (interop/scripts/pc_chromium.py,
//! standard-library Python). Chromium runs with plain host candidates: with
//! mDNS names ferrtc would query the mDNS group off loopback (that path is
//! tested against a loopback responder in crates/ferrtc/tests/mdns.rs).
//! A third test uses the `negotiated_echo` example of the ferrtc crate: a
//! channel negotiated out of band with id 7 on both sides.

#[path = "pc_common/mod.rs"]
mod pc_common;

use std::time::Duration;

fn run(role: &str) {
    if !ferrtc_interop::interop_enabled() {
        return;
    }
    let bin = if role == "negotiated" {
        pc_common::ferrtc_example("negotiated_echo")
    } else {
        pc_common::ferrtc_bin()
    };
    let script = pc_common::script("pc_chromium.py");
    let out = pc_common::run_with_deadline(
        &ferrtc_interop::python(),
        &[
            script.as_os_str(),
            "--ferrtc".as_ref(),
            bin.as_os_str(),
            "--role".as_ref(),
            role.as_ref(),
        ],
        Duration::from_secs(420),
    );
    println!("{out}");
    assert!(out.contains("\"ok\": true"), "{out}");
    assert!(out.contains("\"bulk_bytes\": 33554432"), "{out}");
    assert!(out.contains("\"closed\": \"closed\""), "{out}");
}

#[test]
fn ferrtc_answers_a_chromium_offer_with_reliable_and_unordered_channels() {
    run("ferrtc-answers");
}

#[test]
fn ferrtc_offers_to_chromium_and_echoes_everything() {
    run("ferrtc-offers");
}

#[test]
fn a_negotiated_channel_with_a_fixed_id_talks_to_chromium() {
    run("negotiated");
}
