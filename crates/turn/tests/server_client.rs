//! The ferrtc-turn `Client` against the `ferrtc turn` server (the `listen`
//! driver) on loopback: allocation after the 401, a channel and a
//! permission to UDP echo peers, round trips both ways over UDP, TCP and
//! TLS; several clients at once; SHA-256 agreed as the password algorithm;
//! loopback peers refused without allow_loopback. Run: `cargo test -p ferrtc-turn --features server`.
#![cfg(feature = "server")]
#![allow(missing_docs)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrtc_stun::{Attribute, Class, Message, PasswordAlgorithm};
use ferrtc_turn::listen::{ListenConfig, Running, start, tls_config};
use ferrtc_turn::server::{Credentials, PeerPolicy, ServerConfig};
use ferrtc_turn::{Client, ClientConfig, Event, RequestError, is_channel_data};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UdpSocket};

const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

async fn server(allow_loopback: bool, tls: Option<Arc<rustls::ServerConfig>>) -> Running {
    let users: HashMap<String, String> = [("alice".to_owned(), "wonderland".to_owned())].into();
    let mut config = ServerConfig::new(
        "ferrtc.test",
        Credentials::new(users, None),
        b"test nonce key",
    );
    config.policy = PeerPolicy {
        allow_loopback,
        allow_private: false,
    };
    let any = SocketAddr::new(LOCALHOST, 0);
    let listen = ListenConfig {
        udp: vec![any],
        tcp: vec![any],
        tls: if tls.is_some() { vec![any] } else { vec![] },
        tls_config: tls,
        relay_ip: LOCALHOST,
        metrics: None,
    };
    start(listen, config).await.expect("listeners on 127.0.0.1")
}

