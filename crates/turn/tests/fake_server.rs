//! The client against a tiny in-test TURN server at the state-machine level.
#![allow(missing_docs)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_stun::{
    Attribute, Class, Message, MessageBuilder, Method, PasswordAlgorithm, PasswordAlgorithmValue,
    PasswordAlgorithms, long_term_key,
};
use ferrtc_turn::{
    CHANNEL_LIFETIME, ChannelData, Client, ClientConfig, Event, MAX_QUEUED_EVENTS,
    MAX_QUEUED_TRANSMITS, PERMISSION_LIFETIME, PERMISSION_REFRESH, RELIABLE_TIMEOUT, Request,
    RequestError, StreamDecoder, Transport,
};
use proptest::prelude::*;

const SERVER: &str = "192.0.2.1:3478";
const RELAYED: &str = "192.0.2.1:50000";
const MAPPED: &str = "198.51.100.7:40000";
const PEER: &str = "203.0.113.9:7000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// How the fake server signs its responses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Signing {
    /// With the agreed algorithm (MESSAGE-INTEGRITY-SHA256 for SHA-256).
    Agreed,
    /// Plain MESSAGE-INTEGRITY with the agreed key, whatever was agreed.
    PlainMessageIntegrity,
    /// Not at all.
    Unsigned,
}

/// A minimal TURN server: challenges, checks integrity, answers.
struct FakeServer {
    nonce: String,
    /// Answer the next authenticated request with 438 and this new nonce.
    stale_next: Option<String>,
    /// Announce password algorithms in the nonce cookie (RFC 8489 §9.2)
    /// and offer these in PASSWORD-ALGORITHMS (empty: announce, omit the
    /// attribute).
    algorithms: Option<Vec<PasswordAlgorithm>>,
    /// Offer PASSWORD-ALGORITHMS without the nonce cookie (as an RFC 5389
    /// server never would).
    algorithms_without_cookie: bool,
    lifetime: u32,
    /// Requests of these methods get this error code (signed as `signing`).
    reject: Vec<(Method, u16)>,
    /// Requests of these methods get no answer.
    drop: Vec<Method>,
    /// Answer every request with a 401 challenge.
    always_401: bool,
    signing: Signing,
    requests: Vec<(Method, Vec<u8>)>,
}

impl FakeServer {
    fn new() -> Self {
        FakeServer {
            nonce: "nonce-1".into(),
            stale_next: None,
            algorithms: None,
            algorithms_without_cookie: false,
            lifetime: 600,
            reject: Vec::new(),
            drop: Vec::new(),
            always_401: false,
            signing: Signing::Agreed,
            requests: Vec::new(),
        }
    }

    fn sha256() -> Self {
        FakeServer {
            algorithms: Some(vec![PasswordAlgorithm::Md5, PasswordAlgorithm::Sha256]),
            ..FakeServer::new()
        }
    }

    /// The algorithm the client should pick.
    fn agreed(&self) -> PasswordAlgorithm {
        match &self.algorithms {
            Some(a) if a.contains(&PasswordAlgorithm::Sha256) => PasswordAlgorithm::Sha256,
            _ => PasswordAlgorithm::Md5,
        }
    }

    fn key(&self) -> Vec<u8> {
        long_term_key("alice", "ferrtc.test", "secret", self.agreed())
    }

    /// The NONCE as sent: with the nonce cookie and the "password
    /// algorithms" feature bit when they are announced ("AAAB": bit 0 is
    /// the rightmost, RFC 8489 §18.1 with erratum 6290).
    fn wire_nonce(&self) -> String {
        if self.algorithms.is_some() {
            format!("obMatJos2AAAB{}", self.nonce)
        } else {
            self.nonce.clone()
        }
    }

    fn add_challenge(&self, b: &mut MessageBuilder<'_>, code: u16, reason: &str) {
        b.add(&Attribute::ErrorCode { code, reason }).unwrap();
        b.add(&Attribute::Realm("ferrtc.test")).unwrap();
        b.add(&Attribute::Nonce(&self.wire_nonce())).unwrap();
        let offered = match (&self.algorithms, self.algorithms_without_cookie) {
            (Some(a), _) if !a.is_empty() => a.clone(),
            (None, true) => vec![PasswordAlgorithm::Md5, PasswordAlgorithm::Sha256],
            _ => Vec::new(),
        };
        if !offered.is_empty() {
            let list: Vec<PasswordAlgorithmValue<'_>> = offered
                .iter()
                .map(|a| PasswordAlgorithmValue::from(*a))
                .collect();
            b.add(&Attribute::PasswordAlgorithms(PasswordAlgorithms::new(
                &list,
            )))
            .unwrap();
        }
    }

    fn sign(&self, b: &mut MessageBuilder<'_>) {
        let key = self.key();
        match self.signing {
            Signing::Agreed if self.agreed() == PasswordAlgorithm::Sha256 => {
                b.add_message_integrity_sha256(&key)
            }
            Signing::Agreed | Signing::PlainMessageIntegrity => b.add_message_integrity(&key),
            Signing::Unsigned => {}
        }
    }

