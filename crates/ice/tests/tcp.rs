//! ICE over TCP (RFC 6544): passive and active TCP host candidates, their
//! pairing rules, checks and data over the connections, and UDP preferred
//! when both work. Connections are modelled by the test: a message from an
//! active candidate (`IP:9`) reaches the peer's listener from an ephemeral
//! port, and the answer comes back to `IP:9`, as a driver reports them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_ice::{
    Agent, AgentConfig, Candidate, ConnectionState, Event, Protocol, Receive, SelectedPair,
    TcpType, Transport,
};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// One side: the agent, what it signalled, and the data it received.
struct Side {
    agent: Agent,
    candidates: Vec<Candidate>,
    received: Vec<(Protocol, Vec<u8>)>,
}

impl Side {
    fn new(controlling: bool, seed: u64) -> Side {
        let config = AgentConfig {
            controlling,
            seed: Some(seed),
            ..AgentConfig::default()
        };
        Side {
            agent: Agent::new(config, Instant::now()),
            candidates: Vec::new(),
            received: Vec::new(),
        }
    }
}

/// Two agents; UDP between them delivered unless `udp_blocked`; TCP
/// connections opened on demand with ephemeral ports from 40000.
struct Lab {
    sides: [Side; 2],
    now: Instant,
    udp_blocked: bool,
    /// (active base, passive remote) -> the ephemeral address the peer sees.
    connections: HashMap<(SocketAddr, SocketAddr), SocketAddr>,
    next_port: u16,
    tcp_messages: usize,
    udp_datagrams: usize,
}

impl Lab {
    fn new(udp_blocked: bool) -> Lab {
        Lab {
            sides: [Side::new(true, 1), Side::new(false, 2)],
            now: Instant::now(),
            udp_blocked,
            connections: HashMap::new(),
            next_port: 40000,
            tcp_messages: 0,
            udp_datagrams: 0,
        }
    }

    fn exchange_credentials(&mut self) {
        let a = self.sides[0].agent.local_credentials().clone();
        let b = self.sides[1].agent.local_credentials().clone();
        self.sides[0]
            .agent
            .set_remote_credentials(b.ufrag(), b.pwd())
            .unwrap();
        self.sides[1]
            .agent
            .set_remote_credentials(a.ufrag(), a.pwd())
            .unwrap();
    }

    /// Delivers every transmit and event until nothing moves, then advances
    /// time to the next timeout; for `duration` of virtual time.
    fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.flush();
            let next = (0..2)
                .filter_map(|i| self.sides[i].agent.poll_timeout())
                .min()
                .unwrap_or(end)
                .max(self.now + Duration::from_millis(1))
                .min(end);
            self.now = next;
            for side in &mut self.sides {
                side.agent.handle_timeout(next);
            }
        }
    }

    /// Delivers every transmit and event until nothing moves, without
    /// advancing time or calling `handle_timeout`.
    fn flush(&mut self) {
        let mut buf = Vec::new();
        let mut moved = true;
        while moved {
            moved = false;
            for i in 0..2 {
                while let Some(t) = self.sides[i].agent.poll_transmit(self.now, &mut buf) {
                    moved = true;
                    let data = buf.clone();
                    self.deliver(i, t.source, t.destination, t.protocol, &data);
                }
                while let Some(e) = self.sides[i].agent.poll_event() {
                    moved = true;
                    if let Event::LocalCandidate(c) = e {
                        self.sides[i].candidates.push(c.clone());
                        self.sides[1 - i].agent.add_remote_candidate(c).unwrap();
                    }
                }
            }
        }
    }

    fn deliver(
        &mut self,
        from: usize,
        source: SocketAddr,
        destination: SocketAddr,
        protocol: Protocol,
        data: &[u8],
    ) {
        let to = 1 - from;
        let (seen_source, arrival) = match protocol {
            Protocol::TurnTcp => unreachable!("no TURN server in this lab"),
            Protocol::Udp => {
                if self.udp_blocked {
                    return;
                }
                self.udp_datagrams += 1;
                (source, destination)
            }
            Protocol::Tcp => {
                self.tcp_messages += 1;
                if source.port() == 9 {
                    // From an active candidate: on its connection to the
                    // peer's listener, opened at the first message.
                    let next_port = &mut self.next_port;
                    let ephemeral = *self
                        .connections
                        .entry((source, destination))
                        .or_insert_with(|| {
                            *next_port += 1;
                            SocketAddr::new(source.ip(), *next_port)
                        });
                    (ephemeral, destination)
                } else {
                    // From a listener, back on an accepted connection: it
                    // arrives at the active candidate that opened it.
                    let Some((&(active, _), _)) = self
                        .connections
                        .iter()
                        .find(|((_, passive), e)| *passive == source && **e == destination)
                    else {
                        return; // No such connection: nothing is sent.
                    };
                    (source, active)
                }
            }
        };
        let side = &mut self.sides[to];
        let received = match protocol {
            Protocol::TurnTcp => unreachable!("no TURN server in this lab"),
            Protocol::Udp => side
                .agent
                .handle_receive(self.now, seen_source, arrival, data),
            Protocol::Tcp => side
                .agent
                .handle_receive_tcp(self.now, seen_source, arrival, data),
        };
        match received {
            Receive::Data(d) => side.received.push((protocol, d.to_vec())),
            Receive::Relayed(d) => side.received.push((protocol, d)),
            _ => {}
        }
    }

    fn send(&mut self, side: usize, text: &str) {
        let mut buf = text.as_bytes().to_vec();
        let t = self.sides[side]
            .agent
            .send(&mut buf)
            .expect("a selected pair");
        self.deliver(side, t.source, t.destination, t.protocol, &buf);
    }
}

