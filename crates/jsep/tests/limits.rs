//! Limits a hostile peer meets in JSEP: the size of a remote description,
//! the number of candidates it can trickle into one m-section, and what one
//! m-line can make an answer grow to.

use ferrtc_jsep::{
    AnswerOptions, Codec, DEFAULT_MAX_REMOTE_CANDIDATES, IceCandidateInit, IceCredentials, Jsep,
    JsepConfig, JsepError, MAX_FEEDBACK_PER_CODEC, OfferOptions, RtcpFeedback, SessionDescription,
    SignalingState, TransceiverInit, default_video_codecs, negotiate_codecs,
};
use ferrtc_sdp::{Direction, Fingerprint, HashFunction, Limits, MediaKind, SdpError};

fn config(ufrag: &str) -> JsepConfig {
    JsepConfig::new(
        9,
        IceCredentials::new(ufrag, "passwordpasswordpassword"),
        vec![Fingerprint::from_digest(HashFunction::Sha256, &[7; 32])],
    )
}

/// A data-channel offer from a fresh session.
fn offer() -> SessionDescription {
    let mut a = Jsep::new(config("aaaa"));
    a.request_data_channel();
    a.create_offer(OfferOptions::default()).unwrap()
}

fn candidate(port: u32) -> IceCandidateInit {
    IceCandidateInit {
        candidate: format!("candidate:{port} 1 udp 2130706431 10.0.0.1 {port} typ host"),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    }
}

#[test]
fn default_limits_are_the_safe_ones() {
    let c = config("bbbb");
    assert_eq!(c.sdp_limits, Limits::default());
    assert_eq!(c.sdp_limits.max_bytes, 256 * 1024);
    assert_eq!(c.max_remote_candidates, DEFAULT_MAX_REMOTE_CANDIDATES);
    assert_eq!(DEFAULT_MAX_REMOTE_CANDIDATES, 256);
}

#[test]
fn a_remote_description_over_the_configured_size_is_refused_and_changes_nothing() {
    let offer = offer();
    let mut b = Jsep::new(JsepConfig {
        sdp_limits: Limits {
            max_bytes: offer.sdp.len() - 1,
            ..Limits::default()
        },
        ..config("bbbb")
    });
    let err = b.set_remote_description(offer.clone()).unwrap_err();
    assert!(
        matches!(err, JsepError::Sdp(SdpError::TooLarge { size, limit })
            if size == offer.sdp.len() && limit == offer.sdp.len() - 1),
        "{err}"
    );
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    assert!(b.remote_sdp().is_none());

    // The same offer fits the default limits.
    let mut c = Jsep::new(config("cccc"));
    c.set_remote_description(offer).unwrap();
}

#[test]
fn a_remote_description_padded_past_256_kib_is_refused_by_default() {
    let offer = offer();
    let padding = "a=x-pad:0123456789abcdef0123456789abcdef\r\n".repeat(7_000);
    let huge = SessionDescription::offer(format!("{}{padding}", offer.sdp));
    assert!(huge.sdp.len() > 256 * 1024);
    let mut b = Jsep::new(config("bbbb"));
    assert!(matches!(
        b.set_remote_description(huge),
        Err(JsepError::Sdp(SdpError::TooLarge { .. }))
    ));
}

#[test]
fn trickled_candidates_past_the_limit_are_refused_and_the_description_stays_bounded() {
    let mut b = Jsep::new(JsepConfig {
        max_remote_candidates: 5,
        ..config("bbbb")
    });
    b.set_remote_description(offer()).unwrap();
    for port in 1..=5 {
        assert!(b.add_ice_candidate(&candidate(port)).unwrap().is_some());
    }
    let len = b.remote_sdp().unwrap().to_string().len();
    for port in 6..1_000 {
        let err = b.add_ice_candidate(&candidate(port)).unwrap_err();
        assert_eq!(
            err,
            JsepError::TooManyCandidates {
                mid: "0".into(),
                limit: 5
            }
        );
    }
    let remote = b.remote_sdp().unwrap();
    assert_eq!(remote.media[0].candidates().count(), 5);
    assert_eq!(remote.to_string().len(), len);
    // End of candidates is not a candidate: it is still accepted.
    let end = IceCandidateInit {
        candidate: String::new(),
        ..candidate(0)
    };
    assert_eq!(b.add_ice_candidate(&end), Ok(None));
    // So is the answer: the session is not broken by the refusals.
    b.create_answer(AnswerOptions::default()).unwrap();
}

