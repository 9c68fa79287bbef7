//! WebRTC data channels (RFC 8831) with the Data Channel Establishment
//! Protocol (RFC 8832), as a sans-IO engine over [`ferrtc_sctp`].
//!
//! [`DataChannels`] owns the SCTP association of a peer connection and the
//! channels on it, named by [`ChannelId`] handles that exist before their
//! SCTP stream does. It opens channels in-band (DATA_CHANNEL_OPEN, and the
//! channel is open as soon as that is sent, RFC 8832 §6) or out-of-band
//! ("negotiated" with an agreed id), picks stream ids by DTLS role once it
//! is known (client even, server odd, RFC 8832 §6), maps `ordered`,
//! `maxRetransmits` and `maxPacketLifeTime` to SCTP, tracks
//! `bufferedAmount` and its low-threshold event, counts messages and bytes
//! per channel, and closes channels by stream reset in both directions
//! (RFC 8831 §6.7). Bad input from the peer is dropped and counted.
//!
//! ```
//! use std::time::Instant;
//! use ferrtc_datachannel::{Config, DataChannelInit, DataChannels, Event};
//! use ferrtc_dtls::Role;
//!
//! let now = Instant::now();
//! let mut a = DataChannels::new(Config::default());
//! let mut b = DataChannels::new(Config::default());
//! // Channels may be created before the DTLS role and the association exist.
//! let id = a.create(now, "chat", DataChannelInit::default()).unwrap();
//! a.set_role(now, Role::Client);
//! b.set_role(now, Role::Server);
//! // DTLS is connected: both sides start SCTP.
//! a.start(now, ferrtc_sctp::Config { seed: Some(1), ..Default::default() });
//! b.start(now, ferrtc_sctp::Config { seed: Some(2), ..Default::default() });
//! let mut buf = Vec::new();
//! for _ in 0..10 {
//!     while a.poll_transmit(now, &mut buf).is_some() { b.handle_receive(now, &buf).unwrap(); }
//!     while b.poll_transmit(now, &mut buf).is_some() { a.handle_receive(now, &buf).unwrap(); }
//! }
//! let mut opened = false;
//! while let Some(ev) = a.poll_event() { opened |= ev == Event::Open(id); }
//! assert!(opened);
//! assert_eq!(a.channel(id).unwrap().id, Some(0), "the DTLS client takes even streams");
//! ```
#![forbid(unsafe_code)]

mod channel;
mod dcep;
mod engine;
mod error;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use channel::{
    ChannelId, ChannelInfo, ChannelStats, DataChannelInit, DataChannelMessage, DataChannelState,
};
pub use dcep::{ChannelType, DcepMessage, Open};
pub use engine::{
    Config, DEFAULT_MAX_CHANNELS, DEFAULT_MAX_CLOSED_CHANNELS, DataChannels, Event, Stats,
};
pub use error::Error;
