//! The signaling state machine: every transition W3C webrtc-pc §4.4.1.6 allows,
//! and an error for every one it forbids.

use ferrtc_jsep::{
    AnswerOptions, IceCredentials, Jsep, JsepConfig, JsepError, OfferOptions, SdpType,
    SessionDescription, Side, SignalingState, Transition,
};
use ferrtc_sdp::{Fingerprint, HashFunction};

use SdpType::{Answer, Offer, Pranswer, Rollback};
use Side::{Local, Remote};
use SignalingState::*;

const STATES: [SignalingState; 6] = [
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
    HaveLocalPranswer,
    HaveRemotePranswer,
    Closed,
];
const KINDS: [SdpType; 4] = [Offer, Pranswer, Answer, Rollback];

/// The allowed transitions, written out from the W3C spec.
const ALLOWED: &[(SignalingState, Side, SdpType, SignalingState)] = &[
    (Stable, Local, Offer, HaveLocalOffer),
    (Stable, Remote, Offer, HaveRemoteOffer),
    (HaveLocalOffer, Local, Offer, HaveLocalOffer),
    (HaveLocalOffer, Remote, Answer, Stable),
    (HaveLocalOffer, Remote, Pranswer, HaveRemotePranswer),
    (HaveLocalOffer, Local, Rollback, Stable),
    (HaveLocalOffer, Remote, Rollback, Stable),
    (HaveRemoteOffer, Remote, Offer, HaveRemoteOffer),
    (HaveRemoteOffer, Local, Answer, Stable),
    (HaveRemoteOffer, Local, Pranswer, HaveLocalPranswer),
    (HaveRemoteOffer, Local, Rollback, Stable),
    (HaveRemoteOffer, Remote, Rollback, Stable),
    (HaveLocalPranswer, Local, Pranswer, HaveLocalPranswer),
    (HaveLocalPranswer, Local, Answer, Stable),
    (HaveRemotePranswer, Remote, Pranswer, HaveRemotePranswer),
    (HaveRemotePranswer, Remote, Answer, Stable),
];

#[test]
fn every_allowed_transition_reaches_its_w3c_state() {
    for &(from, side, kind, to) in ALLOWED {
        assert_eq!(
            from.transition(side, kind),
            Some(Transition::To(to)),
            "{from:?} {side:?} {kind:?}"
        );
    }
}

#[test]
fn remote_offer_in_have_local_offer_is_an_implicit_rollback() {
    assert_eq!(
        HaveLocalOffer.transition(Remote, Offer),
        Some(Transition::ImplicitRollbackThen(HaveRemoteOffer))
    );
}

