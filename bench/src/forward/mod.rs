//! Media forwarding, `ferrtc-compare forward`: one sender peer sends a
//! video and an audio stream to a forwarding peer (the SFU side), which
//! sends every frame of both on to N receiver peers; all in one process
//! over real UDP on 127.0.0.1, in real time for a fixed time once every
//! connection is up.
//!
//! The stream (the same bytes on every stack, [`Schedule`]):
//! - video: VP8-like frames at [`VIDEO_FPS`] fps making [`VIDEO_BITRATE`]
//!   bit/s, a keyframe ([`KEY_WEIGHT`] times a delta frame) every [`GOP`]
//!   frames (2 s): 9,765-byte delta frames and 48,825-byte keyframes, which
//!   each stack's VP8 payloader cuts into RTP payloads of about 1,200 bytes;
//! - audio: [`AUDIO_BYTES`]-byte Opus-like frames every 20 ms (50 packets/s).
//!
//! Figures ([`Outcome`]), counted the same way on every stack ([`Tally`]):
//! the distinct media packets the receivers got (after SRTP, each sequence
//! number once) and the bytes and frames of the whole frames they got
//! (each frame number once), per second and per CPU-second of the whole
//! process, CPU-ms per receiver per second, resident memory added per
//! receiver, frames lost at receivers. Every stack stops its sender and
//! forwarder, takes its counts and reads the CPU time at one moment, the
//! drain's end: packets and CPU cover the same interval.

mod ferrtc;
mod ferrtc_core;
mod readiness;
mod str0m;
mod webrtc_rs;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::workload::{Sample, Workload};

/// Video frames per second.
pub const VIDEO_FPS: u32 = 30;
/// Video bit rate, bit/s.
pub const VIDEO_BITRATE: u64 = 2_500_000;
/// Frames from one keyframe to the next (2 s at 30 fps).
pub const GOP: u64 = 60;
/// A keyframe is this many times the size of a delta frame.
pub const KEY_WEIGHT: u64 = 5;
/// Audio frame interval (Opus, 20 ms).
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// Bytes per audio frame.
pub const AUDIO_BYTES: usize = 120;
/// After the stream ends, the receivers get this long to drain.
pub const DRAIN: Duration = Duration::from_millis(500);
/// Every connection must be up within this.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(120);
/// Counting, closing and reporting after the drain get this long.
pub const TEARDOWN_LIMIT: Duration = Duration::from_secs(60);

/// The longest a forwarding child may run: the connections, the stream,
/// the drain and the teardown, plus a margin for a loaded machine.
pub fn child_limit(secs: u64) -> Duration {
    CONNECT_LIMIT
        + Duration::from_secs(secs.max(1))
        + DRAIN
        + TEARDOWN_LIMIT
        + Duration::from_secs(60)
}
/// Default stream length, seconds.
pub const DEFAULT_SECS: u64 = 10;

/// Runs per (stack, N) by default; the table shows the median one.
pub const DEFAULT_RUNS: usize = 3;
/// The ratio rows leave out a stack that lost more than this share of
/// the frames (percent): it did not keep up with the stream.
pub const MAX_LOSS_PERCENT: f64 = 5.0;
/// Stacks that run the forwarding workload.
pub const STACKS: &[&str] = &["ferrtc", FERRTC_CORE, "str0m", "webrtc-rs 0.17"];
/// ferrtc's sans-IO core driven on one thread as the str0m run drives
/// str0m ([`ferrtc_core`]).
pub const FERRTC_CORE: &str = "ferrtc-core";
/// ferrtc's rows: each has a ratio row against the best of the others.
pub const OURS: &[&str] = &["ferrtc", FERRTC_CORE];

/// Whether `stack` is one of ferrtc's rows.
fn is_ours(stack: &str) -> bool {
    OURS.contains(&stack)
}
/// Not a stack: a process that only keeps the stream's time, waking at
/// every frame's time on a tokio current-thread runtime as each stack's
/// sender does, and doing nothing else ([`wake_floor`]). Its CPU is what
/// every stack pays on this machine for the schedule's wake-ups alone.
pub const WAKE_FLOOR: &str = "wake floor";

type Res<T> = Result<T, String>;

/// The time between two video frames.
pub fn video_interval() -> Duration {
    Duration::from_secs(1) / VIDEO_FPS
}

/// Size of a delta frame: a keyframe and `GOP - 1` delta frames make
/// [`VIDEO_BITRATE`] over the group's two seconds.
pub fn delta_frame_bytes() -> usize {
    let gop_bytes = VIDEO_BITRATE / 8 * GOP / u64::from(VIDEO_FPS);
    (gop_bytes / (GOP - 1 + KEY_WEIGHT)) as usize
}

