//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).

use crate::{Config, Context, ProtectionProfile};

/// Feeds arbitrary bytes to `unprotect_rtp` and `unprotect_rtcp`; the first
/// byte picks the profile. Must never panic, whatever the input.
pub fn unprotect(data: &[u8]) {
    let Some((&pick, packet)) = data.split_first() else {
        return;
    };
    let profile = ProtectionProfile::ALL[usize::from(pick) % ProtectionProfile::ALL.len()];
    let key = [0x5a; 32];
    let salt = [0xa5; 14];
    let Ok(mut ctx) = Context::new(
        profile,
        &key[..profile.master_key_len()],
        &salt[..profile.master_salt_len()],
        Config::default(),
    ) else {
        return;
    };
    let _ = ctx.unprotect_rtp(&mut packet.to_vec());
    let _ = ctx.unprotect_rtcp(&mut packet.to_vec());
}

/// Runs a script of packets from `data` through a sender and a receiver
/// context of the profile the first byte picks, tampering with some and
/// replaying others. Random bytes never authenticate, so [`unprotect`] alone
/// cannot reach decryption, rollover tracking or the replay window; this can.
///
/// Each step is 4 bytes `[seq_hi, seq_lo, flags, len]` then `len % 64`
/// payload bytes. `flags`: bit 0 RTCP instead of RTP, bit 1 flip one bit of
/// the protected packet, bit 2 deliver it twice, bit 4 add an empty RTP
/// header extension, bits 5-7 the SSRC. Checks that a packet the receiver
/// accepts is exactly the one sent, and that tampered packets and replays
/// are refused. Returns how many packets the receiver accepted.
pub fn round_trip(data: &[u8]) -> usize {
    let Some((&pick, mut script)) = data.split_first() else {
        return 0;
    };
    let profile = ProtectionProfile::ALL[usize::from(pick) % ProtectionProfile::ALL.len()];
    let key = [0x3c; 32];
    let salt = [0xc3; 14];
    let make = || {
        Context::new(
            profile,
            &key[..profile.master_key_len()],
            &salt[..profile.master_salt_len()],
            Config::default().with_replay_window(64),
        )
    };
    let (Ok(mut sender), Ok(mut receiver)) = (make(), make()) else {
        return 0;
    };
    let mut accepted = 0;
    while let Some((&[seq_hi, seq_lo, flags, len], rest)) = script.split_first_chunk::<4>() {
        let (payload, rest) = rest.split_at(usize::from(len % 64).min(rest.len()));
        script = rest;
        let rtcp = flags & 1 != 0;
        let ssrc = u32::from(flags >> 5).to_be_bytes();
        let mut plain = Vec::with_capacity(80);
        if rtcp {
            // RFC 3550 §6.4.1: a sender report header with the SSRC.
            plain.extend_from_slice(&[0x80, 200, 0, 6]);
            plain.extend_from_slice(&ssrc);
        } else {
            let x = if flags & 0x10 != 0 { 0x10 } else { 0 };
            plain.extend_from_slice(&[0x80 | x, 96, seq_hi, seq_lo, 0, 0, 0, 1]);
            plain.extend_from_slice(&ssrc);
            if x != 0 {
                plain.extend_from_slice(&[0xbe, 0xde, 0, 0]);
            }
        }
        plain.extend_from_slice(payload);
        let mut packet = plain.clone();
        let protected = if rtcp {
            sender.protect_rtcp(&mut packet)
        } else {
            sender.protect_rtp(&mut packet)
        };
        if protected.is_err() {
            continue;
        }
        let tampered = flags & 2 != 0;
        if tampered {
            let at = usize::from(seq_lo) % packet.len();
            if let Some(byte) = packet.get_mut(at) {
                *byte ^= 1 << (seq_hi % 8);
            }
        }
        let mut unprotect = |mut p: Vec<u8>| {
            let result = if rtcp {
                receiver.unprotect_rtcp(&mut p)
            } else {
                receiver.unprotect_rtp(&mut p)
            };
            result.map(|len| p.get(..len).map(<[u8]>::to_vec))
        };
        let Ok(received) = unprotect(packet.clone()) else {
            continue;
        };
        assert!(!tampered, "{profile:?}: a tampered packet was accepted");
        assert_eq!(received.as_deref(), Some(plain.as_slice()), "{profile:?}");
        accepted += 1;
        if flags & 4 != 0 {
            assert!(
                unprotect(packet).is_err(),
                "{profile:?}: a replayed packet was accepted"
            );
        }
    }
    accepted
}

/// Tag lengths of the supported profiles, and 0 (plain RTP).
const TAG_LENGTHS: [usize; 4] = [0, 10, 16, 4];

/// Parses `data` as an RTP header (RFC 3550 §5.1: fixed header, CSRC list,
/// header extension) with every tag length as the bound the header must fit
/// in, and checks that the payload offset it reports lies inside that bound.
pub fn parse_rtp(data: &[u8]) {
    for tag in TAG_LENGTHS {
        let limit = data.len().saturating_sub(tag);
        if let Ok(header) = crate::header::parse_rtp(data, limit) {
            assert!(header.len <= limit, "RTP header runs past its bound");
            assert!(header.len >= 12, "RTP header shorter than the fixed part");
        }
    }
}

/// Parses `data` as the clear part of an RTCP packet (RFC 3550 §6.4.1, RFC
/// 3711 §3.4: common header and sender SSRC) with every SRTCP overhead as
/// the minimum length.
pub fn parse_rtcp(data: &[u8]) {
    for tag in TAG_LENGTHS {
        let min_len = crate::header::RTCP_CLEAR_HEADER + tag + 4;
        if crate::header::parse_rtcp(data, min_len).is_ok() {
            assert!(
                data.len() >= min_len,
                "RTCP accepted below its minimum length"
            );
        }
    }
}

