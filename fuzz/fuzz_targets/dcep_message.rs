//! Fuzzes the DCEP message parser (ferrtc-datachannel) and checks that
//! whatever parses writes back to the same message; then feeds the same
//! bytes to the data channel engine as hostile SCTP messages
//! (`ferrtc_datachannel::fuzzing::messages` documents the format).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_datachannel::fuzzing::parse_dcep(data);
    ferrtc_datachannel::fuzzing::messages(data);
});
