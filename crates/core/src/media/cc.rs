//! Transport-wide congestion control on the bundled transport
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01): one transport-wide
//! sequence space for every RTP packet we send, feedback on every packet we
//! receive, and the send-side estimate (`ferrtc-rtp`'s GCC) that feedback
//! feeds. On when the transport-cc extension and `a=rtcp-fb:* transport-cc`
//! are negotiated, as Chromium does.

use std::collections::VecDeque;
use std::time::Instant;

use ferrtc_rtp::cc::Bitrate;
use ferrtc_rtp::cc::estimator::{EstimatorConfig, SendSideEstimator};
use ferrtc_rtp::cc::feedback::{FeedbackConfig, FeedbackGenerator};
use ferrtc_rtp::cc::probe::ProbeCluster;
use ferrtc_rtp::extension::TransportSequence;
use ferrtc_rtp::rtcp::{Remb, RtcpPacket, TransportFeedback};
use ferrtc_rtp::{ExtensionId, RtpPacket};

/// The estimate's ceiling when no sender sets `maxBitrate`.
const DEFAULT_MAX: Bitrate = Bitrate::kbps(20_000);

/// The congestion control state of the media session.
pub(super) struct TransportCc {
    ext: ExtensionId,
    feedback: FeedbackGenerator,
    estimator: SendSideEstimator,
    /// The last transport-wide sequence number reported to the estimator
    /// (retransmissions carry their original one and are not reported again).
    last_sent: Option<u16>,
    /// The media SSRC the feedback names: the last one received.
    media_ssrc: u32,
    /// Probe clusters the estimator planned, filled with the next media
    /// packets (no pacer sends padding yet: a frame's packets leave back to
    /// back, a packet train whose arrival spread measures the path).
    probes: VecDeque<(ProbeCluster, usize, usize)>,
    /// The estimate last announced by an event.
    announced: Option<Bitrate>,
    /// A pacer takes the probe clusters ([`Self::poll_probe`]) when it can
    /// send them.
    paced: bool,
}

impl std::fmt::Debug for TransportCc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportCc")
            .field("ext", &self.ext)
            .field("target", &self.estimator.target_bitrate())
            .finish_non_exhaustive()
    }
}

impl TransportCc {
    /// Transport-wide congestion control with the extension at `ext`.
    pub fn new(ext: ExtensionId) -> Self {
        Self {
            ext,
            feedback: FeedbackGenerator::new(FeedbackConfig::default()),
            estimator: SendSideEstimator::new(EstimatorConfig {
                max: DEFAULT_MAX,
                ..EstimatorConfig::default()
            }),
            last_sent: None,
            media_ssrc: 0,
            probes: VecDeque::new(),
            announced: None,
            paced: false,
        }
    }

    /// The negotiated extension id.
    pub fn ext(&self) -> ExtensionId {
        self.ext
    }

    /// The id changed in a renegotiation.
    pub fn set_ext(&mut self, ext: ExtensionId) {
        self.ext = ext;
    }

    /// The transport-wide sequence number of an RTP packet (before SRTP).
    pub fn sequence_of(&self, plain: &[u8]) -> Option<u16> {
        let p = RtpPacket::parse(plain).ok()?;
        let value = p.extensions.get(self.ext)?;
        TransportSequence::read(value).ok().map(|s| s.0)
    }

    /// Writes `seq` as the transport-wide sequence number of `plain`, an RTP
    /// packet before SRTP whose header holds the extension (a paced packet
    /// is numbered as it leaves). Where the value went, or `None` when the
    /// packet holds no such extension.
    pub fn set_sequence(&self, plain: &mut [u8], seq: u16) -> Option<usize> {
        let at = RtpPacket::parse(plain)
            .ok()
            .and_then(|p| p.extensions.get(self.ext))
            .filter(|v| v.len() == 2)
            .and_then(|v| (v.as_ptr() as usize).checked_sub(plain.as_ptr() as usize));
        let at = at?;
        plain
            .get_mut(at..at + 2)?
            .copy_from_slice(&TransportSequence(seq).write());
        Some(at)
    }

    /// As [`Self::set_sequence`], at `known` (the extension id and value
    /// offset its sender recorded when it wrote the packet) when that id is
    /// still the one in use: no parsing per packet.
    pub fn set_sequence_at(
        &self,
        plain: &mut [u8],
        known: Option<(ExtensionId, usize)>,
        seq: u16,
    ) -> Option<usize> {
        match known {
            Some((ext, at)) if ext == self.ext => {
                plain
                    .get_mut(at..at + 2)?
                    .copy_from_slice(&TransportSequence(seq).write());
                Some(at)
            }
            _ => self.set_sequence(plain, seq),
        }
    }

    /// The packet numbered `seq` leaves with `wire_len` bytes (after SRTP).
    pub fn on_sent(&mut self, now: Instant, seq: u16, wire_len: usize) {
        if self
            .last_sent
            .is_some_and(|last| (seq.wrapping_sub(last) as i16) <= 0)
        {
            return;
        }
        self.last_sent = Some(seq);
        while let Some(c) = self.estimator.poll_probe(now) {
            self.probes.push_back((c, 0, 0));
        }
        let probe = match self.probes.front_mut() {
            Some((c, packets, bytes)) => {
                *packets += 1;
                *bytes += wire_len;
                let id = c.id;
                if *packets >= c.min_packets && *bytes >= c.min_bytes {
                    self.probes.pop_front();
                }
                Some(id)
            }
            None => None,
        };
        self.estimator.on_packet_sent(now, seq, wire_len, probe);
    }

