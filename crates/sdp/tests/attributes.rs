//! Each typed attribute parses from, and writes back to, its RFC grammar.

use ferrtc_sdp::{
    Attribute, Direction, HashFunction, IceOption, RidDirection, Setup, SsrcGroupSemantics, parse,
};

fn attr(line: &str) -> Attribute {
    let text = format!(
        "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n{line}\r\n"
    );
    let sdp = parse(&text).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(sdp.to_string(), text, "round trip of {line}");
    sdp.media[0].attributes[0].clone()
}

#[test]
fn group_bundle_lists_mids() {
    let Attribute::Group(g) = attr("a=group:BUNDLE 0 1 2") else {
        panic!()
    };
    assert!(g.is_bundle());
    assert_eq!(g.mids, ["0", "1", "2"]);
}

#[test]
fn group_ls_is_not_bundle() {
    let Attribute::Group(g) = attr("a=group:LS a b") else {
        panic!()
    };
    assert!(!g.is_bundle());
}

#[test]
fn msid_has_stream_and_optional_track() {
    let Attribute::Msid(m) = attr("a=msid:s t") else {
        panic!()
    };
    assert_eq!(
        (m.stream_id.as_str(), m.track_id.as_deref()),
        ("s", Some("t"))
    );
    let Attribute::Msid(m) = attr("a=msid:-") else {
        panic!()
    };
    assert_eq!(m.track_id, None);
}

#[test]
fn msid_semantic_keeps_chromium_space() {
    let Attribute::MsidSemantic(m) = attr("a=msid-semantic: WMS a b") else {
        panic!()
    };
    assert!(m.space_after_colon);
    assert_eq!(m.ids, ["a", "b"]);
    let Attribute::MsidSemantic(m) = attr("a=msid-semantic:WMS *") else {
        panic!()
    };
    assert!(!m.space_after_colon);
}

#[test]
fn ice_options_are_typed() {
    let Attribute::IceOptions(o) = attr("a=ice-options:trickle ice2 renomination x") else {
        panic!()
    };
    assert_eq!(
        o,
        [
            IceOption::Trickle,
            IceOption::Ice2,
            IceOption::Renomination,
            IceOption::Other("x".into())
        ]
    );
}

#[test]
fn ice_credentials_and_lite() {
    assert_eq!(attr("a=ice-ufrag:abcd"), Attribute::IceUfrag("abcd".into()));
    assert_eq!(attr("a=ice-pwd:p+/w"), Attribute::IcePwd("p+/w".into()));
    assert_eq!(attr("a=ice-lite"), Attribute::IceLite);
}

#[test]
fn fingerprint_of_every_sha_size_gives_its_digest() {
    for (name, len) in [
        ("sha-1", 20),
        ("sha-224", 28),
        ("sha-256", 32),
        ("sha-384", 48),
        ("sha-512", 64),
    ] {
        let hex: Vec<String> = (0..len).map(|i| format!("{i:02X}")).collect();
        let Attribute::Fingerprint(f) = attr(&format!("a=fingerprint:{name} {}", hex.join(":")))
        else {
            panic!()
        };
        assert_eq!(f.hash.as_str(), name);
        assert_eq!(f.digest(), (0..len as u8).collect::<Vec<_>>());
    }
}

#[test]
fn fingerprint_from_digest_writes_upper_case_pairs() {
    let f = ferrtc_sdp::Fingerprint::from_digest(HashFunction::Sha1, &[0xab; 20]);
    assert!(f.hex().starts_with("AB:AB:"));
    assert_eq!(f.digest(), [0xab; 20]);
}

#[test]
fn upper_case_hash_names_normalize_to_known_functions() {
    assert_eq!(
        HashFunction::parse("SHA-256").normalized(),
        HashFunction::Sha256
    );
}

#[test]
fn setup_roles_and_tls_id() {
    assert_eq!(attr("a=setup:actpass"), Attribute::Setup(Setup::ActPass));
    assert_eq!(attr("a=setup:active"), Attribute::Setup(Setup::Active));
    assert_eq!(attr("a=setup:passive"), Attribute::Setup(Setup::Passive));
    assert_eq!(attr("a=setup:holdconn"), Attribute::Setup(Setup::HoldConn));
    assert_eq!(attr("a=tls-id:abc123"), Attribute::TlsId("abc123".into()));
}

