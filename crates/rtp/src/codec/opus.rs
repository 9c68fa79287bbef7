//! Opus (RFC 7587 §4.2): one Opus packet per RTP payload, never split.

use super::{CodecError, Depacketizer, Payloader};

/// Opus payloader (RFC 7587 §4.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpusPayloader;

impl Payloader for OpusPayloader {
    fn payload(&mut self, mtu: usize, frame: &[u8]) -> Result<Vec<Vec<u8>>, CodecError> {
        check(mtu, frame)?;
        Ok(vec![frame.to_vec()])
    }

    fn payload_pieces(
        &mut self,
        mtu: usize,
        frame: &[u8],
        emit: &mut dyn FnMut(&[&[u8]], bool),
    ) -> Result<(), CodecError> {
        check(mtu, frame)?;
        emit(&[frame], true);
        Ok(())
    }
}

/// Whether `frame` is one Opus packet that fits in `mtu` bytes.
fn check(mtu: usize, frame: &[u8]) -> Result<(), CodecError> {
    if frame.is_empty() {
        return Err(CodecError::Empty("Opus frame"));
    }
    if frame.len() > mtu {
        return Err(CodecError::TooLarge {
            size: frame.len(),
            mtu,
        });
    }
    Ok(())
}

/// Opus depacketizer (RFC 7587 §4.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpusDepacketizer;

impl Depacketizer for OpusDepacketizer {
    fn depacketize(&mut self, payload: &[u8], frame: &mut Vec<u8>) -> Result<(), CodecError> {
        if payload.is_empty() {
            return Err(CodecError::Empty("Opus payload"));
        }
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
