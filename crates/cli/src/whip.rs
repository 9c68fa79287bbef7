//! The media side of WHIP/WHEP in `ferrtc demo` and `ferrtc signal`: one
//! publisher's peer connection (from a `POST /whip` offer), N viewers'
//! peer connections (from `POST /whep` offers), and the forwarding between
//! them, without decoding (the HTTP side is `ferrtc-signal`'s, behind its
//! media seam).
//!
//! Tasks:
//! - the broadcast task ([`run`]) owns the sessions: it answers the seam's
//!   requests, reserves the publisher's seat (a second publisher gets 409,
//!   a viewer without a publisher 404), and ends every viewer when the
//!   publisher leaves (a new publisher's media would need a renegotiation
//!   the WHEP viewers cannot do). A session counts from its offer on (the
//!   viewer cap includes the viewers being set up); one whose answer is
//!   ready is let in only if it is still wanted (not closed meanwhile, and
//!   for a viewer, its publisher still the one live), otherwise it is
//!   closed and refused. Every session that ends or is refused is reported
//!   ended to the HTTP side;
//! - one task per session sets it up (offer, answer, candidates gathered
//!   into the answer: WHIP has no trickle from the server) and then
//!   watches its events; a session not connected within 30 s is ended;
//! - a `PATCH` with candidates adds them, after those of the session's
//!   earlier `PATCH`es (end-of-candidates last); one with new ICE credentials
//!   restarts ICE (RFC 9725 §4.3.2): the session's offer again with the new
//!   credentials, answered, and the answer's ICE part sent back as a
//!   fragment (an offer it cannot answer is rolled back);
//! - one forwarding task per published track owns a
//!   [`crate::forward::Forwarder`]: each frame of the
//!   publisher goes to the bounded queue of each viewer it decides on; a
//!   full queue drops the frame for that viewer only, which then waits for
//!   a keyframe;
//! - a simulcast publisher's layers (frames named by rid, RFC 8853) are
//!   ranked by their measured bitrates; each viewer gets one layer, picked
//!   from its connection's estimate (the `AvailableOutgoingBitrate` event,
//!   W3C `availableOutgoingBitrate`), switched at that layer's keyframe,
//!   which is asked of that layer alone (`request_keyframe_for`);
//! - one writer task per viewer track writes its queue on the viewer's
//!   sender (its SSRC, sequence numbers and timestamps) and passes its
//!   keyframe requests up.

use std::collections::HashMap;
use std::time::Duration;

use ferrtc::{
    Bytes, Configuration, DtlsTransportState, Error, IceGatheringState, MediaKind, MediaStream,
    MediaStreamTrack, PeerConnection, PeerConnectionEvent, PeerConnectionEvents,
    PeerConnectionState, RtpCodec, RtpReceiver, RtpSender, RtpSenderEvent, RtpTransceiverDirection,
    SessionDescription, TrackEvent,
};
use ferrtc_sdp::{Direction, MediaKind as SdpKind};
use ferrtc_signal::whip::{FragCandidate, SessionKind};
use ferrtc_signal::{MediaHandle, MediaRefusal, MediaReply, MediaRequest, SessionEnder};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::forward::{Forwarder, FrameInfo, Rids, Timeline, ViewerId};

/// How long a session may take to gather its candidates for the answer.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// A session not connected this long after its answer is ended, so that
/// an offer whose client never connects does not hold the publisher's
/// seat (or a viewer's resources) for ever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most viewers at once; more get 503.
const MAX_VIEWERS: usize = 256;
/// Frames queued for one viewer track before it drops (about a second of
/// video at 30 frames a second).
const VIEWER_QUEUE: usize = 32;

/// Serves the media seam until the server stops.
pub async fn run(mut media: MediaHandle) {
    let (internal_tx, mut internal) = mpsc::unbounded_channel();
    let mut broadcast = Broadcast {
        publisher: None,
        sessions: HashMap::new(),
        opening: HashMap::new(),
        next_viewer: 1,
        internal: internal_tx,
        ender: media.ender(),
        trickling: HashMap::new(),
    };
    loop {
        tokio::select! {
            // What a session task said comes first: its connection is
            // known before its 201 went out, so before any PATCH for it.
            biased;
            Some(message) = internal.recv() => broadcast.on_internal(message),
            request = media.recv() => match request {
                Some(request) => broadcast.on_request(request),
                None => break,
            },
        }
    }
    for pc in broadcast.sessions.values() {
        pc.close().await;
    }
}

/// What session tasks tell the broadcast task.
enum Internal {
    /// A session's connection and answer are ready: the broadcast task
    /// answers the offer, or closes the connection and refuses it if the
    /// session is no longer wanted.
    Session {
        id: String,
        pc: PeerConnection,
        answer: String,
        reply: MediaReply,
    },
    /// The publisher's connection has a track.
    Track {
        publisher: String,
        event: Box<TrackEvent>,
    },
    /// A session's connection connected (the server stops counting it
    /// against its client's unconnected sessions).
    Connected { id: String },
    /// A session ended (failed, closed, or refused).
    Ended { id: String },
}

/// A track of the publisher, forwarded by its own task.
#[derive(Clone)]
struct PublishedTrack {
    kind: MediaKind,
    receiver: RtpReceiver,
    control: mpsc::UnboundedSender<Control>,
}

struct Publisher {
    id: String,
    tracks: Vec<PublishedTrack>,
}

/// A session whose offer is being answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Opening {
    /// The publisher.
    Publisher,
    /// A viewer of the publisher with this session id.
    Viewer { publisher: String },
}

struct Broadcast {
    publisher: Option<Publisher>,
    /// Every answered session's connection, the publisher's too.
    sessions: HashMap<String, PeerConnection>,
    /// The sessions whose offers are being answered.
    opening: HashMap<String, Opening>,
    next_viewer: ViewerId,
    internal: mpsc::UnboundedSender<Internal>,
    ender: SessionEnder,
    /// Per session, the task applying its latest `PATCH` (candidates or an
    /// ICE restart): the next one waits for it, so that a session's
    /// candidates, its end-of-candidates and its restarts are applied in
    /// the order they came (RFC 8838 §8).
    trickling: HashMap<String, tokio::task::JoinHandle<()>>,
}

impl Broadcast {
    fn on_request(&mut self, request: MediaRequest) {
        match request {
            MediaRequest::Open {
                id,
                kind: SessionKind::Publish,
                offer,
                reply,
            } => {
                if self.publisher.is_some() {
                    reply.refuse(MediaRefusal::PublisherLive);
                    self.ender.ended(&id);
                    return;
                }
                self.publisher = Some(Publisher {
                    id: id.clone(),
                    tracks: Vec::new(),
                });
                self.opening.insert(id.clone(), Opening::Publisher);
                tokio::spawn(open_publisher(id, offer, reply, self.internal.clone()));
            }
            MediaRequest::Open {
                id,
                kind: SessionKind::View,
                offer,
                reply,
            } => {
                let (publisher, tracks) = match &self.publisher {
                    Some(p) if !p.tracks.is_empty() => (p.id.clone(), p.tracks.clone()),
                    _ => {
                        reply.refuse(MediaRefusal::NoPublisher);
                        self.ender.ended(&id);
                        return;
                    }
                };
                if self.viewer_count() >= MAX_VIEWERS {
                    reply.refuse(MediaRefusal::Busy);
                    self.ender.ended(&id);
                    return;
                }
                // Its seat is taken from now on, until it is refused or ends.
                self.opening
                    .insert(id.clone(), Opening::Viewer { publisher });
                let viewer = self.next_viewer;
                self.next_viewer += 1;
                let session = ViewerSession { id, viewer, tracks };
                tokio::spawn(open_viewer(session, offer, reply, self.internal.clone()));
            }
            MediaRequest::Trickle {
                id,
                candidates,
                end_of_candidates,
            } => {
                if let Some(pc) = self.sessions.get(&id) {
                    let pc = pc.clone();
                    let previous = self.trickling.remove(&id);
                    let task = tokio::spawn(async move {
                        if let Some(previous) = previous {
                            let _ = previous.await;
                        }
                        add_candidates(pc, candidates, end_of_candidates).await;
                    });
                    self.trickling.insert(id, task);
                }
            }
            MediaRequest::Restart {
                id,
                ice_ufrag,
                ice_pwd,
                candidates,
                end_of_candidates,
                reply,
            } => match self.sessions.get(&id) {
                Some(pc) => {
                    let credentials = (ice_ufrag, ice_pwd);
                    let candidates = (candidates, end_of_candidates);
                    // In line with the session's trickles: those of the
                    // generation before go in before the restart.
                    let pc = pc.clone();
                    let previous = self.trickling.remove(&id);
                    let task = tokio::spawn(async move {
                        if let Some(previous) = previous {
                            let _ = previous.await;
                        }
                        restart_ice(pc, credentials, candidates, reply).await;
                    });
                    self.trickling.insert(id, task);
                }
                None => reply.refuse(MediaRefusal::NoSession),
            },
            MediaRequest::Close { id } => self.end(&id),
            other => tracing::debug!("whip: request not handled: {other:?}"),
        }
    }