#[test]
fn rtcp_with_and_without_address() {
    let Attribute::Rtcp(r) = attr("a=rtcp:9 IN IP4 0.0.0.0") else {
        panic!()
    };
    assert_eq!((r.port, r.address.as_deref()), (9, Some("IN IP4 0.0.0.0")));
    let Attribute::Rtcp(r) = attr("a=rtcp:53020") else {
        panic!()
    };
    assert_eq!(r.address, None);
}

#[test]
fn rtcp_mux_family_flags() {
    assert_eq!(attr("a=rtcp-mux"), Attribute::RtcpMux);
    assert_eq!(attr("a=rtcp-mux-only"), Attribute::RtcpMuxOnly);
    assert_eq!(attr("a=rtcp-rsize"), Attribute::RtcpRsize);
}

#[test]
fn rtpmap_with_and_without_channels() {
    let Attribute::Rtpmap(r) = attr("a=rtpmap:111 opus/48000/2") else {
        panic!()
    };
    assert_eq!(
        (
            r.payload_type,
            r.encoding.as_str(),
            r.clock_rate,
            r.channels
        ),
        (111, "opus", 48000, Some(2))
    );
    let Attribute::Rtpmap(r) = attr("a=rtpmap:96 VP8/90000") else {
        panic!()
    };
    assert_eq!(r.channels, None);
}

#[test]
fn fmtp_parameters_split_on_semicolons() {
    let Attribute::Fmtp(f) =
        attr("a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f")
    else {
        panic!()
    };
    assert_eq!(f.param("profile-level-id"), Some("42001f"));
    assert_eq!(f.params().count(), 3);
    let Attribute::Fmtp(red) = attr("a=fmtp:63 111/111") else {
        panic!()
    };
    assert_eq!(red.parameters, "111/111");
}

#[test]
fn rtcp_fb_with_wildcard_and_parameter() {
    let Attribute::RtcpFb(f) = attr("a=rtcp-fb:96 nack pli") else {
        panic!()
    };
    assert_eq!(
        (f.payload_type, f.kind.as_str(), f.parameter.as_deref()),
        (Some(96), "nack", Some("pli"))
    );
    let Attribute::RtcpFb(f) = attr("a=rtcp-fb:* transport-cc") else {
        panic!()
    };
    assert_eq!(f.payload_type, None);
}

#[test]
fn extmap_with_direction_and_attributes() {
    let Attribute::Extmap(e) = attr("a=extmap:3/sendonly urn:ietf:params:rtp-hdrext:sdes:mid x")
    else {
        panic!()
    };
    assert_eq!(e.id, 3);
    assert_eq!(e.direction, Some(Direction::SendOnly));
    assert_eq!(e.attributes.as_deref(), Some("x"));
    assert_eq!(attr("a=extmap-allow-mixed"), Attribute::ExtmapAllowMixed);
}

#[test]
fn ssrc_and_ssrc_groups() {
    let Attribute::Ssrc(s) = attr("a=ssrc:1 msid:a b") else {
        panic!()
    };
    assert_eq!(
        (s.ssrc, s.attribute.as_str(), s.value.as_deref()),
        (1, "msid", Some("a b"))
    );
    for (text, sem) in [
        ("a=ssrc-group:FID 1 2", SsrcGroupSemantics::Fid),
        ("a=ssrc-group:SIM 1 2 3", SsrcGroupSemantics::Sim),
        ("a=ssrc-group:FEC-FR 1 2", SsrcGroupSemantics::FecFr),
    ] {
        let Attribute::SsrcGroup(g) = attr(text) else {
            panic!()
        };
        assert_eq!(g.semantics, sem);
    }
}

#[test]
fn rid_with_payload_types_and_restrictions() {
    let Attribute::Rid(r) = attr("a=rid:hi send pt=96,97;max-width=1280;max-height=720") else {
        panic!()
    };
    assert_eq!(r.direction, RidDirection::Send);
    assert_eq!(r.payload_types, [96, 97]);
    assert_eq!(r.restrictions, ["max-width=1280", "max-height=720"]);
    let Attribute::Rid(r) = attr("a=rid:lo recv max-fps=15") else {
        panic!()
    };
    assert!(r.payload_types.is_empty());
}

