//! Handshake message reassembly (RFC 6347 §4.2.3) with bounded memory, and
//! the split of outgoing messages into fragments that fit the MTU.
//!
//! Epoch-0 fragments are not authenticated, so a fragment that contradicts
//! what is held for its message (another type, total length or epoch, or
//! other bytes where they overlap) may be the real one after a forged one:
//! it starts another version of the message instead of being refused. The
//! first version to complete is delivered and the others are discarded; the
//! versions least recently added to give way when their number or the
//! memory bound is reached, so one forged fragment cannot stall a message
//! that the peer keeps (re)sending.

use std::ops::Range;

use crate::message::{FragmentHeader, HANDSHAKE_HEADER_LEN};

/// Largest handshake message accepted (a certificate chain fits easily).
pub(crate) const MAX_MESSAGE_LEN: usize = 32 * 1024;
/// Total bytes buffered for incomplete or early messages.
pub(crate) const MAX_BUFFERED: usize = 64 * 1024;
/// Messages further ahead of the next expected one than this are dropped.
const MAX_AHEAD: u16 = 8;
/// Versions of one message held at once (see the module documentation).
const MAX_VERSIONS: usize = 4;
/// A message split into more disjoint pieces than this is not reassembled.
const MAX_PIECES: usize = 64;

/// A complete message, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) msg_type: u8,
    pub(crate) seq: u16,
    /// The epoch its fragments arrived in.
    pub(crate) epoch: u16,
    pub(crate) body: Vec<u8>,
}

impl Message {
    /// The message as the transcript holds it (RFC 6347 §4.2.6).
    pub(crate) fn transcript_bytes(&self) -> Vec<u8> {
        crate::message::encode(self.msg_type, self.seq, &self.body)
    }
}

#[derive(Debug)]
struct Partial {
    seq: u16,
    msg_type: u8,
    epoch: u16,
    body: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    have: Vec<Range<usize>>,
    /// When a fragment was last added (the reassembler's insert count).
    touched: u64,
    /// When its last missing fragment was added (the insert count), once
    /// complete: the version complete first is delivered.
    completed: Option<u64>,
}

impl Partial {
    /// Whether the fragment can belong to this version: same type, length
    /// and epoch, and where it overlaps bytes held, the same bytes
    /// (RFC 6347 §4.2.3 allows overlap, not contradiction).
    fn agrees(&self, h: &FragmentHeader, epoch: u16, data: &[u8]) -> bool {
        if self.msg_type != h.msg_type || self.body.len() != h.length || self.epoch != epoch {
            return false;
        }
        let range = h.offset..h.offset + h.fragment_len;
        self.have.iter().all(|have| {
            let start = have.start.max(range.start);
            let stop = have.end.min(range.end);
            start >= stop || self.body[start..stop] == data[start - range.start..stop - range.start]
        })
    }

    fn complete(&self) -> bool {
        self.have.len() == 1 && self.have[0] == (0..self.body.len()) || self.body.is_empty()
    }

    fn add(&mut self, range: Range<usize>) {
        self.have.push(range);
        self.have.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(self.have.len());
        for r in self.have.drain(..) {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        self.have = merged;
    }
}

/// What became of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// Part of a message not yet delivered: kept.
    Kept,
    /// Part of a message already delivered: the peer is retransmitting.
    Old,
    /// Malformed, too far ahead, or of a message split into too many pieces.
    Dropped,
}

/// Reassembles handshake fragments into messages delivered in
/// `message_seq` order.
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    next_seq: u16,
    /// Messages being reassembled, possibly several versions of one.
    partial: Vec<Partial>,
    buffered: usize,
    /// Fragments inserted so far: the clock of [`Partial::touched`].
    inserts: u64,
}

impl Reassembler {
    /// Starts delivering at `seq` (after a stateless ClientHello).
    pub(crate) fn reset(&mut self, seq: u16) {
        self.next_seq = seq;
        self.partial.clear();
        self.buffered = 0;
    }

