//! Sans-IO RTP and RTCP for media: packets (RFC 3550) with header extensions
//! (RFC 8285), typed extension values, RTCP with feedback (RFC 4585, RFC
//! 5104, transport-wide congestion control), payloaders and depacketizers
//! per codec, a jitter buffer, NACK/RTX repair (RFC 4588) and sender and
//! receiver reports. No socket, no clock: time is passed in.
#![forbid(unsafe_code)]

pub mod codec;
pub mod extension;
// Also built for unit tests, which run the fuzz entry points on fixed inputs.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod jitter;
pub mod packet;
pub mod repair;
pub mod report;
pub mod rtcp;
mod seq;

pub use packet::{
    Csrcs, ExtensionForm, ExtensionId, Extensions, ParseError, PayloadType, RawExtension,
    RtpPacket, WriteError,
};
