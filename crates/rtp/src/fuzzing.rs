//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).

use std::time::{Duration, Instant};

use crate::cc::estimator::{EstimatorConfig, SendSideEstimator};
use crate::cc::feedback::{FeedbackConfig, FeedbackGenerator};
use crate::codec::Codec;
use crate::packet::RtpPacket;
use crate::rtcp;

/// Parses `data` as RTP and as RTCP. Whatever parses must write back to
/// bytes that parse to the same value. Must never panic.
pub fn parse_rtp_rtcp(data: &[u8]) {
    if let Ok(p) = RtpPacket::parse(data) {
        let bytes = p.to_vec();
        assert_eq!(bytes.len(), p.encoded_len());
        let again = RtpPacket::parse(&bytes).expect("a written RTP packet parses");
        assert_eq!(again.payload, p.payload);
        assert_eq!(again.csrcs, p.csrcs);
        assert_eq!(
            again.extensions.iter().collect::<Vec<_>>(),
            p.extensions.iter().collect::<Vec<_>>()
        );
        assert_eq!(
            again.raw_extension.map(|r| r.profile),
            p.raw_extension.map(|r| r.profile)
        );
    }
    if let Ok(packets) = rtcp::parse(data) {
        let mut bytes = Vec::new();
        if rtcp::write_compound(&packets, &mut bytes).is_ok() {
            let again = rtcp::parse(&bytes).expect("written RTCP parses");
            // A REMB bitrate can lose precision once; the rest is exact.
            assert_eq!(again.len(), packets.len());
        }
    }
}

/// Congestion control under hostile input: every RTCP packet parsed from
/// `data` goes to a send-side estimator that has sent 300 packets (seq
/// numbers from the first two bytes, reported both ways: transport-wide
/// and by SSRC for RFC 8888 feedback), and the bytes as sequence numbers to
/// a feedback generator whose feedback goes to the estimator too. Must never
/// panic, and the target must stay within the configured bounds.
pub fn congestion_control(data: &[u8]) {
    let t0 = Instant::now();
    let config = EstimatorConfig::default();
    let mut estimator = SendSideEstimator::new(config);
    let first = data
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    for i in 0..300u16 {
        let at = t0 + Duration::from_millis(u64::from(i));
        estimator.on_packet_sent(at, first.wrapping_add(i), 1200, None);
        estimator.on_rtp_sent(at, u32::from(first), first.wrapping_add(i), 1200, None);
    }
    let mut now = t0 + Duration::from_millis(300);
    let in_bounds = |e: &SendSideEstimator| {
        let t = e.target_bitrate();
        t >= config.min && t <= config.max
    };
    if let Ok(packets) = rtcp::parse(data) {
        for p in packets {
            now += Duration::from_millis(10);
            match p {
                rtcp::RtcpPacket::TransportFeedback(f) => estimator.on_transport_feedback(now, &f),
                rtcp::RtcpPacket::CongestionControlFeedback(f) => estimator.on_ccfb(now, &f),
                rtcp::RtcpPacket::Remb(r) => estimator.on_remb(&r),
                _ => {}
            }
            assert!(in_bounds(&estimator));
        }
    }
    let mut generator = FeedbackGenerator::new(FeedbackConfig::default());
    for pair in data.chunks_exact(2) {
        now += Duration::from_micros(u64::from(pair[1]) * 100);
        generator.on_packet(now, u16::from_be_bytes([pair[0], pair[1]]));
        while let Some(f) = generator.poll_feedback(now) {
            let bytes = rtcp::RtcpPacket::TransportFeedback(f)
                .to_vec()
                .expect("generated feedback writes");
            let again = rtcp::parse(&bytes).expect("generated feedback parses");
            if let Some(rtcp::RtcpPacket::TransportFeedback(f)) = again.first() {
                estimator.on_transport_feedback(now, f);
            }
        }
    }
    assert!(in_bounds(&estimator));
}

/// Feeds `data` to every depacketizer: the first byte picks a split point
/// pattern, the rest is cut into payloads that go through one depacketizer
/// per codec as one frame. Must never panic.
pub fn depacketize(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(pick).max(1);
    for codec in Codec::ALL {
        let mut d = codec.depacketizer();
        let mut frame = Vec::new();
        for payload in rest.chunks(step) {
            let _ = d.is_frame_start(payload);
            let _ = d.is_keyframe(payload);
            let _ = d.depacketize(payload, &mut frame);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_entry_points_survive_sample_inputs() {
        let mut state = 3u64;
        for len in 0..300 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 56) as u8
                })
                .collect();
            super::parse_rtp_rtcp(&data);
            super::depacketize(&data);
            super::congestion_control(&data);
            let mut rtp = data.clone();
            if let Some(b) = rtp.first_mut() {
                *b = 0x80 | (*b & 0x3f);
            }
            super::parse_rtp_rtcp(&rtp);
        }
    }
}