/// W3C webrtc-pc §4.4.1.5 `addIceCandidate`: a candidate the remote
/// description already holds (signalling that retries, or several tasks
/// forwarding the same candidates) is accepted again without being
/// written again, as browsers do: the description does not fill with
/// copies, and copies never count against the limit (they used to, so
/// the peer's later candidates were refused with an `OperationError`).
#[test]
fn a_candidate_added_again_is_accepted_once_and_does_not_count_against_the_limit() {
    let mut b = Jsep::new(JsepConfig {
        max_remote_candidates: 5,
        ..config("bbbb")
    });
    b.set_remote_description(offer()).unwrap();
    for _ in 0..100 {
        let (mid, c) = b.add_ice_candidate(&candidate(1)).unwrap().unwrap();
        assert_eq!((mid.as_str(), c.port()), ("0", 1));
    }
    assert_eq!(b.remote_sdp().unwrap().media[0].candidates().count(), 1);
    for port in 2..=5 {
        assert!(b.add_ice_candidate(&candidate(port)).unwrap().is_some());
    }
    // At the limit, a copy of a known candidate is still accepted.
    assert!(b.add_ice_candidate(&candidate(3)).unwrap().is_some());
    assert_eq!(b.remote_sdp().unwrap().media[0].candidates().count(), 5);
    assert!(b.add_ice_candidate(&candidate(6)).is_err());
}

#[test]
fn a_remote_description_with_more_candidates_than_the_limit_is_refused() {
    let offer = offer();
    let lines: String = (1..=3)
        .map(|p| format!("a=candidate:{p} 1 udp 2130706431 10.0.0.1 {p} typ host\r\n"))
        .collect();
    let with_three = SessionDescription::offer(format!("{}{lines}", offer.sdp));
    let mut b = Jsep::new(JsepConfig {
        max_remote_candidates: 2,
        ..config("bbbb")
    });
    assert_eq!(
        b.set_remote_description(with_three.clone()),
        Err(JsepError::TooManyCandidates {
            mid: "0".into(),
            limit: 2
        })
    );
    assert!(b.remote_sdp().is_none());
    let mut c = Jsep::new(JsepConfig {
        max_remote_candidates: 3,
        ..config("cccc")
    });
    c.set_remote_description(with_three).unwrap();
}

/// A video offer whose m-line lists VP8 (96) and its RTX (97) 600 times
/// each: 3.6 KB of payload types.
fn offer_repeating_payload_types() -> SessionDescription {
    let mut a = Jsep::new(config("aaaa"));
    a.add_transceiver(TransceiverInit::new(MediaKind::Video, Direction::SendRecv));
    let offer = a.create_offer(OfferOptions::default()).unwrap().sdp;
    let start = offer.find("m=video 9 UDP/TLS/RTP/SAVPF ").unwrap();
    let end = start + offer[start..].find("\r\n").unwrap();
    let formats = "96 97 ".repeat(600);
    let line = format!("m=video 9 UDP/TLS/RTP/SAVPF {}", formats.trim_end());
    let mut text = offer.clone();
    text.replace_range(start..end, &line);
    SessionDescription::offer(text)
}

/// A payload type means one format of the m-line (RFC 8866 §5.14, RFC 3264
/// §5.1): a remote description that lists one twice is refused, naming it.
/// Taken as they stood, 600 copies of VP8 and of its RTX made an answer of
/// 600 x 600 codecs (each RTX after each copy of its codec): a few KB of
/// offer cost hundreds of MB and an answer that could not be applied.
#[test]
fn a_remote_offer_listing_a_payload_type_twice_is_refused() {
    let mut b = Jsep::new(config("bbbb"));
    let err = b
        .set_remote_description(offer_repeating_payload_types())
        .unwrap_err();
    assert!(
        matches!(&err, JsepError::Invalid(why) if why.contains("payload type 96")),
        "{err}"
    );
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    assert!(b.remote_sdp().is_none());
}

/// The codecs of an m-section are read once per payload type (the first
/// `a=rtpmap` and `a=fmtp` of it), and negotiation keeps each offered
/// codec and RTX once, whatever the caller passes in.
#[test]
fn codecs_are_read_and_negotiated_once_per_payload_type() {
    let offer: ferrtc_sdp::SessionDescription =
        offer_repeating_payload_types().sdp.parse().unwrap();
    let offered = Codec::from_section(&offer.media[0]);
    assert_eq!(
        offered.iter().map(|c| c.payload_type).collect::<Vec<_>>(),
        [96, 97]
    );
    let doubled: Vec<Codec> = offered.iter().chain(&offered).cloned().collect();
    let negotiated = negotiate_codecs(&doubled, &default_video_codecs());
    assert_eq!(
        negotiated
            .iter()
            .map(|c| c.payload_type)
            .collect::<Vec<_>>(),
        [96, 97]
    );
}

