//! W3C webrtc-pc §4.4.1.6 ("set the session description") and §4.4.1.5
//! (`addIceCandidate`): a rejected call leaves the connection exactly as it
//! was, and each refusal carries the exception the browser API throws.

use std::time::{Instant, SystemTime};

use ferrtc_core::{
    Config, DataChannelInit, Error, IceCandidateInit, MediaKind, PeerConnection,
    SessionDescription, SignalingState, TrackInfo,
};

fn peer(seed: u8) -> PeerConnection {
    let mut config = Config::default();
    config.rng_seed = Some([seed; 32]);
    PeerConnection::new(config, Instant::now(), SystemTime::now()).unwrap()
}

/// `a` with a data channel and its offer applied (have-local-offer).
fn offerer(now: Instant) -> (PeerConnection, SessionDescription) {
    let mut a = peer(1);
    a.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    a.set_local_description(now, None).unwrap();
    let offer = a.local_description().unwrap();
    (a, offer)
}

/// One full exchange: `a` offered, `b` answered, both stable.
fn negotiated(now: Instant) -> (PeerConnection, PeerConnection) {
    let (mut a, offer) = offerer(now);
    let mut b = peer(2);
    b.set_remote_description(now, offer).unwrap();
    b.set_local_description(now, None).unwrap();
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    (a, b)
}

/// Replaces the value of every `a=<name>:` line.
fn with_attribute(desc: &SessionDescription, name: &str, value: &str) -> SessionDescription {
    let prefix = format!("a={name}:");
    let sdp: String = desc
        .sdp
        .split_inclusive("\r\n")
        .map(|line| {
            if line.starts_with(&prefix) {
                format!("{prefix}{value}\r\n")
            } else {
                line.to_owned()
            }
        })
        .collect();
    SessionDescription {
        kind: desc.kind,
        sdp,
    }
}

fn without_attribute(desc: &SessionDescription, name: &str) -> SessionDescription {
    let prefix = format!("a={name}:");
    let sdp: String = desc
        .sdp
        .split_inclusive("\r\n")
        .filter(|line| !line.starts_with(&prefix))
        .collect();
    SessionDescription {
        kind: desc.kind,
        sdp,
    }
}

/// What W3C says must not change when a description is refused.
#[derive(Debug, PartialEq)]
struct Observable {
    state: SignalingState,
    local: Option<SessionDescription>,
    remote: Option<SessionDescription>,
    pending_local: Option<SessionDescription>,
    pending_remote: Option<SessionDescription>,
    channels: usize,
    ufrag: String,
}

fn observe(pc: &PeerConnection) -> Observable {
    Observable {
        state: pc.signaling_state(),
        local: pc.local_description(),
        remote: pc.remote_description(),
        pending_local: pc.pending_local_description(),
        pending_remote: pc.pending_remote_description(),
        channels: pc.channels().count(),
        ufrag: pc.local_ufrag().to_owned(),
    }
}

/// The bad remote offer is refused with an `InvalidAccessError`, `b` is as
/// before, and the good offer then negotiates.
fn bad_offer_changes_nothing(bad: impl Fn(&SessionDescription) -> SessionDescription) {
    let now = Instant::now();
    let (mut a, offer) = offerer(now);
    let mut b = peer(2);
    let before = observe(&b);
    let err = b.set_remote_description(now, bad(&offer)).unwrap_err();
    assert!(matches!(err, Error::InvalidAccess { .. }), "{err:?}");
    assert_eq!(observe(&b), before);
    assert!(
        b.poll_event().is_none(),
        "a refused description fires nothing"
    );
    b.set_remote_description(now, offer).unwrap();
    b.set_local_description(now, None).unwrap();
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    assert_eq!(b.signaling_state(), SignalingState::Stable);
}

#[test]
fn a_remote_offer_with_an_ice_pwd_under_22_chars_is_refused_and_changes_nothing() {
    // RFC 8839 §5.4: ice-pwd is 22 to 256 ice-chars.
    bad_offer_changes_nothing(|o| with_attribute(o, "ice-pwd", "abcdefghijklmnopqrstu"));
}

