//! SRTP and SRTCP (RFC 3711) with the AES-GCM profiles (RFC 7714) and replay
//! protection, as a sans-IO library: packets in, packets out, no clock, no I/O.
//!
//! Profiles: `AES_CM_128_HMAC_SHA1_80`, `AES_CM_128_HMAC_SHA1_32`,
//! `AEAD_AES_128_GCM`, `AEAD_AES_256_GCM` ([`ProtectionProfile`]). All
//! cryptography comes from `aws-lc-rs` (AES-CTR, AES-GCM, HMAC-SHA1).
//!
//! A [`Context`] holds the session keys derived from one master key and salt
//! (RFC 3711 §4.3) and the per-SSRC state: rollover counters with packet index
//! estimation (RFC 3711 §3.3.1), SRTCP indices, and replay windows for SRTP
//! and SRTCP (RFC 3711 §3.3.2). Protection and unprotection work in place in
//! the caller's buffer.
//!
//! Key lifetime (RFC 3711 §9.2): a master key may protect at most 2^48 SRTP
//! packets and 2^31 SRTCP packets per SSRC. Reaching either limit is
//! [`Error::KeyLifetimeExceeded`], never a silent wrap of the index.
#![forbid(unsafe_code)]

mod context;
mod error;
// Also built for unit tests, which run the fuzz entry points on fixed inputs.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod header;
mod index;
mod kdf;
mod profile;
mod replay;
mod ssrc_map;
mod transform;

#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

pub use context::{Config, Context};
pub use error::Error;
pub use profile::ProtectionProfile;
pub use ssrc_map::{SsrcHasher, SsrcMap};