/// Video frame `i`: a VP8 payload header byte (RFC 6386 §9.1: bit 0 clear
/// on a keyframe, every [`GOP`] frames from frame 0), the frame number,
/// then filler.
pub fn video_frame(i: u64) -> Vec<u8> {
    let key = i.is_multiple_of(GOP);
    let size = if key {
        delta_frame_bytes() * KEY_WEIGHT as usize
    } else {
        delta_frame_bytes()
    };
    let mut f = vec![(i % 251) as u8; size];
    f[0] = if key { 0x10 } else { 0x11 };
    f[1..9].copy_from_slice(&i.to_be_bytes());
    f
}

/// The size of video frame `i` ([`video_frame`]), without making it.
pub fn video_frame_len(i: u64) -> usize {
    if i.is_multiple_of(GOP) {
        delta_frame_bytes() * KEY_WEIGHT as usize
    } else {
        delta_frame_bytes()
    }
}

/// The frame number a video frame carries in its bytes 1..9.
pub fn frame_number(frame: &[u8]) -> Option<u64> {
    let b: [u8; 8] = frame.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// The length of the VP8 payload descriptor (RFC 7741 §4.2) at the start
/// of an RTP payload, and whether the packet starts a frame (S set,
/// partition index 0).
pub fn vp8_descriptor(payload: &[u8]) -> Option<(usize, bool)> {
    let b0 = *payload.first()?;
    let mut n = 1;
    if b0 & 0x80 != 0 {
        let x = *payload.get(1)?;
        n = 2;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits (M).
            n += if *payload.get(n)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            n += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            n += 1; // TID / KEYIDX
        }
    }
    (payload.len() >= n).then_some((n, b0 & 0x10 != 0 && b0 & 0x07 == 0))
}

/// What the receivers got, counted alike on every stack: distinct media
/// packets (after SRTP, each sequence number of a stream once), and the
/// whole frames (each video frame number once) with their bytes.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Distinct media packets.
    pub packets: u64,
    /// Whole frames, video and audio.
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Video frame numbers already counted.
    seen: std::collections::HashSet<u64>,
}

impl Tally {
    /// A whole video frame (counted once per frame number).
    pub fn video_frame(&mut self, frame: &[u8]) {
        if let Some(i) = frame_number(frame)
            && self.seen.insert(i)
        {
            self.frames += 1;
            self.bytes += frame.len() as u64;
        }
    }

    /// A whole audio frame of `bytes`.
    pub fn audio_frame(&mut self, bytes: usize) {
        self.frames += 1;
        self.bytes += bytes as u64;
    }

    /// Adds another receiver's tally.
    pub fn add(&mut self, other: &Tally) {
        self.packets += other.packets;
        self.frames += other.frames;
        self.bytes += other.bytes;
    }
}

/// An audio frame (the same bytes every time).
pub fn audio_frame() -> Vec<u8> {
    vec![0xfc; AUDIO_BYTES]
}

/// One frame of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Video frame number `n`.
    Video(u64),
    /// Audio frame number `n`.
    Audio(u64),
}

/// When each frame of a stream of `secs` goes out, from its start.
pub struct Schedule {
    frames: Vec<(Duration, Frame)>,
}

impl Schedule {
    /// Every frame of a `length` stream, in time order (video first at a tie).
    pub fn new(length: Duration) -> Schedule {
        let mut frames = Vec::new();
        // Frame i at i/fps s exactly (nanoseconds: a truncated interval
        // would drift and fit one frame too many).
        let video_at = |i: u64| Duration::from_nanos(i * 1_000_000_000 / u64::from(VIDEO_FPS));
        let mut v = 0u64;
        while video_at(v) < length {
            frames.push((video_at(v), Frame::Video(v)));
            v += 1;
        }
        let mut a = 0u64;
        while AUDIO_INTERVAL * (a as u32) < length {
            frames.push((AUDIO_INTERVAL * a as u32, Frame::Audio(a)));
            a += 1;
        }
        frames.sort_by_key(|(at, f)| (*at, matches!(f, Frame::Audio(_))));
        Schedule { frames }
    }

    /// The frames and their times.
    pub fn frames(&self) -> &[(Duration, Frame)] {
        &self.frames
    }
}

/// What one stack's run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Receivers connected.
    pub receivers: usize,
    /// From the first peer made until every connection was up.
    pub setup: Duration,
    /// From the stream's start to the moment counts and CPU were taken
    /// (the drain's end).
    pub elapsed: Duration,
    /// Process CPU seconds over `elapsed`.
    pub cpu_s: f64,
    /// What the receivers got, all together.
    pub got: Tally,
    /// Frames the sender wrote.
    pub frames_sent: u64,
    /// Resident memory added by the N downstream connections (forwarder's
    /// and receiver's side) and the stream, per receiver, KiB.
    pub rss_per_receiver_kib: f64,
}

