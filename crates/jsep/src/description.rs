//! `RTCSessionDescriptionInit`: a typed SDP blob and its JSON form.

use serde::{Deserialize, Serialize};

use crate::SdpType;

/// A session description as exchanged by signaling: its type and SDP text
/// (W3C `RTCSessionDescriptionInit`, webrtc-pc §4.7.2).
///
/// Serializes to the browsers' own JSON form `{"type":"offer","sdp":"..."}`.
///
/// ```
/// use ferrtc_jsep::{SdpType, SessionDescription};
/// let d: SessionDescription = serde_json::from_str(r#"{"type":"answer","sdp":"v=0\r\n"}"#).unwrap();
/// assert_eq!(d.kind, SdpType::Answer);
/// assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"type":"answer","sdp":"v=0\r\n"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[doc(alias = "RTCSessionDescription")]
#[doc(alias = "RTCSessionDescriptionInit")]
pub struct SessionDescription {
    /// `type`: offer, pranswer, answer or rollback.
    #[serde(rename = "type")]
    pub kind: SdpType,
    /// `sdp`: the SDP text (empty for rollback).
    #[serde(default)]
    pub sdp: String,
}

impl SessionDescription {
    /// An offer.
    pub fn offer(sdp: impl Into<String>) -> Self {
        Self {
            kind: SdpType::Offer,
            sdp: sdp.into(),
        }
    }

    /// An answer.
    pub fn answer(sdp: impl Into<String>) -> Self {
        Self {
            kind: SdpType::Answer,
            sdp: sdp.into(),
        }
    }

    /// A provisional answer.
    pub fn pranswer(sdp: impl Into<String>) -> Self {
        Self {
            kind: SdpType::Pranswer,
            sdp: sdp.into(),
        }
    }

    /// A rollback (no SDP).
    pub fn rollback() -> Self {
        Self {
            kind: SdpType::Rollback,
            sdp: String::new(),
        }
    }
}
