//! Media: the W3C transceiver calls (`addTransceiver`, `addTrack`,
//! `removeTrack`, `getTransceivers`, `direction`, `stop()`), handed to
//! JSEP, which owns the transceivers; the sample writer
//! ([`PeerConnection::write_frame`]); and the slot where the demux (RFC
//! 7983) hands every datagram whose first byte is 128..=191 to the media
//! session (`crate::media`), which unprotects it (SRTP, keyed from the
//! DTLS handshake, RFC 5764 §4.2) and routes it to a receiver by mid, SSRC
//! or payload type (RFC 8843 §9.2).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::FrameBytes;
use ferrtc_jsep::{Codec as RtpCodec, SendEncoding, TransceiverId, TransceiverInit};
use ferrtc_sdp::{Direction, MediaKind};
use rand::Rng;

use super::PeerConnection;
use crate::error::Error;
use crate::media::{MediaError, MediaStats, RtpSource};

/// W3C `RTCRtpTransceiverInit`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCRtpTransceiverInit")]
pub struct RtpTransceiverInit {
    /// `direction` (default `sendrecv`).
    pub direction: Direction,
    /// `streams`: the MediaStream ids of the sender's track (`a=msid`).
    pub streams: Vec<String>,
    /// `sendEncodings`; two or more with rids offer simulcast (RFC 8853):
    /// one RTP stream per agreed rid, written with
    /// [`PeerConnection::write_frame_for`].
    pub send_encodings: Vec<SendEncoding>,
}

impl Default for RtpTransceiverInit {
    fn default() -> Self {
        Self {
            direction: Direction::SendRecv,
            streams: Vec::new(),
            send_encodings: Vec::new(),
        }
    }
}

/// What `addTrack` needs of a W3C `MediaStreamTrack`: its id, its kind and
/// the streams it is added with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "MediaStreamTrack")]
pub struct TrackInfo {
    /// `id`.
    pub id: String,
    /// `kind`: audio or video.
    pub kind: MediaKind,
    /// The ids of the `streams` of `addTrack(track, ...streams)`.
    pub stream_ids: Vec<String>,
}

/// A W3C `RTCRtpTransceiver` as `getTransceivers()` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCRtpTransceiver")]
pub struct TransceiverInfo {
    /// The handle (also the handle of its sender and receiver).
    pub id: TransceiverId,
    /// `mid`, once negotiated.
    pub mid: Option<String>,
    /// Audio or video.
    pub kind: MediaKind,
    /// `direction`.
    pub direction: Direction,
    /// `currentDirection`.
    pub current_direction: Option<Direction>,
    /// `stopped` (or stopping).
    pub stopped: bool,
    /// The id of the sender's track (`sender.track.id`), if any.
    pub sender_track: Option<String>,
    /// The sender's SSRC once it sends (W3C `RTCRtpSender` stats `ssrc`).
    pub sender_ssrc: Option<u32>,
}

impl PeerConnection {
    /// `addTransceiver(kind, init)` (W3C webrtc-pc §5.1): a new transceiver
    /// with JSEP's default codecs and header extensions; fires
    /// `negotiationneeded`. Returns its handle, which also names its
    /// sender and receiver.
    pub fn add_transceiver(
        &mut self,
        kind: MediaKind,
        init: RtpTransceiverInit,
    ) -> Result<TransceiverId, Error> {
        self.check_open()?;
        check_kind(&kind)?;
        let mut t = TransceiverInit::new(kind, init.direction);
        t.stream_ids = init.streams;
        t.send_encodings = init.send_encodings;
        // RFC 3550 §8.1: random SSRCs, announced with a=ssrc (and the RTX
        // one with a=ssrc-group:FID, RFC 4588 §8.3).
        t.ssrc = Some(self.rng.random());
        t.rtx_ssrc = Some(self.rng.random());
        let id = self.jsep.add_transceiver(t);
        self.check_negotiation_needed();
        Ok(id)
    }

