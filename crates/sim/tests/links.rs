//! Link impairments, routing, virtual time and determinism, seen from endpoints.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_sim::{Endpoint, Link, LinkConfig, Network, Probe, SimError, Transmit};

const MS: Duration = Duration::from_millis(1);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// Two public hosts: a sender with link `up` and a sink with link `down`.
fn pair(
    seed: u64,
    up: Link,
    down: Link,
) -> (
    Network,
    ferrtc_sim::HostId<Probe>,
    ferrtc_sim::HostId<Probe>,
) {
    let mut net = Network::new(seed);
    let a = net.add_host([ip("192.0.2.1")], up, Probe::sink()).unwrap();
    let b = net
        .add_host([ip("192.0.2.2")], down, Probe::sink())
        .unwrap();
    (net, a, b)
}

/// Schedules `count` datagrams from a to b, one every `interval`, payload = sequence number.
fn stream(
    net: &mut Network,
    a: &ferrtc_sim::HostId<Probe>,
    count: u32,
    interval: Duration,
    len: usize,
) {
    let start = net.now();
    let probe = net.endpoint_mut(a);
    for i in 0..count {
        let mut payload = i.to_be_bytes().to_vec();
        payload.resize(len.max(4), 0);
        probe.send_at(
            start + interval * i,
            sa(ip("192.0.2.1"), 1000),
            sa(ip("192.0.2.2"), 2000),
            &payload,
        );
    }
}

fn sequence_numbers(probe: &Probe) -> Vec<u32> {
    probe
        .received()
        .iter()
        .map(|r| u32::from_be_bytes(r.payload[..4].try_into().unwrap()))
        .collect()
}

#[test]
fn delay_of_sender_up_link_and_receiver_down_link_add_up() {
    let up = Link::new(LinkConfig::IDEAL.with_delay(10 * MS), LinkConfig::IDEAL);
    let down = Link::new(LinkConfig::IDEAL, LinkConfig::IDEAL.with_delay(25 * MS));
    let (mut net, a, b) = pair(1, up, down);
    stream(&mut net, &a, 1, MS, 4);
    net.run_for(Duration::from_secs(1));
    let received = net.endpoint(&b).received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].at - net.start(), 35 * MS);
}

#[test]
fn echo_round_trip_crosses_each_link_twice() {
    let mut net = Network::new(1);
    let link = LinkConfig::IDEAL.with_delay(5 * MS);
    let a = net
        .add_host([ip("192.0.2.1")], link, Probe::sink())
        .unwrap();
    net.add_host([ip("192.0.2.2")], link, Probe::echo())
        .unwrap();
    net.endpoint_mut(&a)
        .send(sa(ip("192.0.2.1"), 1), sa(ip("192.0.2.2"), 7), b"ping");
    assert!(net.run_until_condition(Duration::from_secs(1), |net| {
        !net.endpoint(&a).received().is_empty()
    }));
    assert_eq!(net.elapsed(), 20 * MS);
    assert_eq!(net.endpoint(&a).received()[0].payload, b"ping");
}

#[test]
fn jitter_stays_within_its_bound_and_varies() {
    let up = LinkConfig::IDEAL.with_delay(20 * MS).with_jitter(10 * MS);
    let (mut net, a, b) = pair(3, up.into(), Link::IDEAL);
    stream(&mut net, &a, 200, 100 * MS, 4);
    net.run_for(Duration::from_secs(30));
    let probe = net.endpoint(&b);
    assert_eq!(probe.received().len(), 200);
    let delays: Vec<Duration> = probe
        .received()
        .iter()
        .zip(sequence_numbers(probe))
        .map(|(r, seq)| r.at - (net.start() + 100 * MS * seq))
        .collect();
    assert!(delays.iter().all(|d| *d >= 20 * MS && *d <= 30 * MS));
    assert!(delays.iter().any(|d| *d != delays[0]));
}

