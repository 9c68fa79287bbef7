//! Configuration of a peer connection (W3C `RTCConfiguration`, the parts the
//! sans-IO core uses).

use std::net::SocketAddr;

use ferrtc_dtls::Certificate;
pub use ferrtc_jsep::BundlePolicy;

/// Configuration of a [`crate::PeerConnection`].
///
/// The async `ferrtc` crate maps `RTCConfiguration` (ICE server URLs,
/// policies) onto this; the core wants resolved addresses only.
#[derive(Clone)]
#[doc(alias = "RTCConfiguration")]
#[non_exhaustive]
pub struct Config {
    /// Seed of the ChaCha RNG ([`rand::rngs::StdRng`]) every secret of the
    /// connection comes from: ICE `ufrag`/`pwd` (RFC 8445 §5.3), STUN
    /// transaction ids (RFC 8489 §5), the SCTP cookie key, verification
    /// tag and initial TSN (RFC 9260 §5.1). `None` (the default) seeds it
    /// from the operating system's cryptographic RNG, so no two
    /// connections share credentials; `Some` is for reproducible tests:
    /// equal seeds give equal runs up to the DTLS handshake, whose
    /// randomness comes from the system unless `dtls.rng_seed` is set.
    pub rng_seed: Option<[u8; 32]>,
    /// The DTLS certificate (W3C `certificates`); `None` generates one.
    pub certificate: Option<Certificate>,
    /// STUN servers, resolved, for server-reflexive candidates.
    pub stun_servers: Vec<SocketAddr>,
    /// TURN servers, resolved, for relayed candidates (RFC 8656 over UDP,
    /// TCP or TLS).
    /// [`ferrtc_ice::AgentConfig::relay_only`] in [`Self::ice`] is the W3C
    /// `iceTransportPolicy: "relay"`.
    pub turn_servers: Vec<TurnServer>,
    /// Bundle policy (W3C `bundlePolicy`).
    pub bundle_policy: BundlePolicy,
    /// Largest message this side accepts (`a=max-message-size`, RFC 8841 §6).
    pub max_message_size: usize,
    /// Most data channels open at once, ours and the peer's (default
    /// [`ferrtc_datachannel::DEFAULT_MAX_CHANNELS`], 1,024).
    pub max_channels: usize,
    /// Size limits of a remote description (bytes, lines, line length,
    /// m-sections): SDP comes from the peer and is untrusted.
    pub sdp_limits: ferrtc_sdp::Limits,
    /// Most candidates one remote m-section may hold, signalled in SDP and
    /// trickled together.
    pub max_remote_candidates: usize,
    /// ICE agent settings (timers, limits); credentials and role are set by
    /// the connection.
    pub ice: ferrtc_ice::AgentConfig,
    /// DTLS settings.
    pub dtls: ferrtc_dtls::Config,
    /// SCTP settings; ports, seed and message size are set by the connection.
    /// The default offers the zero checksum alternative (RFC 9653, DTLS).
    pub sctp: ferrtc_sctp::Config,
    /// W3C `RTCConfiguration.peerIdentity` (webrtc-identity §9.6): the
    /// target peer identity (`user@domain`). When set, a remote description
    /// whose `a=identity` is missing or does not validate to exactly this
    /// identity, over the description's DTLS fingerprints, is refused
    /// (`setRemoteDescription` fails with an `OperationError`). `None` (the
    /// default) requires no identity.
    pub peer_identity: Option<String>,
    /// Limits of the media session: SSRCs, queues, jitter buffers, send
    /// history (`docs/limits.md`).
    pub media: crate::media::MediaConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rng_seed: None,
            certificate: None,
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            bundle_policy: BundlePolicy::MaxBundle,
            max_message_size: 256 * 1024,
            max_channels: ferrtc_datachannel::DEFAULT_MAX_CHANNELS,
            sdp_limits: ferrtc_sdp::Limits::default(),
            max_remote_candidates: ferrtc_jsep::DEFAULT_MAX_REMOTE_CANDIDATES,
            ice: ferrtc_ice::AgentConfig::default(),
            dtls: ferrtc_dtls::Config::default(),
            // SCTP always runs over DTLS here, whose records are
            // authenticated: offer RFC 9653's zero checksum (used only when
            // the peer offers it too), which saves a CRC32c per packet.
            sctp: ferrtc_sctp::Config {
                zero_checksum: true,
                ..ferrtc_sctp::Config::default()
            },
            peer_identity: None,
            media: crate::media::MediaConfig::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("rng_seed", &self.rng_seed.is_some())
            .field("certificate", &self.certificate.is_some())
            .field("stun_servers", &self.stun_servers)
            .field("turn_servers", &self.turn_servers)
            .field("bundle_policy", &self.bundle_policy)
            .field("max_message_size", &self.max_message_size)
            .field("media", &self.media)
            .field("max_channels", &self.max_channels)
            .field("peer_identity", &self.peer_identity)
            .finish_non_exhaustive()
    }
}

/// A TURN server with its long-term credentials (W3C `RTCIceServer` with a
/// `turn:` URL, resolved).
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// The server's address.
    pub server: SocketAddr,
    /// How the server is reached: UDP (`turn:`), TCP
    /// (`turn:...?transport=tcp`) or TLS (`turns:`); both stream transports
    /// are [`ferrtc_ice::Protocol::TurnTcp`] transmits, the driver runs TLS.
    pub transport: ferrtc_ice::TurnTransport,
    /// `RTCIceServer.username`.
    pub username: String,
    /// `RTCIceServer.credential`.
    pub credential: String,
    /// The URL's host (a name or an IP literal): the name the server's
    /// certificate must carry over TLS (`turns:`).
    pub host: String,
}

impl std::fmt::Debug for TurnServer {
    /// The credential stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("server", &self.server)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}