    /// `addTrack(track, ...streams)` (W3C webrtc-pc §5.1): reuses a
    /// transceiver of the same kind whose sender never sent and has no
    /// track (one the remote offer created, say), else adds a `sendrecv`
    /// one. Returns the sender's handle (its transceiver's).
    pub fn add_track(&mut self, track: TrackInfo) -> Result<TransceiverId, Error> {
        self.check_open()?;
        check_kind(&track.kind)?;
        if self
            .jsep
            .transceivers()
            .iter()
            .any(|t| !t.is_stopped() && t.init().track_id.as_deref() == Some(track.id.as_str()))
        {
            return Err(Error::InvalidAccess {
                message: format!("track {} already has a sender", track.id),
                source: None,
            });
        }
        let reusable = self.jsep.transceivers().iter().find(|t| {
            t.kind() == &track.kind
                && !t.is_stopped()
                && t.init().track_id.is_none()
                && !matches!(
                    t.current_direction(),
                    Some(Direction::SendRecv | Direction::SendOnly)
                )
        });
        let Some(t) = reusable else {
            let id = self.add_transceiver(
                track.kind,
                RtpTransceiverInit {
                    streams: track.stream_ids.clone(),
                    ..RtpTransceiverInit::default()
                },
            )?;
            self.jsep.set_sender(id, Some(track.id), track.stream_ids)?;
            self.check_negotiation_needed();
            return Ok(id);
        };
        let id = t.id();
        self.jsep
            .reuse_for_add_track(id, track.id, track.stream_ids)?;
        self.check_negotiation_needed();
        Ok(id)
    }

    /// `removeTrack(sender)` (W3C webrtc-pc §5.1): the sender loses its
    /// track and the transceiver stops sending (`sendrecv` becomes
    /// `recvonly`, `sendonly` becomes `inactive`); fires
    /// `negotiationneeded`.
    pub fn remove_track(&mut self, sender: TransceiverId) -> Result<(), Error> {
        self.check_open()?;
        let t = self.transceiver(sender)?;
        if t.init().track_id.is_none() {
            return Ok(());
        }
        let direction = match t.direction() {
            Direction::SendRecv => Direction::RecvOnly,
            Direction::SendOnly => Direction::Inactive,
            d => d,
        };
        self.jsep.set_sender(sender, None, Vec::new())?;
        self.jsep.set_direction(sender, direction)?;
        self.check_negotiation_needed();
        Ok(())
    }

    /// `getTransceivers()`, in creation order.
    pub fn transceivers(&self) -> Vec<TransceiverInfo> {
        self.jsep
            .transceivers()
            .iter()
            .map(|t| TransceiverInfo {
                id: t.id(),
                mid: t.mid().map(str::to_owned),
                kind: t.kind().clone(),
                direction: t.direction(),
                current_direction: t.current_direction(),
                stopped: t.is_stopped(),
                sender_track: t.init().track_id.clone(),
                sender_ssrc: self.media.sender_ssrc(t.id()),
            })
            .collect()
    }

    /// The `direction` setter of a transceiver; fires `negotiationneeded`
    /// when it changes what the next offer says.
    pub fn set_direction(&mut self, id: TransceiverId, direction: Direction) -> Result<(), Error> {
        self.check_open()?;
        if self.transceiver(id)?.is_stopped() {
            return Err(MediaError::Stopped(id).into());
        }
        self.jsep.set_direction(id, direction)?;
        self.check_negotiation_needed();
        Ok(())
    }

    /// `stop()` of a transceiver (W3C webrtc-pc §5.4): it sends and
    /// receives nothing more; its m-section is rejected in the next offer.
    pub fn stop_transceiver(&mut self, id: TransceiverId) -> Result<(), Error> {
        self.check_open()?;
        self.transceiver(id)?;
        self.jsep.stop_transceiver(id)?;
        let remote = self.jsep.remote_sdp();
        self.media.sync(
            &self.config.media,
            self.jsep.transceivers(),
            remote.as_ref(),
            &mut self.rng,
        );
        self.check_negotiation_needed();
        Ok(())
    }

