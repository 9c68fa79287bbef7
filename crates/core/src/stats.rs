//! `getStats()`: a report keyed by id with the W3C webrtc-stats types
//! (W3C webrtc-stats §2, §5), serialised to the same JSON shape a browser
//! gives for `Object.fromEntries(await pc.getStats())`.

use std::collections::BTreeMap;

use ferrtc_datachannel::DataChannels;
use ferrtc_dtls::{Certificate, Dtls, HashAlgorithm, Role, TransportState};
use ferrtc_ice::Agent;
use serde::Serialize;

use crate::connection::ConnectionStats;
use crate::event::IceConnectionState;

/// A stats report: every stats object by its `id` (W3C `RTCStatsReport`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
#[doc(alias = "RTCStatsReport")]
pub struct StatsReport {
    /// The stats objects by id.
    pub stats: BTreeMap<String, Stats>,
}

impl StatsReport {
    pub(crate) fn insert(&mut self, s: Stats) {
        self.stats.insert(s.id().to_owned(), s);
    }

    /// The first object of a given W3C type (`"transport"`, ...).
    pub fn first_of_type(&self, kind: &str) -> Option<&Stats> {
        self.stats.values().find(|s| s.kind() == kind)
    }

    /// The stats selection algorithm (W3C webrtc-pc §8.5): the objects
    /// `root` picks and every object they reference directly or
    /// indirectly (`transportId`, `codecId`, `remoteId`, `localId`,
    /// `mediaSourceId`, `selectedCandidatePairId`, the candidate and
    /// certificate ids). An `RTCRtpSender`'s report is
    /// `select(|s| s is one of its outbound-rtp)`, an `RTCRtpReceiver`'s
    /// the same with its `inbound-rtp`: every id in the result names an
    /// object of the result.
    pub fn select(&self, root: impl Fn(&Stats) -> bool) -> StatsReport {
        let mut selected = StatsReport::default();
        let mut todo: Vec<&Stats> = self.stats.values().filter(|s| root(s)).collect();
        while let Some(s) = todo.pop() {
            if selected.stats.contains_key(s.id()) {
                continue;
            }
            todo.extend(s.references().filter_map(|id| self.stats.get(id)));
            selected.insert(s.clone());
        }
        selected
    }

    /// The report as JSON text.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One stats object; `type` is the W3C `RTCStatsType`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Stats {
    /// `RTCPeerConnectionStats`.
    PeerConnection(PeerConnectionStats),
    /// `RTCTransportStats`.
    Transport(TransportStats),
    /// `RTCIceCandidatePairStats`.
    CandidatePair(CandidatePairStats),
    /// `RTCIceCandidateStats` of a local candidate.
    LocalCandidate(CandidateStats),
    /// `RTCIceCandidateStats` of a remote candidate.
    RemoteCandidate(CandidateStats),
    /// `RTCCertificateStats`.
    Certificate(CertificateStats),
    /// `RTCDataChannelStats`.
    DataChannel(DataChannelStats),
    /// `RTCSctpTransportStats` (webrtc-stats "provisional" type).
    SctpTransport(SctpTransportStats),
    /// `RTCInboundRtpStreamStats`.
    InboundRtp(InboundRtpStats),
    /// `RTCOutboundRtpStreamStats`.
    OutboundRtp(OutboundRtpStats),
    /// `RTCRemoteInboundRtpStreamStats`.
    RemoteInboundRtp(RemoteInboundRtpStats),
    /// `RTCRemoteOutboundRtpStreamStats`.
    RemoteOutboundRtp(RemoteOutboundRtpStats),
    /// `RTCCodecStats`.
    Codec(CodecStats),
    /// `RTCAudioSourceStats` or `RTCVideoSourceStats`.
    MediaSource(MediaSourceStats),
}

impl Stats {
    /// The object's `id`.
    pub fn id(&self) -> &str {
        match self {
            Stats::PeerConnection(s) => &s.id,
            Stats::Transport(s) => &s.id,
            Stats::CandidatePair(s) => &s.id,
            Stats::LocalCandidate(s) | Stats::RemoteCandidate(s) => &s.id,
            Stats::Certificate(s) => &s.id,
            Stats::DataChannel(s) => &s.id,
            Stats::SctpTransport(s) => &s.id,
            Stats::InboundRtp(s) => &s.id,
            Stats::OutboundRtp(s) => &s.id,
            Stats::RemoteInboundRtp(s) => &s.id,
            Stats::RemoteOutboundRtp(s) => &s.id,
            Stats::Codec(s) => &s.id,
            Stats::MediaSource(s) => &s.id,
        }
    }