    /// The server's answer to one datagram from the client, if any.
    fn answer(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        let msg = Message::parse(datagram).ok()?;
        if msg.class() != Class::Request {
            return None;
        }
        self.requests.push((msg.method(), datagram.to_vec()));
        if self.drop.contains(&msg.method()) {
            return None;
        }
        let tid = msg.transaction_id();
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(&mut out, Class::ErrorResponse, msg.method(), tid);
        let authenticated = msg.has_message_integrity() || msg.has_message_integrity_sha256();
        if !authenticated || self.always_401 {
            self.add_challenge(&mut b, 401, "Unauthorized");
            b.finish();
            return Some(out);
        }
        let key = self.key();
        if self.agreed() == PasswordAlgorithm::Sha256 {
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
        if nonce != self.wire_nonce() {
            self.add_challenge(&mut b, 438, "Stale Nonce");
            b.finish();
            return Some(out);
        }
        if let Some((_, code)) = self.reject.iter().find(|(m, _)| *m == msg.method()) {
            b.add(&Attribute::ErrorCode {
                code: *code,
                reason: "Rejected",
            })
            .unwrap();
            self.sign(&mut b);
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
        self.sign(&mut b);
        b.finish();
        Some(out)
    }

    /// How many requests of `method` it got.
    fn count(&self, method: Method) -> usize {
        self.requests.iter().filter(|(m, _)| *m == method).count()
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
    let mut s = FakeServer::sha256();
    let events = pump(&mut c, &mut s, now);
    assert!(
        matches!(events[..], [Event::Allocated { .. }]),
        "{events:?}"
    );
    let second = Message::parse(&s.requests[1].1).unwrap();
    assert!(second.has_message_integrity_sha256());
    assert!(!second.has_message_integrity());
    assert!(second.attributes().any(|a| a
        == Ok(Attribute::PasswordAlgorithm(
            PasswordAlgorithm::Sha256.into()
        ))));
    // The list as received is echoed (RFC 8489 §9.2.4 bid-down protection).
    let echoed = second.attributes().find_map(|a| match a {
        Ok(Attribute::PasswordAlgorithms(l)) => {
            Some(l.iter().map(|v| v.algorithm).collect::<Vec<_>>())
        }
        _ => None,
    });
    assert_eq!(
        echoed,
        Some(vec![
            PasswordAlgorithm::Md5.code(),
            PasswordAlgorithm::Sha256.code()
        ])
    );
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

/// Runs the client's timers up to `until` (inclusive), exchanging with the
/// server at each; returns the events.
fn run_until(c: &mut Client, s: &mut FakeServer, until: Instant) -> Vec<Event> {
    let mut events = Vec::new();
    let mut steps = 0;
    while let Some(t) = c.poll_timeout().filter(|t| *t <= until) {
        steps += 1;
        assert!(steps < 10_000, "timers loop at {t:?}");
        c.handle_timeout(t);
        events.extend(pump(c, s, t));
    }
    events
}

fn is_failed(e: &Event) -> bool {
    matches!(e, Event::Failed { .. })
}

#[test]
fn a_rejected_allocation_refresh_backs_off_until_the_allocation_expires() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    s.reject.push((Method::REFRESH, 500));
    let due = t0 + Duration::from_secs(540);
    c.handle_timeout(due);
    assert_eq!(pump(&mut c, &mut s, due), []);
    assert_eq!(s.count(Method::REFRESH), 1);
    // Not resent at once: the timer moved 5 s on.
    c.handle_timeout(due);
    assert_eq!(pump(&mut c, &mut s, due), []);
    assert_eq!(s.count(Method::REFRESH), 1);
    assert_eq!(c.poll_timeout(), Some(due + Duration::from_secs(5)));
    // Retries at +5, +10, +20 s, then every 40 s or so, until expiry.
    let events = run_until(&mut c, &mut s, t0 + Duration::from_secs(600));
    assert_eq!(events, [Event::Closed]);
    assert!(
        (4..=5).contains(&s.count(Method::REFRESH)),
        "{}",
        s.count(Method::REFRESH)
    );
    assert!(c.stats().refresh_failures >= 4);
    assert!(c.is_closed());
}

#[test]
fn a_refresh_that_recovers_after_a_failure_keeps_the_allocation() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    s.reject.push((Method::REFRESH, 500));
    let due = t0 + Duration::from_secs(540);
    c.handle_timeout(due);
    pump(&mut c, &mut s, due);
    s.reject.clear();
    let events = run_until(&mut c, &mut s, due + Duration::from_secs(5));
    assert!(
        matches!(events[..], [Event::Refreshed { .. }]),
        "{events:?}"
    );
    assert_eq!(c.poll_timeout(), Some(due + Duration::from_secs(5 + 540)));
}

#[test]
fn a_437_to_a_refresh_ends_the_allocation() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    s.reject.push((Method::REFRESH, 437));
    let due = t0 + Duration::from_secs(540);
    c.handle_timeout(due);
    assert_eq!(
        pump(&mut c, &mut s, due),
        [
            Event::Failed {
                request: Request::Refresh,
                error: RequestError::Rejected {
                    code: 437,
                    reason: "Rejected".into()
                }
            },
            Event::Closed
        ]
    );
    assert!(c.is_closed());
    assert_eq!(c.relayed_address(), None);
    assert!(c.send_to(addr(PEER), b"x").is_err());
}

#[test]
fn a_permission_whose_refreshes_time_out_expires_and_sends_fail() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let peer = addr(PEER);
    c.create_permission(peer.ip(), t0).unwrap();
    pump(&mut c, &mut s, t0);
    c.send_to(peer, b"x").unwrap();
    pump(&mut c, &mut s, t0);
    s.drop.push(Method::CREATE_PERMISSION);
    let events = run_until(&mut c, &mut s, t0 + PERMISSION_LIFETIME);
    assert_eq!(events, [Event::PermissionExpired { peer: peer.ip() }]);
    // The refresh at 240 s timed out at 279.5 s (7 sends), one retry 5 s
    // later was still in flight at 300 s: no resend loop.
    assert_eq!(s.count(Method::CREATE_PERMISSION), 1 + 7 + 5);
    assert!(matches!(
        c.send_to(peer, b"x"),
        Err(ferrtc_turn::Error::NoPermission { .. })
    ));
    assert!(!c.has_permission(peer.ip()));
    // The allocation lives on; its own refresh is all that is due next.
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(540)));
}

