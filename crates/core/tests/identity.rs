//! Peer identity (W3C webrtc-identity, RFC 8827 §7) between two
//! `ferrtc-core` peers on the simulated network, with a test identity
//! provider: an HMAC-SHA256 over the identity and the contents under a key
//! the peers' IdPs share.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use ferrtc_core::{
    Config, DataChannelInit, Event, IdentityAssertionResult, IdentityError, IdentityOptions,
    IdentityProvider, IdentityProviderDetails, PeerConnection, PeerConnectionState,
    PeerIdentityState, SessionDescription, SignalingState, ValidatedIdentity,
};
use ferrtc_sim::{HostId, LinkConfig, Network};

const KEY: &[u8] = b"the key the test IdP shares with itself";

/// How the test IdP misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Signs what it is given.
    Honest,
    /// Signs contents naming another certificate (a replayed assertion).
    OtherContents,
    /// Makes a MAC under another key: it does not validate.
    BadMac,
    /// Cannot make an assertion at all.
    Broken,
}

/// The test IdP: asserts `identity` (its domain is the part after `@`).
struct TestIdp {
    identity: String,
    mode: Mode,
}

impl TestIdp {
    fn new(identity: &str, mode: Mode) -> Arc<Self> {
        Arc::new(TestIdp {
            identity: identity.into(),
            mode,
        })
    }

    fn mac(key: &[u8], identity: &str, contents: &str) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
        let tag = aws_lc_rs::hmac::sign(&key, format!("{identity}\n{contents}").as_bytes());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl IdentityProvider for TestIdp {
    fn generate_assertion(
        &self,
        contents: &str,
        _origin: &str,
        options: &IdentityOptions,
    ) -> Result<IdentityAssertionResult, IdentityError> {
        let contents = match self.mode {
            Mode::Broken => return Err(IdentityError::Generation("the IdP is down".into())),
            Mode::OtherContents => format!(
                r#"{{"fingerprint":[{{"algorithm":"sha-256","digest":"{}"}}]}}"#,
                ["00"; 32].join(":")
            ),
            _ => contents.to_owned(),
        };
        let key: &[u8] = if self.mode == Mode::BadMac {
            b"another key"
        } else {
            KEY
        };
        let mac = Self::mac(key, &self.identity, &contents);
        let assertion = serde_json::json!({
            "identity": self.identity,
            "contents": contents,
            "mac": mac,
        });
        Ok(IdentityAssertionResult {
            idp: IdentityProviderDetails {
                domain: self.identity.rsplit_once('@').unwrap().1.into(),
                protocol: options.protocol.clone(),
            },
            assertion: assertion.to_string(),
        })
    }

    fn validate_assertion(
        &self,
        assertion: &str,
        _origin: &str,
    ) -> Result<ValidatedIdentity, IdentityError> {
        let v: serde_json::Value = serde_json::from_str(assertion)
            .map_err(|e| IdentityError::Validation(e.to_string()))?;
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let (identity, contents) = (field("identity"), field("contents"));
        if Self::mac(KEY, &identity, &contents) != field("mac") {
            return Err(IdentityError::Validation("bad MAC".into()));
        }
        Ok(ValidatedIdentity { identity, contents })
    }
}

mod common;
use common::Peer;

/// One side: its IdP (if any) and the peer identity it requires (if any).
struct Side {
    idp: Option<Arc<TestIdp>>,
    target: Option<&'static str>,
}

fn side(identity: &str, mode: Mode, target: Option<&'static str>) -> Side {
    Side {
        idp: Some(TestIdp::new(identity, mode)),
        target,
    }
}

struct Pair {
    net: Network,
    a: HostId<Peer>,
    b: HostId<Peer>,
}

fn peer(seed: u8, ip: IpAddr, now: Instant, side: Side) -> Peer {
    let mut config = Config::default();
    config.rng_seed = Some([seed; 32]);
    config.peer_identity = side.target.map(str::to_owned);
    let mut pc = PeerConnection::new(config, now, SystemTime::now()).unwrap();
    pc.add_local_host(now, SocketAddr::new(ip, 5000)).unwrap();
    if let Some(idp) = side.idp {
        pc.set_identity_provider(idp, IdentityOptions::default())
            .unwrap();
    }
    Peer::new(pc)
}

impl Pair {
    fn new(a: Side, b: Side) -> Pair {
        let mut net = Network::new(5);
        let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(5));
        let (ip_a, ip_b): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = net.now();
        let a = net.add_host([ip_a], link, peer(1, ip_a, now, a)).unwrap();
        let b = net.add_host([ip_b], link, peer(2, ip_b, now, b)).unwrap();
        Pair { net, a, b }
    }

    fn a(&mut self) -> &mut Peer {
        self.net.endpoint_mut(&self.a)
    }

