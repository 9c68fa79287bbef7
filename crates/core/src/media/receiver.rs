//! One RTP receiver (W3C `RTCRtpReceiver`): the stream the demux routes
//! to it is counted (RFC 3550 A.3, A.8), repaired (NACK, RFC 4585
//! §6.2.1; RTX unwrapped, RFC 4588 §4), assembled into frames by the
//! jitter buffer, and a keyframe asked for (PLI, RFC 4585 §6.3.1) when a
//! frame is lost for good. RFC 4733 telephone events on the stream go to
//! a DTMF receiver instead of the jitter buffer.
//!
//! A simulcast receiver (RFC 8853) keeps one layer per agreed rid, each
//! its own stream (SSRC, RTX SSRC, statistics, NACK, jitter buffer, PLI);
//! the demux tells which layer a packet belongs to.
//!
//! Every media packet of the stream also updates the receiver's sources
//! (W3C webrtc-pc §5.3.1 `getSynchronizationSources()`, see `sources`),
//! and the jitter buffer holds frames for the W3C `jitterBufferTarget`
//! (§5.3.1) when one is set.

use std::time::{Duration, Instant, SystemTime};

use ferrtc_rtp::RtpPacket;
use ferrtc_rtp::dtmf::{DtmfReceiver, ToneEvent, tone_for_event};
use ferrtc_rtp::jitter::{Frame, Inserted, JitterBuffer, JitterConfig, JitterEvent};
use ferrtc_rtp::repair::{
    KeyframeMethod, KeyframeRequester, NackConfig, NackGenerator, unwrap_rtx,
};
use ferrtc_rtp::report::ReceiveStats;
use ferrtc_rtp::rtcp::{Nack, ReportBlock, RtcpPacket, SenderReport};

use super::codec::{Negotiated, TelephoneEvent};
use super::sources::{LevelExtensions, SourceEntry, Sources};

/// W3C webrtc-pc §5.3.1 `jitterBufferTarget`: at most 4000 ms.
pub(crate) const MAX_JITTER_BUFFER_TARGET: Duration = Duration::from_millis(4000);

/// The least time between two keyframe requests for one stream.
const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(200);

/// How many packets before a stream's first one are asked for when that
/// first packet is not a frame start.
const START_LOOKBACK: u16 = 16;

/// Counters of one receiver, as W3C `RTCInboundRtpStreamStats` names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundCounters {
    /// `packetsReceived`: RTP packets, retransmissions included.
    pub packets_received: u64,
    /// `bytesReceived`: payload bytes.
    pub bytes_received: u64,
    /// `headerBytesReceived`.
    pub header_bytes_received: u64,
    /// `packetsDiscarded`: late, duplicate, or of a payload type not
    /// negotiated.
    pub packets_discarded: u64,
    /// `retransmittedPacketsReceived`.
    pub retransmitted_packets_received: u64,
    /// `retransmittedBytesReceived`.
    pub retransmitted_bytes_received: u64,
    /// `framesReceived`: whole frames out of the jitter buffer.
    pub frames_received: u64,
    /// Whole keyframes out of the jitter buffer.
    pub key_frames_received: u64,
    /// Packets the jitter buffer gave up.
    pub packets_given_up: u64,
    /// `nackCount`: NACK packets sent.
    pub nack_count: u64,
    /// `pliCount`: PLIs sent.
    pub pli_count: u64,
    /// `jitterBufferDelay`: for each frame released, the time from its
    /// first packet's arrival to its release, summed.
    pub jitter_buffer_delay: Duration,
    /// `jitterBufferTargetDelay`: for each frame released, the target
    /// the jitter buffer held it for (zero without `jitterBufferTarget`),
    /// summed.
    pub jitter_buffer_target_delay: Duration,
    /// `jitterBufferEmittedCount`: frames released (ferrtc does not
    /// decode audio into samples: see the `inbound-rtp` stats).
    pub jitter_buffer_emitted_count: u64,
}