#[test]
fn unused_permissions_lapse_with_an_event() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let ip = addr(PEER).ip();
    c.create_permission(ip, t0).unwrap();
    pump(&mut c, &mut s, t0);
    assert_eq!(c.poll_timeout(), Some(t0 + PERMISSION_LIFETIME));
    let events = run_until(&mut c, &mut s, t0 + PERMISSION_LIFETIME);
    assert_eq!(events, [Event::PermissionExpired { peer: ip }]);
    assert_eq!(s.count(Method::CREATE_PERMISSION), 1);
}

#[test]
fn a_channel_whose_rebinds_fail_expires_and_data_falls_back_to_send_indications() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let peer = addr(PEER);
    let channel = c.bind_channel(peer, t0).unwrap();
    pump(&mut c, &mut s, t0);
    // A permission kept alive by its own refreshes.
    c.create_permission(peer.ip(), t0).unwrap();
    pump(&mut c, &mut s, t0);
    s.reject.push((Method::CHANNEL_BIND, 500));
    let mut events = Vec::new();
    let mut t = t0;
    // Data every 30 s keeps both in use.
    while t < t0 + CHANNEL_LIFETIME {
        t += Duration::from_secs(30);
        events.extend(run_until(&mut c, &mut s, t));
        c.send_to(peer, b"x").unwrap();
        events.extend(pump(&mut c, &mut s, t));
    }
    assert!(
        events.contains(&Event::ChannelExpired { peer, channel }),
        "{events:?}"
    );
    assert!(!events.iter().any(is_failed), "{events:?}");
    let binds = s.count(Method::CHANNEL_BIND);
    assert!((4..=6).contains(&binds), "{binds} ChannelBinds");
    // After expiry data goes in a Send indication again.
    c.send_to(peer, b"after").unwrap();
    let mut buf = Vec::new();
    c.poll_transmit(t, &mut buf).unwrap();
    let msg = Message::parse(&buf).unwrap();
    assert_eq!(msg.method(), Method::SEND);
    // Its ChannelData is no longer accepted.
    c.handle_receive(t, addr(SERVER), &[0x40, 0x00, 0, 1, b'!']);
    assert_eq!(c.poll_event(), None);
}

#[test]
fn unsigned_error_responses_are_ignored_once_credentials_are_known() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    s.signing = Signing::Unsigned;
    s.reject.push((Method::CREATE_PERMISSION, 403));
    c.create_permission(addr(PEER).ip(), now).unwrap();
    assert_eq!(pump(&mut c, &mut s, now), []);
    assert_eq!(c.stats().bad_integrity, 1);
    // Still outstanding: it is retransmitted.
    c.handle_timeout(now + Duration::from_millis(500));
    let mut buf = Vec::new();
    assert!(c.poll_transmit(now, &mut buf).is_some());
}

#[test]
fn a_401_to_a_signed_request_fails_instead_of_looping() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    s.always_401 = true;
    assert_eq!(
        pump(&mut c, &mut s, now),
        [
            Event::Failed {
                request: Request::Allocate,
                error: RequestError::Rejected {
                    code: 401,
                    reason: "Unauthorized".into()
                }
            },
            Event::Closed
        ]
    );
    assert_eq!(s.requests.len(), 2);
}

