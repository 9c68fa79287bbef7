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

/// Packets of the new numbering after which late packets of the one a
/// sender left are known for late (see [`LeftNumbering::late`]).
const FOLLOWED_BEFORE_LATE: u16 = 8;

/// Packets of the new numbering after which the one left is forgotten:
/// its late packets were in flight at the restart, long arrived by then.
const LEFT_MEMORY: u16 = 1000;

/// How far behind and past the highest number of the numbering left a
/// late packet of it may be (RFC 3550 A.1 `MAX_DROPOUT` behind; past it,
/// what was in flight beyond the highest received).
const LATE_BEHIND: i16 = 3000;
const LATE_PAST: i16 = 100;

/// The numbering a sender left when it restarted its numbers (RFC 3550
/// A.1 `init_seq`). A.1's probation would follow a run of two in-order
/// late packets of it back (and then the new numbering again), giving
/// up what was held or awaited of the new one each time; once the new
/// numbering has been followed for a few packets, such packets are late.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeftNumbering {
    highest: u16,
    followed: u16,
}

impl LeftNumbering {
    /// The numbering left, whose highest number received was `highest`.
    pub(crate) fn new(highest: u16) -> Self {
        Self {
            highest,
            followed: 0,
        }
    }

    /// A packet of the new numbering came; `false` once the numbering
    /// left is to be forgotten.
    pub(crate) fn followed(&mut self) -> bool {
        self.followed = self.followed.saturating_add(1);
        self.followed <= LEFT_MEMORY
    }

    /// Whether `seq`, far from the new numbering, is a late packet of the
    /// numbering left: the new one has been followed for a few packets
    /// (before that, a run of the old one may still be the sender's, and
    /// A.1 follows it back) and `seq` is near the highest of the old one,
    /// which a run in order moves on.
    pub(crate) fn late(&mut self, seq: u16) -> bool {
        if self.followed < FOLLOWED_BEFORE_LATE {
            return false;
        }
        let d = seq.wrapping_sub(self.highest) as i16;
        if !(-LATE_BEHIND..=LATE_PAST).contains(&d) {
            return false;
        }
        if d > 0 {
            self.highest = seq;
        }
        true
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
