//! Fuzzes SRTP and SRTCP unprotect (ferrtc-srtp): arbitrary packets, and
//! scripts of protected, tampered and replayed packets that reach the
//! decryption, rollover and replay-window code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_srtp::fuzzing::unprotect(data);
    ferrtc_srtp::fuzzing::round_trip(data);
});