impl Lab {
    /// The selected pair's TCP connection closes: the sides in `told`
    /// hear of it (`handle_tcp_closed`, each with its own view of the
    /// addresses), and the lab forgets it, (active base, passive remote)
    /// -> ephemeral, so nothing more goes over it.
    fn close_selected_connection(&mut self, told: &[usize]) {
        let pairs = [0, 1].map(|i| {
            let p = self.sides[i]
                .agent
                .selected_pair()
                .expect("a selected pair");
            (p.source, p.destination)
        });
        let now = self.now;
        for &i in told {
            let (source, destination) = pairs[i];
            self.sides[i]
                .agent
                .handle_tcp_closed(now, source, destination);
        }
        self.connections.retain(|key, ephemeral| {
            !(pairs.contains(key) || pairs.iter().any(|(_, d)| ephemeral == d))
        });
    }
}

impl Lab {
    /// Side `side` alone hears that the connection of `pair` (its selected
    /// pair, now or before) closed; the lab keeps the connection.
    fn tell_tcp_closed(&mut self, side: usize, pair: &SelectedPair) {
        let now = self.now;
        self.sides[side]
            .agent
            .handle_tcp_closed(now, pair.source, pair.destination);
    }

    /// `text`, sent by side `from` on its selected pair, is the last data
    /// the other side received.
    fn assert_carries(&mut self, from: usize, text: &str) {
        self.send(from, text);
        assert_eq!(
            self.sides[1 - from]
                .received
                .last()
                .map(|(_, d)| d.as_slice()),
            Some(text.as_bytes())
        );
    }
}

fn setup(lab: &mut Lab) {
    lab.exchange_credentials();
    for (i, ip) in ["10.0.0.1", "10.0.0.2"].iter().enumerate() {
        let agent = &mut lab.sides[i].agent;
        agent.add_local_host(sa(&format!("{ip}:5000"))).unwrap();
        // The same port number as the UDP host: addresses are told apart
        // by protocol, as a server that uses one port for both does.
        let [passive, active] = agent.add_local_tcp(sa(&format!("{ip}:5000"))).unwrap();
        assert_eq!(passive.transport(), Transport::Tcp(TcpType::Passive));
        assert_eq!(active.transport(), Transport::Tcp(TcpType::Active));
        assert_eq!(active.port(), 9, "active candidates carry the discard port");
    }
}

