//! Independent RNG streams for each component, derived from the network seed.

/// Which component an RNG stream belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StreamKind {
    /// A host's links: the stream's lowest bit picks the direction.
    HostLink = 0,
    /// A NAT's public links: the lowest bit picks the direction.
    NatLink = 2,
    /// A NAT's port allocation.
    NatPorts = 4,
}

/// A distinct stream number per component, with bit 0 left for the direction.
pub(crate) fn rng_stream(index: usize, kind: StreamKind) -> u64 {
    ((index as u64) << 3) | kind as u64
}

/// SplitMix64 over `seed + stream`: independent RNG streams from one seed.
pub(crate) fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed.wrapping_add(stream.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_streams_of_different_components_never_collide() {
        let mut streams = Vec::new();
        for i in 0..4 {
            for kind in [StreamKind::HostLink, StreamKind::NatLink] {
                streams.push(rng_stream(i, kind));
                streams.push(rng_stream(i, kind) | 1);
            }
            streams.push(rng_stream(i, StreamKind::NatPorts));
        }
        let mut distinct = streams.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), streams.len());
    }

    #[test]
    fn derived_seeds_differ_per_stream() {
        assert_ne!(derive_seed(1, 0), derive_seed(1, 1));
        assert_ne!(derive_seed(1, 0), derive_seed(2, 0));
    }
}
