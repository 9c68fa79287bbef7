//! What a peer connection reports to its user: the W3C events.

pub use ferrtc_dtls::TransportState as DtlsTransportState;
pub use ferrtc_ice::{ConnectionState as IceConnectionState, GatheringState as IceGatheringState};
pub use ferrtc_jsep::{IceCandidateInit, SignalingState};

use ferrtc_datachannel::{ChannelId, DataChannelMessage};
use ferrtc_jsep::TransceiverId;

/// W3C `RTCPeerConnectionState`: the aggregate of the ICE and DTLS
/// transports (webrtc-pc §4.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "RTCPeerConnectionState")]
pub enum PeerConnectionState {
    /// No transport is doing anything yet.
    New,
    /// ICE is checking or DTLS is handshaking.
    Connecting,
    /// ICE has a selected pair and DTLS is connected, or was closed by
    /// the peer's close_notify (a closed DTLS transport counts as
    /// connected: the peer's `close()` shows here as `disconnected`, then
    /// `failed`, once ICE consent to it runs out, RFC 7675 §5.1).
    Connected,
    /// ICE lost consent for a while.
    Disconnected,
    /// ICE or DTLS failed.
    Failed,
    /// This side's `close()` was called (`[[IsClosed]]`); never the
    /// peer's close.
    Closed,
}

impl PeerConnectionState {
    /// The W3C string (`"new"`, `"connecting"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            PeerConnectionState::New => "new",
            PeerConnectionState::Connecting => "connecting",
            PeerConnectionState::Connected => "connected",
            PeerConnectionState::Disconnected => "disconnected",
            PeerConnectionState::Failed => "failed",
            PeerConnectionState::Closed => "closed",
        }
    }
}

/// An event of the peer connection or one of its data channels, from
/// [`crate::PeerConnection::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `icecandidate`: a local candidate to signal; an empty `candidate`
    /// string means end of candidates (RFC 8838 §4.1).
    IceCandidate(IceCandidateInit),
    /// `icegatheringstatechange`.
    IceGatheringStateChange(IceGatheringState),
    /// `iceconnectionstatechange`.
    IceConnectionStateChange(IceConnectionState),
    /// `icecandidateerror` (W3C `RTCPeerConnectionIceErrorEvent`): a TURN
    /// server gave no relayed candidate.
    #[doc(alias = "RTCPeerConnectionIceErrorEvent")]
    IceCandidateError {
        /// The server's address.
        server: std::net::SocketAddr,
        /// `errorCode`: the STUN error code of its answer (401 for wrong
        /// credentials, ...), or 701 when it did not answer.
        error_code: u16,
        /// `errorText`.
        error_text: String,
    },
    /// `connectionstatechange`.
    ConnectionStateChange(PeerConnectionState),
    /// The DTLS transport's `statechange` (W3C `RTCDtlsTransport`,
    /// webrtc-pc §5.5): `closed` when the peer's close_notify arrived
    /// (RFC 5246 §7.2.1), which the connection state does not show (it
    /// stays `connected` until ICE consent runs out): the peer ended the
    /// session.
    #[doc(alias = "RTCDtlsTransport")]
    DtlsStateChange(DtlsTransportState),
    /// `signalingstatechange`.
    SignalingStateChange(SignalingState),
    /// `negotiationneeded`: call `create_offer` and signal it.
    NegotiationNeeded,
    /// `datachannel`: the peer opened a channel (DCEP, RFC 8832).
    DataChannel(ChannelId),
    /// The channel's `open` event.
    ChannelOpen(ChannelId),
    /// The channel's `message` event.
    ChannelMessage {
        /// The channel.
        channel: ChannelId,
        /// The message.
        message: DataChannelMessage,
    },
    /// The channel's `bufferedamountlow` event.
    ChannelBufferedAmountLow(ChannelId),
    /// The channel's `closing` event (the peer reset its stream).
    ChannelClosing(ChannelId),
    /// The channel's `close` event.
    ChannelClose(ChannelId),
    /// `track` (W3C `RTCTrackEvent`): a remote description says the peer
    /// sends on a transceiver's m-section, so its receiver's track exists;
    /// `stream_ids` and `track_id` come from the peer's `a=msid` (RFC 8830
    /// §2). Fires once per transceiver, before any of its frames.
    #[doc(alias = "RTCTrackEvent")]
    Track {
        /// The transceiver whose receiver got the track.
        transceiver: TransceiverId,
        /// Its mid.
        mid: String,
        /// The remote MediaStream ids (`streams`).
        stream_ids: Vec<String>,
        /// The remote track id, if the peer signalled one.
        track_id: Option<String>,
    },
    /// A whole encoded frame out of a receiver's jitter buffer, in order
    /// (the frame reader's counterpart of
    /// [`crate::PeerConnection::write_frame`]).
    TrackFrame {
        /// The transceiver that received it.
        transceiver: TransceiverId,
        /// Its mid.
        mid: String,
        /// The RFC 8852 rid of the simulcast layer it belongs to (`None`
        /// without simulcast).
        rid: Option<String>,
        /// The encoded frame (Annex B for H.264, OBUs for AV1).
        frame: Vec<u8>,
        /// The RTP timestamp of its packets.
        rtp_timestamp: u32,
        /// Whether the codec marks it as a keyframe.
        keyframe: bool,
    },
    /// The peer asked a sender for a keyframe (PLI, RFC 4585 §6.3.1, or
    /// FIR, RFC 5104 §4.3.1): the application should encode one next.
    KeyframeRequested {
        /// The transceiver whose sender is asked.
        transceiver: TransceiverId,
        /// The simulcast layer asked for (RFC 8852 rid); `None` without
        /// simulcast.
        rid: Option<String>,
    },
    /// The `tonechange` event of a sender's `RTCDTMFSender` (W3C
    /// webrtc-pc §7.3, `RTCDTMFToneChangeEvent`): `tone` is the tone that
    /// starts playing (`,` included), or empty once the tone buffer is
    /// done.
    #[doc(alias = "RTCDTMFToneChangeEvent")]
    DtmfToneChange {
        /// The transceiver whose sender plays the tones.
        transceiver: TransceiverId,
        /// One character, or empty at the end of the tone buffer.
        tone: String,
    },
    /// A DTMF tone the peer sent on a receiver's stream as an RFC 4733
    /// telephone event (§2.5.2): one per event, when its first packet
    /// arrives, in order; repeated and retransmitted packets of an event
    /// are not reported again.
    DtmfReceived {
        /// The transceiver whose receiver got it.
        transceiver: TransceiverId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        tone: char,
    },
    /// The send-side bandwidth estimate (W3C `availableOutgoingBitrate`
    /// of the candidate pair, from transport-cc feedback) moved by 10 % or
    /// more since the last such event: an application picks its layers or
    /// bitrates from it.
    #[doc(alias = "availableOutgoingBitrate")]
    AvailableOutgoingBitrate {
        /// Bits per second.
        bitrate: u64,
    },
}
