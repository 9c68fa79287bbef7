//! Retransmission rules driven by forged SACKs (RFC 9260 §6.2.1, §6.3):
//! what the sender does when the receiver acknowledges, then takes back.

mod common;

use std::time::Instant;

use common::*;
use ferrtc_sctp::{Config, SendOptions, ppid};

/// The receiver gap-acks TSN t+1, then reneges: a later SACK with the same
/// cumulative TSN leaves it out (RFC 9260 §6.2.1 D iv). The sender must
/// treat it as outstanding again, with T3-rtx running, and so send it
/// again: both messages arrive at a real receiver that only ever got the
/// first packet.
#[test]
fn reneged_data_is_retransmitted() {
    let now = Instant::now();
    let cfg = |seed| Config {
        i_data: false,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(now, cfg(1), cfg(2));
    let tag_a = tag_expected_by_b(&mut b, &mut a, now);
    // Two messages, each in its own packet.
    let mut buf = Vec::new();
    a.send(now, 1, ppid::BINARY, &[1u8; 1000], SendOptions::default())
        .unwrap();
    a.poll_transmit(now, &mut buf).unwrap();
    let first = buf.clone();
    let t = first_data_tsn(&first);
    a.send(now, 1, ppid::BINARY, &[2u8; 1000], SendOptions::default())
        .unwrap();
    a.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(first_data_tsn(&buf), t + 1);
    // Forged SACKs: t+1 gap-acked, then reneged.
    let mut c = Vec::new();
    raw_chunk(&mut c, 3, 0, &sack_value(t - 1, 1 << 20, &[(2, 2)]));
    a.handle_receive(now, &raw_packet(tag_a, &c)).unwrap();
    let mut c = Vec::new();
    raw_chunk(&mut c, 3, 0, &sack_value(t - 1, 1 << 20, &[]));
    a.handle_receive(now, &raw_packet(tag_a, &c)).unwrap();
    // From now on, the real receiver, which only ever got the first packet.
    b.handle_receive(now, &first).unwrap();
    let mut at = now;
    let mut got = Vec::new();
    for _ in 0..20 {
        pump(&mut a, &mut b, at);
        got.extend(drain(&mut b).0);
        match a.poll_timeout().into_iter().chain(b.poll_timeout()).min() {
            Some(t) => at = t.max(at),
            None => break,
        }
        a.handle_timeout(at);
        b.handle_timeout(at);
    }
    pump(&mut a, &mut b, at);
    got.extend(drain(&mut b).0);
    let sizes: Vec<(u8, usize)> = got.iter().map(|m| (m.data[0], m.data.len())).collect();
    assert_eq!(
        sizes,
        [(1, 1000), (2, 1000)],
        "after {:?}; a.poll_timeout = {:?}",
        at - now,
        a.poll_timeout().map(|t| t - now)
    );
}
