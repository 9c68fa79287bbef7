//! Agent configuration and ICE credentials (RFC 8445 §5.3, RFC 8839 §5.4).

use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

use crate::Error;

/// The ICE username fragment and password of one side (RFC 8445 §5.3),
/// `a=ice-ufrag` / `a=ice-pwd` in SDP (RFC 8839 §5.4).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    ufrag: String,
    pwd: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a secret: keep it out of logs.
        f.debug_struct("Credentials")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .finish()
    }
}

/// `ice-char` of RFC 8839 §5.4: ALPHA / DIGIT / "+" / "/".
const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn is_ice_chars(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| ICE_CHARS.contains(&b))
}

impl Credentials {
    /// Credentials from SDP: ufrag of 4 to 256 `ice-char`s, password of 22
    /// to 256 (RFC 8839 §5.4).
    pub fn new(ufrag: &str, pwd: &str) -> Result<Self, Error> {
        if !is_ice_chars(ufrag, 4, 256) {
            return Err(Error::InvalidCredentials(
                "ufrag must be 4 to 256 ice-chars",
            ));
        }
        if !is_ice_chars(pwd, 22, 256) {
            return Err(Error::InvalidCredentials("pwd must be 22 to 256 ice-chars"));
        }
        Ok(Credentials {
            ufrag: ufrag.to_owned(),
            pwd: pwd.to_owned(),
        })
    }

    /// Fresh random credentials: an 8-character ufrag and a 24-character
    /// password (at least 128 bits of randomness, RFC 8445 §5.3).
    pub fn random(rng: &mut StdRng) -> Self {
        let mut pick = |n: usize| -> String {
            (0..n)
                .map(|_| char::from(ICE_CHARS[rng.random_range(0..ICE_CHARS.len())]))
                .collect()
        };
        let ufrag = pick(8);
        let pwd = pick(24);
        Credentials { ufrag, pwd }
    }

    /// The username fragment.
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// The password.
    pub fn pwd(&self) -> &str {
        &self.pwd
    }
}

/// Configuration of an [`crate::Agent`]. `Default` gives the RFC values.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Start in the controlling role (RFC 8445 §6.1.1): the offerer, normally.
    /// A role conflict may still switch it (§7.3.1.1).
    pub controlling: bool,
    /// Run as an ICE-lite agent (RFC 8445 §2.5): host candidates only, no
    /// checks of its own, always controlled.
    pub lite: bool,
    /// Seed of the RNG of [`Agent::new`](crate::Agent::new) (credentials,
    /// tie-breaker, transaction ids, consent jitter). `None`, the default,
    /// draws from the operating system's CSPRNG (RFC 8445 §5.3: the
    /// password carries at least 128 bits of randomness). `Some` gives
    /// reproducible runs for tests: 64 bits are too few for secrets, and
    /// equal seeds give equal credentials. A connection passes its own
    /// generator to [`Agent::with_rng`](crate::Agent::with_rng).
    pub seed: Option<u64>,
    /// Local credentials; `None` draws them from the seeded RNG.
    pub credentials: Option<Credentials>,
    /// Pacing interval Ta between new checks (RFC 8445 §14.2; default 50 ms).
    pub ta: Duration,
    /// Initial STUN retransmission timeout (RFC 8489 §6.2.1; default 500 ms).
    pub rto: Duration,
    /// Upper bound of the doubling RTO (default 3 s).
    pub max_rto: Duration,
    /// Transmissions of a request before giving up, Rc (RFC 8489 §6.2.1; default 7).
    pub max_transmits: u32,
    /// After the last transmission, wait this many initial RTOs, Rm
    /// (RFC 8489 §6.2.1; default 16).
    pub final_wait_factor: u32,
    /// When controlling, put USE-CANDIDATE on every check (aggressive
    /// nomination, RFC 5245 §8.1.1.2; deprecated by RFC 8445 but still met
    /// in the field). Off by default: regular nomination.
    pub aggressive_nomination: bool,
    /// Once a pair is valid, how long the controlling agent waits for a
    /// better pair before nominating (regular nomination, RFC 8445 §8.1.1).
    pub nomination_timeout: Duration,
    /// Mean interval of consent checks (RFC 7675 §5.1: 5 s, randomized
    /// to 0.8..1.2 of it).
    pub consent_interval: Duration,
    /// With no consent response for this long, the connection is
    /// `disconnected` (default 8 s, after about one missed check).
    pub disconnected_timeout: Duration,
    /// With no consent response for this long, consent is lost and the
    /// connection `failed` (RFC 7675 §5.1: 30 s).
    pub consent_timeout: Duration,
    /// Most remote candidates kept (further ones are refused).
    pub max_remote_candidates: usize,
    /// Most candidate pairs (RFC 8445 §6.1.2.5 recommends 100).
    pub max_pairs: usize,
    /// Most local host addresses.
    pub max_local_hosts: usize,
    /// W3C `iceTransportPolicy: "relay"`: only relayed candidates are
    /// signalled and paired; host sockets only talk to TURN servers.
    pub relay_only: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            controlling: false,
            lite: false,
            seed: None,
            credentials: None,
            ta: Duration::from_millis(50),
            rto: Duration::from_millis(500),
            max_rto: Duration::from_secs(3),
            max_transmits: 7,
            final_wait_factor: 16,
            aggressive_nomination: false,
            nomination_timeout: Duration::from_millis(500),
            consent_interval: Duration::from_secs(5),
            disconnected_timeout: Duration::from_secs(8),
            consent_timeout: Duration::from_secs(30),
            max_remote_candidates: 64,
            max_pairs: 100,
            max_local_hosts: 16,
            relay_only: false,
        }
    }
}
