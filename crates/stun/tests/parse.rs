//! Parser behaviour on well-formed and hostile messages (RFC 8489 §5, §6.3,
//! §14): header checks, limits, skipping rules, per-attribute errors.

use ferrtc_stun::{
    AddressFamily, Attribute, Class, Error, MAGIC_COOKIE, MAX_ATTRIBUTES, Message, MessageBuilder,
    Method, TransactionId, attribute_type as t, is_stun_message,
};

const TID: TransactionId = TransactionId([9; 12]);

/// A header for `body_len` bytes of attributes, followed by `body`.
fn message(typ: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&typ.to_be_bytes());
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(&TID.0);
    m.extend_from_slice(body);
    m
}

/// One TLV with zero padding.
fn tlv(typ: u16, value: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&typ.to_be_bytes());
    a.extend_from_slice(&(value.len() as u16).to_be_bytes());
    a.extend_from_slice(value);
    a.resize(a.len().div_ceil(4) * 4, 0);
    a
}

/// Appends a TLV to a finished message and fixes the header length.
fn append(msg: &mut Vec<u8>, typ: u16, value: &[u8]) {
    msg.extend_from_slice(&tlv(typ, value));
    let len = (msg.len() - 20) as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
}

#[test]
fn a_bare_binding_request_parses() {
    let m = message(0x0001, &[]);
    let msg = Message::parse(&m).unwrap();
    assert_eq!(msg.class(), Class::Request);
    assert_eq!(msg.method(), Method::BINDING);
    assert_eq!(msg.transaction_id(), TID);
    assert_eq!(msg.attributes().count(), 0);
    assert_eq!(msg.as_bytes(), &m[..]);
    assert!(is_stun_message(&m));
}

#[test]
fn datagram_shorter_than_the_header_is_rejected() {
    let m = message(0x0001, &[]);
    assert_eq!(parse_err(&m[..19]), Error::TooShort { len: 19 });
    assert_eq!(parse_err(&[]), Error::TooShort { len: 0 });
}

fn parse_err(bytes: &[u8]) -> Error {
    Message::parse(bytes).expect_err("parse must fail")
}

#[test]
fn nonzero_top_bits_are_not_stun() {
    let mut m = message(0x0001, &[]);
    m[0] = 0x80;
    assert_eq!(parse_err(&m), Error::NotStun);
    assert!(!is_stun_message(&m));
}

#[test]
fn wrong_magic_cookie_is_rejected() {
    let mut m = message(0x0001, &[]);
    m[4] = 0x22;
    assert_eq!(parse_err(&m), Error::BadMagicCookie { found: 0x2212_A442 });
}

#[test]
fn length_not_a_multiple_of_four_is_rejected() {
    let mut m = message(0x0001, &[0, 0]);
    m[3] = 2;
    assert_eq!(parse_err(&m), Error::UnalignedLength { len: 2 });
}

#[test]
fn length_that_disagrees_with_the_datagram_is_rejected() {
    let mut m = message(0x0001, &tlv(t::PRIORITY, &[0, 0, 0, 1]));
    m.extend_from_slice(&[0; 4]);
    assert_eq!(
        parse_err(&m),
        Error::LengthMismatch {
            header: 8,
            actual: 12
        }
    );
}

#[test]
fn attribute_running_past_the_end_is_rejected() {
    let mut body = tlv(t::PRIORITY, &[0, 0, 0, 1]);
    body[3] = 8; // claims 8 bytes, has 4
    let m = message(0x0001, &body);
    assert_eq!(
        parse_err(&m),
        Error::AttributeOverflow {
            typ: t::PRIORITY,
            len: 8
        }
    );
}

#[test]
fn at_most_max_attributes_are_accepted() {
    let one = tlv(t::USE_CANDIDATE, &[]);
    let body: Vec<u8> = one.repeat(MAX_ATTRIBUTES);
    let m = message(0x0001, &body);
    assert_eq!(
        Message::parse(&m).unwrap().attributes().count(),
        MAX_ATTRIBUTES
    );

    let body: Vec<u8> = one.repeat(MAX_ATTRIBUTES + 1);
    let m = message(0x0001, &body);
    assert_eq!(
        parse_err(&m),
        Error::TooManyAttributes {
            max: MAX_ATTRIBUTES
        }
    );
}

