//! Fuzzes the STUN parser (ferrtc-stun): parse, decode every attribute,
//! run the integrity and fingerprint checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_stun::fuzzing::parse_message(data);
});
