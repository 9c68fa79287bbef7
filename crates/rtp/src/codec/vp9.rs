//! VP9 (RFC 9628): the payload descriptor in flexible and non-flexible mode
//! with the scalability structure; the payloader writes non-flexible mode.

use super::{CodecError, Depacketizer, Payloader, joined, split_sizes};

/// The VP9 payload descriptor (RFC 9628 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp9Descriptor {
    /// P: an inter-picture predicted frame.
    pub inter_picture: bool,
    /// F: flexible mode.
    pub flexible: bool,
    /// B: the start of a frame.
    pub start_of_frame: bool,
    /// E: the end of a frame.
    pub end_of_frame: bool,
    /// Z: not used for inter-layer prediction.
    pub not_reference_for_upper: bool,
    /// The PictureID (7 or 15 bits), if I is set.
    pub picture_id: Option<u16>,
    /// TID, U, SID, D if L is set.
    pub layer: Option<Vp9Layer>,
    /// TL0PICIDX (non-flexible mode with L).
    pub tl0_pic_idx: Option<u8>,
    /// How many reference indices (P_DIFF) follow in flexible mode (0..=3).
    pub reference_count: u8,
    /// Whether a scalability structure (V) is present.
    pub has_scalability_structure: bool,
    /// The descriptor's length in bytes.
    pub len: usize,
}

/// The layer indices of a VP9 descriptor (RFC 9628 §4.2, L).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp9Layer {
    /// TID: temporal layer (0..=7).
    pub temporal: u8,
    /// U: switching up point.
    pub switching_up: bool,
    /// SID: spatial layer (0..=7).
    pub spatial: u8,
    /// D: inter-layer dependency.
    pub inter_layer_dependency: bool,
}

impl Vp9Descriptor {
    /// Parses the descriptor at the front of a VP9 payload (RFC 9628 §4.2).
    pub fn parse(p: &[u8]) -> Result<Self, CodecError> {
        let t = || CodecError::Truncated("VP9 payload descriptor");
        let &b0 = p.first().ok_or(CodecError::Empty("VP9 payload"))?;
        let mut d = Self {
            inter_picture: b0 & 0x40 != 0,
            flexible: b0 & 0x10 != 0,
            start_of_frame: b0 & 0x08 != 0,
            end_of_frame: b0 & 0x04 != 0,
            has_scalability_structure: b0 & 0x02 != 0,
            not_reference_for_upper: b0 & 0x01 != 0,
            ..Self::default()
        };
        let byte = |at: usize| p.get(at).copied().ok_or_else(t);
        let mut at = 1;
        if b0 & 0x80 != 0 {
            let m = byte(at)?;
            if m & 0x80 != 0 {
                d.picture_id = Some(u16::from(m & 0x7f) << 8 | u16::from(byte(at + 1)?));
                at += 2;
            } else {
                d.picture_id = Some(u16::from(m));
                at += 1;
            }
        }
        if b0 & 0x20 != 0 {
            let l = byte(at)?;
            d.layer = Some(Vp9Layer {
                temporal: l >> 5,
                switching_up: l & 0x10 != 0,
                spatial: (l >> 1) & 0x07,
                inter_layer_dependency: l & 0x01 != 0,
            });
            at += 1;
            if !d.flexible {
                d.tl0_pic_idx = Some(byte(at)?);
                at += 1;
            }
        }
        if d.flexible && d.inter_picture {
            // P_DIFF entries, N set while another follows (at most 3).
            loop {
                let r = byte(at)?;
                at += 1;
                d.reference_count += 1;
                if r & 0x01 == 0 || d.reference_count == 3 {
                    break;
                }
            }
        }
        if d.has_scalability_structure {
            // RFC 9628 §4.2.1: N_S, Y, G; sizes; picture group.
            let ss = byte(at)?;
            at += 1;
            let spatial = usize::from(ss >> 5) + 1;
            if ss & 0x10 != 0 {
                at += 4 * spatial;
            }
            if ss & 0x08 != 0 {
                let groups = byte(at)?;
                at += 1;
                for _ in 0..groups {
                    let g = byte(at)?;
                    at += 1 + usize::from((g >> 2) & 0x03);
                }
            }
        }
        if at >= p.len() {
            return Err(t());
        }
        d.len = at;
        Ok(d)
    }
}

