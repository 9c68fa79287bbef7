//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).

/// Parses `data` as a DCEP message and, when it parses, checks that
/// writing it back gives a message that parses to the same value.
pub fn parse_dcep(data: &[u8]) {
    if let Ok(m) = crate::DcepMessage::parse(data) {
        let mut out = Vec::new();
        m.write(&mut out);
        assert_eq!(crate::DcepMessage::parse(&out).ok(), Some(m));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_entry_point_survives_sample_inputs() {
        for input in [
            &[][..],
            &[3],
            &[2],
            &[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, b'a'],
        ] {
            super::parse_dcep(input);
        }
    }
}
