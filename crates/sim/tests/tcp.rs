//! TCP connections on the simulated network, seen from endpoints: the
//! handshake's round trip, refusal and timeout, bytes in order through loss,
//! rate limits and NATs, close, and UDP-blocking firewalls.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_sim::{
    CloseReason, ConnId, ConnectError, Endpoint, HostId, Link, LinkConfig, MSS, NatConfig, Network,
    Probe, StreamCommand, StreamEvent, Transmit,
};

const MS: Duration = Duration::from_millis(1);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What a [`Stack`] heard, with the virtual time since the network started.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    Connected(ConnId, SocketAddr, SocketAddr),
    Failed(u64, ConnectError),
    Accepted(ConnId, SocketAddr, SocketAddr),
    Closed(ConnId, CloseReason),
}

/// A TCP-only endpoint: runs the commands a test queues, records events
/// and the bytes received per connection.
#[derive(Default)]
struct Stack {
    commands: VecDeque<(StreamCommand, Vec<u8>)>,
    heard: Vec<(Instant, Heard)>,
    bytes: Vec<(ConnId, Vec<u8>)>,
    /// Largest single `Data` event.
    largest_read: usize,
    /// Echo what arrives back on the same connection.
    echo: bool,
}

impl Stack {
    fn listening(addr: &str) -> Stack {
        let mut s = Stack::default();
        s.commands
            .push_back((StreamCommand::Listen(sa(addr)), Vec::new()));
        s
    }

    fn command(&mut self, command: StreamCommand) {
        self.commands.push_back((command, Vec::new()));
    }

    fn write(&mut self, conn: ConnId, bytes: &[u8]) {
        self.commands
            .push_back((StreamCommand::Send(conn), bytes.to_vec()));
    }

    fn received(&self, conn: ConnId) -> Vec<u8> {
        self.bytes
            .iter()
            .filter(|(c, _)| *c == conn)
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    fn received_len(&self, conn: ConnId) -> usize {
        self.bytes
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, b)| b.len())
            .sum()
    }

    fn connected(&self) -> Option<ConnId> {
        self.heard.iter().find_map(|(_, h)| match h {
            Heard::Connected(c, ..) | Heard::Accepted(c, ..) => Some(*c),
            _ => None,
        })
    }
}

impl Endpoint for Stack {
    fn handle_receive(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}

    fn poll_transmit(&mut self, _: Instant, _: &mut Vec<u8>) -> Option<Transmit> {
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _: Instant) {}

    fn poll_stream(&mut self, _: Instant, buf: &mut Vec<u8>) -> Option<StreamCommand> {
        let (command, bytes) = self.commands.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(command)
    }

    fn handle_stream(&mut self, now: Instant, event: StreamEvent<'_>) {
        let heard = match event {
            StreamEvent::Connected {
                conn,
                local,
                remote,
                ..
            } => Heard::Connected(conn, local, remote),
            StreamEvent::ConnectFailed { token, error, .. } => Heard::Failed(token, error),
            StreamEvent::Accepted {
                conn,
                local,
                remote,
            } => Heard::Accepted(conn, local, remote),
            StreamEvent::Closed { conn, reason } => Heard::Closed(conn, reason),
            StreamEvent::Data { conn, bytes } => {
                self.largest_read = self.largest_read.max(bytes.len());
                self.bytes.push((conn, bytes.to_vec()));
                if self.echo {
                    self.write(conn, bytes);
                }
                return;
            }
            _ => return,
        };
        self.heard.push((now, heard));
    }
}

const SERVER: &str = "198.51.100.7:443";

/// A public server listening on [`SERVER`] and a public client, each on a
/// link of `link`.
fn pair(seed: u64, link: LinkConfig) -> (Network, HostId<Stack>, HostId<Stack>) {
    let mut net = Network::new(seed);
    let server = net
        .add_host([ip("198.51.100.7")], link, Stack::listening(SERVER))
        .unwrap();
    let client = net
        .add_host([ip("192.0.2.1")], link, Stack::default())
        .unwrap();
    (net, server, client)
}

