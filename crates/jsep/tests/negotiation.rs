//! Offer/answer rules between two sessions (RFC 8829 §5.2, §5.3, §5.10).

use ferrtc_dtls::Role;
use ferrtc_jsep::{
    AnswerOptions, BundlePolicy, Codec, IceCredentials, Jsep, JsepConfig, JsepError, OfferOptions,
    SendEncoding, SessionDescription, SignalingState, TransceiverId, TransceiverInit,
};
use ferrtc_sdp::{
    Direction, Fingerprint, HashFunction, MediaKind, SessionDescription as Sdp, Setup,
};

fn config(ufrag: &str) -> JsepConfig {
    JsepConfig::new(
        9,
        IceCredentials::new(ufrag, "passwordpasswordpassword"),
        vec![Fingerprint::from_digest(
            HashFunction::Sha256,
            &[ufrag.len() as u8; 32],
        )],
    )
}

fn jsep(ufrag: &str) -> Jsep {
    Jsep::new(config(ufrag))
}

fn audio(dir: Direction) -> TransceiverInit {
    TransceiverInit::new(MediaKind::Audio, dir)
}

fn video(dir: Direction) -> TransceiverInit {
    TransceiverInit::new(MediaKind::Video, dir)
}

fn sdp(d: &SessionDescription) -> Sdp {
    d.sdp.parse().expect("our own SDP parses")
}

/// Runs one offer/answer exchange from `a` to `b`; returns (offer, answer).
fn exchange(a: &mut Jsep, b: &mut Jsep) -> (Sdp, Sdp) {
    let offer = a.create_offer(OfferOptions::default()).expect("offer");
    a.set_local_description(offer.clone()).expect("SLD offer");
    b.set_remote_description(offer.clone()).expect("SRD offer");
    let answer = b.create_answer(AnswerOptions::default()).expect("answer");
    b.set_local_description(answer.clone()).expect("SLD answer");
    a.set_remote_description(answer.clone())
        .expect("SRD answer");
    (sdp(&offer), sdp(&answer))
}

fn mids(s: &Sdp) -> Vec<&str> {
    s.media.iter().filter_map(|m| m.mid()).collect()
}

#[test]
fn offers_use_setup_actpass_and_answers_setup_active() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    let (offer, answer) = exchange(&mut a, &mut b);
    assert_eq!(offer.media[0].setup(), Some(Setup::ActPass));
    assert_eq!(answer.media[0].setup(), Some(Setup::Active));
    assert_eq!(a.transport().unwrap().dtls_role, Role::Server);
    assert_eq!(b.transport().unwrap().dtls_role, Role::Client);
}

#[test]
fn answer_is_passive_when_the_offer_is_active() {
    let mut a = jsep("aaaa");
    a.request_data_channel();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let mut b = jsep("bbbb");
    b.set_remote_description(SessionDescription::offer(
        offer.sdp.replace("setup:actpass", "setup:active"),
    ))
    .unwrap();
    let answer = sdp(&b.create_answer(AnswerOptions::default()).unwrap());
    assert_eq!(answer.media[0].setup(), Some(Setup::Passive));
}

#[test]
fn answerer_can_prefer_the_passive_role() {
    let (mut a, mut b) = (
        jsep("aaaa"),
        Jsep::new(JsepConfig {
            answer_setup: Setup::Passive,
            ..config("bbbb")
        }),
    );
    a.request_data_channel();
    let (_, answer) = exchange(&mut a, &mut b);
    assert_eq!(answer.media[0].setup(), Some(Setup::Passive));
    assert_eq!(a.transport().unwrap().dtls_role, Role::Client);
}

#[test]
fn mids_are_assigned_in_transceiver_order_with_data_last() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let t0 = a.add_transceiver(audio(Direction::SendRecv));
    let t1 = a.add_transceiver(video(Direction::SendRecv));
    a.request_data_channel();
    let (offer, answer) = exchange(&mut a, &mut b);
    assert_eq!(mids(&offer), ["0", "1", "2"]);
    assert_eq!(mids(&answer), ["0", "1", "2"]);
    assert_eq!(a.transceiver(t0).unwrap().mid(), Some("0"));
    assert_eq!(a.transceiver(t1).unwrap().mid(), Some("1"));
    assert_eq!(a.data_mid(), Some("2"));
    assert_eq!(b.transceivers()[1].mid(), Some("1"));
}

#[test]
fn offers_bundle_every_section_and_rtcp_mux_every_rtp_section() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    a.add_transceiver(video(Direction::SendRecv));
    a.request_data_channel();
    let (offer, answer) = exchange(&mut a, &mut b);
    assert_eq!(offer.bundle_groups().next().unwrap().mids, ["0", "1", "2"]);
    assert_eq!(answer.bundle_groups().next().unwrap().mids, ["0", "1", "2"]);
    assert!(
        offer
            .media
            .iter()
            .filter(|m| m.is_rtp())
            .all(|m| m.rtcp_mux())
    );
    assert!(
        answer
            .media
            .iter()
            .filter(|m| m.is_rtp())
            .all(|m| m.rtcp_mux())
    );
    let t = a.transport().unwrap();
    assert_eq!(t.bundle, ["0", "1", "2"]);
    assert_eq!(t.transport_mid, "0");
}

fn bundle_only_flags(policy: BundlePolicy) -> Vec<bool> {
    let mut a = Jsep::new(JsepConfig {
        bundle_policy: policy,
        ..config("aaaa")
    });
    a.add_transceiver(audio(Direction::SendRecv));
    a.add_transceiver(audio(Direction::SendRecv));
    a.add_transceiver(video(Direction::SendRecv));
    a.request_data_channel();
    let offer = sdp(&a.create_offer(OfferOptions::default()).unwrap());
    for m in &offer.media {
        assert_eq!(
            m.bundle_only(),
            m.port == 0,
            "bundle-only sections have port 0"
        );
    }
    offer.media.iter().map(|m| m.bundle_only()).collect()
}

#[test]
fn balanced_policy_makes_later_sections_of_a_kind_bundle_only() {
    assert_eq!(
        bundle_only_flags(BundlePolicy::Balanced),
        [false, true, false, false]
    );
}

#[test]
fn max_bundle_policy_makes_all_but_the_first_section_bundle_only() {
    assert_eq!(
        bundle_only_flags(BundlePolicy::MaxBundle),
        [false, true, true, true]
    );
}

#[test]
fn max_compat_policy_makes_no_section_bundle_only() {
    assert_eq!(
        bundle_only_flags(BundlePolicy::MaxCompat),
        [false, false, false, false]
    );
}

#[test]
fn bundle_only_sections_are_accepted_in_the_answer() {
    let mut a = Jsep::new(JsepConfig {
        bundle_policy: BundlePolicy::MaxBundle,
        ..config("aaaa")
    });
    let mut b = jsep("bbbb");
    a.add_transceiver(audio(Direction::SendRecv));
    a.request_data_channel();
    let (_, answer) = exchange(&mut a, &mut b);
    assert!(answer.media.iter().all(|m| m.port == 9));
    assert_eq!(
        a.transport().unwrap().sctp.as_ref().map(|s| s.mid.as_str()),
        Some("1")
    );
}

#[test]
fn direction_is_the_intersection_with_the_reversed_offer() {
    let cases = [
        (
            Direction::SendRecv,
            Direction::SendRecv,
            Direction::SendRecv,
        ),
        (
            Direction::SendOnly,
            Direction::SendRecv,
            Direction::RecvOnly,
        ),
        (
            Direction::RecvOnly,
            Direction::SendRecv,
            Direction::SendOnly,
        ),
        (
            Direction::SendRecv,
            Direction::RecvOnly,
            Direction::RecvOnly,
        ),
        (
            Direction::SendOnly,
            Direction::SendOnly,
            Direction::Inactive,
        ),
        (
            Direction::Inactive,
            Direction::SendRecv,
            Direction::Inactive,
        ),
    ];
    for (offered, answerer_wants, answered) in cases {
        let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
        a.add_transceiver(audio(offered));
        let bt = b.add_transceiver(audio(answerer_wants));
        let (_, answer) = exchange(&mut a, &mut b);
        assert_eq!(
            answer.media[0].direction(),
            answered,
            "{offered} vs {answerer_wants}"
        );
        assert_eq!(
            b.transceiver(bt).unwrap().current_direction(),
            Some(answered)
        );
        assert_eq!(
            a.transceivers()[0].current_direction(),
            Some(answered.reverse())
        );
    }
}

#[test]
fn remote_offer_creates_recvonly_transceivers_for_unmatched_sections() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(video(Direction::SendOnly));
    exchange(&mut a, &mut b);
    let t = &b.transceivers()[0];
    assert_eq!(t.direction(), Direction::RecvOnly);
    assert_eq!(t.current_direction(), Some(Direction::RecvOnly));
}

#[test]
fn remote_offer_uses_an_unassociated_local_transceiver_of_the_same_kind() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    let mine = b.add_transceiver(audio(Direction::SendRecv));
    exchange(&mut a, &mut b);
    assert_eq!(b.transceivers().len(), 1);
    assert_eq!(b.transceiver(mine).unwrap().mid(), Some("0"));
    assert_eq!(
        b.transceiver(mine).unwrap().current_direction(),
        Some(Direction::SendRecv)
    );
}

#[test]
fn negotiated_codecs_and_extensions_are_the_answers() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut init = video(Direction::SendRecv);
    init.codecs = vec![
        Codec::new(120, "VP8", 90000, None),
        Codec::rtx(121, 120, 90000),
    ];
    init.header_extensions = vec![ferrtc_jsep::HeaderExtension::new(7, ferrtc_jsep::EXT_MID)];
    let at = a.add_transceiver(init);
    let (_, answer) = exchange(&mut a, &mut b);
    let pts: Vec<u8> = answer.media[0].payload_types().collect();
    assert_eq!(pts, [120, 121]);
    let ext: Vec<_> = answer.media[0]
        .extmaps()
        .map(|e| (e.id, e.uri.as_str()))
        .collect();
    assert_eq!(ext, [(7, ferrtc_jsep::EXT_MID)]);
    let na = a.transceiver(at).unwrap().negotiated().unwrap().clone();
    let nb = b.transceivers()[0].negotiated().unwrap().clone();
    assert_eq!(na.codecs, nb.codecs);
    assert_eq!(na.header_extensions, nb.header_extensions);
}