    /// The ids of the objects this one references (W3C webrtc-stats:
    /// the members ending in `Id`, `remoteId` and `localId`).
    pub fn references(&self) -> impl Iterator<Item = &str> {
        let ids: [Option<&String>; 4] = match self {
            Stats::PeerConnection(_)
            | Stats::Certificate(_)
            | Stats::DataChannel(_)
            | Stats::MediaSource(_) => [None; 4],
            Stats::Transport(s) => [
                s.selected_candidate_pair_id.as_ref(),
                Some(&s.local_certificate_id),
                s.remote_certificate_id.as_ref(),
                None,
            ],
            Stats::CandidatePair(s) => [
                Some(&s.transport_id),
                Some(&s.local_candidate_id),
                Some(&s.remote_candidate_id),
                None,
            ],
            Stats::LocalCandidate(s) | Stats::RemoteCandidate(s) => {
                [Some(&s.transport_id), None, None, None]
            }
            Stats::SctpTransport(s) => [Some(&s.transport_id), None, None, None],
            Stats::InboundRtp(s) => [
                Some(&s.transport_id),
                s.codec_id.as_ref(),
                s.remote_id.as_ref(),
                None,
            ],
            Stats::OutboundRtp(s) => [
                Some(&s.transport_id),
                s.codec_id.as_ref(),
                s.media_source_id.as_ref(),
                s.remote_id.as_ref(),
            ],
            Stats::RemoteInboundRtp(s) => [
                Some(&s.transport_id),
                s.codec_id.as_ref(),
                Some(&s.local_id),
                None,
            ],
            Stats::RemoteOutboundRtp(s) => [
                Some(&s.transport_id),
                s.codec_id.as_ref(),
                Some(&s.local_id),
                None,
            ],
            Stats::Codec(s) => [Some(&s.transport_id), None, None, None],
        };
        ids.into_iter().flatten().map(String::as_str)
    }

    /// The W3C `type` string.
    pub fn kind(&self) -> &'static str {
        match self {
            Stats::PeerConnection(_) => "peer-connection",
            Stats::Transport(_) => "transport",
            Stats::CandidatePair(_) => "candidate-pair",
            Stats::LocalCandidate(_) => "local-candidate",
            Stats::RemoteCandidate(_) => "remote-candidate",
            Stats::Certificate(_) => "certificate",
            Stats::DataChannel(_) => "data-channel",
            Stats::SctpTransport(_) => "sctp-transport",
            Stats::InboundRtp(_) => "inbound-rtp",
            Stats::OutboundRtp(_) => "outbound-rtp",
            Stats::RemoteInboundRtp(_) => "remote-inbound-rtp",
            Stats::RemoteOutboundRtp(_) => "remote-outbound-rtp",
            Stats::Codec(_) => "codec",
            Stats::MediaSource(_) => "media-source",
        }
    }
}

/// `RTCPeerConnectionStats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerConnectionStats {
    /// `id`.
    pub id: String,
    /// `timestamp`: milliseconds since the Unix epoch.
    pub timestamp: f64,
    /// Channels that reached `open`.
    pub data_channels_opened: u32,
    /// Channels that reached `closed` after `open`.
    pub data_channels_closed: u32,
}

/// `RTCTransportStats` (the one bundled transport).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// Datagrams sent (STUN included).
    pub packets_sent: u64,
    /// Datagrams received (STUN included).
    pub packets_received: u64,
    /// Application (DTLS) bytes sent.
    pub bytes_sent: u64,
    /// Application (DTLS) bytes received.
    pub bytes_received: u64,
    /// `controlling` or `controlled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ice_role: Option<&'static str>,
    /// Local ufrag.
    pub ice_local_username_fragment: String,
    /// `RTCIceTransportState`.
    pub ice_state: &'static str,
    /// `RTCDtlsTransportState`.
    pub dtls_state: &'static str,
    /// `client` or `server`, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtls_role: Option<&'static str>,
    /// The selected candidate pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_candidate_pair_id: Option<String>,
    /// The local certificate.
    pub local_certificate_id: String,
    /// The peer's certificate, once the handshake showed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_certificate_id: Option<String>,
    /// `selectedCandidatePairChanges`: times the selected pair changed,
    /// from none to one and from one to none included.
    pub selected_candidate_pair_changes: u64,
}

