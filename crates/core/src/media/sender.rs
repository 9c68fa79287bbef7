//! One RTP sender (W3C `RTCRtpSender`): frames the application encoded are
//! cut into RTP packets by the negotiated codec's payloader, numbered
//! (RFC 3550 §5.1), tagged with header extensions (RFC 8285: mid, RFC
//! 9143 §15.2; abs-send-time; transport-wide sequence numbers) and kept in
//! a bounded history that answers NACKs (RFC 4585 §6.2.1), with RTX
//! (RFC 4588) when negotiated.
//!
//! A `Sender` is one RTP stream. A simulcast sender (RFC 8853) has one per
//! negotiated rid, each with its own SSRC, RTX SSRC, numbering, history and
//! reports; its packets carry the RFC 8852 `rtp-stream-id` extension and
//! its retransmissions `repaired-rtp-stream-id` (§3.2), always, so the
//! peer can bind every SSRC whatever it already learned.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use ferrtc_jsep::{
    EXT_ABS_SEND_TIME, EXT_MID, EXT_REPAIRED_RID, EXT_RID, EXT_TWCC, NegotiatedMedia, TransceiverId,
};
use ferrtc_rtp::codec::Payloader;
use ferrtc_rtp::extension::{AbsSendTime, TransportSequence};
use ferrtc_rtp::repair::{HistoryConfig, SendHistory, wrap_rtx};
use ferrtc_rtp::report::{NtpTime, SendStats};
use ferrtc_rtp::rtcp::{ReportBlock, SenderReport};
use ferrtc_rtp::{ExtensionId, PayloadType, PlainPacket, RtpPacket};

use super::MediaError;
use super::codec::{self, Negotiated, TelephoneEvent};

/// Counters of one sender, as W3C `RTCOutboundRtpStreamStats` names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundCounters {
    /// `packetsSent`: RTP packets, retransmissions included.
    pub packets_sent: u64,
    /// `bytesSent`: payload bytes, retransmissions included.
    pub bytes_sent: u64,
    /// `headerBytesSent`.
    pub header_bytes_sent: u64,
    /// `retransmittedPacketsSent`.
    pub retransmitted_packets_sent: u64,
    /// `retransmittedBytesSent`.
    pub retransmitted_bytes_sent: u64,
    /// `framesSent`.
    pub frames_sent: u64,
    /// `keyFramesEncoded` (keyframes the application wrote).
    pub key_frames_sent: u64,
    /// `nackCount`: NACK packets received for this sender.
    pub nack_count: u64,
    /// `pliCount`: PLIs received.
    pub pli_count: u64,
    /// `firCount`: FIRs received.
    pub fir_count: u64,
}

/// What the application wrote on a transceiver's first layer (W3C
/// `RTCMediaSourceStats`): every frame, the ones muted by a DTMF tone or
/// an inactive layer included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SourceCounters {
    /// Frames written (`frames` of a video source).
    pub frames: u64,
    /// Their durations added up (`totalSamplesDuration` of an audio
    /// source).
    pub duration: Duration,
}

impl SourceCounters {
    /// Counts one frame of `duration`.
    pub(crate) fn count(&mut self, duration: Duration) {
        self.frames += 1;
        // A duration is the application's: saturating, never a panic.
        self.duration = self.duration.saturating_add(duration);
    }
}

/// One RTP packet a sender wrote (before SRTP).
#[derive(Debug)]
pub(crate) struct SentPacket {
    /// The packet: its header and payload descriptor, then a slice of
    /// the frame.
    pub bytes: PlainPacket,
    /// Its transport-wide sequence number, when it carries the extension.
    pub transport_seq: Option<u16>,
    /// Where that number is: the extension's id and the offset of its
    /// value in `bytes` (a pacer numbers the packet again as it leaves).
    pub transport_seq_at: Option<(ExtensionId, usize)>,
}

/// Ids of the header extensions this sender writes.
#[derive(Debug, Clone, Copy, Default)]
struct SendExtensions {
    mid: Option<ExtensionId>,
    abs_send_time: Option<ExtensionId>,
    transport_cc: Option<ExtensionId>,
    /// RFC 8852 §3.1 `rtp-stream-id`, written by a simulcast layer.
    rid: Option<ExtensionId>,
    /// RFC 8852 §3.2 `repaired-rtp-stream-id`, on a layer's RTX packets.
    repaired_rid: Option<ExtensionId>,
}

/// A sender stream's key: its transceiver and its layer, the index of its
/// rid in the negotiated order (0 without simulcast).
pub(crate) type SendKey = (TransceiverId, u8);

/// The most simulcast layers one sender sends (W3C webrtc-pc lets the
/// user agent bound `sendEncodings`; browsers send at most 4).
pub(crate) const MAX_LAYERS: usize = 4;

/// The sending half of a transceiver.
pub(crate) struct Sender {
    pub mid: String,
    /// The RFC 8852 rid of this simulcast layer (`None`: no simulcast).
    pub rid: Option<String>,
    /// The rid of the W3C encoding this stream carries, which its
    /// `active` follows: the layer's rid, or for the one stream without
    /// simulcast the sender's first encoding's (webrtc-pc §4.4.1.6: a
    /// refused simulcast keeps the first encoding), `None` when it has none.
    pub encoding: Option<String>,
    /// W3C `RTCRtpEncodingParameters.active`: an inactive layer sends
    /// nothing (no RTP, no sender report).
    pub active: bool,
    pub ssrc: u32,
    pub codec: Negotiated,
    /// The telephone-event format at the codec's clock rate, if
    /// negotiated (RFC 4733; W3C `canInsertDTMF`).
    pub telephone_event: Option<TelephoneEvent>,
    rtx_ssrc: u32,
    payloader: Box<dyn Payloader + Send>,
    ext: SendExtensions,
    sequence: u16,
    rtx_sequence: u16,
    timestamp: u32,
    /// What `advance` could not turn into a whole tick yet, in units of
    /// 1/clock-rate nanoseconds: 33.333 ms frames at 90 kHz make 3000
    /// ticks each on average, not 2999.
    tick_remainder: u128,
    /// What left, as it left ([`Self::on_sent`]).
    history: SendHistory,
    /// The header of the frame being packetized, written once per frame
    /// (kept to reuse its allocation).
    header_template: Vec<u8>,
    stats: SendStats,
    pub counters: OutboundCounters,
    /// The last report block the peer sent about this stream and when it
    /// arrived on the wall clock (W3C `remote-inbound-rtp`, its
    /// `timestamp`).
    pub remote_report: Option<(ReportBlock, SystemTime)>,
    /// RTTs measured from report blocks (W3C
    /// `roundTripTimeMeasurements`).
    pub rtt_measurements: u64,
    /// A media packet was sent by this sender: the sender report has an
    /// RTP time to extrapolate from, and padding a stream to go along.
    started: bool,
    /// The last FIR sequence number acted on, per requester SSRC, the
    /// most recent last (at most [`MAX_FIR_REQUESTERS`]).
    fir_sequences: Vec<(u32, u8)>,
}

/// How many requesters' FIR sequence numbers a sender remembers: one per
/// peer endpoint in practice; a flood of requester SSRCs forgets the
/// oldest.
const MAX_FIR_REQUESTERS: usize = 8;

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("mid", &self.mid)
            .field("ssrc", &self.ssrc)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

/// Random starting values of a stream (RFC 3550 §5.1: sequence number and
/// timestamp start at random values).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamSeeds {
    pub ssrc: u32,
    pub rtx_ssrc: u32,
    pub sequence: u16,
    pub rtx_sequence: u16,
    pub timestamp: u32,
}

