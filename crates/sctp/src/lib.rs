//! SCTP for WebRTC data channels: RFC 9260 over DTLS (RFC 8261), with
//! partial reliability (RFC 3758), stream reset (RFC 6525), I-DATA message
//! interleaving (RFC 8260) and the zero checksum alternative (RFC 9653), as
//! a sans-IO engine.
//!
//! An [`Association`] takes whole SCTP packets (the application data of
//! DTLS records) with [`Association::handle_receive`] and gives packets back
//! from [`Association::poll_transmit`]; time comes in as `Instant`, never
//! read from a clock; randomness comes from the operating system's CSPRNG,
//! a caller's generator ([`Association::with_rng`]) or, in tests,
//! [`Config::seed`].
//!
//! Inside: the four-way handshake with an HMAC-signed, time-limited state
//! cookie (and simultaneous open, as WebRTC peers do); verification tags;
//! DATA and SACK with gap-ack blocks (data reneged on is sent again) and
//! duplicate reports; fragmentation and reassembly bounded by
//! `max_message_size`; ordered and unordered delivery per stream; slow
//! start (byte counting), congestion avoidance, fast retransmit and fast
//! recovery, RTO with Karn's rule; delayed SACK
//! (every second packet, at once on gaps); FORWARD-TSN / I-FORWARD-TSN with
//! `maxRetransmits` and `maxPacketLifeTime`; stream reset; heartbeats;
//! ERROR chunks and unknown-chunk handling by the type's high bits;
//! shutdown and abort.
//!
//! Memory is bounded by [`Config`]: the send buffer
//! ([`Config::max_send_buffer`]) refuses more, and everything held on the
//! receive side (fragments, out-of-order messages, undelivered events)
//! counts against twice [`Config::max_receive_buffer`], with a per-entry
//! overhead so that floods of tiny messages are bounded too.
//!
//! Not done: restart of an existing association by a new INIT (RFC 9260
//! §5.2.4 case A) is ignored; the stale-cookie ERROR is not sent; we accept
//! the peer's Add Streams requests but have no API to add our own.
#![forbid(unsafe_code)]

mod association;
mod chunk;
mod config;
mod cookie;
mod crc;
mod error;
mod recv;
mod send;
mod tsn;
mod types;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use association::Association;
pub use bytes::Bytes;
pub use config::{Config, DEFAULT_PORT};
pub use error::Error;
pub use types::{
    AssociationState, CloseReason, Event, Message, Reliability, SendOptions, Stats, ppid,
};
