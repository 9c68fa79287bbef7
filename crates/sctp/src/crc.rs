//! CRC32c checksum of SCTP packets (RFC 9260 §6.8, Appendix A) and the
//! zero-checksum alternative (RFC 9653).

/// Byte offset of the checksum in the SCTP common header.
pub(crate) const CHECKSUM_OFFSET: usize = 8;

/// Computes the CRC32c of `packet` with its checksum field taken as zero.
/// Uses the hardware CRC instruction where the CPU has one (the `crc32c` crate).
pub(crate) fn compute(packet: &[u8]) -> u32 {
    if packet.len() < 12 {
        return crc32c::crc32c(packet);
    }
    let crc = crc32c::crc32c(&packet[..CHECKSUM_OFFSET]);
    let crc = crc32c::crc32c_append(crc, &[0; 4]);
    crc32c::crc32c_append(crc, &packet[12..])
}

/// Writes the checksum of a fully written packet into its header. The value
/// is stored least significant byte first, as every deployed stack does
/// (RFC 9260 Appendix A).
pub(crate) fn fill(packet: &mut [u8]) {
    let crc = compute(packet);
    if let Some(field) = packet.get_mut(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4) {
        field.copy_from_slice(&crc.to_le_bytes());
    }
}

/// Reads the checksum field of a packet (at least 12 bytes long).
pub(crate) fn read(packet: &[u8]) -> u32 {
    match packet.get(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_rfc3720_vector() {
        // RFC 3720 B.4: 32 bytes of zeros give 0x8a9136aa.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
    }

    #[test]
    fn checksum_field_is_ignored_when_computing() {
        let mut a = vec![1u8; 40];
        let b = a.clone();
        a[8..12].copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(compute(&a), compute(&b));
    }

    #[test]
    fn filled_packet_verifies() {
        let mut p = vec![7u8; 64];
        fill(&mut p);
        assert_eq!(read(&p), compute(&p));
    }
}
