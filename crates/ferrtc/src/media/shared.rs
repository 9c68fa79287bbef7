//! The state of one transceiver that its handles read without asking the
//! task, and that the task updates after every call and every description.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ferrtc_core::{RtpCodec, RtpTransceiverDirection, TransceiverId};
use ferrtc_media::track::{MediaKind, MediaStreamTrack};

use super::EncodedFrame;
use super::dtmf::{DtmfTone, DtmfToneChange, TONE_BACKLOG};
use super::sender::{RtpEncodingParameters, RtpSenderEvent};
use crate::driver::{CommandQueue, OpQueue};
use crate::events::Hub;

/// Frames a receiver keeps for its first subscriber, the oldest dropped
/// first: a receiver nobody reads holds no more than this.
pub(crate) const FRAME_BACKLOG: usize = 256;

/// The connection's queues, as the media handles reach the task. Holding
/// them does not keep the connection alive.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) commands: Arc<CommandQueue>,
    pub(crate) ops: Arc<OpQueue>,
}

/// What the task last saw of a transceiver, and what the handles own
/// (the sender's track and parameters).
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// `mid`.
    pub(crate) mid: Option<String>,
    /// `direction`.
    pub(crate) direction: RtpTransceiverDirection,
    /// `currentDirection`.
    pub(crate) current_direction: Option<RtpTransceiverDirection>,
    /// `stopped`.
    pub(crate) stopped: bool,
    /// The codecs of the last completed exchange, the send codec first.
    pub(crate) codecs: Vec<RtpCodec>,
    /// `sender.track`.
    pub(crate) track: Option<MediaStreamTrack>,
    /// The sender's encodings (`getParameters().encodings`).
    pub(crate) encodings: Vec<RtpEncodingParameters>,
    /// The `transactionId` of the last `getParameters()`, until a
    /// `setParameters()` uses it.
    pub(crate) transaction: Option<String>,
    /// Counts `getParameters()` calls, for transaction ids.
    pub(crate) transactions: u64,
}

/// One transceiver's state, shared by its handles and the task.
#[derive(Debug)]
pub(crate) struct TransceiverShared {
    pub(crate) id: TransceiverId,
    pub(crate) kind: MediaKind,
    /// `receiver.track`: made with the transceiver (W3C webrtc-pc §5.4).
    pub(crate) receiver_track: MediaStreamTrack,
    state: Mutex<Snapshot>,
    /// The sender may write now: negotiated to send, connected, not
    /// stopped (published by the task).
    pub(crate) sendable: AtomicBool,
    /// Keyframe requests of the sender.
    pub(crate) sender_events: Arc<Hub<RtpSenderEvent>>,
    /// Frames of the receiver.
    pub(crate) frames: Arc<Hub<EncodedFrame>>,
    /// `tonechange` events of the sender's DTMF sender.
    pub(crate) tone_changes: Arc<Hub<DtmfToneChange>>,
    /// Telephone events the receiver heard.
    pub(crate) tones_received: Arc<Hub<DtmfTone>>,
    /// The connection's queues.
    pub(crate) link: Link,
}

impl TransceiverShared {
    pub(crate) fn new(
        id: TransceiverId,
        kind: MediaKind,
        track: Option<MediaStreamTrack>,
        encodings: Vec<RtpEncodingParameters>,
        link: Link,
    ) -> Self {
        TransceiverShared {
            id,
            kind,
            receiver_track: MediaStreamTrack::new(kind, "remote"),
            state: Mutex::new(Snapshot {
                mid: None,
                direction: RtpTransceiverDirection::SendRecv,
                current_direction: None,
                stopped: false,
                codecs: Vec::new(),
                track,
                encodings,
                transaction: None,
                transactions: 0,
            }),
            sendable: AtomicBool::new(false),
            sender_events: Arc::new(Hub::new(None)),
            frames: Arc::new(Hub::with_backlog_limit(FRAME_BACKLOG)),
            tone_changes: Arc::new(Hub::with_backlog_limit(TONE_BACKLOG)),
            tones_received: Arc::new(Hub::with_backlog_limit(TONE_BACKLOG)),
            link,
        }
    }

    /// The snapshot, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // Only plain stores happen under the lock: a panic leaves it whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the sender may write now.
    pub(crate) fn sendable(&self) -> bool {
        self.sendable.load(Ordering::Acquire)
    }

    /// Ends the streams of the sender's and the receiver's events.
    pub(crate) fn end(&self) {
        self.sender_events.close();
        self.frames.close();
        self.tone_changes.close();
        self.tones_received.close();
    }
}