#[test]
fn a_nonce_announcing_password_algorithms_without_the_list_is_a_bid_down() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    s.algorithms = Some(Vec::new());
    assert_eq!(
        pump(&mut c, &mut s, now),
        [
            Event::Failed {
                request: Request::Allocate,
                error: RequestError::BidDown
            },
            Event::Closed
        ]
    );
    assert_eq!(s.requests.len(), 1, "no retry with weaker credentials");
}

#[test]
fn without_the_nonce_cookie_md5_and_message_integrity_are_used() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    s.algorithms_without_cookie = true;
    let events = pump(&mut c, &mut s, now);
    assert!(
        matches!(events[..], [Event::Allocated { .. }]),
        "{events:?}"
    );
    let second = Message::parse(&s.requests[1].1).unwrap();
    assert!(second.has_message_integrity());
    assert!(!second.has_message_integrity_sha256());
    assert!(
        !second
            .attributes()
            .any(|a| matches!(a, Ok(Attribute::PasswordAlgorithm(_))))
    );
}

#[test]
fn a_nonce_cookie_without_the_password_algorithms_bit_means_md5() {
    // Bit 0 of the security features is the rightmost (RFC 8489 §18.1,
    // erratum 6290): "gAAA" sets bit 23, unassigned. The list offered
    // beside it is not announced, so MD5 and MESSAGE-INTEGRITY are used
    // as with an RFC 5389 server (RFC 8489 §9.2.4).
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    s.algorithms_without_cookie = true;
    s.nonce = "obMatJos2gAAAnonce".into();
    let events = pump(&mut c, &mut s, now);
    assert!(
        matches!(events[..], [Event::Allocated { .. }]),
        "{events:?}"
    );
    let second = Message::parse(&s.requests[1].1).unwrap();
    assert!(second.has_message_integrity());
    assert!(!second.has_message_integrity_sha256());
    assert!(!second.attributes().any(|a| matches!(
        a,
        Ok(Attribute::PasswordAlgorithm(_) | Attribute::PasswordAlgorithms(_))
    )));
}

#[test]
fn md5_chosen_from_password_algorithms_signs_with_message_integrity_and_echoes_the_list() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    s.algorithms = Some(vec![PasswordAlgorithm::Md5]);
    let events = pump(&mut c, &mut s, now);
    assert!(
        matches!(events[..], [Event::Allocated { .. }]),
        "{events:?}"
    );
    let second = Message::parse(&s.requests[1].1).unwrap();
    assert!(second.has_message_integrity());
    assert!(!second.has_message_integrity_sha256());
    assert!(
        second
            .attributes()
            .any(|a| a == Ok(Attribute::PasswordAlgorithm(PasswordAlgorithm::Md5.into())))
    );
    assert!(
        second
            .attributes()
            .any(|a| matches!(a, Ok(Attribute::PasswordAlgorithms(_))))
    );
}

#[test]
fn after_sha256_is_agreed_a_plain_message_integrity_is_refused() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::sha256();
    s.signing = Signing::PlainMessageIntegrity;
    assert_eq!(pump(&mut c, &mut s, now), []);
    assert_eq!(c.stats().bad_integrity, 1);
    assert_eq!(c.relayed_address(), None);
}

#[test]
fn a_stale_nonce_that_drops_the_agreed_algorithms_is_a_bid_down() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::sha256();
    pump(&mut c, &mut s, now);
    // The server (or an attacker) answers the next request with a 438
    // whose nonce no longer announces password algorithms.
    s.algorithms = None;
    s.stale_next = Some("plain".into());
    // The request is signed with the SHA-256 key: make the server accept it.
    s.algorithms = Some(vec![PasswordAlgorithm::Md5, PasswordAlgorithm::Sha256]);
    c.create_permission(addr(PEER).ip(), now).unwrap();
    let mut buf = Vec::new();
    c.poll_transmit(now, &mut buf).unwrap();
    let answer = {
        let stale = s.answer(&buf).unwrap();
        // Rebuild the 438 without cookie and list.
        let msg = Message::parse(&stale).unwrap();
        assert_eq!(msg.class(), Class::ErrorResponse);
        let mut out = Vec::new();
        let mut b = MessageBuilder::new(
            &mut out,
            Class::ErrorResponse,
            Method::CREATE_PERMISSION,
            msg.transaction_id(),
        );
        b.add(&Attribute::ErrorCode {
            code: 438,
            reason: "Stale Nonce",
        })
        .unwrap();
        b.add(&Attribute::Realm("ferrtc.test")).unwrap();
        b.add(&Attribute::Nonce("plain-nonce")).unwrap();
        b.finish();
        out
    };
    c.handle_receive(now, addr(SERVER), &answer);
    assert_eq!(
        c.poll_event(),
        Some(Event::Failed {
            request: Request::CreatePermission(addr(PEER).ip()),
            error: RequestError::BidDown
        })
    );
}