impl StreamSeeds {
    /// Fresh random seeds for a stream on `ssrc` (RTX on `rtx_ssrc`).
    ///
    /// The first sequence numbers (media and RTX) are random but below
    /// 2^15. RFC 3711 §3.3.1: a receiver starts a stream's rollover counter
    /// at 0 with the first packet it authenticates; had the stream started
    /// near 65535 and wrapped before that packet (the first ones lost, or
    /// dropped before the receiver's DTLS-SRTP keys were ready), it is
    /// protected with ROC 1 and would never authenticate there. Starting in
    /// the lower half puts the first wrap at least 32,768 packets away (as
    /// libwebrtc does); the numbers stay unpredictable (RFC 3550 §5.1).
    pub(crate) fn fresh(ssrc: u32, rtx_ssrc: u32, rng: &mut impl rand::Rng) -> Self {
        Self {
            ssrc,
            rtx_ssrc,
            sequence: first_sequence(rng),
            rtx_sequence: first_sequence(rng),
            timestamp: rng.random(),
        }
    }
}

/// A stream whose sender was dropped while its transceiver does not send
/// (see [`Sender::continuation`]). Its stats objects stay, frozen (W3C
/// webrtc-stats §5.3: an RTP stream lives until its transceiver stops).
#[derive(Debug, Clone)]
pub(crate) struct Continuation {
    /// Its SSRCs and where its numbers and clock stand.
    pub seeds: StreamSeeds,
    /// Its sender-report state.
    stats: SendStats,
    /// Its counters where they stood.
    pub counters: OutboundCounters,
    /// The last report block the peer sent about it.
    pub remote_report: Option<(ReportBlock, SystemTime)>,
    /// RTTs measured from report blocks.
    pub rtt_measurements: u64,
    /// The mid, rid, encoding and codec it sent with (its stats say them).
    pub mid: String,
    /// See [`Sender::rid`].
    pub rid: Option<String>,
    /// See [`Sender::encoding`].
    pub encoding: Option<String>,
    /// The codec it last sent.
    pub codec: Negotiated,
    /// The FIR sequence numbers acted on (see [`Sender::on_fir`]).
    fir_sequences: Vec<(u32, u8)>,
}

impl Continuation {
    /// The RTX SSRC when RTX was negotiated.
    pub fn rtx_ssrc(&self) -> Option<u32> {
        self.codec.rtx.map(|_| self.seeds.rtx_ssrc)
    }

    /// The round-trip time of the last report block.
    pub fn rtt(&self) -> Option<Duration> {
        self.stats.rtt()
    }
}

/// Largest first sequence number of a stream (see [`StreamSeeds::fresh`]).
const MAX_FIRST_SEQUENCE: u16 = 0x7fff;

/// A random first sequence number in `0..=MAX_FIRST_SEQUENCE`.
fn first_sequence(rng: &mut impl rand::Rng) -> u16 {
    rng.random::<u16>() & MAX_FIRST_SEQUENCE
}

impl Sender {
    /// A sender for what was negotiated, or why it cannot send.
    pub fn new(
        negotiated: &NegotiatedMedia,
        seeds: StreamSeeds,
        history: HistoryConfig,
        rid: Option<String>,
    ) -> Result<Self, MediaError> {
        let codecs = codec::negotiated(&negotiated.codecs);
        let Some(&first) = codecs.first() else {
            let name = negotiated
                .codecs
                .first()
                .map_or_else(|| "none".to_owned(), |c| c.name.clone());
            return Err(MediaError::UnsupportedCodec(name));
        };
        let id = |uri| codec::extension_id(&negotiated.header_extensions, uri);
        Ok(Self {
            mid: negotiated.mid.clone(),
            encoding: rid.clone(),
            rid,
            active: true,
            ssrc: seeds.ssrc,
            codec: first,
            telephone_event: codec::telephone_event_for(&negotiated.codecs, first.clock_rate),
            rtx_ssrc: seeds.rtx_ssrc,
            payloader: first.codec.payloader(),
            ext: SendExtensions {
                mid: id(EXT_MID),
                abs_send_time: id(EXT_ABS_SEND_TIME),
                transport_cc: id(EXT_TWCC),
                rid: id(EXT_RID),
                repaired_rid: id(EXT_REPAIRED_RID),
            },
            sequence: seeds.sequence,
            rtx_sequence: seeds.rtx_sequence,
            timestamp: seeds.timestamp,
            tick_remainder: 0,
            history: SendHistory::new(history),
            header_template: Vec::new(),
            stats: SendStats::new(seeds.ssrc, first.clock_rate),
            counters: OutboundCounters::default(),
            remote_report: None,
            rtt_measurements: 0,
            started: false,
            fir_sequences: Vec::new(),
        })
    }

    /// The id of the transport-wide sequence number extension this sender
    /// writes, if negotiated.
    pub fn transport_cc_ext(&self) -> Option<ExtensionId> {
        self.ext.transport_cc
    }

    /// Where this stream stands: its SSRCs and the numbers and timestamp
    /// its next packets take, and what it counted (to continue the stream
    /// in a new sender).
    pub(crate) fn continuation(&self) -> Continuation {
        Continuation {
            seeds: StreamSeeds {
                ssrc: self.ssrc,
                rtx_ssrc: self.rtx_ssrc,
                sequence: self.sequence,
                rtx_sequence: self.rtx_sequence,
                timestamp: self.timestamp,
            },
            stats: self.stats.clone(),
            counters: self.counters,
            remote_report: self.remote_report,
            rtt_measurements: self.rtt_measurements,
            mid: self.mid.clone(),
            rid: self.rid.clone(),
            encoding: self.encoding.clone(),
            codec: self.codec,
            fir_sequences: self.fir_sequences.clone(),
        }
    }

    /// Continues the stream `c` describes (made with `c.seeds`): its
    /// counters go on from where they stood. W3C webrtc-stats §5.3: the
    /// RTP stream of a transceiver that stopped sending is the same one
    /// when it sends again, its counters never go back; RFC 3550 §6.4.1:
    /// the sender report's counts restart only with a new SSRC. RFC 5104
    /// §4.3.1.2: a FIR repeated with the sequence number already acted on
    /// asks for no new keyframe, whichever sender object of the stream it
    /// reaches.
    pub(crate) fn resume(&mut self, c: Continuation) {
        self.counters = c.counters;
        self.fir_sequences = c.fir_sequences;
        self.remote_report = c.remote_report;
        self.rtt_measurements = c.rtt_measurements;
        // The RTP time of the sender reports goes at the codec's clock;
        // the counts go on whatever the clock.
        self.stats = c.stats.at_clock_rate(self.codec.clock_rate);
    }

    /// The RTX SSRC when RTX is negotiated.
    pub fn rtx_ssrc(&self) -> Option<u32> {
        self.codec.rtx.map(|_| self.rtx_ssrc)
    }

