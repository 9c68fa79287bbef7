//! `RTCRtpReceiver` handles: the frame reader.

use std::sync::Arc;
use std::time::Duration;

use ferrtc_core::{RtpCodec, RtpSource, StatsReport};
use tokio::sync::Mutex;

use super::dtmf::DtmfTone;
use super::shared::TransceiverShared;
use super::task::{MediaCommand, ask, filter_stats};
use super::{EncodedFrame, MediaStreamTrack};
use crate::Error;
use crate::events::Subscription;

/// W3C `RTCRtpReceiveParameters`, from [`RtpReceiver::get_parameters`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCRtpReceiveParameters")]
pub struct RtpReceiveParameters {
    /// `codecs`: negotiated, in the answer's order (empty before the
    /// exchange completes).
    pub codecs: Vec<RtpCodec>,
}

/// A receiver (W3C `RTCRtpReceiver`). Cheap to clone; a handle does not
/// keep its connection alive.
///
/// # Frames
///
/// As data channel events ([`DataChannel`](crate::DataChannel#events)):
/// each handle value is a subscriber of its own from its first
/// [`recv_frame`](Self::recv_frame) and gets every frame from then on,
/// shared (not copied) with the other subscribers; a clone starts with no
/// subscription. The first subscription also gets the frames that came
/// before any.
///
/// Each subscription (and the frames kept for the first one) holds at
/// most 256 frames and 8 MiB unread. A reader that falls further behind
/// loses frames: audio its oldest ones; video those up to its next queued
/// keyframe or, with none queued, every frame until the next keyframe,
/// which is asked of the peer (a PLI, at most once per 500 ms). The first
/// frame after such a gap tells how many were dropped
/// ([`EncodedFrame::dropped_before`]); a video frame after a gap is a
/// keyframe. Drop a subscription (or handle value) that is no longer
/// read.
///
/// A simulcast receiver (RFC 8853) gives the frames of every layer it
/// receives, interleaved, each layer's in order, each naming its layer
/// ([`EncodedFrame::rid`]); the bounds above are shared by the layers (a
/// keyframe after a gap is one of some layer).
#[derive(Debug)]
#[doc(alias = "RTCRtpReceiver")]
pub struct RtpReceiver {
    shared: Arc<TransceiverShared>,
    frames: Mutex<Option<Subscription<EncodedFrame>>>,
    tones: Mutex<Subscription<DtmfTone>>,
}

impl Clone for RtpReceiver {
    /// Another handle of the receiver: no frame subscription until its first
    /// `recv_frame`; tones heard from now on.
    fn clone(&self) -> Self {
        RtpReceiver::new(Arc::clone(&self.shared))
    }
}

impl PartialEq for RtpReceiver {
    /// The same receiver (W3C object identity).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for RtpReceiver {}

/// A subscription to a receiver's frames, from [`RtpReceiver::subscribe`].
/// It goes on after every handle of the receiver is dropped.
#[derive(Debug)]
pub struct RtpReceiverFrames {
    frames: Subscription<EncodedFrame>,
}

impl RtpReceiverFrames {
    /// The next frame, or `None` once the receiver ended and is drained.
    pub async fn recv(&mut self) -> Option<EncodedFrame> {
        self.frames.recv().await
    }
}

impl RtpReceiver {
    pub(crate) fn new(shared: Arc<TransceiverShared>) -> Self {
        let tones = shared.tones_received.subscribe();
        RtpReceiver {
            shared,
            frames: Mutex::new(None),
            tones: Mutex::new(tones),
        }
    }

    /// `track`: the receiver's track (made with the transceiver).
    pub fn track(&self) -> MediaStreamTrack {
        self.shared.receiver_track.clone()
    }

    /// `getParameters()`: the negotiated codecs.
    pub fn get_parameters(&self) -> RtpReceiveParameters {
        RtpReceiveParameters {
            codecs: self.shared.lock().codecs.clone(),
        }
    }

    /// The next whole frame of this handle value's subscription (made by
    /// the first call; see [Frames](Self#frames)), in order; `None` once
    /// the transceiver is stopped or the connection closed, and drained.
    pub async fn recv_frame(&self) -> Option<EncodedFrame> {
        let mut frames = self.frames.lock().await;
        frames
            .get_or_insert_with(|| self.shared.frames.subscribe())
            .recv()
            .await
    }

    /// A new subscription: every frame from now on (and those that came
    /// before any subscription, if it is the first).
    pub fn subscribe(&self) -> RtpReceiverFrames {
        RtpReceiverFrames {
            frames: self.shared.frames.subscribe(),
        }
    }