/// The peer's last sender report about the stream received (RFC 3550
/// §6.4.1; W3C `RTCRemoteOutboundRtpStreamStats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RemoteSender {
    /// The sender's packet count, carried on past the 32-bit count's
    /// wraps and restarts (see [`RemoteSender::next`]).
    pub packets_sent: u64,
    /// The sender's octet count, payload only, carried on likewise.
    pub octets_sent: u64,
    /// The packet and octet counts of the report, as sent (32 bits).
    packet_count: u32,
    octet_count: u32,
    /// The NTP times of the last report before the counts started again
    /// from zero and of the report that showed it: a report sent between
    /// the two is an old one.
    restarted_at: Option<(u64, u64)>,
    /// The NTP timestamp of the report.
    pub ntp_time: u64,
    /// Sender reports received about the stream.
    pub reports: u64,
    /// When the last one arrived, on the wall clock (W3C webrtc-stats §4:
    /// the `timestamp` of the `remote-outbound-rtp`).
    pub received: SystemTime,
}

impl RemoteSender {
    /// The first report about the stream.
    fn first(sr: &SenderReport, wall: SystemTime) -> RemoteSender {
        RemoteSender {
            packets_sent: u64::from(sr.packet_count),
            octets_sent: u64::from(sr.octet_count),
            packet_count: sr.packet_count,
            octet_count: sr.octet_count,
            restarted_at: None,
            ntp_time: sr.ntp_time,
            reports: 1,
            received: wall,
        }
    }

    /// What the report `sr` makes of this one, `None` for a report sent
    /// before it (RTCP reordered: older by NTP time, its packet count not
    /// ahead), which changes nothing but the count of reports (W3C
    /// webrtc-stats §5.3.9: `remoteTimestamp` and `timestamp` go with the
    /// counts). The counts never go back: a packet count ahead (within
    /// half its 32-bit range, RFC 3550 §6.4.1) carries both on, the octets
    /// the whole way (more than 2^31 of them may pass between two reports
    /// that got through); a packet count behind in a later report, or more
    /// octets than its packets could carry, is the peer counting again
    /// from zero on the SSRC, added on (and a report sent between the last
    /// one before and that one is old). A packet count ahead decides over
    /// the NTP time otherwise, so a sender whose clock stepped back is not
    /// ignored.
    fn next(&self, sr: &SenderReport, wall: SystemTime) -> Option<RemoteSender> {
        let before = |a: u64, b: u64| a.wrapping_sub(b) >= 1 << 63;
        let ahead = sr.packet_count.wrapping_sub(self.packet_count);
        let behind = ahead >= 0x8000_0000;
        let older = before(sr.ntp_time, self.ntp_time);
        let before_restart = self
            .restarted_at
            .is_some_and(|(last, at)| before(last, sr.ntp_time) && before(sr.ntp_time, at));
        if before_restart || (older && (behind || ahead == 0)) {
            return None;
        }
        // More octets than `ahead` packets can carry (an RTP payload is
        // under 64 KiB) is an octet count that went back: a restart too.
        let octets_ahead = sr.octet_count.wrapping_sub(self.octet_count);
        let restarted = behind || u64::from(octets_ahead) > u64::from(ahead) * 0xFFFF;
        let (packets, octets) = if restarted {
            (sr.packet_count, sr.octet_count)
        } else {
            (ahead, octets_ahead)
        };
        Some(RemoteSender {
            packets_sent: self.packets_sent + u64::from(packets),
            octets_sent: self.octets_sent + u64::from(octets),
            packet_count: sr.packet_count,
            octet_count: sr.octet_count,
            restarted_at: if restarted {
                Some((self.ntp_time, sr.ntp_time))
            } else {
                self.restarted_at
            },
            ntp_time: sr.ntp_time,
            reports: self.reports + 1,
            received: wall,
        })
    }
}

/// The stream of one remote SSRC.
struct Stream {
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    codec: Negotiated,
    jitter: JitterBuffer,
    nack: Option<NackGenerator>,
    keyframe: Option<KeyframeRequester>,
    /// When the last keyframe request went out, while one is wanted.
    keyframe_wanted: Option<Option<Instant>>,
    stats: ReceiveStats,
    /// What the sender's reports say.
    remote: Option<RemoteSender>,
}

/// One received RTP stream of a receiver: the whole of it without
/// simulcast, or one simulcast layer (W3C: one `inbound-rtp` each).
#[derive(Default)]
pub(crate) struct Layer {
    /// The rid of the layer (`None`: no simulcast).
    pub rid: Option<String>,
    stream: Option<Stream>,
    pub counters: InboundCounters,
}

impl Layer {
    fn new(rid: Option<String>) -> Self {
        Layer {
            rid,
            ..Layer::default()
        }
    }

