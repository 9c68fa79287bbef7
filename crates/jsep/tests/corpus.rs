//! Answering every offer of the fixture corpus produces a valid answer.

use ferrtc_jsep::{
    AnswerOptions, IceCredentials, Jsep, JsepConfig, SessionDescription, SignalingState,
};
use ferrtc_sdp::{Fingerprint, HashFunction, MediaKind, SessionDescription as Sdp, Setup};

macro_rules! fixture {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/sdp/",
                $path
            )),
        )
    };
}

const OFFERS: &[(&str, &str)] = &[
    fixture!("aiortc-1.16/audio-offer.sdp"),
    fixture!("aiortc-1.16/av-dc-offer.sdp"),
    fixture!("aiortc-1.16/datachannel-offer.sdp"),
    fixture!("aiortc-1.16/video-offer.sdp"),
    fixture!("chromium-156/audio-offer.sdp"),
    fixture!("chromium-156/av-dc-offer-gathered.sdp"),
    fixture!("chromium-156/av-dc-offer.sdp"),
    fixture!("chromium-156/datachannel-offer-gathered.sdp"),
    fixture!("chromium-156/datachannel-offer.sdp"),
    fixture!("chromium-156/ice-restart-offer.sdp"),
    fixture!("chromium-156/recvonly-offer.sdp"),
    fixture!("chromium-156/renegotiation-offer.sdp"),
    fixture!("chromium-156/simulcast-offer.sdp"),
    fixture!("chromium-156/video-offer.sdp"),
];

fn answerer() -> Jsep {
    Jsep::new(JsepConfig::new(
        42,
        IceCredentials::new("ansr", "answererpasswordpassword"),
        vec![Fingerprint::from_digest(HashFunction::Sha256, &[0x5a; 32])],
    ))
}