    fn on_internal(&mut self, message: Internal) {
        match message {
            Internal::Session {
                id,
                pc,
                answer,
                reply,
            } => {
                let live = self.publisher.as_ref().map(|p| p.id.as_str());
                // A viewer of a publisher that left meanwhile, or a session
                // closed (DELETE, client gone) while its answer was made.
                let refusal = match self.opening.remove(&id) {
                    Some(Opening::Publisher) if live == Some(id.as_str()) => None,
                    Some(Opening::Viewer { publisher }) if live == Some(publisher.as_str()) => None,
                    Some(Opening::Viewer { .. }) => Some(MediaRefusal::NoPublisher),
                    Some(Opening::Publisher) | None => Some(MediaRefusal::NoSession),
                };
                if let Some(refusal) = refusal {
                    tracing::info!("whip: session {id} ended while being set up; refused");
                    reply.refuse(refusal);
                    self.ender.ended(&id);
                    tokio::spawn(async move { pc.close().await });
                } else {
                    self.sessions.insert(id, pc);
                    reply.answer(answer);
                }
            }
            Internal::Track { publisher, event } => match &mut self.publisher {
                Some(p) if p.id == publisher => {
                    let (control, commands) = mpsc::unbounded_channel();
                    let kind = event.track.kind();
                    tokio::spawn(forward_track(
                        event.receiver.clone(),
                        kind,
                        commands,
                        control.clone(),
                    ));
                    p.tracks.push(PublishedTrack {
                        kind,
                        receiver: event.receiver,
                        control,
                    });
                }
                _ => {}
            },
            Internal::Connected { id } => self.ender.connected(&id),
            Internal::Ended { id } => self.end(&id),
        }
    }

    /// Viewers answered or being set up.
    fn viewer_count(&self) -> usize {
        let answered = self.sessions.keys().filter(|id| self.is_viewer(id)).count();
        let opening = self
            .opening
            .values()
            .filter(|o| matches!(o, Opening::Viewer { .. }))
            .count();
        answered + opening
    }

    fn is_viewer(&self, id: &str) -> bool {
        self.publisher.as_ref().is_none_or(|p| p.id != id)
    }

    /// Ends session `id` (answered or being set up); the publisher's end
    /// ends every viewer, those being set up too.
    fn end(&mut self, id: &str) {
        if let Some(pc) = self.sessions.remove(id) {
            tokio::spawn(async move { pc.close().await });
        }
        self.trickling.remove(id);
        self.opening.remove(id);
        self.ender.ended(id);
        if self.publisher.as_ref().is_some_and(|p| p.id == id) {
            tracing::info!("whip: the publisher left; ending its viewers");
            self.publisher = None;
            self.trickling.clear();
            for (viewer, pc) in self.sessions.drain() {
                self.ender.ended(&viewer);
                tokio::spawn(async move { pc.close().await });
            }
            // Their answers, when ready, find them gone and are refused.
            self.opening
                .retain(|_, o| !matches!(o, Opening::Viewer { .. }));
        }
    }
}

/// Answers the publisher's offer and watches its connection.
async fn open_publisher(
    id: String,
    offer: String,
    reply: MediaReply,
    internal: mpsc::UnboundedSender<Internal>,
) {
    let on_track = |event: Box<TrackEvent>| {
        let _ = internal.send(Internal::Track {
            publisher: id.clone(),
            event,
        });
    };
    let opened = async {
        let pc = PeerConnection::new(Configuration::default()).map_err(Refused::NoConnection)?;
        let mut events = pc.subscribe();
        let sends = offered_sections(&offer)
            .values()
            .any(|s| matches!(s.direction, Direction::SendOnly | Direction::SendRecv));
        pc.set_remote_description(SessionDescription::offer(offer))
            .await
            .map_err(Refused::offer)?;
        if !sends {
            pc.close().await;
            return Err(Refused::Unacceptable(
                "the offer sends no audio or video".into(),
            ));
        }
        let local = match set_answer(&pc).await {
            Ok(local) => local,
            Err(refused) => {
                pc.close().await;
                return Err(refused);
            }
        };
        // RFC 8829 §5.3.1: a section none of whose codecs are ours is
        // rejected in the answer. None left to receive on: the offer is
        // well-formed but cannot be served (RFC 9725 §4.2, RFC 9110
        // §15.5.21), not a 201 with every section rejected.
        let refused = match receives_media(&local.sdp) {
            Ok(true) => None,
            Ok(false) => Some(Refused::Unacceptable(
                "the offer sends in no codec this server can receive".into(),
            )),
            Err(refused) => Some(refused),
        };
        if let Some(refused) = refused {
            pc.close().await;
            return Err(refused);
        }
        let answer = with_gathered_candidates(&pc, &mut events, local, &on_track).await;
        Ok((pc, events, answer))
    }
    .await;
    let (pc, events, sdp) = match opened {
        Ok(opened) => opened,
        Err(refused) => {
            refused.refuse("whip: publisher offer", reply);
            let _ = internal.send(Internal::Ended { id });
            return;
        }
    };
    let _ = internal.send(Internal::Session {
        id: id.clone(),
        pc: pc.clone(),
        answer: sdp,
        reply,
    });
    tracing::info!("whip: publisher {id} answered");
    watch(pc, events, &id, &internal, |event| {
        if let PeerConnectionEvent::Track(event) = event {
            on_track(event);
        }
    })
    .await;
}

/// A viewer being set up: its id, its id in the forwarders, and the
/// publisher's tracks it may get.
struct ViewerSession {
    id: String,
    viewer: ViewerId,
    tracks: Vec<PublishedTrack>,
}

/// Answers a viewer's offer with the publisher's tracks (each in the codec
/// the publisher sends) and feeds it once connected.
async fn open_viewer(
    session: ViewerSession,
    offer: String,
    reply: MediaReply,
    internal: mpsc::UnboundedSender<Internal>,
) {
    let ViewerSession { id, viewer, tracks } = session;
    let opened = async {
        let pc = PeerConnection::new(Configuration::default()).map_err(Refused::NoConnection)?;
        let mut events = pc.subscribe();
        let offered = offered_sections(&offer);
        pc.set_remote_description(SessionDescription::offer(offer))
            .await
            .map_err(Refused::offer)?;
        let pairs = match add_tracks(&pc, &tracks, &offered).await {
            Ok(pairs) if !pairs.is_empty() => pairs,
            Ok(_) => {
                pc.close().await;
                return Err(Refused::Unacceptable(
                    "the offer receives none of the broadcast's media".into(),
                ));
            }
            Err(refused) => {
                pc.close().await;
                return Err(refused);
            }
        };
        // The broadcast's sections only send, and the others are
        // inactive: a section the viewer offered to send on would be
        // received into frame queues nobody reads. (Not refused: the first
        // section is the offerer's BUNDLE tag, which an answer may not
        // reject, RFC 8843 §7.3.3.)
        for t in pc.get_transceivers().await {
            if t.stopped() {
                // A section the offer stopped: refused already.
                continue;
            }
            let sends = pairs.iter().any(|(sender, _)| *sender == t.sender());
            let direction = if sends {
                RtpTransceiverDirection::SendOnly
            } else {
                RtpTransceiverDirection::Inactive
            };
            let kept = t.set_direction(direction).await;
            if let Err(error) = kept {
                pc.close().await;
                return Err(Refused::internal("set_direction")(error));
            }
        }
        let local = match set_answer(&pc).await {
            Ok(local) => local,
            Err(refused) => {
                pc.close().await;
                return Err(refused);
            }
        };
        let sdp = with_gathered_candidates(&pc, &mut events, local, &|_| {}).await;
        // The answer keeps only the publisher's codec: a sender left
        // without it cannot carry the frames.
        let pairs: Vec<_> = pairs
            .into_iter()
            .filter(|(sender, track)| {
                let sent = first_codec(&sender.get_parameters().codecs);
                let published = first_codec(&track.receiver.get_parameters().codecs);
                matches!((sent, published), (Some(a), Some(b)) if a.matches(&b))
            })
            .collect();
        if pairs.is_empty() {
            pc.close().await;
            return Err(Refused::Unacceptable(
                "the offer accepts none of the codecs the publisher sends".into(),
            ));
        }
        Ok((pc, events, sdp, pairs))
    }
    .await;
    let (pc, events, sdp, pairs) = match opened {
        Ok(opened) => opened,
        Err(refused) => {
            refused.refuse("whep: viewer offer", reply);
            let _ = internal.send(Internal::Ended { id });
            return;
        }
    };
    let _ = internal.send(Internal::Session {
        id: id.clone(),
        pc: pc.clone(),
        answer: sdp,
        reply,
    });
    tracing::info!("whep: viewer {id} answered ({} tracks)", pairs.len());
    let mut joined = false;
    watch(pc, events, &id, &internal, |event| match event {
        PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Connected) if !joined => {
            joined = true;
            for (sender, track) in &pairs {
                let _ = track.control.send(Control::Join {
                    viewer,
                    sender: sender.clone(),
                });
            }
        }
        PeerConnectionEvent::AvailableOutgoingBitrate(bps) => {
            for (_, track) in pairs.iter().filter(|(_, t)| t.kind == MediaKind::Video) {
                let _ = track.control.send(Control::Bitrate { viewer, bps });
            }
        }
        _ => {}
    })
    .await;
    for (_, track) in &pairs {
        let _ = track.control.send(Control::Leave { viewer });
    }
}