#[test]
fn a_lifetime_under_a_second_asks_for_one_second_never_zero() {
    let t0 = Instant::now();
    let config = ClientConfig {
        seed: Some(7),
        lifetime: Duration::from_millis(500),
        ..ClientConfig::new(addr(SERVER), "alice", "secret")
    };
    let mut c = Client::new(config, t0);
    let mut s = FakeServer::new();
    s.lifetime = 1;
    pump(&mut c, &mut s, t0);
    let t1 = c.poll_timeout().unwrap();
    c.handle_timeout(t1);
    let events = pump(&mut c, &mut s, t1);
    assert!(
        matches!(events[..], [Event::Refreshed { .. }]),
        "{events:?}"
    );
    for (method, bytes) in &s.requests[1..] {
        let msg = Message::parse(bytes).unwrap();
        assert!(
            msg.attributes().any(|a| a == Ok(Attribute::Lifetime(1))),
            "{method:?} asks for LIFETIME 1"
        );
    }
}

#[test]
fn a_channel_bind_success_leaves_a_pending_create_permission_outstanding() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    let peer = addr(PEER);
    c.create_permission(peer.ip(), now).unwrap();
    let mut buf = Vec::new();
    c.poll_transmit(now, &mut buf).unwrap();
    let held = buf.clone();
    let channel = c.bind_channel(peer, now).unwrap();
    assert_eq!(
        pump(&mut c, &mut s, now),
        [Event::ChannelBound { peer, channel }]
    );
    // Asking again sends nothing: the first CreatePermission is outstanding.
    c.create_permission(peer.ip(), now).unwrap();
    assert!(c.poll_transmit(now, &mut buf).is_none());
    let answer = s.answer(&held).unwrap();
    c.handle_receive(now, addr(SERVER), &answer);
    assert_eq!(
        c.poll_event(),
        Some(Event::PermissionCreated { peer: peer.ip() })
    );
}

#[test]
fn refreshing_a_permission_a_channel_installed_reports_nothing_new() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let peer = addr(PEER);
    let channel = c.bind_channel(peer, t0).unwrap();
    assert_eq!(
        pump(&mut c, &mut s, t0),
        [Event::ChannelBound { peer, channel }]
    );
    assert!(c.has_permission(peer.ip()));
    c.send_to(peer, b"x").unwrap();
    pump(&mut c, &mut s, t0);
    let t1 = t0 + PERMISSION_REFRESH;
    assert_eq!(run_until(&mut c, &mut s, t1), []);
    assert_eq!(
        s.count(Method::CREATE_PERMISSION),
        1,
        "refreshed by CreatePermission"
    );
}

#[test]
fn a_permission_in_flight_lets_no_data_through() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    let peer = addr(PEER);
    c.create_permission(peer.ip(), now).unwrap();
    assert_eq!(
        c.send_to(peer, b"early"),
        Err(ferrtc_turn::Error::PermissionPending { peer: peer.ip() })
    );
    c.handle_receive(now, addr(SERVER), &data_indication(peer, b"early"));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.stats().unknown_peer, 1);
    pump(&mut c, &mut s, now);
    c.send_to(peer, b"now").unwrap();
    // Likewise while a ChannelBind to a new peer's address is in flight.
    let other = addr("198.51.100.5:5000");
    c.bind_channel(other, now).unwrap();
    assert_eq!(
        c.send_to(other, b"early"),
        Err(ferrtc_turn::Error::PermissionPending { peer: other.ip() })
    );
}

#[test]
fn channel_numbers_are_never_handed_out_twice_and_run_out() {
    let now = Instant::now();
    let (mut c, _s) = allocated(now);
    let mut seen = std::collections::HashSet::new();
    for i in 0..4096u32 {
        let peer = SocketAddr::from(([203, 0, 113, (i / 250) as u8], 1000 + (i % 250) as u16));
        let n = c.bind_channel(peer, now).unwrap();
        assert!((0x4000..=0x4FFF).contains(&n));
        assert!(seen.insert(n), "{n:#x} handed out twice");
        let mut buf = Vec::new();
        while c.poll_transmit(now, &mut buf).is_some() {}
    }
    assert!(matches!(
        c.bind_channel(addr("198.51.100.1:1"), now),
        Err(ferrtc_turn::Error::ChannelsExhausted { .. })
    ));
}

#[test]
fn close_before_the_challenge_stops_without_an_allocation() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    c.close(now);
    assert_eq!(pump(&mut c, &mut s, now), [Event::Closed]);
    assert_eq!(s.requests.len(), 1);
}

#[test]
fn close_while_allocating_deallocates_once_the_allocate_succeeds() {
    let now = Instant::now();
    let mut c = client(now);
    let mut s = FakeServer::new();
    let mut buf = Vec::new();
    c.poll_transmit(now, &mut buf).unwrap();
    let challenge = s.answer(&buf).unwrap();
    c.handle_receive(now, addr(SERVER), &challenge);
    c.poll_transmit(now, &mut buf).unwrap();
    let success = s.answer(&buf).unwrap();
    c.close(now);
    assert!(!c.is_closed());
    c.handle_receive(now, addr(SERVER), &success);
    assert_eq!(pump(&mut c, &mut s, now), [Event::Closed]);
    let (method, bytes) = s.requests.last().unwrap();
    assert_eq!(*method, Method::REFRESH);
    let msg = Message::parse(bytes).unwrap();
    assert!(msg.attributes().any(|a| a == Ok(Attribute::Lifetime(0))));
}

