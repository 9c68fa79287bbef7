//! Relayed candidates on the simulated network: two agents behind
//! symmetric NATs (where checks between their reflexive addresses fail, see
//! `sim.rs`) connect through the sans-IO TURN server of `ferrtc-turn`,
//! carry data both ways, deallocate on close, and re-allocate after an ICE
//! restart; wrong credentials end in an `icecandidateerror` (401).
//!
//! The addresses are ordinary public ones (the TURN server refuses to relay
//! to documentation ranges); nothing leaves the simulation.

mod common;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Call, Side, ip, sa};
use ferrtc_ice::{AgentConfig, CandidateType, ConnectionState, Event, TurnTransport};
use ferrtc_sim::{Endpoint, LinkConfig, NatConfig, Transmit};
use ferrtc_turn::server::{
    AllocationId, Credentials, FiveTuple, Output, PEER_HEADROOM, PEER_TAILROOM, Server,
    ServerConfig, ServerEvent, Transport,
};

const TURN: &str = "34.0.0.10:3478";

/// The TURN server as a host: its listener on port 3478, one relay port
/// per allocation from 50000 up.
struct TurnHost {
    /// Its listener.
    addr: SocketAddr,
    server: Server,
    queue: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    relays: HashMap<SocketAddr, AllocationId>,
    next_port: u16,
    /// Allocations closed (deallocated or expired).
    closed: usize,
    /// CreatePermission requests are lost on the way in (the server never
    /// sees them), as on a path that drops them.
    lose_permission_requests: bool,
    /// How many were lost so.
    lost_permission_requests: usize,
    /// Every CreatePermission request that reached the host.
    permission_requests: usize,
    /// CreatePermission requests are answered with this error (signed, as
    /// a server that is short of resources answers: 500 Server Error, 508
    /// Insufficient Capacity), not handed to the server.
    refuse_permission_requests: Option<u16>,
    /// How many were answered so.
    refused_permission_requests: usize,
    /// Refresh requests are lost on the way in, as on a path that drops
    /// them: the allocations expire (RFC 8656 §8).
    lose_refresh_requests: bool,
}

impl TurnHost {
    fn new(now: Instant) -> TurnHost {
        TurnHost::at(now, sa(TURN))
    }

    /// A server listening on `addr`.
    fn at(now: Instant, addr: SocketAddr) -> TurnHost {
        let users = HashMap::from([("alice".to_owned(), "secret".to_owned())]);
        let config = ServerConfig::new("ferrtc.test", Credentials::new(users, None), b"k");
        TurnHost {
            addr,
            server: Server::new(config, now, 1_800_000_000),
            queue: VecDeque::new(),
            relays: HashMap::new(),
            next_port: 50000,
            closed: 0,
            lose_permission_requests: false,
            lost_permission_requests: 0,
            permission_requests: 0,
            refuse_permission_requests: None,
            refused_permission_requests: 0,
            lose_refresh_requests: false,
        }
    }

    fn allocations(&self) -> usize {
        self.server.allocation_count()
    }
}