/// An offer that cannot be answered, and why.
#[derive(Debug)]
struct BadOffer(String);

/// Why a session was not opened or restarted: its offer's fault or this
/// server's. [`Refused::refusal`] maps each to the seam's refusal, and so
/// to its HTTP status.
#[derive(Debug)]
enum Refused {
    /// The offer is malformed (400, RFC 9725 §4.2).
    Offer(BadOffer),
    /// The offer is well-formed but has nothing this server can serve
    /// (422, RFC 9110 §15.5.21).
    Unacceptable(String),
    /// No connection could be made for it (503: out of sockets or file
    /// descriptors; the client may try again).
    NoConnection(Error),
    /// A call of ours on the session's connection failed after the offer
    /// was taken: the server's fault, not the offer's (500, RFC 9110
    /// §15.6.1). `step` names the call, `why` says what went wrong.
    Internal { step: &'static str, why: String },
    /// The call `step` found the session's connection closed
    /// ([`Error::Closed`]: by its client, or failed; not a panic of its
    /// task, [`Error::TaskPanicked`], which is `Internal`). While the
    /// session is set up, a 500 as `Internal`; an ICE restart of it finds
    /// no session (404).
    Closed { step: &'static str },
}

impl Refused {
    /// For `map_err`: the call `step` failed, [`Refused::Internal`]
    /// ([`Refused::Closed`] when it found the connection closed).
    fn internal(step: &'static str) -> impl FnOnce(Error) -> Refused {
        move |error| match error {
            Error::Closed => Refused::Closed { step },
            error => Refused::Internal {
                step,
                why: error.to_string(),
            },
        }
    }

    /// For `set_remote_description`'s `map_err`: the offer refused by the
    /// connection ([`Error::Core`]: SDP it does not take, W3C webrtc-pc
    /// §4.4.1.6) is the offer's fault (400, RFC 9725 §4.2); the connection
    /// closed or its task panicked is ours ([`Refused::internal`]).
    fn offer(error: Error) -> Refused {
        match error {
            Error::Core(_) => Refused::Offer(BadOffer(error.to_string())),
            error => Refused::internal("set_remote_description")(error),
        }
    }

    /// The refusal the media seam gets (its HTTP status is
    /// `ferrtc_signal::whip::WhipError::status`'s).
    fn refusal(self) -> MediaRefusal {
        match self {
            Refused::Offer(BadOffer(why)) => MediaRefusal::BadOffer(why),
            Refused::Unacceptable(why) => MediaRefusal::Unacceptable(why),
            Refused::NoConnection(_) => MediaRefusal::Busy,
            // The step only: the error's text (a panic message, an OS
            // error) is for the server's log, which `refuse` writes.
            Refused::Internal { step, .. } | Refused::Closed { step } => {
                MediaRefusal::Internal(format!("{step} failed"))
            }
        }
    }

    /// Logs why (a warning when it is this server's fault), and refuses
    /// the request.
    fn refuse(self, what: &str, reply: MediaReply) {
        match &self {
            Refused::Offer(BadOffer(why)) | Refused::Unacceptable(why) => {
                tracing::info!("{what} refused: {why}");
            }
            Refused::NoConnection(e) => {
                tracing::warn!("{what} not answered: no connection for it: {e}");
            }
            Refused::Internal { step, why } => {
                tracing::warn!("{what} not answered: {step} failed: {why}");
            }
            Refused::Closed { step } => {
                tracing::warn!("{what} not answered: {step} failed: {}", Error::Closed);
            }
        }
        reply.refuse(self.refusal());
    }
}

/// What an offer says of one of its audio or video sections.
struct OfferedSection {
    direction: Direction,
    /// Its codecs (`a=rtpmap` and `a=fmtp`; RFC 3551 static payload types
    /// without an rtpmap too).
    codecs: Vec<RtpCodec>,
}

impl OfferedSection {
    /// Whether the offerer receives here.
    fn receives(&self) -> bool {
        matches!(self.direction, Direction::RecvOnly | Direction::SendRecv)
    }

    /// Whether the offer lists `codec` here as JSEP matches codecs (RFC
    /// 8829 §5.3.1): name, clock rate, channels and the parameters that
    /// must agree (an H.264 profile and packetization mode, a VP9 or AV1
    /// profile).
    fn has(&self, codec: &RtpCodec) -> bool {
        self.codecs.iter().any(|c| c.matches(codec))
    }
}

/// The offerer's audio and video sections, by mid (a stopped section,
/// port 0 without `a=bundle-only`, is left out; a bundle-only one, port 0
/// too, is in, RFC 8843 §6). Empty when the offer does not parse
/// (`setRemoteDescription` then says why).
fn offered_sections(offer: &str) -> HashMap<String, OfferedSection> {
    let Ok(sdp) = ferrtc_sdp::parse(offer) else {
        return HashMap::new();
    };
    sdp.media
        .iter()
        .filter(|m| m.port != 0 || m.bundle_only())
        .filter(|m| matches!(m.kind, SdpKind::Audio | SdpKind::Video))
        .filter_map(|m| {
            let section = OfferedSection {
                direction: sdp.direction_of(m),
                codecs: RtpCodec::from_section(m),
            };
            Some((m.mid()?.to_owned(), section))
        })
        .collect()
}

/// For each section the viewer offered to receive on with the codec the
/// publisher sends (`offered`: see [`offered_sections`]), for each kind
/// the publisher sends: that codec as the only preference, and a track on
/// it. (The transceivers `setRemoteDescription` made are all `recvonly`
/// on this side: the offer says whether the viewer receives, and a
/// section without the codec would be refused, port 0, which the first
/// section, the BUNDLE tag, may not be.)
async fn add_tracks(
    pc: &PeerConnection,
    tracks: &[PublishedTrack],
    offered: &HashMap<String, OfferedSection>,
) -> Result<Vec<(RtpSender, PublishedTrack)>, Refused> {
    let stream = MediaStream::with_id("ferrtc-broadcast");
    let mut pairs: Vec<(RtpSender, PublishedTrack)> = Vec::new();
    for t in pc.get_transceivers().await {
        let Some(section) = t.mid().and_then(|mid| offered.get(&mid)) else {
            continue;
        };
        if !section.receives() || t.sender().track().is_some() {
            continue;
        }
        // Each published track once, in the offer's order of its kind.
        let Some(track) = tracks.iter().find(|p| {
            p.kind == t.kind()
                && !pairs
                    .iter()
                    .any(|(_, q)| q.control.same_channel(&p.control))
        }) else {
            continue;
        };
        let Some(codec) = first_codec(&track.receiver.get_parameters().codecs) else {
            continue;
        };
        if !section.has(&codec) {
            continue;
        }
        let preferred = preferences(t.kind(), &codec);
        if preferred.is_empty() {
            // No capability of ours can carry the publisher's codec here
            // (an H.264 profile we do not list, say); an empty list would
            // mean the defaults.
            continue;
        }
        t.set_codec_preferences(preferred)
            .await
            .map_err(Refused::internal("set_codec_preferences"))?;
        // On this transceiver: `addTrack` would take the first free one of
        // the kind, maybe a section the viewer only sends on.
        let label = format!("broadcast {}", t.kind().as_str());
        let sender = t.sender();
        sender
            .replace_track(Some(&MediaStreamTrack::new(t.kind(), label)))
            .await
            .map_err(Refused::internal("replace_track"))?;
        sender
            .set_streams(&[&stream])
            .await
            .map_err(Refused::internal("set_streams"))?;
        pairs.push((sender, track.clone()));
    }
    Ok(pairs)
}

/// Whether `codec` carries media of its own: not RTX (repairs of another
/// codec's packets, RFC 4588 §8.6) nor `telephone-event` (DTMF events
/// beside an audio codec, RFC 4733 §7.1.1: no sound without one).
fn carries_media(codec: &RtpCodec) -> bool {
    !codec.is_rtx() && !codec.is_telephone_event()
}

/// The first media codec ([`carries_media`]) of a negotiated list.
fn first_codec(codecs: &[RtpCodec]) -> Option<RtpCodec> {
    codecs.iter().find(|c| carries_media(c)).cloned()
}

/// The capabilities of `kind` that match `codec` as JSEP matches codecs
/// (name, clock rate, and an H.264 or VP9 profile: RFC 8829 §5.3.1; the
/// same fmtp first), with their RTX: nothing else, so that the answer
/// carries the publisher's codec or nothing. Empty when none matches.
fn preferences(kind: MediaKind, codec: &RtpCodec) -> Vec<RtpCodec> {
    let all = RtpSender::get_capabilities(kind);
    let mut same: Vec<RtpCodec> = all.iter().filter(|c| c.matches(codec)).cloned().collect();
    same.sort_by_key(|c| c.fmtp != codec.fmtp);
    let rtx = all.iter().filter(|c| {
        c.is_rtx()
            && c.apt()
                .is_some_and(|apt| same.iter().any(|s| s.payload_type == apt))
    });
    let mut out = same.clone();
    out.extend(rtx.cloned());
    out
}

/// Creates the answer and sets it as the local description. The remote
/// offer is set already: a failure here is this server's.
async fn set_answer(pc: &PeerConnection) -> Result<SessionDescription, Refused> {
    let answer = pc
        .create_answer()
        .await
        .map_err(Refused::internal("create_answer"))?;
    pc.set_local_description(Some(answer.clone()))
        .await
        .map_err(Refused::internal("set_local_description"))?;
    Ok(answer)
}

/// Whether `answer` receives audio or video in some section: one not
/// rejected (port 0 without `a=bundle-only`, RFC 8843 §6) whose direction
/// is `recvonly` or `sendrecv` (RFC 8866 §6.7), with a codec that carries
/// media (not `telephone-event` alone, RFC 4733; [`carries_media`]). Our
/// own answer that does not parse is this server's fault.
fn receives_media(answer: &str) -> Result<bool, Refused> {
    // Our own text: the default limits bound a peer's descriptions, and
    // an answer can outgrow its offer.
    let sdp =
        ferrtc_sdp::parse_bytes(answer.as_bytes(), &ferrtc_sdp::Limits::NONE).map_err(|e| {
            Refused::Internal {
                step: "parse the answer",
                why: e.to_string(),
            }
        })?;
    Ok(sdp
        .media
        .iter()
        .filter(|m| !m.is_rejected())
        .filter(|m| matches!(m.kind, SdpKind::Audio | SdpKind::Video))
        .filter(|m| RtpCodec::from_section(m).iter().any(carries_media))
        .any(|m| sdp.direction_of(m).receives()))
}

/// Waits for the candidates of the local description `answer` (set by
/// [`set_answer`]) and gives the answer SDP with them. Other events met
/// meanwhile go to `other`.
async fn with_gathered_candidates(
    pc: &PeerConnection,
    events: &mut PeerConnectionEvents,
    answer: SessionDescription,
    other: &(dyn Fn(Box<TrackEvent>) + Sync),
) -> String {
    let mut candidates: Vec<(u16, String)> = Vec::new();
    let gathered = async {
        while let Some(event) = events.recv().await {
            match event {
                PeerConnectionEvent::IceCandidate(c) if c.candidate.is_empty() => break,
                PeerConnectionEvent::IceCandidate(c) => {
                    candidates.push((c.sdp_m_line_index.unwrap_or(0), c.candidate));
                }
                PeerConnectionEvent::IceGatheringStateChange(IceGatheringState::Complete) => {
                    break;
                }
                PeerConnectionEvent::Track(track) => other(track),
                _ => {}
            }
        }
    };
    if tokio::time::timeout(GATHER_TIMEOUT, gathered)
        .await
        .is_err()
    {
        tracing::warn!(
            "whip: candidates still gathering after {GATHER_TIMEOUT:?}; answering with those found"
        );
    }
    // The local description has no candidates: they go into the answer,
    // since WHIP/WHEP servers do not trickle (RFC 9725 §4.3.1).
    let sdp = pc.local_description().await.map_or(answer.sdp, |d| d.sdp);
    with_candidates(&sdp, &candidates)
}

/// `sdp` with `a=candidate` lines (and `a=end-of-candidates`) appended to
/// the media section each names by index (RFC 8839 §5.1, §5.2).
pub fn with_candidates(sdp: &str, candidates: &[(u16, String)]) -> String {
    let mut out = String::with_capacity(sdp.len() + candidates.len() * 100);
    let mut section: Option<u16> = None;
    let close = |out: &mut String, section: Option<u16>| {
        if let Some(index) = section {
            for (_, c) in candidates.iter().filter(|(i, _)| *i == index) {
                out.push_str("a=");
                out.push_str(c.strip_prefix("a=").unwrap_or(c));
                out.push_str("\r\n");
            }
            out.push_str("a=end-of-candidates\r\n");
        }
    };
    for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("m=") {
            close(&mut out, section);
            section = Some(section.map_or(0, |s| s.saturating_add(1)));
        }
        if line != "a=end-of-candidates" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    close(&mut out, section);
    out
}

/// Reads a session's events until it fails or closes (`on_event` sees
/// each), then reports it ended.
async fn watch(
    pc: PeerConnection,
    mut events: PeerConnectionEvents,
    id: &str,
    internal: &mpsc::UnboundedSender<Internal>,
    mut on_event: impl FnMut(PeerConnectionEvent),
) {
    let deadline = tokio::time::sleep(CONNECT_TIMEOUT);
    tokio::pin!(deadline);
    let mut connected = false;
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = &mut deadline, if !connected => {
                tracing::info!("whip: session {id} not connected after {CONNECT_TIMEOUT:?}; ended");
                break;
            }
        };
        let Some(event) = event else { break };
        match event {
            PeerConnectionEvent::ConnectionStateChange(
                state @ (PeerConnectionState::Failed | PeerConnectionState::Closed),
            ) => {
                tracing::info!("whip: session {id} {state:?}");
                break;
            }
            // The client closed its connection without a DELETE: its
            // close_notify ends the session now, not when ICE consent runs
            // out 30 s later (which would hold the publisher's place).
            PeerConnectionEvent::DtlsStateChange(DtlsTransportState::Closed) => {
                tracing::info!("whip: session {id} closed by the client");
                break;
            }
            PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Connected) => {
                if !connected {
                    let _ = internal.send(Internal::Connected { id: id.to_owned() });
                }
                connected = true;
                on_event(event);
            }
            event => on_event(event),
        }
    }
    pc.close().await;
    let _ = internal.send(Internal::Ended { id: id.to_owned() });
}

