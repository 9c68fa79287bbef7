//! Configuration of a DTLS transport.

use std::fmt;
use std::time::Duration;

use crate::crypto::{CipherSuite, NamedGroup};
use crate::error::Error;
use crate::srtp::SrtpProfile;

/// Which side of the DTLS handshake we play, from the SDP `a=setup`
/// attribute (RFC 8842 §5.2, RFC 4145).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `a=setup:active`: we send the ClientHello.
    Client,
    /// `a=setup:passive`: we wait for the peer's ClientHello.
    Server,
}

/// The smallest MTU accepted: a ClientHello, which is never fragmented
/// (a stateless server could not reassemble it), fits with room to spare.
pub const MIN_MTU: usize = 256;

/// The longest [`Config::handshake_timeout`] accepted.
pub const MAX_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Settings of a [`Dtls`](crate::Dtls) transport. Start from
/// [`Config::default()`] and change fields.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest datagram the engine writes during the handshake, in bytes
    /// (default 1200, which fits the IPv6 minimum MTU minus headers and any
    /// TURN overhead). Handshake messages are fragmented to fit
    /// (RFC 6347 §4.1.1.1). At least [`MIN_MTU`].
    pub mtu: usize,
    /// SRTP protection profiles (RFC 5764 §4.1.2), in our order of
    /// preference. A client offers them in this order; a server picks the
    /// first of this list that the client offered. Defaults to
    /// [`SrtpProfile::ALL`]: AEAD_AES_128_GCM, AEAD_AES_256_GCM,
    /// AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32. An empty list
    /// offers and accepts no SRTP (a data-channel-only session).
    pub srtp_profiles: Vec<SrtpProfile>,
    /// First handshake retransmission timeout (RFC 6347 §4.2.4.1); doubles per
    /// retry, capped at 60 s. Default 1 s, as browsers use; at most 60 s.
    pub initial_rto: Duration,
    /// Retransmissions per flight before giving up with
    /// [`Error::HandshakeTimeout`]. Default 4 (1 + 2 + 4 + 8 + 16 s).
    pub flight_retries: usize,
    /// Deadline for the whole handshake (for a server, from the first
    /// ClientHello that returns our cookie). Default 40 s; at most
    /// [`MAX_HANDSHAKE_TIMEOUT`] (one hour).
    pub handshake_timeout: Duration,
    /// Seed for every random value the engine chooses (handshake randoms,
    /// cookie secret, ECDHE private keys), for reproducible tests: a
    /// ChaCha12 generator seeded from these 64 bits, which is NOT enough
    /// entropy for production. `None` (the default) uses the operating
    /// system's RNG. See [`Dtls::with_rng`](crate::Dtls::with_rng) to
    /// supply a generator.
    pub rng_seed: Option<u64>,
    /// Cipher suites offered (client) or accepted (server, in this order of
    /// preference among those the client offers and that fit our key).
    /// Default [`CipherSuite::ALL`].
    pub cipher_suites: Vec<CipherSuite>,
    /// ECDHE groups offered (client) or accepted (server, in this order of
    /// preference). Default [`NamedGroup::ALL`]: X25519, P-256, P-384.
    pub groups: Vec<NamedGroup>,
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.mtu < MIN_MTU {
            return Err(Error::Config {
                reason: "MTU below 256 bytes",
            });
        }
        if self.cipher_suites.is_empty() || self.groups.is_empty() {
            return Err(Error::Config {
                reason: "no cipher suite or no group",
            });
        }
        if self.initial_rto.is_zero() {
            return Err(Error::Config {
                reason: "zero retransmission timeout",
            });
        }
        // RFC 6347 §4.2.4.1: the timer backs off to 60 s at most.
        if self.initial_rto > crate::flight::MAX_RTO {
            return Err(Error::Config {
                reason: "initial_rto above 60 seconds",
            });
        }
        if self.handshake_timeout.is_zero() || self.handshake_timeout > MAX_HANDSHAKE_TIMEOUT {
            return Err(Error::Config {
                reason: "handshake_timeout zero or above one hour",
            });
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mtu", &self.mtu)
            .field("srtp_profiles", &self.srtp_profiles)
            .field("initial_rto", &self.initial_rto)
            .field("flight_retries", &self.flight_retries)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("rng_seed", &self.rng_seed.is_some())
            .field("cipher_suites", &self.cipher_suites)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mtu: 1200,
            srtp_profiles: SrtpProfile::ALL.to_vec(),
            initial_rto: Duration::from_secs(1),
            flight_retries: 4,
            handshake_timeout: Duration::from_secs(40),
            rng_seed: None,
            cipher_suites: CipherSuite::ALL.to_vec(),
            groups: NamedGroup::ALL.to_vec(),
        }
    }
}
