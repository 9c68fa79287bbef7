//! Sequence number unwrapping (RFC 3550 §A.1): 16-bit wire values into a
//! 64-bit count that keeps growing across wraps; the numberings a sender
//! left when it restarted its numbers, whose late packets are not a
//! restart back.

use std::time::{Duration, Instant};

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

/// The most far numbers remembered at once, waiting for the number after
/// one of them: enough for the first packets of a new numbering to come
/// reordered by a few.
pub(crate) const FAR_KEPT: usize = 8;

/// How near each other far numbers must be to be remembered together, and
/// to be the new numbering's first packets when one is confirmed: the
/// jitter buffer's reach for the packets that confirm a jump.
pub(crate) const FAR_COMPANION: u16 = 32;

/// The latest numbers far from a stream, not yet believed: RFC 3550 A.1
/// `bad_seq`, kept for a few numbers because a restart's first packets may
/// come reordered (10,001, 10,000, 10,003, 10,002). At most [`FAR_KEPT`],
/// each within [`FAR_COMPANION`] of the one before: a far number away from
/// the latest starts them over (A.1 keeps only the latest), so strays of
/// other numberings confirm nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct FarNumbers {
    kept: Vec<u16>,
}

impl FarNumbers {
    /// Whether `seq` is the number after a remembered far one: the jump
    /// is believed (A.1).
    pub(crate) fn confirmed_by(&self, seq: u16) -> bool {
        self.kept.contains(&seq.wrapping_sub(1))
    }

    /// Remembers the far number `seq`.
    pub(crate) fn remember(&mut self, seq: u16) {
        if self.kept.contains(&seq) {
            return;
        }
        if self
            .kept
            .last()
            .is_some_and(|&l| (seq.wrapping_sub(l) as i16).unsigned_abs() > FAR_COMPANION)
        {
            self.kept.clear();
        }
        if self.kept.len() == FAR_KEPT {
            self.kept.remove(0);
        }
        self.kept.push(seq);
    }

    /// The remembered far numbers, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.kept.iter().copied()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.kept.clear();
    }
}

/// RFC 3550 A.1 `MAX_DROPOUT`: a believed jump of more than this many
/// numbers is a sender that restarted its numbers, not a gap; behind the
/// highest, packets within it are late or reordered. The limit of all
/// three engines (jitter buffer, NACK generator, receive statistics).
///
/// Where each engine starts to call a packet *far* (not believed alone,
/// A.1 `bad_seq`) is its own, for what a stray costs it: the statistics
/// follow A.1 as written (3,000 ahead, 100 behind), for their counts are
/// the report block's, read by the peer as A.1 defines them; the jitter
/// buffer waits on every gap it believes, so it holds aside anything
/// past [`IN_FLIGHT`] ahead; the NACK generator asks for every gap it
/// believes as soon as it sees it, so it believes at once a loss burst
/// it can track (`max_missing` ahead). Behind, the jitter buffer and the
/// generator take anything within `MAX_DROPOUT` as late (harmless:
/// dropped, or a missing packet recovered). What they share is what a
/// restart is (this) and where late packets of a numbering left are
/// looked for ([`IN_FLIGHT`], [`LEFT_WINDOW`]).
pub(crate) const MAX_DROPOUT: u16 = 3000;

/// How far past the highest number received packets of the stream may be
/// in flight (RFC 3550 A.1 `MAX_MISORDER`'s 100, taken ahead). Further
/// ahead a packet may be a late one of a numbering left: the jitter
/// buffer, the receive statistics and the NACK generator ask
/// [`LeftNumberings`] about every packet beyond it, so that all three
/// judge the packets ahead alike (behind, only the statistics ask, about
/// packets more than A.1's 100 behind; the other two take those as late
/// anyway). A loss burst of more than this many packets right after a
/// restart, landing nearer the numbering left than the stream's highest,
/// is taken as late packets of the numbering left by all three for the
/// window's second: not asked for, given up once the window ends.
pub(crate) const IN_FLIGHT: u16 = 100;

/// How long after a restart packets of the numbering the sender left are
/// late (see [`LeftNumberings`]). They were sent before the restart, so
/// they come within the network's reordering and delay variation of it
/// (tens to a few hundred ms); a second is well beyond that and beyond
/// the longest a jitter buffer waits for a packet (500 ms for video),
/// and bounds how long a sender that goes back to the numbering it left
/// waits to be followed. One time for the NACK generator and the jitter
/// buffer, so that both judge the same packets alike.
pub(crate) const LEFT_WINDOW: Duration = Duration::from_secs(1);

