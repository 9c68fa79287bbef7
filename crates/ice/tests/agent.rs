//! The agent's handling of single inputs: authentication, peer-reflexive
//! candidates, refused candidates, unvalidated data, close, hostile bytes.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_ice::{
    Agent, AgentConfig, Candidate, CandidateType, ConnectionState, Credentials, DropReason, Error,
    Event, FailureReason, Foundation, GatheringState, Receive, Transport,
};
use ferrtc_stun::{Attribute, Class, Message, MessageBuilder, Method, TransactionId};
use proptest::prelude::*;

const LOCAL: &str = "192.0.2.1:5000";
const PEER: &str = "192.0.2.2:6000";
const PEER_PWD: &str = "peerpasswordpeerpassword";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn agent(now: Instant) -> Agent {
    let mut a = Agent::new(
        AgentConfig {
            controlling: false,
            seed: Some(7),
            credentials: Some(Credentials::new("LOCL", "localpasswordlocalpassword").unwrap()),
            ..Default::default()
        },
        now,
    );
    a.add_local_host(sa(LOCAL)).unwrap();
    a
}

/// A connectivity check as a controlling peer with ufrag PEER would send it.
fn check(username: &str, pwd: &str, use_candidate: bool) -> Vec<u8> {
    check_numbered(9, username, pwd, use_candidate)
}

/// [`check`] with transaction id `[n; 12]` (each check its own transaction).
fn check_numbered(n: u8, username: &str, pwd: &str, use_candidate: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId([n; 12]),
    );
    b.add(&Attribute::Username(username)).unwrap();
    b.add(&Attribute::Priority(1_845_501_695)).unwrap();
    b.add(&Attribute::IceControlling(1)).unwrap();
    if use_candidate {
        b.add(&Attribute::UseCandidate).unwrap();
    }
    b.add_message_integrity(pwd.as_bytes());
    b.finish();
    buf
}

/// Everything the agent wants to send now.
fn drain(a: &mut Agent, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = a.poll_transmit(now, &mut buf) {
        assert_eq!(t.source, sa(LOCAL));
        out.push((t.destination, buf.clone()));
    }
    out
}

fn error_code(datagram: &[u8]) -> Option<u16> {
    let msg = Message::parse(datagram).ok()?;
    msg.attributes().find_map(|a| match a {
        Ok(Attribute::ErrorCode { code, .. }) => Some(code),
        _ => None,
    })
}

#[test]
fn data_from_an_unvalidated_address_is_dropped_and_counted() {
    let now = Instant::now();
    let mut a = agent(now);
    let r = a.handle_receive(now, sa(PEER), sa(LOCAL), b"\x17hello");
    assert_eq!(r, Receive::Dropped(DropReason::Unvalidated));
    assert_eq!(a.stats().dropped_unvalidated, 1);
    assert_eq!(a.stats().bytes_received, 0);
}

#[test]
fn a_check_with_the_wrong_password_gets_401_and_validates_nothing() {
    let now = Instant::now();
    let mut a = agent(now);
    let request = check("LOCL:PEER", "wrongpasswordwrongpassword", false);
    let r = a.handle_receive(now, sa(PEER), sa(LOCAL), &request);
    assert_eq!(r, Receive::Stun);
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, sa(PEER));
    assert_eq!(error_code(&out[0].1), Some(401));
    // Data from that address is still refused.
    let r = a.handle_receive(now, sa(PEER), sa(LOCAL), b"\x17data");
    assert_eq!(r, Receive::Dropped(DropReason::Unvalidated));
}

#[test]
fn a_check_for_another_ufrag_gets_401_and_one_without_username_gets_400() {
    let now = Instant::now();
    let mut a = agent(now);
    a.handle_receive(
        now,
        sa(PEER),
        sa(LOCAL),
        &check("OTHER:PEER", "localpasswordlocalpassword", false),
    );
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId([3; 12]),
    );
    b.add_fingerprint();
    b.finish();
    a.handle_receive(now, sa(PEER), sa(LOCAL), &buf);
    let codes: Vec<_> = drain(&mut a, now)
        .iter()
        .map(|(_, d)| error_code(d))
        .collect();
    assert_eq!(codes, [Some(401), Some(400)]);
}

