//! Properties: arbitrary bytes with a valid header, tag and checksum never
//! panic an established association and never grow its memory past the limits.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrtc_sctp::{Config, Event, SendOptions, ppid};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_chunks_never_panic_an_established_association(
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8)
    ) {
        let now = Instant::now();
        let (mut a, mut b) = connected_pair(now, config(1), config(2));
        a.send(now, 0, ppid::STRING, b"x", SendOptions::default()).unwrap();
        let mut buf = Vec::new();
        a.poll_transmit(now, &mut buf).unwrap();
        let tag = tag_of(&buf);
        for body in &packets {
            let _ = b.handle_receive(now, &raw_packet(tag, body));
            while b.poll_transmit(now, &mut buf).is_some() {}
            b.handle_timeout(now + Duration::from_secs(1));
            prop_assert!(b.receive_buffered() <= 2 * Config::default().max_receive_buffer);
        }
        while b.poll_event().is_some() {}
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_fresh_association(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let now = Instant::now();
        let mut b = ferrtc_sctp::Association::new(config(2));
        let _ = b.handle_receive(now, &bytes);
        let mut fixed = bytes.clone();
        if fixed.len() >= 12 {
            fixed[..2].copy_from_slice(&5000u16.to_be_bytes());
            fixed[2..4].copy_from_slice(&5000u16.to_be_bytes());
            fixed[8..12].copy_from_slice(&[0; 4]);
            let crc = crc32c::crc32c(&fixed);
            fixed[8..12].copy_from_slice(&crc.to_le_bytes());
        }
        let _ = b.handle_receive(now, &fixed);
        let mut buf = Vec::new();
        while b.poll_transmit(now, &mut buf).is_some() {}
        prop_assert!(b.poll_event().is_none_or(|e| !matches!(e, Event::Message(_))));
    }
}

#[test]
fn zero_checksum_is_used_only_when_both_sides_agree() {
    let now = Instant::now();
    let on = |seed| Config {
        zero_checksum: true,
        ..config(seed)
    };
    // Both agree: DATA packets carry a zero checksum and are accepted.
    let (mut a, mut b) = connected_pair(now, on(1), on(2));
    assert!(a.zero_checksum_in_use() && b.zero_checksum_in_use());
    a.send(now, 1, ppid::BINARY, &[1; 100], SendOptions::default())
        .unwrap();
    let mut buf = Vec::new();
    a.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(&buf[8..12], &[0, 0, 0, 0]);
    b.handle_receive(now, &buf).unwrap();
    let (msgs, _) = drain(&mut b);
    assert_eq!(msgs.len(), 1);
    // Only one side offers it: CRC32c everywhere, and a zero checksum is refused.
    let (mut a, mut b) = connected_pair(now, on(1), config(2));
    assert!(!a.zero_checksum_in_use() && !b.zero_checksum_in_use());
    a.send(now, 1, ppid::BINARY, &[1; 100], SendOptions::default())
        .unwrap();
    a.poll_transmit(now, &mut buf).unwrap();
    assert_ne!(&buf[8..12], &[0, 0, 0, 0]);
    buf[8..12].copy_from_slice(&[0; 4]);
    assert!(b.handle_receive(now, &buf).is_err());
}