/// `RTCIceCandidatePairStats`: a pair of the ICE check list, or the
/// selected pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidatePairStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// The transport.
    pub transport_id: String,
    /// The local candidate.
    pub local_candidate_id: String,
    /// The remote candidate.
    pub remote_candidate_id: String,
    /// `RTCStatsIceCandidatePairState`.
    pub state: &'static str,
    /// Whether the pair was nominated.
    pub nominated: bool,
    /// `packetsSent`: application datagrams sent on this pair (not on
    /// pairs selected before it), ICE checks left out; zero on a pair that
    /// never carried data.
    pub packets_sent: u64,
    /// `packetsReceived`: application datagrams received on this pair.
    pub packets_received: u64,
    /// `bytesSent`: application bytes sent on this pair.
    pub bytes_sent: u64,
    /// `bytesReceived`: application bytes received on this pair.
    pub bytes_received: u64,
    /// `currentRoundTripTime` in seconds: the latest STUN round trip on the pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_round_trip_time: Option<f64>,
    /// `totalRoundTripTime` in seconds, over `responsesReceived` responses.
    pub total_round_trip_time: f64,
    /// `responsesReceived`: connectivity and (on the selected pair)
    /// consent responses measured.
    pub responses_received: u64,
    /// `availableOutgoingBitrate` in bits per second: the send-side
    /// bandwidth estimate (transport-cc feedback, GCC), when transport-cc is
    /// negotiated; on the selected pair only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_outgoing_bitrate: Option<f64>,
}

/// `RTCIceCandidateStats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// The transport.
    pub transport_id: String,
    /// IP address or mDNS name.
    pub address: String,
    /// Port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub protocol: &'static str,
    /// `host`, `srflx`, `prflx` or `relay`.
    pub candidate_type: &'static str,
    /// `tcpType` of a TCP candidate (RFC 6544): `active`, `passive` or `so`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_type: Option<&'static str>,
    /// `relayProtocol` of a local relayed candidate: how its TURN server is
    /// reached (`udp`, `tcp` or `tls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_protocol: Option<&'static str>,
    /// Priority.
    pub priority: u32,
    /// Foundation.
    pub foundation: String,
}

/// `RTCCertificateStats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// Hex fingerprint, `AB:CD:...`.
    pub fingerprint: String,
    /// `sha-256`.
    pub fingerprint_algorithm: String,
    /// The DER certificate in base64.
    pub base64_certificate: String,
}

/// `RTCDataChannelStats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataChannelStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// `label`.
    pub label: String,
    /// `protocol`.
    pub protocol: String,
    /// The SCTP stream id, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_channel_identifier: Option<u16>,
    /// `RTCDataChannelState`.
    pub state: &'static str,
    /// Messages sent.
    pub messages_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
}

/// `RTCSctpTransportStats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SctpTransportStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// The DTLS transport.
    pub transport_id: String,
    /// Smoothed round-trip time (seconds), measured by SCTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothed_round_trip_time: Option<f64>,
    /// Congestion window (bytes).
    pub congestion_window: u64,
    /// Bytes queued, all streams.
    pub unack_data: u64,
}

