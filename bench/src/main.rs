//! `ferrtc-compare`: runs the workloads of issue 8 on ferrtc, str0m,
//! webrtc-rs and rustrtc, plus the machine's raw floor, each in a child
//! process of its own, and prints one markdown table. `rtp` measures the
//! media path instead (see [`rtp`]).
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml -- [--quick] [--full] [--stacks a,b] [--out FILE.md]
//! cargo run --release --manifest-path bench/Cargo.toml -- rtp [--frames N] [--frame-size B] [--stacks a,b] [--out FILE.md]
//! ```

mod floor;
mod forward;
mod proc;
mod rtp;
mod stacks;
mod workload;

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::workload::{Sample, Workload};

/// A child that runs longer than this is killed and reported as an error
/// (a forwarding child: its workload's own limit, [`child_timeout`]).
const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the child running `w` may take.
fn child_timeout(w: Workload) -> Duration {
    match w {
        Workload::Forward { secs, .. } => forward::child_limit(secs),
        _ => CHILD_TIMEOUT,
    }
}
/// Floor runs stop after this long even if the byte count is not reached.
const FLOOR_LIMIT: Duration = Duration::from_secs(2);
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// Stack names of the floor runs (run like a stack, in a child).
const FLOOR_UDP: &str = "floor-udp";
const FLOOR_AES: &str = "floor-aes";

/// The version of crate `name` in this bench's Cargo.lock.
pub fn crate_version(name: &str) -> String {
    // The newest, when two versions are locked (webrtc 0.17 and 0.21):
    // that is the one an unrenamed dependency resolves to.
    let lock = include_str!("../Cargo.lock");
    let needle = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    let mut best: Option<(Vec<u64>, String)> = None;
    while let Some(line) = lines.next() {
        if line == needle
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = "))
        {
            let v = v.trim_matches('"').to_string();
            let key: Vec<u64> = v.split('.').map(|p| p.parse().unwrap_or(0)).collect();
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, v));
            }
        }
    }
    best.map_or_else(|| "?".into(), |(_, v)| v)
}

/// Workload 1 figures from bytes moved, wall-clock and CPU seconds.
pub fn throughput_sample(bytes: u64, secs: f64, cpu_s: f64) -> Sample {
    let secs = secs.max(1e-9);
    Sample {
        secs,
        cpu_s,
        mib_per_s: Some(bytes as f64 / MIB / secs),
        cpu_s_per_gib: Some(cpu_s / (bytes as f64 / GIB)),
        ..Default::default()
    }
}

/// Workload 3 figures: `pairs` pairs open after `secs`; memory per peer
/// connection from the peak RSS over `rss_before_mib`.
pub fn connections_sample(pairs: usize, secs: f64, cpu_s: f64, rss_before_mib: f64) -> Sample {
    let grown_kib = (proc::peak_rss_mib() - rss_before_mib).max(0.0) * 1024.0;
    Sample {
        secs,
        cpu_s,
        pairs_open: Some(pairs),
        establish_ms: Some(secs * 1000.0),
        rss_per_connection_kib: Some(grown_kib / (2 * pairs.max(1)) as f64),
        ..Default::default()
    }
}

/// Raises the soft open-files limit to the hard limit (many sockets).
fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the rlimit struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The hard limit on open files (`RLIMIT_NOFILE`), or `u64::MAX` if unknown.
pub fn nofile_hard_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_max
    } else {
        u64::MAX
    }
}

/// Command-line options of the runner.
#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    full: bool,
    stacks: Vec<String>,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: ferrtc-compare [--quick] [--full] [--stacks a,b] [--out FILE.md]\n       \
         ferrtc-compare rtp [--frames N] [--frame-size BYTES] [--stacks ferrtc,str0m] [--out FILE.md]\n       \
         ferrtc-compare forward [--quick] [--receivers 10,50,200] [--secs S] [--stacks a,b] [--out FILE.md]\n       \
         ferrtc-compare one --stack S --workload-json JSON\nstacks: {}",
        stacks::STACKS.join(", ")
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("one") => return child(&args[1..]),
        Some("rtp") => return rtp::command(&args[1..]),
        Some("forward") => return forward::command(&args[1..]),
        _ => {}
    }
    let mut opts = Options {
        quick: false,
        full: false,
        stacks: stacks::STACKS.iter().map(|s| s.to_string()).collect(),
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md"),
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--full" => opts.full = true,
            "--stacks" => {
                let list = it.next().unwrap_or_else(|| usage());
                opts.stacks = list.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = opts
                    .stacks
                    .iter()
                    .find(|s| !stacks::STACKS.contains(&s.as_str()))
                {
                    eprintln!("unknown stack {bad:?}");
                    usage();
                }
            }
            "--out" => opts.out = it.next().unwrap_or_else(|| usage()).into(),
            _ => usage(),
        }
    }
    if let Err(e) = runner(&opts) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// `one --stack S --workload-json J`: runs one workload, prints the sample.