#[test]
fn loss_rate_is_close_to_the_configured_probability() {
    let up = LinkConfig::IDEAL.with_loss(0.1);
    let (mut net, a, b) = pair(7, up.into(), Link::IDEAL);
    stream(&mut net, &a, 10_000, MS, 4);
    net.run_for(Duration::from_secs(20));
    let counters = net.host_link_counters(&a).up;
    assert_eq!(counters.sent, 10_000);
    assert!(
        (900..=1100).contains(&counters.lost),
        "lost {}",
        counters.lost
    );
    assert_eq!(
        net.endpoint(&b).received().len() as u64,
        10_000 - counters.lost
    );
}

#[test]
fn duplication_delivers_extra_copies_and_counts_them() {
    let up = LinkConfig::IDEAL.with_duplicate(0.25);
    let (mut net, a, b) = pair(11, up.into(), Link::IDEAL);
    stream(&mut net, &a, 1_000, MS, 4);
    net.run_for(Duration::from_secs(5));
    let duplicated = net.host_link_counters(&a).up.duplicated;
    assert!((200..=300).contains(&duplicated), "duplicated {duplicated}");
    let received = sequence_numbers(net.endpoint(&b));
    assert_eq!(received.len() as u64, 1_000 + duplicated);
    let mut distinct = received.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 1_000);
}

#[test]
fn reordering_lets_a_later_datagram_arrive_first() {
    let up = LinkConfig::IDEAL
        .with_delay(10 * MS)
        .with_reorder(0.2, 5 * MS);
    let (mut net, a, b) = pair(5, up.into(), Link::IDEAL);
    stream(&mut net, &a, 1_000, MS, 4);
    net.run_for(Duration::from_secs(5));
    let received = sequence_numbers(net.endpoint(&b));
    assert_eq!(received.len(), 1_000);
    // A datagram is reordered when one sent after it was already delivered.
    let mut highest = 0;
    let mut late = 0u64;
    for seq in &received {
        if *seq < highest {
            late += 1;
        }
        highest = highest.max(*seq);
    }
    assert!(late > 100, "late {late}");
    assert_eq!(net.host_link_counters(&a).up.reordered, late);
}

#[test]
fn rate_limit_queues_at_line_rate_and_drops_past_the_bound() {
    // 10 kB/s: a 1000-byte datagram takes 100 ms; the queue holds 5 of them.
    let up = LinkConfig::IDEAL.with_rate(10_000, 5_000);
    let (mut net, a, b) = pair(1, up.into(), Link::IDEAL);
    stream(&mut net, &a, 8, Duration::ZERO, 1000);
    net.run_for(Duration::from_secs(2));
    let arrivals: Vec<Duration> = net
        .endpoint(&b)
        .received()
        .iter()
        .map(|r| r.at - net.start())
        .collect();
    assert_eq!(arrivals, (1..=5).map(|i| 100 * MS * i).collect::<Vec<_>>());
    assert_eq!(net.host_link_counters(&a).up.rate_dropped, 3);
    assert_eq!(sequence_numbers(net.endpoint(&b)), vec![0, 1, 2, 3, 4]);
}

#[test]
fn rate_limited_queue_drains_so_a_paced_stream_passes() {
    let up = LinkConfig::IDEAL.with_rate(10_000, 1_000);
    let (mut net, a, b) = pair(1, up.into(), Link::IDEAL);
    // 1000 bytes every 100 ms is exactly the line rate.
    stream(&mut net, &a, 20, 100 * MS, 1000);
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.endpoint(&b).received().len(), 20);
    assert_eq!(net.host_link_counters(&a).up.rate_dropped, 0);
}

/// A rate of zero bytes per second carries nothing: every datagram is
/// dropped at the queue, as a queue that never drains drops them (tail
/// drop), and counted. Before, `with_rate(0, _)` gave an unlimited link.
#[test]
fn a_zero_rate_link_carries_nothing_and_counts_every_datagram_as_dropped() {
    let up = LinkConfig::IDEAL.with_rate(0, 5_000);
    let (mut net, a, b) = pair(1, up.into(), Link::IDEAL);
    stream(&mut net, &a, 8, 10 * MS, 100);
    net.run_for(Duration::from_secs(2));
    assert!(net.endpoint(&b).received().is_empty());
    let up = net.host_link_counters(&a).up;
    assert_eq!(up.sent, 8);
    assert_eq!(up.rate_dropped, 8);
    assert_eq!(up.delivered, 0);
}

