//! The TCP connections of the `listen` driver (RFC 8656 §3.1): how long one
//! lives without an allocation, that a Refresh deleting its allocation is
//! answered before the connection closes, and that a dropped server closes
//! them.
#![cfg(feature = "server")]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_stun::{Class, Message, MessageBuilder, Method, TransactionId};
use ferrtc_turn::listen::{ListenConfig, Running, start};
use ferrtc_turn::server::{Credentials, PeerPolicy, ServerConfig};
use ferrtc_turn::{Client, ClientConfig, Event, StreamDecoder, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A server with one TCP listener on loopback; allocations live `lifetime`
/// (the defaults without).
async fn server(lifetime: Option<Duration>) -> Running {
    server_on(SocketAddr::new(LOCALHOST, 0), lifetime).await
}

/// A server with one TCP listener on `listener`.
async fn server_on(listener: SocketAddr, lifetime: Option<Duration>) -> Running {
    let users: HashMap<String, String> = [("alice".to_owned(), "wonderland".to_owned())].into();
    let mut config = ServerConfig::new("ferrtc.test", Credentials::new(users, None), b"k");
    config.policy = PeerPolicy {
        allow_loopback: true,
        allow_private: false,
    };
    if let Some(l) = lifetime {
        config.default_lifetime = l;
        config.max_lifetime = l;
    }
    let listen = ListenConfig {
        udp: vec![],
        tcp: vec![listener],
        tls: vec![],
        tls_config: None,
        relay_ip: LOCALHOST,
        metrics: None,
    };
    start(listen, config).await.unwrap()
}

/// Reads what the server sent into `client`; false once the connection closed.
async fn read_into(
    tcp: &mut TcpStream,
    decoder: &mut StreamDecoder,
    wait: Duration,
    mut each: impl FnMut(&[u8]),
) -> bool {
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout(wait, tcp.read(&mut chunk)).await {
        Ok(Ok(0)) | Ok(Err(_)) => false,
        Ok(Ok(n)) => {
            decoder.push(&chunk[..n]).unwrap();
            while let Some(frame) = decoder.next_frame().unwrap() {
                each(frame);
            }
            true
        }
        Err(_) => true,
    }
}

/// A client that allocated over TCP, with its connection.
async fn allocate(server: SocketAddr) -> (Client, TcpStream, StreamDecoder) {
    let tcp = TcpStream::connect(server).await.unwrap();
    allocate_over(tcp, server).await
}

/// A client that allocated over `tcp`, a connection to `server`.
async fn allocate_over(
    mut tcp: TcpStream,
    server: SocketAddr,
) -> (Client, TcpStream, StreamDecoder) {
    let mut config = ClientConfig::new(server, "alice", "wonderland");
    config.transport = Transport::Tcp;
    let mut client = Client::new(config, Instant::now());
    let mut decoder = StreamDecoder::new();
    let end = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    loop {
        assert!(Instant::now() < end, "no allocation");
        while client.poll_transmit(Instant::now(), &mut buf).is_some() {
            tcp.write_all(&buf).await.unwrap();
        }
        while let Some(event) = client.poll_event() {
            match event {
                Event::Allocated { .. } => return (client, tcp, decoder),
                Event::Failed { .. } => panic!("no allocation through {server}: {event:?}"),
                _ => {}
            }
        }
        let open = read_into(&mut tcp, &mut decoder, Duration::from_millis(50), |frame| {
            client.handle_receive(Instant::now(), server, frame);
        })
        .await;
        assert!(open, "the server closed the connection");
    }
}

#[tokio::test]
async fn a_refresh_deleting_the_allocation_is_answered_on_a_connection_older_than_30_s() {
    let running = server(None).await;
    let (mut client, mut tcp, mut decoder) = allocate(running.tcp[0]).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    client.close(Instant::now());
    let mut buf = Vec::new();
    while client.poll_transmit(Instant::now(), &mut buf).is_some() {
        tcp.write_all(&buf).await.unwrap();
    }
    let mut answer = None;
    let end = Instant::now() + Duration::from_secs(3);
    let mut open = true;
    while answer.is_none() && open && Instant::now() < end {
        open = read_into(
            &mut tcp,
            &mut decoder,
            Duration::from_millis(100),
            |frame| {
                let m = Message::parse(frame).unwrap();
                if m.method() == Method::REFRESH {
                    answer = Some(m.class());
                }
            },
        )
        .await;
    }
    assert_eq!(running.metrics().allocations_current, 0);
    assert_eq!(answer, Some(Class::SuccessResponse), "open: {open}");
}

#[tokio::test]
async fn a_connection_whose_allocation_expired_is_closed_30_s_later() {
    let running = server(Some(Duration::from_secs(3))).await;
    let (_client, mut tcp, _decoder) = allocate(running.tcp[0]).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(running.metrics().allocations_current, 0, "expired");
    let mut chunk = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(40), tcp.read(&mut chunk)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "still open 45 s after it connected, 42 s after its allocation expired: {read:?}"
    );
}

