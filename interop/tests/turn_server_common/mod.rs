#![allow(dead_code)] // each turn_server_* test uses a part of these helpers
//! Shared by the `turn_server_*` interop tests: `ferrtc turn`, coturn's
//! `turnutils_peer` echo peer and `turnutils_uclient` load client, and
//! reading a process's CPU time and memory from /proc.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A child process killed (and reaped) on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `ferrtc turn` and the addresses it printed.
pub struct FerrtcTurn {
    pub process: Killed,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    /// The TLS listener, with `--tls-listen`.
    pub tls: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
}

/// Starts `ferrtc turn` with `args` (plus `--listen 127.0.0.1:0`) and reads
/// its "listening on" lines.
pub fn ferrtc_turn(bin: &Path, args: &[&str]) -> FerrtcTurn {
    let mut child = Command::new(bin)
        .args(["turn", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ferrtc turn starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let want =
        2 + usize::from(args.contains(&"--metrics")) + usize::from(args.contains(&"--tls-listen"));
    let mut lines = Vec::new();
    for _ in 0..want {
        let mut line = String::new();
        out.read_line(&mut line).expect("a stdout line");
        lines.push(line.trim_end().to_owned());
    }
    let find = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|a| a.trim_end_matches("/metrics").parse().expect("an address"))
    };
    FerrtcTurn {
        udp: find("listening on udp ").expect("udp line"),
        tcp: find("listening on tcp ").expect("tcp line"),
        tls: find("listening on tls "),
        metrics: find("metrics on http://"),
        process: Killed(child),
    }
}

/// `turnutils_peer`, coturn's UDP echo peer, on 127.0.0.1:`port`.
pub fn echo_peer(port: u16) -> Killed {
    let child = Command::new("turnutils_peer")
        .args(["-L", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("FERRTC_INTEROP=1 but turnutils_peer (Debian coturn) could not start");
    std::thread::sleep(Duration::from_millis(200));
    Killed(child)
}

/// What one `turnutils_uclient` run reported.
#[derive(Debug, Default, Clone, Copy)]
pub struct Load {
    pub sent: u64,
    pub received: u64,
    pub lost: Option<u64>,
}

/// Runs `turnutils_uclient` with `args`, against 127.0.0.1 on `port`.
pub fn uclient(args: &[&str], port: u16) -> (Load, Output) {
    let out = Command::new("turnutils_uclient")
        .args(args)
        .arg("-p")
        .arg(port.to_string())
        .arg("127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .expect("FERRTC_INTEROP=1 but turnutils_uclient (Debian coturn) could not start");
    (parse_load(&String::from_utf8_lossy(&out.stdout)), out)
}

/// The totals of uclient's last report lines:
/// `start_mclient: tot_send_msgs=N, tot_recv_msgs=M` and
/// `Total lost packets L (...)`.
pub fn parse_load(text: &str) -> Load {
    let mut load = Load::default();
    for line in text.lines() {
        if let Some(rest) = line.split("start_mclient: tot_send_msgs=").nth(1) {
            let mut nums = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            load.sent = nums.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            load.received = nums.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        }
        if let Some(rest) = line.split("Total lost packets ").nth(1) {
            load.lost = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        }
    }
    load
}

/// GET `path` over HTTP/1.1 from `addr`.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics port");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// The value of a metric line `name value` in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A process's CPU time (user + system) from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 after ')'.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 1000 / clock_ticks())
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// A process's resident memory in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
