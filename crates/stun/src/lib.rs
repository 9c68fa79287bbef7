//! STUN messages and attributes (RFC 8489): parsing, building, integrity and fingerprint
#![forbid(unsafe_code)]
