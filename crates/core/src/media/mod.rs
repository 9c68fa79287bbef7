//! The media session of a peer connection: the SRTP contexts, the RTP
//! senders and receivers of its transceivers, the demux of the bundled
//! transport, RTCP, and the queue of protected datagrams waiting for
//! `poll_transmit`.
//!
//! | module | job |
//! |---|---|
//! | `cc` | transport-wide congestion control: feedback on what arrives, the send-side estimate from the peer's feedback |
//! | `srtp` | the two SRTP contexts keyed from DTLS-SRTP (RFC 5764 §4.2), RTP/RTCP told apart (RFC 5761 §4) |
//! | `codec` | JSEP's negotiated codecs and extensions in `ferrtc-rtp` terms |
//! | `sender` | one `RTCRtpSender`: payloading, numbering, extensions, send history, RTX |
//! | `receiver` | one `RTCRtpReceiver`: statistics, NACK, RTX unwrap, jitter buffer (and its `jitterBufferTarget` hold), PLI |
//! | `sources` | a receiver's `getSynchronizationSources()`/`getContributingSources()`: SSRCs and CSRCs of the last 10 s with RFC 6464/6465 levels, bounded |
//! | `demux` | mid, then SSRC, then payload type (RFC 8843 §9.2), a bounded SSRC table |
//! | `rtcp` | reports (RFC 3550 §6.4) and feedback (RFC 4585) in and out |
//! | `stats` | the `getStats()` objects of the RTP streams, their codecs and sources |
//! | `dtmf` | a sender's `RTCDTMFSender` (webrtc-pc §7): RFC 4733 events on the audio clock |
//!
//! JSEP (`ferrtc-jsep`) owns the transceivers; this session only keeps, per
//! transceiver id, the RTP state that JSEP's negotiated parameters call for
//! ([`MediaSession::sync`] after every description).

mod cc;
mod codec;
mod demux;
mod dtmf;
mod error;
mod receiver;
mod rtcp;
mod sender;
mod sources;
mod srtp;
mod stats;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use ferrtc_dtls::SrtpKeys;
use ferrtc_jsep::{Transceiver, TransceiverId};
use ferrtc_rtp::extension::{AUDIO_LEVEL_URI, CSRC_AUDIO_LEVEL_URI};
use ferrtc_rtp::jitter::Frame;
use ferrtc_rtp::repair::HistoryConfig;
use ferrtc_rtp::{PlainPacket, RtpPacket};
use ferrtc_sdp::Direction;
use rand::Rng;

pub use error::MediaError;
pub use receiver::InboundCounters;
pub use sender::OutboundCounters;
pub use sources::RtpSource;

use crate::event::Event;
use cc::TransportCc;
use demux::{SsrcTable, Unroutable};
use dtmf::ToneSender;
use ferrtc_rtp::cc::history::ProbeId;
use ferrtc_rtp::cc::pacer::{Paced as PacedPacket, Pacer, PacerConfig, PacketKind};
use receiver::{MAX_JITTER_BUFFER_TARGET, Receiver};
use sender::{Continuation, MAX_LAYERS, SendKey, Sender, SourceCounters, StreamSeeds};
use sources::{LevelExtensions, SourceEntry};
use srtp::SrtpPair;

/// Limits of the media session (see `docs/limits.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaConfig {
    /// The most remote SSRCs bound to receivers; packets of more new SSRCs
    /// are dropped and counted ([`MediaStats::ssrcs_over_limit`]). Also
    /// bounds the SSRC state of each SRTP context (twice this).
    pub max_ssrcs: usize,
    /// The most datagrams waiting for `poll_transmit`; a
    /// `write_frame` when it is reached fails with an `OperationError`
    /// (one frame's packets may pass it), and retransmissions and reports
    /// past it are dropped and counted.
    pub max_queued_datagrams: usize,
    /// Packets a receiver's jitter buffer holds.
    pub jitter_capacity: usize,
    /// The send history that answers NACKs, per sender.
    pub history_packets: usize,
    /// How long a sent packet stays in the history.
    pub history_age: Duration,
    /// The most retransmissions one NACK packet makes us send.
    pub max_retransmissions_per_nack: usize,
    /// The largest RTP packet before SRTP (payloader MTU, header included).
    pub rtp_mtu: usize,
    /// Time between two RTCP reports (RFC 3550 §6.2; WebRTC senders use
    /// about 1 s); counted as at least 10 ms.
    pub report_interval: Duration,
    /// Pace RTP by the send-side estimate when transport-cc is negotiated
    /// (`ferrtc-rtp`'s pacer: audio first, then retransmissions, then
    /// video, at 2.5 × the estimate in bursts of at most 5 ms; video that
    /// waited 2 s is dropped and counted), and probe clusters are filled
    /// with padding-only RTX packets when media runs short. On by default;
    /// off, packets leave as soon as `poll_transmit` asks and probes are
    /// filled with media only.
    pub pacing: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_ssrcs: 64,
            max_queued_datagrams: 4096,
            jitter_capacity: 2000,
            history_packets: 1024,
            history_age: Duration::from_secs(1),
            max_retransmissions_per_nack: 256,
            rtp_mtu: 1200,
            report_interval: Duration::from_secs(1),
            pacing: true,
        }
    }
}

/// Counters of the media session (what was dropped, and why).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaStats {
    /// SRTP packets that failed to unprotect (bad tag, replay, too short,
    /// before the keys exist).
    pub srtp_failures: u64,
    /// SRTCP packets that failed to unprotect.
    pub srtcp_failures: u64,
    /// Unprotected RTP that does not parse.
    pub malformed_rtp: u64,
    /// Unprotected RTCP that does not parse, whole or after its first
    /// packets (those before the malformed one are taken).
    pub malformed_rtcp: u64,
    /// RTP packets no receiver takes (unknown mid, SSRC and payload type).
    pub unroutable_rtp: u64,
    /// RTP packets dropped because the SSRC table was full.
    pub ssrcs_over_limit: u64,
    /// Datagrams (retransmissions, RTCP) dropped on a full outbound queue.
    pub queue_drops: u64,
    /// Packets SRTP refused to protect.
    pub protect_failures: u64,
    /// NACKed packets not retransmitted because of the per-NACK bound.
    pub nacks_over_limit: u64,
    /// RTP packets the pacer dropped (video that waited too long).
    pub paced_drops: u64,
    /// Padding-only RTX packets sent to fill bandwidth probes.
    pub padding_packets: u64,
}

/// An encoding of a sender: its transceiver and rid (`None`: the one
/// stream of a sender without simulcast).
type EncodingKey = (TransceiverId, Option<String>);

