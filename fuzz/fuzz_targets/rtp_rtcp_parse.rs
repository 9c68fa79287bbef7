//! Fuzzes the RTP and RTCP parsers of ferrtc-rtp (header extensions, every
//! RTCP type, compound packets) and checks that whatever parses writes back
//! to bytes that parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_rtp::fuzzing::parse_rtp_rtcp(data);
});