    fn b(&mut self) -> &mut Peer {
        self.net.endpoint_mut(&self.b)
    }

    /// a's offer, applied locally, with a data channel in it.
    fn offer(&mut self) -> SessionDescription {
        let now = self.net.now();
        self.a()
            .pc
            .create_data_channel(now, "chat", DataChannelInit::default())
            .unwrap();
        let offer = self.a().pc.create_offer().unwrap();
        self.a()
            .pc
            .set_local_description(now, Some(offer.clone()))
            .unwrap();
        offer
    }

    /// b's answer to `offer`, applied locally.
    fn answer(&mut self, offer: SessionDescription) -> SessionDescription {
        let now = self.net.now();
        self.b().pc.set_remote_description(now, offer).unwrap();
        let answer = self.b().pc.create_answer().unwrap();
        self.b()
            .pc
            .set_local_description(now, Some(answer.clone()))
            .unwrap();
        answer
    }

    fn signal(&mut self) {
        let now = self.net.now();
        for (from, to) in [(self.a, self.b), (self.b, self.a)] {
            let mut trickled = Vec::new();
            let p = self.net.endpoint_mut(&from);
            while let Some(ev) = p.pc.poll_event() {
                if let Event::IceCandidate(c) = &ev {
                    trickled.push(c.clone());
                }
                p.events.push(ev);
            }
            for c in trickled {
                let _ = self.net.endpoint_mut(&to).pc.add_ice_candidate(now, &c);
            }
        }
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let deadline = self.net.now() + limit;
        while self.net.now() < deadline {
            self.signal();
            if done(self) {
                return true;
            }
            self.net.run_for(Duration::from_millis(5));
        }
        self.signal();
        done(self)
    }
}

fn connected(p: &mut Peer) -> bool {
    p.pc.connection_state() == PeerConnectionState::Connected
}

fn identity_error(e: &ferrtc_core::Error) -> &IdentityError {
    assert_eq!(e.name(), "OperationError", "{e}");
    e.identity_error()
        .unwrap_or_else(|| panic!("not an identity error: {e}"))
}

fn identity_line(desc: &SessionDescription) -> Option<String> {
    let sdp: ferrtc_sdp::SessionDescription = desc.sdp.parse().unwrap();
    sdp.identity().map(str::to_owned)
}

#[test]
fn two_peers_with_identities_each_see_the_others() {
    let mut pair = Pair::new(
        side("alice@example.org", Mode::Honest, Some("bob@example.org")),
        side("bob@example.org", Mode::Honest, Some("alice@example.org")),
    );
    let offer = pair.offer();
    // RFC 8827 §7.4: the assertion travels at session level, and is the
    // one getIdentityAssertion gives.
    let assertion = pair.a().pc.get_identity_assertion().unwrap();
    assert_eq!(identity_line(&offer).as_deref(), Some(assertion.as_str()));
    let json = base64::engine::general_purpose::STANDARD
        .decode(&assertion)
        .unwrap();
    let wire: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(wire["idp"]["domain"], "example.org");
    assert_eq!(wire["idp"]["protocol"], "default");
    let signed: serde_json::Value =
        serde_json::from_str(wire["assertion"].as_str().unwrap()).unwrap();
    let contents: serde_json::Value =
        serde_json::from_str(signed["contents"].as_str().unwrap()).unwrap();
    assert_eq!(contents["fingerprint"][0]["algorithm"], "sha-256");
    let ours = pair
        .a()
        .pc
        .certificate()
        .fingerprint(ferrtc_dtls::HashAlgorithm::Sha256)
        .value_hex();
    assert!(
        contents["fingerprint"][0]["digest"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&ours)
    );

    assert!(pair.a().pc.peer_identity().is_none());
    let answer = pair.answer(offer);
    assert!(identity_line(&answer).is_some());
    let now = pair.net.now();
    pair.a().pc.set_remote_description(now, answer).unwrap();
    let b_sees = pair.b().pc.peer_identity().cloned().unwrap();
    assert_eq!(
        (b_sees.idp.as_str(), b_sees.name.as_str()),
        ("example.org", "alice@example.org")
    );
    assert_eq!(pair.a().pc.peer_identity().unwrap().name, "bob@example.org");

    // The DTLS handshake then sees the asserted certificates: the
    // identities stand once connected.
    assert!(pair.run_until(Duration::from_secs(10), |p| {
        connected(p.a()) && connected(p.b())
    }));
    assert_eq!(pair.a().pc.peer_identity().unwrap().name, "bob@example.org");
    assert_eq!(
        pair.b().pc.peer_identity().unwrap().name,
        "alice@example.org"
    );
    assert!(matches!(
        pair.b().pc.peer_identity_state(),
        PeerIdentityState::Validated(_)
    ));
}

