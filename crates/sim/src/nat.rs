//! NAT boxes with the mapping and filtering behaviours of RFC 4787.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::link::Link;

/// Default NAT mapping lifetime without outbound traffic (RFC 4787 REQ-5
/// asks for at least 2 minutes; many home routers use 30 s, which is what
/// ICE consent and keepalives must survive).
pub const DEFAULT_MAPPING_TIMEOUT: Duration = Duration::from_secs(30);

/// Default lifetime of an idle TCP mapping (no segment either way): RFC 5382
/// REQ-5, an established connection's idle timeout of at least 2 hours and
/// 4 minutes.
pub const DEFAULT_TCP_MAPPING_TIMEOUT: Duration = Duration::from_secs(2 * 3600 + 4 * 60);

/// An RFC 4787 behaviour, used both for mapping (section 4.1) and for
/// filtering (section 5).
///
/// - As a **mapping** behaviour, it says which outbound datagrams from one
///   internal address share an external port: all of them
///   (endpoint-independent), those to the same remote IP
///   (address-dependent), or those to the same remote IP and port
///   (address-and-port-dependent, "symmetric").
/// - As a **filtering** behaviour, it says which inbound datagrams to an
///   external port pass: from anyone (endpoint-independent), from an IP the
///   internal address has sent to (address-dependent), or from an IP and port
///   it has sent to (address-and-port-dependent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatBehavior {
    /// RFC 4787 "Endpoint-Independent".
    EndpointIndependent,
    /// RFC 4787 "Address-Dependent".
    AddressDependent,
    /// RFC 4787 "Address and Port-Dependent".
    AddressAndPortDependent,
}

/// How a NAT box behaves.
///
/// The presets name the classic RFC 3489 types by their RFC 4787 behaviours.
/// A NAT translates only datagrams of its public address family; a datagram of
/// the other family that has no route inside the NAT's network is dropped and
/// counted as "no route".
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct NatConfig {
    /// The NAT's address on the outer network.
    pub public_ip: IpAddr,
    /// Which outbound flows share an external port (RFC 4787 section 4.1).
    pub mapping: NatBehavior,
    /// Which inbound datagrams are let in (RFC 4787 section 5).
    pub filtering: NatBehavior,
    /// A UDP mapping expires after this long without outbound traffic through it
    /// (RFC 4787 section 4.3; inbound traffic does not refresh it).
    pub mapping_timeout: Duration,
    /// RFC 4787 section 6: whether an internal host can reach another one
    /// through the NAT's public address. When `false` such datagrams are
    /// dropped and counted in [`NatCounters::hairpin_dropped`].
    pub hairpinning: bool,
    /// First external port the NAT allocates (inclusive).
    pub first_port: u16,
    /// Last external port the NAT allocates (inclusive).
    pub last_port: u16,
    /// The access link of the NAT's public side.
    pub link: Link,
    /// A TCP mapping expires after this long without segments through it,
    /// either way (RFC 5382 REQ-5 counts a connection idle when nothing
    /// crosses; inbound segments also stand in for the ACKs the model does
    /// not send).
    pub tcp_mapping_timeout: Duration,
    /// A firewall that lets no UDP through, either way: such datagrams are
    /// dropped and counted in [`NatCounters::udp_blocked`]. TCP still passes.
    pub udp_blocked: bool,
}

impl NatConfig {
    /// A NAT with the given mapping and filtering behaviours and defaults
    /// elsewhere: 30 s mapping timeout, no hairpinning, ports 49152..=65535,
    /// an ideal public link.
    pub fn new(public_ip: IpAddr, mapping: NatBehavior, filtering: NatBehavior) -> Self {
        Self {
            public_ip,
            mapping,
            filtering,
            mapping_timeout: DEFAULT_MAPPING_TIMEOUT,
            hairpinning: false,
            first_port: 49152,
            last_port: 65535,
            link: Link::IDEAL,
            tcp_mapping_timeout: DEFAULT_TCP_MAPPING_TIMEOUT,
            udp_blocked: false,
        }
    }

