//! The `getStats()` objects of the media session (W3C webrtc-stats §5.3):
//! `inbound-rtp`, `outbound-rtp`, `remote-inbound-rtp`,
//! `remote-outbound-rtp`, `codec` and `media-source`, linked by id the way
//! browsers link them (`codecId`, `remoteId`, `localId`, `mediaSourceId`).
//! JSEP's transceivers give what the session does not keep: the
//! negotiated codecs' names and parameters, the senders' tracks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrtc_jsep::{Codec as SdpCodec, Transceiver, TransceiverId};
use ferrtc_rtp::rtcp::ReportBlock;
use ferrtc_sdp::MediaKind;

use super::MediaSession;
use super::codec::Negotiated;
use super::sender::OutboundCounters;
use crate::stats::{
    CodecStats, InboundRtpStats, MediaSourceStats, OutboundRtpStats, RemoteInboundRtpStats,
    RemoteOutboundRtpStats, Stats,
};

/// Browsers' stats ids name the kind with one letter.
fn kind_letter(video: bool) -> char {
    if video { 'V' } else { 'A' }
}

fn kind_str(video: bool) -> &'static str {
    if video { "video" } else { "audio" }
}

/// Seconds from 1900 (NTP's era 0) to 1970 (RFC 5905 §6).
const NTP_UNIX_OFFSET: f64 = 2_208_988_800.0;