#[test]
fn an_assertion_over_another_fingerprint_is_refused() {
    // No target identity on b: the mismatch is refused all the same.
    let mut pair = Pair::new(
        side("mallory@example.org", Mode::OtherContents, None),
        side("bob@example.org", Mode::Honest, None),
    );
    let offer = pair.offer();
    let now = pair.net.now();
    let e = pair.b().pc.set_remote_description(now, offer).unwrap_err();
    assert!(matches!(
        identity_error(&e),
        IdentityError::FingerprintMismatch(_)
    ));
    // Nothing changed: b never got an offer, and knows no identity.
    assert_eq!(pair.b().pc.signaling_state(), SignalingState::Stable);
    assert!(pair.b().pc.remote_description().is_none());
    assert!(pair.b().pc.peer_identity().is_none());
    assert!(matches!(
        pair.b().pc.peer_identity_state(),
        PeerIdentityState::Failed(IdentityError::FingerprintMismatch(_))
    ));
}

#[test]
fn a_peer_asserting_another_name_than_the_configured_peer_identity_is_refused() {
    let mut pair = Pair::new(
        side("alice@x", Mode::Honest, Some("bob@x")),
        side("mallory@x", Mode::Honest, None),
    );
    let offer = pair.offer();
    let answer = pair.answer(offer);
    // b has validated alice; a refuses mallory's answer.
    assert_eq!(pair.b().pc.peer_identity().unwrap().name, "alice@x");
    let now = pair.net.now();
    let e = pair.a().pc.set_remote_description(now, answer).unwrap_err();
    match identity_error(&e) {
        IdentityError::IdentityMismatch { expected, asserted } => {
            assert_eq!(
                (expected.as_str(), asserted.as_str()),
                ("bob@x", "mallory@x")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pair.a().pc.signaling_state(),
        SignalingState::HaveLocalOffer
    );
    assert!(pair.a().pc.peer_identity().is_none());
    // The connection cannot come up: a has no answer.
    assert!(!pair.run_until(Duration::from_secs(2), |p| connected(p.a())));
}

#[test]
fn an_assertion_that_does_not_validate_is_refused_with_a_target() {
    let mut pair = Pair::new(
        side("alice@x", Mode::BadMac, None),
        side("bob@x", Mode::Honest, Some("alice@x")),
    );
    let offer = pair.offer();
    let now = pair.net.now();
    let e = pair.b().pc.set_remote_description(now, offer).unwrap_err();
    assert!(matches!(identity_error(&e), IdentityError::Validation(_)));
    assert_eq!(identity_error(&e).error_detail(), Some("idp-token-invalid"));
    assert_eq!(pair.b().pc.signaling_state(), SignalingState::Stable);
}

#[test]
fn without_a_target_an_assertion_that_does_not_validate_only_rejects_peer_identity() {
    // W3C webrtc-identity §9.5: with no target peer identity the
    // description is applied; peerIdentity is rejected.
    let mut pair = Pair::new(
        side("alice@x", Mode::BadMac, None),
        side("bob@x", Mode::Honest, None),
    );
    let offer = pair.offer();
    let answer = pair.answer(offer);
    assert!(pair.b().pc.peer_identity().is_none());
    assert!(matches!(
        pair.b().pc.peer_identity_state(),
        PeerIdentityState::Failed(IdentityError::Validation(_))
    ));
    // a validates b's honest answer.
    let now = pair.net.now();
    pair.a().pc.set_remote_description(now, answer).unwrap();
    assert_eq!(pair.a().pc.peer_identity().unwrap().name, "bob@x");
}

#[test]
fn a_required_identity_missing_from_the_description_is_refused() {
    let mut pair = Pair::new(
        Side {
            idp: None,
            target: None,
        },
        side("bob@x", Mode::Honest, Some("alice@x")),
    );
    let offer = pair.offer();
    assert!(identity_line(&offer).is_none());
    let now = pair.net.now();
    let e = pair.b().pc.set_remote_description(now, offer).unwrap_err();
    assert_eq!(identity_error(&e), &IdentityError::AssertionMissing);
}

#[test]
fn a_required_identity_cannot_be_validated_without_a_provider() {
    let mut pair = Pair::new(
        side("alice@x", Mode::Honest, None),
        Side {
            idp: None,
            target: Some("alice@x"),
        },
    );
    let offer = pair.offer();
    let now = pair.net.now();
    let e = pair.b().pc.set_remote_description(now, offer).unwrap_err();
    assert_eq!(identity_error(&e), &IdentityError::ProviderMissing);
    assert_eq!(identity_error(&e).error_detail(), Some("idp-load-failure"));
}

#[test]
fn an_idp_that_cannot_assert_fails_create_offer_and_get_identity_assertion() {
    let mut pair = Pair::new(
        side("alice@x", Mode::Broken, None),
        Side {
            idp: None,
            target: None,
        },
    );
    let e = pair.a().pc.create_offer().unwrap_err();
    assert_eq!(
        identity_error(&e).error_detail(),
        Some("idp-execution-failure")
    );
    let e = pair.a().pc.get_identity_assertion().unwrap_err();
    assert!(matches!(identity_error(&e), IdentityError::Generation(_)));
    // Without a provider there is nothing to assert with.
    let e = pair.b().pc.get_identity_assertion().unwrap_err();
    assert_eq!(identity_error(&e), &IdentityError::ProviderMissing);
}

/// Strips the session's `a=identity` line and, if `forge`, changes the
/// first byte of every fingerprint (as a peer swapping certificates would).
fn munge(desc: &SessionDescription, forge: bool) -> SessionDescription {
    let sdp: String = desc
        .sdp
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("a=identity:"))
        .map(|l| match l.strip_prefix("a=fingerprint:sha-256 ") {
            // Another first byte, whatever the certificate's is.
            Some(rest) if forge => {
                let first = if rest.starts_with("00") { "01" } else { "00" };
                format!("a=fingerprint:sha-256 {first}{}", &rest[2..])
            }
            _ => l.to_owned(),
        })
        .collect();
    SessionDescription {
        kind: desc.kind,
        sdp,
    }
}

#[test]
fn a_validated_identity_holds_only_for_the_fingerprints_it_covers() {
    let mut pair = Pair::new(
        side("alice@x", Mode::Honest, None),
        side("bob@x", Mode::Honest, None),
    );
    let offer = pair.offer();
    let answer = pair.answer(offer);
    let now = pair.net.now();
    pair.a().pc.set_remote_description(now, answer).unwrap();
    assert_eq!(pair.b().pc.peer_identity().unwrap().name, "alice@x");

    // A later offer without a=identity: over another certificate it is
    // refused; over the same one the identity stands.
    let offer = pair.a().pc.create_offer().unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(offer.clone()))
        .unwrap();
    let e = pair
        .b()
        .pc
        .set_remote_description(now, munge(&offer, true))
        .unwrap_err();
    assert!(matches!(
        identity_error(&e),
        IdentityError::FingerprintMismatch(_)
    ));
    assert_eq!(pair.b().pc.signaling_state(), SignalingState::Stable);
    pair.b()
        .pc
        .set_remote_description(now, munge(&offer, false))
        .unwrap();
    assert_eq!(pair.b().pc.peer_identity().unwrap().name, "alice@x");
}

