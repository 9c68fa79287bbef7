//! NAT mapping and filtering behaviours (RFC 4787) seen from endpoints.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrtc_sim::{HostId, Link, LinkConfig, NatConfig, NatId, Network, Probe};

const MS: Duration = Duration::from_millis(1);
const CLIENT_IP: &str = "10.0.0.2";
const NAT_IP: &str = "203.0.113.1";
const SERVER_1: &str = "198.51.100.1";
const SERVER_2: &str = "198.51.100.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(s), port)
}

/// A client behind `config`, and two public reflectors (STUN-like servers).
struct Setup {
    net: Network,
    nat: NatId,
    client: HostId<Probe>,
    server_1: HostId<Probe>,
    server_2: HostId<Probe>,
}

fn setup(config: NatConfig) -> Setup {
    let mut net = Network::new(2024);
    let link = LinkConfig::IDEAL.with_delay(5 * MS);
    let nat = net.add_nat(config).unwrap();
    let client = net
        .add_host_behind(nat, [ip(CLIENT_IP)], link, Probe::sink())
        .unwrap();
    let server_1 = net
        .add_host([ip(SERVER_1)], link, Probe::reflect())
        .unwrap();
    let server_2 = net
        .add_host([ip(SERVER_2)], link, Probe::reflect())
        .unwrap();
    Setup {
        net,
        nat,
        client,
        server_1,
        server_2,
    }
}

impl Setup {
    /// The client asks `server:port` what its address is; returns the answer.
    fn mapped(&mut self, server: &str, port: u16) -> Option<SocketAddr> {
        self.net.endpoint_mut(&self.client).clear_received();
        self.net
            .endpoint_mut(&self.client)
            .send(sa(CLIENT_IP, 5000), sa(server, port), b"?");
        self.net.run_for(Duration::from_millis(100));
        self.net
            .endpoint(&self.client)
            .received()
            .first()?
            .reflected_addr()
    }

    /// `server` sends to `to` from `from`; returns whether the client got it.
    fn unsolicited(&mut self, server: HostId<Probe>, from: SocketAddr, to: SocketAddr) -> bool {
        self.net.endpoint_mut(&self.client).clear_received();
        self.net
            .endpoint_mut(&server)
            .send(from, to, b"unsolicited");
        self.net.run_for(Duration::from_millis(100));
        !self.net.endpoint(&self.client).received().is_empty()
    }
}

#[test]
fn full_cone_admits_anyone_once_a_mapping_exists() {
    let mut s = setup(NatConfig::full_cone(ip(NAT_IP)));
    let mapped = s.mapped(SERVER_1, 3478).unwrap();
    assert_eq!(mapped.ip(), ip(NAT_IP));
    let server_2 = s.server_2;
    assert!(s.unsolicited(server_2, sa(SERVER_2, 9999), mapped));
    assert_eq!(s.net.nat_counters(s.nat).filtered, 0);
}

#[test]
fn restricted_cone_admits_any_port_of_a_contacted_address_only() {
    let mut s = setup(NatConfig::restricted_cone(ip(NAT_IP)));
    let mapped = s.mapped(SERVER_1, 3478).unwrap();
    let (server_1, server_2) = (s.server_1, s.server_2);
    assert!(s.unsolicited(server_1, sa(SERVER_1, 9999), mapped));
    assert!(!s.unsolicited(server_2, sa(SERVER_2, 3478), mapped));
    assert_eq!(s.net.nat_counters(s.nat).filtered, 1);
}

#[test]
fn port_restricted_cone_drops_unsolicited_inbound_and_admits_replies() {
    let mut s = setup(NatConfig::port_restricted_cone(ip(NAT_IP)));
    let mapped = s.mapped(SERVER_1, 3478).unwrap();
    // The reply came in (mapped is Some); another port of the same server is filtered.
    let server_1 = s.server_1;
    assert!(!s.unsolicited(server_1, sa(SERVER_1, 9999), mapped));
    assert!(s.unsolicited(server_1, sa(SERVER_1, 3478), mapped));
    // Endpoint-independent mapping: the same public address towards anyone.
    assert_eq!(s.mapped(SERVER_2, 3478), Some(mapped));
    assert_eq!(s.net.nat_counters(s.nat).filtered, 1);
    assert_eq!(s.net.nat_counters(s.nat).mappings_created, 1);
}

