//! `ferrtc peer --record DIR`: every received track written to
//! `DIR/track-<mid>.<ext>` in the container of its negotiated codec (IVF
//! for VP8, VP9 and AV1, Ogg for Opus, Annex B for H.264), finished
//! properly when the track ends.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use ferrtc::{EncodedFrame, RtpReceiver, RtpTransceiver};
use ferrtc_media::h264::{AnnexBWriter, split_nal_units};
use ferrtc_media::ivf::{FourCc, IvfHeader, IvfWriter};
use ferrtc_media::opus::{OpusHead, OpusTags, OpusWriter};

/// The RTP clock of video, the timebase of the IVF files written.
const VIDEO_CLOCK: u32 = 90_000;

/// One open recording.
enum Writer {
    Ivf {
        writer: IvfWriter<BufWriter<File>>,
        /// The RTP timestamp of the last frame and its pts.
        last: Option<(u32, u64)>,
    },
    Opus(OpusWriter<BufWriter<File>>),
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

impl Writer {
    /// Opens `dir/track-<mid>.<ext>` for `codec`; `None` (logged) for a
    /// codec that has no container here.
    fn open(
        dir: &Path,
        mid: &str,
        codec: &ferrtc::RtpCodec,
        first: &EncodedFrame,
    ) -> Result<Option<(Writer, PathBuf)>, String> {
        let name = codec.name.to_ascii_uppercase();
        let (ext, fourcc) = match name.as_str() {
            "VP8" => ("ivf", Some(FourCc::VP80)),
            "VP9" => ("ivf", Some(FourCc::VP90)),
            "AV1" => ("ivf", Some(FourCc::AV01)),
            "OPUS" => ("ogg", None),
            "H264" => ("h264", None),
            _ => {
                tracing::error!("track {mid}: no file format for codec {}", codec.name);
                return Ok(None);
            }
        };
        let path = dir.join(format!("track-{}.{ext}", file_part(mid)));
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let out = BufWriter::new(file);
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let writer = match (fourcc, name.as_str()) {
            (Some(fourcc), _) => {
                let (w, h) = if fourcc == FourCc::VP80 {
                    vp8_size(&first.data)
                } else {
                    (0, 0)
                };
                let header = IvfHeader::new(fourcc, w, h, VIDEO_CLOCK, 1);
                Writer::Ivf {
                    writer: IvfWriter::new(out, header).map_err(|e| err(&e))?,
                    last: None,
                }
            }
            (None, "OPUS") => {
                let channels = codec.channels.map_or(2, |c| u8::try_from(c).unwrap_or(2));
                let tags = OpusTags {
                    vendor: "ferrtc".into(),
                    comments: Vec::new(),
                };
                let head = OpusHead::new(channels, 48_000);
                Writer::Opus(
                    OpusWriter::new(out, rand_serial(), &head, &tags).map_err(|e| err(&e))?,
                )
            }
            _ => Writer::H264(AnnexBWriter::new(out)),
        };
        Ok(Some((writer, path)))
    }

    fn write(&mut self, frame: &EncodedFrame) -> Result<(), String> {
        match self {
            Writer::Ivf { writer, last } => {
                let pts = match *last {
                    None => 0,
                    Some((ts, pts)) => {
                        // Forward by the wrapping difference; a frame that
                        // goes back keeps the last pts.
                        let delta = frame.rtp_timestamp.wrapping_sub(ts);
                        if delta < 1 << 31 {
                            pts + u64::from(delta)
                        } else {
                            pts
                        }
                    }
                };
                *last = Some((frame.rtp_timestamp, pts));
                writer
                    .write_frame(pts, &frame.data)
                    .map_err(|e| e.to_string())
            }
            Writer::Opus(w) => w.write_packet(&frame.data).map_err(|e| e.to_string()),
            Writer::H264(w) => {
                for nal in split_nal_units(&frame.data) {
                    w.write_nal(nal).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        }
    }

    /// Completes the file: the IVF frame count, the Ogg EOS page.
    fn finish(self) -> Result<(), String> {
        use std::io::Write;
        let mut out = match self {
            Writer::Ivf { writer, .. } => writer.finish_seekable().map_err(|e| e.to_string())?,
            Writer::Opus(w) => w.finish().map_err(|e| e.to_string())?,
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

/// Records the receiver's frames into `dir` until the track ends (the
/// transceiver stops or the connection closes). The file is chosen at the
/// first frame, by the codec negotiated then.
pub async fn record(transceiver: RtpTransceiver, receiver: RtpReceiver, dir: PathBuf) {
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
    let (mut writer, path) = match Writer::open(&dir, &mid, &codec, &first) {
        Ok(Some(w)) => w,
        Ok(None) => return,
        Err(e) => {
            tracing::error!("cannot record track {mid}: {e}");
            return;
        }
    };
    tracing::info!(
        "recording track {mid} ({}) to {}",
        codec.name,
        path.display()
    );
    let mut frames = 0u64;
    let mut next = Some(first);
    while let Some(frame) = next {
        if let Err(e) = writer.write(&frame) {
            tracing::warn!("{}: frame not recorded: {e}", path.display());
        } else {
            frames += 1;
        }
        next = receiver.recv_frame().await;
    }
    match writer.finish() {
        Ok(()) => tracing::info!("recorded {frames} frames to {}", path.display()),
        Err(e) => tracing::error!("{}: not finished: {e}", path.display()),
    }
}
