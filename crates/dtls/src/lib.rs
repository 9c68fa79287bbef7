//! Sans-IO DTLS for WebRTC over the [dimpl] engine: certificates,
//! fingerprints, DTLS-SRTP keys.
//!
//! - [`Certificate`] is the W3C `RTCCertificate`: an ECDSA P-256 self-signed
//!   certificate with an expiry, its [`Fingerprint`]s for SDP, PEM export and import.
//! - [`Dtls`] is the W3C `RTCDtlsTransport` as a sans-IO state machine:
//!   DTLS 1.2 (RFC 6347) with the peer pinned by the remote SDP fingerprint
//!   (RFC 8842 §5.1) and DTLS-SRTP keys (RFC 5764) in [`Event::Connected`].
//!
//! ```
//! use std::time::{Instant, SystemTime};
//! use ferrtc_dtls::{Certificate, Config, Dtls, Event, Role};
//!
//! let (now, wall) = (Instant::now(), SystemTime::now());
//! let (a_cert, b_cert) = (Certificate::generate(wall)?, Certificate::generate(wall)?);
//! let config = Config::default();
//! let mut a = Dtls::new(&config, &a_cert, Role::Client, now, wall)?;
//! let mut b = Dtls::new(&config, &b_cert, Role::Server, now, wall)?;
//! // Fingerprints from the other side's SDP.
//! a.expect_remote_fingerprints(b_cert.fingerprints());
//! b.expect_remote_fingerprints(a_cert.fingerprints());
//!
//! // A lossless in-memory "network".
//! let mut buf = Vec::new();
//! for _ in 0..10 {
//!     while a.poll_transmit(now, &mut buf).is_some() { b.handle_receive(now, &buf); }
//!     while b.poll_transmit(now, &mut buf).is_some() { a.handle_receive(now, &buf); }
//! }
//! let Some(Event::Connected { srtp: Some(a_keys), .. }) = a.poll_event() else { panic!() };
//! let Some(Event::Connected { srtp: Some(b_keys), .. }) = b.poll_event() else { panic!() };
//! assert_eq!(a_keys.local(), b_keys.remote());
//! # Ok::<(), ferrtc_dtls::Error>(())
//! ```
//!
//! # Limits of the dimpl 0.9 engine
//!
//! - ECDSA only: its DTLS 1.2 suites are ECDHE_ECDSA, so a peer whose
//!   certificate is RSA (GStreamer's webrtcbin by default) cannot connect.
//! - The DTLS-SRTP profile order is fixed by dimpl (AEAD_AES_256_GCM, then
//!   AEAD_AES_128_GCM, then AES_CM_128_HMAC_SHA1_80):
//!   [`Config::srtp_profiles`] is an allow-list, not a preference order, and
//!   AES_CM_128_HMAC_SHA1_32 cannot be negotiated.
//! - No fatal alert is sent on a fingerprint mismatch; the peer times out.
//! - Key exchange and signatures draw from the OS RNG, so handshakes are not
//!   reproducible bit for bit even with a seed.
#![forbid(unsafe_code)]

mod certificate;
mod config;
mod engine;
mod error;
mod fingerprint;
mod srtp;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use certificate::{Certificate, DEFAULT_VALIDITY};
pub use config::{Config, Role};
pub use engine::{Dtls, Event, TransportState};
pub use error::Error;
pub use fingerprint::{Fingerprint, HashAlgorithm};
pub use srtp::{SrtpKeys, SrtpMasterKey, SrtpProfile};
