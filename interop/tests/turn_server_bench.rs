//! The relay rate of `ferrtc turn` against coturn 4.6 (Debian) in the same
//! run, both driven by coturn's own load client `turnutils_uclient` with
//! `turnutils_peer` echoing: datagrams relayed per second, per CPU second of
//! the server (utime + stime from /proc/PID/stat) and per core, and the
//! server's resident memory per allocation (peak RSS during the load minus
//! RSS before it, over the allocations).
//!
//! Not a timed test: `#[ignore]`d, it prints a table. Run it on an idle
//! machine with a release build:
//!
//! ```sh
//! cargo build --release -p ferrtc-cli
//! FERRTC_INTEROP=1 FERRTC_BIN=target/release/ferrtc \
//!   cargo test -p ferrtc-interop --test turn_server_bench -- --ignored --nocapture
//! ```
//!
//! (The test itself only starts processes: its own build profile does not
//! matter, the server binary's does.) `FERRTC_TURN_BENCH_CLIENTS` (uclient
//! processes, each its own user with 5 sessions of 2 allocations, the
//! default per-user quota; default 4) and `FERRTC_TURN_BENCH_MESSAGES` (per
//! session; default 5000) size the load. uclient paces itself (`-z 0` still
//! waits between packets), so datagrams per second are the client's; the
//! comparison is per CPU-second of the server.
#![allow(missing_docs)]

mod pc_common;
mod turn_server_common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrtc_interop::{free_udp_port, interop_enabled};
use turn_server_common::{Killed, Load, cpu_time, echo_peer, ferrtc_turn, parse_load, rss_kib};

/// Sessions per uclient process (`-m`): uclient opens two allocations per
/// session, so 10 per process, the default per-user quota of `ferrtc turn`.
const PER_CLIENT: usize = 5;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One server under load: what it did and what it cost.
struct Measured {
    relayed: u64,
    lost: u64,
    wall: Duration,
    cpu: Duration,
    rss_delta_kib: u64,
    allocations: usize,
}

/// Drives `clients` uclient processes at once against the server `pid` on
/// `port`, sampling its RSS.
fn load(pid: u32, port: u16, peer: u16, clients: usize, messages: usize) -> Measured {
    std::thread::sleep(Duration::from_millis(300));
    let rss0 = rss_kib(pid);
    let cpu0 = cpu_time(pid);
    let peak = Arc::new(AtomicU64::new(rss0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let start = Instant::now();
    let procs: Vec<_> = (0..clients)
        .map(|i| {
            Command::new("turnutils_uclient")
                .args([
                    "-s",
                    "-c",
                    "-u",
                    &format!("user{i}"),
                    "-w",
                    "pw",
                    "-e",
                    "127.0.0.1",
                ])
                .args(["-r", &peer.to_string(), "-m", &PER_CLIENT.to_string()])
                .args(["-n", &messages.to_string(), "-l", "100", "-z", "0"])
                .args(["-p", &port.to_string(), "127.0.0.1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("turnutils_uclient starts")
        })
        .collect();
    let mut total = Load::default();
    let mut lost = 0;
    for p in procs {
        let out = p.wait_with_output().expect("uclient ends");
        let l = parse_load(&String::from_utf8_lossy(&out.stdout));
        total.sent += l.sent;
        total.received += l.received;
        lost += l.lost.unwrap_or(l.sent);
    }
    let wall = start.elapsed();
    let cpu = cpu_time(pid).saturating_sub(cpu0);
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    Measured {
        relayed: total.sent + total.received,
        lost,
        wall,
        cpu,
        rss_delta_kib: peak.load(Ordering::Relaxed).saturating_sub(rss0),
        // uclient opens two allocations per session (-c: no RTCP pair).
        allocations: clients * PER_CLIENT * 2,
    }
}

fn users(clients: usize) -> Vec<String> {
    (0..clients).map(|i| format!("user{i}:pw")).collect()
}

/// coturn on 127.0.0.1:`port` with `clients` users, writing its pid to
/// `pidfile`.
fn coturn(port: u16, clients: usize, pidfile: &Path) -> Killed {
    let mut cmd = Command::new("turnserver");
    cmd.args([
        "-n",
        "--listening-ip",
        "127.0.0.1",
        "--listening-port",
        &port.to_string(),
    ])
    .args([
        "--relay-ip",
        "127.0.0.1",
        "--allow-loopback-peers",
        "--no-tcp",
        "--no-tls",
        "--no-dtls",
    ])
    .args([
        "--no-cli",
        "--lt-cred-mech",
        "--realm",
        "ferrtc.test",
        "--log-file",
        "/dev/null",
        "--simple-log",
    ])
    .arg("--pidfile")
    .arg(pidfile);
    for u in users(clients) {
        cmd.args(["--user", &u]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver starts");
    std::thread::sleep(Duration::from_millis(500));
    Killed(child)
}

fn row(name: &str, m: &Measured) -> String {
    let pps = m.relayed as f64 / m.wall.as_secs_f64();
    let per_cpu_s = m.relayed as f64 / m.cpu.as_secs_f64().max(1e-9);
    let us_per_pkt = m.cpu.as_secs_f64() * 1e6 / m.relayed.max(1) as f64;
    let kib_per_alloc = m.rss_delta_kib as f64 / m.allocations as f64;
    format!(
        "| {name} | {} | {} | {:.0} | {:.0} | {:.2} | {:.1} | {:.1} |",
        m.relayed,
        m.lost,
        pps,
        per_cpu_s,
        us_per_pkt,
        m.cpu.as_secs_f64(),
        kib_per_alloc
    )
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture on a release build"]
fn relay_rate_and_memory_per_allocation_against_coturn() {
    if !interop_enabled() {
        return;
    }
    let clients = env_or("FERRTC_TURN_BENCH_CLIENTS", 4);
    let messages = env_or("FERRTC_TURN_BENCH_MESSAGES", 5_000);
    let peer_port = free_udp_port();
    let _peer = echo_peer(peer_port);

    let coturn_port = free_udp_port();
    let pidfile = ferrtc_interop::TempPath::new(format!("ferrtc-bench-coturn-{coturn_port}.pid"));
    let c = coturn(coturn_port, clients, &pidfile);
    let coturn_load = load(c.0.id(), coturn_port, peer_port, clients, messages);
    drop(c);

    let users_path = ferrtc_interop::TempPath::file(
        format!("ferrtc-bench-users-{}", std::process::id()),
        users(clients).join("\n"),
    );
    let bin = pc_common::ferrtc_bin();
    let f = ferrtc_turn(
        &bin,
        &[
            "--users",
            users_path.to_str().unwrap(),
            "--allow-loopback",
            "--realm",
            "ferrtc.test",
        ],
    );
    let ferrtc_load = load(f.process.0.id(), f.udp.port(), peer_port, clients, messages);
    drop(f);

    println!(
        "\n{clients} uclient processes x {PER_CLIENT} sessions x {messages} messages of 100 bytes (-s -c -z 0), loopback\n"
    );
    println!(
        "| server | relayed datagrams | lost | datagrams/s | datagrams per CPU-second | CPU us/datagram | server CPU s | RSS KiB/allocation |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!("{}", row("coturn 4.6", &coturn_load));
    println!("{}", row("ferrtc turn", &ferrtc_load));
    assert!(ferrtc_load.relayed > 0 && coturn_load.relayed > 0);
}
