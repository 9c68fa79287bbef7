//! Long-term credentials of a TURN client (RFC 8489 §9.2, RFC 8656 §7.2):
//! the realm and nonce from the server's 401, the password algorithm
//! (RFC 8489 §9.2.4) with its bid-down protection (§9.2.5), the key, and
//! signing and checking messages with it.

use ferrtc_stun::{
    Attribute, Error as StunError, Message, MessageBuilder, PasswordAlgorithm,
    PasswordAlgorithmValue, PasswordAlgorithms, long_term_key,
};

use crate::RequestError;

/// PASSWORD-ALGORITHMS as offered: (algorithm, parameters) in order.
type Offered = Vec<(u16, Vec<u8>)>;

/// The "nonce cookie" that opens the NONCE of an RFC 8489 server, followed
/// by 4 base64 characters of 24 security feature bits (RFC 8489 §9.2).
const NONCE_COOKIE: &str = "obMatJos2";

/// The security feature bits of a NONCE, if it starts with the nonce cookie
/// (RFC 8489 §9.2, §18.1): the 4 base64 characters as one 24-bit number.
fn security_features(nonce: &str) -> Option<u32> {
    let rest = nonce.strip_prefix(NONCE_COOKIE)?;
    let chars = rest.as_bytes().get(..4)?;
    let mut bits = 0u32;
    for &c in chars {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
    }
    Some(bits)
}

/// "Password algorithms" security feature: bit 0 of the 24 (RFC 8489
/// §18.1), counted from the least significant side as verified erratum
/// 6290 corrects it ("Bit 0 is the rightmost bit"; Appendix B.1's
/// `obMatJos2AAAC`, 0x000002, is bit 1, "Username anonymity", beside
/// USERHASH). A nonce announcing it starts `obMatJos2AAAB`.
const FEATURE_PASSWORD_ALGORITHMS: u32 = 1 << 0;

/// Whether the NONCE announces the password algorithms feature: then the
/// client must echo PASSWORD-ALGORITHMS and name its PASSWORD-ALGORITHM
/// (RFC 8489 §9.2.4, §9.2.5).
fn announces_password_algorithms(nonce: &str) -> bool {
    security_features(nonce).is_some_and(|f| f & FEATURE_PASSWORD_ALGORITHMS != 0)
}

/// The state learnt from a 401 challenge.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    username: String,
    password: String,
    realm: String,
    nonce: String,
    /// PASSWORD-ALGORITHMS as offered, echoed back (RFC 8489 §9.2.4), and the
    /// algorithm chosen; `None` when the nonce does not announce the
    /// feature (MD5 and MESSAGE-INTEGRITY, as RFC 5389 servers expect).
    algorithms: Option<(Offered, PasswordAlgorithm)>,
    key: Vec<u8>,
}

/// REALM, NONCE and PASSWORD-ALGORITHMS of a 401 or 438 response.
fn challenge<'a>(
    msg: &Message<'a>,
) -> (
    Option<&'a str>,
    Option<&'a str>,
    Option<PasswordAlgorithms<'a>>,
) {
    let (mut realm, mut nonce, mut algs) = (None, None, None);
    for attr in msg.attributes().flatten() {
        match attr {
            Attribute::Realm(r) => realm = Some(r),
            Attribute::Nonce(n) => nonce = Some(n),
            Attribute::PasswordAlgorithms(a) => algs = Some(a),
            _ => {}
        }
    }
    (realm, nonce, algs)
}

/// The algorithms the server offers when its `nonce` announces them, and
/// the one chosen (SHA-256 preferred, else MD5): `Ok(None)` when the nonce
/// does not announce the feature. The list missing where the nonce
/// announces it is a bid-down attack (RFC 8489 §9.2.5).
fn negotiate(
    nonce: &str,
    algs: Option<PasswordAlgorithms<'_>>,
) -> Result<Option<(Offered, PasswordAlgorithm)>, RequestError> {
    if !announces_password_algorithms(nonce) {
        return Ok(None);
    }
    let list = algs.ok_or(RequestError::BidDown)?;
    let offered: Offered = list
        .iter()
        .map(|a| (a.algorithm, a.parameters.to_vec()))
        .collect();
    let known: Vec<PasswordAlgorithm> = offered
        .iter()
        .filter_map(|(code, _)| PasswordAlgorithm::from_code(*code))
        .collect();
    let chosen = if known.contains(&PasswordAlgorithm::Sha256) {
        PasswordAlgorithm::Sha256
    } else if known.contains(&PasswordAlgorithm::Md5) {
        PasswordAlgorithm::Md5
    } else {
        return Err(RequestError::NoPasswordAlgorithm);
    };
    Ok(Some((offered, chosen)))
}