fn connect(net: &mut Network, client: &HostId<Stack>, to: &str) {
    let from = net.host_addrs(client)[0];
    net.endpoint_mut(client).command(StreamCommand::Connect {
        from,
        to: sa(to),
        token: 7,
    });
}

#[test]
fn the_handshake_costs_one_round_trip_and_bytes_flow_both_ways_in_order() {
    let (mut net, server, client) = pair(1, LinkConfig::IDEAL.with_delay(10 * MS));
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let start = net.start();
    let c = net.endpoint(&client);
    let Some((at, Heard::Connected(conn, local, remote))) = c.heard.first().cloned() else {
        panic!("{:?}", c.heard);
    };
    // Two links each way, 10 ms each.
    assert_eq!(at - start, 40 * MS);
    assert_eq!(remote, sa(SERVER));
    assert_eq!(local.ip(), ip("192.0.2.1"));
    assert!(local.port() >= 32768, "an ephemeral port: {local}");
    let s = net.endpoint(&server);
    let (at, accepted) = s.heard[0].clone();
    assert_eq!(at - start, 20 * MS);
    assert_eq!(accepted, Heard::Accepted(conn, sa(SERVER), local));

    let message: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    net.endpoint_mut(&client).write(conn, &message);
    net.endpoint_mut(&client).write(conn, b"and more");
    net.endpoint_mut(&server)
        .write(conn, b"hello from the server");
    net.run_for(Duration::from_secs(1));
    let mut expected = message.clone();
    expected.extend_from_slice(b"and more");
    assert_eq!(net.endpoint(&server).received(conn), expected);
    assert_eq!(
        net.endpoint(&client).received(conn),
        b"hello from the server"
    );
    // A byte stream: a 5000-byte write arrives cut into segments.
    assert_eq!(net.endpoint(&server).largest_read, MSS);
    let counters = net.counters().tcp;
    assert_eq!(counters.connects, 1);
    assert_eq!(counters.established, 1);
    assert_eq!(counters.accepted, 1);
    assert_eq!(counters.bytes_delivered, 5000 + 8 + 21);
    assert_eq!(counters.retransmits, 0);
    // TCP does not count as datagrams.
    assert_eq!(net.counters().transmitted, 0);
}

#[test]
fn a_connection_to_a_port_nobody_listens_on_is_refused_after_one_round_trip() {
    let (mut net, _server, client) = pair(2, LinkConfig::IDEAL.with_delay(10 * MS));
    connect(&mut net, &client, "198.51.100.7:444");
    net.run_for(Duration::from_secs(10));
    let c = net.endpoint(&client);
    assert_eq!(
        c.heard.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>(),
        [Heard::Failed(7, ConnectError::Refused)]
    );
    assert_eq!(c.heard[0].0 - net.start(), 40 * MS);
    assert_eq!(net.counters().tcp.refused, 1);
    assert_eq!(net.tcp_connections(), 0);
}

#[test]
fn a_connection_into_a_nat_is_dropped_and_times_out() {
    let mut net = Network::new(3);
    let link = LinkConfig::IDEAL.with_delay(5 * MS);
    let nat = net
        .add_nat(NatConfig::full_cone(ip("203.0.113.1")))
        .unwrap();
    let inside = net
        .add_host_behind(
            nat,
            [ip("10.0.0.2")],
            link,
            Stack::listening("10.0.0.2:443"),
        )
        .unwrap();
    let client = net
        .add_host([ip("192.0.2.1")], link, Stack::default())
        .unwrap();
    connect(&mut net, &client, "203.0.113.1:443");
    net.run_for(Duration::from_secs(30));
    let c = net.endpoint(&client);
    assert_eq!(c.heard.len(), 1, "{:?}", c.heard);
    assert_eq!(c.heard[0].1, Heard::Failed(7, ConnectError::TimedOut));
    // SYN at 0, 1 s and 3 s (RTO 1 s, doubled); given up at 7 s.
    assert_eq!(c.heard[0].0 - net.start(), Duration::from_secs(7));
    assert_eq!(net.nat_counters(nat).tcp_unsolicited, 3);
    assert!(net.endpoint(&inside).heard.is_empty());
    assert_eq!(net.counters().tcp.timed_out, 1);
}

