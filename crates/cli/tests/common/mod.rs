//! Helpers shared by the tests that run shell command lines.

use std::process::{Child, Command, Stdio};

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
