//! Payload type stability across renegotiations: a dynamic payload type
//! keeps one meaning for the whole session (RFC 3264 §8.3.2), whichever
//! side offers and however codec preferences change between exchanges,
//! and each description's BUNDLE group gives a payload type one
//! configuration (RFC 8843 §9.1.1).

use ferrtc_jsep::{
    AnswerOptions, Codec, IceCredentials, Jsep, JsepConfig, OfferOptions, SessionDescription,
    TransceiverId, TransceiverInit,
};
use ferrtc_sdp::{Direction, Fingerprint, HashFunction, MediaKind, SessionDescription as Sdp};

fn jsep(ufrag: &str) -> Jsep {
    Jsep::new(JsepConfig::new(
        9,
        IceCredentials::new(ufrag, "passwordpasswordpassword"),
        vec![Fingerprint::from_digest(
            HashFunction::Sha256,
            &[ufrag.len() as u8; 32],
        )],
    ))
}

fn video() -> TransceiverInit {
    TransceiverInit::new(MediaKind::Video, Direction::SendRecv)
}

fn audio() -> TransceiverInit {
    TransceiverInit::new(MediaKind::Audio, Direction::SendRecv)
}

fn default_video(name: &str) -> Codec {
    ferrtc_jsep::default_video_codecs()
        .into_iter()
        .find(|c| c.name == name)
        .expect("a default video codec")
}

fn parsed(d: &SessionDescription) -> Sdp {
    d.sdp.parse().expect("our own SDP parses")
}

/// One full exchange, `offerer` offering; every step must succeed (the
/// peer refuses a description that breaks RFC 8843 §9.1.1). Returns the
/// offer and the answer.
fn exchange(offerer: &mut Jsep, answerer: &mut Jsep, context: &str) -> (Sdp, Sdp) {
    exchange_with(offerer, answerer, context, str::to_owned)
}

/// [`exchange`], the answerer receiving the offer's text as `edit` makes
/// it (the offerer keeps its own). Returns the offer as sent, and the
/// answer.
fn exchange_with(
    offerer: &mut Jsep,
    answerer: &mut Jsep,
    context: &str,
    edit: impl FnOnce(&str) -> String,
) -> (Sdp, Sdp) {
    let offer = offerer
        .create_offer(OfferOptions::default())
        .expect("offer");
    let fail = |step: &str, e: ferrtc_jsep::JsepError| -> ! {
        panic!("{context}: {step}: {e}\n{}", offer.sdp)
    };
    offerer
        .set_local_description(offer.clone())
        .unwrap_or_else(|e| fail("local offer", e));
    let received = SessionDescription {
        sdp: edit(&offer.sdp),
        ..offer.clone()
    };
    answerer
        .set_remote_description(received)
        .unwrap_or_else(|e| fail("remote offer", e));
    let answer = answerer
        .create_answer(AnswerOptions::default())
        .expect("answer");
    answerer
        .set_local_description(answer.clone())
        .unwrap_or_else(|e| fail("local answer", e));
    offerer
        .set_remote_description(answer.clone())
        .unwrap_or_else(|e| fail("remote answer", e));
    (parsed(&offer), parsed(&answer))
}

/// VP9 (profile 0) on 96.
fn vp9_on_96() -> Codec {
    let mut vp9 = default_video("VP9");
    vp9.payload_type = 96;
    vp9
}

/// A and B after A's first offer, of one video section with VP9 alone on
/// 96, checked by the returned ledger; and A's video transceiver.
fn after_a_offers_vp9_on_96() -> (Jsep, Jsep, Ledger, TransceiverId) {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut ledger = Ledger::default();
    let video_a = a.add_transceiver(video());
    a.set_codec_preferences(video_a, vec![vp9_on_96()]).unwrap();
    ledger.exchange("1 (A offers)", &mut a, &mut b);
    (a, b, ledger, video_a)
}

/// A's video preferences become VP9 on 96 and AV1 on 98.
fn prefer_vp9_and_av1_on_98(a: &mut Jsep, video_a: TransceiverId) {
    let mut av1 = default_video("AV1");
    av1.payload_type = 98;
    a.set_codec_preferences(video_a, vec![vp9_on_96(), av1])
        .unwrap();
}

