//! ICE-TCP (RFC 6544) with headless Chromium when UDP is blocked: Chromium
//! and `ferrtc peer` run in a network namespace of their own whose
//! nftables drop every UDP packet, so the only way to connect is a TCP
//! connection from Chromium's active TCP candidate to ferrtc's passive one
//! (ferrtc's listener). The usual echo page then runs over it (mixed
//! messages and bulk data), and the selected pair is TCP on both sides.
//!
//! ```text
//!  ns "ferrtc-tcp-<pid>-<n>": lo + veth tcp0 10.203.0.1/24 (default route;
//!  its other end tcp1 is up in the same namespace: this kernel has no
//!  dummy interfaces)
//!    Chromium  <-- TCP only -->  ferrtc peer --echo
//!    nft: every UDP packet dropped on input (counted)
//! ```
//!
//! Runs only with FERRTC_INTEROP=1 (then Chromium, `ip`, `nft` and root
//! are required). The namespace is removed at the end, and stale ones (of
//! a process that is gone) at the start.
#![allow(missing_docs)]

mod pc_common;

use std::process::Command;
use std::time::Duration;

const PREFIX: &str = "ferrtc-tcp-";

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("FERRTC_INTEROP=1 but `{program}` cannot run: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespace; removed on drop.
struct Namespace(String);

impl Namespace {
    fn new(tag: &str) -> Namespace {
        for line in run("ip", &["netns", "list"], None).lines() {
            let Some(name) = line.split_whitespace().next() else {
                continue;
            };
            if let Some(rest) = name.strip_prefix(PREFIX)
                && let Some(pid) = rest.split('-').next()
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = Command::new("ip").args(["netns", "del", name]).status();
            }
        }
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name], None);
        let ns = Namespace(name);
        for args in [
            &["link", "set", "lo", "up"][..],
            &[
                "link", "add", "tcp0", "type", "veth", "peer", "name", "tcp1",
            ],
            &["addr", "add", "10.203.0.1/24", "dev", "tcp0"],
            &["link", "set", "tcp1", "up"],
            &["link", "set", "tcp0", "up"],
            &["route", "add", "default", "dev", "tcp0"],
        ] {
            let mut full = vec!["-n", ns.0.as_str()];
            full.extend_from_slice(args);
            run("ip", &full, None);
        }
        run(
            "ip",
            &["netns", "exec", &ns.0, "nft", "-f", "-"],
            Some(
                "table inet ferrtc_tcp {\n\
                   counter udp_dropped {}\n\
                   chain input { type filter hook input priority 0; meta l4proto udp counter name udp_dropped drop; }\n\
                 }\n",
            ),
        );
        ns
    }

    /// UDP packets the rule dropped.
    fn udp_dropped(&self) -> u64 {
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.0,
                "nft",
                "list",
                "counter",
                "inet",
                "ferrtc_tcp",
                "udp_dropped",
            ],
            None,
        );
        out.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run_in_namespace(role: &str, tag: &str) {
    if !ferrtc_interop::interop_enabled() {
        return;
    }
    let ns = Namespace::new(tag);
    let bin = pc_common::ferrtc_bin();
    let script = pc_common::script("pc_chromium.py");
    let python = ferrtc_interop::python();
    let args: Vec<&std::ffi::OsStr> = vec![
        "netns".as_ref(),
        "exec".as_ref(),
        ns.0.as_ref(),
        python.as_os_str(),
        script.as_os_str(),
        "--ferrtc".as_ref(),
        bin.as_os_str(),
        "--role".as_ref(),
        role.as_ref(),
        "--bulk-mib".as_ref(),
        "8".as_ref(),
    ];
    let out = pc_common::run_with_deadline("ip".as_ref(), &args, Duration::from_secs(420));
    println!("{out}");
    assert!(out.contains("\"ok\": true"), "{out}");
    assert!(out.contains("\"bulk_bytes\": 8388608"), "{out}");
    assert!(out.contains("\"local_protocol\": \"tcp\""), "{out}");
    // Chromium's active candidate connected to ferrtc's listener.
    assert!(out.contains("\"local_tcp_type\": \"active\""), "{out}");
    // UDP was tried (checks, at least) and every datagram dropped.
    assert!(ns.udp_dropped() > 0, "no UDP was even tried");
}

#[test]
fn chromium_with_udp_blocked_reaches_an_answering_ferrtc_over_ice_tcp() {
    run_in_namespace("ferrtc-answers", "a");
}

#[test]
fn an_offering_ferrtc_reaches_chromium_with_udp_blocked_over_ice_tcp() {
    run_in_namespace("ferrtc-offers", "o");
}
