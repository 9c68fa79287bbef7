//! `ferrtc peer --play FILE`: a media file read whole, its codec, and a
//! task that writes its frames on a sender at the file's rate, looped.
//! With the `codecs` feature, `--play test-pattern` and `--play tone`:
//! live sources encoded as they are sent (VP8 moving colour bars, a
//! 440 Hz Opus tone), paced the same way.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrtc::{
    Bytes, MediaKind, PeerConnection, PeerConnectionState, RtpCodec, RtpSender, RtpSenderEvent,
};
use ferrtc_media::ivf::{FourCc, IvfReader};
use ferrtc_media::opus::OpusReader;
use ferrtc_media::pacing::{MIN_FRAME_DURATION, Pacer, SourceFrame};

/// The frame rate of a file without usable times: an Annex B file, which
/// carries none, or an IVF file whose timebase is zero or whose pts do
/// not convert.
const DEFAULT_FPS: u64 = 30;

/// How many due frames the player writes before it yields to the other
/// tasks (a late wake-up can find many due).
const BURST: usize = 16;

/// One frame of a file, shared by every pass of the loop.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The encoded frame.
    pub data: Bytes,
    /// Whether a decoder can start at it (always for audio).
    pub keyframe: bool,
}

/// A file's frames with their times.
type Frames = Vec<SourceFrame<Frame>>;

/// The time of frame `index` at [`DEFAULT_FPS`].
fn default_time(index: usize) -> Duration {
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    Duration::from_nanos(index.saturating_mul(1_000_000_000) / DEFAULT_FPS)
}

/// A file to play: its frames with their times, and the codec that sends
/// them (the rtpmap name).
#[derive(Debug, Clone)]
pub struct PlayFile {
    /// Where it was read from (for a generated source, its name).
    pub path: PathBuf,
    /// `VP8`, `VP9`, `AV1`, `H264` or `opus`.
    pub codec: &'static str,
    /// Audio or video.
    pub kind: MediaKind,
    /// Where the frames come from.
    pub source: Source,
}

/// Where the frames of a [`PlayFile`] come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file's frames, in file order.
    File(Frames),
    /// The VP8 test pattern, encoded live.
    #[cfg(feature = "codecs")]
    TestPattern,
    /// The Opus tone, encoded live.
    #[cfg(feature = "codecs")]
    Tone,
}

/// The `--play` names of the generated sources.
pub const GENERATED: [&str; 2] = ["test-pattern", "tone"];

/// The generated source `name` (one of [`GENERATED`]), or `None` for a
/// file name.
#[cfg(feature = "codecs")]
pub fn generated(name: &Path) -> Option<PlayFile> {
    let (codec, kind, source) = match name.to_str()? {
        "test-pattern" => ("VP8", MediaKind::Video, Source::TestPattern),
        "tone" => ("opus", MediaKind::Audio, Source::Tone),
        _ => return None,
    };
    Some(PlayFile {
        path: name.to_owned(),
        codec,
        kind,
        source,
    })
}

/// Why a file cannot be played: a format not supported (a usage error) or
/// a file that cannot be read.
#[derive(Debug)]
pub enum LoadError {
    /// The format (by extension or IVF fourcc) is not one ferrtc plays.
    Unsupported(String),
    /// The file could not be read or parsed.
    Bad(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Unsupported(s) | LoadError::Bad(s) => f.write_str(s),
        }
    }
}

