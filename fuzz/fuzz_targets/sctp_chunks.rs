//! Fuzzes every SCTP chunk parser of ferrtc-sctp on a bare chunk list (no
//! common header to get past): DATA, I-DATA, SACK, INIT, FORWARD-TSN,
//! I-FORWARD-TSN, RE-CONFIG; DATA and I-DATA must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_sctp::fuzzing::parse_chunks(data);
});
