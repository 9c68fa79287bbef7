//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).

use std::time::{Duration, Instant};

use crate::{Association, Config};

/// Parses `data` as an SCTP packet: every chunk, every DATA/SACK/INIT/
/// FORWARD-TSN/RE-CONFIG body; then feeds it to an established association
/// (checksum checking off via the zero-checksum path) and polls everything.
pub fn parse_packet(data: &[u8]) {
    if let Ok((_, body)) = crate::chunk::parse_header(data) {
        for c in crate::chunk::chunks(body).flatten() {
            let _ = crate::chunk::Data::parse(c.flags, c.value);
            let _ = crate::chunk::Sack::parse(c.value).map(|s| s.gaps().count());
            let _ = crate::chunk::Init::parse(c.value)
                .and_then(|i| crate::chunk::InitParams::parse(i.params));
            let _ = crate::chunk::ForwardTsn::parse(c.value).map(|f| f.streams().count());
            let _ = crate::chunk::reconfig_params(c.value).count();
        }
    }
    let now = Instant::now();
    let (mut a, tag) = established_pair(now);
    let mut packet = data.to_vec();
    if packet.len() >= 12 {
        // Make the packet reach the chunk logic: right ports and tag, zero checksum.
        packet[0..2].copy_from_slice(&5000u16.to_be_bytes());
        packet[2..4].copy_from_slice(&5000u16.to_be_bytes());
        packet[4..8].copy_from_slice(&tag.to_be_bytes());
        packet[8..12].copy_from_slice(&[0; 4]);
    }
    let _ = a.handle_receive(now, &packet);
    let mut buf = Vec::new();
    for _ in 0..64 {
        if a.poll_transmit(now, &mut buf).is_none() {
            break;
        }
    }
    while a.poll_event().is_some() {}
    a.handle_timeout(now + Duration::from_secs(5));
}

/// Two associations connected in memory; returns one and its local tag.
fn established_pair(now: Instant) -> (Association, u32) {
    let cfg = |seed| Config {
        seed,
        zero_checksum: true,
        ..Config::default()
    };
    let mut a = Association::new(cfg(1));
    let mut b = Association::new(cfg(2));
    a.connect(now);
    let mut buf = Vec::new();
    for _ in 0..4 {
        while a.poll_transmit(now, &mut buf).is_some() {
            let _ = b.handle_receive(now, &buf);
        }
        while b.poll_transmit(now, &mut buf).is_some() {
            let _ = a.handle_receive(now, &buf);
        }
    }
    while a.poll_event().is_some() {}
    let tag = a.local_tag();
    (a, tag)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_entry_point_survives_sample_inputs() {
        let mut state = 7u64;
        for len in [0usize, 1, 11, 12, 16, 40, 200, 1200] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 33) as u8
                })
                .collect();
            super::parse_packet(&bytes);
        }
    }
}
