//! Serial number arithmetic (RFC 1982) for 32-bit TSNs and 16-bit SSNs,
//! and their unwrapping into 64-bit counters for ordered maps.

/// Unwraps a 32-bit TSN to the 64-bit value nearest to `reference`.
pub(crate) fn unwrap_u32(reference: u64, value: u32) -> u64 {
    let diff = value.wrapping_sub(reference as u32) as i32 as i64;
    (reference as i64 + diff).max(0) as u64
}

/// Unwraps a 16-bit SSN to the 64-bit value nearest to `reference`.
pub(crate) fn unwrap_u16(reference: u64, value: u16) -> u64 {
    let diff = value.wrapping_sub(reference as u16) as i16 as i64;
    (reference as i64 + diff).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrap_crosses_the_32_bit_boundary() {
        let r = u32::MAX as u64 - 1;
        assert_eq!(unwrap_u32(r, 3), u32::MAX as u64 + 4);
        assert_eq!(unwrap_u32(r + 10, u32::MAX - 5), u32::MAX as u64 - 5);
    }

    #[test]
    fn unwrap_crosses_the_16_bit_boundary() {
        assert_eq!(unwrap_u16(65_535, 0), 65_536);
        assert_eq!(unwrap_u16(65_536, 65_535), 65_535);
        assert_eq!(unwrap_u16(5, 3), 3);
    }
}