#[tokio::test]
async fn a_dropped_server_closes_its_tcp_connections() {
    let running = server(None).await;
    let mut tcp = TcpStream::connect(running.tcp[0]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(running);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut request = Vec::new();
    MessageBuilder::new(
        &mut request,
        Class::Request,
        Method::BINDING,
        TransactionId([7; 12]),
    )
    .finish();
    let _ = tcp.write_all(&request).await;
    let mut buf = [0u8; 1500];
    let read = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await;
    if let Ok(Ok(n)) = read {
        assert_eq!(
            n,
            0,
            "a dropped server answered: {:?}",
            Message::parse(&buf[..n])
        );
    }
}

/// RFC 8656 §2, §3.1: over TCP too the 5-tuple holds the server address
/// the client connected to, also on a listener on a wildcard address
/// (the accepted connection's local address, not `0.0.0.0`). One client
/// address and port that connects to the server at two of its addresses
/// (on Linux all of 127.0.0.0/8 is local) has two 5-tuples and holds two
/// allocations; named by the wildcard, the second would collide with the
/// first (437 Allocation Mismatch).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_wildcard_tcp_listener_names_the_address_each_connection_reached() {
    use std::net::Ipv4Addr;
    let wildcard = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let running = server_on(wildcard, None).await;
    let port = running.tcp[0].port();
    let mut local = SocketAddr::new(LOCALHOST, 0);
    let mut allocated = Vec::new();
    for ip in [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)] {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(local).unwrap();
        let server = SocketAddr::new(IpAddr::V4(ip), port);
        let tcp = socket.connect(server).await.unwrap();
        local = tcp.local_addr().unwrap();
        allocated.push(allocate_over(tcp, server).await);
    }
    assert_eq!(running.metrics().allocations_current, 2);
}

/// A UDP peer on this host whose port number is that of the TCP listener
/// (UDP and TCP ports are separate: a UDP socket such as an ICE host
/// candidate or another client's relay socket) is a legitimate peer with
/// --allow-loopback; the server has no UDP socket there, so it is relayed to.
#[tokio::test]
async fn a_udp_peer_on_the_tcp_listeners_port_number_is_reached() {
    let running = server(None).await;
    let listener = running.tcp[0];
    let peer = tokio::net::UdpSocket::bind(listener).await.unwrap();
    let (mut client, mut tcp, mut decoder) = allocate(listener).await;
    client.create_permission(LOCALHOST, Instant::now()).unwrap();
    let mut buf = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    let mut permitted = false;
    while !permitted {
        assert!(Instant::now() < end, "no permission");
        while client.poll_transmit(Instant::now(), &mut buf).is_some() {
            tcp.write_all(&buf).await.unwrap();
        }
        while let Some(e) = client.poll_event() {
            permitted |= matches!(e, Event::PermissionCreated { .. });
        }
        read_into(&mut tcp, &mut decoder, Duration::from_millis(50), |frame| {
            client.handle_receive(Instant::now(), listener, frame);
        })
        .await;
    }
    client.send_to(listener, b"to the udp peer").unwrap();
    while client.poll_transmit(Instant::now(), &mut buf).is_some() {
        tcp.write_all(&buf).await.unwrap();
    }
    let mut got = [0u8; 1500];
    let received = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut got)).await;
    assert!(
        matches!(received, Ok(Ok((n, _))) if &got[..n] == b"to the udp peer"),
        "not relayed to the UDP peer at {listener}: {:?}",
        running.metrics()
    );
}

