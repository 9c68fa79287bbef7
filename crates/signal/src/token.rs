//! Join tokens: who may take which name in which room, until when.
//!
//! With a secret configured ([`crate::SignalConfig::secret`], `--secret S` on
//! the command line), a client must open the WebSocket with
//! `/ws?room=ROOM&token=TOKEN`, and its `join` must name the user the token
//! was made for. A token is
//!
//! ```text
//! EXPIRY.MAC
//! ```
//!
//! where `EXPIRY` is the last valid second as decimal Unix time and `MAC` is
//! the HMAC-SHA256 (RFC 2104, FIPS 180-4) under the secret of the bytes
//! `ferrtc-signal-token-v1\nROOM\nNAME\nEXPIRY`, as 64 lowercase hex
//! digits. `ROOM` is the room's name as the server sees it (`default` when
//! the URL names none). Tokens are minted by the service that lets users in
//! (a web backend), with [`mint`] or any HMAC library; the signaling server
//! only checks them.
//!
//! ```
//! use ferrtc_signal::token::{Token, mint};
//! let token = mint(b"s3cret", "lobby", "alice", 1_900_000_000);
//! let parsed = Token::parse(&token).unwrap();
//! assert!(parsed.verify(b"s3cret", "lobby", "alice", 1_800_000_000).is_ok());
//! assert!(parsed.verify(b"s3cret", "lobby", "mallory", 1_800_000_000).is_err());
//! ```
//!
//! WHIP/WHEP bearer tokens ([`mint_whip`], [`Token::verify_whip`]) have the
//! same `EXPIRY.MAC` form with another context: the MAC is over
//! `ferrtc-whip-token-v1\nROLE\nEXPIRY`, `ROLE` being `publisher` or
//! `viewer`. A join token is never a bearer token, nor the reverse.

use aws_lc_rs::hmac;

use crate::whip::SessionKind;

/// Domain separation: a MAC for another purpose under the same secret is
/// never a valid token.
const CONTEXT: &str = "ferrtc-signal-token-v1";
/// The context of WHIP/WHEP bearer tokens (distinct from join tokens').
const WHIP_CONTEXT: &str = "ferrtc-whip-token-v1";

/// Why a token was refused (all are sent as the `bad-token` error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The server has a secret and the connection carried no token.
    #[error("a join token is required (/ws?token=...)")]
    Missing,
    /// Not `EXPIRY.MAC` with a decimal expiry and 64 hex digits.
    #[error("the token is malformed")]
    Malformed,
    /// The expiry is in the past.
    #[error("the token has expired")]
    Expired,
    /// The MAC does not match this room, name and expiry under the secret.
    #[error("the token is not valid for this room and name")]
    BadSignature,
}

/// A parsed join token, its MAC not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    expiry: u64,
    mac: [u8; 32],
}

impl Token {
    /// Parses `EXPIRY.MAC`; never panics.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let (expiry, mac_hex) = text.split_once('.').ok_or(TokenError::Malformed)?;
        if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenError::Malformed);
        }
        let expiry = expiry.parse().map_err(|_| TokenError::Malformed)?;
        if mac_hex.len() != 64 {
            return Err(TokenError::Malformed);
        }
        let mut mac = [0u8; 32];
        for (byte, pair) in mac.iter_mut().zip(mac_hex.as_bytes().chunks_exact(2)) {
            let hi = hex_digit(pair[0]).ok_or(TokenError::Malformed)?;
            let lo = hex_digit(pair[1]).ok_or(TokenError::Malformed)?;
            *byte = hi << 4 | lo;
        }
        Ok(Self { expiry, mac })
    }

    /// The last second (Unix time) the token is valid.
    pub fn expiry(&self) -> u64 {
        self.expiry
    }

    /// Checks the expiry against `now` (Unix seconds).
    pub fn check_expiry(&self, now: u64) -> Result<(), TokenError> {
        if now > self.expiry {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    /// Checks the expiry and the MAC (in constant time) for `room` and `name`.
    pub fn verify(
        &self,
        secret: &[u8],
        room: &str,
        name: &str,
        now: u64,
    ) -> Result<(), TokenError> {
        self.check_expiry(now)?;
        self.verify_message(secret, &message(room, name, self.expiry))
    }

    /// Checks the expiry and the MAC (in constant time) of a WHIP/WHEP
    /// bearer token (RFC 9725 §4.5) for sessions of `kind`.
    pub fn verify_whip(
        &self,
        secret: &[u8],
        kind: SessionKind,
        now: u64,
    ) -> Result<(), TokenError> {
        self.check_expiry(now)?;
        self.verify_message(secret, &whip_message(kind, self.expiry))
    }

    fn verify_message(&self, secret: &[u8], message: &str) -> Result<(), TokenError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        hmac::verify(&key, message.as_bytes(), &self.mac).map_err(|_| TokenError::BadSignature)
    }
}