/// The media part of a peer connection.
pub(crate) struct MediaSession {
    config: MediaConfig,
    /// DTLS-SRTP keys, until media first needs the contexts: a connection
    /// that only carries data channels never builds them.
    keys: Option<Box<SrtpKeys>>,
    srtp: Option<Box<SrtpPair>>,
    /// One sender stream per transceiver and layer (simulcast: one per
    /// rid, RFC 8853).
    senders: BTreeMap<SendKey, Sender>,
    receivers: BTreeMap<TransceiverId, Receiver>,
    ssrcs: SsrcTable,
    /// The mid extension's id (one per BUNDLE group, RFC 8843 §9.1).
    mid_ext: Option<ferrtc_rtp::ExtensionId>,
    /// The RFC 8852 rid extension's id (one per BUNDLE group).
    rid_ext: Option<ferrtc_rtp::ExtensionId>,
    /// The RFC 8852 repaired-rid extension's id.
    repaired_rid_ext: Option<ferrtc_rtp::ExtensionId>,
    /// What waits for `poll_transmit` unpaced (RTCP, and RTP without a
    /// pacer).
    outbound: VecDeque<Outbound>,
    /// Packets arrived since the receivers' and congestion control's
    /// feedback was last gathered (`poll_transmit` gathers it).
    feedback_pending: bool,
    events: VecDeque<Event>,
    /// The SSRC our RTCP comes from when we send no media (RFC 3550 §6.4.2).
    local_ssrc: u32,
    /// RFC 7022: a random CNAME per connection.
    cname: String,
    transport_seq: u16,
    /// Transport-wide congestion control, when negotiated.
    /// Boxed: a data-only connection has none, and every connection
    /// would otherwise carry its size.
    cc: Option<Box<TransportCc>>,
    /// W3C `maxBitrate` of the senders that set one, by transceiver.
    /// Boxed: only applications that set a `maxBitrate` have one, and a
    /// box is 8 bytes in every connection where the map is 24.
    #[allow(clippy::box_collection)]
    max_bitrates: Option<Box<BTreeMap<TransceiverId, u32>>>,
    /// Encodings set inactive (W3C `active: false`), by transceiver and
    /// rid (`None`: the one stream of a sender without simulcast), kept
    /// across negotiations. Boxed as `max_bitrates`.
    #[allow(clippy::box_collection)]
    inactive: Option<Box<BTreeSet<EncodingKey>>>,
    /// The pacer (`MediaConfig::pacing` with transport-cc): RTP before SRTP
    /// with its transport-wide sequence number, released by
    /// `poll_transmit`.
    /// Boxed, as `cc`.
    pacer: Option<Box<Pacer<PlainRtp>>>,
    /// The estimate the pacer and the application were last given (see
    /// `follow_estimate`).
    followed: Option<ferrtc_rtp::cc::Bitrate>,
    /// The wall clock at an instant, from the last `handle_timeout`: what
    /// `poll_transmit` (given only `now`) stamps padding's abs-send-time by.
    wall_clock: Option<(Instant, SystemTime)>,
    next_report: Option<Instant>,
    /// Transceivers whose `track` event fired.
    announced: BTreeSet<TransceiverId>,
    rtt: Option<Duration>,
    stats: MediaStats,
    /// Frames out of a receiver's jitter buffers, with their layer.
    frames: Vec<(usize, Frame)>,
    /// The `RTCDTMFSender`s that were used, by transceiver.
    dtmf: BTreeMap<TransceiverId, ToneSender>,
    /// Where the streams of a sender that stopped sending stood, by
    /// transceiver (the first layer first): sending again continues each
    /// layer's stream by rid, and a stream without rid the one on the SSRC
    /// `a=ssrc` announces (only streams without rid use it). The SRTP
    /// state of an SSRC lives on, so
    /// a fresh random sequence number could protect a new packet under an
    /// index already used (RFC 3711 §9.1; with AES-GCM, RFC 7714 §8.3,
    /// that leaks the authentication key). Their counters go on too, and
    /// their stats stay meanwhile (W3C webrtc-stats §5.3: the same RTP
    /// stream). A layer a negotiation drops ends here (§5.3 ends its
    /// stream); the stream without rid on the announced SSRC stays.
    retired: BTreeMap<TransceiverId, Vec<Continuation>>,
    /// What the application wrote per transceiver, on whichever layer
    /// was first when it wrote (W3C webrtc-stats `media-source`): kept
    /// while the transceiver lives, through negotiations that remake or
    /// drop layers, so it never goes back and never counts a frame twice.
    sources: BTreeMap<TransceiverId, SourceCounters>,
    /// W3C `jitterBufferTarget` of the receivers that set one, kept while
    /// the transceiver lives (a receiver made later starts with it).
    jitter_targets: BTreeMap<TransceiverId, Duration>,
}

/// The connection's media session, made when media first needs it: a
/// connection that carries only data channels holds two pointers here,
/// not a session (see the memory figures in the README).
#[derive(Debug, Default)]
pub(crate) struct MediaSlot {
    /// DTLS-SRTP keys and when DTLS connected, while there is no session.
    keys: Option<Box<(Instant, SrtpKeys)>>,
    session: Option<Box<MediaSession>>,
}

impl MediaSlot {
    /// The session, made now if there is none.
    fn session(&mut self, config: &MediaConfig) -> &mut MediaSession {
        let keys = &mut self.keys;
        self.session.get_or_insert_with(|| {
            let mut session = MediaSession::new(config.clone());
            if let Some(k) = keys.take() {
                session.start_srtp(k.0, &k.1);
            }
            Box::new(session)
        })
    }

    /// The session, if media made one.
    pub fn get(&self) -> Option<&MediaSession> {
        self.session.as_deref()
    }

    /// See [`MediaSession::start_srtp`].
    pub fn start_srtp(&mut self, now: Instant, keys: &SrtpKeys) {
        match self.session.as_deref_mut() {
            Some(s) => s.start_srtp(now, keys),
            None => self.keys = Some(Box::new((now, keys.clone()))),
        }
    }

    /// See [`MediaSession::sync`]; makes the session once a transceiver
    /// exists.
    pub fn sync(
        &mut self,
        config: &MediaConfig,
        transceivers: &[Transceiver],
        remote: Option<&ferrtc_sdp::SessionDescription>,
        rng: &mut impl Rng,
    ) {
        if self.session.is_none() && transceivers.is_empty() {
            return;
        }
        self.session(config).sync(transceivers, remote, rng);
    }

    /// See [`MediaSession::write_frame`].
    #[allow(clippy::too_many_arguments)]
    pub fn write_frame(
        &mut self,
        config: &MediaConfig,
        now: Instant,
        wall: SystemTime,
        sender: TransceiverId,
        rid: Option<&str>,
        frame: Bytes,
        duration: Duration,
        keyframe: bool,
    ) -> Result<u32, MediaError> {
        self.session(config)
            .write_frame(now, wall, sender, rid, frame, duration, keyframe)
    }

    /// See [`MediaSession::set_encoding_active`] (makes the session: the
    /// value outlives negotiations).
    pub fn set_encoding_active(
        &mut self,
        config: &MediaConfig,
        t: TransceiverId,
        rid: Option<&str>,
        active: bool,
    ) {
        if active && self.session.is_none() {
            return;
        }
        self.session(config).set_encoding_active(t, rid, active);
    }

    /// See [`MediaSession::send_rids`].
    pub fn send_rids(&self, t: TransceiverId) -> Vec<String> {
        self.get().map(|s| s.send_rids(t)).unwrap_or_default()
    }

    /// See [`MediaSession::insert_dtmf`].
    #[allow(clippy::too_many_arguments)]
    pub fn insert_dtmf(
        &mut self,
        now: Instant,
        wall: SystemTime,
        sender: TransceiverId,
        tones: &str,
        duration_ms: u32,
        inter_tone_gap_ms: u32,
    ) -> Result<(), MediaError> {
        self.session
            .as_deref_mut()
            .ok_or(MediaError::NotSending(
                sender,
                "no negotiated send direction",
            ))?
            .insert_dtmf(now, wall, sender, tones, duration_ms, inter_tone_gap_ms)
    }

    /// See [`MediaSession::can_insert_dtmf`].
    pub fn can_insert_dtmf(&self, sender: TransceiverId) -> bool {
        self.get().is_some_and(|s| s.can_insert_dtmf(sender))
    }

    /// See [`MediaSession::tone_buffer`].
    pub fn tone_buffer(&self, sender: TransceiverId) -> String {
        self.get()
            .map_or_else(String::new, |s| s.tone_buffer(sender).to_owned())
    }

    /// See [`MediaSession::handle_receive`] (an SRTP datagram makes the
    /// session, which counts what it cannot use).
    pub fn handle_receive(
        &mut self,
        config: &MediaConfig,
        now: Instant,
        wall: SystemTime,
        datagram: &mut [u8],
    ) -> bool {
        self.session(config).handle_receive(now, wall, datagram)
    }

