//! Sans-IO DTLS 1.2 for WebRTC, ferrtc's own engine on aws-lc-rs:
//! certificates, fingerprints, DTLS-SRTP keys.
//!
//! - [`Certificate`] is the W3C `RTCCertificate`: a self-signed ECDSA P-256
//!   (default) or RSA 2048 certificate with an expiry, its [`Fingerprint`]s
//!   for SDP, PEM export and import.
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
//! # The engine
//!
//! - DTLS 1.2 (RFC 6347) client and server. The server answers ClientHellos
//!   with a stateless HelloVerifyRequest cookie (HMAC-SHA256 of the hello's
//!   random, session id and suites under a per-transport secret) and keeps
//!   no state until the cookie returns.
//! - Flights retransmitted on a timer (1 s, doubling, capped at 60 s,
//!   [`Config::flight_retries`] times) and when the peer retransmits a
//!   flight we already answered (at most once per timer period, restarting
//!   the timer; a flight still arriving is not answered with the previous
//!   one);
//!   messages fragmented to fit [`Config::mtu`] and reassembled with at most
//!   64 KiB buffered (32 KiB per message, 8 messages ahead); overlapping
//!   fragments must agree, and one that contradicts (a forged epoch-0
//!   fragment, say) starts another version of the message, up to 4, the
//!   first complete one winning, so it cannot block the real message.
//! - Suites `TLS_ECDHE_ECDSA_WITH_AES_{128,256}_GCM_*` and
//!   `TLS_ECDHE_RSA_WITH_AES_{128,256}_GCM_*`; groups X25519, P-256, P-384;
//!   ECDSA (P-256/P-384), RSA PKCS#1 v1.5 and RSA-PSS signatures verified.
//!   The server asks for the client's certificate (ECDSA or RSA). A
//!   certificate is checked only against the SDP fingerprints and the
//!   handshake signature: self-signed is normal in WebRTC.
//! - Extended master secret (RFC 7627) required in both roles;
//!   renegotiation refused (RFC 5746: empty `renegotiation_info`, a
//!   `no_renegotiation` warning to any attempt).
//! - Fatal alerts with their codes: `bad_certificate` on a fingerprint
//!   mismatch (the peer fails at once), `decrypt_error` on a bad Finished or
//!   signature, `handshake_failure` with no suite, group or extended master
//!   secret in common, `decode_error`, `unexpected_message`,
//!   `record_overflow` on a record decrypting to over 2^14 bytes, ...; a
//!   received fatal alert fails the transport with [`Error::AlertReceived`].
//! - Epoch 1 records checked against a 64-record anti-replay window
//!   (RFC 6347 §4.1.2.6); forged, replayed and malformed input (an
//!   unprotected record over 2^14 bytes too) is dropped and counted in
//!   [`Stats`], and a plaintext alert is ignored once the peer writes in
//!   epoch 1.
//! - DTLS-SRTP (RFC 5764) with [`Config::srtp_profiles`] as a preference
//!   order; keys from the RFC 5705 exporter.
//! - Records decrypted in place in the caller's buffer
//!   ([`Dtls::handle_receive_in_place`], [`Dtls::poll_application_data`]) and
//!   encrypted straight into it ([`Dtls::send_application_data_into`]).
//! - Randomness from the caller's CSPRNG ([`Dtls::with_rng`],
//!   [`Config::rng_seed`]) or the OS. ECDSA nonces and RSA-PSS salts come from
//!   aws-lc itself; with RSA certificates (PKCS#1 v1.5) two seeded runs
//!   send the same bytes.
//!
//! Not implemented: session resumption, DTLS 1.3, connection IDs, CBC
//! suites, PSK.
#![forbid(unsafe_code)]

mod alert;
mod certificate;
mod client;
mod codec;
mod config;
mod cookie;
mod crypto;
mod engine;
mod error;
mod fingerprint;
mod flight;
mod fragment;
mod handshake;
mod message;
mod record;
mod server;
mod srtp;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use alert::{AlertDescription, AlertLevel};
pub use certificate::{Certificate, DEFAULT_VALIDITY, KeyType};
pub use codec::DecodeError;
pub use config::{Config, MAX_HANDSHAKE_TIMEOUT, MIN_MTU, Role};
pub use crypto::{CipherSuite, NamedGroup, SignatureScheme};
pub use engine::{Dtls, Event, Stats, TransportState};
pub use error::{Error, ProtocolError};
pub use fingerprint::{Fingerprint, HashAlgorithm};
pub use srtp::{SrtpKeys, SrtpMasterKey, SrtpProfile};
