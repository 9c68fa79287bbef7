//! Fuzzes the file readers of ferrtc-media: IVF, Ogg pages, Ogg Opus and
//! H.264 Annex B; an IVF file that reads to its end must write back to the
//! same frames.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_media::fuzzing::media_files(data);
});