#[test]
fn a_remote_offer_with_an_ice_ufrag_under_4_chars_is_refused_and_changes_nothing() {
    // RFC 8839 §5.4: ice-ufrag is 4 to 256 ice-chars.
    bad_offer_changes_nothing(|o| with_attribute(o, "ice-ufrag", "abc"));
}

#[test]
fn a_remote_offer_with_ice_credentials_outside_ice_char_is_refused_and_changes_nothing() {
    bad_offer_changes_nothing(|o| with_attribute(o, "ice-ufrag", "ab-cd"));
}

#[test]
fn a_remote_answer_with_a_short_ice_pwd_is_refused_and_the_good_one_then_applies() {
    let now = Instant::now();
    let (mut a, offer) = offerer(now);
    let mut b = peer(2);
    b.set_remote_description(now, offer).unwrap();
    b.set_local_description(now, None).unwrap();
    let answer = b.local_description().unwrap();
    while a.poll_event().is_some() {}
    let before = observe(&a);
    let bad = with_attribute(&answer, "ice-pwd", "short");
    let err = a.set_remote_description(now, bad).unwrap_err();
    assert!(matches!(err, Error::InvalidAccess { .. }), "{err:?}");
    assert_eq!(observe(&a), before);
    assert!(a.poll_event().is_none());
    a.set_remote_description(now, answer).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
}

#[test]
fn an_answer_changing_ice_credentials_without_an_ice_restart_is_refused_and_changes_nothing() {
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    // A renegotiation without restartIce(): the offer keeps a's credentials.
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    let answer = b.local_description().unwrap();
    while a.poll_event().is_some() {}
    let before = observe(&a);
    // RFC 8839 §4.4.1.1.1: only an ICE restart changes the credentials.
    let changed = with_attribute(
        &with_attribute(&answer, "ice-ufrag", "Nu3w"),
        "ice-pwd",
        "NewPasswordNewPassword",
    );
    let err = a.set_remote_description(now, changed).unwrap_err();
    assert!(matches!(err, Error::InvalidAccess { .. }), "{err:?}");
    assert_eq!(observe(&a), before);
    assert!(a.poll_event().is_none());
    a.set_remote_description(now, answer).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
}

#[test]
fn a_remote_offer_changing_only_the_ice_pwd_is_an_ice_restart() {
    // RFC 8839 §4.4.1.1.1: a new ufrag or a new pwd means an ICE restart;
    // the answerer restarts too and answers with new credentials.
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let b_ufrag = b.local_ufrag().to_owned();
    a.set_local_description(now, None).unwrap();
    let offer = with_attribute(
        &a.local_description().unwrap(),
        "ice-pwd",
        "AnotherPasswordAnother",
    );
    b.set_remote_description(now, offer).unwrap();
    assert_eq!(b.signaling_state(), SignalingState::HaveRemoteOffer);
    b.set_local_description(now, None).unwrap();
    assert_ne!(b.local_ufrag(), b_ufrag);
    assert!(
        b.local_description()
            .unwrap()
            .sdp
            .contains(&format!("a=ice-ufrag:{}", b.local_ufrag()))
    );
}

#[test]
fn a_final_answer_changing_the_ice_credentials_of_the_pranswer_is_refused() {
    let now = Instant::now();
    let (mut a, offer) = offerer(now);
    let mut b = peer(2);
    b.set_remote_description(now, offer).unwrap();
    b.set_local_description(now, None).unwrap();
    let answer = b.local_description().unwrap();
    a.set_remote_description(now, SessionDescription::pranswer(answer.sdp.clone()))
        .unwrap();
    assert_eq!(a.signaling_state(), SignalingState::HaveRemotePranswer);
    while a.poll_event().is_some() {}
    let before = observe(&a);
    let changed = with_attribute(
        &with_attribute(&answer, "ice-ufrag", "Nu3w"),
        "ice-pwd",
        "NewPasswordNewPassword",
    );
    let err = a.set_remote_description(now, changed).unwrap_err();
    assert!(matches!(err, Error::InvalidAccess { .. }), "{err:?}");
    assert_eq!(observe(&a), before);
    assert!(a.poll_event().is_none());
    a.set_remote_description(now, answer).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
}

