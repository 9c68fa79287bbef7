//! The JSEP session: signaling state, transceivers, offers and answers
//! (RFC 8829 §4 and §5, W3C webrtc-pc §4.4).

use std::collections::{HashMap, HashSet, VecDeque};

use ferrtc_sdp::{
    Attribute, Candidate, Direction, Fingerprint, MediaDescription, MediaKind, RidDirection,
    SessionDescription as Sdp, Setup,
};

use ferrtc_dtls::Role;

use crate::IceCandidateInit;
use crate::SessionDescription;
use crate::build::{self, RtpSection, Transport};
use crate::codec::{Codec, PayloadTypeSet, negotiate_codecs, order_by_preferences};
use crate::config::{AnswerOptions, BundlePolicy, IceCredentials, JsepConfig, OfferOptions};
use crate::error::JsepError;
use crate::numbering::{BundleNumbers, Remembered, note, same_codec, same_configuration};
use crate::signaling::{SdpType, Side, SignalingState, Transition};
use crate::transceiver::{
    HeaderExtension, NegotiatedMedia, Transceiver, TransceiverId, TransceiverInit,
};

/// What an m-section carries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Media(TransceiverId),
    Data,
    /// A section of a remote offer this side does not support; always rejected.
    Foreign,
}

/// One m-section position, with the mid it keeps for the session's lifetime
/// (RFC 8829 §5.2.2: m-section order and mids never change).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    mid: String,
    content: Content,
    kind: MediaKind,
    protocol: String,
    formats: Vec<String>,
    /// Rejected by a completed exchange: the slot may be recycled (RFC 8829 §5.2.2).
    rejected: bool,
}

/// A description applied to the session, kept as text only: the parsed
/// model is ten times the size of the text, and only offer/answer and
/// candidate operations need it, which parse it again ([`Applied::model`]).
#[derive(Debug, Clone, PartialEq)]
struct Applied {
    kind: SdpType,
    text: String,
}

/// Simulcast layers an answer agrees to receive at most (RFC 8853 §5.3:
/// the media session keeps one RTP stream per layer, four at most).
const MAX_SIMULCAST_LAYERS: usize = 4;

/// Payload types the session remembers ([`Jsep::pt_history`]): one entry
/// per payload type, however many codecs descriptions gave it (another
/// marks it contested), so 128 cover every RTP payload type (RFC 3550
/// §5.1).
const MAX_PT_HISTORY: usize = 128;

/// Extension ids the session remembers ([`Jsep::ext_history`]): one entry
/// per id, however many URIs descriptions gave it (a second marks it
/// contested), so 255 cover every id of one- and two-byte headers (RFC
/// 8285 §4.2, §4.3).
const MAX_EXT_HISTORY: usize = 255;

/// Limits for parsing a description again, or one this side wrote: a
/// remote text was accepted (within the configured limits) when it was
/// applied, and has only grown by the bounded number of trickled
/// candidates since; a local one is the serialization of a model built
/// from bounded inputs.
const REPARSE_LIMITS: ferrtc_sdp::Limits = ferrtc_sdp::Limits::NONE;

impl Applied {
    fn new(kind: SdpType, text: String) -> Self {
        let mut applied = Applied {
            kind,
            text: String::new(),
        };
        applied.set_text(text);
        applied
    }

    /// Keeps `text` without the spare capacity it was built with (a
    /// serialized model has up to twice its length).
    fn set_text(&mut self, mut text: String) {
        text.shrink_to_fit();
        self.text = text;
    }

    /// The parsed description. Its text parsed when it was applied, and
    /// every later text is a model's serialization, so this cannot fail
    /// short of a bug; an empty description stands in then.
    fn model(&self) -> Sdp {
        ferrtc_sdp::parse_bytes(self.text.as_bytes(), &REPARSE_LIMITS).unwrap_or_else(|e| {
            debug_assert!(false, "an applied description no longer parses: {e}");
            build::session(0, 0, None, false, None)
        })
    }
}

/// An offer or answer created but not yet applied.
#[derive(Debug, Clone)]
struct Created {
    text: String,
    slots: Vec<Slot>,
    ice: IceCredentials,
    next_mid: u32,
    version: u64,
}

/// State restored by a rollback (RFC 8829 §4.1.10.2).
#[derive(Debug, Clone)]
struct Snapshot {
    transceivers: Vec<Transceiver>,
    slots: Vec<Slot>,
    next_mid: u32,
    ice: IceCredentials,
}

/// SCTP parameters of a negotiated data section (RFC 8841).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedSctp {
    /// The data section's mid.
    pub mid: String,
    /// Remote `a=sctp-port` (5000 when absent, RFC 8841 §5).
    pub remote_port: u16,
    /// Remote `a=max-message-size` (65536 when absent, RFC 8841 §6.1).
    pub remote_max_message_size: u64,
}

/// Transport parameters of a completed exchange: what ICE and DTLS need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedTransport {
    /// Mids of the BUNDLE group, tag first; empty when not bundled.
    pub bundle: Vec<String>,
    /// Mid of the m-section whose transport everything uses.
    pub transport_mid: String,
    /// Local ICE credentials in use.
    pub local_ice: IceCredentials,
    /// Remote ICE credentials.
    pub remote_ice: IceCredentials,
    /// Whether the remote side is ICE lite (RFC 8839 §5.3).
    pub remote_ice_lite: bool,
    /// Remote certificate fingerprints.
    pub remote_fingerprints: Vec<Fingerprint>,
    /// Local DTLS role, settled by `a=setup` (RFC 8842 §5).
    pub dtls_role: Role,
    /// The data section, if one was accepted.
    pub sctp: Option<NegotiatedSctp>,
}

/// A JSEP session: pure offer/answer logic for one peer connection
/// (RFC 8829; W3C `RTCPeerConnection` signaling).
///
/// ```
/// use ferrtc_jsep::{IceCredentials, Jsep, JsepConfig, SessionDescription, SignalingState};
/// use ferrtc_sdp::{Fingerprint, HashFunction};
///
/// let cfg = |u: &str| JsepConfig::new(1, IceCredentials::new(u, "passwordpasswordpassword"),
///     vec![Fingerprint::from_digest(HashFunction::Sha256, &[7; 32])]);
/// let (mut a, mut b) = (Jsep::new(cfg("aaaa")), Jsep::new(cfg("bbbb")));
/// a.request_data_channel();
/// let offer = a.create_offer(Default::default()).unwrap();
/// a.set_local_description(offer.clone()).unwrap();
/// b.set_remote_description(offer).unwrap();
/// let answer = b.create_answer(Default::default()).unwrap();
/// b.set_local_description(answer.clone()).unwrap();
/// a.set_remote_description(answer).unwrap();
/// assert_eq!(a.signaling_state(), SignalingState::Stable);
/// assert_eq!(a.transport().unwrap().remote_ice.ufrag, "bbbb");
/// ```
#[derive(Debug, Clone)]
pub struct Jsep {
    config: JsepConfig,
    state: SignalingState,
    transceivers: Vec<Transceiver>,
    next_transceiver: usize,
    data_requested: bool,
    slots: Vec<Slot>,
    next_mid: u32,
    ice: IceCredentials,
    version: u64,
    current_local: Option<Applied>,
    pending_local: Option<Applied>,
    current_remote: Option<Applied>,
    pending_remote: Option<Applied>,
    last_offer: Option<Created>,
    last_answer: Option<Created>,
    snapshot: Option<Snapshot>,
    remote_ice_restart: bool,
    transport: Option<NegotiatedTransport>,
    /// Every payload type a description of this session that became
    /// current (offer or answer, either side) gave a codec of its BUNDLE
    /// group, first meaning kept and marked contested once a description
    /// gives the payload type another codec: a dynamic payload type keeps
    /// its codec for the whole session (RFC 3264 §8.3.2), so later offers
    /// give each back to its codec and to no other, and a contested one to
    /// none. One entry per payload type, at most [`MAX_PT_HISTORY`].
    pt_history: Vec<Remembered<Codec>>,
    /// Every extension id such a description gave a URI in its BUNDLE
    /// group, first meaning kept and marked contested once a description
    /// gives the id another URI: later offers give each id back to its URI
    /// and to no other, and a contested id to none, as payload types keep
    /// their codecs (RFC 8285 §6, RFC 8843 §9.1). One entry per id, at most
    /// [`MAX_EXT_HISTORY`].
    ext_history: Vec<Remembered<HeaderExtension>>,
}

impl Jsep {
    /// A new session in the `stable` state with no transceivers.
    pub fn new(config: JsepConfig) -> Self {
        Self {
            ice: config.ice.clone(),
            config,
            state: SignalingState::Stable,
            transceivers: Vec::new(),
            next_transceiver: 0,
            data_requested: false,
            slots: Vec::new(),
            next_mid: 0,
            version: 1,
            current_local: None,
            pending_local: None,
            current_remote: None,
            pending_remote: None,
            last_offer: None,
            last_answer: None,
            snapshot: None,
            remote_ice_restart: false,
            transport: None,
            pt_history: Vec::new(),
            ext_history: Vec::new(),
        }
    }

    /// Sets the `a=identity` value of the offers and answers created from
    /// now on (RFC 8827 §5.6.4.1, W3C webrtc-identity §9.3: a peer
    /// connection with an identity provider puts its assertion in every
    /// description it creates); `None` stops writing it.
    pub fn set_identity(&mut self, identity: Option<String>) {
        self.config.identity = identity;
    }

    /// The configuration.
    pub fn config(&self) -> &JsepConfig {
        &self.config
    }