/// An ICE restart by `PATCH` (RFC 9725 §4.3.2): the session's offer again
/// with the client's new credentials (a new remote offer that restarts ICE,
/// RFC 8445 §9, RFC 8829 §5.3), answered; the reply is the answer's new
/// credentials and candidates as a fragment.
async fn restart_ice(
    pc: PeerConnection,
    (ufrag, pwd): (String, String),
    (candidates, end_of_candidates): (Vec<FragCandidate>, bool),
    reply: MediaReply,
) {
    let restarted = async {
        // An answered session has an offer: none, and its connection has
        // ended (closed, or its task panicked).
        let Some(remote) = pc.remote_description().await else {
            return Err(Refused::internal("remote_description")(
                ended_error(&pc).await,
            ));
        };
        let mut events = pc.subscribe();
        pc.set_remote_description(SessionDescription::offer(restarted_offer(
            &remote.sdp,
            &ufrag,
            &pwd,
        )))
        .await
        .map_err(Refused::offer)?;
        let local = match set_answer(&pc).await {
            Ok(local) => local,
            Err(refused) => {
                roll_back(&pc).await;
                return Err(refused);
            }
        };
        Ok::<_, Refused>(with_gathered_candidates(&pc, &mut events, local, &|_| {}).await)
    }
    .await;
    match restarted {
        Ok(sdp) => {
            add_candidates(pc, candidates, end_of_candidates).await;
            reply.answer(fragment_of(&sdp));
        }
        // The session's connection closed meanwhile (failed, or closed
        // by its client): no session to restart (404), not a fault. Its
        // task's panic is one: 500.
        Err(Refused::Closed { .. }) => {
            tracing::info!("whip: ICE restart refused: the session ended");
            reply.refuse(MediaRefusal::NoSession);
        }
        Err(refused) => refused.refuse("whip: ICE restart", reply),
    }
}

/// Rolls back the remote offer `pc` could not answer (W3C webrtc-pc
/// §4.4.1.6 `rollback`, RFC 8829 §4.1.10.2): the session is `stable` again
/// on the descriptions it had, which its next trickles and restarts apply
/// to, not left in `have-remote-offer` on an offer nobody answers.
async fn roll_back(pc: &PeerConnection) {
    if let Err(e) = pc
        .set_remote_description(SessionDescription::rollback())
        .await
    {
        // A closed connection cannot roll back and needs not; a live one
        // is left in have-remote-offer: worth a look.
        if matches!(e, Error::Closed | Error::TaskPanicked(_)) {
            tracing::debug!("whip: unanswered offer not rolled back: {e}");
        } else {
            tracing::warn!("whip: unanswered offer not rolled back: {e}");
        }
    }
}

/// Why a connection that answers no more ended: [`Error::Closed`] if it
/// was closed, [`Error::TaskPanicked`] if its task panicked. Asked of
/// `get_stats`, the one call a closed connection still answers (W3C
/// webrtc-pc §8.2), which refuses as panicked once its task panicked.
async fn ended_error(pc: &PeerConnection) -> Error {
    match pc.get_stats().await {
        Ok(_) => Error::Closed,
        Err(error) => error,
    }
}