    /// The primary SSRC received, once media arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.stream.as_ref().map(|s| s.ssrc)
    }

    /// The codec of the stream received.
    pub fn codec(&self) -> Option<Negotiated> {
        self.stream.as_ref().map(|s| s.codec)
    }

    /// What the peer's sender reports said about the stream, once one came.
    pub fn remote_sender(&self) -> Option<RemoteSender> {
        self.stream.as_ref()?.remote
    }

    /// RFC 3550 A.3: packets lost, and the interarrival jitter in seconds.
    pub fn loss_and_jitter(&self) -> (i64, f64) {
        self.stream.as_ref().map_or((0, 0.0), |s| {
            (
                s.stats.cumulative_lost(),
                f64::from(s.stats.jitter()) / f64::from(s.codec.clock_rate),
            )
        })
    }
}

/// The receiving half of a transceiver.
pub(crate) struct Receiver {
    pub mid: String,
    codecs: Vec<Negotiated>,
    /// Negotiated telephone-event formats (RFC 4733 §7.1.1).
    telephone_events: Vec<TelephoneEvent>,
    /// The received telephone events, made at the first one.
    dtmf: Option<Box<DtmfReceiver>>,
    /// The jitter buffer's capacity in packets.
    max_packets: usize,
    /// One layer per rid received, or one without rid; never empty.
    layers: Vec<Layer>,
    /// The level extensions negotiated (audio only).
    levels: LevelExtensions,
    /// W3C `jitterBufferTarget`, applied to every stream.
    jitter_target: Option<Duration>,
    /// The sources heard from (W3C webrtc-pc §5.3.1).
    sources: Sources,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("mid", &self.mid)
            .field("ssrc", &self.ssrc())
            .finish_non_exhaustive()
    }
}

/// What one received packet is to this receiver.
enum Kind {
    /// A packet of a negotiated codec.
    Media(Negotiated),
    /// An RTX packet repairing the codec with this payload type.
    Rtx(Negotiated),
}

impl Receiver {
    /// A receiver for the codecs negotiated on `mid`; the jitter buffer
    /// holds at most `max_packets`.
    pub fn new(
        mid: String,
        codecs: Vec<Negotiated>,
        telephone_events: Vec<TelephoneEvent>,
        max_packets: usize,
    ) -> Self {
        Self {
            mid,
            codecs,
            telephone_events,
            dtmf: None,
            max_packets,
            layers: vec![Layer::new(None)],
            levels: LevelExtensions::default(),
            jitter_target: None,
            sources: Sources::default(),
        }
    }

    /// A new negotiation may change the codecs.
    pub fn set_codecs(&mut self, codecs: Vec<Negotiated>, telephone_events: Vec<TelephoneEvent>) {
        self.codecs = codecs;
        self.telephone_events = telephone_events;
    }

    /// The rids a new negotiation agreed to receive (RFC 8853 §5.3; empty:
    /// no simulcast). Layers whose rid list changed start anew; when it
    /// changed, returns where each old layer went (by rid; `None`: gone),
    /// for the SSRCs bound to them.
    pub fn set_rids(&mut self, rids: Vec<String>) -> Option<Vec<Option<usize>>> {
        let wanted: Vec<Option<String>> = if rids.is_empty() {
            vec![None]
        } else {
            rids.into_iter().map(Some).collect()
        };
        if self.layers.iter().map(|l| &l.rid).eq(wanted.iter()) {
            return None;
        }
        let moved = self
            .layers
            .iter()
            .map(|l| {
                let rid = l.rid.as_ref()?;
                wanted.iter().position(|w| w.as_ref() == Some(rid))
            })
            .collect();
        self.layers = wanted.into_iter().map(Layer::new).collect();
        Some(moved)
    }

    /// An SSRC now names another layer or receiver (RFC 8852 §3, RFC 8843
    /// §9.2): layer `layer` no longer receives it, so its stream (reports,
    /// NACKs, `inbound-rtp`) ends.
    pub fn forget_stream(&mut self, layer: usize, ssrc: u32) {
        if let Some(l) = self.layers.get_mut(layer)
            && l.ssrc() == Some(ssrc)
        {
            l.stream = None;
        }
    }

    /// The layers received, in rid order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The rid of layer `layer`.
    pub fn rid(&self, layer: usize) -> Option<&str> {
        self.layers.get(layer)?.rid.as_deref()
    }