#[test]
fn an_invalid_offer_in_glare_keeps_the_local_offer() {
    let now = Instant::now();
    let (mut a, b) = negotiated(now);
    let mut b = b;
    // Both sides offer at once (glare); b's offer lacks a fingerprint.
    a.set_local_description(now, None).unwrap();
    b.set_local_description(now, None).unwrap();
    let b_offer = b.local_description().unwrap();
    while a.poll_event().is_some() {}
    let before = observe(&a);
    assert_eq!(before.state, SignalingState::HaveLocalOffer);
    let bad = without_attribute(&b_offer, "fingerprint");
    let err = a.set_remote_description(now, bad).unwrap_err();
    assert!(matches!(err, Error::InvalidAccess { .. }), "{err:?}");
    // The implicit rollback (RFC 8829 §5.10) must not have happened.
    assert_eq!(observe(&a), before);
    assert!(a.poll_event().is_none());
    // The good offer still rolls back a's offer and is answered.
    a.set_remote_description(now, b_offer).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::HaveRemoteOffer);
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    assert_eq!(b.signaling_state(), SignalingState::Stable);
}

#[test]
fn a_replacement_remote_offer_that_is_invalid_keeps_the_pending_one() {
    let now = Instant::now();
    let (_a, offer) = offerer(now);
    let mut b = peer(2);
    b.set_remote_description(now, offer.clone()).unwrap();
    while b.poll_event().is_some() {}
    let before = observe(&b);
    let bad = without_attribute(&offer, "fingerprint");
    let err = b.set_remote_description(now, bad).unwrap_err();
    assert!(matches!(err, Error::InvalidAccess { .. }), "{err:?}");
    assert_eq!(observe(&b), before);
}

#[test]
fn a_remote_description_that_does_not_parse_is_a_syntax_error_and_changes_nothing() {
    let now = Instant::now();
    let mut b = peer(2);
    let before = observe(&b);
    let err = b
        .set_remote_description(now, SessionDescription::offer("v=0\r\nbogus\r\n"))
        .unwrap_err();
    assert_eq!(err.name(), "SyntaxError");
    assert_eq!(observe(&b), before);
}

#[test]
fn an_answer_in_stable_is_an_invalid_state_error() {
    let now = Instant::now();
    let (mut a, b) = negotiated(now);
    let before = observe(&a);
    let err = a
        .set_remote_description(now, b.local_description().unwrap())
        .unwrap_err();
    assert_eq!(err.name(), "InvalidStateError");
    assert_eq!(observe(&a), before);
}

// ---- addIceCandidate (W3C webrtc-pc §4.4.1.5) ----

fn candidate(mid: Option<&str>, index: Option<u16>, line: &str) -> IceCandidateInit {
    IceCandidateInit {
        candidate: line.to_owned(),
        sdp_mid: mid.map(str::to_owned),
        sdp_m_line_index: index,
        ..IceCandidateInit::default()
    }
}

const HOST: &str = "candidate:1 1 udp 2130706431 10.0.0.9 5000 typ host";

#[test]
fn add_ice_candidate_without_sdp_mid_and_sdp_m_line_index_is_a_type_error() {
    let now = Instant::now();
    let (mut a, _b) = negotiated(now);
    let err = a
        .add_ice_candidate(now, &candidate(None, None, HOST))
        .unwrap_err();
    assert_eq!(err.name(), "TypeError", "{err:?}");
}

