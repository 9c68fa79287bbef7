//! SRTP and SRTCP (RFC 3711, RFC 7714) with replay protection
#![forbid(unsafe_code)]