impl Outcome {
    fn sample(self) -> Sample {
        Sample {
            secs: self.elapsed.as_secs_f64(),
            cpu_s: self.cpu_s,
            rtp_packets: Some(self.got.packets),
            frames: Some(self.got.frames),
            media_bytes: Some(self.got.bytes),
            frames_sent: Some(self.frames_sent),
            receivers: Some(self.receivers),
            establish_ms: Some(self.setup.as_secs_f64() * 1000.0),
            rss_per_receiver_kib: Some(self.rss_per_receiver_kib),
            ..Default::default()
        }
    }
}

/// RSS now, KiB.
pub fn rss_kib() -> f64 {
    crate::proc::rss_mib() * 1024.0
}

/// Runs the forwarding workload on `stack` (in the child process).
pub fn run(stack: &str, receivers: usize, secs: u64) -> Res<Sample> {
    let length = Duration::from_secs(secs.max(1));
    let outcome = match stack {
        "ferrtc" => ferrtc::run(receivers, length)?,
        FERRTC_CORE => ferrtc_core::run(receivers, length)?,
        "str0m" => str0m::run(receivers, length)?,
        "webrtc-rs 0.17" => webrtc_rs::run(receivers, length)?,
        WAKE_FLOOR => wake_floor(length)?,
        other => return Err(format!("{other} does not run the forwarding workload")),
    };
    let mut sample = outcome.sample();
    sample.stack = stack.to_string();
    sample.version = version(stack);
    sample.peak_rss_mib = crate::proc::peak_rss_mib();
    Ok(sample)
}

/// [`WAKE_FLOOR`]: sleeps until each frame's time of a `length` stream and
/// through the drain, as the stacks' senders do, with nothing to send.
fn wake_floor(length: Duration) -> Res<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let schedule = Schedule::new(length);
    runtime.block_on(async {
        let cpu0 = crate::proc::cpu_seconds();
        let t0 = tokio::time::Instant::now();
        for (at, _) in schedule.frames() {
            tokio::time::sleep_until(t0 + *at).await;
        }
        tokio::time::sleep_until(t0 + length + DRAIN).await;
        Ok(Outcome {
            elapsed: t0.elapsed(),
            cpu_s: crate::proc::cpu_seconds() - cpu0,
            frames_sent: schedule.frames().len() as u64,
            ..Default::default()
        })
    })
}

/// The crate version of a stack name.
pub fn version(stack: &str) -> String {
    match stack {
        "webrtc-rs 0.17" => crate::stacks::webrtc_rs17::VERSION.into(),
        WAKE_FLOOR => "–".into(),
        other => crate::crate_version(other),
    }
}

// ---- the `forward` subcommand (runner side) ----

struct Options {
    receivers: Vec<usize>,
    secs: u64,
    /// Runs per (stack, N); the table shows the median one.
    runs: usize,
    stacks: Vec<String>,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: ferrtc-compare forward [--quick] [--receivers 10,50,200] [--secs S] [--runs K] [--stacks a,b] [--out FILE.md]\n\
         stacks: {}",
        STACKS.join(", ")
    );
    std::process::exit(2)
}

#[derive(Debug, Clone, Serialize)]
struct Run {
    stack: String,
    workload: Workload,
    sample: Sample,
}

