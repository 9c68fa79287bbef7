//! ICE agents on the deterministic simulated network (ferrtc-sim): links
//! with loss, NATs of every RFC 4787 kind, a STUN server, virtual time.
#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrtc_ice::{
    CandidateType, ConnectionState, Error, Event, FailureReason, PairState, PairTraffic,
};
use ferrtc_sim::{LinkConfig, NatConfig};

const PUBLIC_A: &str = "192.0.2.1";
const PUBLIC_B: &str = "192.0.2.2";

fn connected(s: ConnectionState) -> bool {
    matches!(s, ConnectionState::Connected | ConnectionState::Completed)
}

/// The reason attached to the first change to `state`, and when it happened.
fn state_change(peer: &Peer, state: ConnectionState) -> Option<(Instant, Option<FailureReason>)> {
    peer.events.iter().find_map(|(t, e)| match e {
        Event::ConnectionStateChange { state: s, reason } if *s == state => Some((*t, *reason)),
        _ => None,
    })
}

#[test]
fn two_public_hosts_connect_and_exchange_data_both_ways() {
    let mut call = Call::new(
        1,
        Side::public(PUBLIC_A, true, 1),
        Side::public(PUBLIC_B, false, 2),
    );
    let start = call.net.now();
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    // One round trip of 40 ms plus the nomination round trip.
    assert!(call.net.now() - start < Duration::from_millis(300));
    for peer in [call.peer_a(), call.peer_b()] {
        assert_eq!(
            peer.states(),
            [
                ConnectionState::Checking,
                ConnectionState::Connected,
                ConnectionState::Completed
            ]
        );
    }
    let sel = call.peer_a().agent.selected_pair().unwrap().clone();
    assert_eq!(sel.source, sa("192.0.2.1:5000"));
    assert_eq!(sel.destination, sa("192.0.2.2:5000"));
    call.assert_data_flows_both_ways("direct");
}

#[test]
fn selected_pair_round_trip_is_measured_from_checks_and_consent_checks() {
    // 10 ms on each access link, each way: 40 ms round trip, no jitter.
    let mut call = Call::new(
        3,
        Side::public(PUBLIC_A, true, 5),
        Side::public(PUBLIC_B, false, 6),
    );
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    let first = call.peer_a().agent.selected_pair_round_trip().unwrap();
    call.run_for(Duration::from_secs(20));
    for peer in [call.peer_a(), call.peer_b()] {
        let rtt = peer.agent.selected_pair_round_trip().unwrap();
        assert_eq!(rtt.current, Some(Duration::from_millis(40)));
        // Consent checks every ~5 s add measurements.
        assert!(rtt.responses_received >= 3, "{rtt:?}");
        assert_eq!(
            rtt.total,
            Duration::from_millis(40) * rtt.responses_received as u32
        );
    }
    assert!(
        first.responses_received
            < call
                .peer_a()
                .agent
                .selected_pair_round_trip()
                .unwrap()
                .responses_received
    );
}

#[test]
fn thirty_percent_loss_each_way_still_connects_and_keeps_consent() {
    // B's access link drops 30% of datagrams in each direction, so every
    // check and every response crosses one lossy link. Twenty seeds, all
    // must connect, move data both ways and keep consent for two minutes.
    for seed in 0..20 {
        let mut b = Side::public(PUBLIC_B, seed % 2 == 1, 2 * seed + 1);
        b.link = LinkConfig::IDEAL
            .with_delay(Duration::from_millis(20))
            .with_loss(0.3);
        let a = Side::public(PUBLIC_A, seed % 2 == 0, 2 * seed);
        let mut call = Call::new(30 + seed, a, b);
        assert!(
            call.run_until(Duration::from_secs(60), Call::both_connected),
            "seed {seed}: {:?} / {:?}",
            call.peer_a().states(),
            call.peer_b().states()
        );
        let (to_b, to_a) = call.exchange_data(20, "lossy");
        assert!(
            to_b >= 5 && to_a >= 5,
            "seed {seed}: a->b {to_b}, b->a {to_a}"
        );
        call.run_for(Duration::from_secs(120));
        // Disconnected is allowed (a few consent checks lost in a row),
        // failed (consent expired) is not.
        for peer in [call.peer_a(), call.peer_b()] {
            assert!(
                !peer.states().contains(&ConnectionState::Failed),
                "seed {seed}"
            );
        }
        let retransmitted = call.peer_a().agent.stats().retransmissions
            + call.peer_b().agent.stats().retransmissions;
        assert!(retransmitted > 0);
    }
}

