//! `RTCRtpSender` handles: the sample writer, `replaceTrack`, the send
//! parameters and keyframe requests.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrtc_core::{RtpCodec, StatsReport};
use tokio::sync::Mutex;

use super::MediaKind;
use super::dtmf::DtmfSender;
use super::shared::TransceiverShared;
use super::task::{FrameOp, filter_stats};
use super::{Bytes, FrameBytes};
use super::{MediaStream, MediaStreamTrack};
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
    /// The peer asked for a keyframe on one simulcast layer (RFC 8853; a
    /// PLI or FIR for that layer's SSRC): the application should encode
    /// one next on the layer `rid`.
    LayerKeyframeRequest {
        /// The layer's rid.
        rid: String,
    },
}

impl Weight for RtpSenderEvent {
    fn weight(&self) -> usize {
        0
    }

    /// Keyframe requests not yet read merge into one: a late reader gets
    /// one request, not a replay of every PLI since.
    fn merges_into(&self, queued: &Self) -> bool {
        self == queued
    }
}

/// W3C `RTCRtpEncodingParameters` of a sender: one per simulcast layer
/// (RFC 8853), or one without rid.
#[derive(Debug, Clone, PartialEq)]
#[doc(alias = "RTCRtpEncodingParameters")]
pub struct RtpEncodingParameters {
    /// `rid` (simulcast, RFC 8851), which `setParameters` may not change.
    pub rid: Option<String>,
    /// `active`: `false` stops sending on the encoding (frames written
    /// meanwhile are dropped, as an encoder that does not run; no RTP and
    /// no sender report leave for its layer).
    pub active: bool,
    /// `maxBitrate` in bits per second: ferrtc does not encode, so it
    /// caps the send-side estimate (the sum over a sender's active
    /// encodings, while every sender has one).
    pub max_bitrate: Option<u32>,
    /// `scaleResolutionDownBy`, at least 1.0, video only (kept and
    /// reported; ferrtc does not scale: the application writes each
    /// layer's frames at its size).
    pub scale_resolution_down_by: Option<f64>,
}

impl Default for RtpEncodingParameters {
    /// An active encoding without rid and without limit.
    fn default() -> Self {
        RtpEncodingParameters::new(None)
    }
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

    /// An active simulcast encoding named `rid`, with no limit.
    pub fn with_rid(rid: &str) -> Self {
        RtpEncodingParameters::new(Some(rid.to_owned()))
    }
}

/// The most encodings `sendEncodings` may have (W3C lets the user agent
/// bound it; Chromium allows 4 too).
const MAX_ENCODINGS: usize = 4;

/// The longest rid taken (RFC 8851 §10 leaves it open; Chromium takes 16).
const MAX_RID_LEN: usize = 16;

/// W3C webrtc-pc §5.1 `addTransceiver` step "validate sendEncodings": rids
/// present when there are several, unique and well formed (RFC 8851 §10:
/// alphanumeric, `-`, `_`), `scaleResolutionDownBy` at least 1.0 (video;
/// audio drops it). Then more than [`MAX_ENCODINGS`] are trimmed from the
/// tail, and a lone encoding loses its rid (a plain single stream). An
/// empty list is one encoding without rid.
pub(crate) fn check_send_encodings(
    kind: MediaKind,
    mut encodings: Vec<RtpEncodingParameters>,
) -> Result<Vec<RtpEncodingParameters>, Error> {
    if encodings.is_empty() {
        return Ok(vec![RtpEncodingParameters::new(None)]);
    }
    let type_error = |m: String| -> Error { ferrtc_core::Error::type_error(m).into() };
    for (i, e) in encodings.iter().enumerate() {
        match &e.rid {
            None if encodings.len() > 1 => {
                return Err(type_error(
                    "each of several sendEncodings needs a rid".into(),
                ));
            }
            None => {}
            Some(rid) => {
                let well_formed = !rid.is_empty()
                    && rid.len() <= MAX_RID_LEN
                    && rid
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !well_formed {
                    return Err(type_error(format!(
                        "rid {rid:?} is not a valid RtpStreamId"
                    )));
                }
                if encodings[..i].iter().any(|o| o.rid.as_ref() == Some(rid)) {
                    return Err(type_error(format!("rid {rid:?} appears twice")));
                }
            }
        }
    }
    for e in &mut encodings {
        if kind == MediaKind::Audio {
            e.scale_resolution_down_by = None;
        }
        if e.scale_resolution_down_by
            .is_some_and(|s| s.is_nan() || s < 1.0)
        {
            return Err(Error::Range("scaleResolutionDownBy must be at least 1.0"));
        }
    }
    // W3C webrtc-pc §5.1 addTransceiver: trim to maxN from the tail; a
    // lone encoding has no rid.
    encodings.truncate(MAX_ENCODINGS);
    if let [lone] = encodings.as_mut_slice() {
        lone.rid = None;
    }
    Ok(encodings)
}

