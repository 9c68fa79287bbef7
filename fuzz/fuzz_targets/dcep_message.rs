//! Fuzzes the DCEP message parser (ferrtc-datachannel) and checks that
//! whatever parses writes back to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_datachannel::fuzzing::parse_dcep(data);
});