#[test]
fn an_authenticated_check_from_an_unknown_address_is_answered_and_checked_back() {
    let now = Instant::now();
    let mut a = agent(now);
    // Trickle: the check arrives before the peer's credentials and candidates.
    let request = check("LOCL:PEER", "localpasswordlocalpassword", true);
    let r = a.handle_receive(now, sa(PEER), sa(LOCAL), &request);
    assert_eq!(r, Receive::Stun);
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 1);
    let resp = Message::parse(&out[0].1).unwrap();
    assert_eq!(resp.class(), Class::SuccessResponse);
    resp.verify_message_integrity(b"localpasswordlocalpassword")
        .unwrap();
    resp.verify_fingerprint().unwrap();
    let mapped = resp.attributes().find_map(|a| match a {
        Ok(Attribute::XorMappedAddress(m)) => Some(m),
        _ => None,
    });
    assert_eq!(mapped, Some(sa(PEER)));
    assert_eq!(a.connection_state(), ConnectionState::Checking);
    // The peer proved it knows our password: its data is accepted.
    assert!(matches!(
        a.handle_receive(now, sa(PEER), sa(LOCAL), b"\x17x"),
        Receive::Data(_)
    ));
    // Once the credentials arrive, the triggered check goes to the
    // peer-reflexive address, signed with the peer's password.
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    let t = now + Duration::from_millis(50);
    a.handle_timeout(t);
    let out = drain(&mut a, t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, sa(PEER));
    let req = Message::parse(&out[0].1).unwrap();
    assert_eq!(req.class(), Class::Request);
    req.verify_message_integrity(PEER_PWD.as_bytes()).unwrap();
    let username = req.attributes().find_map(|a| match a {
        Ok(Attribute::Username(u)) => Some(u.to_owned()),
        _ => None,
    });
    assert_eq!(username.as_deref(), Some("PEER:LOCL"));
    // Its success response (with USE-CANDIDATE seen before) selects the pair.
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::SuccessResponse,
        Method::BINDING,
        req.transaction_id(),
    );
    b.add(&Attribute::XorMappedAddress(sa(LOCAL))).unwrap();
    b.add_message_integrity(PEER_PWD.as_bytes());
    b.finish();
    assert_eq!(
        a.handle_receive(t, sa(PEER), sa(LOCAL), &buf),
        Receive::Stun
    );
    let selected = a.selected_pair().expect("selected");
    assert_eq!(selected.destination, sa(PEER));
    assert_eq!(selected.remote.kind(), CandidateType::PeerReflexive);
    assert_eq!(a.connection_state(), ConnectionState::Connected);
    assert_eq!(a.send(&mut b"hi".to_vec()).unwrap().destination, sa(PEER));
}

#[test]
fn a_controlled_agent_gives_up_when_the_controlling_peer_never_nominates() {
    let now = Instant::now();
    let mut a = agent(now);
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    let c: Candidate = "candidate:1 1 udp 2130706431 192.0.2.2 6000 typ host"
        .parse()
        .unwrap();
    a.add_remote_candidate(c).unwrap();
    a.end_of_remote_candidates();
    a.handle_timeout(now);
    let out = drain(&mut a, now);
    let req = Message::parse(&out[0].1).unwrap();
    // Our check succeeds, the peer checks us (without USE-CANDIDATE)...
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::SuccessResponse,
        Method::BINDING,
        req.transaction_id(),
    );
    b.add(&Attribute::XorMappedAddress(sa(LOCAL))).unwrap();
    b.add_message_integrity(PEER_PWD.as_bytes());
    b.finish();
    assert_eq!(
        a.handle_receive(now, sa(PEER), sa(LOCAL), &buf),
        Receive::Stun
    );
    let request = check("LOCL:PEER", "localpasswordlocalpassword", false);
    let t1 = now + Duration::from_secs(1);
    a.handle_receive(t1, sa(PEER), sa(LOCAL), &request);
    // ...then goes silent: after the consent timeout, failed with a reason.
    let mut t = t1;
    while a.connection_state() == ConnectionState::Checking {
        t = a.poll_timeout().expect("a timer");
        a.handle_timeout(t);
        drain(&mut a, t);
    }
    assert_eq!(t - t1, Duration::from_secs(30));
    let failed = std::iter::from_fn(|| a.poll_event()).find_map(|e| match e {
        Event::ConnectionStateChange {
            state: ConnectionState::Failed,
            reason,
        } => Some(reason),
        _ => None,
    });
    assert_eq!(failed, Some(Some(FailureReason::NoNomination)));
}

