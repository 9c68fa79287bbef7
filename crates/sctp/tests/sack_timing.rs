//! When the receiver sends its SACKs (RFC 9260 §6.2, §6.7), driven by
//! forged DATA chunks.

mod common;

use std::time::Instant;

use common::*;
use ferrtc_sctp::Config;

/// Whether `packet` carries a SACK, and its cumulative TSN ack.
fn sack_cum(packet: &[u8]) -> Option<u32> {
    let mut rest = &packet[12..];
    while rest.len() >= 8 {
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if rest[0] == 3 {
            return Some(u32::from_be_bytes(rest[4..8].try_into().unwrap()));
        }
        let padded = (len + 3) & !3;
        if len < 4 || padded > rest.len() {
            break;
        }
        rest = &rest[padded..];
    }
    None
}

/// TSN n is lost, n+1 arrives: the gap is reported at once (§6.7). Then
/// n arrives (the sender's fast retransmission) and fills the gap: that
/// packet is acknowledged at once too, not after the delayed-ack time, or
/// the sender's T3-rtx, which gives the retransmission about one round
/// trip (§7.2.4 step 4), expires and collapses cwnd to one MTU (§7.2.3).
#[test]
fn a_packet_that_fills_the_last_gap_is_acknowledged_at_once() {
    let now = Instant::now();
    let cfg = |seed| Config {
        i_data: false,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(now, cfg(1), cfg(2));
    let tag_b = tag_expected_by_b(&mut a, &mut b, now);
    let n = next_tsn_for(&mut b, now, &mut a);
    let mut buf = Vec::new();
    let data = |tsn: u32, ssn: u16| {
        let mut c = Vec::new();
        raw_chunk(&mut c, 0, 0x03, &data_value(tsn, 1, ssn, 53, &[7; 100]));
        raw_packet(tag_b, &c)
    };
    // n+1 first: a gap, reported at once.
    b.handle_receive(now, &data(n + 1, 1)).unwrap();
    b.poll_transmit(now, &mut buf)
        .expect("a SACK reporting the gap");
    assert_eq!(sack_cum(&buf), Some(n - 1));
    // n fills it.
    b.handle_receive(now, &data(n, 0)).unwrap();
    let sent = b.poll_transmit(now, &mut buf);
    assert!(
        sent.is_some(),
        "the packet that filled the gap is acknowledged at once"
    );
    assert_eq!(sack_cum(&buf), Some(n + 1));
}
