//! The UDP listeners of the `listen` driver on a wildcard address (the
//! default of `ferrtc turn`, `0.0.0.0:3478`): over UDP a response leaves
//! from the address the request was sent to (RFC 8489 §6.3), and the
//! server address of the client's 5-tuple (RFC 8656 §2) is that address,
//! so Data indications and ChannelData reach the client from it too, and
//! two server addresses make two 5-tuples.
//!
//! On Linux all of 127.0.0.0/8 is local: the client on 127.0.0.1 reaches
//! "secondary addresses" of the host at 127.0.0.2 and 127.0.0.3.
#![cfg(all(feature = "server", target_os = "linux"))]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_stun::{Class, Message, MessageBuilder, Method, TransactionId};
use ferrtc_turn::listen::{ListenConfig, Running, start};
use ferrtc_turn::server::{Credentials, Drop, PeerPolicy, ServerConfig};
use ferrtc_turn::{Client, ClientConfig, Event};
use tokio::net::UdpSocket;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SECONDARY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const TERTIARY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// A server with one UDP listener on 0.0.0.0 (the port the OS gives).
async fn wildcard_server() -> Running {
    let users: HashMap<String, String> = [("alice".to_owned(), "wonderland".to_owned())].into();
    let mut config = ServerConfig::new("ferrtc.test", Credentials::new(users, None), b"k");
    config.policy = PeerPolicy {
        allow_loopback: true,
        allow_private: false,
    };
    let listen = ListenConfig {
        udp: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)],
        tcp: vec![],
        tls: vec![],
        tls_config: None,
        relay_ip: LOCALHOST,
        metrics: None,
    };
    start(listen, config).await.unwrap()
}

/// `ip` with the port of the server's (only) UDP listener.
fn at(running: &Running, ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, running.udp[0].port())
}

/// The next datagram on `socket` and its source, within 2 s.
async fn recv(socket: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some((buf, from))
}

/// Sends a Binding request `id` from `client` to `to`; its answer and
/// where the answer came from.
async fn binding(client: &UdpSocket, to: SocketAddr, id: TransactionId) -> (Vec<u8>, SocketAddr) {
    let mut request = Vec::new();
    MessageBuilder::new(&mut request, Class::Request, Method::BINDING, id).finish();
    client.send_to(&request, to).await.unwrap();
    recv(client).await.expect("the Binding request is answered")
}

/// RFC 8489 §6.3 (over UDP, the response is sent to the request's source
/// from the address and port the request was received on): a Binding
/// request sent to a secondary address of the host is answered from that
/// address, not from the one routing would pick for the reply.
#[tokio::test]
async fn a_wildcard_udp_listener_answers_from_the_address_the_request_was_sent_to() {
    let running = wildcard_server().await;
    let client = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    for (i, ip) in [SECONDARY, LOCALHOST, TERTIARY].into_iter().enumerate() {
        let to = at(&running, ip);
        let id = TransactionId([i as u8 + 1; 12]);
        let (answer, from) = binding(&client, to, id).await;
        let answer = Message::parse(&answer).unwrap();
        assert_eq!(
            (answer.class(), answer.transaction_id()),
            (Class::SuccessResponse, id)
        );
        assert_eq!(
            from, to,
            "the answer to a request sent to {to} came from {from}"
        );
    }
}

/// The same over IPv6 (`IPV6_RECVPKTINFO`): a listener on `[::]` answers
/// a request to `[::1]` from `[::1]` and its port. (Skipped on a host
/// without IPv6 loopback.)
#[tokio::test]
async fn an_ipv6_wildcard_udp_listener_answers_from_the_address_the_request_was_sent_to() {
    let Ok(client) = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).await else {
        return;
    };
    let config = ServerConfig::new("ferrtc.test", Credentials::new(HashMap::new(), None), b"k");
    let listen = ListenConfig {
        udp: vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)],
        tcp: vec![],
        tls: vec![],
        tls_config: None,
        relay_ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
        metrics: None,
    };
    let running = start(listen, config).await.unwrap();
    let to = at(&running, IpAddr::V6(Ipv6Addr::LOCALHOST));
    let id = TransactionId([9; 12]);
    let (answer, from) = binding(&client, to, id).await;
    assert_eq!(Message::parse(&answer).unwrap().transaction_id(), id);
    assert_eq!(from, to);
}

/// A TURN client on 127.0.0.1 with its own socket, reaching the server at
/// `server`; every datagram it gets is handed over with its real source,
/// so one from another address is dropped (counted in `foreign_source`).
struct UdpClient {
    client: Client,
    socket: UdpSocket,
    events: Vec<Event>,
}

impl UdpClient {
    fn new(server: SocketAddr, socket: UdpSocket) -> UdpClient {
        let config = ClientConfig::new(server, "alice", "wonderland");
        UdpClient {
            client: Client::new(config, Instant::now()),
            socket,
            events: Vec::new(),
        }
    }

    /// Runs until an event matches, for at most 5 s.
    async fn until(&mut self, mut done: impl FnMut(&Event) -> bool) -> Event {
        let end = Instant::now() + Duration::from_secs(5);
        let mut seen = 0;
        while Instant::now() < end {
            self.step().await;
            if let Some(e) = self.events[seen..].iter().find(|e| done(e)) {
                return e.clone();
            }
            seen = self.events.len();
        }
        panic!(
            "no such event; got {:?} ({} datagrams from a foreign source)",
            self.events,
            self.client.stats().foreign_source
        );
    }

    /// Runs for `time`; the events that came meanwhile.
    async fn run_for(&mut self, time: Duration) -> Vec<Event> {
        let (end, seen) = (Instant::now() + time, self.events.len());
        while Instant::now() < end {
            self.step().await;
        }
        self.events[seen..].to_vec()
    }

