//! Helpers shared by the tests that run the `ferrtc` binary or shell
//! command lines.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

mod temp_path;
pub use temp_path::TempPath;

/// Kills a child started in a process group of its own (`process_group(0)`)
/// and every process in that group, then reaps the child.
///
/// The group is signalled by the shell's builtin `kill` (POSIX: a negative
/// pid names a process group), not `/usr/bin/kill`, which procps provides
/// and not every machine has.
pub fn kill_group(child: &mut Child) {
    let _ = Command::new("sh")
        .args(["-c", r#"kill -s KILL -- "-$1""#, "sh"])
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts the `ferrtc` binary with `args`, its standard streams piped,
/// killed when dropped: the child, its stdout, and a sender whose lines are
/// written to its stdin (an empty line closes stdin).
pub fn spawn_ferrtc<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
) -> (
    tokio::process::Child,
    tokio::process::ChildStdout,
    tokio::sync::mpsc::UnboundedSender<String>,
) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ferrtc binary runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if line.is_empty() {
                break;
            }
            if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });
    (child, stdout, tx)
}