    /// Full cone: endpoint-independent mapping and filtering.
    pub fn full_cone(public_ip: IpAddr) -> Self {
        Self::new(
            public_ip,
            NatBehavior::EndpointIndependent,
            NatBehavior::EndpointIndependent,
        )
    }

    /// Restricted cone: endpoint-independent mapping, address-dependent filtering.
    pub fn restricted_cone(public_ip: IpAddr) -> Self {
        Self::new(
            public_ip,
            NatBehavior::EndpointIndependent,
            NatBehavior::AddressDependent,
        )
    }

    /// Port-restricted cone: endpoint-independent mapping,
    /// address-and-port-dependent filtering.
    pub fn port_restricted_cone(public_ip: IpAddr) -> Self {
        Self::new(
            public_ip,
            NatBehavior::EndpointIndependent,
            NatBehavior::AddressAndPortDependent,
        )
    }

    /// Symmetric: address-and-port-dependent mapping and filtering.
    pub fn symmetric(public_ip: IpAddr) -> Self {
        Self::new(
            public_ip,
            NatBehavior::AddressAndPortDependent,
            NatBehavior::AddressAndPortDependent,
        )
    }

    /// Sets the mapping timeout.
    pub fn with_mapping_timeout(mut self, timeout: Duration) -> Self {
        self.mapping_timeout = timeout;
        self
    }

    /// Enables or disables hairpinning.
    pub fn with_hairpinning(mut self, hairpinning: bool) -> Self {
        self.hairpinning = hairpinning;
        self
    }

    /// Sets the range of external ports (inclusive); swapped if reversed.
    pub fn with_port_range(mut self, first: u16, last: u16) -> Self {
        self.first_port = first.min(last);
        self.last_port = first.max(last);
        self
    }

    /// Sets the access link of the NAT's public side.
    pub fn with_link(mut self, link: impl Into<Link>) -> Self {
        self.link = link.into();
        self
    }

    /// Sets the lifetime of idle TCP mappings (no segment either way).
    pub fn with_tcp_mapping_timeout(mut self, timeout: Duration) -> Self {
        self.tcp_mapping_timeout = timeout;
        self
    }

    /// Blocks (or lets through) every UDP datagram, as a firewall that lets
    /// only TCP out does.
    pub fn with_udp_blocked(mut self, blocked: bool) -> Self {
        self.udp_blocked = blocked;
        self
    }
}

/// What a NAT did with the datagrams that reached it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatCounters {
    /// Outbound datagrams translated and forwarded.
    pub outbound: u64,
    /// Inbound datagrams translated and let in.
    pub inbound: u64,
    /// Datagrams hairpinned from one internal address to another.
    pub hairpinned: u64,
    /// Inbound datagrams dropped by the filtering behaviour.
    pub filtered: u64,
    /// Inbound datagrams to an external port with no live mapping.
    pub no_mapping: u64,
    /// Datagrams to the public address from inside with hairpinning off.
    pub hairpin_dropped: u64,
    /// Outbound datagrams dropped because no external port was free.
    pub ports_exhausted: u64,
    /// Mappings created.
    pub mappings_created: u64,
    /// Mappings removed after their timeout without traffic refreshing them.
    pub mappings_expired: u64,
    /// UDP datagrams dropped, either way, because the NAT blocks UDP
    /// ([`NatConfig::udp_blocked`]).
    pub udp_blocked: u64,
    /// Inbound TCP connection attempts (SYN) dropped: the NAT lets no
    /// unsolicited connection in (RFC 5382 REQ-4: no reset sent back).
    pub tcp_unsolicited: u64,
    /// TCP segments or connection attempts hairpinned from inside, dropped
    /// (TCP hairpinning is not modelled).
    pub tcp_hairpin_dropped: u64,
}

/// Why an inbound datagram did not pass the NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InboundDrop {
    NoMapping,
    Filtered,
}

/// The remote part of a mapping key, per the mapping behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Remote {
    Any,
    Ip(IpAddr),
    Addr(SocketAddr),
}

