//! Parser rules: field order, errors with line numbers, limits, normalisation.

use ferrtc_sdp::{Attribute, Limits, SdpError, parse, parse_bytes};

const HEAD: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

fn with(lines: &str) -> String {
    format!("{HEAD}{lines}")
}

#[test]
fn minimal_session_round_trips() {
    let sdp = parse(HEAD).expect("parses");
    assert_eq!(sdp.origin.session_id, "1");
    assert_eq!(sdp.origin.session_version, 2);
    assert_eq!(sdp.to_string(), HEAD);
}

#[test]
fn the_first_line_must_be_the_version() {
    let err = parse("o=- 1 2 IN IP4 127.0.0.1\r\nv=0\r\n").unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::Unexpected {
                line: 1,
                field: 'o',
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn only_version_zero_is_accepted() {
    let err = parse("v=1\r\n").unwrap_err();
    assert!(matches!(err, SdpError::Invalid { line: 1, .. }), "{err}");
}

#[test]
fn missing_origin_is_reported() {
    let err = parse("v=0\r\ns=-\r\nt=0 0\r\n").unwrap_err();
    assert_eq!(err, SdpError::Missing { field: 'o' });
}

#[test]
fn missing_timing_is_reported_before_the_first_media_section() {
    let err = parse("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n").unwrap_err();
    assert_eq!(err, SdpError::Missing { field: 't' });
}

#[test]
fn session_fields_out_of_order_are_rejected_with_their_line() {
    let err =
        parse("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nc=IN IP4 0.0.0.0\r\n").unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::Unexpected {
                line: 5,
                field: 'c',
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_second_origin_is_rejected() {
    let err = parse("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\no=- 1 2 IN IP4 0.0.0.0\r\n").unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::Unexpected {
                line: 3,
                field: 'o',
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_field_letters_are_rejected() {
    let err = parse(&with("x=1\r\n")).unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::Unexpected {
                line: 5,
                field: 'x',
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_line_without_equals_is_not_a_field() {
    let err = parse(&with("hello\r\n")).unwrap_err();
    assert_eq!(err, SdpError::NotAField { line: 5 });
}

#[test]
fn invalid_attribute_values_name_the_line_and_attribute() {
    let err = parse(&with("m=audio 9 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n")).unwrap_err();
    match err {
        SdpError::Invalid { line, what, .. } => assert_eq!((line, what), (6, "a=rtpmap")),
        other => panic!("{other}"),
    }
}

#[test]
fn media_port_out_of_range_is_invalid() {
    let err = parse(&with("m=audio 70000 RTP/AVP 0\r\n")).unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::Invalid {
                line: 5,
                what: "m=",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn fingerprint_of_the_wrong_length_is_invalid() {
    let err = parse(&with("a=fingerprint:sha-256 AB:CD\r\n")).unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::Invalid {
                line: 5,
                what: "a=fingerprint",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn extmap_id_zero_is_invalid() {
    let err = parse(&with("m=audio 9 RTP/AVP 0\r\na=extmap:0 urn:x\r\n")).unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::Invalid {
                line: 6,
                what: "a=extmap",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn flag_attributes_take_no_value() {
    let err = parse(&with("a=ice-lite:yes\r\n")).unwrap_err();
    assert!(matches!(err, SdpError::Invalid { line: 5, .. }), "{err}");
}

#[test]
fn input_over_the_byte_limit_is_rejected_before_parsing() {
    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let err = parse_bytes(HEAD.as_bytes(), &limits).unwrap_err();
    assert!(matches!(err, SdpError::TooLarge { limit: 10, .. }), "{err}");
}

#[test]
fn default_limit_is_256_kib() {
    let big = with(&"a=x\r\n".repeat(60_000));
    assert!(big.len() > 256 * 1024);
    assert!(matches!(
        parse(&big).unwrap_err(),
        SdpError::TooLarge { .. }
    ));
}

#[test]
fn too_many_lines_are_rejected() {
    let limits = Limits {
        max_lines: 5,
        ..Limits::default()
    };
    let err = parse_bytes(with("a=x\r\na=y\r\n").as_bytes(), &limits).unwrap_err();
    assert_eq!(err, SdpError::TooManyLines { limit: 5 });
}

#[test]
fn too_long_lines_are_rejected_with_their_line() {
    let limits = Limits {
        max_line_length: 30,
        ..Limits::default()
    };
    let err = parse_bytes(
        with("a=0123456789012345678901234567890\r\n").as_bytes(),
        &limits,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::LineTooLong {
                line: 5,
                limit: 30,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn too_many_media_sections_are_rejected() {
    let limits = Limits {
        max_media: 1,
        ..Limits::default()
    };
    let text = with("m=audio 9 RTP/AVP 0\r\nm=audio 9 RTP/AVP 0\r\n");
    let err = parse_bytes(text.as_bytes(), &limits).unwrap_err();
    assert_eq!(err, SdpError::TooManyMedia { line: 6, limit: 1 });
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let mut bytes = HEAD.as_bytes().to_vec();
    bytes.extend_from_slice(b"a=x\xff\r\n");
    assert_eq!(
        parse_bytes(&bytes, &Limits::default()).unwrap_err(),
        SdpError::NotUtf8 { line: 5 }
    );
}

#[test]
fn lf_only_input_is_written_with_crlf() {
    let sdp = parse(&HEAD.replace("\r\n", "\n")).expect("parses");
    assert_eq!(sdp.to_string(), HEAD);
}

#[test]
fn empty_lines_are_skipped() {
    let sdp = parse(&with("\r\n\r\na=x\r\n")).expect("parses");
    assert_eq!(sdp.to_string(), with("a=x\r\n"));
}

#[test]
fn unknown_attributes_are_kept_in_order() {
    let text = with("a=zzz\r\na=mid:0\r\na=yyy:1 2  3\r\n");
    let sdp = parse(&text).expect("parses");
    assert_eq!(
        sdp.attributes[0],
        Attribute::Other {
            name: "zzz".into(),
            value: None
        }
    );
    assert_eq!(sdp.attributes[1], Attribute::Mid("0".into()));
    assert_eq!(sdp.to_string(), text);
}

#[test]
fn known_attributes_in_a_non_canonical_spelling_are_kept_verbatim() {
    let text = with("m=video 9 RTP/AVP 96\r\na=extmap:01 urn:x\r\na=ptime:20.0\r\n");
    let sdp = parse(&text).expect("parses");
    assert!(matches!(
        sdp.media[0].attributes[0],
        Attribute::Other { .. }
    ));
    assert!(matches!(
        sdp.media[0].attributes[1],
        Attribute::Other { .. }
    ));
    assert_eq!(sdp.to_string(), text);
}

#[test]
fn optional_session_fields_round_trip_in_rfc_order() {
    let text = "v=0\r\no=alice 2890844526 2890842807 IN IP4 10.47.16.5\r\ns=SDP Seminar\r\n\
                i=A Seminar\r\nu=http://www.example.com/seminars/sdp.pdf\r\n\
                e=j.doe@example.com (Jane Doe)\r\np=+1 617 555-6011\r\nc=IN IP4 224.2.17.12/127\r\n\
                b=CT:128\r\nt=2873397496 2873404696\r\nr=7d 1h 0 25h\r\nt=0 0\r\nz=2882844526 -1h\r\n\
                k=prompt\r\na=recvonly\r\nm=audio 49170 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 224.2.17.12/127\r\n\
                b=AS:64\r\nb=TIAS:64000\r\nk=prompt\r\na=ptime:20\r\na=maxptime:40\r\n\
                m=video 51372/2 RTP/AVP 99\r\na=rtpmap:99 h263-1998/90000\r\na=framerate:29.97\r\n";
    let sdp = parse(text).expect("parses");
    assert_eq!(sdp.times.len(), 2);
    assert_eq!(sdp.times[0].repeats, ["7d 1h 0 25h"]);
    assert_eq!(sdp.media[0].bandwidths[1].value, 64000);
    assert_eq!(sdp.media[1].port_count, Some(2));
    assert_eq!(sdp.media[0].attributes[0], Attribute::Ptime(20.0));
    assert_eq!(sdp.media[1].attributes[1], Attribute::Framerate(29.97));
    assert_eq!(sdp.to_string(), text);
}

#[test]
fn repeat_line_without_timing_is_rejected() {
    let err = parse("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nr=1 2 3\r\n").unwrap_err();
    assert!(
        matches!(
            err,
            SdpError::Invalid {
                line: 4,
                what: "r=",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn cr_inside_a_line_is_invalid() {
    let err = parse(&with("a=x\ry\r\n")).unwrap_err();
    assert!(matches!(err, SdpError::Invalid { line: 5, .. }), "{err}");
}

#[test]
fn error_messages_name_the_line() {
    let err = parse(&with("a=setup:sideways\r\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 5: invalid a=setup: unknown role `sideways`"
    );
}