#[test]
fn one_side_behind_each_nat_type_connects_through_a_stun_server() {
    let nat_ip = ip("203.0.113.1");
    let kinds = [
        ("full cone", NatConfig::full_cone(nat_ip)),
        ("restricted cone", NatConfig::restricted_cone(nat_ip)),
        (
            "port-restricted cone",
            NatConfig::port_restricted_cone(nat_ip),
        ),
        ("symmetric", NatConfig::symmetric(nat_ip)),
    ];
    for (seed, (name, nat)) in kinds.into_iter().enumerate() {
        let a = Side::behind(nat, "10.0.0.2", true, 10 + seed as u64);
        let mut b = Side::public(PUBLIC_B, false, 20 + seed as u64);
        b.stun = Some(sa(STUN_SERVER));
        let mut call = Call::new(seed as u64, a, b);
        assert!(
            call.run_until(Duration::from_secs(10), Call::both_connected),
            "{name}: not connected: {:?} / {:?}",
            call.peer_a().states(),
            call.peer_b().states()
        );
        // A learned its public address from the STUN server, related to its base.
        let srflx = call
            .peer_a()
            .agent
            .local_candidates()
            .find(|c| c.kind() == CandidateType::ServerReflexive)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: no srflx candidate"));
        assert_eq!(srflx.socket_addr().unwrap().ip(), nat_ip, "{name}");
        let (raddr, rport) = srflx.related_address().unwrap();
        assert_eq!((raddr.to_string(), rport), ("10.0.0.2".to_owned(), PORT));
        // B sees A at the NAT's public address.
        let b_sel = call.peer_b().agent.selected_pair().unwrap();
        assert_eq!(b_sel.destination.ip(), nat_ip, "{name}");
        call.assert_data_flows_both_ways(name);
    }
}

#[test]
fn both_sides_behind_port_restricted_nats_connect_with_reflexive_candidates() {
    let a = Side::behind(
        NatConfig::port_restricted_cone(ip("203.0.113.1")),
        "10.0.0.2",
        true,
        5,
    );
    let b = Side::behind(
        NatConfig::port_restricted_cone(ip("203.0.113.2")),
        "10.0.0.3",
        false,
        6,
    );
    let mut call = Call::new(7, a, b);
    assert!(call.run_until(Duration::from_secs(10), Call::both_connected));
    let a_sel = call.peer_a().agent.selected_pair().unwrap().clone();
    let b_sel = call.peer_b().agent.selected_pair().unwrap().clone();
    assert_eq!(a_sel.destination.ip(), ip("203.0.113.2"));
    assert_eq!(b_sel.destination.ip(), ip("203.0.113.1"));
    assert_ne!(a_sel.local.kind(), CandidateType::Host);
    call.assert_data_flows_both_ways("port-restricted");
}

#[test]
fn symmetric_nats_on_both_sides_fail_with_a_clear_reason_within_the_rfc_timeouts() {
    let a = Side::behind(NatConfig::symmetric(ip("203.0.113.1")), "10.0.0.2", true, 8);
    let b = Side::behind(
        NatConfig::symmetric(ip("203.0.113.2")),
        "10.0.0.3",
        false,
        9,
    );
    let mut call = Call::new(8, a, b);
    let start = call.net.now();
    let failed = |c: &Call| {
        c.peer_a().state() == ConnectionState::Failed
            && c.peer_b().state() == ConnectionState::Failed
    };
    assert!(call.run_until(Duration::from_secs(120), failed));
    for peer in [call.peer_a(), call.peer_b()] {
        let (at, reason) = state_change(peer, ConnectionState::Failed).unwrap();
        assert!(
            matches!(reason, Some(FailureReason::AllPairsFailed { pairs }) if pairs >= 2),
            "{reason:?}"
        );
        // RFC 8489 §6.2.1 with Rc = 7, Rm = 16, RTO 500 ms gives at most
        // 39.5 s per transaction; the checks start within the first second.
        assert!(
            at - start <= Duration::from_millis(40_500),
            "failed after {:?}",
            at - start
        );
        assert!(peer.states().iter().all(|s| !connected(*s)));
    }
    let peer = call.net.endpoint_mut(&call.a);
    assert_eq!(
        peer.agent.send(&mut b"x".to_vec()),
        Err(Error::NotConnected)
    );
}