#[test]
fn symmetric_nat_gives_a_different_public_port_per_destination() {
    let mut s = setup(NatConfig::symmetric(ip(NAT_IP)));
    let to_1 = s.mapped(SERVER_1, 3478).unwrap();
    let to_1_other_port = s.mapped(SERVER_1, 3479).unwrap();
    let to_2 = s.mapped(SERVER_2, 3478).unwrap();
    assert_eq!(to_1.ip(), ip(NAT_IP));
    assert_ne!(to_1.port(), to_1_other_port.port());
    assert_ne!(to_1.port(), to_2.port());
    assert_ne!(to_1_other_port.port(), to_2.port());
    // Asking the same destination again reuses its mapping.
    assert_eq!(s.mapped(SERVER_1, 3478), Some(to_1));
    assert_eq!(s.net.nat_mappings(s.nat), 3);
    // SERVER_2 learned to_2, not to_1: sending to to_1 is filtered.
    let server_2 = s.server_2;
    assert!(!s.unsolicited(server_2, sa(SERVER_2, 3478), to_1));
}

#[test]
fn inbound_to_an_unmapped_port_is_dropped_and_counted() {
    let mut s = setup(NatConfig::full_cone(ip(NAT_IP)));
    let server_1 = s.server_1;
    assert!(!s.unsolicited(server_1, sa(SERVER_1, 1), sa(NAT_IP, 40000)));
    assert_eq!(s.net.nat_counters(s.nat).no_mapping, 1);
}

#[test]
fn mapping_expires_without_outbound_traffic() {
    let config = NatConfig::full_cone(ip(NAT_IP)).with_mapping_timeout(Duration::from_secs(30));
    let mut s = setup(config);
    let mapped = s.mapped(SERVER_1, 3478).unwrap();
    s.net.run_for(Duration::from_secs(31));
    let server_1 = s.server_1;
    assert!(!s.unsolicited(server_1, sa(SERVER_1, 3478), mapped));
    let counters = s.net.nat_counters(s.nat);
    assert_eq!(counters.no_mapping, 1);
    assert_eq!(counters.mappings_expired, 1);
}

#[test]
fn outbound_keepalives_refresh_the_mapping() {
    let config = NatConfig::full_cone(ip(NAT_IP)).with_mapping_timeout(Duration::from_secs(30));
    let mut s = setup(config);
    let mapped = s.mapped(SERVER_1, 3478).unwrap();
    for _ in 0..4 {
        s.net.run_for(Duration::from_secs(20));
        assert_eq!(s.mapped(SERVER_1, 3478), Some(mapped));
    }
    assert!(s.net.elapsed() > Duration::from_secs(60));
    assert_eq!(s.net.nat_counters(s.nat).mappings_created, 1);
}

#[test]
fn hairpinning_reaches_a_neighbour_through_its_public_mapping() {
    let mut net = Network::new(3);
    let nat = net
        .add_nat(NatConfig::full_cone(ip(NAT_IP)).with_hairpinning(true))
        .unwrap();
    let a = net
        .add_host_behind(nat, [ip("10.0.0.2")], Link::IDEAL, Probe::sink())
        .unwrap();
    let b = net
        .add_host_behind(nat, [ip("10.0.0.3")], Link::IDEAL, Probe::sink())
        .unwrap();
    let server = net
        .add_host([ip(SERVER_1)], Link::IDEAL, Probe::reflect())
        .unwrap();
    for (host, local) in [(a, "10.0.0.2"), (b, "10.0.0.3")] {
        net.endpoint_mut(&host)
            .send(sa(local, 5000), sa(SERVER_1, 3478), b"?");
    }
    net.run_for(MS);
    let a_public = net.endpoint(&a).received()[0].reflected_addr().unwrap();
    let b_public = net.endpoint(&b).received()[0].reflected_addr().unwrap();
    assert_eq!(net.endpoint(&server).received().len(), 2);

    net.endpoint_mut(&a)
        .send(sa("10.0.0.2", 5000), b_public, b"hello neighbour");
    net.run_for(MS);
    let last = net.endpoint(&b).received().last().unwrap();
    assert_eq!(last.payload, b"hello neighbour");
    assert_eq!(last.source, a_public);
    assert_eq!(net.nat_counters(nat).hairpinned, 1);
}