#[test]
fn a_response_with_a_bad_integrity_is_ignored() {
    let now = Instant::now();
    let mut a = agent(now);
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    let c: Candidate = "candidate:1 1 udp 2130706431 192.0.2.2 6000 typ host"
        .parse()
        .unwrap();
    a.add_remote_candidate(c).unwrap();
    a.handle_timeout(now);
    let out = drain(&mut a, now);
    let req = Message::parse(&out[0].1).unwrap();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::SuccessResponse,
        Method::BINDING,
        req.transaction_id(),
    );
    b.add(&Attribute::XorMappedAddress(sa(LOCAL))).unwrap();
    b.add_message_integrity(b"forgedforgedforgedforged");
    b.finish();
    let r = a.handle_receive(now, sa(PEER), sa(LOCAL), &buf);
    assert_eq!(r, Receive::Dropped(DropReason::UnknownTransaction));
    assert!(a.selected_pair().is_none());
    assert_eq!(a.stats().dropped_stun, 1);
}

#[test]
fn unusable_remote_candidates_are_refused_with_a_reason() {
    let now = Instant::now();
    let mut a = agent(now);
    let cases = [
        "candidate:1 1 tcp 1518280447 192.0.2.2 9 typ host tcptype so",
        "candidate:1 2 udp 2130706430 192.0.2.2 6001 typ host",
        "candidate:1 1 udp 2113937151 0b2d4b56-c6d3-4d7a-a1c4-1d5c8c2b0e6f.local 6000 typ host",
        "candidate:1 1 udp 2130706431 0.0.0.0 6000 typ host",
    ];
    for line in cases {
        let c: Candidate = line.parse().unwrap();
        assert!(
            matches!(
                a.add_remote_candidate(c),
                Err(Error::UnsupportedCandidate(_))
            ),
            "{line}"
        );
    }
}

#[test]
fn credentials_must_follow_rfc_8839() {
    assert!(Credentials::new("abc", "localpasswordlocalpassword").is_err());
    assert!(Credentials::new("abcd", "short").is_err());
    assert!(Credentials::new("ab:d", "localpasswordlocalpassword").is_err());
    assert!(Credentials::new("ab+/", "localpasswordlocalpassword").is_ok());
    let now = Instant::now();
    let x = Agent::new(
        AgentConfig {
            seed: Some(1),
            ..Default::default()
        },
        now,
    );
    let y = Agent::new(
        AgentConfig {
            seed: Some(1),
            ..Default::default()
        },
        now,
    );
    let z = Agent::new(
        AgentConfig {
            seed: Some(2),
            ..Default::default()
        },
        now,
    );
    assert_eq!(x.local_credentials(), y.local_credentials());
    assert_ne!(x.local_credentials(), z.local_credentials());
    assert!(Credentials::new(x.local_credentials().ufrag(), x.local_credentials().pwd()).is_ok());
}

#[test]
fn new_remote_credentials_need_a_restart_first() {
    let now = Instant::now();
    let mut a = agent(now);
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    // The same again is harmless; different ones are a peer's ICE restart.
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    assert_eq!(
        a.set_remote_credentials("PEE2", PEER_PWD),
        Err(Error::RemoteCredentialsChanged)
    );
    a.restart(now).unwrap();
    a.set_remote_credentials("PEE2", PEER_PWD).unwrap();
}