    /// `getSynchronizationSources()` (W3C webrtc-pc §5.3.1): each SSRC whose
    /// media packets this receiver got in the last 10 seconds, most recent
    /// first, with when the last one arrived, its RTP timestamp and (audio,
    /// with `ssrc-audio-level` negotiated) its level.
    #[doc(alias = "getSynchronizationSources")]
    pub async fn get_synchronization_sources(&self) -> Result<Vec<RtpSource>, Error> {
        let id = self.shared.id;
        ask(&self.shared.link, |r| MediaCommand::Sources(id, false, r)).await
    }

    /// `getContributingSources()` (W3C webrtc-pc §5.3.1): each CSRC (the
    /// sources a mixer combined, RFC 3550 §5.1) of the last 10 seconds,
    /// most recent first, with its `csrc-audio-level` when negotiated.
    #[doc(alias = "getContributingSources")]
    pub async fn get_contributing_sources(&self) -> Result<Vec<RtpSource>, Error> {
        let id = self.shared.id;
        ask(&self.shared.link, |r| MediaCommand::Sources(id, true, r)).await
    }

    /// The `jitterBufferTarget` setter (W3C webrtc-pc §5.3.1): ferrtc does
    /// not play out, so the target is how long the jitter buffer holds each
    /// complete frame after its first packet arrived before
    /// [`recv_frame`](Self::recv_frame) gets it (`None`, the default: no
    /// hold). A `RangeError` above 4000 ms.
    #[doc(alias = "jitterBufferTarget")]
    pub async fn set_jitter_buffer_target(&self, target: Option<Duration>) -> Result<(), Error> {
        let id = self.shared.id;
        ask(&self.shared.link, |r| {
            MediaCommand::SetJitterBufferTarget(id, target, r)
        })
        .await
    }

    /// The `jitterBufferTarget` getter.
    pub async fn jitter_buffer_target(&self) -> Result<Option<Duration>, Error> {
        let id = self.shared.id;
        ask(&self.shared.link, |r| {
            MediaCommand::JitterBufferTarget(id, r)
        })
        .await
    }

    /// The next DTMF tone the peer sent on this (audio) receiver (RFC 4733
    /// telephone events: one per event, in order, when its first packet
    /// arrives): each handle value gets every tone heard after it was made
    /// (the first handle also those heard before; at most 64 unread, the
    /// oldest dropped first); `None` once the transceiver is stopped or the
    /// connection closed, and drained. Telephone events never appear among
    /// the frames.
    pub async fn next_dtmf_tone(&self) -> Option<DtmfTone> {
        self.tones.lock().await.recv().await
    }

    /// Asks the peer's sender for a keyframe now (a PLI, RFC 4585 §6.3.1),
    /// as `RTCRtpScriptTransformer.sendKeyFrameRequest()` does (W3C
    /// webrtc-encoded-transform): a forwarder passes its viewers' requests
    /// up this way. Repeated once per round trip until a keyframe arrives.
    /// `InvalidStateError` before a stream was received or without PLI
    /// negotiated.
    /// On a simulcast receiver every layer received is asked.
    #[doc(alias = "sendKeyFrameRequest")]
    pub async fn request_keyframe(&self) -> Result<(), Error> {
        let id = self.shared.id;
        super::task::ask(&self.shared.link, |r| {
            super::task::MediaCommand::RequestKeyframe(id, None, r)
        })
        .await
    }

    /// [`request_keyframe`](Self::request_keyframe) for the simulcast layer
    /// `rid` alone (RFC 8853; a PLI for that layer's SSRC): a forwarder
    /// asks only the layer its viewers watch. `InvalidStateError` before
    /// that layer was received.
    pub async fn request_keyframe_for(&self, rid: &str) -> Result<(), Error> {
        let id = self.shared.id;
        let rid = rid.to_owned();
        super::task::ask(&self.shared.link, |r| {
            super::task::MediaCommand::RequestKeyframe(id, Some(rid), r)
        })
        .await
    }

    /// `getStats()` of the receiver (W3C webrtc-pc §5.3, the stats
    /// selection algorithm §8.5): its `inbound-rtp` objects, one per
    /// simulcast layer received with its `rid`, and every object they
    /// reference (`codec`, `remote-outbound-rtp`, `transport`, the
    /// selected `candidate-pair` with its candidates, the `certificate`s).
    pub async fn get_stats(&self) -> Result<StatsReport, Error> {
        let mid = self.shared.lock().mid.clone();
        let report = super::task::get_stats(&self.shared.link).await?;
        Ok(filter_stats(report, "inbound-rtp", mid.as_deref()))
    }
}