#[test]
fn add_ice_candidate_without_sdp_mid_and_sdp_m_line_index_is_a_type_error_before_any_description() {
    // W3C webrtc-pc §4.4.1.5: the argument check (step 3) comes first.
    let now = Instant::now();
    let mut a = peer(1);
    let err = a
        .add_ice_candidate(now, &candidate(None, None, HOST))
        .unwrap_err();
    assert_eq!(err.name(), "TypeError", "{err:?}");
}

#[test]
fn add_ice_candidate_before_a_remote_description_is_an_invalid_state_error() {
    let now = Instant::now();
    let (mut a, _offer) = offerer(now);
    let err = a
        .add_ice_candidate(now, &candidate(Some("0"), None, HOST))
        .unwrap_err();
    assert_eq!(err.name(), "InvalidStateError", "{err:?}");
}

#[test]
fn add_ice_candidate_for_no_media_section_is_an_operation_error() {
    let now = Instant::now();
    let (mut a, _b) = negotiated(now);
    for c in [
        candidate(Some("nope"), None, HOST),
        candidate(None, Some(7), HOST),
    ] {
        let err = a.add_ice_candidate(now, &c).unwrap_err();
        assert_eq!(err.name(), "OperationError", "{err:?}");
    }
}

#[test]
fn add_ice_candidate_that_does_not_parse_is_an_operation_error() {
    let now = Instant::now();
    let (mut a, _b) = negotiated(now);
    let err = a
        .add_ice_candidate(now, &candidate(Some("0"), None, "candidate:garbage"))
        .unwrap_err();
    assert_eq!(err.name(), "OperationError", "{err:?}");
}

#[test]
fn add_ice_candidate_accepts_end_of_candidates_and_a_good_candidate() {
    let now = Instant::now();
    let (mut a, _b) = negotiated(now);
    a.add_ice_candidate(now, &candidate(Some("0"), None, HOST))
        .unwrap();
    a.add_ice_candidate(now, &candidate(Some("0"), None, ""))
        .unwrap();
    a.add_ice_candidate(now, &candidate(None, None, ""))
        .unwrap();
}

fn rollback() -> SessionDescription {
    SessionDescription {
        kind: ferrtc_core::SdpType::Rollback,
        sdp: String::new(),
    }
}

fn ufrag_of(desc: &SessionDescription) -> String {
    desc.sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .to_owned()
}

#[test]
fn an_answer_after_a_rolled_back_restart_offer_applies_whole() {
    // RFC 8829 §4.1.10.2: a rollback puts the session back as it was before
    // the offer, an ICE restart included. b takes a's restart offer, both
    // roll it back, and the next exchange (b offers) uses the old
    // credentials on both sides: b's ICE agent must not keep a's rolled
    // back ones and refuse a's answer after JSEP applied it.
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let (a_ufrag, b_ufrag) = (a.local_ufrag().to_owned(), b.local_ufrag().to_owned());
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    b.set_remote_description(now, rollback()).unwrap();
    a.set_local_description(now, Some(rollback())).unwrap();
    assert_eq!(a.local_ufrag(), a_ufrag);
    assert_eq!(b.local_ufrag(), b_ufrag);
    while b.poll_event().is_some() {}
    b.set_local_description(now, None).unwrap();
    assert_eq!(ufrag_of(&b.local_description().unwrap()), b.local_ufrag());
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    a.set_local_description(now, None).unwrap();
    let answer = a.local_description().unwrap();
    assert_eq!(ufrag_of(&answer), a.local_ufrag());
    b.set_remote_description(now, answer).unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    assert_eq!(a.signaling_state(), SignalingState::Stable);
}

