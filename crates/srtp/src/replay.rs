//! Sliding replay window (RFC 3711 §3.3.2), shared by SRTP and SRTCP.
//!
//! A ring of bits indexed by `index % capacity` (a power of two), allocated once when a stream
//! is created; checking and updating never allocate.

/// Smallest window RFC 3711 §3.3.2 allows.
pub(crate) const MIN_WINDOW: u32 = 64;
/// Largest window accepted: half the 16-bit sequence space, beyond which index
/// estimation could not tell old packets from new ones anyway.
pub(crate) const MAX_WINDOW: u32 = 32768;

/// Why the window rejects an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The index was already received.
    Replayed,
    /// The index lies behind the window.
    TooOld,
}

/// Which of the last `size` packet indices have been received.
#[derive(Debug, Clone)]
pub(crate) struct ReplayWindow {
    highest: u64,
    size: u64,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` packets (checked by `Config`) whose first received
    /// packet is `first`.
    pub(crate) fn new(size: u32, first: u64) -> Self {
        // A power of two of words, so a slot is a mask, not a division,
        // on every packet.
        let words = (size.div_ceil(64) as usize).next_power_of_two();
        let mut w = Self {
            highest: first,
            size: u64::from(size),
            bits: vec![0u64; words].into_boxed_slice(),
        };
        w.set(first);
        w
    }

    fn capacity(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    fn slot(&self, index: u64) -> (usize, u64) {
        let bit = index & (self.capacity() - 1);
        ((bit / 64) as usize, 1u64 << (bit % 64))
    }

    fn set(&mut self, index: u64) {
        let (word, mask) = self.slot(index);
        if let Some(w) = self.bits.get_mut(word) {
            *w |= mask;
        }
    }

    fn clear(&mut self, index: u64) {
        let (word, mask) = self.slot(index);
        if let Some(w) = self.bits.get_mut(word) {
            *w &= !mask;
        }
    }

    /// Whether `index` may be accepted (before authentication).
    pub(crate) fn check(&self, index: u64) -> Result<(), Rejection> {
        if index > self.highest {
            return Ok(());
        }
        let behind = self.highest - index;
        if behind >= self.size {
            return Err(Rejection::TooOld);
        }
        let (word, mask) = self.slot(index);
        match self.bits.get(word) {
            Some(w) if w & mask == 0 => Ok(()),
            _ => Err(Rejection::Replayed),
        }
    }

    /// Records `index` as received (after authentication succeeded).
    pub(crate) fn accept(&mut self, index: u64) {
        if index > self.highest {
            let ahead = index - self.highest;
            if ahead >= self.capacity() {
                self.bits.fill(0);
            } else {
                // Forget the slots the window slides over; at most `capacity` bits.
                for i in self.highest + 1..=index {
                    self.clear(i);
                }
            }
            self.highest = index;
        }
        self.set(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_index_is_then_a_replay() {
        let mut w = ReplayWindow::new(64, 100);
        assert_eq!(w.check(100), Err(Rejection::Replayed));
        assert_eq!(w.check(101), Ok(()));
        w.accept(101);
        assert_eq!(w.check(101), Err(Rejection::Replayed));
    }

    #[test]
    fn out_of_order_inside_window_is_accepted_once() {
        let mut w = ReplayWindow::new(64, 1000);
        w.accept(1010);
        assert_eq!(w.check(1005), Ok(()));
        w.accept(1005);
        assert_eq!(w.check(1005), Err(Rejection::Replayed));
        assert_eq!(w.check(1006), Ok(()));
    }

    #[test]
    fn index_behind_window_is_too_old() {
        let mut w = ReplayWindow::new(64, 0);
        w.accept(200);
        assert_eq!(w.check(200 - 63), Ok(()));
        assert_eq!(w.check(200 - 64), Err(Rejection::TooOld));
    }

    #[test]
    fn sliding_forgets_slots_that_wrap_around_the_ring() {
        let mut w = ReplayWindow::new(64, 0);
        for i in 1..64 {
            w.accept(i);
        }
        // 64 shares its ring slot with 0, which was received: it must read as new.
        assert_eq!(w.check(64), Ok(()));
        w.accept(64);
        assert_eq!(w.check(63), Err(Rejection::Replayed));
        // 127 reuses the slot of 63; 100 was never received.
        w.accept(127);
        assert_eq!(w.check(100), Ok(()));
        assert_eq!(w.check(64), Err(Rejection::Replayed));
        assert_eq!(w.check(63), Err(Rejection::TooOld));
        w.accept(10_000);
        assert_eq!(w.check(9_999), Ok(()));
        assert_eq!(w.check(10_000), Err(Rejection::Replayed));
    }

    #[test]
    fn window_size_is_rounded_to_words_but_checked_exactly() {
        let mut w = ReplayWindow::new(100, 0);
        w.accept(500);
        assert_eq!(w.check(401), Ok(()));
        assert_eq!(w.check(400), Err(Rejection::TooOld));
    }
}
