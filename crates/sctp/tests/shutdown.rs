//! Graceful shutdown (RFC 9260 §9.2) in memory.

mod common;

use std::time::Instant;

use common::*;
use ferrtc_sctp::{AssociationState, Event, SendOptions, ppid};

/// SHUTDOWN and SHUTDOWN-ACK chunk types (RFC 9260 §3.3.8, §3.3.9).
const SHUTDOWN: u8 = 7;
const SHUTDOWN_ACK: u8 = 8;

/// RFC 9260 §9.2: the receiver of a SHUTDOWN verifies "by checking the
/// Cumulative TSN Ack field of the chunk, that all its outstanding DATA
/// chunks have been received by the SHUTDOWN chunk sender". Here a's last
/// message reached b, whose SACK for it is lost; then b shuts down: b's
/// SHUTDOWN, alone in its packet, acknowledges that message by its
/// Cumulative TSN Ack. a has nothing outstanding then, so it answers with
/// SHUTDOWN-ACK at once, without waiting for T3-rtx to send the message
/// again and for b's SACK of it, and both close.
#[test]
fn a_shutdowns_cumulative_tsn_ack_acknowledges_outstanding_data() {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(1), config(2));
    a.send(now, 1, ppid::BINARY, b"last words", SendOptions::default())
        .unwrap();
    let mut buf = Vec::new();
    a.poll_transmit(now, &mut buf).unwrap();
    b.handle_receive(now, &buf).unwrap();
    assert_eq!(drain(&mut b).0.len(), 1, "b has the message");
    // b's SACK for it is lost.
    while b.poll_transmit(now, &mut buf).is_some() {}
    b.shutdown(now);
    b.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(chunk_types(&buf), [SHUTDOWN], "the SHUTDOWN goes alone");
    a.handle_receive(now, &buf).unwrap();
    assert_eq!(a.state(), AssociationState::ShutdownAckSent);
    a.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(chunk_types(&buf), [SHUTDOWN_ACK]);
    b.handle_receive(now, &buf).unwrap();
    pump(&mut a, &mut b, now);
    assert_eq!(a.state(), AssociationState::Terminated);
    assert_eq!(b.state(), AssociationState::Terminated);
    assert!(
        drain(&mut a)
            .1
            .iter()
            .any(|e| matches!(e, Event::Closed(_)))
    );
}
