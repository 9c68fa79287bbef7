//! Fuzzes the TURN client (ferrtc-turn): bytes from the server, as UDP
//! datagrams or a TCP stream, into an allocated client with requests in
//! flight, then its timers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_turn::fuzzing::client_receive(data);
});
