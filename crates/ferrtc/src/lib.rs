//! WebRTC in Rust: the W3C `RTCPeerConnection` and `RTCDataChannel` API on
//! tokio.
//!
//! [`PeerConnection`] and [`DataChannel`] are handles to a task that owns
//! the sans-IO [`ferrtc_core::PeerConnection`] and its UDP sockets (one per
//! local address, loopback included). Events are async streams
//! ([`PeerConnection::next_event`], [`DataChannel::recv`]); no user code
//! runs inside the task. Each handle value (each clone) is a subscriber of
//! its own from its first read, and no clone takes another's events (see
//! [`DataChannel#events`]).
//!
//! Signaling is the application's: the descriptions and candidates
//! serialize to the browsers' JSON forms with serde.
//!
//! Remote host candidates whose address is an mDNS `.local` name (as
//! Chromium signals them) are resolved with a one-shot mDNS query (RFC 6762
//! §5.1) and added again with the address found; when no answer comes
//! within a second, such peers still connect through peer-reflexive
//! discovery. With [`Configuration::mdns_host_candidates`] a connection
//! signals its own host candidates under such names, which an
//! [`MdnsResponder`] (by default one on the mDNS group, shared by the
//! process) answers for until the connection closes.
//!
//! Peer identity (W3C webrtc-identity): [`PeerConnection::set_identity_provider`]
//! with an [`IdentityProvider`] of the application's, and
//! [`PeerConnection::peer_identity`]; [`Configuration::peer_identity`]
//! requires one.
//!
//! Media (W3C webrtc-pc §5): [`PeerConnection::add_track`] and
//! [`PeerConnection::add_transceiver`] give [`RtpSender`]s, whose
//! [`RtpSender::write_frame`] sends encoded frames the application brings;
//! the peer's tracks come as [`PeerConnectionEvent::Track`], whose
//! [`RtpReceiver::recv_frame`] gives whole encoded frames. ferrtc does not
//! encode or decode. Simulcast (RFC 8853): W3C `sendEncodings` with rids
//! ([`RtpTransceiverInit::send_encodings`]) send one RTP stream per layer,
//! each written with [`RtpSender::write_frame_for`]; a receiver's frames
//! name their layer ([`EncodedFrame::rid`]).
//!
//! TURN: `turn:` (UDP or `?transport=tcp`) and `turns:` (TLS) URLs in
//! [`Configuration::ice_servers`] gather relayed candidates, and
//! `iceTransportPolicy: "relay"` uses only those.
#![forbid(unsafe_code)]

mod config;
mod data_channel;
mod driver;
mod error;
mod events;
mod identity;
mod mdns;
mod media;
mod mux;
mod net;
mod peer_connection;
mod stun;
#[cfg(test)]
mod testing;

pub use config::{
    BundlePolicy, Certificate, Configuration, IceServer, IceTransportPolicy, RtcpMuxPolicy,
};
pub use data_channel::{
    DataChannel, DataChannelEvent, DataChannelEvents, DataChannelInit, DataChannelMessage,
};
pub use error::Error;
pub use ferrtc_core::DataChannelState;
/// Peer identity (W3C webrtc-identity, RFC 8827 §7): the identity provider
/// trait and its types, from the core.
pub use ferrtc_core::{
    IdentityAssertion, IdentityAssertionResult, IdentityError, IdentityOptions, IdentityProvider,
    IdentityProviderDetails, PeerIdentityState, ValidatedIdentity,
};
pub use mdns::{MdnsResponder, MdnsResponderStats};
pub use media::{
    Bytes, DtmfSender, DtmfTone, DtmfToneChange, EncodedFrame, FrameBytes, MediaKind, MediaStream,
    MediaStreamTrack, RtpCodec, RtpEncodingParameters, RtpReceiveParameters, RtpReceiver,
    RtpReceiverFrames, RtpSendParameters, RtpSender, RtpSenderEvent, RtpSource, RtpTransceiver,
    RtpTransceiverDirection, RtpTransceiverInit, SendEncoding, TrackEvent,
};
pub use mux::UdpMux;
pub use net::BatchUdpSocket;
pub use peer_connection::{
    DtlsTransportState, IceCandidateInit, IceConnectionState, IceGatheringState, PeerConnection,
    PeerConnectionEvent, PeerConnectionEvents, PeerConnectionState, SdpType, SessionDescription,
    SignalingState, Stats, StatsReport,
};
