//! Limits a hostile peer meets in the ICE agent: remote candidates, from
//! signaling and peer-reflexive, and candidate pairs.
#![allow(missing_docs)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_ice::{
    Agent, AgentConfig, Candidate, CandidateType, Credentials, Error, Receive, Transport,
};
use ferrtc_stun::{Attribute, Class, Message, MessageBuilder, Method, TransactionId};

const PEER_UFRAG: &str = "PEER";
const PEER_PWD: &str = "peerpasswordpeerpassword";
const LOCAL_PWD: &str = "localpasswordlocalpassword";

fn agent(now: Instant, config: AgentConfig, hosts: &[&str]) -> Agent {
    let mut a = Agent::new(
        AgentConfig {
            seed: Some(7),
            credentials: Some(Credentials::new("LOCL", LOCAL_PWD).unwrap()),
            ..config
        },
        now,
    );
    for h in hosts {
        a.add_local_host(h.parse().unwrap()).unwrap();
    }
    a.set_remote_credentials(PEER_UFRAG, PEER_PWD).unwrap();
    a
}

fn remote(i: u16) -> Candidate {
    Candidate::new(
        format!("r{i}").parse().unwrap(),
        1,
        Transport::Udp,
        2_130_706_431 - u32::from(i),
        SocketAddr::from(([198, 51, 100, (i % 250) as u8 + 1], 10_000 + i)),
        CandidateType::Host,
    )
}

/// A connectivity check from the controlling peer, with valid credentials.
fn check(id: u8) -> Vec<u8> {
    check_with(id, false)
}

/// A check of the controlling peer, nominating (USE-CANDIDATE) or not.
fn check_with(id: u8, use_candidate: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId([id; 12]),
    );
    b.add(&Attribute::Username("LOCL:PEER")).unwrap();
    b.add(&Attribute::Priority(1_845_501_695)).unwrap();
    b.add(&Attribute::IceControlling(1)).unwrap();
    if use_candidate {
        b.add(&Attribute::UseCandidate).unwrap();
    }
    b.add_message_integrity(LOCAL_PWD.as_bytes());
    b.finish();
    buf
}

/// A controlled agent with one host candidate, 192.0.2.1:5000 (returned),
/// holding at most `max_remote_candidates` remote candidates.
fn controlled(now: Instant, max_remote_candidates: usize) -> (Agent, SocketAddr) {
    let config = AgentConfig {
        controlling: false,
        max_remote_candidates,
        ..AgentConfig::default()
    };
    let local: SocketAddr = "192.0.2.1:5000".parse().unwrap();
    (agent(now, config, &["192.0.2.1:5000"]), local)
}

/// Runs the agent's timers for `span` of virtual time; returns every
/// (source, destination) it sent a check (a request) on.
fn checked_paths(
    a: &mut Agent,
    mut now: Instant,
    span: Duration,
) -> HashSet<(SocketAddr, SocketAddr)> {
    let end = now + span;
    let mut paths = HashSet::new();
    let mut buf = Vec::new();
    while now < end {
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            if Message::parse(&buf).is_ok_and(|m| m.class() == Class::Request) {
                paths.insert((t.source, t.destination));
            }
        }
        now = a
            .poll_timeout()
            .unwrap_or(end)
            .max(now + Duration::from_millis(1));
        a.handle_timeout(now);
    }
    paths
}

#[test]
fn signalled_candidates_past_max_remote_candidates_are_refused() {
    let now = Instant::now();
    let config = AgentConfig {
        controlling: true,
        ..AgentConfig::default()
    };
    assert_eq!(config.max_remote_candidates, 64);
    let mut a = agent(now, config, &["192.0.2.1:5000"]);
    for i in 0..64 {
        a.add_remote_candidate(remote(i)).unwrap();
    }
    for i in 64..1_000 {
        assert_eq!(
            a.add_remote_candidate(remote(i)),
            Err(Error::TooManyCandidates { limit: 64 })
        );
    }
    // Only the first 64 are ever checked.
    let paths = checked_paths(&mut a, now, Duration::from_secs(30));
    let refused: HashSet<SocketAddr> = (64..1_000)
        .map(|i| remote(i).socket_addr().unwrap())
        .collect();
    assert!(!paths.is_empty());
    assert!(paths.iter().all(|(_, d)| !refused.contains(d)));
    assert!(paths.len() <= 64);
}

