//! W3C webrtc-pc §4.7.3, the negotiation-needed flag: `negotiationneeded`
//! fires once per need, only in `stable`, and a need that arose outside
//! `stable` fires once the signaling state returns to it.

use std::time::{Instant, SystemTime};

use ferrtc_core::{
    Config, DataChannelInit, Event, MediaKind, PeerConnection,
    RtpTransceiverDirection as Direction, RtpTransceiverInit, SessionDescription, SignalingState,
    TransceiverId,
};

fn peer(seed: u8) -> PeerConnection {
    let mut config = Config::default();
    config.rng_seed = Some([seed; 32]);
    PeerConnection::new(config, Instant::now(), SystemTime::now()).unwrap()
}

/// `a` offers, `b` answers, `a` applies the answer: both stable.
fn exchange(now: Instant, a: &mut PeerConnection, b: &mut PeerConnection) {
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
}

/// One full exchange: `a` offered a data channel, `b` answered, both
/// stable, with no event waiting.
fn negotiated(now: Instant) -> (PeerConnection, PeerConnection) {
    let mut a = peer(1);
    let mut b = peer(2);
    a.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    exchange(now, &mut a, &mut b);
    drain(&mut a);
    drain(&mut b);
    (a, b)
}

/// `a` offered one send-receive audio transceiver `t`, the answer is
/// applied, `a` is stable with no event waiting.
fn negotiated_audio() -> (PeerConnection, TransceiverId) {
    let now = Instant::now();
    let mut a = peer(1);
    let mut b = peer(2);
    let t = a
        .add_transceiver(MediaKind::Audio, RtpTransceiverInit::default())
        .unwrap();
    exchange(now, &mut a, &mut b);
    drain(&mut a);
    (a, t)
}

fn drain(pc: &mut PeerConnection) -> Vec<Event> {
    std::iter::from_fn(|| pc.poll_event()).collect()
}

fn negotiation_needed(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| **e == Event::NegotiationNeeded)
        .count()
}

fn ufrag_of(desc: &SessionDescription) -> String {
    desc.sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .to_owned()
}

/// `restartIce()` while our offer waits for its answer fires nothing then
/// (the state is not `stable`), but the restart still needs an offer
/// (webrtc-pc §4.7.3 "check if negotiation is needed": the
/// `[[LocalIceCredentialsToReplace]]` are not empty): `negotiationneeded`
/// fires when the answer brings the session back to `stable`, after the
/// `signalingstatechange`, and the next offer carries the new credentials.
#[test]
fn restart_ice_outside_stable_fires_negotiationneeded_once_stable_again() {
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let old_ufrag = a.local_ufrag().to_owned();
    a.set_local_description(now, None).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    drain(&mut a);
    a.restart_ice(now).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 0, "not in stable");

    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    let events = drain(&mut a);
    let stable = events
        .iter()
        .position(|e| *e == Event::SignalingStateChange(SignalingState::Stable));
    let needed = events.iter().position(|e| *e == Event::NegotiationNeeded);
    assert!(stable.is_some(), "{events:?}");
    assert!(
        needed > stable,
        "negotiationneeded after stable: {events:?}"
    );

    a.set_local_description(now, None).unwrap();
    let offer = a.local_description().unwrap();
    assert_ne!(ufrag_of(&offer), old_ufrag, "the offer restarts ICE");
    assert_eq!(ufrag_of(&offer), a.local_ufrag());
}

/// The same from the answerer's side: `restartIce()` while the peer's
/// offer waits for our answer (which does not restart, the peer's offer
/// not asking for it) fires `negotiationneeded` once the answer is applied.
#[test]
fn restart_ice_in_have_remote_offer_fires_negotiationneeded_after_the_answer() {
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    assert_eq!(b.signaling_state(), SignalingState::HaveRemoteOffer);
    drain(&mut b);
    b.restart_ice(now).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut b)), 0, "not in stable");
    b.set_local_description(now, None).unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    assert_eq!(negotiation_needed(&drain(&mut b)), 1);
}

/// `negotiationneeded` fires once per need (webrtc-pc §4.7.3 "update the
/// negotiation-needed flag": if `[[NegotiationNeeded]]` is already true,
/// nothing fires): `restartIce()` while an earlier need is not yet
/// negotiated, or called twice, adds no second event.
#[test]
fn restart_ice_with_negotiation_already_needed_fires_no_second_event() {
    let now = Instant::now();
    let (mut a, _b) = negotiated(now);
    a.add_transceiver(MediaKind::Audio, RtpTransceiverInit::default())
        .unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 1);
    a.restart_ice(now).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 0);

    let (mut a, _b) = negotiated(now);
    a.restart_ice(now).unwrap();
    a.restart_ice(now).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 1);
}