/// `RTCInboundRtpStreamStats` (W3C webrtc-stats §5.3.5): one per stream
/// received.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[doc(alias = "RTCInboundRtpStreamStats")]
pub struct InboundRtpStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// `ssrc`.
    pub ssrc: u32,
    /// `kind`: `audio` or `video`.
    pub kind: &'static str,
    /// `transportId`.
    pub transport_id: String,
    /// `mid`.
    pub mid: String,
    /// `rid`: the simulcast layer's RFC 8852 rid, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// `packetsReceived`.
    pub packets_received: u64,
    /// `bytesReceived`.
    pub bytes_received: u64,
    /// `headerBytesReceived`.
    pub header_bytes_received: u64,
    /// `packetsLost` (RFC 3550 A.3: expected less received; may be negative).
    pub packets_lost: i64,
    /// `packetsDiscarded`.
    pub packets_discarded: u64,
    /// `jitter` in seconds (RFC 3550 A.8).
    pub jitter: f64,
    /// `nackCount`: NACK packets sent.
    pub nack_count: u64,
    /// `pliCount`: PLI packets sent.
    pub pli_count: u64,
    /// `framesReceived`: whole frames out of the jitter buffer (before any
    /// decoder: ferrtc does not decode).
    pub frames_received: u64,
    /// `framesDecoded`: ferrtc does not decode; this counts the frames
    /// assembled and handed to the application ([`crate::Event::TrackFrame`]),
    /// the same as `framesReceived`.
    pub frames_decoded: u64,
    /// `keyFramesDecoded`: the keyframes among `framesDecoded`.
    pub key_frames_decoded: u64,
    /// `codecId`: the `codec` of the stream's payload type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_id: Option<String>,
    /// `remoteId`: the `remote-outbound-rtp` from the sender's reports,
    /// once one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// `retransmittedPacketsReceived`.
    pub retransmitted_packets_received: u64,
    /// `retransmittedBytesReceived`.
    pub retransmitted_bytes_received: u64,
    /// `jitterBufferDelay` in seconds: for each video frame out of the
    /// jitter buffer, the time from its first packet's arrival to its
    /// release, summed. Video only: for audio the W3C counts decoded
    /// samples, which ferrtc does not make.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_buffer_delay: Option<f64>,
    /// `jitterBufferTargetDelay` in seconds: for each video frame out of
    /// the jitter buffer, the hold it was given (the receiver's
    /// `jitterBufferTarget`, zero without one), summed. Video only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_buffer_target_delay: Option<f64>,
    /// `jitterBufferEmittedCount`: the video frames out of the jitter
    /// buffer. Video only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_buffer_emitted_count: Option<u64>,
}

/// `RTCOutboundRtpStreamStats` (W3C webrtc-stats §5.3.8): one per sender
/// that can send.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[doc(alias = "RTCOutboundRtpStreamStats")]
pub struct OutboundRtpStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// `ssrc`.
    pub ssrc: u32,
    /// `kind`: `audio` or `video`.
    pub kind: &'static str,
    /// `transportId`.
    pub transport_id: String,
    /// `mid`.
    pub mid: String,
    /// `rid`: the simulcast layer's RFC 8852 rid, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// `active`: whether the encoding is sent (W3C
    /// `RTCRtpEncodingParameters.active`).
    pub active: bool,
    /// `rtxSsrc`, when RTX is negotiated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtx_ssrc: Option<u32>,
    /// `codecId`: the `codec` the sender sends with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_id: Option<String>,
    /// `mediaSourceId`: the `media-source` of the sender's track, if it
    /// has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_source_id: Option<String>,
    /// `remoteId`: the `remote-inbound-rtp` from the peer's receiver
    /// reports about the stream, once one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// `packetsSent`, retransmissions included.
    pub packets_sent: u64,
    /// `bytesSent`, retransmissions included.
    pub bytes_sent: u64,
    /// `headerBytesSent`.
    pub header_bytes_sent: u64,
    /// `retransmittedPacketsSent`.
    pub retransmitted_packets_sent: u64,
    /// `retransmittedBytesSent`.
    pub retransmitted_bytes_sent: u64,
    /// `framesSent`.
    pub frames_sent: u64,
    /// `keyFramesEncoded`: keyframes the application wrote.
    pub key_frames_encoded: u64,
    /// `nackCount`: NACK packets received.
    pub nack_count: u64,
    /// `pliCount`: PLI packets received.
    pub pli_count: u64,
    /// `firCount`: FIR packets received.
    pub fir_count: u64,
}

