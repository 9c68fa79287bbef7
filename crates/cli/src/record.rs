//! `ferrtc peer --record DIR`: every received track written to
//! `DIR/track-<mid>.<ext>` in the container of its negotiated codec (IVF
//! for VP8, VP9 and AV1, Ogg for Opus, Annex B for H.264), finished
//! properly when the track ends; each layer of a simulcast track (RFC
//! 8853) to `DIR/track-<mid>-<rid>.<ext>`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrtc::{Bytes, EncodedFrame, RtpReceiver, RtpTransceiver};
use ferrtc_media::h264::{AnnexBWriter, split_nal_units};
use ferrtc_media::ivf::{FourCc, IvfHeader, IvfWriter};
use ferrtc_media::ogg::PacketWriter;
use ferrtc_media::opus::{OpusHead, OpusTags, packet_samples};
use tokio::sync::mpsc;

/// The RTP clock of video, the timebase of the IVF files written.
const VIDEO_CLOCK: u32 = 90_000;

/// The RTP clock of Opus (RFC 7587 §4.1), also the rate of Ogg Opus
/// granule positions (RFC 7845 §4).
const OPUS_CLOCK: u32 = 48_000;

/// Frames waiting for a recording's writer thread at most; past that the
/// recorder waits (the receiver's queue then takes the slack).
const QUEUE: usize = 64;

/// How many names `track-<mid>-<n>.<ext>` are tried when `track-<mid>.<ext>`
/// exists.
const MAX_SUFFIX: u32 = 1000;

/// How far a frame's RTP timestamp may run ahead of the time that passed
/// since the frame before (a receiver that fell behind reads frames in a
/// burst) and still be taken as the same timeline.
const AHEAD: Duration = Duration::from_secs(10);

/// How far a frame's RTP timestamp may go back (a frame out of order) and
/// still be taken as the same timeline.
const BEHIND: Duration = Duration::from_secs(1);

/// RTP timestamps on a timeline that does not wrap: the first is 0, each
/// next one goes forward by its wrapping difference from the last; one
/// that goes back a little keeps the last position. A jump far ahead of
/// the time that passed, or far back, is a restarted stream (a new SSRC
/// with a new random timestamp base, RFC 3550 §5.1, §8.2): the timeline
/// goes on from the last position by the time that passed (at least one
/// frame's step) and follows the new timestamps from there.
#[derive(Debug)]
struct Timeline {
    /// The RTP clock rate (Hz).
    clock: u32,
    /// The last RTP timestamp, its position and when its frame came.
    last: Option<(u32, u64, Instant)>,
    /// The last step forward, the frame interval a restart goes on by.
    step: u64,
}

impl Timeline {
    fn new(clock: u32) -> Self {
        Timeline {
            clock,
            last: None,
            step: 1,
        }
    }

    /// `d` in ticks of the clock.
    fn ticks(&self, d: Duration) -> u64 {
        u64::try_from(d.as_nanos() * u128::from(self.clock) / 1_000_000_000).unwrap_or(u64::MAX)
    }

    /// The position of `rtp_timestamp`, of a frame that came at `at`.
    fn position(&mut self, rtp_timestamp: u32, at: Instant) -> u64 {
        let Some((ts, pos, then)) = self.last else {
            self.last = Some((rtp_timestamp, 0, at));
            return 0;
        };
        let elapsed = self.ticks(at.saturating_duration_since(then));
        let delta = rtp_timestamp.wrapping_sub(ts);
        let pos = if delta < 1 << 31 {
            let delta = u64::from(delta);
            if delta <= elapsed.saturating_add(self.ticks(AHEAD)) {
                if delta > 0 {
                    self.step = delta;
                }
                pos + delta
            } else {
                pos.saturating_add(elapsed.max(self.step))
            }
        } else if u64::from(delta.wrapping_neg()) <= self.ticks(BEHIND) {
            // Out of order: not a position to go on from.
            return pos;
        } else {
            pos.saturating_add(elapsed.max(self.step))
        };
        self.last = Some((rtp_timestamp, pos, at));
        pos
    }
}

