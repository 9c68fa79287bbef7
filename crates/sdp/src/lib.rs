//! SDP model, parser and writer (RFC 8866) with the WebRTC attributes.
//!
//! - [`SessionDescription`] and [`MediaDescription`] are a typed model of the
//!   text: known attributes become [`Attribute`] variants, every other line is
//!   kept in order as written, so parse-then-write of a real SDP is lossless.
//! - The parser ([`parse`], [`parse_bytes`]) accepts CRLF or LF line endings,
//!   skips empty lines, enforces [`Limits`] and reports the line number of
//!   every error. The writer (`Display`) always emits CRLF.
//!
//! Normalisation, the only ways `write(parse(x))` can differ from `x`:
//! LF line endings become CRLF, empty lines are dropped, and numeric fields of
//! the `o=`, `t=`, `b=` and `m=` lines lose leading zeros. Attributes written in
//! a non-canonical spelling are kept verbatim as [`Attribute::Other`].
#![forbid(unsafe_code)]

mod attribute;
mod error;
mod model;
mod parse;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use attribute::{
    Attribute, Direction, Extmap, Fingerprint, Fmtp, Group, HashFunction, IceOption, Msid,
    MsidSemantic, Rid, RidDirection, Rtcp, RtcpFb, Rtpmap, Sctpmap, Setup, Simulcast, SimulcastRid,
    SimulcastStreams, Ssrc, SsrcGroup, SsrcGroupSemantics, split_fmtp_params,
};
pub use error::SdpError;
/// The typed ICE candidate of `a=candidate` lines, from `ferrtc-ice`.
pub use ferrtc_ice::Candidate;
pub use model::{
    Bandwidth, BandwidthType, Connection, MediaDescription, MediaKind, Origin, SessionDescription,
    Timing,
};
pub use parse::{Limits, parse, parse_bytes};