#[test]
fn unknown_attributes_are_kept_raw_and_required_ones_reported() {
    let mut body = tlv(0x7FFF, b"abc");
    body.extend(tlv(0x8077, b"optional"));
    body.extend(tlv(t::PRIORITY, &[0, 0, 0, 1]));
    body.extend(tlv(0x0077, &[]));
    let m = message(0x0001, &body);
    let msg = Message::parse(&m).unwrap();
    let attrs: Vec<_> = msg.attributes().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        attrs,
        [
            Attribute::Unknown {
                typ: 0x7FFF,
                value: b"abc"
            },
            Attribute::Unknown {
                typ: 0x8077,
                value: b"optional"
            },
            Attribute::Priority(1),
            Attribute::Unknown {
                typ: 0x0077,
                value: b""
            },
        ]
    );
    assert_eq!(
        msg.unknown_comprehension_required().collect::<Vec<_>>(),
        [0x7FFF, 0x0077]
    );
}

#[test]
fn a_malformed_value_fails_only_its_own_attribute() {
    let mut body = tlv(t::USERNAME, &[0xff, 0xfe]);
    body.extend(tlv(t::PRIORITY, &[0, 0, 0, 7]));
    body.extend(tlv(t::ICE_CONTROLLING, &[1, 2, 3]));
    let m = message(0x0001, &body);
    let msg = Message::parse(&m).unwrap();
    let attrs: Vec<_> = msg.attributes().collect();
    assert_eq!(
        attrs,
        [
            Err(Error::InvalidUtf8 { typ: t::USERNAME }),
            Ok(Attribute::Priority(7)),
            Err(Error::InvalidAttributeLength {
                typ: t::ICE_CONTROLLING,
                len: 3
            }),
        ]
    );
}

#[test]
fn address_with_unknown_family_is_an_error() {
    let m = message(
        0x0101,
        &tlv(t::XOR_MAPPED_ADDRESS, &[0, 3, 0, 0, 1, 2, 3, 4]),
    );
    let msg = Message::parse(&m).unwrap();
    assert_eq!(
        msg.attributes().next(),
        Some(Err(Error::UnknownAddressFamily {
            typ: t::XOR_MAPPED_ADDRESS,
            family: 3
        }))
    );
}

#[test]
fn ipv4_family_with_ipv6_length_is_an_error() {
    let mut value = vec![0, 1, 0, 0];
    value.extend([0; 16]);
    let m = message(0x0101, &tlv(t::MAPPED_ADDRESS, &value));
    let msg = Message::parse(&m).unwrap();
    assert!(matches!(
        msg.attributes().next(),
        Some(Err(Error::InvalidAttributeLength { .. }))
    ));
}

#[test]
fn error_code_outside_classes_3_to_6_is_an_error() {
    let m = message(0x0111, &tlv(t::ERROR_CODE, &[0, 0, 2, 0]));
    let msg = Message::parse(&m).unwrap();
    assert_eq!(
        msg.attributes().next(),
        Some(Err(Error::InvalidErrorCode {
            typ: t::ERROR_CODE,
            class: 2,
            number: 0
        }))
    );
    let m = message(0x0111, &tlv(t::ERROR_CODE, &[0, 0, 4, 100]));
    let msg = Message::parse(&m).unwrap();
    assert!(msg.attributes().next().unwrap().is_err());
}

fn signed_request(key: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
    b.add(&Attribute::Username("a:b")).unwrap();
    b.add_message_integrity(key);
    b.finish();
    buf
}

#[test]
fn attributes_after_message_integrity_are_ignored_except_sha256_and_fingerprint() {
    // RFC 8489 §14.5: receivers ignore what follows MESSAGE-INTEGRITY, except
    // MESSAGE-INTEGRITY-SHA256 and FINGERPRINT.
    let mut m = signed_request(b"key");
    append(&mut m, t::PRIORITY, &[0, 0, 0, 1]);
    append(&mut m, 0x0077, &[]);
    let msg = Message::parse(&m).unwrap();
    let types: Vec<u16> = msg.raw_attributes().map(|(typ, _)| typ).collect();
    assert_eq!(types, [t::USERNAME, t::MESSAGE_INTEGRITY]);
    assert_eq!(msg.unknown_comprehension_required().count(), 0);
    // The MAC covers only what precedes it, so it still verifies.
    msg.verify_message_integrity(b"key").unwrap();
}

#[test]
fn attributes_after_fingerprint_are_ignored() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::BINDING, TID);
    b.add_fingerprint();
    b.finish();
    append(&mut buf, t::SOFTWARE, b"late");
    let msg = Message::parse(&buf).unwrap();
    assert_eq!(
        msg.attributes().collect::<Vec<_>>(),
        [Ok(Attribute::Fingerprint(u32::from_be_bytes(
            buf[24..28].try_into().unwrap()
        )))]
    );
    msg.verify_fingerprint().unwrap();
}