/// The extension of `path`, lowercase.
fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Reads a file to play: IVF (VP8, VP9 or AV1 by its fourcc), Ogg Opus
/// (`.ogg`, `.opus`) or H.264 Annex B (`.h264`, `.264`).
pub fn load(path: &Path) -> Result<PlayFile, LoadError> {
    let ext = extension(path);
    if !matches!(ext.as_str(), "ivf" | "ogg" | "opus" | "h264" | "264") {
        return Err(LoadError::Unsupported(format!(
            "{}: not an IVF, Ogg Opus or .h264 file",
            path.display()
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|e| LoadError::Bad(format!("{}: {e}", path.display())))?;
    let bad = |e: &dyn std::fmt::Display| LoadError::Bad(format!("{}: {e}", path.display()));
    let (codec, kind, frames) = match ext.as_str() {
        "ivf" => {
            let (codec, frames) = ivf_frames(&bytes).map_err(|e| match e {
                LoadError::Unsupported(s) => {
                    LoadError::Unsupported(format!("{}: {s}", path.display()))
                }
                LoadError::Bad(s) => bad(&s),
            })?;
            (codec, MediaKind::Video, frames)
        }
        "ogg" | "opus" => (
            "opus",
            MediaKind::Audio,
            opus_frames(&bytes).map_err(|e| bad(&e))?,
        ),
        _ => (
            "H264",
            MediaKind::Video,
            h264_frames(&bytes).map_err(|e| bad(&e))?,
        ),
    };
    if frames.is_empty() {
        return Err(LoadError::Bad(format!("{}: no frames", path.display())));
    }
    let frames = checked_times(frames).map_err(|e| bad(&e))?;
    Ok(PlayFile {
        path: path.to_owned(),
        codec,
        kind,
        source: Source::File(frames),
    })
}

/// Refuses a clip that lasts no time at all (looped, it would have to
/// send every frame at once, forever), and makes every frame last at
/// least [`MIN_FRAME_DURATION`].
fn checked_times(mut frames: Frames) -> Result<Frames, &'static str> {
    let (Some(first), Some(last)) = (frames.first(), frames.last()) else {
        return Ok(frames);
    };
    let total = last
        .pts
        .saturating_sub(first.pts)
        .saturating_add(last.duration);
    if total.is_zero() {
        return Err("the clip lasts no time (every frame has the same time and no duration)");
    }
    for f in &mut frames {
        f.duration = f.duration.max(MIN_FRAME_DURATION);
    }
    Ok(frames)
}

/// The IVF frames with their times: the pts in the header's timebase, or
/// the frame index at [`DEFAULT_FPS`] when the timebase is zero or a pts
/// does not convert. A frame lasts until the next one's time, the last one
/// as long as the one before it (a single frame: one frame at 30 fps).
fn ivf_frames(bytes: &[u8]) -> Result<(&'static str, Frames), LoadError> {
    let bad = |e: ferrtc_media::ivf::IvfError| LoadError::Bad(e.to_string());
    let reader = IvfReader::new(bytes).map_err(bad)?;
    let header = *reader.header();
    let codec = match header.fourcc {
        FourCc::VP80 => "VP8",
        FourCc::VP90 => "VP9",
        FourCc::AV01 => "AV1",
        other => return Err(LoadError::Unsupported(format!("IVF fourcc {other}"))),
    };
    let frames: Vec<_> = reader.collect::<Result<_, _>>().map_err(bad)?;
    let times: Vec<Duration> = frames
        .iter()
        .map(|f| header.pts_to_duration(f.pts))
        .collect::<Option<_>>()
        .unwrap_or_else(|| {
            tracing::warn!("IVF timebase unusable: playing at {DEFAULT_FPS} fps");
            (0..frames.len()).map(default_time).collect()
        });
    let out = frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let duration = match (times.get(i + 1), i.checked_sub(1)) {
                (Some(next), _) => next.saturating_sub(times[i]),
                (None, Some(before)) => times[i].saturating_sub(times[before]),
                (None, None) => default_time(1),
            };
            SourceFrame {
                pts: times[i],
                duration,
                frame: Frame {
                    keyframe: header.fourcc.is_keyframe(&f.data),
                    data: f.data.into(),
                },
            }
        })
        .collect();
    Ok((codec, out))
}

