//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).

use crate::h264::AnnexBReader;
use crate::ivf::{IvfReader, IvfWriter};
use crate::ogg::PageReader;
use crate::opus::OpusReader;

/// Feeds `data` to the IVF, Ogg page, Ogg Opus, Annex B and PNG readers
/// with small limits (the PNG reader also after the PNG signature). An IVF
/// file that reads to the end writes back to the same frames, a PNG that
/// reads writes back to the same picture. Must never panic.
pub fn media_files(data: &[u8]) {
    let mut png = crate::png::SIGNATURE.to_vec();
    png.extend_from_slice(data);
    for bytes in [data, &png[..]] {
        if let Ok(img) = crate::png::read_rgb(bytes) {
            let again = crate::png::read_rgb(&crate::png::write_rgb(&img));
            assert_eq!(again.as_ref(), Ok(&img), "a PNG read writes back");
        }
    }
    if let Ok(mut r) = IvfReader::with_max_frame_size(data, 1 << 16) {
        let header = *r.header();
        let mut frames = Vec::new();
        let ok = loop {
            match r.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        if ok {
            let mut w = IvfWriter::new(Vec::new(), header).expect("a Vec takes the header");
            for f in &frames {
                w.write_frame(f.pts, &f.data).expect("a read frame writes");
            }
            let bytes = w.finish().expect("a Vec flushes");
            let again: Result<Vec<_>, _> = IvfReader::new(&bytes[..]).expect("header").collect();
            assert_eq!(again.expect("written IVF reads"), frames);
        }
    }
    let mut pages = PageReader::new(data);
    while let Ok(Some(_)) = pages.next_page() {}
    if let Ok(mut r) = OpusReader::new(data) {
        while let Ok(Some(p)) = r.next_packet() {
            assert!(p.samples <= crate::opus::MAX_PACKET_SAMPLES);
        }
    }
    let mut h = AnnexBReader::with_max_nal_size(data, 1 << 16);
    while let Ok(Some(au)) = h.next_access_unit() {
        assert!(!au.nals.is_empty());
    }
    for nal in crate::h264::split_nal_units(data) {
        let _ = crate::h264::first_mb_in_slice(nal);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_entry_point_survives_sample_inputs() {
        let mut state = 7u64;
        for len in 0..400 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 56) as u8
                })
                .collect();
            super::media_files(&data);
            let mut ivf = b"DKIF\0\0\x20\0VP80".to_vec();
            ivf.resize(32, 0);
            ivf.extend_from_slice(&data);
            super::media_files(&ivf);
            let mut annexb = vec![0, 0, 0, 1];
            annexb.extend_from_slice(&data);
            super::media_files(&annexb);
        }
    }
}
