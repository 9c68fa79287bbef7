//! Every real SDP of the fixture corpus parses and writes back byte-identical.

use ferrtc_sdp::{Attribute, Direction, MediaKind, SessionDescription, Setup};

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

/// All `*.sdp` files of `fixtures/sdp/`.
const FIXTURES: &[(&str, &str)] = &[
    fixture!("aiortc-1.16/audio-answer.sdp"),
    fixture!("aiortc-1.16/audio-offer.sdp"),
    fixture!("aiortc-1.16/av-dc-answer.sdp"),
    fixture!("aiortc-1.16/av-dc-offer.sdp"),
    fixture!("aiortc-1.16/datachannel-answer.sdp"),
    fixture!("aiortc-1.16/datachannel-offer.sdp"),
    fixture!("aiortc-1.16/video-answer.sdp"),
    fixture!("aiortc-1.16/video-offer.sdp"),
    fixture!("chromium-156/audio-answer.sdp"),
    fixture!("chromium-156/audio-offer.sdp"),
    fixture!("chromium-156/av-dc-answer.sdp"),
    fixture!("chromium-156/av-dc-offer-gathered.sdp"),
    fixture!("chromium-156/av-dc-offer.sdp"),
    fixture!("chromium-156/datachannel-answer.sdp"),
    fixture!("chromium-156/datachannel-offer-gathered.sdp"),
    fixture!("chromium-156/datachannel-offer.sdp"),
    fixture!("chromium-156/ice-restart-offer.sdp"),
    fixture!("chromium-156/recvonly-answer.sdp"),
    fixture!("chromium-156/recvonly-offer.sdp"),
    fixture!("chromium-156/renegotiation-answer.sdp"),
    fixture!("chromium-156/renegotiation-offer.sdp"),
    fixture!("chromium-156/simulcast-answer.sdp"),
    fixture!("chromium-156/simulcast-offer.sdp"),
    fixture!("chromium-156/video-answer.sdp"),
    fixture!("chromium-156/video-offer.sdp"),
];

fn parse(name: &str, text: &str) -> SessionDescription {
    text.parse()
        .unwrap_or_else(|e| panic!("{name} does not parse: {e}"))
}

#[test]
fn the_fixture_list_names_every_sdp_file_in_the_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sdp");
    let mut on_disk = Vec::new();
    for sub in std::fs::read_dir(dir).expect("fixtures/sdp exists") {
        let sub = sub.expect("dir entry").path();
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).expect("fixture folder") {
            let f = f.expect("dir entry").path();
            if f.extension().is_some_and(|e| e == "sdp") {
                let rel = f
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned();
                on_disk.push(rel);
            }
        }
    }
    on_disk.sort();
    let listed: Vec<String> = FIXTURES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, listed);
}

#[test]
fn every_fixture_writes_back_byte_identical() {
    for (name, text) in FIXTURES {
        let sdp = parse(name, text);
        assert_eq!(&sdp.to_string(), text, "{name} changed on round trip");
    }
}

#[test]
fn every_fixture_with_lf_line_endings_writes_back_as_the_crlf_original() {
    for (name, text) in FIXTURES {
        let lf = text.replace("\r\n", "\n");
        let sdp = parse(name, &lf);
        assert_eq!(&sdp.to_string(), text, "{name}");
    }
}

#[test]
fn every_known_attribute_in_the_fixtures_is_typed_not_kept_raw() {
    // The only attribute in the corpus the model does not type.
    let untyped = ["rtcp-xr"];
    for (name, text) in FIXTURES {
        let sdp = parse(name, text);
        let all = sdp
            .attributes
            .iter()
            .chain(sdp.media.iter().flat_map(|m| m.attributes.iter()));
        for a in all {
            if let Attribute::Other { name: attr, .. } = a {
                assert!(
                    untyped.contains(&attr.as_str()),
                    "{name}: a={attr} kept raw"
                );
            }
        }
    }
}