/// `offer` as a new offer (the `o=` version one higher, RFC 3264 §8) with
/// other ICE credentials and without its candidates.
pub fn restarted_offer(offer: &str, ufrag: &str, pwd: &str) -> String {
    let mut out = String::with_capacity(offer.len());
    for line in offer.lines().map(|l| l.trim_end_matches('\r')) {
        if line.starts_with("a=candidate:") || line == "a=end-of-candidates" || line.is_empty() {
            continue;
        }
        if line.starts_with("a=ice-ufrag:") {
            out.push_str("a=ice-ufrag:");
            out.push_str(ufrag);
        } else if line.starts_with("a=ice-pwd:") {
            out.push_str("a=ice-pwd:");
            out.push_str(pwd);
        } else if let Some(origin) = line.strip_prefix("o=") {
            // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <addr>
            let mut fields: Vec<String> = origin.split(' ').map(str::to_owned).collect();
            if let Some(version) = fields.get_mut(2)
                && let Ok(v) = version.parse::<u64>()
            {
                *version = v.saturating_add(1).to_string();
            }
            out.push_str("o=");
            out.push_str(&fields.join(" "));
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    out
}

/// The ICE part of an SDP as an `application/trickle-ice-sdpfrag` body
/// (RFC 8840 §9): its first credentials, then each media section's `m=`
/// line, `a=mid`, candidates and end of candidates.
pub fn fragment_of(sdp: &str) -> String {
    let lines: Vec<&str> = sdp.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out = String::new();
    for prefix in ["a=ice-ufrag:", "a=ice-pwd:"] {
        if let Some(line) = lines.iter().find(|l| l.starts_with(prefix)) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    for line in lines {
        if line.starts_with("m=")
            || line.starts_with("a=mid:")
            || line.starts_with("a=candidate:")
            || line == "a=end-of-candidates"
        {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

/// Adds a `PATCH`'s candidates to a session's connection.
async fn add_candidates(pc: PeerConnection, candidates: Vec<FragCandidate>, end: bool) {
    let inits = candidates.into_iter().map(|c| ferrtc::IceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_m_line_index: Some(c.sdp_m_line_index),
        username_fragment: c.username_fragment,
    });
    let end = end.then(|| ferrtc::IceCandidateInit {
        candidate: String::new(),
        sdp_mid: None,
        sdp_m_line_index: Some(0),
        username_fragment: None,
    });
    for init in inits.chain(end) {
        if let Err(e) = pc.add_ice_candidate(init).await {
            tracing::info!("whip: trickled candidate refused: {e}");
        }
    }
}

/// What a forwarding task is told.
enum Control {
    /// A viewer is connected: forward to `sender`.
    Join { viewer: ViewerId, sender: RtpSender },
    /// A viewer left (or its writer ended).
    Leave { viewer: ViewerId },
    /// A viewer asked for a keyframe.
    KeyframeRequest { viewer: ViewerId },
    /// A frame for a viewer was lost.
    Dropped { viewer: ViewerId },
    /// A viewer's bandwidth estimate, bits per second.
    Bitrate { viewer: ViewerId, bps: u64 },
}

/// A frame on its way to a viewer's sender.
struct Outgoing {
    data: Bytes,
    /// The simulcast layer it is of (0 without simulcast).
    layer: usize,
    /// Its source RTP timestamp and clock rate.
    rtp_timestamp: u32,
    clock: u32,
    /// Its estimated duration.
    duration: Duration,
}

/// Forwards one published track to its viewers until the publisher's
/// track ends.
async fn forward_track(
    receiver: RtpReceiver,
    kind: MediaKind,
    mut commands: mpsc::UnboundedReceiver<Control>,
    control: mpsc::UnboundedSender<Control>,
) {
    let mut frames = receiver.subscribe();
    let mut forwarder = Forwarder::new();
    // Simulcast layers by rid; each layer's last RTP timestamp (each has
    // its own RTP clock start, RFC 3550 §5.1).
    let mut rids = Rids::default();
    let mut last_timestamps: Vec<Option<u32>> = Vec::new();
    let mut queues: HashMap<ViewerId, mpsc::Sender<Outgoing>> = HashMap::new();
    let mut writers = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    // Per viewer: the layer it got last and its last estimate (for logs).
    let mut layers: HashMap<ViewerId, (usize, Option<u64>)> = HashMap::new();
    // Each layer's last frame interval (a layer's frame rate is its own).
    let default_duration = Duration::from_millis(match kind {
        MediaKind::Audio => 20,
        MediaKind::Video => 33,
    });
    let mut durations: Vec<Duration> = Vec::new();
    loop {
        let wake = forwarder.poll_timeout().map(Instant::from_std);
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { break };
                // The media codec's clock (RFC 3550 §5.1), not that of a
                // telephone-event listed before it (RFC 4733).
                let clock = receiver
                    .get_parameters()
                    .codecs
                    .iter()
                    .find(|c| carries_media(c))
                    .map_or(90_000, |c| c.clock_rate.max(1));
                let layer = rids.layer(frame.rid.as_deref());
                if last_timestamps.len() <= layer {
                    last_timestamps.resize(layer + 1, None);
                    durations.resize(layer + 1, default_duration);
                }
                // A frame's duration is known when the next one of its
                // layer arrives: the last interval stands in for it.
                if let Some(previous) = last_timestamps[layer] {
                    let ticks = frame.rtp_timestamp.wrapping_sub(previous);
                    if ticks > 0 && ticks < clock {
                        durations[layer] =
                            Duration::from_secs_f64(f64::from(ticks) / f64::from(clock));
                    }
                }
                last_timestamps[layer] = Some(frame.rtp_timestamp);
                let info = FrameInfo {
                    layer,
                    keyframe: frame.keyframe || kind == MediaKind::Audio,
                    bytes: frame.data.len(),
                    // The receiver dropped frames before it (of any
                    // layer): viewers on other layers resync.
                    gap: frame.dropped_before > 0 && kind == MediaKind::Video,
                };
                forwarder.on_frame(std::time::Instant::now(), info, &mut out);
                for viewer in &out {
                    let Some(queue) = queues.get(viewer) else { continue };
                    let (last, estimate) = layers.entry(*viewer).or_insert((usize::MAX, None));
                    if *last != layer && frame.rid.is_some() {
                        tracing::info!(
                            "whep: viewer {viewer} gets layer {:?} (estimate {estimate:?} bit/s)",
                            rids.rid(layer).unwrap_or_default()
                        );
                    }
                    *last = layer;
                    let item = Outgoing {
                        data: frame.data.clone(),
                        layer,
                        rtp_timestamp: frame.rtp_timestamp,
                        clock,
                        duration: durations[layer],
                    };
                    match queue.try_send(item) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => forwarder.on_dropped(*viewer),
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            queues.remove(viewer);
                            forwarder.remove_viewer(*viewer);
                        }
                    }
                }
            }
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    Control::Join { viewer, sender } => {
                        let (tx, rx) = mpsc::channel(VIEWER_QUEUE);
                        queues.insert(viewer, tx);
                        forwarder.add_viewer(std::time::Instant::now(), viewer);
                        tracing::info!(
                            "whep: viewer {viewer} joined the {} track ({} viewers)",
                            kind.as_str(),
                            forwarder.viewer_count()
                        );
                        writers.spawn(write_viewer(viewer, sender, rx, control.clone()));
                    }
                    Control::Leave { viewer } => {
                        queues.remove(&viewer);
                        layers.remove(&viewer);
                        forwarder.remove_viewer(viewer);
                    }
                    Control::KeyframeRequest { viewer } => forwarder.on_keyframe_request(viewer),
                    Control::Dropped { viewer } => forwarder.on_dropped(viewer),
                    Control::Bitrate { viewer, bps } => {
                        tracing::debug!("whep: viewer {viewer} estimate {bps} bit/s");
                        layers.entry(viewer).or_insert((usize::MAX, None)).1 = Some(bps);
                        forwarder.set_available_bitrate(std::time::Instant::now(), viewer, bps);
                    }
                }
            }
            () = sleep_until(wake) => {}
            // A writer whose viewer left: its task is let go (a join set
            // keeps every finished task until it is joined).
            Some(_) = writers.join_next(), if !writers.is_empty() => {}
        }
        while let Some(layer) = forwarder.poll_keyframe_request(std::time::Instant::now()) {
            if kind != MediaKind::Video {
                continue;
            }
            // A simulcast publisher is asked for the layer's keyframe only
            // (a PLI for its SSRC, RFC 8853 §5.2).
            let asked = match rids.rid(layer) {
                Some(rid) => receiver.request_keyframe_for(rid).await,
                None => receiver.request_keyframe().await,
            };
            if let Err(e) = asked {
                tracing::debug!("whip: keyframe request not sent: {e}");
            }
        }
    }
    // The publisher's track ended: the writers end with their queues.
    drop(queues);
    while writers.join_next().await.is_some() {}
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes a viewer's queue on its sender, and passes its keyframe
/// requests up.
async fn write_viewer(
    viewer: ViewerId,
    sender: RtpSender,
    mut queue: mpsc::Receiver<Outgoing>,
    control: mpsc::UnboundedSender<Control>,
) {
    let requests = {
        let (sender, control) = (sender.clone(), control.clone());
        tokio::spawn(async move {
            while let Some(event) = sender.next_event().await {
                if event == RtpSenderEvent::KeyframeRequest
                    && control.send(Control::KeyframeRequest { viewer }).is_err()
                {
                    break;
                }
            }
        })
    };
    let mut timeline = Timeline::default();
    let mut layer = None;
    while let Some(frame) = queue.recv().await {
        // A switch of layer: the new layer's timestamps go on from the
        // last frame written.
        if layer.is_some_and(|l| l != frame.layer) {
            timeline.switch_source();
        }
        layer = Some(frame.layer);
        let duration = timeline.duration(frame.rtp_timestamp, frame.clock, frame.duration);
        match sender.write_frame(&frame.data, duration) {
            Ok(()) => {}
            Err(Error::Closed) => break,
            // Its queue to the connection is full, or it does not send
            // (yet): the frame is lost, the next one it gets is a keyframe.
            Err(e) => {
                tracing::debug!("whep: frame for viewer {viewer} dropped: {e}");
                let _ = control.send(Control::Dropped { viewer });
            }
        }
    }
    requests.abort();
    let _ = control.send(Control::Leave { viewer });
}

