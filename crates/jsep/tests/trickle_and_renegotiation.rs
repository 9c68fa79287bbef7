//! Trickled candidates (RFC 8840), negotiation-needed (W3C §4.7.3) and the
//! layout rules of subsequent offers (RFC 8829 §5.10).

use ferrtc_jsep::{
    AnswerOptions, IceCandidateInit, IceCredentials, Jsep, JsepConfig, JsepError, OfferOptions,
    SessionDescription, TransceiverInit,
};
use ferrtc_sdp::{Direction, Fingerprint, HashFunction, MediaKind, SessionDescription as Sdp};

fn jsep(ufrag: &str) -> Jsep {
    Jsep::new(JsepConfig::new(
        3,
        IceCredentials::new(ufrag, "passwordpasswordpassword"),
        vec![Fingerprint::from_digest(HashFunction::Sha256, &[2; 32])],
    ))
}

fn exchange(a: &mut Jsep, b: &mut Jsep) {
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    b.set_local_description(answer.clone()).unwrap();
    a.set_remote_description(answer).unwrap();
}

const CAND: &str = "candidate:1 1 udp 2122194687 192.0.2.2 40950 typ host generation 0";

fn with_offer() -> Jsep {
    let mut a = jsep("aaaa");
    a.request_data_channel();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let mut b = jsep("bbbb");
    b.set_remote_description(offer).unwrap();
    b
}

fn remote(b: &Jsep) -> Sdp {
    b.remote_description().unwrap().sdp.parse().unwrap()
}

#[test]
fn trickled_candidate_is_added_to_the_remote_description_by_mid() {
    let mut b = with_offer();
    let init = IceCandidateInit {
        candidate: CAND.into(),
        sdp_mid: Some("0".into()),
        ..Default::default()
    };
    let (mid, cand) = b.add_ice_candidate(&init).unwrap().expect("a candidate");
    assert_eq!((mid.as_str(), cand.port()), ("0", 40950));
    assert_eq!(remote(&b).media[0].candidates().count(), 1);
    assert!(
        b.remote_description()
            .unwrap()
            .sdp
            .contains(&format!("a={CAND}\r\n"))
    );
}

#[test]
fn trickled_candidate_can_name_its_section_by_index() {
    let mut b = with_offer();
    let init = IceCandidateInit {
        candidate: CAND.into(),
        sdp_m_line_index: Some(0),
        ..Default::default()
    };
    assert!(b.add_ice_candidate(&init).unwrap().is_some());
}

#[test]
fn empty_candidate_marks_end_of_candidates() {
    let mut b = with_offer();
    let init = IceCandidateInit {
        sdp_mid: Some("0".into()),
        ..Default::default()
    };
    assert_eq!(b.add_ice_candidate(&init).unwrap(), None);
    assert!(remote(&b).media[0].end_of_candidates());
}

#[test]
fn empty_candidate_without_mid_or_index_ends_candidates_of_every_section() {
    // W3C webrtc-pc addIceCandidate: what a browser sends for a null candidate.
    let mut b = with_offer();
    assert_eq!(
        b.add_ice_candidate(&IceCandidateInit::default()).unwrap(),
        None
    );
    assert!(remote(&b).media.iter().all(|m| m.end_of_candidates()));
    let no_section = IceCandidateInit {
        candidate: CAND.into(),
        ..Default::default()
    };
    assert!(matches!(
        b.add_ice_candidate(&no_section),
        Err(JsepError::CandidateWithoutMid)
    ));
}