    /// See [`MediaSession::poll_transmit`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        self.session
            .as_deref_mut()
            .is_some_and(|m| m.poll_transmit(now, buf))
    }

    /// See [`MediaSession::poll_event`].
    pub fn poll_event(&mut self) -> Option<Event> {
        self.session.as_deref_mut()?.poll_event()
    }

    /// See [`MediaSession::poll_timeout`].
    pub fn poll_timeout(&self, sending: bool) -> Option<Instant> {
        self.get()?.poll_timeout(sending)
    }

    /// See [`MediaSession::request_keyframe`].
    pub fn request_keyframe(
        &mut self,
        now: Instant,
        id: TransceiverId,
        rid: Option<&str>,
    ) -> Result<(), MediaError> {
        match self.session.as_deref_mut() {
            Some(s) => s.request_keyframe(now, id, rid),
            None => Err(MediaError::NotReceiving(id, "no media session")),
        }
    }

    /// See [`MediaSession::sources`].
    pub fn sources(
        &self,
        now: Instant,
        id: TransceiverId,
        contributing: bool,
    ) -> Result<Vec<SourceEntry>, MediaError> {
        match self.get() {
            Some(s) => s.sources(now, id, contributing),
            None => Err(MediaError::NotReceiving(id, "no media session")),
        }
    }

    /// See [`MediaSession::set_jitter_buffer_target`] (makes the session:
    /// the target outlives negotiations).
    pub fn set_jitter_buffer_target(
        &mut self,
        config: &MediaConfig,
        now: Instant,
        id: TransceiverId,
        target: Option<Duration>,
    ) -> Result<(), MediaError> {
        if target.is_none() && self.session.is_none() {
            return Ok(());
        }
        self.session(config)
            .set_jitter_buffer_target(now, id, target)
    }

    /// See [`MediaSession::jitter_buffer_target`].
    pub fn jitter_buffer_target(&self, id: TransceiverId) -> Option<Duration> {
        self.get()?.jitter_buffer_target(id)
    }

    /// See [`MediaSession::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        if let Some(s) = self.session.as_deref_mut() {
            s.handle_timeout(now, wall);
        }
    }

    /// See [`MediaSession::stats`].
    pub fn stats(&self) -> MediaStats {
        self.get().map(MediaSession::stats).unwrap_or_default()
    }

    /// See [`MediaSession::held_packets`].
    pub fn held_packets(&self) -> usize {
        self.get().map_or(0, MediaSession::held_packets)
    }

    /// See [`MediaSession::bound_ssrcs`].
    pub fn bound_ssrcs(&self) -> usize {
        self.get().map_or(0, MediaSession::bound_ssrcs)
    }

    /// See [`MediaSession::sender_ssrc`].
    pub fn sender_ssrc(&self, t: TransceiverId) -> Option<u32> {
        self.get()?.sender_ssrc(t)
    }

    /// See [`MediaSession::set_max_bitrate`] (makes the session: the
    /// value outlives negotiations).
    pub fn set_max_bitrate(&mut self, config: &MediaConfig, t: TransceiverId, max: Option<u32>) {
        if max.is_none() && self.session.is_none() {
            return;
        }
        self.session(config).set_max_bitrate(t, max);
    }

    /// See [`MediaSession::available_outgoing_bitrate`].
    pub fn available_outgoing_bitrate(&self) -> Option<u64> {
        self.get()?.available_outgoing_bitrate()
    }
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSession")
            .field("senders", &self.senders.len())
            .field("receivers", &self.receivers.len())
            .field("queued", &self.outbound.len())
            .finish_non_exhaustive()
    }
}

/// An RTP packet waiting to leave, before SRTP: it is protected into the
/// datagram as it leaves, and then goes to its stream's send history as
/// it is (its media, shared with the frame, is not copied while it waits
/// or is kept).
#[derive(Debug)]
struct PlainRtp {
    plain: PlainPacket,
    /// What it is (a retransmission is already in the history).
    kind: PacketKind,
    /// A retransmission without RTX: the packet exactly as it first left,
    /// its transport-wide number included (an SRTP index must never
    /// protect two different packets, RFC 3711 §9.1; with AES-GCM, RFC
    /// 7714 §8.3, it would leak the key). Decided when it is queued, so
    /// that a sender removed meanwhile changes nothing.
    repeat: bool,
    /// Its transport-wide sequence number, when written before it waits
    /// (unpaced). In the pacer it is numbered as it leaves, so that
    /// numbers follow the sending order even though audio and
    /// retransmissions overtake video.
    transport_seq: Option<u16>,
    /// Where the transport-wide number goes, as its sender wrote it (see
    /// `TransportCc::set_sequence_at`).
    transport_seq_at: Option<(ferrtc_rtp::ExtensionId, usize)>,
}

impl PlainRtp {
    /// `plain` of `kind`, not a repeat, not numbered yet.
    fn new(plain: impl Into<PlainPacket>, kind: PacketKind) -> Self {
        Self {
            plain: plain.into(),
            kind,
            repeat: false,
            transport_seq: None,
            transport_seq_at: None,
        }
    }
}

/// A datagram waiting unpaced for `poll_transmit`.
#[derive(Debug)]
enum Outbound {
    /// SRTCP, protected when queued.
    Rtcp(Vec<u8>),
    /// RTP, protected as it leaves.
    Rtp(PlainRtp),
}

/// The round-trip time assumed until reports measure one.
const DEFAULT_RTT: Duration = Duration::from_millis(100);

/// The padding the pacer asks for at once, in bytes after SRTP: one
/// padding-only packet (255 padding octets at most, RFC 3550 §5.1) with
/// its header extensions and the SRTP tag.
const PADDING_PACKET: usize = 300;

/// The SSRC and sequence number of an RTP packet we wrote (RFC 3550 §5.1
/// fixed header).
fn rtp_stream(plain: &[u8]) -> Option<(u32, u16)> {
    let sequence = plain.get(2..4)?;
    let ssrc = plain.get(8..12)?;
    Some((
        u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]),
        u16::from_be_bytes([sequence[0], sequence[1]]),
    ))
}

