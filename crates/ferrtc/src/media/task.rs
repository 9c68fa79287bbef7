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
    /// `replaceTrack(track)`.
    ReplaceTrack(TransceiverId, Option<MediaStreamTrack>, Reply<()>),
    /// `setStreams(...streams)`: the stream ids.
    SetStreams(TransceiverId, Vec<String>, Reply<()>),
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
    /// A keyframe request (PLI) to the peer's sender on a transceiver, on
    /// one simulcast layer (its rid) or all.
    RequestKeyframe(TransceiverId, Option<String>, Reply<()>),
    /// `getSynchronizationSources()` (false) or `getContributingSources()`
    /// (true).
    Sources(TransceiverId, bool, Reply<Vec<ferrtc_core::RtpSource>>),
    /// The `jitterBufferTarget` setter.
    SetJitterBufferTarget(TransceiverId, Option<Duration>, Reply<()>),
    /// The `jitterBufferTarget` getter.
    JitterBufferTarget(TransceiverId, Reply<Option<Duration>>),
    /// `insertDTMF(tones, duration, interToneGap)`.
    InsertDtmf(TransceiverId, String, Duration, Duration, Reply<()>),
    /// `toneBuffer` and `canInsertDTMF`.
    DtmfState(TransceiverId, Reply<(String, bool)>),
    /// `setParameters` changed the sender's `maxBitrate` (the sum over its
    /// encodings, `None` when one has none): the estimate is capped by it.
    SetMaxBitrate(TransceiverId, Option<u32>),
}

/// A frame `write_frame` accepted, on the connection's queue of handle
/// operations.
pub(crate) struct FrameOp {
    pub(crate) transceiver: TransceiverId,
    /// The simulcast layer, resolved by the writer (`None`: the one
    /// stream without simulcast).
    pub(crate) rid: Option<String>,
    pub(crate) data: bytes::Bytes,
    pub(crate) duration: Duration,
    pub(crate) keyframe: bool,
}

/// A received frame as its subscribers share it: the core's buffer
/// itself (no copy), unless it holds much more room than bytes (a
/// depacketizer that grew it, H.264's start codes): the frame queues
/// count bytes, and the room would be held unseen.
fn shared_frame(mut frame: Vec<u8>) -> bytes::Bytes {
    if frame.capacity() > frame.len() + frame.len() / 4 {
        frame.shrink_to_fit();
    }
    frame.into()
}

/// Sends a media call to the task and waits for its reply.
pub(crate) async fn ask<T>(
    link: &Link,
    make: impl FnOnce(Reply<T>) -> MediaCommand,
) -> Result<T, Error> {
    let (tx, rx) = oneshot::channel();
    link.commands
        .send(Command::Media(Box::new(make(tx))))
        .map_err(|_| link.commands.ended_error())?;
    rx.await.map_err(|_| link.commands.ended_error())?
}

/// The connection's whole stats report; once the connection is closed,
/// the one it ended with (W3C webrtc-pc §8.2).
pub(crate) async fn get_stats(link: &Link) -> Result<StatsReport, Error> {
    let (tx, rx) = oneshot::channel();
    if link.commands.send(Command::GetStats(tx)).is_ok()
        && let Ok(report) = rx.await
    {
        return Ok(report);
    }
    link.commands
        .final_stats()
        .ok_or_else(|| link.commands.ended_error())
}

/// The stats selection algorithm (W3C webrtc-pc §8.5) for a sender
/// (`kind` `outbound-rtp`) or a receiver (`inbound-rtp`) on `mid`: its
/// RTP stream objects and every object they reference directly or
/// indirectly (codec, media source, remote stream, transport, candidate
/// pair, candidates, certificates). No RTP stream before the transceiver
/// has a mid.
pub(crate) fn filter_stats(report: StatsReport, kind: &str, mid: Option<&str>) -> StatsReport {
    report.select(|s| {
        s.kind() == kind
            && match s {
                ferrtc_core::Stats::InboundRtp(s) => Some(s.mid.as_str()) == mid,
                ferrtc_core::Stats::OutboundRtp(s) => Some(s.mid.as_str()) == mid,
                _ => false,
            }
    })
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
    /// Frames the core refused since the last [`end_burst`](Self::end_burst)
    /// (a burst is at most a few thousand operations).
    dropped_in_burst: u32,
}

