//! Configuration of a DTLS transport.

use std::fmt;
use std::sync::{Arc, Mutex};
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
    engine_cache: EngineCache,
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

type EngineCache = Arc<Mutex<Option<(EngineKey, Arc<dimpl::Config>)>>>;

impl Config {
    /// dimpl's configuration for these settings, built once and reused while
    /// the settings stay the same.
    pub(crate) fn engine_config(&self) -> Result<Arc<dimpl::Config>, Error> {
        let key = EngineKey {
            mtu: self.mtu,
            initial_rto: self.initial_rto,
            flight_retries: self.flight_retries,
            handshake_timeout: self.handshake_timeout,
            rng_seed: self.rng_seed,
        };
        // A poisoned lock only means another thread panicked mid-update; the
        // cache is then bypassed, never trusted.
        let mut cache = self.engine_cache.lock().ok();
        if let Some(Some((cached_key, cached))) = cache.as_deref()
            && *cached_key == key
        {
            return Ok(Arc::clone(cached));
        }
        let mut builder = dimpl::Config::builder()
            .mtu(key.mtu)
            .flight_start_rto(key.initial_rto)
            .flight_retries(key.flight_retries)
            .handshake_timeout(key.handshake_timeout)
            // WebRTC authenticates both sides (RFC 8827 §6.5).
            .require_client_certificate(true);
        if let Some(seed) = key.rng_seed {
            builder = builder.dangerously_set_rng_seed(seed);
        }
        let built = Arc::new(builder.build().map_err(Error::Config)?);
        if let Some(slot) = cache.as_deref_mut() {
            *slot = Some((key, Arc::clone(&built)));
        }
        Ok(built)
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
            engine_cache: EngineCache::default(),
        }
    }
}
