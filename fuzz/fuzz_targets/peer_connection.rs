//! Stateful target: connects two ferrtc-core peer connections in memory
//! (offer/answer, ICE, DTLS, SCTP, one open channel), then feeds the input
//! as hostile datagrams from the remote's address, interleaved with
//! timeouts (`ferrtc_core::fuzzing::datagrams` documents the format).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_core::fuzzing::datagrams(data);
});
