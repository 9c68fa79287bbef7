//! Peer identity: W3C webrtc-identity (`RTCIdentityProvider`,
//! `RTCIdentityAssertion`, `peerIdentity`) and RFC 8827 §7 (`a=identity`).
//!
//! An identity provider (IdP) signs the fingerprints of our DTLS
//! certificate under an identity (`alice@example.org`); the peer's IdP
//! proxy checks that signature and returns the identity and the signed
//! contents. Since the DTLS handshake is pinned to the fingerprints of the
//! remote description, an assertion over those fingerprints binds the
//! identity to the DTLS peer.
//!
//! In a browser the IdP is JavaScript loaded from
//! `https://<domain>/.well-known/idp-proxy/<protocol>`; here it is a Rust
//! [`IdentityProvider`] the application hands to
//! [`PeerConnection::set_identity_provider`](crate::PeerConnection::set_identity_provider).
//! It is synchronous, as the core is sans-IO: an IdP that must reach the
//! network does so before (a token fetched ahead) or the async `ferrtc`
//! layer runs it off its task (see that crate).
//!
//! What goes on the wire (RFC 8827 §7.3, §7.4; W3C webrtc-identity §9.5):
//!
//! - the *contents* the IdP signs: the JSON
//!   `{"fingerprint":[{"algorithm":"sha-256","digest":"AA:BB:..."}]}`,
//!   one entry per `a=fingerprint` we write;
//! - `a=identity:<base64>` at session level, the base64 of
//!   `{"idp":{"domain":"example.org","protocol":"default"},"assertion":"..."}`,
//!   where `assertion` is the IdP's opaque result.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// Most bytes of a decoded `a=identity` JSON: the assertion is a token, not
/// a document; a peer cannot make us parse more.
pub const MAX_ASSERTION_LEN: usize = 16 * 1024;

/// W3C `RTCIdentityProviderOptions`: how to ask the IdP for an assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCIdentityProviderOptions")]
pub struct IdentityOptions {
    /// `protocol`: the IdP protocol (the last path segment of the IdP proxy
    /// URL in a browser); `"default"` by default.
    pub protocol: String,
    /// `usernameHint`: the identity the application would like asserted.
    pub username_hint: Option<String>,
    /// `peerIdentity`: the peer's identity, for an IdP that binds its
    /// assertions to a pair of peers. A hint to the IdP only: the identity
    /// the peer must have is [`Config::peer_identity`](crate::Config::peer_identity).
    pub peer_identity: Option<String>,
    /// The origin of the caller (W3C: the origin of the page, which the
    /// browser passes to the IdP proxy). Passed to both
    /// [`IdentityProvider`] calls; `"null"` by default.
    pub origin: String,
}

impl Default for IdentityOptions {
    fn default() -> Self {
        IdentityOptions {
            protocol: "default".into(),
            username_hint: None,
            peer_identity: None,
            origin: "null".into(),
        }
    }
}

/// W3C `RTCIdentityProviderDetails`: the IdP that made an assertion, as
/// carried in `a=identity` (RFC 8827 §7.4 `idp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[doc(alias = "RTCIdentityProviderDetails")]
pub struct IdentityProviderDetails {
    /// `domain`: the IdP's domain.
    pub domain: String,
    /// `protocol`: the IdP protocol.
    pub protocol: String,
}

/// W3C `RTCIdentityAssertionResult`: what
/// [`IdentityProvider::generate_assertion`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCIdentityAssertionResult")]
pub struct IdentityAssertionResult {
    /// `idp`: the IdP that made the assertion; the peer uses it to find the
    /// IdP that validates it.
    pub idp: IdentityProviderDetails,
    /// `assertion`: the IdP's opaque assertion (a signed token).
    pub assertion: String,
}

/// W3C `RTCIdentityValidationResult`: what
/// [`IdentityProvider::validate_assertion`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCIdentityValidationResult")]
pub struct ValidatedIdentity {
    /// `identity`: the asserted identity, `user@domain`.
    pub identity: String,
    /// `contents`: what the assertion was made over, exactly as given to
    /// `generate_assertion` (the fingerprint JSON, RFC 8827 §7.3).
    pub contents: String,
}