    /// The RTP packets of one frame (before SRTP, which protects a copy
    /// as each leaves), each at most `mtu` bytes; [`Self::on_sent`] keeps
    /// each as it left. `duration` advances the RTP clock for the next
    /// frame. Returns the packets and the frame's RTP timestamp.
    ///
    /// The header is written once per frame; each packet copies it, the
    /// payloader's pieces after it, and patches what differs per packet:
    /// sequence number, marker and transport-wide sequence number. A last
    /// piece that is a slice of `frame` is shared, not copied (see
    /// [`PlainPacket`]): a frame written on many streams is held once,
    /// by their queues and send histories alike.
    #[allow(clippy::too_many_arguments)]
    pub fn packetize(
        &mut self,
        now: Instant,
        wall: SystemTime,
        mtu: usize,
        frame: &Bytes,
        duration: Duration,
        keyframe: bool,
        transport_seq: &mut u16,
    ) -> Result<(Vec<SentPacket>, u32), MediaError> {
        let timestamp = self.timestamp;
        let abs = AbsSendTime::from_ntp(NtpTime::from_system_time(wall).0).write();
        // The transport-wide sequence number differs per packet; reserve
        // its room now so every packet's header has the same length.
        let placeholder = [0u8; 2];
        let header = header(
            &self.ext,
            &self.mid,
            self.rid.as_deref(),
            self.codec.payload_type,
            timestamp,
            self.ssrc,
            &abs,
            &placeholder,
        )?;
        let header_len = header.header_len();
        let room = mtu.checked_sub(header_len).filter(|r| *r > 0).ok_or(
            ferrtc_rtp::codec::CodecError::MtuTooSmall {
                needed: header_len + 1,
                mtu,
            },
        )?;
        let twcc_at = self
            .ext
            .transport_cc
            .and_then(|id| header.extension_value_offset(id));
        let transport_cc = self.ext.transport_cc;
        let template = &mut self.header_template;
        template.clear();
        template.resize(header_len, 0);
        header
            .write_header(template)
            .map_err(|e| MediaError::Header(e.to_string()))?;
        let template = &*template;
        let video = self.codec.codec.is_video();
        let sequence = &mut self.sequence;
        let stats = &mut self.stats;
        let counters = &mut self.counters;
        let mut out = Vec::with_capacity(frame.len() / room + 1);
        self.payloader
            .payload_pieces(room, frame, &mut |pieces, last| {
                let payload_len: usize = pieces.iter().map(|p| p.len()).sum();
                let mut bytes = cut(template, pieces, frame);
                let head = bytes.head_mut();
                head[2..4].copy_from_slice(&sequence.to_be_bytes());
                // RFC 3551 §4.1 and each video payload format: the marker
                // bit ends a video frame.
                if last && video {
                    head[1] |= 0x80;
                }
                let twcc = *transport_seq;
                *transport_seq = transport_seq.wrapping_add(1);
                let twcc = twcc_at.map(|at| {
                    head[at..at + 2].copy_from_slice(&TransportSequence(twcc).write());
                    twcc
                });
                *sequence = sequence.wrapping_add(1);
                stats.on_packet_sent(now, timestamp, payload_len);
                counters.packets_sent += 1;
                counters.bytes_sent += payload_len as u64;
                counters.header_bytes_sent += header_len as u64;
                out.push(SentPacket {
                    bytes,
                    transport_seq: twcc,
                    transport_seq_at: transport_cc.zip(twcc_at),
                });
            })?;
        self.counters.frames_sent += 1;
        self.started = true;
        if keyframe {
            self.counters.key_frames_sent += 1;
        }
        self.advance(duration);
        Ok((out, timestamp))
    }

    /// Moves the RTP clock on by `duration` of media, one frame written.
    fn advance(&mut self, duration: Duration) {
        // The part of a tick left over carries to the next frame, so the
        // RTP clock keeps the written durations' pace (RFC 3550 §5.1).
        let scaled = duration.as_nanos() * u128::from(self.codec.clock_rate) + self.tick_remainder;
        self.tick_remainder = scaled % 1_000_000_000;
        self.timestamp = self.timestamp.wrapping_add((scaled / 1_000_000_000) as u32);
    }

