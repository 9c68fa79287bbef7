//! JSEP offer/answer logic (RFC 8829) over the ferrtc-sdp model
#![forbid(unsafe_code)]
