//! The sans-IO ferrtc-turn client against coturn (`turnserver`) on
//! 127.0.0.1 over real UDP and real time: allocation after the 401
//! challenge, a permission and Send/Data indications to a local peer
//! socket, a channel and ChannelData both ways, refresh and deallocation;
//! with long-term credentials and with the TURN REST API shared secret.
//!
//! Runs only with FERRTC_INTEROP=1; then a missing `turnserver` fails.
#![allow(missing_docs)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrtc_interop::{Coturn, interop_enabled};
use ferrtc_turn::{Client, ClientConfig, Event};

/// The client over one UDP socket, with the events it gave.
struct TurnSocket {
    client: Client,
    socket: UdpSocket,
    events: Vec<Event>,
    buf: Vec<u8>,
}

impl TurnSocket {
    fn new(server: SocketAddr, username: &str, password: &str) -> TurnSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let config = ClientConfig {
            software: Some("ferrtc-turn interop".into()),
            ..ClientConfig::new(server, username, password)
        };
        TurnSocket {
            client: Client::new(config, Instant::now()),
            socket,
            events: Vec::new(),
            buf: Vec::with_capacity(2048),
        }
    }

    fn flush(&mut self) {
        let now = Instant::now();
        while let Some(t) = self.client.poll_transmit(now, &mut self.buf) {
            self.socket
                .send_to(&self.buf, t.destination)
                .expect("send to coturn");
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
    }

    /// Turns the loop until `done` holds for some new event, or 10 s.
    fn until(&mut self, mut done: impl FnMut(&Event) -> bool) -> Event {
        let end = Instant::now() + Duration::from_secs(10);
        let mut seen = self.events.len();
        let mut data = [0u8; 2048];
        while Instant::now() < end {
            self.flush();
            if let Some(e) = self.events[seen..].iter().find(|e| done(e)) {
                return e.clone();
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
            let _ = self.socket.set_read_timeout(Some(wait));
            if let Ok((n, from)) = self.socket.recv_from(&mut data) {
                self.client
                    .handle_receive(Instant::now(), from, data.get(..n).unwrap_or_default());
            }
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

fn relay_session(coturn: &Coturn, username: &str, password: &str) {
    let mut turn = TurnSocket::new(coturn.addr, username, password);
    let Event::Allocated {
        relayed,
        mapped,
        lifetime,
    } = turn.until(|e| matches!(e, Event::Allocated { .. } | Event::Failed { .. }))
    else {
        panic!("allocation failed: {:?}", turn.events);
    };
    assert_eq!(relayed.ip(), coturn.addr.ip());
    assert_eq!(mapped, turn.socket.local_addr().expect("local addr"));
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

    // A channel and ChannelData both ways (RFC 8656 §11, §12).
    let channel = turn
        .client
        .bind_channel(peer_addr, Instant::now())
        .expect("bind channel");
    let bound = turn.until(|e| matches!(e, Event::ChannelBound { .. } | Event::Failed { .. }));
    assert_eq!(
        bound,
        Event::ChannelBound {
            peer: peer_addr,
            channel
        }
    );
    turn.client
        .send_to(peer_addr, b"via channel")
        .expect("send");
    turn.flush();
    let (data, from) = peer_recv(&peer);
    assert_eq!((data.as_slice(), from), (&b"via channel"[..], relayed));
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

#[test]
fn relays_through_coturn_with_long_term_credentials() {
    if !interop_enabled() {
        return;
    }
    let coturn = Coturn::start_turn(&[
        "--lt-cred-mech",
        "--user",
        "alice:secret",
        "--realm",
        "ferrtc.test",
    ]);
    relay_session(&coturn, "alice", "secret");
    drop(coturn);
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
    relay_session(&coturn, &username, &password);
    drop(coturn);
}

#[test]
fn refreshes_an_allocation_at_coturn() {
    if !interop_enabled() {
        return;
    }
    let coturn = Coturn::start_turn(&[
        "--lt-cred-mech",
        "--user",
        "alice:secret",
        "--realm",
        "ferrtc.test",
    ]);
    let server = coturn.addr;
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    // The refresh is due a minute before expiry (minutes away): the
    // sans-IO client takes time from the caller, so its timer is fired early
    // by handing it that instant.
    let config = ClientConfig {
        software: Some("ferrtc-turn interop".into()),
        ..ClientConfig::new(server, "alice", "secret")
    };
    let start = Instant::now();
    let mut turn = TurnSocket {
        client: Client::new(config, start),
        socket,
        events: Vec::new(),
        buf: Vec::new(),
    };
    let Event::Allocated { lifetime, .. } =
        turn.until(|e| matches!(e, Event::Allocated { .. } | Event::Failed { .. }))
    else {
        panic!("allocation failed: {:?}", turn.events);
    };
    let due = turn.client.poll_timeout().expect("refresh timer");
    assert!(due < Instant::now() + lifetime);
    turn.client.handle_timeout(due);
    turn.flush();
    let refreshed = turn.until(|e| matches!(e, Event::Refreshed { .. } | Event::Failed { .. }));
    assert!(
        matches!(refreshed, Event::Refreshed { lifetime } if lifetime > Duration::ZERO),
        "{:?}",
        turn.events
    );
    turn.client.close(Instant::now());
    turn.until(|e| matches!(e, Event::Closed));
    drop(coturn);
}
