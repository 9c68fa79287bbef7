//! Just enough RTP/RTCP header parsing to find where the encrypted part starts.
//!
//! Bounded: a constant number of reads, every length checked, no allocation.

use crate::Error;

/// Fixed RTP header length (RFC 3550 §5.1).
const RTP_FIXED_HEADER: usize = 12;
/// RTCP common header plus the sender SSRC: the part SRTCP leaves in the clear
/// (RFC 3711 §3.4).
pub(crate) const RTCP_CLEAR_HEADER: usize = 8;

fn check_version(first: u8) -> Result<(), Error> {
    let version = first >> 6;
    if version == 2 {
        Ok(())
    } else {
        Err(Error::BadVersion { version })
    }
}

/// The parts of an RTP header SRTP needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtpHeader {
    /// Sequence number (RFC 3550 §5.1).
    pub(crate) seq: u16,
    /// Synchronization source.
    pub(crate) ssrc: u32,
    /// Header length including CSRCs and the header extension: the payload offset.
    pub(crate) len: usize,
}

/// Parses the RTP header at the start of `packet`, of which at most `limit`
/// bytes may belong to the header (the rest being the SRTP tag).
pub(crate) fn parse_rtp(packet: &[u8], limit: usize) -> Result<RtpHeader, Error> {
    let limit = limit.min(packet.len());
    let fixed = packet
        .get(..RTP_FIXED_HEADER)
        .filter(|_| limit >= RTP_FIXED_HEADER);
    let Some(fixed) = fixed else {
        return Err(Error::TooShort {
            len: packet.len(),
            needed: RTP_FIXED_HEADER + (packet.len() - limit),
        });
    };
    check_version(fixed[0])?;
    let seq = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ssrc = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
    let csrc_count = usize::from(fixed[0] & 0x0f);
    let mut len = RTP_FIXED_HEADER + 4 * csrc_count;
    // RFC 3550 §5.3.1: a 4-byte extension header, then `length` 32-bit words.
    if fixed[0] & 0x10 != 0 {
        let ext = packet.get(len..len + 4).filter(|_| len + 4 <= limit);
        let Some(ext) = ext else {
            return Err(Error::TooShort {
                len: packet.len(),
                needed: len + 4 + (packet.len() - limit),
            });
        };
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    if len > limit {
        return Err(Error::TooShort {
            len: packet.len(),
            needed: len + (packet.len() - limit),
        });
    }
    Ok(RtpHeader { seq, ssrc, len })
}

/// Checks the RTCP header at the start of `packet` and returns the sender SSRC.
pub(crate) fn parse_rtcp(packet: &[u8], min_len: usize) -> Result<u32, Error> {
    match packet.get(..RTCP_CLEAR_HEADER) {
        Some(h) if packet.len() >= min_len => {
            check_version(h[0])?;
            Ok(u32::from_be_bytes([h[4], h[5], h[6], h[7]]))
        }
        _ => Err(Error::TooShort {
            len: packet.len(),
            needed: min_len.max(RTCP_CLEAR_HEADER),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_offset_counts_csrcs_and_extension() {
        let mut p = vec![0x92, 0x60, 0x12, 0x34, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        p.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]); // 2 CSRCs
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0, 0]); // one-byte ext, 1 word
        p.extend_from_slice(b"payload");
        let h = parse_rtp(&p, p.len()).unwrap();
        assert_eq!(h.len, 12 + 8 + 8);
        assert_eq!(h.seq, 0x1234);
        assert_eq!(h.ssrc, 0xdeadbeef);
    }

    #[test]
    fn extension_longer_than_packet_is_too_short() {
        let mut p = vec![0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        p.extend_from_slice(&[0xbe, 0xde, 0xff, 0xff]);
        assert!(matches!(
            parse_rtp(&p, p.len()),
            Err(Error::TooShort { .. })
        ));
    }

    #[test]
    fn header_may_not_reach_into_the_tag() {
        let p = vec![0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9];
        assert!(parse_rtp(&p, p.len()).is_ok());
        assert!(matches!(parse_rtp(&p, 10), Err(Error::TooShort { .. })));
    }

    #[test]
    fn version_other_than_two_is_rejected() {
        let p = [0x40u8; 20];
        assert_eq!(parse_rtp(&p, 20), Err(Error::BadVersion { version: 1 }));
        assert_eq!(parse_rtcp(&p, 8), Err(Error::BadVersion { version: 1 }));
    }
}