#[test]
fn without_hairpinning_a_datagram_to_the_own_public_address_is_dropped() {
    let mut net = Network::new(3);
    let nat = net.add_nat(NatConfig::full_cone(ip(NAT_IP))).unwrap();
    let a = net
        .add_host_behind(nat, [ip("10.0.0.2")], Link::IDEAL, Probe::sink())
        .unwrap();
    net.endpoint_mut(&a)
        .send(sa("10.0.0.2", 5000), sa(NAT_IP, 50000), b"loop");
    net.run_for(MS);
    assert_eq!(net.nat_counters(nat).hairpin_dropped, 1);
    assert_eq!(net.counters().delivered, 0);
}

#[test]
fn hosts_behind_one_nat_talk_directly_on_the_private_network() {
    let mut net = Network::new(3);
    let nat = net.add_nat(NatConfig::symmetric(ip(NAT_IP))).unwrap();
    let a = net
        .add_host_behind(nat, [ip("10.0.0.2")], Link::IDEAL, Probe::sink())
        .unwrap();
    let b = net
        .add_host_behind(nat, [ip("10.0.0.3")], Link::IDEAL, Probe::echo())
        .unwrap();
    net.endpoint_mut(&a)
        .send(sa("10.0.0.2", 1), sa("10.0.0.3", 2), b"lan");
    net.run_for(MS);
    assert_eq!(net.endpoint(&a).received()[0].source, sa("10.0.0.3", 2));
    assert_eq!(net.endpoint(&b).received()[0].source, sa("10.0.0.2", 1));
    assert_eq!(net.nat_counters(nat).outbound, 0);
}

#[test]
fn nested_nats_translate_twice() {
    let mut net = Network::new(4);
    let carrier = net.add_nat(NatConfig::full_cone(ip(NAT_IP))).unwrap();
    let home = net
        .add_nat_behind(carrier, NatConfig::port_restricted_cone(ip("100.64.0.2")))
        .unwrap();
    let client = net
        .add_host_behind(home, [ip("192.168.1.2")], Link::IDEAL, Probe::sink())
        .unwrap();
    net.add_host([ip(SERVER_1)], Link::IDEAL, Probe::reflect())
        .unwrap();
    net.endpoint_mut(&client)
        .send(sa("192.168.1.2", 5000), sa(SERVER_1, 3478), b"?");
    net.run_for(MS);
    let mapped = net.endpoint(&client).received()[0]
        .reflected_addr()
        .unwrap();
    assert_eq!(mapped.ip(), ip(NAT_IP));
    assert_eq!(net.nat_counters(carrier).inbound, 1);
    assert_eq!(net.nat_counters(home).inbound, 1);
}

#[test]
fn nat_public_link_impairs_traffic_through_the_nat() {
    let config = NatConfig::full_cone(ip(NAT_IP)).with_link(LinkConfig::IDEAL.with_delay(50 * MS));
    let mut s = setup(config);
    s.net
        .endpoint_mut(&s.client)
        .send(sa(CLIENT_IP, 5000), sa(SERVER_1, 3478), b"?");
    let client = s.client;
    assert!(s.net.run_until_condition(Duration::from_secs(1), |net| {
        !net.endpoint(&client).received().is_empty()
    }));
    // Client up 5, NAT up 50, server down 5, and back: 5 + 50 + 5 + 5 + 50 + 5.
    assert_eq!(s.net.elapsed(), 120 * MS);
    assert_eq!(s.net.nat_link_counters(s.nat).up.delivered, 1);
    assert_eq!(s.net.nat_link_counters(s.nat).down.delivered, 1);
}

#[test]
fn port_allocation_is_deterministic_from_the_seed() {
    let run = |seed| {
        let mut net = Network::new(seed);
        let nat = net.add_nat(NatConfig::symmetric(ip(NAT_IP))).unwrap();
        let client = net
            .add_host_behind(nat, [ip(CLIENT_IP)], Link::IDEAL, Probe::sink())
            .unwrap();
        net.add_host([ip(SERVER_1)], Link::IDEAL, Probe::reflect())
            .unwrap();
        for port in 1..=5 {
            net.endpoint_mut(&client)
                .send(sa(CLIENT_IP, 5000), sa(SERVER_1, port), b"?");
        }
        net.run_for(MS);
        net.endpoint(&client)
            .received()
            .iter()
            .map(|r| r.reflected_addr().unwrap().port())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(8), run(8));
    assert_ne!(run(8), run(9));
}