fn role_conflict(controlling: bool) {
    let mut call = Call::new(
        11,
        Side::public(PUBLIC_A, controlling, 31),
        Side::public(PUBLIC_B, controlling, 32),
    );
    assert!(call.run_until(Duration::from_secs(10), Call::both_connected));
    let (a, b) = (call.peer_a(), call.peer_b());
    assert_ne!(a.agent.is_controlling(), b.agent.is_controlling());
    assert!(a.agent.stats().role_conflicts + b.agent.stats().role_conflicts > 0);
    let switched = [a, b]
        .iter()
        .filter(|p| {
            p.events
                .iter()
                .any(|(_, e)| matches!(e, Event::RoleChange { .. }))
        })
        .count();
    assert_eq!(switched, 1, "exactly one agent changes role");
    call.assert_data_flows_both_ways("conflict");
}

#[test]
fn both_controlling_resolve_the_role_conflict_and_connect() {
    role_conflict(true);
}

#[test]
fn both_controlled_resolve_the_role_conflict_and_connect() {
    role_conflict(false);
}

#[test]
fn consent_loss_leads_to_disconnected_then_failed() {
    let mut call = Call::new(
        12,
        Side::public(PUBLIC_A, true, 41),
        Side::public(PUBLIC_B, false, 42),
    );
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    call.run_for(Duration::from_secs(12));
    // Consent checks kept the pair alive so far.
    assert!(connected(call.peer_a().state()));
    // B vanishes: everything to and from it is lost.
    let cut = call.net.now();
    call.net
        .set_host_link(&call.b, LinkConfig::IDEAL.with_loss(1.0));
    assert!(call.run_until(Duration::from_secs(40), |c| {
        c.peer_a().state() == ConnectionState::Failed
    }));
    let a = call.peer_a();
    let (disc_at, disc_reason) = state_change(a, ConnectionState::Disconnected).unwrap();
    let (fail_at, fail_reason) = state_change(a, ConnectionState::Failed).unwrap();
    assert_eq!(disc_reason, Some(FailureReason::ConsentMissing));
    assert_eq!(fail_reason, Some(FailureReason::ConsentExpired));
    // RFC 7675 §5.1: consent expires 30 s after the last response, which
    // came at most one consent interval (5 s +20%) before the cut.
    assert!(disc_at > cut && disc_at - cut <= Duration::from_secs(8));
    assert!(fail_at - cut >= Duration::from_secs(24) && fail_at - cut <= Duration::from_secs(30));
    let peer = call.net.endpoint_mut(&call.a);
    assert_eq!(
        peer.agent.send(&mut b"late".to_vec()),
        Err(Error::NotConnected)
    );
}

/// B's interface 192.0.2.2 goes down; A sees the connection disconnected.
fn path_of_b_dies(call: &mut Call) {
    call.net
        .endpoint_mut(&call.b)
        .down
        .insert(sa("192.0.2.2:5000"));
    assert!(call.run_until(Duration::from_secs(15), |c| {
        c.peer_a().state() == ConnectionState::Disconnected
    }));
}

/// Both sides restart ICE (RFC 8445 §9), B with its other interface
/// 192.0.2.3, and the new credentials are exchanged.
fn restart_with_bs_other_interface(call: &mut Call) {
    let now = call.net.now();
    {
        let b = call.net.endpoint_mut(&call.b);
        b.agent.restart(now).unwrap();
        b.agent.add_local_host(sa("192.0.2.3:5000")).unwrap();
    }
    call.net.endpoint_mut(&call.a).agent.restart(now).unwrap();
    call.exchange_credentials();
}