    /// The layer a packet naming `rid` (RFC 8852 §3) belongs to; a
    /// receiver without simulcast takes it whole.
    pub fn layer_of(&self, rid: &[u8]) -> Option<usize> {
        if self.layers.len() == 1 && self.layers[0].rid.is_none() {
            return Some(0);
        }
        self.layers
            .iter()
            .position(|l| l.rid.as_deref().map(str::as_bytes) == Some(rid))
    }

    /// The layer of every packet when there is one only.
    pub fn single_layer(&self) -> Option<usize> {
        (self.layers.len() == 1).then_some(0)
    }

    /// The negotiated ids of the audio level extensions (RFC 6464, RFC
    /// 6465), read into the sources of audio streams.
    pub fn set_level_extensions(&mut self, levels: LevelExtensions) {
        self.levels = levels;
    }

    /// W3C `jitterBufferTarget` (webrtc-pc §5.3.1): the jitter buffer holds
    /// each frame at least this long after its first packet arrived; the
    /// caller checked the range. `None` is the default, no hold. A
    /// shorter target may release frames: call `handle_timeout` after.
    pub fn set_jitter_buffer_target(&mut self, target: Option<Duration>) {
        self.jitter_target = target;
        for s in self.layers.iter_mut().filter_map(|l| l.stream.as_mut()) {
            s.jitter.set_target_delay(target.unwrap_or_default());
        }
    }

    /// `getSynchronizationSources()`: the SSRCs heard from in the last 10
    /// seconds, most recent first.
    pub fn synchronization_sources(&self, now: Instant) -> Vec<SourceEntry> {
        self.sources.synchronization(now)
    }

    /// `getContributingSources()`: the CSRCs heard from in the last 10
    /// seconds, most recent first.
    pub fn contributing_sources(&self, now: Instant) -> Vec<SourceEntry> {
        self.sources.contributing(now)
    }