#[test]
fn section_without_a_common_codec_is_rejected_and_its_transceiver_stopped() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut init = video(Direction::SendRecv);
    init.codecs = vec![Codec::new(100, "H265", 90000, None)];
    let at = a.add_transceiver(init);
    a.request_data_channel();
    let (_, answer) = exchange(&mut a, &mut b);
    assert_eq!(answer.media[0].port, 0);
    assert!(answer.media[0].is_rejected());
    assert_eq!(answer.bundle_groups().next().unwrap().mids, ["1"]);
    assert!(a.transceiver(at).unwrap().is_stopped());
    assert_eq!(a.transport().unwrap().transport_mid, "1");
}

#[test]
fn unsupported_media_sections_are_rejected_with_their_mid() {
    let mut a = jsep("aaaa");
    a.request_data_channel();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let text = format!(
        "{}m=text 9 UDP/TLS/RTP/SAVPF 98\r\nc=IN IP4 0.0.0.0\r\na=mid:t\r\na=ice-ufrag:aaaa\r\n\
         a=ice-pwd:passwordpasswordpassword\r\na=fingerprint:sha-1 {}\r\n",
        offer.sdp,
        ["00"; 20].join(":")
    );
    let mut b = jsep("bbbb");
    b.set_remote_description(SessionDescription::offer(text))
        .unwrap();
    let answer = sdp(&b.create_answer(AnswerOptions::default()).unwrap());
    assert_eq!(answer.media[1].port, 0);
    assert_eq!(answer.media[1].mid(), Some("t"));
}

#[test]
fn renegotiation_keeps_mids_and_order_and_appends_new_sections() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    a.request_data_channel();
    let (first, _) = exchange(&mut a, &mut b);
    a.add_transceiver(video(Direction::SendRecv));
    let (second, answer) = exchange(&mut a, &mut b);
    assert_eq!(mids(&first), ["0", "1"]);
    assert_eq!(mids(&second), ["0", "1", "2"]);
    assert_eq!(mids(&answer), ["0", "1", "2"]);
    assert!(second.origin.session_version > first.origin.session_version);
    assert_eq!(second.origin.session_id, first.origin.session_id);
}

#[test]
fn the_answerer_can_renegotiate_and_keeps_the_offerers_layout() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    exchange(&mut a, &mut b);
    b.request_data_channel();
    let (offer, _) = exchange(&mut b, &mut a);
    assert_eq!(mids(&offer), ["0", "1"]);
    assert_eq!(a.data_mid(), Some("1"));
}

#[test]
fn stopped_transceiver_is_rejected_then_its_section_recycled() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let t0 = a.add_transceiver(audio(Direction::SendRecv));
    a.add_transceiver(video(Direction::SendRecv));
    exchange(&mut a, &mut b);
    a.stop_transceiver(t0).unwrap();
    let (offer, answer) = exchange(&mut a, &mut b);
    assert_eq!(offer.media[0].port, 0);
    assert_eq!(answer.media[0].port, 0);
    assert_eq!(offer.bundle_groups().next().unwrap().mids, ["1"]);
    assert!(b.transceivers()[0].is_stopped());
    let t2: TransceiverId = a.add_transceiver(video(Direction::SendRecv));
    let (offer, _) = exchange(&mut a, &mut b);
    assert_eq!(offer.media.len(), 2, "section 0 was recycled");
    assert_eq!(offer.media[0].kind, MediaKind::Video);
    assert_eq!(
        a.transceiver(t2).unwrap().mid(),
        Some("2"),
        "a recycled section gets a new mid"
    );
    assert_eq!(mids(&offer), ["2", "1"]);
}

#[test]
fn unchanged_reoffer_keeps_the_session_version() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    let (first, _) = exchange(&mut a, &mut b);
    let again = sdp(&a.create_offer(OfferOptions::default()).unwrap());
    assert_eq!(again.origin.session_version, first.origin.session_version);
}

#[test]
fn ice_restart_needs_new_credentials() {
    let mut a = jsep("aaaa");
    a.request_data_channel();
    let same = OfferOptions {
        ice_restart: Some(IceCredentials::new("aaaa", "passwordpasswordpassword")),
    };
    assert_eq!(
        a.create_offer(same),
        Err(JsepError::IceRestartNeedsCredentials)
    );
}

#[test]
fn ice_restart_offer_carries_new_credentials_and_the_answerer_sees_a_restart() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    exchange(&mut a, &mut b);
    let restart = OfferOptions {
        ice_restart: Some(IceCredentials::new("a2a2", "newpasswordnewpassword")),
    };
    let offer = a.create_offer(restart).unwrap();
    assert_eq!(sdp(&offer).media[0].ice_ufrag(), Some("a2a2"));
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    assert!(b.remote_ice_restart());
    assert_eq!(
        b.create_answer(AnswerOptions::default()),
        Err(JsepError::IceRestartNeedsCredentials)
    );
    let opts = AnswerOptions {
        ice_credentials: Some(IceCredentials::new("b2b2", "newpasswordnewpassword")),
    };
    let answer = b.create_answer(opts).unwrap();
    b.set_local_description(answer.clone()).unwrap();
    a.set_remote_description(answer).unwrap();
    assert_eq!(a.transport().unwrap().remote_ice.ufrag, "b2b2");
    assert_eq!(a.transport().unwrap().local_ice.ufrag, "a2a2");
    assert_eq!(b.transport().unwrap().remote_ice.ufrag, "a2a2");
    assert!(!b.remote_ice_restart());
}

#[test]
fn rolled_back_ice_restart_keeps_the_old_credentials() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    exchange(&mut a, &mut b);
    let restart = OfferOptions {
        ice_restart: Some(IceCredentials::new("a2a2", "newpasswordnewpassword")),
    };
    let offer = a.create_offer(restart).unwrap();
    a.set_local_description(offer).unwrap();
    a.set_local_description(SessionDescription::rollback())
        .unwrap();
    let offer = sdp(&a.create_offer(OfferOptions::default()).unwrap());
    assert_eq!(offer.media[0].ice_ufrag(), Some("aaaa"));
}

#[test]
fn simulcast_send_rids_are_answered_as_receive_rids() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut init = video(Direction::SendOnly);
    init.send_encodings = ["q", "h", "f"]
        .map(|r| SendEncoding { rid: r.into() })
        .to_vec();
    let at = a.add_transceiver(init);
    let (offer, answer) = exchange(&mut a, &mut b);
    let dirs = |s: &Sdp| -> Vec<_> {
        s.media[0]
            .rids()
            .map(|r| (r.id.clone(), r.direction))
            .collect()
    };
    use ferrtc_sdp::RidDirection::{Recv, Send};
    assert_eq!(
        dirs(&offer),
        [("q".into(), Send), ("h".into(), Send), ("f".into(), Send)]
    );
    assert_eq!(
        dirs(&answer),
        [("q".into(), Recv), ("h".into(), Recv), ("f".into(), Recv)]
    );
    assert!(answer.media[0].simulcast().unwrap().streams(Recv).is_some());
    assert_eq!(
        a.transceiver(at).unwrap().negotiated().unwrap().send_rids,
        ["q", "h", "f"]
    );
    assert_eq!(
        b.transceivers()[0].negotiated().unwrap().recv_rids,
        ["q", "h", "f"]
    );
}

#[test]
fn an_answer_without_simulcast_leaves_the_offerer_one_unlayered_stream() {
    // RFC 8853 §5.3: rids the answer does not list are not negotiated; a
    // browser answers a simulcast offer this way (RFC 8829 §3.7).
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut init = video(Direction::SendOnly);
    init.send_encodings = ["q", "h", "f"]
        .map(|r| SendEncoding { rid: r.into() })
        .to_vec();
    let at = a.add_transceiver(init);
    let offer = a.create_offer(OfferOptions::default()).expect("offer");
    a.set_local_description(offer.clone()).expect("SLD offer");
    b.set_remote_description(offer).expect("SRD offer");
    let mut answer = b.create_answer(AnswerOptions::default()).expect("answer");
    b.set_local_description(answer.clone()).expect("SLD answer");
    answer.sdp = answer
        .sdp
        .split_inclusive("\r\n")
        .filter(|line| !line.starts_with("a=rid:") && !line.starts_with("a=simulcast:"))
        .collect();
    a.set_remote_description(answer).expect("SRD answer");
    let negotiated = a.transceiver(at).unwrap().negotiated().unwrap();
    assert!(
        negotiated.send_rids.is_empty(),
        "{:?}",
        negotiated.send_rids
    );
}

/// RFC 8853 §5.3, RFC 8851 §5: the answerer may remove offered rids, not
/// add any: the layers agreed are the answer's rids that the offer had. A
/// rid the offer never listed (here `z` in place of `f`) is not a layer
/// the offerer has an encoding for, and is not negotiated.
#[test]
fn rids_an_answer_adds_to_the_offered_ones_are_not_negotiated() {
    let (mut a, answer) = offer_and_answer(|a, _| {
        let mut init = video(Direction::SendOnly);
        init.send_encodings = ["q", "h", "f"]
            .map(|r| SendEncoding { rid: r.into() })
            .to_vec();
        a.add_transceiver(init);
    });
    let tampered = answer
        .replace("a=rid:f recv\r\n", "a=rid:z recv\r\n")
        .replace("a=simulcast:recv q;h;f\r\n", "a=simulcast:recv q;h;z\r\n");
    assert!(tampered.contains("a=rid:z recv") && tampered.contains("recv q;h;z"));
    a.set_remote_description(SessionDescription::answer(tampered))
        .unwrap();
    let negotiated = a.transceivers()[0].negotiated().unwrap();
    assert_eq!(negotiated.send_rids, ["q", "h"]);
    assert!(negotiated.recv_rids.is_empty());
}