impl Endpoint for TurnHost {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        if dest == self.addr {
            if self.lose_refresh_requests
                && ferrtc_stun::Message::parse(data).is_ok_and(|m| {
                    m.method() == ferrtc_stun::Method::REFRESH
                        && m.class() == ferrtc_stun::Class::Request
                })
            {
                return;
            }
            if ferrtc_stun::Message::parse(data).is_ok_and(|m| {
                m.method() == ferrtc_stun::Method::CREATE_PERMISSION
                    && m.class() == ferrtc_stun::Class::Request
            }) {
                self.permission_requests += 1;
            }
            if self.lose_permission_requests
                && ferrtc_stun::Message::parse(data)
                    .is_ok_and(|m| m.method() == ferrtc_stun::Method::CREATE_PERMISSION)
            {
                self.lost_permission_requests += 1;
                return;
            }
            if let Some(code) = self.refuse_permission_requests
                && let Some(answer) = signed_error(data, code)
            {
                self.refused_permission_requests += 1;
                self.queue.push_back((dest, source, answer));
                return;
            }
            let tuple = FiveTuple {
                transport: Transport::Udp,
                client: source,
                server: dest,
            };
            let mut out = Vec::new();
            match self.server.handle_client(now, tuple, data, &mut out) {
                Output::Nothing => {}
                Output::Reply => self.queue.push_back((dest, source, out)),
                Output::Relay {
                    allocation,
                    peer,
                    data: range,
                } => {
                    if let Some((&relay, _)) = self.relays.iter().find(|(_, a)| **a == allocation) {
                        self.queue.push_back((relay, peer, data[range].to_vec()));
                    }
                }
                Output::OpenRelay { pending, .. } => {
                    self.next_port += 2;
                    let relayed = SocketAddr::new(dest.ip(), self.next_port);
                    let opened = self
                        .server
                        .relay_opened(now, pending, Some(relayed), &mut out);
                    if let Some(opened) = opened {
                        if let Some(a) = opened.allocation {
                            self.relays.insert(relayed, a);
                        }
                        self.queue
                            .push_back((opened.tuple.server, opened.tuple.client, out));
                    }
                }
            }
            return;
        }
        let Some(&allocation) = self.relays.get(&dest) else {
            return;
        };
        let mut buf = vec![0u8; PEER_HEADROOM + data.len() + PEER_TAILROOM];
        buf[PEER_HEADROOM..PEER_HEADROOM + data.len()].copy_from_slice(data);
        let range = PEER_HEADROOM..PEER_HEADROOM + data.len();
        if let Some(to) = self
            .server
            .handle_peer(now, allocation, source, &mut buf, range)
        {
            self.queue
                .push_back((to.tuple.server, to.tuple.client, buf[to.message].to_vec()));
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (source, destination, data) = self.queue.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&data);
        Some(Transmit {
            source,
            destination,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        while let Some(e) = self.server.poll_event() {
            if let ServerEvent::Closed(a) = e {
                self.relays.retain(|_, x| *x != a);
                self.closed += 1;
            }
        }
    }
}

/// An error response with ERROR-CODE `code` to the CreatePermission
/// request `data`, signed with alice's long-term key as the request was
/// (RFC 8489 §9.2.4: MESSAGE-INTEGRITY-SHA256 or MESSAGE-INTEGRITY).
fn signed_error(data: &[u8], code: u16) -> Option<Vec<u8>> {
    use ferrtc_stun::{Attribute, Class, MessageBuilder, Method, PasswordAlgorithm};
    let request = ferrtc_stun::Message::parse(data).ok()?;
    if request.method() != Method::CREATE_PERMISSION || request.class() != Class::Request {
        return None;
    }
    let sha256 = request.has_message_integrity_sha256();
    let algorithm = if sha256 {
        PasswordAlgorithm::Sha256
    } else {
        PasswordAlgorithm::Md5
    };
    let key = ferrtc_stun::long_term_key("alice", "ferrtc.test", "secret", algorithm);
    let mut out = Vec::new();
    let mut b = MessageBuilder::new(
        &mut out,
        Class::ErrorResponse,
        Method::CREATE_PERMISSION,
        request.transaction_id(),
    );
    b.add(&Attribute::ErrorCode {
        code,
        reason: "try later",
    })
    .ok()?;
    if sha256 {
        b.add_message_integrity_sha256(&key);
    } else {
        b.add_message_integrity(&key);
    }
    b.add_fingerprint();
    b.finish();
    Some(out)
}

fn symmetric_side(nat_ip: &str, host: &str, controlling: bool, seed: u64) -> Side {
    let mut side = Side::public(host, controlling, seed);
    side.nat = Some(NatConfig::symmetric(ip(nat_ip)));
    side
}

/// Two agents behind symmetric NATs with the TURN server in the network.
fn relayed_call(seed: u64, password: &str) -> (Call, ferrtc_sim::HostId<TurnHost>) {
    relayed_call_as(seed, password, |_| {})
}

/// [`relayed_call`] with the right credentials and both agents'
/// configuration changed by `configure`.
fn relayed_call_with(
    seed: u64,
    configure: impl Fn(&mut AgentConfig),
) -> (Call, ferrtc_sim::HostId<TurnHost>) {
    relayed_call_as(seed, "secret", configure)
}

/// [`relayed_call_with`] run until both agents are connected (within
/// 30 s), through the relay.
fn connected_relayed_call_with(
    seed: u64,
    configure: impl Fn(&mut AgentConfig),
) -> (Call, ferrtc_sim::HostId<TurnHost>) {
    let (mut call, turn) = relayed_call_with(seed, configure);
    assert!(call.run_until(Duration::from_secs(30), |c| c.both_connected()));
    (call, turn)
}

/// [`relayed_call`] with the right credentials and the agents' default
/// configuration, run until both are connected (within 30 s).
fn connected_relayed_call(seed: u64) -> (Call, ferrtc_sim::HostId<TurnHost>) {
    connected_relayed_call_with(seed, |_| {})
}

/// Runs `call` until both agents are connected again, within `within`;
/// `what` and both agents' states say which did not.
fn assert_both_reconnect(call: &mut Call, within: Duration, what: &str) {
    assert!(
        call.run_until(within, |c| c.both_connected()),
        "{what}: a: {:?}, b: {:?}",
        call.peer_a().states(),
        call.peer_b().states()
    );
}

/// The relay requests (Allocate, Refresh, CreatePermission...) that
/// failed, both agents together.
fn relay_request_failures(c: &Call) -> u64 {
    c.peer_a().agent.stats().relay_request_failures
        + c.peer_b().agent.stats().relay_request_failures
}

fn relayed_call_as(
    seed: u64,
    password: &str,
    configure: impl Fn(&mut AgentConfig),
) -> (Call, ferrtc_sim::HostId<TurnHost>) {
    let mut a = symmetric_side("52.0.0.1", "10.0.0.2", true, seed);
    let mut b = symmetric_side("52.0.0.2", "10.0.0.3", false, seed + 1);
    configure(&mut a.config);
    configure(&mut b.config);
    let mut call = Call::new(seed, a, b);
    let now = call.net.now();
    let turn = call
        .net
        .add_host(
            [ip("34.0.0.10")],
            LinkConfig::IDEAL.with_delay(Duration::from_millis(5)),
            TurnHost::new(now),
        )
        .unwrap();
    for id in [call.a, call.b] {
        call.net
            .endpoint_mut(&id)
            .agent
            .add_turn_server(sa(TURN), TurnTransport::Udp, "alice", password)
            .unwrap();
    }
    (call, turn)
}

#[test]
fn two_symmetric_nats_connect_through_a_relay_and_carry_data_both_ways() {
    let (mut call, turn) = connected_relayed_call(40);
    let a = call.peer_a().agent.selected_pair().unwrap().clone();
    let b = call.peer_b().agent.selected_pair().unwrap().clone();
    // Direct checks between symmetric NATs fail: at least one end relays.
    assert!(
        a.local.kind() == CandidateType::Relayed || a.remote.kind() == CandidateType::Relayed,
        "{a:?}"
    );
    assert!(
        b.local.kind() == CandidateType::Relayed || b.remote.kind() == CandidateType::Relayed,
        "{b:?}"
    );
    assert_eq!(call.net.endpoint(&turn).allocations(), 2);
    call.assert_data_flows_both_ways("relayed");

    // Closing deallocates at once (RFC 8656 §8.1), not at expiry. (An
    // allocation the selected pair does not use sends nothing for minutes:
    // behind a NAT whose mapping expired meanwhile, its deallocation comes
    // from a new 5-tuple and is refused with 437; the server expires it.)
    for id in [call.a, call.b] {
        call.net.endpoint_mut(&id).agent.close();
    }
    call.net.run_for(Duration::from_secs(1));
    assert_eq!(call.net.endpoint(&turn).allocations(), 0);
}

#[test]
fn an_ice_restart_through_the_relay_reconnects_on_the_same_allocations() {
    let (mut call, turn) = connected_relayed_call(41);
    let connected = Call::both_connected;
    // Consent through the relay keeps the pair for a minute.
    assert!(!call.run_until(Duration::from_secs(60), |c| !connected(c)));
    let now = call.net.now();
    call.net.endpoint_mut(&call.a).agent.restart(now).unwrap();
    call.net.endpoint_mut(&call.b).agent.restart(now).unwrap();
    call.exchange_credentials();
    let before = call.peer_a().events.len();
    let reselected = |c: &Call| {
        c.peer_a().events[before..]
            .iter()
            .any(|(_, e)| matches!(e, Event::SelectedPairChange(_)))
    };
    assert!(call.run_until(Duration::from_secs(30), reselected));
    assert!(connected(&call));
    assert_eq!(call.net.endpoint(&turn).allocations(), 2);
    call.assert_data_flows_both_ways("relayed after restart");
}

#[test]
fn a_permission_that_lapsed_after_its_refreshes_were_lost_is_asked_for_again() {
    // RFC 8656 §9: a permission lasts 300 s; the client refreshes the one
    // in use a minute before. Here every CreatePermission is lost for a
    // while, so the permission of the selected relayed pair lapses (on the
    // server too) and consent checks through the relay cannot go out: the
    // agents are disconnected. Once requests get through again, the next
    // consent check asks for the permission anew and the pair comes back,
    // instead of losing consent for good 30 s on (RFC 7675 §5.1).
    let (mut call, turn) = connected_relayed_call(43);
    call.net.endpoint_mut(&turn).lose_permission_requests = true;
    let send_failures = |c: &Call| {
        c.peer_a().agent.stats().relay_send_failures + c.peer_b().agent.stats().relay_send_failures
    };
    let before = send_failures(&call);
    call.run_for(Duration::from_secs(310));
    assert!(call.net.endpoint(&turn).lost_permission_requests > 0);
    assert!(
        send_failures(&call) > before,
        "the permission lapsed: sends through the relay failed"
    );
    call.net.endpoint_mut(&turn).lose_permission_requests = false;
    assert_both_reconnect(&mut call, Duration::from_secs(20), "after the lapse");
    assert!(!call.run_until(Duration::from_secs(60), |c| !c.both_connected()));
    call.assert_data_flows_both_ways("after the permission lapsed");
}

#[test]
fn wrong_credentials_give_a_candidate_error_and_no_relayed_candidate() {
    let (mut call, _turn) = relayed_call(42, "wrong");
    call.net.run_for(Duration::from_secs(5));
    let peer = call.peer_a();
    assert!(
        peer.events
            .iter()
            .any(|(_, e)| matches!(e, Event::CandidateError { code: 401, .. })),
        "{:?}",
        peer.events
    );
    assert!(
        peer.agent
            .local_candidates()
            .all(|c| c.kind() != CandidateType::Relayed)
    );
}

/// RFC 8656 §9 with the server's peer policy: the agents' host candidates
/// are private (10.0.0.x), which the server refuses to relay to (403). A
/// refused permission is not asked for again at every connectivity check
/// sent on a pair towards that address (nor at every datagram of a
/// selected relayed pair whose permission the server stopped granting):
/// one request per allocation and refused peer here, not one per check.
/// (Before 8d20572: 2 refused requests in this call.)
#[test]
fn refused_permission_is_not_asked_for_again_at_every_send() {
    let (mut call, turn) = connected_relayed_call(44);
    call.run_for(Duration::from_secs(30));
    let host = call.net.endpoint(&turn);
    let failures = relay_request_failures(&call);
    println!(
        "CreatePermission requests: {}, relay request failures: {failures}",
        host.permission_requests
    );
    assert!(
        failures <= 4,
        "{failures} refused requests ({} CreatePermission in all)",
        host.permission_requests
    );
}

/// RFC 8656 §9 with RFC 8489 §6.3.4: the permission of the selected
/// relayed pair lapses (its refreshes were lost), and the server answers
/// its re-request with a transient error: 500 Server Error, or 508
/// Insufficient Capacity (RFC 8656 §10.2), for a few seconds. The client
/// may send again after a 5xx, a bounded number of times: the agent asks
/// again after a back-off, the permission is installed once the server
/// recovered, and consent comes back before it runs out (RFC 7675 §5.1),
/// instead of the pair failing 30 s on for want of a second request.
#[test]
fn a_lapsed_permission_whose_re_request_got_a_transient_error_is_asked_for_again() {
    for code in [500, 508] {
        let (mut call, turn) = connected_relayed_call(45);
        call.net.endpoint_mut(&turn).lose_permission_requests = true;
        call.run_for(Duration::from_secs(303));
        // The permission lapsed; its re-request (retransmitted) and any
        // other is answered with the error for a few seconds.
        let host = call.net.endpoint_mut(&turn);
        host.lose_permission_requests = false;
        host.refuse_permission_requests = Some(code);
        call.run_for(Duration::from_secs(3));
        assert!(
            call.net.endpoint(&turn).refused_permission_requests > 0,
            "{code}"
        );
        call.net.endpoint_mut(&turn).refuse_permission_requests = None;
        assert_both_reconnect(&mut call, Duration::from_secs(25), &code.to_string());
        assert!(!call.run_until(Duration::from_secs(60), |c| !c.both_connected()));
        call.assert_data_flows_both_ways("after the transient errors");
    }
}

/// As above with a re-request that timed out (RFC 8489 §6.2.1: no answer
/// to any of its transmissions): under a consent timeout longer than the
/// 39.5 s a transaction takes to fail, the agent asks again after a
/// back-off and the pair comes back once requests get through.
#[test]
fn a_lapsed_permission_whose_re_request_timed_out_is_asked_for_again() {
    let (mut call, turn) = connected_relayed_call_with(46, |config| {
        config.disconnected_timeout = Duration::from_secs(8);
        config.consent_timeout = Duration::from_secs(120);
    });
    call.net.endpoint_mut(&turn).lose_permission_requests = true;
    // Lapsed at about 300 s; its re-request fails 39.5 s later.
    call.run_for(Duration::from_secs(350));
    call.net.endpoint_mut(&turn).lose_permission_requests = false;
    assert_both_reconnect(&mut call, Duration::from_secs(60), "after the time-out");
    call.assert_data_flows_both_ways("after the re-request timed out");
}

/// RFC 8489 §6.3.4: a client that resends after a 5xx must limit how many
/// times. A server answering 500 to every CreatePermission from the lapse
/// on gets a few requests per peer, not one per consent check for as long
/// as consent lasts (120 s here).
#[test]
fn a_permission_that_keeps_failing_transiently_is_asked_a_bounded_number_of_times() {
    let (mut call, turn) = connected_relayed_call_with(47, |config| {
        config.consent_timeout = Duration::from_secs(120);
    });
    let host = call.net.endpoint_mut(&turn);
    host.refuse_permission_requests = Some(500);
    let failures = relay_request_failures;
    // Refreshes fail from 240 s on (retried by the TURN client until the
    // lapse at 300 s); the agent's requests after it fail too.
    call.run_for(Duration::from_secs(340));
    let after_a_while = failures(&call);
    assert!(after_a_while > 0);
    call.run_for(Duration::from_secs(60));
    assert_eq!(
        failures(&call),
        after_a_while,
        "asked again after {after_a_while} failures"
    );
}

/// RFC 8656 §8: an allocation whose refreshes keep failing expires, and
/// the pairs through it with it. When the selected pair ran through it,
/// it is given up at once as a closed connection (as when a TURN TCP
/// connection closes), and the controlling agent nominates the best
/// remaining valid pair, through its other server, and sends on it: it
/// does not send into the dead allocation until consent runs out and the
/// connection fails (RFC 7675 §5.1).
#[test]
fn a_selected_pair_whose_allocation_expired_gives_way_to_another_relayed_pair() {
    const OTHER_TURN: &str = "34.0.0.11:3478";
    // `a` relays only, through either of two servers, to `b`'s public
    // host. No NAT: an allocation that sends nothing for minutes lives on
    // (behind a NAT its mapping could lapse, and the allocation with it).
    let mut a = Side::public("52.0.0.1", true, 48);
    a.config.relay_only = true;
    let b = Side::public("52.0.0.2", false, 49);
    let mut call = Call::new(48, a, b);
    let now = call.net.now();
    let mut servers = Vec::new();
    for turn in [TURN, OTHER_TURN] {
        let host = TurnHost::at(now, sa(turn));
        let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(5));
        servers.push(call.net.add_host([sa(turn).ip()], link, host).unwrap());
        call.net
            .endpoint_mut(&call.a)
            .agent
            .add_turn_server(sa(turn), TurnTransport::Udp, "alice", "secret")
            .unwrap();
    }
    assert!(call.run_until(Duration::from_secs(30), |c| c.both_connected()));
    // Let every pair be checked, then lose the Refresh requests of the
    // server the selected pair runs through.
    call.run_for(Duration::from_secs(30));
    let selected = call.peer_a().agent.selected_pair().unwrap().clone();
    let dying = servers
        .iter()
        .copied()
        .find(|s| call.net.endpoint(s).addr.ip() == selected.source.ip())
        .expect("the selected pair is relayed");
    call.net.endpoint_mut(&dying).lose_refresh_requests = true;
    // The allocation is refreshed from 540 s on and expires at 600 s.
    assert!(call.run_until(Duration::from_secs(600), |c| {
        c.peer_a()
            .agent
            .selected_pair()
            .is_none_or(|s| s.source != selected.source)
    }));
    let connected = |c: &Call| {
        matches!(
            c.peer_a().state(),
            ConnectionState::Connected | ConnectionState::Completed
        )
    };
    assert!(
        call.run_until(Duration::from_secs(10), connected),
        "{:?}",
        call.peer_a().states()
    );
    let now_selected = call.peer_a().agent.selected_pair().unwrap().clone();
    assert_ne!(now_selected.source.ip(), selected.source.ip());
    assert_eq!(
        call.peer_a().states()[3..],
        [
            ConnectionState::Disconnected,
            ConnectionState::Connected,
            ConnectionState::Completed
        ]
    );
    let (to_b, _) = call.exchange_data(10, "through the other server");
    assert!(to_b > 0, "no data a->b on {now_selected:?}");
}