fn rollback() -> SessionDescription {
    SessionDescription {
        kind: ferrtc_core::SdpType::Rollback,
        sdp: String::new(),
    }
}

/// `[[LocalIceCredentialsToReplace]]` is emptied only
/// when an answer commits local credentials outside it (W3C webrtc-pc
/// §4.4.1.6; libwebrtc `SatisfiesIceRestart` on kAnswer), not when the
/// restart offer is applied. A rolled back restart offer leaves the
/// restart requested: back in stable, "check if negotiation is needed" is
/// true, so `negotiationneeded` fires and the next offer restarts ICE.
#[test]
fn restart_ice_survives_the_rollback_of_its_offer() {
    let now = Instant::now();
    let (mut a, _b) = negotiated(now);
    let old_ufrag = a.local_ufrag().to_owned();
    a.restart_ice(now).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 1);
    a.set_local_description(now, None).unwrap();
    assert_ne!(ufrag_of(&a.local_description().unwrap()), old_ufrag);
    a.set_local_description(now, Some(rollback())).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    let events = drain(&mut a);
    assert_eq!(
        negotiation_needed(&events),
        1,
        "the restart is still needed after the rollback: {events:?}"
    );
    let offer = a.create_offer().unwrap();
    assert_ne!(ufrag_of(&offer), old_ufrag, "the next offer restarts ICE");
}

/// The same through glare: our restart offer is rolled back for the
/// peer's offer, we answer it (no restart asked by the peer); once stable
/// the restart is still to be negotiated.
#[test]
fn restart_ice_survives_glare_and_fires_after_the_answer() {
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let old_ufrag = a.local_ufrag().to_owned();
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    drain(&mut a);
    b.add_transceiver(MediaKind::Audio, RtpTransceiverInit::default())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    a.set_local_description(now, Some(rollback())).unwrap();
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    a.set_local_description(now, None).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    let events = drain(&mut a);
    // Stable after the rollback, then after the answer (W3C §4.7.3: the
    // flag is updated each time the state is stable again).
    assert_eq!(
        events.last(),
        Some(&Event::NegotiationNeeded),
        "the restart is still needed once stable: {events:?}"
    );
    let offer = a.create_offer().unwrap();
    assert_ne!(ufrag_of(&offer), old_ufrag, "the next offer restarts ICE");
}

/// After a rolled back restart offer, the next offer is applied and
/// answered: the agent runs the offer's credentials, the restart is done
/// (no further `negotiationneeded`, the next offer keeps the ufrag).
#[test]
fn the_offer_after_a_rolled_back_restart_completes_it() {
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let old_ufrag = a.local_ufrag().to_owned();
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    a.set_local_description(now, Some(rollback())).unwrap();
    assert_eq!(
        a.local_ufrag(),
        old_ufrag,
        "the agent is back on the old ones"
    );
    drain(&mut a);
    a.set_local_description(now, None).unwrap();
    let offer = a.local_description().unwrap();
    assert_ne!(ufrag_of(&offer), old_ufrag);
    assert_eq!(
        ufrag_of(&offer),
        a.local_ufrag(),
        "the agent restarted to the offer's"
    );
    b.set_remote_description(now, offer).unwrap();
    b.set_local_description(now, None).unwrap();
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    let events = drain(&mut a);
    assert_eq!(negotiation_needed(&events), 0, "{events:?}");
    let next = a.create_offer().unwrap();
    assert_eq!(ufrag_of(&next), a.local_ufrag(), "no further restart");
}

/// Rolled back twice: still wanted, the agent back on the old
/// credentials each time, and the third offer restarts.
#[test]
fn a_restart_rolled_back_twice_is_still_wanted() {
    let now = Instant::now();
    let (mut a, _b) = negotiated(now);
    let old_ufrag = a.local_ufrag().to_owned();
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    a.set_local_description(now, Some(rollback())).unwrap();
    drain(&mut a);
    a.set_local_description(now, None).unwrap();
    let second = ufrag_of(&a.local_description().unwrap());
    assert_ne!(second, old_ufrag);
    a.set_local_description(now, Some(rollback())).unwrap();
    assert_eq!(a.local_ufrag(), old_ufrag);
    let events = drain(&mut a);
    assert_eq!(negotiation_needed(&events), 1, "{events:?}");
    let third = a.create_offer().unwrap();
    assert_ne!(ufrag_of(&third), old_ufrag);
}