#[test]
fn data_section_negotiates_sctp_port_and_max_message_size() {
    let (mut a, mut b) = (
        jsep("aaaa"),
        Jsep::new(JsepConfig {
            max_message_size: 65536,
            ..config("bbbb")
        }),
    );
    a.request_data_channel();
    let (offer, answer) = exchange(&mut a, &mut b);
    assert_eq!(offer.media[0].sctp_port(), Some(5000));
    assert_eq!(answer.media[0].max_message_size(), Some(65536));
    let sctp = a.transport().unwrap().sctp.clone().unwrap();
    assert_eq!(
        (sctp.remote_port, sctp.remote_max_message_size),
        (5000, 65536)
    );
    assert_eq!(
        b.transport()
            .unwrap()
            .sctp
            .as_ref()
            .unwrap()
            .remote_max_message_size,
        262_144
    );
}

#[test]
fn absent_max_message_size_means_64_kib() {
    let mut a = jsep("aaaa");
    a.request_data_channel();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let mut b = jsep("bbbb");
    b.set_remote_description(SessionDescription::offer(
        offer.sdp.replace("a=max-message-size:262144\r\n", ""),
    ))
    .unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    b.set_local_description(answer).unwrap();
    assert_eq!(
        b.transport()
            .unwrap()
            .sctp
            .as_ref()
            .unwrap()
            .remote_max_message_size,
        65536
    );
}

#[test]
fn data_sections_are_rejected_when_data_channels_are_refused() {
    let (mut a, mut b) = (
        jsep("aaaa"),
        Jsep::new(JsepConfig {
            accept_data_channels: false,
            ..config("bbbb")
        }),
    );
    a.request_data_channel();
    a.add_transceiver(audio(Direction::SendRecv));
    let (_, answer) = exchange(&mut a, &mut b);
    assert_eq!(answer.media[1].port, 0);
    assert!(a.transport().unwrap().sctp.is_none());
}

#[test]
fn sender_track_is_announced_with_msid_and_ssrc() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut init = video(Direction::SendRecv);
    init.stream_ids = vec!["stream".into()];
    init.track_id = Some("track".into());
    init.ssrc = Some(1111);
    init.rtx_ssrc = Some(2222);
    a.add_transceiver(init);
    let (offer, _) = exchange(&mut a, &mut b);
    let m = &offer.media[0];
    assert_eq!(
        m.msids()
            .next()
            .map(|x| (x.stream_id.as_str(), x.track_id.as_deref())),
        Some(("stream", Some("track")))
    );
    assert_eq!(m.ssrc_groups().next().unwrap().ssrcs, [1111, 2222]);
    let n = b.transceivers()[0].negotiated().unwrap();
    assert_eq!(n.remote_msid, Some(("stream".into(), Some("track".into()))));
    assert_eq!(n.remote_ssrcs, [1111, 2222]);
}

#[test]
fn answer_with_a_payload_type_that_was_not_offered_is_refused() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let bad = answer
        .sdp
        .replacen("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 111 77", 1);
    assert!(matches!(
        a.set_remote_description(SessionDescription::answer(bad)),
        Err(JsepError::AnswerMismatch(_))
    ));
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
}

/// `a` offers what `setup` adds, `b` answers; returns `a` (in
/// `have-local-offer`) and the text of `b`'s answer, to be tampered with.
fn offer_and_answer(setup: impl FnOnce(&mut Jsep, &mut Jsep)) -> (Jsep, String) {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    setup(&mut a, &mut b);
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    (a, answer.sdp)
}

/// RFC 9143 §7.3.1 lets an answer put a bundled m-section on port 0 with
/// `a=bundle-only`: the section is accepted, not rejected, so it is held to
/// the same rules as any accepted section (RFC 8829 §5.10, RFC 3264 §6.1):
/// it may not carry a payload type the offer did not have.
#[test]
fn a_bundle_only_answer_section_with_a_payload_type_that_was_not_offered_is_refused() {
    let (mut a, answer) = offer_and_answer(|a, _| {
        a.add_transceiver(audio(Direction::SendRecv));
        a.add_transceiver(video(Direction::SendRecv));
    });
    let video = answer.find("m=video 9 UDP/TLS/RTP/SAVPF ").unwrap();
    let mut bad = answer.clone();
    bad.replace_range(
        video..video + "m=video 9 UDP/TLS/RTP/SAVPF ".len(),
        "m=video 0 UDP/TLS/RTP/SAVPF 77 ",
    );
    let bad = bad.replacen(
        "a=mid:1\r\n",
        "a=mid:1\r\na=bundle-only\r\na=rtpmap:77 H265/90000\r\n",
        1,
    );
    assert!(bad.parse::<Sdp>().unwrap().media[1].bundle_only());
    let err = a.set_remote_description(SessionDescription::answer(bad));
    assert!(matches!(err, Err(JsepError::AnswerMismatch(_))), "{err:?}");
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    a.set_remote_description(SessionDescription::answer(answer))
        .unwrap();
}

/// RFC 3264 §6.1: the answer uses the offer's payload type numbers for the
/// offered codecs; an answer that maps an offered number to another codec
/// (here Opus's 111 to a codec the offer never had) accepts a codec that
/// was not offered, and is refused (RFC 8829 §5.10).
#[test]
fn an_answer_mapping_an_offered_payload_type_to_another_codec_is_refused() {
    let (mut a, answer) = offer_and_answer(|a, _| {
        a.add_transceiver(audio(Direction::SendRecv));
    });
    let bad = answer.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 ISAC/16000");
    assert_ne!(bad, answer);
    let err = a.set_remote_description(SessionDescription::answer(bad));
    assert!(matches!(err, Err(JsepError::AnswerMismatch(_))), "{err:?}");
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    a.set_remote_description(SessionDescription::answer(answer))
        .unwrap();
    let codecs = &a.transceivers()[0].negotiated().unwrap().codecs;
    assert!(codecs.iter().all(|c| !c.name.eq_ignore_ascii_case("ISAC")));
}

/// RFC 3264 §6.1: a stream offered `sendonly` is answered `recvonly` or
/// `inactive`, one offered `recvonly` is answered `sendonly` or `inactive`,
/// one offered `inactive` is answered `inactive`. An answer that would have
/// the offerer receive (or send) what it did not offer is refused (RFC 8829
/// §5.10), rather than setting a `currentDirection` the offerer never asked for.
#[test]
fn an_answer_direction_wider_than_the_offer_allows_is_refused() {
    let cases = [
        (Direction::SendOnly, "a=recvonly", "a=sendrecv"),
        (Direction::SendOnly, "a=recvonly", "a=sendonly"),
        (Direction::RecvOnly, "a=sendonly", "a=sendrecv"),
        (Direction::Inactive, "a=inactive", "a=recvonly"),
    ];
    for (offered, answered, tampered) in cases {
        let (mut a, answer) = offer_and_answer(|a, b| {
            a.add_transceiver(audio(offered));
            b.add_transceiver(audio(Direction::SendRecv));
        });
        let bad = answer.replace(&format!("{answered}\r\n"), &format!("{tampered}\r\n"));
        assert_ne!(bad, answer, "{offered}");
        let err = a.set_remote_description(SessionDescription::answer(bad));
        assert!(
            matches!(err, Err(JsepError::AnswerMismatch(_))),
            "{offered} answered {tampered}: {err:?}"
        );
        assert_eq!(a.transceivers()[0].current_direction(), None);
        a.set_remote_description(SessionDescription::answer(answer))
            .unwrap();
        assert_eq!(
            a.transceivers()[0].current_direction(),
            Some(Direction::parse(&answered[2..]).unwrap().reverse())
        );
    }
}

#[test]
fn answer_with_setup_actpass_is_refused() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let bad = answer.sdp.replace("setup:active", "setup:actpass");
    assert!(matches!(
        a.set_remote_description(SessionDescription::answer(bad)),
        Err(JsepError::AnswerMismatch(_))
    ));
}

#[test]
fn answer_with_fewer_sections_is_refused() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    a.request_data_channel();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let cut = answer.sdp.split("m=application").next().unwrap().to_owned();
    assert!(matches!(
        a.set_remote_description(SessionDescription::answer(cut)),
        Err(JsepError::AnswerMismatch(_))
    ));
}

fn offer_text() -> String {
    let mut a = jsep("aaaa");
    a.request_data_channel();
    a.create_offer(OfferOptions::default()).unwrap().sdp
}

#[test]
fn remote_offer_without_mid_is_refused() {
    let mut b = jsep("bbbb");
    let err = b.set_remote_description(SessionDescription::offer(
        offer_text().replace("a=mid:0\r\n", ""),
    ));
    assert!(matches!(err, Err(JsepError::Invalid(_))), "{err:?}");
    assert_eq!(b.signaling_state(), SignalingState::Stable);
}

#[test]
fn remote_offer_without_ice_credentials_is_refused() {
    let mut b = jsep("bbbb");
    let err = b.set_remote_description(SessionDescription::offer(
        offer_text().replace("a=ice-ufrag:aaaa\r\n", ""),
    ));
    assert!(matches!(err, Err(JsepError::Invalid(_))), "{err:?}");
}

#[test]
fn remote_offer_without_fingerprint_is_refused() {
    let text: String = offer_text()
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("a=fingerprint"))
        .collect();
    let mut b = jsep("bbbb");
    assert!(matches!(
        b.set_remote_description(SessionDescription::offer(text)),
        Err(JsepError::Invalid(_))
    ));
}

#[test]
fn remote_offer_that_is_not_sdp_is_a_syntax_error() {
    let mut b = jsep("bbbb");
    let err = b
        .set_remote_description(SessionDescription::offer("hello"))
        .unwrap_err();
    assert!(matches!(err, JsepError::Sdp(_)), "{err}");
    assert_eq!(b.signaling_state(), SignalingState::Stable);
}

