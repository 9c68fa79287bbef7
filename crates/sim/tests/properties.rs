//! Invariants that hold for any link configuration and seed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrtc_sim::{LinkConfig, LinkCounters, Network, Probe};
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
}