#[cfg(test)]
mod tests {
    use super::{
        BadOffer, Broadcast, HashMap, Internal, Opening, Publisher, Refused, fragment_of,
        offered_sections, preferences, restarted_offer, with_candidates,
    };
    use ferrtc::{Configuration, PeerConnection, RtpCodec};
    use ferrtc_signal::{MediaReply, MediaRequest, SignalConfig, media_port, serve};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    /// A WHEP `POST` to a real server whose media side is this test: the
    /// reply for its offer, and the HTTP status it ends with.
    async fn pending_viewer() -> (
        Broadcast,
        String,
        MediaReply,
        tokio::task::JoinHandle<String>,
    ) {
        let (port, mut media) = media_port(4);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, SignalConfig::default().with_media(port)));
        let post = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let body = "v=0\r\n";
            let head = format!(
                "POST /whep HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut raw = String::new();
            stream.read_to_string(&mut raw).await.unwrap();
            raw
        });
        let Some(MediaRequest::Open { id, reply, .. }) = media.recv().await else {
            panic!("an offer");
        };
        let (internal, _) = mpsc::unbounded_channel();
        let broadcast = Broadcast {
            publisher: None,
            sessions: HashMap::new(),
            opening: HashMap::new(),
            next_viewer: 1,
            internal,
            ender: media.ender(),
            trickling: HashMap::new(),
        };
        (broadcast, id, reply, post)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_viewer_answered_after_its_publisher_left_is_closed_and_refused() {
        let (mut broadcast, id, reply, post) = pending_viewer().await;
        broadcast.publisher = Some(Publisher {
            id: "p".into(),
            tracks: Vec::new(),
        });
        let publisher = "p".to_owned();
        broadcast
            .opening
            .insert(id.clone(), Opening::Viewer { publisher });
        // The publisher leaves while the viewer's answer is being made.
        broadcast.end("p");
        assert_eq!(broadcast.viewer_count(), 0, "its seat is free again");
        let pc = PeerConnection::new(Configuration::default()).unwrap();
        broadcast.on_internal(Internal::Session {
            id: id.clone(),
            pc: pc.clone(),
            answer: "v=0\r\n".into(),
            reply,
        });
        assert!(broadcast.sessions.is_empty(), "not let in");
        let response = post.await.unwrap();
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_viewer_being_set_up_holds_a_seat_until_answered_or_ended() {
        let (mut broadcast, id, reply, post) = pending_viewer().await;
        broadcast.publisher = Some(Publisher {
            id: "p".into(),
            tracks: Vec::new(),
        });
        broadcast.opening.insert(
            id.clone(),
            Opening::Viewer {
                publisher: "p".into(),
            },
        );
        assert_eq!(broadcast.viewer_count(), 1);
        let pc = PeerConnection::new(Configuration::default()).unwrap();
        broadcast.on_internal(Internal::Session {
            id: id.clone(),
            pc,
            answer: "v=0\r\n".into(),
            reply,
        });
        assert_eq!(broadcast.viewer_count(), 1, "answered, still one");
        let response = post.await.unwrap();
        assert!(response.starts_with("HTTP/1.1 201"), "{response}");
        broadcast.end(&id);
        assert_eq!(broadcast.viewer_count(), 0);
    }

    /// `PATCH`es of one session are applied in the order they came (RFC
    /// 8838 §8: end-of-candidates comes last). Each `PATCH` applied by a
    /// task of its own, one's candidates interleaved with the next one's:
    /// here the end of candidates came after the first candidate (RTCP's,
    /// component 2, which the agent ignores) and before the second, and the
    /// agent, gathered and without a remote candidate, failed at once.
    #[tokio::test(flavor = "current_thread")]
    async fn a_sessions_trickled_candidates_are_applied_in_the_order_they_came() {
        use ferrtc::IceConnectionState;
        use ferrtc_signal::whip::FragCandidate;
        let (_seam, media) = media_port(4);
        let (client, offer) = sending_offer().await;
        let server = answered(offer).await;
        // Subscribed once answered: a gathering ended before shows in the state.
        let mut events = server.subscribe();
        while server.ice_gathering_state().await != ferrtc::IceGatheringState::Complete {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
                .await
                .expect("gathered");
        }
        // Candidates whose checks go unanswered: their pairs stay in
        // progress. RTCP's (component 2) the agent ignores.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let candidate = |text: String| FragCandidate {
            candidate: text,
            sdp_mid: Some("0".into()),
            sdp_m_line_index: 0,
            username_fragment: None,
        };
        let first = vec![
            candidate(format!(
                "candidate:2 2 udp 2122260222 127.0.0.1 {port} typ host"
            )),
            candidate(format!(
                "candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host"
            )),
        ];
        let (internal, _) = mpsc::unbounded_channel();
        let mut broadcast = Broadcast {
            publisher: None,
            sessions: HashMap::new(),
            opening: HashMap::new(),
            next_viewer: 1,
            internal,
            ender: media.ender(),
            trickling: HashMap::new(),
        };
        broadcast.sessions.insert("s".into(), server.clone());
        let trickle = |candidates, end_of_candidates| MediaRequest::Trickle {
            id: "s".into(),
            candidates,
            end_of_candidates,
        };
        broadcast.on_request(trickle(first, false));
        broadcast.on_request(trickle(Vec::new(), true));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_ne!(
            server.ice_connection_state().await,
            IceConnectionState::Failed,
            "the end of candidates came before the candidate"
        );
        server.close().await;
        client.close().await;
    }

    const OFFER: &str = "v=0\r\no=- 42 2 IN IP4 127.0.0.1\r\ns=-\r\nm=video 9 X 96\r\n\
        a=mid:0\r\na=ice-ufrag:old1\r\na=ice-pwd:oldpassword\r\n\
        a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n";

    /// A session not opened for a call of ours that failed on its
    /// connection (`set_codec_preferences`, `replace_track`, the answer...)
    /// is the server's fault: 500 (RFC 9110 §15.6.1), with the call named;
    /// the offer's faults stay 400 (malformed) and 422 (nothing to serve),
    /// no connection for it 503.
    #[test]
    fn a_failure_of_ours_is_500_and_the_offers_400_or_422() {
        use ferrtc_signal::whip::WhipError;
        let status = |refused: Refused| WhipError::from(refused.refusal());
        for step in ["set_codec_preferences", "replace_track", "create_answer"] {
            let refused = status(Refused::internal(step)(ferrtc::Error::Closed));
            assert_eq!(refused.status(), 500, "{step}");
            assert!(refused.to_string().contains(step), "{refused}");
        }
        assert_eq!(status(Refused::Offer(BadOffer("x".into()))).status(), 400);
        assert_eq!(status(Refused::Unacceptable("x".into())).status(), 422);
        let no_socket = ferrtc::Error::Io(std::io::Error::other("no fd"));
        assert_eq!(status(Refused::NoConnection(no_socket)).status(), 503);
    }

    #[test]
    fn a_restarted_offer_has_the_new_credentials_a_new_version_and_no_old_candidates() {
        assert_eq!(
            restarted_offer(OFFER, "new1", "newpassword"),
            "v=0\r\no=- 42 3 IN IP4 127.0.0.1\r\ns=-\r\nm=video 9 X 96\r\n\
             a=mid:0\r\na=ice-ufrag:new1\r\na=ice-pwd:newpassword\r\n"
        );
    }

    #[test]
    fn the_fragment_of_an_answer_is_its_credentials_sections_and_candidates() {
        assert_eq!(
            fragment_of(OFFER),
            "a=ice-ufrag:old1\r\na=ice-pwd:oldpassword\r\nm=video 9 X 96\r\na=mid:0\r\n\
             a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n"
        );
    }

    #[test]
    fn candidates_go_into_the_media_section_they_name_with_end_of_candidates() {
        let sdp = "v=0\r\ns=-\r\nm=audio 9 X 111\r\na=mid:0\r\nm=video 9 X 96\r\na=mid:1\r\n";
        let candidates = [
            (0, "candidate:1 1 udp 1 127.0.0.1 5000 typ host".to_owned()),
            (1, "candidate:2 1 udp 1 127.0.0.1 5001 typ host".to_owned()),
        ];
        let out = with_candidates(sdp, &candidates);
        assert_eq!(
            out,
            "v=0\r\ns=-\r\nm=audio 9 X 111\r\na=mid:0\r\n\
             a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n\
             m=video 9 X 96\r\na=mid:1\r\n\
             a=candidate:2 1 udp 1 127.0.0.1 5001 typ host\r\na=end-of-candidates\r\n"
        );
    }

    #[test]
    fn an_sdp_without_media_sections_is_left_as_is() {
        assert_eq!(with_candidates("v=0\n", &[]), "v=0\r\n");
    }

    #[test]
    fn offered_sections_have_their_direction_and_codecs_static_ones_without_rtpmap_too() {
        let offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
                     a=group:BUNDLE 0 1 2\r\n\
                     m=audio 9 UDP/TLS/RTP/SAVPF 0 8 9\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n\
                     m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\n\
                     a=rtpmap:96 VP8/90000\r\n\
                     m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=bundle-only\r\n\
                     a=recvonly\r\na=rtpmap:96 H264/90000\r\n\
                     a=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n";
        let sections = offered_sections(offer);
        let audio = &sections["0"];
        assert!(audio.receives());
        let names: Vec<_> = audio
            .codecs
            .iter()
            .map(|c| format!("{}/{}", c.name, c.clock_rate))
            .collect();
        assert_eq!(names, ["PCMU/8000", "PCMA/8000", "G722/8000"]);
        assert!(!sections["1"].receives());
        assert_eq!(sections["2"].codecs.len(), 1);
        assert_eq!(sections["2"].codecs[0].name, "H264");
    }

    /// An H.264 section matches the publisher's H.264 only with the same
    /// profile and packetization mode (RFC 6184 §8.2.2); a VP9 one only
    /// with the same profile.
    #[test]
    fn an_offered_codec_matches_the_publishers_only_with_the_parameters_that_must_agree() {
        let section = |rtpmap: &str, fmtp: &str| {
            let offer = format!(
                "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
                 m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
                 a=recvonly\r\na=rtpmap:96 {rtpmap}\r\na=fmtp:96 {fmtp}\r\n"
            );
            offered_sections(&offer).remove("0").unwrap()
        };
        let codec = |name: &str, fmtp: &str| RtpCodec {
            payload_type: 102,
            name: name.into(),
            clock_rate: 90_000,
            channels: None,
            fmtp: Some(fmtp.into()),
            feedback: Vec::new(),
        };
        let baseline = codec("H264", "packetization-mode=1;profile-level-id=42e01f");
        let same = section("H264/90000", "packetization-mode=1;profile-level-id=42e034");
        assert!(same.has(&baseline), "another level of the same profile");
        let high = section("H264/90000", "packetization-mode=1;profile-level-id=640c1f");
        assert!(!high.has(&baseline));
        let mode0 = section("H264/90000", "packetization-mode=0;profile-level-id=42e01f");
        assert!(!mode0.has(&baseline));
        let vp9 = codec("VP9", "profile-id=0");
        assert!(section("VP9/90000", "profile-id=0").has(&vp9));
        assert!(!section("VP9/90000", "profile-id=2").has(&vp9));
    }

    /// The answer may only agree on what the publisher sends: our
    /// capabilities that match its codec, with their RTX, or nothing.
    #[test]
    fn preferences_are_the_capabilities_matching_the_publishers_codec_or_none() {
        let h264 = |fmtp: &str| RtpCodec {
            payload_type: 102,
            name: "H264".into(),
            clock_rate: 90_000,
            channels: None,
            fmtp: Some(fmtp.into()),
            feedback: Vec::new(),
        };
        let baseline = h264("packetization-mode=1;profile-level-id=42e01f");
        let preferred = preferences(ferrtc::MediaKind::Video, &baseline);
        let media: Vec<_> = preferred.iter().filter(|c| !c.is_rtx()).collect();
        assert!(!media.is_empty());
        assert!(media.iter().all(|c| c.matches(&baseline)), "{media:?}");
        assert!(preferred.iter().any(|c| c.is_rtx()));
        // High 4:4:4 Predictive: none of ours.
        let high444 = h264("packetization-mode=1;profile-level-id=f4001f");
        assert!(preferences(ferrtc::MediaKind::Video, &high444).is_empty());
    }

    /// One HTTP/1.1 request to `addr`, its whole response.
    async fn request_text(addr: std::net::SocketAddr, head: String, body: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        raw
    }

    /// An ICE restart `PATCH` (RFC 9725 §4.3.2) of a session, sent to a
    /// real server whose media side is this test, applied by
    /// `restart_ice` on `pc` as the session's connection: the response.
    async fn patched_restart(pc: PeerConnection) -> String {
        let (port, mut media) = media_port(4);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, SignalConfig::default().with_media(port)));
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                     a=ice-ufrag:olduf\r\na=ice-pwd:oldpasswordoldpassword\r\n\
                     m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n";
        let post = tokio::spawn(request_text(
            addr,
            "POST /whip HTTP/1.1\r\nContent-Type: application/sdp".to_owned(),
            offer,
        ));
        let Some(MediaRequest::Open { reply, .. }) = media.recv().await else {
            panic!("an offer");
        };
        reply.answer(offer.replace("olduf", "srvuf"));
        let created = post.await.unwrap();
        assert!(created.starts_with("HTTP/1.1 201"), "{created}");
        let location = created
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap()
            .to_owned();
        let frag = "a=ice-ufrag:newuf\r\na=ice-pwd:newpasswordnewpassword\r\n\
                    m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n";
        let patch = tokio::spawn(request_text(
            addr,
            format!(
                "PATCH {location} HTTP/1.1\r\nContent-Type: application/trickle-ice-sdpfrag\r\n\
                 If-Match: *"
            ),
            frag,
        ));
        let Some(MediaRequest::Restart {
            ice_ufrag,
            ice_pwd,
            candidates,
            end_of_candidates,
            reply,
            ..
        }) = media.recv().await
        else {
            panic!("a restart");
        };
        super::restart_ice(
            pc,
            (ice_ufrag, ice_pwd),
            (candidates, end_of_candidates),
            reply,
        )
        .await;
        patch.await.unwrap()
    }

    /// An ICE restart `PATCH` (RFC 9725 §4.3.2) that reaches a session
    /// whose connection has just closed (failed, or closed by its client:
    /// `watch` closes it before the broadcast task hears it ended) finds
    /// no session: 404, as the same `PATCH` a moment later gets. Not 500:
    /// nothing failed on the server's side, and not 400: the fragment is
    /// fine.
    #[tokio::test(flavor = "current_thread")]
    async fn an_ice_restart_of_a_session_whose_connection_closed_is_404_not_500() {
        // The session's connection, closed a moment before.
        let pc = PeerConnection::new(Configuration::default()).unwrap();
        pc.close().await;
        let patched = patched_restart(pc).await;
        assert!(patched.starts_with("HTTP/1.1 404"), "{patched}");
        // Closed while answered: its restart offer is refused as closed.
        let (client, offer) = sending_offer().await;
        let session = answered(offer).await;
        session.close().await;
        let patched = patched_restart(session).await;
        assert!(patched.starts_with("HTTP/1.1 404"), "{patched}");
        client.close().await;
    }

    /// An identity provider that panics (a bug in it): the connection's
    /// task, which runs it, panics.
    struct PanickingIdp;

    impl ferrtc::IdentityProvider for PanickingIdp {
        fn generate_assertion(
            &self,
            _contents: &str,
            _origin: &str,
            _options: &ferrtc::IdentityOptions,
        ) -> Result<ferrtc::IdentityAssertionResult, ferrtc::IdentityError> {
            panic!("the test identity provider panics");
        }

        fn validate_assertion(
            &self,
            _assertion: &str,
            _origin: &str,
        ) -> Result<ferrtc::ValidatedIdentity, ferrtc::IdentityError> {
            panic!("the test identity provider panics");
        }
    }

    /// A client that sends video, and its offer.
    async fn sending_offer() -> (PeerConnection, String) {
        use ferrtc::{MediaKind, RtpTransceiverDirection, RtpTransceiverInit};
        let client = PeerConnection::new(Configuration::default()).unwrap();
        let init = RtpTransceiverInit {
            direction: Some(RtpTransceiverDirection::SendOnly),
            ..Default::default()
        };
        client
            .add_transceiver(MediaKind::Video, init)
            .await
            .unwrap();
        let offer = client.create_offer().await.unwrap();
        client
            .set_local_description(Some(offer.clone()))
            .await
            .unwrap();
        (client, offer.sdp)
    }

    /// A session's connection as the broadcast task holds it: `offer`
    /// answered.
    async fn answered(offer: String) -> PeerConnection {
        let session = PeerConnection::new(Configuration::default()).unwrap();
        session
            .set_remote_description(ferrtc::SessionDescription::offer(offer))
            .await
            .unwrap();
        let answer = session.create_answer().await.unwrap();
        session.set_local_description(Some(answer)).await.unwrap();
        session
    }

    /// `pc` with `idp` as its identity provider, with default options.
    async fn with_idp(pc: &PeerConnection, idp: impl ferrtc::IdentityProvider + 'static) {
        pc.set_identity_provider(std::sync::Arc::new(idp), ferrtc::IdentityOptions::default())
            .await
            .unwrap();
    }

    /// An ICE restart `PATCH` reaching a session whose connection's task
    /// panicked (a bug of ours; here in an identity provider, which runs
    /// on that task) is this server's failure: 500 (RFC 9110 §15.6.1),
    /// not the 404 of a session closed normally; whether the task panics
    /// during the restart or had before it.
    #[tokio::test(flavor = "current_thread")]
    async fn an_ice_restart_of_a_session_whose_connection_panicked_is_500_not_404() {
        let (client, offer) = sending_offer().await;
        let session = answered(offer).await;
        // The restart's answer asks the provider for an assertion.
        with_idp(&session, PanickingIdp).await;
        let patched = patched_restart(session.clone()).await;
        assert!(patched.starts_with("HTTP/1.1 500"), "{patched}");
        assert!(
            matches!(
                session.create_offer().await,
                Err(ferrtc::Error::TaskPanicked(_))
            ),
            "the session's task panicked"
        );
        // Panicked before the restart.
        let patched = patched_restart(session).await;
        assert!(patched.starts_with("HTTP/1.1 500"), "{patched}");
        client.close().await;
    }

    /// An identity provider that asserts an identity (its validation, not
    /// needed here, fails).
    struct AssertingIdp;

    impl ferrtc::IdentityProvider for AssertingIdp {
        fn generate_assertion(
            &self,
            _contents: &str,
            _origin: &str,
            _options: &ferrtc::IdentityOptions,
        ) -> Result<ferrtc::IdentityAssertionResult, ferrtc::IdentityError> {
            Ok(ferrtc::IdentityAssertionResult {
                idp: ferrtc::IdentityProviderDetails {
                    domain: "example.org".into(),
                    protocol: "default".into(),
                },
                assertion: "token".into(),
            })
        }

        fn validate_assertion(
            &self,
            _assertion: &str,
            _origin: &str,
        ) -> Result<ferrtc::ValidatedIdentity, ferrtc::IdentityError> {
            Err(ferrtc::IdentityError::Validation("not here".into()))
        }
    }

    /// `setRemoteDescription` failing because the connection's task
    /// panicked under it (here in the identity provider that validates
    /// the offer's `a=identity`, which runs on that task) is this server's
    /// failure, 500 (RFC 9110 §15.6.1), not the 400 of an offer the peer
    /// got wrong (RFC 9725 §4.2).
    #[tokio::test(flavor = "current_thread")]
    async fn an_offer_not_set_because_the_connections_task_panicked_is_500_not_400() {
        let (client, _) = sending_offer().await;
        with_idp(&client, AssertingIdp).await;
        let offer = client.create_offer().await.unwrap().sdp;
        assert!(offer.contains("a=identity:"), "{offer}");
        // Without a provider, the assertion is not validated.
        let session = answered(offer).await;
        with_idp(&session, PanickingIdp).await;
        // The restart's offer, with the same `a=identity`, is validated.
        let patched = patched_restart(session).await;
        assert!(patched.starts_with("HTTP/1.1 500"), "{patched}");
        assert!(patched.contains("set_remote_description"), "{patched}");
        client.close().await;
    }

    /// What `set_remote_description`'s errors are refused as: the offer's
    /// fault (400) only when the connection refused the offer itself.
    #[tokio::test(flavor = "current_thread")]
    async fn an_offer_is_400_only_when_the_connection_refuses_it() {
        use ferrtc_signal::whip::WhipError;
        let status = |error| WhipError::from(Refused::offer(error).refusal()).status();
        let pc = PeerConnection::new(Configuration::default()).unwrap();
        let junk = pc
            .set_remote_description(ferrtc::SessionDescription::offer("hello"))
            .await
            .unwrap_err();
        assert_eq!(status(junk), 400);
        assert_eq!(status(ferrtc::Error::TaskPanicked("bug".into())), 500);
        assert_eq!(status(ferrtc::Error::Closed), 500);
        pc.close().await;
    }

    /// An identity provider whose first assertion fails (an IdP that
    /// could not make one, W3C `idp-execution-failure`), the next made.
    struct FailingOnceIdp(std::sync::atomic::AtomicBool);

    impl ferrtc::IdentityProvider for FailingOnceIdp {
        fn generate_assertion(
            &self,
            contents: &str,
            origin: &str,
            options: &ferrtc::IdentityOptions,
        ) -> Result<ferrtc::IdentityAssertionResult, ferrtc::IdentityError> {
            if self.0.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Err(ferrtc::IdentityError::Generation("down".into()));
            }
            AssertingIdp.generate_assertion(contents, origin, options)
        }

        fn validate_assertion(
            &self,
            assertion: &str,
            origin: &str,
        ) -> Result<ferrtc::ValidatedIdentity, ferrtc::IdentityError> {
            AssertingIdp.validate_assertion(assertion, origin)
        }
    }

    /// An ICE restart whose answer fails after its offer was set (here the
    /// identity provider the answer needs fails, the connection lives on)
    /// rolls that offer back (W3C webrtc-pc §4.4.1.6, RFC 8829
    /// §4.1.10.2): the session is `stable` on the offer it had, not left
    /// in `have-remote-offer` on the restart's, and a later restart is
    /// answered.
    #[tokio::test(flavor = "current_thread")]
    async fn a_restart_whose_answer_failed_is_rolled_back_and_a_later_one_answered() {
        use ferrtc_signal::whip::sdp_ice_ufrag;
        let (client, offer) = sending_offer().await;
        let session = answered(offer.clone()).await;
        with_idp(&session, FailingOnceIdp(true.into())).await;
        let patched = patched_restart(session.clone()).await;
        assert!(patched.starts_with("HTTP/1.1 500"), "{patched}");
        assert!(patched.contains("create_answer"), "{patched}");
        assert_eq!(
            session.signaling_state().await,
            ferrtc::SignalingState::Stable
        );
        let remote = session.remote_description().await.unwrap().sdp;
        assert_eq!(sdp_ice_ufrag(&remote), sdp_ice_ufrag(&offer));
        let patched = patched_restart(session.clone()).await;
        assert!(patched.starts_with("HTTP/1.1 200"), "{patched}");
        let remote = session.remote_description().await.unwrap().sdp;
        assert_eq!(sdp_ice_ufrag(&remote), Some("newuf"));
        session.close().await;
        client.close().await;
    }

    /// A 500's body names the call of ours that failed, for the client
    /// to report, but not the connection's error text (a panic message,
    /// an OS error): that is for the server's log.
    #[test]
    fn a_500_names_the_failed_call_but_not_the_connections_error() {
        use ferrtc_signal::whip::WhipError;
        let panicked = ferrtc::Error::TaskPanicked(
            "index out of bounds: the len is 3 but the index is 7".into(),
        );
        let refused = WhipError::from(Refused::internal("create_answer")(panicked).refusal());
        assert_eq!(refused.status(), 500);
        let body = refused.to_string();
        assert!(body.contains("create_answer"), "{body}");
        assert!(
            !body.contains("index out of bounds"),
            "the client reads: {body}"
        );
    }

    /// RFC 4733 `telephone-event` carries no media of its own: an answer
    /// section that receives in it alone receives nothing to broadcast,
    /// and a publisher's track negotiated with it first has its audio
    /// codec next (what a viewer must accept).
    #[test]
    fn telephone_event_alone_is_not_media_received() {
        let answer = |rtpmaps: &str| {
            let pts: Vec<&str> = rtpmaps
                .lines()
                .filter_map(|l| l.strip_prefix("a=rtpmap:")?.split(' ').next())
                .collect();
            format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                 m=audio 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
                 a=recvonly\r\n{rtpmaps}",
                pts.join(" ")
            )
        };
        let events = "a=rtpmap:126 telephone-event/8000\r\n";
        assert!(matches!(super::receives_media(&answer(events)), Ok(false)));
        let opus = "a=rtpmap:126 telephone-event/8000\r\na=rtpmap:111 opus/48000/2\r\n";
        assert!(matches!(super::receives_media(&answer(opus)), Ok(true)));
        let negotiated = offered_sections(&answer(opus)).remove("0").unwrap().codecs;
        assert_eq!(negotiated[0].name, "telephone-event");
        let first = super::first_codec(&negotiated).unwrap();
        assert_eq!(first.name, "opus");
        assert_eq!(super::first_codec(&negotiated[..1]), None);
    }

    /// Our answer to an offer of many sections (700 bundled audio
    /// sections fit the offer limits: 64 KiB, 1,024 sections) has more
    /// lines than the default parse limits allow a peer's description;
    /// reading it again to see whether it receives media must not fail
    /// (that was a 500 for a valid offer).
    #[test]
    fn an_answer_longer_than_a_peers_description_may_be_is_still_read() {
        let mut answer = String::from("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        for mid in 0..700 {
            answer.push_str(&format!(
                "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\n\
                 a=recvonly\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n\
                 a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n\
                 a=setup:active\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
                 a=rtcp-fb:0 transport-cc\r\na=ssrc:1 cname:x\r\n"
            ));
        }
        assert!(
            ferrtc_sdp::parse(&answer).is_err(),
            "past the default limits"
        );
        assert!(matches!(super::receives_media(&answer), Ok(true)));
    }
}