#[test]
fn answer_without_ice_credentials_is_refused_and_changes_nothing() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let bad = answer.sdp.replace("a=ice-ufrag:bbbb\r\n", "");
    assert!(matches!(
        a.set_remote_description(SessionDescription::answer(bad)),
        Err(JsepError::Invalid(_))
    ));
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    assert!(a.transport().is_none());
    a.set_remote_description(answer).unwrap();
    assert_eq!(a.signaling_state(), SignalingState::Stable);
}

#[test]
fn answer_bundling_a_mid_the_offer_did_not_bundle_is_refused() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let widened = answer
        .sdp
        .replace("a=group:BUNDLE 0\r\n", "a=group:BUNDLE 0 7\r\n");
    assert_ne!(widened, answer.sdp);
    assert!(matches!(
        a.set_remote_description(SessionDescription::answer(widened)),
        Err(JsepError::AnswerMismatch(_))
    ));
}

/// RFC 8827 §5.6.4.1: with an identity set, offers and answers carry it as
/// a session-level `a=identity`; without, none.
#[test]
fn identity_is_written_at_session_level_in_offers_and_answers() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.request_data_channel();
    a.set_identity(Some("eyJhIjoxfQ==".into()));
    b.set_identity(Some("eyJiIjoyfQ==".into()));
    let (offer, answer) = exchange(&mut a, &mut b);
    assert_eq!(offer.identity(), Some("eyJhIjoxfQ=="));
    assert_eq!(answer.identity(), Some("eyJiIjoyfQ=="));
    assert!(
        offer
            .media
            .iter()
            .all(|m| m.attributes.iter().all(|x| x.name() != "identity"))
    );
    a.set_identity(None);
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    assert_eq!(sdp(&offer).identity(), None);
}

#[test]
fn codec_preferences_shape_the_offer_and_an_empty_list_restores_the_defaults() {
    let mut a = jsep("aaaa");
    let id = a.add_transceiver(video(Direction::SendRecv));
    let h264: Vec<Codec> = ferrtc_jsep::default_video_codecs()
        .into_iter()
        .filter(|c| c.payload_type == 102 || c.apt() == Some(102))
        .collect();
    a.set_codec_preferences(id, h264).unwrap();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let pts: Vec<u8> = sdp(&offer).media[0].payload_types().collect();
    assert_eq!(pts, vec![102, 103]);
    a.set_codec_preferences(id, Vec::new()).unwrap();
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    assert!(sdp(&offer).media[0].payload_types().count() > 2);
}

/// RFC 8829 §4.2.6: codec preferences "determine the order of codecs in
/// subsequent calls to createOffer and createAnswer": an answerer that
/// set them lists the codecs it shares with the offer in its preference
/// order, not the offer's (W3C webrtc-pc §5.4: preferences "C, B, A" with
/// "A, B" offered answer "B, A"; WPT "setCodecPreferences() filters on
/// receiver and prefers receiver order"), each RTX after its codec.
#[test]
fn an_answer_lists_the_shared_codecs_in_the_answerers_preference_order() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(video(Direction::SendRecv));
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    b.set_remote_description(offer).unwrap();
    let id = b.transceivers()[0].id();
    let caps = ferrtc_jsep::default_video_codecs();
    let pick = |pt: u8| caps.iter().find(|c| c.payload_type == pt).unwrap().clone();
    // AV1, VP9, VP8 with their RTX, in that order; H.264 left out.
    let prefs = vec![pick(45), pick(98), pick(96), pick(46), pick(99), pick(97)];
    b.set_codec_preferences(id, prefs).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let pts: Vec<u8> = sdp(&answer).media[0].payload_types().collect();
    assert_eq!(pts, vec![45, 46, 98, 99, 96, 97]);
    // Without preferences the answer keeps the offer's order.
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(video(Direction::SendRecv));
    let (offer, answer) = exchange(&mut a, &mut b);
    let offered: Vec<u8> = offer.media[0].payload_types().collect();
    let answered: Vec<u8> = answer.media[0].payload_types().collect();
    assert_eq!(offered, answered);
}

/// The `telephone-event` rtpmaps of an audio section, as (pt, clock rate),
/// in `m=` line order, and whether any has an `a=fmtp`.
fn telephone_events(m: &ferrtc_sdp::MediaDescription) -> (Vec<(u8, u32)>, bool) {
    let events: Vec<_> = m
        .payload_types()
        .filter_map(|pt| m.rtpmap(pt).map(|r| (pt, r)))
        .filter(|(_, r)| r.encoding.eq_ignore_ascii_case("telephone-event"))
        .map(|(pt, r)| (pt, r.clock_rate))
        .collect();
    let fmtp = events.iter().any(|(pt, _)| m.fmtp(*pt).is_some());
    (events, fmtp)
}

#[test]
fn audio_offers_and_answers_carry_telephone_event_as_chromium_does() {
    let chromium: Sdp = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/sdp/chromium-156/audio-offer.sdp"
    ))
    .parse()
    .expect("fixture parses");
    let want = telephone_events(&chromium.media[0]);
    assert_eq!(want, (vec![(110, 48000), (126, 8000)], false));

    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    let (offer, answer) = exchange(&mut a, &mut b);
    assert_eq!(telephone_events(&offer.media[0]), want, "offer");
    assert_eq!(telephone_events(&answer.media[0]), want, "answer");
    // They come after the audio codecs, as in Chromium's m= line.
    let pts: Vec<u8> = offer.media[0].payload_types().collect();
    assert_eq!(&pts[pts.len() - 2..], &[110, 126], "{pts:?}");
    let codecs = a.transceivers()[0]
        .negotiated()
        .expect("negotiated")
        .codecs
        .clone();
    assert!(
        codecs
            .iter()
            .any(|c| c.is_telephone_event() && c.clock_rate == 48000)
    );
}

#[test]
fn a_remote_offer_with_telephone_event_keeps_it_with_the_offered_payload_types() {
    let offer = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/sdp/chromium-156/audio-offer.sdp"
    ))
    .replace("110", "101")
    .replace("126", "127");
    let mut b = jsep("bbbb");
    b.set_remote_description(SessionDescription::offer(&offer))
        .expect("SRD");
    let answer = b.create_answer(AnswerOptions::default()).expect("answer");
    let (events, fmtp) = telephone_events(&sdp(&answer).media[0]);
    assert_eq!(events, vec![(101, 48000), (127, 8000)]);
    assert!(!fmtp);
    // An offer without it gets an answer without it.
    let plain = offer
        .lines()
        .filter(|l| !l.contains("telephone-event"))
        .map(|l| l.replace(" 101 127", ""))
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n";
    let mut c = jsep("cccc");
    c.set_remote_description(SessionDescription::offer(&plain))
        .expect("SRD");
    let answer = c.create_answer(AnswerOptions::default()).expect("answer");
    assert_eq!(telephone_events(&sdp(&answer).media[0]).0, vec![]);
}

/// RFC 8866 §6.7 (and RFC 3264): a direction attribute at session level
/// applies to every media section without its own. An answer that says
/// `a=recvonly` once at session level to a sendonly offer is valid, and
/// gives the offerer a currentDirection of sendonly.
#[test]
fn an_answer_direction_given_at_session_level_is_read_for_the_check() {
    let (mut a, answer) = offer_and_answer(|a, b| {
        a.add_transceiver(audio(Direction::SendOnly));
        b.add_transceiver(audio(Direction::SendRecv));
    });
    let moved =
        answer
            .replace("a=recvonly\r\n", "")
            .replacen("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n", 1);
    assert_ne!(moved, answer);
    a.set_remote_description(SessionDescription::answer(moved))
        .unwrap();
    assert_eq!(
        a.transceivers()[0].current_direction(),
        Some(Direction::SendOnly)
    );
}

/// RFC 8866 §6.7: a remote *offer* giving its
/// direction at session level is intersected for the answer, and the
/// answerer sees no negotiation needed afterwards.
#[test]
fn an_offer_direction_given_at_session_level_shapes_the_answer() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendOnly));
    b.add_transceiver(audio(Direction::SendRecv));
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    a.set_local_description(offer.clone()).unwrap();
    let moved =
        offer
            .sdp
            .replace("a=sendonly\r\n", "")
            .replacen("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n", 1);
    assert_ne!(moved, offer.sdp);
    b.set_remote_description(SessionDescription::offer(moved))
        .unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    assert_eq!(sdp(&answer).media[0].direction(), Direction::RecvOnly);
    b.set_local_description(answer.clone()).unwrap();
    assert!(!b.is_negotiation_needed());
    assert_eq!(
        b.transceivers()[0].current_direction(),
        Some(Direction::RecvOnly)
    );
    a.set_remote_description(answer).unwrap();
    assert_eq!(
        a.transceivers()[0].current_direction(),
        Some(Direction::SendOnly)
    );
}

