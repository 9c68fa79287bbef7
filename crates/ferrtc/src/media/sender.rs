//! `RTCRtpSender` handles: the sample writer, `replaceTrack`, the send
//! parameters and keyframe requests.

use std::sync::Arc;
use std::time::Duration;

use ferrtc_core::{RtpCodec, StatsReport};
use tokio::sync::Mutex;

use super::MediaKind;
use super::MediaStreamTrack;
use super::dtmf::DtmfSender;
use super::shared::TransceiverShared;
use super::task::{FrameOp, filter_stats};
use crate::Error;
use crate::driver::ChannelOp;
use crate::events::{Subscription, Weight};

/// An event of a sender.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpSenderEvent {
    /// The peer asked for a keyframe (PLI, RFC 4585 §6.3.1, or FIR, RFC
    /// 5104 §4.3.1; W3C webrtc-encoded-transform `keyframerequest`): the
    /// application should encode one next.
    #[doc(alias = "keyframerequest")]
    KeyframeRequest,
}

impl Weight for RtpSenderEvent {
    fn weight(&self) -> usize {
        0
    }
}

/// W3C `RTCRtpEncodingParameters` of a sender.
#[derive(Debug, Clone, PartialEq)]
#[doc(alias = "RTCRtpEncodingParameters")]
pub struct RtpEncodingParameters {
    /// `rid` (simulcast), which `setParameters` may not change.
    pub rid: Option<String>,
    /// `active`: `false` stops sending on the encoding (frames written
    /// meanwhile are dropped, as an encoder that does not run).
    pub active: bool,
    /// `maxBitrate` in bits per second (kept; ferrtc does not encode).
    pub max_bitrate: Option<u32>,
    /// `scaleResolutionDownBy`, at least 1.0, video only (kept; ferrtc
    /// does not encode).
    pub scale_resolution_down_by: Option<f64>,
}

impl RtpEncodingParameters {
    /// An active encoding with no limit.
    pub(crate) fn new(rid: Option<String>) -> Self {
        RtpEncodingParameters {
            rid,
            active: true,
            max_bitrate: None,
            scale_resolution_down_by: None,
        }
    }
}

/// W3C `RTCRtpSendParameters`, from [`RtpSender::get_parameters`].
#[derive(Debug, Clone, PartialEq)]
#[doc(alias = "RTCRtpSendParameters")]
pub struct RtpSendParameters {
    /// `transactionId`: `setParameters` takes parameters from the last
    /// `getParameters` only.
    pub transaction_id: String,
    /// `encodings`.
    pub encodings: Vec<RtpEncodingParameters>,
    /// `codecs`: negotiated, the one sent first (read-only).
    pub codecs: Vec<RtpCodec>,
}

/// A sender (W3C `RTCRtpSender`). Cheap to clone; any number of tasks may
/// write on clones of one sender (one writer's frames go out in the order
/// written). A handle does not keep its connection alive.
///
/// # Events
///
/// As [`DataChannel`](crate::DataChannel#events): each handle value is a
/// subscriber of its own from its first [`next_event`](Self::next_event)
/// and gets every event from then on.
#[derive(Debug)]
#[doc(alias = "RTCRtpSender")]
pub struct RtpSender {
    shared: Arc<TransceiverShared>,
    events: Mutex<Option<Subscription<RtpSenderEvent>>>,
}

impl Clone for RtpSender {
    /// Another handle of the sender, without a subscription yet.
    fn clone(&self) -> Self {
        RtpSender::new(Arc::clone(&self.shared))
    }
}

