//! VP8 (RFC 7741): the payload descriptor with PictureID, TL0PICIDX,
//! TID/KEYIDX, and the keyframe bit of the VP8 payload header.

use super::{CodecError, Depacketizer, Payloader, joined, split_sizes};

/// The VP8 payload descriptor (RFC 7741 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Descriptor {
    /// N: a non-reference frame.
    pub non_reference: bool,
    /// S: the start of a partition.
    pub start_of_partition: bool,
    /// PID: the partition index (0..=7).
    pub partition_index: u8,
    /// The PictureID, 7 or 15 bits, if present.
    pub picture_id: Option<u16>,
    /// TL0PICIDX, if present.
    pub tl0_pic_idx: Option<u8>,
    /// TID (temporal layer index), if T is set.
    pub tid: Option<u8>,
    /// Y: layer sync, meaningful with TID.
    pub layer_sync: bool,
    /// KEYIDX, if K is set.
    pub key_idx: Option<u8>,
    /// The descriptor's length in bytes.
    pub len: usize,
}

impl Vp8Descriptor {
    /// Parses the descriptor at the front of a VP8 payload (RFC 7741 §4.2).
    pub fn parse(p: &[u8]) -> Result<Self, CodecError> {
        let t = || CodecError::Truncated("VP8 payload descriptor");
        let &b0 = p.first().ok_or(CodecError::Empty("VP8 payload"))?;
        let mut d = Self {
            non_reference: b0 & 0x20 != 0,
            start_of_partition: b0 & 0x10 != 0,
            partition_index: b0 & 0x07,
            ..Self::default()
        };
        let mut at = 1;
        if b0 & 0x80 != 0 {
            let &x = p.get(at).ok_or_else(t)?;
            at += 1;
            if x & 0x80 != 0 {
                let &m = p.get(at).ok_or_else(t)?;
                if m & 0x80 != 0 {
                    let &lo = p.get(at + 1).ok_or_else(t)?;
                    d.picture_id = Some(u16::from(m & 0x7f) << 8 | u16::from(lo));
                    at += 2;
                } else {
                    d.picture_id = Some(u16::from(m));
                    at += 1;
                }
            }
            if x & 0x40 != 0 {
                d.tl0_pic_idx = Some(*p.get(at).ok_or_else(t)?);
                at += 1;
            }
            if x & 0x30 != 0 {
                let &b = p.get(at).ok_or_else(t)?;
                if x & 0x20 != 0 {
                    d.tid = Some(b >> 6);
                    d.layer_sync = b & 0x20 != 0;
                }
                if x & 0x10 != 0 {
                    d.key_idx = Some(b & 0x1f);
                }
                at += 1;
            }
        }
        if at >= p.len() {
            return Err(t());
        }
        d.len = at;
        Ok(d)
    }
}

/// VP8 payloader (RFC 7741 §4): every packet carries a 4-byte descriptor
/// with a 15-bit PictureID that increases per frame.
#[derive(Debug, Clone, Copy)]
pub struct Vp8Payloader {
    picture_id: u16,
}

impl Vp8Payloader {
    /// A payloader whose first frame has `picture_id` (15 bits used).
    pub fn new(picture_id: u16) -> Self {
        Self {
            picture_id: picture_id & 0x7fff,
        }
    }
}

impl Payloader for Vp8Payloader {
    fn payload(&mut self, mtu: usize, frame: &[u8]) -> Result<Vec<Vec<u8>>, CodecError> {
        joined(self, mtu, frame)
    }

    /// RFC 7741 §4.2: each payload is a 4-byte descriptor (X set, a 15-bit
    /// PictureID, S on the frame's first) and the next part of the frame,
    /// cut in near-equal parts.
    fn payload_pieces(
        &mut self,
        mtu: usize,
        frame: &[u8],
        emit: &mut dyn FnMut(&[&[u8]], bool),
    ) -> Result<(), CodecError> {
        const HEADER: usize = 4;
        if frame.is_empty() {
            return Err(CodecError::Empty("VP8 frame"));
        }
        if mtu <= HEADER {
            return Err(CodecError::MtuTooSmall {
                needed: HEADER + 1,
                mtu,
            });
        }
        let [hi, lo] = self.picture_id.to_be_bytes();
        let sizes = split_sizes(frame.len(), mtu - HEADER);
        let last = sizes.len().saturating_sub(1);
        let mut at = 0;
        for (i, n) in sizes.enumerate() {
            let s = if at == 0 { 0x10 } else { 0 };
            // X=1, S on the first packet, PID 0; I=1; M=1 and 15 bits.
            emit(
                &[&[0x80 | s, 0x80, 0x80 | hi, lo], &frame[at..at + n]],
                i == last,
            );
            at += n;
        }
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        Ok(())
    }
}

/// VP8 depacketizer (RFC 7741 §4).
#[derive(Debug, Clone, Copy, Default)]
pub struct Vp8Depacketizer;

impl Depacketizer for Vp8Depacketizer {
    fn depacketize(&mut self, payload: &[u8], frame: &mut Vec<u8>) -> Result<(), CodecError> {
        let d = Vp8Descriptor::parse(payload)?;
        frame.extend_from_slice(&payload[d.len..]);
        Ok(())
    }

    fn is_frame_start(&self, payload: &[u8]) -> bool {
        Vp8Descriptor::parse(payload).is_ok_and(|d| d.start_of_partition && d.partition_index == 0)
    }

    fn is_keyframe(&self, payload: &[u8]) -> bool {
        // RFC 7741 §4.3: P bit of the VP8 payload header, 0 for a key frame.
        Vp8Descriptor::parse(payload).is_ok_and(|d| {
            d.start_of_partition && d.partition_index == 0 && payload[d.len] & 0x01 == 0
        })
    }
}
