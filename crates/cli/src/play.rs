//! `ferrtc peer --play FILE`: a media file read whole, its codec, and a
//! task that writes its frames on a sender at the file's rate, looped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrtc::{MediaKind, PeerConnection, PeerConnectionState, RtpCodec, RtpSender};
use ferrtc_media::ivf::{FourCc, IvfReader};
use ferrtc_media::opus::OpusReader;
use ferrtc_media::pacing::{Pacer, SourceFrame};

/// The frame rate of an Annex B file, which carries no timestamps.
const H264_FPS: u64 = 30;

/// A file's frames with their times.
type Frames = Vec<SourceFrame<Vec<u8>>>;

/// A file to play: its frames with their times, and the codec that sends
/// them (the rtpmap name).
#[derive(Debug, Clone)]
pub struct PlayFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// `VP8`, `VP9`, `AV1`, `H264` or `opus`.
    pub codec: &'static str,
    /// Audio or video.
    pub kind: MediaKind,
    /// The frames, in file order.
    pub frames: Frames,
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
    Ok(PlayFile {
        path: path.to_owned(),
        codec,
        kind,
        frames,
    })
}

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
    let pts = |i: usize| header.pts_to_duration(frames[i].pts).unwrap_or_default();
    let out = (0..frames.len())
        .map(|i| {
            let duration = if i + 1 < frames.len() {
                pts(i + 1).saturating_sub(pts(i))
            } else if i > 0 {
                pts(i).saturating_sub(pts(i - 1))
            } else {
                Duration::from_millis(33)
            };
            SourceFrame {
                pts: pts(i),
                duration,
                frame: frames[i].data.clone(),
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
            frame: packet.data,
        });
        pts += duration;
    }
    Ok(out)
}

fn h264_frames(bytes: &[u8]) -> Result<Frames, ferrtc_media::h264::AnnexBError> {
    let mut reader = ferrtc_media::h264::AnnexBReader::new(bytes);
    let frame = Duration::from_nanos(1_000_000_000 / H264_FPS);
    let mut out = Vec::new();
    while let Some(au) = reader.next_access_unit()? {
        let pts = frame * u32::try_from(out.len()).unwrap_or(u32::MAX);
        out.push(SourceFrame {
            pts,
            duration: frame,
            frame: au.to_annex_b(),
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

/// Writes the file's frames on `sender` at the file's rate, looped, from
/// the moment the connection is connected, until the connection closes.
pub async fn play(pc: PeerConnection, sender: RtpSender, file: PlayFile) {
    loop {
        match pc.connection_state().await {
            PeerConnectionState::Connected => break,
            PeerConnectionState::Closed | PeerConnectionState::Failed => return,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    tracing::info!("playing {} ({})", file.path.display(), file.codec);
    let mut pacer = Pacer::from_frames(file.frames, true);
    loop {
        let now = Instant::now();
        while let Some(f) = pacer.poll_frame(now) {
            match sender.write_frame(&f.frame, f.duration) {
                Ok(()) => {}
                Err(ferrtc::Error::Closed) => return,
                Err(e) => {
                    if pc.connection_state().await == PeerConnectionState::Closed {
                        return;
                    }
                    tracing::debug!("frame of {} not sent: {e}", file.path.display());
                }
            }
        }
        match pacer.next_due(now) {
            Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
            None => return,
        }
    }
}