/// RFC 8829 §4.2.6: a Chromium offer (RED, ulpfec, RTX for each, CN,
/// telephone events) answered by preferences in another order: each RTX
/// stays right after the codec its apt names, the order follows the
/// preferences, and the answer to the same offer again (a subsequent
/// offer, RFC 8829 §5.3.2) is the same.
#[test]
fn a_preference_ordered_answer_to_chromium_keeps_rtx_pairs_and_holds_on_reoffer() {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/sdp/chromium-156/av-dc-offer.sdp"
    ));
    let mut b = jsep("bbbb");
    b.set_remote_description(SessionDescription::offer(text))
        .expect("SRD");
    let ts: Vec<_> = b.transceivers().iter().map(|t| t.id()).collect();
    let audio_caps = ferrtc_jsep::default_audio_codecs();
    let video_caps = ferrtc_jsep::default_video_codecs();
    let by = |caps: &[Codec], name: &str, rate: u32| {
        caps.iter()
            .find(|c| c.name.eq_ignore_ascii_case(name) && c.clock_rate == rate)
            .unwrap()
            .clone()
    };
    let audio_prefs = vec![
        by(&audio_caps, "telephone-event", 8000),
        by(&audio_caps, "PCMU", 8000),
        by(&audio_caps, "opus", 48000),
        by(&audio_caps, "telephone-event", 48000),
    ];
    let vp9 = by(&video_caps, "VP9", 90000);
    let av1 = by(&video_caps, "AV1", 90000);
    let vp8 = by(&video_caps, "VP8", 90000);
    let rtx_of = |c: &Codec| {
        video_caps
            .iter()
            .find(|r| r.is_rtx() && r.apt() == Some(c.payload_type))
            .unwrap()
            .clone()
    };
    let video_prefs = vec![
        rtx_of(&vp8),
        vp9.clone(),
        av1.clone(),
        rtx_of(&vp9),
        vp8.clone(),
        rtx_of(&av1),
    ];
    b.set_codec_preferences(ts[0], audio_prefs).unwrap();
    b.set_codec_preferences(ts[1], video_prefs).unwrap();
    let check = |answer: &Sdp| {
        let a = &answer.media[0];
        let names: Vec<String> = a
            .payload_types()
            .map(|pt| a.rtpmap(pt).unwrap().encoding.to_ascii_lowercase())
            .collect();
        assert_eq!(
            names,
            ["telephone-event", "pcmu", "opus", "telephone-event"]
        );
        let v = &answer.media[1];
        let codecs = Codec::from_section(v);
        let mut prev: Option<u8> = None;
        for c in &codecs {
            if c.is_rtx() {
                assert_eq!(c.apt(), prev, "{codecs:?}");
            } else {
                prev = Some(c.payload_type);
            }
        }
        let media: Vec<String> = codecs
            .iter()
            .filter(|c| !c.is_rtx())
            .map(|c| c.name.to_ascii_lowercase())
            .collect();
        assert_eq!(media, ["vp9", "av1", "vp8"], "{codecs:?}");
        assert_eq!(codecs.len(), 6, "{codecs:?}");
    };
    let answer = b.create_answer(AnswerOptions::default()).expect("answer");
    check(&sdp(&answer));
    b.set_local_description(answer).expect("SLD");
    let again = text.replacen(" 2 IN IP4", " 3 IN IP4", 1);
    assert_ne!(again, text, "o= version bumped");
    b.set_remote_description(SessionDescription::offer(&again))
        .expect("SRD again");
    let answer = b
        .create_answer(AnswerOptions::default())
        .expect("answer again");
    check(&sdp(&answer));
}
/// W3C webrtc-pc §5.1 "simulcast envelope": established in the first
/// negotiation that involves the transceiver *sending* simulcast. An
/// exchange in which it does not send (created recvonly) offers no send
/// rids, so its answer has none to agree to: that refuses nothing, and
/// must not cut the send encodings. Once the direction sends, the offer
/// still offers the three layers.
#[test]
fn an_exchange_in_which_the_transceiver_does_not_send_keeps_its_send_encodings() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut init = video(Direction::RecvOnly);
    init.send_encodings = ["q", "h", "f"]
        .map(|r| SendEncoding { rid: r.into() })
        .to_vec();
    let at = a.add_transceiver(init);
    let (offer, _) = exchange(&mut a, &mut b);
    assert_eq!(
        offer.media[0].rids().count(),
        0,
        "recvonly: no send rids offered"
    );
    assert_eq!(
        a.transceiver(at).unwrap().init().send_encodings.len(),
        3,
        "a recvonly exchange cut the simulcast envelope"
    );
    a.set_direction(at, Direction::SendRecv).unwrap();
    let (offer, _) = exchange(&mut a, &mut b);
    assert_eq!(
        offer.media[0]
            .rids()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        ["q", "h", "f"],
        "the sendrecv offer lost its simulcast layers"
    );
}

/// The same on hold: a simulcast call put on hold (recvonly) and resumed
/// must offer its agreed layers again; the hold exchange refused nothing.
#[test]
fn holding_and_resuming_a_simulcast_sender_keeps_its_layers() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut init = video(Direction::SendRecv);
    init.send_encodings = ["q", "h", "f"]
        .map(|r| SendEncoding { rid: r.into() })
        .to_vec();
    let at = a.add_transceiver(init);
    exchange(&mut a, &mut b);
    assert_eq!(
        a.transceiver(at).unwrap().negotiated().unwrap().send_rids,
        ["q", "h", "f"]
    );
    a.set_direction(at, Direction::RecvOnly).unwrap();
    exchange(&mut a, &mut b);
    a.set_direction(at, Direction::SendRecv).unwrap();
    let (offer, _) = exchange(&mut a, &mut b);
    assert_eq!(
        offer.media[0]
            .rids()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        ["q", "h", "f"],
        "resuming from hold lost the simulcast layers"
    );
}

/// A number used in one section and what it means there: (section index,
/// number, meaning).
type Mapping<N> = (usize, N, String);

/// Every payload type and extension id of `s`'s sections in use, with what
/// it means there.
fn bundle_mappings(s: &Sdp) -> (Vec<Mapping<u8>>, Vec<Mapping<u16>>) {
    let mut pts = Vec::new();
    let mut ids = Vec::new();
    for (i, m) in s.media.iter().enumerate().filter(|(_, m)| !m.is_rejected()) {
        for c in Codec::from_section(m) {
            let meaning = format!(
                "{}/{}/{:?}",
                c.name.to_ascii_lowercase(),
                c.clock_rate,
                c.channels.unwrap_or(1)
            );
            pts.push((i, c.payload_type, meaning));
        }
        for e in m.extmaps() {
            ids.push((i, e.id, e.uri.clone()));
        }
    }
    (pts, ids)
}

/// RFC 8843 §9.1 and §9.1.1: the sections of one BUNDLE group are one RTP
/// session, so a payload type means one codec in every section, and an
/// extension id one extension. After
/// answering aiortc's offer (opus on 96, VP8 on 97, `sdes:mid` on id 1),
/// a section this side adds in its re-offer takes the numbers already in
/// use for its codecs and extensions, and free numbers for the rest,
/// instead of its defaults (VP8 on 96, `sdes:mid` on id 4).
#[test]
fn a_reoffer_adding_a_section_to_the_bundle_does_not_reuse_its_numbers_for_other_codecs() {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/sdp/aiortc-1.16/av-dc-offer.sdp"
    ));
    let mut b = jsep("bbbb");
    b.set_remote_description(SessionDescription::offer(text))
        .expect("SRD");
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    b.set_local_description(answer).expect("SLD answer");
    b.add_transceiver(video(Direction::SendRecv));
    b.add_transceiver(audio(Direction::SendRecv));
    let offer = sdp(&b.create_offer(OfferOptions::default()).unwrap());
    assert_eq!(offer.media.len(), 5);
    let (pts, ids) = bundle_mappings(&offer);
    for (i, pt, what) in &pts {
        for (j, other_pt, other) in &pts {
            assert!(
                pt != other_pt || what == other,
                "payload type {pt} is {what} in section {i} and {other} in section {j}"
            );
        }
    }
    for (i, id, uri) in &ids {
        for (j, other_id, other) in &ids {
            assert!(
                id != other_id || uri == other,
                "extension id {id} is {uri} in section {i} and {other} in section {j}"
            );
            assert!(
                uri != other || id == other_id,
                "{uri} has id {id} in section {i} and {other_id} in section {j}"
            );
        }
    }
    // The new sections still offer their codecs, VP8 on aiortc's number.
    let vp8 = Codec::from_section(&offer.media[3])
        .into_iter()
        .find(|c| c.name == "VP8")
        .expect("VP8 offered");
    assert_eq!(vp8.payload_type, 97);
    let rtx = Codec::from_section(&offer.media[3])
        .into_iter()
        .find(|c| c.apt() == Some(97))
        .expect("VP8's RTX offered");
    assert_eq!(rtx.payload_type, 98);
}

/// The text of an offer of one audio and one video section, bundled.
fn audio_video_offer_text() -> String {
    let mut a = jsep("aaaa");
    a.add_transceiver(audio(Direction::SendRecv));
    a.add_transceiver(video(Direction::SendRecv));
    a.create_offer(OfferOptions::default()).unwrap().sdp
}

/// RFC 8843 §9.1.1: the sections of a BUNDLE group are one RTP session, so
/// a payload type the group's sections share must mean the same codec
/// configuration in each. An offer putting Opus on 96 in its audio section
/// while its video section has VP8 on 96 is refused, and the error names
/// the payload type and both sections.
#[test]
fn a_remote_offer_mapping_one_payload_type_to_two_codecs_in_a_bundle_is_refused() {
    let text = audio_video_offer_text();
    assert!(text.contains("a=group:BUNDLE 0 1\r\n"));
    assert!(text.contains("a=rtpmap:96 VP8/90000\r\n"));
    let bad = text
        .replacen("UDP/TLS/RTP/SAVPF 111 ", "UDP/TLS/RTP/SAVPF 96 ", 1)
        .replace("a=rtpmap:111 ", "a=rtpmap:96 ")
        .replace("a=fmtp:111 ", "a=fmtp:96 ")
        .replace("a=rtcp-fb:111 ", "a=rtcp-fb:96 ");
    assert!(bad.contains("a=rtpmap:96 opus/48000/2\r\n"));
    let mut b = jsep("bbbb");
    let err = b
        .set_remote_description(SessionDescription::offer(bad))
        .unwrap_err();
    let JsepError::Invalid(why) = &err else {
        panic!("{err:?}");
    };
    assert!(why.contains("payload type 96"), "{why}");
    assert!(why.contains("mid 0") && why.contains("mid 1"), "{why}");
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    b.set_remote_description(SessionDescription::offer(text))
        .unwrap();
}