#[test]
fn ipv6_hosts_talk_and_dual_stack_hosts_answer_on_either_family() {
    let mut net = Network::new(1);
    let v6 = ip("2001:db8::1");
    let dual4 = ip("192.0.2.9");
    let dual6 = ip("2001:db8::9");
    let client = net.add_host([v6], Link::IDEAL, Probe::sink()).unwrap();
    let server = net
        .add_host([dual4, dual6], Link::IDEAL, Probe::echo())
        .unwrap();
    net.endpoint_mut(&client)
        .send(sa(v6, 1), sa(dual6, 7), b"over v6");
    net.run_for(MS);
    let received = net.endpoint(&client).received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].source, sa(dual6, 7));
    assert_eq!(net.endpoint(&server).received()[0].source, sa(v6, 1));
    assert_eq!(net.host_addrs(&server), &[dual4, dual6]);
}

#[test]
fn unroutable_and_spoofed_datagrams_are_dropped_and_counted() {
    let mut net = Network::new(1);
    let a_ip = ip("192.0.2.1");
    let a = net.add_host([a_ip], Link::IDEAL, Probe::sink()).unwrap();
    let probe = net.endpoint_mut(&a);
    probe.send(sa(a_ip, 1), sa(ip("192.0.2.200"), 1), b"nobody there");
    probe.send(sa(a_ip, 1), sa(ip("2001:db8::1"), 1), b"wrong family");
    probe.send(sa(ip("192.0.2.77"), 1), sa(a_ip, 1), b"not my address");
    net.run_for(MS);
    let counters = net.counters();
    assert_eq!(counters.transmitted, 3);
    assert_eq!(counters.no_route, 2);
    assert_eq!(counters.invalid_source, 1);
    assert_eq!(counters.delivered, 0);
}

#[test]
fn an_address_can_be_used_once_per_segment() {
    let mut net = Network::new(1);
    net.add_host([ip("192.0.2.1")], Link::IDEAL, Probe::sink())
        .unwrap();
    let again = net.add_host([ip("192.0.2.1")], Link::IDEAL, Probe::sink());
    assert_eq!(
        again.unwrap_err(),
        SimError::AddressInUse {
            addr: ip("192.0.2.1")
        }
    );
    let none = net.add_host(Vec::<IpAddr>::new(), Link::IDEAL, Probe::sink());
    assert_eq!(none.unwrap_err(), SimError::NoAddress);
}

fn lossy_run(seed: u64) -> (u64, Vec<ferrtc_sim::TraceEntry>) {
    let link = LinkConfig::IDEAL
        .with_delay(10 * MS)
        .with_jitter(5 * MS)
        .with_loss(0.2)
        .with_duplicate(0.05);
    let (mut net, a, _b) = pair(seed, link.into(), link.into());
    net.enable_trace_log();
    stream(&mut net, &a, 500, MS, 40);
    net.run_for(Duration::from_secs(2));
    (net.trace_hash(), net.trace().to_vec())
}

#[test]
fn same_seed_gives_the_same_run() {
    let (hash_a, log_a) = lossy_run(99);
    let (hash_b, log_b) = lossy_run(99);
    assert_eq!(hash_a, hash_b);
    assert_eq!(log_a, log_b);
    assert!(log_a.len() > 300);
}

#[test]
fn different_seed_gives_a_different_run_when_loss_is_on() {
    let (hash_a, log_a) = lossy_run(99);
    let (hash_b, log_b) = lossy_run(100);
    assert_ne!(hash_a, hash_b);
    assert_ne!(log_a, log_b);
}

#[test]
fn virtual_time_advances_only_by_events() {
    let mut net = Network::with_start(1, Instant::now());
    assert!(!net.step());
    assert_eq!(net.elapsed(), Duration::ZERO);
    net.run_for(Duration::from_secs(3600));
    assert_eq!(net.elapsed(), Duration::from_secs(3600));
}