    /// `setCodecPreferences(codecs)` of a transceiver (W3C webrtc-pc
    /// §5.4): its codecs in preference order, each one of
    /// [`codec_capabilities`](Self::codec_capabilities) of its kind (RTX
    /// entries included to keep RTX); an empty list restores the defaults.
    /// A codec listed again is dropped (the first stays); a payload type
    /// given to two different codecs is an `InvalidModificationError`.
    /// Applies to the offer or answer that next negotiates the transceiver
    /// from scratch, an answer listing the codecs it shares with the offer
    /// in the preference order (RFC 8829 §4.2.6). Fails with `InvalidModificationError` on a codec not
    /// in the capabilities, or on a list without a media codec (only RTX,
    /// RED, FEC, comfort noise or telephone events).
    pub fn set_codec_preferences(
        &mut self,
        id: TransceiverId,
        codecs: Vec<RtpCodec>,
    ) -> Result<(), Error> {
        self.check_open()?;
        let kind = self.transceiver(id)?.kind().clone();
        let capabilities = Self::codec_capabilities(&kind);
        if let Some(c) = codecs
            .iter()
            .find(|c| !capabilities.iter().any(|k| k.matches(c)))
        {
            return Err(Error::InvalidModification {
                message: format!("codec {} is not in the {kind} capabilities", c.name),
                source: None,
            });
        }
        // W3C webrtc-pc §5.4 setCodecPreferences: duplicates go, the first
        // of each kept. A payload type is one format of the m-line (RFC
        // 8866 §5.14): one naming two different codecs is refused.
        let mut kept: Vec<RtpCodec> = Vec::with_capacity(codecs.len());
        for c in codecs {
            // The same codec again, under any payload type.
            if kept.iter().any(|k| k.matches(&c) && k.fmtp == c.fmtp) {
                continue;
            }
            match kept.iter().find(|k| k.payload_type == c.payload_type) {
                Some(k) => {
                    return Err(Error::InvalidModification {
                        message: format!(
                            "payload type {} names both {} and {}",
                            c.payload_type, k.name, c.name
                        ),
                        source: None,
                    });
                }
                None => kept.push(c),
            }
        }
        let codecs = kept;
        // ...and a list with nothing but RTX, RED, FEC or comfort noise
        // (telephone events carry no media either) is refused, so there
        // is always a codec to offer.
        if !codecs.is_empty() && !codecs.iter().any(is_media_codec) {
            return Err(Error::InvalidModification {
                message: "codec preferences need a media codec, not only RTX, RED, FEC, \
                          comfort noise or telephone events"
                    .into(),
                source: None,
            });
        }
        self.jsep.set_codec_preferences(id, codecs)?;
        Ok(())
    }

    /// `RTCRtpSender.getCapabilities(kind).codecs`: what JSEP offers for a
    /// kind, with the payload types it offers them with. Every one has a
    /// payloader in `ferrtc-rtp` except G.722.
    pub fn codec_capabilities(kind: &MediaKind) -> Vec<RtpCodec> {
        match kind {
            MediaKind::Audio => ferrtc_jsep::default_audio_codecs(),
            MediaKind::Video => ferrtc_jsep::default_video_codecs(),
            _ => Vec::new(),
        }
    }

    pub(super) fn transceiver(
        &self,
        id: TransceiverId,
    ) -> Result<&ferrtc_jsep::Transceiver, Error> {
        self.jsep
            .transceiver(id)
            .ok_or_else(|| MediaError::UnknownTransceiver(id).into())
    }

    /// Writes one encoded frame on a sender (the sample writer: the
    /// application brings frames from its own encoder). The negotiated
    /// codec's payloader (Opus, G.711, VP8, VP9, H.264 in Annex B, AV1 as
    /// OBUs) cuts it into RTP packets with the mid, abs-send-time and
    /// transport-wide sequence extensions when negotiated; they are queued
    /// for [`poll_transmit`](Self::poll_transmit), which protects each with
    /// SRTP as it leaves; its send history then keeps it for NACKs.
    /// Queued packets and the send history share the frame's media
    /// instead of copying it (see [`FrameBytes`]; AV1, whose OBUs are
    /// rewritten, and H.264 STAP-A packets are copied), so one frame
    /// written on many senders is held once. `duration` (the frame's
    /// length in time) advances the RTP timestamp of the next frame;
    /// `keyframe` is counted in the stats. Returns the frame's RTP
    /// timestamp.
    ///
    /// Fails with an `InvalidStateError` before the transceiver negotiated
    /// a sending direction or before DTLS connected.
    ///
    /// On a simulcast sender (RFC 8853) the frame goes to its first active
    /// layer; [`write_frame_for`](Self::write_frame_for) names the layer.
    pub fn write_frame(
        &mut self,
        now: Instant,
        sender: TransceiverId,
        frame: impl Into<FrameBytes>,
        duration: Duration,
        keyframe: bool,
    ) -> Result<u32, Error> {
        self.write_layer(
            now,
            sender,
            None,
            frame.into().into_bytes(),
            duration,
            keyframe,
        )
    }

