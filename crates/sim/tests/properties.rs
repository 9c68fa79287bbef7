//! Invariants that hold for any link configuration and seed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::time::Instant;

use ferrtc_sim::{
    CloseReason, ConnId, Endpoint, LinkConfig, LinkCounters, Network, Probe, StreamCommand,
    StreamEvent, Transmit,
};
use proptest::prelude::*;

fn link_config() -> impl Strategy<Value = LinkConfig> {
    (
        0u64..50,
        0u64..20,
        0.0f64..1.0,
        0.0f64..1.0,
        (0.0f64..1.0, 0u64..30),
        proptest::option::of((1_000u64..1_000_000, 0usize..20_000)),
    )
        .prop_map(|(delay, jitter, loss, duplicate, (reorder, extra), rate)| {
            let mut config = LinkConfig::IDEAL
                .with_delay(Duration::from_millis(delay))
                .with_jitter(Duration::from_millis(jitter))
                .with_loss(loss)
                .with_duplicate(duplicate)
                .with_reorder(reorder, Duration::from_millis(extra));
            if let Some((rate, queue)) = rate {
                config = config.with_rate(rate, queue);
            }
            config
        })
}

/// Every datagram that entered a link (plus every duplicate) either came
/// out or was dropped, once the network is idle.
fn conserved(c: LinkCounters) -> bool {
    c.sent + c.duplicated == c.delivered + c.lost + c.rate_dropped
}

/// A TCP endpoint: listens, or connects, writes `chunks` and closes.
#[derive(Default)]
struct Tcp {
    commands: Vec<(StreamCommand, Vec<u8>)>,
    chunks: Vec<Vec<u8>>,
    received: Vec<u8>,
    closed_by_peer: bool,
}

impl Endpoint for Tcp {
    fn handle_receive(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn poll_transmit(&mut self, _: Instant, _: &mut Vec<u8>) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _: Instant) {}

    fn poll_stream(&mut self, _: Instant, buf: &mut Vec<u8>) -> Option<StreamCommand> {
        if self.commands.is_empty() {
            return None;
        }
        let (command, bytes) = self.commands.remove(0);
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(command)
    }

    fn handle_stream(&mut self, _: Instant, event: StreamEvent<'_>) {
        match event {
            StreamEvent::Connected { conn, .. } => {
                let conn: ConnId = conn;
                for chunk in self.chunks.drain(..) {
                    self.commands.push((StreamCommand::Send(conn), chunk));
                }
                self.commands.push((StreamCommand::Close(conn), Vec::new()));
            }
            StreamEvent::Data { bytes, .. } => self.received.extend_from_slice(bytes),
            StreamEvent::Closed {
                reason: CloseReason::ByPeer,
                ..
            } => self.closed_by_peer = true,
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn links_conserve_datagrams_and_deliveries_add_up(
        seed in any::<u64>(),
        up in link_config(),
        down in link_config(),
        count in 1u32..200,
        len in 0usize..1500,
    ) {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut net = Network::new(seed);
        let sender = net.add_host([a], up, Probe::sink()).unwrap();
        let receiver = net.add_host([b], down, Probe::sink()).unwrap();
        let start = net.now();
        for i in 0..count {
            net.endpoint_mut(&sender).send_at(
                start + Duration::from_millis(u64::from(i)),
                SocketAddr::new(a, 1),
                SocketAddr::new(b, 2),
                &vec![0; len],
            );
        }
        while net.step() {}

        let sent = net.host_link_counters(&sender).up;
        let received = net.host_link_counters(&receiver).down;
        prop_assert!(conserved(sent));
        prop_assert!(conserved(received));
        prop_assert_eq!(sent.sent, u64::from(count));
        prop_assert_eq!(received.sent, sent.delivered);
        prop_assert_eq!(net.endpoint(&receiver).received().len() as u64, received.delivered);
        prop_assert_eq!(net.counters().delivered, received.delivered);
        prop_assert!(sent.reordered <= sent.delivered);
    }

    #[test]
    fn tcp_delivers_a_prefix_of_what_was_written_and_all_of_it_unless_given_up(
        seed in any::<u64>(),
        up in link_config(),
        down in link_config(),
        sizes in proptest::collection::vec(1usize..5000, 1..20),
    ) {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let server_addr = SocketAddr::new(b, 443);
        let mut net = Network::new(seed);
        let mut written = Vec::new();
        let mut chunks = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let chunk: Vec<u8> = (0..*size).map(|j| (i * 7 + j) as u8).collect();
            written.extend_from_slice(&chunk);
            chunks.push(chunk);
        }
        let client = Tcp {
            commands: vec![(StreamCommand::Connect { from: a, to: server_addr, token: 1 }, Vec::new())],
            chunks,
            ..Tcp::default()
        };
        let server = Tcp {
            commands: vec![(StreamCommand::Listen(server_addr), Vec::new())],
            ..Tcp::default()
        };
        net.add_host([a], up, client).unwrap();
        let server = net.add_host([b], down, server).unwrap();
        while net.step() {}

        let got = &net.endpoint(&server).received;
        prop_assert!(written.starts_with(got), "not a prefix of what was written");
        let tcp = net.counters().tcp;
        if tcp.established == 1 && tcp.reset == 0 {
            prop_assert_eq!(got, &written, "{:?}", tcp);
            prop_assert!(net.endpoint(&server).closed_by_peer);
        }
        if net.endpoint(&server).closed_by_peer {
            prop_assert_eq!(got, &written);
        }
        prop_assert_eq!(tcp.bytes_delivered, got.len() as u64);
        // Both FINs crossed and were acknowledged: nothing is left behind.
        if tcp.reset == 0 {
            prop_assert_eq!(net.tcp_connections(), 0, "{:?}", tcp);
        }
    }
}
