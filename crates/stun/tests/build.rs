//! Builder rules (RFC 8489 §5, §14): what it writes, what it refuses, and
//! that a refused attribute leaves the message as it was.

use ferrtc_stun::{
    Attribute, Class, Error, MAX_TEXT_CHARS, MAX_USERNAME_LEN, Message, MessageBuilder, Method,
    TransactionId, UnknownAttributes, attribute_type as t, is_stun_message,
};

const TID: TransactionId = TransactionId([3; 12]);

#[test]
fn new_clears_the_buffer_and_writes_the_header() {
    let mut buf = vec![0xAA; 100];
    let b = MessageBuilder::new(&mut buf, Class::ErrorResponse, Method::REFRESH, TID);
    assert_eq!(b.finish(), 20);
    assert_eq!(&buf[..4], &[0x01, 0x14, 0x00, 0x00]);
    assert_eq!(&buf[4..8], &[0x21, 0x12, 0xA4, 0x42]);
    assert_eq!(&buf[8..], &TID.0);
    assert!(is_stun_message(&buf));
}

#[test]
fn attributes_are_padded_with_zeros_and_the_length_kept_current() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
    b.add(&Attribute::Username("abcde")).unwrap();
    b.finish();
    assert_eq!(&buf[2..4], &[0, 12]);
    assert_eq!(
        &buf[20..],
        &[
            0x00, 0x06, 0x00, 0x05, b'a', b'b', b'c', b'd', b'e', 0, 0, 0
        ]
    );
}

fn assert_refused(attr: Attribute<'_>, expected: Error) {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
    b.add(&Attribute::Priority(1)).unwrap();
    assert_eq!(b.add(&attr), Err(expected));
    b.finish();
    // The refused attribute left nothing behind.
    assert_eq!(buf.len(), 28);
    assert_eq!(&buf[2..4], &[0, 8]);
    Message::parse(&buf).unwrap();
}

#[test]
fn computed_attributes_are_refused_by_add() {
    let typ = t::MESSAGE_INTEGRITY;
    assert_refused(
        Attribute::MessageIntegrity(&[0; 20]),
        Error::ComputedAttribute { typ },
    );
    let typ = t::FINGERPRINT;
    assert_refused(Attribute::Fingerprint(0), Error::ComputedAttribute { typ });
    assert_refused(
        Attribute::Unknown {
            typ,
            value: &[0; 4],
        },
        Error::ComputedAttribute { typ },
    );
}

#[test]
fn over_long_values_are_refused() {
    let long = "x".repeat(MAX_USERNAME_LEN + 1);
    assert_refused(
        Attribute::Username(&long),
        Error::ValueTooLong {
            typ: t::USERNAME,
            len: MAX_USERNAME_LEN + 1,
            max: MAX_USERNAME_LEN,
        },
    );
    // 128 characters of two bytes each: under 763 bytes, over 127 characters.
    let realm = "\u{e9}".repeat(MAX_TEXT_CHARS + 1);
    assert_refused(
        Attribute::Realm(&realm),
        Error::ValueTooLong {
            typ: t::REALM,
            len: MAX_TEXT_CHARS + 1,
            max: MAX_TEXT_CHARS,
        },
    );
}

#[test]
fn invalid_values_are_refused() {
    assert_refused(
        Attribute::ErrorCode {
            code: 700,
            reason: "",
        },
        Error::InvalidValue {
            typ: t::ERROR_CODE,
            reason: "error code must be in 300..=699",
        },
    );
    assert_refused(
        Attribute::UserHash(&[0; 31]),
        Error::InvalidValue {
            typ: t::USERHASH,
            reason: "USERHASH must be 32 bytes",
        },
    );
    assert_refused(
        Attribute::Icmp {
            typ: 128,
            code: 0,
            data: 0,
        },
        Error::InvalidValue {
            typ: t::ICMP,
            reason: "ICMP type must fit 7 bits and code 9 bits",
        },
    );
}

#[test]
fn the_message_cannot_outgrow_the_16_bit_length() {
    let big = vec![0u8; 65_000];
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::SEND, TID);
    b.add(&Attribute::Data(&big)).unwrap();
    assert_eq!(b.add(&Attribute::Data(&big)), Err(Error::MessageTooLong));
    let len = b.finish();
    assert_eq!(len, 20 + 4 + 65_000);
    Message::parse(&buf).unwrap();
}

#[test]
fn nothing_may_follow_integrity_except_later_integrity_and_fingerprint() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
    b.try_add_message_integrity(b"k").unwrap();
    assert_eq!(
        b.add(&Attribute::UseCandidate),
        Err(Error::AttributeAfterIntegrity {
            typ: t::USE_CANDIDATE
        })
    );
    assert!(b.try_add_message_integrity(b"k").is_err());
    b.try_add_message_integrity_sha256(b"k", 32).unwrap();
    assert!(b.try_add_message_integrity_sha256(b"k", 32).is_err());
    b.try_add_fingerprint().unwrap();
    assert!(b.try_add_fingerprint().is_err());
    assert!(b.try_add_message_integrity(b"k").is_err());
    b.finish();
    let msg = Message::parse(&buf).unwrap();
    msg.verify_message_integrity(b"k").unwrap();
    msg.verify_message_integrity_sha256(b"k").unwrap();
    msg.verify_fingerprint().unwrap();
}

#[test]
fn message_integrity_sha256_length_must_be_16_to_32_in_steps_of_4() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
    for bad in [0, 12, 18, 36] {
        assert!(b.try_add_message_integrity_sha256(b"k", bad).is_err());
    }
    assert_eq!(b.finish(), 20);
}

#[test]
fn error_response_with_unknown_attributes_round_trips() {
    // The 420 answer RFC 8489 §6.3.1.1 prescribes.
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::ErrorResponse, Method::BINDING, TID);
    b.add(&Attribute::ErrorCode {
        code: 420,
        reason: "Unknown Attribute",
    })
    .unwrap();
    b.add(&Attribute::UnknownAttributes(UnknownAttributes::new(&[
        0x0077, 0x7FFF, 0x0031,
    ])))
    .unwrap();
    b.finish();
    let msg = Message::parse(&buf).unwrap();
    let attrs: Vec<_> = msg.attributes().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        attrs[0],
        Attribute::ErrorCode {
            code: 420,
            reason: "Unknown Attribute"
        }
    );
    let Attribute::UnknownAttributes(list) = attrs[1] else {
        panic!("expected UNKNOWN-ATTRIBUTES, got {:?}", attrs[1]);
    };
    assert_eq!(list.iter().collect::<Vec<_>>(), [0x0077, 0x7FFF, 0x0031]);
    assert_eq!(list.len(), 3);
    // ERROR-CODE: header 4 + code 4 + 17-byte reason padded to 20;
    // UNKNOWN-ATTRIBUTES: header 4 + three types (6 bytes) padded to 8.
    assert_eq!(&buf[2..4], &[0, 4 + 4 + 20 + 4 + 8]);
}