/// What a payload type means for RFC 3264 §8.3.2: encoding name, clock
/// rate, channels, the parameters that tell configurations of one codec
/// apart, and for RTX the codec it repairs.
fn meaning(c: &Codec) -> String {
    let p = |k: &str| c.param(k).unwrap_or("").to_owned();
    let identity = match c.name.to_ascii_lowercase().as_str() {
        "h264" => format!(
            "packetization-mode={} profile={}",
            p("packetization-mode"),
            p("profile-level-id").get(..4).unwrap_or("")
        ),
        "vp9" => format!("profile-id={}", p("profile-id")),
        "av1" => format!("profile={}", p("profile")),
        "rtx" => format!("apt={}", p("apt")),
        _ => String::new(),
    };
    format!(
        "{}/{}/{} {identity}",
        c.name.to_ascii_lowercase(),
        c.clock_rate,
        c.channels.unwrap_or(1)
    )
}

/// The payload types a session's descriptions used, checked as each
/// description comes: a payload type keeps its first meaning in every
/// later description (RFC 3264 §8.3.2), a description's bundled sections
/// give a payload type one configuration (RFC 8843 §9.1.1), and each RTX
/// names a media codec of its own section (RFC 4588 §8.6).
#[derive(Default)]
struct Ledger {
    /// Payload type, its meaning, and the description that first used it.
    seen: Vec<(u8, String, String)>,
}

impl Ledger {
    fn check(&mut self, label: &str, sdp: &Sdp) {
        let mut in_group: Vec<Codec> = Vec::new();
        for (i, m) in sdp.media.iter().enumerate() {
            if m.is_rejected() || !m.is_rtp() {
                continue;
            }
            let codecs = Codec::from_section(m);
            for c in &codecs {
                if c.is_rtx() {
                    let names_media = c.apt().is_some_and(|apt| {
                        codecs.iter().any(|x| !x.is_rtx() && x.payload_type == apt)
                    });
                    assert!(
                        names_media,
                        "{label} section {i}: RTX {} names no media codec: {codecs:?}",
                        c.payload_type
                    );
                }
                match in_group.iter().find(|g| g.payload_type == c.payload_type) {
                    Some(g) => assert_eq!(
                        (g.name.to_ascii_lowercase(), g.clock_rate, &g.fmtp),
                        (c.name.to_ascii_lowercase(), c.clock_rate, &c.fmtp),
                        "{label}: payload type {} has two configurations in the BUNDLE group",
                        c.payload_type
                    ),
                    None => in_group.push(c.clone()),
                }
                let now = meaning(c);
                match self.seen.iter().find(|(pt, _, _)| *pt == c.payload_type) {
                    Some((_, first, at)) => assert_eq!(
                        first, &now,
                        "{label}: payload type {} was {first} in {at}, now {now}",
                        c.payload_type
                    ),
                    None => self.seen.push((c.payload_type, now, label.to_owned())),
                }
            }
        }
    }

    fn exchange(&mut self, label: &str, offerer: &mut Jsep, answerer: &mut Jsep) {
        let (offer, answer) = exchange(offerer, answerer, label);
        self.check(&format!("{label} offer"), &offer);
        self.check(&format!("{label} answer"), &answer);
    }
}

/// B offers VP8 on 98, a number of its own, in a re-offer A answers with
/// VP9 only; after one more exchange neither current description lists 98,
/// yet A's next re-offer must not give 98 to another codec (AV1 asks
/// for it): 98 means VP8 for the rest of the session.
#[test]
fn a_payload_type_offered_two_exchanges_ago_keeps_its_codec() {
    let (mut a, mut b, mut ledger, video_a) = after_a_offers_vp9_on_96();
    ledger.exchange("2 (B offers)", &mut b, &mut a);
    ledger.exchange("3 (A offers)", &mut a, &mut b);
    prefer_vp9_and_av1_on_98(&mut a, video_a);
    ledger.exchange("4 (A offers)", &mut a, &mut b);
}

