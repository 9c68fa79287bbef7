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

#[cfg(test)]
mod tests {
    use super::round_trip;

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
}
