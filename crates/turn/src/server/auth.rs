//! Long-term credentials on the server side (RFC 8489 §9.2): who may
//! authenticate (a users table and the shared-secret "TURN REST API"
//! scheme), and stateless nonces that expire.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use aws_lc_rs::{constant_time, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The nonce cookie (RFC 8489 §9.2): "obMatJos2" then the 24 security
/// feature bits in base64. Bit 0 (the rightmost, erratum 6290) is
/// "Password algorithms": we send PASSWORD-ALGORITHMS.
pub(crate) const NONCE_COOKIE: &str = "obMatJos2AAAB";

/// Bytes of the nonce MAC kept (hex encoded: twice as many characters).
const NONCE_MAC_LEN: usize = 12;

/// Why a user's password cannot be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// Neither in the users table nor a REST username (when a secret is set).
    UnknownUser,
    /// A REST username whose expiry time has passed.
    Expired,
}

/// Who may authenticate: `name:password` users and, with a shared secret,
/// the TURN REST API (draft-uberti-behave-turn-rest-00 §2.2, as coturn's
/// `use-auth-secret`): username `expiry:name` with `expiry` a unix time,
/// password `base64(HMAC-SHA1(secret, username))`.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    users: HashMap<String, String>,
    secret: Option<Vec<u8>>,
}

impl Credentials {
    /// A users table (name to password) and an optional shared secret.
    pub fn new(users: HashMap<String, String>, secret: Option<&str>) -> Credentials {
        Credentials {
            users,
            secret: secret.map(|s| s.as_bytes().to_vec()),
        }
    }

    /// Parses a users file: one `name:password` per line; blank lines and
    /// lines starting with `#` are skipped. Errors name the first bad line.
    pub fn parse_users(text: &str) -> Result<HashMap<String, String>, String> {
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((name, password)) if !name.is_empty() => {
                    users.insert(name.to_owned(), password.to_owned());
                }
                _ => return Err(format!("line {}: expected name:password", n + 1)),
            }
        }
        Ok(users)
    }

    /// Whether anyone at all can authenticate.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.secret.is_none()
    }

    /// The password of `username` at unix time `unix_now`.
    pub(crate) fn password(&self, username: &str, unix_now: u64) -> Result<String, LookupError> {
        if let Some(p) = self.users.get(username) {
            return Ok(p.clone());
        }
        let secret = self.secret.as_ref().ok_or(LookupError::UnknownUser)?;
        let (expiry, _name) = username.split_once(':').ok_or(LookupError::UnknownUser)?;
        let expiry: u64 = expiry.parse().map_err(|_| LookupError::UnknownUser)?;
        if expiry < unix_now {
            return Err(LookupError::Expired);
        }
        Ok(rest_password(secret, username))
    }
}

/// The TURN REST API password of `username`: base64(HMAC-SHA1(secret, username)).
pub fn rest_password(secret: &[u8], username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    BASE64.encode(hmac::sign(&key, username.as_bytes()))
}

/// What a NONCE attribute turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Ours, for this client address, not expired.
    Valid,
    /// Ours but past its expiry: 438 Stale Nonce (RFC 8489 §9.2.4).
    Expired,
    /// Not ours, altered, or issued to another client address: 438 too.
    Invalid,
}

/// Stateless nonces (RFC 8489 §9.2, RFC 7616 style): the cookie, the expiry
/// (unix seconds, hex) and a MAC of both and the client's IP under a server
/// key. Nothing is stored per client, and servers that share the key (all
/// `ferrtc turn` instances with one `--secret`) accept each other's nonces.
#[derive(Debug)]
pub(crate) struct Nonces {
    key: hmac::Key,
    lifetime: Duration,
}

