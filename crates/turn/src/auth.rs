//! Long-term credentials of a TURN client (RFC 8489 §9.2, RFC 8656 §7.2):
//! the realm and nonce from the server's 401, the password algorithm
//! (RFC 8489 §9.2.4), the key, and signing and checking messages with it.

use ferrtc_stun::{
    Attribute, Error as StunError, Message, MessageBuilder, PasswordAlgorithm,
    PasswordAlgorithmValue, PasswordAlgorithms, long_term_key,
};

use crate::RequestError;

/// PASSWORD-ALGORITHMS as offered: (algorithm, parameters) in order.
type Offered = Vec<(u16, Vec<u8>)>;

/// The state learnt from a 401 challenge.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    username: String,
    password: String,
    realm: String,
    nonce: String,
    /// PASSWORD-ALGORITHMS as offered, echoed back (RFC 8489 §9.2.4), and the
    /// algorithm chosen; `None` when the server offered none (MD5 implied).
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

impl Auth {
    /// Credentials for the challenge in a 401 response (RFC 8489 §9.2.3):
    /// `None` if it carries no REALM or NONCE. When the server offers
    /// PASSWORD-ALGORITHMS, prefers SHA-256, else MD5 (RFC 8489 §9.2.4).
    pub(crate) fn from_challenge(
        msg: &Message<'_>,
        username: &str,
        password: &str,
    ) -> Option<Result<Auth, RequestError>> {
        let (realm, nonce, algs) = challenge(msg);
        let (realm, nonce) = (realm?, nonce?);
        let algorithms = match algs {
            None => None,
            Some(list) => {
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
                    return Some(Err(RequestError::NoPasswordAlgorithm));
                };
                Some((offered, chosen))
            }
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

    /// Takes the new NONCE (and REALM, if it changed) of a 438 Stale Nonce
    /// response (RFC 8656 §7.4); false if it has none.
    pub(crate) fn update_nonce(&mut self, msg: &Message<'_>) -> bool {
        let (realm, nonce, _) = challenge(msg);
        let Some(nonce) = nonce else { return false };
        self.nonce = nonce.to_owned();
        if let Some(realm) = realm.filter(|r| *r != self.realm) {
            self.realm = realm.to_owned();
            let alg = self
                .algorithms
                .as_ref()
                .map_or(PasswordAlgorithm::Md5, |(_, a)| *a);
            self.key = long_term_key(&self.username, &self.realm, &self.password, alg);
        }
        true
    }

    /// Writes USERNAME, REALM, NONCE and, when offered, PASSWORD-ALGORITHMS
    /// and PASSWORD-ALGORITHM (RFC 8489 §9.2.4).
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

    /// Adds MESSAGE-INTEGRITY-SHA256 when the server speaks RFC 8489's
    /// password algorithms, else MESSAGE-INTEGRITY (RFC 8489 §9.2.4).
    pub(crate) fn sign(&self, b: &mut MessageBuilder<'_>) -> Result<(), StunError> {
        if self.algorithms.is_some() {
            b.try_add_message_integrity_sha256(&self.key, 32)
        } else {
            b.try_add_message_integrity(&self.key)
        }
    }

    /// Whether a response authenticates with our key (RFC 8489 §9.2.5):
    /// MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY. A
    /// response with neither is `None` (unauthenticated).
    pub(crate) fn verify(&self, msg: &Message<'_>) -> Option<bool> {
        if msg.has_message_integrity_sha256() {
            Some(msg.verify_message_integrity_sha256(&self.key).is_ok())
        } else if msg.has_message_integrity() {
            Some(msg.verify_message_integrity(&self.key).is_ok())
        } else {
            None
        }
    }

    /// The realm in use.
    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }
}
