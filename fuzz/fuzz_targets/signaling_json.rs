//! Fuzzes the JSON signaling parsers of ferrtc-signal: the server's client
//! and server messages and the bare payload line `ferrtc peer` reads from
//! stdio; whatever parses must write back to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_signal::fuzzing::parse_json(data);
});