    /// `signalingState`.
    pub fn signaling_state(&self) -> SignalingState {
        self.state
    }

    /// Closes the session; every later operation fails with [`JsepError::Closed`].
    pub fn close(&mut self) {
        self.state = SignalingState::Closed;
    }

    /// Adds a transceiver (W3C `addTransceiver`).
    pub fn add_transceiver(&mut self, init: TransceiverInit) -> TransceiverId {
        self.push_transceiver(init, false)
    }

    fn push_transceiver(&mut self, mut init: TransceiverInit, by_remote: bool) -> TransceiverId {
        dedup_in_order(&mut init.stream_ids);
        let id = TransceiverId(self.next_transceiver);
        self.next_transceiver += 1;
        self.transceivers
            .push(Transceiver::new(id, init, by_remote));
        id
    }

    /// All transceivers, in creation order (W3C `getTransceivers`).
    pub fn transceivers(&self) -> &[Transceiver] {
        &self.transceivers
    }

    /// One transceiver.
    pub fn transceiver(&self, id: TransceiverId) -> Option<&Transceiver> {
        self.transceivers.iter().find(|t| t.id == id)
    }

    /// Every transceiver by id, for the loops over m-sections (a search
    /// per section would make them quadratic in the number of sections).
    fn transceivers_by_id(&self) -> HashMap<TransceiverId, &Transceiver> {
        self.transceivers.iter().map(|t| (t.id, t)).collect()
    }

    fn transceiver_mut(&mut self, id: TransceiverId) -> Result<&mut Transceiver, JsepError> {
        self.transceivers
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(JsepError::UnknownTransceiver(id.0))
    }

    /// Sets a transceiver's preferred direction (W3C `direction` setter).
    pub fn set_direction(
        &mut self,
        id: TransceiverId,
        direction: Direction,
    ) -> Result<(), JsepError> {
        self.transceiver_mut(id)?.init.direction = direction;
        Ok(())
    }

    /// Sets a transceiver's sender track and streams (`a=msid`).
    pub fn set_sender(
        &mut self,
        id: TransceiverId,
        track_id: Option<String>,
        stream_ids: Vec<String>,
    ) -> Result<(), JsepError> {
        let t = self.transceiver_mut(id)?;
        t.init.track_id = track_id;
        t.init.stream_ids = stream_ids;
        dedup_in_order(&mut t.init.stream_ids);
        Ok(())
    }

    /// `addTrack` on an existing transceiver (W3C webrtc-pc §5.1, step
    /// "reuse"): it takes the track and streams and now sends
    /// (`recvonly` becomes `sendrecv`, `inactive` becomes `sendonly`). One
    /// a pending remote offer created is kept by a rollback of that offer.
    pub fn reuse_for_add_track(
        &mut self,
        id: TransceiverId,
        track_id: String,
        stream_ids: Vec<String>,
    ) -> Result<(), JsepError> {
        let t = self.transceiver_mut(id)?;
        t.init.track_id = Some(track_id);
        t.init.stream_ids = stream_ids;
        dedup_in_order(&mut t.init.stream_ids);
        t.init.direction = match t.init.direction {
            Direction::RecvOnly => Direction::SendRecv,
            Direction::Inactive => Direction::SendOnly,
            d => d,
        };
        t.reused_for_add_track = t.created_by_remote;
        Ok(())
    }

    /// Sets a transceiver's codecs in preference order (W3C
    /// `setCodecPreferences`); an empty list restores the defaults of its
    /// kind. Used by the next offer or answer: an offer lists these codecs
    /// in this order (a re-offer keeps the payload types the last exchange
    /// agreed, RFC 8829 §5.2.2), and an answer to the peer's offer lists
    /// the codecs it shares with the offer in the preference order (RFC
    /// 8829 §4.2.6; without preferences an answer keeps the offer's order).
    pub fn set_codec_preferences(
        &mut self,
        id: TransceiverId,
        codecs: Vec<Codec>,
    ) -> Result<(), JsepError> {
        let t = self.transceiver_mut(id)?;
        t.codec_preferences = !codecs.is_empty();
        t.init.codecs = if codecs.is_empty() {
            TransceiverInit::new(t.init.kind.clone(), t.init.direction).codecs
        } else {
            codecs
        };
        Ok(())
    }

    /// Stops a transceiver (W3C `stop()`): its m-section is rejected in the next
    /// offer and may be recycled afterwards (RFC 8829 §5.2.2).
    pub fn stop_transceiver(&mut self, id: TransceiverId) -> Result<(), JsepError> {
        let t = self.transceiver_mut(id)?;
        t.stopped = true;
        t.current_direction = None;
        Ok(())
    }

    /// Asks for a data-channel m-section (W3C: first `createDataChannel`).
    pub fn request_data_channel(&mut self) {
        self.data_requested = true;
    }

    /// Whether the pending remote offer restarts ICE: its ufrag or pwd
    /// differs from the current remote description's (RFC 8839 §4.4.1.1.1).
    /// Measured against `currentRemoteDescription` only, so an offer that
    /// replaces a rolled back restart offer with the old credentials is no
    /// restart. False once the exchange completes or is rolled back.
    pub fn remote_ice_restart(&self) -> bool {
        self.remote_ice_restart
    }

    /// The local ICE credentials of the session: those of the local
    /// description applied (pending, else current), or the configured ones
    /// before any; a rollback restores the ones from before its offer (RFC
    /// 8829 §4.1.10.2). An answer carries them unless the remote offer
    /// restarts ICE ([`Self::remote_ice_restart`]).
    pub fn local_ice_credentials(&self) -> &IceCredentials {
        &self.ice
    }

    /// Transport parameters of the last completed exchange.
    pub fn transport(&self) -> Option<&NegotiatedTransport> {
        self.transport.as_ref()
    }

    /// `localDescription`: pending if any, else current.
    pub fn local_description(&self) -> Option<SessionDescription> {
        self.pending_local
            .as_ref()
            .or(self.current_local.as_ref())
            .map(to_public)
    }

    /// `remoteDescription`: pending if any, else current.
    pub fn remote_description(&self) -> Option<SessionDescription> {
        self.pending_remote
            .as_ref()
            .or(self.current_remote.as_ref())
            .map(to_public)
    }

    /// `currentLocalDescription`.
    pub fn current_local_description(&self) -> Option<SessionDescription> {
        self.current_local.as_ref().map(to_public)
    }

    /// `pendingLocalDescription`.
    pub fn pending_local_description(&self) -> Option<SessionDescription> {
        self.pending_local.as_ref().map(to_public)
    }

    /// `currentRemoteDescription`.
    pub fn current_remote_description(&self) -> Option<SessionDescription> {
        self.current_remote.as_ref().map(to_public)
    }

    /// `pendingRemoteDescription`.
    pub fn pending_remote_description(&self) -> Option<SessionDescription> {
        self.pending_remote.as_ref().map(to_public)
    }

    /// The parsed remote description (pending if any, else current), for
    /// reading candidates and other details. Parsed on each call: the
    /// session keeps descriptions as text.
    pub fn remote_sdp(&self) -> Option<Sdp> {
        self.pending_remote
            .as_ref()
            .or(self.current_remote.as_ref())
            .map(Applied::model)
    }

    /// Mid of the data section, once one is in the layout.
    pub fn data_mid(&self) -> Option<&str> {
        self.slots
            .iter()
            .find(|s| s.content == Content::Data && !s.rejected)
            .map(|s| s.mid.as_str())
    }

    // ---- createOffer (RFC 8829 §5.2) ----

