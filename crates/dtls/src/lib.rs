//! Sans-IO DTLS for WebRTC over the dimpl engine: certificates, fingerprints, DTLS-SRTP keys
#![forbid(unsafe_code)]