/// A UDP echo peer on `ip` (127.0.0.0/8).
async fn echo_peer_on(ip: [u8; 4]) -> SocketAddr {
    let socket = UdpSocket::bind((IpAddr::from(ip), 0)).await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// A UDP echo peer on 127.0.0.1.
async fn echo_peer() -> SocketAddr {
    echo_peer_on([127, 0, 0, 1]).await
}

/// How the client reaches the server.
enum Link {
    Udp(UdpSocket),
    Stream {
        reader: ReadHalf<Box<dyn Stream>>,
        writer: WriteHalf<Box<dyn Stream>>,
        buf: Vec<u8>,
    },
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

impl Link {
    async fn send(&mut self, msg: &[u8], to: SocketAddr) {
        match self {
            Link::Udp(s) => {
                s.send_to(msg, to).await.unwrap();
            }
            Link::Stream { writer, .. } => {
                // Over a stream ChannelData is padded to 4 bytes (RFC 8656 §12.5);
                // the client writes the UDP form.
                let mut framed = msg.to_vec();
                if is_channel_data(msg) {
                    framed.resize((msg.len() + 3) & !3, 0);
                }
                writer.write_all(&framed).await.unwrap();
            }
        }
    }

    /// The next message from the server, or `None` after `wait`.
    async fn recv(&mut self, wait: Duration) -> Option<Vec<u8>> {
        match self {
            Link::Udp(s) => {
                let mut buf = vec![0u8; 65_536];
                let (n, _) = tokio::time::timeout(wait, s.recv_from(&mut buf))
                    .await
                    .ok()?
                    .ok()?;
                buf.truncate(n);
                Some(buf)
            }
            Link::Stream { reader, buf, .. } => loop {
                if buf.len() >= 4 {
                    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                    let total = if is_channel_data(buf) {
                        (4 + len + 3) & !3
                    } else {
                        20 + len
                    };
                    if buf.len() >= total {
                        let rest = buf.split_off(total);
                        return Some(std::mem::replace(buf, rest));
                    }
                }
                let mut chunk = [0u8; 4096];
                let n = tokio::time::timeout(wait, reader.read(&mut chunk))
                    .await
                    .ok()?
                    .ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            },
        }
    }
}

struct TurnClient {
    client: Client,
    link: Link,
    events: Vec<Event>,
    /// Everything sent to the server, in order.
    sent: Vec<Vec<u8>>,
}

impl TurnClient {
    fn new(server: SocketAddr, link: Link) -> TurnClient {
        let config = ClientConfig::new(server, "alice", "wonderland");
        TurnClient {
            client: Client::new(config, Instant::now()),
            link,
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    async fn udp(server: SocketAddr) -> TurnClient {
        TurnClient::new(
            server,
            Link::Udp(UdpSocket::bind((LOCALHOST, 0)).await.unwrap()),
        )
    }

    async fn stream(server: SocketAddr, stream: Box<dyn Stream>) -> TurnClient {
        let (reader, writer) = tokio::io::split(stream);
        TurnClient::new(
            server,
            Link::Stream {
                reader,
                writer,
                buf: Vec::new(),
            },
        )
    }

    async fn flush(&mut self) {
        let mut buf = Vec::new();
        while let Some(t) = self.client.poll_transmit(Instant::now(), &mut buf) {
            self.link.send(&buf, t.destination).await;
            self.sent.push(buf.clone());
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
    }

    /// Runs until an event matches, for at most 5 s.
    async fn until(&mut self, mut done: impl FnMut(&Event) -> bool) -> Event {
        let end = Instant::now() + Duration::from_secs(5);
        let mut seen = 0;
        while Instant::now() < end {
            self.flush().await;
            if let Some(e) = self.events[seen..].iter().find(|e| done(e)) {
                return e.clone();
            }
            seen = self.events.len();
            if let Some(msg) = self.link.recv(Duration::from_millis(20)).await {
                self.client
                    .handle_receive(Instant::now(), self.client.server(), &msg);
            }
            if self
                .client
                .poll_timeout()
                .is_some_and(|t| t <= Instant::now())
            {
                self.client.handle_timeout(Instant::now());
            }
        }
        panic!("no such event; got {:?}", self.events);
    }

    /// Allocates, then checks a round trip through a channel to one echo
    /// peer and through Send/Data indications to another.
    async fn round_trips(&mut self, tag: &str) {
        let ev = self
            .until(|e| matches!(e, Event::Allocated { .. } | Event::Failed { .. }))
            .await;
        let Event::Allocated { relayed, .. } = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(relayed.ip(), LOCALHOST);
        // Two IPs: a permission is per IP, and the channel installs one.
        let (channel_peer, indication_peer) =
            (echo_peer().await, echo_peer_on([127, 0, 0, 2]).await);
        self.client
            .bind_channel(channel_peer, Instant::now())
            .unwrap();
        self.until(|e| matches!(e, Event::ChannelBound { .. }))
            .await;
        self.client
            .create_permission(indication_peer.ip(), Instant::now())
            .unwrap();
        self.until(|e| matches!(e, Event::PermissionCreated { .. }))
            .await;
        for (peer, what) in [(channel_peer, "channel"), (indication_peer, "indication")] {
            let msg = format!("{tag} via {what}").into_bytes();
            self.client.send_to(peer, &msg).unwrap();
            let ev = self
                .until(|e| matches!(e, Event::Data { data, .. } if *data == msg))
                .await;
            assert_eq!(
                ev,
                Event::Data {
                    peer,
                    data: msg.clone()
                }
            );
        }
    }
}

#[tokio::test]
async fn clients_allocate_bind_channels_and_relay_round_trips_over_udp() {
    let running = server(true, None).await;
    let server_addr = running.udp[0];
    // Several clients at once, each in its own task.
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            tokio::spawn(async move {
                let mut c = TurnClient::udp(server_addr).await;
                c.round_trips(&format!("client {i}")).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let m = running.metrics();
    assert_eq!(m.allocations_total, 4);
    assert_eq!((m.packets_to_peer, m.packets_to_client), (8, 8));
}

#[tokio::test]
async fn a_client_agrees_sha256_with_the_server_and_signs_with_message_integrity_sha256() {
    // The server's nonces announce "Password algorithms" (RFC 8489 §9.2,
    // §18.1) and offer MD5 and SHA-256: the client picks SHA-256
    // (PASSWORD-ALGORITHM) and signs with MESSAGE-INTEGRITY-SHA256.
    let running = server(true, None).await;
    let mut c = TurnClient::udp(running.udp[0]).await;
    c.round_trips("sha-256").await;
    let signed: Vec<Message<'_>> = c
        .sent
        .iter()
        .filter_map(|b| Message::parse(b).ok())
        .filter(|m| m.class() == Class::Request)
        .skip(1)
        .collect();
    assert!(signed.len() >= 3, "Allocate, ChannelBind, CreatePermission");
    for m in &signed {
        assert!(
            m.attributes().any(|a| a
                == Ok(Attribute::PasswordAlgorithm(
                    PasswordAlgorithm::Sha256.into()
                ))),
            "{:?} without PASSWORD-ALGORITHM SHA-256",
            m.method()
        );
        assert!(m.has_message_integrity_sha256());
        assert!(!m.has_message_integrity());
    }
}

#[tokio::test]
async fn a_client_relays_over_tcp_with_padded_channel_data() {
    let running = server(true, None).await;
    let tcp = TcpStream::connect(running.tcp[0]).await.unwrap();
    let mut c = TurnClient::stream(running.tcp[0], Box::new(tcp)).await;
    c.round_trips("tcp").await;
}

#[tokio::test]
async fn a_client_relays_over_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = tls_config(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let running = server(true, Some(tls)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = TcpStream::connect(running.tls[0]).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let mut c = TurnClient::stream(running.tls[0], Box::new(tls)).await;
    c.round_trips("tls").await;
}

#[tokio::test]
async fn closing_a_tcp_connection_deletes_its_allocation() {
    let running = server(true, None).await;
    let tcp = TcpStream::connect(running.tcp[0]).await.unwrap();
    let mut c = TurnClient::stream(running.tcp[0], Box::new(tcp)).await;
    c.until(|e| matches!(e, Event::Allocated { .. })).await;
    assert_eq!(running.metrics().allocations_current, 1);
    drop(c);
    let end = Instant::now() + Duration::from_secs(5);
    while running.metrics().allocations_current != 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(running.metrics().allocations_current, 0);
}

#[tokio::test]
async fn loopback_peers_are_forbidden_unless_allowed() {
    let running = server(false, None).await;
    let mut c = TurnClient::udp(running.udp[0]).await;
    c.until(|e| matches!(e, Event::Allocated { .. })).await;
    let peer = echo_peer().await;
    c.client.bind_channel(peer, Instant::now()).unwrap();
    let ev = c.until(|e| matches!(e, Event::Failed { .. })).await;
    let Event::Failed {
        error: RequestError::Rejected { code, .. },
        ..
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert_eq!(code, 403);
    assert_eq!(running.metrics().forbidden_peers, 1);
}