#[test]
fn close_stops_everything() {
    let now = Instant::now();
    let mut a = agent(now);
    a.add_stun_server(sa("198.51.100.1:3478")).unwrap();
    a.close();
    assert_eq!(drain(&mut a, now).len(), 0);
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(a.send(&mut b"x".to_vec()), Err(Error::Closed));
    assert_eq!(a.connection_state(), ConnectionState::Closed);
    let last = std::iter::from_fn(|| a.poll_event()).last();
    assert_eq!(
        last,
        Some(Event::ConnectionStateChange {
            state: ConnectionState::Closed,
            reason: None
        })
    );
    assert_eq!(
        a.handle_receive(now, sa(PEER), sa(LOCAL), b"x"),
        Receive::Dropped(DropReason::Closed)
    );
}

#[test]
fn host_candidates_get_rfc_8445_priorities_and_foundations() {
    let now = Instant::now();
    let mut a = agent(now);
    let second = a.add_local_host(sa("192.0.2.9:5000")).unwrap();
    let first = a.local_candidates().next().unwrap().clone();
    assert_eq!(
        first.priority(),
        Candidate::compute_priority(CandidateType::Host, 65535, 1)
    );
    assert!(second.priority() < first.priority());
    assert_eq!(first.transport(), Transport::Udp);
    assert_ne!(first.foundation(), second.foundation());
    assert_eq!(
        first.foundation(),
        &Foundation::compute(CandidateType::Host, sa(LOCAL).ip(), None, Transport::Udp)
    );
    assert_eq!(
        a.add_local_host(sa(LOCAL)),
        Err(Error::DuplicateHost(sa(LOCAL)))
    );
}

proptest! {
    #[test]
    fn hostile_datagrams_never_panic_or_validate_anything(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        as_stun: bool,
    ) {
        let now = Instant::now();
        let mut a = agent(now);
        a.set_remote_credentials("PEER", PEER_PWD).unwrap();
        let mut data = body.clone();
        if as_stun {
            // A STUN header with the right cookie and length, random rest.
            let len = (body.len() / 4 * 4) as u16;
            data = vec![0, 1];
            data.extend_from_slice(&len.to_be_bytes());
            data.extend_from_slice(&0x2112_A442u32.to_be_bytes());
            data.extend_from_slice(&[5; 12]);
            data.extend_from_slice(&body[..usize::from(len)]);
        }
        let _ = a.handle_receive(now, sa(PEER), sa(LOCAL), &data);
        drain(&mut a, now);
        a.handle_timeout(now + Duration::from_secs(1));
        prop_assert!(a.selected_pair().is_none());
    }
}

/// A remote host candidate at `addr`, each IP its own foundation.
fn remote_host(addr: SocketAddr) -> Candidate {
    Candidate::new(
        Foundation::compute(CandidateType::Host, addr.ip(), None, Transport::Udp),
        1,
        Transport::Udp,
        Candidate::compute_priority(CandidateType::Host, 65535, 1),
        addr,
        CandidateType::Host,
    )
}

#[test]
fn ordinary_checks_leave_at_least_ta_apart() {
    // RFC 8445 §6.1.4.2: one new check per Ta, not a burst.
    let start = Instant::now();
    let mut a = Agent::new(
        AgentConfig {
            controlling: true,
            seed: Some(3),
            ..Default::default()
        },
        start,
    );
    a.add_local_host(sa(LOCAL)).unwrap();
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    let remotes: Vec<SocketAddr> = (2..8).map(|i| sa(&format!("192.0.2.{i}:6000"))).collect();
    for r in &remotes {
        a.add_remote_candidate(remote_host(*r)).unwrap();
    }
    let ta = AgentConfig::default().ta;
    let mut first_check: Vec<(Instant, SocketAddr)> = Vec::new();
    let mut now = start;
    while now < start + Duration::from_secs(2) {
        for (to, datagram) in drain(&mut a, now) {
            let msg = Message::parse(&datagram).unwrap();
            if msg.class() == Class::Request && !first_check.iter().any(|(_, d)| *d == to) {
                first_check.push((now, to));
            }
        }
        let Some(next) = a.poll_timeout() else { break };
        now = next.max(now);
        a.handle_timeout(now);
    }
    assert_eq!(first_check.len(), remotes.len(), "every pair is checked");
    for w in first_check.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= ta,
            "checks to {} and {} only {:?} apart",
            w[0].1,
            w[1].1,
            w[1].0 - w[0].0
        );
    }
}

