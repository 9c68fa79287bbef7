//! A path that blocks UDP, on the simulated network (issue 19): a peer
//! behind a firewall that lets only TCP out still connects, through ICE-TCP
//! (RFC 6544) to a public peer's passive candidate, or through a TURN server
//! reached over TCP (RFC 8656 §3.1) that relays over UDP.
//!
//! The agents run as `ferrtc_sim` endpoints through an adaptor that does
//! what the driver's `net/tcp.rs` does with real sockets: a transmit from an
//! active candidate (`IP:9`) opens a connection from an ephemeral port of
//! that IP, carried as RFC 4571 frames; TURN over TCP carries
//! self-delimiting messages, cut with `ferrtc_turn::StreamDecoder`; a
//! connection that closes or cannot be opened is reported with
//! `Agent::handle_tcp_closed`. The simulated TCP delivers bytes in segments
//! of its own size, so the framing is really exercised.
//!
//! The addresses are ordinary public ones (the TURN server refuses to relay
//! to documentation ranges); nothing leaves the simulation.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_ice::{
    Agent, AgentConfig, Candidate, CandidateType, ConnectionState, Event, Protocol, Receive,
    TcpType, Transport, TurnTransport,
};
use ferrtc_sim::{
    ConnId, Endpoint, HostId, LinkConfig, NatConfig, Network, StreamCommand, StreamEvent, Transmit,
};
use ferrtc_turn::StreamDecoder;
use ferrtc_turn::server::{
    AllocationId, Credentials, FiveTuple, Output, PEER_HEADROOM, PEER_TAILROOM, Server,
    ServerConfig, ServerEvent, Transport as ServerTransport,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What a connection carries (as the driver's `net::tcp::Kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// ICE-TCP: RFC 4571 frames.
    Ice,
    /// TURN over TCP: self-delimiting STUN and ChannelData.
    Turn,
}

/// Cuts a byte stream into messages.
enum Deframer {
    /// RFC 4571: a 16-bit length, then the message.
    Rfc4571(Vec<u8>),
    Turn(StreamDecoder),
}

impl Deframer {
    fn new(kind: Kind) -> Deframer {
        match kind {
            Kind::Ice => Deframer::Rfc4571(Vec::new()),
            Kind::Turn => Deframer::Turn(StreamDecoder::new()),
        }
    }

    /// The whole messages now available; `Err` when framing is lost.
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, ()> {
        let mut out = Vec::new();
        match self {
            Deframer::Rfc4571(buf) => {
                buf.extend_from_slice(bytes);
                while let Some(&[hi, lo]) = buf.first_chunk::<2>() {
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    if buf.len() < 2 + len {
                        break;
                    }
                    out.push(buf[2..2 + len].to_vec());
                    buf.drain(..2 + len);
                }
            }
            Deframer::Turn(decoder) => {
                decoder.push(bytes).map_err(|_| ())?;
                while let Some(frame) = decoder.next_frame().map_err(|_| ())? {
                    out.push(frame.to_vec());
                }
            }
        }
        Ok(out)
    }
}

/// RFC 4571 §2: a 16-bit length before each message.
fn rfc4571(data: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(data.len()).ok()?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(data);
    Some(framed)
}

/// A STUN message's fixed header (RFC 8489 §5): only a check opens a connection.
fn looks_like_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] & 0xc0 == 0 && data[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// A connection by what the agent calls it: kind, local candidate address
/// (listener, `IP:9`, or the host a TURN connection is for), remote.
type Key = (Kind, SocketAddr, SocketAddr);

struct Conn {
    key: Key,
    deframer: Deframer,
}

/// An ICE agent on a simulated host, with its TCP connections and the
/// application on top (sends the outbox once a pair is selected).
struct Peer {
    agent: Agent,
    now: Instant,
    received: Vec<(Protocol, Vec<u8>)>,
    outbox: VecDeque<Vec<u8>>,
    events: Vec<Event>,
    conns: BTreeMap<ConnId, Conn>,
    by_key: HashMap<Key, ConnId>,
    /// Connects in progress by token, with the messages waiting for them.
    opening: BTreeMap<u64, (Key, Vec<Vec<u8>>)>,
    next_token: u64,
    commands: VecDeque<(StreamCommand, Vec<u8>)>,
    /// Connections that could not be opened, or closed.
    tcp_closed: usize,
}

impl Peer {
    fn new(agent: Agent, now: Instant) -> Peer {
        Peer {
            agent,
            now,
            received: Vec::new(),
            outbox: VecDeque::new(),
            events: Vec::new(),
            conns: BTreeMap::new(),
            by_key: HashMap::new(),
            opening: BTreeMap::new(),
            next_token: 0,
            commands: VecDeque::new(),
            tcp_closed: 0,
        }
    }

    fn state(&self) -> ConnectionState {
        self.agent.connection_state()
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.agent.poll_event() {
            self.events.push(e);
        }
    }

    /// Routes one message the agent wants sent. UDP goes back to the
    /// network as a datagram; TCP on its connection (opened if the agent
    /// may open one: a check from an active candidate, or TURN).
    fn route(&mut self, t: ferrtc_ice::Transmit, data: &[u8]) -> Option<Transmit> {
        let (kind, bytes, may_open) = match t.protocol {
            Protocol::Udp => {
                return Some(Transmit {
                    source: t.source,
                    destination: t.destination,
                });
            }
            Protocol::Tcp => {
                let opens = t.source.port() == 9 && looks_like_stun(data);
                (Kind::Ice, rfc4571(data)?, opens)
            }
            Protocol::TurnTcp => (Kind::Turn, data.to_vec(), true),
        };
        let key = (kind, t.source, t.destination);
        if let Some(&conn) = self.by_key.get(&key) {
            self.commands.push_back((StreamCommand::Send(conn), bytes));
        } else if let Some((_, waiting)) = self.opening.values_mut().find(|(k, _)| *k == key) {
            waiting.push(bytes);
        } else if may_open {
            let token = self.next_token;
            self.next_token += 1;
            self.opening.insert(token, (key, vec![bytes]));
            let connect = StreamCommand::Connect {
                from: t.source.ip(),
                to: t.destination,
                token,
            };
            self.commands.push_back((connect, Vec::new()));
        }
        None
    }

    fn open(&mut self, conn: ConnId, key: Key) {
        self.conns.insert(
            conn,
            Conn {
                key,
                deframer: Deframer::new(key.0),
            },
        );
        self.by_key.insert(key, conn);
    }

    fn closed(&mut self, now: Instant, key: Key) {
        self.tcp_closed += 1;
        self.agent.handle_tcp_closed(now, key.1, key.2);
        self.drain_events();
    }

    fn receive(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let key = c.key;
        let Ok(messages) = c.deframer.push(bytes) else {
            // Framing lost: close, as the driver does.
            self.conns.remove(&conn);
            self.by_key.remove(&key);
            self.commands
                .push_back((StreamCommand::Close(conn), Vec::new()));
            return self.closed(now, key);
        };
        let (kind, local, remote) = key;
        for m in messages {
            let (protocol, received) = match kind {
                Kind::Ice => (
                    Protocol::Tcp,
                    self.agent.handle_receive_tcp(now, remote, local, &m),
                ),
                Kind::Turn => (
                    Protocol::TurnTcp,
                    self.agent.handle_receive_turn_tcp(now, remote, local, &m),
                ),
            };
            match received {
                Receive::Data(d) => self.received.push((protocol, d.to_vec())),
                Receive::Relayed(d) => self.received.push((protocol, d)),
                _ => {}
            }
        }
        self.drain_events();
    }
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        self.now = now;
        match self.agent.handle_receive(now, source, dest, data) {
            Receive::Data(d) => self.received.push((Protocol::Udp, d.to_vec())),
            Receive::Relayed(d) => self.received.push((Protocol::Udp, d)),
            _ => {}
        }
        self.drain_events();
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.now = now;
        self.drain_events();
        while let Some(t) = self.agent.poll_transmit(now, buf) {
            let data = std::mem::take(buf);
            let routed = self.route(t, &data);
            *buf = data;
            if routed.is_some() {
                return routed;
            }
        }
        self.drain_events();
        while self.agent.selected_pair().is_some()
            && let Some(data) = self.outbox.pop_front()
        {
            buf.clear();
            buf.extend_from_slice(&data);
            let Ok(t) = self.agent.send(buf) else {
                continue;
            };
            let data = std::mem::take(buf);
            let routed = self.route(t, &data);
            *buf = data;
            if routed.is_some() {
                return routed;
            }
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

    fn poll_stream(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<StreamCommand> {
        let (command, bytes) = self.commands.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(command)
    }

    fn handle_stream(&mut self, now: Instant, event: StreamEvent<'_>) {
        self.now = now;
        match event {
            StreamEvent::Connected { token, conn, .. } => {
                let Some((key, waiting)) = self.opening.remove(&token) else {
                    return;
                };
                self.open(conn, key);
                for bytes in waiting {
                    self.commands.push_back((StreamCommand::Send(conn), bytes));
                }
            }
            StreamEvent::ConnectFailed { token, .. } => {
                if let Some((key, _)) = self.opening.remove(&token) {
                    self.closed(now, key);
                }
            }
            // A connection to a passive candidate (the listener's address).
            StreamEvent::Accepted {
                conn,
                local,
                remote,
            } => self.open(conn, (Kind::Ice, local, remote)),
            StreamEvent::Data { conn, bytes } => self.receive(now, conn, bytes),
            StreamEvent::Closed { conn, .. } => {
                if let Some(c) = self.conns.remove(&conn) {
                    self.by_key.remove(&c.key);
                    self.closed(now, c.key);
                }
            }
            _ => {}
        }
    }
}

const TURN: &str = "34.0.0.10:3478";

/// The TURN server as a host: a TCP listener on port 3478 (and UDP there
/// too), one UDP relay port per allocation from 50000 up.
struct TurnHost {
    server: Server,
    datagrams: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    commands: VecDeque<(StreamCommand, Vec<u8>)>,
    relays: HashMap<SocketAddr, AllocationId>,
    streams: BTreeMap<ConnId, (FiveTuple, StreamDecoder)>,
    by_tuple: HashMap<FiveTuple, ConnId>,
    next_port: u16,
}

impl TurnHost {
    fn new(now: Instant) -> TurnHost {
        let users = HashMap::from([("alice".to_owned(), "secret".to_owned())]);
        let config = ServerConfig::new("ferrtc.test", Credentials::new(users, None), b"k");
        TurnHost {
            server: Server::new(config, now, 1_800_000_000),
            datagrams: VecDeque::new(),
            commands: VecDeque::from([(StreamCommand::Listen(sa(TURN)), Vec::new())]),
            relays: HashMap::new(),
            streams: BTreeMap::new(),
            by_tuple: HashMap::new(),
            next_port: 50000,
        }
    }

    fn allocations(&self) -> usize {
        self.server.allocation_count()
    }

    /// Sends `data` to the client of `tuple`: on its TCP connection, or as
    /// a datagram.
    fn send_to_client(&mut self, tuple: FiveTuple, data: Vec<u8>) {
        if tuple.transport.is_stream() {
            if let Some(&conn) = self.by_tuple.get(&tuple) {
                self.commands.push_back((StreamCommand::Send(conn), data));
            }
        } else {
            self.datagrams.push_back((tuple.server, tuple.client, data));
        }
    }

    fn client_message(&mut self, now: Instant, tuple: FiveTuple, data: &[u8]) {
        let mut out = Vec::new();
        match self.server.handle_client(now, tuple, data, &mut out) {
            Output::Nothing => {}
            Output::Reply => self.send_to_client(tuple, out),
            Output::Relay {
                allocation,
                peer,
                data: range,
            } => {
                if let Some((&relay, _)) = self.relays.iter().find(|(_, a)| **a == allocation) {
                    self.datagrams
                        .push_back((relay, peer, data[range].to_vec()));
                }
            }
            Output::OpenRelay { pending, .. } => {
                self.next_port += 2;
                let relayed = SocketAddr::new(tuple.server.ip(), self.next_port);
                if let Some(opened) =
                    self.server
                        .relay_opened(now, pending, Some(relayed), &mut out)
                {
                    if let Some(a) = opened.allocation {
                        self.relays.insert(relayed, a);
                    }
                    self.send_to_client(opened.tuple, out);
                }
            }
        }
    }
}

impl Endpoint for TurnHost {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        if dest == sa(TURN) {
            let tuple = FiveTuple {
                transport: ServerTransport::Udp,
                client: source,
                server: dest,
            };
            return self.client_message(now, tuple, data);
        }
        // A peer's datagram on a relay port.
        let Some(&allocation) = self.relays.get(&dest) else {
            return;
        };
        let mut buf = vec![0u8; PEER_HEADROOM + data.len() + PEER_TAILROOM];
        buf[PEER_HEADROOM..PEER_HEADROOM + data.len()].copy_from_slice(data);
        let range = PEER_HEADROOM..PEER_HEADROOM + data.len();
        if let Some(to) = self
            .server
            .handle_peer(now, allocation, source, &mut buf, range)
        {
            self.send_to_client(to.tuple, buf[to.message].to_vec());
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (source, destination, data) = self.datagrams.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&data);
        Some(Transmit {
            source,
            destination,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        while let Some(e) = self.server.poll_event() {
            if let ServerEvent::Closed(a) = e {
                self.relays.retain(|_, x| *x != a);
            }
        }
    }

    fn poll_stream(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<StreamCommand> {
        let (command, bytes) = self.commands.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(command)
    }

    fn handle_stream(&mut self, now: Instant, event: StreamEvent<'_>) {
        match event {
            StreamEvent::Accepted {
                conn,
                local,
                remote,
            } => {
                let tuple = FiveTuple {
                    transport: ServerTransport::Tcp,
                    client: remote,
                    server: local,
                };
                self.streams.insert(conn, (tuple, StreamDecoder::new()));
                self.by_tuple.insert(tuple, conn);
            }
            StreamEvent::Data { conn, bytes } => {
                let Some((tuple, decoder)) = self.streams.get_mut(&conn) else {
                    return;
                };
                let tuple = *tuple;
                let mut frames = Vec::new();
                let ok = decoder.push(bytes).is_ok()
                    && loop {
                        match decoder.next_frame() {
                            Ok(Some(f)) => frames.push(f.to_vec()),
                            Ok(None) => break true,
                            Err(_) => break false,
                        }
                    };
                for f in frames {
                    self.client_message(now, tuple, &f);
                }
                if !ok {
                    // RFC 8656 §3.1: framing lost, the connection (and its
                    // allocation) goes.
                    self.server.count_malformed();
                    self.commands
                        .push_back((StreamCommand::Close(conn), Vec::new()));
                    self.streams.remove(&conn);
                    self.by_tuple.remove(&tuple);
                    self.server.close_tuple(tuple);
                }
            }
            StreamEvent::Closed { conn, .. } => {
                if let Some((tuple, _)) = self.streams.remove(&conn) {
                    self.by_tuple.remove(&tuple);
                    self.server.close_tuple(tuple);
                }
            }
            _ => {}
        }
    }
}

/// Two peers on one network, candidates signalled as they come.
struct Call {
    net: Network,
    a: HostId<Peer>,
    b: HostId<Peer>,
    signalled: [usize; 2],
}

impl Call {
    fn peer(&self, first: bool) -> &Peer {
        self.net.endpoint(if first { &self.a } else { &self.b })
    }

    fn both_connected(&self) -> bool {
        [true, false].iter().all(|&a| {
            matches!(
                self.peer(a).state(),
                ConnectionState::Connected | ConnectionState::Completed
            )
        })
    }

    fn exchange_credentials(&mut self) {
        let ca = self.peer(true).agent.local_credentials().clone();
        let cb = self.peer(false).agent.local_credentials().clone();
        let (a, b) = (self.a, self.b);
        self.net
            .endpoint_mut(&a)
            .agent
            .set_remote_credentials(cb.ufrag(), cb.pwd())
            .unwrap();
        self.net
            .endpoint_mut(&b)
            .agent
            .set_remote_credentials(ca.ufrag(), ca.pwd())
            .unwrap();
    }

    fn signal(&mut self) {
        for (k, (from, to)) in [(self.a, self.b), (self.b, self.a)].into_iter().enumerate() {
            let events = &self.net.endpoint(&from).events;
            let new: Vec<Candidate> = events[self.signalled[k]..]
                .iter()
                .filter_map(|e| match e {
                    Event::LocalCandidate(c) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            self.signalled[k] = events.len();
            for c in new {
                let _ = self.net.endpoint_mut(&to).agent.add_remote_candidate(c);
            }
        }
    }

    /// Runs in 10 ms slices, signalling in between, until `done` or `limit`.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Call) -> bool) -> bool {
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

    /// Sends `n` messages each way; runs `time`; returns what arrived (a to
    /// b, b to a), in order.
    fn exchange(&mut self, n: usize, tag: &str, time: Duration) -> (Vec<String>, Vec<String>) {
        let (ra, rb) = (
            self.peer(true).received.len(),
            self.peer(false).received.len(),
        );
        let (a, b) = (self.a, self.b);
        for i in 0..n {
            let msg = |dir: &str| format!("{tag} {dir} {i}").into_bytes();
            self.net.endpoint_mut(&a).outbox.push_back(msg("a->b"));
            self.net.endpoint_mut(&b).outbox.push_back(msg("b->a"));
        }
        self.run_until(time, |_| false);
        let text = |v: &[(Protocol, Vec<u8>)]| -> Vec<String> {
            v.iter()
                .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
                .filter(|s| s.starts_with(tag))
                .collect()
        };
        (
            text(&self.peer(false).received[rb..]),
            text(&self.peer(true).received[ra..]),
        )
    }
}

/// A message bigger than a TCP segment each way: the receivers' framing
/// must put it back together from several reads.
fn assert_big_messages_arrive_whole(call: &mut Call) {
    let big_a: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    let big_b: Vec<u8> = (0..3000u32).map(|i| (i % 241) as u8).collect();
    let (ra, rb) = (
        call.peer(true).received.len(),
        call.peer(false).received.len(),
    );
    let (a, b) = (call.a, call.b);
    call.net.endpoint_mut(&a).outbox.push_back(big_a.clone());
    call.net.endpoint_mut(&b).outbox.push_back(big_b.clone());
    call.run_until(Duration::from_secs(2), |_| false);
    let got_b: Vec<&Vec<u8>> = call.peer(false).received[rb..]
        .iter()
        .map(|(_, d)| d)
        .collect();
    let got_a: Vec<&Vec<u8>> = call.peer(true).received[ra..]
        .iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(got_b, [&big_a]);
    assert_eq!(got_a, [&big_b]);
}

fn agent(controlling: bool, seed: u64, now: Instant) -> Agent {
    let config = AgentConfig {
        controlling,
        seed: Some(seed),
        ..AgentConfig::default()
    };
    Agent::new(config, now)
}

fn expected(n: usize, tag: &str, dir: &str) -> Vec<String> {
    (0..n).map(|i| format!("{tag} {dir} {i}")).collect()
}

/// Peer a behind a NAT that drops UDP, its UDP host and TCP candidates
/// added; peer b public, with a UDP host and a passive TCP candidate on
/// port 443.
fn ice_tcp_call(seed: u64, access: LinkConfig) -> (Call, ferrtc_sim::NatId) {
    let mut net = Network::new(seed);
    let now = net.now();
    let nat = net
        .add_nat(NatConfig::port_restricted_cone(ip("52.0.0.1")).with_udp_blocked(true))
        .unwrap();

    let mut agent_a = agent(true, seed, now);
    agent_a.add_local_host(sa("10.0.0.2:5000")).unwrap();
    agent_a.add_local_tcp(sa("10.0.0.2:5001")).unwrap();
    let mut a = Peer::new(agent_a, now);
    a.commands
        .push_back((StreamCommand::Listen(sa("10.0.0.2:5001")), Vec::new()));
    let a = net
        .add_host_behind(nat, [ip("10.0.0.2")], access, a)
        .unwrap();

    let mut agent_b = agent(false, seed + 1, now);
    agent_b.add_local_host(sa("35.0.0.7:5000")).unwrap();
    agent_b.add_local_tcp(sa("35.0.0.7:443")).unwrap();
    let mut b = Peer::new(agent_b, now);
    b.commands
        .push_back((StreamCommand::Listen(sa("35.0.0.7:443")), Vec::new()));
    let b = net.add_host([ip("35.0.0.7")], access, b).unwrap();

    let mut call = Call {
        net,
        a,
        b,
        signalled: [0, 0],
    };
    call.exchange_credentials();
    (call, nat)
}

#[test]
fn behind_a_udp_blocking_nat_a_peer_reaches_a_public_passive_tcp_candidate() {
    let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(10));
    let (mut call, nat) = ice_tcp_call(60, link);
    assert!(call.run_until(Duration::from_secs(10), Call::both_connected));
    for first in [true, false] {
        let pair = call.peer(first).agent.selected_pair().unwrap().clone();
        assert_eq!(pair.local.transport().protocol(), Protocol::Tcp, "{pair:?}");
        assert_eq!(
            pair.remote.transport().protocol(),
            Protocol::Tcp,
            "{pair:?}"
        );
    }
    // The blocked side connected out from its active candidate to b's
    // passive one.
    let a = call.peer(true).agent.selected_pair().unwrap().clone();
    assert_eq!(a.local.transport(), Transport::Tcp(TcpType::Active));
    assert_eq!(a.remote.transport(), Transport::Tcp(TcpType::Passive));
    assert_eq!(a.destination, sa("35.0.0.7:443"));
    let b = call.peer(false).agent.selected_pair().unwrap().clone();
    assert_eq!(b.source, sa("35.0.0.7:443"));
    assert_eq!(b.destination.ip(), ip("52.0.0.1"), "b sees a's NAT");
    // UDP was tried and blocked: the firewall counted it.
    assert!(call.net.nat_counters(nat).udp_blocked > 0);

    let (to_b, to_a) = call.exchange(20, "tcp", Duration::from_millis(500));
    assert_eq!(to_b, expected(20, "tcp", "a->b"));
    assert_eq!(to_a, expected(20, "tcp", "b->a"));
    assert!(
        call.peer(false)
            .received
            .iter()
            .all(|(p, _)| *p == Protocol::Tcp)
    );
    assert_big_messages_arrive_whole(&mut call);

    // Consent over the connection holds for a minute.
    assert!(!call.run_until(Duration::from_secs(60), |c| !c.both_connected()));
    let tcp = call.net.counters().tcp;
    assert_eq!(tcp.established, tcp.accepted);
    assert!(tcp.established >= 1 && tcp.refused == 0, "{tcp:?}");
}

/// Two peers, each behind a NAT that drops UDP, with a TURN server they
/// reach over TCP; `access` on each peer's access link.
fn turn_tcp_call(
    seed: u64,
    access: LinkConfig,
) -> (Call, HostId<TurnHost>, [ferrtc_sim::NatId; 2]) {
    let mut net = Network::new(seed);
    let now = net.now();
    let add = |net: &mut Network, nat_ip: &str, host: &str, controlling: bool, seed: u64| {
        let nat = net
            .add_nat(NatConfig::symmetric(ip(nat_ip)).with_udp_blocked(true))
            .unwrap();
        let mut agent = agent(controlling, seed, now);
        agent
            .add_local_host(SocketAddr::new(ip(host), 5000))
            .unwrap();
        agent
            .add_turn_server(sa(TURN), TurnTransport::Tcp, "alice", "secret")
            .unwrap();
        let peer = Peer::new(agent, now);
        let id = net.add_host_behind(nat, [ip(host)], access, peer).unwrap();
        (id, nat)
    };
    let (a, nat_a) = add(&mut net, "52.0.0.1", "10.0.0.2", true, seed);
    let (b, nat_b) = add(&mut net, "52.0.0.2", "10.0.0.3", false, seed + 1);
    let turn = net
        .add_host(
            [ip("34.0.0.10")],
            LinkConfig::IDEAL.with_delay(Duration::from_millis(5)),
            TurnHost::new(now),
        )
        .unwrap();
    let mut call = Call {
        net,
        a,
        b,
        signalled: [0, 0],
    };
    call.exchange_credentials();
    (call, turn, [nat_a, nat_b])
}

fn assert_relayed_over_tcp(call: &Call) {
    for first in [true, false] {
        let peer = call.peer(first);
        let pair = peer.agent.selected_pair().unwrap().clone();
        assert_eq!(pair.local.kind(), CandidateType::Relayed, "{pair:?}");
        assert_eq!(
            peer.agent.relay_transport(pair.source),
            Some(TurnTransport::Tcp)
        );
    }
}

#[test]
fn two_peers_behind_udp_blocking_nats_connect_through_turn_over_tcp() {
    let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(10));
    let (mut call, turn, nats) = turn_tcp_call(70, link);
    assert!(call.run_until(Duration::from_secs(30), Call::both_connected));
    assert_relayed_over_tcp(&call);
    assert_eq!(call.net.endpoint(&turn).allocations(), 2);
    for nat in nats {
        assert!(call.net.nat_counters(nat).udp_blocked > 0);
    }

    let (to_b, to_a) = call.exchange(20, "turn", Duration::from_millis(500));
    assert_eq!(to_b, expected(20, "turn", "a->b"));
    assert_eq!(to_a, expected(20, "turn", "b->a"));
    // What reached the peers came on their TCP connections to the server.
    assert!(
        call.peer(true)
            .received
            .iter()
            .all(|(p, _)| *p == Protocol::TurnTcp)
    );
    assert_big_messages_arrive_whole(&mut call);

    // Consent through the relay holds for a minute (permissions and
    // channels refreshed over TCP).
    assert!(!call.run_until(Duration::from_secs(60), |c| !c.both_connected()));
    let (to_b, to_a) = call.exchange(5, "later", Duration::from_millis(500));
    assert_eq!((to_b.len(), to_a.len()), (5, 5));
    assert_eq!(call.peer(true).tcp_closed, 0);

    // Closing deallocates (over the same connections).
    let (a, b) = (call.a, call.b);
    call.net.endpoint_mut(&a).agent.close();
    call.net.endpoint_mut(&b).agent.close();
    call.net.run_for(Duration::from_secs(1));
    assert_eq!(call.net.endpoint(&turn).allocations(), 0);
}

#[test]
fn turn_over_tcp_hides_loss_on_the_access_links() {
    let lossy = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(5))
        .with_loss(0.1);
    let (mut call, turn, _) = turn_tcp_call(80, lossy);
    assert!(call.run_until(Duration::from_secs(30), Call::both_connected));
    assert_relayed_over_tcp(&call);
    assert_eq!(call.net.endpoint(&turn).allocations(), 2);

    // Every message arrives, in order: the losses cost retransmissions,
    // not data.
    let (to_b, to_a) = call.exchange(50, "lossy", Duration::from_secs(10));
    assert_eq!(to_b, expected(50, "lossy", "a->b"));
    assert_eq!(to_a, expected(50, "lossy", "b->a"));
    let tcp = call.net.counters().tcp;
    assert!(tcp.retransmits > 0, "{tcp:?}");
    assert_eq!(tcp.reset, 0);
    assert!(!call.run_until(Duration::from_secs(60), |c| !c.both_connected()));
}

#[test]
fn the_same_seed_gives_the_same_run_through_turn_over_tcp() {
    let lossy = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_loss(0.05);
    let run = |seed| {
        let (mut call, _, _) = turn_tcp_call(seed, lossy);
        call.run_until(Duration::from_secs(10), |_| false);
        call.net.trace_hash()
    };
    assert_eq!(run(90), run(90));
    assert_ne!(run(90), run(91));
}