#[test]
fn peer_reflexive_sources_past_the_limit_are_answered_but_never_paired() {
    let now = Instant::now();
    let (mut a, local) = controlled(now, 4);
    // 200 checks from 200 source addresses: every one is answered, only
    // the first 4 become peer-reflexive candidates that get checked back.
    let sources: Vec<SocketAddr> = (0..200u16)
        .map(|i| SocketAddr::from(([203, 0, 113, (i % 250) as u8 + 1], 20_000 + i)))
        .collect();
    let mut responses = 0;
    let mut buf = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        assert_eq!(
            a.handle_receive(now, *s, local, &check(i as u8)),
            Receive::Stun
        );
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            if Message::parse(&buf).is_ok_and(|m| m.class() == Class::SuccessResponse) {
                assert_eq!(t.destination, *s);
                responses += 1;
            }
        }
    }
    assert_eq!(responses, 200);
    let paths = checked_paths(&mut a, now, Duration::from_secs(30));
    let checked: HashSet<SocketAddr> = paths.iter().map(|(_, d)| *d).collect();
    assert!(!checked.is_empty());
    assert!(
        checked.len() <= 4,
        "{} peer-reflexive candidates checked",
        checked.len()
    );
    assert!(checked.iter().all(|d| sources[..4].contains(d)));
}

#[test]
fn candidate_pairs_never_exceed_max_pairs() {
    let now = Instant::now();
    let config = AgentConfig {
        controlling: true,
        max_pairs: 10,
        ..AgentConfig::default()
    };
    let mut a = agent(now, config, &["192.0.2.1:5000", "192.0.2.9:5000"]);
    for i in 0..40 {
        a.add_remote_candidate(remote(i)).unwrap();
    }
    // 2 hosts x 40 remotes = 80 possible pairs; at most 10 are formed.
    let paths = checked_paths(&mut a, now, Duration::from_secs(60));
    assert_eq!(paths.len(), 10);
}

#[test]
fn the_default_pair_limit_is_the_100_rfc_8445_recommends() {
    let now = Instant::now();
    let config = AgentConfig {
        controlling: true,
        ..AgentConfig::default()
    };
    assert_eq!(config.max_pairs, 100);
    let mut a = agent(now, config, &["192.0.2.1:5000", "192.0.2.9:5000"]);
    for i in 0..64 {
        a.add_remote_candidate(remote(i)).unwrap();
    }
    let paths = checked_paths(&mut a, now, Duration::from_secs(120));
    assert!(paths.len() <= 100, "{} pairs checked", paths.len());
    assert!(paths.len() > 64, "{} pairs checked", paths.len());
}

/// Checks travel in the clear: one authentic check seen on the path can be
/// replayed unchanged from any source address, and every copy passes
/// MESSAGE-INTEGRITY (it covers no address). RFC 8445 §7.3.1.3 would make
/// each source a peer-reflexive candidate whose data is accepted; 64
/// copies would fill `max_remote_candidates` and the peer's real trickled
/// candidates would be refused. A request's transaction id is fresh per
/// transaction (RFC 8489 §5; RFC 8445 §19 on attacks on checks): the same
/// id from another source is a replay, neither answered nor learned from.
#[test]
fn one_replayed_check_does_not_fill_the_remote_candidate_table() {
    let now = Instant::now();
    let (mut a, local) = controlled(now, AgentConfig::default().max_remote_candidates);
    let captured = check(9);
    let mut buf = Vec::new();
    // The real peer's check.
    a.handle_receive(now, "192.0.2.2:6000".parse().unwrap(), local, &captured);
    while a.poll_transmit(now, &mut buf).is_some() {}
    // The same bytes from the attacker's ports (no spoofing needed).
    let mut accepted_data = 0;
    let mut answered = 0;
    for port in 1..=200u16 {
        let from = SocketAddr::from(([198, 51, 100, 66], port));
        a.handle_receive(now, from, local, &captured);
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            if t.destination == from {
                answered += 1;
            }
        }
        if matches!(
            a.handle_receive(now, from, local, b"\x17\xfe\xfdjunk"),
            Receive::Data(_)
        ) {
            accepted_data += 1;
        }
    }
    assert_eq!(accepted_data, 0, "data from replaying addresses accepted");
    assert_eq!(answered, 0, "replayed checks answered");
    let real: Candidate =
        "candidate:9 1 udp 1677729535 203.0.113.7 61665 typ srflx raddr 10.0.0.2 rport 5000"
            .parse()
            .unwrap();
    assert_eq!(a.add_remote_candidate(real), Ok(()));
}

/// Peer-reflexive remotes the agent never validated (each one checked it
/// from a new source, nothing more) give way to the peer's signalled
/// candidates when the table is full: a signalled candidate is refused
/// only when the table is full of candidates that are signalled or
/// validated. (Distinct transaction ids: not replays, but many sources.)
#[test]
fn unverified_peer_reflexive_remotes_give_way_to_signalled_candidates() {
    let now = Instant::now();
    let (mut a, local) = controlled(now, 4);
    let mut buf = Vec::new();
    for i in 0..4u16 {
        let from = SocketAddr::from(([203, 0, 113, 9], 20_000 + i));
        a.handle_receive(now, from, local, &check(i as u8));
        while a.poll_transmit(now, &mut buf).is_some() {}
    }
    // All four are peer-reflexive, none validated by a check of ours: the
    // peer's signalled candidates still get in.
    for i in 0..4 {
        assert_eq!(a.add_remote_candidate(remote(i)), Ok(()));
    }
    // The table is now full of signalled candidates: the next is refused.
    assert_eq!(
        a.add_remote_candidate(remote(4)),
        Err(Error::TooManyCandidates { limit: 4 })
    );
}