#[test]
fn a_client_behind_a_nat_connects_out_and_the_server_sees_the_mapping() {
    let mut net = Network::new(4);
    let link = LinkConfig::IDEAL.with_delay(5 * MS);
    let server = net
        .add_host([ip("198.51.100.7")], link, Stack::listening(SERVER))
        .unwrap();
    let nat = net
        .add_nat(NatConfig::symmetric(ip("203.0.113.1")))
        .unwrap();
    let client = net
        .add_host_behind(nat, [ip("10.0.0.2")], link, Stack::default())
        .unwrap();
    net.endpoint_mut(&server).echo = true;
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().expect("connected");
    let Heard::Accepted(_, _, seen) = net.endpoint(&server).heard[0].1.clone() else {
        panic!("{:?}", net.endpoint(&server).heard);
    };
    assert_eq!(seen.ip(), ip("203.0.113.1"));
    net.endpoint_mut(&client).write(conn, b"ping");
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(&client).received(conn), b"ping");
    let n = net.nat_counters(nat);
    assert_eq!(n.mappings_created, 1);
    assert!(n.outbound >= 2 && n.inbound >= 2, "{n:?}");
}

#[test]
fn an_idle_connection_whose_nat_mapping_expired_breaks() {
    let mut net = Network::new(14);
    let link = LinkConfig::IDEAL.with_delay(5 * MS);
    let server = net
        .add_host([ip("198.51.100.7")], link, Stack::listening(SERVER))
        .unwrap();
    let nat = net
        .add_nat(
            NatConfig::port_restricted_cone(ip("203.0.113.1"))
                .with_tcp_mapping_timeout(Duration::from_secs(10)),
        )
        .unwrap();
    let client = net
        .add_host_behind(nat, [ip("10.0.0.2")], link, Stack::default())
        .unwrap();
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    net.run_for(Duration::from_secs(20));
    // The next segment gets a new mapping: the server knows no connection
    // from that port and drops it; the client gives up.
    net.endpoint_mut(&client).write(conn, b"still there?");
    net.run_for(Duration::from_secs(300));
    assert!(net.endpoint(&server).received(conn).is_empty());
    assert_eq!(
        net.endpoint(&client).heard.last().unwrap().1,
        Heard::Closed(conn, CloseReason::TimedOut)
    );
    assert!(net.nat_counters(nat).mappings_created >= 2);
    assert_eq!(net.counters().tcp.no_connection, 9);
}

#[test]
fn on_a_lossy_link_every_byte_arrives_in_order_some_after_a_retransmission() {
    let lossy = LinkConfig::IDEAL
        .with_delay(10 * MS)
        .with_jitter(5 * MS)
        .with_loss(0.2)
        .with_duplicate(0.05);
    let (mut net, server, client) = pair(5, lossy);
    connect(&mut net, &client, SERVER);
    assert!(net.run_until_condition(Duration::from_secs(30), |n| {
        n.endpoint(&client).connected().is_some()
    }));
    let conn = net.endpoint(&client).connected().unwrap();
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let line = format!("line {i}\n");
        sent.extend_from_slice(line.as_bytes());
        net.endpoint_mut(&client).write(conn, line.as_bytes());
        net.run_for(5 * MS);
    }
    net.run_for(Duration::from_secs(60));
    assert_eq!(net.endpoint(&server).received(conn), sent);
    let c = net.counters().tcp;
    assert!(c.retransmits > 0, "{c:?}");
    assert!(c.duplicates > 0, "{c:?}");
    assert_eq!(c.reset, 0);
}

