//! Handshake message reassembly (RFC 6347 §4.2.3) with bounded memory, and
//! the split of outgoing messages into fragments that fit the MTU.

use std::ops::Range;

use crate::message::{FragmentHeader, HANDSHAKE_HEADER_LEN};

/// Largest handshake message accepted (a certificate chain fits easily).
pub(crate) const MAX_MESSAGE_LEN: usize = 32 * 1024;
/// Total bytes buffered for incomplete or early messages.
pub(crate) const MAX_BUFFERED: usize = 64 * 1024;
/// Messages further ahead of the next expected one than this are dropped.
const MAX_AHEAD: u16 = 8;

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
}

impl Partial {
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
    /// Malformed, inconsistent, too far ahead or over the memory bound.
    Dropped,
}

/// Reassembles handshake fragments into messages delivered in
/// `message_seq` order.
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    next_seq: u16,
    partial: Vec<Partial>,
    buffered: usize,
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
        let range = h.offset..h.offset + h.fragment_len;
        let index = match self.partial.iter().position(|p| p.seq == h.message_seq) {
            Some(i) => i,
            None => {
                if self.buffered + h.length > MAX_BUFFERED {
                    return Inserted::Dropped;
                }
                self.buffered += h.length;
                self.partial.push(Partial {
                    seq: h.message_seq,
                    msg_type: h.msg_type,
                    epoch,
                    body: vec![0; h.length],
                    have: Vec::new(),
                });
                self.partial.len() - 1
            }
        };
        let p = &mut self.partial[index];
        if p.msg_type != h.msg_type || p.body.len() != h.length || p.epoch != epoch {
            return Inserted::Dropped;
        }
        // Overlapping bytes must agree with what we hold (RFC 6347 §4.2.3
        // allows overlap, not contradiction).
        for have in &p.have {
            let start = have.start.max(range.start);
            let stop = have.end.min(range.end);
            if start < stop && p.body[start..stop] != data[start - range.start..stop - range.start]
            {
                return Inserted::Dropped;
            }
        }
        if p.have.len() > 64 {
            // A peer splitting a message into tiny disjoint pieces.
            return Inserted::Dropped;
        }
        p.body[range.clone()].copy_from_slice(data);
        p.add(range);
        Inserted::Kept
    }

    /// The next complete message in order, if any.
    pub(crate) fn pop(&mut self) -> Option<Message> {
        let i = self
            .partial
            .iter()
            .position(|p| p.seq == self.next_seq && p.complete())?;
        let p = self.partial.swap_remove(i);
        self.buffered -= p.body.len();
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

    #[test]
    fn oversized_contradicting_and_far_ahead_fragments_are_dropped() {
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
        assert_eq!(r.insert(&header(0, 4, 0, 2), 0, &[1, 2]), Inserted::Kept);
        assert_eq!(r.insert(&header(0, 4, 1, 2), 0, &[9, 9]), Inserted::Dropped);
        assert_eq!(r.insert(&header(0, 5, 2, 2), 0, &[1, 2]), Inserted::Dropped);
    }

    #[test]
    fn buffered_bytes_are_bounded() {
        let mut r = Reassembler::default();
        let mut kept = 0;
        for seq in 0..8 {
            if r.insert(&header(seq, MAX_MESSAGE_LEN, 0, 1), 0, &[0]) == Inserted::Kept {
                kept += 1;
            }
        }
        assert_eq!(kept, MAX_BUFFERED / MAX_MESSAGE_LEN);
        assert!(r.buffered() <= MAX_BUFFERED);
    }
}