/// `RTCRemoteInboundRtpStreamStats` (W3C webrtc-stats §5.3.7): what the
/// peer's receiver reports say about one of our senders' streams.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[doc(alias = "RTCRemoteInboundRtpStreamStats")]
pub struct RemoteInboundRtpStats {
    /// `id`.
    pub id: String,
    /// `timestamp`: when the last receiver report about the stream
    /// arrived (W3C webrtc-stats §4: remote statistics are stamped with
    /// their arrival), in milliseconds since the Unix epoch.
    pub timestamp: f64,
    /// `ssrc`.
    pub ssrc: u32,
    /// `kind`.
    pub kind: &'static str,
    /// `transportId`.
    pub transport_id: String,
    /// `codecId`: the `codec` of the stream reported on (the one its
    /// `outbound-rtp` names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_id: Option<String>,
    /// `localId`: the `outbound-rtp` this reports on.
    pub local_id: String,
    /// `packetsLost` (cumulative, from the report block).
    pub packets_lost: i64,
    /// `fractionLost` since the previous report (0..=1).
    pub fraction_lost: f64,
    /// `jitter` in seconds.
    pub jitter: f64,
    /// `roundTripTime` in seconds (RFC 3550 §6.4.1: A - LSR - DLSR), once
    /// measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trip_time: Option<f64>,
    /// `roundTripTimeMeasurements`.
    pub round_trip_time_measurements: u64,
}

/// `RTCRemoteOutboundRtpStreamStats` (W3C webrtc-stats §5.3.9): what the
/// peer's sender reports (RFC 3550 §6.4.1) say about a stream we receive.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[doc(alias = "RTCRemoteOutboundRtpStreamStats")]
pub struct RemoteOutboundRtpStats {
    /// `id`.
    pub id: String,
    /// `timestamp`: when the sender report arrived (W3C webrtc-stats §4:
    /// remote statistics are stamped with their arrival), in milliseconds
    /// since the Unix epoch.
    pub timestamp: f64,
    /// `ssrc`.
    pub ssrc: u32,
    /// `kind`.
    pub kind: &'static str,
    /// `transportId`.
    pub transport_id: String,
    /// `codecId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_id: Option<String>,
    /// `localId`: the `inbound-rtp` of the stream.
    pub local_id: String,
    /// `packetsSent`: the sender report's packet count.
    pub packets_sent: u64,
    /// `bytesSent`: the sender report's octet count (payload bytes).
    pub bytes_sent: u64,
    /// `remoteTimestamp`: the sender report's NTP time, in milliseconds
    /// since the Unix epoch.
    pub remote_timestamp: f64,
    /// `reportsSent`: sender reports received about the stream.
    pub reports_sent: u64,
}

/// `RTCCodecStats` (W3C webrtc-stats §5.3.3): a payload type in use by an
/// RTP stream of the transport (browsers expose only those).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[doc(alias = "RTCCodecStats")]
pub struct CodecStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// `transportId`.
    pub transport_id: String,
    /// `payloadType`.
    pub payload_type: u8,
    /// `mimeType`: `audio/opus`, `video/VP8`, ... (the kind, then the
    /// encoding name as negotiated).
    pub mime_type: String,
    /// `clockRate`.
    pub clock_rate: u32,
    /// `channels`, when the rtpmap says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
    /// `sdpFmtpLine`: the `a=fmtp` parameters, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdp_fmtp_line: Option<String>,
}

/// `RTCMediaSourceStats` (W3C webrtc-stats §5.3.10), with the members of
/// `RTCAudioSourceStats` or `RTCVideoSourceStats` ferrtc knows: the
/// application writes encoded frames, so there are no levels, sizes or
/// rates, only what was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[doc(alias = "RTCMediaSourceStats")]
pub struct MediaSourceStats {
    /// `id`.
    pub id: String,
    /// `timestamp`.
    pub timestamp: f64,
    /// `trackIdentifier`: the sender's track id.
    pub track_identifier: String,
    /// `kind`: `audio` or `video`.
    pub kind: &'static str,
    /// `frames` (video): frames written on the sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
    /// `totalSamplesDuration` (audio): seconds of audio written, from the
    /// frames' durations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_samples_duration: Option<f64>,
}

