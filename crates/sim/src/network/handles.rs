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
    /// Datagrams dropped because their source IP is not one of the sending host's.
    pub invalid_source: u64,
}
