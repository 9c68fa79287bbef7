//! SDP model, parser and writer (RFC 8866) with the WebRTC attributes
#![forbid(unsafe_code)]
