//! Media: where RTP and RTCP (RFC 3550) meet the connection.
//!
//! The demux (RFC 7983) hands every datagram whose first byte is 128..=191
//! here. Today the connection negotiates data channels only, so such a
//! datagram has nowhere to go: it is dropped and counted
//! ([`ConnectionStats::dropped_rtp`](super::ConnectionStats::dropped_rtp)).
//!
//! Media plugs in here: the SRTP contexts (`ferrtc-srtp`, keyed from the
//! DTLS handshake's exported keying material, RFC 5764 §4.2) unprotect the
//! datagram; RTP goes to the transceiver its mid, SSRC or payload type
//! names (RFC 8843 §9.2) and RTCP to the senders and receivers it reports
//! on. Outbound RTP joins [`PeerConnection::poll_transmit`] through a
//! pacer, beside DTLS.

use std::time::Instant;

use super::PeerConnection;

impl PeerConnection {
    /// An SRTP or SRTCP datagram from a validated pair (RFC 7983: first
    /// byte 128..=191). No media is negotiated yet: dropped and counted.
    pub(super) fn handle_rtp(&mut self, _now: Instant, _datagram: &[u8]) {
        self.stats.dropped_rtp += 1;
    }
}
