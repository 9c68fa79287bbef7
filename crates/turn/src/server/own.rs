//! The server's own transport addresses in use, counted: nothing is relayed
//! to them (RFC 8656 §21.3: TURN within TURN, or a service on this host).
//!
//! Two kinds are counted here, per live allocation: its relayed address,
//! and the server address of its 5-tuple (RFC 8656 §2), the address the
//! client reached the server at. A listener on a wildcard address
//! (`0.0.0.0`, `::`) names no address when it binds; the destination of
//! each datagram it receives is what the driver gives as the 5-tuple's
//! server address, so every address a client allocated through is known
//! here. Each set holds at most one entry per allocation: it is bounded by
//! the allocation quota.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};

/// How many live allocations use each key.
#[derive(Debug)]
pub(super) struct Counted<K>(HashMap<K, usize>);

impl<K> Default for Counted<K> {
    fn default() -> Self {
        Counted(HashMap::new())
    }
}

impl<K: Hash + Eq> Counted<K> {
    /// One more user of `key`.
    pub(super) fn add(&mut self, key: K) {
        *self.0.entry(key).or_default() += 1;
    }

    /// One user of `key` fewer; forgotten at none.
    pub(super) fn remove(&mut self, key: &K) {
        if let Some(n) = self.0.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.0.remove(key);
            }
        }
    }

    /// Whether some live allocation uses `key`.
    pub(super) fn contains(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }
}

/// The server addresses of the 5-tuples of live allocations, and their IPs.
#[derive(Debug, Default)]
pub(super) struct Listeners {
    addrs: Counted<SocketAddr>,
    ips: Counted<IpAddr>,
}

impl Listeners {
    /// An allocation on a 5-tuple with server address `server`, over UDP
    /// or not. A wildcard one (a platform that did not say where a
    /// datagram was sent) names no address: it is not counted. Only a UDP
    /// listener's address and port is one data could reach (relayed data
    /// is UDP): a TCP or TLS listener's port number may be a UDP socket's
    /// too, a relay or a peer's, and only its IP counts.
    pub(super) fn add(&mut self, server: SocketAddr, udp: bool) {
        if !server.ip().is_unspecified() {
            if udp {
                self.addrs.add(server);
            }
            self.ips.add(server.ip());
        }
    }

    /// That allocation went.
    pub(super) fn remove(&mut self, server: SocketAddr, udp: bool) {
        if !server.ip().is_unspecified() {
            if udp {
                self.addrs.remove(&server);
            }
            self.ips.remove(&server.ip());
        }
    }

    /// Whether `addr` is a UDP listener address a client reached: the TURN
    /// server itself.
    pub(super) fn is_listener(&self, addr: &SocketAddr) -> bool {
        self.addrs.contains(addr)
    }

    /// Whether `ip` is an address a client reached the server at.
    pub(super) fn is_own_ip(&self, ip: &IpAddr) -> bool {
        self.ips.contains(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_per_allocation_and_wildcards_are_not() {
        let a: SocketAddr = "192.0.2.8:3478".parse().unwrap();
        let mut l = Listeners::default();
        l.add(a, true);
        l.add(a, true);
        l.add("0.0.0.0:3478".parse().unwrap(), true);
        l.remove(a, true);
        assert!(l.is_listener(&a) && l.is_own_ip(&a.ip()));
        l.remove(a, true);
        assert!(!l.is_listener(&a) && !l.is_own_ip(&a.ip()));
        assert!(!l.is_own_ip(&"0.0.0.0".parse().unwrap()));
    }

    #[test]
    fn a_tcp_listener_counts_its_ip_but_not_its_port_number() {
        let a: SocketAddr = "192.0.2.8:45000".parse().unwrap();
        let mut l = Listeners::default();
        l.add(a, false);
        assert!(!l.is_listener(&a) && l.is_own_ip(&a.ip()));
        l.remove(a, false);
        assert!(!l.is_own_ip(&a.ip()));
    }
}