/// Which transport a mapping is for: UDP and TCP have separate port
/// spaces and tables (RFC 5382 for TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Proto {
    Udp,
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct MappingKey {
    proto: Proto,
    internal: SocketAddr,
    remote: Remote,
}

#[derive(Debug)]
struct Mapping {
    key: MappingKey,
    expires: Instant,
    /// Remote addresses the internal address has sent to through this mapping.
    permissions: BTreeSet<SocketAddr>,
}

/// A NAT box's translation table (BTreeMaps, so iteration is deterministic).
#[derive(Debug)]
pub(crate) struct NatState {
    pub config: NatConfig,
    pub counters: NatCounters,
    rng: StdRng,
    by_key: BTreeMap<MappingKey, u16>,
    by_port: BTreeMap<(Proto, u16), Mapping>,
}

impl NatState {
    pub fn new(config: NatConfig, seed: u64) -> Self {
        Self {
            config,
            counters: NatCounters::default(),
            rng: StdRng::seed_from_u64(seed),
            by_key: BTreeMap::new(),
            by_port: BTreeMap::new(),
        }
    }

    /// Translates an outbound datagram's source, creating or refreshing the
    /// mapping (RFC 4787 sections 4.1 and 4.3). `None` when no port is free.
    pub fn outbound(
        &mut self,
        now: Instant,
        proto: Proto,
        internal: SocketAddr,
        remote: SocketAddr,
    ) -> Option<SocketAddr> {
        let key = MappingKey {
            proto,
            internal,
            remote: match self.config.mapping {
                NatBehavior::EndpointIndependent => Remote::Any,
                NatBehavior::AddressDependent => Remote::Ip(remote.ip()),
                NatBehavior::AddressAndPortDependent => Remote::Addr(remote),
            },
        };
        let live = self.by_key.get(&key).copied().filter(|port| {
            self.by_port
                .get(&(proto, *port))
                .is_some_and(|mapping| mapping.expires > now)
        });
        let port = match live {
            Some(port) => port,
            None => {
                if let Some(stale) = self.by_key.get(&key).copied() {
                    self.remove((proto, stale));
                }
                let Some(port) = self.allocate(now, proto) else {
                    self.counters.ports_exhausted += 1;
                    return None;
                };
                self.by_key.insert(key, port);
                self.by_port.insert(
                    (proto, port),
                    Mapping {
                        key,
                        expires: now,
                        permissions: BTreeSet::new(),
                    },
                );
                self.counters.mappings_created += 1;
                port
            }
        };
        let timeout = match proto {
            Proto::Udp => self.config.mapping_timeout,
            Proto::Tcp => self.config.tcp_mapping_timeout,
        };
        if let Some(mapping) = self.by_port.get_mut(&(proto, port)) {
            mapping.expires = now + timeout;
            mapping.permissions.insert(remote);
        }
        self.counters.outbound += 1;
        Some(SocketAddr::new(self.config.public_ip, port))
    }

    /// Finds the internal address for an inbound datagram from `remote` to
    /// the external `port`, applying the filtering behaviour (RFC 4787 section 5).
    /// A TCP segment let in refreshes its mapping (RFC 5382 REQ-5); a UDP
    /// datagram does not (RFC 4787 REQ-6 asks only for outbound refresh).
    pub fn inbound(
        &mut self,
        now: Instant,
        proto: Proto,
        remote: SocketAddr,
        port: u16,
    ) -> Result<SocketAddr, InboundDrop> {
        let Some(mapping) = self.by_port.get(&(proto, port)) else {
            self.counters.no_mapping += 1;
            return Err(InboundDrop::NoMapping);
        };
        if mapping.expires <= now {
            self.remove((proto, port));
            self.counters.no_mapping += 1;
            return Err(InboundDrop::NoMapping);
        }
        let allowed = match self.config.filtering {
            NatBehavior::EndpointIndependent => true,
            NatBehavior::AddressDependent => {
                mapping.permissions.iter().any(|p| p.ip() == remote.ip())
            }
            NatBehavior::AddressAndPortDependent => mapping.permissions.contains(&remote),
        };
        if !allowed {
            self.counters.filtered += 1;
            return Err(InboundDrop::Filtered);
        }
        self.counters.inbound += 1;
        let internal = mapping.key.internal;
        if proto == Proto::Tcp
            && let Some(mapping) = self.by_port.get_mut(&(proto, port))
        {
            mapping.expires = now + self.config.tcp_mapping_timeout;
        }
        Ok(internal)
    }