/// A video offer with 120 payload types, all VP8, and 7000 lines of
/// `a=rtcp-fb:* nack`: 131 KB, under the size limit.
fn offer_with_wildcard_feedback_lines() -> SessionDescription {
    let mut a = Jsep::new(config("aaaa"));
    a.add_transceiver(TransceiverInit::new(MediaKind::Video, Direction::SendRecv));
    let offer = a.create_offer(OfferOptions::default()).unwrap().sdp;
    let start = offer.find("m=video 9 UDP/TLS/RTP/SAVPF ").unwrap();
    let end = start + offer[start..].find("\r\n").unwrap();
    let pts: Vec<String> = (1..=120).map(|pt: u8| pt.to_string()).collect();
    let mut text = offer.clone();
    text.replace_range(
        start..end,
        &format!("m=video 9 UDP/TLS/RTP/SAVPF {}", pts.join(" ")),
    );
    for pt in &pts {
        text.push_str(&format!("a=rtpmap:{pt} VP8/90000\r\n"));
    }
    text.push_str(&"a=rtcp-fb:* nack\r\n".repeat(7000));
    SessionDescription::offer(text)
}

/// `a=rtcp-fb:*` applies to every payload type (RFC 4585 §4.2), and a
/// feedback mechanism is there or not: a codec's feedback is read once per
/// mechanism, a bounded number of them. Read line by line, 7000 wildcard
/// lines times 120 codecs made a 16 MB answer from a 131 KB offer, one the
/// answerer could not apply.
#[test]
fn wildcard_feedback_lines_are_read_once_per_mechanism_and_the_answer_stays_small() {
    let offer = offer_with_wildcard_feedback_lines();
    assert!(offer.sdp.len() < 256 * 1024);
    let model: ferrtc_sdp::SessionDescription = offer.sdp.parse().unwrap();
    let codecs = Codec::from_section(&model.media[0]);
    assert_eq!(codecs.len(), 120);
    let nack = RtcpFeedback::new("nack", None);
    for c in &codecs {
        assert_eq!(c.feedback.iter().filter(|f| **f == nack).count(), 1);
        assert!(c.feedback.len() <= MAX_FEEDBACK_PER_CODEC);
    }
    let mut b = Jsep::new(config("bbbb"));
    b.add_transceiver(TransceiverInit::new(MediaKind::Video, Direction::SendRecv));
    b.set_remote_description(offer.clone()).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    assert!(
        answer.sdp.len() < offer.sdp.len(),
        "{} bytes",
        answer.sdp.len()
    );
    b.set_local_description(answer).unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);

    // Distinct mechanisms are bounded too.
    let distinct: String = (0..100)
        .map(|i| format!("a=rtcp-fb:* x-mechanism-{i}\r\n"))
        .collect();
    let model: ferrtc_sdp::SessionDescription = format!("{}{distinct}", offer.sdp).parse().unwrap();
    let codecs = Codec::from_section(&model.media[0]);
    assert!(
        codecs
            .iter()
            .all(|c| c.feedback.len() == MAX_FEEDBACK_PER_CODEC)
    );
}

/// An offer of `sections` audio m-sections, bundled, each as small as JSEP
/// allows (PCMU, the transport at session level): 900 of them take 80 KB.
fn offer_with_small_sections(sections: usize) -> SessionDescription {
    let fingerprint = Fingerprint::from_digest(HashFunction::Sha256, &[7; 32]);
    let mids: Vec<String> = (0..sections).map(|mid| mid.to_string()).collect();
    let mut text = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE {}\r\n\
         a=ice-ufrag:aaaa\r\na=ice-pwd:passwordpasswordpassword\r\n\
         a=fingerprint:sha-256 {}\r\na=setup:actpass\r\n",
        mids.join(" "),
        fingerprint.hex()
    );
    for mid in 0..sections {
        text.push_str(&format!(
            "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\n\
             a=sendrecv\r\na=rtcp-mux\r\n"
        ));
    }
    SessionDescription::offer(text)
}

/// `JsepConfig::sdp_limits` bound what the peer sends, not what this side
/// writes: an answer to an offer within the limits is applied even when it
/// is larger than they allow (here 900 sections answered with their own
/// transport attributes: over 256 KiB).
#[test]
fn a_local_answer_larger_than_the_remote_limits_is_applied() {
    let offer = offer_with_small_sections(900);
    assert!(offer.sdp.len() < 256 * 1024);
    let mut b = Jsep::new(config("bbbb"));
    b.set_remote_description(offer).unwrap();
    let answer = b.create_answer(AnswerOptions::default()).unwrap();
    assert!(answer.sdp.len() > 256 * 1024, "{} bytes", answer.sdp.len());
    b.set_local_description(answer).unwrap();
    assert_eq!(b.signaling_state(), SignalingState::Stable);
    assert_eq!(b.transport().unwrap().remote_ice.ufrag, "aaaa");
}
