//! The client against a tiny in-test TURN server at the state-machine level.
#![allow(missing_docs)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_stun::{
    Attribute, Class, Message, MessageBuilder, Method, PasswordAlgorithm, PasswordAlgorithmValue,
    PasswordAlgorithms, long_term_key,
};
use ferrtc_turn::{ChannelData, Client, ClientConfig, Event, Request, RequestError};
use proptest::prelude::*;

const SERVER: &str = "192.0.2.1:3478";
const RELAYED: &str = "192.0.2.1:50000";
const MAPPED: &str = "198.51.100.7:40000";
const PEER: &str = "203.0.113.9:7000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A minimal TURN server: challenges, checks integrity, answers.
struct FakeServer {
    nonce: String,
    /// Answer the next authenticated request with 438 and this new nonce.
    stale_next: Option<String>,
    offer_sha256: bool,
    lifetime: u32,
    requests: Vec<(Method, Vec<u8>)>,
}

impl FakeServer {
    fn new() -> Self {
        FakeServer {
            nonce: "nonce-1".into(),
            stale_next: None,
            offer_sha256: false,
            lifetime: 600,
            requests: Vec::new(),
        }
    }

    fn key(&self) -> Vec<u8> {
        let alg = if self.offer_sha256 {
            PasswordAlgorithm::Sha256
        } else {
            PasswordAlgorithm::Md5
        };
        long_term_key("alice", "ferrtc.test", "secret", alg)
    }

    /// The server's answer to one datagram from the client, if any.
    fn answer(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        let msg = Message::parse(datagram).ok()?;
        if msg.class() != Class::Request {
            return None;
        }
        self.requests.push((msg.method(), datagram.to_vec()));
        let tid = msg.transaction_id();
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(&mut out, Class::ErrorResponse, msg.method(), tid);
        let authenticated = msg.has_message_integrity() || msg.has_message_integrity_sha256();
        if !authenticated {
            b.add(&Attribute::ErrorCode {
                code: 401,
                reason: "Unauthorized",
            })
            .unwrap();
            b.add(&Attribute::Realm("ferrtc.test")).unwrap();
            b.add(&Attribute::Nonce(&self.nonce)).unwrap();
            if self.offer_sha256 {
                let list = [
                    PasswordAlgorithmValue::from(PasswordAlgorithm::Md5),
                    PasswordAlgorithmValue::from(PasswordAlgorithm::Sha256),
                ];
                b.add(&Attribute::PasswordAlgorithms(PasswordAlgorithms::new(
                    &list,
                )))
                .unwrap();
            }
            b.finish();
            return Some(out);
        }
        let key = self.key();
        if self.offer_sha256 {
            msg.verify_message_integrity_sha256(&key).ok()?;
        } else {
            msg.verify_message_integrity(&key).ok()?;
        }
        let nonce = msg.attributes().find_map(|a| match a {
            Ok(Attribute::Nonce(n)) => Some(n.to_owned()),
            _ => None,
        })?;
        if let Some(new) = self.stale_next.take() {
            self.nonce = new;
        }
        if nonce != self.nonce {
            b.add(&Attribute::ErrorCode {
                code: 438,
                reason: "Stale Nonce",
            })
            .unwrap();
            b.add(&Attribute::Realm("ferrtc.test")).unwrap();
            b.add(&Attribute::Nonce(&self.nonce)).unwrap();
            b.finish();
            return Some(out);
        }
        let mut b = MessageBuilder::new(&mut out, Class::SuccessResponse, msg.method(), tid);
        match msg.method() {
            Method::ALLOCATE => {
                b.add(&Attribute::XorRelayedAddress(addr(RELAYED))).unwrap();
                b.add(&Attribute::XorMappedAddress(addr(MAPPED))).unwrap();
                b.add(&Attribute::Lifetime(self.lifetime)).unwrap();
            }
            Method::REFRESH => {
                let l = msg
                    .attributes()
                    .find_map(|a| match a {
                        Ok(Attribute::Lifetime(l)) => Some(l),
                        _ => None,
                    })
                    .unwrap_or(600);
                b.add(&Attribute::Lifetime(l.min(self.lifetime))).unwrap();
            }
            _ => {}
        }
        if self.offer_sha256 {
            b.add_message_integrity_sha256(&key);
        } else {
            b.add_message_integrity(&key);
        }
        b.finish();
        Some(out)
    }
}

