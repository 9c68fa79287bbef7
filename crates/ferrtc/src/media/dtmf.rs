//! DTMF (RFC 4733 telephone events): the W3C `RTCDTMFSender` of an audio
//! sender, its `tonechange` events, and the tones an audio receiver hears.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::shared::TransceiverShared;
use super::task::{MediaCommand, ask};
use crate::Error;
use crate::events::{QueueLimit, Subscription, Weight};

/// Tone events a subscription (or the backlog before the first one) keeps
/// unread, the oldest dropped first: a tone buffer is a few dozen tones.
pub(crate) const TONE_QUEUE_LIMIT: QueueLimit = QueueLimit {
    events: 64,
    bytes: 0,
    keyframes: false,
};

/// W3C `RTCDTMFToneChangeEvent`: a tone started playing, or (`tone` empty)
/// the tone buffer is done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCDTMFToneChangeEvent")]
pub struct DtmfToneChange {
    /// `tone`: one of `0-9 A-D # *`, `,` for a pause, or empty at the end.
    pub tone: String,
}

impl Weight for DtmfToneChange {
    fn weight(&self) -> usize {
        0
    }
}

/// A telephone event the peer sent on an audio stream (RFC 4733 §3.2):
/// one per event, in order, whatever the retransmissions of its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfTone {
    /// The tone: one of `0-9 A-D # *`.
    pub tone: char,
}

impl Weight for DtmfTone {
    fn weight(&self) -> usize {
        0
    }
}

/// An audio sender's DTMF sender (W3C webrtc-pc §7, `RTCDTMFSender`), from
/// [`RtpSender::dtmf`](super::RtpSender::dtmf). Cheap to clone; each
/// handle value gets every `tonechange` fired after it was made (at most
/// 64 unread, the oldest dropped first), so one made before
/// [`insert_dtmf`](Self::insert_dtmf) sees the first tone.
#[derive(Debug)]
#[doc(alias = "RTCDTMFSender")]
pub struct DtmfSender {
    shared: Arc<TransceiverShared>,
    changes: Mutex<Subscription<DtmfToneChange>>,
}

impl Clone for DtmfSender {
    /// Another handle of the same DTMF sender, which gets the `tonechange`s
    /// fired from now on.
    fn clone(&self) -> Self {
        DtmfSender::new(Arc::clone(&self.shared))
    }
}

impl DtmfSender {
    pub(crate) fn new(shared: Arc<TransceiverShared>) -> Self {
        let changes = shared.tone_changes.subscribe();
        DtmfSender {
            shared,
            changes: Mutex::new(changes),
        }
    }

    /// `insertDTMF(tones, duration, interToneGap)` (W3C webrtc-pc §7.2):
    /// replaces the tone buffer with `tones` (`0-9 A-D # *`, any case, and
    /// `,` for a two-second pause), each played for `duration` (clamped to
    /// 40..=6000 ms) with `inter_tone_gap` between (at least 30 ms). The
    /// packets go on the sender's SSRC with the negotiated
    /// telephone-event payload type (RFC 4733). `InvalidStateError` when
    /// the sender cannot send DTMF now ([`can_insert_dtmf`](Self::can_insert_dtmf)),
    /// `InvalidCharacterError` for another character.
    #[doc(alias = "insertDTMF")]
    pub async fn insert_dtmf(
        &self,
        tones: &str,
        duration: Duration,
        inter_tone_gap: Duration,
    ) -> Result<(), Error> {
        let id = self.shared.id;
        let tones = tones.to_owned();
        ask(&self.shared.link, |r| {
            MediaCommand::InsertDtmf(id, tones, duration, inter_tone_gap, r)
        })
        .await
    }

    /// `toneBuffer`: the tones still to play.
    #[doc(alias = "toneBuffer")]
    pub async fn tone_buffer(&self) -> Result<String, Error> {
        let id = self.shared.id;
        Ok(ask(&self.shared.link, |r| MediaCommand::DtmfState(id, r))
            .await?
            .0)
    }

    /// `canInsertDTMF`: the connection is `connected`, the transceiver
    /// sends audio now, the sender has a track, its first encoding is
    /// active, and the peer accepted telephone events at the audio codec's
    /// clock rate (W3C webrtc-pc §7.2 "determine if DTMF can be sent").
    #[doc(alias = "canInsertDTMF")]
    pub async fn can_insert_dtmf(&self) -> Result<bool, Error> {
        let id = self.shared.id;
        Ok(ask(&self.shared.link, |r| MediaCommand::DtmfState(id, r))
            .await?
            .1)
    }

    /// The next `tonechange` event of this handle value (see the type's
    /// doc); `None` once the transceiver is stopped or the connection
    /// closed, and drained.
    #[doc(alias = "ontonechange")]
    pub async fn next_tone_change(&self) -> Option<DtmfToneChange> {
        self.changes.lock().await.recv().await
    }
}