/// B re-offers H.264 (constrained baseline, packetization-mode 1, level
/// asymmetry allowed) on 120 and A answers VP8 only. A's next re-offer
/// lists first the same codec without `level-asymmetry-allowed` (which
/// matches it but is another configuration), then B's exact configuration:
/// 120 goes back to the exact configuration (RFC 3264 §8.3.2), and the
/// codec that only matches takes a number of its own.
#[test]
fn a_remembered_payload_type_goes_to_its_exact_configuration_before_a_matching_one() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut ledger = Ledger::default();
    let video_a = a.add_transceiver(video());
    let vp8 = default_video("VP8");
    a.set_codec_preferences(video_a, vec![vp8.clone()]).unwrap();
    ledger.exchange("1 (A offers)", &mut a, &mut b);
    let exact = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
    let video_b = b.transceivers()[0].id();
    b.set_codec_preferences(
        video_b,
        vec![
            vp8.clone(),
            Codec::new(120, "H264", 90000, None).with_fmtp(exact),
        ],
    )
    .unwrap();
    ledger.exchange("2 (B offers)", &mut b, &mut a);
    let matching = Codec::new(110, "H264", 90000, None)
        .with_fmtp("packetization-mode=1;profile-level-id=42e01f");
    let same = Codec::new(102, "H264", 90000, None).with_fmtp(exact);
    a.set_codec_preferences(video_a, vec![vp8, matching, same])
        .unwrap();
    let offer = a.create_offer(OfferOptions::default()).expect("offer");
    let codecs = Codec::from_section(&parsed(&offer).media[0]);
    let on_120 = codecs.iter().find(|c| c.payload_type == 120);
    assert_eq!(
        on_120.and_then(|c| c.fmtp.as_deref()),
        Some(exact),
        "120 keeps B's configuration: {codecs:?}"
    );
    ledger.check("3 offer (A)", &parsed(&offer));
}

/// The offerer alternates while B narrows its preferences to VP8, then
/// widens them again and both sides add sections: every payload type keeps
/// its meaning.
#[test]
fn payload_types_keep_their_codecs_across_alternating_renegotiations() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut ledger = Ledger::default();
    a.add_transceiver(video());
    a.add_transceiver(audio());
    ledger.exchange("1 (A offers)", &mut a, &mut b);
    let video_b = b.transceivers()[0].id();
    b.set_codec_preferences(video_b, vec![default_video("VP8")])
        .unwrap();
    for round in 2..8 {
        let label = format!("{round}");
        if round % 2 == 0 {
            ledger.exchange(&label, &mut b, &mut a);
        } else {
            ledger.exchange(&label, &mut a, &mut b);
        }
        if round == 3 {
            b.set_codec_preferences(video_b, Vec::new()).unwrap();
            b.add_transceiver(video());
        }
        if round == 5 {
            a.add_transceiver(video());
        }
    }
}

/// A numbers its codecs unlike ferrtc's defaults (VP9 on 96, H.264 on 97,
/// VP8 on 102); the sides then take turns offering and both add sections:
/// every payload type keeps its meaning.
#[test]
fn payload_types_keep_their_codecs_when_the_peer_numbers_differently() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let mut ledger = Ledger::default();
    let video_a = a.add_transceiver(video());
    let vp9 = vp9_on_96();
    let mut h264 = ferrtc_jsep::default_video_codecs()
        .into_iter()
        .find(|c| c.param("profile-level-id") == Some("42e01f"))
        .expect("a constrained baseline H.264 default");
    h264.payload_type = 97;
    let mut vp8 = default_video("VP8");
    vp8.payload_type = 102;
    a.set_codec_preferences(video_a, vec![vp9, h264, vp8])
        .unwrap();
    for round in 0..6 {
        let label = format!("{}", round + 1);
        if round % 2 == 0 {
            ledger.exchange(&label, &mut a, &mut b);
        } else {
            ledger.exchange(&label, &mut b, &mut a);
        }
        if round == 1 {
            a.add_transceiver(video());
            b.add_transceiver(video());
        }
    }
}

