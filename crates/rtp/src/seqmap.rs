//! A map keyed by unwrapped RTP sequence numbers (RFC 3550 §A.1), for
//! the receive-side buffers (jitter buffer, transport-cc arrivals).
//!
//! Entries live in one `VecDeque` sorted by key. Packets mostly arrive in
//! order, so inserting is a push at the back, releasing a pop at the
//! front, and a lookup in a run without holes is one index; a reordered
//! packet costs a binary search and a shift. Memory follows the number of
//! entries, never the span of their keys (a hostile jump in sequence
//! numbers allocates nothing), and the deque's storage is reused: no
//! allocation per packet once it has grown.

use std::collections::VecDeque;
use std::ops::RangeInclusive;

/// Values by unwrapped sequence number, in key order.
#[derive(Debug, Clone)]
pub(crate) struct SeqMap<V> {
    entries: VecDeque<(u64, V)>,
}

impl<V> Default for SeqMap<V> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }
}

impl<V> SeqMap<V> {
    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index of `key`, if held: none for a key outside the front and
    /// back (a new packet, the common case), one comparison when the
    /// entries from the front up to it have no hole, else a binary search.
    fn index(&self, key: u64) -> Option<usize> {
        let &(front, _) = self.entries.front()?;
        let &(back, _) = self.entries.back()?;
        if key < front || key > back {
            return None;
        }
        // A span too wide for `usize` (32-bit targets) is a missed guess.
        let guess = usize::try_from(key - front).unwrap_or(usize::MAX);
        if self.entries.get(guess).is_some_and(|e| e.0 == key) {
            return Some(guess);
        }
        self.entries.binary_search_by_key(&key, |e| e.0).ok()
    }

    /// The index of the first entry whose key is at least `key`.
    fn lower_bound(&self, key: u64) -> usize {
        let (Some(&(front, _)), Some(&(back, _))) = (self.entries.front(), self.entries.back())
        else {
            return 0;
        };
        if key <= front {
            return 0;
        }
        if key > back {
            return self.entries.len();
        }
        self.index(key)
            .unwrap_or_else(|| self.entries.partition_point(|e| e.0 < key))
    }

    /// Whether `key` is held.
    pub(crate) fn contains(&self, key: u64) -> bool {
        self.index(key).is_some()
    }

    /// The value at `key`.
    pub(crate) fn get(&self, key: u64) -> Option<&V> {
        self.index(key).map(|i| &self.entries[i].1)
    }

    /// Adds `value` at `key`, returning the value it replaced.
    pub(crate) fn insert(&mut self, key: u64, value: V) -> Option<V> {
        match self.entries.back() {
            None => self.entries.push_back((key, value)),
            Some(&(back, _)) if key > back => self.entries.push_back((key, value)),
            Some(_) => match self.entries.binary_search_by_key(&key, |e| e.0) {
                Ok(i) => return Some(std::mem::replace(&mut self.entries[i].1, value)),
                Err(i) => self.entries.insert(i, (key, value)),
            },
        }
        None
    }

    /// Removes the value at `key`.
    pub(crate) fn remove(&mut self, key: u64) -> Option<V> {
        let i = self.index(key)?;
        self.entries.remove(i).map(|(_, v)| v)
    }

    /// The entry with the lowest key.
    pub(crate) fn first(&self) -> Option<(u64, &V)> {
        self.entries.front().map(|(k, v)| (*k, v))
    }

    /// The highest key.
    pub(crate) fn last_key(&self) -> Option<u64> {
        self.entries.back().map(|e| e.0)
    }

    /// Removes the entry with the lowest key.
    pub(crate) fn pop_first(&mut self) -> Option<(u64, V)> {
        self.entries.pop_front()
    }

    /// Removes every entry (the storage is kept).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries with keys in `range`, in key order.
    pub(crate) fn range(&self, range: RangeInclusive<u64>) -> impl Iterator<Item = (u64, &V)> {
        let (lo, hi) = range.into_inner();
        self.entries
            .range(self.lower_bound(lo)..)
            .take_while(move |e| e.0 <= hi)
            .map(|(k, v)| (*k, v))
    }