    /// Sends what is queued, takes the events, and waits up to 20 ms for
    /// a datagram (and runs the timers).
    async fn step(&mut self) {
        let mut buf = Vec::new();
        while let Some(t) = self.client.poll_transmit(Instant::now(), &mut buf) {
            self.socket.send_to(&buf, t.destination).await.unwrap();
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
        let mut datagram = vec![0u8; 65_536];
        let wait = Duration::from_millis(20);
        if let Ok(Ok((n, from))) =
            tokio::time::timeout(wait, self.socket.recv_from(&mut datagram)).await
        {
            self.client
                .handle_receive(Instant::now(), from, &datagram[..n]);
        }
        if self
            .client
            .poll_timeout()
            .is_some_and(|t| t <= Instant::now())
        {
            self.client.handle_timeout(Instant::now());
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
    }

    /// Allocates, then relays one message to an echo peer through Send and
    /// Data indications and one through a channel (ChannelData both ways).
    async fn allocate_and_relay(&mut self) -> SocketAddr {
        let ev = self
            .until(|e| matches!(e, Event::Allocated { .. } | Event::Failed { .. }))
            .await;
        let Event::Allocated { relayed, .. } = ev else {
            panic!("{ev:?}")
        };
        let (indication_peer, channel_peer) =
            (echo_peer(LOCALHOST).await, echo_peer(TERTIARY).await);
        self.client
            .create_permission(indication_peer.ip(), Instant::now())
            .unwrap();
        self.until(|e| matches!(e, Event::PermissionCreated { .. }))
            .await;
        self.client
            .bind_channel(channel_peer, Instant::now())
            .unwrap();
        self.until(|e| matches!(e, Event::ChannelBound { .. }))
            .await;
        for (peer, what) in [(indication_peer, "indication"), (channel_peer, "channel")] {
            let msg = format!("through {} via {what}", self.client.server()).into_bytes();
            self.client.send_to(peer, &msg).unwrap();
            let ev = self
                .until(|e| matches!(e, Event::Data { data, .. } if *data == msg))
                .await;
            assert_eq!(ev, Event::Data { peer, data: msg });
        }
        assert_eq!(self.client.stats().foreign_source, 0);
        relayed
    }
}

/// A UDP echo peer on `ip`.
async fn echo_peer(ip: IpAddr) -> SocketAddr {
    let socket = UdpSocket::bind((ip, 0)).await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// RFC 8656 §2, §11.3, §12.5: a client that reaches the server at a
/// secondary address allocates, and the responses, the Data indication
/// and the ChannelData relayed from its peers all come from that address
/// (the client drops anything else as from a foreign source).
#[tokio::test]
async fn a_client_relays_through_a_secondary_address_of_a_wildcard_listener() {
    let running = wildcard_server().await;
    let socket = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let mut client = UdpClient::new(at(&running, SECONDARY), socket);
    client.allocate_and_relay().await;
}

/// RFC 8656 §2: the 5-tuple includes the server address, so one client
/// socket that reaches the server at two of its addresses holds two
/// allocations (not one 5-tuple, where the second Allocate would be an
/// Allocation Mismatch), each relaying from its own address.
#[tokio::test]
async fn one_client_address_allocates_once_per_server_address() {
    let running = wildcard_server().await;
    let socket = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let local = socket.local_addr().unwrap();
    let mut first = UdpClient::new(at(&running, SECONDARY), socket);
    let relayed_first = first.allocate_and_relay().await;
    // The same client address and port, towards another server address.
    let socket = first.socket;
    assert_eq!(socket.local_addr().unwrap(), local);
    let mut second = UdpClient::new(at(&running, TERTIARY), socket);
    let relayed_second = second.allocate_and_relay().await;
    assert_ne!(relayed_first, relayed_second);
    assert_eq!(running.metrics().allocations_current, 2);
}

/// RFC 8656 §21.3 (TURN within TURN): nothing is relayed to the server's
/// own listener, whatever the peer policy opens. A wildcard listener names
/// no address when it binds; the address a client reached it at is one of
/// its own all the same. Here a client allocates through 127.0.0.2 (with
/// loopback peers allowed) and sends a Binding request through its relay
/// to 127.0.0.2 and the listener's port: it is dropped (counted as
/// `own_address`), not answered by the listener back through the relay.
#[tokio::test]
async fn a_wildcard_udp_listener_refuses_to_relay_to_the_address_it_was_reached_at() {
    let running = wildcard_server().await;
    let socket = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let listener = at(&running, SECONDARY);
    let mut client = UdpClient::new(listener, socket);
    let ev = client
        .until(|e| matches!(e, Event::Allocated { .. } | Event::Failed { .. }))
        .await;
    assert!(matches!(ev, Event::Allocated { .. }), "{ev:?}");
    client
        .client
        .create_permission(SECONDARY, Instant::now())
        .unwrap();
    client
        .until(|e| matches!(e, Event::PermissionCreated { .. }))
        .await;
    let mut binding = Vec::new();
    let id = TransactionId([7; 12]);
    MessageBuilder::new(&mut binding, Class::Request, Method::BINDING, id).finish();
    client.client.send_to(listener, &binding).unwrap();
    let events = client.run_for(Duration::from_millis(500)).await;
    let looped: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Data { peer, .. } if *peer == listener))
        .collect();
    assert!(
        looped.is_empty(),
        "the listener answered through the relay: {looped:?}"
    );
    assert_eq!(running.metrics().drops(Drop::OwnAddress), 1);
}