fn opus_frames(bytes: &[u8]) -> Result<Frames, ferrtc_media::opus::OpusError> {
    let reader = OpusReader::new(bytes)?;
    let mut pts = Duration::ZERO;
    let mut out = Vec::new();
    for packet in reader {
        let packet = packet?;
        let duration = packet.duration();
        out.push(SourceFrame {
            pts,
            duration,
            frame: Frame {
                data: packet.data.into(),
                keyframe: true,
            },
        });
        pts += duration;
    }
    Ok(out)
}

fn h264_frames(bytes: &[u8]) -> Result<Frames, ferrtc_media::h264::AnnexBError> {
    let mut reader = ferrtc_media::h264::AnnexBReader::new(bytes);
    let mut out = Vec::new();
    while let Some(au) = reader.next_access_unit()? {
        let i = out.len();
        out.push(SourceFrame {
            pts: default_time(i),
            duration: default_time(i + 1) - default_time(i),
            frame: Frame {
                data: au.to_annex_b().into(),
                keyframe: au.is_keyframe(),
            },
        });
    }
    Ok(out)
}

/// Whether `codec` (negotiated) is the file's codec.
pub fn same_codec(file: &str, codec: &RtpCodec) -> bool {
    codec.name.eq_ignore_ascii_case(file)
}

/// The capabilities of the file's kind with the file's codec (and its
/// RTX) first; `only` keeps nothing else (an answer then accepts the
/// file's codec or nothing: it keeps the offerer's order otherwise).
pub fn preferences(file: &PlayFile, only: bool) -> Vec<RtpCodec> {
    let all = RtpSender::get_capabilities(file.kind);
    let first: Vec<RtpCodec> = all
        .iter()
        .filter(|c| same_codec(file.codec, c))
        .cloned()
        .collect();
    let rtx = all.iter().filter(|c| {
        c.is_rtx()
            && c.apt()
                .is_some_and(|apt| first.iter().any(|f| f.payload_type == apt))
    });
    // Telephone events ride along with an audio codec (RFC 4733 §2.1):
    // kept so that `--dtmf` and the peer's tones still work.
    let events = all
        .iter()
        .filter(|c| c.is_telephone_event() && first.iter().any(|f| f.clock_rate == c.clock_rate));
    let mut out: Vec<RtpCodec> = first.clone();
    out.extend(rtx.cloned());
    out.extend(events.cloned());
    if !only {
        let rest: Vec<RtpCodec> = all.into_iter().filter(|c| !out.contains(c)).collect();
        out.extend(rest);
    }
    out
}