#[test]
fn a_rate_limited_link_queues_segments_and_still_delivers_everything() {
    // 10 kB/s and a 4 kB queue: 20 kB written at once overflow the queue;
    // what is tail-dropped comes again after the RTO.
    let slow = LinkConfig::IDEAL
        .with_delay(10 * MS)
        .with_rate(10_000, 4_000);
    let (mut net, server, client) = pair(6, slow);
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    let data = vec![0x5a; 20_000];
    let before = net.now();
    net.endpoint_mut(&client).write(conn, &data);
    assert!(net.run_until_condition(Duration::from_secs(60), |n| {
        n.endpoint(&server).received(conn).len() == data.len()
    }));
    assert!(net.now() - before >= Duration::from_secs(2));
    assert!(net.host_link_counters(&client).up.rate_dropped > 0);
    assert!(net.counters().tcp.retransmits > 0);
}

#[test]
fn a_bulk_write_fills_a_rate_limited_link_without_overflowing_its_queue() {
    // 100 kB/s behind the default 64 KiB queue: the window (44 segments)
    // fits in the queue and the RTO follows the queueing delay, so 300 kB
    // arrive in about 3 s without a drop or a retransmission.
    let slow = LinkConfig::IDEAL
        .with_delay(10 * MS)
        .with_rate(100_000, ferrtc_sim::DEFAULT_QUEUE_LIMIT);
    let (mut net, server, client) = pair(13, slow);
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let before = net.now();
    net.endpoint_mut(&client).write(conn, &data);
    assert!(net.run_until_condition(Duration::from_secs(60), |n| {
        n.endpoint(&server).received_len(conn) == data.len()
    }));
    let took = net.now() - before;
    assert_eq!(net.endpoint(&server).received(conn), data);
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(net.host_link_counters(&client).up.rate_dropped, 0);
    assert_eq!(net.counters().tcp.retransmits, 0);
}

#[test]
fn closing_either_side_tells_the_other_after_the_data_before_it() {
    let (mut net, server, client) = pair(7, LinkConfig::IDEAL.with_delay(10 * MS));
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    net.endpoint_mut(&client).write(conn, b"last words");
    net.endpoint_mut(&client)
        .command(StreamCommand::Close(conn));
    net.run_for(Duration::from_secs(1));
    let s = net.endpoint(&server);
    assert_eq!(s.received(conn), b"last words");
    assert_eq!(
        s.heard.last().unwrap().1,
        Heard::Closed(conn, CloseReason::ByPeer)
    );
    // The closer hears nothing more, and writes on a closed connection are refused.
    assert!(
        !net.endpoint(&client)
            .heard
            .iter()
            .any(|(_, h)| matches!(h, Heard::Closed(..)))
    );
    net.endpoint_mut(&server).write(conn, b"too late");
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.counters().tcp.invalid_commands, 1);
    assert_eq!(net.counters().tcp.closed, 1);
    assert_eq!(net.tcp_connections(), 0);

    // The other way round: the acceptor closes.
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let second = net
        .endpoint(&client)
        .heard
        .iter()
        .rev()
        .find_map(|(_, h)| match h {
            Heard::Connected(c, ..) => Some(*c),
            _ => None,
        });
    let second = second.unwrap();
    assert_ne!(second, conn);
    net.endpoint_mut(&server)
        .command(StreamCommand::Close(second));
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.endpoint(&client).heard.last().unwrap().1,
        Heard::Closed(second, CloseReason::ByPeer)
    );
}

#[test]
fn a_connection_whose_path_dies_is_given_up_after_its_retransmissions() {
    let (mut net, server, client) = pair(8, LinkConfig::IDEAL.with_delay(10 * MS));
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    net.set_host_link(&server, LinkConfig::IDEAL.with_loss(1.0));
    net.endpoint_mut(&client).write(conn, b"into the void");
    net.run_for(Duration::from_secs(600));
    let c = net.endpoint(&client);
    assert_eq!(
        c.heard.last().unwrap().1,
        Heard::Closed(conn, CloseReason::TimedOut)
    );
    assert_eq!(net.counters().tcp.reset, 1);
    assert_eq!(net.counters().tcp.retransmits, 8);
}