impl MediaSession {
    /// A session with no media yet. Its random values (RTCP SSRC, CNAME)
    /// are drawn at the first negotiated media section, so a connection
    /// without media draws nothing from the connection's RNG.
    pub fn new(config: MediaConfig) -> Self {
        let ssrcs = SsrcTable::new(config.max_ssrcs);
        Self {
            config,
            keys: None,
            srtp: None,
            senders: BTreeMap::new(),
            receivers: BTreeMap::new(),
            ssrcs,
            mid_ext: None,
            rid_ext: None,
            repaired_rid_ext: None,
            outbound: VecDeque::new(),
            feedback_pending: false,
            events: VecDeque::new(),
            local_ssrc: 0,
            cname: String::new(),
            transport_seq: 0,
            cc: None,
            max_bitrates: None,
            inactive: None,
            pacer: None,
            followed: None,
            wall_clock: None,
            next_report: None,
            announced: BTreeSet::new(),
            rtt: None,
            stats: MediaStats::default(),
            frames: Vec::new(),
            dtmf: BTreeMap::new(),
            retired: BTreeMap::new(),
            sources: BTreeMap::new(),
            jitter_targets: BTreeMap::new(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> MediaStats {
        self.stats
    }

    fn rtt(&self) -> Duration {
        self.rtt.unwrap_or(DEFAULT_RTT)
    }

    /// DTLS connected with DTLS-SRTP keys (RFC 5764 §4.2): media may flow.
    /// The contexts are built when media first needs them.
    pub fn start_srtp(&mut self, now: Instant, keys: &SrtpKeys) {
        self.keys = Some(Box::new(keys.clone()));
        self.srtp = None;
        self.next_report = Some(now + self.config.report_interval / 2);
    }

    /// Builds the SRTP contexts from the keys if they are not built yet;
    /// whether they exist.
    pub(super) fn ensure_srtp(&mut self) -> bool {
        if self.srtp.is_none()
            && let Some(keys) = self.keys.take()
        {
            match SrtpPair::new(&keys, self.config.max_ssrcs.saturating_mul(2)) {
                Ok(pair) => self.srtp = Some(Box::new(pair)),
                Err(e) => tracing::warn!("SRTP not started: {e}"),
            }
        }
        self.srtp.is_some()
    }

    /// Brings senders and receivers in step with what JSEP negotiated;
    /// fires `track` for receivers the remote description (`remote`, JSEP's
    /// pending or current one) added.
    pub fn sync(
        &mut self,
        transceivers: &[Transceiver],
        remote: Option<&ferrtc_sdp::SessionDescription>,
        rng: &mut impl Rng,
    ) {
        self.announce_tracks(transceivers, remote);
        let mut live = BTreeSet::new();
        for t in transceivers {
            let Some(n) = t.negotiated().filter(|_| !t.is_stopped()) else {
                continue;
            };
            if self.cname.is_empty() {
                self.local_ssrc = rng.random();
                self.cname = format!("{:016x}", rng.random::<u64>());
                self.transport_seq = rng.random();
            }
            if self.mid_ext.is_none() {
                self.mid_ext = codec::extension_id(&n.header_extensions, ferrtc_jsep::EXT_MID);
            }
            if self.rid_ext.is_none() {
                self.rid_ext = codec::extension_id(&n.header_extensions, ferrtc_jsep::EXT_RID);
            }
            if self.repaired_rid_ext.is_none() {
                self.repaired_rid_ext =
                    codec::extension_id(&n.header_extensions, ferrtc_jsep::EXT_REPAIRED_RID);
            }
            let sends = matches!(n.direction, Direction::SendRecv | Direction::SendOnly);
            let receives = matches!(n.direction, Direction::SendRecv | Direction::RecvOnly);
            // RFC 8853 §5.3: one stream per agreed rid, in the answer's
            // order; one stream without rid when simulcast is not agreed.
            let rids: Vec<Option<String>> = if n.send_rids.is_empty() {
                vec![None]
            } else {
                n.send_rids
                    .iter()
                    .take(MAX_LAYERS)
                    .map(|r| Some(r.clone()))
                    .collect()
            };
            let current: Vec<Option<String>> =
                self.layers(t.id()).map(|(_, s)| s.rid.clone()).collect();
            let first_rid = t.init().send_encodings.first().map(|e| e.rid.clone());
            if sends && current != rids {
                let announced = t.init().ssrc;
                self.retire_senders(t.id());
                for (i, rid) in rids.iter().cloned().enumerate() {
                    // A layer that sent before continues where it stood;
                    // a stream without rid keeps the SSRCs `a=ssrc`
                    // announces (none are announced with rids, RFC 8853
                    // §5.1), so every simulcast layer, the first too, has
                    // SSRCs of its own that end with it.
                    let plain = i == 0 && rid.is_none();
                    let continued =
                        self.take_retired(t.id(), rid.as_deref(), announced.filter(|_| plain));
                    let seeds = continued.as_ref().map(|c| c.seeds).unwrap_or_else(|| {
                        let ssrc = t
                            .init()
                            .ssrc
                            .filter(|_| plain)
                            .unwrap_or_else(|| rng.random());
                        let rtx_ssrc = t
                            .init()
                            .rtx_ssrc
                            .filter(|_| plain)
                            .unwrap_or_else(|| rng.random());
                        StreamSeeds::fresh(ssrc, rtx_ssrc, rng)
                    });
                    let history = HistoryConfig {
                        max_packets: self.config.history_packets,
                        max_age: self.config.history_age,
                    };
                    match Sender::new(n, seeds, history, rid) {
                        Ok(mut s) => {
                            if let Some(c) = continued {
                                s.resume(c);
                            }
                            if s.rid.is_none() {
                                s.encoding = first_rid.clone();
                            }
                            s.active = !self.is_inactive(t.id(), s.encoding.as_deref());
                            self.senders.insert((t.id(), i as u8), s);
                        }
                        Err(e) => {
                            tracing::debug!("mid {}: no sender: {e}", n.mid);
                            // Kept for a later negotiation that can send.
                            if let Some(c) = continued {
                                self.retired.entry(t.id()).or_default().insert(0, c);
                            }
                            break;
                        }
                    }
                }
                // W3C webrtc-stats §5.3: a layer the negotiation dropped
                // ends its RTP stream; the stream without rid on the
                // announced SSRC stays for its numbering (a later stream
                // without rid takes that SSRC again).
                if let Some(kept) = self.retired.get_mut(&t.id()) {
                    kept.retain(|c| {
                        rids.contains(&c.rid)
                            || (c.rid.is_none() && Some(c.seeds.ssrc) == announced)
                    });
                }
            } else if !sends {
                self.retire_senders(t.id());
            }
            let te = |rate| codec::telephone_event_for(&n.codecs, rate);
            for (_, s) in self.layers_mut(t.id()) {
                s.telephone_event = te(s.codec.clock_rate);
            }
            if receives {
                live.insert(t.id());
                let codecs = codec::negotiated(&n.codecs);
                let events = codec::telephone_events(&n.codecs);
                let levels = LevelExtensions {
                    ssrc: codec::extension_id(&n.header_extensions, AUDIO_LEVEL_URI),
                    csrc: codec::extension_id(&n.header_extensions, CSRC_AUDIO_LEVEL_URI),
                };
                let target = self.jitter_targets.get(&t.id()).copied();
                let r = self.receivers.entry(t.id()).or_insert_with(|| {
                    let mut r = Receiver::new(
                        n.mid.clone(),
                        Vec::new(),
                        Vec::new(),
                        self.config.jitter_capacity,
                    );
                    r.set_jitter_buffer_target(target);
                    r
                });
                r.set_codecs(codecs, events);
                r.set_level_extensions(levels);
                self.set_receive_rids(t.id(), n.recv_rids.iter().take(MAX_LAYERS).cloned());
            }
        }
        self.receivers.retain(|t, _| live.contains(t));
        self.ssrcs.retain(|t| live.contains(&t));
        let alive: BTreeSet<_> = transceivers
            .iter()
            .filter(|t| !t.is_stopped())
            .map(|t| t.id())
            .collect();
        self.senders.retain(|(t, _), _| alive.contains(t));
        if let Some(set) = self.inactive.as_deref_mut() {
            set.retain(|(t, _)| alive.contains(t));
        }
        self.jitter_targets.retain(|t, _| alive.contains(t));
        self.retired
            .retain(|t, kept| alive.contains(t) && !kept.is_empty());
        self.sources.retain(|t, _| alive.contains(t));
        // W3C webrtc-pc §7.2 canInsertDTMF follows the sender: a playout
        // task that runs while it is false stops playout.
        self.dtmf.retain(|t, _| alive.contains(t));
        for (t, d) in self.dtmf.iter_mut() {
            let can = self
                .senders
                .get(&(*t, 0))
                .is_some_and(|s| s.telephone_event.is_some());
            d.engine.set_can_insert_dtmf(can);
        }
        self.sync_cc(transceivers);
    }

    /// Drops the senders of `t`, keeping where each of its streams stood
    /// (see `retired`), in layer order ahead of those kept before.
    fn retire_senders(&mut self, t: TransceiverId) {
        let layers: Vec<Continuation> = self.layers(t).map(|(_, s)| s.continuation()).collect();
        if layers.is_empty() {
            return;
        }
        self.retired.entry(t).or_default().splice(0..0, layers);
        self.senders.retain(|(id, _), _| *id != t);
    }

    /// The retired stream of `t` a layer sending `rid` continues: the one
    /// of that rid, else the one on the SSRC `announced` (given for a
    /// stream without rid, which takes that SSRC again).
    fn take_retired(
        &mut self,
        t: TransceiverId,
        rid: Option<&str>,
        announced: Option<u32>,
    ) -> Option<Continuation> {
        let kept = self.retired.get_mut(&t)?;
        let i = kept
            .iter()
            .position(|c| c.rid.as_deref() == rid)
            .or_else(|| kept.iter().position(|c| Some(c.seeds.ssrc) == announced))?;
        Some(kept.remove(i))
    }

    /// The sender streams of transceiver `t`, in layer order.
    fn layers(&self, t: TransceiverId) -> impl Iterator<Item = (&SendKey, &Sender)> {
        self.senders.range((t, 0)..=(t, u8::MAX))
    }

    fn layers_mut(&mut self, t: TransceiverId) -> impl Iterator<Item = (&SendKey, &mut Sender)> {
        self.senders.range_mut((t, 0)..=(t, u8::MAX))
    }

    /// Whether the application set the encoding `rid` of `t` inactive.
    fn is_inactive(&self, t: TransceiverId, rid: Option<&str>) -> bool {
        let Some(set) = self.inactive.as_deref() else {
            return false;
        };
        set.contains(&(t, rid.map(str::to_owned)))
    }

    /// W3C `RTCRtpEncodingParameters.active` of the encoding `rid` of `t`
    /// (`None`: an encoding without rid), kept across negotiations: the
    /// stream carrying it ([`Sender::encoding`]: its layer, or the one
    /// stream when simulcast is not agreed) sends nothing, no RTP and no
    /// sender report; frames written on it are dropped.
    pub fn set_encoding_active(&mut self, t: TransceiverId, rid: Option<&str>, active: bool) {
        let key = (t, rid.map(str::to_owned));
        if active {
            if let Some(set) = self.inactive.as_deref_mut() {
                set.remove(&key);
            }
        } else {
            self.inactive.get_or_insert_with(Box::default).insert(key);
        }
        for (_, s) in self.layers_mut(t) {
            if s.encoding.as_deref() == rid {
                s.active = active;
            }
        }
    }

    /// The sender stream a frame for `rid` goes to: the layer of that rid,
    /// or without one the first active layer (the first when none is).
    fn send_key(&self, t: TransceiverId, rid: Option<&str>) -> Result<SendKey, MediaError> {
        let mut layers = self.layers(t).peekable();
        let first = *layers
            .peek()
            .ok_or(MediaError::NotSending(t, "no negotiated send direction"))?
            .0;
        match rid {
            Some(rid) => layers
                .find(|(_, s)| s.rid.as_deref() == Some(rid))
                .map(|(k, _)| *k)
                .ok_or_else(|| MediaError::UnknownRid(t, rid.to_owned())),
            None => Ok(layers.find(|(_, s)| s.active).map_or(first, |(k, _)| *k)),
        }
    }

    /// The rids `t` sends, in layer order (empty without simulcast).
    pub fn send_rids(&self, t: TransceiverId) -> Vec<String> {
        self.layers(t).filter_map(|(_, s)| s.rid.clone()).collect()
    }

    /// Transport-wide congestion control is on while some live m-section
    /// negotiated the transport-cc extension and `a=rtcp-fb` `transport-cc`
    /// on one of its codecs (the extension id is one per BUNDLE group).
    fn sync_cc(&mut self, transceivers: &[Transceiver]) {
        let ext = transceivers
            .iter()
            .filter(|t| !t.is_stopped())
            .filter_map(|t| t.negotiated())
            .filter(|n| {
                n.codecs
                    .iter()
                    .any(|c| c.feedback.iter().any(|f| f.kind == "transport-cc"))
            })
            .find_map(|n| codec::extension_id(&n.header_extensions, ferrtc_jsep::EXT_TWCC));
        match (ext, self.cc.as_mut()) {
            (None, _) => {
                self.cc = None;
                // A later estimator starts anew: whatever it says is news.
                self.followed = None;
            }
            (Some(id), Some(cc)) if cc.ext() != id => cc.set_ext(id),
            (Some(_), Some(_)) => {}
            (Some(id), None) => self.cc = Some(Box::new(TransportCc::new(id))),
        }
        match (&self.cc, self.config.pacing) {
            (Some(cc), true) if self.pacer.is_none() => {
                let config = PacerConfig {
                    max_padding: PADDING_PACKET,
                    ..PacerConfig::default()
                };
                self.pacer = Some(Box::new(Pacer::new(
                    config,
                    cc.available_outgoing_bitrate(),
                )));
                if let Some(cc) = self.cc.as_mut() {
                    cc.set_paced();
                }
            }
            (Some(_), true) => {}
            // What waits is sent unpaced.
            _ => {
                // (No transport-cc any more: nothing to number.)
                if let Some(mut p) = self.pacer.take() {
                    self.outbound
                        .extend(p.drain().into_iter().map(Outbound::Rtp));
                }
            }
        }
        let alive: BTreeSet<_> = transceivers
            .iter()
            .filter(|t| !t.is_stopped())
            .map(|t| t.id())
            .collect();
        if let Some(m) = self.max_bitrates.as_deref_mut() {
            m.retain(|t, _| alive.contains(t));
        }
        self.apply_max_bitrate();
    }

    /// The sum of the senders' `maxBitrate` caps the estimate while every
    /// sender has one.
    fn apply_max_bitrate(&mut self) {
        let empty = BTreeMap::new();
        let max_bitrates = self.max_bitrates.as_deref().unwrap_or(&empty);
        let capped = !self.senders.is_empty()
            && self
                .senders
                .keys()
                .all(|(t, _)| max_bitrates.contains_key(t));
        let max = capped.then(|| {
            let sum: u64 = max_bitrates
                .iter()
                .filter(|(t, _)| self.senders.contains_key(&(**t, 0)))
                .map(|(_, &m)| u64::from(m))
                .sum();
            ferrtc_rtp::cc::Bitrate::bps(sum)
        });
        if let Some(cc) = self.cc.as_mut() {
            cc.set_max(max);
        }
    }

    /// W3C `availableOutgoingBitrate` of the candidate pair: the send-side
    /// estimate, when transport-cc is negotiated.
    pub fn available_outgoing_bitrate(&self) -> Option<u64> {
        self.cc
            .as_ref()
            .map(|c| c.available_outgoing_bitrate().as_bps())
    }

    /// A sender's W3C `maxBitrate` (the sum over the senders caps the
    /// estimate while every sender has one).
    pub fn set_max_bitrate(&mut self, sender: TransceiverId, max: Option<u32>) {
        match max {
            Some(m) => {
                self.max_bitrates
                    .get_or_insert_with(Box::default)
                    .insert(sender, m);
            }
            None => {
                if let Some(map) = self.max_bitrates.as_deref_mut() {
                    map.remove(&sender);
                }
            }
        }
        self.apply_max_bitrate();
        self.announce_bitrate();
    }

    /// W3C webrtc-pc §4.4.1.6 "process the addition of a remote track":
    /// when a remote description's m-section for a transceiver says the
    /// peer sends (`sendrecv`/`sendonly`), its receiver's track gets a
    /// `track` event, once, with the streams of `a=msid` (RFC 8830 §2).
    fn announce_tracks(
        &mut self,
        transceivers: &[Transceiver],
        remote: Option<&ferrtc_sdp::SessionDescription>,
    ) {
        // A transceiver gone, or without a mid again (a rollback kept it,
        // §4.4.1.6), is announced anew when a description matches it.
        let with_mid: BTreeSet<TransceiverId> = transceivers
            .iter()
            .filter(|t| t.mid().is_some())
            .map(|t| t.id())
            .collect();
        self.announced.retain(|id| with_mid.contains(id));
        let Some(remote) = remote else {
            return;
        };
        // The first section in use of each mid, found once for all the
        // transceivers (not by a search per transceiver).
        let mut by_mid: HashMap<&str, &ferrtc_sdp::MediaDescription> = HashMap::new();
        for m in remote.media.iter().filter(|m| !m.is_rejected()) {
            if let Some(mid) = m.mid() {
                by_mid.entry(mid).or_insert(m);
            }
        }
        for t in transceivers.iter().filter(|t| !t.is_stopped()) {
            let Some(mid) = t.mid() else {
                continue;
            };
            let Some(m) = by_mid.get(mid).copied() else {
                continue;
            };
            if !matches!(
                remote.direction_of(m),
                Direction::SendRecv | Direction::SendOnly
            ) || !self.announced.insert(t.id())
            {
                continue;
            }
            let msid = m.msids().next();
            let stream_ids = msid
                .map(|m| m.stream_id.clone())
                .filter(|s| s != "-")
                .into_iter()
                .collect();
            self.events.push_back(Event::Track {
                transceiver: t.id(),
                mid: mid.to_owned(),
                stream_ids,
                track_id: msid.and_then(|m| m.track_id.clone()),
            });
        }
    }

    /// Asks the sender of what `id` receives for a keyframe now (a PLI goes
    /// out with this call's feedback), as when a frame cannot be decoded:
    /// a forwarder passes a viewer's request up this way.
    /// With `rid`, only that simulcast layer is asked; without, every
    /// layer received.
    pub fn request_keyframe(
        &mut self,
        now: Instant,
        id: TransceiverId,
        rid: Option<&str>,
    ) -> Result<(), MediaError> {
        let r = self
            .receivers
            .get_mut(&id)
            .ok_or(MediaError::NotReceiving(id, "it does not receive"))?;
        r.request_keyframe(rid)
            .map_err(|why| MediaError::NotReceiving(id, why))?;
        self.flush_feedback(now);
        Ok(())
    }

    /// The SSRCs (or, `contributing`, the CSRCs) `id`'s receiver heard from
    /// in the last 10 seconds, most recent first (W3C webrtc-pc §5.3.1).
    pub fn sources(
        &self,
        now: Instant,
        id: TransceiverId,
        contributing: bool,
    ) -> Result<Vec<SourceEntry>, MediaError> {
        let r = self
            .receivers
            .get(&id)
            .ok_or(MediaError::NotReceiving(id, "it does not receive"))?;
        Ok(if contributing {
            r.contributing_sources(now)
        } else {
            r.synchronization_sources(now)
        })
    }

    /// W3C webrtc-pc §5.3.1 `jitterBufferTarget` of `id`'s receiver: a
    /// `RangeError` above 4000 ms; frames a shorter target no longer holds
    /// leave now.
    pub fn set_jitter_buffer_target(
        &mut self,
        now: Instant,
        id: TransceiverId,
        target: Option<Duration>,
    ) -> Result<(), MediaError> {
        if let Some(t) = target.filter(|t| *t > MAX_JITTER_BUFFER_TARGET) {
            return Err(MediaError::JitterBufferTarget(t));
        }
        match target {
            Some(t) => self.jitter_targets.insert(id, t),
            None => self.jitter_targets.remove(&id),
        };
        if let Some(r) = self.receivers.get_mut(&id) {
            r.set_jitter_buffer_target(target);
            r.handle_timeout(now, &mut self.frames);
            self.emit_frames(id);
        }
        Ok(())
    }

    /// The `jitterBufferTarget` of `id`'s receiver, if one was set.
    pub fn jitter_buffer_target(&self, id: TransceiverId) -> Option<Duration> {
        self.jitter_targets.get(&id).copied()
    }

    /// Writes one encoded frame on `sender` (see
    /// [`crate::PeerConnection::write_frame`]), on its simulcast layer
    /// `rid` or, without, its first active layer; returns its RTP
    /// timestamp. A frame for an inactive layer is not sent (its clock
    /// moves on).
    #[allow(clippy::too_many_arguments)]
    pub fn write_frame(
        &mut self,
        now: Instant,
        wall: SystemTime,
        sender: TransceiverId,
        rid: Option<&str>,
        frame: Bytes,
        duration: Duration,
        keyframe: bool,
    ) -> Result<u32, MediaError> {
        self.drive_dtmf(now, wall);
        self.ensure_srtp();
        let key = self.send_key(sender, rid)?;
        let timestamp = self.write_frame_on(now, wall, key, frame, duration, keyframe)?;
        // W3C webrtc-stats `RTCMediaSourceStats`: a frame of the track,
        // counted once on its first layer (the other layers carry the
        // same frames), whichever layer is first now.
        if key.1 == 0 {
            self.sources.entry(sender).or_default().count(duration);
        }
        Ok(timestamp)
    }

    /// [`Self::write_frame`] on the layer `key`: `Ok` once the frame
    /// moved the layer's clock on (sent, or muted).
    fn write_frame_on(
        &mut self,
        now: Instant,
        wall: SystemTime,
        key: SendKey,
        frame: Bytes,
        duration: Duration,
        keyframe: bool,
    ) -> Result<u32, MediaError> {
        let sender = key.0;
        let srtp = self
            .srtp
            .as_deref_mut()
            .ok_or(MediaError::NotSending(sender, "SRTP is not keyed yet"))?;
        let s = self.senders.get_mut(&key).ok_or(MediaError::NotSending(
            sender,
            "no negotiated send direction",
        ))?;
        if !s.active {
            return Ok(s.mute_frame(duration));
        }
        if self
            .dtmf
            .get(&sender)
            .is_some_and(|d| d.engine.is_playing_tone())
        {
            // The tone replaces the audio (see `dtmf`): the frame is not
            // sent, the RTP clock moves on.
            return Ok(s.mute_frame(duration));
        }
        // Checked before the sender numbers anything, so a refused frame
        // leaves no gap: the queue may pass its bound by one frame.
        let queued = self.outbound.len() + self.pacer.as_deref().map_or(0, Pacer::queued_packets);
        if queued >= self.config.max_queued_datagrams {
            return Err(MediaError::QueueFull {
                limit: self.config.max_queued_datagrams,
            });
        }
        let mtu = self.config.rtp_mtu;
        // Paced packets are numbered as they leave (`send_paced`): the
        // numbers written now are placeholders then.
        let mut numbers = self.transport_seq;
        let (packets, timestamp) =
            s.packetize(now, wall, mtu, &frame, duration, keyframe, &mut numbers)?;
        let kind = if s.codec.codec.is_video() {
            PacketKind::Video
        } else {
            PacketKind::Audio
        };
        if let Some(pacer) = self.pacer.as_mut() {
            let overhead = srtp.rtp_overhead();
            for p in packets {
                let size = p.bytes.len() + overhead;
                let item = PlainRtp {
                    transport_seq_at: p.transport_seq_at,
                    ..PlainRtp::new(p.bytes, kind)
                };
                pacer.push(now, kind, size, item);
            }
            return Ok(timestamp);
        }
        self.transport_seq = numbers;
        // The sender knows each packet's transport-wide number when it
        // writes the extension congestion control reads; else it is read
        // back from the packet.
        let cc_ext = self.cc.as_deref().map(TransportCc::ext);
        let numbered = cc_ext.is_some() && cc_ext == s.transport_cc_ext();
        for p in packets {
            let transport_seq = match (&self.cc, numbered) {
                (None, _) => None,
                (Some(_), true) => p.transport_seq,
                (Some(cc), false) => cc.sequence_of(p.bytes.head()),
            };
            self.outbound.push_back(Outbound::Rtp(PlainRtp {
                transport_seq,
                ..PlainRtp::new(p.bytes, kind)
            }));
        }
        Ok(timestamp)
    }

    /// An SRTP or SRTCP datagram (RFC 7983: first byte 128..=191),
    /// unprotected in place. Returns whether it was taken (false: dropped
    /// and counted in [`MediaStats`]). The feedback it calls for (NACK,
    /// PLI, transport-cc) is gathered at the next
    /// [`poll_transmit`](Self::poll_transmit), once for a burst.
    pub fn handle_receive(&mut self, now: Instant, wall: SystemTime, datagram: &mut [u8]) -> bool {
        let before = self.dropped();
        let rtcp = srtp::is_rtcp(datagram);
        self.ensure_srtp();
        let Some(srtp) = self.srtp.as_deref_mut() else {
            if rtcp {
                self.stats.srtcp_failures += 1;
            } else {
                self.stats.srtp_failures += 1;
            }
            return false;
        };
        if rtcp {
            match srtp.rx.unprotect_rtcp(datagram) {
                Ok(len) => self.handle_rtcp(now, wall, &datagram[..len]),
                Err(e) => {
                    tracing::trace!("SRTCP dropped: {e}");
                    self.stats.srtcp_failures += 1;
                }
            }
        } else {
            match srtp.rx.unprotect_rtp(datagram) {
                Ok(len) => self.handle_rtp(now, &datagram[..len]),
                Err(e) => {
                    tracing::trace!("SRTP dropped: {e}");
                    self.stats.srtp_failures += 1;
                }
            }
        }
        // The feedback this datagram calls for is gathered once for the
        // whole burst, at the next `poll_transmit`.
        self.feedback_pending = true;
        self.maybe_report(now, wall, self.config.report_interval / 4);
        self.dropped() == before
    }

    /// Datagrams dropped on the way in, all reasons.
    fn dropped(&self) -> u64 {
        let s = &self.stats;
        s.srtp_failures
            + s.srtcp_failures
            + s.malformed_rtp
            + s.malformed_rtcp
            + s.unroutable_rtp
            + s.ssrcs_over_limit
    }

    fn handle_rtp(&mut self, now: Instant, data: &[u8]) {
        let Ok(packet) = RtpPacket::parse(data) else {
            self.stats.malformed_rtp += 1;
            return;
        };
        if let Some(cc) = self.cc.as_mut() {
            cc.on_received(now, &packet);
        }
        let ext = |id: Option<ferrtc_rtp::ExtensionId>| id.and_then(|id| packet.extensions.get(id));
        let names = demux::StreamNames {
            mid: ext(self.mid_ext),
            rid: ext(self.rid_ext),
            repaired_rid: ext(self.repaired_rid_ext),
        };
        let before = self.ssrcs.get(packet.ssrc);
        let (t, layer) = match self.ssrcs.route(
            &self.receivers,
            names,
            packet.ssrc,
            packet.payload_type.get(),
        ) {
            Ok(t) => t,
            Err(Unroutable::Unknown) => {
                self.stats.unroutable_rtp += 1;
                return;
            }
            Err(Unroutable::TooManySsrcs) => {
                self.stats.ssrcs_over_limit += 1;
                return;
            }
        };
        // RFC 8852 §3: an SSRC that names another layer (or receiver)
        // leaves its old layer, which stops reporting on it.
        if let Some((bt, Some(bl))) = before
            && before != Some((t, layer))
            && let Some(old) = self.receivers.get_mut(&bt)
        {
            old.forget_stream(bl, packet.ssrc);
        }
        let Some(r) = self.receivers.get_mut(&t) else {
            self.stats.unroutable_rtp += 1;
            return;
        };
        // RFC 8843 §9.2: a simulcast stream not yet bound to a rid cannot
        // be told apart from the others.
        let Some(layer) = layer.or_else(|| r.single_layer()) else {
            self.stats.unroutable_rtp += 1;
            return;
        };
        if layer >= r.layers().len() {
            self.stats.unroutable_rtp += 1;
            return;
        }
        r.receive(
            now,
            &packet,
            data.len(),
            layer,
            self.local_ssrc,
            &mut self.frames,
        );
        self.emit_frames(t);
        self.emit_tones(t);
    }

    /// The rids receiver `t` agreed to receive (RFC 8853 §5.3): when they
    /// change, the SSRCs bound to its layers follow their rids, and those
    /// whose rid is gone are forgotten (no stale layer index).
    fn set_receive_rids(&mut self, t: TransceiverId, rids: impl Iterator<Item = String>) {
        let Some(r) = self.receivers.get_mut(&t) else {
            return;
        };
        if let Some(moved) = r.set_rids(rids.collect()) {
            self.ssrcs.remap(t, &moved);
        }
    }

    /// The DTMF tones a receiver got (RFC 4733 §2.5.2), as events.
    fn emit_tones(&mut self, t: TransceiverId) {
        let Some(r) = self.receivers.get_mut(&t) else {
            return;
        };
        while let Some(tone) = r.poll_tone() {
            self.events.push_back(Event::DtmfReceived {
                transceiver: t,
                tone,
            });
        }
    }

    /// W3C `canInsertDTMF` as far as the media session knows: the
    /// transceiver has a sender, negotiated a telephone-event format at
    /// its codec's clock rate, its first encoding is active (webrtc-pc
    /// §7.2 "determine if DTMF can be sent", step 7), and DTLS keyed SRTP
    /// (tones inserted before would be played to nobody).
    pub fn can_insert_dtmf(&self, t: TransceiverId) -> bool {
        (self.srtp.is_some() || self.keys.is_some())
            && self
                .senders
                .get(&(t, 0))
                .is_some_and(|s| s.active && s.telephone_event.is_some())
    }

    /// The W3C `toneBuffer` of a sender: empty until `insert_dtmf`.
    pub fn tone_buffer(&self, t: TransceiverId) -> &str {
        self.dtmf.get(&t).map_or("", |d| d.engine.tone_buffer())
    }

    /// W3C webrtc-pc §7.2 `insertDTMF` after the connection's state checks:
    /// replaces the tone buffer (the engine checks the characters and
    /// clamps the durations) and runs what is due now, so the first
    /// `tonechange` and packet leave with this call.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_dtmf(
        &mut self,
        now: Instant,
        wall: SystemTime,
        t: TransceiverId,
        tones: &str,
        duration_ms: u32,
        inter_tone_gap_ms: u32,
    ) -> Result<(), MediaError> {
        let rate = self
            .senders
            .get(&(t, 0))
            .and_then(|s| s.telephone_event)
            .map(|e| e.clock_rate)
            .ok_or(MediaError::NotSending(t, "no telephone-event negotiated"))?;
        let d = self
            .dtmf
            .entry(t)
            .or_insert_with(|| ToneSender::new(rate, now));
        if d.clock_rate() != rate && !d.engine.is_playing_tone() {
            // A renegotiated audio codec with another clock rate.
            *d = ToneSender::new(rate, now);
        }
        d.engine.set_can_insert_dtmf(true);
        d.engine
            .insert_dtmf(tones, duration_ms, inter_tone_gap_ms)
            .map_err(MediaError::Dtmf)?;
        self.drive_dtmf(now, wall);
        Ok(())
    }

    /// Runs the DTMF senders up to `now`: their RFC 4733 packets are
    /// numbered on their audio stream and queued; their
    /// `tonechange`s become events.
    fn drive_dtmf(&mut self, now: Instant, wall: SystemTime) {
        if self.dtmf.is_empty() {
            return;
        }
        let mut packets = Vec::new();
        // As in `write_frame`: paced packets are numbered as they leave.
        let mut numbers = self.transport_seq;
        for (t, d) in self.dtmf.iter_mut() {
            d.engine.handle_timeout(now);
            // Audio has no simulcast: the first layer carries the tones.
            let mut sender = self.senders.get_mut(&(*t, 0));
            loop {
                let clock = sender.as_ref().map_or(0, |s| s.next_timestamp());
                let Some((p, timestamp)) = d.poll_packet(now, clock) else {
                    break;
                };
                // A sender that stopped sending mid-tone: its packets go
                // nowhere.
                let Some(s) = sender.as_deref_mut() else {
                    continue;
                };
                let Some(te) = s.telephone_event else {
                    continue;
                };
                // RFC 4733 §2.3.5: the duration counts from the timestamp.
                let end = timestamp.wrapping_add(u32::from(p.event.duration));
                // W3C webrtc-pc §5.2 `active`: an inactive encoding sends
                // no RTP, telephone events included; its clock still moves
                // past the event, as a muted frame's would.
                if !s.active {
                    if p.is_end {
                        s.advance_timestamp_to(end);
                    }
                    continue;
                }
                match s.event_packet(
                    now,
                    wall,
                    te.payload_type,
                    timestamp,
                    &p.payload,
                    p.marker,
                    end,
                    &mut numbers,
                ) {
                    Ok(bytes) => packets.push(bytes),
                    Err(e) => tracing::debug!("telephone event not sent: {e}"),
                }
                if p.is_end {
                    s.advance_timestamp_to(end);
                }
            }
            while let Some(change) = d.engine.poll_event() {
                self.events.push_back(Event::DtmfToneChange {
                    transceiver: *t,
                    tone: change.tone,
                });
            }
        }
        if self.pacer.is_none() {
            self.transport_seq = numbers;
        }
        for p in packets {
            self.queue(now, p, Some(PacketKind::Audio));
        }
    }

    fn emit_frames(&mut self, t: TransceiverId) {
        let Some(r) = self.receivers.get(&t) else {
            self.frames.clear();
            return;
        };
        for (layer, f) in self.frames.drain(..) {
            self.events.push_back(Event::TrackFrame {
                transceiver: t,
                mid: r.mid.clone(),
                rid: r.rid(layer).map(str::to_owned),
                frame: f.data,
                rtp_timestamp: f.timestamp,
                keyframe: f.keyframe,
            });
        }
    }

    /// Queues an RTP packet of `kind` (protected as it leaves, through the
    /// pacer when there is one) or, with `None`, an RTCP packet (protected
    /// now), unless the queue is full.
    fn queue(&mut self, now: Instant, packet: Vec<u8>, kind: Option<PacketKind>) {
        if self.queued() >= self.config.max_queued_datagrams {
            self.stats.queue_drops += 1;
            return;
        }
        self.ensure_srtp();
        let Some(srtp) = self.srtp.as_deref_mut() else {
            return;
        };
        let mut buf = packet;
        let Some(kind) = kind else {
            match srtp.tx.protect_rtcp(&mut buf) {
                Ok(()) => self.outbound.push_back(Outbound::Rtcp(buf)),
                Err(e) => {
                    tracing::debug!("RTCP not protected: {e}");
                    self.stats.protect_failures += 1;
                }
            }
            return;
        };
        let overhead = srtp.rtp_overhead();
        let repeat = kind == PacketKind::Retransmission
            && rtp_stream(&buf).is_some_and(|(ssrc, _)| self.media_sender(ssrc).is_some());
        if let Some(pacer) = self.pacer.as_mut() {
            let size = buf.len() + overhead;
            let item = PlainRtp {
                repeat,
                ..PlainRtp::new(buf, kind)
            };
            pacer.push(now, kind, size, item);
            return;
        }
        let transport_seq = self.cc.as_ref().and_then(|cc| cc.sequence_of(&buf));
        self.outbound.push_back(Outbound::Rtp(PlainRtp {
            repeat,
            transport_seq,
            ..PlainRtp::new(buf, kind)
        }));
    }

    /// Datagrams waiting, paced or not.
    fn queued(&self) -> usize {
        self.outbound.len() + self.pacer.as_deref().map_or(0, Pacer::queued_packets)
    }

    /// The pacer and the application follow the estimate wherever it
    /// moved: feedback moves it (and is followed at once), but so do
    /// packets leaving without feedback for a while (the estimator cuts
    /// it, draft-ietf-rmcat-gcc-02 §5 on a missing feedback) and a new
    /// `maxBitrate`; those are followed here, at the next transmit.
    fn follow_estimate(&mut self, now: Instant) {
        let Some(target) = self
            .cc
            .as_deref()
            .map(TransportCc::available_outgoing_bitrate)
        else {
            return;
        };
        if self.followed == Some(target) {
            return;
        }
        self.followed = Some(target);
        self.announce_bitrate();
        self.pace_at_estimate(now);
    }

    /// Writes the next protected datagram to send at `now` into `buf`
    /// and says whether there was one: RTCP (and RTP when nothing paces)
    /// as soon as asked, then what the pacer releases (reported to the
    /// estimator as it leaves, with the probe cluster it fills).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        if std::mem::take(&mut self.feedback_pending) {
            self.flush_feedback(now);
        }
        self.follow_estimate(now);
        while let Some(d) = self.outbound.pop_front() {
            match d {
                Outbound::Rtcp(d) => {
                    buf.clear();
                    buf.extend_from_slice(&d);
                    return true;
                }
                Outbound::Rtp(rtp) => {
                    let seq = rtp.transport_seq;
                    if self.leave(now, rtp.plain, rtp.kind, buf) {
                        if let (Some(cc), Some(seq)) = (self.cc.as_mut(), seq) {
                            cc.on_sent(now, seq, buf.len());
                        }
                        return true;
                    }
                }
            }
        }
        if self.outbound.capacity() > 64 {
            self.outbound = VecDeque::new();
        }
        // The estimator's probe clusters go to the pacer, which fills them
        // with what waits and then with padding. They wait for a stream
        // that can pad (a video stream with RTX, once it sent media: the
        // estimator plans its start probes when first asked, so they are
        // fresh then); without video with RTX nothing probes.
        let video = || self.senders.values().filter(|s| s.codec.codec.is_video());
        let can_pad = video().any(Sender::can_pad);
        let never = !video().any(|s| s.codec.rtx.is_some());
        if (can_pad || never)
            && let (Some(cc), Some(pacer)) = (self.cc.as_mut(), self.pacer.as_mut())
        {
            while let Some(cluster) = cc.poll_probe(now) {
                if can_pad {
                    pacer.probe(cluster);
                }
            }
        }
        loop {
            let Some(pacer) = self.pacer.as_mut() else {
                return false;
            };
            let before = pacer.counters().dropped;
            let released = pacer.poll_packet(now);
            self.stats.paced_drops += pacer.counters().dropped - before;
            let sent = match released {
                None => return false,
                Some(PacedPacket::Media { item, probe, .. }) => {
                    self.send_paced(now, item, probe, buf)
                }
                // A probe with nothing to send along: padding, if a stream
                // can carry it (else the pacer moves on).
                Some(PacedPacket::Padding { size, probe }) => self.padding(now, size, probe, buf),
            };
            if sent {
                return true;
            }
        }
    }