/// Two agents [`setup`] with UDP blocked, the controlled one with a second
/// address (more TCP pairs: another valid one to nominate), connected
/// over TCP: the lab 5 s on.
fn connected_with_a_second_controlled_address() -> Lab {
    let mut lab = Lab::new(true);
    setup(&mut lab);
    lab.sides[1]
        .agent
        .add_local_tcp(sa("10.0.0.3:5000"))
        .unwrap();
    lab.run(Duration::from_secs(5));
    lab
}

#[test]
fn with_udp_blocked_the_agents_connect_over_tcp_and_carry_data_both_ways() {
    let mut lab = Lab::new(true);
    setup(&mut lab);
    lab.run(Duration::from_secs(5));
    for side in &lab.sides {
        assert_eq!(side.agent.connection_state(), ConnectionState::Connected);
        let pair = side.agent.selected_pair().expect("a selected pair");
        assert_eq!(pair.local.transport().protocol(), Protocol::Tcp, "{pair:?}");
    }
    // An active candidate connected to a passive one (either way round:
    // both sides offer both).
    let a = lab.sides[0].agent.selected_pair().unwrap();
    let roles = (a.local.transport(), a.remote.transport());
    assert!(
        roles
            == (
                Transport::Tcp(TcpType::Active),
                Transport::Tcp(TcpType::Passive)
            )
            || roles
                == (
                    Transport::Tcp(TcpType::Passive),
                    Transport::Tcp(TcpType::Active)
                ),
        "{roles:?}"
    );
    assert!(lab.udp_datagrams == 0 && lab.tcp_messages > 0);

    lab.send(0, "over tcp, a to b");
    lab.send(1, "over tcp, b to a");
    assert_eq!(
        lab.sides[1].received,
        [(Protocol::Tcp, b"over tcp, a to b".to_vec())]
    );
    assert_eq!(
        lab.sides[0].received,
        [(Protocol::Tcp, b"over tcp, b to a".to_vec())]
    );
    // Consent keeps flowing over the connection.
    lab.run(Duration::from_secs(40));
    assert_eq!(
        lab.sides[0].agent.connection_state(),
        ConnectionState::Connected
    );
    assert!(lab.udp_datagrams == 0);

    // The connection closes: the selected pair is given up at once, not
    // after the consent timeout (the pair on the connection the other way
    // is still valid: disconnected, not failed, until it takes over).
    let pair = lab.sides[0].agent.selected_pair().unwrap().clone();
    lab.tell_tcp_closed(0, &pair);
    assert!(lab.sides[0].agent.selected_pair().is_none());
    assert_eq!(
        lab.sides[0].agent.connection_state(),
        ConnectionState::Disconnected
    );
    let mut buf = b"after the close".to_vec();
    assert!(lab.sides[0].agent.send(&mut buf).is_err());
}

#[test]
fn when_udp_works_too_the_udp_pair_wins() {
    let mut lab = Lab::new(false);
    setup(&mut lab);
    lab.run(Duration::from_secs(5));
    for side in &lab.sides {
        let pair = side.agent.selected_pair().expect("a selected pair");
        assert_eq!(pair.local.transport(), Transport::Udp, "{pair:?}");
    }
    // TCP candidates rank below UDP host candidates (RFC 6544 §4.2).
    let c = &lab.sides[0].candidates;
    let udp = c.iter().find(|c| c.transport() == Transport::Udp).unwrap();
    for tcp in c
        .iter()
        .filter(|c| c.transport().protocol() == Protocol::Tcp)
    {
        assert!(tcp.priority() < udp.priority(), "{tcp} vs {udp}");
    }
}

#[test]
fn signalled_tcp_candidates_read_as_browsers_write_them() {
    let mut lab = Lab::new(true);
    setup(&mut lab);
    lab.run(Duration::from_millis(1));
    let lines: Vec<String> = lab.sides[0]
        .candidates
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" tcp ") && l.contains("10.0.0.1 5000 typ host tcptype passive")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" tcp ") && l.contains("10.0.0.1 9 typ host tcptype active")),
        "{lines:?}"
    );
}