    /// Bytes currently buffered.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// The `message_seq` of the next message to deliver.
    pub(crate) fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Adds one fragment (its header and data).
    pub(crate) fn insert(&mut self, h: &FragmentHeader, epoch: u16, data: &[u8]) -> Inserted {
        if !well_formed(h, data) {
            return Inserted::Dropped;
        }
        if h.message_seq < self.next_seq {
            return Inserted::Old;
        }
        if h.message_seq - self.next_seq > MAX_AHEAD {
            return Inserted::Dropped;
        }
        self.inserts += 1;
        let range = h.offset..h.offset + h.fragment_len;
        // Add the fragment to every version it agrees with: which of them
        // is the real message is known only once one completes.
        let (mut agreed, mut added) = (false, false);
        for p in self.partial.iter_mut().filter(|p| p.seq == h.message_seq) {
            if !p.agrees(h, epoch, data) {
                continue;
            }
            agreed = true;
            if p.have.len() > MAX_PIECES {
                continue; // a peer splitting a message into tiny pieces
            }
            p.body[range.clone()].copy_from_slice(data);
            p.add(range.clone());
            p.touched = self.inserts;
            if p.completed.is_none() && p.complete() {
                p.completed = Some(self.inserts);
            }
            added = true;
        }
        if added {
            return Inserted::Kept;
        }
        if agreed {
            return Inserted::Dropped;
        }
        // A new message, or another version of one: make room by dropping
        // the versions least recently added to.
        let seq = h.message_seq;
        while self.partial.iter().filter(|p| p.seq == seq).count() >= MAX_VERSIONS {
            self.evict_stalest(|p| p.seq == seq);
        }
        while self.buffered + h.length > MAX_BUFFERED {
            if !self.evict_stalest(|_| true) {
                return Inserted::Dropped;
            }
        }
        self.buffered += h.length;
        let mut p = Partial {
            seq,
            msg_type: h.msg_type,
            epoch,
            body: vec![0; h.length],
            have: Vec::new(),
            touched: self.inserts,
            completed: None,
        };
        p.body[range.clone()].copy_from_slice(data);
        p.add(range);
        if p.complete() {
            p.completed = Some(self.inserts);
        }
        self.partial.push(p);
        Inserted::Kept
    }

    /// Drops the least recently added to of the messages `which` selects;
    /// false if it selects none.
    fn evict_stalest(&mut self, which: impl Fn(&Partial) -> bool) -> bool {
        let stalest = self
            .partial
            .iter()
            .enumerate()
            .filter(|(_, p)| which(p))
            .min_by_key(|(_, p)| p.touched)
            .map(|(i, _)| i);
        match stalest {
            Some(i) => {
                let p = self.partial.swap_remove(i);
                self.buffered -= p.body.len();
                true
            }
            None => false,
        }
    }

    /// The next complete message in order, if any: of its versions, the
    /// one that was complete first.
    pub(crate) fn pop(&mut self) -> Option<Message> {
        let (i, _) = self
            .partial
            .iter()
            .enumerate()
            .filter(|(_, p)| p.seq == self.next_seq)
            .filter_map(|(i, p)| p.completed.map(|at| (i, at)))
            .min_by_key(|&(_, at)| at)?;
        let p = self.partial.swap_remove(i);
        self.buffered -= p.body.len();
        // Other versions of the message were forged or corrupted.
        let buffered = &mut self.buffered;
        self.partial.retain(|q| {
            if q.seq == p.seq {
                *buffered -= q.body.len();
            }
            q.seq != p.seq
        });
        self.next_seq = self.next_seq.wrapping_add(1);
        Some(Message {
            msg_type: p.msg_type,
            seq: p.seq,
            epoch: p.epoch,
            body: p.body,
        })
    }
}

/// Whether a fragment is consistent in itself: inside its message, as
/// long as its header says, of a message we would accept.
pub(crate) fn well_formed(h: &FragmentHeader, data: &[u8]) -> bool {
    h.offset
        .checked_add(h.fragment_len)
        .is_some_and(|end| end <= h.length)
        && data.len() == h.fragment_len
        && h.length <= MAX_MESSAGE_LEN
}

