//! The SRTP contexts of the bundled transport (RFC 5764 §4.2): one from
//! the local DTLS-SRTP master key that protects what we send, one from the
//! remote key that unprotects what we receive.

use ferrtc_dtls::SrtpKeys;
use ferrtc_srtp::{Config, Context, ProtectionProfile};

use super::MediaError;

/// The two SRTP contexts.
pub(crate) struct SrtpPair {
    /// Protects outbound RTP and RTCP (our write key).
    pub tx: Context,
    /// Unprotects inbound RTP and RTCP (the peer's write key).
    pub rx: Context,
}

impl std::fmt::Debug for SrtpPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpPair")
            .field("profile", &self.tx.profile())
            .finish_non_exhaustive()
    }
}

impl SrtpPair {
    /// Both contexts from the keys DTLS exported. `max_streams` bounds the
    /// SSRCs each context keeps state for.
    pub fn new(keys: &SrtpKeys, max_streams: usize) -> Result<Self, MediaError> {
        let profile = ProtectionProfile::from_id(keys.profile.id())
            .ok_or_else(|| MediaError::Srtp(format!("unknown profile {}", keys.profile)))?;
        let srtp = |e: ferrtc_srtp::Error| MediaError::Srtp(e.to_string());
        // A retransmission answers a NACK up to the send history's age
        // (1 s) late: the replay window must reach that far back.
        let config = Config::default()
            .with_replay_window(1024)
            .with_max_streams(max_streams);
        let local = keys.local();
        let remote = keys.remote();
        Ok(Self {
            tx: Context::new(profile, &local.key, &local.salt, config.clone()).map_err(srtp)?,
            rx: Context::new(profile, &remote.key, &remote.salt, config).map_err(srtp)?,
        })
    }

    /// Bytes SRTP adds to an RTP packet (the tag).
    pub fn rtp_overhead(&self) -> usize {
        self.tx.profile().rtp_overhead()
    }
}

/// RFC 5761 §4: with RTP and RTCP on one port, the second byte tells them
/// apart: RTCP packet types 192..=223 (FIR, NACK, SR, RR, SDES, BYE, APP,
/// RTPFB, PSFB, ...) fall where RTP's marker bit and payload types 64..=95
/// would, which RTP must not use.
pub(crate) fn is_rtcp(datagram: &[u8]) -> bool {
    matches!(datagram.get(1), Some(192..=223))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtcp_and_rtp_are_told_apart_by_the_second_byte() {
        assert!(is_rtcp(&[0x80, 200]));
        assert!(is_rtcp(&[0x81, 205]));
        assert!(!is_rtcp(&[0x80, 96]));
        assert!(!is_rtcp(&[0x80, 96 | 0x80]));
        assert!(!is_rtcp(&[0x80]));
    }
}