/// The container of a codec: its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// IVF with this fourcc (VP8, VP9, AV1).
    Ivf(FourCc),
    /// Ogg Opus.
    Ogg,
    /// H.264 Annex B.
    AnnexB,
}

impl Format {
    /// The container of the codec named `name` (rtpmap), if any.
    fn of(name: &str) -> Option<Format> {
        Some(match name.to_ascii_uppercase().as_str() {
            "VP8" => Format::Ivf(FourCc::VP80),
            "VP9" => Format::Ivf(FourCc::VP90),
            "AV1" => Format::Ivf(FourCc::AV01),
            "OPUS" => Format::Ogg,
            "H264" => Format::AnnexB,
            _ => return None,
        })
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Ivf(_) => "ivf",
            Format::Ogg => "ogg",
            Format::AnnexB => "h264",
        }
    }
}

/// An AV1 temporal delimiter OBU: type 2, with a size field, of size 0
/// (AV1 §5.3.1, §5.6).
const TEMPORAL_DELIMITER: [u8; 2] = [2 << 3 | 0b10, 0];

/// Whether an AV1 frame's first OBU is a temporal delimiter. The RTP
/// payload format leaves them out (AV1 RTP §5: a sender should remove
/// them, the receiver knows where temporal units start), while a stored
/// stream must start each temporal unit with one (AV1 §7.5).
fn starts_with_temporal_delimiter(frame: &[u8]) -> bool {
    frame.first().is_some_and(|h| h >> 3 & 0x0f == 2)
}

/// One open recording.
enum Writer {
    Ivf {
        writer: IvfWriter<BufWriter<File>>,
        /// The pts (90 kHz) of each frame from its RTP timestamp.
        timeline: Timeline,
        /// AV1: each frame gets back the temporal delimiter RTP left out.
        av1: bool,
    },
    Opus {
        pages: PacketWriter<BufWriter<File>>,
        /// The start (48 kHz) of each packet from its RTP timestamp.
        timeline: Timeline,
        /// The granule position of the last packet written.
        granule: u64,
    },
    H264(AnnexBWriter<BufWriter<File>>),
}

