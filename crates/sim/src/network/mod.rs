//! The simulated network: hosts, NATs, links, the event queue and virtual time.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::endpoint::Endpoint;
use crate::error::SimError;
use crate::link::{Link, LinkState};
use crate::nat::{NatConfig, NatCounters, NatState, Proto};
use crate::trace::{Protocol, Trace, TraceEntry};

mod event;
mod handles;
mod routing;
mod seeds;
mod tcp;

use event::{Datagram, Direction, Event, LinkRef, Node, SegKind, Segment, What};
pub use handles::{DuplexCounters, HostId, NatId, NetworkCounters, TcpCounters};
use seeds::{StreamKind, derive_seed, rng_stream};

/// Default bound on the work (deliveries, timeouts, transmits) done at one
/// virtual instant before [`Network::step`] panics.
pub const DEFAULT_INSTANT_BUDGET: u64 = 1_000_000;

#[derive(Debug)]
struct Duplex {
    up: LinkState,
    down: LinkState,
}

impl Duplex {
    fn new(link: Link, seed: u64, node: Node) -> Self {
        let stream = match node {
            Node::Host(i) => rng_stream(i, StreamKind::HostLink),
            Node::Nat(i) => rng_stream(i, StreamKind::NatLink),
        };
        Self {
            up: LinkState::new(link.up, derive_seed(seed, stream)),
            down: LinkState::new(link.down, derive_seed(seed, stream | 1)),
        }
    }

    fn set(&mut self, link: Link) {
        self.up.config = link.up;
        self.down.config = link.down;
    }

    fn counters(&self) -> DuplexCounters {
        DuplexCounters {
            up: self.up.counters,
            down: self.down.counters,
        }
    }
}

/// Object-safe `Endpoint + Any`, so endpoints of different types share one
/// network and can be downcast back through a typed [`HostId`].
trait AnyEndpoint: Endpoint {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Endpoint + Any> AnyEndpoint for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct Host {
    endpoint: Box<dyn AnyEndpoint>,
    addrs: Vec<IpAddr>,
    segment: Segment,
    link: Duplex,
}

struct Nat {
    state: NatState,
    /// The segment the NAT's public address lives in.
    outer: Segment,
    link: Duplex,
}

/// A deterministic simulated network driving sans-IO [`Endpoint`]s in virtual time.
///
/// # Model
///
/// - **Segments.** The public network is one segment; each NAT has a private
///   segment behind it. Addresses are unique per segment.
/// - **Links.** Every host, and the public side of every NAT, has an access
///   [`Link`]. A datagram crosses the sender's up-link, the up- and down-links
///   of the NATs on its way, then the receiver's down-link; each link applies
///   its [`LinkConfig`](crate::LinkConfig) independently, with its own RNG stream derived from
///   the seed (so impairing one link does not change the dice of another).
///   There are no per-pair overrides: give each host its own link instead.
/// - **Routing.** A datagram goes to the node that has its destination IP in
///   the sender's segment; from a private segment, an unknown destination goes
///   through the NAT (which translates the source), and a destination equal to
///   the NAT's public IP is hairpinned if the NAT allows it. Unroutable and
///   filtered datagrams are dropped and counted. An endpoint receives every
///   datagram for any port of its host's addresses.
/// - **TCP.** Each host has a TCP stack that endpoints drive with
///   [`StreamCommand`](crate::StreamCommand)s and that answers with
///   [`StreamEvent`](crate::StreamEvent)s. Its segments are routed, impaired
///   and translated like datagrams (NATs keep TCP mappings apart, RFC 5382,
///   and let no SYN in from outside); losses are repaired by retransmission,
///   so endpoints see bytes in order, late rather than lost. See the crate
///   documentation for what the model includes and leaves out.
/// - **Time.** Virtual time starts at a base `Instant` and moves only by
///   events: link exits (ordered by `(time, sequence number)`, so ties are
///   deterministic), endpoint timeouts and TCP retransmission timers still
///   armed (a timer whose segment arrived is stopped and wakes nothing).
///   Nothing sleeps.
///
/// # Driving order
///
/// At each instant, [`step`](Self::step) repeats, until nothing is left at
/// that instant: deliver every due datagram (`handle_receive`) and TCP
/// segment (`handle_stream` for what it brings), and fire due TCP
/// retransmission timers, in event order; then, host by host in creation
/// order, call `handle_timeout` if `poll_timeout` is at or before now (a
/// past instant counts as now); then, host by host, call `poll_transmit`
/// until it returns `None`, then `poll_stream` until it returns `None`. A zero-delay
/// path makes replies happen at the same instant; an exchange that never
/// stops (two echo endpoints on ideal links) exhausts the instant budget
/// ([`set_instant_budget`](Self::set_instant_budget)) and panics with a message
/// saying so, rather than hanging.
pub struct Network {
    seed: u64,
    start: Instant,
    now: Instant,
    hosts: Vec<Host>,
    nats: Vec<Nat>,
    addresses: BTreeMap<(Segment, IpAddr), Node>,
    queue: BinaryHeap<Reverse<Event>>,
    next_event_seq: u64,
    pool: Vec<Vec<u8>>,
    counters: NetworkCounters,
    trace: Trace,
    tcp: tcp::TcpTable,
    poll_pending: bool,
    instant_budget: u64,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("seed", &self.seed)
            .field("elapsed", &self.elapsed())
            .field("hosts", &self.hosts.len())
            .field("nats", &self.nats.len())
            .field("queued", &self.queue.len())
            .field("counters", &self.counters)
            .finish()
    }
}