    /// The first entry whose key is at least `key`.
    pub(crate) fn first_from(&self, key: u64) -> Option<(u64, &V)> {
        self.entries
            .get(self.lower_bound(key))
            .map(|(k, v)| (*k, v))
    }

    /// How many entries have a key of at least `key`.
    pub(crate) fn count_from(&self, key: u64) -> usize {
        self.entries.len() - self.lower_bound(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::SeqUnwrapper;

    #[test]
    fn entries_stay_in_key_order_whatever_the_insertion_order() {
        let mut m = SeqMap::default();
        for k in [5u64, 1, 9, 3, 7, 2] {
            assert_eq!(m.insert(k, k * 10), None);
        }
        let keys: Vec<u64> = m.range(0..=u64::MAX).map(|(k, _)| k).collect();
        assert_eq!(keys, [1, 2, 3, 5, 7, 9]);
        assert_eq!(m.get(5), Some(&50));
        assert_eq!(m.get(4), None);
        assert_eq!(m.insert(5, 55), Some(50), "a key held is replaced");
        assert_eq!(m.len(), 6);
        assert_eq!(m.first_from(4), Some((5, &55)));
        assert_eq!(m.count_from(4), 3);
        assert_eq!(m.first_from(10), None);
        let mid: Vec<u64> = m.range(2..=7).map(|(k, _)| k).collect();
        assert_eq!(mid, [2, 3, 5, 7]);
    }

    #[test]
    fn lookups_find_keys_behind_holes_and_miss_keys_outside() {
        let mut m = SeqMap::default();
        for k in (100u64..200).filter(|k| k % 7 != 0) {
            m.insert(k, k);
        }
        for k in 90u64..210 {
            let held = (100..200).contains(&k) && k % 7 != 0;
            assert_eq!(m.contains(k), held, "key {k}");
            assert_eq!(m.get(k).copied(), held.then_some(k));
        }
        for k in 90u64..210 {
            let first = (k.max(100)..200).find(|s| s % 7 != 0);
            assert_eq!(m.first_from(k).map(|(s, _)| s), first, "from {k}");
            let count = (k.max(100)..200).filter(|s| s % 7 != 0).count();
            assert_eq!(m.count_from(k), count, "count from {k}");
        }
        assert_eq!(m.remove(150), Some(150));
        assert_eq!(m.remove(150), None);
        assert!(!m.contains(150));
        assert_eq!(m.get(151), Some(&151));
    }

    #[test]
    fn sequence_numbers_unwrapped_across_the_16_bit_wrap_stay_in_order() {
        let mut u = SeqUnwrapper::default();
        let mut m = SeqMap::default();
        let wire: Vec<u16> = (65530u16..=65535).chain(0..6).collect();
        // Reordered in pairs, as a network would.
        for pair in wire.chunks(2) {
            for &s in pair.iter().rev() {
                m.insert(u.unwrap(s), s);
            }
        }
        let order: Vec<u16> = std::iter::from_fn(|| m.pop_first().map(|(_, s)| s)).collect();
        assert_eq!(order, wire);
    }

    #[test]
    fn storage_is_reused_after_entries_expire() {
        let mut m = SeqMap::default();
        for round in 0..1000u64 {
            for k in round * 10..round * 10 + 10 {
                m.insert(k, k);
            }
            if round == 0 {
                // Let the storage settle at its size for one round.
                continue;
            }
            while m.first().is_some_and(|(k, _)| k < round * 10) {
                m.pop_first();
            }
            assert_eq!(m.len(), 10);
            assert_eq!(m.first(), Some((round * 10, &(round * 10))));
            assert_eq!(m.last_key(), Some(round * 10 + 9));
        }
        assert!(m.entries.capacity() < 64, "storage grew with the keys seen");
    }
}