#[test]
fn integrity_checks_say_what_is_missing() {
    let m = message(0x0001, &[]);
    let msg = Message::parse(&m).unwrap();
    assert_eq!(
        msg.verify_message_integrity(b"k"),
        Err(Error::MissingIntegrity("MESSAGE-INTEGRITY"))
    );
    assert_eq!(
        msg.verify_message_integrity_sha256(b"k"),
        Err(Error::MissingIntegrity("MESSAGE-INTEGRITY-SHA256"))
    );
    assert_eq!(msg.verify_fingerprint(), Err(Error::MissingFingerprint));
}

#[test]
fn message_integrity_of_wrong_length_fails_verification() {
    let m = message(0x0001, &tlv(t::MESSAGE_INTEGRITY, &[0; 16]));
    let msg = Message::parse(&m).unwrap();
    assert_eq!(
        msg.verify_message_integrity(b"k"),
        Err(Error::InvalidAttributeLength {
            typ: t::MESSAGE_INTEGRITY,
            len: 16
        })
    );
}

#[test]
fn tampering_after_signing_breaks_message_integrity() {
    let mut m = signed_request(b"key");
    m[24] = b'x'; // USERNAME "a:b" -> "x:b"
    let msg = Message::parse(&m).unwrap();
    assert_eq!(
        msg.verify_message_integrity(b"key"),
        Err(Error::IntegrityMismatch("MESSAGE-INTEGRITY"))
    );
}

#[test]
fn truncated_message_integrity_sha256_verifies_and_detects_tampering() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, TID);
    b.add(&Attribute::RequestedTransport(17)).unwrap();
    b.try_add_message_integrity_sha256(b"key", 16).unwrap();
    b.add_fingerprint();
    b.finish();
    let msg = Message::parse(&buf).unwrap();
    assert!(matches!(
        msg.attribute(t::MESSAGE_INTEGRITY_SHA256),
        Some(Ok(Attribute::MessageIntegritySha256(m))) if m.len() == 16
    ));
    msg.verify_message_integrity_sha256(b"key").unwrap();
    msg.verify_fingerprint().unwrap();
    assert!(msg.verify_message_integrity_sha256(b"other").is_err());

    buf[24] = 6; // REQUESTED-TRANSPORT 17 -> 6
    let msg = Message::parse(&buf).unwrap();
    assert!(msg.verify_message_integrity_sha256(b"key").is_err());
}

#[test]
fn both_integrity_attributes_verify_and_fingerprint_covers_them() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
    b.add(&Attribute::Username("u")).unwrap();
    b.add_message_integrity(b"k1");
    b.add_message_integrity_sha256(b"k1");
    b.add_fingerprint();
    b.finish();
    let msg = Message::parse(&buf).unwrap();
    msg.verify_message_integrity(b"k1").unwrap();
    msg.verify_message_integrity_sha256(b"k1").unwrap();
    msg.verify_fingerprint().unwrap();
    assert!(msg.has_message_integrity());
    assert!(msg.has_message_integrity_sha256());
    assert!(msg.has_fingerprint());
}

#[test]
fn turn_attributes_decode_from_their_wire_layout() {
    let mut body = tlv(t::CHANNEL_NUMBER, &[0x40, 0x01, 0, 0]);
    body.extend(tlv(t::LIFETIME, &600u32.to_be_bytes()));
    body.extend(tlv(t::REQUESTED_TRANSPORT, &[17, 0, 0, 0]));
    body.extend(tlv(t::EVEN_PORT, &[0x80]));
    body.extend(tlv(t::REQUESTED_ADDRESS_FAMILY, &[2, 0, 0, 0]));
    body.extend(tlv(t::ADDRESS_ERROR_CODE, &[1, 0, 4, 40, b'n', b'o']));
    // ICMP type 3 (7 bits) and code 4 (9 bits): 0b0000011_000000100.
    body.extend(tlv(t::ICMP, &[0, 0, 0x06, 0x04, 0, 0, 0x05, 0xdc]));
    body.extend(tlv(t::DONT_FRAGMENT, &[]));
    let m = message(0x0003, &body);
    let msg = Message::parse(&m).unwrap();
    assert_eq!(msg.method(), Method::ALLOCATE);
    let attrs: Vec<_> = msg.attributes().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        attrs,
        [
            Attribute::ChannelNumber(0x4001),
            Attribute::Lifetime(600),
            Attribute::RequestedTransport(17),
            Attribute::EvenPort { reserve: true },
            Attribute::RequestedAddressFamily(AddressFamily::Ipv6),
            Attribute::AddressErrorCode {
                family: AddressFamily::Ipv4,
                code: 440,
                reason: "no"
            },
            Attribute::Icmp {
                typ: 3,
                code: 4,
                data: 1500
            },
            Attribute::DontFragment,
        ]
    );
}
