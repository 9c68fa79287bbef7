//! Sequence number unwrapping (RFC 3550 §A.1): 16-bit wire values into a
//! 64-bit count that keeps growing across wraps.

/// Unwraps 16-bit sequence numbers against the highest one seen, taking
/// the nearer candidate (a step of at most ±32767).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeqUnwrapper {
    highest: Option<u64>,
}

/// The offset of the first unwrapped value, so that a packet reordered
/// before the first one never underflows.
const BASE: u64 = 1 << 32;

impl SeqUnwrapper {
    /// The extended value of `seq`, updating the highest seen.
    pub(crate) fn unwrap(&mut self, seq: u16) -> u64 {
        let ext = self.peek(seq);
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }

    /// The extended value of `seq` without updating.
    pub(crate) fn peek(&self, seq: u16) -> u64 {
        match self.highest {
            None => BASE | u64::from(seq),
            Some(h) => {
                let diff = i64::from(seq.wrapping_sub(h as u16) as i16);
                h.wrapping_add_signed(diff)
            }
        }
    }

    /// The highest extended value seen.
    pub(crate) fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// How far `seq` is from the highest seen, as a signed step of at most
    /// ±32767 (`None` before the first).
    pub(crate) fn step(&self, seq: u16) -> Option<i16> {
        self.highest.map(|h| seq.wrapping_sub(h as u16) as i16)
    }

    /// Starts the count again at `seq` (the sender restarted its numbers,
    /// RFC 3550 A.1 `init_seq`): its extended value is above every one
    /// given before, whichever way the wire value jumped, so what was
    /// numbered before stays below it.
    pub(crate) fn restart_at(&mut self, seq: u16) -> u64 {
        let ext = match self.highest {
            None => BASE | u64::from(seq),
            Some(h) => h + u64::from(seq.wrapping_sub(h as u16)),
        };
        self.highest = Some(ext);
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrapping_crosses_the_16_bit_wrap_both_ways() {
        let mut u = SeqUnwrapper::default();
        let a = u.unwrap(65534);
        assert_eq!(u.unwrap(65535), a + 1);
        assert_eq!(u.unwrap(1), a + 3);
        assert_eq!(u.unwrap(0), a + 2);
        assert_eq!(u.highest(), Some(a + 3));
        assert_eq!(u.peek(65530), a - 4);
    }

    #[test]
    fn a_restart_numbers_the_new_start_above_everything_before_it() {
        let mut u = SeqUnwrapper::default();
        let a = u.unwrap(5000);
        assert_eq!(u.step(5100), Some(100));
        assert_eq!(u.step(100), Some(-4900));
        let b = u.restart_at(100);
        assert!(b > a);
        assert_eq!(u.unwrap(101), b + 1);
        assert_eq!(u.restart_at(101), b + 1, "no jump: the same count");
    }
}