    /// A paced RTP packet leaves: the next transport-wide sequence number
    /// goes in (numbers follow the sending order, as the peer's feedback
    /// and the estimator expect), then SRTP into `buf`; reported to the
    /// estimator with the probe cluster it fills.
    fn send_paced(
        &mut self,
        now: Instant,
        item: PlainRtp,
        probe: Option<ProbeId>,
        buf: &mut Vec<u8>,
    ) -> bool {
        if !self.ensure_srtp() {
            self.stats.protect_failures += 1;
            return false;
        }
        let PlainRtp {
            mut plain,
            kind,
            repeat,
            transport_seq_at,
            ..
        } = item;
        // A repeat keeps the number it first left with.
        let seq = self.transport_seq;
        let at = match (&self.cc, repeat) {
            (Some(cc), false) => cc.set_sequence_at(plain.head_mut(), transport_seq_at, seq),
            _ => None,
        };
        if at.is_some() {
            self.transport_seq = seq.wrapping_add(1);
        }
        if !self.leave(now, plain, kind, buf) {
            return false;
        }
        if let Some(cc) = self.cc.as_mut().filter(|_| at.is_some()) {
            cc.on_paced_sent(now, seq, buf.len(), probe);
        }
        true
    }

    /// An RTP packet leaves at `now`: protected into `buf`, then it goes
    /// to its stream's send history, as it left (unless it is
    /// a retransmission, which the history has, or no media stream's: RTX
    /// and padding). False when SRTP refused it (counted).
    fn leave(
        &mut self,
        now: Instant,
        plain: PlainPacket,
        kind: PacketKind,
        buf: &mut Vec<u8>,
    ) -> bool {
        if !self.ensure_srtp() {
            self.stats.protect_failures += 1;
            return false;
        }
        let Some(srtp) = self.srtp.as_deref_mut() else {
            return false;
        };
        buf.clear();
        buf.reserve(plain.len() + srtp.rtp_overhead());
        plain.write_to(buf);
        if let Err(e) = srtp.tx.protect_rtp(buf) {
            tracing::debug!("RTP not protected: {e}");
            self.stats.protect_failures += 1;
            // No plaintext left behind in the datagram buffer.
            buf.clear();
            return false;
        }
        if kind != PacketKind::Retransmission
            && let Some((ssrc, sequence)) = rtp_stream(plain.head())
            && let Some(s) = self.media_sender(ssrc)
        {
            s.on_sent(now, sequence, plain);
        }
        true
    }