/// `ferrtc-compare forward ...`: each (stack, N) in a child process; the
/// table goes to `bench/RESULTS-media.md` (raw samples beside it, `.json`).
pub fn command(args: &[String]) {
    let mut opts = Options {
        receivers: vec![10, 50, 200],
        secs: DEFAULT_SECS,
        runs: DEFAULT_RUNS,
        stacks: STACKS.iter().map(|s| s.to_string()).collect(),
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS-media.md"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--quick" => opts.receivers = vec![10, 50],
            "--receivers" => {
                opts.receivers = value()
                    .split(',')
                    .map(|n| n.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--secs" => opts.secs = value().parse().unwrap_or_else(|_| usage()),
            "--runs" => {
                opts.runs = value()
                    .parse()
                    .ok()
                    .filter(|&k| k > 0)
                    .unwrap_or_else(|| usage())
            }
            "--stacks" => {
                opts.stacks = value().split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = opts.stacks.iter().find(|s| !STACKS.contains(&s.as_str())) {
                    eprintln!("stack {bad:?} does not run the forwarding workload");
                    usage();
                }
            }
            "--out" => opts.out = value().into(),
            _ => usage(),
        }
    }
    let started = Instant::now();
    let mut runs = Vec::new();
    let mut medians = Vec::new();
    let mut paired = Vec::new();
    let mut floor = Vec::new();
    for &n in &opts.receivers {
        let workload = Workload::Forward {
            receivers: n,
            secs: opts.secs,
        };
        // Rounds of one run per stack, so that a slow spell of the machine
        // falls on every stack alike.
        let mut by_stack: Vec<Vec<Run>> = vec![Vec::new(); opts.stacks.len()];
        for _ in 0..opts.runs {
            for (stack, samples) in opts.stacks.iter().zip(&mut by_stack) {
                samples.push(Run {
                    stack: stack.clone(),
                    workload,
                    sample: crate::run_child(stack, workload),
                });
            }
            // The floor does not depend on N: one per round of the first N.
            if floor.len() < opts.runs {
                floor.push(Run {
                    stack: WAKE_FLOOR.into(),
                    workload,
                    sample: crate::run_child(WAKE_FLOOR, workload),
                });
            }
        }
        for ours in OURS {
            if let Some(ratios) = paired_ratios(ours, &opts.stacks, &by_stack) {
                paired.push((n, *ours, ratios));
            }
        }
        for samples in by_stack {
            medians.push(median_run(&samples));
            runs.extend(samples);
        }
    }
    // Every failed run is listed, the median's or not.
    let failed: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let e = r.sample.error.as_ref()?;
            let Workload::Forward { receivers, .. } = r.workload else {
                return None;
            };
            Some(format!("{} N = {receivers}: {e}", r.stack))
        })
        .collect();
    let floor_ms: Vec<f64> = floor
        .iter()
        .filter(|r| r.sample.error.is_none() && r.sample.secs > 0.0)
        .map(|r| r.sample.cpu_s * 1000.0 / r.sample.secs)
        .collect();
    let table = render(
        &opts,
        &medians,
        &paired,
        median(&floor_ms),
        &failed,
        started.elapsed(),
    );
    runs.extend(floor);
    println!("{table}");
    let json_path = opts.out.with_extension("json");
    let written = std::fs::write(&opts.out, &table)
        .map_err(|e| format!("{}: {e}", opts.out.display()))
        .and_then(|()| serde_json::to_string_pretty(&runs).map_err(|e| e.to_string()))
        .and_then(|json| {
            std::fs::write(&json_path, json).map_err(|e| format!("{}: {e}", json_path.display()))
        });
    let default_out = Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS-media.md");
    let written = written.and_then(|()| match opts.out == default_out {
        // The default run's table is also the media section of RESULTS.md.
        true => splice_into_results(&table),
        false => Ok(()),
    });
    match written {
        Ok(()) => eprintln!("wrote {} and {}", opts.out.display(), json_path.display()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    }
}

const SECTION_BEGIN: &str = "<!-- forward: written by `ferrtc-compare forward` -->";
const SECTION_END: &str = "<!-- forward: end -->";

/// Puts `table` (its title a level down) between the forward markers of
/// bench/RESULTS.md, or at its end the first time.
fn splice_into_results(table: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let section = format!("{SECTION_BEGIN}\n#{}\n{SECTION_END}", table.trim_end());
    let spliced = match (text.find(SECTION_BEGIN), text.find(SECTION_END)) {
        (Some(begin), Some(end)) if begin < end => format!(
            "{}{section}{}",
            &text[..begin],
            &text[end + SECTION_END.len()..]
        ),
        _ => format!("{}\n\n{section}\n", text.trim_end()),
    };
    std::fs::write(&path, spliced).map_err(|e| format!("{}: {e}", path.display()))
}

/// Per round (every stack's run of one round back to back), the packets
/// per CPU-second of `ours` (one of ferrtc's rows) over the best other
/// stack's of the same round (not ferrtc's), among those that lost at most
/// [`MAX_LOSS_PERCENT`] of the frames; a round where either side failed or
/// lost more has none. `None` when `ours` did not run.
fn paired_ratios(ours: &str, stacks: &[String], by_stack: &[Vec<Run>]) -> Option<Vec<Option<f64>>> {
    let figures = |r: &Run| {
        Figures::of(&r.sample)
            .filter(|_| r.sample.error.is_none())
            .filter(|f| f.lost <= MAX_LOSS_PERCENT && f.packets_per_cpu_s.is_finite())
    };
    let ours = stacks.iter().position(|s| s == ours)?;
    let rounds = by_stack.iter().map(Vec::len).min().unwrap_or(0);
    let ratios = (0..rounds)
        .map(|i| {
            let mine = figures(&by_stack[ours][i])?.packets_per_cpu_s;
            let best = by_stack
                .iter()
                .zip(stacks)
                .filter(|(_, s)| !is_ours(s))
                .filter_map(|(runs, _)| figures(&runs[i]))
                .map(|f| f.packets_per_cpu_s)
                .fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.max(v))))?;
            (best > 0.0).then_some(mine / best)
        })
        .collect();
    Some(ratios)
}

/// The median of `values` (the lower middle one of an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// The run whose packets per CPU-second are the median of those that
/// succeeded (the lower middle one of an even count); the first failure
/// when none did.
fn median_run(samples: &[Run]) -> Run {
    let mut ok: Vec<(f64, &Run)> = samples
        .iter()
        .filter(|r| r.sample.error.is_none())
        .filter_map(|r| Some((Figures::of(&r.sample)?.packets_per_cpu_s, r)))
        .filter(|(f, _)| f.is_finite())
        .collect();
    ok.sort_by(|a, b| a.0.total_cmp(&b.0));
    match ok.get(ok.len().saturating_sub(1) / 2) {
        Some((_, r)) => (*r).clone(),
        None => samples[0].clone(),
    }
}