#[test]
fn close_while_allocating_stops_when_the_allocate_times_out() {
    let t0 = Instant::now();
    let mut c = client(t0);
    c.close(t0);
    while let Some(t) = c.poll_timeout() {
        c.handle_timeout(t);
    }
    assert!(c.is_closed());
}

#[test]
fn the_transmit_queue_is_bounded() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    let peer = addr(PEER);
    c.create_permission(peer.ip(), now).unwrap();
    pump(&mut c, &mut s, now);
    for _ in 0..MAX_QUEUED_TRANSMITS {
        c.send_to(peer, b"x").unwrap();
    }
    assert!(matches!(
        c.send_to(peer, b"x"),
        Err(ferrtc_turn::Error::QueueFull { .. })
    ));
    assert_eq!(c.stats().dropped_transmits, 1);
}

#[test]
fn data_events_are_bounded() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    let peer = addr(PEER);
    c.create_permission(peer.ip(), now).unwrap();
    pump(&mut c, &mut s, now);
    let datagram = data_indication(peer, b"d");
    for _ in 0..MAX_QUEUED_EVENTS + 10 {
        c.handle_receive(now, addr(SERVER), &datagram);
    }
    assert_eq!(c.stats().dropped_events, 10);
    assert_eq!(
        std::iter::from_fn(|| c.poll_event()).count(),
        MAX_QUEUED_EVENTS
    );
}

#[test]
fn receive_lends_the_payload_instead_of_queueing_an_event() {
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    let peer = addr(PEER);
    let channel = c.bind_channel(peer, now).unwrap();
    pump(&mut c, &mut s, now);
    let mut datagram = channel.to_be_bytes().to_vec();
    datagram.extend_from_slice(&[0, 3, b'a', b'b', b'c']);
    let got = c.receive(now, addr(SERVER), &datagram).unwrap();
    assert_eq!(got.peer, peer);
    assert!(std::ptr::eq(got.data.as_ptr(), datagram[4..].as_ptr()));
    assert_eq!(c.poll_event(), None);
}

/// Exchanges over a byte stream: what the client writes is split into
/// requests by a [`StreamDecoder`] on the server side, the answers are
/// concatenated and cut again by the client's decoder.
fn pump_stream(
    c: &mut Client,
    s: &mut FakeServer,
    now: Instant,
    sent: &mut Vec<Vec<u8>>,
) -> Vec<Event> {
    let mut buf = Vec::new();
    let mut to_server = StreamDecoder::new();
    let mut to_client = StreamDecoder::new();
    loop {
        let mut wrote = false;
        while c.poll_transmit(now, &mut buf).is_some() {
            sent.push(buf.clone());
            to_server.push(&buf).unwrap();
            wrote = true;
        }
        while let Some(frame) = to_server.next_frame().unwrap() {
            if let Some(answer) = s.answer(frame) {
                to_client.push(&answer).unwrap();
            }
        }
        while let Some(frame) = to_client.next_frame().unwrap() {
            c.handle_receive(now, addr(SERVER), frame);
        }
        if !wrote {
            break;
        }
    }
    std::iter::from_fn(|| c.poll_event()).collect()
}

