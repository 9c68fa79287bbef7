//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`).

use crate::Message;

/// Parses `data` as a STUN message and, if it parses, decodes every attribute
/// and runs every check, so the fuzzer reaches all of the parsing code.
pub fn parse_message(data: &[u8]) {
    let _ = crate::is_stun_message(data);
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    for attr in msg.attributes().flatten() {
        match attr {
            crate::Attribute::PasswordAlgorithms(list) => list.iter().for_each(drop),
            crate::Attribute::UnknownAttributes(list) => list.iter().for_each(drop),
            _ => {}
        }
    }
    msg.unknown_comprehension_required().for_each(drop);
    msg.raw_attributes().for_each(drop);
    let _ = msg.verify_message_integrity(b"key");
    let _ = msg.verify_message_integrity_sha256(b"key");
    let _ = msg.verify_fingerprint();
}
