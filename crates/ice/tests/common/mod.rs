//! Test harness: ICE agents as `ferrtc_sim` endpoints, a tiny STUN server,
//! and signaling between two peers in virtual time.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_ice::{Agent, AgentConfig, Candidate, ConnectionState, Event, GatheringState, Receive};
use ferrtc_sim::{Endpoint, HostId, Network, Transmit};
use ferrtc_stun::{Attribute, Class, Message, MessageBuilder, Method};

/// An ICE agent on a simulated host, plus the application on top: it sends
/// queued messages once a pair is selected and keeps what it receives.
pub struct Peer {
    pub agent: Agent,
    /// Application data received on validated pairs.
    pub received: Vec<Vec<u8>>,
    /// Application data waiting for a selected pair.
    pub outbox: VecDeque<Vec<u8>>,
    /// Every event the agent gave, in order, with its virtual time.
    pub events: Vec<(Instant, Event)>,
    /// Local addresses whose "interface" is down: nothing in or out.
    pub down: HashSet<SocketAddr>,
    now: Instant,
}

impl Peer {
    pub fn new(agent: Agent, now: Instant) -> Self {
        Peer {
            agent,
            received: Vec::new(),
            outbox: VecDeque::new(),
            events: Vec::new(),
            down: HashSet::new(),
            now,
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.agent.poll_event() {
            self.events.push((self.now, e));
        }
    }

    pub fn state(&self) -> ConnectionState {
        self.agent.connection_state()
    }

    /// The states the agent went through, in order.
    pub fn states(&self) -> Vec<ConnectionState> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::ConnectionStateChange { state, .. } => Some(*state),
                _ => None,
            })
            .collect()
    }

    pub fn received_text(&self) -> Vec<String> {
        self.received
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect()
    }
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        self.now = now;
        if self.down.contains(&dest) {
            return;
        }
        match self.agent.handle_receive(now, source, dest, data) {
            Receive::Data(d) => self.received.push(d.to_vec()),
            // Through a TURN relay (tests/relay.rs).
            Receive::Relayed(d) => self.received.push(d),
            _ => {}
        }
        self.drain_events();
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.now = now;
        self.drain_events();
        while let Some(t) = self.agent.poll_transmit(now, buf) {
            if self.down.contains(&t.source) {
                continue;
            }
            return Some(Transmit {
                source: t.source,
                destination: t.destination,
            });
        }
        self.drain_events();
        if self.agent.selected_pair().is_some()
            && let Some(data) = self.outbox.pop_front()
        {
            buf.clear();
            buf.extend_from_slice(&data);
            let t = self.agent.send(buf).ok()?;
            if self.down.contains(&t.source) {
                return None;
            }
            return Some(Transmit {
                source: t.source,
                destination: t.destination,
            });
        }
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.agent.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.agent.handle_timeout(now);
        self.drain_events();
    }
}

/// A STUN server answering Binding requests with XOR-MAPPED-ADDRESS
/// (RFC 8489 §7.3.1), built on ferrtc-stun.
#[derive(Default)]
pub struct StunServer {
    pending: VecDeque<(SocketAddr, SocketAddr, ferrtc_stun::TransactionId)>,
    pub requests: usize,
}

