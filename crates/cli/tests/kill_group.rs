//! The cleanup of the shell tests (`common::kill_group`) ends every process
//! of the group with nothing on the PATH but `sh`: no procps `kill`.
#![cfg(target_os = "linux")]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::kill_group;

/// The processes of group `pgid` that are still running (not zombies).
fn live_members(pgid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid pgrp ...: comm may hold spaces.
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
        })
        .count()
}

/// Set in the copy of this test that runs with `sh` alone on the PATH.
const INNER: &str = "FERRTC_KILL_GROUP_INNER";

#[test]
fn kill_group_ends_every_process_of_the_group_without_procps_kill() {
    if std::env::var_os(INNER).is_some() {
        return kill_a_group_of_three();
    }
    // A PATH with `sh` alone: what a machine without procps offers. The
    // test runs again in a process of its own with that PATH.
    let dir = common::TempPath::dir(format!("ferrtc-kill-group-{}", std::process::id()));
    std::os::unix::fs::symlink("/bin/sh", dir.join("sh")).expect("sh link");
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "kill_group_ends_every_process_of_the_group_without_procps_kill",
            "--nocapture",
        ])
        .env(INNER, "1")
        .env("PATH", Path::new(&dir))
        .output()
        .expect("test binary runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn kill_a_group_of_three() {
    let mut child = Command::new("/bin/sh")
        .args(["-c", "/bin/sleep 60 & /bin/sleep 60 & wait"])
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("sh runs");
    let pgid = child.id();
    let started = Instant::now();
    while live_members(pgid) < 3 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(live_members(pgid), 3, "the shell and its two sleeps");
    kill_group(&mut child);
    let killed = Instant::now();
    while live_members(pgid) > 0 && killed.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = live_members(pgid);
    if left > 0 {
        // Do not leave them behind whatever the outcome.
        let _ = Command::new("/bin/sh")
            .args(["-c", r#"kill -s KILL -- "-$1""#, "sh"])
            .arg(pgid.to_string())
            .status();
    }
    assert_eq!(left, 0, "processes of the group survived");
}