#[test]
fn over_tcp_requests_go_once_and_channel_data_is_padded() {
    let t0 = Instant::now();
    let config = ClientConfig {
        seed: Some(7),
        transport: Transport::Tcp,
        ..ClientConfig::new(addr(SERVER), "alice", "secret")
    };
    let mut c = Client::new(config, t0);
    let mut s = FakeServer::new();
    let mut sent = Vec::new();
    let events = pump_stream(&mut c, &mut s, t0, &mut sent);
    assert!(
        matches!(events[..], [Event::Allocated { .. }]),
        "{events:?}"
    );
    let peer = addr(PEER);
    let channel = c.bind_channel(peer, t0).unwrap();
    pump_stream(&mut c, &mut s, t0, &mut sent);
    c.send_to(peer, b"hello").unwrap();
    pump_stream(&mut c, &mut s, t0, &mut sent);
    let last = sent.last().unwrap();
    assert_eq!(last.len(), 12);
    assert_eq!(&last[..4], &[(channel >> 8) as u8, channel as u8, 0, 5]);
    assert_eq!(&last[9..], &[0, 0, 0]);
    // A request without an answer is not retransmitted; it fails at Ti.
    s.drop.push(Method::CREATE_PERMISSION);
    c.create_permission("198.51.100.3".parse().unwrap(), t0)
        .unwrap();
    let n = sent.len();
    pump_stream(&mut c, &mut s, t0, &mut sent);
    assert_eq!(sent.len(), n + 1);
    assert_eq!(c.poll_timeout(), Some(t0 + RELIABLE_TIMEOUT));
    c.handle_timeout(t0 + RELIABLE_TIMEOUT);
    assert_eq!(c.stats().retransmits, 0);
    assert!(matches!(
        c.poll_event(),
        Some(Event::Failed {
            error: RequestError::Timeout { transmits: 1 },
            ..
        })
    ));
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

/// Applies `mutations` (index, xor) and an optional truncation to `bytes`.
fn mutate(
    bytes: &[u8],
    mutations: &[(prop::sample::Index, u8)],
    truncate: Option<prop::sample::Index>,
) -> Vec<u8> {
    let mut m = bytes.to_vec();
    for (i, x) in mutations {
        let i = i.index(m.len());
        m[i] ^= x;
    }
    if let Some(t) = truncate {
        m.truncate(t.index(m.len()));
    }
    m
}

proptest! {
    /// Answers built by the server for the client's in-flight
    /// CreatePermission and ChannelBind, then mutated: a changed answer
    /// never completes a request (integrity covers it all), an unchanged
    /// one always does, and the originals still work afterwards.
    #[test]
    fn mutated_answers_to_live_transactions_never_complete_them(
        perm_mutations in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..3),
        bind_mutations in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..3),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
        sha256 in any::<bool>(),
        reject in any::<bool>(),
    ) {
        let now = Instant::now();
        let mut c = client(now);
        let mut s = if sha256 { FakeServer::sha256() } else { FakeServer::new() };
        let events = pump(&mut c, &mut s, now);
        prop_assert!(matches!(events[..], [Event::Allocated { .. }]), "{:?}", events);
        if reject {
            s.reject.push((Method::CREATE_PERMISSION, 403));
        }
        let perm_peer: IpAddr = "198.51.100.20".parse().unwrap();
        let bind_peer = addr(PEER);
        c.create_permission(perm_peer, now).unwrap();
        let channel = c.bind_channel(bind_peer, now).unwrap();
        let mut buf = Vec::new();
        let mut answers = Vec::new();
        while c.poll_transmit(now, &mut buf).is_some() {
            answers.push(s.answer(&buf).unwrap());
        }
        prop_assert_eq!(answers.len(), 2);
        let perm_done = if reject {
            Event::Failed {
                request: Request::CreatePermission(perm_peer),
                error: RequestError::Rejected { code: 403, reason: "Rejected".into() },
            }
        } else {
            Event::PermissionCreated { peer: perm_peer }
        };
        let bind_done = Event::ChannelBound { peer: bind_peer, channel };
        let mutated = [
            mutate(&answers[0], &perm_mutations, None),
            mutate(&answers[1], &bind_mutations, truncate),
        ];
        for m in &mutated {
            c.handle_receive(now, addr(SERVER), m);
        }
        let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
        prop_assert_eq!(events.contains(&perm_done), mutated[0] == answers[0], "{:?}", events);
        prop_assert_eq!(events.contains(&bind_done), mutated[1] == answers[1], "{:?}", events);
        prop_assert!(!events.contains(&Event::Closed));
        for a in &answers {
            c.handle_receive(now, addr(SERVER), a);
        }
        let mut all = events;
        all.extend(std::iter::from_fn(|| c.poll_event()));
        prop_assert_eq!(all.iter().filter(|e| **e == perm_done).count(), 1, "{:?}", all);
        prop_assert_eq!(all.iter().filter(|e| **e == bind_done).count(), 1, "{:?}", all);
    }
}

/// RFC 8656 §12: after a channel binding expires, "the client MUST wait 5
/// minutes ... before attempting to bind the channel number to a different
/// transport address or the transport address to a different channel
/// number" (the server holds both that long and answers 400). A peer whose
/// channel lapsed less than 5 minutes ago is bound again to its old number
/// (the same binding, which the server accepts), and no other peer gets it.
#[test]
fn a_peer_whose_channel_lapsed_is_bound_again_to_its_old_number_within_5_minutes() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let peer = addr(PEER);
    let channel = c.bind_channel(peer, t0).unwrap();
    assert_eq!(
        pump(&mut c, &mut s, t0),
        [Event::ChannelBound { peer, channel }]
    );
    // Unused, it lapses after 10 minutes (the allocation lives on).
    let events = run_until(&mut c, &mut s, t0 + CHANNEL_LIFETIME);
    assert!(
        events.contains(&Event::ChannelExpired { peer, channel }),
        "{events:?}"
    );
    let t1 = t0 + CHANNEL_LIFETIME + Duration::from_secs(60);
    let other = c.bind_channel(addr("203.0.113.10:7000"), t1).unwrap();
    assert_ne!(other, channel, "a number cooling down went to another peer");
    assert_eq!(c.bind_channel(peer, t1).unwrap(), channel);
    let n = s.requests.len();
    let events = pump(&mut c, &mut s, t1);
    assert!(
        events.contains(&Event::ChannelBound { peer, channel }),
        "{events:?}"
    );
    let numbers: Vec<u16> = s.requests[n..]
        .iter()
        .filter_map(|(_, bytes)| {
            Message::parse(bytes)
                .ok()?
                .attributes()
                .find_map(|a| match a {
                    Ok(Attribute::ChannelNumber(n)) => Some(n),
                    _ => None,
                })
        })
        .collect();
    assert_eq!(numbers, [other, channel]);
}

