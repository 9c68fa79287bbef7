//! Fuzzes the RTP header parser of ferrtc-srtp (fixed header, CSRCs,
//! extension) and protect→unprotect round trips of arbitrary plain RTP
//! packets with a fixed key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_srtp::fuzzing::parse_rtp(data);
    ferrtc_srtp::fuzzing::rtp_round_trip(data);
});
