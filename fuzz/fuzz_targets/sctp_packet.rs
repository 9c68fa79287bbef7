//! Fuzzes the SCTP packet and chunk parsers (ferrtc-sctp), then feeds the
//! packet to an established association and polls everything it produces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_sctp::fuzzing::parse_packet(data);
});
