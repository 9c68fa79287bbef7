//! Entry points for the fuzz targets in `fuzz/`.

use crate::{Limits, parse_bytes};

/// Parses arbitrary bytes as SDP; when that succeeds, checks that writing and
/// parsing again gives the same model and the same text (idempotent writer).
pub fn parse_sdp(data: &[u8]) {
    let Ok(sdp) = parse_bytes(data, &Limits::default()) else {
        return;
    };
    let text = sdp.to_string();
    let limits = Limits {
        max_bytes: usize::MAX,
        max_lines: usize::MAX,
        max_line_length: usize::MAX,
        max_media: usize::MAX,
    };
    match parse_bytes(text.as_bytes(), &limits) {
        Ok(again) => {
            assert_eq!(again.to_string(), text, "writer is not idempotent");
        }
        Err(e) => panic!("written SDP does not parse: {e}\n{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_sdp;

    #[test]
    fn fuzz_entry_point_accepts_a_real_sdp_and_every_truncation_of_it() {
        let data = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/sdp/aiortc-1.16/av-dc-offer.sdp"
        ));
        for end in 0..=data.len() {
            parse_sdp(&data[..end]);
        }
    }
}
