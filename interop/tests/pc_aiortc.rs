//! `ferrtc peer --echo` against aiortc, both roles: mixed text and binary
//! messages of 1 byte to 64 KiB, 32 MiB of 16 KiB messages with
//! back-pressure, clean close (interop/scripts/pc_aiortc.py).
//!
//! aiortc 1.16 needs aioice >= 0.12 while the ICE tests pin aioice 0.10.1,
//! so aiortc lives in its own venv: `FERRTC_AIORTC_PYTHON`, else
//! `../.venv-aiortc/bin/python` (interop/requirements-aiortc.txt).

#[path = "pc_common/mod.rs"]
mod pc_common;
#[path = "turn_server_common/mod.rs"]
mod turn_server_common;

use std::path::PathBuf;
use std::time::Duration;

fn aiortc_python() -> PathBuf {
    match std::env::var_os("FERRTC_AIORTC_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-aiortc/bin/python"),
    }
}

fn run(role: &str) {
    run_with(role, &[]);
}

fn run_with(role: &str, extra: &[&str]) -> String {
    if !ferrtc_interop::interop_enabled() {
        return String::new();
    }
    let python = aiortc_python();
    assert!(
        python.exists(),
        "aiortc's Python is missing at {}",
        python.display()
    );
    let bin = pc_common::ferrtc_bin();
    let script = pc_common::script("pc_aiortc.py");
    let mut args = vec![
        script.as_os_str(),
        "--ferrtc".as_ref(),
        bin.as_os_str(),
        "--role".as_ref(),
        role.as_ref(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out = pc_common::run_with_deadline(&python, &args, Duration::from_secs(600));
    println!("{out}");
    assert!(out.contains("\"bulk_bytes\": 33554432"), "{out}");
    out
}

#[test]
fn a_relay_only_ferrtc_and_aiortc_connect_through_ferrtc_turn() {
    if !ferrtc_interop::interop_enabled() {
        return;
    }
    let users = ferrtc_interop::TempPath::file(
        format!("ferrtc-pc-aiortc-users-{}", std::process::id()),
        "alice:secret\n",
    );
    let turn = turn_server_common::ferrtc_turn(
        &pc_common::ferrtc_bin(),
        &[
            "--users",
            users.to_str().unwrap(),
            "--allow-loopback",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let url = format!("turn:{}", turn.udp);
    run_with(
        "ferrtc-answers",
        &[
            "--turn",
            &url,
            "--turn-user",
            "alice",
            "--turn-pass",
            "secret",
        ],
    );
    // The 32 MiB went through the relay.
    let metrics = turn_server_common::http_get(turn.metrics.unwrap(), "/metrics");
    let relayed = metrics
        .lines()
        .find(|l| l.starts_with("ferrtc_turn_relayed_bytes_total{direction=\"to_peer\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(relayed > 32 << 20, "{metrics}");
}

#[test]
fn ferrtc_answers_an_aiortc_offer_and_echoes_everything() {
    run("ferrtc-answers");
}

#[test]
fn ferrtc_offers_to_aiortc_and_echoes_everything() {
    run("ferrtc-offers");
}
