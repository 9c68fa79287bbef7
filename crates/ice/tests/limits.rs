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
    b.add_message_integrity(LOCAL_PWD.as_bytes());
    b.finish();
    buf
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
    let config = AgentConfig {
        controlling: false,
        max_remote_candidates: 4,
        ..AgentConfig::default()
    };
    let mut a = agent(now, config, &["192.0.2.1:5000"]);
    let local: SocketAddr = "192.0.2.1:5000".parse().unwrap();
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