#[test]
fn candidate_for_an_unknown_section_or_ufrag_is_refused() {
    let mut b = with_offer();
    let bad_mid = IceCandidateInit {
        candidate: CAND.into(),
        sdp_mid: Some("9".into()),
        ..Default::default()
    };
    assert!(matches!(
        b.add_ice_candidate(&bad_mid),
        Err(JsepError::CandidateForNoSection { .. })
    ));
    let bad_ufrag = IceCandidateInit {
        candidate: CAND.into(),
        sdp_mid: Some("0".into()),
        username_fragment: Some("zzzz".into()),
        ..Default::default()
    };
    assert!(matches!(
        b.add_ice_candidate(&bad_ufrag),
        Err(JsepError::BadCandidate(_))
    ));
    let garbage = IceCandidateInit {
        candidate: "candidate:x".into(),
        sdp_mid: Some("0".into()),
        ..Default::default()
    };
    assert!(matches!(
        b.add_ice_candidate(&garbage),
        Err(JsepError::BadCandidate(_))
    ));
}

#[test]
fn candidate_before_a_remote_description_is_an_invalid_state_error() {
    let mut b = jsep("bbbb");
    let init = IceCandidateInit {
        candidate: CAND.into(),
        sdp_mid: Some("0".into()),
        ..Default::default()
    };
    assert!(matches!(
        b.add_ice_candidate(&init),
        Err(JsepError::InvalidState { .. })
    ));
}

#[test]
fn candidate_init_has_the_w3c_json_form() {
    let json = r#"{"candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#;
    let c: IceCandidateInit = serde_json::from_str(json).unwrap();
    assert_eq!(c.sdp_m_line_index, Some(0));
    assert_eq!(c.username_fragment.as_deref(), Some("abcd"));
    assert_eq!(serde_json::to_string(&c).unwrap(), json);
}

#[test]
fn negotiation_is_needed_for_new_transceivers_and_data_until_an_exchange() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    assert!(!a.is_negotiation_needed());
    a.add_transceiver(TransceiverInit::new(MediaKind::Audio, Direction::SendRecv));
    assert!(a.is_negotiation_needed());
    exchange(&mut a, &mut b);
    assert!(!a.is_negotiation_needed());
    assert!(!b.is_negotiation_needed());
    a.request_data_channel();
    assert!(a.is_negotiation_needed());
}

#[test]
fn negotiation_is_needed_after_a_direction_change_or_stop() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let t = a.add_transceiver(TransceiverInit::new(MediaKind::Audio, Direction::SendRecv));
    exchange(&mut a, &mut b);
    a.set_direction(t, Direction::RecvOnly).unwrap();
    assert!(a.is_negotiation_needed());
    exchange(&mut a, &mut b);
    assert!(!a.is_negotiation_needed());
    a.stop_transceiver(t).unwrap();
    assert!(a.is_negotiation_needed());
    exchange(&mut a, &mut b);
    assert!(!a.is_negotiation_needed());
}

#[test]
fn answerer_needs_negotiation_when_it_wants_to_send_on_a_recvonly_section() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(TransceiverInit::new(MediaKind::Audio, Direction::SendOnly));
    exchange(&mut a, &mut b);
    assert!(!b.is_negotiation_needed());
    let t = b.transceivers()[0].id();
    b.set_direction(t, Direction::SendRecv).unwrap();
    // The offer was sendonly, so the answerer could not send anyway.
    assert!(!b.is_negotiation_needed());
    b.set_direction(t, Direction::Inactive).unwrap();
    assert!(b.is_negotiation_needed());
}

#[test]
fn subsequent_remote_offer_may_not_remove_a_section() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(TransceiverInit::new(MediaKind::Audio, Direction::SendRecv));
    a.request_data_channel();
    exchange(&mut a, &mut b);
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let cut = offer.sdp.split("m=application").next().unwrap().to_owned();
    let err = b
        .set_remote_description(SessionDescription::offer(cut))
        .unwrap_err();
    assert!(matches!(err, JsepError::Invalid(_)), "{err}");
}

#[test]
fn subsequent_remote_offer_may_not_change_a_live_mid() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    exchange(&mut a, &mut b);
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let renamed = offer
        .sdp
        .replace("a=mid:0", "a=mid:x")
        .replace("BUNDLE 0", "BUNDLE x");
    let err = b
        .set_remote_description(SessionDescription::offer(renamed))
        .unwrap_err();
    assert!(matches!(err, JsepError::Invalid(_)), "{err}");
}
