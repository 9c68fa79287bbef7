//! Fuzzes the DTLS engine's input path (ferrtc-dtls) and its fingerprint and
//! PEM parsers with arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_dtls::fuzzing::fingerprint(data);
    ferrtc_dtls::fuzzing::certificate_pem(data);
    ferrtc_dtls::fuzzing::receive(data);
});
