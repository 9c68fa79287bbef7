//! `ferrtc peer --echo` against headless Chromium (Debian `chromium`), both
//! roles: mixed text and binary messages of 1 byte to 256 KiB, 32 MiB of
//! 16 KiB messages with back-pressure, an unordered maxRetransmits=0
//! channel (when Chromium offers), clean close (interop/scripts/pc_chromium.py,
//! standard-library Python). Chromium runs with plain host candidates: with
//! mDNS names ferrtc would query the mDNS group off loopback (that path is
//! tested against a loopback responder in crates/ferrtc/tests/mdns.rs).
//! A third test uses the `negotiated_echo` example of the ferrtc crate: a
//! channel negotiated out of band with id 7 on both sides.
//! Two more run the same echo with Chromium on an RSA 2048 certificate
//! (`generateCertificate` with RSASSA-PKCS1-v1_5, `--rsa`): the page checks
//! that it is the certificate in use (local SDP fingerprint and getStats()'s
//! DTLS certificate with an rsaEncryption key). When Chromium offers, ferrtc
//! is the DTLS client and verifies the ServerKeyExchange signed with RSA
//! (ECDHE_RSA suite); when ferrtc offers, Chromium is the client and signs
//! its CertificateVerify with RSA.

#[path = "pc_common/mod.rs"]
mod pc_common;
mod turn_server_common;

use std::time::Duration;

fn run(role: &str) {
    run_with(role, &[]);
}

/// The echo with Chromium on an RSA certificate; `dtls` is what must be in
/// Chromium's DTLS transport stats, so that the role (and with it which RSA
/// signature ferrtc verifies) does not change unnoticed.
fn run_rsa(role: &str, dtls: &[&str]) {
    let out = run_with(role, &["--rsa"]);
    if out.is_empty() {
        return;
    }
    assert!(out.contains("\"rsa_public_key\": true"), "{out}");
    for d in dtls {
        assert!(out.contains(d), "no {d} in {out}");
    }
}

fn run_with(role: &str, extra: &[&str]) -> String {
    if !ferrtc_interop::interop_enabled() {
        return String::new();
    }
    let bin = if role == "negotiated" {
        pc_common::ferrtc_example("negotiated_echo")
    } else {
        pc_common::ferrtc_bin()
    };
    let script = pc_common::script("pc_chromium.py");
    let mut args = vec![
        script.as_os_str(),
        "--ferrtc".as_ref(),
        bin.as_os_str(),
        "--role".as_ref(),
        role.as_ref(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out =
        pc_common::run_with_deadline(&ferrtc_interop::python(), &args, Duration::from_secs(420));
    println!("{out}");
    assert!(out.contains("\"ok\": true"), "{out}");
    assert!(out.contains("\"bulk_bytes\": 33554432"), "{out}");
    assert!(out.contains("\"closed\": \"closed\""), "{out}");
    out
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

#[test]
fn ferrtc_answers_a_chromium_offer_signed_with_an_rsa_certificate() {
    // ferrtc answers setup:active: Chromium is the DTLS server and signs its
    // ServerKeyExchange with RSA.
    run_rsa(
        "ferrtc-answers",
        &[
            "\"dtls_role\": \"server\"",
            "\"dtls_cipher\": \"TLS_ECDHE_RSA_WITH_",
        ],
    );
}

#[test]
fn ferrtc_offers_to_chromium_using_an_rsa_certificate() {
    // Chromium answers setup:active: it is the DTLS client, the suite follows
    // ferrtc's ECDSA certificate, and Chromium's CertificateVerify is RSA.
    run_rsa("ferrtc-offers", &["\"dtls_role\": \"client\""]);
}

/// Both sides relay-only through coturn: Chromium's `iceTransportPolicy:
/// "relay"` and `ferrtc peer --relay-only --ice-server turn:...`.
fn run_relayed(role: &str) {
    if !ferrtc_interop::interop_enabled() {
        return;
    }
    let turn = ferrtc_interop::Coturn::start_turn(&[
        "--lt-cred-mech",
        "--user",
        "alice:secret",
        "--realm",
        "ferrtc.test",
    ]);
    run_relayed_through(role, &format!("turn:{}", turn.addr));
}

/// Both sides relay-only through `url`, a TURN server that knows
/// alice:secret.
fn run_relayed_through(role: &str, url: &str) {
    let out = run_with(
        role,
        &[
            "--turn",
            url,
            "--turn-user",
            "alice",
            "--turn-pass",
            "secret",
        ],
    );
    assert!(out.contains("\"local_type\": \"relay\""), "{out}");
    assert!(out.contains("\"remote_type\": \"relay\""), "{out}");
}

#[test]
fn chromium_relay_only_reaches_a_relay_only_ferrtc_answerer_through_coturn() {
    run_relayed("ferrtc-answers");
}

#[test]
fn a_relay_only_ferrtc_offerer_reaches_relay_only_chromium_through_coturn() {
    run_relayed("ferrtc-offers");
}

/// The users file of [`ferrtc_turn`] for test `test`, alice:secret;
/// removed when dropped (one per test: tests run in parallel).
fn users_file(test: &str) -> ferrtc_interop::TempPath {
    ferrtc_interop::TempPath::file(
        format!("ferrtc-pc-chromium-users-{}-{test}", std::process::id()),
        "alice:secret\n",
    )
}

/// `ferrtc turn` on 127.0.0.1 with the users file `users`, relaying to
/// loopback.
fn ferrtc_turn(users: &std::path::Path) -> turn_server_common::FerrtcTurn {
    turn_server_common::ferrtc_turn(
        &pc_common::ferrtc_bin(),
        &["--users", users.to_str().unwrap(), "--allow-loopback"],
    )
}

#[test]
fn chromium_relay_only_reaches_a_relay_only_ferrtc_through_ferrtc_turn() {
    if !ferrtc_interop::interop_enabled() {
        return;
    }
    let users = users_file("udp");
    let turn = ferrtc_turn(&users);
    run_relayed_through("ferrtc-answers", &format!("turn:{}", turn.udp));
}

#[test]
fn relay_only_ferrtc_and_chromium_reach_each_other_through_ferrtc_turn_over_tcp() {
    if !ferrtc_interop::interop_enabled() {
        return;
    }
    let users = users_file("tcp");
    let turn = ferrtc_turn(&users);
    run_relayed_through("ferrtc-offers", &format!("turn:{}?transport=tcp", turn.tcp));
}
