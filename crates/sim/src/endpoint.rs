//! The contract between the simulated network and the sans-IO engines it drives.

use std::net::SocketAddr;
use std::time::Instant;

use crate::stream::{StreamCommand, StreamEvent};

/// Where a datagram goes: the local address it leaves from and the remote
/// address it is sent to. The payload is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// The local address (one of the host's addresses) the datagram is sent from.
    pub source: SocketAddr,
    /// The address the datagram is sent to.
    pub destination: SocketAddr,
}

/// A sans-IO engine the simulator can drive: anything with the
/// `handle_*`/`poll_*` shape of the ferrtc protocol crates.
///
/// The simulator calls, at each virtual instant: `handle_receive` for every
/// datagram due (and `handle_stream` for what its TCP stack has to say),
/// `handle_timeout` if `poll_timeout` is due, then `poll_transmit` until it
/// returns `None`, then `poll_stream` until it returns `None`.
///
/// The TCP methods have default bodies: an endpoint that only uses UDP
/// implements the first four.
pub trait Endpoint {
    /// A datagram arrived at `destination` (one of this host's addresses) from `source`.
    fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        payload: &[u8],
    );

    /// Writes the next datagram to send into `buf` (cleared first by the
    /// endpoint) and says where it goes, or returns `None` when there is nothing to send.
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit>;

    /// When the endpoint next wants `handle_timeout`, if ever.
    fn poll_timeout(&mut self) -> Option<Instant>;

    /// Virtual time reached `now`, at or after the instant `poll_timeout` gave.
    fn handle_timeout(&mut self, now: Instant);

    /// The next command for the host's TCP stack (listen, connect, send,
    /// close), or `None`. For [`StreamCommand::Send`] the bytes are in `buf`
    /// (cleared first by the endpoint).
    fn poll_stream(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<StreamCommand> {
        let _ = (now, buf);
        None
    }

    /// The host's TCP stack has news: a connection opened, failed, was
    /// accepted or closed, or bytes arrived on it.
    fn handle_stream(&mut self, now: Instant, event: StreamEvent<'_>) {
        let _ = (now, event);
    }
}
