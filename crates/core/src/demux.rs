//! Demultiplexing by first byte (RFC 7983 §7, RFC 9443).

/// What a datagram is, by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Demux {
    /// 0..=3: STUN.
    Stun,
    /// 20..=63: DTLS.
    Dtls,
    /// 128..=191: RTP or RTCP.
    Rtp,
    /// Anything else (ZRTP, TURN channels, garbage): dropped.
    Other,
}

/// Classifies a datagram (RFC 7983 §7 decision tree).
pub(crate) fn classify(datagram: &[u8]) -> Demux {
    match datagram.first() {
        Some(0..=3) => Demux::Stun,
        Some(20..=63) => Demux::Dtls,
        Some(128..=191) => Demux::Rtp,
        _ => Demux::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_ranges_follow_rfc_7983() {
        assert_eq!(classify(&[0]), Demux::Stun);
        assert_eq!(classify(&[3]), Demux::Stun);
        assert_eq!(classify(&[4]), Demux::Other);
        assert_eq!(classify(&[19]), Demux::Other);
        assert_eq!(classify(&[20]), Demux::Dtls);
        assert_eq!(classify(&[63]), Demux::Dtls);
        assert_eq!(classify(&[64]), Demux::Other);
        assert_eq!(classify(&[127]), Demux::Other);
        assert_eq!(classify(&[128]), Demux::Rtp);
        assert_eq!(classify(&[191]), Demux::Rtp);
        assert_eq!(classify(&[192]), Demux::Other);
        assert_eq!(classify(&[]), Demux::Other);
    }
}
