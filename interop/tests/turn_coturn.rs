//! The sans-IO ferrtc-turn client against coturn (`turnserver`) on
//! 127.0.0.1 over real sockets and real time, over UDP, TCP and TLS
//! (RFC 8656 §3.1): allocation after the 401 challenge, a permission and
//! Send/Data indications to a local peer socket, a channel and ChannelData
//! both ways (checked on the wire: the client really sends ChannelData once
//! the channel is bound), refresh and deallocation; with long-term
//! credentials and with the TURN REST API shared secret.
//!
//! Runs only with FERRTC_INTEROP=1; then a missing `turnserver` fails.
#![allow(missing_docs)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrtc_interop::{Coturn, TempPath, interop_enabled};
use ferrtc_turn::{Client, ClientConfig, Event, StreamDecoder, Transport};

/// A byte stream to the server: TCP, or TLS over TCP.
trait Stream: Read + Write {
    fn set_read_timeout(&self, timeout: Duration);
    fn local_addr(&self) -> SocketAddr;
}

impl Stream for TcpStream {
    fn set_read_timeout(&self, timeout: Duration) {
        TcpStream::set_read_timeout(self, Some(timeout)).expect("read timeout");
    }
    fn local_addr(&self) -> SocketAddr {
        TcpStream::local_addr(self).expect("local addr")
    }
}

impl Stream for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_read_timeout(&self, timeout: Duration) {
        self.sock
            .set_read_timeout(Some(timeout))
            .expect("read timeout");
    }
    fn local_addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local addr")
    }
}

/// How the client reaches coturn.
enum Link {
    Udp(UdpSocket),
    Stream {
        stream: Box<dyn Stream>,
        decoder: StreamDecoder,
    },
}

/// The client over one link, with the events it gave and what it sent.
struct TurnSocket {
    client: Client,
    link: Link,
    events: Vec<Event>,
    buf: Vec<u8>,
    /// Datagrams (or stream writes) that were ChannelData: first byte
    /// 0x40..=0x4F (RFC 8656 §12).
    sent_channel_data: usize,
}