#[test]
fn once_dtls_is_pinned_a_description_with_other_fingerprints_and_a_replayed_identity_is_refused() {
    // An attacker on the signalling path answers with its own certificate
    // and no identity; DTLS starts, pinned to that fingerprint.
    let mut pair = Pair::new(
        side("alice@x", Mode::Honest, None),
        Side {
            idp: None,
            target: None,
        },
    );
    let offer = pair.offer();
    let answer = pair.answer(offer);
    let now = pair.net.now();
    pair.a()
        .pc
        .set_remote_description(now, answer.clone())
        .unwrap();
    assert!(pair.a().pc.dtls_state().is_some(), "DTLS runs");

    // Bob's genuine assertion and fingerprint, replayed in a renegotiated
    // answer.
    let mut config = Config::default();
    config.rng_seed = Some([9; 32]);
    let mut bob = PeerConnection::new(config, now, SystemTime::now()).unwrap();
    bob.set_identity_provider(
        TestIdp::new("bob@x", Mode::Honest),
        IdentityOptions::default(),
    )
    .unwrap();
    bob.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    let bob_offer = bob.create_offer().unwrap();
    let line = |prefix: &str| {
        bob_offer
            .sdp
            .split_inclusive("\r\n")
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .to_owned()
    };
    let (id_line, fp_line) = (line("a=identity:"), line("a=fingerprint:"));
    let reoffer = pair.a().pc.create_offer().unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(reoffer))
        .unwrap();
    let mut sdp = String::new();
    for l in answer.sdp.split_inclusive("\r\n") {
        if l.starts_with("a=fingerprint:") {
            sdp.push_str(&fp_line);
            continue;
        }
        sdp.push_str(l);
        if l.starts_with("t=") {
            sdp.push_str(&id_line);
        }
    }
    let forged = SessionDescription {
        kind: answer.kind,
        sdp,
    };
    let e = pair.a().pc.set_remote_description(now, forged).unwrap_err();
    assert_eq!(e.name(), "InvalidAccessError", "{e}");
    assert!(pair.a().pc.peer_identity().is_none());
}