    /// Creates an offer from the transceivers and the data request
    /// (W3C `createOffer`, RFC 8829 §5.2.1 initial and §5.2.2 subsequent).
    pub fn create_offer(&mut self, options: OfferOptions) -> Result<SessionDescription, JsepError> {
        if self.state == SignalingState::Closed {
            return Err(JsepError::Closed);
        }
        let ice = match options.ice_restart {
            Some(new) if new == self.ice => return Err(JsepError::IceRestartNeedsCredentials),
            Some(new) => new,
            None => self.ice.clone(),
        };
        let (slots, next_mid) = self.plan_offer();
        let by_id = self.transceivers_by_id();
        let negotiated_before: HashSet<String> = self
            .current_local
            .as_ref()
            .map(|d| {
                d.model()
                    .media
                    .iter()
                    .filter_map(|m| m.mid().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let transport = Transport {
            ice: &ice,
            ice_options: &self.config.ice_options,
            fingerprints: &self.config.fingerprints,
            setup: Setup::ActPass,
        };
        // RFC 8843 §9.1.1: every section in use is offered in the BUNDLE
        // group; new ones number their codecs and extensions around those
        // the negotiated ones keep.
        let mut numbers = BundleNumbers::default();
        for slot in slots.iter().filter(|s| !s.rejected) {
            if let Content::Media(id) = &slot.content
                && let Some(n) = by_id
                    .get(id)
                    .filter(|t| !t.stopped)
                    .and_then(|t| t.negotiated.as_ref())
            {
                numbers.record(&n.codecs, &n.header_extensions);
            }
        }
        // RFC 3264 §8.3.2: a dynamic payload type keeps its codec for the
        // session, so the numbers any earlier description gave the group's
        // sections (offered codecs the answer left out too) go back to
        // their codecs and to no other, and one two descriptions gave
        // different codecs to none.
        numbers.remember(self.pt_history.iter().cloned());
        // The same for extension ids: an id an earlier description gave an
        // extension (agreed or not) is given to no other URI, and one two
        // descriptions gave different URIs to none.
        numbers.remember_extensions(self.ext_history.iter().cloned());
        let mut sections = Vec::with_capacity(slots.len());
        let mut seen_kinds: Vec<MediaKind> = Vec::new();
        let mut first = true;
        for slot in &slots {
            let stopped = match &slot.content {
                Content::Media(id) => by_id.get(id).is_none_or(|t| t.stopped),
                Content::Data => false,
                Content::Foreign => true,
            };
            if slot.rejected || stopped {
                sections.push(build::rejected(
                    slot.kind.clone(),
                    &slot.protocol,
                    slot.formats.clone(),
                    Some(&slot.mid),
                ));
                continue;
            }
            // RFC 8829 §5.2.1: bundle-only per policy, for sections never negotiated.
            let is_new = !negotiated_before.contains(&slot.mid);
            let bundle_only = is_new
                && match self.config.bundle_policy {
                    BundlePolicy::MaxCompat => false,
                    BundlePolicy::MaxBundle => !first,
                    BundlePolicy::Balanced => seen_kinds.contains(&slot.kind),
                };
            first = false;
            seen_kinds.push(slot.kind.clone());
            let m = match &slot.content {
                Content::Data => build::data(
                    &slot.mid,
                    build::SCTP_PROTOCOL,
                    None,
                    self.config.sctp_port,
                    self.config.max_message_size,
                    bundle_only,
                    &transport,
                ),
                Content::Media(id) => {
                    let Some(t) = by_id.get(id) else {
                        continue;
                    };
                    self.offer_rtp(t, &slot.mid, bundle_only, &transport, &mut numbers)
                }
                Content::Foreign => continue,
            };
            sections.push(m);
        }
        let bundle: Vec<String> = sections
            .iter()
            .filter(|m| !m.is_rejected())
            .filter_map(|m| m.mid().map(str::to_owned))
            .collect();
        let text = self.finish(bundle, true, sections);
        self.last_offer = Some(Created {
            text: text.1.clone(),
            slots,
            ice,
            next_mid,
            version: text.0,
        });
        Ok(SessionDescription::offer(text.1))
    }

    fn offer_rtp(
        &self,
        t: &Transceiver,
        mid: &str,
        bundle_only: bool,
        transport: &Transport<'_>,
        numbers: &mut BundleNumbers,
    ) -> MediaDescription {
        // RFC 8829 §5.2.2: a re-offer keeps the negotiated payload types,
        // adds the other supported codecs, and keeps the header extensions
        // the last answer agreed.
        let (codecs, extensions) = match &t.negotiated {
            Some(n) => (reoffer_codecs(t, n, numbers), n.header_extensions.clone()),
            None => numbers.assign(&t.init.codecs, &t.init.header_extensions),
        };
        let rids: Vec<String> = t
            .init
            .send_encodings
            .iter()
            .map(|e| e.rid.clone())
            .collect();
        // RFC 8853 §5.3 and RFC 8829 §5.2.2: a re-offer keeps the layers
        // the last exchange agreed this side receives.
        let receiving = t
            .negotiated
            .as_ref()
            .map(|n| n.recv_rids.clone())
            .filter(|r| !r.is_empty() && t.init.direction.receives());
        let (rids, simulcast) = if rids.len() >= 2 && t.init.direction.sends() {
            build::send_simulcast(&rids)
        } else if let Some(recv) = receiving {
            build::simulcast(&recv, RidDirection::Recv)
        } else {
            (Vec::new(), None)
        };
        build::rtp(
            t,
            RtpSection {
                mid,
                direction: t.init.direction,
                codecs: &codecs,
                extensions: &extensions,
                rids,
                simulcast,
                rtcp_mux: true,
                rtcp_rsize: true,
                bundle_only,
            },
            transport,
            &self.config.cname,
        )
    }

    /// The m-section layout of the next offer: current slots, new transceivers
    /// and data in recycled or appended slots, with fresh mids.
    fn plan_offer(&self) -> (Vec<Slot>, u32) {
        let mut slots = self.slots.clone();
        let mut next_mid = self.next_mid;
        let place = |slots: &mut Vec<Slot>,
                     next_mid: &mut u32,
                     content: Content,
                     kind: MediaKind,
                     protocol: &str| {
            let mid = loop {
                let candidate = next_mid.to_string();
                *next_mid += 1;
                if !slots.iter().any(|s| s.mid == candidate) {
                    break candidate;
                }
            };
            let slot = Slot {
                mid,
                content,
                kind,
                protocol: protocol.to_owned(),
                formats: Vec::new(),
                rejected: false,
            };
            // RFC 8829 §5.2.2: reuse a section rejected by both sides.
            match slots.iter().position(|s| s.rejected) {
                Some(i) => slots[i] = slot,
                None => slots.push(slot),
            }
        };
        for t in &self.transceivers {
            let placed = slots
                .iter()
                .any(|s| s.content == Content::Media(t.id) && !s.rejected);
            if !t.stopped && !placed {
                place(
                    &mut slots,
                    &mut next_mid,
                    Content::Media(t.id),
                    t.kind().clone(),
                    build::RTP_PROTOCOL,
                );
            }
        }
        let has_data = slots
            .iter()
            .any(|s| s.content == Content::Data && !s.rejected);
        if self.data_requested && !has_data {
            place(
                &mut slots,
                &mut next_mid,
                Content::Data,
                MediaKind::Application,
                build::SCTP_PROTOCOL,
            );
        }
        (slots, next_mid)
    }

    /// Assembles the session and picks the `o=` version: unchanged when the
    /// body equals the current local description, else incremented (RFC 8829 §5.2.2).
    fn finish(
        &self,
        bundle: Vec<String>,
        mixed: bool,
        media: Vec<MediaDescription>,
    ) -> (u64, String) {
        let bundle = (!bundle.is_empty()).then_some(bundle);
        let mut sdp = build::session(
            self.config.session_id,
            self.version,
            bundle,
            mixed,
            self.config.identity.as_deref(),
        );
        sdp.media = media;
        let text = sdp.to_string();
        if self.current_local.as_ref().is_some_and(|c| c.text == text) {
            return (self.version, text);
        }
        sdp.origin.session_version = self.version + 1;
        (self.version + 1, sdp.to_string())
    }

    // ---- createAnswer (RFC 8829 §5.3) ----

    /// Creates an answer to the pending remote offer (W3C `createAnswer`,
    /// RFC 8829 §5.3.1 initial and §5.3.2 subsequent).
    pub fn create_answer(
        &mut self,
        options: AnswerOptions,
    ) -> Result<SessionDescription, JsepError> {
        if !matches!(
            self.state,
            SignalingState::HaveRemoteOffer | SignalingState::HaveLocalPranswer
        ) {
            return Err(self.invalid_state("create answer", None));
        }
        let offer = match &self.pending_remote {
            Some(a) => a.model(),
            None => return Err(self.invalid_state("create answer", None)),
        };
        let ice = match (self.remote_ice_restart, options.ice_credentials) {
            (true, Some(new)) if new == self.ice => {
                return Err(JsepError::IceRestartNeedsCredentials);
            }
            (true, None) => return Err(JsepError::IceRestartNeedsCredentials),
            (_, Some(new)) if self.remote_ice_restart || self.current_local.is_none() => new,
            _ => self.ice.clone(),
        };
        let by_id = self.transceivers_by_id();
        let mut sections = Vec::with_capacity(offer.media.len());
        for (slot, o) in self.slots.iter().zip(&offer.media) {
            let setup = answer_setup(o.setup().or(offer.setup()), self.config.answer_setup);
            let transport = Transport {
                ice: &ice,
                ice_options: &self.config.ice_options,
                fingerprints: &self.config.fingerprints,
                setup,
            };
            let m = match &slot.content {
                _ if o.is_rejected() => None,
                Content::Foreign => None,
                Content::Data if !self.config.accept_data_channels => None,
                Content::Data => {
                    let legacy = (o.protocol == "DTLS/SCTP").then(|| o.formats.clone());
                    Some(build::data(
                        &slot.mid,
                        &o.protocol,
                        legacy,
                        self.config.sctp_port,
                        self.config.max_message_size,
                        false,
                        &transport,
                    ))
                }
                Content::Media(id) => by_id.get(id).filter(|t| !t.stopped).and_then(|t| {
                    self.answer_rtp(t, &slot.mid, o, offer.direction_of(o), &transport)
                }),
            };
            sections.push(m.unwrap_or_else(|| {
                build::rejected(o.kind.clone(), &o.protocol, o.formats.clone(), o.mid())
            }));
        }
        let bundle = bundle_on_one_transport(&offer, &mut sections);
        let (version, text) = self.finish(bundle, offer.extmap_allow_mixed(), sections);
        self.last_answer = Some(Created {
            text: text.clone(),
            slots: self.slots.clone(),
            ice,
            next_mid: self.next_mid,
            version,
        });
        Ok(SessionDescription::answer(text))
    }

    fn answer_rtp(
        &self,
        t: &Transceiver,
        mid: &str,
        o: &MediaDescription,
        offered: Direction,
        transport: &Transport<'_>,
    ) -> Option<MediaDescription> {
        let mut codecs = negotiate_codecs(&Codec::from_section(o), &t.init.codecs);
        if t.codec_preferences {
            // RFC 8829 §4.2.6: the preferences order the answer too.
            codecs = order_by_preferences(codecs, &t.init.codecs);
        }
        if !codecs.iter().any(|c| !c.is_rtx()) {
            return None;
        }
        // RFC 8285 §6: accept offered extensions we know, with the offerer's ids.
        let extensions: Vec<HeaderExtension> = o
            .extmaps()
            .filter(|e| t.init.header_extensions.iter().any(|l| l.uri == e.uri))
            .map(|e| HeaderExtension::new(e.id, &e.uri))
            .collect();
        // RFC 8829 §5.3.1: intersect our direction with the offer's, reversed.
        let mine = t.init.direction;
        let direction = Direction::from_parts(
            mine.sends() && offered.receives(),
            mine.receives() && offered.sends(),
        );
        // RFC 8853 §5.3: offered send rids become answer recv rids and the reverse.
        let (rids, simulcast) = match o.simulcast() {
            Some(sim) => {
                let offered_send: Vec<String> = sim
                    .streams(RidDirection::Send)
                    .map(|s| {
                        s.streams
                            .iter()
                            .filter_map(|alts| alts.first())
                            .map(|r| r.id.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                let offered_recv: Vec<String> = sim
                    .streams(RidDirection::Recv)
                    .map(|s| {
                        s.streams
                            .iter()
                            .filter_map(|alts| alts.first())
                            .map(|r| r.id.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                if !offered_send.is_empty() && direction.receives() {
                    // RFC 8853 §5.3: the answerer may remove rids; it
                    // agrees to each once, and to no more layers than it
                    // receives.
                    let mut agreed: Vec<String> = Vec::new();
                    for rid in offered_send {
                        if agreed.len() < MAX_SIMULCAST_LAYERS && !agreed.contains(&rid) {
                            agreed.push(rid);
                        }
                    }
                    build::simulcast(&agreed, RidDirection::Recv)
                } else if !offered_recv.is_empty() && direction.sends() {
                    let mine: Vec<String> = offered_recv
                        .into_iter()
                        .filter(|r| t.init.send_encodings.iter().any(|e| &e.rid == r))
                        .collect();
                    build::simulcast(&mine, RidDirection::Send)
                } else {
                    (Vec::new(), None)
                }
            }
            None => (Vec::new(), None),
        };
        Some(build::rtp(
            t,
            RtpSection {
                mid,
                direction,
                codecs: &codecs,
                extensions: &extensions,
                rids,
                simulcast,
                rtcp_mux: o.rtcp_mux(),
                rtcp_rsize: o.has(&ferrtc_sdp::Attribute::RtcpRsize),
                bundle_only: false,
            },
            transport,
            &self.config.cname,
        ))
    }

    // ---- setLocalDescription / setRemoteDescription (W3C §4.4.1.6) ----

    fn invalid_state(&self, operation: &'static str, kind: Option<SdpType>) -> JsepError {
        if self.state == SignalingState::Closed {
            return JsepError::Closed;
        }
        JsepError::InvalidState {
            operation,
            kind,
            state: self.state,
        }
    }

    fn transition(&self, side: Side, kind: SdpType) -> Result<Transition, JsepError> {
        let operation = match side {
            Side::Local => "set local description",
            Side::Remote => "set remote description",
        };
        self.state
            .transition(side, kind)
            .ok_or_else(|| self.invalid_state(operation, Some(kind)))
    }

    fn take_snapshot(&mut self) {
        if self.snapshot.is_none() {
            self.snapshot = Some(Snapshot {
                transceivers: self.transceivers.clone(),
                slots: self.slots.clone(),
                next_mid: self.next_mid,
                ice: self.ice.clone(),
            });
        }
    }

    /// Applies a local description (W3C `setLocalDescription`). An empty SDP
    /// means the last created offer or answer (W3C implicit description).
    pub fn set_local_description(&mut self, desc: SessionDescription) -> Result<(), JsepError> {
        let Transition::To(next) = self.transition(Side::Local, desc.kind)? else {
            return Err(self.invalid_state("set local description", Some(desc.kind)));
        };
        let created = match desc.kind {
            SdpType::Rollback => {
                self.rollback();
                return Ok(());
            }
            SdpType::Offer => self.last_offer.clone(),
            SdpType::Answer | SdpType::Pranswer => self.last_answer.clone(),
        };
        let created = created.ok_or(JsepError::NothingCreated(desc.kind))?;
        // W3C §4.4.1.6: the SDP must be the one last created (no munging).
        if !desc.sdp.is_empty() && desc.sdp != created.text {
            return Err(JsepError::Modified(desc.kind));
        }
        // Our own text: `sdp_limits` bound the peer's descriptions, not
        // ours (an answer can outgrow the offer it answers).
        let model = ferrtc_sdp::parse_bytes(created.text.as_bytes(), &REPARSE_LIMITS)?;
        let applied = Applied::new(desc.kind, created.text);
        match desc.kind {
            SdpType::Offer => {
                self.take_snapshot();
                self.slots = created.slots;
                self.next_mid = created.next_mid;
                self.ice = created.ice;
                self.assign_mids();
                self.pending_local = Some(applied);
            }
            _ => {
                let previous_ice = std::mem::replace(&mut self.ice, created.ice);
                if next == SignalingState::Stable {
                    let completed = self
                        .pending_remote
                        .clone()
                        .ok_or(JsepError::NothingCreated(SdpType::Offer))
                        .and_then(|offer| {
                            self.complete(&offer.model(), &model, false)?;
                            Ok(offer)
                        });
                    let offer = match completed {
                        Ok(offer) => offer,
                        Err(e) => {
                            // Refused: nothing changed (W3C webrtc-pc §4.4.1.6).
                            self.ice = previous_ice;
                            return Err(e);
                        }
                    };
                    self.pending_remote = None;
                    self.current_remote = Some(offer);
                    self.current_local = Some(applied);
                    self.pending_local = None;
                    self.forget_created();
                } else {
                    self.pending_local = Some(applied);
                }
            }
        }
        self.version = created.version;
        self.state = next;
        Ok(())
    }

    /// Applies a remote description (W3C `setRemoteDescription`). Atomic
    /// (W3C webrtc-pc §4.4.1.6: a rejected description leaves the session
    /// as it was): everything is checked before anything changes, the
    /// implicit rollback of a glare offer included.
    pub fn set_remote_description(&mut self, desc: SessionDescription) -> Result<(), JsepError> {
        let transition = self.transition(Side::Remote, desc.kind)?;
        if desc.kind == SdpType::Rollback {
            self.rollback();
            return Ok(());
        }
        let model = self.parse_remote(&desc.sdp)?;
        let next = match transition {
            Transition::To(s) | Transition::ImplicitRollbackThen(s) => s,
        };
        let applied = Applied::new(desc.kind, desc.sdp);
        if desc.kind == SdpType::Offer {
            // Validated against what a rollback would restore: the
            // snapshot, which `validate_layout` already prefers.
            validate_offer(&model)?;
            self.validate_layout(&model)?;
            match transition {
                Transition::ImplicitRollbackThen(_) => self.rollback(),
                Transition::To(_) if self.state == SignalingState::HaveRemoteOffer => {
                    self.restore()
                }
                Transition::To(_) => {}
            }
            self.take_snapshot();
            // RFC 8839 §4.4.1.1.1: changed ufrag or pwd means an ICE restart.
            let old = self
                .current_remote
                .as_ref()
                .and_then(|cur| first_credentials(&cur.model()));
            let new = first_credentials(&model);
            self.remote_ice_restart = matches!((old, new), (Some(o), Some(n)) if o != n);
            self.apply_remote_offer(&model);
            self.pending_remote = Some(applied);
            self.state = next;
            return Ok(());
        }
        let offer = self
            .pending_local
            .clone()
            .ok_or(JsepError::NothingCreated(SdpType::Offer))?;
        let offer_model = offer.model();
        validate_answer(&offer_model, &model)?;
        self.validate_answer_credentials(&offer_model, &model)?;
        if next == SignalingState::Stable {
            self.complete(&offer_model, &model, true)?;
            self.current_local = Some(offer);
            self.pending_local = None;
            self.pending_remote = None;
            self.current_remote = Some(applied);
            self.forget_created();
        } else {
            self.pending_remote = Some(applied);
        }
        self.state = next;
        Ok(())
    }

    /// The peer's SDP is untrusted: parsed within the configured limits,
    /// with at most `max_remote_candidates` per m-section.
    fn parse_remote(&self, sdp: &str) -> Result<Sdp, JsepError> {
        let model = ferrtc_sdp::parse_bytes(sdp.as_bytes(), &self.config.sdp_limits)?;
        let limit = self.config.max_remote_candidates;
        if let Some(m) = model.media.iter().find(|m| m.candidates().count() > limit) {
            let mid = m.mid().unwrap_or_default().to_owned();
            return Err(JsepError::TooManyCandidates { mid, limit });
        }
        Ok(model)
    }

    /// RFC 8839 §4.4.1.1.1: the answerer changes its ICE credentials only
    /// when the offer restarts ICE (new local credentials in our offer), and
    /// a final answer keeps those of its provisional answer (the ICE agent
    /// already uses them).
    fn validate_answer_credentials(&self, offer: &Sdp, answer: &Sdp) -> Result<(), JsepError> {
        let changed = |previous: &Applied| {
            first_credentials(&previous.model())
                .is_some_and(|p| Some(p) != first_credentials(answer))
        };
        if self.pending_remote.as_ref().is_some_and(changed) {
            return Err(JsepError::IceCredentialsChanged {
                mid: first_mid(answer),
            });
        }
        let previous_remote = self
            .current_remote
            .as_ref()
            .and_then(|r| first_credentials(&r.model()));
        let previous_local = self
            .current_local
            .as_ref()
            .and_then(|l| first_credentials(&l.model()));
        let (Some(previous_remote), Some(previous_local)) = (previous_remote, previous_local)
        else {
            return Ok(());
        };
        let restarted = first_credentials(offer).is_some_and(|o| o != previous_local);
        match first_credentials(answer) {
            Some(now) if now != previous_remote && !restarted => {
                Err(JsepError::IceCredentialsChanged {
                    mid: first_mid(answer),
                })
            }
            _ => Ok(()),
        }
    }

    /// RFC 8829 §5.10: a subsequent offer keeps every m-section in place and
    /// changes a mid only where the section was rejected (recycled).
    fn validate_layout(&self, offer: &Sdp) -> Result<(), JsepError> {
        let negotiated = match &self.current_local {
            Some(_) => &self.slots,
            None => return Ok(()),
        };
        let restore = self
            .snapshot
            .as_ref()
            .map(|s| &s.slots)
            .unwrap_or(negotiated);
        for (i, slot) in restore.iter().enumerate() {
            let Some(m) = offer.media.get(i) else {
                return Err(JsepError::Invalid(format!(
                    "m-section {i} ({}) was removed",
                    slot.mid
                )));
            };
            if m.mid() != Some(slot.mid.as_str()) && !slot.rejected {
                return Err(JsepError::Invalid(format!(
                    "m-section {i} changed mid from {} without being rejected first",
                    slot.mid
                )));
            }
        }
        Ok(())
    }

    /// Adds a remote trickled candidate to the remote description (W3C
    /// `addIceCandidate`, RFC 8840 §4.4). Returns the candidate and the mid
    /// it belongs to, or `None` for end of candidates.
    pub fn add_ice_candidate(
        &mut self,
        init: &IceCandidateInit,
    ) -> Result<Option<(String, Candidate)>, JsepError> {
        if self.state == SignalingState::Closed {
            return Err(JsepError::Closed);
        }
        // W3C webrtc-pc §4.4.1.5 step 3, before the remote description is
        // looked at: a candidate needs sdpMid or sdpMLineIndex.
        if !init.is_end_of_candidates() && init.sdp_mid.is_none() && init.sdp_m_line_index.is_none()
        {
            return Err(JsepError::CandidateWithoutMid);
        }
        let remote = match (&mut self.pending_remote, &mut self.current_remote) {
            (Some(p), _) => p,
            (None, Some(c)) => c,
            (None, None) => return Err(self.invalid_state("add ICE candidate", None)),
        };
        let mut model = remote.model();
        let index = match (&init.sdp_mid, init.sdp_m_line_index) {
            (Some(mid), _) => model.media.iter().position(|m| m.mid() == Some(mid)),
            (None, Some(i)) => Some(usize::from(i)).filter(|i| *i < model.media.len()),
            // W3C webrtc-pc §4.4.1.5 (addIceCandidate): an end-of-candidates
            // without sdpMid and sdpMLineIndex applies to every section.
            (None, None) if init.is_end_of_candidates() => {
                for m in &mut model.media {
                    if !m.end_of_candidates() {
                        m.attributes.push(Attribute::EndOfCandidates);
                    }
                }
                remote.set_text(model.to_string());
                return Ok(None);
            }
            (None, None) => return Err(JsepError::CandidateWithoutMid),
        };
        let no_section = || JsepError::CandidateForNoSection {
            mid: init.sdp_mid.clone(),
            index: init.sdp_m_line_index,
        };
        let index = index.ok_or_else(no_section)?;
        let session_ufrag = model.ice_ufrag().map(str::to_owned);
        let m = model.media.get_mut(index).ok_or_else(no_section)?;
        let ufrag = m.ice_ufrag().map(str::to_owned).or(session_ufrag);
        if let Some(u) = &init.username_fragment
            && ufrag.as_deref() != Some(u.as_str())
        {
            return Err(JsepError::BadCandidate(format!("unknown ufrag {u}")));
        }
        let mid = m.mid().unwrap_or_default().to_owned();
        if init.is_end_of_candidates() {
            if !m.end_of_candidates() {
                m.attributes.push(Attribute::EndOfCandidates);
            }
            remote.set_text(model.to_string());
            return Ok(None);
        }
        let candidate = init
            .candidate
            .parse::<Candidate>()
            .map_err(|e| JsepError::BadCandidate(e.to_string()))?;
        // W3C webrtc-pc §4.4.1.5: one the description already holds is
        // accepted as it was (the agent keeps one of each), not written
        // again: copies would fill the description and reach the limit.
        if m.candidates().any(|known| *known == candidate) {
            return Ok(Some((mid, candidate)));
        }
        // Bound what a peer can make the remote description (and the text
        // rewritten below on every candidate) grow to.
        if m.candidates().count() >= self.config.max_remote_candidates {
            return Err(JsepError::TooManyCandidates {
                mid,
                limit: self.config.max_remote_candidates,
            });
        }
        m.attributes.push(Attribute::Candidate(candidate.clone()));
        remote.set_text(model.to_string());
        Ok(Some((mid, candidate)))
    }

    /// Whether the session needs an offer/answer exchange (W3C webrtc-pc
    /// §4.7.3 "check if negotiation is needed"), evaluated in `stable`.
    pub fn is_negotiation_needed(&self) -> bool {
        if self.state != SignalingState::Stable {
            return false;
        }
        let Some(local) = &self.current_local else {
            return self.data_requested || self.transceivers.iter().any(|t| !t.stopped);
        };
        let has_data = self
            .slots
            .iter()
            .any(|s| s.content == Content::Data && !s.rejected);
        if self.data_requested && !has_data {
            return true;
        }
        // Each description is parsed once for all the transceivers, and
        // only if one of them needs it.
        let slot_of: HashMap<TransceiverId, usize> = self
            .slots
            .iter()
            .enumerate()
            .rev()
            .filter_map(|(i, s)| match s.content {
                Content::Media(id) => Some((id, i)),
                _ => None,
            })
            .collect();
        let mut local_model: Option<Sdp> = None;
        let mut offer_model: Option<Option<Sdp>> = None;
        for t in &self.transceivers {
            match (slot_of.get(&t.id).copied(), t.stopped) {
                (None, false) => return true,
                (None, true) => continue,
                (Some(i), true) => {
                    if !self.slots[i].rejected {
                        return true;
                    }
                }
                (Some(i), false) => {
                    let local_model = local_model.get_or_insert_with(|| local.model());
                    let Some(m) = local_model.media.get(i) else {
                        return true;
                    };
                    let offer = match local.kind {
                        SdpType::Offer => None,
                        _ => offer_model
                            .get_or_insert_with(|| self.current_remote.as_ref().map(Applied::model))
                            .as_ref(),
                    };
                    let wanted = match (local.kind, offer) {
                        (SdpType::Offer, _) => t.init.direction,
                        (_, Some(offer)) => {
                            let offered = offer
                                .media
                                .get(i)
                                .map(|o| offer.direction_of(o))
                                .unwrap_or(Direction::Inactive);
                            Direction::from_parts(
                                t.init.direction.sends() && offered.receives(),
                                t.init.direction.receives() && offered.sends(),
                            )
                        }
                        _ => t.init.direction,
                    };
                    if m.direction() != wanted {
                        return true;
                    }
                    // §4.7.3: a sender's streams (`setStreams`) that the
                    // description's `a=msid` no longer matches.
                    if wanted.sends() && t.init.track_id.is_some() {
                        let described: Vec<&str> = m
                            .msids()
                            .map(|msid| msid.stream_id.as_str())
                            .filter(|id| *id != "-")
                            .collect();
                        if !described.iter().copied().eq(t
                            .init
                            .stream_ids
                            .iter()
                            .map(String::as_str))
                        {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    /// Gives every transceiver the mid of its slot.
    fn assign_mids(&mut self) {
        // The first slot of each transceiver.
        let mut mids: HashMap<TransceiverId, &str> = HashMap::new();
        for s in &self.slots {
            if let Content::Media(id) = s.content {
                mids.entry(id).or_insert(&s.mid);
            }
        }
        for t in &mut self.transceivers {
            if let Some(mid) = mids.get(&t.id) {
                t.mid = Some((*mid).to_owned());
            }
        }
    }

    /// Associates the m-sections of a remote offer with transceivers, creating
    /// recvonly ones where needed (W3C §4.4.1.6, RFC 8829 §5.10).
    fn apply_remote_offer(&mut self, offer: &Sdp) {
        // The transceivers by mid (the first of a mid), the ones without a
        // mid that a section of their kind may take, in creation order, and
        // the mids of rejected slots: looked up once per section, so that
        // an offer's cost grows with its length, not its square.
        let mut by_mid: HashMap<String, TransceiverId> = HashMap::new();
        let mut unassociated: HashMap<MediaKind, VecDeque<TransceiverId>> = HashMap::new();
        for t in &self.transceivers {
            match &t.mid {
                Some(mid) => {
                    by_mid.entry(mid.clone()).or_insert(t.id);
                }
                None if !t.stopped => unassociated
                    .entry(t.kind().clone())
                    .or_default()
                    .push_back(t.id),
                None => {}
            }
        }
        let rejected_mids: HashSet<String> = self
            .slots
            .iter()
            .filter(|s| s.rejected)
            .map(|s| s.mid.clone())
            .collect();
        let mut slots = Vec::with_capacity(offer.media.len());
        for (i, m) in offer.media.iter().enumerate() {
            let mid = m.mid().map(str::to_owned).unwrap_or_else(|| i.to_string());
            let is_av = matches!(m.kind, MediaKind::Audio | MediaKind::Video) && m.is_rtp();
            let content = if m.kind == MediaKind::Application && m.is_sctp() {
                Content::Data
            } else if !is_av {
                Content::Foreign
            } else if m.is_rejected() {
                // A rejected section keeps its transceiver, if any, for stopping.
                by_mid
                    .get(&mid)
                    .map(|id| Content::Media(*id))
                    .unwrap_or(Content::Foreign)
            } else if let Some(id) = by_mid.get(&mid) {
                Content::Media(*id)
            } else if let Some(id) = unassociated.get_mut(&m.kind).and_then(VecDeque::pop_front) {
                Content::Media(id)
            } else {
                let init = TransceiverInit::new(m.kind.clone(), Direction::RecvOnly);
                Content::Media(self.push_transceiver(init, true))
            };
            let previous_rejected = rejected_mids.contains(&mid);
            slots.push(Slot {
                mid,
                content,
                kind: m.kind.clone(),
                protocol: m.protocol.clone(),
                formats: m.formats.clone(),
                rejected: previous_rejected && m.is_rejected(),
            });
        }
        // Keep mids numeric-unique for later local offers.
        for s in &slots {
            if let Ok(n) = s.mid.parse::<u32>() {
                self.next_mid = self.next_mid.max(n + 1);
            }
        }
        self.slots = slots;
        self.assign_mids();
    }

    fn restore(&mut self) {
        let Some(snap) = self.snapshot.clone() else {
            return;
        };
        // Added since the snapshot: those the application added stay, and
        // so do those the remote offer created that `addTrack` took (W3C
        // webrtc-pc §4.4.1.6); they are no longer the remote's, and have
        // no mid.
        let added: Vec<Transceiver> = self
            .transceivers
            .iter()
            .filter(|t| {
                !snap.transceivers.iter().any(|s| s.id == t.id)
                    && (!t.created_by_remote || t.reused_for_add_track)
            })
            .cloned()
            .map(|mut t| {
                t.mid = None;
                t.created_by_remote = false;
                t.reused_for_add_track = false;
                t
            })
            .collect();
        // What the application set (track, streams, direction, codec
        // preferences: `addTrack`, `replaceTrack`, `setStreams`, the
        // `direction` setter) is not the description's: a rollback keeps
        // it as it is now (only descriptions set the rest).
        let mut restored = snap.transceivers;
        for t in &mut restored {
            if let Some(live) = self.transceivers.iter().find(|l| l.id == t.id) {
                t.init.clone_from(&live.init);
            }
        }
        self.transceivers = restored;
        self.transceivers.extend(added);
        self.slots = snap.slots;
        self.next_mid = snap.next_mid;
        self.ice = snap.ice;
    }

    /// A completed exchange no longer needs the offer and answer it was
    /// created from (only `setLocalDescription` of the pending exchange
    /// checks against them); a later one creates its own.
    fn forget_created(&mut self) {
        self.last_offer = None;
        self.last_answer = None;
    }

    /// Rollback (RFC 8829 §4.1.10.2, W3C §4.4.1.6): undo the pending offer.
    fn rollback(&mut self) {
        self.restore();
        self.snapshot = None;
        self.pending_local = None;
        self.pending_remote = None;
        self.remote_ice_restart = false;
        self.state = SignalingState::Stable;
    }

    /// Applies a completed exchange (RFC 8829 §5.10, §5.11): rejected
    /// sections, transceiver results, transport parameters.
    fn complete(&mut self, offer: &Sdp, answer: &Sdp, we_offered: bool) -> Result<(), JsepError> {
        // Everything that can fail comes before anything changes (W3C
        // webrtc-pc §4.4.1.6: a refused description changes nothing).
        let transport = self.negotiated_transport(offer, answer, we_offered)?;
        let mut sctp = None;
        let position: HashMap<TransceiverId, usize> = self
            .transceivers
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, i))
            .collect();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let (Some(o), Some(a)) = (offer.media.get(i), answer.media.get(i)) else {
                continue;
            };
            let rejected = o.is_rejected() || a.port == 0 && !a.bundle_only();
            slot.rejected = rejected;
            match &slot.content {
                Content::Media(id) => {
                    let Some(t) = position.get(id).map(|&i| &mut self.transceivers[i]) else {
                        continue;
                    };
                    if rejected {
                        t.stopped = true;
                        t.current_direction = None;
                        t.negotiated = None;
                        continue;
                    }
                    let r = if we_offered { a } else { o };
                    let direction = if we_offered {
                        answer.direction_of(a).reverse()
                    } else {
                        answer.direction_of(a)
                    };
                    // RFC 8853 §5.3, RFC 8851 §5: the layers agreed are
                    // the answer's rids of a direction that the offer has
                    // in the reverse one; an answerer may remove rids, not
                    // add them.
                    let rids = |m: &MediaDescription, d: RidDirection| -> Vec<String> {
                        m.rids()
                            .filter(|x| x.direction == d)
                            .filter(|x| {
                                o.rids().any(|y| y.direction == d.reverse() && y.id == x.id)
                            })
                            .map(|x| x.id.clone())
                            .collect()
                    };
                    t.current_direction = Some(direction);
                    let send_rids = rids(
                        a,
                        if we_offered {
                            RidDirection::Recv
                        } else {
                            RidDirection::Send
                        },
                    );
                    // W3C webrtc-pc §4.4.1.6 (RFC 8853 §5.3): the sender's
                    // encodings are those the answer agreed, all but the
                    // first when it refused simulcast; later offers are
                    // made from what is left. Only an exchange in which
                    // the transceiver sends can agree or refuse.
                    let encodings = &mut t.init.send_encodings;
                    if encodings.len() > 1 && direction.sends() {
                        if send_rids.is_empty() {
                            encodings.truncate(1);
                        } else {
                            encodings.retain(|e| send_rids.contains(&e.rid));
                        }
                    }
                    t.negotiated = Some(NegotiatedMedia {
                        mid: slot.mid.clone(),
                        direction,
                        codecs: Codec::from_section(a),
                        header_extensions: a
                            .extmaps()
                            .map(|e| HeaderExtension::new(e.id, &e.uri))
                            .collect(),
                        // RFC 8853 §5.3: what the answer lists is what was
                        // agreed; an answer without rids refuses simulcast.
                        send_rids,
                        recv_rids: rids(
                            a,
                            if we_offered {
                                RidDirection::Send
                            } else {
                                RidDirection::Recv
                            },
                        ),
                        remote_ssrcs: {
                            let mut v: Vec<u32> = r.ssrcs().map(|s| s.ssrc).collect();
                            v.dedup();
                            v
                        },
                        remote_msid: r
                            .msids()
                            .next()
                            .map(|m| (m.stream_id.clone(), m.track_id.clone())),
                    });
                }
                Content::Data if !rejected => {
                    let r = if we_offered { a } else { o };
                    sctp = Some(NegotiatedSctp {
                        mid: slot.mid.clone(),
                        remote_port: r.sctp_port().unwrap_or(5000),
                        remote_max_message_size: r.max_message_size().unwrap_or(65536),
                    });
                }
                _ => {}
            }
        }
        self.snapshot = None;
        self.remote_ice_restart = false;
        self.transport = transport.map(|t| NegotiatedTransport { sctp, ..t });
        self.remember_numbers(offer, answer);
        Ok(())
    }

    /// Adds the payload types and extension ids of the BUNDLE group's RTP
    /// sections in a completed exchange's offer and answer to
    /// [`Self::pt_history`] (RFC 3264 §8.3.2) and [`Self::ext_history`]
    /// (RFC 8285 §6); a number already there keeps its first meaning, and
    /// becomes contested when given another codec or URI.
    fn remember_numbers(&mut self, offer: &Sdp, answer: &Sdp) {
        let Some(t) = &self.transport else { return };
        let bundle: HashSet<&str> = t.bundle.iter().map(String::as_str).collect();
        let in_group = |m: &&MediaDescription| {
            !m.is_rejected()
                && matches!(m.kind, MediaKind::Audio | MediaKind::Video)
                && m.mid()
                    .is_some_and(|mid| mid == t.transport_mid || bundle.contains(mid))
        };
        let sections = || {
            [offer, answer]
                .into_iter()
                .flat_map(|d| d.media.iter().filter(in_group))
        };
        let codecs = sections()
            .flat_map(Codec::from_section)
            // RFC 3550 §5.1: a payload type is 7 bits; a format above 127
            // names no RTP payload type and must not take a place here.
            .filter(|c| c.payload_type <= 127);
        for c in codecs {
            note(
                &mut self.pt_history,
                MAX_PT_HISTORY,
                c,
                |h, c| h.payload_type == c.payload_type,
                same_codec,
            );
        }
        // RFC 8285 §5: ids are 1-255 (1-14 in one-byte headers); any other
        // number names no extension and must not take a place here.
        let extensions = sections()
            .flat_map(|m| m.extmaps())
            .filter(|e| (1..=255).contains(&e.id));
        for e in extensions {
            note(
                &mut self.ext_history,
                MAX_EXT_HISTORY,
                HeaderExtension::new(e.id, &e.uri),
                |h, e| h.id == e.id,
                |h, e| h.uri == e.uri,
            );
        }
    }

    /// The transport a completed exchange settles (RFC 8829 §5.10; RFC 9143
    /// §7: BUNDLE's tag section), without its SCTP part; `None` when every
    /// section is rejected.
    fn negotiated_transport(
        &self,
        offer: &Sdp,
        answer: &Sdp,
        we_offered: bool,
    ) -> Result<Option<NegotiatedTransport>, JsepError> {
        let remote = if we_offered { answer } else { offer };
        let local = if we_offered { offer } else { answer };
        // RFC 9143 §7: the BUNDLE tag is the first mid of the answer's group.
        let bundle: Vec<String> = answer
            .bundle_groups()
            .next()
            .map(|g| g.mids.clone())
            .unwrap_or_default();
        let tag_index = bundle
            .first()
            .and_then(|mid| answer.media.iter().position(|m| m.mid() == Some(mid)))
            .or_else(|| answer.media.iter().position(|m| !m.is_rejected()));
        let Some(ti) = tag_index else {
            return Ok(None);
        };
        let (Some(rm), Some(lm)) = (remote.media.get(ti), local.media.get(ti)) else {
            return Err(JsepError::AnswerMismatch("no transport section".into()));
        };
        let remote_ice = match (
            rm.ice_ufrag().or(remote.ice_ufrag()),
            rm.ice_pwd().or(remote.ice_pwd()),
        ) {
            (Some(u), Some(p)) => IceCredentials::new(u, p),
            _ => {
                return Err(JsepError::Invalid(
                    "transport section has no ICE credentials".into(),
                ));
            }
        };
        let mut remote_fingerprints: Vec<Fingerprint> = rm.fingerprints().cloned().collect();
        if remote_fingerprints.is_empty() {
            remote_fingerprints = remote.fingerprints().cloned().collect();
        }
        let local_setup = lm.setup().unwrap_or(Setup::ActPass);
        let remote_setup = rm.setup().or(remote.setup()).unwrap_or(Setup::Active);
        let dtls_role = match (local_setup, remote_setup) {
            (Setup::Active, _) => Role::Client,
            (Setup::Passive, _) => Role::Server,
            (_, Setup::Passive) => Role::Client,
            _ => Role::Server,
        };
        Ok(Some(NegotiatedTransport {
            transport_mid: lm.mid().unwrap_or_default().to_owned(),
            bundle,
            local_ice: self.ice.clone(),
            remote_ice,
            remote_ice_lite: remote.ice_lite(),
            remote_fingerprints,
            dtls_role,
            sctp: None,
        }))
    }
}

/// The codecs of a negotiated transceiver's section in a subsequent offer
/// (RFC 8829 §5.2.2): every format it supports (its codec preferences, when
/// set, else its kind's defaults), not only those the last answer agreed.
/// The agreed ones keep their payload types, format parameters and feedback
/// and come first, in the answer's order; the others follow, numbered
/// around the numbers the BUNDLE group uses ([`BundleNumbers::assign`]),
/// each with its own feedback. An agreed codec whose RTX the answer left
/// out gets it back, pointing at the agreed number. With codec preferences
/// set, only the codecs they name are offered, in their order.
fn reoffer_codecs(t: &Transceiver, n: &NegotiatedMedia, numbers: &mut BundleNumbers) -> Vec<Codec> {
    let local = &t.init.codecs;
    let preferred = |c: &Codec| local.iter().any(|l| !l.is_rtx() && l.matches(c));
    let mut kept: Vec<Codec> = n
        .codecs
        .iter()
        .filter(|c| c.is_rtx() || !t.codec_preferences || preferred(c))
        .cloned()
        .collect();
    let media: Vec<u8> = kept
        .iter()
        .filter(|c| !c.is_rtx())
        .map(|c| c.payload_type)
        .collect();
    kept.retain(|c| !c.is_rtx() || c.apt().is_some_and(|apt| media.contains(&apt)));
    // The agreed codec a local one is, if any.
    let agreed = |l: &Codec| kept.iter().find(|k| !k.is_rtx() && k.matches(l));
    let mut others: Vec<Codec> = local
        .iter()
        .filter(|l| !l.is_rtx() && agreed(l).is_none())
        .cloned()
        .collect();
    // RTX for agreed codecs, numbered apart: their `apt` is a number of
    // the group, which `assign` must not read as one of `others`.
    let mut agreed_rtx: Vec<Codec> = Vec::new();
    for r in local.iter().filter(|r| r.is_rtx()) {
        let Some(codec) = r
            .apt()
            .and_then(|apt| local.iter().find(|l| !l.is_rtx() && l.payload_type == apt))
        else {
            continue;
        };
        match agreed(codec) {
            // Renumbered with its codec by `assign`.
            None => others.push(r.clone()),
            Some(k) => {
                let has_rtx = kept
                    .iter()
                    .chain(&agreed_rtx)
                    .any(|x| x.is_rtx() && x.apt() == Some(k.payload_type));
                if !has_rtx {
                    agreed_rtx.push(Codec::rtx(r.payload_type, k.payload_type, r.clock_rate));
                }
            }
        }
    }
    let (others, _) = numbers.assign(&others, &[]);
    let (agreed_rtx, _) = numbers.assign(&agreed_rtx, &[]);
    kept.extend(others);
    kept.extend(agreed_rtx);
    if !t.codec_preferences {
        return kept;
    }
    // Each RTX right after its codec, as `order_by_preferences` expects.
    let mut grouped = Vec::with_capacity(kept.len());
    for c in kept.iter().filter(|c| !c.is_rtx()) {
        grouped.push(c.clone());
        grouped.extend(
            kept.iter()
                .filter(|r| r.is_rtx() && r.apt() == Some(c.payload_type))
                .cloned(),
        );
    }
    order_by_preferences(grouped, local)
}

/// The answer's BUNDLE group, in the offer's order. ferrtc runs every
/// section over one transport (one ICE agent, one DTLS association), so
/// it answers as the max-bundle policy does whatever its policy (RFC 8829
/// §5.3.1): it keeps the offer's first BUNDLE group it accepts a section
/// of, the transport the offerer asked its sections to share (RFC 8843
/// §7.3), and rejects (port 0) every section outside it, each of which
/// would need a transport of its own (RFC 8843 §7.3.3). Without such a
/// group it keeps the first section it accepts, alone and unbundled.
fn bundle_on_one_transport(offer: &Sdp, sections: &mut [MediaDescription]) -> Vec<String> {
    let accepted = |sections: &[MediaDescription]| -> HashSet<String> {
        sections
            .iter()
            .filter(|m| !m.is_rejected())
            .filter_map(|m| m.mid().map(str::to_owned))
            .collect()
    };
    let before = accepted(sections);
    let group: Vec<String> = offer
        .bundle_groups()
        .find(|g| g.mids.iter().any(|mid| before.contains(mid)))
        .map(|g| g.mids.clone())
        .unwrap_or_default();
    let keep: Vec<String> = if group.is_empty() {
        match sections.iter().find(|m| !m.is_rejected()) {
            Some(m) => vec![m.mid().unwrap_or_default().to_owned()],
            None => return Vec::new(),
        }
    } else {
        group.clone()
    };
    let keep: HashSet<&str> = keep.iter().map(String::as_str).collect();
    for (m, o) in sections.iter_mut().zip(&offer.media) {
        let kept = m.mid().is_some_and(|mid| keep.contains(mid));
        if !m.is_rejected() && !kept {
            *m = build::rejected(o.kind.clone(), &o.protocol, o.formats.clone(), o.mid());
        }
    }
    let after = accepted(sections);
    group
        .into_iter()
        .filter(|mid| after.contains(mid))
        .collect()
}

fn to_public(a: &Applied) -> SessionDescription {
    SessionDescription {
        kind: a.kind,
        sdp: a.text.clone(),
    }
}

/// RFC 8842 §5.3: the answerer's role for the offerer's `a=setup`.
fn answer_setup(offered: Option<Setup>, preferred: Setup) -> Setup {
    match offered {
        Some(Setup::Active) => Setup::Passive,
        Some(Setup::Passive) => Setup::Active,
        _ => match preferred {
            Setup::Passive => Setup::Passive,
            _ => Setup::Active,
        },
    }
}

/// The mid of the first section in use (where BUNDLE's transport is).
fn first_mid(sdp: &Sdp) -> String {
    sdp.media
        .iter()
        .find(|m| !m.is_rejected())
        .and_then(|m| m.mid())
        .unwrap_or_default()
        .to_owned()
}

/// `ice-char` of RFC 8839 §5.4: ALPHA / DIGIT / "+" / "/".
fn is_ice_chars(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// RFC 8839 §5.4: `ice-ufrag` is 4 to 256 ice-chars, `ice-pwd` 22 to 256;
/// each section in use must have both (at media or session level).
fn validate_credentials(sdp: &Sdp, m: &MediaDescription) -> Result<(), JsepError> {
    let mid = || m.mid().unwrap_or_default().to_owned();
    let (Some(ufrag), Some(pwd)) = (
        m.ice_ufrag().or(sdp.ice_ufrag()),
        m.ice_pwd().or(sdp.ice_pwd()),
    ) else {
        return Err(JsepError::Invalid(format!(
            "m-section {} has no ICE credentials",
            mid()
        )));
    };
    if !is_ice_chars(ufrag, 4, 256) {
        return Err(JsepError::InvalidIceCredentials {
            mid: mid(),
            reason: "ice-ufrag must be 4 to 256 ice-chars",
        });
    }
    if !is_ice_chars(pwd, 22, 256) {
        return Err(JsepError::InvalidIceCredentials {
            mid: mid(),
            reason: "ice-pwd must be 22 to 256 ice-chars",
        });
    }
    Ok(())
}

fn first_credentials(sdp: &Sdp) -> Option<(String, String)> {
    let m = sdp.media.iter().find(|m| !m.is_rejected());
    let ufrag = m.and_then(|m| m.ice_ufrag()).or(sdp.ice_ufrag())?;
    let pwd = m.and_then(|m| m.ice_pwd()).or(sdp.ice_pwd())?;
    Some((ufrag.to_owned(), pwd.to_owned()))
}

/// RFC 8829 §5.8: what a remote offer must carry.
fn validate_offer(sdp: &Sdp) -> Result<(), JsepError> {
    let mut mids: HashSet<&str> = HashSet::new();
    for (i, m) in sdp.media.iter().enumerate() {
        let mid = m
            .mid()
            .ok_or_else(|| JsepError::Invalid(format!("m-section {i} has no a=mid")))?;
        if !mids.insert(mid) {
            return Err(JsepError::Invalid(format!("mid {mid} appears twice")));
        }
        if m.is_rejected() {
            continue;
        }
        check_payload_types_once(m)?;
        validate_credentials(sdp, m)?;
        if m.fingerprints().next().is_none() && sdp.fingerprints().next().is_none() {
            return Err(JsepError::Invalid(format!(
                "m-section {mid} has no fingerprint"
            )));
        }
    }
    for g in sdp.bundle_groups() {
        if let Some(missing) = g.mids.iter().find(|id| !mids.contains(id.as_str())) {
            return Err(JsepError::Invalid(format!(
                "BUNDLE names unknown mid {missing}"
            )));
        }
    }
    check_bundle_payload_types(sdp)
}

/// RFC 8843 §9.1.1: the bundled sections are one RTP session, so a payload
/// type that several of them use must have the same codec configuration
/// (encoding name, clock rate, channels, format parameters) in each: a
/// description that gives one number two meanings is refused, naming the
/// number and the two sections.
fn check_bundle_payload_types(sdp: &Sdp) -> Result<(), JsepError> {
    let describe = |c: &Codec| {
        let channels = c.channels.map(|n| format!("/{n}")).unwrap_or_default();
        let fmtp = c
            .fmtp
            .as_deref()
            .map(|f| format!(" {f}"))
            .unwrap_or_default();
        format!("{}/{}{channels}{fmtp}", c.name, c.clock_rate)
    };
    for g in sdp.bundle_groups() {
        let group: HashSet<&str> = g.mids.iter().map(String::as_str).collect();
        // (section index, mid, codec) of every payload type seen so far.
        let mut seen: Vec<(usize, &str, Codec)> = Vec::new();
        for (i, m) in sdp.media.iter().enumerate() {
            let Some(mid) = m.mid() else { continue };
            if m.is_rejected() || !m.is_rtp() || !group.contains(mid) {
                continue;
            }
            for c in Codec::from_section(m) {
                match seen
                    .iter()
                    .find(|(_, _, s)| s.payload_type == c.payload_type)
                {
                    Some((j, other, s)) if !same_configuration(s, &c) => {
                        return Err(JsepError::Invalid(format!(
                            "bundled payload type {} is {} in m-section {j} (mid {other}) \
                             and {} in m-section {i} (mid {mid})",
                            c.payload_type,
                            describe(s),
                            describe(&c)
                        )));
                    }
                    Some(_) => {}
                    None => seen.push((i, mid, c)),
                }
            }
        }
    }
    Ok(())
}

/// RFC 8866 §5.14, RFC 3264 §5.1: each format of an RTP m-line names one
/// codec, so a payload type appears once. A repeated one is refused: it
/// means nothing, and negotiation would otherwise multiply its codecs.
fn check_payload_types_once(m: &MediaDescription) -> Result<(), JsepError> {
    if !m.is_rtp() {
        return Ok(());
    }
    let mut seen = PayloadTypeSet::default();
    match m.payload_types().find(|pt| !seen.insert(*pt)) {
        Some(pt) => Err(JsepError::Invalid(format!(
            "m-section {} lists payload type {pt} twice",
            m.mid().unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

/// RFC 3264 §6.1: the answer's direction for a stream is one the offer
/// allows (a `sendonly` offer is answered `recvonly` or `inactive`, an
/// `inactive` one `inactive`): the answerer sends only what the offerer
/// receives and receives only what it sends.
fn check_answer_direction(
    offer: &Sdp,
    o: &MediaDescription,
    answer: &Sdp,
    a: &MediaDescription,
) -> Result<(), JsepError> {
    let (offered, answered) = (offer.direction_of(o), answer.direction_of(a));
    if (answered.sends() && !offered.receives()) || (answered.receives() && !offered.sends()) {
        return Err(JsepError::AnswerMismatch(format!(
            "m-section {}: {offered} answered {answered}",
            a.mid().unwrap_or_default()
        )));
    }
    Ok(())
}

/// RFC 3264 §6.1, RFC 8829 §5.10: the answer's payload types are offered
/// ones, each for the codec the offer gave it (same encoding name, clock
/// rate and channels): an answer cannot bring in a codec the offer did not
/// have, not even under an offered number.
fn check_answer_codecs(o: &MediaDescription, a: &MediaDescription) -> Result<(), JsepError> {
    if !a.is_rtp() {
        return Ok(());
    }
    if let Some(pt) = a
        .payload_types()
        .find(|pt| !o.payload_types().any(|x| x == *pt))
    {
        return Err(JsepError::AnswerMismatch(format!(
            "payload type {pt} was not offered"
        )));
    }
    let offered = Codec::from_section(o);
    for c in Codec::from_section(a) {
        let Some(was) = offered.iter().find(|x| x.payload_type == c.payload_type) else {
            continue;
        };
        let same = was.name.eq_ignore_ascii_case(&c.name)
            && was.clock_rate == c.clock_rate
            && was.channels.unwrap_or(1) == c.channels.unwrap_or(1);
        if !same {
            return Err(JsepError::AnswerMismatch(format!(
                "payload type {} offered as {}/{} answered as {}/{}",
                c.payload_type, was.name, was.clock_rate, c.name, c.clock_rate
            )));
        }
    }
    Ok(())
}

/// RFC 8829 §5.10: an answer matches its offer section by section.
fn validate_answer(offer: &Sdp, answer: &Sdp) -> Result<(), JsepError> {
    if offer.media.len() != answer.media.len() {
        return Err(JsepError::AnswerMismatch(format!(
            "{} m-sections answered, {} offered",
            answer.media.len(),
            offer.media.len()
        )));
    }
    for (o, a) in offer.media.iter().zip(&answer.media) {
        if o.kind != a.kind {
            return Err(JsepError::AnswerMismatch(format!(
                "{} answered as {}",
                o.kind, a.kind
            )));
        }
        // RFC 9143 §7.3.1: a bundled section may be answered on port 0
        // with `a=bundle-only`; it is accepted (see `complete`), so it is
        // checked like any accepted section, except for the transport
        // attributes it takes from the BUNDLE tag.
        if a.is_rejected() {
            continue;
        }
        if a.mid() != o.mid() {
            return Err(JsepError::AnswerMismatch(format!(
                "mid {:?} answered as {:?}",
                o.mid(),
                a.mid()
            )));
        }
        if a.setup() == Some(Setup::ActPass) {
            return Err(JsepError::AnswerMismatch(
                "a=setup:actpass in an answer".into(),
            ));
        }
        check_payload_types_once(a)?;
        check_answer_codecs(o, a)?;
        if a.is_rtp() {
            check_answer_direction(offer, o, answer, a)?;
        }
        if a.port == 0 {
            continue;
        }
        let mid = a.mid().unwrap_or_default();
        validate_credentials(answer, a)?;
        if a.fingerprints().next().is_none() && answer.fingerprints().next().is_none() {
            return Err(JsepError::Invalid(format!(
                "m-section {mid} has no fingerprint"
            )));
        }
    }
    // RFC 9143 §7.3: the answer's BUNDLE group only holds offered, bundled mids.
    let offered: HashSet<&String> = offer.bundle_groups().flat_map(|g| g.mids.iter()).collect();
    for g in answer.bundle_groups() {
        if let Some(mid) = g.mids.iter().find(|m| !offered.contains(m)) {
            return Err(JsepError::AnswerMismatch(format!(
                "mid {mid} bundled but not offered in BUNDLE"
            )));
        }
    }
    check_one_transport(offer, answer)?;
    check_bundle_payload_types(answer)
}

/// RFC 8843 §7.4: a section the answer accepts outside its BUNDLE group
/// (the first one, whose tag carries the transport) is not bundled and
/// would need a transport of its own. ferrtc runs every section over one
/// transport, as the max-bundle policy asks (RFC 8829 §4.1.1), so such an
/// answer is refused, naming the section. Without a BUNDLE group, one
/// section may be accepted (a peer that does not do BUNDLE and rejected
/// the rest).
fn check_one_transport(offer: &Sdp, answer: &Sdp) -> Result<(), JsepError> {
    let group: HashSet<&str> = answer
        .bundle_groups()
        .next()
        .map(|g| g.mids.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let mut accepted = offer
        .media
        .iter()
        .zip(&answer.media)
        .enumerate()
        .filter(|(_, (o, a))| !o.is_rejected() && !a.is_rejected())
        .map(|(i, (_, a))| (i, a.mid().unwrap_or_default()));
    let outside = if group.is_empty() {
        accepted.nth(1)
    } else {
        accepted.find(|(_, mid)| !group.contains(mid))
    };
    match outside {
        Some((i, mid)) => Err(JsepError::AnswerMismatch(format!(
            "m-section {i} (mid {mid}) is accepted outside the BUNDLE group: \
             every section runs over one transport (max-bundle), it cannot have its own"
        ))),
        None => Ok(()),
    }
}

/// Each stream id once, the first occurrence kept (W3C webrtc-pc §5.1
/// `addTrack`, `addTransceiver` and §5.2 `setStreams` add a stream only
/// if it is not there yet): no duplicate `a=msid` lines.
fn dedup_in_order(ids: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
}
