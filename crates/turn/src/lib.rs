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
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod permission;
mod stream;
mod transaction;

pub use channel::{CHANNEL_LIFETIME, CHANNEL_REFRESH, CHANNEL_REUSE_DELAY};
pub use channel_data::{
    CHANNEL_DATA_HEADER_LEN, ChannelData, MAX_CHANNEL, MIN_CHANNEL, is_channel_data,
    stream_frame_len,
};
pub use client::{
    Client, ClientConfig, Event, MAX_QUEUED_EVENTS, MAX_QUEUED_TRANSMITS, PeerData, Request, Stats,
    Transmit, Transport,
};
pub use error::{Error, RequestError};
pub use permission::{PERMISSION_LIFETIME, PERMISSION_REFRESH};
pub use stream::{MAX_STREAM_FRAME_LEN, STREAM_BUFFER_LIMIT, StreamDecoder};
pub use transaction::{
    FINAL_WAIT_FACTOR, INITIAL_RTO, MAX_TRANSMITS, REFRESH_RETRY_MAX, REFRESH_RETRY_MIN,
    RELIABLE_TIMEOUT,
};
