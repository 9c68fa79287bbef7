//! Errors of SRTP/SRTCP processing.

use crate::ProtectionProfile;

/// Everything that can go wrong while protecting or unprotecting a packet.
///
/// Every variant that describes a received packet maps to the same wire action:
/// drop the packet and count it (RFC 3711 §3.3: "the packet MUST be discarded").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The packet is shorter than its header, trailer and tag need.
    #[error("packet too short: {len} bytes, at least {needed} needed")]
    TooShort {
        /// Length of the packet given.
        len: usize,
        /// Minimum length for this packet and profile.
        needed: usize,
    },
    /// The RTP/RTCP version field is not 2 (RFC 3550 §5.1).
    #[error("RTP/RTCP version {version} is not 2")]
    BadVersion {
        /// The version found in the first two bits.
        version: u8,
    },
    /// The authentication tag (HMAC-SHA1 or GCM tag) does not verify.
    #[error("authentication failed for SSRC {ssrc:#010x}, packet index {index}")]
    AuthenticationFailed {
        /// SSRC of the packet.
        ssrc: u32,
        /// SRTP packet index (48 bits) or SRTCP index (31 bits) that was tried.
        index: u64,
    },
    /// The packet index was already received (RFC 3711 §3.3.2).
    #[error("replayed packet for SSRC {ssrc:#010x}, packet index {index}")]
    ReplayedPacket {
        /// SSRC of the packet.
        ssrc: u32,
        /// The replayed packet index.
        index: u64,
    },
    /// The packet index is older than the replay window can tell apart (RFC 3711 §3.3.2).
    #[error("packet index {index} for SSRC {ssrc:#010x} is behind the replay window")]
    TooOld {
        /// SSRC of the packet.
        ssrc: u32,
        /// The packet index, behind the window.
        index: u64,
    },
    /// A packet came from an SSRC that was not declared and the context does not
    /// accept new SSRCs ([`Config::accept_unknown_ssrc`](crate::Config::accept_unknown_ssrc)).
    #[error("unknown SSRC {ssrc:#010x}")]
    UnknownSsrc {
        /// The undeclared SSRC.
        ssrc: u32,
    },
    /// A new SSRC would exceed [`Config::max_streams`](crate::Config::max_streams).
    #[error("too many SRTP streams (limit {limit})")]
    TooManyStreams {
        /// The configured limit.
        limit: usize,
    },
    /// The master key has protected all the packets it may: 2^48 SRTP packets or
    /// 2^31 SRTCP packets per SSRC (RFC 3711 §9.2). Rekey, never wrap.
    #[error("key lifetime exhausted for SSRC {ssrc:#010x}; a new master key is needed")]
    KeyLifetimeExceeded {
        /// The SSRC whose index space is used up.
        ssrc: u32,
    },
    /// The master key length does not fit the profile (RFC 7714 §12, RFC 5764 §4.1.2).
    #[error("{profile:?} needs a {expected}-byte master key, got {actual}")]
    InvalidKeyLength {
        /// The profile asked for.
        profile: ProtectionProfile,
        /// Key length of the profile.
        expected: usize,
        /// Key length given.
        actual: usize,
    },
    /// The master salt length does not fit the profile.
    #[error("{profile:?} needs a {expected}-byte master salt, got {actual}")]
    InvalidSaltLength {
        /// The profile asked for.
        profile: ProtectionProfile,
        /// Salt length of the profile.
        expected: usize,
        /// Salt length given.
        actual: usize,
    },
    /// A replay window size outside 64..=32768 packets (RFC 3711 §3.3.2 asks for at least 64).
    #[error("replay window of {size} packets is outside 64..=32768")]
    InvalidReplayWindow {
        /// The size given.
        size: u32,
    },
    /// The crypto library refused an operation that cannot fail on valid input
    /// (for example key setup); not caused by packet contents.
    #[error("crypto library failure in {operation}")]
    Crypto {
        /// What was being done.
        operation: &'static str,
    },
}