#[test]
fn ice_restart_recovers_when_the_path_dies() {
    let mut b = Side::public(PUBLIC_B, false, 52);
    b.spare_addrs = vec![ip("192.0.2.3")];
    let mut call = Call::new(13, Side::public(PUBLIC_A, true, 51), b);
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    call.assert_data_flows_both_ways("before");
    path_of_b_dies(&mut call);
    // Restart on both sides; B now has its other interface.
    restart_with_bs_other_interface(&mut call);
    let restarted = call.net.now();
    assert!(call.run_until(Duration::from_secs(10), |c| {
        c.both_connected()
            && c.peer_a()
                .agent
                .selected_pair()
                .is_some_and(|s| s.destination == sa("192.0.2.3:5000"))
    }));
    assert!(call.net.now() - restarted < Duration::from_secs(2));
    let selections = call
        .peer_a()
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::SelectedPairChange(_)))
        .count();
    assert_eq!(selections, 2);
    call.assert_data_flows_both_ways("after");
}

/// W3C webrtc-stats `RTCIceCandidatePairStats`: `bytesSent`,
/// `bytesReceived`, `packetsSent` and `packetsReceived` count what went
/// over that pair, not the connection's totals, so the pair selected after
/// an ICE restart starts from nothing; `RTCTransportStats`
/// `selectedCandidatePairChanges` counts each selection.
#[test]
fn traffic_is_counted_per_pair_and_each_selection_counts_as_a_change() {
    let mut b = Side::public(PUBLIC_B, false, 52);
    b.spare_addrs = vec![ip("192.0.2.3")];
    let mut call = Call::new(13, Side::public(PUBLIC_A, true, 51), b);
    assert_eq!(call.peer_a().agent.stats().selected_pair_changes, 0);
    assert_eq!(call.peer_a().agent.selected_pair_traffic(), None);
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    assert_eq!(call.peer_a().agent.stats().selected_pair_changes, 1);
    call.assert_data_flows_both_ways("before");
    let first = call.peer_a().agent.selected_pair_traffic().unwrap();
    let totals = *call.peer_a().agent.stats();
    // The only pair so far carried everything.
    assert_eq!(first.bytes_sent, totals.bytes_sent);
    assert_eq!(first.bytes_received, totals.bytes_received);
    assert_eq!(first.packets_sent, 10);
    assert_eq!(first.packets_received, 10);
    path_of_b_dies(&mut call);
    restart_with_bs_other_interface(&mut call);
    assert!(call.run_until(Duration::from_secs(10), |c| {
        c.both_connected()
            && c.peer_a()
                .agent
                .selected_pair()
                .is_some_and(|s| s.destination == sa("192.0.2.3:5000"))
    }));
    assert_eq!(call.peer_a().agent.stats().selected_pair_changes, 2);
    let before = *call.peer_a().agent.stats();
    call.assert_data_flows_both_ways("after");
    let second = call.peer_a().agent.selected_pair_traffic().unwrap();
    let totals = *call.peer_a().agent.stats();
    assert_eq!(second.bytes_sent, totals.bytes_sent - before.bytes_sent);
    assert_eq!(
        second.bytes_received,
        totals.bytes_received - before.bytes_received
    );
    assert_eq!(second.packets_sent, 10);
    assert_eq!(second.packets_received, 10);
}

