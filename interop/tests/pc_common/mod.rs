#![allow(dead_code)] // each pc_* test uses a part of these helpers
//! Shared by the `pc_*` interop tests: the `ferrtc` binary under test and
//! running a peer script with a deadline.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `ferrtc` binary: `FERRTC_BIN`, else the one beside this test's
/// target directory (built by `cargo test --workspace`), built on demand.
pub fn ferrtc_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRTC_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/ferrtc
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps layout")
        .to_path_buf();
    let bin = profile_dir.join("ferrtc");
    // Built (or found up to date) once per test binary: `cargo test` does
    // not build another package's binaries, and a stale one from an older
    // checkout would be tested in place of the code at hand.
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "ferrtc-cli", "--bin", "ferrtc"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the ferrtc binary failed");
    });
    assert!(bin.exists(), "no ferrtc binary at {}", bin.display());
    bin
}

/// The example `NAME` of the `ferrtc` crate (built by `cargo test
/// --workspace --all-targets`), built on demand.
pub fn ferrtc_example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps layout")
        .to_path_buf();
    let bin = profile_dir.join("examples").join(name);
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "ferrtc", "--example", name]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the {name} example failed");
    }
    assert!(bin.exists(), "no example at {}", bin.display());
    bin
}

/// The script `interop/scripts/NAME`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

/// Runs `program args`, stdout captured, stderr passed through; fails the
/// test on a non-zero exit or after `limit`. Returns stdout.
pub fn run_with_deadline(
    program: &std::path::Path,
    args: &[&std::ffi::OsStr],
    limit: Duration,
) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait().expect("wait on child") {
            Some(status) => {
                let mut out = String::new();
                if let Some(mut s) = child.stdout.take() {
                    use std::io::Read;
                    let _ = s.read_to_string(&mut out);
                }
                assert!(
                    status.success(),
                    "{} failed ({status}); stdout: {out}",
                    program.display()
                );
                return out;
            }
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not finish within {limit:?}", program.display());
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