#[test]
fn an_active_remote_is_not_checked_until_it_connects_and_a_relay_only_agent_offers_no_tcp() {
    // The passive side alone: a signalled active remote (port 9) forms no
    // pair, so nothing is sent to the discard port.
    let mut side = Side::new(false, 3);
    side.agent
        .set_remote_credentials("abcd", "0123456789abcdef012345")
        .unwrap();
    side.agent.add_local_tcp(sa("10.0.0.2:7000")).unwrap();
    let active: Candidate = "candidate:1 1 tcp 1518280447 10.0.0.1 9 typ host tcptype active"
        .parse()
        .unwrap();
    side.agent.add_remote_candidate(active).unwrap();
    let now = Instant::now();
    let mut buf = Vec::new();
    for ms in 0..2000 {
        let t = now + Duration::from_millis(ms);
        side.agent.handle_timeout(t);
        while let Some(tx) = side.agent.poll_transmit(t, &mut buf) {
            assert_ne!(tx.destination.port(), 9, "a check to the discard port");
        }
    }

    let mut relay_only = Agent::new(
        AgentConfig {
            relay_only: true,
            seed: Some(4),
            ..AgentConfig::default()
        },
        Instant::now(),
    );
    relay_only.add_local_tcp(sa("10.0.0.3:7000")).unwrap();
    assert_eq!(relay_only.local_candidates().count(), 0);
}
#[test]
fn when_the_selected_tcp_connection_closes_another_valid_pair_takes_over() {
    // UDP blocked: both sides offer passive and active candidates, so two
    // TCP pairs (one connection each way) are valid. Losing the selected
    // one's connection leaves the other: the agent is disconnected, not
    // failed, and the controlling side nominates the remaining pair (RFC
    // 8445 §8.1.1; W3C webrtc-pc §5.6: failed only once no pair is left).
    let mut lab = Lab::new(true);
    setup(&mut lab);
    lab.run(Duration::from_secs(5));
    let pair = lab.sides[0].agent.selected_pair().unwrap().clone();
    assert_eq!(pair.local.transport().protocol(), Protocol::Tcp);
    // Both sides see the connection close.
    lab.close_selected_connection(&[0, 1]);
    assert_eq!(
        lab.sides[0].agent.connection_state(),
        ConnectionState::Disconnected
    );
    lab.run(Duration::from_secs(5));
    for side in &lab.sides {
        assert!(
            matches!(
                side.agent.connection_state(),
                ConnectionState::Connected | ConnectionState::Completed
            ),
            "{:?}",
            side.agent.connection_state()
        );
        let now_selected = side.agent.selected_pair().expect("a selected pair");
        assert_eq!(now_selected.local.transport().protocol(), Protocol::Tcp);
    }
    assert_ne!(lab.sides[0].agent.selected_pair().unwrap(), &pair);
    lab.assert_carries(0, "on the other connection");

    // That one closes too: no valid pair is left, the agent fails.
    let last = lab.sides[0].agent.selected_pair().unwrap().clone();
    lab.tell_tcp_closed(0, &last);
    assert_eq!(
        lab.sides[0].agent.connection_state(),
        ConnectionState::Failed
    );
}

#[test]
fn a_controlled_agent_that_sees_the_close_after_the_new_nomination_takes_the_nominated_pair() {
    // The controlling side sees the selected TCP connection close first
    // and nominates another valid pair at once; its nomination reaches
    // the controlled side before that side hears of the close. The
    // controlled agent then loses its selected pair: the pair the peer
    // already nominated (RFC 8445 §8.1.1) is the one to use, and no other
    // nomination will come (the controlling side is connected on it).
    let mut lab = connected_with_a_second_controlled_address();
    let theirs = lab.sides[1].agent.selected_pair().unwrap().clone();
    lab.close_selected_connection(&[0]);
    // The nomination of the other pair goes through.
    lab.run(Duration::from_millis(500));
    assert!(matches!(
        lab.sides[0].agent.connection_state(),
        ConnectionState::Connected | ConnectionState::Completed
    ));
    // Now the controlled side hears of the close.
    lab.tell_tcp_closed(1, &theirs);
    lab.run(Duration::from_secs(40));
    let state = lab.sides[1].agent.connection_state();
    assert!(
        matches!(
            state,
            ConnectionState::Connected | ConnectionState::Completed
        ),
        "controlled side: {state:?}, selected {:?}",
        lab.sides[1]
            .agent
            .selected_pair()
            .map(|p| (p.source, p.destination))
    );
    lab.assert_carries(1, "from the controlled side");
}