/// Waits until the connection is connected: `false` if it closed or
/// failed first.
async fn connected(pc: &PeerConnection) -> bool {
    loop {
        match pc.connection_state().await {
            PeerConnectionState::Connected => return true,
            PeerConnectionState::Closed | PeerConnectionState::Failed => return false,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Plays `file` on `sender` from the moment the connection is connected,
/// until the transceiver stops or the connection closes (the sender's
/// events end).
pub async fn play(pc: PeerConnection, sender: RtpSender, file: PlayFile) {
    if !connected(&pc).await {
        return;
    }
    tracing::info!("playing {} ({})", file.path.display(), file.codec);
    match file.source {
        Source::File(frames) => play_frames(sender, file.path, frames).await,
        #[cfg(feature = "codecs")]
        Source::TestPattern => live::play(sender, file.path, live::Live::test_pattern()).await,
        #[cfg(feature = "codecs")]
        Source::Tone => live::play(sender, file.path, live::Live::tone()).await,
    }
}

/// Writes a file's frames on `sender` at the file's rate, looped. A
/// keyframe request from the peer makes it go on from the file's next
/// keyframe (the first one when none is left before the end), at once.
async fn play_frames(sender: RtpSender, path: PathBuf, frames: Frames) {
    let mut pacer = Pacer::from_frames(frames, true);
    let mut keyframe_wanted = false;
    loop {
        let now = Instant::now();
        if std::mem::take(&mut keyframe_wanted) && pacer.skip_to(|f: &Frame| f.keyframe) {
            tracing::debug!("{}: keyframe requested, skipping to one", path.display());
        }
        let mut written = 0;
        while written < BURST {
            let Some(f) = pacer.poll_frame(now) else {
                break;
            };
            written += 1;
            match sender.write_frame(&f.frame.data, f.duration) {
                Ok(()) => {}
                Err(ferrtc::Error::Closed) => return,
                // Not connected for now (or stopped: the events end).
                Err(e) => tracing::debug!("frame of {} not sent: {e}", path.display()),
            }
        }
        if written == BURST {
            // More may be due: let the connection's task send these first.
            tokio::task::yield_now().await;
            continue;
        }
        let Some(due) = pacer.next_due(now) else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
            event = sender.next_event() => match event {
                Some(RtpSenderEvent::KeyframeRequest) => keyframe_wanted = true,
                Some(_) => {}
                None => {
                    tracing::info!("{}: stopped playing (track ended)", path.display());
                    return;
                }
            },
        }
    }
}

/// The live sources of `--play test-pattern` and `--play tone`.
#[cfg(feature = "codecs")]
mod live {
    use super::*;
    use ferrtc_media::codecs::CodecError;
    use ferrtc_media::codecs::source::{SourceFrame as Encoded, TestPatternSource, ToneSource};
    use ferrtc_media::codecs::vp8::Vp8Config;

    /// The tone's frequency, in Hz.
    const TONE_HZ: u32 = 440;
    /// The tone's Opus bitrate, bit/s.
    const TONE_BITRATE: u32 = 32_000;

    /// A live source: it encodes each frame when asked.
    pub enum Live {
        Pattern(Box<TestPatternSource>),
        Tone(Box<ToneSource>),
    }

    impl Live {
        /// The test pattern at 640x480, 30 fps, 1 Mbit/s.
        pub fn test_pattern() -> Result<Live, CodecError> {
            Ok(Live::Pattern(Box::new(TestPatternSource::new(
                Vp8Config::default(),
            )?)))
        }

        /// A 440 Hz tone.
        pub fn tone() -> Result<Live, CodecError> {
            Ok(Live::Tone(Box::new(ToneSource::new(
                TONE_HZ,
                TONE_BITRATE,
            )?)))
        }

        fn next(&mut self, force_keyframe: bool) -> Result<Encoded, CodecError> {
            match self {
                Live::Pattern(s) => s.next_frame(force_keyframe),
                Live::Tone(s) => s.next_frame(),
            }
        }
    }

    /// Encodes the source's next frame on the blocking pool (a 640x480
    /// VP8 frame takes milliseconds), handing the source back.
    async fn encode(
        mut source: Live,
        force_keyframe: bool,
    ) -> Option<(Live, Result<Encoded, CodecError>)> {
        tokio::task::spawn_blocking(move || {
            let frame = source.next(force_keyframe);
            (source, frame)
        })
        .await
        .ok()
    }

    /// Writes the source's frames on `sender` as they fall due, encoding
    /// each just ahead of its time; a keyframe request from the peer makes
    /// the next picture encoded a keyframe.
    pub async fn play(sender: RtpSender, name: PathBuf, live: Result<Live, CodecError>) {
        let name = name.display().to_string();
        let mut source = match live {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("{name}: cannot start the encoder: {e}");
                return;
            }
        };
        let mut pacer: Pacer<Bytes> = Pacer::new(false);
        let mut pts = Duration::ZERO;
        let mut keyframe_wanted = false;
        loop {
            while pacer.wants_frame() {
                let Some(s) = source.take() else { return };
                let Some((s, frame)) = encode(s, std::mem::take(&mut keyframe_wanted)).await else {
                    return;
                };
                source = Some(s);
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::error!("{name}: encoding failed, stopped playing: {e}");
                        return;
                    }
                };
                pacer.push(SourceFrame {
                    pts,
                    duration: frame.duration,
                    frame: frame.data.into(),
                });
                pts += frame.duration;
            }
            let now = Instant::now();
            while let Some(f) = pacer.poll_frame(now) {
                match sender.write_frame(&f.frame, f.duration) {
                    Ok(()) => {}
                    Err(ferrtc::Error::Closed) => return,
                    Err(e) => tracing::debug!("frame of {name} not sent: {e}"),
                }
            }
            if pacer.wants_frame() {
                continue;
            }
            let Some(due) = pacer.next_due(now) else {
                return;
            };
            tokio::select! {
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
                event = sender.next_event() => match event {
                    Some(RtpSenderEvent::KeyframeRequest) => {
                        tracing::debug!("{name}: keyframe requested");
                        keyframe_wanted = true;
                    }
                    Some(_) => {}
                    None => {
                        tracing::info!("{name}: stopped playing (track ended)");
                        return;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp_path::TempPath;
    use ferrtc_media::ivf::{IvfHeader, IvfWriter};

    /// Writes an IVF (VP8) file with these pts and a timebase of
    /// 1/`rate`; frame 0 and 3 are keyframes.
    fn ivf_file(name: &str, rate: u32, pts: &[u64]) -> TempPath {
        let mut w = IvfWriter::new(Vec::new(), IvfHeader::new(FourCc::VP80, 2, 2, rate, 1))
            .expect("header");
        for (i, &p) in pts.iter().enumerate() {
            let tag = if i % 3 == 0 { 0x10 } else { 0x11 };
            w.write_frame(p, &[tag, 0, 0, i as u8]).expect("frame");
        }
        TempPath::file(
            format!("ferrtc-play-{}-{name}.ivf", std::process::id()),
            w.finish().expect("finish"),
        )
    }

    fn frames(file: &PlayFile) -> &Frames {
        match &file.source {
            Source::File(frames) => frames,
            #[cfg(feature = "codecs")]
            _ => panic!("not a file"),
        }
    }

    fn times(file: &PlayFile) -> Vec<(Duration, Duration)> {
        frames(file).iter().map(|f| (f.pts, f.duration)).collect()
    }

    #[test]
    fn an_ivf_with_a_zero_rate_plays_at_30_fps() {
        let path = ivf_file("rate0", 0, &[0, 1, 2, 3]);
        let file = load(&path).expect("loads");
        let frame = |i: u64| Duration::from_nanos(i * 1_000_000_000 / 30);
        // The last frame lasts as long as the one before it.
        let step = |i: u64| frame(i.min(2) + 1) - frame(i.min(2));
        let want: Vec<_> = (0..4).map(|i| (frame(i), step(i))).collect();
        assert_eq!(times(&file), want);
        let keys: Vec<bool> = frames(&file).iter().map(|f| f.frame.keyframe).collect();
        assert_eq!(keys, [true, false, false, true]);
    }

    /// A file's times are untrusted: the largest pts at a 1/1 timebase
    /// loads (the pacer caps media time) instead of overflowing.
    #[test]
    fn an_ivf_with_times_near_the_end_of_u64_loads() {
        let path = ivf_file("huge-pts", 1, &[0, u64::MAX]);
        let loaded = load(&path);
        assert!(loaded.is_ok(), "{:?}", loaded.err().map(|e| e.to_string()));
    }

    #[test]
    fn a_clip_of_no_duration_is_refused() {
        let path = ivf_file("same-pts", 30, &[5, 5, 5]);
        let err = load(&path).expect_err("refused");
        assert!(matches!(err, LoadError::Bad(_)), "{err}");
        assert!(err.to_string().contains("lasts no time"), "{err}");
    }

    #[test]
    fn every_frame_lasts_at_least_a_millisecond() {
        // Frames 1 and 2 share a pts: frame 1 would last 0.
        let path = ivf_file("dup-pts", 1000, &[0, 40, 40, 80]);
        let file = load(&path).expect("loads");
        let ms = Duration::from_millis;
        assert_eq!(
            times(&file),
            [
                (ms(0), ms(40)),
                (ms(40), ms(1)),
                (ms(40), ms(40)),
                (ms(80), ms(40))
            ]
        );
    }
}
