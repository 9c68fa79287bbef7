//! Credentials and the keys they give (RFC 8489 §9.1, §9.2), USERHASH
//! (RFC 8489 §14.4), and the MAC and CRC primitives behind
//! MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT.
//!
//! Passwords, usernames and realms are used as the UTF-8 bytes given: the
//! OpaqueString profile (RFC 8265) that RFC 8489 §9.2.2 asks senders to apply
//! first is out of scope. Callers that need it must prepare the strings
//! themselves (for ASCII credentials, as ICE uses, it is the identity).

use aws_lc_rs::{constant_time, digest, hmac};
use md5::{Digest, Md5};

pub use crate::attribute::PasswordAlgorithm;

/// XORed into the CRC-32 to make FINGERPRINT (RFC 8489 §14.7): "STUN".
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// The key for short-term credentials: the password itself (RFC 8489 §9.1.1),
/// as used by ICE connectivity checks (RFC 8445 §7.2.2).
pub fn short_term_key(password: &str) -> Vec<u8> {
    password.as_bytes().to_vec()
}

/// The key for long-term credentials (RFC 8489 §9.2.2):
/// `MD5(username ":" realm ":" password)` (16 bytes) or, with
/// [`PasswordAlgorithm::Sha256`], `SHA-256(...)` of the same string (32 bytes).
///
/// The strings are not OpaqueString-processed (see the module docs).
pub fn long_term_key(
    username: &str,
    realm: &str,
    password: &str,
    alg: PasswordAlgorithm,
) -> Vec<u8> {
    let parts = [
        username.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ];
    match alg {
        PasswordAlgorithm::Md5 => {
            let mut h = Md5::new();
            parts.iter().for_each(|p| h.update(p));
            h.finalize().to_vec()
        }
        PasswordAlgorithm::Sha256 => {
            let mut h = digest::Context::new(&digest::SHA256);
            parts.iter().for_each(|p| h.update(p));
            h.finish().as_ref().to_vec()
        }
    }
}

/// The USERHASH value: `SHA-256(username ":" realm)` (RFC 8489 §14.4).
pub fn userhash(username: &str, realm: &str) -> [u8; 32] {
    let mut h = digest::Context::new(&digest::SHA256);
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

/// HMAC over a sequence of byte slices.
pub(crate) fn hmac(alg: hmac::Algorithm, key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let key = hmac::Key::new(alg, key);
    let mut ctx = hmac::Context::with_key(&key);
    parts.iter().for_each(|p| ctx.update(p));
    ctx.sign()
}

/// Compares a received MAC with the expected (possibly truncated) one in
/// constant time.
pub(crate) fn mac_matches(expected: &[u8], received: &[u8]) -> bool {
    expected
        .get(..received.len())
        .is_some_and(|e| constant_time::verify_slices_are_equal(e, received).is_ok())
}

/// CRC-32 (ISO-HDLC, as in Ethernet) over a sequence of slices, xor
/// [`FINGERPRINT_XOR`] (RFC 8489 §14.7).
pub(crate) fn fingerprint(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    parts.iter().for_each(|p| h.update(p));
    h.finalize() ^ FINGERPRINT_XOR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_term_key_is_the_password_bytes() {
        assert_eq!(
            short_term_key("VOkJxbRl1RmTxUk/WvJxBt"),
            b"VOkJxbRl1RmTxUk/WvJxBt"
        );
    }

    #[test]
    fn long_term_md5_key_matches_rfc5769_section_2_4() {
        // RFC 5769 §2.4 credentials after SASLprep; key = MD5(user:realm:pass).
        let key = long_term_key(
            "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}",
            "example.org",
            "TheMatrIX",
            PasswordAlgorithm::Md5,
        );
        assert_eq!(key.len(), 16);
        let mut h = Md5::new();
        h.update("\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}:example.org:TheMatrIX");
        assert_eq!(key, h.finalize().to_vec());
    }

    #[test]
    fn long_term_sha256_key_is_sha256_of_the_joined_string() {
        let key = long_term_key("user", "realm", "pass", PasswordAlgorithm::Sha256);
        let d = digest::digest(&digest::SHA256, b"user:realm:pass");
        assert_eq!(key, d.as_ref());
        assert_ne!(
            key,
            long_term_key("user", "realm", "pasS", PasswordAlgorithm::Sha256)
        );
    }

    #[test]
    fn md5_of_known_string_matches_rfc1321_vector() {
        // RFC 1321 appendix A.5: MD5("abc").
        let mut h = Md5::new();
        h.update(b"abc");
        let expected = [
            0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
            0x7f, 0x72,
        ];
        assert_eq!(h.finalize().as_slice(), expected);
    }

    #[test]
    fn crc32_check_value_matches_the_catalogue() {
        // CRC-32/ISO-HDLC check value of "123456789".
        assert_eq!(
            fingerprint(&[b"1234", b"56789"]) ^ FINGERPRINT_XOR,
            0xCBF4_3926
        );
    }

    #[test]
    fn mac_matches_accepts_truncation_and_rejects_change() {
        let full = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert!(mac_matches(&full, &full[..4]));
        assert!(!mac_matches(&full, &[1, 2, 3, 5]));
        assert!(!mac_matches(&full[..4], &full));
    }
}
