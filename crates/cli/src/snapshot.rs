//! `ferrtc peer --snapshot FILE.png` (with the `codecs` feature): the
//! first received video track is decoded (VP8) from its first keyframe,
//! and the first picture written as a PNG still. The peer goes on as
//! before; the file is written once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrtc::RtpReceiver;
use ferrtc_media::codecs::CodecError;
use ferrtc_media::codecs::vp8::Vp8Decoder;
use ferrtc_media::image::I420Image;

/// The least time between two keyframe requests while waiting for one.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(1);

/// Decodes one frame on the blocking pool, handing the decoder back.
async fn decode(
    mut decoder: Vp8Decoder,
    data: Arc<[u8]>,
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
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Takes the snapshot of `receiver`'s track into `path` (see the module).
pub async fn snapshot(receiver: RtpReceiver, path: PathBuf) {
    let mut frames = receiver.subscribe();
    let Some(first) = frames.recv().await else {
        return;
    };
    let codec = receiver
        .get_parameters()
        .codecs
        .into_iter()
        .find(|c| !c.is_rtx())
        .map(|c| c.name)
        .unwrap_or_default();
    if !codec.eq_ignore_ascii_case("VP8") {
        tracing::error!("--snapshot: the video track is {codec:?}; only VP8 is decoded");
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
    let mut next = Some(first);
    let mut failed = 0u64;
    while let Some(frame) = next {
        if !started && !frame.keyframe {
            // A decoder starts at a keyframe (RFC 6386 §9.1): ask for one
            // (RTCP PLI), now and then while none comes.
            if last_request.is_none_or(|t| t.elapsed() >= KEYFRAME_REQUEST_INTERVAL) {
                last_request = Some(Instant::now());
                let _ = receiver.request_keyframe().await;
            }
            next = frames.recv().await;
            continue;
        }
        let Some((d, picture)) = decode(decoder, frame.data).await else {
            return;
        };
        decoder = d;
        match picture {
            Ok(Some(picture)) => {
                let (w, h) = (picture.width(), picture.height());
                let out = path.clone();
                let written = tokio::task::spawn_blocking(move || write_png(&out, &picture)).await;
                match written {
                    Ok(Ok(())) => tracing::info!("snapshot {w}x{h} written to {}", path.display()),
                    Ok(Err(e)) => tracing::error!("--snapshot {}: {e}", path.display()),
                    Err(e) => tracing::error!("--snapshot: {e}"),
                }
                return;
            }
            Ok(None) => started = true,
            Err(e) => {
                // A keyframe that does not decode: wait for the next one.
                failed += 1;
                tracing::debug!("--snapshot: frame not decoded ({failed} so far): {e}");
                started = false;
            }
        }
        next = frames.recv().await;
    }
}