    /// Writes one encoded frame on the simulcast layer `rid` of a sender
    /// (RFC 8853: the application encodes each layer itself; ferrtc does
    /// not scale). Each layer has its own SSRC, RTX SSRC, sequence
    /// numbers, RTP clock, send history and sender reports, and its packets
    /// carry the RFC 8852 rid (`repaired-rid` on RTX). A frame for an
    /// inactive layer ([`set_encoding_active`](Self::set_encoding_active))
    /// is not sent. Fails as [`write_frame`](Self::write_frame) does, and
    /// with an `InvalidAccessError` for a rid the exchange did not agree.
    pub fn write_frame_for(
        &mut self,
        now: Instant,
        sender: TransceiverId,
        rid: &str,
        frame: impl Into<FrameBytes>,
        duration: Duration,
        keyframe: bool,
    ) -> Result<u32, Error> {
        self.write_layer(
            now,
            sender,
            Some(rid),
            frame.into().into_bytes(),
            duration,
            keyframe,
        )
    }

    fn write_layer(
        &mut self,
        now: Instant,
        sender: TransceiverId,
        rid: Option<&str>,
        frame: Bytes,
        duration: Duration,
        keyframe: bool,
    ) -> Result<u32, Error> {
        self.check_open()?;
        self.transceiver(sender)?;
        let wall = self.wall_clock(now);
        Ok(self.media.write_frame(
            &self.config.media,
            now,
            wall,
            sender,
            rid,
            frame,
            duration,
            keyframe,
        )?)
    }

    /// W3C `RTCRtpEncodingParameters.active` of the simulcast layer `rid`
    /// of a sender (webrtc-pc §5.2 `setParameters`): an inactive layer
    /// sends nothing (no RTP, no sender report) until it is active again.
    /// Kept across negotiations while the transceiver lives.
    #[doc(alias = "active")]
    pub fn set_encoding_active(
        &mut self,
        sender: TransceiverId,
        rid: &str,
        active: bool,
    ) -> Result<(), Error> {
        self.transceiver(sender)?;
        self.media
            .set_encoding_active(&self.config.media, sender, Some(rid), active);
        Ok(())
    }

    /// W3C `RTCRtpEncodingParameters.active` of a sender's first (or
    /// only) encoding (webrtc-pc §5.2 `setParameters`), as
    /// [`set_encoding_active`](Self::set_encoding_active) is for a
    /// simulcast layer by rid: for a sender without simulcast, or whose
    /// answer refused it (§4.4.1.6 keeps the first encoding). While
    /// inactive its stream sends nothing (no RTP, no sender report),
    /// frames written on it are dropped and its `outbound-rtp` says
    /// `active: false`. Kept across negotiations.
    #[doc(alias = "active")]
    pub fn set_stream_active(&mut self, sender: TransceiverId, active: bool) -> Result<(), Error> {
        let first = self
            .transceiver(sender)?
            .init()
            .send_encodings
            .first()
            .map(|e| e.rid.clone());
        self.media
            .set_encoding_active(&self.config.media, sender, first.as_deref(), active);
        Ok(())
    }

    /// The rids a sender sends, in layer order, as the last exchange
    /// agreed (RFC 8853 §5.3); empty without simulcast.
    pub fn send_rids(&self, sender: TransceiverId) -> Vec<String> {
        self.media.send_rids(sender)
    }

    /// Asks the peer's sender on this transceiver for a keyframe (a PLI, RFC
    /// 4585 §6.3.1, queued for [`poll_transmit`](Self::poll_transmit)),
    /// the way `RTCRtpScriptTransformer.sendKeyFrameRequest()` does (W3C
    /// webrtc-encoded-transform): for a forwarder passing on its viewers'
    /// requests, or a decoder that lost its state. Repeated once per round
    /// trip until a keyframe arrives. Fails with an `InvalidStateError`
    /// before a stream was received or without PLI negotiated.
    /// On a simulcast receiver every layer received is asked.
    pub fn request_keyframe(&mut self, now: Instant, receiver: TransceiverId) -> Result<(), Error> {
        self.check_open()?;
        self.transceiver(receiver)?;
        Ok(self.media.request_keyframe(now, receiver, None)?)
    }

    /// [`request_keyframe`](Self::request_keyframe) for the simulcast
    /// layer `rid` alone (a PLI for its SSRC). An `InvalidStateError`
    /// before that layer was received.
    pub fn request_keyframe_for(
        &mut self,
        now: Instant,
        receiver: TransceiverId,
        rid: &str,
    ) -> Result<(), Error> {
        self.check_open()?;
        self.transceiver(receiver)?;
        Ok(self.media.request_keyframe(now, receiver, Some(rid))?)
    }

