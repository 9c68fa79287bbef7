//! G.711 PCMU and PCMA (RFC 3551 §4.5.14): one byte per sample, so a frame
//! splits anywhere.

use super::{CodecError, Depacketizer, Payloader, split_sizes};

/// G.711 payloader: splits a frame of samples into MTU-sized payloads.
#[derive(Debug, Clone, Copy, Default)]
pub struct G711Payloader;

impl Payloader for G711Payloader {
    fn payload(&mut self, mtu: usize, frame: &[u8]) -> Result<Vec<Vec<u8>>, CodecError> {
        if frame.is_empty() {
            return Err(CodecError::Empty("G.711 frame"));
        }
        if mtu == 0 {
            return Err(CodecError::MtuTooSmall { needed: 1, mtu });
        }
        let mut at = 0;
        Ok(split_sizes(frame.len(), mtu)
            .map(|n| {
                at += n;
                frame[at - n..at].to_vec()
            })
            .collect())
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