#[test]
fn a_udp_blocking_nat_drops_udp_both_ways_and_lets_tcp_through() {
    let mut net = Network::new(9);
    let link = LinkConfig::IDEAL.with_delay(5 * MS);
    let reflector = net
        .add_host([ip("198.51.100.9")], link, Probe::reflect())
        .unwrap();
    let server = net
        .add_host([ip("198.51.100.7")], link, Stack::listening(SERVER))
        .unwrap();
    let nat = net
        .add_nat(NatConfig::full_cone(ip("203.0.113.1")).with_udp_blocked(true))
        .unwrap();
    let udp = net
        .add_host_behind(nat, [ip("10.0.0.2")], link, Probe::sink())
        .unwrap();
    let tcp = net
        .add_host_behind(nat, [ip("10.0.0.3")], link, Stack::default())
        .unwrap();
    net.endpoint_mut(&udp)
        .send(sa("10.0.0.2:5000"), sa("198.51.100.9:3478"), b"?");
    net.endpoint_mut(&reflector)
        .send(sa("198.51.100.9:3478"), sa("203.0.113.1:50000"), b"!");
    connect(&mut net, &tcp, SERVER);
    net.run_for(Duration::from_secs(1));
    assert!(net.endpoint(&reflector).received().is_empty());
    assert!(net.endpoint(&udp).received().is_empty());
    assert_eq!(net.nat_counters(nat).udp_blocked, 2);
    assert!(net.endpoint(&tcp).connected().is_some());
    assert!(net.endpoint(&server).connected().is_some());
}

fn lossy_tcp_run(seed: u64) -> (u64, Vec<u8>) {
    let lossy = LinkConfig::IDEAL
        .with_delay(10 * MS)
        .with_jitter(10 * MS)
        .with_loss(0.1)
        .with_reorder(0.1, 15 * MS);
    let (mut net, server, client) = pair(seed, lossy);
    net.endpoint_mut(&server).echo = true;
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(5));
    let conn = net.endpoint(&client).connected().unwrap();
    for i in 0..50u32 {
        net.endpoint_mut(&client)
            .write(conn, format!("{i};").as_bytes());
        net.run_for(20 * MS);
    }
    net.run_for(Duration::from_secs(30));
    (net.trace_hash(), net.endpoint(&client).received(conn))
}

#[test]
fn the_same_seed_gives_the_same_tcp_run() {
    let (hash, echoed) = lossy_tcp_run(10);
    let expected: Vec<u8> = (0..50u32)
        .flat_map(|i| format!("{i};").into_bytes())
        .collect();
    assert_eq!(echoed, expected);
    assert_eq!(lossy_tcp_run(10).0, hash);
    assert_ne!(lossy_tcp_run(11).0, hash);
}

#[test]
fn stream_commands_on_addresses_or_connections_not_the_hosts_are_ignored() {
    let (mut net, _server, client) = pair(12, LinkConfig::IDEAL);
    net.endpoint_mut(&client).command(StreamCommand::Connect {
        from: ip("192.0.2.99"),
        to: sa(SERVER),
        token: 3,
    });
    net.endpoint_mut(&client)
        .command(StreamCommand::Listen(sa("192.0.2.99:80")));
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.endpoint(&client).heard[0].1,
        Heard::Failed(3, ConnectError::InvalidAddress)
    );
    assert_eq!(net.counters().tcp.invalid_commands, 2);
    assert_eq!(net.tcp_connections(), 0);
}

#[test]
fn a_simultaneous_close_ends_both_sides_without_a_reset_or_a_retransmission() {
    let (mut net, server, client) = pair(15, LinkConfig::IDEAL.with_delay(10 * MS));
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    // RFC 9293 §3.6: both FINs cross; each is acknowledged.
    net.endpoint_mut(&client)
        .command(StreamCommand::Close(conn));
    net.endpoint_mut(&server)
        .command(StreamCommand::Close(conn));
    net.run_for(Duration::from_secs(1));
    let c = net.counters().tcp;
    assert_eq!(c.closed, 2);
    assert_eq!(c.retransmits, 0, "{c:?}");
    assert_eq!(c.reset, 0, "{c:?}");
    assert_eq!(c.no_connection, 0, "{c:?}");
    assert_eq!(net.tcp_connections(), 0);
    // Each closed it itself: neither hears a close.
    for heard in [&net.endpoint(&client).heard, &net.endpoint(&server).heard] {
        assert!(!heard.iter().any(|(_, h)| matches!(h, Heard::Closed(..))));
    }
}

