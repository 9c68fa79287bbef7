//! Maps keyed by SSRC, looked up for every packet.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by SSRC (RFC 3550 §3): what an SRTP context keeps per
/// stream, and what a demultiplexer binds a stream to.
///
/// SSRCs are chosen at random (RFC 3550 §8.1), so one multiplication
/// spreads them as well as the standard library's SipHash, at a fraction
/// of its cost per packet. A peer that picks SSRCs to collide only slows
/// the lookups of its own connection, whose maps are bounded (the
/// context's `max_streams`).
pub type SsrcMap<V> = HashMap<u32, V, BuildHasherDefault<SsrcHasher>>;

/// The hasher of [`SsrcMap`]: a multiplicative hash of the SSRC, its high
/// half folded into the low one (the table takes its bucket from the low
/// bits and its tag from the top ones).
#[derive(Debug, Default, Clone, Copy)]
pub struct SsrcHasher(u64);

/// 2^64 divided by the golden ratio, odd: the usual multiplier of
/// Fibonacci hashing.
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for SsrcHasher {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(MULTIPLIER);
        h ^ (h >> 32)
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 << 32) ^ u64::from(n);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u32` keys are hashed in practice; any other key still
        // hashes correctly, byte by byte.
        for b in bytes {
            self.0 = self.0.rotate_left(8).wrapping_mul(MULTIPLIER) ^ u64::from(*b);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn consecutive_and_random_ssrcs_spread_over_buckets_and_tags() {
        let build = BuildHasherDefault::<SsrcHasher>::default();
        // A table of 64 buckets takes the low 6 bits; the top 7 are the tag.
        for ssrcs in [
            (0..512u32).collect::<Vec<_>>(),
            (0..512u32).map(|i| i << 16).collect(),
            (0..512u32).map(|i| i.wrapping_mul(0x2545_f491)).collect(),
        ] {
            let mut buckets = [0u32; 64];
            let mut tags = [0u32; 128];
            for s in &ssrcs {
                let h = build.hash_one(s);
                buckets[(h & 63) as usize] += 1;
                tags[(h >> 57) as usize] += 1;
            }
            // 8 per bucket and 4 per tag on average: none crowded.
            assert!(buckets.iter().all(|n| *n <= 24), "{buckets:?}");
            assert!(tags.iter().all(|n| *n <= 16), "{tags:?}");
        }
    }

    #[test]
    fn an_ssrc_map_finds_what_it_holds() {
        let mut m = SsrcMap::default();
        for s in [0u32, 1, u32::MAX, 0x8000_0000, 12345] {
            m.insert(s, s ^ 7);
        }
        for s in [0u32, 1, u32::MAX, 0x8000_0000, 12345] {
            assert_eq!(m.get(&s), Some(&(s ^ 7)));
        }
        assert_eq!(m.get(&2), None);
    }
}
