//! JSEP offer/answer logic (RFC 8829) over the ferrtc-sdp model.
//!
//! Pure logic, no I/O and no randomness: the caller passes ICE credentials,
//! fingerprints and the session id in [`JsepConfig`]. [`Jsep`] holds the
//! signaling state machine (W3C webrtc-pc §4.3.1), the transceivers with their
//! stable mids, and builds offers and answers:
//!
//! - m-section order and mids never change; stopped sections are rejected
//!   (port 0) and recycled by later offers (RFC 8829 §5.2.2);
//! - BUNDLE with the balanced, max-compat and max-bundle policies and
//!   `a=bundle-only` in initial offers (RFC 8829 §5.2.1, RFC 9143); every
//!   section in use runs over one transport, so sections not bundled with
//!   the first are rejected in answers and refused in remote answers;
//! - codec intersection with H.264 profile/packetization-mode/level rules,
//!   VP9 `profile-id`, RTX via `apt`, feedback intersection, offerer's
//!   payload types and header-extension ids in the answer (RFC 8829 §5.3.1);
//! - direction intersection, simulcast rids reversed in the answer (RFC 8853);
//! - `a=setup:actpass` in offers, `active`/`passive` in answers (RFC 8842);
//! - ICE restart with caller-supplied credentials.
//!
//! Answers put every bundled section on port 9 without `a=bundle-only`, as
//! browsers do. Provisional answers move the signaling state but are not
//! applied to transceivers until the final answer.
#![forbid(unsafe_code)]

mod build;
mod candidate;
mod codec;
mod config;
mod description;
mod error;
mod numbering;
mod session;
mod signaling;
mod transceiver;

pub use candidate::IceCandidateInit;
pub use codec::{
    Codec, H264Profile, MAX_FEEDBACK_PER_CODEC, RtcpFeedback, TELEPHONE_EVENT,
    TELEPHONE_EVENT_8000_PT, TELEPHONE_EVENT_48000_PT, default_audio_codecs, default_video_codecs,
    h264_profile, negotiate_codecs, parse_profile_level_id,
};
pub use config::{
    AnswerOptions, BundlePolicy, DEFAULT_MAX_REMOTE_CANDIDATES, IceCredentials, JsepConfig,
    OfferOptions,
};
pub use description::SessionDescription;
pub use error::JsepError;
pub use session::{Jsep, NegotiatedSctp, NegotiatedTransport};
pub use signaling::{SdpType, Side, SignalingState, Transition};
pub use transceiver::{
    EXT_ABS_SEND_TIME, EXT_AUDIO_LEVEL, EXT_MID, EXT_REPAIRED_RID, EXT_RID, EXT_TWCC,
    HeaderExtension, NegotiatedMedia, SendEncoding, Transceiver, TransceiverId, TransceiverInit,
    default_audio_extensions, default_video_extensions,
};