/// A small deterministic generator (a 64-bit LCG) for the random test.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Random codec preferences on random payload types, a random offerer and
/// new transceivers now and then: every exchange completes (the peer
/// refuses a description that breaks RFC 8843 §9.1.1), and every
/// description gives a payload type one configuration in its BUNDLE group
/// and names a media codec in each RTX.
#[test]
fn random_renegotiations_keep_bundle_numbering_valid() {
    let mut choices: Vec<Codec> = ferrtc_jsep::default_video_codecs()
        .into_iter()
        .filter(|c| !c.is_rtx())
        .collect();
    choices.push(Codec::new(0, "VP9", 90000, None).with_fmtp("profile-id=2"));
    choices.push(
        Codec::new(0, "H264", 90000, None)
            .with_fmtp("level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"),
    );
    choices.push(
        Codec::new(0, "H264", 90000, None)
            .with_fmtp("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
    );
    let dynamic: Vec<u8> = (96..=127).chain(35..=63).collect();
    for seed in 0..40u64 {
        let mut rng = Lcg(seed);
        let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
        a.add_transceiver(video());
        for step in 0..8 {
            let side = if rng.below(2) == 0 { &mut a } else { &mut b };
            let ids: Vec<_> = side.transceivers().iter().map(|t| t.id()).collect();
            if !ids.is_empty() && rng.below(2) == 0 {
                let id = ids[rng.below(ids.len())];
                let mut prefs: Vec<Codec> = Vec::new();
                for _ in 0..=rng.below(4) {
                    let mut c = choices[rng.below(choices.len())].clone();
                    c.payload_type = dynamic[rng.below(dynamic.len())];
                    if !prefs.iter().any(|p| p.payload_type == c.payload_type) {
                        prefs.push(c);
                    }
                }
                if rng.below(4) == 0 {
                    prefs.clear();
                }
                // Preferences the transceiver cannot use are refused; the
                // old ones stay then.
                let _ = side.set_codec_preferences(id, prefs);
            }
            if rng.below(3) == 0 {
                side.add_transceiver(video());
            }
            let label = format!("seed {seed} step {step}");
            let (offer, answer) = if rng.below(2) == 0 {
                exchange(&mut a, &mut b, &label)
            } else {
                exchange(&mut b, &mut a, &label)
            };
            Ledger::default().check(&format!("{label} offer"), &offer);
            Ledger::default().check(&format!("{label} answer"), &answer);
        }
    }
}

/// A remote offer whose video section also lists formats 128..=255 (not
/// RTP payload types, RFC 3550 §5.1: seven bits) with rtpmaps, ahead of
/// its real codecs: those 128 entries must not fill the session's payload
/// type memory, or every real payload type after them is forgotten and
/// can be given to another codec (RFC 3264 §8.3.2).
#[test]
fn formats_above_127_do_not_crowd_real_payload_types_out_of_the_history() {
    let (mut a, mut b, mut ledger, video_a) = after_a_offers_vp9_on_96();
    // 2: B offers VP8 on 98 too; the text A receives lists 128..=255
    // first. A answers VP9 only.
    let video_b = b.transceivers()[0].id();
    let mut vp8 = default_video("VP8");
    vp8.payload_type = 98;
    b.set_codec_preferences(video_b, vec![vp9_on_96(), vp8])
        .unwrap();
    let junk: Vec<String> = (128..=255u16).map(|p| p.to_string()).collect();
    let with_junk = |offer: &str| {
        let mut munged = String::new();
        let mut rtpmaps_added = false;
        for line in offer.split_inclusive("\r\n") {
            if let Some(rest) = line.strip_prefix("m=video 9 UDP/TLS/RTP/SAVPF ") {
                munged.push_str(&format!(
                    "m=video 9 UDP/TLS/RTP/SAVPF {} {rest}",
                    junk.join(" ")
                ));
                continue;
            }
            if line.starts_with("a=rtpmap:") && !rtpmaps_added {
                rtpmaps_added = true;
                for p in &junk {
                    munged.push_str(&format!("a=rtpmap:{p} X-JUNK/90000\r\n"));
                }
            }
            munged.push_str(line);
        }
        assert_ne!(munged, offer, "the offer was munged");
        munged
    };
    exchange_with(&mut b, &mut a, "2 (B offers)", with_junk);
    // 3: A offers (VP9 only); neither current description lists 98 now.
    ledger.exchange("3 (A offers)", &mut a, &mut b);
    // 4: A asks for AV1 on 98, which B gave VP8 two exchanges ago.
    prefer_vp9_and_av1_on_98(&mut a, video_a);
    let offer = a.create_offer(OfferOptions::default()).unwrap();
    let codecs = Codec::from_section(&parsed(&offer).media[0]);
    let on_98 = codecs.iter().find(|c| c.payload_type == 98);
    assert!(
        on_98.is_none_or(|c| c.name.eq_ignore_ascii_case("VP8")),
        "98 was VP8 in B's offer, now {on_98:?}"
    );
}

/// `sdp` with the codec named `name` moved to payload type `to` in the
/// section that lists it, as a peer numbering its own way writes it.
fn renumbered(sdp: &str, name: &str, to: u8) -> String {
    let from = sdp
        .split("\r\n")
        .find_map(|l| {
            let (pt, codec) = l.strip_prefix("a=rtpmap:")?.split_once(' ')?;
            codec
                .starts_with(&format!("{name}/"))
                .then(|| pt.to_owned())
        })
        .expect("the codec is offered");
    let mut sections: Vec<String> = sdp.split("\r\nm=").map(str::to_owned).collect();
    let to = to.to_string();
    for s in sections.iter_mut().skip(1) {
        if !s.contains(&format!("a=rtpmap:{from} {name}/")) {
            continue;
        }
        let lines: Vec<String> = s
            .split("\r\n")
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    // The m-line: `<media> <port> <proto> <fmt> ...`.
                    let words: Vec<&str> = l.split(' ').collect();
                    let mut line: Vec<&str> = words.iter().take(3).copied().collect();
                    line.extend(
                        words
                            .iter()
                            .skip(3)
                            .map(|f| if *f == from { to.as_str() } else { f }),
                    );
                    return line.join(" ");
                }
                ["rtpmap", "fmtp", "rtcp-fb"]
                    .iter()
                    .find_map(|attr| {
                        l.strip_prefix(&format!("a={attr}:{from} "))
                            .map(|rest| format!("a={attr}:{to} {rest}"))
                    })
                    .unwrap_or_else(|| l.to_owned())
            })
            .collect();
        *s = lines.join("\r\n");
    }
    sections.join("\r\nm=")
}

