//! Peer identity (W3C webrtc-identity §9, RFC 8827 §7): our assertion in
//! the descriptions we create, the peer's validated in
//! `setRemoteDescription`, and the `peerIdentity` configuration.

use std::sync::Arc;

use ferrtc_dtls::{Fingerprint as DtlsFingerprint, HashAlgorithm};
use ferrtc_jsep::{SdpType, SessionDescription};

use super::PeerConnection;
use crate::error::Error;
use crate::identity::{
    self, IdentityAssertion, IdentityError, IdentityOptions, IdentityProvider, PeerIdentityState,
};

/// What a remote description's identity check decided, applied once the
/// description itself is.
pub(super) enum RemoteIdentity {
    /// Nothing changes.
    Unchanged,
    /// The peer's identity validated, over these fingerprints.
    Validated(IdentityAssertion, Vec<ferrtc_sdp::Fingerprint>),
    /// The assertion failed, but nothing requires an identity: the
    /// description is accepted and `peerIdentity` rejected (W3C
    /// webrtc-identity §9.5, with no target peer identity).
    Failed(IdentityError),
}

impl PeerConnection {
    /// W3C `setIdentityProvider(provider, options)` (webrtc-identity §9.6):
    /// the IdP that asserts our identity in the descriptions we create
    /// from now on and validates the peer's. No assertion is made yet; the
    /// next `create_offer`, `create_answer` or
    /// [`get_identity_assertion`](Self::get_identity_assertion) asks for one.
    #[doc(alias = "setIdentityProvider")]
    pub fn set_identity_provider(
        &mut self,
        provider: Arc<dyn IdentityProvider>,
        options: IdentityOptions,
    ) -> Result<(), Error> {
        self.check_open()?;
        self.identity.provider = Some(Box::new((provider, options)));
        // A new provider makes a new assertion.
        self.identity.assertion = None;
        self.jsep.set_identity(None);
        Ok(())
    }

    /// W3C `getIdentityAssertion()` (webrtc-identity §9.6): the IdP's
    /// assertion over our certificate's fingerprints (the contents of RFC
    /// 8827 §7.3), as it appears in `a=identity` (the base64 JSON of §7.4).
    /// Made once per provider and kept: the fingerprints do not change.
    ///
    /// Errors: no provider, an `OperationError` with
    /// [`IdentityError::ProviderMissing`]; the IdP failing, an
    /// `OperationError` with its error.
    #[doc(alias = "getIdentityAssertion")]
    pub fn get_identity_assertion(&mut self) -> Result<String, Error> {
        self.check_open()?;
        match self.ensure_assertion()? {
            Some(value) => Ok(value),
            None => Err(IdentityError::ProviderMissing.into()),
        }
    }

    /// W3C `peerIdentity` (webrtc-identity §9.6): the peer's identity once
    /// its `a=identity` validated with our IdP and its contents cover the
    /// DTLS fingerprints of the remote description, to which DTLS pins the
    /// handshake; once DTLS has seen the peer's certificate, that
    /// certificate must be one of them too. `None` until then; it never
    /// changes once set.
    #[doc(alias = "peerIdentity")]
    pub fn peer_identity(&self) -> Option<&IdentityAssertion> {
        match &self.identity.peer {
            PeerIdentityState::Validated(a) if self.dtls_certificate_asserted() => Some(a),
            _ => None,
        }
    }

    /// Where `peerIdentity` stands: pending, validated, or the last
    /// failure (the W3C promise rejected).
    pub fn peer_identity_state(&self) -> PeerIdentityState {
        match &self.identity.peer {
            PeerIdentityState::Validated(_) if !self.dtls_certificate_asserted() => {
                PeerIdentityState::Failed(IdentityError::FingerprintMismatch(
                    "the DTLS peer certificate".into(),
                ))
            }
            state => state.clone(),
        }
    }

    /// Whether the certificate the DTLS handshake saw (if any yet) is one
    /// the validated assertion covers. DTLS already refuses a certificate
    /// the remote description's fingerprints do not match
    /// (`bad_certificate`), and the assertion covers those: this holds the
    /// two checks together.
    fn dtls_certificate_asserted(&self) -> bool {
        let Some(der) = self.dtls.as_ref().and_then(|d| d.peer_certificate()) else {
            return true;
        };
        self.identity.peer_fingerprints.iter().any(|f| {
            HashAlgorithm::from_name(&f.algorithm).is_some_and(|alg| {
                DtlsFingerprint::of_der(alg, der)
                    .value_hex()
                    .eq_ignore_ascii_case(&f.digest)
            })
        })
    }