#[test]
fn a_replacement_offer_after_a_rolled_back_restart_restarts_again_and_answers_with_the_agents_ufrag()
 {
    // a's restart offer is rolled back and a offers again: the restart is
    // still wanted (W3C webrtc-pc §4.4.1.6), so the replacement offer
    // carries new credentials too, b's answer restarts with its own new
    // ones, and b's agent uses those very ones.
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let b_ufrag = b.local_ufrag().to_owned();
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    a.set_local_description(now, Some(rollback())).unwrap();
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    let answer = b.local_description().unwrap();
    assert_eq!(ufrag_of(&answer), b.local_ufrag());
    assert_ne!(
        b.local_ufrag(),
        b_ufrag,
        "the replacement offer restarts ICE"
    );
    a.set_remote_description(now, answer).unwrap();
    assert_eq!(ufrag_of(&a.local_description().unwrap()), a.local_ufrag());
}

#[test]
fn an_answer_to_a_replacement_restart_offer_carries_the_agents_new_ufrag() {
    // The other way round: the replacement offer restarts ICE where the
    // first did not. b restarts once, when its answer is applied, with the
    // credentials that answer carries.
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let b_ufrag = b.local_ufrag().to_owned();
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    a.set_local_description(now, Some(rollback())).unwrap();
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    // Not restarted before the answer is applied.
    assert_eq!(b.local_ufrag(), b_ufrag);
    b.set_local_description(now, None).unwrap();
    let answer = b.local_description().unwrap();
    assert_ne!(b.local_ufrag(), b_ufrag);
    assert_eq!(ufrag_of(&answer), b.local_ufrag());
    a.set_remote_description(now, answer).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
}

#[test]
fn both_sides_restarting_answer_with_the_credentials_restart_ice_made() {
    // b called restart_ice() too: its answer to a's restart offer carries
    // the credentials its agent already restarted to, and that settles b's
    // restart (its next offer restarts nothing more).
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    b.restart_ice(now).unwrap();
    let b_new = b.local_ufrag().to_owned();
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    assert_eq!(b.local_ufrag(), b_new);
    assert_eq!(ufrag_of(&b.local_description().unwrap()), b_new);
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    assert_eq!(ufrag_of(&b.local_description().unwrap()), b_new);
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);
}

/// The candidate lines of the `IceCandidate` events waiting on `pc`.
fn candidates(pc: &mut PeerConnection) -> Vec<String> {
    std::iter::from_fn(|| pc.poll_event())
        .filter_map(|e| match e {
            ferrtc_core::Event::IceCandidate(c) if !c.candidate.is_empty() => Some(c.candidate),
            _ => None,
        })
        .collect()
}

#[test]
fn a_relay_policy_set_later_applies_from_the_next_ice_restart() {
    // W3C setConfiguration with iceTransportPolicy "relay" (RFC 8829
    // §3.5.3): the candidates gathered already stand; the restart gathers
    // under the new policy, so no host candidate is offered again.
    let now = Instant::now();
    let mut a = peer(1);
    a.add_local_host(now, "192.0.2.10:5000".parse().unwrap())
        .unwrap();
    a.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    a.set_local_description(now, None).unwrap();
    let first = candidates(&mut a);
    assert!(first.iter().any(|c| c.contains("typ host")), "{first:?}");
    a.set_ice_transport_policy(true);
    assert!(candidates(&mut a).is_empty());
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    assert!(a.local_description().unwrap().sdp.contains("a=ice-ufrag:"));
    let after = candidates(&mut a);
    assert!(after.iter().all(|c| !c.contains("typ host")), "{after:?}");
    // And back: the next restart offers the host again.
    a.set_local_description(now, Some(rollback())).unwrap();
    a.set_ice_transport_policy(false);
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    let again = candidates(&mut a);
    assert!(again.iter().any(|c| c.contains("typ host")), "{again:?}");
}

