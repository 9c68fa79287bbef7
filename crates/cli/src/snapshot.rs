//! `ferrtc peer --snapshot FILE.png` (with the `codecs` feature): every
//! received video track whose negotiated codecs include VP8 is decoded
//! from its first VP8 keyframe, and the first picture of any of them is
//! written as a PNG still. A track that is not VP8, gets no media or never
//! decodes gives up without keeping the others from trying; the peer goes
//! on as before; the file is written once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrtc::{Bytes, RtpReceiver};
use ferrtc_media::codecs::CodecError;
use ferrtc_media::codecs::vp8::{Vp8Decoder, keyframe_size};
use ferrtc_media::image::I420Image;

/// The least time between two keyframe requests while waiting for one.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(1);

/// Keyframes of one track that may fail to decode (or not be VP8 at all)
/// before its snapshot task gives up.
const MAX_FAILED_KEYFRAMES: u64 = 8;

/// What the snapshot tasks of one peer share: whether one of them has
/// written the still (or is writing it). Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Taken(Arc<AtomicBool>);

impl Taken {
    /// Whether the still is written or being written.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Claims the writing of the still: false when another task has it.
    fn claim(&self) -> bool {
        self.0
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The claimed write failed: another track may try.
    fn release(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Whether a track negotiated with codecs named `names` (RTX left out)
/// may carry VP8, the one codec decoded here.
fn may_be_vp8<'a>(mut names: impl Iterator<Item = &'a str>) -> bool {
    names.any(|n| n.eq_ignore_ascii_case("VP8"))
}

/// Decodes one frame on the blocking pool, handing the decoder back.
async fn decode(
    mut decoder: Vp8Decoder,
    data: Bytes,
) -> Option<(Vp8Decoder, Result<Option<I420Image>, CodecError>)> {
    tokio::task::spawn_blocking(move || {
        let picture = decoder.decode(&data);
        (decoder, picture)
    })
    .await
    .ok()
}

/// Writes `picture` to `path` as PNG: to a file beside it first, renamed
/// into place, so that nobody sees half a file.
fn write_png(path: &Path, picture: &I420Image) -> std::io::Result<()> {
    let bytes = ferrtc_media::png::write_rgb(&picture.to_rgb());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        // Nothing half written stays behind (a full disk, a directory in
        // the way).
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Tries to take the snapshot of `receiver`'s track into `path` (see the
/// module), unless another track's task has taken it (`taken`).
pub async fn snapshot(receiver: RtpReceiver, path: PathBuf, taken: Taken) {
    let mut frames = receiver.subscribe();
    let codecs: Vec<String> = receiver
        .get_parameters()
        .codecs
        .into_iter()
        .filter(|c| !c.is_rtx())
        .map(|c| c.name)
        .collect();
    if !may_be_vp8(codecs.iter().map(String::as_str)) {
        tracing::warn!("--snapshot: a video track is {codecs:?}; only VP8 is decoded");
        return;
    }
    let mut decoder = match Vp8Decoder::new() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("--snapshot: {e}");
            return;
        }
    };
    let mut started = false;
    let mut last_request: Option<Instant> = None;
    let mut failed = 0u64;
    while let Some(frame) = frames.recv().await {
        if taken.is_set() {
            return;
        }
        // By what arrives: a keyframe without VP8's start code (RFC 6386
        // §9.1) is another codec's (a track negotiated with several).
        let vp8_key = frame.keyframe && keyframe_size(&frame.data).is_some();
        if frame.keyframe && !vp8_key {
            failed += 1;
        }
        if !started && !vp8_key {
            if failed >= MAX_FAILED_KEYFRAMES {
                break;
            }
            // A decoder starts at a keyframe (RFC 6386 §9.1): ask for one
            // (RTCP PLI), now and then while none comes.
            if last_request.is_none_or(|t| t.elapsed() >= KEYFRAME_REQUEST_INTERVAL) {
                last_request = Some(Instant::now());
                let _ = receiver.request_keyframe().await;
            }
            continue;
        }
        let Some((d, picture)) = decode(decoder, frame.data).await else {
            return;
        };
        decoder = d;
        match picture {
            Ok(Some(picture)) => {
                if !taken.claim() {
                    return;
                }
                let (w, h) = (picture.width(), picture.height());
                let out = path.clone();
                let written = tokio::task::spawn_blocking(move || write_png(&out, &picture)).await;
                match written {
                    Ok(Ok(())) => tracing::info!("snapshot {w}x{h} written to {}", path.display()),
                    Ok(Err(e)) => {
                        taken.release();
                        tracing::error!("--snapshot {}: {e}", path.display());
                    }
                    Err(e) => {
                        taken.release();
                        tracing::error!("--snapshot: {e}");
                    }
                }
                return;
            }
            Ok(None) => started = true,
            Err(e) => {
                // A keyframe that does not decode: wait for the next one.
                failed += 1;
                tracing::debug!("--snapshot: frame not decoded ({failed} so far): {e}");
                started = false;
                if failed >= MAX_FAILED_KEYFRAMES {
                    break;
                }
            }
        }
    }
    tracing::warn!("--snapshot: a video track gave no VP8 picture ({failed} keyframes failed)");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp_path::TempPath;

    /// A fresh directory for one test, removed when dropped.
    fn temp_dir(name: &str) -> TempPath {
        TempPath::dir(format!("ferrtc-snap-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_failed_write_leaves_no_part_file() {
        let dir = temp_dir("part");
        // A directory where the PNG goes: the rename fails.
        let path = dir.join("still.png");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), b"x").unwrap();
        let picture = I420Image::filled(4, 2, ferrtc_media::image::Yuv::from_rgb([9; 3])).unwrap();
        assert!(write_png(&path, &picture).is_err());
        assert!(!dir.join("still.png.part").exists());
        let ok = dir.join("ok.png");
        write_png(&ok, &picture).unwrap();
        let png = ferrtc_media::png::read_rgb(&std::fs::read(&ok).unwrap()).unwrap();
        assert_eq!((png.width(), png.height()), (4, 2));
        assert!(!dir.join("ok.png.part").exists());
    }

    #[test]
    fn a_track_may_be_vp8_when_any_of_its_codecs_is() {
        assert!(may_be_vp8(["H264", "vp8"].into_iter()));
        assert!(!may_be_vp8(["H264", "VP9", "AV1"].into_iter()));
        assert!(!may_be_vp8(std::iter::empty()));
    }

    #[test]
    fn one_task_claims_the_still_and_a_failed_write_frees_it() {
        let taken = Taken::default();
        let other = taken.clone();
        assert!(!other.is_set());
        assert!(taken.claim());
        assert!(other.is_set() && !other.claim());
        taken.release();
        assert!(other.claim());
    }
}
