//! How the agent's lists hold memory while they grow and once idle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use super::relay::{AskAgain, Relay};
use super::{Agent, Host};
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

/// The relayed address of the allocation [`with_relay`] adds.
const RELAYED: &str = "34.0.0.10:50000";

/// Adds to `agent` an allocation on a TURN server whose relayed address
/// [`RELAYED`] is a base (as `on_allocated` makes it), with the peers in
/// `ask_again`; returns the base's index in `agent.hosts`. (The client
/// never allocated: its requests fail, which these tests do not look at.)
fn with_relay(agent: &mut Agent, now: Instant, ask_again: HashMap<IpAddr, AskAgain>) -> usize {
    let server = "34.0.0.10:3478".parse().unwrap();
    let config = ferrtc_turn::ClientConfig::new(server, "alice", "secret");
    let candidate: Candidate =
        "candidate:9 1 udp 16777215 34.0.0.10 50000 typ relay raddr 10.0.0.1 rport 5000"
            .parse()
            .unwrap();
    agent.hosts.push(Host {
        addr: RELAYED.parse().unwrap(),
        candidate,
        local_preference: u16::MAX,
        relay: Some(0),
    });
    let base = agent.hosts.len() - 1;
    agent.relays.push(Relay {
        client: ferrtc_turn::Client::new(config, now),
        host_addr: "10.0.0.1:5000".parse().unwrap(),
        base: Some(base),
        pending: false,
        lost: false,
        ask_again,
    });
    base
}

/// A peer's address, 52.0.0.`i`.
fn peer(i: u8) -> IpAddr {
    IpAddr::from([52, 0, 0, i])
}

/// Signals [`peer`] `i`'s host candidate, port 6000: a pair with each base.
fn add_peer_host(agent: &mut Agent, i: u8) {
    let line = format!("candidate:{i} 1 udp 2000000000 52.0.0.{i} 6000 typ host");
    agent.add_remote_candidate(line.parse().unwrap()).unwrap();
}

/// RFC 8445 §9: an ICE restart empties the check list; an allocation that
/// lives on keeps its relayed base, and the permissions the agent was to
/// ask for again (lapsed, or waiting out a back-off) belong to pairs that
/// are gone: they are forgotten, not kept for the allocation's life (the
/// new generation's pairs ask for their own, RFC 8656 §10.1). Without a
/// selected pair through the relay nothing of them is used any more.
#[test]
fn an_ice_restart_forgets_the_permissions_to_ask_again_of_a_kept_allocation() {
    let now = Instant::now();
    let mut agent = agent(now);
    let peers = (1..=3).map(|i| (peer(i), AskAgain::lapsed(now))).collect();
    let base = with_relay(&mut agent, now, peers);
    agent.restart(now).unwrap();
    assert_eq!(agent.relays.len(), 1, "the allocation is kept");
    assert_eq!(agent.relays[0].base, Some(base), "with its relayed base");
    assert!(
        agent.relays[0].ask_again.is_empty(),
        "{:?}",
        agent.relays[0].ask_again
    );
}

/// RFC 8445 §9 and RFC 7675 §5.1: the selected pair runs through a kept
/// allocation and goes on carrying data and consent checks after the
/// restart, until the new generation selects; its peer's permission, to
/// be asked for again, stays so. The other peers' are forgotten.
#[test]
fn an_ice_restart_keeps_the_permission_to_ask_again_of_the_selected_relayed_pair() {
    let now = Instant::now();
    let mut agent = agent(now);
    let base = with_relay(&mut agent, now, HashMap::new());
    add_peer_host(&mut agent, 1);
    let relayed_pair = agent
        .pairs
        .iter()
        .position(|p| p.local == base)
        .expect("a pair from the relayed base");
    agent.select(now, relayed_pair);
    agent.relays[0].ask_again = (1..=3).map(|i| (peer(i), AskAgain::lapsed(now))).collect();
    agent.restart(now).unwrap();
    assert_eq!(
        agent.relays[0].ask_again,
        HashMap::from([(peer(1), AskAgain::lapsed(now))]),
    );
}

/// RFC 8489 §6.3.4: a client resending a request after a 5xx must limit
/// how many times; the agent asks a peer's permission again at most
/// [`super::relay::PERMISSION_RETRIES`] times in a row, after a back-off.
/// The count and the back-off are the peer's (a permission is per IP
/// address, RFC 8656 §9), not a pair's: a new pair to a peer whose
/// requests failed keeps its failures, and the one waiting out its
/// back-off still waits; one whose back-off is over is asked again now,
/// its failures kept.
#[test]
fn a_new_pair_to_a_peer_keeps_its_permission_failures_and_back_off() {
    let now = Instant::now();
    let mut agent = agent(now);
    let waiting = AskAgain {
        at: Some(now + std::time::Duration::from_secs(4)),
        failures: 3,
    };
    let waited = AskAgain {
        at: Some(now),
        failures: 2,
    };
    with_relay(
        &mut agent,
        now,
        HashMap::from([(peer(1), waiting), (peer(2), waited)]),
    );
    for i in 1..=2 {
        add_peer_host(&mut agent, i);
    }
    assert_eq!(
        agent.relays[0].ask_again,
        HashMap::from([
            (peer(1), waiting),
            (
                peer(2),
                AskAgain {
                    at: None,
                    failures: 2
                }
            ),
        ]),
    );
}