fn client(now: Instant) -> Client {
    let config = ClientConfig {
        seed: Some(7),
        software: Some("ferrtc test".into()),
        ..ClientConfig::new(addr(SERVER), "alice", "secret")
    };
    Client::new(config, now)
}

/// Exchanges datagrams between client and server until quiet; returns the
/// events.
fn pump(c: &mut Client, s: &mut FakeServer, now: Instant) -> Vec<Event> {
    let mut buf = Vec::new();
    while let Some(t) = c.poll_transmit(now, &mut buf) {
        assert_eq!(t.destination, addr(SERVER));
        if let Some(answer) = s.answer(&buf) {
            c.handle_receive(now, addr(SERVER), &answer);
        }
    }
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn allocated(now: Instant) -> (Client, FakeServer) {
    let mut c = client(now);
    let mut s = FakeServer::new();
    let events = pump(&mut c, &mut s, now);
    assert_eq!(
        events,
        [Event::Allocated {
            relayed: addr(RELAYED),
            mapped: addr(MAPPED),
            lifetime: Duration::from_secs(600)
        }]
    );
    (c, s)
}

#[test]
fn allocates_after_a_401_challenge() {
    let now = Instant::now();
    let (c, s) = allocated(now);
    assert_eq!(s.requests.len(), 2);
    let first = Message::parse(&s.requests[0].1).unwrap();
    assert!(!first.has_message_integrity());
    assert!(
        first
            .attributes()
            .any(|a| a == Ok(Attribute::RequestedTransport(17)))
    );
    let second = Message::parse(&s.requests[1].1).unwrap();
    assert!(
        second
            .attributes()
            .any(|a| a == Ok(Attribute::Username("alice")))
    );
    assert!(
        second
            .attributes()
            .any(|a| a == Ok(Attribute::Realm("ferrtc.test")))
    );
    assert_ne!(first.transaction_id(), second.transaction_id());
    assert_eq!(c.relayed_address(), Some(addr(RELAYED)));
    assert_eq!(c.realm(), Some("ferrtc.test"));
}

#[test]
fn prefers_sha256_when_password_algorithms_are_offered() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    s.offer_sha256 = true;
    let events = pump(&mut c, &mut s, now);
    assert!(
        matches!(events[..], [Event::Allocated { .. }]),
        "{events:?}"
    );
    let second = Message::parse(&s.requests[1].1).unwrap();
    assert!(second.has_message_integrity_sha256());
    assert!(second.attributes().any(|a| a
        == Ok(Attribute::PasswordAlgorithm(
            PasswordAlgorithm::Sha256.into()
        ))));
}

#[test]
fn stale_nonce_is_retried_once_with_the_new_nonce() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    s.stale_next = Some("nonce-2".into());
    let events = pump(&mut c, &mut s, now);
    assert!(
        matches!(events[..], [Event::Allocated { .. }]),
        "{events:?}"
    );
    // Unauthenticated, 438, then the retry with nonce-2.
    assert_eq!(s.requests.len(), 3);
    let retry = Message::parse(&s.requests[2].1).unwrap();
    assert!(
        retry
            .attributes()
            .any(|a| a == Ok(Attribute::Nonce("nonce-2")))
    );
}

#[test]
fn a_second_stale_nonce_fails_the_request() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    // Every request now meets a fresh nonce: two 438s in a row.
    let mut buf = Vec::new();
    c.create_permission(addr(PEER).ip(), now).unwrap();
    let mut events = Vec::new();
    for n in 0..2 {
        s.stale_next = Some(format!("nonce-x{n}"));
        let t = c.poll_transmit(now, &mut buf).expect("request");
        assert_eq!(t.destination, addr(SERVER));
        let answer = s.answer(&buf).unwrap();
        c.handle_receive(now, addr(SERVER), &answer);
        events.extend(std::iter::from_fn(|| c.poll_event()));
    }
    assert_eq!(
        events,
        [Event::Failed {
            request: Request::CreatePermission(addr(PEER).ip()),
            error: RequestError::Rejected {
                code: 438,
                reason: "Stale Nonce".into()
            }
        }]
    );
}

#[test]
fn refreshes_a_minute_before_expiry() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(540)));
    let t1 = t0 + Duration::from_secs(540);
    c.handle_timeout(t1);
    let events = pump(&mut c, &mut s, t1);
    assert_eq!(
        events,
        [Event::Refreshed {
            lifetime: Duration::from_secs(600)
        }]
    );
    assert_eq!(s.requests.last().unwrap().0, Method::REFRESH);
    assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(540)));
}

