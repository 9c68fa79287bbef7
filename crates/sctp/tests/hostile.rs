//! A peer that misbehaves: garbage chunks, oversized messages, floods of
//! tiny messages, bad checksums and tags. Memory stays within the limits,
//! and the association either carries on or aborts, never grows.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrtc_sctp::{AssociationState, CloseReason, Config, Error, Event, SendOptions, ppid};

/// These tests forge DATA chunks by hand, so I-DATA stays off.
fn config(seed: u64) -> Config {
    Config {
        i_data: false,
        ..common::config(seed)
    }
}

#[test]
fn unknown_chunks_are_skipped_or_stop_processing_by_their_high_bits() {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(1), config(2));
    let tag = tag_expected_by_b(&mut a, &mut b, now);
    let tsn = next_tsn_for(&mut b, now, &mut a);
    // 0xC1 (skip and report), then DATA: the DATA is processed.
    let mut chunks = Vec::new();
    raw_chunk(&mut chunks, 0xC1, 0, b"junk");
    raw_chunk(
        &mut chunks,
        0,
        0x03,
        &data_value(tsn, 0, 2, ppid::STRING, b"after skip"),
    );
    b.handle_receive(now, &raw_packet(tag, &chunks)).unwrap();
    let (msgs, _) = drain(&mut b);
    assert_eq!(msgs.len(), 1, "chunk after a 11xxxxxx chunk is processed");
    // b reports the unrecognized chunk in an ERROR chunk.
    let mut buf = Vec::new();
    let mut saw_error = false;
    while b.poll_transmit(now, &mut buf).is_some() {
        saw_error |= chunk_types(&buf).contains(&9);
        a.handle_receive(now, &buf).unwrap();
    }
    assert!(saw_error, "an ERROR chunk reports the 0xC1 chunk");
    let (_, evs) = drain(&mut a);
    assert!(
        evs.contains(&Event::PeerError(6)),
        "cause 6: unrecognized chunk type: {evs:?}"
    );
    // 0x3F (stop, discard): the DATA after it is not processed.
    let mut chunks = Vec::new();
    raw_chunk(&mut chunks, 0x3F, 0, b"junk");
    raw_chunk(
        &mut chunks,
        0,
        0x03,
        &data_value(tsn + 1, 0, 3, ppid::STRING, b"never"),
    );
    b.handle_receive(now, &raw_packet(tag, &chunks)).unwrap();
    let (msgs, _) = drain(&mut b);
    assert!(msgs.is_empty());
    assert_eq!(b.state(), AssociationState::Established);
    assert_eq!(b.stats().chunks_ignored, 2);
}

#[test]
fn packets_with_bad_checksum_or_tag_are_dropped_and_counted() {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(1), config(2));
    let tag = tag_expected_by_b(&mut a, &mut b, now);
    let mut chunks = Vec::new();
    raw_chunk(
        &mut chunks,
        0,
        0x03,
        &data_value(12345, 0, 0, ppid::STRING, b"x"),
    );
    let mut p = raw_packet(tag, &chunks);
    p[9] ^= 1;
    assert!(matches!(
        b.handle_receive(now, &p),
        Err(Error::BadChecksum { .. })
    ));
    let p = raw_packet(tag ^ 1, &chunks);
    assert!(matches!(
        b.handle_receive(now, &p),
        Err(Error::BadVerificationTag { .. })
    ));
    assert_eq!(b.stats().packets_dropped, 2);
    assert_eq!(b.state(), AssociationState::Established);
}

#[test]
fn random_garbage_never_panics_and_never_grows_memory() {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(1), config(2));
    let tag = tag_expected_by_b(&mut a, &mut b, now);
    let mut state = 0x1234_5678_u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut buf = Vec::new();
    for _ in 0..20_000 {
        let n = (rnd() % 64) as usize;
        let mut chunks = Vec::new();
        for _ in 0..(rnd() % 4) {
            let ty = [0u8, 3, 4, 9, 130, 192, 0x41, 0x81, 0xC2][(rnd() % 9) as usize];
            let value: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
            raw_chunk(&mut chunks, ty, rnd() as u8, &value);
        }
        let _ = b.handle_receive(now, &raw_packet(tag, &chunks));
        while b.poll_transmit(now, &mut buf).is_some() {}
        if b.state() == AssociationState::Terminated {
            break;
        }
        assert!(b.receive_buffered() <= 2 * Config::default().max_receive_buffer);
    }
    assert!(b.receive_buffered() <= 2 * Config::default().max_receive_buffer);
}

