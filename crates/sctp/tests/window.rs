//! Many streams, each sending a message larger than its share of the
//! peer's receive window at once: the association must not stall with the
//! window full of partial messages (RFC 9260 §6.2, RFC 8260 §3).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use ferrtc_sctp::{Association, AssociationState, Config, SendOptions, ppid};

const STREAMS: u16 = 32;
const MESSAGE: usize = 256 * 1024;

/// In memory, in virtual time: packets both ways until quiet, then the
/// earliest timer. Returns the messages `b` received, by stream, once all
/// have arrived or `limit` of virtual time has passed.
fn run(a: &mut Association, b: &mut Association, mut now: Instant, limit: Duration) -> usize {
    let end = now + limit;
    let mut received: HashMap<u16, usize> = HashMap::new();
    while now < end {
        pump(a, b, now);
        let (messages, _) = drain(b);
        for m in messages {
            assert_eq!(m.data.len(), MESSAGE, "a whole message");
            assert_eq!(
                check_numbered(&m.data),
                u64::from(m.stream),
                "its own stream's data"
            );
            *received.entry(m.stream).or_default() += 1;
        }
        drain(a);
        if received.len() == usize::from(STREAMS) {
            break;
        }
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end);
        now = next.max(now + Duration::from_millis(1));
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    received.len()
}

fn many_large_messages_at_once(config: Config) {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config.clone(), config);
    for stream in 0..STREAMS {
        let data = numbered_message(u64::from(stream), MESSAGE);
        a.send(
            now,
            stream,
            ppid::BINARY,
            &data,
            SendOptions::RELIABLE_ORDERED,
        )
        .unwrap();
    }
    let done = run(&mut a, &mut b, now, Duration::from_secs(120));
    assert_eq!(
        done,
        usize::from(STREAMS),
        "{done} of {STREAMS} messages arrived; receiver holds {} B, window {} B, state {:?}",
        b.receive_buffered(),
        1024 * 1024,
        a.state()
    );
}

#[test]
fn thirty_two_streams_sending_256_kib_each_at_once_do_not_stall_with_i_data() {
    many_large_messages_at_once(config(1));
}

#[test]
fn thirty_two_streams_sending_256_kib_each_at_once_do_not_stall_without_i_data() {
    many_large_messages_at_once(Config {
        i_data: false,
        ..config(2)
    });
}

#[test]
fn small_messages_still_overtake_a_large_one_with_i_data() {
    // What interleaving is for (RFC 8260 §1): one spread message at a time
    // does not make small messages on other streams wait behind it.
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(3), config(3));
    let large = numbered_message(0, MESSAGE);
    a.send(now, 0, ppid::BINARY, &large, SendOptions::RELIABLE_ORDERED)
        .unwrap();
    for k in 1..=4 {
        let small = numbered_message(k, 100);
        a.send(now, 1, ppid::BINARY, &small, SendOptions::RELIABLE_ORDERED)
            .unwrap();
    }
    let mut order = Vec::new();
    let mut now = now;
    for _ in 0..10_000 {
        pump(&mut a, &mut b, now);
        order.extend(drain(&mut b).0.iter().map(|m| check_numbered(&m.data)));
        if order.len() == 5 {
            break;
        }
        now += Duration::from_millis(10);
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    assert_eq!(order, vec![1, 2, 3, 4, 0]);
}

/// The receiving application stops reading for five minutes: the window
/// closes and the sender probes it with one chunk at a time (RFC 9260 §6.1
/// rule A). The receiver keeps answering every probe with a SACK, so the
/// peer is reachable: the unacknowledged probes must not count towards
/// Association.Max.Retrans (§6.1 A: they "SHOULD NOT increment the error
/// counter"), and the association must be there when the reader resumes.
#[test]
fn a_receiver_that_stops_reading_for_minutes_does_not_abort_the_association() {
    let start = Instant::now();
    let (mut a, mut b) = connected_pair(start, config(4), config(5));
    let count = 64u64;
    for k in 0..count {
        let m = numbered_message(k, 64 * 1024);
        a.send(start, 1, ppid::BINARY, &m, SendOptions::RELIABLE_ORDERED)
            .unwrap();
    }
    let mut now = start;
    let mut got = 0u64;
    let end = start + Duration::from_secs(600);
    while now < end && got < count {
        pump(&mut a, &mut b, now);
        drain(&mut a);
        // The reader is stalled for the first five minutes.
        if now >= start + Duration::from_secs(300) {
            for m in drain(&mut b).0 {
                assert_eq!(check_numbered(&m.data), got, "in order");
                got += 1;
            }
        }
        assert_eq!(
            a.state(),
            AssociationState::Established,
            "after {:?}: stats {:?}",
            now - start,
            a.stats()
        );
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end);
        now = next.max(now + Duration::from_millis(1));
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    assert_eq!(got, count, "every message once the reader resumed");
}

/// The counterpart: the window is closed and then the peer vanishes. With
/// no SACK answering the probes any more, their expiries count again and
/// the association is given up after Association.Max.Retrans (RFC 9260
/// §8.1).
#[test]
fn a_peer_that_vanishes_behind_a_closed_window_still_times_out() {
    let start = Instant::now();
    let (mut a, mut b) = connected_pair(start, config(6), config(7));
    for k in 0..64u64 {
        let m = numbered_message(k, 64 * 1024);
        a.send(start, 1, ppid::BINARY, &m, SendOptions::RELIABLE_ORDERED)
            .unwrap();
    }
    let mut now = start;
    let gone = start + Duration::from_secs(60);
    let end = start + Duration::from_secs(1200);
    let mut buf = Vec::new();
    while now < end && a.state() != AssociationState::Terminated {
        if now < gone {
            pump(&mut a, &mut b, now);
        } else {
            while a.poll_transmit(now, &mut buf).is_some() {}
        }
        drain(&mut a);
        let next = a.poll_timeout().unwrap_or(end);
        now = next.max(now + Duration::from_millis(1));
        a.handle_timeout(now);
        if now < gone {
            b.handle_timeout(now);
        }
    }
    assert_eq!(a.state(), AssociationState::Terminated);
    assert!(now - gone < Duration::from_secs(200), "{:?}", now - gone);
}