    /// Counters of the media session: what was dropped, and why.
    pub fn media_stats(&self) -> MediaStats {
        self.media.stats()
    }

    /// Memory the media session holds for received media: packets in the
    /// jitter buffers and SSRCs bound (both bounded by
    /// [`crate::MediaConfig`]).
    pub fn media_held(&self) -> (usize, usize) {
        (self.media.held_packets(), self.media.bound_ssrcs())
    }

    /// An SRTP or SRTCP datagram from a validated pair (RFC 7983: first
    /// byte 128..=191), unprotected in place; what fails is dropped and
    /// counted ([`MediaStats`]).
    pub(super) fn handle_rtp(&mut self, now: Instant, datagram: &mut [u8]) {
        let wall = self.wall_clock(now);
        if !self
            .media
            .handle_receive(&self.config.media, now, wall, datagram)
        {
            self.stats.dropped_rtp += 1;
        }
    }

    /// The media session's events, in the processing round.
    pub(super) fn process_media(&mut self) -> bool {
        let mut moved = false;
        while let Some(e) = self.media.poll_event() {
            moved = true;
            self.events.push_back(e);
        }
        moved
    }
}

/// Whether `c` carries media itself: not RTX (RFC 4588), RED (RFC 2198),
/// FEC (RFC 5109 ulpfec, flexfec), comfort noise (RFC 3389) or a
/// telephone event (RFC 4733).
fn is_media_codec(c: &RtpCodec) -> bool {
    let name = c.name.to_ascii_lowercase();
    !(c.is_rtx()
        || c.is_telephone_event()
        || matches!(name.as_str(), "red" | "ulpfec" | "cn")
        || name.starts_with("flexfec"))
}

fn check_kind(kind: &MediaKind) -> Result<(), Error> {
    match kind {
        MediaKind::Audio | MediaKind::Video => Ok(()),
        other => Err(MediaError::BadKind(other.to_string()).into()),
    }
}

impl PeerConnection {
    /// The codecs the last completed offer/answer exchange settled for a
    /// transceiver (W3C `RTCRtpParameters.codecs` of its sender and
    /// receiver), in the answer's order: the first that is not RTX is the
    /// one its sender sends with. `None` before the transceiver was
    /// negotiated or for an unknown handle.
    pub fn negotiated_codecs(&self, id: TransceiverId) -> Option<Vec<RtpCodec>> {
        let t = self.jsep.transceiver(id)?;
        Some(t.negotiated()?.codecs.clone())
    }
}

impl PeerConnection {
    /// `replaceTrack(withTrack)` of a sender (W3C webrtc-pc §5.2): the
    /// sender's track becomes `track_id` (`None`: no track) without
    /// renegotiation, so no `negotiationneeded` fires. `addTrack` and
    /// `removeTrack` then see the new track: `addTrack` of it is an
    /// `InvalidAccessError`, `addTrack` of the old one finds no sender and
    /// `removeTrack` of this sender stops its sending. The next offer's
    /// `a=msid` names the new track. An `InvalidStateError` once the
    /// transceiver is stopped.
    pub fn replace_track(
        &mut self,
        sender: TransceiverId,
        track_id: Option<String>,
    ) -> Result<(), Error> {
        self.check_open()?;
        let t = self.transceiver(sender)?;
        if t.is_stopped() {
            return Err(MediaError::Stopped(sender).into());
        }
        let streams = t.init().stream_ids.clone();
        self.jsep.set_sender(sender, track_id, streams)?;
        Ok(())
    }

    /// `setStreams(...streams)` (W3C webrtc-pc §5.2): the media streams a
    /// sender's track is in from the next description on (its `a=msid`,
    /// RFC 8830), the track kept; `negotiationneeded` when they changed.
    /// On a stopped transceiver they are kept and nothing is negotiated;
    /// only a closed connection refuses the call (`InvalidStateError`).
    #[doc(alias = "setStreams")]
    pub fn set_streams(
        &mut self,
        sender: TransceiverId,
        stream_ids: Vec<String>,
    ) -> Result<(), Error> {
        self.check_open()?;
        let t = self.transceiver(sender)?;
        if t.init().stream_ids == stream_ids {
            return Ok(());
        }
        let track = t.init().track_id.clone();
        self.jsep.set_sender(sender, track, stream_ids)?;
        self.check_negotiation_needed();
        Ok(())
    }
}

