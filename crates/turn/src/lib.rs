//! A sans-IO TURN client (RFC 8656) over UDP: allocation with long-term
//! credentials (RFC 8489 §9.2), refresh, permissions, channels, Send and
//! Data indications and ChannelData.
//!
//! The [`Client`] owns no socket and no clock. The caller:
//! - sends what [`Client::poll_transmit`] writes to [`Transmit::destination`]
//!   (the server);
//! - feeds datagrams from the server to [`Client::handle_receive`];
//! - calls [`Client::handle_timeout`] at [`Client::poll_timeout`];
//! - reads [`Event`]s from [`Client::poll_event`].
//!
//! ```
//! use std::time::Instant;
//! use ferrtc_turn::{Client, ClientConfig};
//!
//! let now = Instant::now();
//! let config = ClientConfig { seed: Some(1), ..ClientConfig::new("192.0.2.1:3478".parse().unwrap(), "alice", "secret") };
//! let mut client = Client::new(config, now);
//! let mut buf = Vec::new();
//! let t = client.poll_transmit(now, &mut buf).expect("the first Allocate");
//! assert_eq!(t.destination, client.server());
//! assert!(ferrtc_stun::is_stun_message(&buf));
//! ```
#![forbid(unsafe_code)]

mod auth;
mod channel;
mod channel_data;
mod client;
mod error;
mod permission;
mod transaction;

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "server")]
pub mod listen;

pub use channel::{CHANNEL_LIFETIME, CHANNEL_REFRESH};
pub use channel_data::{
    CHANNEL_DATA_HEADER_LEN, ChannelData, MAX_CHANNEL, MIN_CHANNEL, is_channel_data,
    stream_frame_len,
};
pub use client::{Client, ClientConfig, Event, Request, Stats, Transmit};
pub use error::{Error, RequestError};
pub use permission::{PERMISSION_LIFETIME, PERMISSION_REFRESH};
pub use transaction::{FINAL_WAIT_FACTOR, INITIAL_RTO, MAX_TRANSMITS};
