//! Fuzzes SRTP and SRTCP unprotect (ferrtc-srtp) with arbitrary packets.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_srtp::fuzzing::unprotect(data);
});
