//! Property tests: the parser never panics, and the writer round-trips models.

use ferrtc_sdp::{
    Attribute, Bandwidth, BandwidthType, Connection, Direction, Extmap, Fmtp, Group, Limits,
    MediaDescription, MediaKind, Origin, Rtpmap, SessionDescription, Setup, Timing, parse,
    parse_bytes,
};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/_.-]{1,12}"
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        token().prop_map(Attribute::Mid),
        token().prop_map(Attribute::IceUfrag),
        token().prop_map(Attribute::IcePwd),
        Just(Attribute::RtcpMux),
        Just(Attribute::BundleOnly),
        Just(Attribute::EndOfCandidates),
        prop_oneof![
            Just(Setup::Active),
            Just(Setup::Passive),
            Just(Setup::ActPass)
        ]
        .prop_map(Attribute::Setup),
        prop_oneof![
            Just(Direction::SendRecv),
            Just(Direction::SendOnly),
            Just(Direction::RecvOnly),
            Just(Direction::Inactive)
        ]
        .prop_map(Attribute::Direction),
        (token(), prop::collection::vec(token(), 0..4))
            .prop_map(|(semantics, mids)| Attribute::Group(Group { semantics, mids })),
        (
            any::<u8>(),
            "[A-Za-z0-9-]{1,10}",
            any::<u32>(),
            proptest::option::of(any::<u16>())
        )
            .prop_map(
                |(payload_type, encoding, clock_rate, channels)| Attribute::Rtpmap(Rtpmap {
                    payload_type,
                    encoding,
                    clock_rate,
                    channels
                })
            ),
        (any::<u8>(), "[a-z0-9=;-]{1,30}").prop_map(|(payload_type, parameters)| Attribute::Fmtp(
            Fmtp {
                payload_type,
                parameters
            }
        )),
        (1u16..=255, "[a-z:/.-]{1,30}").prop_map(|(id, uri)| Attribute::Extmap(Extmap {
            id,
            direction: None,
            uri,
            attributes: None
        })),
        any::<u16>().prop_map(Attribute::SctpPort),
        any::<u64>().prop_map(Attribute::MaxMessageSize),
        ("x-[a-z]{1,8}", proptest::option::of("[ -~]{0,20}"))
            .prop_map(|(name, value)| Attribute::Other { name, value }),
    ]
}

fn connection() -> impl Strategy<Value = Connection> {
    "[0-9.]{1,15}".prop_map(|address| Connection {
        net_type: "IN".into(),
        addr_type: "IP4".into(),
        address,
    })
}

fn media() -> impl Strategy<Value = MediaDescription> {
    (
        prop_oneof![
            Just(MediaKind::Audio),
            Just(MediaKind::Video),
            Just(MediaKind::Application)
        ],
        any::<u16>(),
        prop::collection::vec("[0-9]{1,3}", 0..5),
        proptest::option::of(connection()),
        prop::collection::vec(attribute(), 0..8),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(kind, port, formats, c, attributes, tias)| {
            let mut m = MediaDescription::new(kind, port, "UDP/TLS/RTP/SAVPF", formats);
            m.connections.extend(c);
            m.bandwidths.extend(tias.map(|value| Bandwidth {
                kind: BandwidthType::Tias,
                value,
            }));
            m.attributes = attributes;
            m
        })
}

fn session() -> impl Strategy<Value = SessionDescription> {
    (
        "[0-9]{1,19}",
        any::<u64>(),
        prop::collection::vec(attribute(), 0..6),
        prop::collection::vec(media(), 0..4),
    )
        .prop_map(
            |(session_id, session_version, attributes, media)| SessionDescription {
                origin: Origin {
                    username: "-".into(),
                    session_id,
                    session_version,
                    net_type: "IN".into(),
                    addr_type: "IP4".into(),
                    address: "127.0.0.1".into(),
                },
                session_name: "-".into(),
                information: None,
                uri: None,
                emails: Vec::new(),
                phones: Vec::new(),
                connection: None,
                bandwidths: Vec::new(),
                times: vec![Timing {
                    start: 0,
                    stop: 0,
                    repeats: Vec::new(),
                }],
                time_zones: None,
                key: None,
                attributes,
                media,
            },
        )
}

proptest! {
    #[test]
    fn parse_of_written_model_gives_the_model_back(sdp in session()) {
        let text = sdp.to_string();
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, sdp);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_bytes(&data, &Limits::default());
    }

    #[test]
    fn parser_never_panics_on_sdp_like_lines(
        lines in prop::collection::vec("[a-z]=[ -~]{0,60}", 0..40)
    ) {
        let text = format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{}", lines.join("\r\n"));
        if let Ok(sdp) = parse(&text) {
            // Whatever parses writes back to text that parses to the same model.
            let again = parse(&sdp.to_string());
            prop_assert_eq!(again.ok(), Some(sdp));
        }
    }

    #[test]
    fn mutated_fixture_never_panics(cut in 0usize..3000, byte in any::<u8>()) {
        let mut data = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/sdp/chromium-156/av-dc-offer-gathered.sdp"
        ))
        .to_vec();
        let at = cut % data.len();
        data[at] = byte;
        let _ = parse_bytes(&data, &Limits::default());
    }
}
