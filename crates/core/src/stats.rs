//! `getStats()`: a report keyed by id with the W3C webrtc-stats types
//! (W3C webrtc-stats §2, §5), serialised to the same JSON shape a browser
//! gives for `Object.fromEntries(await pc.getStats())`.

use std::collections::BTreeMap;

use serde::Serialize;

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
        }
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
}

/// `RTCIceCandidatePairStats` (the selected pair).
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
    /// Application bytes sent on the pair.
    pub bytes_sent: u64,
    /// Application bytes received on the pair.
    pub bytes_received: u64,
    /// `currentRoundTripTime` in seconds: the latest STUN round trip on the pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_round_trip_time: Option<f64>,
    /// `totalRoundTripTime` in seconds, over `responsesReceived` responses.
    pub total_round_trip_time: f64,
    /// `responsesReceived`: connectivity and consent responses measured.
    pub responses_received: u64,
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