fn child(args: &[String]) {
    let mut stack = None;
    let mut json = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--stack" => stack = it.next(),
            "--workload-json" => json = it.next(),
            _ => usage(),
        }
    }
    let (Some(stack), Some(json)) = (stack, json) else {
        usage()
    };
    let w: Workload = match serde_json::from_str(json) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("bad workload json: {e}");
            std::process::exit(2)
        }
    };
    raise_nofile_limit();
    // Two rustls crypto features are on (ferrtc's aws-lc-rs, webrtc-rs's
    // ring): rustls picks no process default itself, webrtc-rs needs one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sample = match stack.as_str() {
        FLOOR_UDP | FLOOR_AES => {
            let bytes = match w {
                Workload::Throughput { bytes, .. } => bytes,
                _ => 256 << 20,
            };
            let r = if stack == FLOOR_UDP {
                floor::udp(bytes, FLOOR_LIMIT)
            } else {
                floor::aes_gcm(bytes, FLOOR_LIMIT)
            };
            r.unwrap_or_else(|e| Sample {
                stack: stack.clone(),
                error: Some(e),
                ..Default::default()
            })
        }
        s => stacks::run(s, w),
    };
    match serde_json::to_string(&sample) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("cannot encode sample: {e}");
            std::process::exit(1)
        }
    }
}

/// One finished run: what was asked, what came back.
#[derive(Debug, Clone, Serialize)]
struct Run {
    stack: String,
    workload: Workload,
    sample: Sample,
}

/// Runs `stack`/`w` in a child process of this executable, with a timeout.
fn run_child(stack: &str, w: Workload) -> Sample {
    let failed = |e: String| Sample {
        stack: stack.to_string(),
        error: Some(e),
        ..Default::default()
    };
    let json = match serde_json::to_string(&w) {
        Ok(j) => j,
        Err(e) => return failed(e.to_string()),
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return failed(e.to_string()),
    };
    let t0 = Instant::now();
    eprintln!("== {stack}: {json}");
    let mut child = match Command::new(exe)
        .args(["one", "--stack", stack, "--workload-json", &json])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return failed(format!("spawn: {e}")),
    };
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if t0.elapsed() > child_timeout(w) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return failed(format!("wait: {e}")),
        }
    };
    let out = reader.join().unwrap_or_default();
    let Some(status) = status else {
        return failed(format!("killed after {} s", child_timeout(w).as_secs()));
    };
    let parsed = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Sample>(l.trim()).ok());
    match parsed {
        Some(mut s) => {
            if s.stack.is_empty() {
                s.stack = stack.to_string();
            }
            eprintln!(
                "   {:.1} s{}",
                t0.elapsed().as_secs_f64(),
                s.error
                    .as_deref()
                    .map(|e| format!(", error: {e}"))
                    .unwrap_or_default()
            );
            s
        }
        None => failed(format!("child exited with {status} and no sample")),
    }
}

/// Runs of each rate workload (throughput, small messages) per stack.
const RATE_RUNS: usize = 3;

/// Runs `w` on `stack` `n` times, each in its own child, and keeps the run
/// of median duration (the first failure, if any run fails).
fn median_run(stack: &str, w: Workload, n: usize) -> Sample {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let s = run_child(stack, w);
        if s.error.is_some() {
            return s;
        }
        samples.push(s);
    }
    samples.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    samples.swap_remove(n / 2)
}

/// The workloads of one run, by mode.
struct Plan {
    throughput: Workload,
    setup: Workload,
    small: Workload,
    connections: Vec<usize>,
}

impl Plan {
    fn new(opts: &Options) -> Plan {
        let (mib, rounds, count) = if opts.quick {
            (64, 10, 50_000)
        } else {
            (256, 50, 200_000)
        };
        let mut connections = vec![100];
        if !opts.quick {
            connections.push(1000);
        }
        if opts.full {
            connections.extend([1000, 10_000]);
            connections.dedup();
        }
        Plan {
            throughput: Workload::Throughput {
                bytes: mib << 20,
                message_size: 16 * 1024,
            },
            setup: Workload::Setup { rounds },
            small: Workload::SmallMessages {
                count,
                message_size: 100,
            },
            connections,
        }
    }
}