#[test]
fn every_other_transition_is_forbidden() {
    for from in STATES {
        for side in [Local, Remote] {
            for kind in KINDS {
                let listed = ALLOWED
                    .iter()
                    .any(|&(f, s, k, _)| (f, s, k) == (from, side, kind));
                let implicit = (from, side, kind) == (HaveLocalOffer, Remote, Offer);
                if !listed && !implicit {
                    assert_eq!(
                        from.transition(side, kind),
                        None,
                        "{from:?} {side:?} {kind:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn rollback_is_forbidden_in_stable_and_in_pranswer_states() {
    for s in [Stable, HaveLocalPranswer, HaveRemotePranswer, Closed] {
        assert_eq!(s.transition(Local, Rollback), None);
        assert_eq!(s.transition(Remote, Rollback), None);
    }
}

#[test]
fn states_and_types_have_their_w3c_strings() {
    assert_eq!(HaveLocalPranswer.as_str(), "have-local-pranswer");
    assert_eq!(
        serde_json::to_string(&HaveRemoteOffer).unwrap(),
        "\"have-remote-offer\""
    );
    assert_eq!(Pranswer.as_str(), "pranswer");
}

fn jsep(ufrag: &str) -> Jsep {
    let mut j = Jsep::new(JsepConfig::new(
        7,
        IceCredentials::new(ufrag, "passwordpasswordpassword"),
        vec![Fingerprint::from_digest(HashFunction::Sha256, &[1; 32])],
    ));
    j.request_data_channel();
    j
}

#[test]
fn setting_a_remote_answer_in_stable_is_an_invalid_state_error() {
    let mut a = jsep("aaaa");
    let err = a
        .set_remote_description(SessionDescription::answer("v=0\r\n"))
        .unwrap_err();
    assert_eq!(
        err,
        JsepError::InvalidState {
            operation: "set remote description",
            kind: Some(Answer),
            state: Stable
        }
    );
}

#[test]
fn create_answer_without_a_remote_offer_is_an_invalid_state_error() {
    let mut a = jsep("aaaa");
    assert!(matches!(
        a.create_answer(AnswerOptions::default()),
        Err(JsepError::InvalidState { .. })
    ));
}

#[test]
fn a_closed_session_refuses_everything() {
    let mut a = jsep("aaaa");
    a.close();
    assert_eq!(a.signaling_state(), Closed);
    assert_eq!(
        a.create_offer(OfferOptions::default()),
        Err(JsepError::Closed)
    );
    assert_eq!(
        a.set_local_description(SessionDescription::rollback()),
        Err(JsepError::Closed)
    );
}

#[test]
fn a_modified_local_offer_is_refused() {
    let mut a = jsep("aaaa");
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let munged = SessionDescription::offer(
        offer
            .sdp
            .replace("a=max-message-size:262144", "a=max-message-size:1"),
    );
    assert_eq!(
        a.set_local_description(munged),
        Err(JsepError::Modified(Offer))
    );
    assert_eq!(a.signaling_state(), Stable);
}

#[test]
fn an_empty_local_offer_means_the_last_created_one() {
    let mut a = jsep("aaaa");
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(SessionDescription::offer(""))
        .unwrap();
    assert_eq!(a.local_description(), Some(offer));
}

#[test]
fn setting_a_local_offer_before_creating_one_fails() {
    let mut a = jsep("aaaa");
    assert_eq!(
        a.set_local_description(SessionDescription::offer("")),
        Err(JsepError::NothingCreated(Offer))
    );
}

#[test]
fn full_exchange_walks_offer_answer_states_and_sets_current_descriptions() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    assert_eq!(a.signaling_state(), HaveLocalOffer);
    assert_eq!(a.pending_local_description(), Some(offer.clone()));
    b.set_remote_description(offer.clone()).unwrap();
    assert_eq!(b.signaling_state(), HaveRemoteOffer);
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    b.set_local_description(answer.clone()).unwrap();
    a.set_remote_description(answer.clone()).unwrap();
    for s in [&a, &b] {
        assert_eq!(s.signaling_state(), Stable);
        assert_eq!(s.pending_local_description(), None);
        assert_eq!(s.pending_remote_description(), None);
    }
    assert_eq!(a.current_local_description(), Some(offer.clone()));
    assert_eq!(a.current_remote_description(), Some(answer.clone()));
    assert_eq!(b.current_remote_description(), Some(offer));
    assert_eq!(b.current_local_description(), Some(answer));
}

#[test]
fn pranswer_then_answer_completes_on_both_sides() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let pr = SessionDescription::pranswer(answer.sdp.clone());
    b.set_local_description(pr.clone()).unwrap();
    assert_eq!(b.signaling_state(), HaveLocalPranswer);
    a.set_remote_description(pr).unwrap();
    assert_eq!(a.signaling_state(), HaveRemotePranswer);
    b.set_local_description(answer.clone()).unwrap();
    a.set_remote_description(answer).unwrap();
    assert_eq!((a.signaling_state(), b.signaling_state()), (Stable, Stable));
    assert!(a.transport().is_some() && b.transport().is_some());
}

#[test]
fn local_rollback_returns_to_stable_and_forgets_the_offer_mids() {
    let mut a = jsep("aaaa");
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer).unwrap();
    assert_eq!(a.data_mid(), Some("0"));
    a.set_local_description(SessionDescription::rollback())
        .unwrap();
    assert_eq!(a.signaling_state(), Stable);
    assert_eq!(a.local_description(), None);
    assert_eq!(a.data_mid(), None);
}

#[test]
fn remote_rollback_removes_transceivers_the_offer_created() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(ferrtc_jsep::TransceiverInit::new(
        ferrtc_sdp::MediaKind::Audio,
        ferrtc_sdp::Direction::SendRecv,
    ));
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    b.set_remote_description(offer).unwrap();
    assert_eq!(b.transceivers().len(), 1);
    b.set_remote_description(SessionDescription::rollback())
        .unwrap();
    assert_eq!(b.signaling_state(), Stable);
    assert!(b.transceivers().is_empty());
    assert_eq!(b.remote_description(), None);
}

#[test]
fn glare_remote_offer_rolls_back_the_local_offer() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let oa = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(oa).unwrap();
    let ob = b.create_offer(OfferOptions::default()).unwrap();
    b.set_local_description(ob.clone()).unwrap();
    a.set_remote_description(ob).unwrap();
    assert_eq!(a.signaling_state(), HaveRemoteOffer);
    assert_eq!(a.pending_local_description(), None);
    let answer = a.create_answer(AnswerOptions::default()).unwrap();
    a.set_local_description(answer.clone()).unwrap();
    b.set_remote_description(answer).unwrap();
    assert_eq!((a.signaling_state(), b.signaling_state()), (Stable, Stable));
}

