//! The connection task's side of media: the handles' shared state by
//! transceiver, the media calls run on the core, and the core's media
//! events published to the handles.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ferrtc_core::{
    PeerConnection as Core, PeerConnectionState, RtpCodec, RtpTransceiverDirection, StatsReport,
    TrackInfo, TransceiverId,
};
use tokio::sync::oneshot;

use super::dtmf::{DtmfTone, DtmfToneChange};
use super::sender::{RtpEncodingParameters, RtpSenderEvent};
use super::shared::{Link, TransceiverShared};
use super::{
    EncodedFrame, MediaKind, MediaStream, MediaStreamTrack, RtpSender, RtpTransceiver,
    RtpTransceiverInit, TrackEvent, sdp_kind, track_kind,
};
use crate::Error;
use crate::driver::Command;

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A media call of a handle, run on the task.
pub(crate) enum MediaCommand {
    /// `addTrack(track, ...streams)`: the track and the stream ids.
    AddTrack(MediaStreamTrack, Vec<String>, Reply<RtpSender>),
    /// `removeTrack(sender)`.
    RemoveTrack(TransceiverId, Reply<()>),
    /// `addTransceiver(kind, init)`.
    AddTransceiver(MediaKind, RtpTransceiverInit, Reply<RtpTransceiver>),
    /// `getTransceivers()`.
    Transceivers(oneshot::Sender<Vec<RtpTransceiver>>),
    /// The `direction` setter.
    SetDirection(TransceiverId, RtpTransceiverDirection, Reply<()>),
    /// `stop()`.
    Stop(TransceiverId, Reply<()>),
    /// `setCodecPreferences()`.
    SetCodecPreferences(TransceiverId, Vec<RtpCodec>, Reply<()>),
    /// A keyframe request (PLI) to the peer's sender on a transceiver.
    RequestKeyframe(TransceiverId, Reply<()>),
    /// `insertDTMF(tones, duration, interToneGap)`.
    InsertDtmf(TransceiverId, String, Duration, Duration, Reply<()>),
    /// `toneBuffer` and `canInsertDTMF`.
    DtmfState(TransceiverId, Reply<(String, bool)>),
}

/// A frame `write_frame` accepted, on the connection's queue of handle
/// operations.
pub(crate) struct FrameOp {
    pub(crate) transceiver: TransceiverId,
    pub(crate) data: Vec<u8>,
    pub(crate) duration: Duration,
    pub(crate) keyframe: bool,
}

/// Sends a media call to the task and waits for its reply.
pub(crate) async fn ask<T>(
    link: &Link,
    make: impl FnOnce(Reply<T>) -> MediaCommand,
) -> Result<T, Error> {
    let (tx, rx) = oneshot::channel();
    link.commands
        .send(Command::Media(Box::new(make(tx))))
        .map_err(|_| Error::Closed)?;
    rx.await.map_err(|_| Error::Closed)?
}

/// The connection's whole stats report.
pub(crate) async fn get_stats(link: &Link) -> Result<StatsReport, Error> {
    let (tx, rx) = oneshot::channel();
    link.commands
        .send(Command::GetStats(tx))
        .map_err(|_| Error::Closed)?;
    rx.await.map_err(|_| Error::Closed)
}

/// The objects of `report` of type `kind` whose `mid` is `mid` (none
/// before the transceiver has a mid).
pub(crate) fn filter_stats(mut report: StatsReport, kind: &str, mid: Option<&str>) -> StatsReport {
    report.stats.retain(|_, s| {
        s.kind() == kind
            && match s {
                ferrtc_core::Stats::InboundRtp(s) => Some(s.mid.as_str()) == mid,
                ferrtc_core::Stats::OutboundRtp(s) => Some(s.mid.as_str()) == mid,
                _ => false,
            }
    });
    report
}

/// The media handles of one connection, as its task keeps them.
#[derive(Debug)]
pub(crate) struct MediaTask {
    link: Link,
    /// Every transceiver, in creation order (the core's).
    transceivers: Vec<Arc<TransceiverShared>>,
    /// DTLS is connected: senders may write once negotiated.
    connected: bool,
    /// Frames were published quietly since the readers were last woken.
    unwoken: bool,
}

impl MediaTask {
    pub(crate) fn new(link: Link) -> Self {
        MediaTask {
            link,
            transceivers: Vec::new(),
            connected: false,
            unwoken: false,
        }
    }

    fn get(&self, id: TransceiverId) -> Option<&Arc<TransceiverShared>> {
        self.transceivers.iter().find(|t| t.id == id)
    }

