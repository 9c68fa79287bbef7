//! Fuzzes the RTCP header parser of ferrtc-srtp (common header and sender
//! SSRC) and protect→unprotect round trips of arbitrary plain RTCP packets
//! with a fixed key, encrypted and not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_srtp::fuzzing::parse_rtcp(data);
    ferrtc_srtp::fuzzing::rtcp_round_trip(data);
});