#[test]
fn gathering_goes_new_then_gathering_then_complete_once_the_stun_server_answers() {
    let now = Instant::now();
    let server = sa("198.51.100.7:3478");
    let mapped = sa("203.0.113.9:40000");
    let mut a = Agent::new(
        AgentConfig {
            seed: Some(5),
            ..Default::default()
        },
        now,
    );
    assert_eq!(a.gathering_state(), GatheringState::New);
    a.add_stun_server(server).unwrap();
    a.add_local_host(sa(LOCAL)).unwrap();
    assert_eq!(a.gathering_state(), GatheringState::Gathering);
    let sent = drain(&mut a, now);
    let (to, request) = sent.first().expect("a Binding request to the STUN server");
    assert_eq!(*to, server);
    let tid = Message::parse(request).unwrap().transaction_id();
    // Still gathering while the server has not answered.
    a.handle_timeout(now + Duration::from_millis(100));
    assert_eq!(a.gathering_state(), GatheringState::Gathering);

    let mut response = Vec::new();
    let mut b = MessageBuilder::new(&mut response, Class::SuccessResponse, Method::BINDING, tid);
    b.add(&Attribute::XorMappedAddress(mapped)).unwrap();
    b.add_fingerprint();
    b.finish();
    let later = now + Duration::from_millis(150);
    assert_eq!(
        a.handle_receive(later, server, sa(LOCAL), &response),
        Receive::Stun
    );
    assert_eq!(a.gathering_state(), GatheringState::Complete);

    let events: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
    let gathering: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::GatheringStateChange(_)))
        .collect();
    assert_eq!(
        gathering,
        [
            &Event::GatheringStateChange(GatheringState::Gathering),
            &Event::GatheringStateChange(GatheringState::Complete)
        ]
    );
    let kinds: Vec<CandidateType> = events
        .iter()
        .filter_map(|e| match e {
            Event::LocalCandidate(c) => Some(c.kind()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [CandidateType::Host, CandidateType::ServerReflexive]);
    // Complete comes after the last candidate, so "end of candidates" is last.
    assert!(matches!(
        events.last(),
        Some(Event::GatheringStateChange(GatheringState::Complete))
    ));
}

#[test]
fn held_gathering_stays_open_until_released_even_with_nothing_left_to_gather() {
    let now = Instant::now();
    let mut a = Agent::new(
        AgentConfig {
            seed: Some(6),
            ..Default::default()
        },
        now,
    );
    // The caller is still looking up its servers' names.
    a.hold_gathering(now, true);
    a.add_local_host(sa(LOCAL)).unwrap();
    drain(&mut a, now);
    a.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(a.gathering_state(), GatheringState::Gathering);
    // The lookup found a STUN server: it is still gathering while it asks.
    let server = sa("198.51.100.7:3478");
    a.add_stun_server(server).unwrap();
    a.hold_gathering(now + Duration::from_secs(10), false);
    assert_eq!(a.gathering_state(), GatheringState::Gathering);
    // Released with nothing left: complete, and end-of-candidates is last.
    let mut b = Agent::new(
        AgentConfig {
            seed: Some(7),
            ..Default::default()
        },
        now,
    );
    b.hold_gathering(now, true);
    b.add_local_host(sa(LOCAL)).unwrap();
    assert_eq!(b.gathering_state(), GatheringState::Gathering);
    b.hold_gathering(now + Duration::from_secs(1), false);
    assert_eq!(b.gathering_state(), GatheringState::Complete);
    let events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
    assert!(matches!(
        events.last(),
        Some(Event::GatheringStateChange(GatheringState::Complete))
    ));
}

/// While gathering is held (the caller is still looking up its STUN/TURN
/// server names) and no gathering transaction is open, the agent has
/// nothing to do: `poll_timeout` must not keep returning an instant that is
/// already due, or the driver spins (thousands of wake-ups a second for
/// the length of a DNS lookup). Gathering cannot complete before the hold
/// is released (RFC 8838 §8: end-of-candidates comes last), so there is no
/// deadline to wait for.
#[test]
fn held_gathering_does_not_keep_the_timer_due() {
    let now = Instant::now();
    let mut a = Agent::new(
        AgentConfig {
            seed: Some(1),
            credentials: Some(Credentials::new("LOCL", "localpasswordlocalpassword").unwrap()),
            ..Default::default()
        },
        now,
    );
    a.hold_gathering(now, true);
    a.add_local_host(sa(LOCAL)).unwrap();
    drain(&mut a, now);
    while a.poll_event().is_some() {}
    assert_eq!(a.gathering_state(), GatheringState::Gathering);
    let mut t = now;
    let mut due = 0;
    for _ in 0..1000 {
        match a.poll_timeout() {
            Some(d) if d <= t => {
                due += 1;
                a.handle_timeout(t);
                drain(&mut a, t);
            }
            _ => break,
        }
        t += Duration::from_micros(10);
    }
    assert!(
        due < 10,
        "timer due {due} times in a row with nothing to do (next {:?})",
        a.poll_timeout().map(|d| d.saturating_duration_since(t))
    );
    // Released, it completes at once (the held test above covers the rest).
    a.hold_gathering(t, false);
    assert_eq!(a.gathering_state(), GatheringState::Complete);
}

/// A success response to `tid` from the peer (password `PEER_PWD`).
fn success(tid: TransactionId, mapped: SocketAddr) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::SuccessResponse, Method::BINDING, tid);
    b.add(&Attribute::XorMappedAddress(mapped)).unwrap();
    b.add_message_integrity(PEER_PWD.as_bytes());
    b.add_fingerprint();
    b.finish();
    buf
}