fn runner(opts: &Options) -> Result<(), String> {
    let plan = Plan::new(opts);
    let started = Instant::now();
    let mut runs = Vec::new();
    for floor in [FLOOR_UDP, FLOOR_AES] {
        runs.push(Run {
            stack: floor.into(),
            workload: plan.throughput,
            sample: run_child(floor, plan.throughput),
        });
    }
    for stack in &opts.stacks {
        for w in [plan.throughput, plan.setup, plan.small] {
            // The setup workload is a median of its own; the rates are the
            // median of separate processes: one run can land on a lucky or
            // unlucky schedule.
            let sample = match w {
                Workload::Setup { .. } => run_child(stack, w),
                _ => median_run(stack, w, RATE_RUNS),
            };
            runs.push(Run {
                stack: stack.clone(),
                workload: w,
                sample,
            });
        }
        for &pairs in &plan.connections {
            let w = Workload::Connections { pairs };
            let sample = run_child(stack, w);
            let failed = sample.error.is_some();
            runs.push(Run {
                stack: stack.clone(),
                workload: w,
                sample,
            });
            if failed {
                break;
            }
        }
    }
    let table = render(opts, &plan, &runs, started.elapsed());
    println!("{table}");
    std::fs::write(&opts.out, &table).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let json_path = opts.out.with_extension("json");
    let json = serde_json::to_string_pretty(&runs).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, json).map_err(|e| format!("{}: {e}", json_path.display()))?;
    eprintln!("wrote {} and {}", opts.out.display(), json_path.display());
    Ok(())
}

// ---- the report ----

fn shell(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|x| x.1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({model}), {mem_gib:.1} GiB memory")
}

/// One figure of the table: column title, and how to read it from a run.
struct Column {
    title: String,
    /// Whether a higher value is better (for the ratio rows).
    higher_is_better: bool,
    workload: Workload,
    pick: fn(&Sample) -> Option<f64>,
}

#[derive(Debug, Clone)]
enum Cell {
    Value(f64),
    Error,
    Missing,
}

fn find<'a>(runs: &'a [Run], stack: &str, w: Workload) -> Option<&'a Sample> {
    runs.iter()
        .find(|r| r.stack == stack && r.workload == w)
        .map(|r| &r.sample)
}

impl Column {
    fn cell(&self, runs: &[Run], stack: &str) -> Cell {
        match find(runs, stack, self.workload) {
            None => Cell::Missing,
            Some(s) if s.error.is_some() => Cell::Error,
            Some(s) => (self.pick)(s).map_or(Cell::Missing, Cell::Value),
        }
    }
}

fn column(
    title: impl Into<String>,
    higher_is_better: bool,
    workload: Workload,
    pick: fn(&Sample) -> Option<f64>,
) -> Column {
    Column {
        title: title.into(),
        higher_is_better,
        workload,
        pick,
    }
}