#[test]
fn session_description_has_the_w3c_json_form() {
    let d = SessionDescription::offer("v=0\r\n");
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, r#"{"type":"offer","sdp":"v=0\r\n"}"#);
    let back: SessionDescription = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    let rb: SessionDescription = serde_json::from_str(r#"{"type":"rollback"}"#).unwrap();
    assert_eq!(rb, SessionDescription::rollback());
}

#[test]
fn an_answer_refused_while_completing_leaves_the_transceivers_as_they_were() {
    // W3C webrtc-pc §4.4.1.6: a refused description changes nothing. This
    // answer rejects the audio section (port 0) and its BUNDLE tag section
    // has no ICE credentials: nothing may be stopped when it is refused.
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(ferrtc_jsep::TransceiverInit::new(
        ferrtc_sdp::MediaKind::Audio,
        ferrtc_sdp::Direction::SendRecv,
    ));
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    b.set_local_description(answer.clone()).unwrap();
    // The audio section's ufrag goes (the data section keeps its own).
    let audio = answer.sdp.replace("m=audio 9 ", "m=audio 0 ");
    let ufrag = audio.find("a=ice-ufrag:").unwrap();
    let end = ufrag + audio[ufrag..].find("\r\n").unwrap() + 2;
    let bad = format!("{}{}", &audio[..ufrag], &audio[end..]);
    assert_ne!(bad, answer.sdp);
    let before = a.transceivers().to_vec();
    assert!(
        a.set_remote_description(SessionDescription::answer(bad))
            .is_err()
    );
    assert_eq!(a.signaling_state(), HaveLocalOffer);
    assert_eq!(a.transceivers(), before.as_slice());
    a.set_remote_description(answer).unwrap();
    assert_eq!(a.signaling_state(), Stable);
    assert!(!a.transceivers()[0].is_stopped());
}

#[test]
fn a_rollback_keeps_the_senders_track_and_streams_and_their_change_still_asks_to_negotiate() {
    let mut a = jsep("aaaa");
    let t = a.add_transceiver(ferrtc_jsep::TransceiverInit::new(
        ferrtc_sdp::MediaKind::Video,
        ferrtc_sdp::Direction::SendOnly,
    ));
    a.set_sender(t, Some("cam".into()), vec!["one".into()])
        .unwrap();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer).unwrap();
    // Meanwhile the application moves the track to another stream
    // (`setStreams`), then the offer is rolled back (glare, say).
    a.set_sender(t, Some("cam".into()), vec!["two".into()])
        .unwrap();
    a.set_local_description(SessionDescription::rollback())
        .unwrap();
    let kept = a.transceivers().iter().find(|x| x.id() == t).unwrap();
    assert_eq!(kept.init().stream_ids, ["two"]);
    assert_eq!(kept.init().track_id.as_deref(), Some("cam"));
    assert!(a.is_negotiation_needed());
}