/// W3C `RTCIdentityAssertion`: the peer's identity once validated (the
/// value of `peerIdentity`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCIdentityAssertion")]
pub struct IdentityAssertion {
    /// `idp`: the domain of the IdP that validated it.
    pub idp: String,
    /// `name`: the peer's identity, `user@domain`.
    pub name: String,
}

/// W3C `RTCIdentityProvider` (webrtc-identity §5): makes assertions over
/// our fingerprints and validates the peer's.
///
/// The two calls are the IdP proxy's `generateAssertion` and
/// `validateAssertion`. They run inside the connection's calls
/// (`create_offer`, `set_remote_description`, ...), so they should not
/// block long.
#[doc(alias = "RTCIdentityProvider")]
pub trait IdentityProvider: Send + Sync {
    /// `generateAssertion(contents, origin, options)`: an assertion that
    /// binds our identity to `contents` (the fingerprint JSON of RFC 8827
    /// §7.3), for a peer that will validate it with the IdP named in the
    /// result.
    fn generate_assertion(
        &self,
        contents: &str,
        origin: &str,
        options: &IdentityOptions,
    ) -> Result<IdentityAssertionResult, IdentityError>;

    /// `validateAssertion(assertion, origin)`: checks the peer's assertion
    /// and returns the identity and the contents it was made over.
    fn validate_assertion(
        &self,
        assertion: &str,
        origin: &str,
    ) -> Result<ValidatedIdentity, IdentityError>;
}

/// Why an identity could not be asserted or validated. The W3C reports
/// these as an `RTCError` whose `errorDetail` is an IdP failure
/// ([`IdentityError::error_detail`]); the connection's calls wrap them
/// in an `OperationError` ([`crate::Error::Operation`], with this as its
/// cause).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// No identity provider is set, but one is needed (W3C
    /// `idp-load-failure`: no IdP could be loaded).
    #[error("no identity provider is set")]
    ProviderMissing,
    /// The IdP could not make an assertion (W3C `idp-execution-failure`;
    /// `idp-need-login` when it needs the user to log in).
    #[error("the identity provider could not make an assertion: {0}")]
    Generation(String),
    /// The IdP refused the peer's assertion: bad signature, expired,
    /// another IdP's (W3C `idp-token-invalid`).
    #[error("the identity assertion does not validate: {0}")]
    Validation(String),
    /// `a=identity` is not the base64 JSON of RFC 8827 §7.4, or the
    /// validated contents are not the fingerprint JSON of §7.3 (W3C
    /// `idp-bad-script-failure`: the IdP returned something malformed).
    #[error("malformed identity assertion: {0}")]
    Malformed(String),
    /// The remote description has no `a=identity` while a peer identity is
    /// required (W3C `[[targetPeerIdentity]]` set).
    #[error("the remote description has no a=identity")]
    AssertionMissing,
    /// The validated identity is not the one required
    /// ([`Config::peer_identity`](crate::Config::peer_identity), or the one
    /// already validated: W3C, it cannot change), or its domain is not the
    /// IdP's (W3C webrtc-identity §9.5).
    #[error("identity mismatch: expected {expected}, the peer asserts {asserted}")]
    IdentityMismatch {
        /// The identity required.
        expected: String,
        /// The identity the peer's assertion validated to.
        asserted: String,
    },
    /// The assertion's contents do not cover the DTLS fingerprints the peer
    /// uses (RFC 8827 §7.4, W3C webrtc-identity §9.5): it was made for
    /// another certificate. The connection refuses it.
    #[error("the identity assertion does not cover the peer's DTLS fingerprint {0}")]
    FingerprintMismatch(String),
}

impl IdentityError {
    /// The W3C `RTCErrorDetailType` of the failure (`"idp-load-failure"`,
    /// `"idp-execution-failure"`, `"idp-token-invalid"`,
    /// `"idp-bad-script-failure"`), or `None` for a refusal by the
    /// connection itself (missing assertion, identity or fingerprint
    /// mismatch: a plain `OperationError`).
    pub fn error_detail(&self) -> Option<&'static str> {
        match self {
            IdentityError::ProviderMissing => Some("idp-load-failure"),
            IdentityError::Generation(_) => Some("idp-execution-failure"),
            IdentityError::Validation(_) => Some("idp-token-invalid"),
            IdentityError::Malformed(_) => Some("idp-bad-script-failure"),
            IdentityError::AssertionMissing
            | IdentityError::IdentityMismatch { .. }
            | IdentityError::FingerprintMismatch(_) => None,
        }
    }
}

