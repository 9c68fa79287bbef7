//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; also
//! built for this crate's unit tests, which run them on sample inputs).

use std::collections::HashSet;
use std::time::Instant;

use crate::{Config, DataChannelInit, DataChannels, Event};

/// Parses `data` as a DCEP message and, when it parses, checks that
/// writing it back gives a message that parses to the same value.
pub fn parse_dcep(data: &[u8]) {
    if let Ok(m) = crate::DcepMessage::parse(data) {
        let mut out = Vec::new();
        m.write(&mut out);
        assert_eq!(crate::DcepMessage::parse(&out).ok(), Some(m));
    }
}

/// Most channels the engine under fuzz accepts, so the limit is reached.
const MAX_CHANNELS: usize = 8;

/// Most closed channels it keeps, so old ones are forgotten.
const MAX_CLOSED_CHANNELS: usize = 4;

/// Feeds `data` to a [`DataChannels`] engine as SCTP messages from a
/// hostile peer, as [`DataChannels::handle_message`] gets them. Each record
/// is `[stream, selector, len, len bytes of payload]`: the stream is 0..=255,
/// the selector's low 3 bits pick the PPID (DCEP, string, binary, their
/// empty forms, the deprecated partial ones, an unknown one) and its high
/// bit asks us to close that stream's channel first. Checks that the
/// channel limits hold, that every event names a channel we created or the
/// peer announced with [`Event::Incoming`], and that nothing follows a
/// channel's [`Event::Closed`].
pub fn messages(data: &[u8]) {
    const PPIDS: [u32; 8] = [50, 51, 53, 56, 57, 52, 54, 9999];
    let now = Instant::now();
    let mut dc = DataChannels::new(Config {
        max_channels: MAX_CHANNELS,
        max_closed_channels: MAX_CLOSED_CHANNELS,
        ..Config::default()
    });
    dc.set_role(now, ferrtc_dtls::Role::Server);
    let negotiated = DataChannelInit {
        negotiated: true,
        id: Some(2),
        ..DataChannelInit::default()
    };
    let mut known = HashSet::new();
    let mut closed = HashSet::new();
    known.extend(dc.create(now, "negotiated", negotiated).ok());
    known.extend(dc.create(now, "in-band", DataChannelInit::default()).ok());
    let mut rest = data;
    while let [stream, selector, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        let stream = u16::from(*stream);
        if selector & 0x80 != 0 {
            let on_stream = dc
                .channels()
                .find(|id| dc.channel(*id).and_then(|c| c.id) == Some(stream));
            if let Some(id) = on_stream {
                let _ = dc.close(now, id);
            }
        }
        dc.handle_message(
            now,
            ferrtc_sctp::Message {
                stream,
                ppid: PPIDS[usize::from(selector & 7)],
                unordered: false,
                data: payload.to_vec(),
            },
        );
        assert!(dc.channels().count() <= MAX_CHANNELS);
        assert!(dc.channel_infos().count() <= MAX_CHANNELS + MAX_CLOSED_CHANNELS);
        while let Some(ev) = dc.poll_event() {
            if let Event::Incoming(id) = ev {
                assert!(known.insert(id), "{id:?} announced twice");
                continue;
            }
            let id = match ev {
                Event::Open(id)
                | Event::BufferedAmountLow(id)
                | Event::Closing(id)
                | Event::Closed(id)
                | Event::Message { channel: id, .. } => id,
                _ => continue,
            };
            assert!(known.contains(&id), "event for unknown {id:?}");
            assert!(!closed.contains(&id), "{ev:?} after {id:?} closed");
            if ev == Event::Closed(id) {
                closed.insert(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_entry_point_survives_sample_inputs() {
        for input in [
            &[][..],
            &[3],
            &[2],
            &[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, b'a'],
        ] {
            super::parse_dcep(input);
        }
    }

    #[test]
    fn message_fuzz_entry_point_survives_sample_inputs() {
        let open = [3u8, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, b'a'];
        let mut opens = Vec::new();
        for stream in 0..12u8 {
            opens.extend_from_slice(&[stream, 0, open.len() as u8]);
            opens.extend_from_slice(&open);
        }
        for input in [
            &[][..],
            &[2, 1, 2, b'h', b'i'],
            &[2, 1, 2, 0xff, 0xfe],
            &[2, 0x81, 0, 2, 6, 1, 0],
            &opens,
        ] {
            super::messages(input);
        }
    }

    #[test]
    fn message_fuzz_entry_point_survives_pseudo_random_inputs() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..500 {
            let input: Vec<u8> = (0..256)
                .map(|_| {
                    // xorshift64
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Small streams and lengths, so records hit channels.
                    (x % 16) as u8
                })
                .collect();
            super::messages(&input);
        }
    }
}