/// Figures of one sample, derived for the table.
struct Figures {
    packets_per_s: f64,
    packets_per_cpu_s: f64,
    mib_per_cpu_s: f64,
    cpu_ms_per_receiver_s: f64,
    kib_per_receiver: f64,
    lost: f64,
    setup_ms: f64,
}

impl Figures {
    fn of(s: &Sample) -> Option<Figures> {
        let packets = s.rtp_packets? as f64;
        let n = s.receivers?.max(1) as f64;
        let expected = s.frames_sent? as f64 * n;
        Some(Figures {
            packets_per_s: packets / s.secs,
            packets_per_cpu_s: if s.cpu_s > 0.0 {
                packets / s.cpu_s
            } else {
                f64::NAN
            },
            mib_per_cpu_s: if s.cpu_s > 0.0 {
                s.media_bytes? as f64 / (1024.0 * 1024.0) / s.cpu_s
            } else {
                f64::NAN
            },
            cpu_ms_per_receiver_s: s.cpu_s * 1000.0 / n / s.secs,
            kib_per_receiver: s.rss_per_receiver_kib?,
            lost: (expected - s.frames? as f64).max(0.0) / expected.max(1.0) * 100.0,
            setup_ms: s.establish_ms?,
        })
    }
}

type Col = (&'static str, Option<bool>, fn(&Figures) -> f64);

const COLUMNS: &[Col] = &[
    ("Packets forwarded/s ↑", Some(true), |f| f.packets_per_s),
    ("Packets per CPU-second ↑", Some(true), |f| {
        f.packets_per_cpu_s
    }),
    ("Frame MiB per CPU-second ↑", Some(true), |f| {
        f.mib_per_cpu_s
    }),
    ("CPU-ms per receiver per s ↓", Some(false), |f| {
        f.cpu_ms_per_receiver_s
    }),
    ("RSS KiB per receiver ↓", Some(false), |f| {
        f.kib_per_receiver
    }),
    ("Frames lost at receivers %", None, |f| f.lost),
    ("Setup ms", None, |f| f.setup_ms),
];

/// The other stacks' figures (not ferrtc's rows) that one of ferrtc's
/// compares with, or `None` when no ratio row is due. A stack (ferrtc too)
/// that lost more than
/// [`MAX_LOSS_PERCENT`] of the frames did not keep up: its figures are
/// no bar to compare with, nor a figure to compare.
fn comparable<'a>(ours: &Figures, of_n: &'a [(&str, Option<Figures>)]) -> Option<Vec<&'a Figures>> {
    if ours.lost.is_nan() || ours.lost > MAX_LOSS_PERCENT {
        return None;
    }
    let others: Vec<&Figures> = of_n
        .iter()
        .filter(|(s, _)| !is_ours(s))
        .filter_map(|(_, f)| f.as_ref())
        .filter(|f| f.lost <= MAX_LOSS_PERCENT)
        .collect();
    (!others.is_empty()).then_some(others)
}

/// One ratio row: `ours` (ferrtc's row `name`) over the better of
/// `others`, column by column.
fn ratio_row(out: &mut String, n: usize, name: &str, ours: &Figures, others: &[&Figures]) {
    let _ = write!(out, "| {n} | **{name} / best other** |");

    for (_, higher, pick) in COLUMNS {
        let cell = match higher {
            Some(higher) => {
                let best = others
                    .iter()
                    .map(|f| pick(f))
                    .filter(|v| v.is_finite())
                    .fold(None, |b: Option<f64>, v| {
                        Some(match b {
                            None => v,
                            Some(b) if *higher => b.max(v),
                            Some(b) => b.min(v),
                        })
                    });
                match best {
                    Some(b) if b > 0.0 && pick(ours).is_finite() => {
                        let r = pick(ours) / b;
                        let text = format!("{r:.2}x");
                        if (r > 1.0) == *higher && r != 1.0 {
                            format!("**{text}**")
                        } else {
                            text
                        }
                    }
                    _ => "–".into(),
                }
            }
            None => "–".into(),
        };
        let _ = write!(out, " {cell} |");
    }
    out.push('\n');
}