/// W3C webrtc-pc §4.4.1.6 (RFC 8829 §5.10): once an answer is applied, a
/// sender's encodings are those whose rid it agreed to (`agreed`, the
/// rids sent), in the sender's order; when it refused simulcast, the
/// first encoding only. An encoding without rid (one stream) stays.
pub(crate) fn cut_to_agreed(encodings: &mut Vec<RtpEncodingParameters>, agreed: &[String]) {
    if encodings.len() <= 1 {
        return;
    }
    if agreed.is_empty() {
        encodings.truncate(1);
    } else {
        encodings.retain(|e| e.rid.as_ref().is_some_and(|r| agreed.contains(r)));
    }
}

/// A sender's `maxBitrate` for the estimate's cap: the sum over its active
/// encodings (over all when none is active), `None` when one of those has
/// none.
pub(crate) fn max_bitrate_of(encodings: &[RtpEncodingParameters]) -> Option<u32> {
    let active = encodings.iter().any(|e| e.active);
    encodings
        .iter()
        .filter(|e| e.active || !active)
        .map(|e| e.max_bitrate)
        .try_fold(0u32, |sum, m| m.map(|m| sum.saturating_add(m)))
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
    /// `codecs`: negotiated, the one sent first (read-only:
    /// [`RtpSender::set_parameters`] refuses parameters whose codecs differ
    /// from those `getParameters` returned).
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
    /// brings frames from its own encoder or file; close to writing an
    /// `RTCEncodedVideoFrame` of W3C webrtc-encoded-transform). `duration`
    /// (the frame's length in time) advances the RTP timestamp of the next
    /// frame; keyframes are told by the negotiated codec (VP8, VP9, H.264
    /// IDR, AV1 sequence header).
    ///
    /// Like [`DataChannel::send`](crate::DataChannel::send), it queues the
    /// frame for the connection's task and returns without a round trip.
    /// Errors are those the call can tell at once:
    ///
    /// - [`Error::Closed`] once the connection is closed
    ///   ([`Error::TaskPanicked`] if its task panicked);
    /// - W3C `InvalidStateError`: no track, the transceiver stopped, not
    ///   (yet, or any more) negotiated to send, DTLS not connected yet or
    ///   closed by the peer's close_notify, or the connection failed (a
    ///   transient ICE `disconnected` still writes);
    /// - W3C `OperationError`: the sender's queue for the task is full
    ///   ([`MAX_QUEUED_FRAMES`](Self::MAX_QUEUED_FRAMES) frames or
    ///   [`MAX_QUEUED_BYTES`](Self::MAX_QUEUED_BYTES) bytes not yet taken):
    ///   the writer is faster than the task; the frame is not queued, and
    ///   writing again after a yield or a frame interval works.
    ///
    /// While every encoding is inactive
    /// ([`set_parameters`](Self::set_parameters)) frames are accepted and
    /// dropped: nothing is sent. A frame accepted that the core refuses
    /// later (a full outbound queue, a renegotiation meanwhile) is counted
    /// in [`dropped_frames`](Self::dropped_frames).
    ///
    /// On a simulcast sender the frame goes to the first active layer;
    /// [`write_frame_for`](Self::write_frame_for) names the layer.
    ///
    /// `frame` is borrowed bytes (copied once) or owned or shared ones
    /// (taken without a copy: a received frame's `&frame.data` written on
    /// many senders is held once), see [`FrameBytes`].
    pub fn write_frame(
        &self,
        frame: impl Into<FrameBytes>,
        duration: Duration,
    ) -> Result<(), Error> {
        self.write(None, frame.into().into_bytes(), duration)
    }

    /// Writes one encoded frame on the simulcast layer `rid` (RFC 8853):
    /// the application encodes each layer itself, at the size its
    /// `scaleResolutionDownBy` says, and writes each with its rid. Each
    /// layer is its own RTP stream (SSRC, RTX SSRC, numbering, RTP clock,
    /// NACK history, sender reports) carrying the RFC 8852 rid. A frame for
    /// an inactive layer is accepted and dropped. Errors as
    /// [`write_frame`](Self::write_frame), and an `InvalidAccessError` for
    /// a rid that is not one of the sender's encodings.
    pub fn write_frame_for(
        &self,
        rid: &str,
        frame: impl Into<FrameBytes>,
        duration: Duration,
    ) -> Result<(), Error> {
        self.write(Some(rid), frame.into().into_bytes(), duration)
    }

    fn write(&self, rid: Option<&str>, frame: Bytes, duration: Duration) -> Result<(), Error> {
        if self.shared.link.is_closed() {
            return Err(self.shared.link.commands.ended_error());
        }
        let (codec, rid) = {
            let state = self.shared.lock();
            if state.track.is_none() {
                return Err(invalid_state("the sender has no track"));
            }
            if state.stopped {
                return Err(invalid_state("the transceiver is stopped"));
            }
            // The encoding the frame is for: its rid's, or without one the
            // first active (resolved here, in the order of the calls, so a
            // `setParameters` just made decides it, not the task's view).
            let encoding = match rid {
                None => state.encodings.iter().find(|e| e.active),
                Some(rid) => Some(
                    state
                        .encodings
                        .iter()
                        .find(|e| e.rid.as_deref() == Some(rid))
                        .ok_or_else(|| -> Error {
                            ferrtc_core::Error::InvalidAccess {
                                message: format!("the sender has no encoding with rid {rid:?}"),
                                source: None,
                            }
                            .into()
                        })?,
                ),
            };
            let Some(encoding) = encoding.filter(|e| e.active) else {
                return Ok(());
            };
            // One encoding is one stream without rid: no simulcast, or the
            // answer refused it (W3C webrtc-pc §4.4.1.6: the first kept).
            let rid = encoding.rid.clone().filter(|_| state.encodings.len() > 1);
            (state.send_codec, rid)
        };
        if !self.shared.sendable() {
            return Err(invalid_state(
                "the sender is not negotiated to send on a connected transport",
            ));
        }
        // Scanned without the lock: H.264 is read in full.
        let keyframe = codec.is_some_and(|c| c.is_keyframe(&frame));
        let len = frame.len();
        if !self.shared.reserve(len) {
            return Err(ferrtc_core::Error::Operation {
                message: format!(
                    "the sender's queue is full ({} frames or {} bytes not yet sent): \
                     write more slowly",
                    Self::MAX_QUEUED_FRAMES,
                    Self::MAX_QUEUED_BYTES
                ),
                source: None,
            }
            .into());
        }
        let op = ChannelOp::Frame(Box::new(FrameOp {
            transceiver: self.shared.id,
            rid,
            data: frame,
            duration,
            keyframe,
        }));
        self.shared.link.ops.send(op).map_err(|_| {
            self.shared.release(len);
            self.shared.link.commands.ended_error()
        })
    }

    /// Frames [`write_frame`](Self::write_frame) may have queued for the
    /// connection's task at once (not W3C; see `docs/limits.md`).
    pub const MAX_QUEUED_FRAMES: usize = super::shared::MAX_QUEUED_FRAMES;

    /// Bytes [`write_frame`](Self::write_frame) may have queued for the
    /// connection's task at once; one frame larger than this is still
    /// taken when nothing else is queued (not W3C; see `docs/limits.md`).
    pub const MAX_QUEUED_BYTES: usize = super::shared::MAX_QUEUED_BYTES;

    /// Frames [`write_frame`](Self::write_frame) accepted that were then
    /// dropped, not sent: the core refused them (its outbound queue full,
    /// or the transceiver renegotiated not to send meanwhile). Not W3C
    /// (close to the `framesDropped`-like counters of `outbound-rtp`);
    /// each burst of drops is also logged at `warn`.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped_frames.load(Ordering::Relaxed)
    }

    /// `replaceTrack(withTrack)` (W3C webrtc-pc §5.2): sends `track` (or
    /// nothing) from now on without renegotiation (no
    /// `negotiationneeded`). The connection's sender track changes too:
    /// `addTrack(track)` then fails with an `InvalidAccessError`,
    /// `addTrack` of the old track makes a new sender, and
    /// [`remove_track`](crate::PeerConnection::remove_track) of this sender
    /// stops sending. The track must have the transceiver's kind
    /// (`TypeError`); the transceiver must not be stopped
    /// (`InvalidStateError`).
    pub async fn replace_track(&self, track: Option<&MediaStreamTrack>) -> Result<(), Error> {
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
        if self.shared.lock().stopped {
            return Err(invalid_state("the transceiver is stopped"));
        }
        let id = self.shared.id;
        let track = track.cloned();
        super::task::ask(&self.shared.link, |r| {
            super::task::MediaCommand::ReplaceTrack(id, track, r)
        })
        .await
    }

    /// `setStreams(...streams)` (W3C webrtc-pc §5.2): the media streams
    /// this sender's track is in, as the peer sees them from the next
    /// offer or answer on (`a=msid`, RFC 8830: the peer's `track` event
    /// lists them); a change fires `negotiationneeded`. With
    /// [`replace_track`](Self::replace_track) it puts a track on this
    /// very transceiver, where `addTrack` would take the first free one of
    /// its kind. On a stopped transceiver the streams are kept and nothing
    /// is negotiated; only a closed connection refuses it
    /// (`InvalidStateError`).
    pub async fn set_streams(&self, streams: &[&MediaStream]) -> Result<(), Error> {
        let id = self.shared.id;
        // Each once, in the order given (the core drops repeats).
        let ids = streams.iter().map(|s| s.id().to_owned()).collect();
        super::task::ask(&self.shared.link, |r| {
            super::task::MediaCommand::SetStreams(id, ids, r)
        })
        .await
    }

    /// `getParameters()`: the encodings and the negotiated codecs, with a
    /// new `transactionId` for [`set_parameters`](Self::set_parameters).
    pub fn get_parameters(&self) -> RtpSendParameters {
        let mut state = self.shared.lock();
        state.transactions += 1;
        let transaction_id = state.transactions.to_string();
        let codecs = state.codecs.clone();
        state.transaction = Some((transaction_id.clone(), codecs.clone()));
        RtpSendParameters {
            transaction_id,
            encodings: state.encodings.clone(),
            codecs,
        }
    }

    /// `setParameters(parameters)` (W3C webrtc-pc §5.2): applies the
    /// encodings' `active` (an inactive simulcast layer sends nothing),
    /// `maxBitrate` and `scaleResolutionDownBy`.
    /// Fails with an `InvalidStateError` without a `getParameters` since
    /// the last successful call or once stopped (a refused call leaves the
    /// transaction for a retry), an `InvalidModificationError` when
    /// the transaction id, the `codecs` (read-only), the number of
    /// encodings or a rid differs, and a
    /// `RangeError` for `scaleResolutionDownBy` below 1.0. Audio ignores
    /// `scaleResolutionDownBy`.
    pub fn set_parameters(&self, parameters: RtpSendParameters) -> Result<(), Error> {
        let mut state = self.shared.lock();
        if state.stopped {
            return Err(invalid_state("the transceiver is stopped"));
        }
        // Used up only by a call that succeeds: a retry after a refusal
        // with the same parameters' transaction works (W3C, WPT).
        let Some((transaction, codecs)) = &state.transaction else {
            return Err(invalid_state("setParameters without getParameters"));
        };
        if *transaction != parameters.transaction_id {
            return Err(invalid_modification("transactionId"));
        }
        // W3C webrtc-pc §5.2 setParameters: a read-only member that differs
        // from [[LastReturnedParameters]] is an InvalidModificationError.
        if *codecs != parameters.codecs {
            return Err(invalid_modification("codecs"));
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
        // W3C webrtc-pc §5.2: maxBitrate caps what the sender sends; the
        // core caps the bandwidth estimate by the senders' sums.
        let max = (max_bitrate_of(&state.encodings) != max_bitrate_of(&encodings))
            .then(|| max_bitrate_of(&encodings));
        let mut commands = Vec::new();
        for (old, new) in state.encodings.iter().zip(&encodings) {
            if old.active != new.active {
                // The encoding by its rid (the core finds the stream that
                // carries it: its layer, or the one stream when simulcast
                // is not agreed); `None` for an encoding without rid.
                let rid = new.rid.clone();
                // On the frames' queue: ordered with the frames written
                // before and after it, from any clone of this sender.
                let change = (self.shared.id, rid, new.active);
                // A closed connection has no stream left to change.
                let _ = self
                    .shared
                    .link
                    .ops
                    .send(ChannelOp::EncodingActive(Box::new(change)));
            }
        }
        state.encodings = encodings;
        state.transaction = None;
        if let Some(max) = max {
            commands.push(super::task::MediaCommand::SetMaxBitrate(
                self.shared.id,
                max,
            ));
        }
        for command in commands {
            // A closed connection has no stream left to change.
            let _ = self
                .shared
                .link
                .commands
                .send(crate::driver::Command::Media(Box::new(command)));
        }
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

    /// `getStats()` of the sender (W3C webrtc-pc §5.2, the stats selection
    /// algorithm §8.5): its `outbound-rtp` objects, one per simulcast
    /// layer with its `rid`, and every object they reference (`codec`,
    /// `media-source`, `remote-inbound-rtp` once the peer reported,
    /// `transport`, the selected `candidate-pair` with its candidates, the
    /// `certificate`s).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding(rid: &str, active: bool, max: Option<u32>) -> RtpEncodingParameters {
        RtpEncodingParameters {
            active,
            max_bitrate: max,
            ..RtpEncodingParameters::with_rid(rid)
        }
    }

    /// W3C `maxBitrate` per encoding: the sender's cap is the sum over the
    /// layers that send; an active layer without one lifts the cap.
    #[test]
    fn the_max_bitrate_of_a_sender_sums_its_active_encodings() {
        let all = [
            encoding("q", true, Some(100_000)),
            encoding("h", true, Some(300_000)),
            encoding("f", true, Some(1_000_000)),
        ];
        assert_eq!(max_bitrate_of(&all), Some(1_400_000));
        let mut f_off = all.clone();
        f_off[2].active = false;
        assert_eq!(max_bitrate_of(&f_off), Some(400_000));
        let mut unbounded = all.clone();
        unbounded[1].max_bitrate = None;
        assert_eq!(max_bitrate_of(&unbounded), None);
        // An inactive layer without a cap does not lift it.
        f_off[2].max_bitrate = None;
        assert_eq!(max_bitrate_of(&f_off), Some(400_000));
    }
}