/// `candidate_pairs` shows the check list (RFC 8445 §6.1.2) as W3C
/// webrtc-stats `RTCIceCandidatePairStats` reports it: every pair with
/// its state, the selected one succeeded, nominated and flagged, with the
/// candidates and traffic the selected pair has. A is behind a NAT and
/// asks no STUN server: its local candidate is the peer-reflexive address
/// B's answer showed (RFC 8445 §7.2.5.3.1), as in the selected pair.
#[test]
fn candidate_pairs_show_each_pair_of_the_check_list_and_the_selected_one() {
    let mut a = Side::behind(
        NatConfig::full_cone(ip("203.0.113.1")),
        "10.0.0.2",
        true,
        61,
    );
    a.stun = None;
    let mut b = Side::public(PUBLIC_B, false, 62);
    b.addrs.push(ip("192.0.2.3"));
    let mut call = Call::new(14, a, b);
    assert_eq!(call.peer_a().agent.candidate_pairs().count(), 0);
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    call.assert_data_flows_both_ways("connected");
    let agent = &call.peer_a().agent;
    let pairs: Vec<_> = agent.candidate_pairs().collect();
    assert_eq!(pairs.len(), 2, "{pairs:?}");
    let selected: Vec<_> = pairs.iter().filter(|p| p.selected).collect();
    assert_eq!(selected.len(), 1, "{pairs:?}");
    let chosen = selected[0];
    assert_eq!(chosen.state, PairState::Succeeded);
    assert!(chosen.nominated);
    let in_use = agent.selected_pair().unwrap();
    assert_eq!(chosen.local, in_use.local);
    assert_eq!(chosen.remote, in_use.remote);
    assert_eq!(chosen.local.kind(), CandidateType::PeerReflexive);
    assert_eq!(Some(chosen.traffic), agent.selected_pair_traffic());
    assert!(chosen.round_trip.responses_received >= 1);
    let other = pairs.iter().find(|p| !p.selected).unwrap();
    assert!(!other.nominated);
    assert_ne!(other.remote, chosen.remote);
    assert_eq!(other.traffic, PairTraffic::default());
}

/// RFC 7675 §5.1 says to stop sending on a pair whose consent expired;
/// it does not end an ICE restart (RFC 8445 §9) that is under way, whose
/// new check list is a separate matter. Here the path dies, both sides
/// restart at once, but the peer's new candidates reach A late (slow
/// signalling after the same network change): the old pair's consent
/// expires meanwhile, and A still checks the new candidates when they
/// arrive, and connects.
#[test]
fn consent_expiry_of_the_old_pair_does_not_abort_an_ice_restart_in_progress() {
    let mut b = Side::public(PUBLIC_B, false, 52);
    b.spare_addrs = vec![ip("192.0.2.3")];
    let mut call = Call::new(13, Side::public(PUBLIC_A, true, 51), b);
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    path_of_b_dies(&mut call);
    // Both restart now; credentials are exchanged at once...
    restart_with_bs_other_interface(&mut call);
    // ...but the candidates are held by slow signalling for 25 s, past
    // the old pair's consent timeout.
    call.auto_signal = false;
    let a_signals = call.take_signals(true);
    let b_signals = call.take_signals(false);
    call.run_for(Duration::from_secs(25));
    let state_before = call.peer_a().state();
    assert_ne!(state_before, ConnectionState::Failed);
    assert!(call.peer_a().agent.selected_pair().is_none());
    call.deliver(false, a_signals);
    call.deliver(true, b_signals);
    call.auto_signal = true;
    let ok = call.run_until(Duration::from_secs(20), Call::both_connected);
    assert!(
        ok,
        "A state {:?} (was {:?} when the candidates arrived), B state {:?}: \
         the restart was abandoned",
        call.peer_a().state(),
        state_before,
        call.peer_b().state()
    );
    assert_eq!(
        call.peer_a().agent.selected_pair().map(|s| s.destination),
        Some(sa("192.0.2.3:5000"))
    );
    call.assert_data_flows_both_ways("after");
}

#[test]
fn ice_restart_while_connected_keeps_the_old_pair_until_the_new_one_is_selected() {
    let mut call = Call::new(
        14,
        Side::public(PUBLIC_A, true, 61),
        Side::public(PUBLIC_B, false, 62),
    );
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    let now = call.net.now();
    let old_ufrag = call.peer_a().agent.local_credentials().ufrag().to_owned();
    call.net.endpoint_mut(&call.a).agent.restart(now).unwrap();
    assert_ne!(call.peer_a().agent.local_credentials().ufrag(), old_ufrag);
    // Before the peer even hears of the restart, data still flows.
    let (to_b, to_a) = call.exchange_data(3, "during");
    assert_eq!((to_b, to_a), (3, 3));
    let now = call.net.now();
    call.net.endpoint_mut(&call.b).agent.restart(now).unwrap();
    call.exchange_credentials();
    let count = |p: &Peer| {
        p.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::SelectedPairChange(_)))
            .count()
    };
    assert!(
        call.run_until(Duration::from_secs(5), |c| count(c.peer_a()) == 2
            && count(c.peer_b()) == 2)
    );
    assert!(connected(call.peer_a().state()));
    call.assert_data_flows_both_ways("restarted");
}