/// A Data indication from the server carrying `data` from `peer`.
fn data_indication(peer: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = MessageBuilder::new(
        &mut out,
        Class::Indication,
        Method::DATA,
        ferrtc_stun::TransactionId([9; 12]),
    );
    b.add(&Attribute::XorPeerAddress(peer)).unwrap();
    b.add(&Attribute::Data(data)).unwrap();
    b.finish();
    out
}

#[test]
fn permission_then_send_and_data_indications() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    let peer = addr(PEER);
    assert!(matches!(
        c.send_to(peer, b"x"),
        Err(ferrtc_turn::Error::NoPermission { .. })
    ));
    c.create_permission(peer.ip(), now).unwrap();
    assert_eq!(
        pump(&mut c, &mut s, now),
        [Event::PermissionCreated { peer: peer.ip() }]
    );
    c.send_to(peer, b"hello").unwrap();
    let mut buf = Vec::new();
    c.poll_transmit(now, &mut buf).unwrap();
    let msg = Message::parse(&buf).unwrap();
    assert_eq!(
        (msg.class(), msg.method()),
        (Class::Indication, Method::SEND)
    );
    assert!(
        msg.attributes()
            .any(|a| a == Ok(Attribute::XorPeerAddress(peer)))
    );
    assert!(msg.attributes().any(|a| a == Ok(Attribute::Data(b"hello"))));

    c.handle_receive(now, addr(SERVER), &data_indication(peer, b"reply"));
    assert_eq!(
        c.poll_event(),
        Some(Event::Data {
            peer,
            data: b"reply".to_vec()
        })
    );
    // A peer without permission is dropped and counted.
    c.handle_receive(
        now,
        addr(SERVER),
        &data_indication(addr("198.51.100.1:1"), b"no"),
    );
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.stats().unknown_peer, 1);
}

#[test]
fn used_permissions_are_refreshed_after_four_minutes() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let peer = addr(PEER);
    c.create_permission(peer.ip(), t0).unwrap();
    pump(&mut c, &mut s, t0);
    c.send_to(peer, b"x").unwrap();
    pump(&mut c, &mut s, t0);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(240)));
    let t1 = t0 + Duration::from_secs(240);
    c.handle_timeout(t1);
    let n = s.requests.len();
    assert_eq!(pump(&mut c, &mut s, t1), []);
    assert_eq!(s.requests.len(), n + 1);
    assert_eq!(s.requests[n].0, Method::CREATE_PERMISSION);
    // Unused since: it lapses at 300 s after the refresh.
    let t2 = t1 + Duration::from_secs(300);
    c.handle_timeout(t2);
    assert!(c.send_to(peer, b"x").is_err());
}

#[test]
fn channel_bind_then_channel_data_both_ways() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    let peer = addr(PEER);
    let channel = c.bind_channel(peer, now).unwrap();
    assert_eq!(channel, 0x4000);
    assert_eq!(c.bind_channel(peer, now).unwrap(), channel);
    assert_eq!(
        pump(&mut c, &mut s, now),
        [Event::ChannelBound { peer, channel }]
    );
    let bind = Message::parse(&s.requests.last().unwrap().1).unwrap();
    assert!(
        bind.attributes()
            .any(|a| a == Ok(Attribute::ChannelNumber(0x4000)))
    );
    c.send_to(peer, b"ping").unwrap();
    let mut buf = Vec::new();
    c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(buf, [0x40, 0x00, 0x00, 0x04, b'p', b'i', b'n', b'g']);

    // Inbound, with the 4-byte padding a server may add (length is authoritative).
    c.handle_receive(
        now,
        addr(SERVER),
        &[0x40, 0x00, 0x00, 0x02, b'o', b'k', 0, 0],
    );
    assert_eq!(
        c.poll_event(),
        Some(Event::Data {
            peer,
            data: b"ok".to_vec()
        })
    );
    c.handle_receive(now, addr(SERVER), &[0x40, 0x01, 0x00, 0x01, b'?']);
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.stats().unknown_channel, 1);
    // The binding implied the permission: Send indications to the IP work.
    c.send_to(SocketAddr::new(peer.ip(), 9), b"other port")
        .unwrap();
    // Rebound before 10 minutes while used.
    let t1 = now + Duration::from_secs(240);
    c.handle_timeout(t1);
    pump(&mut c, &mut s, t1);
    c.send_to(peer, b"again").unwrap();
    let t2 = now + Duration::from_secs(540);
    c.handle_timeout(t2);
    let n = s.requests.len();
    pump(&mut c, &mut s, t2);
    assert!(
        s.requests[n..]
            .iter()
            .any(|(m, _)| *m == Method::CHANNEL_BIND)
    );
}

