//! SRTP packet index estimation (RFC 3711 §3.3.1 and Appendix A).

/// Half the sequence number space.
const HALF: u16 = 1 << 15;

/// The rollover counter and highest sequence number of a stream (ROC and s_l).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RolloverState {
    /// Rollover counter: how many times the 16-bit sequence number wrapped.
    pub(crate) roc: u32,
    /// Highest sequence number seen (s_l).
    pub(crate) highest_seq: u16,
}

/// The estimate fails only when it would need a ROC above 2^32 - 1: the
/// 48-bit index space, and so the key lifetime, is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexExhausted;

impl RolloverState {
    /// RFC 3711 Appendix A: guess the ROC `v` of sequence number `seq` and
    /// return the 48-bit index `2^16 * v + seq`.
    ///
    /// A guess of ROC - 1 while ROC is 0 would precede the stream's first packet;
    /// it is taken as ROC 0 (the sequence number jumped forward), the same on
    /// both sides, since sender and receiver run this same estimate.
    pub(crate) fn estimate(&self, seq: u16) -> Result<u64, IndexExhausted> {
        let s_l = self.highest_seq;
        let v = if s_l < HALF {
            if seq > s_l && seq - s_l > HALF {
                self.roc.saturating_sub(1)
            } else {
                self.roc
            }
        } else if seq < s_l - HALF {
            self.roc.checked_add(1).ok_or(IndexExhausted)?
        } else {
            self.roc
        };
        Ok((u64::from(v) << 16) | u64::from(seq))
    }

    /// Moves the state forward to `index` if it is the newest seen (RFC 3711 §3.3.1).
    pub(crate) fn update(&mut self, index: u64) {
        if index > self.index() {
            self.roc = (index >> 16) as u32;
            self.highest_seq = index as u16;
        }
    }

    /// The index of the highest packet seen.
    pub(crate) fn index(&self) -> u64 {
        (u64::from(self.roc) << 16) | u64::from(self.highest_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(roc: u32, highest_seq: u16) -> RolloverState {
        RolloverState { roc, highest_seq }
    }

    #[test]
    fn sequence_wrap_increments_roc() {
        assert_eq!(state(0, 65535).estimate(0), Ok(1 << 16));
        assert_eq!(state(7, 65000).estimate(10), Ok((8 << 16) | 10));
    }

    #[test]
    fn late_packet_from_before_the_wrap_uses_previous_roc() {
        assert_eq!(state(1, 2).estimate(65534), Ok(65534));
        assert_eq!(state(5, 100).estimate(65000), Ok((4 << 16) | 65000));
    }

    #[test]
    fn nearby_sequence_numbers_keep_roc() {
        assert_eq!(state(3, 1000).estimate(999), Ok((3 << 16) | 999));
        assert_eq!(state(3, 40000).estimate(40010), Ok((3 << 16) | 40010));
        assert_eq!(state(3, 40000).estimate(7233), Ok((3 << 16) | 7233));
    }

    #[test]
    fn wrap_at_the_last_roc_exhausts_the_index_space() {
        assert_eq!(state(u32::MAX, 65535).estimate(0), Err(IndexExhausted));
        assert!(state(u32::MAX, 65535).estimate(65534).is_ok());
    }

    #[test]
    fn update_only_moves_forward() {
        let mut s = state(1, 10);
        s.update(5);
        assert_eq!(s, state(1, 10));
        s.update((2 << 16) | 3);
        assert_eq!(s, state(2, 3));
    }
}