/// RFC 8843 §9.1.1 holds for answers too: two bundled video sections
/// answered with VP9 on the same payload type but different `profile-id`s
/// give one number two configurations, and the answer is refused.
#[test]
fn a_remote_answer_giving_a_bundled_payload_type_two_configurations_is_refused() {
    let (mut a, answer) = offer_and_answer(|a, _| {
        a.add_transceiver(video(Direction::SendRecv));
        a.add_transceiver(video(Direction::SendRecv));
    });
    let second = answer.find("a=mid:1\r\n").unwrap();
    let (head, tail) = answer.split_at(second);
    let bad = format!(
        "{head}{}",
        tail.replacen("a=fmtp:98 profile-id=0", "a=fmtp:98 profile-id=2", 1)
    );
    assert_ne!(bad, answer);
    let err = a
        .set_remote_description(SessionDescription::answer(bad))
        .unwrap_err();
    let JsepError::Invalid(why) = &err else {
        panic!("{err:?}");
    };
    assert!(why.contains("payload type 98"), "{why}");
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    a.set_remote_description(SessionDescription::answer(answer))
        .unwrap();
}

/// RFC 8829 §5.2.2: a subsequent offer includes every format the
/// transceiver can use, not only those the last answer agreed: the agreed
/// ones first, in the answer's order and with their payload types, then
/// the others. Here the peer offered VP8 alone, on 98 (this side's VP9
/// number); this side's re-offer keeps VP8 on 98 first, adds VP9, H.264
/// and AV1 after it with RTX for each, VP9 on a number other than 98, and
/// a second re-offer numbers everything as the first did.
#[test]
fn a_reoffer_after_a_vp8_only_exchange_offers_every_supported_codec_with_stable_payload_types() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let at = a.add_transceiver(video(Direction::SendRecv));
    a.set_codec_preferences(at, vec![Codec::new(98, "VP8", 90000, None)])
        .unwrap();
    let (first, _) = exchange(&mut a, &mut b);
    let offered: Vec<(u8, String)> = Codec::from_section(&first.media[0])
        .into_iter()
        .map(|c| (c.payload_type, c.name))
        .collect();
    assert_eq!(offered, [(98, "VP8".to_owned())]);

    let reoffer = |b: &mut Jsep| -> Vec<Codec> {
        let offer = b.create_offer(OfferOptions::default()).unwrap();
        Codec::from_section(&sdp(&offer).media[0])
    };
    let codecs = reoffer(&mut b);
    assert_eq!(
        (codecs[0].payload_type, codecs[0].name.as_str()),
        (98, "VP8")
    );
    let media: Vec<&str> = codecs
        .iter()
        .filter(|c| !c.is_rtx())
        .map(|c| c.name.as_str())
        .collect();
    for name in ["VP8", "VP9", "H264", "AV1"] {
        assert!(media.contains(&name), "{name} missing from {codecs:?}");
    }
    let mut pts: Vec<u8> = codecs.iter().map(|c| c.payload_type).collect();
    pts.sort_unstable();
    pts.dedup();
    assert_eq!(pts.len(), codecs.len(), "a payload type twice: {codecs:?}");
    for c in codecs.iter().filter(|c| !c.is_rtx()) {
        assert!(
            codecs
                .iter()
                .any(|r| r.is_rtx() && r.apt() == Some(c.payload_type)),
            "no RTX for {c:?} in {codecs:?}"
        );
    }

    // The exchange completes (the peer keeps VP8), and the next re-offer
    // numbers every codec as this one did.
    exchange(&mut b, &mut a);
    assert_eq!(reoffer(&mut b), codecs);
}

/// RFC 8829 §5.2.2: with codec preferences set after an exchange, a
/// re-offer lists only the preferred codecs, in the preference order, the
/// agreed ones on their agreed payload types.
#[test]
fn a_reoffer_follows_codec_preferences_set_after_the_exchange() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let at = a.add_transceiver(video(Direction::SendRecv));
    exchange(&mut a, &mut b);
    let agreed = a
        .transceiver(at)
        .unwrap()
        .negotiated()
        .unwrap()
        .codecs
        .clone();
    let pt_of = |name: &str| {
        agreed
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.payload_type)
            .unwrap()
    };
    let caps = ferrtc_jsep::default_video_codecs();
    let by = |name: &str| caps.iter().find(|c| c.name == name).unwrap().clone();
    a.set_codec_preferences(at, vec![by("AV1"), by("VP8")])
        .unwrap();
    let offer = sdp(&a.create_offer(OfferOptions::default()).unwrap());
    let media: Vec<(u8, String)> = Codec::from_section(&offer.media[0])
        .into_iter()
        .filter(|c| !c.is_rtx())
        .map(|c| (c.payload_type, c.name))
        .collect();
    assert_eq!(
        media,
        [
            (pt_of("AV1"), "AV1".to_owned()),
            (pt_of("VP8"), "VP8".to_owned())
        ]
    );
}

/// RFC 8843 §7.4: a section the answer leaves out of the BUNDLE group is
/// not bundled, and would need a transport of its own; ferrtc runs every
/// section over one (RFC 8829 §4.1.1 max-bundle, what its core does), so
/// an answer accepting a video section outside the group is refused with
/// an error naming the section, and changes nothing. An answer that
/// rejects every section but one needs no BUNDLE group (a peer that does
/// not know BUNDLE, RFC 8843 §7.3.1) and is applied.
#[test]
fn a_remote_answer_accepting_a_section_outside_the_bundle_group_is_refused() {
    let (mut a, answer) = offer_and_answer(|a, _| {
        a.add_transceiver(audio(Direction::SendRecv));
        a.add_transceiver(video(Direction::SendRecv));
    });
    assert!(answer.contains("a=group:BUNDLE 0 1\r\n"));
    let unbundled = answer.replace("a=group:BUNDLE 0 1\r\n", "a=group:BUNDLE 0\r\n");
    let err = a
        .set_remote_description(SessionDescription::answer(unbundled))
        .unwrap_err();
    let JsepError::AnswerMismatch(why) = &err else {
        panic!("{err:?}");
    };
    assert!(why.contains("mid 1"), "{why}");
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    assert!(a.transport().is_none());

    // Without BUNDLE, with the video section rejected: one transport.
    let audio_only =
        answer
            .replace("a=group:BUNDLE 0 1\r\n", "")
            .replacen("m=video 9 ", "m=video 0 ", 1);
    a.set_remote_description(SessionDescription::answer(audio_only))
        .unwrap();
    let t = a.transport().unwrap();
    assert!(t.bundle.is_empty());
    assert_eq!(t.transport_mid, "0");
    assert!(a.transceivers()[1].negotiated().is_none());
}

/// RFC 8829 §5.3.1 (max-bundle), RFC 8843 §7.3.3: an offer whose BUNDLE
/// group leaves a section out (an offerer moving it out, or one that does
/// not bundle at all) asks for a transport per section. ferrtc answers on
/// one transport: it accepts the sections of the offer's BUNDLE group (or,
/// without one, the first section alone) and rejects the others (port 0),
/// whose transceivers stop.
#[test]
fn sections_a_remote_offer_does_not_bundle_with_the_first_are_rejected_in_the_answer() {
    let text = audio_video_offer_text();
    for (offer, bundle) in [
        (
            text.replace("a=group:BUNDLE 0 1\r\n", "a=group:BUNDLE 0\r\n"),
            Some(vec!["0"]),
        ),
        (text.replace("a=group:BUNDLE 0 1\r\n", ""), None),
    ] {
        let mut b = jsep("bbbb");
        b.set_remote_description(SessionDescription::offer(offer))
            .unwrap();
        let answer = b.create_answer(AnswerOptions::default()).unwrap();
        let model = sdp(&answer);
        assert!(!model.media[0].is_rejected());
        assert!(model.media[1].is_rejected(), "{}", answer.sdp);
        assert_eq!(
            model.bundle_groups().next().map(|g| g.mids.clone()),
            bundle.map(|b| b.into_iter().map(str::to_owned).collect())
        );
        b.set_local_description(answer).unwrap();
        assert_eq!(b.transport().unwrap().transport_mid, "0");
        assert!(b.transceivers()[1].negotiated().is_none());
    }
}

/// Checks that each payload type of each section of `s` is listed once and
/// that every RTX names a media codec of its section (RFC 4588 §8.6).
fn assert_payload_types_once_and_rtx_named(s: &Sdp) {
    for (i, m) in s.media.iter().enumerate() {
        let codecs = Codec::from_section(m);
        let mut pts: Vec<u8> = codecs.iter().map(|c| c.payload_type).collect();
        pts.sort_unstable();
        pts.dedup();
        assert_eq!(pts.len(), codecs.len(), "section {i}: {codecs:?}");
        for r in codecs.iter().filter(|c| c.is_rtx()) {
            assert!(
                r.apt()
                    .is_some_and(|apt| codecs.iter().any(|c| !c.is_rtx() && c.payload_type == apt)),
                "section {i}: RTX {r:?} names no codec"
            );
        }
    }
}

/// RFC 8829 §5.2.2: a re-offer lists every supported format, so an agreed
/// codec whose RTX (RFC 4588 §8.6) the peer did not offer gets it back,
/// pointing at the agreed payload type. The agreed payload type may be one
/// this side uses for an RTX by default: VP8 on 97 (this side's RTX for
/// VP8), or VP9 on 97 and VP8 on 99 (this side's RTX numbers, crossed).
#[test]
fn a_reoffer_gives_rtx_to_agreed_codecs_that_sit_on_our_rtx_payload_types() {
    for prefs in [
        vec![Codec::new(97, "VP8", 90000, None)],
        vec![
            Codec::new(97, "VP9", 90000, None).with_fmtp("profile-id=0"),
            Codec::new(99, "VP8", 90000, None),
        ],
    ] {
        let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
        let at = a.add_transceiver(video(Direction::SendRecv));
        a.set_codec_preferences(at, prefs.clone()).unwrap();
        let (first, _) = exchange(&mut a, &mut b);
        assert_eq!(Codec::from_section(&first.media[0]).len(), prefs.len());

        let offer = sdp(&b.create_offer(OfferOptions::default()).unwrap());
        assert_payload_types_once_and_rtx_named(&offer);
        let codecs = Codec::from_section(&offer.media[0]);
        for p in &prefs {
            assert!(
                codecs
                    .iter()
                    .any(|c| c.payload_type == p.payload_type && c.matches(p)),
                "{p:?} not kept in {codecs:?}"
            );
        }
        for c in codecs.iter().filter(|c| !c.is_rtx()) {
            assert!(
                codecs
                    .iter()
                    .any(|r| r.is_rtx() && r.apt() == Some(c.payload_type)),
                "no RTX for {} on {} in {codecs:?}",
                c.name,
                c.payload_type
            );
        }
        // The peer accepts the re-offer.
        exchange(&mut b, &mut a);
    }
}