#[test]
fn a_controlled_agent_never_nominated_after_its_connection_closed_fails_in_the_consent_timeout() {
    // Only the controlled side sees the selected connection close; the
    // controlling side never learns of it and nominates nothing else, and
    // neither side sends end-of-candidates. The controlled side is
    // disconnected, then failed once the consent timeout passed without a
    // new pair, not disconnected for ever.
    let mut lab = Lab::new(true);
    setup(&mut lab);
    lab.run(Duration::from_secs(5));
    lab.close_selected_connection(&[1]);
    assert_eq!(
        lab.sides[1].agent.connection_state(),
        ConnectionState::Disconnected
    );
    lab.run(Duration::from_secs(40));
    assert_eq!(
        lab.sides[1].agent.connection_state(),
        ConnectionState::Failed
    );
}

#[test]
fn a_fallback_deadline_left_after_another_failure_does_not_stay_due_for_ever() {
    // Both sides are done gathering and signalled end-of-candidates. The
    // controlled side alone sees its selected connection close: it waits
    // for a new nomination (fallback deadline = close + consent timeout),
    // and the nomination wait (last inbound / first valid + consent
    // timeout) ends at the same instant and fails it first
    // (NoNomination). The fallback deadline must not stay behind as a
    // timer that is always due.
    let mut lab = Lab::new(true);
    setup(&mut lab);
    lab.run(Duration::from_secs(5));
    for side in &mut lab.sides {
        side.agent.end_of_remote_candidates();
    }
    lab.run(Duration::from_secs(1));
    // The controlling side is gone silent from here on (it closed).
    lab.close_selected_connection(&[1]);
    lab.sides[0].agent.close();
    assert_eq!(
        lab.sides[1].agent.connection_state(),
        ConnectionState::Disconnected
    );
    lab.run(Duration::from_secs(40));
    assert_eq!(
        lab.sides[1].agent.connection_state(),
        ConnectionState::Failed
    );
    let now = lab.now;
    lab.sides[1].agent.handle_timeout(now);
    let next = lab.sides[1].agent.poll_timeout();
    assert!(
        next.is_none_or(|t| t > now),
        "a failed agent asks to be woken at once, for ever: {:?} behind",
        next.map(|t| now - t)
    );
}

#[test]
fn a_controlled_agent_keeps_its_working_selected_pair_when_another_is_nominated_later() {
    // RFC 8445 §8.1.1: once a pair is nominated it is the selected pair;
    // moving to another takes an ICE restart. Here only the controlling
    // side hears the selected connection close, which goes on working
    // for the controlled side: the controlling side nominates another
    // pair, and the controlled side, whose selected pair is answered,
    // keeps it.
    let mut lab = connected_with_a_second_controlled_address();
    let a_old = lab.sides[0].agent.selected_pair().unwrap().clone();
    let b_old = lab.sides[1].agent.selected_pair().unwrap().clone();
    lab.tell_tcp_closed(0, &a_old);
    lab.run(Duration::from_millis(20));
    let a_new = lab.sides[0].agent.selected_pair().unwrap().clone();
    assert_ne!(a_new, a_old, "the controlling side nominated another pair");
    let nominated_not_selected = |lab: &Lab| {
        lab.sides[1]
            .agent
            .candidate_pairs()
            .filter(|p| p.nominated && !p.selected)
            .count()
    };
    assert_eq!(nominated_not_selected(&lab), 1);
    // Past the disconnected timeout: consent on the selected pair holds.
    lab.run(Duration::from_secs(10));
    assert_eq!(lab.sides[1].agent.selected_pair(), Some(&b_old));
    assert!(matches!(
        lab.sides[1].agent.connection_state(),
        ConnectionState::Connected | ConnectionState::Completed
    ));
}