/// Review: RFC 8445 §8.1.1. The controlling agent's nominating check is in
/// flight on a relayed pair when its allocation goes away (here its TURN
/// TCP connection closes; an allocation that expires or gets 437 goes the
/// same way, `relay_gone`). The nomination is over with it: the agent
/// nominates the other valid pair, rather than wait for ever for an
/// answer to a check that was forgotten.
#[test]
fn a_nomination_through_an_allocation_that_ends_gives_way_to_another_pair() {
    let mut now = Instant::now();
    let mut agent = agent(now);
    let base = with_relay(&mut agent, now, HashMap::new());
    agent.relays[0].client = {
        let mut config =
            ferrtc_turn::ClientConfig::new("34.0.0.10:3478".parse().unwrap(), "alice", "secret");
        config.transport = crate::TurnTransport::Tcp;
        ferrtc_turn::Client::new(config, now)
    };
    add_peer_host(&mut agent, 1);
    let relayed = agent.pairs.iter().position(|p| p.local == base).unwrap();
    let host = agent.pairs.iter().position(|p| p.local != base).unwrap();
    // Both pairs valid; the relayed one is nominated first.
    for i in [relayed, host] {
        agent.pairs[i].state = super::PairState::Succeeded;
    }
    agent.pairs[relayed].priority = agent.pairs[host].priority + 1;
    agent.first_valid_at = Some(now);
    agent.nominate_best(now);
    assert!(agent.pairs[relayed].use_candidate);
    assert!(agent.turn_connection_closed(
        "10.0.0.1:5000".parse().unwrap(),
        "34.0.0.10:3478".parse().unwrap()
    ));
    let mut buf = Vec::new();
    let end = now + std::time::Duration::from_secs(60);
    while now < end && !agent.pairs[host].use_candidate {
        now += std::time::Duration::from_millis(50);
        agent.handle_timeout(now);
        while agent.poll_transmit(now, &mut buf).is_some() {}
    }
    assert!(
        agent.pairs[host].use_candidate || agent.pairs[host].nominated,
        "the other valid pair was never nominated (state {:?})",
        agent.connection_state()
    );
}

/// Review: RFC 8445 §8.1.1, as for an allocation that ends (above), on
/// ICE-TCP: the controlling agent's nominating check is in flight on a TCP
/// pair when that pair's connection closes (`handle_tcp_closed`). The
/// nomination is over with it: the agent nominates the other valid pair
/// rather than wait for ever for the answer to a forgotten check.
#[test]
fn a_nomination_through_a_tcp_connection_that_closes_gives_way_to_another_pair() {
    let mut now = Instant::now();
    let mut agent = agent(now);
    agent
        .add_local_tcp("10.0.0.1:6000".parse().unwrap())
        .unwrap();
    for i in 1..=2 {
        let line =
            format!("candidate:{i} 1 tcp 1000000000 52.0.0.{i} 7000 typ host tcptype passive");
        agent.add_remote_candidate(line.parse().unwrap()).unwrap();
    }
    let to = |agent: &Agent, i: u8| {
        agent
            .pairs
            .iter()
            .position(|p| {
                agent.hosts[p.local].protocol() == super::Protocol::Tcp
                    && agent.remotes[p.remote].addr.ip() == peer(i)
            })
            .unwrap()
    };
    let (first, other) = (to(&agent, 1), to(&agent, 2));
    for i in [first, other] {
        agent.pairs[i].state = super::PairState::Succeeded;
    }
    agent.pairs[first].priority = agent.pairs[other].priority + 1;
    agent.first_valid_at = Some(now);
    agent.nominate_best(now);
    assert!(agent.pairs[first].use_candidate);
    let local = agent.hosts[agent.pairs[first].local].addr;
    agent.handle_tcp_closed(now, local, "52.0.0.1:7000".parse().unwrap());
    let mut buf = Vec::new();
    let end = now + std::time::Duration::from_secs(60);
    while now < end && !agent.pairs[other].use_candidate {
        now += std::time::Duration::from_millis(50);
        agent.handle_timeout(now);
        while agent.poll_transmit(now, &mut buf).is_some() {}
    }
    assert!(
        agent.pairs[other].use_candidate || agent.pairs[other].nominated,
        "the other valid pair was never nominated (state {:?}, nominating {})",
        agent.connection_state(),
        agent.nominating
    );
}
