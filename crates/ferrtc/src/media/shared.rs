//! The state of one transceiver that its handles read without asking the
//! task, and that the task updates after every call and every description.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ferrtc_core::{RtpCodec, RtpTransceiverDirection, TransceiverId};
use ferrtc_media::track::{MediaKind, MediaStreamTrack};

use super::EncodedFrame;
use super::dtmf::{DtmfTone, DtmfToneChange, TONE_QUEUE_LIMIT};
use super::keyframe::FrameCodec;
use super::sender::{RtpEncodingParameters, RtpSenderEvent};
use crate::driver::{CommandQueue, OpQueue};
use crate::events::{Hub, QueueLimit};

/// What each subscription to a receiver's frames (and the backlog kept
/// for the first one) holds unread at most: 256 frames and 8 MiB. Past
/// it audio drops its oldest frames and video drops up to its next
/// queued keyframe, or everything until a keyframe comes, which is asked
/// for (see `events.rs`, `docs/limits.md`).
pub(crate) const FRAME_QUEUE_LIMIT: QueueLimit = QueueLimit {
    events: 256,
    bytes: 8 * 1024 * 1024,
    keyframes: false,
};

/// [`FRAME_QUEUE_LIMIT`] for video: dropping goes to keyframes.
const VIDEO_FRAME_QUEUE_LIMIT: QueueLimit = QueueLimit {
    keyframes: true,
    ..FRAME_QUEUE_LIMIT
};

/// What a sender's unread events hold at most: keyframe requests merge
/// with the last one queued, so PLIs alternating between simulcast
/// layers' SSRCs (RFC 8853: at most 4 layers, plus the stream without
/// rid) would otherwise queue without end while the application does not
/// read; past the limit the oldest requests go (a peer repeats its PLIs).
const SENDER_EVENT_QUEUE_LIMIT: QueueLimit = QueueLimit {
    events: 8,
    bytes: usize::MAX,
    keyframes: false,
};

/// Frames a sender may have queued for the task, not yet taken.
pub(crate) const MAX_QUEUED_FRAMES: usize = 128;
/// Bytes a sender may have queued for the task, not yet taken.
pub(crate) const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// The connection's queues, as the media handles reach the task. Holding
/// them does not keep the connection alive.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) commands: Arc<CommandQueue>,
    pub(crate) ops: Arc<OpQueue>,
}

impl Link {
    /// Whether the connection is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.commands.is_closing()
    }
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
    /// The codecs of the last completed exchange, the send codec first
    /// (set with [`Self::set_codecs`]).
    pub(crate) codecs: Vec<RtpCodec>,
    /// The send codec (the first of `codecs` that is not RTX), as a
    /// writer tells keyframes by it.
    pub(crate) send_codec: Option<FrameCodec>,
    /// `sender.track`.
    pub(crate) track: Option<MediaStreamTrack>,
    /// The sender's encodings (`getParameters().encodings`).
    pub(crate) encodings: Vec<RtpEncodingParameters>,
    /// The `transactionId` of the last `getParameters()` and the codecs
    /// it returned (W3C `[[LastReturnedParameters]]`, read-only members),
    /// until a `setParameters()` uses it.
    pub(crate) transaction: Option<(String, Vec<RtpCodec>)>,
    /// Counts `getParameters()` calls, for transaction ids.
    pub(crate) transactions: u64,
}

impl Snapshot {
    /// A new transceiver's state: sendrecv, nothing negotiated yet.
    fn new(track: Option<MediaStreamTrack>, encodings: Vec<RtpEncodingParameters>) -> Self {
        Snapshot {
            mid: None,
            direction: RtpTransceiverDirection::SendRecv,
            current_direction: None,
            stopped: false,
            codecs: Vec::new(),
            send_codec: None,
            track,
            encodings,
            transaction: None,
            transactions: 0,
        }
    }

    /// The codecs of a completed exchange, and the send codec among them.
    pub(crate) fn set_codecs(&mut self, codecs: Vec<RtpCodec>) {
        self.send_codec = codecs
            .iter()
            .find(|c| !c.is_rtx())
            .map(|c| FrameCodec::of(&c.name));
        self.codecs = codecs;
    }
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
    /// When the task last asked for a keyframe because a frame queue
    /// overflowed (at most once per `OVERFLOW_KEYFRAME_INTERVAL`); only
    /// the task touches it.
    pub(crate) overflow_request: Mutex<Option<std::time::Instant>>,
    /// `tonechange` events of the sender's DTMF sender.
    pub(crate) tone_changes: Arc<Hub<DtmfToneChange>>,
    /// Telephone events the receiver heard.
    pub(crate) tones_received: Arc<Hub<DtmfTone>>,
    /// The connection's queues.
    pub(crate) link: Link,
    /// Frames written and not yet taken by the task.
    queued_frames: AtomicUsize,
    /// Their bytes.
    queued_bytes: AtomicUsize,
    /// Frames accepted by `write_frame` that the core refused.
    pub(crate) dropped_frames: AtomicU64,
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
            state: Mutex::new(Snapshot::new(track, encodings)),
            sendable: AtomicBool::new(false),
            sender_events: Arc::new(Hub::bounded(&SENDER_EVENT_QUEUE_LIMIT)),
            frames: Arc::new(Hub::bounded(if kind == MediaKind::Video {
                &VIDEO_FRAME_QUEUE_LIMIT
            } else {
                &FRAME_QUEUE_LIMIT
            })),
            overflow_request: Mutex::new(None),
            tone_changes: Arc::new(Hub::bounded(&TONE_QUEUE_LIMIT)),
            tones_received: Arc::new(Hub::bounded(&TONE_QUEUE_LIMIT)),
            link,
            queued_frames: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            dropped_frames: AtomicU64::new(0),
        }
    }

    /// Counts a frame of `len` bytes as queued for the task, if the
    /// sender's bound leaves room (one frame always fits an empty queue).
    pub(crate) fn reserve(&self, len: usize) -> bool {
        let frames = self.queued_frames.fetch_add(1, Ordering::AcqRel);
        let bytes = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if frames == 0 || (frames < MAX_QUEUED_FRAMES && bytes + len <= MAX_QUEUED_BYTES) {
            return true;
        }
        self.release(len);
        false
    }

    /// The task took (or dropped) a frame of `len` bytes.
    pub(crate) fn release(&self, len: usize) {
        self.queued_frames.fetch_sub(1, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_codec_is_the_first_negotiated_codec_that_is_not_rtx() {
        let mut snapshot = Snapshot::new(None, Vec::new());
        snapshot.set_codecs(vec![
            RtpCodec::rtx(97, 96, 90_000),
            RtpCodec::new(96, "vp8", 90_000, None),
            RtpCodec::new(98, "H264", 90_000, None),
        ]);
        assert_eq!(snapshot.send_codec, Some(FrameCodec::Vp8));
        assert_eq!(snapshot.codecs.len(), 3);
        snapshot.set_codecs(vec![RtpCodec::new(111, "opus", 48_000, Some(2))]);
        assert_eq!(snapshot.send_codec, Some(FrameCodec::Other));
        snapshot.set_codecs(Vec::new());
        assert_eq!(snapshot.send_codec, None);
    }
}