impl Endpoint for StunServer {
    fn handle_receive(&mut self, _now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        let Ok(msg) = Message::parse(data) else {
            return;
        };
        if msg.class() == Class::Request && msg.method() == Method::BINDING {
            self.requests += 1;
            self.pending.push_back((dest, source, msg.transaction_id()));
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (local, client, tid) = self.pending.pop_front()?;
        let mut b = MessageBuilder::new(buf, Class::SuccessResponse, Method::BINDING, tid);
        b.add(&Attribute::XorMappedAddress(client)).ok()?;
        b.add_fingerprint();
        b.finish();
        Some(Transmit {
            source: local,
            destination: client,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub const PORT: u16 = 5000;

/// Two peers and the signaling between them.
pub struct Call {
    pub net: Network,
    pub a: HostId<Peer>,
    pub b: HostId<Peer>,
    /// How far each side's events were signalled to the other.
    cursor: [usize; 2],
    /// Signal candidates (false: hold them; the test delivers them itself).
    pub auto_signal: bool,
}

/// Where a peer lives: its host addresses, whether behind a NAT.
pub struct Side {
    pub config: AgentConfig,
    pub addrs: Vec<IpAddr>,
    pub nat: Option<ferrtc_sim::NatConfig>,
    pub link: ferrtc_sim::LinkConfig,
    pub stun: Option<SocketAddr>,
    /// Host addresses in the network that the agent is not told about (yet).
    pub spare_addrs: Vec<IpAddr>,
}

impl Side {
    pub fn public(addr: &str, controlling: bool, seed: u64) -> Side {
        Side {
            config: AgentConfig {
                controlling,
                seed: Some(seed),
                ..Default::default()
            },
            addrs: vec![ip(addr)],
            nat: None,
            link: ferrtc_sim::LinkConfig::IDEAL.with_delay(Duration::from_millis(10)),
            stun: None,
            spare_addrs: Vec::new(),
        }
    }

    pub fn behind(nat: ferrtc_sim::NatConfig, addr: &str, controlling: bool, seed: u64) -> Side {
        let mut s = Side::public(addr, controlling, seed);
        s.nat = Some(nat);
        s.stun = Some(sa(STUN_SERVER));
        s
    }
}

pub const STUN_SERVER: &str = "198.51.100.1:3478";

impl Call {
    /// Builds the network, adds every host address to the agents, exchanges
    /// credentials.
    pub fn new(seed: u64, a: Side, b: Side) -> Call {
        let mut call = Call::without_signaling(seed, a, b);
        call.exchange_credentials();
        call
    }

    /// Like [`Call::new`] but nothing is signalled yet (not even credentials)
    /// and candidates are held until the test delivers them.
    pub fn without_signaling(seed: u64, a: Side, b: Side) -> Call {
        let mut net = Network::new(seed);
        let now = net.now();
        if a.stun.is_some() || b.stun.is_some() {
            let server = sa(STUN_SERVER);
            net.add_host(
                [server.ip()],
                ferrtc_sim::LinkConfig::IDEAL.with_delay(Duration::from_millis(5)),
                StunServer::default(),
            )
            .unwrap();
        }
        let mut make = |side: Side| -> HostId<Peer> {
            let mut agent = Agent::new(side.config, now);
            for ip in &side.addrs {
                agent.add_local_host(SocketAddr::new(*ip, PORT)).unwrap();
            }
            if let Some(s) = side.stun {
                agent.add_stun_server(s).unwrap();
            }
            let peer = Peer::new(agent, now);
            let mut addrs = side.addrs;
            addrs.extend(side.spare_addrs);
            match side.nat {
                None => net.add_host(addrs, side.link, peer).unwrap(),
                Some(nat) => {
                    let id = net.add_nat(nat).unwrap();
                    net.add_host_behind(id, addrs, side.link, peer).unwrap()
                }
            }
        };
        let a = make(a);
        let b = make(b);
        Call {
            net,
            a,
            b,
            cursor: [0, 0],
            auto_signal: true,
        }
    }

    pub fn exchange_credentials(&mut self) {
        self.give_credentials(true);
        self.give_credentials(false);
    }

    /// Gives one side the other's credentials (and ice-lite flag).
    pub fn give_credentials(&mut self, to_a: bool) {
        let (from, to) = if to_a {
            (self.b, self.a)
        } else {
            (self.a, self.b)
        };
        let creds = self.net.endpoint(&from).agent.local_credentials().clone();
        let lite = self.net.endpoint(&from).agent.is_lite();
        let peer = self.net.endpoint_mut(&to);
        peer.agent
            .set_remote_credentials(creds.ufrag(), creds.pwd())
            .unwrap();
        peer.agent.set_remote_lite(lite);
    }

    /// The signalling each side has not sent yet: candidates, and `None`
    /// for end-of-candidates.
    pub fn take_signals(&mut self, from_a: bool) -> Vec<Option<Candidate>> {
        let (id, k) = if from_a { (self.a, 0) } else { (self.b, 1) };
        let events = &self.net.endpoint(&id).events;
        let mut out = Vec::new();
        for (_, e) in &events[self.cursor[k]..] {
            match e {
                Event::LocalCandidate(c) => out.push(Some(c.clone())),
                Event::GatheringStateChange(GatheringState::Complete) => out.push(None),
                _ => {}
            }
        }
        self.cursor[k] = events.len();
        out
    }

    pub fn deliver(&mut self, to_a: bool, signals: Vec<Option<Candidate>>) {
        let id = if to_a { self.a } else { self.b };
        let peer = self.net.endpoint_mut(&id);
        for s in signals {
            match s {
                Some(c) => {
                    let _ = peer.agent.add_remote_candidate(c);
                }
                None => peer.agent.end_of_remote_candidates(),
            }
        }
    }

    fn signal(&mut self) {
        if !self.auto_signal {
            return;
        }
        let from_a = self.take_signals(true);
        self.deliver(false, from_a);
        let from_b = self.take_signals(false);
        self.deliver(true, from_b);
    }

    /// Runs in 10 ms slices, signalling in between, until `done` or `limit`.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Call) -> bool) -> bool {
        let end = self.net.now() + limit;
        loop {
            self.signal();
            if done(self) {
                return true;
            }
            if self.net.now() >= end {
                return false;
            }
            self.net.run_for(Duration::from_millis(10));
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    pub fn peer_a(&self) -> &Peer {
        self.net.endpoint(&self.a)
    }

    pub fn peer_b(&self) -> &Peer {
        self.net.endpoint(&self.b)
    }

    pub fn both_connected(&self) -> bool {
        let ok = |s: ConnectionState| {
            matches!(s, ConnectionState::Connected | ConnectionState::Completed)
        };
        ok(self.peer_a().state()) && ok(self.peer_b().state())
    }

    /// Sends `n` messages each way and returns how many arrived each way
    /// (a to b, b to a).
    pub fn exchange_data(&mut self, n: usize, tag: &str) -> (usize, usize) {
        let (ra, rb) = (self.peer_a().received.len(), self.peer_b().received.len());
        for i in 0..n {
            let a = format!("{tag} a->b {i}").into_bytes();
            let b = format!("{tag} b->a {i}").into_bytes();
            self.net.endpoint_mut(&self.a).outbox.push_back(a);
            self.net.endpoint_mut(&self.b).outbox.push_back(b);
        }
        self.run_for(Duration::from_millis(500));
        let got_b = self.peer_b().received[rb..]
            .iter()
            .filter(|d| d.starts_with(format!("{tag} a->b").as_bytes()))
            .count();
        let got_a = self.peer_a().received[ra..]
            .iter()
            .filter(|d| d.starts_with(format!("{tag} b->a").as_bytes()))
            .count();
        (got_b, got_a)
    }

    /// Asserts both sides selected the same pair (seen from each side) and
    /// that data flows both ways on it.
    pub fn assert_data_flows_both_ways(&mut self, tag: &str) {
        let sa = self
            .peer_a()
            .agent
            .selected_pair()
            .cloned()
            .expect("a selected");
        let sb = self
            .peer_b()
            .agent
            .selected_pair()
            .cloned()
            .expect("b selected");
        let (to_b, to_a) = self.exchange_data(10, tag);
        assert!(to_b > 0, "no data a->b on {sa:?}");
        assert!(to_a > 0, "no data b->a on {sb:?}");
        assert!(self.peer_a().agent.stats().bytes_sent > 0);
        assert!(self.peer_b().agent.stats().bytes_received > 0);
    }
}