/// A peer-reflexive remote the controlling peer nominates (its check
/// carried USE-CANDIDATE, waiting for ours to succeed, RFC 8445 §7.3.1.5)
/// is not given up for a signalled candidate: the others are.
#[test]
fn a_peer_reflexive_remote_the_peer_nominates_is_not_given_up() {
    let now = Instant::now();
    let (mut a, local) = controlled(now, 2);
    let mut buf = Vec::new();
    let nominated = SocketAddr::from(([203, 0, 113, 9], 20_000));
    a.handle_receive(now, nominated, local, &check_with(0, true));
    let other = SocketAddr::from(([203, 0, 113, 9], 20_001));
    a.handle_receive(now, other, local, &check(1));
    while a.poll_transmit(now, &mut buf).is_some() {}
    assert_eq!(a.add_remote_candidate(remote(0)), Ok(()));
    assert_eq!(
        a.add_remote_candidate(remote(1)),
        Err(Error::TooManyCandidates { limit: 2 })
    );
    let paths = checked_paths(&mut a, now, Duration::from_secs(1));
    assert!(paths.contains(&(local, nominated)), "{paths:?}");
    assert!(!paths.iter().any(|(_, to)| *to == other), "{paths:?}");
}

/// A peer-reflexive remote given up for a signalled candidate takes its
/// pairs and their checks with it; the other pairs keep theirs: a check in
/// flight when the table moved still validates its own pair (and no
/// other) when its answer comes.
#[test]
fn forgetting_a_peer_reflexive_remote_keeps_the_other_checks_on_their_pairs() {
    let now = Instant::now();
    let (mut a, local) = controlled(now, 4);
    let mut buf = Vec::new();
    let prflx: Vec<SocketAddr> = (0..3u16)
        .map(|i| SocketAddr::from(([203, 0, 113, 9], 20_000 + i)))
        .collect();
    for (i, from) in prflx.iter().enumerate() {
        a.handle_receive(now, *from, local, &check(i as u8));
        while a.poll_transmit(now, &mut buf).is_some() {}
    }
    a.add_remote_candidate(remote(0)).unwrap();
    let r0 = remote(0).socket_addr().unwrap();
    let r1 = remote(1).socket_addr().unwrap();
    // Run until the check to the signalled candidate is in flight.
    let mut t = now;
    let mut to_r0 = None;
    while to_r0.is_none() && t < now + Duration::from_secs(2) {
        t += Duration::from_millis(10);
        a.handle_timeout(t);
        while let Some(tx) = a.poll_transmit(t, &mut buf) {
            let msg = Message::parse(&buf).unwrap();
            if tx.destination == r0 && msg.class() == Class::Request {
                to_r0 = Some(msg.transaction_id());
            }
        }
    }
    let to_r0 = to_r0.expect("no check to the signalled candidate");
    // The table is full: the next signalled candidate takes the place of
    // the first peer-reflexive remote.
    assert!(matches!(
        a.handle_receive(t, prflx[0], local, b"\x17\xfe\xfdx"),
        Receive::Data(_)
    ));
    a.add_remote_candidate(remote(1)).unwrap();
    assert!(!matches!(
        a.handle_receive(t, prflx[0], local, b"\x17\xfe\xfdx"),
        Receive::Data(_)
    ));
    assert!(matches!(
        a.handle_receive(t, prflx[1], local, b"\x17\xfe\xfdx"),
        Receive::Data(_)
    ));
    // The answer to the check in flight validates the pair it was for.
    let mut resp = Vec::new();
    let mut b = MessageBuilder::new(&mut resp, Class::SuccessResponse, Method::BINDING, to_r0);
    b.add(&Attribute::XorMappedAddress(local)).unwrap();
    b.add_message_integrity(PEER_PWD.as_bytes());
    b.finish();
    assert_eq!(a.handle_receive(t, r0, local, &resp), Receive::Stun);
    assert!(matches!(
        a.handle_receive(t, r0, local, b"\x17\xfe\xfdx"),
        Receive::Data(_)
    ));
    assert!(!matches!(
        a.handle_receive(t, r1, local, b"\x17\xfe\xfdx"),
        Receive::Data(_)
    ));
}