/// A mid as a file name part: what is not a letter, digit, `-` or `_`
/// becomes `_` (the mid comes from the peer's SDP).
fn file_part(mid: &str) -> String {
    mid.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The width and height of a VP8 keyframe (RFC 6386 §9.1), else 0x0.
fn vp8_size(frame: &[u8]) -> (u16, u16) {
    match frame.get(3..10) {
        Some(b) if frame[0] & 1 == 0 && b[..3] == [0x9d, 0x01, 0x2a] => (
            u16::from_le_bytes([b[3], b[4]]) & 0x3fff,
            u16::from_le_bytes([b[5], b[6]]) & 0x3fff,
        ),
        _ => (0, 0),
    }
}

/// Creates `dir/track-<mid>.<ext>`, or when that exists (a mid that
/// reads the same once made a file name, or an earlier run)
/// `dir/track-<mid>-2.<ext>` and so on: never an existing file.
fn create_file(dir: &Path, mid: &str, ext: &str) -> Result<(File, PathBuf), String> {
    let part = file_part(mid);
    for n in 1..=MAX_SUFFIX {
        let name = if n == 1 {
            format!("track-{part}.{ext}")
        } else {
            format!("track-{part}-{n}.{ext}")
        };
        let path = dir.join(name);
        match File::options().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Err(format!(
        "{}: track-{part}.{ext} and {MAX_SUFFIX} more names exist",
        dir.display()
    ))
}

impl Writer {
    /// Creates the file of track `mid` in `dir` for `format` (`channels`
    /// for Ogg Opus; `first`, the first frame, gives a VP8 file its size)
    /// and writes its header.
    fn open(
        dir: &Path,
        mid: &str,
        format: Format,
        channels: u8,
        first: &[u8],
    ) -> Result<(Writer, PathBuf), String> {
        let (file, path) = create_file(dir, mid, format.extension())?;
        let out = BufWriter::new(file);
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let writer = match format {
            Format::Ivf(fourcc) => {
                let (w, h) = if fourcc == FourCc::VP80 {
                    vp8_size(first)
                } else {
                    (0, 0)
                };
                let header = IvfHeader::new(fourcc, w, h, VIDEO_CLOCK, 1);
                Writer::Ivf {
                    writer: IvfWriter::new(out, header).map_err(|e| err(&e))?,
                    timeline: Timeline::new(VIDEO_CLOCK),
                    av1: fourcc == FourCc::AV01,
                }
            }
            Format::Ogg => {
                let tags = OpusTags {
                    vendor: "ferrtc".into(),
                    comments: Vec::new(),
                };
                let head = OpusHead::new(channels, OPUS_CLOCK);
                // RFC 7845 §3: OpusHead alone on the first page, OpusTags
                // on the next, both at granule position 0.
                let mut pages = PacketWriter::new(out, rand_serial());
                let mut header = || -> Result<(), ferrtc_media::ogg::OggError> {
                    pages.write_packet(&head.to_bytes(), 0)?;
                    pages.flush_page()?;
                    pages.write_packet(&tags.to_bytes(), 0)?;
                    pages.flush_page()
                };
                header().map_err(|e| err(&e))?;
                Writer::Opus {
                    pages,
                    timeline: Timeline::new(OPUS_CLOCK),
                    granule: 0,
                }
            }
            Format::AnnexB => Writer::H264(AnnexBWriter::new(out)),
        };
        Ok((writer, path))
    }

    /// Writes one frame sent at `rtp_timestamp` and received at
    /// `received`: an IVF frame at the RTP time (90 kHz), an Ogg Opus
    /// packet ending at its RTP time (48 kHz) plus its samples, so that a
    /// packet lost or not sent (DTX) leaves a jump in the granule
    /// positions instead of moving the rest earlier ([`Timeline`]).
    fn write(&mut self, data: &[u8], rtp_timestamp: u32, received: Instant) -> Result<(), String> {
        match self {
            Writer::Ivf {
                writer,
                timeline,
                av1,
            } => {
                let pts = timeline.position(rtp_timestamp, received);
                let delimited;
                let frame = if *av1 && !starts_with_temporal_delimiter(data) {
                    delimited = [&TEMPORAL_DELIMITER[..], data].concat();
                    &delimited[..]
                } else {
                    data
                };
                writer.write_frame(pts, frame).map_err(|e| e.to_string())
            }
            Writer::Opus {
                pages,
                timeline,
                granule,
            } => {
                let samples = packet_samples(data).map_err(|e| e.to_string())?;
                let start = timeline.position(rtp_timestamp, received);
                // Granule positions never go back (RFC 7845 §4).
                *granule = (*granule).max(start + u64::from(samples));
                pages
                    .write_packet(data, *granule)
                    .map_err(|e| e.to_string())
            }
            Writer::H264(w) => {
                for nal in split_nal_units(data) {
                    w.write_nal(nal).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        }
    }

    /// Completes the file: the IVF frame count, the Ogg EOS page.
    fn finish(self) -> Result<(), String> {
        let mut out = match self {
            Writer::Ivf { writer, .. } => writer.finish_seekable().map_err(|e| e.to_string())?,
            Writer::Opus { pages, granule, .. } => {
                pages.finish(granule).map_err(|e| e.to_string())?
            }
            Writer::H264(w) => w.finish().map_err(|e| e.to_string())?,
        };
        out.flush().map_err(|e| e.to_string())
    }
}

/// An Ogg serial number that differs between runs (not a secret).
fn rand_serial() -> u32 {
    let b = ferrtc_media::track::std_random_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Keeps count of the recordings' writer threads, so that the peer can
/// wait at exit until every file is finished.
#[derive(Debug)]
pub struct Writers {
    /// Cloned into each writer thread, dropped when it ends.
    alive: Option<mpsc::Sender<()>>,
    /// Ends once every clone of `alive` is gone.
    ended: mpsc::Receiver<()>,
}

impl Default for Writers {
    fn default() -> Self {
        let (alive, ended) = mpsc::channel(1);
        Writers {
            alive: Some(alive),
            ended,
        }
    }
}

impl Writers {
    /// A token a writer thread holds while it runs (`None` once waiting).
    pub fn token(&self) -> Option<mpsc::Sender<()>> {
        self.alive.clone()
    }

    /// Waits until every writer thread started (and every recorder that
    /// may still start one, which holds a token too) has ended.
    pub async fn wait(&mut self) {
        self.alive = None;
        while self.ended.recv().await.is_some() {}
    }
}

/// A received frame as the writer thread takes it.
#[derive(Debug, Clone)]
struct Frame {
    data: Bytes,
    rtp_timestamp: u32,
    /// When the recorder got it.
    received: Instant,
}

impl From<EncodedFrame> for Frame {
    /// The frame, received now.
    fn from(f: EncodedFrame) -> Self {
        Frame {
            data: f.data,
            rtp_timestamp: f.rtp_timestamp,
            received: Instant::now(),
        }
    }
}

/// What a writer thread is given: where and how to write, and the first
/// frame.
struct Job {
    dir: PathBuf,
    mid: String,
    format: Format,
    channels: u8,
    first: Frame,
}

/// The body of a recording's writer thread: creates the file, writes the
/// frames as they come, and finishes the file when the recorder drops
/// its end of `frames`.
fn write_file(job: Job, mut frames: mpsc::Receiver<Frame>) {
    let Job {
        dir,
        mid,
        format,
        channels,
        first,
    } = job;
    let (mut writer, path) = match Writer::open(&dir, &mid, format, channels, &first.data) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot record track {mid}: {e}");
            return;
        }
    };
    tracing::info!("recording track {mid} to {}", path.display());
    let mut count = 0u64;
    let mut next = Some(first);
    while let Some(frame) = next {
        match writer.write(&frame.data, frame.rtp_timestamp, frame.received) {
            Ok(()) => count += 1,
            Err(e) => tracing::warn!("{}: frame not recorded: {e}", path.display()),
        }
        next = frames.blocking_recv();
    }
    match writer.finish() {
        Ok(()) => tracing::info!("recorded {count} frames to {}", path.display()),
        Err(e) => tracing::error!("{}: not finished: {e}", path.display()),
    }
}

/// Starts the writer thread of a recording; frames sent on the returned
/// queue are written in order, and the file is finished once the queue is
/// dropped. `token` ([`Writers`]) is held until then.
fn start_writer(job: Job, token: Option<mpsc::Sender<()>>) -> Result<mpsc::Sender<Frame>, String> {
    let (tx, rx) = mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name(format!("ferrtc-record-{}", file_part(&job.mid)))
        .spawn(move || {
            write_file(job, rx);
            drop(token);
        })
        .map_err(|e| format!("cannot start a writer thread: {e}"))?;
    Ok(tx)
}

/// Records the receiver's frames into `dir` until the track ends (the
/// transceiver stops or the connection closes). The format is chosen at
/// the first frame, by the codec negotiated then. Each simulcast layer
/// (RFC 8853, frames with a rid) goes to a file of its own,
/// `track-<mid>-<rid>.<ext>`; a track without simulcast to
/// `track-<mid>.<ext>`. Each file is created, written and finished on a
/// thread of its own, never on the runtime's.
pub async fn record(
    transceiver: RtpTransceiver,
    receiver: RtpReceiver,
    dir: PathBuf,
    token: Option<mpsc::Sender<()>>,
) {
    let Some(first) = receiver.recv_frame().await else {
        return;
    };
    let mid = transceiver.mid().unwrap_or_else(|| "unknown".into());
    let Some(codec) = receiver
        .get_parameters()
        .codecs
        .into_iter()
        .find(|c| !c.is_rtx())
    else {
        tracing::error!("track {mid}: no negotiated codec, not recorded");
        return;
    };
    let Some(format) = Format::of(&codec.name) else {
        tracing::error!("track {mid}: no file format for codec {}", codec.name);
        return;
    };
    tracing::info!("track {mid}: recording {}", codec.name);
    let channels = codec.channels.map_or(2, |c| u8::try_from(c).unwrap_or(2));
    // The writer of each layer (by rid), made at its first frame; `None`
    // once it gave up (logged there).
    let mut layers: Vec<(Option<String>, Option<mpsc::Sender<Frame>>)> = Vec::new();
    let mut next = Some(first);
    while let Some(frame) = next {
        let i = match layers.iter().position(|(rid, _)| *rid == frame.rid) {
            Some(i) => i,
            None => {
                let name = match &frame.rid {
                    Some(rid) => format!("{mid}-{rid}"),
                    None => mid.clone(),
                };
                let rid = frame.rid.clone();
                let job = Job {
                    dir: dir.clone(),
                    mid: name.clone(),
                    format,
                    channels,
                    first: frame.into(),
                };
                let writer = start_writer(job, token.clone())
                    .inspect_err(|e| tracing::error!("cannot record track {name}: {e}"))
                    .ok();
                layers.push((rid, writer));
                next = receiver.recv_frame().await;
                continue;
            }
        };
        if let Some(tx) = &layers[i].1
            && tx.send(frame.into()).await.is_err()
        {
            layers[i].1 = None;
        }
        next = receiver.recv_frame().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp_path::TempPath;
    use ferrtc_media::opus::OpusReader;

    /// A fresh directory for one test, removed when dropped.
    fn temp_dir(name: &str) -> TempPath {
        TempPath::dir(format!("ferrtc-record-{}-{name}", std::process::id()))
    }

    /// A 20 ms CELT packet (TOC 0xfc: 960 samples) carrying `i`.
    fn packet(i: u8) -> Frame {
        Frame {
            data: vec![0xfc, i, i, i].into(),
            rtp_timestamp: 0,
            received: Instant::now(),
        }
    }

    /// Records Opus packets sent at these RTP timestamps through a writer
    /// thread; the granule positions read back.
    async fn granules(name: &str, timestamps: &[u32]) -> Vec<u64> {
        let dir = temp_dir(name);
        let mut writers = Writers::default();
        let mut frames = timestamps.iter().enumerate().map(|(i, &ts)| Frame {
            rtp_timestamp: ts,
            ..packet(i as u8)
        });
        let job = Job {
            dir: dir.to_path_buf(),
            mid: "0".into(),
            format: Format::Ogg,
            channels: 2,
            first: frames.next().expect("a packet"),
        };
        let tx = start_writer(job, writers.token()).expect("thread");
        for f in frames {
            tx.send(f).await.expect("writer runs");
        }
        drop(tx);
        writers.wait().await;
        let file = std::fs::File::open(dir.join("track-0.ogg")).expect("recorded");
        let mut reader = OpusReader::new(file).expect("Ogg Opus");
        // The granule of each page, on its last packet.
        let mut out = Vec::new();
        let mut data = Vec::new();
        while let Some(p) = reader.next_packet().expect("packet") {
            data.push(p.data[1]);
            out.extend(p.granule_position);
        }
        assert_eq!(data, (0..timestamps.len() as u8).collect::<Vec<_>>());
        out
    }

    /// The writer thread writes a page per 4096 bytes: the granule of the
    /// last page is that of the last packet, which follows its RTP time
    /// across a gap (a lost or DTX packet) instead of the packet count.
    #[tokio::test(flavor = "current_thread")]
    async fn ogg_granules_follow_the_rtp_timestamps_across_a_gap() {
        // 20 ms packets; the one at 2920 is missing.
        let g = granules("gap", &[1000, 1960, 3880, 4840]).await;
        assert_eq!(g.last(), Some(&(4840 - 1000 + 960)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn ogg_granules_follow_the_rtp_timestamps_across_a_wrap() {
        let first = u32::MAX - 959;
        let g = granules("wrap", &[first, first.wrapping_add(960), 960, 3 * 960]).await;
        assert_eq!(g.last(), Some(&(4 * 960 + 960)));
    }

    /// Every packet's granule: a writer with one packet per page.
    #[test]
    fn each_granule_is_the_packet_end_at_its_rtp_time() {
        let dir = temp_dir("each");
        let (mut w, path) = Writer::open(&dir, "a", Format::Ogg, 2, &[]).expect("open");
        if let Writer::Opus { pages, .. } = &mut w {
            pages.set_target_page_size(1);
        }
        // A gap after the second packet; the fourth goes back (a reordered
        // packet): its granule does not go back.
        let t0 = Instant::now();
        for (i, ts) in [0u32, 960, 2880, 1920, 3840].into_iter().enumerate() {
            let at = t0 + Duration::from_millis(20 * i as u64);
            w.write(&packet(i as u8).data, ts, at).expect("write");
        }
        w.finish().expect("finish");
        let mut reader = OpusReader::new(std::fs::File::open(&path).expect("file")).expect("ogg");
        let mut got = Vec::new();
        while let Some(p) = reader.next_packet().expect("packet") {
            got.push(p.granule_position);
        }
        let want = [960, 1920, 3840, 3840, 4800].map(Some);
        assert_eq!(got, want);
    }

    /// A stream restarted behind the old timestamps (RFC 3550 §5.1,
    /// §8.2): the granule positions of the packets after it go on
    /// growing by their samples (RFC 7845 §4), instead of all staying at
    /// the last one before it.
    #[test]
    fn ogg_granules_go_on_after_a_stream_restart() {
        let dir = temp_dir("restart");
        let (mut w, path) = Writer::open(&dir, "a", Format::Ogg, 2, &[]).expect("open");
        if let Writer::Opus { pages, .. } = &mut w {
            pages.set_target_page_size(1);
        }
        let restart = 1920u32.wrapping_add(0x9000_0000);
        let timestamps = [0, 960, 1920, restart, restart + 960, restart + 1920];
        let t0 = Instant::now();
        for (i, &ts) in timestamps.iter().enumerate() {
            let at = t0 + Duration::from_millis(20 * i as u64);
            w.write(&packet(i as u8).data, ts, at).expect("write");
        }
        w.finish().expect("finish");
        let mut reader = OpusReader::new(File::open(&path).expect("file")).expect("ogg");
        let mut got = Vec::new();
        while let Some(p) = reader.next_packet().expect("packet") {
            got.extend(p.granule_position);
        }
        assert_eq!(got, [960, 1920, 2880, 3840, 4800, 5760]);
    }

    /// A pause of the sender (RFC 3550 §5.1: the timestamps go on with
    /// the time) that lasted as long as its timestamps say keeps its gap,
    /// even past the reading slack.
    #[test]
    fn a_pause_as_long_as_its_timestamps_keeps_its_gap() {
        let t0 = Instant::now();
        let mut t = Timeline::new(VIDEO_CLOCK);
        assert_eq!(t.position(5000, t0), 0);
        let minute = 60 * VIDEO_CLOCK;
        let later = t0 + Duration::from_secs(60);
        assert_eq!(t.position(5000 + minute, later), u64::from(minute));
    }

    /// Writes VP8 frames (RTP timestamps) to an IVF file, one every
    /// 33 ms; the pts read back.
    fn ivf_pts(name: &str, timestamps: &[u32]) -> Vec<u64> {
        let dir = temp_dir(name);
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
        let (mut w, path) =
            Writer::open(&dir, "v", Format::Ivf(FourCc::VP80), 2, &key).expect("open");
        let t0 = Instant::now();
        for (i, &ts) in timestamps.iter().enumerate() {
            let at = t0 + Duration::from_millis(33 * i as u64);
            w.write(&key, ts, at).expect("write");
        }
        w.finish().expect("finish");
        let reader =
            ferrtc_media::ivf::IvfReader::new(File::open(&path).expect("file")).expect("ivf");
        reader.map(|f| f.expect("frame").pts).collect()
    }

    /// AV1 over RTP comes without temporal delimiters; a recording has one
    /// at the start of each frame (AV1 §7.5), once.
    #[test]
    fn an_av1_recording_starts_each_frame_with_a_temporal_delimiter() {
        let dir = temp_dir("av1-td");
        // A sequence header OBU (type 1, with a size) and a frame with its
        // own delimiter already.
        let bare = [1 << 3 | 0b10, 1, 0];
        let delimited = [2 << 3 | 0b10, 0, 1 << 3 | 0b10, 1, 0];
        let (mut w, path) =
            Writer::open(&dir, "v", Format::Ivf(FourCc::AV01), 2, &bare).expect("open");
        let t0 = Instant::now();
        w.write(&bare, 0, t0).expect("write");
        w.write(&delimited, 3000, t0 + Duration::from_millis(33))
            .expect("write");
        w.finish().expect("finish");
        let reader =
            ferrtc_media::ivf::IvfReader::new(File::open(&path).expect("file")).expect("ivf");
        let frames: Vec<Vec<u8>> = reader.map(|f| f.expect("frame").data.to_vec()).collect();
        assert_eq!(frames, [delimited.to_vec(), delimited.to_vec()]);
    }

    /// A sender that restarts its stream (a new SSRC, RFC 3550 §8.2, with
    /// a new random timestamp base, §5.1) behind the old timestamps: the
    /// frames after it go on from where the file was, each later than
    /// the one before, instead of all taking the last position.
    #[test]
    fn ivf_pts_go_on_after_a_stream_restart_behind() {
        let restart = 7000u32.wrapping_add(0x9000_0000);
        let pts = ivf_pts(
            "restart-back",
            &[1000, 4000, 7000, restart, restart + 3000, restart + 6000],
        );
        assert!(pts.windows(2).all(|w| w[0] < w[1]), "{pts:?}");
        assert_eq!(pts[5] - pts[3], 6000, "{pts:?}");
    }

    /// A stream restart ahead of the old timestamps (by an hour at 90 kHz,
    /// 33 ms after the last frame) is not an hour of nothing in the file.
    #[test]
    fn ivf_pts_do_not_jump_an_hour_at_a_stream_restart_ahead() {
        let restart = 4000 + 3600 * VIDEO_CLOCK;
        let pts = ivf_pts("restart-ahead", &[1000, 4000, restart, restart + 3000]);
        assert!(
            pts[2] > pts[1] && pts[2] < pts[1] + VIDEO_CLOCK as u64,
            "{pts:?}"
        );
        assert_eq!(pts[3] - pts[2], 3000, "{pts:?}");
    }

    /// Mids that read the same as file names get files of their own, and
    /// an existing file is never truncated.
    #[test]
    fn colliding_names_get_a_suffix() {
        let dir = temp_dir("collide");
        std::fs::write(dir.join("track-x.ivf"), b"keep").expect("write");
        let (_, a) = create_file(&dir, "a.b", "ogg").expect("a.b");
        let (_, b) = create_file(&dir, "a/b", "ogg").expect("a/b");
        let (_, x) = create_file(&dir, "x", "ivf").expect("x");
        let names: Vec<_> = [&a, &b, &x]
            .iter()
            .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let keep = std::fs::read(dir.join("track-x.ivf")).expect("read");
        assert_eq!(
            names,
            ["track-a_b.ogg", "track-a_b-2.ogg", "track-x-2.ivf"].map(|n| Some(n.to_owned()))
        );
        assert_eq!(keep, b"keep");
    }
}
