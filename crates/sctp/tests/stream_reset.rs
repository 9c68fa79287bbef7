//! Stream reset (RFC 6525) in memory: what a stream keeps, and what it
//! forgets, once its reset completes and it is used again.

mod common;

use std::time::Instant;

use common::*;
use ferrtc_sctp::{Event, SendOptions, ppid};

/// A completed outgoing reset ends the stream's use (a data channel's
/// close, RFC 8831 §6.7): its `bufferedAmountLow` threshold goes too. Sent
/// again afterwards with no threshold set (0), a large message fires
/// `BufferedAmountLow` once, when the stream's buffered amount reaches 0,
/// not when it crosses the old 50,000.
#[test]
fn a_completed_reset_clears_the_streams_low_threshold() {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(1), config(2));
    a.set_buffered_amount_low_threshold(1, 50_000);
    a.send(now, 1, ppid::BINARY, b"old", SendOptions::default())
        .unwrap();
    a.reset_stream(1).unwrap();
    pump(&mut a, &mut b, now);
    assert!(drain(&mut a).1.contains(&Event::OutgoingStreamReset(1)));
    drain(&mut b);
    a.send(
        now,
        1,
        ppid::BINARY,
        &[5u8; 200_000],
        SendOptions::default(),
    )
    .unwrap();
    let mut lows = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..10_000 {
        let Some(_) = a.poll_transmit(now, &mut buf) else {
            break;
        };
        let _ = b.handle_receive(now, &buf);
        while let Some(e) = a.poll_event() {
            if e == Event::BufferedAmountLow(1) {
                lows.push(a.buffered_amount(1));
            }
        }
        while b.poll_transmit(now, &mut buf).is_some() {
            let _ = a.handle_receive(now, &buf);
        }
        drain(&mut b);
        while let Some(e) = a.poll_event() {
            if e == Event::BufferedAmountLow(1) {
                lows.push(a.buffered_amount(1));
            }
        }
    }
    assert_eq!(a.buffered_amount(1), 0, "all sent");
    assert_eq!(lows, [0], "buffered amount at each BufferedAmountLow");
}
