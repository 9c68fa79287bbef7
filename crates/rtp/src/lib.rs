//! Sans-IO RTP and RTCP for media: packets (RFC 3550) with header extensions
//! (RFC 8285), typed extension values, RTCP with feedback (RFC 4585, RFC
//! 5104, transport-wide congestion control), payloaders and depacketizers
//! per codec, a jitter buffer, NACK/RTX repair (RFC 4588), sender and
//! receiver reports, and DTMF (RFC 4733, the W3C `RTCDTMFSender`). No
//! socket, no clock: time is passed in.
//!
//! | module | job |
//! |---|---|
//! | [`packet`] | RTP parse into a borrowed view, write into the caller's buffer |
//! | [`extension`] | typed header extension values and the negotiated id map |
//! | [`rtcp`] | RTCP packets, compound and reduced-size |
//! | [`cc`] | congestion control: transport-cc feedback, the send-side estimate (GCC), the pacer |
//! | [`codec`] | payloaders and depacketizers, keyframe detection |
//! | [`dtmf`] | RFC 4733 telephone events, the W3C DTMF sender, tone events on receipt |
//! | [`jitter`] | frame assembly in sequence order, loss given up after a bounded wait |
//! | [`repair`] | NACK generation, send history, RTX |
//! | [`report`] | receive statistics, sender reports, round-trip time |
//!
//! ```
//! use ferrtc_rtp::extension::{ExtensionMap, MID_URI};
//! use ferrtc_rtp::{ExtensionId, PayloadType, RtpPacket};
//!
//! let mid = ExtensionId::new(1).unwrap();
//! let mut packet = RtpPacket::new(PayloadType::new(96).unwrap(), 7, 90_000, 0x1234, b"frame");
//! packet.marker = true;
//! packet.extensions.insert(mid, b"video").unwrap();
//! let mut buf = [0u8; 1500];
//! let len = packet.write(&mut buf).unwrap();
//!
//! let parsed = RtpPacket::parse(&buf[..len]).unwrap();
//! let mut map = ExtensionMap::new();
//! map.insert(mid, MID_URI);
//! assert_eq!(map.mid(&parsed.extensions).unwrap().as_str(), "video");
//! assert_eq!(parsed.payload, b"frame");
//! ```
#![forbid(unsafe_code)]

pub mod cc;
pub mod codec;
pub mod dtmf;
pub mod extension;
// Also built for unit tests, which run the fuzz entry points on fixed inputs.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod jitter;
pub mod packet;
mod plain;
pub mod repair;
pub mod report;
pub mod rtcp;
mod seq;
mod seqmap;

pub use packet::{
    Csrcs, ExtensionForm, ExtensionId, Extensions, ParseError, PayloadType, RawExtension,
    RtpPacket, WriteError,
};
pub use plain::PlainPacket;