#[test]
fn oversized_message_aborts_the_association_without_buffering_it() {
    let now = Instant::now();
    let small = Config {
        max_message_size: 4096,
        ..config(2)
    };
    let (mut a, mut b) = connected_pair(now, config(1), small);
    let tag = tag_expected_by_b(&mut a, &mut b, now);
    let tsn = next_tsn_for(&mut b, now, &mut a);
    let mut result = Ok(());
    for i in 0..100u32 {
        // Fragments of one endless message: B first, then middles.
        let flags = if i == 0 { 0x02 } else { 0x00 };
        let mut chunks = Vec::new();
        raw_chunk(
            &mut chunks,
            0,
            flags,
            &data_value(tsn + i, 1, 0, ppid::BINARY, &[7u8; 1000]),
        );
        result = b.handle_receive(now, &raw_packet(tag, &chunks));
        if result.is_err() {
            break;
        }
    }
    assert!(
        matches!(result, Err(Error::MessageTooLarge { .. })),
        "{result:?}"
    );
    assert_eq!(b.state(), AssociationState::Terminated);
    let (_, evs) = drain(&mut b);
    assert!(matches!(
        evs.last(),
        Some(Event::Closed(CloseReason::AbortedLocally(_)))
    ));
    // The peer is told with an ABORT.
    let mut buf = Vec::new();
    b.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(buf[12], 6, "ABORT chunk");
    a.handle_receive(now, &buf).unwrap();
    assert_eq!(a.state(), AssociationState::Terminated);
}

#[test]
fn sending_a_message_over_max_message_size_is_refused() {
    let now = Instant::now();
    let (mut a, _b) = connected_pair(now, config(1), config(2));
    let big = vec![0u8; 256 * 1024 + 1];
    assert!(matches!(
        a.send(now, 0, ppid::BINARY, &big, SendOptions::default()),
        Err(Error::MessageTooLarge { .. })
    ));
    assert!(
        a.send(now, 0, ppid::BINARY, &big[1..], SendOptions::default())
            .is_ok()
    );
}

#[test]
fn send_buffer_limit_is_enforced() {
    let now = Instant::now();
    let cfg = Config {
        max_send_buffer: 100_000,
        ..config(1)
    };
    let (mut a, _b) = connected_pair(now, cfg, config(2));
    let msg = vec![1u8; 30_000];
    for _ in 0..3 {
        a.send(now, 0, ppid::BINARY, &msg, SendOptions::default())
            .unwrap();
    }
    assert!(matches!(
        a.send(now, 0, ppid::BINARY, &msg, SendOptions::default()),
        Err(Error::SendBufferFull { .. })
    ));
    assert_eq!(a.buffered_amount(0), 90_000);
}

#[test]
fn flood_of_tiny_messages_to_a_stalled_application_is_bounded() {
    let now = Instant::now();
    let window = 64 * 1024;
    let cb = Config {
        max_receive_buffer: window,
        ..config(2)
    };
    let (mut a, mut b) = connected_pair(now, config(1), cb);
    let tag = tag_expected_by_b(&mut a, &mut b, now);
    let mut tsn = next_tsn_for(&mut b, now, &mut a);
    // A hostile peer ignores the window: 50,000 one-byte messages, never
    // polled by the application (b's events are not drained).
    let mut dropped_before = b.stats().data_chunks_dropped;
    for i in 0..50_000u32 {
        let mut chunks = Vec::new();
        raw_chunk(
            &mut chunks,
            0,
            0x07,
            &data_value(tsn, (i % 8) as u16, 0, ppid::BINARY, &[1]),
        );
        let _ = b.handle_receive(now, &raw_packet(tag, &chunks));
        tsn = tsn.wrapping_add(1);
        assert!(
            b.receive_buffered() <= 2 * window,
            "held {}",
            b.receive_buffered()
        );
    }
    dropped_before = b.stats().data_chunks_dropped - dropped_before;
    assert!(
        dropped_before > 40_000,
        "most of the flood is dropped: {dropped_before}"
    );
    // The advertised window is zero while the application does not read.
    let mut buf = Vec::new();
    let mut saw_zero_window = false;
    while b.poll_transmit(now, &mut buf).is_some() {
        if buf[12] == 3 {
            saw_zero_window |= u32::from_be_bytes(buf[20..24].try_into().unwrap()) == 0;
        }
    }
    assert!(saw_zero_window);
    // Once the application reads, memory is released.
    drain(&mut b);
    assert_eq!(b.receive_buffered(), 0);
}

