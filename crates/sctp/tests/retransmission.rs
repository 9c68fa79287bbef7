//! Retransmission rules driven by forged SACKs (RFC 9260 §6.2.1, §6.3):
//! what the sender does when the receiver acknowledges, then takes back.

mod common;

use std::time::Instant;

use common::*;
use ferrtc_sctp::{Association, AssociationState, Config, SendOptions, ppid};

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

/// The TSNs of the DATA chunks in a packet.
fn data_tsns(packet: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = &packet[12..];
    while rest.len() >= 8 {
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if rest[0] == 0 {
            out.push(u32::from_be_bytes(rest[4..8].try_into().unwrap()));
        }
        let padded = (len + 3) & !3;
        if len < 4 || padded > rest.len() {
            break;
        }
        rest = &rest[padded..];
    }
    out
}

/// An association (DATA, not I-DATA) whose sender `a` has ten 1,100-byte
/// chunks in flight: `a`, the verification tag `a` expects, and the TSNs
/// in the order sent.
fn ten_chunks_in_flight(now: Instant) -> (Association, u32, Vec<u32>) {
    let cfg = |seed| Config {
        i_data: false,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(now, cfg(1), cfg(2));
    let tag_a = tag_expected_by_b(&mut b, &mut a, now);
    for k in 0..10u8 {
        a.send(now, 1, ppid::BINARY, &[k; 1100], SendOptions::default())
            .unwrap();
    }
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    while a.poll_transmit(now, &mut buf).is_some() {
        sent.extend(data_tsns(&buf));
    }
    (a, tag_a, sent)
}

/// TSN t is lost; SACKs keep gap-acking the chunks after it, one more each
/// time (data that was in flight before the fast retransmission). The
/// third miss indication fast-retransmits t (RFC 9260 §7.2.4); the chunk
/// is then ineligible for a subsequent fast retransmit (§7.2.4 step 5), so
/// further miss indications, which only say that chunks sent before the
/// retransmission arrived, must not send it again (that would be a
/// retransmission per three SACKs, a storm on a large window).
#[test]
fn a_chunk_is_fast_retransmitted_only_once() {
    let now = Instant::now();
    let (mut a, tag_a, sent) = ten_chunks_in_flight(now);
    let mut buf = Vec::new();
    assert_eq!(sent.len(), 10, "ten chunks in flight: {sent:?}");
    let t = sent[0];
    let mut sends_of_t = 0;
    for k in 2..=10u16 {
        let mut c = Vec::new();
        raw_chunk(&mut c, 3, 0, &sack_value(t - 1, 1 << 20, &[(2, k)]));
        a.handle_receive(now, &raw_packet(tag_a, &c)).unwrap();
        while a.poll_transmit(now, &mut buf).is_some() {
            sends_of_t += data_tsns(&buf).iter().filter(|&&x| x == t).count();
        }
    }
    assert_eq!(
        sends_of_t, 1,
        "TSN {t} fast-retransmitted once, not on every third SACK"
    );
    assert_eq!(a.stats().data_chunks_retransmitted, 1);
}

/// The first outstanding chunk keeps getting lost while the peer
/// acknowledges, by gap blocks, a new chunk after every T3-rtx expiry:
/// the peer is reachable, and "the counter MUST be reset each time a DATA
/// chunk sent to that peer endpoint is acknowledged (by the reception of
/// a SACK)" (RFC 9260 §8.1), gap-acked or not. The association must not
/// be given up after Association.Max.Retrans such expiries.
#[test]
fn gap_acknowledged_data_resets_the_association_error_counter() {
    let now = Instant::now();
    let (mut a, tag_a, sent) = ten_chunks_in_flight(now);
    let mut buf = Vec::new();
    let t = sent[0];
    let mut at = now;
    // Max.Retrans is 10: eleven uncounted expiries would give up.
    for k in 2..=10u16 {
        at = a.poll_timeout().expect("T3-rtx runs");
        a.handle_timeout(at);
        while a.poll_transmit(at, &mut buf).is_some() {}
        // TSN t stays missing; one more chunk after it arrives.
        let mut c = Vec::new();
        raw_chunk(&mut c, 3, 0, &sack_value(t - 1, 1 << 20, &[(2, k)]));
        a.handle_receive(at, &raw_packet(tag_a, &c)).unwrap();
        // And another expiry without news.
        at = a.poll_timeout().expect("T3-rtx runs");
        a.handle_timeout(at);
        while a.poll_transmit(at, &mut buf).is_some() {}
    }
    assert_eq!(
        a.state(),
        AssociationState::Established,
        "after {:?}, {:?}",
        at - now,
        a.stats()
    );
}

/// Partial reliability: the first outstanding chunk A (maxRetransmits 0)
/// is abandoned and waits in the queue for the peer to ack the
/// FORWARD-TSN; B, right after it, is then the first outstanding chunk
/// (RFC 3758: abandoned chunks are no longer outstanding data). Its fast
/// retransmission must restart T3-rtx like that of the lowest TSN
/// (RFC 9260 §7.2.4 step 4), or T3-rtx, started a round trip earlier,
/// expires before B's SACK can come back and collapses cwnd (§7.2.3).
#[test]
fn fast_retransmission_behind_an_abandoned_chunk_restarts_t3() {
    use ferrtc_sctp::Reliability;
    use std::time::Duration;
    let t0 = Instant::now();
    let cfg = |seed| Config {
        i_data: false,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(t0, cfg(1), cfg(2));
    let tag_a = tag_expected_by_b(&mut b, &mut a, t0);
    let pr = SendOptions {
        unordered: true,
        reliability: Reliability::MaxRetransmits(0),
    };
    a.send(t0, 1, ppid::BINARY, &[0xaa; 1100], pr).unwrap();
    for k in 1..10u8 {
        a.send(t0, 2, ppid::BINARY, &[k; 1100], SendOptions::default())
            .unwrap();
    }
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    while a.poll_transmit(t0, &mut buf).is_some() {
        sent.extend(data_tsns(&buf));
    }
    assert_eq!(sent.len(), 10, "{sent:?}");
    let t = sent[0];
    // 900 ms later, three SACKs report t and t+1 missing.
    let t1 = t0 + Duration::from_millis(900);
    let mut rtx = Vec::new();
    for k in 3..=5u16 {
        let mut c = Vec::new();
        raw_chunk(&mut c, 3, 0, &sack_value(t - 1, 1 << 20, &[(3, k)]));
        a.handle_receive(t1, &raw_packet(tag_a, &c)).unwrap();
        while a.poll_transmit(t1, &mut buf).is_some() {
            rtx.extend(data_tsns(&buf));
        }
    }
    assert_eq!(rtx, vec![t + 1], "A abandoned, B fast-retransmitted");
    // One RTO (at least 200 ms) after B's retransmission T3-rtx may expire;
    // 150 ms after it, it must not have.
    a.handle_timeout(t1 + Duration::from_millis(150));
    assert_eq!(
        a.stats().t3_expiries,
        0,
        "T3-rtx kept the deadline started before B's fast retransmission: {:?}",
        a.stats()
    );
}