/// Standard base64 (RFC 4648 §4) for `base64Certificate`.
pub(crate) fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What a report is made of: the engines of one peer connection, borrowed.
pub(crate) struct Sources<'a> {
    pub(crate) certificate: &'a Certificate,
    pub(crate) ice: Option<&'a Agent>,
    pub(crate) ice_state: IceConnectionState,
    /// The number of the local ICE credentials in use: the generation
    /// of the local candidates.
    pub(crate) local_generation: u32,
    /// The number of the remote credentials in use: the generation of
    /// the check list's remote candidates.
    pub(crate) remote_generation: u32,
    /// The numbers of the generations (local, remote) of the selected
    /// pair and its candidates.
    pub(crate) selected_generation: (u32, u32),
    pub(crate) local_ufrag: &'a str,
    pub(crate) dtls: Option<&'a Dtls>,
    /// The DTLS transport could not be created: its state is `failed`.
    pub(crate) dtls_failed: bool,
    pub(crate) dtls_role: Option<Role>,
    pub(crate) channels: &'a DataChannels,
    pub(crate) counters: ConnectionStats,
    pub(crate) media: Option<&'a crate::media::MediaSession>,
    pub(crate) transceivers: &'a [ferrtc_jsep::Transceiver],
}

/// `getStats()` (W3C webrtc-pc §8.2): the peer connection, its transport,
/// every candidate pair of the ICE check list and the selected one, with
/// their candidates, every local candidate,
/// the certificates, the SCTP transport, the data channels and the media
/// session's RTP stream objects.
/// `wall_clock` gives the `timestamp`s.
pub(crate) fn report(src: &Sources<'_>, wall_clock: std::time::SystemTime) -> StatsReport {
    let timestamp = wall_clock
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let mut report = StatsReport::default();
    report.insert(Stats::PeerConnection(PeerConnectionStats {
        id: "P".into(),
        timestamp,
        data_channels_opened: src.channels.stats().channels_opened,
        data_channels_closed: src.channels.stats().channels_closed,
    }));
    let transport_id = "T01".to_owned();
    let cert = |id: String, der: &[u8]| {
        let f = ferrtc_dtls::Fingerprint::of_der(HashAlgorithm::Sha256, der);
        Stats::Certificate(CertificateStats {
            id,
            timestamp,
            fingerprint: ferrtc_sdp::Fingerprint::from_digest(
                ferrtc_sdp::HashFunction::Sha256,
                f.value(),
            )
            .hex()
            .to_owned(),
            fingerprint_algorithm: "sha-256".into(),
            base64_certificate: base64(der),
        })
    };
    let local_cert = cert("CF-local".into(), src.certificate.der());
    let local_cert_id = local_cert.id().to_owned();
    report.insert(local_cert);
    let remote_cert_id = src.dtls.and_then(Dtls::peer_certificate).map(|der| {
        let c = cert("CF-remote".into(), der);
        let id = c.id().to_owned();
        report.insert(c);
        id
    });
    let candidate = |id: String, c: &ferrtc_ice::Candidate| CandidateStats {
        id,
        timestamp,
        transport_id: transport_id.clone(),
        address: c.address().to_string(),
        port: c.port(),
        protocol: match c.transport() {
            ferrtc_ice::Transport::Udp => "udp",
            _ => "tcp",
        },
        candidate_type: c.kind().as_str(),
        tcp_type: match c.transport() {
            ferrtc_ice::Transport::Tcp(ferrtc_ice::TcpType::Active) => Some("active"),
            ferrtc_ice::Transport::Tcp(ferrtc_ice::TcpType::Passive) => Some("passive"),
            ferrtc_ice::Transport::Tcp(ferrtc_ice::TcpType::SimultaneousOpen) => Some("so"),
            ferrtc_ice::Transport::Udp => None,
        },
        relay_protocol: None,
        priority: c.priority(),
        foundation: c.foundation().as_str().to_owned(),
    };
    let local = |id: String, c: &ferrtc_ice::Candidate, ice: &ferrtc_ice::Agent| {
        let relay_protocol =
            c.socket_addr()
                .and_then(|a| ice.relay_transport(a))
                .map(|t| match t {
                    ferrtc_ice::TurnTransport::Udp => "udp",
                    ferrtc_ice::TurnTransport::Tcp => "tcp",
                    ferrtc_ice::TurnTransport::Tls => "tls",
                });
        CandidateStats {
            relay_protocol,
            ..candidate(id, c)
        }
    };
    // W3C webrtc-stats §5: one object per candidate, its id the same on
    // every call. Address, port and type alone do not tell a UDP host
    // candidate from a passive TCP one on the same port (RFC 6544): the
    // transport is part of the id. Nor do they tell candidates of two ICE
    // generations apart (RFC 8445 §9: a restart makes new candidates, and
    // pairs of them, on the same addresses): the number of the side's
    // ufrag is too, so no id names two objects over the connection's life.
    let candidate_id = |side: &str, generation: u32, c: &ferrtc_ice::Candidate| {
        let transport = match c.transport() {
            ferrtc_ice::Transport::Udp => "udp",
            ferrtc_ice::Transport::Tcp(ferrtc_ice::TcpType::Active) => "tcp-active",
            ferrtc_ice::Transport::Tcp(ferrtc_ice::TcpType::Passive) => "tcp-passive",
            ferrtc_ice::Transport::Tcp(ferrtc_ice::TcpType::SimultaneousOpen) => "tcp-so",
        };
        format!(
            "I{side}{generation}-{}-{}-{}-{transport}",
            c.address(),
            c.port(),
            c.kind().as_str()
        )
    };
    let mut pair_id = None;
    if let Some(ice) = src.ice {
        for c in ice.local_candidates() {
            let id = candidate_id("L", src.local_generation, c);
            report.insert(Stats::LocalCandidate(local(id, c, ice)));
        }
        // W3C webrtc-stats RTCIceCandidatePairStats: every pair of the
        // check list (at most the agent's `max_pairs`), with its
        // candidates. The selected one is reported below with its own
        // figures (consent checks and all), after these, so that it wins
        // should another pair present the same candidates.
        for p in ice.candidate_pairs().filter(|p| !p.selected) {
            let (l, r) = (
                candidate_id("L", src.local_generation, &p.local),
                candidate_id("R", src.remote_generation, &p.remote),
            );
            report.insert(Stats::LocalCandidate(local(l.clone(), &p.local, ice)));
            report.insert(Stats::RemoteCandidate(candidate(r.clone(), &p.remote)));
            report.insert(Stats::CandidatePair(CandidatePairStats {
                id: format!("CP{l}_{r}"),
                timestamp,
                transport_id: transport_id.clone(),
                local_candidate_id: l,
                remote_candidate_id: r,
                state: pair_state_str(p.state),
                nominated: p.nominated,
                packets_sent: p.traffic.packets_sent,
                packets_received: p.traffic.packets_received,
                bytes_sent: p.traffic.bytes_sent,
                bytes_received: p.traffic.bytes_received,
                current_round_trip_time: p.round_trip.current.map(|d| d.as_secs_f64()),
                total_round_trip_time: p.round_trip.total.as_secs_f64(),
                responses_received: p.round_trip.responses_received,
                // The estimate is of the path data takes: the selected pair's.
                available_outgoing_bitrate: None,
            }));
        }
        if let Some(p) = ice.selected_pair() {
            let (local_generation, remote_generation) = src.selected_generation;
            let (l, r) = (
                candidate_id("L", local_generation, &p.local),
                candidate_id("R", remote_generation, &p.remote),
            );
            report.insert(Stats::LocalCandidate(local(l.clone(), &p.local, ice)));
            report.insert(Stats::RemoteCandidate(candidate(r.clone(), &p.remote)));
            let id = format!("CP{l}_{r}");
            let rtt = ice.selected_pair_round_trip().unwrap_or_default();
            // W3C webrtc-stats RTCIceCandidatePairStats: what went over this pair, not the
            // transport's totals (which include pairs selected before).
            let traffic = ice.selected_pair_traffic().unwrap_or_default();
            report.insert(Stats::CandidatePair(CandidatePairStats {
                id: id.clone(),
                timestamp,
                transport_id: transport_id.clone(),
                local_candidate_id: l,
                remote_candidate_id: r,
                state: "succeeded",
                nominated: true,
                packets_sent: traffic.packets_sent,
                packets_received: traffic.packets_received,
                bytes_sent: traffic.bytes_sent,
                bytes_received: traffic.bytes_received,
                current_round_trip_time: rtt.current.map(|d| d.as_secs_f64()),
                total_round_trip_time: rtt.total.as_secs_f64(),
                responses_received: rtt.responses_received,
                available_outgoing_bitrate: src
                    .media
                    .and_then(crate::media::MediaSession::available_outgoing_bitrate)
                    .map(|b| b as f64),
            }));
            pair_id = Some(id);
        }
    }
    let ice_stats = src.ice.map(|i| *i.stats()).unwrap_or_default();
    report.insert(Stats::Transport(TransportStats {
        id: transport_id.clone(),
        timestamp,
        packets_sent: src.counters.datagrams_sent,
        packets_received: src.counters.datagrams_received,
        bytes_sent: ice_stats.bytes_sent,
        bytes_received: ice_stats.bytes_received,
        ice_role: src.ice.map(|i| {
            if i.is_controlling() {
                "controlling"
            } else {
                "controlled"
            }
        }),
        ice_local_username_fragment: src.local_ufrag.to_owned(),
        ice_state: ice_state_str(src.ice_state),
        dtls_state: match src.dtls.map(Dtls::state) {
            None if src.dtls_failed => "failed",
            None => "new",
            Some(TransportState::Connecting) => "connecting",
            Some(TransportState::Connected) => "connected",
            Some(TransportState::Closed) => "closed",
            Some(TransportState::Failed) => "failed",
        },
        dtls_role: src.dtls_role.map(|r| match r {
            Role::Client => "client",
            Role::Server => "server",
        }),
        selected_candidate_pair_id: pair_id,
        local_certificate_id: local_cert_id,
        remote_certificate_id: remote_cert_id,
        selected_candidate_pair_changes: ice_stats.selected_pair_changes,
    }));
    if let Some(sctp) = src.channels.association() {
        let s = sctp.stats();
        report.insert(Stats::SctpTransport(SctpTransportStats {
            id: "S01".into(),
            timestamp,
            transport_id: transport_id.clone(),
            smoothed_round_trip_time: s.srtt.map(|d| d.as_secs_f64()),
            congestion_window: s.cwnd as u64,
            unack_data: sctp.send_buffered() as u64,
        }));
    }
    for (id, c) in src.channels.channel_infos() {
        report.insert(Stats::DataChannel(DataChannelStats {
            id: format!("D{}", id.index()),
            timestamp,
            label: c.label,
            protocol: c.protocol,
            data_channel_identifier: c.id,
            state: c.ready_state.as_str(),
            messages_sent: c.stats.messages_sent,
            bytes_sent: c.stats.bytes_sent,
            messages_received: c.stats.messages_received,
            bytes_received: c.stats.bytes_received,
        }));
    }
    if let Some(media) = src.media {
        for s in media.rtp_stats(timestamp, &transport_id, src.transceivers) {
            report.insert(s);
        }
    }
    report
}

