//! Consent freshness (RFC 7675 §5.1) on a controlled agent whose peer
//! keeps checking several nominated pairs (as libwebrtc checks its backup
//! pairs): the peer's checks are no consent, only answers to our own
//! requests are, so without any answer consent expires on time and the
//! agent does not wander between the pairs the peer checks.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_ice::{Agent, AgentConfig, Candidate, ConnectionState, Credentials, Event};
use ferrtc_stun::{Attribute, Class, Message, MessageBuilder, Method, TransactionId};

const LOCAL: &str = "192.0.2.1:5000";
const P1: &str = "192.0.2.2:6000";
const P2: &str = "192.0.2.3:6000";
const LOCAL_PWD: &str = "localpasswordlocalpassword";
const PEER_PWD: &str = "peerpasswordpeerpassword";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn controlled(now: Instant) -> Agent {
    let mut a = Agent::new(
        AgentConfig {
            controlling: false,
            seed: Some(7),
            credentials: Some(Credentials::new("LOCL", LOCAL_PWD).unwrap()),
            ..Default::default()
        },
        now,
    );
    a.add_local_host(sa(LOCAL)).unwrap();
    a.set_remote_credentials("PEER", PEER_PWD).unwrap();
    let c1: Candidate = format!("candidate:1 1 udp 2130706431 {} typ host", "192.0.2.2 6000")
        .parse()
        .unwrap();
    let c2: Candidate = format!(
        "candidate:2 1 udp 1694498815 {} typ srflx raddr 10.0.0.2 rport 6000",
        "192.0.2.3 6000"
    )
    .parse()
    .unwrap();
    a.add_remote_candidate(c1).unwrap();
    a.add_remote_candidate(c2).unwrap();
    a.end_of_remote_candidates();
    a
}

/// A check from the controlling peer (every one with its own transaction).
fn check(n: &mut u8, use_candidate: bool) -> Vec<u8> {
    *n = n.wrapping_add(1);
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId([*n; 12]),
    );
    b.add(&Attribute::Username("LOCL:PEER")).unwrap();
    b.add(&Attribute::Priority(1_845_501_695)).unwrap();
    b.add(&Attribute::IceControlling(1)).unwrap();
    if use_candidate {
        b.add(&Attribute::UseCandidate).unwrap();
    }
    b.add_message_integrity(LOCAL_PWD.as_bytes());
    b.add_fingerprint();
    b.finish();
    buf
}

/// The peer's success response to the agent's request `req`.
fn answer(req: &Message<'_>) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::SuccessResponse,
        Method::BINDING,
        req.transaction_id(),
    );
    b.add(&Attribute::XorMappedAddress(sa(LOCAL))).unwrap();
    b.add_message_integrity(PEER_PWD.as_bytes());
    b.add_fingerprint();
    b.finish();
    buf
}

/// Drives the agent to `until` in 100 ms steps. The peer checks both pairs
/// every 2 s (as an agent keeping its backup pairs alive does); while
/// `answering`, it answers the agent's requests. Returns the times of the
/// answers given.
fn drive(
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
                let req = check(n, use_candidate);
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
                let resp = answer(&msg);
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
    let mut a = controlled(now);
    let mut n = 0;
    // Aggressive nomination: the peer nominates both pairs; P1 (the
    // higher priority) is selected.
    let until = now + Duration::from_secs(3);
    drive(&mut a, &mut now, until, true, &mut n, true);
    assert_eq!(a.connection_state(), ConnectionState::Completed);
    assert_eq!(a.selected_pair().unwrap().destination, sa(P1));
    let until = now + Duration::from_secs(10);
    let answered = drive(&mut a, &mut now, until, true, &mut n, false);
    let last_answer = *answered.last().expect("consent answered");
    while a.poll_event().is_some() {}
    // Now nothing the agent sends reaches the peer; the peer's checks
    // still come.
    let end = last_answer + Duration::from_secs(31);
    drive(&mut a, &mut now, end, false, &mut n, false);
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
