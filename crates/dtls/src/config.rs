//! Configuration of a DTLS transport.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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

/// Settings of a [`Dtls`](crate::Dtls) transport. Start from
/// [`Config::default()`] and change fields.
///
/// Clones share a cache of the prepared engine configuration (dimpl checks
/// its crypto provider when a configuration is built, which costs most of a
/// millisecond), so create transports from one `Config` and its clones.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest datagram the engine writes, in bytes (default 1200, which
    /// fits IPv6 minimum MTU minus headers and any TURN overhead).
    pub mtu: usize,
    /// SRTP protection profiles we accept (RFC 5764 §4.1.2). Defaults to all
    /// three dimpl supports. A handshake that settles on a profile not in
    /// this list fails with [`Error::SrtpProfileNotAllowed`](crate::Error::SrtpProfileNotAllowed).
    /// An empty list means "no SRTP" is the only acceptable outcome, as for a
    /// data-channel-only session whose peer does not offer `use_srtp`.
    ///
    /// The **order is not honoured**: dimpl 0.9 always offers all three
    /// profiles as a client and, as a server, always picks
    /// AEAD_AES_256_GCM, then AEAD_AES_128_GCM, then AES128_CM_SHA1_80.
    pub srtp_profiles: Vec<SrtpProfile>,
    /// First handshake retransmission timeout (RFC 6347 §4.2.4.1); doubles per
    /// retry. Default 1 s.
    pub initial_rto: Duration,
    /// Retransmissions per flight before giving up. Default 4.
    pub flight_retries: usize,
    /// Deadline for the whole handshake. Default 40 s.
    pub handshake_timeout: Duration,
    /// Seed for the engine's non-cryptographic randomness (handshake
    /// randoms, explicit nonces, retransmission jitter), for reproducible
    /// tests. `None` (the default) uses the system RNG. Key exchange and
    /// signatures always use system randomness.
    pub rng_seed: Option<u64>,
}

/// The settings that go into dimpl's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EngineKey {
    mtu: usize,
    initial_rto: Duration,
    flight_retries: usize,
    handshake_timeout: Duration,
    rng_seed: Option<u64>,
}

impl Config {
    fn engine_key(&self) -> EngineKey {
        EngineKey {
            mtu: self.mtu,
            initial_rto: self.initial_rto,
            flight_retries: self.flight_retries,
            handshake_timeout: self.handshake_timeout,
            rng_seed: self.rng_seed,
        }
    }

    /// dimpl's configuration for these settings. Building one runs dimpl's
    /// self-test of every algorithm (key exchanges, signatures: about 1 ms
    /// of CPU), so the one for the default settings, which nearly every
    /// connection uses, is built once per process and shared.
    pub(crate) fn engine_config(&self) -> Result<Arc<dimpl::Config>, Error> {
        static DEFAULT: OnceLock<Arc<dimpl::Config>> = OnceLock::new();
        let key = self.engine_key();
        if key == Config::default().engine_key() {
            if let Some(shared) = DEFAULT.get() {
                return Ok(Arc::clone(shared));
            }
            let built = build_engine_config(key)?;
            return Ok(Arc::clone(DEFAULT.get_or_init(|| built)));
        }
        build_engine_config(key)
    }
}

fn build_engine_config(key: EngineKey) -> Result<Arc<dimpl::Config>, Error> {
    let mut builder = dimpl::Config::builder()
        .mtu(key.mtu)
        .flight_start_rto(key.initial_rto)
        .flight_retries(key.flight_retries)
        .handshake_timeout(key.handshake_timeout)
        // WebRTC authenticates both sides (RFC 8827 §6.5).
        .require_client_certificate(true)
        .with_crypto_provider(crypto_provider());
    if let Some(seed) = key.rng_seed {
        builder = builder.dangerously_set_rng_seed(seed);
    }
    Ok(Arc::new(builder.build().map_err(Error::Config)?))
}

/// The key exchange groups offered and accepted for ECDHE (RFC 8422
/// §5.1.1): X25519 and P-256, the ones browsers, OpenSSL and NSS all
/// offer first.
///
/// dimpl checks every group of its provider with a full key exchange each
/// time a configuration is built, which happens once per connection; with
/// P-384 among them those checks took a quarter of the CPU time of setting
/// up a connection on loopback.
fn crypto_provider() -> dimpl::crypto::CryptoProvider {
    static GROUPS: OnceLock<&'static [&'static dyn dimpl::crypto::SupportedKxGroup]> =
        OnceLock::new();
    let mut provider = dimpl::crypto::aws_lc_rs::default_provider();
    let all = provider.kx_groups;
    provider.kx_groups = GROUPS.get_or_init(|| {
        let kept: Vec<_> = all
            .iter()
            .copied()
            .filter(|g| {
                matches!(
                    g.name(),
                    dimpl::NamedGroup::X25519 | dimpl::NamedGroup::Secp256r1
                )
            })
            .collect();
        // Leaked once per process: the provider wants a 'static slice.
        Vec::leak(kept)
    });
    provider
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mtu", &self.mtu)
            .field("srtp_profiles", &self.srtp_profiles)
            .field("initial_rto", &self.initial_rto)
            .field("flight_retries", &self.flight_retries)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("rng_seed", &self.rng_seed)
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
        }
    }
}

#[cfg(test)]
mod engine_config_tests {
    use super::*;

    #[test]
    fn connections_with_default_settings_share_one_engine_configuration() {
        let a = Config::default().engine_config().unwrap();
        let b = Config::default().engine_config().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn other_settings_get_an_engine_configuration_of_their_own() {
        let shared = Config::default().engine_config().unwrap();
        let seeded = Config {
            rng_seed: Some(7),
            ..Config::default()
        };
        let own = seeded.engine_config().unwrap();
        assert!(!Arc::ptr_eq(&shared, &own));
        assert_eq!(own.rng_seed(), Some(7));
    }

    #[test]
    fn key_exchange_offers_x25519_and_p256_only() {
        let groups: Vec<_> = crypto_provider()
            .kx_groups
            .iter()
            .map(|g| g.name())
            .collect();
        assert!(groups.contains(&dimpl::NamedGroup::X25519));
        assert!(groups.contains(&dimpl::NamedGroup::Secp256r1));
        assert_eq!(groups.len(), 2, "{groups:?}");
    }
}