impl Nonces {
    pub(crate) fn new(key: &[u8], lifetime: Duration) -> Nonces {
        Nonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            lifetime,
        }
    }

    fn mac(&self, expiry_hex: &str, client: IpAddr) -> [u8; NONCE_MAC_LEN] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(NONCE_COOKIE.as_bytes());
        ctx.update(expiry_hex.as_bytes());
        match client {
            IpAddr::V4(ip) => ctx.update(&ip.octets()),
            IpAddr::V6(ip) => ctx.update(&ip.octets()),
        }
        let tag = ctx.sign();
        let mut out = [0u8; NONCE_MAC_LEN];
        out.copy_from_slice(&tag.as_ref()[..NONCE_MAC_LEN]);
        out
    }

    /// An unguessable RESERVATION-TOKEN (RFC 8656 §14.9) for counter `n`.
    pub(crate) fn token(&self, n: u64) -> u64 {
        let tag = hmac::sign(&self.key, &n.to_be_bytes());
        let mut t = [0u8; 8];
        t.copy_from_slice(&tag.as_ref()[..8]);
        u64::from_be_bytes(t)
    }

    /// A fresh nonce for `client`, valid until `unix_now + lifetime`.
    pub(crate) fn issue(&self, unix_now: u64, client: IpAddr) -> String {
        let expiry = format!("{:016x}", unix_now.saturating_add(self.lifetime.as_secs()));
        let mac = self.mac(&expiry, client);
        let mut nonce = String::with_capacity(NONCE_COOKIE.len() + 16 + 2 * NONCE_MAC_LEN);
        nonce.push_str(NONCE_COOKIE);
        nonce.push_str(&expiry);
        for b in mac {
            nonce.push_str(&format!("{b:02x}"));
        }
        nonce
    }

    /// Checks a nonce from a request of `client`.
    pub(crate) fn check(&self, nonce: &str, unix_now: u64, client: IpAddr) -> NonceCheck {
        let Some(rest) = nonce.strip_prefix(NONCE_COOKIE) else {
            return NonceCheck::Invalid;
        };
        if rest.len() != 16 + 2 * NONCE_MAC_LEN || !rest.is_ascii() {
            return NonceCheck::Invalid;
        }
        let (expiry_hex, mac_hex) = rest.split_at(16);
        let Ok(expiry) = u64::from_str_radix(expiry_hex, 16) else {
            return NonceCheck::Invalid;
        };
        let mut mac = [0u8; NONCE_MAC_LEN];
        for (i, b) in mac.iter_mut().enumerate() {
            match mac_hex
                .get(2 * i..2 * i + 2)
                .map(|h| u8::from_str_radix(h, 16))
            {
                Some(Ok(v)) => *b = v,
                _ => return NonceCheck::Invalid,
            }
        }
        if constant_time::verify_slices_are_equal(&mac, &self.mac(expiry_hex, client)).is_err() {
            return NonceCheck::Invalid;
        }
        if expiry < unix_now {
            NonceCheck::Expired
        } else {
            NonceCheck::Valid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "192.0.2.10";

    #[test]
    fn a_nonce_is_valid_for_its_client_until_it_expires() {
        let n = Nonces::new(b"k", Duration::from_secs(600));
        let ip: IpAddr = ALICE.parse().unwrap();
        let nonce = n.issue(1_000, ip);
        assert!(nonce.starts_with("obMatJos2AAAB"));
        assert_eq!(n.check(&nonce, 1_000, ip), NonceCheck::Valid);
        assert_eq!(n.check(&nonce, 1_600, ip), NonceCheck::Valid);
        assert_eq!(n.check(&nonce, 1_601, ip), NonceCheck::Expired);
        // Replayed from another address.
        assert_eq!(
            n.check(&nonce, 1_000, "192.0.2.11".parse().unwrap()),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn altered_or_foreign_nonces_are_invalid() {
        let n = Nonces::new(b"k", Duration::from_secs(600));
        let ip: IpAddr = ALICE.parse().unwrap();
        let nonce = n.issue(1_000, ip);
        // Pushing the expiry forward breaks the MAC.
        let forged = nonce.replacen("0000000000000", "00000000000ff", 1);
        assert_ne!(forged, nonce);
        assert_eq!(n.check(&forged, 1_000, ip), NonceCheck::Invalid);
        assert_eq!(
            Nonces::new(b"other", Duration::from_secs(600)).check(&nonce, 1_000, ip),
            NonceCheck::Invalid
        );
        for junk in [
            "",
            "obMatJos2AAAB",
            "xyz",
            "obMatJos2AAABzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "obMatJos2AAABé",
        ] {
            assert_eq!(n.check(junk, 1_000, ip), NonceCheck::Invalid, "{junk}");
        }
        // Servers sharing the key accept each other's nonces.
        assert_eq!(
            Nonces::new(b"k", Duration::from_secs(60)).check(&nonce, 1_000, ip),
            NonceCheck::Valid
        );
    }

    #[test]
    fn rest_usernames_carry_their_expiry_and_users_file_lines_parse() {
        let users = Credentials::parse_users("# comment\nalice:pw\n\nbob:a:b\n").unwrap();
        assert_eq!(users.get("bob").map(String::as_str), Some("a:b"));
        assert!(
            Credentials::parse_users("nopassword\n")
                .unwrap_err()
                .contains("line 1")
        );
        let c = Credentials::new(users, Some("s3cret"));
        assert_eq!(c.password("alice", 0), Ok("pw".into()));
        assert_eq!(
            c.password("2000:carol", 1_999),
            Ok(rest_password(b"s3cret", "2000:carol"))
        );
        assert_eq!(c.password("2000:carol", 2_001), Err(LookupError::Expired));
        assert_eq!(c.password("carol", 0), Err(LookupError::UnknownUser));
        assert_eq!(
            Credentials::new(HashMap::new(), None).password("2000:carol", 0),
            Err(LookupError::UnknownUser)
        );
        // The scheme coturn documents: base64 of a 20-byte HMAC-SHA1.
        assert_eq!(rest_password(b"s3cret", "2000:carol").len(), 28);
    }
}