/// A context of the profile `pick` selects, with one fixed key.
fn fixed_context(pick: u8, config: Config) -> Option<Context> {
    let profile = ProtectionProfile::ALL[usize::from(pick) % ProtectionProfile::ALL.len()];
    let key = [0x77; 32];
    let salt = [0x88; 14];
    Context::new(
        profile,
        &key[..profile.master_key_len()],
        &salt[..profile.master_salt_len()],
        config,
    )
    .ok()
}

/// Protects `data` (after a profile byte) as a plain RTP packet with a fixed
/// key and unprotects it with a fresh receiver: protect may refuse the packet
/// (Err), but whatever it protects must come back byte for byte.
pub fn rtp_round_trip(data: &[u8]) {
    let Some((&pick, plain)) = data.split_first() else {
        return;
    };
    let sender = fixed_context(pick, Config::default());
    let receiver = fixed_context(pick, Config::default());
    let (Some(mut sender), Some(mut receiver)) = (sender, receiver) else {
        return;
    };
    let mut packet = plain.to_vec();
    if sender.protect_rtp(&mut packet).is_err() {
        return;
    }
    let len = receiver.unprotect_rtp(&mut packet);
    assert_eq!(
        len.ok().and_then(|len| packet.get(..len)),
        Some(plain),
        "a protected RTP packet did not round-trip"
    );
}

/// Protects `data` (after a profile byte) as a plain RTCP packet with a
/// fixed key, encrypted or not as bit 7 of the profile byte says, and
/// unprotects it: whatever protect accepts must come back byte for byte.
pub fn rtcp_round_trip(data: &[u8]) {
    let Some((&pick, plain)) = data.split_first() else {
        return;
    };
    let sender = fixed_context(pick, Config::default().with_encrypt_rtcp(pick & 0x80 == 0));
    let receiver = fixed_context(pick, Config::default());
    let (Some(mut sender), Some(mut receiver)) = (sender, receiver) else {
        return;
    };
    let mut packet = plain.to_vec();
    if sender.protect_rtcp(&mut packet).is_err() {
        return;
    }
    let len = receiver.unprotect_rtcp(&mut packet);
    assert_eq!(
        len.ok().and_then(|len| packet.get(..len)),
        Some(plain),
        "a protected RTCP packet did not round-trip"
    );
}

#[cfg(test)]
mod tests {
    use super::{parse_rtcp, parse_rtp, round_trip, rtcp_round_trip, rtp_round_trip};

    /// A script step: `[seq_hi, seq_lo, flags, len]` and `len` payload bytes.
    fn step(seq: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
        let [hi, lo] = seq.to_be_bytes();
        let mut s = vec![hi, lo, flags, payload.len() as u8];
        s.extend_from_slice(payload);
        s
    }

    #[test]
    fn round_trip_script_accepts_clean_packets_and_refuses_tampering_and_replays() {
        for pick in 0..4u8 {
            let mut data = vec![pick];
            // RTP across a sequence wrap, with and without extension, replays,
            // tampering, RTCP interleaved, several SSRCs.
            for (i, seq) in (65_530..=65_535).chain(0..6).enumerate() {
                let i = i as u8;
                let flags = (i % 8) << 5 | if i % 3 == 0 { 0x14 } else { 0 };
                data.extend(step(seq, flags, &[i; 20]));
                data.extend(step(seq, 0x01 | flags, b"rtcp body"));
            }
            data.extend(step(7, 0x02, b"tampered"));
            data.extend(step(8, 0x03, b"tampered rtcp"));
            // Every clean packet (12 RTP, 12 RTCP) arrives; the two tampered
            // ones and the four replays (every third RTP packet) do not.
            assert_eq!(round_trip(&data), 24, "profile {pick}");
        }
    }

    #[test]
    fn header_parsers_and_fixed_key_round_trips_survive_sample_inputs() {
        let mut state = 11u64;
        let mut samples: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x80],
            // RTP with 15 CSRCs and no room for them.
            vec![0x8f, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
            // RTP with an extension that claims 65535 words.
            vec![
                0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff,
            ],
            // A sender report header.
            vec![0x80, 200, 0, 6, 1, 2, 3, 4, 5, 6, 7, 8],
        ];
        for len in [1usize, 13, 40, 200, 1200] {
            samples.push(
                (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        (state >> 33) as u8
                    })
                    .collect(),
            );
        }
        for sample in &samples {
            parse_rtp(sample);
            parse_rtcp(sample);
            for pick in 0..4u8 {
                let mut data = vec![pick | 0x80];
                data.extend_from_slice(sample);
                rtp_round_trip(&data);
                rtcp_round_trip(&data);
                data[0] = pick;
                rtcp_round_trip(&data);
            }
        }
    }

    #[test]
    fn a_valid_rtp_packet_round_trips_through_the_fixed_key_pair() {
        // The helper must actually reach unprotect: a well-formed packet with
        // a header extension and two CSRCs comes back unchanged.
        let mut p = vec![
            0x92, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]);
        p.extend_from_slice(b"media");
        let config = crate::Config::default;
        let mut sender = super::fixed_context(1, config()).unwrap();
        let mut receiver = super::fixed_context(1, config()).unwrap();
        let mut packet = p.clone();
        sender.protect_rtp(&mut packet).unwrap();
        assert_ne!(packet, p);
        let len = receiver.unprotect_rtp(&mut packet).unwrap();
        assert_eq!(&packet[..len], &p[..]);
    }
}
