//! G.711 PCMU and PCMA (RFC 3551 §4.5.14): one byte per sample, so a frame
//! splits anywhere.

use super::{CodecError, Depacketizer, Payloader, joined, split_sizes};

/// G.711 payloader: splits a frame of samples into MTU-sized payloads.
#[derive(Debug, Clone, Copy, Default)]
pub struct G711Payloader;

impl Payloader for G711Payloader {
    fn payload(&mut self, mtu: usize, frame: &[u8]) -> Result<Vec<Vec<u8>>, CodecError> {
        joined(self, mtu, frame)
    }

    /// Each payload is the next part of the frame, cut in near-equal parts.
    fn payload_pieces(
        &mut self,
        mtu: usize,
        frame: &[u8],
        emit: &mut dyn FnMut(&[&[u8]], bool),
    ) -> Result<(), CodecError> {
        if frame.is_empty() {
            return Err(CodecError::Empty("G.711 frame"));
        }
        if mtu == 0 {
            return Err(CodecError::MtuTooSmall { needed: 1, mtu });
        }
        let sizes = split_sizes(frame.len(), mtu);
        let last = sizes.len().saturating_sub(1);
        let mut at = 0;
        for (i, n) in sizes.enumerate() {
            emit(&[&frame[at..at + n]], i == last);
            at += n;
        }
        Ok(())
    }
}

/// G.711 depacketizer.
#[derive(Debug, Clone, Copy, Default)]
pub struct G711Depacketizer;

impl Depacketizer for G711Depacketizer {
    fn depacketize(&mut self, payload: &[u8], frame: &mut Vec<u8>) -> Result<(), CodecError> {
        frame.extend_from_slice(payload);
        Ok(())
    }

    fn is_frame_start(&self, _: &[u8]) -> bool {
        true
    }

    fn is_keyframe(&self, _: &[u8]) -> bool {
        true
    }
}