#[test]
fn trickled_candidates_arriving_late_and_out_of_order_still_connect() {
    let mut a = Side::public(PUBLIC_A, true, 71);
    a.addrs.push(ip("192.0.2.11"));
    let mut b = Side::public(PUBLIC_B, false, 72);
    b.addrs.push(ip("192.0.2.12"));
    let mut call = Call::without_signaling(15, a, b);
    call.auto_signal = false;
    // A knows B's credentials at once; B learns A's only later (trickle:
    // A's checks reach B before B knows anything about A).
    call.give_credentials(true);
    call.run_for(Duration::from_millis(100));
    let split = |s: Vec<_>| -> (Vec<_>, bool) {
        let eoc = s.iter().any(Option::is_none);
        (s.into_iter().filter(Option::is_some).rev().collect(), eoc)
    };
    let (from_b, b_done) = split(call.take_signals(false));
    let (from_a, a_done) = split(call.take_signals(true));
    assert!(b_done && a_done && from_a.len() == 2 && from_b.len() == 2);
    // B's candidates reach A late and in reverse order...
    call.run_for(Duration::from_millis(300));
    call.deliver(true, from_b);
    // ...B answers A's checks without knowing A (peer-reflexive)...
    call.run_for(Duration::from_millis(300));
    assert!(call.peer_b().agent.stats().responses_sent > 0);
    // ...then B gets A's credentials and one candidate, the other much later.
    call.give_credentials(false);
    let mut from_a = from_a;
    let last = from_a.pop();
    call.deliver(false, from_a);
    call.run_for(Duration::from_millis(400));
    call.deliver(false, vec![last.flatten(), None]);
    call.deliver(true, vec![None]);
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    call.assert_data_flows_both_ways("trickle");
    assert!(call.run_until(Duration::from_secs(2), |c| {
        c.peer_a().state() == ConnectionState::Completed
            && c.peer_b().state() == ConnectionState::Completed
    }));
}

#[test]
fn a_full_agent_connects_to_an_ice_lite_peer() {
    // A is configured controlled, but a full agent facing a lite one must
    // control (RFC 8445 §6.1.1).
    let a = Side::public(PUBLIC_A, false, 81);
    let mut b = Side::public(PUBLIC_B, false, 82);
    b.config.lite = true;
    let mut call = Call::new(16, a, b);
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    assert!(call.peer_a().agent.is_controlling());
    assert!(!call.peer_b().agent.is_controlling());
    assert_eq!(
        call.peer_b().agent.stats().checks_sent,
        0,
        "lite agents send no checks"
    );
    call.assert_data_flows_both_ways("lite");
}

#[test]
fn a_controlled_agent_follows_aggressive_nomination() {
    let mut a = Side::public(PUBLIC_A, true, 91);
    a.config.aggressive_nomination = true;
    a.addrs.push(ip("192.0.2.21"));
    let mut call = Call::new(17, a, Side::public(PUBLIC_B, false, 92));
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    call.run_for(Duration::from_secs(1));
    // Both ends agree on the pair in use.
    let a_sel = call.peer_a().agent.selected_pair().unwrap().clone();
    let b_sel = call.peer_b().agent.selected_pair().unwrap().clone();
    assert_eq!(
        (a_sel.source, a_sel.destination),
        (b_sel.destination, b_sel.source)
    );
    call.assert_data_flows_both_ways("aggressive");
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = || {
        let lossy = LinkConfig::IDEAL
            .with_delay(Duration::from_millis(15))
            .with_loss(0.2);
        let mut a = Side::public(PUBLIC_A, true, 5);
        a.link = lossy;
        let mut call = Call::new(99, a, Side::public(PUBLIC_B, false, 6));
        call.run_for(Duration::from_secs(3));
        call.net.trace_hash()
    };
    assert_eq!(run(), run());
}