impl Network {
    /// An empty network whose virtual time starts now (the `Instant` is read
    /// once, here) and whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_start(seed, Instant::now())
    }

    /// An empty network whose virtual time starts at `start`.
    pub fn with_start(seed: u64, start: Instant) -> Self {
        Self {
            seed,
            start,
            now: start,
            hosts: Vec::new(),
            nats: Vec::new(),
            addresses: BTreeMap::new(),
            queue: BinaryHeap::new(),
            next_event_seq: 0,
            pool: Vec::new(),
            counters: NetworkCounters::default(),
            trace: Trace::new(),
            tcp: tcp::TcpTable::default(),
            poll_pending: false,
            instant_budget: DEFAULT_INSTANT_BUDGET,
        }
    }

    /// The seed the network was created with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The virtual time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The instant virtual time started at.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Sets how much work (deliveries, timeouts, transmits) one instant may
    /// take before [`step`](Self::step) panics, to catch endpoints that never go quiet.
    pub fn set_instant_budget(&mut self, budget: u64) {
        self.instant_budget = budget.max(1);
    }

    /// Adds a host on the public network with the given addresses (IPv4
    /// and/or IPv6), access link and endpoint.
    pub fn add_host<E: Endpoint + 'static>(
        &mut self,
        addrs: impl IntoIterator<Item = IpAddr>,
        link: impl Into<Link>,
        endpoint: E,
    ) -> Result<HostId<E>, SimError> {
        self.insert_host(Segment::Public, addrs, link.into(), endpoint)
    }

    /// Adds a host on the private network behind `nat`.
    pub fn add_host_behind<E: Endpoint + 'static>(
        &mut self,
        nat: NatId,
        addrs: impl IntoIterator<Item = IpAddr>,
        link: impl Into<Link>,
        endpoint: E,
    ) -> Result<HostId<E>, SimError> {
        self.check_nat(nat)?;
        self.insert_host(Segment::Inside(nat.0), addrs, link.into(), endpoint)
    }

    /// Adds a NAT whose public address is on the public network.
    pub fn add_nat(&mut self, config: NatConfig) -> Result<NatId, SimError> {
        self.insert_nat(Segment::Public, config)
    }

    /// Adds a NAT whose public address is on the private network behind
    /// `parent` (a NAT behind a NAT, as with carrier-grade NAT).
    pub fn add_nat_behind(&mut self, parent: NatId, config: NatConfig) -> Result<NatId, SimError> {
        self.check_nat(parent)?;
        self.insert_nat(Segment::Inside(parent.0), config)
    }

    /// The endpoint of `host`.
    ///
    /// # Panics
    ///
    /// If `host` comes from another network (its type does not match).
    pub fn endpoint<E: Endpoint + 'static>(&self, host: &HostId<E>) -> &E {
        match self
            .hosts
            .get(host.index)
            .and_then(|h| h.endpoint.as_any().downcast_ref::<E>())
        {
            Some(endpoint) => endpoint,
            None => panic!("ferrtc-sim: {host:?} does not belong to this network"),
        }
    }

    /// The endpoint of `host`, mutably. The network polls every endpoint at
    /// the next [`step`](Self::step) even if no time passes, so commands
    /// given here (start a handshake, send a message) take effect.
    ///
    /// # Panics
    ///
    /// If `host` comes from another network (its type does not match).
    pub fn endpoint_mut<E: Endpoint + 'static>(&mut self, host: &HostId<E>) -> &mut E {
        self.poll_pending = true;
        match self
            .hosts
            .get_mut(host.index)
            .and_then(|h| h.endpoint.as_any_mut().downcast_mut::<E>())
        {
            Some(endpoint) => endpoint,
            None => panic!("ferrtc-sim: {host:?} does not belong to this network"),
        }
    }

    /// The addresses of `host`.
    pub fn host_addrs<E>(&self, host: &HostId<E>) -> &[IpAddr] {
        self.hosts
            .get(host.index)
            .map_or(&[], |h| h.addrs.as_slice())
    }

    /// Replaces the access link of `host` (queued datagrams keep their fate).
    pub fn set_host_link<E>(&mut self, host: &HostId<E>, link: impl Into<Link>) {
        if let Some(h) = self.hosts.get_mut(host.index) {
            h.link.set(link.into());
        }
    }

    /// Replaces the public-side access link of `nat`.
    pub fn set_nat_link(&mut self, nat: NatId, link: impl Into<Link>) {
        if let Some(n) = self.nats.get_mut(nat.0) {
            n.link.set(link.into());
        }
    }

    /// Counters of the access link of `host`.
    pub fn host_link_counters<E>(&self, host: &HostId<E>) -> DuplexCounters {
        self.hosts
            .get(host.index)
            .map(|h| h.link.counters())
            .unwrap_or_default()
    }

    /// Counters of the public-side access link of `nat`.
    pub fn nat_link_counters(&self, nat: NatId) -> DuplexCounters {
        self.nats
            .get(nat.0)
            .map(|n| n.link.counters())
            .unwrap_or_default()
    }

    /// Translation counters of `nat`.
    pub fn nat_counters(&self, nat: NatId) -> NatCounters {
        self.nats
            .get(nat.0)
            .map(|n| n.state.counters)
            .unwrap_or_default()
    }

    /// Number of mappings of `nat` that are live now.
    pub fn nat_mappings(&self, nat: NatId) -> usize {
        self.nats
            .get(nat.0)
            .map_or(0, |n| n.state.live_mappings(self.now))
    }

    /// The public address of `nat`.
    pub fn nat_public_ip(&self, nat: NatId) -> Option<IpAddr> {
        self.nats.get(nat.0).map(|n| n.state.config.public_ip)
    }

    /// Network-wide counters.
    pub fn counters(&self) -> NetworkCounters {
        let mut counters = self.counters;
        counters.tcp = self.tcp.counters;
        counters
    }

    /// Number of TCP connections the network still holds state for (an
    /// end is let go once its endpoint closed it and all it sent arrived).
    pub fn tcp_connections(&self) -> usize {
        self.tcp.len()
    }

    /// A running hash of every delivery so far (time since start, addresses,
    /// payload bytes): two runs with the same seed and the same endpoints give
    /// the same value, provided the endpoints are deterministic themselves
    /// (seeded RNG, time only from `now`).
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    /// Starts keeping a log of deliveries (see [`trace`](Self::trace)).
    pub fn enable_trace_log(&mut self) {
        self.trace.enable_log();
    }

    /// The deliveries logged since [`enable_trace_log`](Self::enable_trace_log)
    /// (empty if it was never called).
    pub fn trace(&self) -> &[TraceEntry] {
        self.trace.log()
    }

    /// When the next thing happens (a datagram leaves a link, an endpoint
    /// timer fires or a TCP segment is due for retransmission), if anything
    /// is pending. Past timers count as now.
    pub fn next_wake(&mut self) -> Option<Instant> {
        self.drop_disarmed_timers();
        let event = self.queue.peek().map(|Reverse(e)| e.at);
        let timer = self
            .hosts
            .iter_mut()
            .filter_map(|h| h.endpoint.poll_timeout())
            .min();
        let next = match (event, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|t| t.max(self.now))
    }

    /// Processes the next instant that has work: advances virtual time to it
    /// and runs it to quiescence (see the type's driving order). Returns
    /// `false`, without advancing time, if nothing is pending.
    ///
    /// # Panics
    ///
    /// If one instant takes more work than the instant budget.
    pub fn step(&mut self) -> bool {
        if !self.poll_pending {
            let Some(next) = self.next_wake() else {
                return false;
            };
            self.now = next.max(self.now);
        }
        self.poll_pending = false;
        self.run_instant();
        true
    }

    /// Runs every instant up to and including `deadline`, then sets the
    /// virtual time to `deadline` (if it is later than now).
    pub fn run_until(&mut self, deadline: Instant) {
        while self.poll_pending || self.next_wake().is_some_and(|t| t <= deadline) {
            self.step();
        }
        self.now = self.now.max(deadline);
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    /// Steps until `done` returns true (checked before the first step and
    /// after each) or `limit` of virtual time has passed; returns whether
    /// `done` became true.
    pub fn run_until_condition(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> bool {
        let deadline = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if !(self.poll_pending || self.next_wake().is_some_and(|t| t <= deadline)) {
                self.now = self.now.max(deadline);
                return done(self);
            }
            self.step();
        }
    }

    fn check_nat(&self, nat: NatId) -> Result<(), SimError> {
        if nat.0 < self.nats.len() {
            Ok(())
        } else {
            Err(SimError::UnknownNat)
        }
    }

    fn claim(&mut self, segment: Segment, addrs: &[IpAddr], node: Node) -> Result<(), SimError> {
        for (i, addr) in addrs.iter().enumerate() {
            if self.addresses.contains_key(&(segment, *addr)) || addrs[..i].contains(addr) {
                return Err(SimError::AddressInUse { addr: *addr });
            }
        }
        for addr in addrs {
            self.addresses.insert((segment, *addr), node);
        }
        Ok(())
    }

    fn insert_host<E: Endpoint + 'static>(
        &mut self,
        segment: Segment,
        addrs: impl IntoIterator<Item = IpAddr>,
        link: Link,
        endpoint: E,
    ) -> Result<HostId<E>, SimError> {
        let addrs: Vec<IpAddr> = addrs.into_iter().collect();
        if addrs.is_empty() {
            return Err(SimError::NoAddress);
        }
        let index = self.hosts.len();
        self.claim(segment, &addrs, Node::Host(index))?;
        self.hosts.push(Host {
            endpoint: Box::new(endpoint),
            addrs,
            segment,
            link: Duplex::new(link, self.seed, Node::Host(index)),
        });
        self.poll_pending = true;
        Ok(HostId::new(index))
    }

    fn insert_nat(&mut self, outer: Segment, config: NatConfig) -> Result<NatId, SimError> {
        let index = self.nats.len();
        self.claim(outer, &[config.public_ip], Node::Nat(index))?;
        let link = Duplex::new(config.link, self.seed, Node::Nat(index));
        let nat_seed = derive_seed(self.seed, rng_stream(index, StreamKind::NatPorts));
        self.nats.push(Nat {
            state: NatState::new(config, nat_seed),
            outer,
            link,
        });
        Ok(NatId(index))
    }

    /// Removes, from the head of the event queue, the TCP retransmission
    /// timers whose segment arrived or whose connection is gone (RFC 6298
    /// §5.2: the timer is stopped). They would do nothing when due, and left
    /// in place they would make [`step`](Self::step) move virtual time to an
    /// instant with no work and [`next_wake`](Self::next_wake) report a
    /// wake-up for nothing. Stopped timers deeper in the queue are removed
    /// when they reach its head.
    fn drop_disarmed_timers(&mut self) {
        loop {
            let disarmed = match self.queue.peek() {
                Some(Reverse(Event {
                    what: What::Retransmit(timer),
                    ..
                })) => !self.tcp.timer_is_armed(timer),
                _ => false,
            };
            if !disarmed {
                return;
            }
            self.queue.pop();
        }
    }

    /// Runs the current instant until no event, timeout or transmit is left,
    /// in the order documented on [`Network`].
    fn run_instant(&mut self) {
        let mut work: u64 = 0;
        loop {
            let before = work;
            self.deliver_due(&mut work);
            self.fire_timeouts(&mut work);
            self.drain_transmits(&mut work);
            if work == before {
                break;
            }
        }
    }

    /// Phase 1: every link exit due at or before now, in `(time, seq)` order.
    fn deliver_due(&mut self, work: &mut u64) {
        while let Some(Reverse(event)) = self
            .queue
            .peek_mut()
            .and_then(|e| (e.0.at <= self.now).then(|| PeekMut::pop(e)))
        {
            self.handle_event(event);
            *work += 1;
            self.check_budget(*work);
        }
    }

    /// Phase 2: `handle_timeout` for every host whose timer is due (a past
    /// instant counts as now), in creation order.
    fn fire_timeouts(&mut self, work: &mut u64) {
        let now = self.now;
        for host in &mut self.hosts {
            if host.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                host.endpoint.handle_timeout(now);
                *work += 1;
            }
        }
        self.check_budget(*work);
    }

    /// Phase 3: on every host, in creation order, `poll_transmit` until
    /// `None`, then `poll_stream` until `None`.
    fn drain_transmits(&mut self, work: &mut u64) {
        let mut buf = self.take_buffer();
        for index in 0..self.hosts.len() {
            while let Some(transmit) = self
                .hosts
                .get_mut(index)
                .and_then(|host| host.endpoint.poll_transmit(self.now, &mut buf))
            {
                // The filled buffer travels with the datagram; take a fresh one.
                let payload = std::mem::replace(&mut buf, self.take_buffer());
                self.send(
                    index,
                    Datagram {
                        source: transmit.source,
                        destination: transmit.destination,
                        payload,
                        tcp: None,
                    },
                );
                *work += 1;
                self.check_budget(*work);
            }
            while let Some(command) = self
                .hosts
                .get_mut(index)
                .and_then(|host| host.endpoint.poll_stream(self.now, &mut buf))
            {
                self.stream_command(index, command, &buf);
                *work += 1;
                self.check_budget(*work);
            }
        }
        self.recycle(buf);
    }

    fn check_budget(&self, work: u64) {
        if work > self.instant_budget {
            panic!(
                "ferrtc-sim: more than {} deliveries/timeouts/transmits at virtual time +{:?} \
                 without time advancing: an endpoint never goes quiet (poll_transmit always \
                 Some, poll_timeout stuck in the past, or a zero-delay exchange that never \
                 ends); raise it with Network::set_instant_budget if this is intended",
                self.instant_budget,
                self.elapsed()
            );
        }
    }
}