#[test]
fn closing_while_the_peer_writes_tells_the_writer_at_once_and_leaves_nothing_behind() {
    let (mut net, server, client) = pair(16, LinkConfig::IDEAL.with_delay(10 * MS));
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    net.endpoint_mut(&server).write(conn, &vec![0xa5; 200_000]);
    net.run_for(30 * MS);
    let closed_at = net.now();
    net.endpoint_mut(&client)
        .command(StreamCommand::Close(conn));
    net.run_for(Duration::from_secs(1));
    // The FIN crosses two links of 10 ms: the writer hears of it then.
    let s = net.endpoint(&server);
    let (at, heard) = s.heard.last().cloned().unwrap();
    assert_eq!(heard, Heard::Closed(conn, CloseReason::ByPeer));
    assert_eq!(at - closed_at, 20 * MS);
    // The closer takes no more of what was in flight to it.
    assert!(net.endpoint(&client).received_len(conn) < 200_000);
    let c = net.counters().tcp;
    assert_eq!(c.retransmits, 0, "{c:?}");
    assert_eq!(c.reset, 0, "{c:?}");
    assert_eq!(c.no_connection, 0, "{c:?}");
    assert!(c.discarded > 0, "{c:?}");
    assert_eq!(net.tcp_connections(), 0);
}

#[test]
fn segments_coming_in_keep_a_receive_only_hosts_nat_mapping_alive() {
    let mut net = Network::new(17);
    let link = LinkConfig::IDEAL.with_delay(5 * MS);
    let server = net
        .add_host([ip("198.51.100.7")], link, Stack::listening(SERVER))
        .unwrap();
    let nat = net
        .add_nat(
            NatConfig::port_restricted_cone(ip("203.0.113.1"))
                .with_tcp_mapping_timeout(Duration::from_secs(10)),
        )
        .unwrap();
    let client = net
        .add_host_behind(nat, [ip("10.0.0.2")], link, Stack::default())
        .unwrap();
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    // The client only receives, every 4 s for 40 s (RFC 5382 REQ-5: the
    // idle timeout counts traffic both ways; ACKs are not modelled).
    let mut sent = Vec::new();
    for i in 0..10u32 {
        let line = format!("tick {i}\n");
        sent.extend_from_slice(line.as_bytes());
        net.endpoint_mut(&server).write(conn, line.as_bytes());
        net.run_for(Duration::from_secs(4));
    }
    assert_eq!(net.endpoint(&client).received(conn), sent);
    net.endpoint_mut(&client).write(conn, b"still here");
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(&server).received(conn), b"still here");
    assert_eq!(net.nat_counters(nat).mappings_created, 1);
    assert_eq!(net.counters().tcp.retransmits, 0);
}

#[test]
fn a_connection_to_the_hosts_own_address_is_rejected() {
    let mut net = Network::new(18);
    let host = net
        .add_host(
            [ip("198.51.100.7")],
            LinkConfig::IDEAL,
            Stack::listening(SERVER),
        )
        .unwrap();
    connect(&mut net, &host, SERVER);
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.endpoint(&host)
            .heard
            .iter()
            .map(|(_, h)| h.clone())
            .collect::<Vec<_>>(),
        [Heard::Failed(7, ConnectError::InvalidAddress)]
    );
    assert_eq!(net.counters().tcp.invalid_commands, 1);
    assert_eq!(net.counters().tcp.accepted, 0);
    assert_eq!(net.tcp_connections(), 0);
}