/// A second ICE restart before the first one selected a pair (a restart
/// during a restart, RFC 8445 §9) keeps answering the peer's checks on the
/// pair still in use: that pair belongs to the generation before both
/// restarts, and its consent (RFC 7675 §5.1) must not expire on the peer's
/// side while the new generation is negotiated.
#[test]
fn a_restart_during_a_restart_keeps_the_peers_consent_on_the_old_pair() {
    let mut call = Call::new(
        16,
        Side::public(PUBLIC_A, true, 63),
        Side::public(PUBLIC_B, false, 64),
    );
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    let now = call.net.now();
    call.net.endpoint_mut(&call.a).agent.restart(now).unwrap();
    call.run_for(Duration::from_millis(200));
    let now = call.net.now();
    call.net.endpoint_mut(&call.a).agent.restart(now).unwrap();
    // The signalling of the restart is slow: past B's consent timeout.
    call.run_for(Duration::from_secs(40));
    for (name, peer) in [("A", call.peer_a()), ("B", call.peer_b())] {
        assert!(
            connected(peer.state()),
            "{name}: {:?}, states {:?}",
            peer.state(),
            peer.states()
        );
    }
    let (to_b, to_a) = call.exchange_data(3, "during");
    assert_eq!((to_b, to_a), (3, 3));
    // The restart then completes on the new generation.
    let now = call.net.now();
    call.net.endpoint_mut(&call.b).agent.restart(now).unwrap();
    call.exchange_credentials();
    assert!(call.run_until(Duration::from_secs(5), |c| {
        c.both_connected()
            && c.peer_a().agent.selected_pair().is_some()
            && c.peer_b().agent.selected_pair().is_some()
    }));
    call.assert_data_flows_both_ways("restarted");
}

/// An ICE restart (RFC 8445 §9) starts gathering and checking over:
/// `completed` (W3C webrtc-pc §5.6: gathering finished, the peer's
/// end-of-candidates received, checks done) no longer holds, so a
/// completed agent goes back to `connected` while the selected pair keeps
/// carrying data, and to `completed` again once the new generation is
/// done on both sides.
#[test]
fn an_ice_restart_from_completed_goes_back_to_connected_until_the_new_generation_completes() {
    let mut call = Call::new(
        17,
        Side::public(PUBLIC_A, true, 65),
        Side::public(PUBLIC_B, false, 66),
    );
    assert!(call.run_until(Duration::from_secs(5), |c| {
        c.peer_a().state() == ConnectionState::Completed
    }));
    call.auto_signal = false;
    let now = call.net.now();
    call.net.endpoint_mut(&call.a).agent.restart(now).unwrap();
    call.run_for(Duration::from_millis(100));
    assert_eq!(call.peer_a().state(), ConnectionState::Connected);
    let (to_b, to_a) = call.exchange_data(3, "during");
    assert_eq!((to_b, to_a), (3, 3));
    let now = call.net.now();
    call.net.endpoint_mut(&call.b).agent.restart(now).unwrap();
    call.exchange_credentials();
    call.auto_signal = true;
    assert!(call.run_until(Duration::from_secs(5), |c| {
        c.peer_a().state() == ConnectionState::Completed
            && c.peer_b().state() == ConnectionState::Completed
    }));
    call.assert_data_flows_both_ways("restarted");
}