    /// The RTP timestamp the next frame will carry: where the stream's
    /// media clock stands.
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }

    /// A frame written while a telephone event replaces the audio (see
    /// `MediaSession::write_frame`): nothing is sent, the clock moves on by
    /// its duration as if it had been. Returns the timestamp it had.
    pub fn mute_frame(&mut self, duration: Duration) -> u32 {
        let timestamp = self.timestamp;
        self.advance(duration);
        timestamp
    }

    /// Moves the RTP clock to `timestamp` if that is ahead of it (RFC
    /// 3550 §5.1 timestamp order): audio after a telephone event starts
    /// where the event ended, never inside it (RFC 4733 §2.5.1.2).
    pub fn advance_timestamp_to(&mut self, timestamp: u32) {
        let ahead = timestamp.wrapping_sub(self.timestamp);
        if ahead != 0 && ahead < 0x8000_0000 {
            self.timestamp = timestamp;
        }
    }

    /// One RFC 4733 telephone-event packet on this stream: the sender's
    /// SSRC and sequence numbers, the telephone-event payload type `pt`,
    /// RTP timestamp `timestamp` (the event's start, §2.5.1.2), the marker
    /// on an event's first packet, the same header extensions as media.
    /// Counted as media; [`Self::on_sent`] keeps it as it leaves.
    #[allow(clippy::too_many_arguments)]
    pub fn event_packet(
        &mut self,
        now: Instant,
        wall: SystemTime,
        pt: PayloadType,
        timestamp: u32,
        payload: &[u8],
        marker: bool,
        media_time: u32,
        transport_seq: &mut u16,
    ) -> Result<Vec<u8>, MediaError> {
        let abs = AbsSendTime::from_ntp(NtpTime::from_system_time(wall).0).write();
        let twcc = TransportSequence(*transport_seq).write();
        let mut p = header(
            &self.ext,
            &self.mid,
            self.rid.as_deref(),
            pt,
            timestamp,
            self.ssrc,
            &abs,
            &twcc,
        )?;
        *transport_seq = transport_seq.wrapping_add(1);
        p.payload = payload;
        p.marker = marker;
        p.sequence_number = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        let bytes = p.to_vec();
        // The sender report maps `now` to the media clock: the event's
        // start plus its duration so far, not the start repeated.
        self.stats.on_packet_sent(now, media_time, payload.len());
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += payload.len() as u64;
        self.counters.header_bytes_sent += (bytes.len() - payload.len()) as u64;
        self.started = true;
        Ok(bytes)
    }

    /// The packet that answers a NACK for `sequence` (RFC 4585 §6.2.1):
    /// wrapped in RTX when negotiated (RFC 4588 §4), else the original
    /// again. `None` when the history no longer has it or it was resent
    /// less than `rtt` ago.
    pub fn retransmit(&mut self, now: Instant, sequence: u16, rtt: Duration) -> Option<Vec<u8>> {
        let rtx = self.codec.rtx;
        let original = self.history.resend(now, sequence, rtt)?.to_vec();
        let out = match rtx {
            None => original,
            Some(pt) => {
                let mut parsed = RtpPacket::parse(&original).ok()?;
                // RFC 8852 §3.2: an RTX stream names the layer it repairs
                // with `repaired-rtp-stream-id`, never `rtp-stream-id`
                // (without the former negotiated, it names none).
                if let Some(rid) = self.ext.rid
                    && let Some(value) = parsed.extensions.remove(rid)
                    && let Some(repaired) = self.ext.repaired_rid
                {
                    let _ = parsed.extensions.insert(repaired, value);
                }
                let mut buf = vec![0u8; original.len() + 2];
                let len = wrap_rtx(&parsed, self.rtx_ssrc, pt, self.rtx_sequence, &mut buf).ok()?;
                self.rtx_sequence = self.rtx_sequence.wrapping_add(1);
                buf.truncate(len);
                buf
            }
        };
        let payload = original_payload_len(&out, rtx.is_some());
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += payload as u64;
        // W3C webrtc-stats §5.3.8: headerBytesSent + bytesSent is every RTP
        // byte sent, retransmissions included (an RTX OSN counts as header).
        self.counters.header_bytes_sent += out.len().saturating_sub(payload) as u64;
        self.counters.retransmitted_packets_sent += 1;
        self.counters.retransmitted_bytes_sent += payload as u64;
        Some(out)
    }

    /// Whether [`Self::padding_packet`] makes packets: RTX negotiated, the
    /// layer active and media sent.
    pub fn can_pad(&self) -> bool {
        self.codec.rtx.is_some() && self.active && self.started
    }

    /// The media packet `sequence` of this stream (`plain`, before SRTP)
    /// left at `now`: the history keeps it as it left, so that a
    /// retransmission without RTX repeats it exactly, and ages it from
    /// now.
    pub fn on_sent(&mut self, now: Instant, sequence: u16, plain: PlainPacket) {
        self.history.insert(now, sequence, plain);
    }

    /// A padding-only packet on the RTX stream (RFC 3550 §5.1 padding; RFC
    /// 4588 §4 lets an RTX packet carry no payload) of `size` bytes before
    /// SRTP, or as near as one packet's 255 padding bytes allow, to fill a
    /// bandwidth probe: it carries room for the transport-wide sequence
    /// number (written as it leaves) and the stream's mid and repaired-rid, and is not media (no stream
    /// counter moves). `None` without negotiated RTX, for an
    /// inactive layer, or before the stream's first media packet (nothing
    /// to probe along yet).
    pub fn padding_packet(&mut self, wall: Option<SystemTime>, size: usize) -> Option<Vec<u8>> {
        if !self.can_pad() {
            return None;
        }
        let pt = self.codec.rtx?;
        let abs = wall.map(|w| AbsSendTime::from_ntp(NtpTime::from_system_time(w).0).write());
        // Numbered as it leaves (the pacer's caller writes the number).
        let twcc = [0u8; 2];
        let mut p = RtpPacket::new(pt, self.rtx_sequence, self.timestamp, self.rtx_ssrc, &[]);
        // RFC 8852 §3.2: the RTX stream names the layer it repairs.
        let repaired = self.ext.repaired_rid.zip(self.rid.as_deref());
        let elements = [
            self.ext.mid.map(|id| (id, self.mid.as_bytes())),
            repaired.map(|(id, rid)| (id, rid.as_bytes())),
            self.ext.abs_send_time.zip(abs.as_ref().map(|a| &a[..])),
            self.ext.transport_cc.map(|id| (id, &twcc[..])),
        ];
        for (id, value) in elements.into_iter().flatten() {
            p.extensions.insert(id, value).ok()?;
        }
        // RFC 3550 §5.1: the last padding octet counts the padding, itself
        // included; a padding-only packet has at least one.
        let padding = size.saturating_sub(p.header_len()).clamp(1, 255);
        p.padding = u8::try_from(padding).unwrap_or(u8::MAX);
        self.rtx_sequence = self.rtx_sequence.wrapping_add(1);
        Some(p.to_vec())
    }

    /// A sender report (RFC 3550 §6.4.1) with the NTP/RTP mapping at `now`,
    /// once the stream sent and while it is active.
    pub fn sender_report(&mut self, now: Instant, wall: SystemTime) -> Option<SenderReport> {
        (self.active && self.started).then(|| self.stats.sender_report(now, wall))
    }

    /// A report block about this sender's stream, arrived at `now`
    /// (`wall` on the wall clock): the round-trip time it gives (RFC 3550
    /// §6.4.1), if it echoes one of our SRs.
    pub fn on_report_block(
        &mut self,
        now: Instant,
        wall: SystemTime,
        block: &ReportBlock,
    ) -> Option<Duration> {
        if block.ssrc != self.ssrc {
            return None;
        }
        self.remote_report = Some((*block, wall));
        let rtt = self.stats.on_report_block(now, block);
        if rtt.is_some() {
            self.rtt_measurements += 1;
        }
        rtt
    }

    /// The last round-trip time measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.stats.rtt()
    }

    /// A FIR entry (RFC 5104 §4.3.1) for this sender from `requester`
    /// with `sequence` arrived: counted (`firCount`); whether it is a new
    /// request. §4.3.1.1: the number grows per new request of a
    /// requester and stays the same on a repetition, which must not bring
    /// a second keyframe.
    pub fn on_fir(&mut self, requester: u32, sequence: u8) -> bool {
        self.counters.fir_count += 1;
        let known = self.fir_sequences.iter().position(|&(r, _)| r == requester);
        if let Some(i) = known {
            let (_, last) = self.fir_sequences.remove(i);
            self.fir_sequences.push((requester, sequence));
            return last != sequence;
        }
        if self.fir_sequences.len() >= MAX_FIR_REQUESTERS {
            self.fir_sequences.remove(0);
        }
        self.fir_sequences.push((requester, sequence));
        true
    }

    /// Whether `ssrc` is this sender's primary or RTX stream.
    pub fn owns(&self, ssrc: u32) -> bool {
        ssrc == self.ssrc || self.rtx_ssrc() == Some(ssrc)
    }
}

/// The packet of `header` followed by the payloader's `pieces`: a last
/// piece that lies within `frame` is shared with it, the rest is copied
/// into the packet's head.
fn cut(header: &[u8], pieces: &[&[u8]], frame: &Bytes) -> PlainPacket {
    let within = |piece: &[u8]| {
        let start = (piece.as_ptr() as usize).checked_sub(frame.as_ptr() as usize)?;
        let end = start.checked_add(piece.len())?;
        (end <= frame.len()).then_some(start..end)
    };
    let (shared, owned) = match pieces.split_last() {
        Some((last, before)) if !last.is_empty() => match within(last) {
            Some(range) => (frame.slice(range), before),
            None => (Bytes::new(), pieces),
        },
        _ => (Bytes::new(), pieces),
    };
    let mut packet = PlainPacket::new(header, shared);
    for piece in owned {
        packet.extend_head(piece);
    }
    packet
}

/// The header every packet of a sender carries (RFC 8285): mid, rid,
/// abs-send-time and the transport-wide sequence number (`twcc`: its value,
/// or a placeholder of its size that each packet overwrites), as negotiated.
#[allow(clippy::too_many_arguments)]
fn header<'a>(
    ext: &SendExtensions,
    mid: &'a str,
    rid: Option<&'a str>,
    pt: PayloadType,
    timestamp: u32,
    ssrc: u32,
    abs: &'a [u8],
    twcc: &'a [u8],
) -> Result<RtpPacket<'a>, MediaError> {
    let mut header = RtpPacket::new(pt, 0, timestamp, ssrc, &[]);
    if let Some(id) = ext.mid {
        header
            .extensions
            .insert(id, mid.as_bytes())
            .map_err(|e| MediaError::Header(e.to_string()))?;
    }
    // RFC 8852 §3.1: every packet of a simulcast layer names its rid.
    if let (Some(id), Some(rid)) = (ext.rid, rid) {
        header
            .extensions
            .insert(id, rid.as_bytes())
            .map_err(|e| MediaError::Header(e.to_string()))?;
    }
    if let Some(id) = ext.abs_send_time {
        let _ = header.extensions.insert(id, abs);
    }
    if let Some(id) = ext.transport_cc {
        let _ = header.extensions.insert(id, twcc);
    }
    Ok(header)
}