#[test]
fn simulcast_with_both_directions_alternatives_and_pause() {
    let Attribute::Simulcast(s) = attr("a=simulcast:recv 1,2;~3 send a") else {
        panic!()
    };
    let recv = s.streams(RidDirection::Recv).expect("recv");
    assert_eq!(recv.streams.len(), 2);
    assert_eq!(recv.streams[0].len(), 2);
    assert!(recv.streams[1][0].paused);
    assert!(s.streams(RidDirection::Send).is_some());
}

#[test]
fn simulcast_with_the_same_direction_twice_is_invalid() {
    let text = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=simulcast:send a send b\r\n";
    assert!(parse(text).is_err());
}

#[test]
fn sctp_attributes() {
    assert_eq!(attr("a=sctp-port:5000"), Attribute::SctpPort(5000));
    assert_eq!(
        attr("a=max-message-size:262144"),
        Attribute::MaxMessageSize(262144)
    );
    let Attribute::Sctpmap(m) = attr("a=sctpmap:5000 webrtc-datachannel 1024") else {
        panic!()
    };
    assert_eq!((m.port, m.streams), (5000, Some(1024)));
}

#[test]
fn candidates_and_end_of_candidates() {
    let c = "1 1 udp 2130706431 192.0.2.2 5000 typ host";
    let Attribute::Candidate(cand) = attr(&format!("a=candidate:{c}")) else {
        panic!()
    };
    assert_eq!(cand.port(), 5000);
    assert_eq!(cand.value().to_string(), c);
    assert_eq!(attr("a=end-of-candidates"), Attribute::EndOfCandidates);
}

#[test]
fn directions_bundle_only_and_identity() {
    for d in [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ] {
        assert_eq!(attr(&format!("a={d}")), Attribute::Direction(d));
    }
    assert_eq!(attr("a=bundle-only"), Attribute::BundleOnly);
    assert_eq!(
        attr("a=identity:eyJhIjoxfQ=="),
        Attribute::Identity("eyJhIjoxfQ==".into())
    );
}

#[test]
fn direction_reverse_swaps_send_and_receive() {
    assert_eq!(Direction::SendOnly.reverse(), Direction::RecvOnly);
    assert_eq!(Direction::SendRecv.reverse(), Direction::SendRecv);
    assert_eq!(Direction::Inactive.reverse(), Direction::Inactive);
}

#[test]
fn ptime_maxptime_and_framerate() {
    assert_eq!(attr("a=ptime:20"), Attribute::Ptime(20.0));
    assert_eq!(attr("a=maxptime:120"), Attribute::MaxPtime(120.0));
    assert_eq!(attr("a=framerate:30"), Attribute::Framerate(30.0));
}

#[test]
fn invalid_candidates_are_an_error_naming_the_line() {
    let text = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp x\r\n";
    let err = parse(text).unwrap_err();
    assert!(
        matches!(
            err,
            ferrtc_sdp::SdpError::Invalid {
                line: 6,
                what: "a=candidate",
                ..
            }
        ),
        "{err}"
    );
}

/// RFC 8827 §5.6.4.1: `a=identity` is session level; its value is the
/// base64 assertion, then optional extensions, and it round-trips as
/// written.
#[test]
fn session_level_identity_round_trips() {
    let assertion = "eyJpZHAiOnsiZG9tYWluIjoiZXhhbXBsZS5vcmciLCJwcm90b2NvbCI6ImRlZmF1bHQifSwiYXNzZXJ0aW9uIjoiIn0=";
    for (line, ext) in [
        (format!("a=identity:{assertion}"), false),
        (format!("a=identity:{assertion} ext1;ext2"), true),
    ] {
        let text = format!(
            "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{line}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        );
        let sdp = parse(&text).unwrap();
        assert_eq!(sdp.to_string(), text, "round trip of {line}");
        assert_eq!(sdp.identity(), Some(assertion));
        let Attribute::Identity(value) = &sdp.attributes[0] else {
            panic!("typed as identity")
        };
        assert_eq!(value.contains(" ext1;ext2"), ext);
    }
    // A media-level one is not the session's.
    let media_level = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=identity:abc\r\n";
    assert_eq!(parse(media_level).unwrap().identity(), None);
}
