//! A sans-IO TURN client (RFC 8656) over UDP, TCP or TLS: allocation with
//! long-term credentials (RFC 8489 §9.2, with the password algorithms and
//! bid-down protection of §9.2.4-§9.2.5), refresh, permissions, channels,
//! Send and Data indications and ChannelData.
//!
//! The [`Client`] owns no socket, no TLS session and no clock. The caller:
//! - sends what [`Client::poll_transmit`] writes to [`Transmit::destination`]
//!   (the server): a datagram over UDP, bytes to write over TCP or TLS;
//! - feeds datagrams from the server to [`Client::handle_receive`] (or
//!   [`Client::receive`], which lends peer data instead of copying it into
//!   an [`Event::Data`]); over TCP or TLS, bytes read go through a
//!   [`StreamDecoder`] first, and each frame it gives is fed;
//! - calls [`Client::handle_timeout`] at [`Client::poll_timeout`];
//! - reads [`Event`]s from [`Client::poll_event`].
//!
//! Policies:
//! - Data flows to and from a peer only once its permission is installed:
//!   [`Client::send_to`] fails with [`Error::PermissionPending`] while the
//!   CreatePermission is in flight (nothing is queued), and Data
//!   indications from other peers are dropped and counted.
//! - A failed refresh (of the allocation, a permission or a channel) is not
//!   an [`Event::Failed`]: it is tried again after [`REFRESH_RETRY_MIN`],
//!   doubling up to [`REFRESH_RETRY_MAX`], until the lifetime runs out;
//!   then [`Event::Closed`], [`Event::PermissionExpired`] or
//!   [`Event::ChannelExpired`]. A 437 Allocation Mismatch ends the
//!   allocation at once.
//! - Once credentials are known, responses without valid
//!   MESSAGE-INTEGRITY(-SHA256) are ignored, except 401 and 438 (RFC 8489
//!   §9.2.5); a 401 to a signed request means wrong credentials.
//! - Queues are bounded ([`MAX_QUEUED_TRANSMITS`], [`MAX_QUEUED_EVENTS`]);
//!   what does not fit is counted in [`Stats`].
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

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "server")]
pub mod listen;

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