    /// The media stream (not RTX) sending as `ssrc`.
    fn media_sender(&mut self, ssrc: u32) -> Option<&mut Sender> {
        self.senders.values_mut().find(|s| s.ssrc == ssrc)
    }

    /// A padding-only packet of about `size` bytes (after SRTP) on the
    /// first video stream with RTX that has sent media (RFC 4588 §4:
    /// padding rides the RTX stream, so receivers drop it without touching
    /// the media sequence), counted in the probe cluster `probe`.
    fn padding(
        &mut self,
        now: Instant,
        size: usize,
        probe: Option<ProbeId>,
        buf: &mut Vec<u8>,
    ) -> bool {
        let wall = self
            .wall_clock
            .map(|(at, wall)| wall + now.saturating_duration_since(at));
        let Some(srtp) = self.srtp.as_deref() else {
            return false;
        };
        let plain = size.saturating_sub(srtp.rtp_overhead());
        let Some(packet) = self
            .senders
            .values_mut()
            .filter(|s| s.codec.codec.is_video())
            .find_map(|s| s.padding_packet(wall, plain))
        else {
            return false;
        };
        if !self.send_paced(now, PlainRtp::new(packet, PacketKind::Padding), probe, buf) {
            return false;
        }
        self.stats.padding_packets += 1;
        true
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] (or, for the pacer's next release,
    /// `poll_transmit`) is next wanted. The pacer counts only while
    /// `sending` (the transport lets media out): a release nobody polls
    /// would stay due forever.
    pub fn poll_timeout(&self, sending: bool) -> Option<Instant> {
        let rtt = self.rtt();
        self.receivers
            .values()
            .filter_map(|r| r.poll_timeout(rtt))
            .chain(self.next_report.filter(|_| self.has_streams()))
            .chain(self.dtmf.values().filter_map(|d| d.engine.poll_timeout()))
            .chain(self.cc.as_deref().and_then(TransportCc::poll_timeout))
            .chain(
                self.pacer
                    .as_deref()
                    .filter(|_| sending)
                    .and_then(Pacer::poll_timeout),
            )
            .min()
    }

    fn has_streams(&self) -> bool {
        !self.senders.is_empty() || !self.receivers.is_empty()
    }

    /// Time reached `now`: jitter buffers give gaps up, NACKs and PLIs
    /// repeat, reports go out.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        self.wall_clock = Some((now, wall));
        self.drive_dtmf(now, wall);
        let ids: Vec<TransceiverId> = self.receivers.keys().copied().collect();
        for t in ids {
            if let Some(r) = self.receivers.get_mut(&t) {
                r.handle_timeout(now, &mut self.frames);
            }
            self.emit_frames(t);
            self.emit_tones(t);
        }
        self.flush_feedback(now);
        self.maybe_report(now, wall, Duration::ZERO);
    }

    /// Packets held by the receivers' jitter buffers (memory bound checks).
    pub fn held_packets(&self) -> usize {
        self.receivers.values().map(Receiver::held).sum()
    }

    /// The SSRC of a transceiver's sender (its first layer), once it can
    /// send.
    pub fn sender_ssrc(&self, t: TransceiverId) -> Option<u32> {
        self.senders.get(&(t, 0)).map(|s| s.ssrc)
    }

    /// SSRCs bound in the demux table.
    pub fn bound_ssrcs(&self) -> usize {
        self.ssrcs.len()
    }
}