impl Auth {
    /// Credentials for the challenge in a 401 response (RFC 8489 §9.2.3):
    /// `None` if it carries no REALM or NONCE. When the nonce announces
    /// password algorithms, prefers SHA-256, else MD5 (RFC 8489 §9.2.4).
    pub(crate) fn from_challenge(
        msg: &Message<'_>,
        username: &str,
        password: &str,
    ) -> Option<Result<Auth, RequestError>> {
        let (realm, nonce, algs) = challenge(msg);
        let (realm, nonce) = (realm?, nonce?);
        let algorithms = match negotiate(nonce, algs) {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        let alg = algorithms
            .as_ref()
            .map_or(PasswordAlgorithm::Md5, |(_, a)| *a);
        Some(Ok(Auth {
            username: username.to_owned(),
            password: password.to_owned(),
            realm: realm.to_owned(),
            nonce: nonce.to_owned(),
            key: long_term_key(username, realm, password, alg),
            algorithms,
        }))
    }

    /// The algorithm the key is derived with.
    fn algorithm(&self) -> PasswordAlgorithm {
        self.algorithms
            .as_ref()
            .map_or(PasswordAlgorithm::Md5, |(_, a)| *a)
    }

    /// Takes the new NONCE (and REALM, if it changed) of a 438 Stale Nonce
    /// response (RFC 8656 §7.4): `Ok(false)` if it has no NONCE. Once
    /// password algorithms are agreed, the new nonce must announce them
    /// again with the same PASSWORD-ALGORITHMS, else it is a bid-down
    /// (RFC 8489 §9.2.5).
    pub(crate) fn update_nonce(&mut self, msg: &Message<'_>) -> Result<bool, RequestError> {
        let (realm, nonce, algs) = challenge(msg);
        let Some(nonce) = nonce else { return Ok(false) };
        let algorithms = negotiate(nonce, algs)?;
        match (&self.algorithms, &algorithms) {
            (Some((old, _)), Some((new, _))) if old != new => return Err(RequestError::BidDown),
            (Some(_), None) => return Err(RequestError::BidDown),
            // Same list (keep the choice), or a server that starts to
            // announce the feature: take its offer.
            (Some(_), Some(_)) => {}
            (None, _) => self.algorithms = algorithms,
        }
        self.nonce = nonce.to_owned();
        if let Some(realm) = realm {
            self.realm = realm.to_owned();
        }
        self.key = long_term_key(
            &self.username,
            &self.realm,
            &self.password,
            self.algorithm(),
        );
        Ok(true)
    }

    /// Writes USERNAME, REALM, NONCE and, when the nonce announced them,
    /// PASSWORD-ALGORITHMS as received and the PASSWORD-ALGORITHM chosen
    /// (RFC 8489 §9.2.4).
    pub(crate) fn add_attributes(&self, b: &mut MessageBuilder<'_>) -> Result<(), StunError> {
        b.add(&Attribute::Username(&self.username))?;
        b.add(&Attribute::Realm(&self.realm))?;
        b.add(&Attribute::Nonce(&self.nonce))?;
        if let Some((offered, chosen)) = &self.algorithms {
            let list: Vec<PasswordAlgorithmValue<'_>> = offered
                .iter()
                .map(|(algorithm, parameters)| PasswordAlgorithmValue {
                    algorithm: *algorithm,
                    parameters,
                })
                .collect();
            b.add(&Attribute::PasswordAlgorithms(PasswordAlgorithms::new(
                &list,
            )))?;
            b.add(&Attribute::PasswordAlgorithm((*chosen).into()))?;
        }
        Ok(())
    }

    /// Signs with the chosen algorithm (RFC 8489 §9.2.4): the SHA-256 key
    /// with MESSAGE-INTEGRITY-SHA256, the MD5 key with MESSAGE-INTEGRITY.
    pub(crate) fn sign(&self, b: &mut MessageBuilder<'_>) -> Result<(), StunError> {
        match self.algorithm() {
            PasswordAlgorithm::Sha256 => b.try_add_message_integrity_sha256(&self.key, 32),
            PasswordAlgorithm::Md5 => b.try_add_message_integrity(&self.key),
        }
    }

    /// Whether a response authenticates with our key (RFC 8489 §9.2.5).
    /// After SHA-256 was agreed only MESSAGE-INTEGRITY-SHA256 counts (a
    /// plain MESSAGE-INTEGRITY is `Some(false)`); with MD5 the
    /// MESSAGE-INTEGRITY of the request, or MESSAGE-INTEGRITY-SHA256. A
    /// response with neither is `None` (unauthenticated).
    pub(crate) fn verify(&self, msg: &Message<'_>) -> Option<bool> {
        match self.algorithm() {
            PasswordAlgorithm::Sha256 => {
                if msg.has_message_integrity_sha256() {
                    Some(msg.verify_message_integrity_sha256(&self.key).is_ok())
                } else if msg.has_message_integrity() {
                    Some(false)
                } else {
                    None
                }
            }
            PasswordAlgorithm::Md5 => {
                if msg.has_message_integrity() {
                    Some(msg.verify_message_integrity(&self.key).is_ok())
                } else if msg.has_message_integrity_sha256() {
                    Some(msg.verify_message_integrity_sha256(&self.key).is_ok())
                } else {
                    None
                }
            }
        }
    }

    /// The realm in use.
    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_cookie_carries_24_feature_bits() {
        // RFC 8489 Appendix B.1's nonce: "AAAC" is 0x000002.
        assert_eq!(
            security_features("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA"),
            Some(2)
        );
        assert!(announces_password_algorithms("obMatJos2AAABxyz"));
        assert!(announces_password_algorithms("obMatJos2AAADxyz"));
        // Bit 1 alone (username anonymity), and bit 23 (unassigned: the
        // leftmost bit, bit 0 before erratum 6290), announce nothing.
        assert!(!announces_password_algorithms("obMatJos2AAAC"));
        assert!(!announces_password_algorithms("obMatJos2gAAAxyz"));
        assert!(!announces_password_algorithms("plain-nonce"));
        assert_eq!(security_features("obMatJos2A!AA"), None);
        assert_eq!(security_features("obMatJos2AA"), None);
    }
}
