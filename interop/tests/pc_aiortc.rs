//! `ferrtc peer --echo` against aiortc, both roles: mixed text and binary
//! messages of 1 byte to 64 KiB, 32 MiB of 16 KiB messages with
//! back-pressure, clean close (interop/scripts/pc_aiortc.py).
//!
//! aiortc 1.16 needs aioice >= 0.12 while the ICE tests pin aioice 0.10.1,
//! so aiortc lives in its own venv: `FERRTC_AIORTC_PYTHON`, else
//! `../.venv-aiortc/bin/python` (interop/requirements-aiortc.txt).

#[path = "pc_common/mod.rs"]
mod pc_common;

use std::path::PathBuf;
use std::time::Duration;

fn aiortc_python() -> PathBuf {
    match std::env::var_os("FERRTC_AIORTC_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-aiortc/bin/python"),
    }
}

fn run(role: &str) {
    if !ferrtc_interop::interop_enabled() {
        return;
    }
    let python = aiortc_python();
    assert!(
        python.exists(),
        "aiortc's Python is missing at {}",
        python.display()
    );
    let bin = pc_common::ferrtc_bin();
    let script = pc_common::script("pc_aiortc.py");
    let out = pc_common::run_with_deadline(
        &python,
        &[
            script.as_os_str(),
            "--ferrtc".as_ref(),
            bin.as_os_str(),
            "--role".as_ref(),
            role.as_ref(),
        ],
        Duration::from_secs(600),
    );
    println!("{out}");
    assert!(out.contains("\"bulk_bytes\": 33554432"), "{out}");
}

#[test]
fn ferrtc_answers_an_aiortc_offer_and_echoes_everything() {
    run("ferrtc-answers");
}

#[test]
fn ferrtc_offers_to_aiortc_and_echoes_everything() {
    run("ferrtc-offers");
}
