//! How the agent's lists hold memory while they grow and once idle.

use std::time::Instant;

use super::Agent;
use crate::{AgentConfig, Candidate};

/// A host agent that has the peer's credentials: checks may start.
fn agent(now: Instant) -> Agent {
    let config = AgentConfig {
        controlling: true,
        seed: Some(1),
        max_remote_candidates: 256,
        max_pairs: 256,
        ..AgentConfig::default()
    };
    let mut agent = Agent::new(config, now);
    agent
        .add_local_host("10.0.0.1:5000".parse().unwrap())
        .unwrap();
    agent
        .set_remote_credentials("peer", "peerpasswordpeerpassword")
        .unwrap();
    agent
}

fn remote(i: usize) -> Candidate {
    let line = format!(
        "candidate:{i} 1 udp {} 10.1.{}.{} 5000 typ host",
        2_000_000_000 - i,
        i / 250,
        i % 250 + 1
    );
    line.parse().unwrap()
}

/// Trickle: one candidate, then the drive order's `poll_transmit` until
/// `None`, as core does after each `addIceCandidate`.
#[test]
fn trickled_candidates_grow_the_lists_by_doubling_not_one_reallocation_each() {
    let now = Instant::now();
    let mut agent = agent(now);
    let mut buf = Vec::new();
    let (mut remotes_moved, mut pairs_moved) = (0, 0);
    for i in 0..200 {
        let (remotes, pairs) = (agent.remotes.capacity(), agent.pairs.capacity());
        agent.add_remote_candidate(remote(i)).unwrap();
        while agent.poll_transmit(now, &mut buf).is_some() {}
        remotes_moved += usize::from(agent.remotes.capacity() != remotes);
        pairs_moved += usize::from(agent.pairs.capacity() != pairs);
    }
    assert_eq!(agent.remotes.len(), 200);
    // Doubling from 4 to 256: 7 reallocations; shrink_to_fit on every
    // empty poll made one per candidate.
    assert!(
        remotes_moved <= 8,
        "remotes reallocated {remotes_moved} times"
    );
    assert!(pairs_moved <= 8, "pairs reallocated {pairs_moved} times");
}

#[test]
fn capacity_far_above_use_is_given_back_while_checks_go_on() {
    let now = Instant::now();
    let mut agent = agent(now);
    let mut buf = Vec::new();
    for i in 0..100 {
        agent.add_remote_candidate(remote(i)).unwrap();
    }
    agent.restart(now).unwrap();
    while agent.poll_transmit(now, &mut buf).is_some() {}
    assert!(agent.remotes.capacity() <= super::TRIM_FLOOR);
    assert!(agent.pairs.capacity() <= super::TRIM_FLOOR);
}

/// RFC 8445 §9: an ICE restart empties the check list; an allocation that
/// lives on keeps its relayed base, and the permissions the agent was to
/// ask for again (lapsed, or waiting out a back-off) belong to pairs that
/// are gone: they are forgotten, not kept for the allocation's life (the
/// new generation's pairs ask for their own, RFC 8656 §10.1). Without a
/// selected pair through the relay nothing of them is used any more.
#[test]
fn an_ice_restart_forgets_the_permissions_to_ask_again_of_a_kept_allocation() {
    use std::collections::HashMap;

    use super::relay::{AskAgain, Relay};

    let now = Instant::now();
    let mut agent = agent(now);
    let server = "34.0.0.10:3478".parse().unwrap();
    let config = ferrtc_turn::ClientConfig::new(server, "alice", "secret");
    let peers: HashMap<_, _> = (1..=3u8)
        .map(|i| {
            let ip = std::net::IpAddr::from([52, 0, 0, i]);
            (ip, AskAgain::lapsed(now))
        })
        .collect();
    agent.relays.push(Relay {
        client: ferrtc_turn::Client::new(config, now),
        host_addr: "10.0.0.1:5000".parse().unwrap(),
        base: None,
        pending: true,
        lost: false,
        ask_again: peers,
    });
    agent.restart(now).unwrap();
    assert_eq!(agent.relays.len(), 1, "the allocation is kept");
    assert!(
        agent.relays[0].ask_again.is_empty(),
        "{:?}",
        agent.relays[0].ask_again
    );
}