#[test]
fn a_closed_end_whose_peer_gave_up_its_fin_is_forgotten_too() {
    let (mut net, _server, client) = pair(19, LinkConfig::IDEAL.with_delay(10 * MS));
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(1));
    let conn = net.endpoint(&client).connected().unwrap();
    net.endpoint_mut(&client)
        .command(StreamCommand::Close(conn));
    // The client's FIN is past its link when the link dies: the server's
    // answering FIN never arrives, and the server gives it up.
    net.run_for(15 * MS);
    net.set_host_link(&client, LinkConfig::IDEAL.with_loss(1.0));
    net.run_for(Duration::from_secs(600));
    let c = net.counters().tcp;
    assert_eq!(c.reset, 1, "{c:?}");
    assert_eq!(c.retransmits, 8, "{c:?}");
    assert_eq!(net.tcp_connections(), 0);
}

/// Once every segment has arrived and both ends are forgotten, nothing is
/// pending: the retransmission timers of segments that arrived (RFC 6298
/// §5.2: the timer stops when all outstanding data is acknowledged) do not
/// wake the network, so [`Network::step`] returns `false` without moving
/// virtual time and [`Network::next_wake`] is `None`.
#[test]
fn acknowledged_segments_leave_no_timer_to_wake_the_network_for() {
    let (mut net, server, client) = pair(18, LinkConfig::IDEAL.with_delay(10 * MS));
    connect(&mut net, &client, SERVER);
    assert!(net.run_until_condition(Duration::from_secs(1), |net| {
        net.endpoint(&client).connected().is_some()
    }));
    let conn = net.endpoint(&client).connected().unwrap();
    net.endpoint_mut(&client).write(conn, &[7; 5000]);
    net.endpoint_mut(&client)
        .command(StreamCommand::Close(conn));
    assert!(net.run_until_condition(Duration::from_secs(1), |net| net.tcp_connections() == 0));
    assert_eq!(net.endpoint(&server).received(conn), vec![7; 5000]);
    assert_eq!(net.counters().tcp.retransmits, 0);
    let done = net.now();
    assert_eq!(net.next_wake(), None);
    assert!(!net.step());
    assert_eq!(net.now(), done);
}

/// A SYN duplicated on the opener's up-link to a port nobody listens on
/// draws two resets (RFC 9293 §3.10.7.1): the first refuses the attempt, the second finds no
/// connection and is dropped and counted as such. The attempt is refused
/// once, however many resets it drew.
#[test]
fn a_second_reset_for_one_refused_attempt_is_counted_as_for_no_connection() {
    let mut net = Network::new(19);
    let link = LinkConfig::IDEAL.with_delay(10 * MS);
    net.add_host([ip("198.51.100.7")], link, Stack::default())
        .unwrap();
    let client = net
        .add_host(
            [ip("192.0.2.1")],
            Link::new(link.with_duplicate(1.0), link),
            Stack::default(),
        )
        .unwrap();
    connect(&mut net, &client, SERVER);
    net.run_for(Duration::from_secs(10));
    let c = net.endpoint(&client);
    assert_eq!(
        c.heard.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>(),
        [Heard::Failed(7, ConnectError::Refused)]
    );
    let tcp = net.counters().tcp;
    assert_eq!(tcp.connects, 1, "{tcp:?}");
    assert_eq!(tcp.refused, 1, "{tcp:?}");
    assert_eq!(tcp.segments_sent, 3, "one SYN and two resets: {tcp:?}");
    assert_eq!(tcp.no_connection, 1, "{tcp:?}");
    assert_eq!(net.tcp_connections(), 0);
}