/// Whether a VP9 frame is a key frame, from its uncompressed header
/// (VP9 bitstream §6.2: frame_marker, profile, show_existing_frame, frame_type).
fn vp9_frame_is_key(frame: &[u8]) -> bool {
    let Some(&b) = frame.first() else {
        return false;
    };
    if b >> 6 != 0b10 {
        return false;
    }
    let profile = (b >> 5 & 1) | (b >> 4 & 1) << 1;
    let mut bit = 3;
    if profile == 3 {
        bit -= 1;
    }
    let show_existing = b >> bit & 1;
    show_existing == 0 && b >> (bit - 1) & 1 == 0
}

/// VP9 payloader (RFC 9628 §4) in non-flexible mode: a 15-bit PictureID per
/// frame, B and E flags, and a one-layer scalability structure on the first
/// packet of a key frame.
#[derive(Debug, Clone, Copy)]
pub struct Vp9Payloader {
    picture_id: u16,
}

impl Vp9Payloader {
    /// A payloader whose first frame has `picture_id` (15 bits used).
    pub fn new(picture_id: u16) -> Self {
        Self {
            picture_id: picture_id & 0x7fff,
        }
    }
}

impl Payloader for Vp9Payloader {
    fn payload(&mut self, mtu: usize, frame: &[u8]) -> Result<Vec<Vec<u8>>, CodecError> {
        joined(self, mtu, frame)
    }

    /// RFC 9628 §4.2: each payload is a descriptor (flags, the 15-bit
    /// PictureID, and a one-layer SS byte on a key frame's first packet)
    /// and the next part of the frame, cut in near-equal parts.
    fn payload_pieces(
        &mut self,
        mtu: usize,
        frame: &[u8],
        emit: &mut dyn FnMut(&[&[u8]], bool),
    ) -> Result<(), CodecError> {
        // Descriptor: flags, 2 PictureID bytes, and 1 SS byte on a key frame.
        const HEADER: usize = 4;
        if frame.is_empty() {
            return Err(CodecError::Empty("VP9 frame"));
        }
        if mtu <= HEADER {
            return Err(CodecError::MtuTooSmall {
                needed: HEADER + 1,
                mtu,
            });
        }
        let key = vp9_frame_is_key(frame);
        let [hi, lo] = self.picture_id.to_be_bytes();
        let sizes = split_sizes(frame.len(), mtu - HEADER);
        let last = sizes.len().saturating_sub(1);
        let mut at = 0;
        for (i, n) in sizes.enumerate() {
            let ss = key && i == 0;
            let b0 = 0x80
                | if key { 0 } else { 0x40 }
                | if i == 0 { 0x08 } else { 0 }
                | if i == last { 0x04 } else { 0 }
                | if ss { 0x02 } else { 0 };
            // N_S = 0 (one spatial layer), Y = 0, G = 0.
            let descriptor = [b0, 0x80 | hi, lo, 0x00];
            let len = if ss { 4 } else { 3 };
            emit(&[&descriptor[..len], &frame[at..at + n]], i == last);
            at += n;
        }
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        Ok(())
    }
}

/// VP9 depacketizer (RFC 9628 §4), either mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vp9Depacketizer;

impl Depacketizer for Vp9Depacketizer {
    fn depacketize(&mut self, payload: &[u8], frame: &mut Vec<u8>) -> Result<(), CodecError> {
        let d = Vp9Descriptor::parse(payload)?;
        frame.extend_from_slice(&payload[d.len..]);
        Ok(())
    }

    fn is_frame_start(&self, payload: &[u8]) -> bool {
        Vp9Descriptor::parse(payload).is_ok_and(|d| d.start_of_frame)
    }

    fn is_keyframe(&self, payload: &[u8]) -> bool {
        // RFC 9628 §4.2: P=0 on the first packet of the base spatial layer.
        Vp9Descriptor::parse(payload).is_ok_and(|d| {
            !d.inter_picture && d.start_of_frame && d.layer.is_none_or(|l| l.spatial == 0)
        })
    }
}