/// A 64-bit NTP timestamp (RFC 3550 §4) in milliseconds since the Unix
/// epoch.
fn ntp_to_unix_ms(ntp: u64) -> f64 {
    let seconds = (ntp >> 32) as f64;
    let fraction = (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0;
    (seconds - NTP_UNIX_OFFSET + fraction) * 1000.0
}

/// A wall-clock time in milliseconds since the Unix epoch (W3C
/// `DOMHighResTimeStamp` of a stats `timestamp`).
fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The negotiated codec of transceiver `t` with payload type `pt`.
fn sdp_codec(transceivers: &[Transceiver], t: TransceiverId, pt: u8) -> Option<&SdpCodec> {
    transceivers
        .iter()
        .find(|x| x.id() == t)?
        .negotiated()?
        .codecs
        .iter()
        .find(|c| c.payload_type == pt)
}

/// The `codec` object of a payload type as Chromium names it: `CIT01_111`
/// for a receiving one, `COT01_...` for a sending one, the fmtp appended.
fn codec_stats(
    direction: char,
    timestamp: f64,
    transport: &str,
    video: bool,
    c: &SdpCodec,
) -> CodecStats {
    let mut id = format!("C{direction}{transport}_{}", c.payload_type);
    if let Some(fmtp) = &c.fmtp {
        id.push('_');
        id.push_str(fmtp);
    }
    CodecStats {
        id,
        timestamp,
        transport_id: transport.to_owned(),
        payload_type: c.payload_type,
        mime_type: format!("{}/{}", kind_str(video), c.name),
        clock_rate: c.clock_rate,
        channels: c.channels,
        sdp_fmtp_line: c.fmtp.clone(),
    }
}

/// The `outbound-rtp` id of a sent stream (Chromium: `OT01V1234`).
fn outbound_id(video: bool, ssrc: u32) -> String {
    format!("OT01{}{ssrc}", kind_letter(video))
}

/// The `remote-inbound-rtp` id of a sent stream (Chromium: `RI01V1234`).
fn remote_inbound_id(video: bool, ssrc: u32) -> String {
    format!("RI01{}{ssrc}", kind_letter(video))
}

/// The `media-source` id of a transceiver's sender track (Chromium: `SA1`).
fn source_id(t: TransceiverId, video: bool) -> String {
    format!("S{}{}", kind_letter(video), t.index())
}

/// The transceivers whose sender has a track: a media source each.
fn sources(transceivers: &[Transceiver]) -> impl Iterator<Item = (&Transceiver, &str, bool)> {
    transceivers.iter().filter_map(|t| {
        let video = match t.kind() {
            MediaKind::Audio => false,
            MediaKind::Video => true,
            _ => return None,
        };
        let track = t.init().track_id.as_deref().filter(|_| !t.is_stopped())?;
        Some((t, track, video))
    })
}

impl MediaSession {
    /// Every stats object of the RTP streams at `timestamp` on the bundled
    /// transport `transport` (the remote ones stamped with the arrival of
    /// the RTCP they show).
    pub fn rtp_stats(
        &self,
        timestamp: f64,
        transport: &str,
        transceivers: &[Transceiver],
    ) -> Vec<Stats> {
        let mut out = Vec::new();
        self.inbound_stats(timestamp, transport, transceivers, &mut out);
        self.outbound_stats(timestamp, transport, transceivers, &mut out);
        self.remote_inbound_stats(transport, transceivers, &mut out);
        for (t, track, video) in sources(transceivers) {
            // What was written on the transceiver's first layer, kept
            // through negotiations (W3C webrtc-stats: no counter goes
            // back under one id).
            let source = self.sources.get(&t.id()).copied().unwrap_or_default();
            out.push(Stats::MediaSource(MediaSourceStats {
                id: source_id(t.id(), video),
                timestamp,
                track_identifier: track.to_owned(),
                kind: kind_str(video),
                frames: video.then_some(source.frames),
                total_samples_duration: (!video).then_some(source.duration.as_secs_f64()),
            }));
        }
        out
    }

    /// `inbound-rtp` per stream received (per simulcast layer), its `codec`, and its
    /// `remote-outbound-rtp` once the sender reported.
    fn inbound_stats(
        &self,
        timestamp: f64,
        transport: &str,
        transceivers: &[Transceiver],
        out: &mut Vec<Stats>,
    ) {
        let layers = self
            .receivers
            .iter()
            .flat_map(|(t, r)| r.layers().iter().map(move |l| (t, r, l)));
        for (t, r, l) in layers {
            let (Some(ssrc), Some(codec)) = (l.ssrc(), l.codec()) else {
                continue;
            };
            let video = codec.codec.is_video();
            let kind = kind_str(video);
            let id = format!("IT01{}{ssrc}", kind_letter(video));
            let codec_id = sdp_codec(transceivers, *t, codec.payload_type.get()).map(|c| {
                let c = codec_stats('I', timestamp, transport, video, c);
                let id = c.id.clone();
                out.push(Stats::Codec(c));
                id
            });
            let remote_id = l.remote_sender().map(|sr| {
                let remote = RemoteOutboundRtpStats {
                    id: format!("RO01{}{ssrc}", kind_letter(video)),
                    // W3C webrtc-stats §4: when the sender report arrived.
                    timestamp: unix_ms(sr.received),
                    ssrc,
                    kind,
                    transport_id: transport.to_owned(),
                    codec_id: codec_id.clone(),
                    local_id: id.clone(),
                    packets_sent: sr.packets_sent,
                    bytes_sent: sr.octets_sent,
                    remote_timestamp: ntp_to_unix_ms(sr.ntp_time),
                    reports_sent: sr.reports,
                };
                let id = remote.id.clone();
                out.push(Stats::RemoteOutboundRtp(remote));
                id
            });
            let (lost, jitter) = l.loss_and_jitter();
            let c = l.counters;
            out.push(Stats::InboundRtp(InboundRtpStats {
                id,
                timestamp,
                ssrc,
                kind,
                transport_id: transport.to_owned(),
                mid: r.mid.clone(),
                rid: l.rid.clone(),
                packets_received: c.packets_received,
                bytes_received: c.bytes_received,
                header_bytes_received: c.header_bytes_received,
                packets_lost: lost,
                packets_discarded: c.packets_discarded,
                jitter,
                nack_count: c.nack_count,
                pli_count: c.pli_count,
                frames_received: c.frames_received,
                frames_decoded: c.frames_received,
                key_frames_decoded: c.key_frames_received,
                codec_id,
                remote_id,
                retransmitted_packets_received: c.retransmitted_packets_received,
                retransmitted_bytes_received: c.retransmitted_bytes_received,
                jitter_buffer_delay: video.then_some(c.jitter_buffer_delay.as_secs_f64()),
                jitter_buffer_target_delay: video
                    .then_some(c.jitter_buffer_target_delay.as_secs_f64()),
                jitter_buffer_emitted_count: video.then_some(c.jitter_buffer_emitted_count),
            }));
        }
    }

    /// The RTP streams this session sent: those of its senders, and those
    /// of transceivers that do not send now, frozen where they stood (W3C
    /// webrtc-stats §5.3: an RTP stream's objects are not deleted while
    /// its transceiver does not send, only when it stops).
    fn sent_streams(&self) -> impl Iterator<Item = SentStream<'_>> {
        let live = self.senders.iter().map(|((t, _), s)| SentStream {
            transceiver: *t,
            mid: &s.mid,
            rid: s.rid.as_deref(),
            active: s.active,
            ssrc: s.ssrc,
            rtx_ssrc: s.rtx_ssrc(),
            codec: s.codec,
            counters: s.counters,
            remote_report: s.remote_report,
            rtt: s.rtt(),
            rtt_measurements: s.rtt_measurements,
        });
        let retired = self
            .retired
            .iter()
            .flat_map(|(t, kept)| kept.iter().map(move |c| (t, c)));
        let retired = retired.map(|(t, c)| SentStream {
            transceiver: *t,
            mid: &c.mid,
            rid: c.rid.as_deref(),
            active: !self.is_inactive(*t, c.encoding.as_deref()),
            ssrc: c.seeds.ssrc,
            rtx_ssrc: c.rtx_ssrc(),
            codec: c.codec,
            counters: c.counters,
            remote_report: c.remote_report,
            rtt: c.rtt(),
            rtt_measurements: c.rtt_measurements,
        });
        live.chain(retired)
    }

    /// `outbound-rtp` per sent stream (per simulcast layer), and its
    /// `codec`.
    fn outbound_stats(
        &self,
        timestamp: f64,
        transport: &str,
        transceivers: &[Transceiver],
        out: &mut Vec<Stats>,
    ) {
        for s in self.sent_streams() {
            let t = s.transceiver;
            let c = s.counters;
            let video = s.codec.codec.is_video();
            let codec_id = sdp_codec(transceivers, t, s.codec.payload_type.get()).map(|c| {
                let c = codec_stats('O', timestamp, transport, video, c);
                let id = c.id.clone();
                out.push(Stats::Codec(c));
                id
            });
            let media_source_id = sources(transceivers)
                .any(|(x, _, _)| x.id() == t)
                .then(|| source_id(t, video));
            // W3C webrtc-stats §5.3.8 remoteId: the remote-inbound-rtp of
            // the SSRC, which exists once a receiver report came.
            let remote_id = s.remote_report.map(|_| remote_inbound_id(video, s.ssrc));
            out.push(Stats::OutboundRtp(OutboundRtpStats {
                id: outbound_id(video, s.ssrc),
                timestamp,
                ssrc: s.ssrc,
                kind: kind_str(video),
                transport_id: transport.to_owned(),
                mid: s.mid.to_owned(),
                rid: s.rid.map(str::to_owned),
                active: s.active,
                rtx_ssrc: s.rtx_ssrc,
                codec_id,
                media_source_id,
                remote_id,
                packets_sent: c.packets_sent,
                bytes_sent: c.bytes_sent,
                header_bytes_sent: c.header_bytes_sent,
                retransmitted_packets_sent: c.retransmitted_packets_sent,
                retransmitted_bytes_sent: c.retransmitted_bytes_sent,
                frames_sent: c.frames_sent,
                key_frames_encoded: c.key_frames_sent,
                nack_count: c.nack_count,
                pli_count: c.pli_count,
                fir_count: c.fir_count,
            }));
        }
    }

    /// `remote-inbound-rtp` per sent stream the peer reported on.
    fn remote_inbound_stats(
        &self,
        transport: &str,
        transceivers: &[Transceiver],
        out: &mut Vec<Stats>,
    ) {
        for s in self.sent_streams() {
            let Some((b, received)) = s.remote_report else {
                continue;
            };
            let video = s.codec.codec.is_video();
            // W3C webrtc-stats RTCRtpStreamStats.codecId: the codec the
            // `outbound-rtp` of the stream names.
            let codec_id = sdp_codec(transceivers, s.transceiver, s.codec.payload_type.get())
                .map(|c| codec_stats('O', 0.0, transport, video, c).id);
            out.push(Stats::RemoteInboundRtp(RemoteInboundRtpStats {
                id: remote_inbound_id(video, s.ssrc),
                // W3C webrtc-stats §4: remote statistics are stamped with
                // the arrival of the RTCP that carried them.
                timestamp: unix_ms(received),
                ssrc: s.ssrc,
                kind: kind_str(video),
                transport_id: transport.to_owned(),
                codec_id,
                local_id: outbound_id(video, s.ssrc),
                packets_lost: i64::from(b.cumulative_lost),
                fraction_lost: f64::from(b.fraction_lost) / 256.0,
                jitter: f64::from(b.jitter) / f64::from(s.codec.clock_rate),
                round_trip_time: s.rtt.map(|d| d.as_secs_f64()),
                round_trip_time_measurements: s.rtt_measurements,
            }));
        }
    }
}

/// What the stats of one sent RTP stream are made of.
struct SentStream<'a> {
    transceiver: TransceiverId,
    mid: &'a str,
    rid: Option<&'a str>,
    /// W3C `active`: whether the application set its encoding active.
    active: bool,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    codec: Negotiated,
    counters: OutboundCounters,
    remote_report: Option<(ReportBlock, SystemTime)>,
    rtt: Option<Duration>,
    rtt_measurements: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_timestamps_become_unix_milliseconds() {
        // 2001-09-09T01:46:40.5Z is 1,000,000,000.5 s after 1970.
        let ntp = ((1_000_000_000u64 + 2_208_988_800) << 32) | 0x8000_0000;
        assert_eq!(ntp_to_unix_ms(ntp), 1_000_000_000_500.0);
    }
}