fn fmt_value(v: f64) -> String {
    if v >= 1000.0 {
        // Thousands separators keep big counts readable.
        let s = format!("{v:.0}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn render(opts: &Options, plan: &Plan, runs: &[Run], took: Duration) -> String {
    let mut out = String::new();
    let mode = if opts.quick {
        "--quick"
    } else if opts.full {
        "--full"
    } else {
        "default"
    };
    let _ = writeln!(out, "# ferrtc side-by-side benchmark ({mode} run)\n");
    let _ = writeln!(
        out,
        "- Date: {}",
        shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(
        out,
        "- Kernel: {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let _ = writeln!(out, "- Compiler: {}", shell("rustc", &["--version"]));
    let _ = writeln!(
        out,
        "- Load average (1/5/15 min) at the end: {} (other work on the machine makes figures noisy)",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let versions: Vec<String> = opts
        .stacks
        .iter()
        .map(|s| {
            let version = match s.as_str() {
                "webrtc-rs 0.17" => return format!("webrtc-rs {}", stacks::webrtc_rs17::VERSION),
                "webrtc-rs" => crate_version("webrtc"),
                other => crate_version(other),
            };
            format!("{s} {version}")
        })
        .collect();
    let _ = writeln!(out, "- Versions: {}", versions.join(", "));
    let _ = writeln!(
        out,
        "- Command: `cargo run --release --manifest-path bench/Cargo.toml --{}` ({:.0} s)\n",
        if opts.quick {
            " --quick".to_string()
        } else if opts.full {
            " --full".to_string()
        } else {
            String::new()
        },
        took.as_secs_f64()
    );
    let (bytes, msg) = match plan.throughput {
        Workload::Throughput {
            bytes,
            message_size,
        } => (bytes, message_size),
        _ => (0, 0),
    };
    let rounds = match plan.setup {
        Workload::Setup { rounds } => rounds,
        _ => 0,
    };
    let small = match plan.small {
        Workload::SmallMessages { count, .. } => count,
        _ => 0,
    };
    let _ = writeln!(
        out,
        "Workloads: (1) {} MiB in {} KiB messages on one reliable ordered channel, \
         back-pressure at 1 MiB; (2) median of {rounds} offer-to-open setups; \
         (3) N pairs (2N peer connections) each with an open channel, 64 pairs opened at a time; \
         (4) {small} messages of 100 bytes. All over real UDP on loopback, each run in its own process; \
         (1) and (4) are the median of {RATE_RUNS} runs.\n",
        bytes >> 20,
        msg / 1024
    );

    let mut columns = vec![
        column("Throughput MiB/s ↑", true, plan.throughput, |s| {
            s.mib_per_s
        }),
        column("CPU-s per GiB ↓", false, plan.throughput, |s| {
            s.cpu_s_per_gib
        }),
        column("Setup median ms ↓", false, plan.setup, |s| {
            s.setup_median_ms
        }),
        column("Small msgs/s ↑", true, plan.small, |s| s.messages_per_s),
    ];
    for &n in &plan.connections {
        let w = Workload::Connections { pairs: n };
        columns.push(column(format!("N={n}: establish ms ↓"), false, w, |s| {
            s.establish_ms
        }));
        columns.push(column(format!("N={n}: KiB/conn ↓"), false, w, |s| {
            s.rss_per_connection_kib
        }));
    }
    columns.push(column(
        "Peak RSS MiB (1) ↓",
        false,
        plan.throughput,
        |s| Some(s.peak_rss_mib),
    ));

    let _ = write!(out, "| Stack |");
    for c in &columns {
        let _ = write!(out, " {} |", c.title);
    }
    let _ = write!(out, "\n|---|");
    for _ in &columns {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    for stack in &opts.stacks {
        let _ = write!(out, "| {stack} |");
        for c in &columns {
            let cell = match c.cell(runs, stack) {
                Cell::Value(v) => fmt_value(v),
                Cell::Error => "error".into(),
                Cell::Missing => "–".into(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    // Ratios: ferrtc's figure over the other stack's.
    if opts.stacks.iter().any(|s| s == "ferrtc") {
        for other in opts.stacks.iter().filter(|s| *s != "ferrtc") {
            let _ = write!(out, "| **ferrtc / {other}** |");
            for c in &columns {
                let cell = match (c.cell(runs, "ferrtc"), c.cell(runs, other)) {
                    (Cell::Value(a), Cell::Value(b)) if b > 0.0 => {
                        let r = a / b;
                        let text = if r < 0.1 {
                            format!("{r:.3}x")
                        } else {
                            format!("{r:.2}x")
                        };
                        // Bold where ferrtc is ahead.
                        if (r > 1.0) == c.higher_is_better && r != 1.0 {
                            format!("**{text}**")
                        } else {
                            text
                        }
                    }
                    _ => "–".into(),
                };
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "\nRatio rows divide ferrtc's figure by the other stack's: above 1x is better \
             for ↑ columns, below 1x is better for ↓ columns; bold where ferrtc is ahead."
        );
    }

    // The raw floor, and each stack's throughput against it.
    let _ = writeln!(
        out,
        "\n| Raw floor | MiB/s | CPU-s per GiB |\n|---|---:|---:|"
    );
    let mut udp_floor = None;
    for floor in [FLOOR_UDP, FLOOR_AES] {
        if let Some(s) = find(runs, floor, plan.throughput) {
            let name = if s.stack.is_empty() { floor } else { &s.stack };
            match &s.error {
                Some(e) => {
                    let _ = writeln!(out, "| {name} | error: {e} | |");
                }
                None => {
                    if floor == FLOOR_UDP {
                        udp_floor = s.mib_per_s;
                    }
                    let _ = writeln!(
                        out,
                        "| {name} | {} | {} |",
                        s.mib_per_s.map_or("–".into(), fmt_value),
                        s.cpu_s_per_gib.map_or("–".into(), fmt_value)
                    );
                }
            }
        }
    }
    if let Some(floor) = udp_floor.filter(|f| *f > 0.0) {
        let _ = writeln!(out, "\nThroughput as a share of the UDP floor:");
        for stack in &opts.stacks {
            if let Some(v) = find(runs, stack, plan.throughput).and_then(|s| s.mib_per_s) {
                let _ = writeln!(out, "- {stack}: {:.1}%", 100.0 * v / floor);
            }
        }
    }

    let errors: Vec<&Run> = runs.iter().filter(|r| r.sample.error.is_some()).collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors:");
        for r in errors {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                r.stack,
                serde_json::to_string(&r.workload).unwrap_or_default(),
                r.sample.error.as_deref().unwrap_or("")
            );
        }
    }
    out
}