    /// Runs a media call on the core and replies.
    pub(crate) fn run(&mut self, cmd: MediaCommand, core: &mut Core) {
        match cmd {
            MediaCommand::AddTrack(track, streams, reply) => {
                let info = TrackInfo {
                    id: track.id().to_owned(),
                    kind: sdp_kind(track.kind()),
                    stream_ids: streams,
                };
                let result = core.add_track(info).map_err(Error::from).and_then(|id| {
                    let shared = self.shared(core, id)?;
                    shared.lock().track = Some(track);
                    Ok(RtpSender::new(shared))
                });
                let _ = reply.send(result);
            }
            MediaCommand::RemoveTrack(id, reply) => {
                let result = core.remove_track(id).map_err(Error::from);
                if result.is_ok()
                    && let Some(shared) = self.get(id)
                {
                    shared.lock().track = None;
                }
                let _ = reply.send(result);
            }
            MediaCommand::AddTransceiver(kind, init, reply) => {
                let encodings: Vec<RtpEncodingParameters> = init
                    .send_encodings
                    .iter()
                    .map(|e| RtpEncodingParameters::new(Some(e.rid.clone())))
                    .collect();
                let core_init = ferrtc_core::RtpTransceiverInit {
                    direction: init.direction.unwrap_or(RtpTransceiverDirection::SendRecv),
                    streams: init.streams.iter().map(|s| s.id().to_owned()).collect(),
                    send_encodings: init.send_encodings,
                };
                let result = core
                    .add_transceiver(sdp_kind(kind), core_init)
                    .map_err(Error::from)
                    .and_then(|id| {
                        let shared = self.shared(core, id)?;
                        if !encodings.is_empty() {
                            shared.lock().encodings = encodings;
                        }
                        Ok(RtpTransceiver::new(shared))
                    });
                let _ = reply.send(result);
            }
            MediaCommand::Transceivers(reply) => {
                self.sync(core);
                let all = self
                    .transceivers
                    .iter()
                    .map(|t| RtpTransceiver::new(Arc::clone(t)))
                    .collect();
                let _ = reply.send(all);
            }
            MediaCommand::SetDirection(id, direction, reply) => {
                let _ = reply.send(core.set_direction(id, direction).map_err(Error::from));
            }
            MediaCommand::Stop(id, reply) => {
                let _ = reply.send(core.stop_transceiver(id).map_err(Error::from));
            }
            MediaCommand::SetCodecPreferences(id, codecs, reply) => {
                let _ = reply.send(core.set_codec_preferences(id, codecs).map_err(Error::from));
            }
            MediaCommand::RequestKeyframe(id, reply) => {
                let now = Instant::now();
                let _ = reply.send(core.request_keyframe(now, id).map_err(Error::from));
            }
            MediaCommand::InsertDtmf(id, tones, duration, gap, reply) => {
                let now = Instant::now();
                let result = core.insert_dtmf(now, id, &tones, duration, gap);
                let _ = reply.send(result.map_err(Error::from));
            }
            MediaCommand::DtmfState(id, reply) => {
                let state = core
                    .dtmf_tone_buffer(id)
                    .and_then(|buffer| Ok((buffer, core.can_insert_dtmf(id)?)));
                let _ = reply.send(state.map_err(Error::from));
            }
        }
        self.sync(core);
    }

    /// The shared state of a transceiver the core just made.
    fn shared(&mut self, core: &Core, id: TransceiverId) -> Result<Arc<TransceiverShared>, Error> {
        self.sync(core);
        self.get(id).cloned().ok_or(Error::Closed)
    }

    /// Publishes what the core says of every transceiver (after every
    /// call and description), making the state of those a remote offer
    /// created.
    pub(crate) fn sync(&mut self, core: &Core) {
        let infos = core.transceivers();
        for info in infos {
            let shared = match self.get(info.id) {
                Some(s) => Arc::clone(s),
                None => {
                    let s = Arc::new(TransceiverShared::new(
                        info.id,
                        track_kind(&info.kind),
                        None,
                        vec![RtpEncodingParameters::new(None)],
                        self.link.clone(),
                    ));
                    self.transceivers.push(Arc::clone(&s));
                    s
                }
            };
            let sends = matches!(
                info.current_direction,
                Some(RtpTransceiverDirection::SendRecv | RtpTransceiverDirection::SendOnly)
            );
            {
                let mut state = shared.lock();
                state.mid = info.mid;
                state.direction = info.direction;
                state.current_direction = info.current_direction;
                state.stopped = info.stopped;
                state.codecs = core.negotiated_codecs(info.id).unwrap_or_default();
            }
            shared
                .sendable
                .store(sends && self.connected && !info.stopped, Ordering::Release);
            if info.stopped {
                shared.end();
            }
        }
    }

