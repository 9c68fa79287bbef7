//! Partial reliability (PR-SCTP, RFC 3758) in memory, in virtual time:
//! what happens to a stream and to the send buffer when messages are
//! abandoned, and how FORWARD-TSN / I-FORWARD-TSN (RFC 8260 §2.3) move the
//! receiver on.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrtc_sctp::{Association, Config, Event, Reliability, SendOptions, ppid};

fn timed(ms: u64) -> SendOptions {
    SendOptions {
        unordered: false,
        reliability: Reliability::MaxLifetime(Duration::from_millis(ms)),
    }
}

/// An ordered message whose lifetime ends while it still waits in the send
/// queue is dropped without ever getting a TSN (RFC 3758 §3.5): the peer
/// never hears of it, so it must not take an SSN (DATA) or MID (I-DATA)
/// either. The next message on the stream gets the number the dropped one
/// would have had, and the receiver, which delivers in SSN order (RFC 9260
/// §6.6), delivers it.
fn a_message_expired_in_the_queue_leaves_no_hole_in_the_stream(i_data: bool) {
    let now = Instant::now();
    let cfg = |seed| Config {
        i_data,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(now, cfg(1), cfg(2));
    // Queued, but nothing is sent until its lifetime is over.
    a.send(now, 1, ppid::BINARY, b"expired", timed(100))
        .unwrap();
    let later = now + Duration::from_millis(200);
    a.send(later, 1, ppid::BINARY, b"fresh", timed(100))
        .unwrap();
    pump(&mut a, &mut b, later);
    let (msgs, _) = drain(&mut b);
    let got: Vec<&[u8]> = msgs.iter().map(|m| m.data.as_slice()).collect();
    assert_eq!(got, vec![b"fresh".as_slice()], "i_data={i_data}");
}

#[test]
fn a_message_expired_in_the_queue_leaves_no_hole_in_the_stream_data() {
    a_message_expired_in_the_queue_leaves_no_hole_in_the_stream(false);
}

#[test]
fn a_message_expired_in_the_queue_leaves_no_hole_in_the_stream_idata() {
    a_message_expired_in_the_queue_leaves_no_hole_in_the_stream(true);
}

/// The same through congestion alone: a burst of 50 ordered messages with
/// a 100 ms lifetime over a 300 ms RTT. What the congestion window lets
/// out in the first round trip arrives; the rest expires in the queue
/// (RFC 3758 §3.5) and must leave no hole in the SSN sequence, so a
/// message sent afterwards is still delivered (RFC 9260 §6.6).
#[test]
fn a_burst_on_a_timed_ordered_stream_over_a_long_rtt_keeps_delivering() {
    let t0 = Instant::now();
    let (mut a, mut b) = connected_pair(t0, config(1), config(2));
    for k in 0..50 {
        a.send(t0, 1, ppid::BINARY, &numbered_message(k, 1000), timed(100))
            .unwrap();
    }
    let mut buf = Vec::new();
    let mut flight = Vec::new();
    while a.poll_transmit(t0, &mut buf).is_some() {
        flight.push(buf.clone());
    }
    // 150 ms one way, each way; b's delayed SACK after 60 ms.
    let t1 = t0 + Duration::from_millis(150);
    for p in &flight {
        let _ = b.handle_receive(t1, p);
    }
    let t_sack = t1 + Duration::from_millis(60);
    b.handle_timeout(t_sack);
    let mut back = Vec::new();
    while b.poll_transmit(t_sack, &mut buf).is_some() {
        back.push(buf.clone());
    }
    let t2 = t0 + Duration::from_millis(360);
    for p in &back {
        let _ = a.handle_receive(t2, p);
    }
    let (first, _) = drain(&mut b);
    assert!(
        !first.is_empty() && first.len() < 50,
        "part of the burst arrived: {}",
        first.len()
    );
    // From now on, a fast path: whatever is sent arrives.
    a.send(
        t2,
        1,
        ppid::BINARY,
        &numbered_message(1000, 1000),
        timed(100),
    )
    .unwrap();
    pump(&mut a, &mut b, t2);
    let (msgs, _) = drain(&mut b);
    let got: Vec<u64> = msgs.iter().map(|m| check_numbered(&m.data)).collect();
    assert_eq!(
        got,
        vec![1000],
        "after a burst of which {} messages arrived; b holds {} bytes",
        first.len(),
        b.receive_buffered()
    );
}

/// Sends what `from` has to send to `to`; returns the packet count.
fn deliver(from: &mut Association, to: &mut Association, now: Instant) -> usize {
    let mut buf = Vec::new();
    let mut n = 0;
    while from.poll_transmit(now, &mut buf).is_some() {
        let _ = to.handle_receive(now, &buf);
        n += 1;
    }
    n
}

/// Drops what `from` has to send; returns the packet count.
fn lose(from: &mut Association, now: Instant) -> usize {
    let mut buf = Vec::new();
    let mut n = 0;
    while from.poll_transmit(now, &mut buf).is_some() {
        n += 1;
    }
    n
}

/// A FORWARD-TSN that still lists a stream the receiver has reset since
/// must not move the reused stream's SSNs. The receiver deferred the
/// reset (RFC 6525 §5.2.2) until a first FORWARD-TSN moved its cumulative
/// TSN over the abandoned SSN 1, then performed it; that SACK and the
/// reset response were lost, so a second abandonment makes the sender
/// send a FORWARD-TSN that names (stream 1, SSN 1) again. The stream's
/// next use starts at SSN 0 (RFC 6525 §5.1.2, §5.2.2): its first messages
/// must be delivered, not dropped as already skipped (with a data channel,
/// the new channel's DATA_CHANNEL_OPEN would be lost).
#[test]
fn a_late_forward_tsn_entry_does_not_skip_ssns_of_a_reset_stream() {
    let t0 = Instant::now();
    let cfg = |seed| Config {
        i_data: false,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(t0, cfg(1), cfg(2));
    let once = SendOptions {
        unordered: false,
        reliability: Reliability::MaxRetransmits(0),
    };
    a.send(t0, 1, ppid::BINARY, b"m0", once).unwrap();
    pump(&mut a, &mut b, t0);
    drain(&mut b);
    // m1 (stream 1, SSN 1) is lost; then the stream is reset.
    a.send(t0, 1, ppid::BINARY, b"m1", once).unwrap();
    assert_eq!(lose(&mut a, t0), 1);
    a.reset_stream(1).unwrap();
    deliver(&mut a, &mut b, t0); // the request: b defers it (in progress)
    deliver(&mut b, &mut a, t0);
    // T3: m1 is abandoned; the FORWARD-TSN (stream 1, SSN 1) reaches b,
    // which performs the deferred reset; its SACK and response are lost.
    let mut now = t0;
    let mut reset_at_b = false;
    for _ in 0..10 {
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        deliver(&mut a, &mut b, now);
        lose(&mut b, now);
        if drain(&mut b).1.contains(&Event::IncomingStreamReset(1)) {
            reset_at_b = true;
            break;
        }
    }
    assert!(reset_at_b, "b performed the reset");
    // Another unreliable message, on stream 3, is lost and abandoned: the
    // new FORWARD-TSN still names stream 1 / SSN 1 (not acked at a yet).
    a.send(now, 3, ppid::BINARY, b"y", once).unwrap();
    lose(&mut a, now);
    let mut forwarded = false;
    for _ in 0..10 {
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        b.handle_timeout(now);
        let mut buf = Vec::new();
        while a.poll_transmit(now, &mut buf).is_some() {
            forwarded |= chunk_types(&buf).contains(&192);
            let _ = b.handle_receive(now, &buf);
        }
        lose(&mut b, now);
        if forwarded {
            break;
        }
    }
    assert!(forwarded, "the second FORWARD-TSN went out");
    // From now on no loss: a's reset completes, stream 1 is used again.
    for _ in 0..10 {
        pump(&mut a, &mut b, now);
        if drain(&mut a).1.contains(&Event::OutgoingStreamReset(1)) {
            break;
        }
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    drain(&mut b);
    for m in [b"ssn0".as_slice(), b"ssn1", b"ssn2"] {
        a.send(now, 1, ppid::BINARY, m, SendOptions::default())
            .unwrap();
    }
    pump(&mut a, &mut b, now);
    let (msgs, _) = drain(&mut b);
    let got: Vec<String> = msgs
        .iter()
        .map(|m| String::from_utf8_lossy(&m.data).into_owned())
        .collect();
    assert_eq!(
        got,
        ["ssn0", "ssn1", "ssn2"],
        "messages on the reset stream"
    );
}

/// A max-retransmits message cut short by loss is abandoned (RFC 3758
/// §3.5): the part still in the send queue leaves it, bufferedAmount
/// falls to 0 and, as for any fall past the threshold (0 here),
/// `BufferedAmountLow` fires (W3C `bufferedamountlow`).
#[test]
fn abandoning_a_partly_sent_message_fires_buffered_amount_low() {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(1), config(2));
    let once = SendOptions {
        reliability: Reliability::MaxRetransmits(0),
        ..SendOptions::default()
    };
    a.send(now, 1, ppid::BINARY, &vec![7u8; 100_000], once)
        .unwrap();
    // The first window's worth leaves and is lost.
    assert!(lose(&mut a, now) > 0);
    let before = a.buffered_amount(1);
    assert!(before > 0 && before < 100_000, "partly sent: {before}");
    drain(&mut a);
    // T3 fires; the lost chunks have no retransmission left: abandoned.
    let later = a.poll_timeout().unwrap() + Duration::from_millis(1);
    a.handle_timeout(later);
    deliver(&mut a, &mut b, later);
    assert_eq!(
        a.buffered_amount(1),
        0,
        "the rest of the message was dropped"
    );
    let (_, events) = drain(&mut a);
    assert!(
        events.contains(&Event::BufferedAmountLow(1)),
        "bufferedAmount fell from {before} to 0: {events:?}"
    );
}

/// The FORWARD-TSN (I-FORWARD-TSN) chunks in a packet: (type, length).
fn forward_tsn_chunks(packet: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut rest = &packet[12..];
    while rest.len() >= 4 {
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if rest[0] == 192 || rest[0] == 194 {
            out.push((rest[0], len));
        }
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    out
}

/// 400 ordered streams each lose an unreliable message, abandoned at
/// once (RFC 3758 §3.5): telling the receiver which SSN (MID) each stream
/// skips takes 400 entries (RFC 3758 §3.2, RFC 8260 §2.3), more than one
/// 1200-byte packet holds. No packet may pass the MTU, and a stream left
/// out of a chunk must not be passed over by its new cumulative TSN (its
/// receiver would wait for the abandoned SSN for ever): the sender moves
/// the peer's cumulative TSN only as far as the streams it lists, and the
/// rest follows. Each stream then delivers its next message.
fn a_forward_tsn_for_more_streams_than_fit_in_a_packet(i_data: bool) {
    const STREAMS: u16 = 400;
    let t0 = Instant::now();
    let cfg = |seed| Config {
        i_data,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(t0, cfg(1), cfg(2));
    let once = SendOptions {
        unordered: false,
        reliability: Reliability::MaxRetransmits(0),
    };
    for s in 1..=STREAMS {
        a.send(t0, s, ppid::BINARY, b"lost", once).unwrap();
    }
    assert!(lose(&mut a, t0) > 1, "several packets lost");
    for s in 1..=STREAMS {
        a.send(t0, s, ppid::BINARY, b"next", SendOptions::default())
            .unwrap();
    }
    let mut now = t0;
    let mut forward_chunks = 0;
    let mut delivered = 0;
    let mut buf = Vec::new();
    for _ in 0..50 {
        for _ in 0..100 {
            let mut moved = false;
            while a.poll_transmit(now, &mut buf).is_some() {
                assert!(buf.len() <= 1200, "packet of {} bytes", buf.len());
                forward_chunks += forward_tsn_chunks(&buf).len();
                let _ = b.handle_receive(now, &buf);
                moved = true;
            }
            while b.poll_transmit(now, &mut buf).is_some() {
                let _ = a.handle_receive(now, &buf);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        delivered += drain(&mut b).0.len();
        if delivered == usize::from(STREAMS) {
            break;
        }
        let Some(t) = a.poll_timeout() else { break };
        now = t;
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    assert_eq!(
        delivered,
        usize::from(STREAMS),
        "every stream's next message"
    );
    assert!(forward_chunks >= 2, "the skips took more than one chunk");
}

#[test]
fn a_forward_tsn_for_more_streams_than_fit_in_a_packet_data() {
    a_forward_tsn_for_more_streams_than_fit_in_a_packet(false);
}

#[test]
fn a_forward_tsn_for_more_streams_than_fit_in_a_packet_idata() {
    a_forward_tsn_for_more_streams_than_fit_in_a_packet(true);
}

/// A message abandoned part way through sending (RFC 3758 §3.5) whose sent
/// fragments all reached the peer: the peer's cumulative TSN moves past
/// them on its own, so the FORWARD-TSN (I-FORWARD-TSN) naming the message's
/// SSN (MID), if lost, must still be sent again: the rest of the message
/// never gets a TSN, and without the skip the peer waits for it for ever,
/// holding every later message of the ordered stream (RFC 9260 §6.6).
fn a_message_abandoned_after_its_sent_fragments_arrived(i_data: bool) {
    let now = Instant::now();
    let cfg = |seed| Config {
        i_data,
        initial_cwnd_mtus: 1,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(now, cfg(1), cfg(2));
    let once = SendOptions {
        reliability: Reliability::MaxRetransmits(0),
        ..SendOptions::default()
    };
    a.send(now, 1, ppid::BINARY, &vec![1u8; 20_000], once)
        .unwrap();
    // The first fragments arrive; the peer's SACK is lost.
    assert!(deliver(&mut a, &mut b, now) > 0);
    assert!(a.buffered_amount(1) > 0, "partly sent");
    lose(&mut b, now);
    // T3 fires: no retransmission left, the message is abandoned, and its
    // FORWARD-TSN is lost too.
    let later = a.poll_timeout().unwrap() + Duration::from_millis(1);
    a.handle_timeout(later);
    assert!(lose(&mut a, later) > 0);
    assert_eq!(a.buffered_amount(1), 0, "the rest was dropped");
    // The next message on the stream: the peer's SACK now acknowledges
    // every fragment that was sent.
    a.send(later, 1, ppid::BINARY, b"next", once).unwrap();
    pump(&mut a, &mut b, later);
    let mut t = later;
    for _ in 0..10 {
        let Some(due) = a.poll_timeout().into_iter().chain(b.poll_timeout()).min() else {
            break;
        };
        t = due.max(t);
        a.handle_timeout(t);
        b.handle_timeout(t);
        pump(&mut a, &mut b, t);
    }
    let (msgs, _) = drain(&mut b);
    let got: Vec<&[u8]> = msgs.iter().map(|m| m.data.as_slice()).collect();
    assert_eq!(got, vec![b"next".as_slice()], "i_data={i_data}");
    assert_eq!(b.receive_buffered(), 0, "the abandoned fragments are freed");
}

#[test]
fn a_message_abandoned_after_its_sent_fragments_arrived_does_not_stall_the_stream_data() {
    a_message_abandoned_after_its_sent_fragments_arrived(false);
}

#[test]
fn a_message_abandoned_after_its_sent_fragments_arrived_does_not_stall_the_stream_idata() {
    a_message_abandoned_after_its_sent_fragments_arrived(true);
}

/// A lost message without retransmissions left is abandoned when T3-rtx
/// marks it for retransmission (RFC 3758 §3.5 A1, C1); with nothing else to
/// send, the packets that follow the timeout must carry the FORWARD-TSN
/// (I-FORWARD-TSN) at once (RFC 3758 §3.5 C3), not one timeout later: the
/// receiver holds every later message of the ordered stream until it comes.
fn a_message_abandoned_at_t3_is_skipped_at_once(i_data: bool) {
    let now = Instant::now();
    let cfg = |seed| Config {
        i_data,
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(now, cfg(1), cfg(2));
    let once = SendOptions {
        reliability: Reliability::MaxRetransmits(0),
        ..SendOptions::default()
    };
    a.send(now, 1, ppid::BINARY, b"lost", once).unwrap();
    assert_eq!(lose(&mut a, now), 1);
    a.send(now, 1, ppid::BINARY, b"waits", once).unwrap();
    pump(&mut a, &mut b, now);
    assert!(drain(&mut b).0.is_empty(), "\"waits\" waits for SSN 0");
    let t3 = a.poll_timeout().unwrap();
    a.handle_timeout(t3);
    let mut buf = Vec::new();
    let mut forward = Vec::new();
    while a.poll_transmit(t3, &mut buf).is_some() {
        forward.extend(forward_tsn_chunks(&buf));
        let _ = b.handle_receive(t3, &buf);
    }
    assert_eq!(forward.len(), 1, "i_data={i_data}");
    let (msgs, _) = drain(&mut b);
    let got: Vec<&[u8]> = msgs.iter().map(|m| m.data.as_slice()).collect();
    assert_eq!(got, vec![b"waits".as_slice()], "i_data={i_data}");
}

#[test]
fn a_message_abandoned_at_t3_is_skipped_at_once_data() {
    a_message_abandoned_at_t3_is_skipped_at_once(false);
}

#[test]
fn a_message_abandoned_at_t3_is_skipped_at_once_idata() {
    a_message_abandoned_at_t3_is_skipped_at_once(true);
}