/// RFC 8445 §7.2.5.2.1 / §7.2.5.2.4 / §8.1.1: a nominating check that
/// fails (here its success response comes back from another port: not
/// symmetric) fails that pair, and the controlling agent then nominates
/// another valid pair; it does not stay in Checking for good.
#[test]
fn a_failed_nominating_check_does_not_stop_nomination_for_good() {
    let now = Instant::now();
    let mut a = Agent::new(
        AgentConfig {
            controlling: true,
            seed: Some(7),
            credentials: Some(Credentials::new("LOCL", "localpasswordlocalpassword").unwrap()),
            ..Default::default()
        },
        now,
    );
    a.add_local_host(sa(LOCAL)).unwrap();
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    let r1: Candidate = "candidate:1 1 udp 2130706431 192.0.2.2 6000 typ host"
        .parse()
        .unwrap();
    let r2: Candidate = "candidate:2 1 udp 2130706000 192.0.2.3 6000 typ host"
        .parse()
        .unwrap();
    a.add_remote_candidate(r1).unwrap();
    a.add_remote_candidate(r2).unwrap();
    let mut t = now;
    let mut broke_nomination = false;
    let end = now + Duration::from_secs(30);
    while t < end && a.selected_pair().is_none() {
        for (dest, d) in drain(&mut a, t) {
            let msg = Message::parse(&d).unwrap();
            if msg.class() != Class::Request {
                continue;
            }
            let nominating = msg
                .attributes()
                .any(|x| matches!(x, Ok(Attribute::UseCandidate)));
            let resp = success(msg.transaction_id(), sa(LOCAL));
            // The first nominating check is answered from another port.
            let from = if nominating && !broke_nomination {
                broke_nomination = true;
                SocketAddr::new(dest.ip(), dest.port() + 1)
            } else {
                dest
            };
            a.handle_receive(t, from, sa(LOCAL), &resp);
        }
        t += Duration::from_millis(10);
        a.handle_timeout(t);
    }
    assert!(broke_nomination, "no nominating check was sent");
    assert!(
        a.selected_pair().is_some(),
        "30 s after the nominating check failed, with another valid pair \
         answering every check, nothing was selected; state {:?}",
        a.connection_state()
    );
    assert_ne!(a.connection_state(), ConnectionState::Checking);
}