fn answer(name: &str, offer_text: &str) -> (Sdp, Sdp, Jsep) {
    let mut jsep = answerer();
    jsep.set_remote_description(SessionDescription::offer(offer_text))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let answer = jsep
        .create_answer(AnswerOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    jsep.set_local_description(answer.clone())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(jsep.signaling_state(), SignalingState::Stable, "{name}");
    let offer: Sdp = offer_text.parse().expect("offer parses");
    let answer: Sdp = answer
        .sdp
        .parse()
        .unwrap_or_else(|e| panic!("{name}: answer: {e}"));
    (offer, answer, jsep)
}

#[test]
fn every_corpus_offer_gets_an_answer_with_the_same_mids_in_order() {
    for (name, text) in OFFERS {
        let (offer, answer, _) = answer(name, text);
        let om: Vec<_> = offer.media.iter().map(|m| m.mid()).collect();
        let am: Vec<_> = answer.media.iter().map(|m| m.mid()).collect();
        assert_eq!(om, am, "{name}");
        for (o, a) in offer.media.iter().zip(&answer.media) {
            assert_eq!(o.kind, a.kind, "{name}");
            assert_eq!(o.protocol, a.protocol, "{name}");
        }
    }
}

/// RFC 8843 §7.3.1: the answer bundles what the offer bundles, and its
/// first bundled section (the offerer-tagged one) carries the transport.
#[test]
fn every_corpus_answer_accepts_all_sections_and_bundles_them() {
    for (name, text) in OFFERS {
        let (offer, answer, jsep) = answer(name, text);
        let offered = offer
            .bundle_groups()
            .next()
            .expect("offer bundles")
            .mids
            .clone();
        let answered = answer
            .bundle_groups()
            .next()
            .expect("answer bundles")
            .mids
            .clone();
        assert_eq!(offered, answered, "{name}");
        assert!(answer.media.iter().all(|m| !m.is_rejected()), "{name}");
        let transport = jsep.transport().expect("a transport");
        assert_eq!(transport.transport_mid, offered[0], "{name}");
        assert_eq!(transport.bundle, offered, "{name}");
    }
}

#[test]
fn every_corpus_answer_direction_is_compatible_with_the_offer() {
    for (name, text) in OFFERS {
        let (offer, answer, _) = answer(name, text);
        for (o, a) in offer
            .media
            .iter()
            .zip(&answer.media)
            .filter(|(o, _)| o.is_rtp())
        {
            let (od, ad) = (o.direction(), a.direction());
            assert!(!ad.sends() || od.receives(), "{name}: {od} answered {ad}");
            assert!(!ad.receives() || od.sends(), "{name}: {od} answered {ad}");
            // The answerer has no tracks: it receives whatever is sent.
            assert_eq!(ad.receives(), od.sends(), "{name}");
        }
    }
}

#[test]
fn every_corpus_answer_codec_is_an_offered_codec_with_the_same_payload_type() {
    for (name, text) in OFFERS {
        let (offer, answer, _) = answer(name, text);
        for (o, a) in offer
            .media
            .iter()
            .zip(&answer.media)
            .filter(|(o, _)| o.is_rtp())
        {
            assert!(a.payload_types().count() > 0, "{name}: no codec");
            for pt in a.payload_types() {
                let ar = a.rtpmap(pt).expect("answer rtpmap");
                let or = o
                    .rtpmap(pt)
                    .unwrap_or_else(|| panic!("{name}: pt {pt} not offered"));
                assert!(
                    ar.encoding.eq_ignore_ascii_case(&or.encoding),
                    "{name}: pt {pt}"
                );
                assert_eq!(ar.clock_rate, or.clock_rate, "{name}: pt {pt}");
                if ar.encoding.eq_ignore_ascii_case("rtx") {
                    let apt = a.fmtp(pt).and_then(|f| f.param("apt")).expect("apt");
                    assert!(
                        a.payload_types().any(|p| p.to_string() == apt),
                        "{name}: rtx for missing apt"
                    );
                }
            }
        }
    }
}

#[test]
fn every_corpus_answer_header_extension_uses_the_offered_id() {
    for (name, text) in OFFERS {
        let (offer, answer, _) = answer(name, text);
        for (o, a) in offer.media.iter().zip(&answer.media) {
            for e in a.extmaps() {
                assert!(
                    o.extmaps().any(|x| x.id == e.id && x.uri == e.uri),
                    "{name}: {}",
                    e.uri
                );
            }
        }
    }
}

#[test]
fn every_corpus_answer_data_section_has_sctp_port_and_max_message_size() {
    for (name, text) in OFFERS {
        let (offer, answer, jsep) = answer(name, text);
        let has_data = offer.media.iter().any(|m| m.kind == MediaKind::Application);
        for a in answer
            .media
            .iter()
            .filter(|m| m.kind == MediaKind::Application)
        {
            assert_eq!(a.sctp_port(), Some(5000), "{name}");
            assert_eq!(a.max_message_size(), Some(262_144), "{name}");
        }
        let sctp = jsep.transport().expect("transport").sctp.clone();
        assert_eq!(sctp.is_some(), has_data, "{name}");
    }
}

#[test]
fn every_corpus_answer_takes_an_active_or_passive_role_with_our_credentials() {
    for (name, text) in OFFERS {
        let (_, answer, jsep) = answer(name, text);
        for a in &answer.media {
            assert!(
                matches!(a.setup(), Some(Setup::Active | Setup::Passive)),
                "{name}"
            );
            assert_eq!(a.ice_ufrag(), Some("ansr"), "{name}");
            assert_eq!(a.fingerprints().count(), 1, "{name}");
        }
        let t = jsep.transport().expect("transport");
        assert!(!t.remote_ice.ufrag.is_empty(), "{name}");
        assert!(!t.remote_fingerprints.is_empty(), "{name}");
    }
}

#[test]
fn simulcast_corpus_offer_is_answered_with_receive_rids() {
    let (name, text) = fixture!("chromium-156/simulcast-offer.sdp");
    let (_, answer, jsep) = answer(name, text);
    let rids: Vec<_> = answer.media[0]
        .rids()
        .map(|r| (r.id.as_str(), r.direction))
        .collect();
    use ferrtc_sdp::RidDirection::Recv;
    assert_eq!(rids, [("q", Recv), ("h", Recv), ("f", Recv)]);
    let sim = answer.media[0].simulcast().expect("simulcast");
    assert!(sim.streams(Recv).is_some());
    let n = jsep.transceivers()[0].negotiated().expect("negotiated");
    assert_eq!(n.recv_rids, ["q", "h", "f"]);
}
