//! Fuzzes ferrtc-dtls's record layer after the handshake: arbitrary
//! datagrams through the copying and the in-place receive paths.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_dtls::fuzzing::records(data);
});