/// A ChannelBind that times out may have reached the
/// server (only its response was lost): the server then holds the binding
/// for 10 minutes from that request, and the number and the peer for 5
/// more (RFC 8656 §12). A peer given its cooling number back whose
/// ChannelBind times out must not lose that number when the *old* cooling
/// period ends (nor may another peer get it): the server answers 400 to
/// either.
#[test]
fn a_timed_out_bind_of_a_cooling_number_keeps_it_as_long_as_the_server_may() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let peer = addr(PEER);
    let channel = c.bind_channel(peer, t0).unwrap();
    pump(&mut c, &mut s, t0);
    // Unused, it expires after its lifetime and cools for 5 minutes.
    let t1 = t0 + CHANNEL_LIFETIME + Duration::from_secs(1);
    let events = run_until(&mut c, &mut s, t1);
    assert!(
        events.contains(&Event::ChannelExpired { peer, channel }),
        "{events:?}"
    );
    // A minute later the peer is bound again: its number back. The request
    // reaches the server, the response is lost.
    let t2 = t1 + Duration::from_secs(60);
    s.drop.push(Method::CHANNEL_BIND);
    assert_eq!(c.bind_channel(peer, t2).unwrap(), channel);
    pump(&mut c, &mut s, t2);
    let events = run_until(&mut c, &mut s, t2 + Duration::from_secs(40));
    assert!(events.iter().any(is_failed), "{events:?}");
    // The old cooling period has ended; the server holds the refreshed
    // binding until t2 + 15 minutes.
    let t3 = t1 + Duration::from_secs(301);
    run_until(&mut c, &mut s, t3);
    let other: SocketAddr = "203.0.113.10:7000".parse().unwrap();
    assert_ne!(
        c.bind_channel(other, t3).unwrap(),
        channel,
        "another peer got a number the server may still hold"
    );
    assert_eq!(
        c.bind_channel(peer, t3).unwrap(),
        channel,
        "the peer got another number while the server may hold the old one"
    );
}

/// A first ChannelBind that times out
/// may have created the binding on the server. Bound again, the peer must
/// get the same number (the server answers 400 to another one for it).
#[test]
fn a_timed_out_first_bind_keeps_its_number_for_the_peer() {
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let peer = addr(PEER);
    s.drop.push(Method::CHANNEL_BIND);
    let channel = c.bind_channel(peer, t0).unwrap();
    pump(&mut c, &mut s, t0);
    let t1 = t0 + Duration::from_secs(40);
    let events = run_until(&mut c, &mut s, t1);
    assert!(events.iter().any(is_failed), "{events:?}");
    assert_eq!(
        c.bind_channel(peer, t1).unwrap(),
        channel,
        "the peer got another number while the server may hold the first"
    );
}

#[test]
fn a_437_to_the_deallocating_refresh_is_a_success_not_a_failure() {
    // Over UDP the answer to Refresh(0) may be lost: its retransmission
    // finds the allocation gone and gets 437, which RFC 8656 §8.3 says
    // means the deletion succeeded.
    let now = Instant::now();
    let (mut c, mut s) = allocated(now);
    s.reject.push((Method::REFRESH, 437));
    c.close(now);
    assert_eq!(pump(&mut c, &mut s, now), [Event::Closed]);
    assert!(c.is_closed());
}

#[test]
fn a_lapsed_permission_under_a_live_channel_is_no_permission_not_pending() {
    // Unused, the permission lapses after 300 s while the channel binding
    // lives 600 s: nothing is in flight that would install the permission,
    // so send_to must say NoPermission (ask for one), not PermissionPending
    // (wait for an event that never comes).
    let t0 = Instant::now();
    let (mut c, mut s) = allocated(t0);
    let peer = addr(PEER);
    let channel = c.bind_channel(peer, t0).unwrap();
    assert_eq!(
        pump(&mut c, &mut s, t0),
        [Event::ChannelBound { peer, channel }]
    );
    let events = run_until(&mut c, &mut s, t0 + PERMISSION_LIFETIME);
    assert_eq!(events, [Event::PermissionExpired { peer: peer.ip() }]);
    assert_eq!(
        c.send_to(peer, b"x"),
        Err(ferrtc_turn::Error::NoPermission { peer: peer.ip() })
    );
    // While a ChannelBind is in flight, the permission is pending.
    let other = SocketAddr::new(addr("203.0.113.10:1").ip(), 7000);
    c.bind_channel(other, t0 + PERMISSION_LIFETIME).unwrap();
    assert_eq!(
        c.send_to(other, b"x"),
        Err(ferrtc_turn::Error::PermissionPending { peer: other.ip() })
    );
}
