//! The two-FIFO command lines that README.md and `ferrtc peer --help`
//! document, run as written through `sh -c` with `ferrtc` on the PATH: both
//! processes start (no FIFO open waits forever) and the peers connect.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{TempPath, kill_group};

/// Generous: two processes handshake on a machine that may be busy.
const TIMEOUT: Duration = Duration::from_secs(60);

const README: &str = include_str!("../../../README.md");

/// The code span of README.md that starts with `start`.
fn readme_command(start: &str) -> &'static str {
    README
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|span| span.starts_with(start))
        .unwrap_or_else(|| panic!("README.md shows no command starting with {start:?}"))
}

/// A fresh empty directory under the system's temp dir, removed when
/// dropped.
fn temp_dir(name: &str) -> TempPath {
    TempPath::dir(format!("ferrtc-fifo-{}-{name}", std::process::id()))
}

/// `sh -c line` in `dir` with the built `ferrtc` first on the PATH, in a
/// process group of its own (so that all of it can be killed), its stderr
/// (the peers' logs) sent line by line to the receiver.
fn run_shell(line: &str, dir: &Path) -> (Child, mpsc::Receiver<String>) {
    let bin = Path::new(env!("CARGO_BIN_EXE_ferrtc"))
        .parent()
        .expect("binary directory");
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("FERRTC_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("sh runs");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Collects stderr lines until `done` holds for them; all the lines seen
/// and whether it held before the timeout.
fn wait_for(rx: &mpsc::Receiver<String>, done: impl Fn(&[String]) -> bool) -> (Vec<String>, bool) {
    let deadline = Instant::now() + TIMEOUT;
    let mut lines = Vec::new();
    while !done(&lines) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => return (lines, false),
        }
    }
    (lines, true)
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn the_documented_two_fifo_peer_pair_connects_and_opens_its_channel() {
    let line = readme_command("mkfifo a b; ferrtc peer");
    let dir = temp_dir("peer");
    let (mut child, rx) = run_shell(line, &dir);
    let (lines, connected) = wait_for(&rx, |l| {
        count(l, "connection state connected") >= 2 && count(l, "channel \"data\" open") >= 1
    });
    kill_group(&mut child);
    assert!(
        connected,
        "`{line}` did not connect both peers within {TIMEOUT:?}; stderr:\n{}",
        lines.join("\n")
    );
}

#[test]
fn peer_help_shows_the_same_two_fifo_line_as_the_readme() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(["peer", "--help"])
        .output()
        .expect("ferrtc runs");
    let help = String::from_utf8_lossy(&out.stdout);
    let line = readme_command("mkfifo a b; ferrtc peer");
    assert!(
        help.contains(line),
        "`ferrtc peer --help` lacks `{line}`:\n{help}"
    );
}

#[test]
fn the_documented_two_fifo_file_transfer_delivers_the_file() {
    let line = readme_command("mkfifo a b; mkdir received; ferrtc send");
    let dir = temp_dir("file");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("notes.txt"), &content).expect("write the file to send");
    let (mut child, rx) = run_shell(line, &dir);
    let (lines, done) = wait_for(&rx, |l| {
        count(l, "file: received ") >= 1 && count(l, "file: sent ") >= 1
    });
    // The shell exits once the receiver (in the foreground) has.
    let deadline = Instant::now() + TIMEOUT;
    let mut status = None;
    while status.is_none() && Instant::now() < deadline {
        status = child.try_wait().expect("wait for sh");
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = std::fs::read(dir.join("received").join("notes.txt"));
    kill_group(&mut child);
    assert!(
        done,
        "`{line}` did not finish within {TIMEOUT:?}; stderr:\n{}",
        lines.join("\n")
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "`{line}` exited with {status:?}"
    );
    assert!(got.is_ok_and(|g| g == content), "the received file differs");
}