    /// The primary SSRC of the first layer received, once media arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.layers.iter().find_map(Layer::ssrc)
    }

    /// Whether `pt` is a payload type negotiated here (media or RTX).
    pub fn has_payload_type(&self, pt: u8) -> bool {
        self.kind(pt).is_some() || self.is_telephone_event(pt)
    }

    fn is_telephone_event(&self, pt: u8) -> bool {
        self.telephone_events
            .iter()
            .any(|e| e.payload_type.get() == pt)
    }

    /// The next DTMF tone received (W3C has no receiving event; this is
    /// RFC 4733 §2.5.2): one per telephone event, when its first packet
    /// arrives, in the order the events started.
    pub fn poll_tone(&mut self) -> Option<char> {
        let dtmf = self.dtmf.as_deref_mut()?;
        while let Some(e) = dtmf.poll_event() {
            if let ToneEvent::Started { event, .. } = e
                && let Some(tone) = tone_for_event(event)
            {
                return Some(tone);
            }
        }
        None
    }

    /// Packets held in the jitter buffer.
    pub fn held(&self) -> usize {
        self.layers
            .iter()
            .filter_map(|l| l.stream.as_ref())
            .map(|s| s.jitter.len())
            .sum()
    }

    fn kind(&self, pt: u8) -> Option<Kind> {
        self.codecs.iter().find_map(|c| {
            if c.payload_type.get() == pt {
                Some(Kind::Media(*c))
            } else if c.rtx.is_some_and(|r| r.get() == pt) {
                Some(Kind::Rtx(*c))
            } else {
                None
            }
        })
    }

    /// A received RTP packet of layer `layer` (the demux's), `wire_len`
    /// bytes long as it came; complete frames go to `frames` with their
    /// layer. `local_ssrc` names us in
    /// the feedback this stream will need.
    pub fn receive(
        &mut self,
        now: Instant,
        packet: &RtpPacket<'_>,
        wire_len: usize,
        layer: usize,
        local_ssrc: u32,
        frames: &mut Vec<(usize, Frame)>,
    ) {
        // W3C webrtc-stats §5.3.5: headerBytesReceived + bytesReceived is
        // every RTP byte received (`wire_len`, the packet as it came after
        // SRTP), so the header counts the header as it came (extension
        // padding included), the padding and, below, an RTX packet's
        // original sequence number.
        let wire = wire_len as u64;
        let header = wire.saturating_sub(packet.payload.len() as u64);
        if layer >= self.layers.len() {
            return;
        }
        if self.is_telephone_event(packet.payload_type.get()) {
            self.receive_event(now, packet, layer, header, frames);
            return;
        }
        let kind = self.kind(packet.payload_type.get());
        let (max_packets, jitter_target) = (self.max_packets, self.jitter_target);
        let l = &mut self.layers[layer];
        let (packet, retransmission) = match kind {
            None => {
                l.counters.packets_discarded += 1;
                return;
            }
            Some(Kind::Media(codec)) => {
                let new = l
                    .stream
                    .as_ref()
                    .is_none_or(|s| s.ssrc != packet.ssrc || s.codec != codec);
                if new {
                    let mut stream = Self::new_stream(
                        packet.ssrc,
                        codec,
                        local_ssrc,
                        max_packets,
                        jitter_target,
                    );
                    // A stream whose first packet is not the start of a
                    // frame lost its start: no later packet would show that
                    // gap, so ask for the packets before it at once (the
                    // jitter buffer still takes them while it holds its
                    // first frame).
                    if let Some(nack) = stream.nack.as_mut()
                        && !codec.codec.depacketizer().is_frame_start(packet.payload)
                    {
                        let before = packet.sequence_number.wrapping_sub(START_LOOKBACK + 1);
                        nack.on_packet(now, before);
                    }
                    // RFC 3550 A.3, §6.4.1: reception statistics and the
                    // sender's reports are the SSRC's, which another
                    // payload type does not change (the jitter only at the
                    // clock rate it was measured at).
                    if let Some(old) = l.stream.take().filter(|s| s.ssrc == packet.ssrc) {
                        stream.remote = old.remote;
                        stream.stats = old.stats.at_clock_rate(codec.clock_rate);
                    }
                    l.stream = Some(stream);
                }
                (*packet, false)
            }
            Some(Kind::Rtx(codec)) => {
                // RFC 4588 §4: the original SSRC and payload type come from
                // the stream the RTX stream repairs (the apt mapping).
                let Some(stream) = l.stream.as_mut().filter(|s| s.codec == codec) else {
                    l.counters.packets_discarded += 1;
                    return;
                };
                match unwrap_rtx(packet, stream.ssrc, codec.payload_type) {
                    Ok(p) => {
                        stream.rtx_ssrc = Some(packet.ssrc);
                        (p, true)
                    }
                    Err(_) => {
                        // Padding-only probes carry no media.
                        l.counters.packets_discarded += 1;
                        return;
                    }
                }
            }
        };
        let Some(stream) = l.stream.as_mut() else {
            return;
        };
        let c = &mut l.counters;
        c.packets_received += 1;
        c.bytes_received += packet.payload.len() as u64;
        c.header_bytes_received += wire.saturating_sub(packet.payload.len() as u64);
        if retransmission {
            c.retransmitted_packets_received += 1;
            c.retransmitted_bytes_received += packet.payload.len() as u64;
        } else {
            // RFC 3550 A.8: a retransmission says nothing of the jitter.
            stream
                .stats
                .on_packet(now, packet.sequence_number, packet.timestamp);
        }
        // RFC 4588 §4: a retransmission is late by nature; neither the
        // NACK generator nor the jitter buffer takes one for a sender
        // restarting its numbers.
        if let Some(nack) = stream.nack.as_mut() {
            if retransmission {
                nack.on_retransmission(now, packet.sequence_number);
            } else {
                nack.on_packet(now, packet.sequence_number);
            }
        }
        let inserted = if retransmission {
            stream.jitter.insert_retransmission(now, &packet)
        } else {
            stream.jitter.insert(now, &packet)
        };
        match inserted {
            Inserted::Stored if !retransmission => {
                // W3C webrtc-pc §5.3.2: sources follow the stream's media
                // packets (RTX repairs them late; telephone events never
                // come here).
                let levels = if stream.codec.codec.is_video() {
                    LevelExtensions::default()
                } else {
                    self.levels
                };
                self.sources.on_packet(now, &packet, levels);
            }
            Inserted::Stored => {}
            // Far from the stream's numbers: not its media (yet) for the
            // sources; taken by the jitter buffer if the next one follows.
            Inserted::Suspect => {}
            Inserted::Duplicate | Inserted::Late => c.packets_discarded += 1,
        }
        self.drain(now, layer, frames);
    }

    /// An RFC 4733 telephone-event packet. It shares the audio stream's
    /// SSRC and sequence numbers (§2.1): counted as received there (for
    /// loss, not jitter: its timestamp is the event's start, §2.5.1.2), not
    /// NACKed, and skipped by the jitter buffer, which must not wait for
    /// it; its payload goes to the DTMF receiver, never into a frame.
    fn receive_event(
        &mut self,
        now: Instant,
        packet: &RtpPacket<'_>,
        layer: usize,
        header: u64,
        frames: &mut Vec<(usize, Frame)>,
    ) {
        let l = &mut self.layers[layer];
        let c = &mut l.counters;
        c.packets_received += 1;
        c.bytes_received += packet.payload.len() as u64;
        c.header_bytes_received += header;
        let seq = packet.sequence_number;
        if let Some(s) = l.stream.as_mut().filter(|s| s.ssrc == packet.ssrc) {
            s.stats.on_untimed_packet(now, seq);
            if let Some(nack) = s.nack.as_mut() {
                nack.on_packet(now, seq);
            }
            s.jitter.skip(now, seq, packet.timestamp);
        }
        let dtmf = self.dtmf.get_or_insert_with(Box::default);
        if dtmf
            .handle_packet(packet.payload, packet.timestamp, seq, packet.marker)
            .is_err()
        {
            self.layers[layer].counters.packets_discarded += 1;
        }
        self.drain(now, layer, frames);
    }

    fn new_stream(
        ssrc: u32,
        codec: Negotiated,
        local_ssrc: u32,
        max_packets: usize,
        jitter_target: Option<Duration>,
    ) -> Stream {
        let video = codec.codec.is_video();
        let config = JitterConfig {
            capacity: max_packets,
            ..if video {
                JitterConfig::VIDEO
            } else {
                JitterConfig::AUDIO
            }
        };
        let mut jitter = JitterBuffer::new(config, codec.codec.depacketizer());
        jitter.set_target_delay(jitter_target.unwrap_or_default());
        Stream {
            ssrc,
            rtx_ssrc: None,
            codec,
            jitter,
            nack: codec
                .nack
                .then(|| NackGenerator::new(NackConfig::default())),
            keyframe: (video && codec.pli)
                .then(|| KeyframeRequester::new(KeyframeMethod::Pli, local_ssrc, ssrc)),
            keyframe_wanted: None,
            stats: ReceiveStats::new(ssrc, codec.clock_rate),
            remote: None,
        }
    }

    /// Time reached `now`: gaps waited long enough are given up.
    pub fn handle_timeout(&mut self, now: Instant, frames: &mut Vec<(usize, Frame)>) {
        for layer in 0..self.layers.len() {
            if let Some(s) = self.layers[layer].stream.as_mut() {
                s.jitter.handle_timeout(now);
            }
            self.drain(now, layer, frames);
        }
    }

    /// Takes the jitter buffer events of layer `layer`.
    fn drain(&mut self, now: Instant, layer: usize, frames: &mut Vec<(usize, Frame)>) {
        let Some(l) = self.layers.get_mut(layer) else {
            return;
        };
        let Some(s) = l.stream.as_mut() else {
            return;
        };
        let counters = &mut l.counters;
        while let Some(ev) = s.jitter.poll_event() {
            match ev {
                JitterEvent::Frame(f) => {
                    counters.frames_received += 1;
                    // W3C webrtc-stats `jitterBufferDelay`: emission less
                    // the first packet's arrival.
                    counters.jitter_buffer_delay += now.saturating_duration_since(f.first_received);
                    counters.jitter_buffer_target_delay += s.jitter.target_delay();
                    counters.jitter_buffer_emitted_count += 1;
                    if f.keyframe {
                        counters.key_frames_received += 1;
                        if let Some(k) = s.keyframe.as_mut() {
                            k.keyframe_received();
                        }
                        s.keyframe_wanted = None;
                    }
                    // RFC 4585 §6.2.1: what is before a released frame
                    // would come too late to be used; stop asking for it.
                    if let Some(nack) = s.nack.as_mut() {
                        nack.give_up_through(f.last_sequence);
                    }
                    frames.push((layer, f));
                }
                JitterEvent::Dropped { first, last } => {
                    counters.packets_given_up += u64::from(last.wrapping_sub(first)) + 1;
                    // Given up: a retransmission would come too late.
                    if let Some(nack) = s.nack.as_mut() {
                        nack.give_up_through(last);
                    }
                }
                JitterEvent::KeyframeNeeded => {
                    if let Some(k) = s.keyframe.as_mut() {
                        k.request();
                        s.keyframe_wanted.get_or_insert(None);
                    }
                }
            }
        }
    }

    /// Asks the sender for a keyframe (PLI, RFC 4585 §6.3.1) as a lost one
    /// would, on the layer `rid` or, without, on every layer received;
    /// repeated at most once per round trip until one arrives.
    pub fn request_keyframe(&mut self, rid: Option<&str>) -> Result<(), &'static str> {
        let mut asked = false;
        let mut why = "no stream received yet";
        for l in &mut self.layers {
            if rid.is_some() && l.rid.as_deref() != rid {
                continue;
            }
            let Some(s) = l.stream.as_mut() else {
                continue;
            };
            let Some(k) = s.keyframe.as_mut() else {
                why = "PLI was not negotiated";
                continue;
            };
            k.request();
            s.keyframe_wanted.get_or_insert(None);
            asked = true;
        }
        if rid.is_some() && !self.layers.iter().any(|l| l.rid.as_deref() == rid) {
            why = "no layer received has this rid";
        }
        if asked { Ok(()) } else { Err(why) }
    }

    /// Feedback due now (RFC 4585): per layer, a generic NACK for the
    /// packets to ask for again, a PLI while a keyframe is wanted.
    pub fn poll_feedback(
        &mut self,
        now: Instant,
        rtt: Duration,
        local_ssrc: u32,
    ) -> Vec<RtcpPacket> {
        let mut out = Vec::new();
        for l in &mut self.layers {
            let Some(s) = l.stream.as_mut() else {
                continue;
            };
            if let Some(nack) = s.nack.as_mut() {
                let lost = nack.poll_nack(now, rtt);
                if !lost.is_empty() {
                    l.counters.nack_count += 1;
                    out.push(RtcpPacket::Nack(Nack::from_sequences(
                        local_ssrc, s.ssrc, &lost,
                    )));
                }
            }
            if let (Some(k), Some(last)) = (s.keyframe.as_mut(), s.keyframe_wanted.as_mut())
                && let Some(p) = k.poll_request(now, rtt.max(MIN_KEYFRAME_INTERVAL))
            {
                *last = Some(now);
                l.counters.pli_count += 1;
                out.push(p);
            }
        }
        out
    }

    /// When this receiver next wants `handle_timeout` or `poll_feedback`.
    pub fn poll_timeout(&self, rtt: Duration) -> Option<Instant> {
        self.layers
            .iter()
            .filter_map(|l| l.stream.as_ref())
            .filter_map(|s| {
                let interval = rtt.max(MIN_KEYFRAME_INTERVAL);
                let keyframe = match s.keyframe_wanted {
                    Some(Some(last)) => Some(last + interval),
                    // Not sent yet: `poll_feedback` runs at the `poll_transmit`
                    // after every input, unless the requester holds it back
                    // (a request soon after the last one's keyframe came).
                    Some(None) => s.keyframe.as_ref().and_then(|k| k.poll_timeout(interval)),
                    None => None,
                };
                [
                    s.jitter.poll_timeout(),
                    s.nack.as_ref().and_then(|n| n.poll_timeout(rtt)),
                    keyframe,
                ]
                .into_iter()
                .flatten()
                .min()
            })
            .min()
    }

    /// The report blocks about the streams received (RFC 3550 §6.4.2), one
    /// per layer.
    pub fn report_blocks(&mut self, now: Instant) -> impl Iterator<Item = ReportBlock> + '_ {
        self.layers
            .iter_mut()
            .filter_map(|l| l.stream.as_mut())
            .map(move |s| s.stats.report_block(now))
    }

    /// A sender report about `ssrc`, for LSR/DLSR (RFC 3550 §6.4.1),
    /// arrived at `now` (`wall` on the wall clock).
    pub fn on_sender_report(&mut self, now: Instant, wall: SystemTime, sr: &SenderReport) {
        for s in self.layers.iter_mut().filter_map(|l| l.stream.as_mut()) {
            if s.ssrc != sr.ssrc {
                continue;
            }
            let next = match &mut s.remote {
                None => RemoteSender::first(sr, wall),
                Some(r) => match r.next(sr, wall) {
                    Some(next) => next,
                    // Reordered: the one shown stays, and so does the last
                    // SR our receiver reports echo; it still counts as sent.
                    None => {
                        r.reports += 1;
                        continue;
                    }
                },
            };
            s.stats.on_sender_report(now, sr);
            s.remote = Some(next);
        }
    }
}
