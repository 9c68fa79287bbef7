//! `RTCRtpTransceiver` handles.

use std::sync::Arc;

use ferrtc_core::{RtpCodec, RtpTransceiverDirection};

use super::receiver::RtpReceiver;
use super::sender::{RtpEncodingParameters, RtpSender};
use super::shared::TransceiverShared;
use super::task::{MediaCommand, ask};
use super::{MediaKind, MediaStream};
use crate::Error;

/// W3C `RTCRtpTransceiverInit`: what
/// [`PeerConnection::add_transceiver`](crate::PeerConnection::add_transceiver)
/// is asked for.
#[derive(Debug, Clone, Default)]
#[doc(alias = "RTCRtpTransceiverInit")]
pub struct RtpTransceiverInit {
    /// `direction` (`None`: `sendrecv`).
    pub direction: Option<RtpTransceiverDirection>,
    /// `streams`: the MediaStreams of the sender's track (`a=msid`).
    pub streams: Vec<MediaStream>,
    /// `sendEncodings`: two or more, each with a rid, offer simulcast (RFC
    /// 8853): one RTP stream per agreed rid, each written with
    /// [`RtpSender::write_frame_for`] (ferrtc does not encode or scale;
    /// `scaleResolutionDownBy` is kept and reported). Checked as W3C
    /// `addTransceiver` does: a `TypeError` for a missing, repeated or
    /// malformed rid (RFC 8851 §10: letters, digits, `-` and `_`, at most
    /// 16 here) or more than 4 encodings, a `RangeError` for
    /// `scaleResolutionDownBy` below 1.0.
    pub send_encodings: Vec<RtpEncodingParameters>,
}

/// A transceiver (W3C `RTCRtpTransceiver`): one m-section, with its
/// sender and receiver. Cheap to clone; a handle does not keep its
/// connection alive.
///
/// `mid`, `direction`, `currentDirection` and `stopped` are read without
/// a round trip: the connection's task publishes them after every call
/// and every description.
#[derive(Debug, Clone)]
#[doc(alias = "RTCRtpTransceiver")]
pub struct RtpTransceiver {
    pub(crate) shared: Arc<TransceiverShared>,
}

impl RtpTransceiver {
    pub(crate) fn new(shared: Arc<TransceiverShared>) -> Self {
        RtpTransceiver { shared }
    }

    /// `mid`, once an offer or answer associated it with an m-section.
    pub fn mid(&self) -> Option<String> {
        self.shared.lock().mid.clone()
    }

    /// The kind of its m-section (the `receiver.track.kind`).
    pub fn kind(&self) -> MediaKind {
        self.shared.kind
    }

    /// `direction`: the preferred direction.
    pub fn direction(&self) -> RtpTransceiverDirection {
        self.shared.lock().direction
    }

    /// The `direction` setter (W3C webrtc-pc §5.4): fires
    /// `negotiationneeded` when it changes what the next offer says; an
    /// `InvalidStateError` once stopped.
    pub async fn set_direction(&self, direction: RtpTransceiverDirection) -> Result<(), Error> {
        let id = self.shared.id;
        ask(&self.shared.link, |r| {
            MediaCommand::SetDirection(id, direction, r)
        })
        .await
    }

    /// `currentDirection`: the negotiated direction; `None` before
    /// negotiation and once stopped.
    pub fn current_direction(&self) -> Option<RtpTransceiverDirection> {
        self.shared.lock().current_direction
    }

    /// `stopped` (or stopping, W3C webrtc-pc §5.4).
    pub fn stopped(&self) -> bool {
        self.shared.lock().stopped
    }

    /// `stop()`: sends and receives nothing more (the receiver's frames
    /// end); the m-section is rejected in the next offer.
    pub async fn stop(&self) -> Result<(), Error> {
        let id = self.shared.id;
        ask(&self.shared.link, |r| MediaCommand::Stop(id, r)).await
    }

    /// `setCodecPreferences(codecs)`: codecs in preference order, each
    /// one of [`RtpSender::get_capabilities`] of the kind (RTX entries
    /// included to keep RTX); an empty list restores the defaults. Applies
    /// to the next offer or answer that negotiates the transceiver from
    /// scratch (an answer lists the codecs it shares with the offer in
    /// this order, RFC 8829 §4.2.6); an `InvalidModificationError` for a codec not in the
    /// capabilities or a list without a media codec (only RTX, RED, FEC,
    /// comfort noise or telephone events). A payload type listed again is
    /// dropped, the first kept.
    pub async fn set_codec_preferences(&self, codecs: Vec<RtpCodec>) -> Result<(), Error> {
        let id = self.shared.id;
        ask(&self.shared.link, |r| {
            MediaCommand::SetCodecPreferences(id, codecs, r)
        })
        .await
    }

    /// `sender`: a handle without a subscription of its own.
    pub fn sender(&self) -> RtpSender {
        RtpSender::new(Arc::clone(&self.shared))
    }

    /// `receiver`: a handle without a frame subscription of its own yet.
    pub fn receiver(&self) -> RtpReceiver {
        RtpReceiver::new(Arc::clone(&self.shared))
    }
}

impl PartialEq for RtpTransceiver {
    /// The same transceiver (W3C object identity).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for RtpTransceiver {}
