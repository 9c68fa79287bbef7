//! Fuzzes every depacketizer of ferrtc-rtp (Opus, G.711, VP8, VP9, H.264,
//! AV1) with arbitrary payloads cut from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_rtp::fuzzing::depacketize(data);
});