/// RFC 3264 §8.3.2: a dynamic payload type keeps its codec for the
/// duration of the session, including one offered and not accepted.
/// Chromium offers H.264 42001f with packetization-mode 1 on 102 and with
/// packetization-mode 0 on 104 (this side's H.264 numbers); this side
/// answers VP8 alone (codec preferences), then clears its preferences. Its
/// re-offer gives no number Chromium used to another codec, and gives its
/// codecs that Chromium offered Chromium's numbers, in the negotiated
/// section and in a video section it adds to the BUNDLE group.
#[test]
fn a_reoffer_keeps_each_payload_type_the_remote_offer_used_for_its_codec() {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/sdp/chromium-156/video-offer.sdp"
    ));
    let mut b = jsep("bbbb");
    b.set_remote_description(SessionDescription::offer(text))
        .unwrap();
    let t = b.transceivers()[0].id();
    let caps = ferrtc_jsep::default_video_codecs();
    let vp8 = caps.iter().find(|c| c.name == "VP8").unwrap().clone();
    b.set_codec_preferences(t, vec![vp8]).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    b.set_local_description(answer).unwrap();
    b.set_codec_preferences(t, Vec::new()).unwrap();
    b.add_transceiver(video(Direction::SendRecv));
    let reoffer = sdp(&b.create_offer(OfferOptions::default()).unwrap());
    assert_payload_types_once_and_rtx_named(&reoffer);
    assert_eq!(reoffer.media.len(), 2);

    let chromium: Sdp = text.parse().unwrap();
    let theirs = Codec::from_section(&chromium.media[0]);
    let ours: Vec<Codec> = reoffer.media.iter().flat_map(Codec::from_section).collect();
    for c in &ours {
        if let Some(t) = theirs.iter().find(|t| t.payload_type == c.payload_type) {
            assert!(
                t.matches(c) && (!c.is_rtx() || c.apt() == t.apt()),
                "{} is {} {:?}, Chromium offered {} {:?}",
                c.payload_type,
                c.name,
                c.fmtp,
                t.name,
                t.fmtp
            );
        }
    }
    // Each codec of ours Chromium offered is on Chromium's number.
    for c in ours.iter().filter(|c| !c.is_rtx()) {
        assert!(
            theirs.iter().all(|t| t.is_rtx() || !t.matches(c))
                || theirs
                    .iter()
                    .any(|t| t.payload_type == c.payload_type && t.matches(c)),
            "{c:?} not on Chromium's number"
        );
    }
}

/// RFC 8843 §7.3, RFC 8829 §5.3.1: ferrtc answers on one transport, and
/// keeps the transport the offer's BUNDLE group asks for. An offer whose
/// group is `BUNDLE 1 2`, with its first section (mid 0) outside it, is
/// answered with sections 1 and 2 accepted and bundled on mid 1, and
/// section 0 rejected, not the other way round.
#[test]
fn an_offer_bundling_later_sections_without_the_first_is_answered_on_its_bundle_group() {
    let mut a = jsep("aaaa");
    for _ in 0..3 {
        a.add_transceiver(audio(Direction::SendRecv));
    }
    let text = a.create_offer(OfferOptions::default()).unwrap().sdp;
    assert!(text.contains("a=group:BUNDLE 0 1 2\r\n"));
    let offer = text.replace("a=group:BUNDLE 0 1 2\r\n", "a=group:BUNDLE 1 2\r\n");
    let mut b = jsep("bbbb");
    b.set_remote_description(SessionDescription::offer(offer))
        .unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let model = sdp(&answer);
    let rejected: Vec<bool> = model.media.iter().map(|m| m.is_rejected()).collect();
    assert_eq!(rejected, [true, false, false], "{}", answer.sdp);
    assert_eq!(model.bundle_groups().next().unwrap().mids, ["1", "2"]);
    b.set_local_description(answer.clone()).unwrap();
    let t = b.transport().unwrap();
    assert_eq!(
        (t.transport_mid.as_str(), t.bundle.clone()),
        ("1", vec!["1".to_owned(), "2".to_owned()])
    );
    assert!(b.transceivers()[0].negotiated().is_none());
    assert!(b.transceivers()[1].negotiated().is_some());
}

/// The peer's codecs take every dynamic payload type (RFC 3551 §6, less
/// the RTCP range RFC 5761 §4 excludes): a re-offer keeps them, leaves out
/// the codecs it has no free number for rather than give one a number
/// twice (RFC 8843 §9.1.1), and the exchange completes both ways.
#[test]
fn a_reoffer_with_no_free_payload_type_leaves_codecs_out_without_duplicates() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let at = a.add_transceiver(video(Direction::SendRecv));
    let pts: Vec<u8> = (96..=127).chain(35..=63).collect();
    let prefs: Vec<Codec> = pts
        .iter()
        .map(|pt| Codec::new(*pt, "VP8", 90000, None).with_fmtp(&format!("x={pt}")))
        .collect();
    a.set_codec_preferences(at, prefs).unwrap();
    exchange(&mut a, &mut b);
    let offer = b.create_offer(OfferOptions::default()).unwrap();
    let model = sdp(&offer);
    assert_payload_types_once_and_rtx_named(&model);
    // And the exchange completes both ways.
    b.set_local_description(offer.clone()).unwrap();
    a.set_remote_description(offer).unwrap();
    let answer = a.create_answer(AnswerOptions::default()).unwrap();
    a.set_local_description(answer.clone()).unwrap();
    b.set_remote_description(answer).unwrap();
}

/// RFC 8829 §5.7 (rollback): a rolled-back local re-offer and a rolled-back
/// remote one change nothing, so the next re-offer numbers every codec as
/// the rolled-back one did, and its exchange completes.
#[test]
fn a_reoffer_after_rolled_back_offers_numbers_codecs_as_before() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let at = a.add_transceiver(video(Direction::SendRecv));
    a.add_transceiver(audio(Direction::SendRecv));
    a.set_codec_preferences(at, vec![Codec::new(98, "VP8", 90000, None)])
        .unwrap();
    exchange(&mut a, &mut b);
    let first = b.create_offer(OfferOptions::default()).unwrap();
    b.set_local_description(first.clone()).unwrap();
    b.set_local_description(SessionDescription::rollback())
        .unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    // A remote re-offer rolled back too.
    let theirs = a.create_offer(OfferOptions::default()).unwrap();
    b.set_remote_description(theirs).unwrap();
    b.set_remote_description(SessionDescription::rollback())
        .unwrap();
    let again = b.create_offer(OfferOptions::default()).unwrap();
    let (f, g) = (sdp(&first), sdp(&again));
    for (x, y) in f.media.iter().zip(&g.media) {
        assert_eq!(Codec::from_section(x), Codec::from_section(y));
    }
    exchange(&mut b, &mut a);
}

/// A fingerprint of 32 bytes, colon-separated hex.
fn fp() -> String {
    (0..32)
        .map(|i| format!("{:02X}", i * 7 % 256))
        .collect::<Vec<_>>()
        .join(":")
}

/// The text of an offer of audio, video and data written as Firefox
/// writes them: BUNDLE with every section, per-section credentials,
/// `a=extmap:N/recvonly`.
fn firefox_offer() -> String {
    let f = fp();
    let creds = "a=ice-pwd:a5a4d6a3f8c0e0e4f9b8c7d6e5f4a3b2\r\na=ice-ufrag:8f2c1d3e\r\n";
    format!(
        "v=0\r\no=mozilla...THIS_IS_SDPARTA-99.0 7710052215259647220 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
a=fingerprint:sha-256 {f}\r\na=group:BUNDLE 0 1 2\r\na=ice-options:trickle\r\na=msid-semantic:WMS *\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\r\n\
a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\na=fmtp:101 0-15\r\n\
{creds}a=mid:0\r\na=msid:{{a}} {{b}}\r\na=rtcp-mux\r\n\
a=rtpmap:109 opus/48000/2\r\na=rtpmap:9 G722/8000/1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=setup:actpass\r\na=ssrc:1111 cname:{{c}}\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98 99 100 123 122 119\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n\
a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=extmap:5 urn:ietf:params:rtp-hdrext:toffset\r\n\
a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n\
a=extmap:7 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1\r\n\
a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1\r\n\
a=fmtp:120 max-fs=12288;max-fr=60\r\na=fmtp:124 apt=120\r\na=fmtp:121 max-fs=12288;max-fr=60\r\n\
a=fmtp:125 apt=121\r\na=fmtp:127 apt=126\r\na=fmtp:98 apt=97\r\na=fmtp:100 apt=99\r\na=fmtp:119 apt=122\r\n\
{creds}a=mid:1\r\na=msid:{{a}} {{d}}\r\na=rtcp-fb:120 nack\r\na=rtcp-fb:120 nack pli\r\na=rtcp-fb:120 ccm fir\r\n\
a=rtcp-fb:120 goog-remb\r\na=rtcp-fb:120 transport-cc\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
a=rtpmap:120 VP8/90000\r\na=rtpmap:124 rtx/90000\r\na=rtpmap:121 VP9/90000\r\na=rtpmap:125 rtx/90000\r\n\
a=rtpmap:126 H264/90000\r\na=rtpmap:127 rtx/90000\r\na=rtpmap:97 H264/90000\r\na=rtpmap:98 rtx/90000\r\n\
a=rtpmap:99 AV1/90000\r\na=rtpmap:100 rtx/90000\r\na=rtpmap:123 ulpfec/90000\r\na=rtpmap:122 red/90000\r\n\
a=rtpmap:119 rtx/90000\r\na=setup:actpass\r\na=ssrc:2222 cname:{{c}}\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n\
{creds}a=mid:2\r\na=setup:actpass\r\na=sctp-port:5000\r\na=max-message-size:1073741823\r\n"
    )
}

