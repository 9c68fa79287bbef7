//! The media path, `ferrtc-compare rtp`: RTP packets per second through
//! protect/send and receive/unprotect/depacketize on one connection, for
//! ferrtc (its sans-IO core, `ferrtc-core`) and str0m, measured in the same
//! run.
//!
//! Both stacks are sans-IO, so each run connects two peers in memory: the
//! offer/answer, ICE, DTLS and the SRTP keys are real, but no socket is
//! involved: every datagram one peer polls out is handed to the other peer
//! at once. Time is virtual: an `Instant` taken once at the start and moved
//! on by [`FRAME_INTERVAL`] per frame, so timers (RTCP reports, ICE consent,
//! the receivers' NACK and jitter-buffer deadlines) see a 30 fps stream
//! whatever the real speed of the loop.
//!
//! The sender writes one VP8 track's frames; the receiver must give back
//! every frame whole (bytes compared) and in order. After
//! [`WARMUP_FRAMES`] untimed frames, the timed phase covers the next
//! `frames` frames; per frame it runs, until neither peer has anything
//! left to send:
//!
//! 1. send: the frame is written, the sender's due timers run and its
//!    datagrams are polled out (packetize, SRTP protect);
//! 2. receive: those datagrams go into the receiver, its due timers run,
//!    its events are polled (SRTP unprotect, jitter buffer, depacketize,
//!    the frame event) and what it sends back (RTCP, STUN) is polled out;
//! 3. what the receiver sent back goes into the sender.
//!
//! Step 1 and step 2 are timed apart (wall clock around the stack's calls:
//! `send_secs` and `receive_secs`); the whole loop, step 3 and the checks
//! included, is the run's `secs` and its process CPU time `cpu_s`.

mod ferrtc;
mod str0m;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::workload::{Sample, Workload};

/// Virtual time between two frames (30 fps).
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);
/// Frames written and checked before the timed phase (the keyframe first).
pub const WARMUP_FRAMES: u64 = 60;
/// Default number of timed frames: 1,000,000 packets, long enough for the
/// process CPU clock to count well (20,000 frames take about 0.1 s on
/// ferrtc).
pub const DEFAULT_FRAMES: u64 = 200_000;
/// Default frame size: five RTP packets on both stacks (ferrtc's
/// payloader cuts at 1,200 bytes of RTP, str0m's at a 1,150-byte datagram).
pub const DEFAULT_FRAME_SIZE: usize = 5_200;
/// Virtual time the two peers get to connect.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(30);
/// str0m without the transport-wide sequence number extension, so without
/// the TWCC feedback its receiver sends every 50 ms by default (ferrtc's
/// receiver sends none).
pub const STR0M_NO_TWCC: &str = "str0m (no TWCC)";
/// ferrtc with SRTP_AEAD_AES_256_GCM, the profile str0m negotiates with
/// itself (its DTLS server prefers it); ferrtc prefers AES-128-GCM.
pub const FERRTC_AES256: &str = "ferrtc (AES-256-GCM)";
/// Stacks that run the media path.
pub const STACKS: &[&str] = &["ferrtc", FERRTC_AES256, "str0m", STR0M_NO_TWCC];
/// The ratio rows: ferrtc's figure over str0m's, each with its defaults,
/// then with the same SRTP cipher, then also without TWCC feedback.
const RATIOS: &[(&str, &str)] = &[
    ("ferrtc", "str0m"),
    (FERRTC_AES256, "str0m"),
    (FERRTC_AES256, STR0M_NO_TWCC),
];
/// Runs per stack; the run of median duration is kept.
const RUNS: usize = 3;

type Res<T> = Result<T, String>;

/// Runs the media-path workload on `stack` (in the child process).
pub fn run(stack: &str, frames: u64, frame_size: usize) -> Res<Sample> {
    if frame_size < FrameSource::HEADER {
        return Err(format!("frames of at least {} bytes", FrameSource::HEADER));
    }
    let source = FrameSource::new(frame_size);
    let mut sample = match stack {
        "ferrtc" => ferrtc::run(&source, frames, false)?,
        FERRTC_AES256 => ferrtc::run(&source, frames, true)?,
        "str0m" => str0m::run(&source, frames, true)?,
        STR0M_NO_TWCC => str0m::run(&source, frames, false)?,
        other => return Err(format!("{other} does not run the media path")),
    };
    sample.stack = stack.to_string();
    sample.version = version(stack);
    sample.peak_rss_mib = crate::proc::peak_rss_mib();
    Ok(sample)
}