#[test]
fn add_track_on_a_transceiver_the_remote_offer_made_survives_its_rollback() {
    // W3C webrtc-pc §4.4.1.6: the transceiver addTrack took stays, with
    // its track, no mid and a negotiation to come; the one addTrack did
    // not touch goes.
    let now = Instant::now();
    let mut a = peer(1);
    for (id, kind) in [("mic", MediaKind::Audio), ("cam", MediaKind::Video)] {
        a.add_track(TrackInfo {
            id: id.into(),
            kind,
            stream_ids: vec![],
        })
        .unwrap();
    }
    a.set_local_description(now, None).unwrap();
    let mut b = peer(2);
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    let created: Vec<_> = b.transceivers().iter().map(|t| t.id).collect();
    let sender = b
        .add_track(TrackInfo {
            id: "b-mic".into(),
            kind: MediaKind::Audio,
            stream_ids: vec!["s".into()],
        })
        .unwrap();
    assert_eq!(
        sender, created[0],
        "addTrack reuses the offer's transceiver"
    );
    while b.poll_event().is_some() {}
    b.set_remote_description(now, rollback()).unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    let kept = b.transceivers();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, sender);
    assert_eq!(kept[0].mid, None);
    assert_eq!(kept[0].sender_track.as_deref(), Some("b-mic"));
    // The same offer applied again announces the peer's track again.
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    let tracks = std::iter::from_fn(|| b.poll_event())
        .filter(|e| matches!(e, ferrtc_core::Event::Track { .. }))
        .count();
    assert_eq!(tracks, 2, "a track event for each of the offer's sections");
    b.set_remote_description(now, rollback()).unwrap();
    // Its offer is b's to make now.
    b.set_local_description(now, None).unwrap();
    let offer = b.local_description().unwrap();
    assert!(offer.sdp.contains("a=msid:s b-mic"), "{}", offer.sdp);
    assert_eq!(offer.sdp.matches("m=").count(), 1, "{}", offer.sdp);
}

/// `a` offers, `b` answers (both descriptions applied on their own side):
/// `b`'s answer, and `b`'s certificate's SHA-1 fingerprint as an
/// `a=fingerprint` value, for answers with fingerprint lines of their own.
fn answered_with_sha1(
    now: Instant,
    a: &mut PeerConnection,
    b: &mut PeerConnection,
) -> (SessionDescription, String) {
    let offer = a.create_offer().unwrap();
    a.set_local_description(now, Some(offer.clone())).unwrap();
    b.set_remote_description(now, offer).unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(now, Some(answer.clone())).unwrap();
    let sha1 = b
        .certificate()
        .fingerprint(ferrtc_dtls::HashAlgorithm::Sha1)
        .to_string();
    (answer, sha1)
}

/// RFC 8122 §5: a section's fingerprints are its own, the session-level
/// ones only where it has none. An answer with the certificate's SHA-1
/// fingerprint at session level and its SHA-256 one in the media section
/// pins DTLS to the section's; the same answer given again in a
/// renegotiation changes nothing and is accepted.
#[test]
fn the_same_answer_with_a_session_level_fingerprint_beside_the_sections_is_accepted_again() {
    let now = Instant::now();
    let mut a = peer(1);
    let mut b = peer(2);
    a.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    let (answer, sha1) = answered_with_sha1(now, &mut a, &mut b);
    let mut sdp = String::new();
    for l in answer.sdp.split_inclusive("\r\n") {
        sdp.push_str(l);
        if l.starts_with("t=") {
            sdp.push_str(&format!("a=fingerprint:{sha1}\r\n"));
        }
    }
    let munged = SessionDescription {
        kind: answer.kind,
        sdp,
    };
    a.set_remote_description(now, munged.clone()).unwrap();
    assert!(
        a.dtls_state().is_some(),
        "DTLS runs (offerer is the server)"
    );

    let reoffer = a.create_offer().unwrap();
    a.set_local_description(now, Some(reoffer)).unwrap();
    a.set_remote_description(now, munged)
        .expect("the same answer again");
}
/// RFC 8843 §7.3.1 (and JSEP, RFC 8829 §5.3.1): an answer carries the
/// transport attributes (`a=fingerprint` among them) in the tagged BUNDLE
/// section only; the other bundled sections share its transport. With a
/// session-level SHA-1 line beside the tagged section's SHA-256 (RFC 8122
/// §5), the same answer given again names the pinned certificate and is
/// accepted.
#[test]
fn the_same_answer_with_fingerprints_in_the_tagged_section_only_is_accepted_again() {
    let now = Instant::now();
    let mut a = peer(1);
    let mut b = peer(2);
    a.add_transceiver(
        ferrtc_core::MediaKind::Audio,
        ferrtc_core::RtpTransceiverInit::default(),
    )
    .unwrap();
    a.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    let (answer, sha1) = answered_with_sha1(now, &mut a, &mut b);
    let mut sdp = String::new();
    let mut sections = 0;
    for l in answer.sdp.split_inclusive("\r\n") {
        if l.starts_with("m=") {
            sections += 1;
        }
        if sections > 1 && l.starts_with("a=fingerprint:") {
            continue;
        }
        sdp.push_str(l);
        if l.starts_with("t=") {
            sdp.push_str(&format!("a=fingerprint:{sha1}\r\n"));
        }
    }
    assert_eq!(sections, 2, "{}", answer.sdp);
    let munged = SessionDescription {
        kind: answer.kind,
        sdp,
    };
    a.set_remote_description(now, munged.clone())
        .expect("the first answer");
    assert!(a.dtls_state().is_some(), "DTLS runs");
    let reoffer = a.create_offer().unwrap();
    a.set_local_description(now, Some(reoffer)).unwrap();
    a.set_remote_description(now, munged.clone())
        .unwrap_or_else(|e| panic!("the same answer again: {e}\n{}", munged.sdp));
}

