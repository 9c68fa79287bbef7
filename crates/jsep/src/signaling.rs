//! The signaling state machine (W3C webrtc-pc §4.3.1, RFC 8829 §3.2).

use serde::{Deserialize, Serialize};

/// `RTCSdpType`: the kind of a session description (W3C webrtc-pc §4.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[doc(alias = "RTCSdpType")]
pub enum SdpType {
    /// `offer`.
    Offer,
    /// `pranswer`: a provisional answer.
    Pranswer,
    /// `answer`: the final answer.
    Answer,
    /// `rollback`: cancel the current offer.
    Rollback,
}

impl SdpType {
    /// The W3C string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Pranswer => "pranswer",
            Self::Answer => "answer",
            Self::Rollback => "rollback",
        }
    }
}

/// `RTCSignalingState` (W3C webrtc-pc §4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[doc(alias = "RTCSignalingState")]
pub enum SignalingState {
    /// No offer/answer exchange in progress.
    Stable,
    /// A local offer has been applied.
    HaveLocalOffer,
    /// A remote offer has been applied.
    HaveRemoteOffer,
    /// A remote offer and a local provisional answer have been applied.
    HaveLocalPranswer,
    /// A local offer and a remote provisional answer have been applied.
    HaveRemotePranswer,
    /// The session is closed.
    Closed,
}

/// Which side a description is applied on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `setLocalDescription`.
    Local,
    /// `setRemoteDescription`.
    Remote,
}

/// What applying a description does, per the W3C transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to the given state.
    To(SignalingState),
    /// Roll back the pending offer first (W3C "implicit rollback"), then
    /// apply the remote offer and move to `have-remote-offer`.
    ImplicitRollbackThen(SignalingState),
}

impl SignalingState {
    /// The W3C string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::HaveLocalOffer => "have-local-offer",
            Self::HaveRemoteOffer => "have-remote-offer",
            Self::HaveLocalPranswer => "have-local-pranswer",
            Self::HaveRemotePranswer => "have-remote-pranswer",
            Self::Closed => "closed",
        }
    }

    /// The transition for applying a description of `kind` on `side`, or
    /// `None` when the W3C spec forbids it (`InvalidStateError`).
    ///
    /// Implements webrtc-pc §4.4.1.6 ("set the session description") and
    /// RFC 8829 §3.2: offers from `stable`; a second local offer in
    /// `have-local-offer` and remote offer in `have-remote-offer` replace the
    /// first; answers and pranswers only from the matching offer state;
    /// rollback only from `have-local-offer` or `have-remote-offer`.
    pub fn transition(self, side: Side, kind: SdpType) -> Option<Transition> {
        use SdpType as T;
        use Side::{Local as L, Remote as R};
        use SignalingState as S;
        let to = |s| Some(Transition::To(s));
        match (self, side, kind) {
            (S::Closed, _, _) => None,
            (S::HaveLocalOffer | S::HaveRemoteOffer, _, T::Rollback) => to(S::Stable),
            (_, _, T::Rollback) => None,
            (S::Stable | S::HaveLocalOffer, L, T::Offer) => to(S::HaveLocalOffer),
            (S::Stable | S::HaveRemoteOffer, R, T::Offer) => to(S::HaveRemoteOffer),
            (S::HaveLocalOffer, R, T::Offer) => {
                Some(Transition::ImplicitRollbackThen(S::HaveRemoteOffer))
            }
            (S::HaveRemoteOffer | S::HaveLocalPranswer, L, T::Answer) => to(S::Stable),
            (S::HaveRemoteOffer | S::HaveLocalPranswer, L, T::Pranswer) => to(S::HaveLocalPranswer),
            (S::HaveLocalOffer | S::HaveRemotePranswer, R, T::Answer) => to(S::Stable),
            (S::HaveLocalOffer | S::HaveRemotePranswer, R, T::Pranswer) => {
                to(S::HaveRemotePranswer)
            }
            _ => None,
        }
    }
}