/// A reset that answered an earlier SYN of the attempt, when nobody
/// listened yet, and arrives after a retransmitted SYN got the connection
/// accepted, resets nothing: it does not acknowledge anything the opener
/// has outstanding now (RFC 9293 §3.10.7.4, RFC 5961 §3: a reset outside
/// the window is dropped). The connection stays up and carries data.
#[test]
fn a_stale_reset_arriving_after_the_handshake_leaves_the_connection_up() {
    let mut net = Network::new(20);
    let slow_up = Link::new(LinkConfig::IDEAL.with_delay(2000 * MS), LinkConfig::IDEAL);
    let server = net
        .add_host([ip("198.51.100.7")], slow_up, Stack::default())
        .unwrap();
    let client = net
        .add_host(
            [ip("192.0.2.1")],
            LinkConfig::IDEAL.with_delay(10 * MS),
            Stack::default(),
        )
        .unwrap();
    // The first SYN meets a closed port at 10 ms; its reset takes 2 s back.
    connect(&mut net, &client, SERVER);
    net.run_for(500 * MS);
    net.set_host_link(&server, Link::IDEAL);
    net.endpoint_mut(&server)
        .command(StreamCommand::Listen(sa(SERVER)));
    // The SYN sent again at 1 s is accepted; the SYN-ACK is back at 1.02 s,
    // the old reset at 2.02 s.
    net.run_for(Duration::from_secs(3));
    let heard: Vec<Heard> = net
        .endpoint(&client)
        .heard
        .iter()
        .map(|(_, h)| h.clone())
        .collect();
    let Some(Heard::Connected(conn, ..)) = heard.first().cloned() else {
        panic!("{heard:?}");
    };
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(net.tcp_connections(), 1);
    net.endpoint_mut(&client).write(conn, b"still here");
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(&server).received(conn), b"still here");
    let tcp = net.counters().tcp;
    assert_eq!(tcp.refused, 0, "{tcp:?}");
    assert_eq!(tcp.no_connection, 1, "{tcp:?}");
    assert_eq!(tcp.invalid_commands, 0, "{tcp:?}");
}

/// A stale reset that reaches the opener before the SYN-ACK of a later,
/// accepted SYN fails the attempt (the opener is still in SYN-SENT, RFC
/// 9293 §3.10.7.3); the end the listener accepted is not forgotten
/// silently: its SYN-ACK finds no connection, it is given up after its
/// retransmissions and its endpoint hears the connection close.
#[test]
fn a_stale_reset_before_the_syn_ack_fails_the_attempt_and_the_accepted_end_times_out() {
    let mut net = Network::new(21);
    let slow_up = Link::new(LinkConfig::IDEAL.with_delay(2000 * MS), LinkConfig::IDEAL);
    let server = net
        .add_host([ip("198.51.100.7")], slow_up, Stack::default())
        .unwrap();
    let client = net
        .add_host(
            [ip("192.0.2.1")],
            LinkConfig::IDEAL.with_delay(10 * MS),
            Stack::default(),
        )
        .unwrap();
    connect(&mut net, &client, SERVER);
    net.run_for(500 * MS);
    // The reset of the first SYN is back at 2.02 s; the SYN-ACK of the SYN
    // sent again at 1 s, at 2.52 s.
    let slower_up = Link::new(LinkConfig::IDEAL.with_delay(1500 * MS), LinkConfig::IDEAL);
    net.set_host_link(&server, slower_up);
    net.endpoint_mut(&server)
        .command(StreamCommand::Listen(sa(SERVER)));
    net.run_for(Duration::from_secs(2));
    let heard: Vec<Heard> = net
        .endpoint(&client)
        .heard
        .iter()
        .map(|(_, h)| h.clone())
        .collect();
    assert_eq!(heard, [Heard::Failed(7, ConnectError::Refused)]);
    let Some((_, Heard::Accepted(conn, ..))) = net.endpoint(&server).heard.first().cloned() else {
        panic!("{:?}", net.endpoint(&server).heard);
    };
    net.run_for(Duration::from_secs(600));
    let (_, last) = net.endpoint(&server).heard.last().cloned().unwrap();
    assert_eq!(last, Heard::Closed(conn, CloseReason::TimedOut));
    assert_eq!(net.tcp_connections(), 0);
    let tcp = net.counters().tcp;
    assert_eq!(tcp.refused, 1, "{tcp:?}");
    assert_eq!(tcp.reset, 1, "{tcp:?}");
}
