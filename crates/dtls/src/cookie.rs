//! Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1).
//!
//! The cookie is an HMAC-SHA256, under a secret drawn once per engine, of
//! the ClientHello fields the client must repeat unchanged: version,
//! random, session id and cipher suites. Sans-IO, the peer's address is not
//! known here; the random makes each cookie specific to one hello. The
//! server keeps no state for a ClientHello until its cookie comes back.

use aws_lc_rs::hmac;

use crate::message::ClientHello;

/// Length of the cookies we issue.
pub(crate) const COOKIE_LEN: usize = 32;

/// The per-engine cookie secret.
pub(crate) struct CookieKey(hmac::Key);

impl CookieKey {
    pub(crate) fn new(secret: [u8; 32]) -> Self {
        CookieKey(hmac::Key::new(hmac::HMAC_SHA256, &secret))
    }

    fn context(&self, hello: &ClientHello) -> hmac::Context {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(&hello.version.to_be_bytes());
        ctx.update(&hello.random);
        ctx.update(&[hello.session_id.len() as u8]);
        ctx.update(&hello.session_id);
        for suite in &hello.cipher_suites {
            ctx.update(&suite.to_be_bytes());
        }
        ctx
    }

    /// The cookie for this hello.
    pub(crate) fn cookie(&self, hello: &ClientHello) -> Vec<u8> {
        self.context(hello).sign().as_ref().to_vec()
    }

    /// Whether the hello carries the cookie we would issue for it
    /// (compared in constant time).
    pub(crate) fn verify(&self, hello: &ClientHello) -> bool {
        hello.cookie.len() == COOKIE_LEN && {
            let expected = self.context(hello).sign();
            aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), &hello.cookie)
                .is_ok()
        }
    }
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey")
    }
}