impl TurnSocket {
    fn udp(server: SocketAddr, username: &str, password: &str) -> TurnSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        TurnSocket::new(
            server,
            Transport::Udp,
            Link::Udp(socket),
            username,
            password,
        )
    }

    fn tcp(server: SocketAddr, username: &str, password: &str) -> TurnSocket {
        let stream = TcpStream::connect(server).expect("connect to coturn over TCP");
        stream.set_nodelay(true).expect("nodelay");
        let link = Link::Stream {
            stream: Box::new(stream),
            decoder: StreamDecoder::new(),
        };
        TurnSocket::new(server, Transport::Tcp, link, username, password)
    }

    fn tls(server: SocketAddr, cert: &TestCert, username: &str, password: &str) -> TurnSocket {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(cert.der.clone()))
            .expect("trust the test certificate");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
        let tcp = TcpStream::connect(server).expect("connect to coturn's TLS port");
        tcp.set_nodelay(true).expect("nodelay");
        let link = Link::Stream {
            stream: Box::new(rustls::StreamOwned::new(conn, tcp)),
            decoder: StreamDecoder::new(),
        };
        TurnSocket::new(server, Transport::Tls, link, username, password)
    }

    fn new(
        server: SocketAddr,
        transport: Transport,
        link: Link,
        username: &str,
        password: &str,
    ) -> TurnSocket {
        let config = ClientConfig {
            software: Some("ferrtc-turn interop".into()),
            transport,
            ..ClientConfig::new(server, username, password)
        };
        TurnSocket {
            client: Client::new(config, Instant::now()),
            link,
            events: Vec::new(),
            buf: Vec::with_capacity(2048),
            sent_channel_data: 0,
        }
    }

    /// Our address as coturn sees it.
    fn local_addr(&self) -> SocketAddr {
        match &self.link {
            Link::Udp(s) => s.local_addr().expect("local addr"),
            Link::Stream { stream, .. } => stream.local_addr(),
        }
    }

    fn flush(&mut self) {
        let now = Instant::now();
        while let Some(t) = self.client.poll_transmit(now, &mut self.buf) {
            if self.buf.first().is_some_and(|b| (0x40..=0x4F).contains(b)) {
                self.sent_channel_data += 1;
            }
            match &mut self.link {
                Link::Udp(s) => {
                    s.send_to(&self.buf, t.destination).expect("send to coturn");
                }
                Link::Stream { stream, .. } => {
                    stream.write_all(&self.buf).expect("write to coturn");
                    stream.flush().expect("flush to coturn");
                }
            }
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
    }

    /// Waits up to `wait` for bytes from coturn and feeds them.
    fn receive(&mut self, wait: Duration) {
        let server = self.client.server();
        let mut data = [0u8; 4096];
        match &mut self.link {
            Link::Udp(s) => {
                let _ = s.set_read_timeout(Some(wait));
                if let Ok((n, from)) = s.recv_from(&mut data) {
                    self.client.handle_receive(
                        Instant::now(),
                        from,
                        data.get(..n).unwrap_or_default(),
                    );
                }
            }
            Link::Stream { stream, decoder } => {
                stream.set_read_timeout(wait);
                match stream.read(&mut data) {
                    Ok(0) => panic!("coturn closed the connection; events: {:?}", self.events),
                    Ok(n) => {
                        decoder
                            .push(data.get(..n).unwrap_or_default())
                            .expect("stream buffer");
                        while let Some(frame) = decoder.next_frame().expect("stream framing") {
                            self.client.handle_receive(Instant::now(), server, frame);
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => panic!("reading from coturn: {e}"),
                }
            }
        }
    }

    /// Turns the loop until `done` holds for some new event, or 10 s. A
    /// `Failed` or `Closed` that `done` does not accept ends the test.
    fn until(&mut self, mut done: impl FnMut(&Event) -> bool) -> Event {
        let end = Instant::now() + Duration::from_secs(10);
        let mut seen = self.events.len();
        while Instant::now() < end {
            self.flush();
            for e in &self.events[seen..] {
                if done(e) {
                    return e.clone();
                }
                if matches!(e, Event::Failed { .. } | Event::Closed) {
                    panic!("{e:?}; events: {:?}", self.events);
                }
            }
            seen = self.events.len();
            let now = Instant::now();
            let wait = self
                .client
                .poll_timeout()
                .map_or(Duration::from_millis(50), |t| {
                    t.saturating_duration_since(now)
                })
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            self.receive(wait);
            let now = Instant::now();
            if self.client.poll_timeout().is_some_and(|t| t <= now) {
                self.client.handle_timeout(now);
            }
        }
        panic!("timed out; events: {:?}", self.events);
    }
}

/// A peer's datagram: what it received and from where.
fn peer_recv(peer: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut data = [0u8; 2048];
    peer.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (n, from) = peer.recv_from(&mut data).expect("peer receives");
    (data[..n].to_vec(), from)
}

fn relay_session(mut turn: TurnSocket, coturn: &Coturn) {
    let Event::Allocated {
        relayed,
        mapped,
        lifetime,
    } = turn.until(|e| matches!(e, Event::Allocated { .. }))
    else {
        unreachable!("until returns what it was asked for");
    };
    assert_eq!(relayed.ip(), coturn.addr.ip());
    assert_eq!(mapped, turn.local_addr());
    assert!(lifetime > Duration::ZERO);
    assert_eq!(turn.client.realm(), Some("ferrtc.test"));

    // Permission and Send/Data indications (RFC 8656 §10).
    let peer = UdpSocket::bind("127.0.0.1:0").expect("peer socket");
    let peer_addr = peer.local_addr().expect("peer addr");
    turn.client
        .create_permission(peer_addr.ip(), Instant::now())
        .expect("create permission");
    turn.until(|e| matches!(e, Event::PermissionCreated { .. }));
    turn.client
        .send_to(peer_addr, b"via send indication")
        .expect("send");
    turn.flush();
    let (data, from) = peer_recv(&peer);
    assert_eq!(data, b"via send indication");
    assert_eq!(from, relayed);
    peer.send_to(b"via data indication", relayed)
        .expect("reply");
    let got = turn.until(|e| matches!(e, Event::Data { .. }));
    assert_eq!(
        got,
        Event::Data {
            peer: peer_addr,
            data: b"via data indication".to_vec()
        }
    );
    assert_eq!(turn.sent_channel_data, 0, "no channel yet");

    // A channel and ChannelData both ways (RFC 8656 §11, §12).
    let channel = turn
        .client
        .bind_channel(peer_addr, Instant::now())
        .expect("bind channel");
    let bound = turn.until(|e| matches!(e, Event::ChannelBound { .. }));
    assert_eq!(
        bound,
        Event::ChannelBound {
            peer: peer_addr,
            channel
        }
    );
    // An odd length: over TCP and TLS the client pads it (RFC 8656 §12.5).
    turn.client
        .send_to(peer_addr, b"via channel!!")
        .expect("send");
    turn.flush();
    assert_eq!(turn.sent_channel_data, 1, "the data went as ChannelData");
    let (data, from) = peer_recv(&peer);
    assert_eq!((data.as_slice(), from), (&b"via channel!!"[..], relayed));
    peer.send_to(b"back via channel", relayed).expect("reply");
    let before = turn.client.stats();
    let got = turn.until(|e| matches!(e, Event::Data { data, .. } if data == b"back via channel"));
    assert_eq!(
        got,
        Event::Data {
            peer: peer_addr,
            data: b"back via channel".to_vec()
        }
    );
    assert_eq!(turn.client.stats(), before, "nothing dropped");

    // Deallocation (RFC 8656 §8: Refresh with LIFETIME 0); the refresh
    // timer is exercised in `refreshes_an_allocation_at_coturn`.
    turn.client.close(Instant::now());
    turn.until(|e| matches!(e, Event::Closed));
    assert!(
        !turn
            .events
            .iter()
            .any(|e| matches!(e, Event::Failed { .. })),
        "{:?}",
        turn.events
    );
}

const LONG_TERM: [&str; 5] = [
    "--lt-cred-mech",
    "--user",
    "alice:secret",
    "--realm",
    "ferrtc.test",
];

#[test]
fn relays_through_coturn_with_long_term_credentials() {
    if !interop_enabled() {
        return;
    }
    let coturn = Coturn::start_turn(&LONG_TERM);
    relay_session(TurnSocket::udp(coturn.addr, "alice", "secret"), &coturn);
}

/// A self-signed certificate for "localhost" in PEM files coturn reads.
struct TestCert {
    der: Vec<u8>,
    /// Both removed when dropped.
    cert: TempPath,
    key: TempPath,
}

impl TestCert {
    fn new() -> TestCert {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("self-signed certificate");
        let unique = format!(
            "ferrtc-turn-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos()
        );
        let cert = TempPath::file(format!("{unique}.crt"), certified.cert.pem());
        let key = TempPath::file(
            format!("{unique}.key"),
            certified.signing_key.serialize_pem(),
        );
        TestCert {
            der: certified.cert.der().to_vec(),
            cert,
            key,
        }
    }
}

#[test]
fn relays_through_coturn_over_tcp() {
    if !interop_enabled() {
        return;
    }
    let cert = TestCert::new();
    let coturn = Coturn::start_turn_streams(&LONG_TERM, &cert.cert, &cert.key);
    relay_session(TurnSocket::tcp(coturn.addr, "alice", "secret"), &coturn);
}

#[test]
fn relays_through_coturn_over_tls() {
    if !interop_enabled() {
        return;
    }
    let cert = TestCert::new();
    let coturn = Coturn::start_turn_streams(&LONG_TERM, &cert.cert, &cert.key);
    let tls = coturn.tls_addr.expect("coturn's TLS port");
    relay_session(TurnSocket::tls(tls, &cert, "alice", "secret"), &coturn);
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn relays_through_coturn_with_rest_api_credentials() {
    if !interop_enabled() {
        return;
    }
    let secret = "ferrtc-shared-secret";
    let coturn = Coturn::start_turn(&[
        "--use-auth-secret",
        "--static-auth-secret",
        secret,
        "--realm",
        "ferrtc.test",
    ]);
    // TURN REST API: username "expiry:name", password
    // base64(HMAC-SHA1(secret, username)).
    let expiry = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 3600;
    let username = format!("{expiry}:alice");
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        secret.as_bytes(),
    );
    let password = base64(aws_lc_rs::hmac::sign(&key, username.as_bytes()).as_ref());
    relay_session(TurnSocket::udp(coturn.addr, &username, &password), &coturn);
}

#[test]
fn refreshes_an_allocation_at_coturn() {
    if !interop_enabled() {
        return;
    }
    let coturn = Coturn::start_turn(&LONG_TERM);
    let mut turn = TurnSocket::udp(coturn.addr, "alice", "secret");
    // The refresh is due a minute before expiry (minutes away): the
    // sans-IO client takes time from the caller, so its timer is fired early
    // by handing it that instant.
    let Event::Allocated { lifetime, .. } = turn.until(|e| matches!(e, Event::Allocated { .. }))
    else {
        unreachable!("until returns what it was asked for");
    };
    let due = turn.client.poll_timeout().expect("refresh timer");
    assert!(due < Instant::now() + lifetime);
    turn.client.handle_timeout(due);
    turn.flush();
    let refreshed = turn.until(|e| matches!(e, Event::Refreshed { .. }));
    assert!(
        matches!(refreshed, Event::Refreshed { lifetime } if lifetime > Duration::ZERO),
        "{:?}",
        turn.events
    );
    turn.client.close(Instant::now());
    turn.until(|e| matches!(e, Event::Closed));
}

#[test]
fn a_coturn_that_cannot_start_fails_the_test_with_its_log() {
    if !interop_enabled() {
        return;
    }
    let started = std::panic::catch_unwind(|| Coturn::start_turn(&["--no-such-option"]));
    let Err(panic) = started else {
        panic!("coturn started with a bad option");
    };
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("exited"), "{message}");
    assert!(
        message.contains("no-such-option"),
        "coturn's log: {message}"
    );
}