/// RFC 3264 §8.3.2 (a payload type keeps its codec for the session) and
/// RFC 8843 §9.1.1: a peer that numbers without our history (a browser
/// with fixed payload types per codec) re-offers a section with a codec we
/// do not support on 98, which our first offer had given a codec of ours
/// that its answer left out. The peer's current description now says 98
/// is its codec; our next offer gives 98 to no other codec, not even the
/// one our first offer gave it: that codec is offered on another number.
#[test]
fn a_reoffer_gives_no_payload_type_the_peers_current_description_uses_for_another_codec() {
    let (mut a, mut b) = (jsep("aaaa"), jsep("bbbb"));
    let ours = Codec::new(98, "X-OURS", 90000, None);
    let video_a = a.add_transceiver(video());
    a.set_codec_preferences(video_a, vec![default_video("VP8"), ours])
        .unwrap();
    let (offer, answer) = exchange(&mut a, &mut b, "1 (A offers)");
    let listed = |s: &Sdp, pt: u8| {
        s.media
            .iter()
            .flat_map(Codec::from_section)
            .find(|c| c.payload_type == pt)
    };
    assert!(listed(&offer, 98).is_some_and(|c| c.name == "X-OURS"));
    assert!(listed(&answer, 98).is_none(), "B does not know X-OURS");

    // B re-offers a new section with a codec A does not know; the text A
    // receives has it on 98, as a peer numbering by codec writes it.
    let video_b = b.add_transceiver(video());
    b.set_codec_preferences(
        video_b,
        vec![
            default_video("VP8"),
            Codec::new(120, "X-THEIRS", 90000, None),
        ],
    )
    .unwrap();
    exchange_with(&mut b, &mut a, "2 (B offers)", |sdp| {
        let seen = renumbered(sdp, "X-THEIRS", 98);
        assert_ne!(seen, sdp, "B offered X-THEIRS off 98");
        seen
    });
    let peer_now = a.remote_sdp().expect("B's offer is current");
    assert!(
        listed(&peer_now, 98).is_some_and(|c| c.name == "X-THEIRS"),
        "{peer_now}"
    );

    // A offers again; its first section still prefers X-OURS.
    let reoffer = parsed(&a.create_offer(OfferOptions::default()).unwrap());
    for c in reoffer.media.iter().flat_map(Codec::from_section) {
        if let Some(theirs) = listed(&peer_now, c.payload_type) {
            assert!(
                theirs.name == c.name,
                "{} offered for {}; the peer's current description has it for {}",
                c.payload_type,
                c.name,
                theirs.name
            );
        }
    }
    assert!(
        listed(&reoffer, 98).is_none() && reoffer.to_string().contains(" X-OURS/90000"),
        "X-OURS is offered on another payload type: {reoffer}"
    );
}