/// Where the peer's identity stands (the state behind W3C `peerIdentity`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PeerIdentityState {
    /// No assertion validated yet (the `peerIdentity` promise pending).
    #[default]
    Pending,
    /// The peer's assertion validated and covers its DTLS fingerprints
    /// (the promise resolved; it cannot change for the connection's life).
    Validated(IdentityAssertion),
    /// The last assertion failed (the promise rejected; with no
    /// [`Config::peer_identity`](crate::Config::peer_identity), a later
    /// description may still bring one that validates).
    Failed(IdentityError),
}

/// One fingerprint of the contents (RFC 8827 §7.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContentFingerprint {
    pub(crate) algorithm: String,
    pub(crate) digest: String,
}

/// The contents an assertion is made over (RFC 8827 §7.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Contents {
    fingerprint: Vec<ContentFingerprint>,
}

/// The JSON in `a=identity` (RFC 8827 §7.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WireAssertion {
    idp: IdentityProviderDetails,
    assertion: String,
}

/// RFC 8827 §7.3: the contents for our fingerprints, in the order of our
/// `a=fingerprint` lines.
pub(crate) fn contents(fingerprints: &[ferrtc_sdp::Fingerprint]) -> String {
    let contents = Contents {
        fingerprint: fingerprints
            .iter()
            .map(|f| ContentFingerprint {
                algorithm: f.hash.as_str().to_ascii_lowercase(),
                digest: f.hex().to_ascii_uppercase(),
            })
            .collect(),
    };
    serde_json::to_string(&contents).unwrap_or_default()
}