/// A server listening for UDP and TCP on one port number, as deployed on
/// 3478: a port free for UDP may be taken for TCP by another process
/// meanwhile, so another is tried then.
async fn on_one_port_for_udp_and_tcp() -> (Running, SocketAddr) {
    for _ in 0..20 {
        let port = std::net::UdpSocket::bind((LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let both = SocketAddr::new(LOCALHOST, port);
        let users: HashMap<String, String> = [("alice".to_owned(), "wonderland".to_owned())].into();
        let mut config = ServerConfig::new("ferrtc.test", Credentials::new(users, None), b"k");
        config.policy = PeerPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        let listen = ListenConfig {
            udp: vec![both],
            tcp: vec![both],
            tls: vec![],
            tls_config: None,
            relay_ip: LOCALHOST,
            metrics: None,
        };
        match start(listen, config).await {
            Ok(running) => return (running, both),
            Err(ferrtc_turn::listen::ListenError::Bind { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no port number free for both UDP and TCP in 20 tries");
}

/// The usual deployment listens for UDP and TCP on one port (3478). A TCP
/// client (with --allow-loopback, or --allow-private on a private server
/// IP) must not relay to the server's own UDP listener, whether or not a
/// UDP client reached it yet: that is the server talking to itself
/// (docs/turn.md: "refused even then").
#[tokio::test]
async fn a_tcp_client_cannot_relay_to_the_udp_listener_on_the_same_port() {
    let (running, both) = on_one_port_for_udp_and_tcp().await;
    assert_eq!((running.udp[0], running.tcp[0]), (both, both));
    let (mut client, mut tcp, mut decoder) = allocate(both).await;
    client.create_permission(LOCALHOST, Instant::now()).unwrap();
    let mut buf = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    let mut permitted = false;
    while !permitted {
        assert!(Instant::now() < end, "no permission");
        while client.poll_transmit(Instant::now(), &mut buf).is_some() {
            tcp.write_all(&buf).await.unwrap();
        }
        while let Some(e) = client.poll_event() {
            permitted |= matches!(e, Event::PermissionCreated { .. });
        }
        read_into(&mut tcp, &mut decoder, Duration::from_millis(50), |frame| {
            client.handle_receive(Instant::now(), both, frame);
        })
        .await;
    }
    // A STUN Binding request to the UDP listener, through the relay.
    let mut binding = Vec::new();
    MessageBuilder::new(
        &mut binding,
        Class::Request,
        Method::BINDING,
        TransactionId([7; 12]),
    )
    .finish();
    client.send_to(both, &binding).unwrap();
    while client.poll_transmit(Instant::now(), &mut buf).is_some() {
        tcp.write_all(&buf).await.unwrap();
    }
    let mut answered_from_listener = false;
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        read_into(&mut tcp, &mut decoder, Duration::from_millis(50), |frame| {
            client.handle_receive(Instant::now(), both, frame);
        })
        .await;
        while let Some(e) = client.poll_event() {
            answered_from_listener |= matches!(e, Event::Data { peer, .. } if peer == both);
        }
    }
    let m = running.metrics();
    assert!(
        !answered_from_listener && m.drops(ferrtc_turn::server::Drop::OwnAddress) == 1,
        "relayed to the server's own UDP listener {both} (answered back: {answered_from_listener}): {m:?}"
    );
}