#[test]
fn every_fixture_section_has_mid_ice_credentials_fingerprint_and_setup() {
    for (name, text) in FIXTURES {
        let sdp = parse(name, text);
        assert!(sdp.bundle_groups().count() == 1, "{name}: one BUNDLE group");
        for m in &sdp.media {
            assert!(m.mid().is_some(), "{name}: mid");
            assert!(
                m.ice_ufrag().is_some() && m.ice_pwd().is_some(),
                "{name}: ice"
            );
            let fp = m.fingerprints().next().expect("fingerprint");
            assert_eq!(Some(fp.digest().len()), fp.hash.digest_len(), "{name}");
            assert!(m.setup().is_some(), "{name}: setup");
        }
    }
}

#[test]
fn chromium_av_dc_offer_has_the_expected_typed_sections() {
    let (name, text) = fixture!("chromium-156/av-dc-offer-gathered.sdp");
    let sdp = parse(name, text);
    assert!(sdp.extmap_allow_mixed());
    let bundle = sdp.bundle_groups().next().expect("bundle");
    assert_eq!(bundle.mids, ["0", "1", "2"]);
    let kinds: Vec<_> = sdp.media.iter().map(|m| m.kind.clone()).collect();
    assert_eq!(
        kinds,
        [MediaKind::Audio, MediaKind::Video, MediaKind::Application]
    );

    let audio = &sdp.media[0];
    assert_eq!(audio.direction(), Direction::SendRecv);
    assert_eq!(audio.setup(), Some(Setup::ActPass));
    assert!(audio.rtcp_mux());
    assert_eq!(audio.candidates().count(), 4);
    let opus = audio.rtpmap(111).expect("opus");
    assert_eq!(
        (opus.encoding.as_str(), opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    assert_eq!(
        audio.fmtp(111).and_then(|f| f.param("useinbandfec")),
        Some("1")
    );

    let video = &sdp.media[1];
    assert_eq!(video.rtcp_fbs(96).count(), 5);
    assert_eq!(video.fmtp(97).and_then(|f| f.param("apt")), Some("96"));
    assert_eq!(video.ssrc_groups().next().map(|g| g.ssrcs.len()), Some(2));

    let data = &sdp.media[2];
    assert!(data.is_sctp());
    assert_eq!(data.sctp_port(), Some(5000));
    assert_eq!(data.max_message_size(), Some(262144));
}

#[test]
fn chromium_simulcast_offer_has_three_send_rids() {
    let (name, text) = fixture!("chromium-156/simulcast-offer.sdp");
    let sdp = parse(name, text);
    let video = &sdp.media[0];
    let rids: Vec<_> = video.rids().map(|r| r.id.as_str()).collect();
    assert_eq!(rids, ["q", "h", "f"]);
    let sim = video.simulcast().expect("simulcast");
    let send = sim.streams(ferrtc_sdp::RidDirection::Send).expect("send");
    let ids: Vec<_> = send.streams.iter().map(|s| s[0].id.as_str()).collect();
    assert_eq!(ids, ["q", "h", "f"]);
}

#[test]
fn aiortc_offer_has_end_of_candidates_and_three_fingerprints() {
    let (name, text) = fixture!("aiortc-1.16/av-dc-offer.sdp");
    let sdp = parse(name, text);
    for m in &sdp.media {
        assert!(m.end_of_candidates());
        assert_eq!(m.fingerprints().count(), 3);
    }
}

#[test]
fn trickled_chromium_candidates_parse_as_sdp_attributes() {
    let (_, jsonl) = fixture!("chromium-156/candidates.jsonl");
    let mut count = 0;
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        // Each line is RTCIceCandidateInit JSON; take the "candidate" string.
        let start = line.find("\"candidate:").expect("candidate field") + 1;
        let end = start + line[start..].find('"').expect("closing quote");
        let value = &line[start..end];
        let text = format!(
            "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na={value}\r\n"
        );
        let sdp = parse("candidates.jsonl", &text);
        assert_eq!(sdp.media[0].candidates().count(), 1, "{value}");
        assert_eq!(sdp.to_string(), text);
        count += 1;
    }
    assert_eq!(count, 4);
}

#[test]
fn gathered_chromium_offer_candidates_are_typed() {
    let (name, text) = fixture!("chromium-156/av-dc-offer-gathered.sdp");
    let sdp = parse(name, text);
    let ports: Vec<u16> = sdp.media[0].candidates().map(|c| c.port()).collect();
    assert_eq!(ports, [39640, 35741, 9, 9]);
}
