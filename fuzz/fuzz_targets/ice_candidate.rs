//! Fuzzes the ICE candidate parser (`ferrtc_ice::fuzzing::parse_candidate`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_ice::fuzzing::parse_candidate(data);
});