    /// Number of live mappings at `now`.
    pub fn live_mappings(&self, now: Instant) -> usize {
        self.by_port.values().filter(|m| m.expires > now).count()
    }

    /// Picks a free external port: a seeded random start, then the next free
    /// one (bounded by the size of the range).
    fn allocate(&mut self, now: Instant, proto: Proto) -> Option<u16> {
        let first = self.config.first_port;
        let last = self.config.last_port;
        let size = usize::from(last - first) + 1;
        let in_use = |s: &Self| s.by_port.keys().filter(|(p, _)| *p == proto).count();
        if in_use(self) >= size {
            self.expire(now);
        }
        if in_use(self) >= size {
            return None;
        }
        let start = self.rng.random_range(first..=last);
        let mut port = start;
        for _ in 0..size {
            match self.by_port.get(&(proto, port)) {
                None => return Some(port),
                Some(m) if m.expires <= now => {
                    self.remove((proto, port));
                    return Some(port);
                }
                Some(_) => port = if port == last { first } else { port + 1 },
            }
        }
        None
    }

    fn expire(&mut self, now: Instant) {
        let stale: Vec<(Proto, u16)> = self
            .by_port
            .iter()
            .filter(|(_, m)| m.expires <= now)
            .map(|(port, _)| *port)
            .collect();
        for port in stale {
            self.remove(port);
        }
    }

    fn remove(&mut self, port: (Proto, u16)) {
        if let Some(mapping) = self.by_port.remove(&port) {
            self.by_key.remove(&mapping.key);
            self.counters.mappings_expired += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn nat(config: NatConfig) -> NatState {
        NatState::new(config, 7)
    }

    const PUBLIC: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 1));

    #[test]
    fn endpoint_independent_mapping_reuses_the_port_for_every_destination() {
        let now = Instant::now();
        let mut nat = nat(NatConfig::full_cone(PUBLIC));
        let a = nat.outbound(
            now,
            Proto::Udp,
            addr("10.0.0.2:5000"),
            addr("198.51.100.1:3478"),
        );
        let b = nat.outbound(
            now,
            Proto::Udp,
            addr("10.0.0.2:5000"),
            addr("198.51.100.2:9"),
        );
        assert_eq!(a, b);
        assert_eq!(nat.counters.mappings_created, 1);
    }