#[test]
fn well_behaved_sender_is_throttled_by_a_stalled_reader_without_loss() {
    let now = Instant::now();
    let cb = Config {
        max_receive_buffer: 64 * 1024,
        ..config(2)
    };
    let (mut a, mut b) = connected_pair(now, config(1), cb);
    for k in 0..100 {
        a.send(
            now,
            1,
            ppid::BINARY,
            &numbered_message(k, 10_000),
            SendOptions::default(),
        )
        .unwrap();
    }
    let mut t = now;
    for _ in 0..50 {
        pump(&mut a, &mut b, t);
        t += Duration::from_millis(100);
        a.handle_timeout(t);
        b.handle_timeout(t);
    }
    assert!(b.receive_buffered() <= 2 * 64 * 1024);
    assert_eq!(
        b.stats().data_chunks_dropped,
        0,
        "a compliant sender respects a_rwnd"
    );
    // Now the reader catches up and everything arrives in order.
    let mut got = Vec::new();
    for _ in 0..200 {
        let (msgs, _) = drain(&mut b);
        got.extend(msgs.into_iter().map(|m| check_numbered(&m.data)));
        pump(&mut a, &mut b, t);
        t += Duration::from_millis(100);
        a.handle_timeout(t);
        b.handle_timeout(t);
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn init_flood_keeps_no_state() {
    let now = Instant::now();
    let mut b = ferrtc_sctp::Association::new(config(2));
    let mut init = Vec::new();
    init.extend_from_slice(&7u32.to_be_bytes()); // initiate tag
    init.extend_from_slice(&65536u32.to_be_bytes());
    init.extend_from_slice(&10u16.to_be_bytes());
    init.extend_from_slice(&10u16.to_be_bytes());
    init.extend_from_slice(&1u32.to_be_bytes());
    let mut chunks = Vec::new();
    raw_chunk(&mut chunks, 1, 0, &init);
    for _ in 0..10_000 {
        b.handle_receive(now, &raw_packet(0, &chunks)).unwrap();
    }
    let mut buf = Vec::new();
    let mut answers = 0;
    while b.poll_transmit(now, &mut buf).is_some() {
        answers += 1;
        assert_eq!(buf[12], 2, "INIT-ACK");
    }
    assert_eq!(answers, 1, "INIT-ACKs do not pile up");
    assert_eq!(b.state(), AssociationState::Closed);
}

/// On a stream that has delivered nothing yet (next SSN 0), an ordered
/// DATA chunk with SSN 40000, which serial arithmetic (RFC 1982) puts
/// 25,536 *behind* 0, is stale: it must not be delivered as if it were
/// SSN 0, and the real SSN 0 that follows is delivered (RFC 9260 §6.6:
/// ordered messages are delivered in SSN order).
#[test]
fn an_ordered_message_far_from_the_expected_ssn_is_not_delivered_first() {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(1), config(2));
    let tag = tag_expected_by_b(&mut a, &mut b, now);
    let tsn = next_tsn_for(&mut b, now, &mut a);
    let whole = 0x03; // BEGIN | END, ordered
    let mut c = Vec::new();
    raw_chunk(
        &mut c,
        0,
        whole,
        &data_value(tsn, 5, 40000, ppid::BINARY, b"ssn-40000"),
    );
    b.handle_receive(now, &raw_packet(tag, &c)).unwrap();
    let mut c = Vec::new();
    let next = tsn.wrapping_add(1);
    raw_chunk(
        &mut c,
        0,
        whole,
        &data_value(next, 5, 0, ppid::BINARY, b"ssn-0"),
    );
    b.handle_receive(now, &raw_packet(tag, &c)).unwrap();
    let (msgs, _) = drain(&mut b);
    let got: Vec<&[u8]> = msgs.iter().map(|m| m.data.as_slice()).collect();
    assert_eq!(got, [b"ssn-0".as_slice()]);
}
