//! Inputs of a JSEP session: ICE credentials, fingerprints, policies.

use ferrtc_sdp::{Fingerprint, IceOption, Setup};

/// ICE username fragment and password (RFC 8839 §5.4), chosen by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCredentials {
    /// `a=ice-ufrag`.
    pub ufrag: String,
    /// `a=ice-pwd`.
    pub pwd: String,
}

impl IceCredentials {
    /// Builds credentials.
    pub fn new(ufrag: &str, pwd: &str) -> Self {
        Self {
            ufrag: ufrag.to_owned(),
            pwd: pwd.to_owned(),
        }
    }
}

/// `RTCBundlePolicy` (W3C webrtc-pc §4.2.5, RFC 8829 §4.1.1).
///
/// The policy decides which sections of an initial offer are
/// `a=bundle-only`. Whatever it is, every section in use runs over one
/// transport (ferrtc has one ICE agent and one DTLS association per
/// session), as with max-bundle: an answer this side creates rejects the
/// sections the offer does not bundle with the first one it accepts, and a
/// remote answer that accepts a section outside its BUNDLE group is refused
/// ([`crate::JsepError::AnswerMismatch`], RFC 8843 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[doc(alias = "RTCBundlePolicy")]
pub enum BundlePolicy {
    /// One transport per media type: in an initial offer, the first m-section
    /// of each kind is not bundle-only, later ones of the same kind are.
    #[default]
    Balanced,
    /// Every m-section can stand alone: none is bundle-only.
    MaxCompat,
    /// One transport: every m-section but the first is bundle-only in an
    /// initial offer.
    MaxBundle,
}

/// Configuration of a [`crate::Jsep`] session. The JSEP layer generates no
/// keys or random values: the caller passes them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsepConfig {
    /// `<sess-id>` of the `o=` line, random per session (RFC 8829 §5.2.1).
    pub session_id: u64,
    /// Local ICE credentials.
    pub ice: IceCredentials,
    /// Fingerprints of the local DTLS certificate(s).
    pub fingerprints: Vec<Fingerprint>,
    /// Bundle policy.
    pub bundle_policy: BundlePolicy,
    /// `a=ice-options` to write (trickle by default).
    pub ice_options: Vec<IceOption>,
    /// Role taken when answering an `actpass` offer: `Active` (default, as
    /// RFC 8842 §5.3 recommends) or `Passive`.
    pub answer_setup: Setup,
    /// Local SCTP port (`a=sctp-port`, RFC 8841 §5).
    pub sctp_port: u16,
    /// Largest message this side can receive (`a=max-message-size`, RFC 8841 §6).
    pub max_message_size: u64,
    /// Whether to accept data-channel m-sections in remote offers.
    pub accept_data_channels: bool,
    /// CNAME for `a=ssrc` lines (RFC 7022).
    pub cname: String,
    /// Size limits for a remote description (bytes, lines, line length,
    /// m-sections; [`ferrtc_sdp::Limits`] defaults: 256 KiB, 8192 lines,
    /// 4096 bytes, 1024): SDP comes from the peer and is untrusted.
    pub sdp_limits: ferrtc_sdp::Limits,
    /// Most candidates one remote m-section may hold, from its SDP and
    /// trickled with `add_ice_candidate` together (default 256); one more is
    /// refused with [`crate::JsepError::TooManyCandidates`].
    pub max_remote_candidates: usize,
    /// The session-level `a=identity` value written into created offers and
    /// answers: the base64 identity assertion (RFC 8827 §5.6.4.1, W3C
    /// webrtc-identity). `None` (the default) writes none. The caller makes
    /// the assertion (ferrtc-core asks its identity provider); JSEP only
    /// carries it.
    pub identity: Option<String>,
}

/// Default of [`JsepConfig::max_remote_candidates`]: well above what ICE
/// keeps (64 by default) and what browsers gather.
pub const DEFAULT_MAX_REMOTE_CANDIDATES: usize = 256;

impl JsepConfig {
    /// A configuration with the given credentials and defaults for the rest.
    pub fn new(session_id: u64, ice: IceCredentials, fingerprints: Vec<Fingerprint>) -> Self {
        Self {
            session_id,
            ice,
            fingerprints,
            bundle_policy: BundlePolicy::default(),
            ice_options: vec![IceOption::Trickle],
            answer_setup: Setup::Active,
            sctp_port: 5000,
            max_message_size: 262_144,
            accept_data_channels: true,
            cname: "ferrtc".to_owned(),
            sdp_limits: ferrtc_sdp::Limits::default(),
            max_remote_candidates: DEFAULT_MAX_REMOTE_CANDIDATES,
            identity: None,
        }
    }
}

/// Options of [`crate::Jsep::create_offer`] (W3C `RTCOfferOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[doc(alias = "RTCOfferOptions")]
pub struct OfferOptions {
    /// Restart ICE with these new credentials (RFC 8829 §5.2.1 `iceRestart`).
    pub ice_restart: Option<IceCredentials>,
}

/// Options of [`crate::Jsep::create_answer`] (W3C `RTCAnswerOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[doc(alias = "RTCAnswerOptions")]
pub struct AnswerOptions {
    /// New local credentials: used by the first answer of the session, and
    /// required when the offer restarts ICE (RFC 8829 §5.3.1); ignored by
    /// other subsequent answers, which keep the current credentials.
    pub ice_credentials: Option<IceCredentials>,
}