    #[test]
    fn address_dependent_mapping_shares_a_port_per_remote_ip() {
        let now = Instant::now();
        let mut nat = nat(NatConfig::new(
            PUBLIC,
            NatBehavior::AddressDependent,
            NatBehavior::AddressDependent,
        ));
        let a = nat.outbound(
            now,
            Proto::Udp,
            addr("10.0.0.2:5000"),
            addr("198.51.100.1:1"),
        );
        let b = nat.outbound(
            now,
            Proto::Udp,
            addr("10.0.0.2:5000"),
            addr("198.51.100.1:2"),
        );
        let c = nat.outbound(
            now,
            Proto::Udp,
            addr("10.0.0.2:5000"),
            addr("198.51.100.2:1"),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn address_dependent_filter_admits_any_port_of_a_contacted_ip() {
        let now = Instant::now();
        let mut nat = nat(NatConfig::restricted_cone(PUBLIC));
        let public = nat
            .outbound(
                now,
                Proto::Udp,
                addr("10.0.0.2:5000"),
                addr("198.51.100.1:1"),
            )
            .unwrap();
        assert_eq!(
            nat.inbound(now, Proto::Udp, addr("198.51.100.1:2"), public.port()),
            Ok(addr("10.0.0.2:5000"))
        );
        assert_eq!(
            nat.inbound(now, Proto::Udp, addr("198.51.100.9:1"), public.port()),
            Err(InboundDrop::Filtered)
        );
    }

    #[test]
    fn expired_mapping_drops_inbound_and_is_replaced_on_next_outbound() {
        let now = Instant::now();
        let mut nat =
            nat(NatConfig::full_cone(PUBLIC).with_mapping_timeout(Duration::from_secs(30)));
        let public = nat
            .outbound(
                now,
                Proto::Udp,
                addr("10.0.0.2:5000"),
                addr("198.51.100.1:1"),
            )
            .unwrap();
        let later = now + Duration::from_secs(30);
        assert_eq!(
            nat.inbound(later, Proto::Udp, addr("198.51.100.1:1"), public.port()),
            Err(InboundDrop::NoMapping)
        );
        assert_eq!(nat.counters.mappings_expired, 1);
        assert!(
            nat.outbound(
                later,
                Proto::Udp,
                addr("10.0.0.2:5000"),
                addr("198.51.100.1:1")
            )
            .is_some()
        );
        assert_eq!(nat.counters.mappings_created, 2);
    }

    #[test]
    fn tcp_mappings_live_apart_from_udp_and_last_hours() {
        let now = Instant::now();
        let mut nat = nat(NatConfig::symmetric(PUBLIC).with_port_range(40000, 40000));
        let (internal, remote) = (addr("10.0.0.2:5000"), addr("198.51.100.1:443"));
        let udp = nat.outbound(now, Proto::Udp, internal, remote).unwrap();
        // One port in the range, but TCP has its own port space.
        let tcp = nat.outbound(now, Proto::Tcp, internal, remote).unwrap();
        assert_eq!(udp, tcp);
        assert_eq!(
            nat.inbound(now, Proto::Tcp, remote, tcp.port()),
            Ok(internal)
        );
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            nat.inbound(later, Proto::Udp, remote, udp.port()),
            Err(InboundDrop::NoMapping)
        );
        assert_eq!(
            nat.inbound(later, Proto::Tcp, remote, tcp.port()),
            Ok(internal)
        );
    }

    #[test]
    fn inbound_tcp_refreshes_its_mapping_and_inbound_udp_does_not() {
        let now = Instant::now();
        let timeout = Duration::from_secs(10);
        let mut nat = nat(NatConfig::full_cone(PUBLIC)
            .with_mapping_timeout(timeout)
            .with_tcp_mapping_timeout(timeout));
        let (internal, remote) = (addr("10.0.0.2:5000"), addr("198.51.100.1:443"));
        let udp = nat.outbound(now, Proto::Udp, internal, remote).unwrap();
        let tcp = nat.outbound(now, Proto::Tcp, internal, remote).unwrap();
        let mid = now + Duration::from_secs(8);
        assert_eq!(
            nat.inbound(mid, Proto::Udp, remote, udp.port()),
            Ok(internal)
        );
        assert_eq!(
            nat.inbound(mid, Proto::Tcp, remote, tcp.port()),
            Ok(internal)
        );
        let later = now + Duration::from_secs(16);
        assert_eq!(
            nat.inbound(later, Proto::Udp, remote, udp.port()),
            Err(InboundDrop::NoMapping)
        );
        assert_eq!(
            nat.inbound(later, Proto::Tcp, remote, tcp.port()),
            Ok(internal)
        );
    }

    #[test]
    fn port_range_exhaustion_drops_new_flows() {
        let now = Instant::now();
        let mut nat = nat(NatConfig::symmetric(PUBLIC).with_port_range(40000, 40001));
        assert!(
            nat.outbound(now, Proto::Udp, addr("10.0.0.2:1"), addr("198.51.100.1:1"))
                .is_some()
        );
        assert!(
            nat.outbound(now, Proto::Udp, addr("10.0.0.2:1"), addr("198.51.100.1:2"))
                .is_some()
        );
        assert!(
            nat.outbound(now, Proto::Udp, addr("10.0.0.2:1"), addr("198.51.100.1:3"))
                .is_none()
        );
        assert_eq!(nat.counters.ports_exhausted, 1);
        assert_eq!(nat.live_mappings(now), 2);
    }
}