/// The media payload length of a packet (less the RTX OSN).
fn original_payload_len(packet: &[u8], rtx: bool) -> usize {
    RtpPacket::parse(packet)
        .map(|p| p.payload.len().saturating_sub(if rtx { 2 } else { 0 }))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use std::time::{Duration, Instant, SystemTime};

    use ferrtc_jsep::{
        Codec, EXT_ABS_SEND_TIME, EXT_MID, EXT_REPAIRED_RID, EXT_RID, EXT_TWCC, HeaderExtension,
        NegotiatedMedia,
    };
    use ferrtc_rtp::repair::HistoryConfig;
    use ferrtc_rtp::{ExtensionId, RtpPacket};
    use ferrtc_sdp::Direction;

    use super::{Sender, SentPacket, SourceCounters, StreamSeeds};

    fn layer(extensions: &[(u16, &str)]) -> Sender {
        let negotiated = NegotiatedMedia {
            mid: "v".into(),
            direction: Direction::SendOnly,
            codecs: vec![
                Codec::new(96, "VP8", 90_000, None).with_feedback(&[("nack", None)]),
                Codec::rtx(97, 96, 90_000),
            ],
            header_extensions: extensions
                .iter()
                .map(|(id, uri)| HeaderExtension::new(*id, uri))
                .collect(),
            send_rids: vec!["q".into()],
            recv_rids: vec![],
            remote_ssrcs: vec![],
            remote_msid: None,
        };
        let seeds = StreamSeeds {
            ssrc: 7,
            rtx_ssrc: 8,
            sequence: 100,
            rtx_sequence: 0,
            timestamp: 0,
        };
        Sender::new(
            &negotiated,
            seeds,
            HistoryConfig::default(),
            Some("q".into()),
        )
        .unwrap()
    }

    /// The RTX packet resending the first packet of a frame on `s`.
    fn resent(s: &mut Sender) -> Vec<u8> {
        let now = Instant::now();
        let mut twcc = 0;
        let (packets, _) = s
            .packetize(
                now,
                SystemTime::now(),
                1200,
                &Bytes::from(vec![0x10; 50]),
                Duration::from_millis(33),
                true,
                &mut twcc,
            )
            .unwrap();
        let first = packets[0].bytes.to_vec();
        let first = RtpPacket::parse(&first).unwrap();
        assert_eq!(
            first.extensions.get(ExtensionId::new(10).unwrap()),
            Some(&b"q"[..])
        );
        let sequence = first.sequence_number;
        s.on_sent(now, sequence, packets[0].bytes.clone());
        s.retransmit(now, sequence, Duration::ZERO).unwrap()
    }

    /// RFC 3711 §3.3.1: a receiver starts a stream's rollover counter at 0
    /// with the first packet it authenticates. A stream that began near
    /// 65535 and wrapped before the receiver's first packet (the first ones
    /// lost, or dropped because the receiver's DTLS-SRTP keys were not ready
    /// yet) is protected with ROC 1, which that receiver never tries: the
    /// whole stream fails authentication for good. So the first sequence
    /// numbers, media and RTX, stay random (RFC 3550 §5.1) but below 2^15,
    /// at least 32,768 packets from the first wrap, as libwebrtc does.
    #[test]
    fn first_sequence_numbers_are_random_in_the_lower_half_so_no_early_wrap_hides_the_roc() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let seeds: Vec<StreamSeeds> = (0..2000)
            .map(|_| StreamSeeds::fresh(1, 2, &mut rng))
            .collect();
        for s in &seeds {
            assert!(s.sequence < 0x8000, "first sequence {}", s.sequence);
            assert!(
                s.rtx_sequence < 0x8000,
                "first RTX sequence {}",
                s.rtx_sequence
            );
        }
        // Still spread over the whole lower half.
        let (lo, hi) = seeds.iter().fold((u16::MAX, 0), |(lo, hi), s| {
            (lo.min(s.sequence), hi.max(s.sequence))
        });
        assert!(lo < 0x0400 && hi > 0x7c00, "{lo:#x}..{hi:#x}");
    }

    #[test]
    fn a_retransmission_without_rtx_repeats_the_packet_as_it_left() {
        let mut s = pinned_sender(
            vec![Codec::new(96, "VP8", 90_000, None).with_feedback(&[("nack", None)])],
            &[(3, EXT_TWCC)],
            None,
        );
        let now = Instant::now();
        let mut placeholder = 0;
        let (packets, _) = s
            .packetize(
                now,
                SystemTime::now(),
                1200,
                &Bytes::from(vec![0x10; 50]),
                Duration::from_millis(33),
                true,
                &mut placeholder,
            )
            .unwrap();
        let mut sent = packets[0].bytes.to_vec();
        let (sequence, at) = {
            let p = RtpPacket::parse(&sent).unwrap();
            let at = p
                .extension_value_offset(ExtensionId::new(3).unwrap())
                .unwrap();
            (p.sequence_number, at)
        };
        // A NACK for it before it left (a pacer holds it): nothing (the
        // packet as it will leave is not known yet, and it leaves anyway).
        assert_eq!(s.retransmit(now, sequence, Duration::ZERO), None);
        // The pacer's caller numbers it as it leaves, a second later.
        sent[at..at + 2].copy_from_slice(&[0xbe, 0xef]);
        let left = now + Duration::from_secs(1);
        s.on_sent(left, sequence, sent.clone().into());
        let again = s
            .retransmit(left + Duration::from_millis(900), sequence, Duration::ZERO)
            .expect("kept, aged from when it left");
        assert_eq!(again, sent, "the very packet that left");
    }

    /// A sender of `codecs` writing `extensions`, numbered from fixed seeds.
    fn pinned_sender(codecs: Vec<Codec>, extensions: &[(u16, &str)], rid: Option<&str>) -> Sender {
        let negotiated = NegotiatedMedia {
            mid: "0".into(),
            direction: Direction::SendOnly,
            codecs,
            header_extensions: extensions
                .iter()
                .map(|(id, uri)| HeaderExtension::new(*id, uri))
                .collect(),
            send_rids: rid.iter().map(|r| (*r).to_owned()).collect(),
            recv_rids: vec![],
            remote_ssrcs: vec![],
            remote_msid: None,
        };
        let seeds = StreamSeeds {
            ssrc: 0x1234_5678,
            rtx_ssrc: 0x0abc_def0,
            sequence: 65_534,
            rtx_sequence: 0,
            timestamp: 0xffff_f000,
        };
        Sender::new(
            &negotiated,
            seeds,
            HistoryConfig::default(),
            rid.map(str::to_owned),
        )
        .unwrap()
    }

    /// A digest of packets: each one's length and first 40 bytes in hex
    /// (header, descriptor, start of payload), then an FNV-1a hash of all
    /// their bytes.
    fn digest(packets: &[SentPacket]) -> String {
        let mut out = String::new();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for SentPacket { bytes: p, .. } in packets {
            let p = p.to_vec();
            out.push_str(&format!("{}:", p.len()));
            for b in p.iter().take(40) {
                out.push_str(&format!("{b:02x}"));
            }
            out.push('\n');
            for b in &p {
                hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        out.push_str(&format!("fnv {hash:016x}"));
        out
    }

    /// Packetizes two frames of `frame_len` bytes (the second 33 ms after
    /// the first) at a fixed wall clock, transport-wide numbers from 65,535.
    fn two_frames(s: &mut Sender, frame_len: usize) -> (Vec<SentPacket>, u16) {
        let now = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let frame: Bytes = (0..frame_len)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect::<Vec<u8>>()
            .into();
        let mut twcc = 65_535;
        let mut all = Vec::new();
        for (i, keyframe) in [true, false].into_iter().enumerate() {
            let at = Duration::from_millis(33 * i as u64);
            let (packets, _) = s
                .packetize(
                    now + at,
                    wall + at,
                    1200,
                    &frame,
                    Duration::from_millis(33),
                    keyframe,
                    &mut twcc,
                )
                .unwrap();
            all.extend(packets);
        }
        (all, twcc)
    }

    const EXTENSIONS: [(u16, &str); 3] = [(1, EXT_MID), (2, EXT_ABS_SEND_TIME), (3, EXT_TWCC)];

    /// The exact bytes a VP8 frame becomes (RFC 7741 descriptor with a
    /// 15-bit picture id, RFC 8285 one-byte extensions, sequence numbers
    /// and transport-wide numbers wrapping, the marker on each frame's
    /// last packet): pinned so a faster packetizer cannot change the wire.
    #[test]
    fn a_vp8_frame_becomes_exactly_these_bytes() {
        let mut s = pinned_sender(vec![Codec::new(96, "VP8", 90_000, None)], &EXTENSIONS, None);
        let (packets, twcc) = two_frames(&mut s, 9_765);
        assert_eq!(twcc, 65_535u16.wrapping_add(packets.len() as u16));
        for (i, p) in packets.iter().enumerate() {
            let seq = 65_535u16.wrapping_add(i as u16);
            assert_eq!(p.transport_seq, Some(seq));
            let bytes = p.bytes.to_vec();
            let parsed = RtpPacket::parse(&bytes).unwrap();
            let value = parsed.extensions.get(ExtensionId::new(3).unwrap());
            assert_eq!(value, Some(&seq.to_be_bytes()[..]));
        }
        assert_eq!(digest(&packets), VP8_PINNED);
        assert_eq!(s.counters.packets_sent, packets.len() as u64);
        assert_eq!(s.counters.bytes_sent, 2 * 9_765 + 4 * packets.len() as u64);
        let wire: usize = packets.iter().map(|p| p.bytes.len()).sum();
        assert_eq!(
            s.counters.bytes_sent + s.counters.header_bytes_sent,
            wire as u64
        );
    }

    /// A frame written on many streams is held once: each packet owns its
    /// header and VP8 descriptor and shares the frame's bytes, in the
    /// queue and in the send history, and a retransmission still gives the
    /// whole packet.
    #[test]
    fn packets_share_the_frames_bytes_instead_of_copying_them() {
        let frame = Bytes::from(vec![0x10; 3_000]);
        let mut a = pinned_sender(vec![Codec::new(96, "VP8", 90_000, None)], &EXTENSIONS, None);
        let mut b = pinned_sender(vec![Codec::new(96, "VP8", 90_000, None)], &EXTENSIONS, None);
        let now = Instant::now();
        let mut twcc = 0;
        let mut shared = 0;
        for s in [&mut a, &mut b] {
            let (packets, _) = s
                .packetize(
                    now,
                    SystemTime::now(),
                    1200,
                    &frame,
                    Duration::from_millis(33),
                    true,
                    &mut twcc,
                )
                .unwrap();
            assert_eq!(packets.len(), 3);
            for p in &packets {
                let tail = p.bytes.tail();
                let offset = tail.as_ptr() as usize - frame.as_ptr() as usize;
                assert!(offset + tail.len() <= frame.len(), "a slice of the frame");
                shared += tail.len();
                // RTP header, extensions, 4-byte VP8 descriptor (RFC 7741).
                assert!(p.bytes.head().len() < 40, "{}", p.bytes.head().len());
            }
            let first = packets[0].bytes.clone();
            let sequence = RtpPacket::parse(&first.to_vec()).unwrap().sequence_number;
            s.on_sent(now, sequence, first.clone());
            let again = s.retransmit(now, sequence, Duration::ZERO).unwrap();
            assert_eq!(again, first.to_vec());
        }
        assert_eq!(shared, 2 * 3_000, "every media byte, on both streams");
    }

    /// The same for a simulcast layer, whose packets also carry its rid
    /// (RFC 8852 §3.1).
    #[test]
    fn a_vp8_frame_of_a_simulcast_layer_becomes_exactly_these_bytes() {
        let mut extensions = EXTENSIONS.to_vec();
        extensions.push((10, EXT_RID));
        let mut s = pinned_sender(
            vec![Codec::new(96, "VP8", 90_000, None)],
            &extensions,
            Some("hi"),
        );
        let (packets, _) = two_frames(&mut s, 2_500);
        assert_eq!(digest(&packets), VP8_LAYER_PINNED);
    }

    /// `write_frame`'s duration is the application's: the largest one,
    /// twice, moves the clock on without a panic.
    #[test]
    fn frames_of_the_largest_duration_do_not_overflow_the_media_time() {
        let mut s = pinned_sender(
            vec![Codec::new(111, "opus", 48_000, Some(2))],
            &EXTENSIONS,
            None,
        );
        let now = Instant::now();
        let mut twcc = 0;
        for _ in 0..2 {
            s.packetize(
                now,
                SystemTime::now(),
                1200,
                &Bytes::from(vec![1; 20]),
                Duration::MAX,
                false,
                &mut twcc,
            )
            .unwrap();
        }
    }

    /// `totalSamplesDuration` adds the application's durations: the
    /// largest one, twice, saturates.
    #[test]
    fn a_source_of_the_largest_durations_saturates() {
        let mut source = SourceCounters::default();
        source.count(Duration::MAX);
        source.count(Duration::MAX);
        assert_eq!(source.frames, 2);
        assert_eq!(source.duration, Duration::MAX);
    }

    /// An Opus frame is one packet, never marked (RFC 7587 §4.1).
    #[test]
    fn an_opus_frame_becomes_exactly_these_bytes() {
        let mut s = pinned_sender(
            vec![Codec::new(111, "opus", 48_000, Some(2))],
            &EXTENSIONS,
            None,
        );
        let (packets, _) = two_frames(&mut s, 120);
        assert_eq!(digest(&packets), OPUS_PINNED);
    }

    const VP8_PINNED: &str = concat!(
        "1117:9060fffefffff00012345678bede0003103022007df331ffff0000009080800000070e151c232a31\n",
        "1117:9060fffffffff00012345678bede0003103022007df331000000000080808000afb6bdc4cbd2d9e0\n",
        "1117:90600000fffff00012345678bede0003103022007df3310001000000808080005e656c737a81888f\n",
        "1117:90600001fffff00012345678bede0003103022007df3310002000000808080000d141b222930373e\n",
        "1117:90600002fffff00012345678bede0003103022007df331000300000080808000bdc4cbd2d9e0e7ee\n",
        "1117:90600003fffff00012345678bede0003103022007df3310004000000808080006c737a81888f969d\n",
        "1117:90600004fffff00012345678bede0003103022007df3310005000000808080001b222930373e454c\n",
        "1117:90600005fffff00012345678bede0003103022007df331000600000080808000cbd2d9e0e7eef5fc\n",
        "1117:90e00006fffff00012345678bede0003103022007df3310007000000808080007a81888f969da4ab\n",
        "1117:90600007fffffb9a12345678bede0003103022009fbe3100080000009080800100070e151c232a31\n",
        "1117:90600008fffffb9a12345678bede0003103022009fbe31000900000080808001afb6bdc4cbd2d9e0\n",
        "1117:90600009fffffb9a12345678bede0003103022009fbe31000a000000808080015e656c737a81888f\n",
        "1117:9060000afffffb9a12345678bede0003103022009fbe31000b000000808080010d141b222930373e\n",
        "1117:9060000bfffffb9a12345678bede0003103022009fbe31000c00000080808001bdc4cbd2d9e0e7ee\n",
        "1117:9060000cfffffb9a12345678bede0003103022009fbe31000d000000808080016c737a81888f969d\n",
        "1117:9060000dfffffb9a12345678bede0003103022009fbe31000e000000808080011b222930373e454c\n",
        "1117:9060000efffffb9a12345678bede0003103022009fbe31000f00000080808001cbd2d9e0e7eef5fc\n",
        "1117:90e0000ffffffb9a12345678bede0003103022009fbe310010000000808080017a81888f969da4ab\n",
        "fnv dc75589d0532239b"
    );
    const VP8_LAYER_PINNED: &str = concat!(
        "866:9060fffefffff00012345678bede00031030a1686922007df331ffff9080800000070e151c232a31\n",
        "865:9060fffffffff00012345678bede00031030a1686922007df331000080808000d1d8dfe6edf4fb02\n",
        "865:90e00000fffff00012345678bede00031030a1686922007df3310001808080009ba2a9b0b7bec5cc\n",
        "866:90600001fffffb9a12345678bede00031030a1686922009fbe3100029080800100070e151c232a31\n",
        "865:90600002fffffb9a12345678bede00031030a1686922009fbe31000380808001d1d8dfe6edf4fb02\n",
        "865:90e00003fffffb9a12345678bede00031030a1686922009fbe310004808080019ba2a9b0b7bec5cc\n",
        "fnv 18d7603c89adebaf"
    );
    const OPUS_PINNED: &str = concat!(
        "148:906ffffefffff00012345678bede0003103022007df331ffff00000000070e151c232a31383f464d\n",
        "148:906ffffffffff63012345678bede0003103022009fbe31000000000000070e151c232a31383f464d\n",
        "fnv b2ef3a70f446165f"
    );

    /// RFC 8852 §3.2: an RTX packet never carries `rtp-stream-id`; it names
    /// its layer with `repaired-rtp-stream-id` when that is negotiated.
    #[test]
    fn rtx_of_a_layer_carries_the_repaired_rid_and_never_the_rid() {
        let mut both = layer(&[(10, EXT_RID), (11, EXT_REPAIRED_RID)]);
        let rtx = resent(&mut both);
        let p = RtpPacket::parse(&rtx).unwrap();
        assert_eq!(p.ssrc, 8);
        assert_eq!(p.extensions.get(ExtensionId::new(10).unwrap()), None);
        assert_eq!(
            p.extensions.get(ExtensionId::new(11).unwrap()),
            Some(&b"q"[..])
        );

        let mut rid_only = layer(&[(10, EXT_RID)]);
        let rtx = resent(&mut rid_only);
        let p = RtpPacket::parse(&rtx).unwrap();
        assert_eq!(p.ssrc, 8);
        assert_eq!(p.extensions.get(ExtensionId::new(10).unwrap()), None);
    }

    /// W3C webrtc-stats §5.3.8: `headerBytesSent` counts the RTP header
    /// (and padding) bytes of every packet `bytesSent` counts the payload
    /// of, retransmissions included, so that `headerBytesSent + bytesSent`
    /// is every RTP byte the stream sent. An RTX packet's original sequence
    /// number (RFC 4588 §4) is not media payload: it counts as header.
    #[test]
    fn retransmissions_count_their_headers_in_header_bytes_sent() {
        let with_rtx = layer(&[(10, EXT_RID), (11, EXT_REPAIRED_RID)]);
        let without_rtx = pinned_sender(
            vec![Codec::new(96, "VP8", 90_000, None).with_feedback(&[("nack", None)])],
            &[(3, EXT_TWCC)],
            None,
        );
        for mut s in [with_rtx, without_rtx] {
            let now = Instant::now();
            let mut twcc = 0;
            let (packets, _) = s
                .packetize(
                    now,
                    SystemTime::now(),
                    1200,
                    &Bytes::from(vec![0x10; 50]),
                    Duration::from_millis(33),
                    true,
                    &mut twcc,
                )
                .unwrap();
            let original = packets[0].bytes.to_vec();
            let sequence = RtpPacket::parse(&original).unwrap().sequence_number;
            s.on_sent(now, sequence, original.clone().into());
            let again = s.retransmit(now, sequence, Duration::ZERO).unwrap();
            let c = s.counters;
            assert_eq!((c.packets_sent, c.retransmitted_packets_sent), (2, 1));
            assert_eq!(c.bytes_sent, 2 * c.retransmitted_bytes_sent);
            assert_eq!(
                c.bytes_sent + c.header_bytes_sent,
                (original.len() + again.len()) as u64,
                "{c:?}"
            );
        }
    }

    /// A frame of each codec, with its negotiated codec and payloader:
    /// VP8, VP9, H.264 mode 1 (SPS and PPS in a STAP-A, a 3,000-byte IDR in
    /// FU-As), AV1 (a sequence header and a frame OBU), Opus, PCMU, PCMA.
    fn codec_cases() -> Vec<(Codec, ferrtc_rtp::codec::Codec, Vec<u8>)> {
        use ferrtc_rtp::codec::{Codec as RtpCodec, PacketizationMode};
        let leb = |n: usize| -> Vec<u8> {
            let mut out = Vec::new();
            let mut n = n;
            loop {
                let b = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    out.push(b);
                    break;
                }
                out.push(b | 0x80);
            }
            out
        };
        let body = |n: usize| (0..n).map(|i| (i * 13 + 5) as u8).collect::<Vec<u8>>();
        let h264 = [
            &[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f][..],
            &[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80],
            &[0, 0, 0, 1, 0x65][..],
            &body(3_000),
        ]
        .concat();
        let av1 = [
            vec![0x12, 0x00],
            vec![0x0a],
            leb(12),
            body(12),
            vec![0x32],
            leb(3_000),
            body(3_000),
        ]
        .concat();
        vec![
            (
                Codec::new(96, "VP8", 90_000, None),
                RtpCodec::Vp8,
                body(3_000),
            ),
            (
                Codec::new(98, "VP9", 90_000, None),
                RtpCodec::Vp9,
                body(3_000),
            ),
            (
                Codec::new(102, "H264", 90_000, None).with_fmtp("packetization-mode=1"),
                RtpCodec::H264(PacketizationMode::NonInterleaved),
                h264,
            ),
            (Codec::new(45, "AV1", 90_000, None), RtpCodec::Av1, av1),
            (
                Codec::new(111, "opus", 48_000, Some(2)),
                RtpCodec::Opus,
                body(120),
            ),
            (
                Codec::new(0, "PCMU", 8_000, None),
                RtpCodec::Pcmu,
                body(3_000),
            ),
            (
                Codec::new(8, "PCMA", 8_000, None),
                RtpCodec::Pcma,
                body(160),
            ),
        ]
    }

    /// For every codec, each packet `packetize` writes is the header then
    /// exactly the payload the payloader's `payload` gives, whatever part
    /// of it is shared with the frame, and its whole header (also in the
    /// two-byte extension form of RFC 8285 §4.3: a mid over 16 bytes) is
    /// inside `head()`, where the transport-wide number is read and
    /// patched.
    #[test]
    fn every_codecs_packets_are_the_header_then_its_payloaders_payload() {
        let mut extensions = EXTENSIONS.to_vec();
        extensions.push((10, EXT_RID));
        for (codec, rtp, frame) in codec_cases() {
            for (mid, rid) in [
                ("0", None),
                ("a-mid-of-thirty-two-bytes-long!!", Some("layer-hi")),
            ] {
                let negotiated = NegotiatedMedia {
                    mid: mid.into(),
                    direction: Direction::SendOnly,
                    codecs: vec![codec.clone()],
                    header_extensions: extensions
                        .iter()
                        .map(|(id, uri)| HeaderExtension::new(*id, uri))
                        .collect(),
                    send_rids: rid.iter().map(|r: &&str| (*r).to_owned()).collect(),
                    recv_rids: vec![],
                    remote_ssrcs: vec![],
                    remote_msid: None,
                };
                let seeds = StreamSeeds {
                    ssrc: 1,
                    rtx_ssrc: 2,
                    sequence: 100,
                    rtx_sequence: 0,
                    timestamp: 0,
                };
                let mut s = Sender::new(
                    &negotiated,
                    seeds,
                    HistoryConfig::default(),
                    rid.map(str::to_owned),
                )
                .unwrap();
                let mut reference = rtp.payloader();
                let frame = Bytes::from(frame.clone());
                let mut twcc = 7;
                for _ in 0..2 {
                    let (packets, _) = s
                        .packetize(
                            Instant::now(),
                            SystemTime::now(),
                            1200,
                            &frame,
                            Duration::from_millis(20),
                            true,
                            &mut twcc,
                        )
                        .unwrap();
                    for p in &packets {
                        let whole = p.bytes.to_vec();
                        let parsed = RtpPacket::parse(&whole).unwrap();
                        let head = RtpPacket::parse(p.bytes.head()).unwrap();
                        assert_eq!(head.header_len(), parsed.header_len(), "{rtp:?} {mid}");
                        let id = ExtensionId::new(3).unwrap();
                        assert_eq!(
                            head.extensions.get(id),
                            p.transport_seq
                                .map(|t| t.to_be_bytes())
                                .as_ref()
                                .map(|b| &b[..]),
                            "{rtp:?} {mid}"
                        );
                    }
                    // The reference payloads, at the room the sender had.
                    let header_len = RtpPacket::parse(packets[0].bytes.head())
                        .unwrap()
                        .header_len();
                    let want = reference.payload(1200 - header_len, &frame).unwrap();
                    let got: Vec<Vec<u8>> = packets
                        .iter()
                        .map(|p| {
                            let whole = p.bytes.to_vec();
                            RtpPacket::parse(&whole).unwrap().payload.to_vec()
                        })
                        .collect();
                    assert_eq!(got, want, "{rtp:?} {mid}");
                }
            }
        }
    }

    /// The packets of VP8, VP9, H.264 (FU-A), Opus and G.711 share the
    /// frame's media instead of copying it (AV1, whose OBUs are rewritten,
    /// copies).
    #[test]
    fn packets_of_every_codec_but_av1_share_the_frames_media() {
        let mut unshared = Vec::new();
        for (codec, rtp, frame) in codec_cases() {
            let mut s = pinned_sender(vec![codec], &EXTENSIONS, None);
            let frame = Bytes::from(frame);
            let (packets, _) = s
                .packetize(
                    Instant::now(),
                    SystemTime::now(),
                    1200,
                    &frame,
                    Duration::from_millis(20),
                    true,
                    &mut 0,
                )
                .unwrap();
            let shared: usize = packets.iter().map(|p| p.bytes.tail().len()).sum();
            if shared == 0 {
                unshared.push(rtp);
            }
        }
        assert_eq!(unshared, [ferrtc_rtp::codec::Codec::Av1]);
    }

    /// RFC 5104 §4.3.1.2: a FIR whose sequence number was already acted
    /// on is a repetition and brings no new keyframe. A stream rebuilt on
    /// its SSRC (a renegotiation that stops and resumes sending) is the
    /// same stream to the requester: a repetition after the rebuild is
    /// still one, a new number still a new request.
    #[test]
    fn a_fir_repeated_after_the_stream_is_rebuilt_on_its_ssrc_asks_for_no_keyframe() {
        let negotiated = NegotiatedMedia {
            mid: "v".into(),
            direction: Direction::SendOnly,
            codecs: vec![Codec::new(96, "VP8", 90_000, None)],
            header_extensions: vec![],
            send_rids: vec![],
            recv_rids: vec![],
            remote_ssrcs: vec![],
            remote_msid: None,
        };
        let seeds = StreamSeeds {
            ssrc: 7,
            rtx_ssrc: 8,
            sequence: 100,
            rtx_sequence: 0,
            timestamp: 0,
        };
        let mut before = Sender::new(&negotiated, seeds, HistoryConfig::default(), None).unwrap();
        assert!(before.on_fir(1, 5), "a new request");
        let c = before.continuation();
        let mut after = Sender::new(&negotiated, c.seeds, HistoryConfig::default(), None).unwrap();
        after.resume(c);
        assert!(!after.on_fir(1, 5), "a repetition after the rebuild");
        assert!(after.on_fir(1, 6), "a new number is a new request");
        assert_eq!(after.counters.fir_count, 3);
    }

    /// RFC 3550 §6.4.1: the sender report's packet and octet counts
    /// restart only with a new SSRC, as `Sender::resume` says. A stream
    /// that stopped sending Opus and resumes on its SSRC with PCMU (another
    /// clock rate) must go on counting; only the RTP time mapping is the
    /// new clock's.
    #[test]
    fn a_stream_resumed_at_another_clock_rate_keeps_its_sender_report_counts() {
        let sender = |codec: Codec, seeds: StreamSeeds| {
            let negotiated = NegotiatedMedia {
                mid: "a".into(),
                direction: Direction::SendOnly,
                codecs: vec![codec],
                header_extensions: vec![],
                send_rids: vec![],
                recv_rids: vec![],
                remote_ssrcs: vec![],
                remote_msid: None,
            };
            Sender::new(&negotiated, seeds, HistoryConfig::default(), None).unwrap()
        };
        let seeds = StreamSeeds {
            ssrc: 7,
            rtx_ssrc: 8,
            sequence: 100,
            rtx_sequence: 0,
            timestamp: 0,
        };
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut twcc = 0;
        let frame = Bytes::from(vec![0x55; 40]);
        let mut opus = sender(Codec::new(111, "opus", 48_000, Some(2)), seeds);
        for _ in 0..3 {
            opus.packetize(
                now,
                wall,
                1200,
                &frame,
                Duration::from_millis(20),
                false,
                &mut twcc,
            )
            .unwrap();
        }
        let before = opus.sender_report(now, wall).unwrap();
        assert_eq!((before.packet_count, before.octet_count), (3, 120));
        let c = opus.continuation();
        let mut pcmu = sender(Codec::new(0, "PCMU", 8_000, None), c.seeds);
        pcmu.resume(c);
        pcmu.packetize(
            now,
            wall,
            1200,
            &frame,
            Duration::from_millis(20),
            false,
            &mut twcc,
        )
        .unwrap();
        let after = pcmu.sender_report(now, wall).unwrap();
        assert_eq!(after.ssrc, before.ssrc, "the same SSRC");
        assert_eq!(
            (after.packet_count, after.octet_count),
            (4, 160),
            "the counts go on on the same SSRC"
        );
    }
}