    /// A core event of media (or the connection state, which decides
    /// whether senders may write); the `track` event to publish on the
    /// connection, if any.
    pub(crate) fn handle_event(
        &mut self,
        core: &Core,
        event: ferrtc_core::Event,
    ) -> Option<TrackEvent> {
        match event {
            ferrtc_core::Event::Track {
                transceiver,
                stream_ids,
                ..
            } => {
                if self.get(transceiver).is_none() {
                    self.sync(core);
                }
                let shared = Arc::clone(self.get(transceiver)?);
                let track = shared.receiver_track.clone();
                let streams = stream_ids
                    .into_iter()
                    .map(|id| {
                        let mut s = MediaStream::with_id(id);
                        s.add_track(track.clone());
                        s
                    })
                    .collect();
                let transceiver = RtpTransceiver::new(shared);
                Some(TrackEvent {
                    receiver: transceiver.receiver(),
                    transceiver,
                    streams,
                    track,
                })
            }
            ferrtc_core::Event::TrackFrame {
                transceiver,
                frame,
                rtp_timestamp,
                keyframe,
                ..
            } => {
                if let Some(shared) = self.get(transceiver) {
                    shared.frames.publish_quietly(EncodedFrame {
                        data: frame.into(),
                        rtp_timestamp,
                        keyframe,
                    });
                    self.unwoken = true;
                }
                None
            }
            ferrtc_core::Event::DtmfToneChange { transceiver, tone } => {
                if let Some(shared) = self.get(transceiver) {
                    shared.tone_changes.publish(DtmfToneChange { tone });
                }
                None
            }
            ferrtc_core::Event::DtmfReceived { transceiver, tone } => {
                if let Some(shared) = self.get(transceiver) {
                    shared.tones_received.publish(DtmfTone { tone });
                }
                None
            }
            ferrtc_core::Event::KeyframeRequested { transceiver } => {
                if let Some(shared) = self.get(transceiver) {
                    shared
                        .sender_events
                        .publish(RtpSenderEvent::KeyframeRequest);
                }
                None
            }
            _ => None,
        }
    }

    /// The connection state changed: senders may write only while
    /// connected.
    pub(crate) fn set_connection_state(&mut self, core: &Core, state: PeerConnectionState) {
        let connected = state == PeerConnectionState::Connected;
        if connected != self.connected {
            self.connected = connected;
            self.sync(core);
        }
    }

    /// Hands a written frame to the core; a refusal `write_frame` could
    /// not foresee (a renegotiation meanwhile) drops it.
    pub(crate) fn write(&mut self, core: &mut Core, op: FrameOp) {
        if let Err(e) = core.write_frame(
            Instant::now(),
            op.transceiver,
            &op.data,
            op.duration,
            op.keyframe,
        ) {
            tracing::debug!("frame dropped: {e}");
        }
    }

    /// Wakes the readers of frames published quietly.
    pub(crate) fn wake(&mut self) {
        if std::mem::take(&mut self.unwoken) {
            for t in &self.transceivers {
                t.frames.wake();
            }
        }
    }

    /// The connection ended: every sender's and receiver's stream ends.
    pub(crate) fn end(&mut self) {
        self.connected = false;
        for t in &self.transceivers {
            t.sendable.store(false, Ordering::Release);
            t.end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{CommandQueue, OpQueue};

    /// W3C webrtc-encoded-transform `keyframerequest`: a PLI or FIR from
    /// the peer reaches every task reading a clone of the sender.
    #[tokio::test(flavor = "current_thread")]
    async fn a_keyframe_request_reaches_every_task_on_clones_of_the_sender() {
        let now = Instant::now();
        let mut core = Core::new(
            ferrtc_core::Config::default(),
            now,
            std::time::SystemTime::now(),
        )
        .unwrap();
        let (commands, _rx) = CommandQueue::new_pair();
        let mut task = MediaTask::new(Link {
            commands,
            ops: Arc::new(OpQueue::default()),
        });
        let (tx, rx) = oneshot::channel();
        task.run(
            MediaCommand::AddTransceiver(MediaKind::Video, RtpTransceiverInit::default(), tx),
            &mut core,
        );
        let transceiver = rx.await.unwrap().unwrap();
        let sender = transceiver.sender();
        let mut readers = Vec::new();
        for _ in 0..3 {
            let s = sender.clone();
            readers.push(tokio::spawn(async move { s.next_event().await }));
        }
        // The readers subscribe at their first read.
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        let id = transceiver.shared.id;
        let ev = ferrtc_core::Event::KeyframeRequested { transceiver: id };
        assert!(task.handle_event(&core, ev).is_none());
        for r in readers {
            assert_eq!(r.await.unwrap(), Some(RtpSenderEvent::KeyframeRequest));
        }
        // The connection ends: so do the sender's events.
        task.end();
        assert_eq!(sender.next_event().await, None);
        assert!(!transceiver.shared.sendable());
    }
}