/// Logs the calls the network makes, to check the documented order.
#[derive(Default)]
struct Recorder {
    calls: Vec<(&'static str, Instant)>,
    timer: Option<Instant>,
    outbox: Vec<Transmit>,
}

impl Endpoint for Recorder {
    fn handle_receive(&mut self, now: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {
        self.calls.push(("receive", now));
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let transmit = self.outbox.pop()?;
        self.calls.push(("transmit", now));
        buf.clear();
        buf.extend_from_slice(b"x");
        Some(transmit)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.timer
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.calls.push(("timeout", now));
        self.timer = None;
    }
}

#[test]
fn at_one_instant_receive_comes_before_timeout_before_transmit() {
    let mut net = Network::new(1);
    let a_ip = ip("192.0.2.1");
    let b_ip = ip("192.0.2.2");
    let link = LinkConfig::IDEAL.with_delay(10 * MS);
    let sender = net.add_host([a_ip], link, Probe::sink()).unwrap();
    let recorder = net.add_host([b_ip], link, Recorder::default()).unwrap();
    net.endpoint_mut(&sender)
        .send(sa(a_ip, 1), sa(b_ip, 1), b"hi");
    let at = net.start() + 20 * MS;
    let r = net.endpoint_mut(&recorder);
    r.timer = Some(at);
    r.outbox.push(Transmit {
        source: sa(b_ip, 1),
        destination: sa(a_ip, 1),
    });
    // The recorder's first transmit goes out at once (endpoints are polled
    // after endpoint_mut); clear the log and give it a second one for later.
    net.step();
    net.endpoint_mut(&recorder).calls.clear();
    net.run_for(Duration::from_secs(1));
    let calls = &net.endpoint(&recorder).calls;
    assert_eq!(calls, &[("receive", at), ("timeout", at)]);

    net.endpoint_mut(&recorder).calls.clear();
    net.endpoint_mut(&recorder).outbox.push(Transmit {
        source: sa(b_ip, 1),
        destination: sa(a_ip, 1),
    });
    net.endpoint_mut(&sender)
        .send(sa(a_ip, 1), sa(b_ip, 1), b"again");
    let now = net.now();
    net.endpoint_mut(&recorder).timer = Some(now + 20 * MS);
    net.run_for(Duration::from_secs(1));
    let calls = &net.endpoint(&recorder).calls;
    assert_eq!(
        calls,
        &[
            ("transmit", now),
            ("receive", now + 20 * MS),
            ("timeout", now + 20 * MS)
        ]
    );
}

#[test]
fn a_timeout_in_the_past_fires_at_the_current_time() {
    let mut net = Network::new(1);
    net.run_for(Duration::from_secs(5));
    let stale = net.start();
    let recorder = net
        .add_host(
            [ip("192.0.2.1")],
            Link::IDEAL,
            Recorder {
                timer: Some(stale),
                ..Recorder::default()
            },
        )
        .unwrap();
    assert!(net.step());
    assert_eq!(
        net.endpoint(&recorder).calls,
        vec![("timeout", net.start() + Duration::from_secs(5))]
    );
    assert!(!net.step());
}

#[test]
fn endpoints_of_different_types_share_a_network() {
    let mut net = Network::new(1);
    let probe = net
        .add_host([ip("192.0.2.1")], Link::IDEAL, Probe::sink())
        .unwrap();
    let recorder = net
        .add_host([ip("192.0.2.2")], Link::IDEAL, Recorder::default())
        .unwrap();
    net.endpoint_mut(&probe)
        .send(sa(ip("192.0.2.1"), 1), sa(ip("192.0.2.2"), 1), b"typed");
    net.run_for(MS);
    assert_eq!(net.endpoint(&recorder).calls.len(), 1);
    assert!(net.endpoint(&probe).received().is_empty());
}

#[test]
#[should_panic(expected = "never goes quiet")]
fn endless_zero_delay_exchange_panics_instead_of_hanging() {
    let mut net = Network::new(1);
    net.set_instant_budget(10_000);
    let a = net
        .add_host([ip("192.0.2.1")], Link::IDEAL, Probe::echo())
        .unwrap();
    net.add_host([ip("192.0.2.2")], Link::IDEAL, Probe::echo())
        .unwrap();
    net.endpoint_mut(&a)
        .send(sa(ip("192.0.2.1"), 1), sa(ip("192.0.2.2"), 1), b"ball");
    net.run_for(MS);
}
