//! Many streams, each sending a message larger than its share of the
//! peer's receive window at once: the association must not stall with the
//! window full of partial messages (RFC 9260 §6.2, RFC 8260 §3).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use ferrtc_sctp::{Association, Config, SendOptions, ppid};

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
