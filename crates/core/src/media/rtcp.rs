//! RTCP in and out: sender and receiver reports (RFC 3550 §6.4) every
//! report interval, feedback (RFC 4585: generic NACK §6.2.1, PLI §6.3.1;
//! RFC 5104 FIR §4.3.1; transport-cc) as it is due, and what the peer's RTCP asks of our
//! senders (retransmissions, keyframes) or tells them (round-trip time).

use std::time::{Duration, Instant, SystemTime};

use ferrtc_rtp::cc::pacer::PacketKind;
use ferrtc_rtp::rtcp::{self, ReceiverReport, ReportBlock, RtcpPacket, Sdes, SdesChunk, SdesItem};

use super::MediaSession;
use super::sender::SendKey;
use crate::event::Event;

/// RFC 3550 §6.4: a report carries at most 31 blocks.
const MAX_REPORT_BLOCKS: usize = 31;
/// RFC 3550 §6.5: an SDES packet carries at most 31 chunks.
const MAX_SDES_CHUNKS: usize = 31;
/// RFC 3550 §6.5.1: SDES item type of the CNAME.
const SDES_CNAME: u8 = 1;
/// The buffer a feedback packet is written into: a NACK, a PLI or a
/// transport-cc feedback of a few dozen packets, plus the SRTCP trailer
/// (at most 20 bytes), fit without regrowth; larger ones grow.
const FEEDBACK_CAPACITY: usize = 256;
/// The same for the compound report: an SR or RR with a few report
/// blocks and the SDES CNAME.
const REPORT_CAPACITY: usize = 512;

/// The shortest interval between reports, whatever the configuration.
const MIN_REPORT_INTERVAL: Duration = Duration::from_millis(10);

impl MediaSession {
    /// An unprotected RTCP compound (or reduced-size, RFC 5506) packet,
    /// arrived at `now`, `wall` on the wall clock (the `timestamp` of the
    /// remote stats it updates, W3C webrtc-stats §4).
    pub(super) fn handle_rtcp(&mut self, now: Instant, wall: SystemTime, data: &[u8]) {
        // RFC 3550 §6.1: the packets before a malformed one are whole and
        // are acted on; the malformed rest is counted as dropped. A
        // malformed first packet drops the datagram (A.2).
        let packets = match rtcp::parse_leading(data) {
            Ok((packets, rest)) => {
                if let Some(e) = rest {
                    tracing::trace!("RTCP after {} packets dropped: {e}", packets.len());
                    self.stats.malformed_rtcp += 1;
                }
                packets
            }
            Err(e) => {
                tracing::trace!("RTCP dropped: {e}");
                self.stats.malformed_rtcp += 1;
                return;
            }
        };
        for p in packets {
            match p {
                RtcpPacket::SenderReport(sr) => {
                    for r in self.receivers.values_mut() {
                        r.on_sender_report(now, wall, &sr);
                    }
                    self.on_report_blocks(now, wall, &sr.reports);
                }
                RtcpPacket::ReceiverReport(rr) => self.on_report_blocks(now, wall, &rr.reports),
                RtcpPacket::Nack(nack) => {
                    let Some(t) = self.sender_of(nack.media_ssrc) else {
                        continue;
                    };
                    let rtt = self.rtt();
                    let limit = self.config.max_retransmissions_per_nack;
                    let mut resent = Vec::new();
                    if let Some(s) = self.senders.get_mut(&t) {
                        s.counters.nack_count += 1;
                        for (i, seq) in nack.sequences().enumerate() {
                            if i >= limit {
                                self.stats.nacks_over_limit += 1;
                                continue;
                            }
                            if let Some(p) = s.retransmit(now, seq, rtt) {
                                resent.push(p);
                            }
                        }
                    }
                    for p in resent {
                        self.queue(now, p, Some(PacketKind::Retransmission));
                    }
                }
                RtcpPacket::Pli(pli) => {
                    if let Some(t) = self.sender_of(pli.media_ssrc)
                        && let Some(s) = self.senders.get_mut(&t)
                    {
                        s.counters.pli_count += 1;
                        self.events.push_back(Event::KeyframeRequested {
                            transceiver: t.0,
                            rid: s.rid.clone(),
                        });
                    }
                }
                RtcpPacket::Fir(fir) => {
                    for e in &fir.entries {
                        if let Some(t) = self.sender_of(e.ssrc)
                            && let Some(s) = self.senders.get_mut(&t)
                            && s.on_fir(fir.sender_ssrc, e.sequence)
                        {
                            self.events.push_back(Event::KeyframeRequested {
                                transceiver: t.0,
                                rid: s.rid.clone(),
                            });
                        }
                    }
                }
                RtcpPacket::TransportFeedback(f) => {
                    if let Some(cc) = self.cc.as_mut() {
                        cc.on_transport_feedback(now, &f);
                    }
                    self.announce_bitrate();
                    self.pace_at_estimate(now);
                }
                RtcpPacket::Remb(remb) => {
                    if let Some(cc) = self.cc.as_mut() {
                        cc.on_remb(&remb);
                    }
                    self.announce_bitrate();
                    self.pace_at_estimate(now);
                }
                _ => {}
            }
        }
    }

