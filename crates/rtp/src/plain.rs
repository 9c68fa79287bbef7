//! An RTP packet before SRTP, as a stream queues, sends and keeps it.
//!
//! A frame written on many streams (a forwarder's viewers) is held once:
//! each packet owns only its first bytes (the RTP header and the payload
//! descriptor the payloader put before the media) and shares the rest,
//! a slice of the frame. Keeping a packet for retransmission (RFC 4585
//! §6.2.1) then costs a small record, not a copy of its media.

use bytes::Bytes;

/// The most bytes a packet's head holds in place (header, extensions and
/// payload descriptor); a longer head is allocated.
const INLINE: usize = 62;

/// An RTP packet before SRTP: a head it owns (the whole RTP header, then
/// the start of the payload), then a tail shared with the frame it was cut
/// from (empty for a packet built whole). Two packets are equal when their
/// bytes are, however each is stored.
#[derive(Clone)]
pub struct PlainPacket {
    head: Head,
    tail: Bytes,
}

#[derive(Clone)]
enum Head {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Vec<u8>),
}

impl PlainPacket {
    /// A packet of `head` followed by `tail`. `head` must hold at least
    /// the RTP header with its extensions (see [`Self::head`]).
    pub fn new(head: &[u8], tail: Bytes) -> Self {
        let head = match u8::try_from(head.len()) {
            Ok(len) if head.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..head.len()].copy_from_slice(head);
                Head::Inline { len, bytes }
            }
            _ => Head::Heap(head.to_vec()),
        };
        Self { head, tail }
    }

    /// The packet's bytes in one piece: a head without a tail.
    pub fn whole(bytes: Vec<u8>) -> Self {
        Self {
            head: Head::Heap(bytes),
            tail: Bytes::new(),
        }
    }

    /// Appends `bytes` to the head (before the tail).
    pub fn extend_head(&mut self, bytes: &[u8]) {
        match &mut self.head {
            Head::Inline { len, bytes: inline } => {
                let at = usize::from(*len);
                match at.checked_add(bytes.len()) {
                    Some(end) if end <= INLINE => {
                        inline[at..end].copy_from_slice(bytes);
                        // `end` fits: INLINE is below 256.
                        *len = end as u8;
                    }
                    _ => {
                        let mut v = Vec::with_capacity(at + bytes.len());
                        v.extend_from_slice(&inline[..at]);
                        v.extend_from_slice(bytes);
                        self.head = Head::Heap(v);
                    }
                }
            }
            Head::Heap(v) => v.extend_from_slice(bytes),
        }
    }

    /// The bytes the packet owns: its whole RTP header (fixed header,
    /// CSRCs, extensions), so header fields can be read and patched here,
    /// then the payload up to the shared tail.
    pub fn head(&self) -> &[u8] {
        match &self.head {
            Head::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Head::Heap(v) => v,
        }
    }

    /// [`Self::head`], to patch (a sequence number, the marker, an
    /// extension's value).
    pub fn head_mut(&mut self) -> &mut [u8] {
        match &mut self.head {
            Head::Inline { len, bytes } => &mut bytes[..usize::from(*len)],
            Head::Heap(v) => v,
        }
    }

    /// The payload's shared part: a slice of the frame.
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// The packet's length in bytes.
    pub fn len(&self) -> usize {
        self.head().len() + self.tail.len()
    }

    /// Whether it has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the packet's bytes to `buf`.
    pub fn write_to(&self, buf: &mut Vec<u8>) {
        buf.reserve(self.len());
        buf.extend_from_slice(self.head());
        buf.extend_from_slice(&self.tail);
    }

    /// The packet's bytes in one new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.write_to(&mut v);
        v
    }
}

impl PartialEq for PlainPacket {
    fn eq(&self, other: &Self) -> bool {
        fn bytes(p: &PlainPacket) -> impl Iterator<Item = u8> + '_ {
            p.head().iter().chain(p.tail.iter()).copied()
        }
        self.len() == other.len() && bytes(self).eq(bytes(other))
    }
}

impl Eq for PlainPacket {}

impl std::fmt::Debug for PlainPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainPacket")
            .field("head", &self.head().len())
            .field("tail", &self.tail.len())
            .finish()
    }
}

impl From<Vec<u8>> for PlainPacket {
    fn from(bytes: Vec<u8>) -> Self {
        Self::whole(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_its_head_then_its_tail() {
        let frame = Bytes::from(vec![7u8; 100]);
        let mut p = PlainPacket::new(&[1, 2, 3], frame.slice(10..20));
        p.head_mut()[0] = 9;
        assert_eq!(p.len(), 13);
        assert_eq!(p.to_vec(), [&[9, 2, 3][..], &[7; 10][..]].concat());
        let mut buf = vec![0xff];
        p.write_to(&mut buf);
        assert_eq!(buf.len(), 14);
        assert_eq!(&buf[1..], &p.to_vec()[..]);
    }

    #[test]
    fn a_head_longer_than_the_inline_room_is_kept_whole() {
        let head: Vec<u8> = (0..200u8).collect();
        let p = PlainPacket::new(&head, Bytes::from_static(b"xy"));
        assert_eq!(p.head(), &head[..]);
        assert_eq!(p.tail(), b"xy");
        assert_eq!(p.len(), 202);
        let q = PlainPacket::new(&head[..INLINE], Bytes::new());
        assert_eq!(q.head(), &head[..INLINE]);
    }

    #[test]
    fn a_head_grows_in_place_then_spills() {
        let mut p = PlainPacket::new(&[1; 60], Bytes::from_static(b"t"));
        p.extend_head(&[2, 2]);
        assert_eq!(p.head().len(), 62);
        p.extend_head(&[3]);
        assert_eq!(p.head(), [&[1; 60][..], &[2, 2, 3][..]].concat());
        assert_eq!(p.to_vec().last(), Some(&b't'));
        p.extend_head(&[4]);
        assert_eq!(p.head().len(), 64);
    }

    #[test]
    fn a_whole_packet_has_no_tail() {
        let p = PlainPacket::whole(vec![1, 2, 3]);
        assert_eq!(p.head(), &[1, 2, 3]);
        assert!(p.tail().is_empty());
        assert_eq!(PlainPacket::from(vec![1, 2, 3]), p);
    }

    #[test]
    fn packets_of_the_same_bytes_are_equal_however_they_are_stored() {
        let whole = PlainPacket::whole(vec![1, 2, 3]);
        assert_eq!(
            PlainPacket::new(&[1, 2, 3], Bytes::new()),
            whole,
            "inline, heap"
        );
        assert_eq!(
            PlainPacket::new(&[1, 2], Bytes::from_static(&[3])),
            whole,
            "split"
        );
        assert_ne!(PlainPacket::new(&[1, 2], Bytes::from_static(&[4])), whole);
        assert_ne!(PlainPacket::new(&[1, 2], Bytes::new()), whole);
    }
}
