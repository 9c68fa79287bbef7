//! `RTCIceCandidateInit`: a trickled candidate and its JSON form.

use serde::{Deserialize, Serialize};

/// A trickled ICE candidate as signaled (W3C `RTCIceCandidateInit`, webrtc-pc §4.8.1;
/// RFC 8840 §4). An empty `candidate` means end of candidates.
///
/// ```
/// use ferrtc_jsep::IceCandidateInit;
/// let json = r#"{"candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}"#;
/// let c: IceCandidateInit = serde_json::from_str(json).unwrap();
/// assert_eq!(c.sdp_mid.as_deref(), Some("0"));
/// assert_eq!(serde_json::to_string(&c).unwrap(), json);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[doc(alias = "RTCIceCandidateInit")]
pub struct IceCandidateInit {
    /// `candidate:...` attribute text, or empty for end of candidates.
    #[serde(default)]
    pub candidate: String,
    /// Mid of the m-section the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// Index of that m-section, used when `sdp_mid` is absent.
    #[serde(
        default,
        rename = "sdpMLineIndex",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
    /// ICE ufrag the candidate was gathered for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

impl IceCandidateInit {
    /// Whether this marks the end of candidates (empty `candidate`).
    pub fn is_end_of_candidates(&self) -> bool {
        self.candidate.trim().is_empty()
    }
}
