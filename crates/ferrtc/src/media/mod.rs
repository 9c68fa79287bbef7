//! Media on the async API (W3C webrtc-pc §5): `RTCRtpTransceiver`,
//! `RTCRtpSender` and `RTCRtpReceiver` handles, the `track` event, and
//! the encoded frames the application writes and reads.
//!
//! ferrtc neither captures, encodes nor decodes: a sender takes encoded
//! frames from the application ([`RtpSender::write_frame`], the sample
//! writer) and a receiver gives whole encoded frames back
//! ([`RtpReceiver::recv_frame`], the frame reader). Between the two the
//! core payloads, numbers, protects, repairs and reassembles.
//!
//! | module | job |
//! |---|---|
//! | `shared.rs` | the state of one transceiver that its handles read and the task updates |
//! | `transceiver.rs` | [`RtpTransceiver`] |
//! | `sender.rs` | [`RtpSender`], its parameters and keyframe requests |
//! | `receiver.rs` | [`RtpReceiver`] and its frames |
//! | `peer.rs` | the `PeerConnection` calls (`addTrack`, `addTransceiver`, ...) |
//! | `task.rs` | the connection task's side: handles by transceiver, commands, core events |
//! | `keyframe.rs` | which written frames are keyframes, by codec |
//! | `dtmf.rs` | [`DtmfSender`] (`RTCDTMFSender`) and the tones a receiver hears |

mod dtmf;
mod keyframe;
mod peer;
mod receiver;
mod sender;
mod shared;
mod task;
mod transceiver;

pub use bytes::Bytes;
pub use dtmf::{DtmfSender, DtmfTone, DtmfToneChange};
pub use ferrtc_core::{RtpCodec, RtpSource, RtpTransceiverDirection, SendEncoding};
pub use ferrtc_media::track::{MediaKind, MediaStream, MediaStreamTrack};
pub use receiver::{RtpReceiveParameters, RtpReceiver, RtpReceiverFrames};
pub use sender::{RtpEncodingParameters, RtpSendParameters, RtpSender, RtpSenderEvent};
pub(crate) use shared::Link;
pub(crate) use task::{FrameOp, MediaCommand, MediaTask};
pub use transceiver::{RtpTransceiver, RtpTransceiverInit};

use crate::events::Weight;

/// One whole encoded frame out of a receiver (the frame reader's unit;
/// close to W3C `RTCEncodedVideoFrame`/`RTCEncodedAudioFrame` of
/// webrtc-encoded-transform, without the transform).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[doc(alias = "RTCEncodedVideoFrame")]
#[doc(alias = "RTCEncodedAudioFrame")]
pub struct EncodedFrame {
    /// `data`: the encoded bytes (Annex B for H.264, OBUs with size
    /// fields for AV1), shared by every subscriber. A clone shares them
    /// too: a forwarder hands `&frame.data` to
    /// [`RtpSender::write_frame`] of each downstream sender without a copy.
    pub data: Bytes,
    /// The RTP timestamp of its packets (`getMetadata().rtpTimestamp`).
    pub rtp_timestamp: u32,
    /// Whether the codec marks it as a keyframe (`type == "key"`).
    pub keyframe: bool,
    /// The RFC 8852 rid of the simulcast layer it belongs to (`rid` of
    /// W3C `RTCEncodedVideoFrameMetadata`); `None` without simulcast.
    /// Frames of every layer come through one receiver, each layer in
    /// order.
    pub rid: Option<String>,
    /// Frames this subscription dropped right before this one because it
    /// fell behind (not W3C): 0 normally; otherwise the frame follows a
    /// gap (a discontinuity). Each subscription holds at most 256 frames
    /// and 8 MiB unread (the backlog for the first one too); past that
    /// audio drops its oldest frames and video drops up to the next
    /// queued keyframe, or, with none queued, every frame until the next
    /// keyframe (asked for from the peer, at most once per 500 ms), so
    /// that a video frame after a gap is always a keyframe.
    pub dropped_before: u64,
}

impl Weight for EncodedFrame {
    fn weight(&self) -> usize {
        self.data.len()
    }

    fn is_keyframe(&self) -> bool {
        self.keyframe
    }

    fn set_dropped_before(&mut self, n: u64) {
        self.dropped_before = n;
    }
}

pub use ferrtc_core::FrameBytes;

/// The W3C `track` event (`RTCTrackEvent`): the peer sends on a
/// transceiver's m-section, so its receiver's track has media coming.
#[derive(Debug, Clone)]
#[doc(alias = "RTCTrackEvent")]
pub struct TrackEvent {
    /// `receiver`: a handle without a frame subscription of its own yet.
    pub receiver: RtpReceiver,
    /// `transceiver`.
    pub transceiver: RtpTransceiver,
    /// `streams`: the remote MediaStreams (ids from the peer's `a=msid`),
    /// each holding `track`.
    pub streams: Vec<MediaStream>,
    /// `track`: the receiver's track.
    pub track: MediaStreamTrack,
}

/// The SDP kind of a W3C track kind.
fn sdp_kind(kind: MediaKind) -> ferrtc_core::MediaKind {
    match kind {
        MediaKind::Audio => ferrtc_core::MediaKind::Audio,
        MediaKind::Video => ferrtc_core::MediaKind::Video,
    }
}

/// The W3C track kind of an SDP kind (only audio and video transceivers
/// exist).
fn track_kind(kind: &ferrtc_core::MediaKind) -> MediaKind {
    match kind {
        ferrtc_core::MediaKind::Audio => MediaKind::Audio,
        _ => MediaKind::Video,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_bytes_take_owned_and_shared_bytes_as_they_are_and_copy_borrowed_ones() {
        let received = Bytes::from(vec![1u8; 1000]);
        let forwarded = FrameBytes::from(&received).into_bytes();
        assert_eq!(forwarded.as_ptr(), received.as_ptr(), "&Bytes is shared");
        let owned = vec![2u8; 1000];
        let at = owned.as_ptr();
        assert_eq!(
            FrameBytes::from(owned).into_bytes().as_ptr(),
            at,
            "Vec is moved"
        );
        let borrowed = [3u8; 4];
        let copied = FrameBytes::from(&borrowed).into_bytes();
        assert_ne!(copied.as_ptr(), borrowed.as_ptr());
        assert_eq!(copied, &borrowed[..]);
        assert_eq!(FrameBytes::from(&borrowed[..2]).into_bytes(), &[3u8, 3][..]);
    }
}
