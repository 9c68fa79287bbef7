//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).

use std::time::{Duration, Instant};

use crate::{Association, Config};

/// Parses `data` as an SCTP packet: every chunk through [`parse_chunks`];
/// then feeds it to an established association (checksum checking off via
/// the zero-checksum path) and polls everything.
pub fn parse_packet(data: &[u8]) {
    if let Ok((_, body)) = crate::chunk::parse_header(data) {
        parse_chunks(body);
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

/// Walks `data` as the chunk list of a packet body (RFC 9260 §3.2) and runs
/// every chunk parser on every chunk whatever its type: DATA, I-DATA, SACK,
/// INIT (and its parameters), FORWARD-TSN, I-FORWARD-TSN, RE-CONFIG (and the
/// stream lists of its requests). DATA and I-DATA that parse are written
/// back and must parse to the same chunk. Returns how many chunks there were.
pub fn parse_chunks(data: &[u8]) -> usize {
    use crate::chunk::{
        Data, ForwardTsn, IData, IForwardTsn, Init, InitParams, ReconfigParam, Sack, chunks,
    };
    let mut count = 0;
    let mut buf = Vec::new();
    for c in chunks(data).flatten() {
        count += 1;
        if let Ok(d) = Data::parse(c.flags, c.value) {
            buf.clear();
            crate::chunk::write_data(&mut buf, &d);
            let again = chunks(&buf).next().and_then(Result::ok);
            let again = again.and_then(|c| Data::parse(c.flags, c.value).ok());
            assert_eq!(again, Some(d), "DATA chunk did not round-trip");
        }
        if let Ok(d) = IData::parse(c.flags, c.value) {
            buf.clear();
            crate::chunk::write_idata(&mut buf, &d);
            let again = chunks(&buf).next().and_then(Result::ok);
            let again = again.and_then(|c| IData::parse(c.flags, c.value).ok());
            assert_eq!(again, Some(d), "I-DATA chunk did not round-trip");
        }
        let _ = Sack::parse(c.value).map(|s| s.gaps().count());
        let _ = Init::parse(c.value).and_then(|i| InitParams::parse(i.params));
        let _ = ForwardTsn::parse(c.value).map(|f| f.streams().count());
        let _ = IForwardTsn::parse(c.value).map(|f| f.entries().count());
        for p in crate::chunk::reconfig_params(c.value).flatten() {
            if let ReconfigParam::OutgoingReset { streams, .. }
            | ReconfigParam::IncomingReset { streams, .. } = p
            {
                let _ = crate::chunk::stream_list(streams).count();
            }
        }
    }
    count
}

/// Two associations connected in memory; returns one and its local tag.
fn established_pair(now: Instant) -> (Association, u32) {
    let cfg = |seed| Config {
        seed: Some(seed),
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
            super::parse_chunks(&bytes);
        }
    }

    #[test]
    fn chunk_walk_round_trips_data_and_idata_chunks() {
        // DATA (type 0, B|E flags): TSN 1, stream 2, SSN 3, PPID 51, "hi";
        // I-DATA (type 64): TSN 4, stream 5, MID 6, PPID 53, "yo"; then a
        // chunk whose length runs past the end, which ends the walk.
        let mut body = vec![
            0, 3, 0, 18, 0, 0, 0, 1, 0, 2, 0, 3, 0, 0, 0, 51, b'h', b'i', 0, 0,
        ];
        body.extend_from_slice(&[64, 3, 0, 22, 0, 0, 0, 4, 0, 5, 0, 0, 0, 0, 0, 6]);
        body.extend_from_slice(&[0, 0, 0, 53, b'y', b'o', 0, 0]);
        body.extend_from_slice(&[3, 0, 0xff, 0xff]);
        assert_eq!(super::parse_chunks(&body), 2);
    }
}
