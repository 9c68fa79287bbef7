//! The sans-IO WebRTC peer connection of ferrtc.
//!
//! [`PeerConnection`] puts the protocol crates together the way a browser
//! does: JSEP offer/answer ([`ferrtc_jsep`]), one ICE agent
//! ([`ferrtc_ice`]), one DTLS transport ([`ferrtc_dtls`]) and one SCTP
//! association ([`ferrtc_sctp`]) bundled on one UDP transport, datagrams
//! demultiplexed by RFC 7983, data channels opened with DCEP (RFC 8832),
//! and every state change reported as a W3C event ([`Event`]).
//!
//! It owns no socket, no timer and no thread: the `ferrtc` crate drives it
//! on tokio, and tests drive it on `ferrtc-sim` in virtual time.
//!
//! Not yet: media (SRTP contexts, transceivers beyond JSEP), TURN, the
//! `accepts()` test for many connections on one socket, and mDNS
//! resolution of `.local` candidates (such peers connect through
//! peer-reflexive discovery instead).
#![forbid(unsafe_code)]

mod channel;
mod config;
mod connection;
mod dcep;
mod demux;
mod error;
mod event;
mod stats;

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// Parses `data` as a DCEP message (RFC 8832); when it parses, checks
    /// that writing it and parsing again gives the same message. Never
    /// panics otherwise.
    pub fn parse_dcep(data: &[u8]) {
        if let Ok(m) = crate::dcep::Message::parse(data) {
            let mut buf = Vec::new();
            m.write(&mut buf);
            let again = crate::dcep::Message::parse(&buf)
                .unwrap_or_else(|e| panic!("written DCEP message does not parse: {e}"));
            assert_eq!(again, m, "DCEP message changed on a round trip");
        }
    }
}

pub use channel::{ChannelId, ChannelInfo, ChannelStats, DataChannelInit, DataChannelState};
pub use config::{BundlePolicy, Config};
pub use connection::{ConnectionStats, PeerConnection, Transmit};
pub use error::Error;
pub use event::{
    DataChannelMessage, Event, IceCandidateInit, IceConnectionState, IceGatheringState,
    PeerConnectionState, SignalingState,
};
pub use ferrtc_dtls::Certificate;
pub use ferrtc_jsep::{SdpType, SessionDescription};
pub use stats::{
    CandidatePairStats, CandidateStats, CertificateStats, DataChannelStats, PeerConnectionStats,
    SctpTransportStats, Stats, StatsReport, TransportStats,
};