/// W3C webrtc-pc §5.3.1 `RTCRtpReceiver`: its sources and its
/// `jitterBufferTarget`.
impl PeerConnection {
    /// `getSynchronizationSources()` of a receiver (W3C webrtc-pc §5.3.1):
    /// each SSRC whose media packets it received in the 10 seconds before
    /// `now`, most recent first, with when the last one arrived (wall
    /// clock), its RTP timestamp and, for audio with the RFC 6464
    /// `ssrc-audio-level` extension negotiated, its level. Telephone
    /// events and retransmissions do not count. Empty for a receiver that
    /// received nothing (or does not receive). Fails with an
    /// `InvalidAccessError` for an unknown handle.
    #[doc(alias = "getSynchronizationSources")]
    pub fn synchronization_sources(
        &self,
        now: Instant,
        receiver: TransceiverId,
    ) -> Result<Vec<RtpSource>, Error> {
        self.rtp_sources(now, receiver, false)
    }

    /// `getContributingSources()` of a receiver (W3C webrtc-pc §5.3.1):
    /// each CSRC (RFC 3550 §5.1, the sources a mixer combined) in its media
    /// packets of the 10 seconds before `now`, most recent first, with the
    /// RFC 6465 `csrc-audio-level` level of each when negotiated. At most
    /// 16 are remembered (see `docs/limits.md`).
    #[doc(alias = "getContributingSources")]
    pub fn contributing_sources(
        &self,
        now: Instant,
        receiver: TransceiverId,
    ) -> Result<Vec<RtpSource>, Error> {
        self.rtp_sources(now, receiver, true)
    }

    fn rtp_sources(
        &self,
        now: Instant,
        receiver: TransceiverId,
        contributing: bool,
    ) -> Result<Vec<RtpSource>, Error> {
        self.transceiver(receiver)?;
        let entries = self
            .media
            .sources(now, receiver, contributing)
            .unwrap_or_default();
        Ok(entries
            .into_iter()
            .map(|e| e.to_public(|at| self.wall_clock(at)))
            .collect())
    }

    /// The `jitterBufferTarget` setter of a receiver (W3C webrtc-pc
    /// §5.3.1): `None` (the default) leaves the delay to ferrtc. ferrtc
    /// does not play out; the target is what its jitter buffer does: it
    /// holds each complete frame until `target` after its first packet
    /// arrived, so frames reach [`crate::Event::TrackFrame`] smoothed by at
    /// least that much (a full buffer still releases at once). Kept across
    /// negotiations while the transceiver lives. Fails with a `RangeError`
    /// above 4000 ms, an `InvalidAccessError` for an unknown handle.
    #[doc(alias = "jitterBufferTarget")]
    pub fn set_jitter_buffer_target(
        &mut self,
        now: Instant,
        receiver: TransceiverId,
        target: Option<Duration>,
    ) -> Result<(), Error> {
        self.transceiver(receiver)?;
        self.media
            .set_jitter_buffer_target(&self.config.media, now, receiver, target)?;
        Ok(())
    }

    /// A sender's `maxBitrate` (W3C webrtc-pc §5.2, the sum over its
    /// encodings; `None`: no limit). While every sender has one, the
    /// send-side bandwidth estimate never exceeds their sum.
    #[doc(alias = "maxBitrate")]
    pub fn set_max_bitrate(
        &mut self,
        sender: TransceiverId,
        max: Option<u32>,
    ) -> Result<(), Error> {
        self.transceiver(sender)?;
        self.media.set_max_bitrate(&self.config.media, sender, max);
        Ok(())
    }

    /// W3C `availableOutgoingBitrate` (webrtc-stats, on the selected
    /// candidate pair) in bits per second: the send-side estimate from the
    /// peer's transport-cc feedback, when transport-cc is negotiated.
    #[doc(alias = "availableOutgoingBitrate")]
    pub fn available_outgoing_bitrate(&self) -> Option<u64> {
        self.media.available_outgoing_bitrate()
    }

    /// The `jitterBufferTarget` getter of a receiver (W3C webrtc-pc
    /// §5.3.1): what [`Self::set_jitter_buffer_target`] set.
    pub fn jitter_buffer_target(&self, receiver: TransceiverId) -> Result<Option<Duration>, Error> {
        self.transceiver(receiver)?;
        Ok(self.media.jitter_buffer_target(receiver))
    }
}
