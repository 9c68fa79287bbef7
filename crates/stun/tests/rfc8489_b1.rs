//! RFC 8489 Appendix B.1: request with long-term authentication,
//! MESSAGE-INTEGRITY-SHA256 and USERHASH.
//!
//! The vector as printed in RFC 8489 is inconsistent (its length field says
//! 0x9c for 0x88 bytes of attributes); verified erratum 6268 corrects it by
//! adding PASSWORD-ALGORITHM (SHA-256) and recomputing the MAC. These are the
//! corrected bytes.

use ferrtc_stun::{
    Attribute, Class, Message, MessageBuilder, Method, PasswordAlgorithm, PasswordAlgorithmValue,
    TransactionId, long_term_key, userhash,
};

const VECTOR: [u8; 164] = [
    0x00, 0x01, 0x00, 0x90, 0x21, 0x12, 0xa4, 0x42, // type, length, cookie
    0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e, // transaction id
    0x00, 0x1e, 0x00, 0x20, // USERHASH
    0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69, 0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17, 0xda, 0x0f,
    0x24, 0x81, 0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2, 0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f, 0x17,
    0x04, //
    0x00, 0x15, 0x00, 0x29, // NONCE
    0x6f, 0x62, 0x4d, 0x61, 0x74, 0x4a, 0x6f, 0x73, 0x32, 0x41, 0x41, 0x41, 0x43, 0x66, 0x2f, 0x2f,
    0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36, 0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39,
    0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73, 0x41, 0x00, 0x00, 0x00, //
    0x00, 0x14, 0x00, 0x0b, // REALM
    0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, //
    0x00, 0x1d, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, // PASSWORD-ALGORITHM: SHA-256
    0x00, 0x1c, 0x00, 0x20, // MESSAGE-INTEGRITY-SHA256
    0xb5, 0xc7, 0xbf, 0x00, 0x5b, 0x6c, 0x52, 0xa2, 0x1c, 0x51, 0xc5, 0xe8, 0x92, 0xf8, 0x19, 0x24,
    0x13, 0x62, 0x96, 0xcb, 0x92, 0x7c, 0x43, 0x14, 0x93, 0x09, 0x27, 0x8c, 0xc6, 0x51, 0x8e, 0x65,
];

const USERNAME: &str = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
// "The<U+00AD>M<U+00AA>tr<U+2168>" after OpaqueString processing, which this
// crate leaves to the caller.
const PASSWORD: &str = "TheMatrIX";
const REALM: &str = "example.org";
const NONCE: &str = "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA";
const TID: TransactionId = TransactionId([
    0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e,
]);

#[test]
fn userhash_of_the_sample_credentials_matches_the_vector() {
    let msg = Message::parse(&VECTOR).unwrap();
    let expected = userhash(USERNAME, REALM);
    assert_eq!(
        msg.attributes().next(),
        Some(Ok(Attribute::UserHash(&expected[..])))
    );
}

#[test]
fn sample_parses_and_message_integrity_sha256_verifies_with_the_sha256_key() {
    let msg = Message::parse(&VECTOR).unwrap();
    assert_eq!(msg.class(), Class::Request);
    assert_eq!(msg.transaction_id(), TID);
    let attrs: Vec<_> = msg.attributes().collect::<Result<_, _>>().unwrap();
    assert_eq!(attrs[1], Attribute::Nonce(NONCE));
    assert_eq!(attrs[2], Attribute::Realm(REALM));
    assert_eq!(
        attrs[3],
        Attribute::PasswordAlgorithm(PasswordAlgorithm::Sha256.into())
    );
    assert!(matches!(attrs[4], Attribute::MessageIntegritySha256(m) if m.len() == 32));

    let key = long_term_key(USERNAME, REALM, PASSWORD, PasswordAlgorithm::Sha256);
    msg.verify_message_integrity_sha256(&key).unwrap();
    let md5_key = long_term_key(USERNAME, REALM, PASSWORD, PasswordAlgorithm::Md5);
    assert!(msg.verify_message_integrity_sha256(&md5_key).is_err());
}

#[test]
fn sample_rebuilds_byte_identical() {
    let key = long_term_key(USERNAME, REALM, PASSWORD, PasswordAlgorithm::Sha256);
    let hash = userhash(USERNAME, REALM);
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
    b.add(&Attribute::UserHash(&hash)).unwrap();
    b.add(&Attribute::Nonce(NONCE)).unwrap();
    b.add(&Attribute::Realm(REALM)).unwrap();
    b.add(&Attribute::PasswordAlgorithm(PasswordAlgorithmValue::from(
        PasswordAlgorithm::Sha256,
    )))
    .unwrap();
    b.add_message_integrity_sha256(&key);
    b.finish();
    assert_eq!(buf, VECTOR);
}