/// The W3C `RTCStatsIceCandidatePairState` string.
fn pair_state_str(s: ferrtc_ice::PairState) -> &'static str {
    match s {
        ferrtc_ice::PairState::Frozen => "frozen",
        ferrtc_ice::PairState::Waiting => "waiting",
        ferrtc_ice::PairState::InProgress => "in-progress",
        ferrtc_ice::PairState::Succeeded => "succeeded",
        ferrtc_ice::PairState::Failed => "failed",
    }
}

/// The W3C `RTCIceTransportState` string.
fn ice_state_str(s: IceConnectionState) -> &'static str {
    match s {
        IceConnectionState::New => "new",
        IceConnectionState::Checking => "checking",
        IceConnectionState::Connected => "connected",
        IceConnectionState::Completed => "completed",
        IceConnectionState::Disconnected => "disconnected",
        IceConnectionState::Failed => "failed",
        IceConnectionState::Closed => "closed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn stats_serialise_with_the_w3c_type_and_camel_case_fields() {
        let mut report = StatsReport::default();
        report.insert(Stats::DataChannel(DataChannelStats {
            id: "D1".into(),
            timestamp: 1.5,
            label: "chat".into(),
            protocol: String::new(),
            data_channel_identifier: Some(1),
            state: "open",
            messages_sent: 2,
            bytes_sent: 3,
            messages_received: 4,
            bytes_received: 5,
        }));
        assert_eq!(
            report.to_json(),
            r#"{"D1":{"type":"data-channel","id":"D1","timestamp":1.5,"label":"chat","protocol":"","dataChannelIdentifier":1,"state":"open","messagesSent":2,"bytesSent":3,"messagesReceived":4,"bytesReceived":5}}"#
        );
    }
}