impl PartialEq for RtpSender {
    /// The same sender (W3C object identity).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for RtpSender {}

impl RtpSender {
    pub(crate) fn new(shared: Arc<TransceiverShared>) -> Self {
        RtpSender {
            shared,
            events: Mutex::new(None),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<TransceiverShared> {
        &self.shared
    }

    /// `track`: the track it sends, if any.
    pub fn track(&self) -> Option<MediaStreamTrack> {
        self.shared.lock().track.clone()
    }

    /// `dtmf`: the DTMF sender of an audio sender (W3C webrtc-pc §7.1);
    /// `None` for video.
    pub fn dtmf(&self) -> Option<DtmfSender> {
        (self.shared.kind == MediaKind::Audio).then(|| DtmfSender::new(Arc::clone(&self.shared)))
    }

    /// `RTCRtpSender.getCapabilities(kind).codecs`: the codecs ferrtc
    /// offers for a kind, RTX included.
    pub fn get_capabilities(kind: MediaKind) -> Vec<RtpCodec> {
        ferrtc_core::PeerConnection::codec_capabilities(&super::sdp_kind(kind))
    }

    /// Writes one encoded frame (the sample writer: the application
    /// brings frames from its own encoder or file). `duration` (the
    /// frame's length in time) advances the RTP timestamp of the next
    /// frame; keyframes are told by the negotiated codec (VP8, VP9, H.264
    /// IDR, AV1 sequence header).
    ///
    /// Like [`DataChannel::send`](crate::DataChannel::send), it queues the
    /// frame for the connection's task and returns without a round trip.
    /// Errors are those the call can tell at once: no track, or not (yet,
    /// or any more) negotiated to send on a connected transport (W3C
    /// `InvalidStateError`), or the connection is gone
    /// ([`Error::Closed`]). While every encoding is inactive
    /// ([`set_parameters`](Self::set_parameters)) frames are accepted and
    /// dropped: nothing is sent.
    pub fn write_frame(&self, frame: &[u8], duration: Duration) -> Result<(), Error> {
        let keyframe = {
            let state = self.shared.lock();
            if state.track.is_none() {
                return Err(invalid_state("the sender has no track"));
            }
            if state.stopped {
                return Err(invalid_state("the transceiver is stopped"));
            }
            if !state.encodings.iter().any(|e| e.active) {
                return Ok(());
            }
            let codec = state.codecs.iter().find(|c| !c.is_rtx());
            codec.is_some_and(|c| super::keyframe::is_keyframe(&c.name, frame))
        };
        if !self.shared.sendable() {
            return Err(invalid_state(
                "the sender is not negotiated to send on a connected transport",
            ));
        }
        let op = ChannelOp::Frame(Box::new(FrameOp {
            transceiver: self.shared.id,
            data: frame.to_vec(),
            duration,
            keyframe,
        }));
        self.shared.link.ops.send(op).map_err(|_| Error::Closed)
    }

    /// `replaceTrack(track)` (W3C webrtc-pc §5.2): sends `track` (or
    /// nothing) from now on without renegotiation. The track must have
    /// the transceiver's kind (`TypeError`); the transceiver must not be
    /// stopped (`InvalidStateError`).
    pub fn replace_track(&self, track: Option<&MediaStreamTrack>) -> Result<(), Error> {
        if let Some(t) = track
            && t.kind() != self.shared.kind
        {
            return Err(ferrtc_core::Error::type_error(format!(
                "a {} track cannot replace the track of a {} sender",
                t.kind().as_str(),
                self.shared.kind.as_str()
            ))
            .into());
        }
        let mut state = self.shared.lock();
        if state.stopped {
            return Err(invalid_state("the transceiver is stopped"));
        }
        state.track = track.cloned();
        Ok(())
    }

    /// `getParameters()`: the encodings and the negotiated codecs, with a
    /// new `transactionId` for [`set_parameters`](Self::set_parameters).
    pub fn get_parameters(&self) -> RtpSendParameters {
        let mut state = self.shared.lock();
        state.transactions += 1;
        let transaction_id = state.transactions.to_string();
        state.transaction = Some(transaction_id.clone());
        RtpSendParameters {
            transaction_id,
            encodings: state.encodings.clone(),
            codecs: state.codecs.clone(),
        }
    }

    /// `setParameters(parameters)` (W3C webrtc-pc §5.2): applies the
    /// encodings' `active`, `maxBitrate` and `scaleResolutionDownBy`.
    /// Fails with an `InvalidStateError` without a `getParameters` since
    /// the last call or once stopped, an `InvalidModificationError` when
    /// the transaction id, the number of encodings or a rid differs, and a
    /// `RangeError` for `scaleResolutionDownBy` below 1.0. Audio ignores
    /// `scaleResolutionDownBy`.
    pub fn set_parameters(&self, parameters: RtpSendParameters) -> Result<(), Error> {
        let mut state = self.shared.lock();
        if state.stopped {
            return Err(invalid_state("the transceiver is stopped"));
        }
        let Some(transaction) = state.transaction.take() else {
            return Err(invalid_state("setParameters without getParameters"));
        };
        if transaction != parameters.transaction_id {
            return Err(invalid_modification("transactionId"));
        }
        if parameters.encodings.len() != state.encodings.len()
            || parameters
                .encodings
                .iter()
                .zip(&state.encodings)
                .any(|(new, old)| new.rid != old.rid)
        {
            return Err(invalid_modification("encodings"));
        }
        let mut encodings = parameters.encodings;
        for e in &mut encodings {
            if self.shared.kind == MediaKind::Audio {
                e.scale_resolution_down_by = None;
            }
            if e.scale_resolution_down_by
                .is_some_and(|s| s.is_nan() || s < 1.0)
            {
                return Err(Error::Range("scaleResolutionDownBy must be at least 1.0"));
            }
        }
        state.encodings = encodings;
        Ok(())
    }

    /// The next event of this handle value's subscription (made by the
    /// first call), or `None` once the transceiver is stopped or the
    /// connection closed.
    pub async fn next_event(&self) -> Option<RtpSenderEvent> {
        let mut events = self.events.lock().await;
        events
            .get_or_insert_with(|| self.shared.sender_events.subscribe())
            .recv()
            .await
    }

    /// `getStats()` of the sender: its `outbound-rtp` object (W3C
    /// webrtc-pc §5.2, the stats selection algorithm).
    pub async fn get_stats(&self) -> Result<StatsReport, Error> {
        let mid = self.shared.lock().mid.clone();
        let report = super::task::get_stats(&self.shared.link).await?;
        Ok(filter_stats(report, "outbound-rtp", mid.as_deref()))
    }
}

pub(crate) fn invalid_state(message: &str) -> Error {
    ferrtc_core::Error::invalid_state(message).into()
}

fn invalid_modification(what: &str) -> Error {
    ferrtc_core::Error::InvalidModification {
        message: format!("setParameters cannot change {what}"),
        source: None,
    }
    .into()
}