/// How far behind and ahead of the highest number of a numbering left a
/// late packet of it may be: what that numbering took as its own (RFC
/// 3550 A.1 `MAX_DROPOUT` behind; ahead, what was in flight past the
/// highest received).
const LATE_BEHIND: i16 = MAX_DROPOUT as i16;
const LATE_AHEAD: i16 = IN_FLIGHT as i16;

/// The most numberings left remembered at once (restarts within
/// [`LEFT_WINDOW`] of each other); a further restart forgets the oldest.
const LEFT_KEPT: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Left {
    /// The highest number of the numbering left (moved on by its late
    /// packets, as that numbering would have moved).
    highest: u16,
    /// When its late packets stop being late.
    until: Instant,
}

/// The numberings a sender left at its restarts within the last
/// [`LEFT_WINDOW`] (RFC 3550 A.1 `init_seq`). A.1's probation takes two
/// in-order packets far from the stream for a restart, so two late
/// packets of the numbering just left, reordered behind the first new
/// ones, would switch the stream back to it (and the next new packets
/// forward again), giving up what was held or awaited of the new one.
/// Within the window, such packets are late; after it, a sender that goes
/// back to its old numbering is followed as any restart.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeftNumberings {
    left: [Option<Left>; LEFT_KEPT],
}

impl LeftNumberings {
    /// The sender restarted its numbers at `now`, leaving the numbering
    /// whose highest number received was `highest`.
    pub(crate) fn restarted(&mut self, now: Instant, highest: u16) {
        let entry = Left {
            highest,
            until: now + LEFT_WINDOW,
        };
        // A free place, or the one that ends first.
        let slot = self.left.iter_mut().min_by_key(|l| l.map(|l| l.until));
        if let Some(slot) = slot {
            *slot = Some(entry);
        }
    }

    /// Whether `seq`, arriving at `now` far from the stream's numbers, is
    /// a late packet of a numbering left less than [`LEFT_WINDOW`] ago:
    /// within 3,000 behind or 100 ahead of its highest number, which a
    /// late packet ahead moves on (a run of them in order stays late),
    /// and nearer that number than the stream's highest (`stream_step` is
    /// `seq`'s distance from it): a loss burst of the new numbering that
    /// lands among the numbers left is the stream's. Numberings left
    /// longer ago are forgotten.
    pub(crate) fn late(&mut self, now: Instant, seq: u16, stream_step: i16) -> bool {
        for slot in &mut self.left {
            let Some(l) = slot.as_mut() else {
                continue;
            };
            if now >= l.until {
                *slot = None;
                continue;
            }
            let d = seq.wrapping_sub(l.highest) as i16;
            // Nearer the numbering left than the stream's highest: a loss
            // burst of the stream into the numbers left is the stream's.
            if (-LATE_BEHIND..=LATE_AHEAD).contains(&d)
                && d.unsigned_abs() < stream_step.unsigned_abs()
            {
                if d > 0 {
                    l.highest = seq;
                }
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl LeftNumberings {
        /// `late` for a packet as far as can be from the stream.
        fn late_far_from_stream(&mut self, now: Instant, seq: u16) -> bool {
            self.late(now, seq, i16::MIN)
        }
    }

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

    /// A numbering left is late from 3,000 behind to 100 ahead of its
    /// highest (moved on by a late packet ahead, across the wrap) for a
    /// second after the restart; a fifth restart within the second
    /// forgets the numbering left first.
    #[test]
    fn numberings_left_are_late_for_a_second_and_four_are_kept() {
        let t0 = Instant::now();
        let mut l = LeftNumberings::default();
        l.restarted(t0, 65_500);
        assert!(l.late_far_from_stream(t0, 62_500), "3,000 behind");
        assert!(!l.late_far_from_stream(t0, 62_499));
        assert!(l.late_far_from_stream(t0, 64), "100 ahead, across the wrap");
        assert!(
            l.late_far_from_stream(t0, 164),
            "100 past the late packet ahead"
        );
        assert!(!l.late_far_from_stream(t0, 265));
        let ms = Duration::from_millis;
        assert!(l.late_far_from_stream(t0 + ms(999), 100));
        assert!(
            !l.late_far_from_stream(t0 + LEFT_WINDOW, 100),
            "forgotten after a second"
        );
        for (i, highest) in [10_000u16, 20_000, 30_000, 40_000, 50_000]
            .into_iter()
            .enumerate()
        {
            l.restarted(t0 + ms(i as u64), highest);
        }
        assert!(
            !l.late_far_from_stream(t0, 10_000),
            "the first of five forgotten"
        );
        assert!(
            [20_000, 30_000, 40_000, 50_000]
                .iter()
                .all(|&s| l.late_far_from_stream(t0, s))
        );
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
