//! Fuzzes ferrtc-dtls's handshake in both roles: a seeded handshake between
//! two transports with one datagram corrupted by the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_dtls::fuzzing::handshake(data);
});