/// RFC 8489 §6.3.1.1 / §14.13: a request with an unknown
/// comprehension-required attribute gets a 420 error response that MUST
/// carry UNKNOWN-ATTRIBUTES listing the attribute types it did not know.
#[test]
fn a_420_lists_the_unknown_attributes() {
    let now = Instant::now();
    let mut a = agent(now);
    while a.poll_event().is_some() {}
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId([5; 12]),
    );
    b.add(&Attribute::Username("LOCL:PEER")).unwrap();
    b.add(&Attribute::Priority(1_845_501_695)).unwrap();
    b.add(&Attribute::IceControlling(1)).unwrap();
    b.add(&Attribute::Unknown {
        typ: 0x7777,
        value: b"abcd",
    })
    .unwrap();
    b.add(&Attribute::Unknown {
        typ: 0x7778,
        value: b"",
    })
    .unwrap();
    b.add_message_integrity(b"localpasswordlocalpassword");
    b.add_fingerprint();
    b.finish();
    a.handle_receive(now, sa(PEER), sa(LOCAL), &buf);
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 1);
    let resp = Message::parse(&out[0].1).unwrap();
    assert_eq!(resp.class(), Class::ErrorResponse);
    assert_eq!(error_code(&out[0].1), Some(420));
    resp.verify_message_integrity(b"localpasswordlocalpassword")
        .unwrap();
    let listed: Option<Vec<u16>> = resp.attributes().find_map(|x| match x {
        Ok(Attribute::UnknownAttributes(u)) => Some(u.iter().collect()),
        _ => None,
    });
    assert_eq!(
        listed,
        Some(vec![0x7777, 0x7778]),
        "420 without UNKNOWN-ATTRIBUTES"
    );
}

#[test]
fn odd_trickled_candidates_neither_panic_nor_fail_the_agent_early() {
    let t0 = Instant::now();
    let mut a = agent(t0);
    a.set_remote_credentials("PEER", "peerpasswordpeerpassword")
        .unwrap();
    let first = remote_host(sa("192.0.2.2:6000"));
    a.add_remote_candidate(first.clone()).unwrap();
    // The same candidate again: kept once.
    a.add_remote_candidate(first).unwrap();
    // Another address family than every local host: no pair, no error.
    a.add_remote_candidate(remote_host(sa("[2001:db8::2]:6000")))
        .unwrap();
    // A candidate of another ICE generation (another ufrag): refused, not fatal.
    let stale: Candidate = "candidate:1 1 udp 2130706431 192.0.2.2 6002 typ host ufrag OLDU"
        .parse()
        .unwrap();
    assert_eq!(a.add_remote_candidate(stale), Err(Error::UfragMismatch));
    a.end_of_remote_candidates();
    // After the end of candidates: still taken and checked.
    a.add_remote_candidate(remote_host(sa("192.0.2.2:6001")))
        .unwrap();
    let mut destinations = std::collections::BTreeSet::new();
    let mut now = t0;
    let mut failed_at = None;
    while now < t0 + Duration::from_secs(60) {
        a.handle_timeout(now);
        for (to, _) in drain(&mut a, now) {
            destinations.insert(to);
        }
        while let Some(e) = a.poll_event() {
            if let Event::ConnectionStateChange {
                state: ConnectionState::Failed,
                ..
            } = e
            {
                failed_at.get_or_insert(now);
            }
        }
        now += Duration::from_millis(10);
    }
    assert_eq!(
        destinations.into_iter().collect::<Vec<_>>(),
        [sa("192.0.2.2:6000"), sa("192.0.2.2:6001")]
    );
    // Failed only once both pairs' checks went unanswered (about 20 s).
    let failed_at = failed_at.expect("unanswered pairs fail in the end");
    assert!(
        failed_at - t0 > Duration::from_secs(15),
        "{:?}",
        failed_at - t0
    );
}

/// Consent freshness (RFC 7675 §5.1) on a controlled agent whose peer
/// keeps checking several nominated pairs (as libwebrtc checks its backup
/// pairs): the agent of [`agent`] with two remote candidates, P1 (host,
/// the higher priority) and P2 (srflx).
const P1: &str = "192.0.2.2:6000";
const P2: &str = "192.0.2.3:6000";
const LOCAL_PWD: &str = "localpasswordlocalpassword";