/// An offer shaped as Firefox writes them (numbers other than Chromium's,
/// per-section credentials, `a=extmap:N/recvonly`) is answered with every
/// section accepted and bundled; this side's re-offer then gives no
/// payload type Firefox used another codec (RFC 3264 §8.3.2).
#[test]
fn a_firefox_style_offer_is_answered_bundled_and_its_payload_types_kept_in_a_reoffer() {
    let mut b = jsep("bbbb");
    b.request_data_channel();
    b.set_remote_description(SessionDescription::offer(firefox_offer()))
        .unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    let model = sdp(&answer);
    assert!(
        model.media.iter().all(|m| !m.is_rejected()),
        "{}",
        answer.sdp
    );
    assert_eq!(model.bundle_groups().next().unwrap().mids, ["0", "1", "2"]);
    b.set_local_description(answer).unwrap();
    let reoffer = sdp(&b.create_offer(OfferOptions::default()).unwrap());
    assert_payload_types_once_and_rtx_named(&reoffer);
    let ff: Sdp = firefox_offer().parse().unwrap();
    for (m, f) in reoffer.media.iter().zip(&ff.media) {
        let theirs = Codec::from_section(f);
        for c in Codec::from_section(m) {
            if let Some(t) = theirs.iter().find(|t| t.payload_type == c.payload_type) {
                assert!(
                    t.matches(&c),
                    "{c:?} on {}, Firefox had {t:?}",
                    c.payload_type
                );
            }
        }
    }
}

/// The id ↔ URI pairs of every `a=extmap` in a description.
fn extmap_ids(s: &Sdp) -> Vec<(u16, String)> {
    s.media
        .iter()
        .flat_map(|m| m.extmaps())
        .map(|e| (e.id, e.uri.clone()))
        .collect()
}

/// A send-receive video section that offers header extension `uri` on
/// `id` (RFC 8285 §5).
fn video_with_extension(id: u16, uri: &str) -> TransceiverInit {
    let mut init = video(Direction::SendRecv);
    init.header_extensions
        .push(ferrtc_jsep::HeaderExtension::new(id, uri));
    init
}

/// A offers video with `uri`, which B does not know, on id 5; B's answer
/// leaves it out. Returns both sides and the exchange.
fn extension_dropped_by_the_answer(uri: &str) -> (Jsep, Jsep, Sdp, Sdp) {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(video_with_extension(5, uri));
    let (offer, answer) = exchange(&mut a, &mut b);
    assert!(extmap_ids(&offer).contains(&(5, uri.to_owned())));
    assert!(
        extmap_ids(&answer).iter().all(|(_, u)| u != uri),
        "B does not know {uri}"
    );
    (a, b, offer, answer)
}

/// RFC 8285 §6 lets a session update add extensions, and RFC 8843 §9.1
/// has an id name one extension in a BUNDLE group; as a payload type does
/// (RFC 3264 §8.3.2), an id keeps its extension for the whole session.
/// A offers video with an extension B does not know on id 5, and B's
/// answer leaves it out. A's re-offer adds a video section whose own
/// extension asks for id 5 with another URI: 5 still means the first
/// URI, the new extension takes an id no earlier description used, and
/// the exchange completes.
#[test]
fn a_reoffer_gives_no_extension_id_an_earlier_offer_used_to_another_uri() {
    const DROPPED: &str = "urn:example:ferrtc:dropped";
    const ADDED: &str = "urn:example:ferrtc:added";
    let (mut a, mut b, offer, answer) = extension_dropped_by_the_answer(DROPPED);
    a.add_transceiver(video_with_extension(5, ADDED));
    let (reoffer, _) = exchange(&mut a, &mut b);
    let earlier: Vec<(u16, String)> = extmap_ids(&offer)
        .into_iter()
        .chain(extmap_ids(&answer))
        .collect();
    let now = extmap_ids(&reoffer);
    for (id, uri) in &now {
        if let Some((_, was)) = earlier.iter().find(|(e, _)| e == id) {
            assert_eq!(was, uri, "id {id} was {was}, now {uri}");
        }
    }
    assert!(
        now.iter().any(|(_, uri)| uri == ADDED),
        "{ADDED} is offered on a free id: {now:?}"
    );
}

/// RFC 8285 §6 (ids are not remapped in a session) and RFC 8843 §9.1: a
/// peer that numbers without our history (a browser with fixed ids per
/// URI) re-offers a section whose extension we do not know on id 5, which
/// our first offer had given another URI that its answer left out. The
/// peer's current description now says 5 is its extension; our next offer
/// gives 5 to no other URI, not even the one our first offer gave it: the
/// first URI is offered again on another id.
#[test]
fn a_reoffer_gives_no_extension_id_the_peers_current_description_uses_for_another_uri() {
    const DROPPED: &str = "urn:example:ferrtc:dropped";
    const THEIRS: &str = "urn:example:peer:theirs";
    let (mut a, mut b, _, _) = extension_dropped_by_the_answer(DROPPED);

    // B re-offers a new section with an extension A does not know; B's
    // SDP is rewritten to put it on id 5, as a peer numbering by URI does.
    b.add_transceiver(video_with_extension(6, THEIRS));
    let b_offer = b.create_offer(OfferOptions::default()).unwrap();
    b.set_local_description(b_offer.clone()).unwrap();
    let seen = b_offer.sdp.replace(
        &format!("a=extmap:6 {THEIRS}"),
        &format!("a=extmap:5 {THEIRS}"),
    );
    assert_ne!(seen, b_offer.sdp, "B offered {THEIRS} on 6");
    a.set_remote_description(SessionDescription::offer(seen))
        .expect("SRD B's re-offer");
    let a_answer = a.create_answer(AnswerOptions::default()).unwrap();
    a.set_local_description(a_answer.clone()).unwrap();
    b.set_remote_description(a_answer).unwrap();
    let peer_now = extmap_ids(&a.remote_sdp().unwrap());
    assert!(peer_now.contains(&(5, THEIRS.to_owned())), "{peer_now:?}");

    // A adds a section that wants the first URI again.
    a.add_transceiver(video_with_extension(5, DROPPED));
    let reoffer = extmap_ids(&sdp(&a.create_offer(OfferOptions::default()).unwrap()));
    for (id, uri) in &reoffer {
        if let Some((_, peers)) = peer_now.iter().find(|(p, u)| p == id && u != uri) {
            panic!("id {id} offered for {uri}; the peer's current description has it for {peers}");
        }
    }
    assert!(
        reoffer.iter().any(|(_, uri)| uri == DROPPED),
        "{DROPPED} is offered on another id: {reoffer:?}"
    );
}

// Which transceiver a remote offer's m-section is associated with (RFC 8829
// §5.10, W3C webrtc-pc §4.4.1.6).

/// `a`'s offer, set as its local description.
fn offer_from(a: &mut Jsep) -> SessionDescription {
    let offer = a.create_offer(OfferOptions::default()).expect("offer");
    a.set_local_description(offer.clone()).expect("SLD offer");
    offer
}

#[test]
fn remote_offer_sections_take_unassociated_transceivers_of_their_kind_in_creation_order() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    a.add_transceiver(video(Direction::SendRecv));
    a.add_transceiver(audio(Direction::SendRecv));
    let first_audio = b.add_transceiver(audio(Direction::SendRecv));
    let second_audio = b.add_transceiver(audio(Direction::SendRecv));
    let video = b.add_transceiver(video(Direction::SendRecv));
    b.set_remote_description(offer_from(&mut a)).expect("SRD");
    assert_eq!(b.transceivers().len(), 3, "no transceiver is created");
    assert_eq!(b.transceiver(first_audio).unwrap().mid(), Some("0"));
    assert_eq!(b.transceiver(video).unwrap().mid(), Some("1"));
    assert_eq!(b.transceiver(second_audio).unwrap().mid(), Some("2"));
}

#[test]
fn remote_offer_skips_a_stopped_unassociated_transceiver() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    let stopped = b.add_transceiver(audio(Direction::SendRecv));
    let live = b.add_transceiver(audio(Direction::SendRecv));
    b.stop_transceiver(stopped).expect("stop");
    b.set_remote_description(offer_from(&mut a)).expect("SRD");
    assert_eq!(b.transceiver(stopped).unwrap().mid(), None);
    assert_eq!(b.transceiver(live).unwrap().mid(), Some("0"));
}

#[test]
fn remote_offer_section_with_a_known_mid_keeps_its_transceiver_before_unassociated_ones() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    exchange(&mut a, &mut b);
    let negotiated = b.transceivers()[0].id();
    // Added after the first exchange, earlier in no order than the
    // negotiated one, but without a mid: the re-offer's new section takes
    // it, the old section keeps its transceiver.
    let unassociated = b.add_transceiver(audio(Direction::SendRecv));
    a.add_transceiver(audio(Direction::SendRecv));
    b.set_remote_description(offer_from(&mut a))
        .expect("SRD re-offer");
    assert_eq!(b.transceiver(negotiated).unwrap().mid(), Some("0"));
    assert_eq!(b.transceiver(unassociated).unwrap().mid(), Some("1"));
    assert_eq!(b.transceivers().len(), 2);
}

#[test]
fn a_rejected_remote_section_takes_no_unassociated_transceiver() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    a.add_transceiver(audio(Direction::SendRecv));
    a.add_transceiver(audio(Direction::SendRecv));
    let mine = b.add_transceiver(audio(Direction::SendRecv));
    let offer = offer_from(&mut a);
    // The first section rejected (port 0, out of the BUNDLE group).
    let text = offer
        .sdp
        .replacen("m=audio 9 ", "m=audio 0 ", 1)
        .replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 1");
    b.set_remote_description(SessionDescription::offer(text))
        .expect("SRD");
    assert_eq!(b.transceiver(mine).unwrap().mid(), Some("1"));
}