/// After an ICE restart from `completed`, the agent does not go
/// `completed` again on the old pair as soon as the new generation's
/// end-of-candidates comes and gathering ends: the new generation has not
/// selected a pair yet (W3C webrtc-pc §5.6 `completed`: checks done, a
/// connection found). Completed comes after the new pair is selected.
#[test]
fn a_restart_from_completed_is_not_completed_before_the_new_pair_is_selected() {
    let mut call = Call::new(
        18,
        Side::public(PUBLIC_A, true, 67),
        Side::public(PUBLIC_B, false, 68),
    );
    assert!(call.run_until(Duration::from_secs(5), |c| {
        c.peer_a().state() == ConnectionState::Completed
    }));
    let seen = call.peer_a().events.len();
    let now = call.net.now();
    call.net.endpoint_mut(&call.a).agent.restart(now).unwrap();
    call.net.endpoint_mut(&call.b).agent.restart(now).unwrap();
    call.exchange_credentials();
    assert!(call.run_until(Duration::from_secs(5), |c| {
        c.peer_a().state() == ConnectionState::Completed
            && c.peer_a().events[seen..]
                .iter()
                .any(|(_, e)| matches!(e, Event::SelectedPairChange(_)))
    }));
    let events = &call.peer_a().events[seen..];
    let selected_at = events
        .iter()
        .position(|(_, e)| matches!(e, Event::SelectedPairChange(_)))
        .unwrap();
    let completed_at = events
        .iter()
        .position(|(_, e)| {
            matches!(
                e,
                Event::ConnectionStateChange {
                    state: ConnectionState::Completed,
                    ..
                }
            )
        })
        .unwrap();
    assert!(
        completed_at > selected_at,
        "completed (event {completed_at}) before the new pair was selected (event {selected_at}): {:?}",
        events
            .iter()
            .map(|(t, e)| (*t - now, e))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_disconnected_agent_reconnects_when_consent_responses_resume() {
    let mut call = Call::new(
        14,
        Side::public(PUBLIC_A, true, 61),
        Side::public(PUBLIC_B, false, 62),
    );
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    call.net
        .set_host_link(&call.b, LinkConfig::IDEAL.with_loss(1.0));
    assert!(call.run_until(Duration::from_secs(15), |c| {
        c.peer_a().state() == ConnectionState::Disconnected
    }));
    // The path comes back before consent expires (RFC 7675 §5.1: 30 s):
    // the next consent response makes the agent connected again.
    let seen = call.peer_a().events.len();
    call.net.set_host_link(&call.b, LinkConfig::IDEAL);
    assert!(call.run_until(Duration::from_secs(10), |c| connected(c.peer_a().state())));
    call.run_for(Duration::from_secs(40));
    assert!(connected(call.peer_a().state()));
    assert!(connected(call.peer_b().state()));
    assert!(!call.peer_a().events[seen..].iter().any(|(_, e)| matches!(
        e,
        Event::ConnectionStateChange {
            state: ConnectionState::Failed,
            ..
        }
    )),);
    call.assert_data_flows_both_ways("after the outage");
}

/// W3C webrtc-stats `selectedCandidatePairChanges` counts changes of the
/// selected pair: an ICE restart (RFC 8445 §9) whose new generation
/// selects a pair on the same addresses both ends changes it all the same,
/// as the `selectedcandidatepairchange` event says (W3C webrtc-pc §5.6):
/// the new generation's candidates carry new ufrags, so its pair is
/// another pair (for `RTCIceCandidatePairStats` too: its traffic counts
/// from zero).
#[test]
fn an_ice_restart_that_keeps_the_addresses_is_a_selected_pair_change() {
    let mut call = Call::new(
        14,
        Side::public(PUBLIC_A, true, 61),
        Side::public(PUBLIC_B, false, 62),
    );
    assert!(call.run_until(Duration::from_secs(5), Call::both_connected));
    call.assert_data_flows_both_ways("before");
    let before = call.peer_a().agent.selected_pair_traffic().unwrap();
    let now = call.net.now();
    call.net.endpoint_mut(&call.a).agent.restart(now).unwrap();
    let now = call.net.now();
    call.net.endpoint_mut(&call.b).agent.restart(now).unwrap();
    call.exchange_credentials();
    let count = |p: &Peer| {
        p.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::SelectedPairChange(_)))
            .count()
    };
    assert!(
        call.run_until(Duration::from_secs(5), |c| count(c.peer_a()) == 2
            && count(c.peer_b()) == 2)
    );
    assert_eq!(call.peer_a().agent.stats().selected_pair_changes, 2);
    assert_eq!(call.peer_b().agent.stats().selected_pair_changes, 2);
    call.assert_data_flows_both_ways("after");
    let after = call.peer_a().agent.selected_pair_traffic().unwrap();
    assert_eq!(before.packets_sent, 10, "{before:?}");
    assert_eq!(after.packets_sent, 10, "{after:?}");
}