#[test]
fn close_sends_refresh_with_lifetime_zero() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    c.close(now);
    assert_eq!(pump(&mut c, &mut s, now), [Event::Closed]);
    let (method, bytes) = s.requests.last().unwrap();
    assert_eq!(*method, Method::REFRESH);
    let msg = Message::parse(bytes).unwrap();
    assert!(msg.attributes().any(|a| a == Ok(Attribute::Lifetime(0))));
    assert!(c.is_closed());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn retransmits_on_the_rfc8489_schedule_then_fails() {
    let t0 = Instant::now();
    let mut c = client(t0);
    let mut buf = Vec::new();
    let first = c.poll_transmit(t0, &mut buf).map(|_| buf.clone()).unwrap();
    let mut sends = vec![0u128];
    while let Some(t) = c.poll_timeout() {
        c.handle_timeout(t);
        if c.poll_transmit(t, &mut buf).is_some() {
            assert_eq!(buf, first, "a retransmission is the same request");
            sends.push((t - t0).as_millis());
        }
        if c.is_closed() {
            assert_eq!(t - t0, Duration::from_millis(39_500));
            break;
        }
    }
    assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(c.stats().retransmits, 6);
    assert_eq!(
        c.poll_event(),
        Some(Event::Failed {
            request: Request::Allocate,
            error: RequestError::Timeout { transmits: 7 }
        })
    );
    assert_eq!(c.poll_event(), Some(Event::Closed));
}

#[test]
fn responses_with_bad_integrity_or_unknown_ids_are_dropped() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    let mut buf = Vec::new();
    c.poll_transmit(now, &mut buf).unwrap();
    let challenge = s.answer(&buf).unwrap();
    c.handle_receive(now, addr(SERVER), &challenge);
    c.poll_transmit(now, &mut buf).unwrap();
    let mut ok = s.answer(&buf).unwrap();
    // Replaying the 401 no longer matches a transaction.
    c.handle_receive(now, addr(SERVER), &challenge);
    assert_eq!(c.stats().unmatched_responses, 1);
    // Flip a byte of the LIFETIME value: integrity fails.
    let len = ok.len();
    ok[len - 25] ^= 1;
    c.handle_receive(now, addr(SERVER), &ok);
    assert_eq!(c.stats().bad_integrity, 1);
    assert_eq!(c.poll_event(), None);
    // From elsewhere: ignored.
    c.handle_receive(now, addr("192.0.2.2:3478"), &ok);
    assert_eq!(c.stats().foreign_source, 1);
}

#[test]
fn a_final_error_is_reported_with_code_and_reason() {
    let now = Instant::now();
    let mut c = client(now);
    let mut buf = Vec::new();
    c.poll_transmit(now, &mut buf).unwrap();
    let tid = Message::parse(&buf).unwrap().transaction_id();
    let mut out = Vec::new();
    let mut b = MessageBuilder::new(&mut out, Class::ErrorResponse, Method::ALLOCATE, tid);
    b.add(&Attribute::ErrorCode {
        code: 486,
        reason: "Allocation Quota Reached",
    })
    .unwrap();
    b.finish();
    c.handle_receive(now, addr(SERVER), &out);
    assert_eq!(
        c.poll_event(),
        Some(Event::Failed {
            request: Request::Allocate,
            error: RequestError::Rejected {
                code: 486,
                reason: "Allocation Quota Reached".into()
            }
        })
    );
    assert_eq!(c.poll_event(), Some(Event::Closed));
}

#[test]
fn api_needs_an_allocation() {
    let now = Instant::now();
    let mut c = client(now);
    let ip: IpAddr = addr(PEER).ip();
    assert!(c.create_permission(ip, now).is_err());
    assert!(c.bind_channel(addr(PEER), now).is_err());
    assert!(c.send_to(addr(PEER), b"x").is_err());
}

proptest! {
    #[test]
    fn garbage_from_the_server_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        first in any::<u8>(),
    ) {
        let now = Instant::now();
        let (mut c, _s) = allocated(now);
        c.create_permission(addr(PEER).ip(), now).unwrap();
        let mut d = data.clone();
        d.insert(0, first);
        c.handle_receive(now, addr(SERVER), &d);
        c.handle_receive(now, addr(SERVER), &data);
        let _ = ChannelData::parse(&data);
        while c.poll_event().is_some() {}
    }
}