fn render(
    opts: &Options,
    runs: &[Run],
    paired: &[(usize, &str, Vec<Option<f64>>)],
    floor_ms: Option<f64>,
    failed: &[String],
    took: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# ferrtc media forwarding: one sender, a forwarder, N receivers\n"
    );
    let _ = writeln!(
        out,
        "- Date: {}",
        crate::shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(out, "- Machine: {}", crate::machine());
    let _ = writeln!(out, "- Compiler: {}", crate::shell("rustc", &["--version"]));
    let _ = writeln!(
        out,
        "- ferrtc commit: {}",
        crate::shell("git", &["rev-parse", "--short", "HEAD"])
    );
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
        .map(|s| format!("{s} {}", version(s)))
        .collect();
    let _ = writeln!(out, "- Versions: {}", versions.join(", "));
    let ns: Vec<String> = opts.receivers.iter().map(|n| n.to_string()).collect();
    let _ = writeln!(
        out,
        "- Command: `cargo run --release --manifest-path bench/Cargo.toml -- forward --receivers {} --secs {} --runs {}` ({:.0} s)\n",
        ns.join(","),
        opts.secs,
        opts.runs,
        took.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "One sender sends {:.1} Mbit/s of VP8-like video ({VIDEO_FPS} fps, {}-byte delta frames, a {}-byte \
         keyframe every {GOP} frames) and {AUDIO_BYTES}-byte audio frames every {} ms to a forwarder, \
         which sends each frame on to N receivers; all peers in one process, each with its own UDP \
         socket on 127.0.0.1, for {} s of real time after every connection is up (plus {} ms for the \
         receivers to drain). Counted alike on every stack: packets are the distinct media packets \
         the receivers got (after SRTP, each sequence number once); frame MiB are the bytes of the \
         whole frames they got (each frame once). At the drain's end the sender and forwarder stop, \
         the counts are taken and the CPU time is read, so counts, CPU and seconds cover one \
         interval: the stream's start to the drain's end (per second is over that interval too). \
         CPU is the whole process's user + system time (sender, forwarder and receivers; \
         getrusage); RSS per receiver is (RSS after the stream − RSS before the N downstream \
         connections) / N. Each run is its own process; each (stack, N) runs {} times, in rounds of \
         one run per stack, and the table shows its median run by packets per CPU-second (every run \
         is in the .json beside RESULTS-media.md). See bench/README.md.\n",
        VIDEO_BITRATE as f64 / 1e6,
        crate::fmt_value(delta_frame_bytes() as f64),
        crate::fmt_value((delta_frame_bytes() * KEY_WEIGHT as usize) as f64),
        AUDIO_INTERVAL.as_millis(),
        opts.secs,
        DRAIN.as_millis(),
        opts.runs
    );
    let _ = write!(out, "| N | Stack |");
    for (title, _, _) in COLUMNS {
        let _ = write!(out, " {title} |");
    }
    let _ = write!(out, "\n|---:|---|");
    for _ in COLUMNS {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    for &n in &opts.receivers {
        let of_n: Vec<(&str, Option<Figures>)> = runs
            .iter()
            .filter(|r| matches!(r.workload, Workload::Forward { receivers, .. } if receivers == n))
            .map(|r| {
                let f = if r.sample.error.is_none() {
                    Figures::of(&r.sample)
                } else {
                    None
                };
                (r.stack.as_str(), f)
            })
            .collect();
        for (stack, f) in &of_n {
            let _ = write!(out, "| {n} | {stack} |");
            for (_, _, pick) in COLUMNS {
                let cell = f
                    .as_ref()
                    .map_or_else(|| "error".into(), |f| crate::fmt_value(pick(f)));
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
        // Each of ferrtc's rows over the better of the others, column by
        // column.
        for (name, ours) in &of_n {
            let Some(ours) = ours.as_ref().filter(|_| is_ours(name)) else {
                continue;
            };
            let Some(others) = comparable(ours, &of_n) else {
                continue;
            };
            ratio_row(&mut out, n, name, ours, &others);
        }
    }
    let _ = writeln!(
        out,
        "\nA ratio row divides the figure of one of ferrtc's rows by the better of the other \
         stacks' (highest for ↑, lowest for ↓; ferrtc's two rows are not compared with each \
         other) among those that lost at most {MAX_LOSS_PERCENT}% of the frames (no row when \
         ferrtc's row itself lost more, or no other stack qualifies): above 1x is \
         better for ↑ columns, below 1x for ↓ columns; bold where ferrtc is ahead. The issue's \
         goal is 2x on packets per CPU-second."
    );
    if paired.iter().any(|(_, _, r)| r.iter().any(Option::is_some)) {
        let _ = writeln!(
            out,
            "\nPaired by round: in each round every stack runs once, back to back, so a slow \
             spell of the machine falls on the runs of one round alike. Packets per CPU-second, \
             each of ferrtc's rows over the best other stack of the same round among those that \
             lost at most {MAX_LOSS_PERCENT}% of the frames (– for a round where ferrtc's row \
             failed or lost more, or no other stack qualifies):\n\n\
             | N | Stack | median of the rounds | each round |\n|---:|---|---:|---|"
        );
        for (n, stack, ratios) in paired {
            let each: Vec<String> = ratios
                .iter()
                .map(|r| r.map_or_else(|| "–".into(), |r| format!("{r:.2}x")))
                .collect();
            let counted: Vec<f64> = ratios.iter().flatten().copied().collect();
            let mid = median(&counted).map_or_else(|| "–".into(), |m| format!("**{m:.2}x**"));
            let _ = writeln!(out, "| {n} | {stack} | {mid} | {} |", each.join(", "));
        }
    }
    if let Some(floor_ms) = floor_ms {
        let wakes =
            Schedule::new(Duration::from_secs(opts.secs)).frames().len() as f64 / opts.secs as f64;
        let _ = write!(
            out,
            "\nWake-up floor: a process that only keeps the stream's time (it wakes at each \
             of the {wakes:.0} frame times a second on a tokio current-thread runtime, as the \
             senders do, and does nothing else) used **{floor_ms:.2} CPU-ms per second** here \
             (median of its runs, one per round of N = {}). Every stack pays it",
            opts.receivers.first().copied().unwrap_or_default()
        );
        let first = opts.receivers.first().copied();
        let share = runs.iter().find_map(|r| {
            let n = match r.workload {
                Workload::Forward { receivers, .. } => receivers,
                _ => return None,
            };
            let ours = r.stack == "ferrtc" && Some(n) == first && r.sample.error.is_none();
            let total = r.sample.cpu_s * 1000.0 / r.sample.secs;
            (ours && total > 0.0).then(|| (n, floor_ms / total * 100.0))
        });
        match share {
            Some((n, pct)) => {
                let _ = writeln!(
                    out,
                    ": at N = {n} it is {pct:.0}% of ferrtc's CPU in the table, a part no \
                     stack's work per packet can shrink."
                );
            }
            None => {
                let _ = writeln!(out, ".");
            }
        }
    }
    if !failed.is_empty() {
        let _ = writeln!(out, "\nFailed runs:");
        for e in failed {
            let _ = writeln!(out, "- {e}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(lost: f64) -> Option<Figures> {
        Some(Figures {
            packets_per_s: 1.0,
            packets_per_cpu_s: 1.0,
            mib_per_cpu_s: 1.0,
            cpu_ms_per_receiver_s: 1.0,
            kib_per_receiver: 1.0,
            lost,
            setup_ms: 1.0,
        })
    }

    #[test]
    fn the_ratio_row_leaves_out_stacks_that_lost_over_five_percent_and_ferrtcs_other_row() {
        let of_n = [
            ("ferrtc", figures(0.0)),
            (FERRTC_CORE, figures(0.0)),
            ("str0m", figures(5.1)),
            ("webrtc-rs 0.17", figures(5.0)),
        ];
        let ours = of_n[0].1.as_ref().unwrap();
        let others = comparable(ours, &of_n).expect("webrtc-rs qualifies");
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].lost, 5.0);
        let none_keep_up = [("ferrtc", figures(0.0)), ("str0m", figures(45.0))];
        assert!(comparable(ours, &none_keep_up).is_none());
    }

    /// A run of `stack` forwarding `packets` for `cpu_s` CPU-seconds,
    /// having lost `lost` of its 100 frames.
    fn run(stack: &str, packets: u64, cpu_s: f64, lost: u64) -> Run {
        Run {
            stack: stack.into(),
            workload: Workload::Forward {
                receivers: 1,
                secs: 1,
            },
            sample: Sample {
                secs: 1.0,
                cpu_s,
                rtp_packets: Some(packets),
                receivers: Some(1),
                frames_sent: Some(100),
                frames: Some(100 - lost),
                media_bytes: Some(1),
                rss_per_receiver_kib: Some(1.0),
                establish_ms: Some(1.0),
                ..Sample::default()
            },
        }
    }

    #[test]
    fn paired_ratios_compare_each_ferrtc_row_with_the_best_other_stack_of_each_round() {
        let stacks = ["ferrtc", FERRTC_CORE, "str0m", "webrtc-rs 0.17"].map(String::from);
        let mut failed = run("webrtc-rs 0.17", 900, 1.0, 0);
        failed.sample.error = Some("crashed".into());
        let by_stack = vec![
            vec![run("ferrtc", 200, 1.0, 0), run("ferrtc", 300, 1.0, 0)],
            // ferrtc's other row is never the bar ferrtc is compared with.
            vec![run(FERRTC_CORE, 400, 1.0, 0), run(FERRTC_CORE, 150, 1.0, 0)],
            vec![run("str0m", 100, 1.0, 0), run("str0m", 100, 2.0, 0)],
            // Round 1: webrtc-rs lost too much to count; round 2: failed.
            vec![run("webrtc-rs 0.17", 800, 1.0, 6), failed],
        ];
        assert_eq!(
            paired_ratios("ferrtc", &stacks, &by_stack),
            Some(vec![Some(2.0), Some(6.0)])
        );
        assert_eq!(
            paired_ratios(FERRTC_CORE, &stacks, &by_stack),
            Some(vec![Some(4.0), Some(3.0)])
        );
        // A row that did not run has no ratios.
        assert_eq!(
            paired_ratios(FERRTC_CORE, &stacks[..1], &by_stack[..1]),
            None
        );
        // A round where ferrtc itself lost too much has no ratio.
        let lossy = vec![
            vec![run("ferrtc", 200, 1.0, 6)],
            vec![run("str0m", 100, 1.0, 0)],
        ];
        let two = ["ferrtc", "str0m"].map(String::from);
        assert_eq!(paired_ratios("ferrtc", &two, &lossy), Some(vec![None]));
        assert_eq!(median(&[2.0, 6.0, 3.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn no_ratio_row_when_ferrtc_itself_lost_over_five_percent() {
        let of_n = [("ferrtc", figures(6.0)), ("str0m", figures(0.0))];
        let ours = of_n[0].1.as_ref().unwrap();
        assert!(comparable(ours, &of_n).is_none());
        let nan = figures(f64::NAN).unwrap();
        assert!(
            comparable(&nan, &of_n).is_none(),
            "an unknown loss is no basis either"
        );
    }

    /// The item `start` (a line prefix) of `src`, to its closing line.
    fn item<'a>(src: &'a str, start: &str) -> &'a str {
        let at = src
            .find(start)
            .unwrap_or_else(|| panic!("{start:?} not found"));
        let rest = &src[at..];
        let end = if rest.lines().next().is_some_and(|l| l.ends_with(';')) {
            rest.find('\n').unwrap_or(rest.len())
        } else {
            rest.find("\n}\n").map_or(rest.len(), |e| e + 2)
        };
        &rest[..end]
    }

    #[test]
    fn the_stream_is_the_one_ferrtc_bench_media_sends() {
        // `ferrtc bench --media` (crates/cli/src/bench/media.rs) sends the
        // same stream: the same constants and frames, item by item.
        let cli = include_str!("../../../crates/cli/src/bench/media.rs");
        let ours = include_str!("mod.rs");
        for start in [
            "pub const VIDEO_FPS:",
            "pub const VIDEO_BITRATE:",
            "pub const GOP:",
            "pub const KEY_WEIGHT:",
            "pub const AUDIO_INTERVAL:",
            "pub const AUDIO_BYTES:",
            "pub fn delta_frame_bytes()",
            "pub fn video_frame(i: u64)",
        ] {
            // The CLI keeps its MSRV (1.85): `%` where 1.87 has
            // `is_multiple_of`, the same test.
            let ours = item(ours, start).replace("i.is_multiple_of(GOP)", "i % GOP == 0");
            assert_eq!(item(cli, start), ours, "{start}");
        }
        let drain = |src: &str| item(src, "const DRAIN:").to_string();
        assert_eq!(drain(cli), drain(ours));
    }

    #[test]
    fn frame_numbers_and_vp8_descriptors_are_read_back() {
        assert_eq!(frame_number(&video_frame(61)), Some(61));
        assert_eq!(video_frame_len(61), video_frame(61).len());
        assert_eq!(video_frame_len(60), video_frame(60).len());
        assert_eq!(vp8_descriptor(&[0x10, 0x11]), Some((1, true)));
        assert_eq!(vp8_descriptor(&[0x00, 0x11]), Some((1, false)));
        // X, I with a 15-bit picture id, L, T: 1 + 1 + 2 + 1 + 1.
        assert_eq!(
            vp8_descriptor(&[0x90, 0xf0, 0x80, 0x01, 0, 0, 0x10]),
            Some((6, true))
        );
        assert_eq!(vp8_descriptor(&[0x90, 0x80]), None);
        let mut t = Tally::default();
        t.video_frame(&video_frame(3));
        t.video_frame(&video_frame(3));
        t.audio_frame(AUDIO_BYTES);
        assert_eq!(
            (t.frames, t.bytes),
            (2, (video_frame_len(3) + AUDIO_BYTES) as u64)
        );
    }

    #[test]
    fn the_stream_makes_its_bit_rate_with_a_keyframe_every_two_seconds() {
        let s = Schedule::new(Duration::from_secs(4));
        let video: Vec<u64> = s
            .frames()
            .iter()
            .filter_map(|(_, f)| match f {
                Frame::Video(i) => Some(*i),
                Frame::Audio(_) => None,
            })
            .collect();
        assert_eq!(video.len(), 120);
        assert_eq!(s.frames().len() - video.len(), 200, "50 audio frames/s");
        let video_bytes: usize = video.iter().map(|&i| video_frame(i).len()).sum();
        let mbit = video_bytes as f64 * 8.0 / 4.0 / 1e6;
        assert!((2.45..=2.5).contains(&mbit), "{mbit} Mbit/s");
        assert_eq!(video_frame(0)[0] & 1, 0, "frame 0 is a keyframe");
        assert_eq!(video_frame(60)[0] & 1, 0, "and frame 60");
        assert_eq!(video_frame(61)[0] & 1, 1);
        assert!(s.frames().windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