#[test]
fn a_rollback_keeps_a_track_added_or_removed_meanwhile_with_its_direction() {
    let mut a = jsep("aaaa");
    let t = a.add_transceiver(ferrtc_jsep::TransceiverInit::new(
        ferrtc_sdp::MediaKind::Audio,
        ferrtc_sdp::Direction::SendRecv,
    ));
    a.set_sender(t, Some("mic".into()), vec![]).unwrap();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer).unwrap();
    // `removeTrack` during the offer: no track, and recvonly.
    a.set_sender(t, None, vec![]).unwrap();
    a.set_direction(t, ferrtc_sdp::Direction::RecvOnly).unwrap();
    a.set_local_description(SessionDescription::rollback())
        .unwrap();
    let kept = a.transceivers().iter().find(|x| x.id() == t).unwrap();
    assert_eq!(kept.init().track_id, None);
    assert_eq!(kept.direction(), ferrtc_sdp::Direction::RecvOnly);
}

#[test]
fn a_stream_named_twice_is_one_stream() {
    let mut a = jsep("aaaa");
    let mut init = ferrtc_jsep::TransceiverInit::new(
        ferrtc_sdp::MediaKind::Audio,
        ferrtc_sdp::Direction::SendOnly,
    );
    init.stream_ids = vec!["s".into(), "t".into(), "s".into()];
    let t = a.add_transceiver(init);
    let ids = |a: &Jsep| a.transceivers()[0].init().stream_ids.clone();
    assert_eq!(ids(&a), ["s", "t"]);
    a.set_sender(
        t,
        Some("mic".into()),
        vec!["u".into(), "u".into(), "s".into()],
    )
    .unwrap();
    assert_eq!(ids(&a), ["u", "s"]);
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    assert_eq!(
        offer.sdp.matches("a=msid:u mic").count(),
        1,
        "{}",
        offer.sdp
    );
}

#[test]
fn a_remote_rollback_keeps_a_transceiver_the_offer_created_that_add_track_took() {
    // W3C webrtc-pc §4.4.1.6: a rollback removes the transceivers the
    // remote offer created, unless addTrack attached a track to one.
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    for kind in [ferrtc_sdp::MediaKind::Audio, ferrtc_sdp::MediaKind::Video] {
        a.add_transceiver(ferrtc_jsep::TransceiverInit::new(
            kind,
            ferrtc_sdp::Direction::SendRecv,
        ));
    }
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    b.set_remote_description(offer).unwrap();
    let (audio, video) = (b.transceivers()[0].id(), b.transceivers()[1].id());
    b.reuse_for_add_track(audio, "mic".into(), vec!["s".into()])
        .unwrap();
    b.set_remote_description(SessionDescription::rollback())
        .unwrap();
    let ids: Vec<_> = b.transceivers().iter().map(|t| t.id()).collect();
    assert_eq!(ids, [audio]);
    assert!(
        !ids.contains(&video),
        "the untouched video transceiver is removed"
    );
    let kept = &b.transceivers()[0];
    assert_eq!(kept.mid(), None);
    assert_eq!(kept.direction(), ferrtc_sdp::Direction::SendRecv);
    assert_eq!(kept.init().track_id.as_deref(), Some("mic"));
    // It is now b's own: b's next offer carries it, sending the track.
    let offer = b.create_offer(OfferOptions::default()).unwrap();
    assert_eq!(offer.sdp.matches("m=audio").count(), 1, "{}", offer.sdp);
    assert!(offer.sdp.contains("a=msid:s mic"), "{}", offer.sdp);
    assert!(!offer.sdp.contains("m=video"), "{}", offer.sdp);
}
