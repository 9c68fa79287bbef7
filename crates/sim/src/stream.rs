//! TCP connections as endpoints see them: the commands an endpoint gives its
//! host's TCP stack and the events the stack gives back.
//!
//! The stack itself (segments, retransmission, ordering) lives in the
//! network; see [`Network`](crate::Network) for the model.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A TCP connection of the simulated network, named by the network (RFC 9293
/// §3.3.2: one connection per pair of sockets). Both ends use the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub(crate) u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp#{}", self.0)
    }
}

/// What an endpoint asks of its host's TCP stack, from
/// [`Endpoint::poll_stream`](crate::Endpoint::poll_stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamCommand {
    /// Listen on a socket address of the host (a passive open, RFC 9293
    /// §3.10.1): connections to it are accepted ([`StreamEvent::Accepted`]).
    Listen(SocketAddr),
    /// Open a connection from an ephemeral port of the host's address `from`
    /// to `to` (an active open): the answer is [`StreamEvent::Connected`] or
    /// [`StreamEvent::ConnectFailed`], carrying `token`. `to` must not be
    /// one of the host's own addresses ([`ConnectError::InvalidAddress`]).
    Connect {
        /// One of the host's addresses.
        from: IpAddr,
        /// The listener to connect to.
        to: SocketAddr,
        /// Chosen by the endpoint, to match the answer to the request.
        token: u64,
    },
    /// Send the bytes in the buffer `poll_stream` was given on the connection.
    Send(ConnId),
    /// Close the connection (both directions): what was sent before still
    /// arrives, then the peer hears [`StreamEvent::Closed`]. What the peer
    /// sends meanwhile is discarded; the peer can send nothing after that.
    Close(ConnId),
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectError {
    /// Nothing listens there: the peer's host answered with a reset.
    Refused,
    /// No answer to the SYN and its retransmissions (a firewall or a NAT
    /// dropped it, or the path loses everything).
    TimedOut,
    /// `from` is not one of the host's addresses, the address families
    /// differ, `to` is one of the host's own addresses (a connection to
    /// itself, not modelled), or no ephemeral port of `from` is free.
    InvalidAddress,
}

/// Why a connection ended for this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed it (its FIN arrived, after all its data).
    ByPeer,
    /// A segment went unacknowledged through every retransmission: the
    /// stack gave the connection up.
    TimedOut,
}

/// What a host's TCP stack tells its endpoint, through
/// [`Endpoint::handle_stream`](crate::Endpoint::handle_stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent<'a> {
    /// A [`StreamCommand::Connect`] succeeded (the SYN-ACK arrived).
    Connected {
        /// The token of the request.
        token: u64,
        /// The new connection.
        conn: ConnId,
        /// The local address, with the ephemeral port the stack chose.
        local: SocketAddr,
        /// The address connected to.
        remote: SocketAddr,
    },
    /// A [`StreamCommand::Connect`] failed.
    ConnectFailed {
        /// The token of the request.
        token: u64,
        /// The address it tried.
        remote: SocketAddr,
        /// Why.
        error: ConnectError,
    },
    /// A listener accepted a connection.
    Accepted {
        /// The new connection.
        conn: ConnId,
        /// The listening address.
        local: SocketAddr,
        /// The peer as this host sees it (after any NAT).
        remote: SocketAddr,
    },
    /// Bytes arrived, in order. Segment boundaries are the stack's (at
    /// most [`MSS`] bytes each), not the sender's writes: a byte stream.
    Data {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// The connection ended; no more events for it.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

/// Largest payload of one simulated TCP segment (an Ethernet MTU's worth,
/// RFC 9293 §3.7.1): a write is cut into segments of at most this many bytes.
pub const MSS: usize = 1460;