/// A frame queue that overflowed asks the peer for a keyframe at most
/// this often.
pub(crate) const OVERFLOW_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Whether senders may write in connection state `state`, given whether
/// they could before: from DTLS connected (`connected`) until the
/// connection fails or closes; a transient ICE `disconnected` (and the
/// `connecting` of an ICE restart) keeps the SRTP session, so writing
/// goes on.
pub(crate) fn may_write(before: bool, state: PeerConnectionState) -> bool {
    match state {
        PeerConnectionState::Connected => true,
        PeerConnectionState::Disconnected | PeerConnectionState::Connecting => before,
        _ => false,
    }
}

/// The DTLS transport is closed (by the peer's close_notify or ours).
fn dtls_closed(core: &Core) -> bool {
    core.dtls_state() == Some(ferrtc_core::DtlsTransportState::Closed)
}

impl MediaTask {
    pub(crate) fn new(link: Link) -> Self {
        MediaTask {
            link,
            transceivers: Vec::new(),
            connected: false,
            unwoken: false,
            dropped_in_burst: 0,
        }
    }

    fn get(&self, id: TransceiverId) -> Option<&Arc<TransceiverShared>> {
        self.transceivers.iter().find(|t| t.id == id)
    }

    /// Runs a media call on the core and replies, after publishing the
    /// state it left: a handle read once the call returns sees it, on any
    /// thread.
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
                self.sync(core);
                let _ = reply.send(result);
            }
            MediaCommand::RemoveTrack(id, reply) => {
                let result = core.remove_track(id).map_err(Error::from);
                if result.is_ok()
                    && let Some(shared) = self.get(id)
                {
                    shared.lock().track = None;
                }
                self.sync(core);
                let _ = reply.send(result);
            }
            MediaCommand::ReplaceTrack(id, track, reply) => {
                let track_id = track.as_ref().map(|t| t.id().to_owned());
                let result = core.replace_track(id, track_id).map_err(Error::from);
                if result.is_ok()
                    && let Some(shared) = self.get(id)
                {
                    shared.lock().track = track;
                }
                self.sync(core);
                let _ = reply.send(result);
            }
            MediaCommand::SetStreams(id, streams, reply) => {
                let result = core.set_streams(id, streams).map_err(Error::from);
                self.sync(core);
                let _ = reply.send(result);
            }
            MediaCommand::AddTransceiver(kind, init, reply) => {
                let result = super::sender::check_send_encodings(kind, init.send_encodings)
                    .and_then(|encodings| {
                        let core_init = ferrtc_core::RtpTransceiverInit {
                            direction: init.direction.unwrap_or(RtpTransceiverDirection::SendRecv),
                            streams: init.streams.iter().map(|s| s.id().to_owned()).collect(),
                            // Simulcast needs two layers (RFC 8853 §5.1);
                            // a single rid is kept in the parameters only.
                            send_encodings: encodings
                                .iter()
                                .filter(|_| encodings.len() > 1)
                                .filter_map(|e| e.rid.clone())
                                .map(|rid| ferrtc_core::SendEncoding { rid })
                                .collect(),
                        };
                        let id = core.add_transceiver(sdp_kind(kind), core_init)?;
                        Ok((id, encodings))
                    })
                    .and_then(|(id, encodings)| {
                        for e in encodings.iter().filter(|e| !e.active) {
                            // By rid; an encoding without one is the
                            // first and only (W3C webrtc-pc §5.1).
                            match e.rid.as_deref() {
                                Some(rid) => core.set_encoding_active(id, rid, false)?,
                                None => core.set_stream_active(id, false)?,
                            }
                        }
                        if let Some(max) = super::sender::max_bitrate_of(&encodings) {
                            core.set_max_bitrate(id, Some(max))?;
                        }
                        let shared = self.shared(core, id)?;
                        if !encodings.is_empty() {
                            shared.lock().encodings = encodings;
                        }
                        Ok(RtpTransceiver::new(shared))
                    });
                self.sync(core);
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
                let result = core.set_direction(id, direction).map_err(Error::from);
                self.sync(core);
                let _ = reply.send(result);
            }
            MediaCommand::Stop(id, reply) => {
                let result = core.stop_transceiver(id).map_err(Error::from);
                self.sync(core);
                let _ = reply.send(result);
            }
            MediaCommand::SetCodecPreferences(id, codecs, reply) => {
                let result = core.set_codec_preferences(id, codecs).map_err(Error::from);
                self.sync(core);
                let _ = reply.send(result);
            }
            MediaCommand::SetMaxBitrate(id, max) => {
                if let Err(e) = core.set_max_bitrate(id, max) {
                    tracing::debug!("maxBitrate not applied: {e}");
                }
                self.sync(core);
            }
            MediaCommand::RequestKeyframe(id, rid, reply) => {
                let now = Instant::now();
                let result = match rid {
                    Some(rid) => core.request_keyframe_for(now, id, &rid),
                    None => core.request_keyframe(now, id),
                }
                .map_err(Error::from);
                self.sync(core);
                let _ = reply.send(result);
            }
            MediaCommand::Sources(id, contributing, reply) => {
                let now = Instant::now();
                let sources = if contributing {
                    core.contributing_sources(now, id)
                } else {
                    core.synchronization_sources(now, id)
                };
                let _ = reply.send(sources.map_err(Error::from));
            }
            MediaCommand::SetJitterBufferTarget(id, target, reply) => {
                let now = Instant::now();
                let result = core.set_jitter_buffer_target(now, id, target);
                let _ = reply.send(result.map_err(Error::from));
            }
            MediaCommand::JitterBufferTarget(id, reply) => {
                let _ = reply.send(core.jitter_buffer_target(id).map_err(Error::from));
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
        // Those the core no longer has (a rollback removed the ones the
        // remote offer created, W3C webrtc-pc §4.4.1.6): not listed any
        // more, their handles stopped and their streams ended.
        self.transceivers.retain(|s| {
            let kept = infos.iter().any(|i| i.id == s.id);
            if !kept {
                s.lock().stopped = true;
                s.sendable.store(false, Ordering::Release);
                s.end();
            }
            kept
        });
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
                state.set_codecs(core.negotiated_codecs(info.id).unwrap_or_default());
                if sends {
                    super::sender::cut_to_agreed(&mut state.encodings, &core.send_rids(info.id));
                }
            }
            shared.sendable.store(
                sends && self.connected && !info.stopped && !self.link.is_closed(),
                Ordering::Release,
            );
            if info.stopped {
                shared.end();
            }
        }
    }

    /// The `track` events of one description (core `Track` events), their
    /// streams grouped by msid: every event's stream of an id holds every
    /// track of the description with that id (W3C webrtc-pc §4.4.1.6,
    /// "set the associated remote streams").
    pub(crate) fn track_events(
        &mut self,
        core: &Core,
        events: Vec<ferrtc_core::Event>,
    ) -> Vec<TrackEvent> {
        let mut found = Vec::new();
        for ev in events {
            if let ferrtc_core::Event::Track {
                transceiver,
                stream_ids,
                ..
            } = ev
            {
                if self.get(transceiver).is_none() {
                    self.sync(core);
                }
                if let Some(shared) = self.get(transceiver) {
                    found.push((Arc::clone(shared), stream_ids));
                }
            }
        }
        let mut streams: Vec<MediaStream> = Vec::new();
        for (shared, ids) in &found {
            for id in ids {
                let i = match streams.iter().position(|s| s.id() == id) {
                    Some(i) => i,
                    None => {
                        streams.push(MediaStream::with_id(id.clone()));
                        streams.len() - 1
                    }
                };
                streams[i].add_track(shared.receiver_track.clone());
            }
        }
        found
            .into_iter()
            .map(|(shared, ids)| {
                let track = shared.receiver_track.clone();
                let streams = ids
                    .iter()
                    .filter_map(|id| streams.iter().find(|s| s.id() == id).cloned())
                    .collect();
                let transceiver = RtpTransceiver::new(shared);
                TrackEvent {
                    receiver: transceiver.receiver(),
                    transceiver,
                    streams,
                    track,
                }
            })
            .collect()
    }

    /// A core event of media (or the connection state, which decides
    /// whether senders may write); the `track` event to publish on the
    /// connection, if any.
    pub(crate) fn handle_event(
        &mut self,
        core: &mut Core,
        event: ferrtc_core::Event,
    ) -> Option<TrackEvent> {
        match event {
            ev @ ferrtc_core::Event::Track { .. } => {
                self.track_events(core, vec![ev]).into_iter().next()
            }
            ferrtc_core::Event::TrackFrame {
                transceiver,
                rid,
                frame,
                rtp_timestamp,
                keyframe,
                ..
            } => {
                let shared = Arc::clone(self.get(transceiver)?);
                shared.frames.publish_quietly(EncodedFrame {
                    data: shared_frame(frame),
                    rtp_timestamp,
                    keyframe,
                    rid,
                    dropped_before: 0,
                });
                self.unwoken = true;
                if shared.frames.take_keyframe_wanted() {
                    self.overflow_keyframe(core, transceiver);
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
            ferrtc_core::Event::KeyframeRequested { transceiver, rid } => {
                if let Some(shared) = self.get(transceiver) {
                    shared.sender_events.publish(match rid {
                        Some(rid) => RtpSenderEvent::LayerKeyframeRequest { rid },
                        None => RtpSenderEvent::KeyframeRequest,
                    });
                }
                None
            }
            _ => None,
        }
    }

    /// A frame queue of `id` overflowed with no keyframe left in it: asks
    /// the peer for one (a PLI), at most once per
    /// [`OVERFLOW_KEYFRAME_INTERVAL`].
    fn overflow_keyframe(&mut self, core: &mut Core, id: TransceiverId) {
        let now = Instant::now();
        let Some(shared) = self.get(id) else {
            return;
        };
        {
            let mut last = shared
                .overflow_request
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| now.duration_since(at) < OVERFLOW_KEYFRAME_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        tracing::debug!("a frame reader fell behind: asking for a keyframe");
        if let Err(e) = core.request_keyframe(now, id) {
            tracing::debug!("keyframe request after an overflow not sent: {e}");
        }
    }

    /// The connection state changed: senders may write from DTLS
    /// connected until failed or closed ([`may_write`]).
    pub(crate) fn set_connection_state(&mut self, core: &Core, state: PeerConnectionState) {
        let connected =
            may_write(self.connected, state) && !self.link.is_closed() && !dtls_closed(core);
        if connected != self.connected {
            self.connected = connected;
            self.sync(core);
        }
    }

    /// The DTLS transport's state changed: the peer's close_notify closed the DTLS
    /// transport (RFC 5246 §7.2.1, W3C webrtc-pc §5.5 `closed`), which
    /// leaves the connection state as it was (it counts as connected,
    /// §4.3.3) but lets no SRTP out: senders stop as at `failed`.
    pub(crate) fn check_dtls_closed(&mut self, core: &Core) {
        if self.connected && dtls_closed(core) {
            self.connected = false;
            self.sync(core);
        }
    }

    /// Hands a written frame to the core; a refusal `write_frame` could
    /// not foresee (a full outbound queue, a renegotiation meanwhile)
    /// drops it, counted on the sender and logged at the burst's end.
    pub(crate) fn write(&mut self, core: &mut Core, op: FrameOp) {
        if let Some(s) = self.get(op.transceiver) {
            s.release(op.data.len());
        }
        let now = Instant::now();
        let written = match &op.rid {
            Some(rid) => {
                core.write_frame_for(now, op.transceiver, rid, op.data, op.duration, op.keyframe)
            }
            None => core.write_frame(now, op.transceiver, op.data, op.duration, op.keyframe),
        };
        if let Err(e) = written {
            tracing::debug!("frame dropped: {e}");
            self.dropped_in_burst = self.dropped_in_burst.saturating_add(1);
            if let Some(s) = self.get(op.transceiver) {
                s.dropped_frames.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A burst of operations ended: logs the frames it dropped, once.
    pub(crate) fn end_burst(&mut self) {
        let dropped = std::mem::take(&mut self.dropped_in_burst);
        if dropped > 0 {
            tracing::warn!(
                "{dropped} written frames dropped: the core refused them \
                 (outbound queue full or not sending); see RtpSender::dropped_frames"
            );
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
        self.link.commands.mark_closing();
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

    #[test]
    fn a_received_frame_is_shared_as_assembled_unless_it_holds_much_unused_room() {
        let exact = Vec::from([7u8; 1000]);
        let at = exact.as_ptr();
        assert_eq!(shared_frame(exact).as_ptr(), at, "no copy");
        // Grown by a depacketizer: 1,000 bytes in 4,000 of room.
        let mut grown = Vec::with_capacity(4000);
        grown.extend_from_slice(&[8u8; 1000]);
        let shared = shared_frame(grown);
        assert_eq!(shared, &[8u8; 1000][..]);
        // `Bytes` keeps a Vec's room unless it is exact: converted back, an
        // exact one has as much room as bytes.
        assert_eq!(Vec::from(shared).capacity(), 1000);
    }

    /// Writing goes on through a transient ICE `disconnected` (and the
    /// `connecting` of an ICE restart) once DTLS connected; it stops at
    /// `failed` and `closed`, and never starts before `connected`.
    #[test]
    fn senders_write_from_connected_until_failed_or_closed() {
        use PeerConnectionState::*;
        assert!(!may_write(false, New));
        assert!(!may_write(false, Connecting));
        assert!(!may_write(false, Disconnected));
        assert!(may_write(false, Connected));
        assert!(may_write(true, Disconnected));
        assert!(may_write(true, Connecting));
        assert!(!may_write(true, Failed));
        assert!(!may_write(true, Closed));
    }

    /// Keyframe requests nobody has read yet merge: a reader that comes
    /// late gets one request, not one per PLI since the start.
    #[tokio::test(flavor = "current_thread")]
    async fn keyframe_requests_before_a_reader_merge_into_one() {
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
        let id = transceiver.shared.id;
        for _ in 0..5 {
            let ev = ferrtc_core::Event::KeyframeRequested {
                transceiver: id,
                rid: None,
            };
            task.handle_event(&mut core, ev);
        }
        let sender = transceiver.sender();
        assert_eq!(
            sender.next_event().await,
            Some(RtpSenderEvent::KeyframeRequest)
        );
        let again = tokio::time::timeout(Duration::from_millis(50), sender.next_event()).await;
        assert!(again.is_err(), "a replayed request: {again:?}");
    }

    /// Hostile RTCP: PLIs alternating between two layers' SSRCs, never
    /// read, stay within a bound, and the latest requests of both layers
    /// are still there for a late reader.
    #[tokio::test(flavor = "current_thread")]
    async fn unread_layer_keyframe_requests_alternating_between_layers_stay_bounded() {
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
        let id = transceiver.shared.id;
        let sender = transceiver.sender();
        for i in 0..10_000 {
            let rid = if i % 2 == 0 { "q" } else { "h" };
            let ev = ferrtc_core::Event::KeyframeRequested {
                transceiver: id,
                rid: Some(rid.to_owned()),
            };
            task.handle_event(&mut core, ev);
        }
        let mut read = Vec::new();
        while let Ok(Some(ev)) =
            tokio::time::timeout(Duration::from_millis(20), sender.next_event()).await
        {
            read.push(ev);
        }
        assert!(read.len() <= 8, "{} requests queued", read.len());
        for rid in ["q", "h"] {
            let want = RtpSenderEvent::LayerKeyframeRequest {
                rid: rid.to_owned(),
            };
            assert!(read.contains(&want), "no request for {rid}: {read:?}");
        }
    }

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
        let ev = ferrtc_core::Event::KeyframeRequested {
            transceiver: id,
            rid: None,
        };
        assert!(task.handle_event(&mut core, ev).is_none());
        for r in readers {
            assert_eq!(r.await.unwrap(), Some(RtpSenderEvent::KeyframeRequest));
        }
        // The connection ends: so do the sender's events.
        task.end();
        assert_eq!(sender.next_event().await, None);
        assert!(!transceiver.shared.sendable());
    }
}