/// RFC 8122 §5 and JSEP (RFC 8829 §5.10): the transport's fingerprints are
/// the BUNDLE-tagged section's own or, without any, the session-level
/// ones. A later answer whose tagged section names none, with a
/// session-level fingerprint of another certificate, changes the running
/// transport's fingerprints (JSEP takes the session's for it) and must be
/// refused (RFC 8842 §5.5), even though a non-tagged section lists the
/// pinned ones.
#[test]
fn a_later_answer_moving_the_tagged_sections_fingerprint_to_another_certificate_is_refused() {
    let now = Instant::now();
    let mut a = peer(1);
    let mut b = peer(2);
    let other = peer(3);
    a.add_transceiver(
        ferrtc_core::MediaKind::Audio,
        ferrtc_core::RtpTransceiverInit::default(),
    )
    .unwrap();
    a.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    let offer = a.create_offer().unwrap();
    a.set_local_description(now, Some(offer.clone())).unwrap();
    b.set_remote_description(now, offer).unwrap();
    let answer = b.create_answer().unwrap();
    b.set_local_description(now, Some(answer.clone())).unwrap();
    a.set_remote_description(now, answer.clone()).unwrap();
    assert!(a.dtls_state().is_some(), "DTLS runs");
    let foreign = other
        .certificate()
        .fingerprint(ferrtc_dtls::HashAlgorithm::Sha256)
        .to_string();
    let mut sdp = String::new();
    let mut sections = 0;
    for l in answer.sdp.split_inclusive("\r\n") {
        if l.starts_with("m=") {
            sections += 1;
        }
        // The tagged (first) section loses its own fingerprint.
        if sections == 1 && l.starts_with("a=fingerprint:") {
            continue;
        }
        sdp.push_str(l);
        if l.starts_with("t=") {
            sdp.push_str(&format!("a=fingerprint:{foreign}\r\n"));
        }
    }
    assert_eq!(sections, 2, "{}", answer.sdp);
    assert!(
        sdp.split("m=").nth(2).unwrap().contains("a=fingerprint:"),
        "the second section keeps the pinned fingerprint"
    );
    let reoffer = a.create_offer().unwrap();
    a.set_local_description(now, Some(reoffer)).unwrap();
    let munged = SessionDescription {
        kind: answer.kind,
        sdp,
    };
    assert!(
        a.set_remote_description(now, munged.clone()).is_err(),
        "accepted an answer whose transport fingerprint is another certificate's:\n{}",
        munged.sdp
    );
}