/// Splits a whole message (header and body, as [`crate::message::encode`]
/// writes it) into fragments of at most `max_fragment` body bytes, each
/// with its own header: calls `emit(header, data)` for each.
pub(crate) fn fragments(
    message: &[u8],
    max_fragment: usize,
    mut emit: impl FnMut(FragmentHeader, &[u8]),
) {
    let Some((head, body)) = message.split_at_checked(HANDSHAKE_HEADER_LEN) else {
        return;
    };
    let mut r = crate::codec::Reader::new(head);
    let Ok(h) = FragmentHeader::read(&mut r) else {
        return;
    };
    let max = max_fragment.max(1);
    let mut offset = 0;
    loop {
        let n = (body.len() - offset).min(max);
        emit(
            FragmentHeader {
                offset,
                fragment_len: n,
                ..h
            },
            &body[offset..offset + n],
        );
        offset += n;
        if offset >= body.len() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u16, length: usize, offset: usize, len: usize) -> FragmentHeader {
        FragmentHeader {
            msg_type: 11,
            length,
            message_seq: seq,
            offset,
            fragment_len: len,
        }
    }

    #[test]
    fn out_of_order_overlapping_fragments_reassemble_in_sequence() {
        let body: Vec<u8> = (0..100).collect();
        let mut r = Reassembler::default();
        assert_eq!(r.insert(&header(1, 3, 0, 3), 0, &[7, 8, 9]), Inserted::Kept);
        assert_eq!(
            r.insert(&header(0, 100, 50, 50), 0, &body[50..]),
            Inserted::Kept
        );
        assert!(r.pop().is_none());
        assert_eq!(
            r.insert(&header(0, 100, 0, 60), 0, &body[..60]),
            Inserted::Kept
        );
        assert_eq!(r.pop().map(|m| m.body), Some(body));
        assert_eq!(r.pop().map(|m| m.body), Some(vec![7, 8, 9]));
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.insert(&header(0, 3, 0, 3), 0, &[1, 2, 3]), Inserted::Old);
    }

    /// The first version to complete is delivered. The real message (seq 1, ahead of a lost seq 0) completes first; a
    /// forged version started before it completes afterwards. When seq 0
    /// arrives, the real seq 1 must be the one delivered.
    #[test]
    fn the_version_that_completed_first_is_delivered() {
        let mut r = Reassembler::default();
        // Forged: the first half of another 4-byte seq 1.
        assert_eq!(r.insert(&header(1, 4, 0, 2), 0, &[9, 9]), Inserted::Kept);
        // The real seq 1, 3 bytes, whole: complete first.
        assert_eq!(r.insert(&header(1, 3, 0, 3), 0, &[1, 2, 3]), Inserted::Kept);
        // The forged version completes later.
        assert_eq!(r.insert(&header(1, 4, 2, 2), 0, &[9, 9]), Inserted::Kept);
        assert_eq!(r.insert(&header(0, 1, 0, 1), 0, &[0]), Inserted::Kept);
        assert_eq!(r.pop().map(|m| m.body), Some(vec![0]));
        assert_eq!(
            r.pop().map(|m| m.body),
            Some(vec![1, 2, 3]),
            "the forged version won"
        );
    }

    /// Same, with the forged version wholly complete only after the real
    /// one, and later in the list of versions (removals reorder it).
    #[test]
    fn a_version_completed_after_the_real_one_does_not_overtake_it() {
        let mut r = Reassembler::default();
        assert_eq!(r.insert(&header(0, 2, 0, 1), 0, &[0]), Inserted::Kept);
        assert_eq!(r.insert(&header(1, 3, 0, 3), 0, &[1, 2, 3]), Inserted::Kept);
        // Forged whole seq 1 after the real one completed.
        assert_eq!(r.insert(&header(1, 4, 0, 4), 0, &[9; 4]), Inserted::Kept);
        assert_eq!(r.insert(&header(0, 2, 1, 1), 0, &[0]), Inserted::Kept);
        assert_eq!(r.pop().map(|m| m.body), Some(vec![0, 0]));
        assert_eq!(
            r.pop().map(|m| m.body),
            Some(vec![1, 2, 3]),
            "the forged version won"
        );
    }

    /// Whatever forged versions arrive, the bytes held
    /// stay within MAX_BUFFERED and `buffered` matches what is held.
    #[test]
    fn random_versions_keep_buffered_bounded_and_exact() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut r = Reassembler::default();
        for i in 0..200_000u32 {
            let seq = r.next_seq() + (next() % 10) as u16;
            let length = match next() % 4 {
                0 => MAX_MESSAGE_LEN,
                1 => (next() % 64) as usize,
                _ => (next() % MAX_MESSAGE_LEN as u64) as usize + 1,
            };
            let offset = if length == 0 {
                0
            } else {
                (next() % length as u64) as usize
            };
            let len = ((next() % 300) as usize).min(length - offset);
            let data: Vec<u8> = (0..len).map(|_| (next() % 3) as u8).collect();
            let mut h = header(seq, length, offset, len);
            h.msg_type = (next() % 2) as u8 + 11;
            r.insert(&h, (next() % 2) as u16, &data);
            let held: usize = r.partial.iter().map(|p| p.body.len()).sum();
            assert_eq!(r.buffered(), held, "after insert {i}");
            assert!(held <= MAX_BUFFERED);
            assert!(r.partial.len() <= (MAX_AHEAD as usize + 1) * MAX_VERSIONS);
            assert!(r.partial.iter().all(|p| p.have.len() <= MAX_PIECES + 1));
            if next() % 50 == 0 {
                while r.pop().is_some() {}
            }
        }
    }

    #[test]
    fn oversized_and_far_ahead_fragments_are_dropped() {
        let mut r = Reassembler::default();
        assert_eq!(
            r.insert(&header(0, 10, 8, 4), 0, &[0; 4]),
            Inserted::Dropped
        );
        assert_eq!(
            r.insert(&header(0, MAX_MESSAGE_LEN + 1, 0, 1), 0, &[0]),
            Inserted::Dropped
        );
        assert_eq!(r.insert(&header(20, 1, 0, 1), 0, &[0]), Inserted::Dropped);
        assert_eq!(r.buffered(), 0);
    }

    /// RFC 6347 §4.2.3: fragments that contradict what is held (other
    /// bytes, another length) start another version of the message; the
    /// first to complete is delivered, the others are discarded with it.
    #[test]
    fn a_contradicting_fragment_starts_another_version_and_the_first_complete_wins() {
        let mut r = Reassembler::default();
        // Forged first: other bytes where they overlap, another length.
        assert_eq!(r.insert(&header(0, 4, 1, 2), 0, &[9, 9]), Inserted::Kept);
        assert_eq!(r.insert(&header(0, 5, 2, 2), 0, &[1, 2]), Inserted::Kept);
        // The real message, in two fragments, agrees with neither.
        assert_eq!(r.insert(&header(0, 4, 0, 2), 0, &[1, 2]), Inserted::Kept);
        assert!(r.pop().is_none());
        assert_eq!(r.insert(&header(0, 4, 2, 2), 0, &[3, 4]), Inserted::Kept);
        assert_eq!(r.pop().map(|m| m.body), Some(vec![1, 2, 3, 4]));
        assert_eq!(r.buffered(), 0, "the other versions went with it");
        assert!(r.pop().is_none());
    }

    #[test]
    fn versions_of_one_message_are_bounded_and_the_stalest_gives_way() {
        let mut r = Reassembler::default();
        assert_eq!(r.insert(&header(0, 10, 0, 2), 0, &[1, 2]), Inserted::Kept);
        for len in 11..11 + MAX_VERSIONS {
            assert_eq!(r.insert(&header(0, len, 0, 1), 0, &[0]), Inserted::Kept);
        }
        assert_eq!(r.partial.len(), MAX_VERSIONS);
        assert!(
            r.partial.iter().all(|p| p.body.len() != 10),
            "the stalest version is gone"
        );
        assert_eq!(r.buffered(), r.partial.iter().map(|p| p.body.len()).sum());
    }

    /// Over the memory bound, the messages least recently added to give
    /// way: two forged fragments claiming huge messages cannot keep the
    /// real ones out.
    #[test]
    fn buffered_bytes_are_bounded_and_the_stalest_message_gives_way() {
        let mut r = Reassembler::default();
        for seq in 0..8 {
            assert_eq!(
                r.insert(&header(seq, MAX_MESSAGE_LEN, 0, 1), 0, &[0]),
                Inserted::Kept
            );
            assert!(r.buffered() <= MAX_BUFFERED);
        }
        let held: Vec<u16> = r.partial.iter().map(|p| p.seq).collect();
        assert_eq!(held.len(), MAX_BUFFERED / MAX_MESSAGE_LEN);
        assert!(held.contains(&6) && held.contains(&7), "{held:?}");
    }
}
