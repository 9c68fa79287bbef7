//! The sans-IO WebRTC peer connection of ferrtc.
//!
//! [`PeerConnection`] puts the protocol crates together the way a browser
//! does: JSEP offer/answer ([`ferrtc_jsep`]), one ICE agent
//! ([`ferrtc_ice`]), one DTLS transport ([`ferrtc_dtls`]) and one SCTP
//! association ([`ferrtc_sctp`]) bundled on one UDP transport, datagrams
//! demultiplexed by RFC 7983, data channels opened with DCEP (RFC 8832,
//! the [`ferrtc_datachannel::DataChannels`] engine), and every state change reported
//! as a W3C event ([`Event`]).
//!
//! It owns no socket, no timer and no thread: the `ferrtc` crate drives it
//! on tokio, and tests drive it on `ferrtc-sim` in virtual time.
//!
//! Peer identity (W3C webrtc-identity, RFC 8827 §7): an [`IdentityProvider`]
//! asserts our identity in `a=identity` and validates the peer's; see
//! [`identity`].
//!
//! Media (first slice): transceivers through JSEP, SRTP keyed from
//! DTLS-SRTP, a sample writer ([`PeerConnection::write_frame`]) and frames
//! out as [`Event::TrackFrame`], NACK/RTX, PLI, SR/RR, `setCodecPreferences`,
//! DTMF ([`PeerConnection::insert_dtmf`], RFC 4733 telephone events both
//! ways), and `inbound-rtp` / `outbound-rtp` / `remote-inbound-rtp` /
//! `remote-outbound-rtp` / `codec` / `media-source` stats, simulcast (RFC
//! 8853: one stream per rid each way, [`PeerConnection::write_frame_for`],
//! frames and stats naming their rid); see `docs/architecture.md`.
//!
//! Relayed candidates through TURN servers ([`Config::turn_servers`], over
//! UDP, TCP or TLS) and ICE-TCP candidates (RFC 6544) come from the ICE
//! agent; congestion control (transport-cc feedback, a send-side
//! estimate, a pacer on by default: [`MediaConfig::pacing`]) from
//! [`ferrtc_rtp`].
//!
//! Not yet: the `accepts()` test for many connections on one socket (the
//! `ferrtc` crate's `UdpMux` routes datagrams instead), and mDNS
//! resolution of `.local` candidates (the `ferrtc` crate resolves them;
//! here such peers connect through peer-reflexive discovery).
#![forbid(unsafe_code)]

mod config;
mod connection;
mod demux;
mod error;
mod event;
mod frame;
pub mod identity;
mod media;
// Also built for unit tests, which run the fuzz entry point on fixed inputs.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod stats;

/// The shared byte buffer a [`FrameBytes`] holds.
pub use bytes::Bytes;
pub use config::{BundlePolicy, Config, TurnServer};
pub use connection::{ConnectionStats, PeerConnection, Transmit};
pub use error::{Cause, Error};
pub use event::{
    DtlsTransportState, Event, IceCandidateInit, IceConnectionState, IceGatheringState,
    PeerConnectionState, SignalingState,
};
pub use frame::FrameBytes;
// The channel types live with the one data channel engine.
pub use connection::{RtpTransceiverInit, TrackInfo, TransceiverInfo};
pub use ferrtc_datachannel::{
    ChannelId, ChannelInfo, ChannelStats, DataChannelInit, DataChannelMessage, DataChannelState,
};
pub use ferrtc_dtls::Certificate;
pub use ferrtc_ice::{Protocol, TurnTransport, check_recipient};
pub use ferrtc_jsep::{
    Codec as RtpCodec, SdpType, SendEncoding, SessionDescription, TransceiverId,
};
pub use ferrtc_sdp::{Direction as RtpTransceiverDirection, MediaKind};
pub use identity::{
    IdentityAssertion, IdentityAssertionResult, IdentityError, IdentityOptions, IdentityProvider,
    IdentityProviderDetails, PeerIdentityState, ValidatedIdentity,
};
pub use media::{
    InboundCounters, MediaConfig, MediaError, MediaStats, OutboundCounters, RtpSource,
};
pub use stats::{
    CandidatePairStats, CandidateStats, CertificateStats, CodecStats, DataChannelStats,
    InboundRtpStats, MediaSourceStats, OutboundRtpStats, PeerConnectionStats,
    RemoteInboundRtpStats, RemoteOutboundRtpStats, SctpTransportStats, Stats, StatsReport,
    TransportStats,
};