/// The crate version behind a media-path stack name.
pub fn version(stack: &str) -> String {
    if stack.starts_with("ferrtc") {
        crate::crate_version("ferrtc-core")
    } else {
        crate::crate_version("str0m")
    }
}

/// The synthetic VP8 frames: frame `i` is a VP8 payload header byte (RFC
/// 7741 §4.3: the P bit, bit 0 of the first byte, is clear on a keyframe;
/// only frame 0 is one), then `i` as 8 big-endian bytes, then bytes of a
/// fixed pattern starting at an offset that moves with `i`.
pub struct FrameSource {
    pattern: Vec<u8>,
    size: usize,
}

impl FrameSource {
    /// The payload header byte and the frame number.
    const HEADER: usize = 9;
    /// Offsets into the pattern (a prime, so neighbouring frames differ).
    const SHIFTS: usize = 251;

    /// Frames of `size` bytes (at least [`FrameSource::HEADER`]).
    pub fn new(size: usize) -> FrameSource {
        let mut x: u32 = 0x9e37_79b9;
        let pattern = (0..size + Self::SHIFTS)
            .map(|_| {
                // xorshift32: cheap bytes that no codec would compress.
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        FrameSource { pattern, size }
    }

    /// Frame size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether frame `i` is a keyframe (only the first).
    pub fn keyframe(i: u64) -> bool {
        i == 0
    }

    fn body(&self, i: u64) -> &[u8] {
        let start = (i % Self::SHIFTS as u64) as usize;
        &self.pattern[start..start + self.size - Self::HEADER]
    }

    fn first_byte(i: u64) -> u8 {
        // show_frame set, version 0, P clear on a keyframe.
        if Self::keyframe(i) { 0x10 } else { 0x11 }
    }

    /// Writes frame `i` into `out` (cleared first).
    pub fn frame(&self, i: u64, out: &mut Vec<u8>) {
        out.clear();
        out.push(Self::first_byte(i));
        out.extend_from_slice(&i.to_be_bytes());
        out.extend_from_slice(self.body(i));
    }

    /// 16 bytes that every frame holds (when frames have room for them):
    /// seen in a datagram, they show a payload that went out in clear.
    pub fn probe(&self) -> Option<[u8; 16]> {
        let at = Self::SHIFTS;
        (self.size >= Self::HEADER + at + 16)
            .then(|| self.pattern[at..at + 16].try_into().ok())
            .flatten()
    }

    /// Whether `got` is frame `i`, byte for byte.
    pub fn is_frame(&self, i: u64, got: &[u8]) -> bool {
        got.len() == self.size
            && got[0] == Self::first_byte(i)
            && got[1..Self::HEADER] == i.to_be_bytes()
            && &got[Self::HEADER..] == self.body(i)
    }
}

/// Whether `d` is an RTP packet (not RTCP): RFC 7983's 128..=191 first
/// byte, and not an RTCP packet type 192..=223 (RFC 5761 §4).
pub fn is_rtp(d: &[u8]) -> bool {
    matches!(d.first(), Some(128..=191)) && !matches!(d.get(1), Some(192..=223))
}

/// What a timed phase counted, on any stack.
#[derive(Debug, Default)]
pub struct Tally {
    /// RTP datagrams from the sender to the receiver.
    pub rtp_packets: u64,
    /// Their bytes (SRTP included).
    pub rtp_bytes: u64,
    /// Other datagrams from the sender (RTCP, STUN).
    pub sender_other: u64,
    /// Datagrams from the receiver to the sender.
    pub feedback: u64,
    /// Whole frames the receiver gave back (each checked).
    pub frames: u64,
    /// Time inside the sender's calls of step 1.
    pub send: Duration,
    /// Time inside the receiver's calls of step 2.
    pub receive: Duration,
    /// When set (warm-up only), RTP datagrams are searched for these
    /// frame bytes...
    pub probe: Option<[u8; 16]>,
    /// ...and those that hold them counted here: SRTP would hide them.
    pub in_clear: u64,
}

impl Tally {
    /// Counts one datagram from the sender.
    pub fn sent(&mut self, d: &[u8]) {
        if is_rtp(d) {
            self.rtp_packets += 1;
            self.rtp_bytes += d.len() as u64;
            if let Some(p) = &self.probe
                && d.windows(p.len()).any(|w| w == p)
            {
                self.in_clear += 1;
            }
        } else {
            self.sender_other += 1;
        }
    }

    /// The warm-up's tally: datagrams searched for frame bytes in clear.
    pub fn warmup(source: &FrameSource) -> Tally {
        Tally {
            probe: source.probe(),
            ..Default::default()
        }
    }

    /// Checks the warm-up: every frame arrived (`next` frames), in RTP
    /// packets that did not show frame bytes in clear.
    pub fn check_warmup(&self, next: u64) -> Res<()> {
        if next != WARMUP_FRAMES {
            return Err(format!("{next} of {WARMUP_FRAMES} warm-up frames arrived"));
        }
        if self.rtp_packets == 0 || self.in_clear > 0 {
            return Err(format!(
                "{} of {} RTP packets showed frame bytes in clear",
                self.in_clear, self.rtp_packets
            ));
        }
        Ok(())
    }

    /// The sample of a timed phase of `secs` wall-clock and `cpu_s` CPU
    /// seconds.
    pub fn sample(&self, secs: f64, cpu_s: f64) -> Sample {
        let secs = secs.max(1e-9);
        let packets = self.rtp_packets.max(1) as f64;
        Sample {
            secs,
            cpu_s,
            rtp_packets: Some(self.rtp_packets),
            frames: Some(self.frames),
            feedback_datagrams: Some(self.feedback),
            rtp_datagram_bytes: Some(self.rtp_bytes as f64 / packets),
            send_secs: Some(self.send.as_secs_f64()),
            receive_secs: Some(self.receive.as_secs_f64()),
            ..Default::default()
        }
    }
}

/// Two connected peers of one stack, the sender's video track between them.
pub trait Call {
    /// Writes frame `i` at virtual time `now` and runs the steps of this
    /// module's description until neither peer has anything to send;
    /// counts in `tally` and checks every frame the receiver gives back.
    fn frame(&mut self, i: u64, now: Instant, tally: &mut Tally) -> Res<()>;
    /// Frames the receiver gave back so far (all checked).
    fn received(&self) -> u64;
}

/// The same measurement for every stack: [`WARMUP_FRAMES`] frames
/// checked (and searched for frame bytes in clear), then `frames` frames
/// timed, one every [`FRAME_INTERVAL`] of virtual time after `connected`.
pub fn measure(
    call: &mut impl Call,
    source: &FrameSource,
    connected: Instant,
    frames: u64,
) -> Res<Sample> {
    let at = |i: u64| connected + FRAME_INTERVAL.saturating_mul(i as u32 + 1);
    let mut warmup = Tally::warmup(source);
    for i in 0..WARMUP_FRAMES {
        call.frame(i, at(i), &mut warmup)?;
    }
    warmup.check_warmup(call.received())?;
    let mut tally = Tally::default();
    let cpu0 = crate::proc::cpu_seconds();
    let t0 = Instant::now();
    for i in WARMUP_FRAMES..WARMUP_FRAMES + frames {
        call.frame(i, at(i), &mut tally)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = crate::proc::cpu_seconds() - cpu0;
    if tally.frames != frames {
        return Err(format!("{} of {frames} frames arrived", tally.frames));
    }
    Ok(tally.sample(secs, cpu))
}

/// Checks the frames a receiver gave back in one step against the frames
/// written: `next` is the number of the first frame not yet received.
pub fn check_frames<'a>(
    source: &FrameSource,
    next: &mut u64,
    got: impl IntoIterator<Item = &'a [u8]>,
) -> Res<u64> {
    let mut n = 0;
    for f in got {
        if !source.is_frame(*next, f) {
            return Err(format!(
                "frame {} arrived damaged or out of order ({} bytes)",
                *next,
                f.len()
            ));
        }
        *next += 1;
        n += 1;
    }
    Ok(n)
}

// ---- the `rtp` subcommand (runner side) ----

/// Options of `ferrtc-compare rtp`.
struct Options {
    frames: u64,
    frame_size: usize,
    stacks: Vec<String>,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: ferrtc-compare rtp [--frames N] [--frame-size BYTES] [--stacks a,b] [--out FILE.md]\n\
         stacks: {}",
        STACKS.join(", ")
    );
    std::process::exit(2)
}

/// One finished run of the media path.
#[derive(Debug, Clone, Serialize)]
struct Run {
    stack: String,
    workload: Workload,
    sample: Sample,
}

/// `ferrtc-compare rtp ...`: runs the media path on each stack (median of
/// [`RUNS`] child processes), prints the table and writes it to
/// `bench/RESULTS-rtp.md` (raw samples beside it, `.json`).
pub fn command(args: &[String]) {
    let mut opts = Options {
        frames: DEFAULT_FRAMES,
        frame_size: DEFAULT_FRAME_SIZE,
        stacks: STACKS.iter().map(|s| s.to_string()).collect(),
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS-rtp.md"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--frames" => opts.frames = value().parse().unwrap_or_else(|_| usage()),
            "--frame-size" => opts.frame_size = value().parse().unwrap_or_else(|_| usage()),
            "--stacks" => {
                opts.stacks = value().split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = opts.stacks.iter().find(|s| !STACKS.contains(&s.as_str())) {
                    eprintln!("stack {bad:?} does not run the media path");
                    usage();
                }
            }
            "--out" => opts.out = value().into(),
            _ => usage(),
        }
    }
    let started = Instant::now();
    let workload = Workload::Rtp {
        frames: opts.frames,
        frame_size: opts.frame_size,
    };
    let runs: Vec<Run> = opts
        .stacks
        .iter()
        .map(|stack| Run {
            stack: stack.clone(),
            workload,
            sample: crate::median_run(stack, workload, RUNS),
        })
        .collect();
    let table = render(&opts, &runs, started.elapsed());
    println!("{table}");
    let json_path = opts.out.with_extension("json");
    let written = std::fs::write(&opts.out, &table)
        .map_err(|e| format!("{}: {e}", opts.out.display()))
        .and_then(|()| serde_json::to_string_pretty(&runs).map_err(|e| e.to_string()))
        .and_then(|json| {
            std::fs::write(&json_path, json).map_err(|e| format!("{}: {e}", json_path.display()))
        });
    match written {
        Ok(()) => eprintln!("wrote {} and {}", opts.out.display(), json_path.display()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    }
}

/// Figures of one sample, derived for the table.
struct Figures {
    packets_per_s: f64,
    frames_per_s: f64,
    cpu_s_per_million: f64,
    packets_per_cpu_s: f64,
    send_us: f64,
    receive_us: f64,
    packets_per_frame: f64,
    datagram_bytes: f64,
    feedback: f64,
}

impl Figures {
    fn of(s: &Sample) -> Option<Figures> {
        let packets = s.rtp_packets? as f64;
        let frames = s.frames? as f64;
        if packets == 0.0 || frames == 0.0 {
            return None;
        }
        Some(Figures {
            packets_per_s: packets / s.secs,
            frames_per_s: frames / s.secs,
            cpu_s_per_million: s.cpu_s / packets * 1e6,
            packets_per_cpu_s: if s.cpu_s > 0.0 {
                packets / s.cpu_s
            } else {
                f64::NAN
            },
            send_us: s.send_secs? / packets * 1e6,
            receive_us: s.receive_secs? / packets * 1e6,
            packets_per_frame: packets / frames,
            datagram_bytes: s.rtp_datagram_bytes?,
            feedback: s.feedback_datagrams? as f64,
        })
    }
}

/// One column: title, whether higher is better (`None`: no ratio), value.
type Col = (&'static str, Option<bool>, fn(&Figures) -> f64);

const COLUMNS: &[Col] = &[
    ("RTP packets/s ↑", Some(true), |f| f.packets_per_s),
    ("Frames/s ↑", Some(true), |f| f.frames_per_s),
    ("CPU-s per million packets ↓", Some(false), |f| {
        f.cpu_s_per_million
    }),
    ("Packets per CPU-second ↑", Some(true), |f| {
        f.packets_per_cpu_s
    }),
    ("Send µs/packet ↓", Some(false), |f| f.send_us),
    ("Receive µs/packet ↓", Some(false), |f| f.receive_us),
    ("Packets/frame", None, |f| f.packets_per_frame),
    ("Media datagram bytes", None, |f| f.datagram_bytes),
    ("Datagrams back", None, |f| f.feedback),
];

fn render(opts: &Options, runs: &[Run], took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# ferrtc media path: RTP through protect/send and receive/unprotect/depacketize\n"
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
    let versions: Vec<String> = runs
        .iter()
        .map(|r| format!("{} {}", r.stack, r.sample.version))
        .collect();
    let _ = writeln!(
        out,
        "- Versions: {} (ferrtc is its sans-IO core, crate ferrtc-core)",
        versions.join(", ")
    );
    let _ = writeln!(
        out,
        "- Command: `cargo run --release --manifest-path bench/Cargo.toml -- rtp --frames {} --frame-size {}` ({:.0} s)\n",
        opts.frames,
        opts.frame_size,
        took.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "One connection, one VP8 video track, two peers in one process and one thread, no sockets: \
         each datagram a peer polls out is handed to the other peer at once. {} frames of {} bytes \
         (a keyframe, then delta frames) after {WARMUP_FRAMES} untimed ones, virtual time {} ms per \
         frame; every frame checked whole and in order on the receiver. Figures are the run of \
         median duration of {RUNS}, each in its own process. Packets/s and frames/s are over the \
         wall-clock of the timed loop (one thread: per core); CPU is the process's user + system \
         time over the loop (getrusage). Send is the wall-clock time inside the sender's calls \
         (write the frame, run its due timers, poll its datagrams out: packetize, SRTP protect); \
         receive, inside the receiver's calls (hand it the datagrams, run its due timers, poll \
         its events and its datagrams back: SRTP unprotect, jitter buffer, depacketize, RTCP). \
         The rest of the loop is the sender taking in what the receiver sent back, and the \
         checks. See bench/README.md.\n",
        crate::fmt_value(opts.frames as f64),
        crate::fmt_value(opts.frame_size as f64),
        FRAME_INTERVAL.as_millis()
    );
    let figures: Vec<(&str, Result<Figures, String>)> = runs
        .iter()
        .map(|r| {
            let f = match &r.sample.error {
                Some(e) => Err(e.clone()),
                None => Figures::of(&r.sample).ok_or_else(|| "no figures".to_string()),
            };
            (r.stack.as_str(), f)
        })
        .collect();
    let _ = write!(out, "| Stack |");
    for (title, _, _) in COLUMNS {
        let _ = write!(out, " {title} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in COLUMNS {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    for (stack, f) in &figures {
        let _ = write!(out, "| {stack} |");
        for (_, _, pick) in COLUMNS {
            let cell = match f {
                Ok(f) => crate::fmt_value(pick(f)),
                Err(_) => "error".into(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    let find = |name: &str| {
        figures
            .iter()
            .find(|(s, _)| *s == name)
            .and_then(|(_, f)| f.as_ref().ok())
    };
    let mut ratios = false;
    for (num, den) in RATIOS {
        let (Some(ours), Some(theirs)) = (find(num), find(den)) else {
            continue;
        };
        ratios = true;
        let _ = write!(out, "| **{num} / {den}** |");
        for (_, higher, pick) in COLUMNS {
            let (a, b) = (pick(ours), pick(theirs));
            let cell = match higher {
                Some(higher) if b > 0.0 && a.is_finite() && b.is_finite() => {
                    let r = a / b;
                    let text = format!("{r:.2}x");
                    if (r > 1.0) == *higher && r != 1.0 {
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
    if ratios {
        let _ = writeln!(
            out,
            "\nA ratio row divides the first stack's figure by the second's: above 1x is better \
             for ↑ columns, below 1x for ↓ columns; bold where ferrtc is ahead. Each stack with its \
             defaults negotiates a different SRTP cipher (ferrtc AES-128-GCM, str0m AES-256-GCM: \
             its DTLS server prefers it); \"{FERRTC_AES256}\" restricts ferrtc to str0m's. str0m's \
             receiver sends transport-wide congestion control feedback every 50 ms (the \
             \"Datagrams back\"), ferrtc's does not; \"{STR0M_NO_TWCC}\" leaves out the TWCC header \
             extension, which turns that feedback off. The last row is the closest like for like."
        );
    }
    let errors: Vec<_> = figures
        .iter()
        .filter_map(|(s, f)| f.as_ref().err().map(|e| (s, e)))
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors:");
        for (s, e) in errors {
            let _ = writeln!(out, "- {s}: {e}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_numbered_checked_and_probed() {
        let source = FrameSource::new(DEFAULT_FRAME_SIZE);
        let mut buf = Vec::new();
        source.frame(0, &mut buf);
        assert_eq!(buf.len(), DEFAULT_FRAME_SIZE);
        assert_eq!(buf[0] & 1, 0, "frame 0 is a keyframe");
        assert!(source.is_frame(0, &buf));
        assert!(!source.is_frame(1, &buf));
        let probe = source.probe().unwrap();
        for i in [1, 250, 251, 1000] {
            source.frame(i, &mut buf);
            assert_eq!(buf[0] & 1, 1, "delta frame");
            assert!(source.is_frame(i, &buf));
            assert!(buf.windows(16).any(|w| w == probe), "probe in frame {i}");
        }
        buf[100] ^= 1;
        assert!(!source.is_frame(1000, &buf));
        let mut next = 5;
        source.frame(6, &mut buf);
        assert!(check_frames(&source, &mut next, [&buf[..]]).is_err());
        assert!(FrameSource::new(200).probe().is_none());
    }

    #[test]
    fn rtp_is_told_from_rtcp() {
        assert!(is_rtp(&[0x80, 96, 0, 1]));
        assert!(is_rtp(&[0x90, 96 | 0x80]));
        assert!(!is_rtp(&[0x80, 200]));
        assert!(!is_rtp(&[0x81, 205]));
        assert!(!is_rtp(&[0x00, 1]));
        assert!(!is_rtp(&[22, 254, 253]));
    }
}