/// A restart still wanted is satisfied by our answer to the peer's
/// restart offer: nothing more is needed once stable.
#[test]
fn answering_the_peers_restart_satisfies_a_wanted_restart() {
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let old_ufrag = a.local_ufrag().to_owned();
    a.restart_ice(now).unwrap();
    a.set_local_description(now, None).unwrap();
    a.set_local_description(now, Some(rollback())).unwrap();
    b.restart_ice(now).unwrap();
    b.set_local_description(now, None).unwrap();
    drain(&mut a);
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    a.set_local_description(now, None).unwrap();
    let answer = a.local_description().unwrap();
    assert_ne!(ufrag_of(&answer), old_ufrag);
    assert_eq!(ufrag_of(&answer), a.local_ufrag());
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    let events = drain(&mut a);
    assert_eq!(negotiation_needed(&events), 0, "{events:?}");
}

/// W3C webrtc-pc §4.4.1.6: `[[LocalIceCredentialsToReplace]]` is emptied
/// only when an answer commits local credentials *not* in it. An offer
/// created before `restartIce()` (still `[[LastCreatedOffer]]`, so it may
/// be applied) carries the old credentials: once it is answered the
/// restart is still to be done: `negotiationneeded`, and the next offer
/// restarts.
#[test]
fn an_offer_created_before_restart_ice_does_not_satisfy_it() {
    let now = Instant::now();
    let (mut a, mut b) = negotiated(now);
    let old_ufrag = a.local_ufrag().to_owned();
    let stale = a.create_offer().unwrap();
    a.restart_ice(now).unwrap();
    drain(&mut a);
    a.set_local_description(now, Some(stale)).unwrap();
    assert_eq!(ufrag_of(&a.local_description().unwrap()), old_ufrag);
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    a.set_remote_description(now, b.local_description().unwrap())
        .unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    let events = drain(&mut a);
    assert_eq!(
        negotiation_needed(&events),
        1,
        "the restart is still needed: {events:?}"
    );
    let next = a.create_offer().unwrap();
    assert_ne!(ufrag_of(&next), old_ufrag, "the next offer restarts ICE");
}

/// W3C webrtc-pc §4.7.3 "update the negotiation-needed flag": when a need
/// goes away while stable (a direction changed and changed back), the flag
/// is cleared, so the next need fires `negotiationneeded` again.
#[test]
fn a_need_that_went_away_lets_the_next_one_fire_again() {
    let (mut a, t) = negotiated_audio();
    a.set_direction(t, Direction::RecvOnly).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 1);
    // Back to what was negotiated: nothing is needed any more.
    a.set_direction(t, Direction::SendRecv).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 0);
    // A new need fires again.
    a.set_direction(t, Direction::Inactive).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 1);
}

/// W3C webrtc-pc §4.7.3 checks the need again when the queued task runs,
/// so a need that went away and a new one, both before the application
/// sees any event, fire `negotiationneeded` once.
#[test]
fn a_need_that_went_away_and_came_back_before_delivery_fires_once() {
    let (mut a, t) = negotiated_audio();
    a.set_direction(t, Direction::RecvOnly).unwrap();
    a.set_direction(t, Direction::SendRecv).unwrap();
    a.set_direction(t, Direction::Inactive).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 1);
}

/// The same with transceivers before any negotiation:
/// add one (need), stop it (no need: never negotiated), add another (need),
/// without polling in between: one pending need, one event.
#[test]
fn add_stop_add_before_delivery_fires_once() {
    let mut a = peer(1);
    let t = a
        .add_transceiver(MediaKind::Audio, RtpTransceiverInit::default())
        .unwrap();
    a.stop_transceiver(t).unwrap();
    a.add_transceiver(MediaKind::Video, RtpTransceiverInit::default())
        .unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 1);
}

/// A need that went away before the application saw its event takes the
/// event with it (W3C webrtc-pc §4.7.3: the queued task finds nothing
/// needed and does not fire).
#[test]
fn a_need_that_went_away_before_delivery_fires_nothing() {
    let (mut a, t) = negotiated_audio();
    a.set_direction(t, Direction::RecvOnly).unwrap();
    a.set_direction(t, Direction::SendRecv).unwrap();
    assert_eq!(negotiation_needed(&drain(&mut a)), 0);
}