/// Makes the token that lets `name` join `room` until `expiry` (Unix
/// seconds, inclusive) on a server with `secret`.
pub fn mint(secret: &[u8], room: &str, name: &str, expiry: u64) -> String {
    sign(secret, &message(room, name, expiry), expiry)
}

/// Makes the WHIP/WHEP bearer token (RFC 9725 §4.5) that lets its holder
/// publish ([`SessionKind::Publish`]) or watch ([`SessionKind::View`])
/// until `expiry` (Unix seconds, inclusive) on a server with `secret`.
pub fn mint_whip(secret: &[u8], kind: SessionKind, expiry: u64) -> String {
    sign(secret, &whip_message(kind, expiry), expiry)
}

fn sign(secret: &[u8], message: &str, expiry: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, message.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{expiry}.{hex}")
}

fn whip_message(kind: SessionKind, expiry: u64) -> String {
    format!("{WHIP_CONTEXT}\n{}\n{expiry}", kind.token_role())
}

fn message(room: &str, name: &str, expiry: u64) -> String {
    // Neither a room nor a name can hold a newline, so the fields cannot be
    // shifted into one another.
    format!("{CONTEXT}\n{room}\n{name}\n{expiry}")
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Seconds since the Unix epoch by the system clock (0 if it is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"correct horse battery staple";

    #[test]
    fn a_minted_token_verifies_for_its_room_and_name_only() {
        let token = Token::parse(&mint(SECRET, "r1", "alice", 100)).unwrap();
        assert_eq!(token.verify(SECRET, "r1", "alice", 50), Ok(()));
        assert_eq!(
            token.verify(SECRET, "r2", "alice", 50),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            token.verify(SECRET, "r1", "bob", 50),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            token.verify(b"other", "r1", "alice", 50),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_token_is_valid_through_its_expiry_second_and_not_after() {
        let token = Token::parse(&mint(SECRET, "r", "a", 100)).unwrap();
        assert_eq!(token.verify(SECRET, "r", "a", 100), Ok(()));
        assert_eq!(
            token.verify(SECRET, "r", "a", 101),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_changed_expiry_breaks_the_mac() {
        let good = mint(SECRET, "r", "a", 100);
        let forged = good.replacen("100.", "999.", 1);
        let token = Token::parse(&forged).unwrap();
        assert_eq!(
            token.verify(SECRET, "r", "a", 50),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let mac = "0".repeat(64);
        for bad in [
            String::new(),
            ".".into(),
            "100".into(),
            format!("100.{}", &mac[..63]),
            format!("100.{mac}0"),
            format!("-1.{mac}"),
            format!("1e3.{mac}"),
            format!("99999999999999999999999.{mac}"),
            format!("100.{}g", &mac[..63]),
            format!("100.{}é", &mac[..62]),
        ] {
            assert_eq!(Token::parse(&bad), Err(TokenError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_format_is_expiry_dot_64_hex_digits() {
        let token = mint(SECRET, "default", "alice", 1_900_000_000);
        let (expiry, mac) = token.split_once('.').unwrap();
        assert_eq!(expiry, "1900000000");
        assert_eq!(mac.len(), 64);
        assert!(
            mac.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
