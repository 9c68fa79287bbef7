//! Typed handles to hosts and NATs, and the counters the network exposes.

use std::fmt;
use std::marker::PhantomData;

use crate::link::LinkCounters;

/// A typed handle to a host and its endpoint of type `E`.
///
/// Get the endpoint back with [`Network::endpoint`](crate::Network::endpoint) /
/// [`Network::endpoint_mut`](crate::Network::endpoint_mut).
pub struct HostId<E> {
    pub(crate) index: usize,
    _endpoint: PhantomData<fn() -> E>,
}

impl<E> HostId<E> {
    pub(crate) fn new(index: usize) -> Self {
        Self {
            index,
            _endpoint: PhantomData,
        }
    }

    /// The host's index in the network, in order of creation.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<E> Clone for HostId<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for HostId<E> {}

impl<E> PartialEq for HostId<E> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}

impl<E> Eq for HostId<E> {}

impl<E> std::hash::Hash for HostId<E> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.index.hash(state);
    }
}

impl<E> fmt::Debug for HostId<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HostId").field(&self.index).finish()
    }
}

/// A handle to a NAT box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatId(pub(crate) usize);

/// The counters of both directions of an access link.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DuplexCounters {
    /// The up-link (datagrams sent by the host or out of the NAT).
    pub up: LinkCounters,
    /// The down-link (datagrams received by the host or into the NAT).
    pub down: LinkCounters,
}

/// Network-wide counters.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkCounters {
    /// Datagrams endpoints asked to send.
    pub transmitted: u64,
    /// Datagrams handed to endpoints.
    pub delivered: u64,
    /// Datagrams dropped because no host, NAT or gateway has the destination
    /// (or the source and destination address families differ).
    pub no_route: u64,
    /// Datagrams (and TCP segments) dropped because their source IP is not
    /// one of the sending host's.
    pub invalid_source: u64,
    /// The TCP stacks of all hosts (TCP segments are not counted above,
    /// except in `no_route` and `invalid_source`).
    pub tcp: TcpCounters,
}

/// What the hosts' TCP stacks did, network-wide.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpCounters {
    /// Connections endpoints asked to open.
    pub connects: u64,
    /// Connections established (the opener got the SYN-ACK).
    pub established: u64,
    /// Connections accepted by listeners.
    pub accepted: u64,
    /// Connection attempts refused (nothing listened: reset).
    pub refused: u64,
    /// Connection attempts that got no answer.
    pub timed_out: u64,
    /// Connections an endpoint closed.
    pub closed: u64,
    /// Connection ends given up after a segment went unanswered through
    /// every retransmission (after the handshake; before it, `timed_out`).
    pub reset: u64,
    /// Segments sent, control and retransmissions included.
    pub segments_sent: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Segments sent again after their retransmission timeout.
    pub retransmits: u64,
    /// Payload bytes handed to endpoints, in order.
    pub bytes_delivered: u64,
    /// Segments that arrived again (a retransmission or a link duplicate)
    /// and were discarded.
    pub duplicates: u64,
    /// Segments that arrived for no connection of the receiving host, dropped.
    pub no_connection: u64,
    /// Data segments not handed to an endpoint because a side closed: those
    /// that reached an end its endpoint had closed (acknowledged, then
    /// dropped), and those still unsent when the peer's FIN arrived.
    pub discarded: u64,
    /// Stream commands that named no connection of the host, or an address
    /// not its own: ignored.
    pub invalid_commands: u64,
}
