//! Fuzzes the RTP and RTCP parsers of ferrtc-rtp (header extensions, every
//! RTCP type, compound packets) and checks that whatever parses writes back
//! to bytes that parse again; also the RFC 4733 telephone-event payload and
//! the DTMF receiver fed with packets cut from the input; and congestion
//! control (transport-cc feedback to the send-side estimator, the input as
//! sequence numbers to the feedback generator).
#![no_main]

use ferrtc_rtp::dtmf::{DtmfReceiver, TelephoneEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrtc_rtp::fuzzing::parse_rtp_rtcp(data);
    ferrtc_rtp::fuzzing::congestion_control(data);
    if let Ok(event) = TelephoneEvent::parse(data) {
        let bytes = event.to_bytes().expect("a parsed telephone-event writes");
        assert_eq!(Some(&bytes[..]), data.get(..4));
    }
    // Each 11 bytes: RTP timestamp (4), sequence (2), marker (1), payload (4).
    let mut receiver = DtmfReceiver::default();
    for packet in data.chunks(11) {
        let Some(([t0, t1, t2, t3, s0, s1, m], payload)) = packet.split_first_chunk::<7>() else {
            break;
        };
        let timestamp = u32::from_be_bytes([*t0, *t1, *t2, *t3]);
        let sequence = u16::from_be_bytes([*s0, *s1]);
        let _ = receiver.handle_packet(payload, timestamp, sequence, m & 1 == 1);
        assert!(receiver.remembered() <= 16);
    }
    while receiver.poll_event().is_some() {}
});