    /// An event when the send-side estimate moved enough to matter.
    pub(super) fn announce_bitrate(&mut self) {
        if let Some(b) = self.cc.as_mut().and_then(|c| c.poll_change()) {
            self.events.push_back(Event::AvailableOutgoingBitrate {
                bitrate: b.as_bps(),
            });
        }
    }

    /// The pacer follows the estimate.
    pub(super) fn pace_at_estimate(&mut self, now: Instant) {
        if let (Some(cc), Some(p)) = (self.cc.as_ref(), self.pacer.as_mut()) {
            p.set_target(now, cc.available_outgoing_bitrate());
        }
    }

    /// The sender stream (transceiver and layer) `ssrc` belongs to.
    fn sender_of(&self, ssrc: u32) -> Option<SendKey> {
        self.senders
            .iter()
            .find(|(_, s)| s.owns(ssrc))
            .map(|(t, _)| *t)
    }

    /// Report blocks about our streams give the round-trip time (RFC 3550
    /// §6.4.1: A - LSR - DLSR).
    fn on_report_blocks(&mut self, now: Instant, wall: SystemTime, blocks: &[ReportBlock]) {
        for b in blocks {
            for s in self.senders.values_mut() {
                if let Some(rtt) = s.on_report_block(now, wall, b) {
                    self.rtt = Some(rtt);
                }
            }
        }
    }

    /// Sends the feedback the receivers want now (NACK, PLI), each as a
    /// reduced-size RTCP packet (RFC 5506).
    pub(super) fn flush_feedback(&mut self, now: Instant) {
        let rtt = self.rtt();
        let mut out = Vec::new();
        for r in self.receivers.values_mut() {
            out.extend(r.poll_feedback(now, rtt, self.local_ssrc));
        }
        // Transport-wide feedback on everything received.
        if let Some(cc) = self.cc.as_mut() {
            out.extend(cc.poll_feedback(now, self.local_ssrc));
        }
        for p in out {
            // Room for the packet and the SRTCP trailer from the start: no
            // regrowth while writing or protecting.
            let mut bytes = Vec::with_capacity(FEEDBACK_CAPACITY);
            match p.write(&mut bytes) {
                Ok(()) => self.queue(now, bytes, None),
                Err(e) => tracing::debug!("feedback not written: {e}"),
            }
        }
    }

    /// Every report interval: one compound packet (RFC 3550 §6.1) with an
    /// SR per sender that sent (the NTP/RTP mapping from `wall`, §6.4.1),
    /// the report blocks of every stream received in the first SR or in an
    /// RR, and our CNAME (§6.5.1).
    ///
    /// A report due within `early` goes now: on a stream that flows, it
    /// leaves with the packet that woke the connection anyway, and the
    /// timer never has to wake it alone (RFC 3550 §6.2 spreads reports
    /// over 0.5 to 1.5 intervals). The next one is due an interval after
    /// this one was due, so they keep one interval apart on average, and
    /// never less than three quarters of one after this one left (a late
    /// report is not followed by a second at once).
    pub(super) fn maybe_report(&mut self, now: Instant, wall: SystemTime, early: Duration) {
        let Some(due) = self.next_report else {
            return;
        };
        if now + early < due {
            return;
        }
        // The next one is scheduled first: a report that cannot go out
        // (no stream, no SRTP) must not leave a deadline that stays due.
        // A zero interval (a configuration mistake) would stay due.
        let interval = self.config.report_interval.max(MIN_REPORT_INTERVAL);
        self.next_report = Some((due + interval).max(now + interval * 3 / 4));
        if !self.has_streams() || !self.ensure_srtp() {
            return;
        }
        let blocks: Vec<ReportBlock> = self
            .receivers
            .values_mut()
            .flat_map(|r| r.report_blocks(now))
            .take(MAX_REPORT_BLOCKS)
            .collect();
        let mut srs: Vec<_> = self
            .senders
            .values_mut()
            .filter_map(|s| s.sender_report(now, wall))
            .collect();
        let mut packets = Vec::new();
        let reporter = match srs.first_mut() {
            Some(first) => {
                first.reports = blocks;
                first.ssrc
            }
            None => {
                packets.push(RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc: self.local_ssrc,
                    reports: blocks,
                }));
                self.local_ssrc
            }
        };
        // RFC 3550 §6.5.1: every SSRC that reports (each simulcast layer's
        // SR) is bound to our CNAME, one chunk each (at most 31, §6.5).
        let mut named = vec![reporter];
        for sr in &srs {
            if !named.contains(&sr.ssrc) {
                named.push(sr.ssrc);
            }
        }
        packets.splice(0..0, srs.into_iter().map(RtcpPacket::SenderReport));
        packets.push(RtcpPacket::Sdes(Sdes {
            chunks: named
                .into_iter()
                .take(MAX_SDES_CHUNKS)
                .map(|ssrc| SdesChunk {
                    ssrc,
                    items: vec![SdesItem {
                        kind: SDES_CNAME,
                        text: self.cname.clone().into_bytes(),
                    }],
                })
                .collect(),
        }));
        let mut out = Vec::with_capacity(REPORT_CAPACITY);
        match rtcp::write_compound(&packets, &mut out) {
            Ok(()) => self.queue(now, out, None),
            Err(e) => tracing::debug!("report not written: {e}"),
        }
    }
}