    /// Our `a=identity` value: made now if a provider is set and none is
    /// yet, and handed to JSEP for the descriptions it creates (W3C
    /// webrtc-identity §9.3: createOffer/createAnswer wait for the
    /// assertion and fail if the IdP does).
    pub(super) fn ensure_assertion(&mut self) -> Result<Option<String>, Error> {
        if let Some(value) = &self.identity.assertion {
            return Ok(Some(value.clone()));
        }
        let Some((provider, options)) = self.identity.provider.as_deref() else {
            return Ok(None);
        };
        // RFC 8827 §7.3: the contents are our a=fingerprint lines.
        let contents = identity::contents(&self.jsep.config().fingerprints);
        let result = provider.generate_assertion(&contents, &options.origin, options)?;
        let value = identity::encode(&result);
        self.identity.assertion = Some(value.clone());
        self.jsep.set_identity(Some(value.clone()));
        Ok(Some(value))
    }

    /// W3C webrtc-identity §9.5 and the `setRemoteDescription` steps of
    /// webrtc-pc §4.4.1.6: validates the description's `a=identity` before
    /// anything else changes. A refusal is an `OperationError` with the
    /// [`IdentityError`] as its cause, and `peerIdentity` is rejected. It
    /// refuses when:
    ///
    /// - a target peer identity is set ([`Config::peer_identity`], or the
    ///   identity already validated, which cannot change) and the
    ///   description has no `a=identity`, or one that does not validate
    ///   to that identity;
    /// - the assertion's contents do not cover the description's DTLS
    ///   fingerprints (RFC 8827 §7.4), target or not: the assertion was
    ///   made for another certificate (a stricter choice than the W3C
    ///   text, which leaves the description accepted without a target);
    /// - an identity was validated and a later description changes the
    ///   fingerprints without a new assertion over them.
    ///
    /// With no target, any other failure accepts the description and
    /// rejects `peerIdentity` (a later description may validate).
    ///
    /// [`Config::peer_identity`]: crate::Config::peer_identity
    pub(super) fn check_remote_identity(
        &mut self,
        desc: &SessionDescription,
    ) -> Result<RemoteIdentity, Error> {
        match self.remote_identity(desc) {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                if !matches!(self.identity.peer, PeerIdentityState::Validated(_)) {
                    self.identity.peer = PeerIdentityState::Failed(e.clone());
                }
                Err(e.into())
            }
        }
    }

    fn remote_identity(&self, desc: &SessionDescription) -> Result<RemoteIdentity, IdentityError> {
        if desc.kind == SdpType::Rollback {
            return Ok(RemoteIdentity::Unchanged);
        }
        // SDP that does not parse is JSEP's to refuse.
        let Ok(sdp) = ferrtc_sdp::parse_bytes(desc.sdp.as_bytes(), &self.config.sdp_limits) else {
            return Ok(RemoteIdentity::Unchanged);
        };
        let mut fingerprints: Vec<ferrtc_sdp::Fingerprint> = Vec::new();
        let sections = sdp.media.iter().filter(|m| !m.is_rejected());
        for f in sdp
            .fingerprints()
            .chain(sections.flat_map(|m| m.fingerprints()))
        {
            if !fingerprints.contains(f) {
                fingerprints.push(f.clone());
            }
        }
        let validated = match &self.identity.peer {
            PeerIdentityState::Validated(a) => Some(a.name.as_str()),
            _ => None,
        };
        let target = validated.or(self.config.peer_identity.as_deref());
        let Some(value) = sdp.identity() else {
            if validated.is_some() {
                // The identity stands only for the fingerprints it covers.
                identity::check_fingerprints(&self.identity.peer_fingerprints, &fingerprints)?;
                return Ok(RemoteIdentity::Unchanged);
            }
            return match target {
                Some(_) => Err(IdentityError::AssertionMissing),
                None => Ok(RemoteIdentity::Unchanged),
            };
        };
        let result = self
            .identity
            .provider
            .as_deref()
            .ok_or(IdentityError::ProviderMissing)
            .and_then(|(provider, options)| {
                identity::validate(provider.as_ref(), &options.origin, value, &fingerprints)
            })
            .and_then(|assertion| match target {
                Some(t) if t != assertion.name => Err(IdentityError::IdentityMismatch {
                    expected: t.to_owned(),
                    asserted: assertion.name,
                }),
                _ => Ok(assertion),
            });
        match result {
            Ok(assertion) => Ok(RemoteIdentity::Validated(assertion, fingerprints)),
            Err(e) if target.is_some() || matches!(e, IdentityError::FingerprintMismatch(_)) => {
                Err(e)
            }
            Err(e) => Ok(RemoteIdentity::Failed(e)),
        }
    }

    /// Applies what [`check_remote_identity`](Self::check_remote_identity)
    /// decided, once the description is applied.
    pub(super) fn apply_remote_identity(&mut self, outcome: RemoteIdentity) {
        match outcome {
            RemoteIdentity::Unchanged => {}
            RemoteIdentity::Validated(assertion, fingerprints) => {
                self.identity.peer_fingerprints = identity::fingerprints_of(&fingerprints);
                self.identity.peer = PeerIdentityState::Validated(assertion);
            }
            RemoteIdentity::Failed(e) => {
                if !matches!(self.identity.peer, PeerIdentityState::Validated(_)) {
                    self.identity.peer = PeerIdentityState::Failed(e);
                }
            }
        }
    }
}
