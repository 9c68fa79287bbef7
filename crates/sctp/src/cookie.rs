//! The state cookie (RFC 9260 §5.1.3): everything the listener needs to build
//! the association from a COOKIE-ECHO, signed with HMAC-SHA256 and time-limited.

use aws_lc_rs::{constant_time, hmac};

use crate::chunk::{InitCaps, Reader};

/// Length of the MAC at the end of a cookie.
const MAC_LEN: usize = 32;
/// Serialized cookie body length.
const BODY_LEN: usize = 4 * 6 + 2 * 2 + 1 + 8;
/// Cookie length on the wire.
pub(crate) const COOKIE_LEN: usize = BODY_LEN + MAC_LEN;

/// The association parameters a cookie carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cookie {
    pub local_tag: u32,
    pub peer_tag: u32,
    pub local_initial_tsn: u32,
    pub peer_initial_tsn: u32,
    pub peer_a_rwnd: u32,
    pub peer_outbound_streams: u16,
    pub peer_inbound_streams: u16,
    pub caps: InitCaps,
    /// Creation time, milliseconds since the association's epoch.
    pub created_ms: u64,
    /// Tie-tag check value: our tag's generation (unused, kept zero).
    pub reserved: u32,
}

/// Signs and verifies cookies with a per-association random key.
///
/// Keeps the 32-byte secret, not an `hmac::Key` (1.2 KiB of precomputed
/// state in every association): cookies are only signed and checked during
/// the handshake, where building the key costs a microsecond.
pub(crate) struct CookieSigner {
    secret: [u8; 32],
}

impl std::fmt::Debug for CookieSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieSigner")
    }
}

impl CookieSigner {
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        Self { secret: *secret }
    }

    /// The key, for tests that compare associations.
    #[cfg(test)]
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    fn key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.secret)
    }

    /// Appends the signed cookie to `out`.
    pub(crate) fn write(&self, c: &Cookie, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&c.local_tag.to_be_bytes());
        out.extend_from_slice(&c.peer_tag.to_be_bytes());
        out.extend_from_slice(&c.local_initial_tsn.to_be_bytes());
        out.extend_from_slice(&c.peer_initial_tsn.to_be_bytes());
        out.extend_from_slice(&c.peer_a_rwnd.to_be_bytes());
        out.extend_from_slice(&c.reserved.to_be_bytes());
        out.extend_from_slice(&c.peer_outbound_streams.to_be_bytes());
        out.extend_from_slice(&c.peer_inbound_streams.to_be_bytes());
        let caps = u8::from(c.caps.forward_tsn)
            | (u8::from(c.caps.reconfig) << 1)
            | (u8::from(c.caps.zero_checksum) << 2)
            | (u8::from(c.caps.i_data) << 3);
        out.push(caps);
        out.extend_from_slice(&c.created_ms.to_be_bytes());
        let tag = hmac::sign(&self.key(), &out[start..]);
        out.extend_from_slice(tag.as_ref());
    }

    /// Verifies the MAC and the age of a cookie (RFC 9260 §5.1.5 steps 1-3).
    pub(crate) fn verify(&self, bytes: &[u8], now_ms: u64, lifetime_ms: u64) -> Option<Cookie> {
        if bytes.len() != COOKIE_LEN {
            return None;
        }
        let (body, mac) = bytes.split_at(BODY_LEN);
        let expected = hmac::sign(&self.key(), body);
        constant_time::verify_slices_are_equal(expected.as_ref(), mac).ok()?;
        let mut r = Reader::new(body, "cookie");
        let local_tag = r.u32().ok()?;
        let peer_tag = r.u32().ok()?;
        let local_initial_tsn = r.u32().ok()?;
        let peer_initial_tsn = r.u32().ok()?;
        let peer_a_rwnd = r.u32().ok()?;
        let reserved = r.u32().ok()?;
        let peer_outbound_streams = r.u16().ok()?;
        let peer_inbound_streams = r.u16().ok()?;
        let caps = r.u8().ok()?;
        let hi = r.u32().ok()? as u64;
        let lo = r.u32().ok()? as u64;
        let created_ms = (hi << 32) | lo;
        if now_ms.saturating_sub(created_ms) > lifetime_ms || created_ms > now_ms {
            return None;
        }
        Some(Cookie {
            local_tag,
            peer_tag,
            local_initial_tsn,
            peer_initial_tsn,
            peer_a_rwnd,
            peer_outbound_streams,
            peer_inbound_streams,
            caps: InitCaps {
                forward_tsn: caps & 1 != 0,
                reconfig: caps & 2 != 0,
                zero_checksum: caps & 4 != 0,
                i_data: caps & 8 != 0,
            },
            created_ms,
            reserved,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cookie {
        Cookie {
            local_tag: 1,
            peer_tag: 2,
            local_initial_tsn: 3,
            peer_initial_tsn: 4,
            peer_a_rwnd: 5,
            peer_outbound_streams: 6,
            peer_inbound_streams: 7,
            caps: InitCaps {
                forward_tsn: true,
                reconfig: true,
                zero_checksum: false,
                i_data: true,
            },
            created_ms: 1000,
            reserved: 0,
        }
    }

    #[test]
    fn cookie_round_trips_within_its_lifetime() {
        let s = CookieSigner::new(&[9; 32]);
        let mut b = Vec::new();
        s.write(&sample(), &mut b);
        assert_eq!(b.len(), COOKIE_LEN);
        assert_eq!(s.verify(&b, 2000, 60_000), Some(sample()));
    }

    #[test]
    fn tampered_cookie_is_rejected() {
        let s = CookieSigner::new(&[9; 32]);
        let mut b = Vec::new();
        s.write(&sample(), &mut b);
        b[0] ^= 1;
        assert_eq!(s.verify(&b, 2000, 60_000), None);
    }

    #[test]
    fn stale_cookie_is_rejected() {
        let s = CookieSigner::new(&[9; 32]);
        let mut b = Vec::new();
        s.write(&sample(), &mut b);
        assert_eq!(s.verify(&b, 1000 + 60_001, 60_000), None);
    }

    #[test]
    fn cookie_signed_by_another_key_is_rejected() {
        let mut b = Vec::new();
        CookieSigner::new(&[1; 32]).write(&sample(), &mut b);
        assert_eq!(CookieSigner::new(&[2; 32]).verify(&b, 2000, 60_000), None);
    }
}