    /// The paced packet numbered `seq` leaves with `wire_len` bytes, in the
    /// probe cluster `probe` the pacer filled with it (a pacer takes the
    /// clusters from [`Self::poll_probe`]).
    pub fn on_paced_sent(
        &mut self,
        now: Instant,
        seq: u16,
        wire_len: usize,
        probe: Option<ferrtc_rtp::cc::history::ProbeId>,
    ) {
        if self
            .last_sent
            .is_some_and(|last| (seq.wrapping_sub(last) as i16) <= 0)
        {
            return;
        }
        self.last_sent = Some(seq);
        self.estimator.on_packet_sent(now, seq, wire_len, probe);
    }

    /// The next probe cluster the estimator planned, for a pacer to send
    /// (without one, [`Self::on_sent`] fills clusters with media).
    pub fn poll_probe(&mut self, now: Instant) -> Option<ProbeCluster> {
        if let Some((c, ..)) = self.probes.pop_front() {
            return Some(c);
        }
        self.estimator.poll_probe(now)
    }

    /// An RTP packet arrived (unprotected).
    pub fn on_received(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        if let Some(Ok(seq)) = packet.extensions.get(self.ext).map(TransportSequence::read) {
            self.media_ssrc = packet.ssrc;
            self.feedback.on_packet(now, seq.0);
        }
    }

    /// Feedback due at `now`, from `local_ssrc`.
    pub fn poll_feedback(&mut self, now: Instant, local_ssrc: u32) -> Vec<RtcpPacket> {
        let mut out = Vec::new();
        while let Some(mut f) = self.feedback.poll_feedback(now) {
            f.sender_ssrc = local_ssrc;
            f.media_ssrc = self.media_ssrc;
            out.push(RtcpPacket::TransportFeedback(f));
        }
        out
    }

    /// When feedback is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.feedback.poll_timeout()
    }

    /// The peer's transport-cc feedback.
    pub fn on_transport_feedback(&mut self, now: Instant, f: &TransportFeedback) {
        self.estimator.on_transport_feedback(now, f);
        if self.paced {
            return;
        }
        while let Some(c) = self.estimator.poll_probe(now) {
            self.probes.push_back((c, 0, 0));
        }
    }

    /// A pacer sends the probe clusters from now on: they stay planned
    /// until it takes them (a cluster polled early would be stale by then).
    pub fn set_paced(&mut self) {
        self.paced = true;
    }

    /// The estimate, when it moved by 10 % or more since it was last
    /// returned here (the first time, whenever it differs from the start).
    pub fn poll_change(&mut self) -> Option<Bitrate> {
        let now = self.estimator.target_bitrate();
        let last = self.announced.unwrap_or(EstimatorConfig::default().start);
        let moved = now.as_bps().abs_diff(last.as_bps()) * 10 >= last.as_bps().max(1);
        (moved && self.announced != Some(now)).then(|| {
            self.announced = Some(now);
            now
        })
    }

    /// The peer's REMB.
    pub fn on_remb(&mut self, r: &Remb) {
        self.estimator.on_remb(r);
    }

    /// W3C `availableOutgoingBitrate`, in bits per second.
    pub fn available_outgoing_bitrate(&self) -> Bitrate {
        self.estimator.target_bitrate()
    }

    /// The estimate's ceiling: the sum of the senders' `maxBitrate` while
    /// every sender has one (`None`: no cap but the default).
    pub fn set_max(&mut self, max: Option<Bitrate>) {
        self.estimator
            .set_max(max.map_or(DEFAULT_MAX, |m| m.min(DEFAULT_MAX)));
    }
}

#[cfg(test)]
mod tests {
    use ferrtc_rtp::{ExtensionId, PayloadType, RtpPacket};

    use super::TransportCc;

    #[test]
    fn a_paced_packet_is_numbered_where_its_sender_wrote_the_extension_or_found_by_parsing() {
        let (twcc, other) = (ExtensionId::new(3).unwrap(), ExtensionId::new(5).unwrap());
        let mut p = RtpPacket::new(PayloadType::new(96).unwrap(), 1, 2, 3, b"media");
        p.extensions.insert(other, &[9]).unwrap();
        p.extensions.insert(twcc, &[0, 0]).unwrap();
        let packet = p.to_vec();
        let at = RtpPacket::parse(&packet)
            .unwrap()
            .extension_value_offset(twcc)
            .unwrap();
        let cc = TransportCc::new(twcc);
        let number = |known| {
            let mut plain = packet.clone();
            let written = cc.set_sequence_at(&mut plain, known, 0xbeef);
            (written, cc.sequence_of(&plain))
        };
        let want = (Some(at), Some(0xbeef));
        assert_eq!(number(Some((twcc, at))), want, "at the recorded offset");
        assert_eq!(number(None), want, "found by parsing");
        // Recorded under an id no longer in use: parsed for the one in use.
        assert_eq!(number(Some((other, 0))), want);
        // The recorded offset is used as it is, without parsing: even a
        // packet the parser refuses (version 0) is numbered there, and an
        // offset past the end writes nothing.
        let mut unparsable = packet.clone();
        unparsable[0] &= 0x3f;
        assert_eq!(cc.set_sequence(&mut unparsable.clone(), 1), None);
        assert_eq!(
            cc.set_sequence_at(&mut unparsable, Some((twcc, at)), 0xbeef),
            Some(at)
        );
        assert_eq!(unparsable[at..at + 2], [0xbe, 0xef]);
        let mut short = packet.clone();
        let end = short.len() - 1;
        assert_eq!(
            cc.set_sequence_at(&mut short, Some((twcc, end)), 0xbeef),
            None
        );
        assert_eq!(short, packet);
    }
}