fn with_backup_pairs(now: Instant) -> Agent {
    let mut a = agent(now);
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    for c in [
        "candidate:1 1 udp 2130706431 192.0.2.2 6000 typ host",
        "candidate:2 1 udp 1694498815 192.0.2.3 6000 typ srflx raddr 10.0.0.2 rport 6000",
    ] {
        a.add_remote_candidate(c.parse::<Candidate>().unwrap())
            .unwrap();
    }
    a.end_of_remote_candidates();
    a
}

/// Drives the agent to `until` in 100 ms steps. The peer checks both pairs
/// every 2 s (as an agent keeping its backup pairs alive does); while
/// `answering`, it answers the agent's requests. Returns the times of the
/// answers given.
fn drive_backup_checks(
    a: &mut Agent,
    now: &mut Instant,
    until: Instant,
    answering: bool,
    n: &mut u8,
    use_candidate: bool,
) -> Vec<Instant> {
    let mut answered = Vec::new();
    let mut buf = Vec::new();
    let mut next_ping = *now;
    while *now < until {
        if *now >= next_ping {
            for p in [P1, P2] {
                *n = n.wrapping_add(1);
                let req = check_numbered(*n, "LOCL:PEER", LOCAL_PWD, use_candidate);
                a.handle_receive(*now, sa(p), sa(LOCAL), &req);
            }
            next_ping = *now + Duration::from_secs(2);
        }
        a.handle_timeout(*now);
        let mut out = Vec::new();
        while let Some(t) = a.poll_transmit(*now, &mut buf) {
            out.push((t.destination, buf.clone()));
        }
        for (to, d) in out {
            let Ok(msg) = Message::parse(&d) else {
                continue;
            };
            if msg.class() == Class::Request && answering {
                let resp = success(msg.transaction_id(), sa(LOCAL));
                a.handle_receive(*now, to, sa(LOCAL), &resp);
                answered.push(*now);
            }
        }
        *now += Duration::from_millis(100);
    }
    answered
}

/// RFC 7675 §5.1: an agent that got no consent response on its selected
/// pair for 30 s stops sending. A controlled agent that hears the peer's
/// checks on two nominated pairs but none of its own requests answered
/// (the path towards the peer is dead) must be Failed 30 s after the last
/// answer, on the pair it selected (checks *from* the peer, on that pair
/// or another it nominated, are no consent, §5.1, and a lower pair
/// nominated later does not replace the selected one, RFC 8445 §8.1.1).
#[test]
fn a_controlled_agent_without_any_consent_answer_fails_after_the_consent_timeout_whatever_the_peer_checks()
 {
    let mut now = Instant::now();
    let mut a = with_backup_pairs(now);
    let mut n = 0;
    // Aggressive nomination: the peer nominates both pairs; P1 (the
    // higher priority) is selected.
    let until = now + Duration::from_secs(3);
    drive_backup_checks(&mut a, &mut now, until, true, &mut n, true);
    assert_eq!(a.connection_state(), ConnectionState::Completed);
    assert_eq!(a.selected_pair().unwrap().destination, sa(P1));
    let until = now + Duration::from_secs(10);
    let answered = drive_backup_checks(&mut a, &mut now, until, true, &mut n, false);
    let last_answer = *answered.last().expect("consent answered");
    while a.poll_event().is_some() {}
    // Now nothing the agent sends reaches the peer; the peer's checks
    // still come.
    let end = last_answer + Duration::from_secs(31);
    drive_backup_checks(&mut a, &mut now, end, false, &mut n, false);
    let events: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
    let switches = events
        .iter()
        .filter(|e| matches!(e, Event::SelectedPairChange(_)))
        .count();
    let states: Vec<ConnectionState> = events
        .iter()
        .filter_map(|e| match e {
            Event::ConnectionStateChange { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(
        a.connection_state(),
        ConnectionState::Failed,
        "31 s without one consent answer, still {:?} on {:?} ({switches} pair changes, states {states:?})",
        a.connection_state(),
        a.selected_pair().map(|p| p.destination),
    );
    assert!(a.send(&mut b"x".to_vec()).is_err());
    // It stays on its selected pair; consent missing is told before it
    // expires.
    assert_eq!(switches, 0, "{switches} pair changes");
    assert_eq!(
        states,
        [ConnectionState::Disconnected, ConnectionState::Failed],
        "{states:?}"
    );
}