/// The `a=identity` value for an assertion (RFC 8827 §7.4).
pub(crate) fn encode(result: &IdentityAssertionResult) -> String {
    let wire = WireAssertion {
        idp: result.idp.clone(),
        assertion: result.assertion.clone(),
    };
    BASE64.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

/// The IdP and the assertion of an `a=identity` value.
fn decode(value: &str) -> Result<WireAssertion, IdentityError> {
    if value.len() > MAX_ASSERTION_LEN * 4 / 3 + 4 {
        return Err(IdentityError::Malformed("a=identity is too long".into()));
    }
    let json = BASE64
        .decode(value)
        .map_err(|e| IdentityError::Malformed(format!("a=identity is not base64: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| {
        IdentityError::Malformed(format!("a=identity is not the JSON of RFC 8827 §7.4: {e}"))
    })
}

/// Validates a remote `a=identity` value (W3C webrtc-identity §9.5, RFC
/// 8827 §7.5): the IdP validates it; the identity's domain must be the
/// IdP's; the contents must list every DTLS fingerprint of the remote
/// description (`remote_fingerprints`), which DTLS pins the handshake to.
pub(crate) fn validate(
    provider: &dyn IdentityProvider,
    origin: &str,
    value: &str,
    remote_fingerprints: &[ferrtc_sdp::Fingerprint],
) -> Result<IdentityAssertion, IdentityError> {
    let wire = decode(value)?;
    let validated = provider.validate_assertion(&wire.assertion, origin)?;
    // W3C webrtc-identity §9.5: the identity's domain must be the IdP's
    // (an IdP speaks only for its own domain).
    let domain = validated
        .identity
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    if !domain.eq_ignore_ascii_case(&wire.idp.domain) {
        return Err(IdentityError::IdentityMismatch {
            expected: format!("an identity at {}", wire.idp.domain),
            asserted: validated.identity,
        });
    }
    let contents: Contents = serde_json::from_str(&validated.contents).map_err(|e| {
        IdentityError::Malformed(format!(
            "the contents are not the fingerprint JSON of RFC 8827 §7.3: {e}"
        ))
    })?;
    check_fingerprints(&contents.fingerprint, remote_fingerprints)?;
    Ok(IdentityAssertion {
        idp: wire.idp.domain,
        name: validated.identity,
    })
}

/// RFC 8827 §7.4: every fingerprint of the remote description must be in
/// the asserted contents (algorithm and digest, case-insensitive), and
/// there must be at least one.
pub(crate) fn check_fingerprints(
    asserted: &[ContentFingerprint],
    remote: &[ferrtc_sdp::Fingerprint],
) -> Result<(), IdentityError> {
    if remote.is_empty() {
        return Err(IdentityError::FingerprintMismatch("(none)".into()));
    }
    for f in remote {
        let covered = asserted.iter().any(|a| {
            a.algorithm.eq_ignore_ascii_case(f.hash.as_str())
                && a.digest.eq_ignore_ascii_case(f.hex())
        });
        if !covered {
            return Err(IdentityError::FingerprintMismatch(format!(
                "{} {}",
                f.hash.as_str(),
                f.hex()
            )));
        }
    }
    Ok(())
}

/// The contents' fingerprints of a validated peer, kept to check later
/// descriptions and the DTLS certificate against.
pub(crate) fn fingerprints_of(remote: &[ferrtc_sdp::Fingerprint]) -> Vec<ContentFingerprint> {
    remote
        .iter()
        .map(|f| ContentFingerprint {
            algorithm: f.hash.as_str().to_ascii_lowercase(),
            digest: f.hex().to_ascii_uppercase(),
        })
        .collect()
}

/// The identity part of a connection: its provider, its assertion, the
/// peer's identity.
#[derive(Default)]
pub(crate) struct Identity {
    /// W3C `[[IdpProvider]]` (`setIdentityProvider`) and its options.
    /// Boxed: most connections have none.
    pub(crate) provider: Option<Box<(Arc<dyn IdentityProvider>, IdentityOptions)>>,
    /// Our `a=identity` value, made once per provider (the fingerprints do
    /// not change over a connection's life).
    pub(crate) assertion: Option<String>,
    /// W3C `peerIdentity`.
    pub(crate) peer: PeerIdentityState,
    /// The DTLS fingerprints the validated peer identity covers.
    pub(crate) peer_fingerprints: Vec<ContentFingerprint>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("provider", &self.provider.as_deref().map(|(_, o)| o))
            .field("assertion", &self.assertion.is_some())
            .field("peer", &self.peer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrtc_sdp::{Fingerprint, HashFunction};

    #[test]
    fn contents_are_the_fingerprint_json_of_rfc_8827() {
        let fp = Fingerprint::from_digest(HashFunction::Sha256, &[0xab; 32]);
        let json = contents(std::slice::from_ref(&fp));
        let expected = format!(
            r#"{{"fingerprint":[{{"algorithm":"sha-256","digest":"{}"}}]}}"#,
            ["AB"; 32].join(":")
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn a_wire_assertion_round_trips_through_base64() {
        let result = IdentityAssertionResult {
            idp: IdentityProviderDetails {
                domain: "example.org".into(),
                protocol: "default".into(),
            },
            assertion: "token".into(),
        };
        let value = encode(&result);
        let json = BASE64.decode(&value).unwrap();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"idp":{"domain":"example.org","protocol":"default"},"assertion":"token"}"#
        );
        let wire = decode(&value).unwrap();
        assert_eq!((wire.idp, wire.assertion), (result.idp, result.assertion));
        assert!(matches!(decode("!!"), Err(IdentityError::Malformed(_))));
        assert!(matches!(
            decode(&BASE64.encode("{}")),
            Err(IdentityError::Malformed(_))
        ));
    }

    #[test]
    fn every_remote_fingerprint_must_be_asserted() {
        let a = Fingerprint::from_digest(HashFunction::Sha256, &[1; 32]);
        let b = Fingerprint::from_digest(HashFunction::Sha256, &[2; 32]);
        let asserted = fingerprints_of(std::slice::from_ref(&a));
        assert!(check_fingerprints(&asserted, std::slice::from_ref(&a)).is_ok());
        assert!(matches!(
            check_fingerprints(&asserted, &[a, b]),
            Err(IdentityError::FingerprintMismatch(_))
        ));
        assert!(check_fingerprints(&asserted, &[]).is_err());
    }

    #[test]
    fn errors_name_their_w3c_detail() {
        assert_eq!(
            IdentityError::Generation("x".into()).error_detail(),
            Some("idp-execution-failure")
        );
        assert_eq!(IdentityError::AssertionMissing.error_detail(), None);
    }
}
